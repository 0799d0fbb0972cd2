"""test_stop.py - stopping: SIGTERM and SIGQUIT finish the connection in
hand and refuse new ones within a second; shutdown_timeout ends
stragglers; SIGINT stops at once; idle workers go within a second; the pid
file is removed; -s quit/stop wait for the master to be gone."""
import os
import signal
import socket
import subprocess
import time

import harness
from harness import SLOW, VALGRIND


def recv_exactly(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise AssertionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += b
    return buf


def open_inflight(addr, tag=b"hello"):
    """An echo connection that is open, has been served once, and stays open."""
    s = harness.connect(addr, timeout=10)
    s.sendall(tag)
    assert recv_exactly(s, len(tag)) == tag
    return s


def busy_worker(srv):
    """The worker PID whose status says busy (polled through the control socket)."""
    def find():
        doc = harness.status(srv, timeout=10)
        busy = [w["pid"] for s in doc["services"] for w in s["workers"] if w["state"] == "busy"]
        return busy[0] if busy else None
    return harness.wait_until(find, 10, what="a busy worker in the status")


def start(workers=2, **top):
    """An echo service whose connections may idle for 60 s; shutdown_timeout 20 s unless given."""
    top.setdefault("shutdown_timeout", 20)
    return harness.start_echo(workers, top=top, read_timeout=60)


def graceful_stop_finishes_inflight(sig):
    srv, addr = start(workers=2)
    kids = srv.workers()
    conn = open_inflight(addr)
    serving = busy_worker(srv)
    idle = [k for k in kids if k != serving]
    t0 = time.monotonic()
    srv.signal(sig)
    # New connections are refused within a second of the signal.
    harness.wait_until(lambda: not harness.can_connect(addr), 1.0 * SLOW, interval=0.01,
                       what="new connections to be refused")
    # Idle workers are gone within a second too.
    harness.wait_until(lambda: not any(harness.pid_alive(k) for k in idle), 1.0 * SLOW,
                       what="idle workers %s to exit" % idle)
    assert time.monotonic() - t0 < 1.5 * SLOW
    # The connection in hand keeps working, for as long as the client wants.
    for i in range(3):
        msg = b"still here %d" % i
        conn.sendall(msg)
        assert recv_exactly(conn, len(msg)) == msg
        time.sleep(0.2)
    assert srv.proc.poll() is None, "master exited while a connection was in flight"
    assert harness.pid_alive(serving)
    assert os.path.exists(srv.pid_file)
    # The client half-closes: the worker finishes, and only then the master exits 0.
    conn.shutdown(socket.SHUT_WR)
    assert harness.recv_all(conn) == b""
    conn.close()
    assert srv.wait_exit(timeout=10) == 0
    assert time.monotonic() - t0 < 10 * SLOW, "the master waited for shutdown_timeout instead"
    harness.wait_until(lambda: not harness.pid_alive(serving), 5, what="the worker to exit")
    assert not os.path.exists(srv.pid_file)
    assert not os.path.exists(srv.control)


def test_graceful_stop_sigterm_finishes_inflight_and_refuses_new():
    graceful_stop_finishes_inflight(signal.SIGTERM)


def test_graceful_stop_sigquit_finishes_inflight_and_refuses_new():
    graceful_stop_finishes_inflight(signal.SIGQUIT)


def test_graceful_stop_kills_stragglers_after_shutdown_timeout():
    srv, addr = start(workers=2, shutdown_timeout=2)
    conn = open_inflight(addr)
    serving = busy_worker(srv)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    # The client never closes; read_timeout is 60 s, so only shutdown_timeout can end it.
    rc = srv.wait_exit(timeout=15)
    elapsed = time.monotonic() - t0
    assert rc == 0, rc
    assert elapsed >= 1.8, "master exited after %.2fs, before shutdown_timeout (2 s)" % elapsed
    assert elapsed < 2 + 5 * SLOW, "master exited after %.2fs, long after shutdown_timeout" % elapsed
    assert not harness.pid_alive(serving)
    # The worker was killed, not allowed to finish: the connection is cut.
    assert harness.closed_without_a_byte(conn, timeout=5)
    conn.close()
    assert not os.path.exists(srv.pid_file)


def test_fast_stop_sigint_ends_everything_within_a_second():
    srv, addr = start(workers=3)
    kids = srv.workers()
    conn = open_inflight(addr)
    busy_worker(srv)
    t0 = time.monotonic()
    srv.signal(signal.SIGINT)
    rc = srv.wait_exit(timeout=10)
    elapsed = time.monotonic() - t0
    assert rc == 0, rc
    assert elapsed < 1.0 * SLOW, "fast stop took %.2fs" % elapsed
    harness.wait_until(lambda: not any(harness.pid_alive(k) for k in kids), 1.0 * SLOW,
                       what="every worker to be gone")
    assert harness.closed_without_a_byte(conn, timeout=5)
    conn.close()
    assert not harness.can_connect(addr)
    assert not os.path.exists(srv.pid_file)
    assert not os.path.exists(srv.control)


def test_idle_workers_stop_within_a_second():
    srv, addr = start(workers=4)
    kids = srv.workers()
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    harness.wait_until(lambda: not any(harness.pid_alive(k) for k in kids), 1.0 * SLOW,
                       what="idle workers to exit")
    assert srv.wait_exit(timeout=10) == 0
    assert time.monotonic() - t0 < 2.0 * SLOW
    assert not os.path.exists(srv.pid_file)


def s_command_waits_for_exit(cmd, sig_expect_fast):
    srv, addr = start(workers=2)
    kids = srv.workers()
    conn = open_inflight(addr) if not sig_expect_fast else None
    t0 = time.monotonic()
    # Run -s beside us: we are the master's parent and must reap it, as init would.
    p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", srv.conf, "-s", cmd],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if conn is not None:
        # quit is graceful: -s waits while a connection is still served.
        harness.wait_until(lambda: not harness.can_connect(addr), 2, what="listener closed")
        assert p.poll() is None, "-s %s returned while the master was still serving" % cmd
        assert srv.proc.poll() is None
        conn.close()
    assert srv.wait_exit(timeout=15) == 0
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, (p.returncode, err)
    assert time.monotonic() - t0 < 10 * SLOW
    assert not any(harness.pid_alive(k) for k in kids)
    assert not os.path.exists(srv.pid_file)


def test_s_quit_stops_gracefully_and_returns_once_the_master_is_gone():
    s_command_waits_for_exit("quit", False)


def test_s_stop_stops_fast_and_returns_once_the_master_is_gone():
    s_command_waits_for_exit("stop", True)


def test_s_stop_returns_even_before_the_master_is_reaped():
    # The shell that started preforkd in the background runs `preforkd -s stop`
    # and reaps the master only afterwards: a zombie is not a running master.
    srv, addr = start(workers=2)
    t0 = time.monotonic()
    r = harness.preforkd("-c", srv.conf, "-s", "stop", timeout=60)
    assert r.returncode == 0, r
    assert time.monotonic() - t0 < 5 * SLOW, "-s stop waited %.1fs for a zombie" % (time.monotonic() - t0)
    assert srv.wait_exit(timeout=5) == 0



def test_s_quit_honours_an_integer_shutdown_timeout():
    """Issue 11 item 10: `shutdown_timeout = 16;` (an integer) is read by -s
    as well: -s quit waits past the 15 s the 10 s default would allow, while
    the master ends a straggler after 16 s, and reports success."""
    srv, addr = start(workers=1, shutdown_timeout=16)
    assert "shutdown_timeout = 16;" in harness.read_text(srv.conf)
    conn = open_inflight(addr)
    t0 = time.monotonic()
    p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", srv.conf, "-s", "quit"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert srv.wait_exit(timeout=40 * SLOW) == 0
    assert time.monotonic() - t0 >= 15.0, "the straggler was not held: the test proves nothing"
    out, err = p.communicate(timeout=30 * SLOW)
    assert p.returncode == 0, (p.returncode, err)
    assert err == b"", err
    conn.close()


harness.main(globals())

"""test_core.py - the working core: process shape (master + N workers
blocked in accept), echo through prefork-client (message, 1 MiB on stdin),
IPv6, unix sockets, port 0, the pid file, several services at once."""
import os
import re
import signal
import socket
import subprocess

import harness
from harness import VALGRIND, config, echo_once, need_client, svc


def status_json(srv):
    """(`-s status` text, `status json` document) of srv."""
    return harness.status_text(srv), harness.status(srv, timeout=10)


def test_master_and_n_workers_each_blocked_in_accept():
    port = harness.free_port()
    srv = harness.Server(config(svc("echo", "127.0.0.1:%d" % port, workers=3)))
    srv.start(wait_for=["127.0.0.1:%d" % port])
    kids = srv.wait_workers(3)
    for k in kids:
        assert "accept" in harness.wchan(k), (k, harness.wchan(k))
        with open("/proc/%d/stat" % k) as f:
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == srv.pid
    # The master supervises: it never sleeps in accept() itself.
    assert "accept" not in harness.wchan(srv.pid), harness.wchan(srv.pid)
    # Serving does not change the shape: still exactly 3 workers, back in accept.
    for i in range(10):
        assert echo_once("127.0.0.1:%d" % port, b"x%d" % i) == b"x%d" % i
    assert srv.wait_workers(3) == kids


def test_echo_message_round_trip_through_client():
    need_client()
    port = harness.free_port()
    srv = harness.Server(config(svc("echo", "127.0.0.1:%d" % port, workers=2)))
    srv.start(wait_for=["127.0.0.1:%d" % port])
    r = harness.client("-m", "hello, prefork\n", "127.0.0.1:%d" % port)
    assert r.returncode == 0, r
    assert r.stdout == b"hello, prefork\n", r.stdout


def test_echo_1mib_from_stdin_is_byte_exact():
    need_client()
    port = harness.free_port()
    srv = harness.Server(config(svc("echo", "127.0.0.1:%d" % port, workers=2)))
    srv.start(wait_for=["127.0.0.1:%d" % port])
    data = os.urandom(1 << 20)
    r = harness.client("127.0.0.1:%d" % port, input=data, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == len(data), (len(r.stdout), len(data))
    assert r.stdout == data, "echoed bytes differ"
    # And through a raw socket, the same bytes in both directions.
    assert echo_once("127.0.0.1:%d" % port, data) == data


def test_ipv6_listener_serves_on_loopback():
    try:
        port = harness.free_port(socket.AF_INET6, "::1")
    except OSError as e:
        raise harness.Skip("no IPv6 loopback here: %s" % e)
    need_client()
    addr = "[::1]:%d" % port
    srv = harness.Server(config(svc("echo6", addr, workers=2)))
    srv.start(wait_for=[addr])
    srv.wait_workers(2)
    r = harness.client("-m", "over v6", addr)
    assert r.returncode == 0, r
    assert r.stdout == b"over v6"
    text, doc = status_json(srv)
    assert doc["services"][0]["listen"] == addr, doc
    # Only v6: nothing listens on the IPv4 loopback for that port (unless someone else).
    assert "echo6" in text


def test_unix_listener_replaces_stale_socket_file_and_removes_it_at_stop():
    need_client()
    d = harness.tmpdir()
    path = os.path.join(d, "echo.sock")
    # A stale socket file: bound once, nobody listens any more.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    assert os.path.exists(path) and not harness.can_connect("unix:" + path)
    srv = harness.Server(config(svc("local", "unix:echo.sock", workers=2)), folder=d)
    srv.start(wait_for=["unix:" + path])
    # A unix accept() sleeps in __skb_wait_for_more_packets, not *accept*:
    # count the workers and read their state from the status instead.
    srv.wait_workers(2, idle=False)
    harness.wait_until(lambda: [w["state"] for w in status_json(srv)[1]["services"][0]["workers"]]
                       == ["idle", "idle"], 10, what="2 idle workers in the status")
    r = harness.client("-m", "via unix", "unix:" + path)
    assert r.returncode == 0, r
    assert r.stdout == b"via unix"
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit() == 0
    assert not os.path.exists(path), "unix socket file left after stop"


def test_unix_listener_refuses_a_path_where_a_server_answers():
    d = harness.tmpdir()
    path = os.path.join(d, "busy.sock")
    other = socket.socket(socket.AF_UNIX)
    other.bind(path)
    other.listen(1)
    try:
        conf = harness.write(os.path.join(d, "server.conf"),
                             config(svc("local", "unix:busy.sock", workers=1)))
        p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", conf],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 1, err
        assert path in err.decode(), err
        # The other server's socket file is left alone.
        assert os.path.exists(path) and harness.can_connect("unix:" + path)
    finally:
        other.close()


def test_port_zero_picks_a_port_that_is_logged_and_shown_by_status():
    srv = harness.Server(config(svc("anyport", "127.0.0.1:0", workers=2)))
    srv.start()
    srv.wait_workers(2)
    ports = harness.wait_until(
        lambda: {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", srv.output())} - {0}, 10,
        what="the chosen port in the log")
    assert len(ports) == 1, ports
    port = ports.pop()
    addr = "127.0.0.1:%d" % port
    assert echo_once(addr, b"zero") == b"zero"
    text, doc = status_json(srv)
    assert addr in text, text
    assert doc["services"][0]["listen"] == addr, doc


def test_pid_file_names_the_master_and_is_removed_at_stop():
    port = harness.free_port()
    srv = harness.Server(config(svc("echo", "127.0.0.1:%d" % port, workers=1),
                                pid_file="custom.pid"))
    # Server.start waits for preforkd.pid; this one uses custom.pid.
    srv_pid_file = os.path.join(srv.dir, "custom.pid")
    errf = open(srv.log, "ab")
    p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", srv.conf], stdout=errf, stderr=subprocess.STDOUT)
    harness.wait_until(lambda: os.path.exists(srv_pid_file) or p.poll() is not None, 15,
                       what="pid file")
    assert p.poll() is None, srv.output()
    with open(srv_pid_file) as f:
        assert f.read() == "%d\n" % p.pid
    assert not os.path.exists(srv.pid_file)
    harness.wait_until(lambda: harness.can_connect("127.0.0.1:%d" % port), 10, what="listener")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=15) == 0
    assert not os.path.exists(srv_pid_file)
    assert [f for f in os.listdir(srv.dir) if f.endswith(".tmp")] == []


def test_two_services_run_at_once():
    need_client()
    p1, p2 = harness.free_port(), harness.free_port()
    srv = harness.Server(config(svc("alpha", "127.0.0.1:%d" % p1, workers=2),
                                svc("beta", "127.0.0.1:%d" % p2, workers=3)))
    srv.start(wait_for=["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2])
    kids = srv.wait_workers(5)
    for port, msg in ((p1, "to alpha"), (p2, "to beta")):
        r = harness.client("-m", msg, "127.0.0.1:%d" % port)
        assert r.returncode == 0 and r.stdout == msg.encode(), r
    text, doc = status_json(srv)
    by_name = {s["name"]: s for s in doc["services"]}
    assert set(by_name) == {"alpha", "beta"}, doc
    assert len(by_name["alpha"]["workers"]) == 2
    assert len(by_name["beta"]["workers"]) == 3
    assert by_name["alpha"]["listen"] == "127.0.0.1:%d" % p1
    assert by_name["beta"]["listen"] == "127.0.0.1:%d" % p2
    pids = {w["pid"] for s in doc["services"] for w in s["workers"]}
    assert pids == set(kids), (pids, kids)


harness.main(globals())

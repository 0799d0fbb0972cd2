"""test_supervise.py - the master supervises: a killed worker is replaced
while the service keeps answering, the listening socket outlives worker
crashes, workers exit when the master is SIGKILLed (freeing the port), and
a slot that keeps crashing is refilled with a growing back-off."""
import os
import pwd
import signal
import socket
import time

import harness
from harness import SLOW, config, echo_once, listen_inode, socket_inodes, svc


def start(workers, **kw):
    """An echo service (log_level info); returns (server, address, port)."""
    srv, addr = harness.start_echo(workers, top={"log_level": "info"}, **kw)
    return srv, addr, int(addr.rsplit(":", 1)[1])


def test_killed_worker_is_replaced_while_service_keeps_answering():
    srv, addr, port = start(3)
    before = srv.workers()
    victim = before[1]
    failures, served = [], 0
    replaced = None
    deadline = time.monotonic() + 15
    killed_at = None
    # Requests one after another: the victim is killed between two of them,
    # so it holds no connection, and no request may fail.
    while time.monotonic() < deadline:
        try:
            msg = b"req %d" % served
            out = echo_once(addr, msg, timeout=5)
            if out != msg:
                failures.append(out)
        except OSError as e:
            failures.append(e)
        served += 1
        if served == 20:
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            # Woken by SIGKILL, an idle worker may still take a connection
            # queued in that instant and die with it (the kernel's doing):
            # the next request goes once it is dead, perhaps before any successor.
            harness.wait_until(lambda: not harness.pid_alive(victim), 5, interval=0.001,
                               what="worker %d to die" % victim)
        if killed_at and replaced is None:
            kids = srv.workers()
            if len(kids) == 3 and victim not in kids:
                replaced = kids
        if replaced is not None and served >= 120:
            break
    assert not failures, "%d failed requests: %s" % (len(failures), failures[:5])
    assert replaced is not None, "worker %d was not replaced (workers: %s)" % (victim, srv.workers())
    new = set(replaced) - set(before)
    assert len(new) == 1, (before, replaced)
    assert set(before) - {victim} <= set(replaced)
    srv.wait_workers(3)
    # The log says which worker died.
    assert str(victim) in srv.output(), srv.output()


def test_listening_socket_survives_worker_crashes():
    srv, addr, port = start(2)
    inode = listen_inode(port)
    assert inode and inode in socket_inodes(srv.pid), inode
    for round in range(3):
        before = srv.workers()
        for k in before:
            os.kill(k, signal.SIGKILL)
        # A worker woken by SIGKILL may still take a connection queued in the
        # meantime (and die with it): connect once they are really dead.
        harness.wait_until(lambda: not any(harness.pid_alive(k) for k in before), 5,
                           interval=0.001, what="killed workers to die")
        # Connect at once, perhaps before any replacement: the kernel queues
        # the connection on the master's socket until a replacement accepts it.
        assert echo_once(addr, b"round %d" % round, timeout=15) == b"round %d" % round
        harness.wait_until(lambda: len(srv.workers()) == 2 and not set(srv.workers()) & set(before),
                           15, what="both workers replaced")
        assert listen_inode(port) == inode, "the listening socket changed"
        assert inode in socket_inodes(srv.pid)
    srv.wait_workers(2)


def test_master_sigkill_makes_workers_exit_and_frees_the_port():
    srv, addr, port = start(3)
    kids = srv.workers()
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait_exit(timeout=5)
    harness.wait_until(lambda: not any(harness.pid_alive(k) for k in kids), 5,
                       what="workers %s to exit after the master died" % kids)
    try:
        harness.connect(addr, timeout=2).close()
        raise AssertionError("something still listens on %s" % addr)
    except ConnectionRefusedError:
        pass
    # The port can be bound again.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    s.close()


def test_master_sigkill_makes_workers_exit_after_dropping_privileges():
    # Changing credentials clears a process's parent-death signal: workers
    # that dropped to `user` must still notice the master's death.
    if os.geteuid() != 0:
        raise harness.Skip("needs root to drop privileges")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        raise harness.Skip("no user 'nobody'")
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = harness.Server(config(svc("echo", addr, workers=2), user="nobody"))
    srv.start(wait_for=[addr])
    kids = srv.wait_workers(2)
    for k in kids:
        assert os.stat("/proc/%d" % k).st_uid == pwd.getpwnam("nobody").pw_uid
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait_exit(timeout=5)
    try:
        harness.wait_until(lambda: not any(harness.pid_alive(k) for k in kids), 5,
                           what="unprivileged workers %s to exit after the master died" % kids)
    finally:
        harness.kill_pids(kids)
    try:
        harness.connect(addr, timeout=2).close()
        raise AssertionError("something still listens on %s" % addr)
    except ConnectionRefusedError:
        pass


def test_master_death_lets_a_busy_worker_finish_its_connection():
    srv, addr, port = start(3, read_timeout=60)
    kids = srv.workers()
    conn = harness.connect(addr, timeout=10)
    conn.sendall(b"first")
    assert conn.recv(100) == b"first"
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait_exit(timeout=5)
    # Idle workers go at once; exactly one (the busy one) stays.
    left = harness.wait_until(lambda: (lambda a: a if len(a) == 1 else None)(
        [k for k in kids if harness.pid_alive(k)]), 5, what="idle workers to exit")
    conn.sendall(b"second")
    assert conn.recv(100) == b"second"
    conn.shutdown(socket.SHUT_WR)
    assert harness.recv_all(conn) == b""
    conn.close()
    harness.wait_until(lambda: not harness.pid_alive(left[0]), 5, what="the busy worker to exit")
    assert not harness.can_connect(addr)


def test_crash_backoff_is_not_a_tight_loop():
    srv, addr, port = start(1)
    pid = srv.workers()[0]
    spawn_times = []
    throttled_seen = False
    kills = 6
    for i in range(kills):
        os.kill(pid, signal.SIGKILL)
        t_kill = time.monotonic()

        def successor():
            nonlocal throttled_seen
            kids = [k for k in srv.workers() if k != pid]
            if kids:
                return kids[0]
            if not throttled_seen and time.monotonic() - t_kill > 0.05:
                doc = harness.status(srv, timeout=10)
                throttled_seen = bool(doc["services"][0].get("throttled"))
            return None
        pid = harness.wait_until(successor, 30, interval=0.005, what="respawn %d" % (i + 1))
        spawn_times.append(time.monotonic() - t_kill)
    # The first refill is at once; the later ones wait longer and longer.
    assert spawn_times[0] < 0.5 * SLOW, spawn_times
    total = sum(spawn_times)
    assert total > 1.5, "6 respawns in %.2fs: a tight loop (%s)" % (total, spawn_times)
    assert spawn_times[-1] > 0.5, spawn_times
    assert spawn_times[-1] > spawn_times[1] * 2, spawn_times
    for a, b in zip(spawn_times[1:], spawn_times[2:]):
        assert b > a * 0.8, "the delay shrank: %s" % spawn_times
    rate = kills / total
    assert rate < 5, "%.1f respawns per second" % rate
    assert throttled_seen, "the status never showed the service throttled"
    print("respawn delays: %s" % ", ".join("%.3f" % t for t in spawn_times))
    # Still serving once the back-off is over.
    srv.wait_workers(1)
    assert echo_once(addr, b"after", timeout=10) == b"after"


harness.main(globals())

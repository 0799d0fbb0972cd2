"""test_upgrade.py - SIGUSR2 binary upgrade: under load no request fails,
the new master takes the listening sockets (same socket), the pid file and
the control socket, and the old master exits; a new master that cannot
get ready is ended and the old one keeps serving."""
import json
import os
import signal
import subprocess
import time

import harness
from harness import (SLOW, config, control, echo_once, kill_leftovers, listen_inode,
                     procs_with_conf, socket_inodes, svc)


def upgrade(srv):
    """SIGUSR2, then wait for the pid file to name a new master; returns its PID."""
    old = srv.pid
    srv.signal(signal.SIGUSR2)
    new = harness.wait_until(lambda: (lambda p: p if p and p != old else None)(srv.read_pid()), 20,
                             what="the pid file to name a new master")
    return new


def test_sigusr2_upgrade_under_load_loses_no_request():
    harness.need_client()
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = harness.Server(config(svc("echo", addr, workers=2), shutdown_timeout=10))
    try:
        srv.start(wait_for=[addr])
        old_workers = srv.wait_workers(2)
        inode = listen_inode(port)
        # The load must outlast the upgrade (under valgrind a master takes
        # seconds to start); it is ended by SIGINT once the new master's
        # workers have answered some of it.
        secs = "60" if harness.VALGRIND else "10"
        load = harness.spawn([harness.CLIENT, "-c", "4", "-d", secs, "-m", "ping\n", "--json", addr],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def served():
            doc = harness.status(srv)
            return sum(w["served"] for s in doc["services"] for w in s["workers"])
        harness.wait_until(lambda: served() > 10, 10, what="load to arrive")
        t0 = time.monotonic()
        new = upgrade(srv)
        assert harness.pid_alive(new)
        assert srv.wait_exit(timeout=20) == 0, "the old master did not exit cleanly"
        assert time.monotonic() - t0 < 15 * SLOW
        assert not any(harness.pid_alive(k) for k in old_workers)
        assert load.poll() is None, "the load ended before the upgrade was over; not a test under load"
        harness.wait_until(lambda: served() > 100, 10, what="the new workers to answer the load")
        load.send_signal(signal.SIGINT)
        out, err = load.communicate(timeout=30)
        summary = json.loads(out.decode())
        assert summary["errors"] == 0, summary
        assert summary["requests"] > 100, summary
        assert load.returncode == 0, (load.returncode, err)
        # The new master serves on the very same listening socket.
        assert srv.read_pid() == new
        kids = harness.wait_until(lambda: (lambda k: k if len(k) == 2 and
                                           all("accept" in harness.wchan(x) for x in k) else None)
                                  (harness.children_of(new)), 10, what="the new master's workers")
        assert listen_inode(port) == inode
        assert inode in socket_inodes(new)
        assert echo_once(addr, b"after upgrade") == b"after upgrade"
        # The control socket now belongs to the new master.
        text = control(srv, "status")
        for k in kids:
            assert str(k) in text, text
        for k in old_workers:
            assert "pid=%d " % k not in text
        # And the new master stops like any other.
        os.kill(new, signal.SIGTERM)
        harness.wait_until(lambda: not harness.pid_alive(new), 15, what="the new master to stop")
        assert not os.path.exists(srv.pid_file)
        assert not os.path.exists(srv.control)
    finally:
        kill_leftovers(srv.conf)


def test_control_socket_answers_after_upgrade():
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = harness.Server(config(svc("echo", addr, workers=2), shutdown_timeout=10))
    try:
        srv.start(wait_for=[addr])
        srv.wait_workers(2)
        new = upgrade(srv)
        assert srv.wait_exit(timeout=20) == 0
        harness.wait_until(lambda: len(harness.children_of(new)) == 2, 10, what="new workers")
        assert os.path.exists(srv.control)
        text = harness.status_text(srv)
        for k in harness.children_of(new):
            assert str(k) in text
        doc = harness.status(srv)
        assert sorted(w["pid"] for w in doc["services"][0]["workers"]) == harness.children_of(new)
        # The new master handles reload and resize through it.
        r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60)
        assert r.returncode == 0, r
        assert control(srv, "workers echo +1") == "ok echo 3\n"
        harness.wait_until(lambda: len(harness.children_of(new)) == 3, 10, what="3 workers")
        assert echo_once(addr, b"x") == b"x"
        r = harness.preforkd("-c", srv.conf, "-s", "quit", timeout=30)
        assert r.returncode == 0, r
        assert not harness.pid_alive(new)
        assert not os.path.exists(srv.control)
    finally:
        kill_leftovers(srv.conf)


def test_failed_upgrade_leaves_the_old_master_serving():
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = harness.Server(config(svc("echo", addr, workers=2), shutdown_timeout=5))
    harness.build_failinit(srv.dir)
    try:
        srv.start(wait_for=[addr])
        old_workers = srv.wait_workers(2)
        # The new master reads the file again: a handler whose init fails stops its start.
        srv.write_conf(config(svc("echo", addr, workers=2),
                              svc("broken", "127.0.0.1:%d" % harness.free_port(), handler="failinit",
                                  module="failinit.so", workers=1),
                              shutdown_timeout=5))
        srv.signal(signal.SIGUSR2)
        harness.wait_until(lambda: "upgrade failed" in srv.output(), 15,
                           what="the old master to report the failed upgrade")
        assert srv.proc.poll() is None
        assert srv.read_pid() == srv.pid
        assert srv.wait_workers(2) == old_workers
        assert echo_once(addr, b"old master") == b"old master"
        assert os.path.exists(srv.control), "the failed new master removed the control socket"
        text = control(srv, "status")
        for k in old_workers:
            assert str(k) in text
        # Only the old master and its workers remain.
        harness.wait_until(lambda: sorted(procs_with_conf(srv.conf)) == sorted([srv.pid] + old_workers),
                           10, what="the failed new master to be gone")
    finally:
        kill_leftovers(srv.conf)


harness.main(globals())

#!/usr/bin/env python3
"""test_robust.py - the master under resource exhaustion and odd timing
(issue 11): the control socket's accept() out of descriptors backs off
instead of spinning (item 8), SIGUSR2 during a reload is queued (item 11),
an access log that cannot be opened is loud and the pool keeps its strength
(item 13), pools near the maximum size reload, and a repeated line is
rate-limited (item 7)."""
import os
import re
import signal
import socket
import time

import harness
from harness import Server, config, svc, wait_until


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hold_control(srv, n):
    """n connections to the control socket that send nothing."""
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(srv.control)
        held.append(s)
    return held


# ---- item 8: accept() on the control socket out of descriptors ----

def test_control_accept_emfile_backs_off():
    if harness.VALGRIND:
        raise harness.Skip("valgrind keeps RLIMIT_NOFILE and descriptors of its own")
    addr = "127.0.0.1:%d" % harness.free_port()
    srv = Server(config(svc("echo", addr, workers=1), rlimit_nofile=16))
    srv.start(wait_for=[addr])
    srv.wait_workers(1)
    nfds = len(os.listdir("/proc/%d/fd" % srv.pid))
    assert nfds < 16, "the master already holds %d descriptors" % nfds
    # More idle control connections than the master has descriptors left:
    # the rest wait in the backlog, and accept() fails with EMFILE.
    held = hold_control(srv, 16 - nfds + 3)
    wait_until(lambda: len(os.listdir("/proc/%d/fd" % srv.pid)) >= 16, 5,
               what="the master at its descriptor limit")
    cpu0, t0 = cpu_seconds(srv.pid), time.monotonic()
    time.sleep(2.0)
    cpu, span = cpu_seconds(srv.pid) - cpu0, time.monotonic() - t0
    print("master CPU at control EMFILE: %.2fs in %.1fs" % (cpu, span))
    assert cpu < 0.2, "the master used %.2fs of CPU in %.1fs at EMFILE" % (cpu, span)
    assert "control socket: accept (backing off" in srv.output(), srv.output()
    assert srv.output().count("control socket: accept (backing off") == 1, srv.output()
    # Workers serve meanwhile; once descriptors are free, the control socket answers again.
    assert harness.echo_once(addr) == b"ping"
    for s in held:
        s.close()
    out = wait_until(lambda: _try_status(srv), 15, what="status after the burst")
    assert "total workers=1" in out, out
    wait_until(lambda: "control socket: accepting again" in srv.output(), 5,
               what="the recovery log line")


def _try_status(srv):
    try:
        return harness.control(srv, "status", timeout=5)
    except OSError:
        return None


# ---- item 11: SIGUSR2 during a reload ----

def test_sigusr2_during_reload_is_queued_until_it_ends():
    addr = "127.0.0.1:%d" % harness.free_port()
    # A slow init makes the reload last long enough to send SIGUSR2 in the middle.
    slow = svc("slow", addr, "testmod", module=harness.module("testmod"), workers=1,
               extra="testmod = { init_sleep = 1.5; };")
    srv = Server(config(slow, shutdown_timeout=20))
    try:
        srv.start(wait_for=[addr], timeout=20 * harness.SLOW)
        srv.wait_workers(1)
        srv.signal(signal.SIGHUP)
        wait_until(lambda: "reloading" in srv.output(), 5, what="the reload to start")
        srv.signal(signal.SIGUSR2)
        wait_until(lambda: "upgrade queued" in srv.output(), 5, what="the upgrade to be queued")
        assert "upgrade refused" not in srv.output(), srv.output()
        # The reload ends first, then the upgrade runs: a new master takes over.
        new = wait_until(lambda: (lambda p: p if p and p != srv.pid else None)(srv.read_pid()),
                         30 * harness.SLOW, what="the pid file to name a new master")
        out = srv.output()
        assert out.index("reload succeeded") < out.index("upgrade: starting"), out
        assert srv.wait_exit(timeout=30 * harness.SLOW) == 0, srv.output()
        assert harness.pid_alive(new)
        wait_until(lambda: harness.can_connect(addr), 20 * harness.SLOW, what="the new master serving")
        assert harness.echo_once(addr) == b"ping"
    finally:
        harness.kill_leftovers(srv.conf)


# ---- item 7: pools near the maximum ----

def test_t_rejects_start_sizes_a_reload_could_not_fit():
    d = harness.tmpdir()
    text = config(svc("a", "127.0.0.1:%d" % harness.free_port(), workers=4096, max_workers=4096),
                  svc("b", "127.0.0.1:%d" % harness.free_port(), workers=1))
    path = harness.write(os.path.join(d, "big.conf"), text)
    r = harness.preforkd("-t", "-c", path)
    assert r.returncode == 1, r
    err = r.stderr.decode()
    assert re.search(r"big\.conf:\d+: the services' workers add up to 4097; at most 4096 in all, "
                     r"so that a reload's new generation fits", err), err
    # The documented maximum alone passes.
    path = harness.write(os.path.join(d, "max.conf"), config(
        svc("a", "127.0.0.1:%d" % harness.free_port(), workers=4096, max_workers=4096)))
    r = harness.preforkd("-t", "-c", path)
    assert r.returncode == 0, r


# ---- item 13: an access log that cannot be opened ----

def http_get(addr):
    s = harness.connect(addr, timeout=10)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    out = harness.recv_all(s)
    s.close()
    return out


def svc_doc(srv, name):
    for s in harness.status(srv)["services"]:
        if s["name"] == name:
            return s
    raise AssertionError("no service %s" % name)


def test_unopenable_access_log_keeps_the_pool_and_says_so():
    base = harness.tmpdir()
    os.mkdir(os.path.join(base, "www"))
    harness.write(os.path.join(base, "www", "index.html"), "hello\n")
    os.mkdir(os.path.join(base, "logs"))
    addr = "127.0.0.1:%d" % harness.free_port()
    srv = Server(config(svc("web", addr, "http", workers=2, max_requests=5,
                            extra='http = { root = "www"; access_log = "logs/access.log"; };'),
                        shutdown_timeout=5),
                 folder=base)
    srv.start(wait_for=[addr])
    first = set(srv.wait_workers(2))
    # The log's folder goes away (a careless logrotate): a new worker's init fails.
    os.rename(os.path.join(base, "logs"), os.path.join(base, "logs.gone"))
    # Requests past max_requests, until a successor has failed a few times
    # (the master notices a recycle request within a second).
    low, i = 2, 0
    deadline = time.monotonic() + 15 * harness.SLOW
    while i < 40 or srv.output().count("cannot recycle worker") < 2:
        assert time.monotonic() < deadline, srv.output()[-3000:]
        assert http_get(addr).startswith(b"HTTP/1.1 200"), i
        doc = svc_doc(srv, "web")
        low = min(low, doc["idle"] + doc["busy"])
        i += 1
        time.sleep(0.02)
    out = srv.output()
    assert "open access log" in out, out[-2000:]
    # The pool kept its strength: the old workers serve on past max_requests.
    assert low == 2, "the pool shrank to %d serving worker(s):\n%s" % (low, out[-3000:])
    assert first <= set(srv.workers()), (first, srv.workers())
    # Loudly: the log and the status both say recycling is held back.
    wait_until(lambda: "cannot recycle worker" in srv.output(), 10, what="the error line")
    doc = wait_until(lambda: (lambda d: d if d["recycle_held"] else None)(svc_doc(srv, "web")),
                     10, what="recycle_held in the status")
    assert doc["init_failures"] >= 1, doc
    assert "recycling held back" in harness.control(srv, "status")
    # The folder is back: the next try succeeds and recycling resumes.
    os.rename(os.path.join(base, "logs.gone"), os.path.join(base, "logs"))

    def recycled():
        http_get(addr)
        return not (first & set(srv.workers())) and not svc_doc(srv, "web")["recycle_held"]
    wait_until(recycled, 30 * harness.SLOW, interval=0.1, what="the old workers recycled")
    assert "recycling resumed" in srv.output()
    assert http_get(addr).startswith(b"HTTP/1.1 200")


if __name__ == "__main__":
    harness.main(globals())

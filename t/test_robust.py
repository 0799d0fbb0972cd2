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


if __name__ == "__main__":
    harness.main(globals())

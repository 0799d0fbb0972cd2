#!/usr/bin/env python3
"""test_hostile.py - the master against a hostile worker (issue 11, item 1).

A module (t/modules/sbwriter.c), running in a worker as `nobody`, overwrites
the whole shared scoreboard with random bytes and targeted lies in a loop
(nslots = 1 << 24, states and service indexes out of range, peers without a
NUL, the pid of a decoy process in every slot) while the test makes the
master reap, reload, resize and answer status. The master must never crash,
never signal a process it did not fork (the decoy lives on), and replace
the scribbling worker when it dies.

Needs root (the worker must really be an unprivileged process): skips
otherwise.
"""
import json
import os
import pwd
import re
import signal
import time

import harness
from harness import Server, config, svc, wait_until


def need_root_and_nobody():
    if os.geteuid() != 0:
        raise harness.Skip("needs root to run workers as nobody (uid %d)" % os.geteuid())
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        raise harness.Skip("no user nobody")


def sbw_pids(st):
    """The pids the master's status lists for service sbw."""
    for s in st["services"]:
        if s["name"] == "sbw":
            return [w["pid"] for w in s["workers"]]
    return []


def check_master(srv, decoy):
    assert srv.proc.poll() is None, "the master died (%s):\n%s" % (
        srv.proc.returncode, srv.output()[-3000:])
    assert harness.pid_alive(decoy.pid), "the decoy %d was killed" % decoy.pid


def start_hostile(writer_extra="", shutdown_timeout=3.0):
    need_root_and_nobody()
    decoy = harness.spawn(["sleep", "600"])
    echo = "127.0.0.1:%d" % harness.free_port()
    sbw = "127.0.0.1:%d" % harness.free_port()
    stat = "127.0.0.1:%d" % harness.free_port()
    text = config(
        svc("echo", echo, workers=2, max_workers=4),
        svc("sbw", sbw, handler="sbwriter", module=harness.module("sbwriter"),
            workers=1, max_workers=3, request_timeout=1.0,
            extra="sbwriter = { decoy_pid = %d; pause_us = 2000; %s };" % (decoy.pid, writer_extra)),
        svc("status", stat, handler="status", workers=1),
        user="nobody", shutdown_timeout=shutdown_timeout)
    srv = Server(text)
    srv.start(wait_for=[echo, sbw, stat], timeout=15 * harness.SLOW)
    wait_until(lambda: "sbwriter: scribbling" in srv.output(), 10 * harness.SLOW,
               what="the writer's first round")
    # Killing a worker of the first generation before it is ready fails the
    # start-up, rightly: the actions begin once the master says it is ready.
    wait_until(lambda: "] %d master: ready: " % srv.proc.pid in srv.output(), 15 * harness.SLOW,
               what="the first generation ready")
    return srv, decoy, echo, stat


def test_random_scoreboard_writer():
    srv, decoy, echo, stat = start_hostile()
    actions = ["status", "json", "reload", "ttin", "ttou", "resize+", "resize-", "echo",
               "usr1", "statussvc", "kill_writer"]
    # Under valgrind each action is slow: 36 s of them are enough rounds.
    deadline = time.monotonic() + 12 * min(harness.SLOW, 3)
    writers_seen = set()
    i = 0
    while time.monotonic() < deadline:
        a = actions[i % len(actions)]
        i += 1
        if a == "status":
            out = harness.control(srv, "status")
            assert "total workers=" in out, out
            assert str(decoy.pid) not in out.split(), out
        elif a == "json":
            st = json.loads(harness.control(srv, "status json"))
            pids = [w["pid"] for s in st["services"] for w in s["workers"]]
            assert decoy.pid not in pids, st
            writers_seen.update(sbw_pids(st))
        elif a == "reload":
            srv.signal(signal.SIGHUP)
        elif a == "ttin":
            srv.signal(signal.SIGTTIN)
        elif a == "ttou":
            srv.signal(signal.SIGTTOU)
        elif a == "resize+":
            answer = harness.control(srv, "workers sbw +1")
            assert answer.startswith("ok sbw"), (answer, srv.output()[-2000:])
        elif a == "resize-":
            assert harness.control(srv, "workers sbw -1").startswith("ok sbw")
        elif a == "echo":
            assert harness.echo_once(echo) == b"ping"
        elif a == "usr1":
            srv.signal(signal.SIGUSR1)
        elif a == "statussvc":
            # A worker's status handler renders what the writer scribbled: it answers.
            s = harness.connect(stat)
            s.sendall(b"json\n")
            body = harness.recv_all(s)
            s.close()
            assert body.startswith(b"{") or body == b"", body[:200]
        elif a == "kill_writer":
            for p in sbw_pids(harness.status(srv)):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        check_master(srv, decoy)
        time.sleep(0.05)
    # The writer is replaced: after a kill, a new one scribbles again.
    before = set(sbw_pids(harness.status(srv)))
    for p in before:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    new = wait_until(lambda: [p for p in sbw_pids(harness.status(srv))
                              if p not in before and harness.pid_alive(p)],
                     15 * harness.SLOW, what="a new sbwriter worker")
    writers_seen.update(new)
    assert len(writers_seen) >= 2, writers_seen
    # Every pid the master lists is a process it forked.
    for p in sbw_pids(harness.status(srv)):
        assert p != decoy.pid
    check_master(srv, decoy)
    assert harness.echo_once(echo) == b"ping"
    out = srv.output()
    for bad in ("AddressSanitizer", "runtime error", "Segmentation"):
        assert bad not in out, out[-3000:]
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=20 * harness.SLOW) == 0, srv.output()[-3000:]
    assert harness.pid_alive(decoy.pid), "the decoy %d was killed" % decoy.pid


def test_slot_lies_do_not_end_a_worker_before_it_is_ready():
    """A module's init scribbles 'busy since the epoch' over every slot and
    then takes 1.5 s to return (request_timeout 1 s): the watchdog must leave
    the worker alone until its ready message, or the start-up never ends."""
    srv, decoy, echo, stat = start_hostile("ready_delay_ms = 1500;", shutdown_timeout=3.0 * harness.SLOW)
    out = srv.output()
    first = re.search(r"\] (\d+) worker sbw: sbwriter: scribbling", out)
    assert first, out[-3000:]
    ready_at = out.index("master: ready: ")
    assert "worker %s busy for" % first.group(1) not in out[:ready_at], out[-3000:]
    assert "start-up failed" not in out, out[-3000:]
    check_master(srv, decoy)
    assert harness.echo_once(echo) == b"ping"
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=20 * harness.SLOW) == 0, srv.output()[-3000:]


if __name__ == "__main__":
    harness.main(globals())

#!/usr/bin/env python3
"""t/soak_hostile.py - a soak of the master against a hostile worker (by
hand, not in CI; needs root): `PREFORKD=src/preforkd python3 t/soak_hostile.py
--seconds 180`.

A worker running as nobody (t/modules/sbwriter.c) overwrites the whole
shared scoreboard with random bytes and targeted lies (nslots = 1 << 24,
states and service indexes out of range, peers without a NUL, a decoy's pid
in every slot) for the whole run, while echo load runs through
prefork-client and the master is reloaded, resized (SIGTTIN/SIGTTOU and the
workers command), asked for its status (text and JSON), made to reopen its
logs, and has the scribbling worker killed now and then. At the end it
checks that the master never died, never signalled the decoy, listed only
its own children, replaced every writer that died, that every reload
succeeded, and that its memory and descriptors did not grow. Prints the
figures; exits 0 when all hold.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, config, svc  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak_hostile: needs root (workers run as nobody)")
        return 77
    decoy = harness.spawn(["sleep", "100000"])
    echo = "127.0.0.1:%d" % harness.free_port()
    sbw = "127.0.0.1:%d" % harness.free_port()
    stat = "127.0.0.1:%d" % harness.free_port()
    text = config(
        svc("echo", echo, workers=3, max_workers=6, max_requests=500),
        svc("sbw", sbw, handler="sbwriter", module=harness.module("sbwriter"),
            workers=1, max_workers=3, request_timeout=2.0,
            extra="sbwriter = { decoy_pid = %d; pause_us = 1000; };" % decoy.pid),
        svc("status", stat, handler="status", workers=1),
        user="nobody", shutdown_timeout=3.0)
    srv = Server(text)
    figures = {"status": 0, "json": 0, "reloads": 0, "resizes": 0, "kills": 0,
               "status_handler": 0, "status_handler_empty": 0, "errors": []}
    try:
        srv.start(wait_for=[echo, sbw, stat], timeout=20)
        load = harness.spawn([harness.CLIENT, "-c", "4", "-d", str(int(args.seconds)), "-m",
                              "ping\n", "--json", echo],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t_end = time.monotonic() + args.seconds
        warm = time.monotonic() + args.seconds / 10
        rss0 = fds0 = None
        cpu0 = cpu_seconds(srv.pid)
        writers = set()
        i = 0
        while time.monotonic() < t_end:
            if rss0 is None and time.monotonic() >= warm:
                rss0, fds0 = rss_kib(srv.pid), len(os.listdir("/proc/%d/fd" % srv.pid))
            n, k = i, i % 10
            i += 1
            try:
                if k in (0, 5):
                    out = harness.control(srv, "status", timeout=10)
                    assert "total workers=" in out and str(decoy.pid) not in out.split(), out
                    figures["status"] += 1
                elif k in (1, 6):
                    st = json.loads(harness.control(srv, "status json", timeout=10))
                    pids = [w["pid"] for s in st["services"] for w in s["workers"]]
                    assert decoy.pid not in pids
                    kids = set(harness.children_of(srv.pid))
                    stray = [p for p in pids if p not in kids and harness.pid_alive(p)]
                    assert not stray, "status lists processes that are not children: %s" % stray
                    for s in st["services"]:
                        if s["name"] == "sbw":
                            writers.update(w["pid"] for w in s["workers"])
                    figures["json"] += 1
                elif k == 2 and n % 40 == 2:
                    r = harness.control(srv, "reload", timeout=30)
                    assert r == "ok\n", r
                    figures["reloads"] += 1
                elif k == 3:
                    srv.signal(signal.SIGTTIN if n % 20 < 10 else signal.SIGTTOU)
                    r = harness.control(srv, "workers sbw %s1" % ("+" if n % 20 < 10 else "-"))
                    assert r.startswith("ok sbw"), r
                    figures["resizes"] += 1
                elif k == 4:
                    s = harness.connect(stat, timeout=10)
                    s.sendall(b"json\n")
                    body = harness.recv_all(s)
                    s.close()
                    figures["status_handler"] += 1
                    if not body:
                        figures["status_handler_empty"] += 1
                elif k == 7 and n % 50 == 7:
                    st = harness.status(srv)
                    for s in st["services"]:
                        if s["name"] == "sbw":
                            for w in s["workers"]:
                                try:
                                    os.kill(w["pid"], signal.SIGKILL)
                                    figures["kills"] += 1
                                except ProcessLookupError:
                                    pass    # the watchdog or a recycle was first
                elif k == 8 and n % 100 == 8:
                    srv.signal(signal.SIGUSR1)
            except (OSError, AssertionError, ValueError) as e:
                figures["errors"].append("%s: %r" % (k, e))
            if srv.proc.poll() is not None:
                figures["errors"].append("master died: %s" % srv.proc.returncode)
                break
            if not harness.pid_alive(decoy.pid):
                figures["errors"].append("decoy killed")
                break
            time.sleep(0.05)
        rss1, fds1 = rss_kib(srv.pid), len(os.listdir("/proc/%d/fd" % srv.pid))
        cpu = cpu_seconds(srv.pid) - cpu0
        out, err = load.communicate(timeout=60)
        summary = json.loads(out.decode() or "{}")
        log = srv.output()
        srv.signal(signal.SIGTERM)
        rc = srv.wait_exit(timeout=30)
        print("soak_hostile: %.0f s; master exit %s; decoy alive: %s" % (
            args.seconds, rc, harness.pid_alive(decoy.pid)))
        print("  control: %d status, %d status json, %d reloads ok, %d resizes; "
              "status handler: %d answers (%d empty)" % (
                  figures["status"], figures["json"], figures["reloads"], figures["resizes"],
                  figures["status_handler"], figures["status_handler_empty"]))
        print("  writer workers seen: %d; killed by the soak: %d; scribble rounds started: %d" % (
            len(writers), figures["kills"], log.count("sbwriter: scribbling")))
        print("  echo load: %s requests, %s errors" % (summary.get("requests"), summary.get("errors")))
        print("  master: CPU %.1f s over the run; RSS %s -> %s KiB; fds %s -> %s" % (
            cpu, rss0, rss1, fds0, fds1))
        print("  log: %d lines, %d watchdog kills, %d recycles, %d 'reload failed'" % (
            log.count("\n"), log.count("request_timeout"), log.count("recycling worker"),
            log.count("reload failed")))
        for bad in ("AddressSanitizer", "runtime error", "Segmentation", "master died"):
            if bad in log:
                figures["errors"].append("log has %s" % bad)
        for e in figures["errors"][:20]:
            print("  ERROR", e)
        ok = (not figures["errors"] and rc == 0 and harness.pid_alive(decoy.pid) and
              rss0 is not None and rss1 <= rss0 * 1.01 + 64 and fds1 <= fds0 and
              summary.get("errors") == 0)
        print("soak_hostile:", "OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        harness._cleanup()


if __name__ == "__main__":
    sys.exit(main())

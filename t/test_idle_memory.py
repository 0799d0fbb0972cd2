#!/usr/bin/env python3
"""What an idle pool costs (issue 16): a worker writes few pages of its own
after fork, and the master's bookkeeping between two forks (its tables live
in memory left out of the workers' forks, core/arena.c) copies none into
the workers forked before. Measured per worker as Private_Dirty of
/proc/PID/smaps_rollup: pages this process alone holds, written after fork
by it or, through copy-on-write, by the master."""
import os

import harness

# An idle static-file worker holds 10 pages of its own here (glibc's fork
# alone leaves about 7: stack, thread block, the loader's and libc's data);
# before the master's tables left the workers' forks it was 23 (92 KiB).
MAX_PRIVATE_KIB = 60


def private_dirty_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Private_Dirty for %d" % pid)


def test_idle_workers_hold_few_pages_of_their_own():
    why = harness.instrumented()
    if why:
        raise harness.Skip(why)
    base = harness.tmpdir()
    os.chmod(base, 0o755)
    os.makedirs(os.path.join(base, "www"))
    harness.write(os.path.join(base, "www", "a.txt"), "hello\n")
    addr = "127.0.0.1:%d" % harness.free_port()
    workers = 16
    srv = harness.Server("""
services = (
  { name = "web"; listen = "%s"; handler = "http"; workers = %d;
    http = { root = "www"; access_log = ""; }; }
);
""" % (addr, workers), folder=base)
    srv.start(wait_for=[addr])
    pids = srv.wait_workers(workers)
    # Every worker through its start-up and asleep in accept().
    harness.wait_until(lambda: all("accept" in harness.wchan(p) for p in pids), 10,
                       what="every worker in accept()")
    sizes = {p: private_dirty_kib(p) for p in pids}
    master = private_dirty_kib(srv.proc.pid)
    print("idle http workers: private dirty %s KiB (master %d KiB)"
          % (sorted(sizes.values()), master))
    worst = max(sizes.values())
    assert worst <= MAX_PRIVATE_KIB, sizes
    # The first worker forked and the last hold the same: nothing piles up
    # in the earlier ones while the master forks the rest.
    assert worst - min(sizes.values()) <= 8, sizes


if __name__ == "__main__":
    harness.main(globals())

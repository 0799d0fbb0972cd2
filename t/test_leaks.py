"""test_leaks.py - a master that reloads many times does not grow: 20
SIGHUP reloads (each a real change, with traffic through every handler)
leave its descriptors and resident memory where they were after warm-up.
Under `make check-valgrind` or in an AddressSanitizer build the RSS figure
means nothing; there the master is stopped gracefully instead and its exit
status must be 0 (valgrind exits 99 on a definite leak or a memory error,
LeakSanitizer fails the exit at a leak); under valgrind 3 reloads do."""
import os
import re
import signal

import harness

# Under valgrind a leak or a memory error of one reload fails the master's
# exit status, so 3 reloads prove there what 20 prove for RSS elsewhere.
RELOADS = 3 if harness.VALGRIND else 20


def config(workers, www, ports):
    return """
log_level = "info";
shutdown_timeout = 5.0;
services = (
  { name = "echo"; listen = "127.0.0.1:%d"; handler = "echo"; workers = %d; },
  { name = "web"; listen = "127.0.0.1:%d"; handler = "http"; workers = 2;
    http = { root = "%s"; }; },
  { name = "status"; listen = "127.0.0.1:%d"; handler = "status"; workers = 1; }
);
""" % (ports[0], workers, ports[1], www, ports[2])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def under_memory_tool(pid):
    """valgrind (harness hook) or a sanitizer runtime mapped in the master."""
    if harness.VALGRIND:
        return True
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def reloads(srv):
    return len(re.findall(r"reload succeeded", srv.output()))


def traffic(ports):
    """One request through each handler; each must succeed."""
    r = harness.client("-m", "ping", "127.0.0.1:%d" % ports[0])
    assert r.returncode == 0 and r.stdout == b"ping", r
    r = harness.client("--http", "/index.html", "127.0.0.1:%d" % ports[1])
    assert r.returncode == 0 and r.stdout == b"leak check\n", r
    r = harness.client("-m", "", "127.0.0.1:%d" % ports[2])
    assert r.returncode == 0 and b"echo" in r.stdout, r


def reload_to(srv, text, ports):
    before = reloads(srv)
    harness.rewrite(srv, text)
    srv.signal(signal.SIGHUP)
    harness.wait_until(lambda: reloads(srv) > before or "reload failed" in srv.output(),
                       60, what="reload %d to finish" % (before + 1))
    assert "reload failed" not in srv.output(), srv.output()
    traffic(ports)


def test_twenty_reloads_leak_nothing_in_the_master():
    d = harness.tmpdir()
    www = os.path.join(d, "www")
    os.mkdir(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("leak check\n")
    ports = [harness.free_port() for _ in range(3)]
    srv = harness.Server(config(2, www, ports), folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % p for p in ports], timeout=60)
    traffic(ports)

    # Warm-up: the first reloads may size buffers and tables for good.
    for i in range(3):
        reload_to(srv, config(2 + i % 2, www, ports), ports)
    rss0, fds0 = rss_kib(srv.pid), fds(srv.pid)

    for i in range(RELOADS):
        reload_to(srv, config(3 - i % 2, www, ports), ports)
    rss1, fds1 = rss_kib(srv.pid), fds(srv.pid)
    print("master after %d reloads: RSS %d -> %d KiB, %d -> %d descriptors"
          % (RELOADS, rss0, rss1, fds0, fds1))

    assert fds1 == fds0, "the master leaks descriptors: %d -> %d" % (fds0, fds1)
    if under_memory_tool(srv.pid):
        # The tool decides: a leak or a memory error changes the exit status.
        srv.signal(signal.SIGTERM)
        status = srv.wait_exit(timeout=120)
        assert status == 0, "master exited %d under a memory checker:\n%s" % (
            status, srv.output())
    else:
        # A leak of a configuration per reload would show as pages; allow
        # malloc a little slack for its own bookkeeping.
        assert rss1 - rss0 <= 256, "master RSS grew by %d KiB over %d reloads" % (
            rss1 - rss0, RELOADS)


harness.main(globals())

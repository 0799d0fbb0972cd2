"""test_drain.py - lame-duck drain and HAProxy's agent check, and the sizing
and memory keys: `-s drain`/`-s undrain` and the control commands; the
status handler's /health (200, then 503 while draining); the agent answer
(`up NN% maxconn:N ready`, lower while busy and never 0%, `drain`, `down#...`
while throttled); a graceful stop with drain_delay that keeps serving
first; workers = "auto" in -t and the log; max_rss recycling a module that
leaks on purpose, and the watchdog ending one far over it."""
import os
import re
import signal
import socket
import time

import harness
from harness import config, echo_once, svc


def agent(addr):
    """The one line the agent check answers."""
    s = harness.connect(addr)
    out = harness.recv_all(s).decode()
    s.close()
    assert out.endswith("\n") and out.count("\n") == 1, repr(out)
    return out.strip()


def health(addr, path="/health"):
    s = harness.connect(addr)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    data = harness.recv_all(s).decode()
    s.close()
    return int(data.split()[1]), data.split("\r\n\r\n", 1)[1]


def start(workers=4, top=None, **kw):
    """echo (with an agent check) and status services; returns (srv, addrs dict)."""
    a = {k: "127.0.0.1:%d" % harness.free_port() for k in ("echo", "agent", "status")}
    text = config(svc("echo", a["echo"], workers=workers, agent_check=a["agent"], **kw),
                  svc("status", a["status"], handler="status", workers=1), **(top or {}))
    srv = harness.start_server(text, workers + 1, [a["echo"], a["status"], a["agent"]])
    return srv, a


def test_agent_says_up_with_weight_and_maxconn():
    srv, a = start(workers=4)
    assert agent(a["agent"]) == "up 100% maxconn:4 ready"


def test_busy_service_gets_a_lower_weight_never_zero():
    srv, a = start(workers=4)
    held = []
    try:
        for _ in range(4):
            s = harness.connect(a["echo"])
            s.sendall(b"x")
            held.append(s)
        harness.wait_until(lambda: harness.status(srv)["services"][0]["busy"] == 4, 10,
                           what="4 busy workers")

        def weight():
            m = re.match(r"up (\d+)% maxconn:4 ready$", agent(a["agent"]))
            assert m, agent(a["agent"])
            return int(m.group(1))
        # Smoothed: it falls over a few seconds, to 1%, never to 0%.
        harness.wait_until(lambda: weight() <= 50, 10, what="weight down to 50% or less")
        harness.wait_until(lambda: weight() == 1, 30, what="weight down to 1%")
    finally:
        for s in held:
            s.close()
    harness.wait_until(lambda: re.match(r"up (\d+)%", agent(a["agent"])) and
                       int(re.match(r"up (\d+)%", agent(a["agent"])).group(1)) >= 50, 30,
                       what="weight back up")


def test_drain_and_undrain_by_command():
    srv, a = start(workers=2)
    assert health(a["status"]) == (200, "ok\n")
    r = harness.preforkd("-c", srv.conf, "-s", "drain")
    assert r.returncode == 0 and r.stdout.decode() == "ok draining\n", r
    assert agent(a["agent"]) == "drain"
    assert health(a["status"]) == (503, "draining\n")
    assert harness.status(srv)["draining"] is True
    assert "state draining" in harness.status_text(srv)
    # Workers keep serving while draining.
    assert echo_once(a["echo"]) == b"ping"
    assert harness.control(srv, "undrain") == "ok serving\n"
    assert agent(a["agent"]).startswith("up ")
    assert health(a["status"]) == (200, "ok\n")
    assert harness.status(srv)["draining"] is False
    r = harness.preforkd("-c", srv.conf, "-s", "undrain")
    assert r.returncode == 0, r


def test_graceful_stop_drains_first_for_drain_delay():
    srv, a = start(workers=2, top={"drain_delay": 2.0})
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    harness.wait_until(lambda: agent(a["agent"]) == "drain", 5, what="agent says drain")
    assert health(a["status"])[0] == 503
    # Still serving, on the same listener, while draining.
    assert echo_once(a["echo"]) == b"ping"
    assert srv.proc.poll() is None
    assert srv.wait_exit(30) == 0
    took = time.monotonic() - t0
    assert took >= 2.0, took
    assert not harness.can_connect(a["echo"])
    assert "draining" in srv.output()


def test_quit_waits_for_drain_delay():
    srv, a = start(workers=1, top={"drain_delay": 1.5, "shutdown_timeout": 1.0 * harness.SLOW})
    r = harness.preforkd("-c", srv.conf, "-s", "quit")
    assert r.returncode == 0, r
    assert srv.proc.poll() is not None


def test_throttled_service_is_down():
    d = harness.tmpdir()
    port, aport = harness.free_port(), harness.free_port()
    crasher = harness.module("testmod")
    aaddr = "127.0.0.1:%d" % aport
    srv = harness.Server(config(svc("c", "127.0.0.1:%d" % port, handler="testmod", module=crasher,
                                    workers=1, agent_check=aaddr,
                                    extra="testmod = { handle = \"crash\"; };")), folder=d)
    srv.start(wait_for=[aaddr])
    # Each connection kills the worker: crash back-off throttles the service.
    def crash_and_check():
        try:
            echo_once("127.0.0.1:%d" % port, timeout=1)
        except OSError:
            pass
        return agent(aaddr).startswith("down#")
    harness.wait_until(crash_and_check, 20, interval=0.2, what="agent says down")


def test_workers_auto_says_what_and_why():
    addr = "127.0.0.1:%d" % harness.free_port()
    d = harness.tmpdir()
    conf = harness.write(os.path.join(d, "s.conf"), config(svc("e", addr, workers="auto")))
    r = harness.preforkd("-t", "-c", conf)
    assert r.returncode == 0, r
    out = r.stdout.decode()
    m = re.search(r'service e: workers = "auto": (\d+) \((\d+) CPUs? in the affinity mask, (.*)\)', out)
    assert m, out
    n = int(m.group(1))
    assert 1 <= n <= len(os.sched_getaffinity(0)), out
    srv = harness.Server(open(conf).read())
    srv.start(wait_for=[addr])
    srv.wait_workers(n)
    assert 'workers = "auto": %d' % n in srv.output()


def rss_of(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def start_leaky(workers, leak_kb, over_base, metrics=None, hold=False):
    """The leaky module with max_rss set `over_base` bytes above what an idle
    worker of this build uses (sanitizer builds use more)."""
    if harness.VALGRIND:
        raise harness.Skip("under valgrind a worker's RSS is valgrind's")
    addr = "127.0.0.1:%d" % harness.free_port()
    leaky = harness.module("leaky")
    top = {"metrics": metrics} if metrics else {}

    def text(max_rss):
        return config(svc("leak", addr, handler="leaky", module=leaky, workers=workers,
                          max_rss=max_rss, extra="leaky = { leak_kb = %d; hold = %s; };"
                          % (leak_kb, "true" if hold else "false")), **top)
    srv = harness.start_server(text(0), workers, [addr] + ([metrics] if metrics else []))
    base = max(rss_of(p) for p in srv.workers())
    harness.rewrite(srv, text(base + over_base))
    old = set(srv.workers())
    assert harness.preforkd("-c", srv.conf, "-s", "reload").returncode == 0
    harness.wait_until(lambda: len(srv.workers()) == workers and not old & set(srv.workers()),
                       20, what="the generation with max_rss")
    return srv, addr, base


def test_max_rss_recycles_a_leaking_worker():
    maddr = "127.0.0.1:%d" % harness.free_port()
    srv, addr, base = start_leaky(2, 4096, 24 << 20, metrics=maddr)
    before = set(srv.workers())
    # Each connection leaks 4 MiB more: after about 6 the worker asks to go.
    highest = 0
    for _ in range(40):
        out = echo_once(addr, b"")
        highest = max(highest, int(out.split()[1]))
        if not before & set(srv.workers()):
            break
    harness.wait_until(lambda: not before & set(srv.workers()), 20, what="leaking workers replaced")
    # Recycled after the connection that passed the limit, not long after.
    assert highest <= 48 * 1024, highest
    import test_metrics
    text = test_metrics.scrape(maddr)
    assert test_metrics.value(text, "prefork_worker_exits_total", service="leak",
                              reason="memory") >= 2
    assert test_metrics.value(text, "prefork_worker_exits_total", service="leak",
                              reason="crash") == 0
    assert "resident memory over max_rss" in srv.output()


def test_memory_watchdog_ends_a_worker_far_over():
    # One connection leaks 80 MiB, more than twice max_rss (base + 16 MiB), and
    # the worker stays busy on it: it cannot ask, so the watchdog ends it.
    srv, addr, base = start_leaky(1, 81920, 16 << 20, hold=True)
    if 2 * (base + (16 << 20)) >= 80 << 20:
        raise harness.Skip("an idle worker uses %d bytes here: too much for this test" % base)
    first = srv.workers()[0]
    s = harness.connect(addr, timeout=20)
    assert s.recv(100).startswith(b"leaked 81920 KiB")
    # The watchdog ends it: the held connection closes, a successor starts.
    assert harness.closed_without_a_byte(s, timeout=20)
    s.close()
    harness.wait_until(lambda: first not in srv.workers() and len(srv.workers()) == 1, 20,
                       what="the worker replaced")
    assert re.search(r"worker %d uses \d+ bytes, far over max_rss" % first, srv.output()), \
        srv.output()


harness.main(globals())

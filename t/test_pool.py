"""test_pool.py - pool management and resilience: dynamic sizing between
min_spare and max_spare (growing under held connections, shrinking back,
capped by max_workers counting a draining generation), the limits of
SIGTTIN/SIGTTOU and `workers NAME +N`, staggered max_requests recycling,
the request_timeout watchdog, read/write timeouts, slow clients (defer_accept,
a growing pool, the limit of a fixed pool), EMFILE back-off, the crash-loop
back-off, and what the status shows about all of it.

Each test prints the figures it measured (pool sizes over time, recycle
spacing, forks per second, latencies) so a run doubles as a report."""
import functools
import os
import re
import signal
import socket
import threading
import time

import harness
from harness import Server, free_port, module, svc, wait_until


# ---- helpers ----

# Control-socket answers within 15 s and echo exchanges within 10 s here.
control = functools.partial(harness.control, timeout=15)
status = functools.partial(harness.status, timeout=15)
echo_once = functools.partial(harness.echo_once, timeout=10)


def testmod(name, listen, handle="echo", crash_file=None, init_sleep=0, **kw):
    block = 'testmod = { handle = "%s";%s init_sleep = %.3f; };' % (
        handle, ' crash_file = "%s";' % crash_file if crash_file else "", init_sleep)
    return svc(name, listen, "testmod", extra=block, module=module("testmod"), **kw)


def config(*services, **top):
    """harness.config with a shutdown_timeout of 10 s unless given."""
    top.setdefault("shutdown_timeout", 10.0)
    return harness.config(*services, **top)


def start(*services, **top):
    """Start preforkd on the given services. It is not probed with a
    connection (that would count as served, or hang a "sleep" worker):
    callers wait for their workers to be idle in accept()."""
    srv = Server(config(*services, **top))
    srv.start()
    return srv


def service(doc, name):
    for v in doc["services"]:
        if v["name"] == name:
            return v
    raise AssertionError("no service %s in %s" % (name, doc))


def hold(addr, timeout=10):
    """An echo connection a worker has accepted and is serving (proved by a round trip)."""
    s = harness.connect(addr, timeout=timeout)
    s.sendall(b"x")
    got = s.recv(1)
    assert got == b"x", got
    return s


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d\.\d+) ")


def log_time(line):
    m = LOG_TIME.match(line)
    assert m, line
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def master_events(srv):
    """(kind, pid, seconds of the day) for each "recycling worker", "worker
    started" and "worker ready" line of the master's (debug) log, in order."""
    events = []
    for line in srv.output().splitlines():
        if " master: " not in line:
            continue
        for kind, pattern in (("recycle", r"recycling worker (\d+) after"),
                              ("start", r"worker (\d+) started"),
                              ("ready", r"worker (\d+) ready")):
            m = re.search(pattern, line)
            if m:
                events.append((kind, int(m.group(1)), log_time(line)))
    return events


def assert_recycles_wait_for_ready(events):
    """No worker was recycled while a worker started before it was not yet ready."""
    starting = set()
    for kind, pid, t in events:
        if kind == "start":
            starting.add(pid)
        elif kind == "ready":
            starting.discard(pid)
        else:
            assert not starting, "worker %d recycled while %s still starting" % (pid, starting)


class Sampler:
    """Samples the number of workers of a server every `interval` seconds."""

    def __init__(self, srv, interval=0.05):
        self.srv = srv
        self.interval = interval
        self.samples = []       # (seconds since start, workers)
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self.t0, len(self.srv.workers())))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self

    def peak(self):
        return max(n for _, n in self.samples)

    def changes(self):
        """The samples at which the count changed: a compact time series."""
        out, last = [], None
        for t, n in self.samples:
            if n != last:
                out.append((round(t, 2), n))
                last = n
        return out


def closing(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


# ---- dynamic sizing and limits ----

def test_dynamic_pool_grows_under_held_connections_and_shrinks_back():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(svc("dyn", addr, workers=2, min_spare=1, max_spare=2, max_workers=8))
    srv.wait_workers(2)
    sampler = Sampler(srv)
    held = []
    try:
        # Each held connection takes a worker; the pool keeps one idle spare.
        for i in range(5):
            held.append(hold(addr))
            wait_until(lambda: service(status(srv), "dyn")["idle"] >= 1, 10,
                       what="an idle spare with %d connections held" % len(held))
        assert len(srv.workers()) >= 6, srv.workers()
        # Beyond max_workers it does not grow: 8 busy, and the 9th waits.
        for i in range(3):
            held.append(hold(addr))
        wait_until(lambda: service(status(srv), "dyn")["busy"] == 8, 10, what="8 busy workers")
        extra = harness.connect(addr)
        extra.sendall(b"y")
        extra.settimeout(1.0)
        try:
            got = extra.recv(1)
            raise AssertionError("a 9th connection was served (%r) with max_workers 8" % got)
        except socket.timeout:
            pass
        doc = service(status(srv), "dyn")
        assert doc["target"] == 8 and doc["workers_total"] == 8, doc
        assert len(srv.workers()) == 8
        # Released, the queued one is served and the surplus retires one a second.
        closing(held)
        held = []
        extra.settimeout(10)
        assert extra.recv(1) == b"y"
        extra.close()
        t_release = time.monotonic()
        wait_until(lambda: len(srv.workers()) == 2 and service(status(srv), "dyn")["target"] == 2,
                   20, interval=0.05, what="the pool to shrink back to 2")
        shrink_time = time.monotonic() - t_release
    finally:
        closing(held)
        sampler.stop()
    assert sampler.peak() <= 8, sampler.changes()
    # Shrinking is one worker at a time, about a second apart.
    downs = [(t, n) for (t, n) in sampler.changes() if t > t_release - sampler.t0]
    for (t1, n1), (t2, n2) in zip(downs, downs[1:]):
        assert n1 - n2 <= 1, "shrank by %d at once: %s" % (n1 - n2, downs)
    assert shrink_time > 3.0, "8 -> 2 in %.1fs: not one at a time" % shrink_time
    print("pool size over time (s, workers): %s" % sampler.changes())
    print("shrink 8 -> 2 took %.1fs" % shrink_time)
    assert echo_once(addr) == b"ping"


def test_growth_counts_a_draining_generation_towards_max_workers():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(svc("dyn", addr, workers=2, min_spare=1, max_spare=4, max_workers=4),
                shutdown_timeout=30.0)
    srv.wait_workers(2)
    old = [hold(addr), hold(addr)]
    new = []
    sampler = None
    try:
        wait_until(lambda: service(status(srv), "dyn")["idle"] >= 1, 10, what="a spare")
        # Reload: the two busy workers drain, the new generation starts 2.
        assert control(srv, "reload").strip() == "ok"
        doc = status(srv)
        gen = doc["generation"]
        # The old generation's idle spare leaves at once (during the switch
        # both generations are whole); from then on, 2 draining + 2 new.
        wait_until(lambda: len(srv.workers()) == 4, 10, what="the old spare to exit")
        sampler = Sampler(srv)
        # Two held on the new generation: it wants a spare, but 2 draining + 2 = max_workers.
        new = [hold(addr), hold(addr)]
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            n = len(srv.workers())
            assert n <= 4, "%d workers with max_workers 4 (2 of them draining)" % n
            time.sleep(0.05)
        d = service(status(srv), "dyn")
        assert d["target"] == 2, d
        olds = [w for w in d["workers"] if w["generation"] != gen]
        assert len(olds) == 2, d["workers"]
        # Draining, they show as exiting, with the connection they finish.
        peers = sorted("%s:%d" % s.getsockname() for s in old)
        assert all(w["state"] == "exiting" and w["busy_for"] > 0 for w in olds), olds
        assert sorted(w["peer"] for w in olds) == peers, (olds, peers)
        # Once the old generation has drained, the spare comes.
        closing(old)
        wait_until(lambda: (lambda v: v["idle"] >= 1 and v["target"] == 3)(service(status(srv), "dyn")),
                   10, what="growth after the drain")
        for s in new:
            s.sendall(b"z")
            assert s.recv(1) == b"z"
        assert echo_once(addr) == b"ping"
    finally:
        closing(old + new)
        if sampler:
            sampler.stop()
    assert sampler.peak() <= 4, sampler.changes()
    print("workers over time (s, workers): %s" % sampler.changes())


def test_ttin_ttou_and_workers_command_stay_within_limits():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(svc("p", addr, workers=2, max_workers=3))
    srv.wait_workers(2)
    assert control(srv, "workers p +5").strip() == "ok p 3"
    srv.wait_workers(3)
    srv.signal(signal.SIGTTIN)
    # The signal is handled (the status is answered after it) and changes nothing.
    wait_until(lambda: service(status(srv), "p")["target"] == 3, 5 * harness.SLOW, what="target 3")
    time.sleep(0.3)     # a window for a wrong extra worker to show up
    assert len(srv.workers()) == 3 and service(status(srv), "p")["target"] == 3
    # Shrinking retires idle workers; a busy one serves on. The busy one is
    # made the last started (the first a naive shrink would retire).
    conns = [hold(addr) for _ in range(3)]
    ws = wait_until(lambda: (lambda v: v["workers"] if v["busy"] == 3 else None)(
        service(status(srv), "p")), 5 * harness.SLOW, what="3 busy workers")
    last = ws[-1]
    busy = [c for c in conns if "%s:%d" % c.getsockname() == last["peer"]][0]
    closing([c for c in conns if c is not busy])
    busy_pid = [last["pid"]]
    wait_until(lambda: service(status(srv), "p")["idle"] == 2, 5 * harness.SLOW, what="2 idle workers")
    assert control(srv, "workers p -10").strip() == "ok p 1"
    wait_until(lambda: srv.workers() == busy_pid, 5 * harness.SLOW, what="only the busy worker left")
    busy.sendall(b"still")
    assert busy.recv(5) == b"still"
    srv.signal(signal.SIGTTOU)
    time.sleep(0.3)
    assert srv.workers() == busy_pid and service(status(srv), "p")["target"] == 1
    busy.close()
    srv.signal(signal.SIGTTIN)
    srv.wait_workers(2)
    assert service(status(srv), "p")["target"] == 2
    assert control(srv, "workers nosuch +1").startswith("error:")
    assert echo_once(addr) == b"ping"


# ---- recycling ----

def test_max_requests_recycles_one_worker_at_a_time_without_a_failed_request():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    max_requests = 20
    srv = start(testmod("rec", addr, handle="pid", workers=3, max_requests=max_requests),
                log_level="debug")
    first = set(srv.wait_workers(3))
    served_by = {}
    errors = []
    lock = threading.Lock()

    def load(n):
        for _ in range(n):
            try:
                s = harness.connect(addr, timeout=10)
                pid = int(harness.recv_all(s).decode())
                s.close()
                with lock:
                    served_by[pid] = served_by.get(pid, 0) + 1
            except Exception as e:     # every failure counts, whatever its kind
                with lock:
                    errors.append(repr(e))
            # Steady, not flat out: the figures stay readable, and a successor
            # starting on a busy machine (sanitizers) is not outrun by a
            # thousand requests a second.
            time.sleep(0.01)
    t0 = time.monotonic()
    threads = [threading.Thread(target=load, args=(100,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    assert not errors, errors[:5]
    assert sum(served_by.values()) == 300
    assert len(served_by) > 3, served_by
    # A recycled worker leaves once its successor is ready (slow under valgrind).
    wait_until(lambda: len([p for p in served_by if not harness.pid_alive(p)]) >= 3,
               5 * harness.SLOW, what="three recycled workers gone")
    gone = [p for p in served_by if not harness.pid_alive(p)]
    assert first - set(srv.workers()), "no original worker was recycled"
    # A recycled worker served at least max_requests; past its limit (plus
    # up to 10% jitter) it serves on only while the recycles before its own
    # complete: the three share the load evenly and reach their limits
    # together, so the last waits for two successors to get ready (far
    # longer under valgrind, and under the sanitizers on a busy machine).
    # A worker never recycled would serve its whole share, 100.
    bound = 3 * max_requests * harness.SLOW
    for p in gone:
        assert max_requests <= served_by[p] <= bound, (p, served_by)
    at_recycle = [int(n) for n in re.findall(r"recycling worker \d+ after (\d+) connections",
                                             srv.output())]
    assert all(max_requests <= n <= bound for n in at_recycle), at_recycle
    doc = service(status(srv), "rec")
    assert doc["recycles"] >= len(gone), doc
    assert doc["crashes"] == 0, doc

    # The master's log (debug): each recycle waits until every worker started
    # before it (the previous one's successor included) has reached accept().
    events = master_events(srv)
    recycles = [e for e in events if e[0] == "recycle"]
    assert len(recycles) >= 3, srv.output()[-2000:]
    assert_recycles_wait_for_ready(events)
    spacing = [b[2] - a[2] for a, b in zip(recycles, recycles[1:])]
    print("300 requests in %.2fs, %d recycles, spacing (s): %s" % (
        elapsed, len(recycles), ", ".join("%.3f" % s for s in spacing)))
    print("connections per recycled worker: %s" % sorted(served_by[p] for p in gone))


def test_recycling_waits_for_the_previous_successor_to_be_ready():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    init_sleep = 0.3
    srv = start(testmod("rec", addr, handle="pid", workers=3, max_requests=2,
                        init_sleep=init_sleep), log_level="debug")
    first = srv.wait_workers(3)
    # Every worker reaches its limit at about the same time; their
    # successors start slowly (init_sleep).
    served = {}
    # Which worker accept() hands a connection to is the scheduler's choice
    # (one may go long without one on a loaded machine): ask until each of
    # the three has served two, within a deadline.
    deadline = time.monotonic() + 20 * harness.SLOW
    while time.monotonic() < deadline:
        s = harness.connect(addr, timeout=10)
        pid = int(harness.recv_all(s).decode())
        s.close()
        served[pid] = served.get(pid, 0) + 1
        if all(served.get(p, 0) >= 2 for p in first):
            break
    assert all(served.get(p, 0) >= 2 for p in first), served
    wait_until(lambda: not any(harness.pid_alive(p) for p in first), 15, interval=0.05,
               what="the three workers recycled")
    srv.wait_workers(3)
    events = master_events(srv)
    recycles = [e for e in events if e[0] == "recycle"]
    assert [r[1] for r in recycles] and set(r[1] for r in recycles) == set(first), recycles
    assert_recycles_wait_for_ready(events)
    spacing = [b[2] - a[2] for a, b in zip(recycles, recycles[1:])]
    assert all(s >= init_sleep - 0.02 for s in spacing), spacing
    print("3 workers at max_requests, successors taking %.1fs to start: recycled %.3f, %.3f s apart"
          % ((init_sleep,) + tuple(spacing)))


def test_recycled_worker_finishes_its_connection_first():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    crash_file = os.path.join(harness.tmpdir(), "crash")
    srv = start(testmod("rec", addr, crash_file=crash_file, workers=2, max_requests=1))
    a, b = srv.wait_workers(2)
    # Keep b's place empty for a while (its successors crash in init), so the
    # master holds back a's recycling: recycling never leaves two places empty.
    open(crash_file, "w").close()
    os.kill(b, signal.SIGKILL)
    wait_until(lambda: service(status(srv), "rec")["crashes"] >= 2, 5 * harness.SLOW,
               what="b's place crashing")
    assert echo_once(addr, b"one") == b"one"       # a reaches max_requests (1) ...
    c = hold(addr)                                  # ... and serves on meanwhile
    os.unlink(crash_file)
    wait_until(lambda: "recycling worker %d" % a in srv.output(), 15, what="a's recycling")
    # Retired while busy: it finishes this connection, then exits.
    assert harness.pid_alive(a)
    c.sendall(b"after")
    assert c.recv(5) == b"after"
    c.shutdown(socket.SHUT_WR)
    assert harness.recv_all(c) == b""
    c.close()
    wait_until(lambda: not harness.pid_alive(a), 5, what="a to exit")
    srv.wait_workers(2)
    assert echo_once(addr, b"two") == b"two"


# ---- stuck workers ----

def test_request_timeout_kills_a_stuck_worker_and_replaces_it():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(testmod("stuck", addr, handle="sleep", workers=1, request_timeout=1.0))
    kills = []
    for round_no in (1, 2):
        victim = srv.wait_workers(1)[0]
        c = harness.connect(addr, timeout=10)
        c.sendall(b"x")
        t0 = time.monotonic()
        peer = "%s:%d" % c.getsockname()
        w = wait_until(lambda: [w for w in service(status(srv), "stuck")["workers"]
                                if w["state"] == "busy"], 5, what="a busy worker")[0]
        assert w["pid"] == victim and w["peer"] == peer and w["busy_for"] >= 0, w
        # At request_timeout it is sent SIGTERM and replaced at once; the
        # SIGKILL comes after a grace period of a second.
        newpid = wait_until(lambda: [k for k in srv.workers() if k != victim
                                     and "accept" in harness.wchan(k)], 5, interval=0.02,
                            what="a replacement")[0]
        t_new = time.monotonic() - t0
        assert harness.pid_alive(victim), "no grace period before SIGKILL"
        # The handler ignores SIGTERM (it sleeps in pause()): SIGKILL follows.
        wait_until(lambda: not harness.pid_alive(victim), 6, interval=0.02, what="the watchdog")
        t_kill = time.monotonic() - t0
        assert harness.closed_without_a_byte(c)    # the connection is closed, not kept
        c.close()
        assert srv.wait_workers(1, timeout=5) == [newpid]
        kills.append((t_new, t_kill))
        assert 1.0 <= t_new <= 1.0 + 1.0, t_new
        assert t_kill >= t_new + 0.5 and t_kill <= 1.0 + 1.0 + 1.5, (t_new, t_kill)
        assert re.search(r"service stuck: worker %d busy for \d+\.\d s on %s \(request_timeout 1\.0 s\)"
                         % (victim, re.escape(peer)), srv.output()), srv.output()
    doc = service(status(srv), "stuck")
    assert doc["watchdog_kills"] == 2 and doc["crashes"] == 0 and not doc["throttled"], doc
    print("stuck connection (request_timeout 1.0): replacement idle after, victim gone after (s): %s"
          % ", ".join("%.2f, %.2f" % k for k in kills))


# ---- slow and hostile clients ----

def test_write_timeout_frees_a_worker_from_a_client_that_never_reads():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(svc("w", addr, workers=1, write_timeout=1.0, read_timeout=30.0))
    pid = srv.wait_workers(1)[0]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    sent = [0]
    blob = b"a" * 65536

    def flood():
        try:
            while sent[0] < 64 << 20:
                sent[0] += s.send(blob)
        except OSError:
            pass
    t = threading.Thread(target=flood, daemon=True)
    t0 = time.monotonic()
    t.start()
    wait_until(lambda: service(status(srv), "w")["busy"] == 1, 5, what="the worker busy")
    # The echo worker blocks writing to a client that never reads; write_timeout frees it.
    out = echo_once(addr, timeout=10)
    waited = time.monotonic() - t0
    assert out == b"ping"
    assert 0.9 <= waited <= 1.0 + 2.0, waited
    assert srv.workers() == [pid], "the worker was replaced, not freed"
    t.join(10)
    s.close()
    print("client that never reads: worker free again after %.2fs (write_timeout 1.0), "
          "%d bytes sent by then" % (waited, sent[0]))


def test_slowloris_defer_accept_keeps_silent_connections_off_the_workers():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(svc("d", addr, workers=2, defer_accept=True, read_timeout=5.0))
    pids = srv.wait_workers(2)
    silent = []
    try:
        for _ in range(50):
            silent.append(harness.connect(addr))
        t0 = time.monotonic()
        out = echo_once(addr, timeout=5)
        latency = time.monotonic() - t0
        assert out == b"ping"
        assert latency < 1.0, latency
        # No worker was woken for a connection that sent nothing: both are
        # idle again as soon as the request is done (read_timeout is 5 s).
        wait_until(lambda: (lambda v: v["busy"] == 0 and v["idle"] == 2 and v["served"] == 1)(
            service(status(srv), "d")), 2, what="both workers idle")
        assert srv.workers() == pids
        # The status says idle as the worker leaves the connection, a moment
        # before it is back in accept(); one held by a silent connection
        # would sit in poll for read_timeout (5 s).
        wait_until(lambda: all("accept" in harness.wchan(p) for p in pids), 2,
                   what="both workers back in accept")
    finally:
        closing(silent)
    print("defer_accept, 2 workers, 50 silent connections: request served in %.1f ms"
          % (latency * 1000))


def test_slowloris_trickling_clients_are_outgrown_and_get_408():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    base = harness.tmpdir()
    os.makedirs(os.path.join(base, "www"))
    with open(os.path.join(base, "www", "index.html"), "wb") as f:
        f.write(b"hello\n")
    header_timeout = 4.0
    text = config(svc("h", addr, "http", workers=2, min_spare=2, max_workers=64,
                      extra='http = { root = "%s"; header_timeout = %.1f; };'
                      % (os.path.join(base, "www"), header_timeout)))
    srv = Server(text).start()
    srv.wait_workers(2)
    head = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 64
    slow = []
    results = {}            # index -> (seconds from its open to close, first bytes)
    sampler = Sampler(srv)
    try:
        opened = []
        for i in range(50):
            s = harness.connect(addr, timeout=15)
            s.setblocking(False)
            slow.append(s)
            opened.append(time.monotonic())
        stop = threading.Event()
        got = [b""] * 50

        def trickle():
            pos = 0
            while not stop.is_set() and pos < len(head) and len(results) < 50:
                for i, s in enumerate(slow):
                    if i in results:
                        continue
                    try:
                        s.send(head[pos:pos + 1])
                    except OSError:
                        pass
                pos += 1
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline and len(results) < 50:
                    for i, s in enumerate(slow):
                        if i in results:
                            continue
                        try:
                            b = s.recv(4096)
                        except BlockingIOError:
                            continue
                        except OSError:
                            b = b""
                        got[i] += b
                        if not b:
                            results[i] = (time.monotonic() - opened[i], got[i][:40])
                    time.sleep(0.02)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        # A normal request behind 50 trickling ones: the pool grows past them.
        t0 = time.monotonic()
        c = harness.connect(addr, timeout=10)
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = harness.recv_all(c)
        latency = time.monotonic() - t0
        c.close()
        assert resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"hello\n"), resp[:200]
        t.join(header_timeout + 4.0 * min(harness.SLOW, 3) + 5)
        stop.set()
    finally:
        closing(slow)
        sampler.stop()
    # Under valgrind (and, less, ASan or gcov) every new worker starts
    # slowly, so the pool grows slower and the last 408 comes later.
    factor = min(harness.SLOW, 3)
    assert latency < 2.0 * factor, "a normal request took %.2fs behind 50 trickling clients (pool %s)" % (
        latency, sampler.changes())
    assert len(results) == 50, "%d of 50 slow connections closed" % len(results)
    times = sorted(r[0] for r in results.values())
    for i, (secs, first) in results.items():
        assert first.startswith(b"HTTP/1.1 408"), (i, first)
    assert times[-1] <= header_timeout + 4.0 * factor, times
    assert sampler.peak() <= 64
    print("dynamic pool, 50 trickling clients: normal request in %.0f ms; "
          "408s after %.1f-%.1fs (header_timeout %.1f); pool peak %d, over time %s"
          % (latency * 1000, times[0], times[-1], header_timeout, sampler.peak(),
             sampler.changes()[:12]))


def test_slowloris_fixed_pool_silent_connections_yield_to_a_queued_client():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    read_timeout = 5.0
    n = 6
    srv = start(svc("f", addr, workers=2, read_timeout=read_timeout))
    srv.wait_workers(2)
    stalled = []
    try:
        for _ in range(n):
            stalled.append(harness.connect(addr))
        wait_until(lambda: service(status(srv), "f")["busy"] == 2, 5, what="both workers stalled")
        t0 = time.monotonic()
        out = echo_once(addr, timeout=15)
        waited = time.monotonic() - t0
        assert out == b"ping"
    finally:
        closing(stalled)
    # Once silent for 0.5 s with a client queued and no worker free, a
    # connection gives its worker up (issue 11 item 6); those queued longer
    # go at once. Before, each held a worker for read_timeout: ceil(6/2) x 5 s.
    assert waited <= 0.5 + 1.5 * harness.SLOW, "waited %.2fs" % waited
    assert waited >= 0.3, "waited only %.2fs: not queued behind them?" % waited
    print("fixed pool of 2, %d silent connections, read_timeout %.1f: waited %.2fs "
          "(was ceil(%d / 2) x read_timeout)" % (n, read_timeout, waited, n))


def test_emfile_in_accept_backs_off_without_spinning_and_recovers():
    if harness.VALGRIND:
        raise harness.Skip("valgrind keeps RLIMIT_NOFILE and descriptors of its own")
    port = free_port()
    addr = "127.0.0.1:%d" % port
    # The module's init opens descriptors up to the limit, so accept() fails with EMFILE.
    srv = start(svc("leak", addr, "testmod", module=module("testmod"),
                    extra="testmod = { fill_fds = true; };", workers=1), rlimit_nofile=32)
    # Its worker is ready (it reached accept() once) but never sleeps in accept().
    pid = wait_until(lambda: [w["pid"] for w in service(status(srv), "leak")["workers"]
                              if w["state"] == "idle"], 10, what="the worker ready")[0]
    with open("/proc/%d/limits" % pid) as f:
        assert re.search(r"Max open files\s+32\s", f.read())
    assert len(os.listdir("/proc/%d/fd" % pid)) == 32
    pending = harness.connect(addr, timeout=10)
    pending.sendall(b"wait")
    wait_until(lambda: "Too many open files" in srv.output(), 5, what="the EMFILE log line")
    # Backing off, the worker sleeps: its CPU time hardly moves.
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(2.0)
    cpu = cpu_seconds(pid) - cpu0
    span = time.monotonic() - t0
    assert cpu < 0.2, "the worker used %.2fs of CPU in %.1fs at EMFILE" % (cpu, span)
    assert srv.output().count("backing off") == 1, "logged more than once per burst"
    # The control socket still answers, and says the worker is idle (not stuck).
    assert service(status(srv), "leak")["idle"] == 1
    # Descriptors freed (SIGUSR1: the module closes them), it serves again by itself.
    t1 = time.monotonic()
    srv.signal(signal.SIGUSR1)
    pending.shutdown(socket.SHUT_WR)
    assert harness.recv_all(pending) == b"wait"
    recovered = time.monotonic() - t1
    pending.close()
    wait_until(lambda: re.search(r"accept recovered after \d+ failures", srv.output()), 5,
               what="the recovery log line")
    assert srv.workers() == [pid]
    assert echo_once(addr) == b"ping"
    print("EMFILE: worker CPU %.3fs over %.1fs of back-off; served again %.0f ms after "
          "descriptors were freed" % (cpu, span, recovered * 1000))


# ---- crash loops ----

def test_crash_loop_is_throttled_and_other_services_keep_answering():
    good_port, bad_port = free_port(), free_port()
    good, bad = "127.0.0.1:%d" % good_port, "127.0.0.1:%d" % bad_port
    crash_file = os.path.join(harness.tmpdir(), "crash")
    # "bad" is a dynamic pool: its missing spares must not make it grow
    # (more places would only mean more forks).
    srv = start(svc("good", good, workers=1),
                testmod("bad", bad, crash_file=crash_file, workers=2, min_spare=2, max_spare=4,
                        max_workers=16))
    srv.wait_workers(3)
    bad_pids = [w["pid"] for w in service(status(srv), "bad")["workers"]]
    spawns0 = service(status(srv), "bad")["spawns"]
    # From now on every new "bad" worker aborts in init.
    open(crash_file, "w").close()
    for p in bad_pids:
        os.kill(p, signal.SIGKILL)
    t0 = time.monotonic()
    throttled_seen = False
    latencies = []
    # Under valgrind a worker takes a second or more to crash in its init:
    # watch until the throttle shows (20 s at most), not just 5 s.
    while time.monotonic() - t0 < 5.0 or (harness.VALGRIND and not throttled_seen and
                                          time.monotonic() - t0 < 20.0):
        t = time.monotonic()
        assert echo_once(good, b"alive", timeout=5) == b"alive"
        latencies.append(time.monotonic() - t)
        throttled_seen = throttled_seen or service(status(srv), "bad")["throttled"]
        time.sleep(0.1)
    span = time.monotonic() - t0
    doc = service(status(srv), "bad")
    forks = doc["spawns"] - spawns0
    # Per place: at once, then 0.1, 0.2, 0.4, 0.8, 1.6, 3.2 s: about 7 forks in 5 s.
    # Under valgrind a worker takes a second or more to crash in its init, so
    # fewer fit; each place is still retried.
    lo, hi = (2, 2 * 12) if harness.VALGRIND else (4, 2 * 8)
    assert lo <= forks <= hi, "%d forks in %.1fs" % (forks, span)
    assert doc["target"] == 2, doc
    assert throttled_seen, "the status never said throttled"
    assert "service bad: throttled" in srv.output()
    assert doc["crashes"] >= forks, doc
    assert max(latencies) < 1.0, latencies
    assert service(status(srv), "good")["crashes"] == 0
    # Healed, the places are refilled once their back-off runs out.
    os.unlink(crash_file)
    wait_until(lambda: service(status(srv), "bad")["idle"] == 2, 15, interval=0.05,
               what="the bad service to heal")
    assert echo_once(bad, b"back") == b"back"
    print("crash loop: %d forks in %.1fs (%.1f/s) for 2 places; good service max latency %.1f ms"
          % (forks, span, forks / span, max(latencies) * 1000))


# ---- observability ----

def test_status_shows_each_worker_and_each_service():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = start(svc("obs", addr, workers=2))
    srv.wait_workers(2)
    assert echo_once(addr) == b"ping"
    c = hold(addr)
    try:
        peer = "%s:%d" % c.getsockname()
        busy = wait_until(lambda: [w for w in service(status(srv), "obs")["workers"]
                                   if w["state"] == "busy" and w["busy_for"] > 0.05], 5,
                          what="busy_for to grow")[0]
        assert busy["peer"] == peer, busy
        doc = status(srv)
        v = service(doc, "obs")
        for key in ("idle", "busy", "throttled", "recycles", "watchdog_kills", "spawns"):
            assert key in v, (key, v)
        assert v["idle"] == 1 and v["busy"] == 1 and v["spawns"] == 2 and v["throttled"] is False
        for w in v["workers"]:
            for key in ("pid", "generation", "state", "served", "busy_for", "peer"):
                assert key in w, (key, w)
            assert w["generation"] == doc["generation"]
        wait_until(lambda: sum(w["served"] for w in service(status(srv), "obs")["workers"]) == 1,
                   5, what="served to count the finished connection")
        text = control(srv, "status")
        line = [l for l in text.splitlines() if l.startswith("service obs ")][0]
        for key in ("idle=1", "busy=1", "throttled=no", "recycles=0", "watchdog_kills=0", "spawns=2"):
            assert key in line, (key, line)
        wl = [l for l in text.splitlines() if "state=busy" in l]
        assert len(wl) == 1 and "peer=%s" % peer in wl[0] and "generation=" in wl[0], text
        assert re.search(r"busy_for=\d+\.\d+", wl[0]), wl
    finally:
        c.close()


harness.main(globals())

"""test_slow_clients.py - clients that hold workers by being slow or silent
(issue 11 items 5 and 6): a request body or a status request trickled in a
byte at a time is cut at its deadline (body_timeout/body_min_rate, the
status handler's header_timeout), and a flood of silent connections does
not keep normal requests waiting.

Every client here is bounded: tricklers stop after a fixed time, sockets
are closed in all outcomes, and each test prints what it measured."""
import errno
import os
import resource
import socket
import threading
import time

import harness
from harness import Server, free_port, svc


def start(*services):
    srv = Server(harness.config(*services, shutdown_timeout=5.0))
    srv.start()
    return srv


def www():
    base = harness.tmpdir()
    os.makedirs(os.path.join(base, "www"))
    with open(os.path.join(base, "www", "a.txt"), "wb") as f:
        f.write(b"hello\n")
    return os.path.join(base, "www")


class Tricklers:
    """n connections that send `head` at once, then one byte of `tail` every
    `interval` seconds until the server closes them or `limit` seconds pass.
    closed[i] is the time from connect to the server's close, first[i] the
    first bytes the server sent."""

    def __init__(self, addr, n, head, interval=0.25, limit=8.0, tail=b"x" * 1000):
        self.socks = []
        self.closed = {}
        self.first = {}
        self.t0 = time.monotonic()
        for _ in range(n):
            s = harness.connect(addr, timeout=5)
            s.sendall(head)
            s.setblocking(False)
            self.socks.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(interval, limit, tail),
                                       daemon=True)
        self.thread.start()

    def _run(self, interval, limit, tail):
        pos = 0
        while not self.stop.is_set() and time.monotonic() - self.t0 < limit:
            for i, s in enumerate(self.socks):
                if i in self.closed:
                    continue
                try:
                    while True:
                        b = s.recv(65536)
                        if not b:
                            self.closed[i] = time.monotonic() - self.t0
                            break
                        self.first.setdefault(i, b[:64])
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed[i] = time.monotonic() - self.t0
                    continue
                if i not in self.closed:
                    try:
                        s.send(tail[pos % len(tail):pos % len(tail) + 1])
                    except OSError:
                        self.closed[i] = time.monotonic() - self.t0
            if len(self.closed) == len(self.socks):
                return
            pos += 1
            self.stop.wait(interval)

    def finish(self):
        self.stop.set()
        self.thread.join(15)
        for s in self.socks:
            s.close()


def timed_request(addr, raw, timeout):
    """Send raw on a new connection; (seconds until the server closed, bytes)."""
    t0 = time.monotonic()
    s = harness.connect(addr, timeout=timeout)
    try:
        s.sendall(raw)
        out = harness.recv_all(s)
    finally:
        s.close()
    return time.monotonic() - t0, out


# ---- item 5: the whole request within a deadline ----

def test_trickled_body_to_static_files_is_cut_at_its_deadline():
    addr = "127.0.0.1:%d" % free_port()
    srv = start(svc("web", addr, "http", workers=2,
                    extra='http = { root = "%s"; body_timeout = 1.0; body_min_rate = 100; };'
                    % www()))
    srv.wait_workers(2)
    # Both workers: a GET whose 100000-byte body comes at 4 bytes a second.
    head = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
    tr = Tricklers(addr, 2, head, interval=0.25, limit=10.0)
    try:
        harness.wait_until(lambda: harness.status(srv)["services"][0]["busy"] == 2, 5,
                           what="both workers busy with a trickled body")
        # The workers read (to skip) the bodies: a normal request waits for the deadline.
        took, out = timed_request(addr, b"GET /a.txt HTTP/1.1\r\nHost: t\r\n"
                                  b"Connection: close\r\n\r\n", timeout=8)
        harness.wait_until(lambda: len(tr.closed) == 2, 8, what="trickling connections closed")
    finally:
        tr.finish()
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"hello\n"), out[:200]
    # body_timeout 1 s + 1 s per 100 bytes received (+ at most 2 s lingering).
    assert took < 4.0, took
    assert all(1.0 <= t <= 4.0 for t in tr.closed.values()), tr.closed
    # Each got its answer before the close.
    assert all(tr.first.get(i, b"").startswith(b"HTTP/1.1 200") for i in range(2)), tr.first
    print("2 workers, 2 bodies trickled at 4 B/s (body_timeout 1.0, body_min_rate 100): "
          "normal request after %.2fs, tricklers closed after %s s"
          % (took, ", ".join("%.2f" % t for t in sorted(tr.closed.values()))))


def test_trickled_body_an_app_reads_gets_408():
    addr = "127.0.0.1:%d" % free_port()
    srv = start(svc("api", addr, "json_app", workers=1, module=harness.module("json_app"),
                    extra="http = { body_timeout = 1.0; body_min_rate = 100; };"))
    srv.wait_workers(1)
    head = (b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n[1")
    tr = Tricklers(addr, 1, head, interval=0.25, limit=8.0, tail=b", 1" * 400)
    try:
        harness.wait_until(lambda: 0 in tr.closed, 6, what="the trickling POST answered")
    finally:
        tr.finish()
    assert tr.first.get(0, b"").startswith(b"HTTP/1.1 408 "), tr.first
    assert 1.0 <= tr.closed[0] <= 4.0, tr.closed
    # The worker is free: a well-paced request is served.
    took, out = timed_request(addr, b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                              b"Connection: close\r\n\r\n[1,2]", timeout=5)
    assert out.startswith(b"HTTP/1.1 200") and b'"sum": 3' in out, out
    print("app body trickled at 4 B/s (body_timeout 1.0): 408 after %.2fs" % tr.closed[0])


def test_trickled_status_request_does_not_hold_the_health_check():
    addr = "127.0.0.1:%d" % free_port()
    srv = start(svc("st", addr, "status", workers=1))     # header_timeout: default 2 s
    srv.wait_workers(1)
    tr = Tricklers(addr, 1, b"GET /?json HTTP/1.1\r\n", interval=0.25, limit=10.0,
                   tail=b"X-Slow: " + b"s" * 500)
    try:
        harness.wait_until(lambda: harness.status(srv)["services"][0]["busy"] == 1, 5,
                           what="the status worker busy with the trickler")
        checks = [timed_request(addr, b"GET /?json HTTP/1.1\r\n\r\n", timeout=6)
                  for _ in range(3)]
        harness.wait_until(lambda: 0 in tr.closed, 6, what="the trickler closed")
    finally:
        tr.finish()
    for took, out in checks:
        assert out.startswith(b"HTTP/1.1 200") and b'"services"' in out, out[:200]
    # The first check waits for the trickler's 2 s; the others are at once.
    assert checks[0][0] < 4.0, [c[0] for c in checks]
    assert 0 not in tr.first, tr.first      # closed without an answer
    assert 1.5 <= tr.closed[0] <= 4.0, tr.closed
    print("status worker behind a trickling request: health checks in %s s; trickler "
          "closed after %.2fs" % (", ".join("%.2f" % c[0] for c in checks), tr.closed[0]))


def test_body_and_status_deadline_keys_are_checked():
    www_dir = www()
    for extra, handler in (("http = { root = \"%s\"; body_timeout = 0.0; };" % www_dir, "http"),
                           ("http = { root = \"%s\"; body_min_rate = -1; };" % www_dir, "http"),
                           ("status = { header_timeout = \"x\"; };", "status")):
        conf = harness.config(svc("s", "127.0.0.1:%d" % free_port(), handler, extra=extra))
        d = harness.tmpdir()
        path = os.path.join(d, "server.conf")
        with open(path, "w") as f:
            f.write(conf)
        r = harness.preforkd("-t", "-c", path)
        assert r.returncode != 0, (extra, r)
        assert b"server.conf:" in r.stderr, (extra, r.stderr)



# ---- item 6: floods of silent connections ----

def silent_flood(addr, n):
    """n connections that never send a byte, opened without waiting for the
    handshake (the kernel finishes what the listen queue can take)."""
    host, port = addr.rsplit(":", 1)
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.setblocking(False)
            err = s.connect_ex((host, int(port)))
            assert err in (0, errno.EINPROGRESS, errno.EAGAIN), os.strerror(err)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def served_within(addr, timeout):
    """Seconds a GET takes on a new connection, or None when not served in time."""
    try:
        took, out = timed_request(addr, b"GET /a.txt HTTP/1.1\r\nHost: t\r\n"
                                  b"Connection: close\r\n\r\n", timeout=timeout)
    except OSError:
        return None
    return took if out.startswith(b"HTTP/1.1 200") and out.endswith(b"hello\n") else None


def test_silent_flood_does_not_starve_normal_requests():
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise harness.Skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    addr = "127.0.0.1:%d" % free_port()
    srv = start(svc("web", addr, "http", workers=4, extra='http = { root = "%s"; };' % www()))
    srv.wait_workers(4)
    flood = silent_flood(addr, n)
    during, after = [], []
    try:
        # Let the flood fill the workers and the listen queue.
        harness.wait_until(lambda: harness.status(srv)["services"][0]["busy"] == 4, 10,
                           what="all 4 workers holding silent connections")
        time.sleep(0.2)
        for _ in range(3):
            during.append(served_within(addr, 10))
    finally:
        for s in flood:
            s.close()
    t_end = time.monotonic()
    for _ in range(3):
        after.append(served_within(addr, 10))
    since_end = time.monotonic() - t_end
    srv.wait_workers(4)
    # The goal of issue 11: within 2 s during the flood and after it.
    bound = 2.0 * harness.SLOW
    assert all(t is not None and t < bound for t in during), during
    assert all(t is not None and t < bound for t in after), after
    print("4 workers, %d silent connections: normal requests served in %s s during the "
          "flood; after it ended in %s s (all 3 within %.2fs)"
          % (n, ", ".join("%.2f" % t for t in during), ", ".join("%.2f" % t for t in after),
             since_end))


def test_silent_connections_wait_their_turn_when_workers_are_free():
    """No flood, no pressure: a silent client keeps its worker up to
    header_timeout and gets its 408; a late first byte is still served."""
    addr = "127.0.0.1:%d" % free_port()
    srv = start(svc("web", addr, "http", workers=2,
                    extra='http = { root = "%s"; header_timeout = 1.5; };' % www()))
    srv.wait_workers(2)
    c = harness.connect(addr, timeout=5)
    try:
        time.sleep(0.8)     # silent past the grace, but nobody is queued
        c.sendall(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert harness.recv_all(c).startswith(b"HTTP/1.1 200")
    finally:
        c.close()
    t0 = time.monotonic()
    took, out = timed_request(addr, b"", timeout=5)
    assert out.startswith(b"HTTP/1.1 408"), out
    assert 1.2 <= took <= 3.0, took


def test_silent_connections_yield_to_queued_echo_clients():
    """The echo handler too: silent connections holding both workers are
    given up for a queued client, without a handler error in the log."""
    addr = "127.0.0.1:%d" % free_port()
    srv = start(svc("e", addr, "echo", workers=2, read_timeout=30.0))
    srv.wait_workers(2)
    stalled = []
    try:
        for _ in range(6):
            stalled.append(harness.connect(addr, timeout=5))
        harness.wait_until(lambda: harness.status(srv)["services"][0]["busy"] == 2, 5,
                           what="both workers holding silent connections")
        t0 = time.monotonic()
        out = harness.echo_once(addr, timeout=10)
        waited = time.monotonic() - t0
    finally:
        for s in stalled:
            s.close()
    assert out == b"ping"
    assert waited < 2.0 * harness.SLOW, waited
    assert "handler echo failed" not in srv.output(), srv.output()
    print("echo, 2 workers, 6 silent connections (read_timeout 30): served after %.2fs" % waited)


harness.main(globals())

"""test_tls_idle.py - a kept-alive TLS connection between two requests.

The worker waits for the next request as it does on a plain connection: in
one blocking recv() cut into slices by SO_RCVTIMEO (no poll() first), so a
kept-alive request over TLS costs one recv and one send. Its other reads and
writes never block (the TLS BIO passes MSG_DONTWAIT). Around that wait:
records already read ahead are never waited for, a record begun in the
wait is finished within read_timeout, a stop ends the wait at once, and an
idle connection yields its worker to a queued client.
"""
import os
import re
import signal
import socket
import ssl
import time

import harness
from harness import Server, config, svc, free_port, wait_until
import test_tls as tt

REQ = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
KEEPALIVE = 60.0        # far beyond every wait below: only a prompt path passes


class Site:
    """preforkd with one https service (web) and status; keepalive_timeout 60 s."""

    def __init__(self, workers=1, read_timeout=None):
        tt.need_tools()
        self.dir = harness.tmpdir()
        self.ca = tt.make_certs(self.dir)
        tt.make_www(self.dir)
        self.port, status_port = free_port(), free_port()
        kw = {"read_timeout": read_timeout} if read_timeout else {}
        web = svc("web", "127.0.0.1:%d" % self.port, "http", workers=workers,
                  extra='http = { root = "www"; keepalive_timeout = %.1f; }; %s'
                  % (KEEPALIVE, tt.tls_block()), **kw)
        self.srv = Server(config(web, svc("status", "127.0.0.1:%d" % status_port, "status",
                                          workers=1)), folder=self.dir)
        self.srv.start(wait_for=["127.0.0.1:%d" % self.port], timeout=15.0 * harness.SLOW)
        self.srv.wait_workers(workers + 1, timeout=10.0 * harness.SLOW)

    def web_workers(self):
        st = harness.status(self.srv)
        return [w["pid"] for s in st["services"] if s["name"] == "web" for w in s["workers"]]

    def connect(self):
        return Client(self.port, self.ca)


class Client:
    """TLS over memory BIOs: the test decides how the records go on the wire."""

    def __init__(self, port, ca):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10.0 * harness.SLOW)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ssl.create_default_context(cafile=ca).wrap_bio(
            self.inc, self.out, server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
        self.flush()
        self.plain = b""

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("closed by the server")
        self.inc.write(chunk)

    def record(self, data):
        """The bytes of data sealed in records, not sent."""
        self.tls.write(data)
        return self.out.read()

    def recv(self, n):
        """Plaintext (b"" at the end), for tt.read_response."""
        if self.plain:
            out, self.plain = self.plain, b""
            return out
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                try:
                    self.fill()
                except EOFError:
                    return b""
            except ssl.SSLZeroReturnError:
                return b""

    def response(self):
        code, headers, body, self.plain = tt.read_response(self)
        return code, headers, body

    def get(self):
        self.sock.sendall(self.record(REQ))
        return self.response()

    def at_eof(self):
        try:
            return self.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        self.sock.close()




def sleeping_in(pids, name):
    return [p for p in pids if harness.SYSCALLS and harness.syscall_of(p) == harness.SYSCALLS.get(name)]


def wait_asleep_in(pids, name, n=None):
    n = len(pids) if n is None else n
    wait_until(lambda: len(sleeping_in(pids, name)) == n, timeout=10 * harness.SLOW,
               what="%d worker(s) asleep in %s" % (n, name))


def test_idle_kept_alive_tls_worker_sleeps_in_recv_not_poll():
    harness.need_syscalls()
    site = Site(workers=1)
    web = site.web_workers()
    c = site.connect()
    for _ in range(3):
        code, headers, body = c.get()
        assert (code, body) == (200, tt.INDEX) and headers["connection"] == "keep-alive"
        # Between two requests the worker sleeps in recvfrom, never in poll.
        wait_asleep_in(web, "recvfrom")
        for name in ("poll", "ppoll"):
            if name in harness.SYSCALLS:
                assert not sleeping_in(web, name), "the idle TLS worker waits in %s" % name
    c.close()


def test_one_recv_and_one_send_per_kept_alive_request_over_tls():
    # Before: poll() for the request, then read(), then write() (3 calls);
    # a record read as a 5-byte header and a body (no read-ahead) would
    # make it 4. (/proc/PID/io's syscr and syscw count read() and write(),
    # not recv() and send(): strace counts them.)
    site = Site(workers=1)
    web = site.web_workers()[0]
    c = site.connect()
    assert c.get()[0] == 200                # warm: the file is cached, SO_RCVTIMEO set
    n = 20

    def requests():
        for _ in range(n + 1):
            code, _, body = c.get()
            assert code == 200 and body == tt.INDEX, code
    lines = harness.strace_lines(web, requests)
    c.close()
    calls = [re.match(r"^(\w+)\((\d*)", l).groups() for l in lines if re.match(r"^\w+\(", l)]
    reads = [fd for name, fd in calls if name in ("recvfrom", "recvmsg", "read")]
    conn = max(set(reads), key=reads.count)       # the connection's descriptor
    # The first request is not counted: strace may attach while the worker
    # already sleeps in its recv (then never shown). The rest come after its answer.
    first = next(i for i, l in enumerate(lines)
                 if re.match(r"^(sendto|sendmsg|write|writev)\(%s," % conn, l))
    lines = lines[first + 1:]
    calls = [re.match(r"^(\w+)\((\d*)", l).groups() for l in lines if re.match(r"^\w+\(", l)]
    sends = [l for l in lines if re.match(r"^(sendto|sendmsg|write|writev)\(%s," % conn, l)]
    assert len(sends) == n, "%d sends for %d requests:\n%s" % (len(sends), n, "\n".join(lines))
    # A read still waiting when strace let go ("<detached ...>": the next
    # idle wait) returned nothing yet.
    got = [l for l in lines if re.match(r"^(recvfrom|recvmsg|read)\(%s," % conn, l)
           and not re.search(r"= -1 E|<detached|<unfinished", l)]
    assert len(got) == n, "%d reads with data for %d requests:\n%s" % (len(got), n, "\n".join(lines))
    # The connection is never polled: the wait is the recv() (the listening
    # socket may be, by the HTTP engine's look for queued clients).
    polled = [l for l in lines if re.match(r"^p?poll\(.*\{fd=%s," % conn, l)]
    assert not polled, "\n".join(polled)
    # A request that comes within the first idle slice costs recv + send
    # only; a slice that ends costs its EAGAIN and a look at the listener.
    waits = [l for l in lines if re.match(r"^(recvfrom|recvmsg|read)\(%s," % conn, l)
             and re.search(r"= -1 EAGAIN", l)]
    assert len(calls) <= 2 * n + 2 * len(waits) + n // 16 + 2, "\n".join(lines)


def test_records_read_ahead_together_are_not_waited_for():
    # Two requests in two records, sent in one segment: the first read takes
    # both; the second must come from OpenSSL's buffer, not a blocking wait.
    site = Site(workers=1)
    c = site.connect()
    assert c.get()[0] == 200
    for _ in range(3):
        c.sock.sendall(c.record(REQ) + c.record(REQ))
        t0 = time.monotonic()
        for _ in range(2):
            code, _, body = c.response()
            assert (code, body) == (200, tt.INDEX)
        # Waited for, it would come after keepalive_timeout (60 s).
        assert time.monotonic() - t0 < 10 * harness.SLOW
    c.close()


def test_record_begun_in_the_idle_wait_is_finished_within_read_timeout():
    harness.need_syscalls()
    site = Site(workers=1, read_timeout=2.0)
    web = site.web_workers()
    c = site.connect()
    assert c.get()[0] == 200
    wait_asleep_in(web, "recvfrom")
    # A record split across the idle slices: its first bytes, a pause, the rest.
    rec = c.record(REQ)
    c.sock.sendall(rec[:3])
    # The rest is read_timeout's now: the worker waits for it in poll().
    wait_asleep_in(web, "poll" if "poll" in harness.SYSCALLS else "ppoll")
    c.sock.sendall(rec[3:])
    code, _, body = c.response()
    assert (code, body) == (200, tt.INDEX)
    # A record begun and never finished: cut at read_timeout (2 s), not keepalive_timeout (60 s).
    t0 = time.monotonic()
    c.sock.sendall(c.record(REQ)[:3])
    assert c.at_eof()
    elapsed = time.monotonic() - t0
    assert 1.5 < elapsed < 20 * harness.SLOW, "cut after %.2fs" % elapsed
    c.close()


def test_graceful_stop_wakes_tls_workers_asleep_in_recv():
    harness.need_syscalls()
    site = Site(workers=2)
    web = site.web_workers()
    conns = []
    for _ in range(2):
        c = site.connect()
        assert c.get()[0] == 200
        conns.append(c)
    wait_asleep_in(web, "recvfrom")
    t0 = time.monotonic()
    site.srv.signal(signal.SIGTERM)
    assert site.srv.wait_exit(timeout=30 * harness.SLOW) == 0
    elapsed = time.monotonic() - t0
    # keepalive_timeout is 60 s: only a stop-aware wait ends this soon.
    assert elapsed < 5.0 * harness.SLOW, "stop with idle TLS keep-alive took %.2fs" % elapsed
    for c in conns:
        assert c.at_eof()


def test_idle_tls_connection_yields_to_a_queued_client():
    site = Site(workers=1)
    idle = site.connect()
    code, headers, _ = idle.get()
    assert code == 200 and headers["connection"] == "keep-alive"
    # The only worker holds idle; a new client queues and is served well
    # before keepalive_timeout, and idle is closed for it.
    t0 = time.monotonic()
    other = site.connect()
    code, _, body = other.get()
    assert (code, body) == (200, tt.INDEX)
    assert time.monotonic() - t0 < 10 * harness.SLOW
    assert idle.at_eof()
    other.close()


if __name__ == "__main__":
    harness.main(globals())

#!/usr/bin/env python3
"""The per-request hot path (issue 16): where a worker waits between two
kept-alive requests (a blocking recv, no poll first), the read-ahead of a
fresh connection's first bytes, and the socket handlers get from
pf_conn_fd. Speed itself is measured by bench/run, never here."""
import os
import re
import signal
import socket
import time

import harness

Conn = harness.HttpConn



def start(workers=2, http_extra="", svc_extra="", handler="http"):
    """preforkd with one service on a free port; returns (server, address)."""
    base = harness.tmpdir()
    os.chmod(base, 0o755)
    root = os.path.join(base, "www")
    os.makedirs(root)
    with open(os.path.join(root, "a.txt"), "wb") as f:
        f.write(b"hello\n")
    addr = "127.0.0.1:%d" % harness.free_port()
    body = 'http = { root = "www"; keepalive_timeout = 60.0; %s };' % http_extra
    if handler != "http":
        body = ""
    conf = """
services = (
  { name = "web"; listen = "%s"; handler = "%s"; workers = %d; %s
    %s }
);
""" % (addr, handler, workers, svc_extra, body)
    srv = harness.Server(conf, folder=base)
    srv.start(wait_for=[addr])
    srv.wait_workers(workers)
    return srv, addr



def sleeping_in(srv, name):
    """The workers of srv sleeping in system call `name`."""
    return [p for p in srv.workers() if harness.syscall_of(p) == harness.SYSCALLS[name]]



def test_idle_keepalive_worker_sleeps_in_recv_not_poll():
    harness.need_syscalls()
    srv, addr = start(workers=2)
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.headers["connection"] == "keep-alive", r
    # One worker holds the idle connection in recv(), the other is in accept4().
    harness.wait_until(lambda: len(sleeping_in(srv, "recvfrom")) == 1, timeout=10 * harness.SLOW,
                       what="a worker asleep in recvfrom")
    for name in ("poll", "ppoll"):
        if name in harness.SYSCALLS:
            assert not sleeping_in(srv, name), "a worker waits in %s" % name
    # The same connection still serves its next request.
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert (r.status, r.body) == (200, b"hello\n"), r
    c.close()


def test_graceful_stop_wakes_a_worker_asleep_in_recv():
    harness.need_syscalls()
    srv, addr = start(workers=2)
    conns = []
    for _ in range(2):
        c = Conn(addr)
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().status == 200
        conns.append(c)
    # Both workers hold an idle connection (none free: the busy slice).
    harness.wait_until(lambda: len(sleeping_in(srv, "recvfrom")) == 2, timeout=10 * harness.SLOW,
                       what="both workers asleep in recvfrom")
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=30) == 0
    elapsed = time.monotonic() - t0
    # keepalive_timeout is 60 s: only a stop-aware wait ends this soon.
    assert elapsed < 5.0 * harness.SLOW, "stop with idle keep-alive took %.2fs" % elapsed
    for c in conns:
        assert c.at_eof()


def test_idle_keepalive_in_recv_yields_to_a_queued_client():
    srv, addr = start(workers=1)
    idle = Conn(addr)
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert idle.read_response().headers["connection"] == "keep-alive"
    queued = Conn(addr)
    queued.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    r = queued.read_response()
    assert (r.status, r.body) == (200, b"hello\n"), r
    assert idle.at_eof()


def test_a_late_first_request_costs_accept_poll_recv_send_close():
    # A worker in accept() wakes when the handshake ends, mostly before the
    # request is there. With a worker free, the first read waits in poll()
    # at once: no recv() that says EAGAIN first, no TCP_INFO (before: accept4,
    # recvfrom EAGAIN, getsockopt, poll, recvfrom, sendmsg, close).
    harness.need_syscalls()
    srv, addr = start(workers=2)
    warm = Conn(addr)                       # the file is cached
    warm.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert warm.read_response().status == 200
    warm.close()
    n = 8

    def late_requests():
        for _ in range(n):
            # Both workers back in accept4 (a coverage build writes its
            # counters after each connection): one stays free.
            harness.wait_until(lambda: len(sleeping_in(srv, "accept4")) == 2,
                               timeout=10 * harness.SLOW, what="both workers in accept4")
            s = harness.connect(addr)
            # Sent once a worker waits for it in poll(): late, for sure.
            harness.wait_until(lambda: [p for p in srv.workers() if harness.syscall_of(p)
                                        in (harness.SYSCALLS.get("poll"),
                                            harness.SYSCALLS.get("ppoll"))],
                               timeout=10 * harness.SLOW, what="a worker waiting in poll")
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            reply = harness.recv_all(s)
            s.close()
            assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"hello\n"), reply
    # Trace both workers: either may take each connection.
    lines = harness.strace_lines(srv.workers(), late_requests)
    # An accept begun before strace attached shows as "<... accept4 resumed>".
    accepts = [l for l in lines if re.match(r"^(accept4?\(|<\.\.\. accept4? resumed>)", l)
               and re.search(r"\) = \d+$", l)]
    assert len(accepts) == n, "\n".join(lines)
    again = [l for l in lines if re.match(r"^recv(from|msg)?\(", l) and "EAGAIN" in l]
    assert not again, "\n".join(lines)
    assert not [l for l in lines if l.startswith("getsockopt(")], "\n".join(lines)
    # (A coverage build also write()s its counters: only the answers count.)
    sends = [l for l in lines if re.match(r"^(sendto|sendmsg|write|writev)\(", l)
             and "HTTP/1.1 200" in l]
    assert len(sends) == n, "\n".join(lines)
    srv.stop()


def test_first_request_longer_than_the_read_ahead_buffer_and_pipelined():
    """The first bytes of a fresh connection go to the 4 KiB read-ahead
    buffer: a 7 KB head sent with a second request behind it, all before
    the worker reads, is answered whole, twice, in order."""
    srv, addr = start(workers=1, http_extra="max_header_size = 16384;")
    hold = Conn(addr)     # the only worker serves `hold` while the rest queues
    hold.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert hold.read_response().status == 200
    c = Conn(addr)
    big = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 7000 + b"\r\n\r\n"
    c.send(big + b"GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    hold.close()
    r1 = c.read_response()
    r2 = c.read_response()
    assert (r1.status, r1.body) == (200, b"hello\n"), r1
    assert r2.status == 404 and r2.headers["connection"] == "close", r2
    assert c.at_eof()


def test_handler_gets_a_nonblocking_socket_from_pf_conn_fd():
    srv, addr = start(workers=1, handler="testmod",
                      svc_extra='module = "%s"; testmod = { handle = "fdflags"; };'
                      % harness.module("testmod"))
    s = harness.connect(addr)
    s.shutdown(socket.SHUT_WR)
    assert harness.recv_all(s) == b"nonblock\n"
    s.close()


# ---- pre-built header lines of a cached file ----

def head_lines(r):
    """A response's head as lines, Date's value blanked (it is the clock's)."""
    lines = r.raw_head.decode("latin-1").split("\r\n")
    return [("Date: -" if l.lower().startswith("date:") else l) for l in lines]


def ask(c, method, path, extra=""):
    c.send(("%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, path, extra)).encode())
    return c.read_response(head=method == "HEAD")


GZ = b"\x1f\x8b not really gzip"


def test_cached_file_head_is_the_one_an_uncached_file_gets():
    """The head built once per cache entry is byte for byte the head built
    per request with the cache off: GET and HEAD, keep-alive and close, a
    .gz twin with gzip_static, twice each (the second from the entry)."""
    answers = {}
    for cache in ("cache_size = 1048576;", "cache_size = 0;"):
        srv, addr = start(workers=1, http_extra="gzip_static = true; " + cache)
        root = os.path.join(srv.dir, "www")
        with open(os.path.join(root, "a.txt.gz"), "wb") as f:
            f.write(GZ)
        # The same validators on both servers: the same modification times.
        for name in ("a.txt", "a.txt.gz"):
            os.utime(os.path.join(root, name), (1000000000, 1000000000))
        got = []
        c = Conn(addr)
        for method, extra in (("GET", ""), ("GET", ""), ("HEAD", ""), ("GET", "Accept-Encoding: gzip\r\n"),
                              ("GET", "Accept-Encoding: gzip\r\n"), ("GET", "Connection: close\r\n")):
            r = ask(c, method, "/a.txt", extra)
            assert r.status == 200, r
            assert "date" in r.headers and len(r.headers["date"]) == 29, r.headers
            got.append((head_lines(r), r.body))
        assert c.at_eof()
        answers[cache] = got
        srv.stop()
    cached, uncached = answers["cache_size = 1048576;"], answers["cache_size = 0;"]
    assert cached == uncached, (cached, uncached)
    assert cached[0][1] == b"hello\n" and cached[2][1] == b""
    assert "Content-Encoding: gzip" in cached[3][0] and "Content-Length: %d" % len(GZ) in cached[3][0]
    assert "Connection: close" in cached[5][0]


def test_changed_file_gets_a_new_built_head():
    srv, addr = start(workers=1, http_extra="cache_valid = 0.0;")
    root = os.path.join(srv.dir, "www")
    c = Conn(addr)
    r1 = ask(c, "GET", "/a.txt")
    r1 = ask(c, "GET", "/a.txt")
    with open(os.path.join(root, "a.txt"), "wb") as f:
        f.write(b"hello, longer\n")
    os.utime(os.path.join(root, "a.txt"), (1000000000, 1000000000))
    r2 = ask(c, "GET", "/a.txt")
    assert r2.body == b"hello, longer\n", r2
    assert r2.headers["content-length"] == "14", r2.headers
    assert r2.headers["etag"] != r1.headers["etag"], (r1.headers, r2.headers)
    assert r2.headers["last-modified"] == "Sun, 09 Sep 2001 01:46:40 GMT", r2.headers
    c.close()


def test_built_head_date_follows_the_clock():
    srv, addr = start(workers=1)
    c = Conn(addr)
    first = ask(c, "GET", "/a.txt").headers["date"]
    seen = []

    def moved():
        seen.append(ask(c, "GET", "/a.txt").headers["date"])
        return seen[-1] != first
    harness.wait_until(moved, timeout=5 * harness.SLOW, interval=0.05, what="a new Date")
    now = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    # The new Date is the clock's second (or the one before, at the edge).
    assert seen[-1] in (now, time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                           time.gmtime(time.time() - 1))), (seen[-1], now)
    c.close()


harness.main(globals())

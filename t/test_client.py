"""test_client.py - prefork-client against small servers run inside the test.

The servers are Python threads (echo, HTTP with keep-alive, error statuses,
resets, early closes, silence), so the client is tested on its own, without
preforkd. Each server counts what it accepted and saw, so the tests can check
the client's claims (request counts, connection reuse) from the other side.
"""
import json
import os
import pty
import random
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import wait_until


class TServer:
    """A threaded TCP (or unix) server running HANDLER(server, conn) per connection."""

    def __init__(self, handler, unix_path=None, family=socket.AF_INET, host="127.0.0.1"):
        self.handler = handler
        self.lock = threading.Lock()
        self.accepts = 0
        self.echoed = 0             # bytes echo() has sent back so far
        self.requests = []          # what handlers recorded (HTTP heads, echo sizes)
        self.conns = []
        self.stopping = threading.Event()
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.addr = "unix:" + unix_path
        else:
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, 0))
            port = self.sock.getsockname()[1]
            self.addr = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (host, port)
        self.sock.listen(1024)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self.lock:
                self.accepts += 1
                self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(self, conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def record(self, item):
        with self.lock:
            self.requests.append(item)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- handlers ----

def echo(srv, conn):
    total = 0
    while True:
        b = conn.recv(65536)
        if not b:
            break
        total += len(b)
        conn.sendall(b)
        with srv.lock:
            srv.echoed += len(b)
    srv.record(total)


def read_head(conn, buf):
    """Read one request head; returns (head, rest) or (None, b"") at EOF."""
    while b"\r\n\r\n" not in buf:
        b = conn.recv(65536)
        if not b:
            return None, b""
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def http_server(status=200, body=b"hello, client\n", close_every=0, chunked=False):
    """An HTTP/1.1 handler: keep-alive unless the client asks to close, or
    every CLOSE_EVERY-th response on a connection carries Connection: close."""
    reasons = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}

    def handler(srv, conn):
        buf = b""
        served = 0
        while True:
            head, buf = read_head(conn, buf)
            if head is None:
                return
            srv.record(head.decode("latin-1"))
            served += 1
            close = b"connection: close" in head.lower() or (
                close_every and served % close_every == 0)
            hdrs = "HTTP/1.1 %d %s\r\n" % (status, reasons.get(status, "X"))
            if chunked:
                hdrs += "Transfer-Encoding: chunked\r\n"
                half = len(body) // 2
                payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                                   for p in (body[:half], body[half:]) if p) + b"0\r\n\r\n"
            else:
                hdrs += "Content-Length: %d\r\n" % len(body)
                payload = body
            if close:
                hdrs += "Connection: close\r\n"
            conn.sendall(hdrs.encode() + b"\r\n" + payload)
            if close:
                return
    return handler


def reset_after_read(srv, conn):
    """Read something, then abort the connection with a RST."""
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def echo_half_then_close(srv, conn):
    """Echo one byte of the request, then close: a short read."""
    b = conn.recv(65536)
    if b:
        conn.sendall(b[:1])


def http_truncated(srv, conn):
    read_head(conn, b"")
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")


def silent(srv, conn):
    """Accept and never answer, until the test ends."""
    srv.stopping.wait(60)


def closed_port():
    return "127.0.0.1:%d" % harness.free_port()


def one_line(err):
    lines = err.decode().splitlines()
    assert len(lines) == 1, "want one line on stderr, got %r" % err
    return lines[0]


def load_json(*args, timeout=60):
    r = harness.client("--json", *args, timeout=timeout)
    assert r.stdout.count(b"\n") == 1, r.stdout
    return r, json.loads(r.stdout)


# ---- one-shot ----

def test_oneshot_echoes_message():
    with TServer(echo) as srv:
        r = harness.client("-m", "hello world", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"hello world"
        assert r.stderr == b""


def test_oneshot_echoes_stdin():
    data = bytes(range(256)) * 3 + b"\nend\n"
    with TServer(echo) as srv:
        r = harness.client(srv.addr, input=data)
        assert r.returncode == 0, r
        assert r.stdout == data


def test_oneshot_empty_message_half_closes():
    with TServer(echo) as srv:
        r = harness.client("-m", "", srv.addr, timeout=10)
        assert r.returncode == 0, r
        assert r.stdout == b""


def test_oneshot_closed_stdin_sends_nothing():
    # The socket must not take descriptor 0 and be read as standard input.
    with TServer(echo) as srv:
        r = subprocess.run([harness.CLIENT, srv.addr], preexec_fn=lambda: os.close(0),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        assert r.returncode == 0, r
        assert r.stdout == b""
        wait_until(lambda: srv.requests, what="server to see the close")
        assert srv.requests == [0]


def test_oneshot_megabyte_round_trip_is_byte_exact():
    data = random.Random(7).randbytes(1 << 20)
    with TServer(echo) as srv:
        r = harness.client(srv.addr, input=data, timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout) == len(data) and r.stdout == data
        wait_until(lambda: srv.requests, what="server to record the echo")
        assert srv.requests == [len(data)]


def test_oneshot_large_message_argument():
    msg = "0123456789abcdef" * 6000      # 96000 bytes, under the argv limit
    with TServer(echo) as srv:
        r = harness.client("-m", msg, srv.addr, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == msg.encode()


def test_oneshot_unix_socket():
    path = os.path.join(harness.tmpdir(), "echo.sock")
    with TServer(echo, unix_path=path) as srv:
        r = harness.client("-m", "over unix", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"over unix"


def test_oneshot_ipv6():
    try:
        srv = TServer(echo, family=socket.AF_INET6, host="::1")
    except OSError as e:
        raise harness.Skip("no IPv6 loopback: %s" % e)
    with srv:
        r = harness.client("-m", "v6", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"v6"


def test_oneshot_refused_is_one_line():
    addr = closed_port()
    r = harness.client("-m", "x", addr)
    assert r.returncode == 1, r
    assert r.stdout == b""
    line = one_line(r.stderr)
    assert line == "prefork-client: connect %s: Connection refused" % addr, line


def test_oneshot_timeout_is_one_line():
    with TServer(silent) as srv:
        t0 = time.monotonic()
        r = harness.client("-T", "1", "-m", "anyone?", srv.addr, timeout=20)
        took = time.monotonic() - t0
        assert r.returncode == 1, r
        assert "timed out" in one_line(r.stderr)
        assert 0.9 <= took < 5, took


def test_oneshot_reset_is_one_line():
    with TServer(reset_after_read) as srv:
        r = harness.client("-m", "x" * 1000, srv.addr)
        assert r.returncode == 1, r
        line = one_line(r.stderr)
        assert "reset" in line.lower() or "broken pipe" in line.lower(), line


def test_oneshot_bad_address_and_unknown_host():
    r = harness.client("-m", "x", "no-port-here")
    assert r.returncode == 1, r
    assert "bad address" in one_line(r.stderr)
    r = harness.client("-m", "x", "host.invalid:80")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith("prefork-client: resolve host.invalid:")


def test_verbose_traces_socket_calls_in_order():
    with TServer(echo) as srv:
        r = harness.client("-v", "-m", "hi", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"hi"
        lines = r.stderr.decode().splitlines()
        want = ["socket() = ", "connect(%s) = 0" % srv.addr, "write(2 bytes) = 2",
                "shutdown(SHUT_WR) = 0", "read(", "close() = 0"]
        pos = 0
        for w in want:
            while pos < len(lines) and not lines[pos].startswith(w):
                pos += 1
            assert pos < len(lines), "no %r in order in:\n%s" % (w, "\n".join(lines))
        assert any(l.startswith("read(") and "= 0 (EOF)" in l for l in lines), lines
        for l in lines:
            assert l.endswith(" ms"), l


def test_verbose_off_prints_nothing():
    with TServer(echo) as srv:
        r = harness.client("-m", "hi", srv.addr)
        assert r.stderr == b""


# ---- one-shot HTTP ----

def test_http_prints_body_only():
    with TServer(http_server(body=b"<p>body</p>\n")) as srv:
        r = harness.client("--http", "/index.html", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"<p>body</p>\n"
        head = srv.requests[0]
        lines = head.split("\r\n")
        assert lines[0] == "GET /index.html HTTP/1.1", lines
        assert "Host: %s" % srv.addr in lines, lines
        assert "Connection: close" in lines, lines


def test_http_include_prints_head_as_received():
    with TServer(http_server(body=b"abc")) as srv:
        r = harness.client("-i", "--http", "/", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                            b"Connection: close\r\n\r\nabc"), r.stdout


def test_http_chunked_body_is_decoded():
    with TServer(http_server(body=b"chunky body here", chunked=True)) as srv:
        r = harness.client("--http", "/", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"chunky body here"


def test_http_error_status_is_printed_and_exit_zero_unless_fail():
    with TServer(http_server(status=404, body=b"nope\n")) as srv:
        r = harness.client("--http", "/missing", srv.addr)
        assert r.returncode == 0, r
        assert r.stdout == b"nope\n"
        r = harness.client("--fail", "--http", "/missing", srv.addr)
        assert r.returncode == 3, r
        assert r.stdout == b"nope\n"


def test_http_truncated_response_fails():
    with TServer(http_truncated) as srv:
        r = harness.client("--http", "/", srv.addr)
        assert r.returncode == 1, r
        assert "before the end of the response" in one_line(r.stderr)


def test_http_non_http_answer_fails():
    with TServer(echo) as srv:      # echoes the GET back: not a response
        r = harness.client("--http", "/", srv.addr)
        assert r.returncode == 1, r
        one_line(r.stderr)


# ---- command line ----

def test_help_and_version():
    r = harness.client("-h")
    assert r.returncode == 0 and b"usage:" in r.stdout and b"Exit status" in r.stdout
    r = harness.client("--version")
    assert r.returncode == 0 and r.stdout.startswith(b"prefork-client ")
    r = harness.client("-V")
    assert r.returncode == 0 and r.stdout.startswith(b"prefork-client ")


def test_usage_errors_exit_2():
    for args in ([], ["-c", "2", "127.0.0.1:1"], ["-n", "0", "127.0.0.1:1"],
                 ["-T", "abc", "127.0.0.1:1"], ["--json", "127.0.0.1:1"],
                 ["-i", "127.0.0.1:1"], ["-m", "x", "--http", "/", "127.0.0.1:1"],
                 ["a:1", "b:2"], ["--bogus", "127.0.0.1:1"]):
        r = harness.client(*args)
        assert r.returncode == 2, (args, r)
        assert r.stderr, args


# ---- load mode ----

def test_load_exact_count_new_connection_each():
    with TServer(echo) as srv:
        r, s = load_json("-c", 4, "-n", 200, srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 200 and s["errors"] == 0, s
        assert s["connects"] == 200, s
        wait_until(lambda: len(srv.requests) == 200, what="200 echo exchanges")
        assert srv.accepts == 200
        assert all(n == 5 for n in srv.requests), srv.requests[:10]


def test_load_keepalive_reuses_connections():
    with TServer(echo) as srv:
        r, s = load_json("-c", 2, "-n", 100, "--keepalive", srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 100 and s["errors"] == 0, s
        assert srv.accepts <= 3, srv.accepts
        wait_until(lambda: len(srv.requests) == srv.accepts, what="connections closed")
        assert sum(srv.requests) == 100 * 5


def test_load_http_keepalive():
    with TServer(http_server()) as srv:
        r, s = load_json("-c", 2, "-n", 100, "--keepalive", "--http", "/k", srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 100 and s["errors"] == 0, s
        assert srv.accepts <= 3, srv.accepts
        assert len(srv.requests) == 100
        assert all(h.startswith("GET /k HTTP/1.1\r\n") for h in srv.requests)
        assert not any("Connection: close" in h for h in srv.requests)


def test_load_http_keepalive_reconnects_after_connection_close():
    with TServer(http_server(close_every=10)) as srv:
        r, s = load_json("-c", 2, "-n", 100, "--keepalive", "--http", "/", srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 100 and s["errors"] == 0, s
        assert 10 <= srv.accepts <= 14, srv.accepts


def test_load_http_without_keepalive_closes_each():
    with TServer(http_server()) as srv:
        r, s = load_json("-c", 3, "-n", 30, "--http", "/", srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 30 and s["errors"] == 0, s
        assert srv.accepts == 30
        assert all("Connection: close" in h for h in srv.requests)


def test_load_duration_is_bounded():
    with TServer(echo) as srv:
        t0 = time.monotonic()
        r, s = load_json("-c", 2, "-d", "1", "--keepalive", srv.addr)
        took = time.monotonic() - t0
        assert r.returncode == 0, r
        assert s["requests"] > 0 and s["errors"] == 0, s
        assert 0.95 <= s["duration_s"] < 1.5, s
        assert took < 4, took


def test_load_duration_in_flight_not_counted():
    with TServer(silent) as srv:
        t0 = time.monotonic()
        r, s = load_json("-c", 2, "-d", "1", srv.addr)
        assert time.monotonic() - t0 < 4
        assert s["requests"] == 0 and s["errors"] == 0, s
        assert r.returncode == 1          # nothing completed
        assert b"no request completed" in r.stderr


def test_load_refused_counted():
    r, s = load_json("-c", 2, "-n", 50, closed_port())
    assert r.returncode == 1
    assert s["requests"] == 50 and s["errors"] == 50, s
    assert s["errors_by_kind"]["refused"] == 50, s


def test_load_reset_counted():
    with TServer(reset_after_read) as srv:
        r, s = load_json("-c", 2, "-n", 20, "-m", "x" * 100, srv.addr)
        assert r.returncode == 1
        assert s["requests"] == 20 and s["errors_by_kind"]["reset"] == 20, s


def test_load_short_read_counted():
    with TServer(echo_half_then_close) as srv:
        r, s = load_json("-c", 2, "-n", 20, srv.addr)
        assert r.returncode == 1
        assert s["requests"] == 20 and s["errors_by_kind"]["short_read"] == 20, s
    with TServer(http_truncated) as srv:
        r, s = load_json("-c", 2, "-n", 10, "--http", "/", srv.addr)
        assert r.returncode == 1
        assert s["errors_by_kind"]["short_read"] == 10, s


def test_load_bad_status_counted():
    with TServer(http_server(status=500)) as srv:
        r, s = load_json("-c", 2, "-n", 30, "--keepalive", "--http", "/", srv.addr)
        assert r.returncode == 1
        assert s["requests"] == 30 and s["errors"] == 30, s
        assert s["errors_by_kind"]["bad_status"] == 30, s
    with TServer(echo) as srv:      # not HTTP at all
        r, s = load_json("-c", 1, "-n", 5, "--http", "/", srv.addr)
        assert s["errors_by_kind"]["bad_status"] == 5, s


def test_load_timeout_counted():
    with TServer(silent) as srv:
        t0 = time.monotonic()
        r, s = load_json("-c", 2, "-n", 4, "-T", "0.5", srv.addr)
        assert r.returncode == 1
        assert s["requests"] == 4 and s["errors_by_kind"]["timeout"] == 4, s
        assert time.monotonic() - t0 < 5


def test_load_json_shape():
    with TServer(echo) as srv:
        r, s = load_json("-c", 2, "-j", 2, "-n", 50, "--keepalive", srv.addr)
        assert r.returncode == 0, r
        assert s["threads"] == 2, s
        for key in ("requests", "errors", "errors_by_kind", "rps", "latency_ms",
                    "duration_s", "connections"):
            assert key in s, key
        assert set(s["errors_by_kind"]) == {"refused", "reset", "timeout", "short_read",
                                            "bad_status", "other"}
        lat = s["latency_ms"]
        for key in ("p50", "p90", "p99", "p99.9", "max"):
            assert isinstance(lat[key], (int, float)), key
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"], lat
        assert s["rps"] > 0 and s["connections"] == 2


def test_load_text_summary():
    with TServer(echo) as srv:
        r = harness.client("-c", 2, "-n", 40, srv.addr)
        assert r.returncode == 0, r
        lines = r.stdout.decode().splitlines()
        heads = [l.split()[0] for l in lines]
        assert heads[:3] == ["requests", "errors", "requests/s"], lines
        assert lines[0].split()[1] == "40"
        assert lines[1].split()[1] == "0"
        assert any(l.startswith("latency p50 p90 p99 max") for l in lines), lines
        assert any("p99.9" in l for l in lines), lines
        assert r.stderr == b""          # no progress line when stderr is not a tty


def test_load_threads_exact_count():
    with TServer(echo) as srv:
        r, s = load_json("-c", 8, "-j", 3, "-n", 1001, "--keepalive", srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 1001 and s["errors"] == 0, s
        assert s["threads"] == 3
        wait_until(lambda: len(srv.requests) == srv.accepts, what="connections closed")
        assert sum(srv.requests) == 1001 * 5
        assert srv.accepts <= 8


def test_load_large_echo_message_streams():
    msg = "z" * 120000      # under the 128 KiB limit of one argument
    with TServer(echo) as srv:
        r, s = load_json("-c", 2, "-n", 6, "-m", msg, "--keepalive", srv.addr, timeout=60)
        assert r.returncode == 0, r
        assert s["requests"] == 6 and s["errors"] == 0, s


def test_load_unix_socket():
    path = os.path.join(harness.tmpdir(), "echo.sock")
    with TServer(echo, unix_path=path) as srv:
        r, s = load_json("-c", 2, "-n", 50, srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 50 and s["errors"] == 0, s


def test_load_sigint_stops_with_summary():
    with TServer(echo) as srv:
        p = harness.spawn([harness.CLIENT, "-c", "2", "-d", "30", "--keepalive", "--json",
                           srv.addr], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Some round trips done (connected is not enough: under the
        # sanitizers a SIGINT came before the first answer, 0 requests).
        wait_until(lambda: srv.echoed >= 50, what="ten round trips echoed")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=5)
        s = json.loads(out)
        assert s["requests"] > 0 and s["errors"] == 0, s
        assert s["duration_s"] < 10, s


def test_load_progress_only_on_a_terminal():
    with TServer(echo) as srv:
        master, slave = pty.openpty()
        try:
            p = harness.spawn([harness.CLIENT, "-c", "2", "-d", "2.5", "--keepalive", srv.addr],
                              stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            slave = -1
            out, _ = p.communicate(timeout=15)
            assert p.returncode == 0, out
            assert out.startswith(b"requests "), out
            seen = b""
            while select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            # About once a second: two updates in 2.5 s, then the line is cleared.
            assert seen.count(b"requests ") >= 2, seen
            assert seen.endswith(b"\r\033[K"), seen
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)


def test_load_http_chunked_keepalive():
    with TServer(http_server(body=b"0123456789" * 50, chunked=True)) as srv:
        r, s = load_json("-c", 2, "-n", 60, "--keepalive", "--http", "/c", srv.addr)
        assert r.returncode == 0, r
        assert s["requests"] == 60 and s["errors"] == 0, s
        assert srv.accepts <= 3, srv.accepts


harness.main(globals())

"""test_http.py - the built-in http handler, end to end.

Each test starts a real preforkd with an `http` service on a free loopback
port and a document root made in a temporary folder, then talks to it with
raw sockets (to control every byte) and with prefork-client --http.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness

INDEX = b"<html><body>index</body></html>\n"
SUB_INDEX = b"<p>sub index</p>\n"
SECRET = b"outside the root\n"


# One copy of the raw HTTP client, shared with test_http_app.py.
Response = harness.HttpResponse
Conn = harness.HttpConn
request = harness.http_request


def get(addr, path, extra=""):
    return request(addr, ("GET %s HTTP/1.1\r\nHost: test\r\n%sConnection: close\r\n\r\n"
                          % (path, extra)).encode("latin-1"))


def make_root(base):
    root = os.path.join(base, "www")
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(os.path.join(root, "noindex"))
    files = {
        "index.html": INDEX,
        "a.txt": b"hello\n",
        "style.css": b"body{}\n",
        "app.js": b"1;\n",
        "data.json": b"{}\n",
        "img.png": b"\x89PNG\r\n\x1a\n",
        "pic.JPG": b"\xff\xd8\xff",
        "icon.svg": b"<svg/>",
        "font.woff2": b"wOF2",
        "mod.wasm": b"\0asm",
        "unknown.xyz": b"???",
        "noext": b"plain",
        "hello world.txt": b"spaces\n",
        "sub/index.html": SUB_INDEX,
        "sub/page.html": b"<p>page</p>\n",
        "noindex/file.txt": b"x\n",
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    with open(os.path.join(base, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink("../secret.txt", os.path.join(root, "link_out"))
    os.symlink(os.path.join(base, "secret.txt"), os.path.join(root, "link_abs"))
    os.symlink("..", os.path.join(root, "dir_out"))
    os.symlink("a.txt", os.path.join(root, "link_in"))
    return root


def start(http_extra="", svc_extra="", workers=2, top_extra=""):
    """preforkd with one http service; returns (server, "127.0.0.1:PORT", root)."""
    base = harness.tmpdir()
    os.chmod(base, 0o755)
    root = make_root(base)
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    conf = """
%s
services = (
  {
    name = "web";
    listen = "%s";
    handler = "http";
    workers = %d;
    %s
    http = {
      root = "www";
      index = "index.html";
      %s
    };
  }
);
""" % (top_extra, addr, workers, svc_extra, http_extra)
    srv = harness.Server(conf, folder=base)
    srv.start(wait_for=[addr])
    srv.wait_workers(workers)
    return srv, addr, root


# ---- 200, Content-Type, index, HEAD ----

def test_get_file_has_length_type_date_server_last_modified():
    srv, addr, root = start()
    r = get(addr, "/a.txt")
    assert r.status == 200, r
    assert r.body == b"hello\n"
    assert r.headers["content-length"] == "6"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["server"] == "preforkd"
    date_re = r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$"
    assert re.match(date_re, r.headers["date"]), r.headers["date"]
    assert re.match(date_re, r.headers["last-modified"]), r.headers["last-modified"]
    mtime = os.stat(os.path.join(root, "a.txt")).st_mtime
    assert r.headers["last-modified"] == time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                        time.gmtime(mtime))
    assert r.headers["connection"] == "close"


def test_content_type_by_extension():
    srv, addr, _ = start()
    want = {
        "/index.html": "text/html",
        "/style.css": "text/css",
        "/app.js": "application/javascript",
        "/data.json": "application/json",
        "/img.png": "image/png",
        "/pic.JPG": "image/jpeg",
        "/icon.svg": "image/svg+xml",
        "/font.woff2": "font/woff2",
        "/mod.wasm": "application/wasm",
        "/unknown.xyz": "application/octet-stream",
        "/noext": "application/octet-stream",
        "/": "text/html",
    }
    for path, ctype in want.items():
        r = get(addr, path)
        assert r.status == 200, (path, r)
        assert r.headers["content-type"] == ctype, (path, r.headers)


def test_index_file_and_directory_redirect():
    srv, addr, _ = start()
    assert get(addr, "/").body == INDEX
    assert get(addr, "/sub/").body == SUB_INDEX
    assert get(addr, "/sub/?x=1").body == SUB_INDEX
    r = get(addr, "/sub")
    assert r.status == 301, r
    assert r.headers["location"] == "/sub/"
    r = get(addr, "/sub?q=1")
    assert r.status == 301 and r.headers["location"] == "/sub/?q=1", r
    # A file named like a directory does not exist.
    assert get(addr, "/a.txt/").status == 404
    # Percent-encoded names are decoded.
    assert get(addr, "/hello%20world.txt").body == b"spaces\n"


def test_directory_redirect_is_built_from_the_normalised_path():
    """Issue 11 item 4: no open redirect; the raw target never reaches Location."""
    srv, addr, root = start()
    os.mkdir(os.path.join(root, "\\evil.example"))
    os.mkdir(os.path.join(root, "sp ace"))
    cases = [
        (b"//evil.example/../sub", "/sub/"),
        (b"//evil.example/../sub?x=1#f", "/sub/?x=1"),
        (b"/\\evil.example/../sub", "/sub/"),
        (b"/\\evil.example", "/%5Cevil.example/"),
        (b"/%5Cevil.example", "/%5Cevil.example/"),
        (b"http://evil.example//evil.example/../sub", "/sub/"),
        (b"http://evil.example/sub?q=%22", "/sub/?q=%22"),
        (b"/sub#frag", "/sub/"),
        (b"//sub", "/sub/"),
        (b"/sp%20ace", "/sp%20ace/"),
        (b"/sub?<\xff>", "/sub/?%3C%FF%3E"),
    ]
    for target, want in cases:
        for method in (b"GET", b"HEAD"):
            r = request(addr, method + b" " + target + b" HTTP/1.1\r\nHost: t\r\n"
                        b"Connection: close\r\n\r\n", head=method == b"HEAD")
            assert r.status == 301, (method, target, r)
            assert r.headers["location"] == want, (method, target, r.headers)
    # curl as a browser would: it follows the Location and stays on this server.
    if not shutil.which("curl"):
        raise harness.Skip("no curl (apt-get install curl): raw-socket cases passed")
    for path, want in (("//evil.example/../sub", "/sub/"), ("/%5Cevil.example", "/%5Cevil.example/")):
        p = subprocess.run(["curl", "-sS", "--path-as-is", "-L", "--max-redirs", "2",
                            "--max-time", "10", "-o", "/dev/null",
                            "-w", "%{url_effective} %{http_code} %{num_redirects}",
                            "http://%s%s" % (addr, path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        url, code, redirects = p.stdout.decode().split(" ")
        assert url == "http://%s%s" % (addr, want), (path, p.stdout, p.stderr)
        assert redirects == "1", (path, p.stdout)
        assert code in ("200", "403"), (path, p.stdout)


def test_head_sends_headers_without_body():
    srv, addr, root = start()
    c = Conn(addr)
    c.send(b"HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head=True)
    assert r.status == 200, r
    assert r.headers["content-length"] == str(len(INDEX))
    assert r.headers["content-type"] == "text/html"
    # No body followed: the next response starts right after the head.
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello\n", r
    c.send(b"HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head=True)
    assert r.status == 404 and int(r.headers["content-length"]) > 0, r
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert c.read_response().body == b"hello\n"
    assert c.at_eof()


def test_large_file_is_sent_whole():
    srv, addr, root = start()
    data = os.urandom(300 * 1024 + 7)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(data)
    c = Conn(addr)
    for _ in range(2):
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.headers["content-length"] == str(len(data))
        assert r.body == data
    c.close()


# ---- conditional requests ----

def test_if_modified_since_gives_304():
    srv, addr, root = start()
    r = get(addr, "/a.txt")
    lm = r.headers["last-modified"]
    c = Conn(addr)
    c.send(("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n" % lm).encode())
    r = c.read_response()
    assert r.status == 304, r
    assert r.body == b""
    assert r.headers["last-modified"] == lm
    # Older than the file: the full answer.
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n"
           b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello\n", r
    # A date that cannot be parsed is ignored.
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: yesterday\r\n\r\n")
    assert c.read_response().status == 200
    # The file changes: modified again, once the open-file cache has looked (cache_valid, 1 s).
    os.utime(os.path.join(root, "a.txt"), (time.time() + 5, time.time() + 5))

    def modified():
        c.send(("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n" % lm).encode())
        return c.read_response().status == 200
    harness.wait_until(modified, timeout=10, interval=0.05, what="the new modification time")
    c.close()


# ---- connections: keep-alive, pipelining, close ----

def test_keepalive_two_requests_on_one_connection():
    srv, addr, _ = start()
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r1 = c.read_response()
    assert r1.status == 200 and r1.headers["connection"] == "keep-alive", r1
    c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
    r2 = c.read_response()
    assert r2.status == 200 and r2.body == INDEX
    c.close()


def test_pipelining_three_requests_in_one_write():
    srv, addr, _ = start()
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
           b"HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /sub/page.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    r1 = c.read_response()
    r2 = c.read_response(head=True)
    r3 = c.read_response()
    assert (r1.status, r1.body) == (200, b"hello\n"), r1
    assert r2.status == 200 and r2.headers["content-length"] == str(len(INDEX)), r2
    assert (r3.status, r3.body) == (200, b"<p>page</p>\n"), r3
    assert r3.headers["connection"] == "close"
    assert c.at_eof()


def test_busy_keepalive_client_does_not_starve_queued_ones():
    srv, addr, _ = start(workers=1)
    busy = Conn(addr)
    busy.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert busy.read_response().status == 200
    # The only worker is on `busy`; this one waits in the backlog.
    queued = Conn(addr)
    queued.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    for n in range(1000):
        busy.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            r = busy.read_response()
        except (EOFError, ConnectionResetError):
            break       # closed between two requests: it yielded while idle
        if r.headers["connection"] == "close":
            assert busy.at_eof()
            break
    else:
        raise AssertionError("a keep-alive connection was never closed")
    r = queued.read_response()
    assert r.status == 200 and r.body == INDEX


def test_idle_keepalive_connection_yields_to_queued_client():
    srv, addr, _ = start(workers=1, http_extra="keepalive_timeout = 30.0;")
    idle = Conn(addr)
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert idle.read_response().headers["connection"] == "keep-alive"
    # The only worker now waits for `idle`'s next request; a new client
    # queues. It is served long before keepalive_timeout, and the idle
    # connection is closed silently between two requests.
    t0 = time.monotonic()
    queued = Conn(addr)
    queued.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    r = queued.read_response()
    assert r.status == 200 and r.body == INDEX
    assert time.monotonic() - t0 < 5.0
    assert idle.at_eof()


def test_idle_keepalive_connection_kept_while_workers_are_free():
    srv, addr, _ = start(workers=3, http_extra="keepalive_timeout = 30.0;")
    idle = Conn(addr)
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert idle.read_response().status == 200
    for _ in range(5):
        c = Conn(addr)
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert c.read_response().status == 200
    # Free workers took the newcomers: the idle connection is still usable.
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert idle.read_response().status == 200


def test_request_split_across_writes():
    srv, addr, _ = start()
    c = Conn(addr)
    raw = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Long: " + b"v" * 300 + b"\r\n\r\n"
    for i in range(0, len(raw), 7):
        c.send(raw[i:i + 7])
        time.sleep(0.001)
    assert c.read_response().body == b"hello\n"
    c.close()


def test_http10_closes_unless_keepalive_asked():
    srv, addr, _ = start()
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.headers["connection"] == "close"
    assert c.at_eof()
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.read_response()
    assert r.headers["connection"] == "keep-alive", r
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
    assert c.read_response().status == 200
    assert c.at_eof()


def test_connection_close_is_honoured():
    srv, addr, _ = start()
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    r = c.read_response()
    assert r.headers["connection"] == "close"
    assert c.at_eof()


# ---- errors ----

def test_404_for_missing_file_keeps_connection():
    srv, addr, _ = start()
    c = Conn(addr)
    c.send(b"GET /nope.html HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 404, r
    assert r.headers["content-type"] == "text/html"
    assert b"404" in r.body
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200
    c.close()


def test_403_for_directory_without_index():
    srv, addr, _ = start()
    assert get(addr, "/noindex/").status == 403
    assert get(addr, "/noindex/file.txt").status == 200


def test_403_for_unreadable_file():
    if os.geteuid() == 0:
        # Root reads everything: serve as nobody, whose reads the modes bound.
        import pwd
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            raise harness.Skip("running as root and there is no user nobody")
        srv, addr, root = start(top_extra='user = "nobody";')
    else:
        srv, addr, root = start()
    path = os.path.join(root, "locked.txt")
    with open(path, "wb") as f:
        f.write(b"no\n")
    os.chmod(path, 0)
    r = get(addr, "/locked.txt")
    assert r.status == 403, r
    assert get(addr, "/a.txt").status == 200


def test_405_for_other_methods_with_allow():
    srv, addr, _ = start()
    c = Conn(addr)
    for method in (b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"BREW"):
        c.send(method + b" /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        r = c.read_response()
        assert r.status == 405, (method, r)
        assert r.headers["allow"] == "GET, HEAD"
    # The bodies were skipped: the connection still speaks HTTP.
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().body == b"hello\n"
    c.close()


def test_expect_100_continue_gets_the_final_status_at_once():
    """Issue 11 item 15: no waiting for a body the answer does not depend on."""
    srv, addr, root = start()
    cases = [
        (b"POST /a.txt", b"Content-Length: 5\r\n", 405),
        (b"PUT /missing", b"Content-Length: 5\r\n", 405),
        (b"GET /missing", b"Content-Length: 5\r\n", 404),
        (b"GET /a.txt", b"Content-Length: 5\r\n", 200),
        (b"POST /a.txt", b"Content-Length: 100000000\r\n", 413),
        (b"POST /a.txt", b"Transfer-Encoding: chunked\r\n", 405),
    ]
    for line, framing, status in cases:
        # The client waits for 100 before it sends the body (5 s here, at most).
        c = Conn(addr, timeout=5.0)
        try:
            c.send(line + b" HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n" + framing + b"\r\n")
            r = c.read_response()
            assert r.status == status, (line, r)
            assert r.headers["connection"] == "close", (line, r)
            assert c.buf == b"", (line, c.buf)
            # Sending the body now is harmless: it is never read as a request.
            try:
                c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            except OSError:
                pass
            assert c.at_eof(), line
        finally:
            c.close()
    # Without a body there is nothing to expect: served and kept alive.
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.headers["connection"] == "keep-alive", r
    c.close()
    # curl sends Expect and waits --expect100-timeout for a 100 before the body.
    if not shutil.which("curl"):
        raise harness.Skip("no curl (apt-get install curl): raw-socket cases passed")
    body = os.path.join(srv.dir, "body")
    with open(body, "wb") as f:
        f.write(b"x" * 4096)
    for method, path, status in (("POST", "/a.txt", "405"), ("GET", "/missing", "404")):
        p = subprocess.run(["curl", "-sS", "-X", method, "--data-binary", "@" + body,
                            "-H", "Expect: 100-continue", "--expect100-timeout", "10",
                            "--max-time", "20", "-o", "/dev/null",
                            "-w", "%{http_code} %{time_total}", "http://%s%s" % (addr, path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        code, took = p.stdout.decode().split(" ")
        assert code == status, (method, p.stdout, p.stderr)
        # Before the fix curl waited out its 10 s expect timeout.
        assert float(took) < 5.0, (method, p.stdout)


def test_expect_100_continue_before_a_body_the_app_reads():
    """Issue 11 item 15: when the answer depends on the body, 100 Continue first."""
    base = harness.tmpdir()
    os.makedirs(os.path.join(base, "www"))
    addr = "127.0.0.1:%d" % harness.free_port()
    conf = """
services = ( { name = "api"; listen = "%s"; handler = "json_app"; module = "%s";
               workers = 1; } );
""" % (addr, harness.module("json_app"))
    srv = harness.Server(conf, folder=base)
    srv.start(wait_for=[addr])
    srv.wait_workers(1)
    body = b"[1, 2.5, 3]"
    c = Conn(addr, timeout=5.0)
    c.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    interim, c.buf = c.buf.split(b"\r\n\r\n", 1)
    assert interim == b"HTTP/1.1 100 Continue", interim
    c.send(body)
    r = c.read_response()
    assert r.status == 200 and b'"sum": 6.5' in r.body, r
    assert r.headers["connection"] == "keep-alive", r
    # A route decided without the body answers at once, no 100, and closes.
    c.send(b"POST /nowhere HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
           b"Content-Length: 5\r\n\r\n")
    r = c.read_response()
    assert r.status == 404 and r.headers["connection"] == "close", r
    assert c.buf == b"" and c.at_eof()
    c.close()


def test_413_for_large_body():
    srv, addr, _ = start()
    c = Conn(addr)
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"
           + b"x" * 65536)
    r = c.read_response()
    assert r.status == 413, r
    assert r.headers["connection"] == "close"
    c.close()


def test_414_for_long_request_line():
    srv, addr, _ = start(http_extra="max_header_size = 1024;")
    c = Conn(addr)
    c.send(b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 414, r
    assert r.headers["connection"] == "close"
    assert c.at_eof()


def test_431_for_large_header_section():
    srv, addr, _ = start(http_extra="max_header_size = 1024;")
    c = Conn(addr)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Pad: " + b"p" * 600 + b"\r\n"
           + b"X-Pad2: " + b"p" * 600 + b"\r\n\r\n")
    r = c.read_response()
    assert r.status == 431, r
    assert r.headers["connection"] == "close"
    assert c.at_eof()
    # Just under the limit is fine.
    r = get(addr, "/a.txt", extra="X-Pad: " + "p" * 800 + "\r\n")
    assert r.status == 200, r


def test_505_for_unsupported_version():
    srv, addr, _ = start()
    for version in (b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9"):
        r = request(addr, b"GET / " + version + b"\r\nHost: t\r\n\r\n")
        assert r.status == 505, (version, r)
        assert r.headers["connection"] == "close"


def test_400_for_malformed_requests():
    srv, addr, _ = start()
    bad = [
        b"GARBAGE\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET nopath HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ]
    for raw in bad:
        r = request(addr, raw)
        assert r.status == 400, (raw, r)
        assert r.headers["connection"] == "close"


def test_rfc9112_host_length_coding_version():
    """Issue 11 item 16: RFC 9112 framing and Host rules, each answered and closed."""
    srv, addr, _ = start()
    smuggled = b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    cases = [
        (b"GET /a.txt HTTP/1.1\r\n\r\n", 400),
        (b"GET http://t/a.txt HTTP/1.1\r\n\r\n", 400),
        (b"GET /a.txt HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", 400),
        (b"GET /a.txt HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET /a.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        # An empty length is no length: the bytes after it are not a request.
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n" + smuggled, 400),
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1e3\r\n\r\n" + smuggled, 400),
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
         b"Content-Length: 40\r\n\r\nhello" + smuggled, 400),
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n" + smuggled, 400),
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
         + smuggled, 400),
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n" + smuggled, 400),
        (b"POST /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 400),
        (b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
         + smuggled, 501),
        (b"GET /a.txt HTTP/1.10\r\nHost: t\r\n\r\n", 400),
        (b"GET /a.txt HTTP/01.1\r\nHost: t\r\n\r\n", 400),
        (b"GET /a.txt HTTP/1.01\r\nHost: t\r\n\r\n", 400),
    ]
    for raw, status in cases:
        c = Conn(addr)
        try:
            c.send(raw)
            r = c.read_response()
            assert r.status == status, (raw, r)
            assert r.headers["connection"] == "close", (raw, r)
            # One answer and the end: nothing after the head was read as a request.
            assert c.buf == b"", (raw, c.buf[:200])
            assert c.at_eof(), raw
        finally:
            c.close()
    # A valid Host in each form is served; HTTP/1.0 needs none.
    for host in (b"t", b"127.0.0.1:80", b"[::1]:8080", b"", b"xn--e1a.example"):
        r = request(addr, b"GET /a.txt HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        assert r.status == 200, (host, r)
    assert request(addr, b"GET /a.txt HTTP/1.0\r\n\r\n").status == 200
    # A body that looks like a request is a body: skipped by length or by
    # its chunks, never answered as a request.
    c = Conn(addr)
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
           + smuggled + b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 405
    r = c.read_response(head=True)
    assert r.status == 200 and r.headers["content-length"] == "6", r
    c.close()
    c = Conn(addr)
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n")
    r = c.read_response()
    assert r.status == 405 and r.headers["connection"] == "keep-alive", r
    c.send(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head=True)
    assert r.status == 200 and r.headers["content-length"] == "6", r
    c.close()


def test_408_when_head_is_not_complete_in_time():
    srv, addr, _ = start(http_extra="header_timeout = 0.5;")
    # Silent from accept.
    c = Conn(addr)
    t0 = time.monotonic()
    r = c.read_response()
    assert r.status == 408, r
    assert r.headers["connection"] == "close"
    assert 0.3 < time.monotonic() - t0 < 3.0
    assert c.at_eof()
    # A client trickling one byte at a time gets no more time.
    c = Conn(addr)
    t0 = time.monotonic()
    got = None
    for b in b"GET / HTTP/1.1\r\nX-Slow: " + b"s" * 100:
        try:
            c.send(bytes([b]))
        except OSError:
            break
        c.sock.settimeout(0.1)
        try:
            got = c.sock.recv(65536)
        except socket.timeout:
            continue
        c.buf += got
        break
    c.sock.settimeout(5)
    r = c.read_response()
    assert r.status == 408, r
    assert time.monotonic() - t0 < 3.0


def test_header_timeout_runs_from_first_byte_of_later_requests():
    srv, addr, _ = start(http_extra="header_timeout = 0.5; keepalive_timeout = 3.0;")
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200
    # Idle longer than header_timeout but within keepalive_timeout: still open.
    time.sleep(1.0)
    c.send(b"GET /a.txt HTTP/1.1\r\n")
    t0 = time.monotonic()
    r = c.read_response()
    assert r.status == 408, r
    assert 0.3 < time.monotonic() - t0 < 2.5


def test_idle_keepalive_connection_closed_silently():
    srv, addr, _ = start(http_extra="keepalive_timeout = 0.5;")
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200
    t0 = time.monotonic()
    assert c.at_eof()
    assert 0.3 < time.monotonic() - t0 < 3.0


# ---- never outside the root ----

def test_traversal_attempts_are_refused():
    srv, addr, _ = start()
    cases = {
        "/../secret.txt": 400,
        "/sub/../../secret.txt": 400,
        "/%2e%2e/secret.txt": 400,
        "/%2E%2E/secret.txt": 400,
        "/.%2e/secret.txt": 400,
        "/sub%2f..%2f..%2fsecret.txt": 400,
        "/..%2fsecret.txt": 400,
        "/a.txt%00.html": 400,
        "/%00": 400,
        "/link_out": 403,
        "/link_abs": 403,
        "/dir_out/secret.txt": 403,
    }
    for path, status in cases.items():
        r = request(addr, ("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                           % path).encode())
        assert r.status == status, (path, r)
        assert SECRET not in r.body
    # "." and ".." that stay inside the root are resolved.
    assert get(addr, "/sub/../a.txt").body == b"hello\n"
    assert get(addr, "/./sub/./page.html").body == b"<p>page</p>\n"
    # A link that stays inside the root is followed. Not under valgrind: it
    # has no openat2, and the component walk that replaces it (old kernels)
    # refuses every symbolic link.
    if not getattr(harness, "VALGRIND", None):
        assert get(addr, "/link_in").body == b"hello\n"


# ---- access log, workers, client ----

CLF = re.compile(r'^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                 r'"([^"]*)" (\d{3}) (\d+|-)$')


def test_access_log_in_common_log_format():
    srv, addr, _ = start(http_extra='access_log = "access.log";')
    log = os.path.join(srv.dir, "access.log")
    get(addr, "/a.txt")
    get(addr, "/missing")
    request(addr, b"HEAD /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            head=True)
    request(addr, b'GET /"quoted" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')

    def lines():
        return harness.read_text(log).splitlines()
    got = harness.wait_until(lambda: len(lines()) >= 4 and lines(), what="4 log lines")
    parsed = [CLF.match(line) for line in got]
    assert all(parsed), got
    assert [p.group(1) for p in parsed] == ["127.0.0.1"] * 4
    # Two workers write the lines, each after its answer: order is not fixed.
    by_request = {p.group(3): (p.group(4), p.group(5)) for p in parsed}
    assert by_request["GET /a.txt HTTP/1.1"] == ("200", "6"), got
    assert by_request["GET /missing HTTP/1.1"][0] == "404", got
    assert by_request["HEAD /index.html HTTP/1.1"] == ("200", "0"), got
    quoted = [r for r in by_request if "quoted" in r]
    assert len(quoted) == 1 and '"' not in quoted[0], got
    assert by_request[quoted[0]][0] == "404", got


def test_access_log_escapes_the_request_line_exactly():
    srv, addr, _ = start(http_extra='access_log = "access.log";')
    log = os.path.join(srv.dir, "access.log")
    end = b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    request(addr, b"GET /plain/run/of/bytes.txt?q=1" + end)
    request(addr, b'GET /a"b\\c\x80\xffd""' + end)
    want = ['"GET /plain/run/of/bytes.txt?q=1 HTTP/1.1" 404 ',
            '"GET /a\\x22b\\x5cc\\x80\\xffd\\x22\\x22 HTTP/1.1" 404 ']
    harness.wait_until(lambda: all(w in harness.read_text(log) for w in want),
                       what="both request lines, escaped byte for byte")


def test_access_log_reopened_on_sigusr1():
    srv, addr, _ = start(http_extra='access_log = "access.log";')
    log = os.path.join(srv.dir, "access.log")
    get(addr, "/a.txt")
    harness.wait_until(lambda: os.path.exists(log) and os.path.getsize(log) > 0,
                       what="first log line")
    os.rename(log, log + ".1")
    srv.signal(signal.SIGUSR1)
    # Each worker reopens; poll until a request lands in the new file.
    def reopened():
        get(addr, "/a.txt")
        return os.path.exists(log) and os.path.getsize(log) > 0
    harness.wait_until(reopened, what="a line in the reopened access log")


def test_workers_survive_bad_requests():
    srv, addr, _ = start(http_extra="max_header_size = 512; header_timeout = 0.3;")
    before = srv.workers()
    raws = [
        b"\x00\x01\x02\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /" + b"x" * 1000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"GET /%zz HTTP/1.1\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ]
    for raw in raws * 3:
        c = Conn(addr)
        try:
            c.send(raw)
            c.read_response()
        except (EOFError, OSError):
            pass
        finally:
            c.close()
    # Half a request, then a hang-up; and a silent connection.
    c = Conn(addr)
    c.send(b"GET / HT")
    c.close()
    c = Conn(addr)
    c.read_response()
    c.close()
    assert get(addr, "/a.txt").status == 200
    srv.wait_workers(len(before))
    assert srv.workers() == before


def test_prefork_client_http():
    if not os.path.exists(harness.CLIENT):
        raise harness.Skip("no prefork-client")
    srv, addr, _ = start()
    p = harness.client("--http", "/a.txt", addr)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"hello\n"
    p = harness.client("-i", "--http", "/index.html", addr)
    assert p.returncode == 0, p.stderr
    head, body = p.stdout.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    assert b"Content-Type: text/html" in head
    assert body == INDEX
    p = harness.client("-i", "--http", "/missing", addr)
    assert p.stdout.startswith(b"HTTP/1.1 404 "), p.stdout


def test_prefork_client_load_keepalive():
    if not os.path.exists(harness.CLIENT):
        raise harness.Skip("no prefork-client")
    srv, addr, _ = start()
    p = harness.client("-c", "4", "-n", "2000", "--keepalive", "--http", "/a.txt", addr,
                       timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)


# ---- stop and configuration ----

def test_graceful_stop_answers_next_request_with_close():
    srv, addr, _ = start(http_extra="keepalive_timeout = 5.0;", workers=1)
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.headers["connection"] == "keep-alive"
    srv.signal(signal.SIGTERM)
    # Once stopping, nobody accepts any more; the open connection lives on.
    harness.wait_until(lambda: not harness.can_connect(addr), timeout=5.0,
                       what="the listener to close")
    c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == INDEX
    assert r.headers["connection"] == "close", r
    assert c.at_eof()
    assert srv.wait_exit() == 0


def test_reload_retires_keepalive_connection_with_close():
    srv, addr, _ = start(http_extra="keepalive_timeout = 5.0;", workers=1)
    old = srv.workers()
    c = Conn(addr)
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().headers["connection"] == "keep-alive"
    srv.signal(signal.SIGHUP)
    # Requests keep being answered; once the old worker is retired, the
    # answer carries Connection: close and the connection ends cleanly.
    # (Fewer than the 100 requests after which any connection is closed.)
    for _ in range(90):
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n", r
        if r.headers["connection"] == "close":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the old worker was never retired")
    assert c.at_eof()
    harness.wait_until(lambda: not any(harness.pid_alive(p) for p in old),
                       what="the old worker to exit")
    assert get(addr, "/a.txt").status == 200


def test_config_root_must_be_a_directory():
    d = harness.tmpdir()
    conf = os.path.join(d, "server.conf")
    port = harness.free_port()
    with open(os.path.join(d, "file"), "w") as f:
        f.write("x")
    cases = [
        ('http = { index = "index.html"; };', "missing required key 'root'"),
        ('http = { root = "nowhere"; };', "nowhere"),
        ('http = { root = "file"; };', "is not a directory"),
        ('http = { root = "."; max_header_size = 10; };', "max_header_size"),
        ('http = { root = "."; index = "a/b"; };', "'index'"),
        ('http = { root = "."; bogus = 1; };', "bogus"),
    ]
    for block, message in cases:
        with open(conf, "w") as f:
            f.write('services = ({ name = "w"; listen = "127.0.0.1:%d"; handler = "http";\n'
                    '  %s });\n' % (port, block))
        p = harness.preforkd("-t", "-c", conf)
        err = p.stderr.decode()
        assert p.returncode == 1, (block, err)
        assert re.search(r"server\.conf:\d+: ", err), (block, err)
        assert message in err, (block, message, err)
    with open(conf, "w") as f:
        f.write('services = ({ name = "w"; listen = "127.0.0.1:%d"; handler = "http";\n'
                '  http = { root = "."; access_log = "log"; }; });\n' % port)
    p = harness.preforkd("-t", "-c", conf)
    assert p.returncode == 0, p.stderr


harness.main(globals())

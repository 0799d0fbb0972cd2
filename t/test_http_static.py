"""test_http_static.py - what users of a static server expect of the http
handler, end to end with curl: Range (-r, -C -), ETag and If-None-Match,
If-Range, If-Modified-Since (-z), precompressed files (--compressed), and
the per-worker open-file cache: a file changed or deleted while cached is
seen within cache_valid, and a file truncated while it is sent closes the
connection instead of hanging or padding.
"""
import gzip
import os
import shutil
import socket
import subprocess
import time

import harness

TEXT = b"hello world 0123456789\n"          # 23 bytes
BIG = 4 * 1024 * 1024                         # sent with sendfile


def need_curl():
    if not shutil.which("curl"):
        raise harness.Skip("curl is not installed")


def start(http_extra="", workers=2):
    """preforkd with one http service over a fresh root; (server, base URL, root)."""
    need_curl()
    base = harness.tmpdir()
    os.chmod(base, 0o755)
    root = os.path.join(base, "www")
    os.makedirs(os.path.join(root, "sub"))
    with open(os.path.join(root, "a.txt"), "wb") as f:
        f.write(TEXT)
    with open(os.path.join(root, "page.html"), "wb") as f:
        f.write(b"<p>" + b"x" * 2000 + b"</p>\n")
    with gzip.open(os.path.join(root, "page.html.gz"), "wb") as f:
        f.write(b"<p>" + b"x" * 2000 + b"</p>\n")
    with open(os.path.join(root, "sub", "index.html"), "wb") as f:
        f.write(b"<p>sub</p>\n")
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(bytes(range(256)) * (BIG // 256))
    addr = "127.0.0.1:%d" % harness.free_port()
    conf = """
services = (
  { name = "web"; listen = "%s"; handler = "http"; workers = %d;
    http = { root = "www"; %s }; }
);
""" % (addr, workers, http_extra)
    srv = harness.Server(conf, folder=base)
    srv.start(wait_for=[addr])
    srv.wait_workers(workers)
    return srv, "http://" + addr, root


def curl(*args, timeout=30):
    """Run curl; returns (status, headers as a lower-case dict, body)."""
    base = harness.tmpdir()
    hfile = os.path.join(base, "head")
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-D", hfile] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    with open(hfile, "rb") as f:
        lines = f.read().decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers, r.stdout


# ---- Range ----

def test_range_first_bytes_gives_206_with_content_range():
    srv, url, _ = start()
    st, h, body = curl("-r", "0-4", url + "/a.txt")
    assert st == 206, (st, h)
    assert body == b"hello", body
    assert h["content-range"] == "bytes 0-4/23", h
    assert h["content-length"] == "5"
    assert h["accept-ranges"] == "bytes"


def test_range_open_end_suffix_and_clamped():
    srv, url, _ = start()
    st, h, body = curl("-r", "6-", url + "/a.txt")
    assert st == 206 and body == TEXT[6:] and h["content-range"] == "bytes 6-22/23", (st, h, body)
    st, h, body = curl("-r", "-5", url + "/a.txt")
    assert st == 206 and body == TEXT[-5:] and h["content-range"] == "bytes 18-22/23", (st, h)
    st, h, body = curl("-r", "20-1000", url + "/a.txt")
    assert st == 206 and body == TEXT[20:] and h["content-range"] == "bytes 20-22/23", (st, h)


def test_range_of_large_file_by_sendfile():
    srv, url, root = start()
    data = open(os.path.join(root, "big.bin"), "rb").read()
    for first, last in ((0, 99), (1000000, 3999999), (BIG - 10, BIG - 1)):
        st, h, body = curl("-r", "%d-%d" % (first, last), url + "/big.bin")
        assert st == 206, (st, h)
        assert body == data[first:last + 1], (first, last, len(body))
        assert h["content-range"] == "bytes %d-%d/%d" % (first, last, BIG)


def test_unsatisfiable_range_gives_416():
    srv, url, _ = start()
    st, h, body = curl("-r", "23-", url + "/a.txt")
    assert st == 416, (st, h)
    assert h["content-range"] == "bytes */23", h
    assert body == b""
    st, h, body = curl("-H", "Range: bytes=-0", url + "/a.txt")
    assert st == 416, (st, h)


def test_malformed_multi_and_foreign_ranges_give_the_whole_file():
    srv, url, _ = start()
    for value in ("bytes=5-1", "bytes=abc", "items=0-1", "bytes=0-1,3-4", "bytes="):
        st, h, body = curl("-H", "Range: " + value, url + "/a.txt")
        assert st == 200, (value, st, h)
        assert body == TEXT, value
        assert "content-range" not in h


def test_head_ignores_range():
    srv, url, _ = start()
    st, h, body = curl("-I", "-r", "0-4", url + "/a.txt")
    assert st == 200 and h["content-length"] == "23", (st, h)


def test_resume_with_curl_continue_at():
    srv, url, root = start()
    data = open(os.path.join(root, "big.bin"), "rb").read()
    out = os.path.join(harness.tmpdir(), "partial")
    with open(out, "wb") as f:
        f.write(data[:123457])
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-C", "-", "-o", out, url + "/big.bin"],
                       stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0, r.stderr
    assert open(out, "rb").read() == data
    # Resuming a complete file: 416, which curl takes as done.
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-C", "-", "-o", out, url + "/big.bin"],
                       stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0, r.stderr
    assert open(out, "rb").read() == data


# ---- ETag, If-None-Match, If-Range, If-Modified-Since ----

def test_etag_from_size_and_mtime_and_if_none_match_304():
    srv, url, root = start()
    st, h, _ = curl(url + "/a.txt")
    sb = os.stat(os.path.join(root, "a.txt"))
    assert h["etag"] == '"%x-%x"' % (int(sb.st_mtime), sb.st_size), h
    etag = h["etag"]
    st, h2, body = curl("-H", "If-None-Match: " + etag, url + "/a.txt")
    assert st == 304 and body == b"", (st, h2)
    assert h2["etag"] == etag
    st, _, _ = curl("-H", 'If-None-Match: "nope", W/' + etag, url + "/a.txt")
    assert st == 304
    st, _, _ = curl("-H", "If-None-Match: *", url + "/a.txt")
    assert st == 304
    st, _, body = curl("-H", 'If-None-Match: "nope"', url + "/a.txt")
    assert st == 200 and body == TEXT
    st, _, _ = curl("-I", "-H", "If-None-Match: " + etag, url + "/a.txt")
    assert st == 304


def test_if_none_match_takes_precedence_over_if_modified_since():
    srv, url, _ = start()
    past = "Thu, 01 Jan 1970 00:00:01 GMT"
    _, h, _ = curl(url + "/a.txt")
    # A stale tag with a date that alone would give 304: 200.
    st, _, body = curl("-H", 'If-None-Match: "stale"', "-H", "If-Modified-Since: " + h["last-modified"],
                       url + "/a.txt")
    assert st == 200 and body == TEXT, st
    # A matching tag with a date that alone would give 200: 304.
    st, _, _ = curl("-H", "If-None-Match: " + h["etag"], "-H", "If-Modified-Since: " + past,
                    url + "/a.txt")
    assert st == 304, st


def test_if_modified_since_with_curl_z():
    srv, url, root = start()
    os.utime(os.path.join(root, "a.txt"), (1000000000, 1000000000))   # 2001-09-09 01:46:40
    # -z DATE sends If-Modified-Since: not modified since then, or later, is 304.
    for date in ("Sun, 09 Sep 2001 01:46:40 GMT", "Mon, 10 Sep 2001 00:00:00 GMT"):
        st, h, body = curl("-z", date, url + "/a.txt")
        assert st == 304 and body == b"", (date, st, h)
    # Modified since: 200 and the file.
    st, h, body = curl("-z", "Sat, 01 Jan 2000 00:00:00 GMT", url + "/a.txt")
    assert st == 200 and body == TEXT, (st, h)
    # A date in the future is no valid validator: 200 (curl -z would drop the body itself).
    st, _, body = curl("-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT", url + "/a.txt")
    assert st == 200 and body == TEXT


def test_if_range_with_current_and_stale_validators():
    srv, url, _ = start()
    _, h, _ = curl(url + "/a.txt")
    st, h2, body = curl("-r", "0-4", "-H", "If-Range: " + h["etag"], url + "/a.txt")
    assert st == 206 and body == b"hello", (st, h2)
    st, _, body = curl("-r", "0-4", "-H", "If-Range: " + h["last-modified"], url + "/a.txt")
    assert st == 206 and body == b"hello"
    st, _, body = curl("-r", "0-4", "-H", 'If-Range: "stale"', url + "/a.txt")
    assert st == 200 and body == TEXT
    st, _, body = curl("-r", "0-4", "-H", "If-Range: W/" + h["etag"], url + "/a.txt")
    assert st == 200 and body == TEXT
    st, _, body = curl("-r", "0-4", "-H", "If-Range: Thu, 01 Jan 1970 00:00:01 GMT", url + "/a.txt")
    assert st == 200 and body == TEXT


# ---- precompressed files ----

def test_gzip_static_sends_gz_twin_to_clients_that_accept_gzip():
    srv, url, root = start("gzip_static = true;")
    plain = open(os.path.join(root, "page.html"), "rb").read()
    st, h, body = curl("--compressed", url + "/page.html")
    assert st == 200, (st, h)
    assert h["content-encoding"] == "gzip", h
    assert h["content-type"] == "text/html", h
    assert h["vary"] == "Accept-Encoding"
    assert int(h["content-length"]) == os.path.getsize(os.path.join(root, "page.html.gz"))
    assert body == plain          # curl decoded it
    # Without gzip in Accept-Encoding: the plain file, still Vary.
    st, h, body = curl(url + "/page.html")
    assert st == 200 and body == plain and "content-encoding" not in h, h
    assert h["vary"] == "Accept-Encoding"
    st, h, body = curl("-H", "Accept-Encoding: gzip;q=0, br", url + "/page.html")
    assert "content-encoding" not in h and body == plain
    # No twin: the plain file.
    st, h, body = curl("--compressed", url + "/a.txt")
    assert st == 200 and body == TEXT and "content-encoding" not in h, h
    # The index of a directory has its twin looked up too (none here).
    st, h, body = curl("--compressed", url + "/sub/")
    assert st == 200 and body == b"<p>sub</p>\n"


def test_gzip_static_is_off_by_default():
    srv, url, root = start()
    st, h, body = curl("--compressed", url + "/page.html")
    assert st == 200 and "content-encoding" not in h and "vary" not in h, h


# ---- the open-file cache ----

def raw_get(sock, path):
    """One keep-alive GET on sock; returns (status, body)."""
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "closed"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed"
        rest += chunk
    return status, rest[:length]


def test_cached_file_is_served_from_memory_until_cache_valid():
    # One connection stays on one worker, and so on one cache.
    srv, url, root = start("cache_valid = 60.0;", workers=1)
    s = harness.connect(url[len("http://"):])
    try:
        assert raw_get(s, "/a.txt") == (200, TEXT)
        with open(os.path.join(root, "a.txt"), "wb") as f:
            f.write(b"changed\n")
        # Within cache_valid the bytes read before are served: proof of the cache.
        assert raw_get(s, "/a.txt") == (200, TEXT)
    finally:
        s.close()


def test_changed_and_deleted_files_seen_within_cache_valid():
    valid = 0.3
    srv, url, root = start("cache_valid = %.1f;" % valid, workers=1)
    s = harness.connect(url[len("http://"):])
    try:
        assert raw_get(s, "/a.txt") == (200, TEXT)
        assert raw_get(s, "/page.html")[0] == 200
        assert raw_get(s, "/nothing.txt")[0] == 404
        t0 = time.monotonic()
        with open(os.path.join(root, "a.txt"), "wb") as f:
            f.write(b"changed!\n")
        os.unlink(os.path.join(root, "page.html"))
        with open(os.path.join(root, "nothing.txt"), "wb") as f:
            f.write(b"new\n")
        harness.wait_until(lambda: raw_get(s, "/a.txt") == (200, b"changed!\n"), timeout=10,
                           what="the changed file")
        harness.wait_until(lambda: raw_get(s, "/page.html")[0] == 404, timeout=10,
                           what="the deleted file's 404")
        harness.wait_until(lambda: raw_get(s, "/nothing.txt") == (200, b"new\n"), timeout=10,
                           what="the new file")
        seen = time.monotonic() - t0
        # Polled every few ms: seen once cache_valid has passed, allowing for a loaded machine.
        assert seen < valid + 2.0 * harness.SLOW, seen
        # Changed in place to the same size within the same second: mtime's nanoseconds tell.
        with open(os.path.join(root, "a.txt"), "wb") as f:
            f.write(b"CHANGED!\n")
        harness.wait_until(lambda: raw_get(s, "/a.txt") == (200, b"CHANGED!\n"), timeout=10,
                           what="the rewritten file")
    finally:
        s.close()


def test_cached_redirect_keeps_its_location():
    srv, url, root = start(workers=1)
    s = harness.connect(url[len("http://"):])
    try:
        for path in ("/sub?a=1", "/a.txt", "/sub?b=2", "/sub"):
            s.sendall(b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                assert chunk, "closed"
                buf += chunk
            if path.startswith("/sub"):
                want = "/sub/" + path[4:]
                assert b"\r\nLocation: " + want.encode() + b"\r\n" in buf, (path, buf)
    finally:
        s.close()


def test_cache_off_serves_fresh_bytes_every_time():
    srv, url, root = start("cache_size = 0;", workers=1)
    s = harness.connect(url[len("http://"):])
    try:
        assert raw_get(s, "/a.txt") == (200, TEXT)
        with open(os.path.join(root, "a.txt"), "wb") as f:
            f.write(b"changed\n")
        assert raw_get(s, "/a.txt") == (200, b"changed\n")
        st, body = raw_get(s, "/big.bin")
        assert st == 200 and len(body) == BIG
    finally:
        s.close()


def test_small_cache_budget_evicts_and_still_serves():
    srv, url, root = start("cache_size = 3000; cache_files = 2;", workers=1)
    s = harness.connect(url[len("http://"):])
    try:
        for _ in range(3):
            assert raw_get(s, "/a.txt") == (200, TEXT)
            st, body = raw_get(s, "/page.html")
            assert st == 200 and len(body) == 2008
            assert raw_get(s, "/sub/") == (200, b"<p>sub</p>\n")
            st, body = raw_get(s, "/big.bin")
            assert st == 200 and len(body) == BIG
    finally:
        s.close()


def test_file_truncated_while_sent_closes_the_connection():
    srv, url, root = start("cache_valid = 60.0;", workers=1)
    path = os.path.join(root, "big.bin")
    with open(path, "r+b") as f:
        f.truncate(64 * 1024 * 1024)
    host, port = url[len("http://"):].split(":")
    s = socket.socket()
    # A small receive buffer, so that most of the file is still unsent when it shrinks.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(20)
    s.connect((host, int(port)))
    try:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, rest = buf.split(b"\r\n\r\n", 1)
        assert b"Content-Length: %d" % (64 * 1024 * 1024) in head, head
        with open(path, "r+b") as f:
            f.truncate(1000)
        got = len(rest)
        t0 = time.monotonic()
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += len(chunk)
        # Closed (not hanging: the 20 s timeout would raise), and not padded to the length.
        assert got < 64 * 1024 * 1024, got
        assert time.monotonic() - t0 < 20
    finally:
        s.close()
    # The worker lives on and serves the file as it is now.
    harness.wait_until(lambda: curl(url + "/a.txt")[0] == 200, timeout=10, what="an answer")


def test_cache_settings_are_checked():
    need_curl()
    base = harness.tmpdir()
    os.makedirs(os.path.join(base, "www"))
    for bad in ("cache_valid = -1.0;", "cache_size = -5;", "cache_files = 100000;",
                'gzip_static = "yes";'):
        harness.write(os.path.join(base, "bad.conf"), """
services = ( { name = "web"; listen = "127.0.0.1:1"; handler = "http";
  http = { root = "www"; %s }; } );
""" % bad)
        r = harness.preforkd("-t", "-c", os.path.join(base, "bad.conf"))
        assert r.returncode == 1, (bad, r.stderr)
        assert b"bad.conf:" in r.stderr, (bad, r.stderr)


harness.main(globals())

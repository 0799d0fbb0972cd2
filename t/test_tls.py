"""test_tls.py - TLS under pf_conn, end to end.

Certificates are made at test time with the openssl command (a CA, a
certificate for localhost, one for a second SNI name, an expired one, a key
that matches nothing); nothing secret is committed. The server is the real
preforkd; clients are curl, openssl s_client, HAProxy and Python's ssl.
"""
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import harness
from harness import Server, config, svc, free_port, wait_until

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
INDEX = b"<p>hello over tls</p>\n"

CA_CNF = """[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = p
unique_subject = no
copy_extensions = copy
[p]
commonName = supplied
"""


def need_tools():
    if not OPENSSL:
        raise harness.Skip("the openssl command is missing (Debian: apt-get install openssl)")
    if subprocess.run([harness.PREFORKD, "-v"], stdout=subprocess.PIPE).stdout.find(
            b"TLS: not built in") >= 0:
        raise harness.Skip("preforkd was built --without-tls")


def ossl(d, *args):
    r = subprocess.run([OPENSSL] + list(args), cwd=d, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout.decode()
    return r.stdout


def make_cert(d, name, cn, san, start=None, end=None, days="2"):
    """A key and a certificate for cn signed by the test CA: NAME.key, NAME.pem."""
    ossl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=" + san)
    if start:
        ossl(d, "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
             "-in", name + ".csr", "-out", name + ".pem", "-startdate", start, "-enddate", end,
             "-notext")
    else:
        ossl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", name + ".pem", "-days", days, "-copy_extensions", "copy")
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


def make_certs(d):
    """CA, localhost (cert.pem/cert.key), other.test, expired, and a stray key."""
    harness.write(os.path.join(d, "ca.cnf"), CA_CNF)
    harness.write(os.path.join(d, "index.txt"), "")
    harness.write(os.path.join(d, "serial.txt"), "01\n")
    ossl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=prefork test CA")
    make_cert(d, "cert", "localhost", "DNS:localhost,IP:127.0.0.1")
    make_cert(d, "other", "other.test", "DNS:other.test")
    make_cert(d, "expired", "localhost", "DNS:localhost", start="20200101000000Z",
              end="20200102000000Z")
    ossl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", "stray.key")
    return os.path.join(d, "ca.pem")


def make_www(d):
    os.makedirs(os.path.join(d, "www"), exist_ok=True)
    harness.write(os.path.join(d, "www", "index.html"), INDEX.decode())
    big = bytes(random.getrandbits(8) for _ in range(300000))
    with open(os.path.join(d, "www", "big.bin"), "wb") as f:
        f.write(big)
    return big


def tls_block(cert="cert.pem", key="cert.key", extra=""):
    return 'tls = { certificate = "%s"; key = "%s"; %s };' % (cert, key, extra)


def http_block():
    return 'http = { root = "www"; access_log = "access.log"; };'


class Site:
    """preforkd with an https service (web), a TLS echo (echo) and status."""

    def __init__(self, workers=2, tls_extra="", web_kw=None, echo=True):
        need_tools()
        self.dir = harness.tmpdir()
        self.ca = make_certs(self.dir)
        self.big = make_www(self.dir)
        self.port, self.echo_port, self.status_port = free_port(), free_port(), free_port()
        self.tls_extra = tls_extra
        self.web_kw = web_kw or {}
        self.workers = workers
        self.echo = echo
        self.srv = Server(self.conf_text(), folder=self.dir)
        addrs = ["127.0.0.1:%d" % self.port]
        self.srv.start(wait_for=addrs, timeout=15.0 * harness.SLOW)
        self.srv.wait_workers(workers * (2 if echo else 1) + 1, timeout=10.0 * harness.SLOW)

    def conf_text(self, cert="cert.pem", key="cert.key"):
        services = [svc("web", "127.0.0.1:%d" % self.port, "http", workers=self.workers,
                        extra=http_block() + " " + tls_block(cert, key, self.tls_extra),
                        **self.web_kw),
                    svc("status", "127.0.0.1:%d" % self.status_port, "status", workers=1)]
        if self.echo:
            services.append(svc("echo", "127.0.0.1:%d" % self.echo_port, "echo",
                                workers=self.workers, extra=tls_block(cert, key)))
        return config(*services)

    def url(self, path="/"):
        return "https://localhost:%d%s" % (self.port, path)

    def context(self, version=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        if version:
            ctx.minimum_version = ctx.maximum_version = version
        return ctx

    def connect(self, port=None, sni="localhost", version=None, timeout=10.0):
        raw = socket.create_connection(("127.0.0.1", port or self.port), timeout=timeout)
        return self.context(version).wrap_socket(raw, server_hostname=sni)

    def status(self):
        return harness.status(self.srv)

    def service(self, name):
        return [s for s in self.status()["services"] if s["name"] == name][0]


def tls_echo(port, ca, data=b"ping\n", timeout=10.0):
    """Send data over a fresh TLS connection (verified against ca, SNI
    localhost) and read until as many bytes came back or EOF; the bytes."""
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


def curl(*args):
    if not CURL:
        raise harness.Skip("curl is missing (Debian: apt-get install curl)")
    return subprocess.run([CURL, "-sS", "--max-time", str(20 * harness.SLOW)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * harness.SLOW)


def read_response(s, head=False):
    """One HTTP/1.1 response (status, headers, body) read from socket-like s."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "closed before a response head (%r)" % buf
        buf += chunk
    raw, rest = buf.split(b"\r\n\r\n", 1)
    lines = raw.decode("latin-1").split("\r\n")
    headers = dict((l.split(":", 1)[0].lower(), l.split(":", 1)[1].strip()) for l in lines[1:])
    n = 0 if head else int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        assert chunk, "closed in a body"
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:n], rest[n:]


# ---- configuration -----------------------------------------------------------

def test_version_says_tls():
    r = harness.preforkd("-v")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "TLS: OpenSSL 3" in out or "TLS: not built in (configured --without-tls)" in out, out


def test_configtest_reports_tls_errors_with_file_and_line():
    need_tools()
    d = harness.tmpdir()
    make_certs(d)
    port = free_port()

    def conf(tls):
        return harness.write(os.path.join(d, "s.conf"), config(
            svc("web", "127.0.0.1:%d" % port, "echo", extra="\n" + tls)))

    path = conf(tls_block("cert.pem", "stray.key"))
    r = harness.preforkd("-t", "-c", path)
    assert r.returncode == 1
    assert "%s:3: tls: key '%s/stray.key' does not match certificate '%s/cert.pem'" % (
        path, d, d) in r.stderr.decode(), r.stderr

    path = conf(tls_block("nothere.pem", "cert.key"))
    r = harness.preforkd("-t", "-c", path)
    assert r.returncode == 1
    assert "%s:3: tls: certificate '%s/nothere.pem': cannot read: No such file or directory" % (
        path, d) in r.stderr.decode(), r.stderr

    path = conf(tls_block(extra='protocols = "TLSv1.2 TLSv1.5";'))
    r = harness.preforkd("-t", "-c", path)
    assert r.returncode == 1
    assert "%s:3: tls: 'protocols': unknown protocol 'TLSv1.5' (known: TLSv1.2, TLSv1.3)" % (
        path) in r.stderr.decode(), r.stderr

    # An expired certificate is a warning: the file is still OK.
    path = conf(tls_block("expired.pem", "expired.key"))
    r = harness.preforkd("-t", "-c", path)
    assert r.returncode == 0, r.stderr
    assert "%s:3: warning: tls: certificate '%s/expired.pem' has expired" % (path, d) in \
        r.stderr.decode(), r.stderr
    assert b"configuration OK" in r.stdout


# ---- serving ---------------------------------------------------------------

def test_curl_tls12_and_tls13_static_keepalive_head():
    site = Site()
    for flags, proto in ((["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2"),
                         (["--tlsv1.3"], "TLSv1.3")):
        r = curl("-v", "--cacert", site.ca, *flags, site.url("/"), site.url("/big.bin"),
                 "-o", os.path.join(site.dir, "a.out"), "-o", os.path.join(site.dir, "b.out"))
        err = r.stderr.decode()
        assert r.returncode == 0, err
        assert "SSL connection using %s" % proto in err, err
        assert "ALPN: server accepted http/1.1" in err, err
        # Both requests on one connection: keep-alive over TLS.
        assert "Re-using existing connection" in err, err
        assert open(os.path.join(site.dir, "a.out"), "rb").read() == INDEX
        assert open(os.path.join(site.dir, "b.out"), "rb").read() == site.big
        r = curl("-I", "--cacert", site.ca, *flags, site.url("/"))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(b"HTTP/1.1 200 OK"), r.stdout
        assert b"Content-Length: %d" % len(INDEX) in r.stdout
    log = wait_until(lambda: harness.read_text(os.path.join(site.dir, "access.log")).count("\n")
                     >= 6 and harness.read_text(os.path.join(site.dir, "access.log")),
                     10.0, what="six access log lines")
    lines = log.splitlines()
    assert lines[0].endswith('"GET / HTTP/1.1" 200 %d TLSv1.2' % len(INDEX)), lines
    assert lines[-1].endswith('"HEAD / HTTP/1.1" 200 0 TLSv1.3'), lines


def test_pipelined_requests_over_tls():
    site = Site(workers=1)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        s = site.connect(version=version)
        req = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        s.sendall(req * 3 + b"HEAD /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        rest = b""

        class Buffered:
            def recv(self, n):
                nonlocal rest
                if rest:
                    out, rest = rest, b""
                    return out
                return s.recv(n)
        b = Buffered()
        for _ in range(3):
            code, headers, body, rest = read_response(b)
            assert code == 200 and body == INDEX, (code, body)
        code, headers, body, rest = read_response(b, head=True)
        assert code == 200 and headers["content-length"] == str(len(site.big)), headers
        s.close()


def test_pf_conn_tls_tells_the_handler_and_sendfile_fallback_is_reported():
    site = Site(workers=1)
    s = site.connect()
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
    code, _, body, _ = read_response(s)
    assert code == 200 and body == site.big
    # The worker shows the connection's protocol while it holds it.
    st = site.service("web")
    assert st["tls"]["sendfile"] in ("read+write", "ktls"), st
    busy = [w for w in st["workers"] if w["tls"]]
    assert busy and busy[0]["tls"] == "TLSv1.3", st
    assert st["tls"]["handshakes"] >= 1, st
    s.close()
    text = harness.status_text(site.srv)
    assert "web tls handshakes=" in text, text
    assert "sendfile=read+write" in text or "sendfile=ktls" in text, text
    out = site.srv.output()
    assert "service web: TLS; sendfile path: " in out, out


def test_echo_through_openssl_s_client():
    site = Site(workers=1)
    p = subprocess.Popen([OPENSSL, "s_client", "-quiet", "-no_ign_eof", "-verify_return_error",
                          "-CAfile",
                          site.ca, "-servername", "localhost", "-connect",
                          "127.0.0.1:%d" % site.echo_port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    harness._procs.append(p)
    p.stdin.write(b"hello through tls\n")
    p.stdin.flush()
    line = p.stdout.readline()
    assert line == b"hello through tls\n", (line, p.stderr.read1(4096) if p.poll() else b"")
    p.stdin.close()
    p.wait(timeout=10 * harness.SLOW)


def test_sni_picks_the_certificate():
    site = Site(workers=1, tls_extra='certificates = ( { certificate = "other.pem"; '
                                      'key = "other.key"; } );')
    for sni, cn in (("localhost", "localhost"), ("other.test", "other.test"),
                    ("unknown.test", "localhost")):
        raw = socket.create_connection(("127.0.0.1", site.port), timeout=10)
        ctx = site.context()
        ctx.check_hostname = False
        s = ctx.wrap_socket(raw, server_hostname=sni)
        subject = dict(x[0] for x in s.getpeercert()["subject"])
        assert subject["commonName"] == cn, (sni, subject)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_response(s)[0] == 200
        s.close()


def s_client(*args, input=b"", timeout=20):
    """openssl s_client, reading until the server closes (-ign_eof): without
    it, s_client may quit at the end of its input before a TLS 1.3 ticket
    arrives."""
    return subprocess.run([OPENSSL, "s_client", "-ign_eof"] + list(args), input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout * harness.SLOW)


def test_old_protocols_and_renegotiation_refused():
    site = Site(workers=1, echo=False)
    for flag in ("-tls1", "-tls1_1"):
        r = s_client("-connect", "127.0.0.1:%d" % site.port, flag, "-cipher",
                     "DEFAULT:@SECLEVEL=0")
        out = r.stdout.decode("latin-1")
        assert r.returncode != 0, out
        assert "Cipher is (NONE)" in out or "no protocols available" in out or \
            "alert protocol version" in out, out
    # A client-initiated renegotiation ("R" on s_client's input) gets no new handshake.
    p = subprocess.Popen([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % site.port,
                          "-tls1_2", "-CAfile", site.ca],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    harness._procs.append(p)
    p.stdin.write(b"R\n")
    p.stdin.flush()
    time.sleep(0.3 * harness.SLOW)
    try:
        p.stdin.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        p.stdin.close()
    except BrokenPipeError:
        pass
    out = p.stdout.read().decode("latin-1")
    p.wait(timeout=20 * harness.SLOW)
    assert "RENEGOTIATING" in out, out
    assert "no renegotiation" in out or "HTTP/1.1 200" not in out, out
    assert site.service("web")["tls"]["handshakes"] >= 1


def test_plain_text_to_a_tls_port_is_closed():
    site = Site(workers=1, echo=False)
    s = harness.connect("127.0.0.1:%d" % site.port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.settimeout(10)
    data = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except ConnectionResetError:
        pass
    assert not data.startswith(b"HTTP"), data
    assert len(data) < 64, data         # at most a TLS alert
    wait_until(lambda: site.service("web")["tls"]["handshake_failures"] >= 1, 10.0,
               what="the failed handshake counted")


def client_hello():
    """The first flight of a real TLS client, as bytes."""
    out = []
    inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(inc, outb, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    out.append(outb.read())
    return b"".join(out)


def test_trickled_client_hello_is_cut_at_read_timeout():
    # Under valgrind a whole handshake takes longer than a second.
    rt = 1.0 if not harness.VALGRIND else 5.0
    site = Site(workers=1, echo=False, web_kw={"read_timeout": rt})
    hello = client_hello()
    s = harness.connect("127.0.0.1:%d" % site.port)
    t0 = time.monotonic()
    closed_at = None
    for i in range(len(hello)):
        try:
            s.sendall(hello[i:i + 1])
        except OSError:
            closed_at = time.monotonic()
            break
        time.sleep(0.1 * rt)
        try:
            s.setblocking(False)
            if s.recv(4096) == b"":
                closed_at = time.monotonic()
                break
        except BlockingIOError:
            pass
        except OSError:
            closed_at = time.monotonic()
            break
        finally:
            s.setblocking(True)
        if time.monotonic() - t0 > 10 * harness.SLOW:
            break
    assert closed_at is not None, "a trickled ClientHello held the worker %.1fs" % (
        time.monotonic() - t0)
    took = closed_at - t0
    assert 0.9 * rt <= took <= rt + 2.0 * harness.SLOW, took
    # The worker is free again.
    s2 = site.connect()
    s2.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert read_response(s2)[0] == 200


def test_session_resumed_by_another_worker():
    site = Site(workers=2, echo=False)
    sess = os.path.join(site.dir, "sess.pem")
    for proto in ("-tls1_2", "-tls1_3"):
        r = s_client("-connect", "127.0.0.1:%d" % site.port, proto, "-CAfile", site.ca,
                     "-sess_out", sess, input=b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                                           b"Connection: close\r\n\r\n")
        out = r.stdout.decode("latin-1")
        assert "\nNew, " in out, out
        # Every worker that could have seen it is replaced: new processes resume it.
        old = site.srv.workers()
        web = [w["pid"] for w in site.service("web")["workers"]]
        for pid in web:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: len([w for w in site.service("web")["workers"]
                                if w["pid"] not in web and w["state"] == "idle"]) == 2,
                   10.0 * harness.SLOW, what="two new web workers")
        assert old
        for _ in range(3):
            r = s_client("-connect", "127.0.0.1:%d" % site.port, proto, "-CAfile", site.ca,
                         "-sess_in", sess, input=b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                                                 b"Connection: close\r\n\r\n")
            out = r.stdout.decode("latin-1")
            assert "\nReused, " in out, out
    assert site.service("web")["tls"]["resumed"] >= 6


def served_cert(site):
    s = site.connect()
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


def pem_der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def test_reload_with_renewed_certificate_under_load():
    site = Site(workers=2, echo=False)
    old = pem_der(os.path.join(site.dir, "cert.pem"))
    assert served_cert(site) == old
    failures, done = [], [0]
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                s = site.connect()
                s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                code, _, body, _ = read_response(s)
                s.close()
                if code != 200 or body != INDEX:
                    failures.append(code)
                done[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                failures.append(repr(e))
    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: done[0] >= 20, 20 * harness.SLOW, what="requests before reload")
        make_cert(site.dir, "renewed", "localhost", "DNS:localhost,IP:127.0.0.1")
        harness.rewrite(site.srv, site.conf_text("renewed.pem", "renewed.key"))
        r = harness.preforkd("-c", site.srv.conf, "-s", "reload", timeout=60 * harness.SLOW)
        assert r.returncode == 0, r
        n = done[0]
        wait_until(lambda: done[0] >= n + 20, 20 * harness.SLOW, what="requests after reload")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [], failures[:5]
    assert done[0] >= 40
    new = pem_der(os.path.join(site.dir, "renewed.pem"))
    assert new != old
    assert served_cert(site) == new


def test_bad_certificate_on_reload_keeps_the_old_one():
    site = Site(workers=1, echo=False)
    old = served_cert(site)
    harness.rewrite(site.srv, site.conf_text("cert.pem", "stray.key"))
    r = harness.preforkd("-c", site.srv.conf, "-s", "reload", timeout=60 * harness.SLOW)
    assert r.returncode == 1, r
    assert b"does not match certificate" in r.stdout + r.stderr, r
    assert served_cert(site) == old
    assert "reload failed: %s:" % site.srv.conf in site.srv.output()


def test_proxy_v2_before_tls_through_haproxy():
    haproxy = None
    for cand in (shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if cand and os.access(cand, os.X_OK):
            haproxy = cand
            break
    if not haproxy:
        raise harness.Skip("haproxy not found (Debian: apt-get install haproxy)")
    site = Site(workers=1, echo=False, web_kw={"proxy_protocol": True})
    front = free_port()
    cfg = harness.write(os.path.join(site.dir, "haproxy.cfg"), """global
    maxconn 50
defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server web 127.0.0.1:%d send-proxy-v2
""" % (front, site.port))
    hlog = open(os.path.join(site.dir, "haproxy.log"), "wb")
    hp = harness.spawn([haproxy, "-db", "-f", cfg], stdout=hlog, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: hp.poll() is not None or harness.can_connect("127.0.0.1:%d" % front),
                   10.0, what="haproxy")
        assert hp.poll() is None, harness.read_text(os.path.join(site.dir, "haproxy.log"))
        # The client comes from 127.0.0.2; haproxy reaches preforkd from 127.0.0.1.
        raw = socket.create_connection(("127.0.0.1", front), timeout=10,
                                       source_address=("127.0.0.2", 0))
        s = site.context().wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        code, _, body, _ = read_response(s)
        assert code == 200 and body == INDEX
        s.close()
        log = wait_until(lambda: harness.read_text(os.path.join(site.dir, "access.log")),
                         10.0, what="the access log line")
        assert log.startswith("127.0.0.2 "), log
        assert log.rstrip().endswith(" TLSv1.3"), log
    finally:
        hp.terminate()
        try:
            hp.wait(timeout=5)
        except subprocess.TimeoutExpired:
            hp.kill()


def test_garbage_and_truncated_handshakes_never_crash_a_worker():
    site = Site(workers=2, echo=True)
    pids = sorted(site.srv.workers())
    hello = client_hello()
    rnd = random.Random(14)
    for i in range(60):
        port = site.port if i % 2 else site.echo_port
        s = harness.connect("127.0.0.1:%d" % port)
        kind = i % 4
        if kind == 0:
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
        elif kind == 1:
            data = hello[:rnd.randint(1, len(hello) - 1)]
        elif kind == 2:
            # A valid record header announcing more than ever comes.
            data = b"\x16\x03\x01\x40\x00" + hello[5:40]
        else:
            data = hello + bytes(rnd.getrandbits(8) for _ in range(200))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    assert sorted(site.srv.workers()) == pids
    st = site.service("web")["tls"]
    assert st["handshake_failures"] >= 30, st
    assert "crash" not in site.srv.output().lower()
    s = site.connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert read_response(s)[0] == 200


def test_http_app_module_over_tls():
    need_tools()
    d = harness.tmpdir()
    ca = make_certs(d)
    make_www(d)
    port = free_port()
    srv = Server(config(svc("api", "127.0.0.1:%d" % port, "json_app", workers=1,
                            module=harness.module("json_app"),
                            extra='json_app = { greeting = "hi"; }; '
                                  'http = { root = "www"; mount = "/api"; }; ' + tls_block())),
                 folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % port], timeout=15.0 * harness.SLOW)
    url = "https://localhost:%d" % port
    r = curl("--cacert", ca, "--tlsv1.2", "--tls-max", "1.2", url + "/api/hello?name=tls")
    assert r.returncode == 0, r.stderr
    assert b'"greeting": "hi"' in r.stdout and b'"name": "tls"' in r.stdout, r.stdout
    r = curl("--cacert", ca, "--tlsv1.3", "-d", "[1, 2.5, 3]", url + "/api/sum")
    assert r.returncode == 0, r.stderr
    assert b'"sum": 6.5' in r.stdout, r.stdout
    r = curl("--cacert", ca, url + "/index.html")
    assert r.returncode == 0 and r.stdout == INDEX, r


# ---- prefork-client --tls ------------------------------------------------------

def test_client_tls_one_shot_http_echo_sni_and_verification():
    harness.need_client()
    site = Site(workers=1, tls_extra='certificates = ( { certificate = "other.pem"; '
                                      'key = "other.key"; } );')
    r = harness.client("--tls", "--cacert", site.ca, "--http", "/", "localhost:%d" % site.port)
    assert r.returncode == 0 and r.stdout == INDEX, r
    r = harness.client("-v", "--tls", "--cacert", site.ca, "-m", "hello tls",
                       "127.0.0.1:%d" % site.echo_port)
    assert r.returncode == 0 and r.stdout == b"hello tls", r
    assert b"TLS handshake = TLSv1.3 " in r.stderr, r.stderr
    # The name sent and checked is --sni: other.test gets its own certificate.
    r = harness.client("-v", "--tls", "--cacert", site.ca, "--sni", "other.test", "--http", "/",
                       "127.0.0.1:%d" % site.port)
    assert r.returncode == 0 and r.stdout == INDEX, r
    assert b"ALPN http/1.1" in r.stderr, r.stderr
    # A name the certificate does not carry fails verification, unless --insecure.
    r = harness.client("--tls", "--cacert", site.ca, "--sni", "nobody.test", "--http", "/",
                       "127.0.0.1:%d" % site.port)
    assert r.returncode == 1, r
    assert b"handshake 127.0.0.1:%d: certificate verify failed" % site.port in r.stderr, r
    r = harness.client("--tls", "--insecure", "--sni", "nobody.test", "--http", "/",
                       "127.0.0.1:%d" % site.port)
    assert r.returncode == 0 and r.stdout == INDEX, r
    r = harness.client("--cacert", site.ca, "--http", "/", "127.0.0.1:%d" % site.port)
    assert r.returncode == 2 and b"need --tls" in r.stderr, r


def test_client_tls_load_mode_reports_handshakes_apart():
    harness.need_client()
    site = Site(workers=2)
    r = harness.client("--tls", "--cacert", site.ca, "--http", "/", "-c", "4", "-n", "200",
                       "localhost:%d" % site.port, timeout=120 * harness.SLOW)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr)
    assert "errors      0 " in out, out
    assert "handshakes  200  (TLS, not in the latency above)" in out, out
    assert "handshake p50 p90 p99 max" in out, out
    r = harness.client("--tls", "--cacert", site.ca, "-k", "--json", "-c", "2", "-n", "300",
                       "localhost:%d" % site.echo_port, timeout=120 * harness.SLOW)
    assert r.returncode == 0, r
    import json
    j = json.loads(r.stdout)
    assert j["errors"] == 0 and j["requests"] == 300, j
    assert j["handshakes"] == j["connects"] <= 300, j
    assert j["handshake_ms"]["p50"] > 0, j
    st = site.service("echo")["tls"]
    assert st["handshakes"] >= j["handshakes"], (st, j)


if __name__ == "__main__":
    harness.main(globals())

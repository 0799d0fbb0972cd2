"""test_tls_readline.py - pf_conn_readline over TLS, with examples/kv-server.

kv-server reads one command per line with pf_conn_readline (512 bytes at
most, then "ERROR line too long" and close). Over a tls service the lines
arrive in TLS records cut anywhere: a line split over many records, many
lines in one record, an overlong line in one record and over several, and
the end of input in the middle of a line (the last line is still served).
"""
import os
import socket
import ssl
import subprocess

import harness
from harness import free_port
import test_tls as tt

B = harness.BUILDDIR


class KvTls:
    """examples/kv-server with one TLS service; connections through Python's ssl."""

    def __init__(self):
        tt.need_tools()
        self.exe = os.path.join(B, "examples", "kv-server")
        if not os.path.exists(self.exe):
            raise harness.Skip("examples/kv-server is not built")
        self.dir = harness.tmpdir()
        self.ca = tt.make_certs(self.dir)
        self.port = free_port()
        conf = harness.write(os.path.join(self.dir, "kv.conf"), (
            'shutdown_timeout = 5.0;\nerror_log = "%s/kv.log";\n'
            'services = ( { name = "k"; listen = "127.0.0.1:%d"; handler = "kv"; '
            'workers = 1; %s } );\n') % (self.dir, self.port, tt.tls_block()))
        self.proc = harness.spawn([self.exe, "-c", conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        harness.wait_until(self.ready, 15 * harness.SLOW, what="kv-server over TLS")

    def ready(self):
        try:
            self.connect().close()
            return True
        except (OSError, ssl.SSLError):
            return False

    def connect(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10 * harness.SLOW)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        return s

    def stop(self):
        self.proc.send_signal(15)
        try:
            self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def records(s, *pieces):
    """Each piece in its own TLS record (one SSL_write each)."""
    for p in pieces:
        s.sendall(p)


def lines(f, n):
    return [f.readline() for _ in range(n)]


def read_to_end(s):
    out = b""
    while True:
        try:
            b = s.recv(4096)
        except (ssl.SSLEOFError, ConnectionResetError):
            return out
        if not b:
            return out
        out += b


def with_kv(fn):
    kv = KvTls()
    try:
        fn(kv)
    finally:
        kv.stop()


def test_lines_split_across_records_and_many_in_one():
    def body(kv):
        s = kv.connect()
        f = s.makefile("rb")
        records(s, b"SET greeting hel", b"lo wor", b"ld\nGET greeting\r\nGET nope\n")
        assert lines(f, 3) == [b"OK\n", b"VALUE hello world\n", b"NOT_FOUND\n"]
        # One byte per record.
        records(s, *[bytes([c]) for c in b"GET greeting\n"])
        assert lines(f, 1) == [b"VALUE hello world\n"]
        # Many lines in one record, and the longest value kv takes in pieces.
        value = b"v" * 255
        records(s, b"SET a 1\nSET b 2\nGET a\nGET b\n", b"SET long ", value[:100], value[100:],
                b"\nGET long\n")
        assert lines(f, 6) == [b"OK\n", b"OK\n", b"VALUE 1\n", b"VALUE 2\n", b"OK\n",
                               b"VALUE " + value + b"\n"]
        s.close()
    with_kv(body)


def test_overlong_line_in_one_record_and_over_several():
    def body(kv):
        s = kv.connect()
        records(s, b"SET k " + b"x" * 600 + b"\n")
        assert read_to_end(s) == b"ERROR line too long\n"   # then closed
        s.close()
        # Over several records: no single one is too long, together they are.
        # (Nothing is sent past the record that makes the line too long: the
        # server reads every byte before it closes, so no reset races the answer.)
        s = kv.connect()
        records(s, b"GET " + b"y" * 196, b"y" * 200, b"y" * 200)
        assert read_to_end(s) == b"ERROR line too long\n"
        s.close()
        # The worker lives on.
        s = kv.connect()
        records(s, b"SET after 1\nGET after\n")
        assert lines(s.makefile("rb"), 2) == [b"OK\n", b"VALUE 1\n"]
        s.close()
    with_kv(body)


def test_end_of_input_mid_line_serves_the_last_line():
    def body(kv):
        s = kv.connect()
        records(s, b"SET last 42\nGET la", b"st")
        # The client's end of input (a FIN under TLS, without close_notify),
        # while its own side still reads the answers.
        raw = socket.socket(fileno=os.dup(s.fileno()))
        raw.shutdown(socket.SHUT_WR)
        raw.close()
        assert read_to_end(s) == b"OK\nVALUE 42\n"
        s.close()
    with_kv(body)


harness.main(globals())

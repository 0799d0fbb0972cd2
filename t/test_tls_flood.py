"""test_tls_flood.py - the TLS handshake is flood-aware like a plain first read.

A client that connects to a TLS port and sends nothing, or trickles its
ClientHello, holds a worker for the handshake. With other clients queued and
no worker free it gives the worker up after the silence grace (0.5 s), as a
silent plain connection does; read_timeout (30 s here) still bounds the
handshake as a whole. workers = 2 throughout, so two stalled handshakes
would otherwise hold the whole pool.
"""
import select
import ssl
import threading
import time

import harness
from harness import Server, config, svc, free_port, wait_until
import test_tls as tt

READ_TIMEOUT = 30.0
PROMPT = 5.0            # served within this (read_timeout without the feature)


def tls_echo_site(workers=2):
    tt.need_tools()
    d = harness.tmpdir()
    ca = tt.make_certs(d)
    port = free_port()
    srv = Server(config(svc("echo", "127.0.0.1:%d" % port, "echo", workers=workers,
                            read_timeout=READ_TIMEOUT, extra=tt.tls_block())), folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % port], timeout=15.0 * harness.SLOW)
    srv.wait_workers(workers, timeout=10.0 * harness.SLOW)
    return srv, port, ca


def tls_echo(port, ca, data=b"hello\n", timeout=None):
    """One echo over a fresh TLS connection; seconds it took."""
    t0 = time.monotonic()
    got = tt.tls_echo(port, ca, data, timeout or READ_TIMEOUT + 10 * harness.SLOW)
    assert got == data, got
    return time.monotonic() - t0


def busy_workers(srv, n):
    """Wait until n workers of the pool hold a connection."""
    def busy():
        return harness.status(srv)["services"][0]["busy"] >= n
    wait_until(busy, 10 * harness.SLOW, what="%d busy workers" % n)


def test_silent_connections_do_not_hold_the_pool_from_a_tls_client():
    srv, port, ca = tls_echo_site()
    silent = [harness.connect("127.0.0.1:%d" % port) for _ in range(6)]
    busy_workers(srv, 2)
    took = tls_echo(port, ca)
    assert took < PROMPT * harness.SLOW, "a TLS client waited %.1fs behind silent ones" % took
    # The silent ones ahead of it were given up (closed without a byte); the
    # last ones may hold a worker now that nobody queues behind them.
    closed = set()

    def count_closed():
        for i, s in enumerate(silent):
            if i not in closed and select.select([s], [], [], 0)[0]:
                assert harness.closed_without_a_byte(s, timeout=1.0)
                closed.add(i)
        return len(closed) >= len(silent) - 2
    wait_until(count_closed, PROMPT * harness.SLOW, what="silent connections closed")
    assert harness.status(srv)["services"][0]["tls"]["handshake_failures"] >= 2


def test_tricklers_do_not_hold_the_pool_from_a_tls_client():
    srv, port, ca = tls_echo_site()
    hello = tt.client_hello()
    stop = threading.Event()
    cut = []

    def trickle():
        s = harness.connect("127.0.0.1:%d" % port)
        try:
            for i in range(len(hello)):
                if stop.is_set():
                    return
                s.sendall(hello[i:i + 1])
                time.sleep(0.05)    # the hostile client's pace, not a wait for readiness
        except OSError:
            cut.append(time.monotonic())
        finally:
            s.close()

    threads = [threading.Thread(target=trickle) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        busy_workers(srv, 2)
        took = tls_echo(port, ca)
        assert took < PROMPT * harness.SLOW, "a TLS client waited %.1fs behind tricklers" % took
    finally:
        stop.set()
        for t in threads:
            t.join(30)


def test_a_slow_handshake_keeps_its_worker_while_one_is_free():
    # Silent for longer than the grace, but a worker stays idle: nobody waits,
    # so the handshake goes on (read_timeout bounds it) and succeeds.
    srv, port, ca = tls_echo_site()
    raw = harness.connect("127.0.0.1:%d" % port, timeout=READ_TIMEOUT)
    busy_workers(srv, 1)
    time.sleep(1.0)     # the silence under test (twice the grace)
    ctx = ssl.create_default_context(cafile=ca)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"late\n")
        assert s.recv(16) == b"late\n"


harness.main(globals())

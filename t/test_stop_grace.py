"""test_stop_grace.py - a worker told to stop while a request waits for its
client: each wait inside the request gets a short grace (1 s, or half of
what is left of shutdown_timeout) instead of read_timeout, so a stalled
body ends in a 408, the worker runs fini and exits long before
shutdown_timeout; a body whose bytes keep coming is finished and answered.
(A raw connection outside a request keeps waiting: test_stop.py.)"""
import os
import signal
import time

import harness
from harness import SLOW, HttpConn as Conn


def start(workers=1):
    port = harness.free_port()
    d = harness.tmpdir()
    fdir = os.path.join(d, "fini")
    os.mkdir(fdir)
    conf = ('shutdown_timeout = 20.0;\nservices = ({ name = "app"; listen = "127.0.0.1:%d";\n'
            '  handler = "httpmod"; module = "%s"; workers = %d; read_timeout = 30.0;\n'
            '  httpmod = { fini_dir = "%s"; };\n'
            '  http = { mount = "/api"; body_timeout = 60.0; };\n});\n'
            % (port, harness.module("httpmod"), workers, fdir))
    srv = harness.Server(conf, folder=d)
    addr = "127.0.0.1:%d" % port
    srv.start(wait_for=[addr])
    srv.wait_workers(workers)
    return srv, addr, fdir


def busy(srv):
    def find():
        doc = harness.status(srv, timeout=10)
        return any(w["state"] == "busy" for s in doc["services"] for w in s["workers"]) or None
    harness.wait_until(find, 10 * SLOW, what="a busy worker in the status")


def post_head(length, piece):
    return (b"POST /api/echo?1 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % length) + piece


def test_stalled_body_during_graceful_stop_gets_a_short_grace():
    srv, addr, fdir = start()
    c = Conn(addr, timeout=30)
    c.send(post_head(100, b"0123456789"))
    busy(srv)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    r = c.read_response()
    waited = time.monotonic() - t0
    assert r.status == 408, r
    assert r.headers.get("connection") == "close", r
    # read_timeout is 30 s and shutdown_timeout 20 s: only the grace ends it this soon.
    assert waited < 3 * SLOW, "the request waited %.2fs after the stop" % waited
    assert srv.wait_exit(timeout=30) == 0
    assert time.monotonic() - t0 < 10 * SLOW, "the master waited for shutdown_timeout"
    # The worker exited by itself (not SIGKILLed): fini ran.
    assert len(os.listdir(fdir)) == 1, os.listdir(fdir)
    c.close()


def test_trickling_body_during_graceful_stop_is_finished():
    srv, addr, fdir = start()
    c = Conn(addr, timeout=30)
    body = b"abcdefghijkl"
    c.send(post_head(len(body), body[:2]))
    busy(srv)
    srv.signal(signal.SIGTERM)
    # Each byte comes well within the grace, over longer than the grace in all.
    for i in range(2, len(body)):
        time.sleep(0.25)
        c.send(body[i:i + 1])
    r = c.read_response()
    assert r.status == 200 and r.body == body, r
    assert r.headers.get("connection") == "close", r
    assert srv.wait_exit(timeout=30) == 0
    assert len(os.listdir(fdir)) == 1, os.listdir(fdir)
    c.close()


def test_grace_is_half_of_a_short_shutdown_timeout():
    """shutdown_timeout = 1: the stalled request gets 0.5 s, so the worker
    still answers and runs fini before the master's SIGKILL."""
    srv, addr, fdir = start()
    text = open(srv.conf).read().replace("shutdown_timeout = 20.0;", "shutdown_timeout = 1.0;")
    harness.rewrite(srv, text)
    old = srv.workers()
    srv.signal(signal.SIGHUP)
    harness.wait_until(lambda: (lambda k: k if k and not set(k) & set(old) else None)(
        srv.workers()), 20 * SLOW, what="the new generation")
    srv.wait_workers(1)
    c = Conn(addr, timeout=30)
    c.send(post_head(100, b"0123456789"))
    busy(srv)
    srv.signal(signal.SIGTERM)
    r = c.read_response()
    assert r.status == 408, r
    assert srv.wait_exit(timeout=30) == 0
    # Both generations ran fini: the old one on the reload, the new one on the stop.
    assert len(os.listdir(fdir)) == 2, (os.listdir(fdir), srv.output())
    c.close()


harness.main(globals())

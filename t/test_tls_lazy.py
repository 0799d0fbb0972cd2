"""test_tls_lazy.py - OpenSSL is loaded only when a service uses TLS.

preforkd is not linked with libssl: the master loads it (dlopen) in the
start-up or reload transaction that first has a tls block, before workers
fork. Seen from outside through /proc/PID/maps: without a tls block neither
the master nor a worker maps libssl or libcrypto; with one, both do; a reload
that adds a tls block maps it then and serves TLS. The master also makes one
in-memory handshake per certificate (tls_warm.c) so that workers inherit
what OpenSSL builds lazily on a first handshake; it is not counted.
"""
import os

import harness
from harness import Server, config, svc, free_port, wait_until
import test_tls as tt


def maps_openssl(pid):
    """The OpenSSL libraries process pid maps (a set of file names)."""
    found = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            name = os.path.basename(line.split()[-1]) if len(line.split()) >= 6 else ""
            if name.startswith("libssl.so") or name.startswith("libcrypto.so"):
                found.add(name.split(".so")[0])
    return found


def pool_pids(srv):
    pids = [srv.pid] + list(srv.workers())
    assert len(pids) >= 3, pids
    return pids


def tls_echo_once(port, ca, data=b"ping\n"):
    return tt.tls_echo(port, ca, data, 10 * harness.SLOW)


def test_without_tls_no_process_maps_openssl():
    if harness.VALGRIND:
        raise harness.Skip("valgrind maps its own libraries")
    srv, addr = harness.start_echo(workers=2)
    assert harness.echo_once(addr) == b"ping"
    for pid in pool_pids(srv):
        assert maps_openssl(pid) == set(), (pid, maps_openssl(pid))


def test_tls_block_maps_openssl_in_master_and_workers():
    tt.need_tools()
    d = harness.tmpdir()
    ca = tt.make_certs(d)
    port = free_port()
    srv = Server(config(svc("echo", "127.0.0.1:%d" % port, "echo", workers=2,
                            extra=tt.tls_block())), folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % port], timeout=15.0 * harness.SLOW)
    srv.wait_workers(2, timeout=10.0 * harness.SLOW)
    assert tls_echo_once(port, ca) == b"ping\n"
    for pid in pool_pids(srv):
        assert maps_openssl(pid) == {"libssl", "libcrypto"}, (pid, maps_openssl(pid))


def test_reload_adding_a_tls_block_loads_openssl_then():
    tt.need_tools()
    d = harness.tmpdir()
    ca = tt.make_certs(d)
    plain, port = free_port(), free_port()
    first = svc("plain", "127.0.0.1:%d" % plain, "echo", workers=1)
    srv = Server(config(first), folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % plain], timeout=15.0 * harness.SLOW)
    srv.wait_workers(1, timeout=10.0 * harness.SLOW)
    assert maps_openssl(srv.pid) == set()
    # A bad tls block fails the reload: nothing changes, no TLS port opens.
    harness.rewrite(srv, config(first, svc("sec", "127.0.0.1:%d" % port, "echo", workers=1,
                                           extra=tt.tls_block("cert.pem", "stray.key"))))
    r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60 * harness.SLOW)
    assert r.returncode == 1 and b"does not match certificate" in r.stdout + r.stderr, r
    assert not harness.can_connect("127.0.0.1:%d" % port)
    assert harness.echo_once("127.0.0.1:%d" % plain) == b"ping"
    # A good one: the master loads OpenSSL in the transaction; TLS is served.
    harness.rewrite(srv, config(first, svc("sec", "127.0.0.1:%d" % port, "echo", workers=1,
                                           extra=tt.tls_block())))
    r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60 * harness.SLOW)
    assert r.returncode == 0, r
    wait_until(lambda: harness.can_connect("127.0.0.1:%d" % port), 15 * harness.SLOW,
               what="the TLS port")
    assert tls_echo_once(port, ca) == b"ping\n"
    assert harness.echo_once("127.0.0.1:%d" % plain) == b"ping"
    if not harness.VALGRIND:
        assert maps_openssl(srv.pid) == {"libssl", "libcrypto"}


def test_master_warms_up_every_certificate_and_does_not_count_it():
    tt.need_tools()
    d = harness.tmpdir()
    ca = tt.make_certs(d)
    port = free_port()
    extra = tt.tls_block(extra='certificates = ( { certificate = "other.pem"; '
                               'key = "other.key"; } );')
    srv = Server(config(svc("echo", "127.0.0.1:%d" % port, "echo", workers=1, extra=extra),
                        log_level="debug"), folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % port], timeout=15.0 * harness.SLOW)
    srv.wait_workers(1, timeout=10.0 * harness.SLOW)
    # The start-up's load logs before log_level applies: a reload logs it.
    r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60 * harness.SLOW)
    assert r.returncode == 0, r
    for cert in ("cert.pem", "other.pem"):
        line = "warm-up handshake with '%s': done" % os.path.join(d, cert)
        wait_until(lambda: line in srv.output(), 10 * harness.SLOW, what=line)
    srv.wait_workers(1, timeout=10.0 * harness.SLOW)
    st = harness.status(srv)["services"][0]["tls"]
    assert st["handshakes"] == 0, st   # (the readiness probe's connect is a failed one)
    assert tls_echo_once(port, ca) == b"ping\n"
    wait_until(lambda: harness.status(srv)["services"][0]["tls"]["handshakes"] == 1, 5,
               what="one counted handshake")


harness.main(globals())

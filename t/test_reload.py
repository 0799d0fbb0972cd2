"""test_reload.py - SIGHUP and `-s reload`: a valid change starts a new
generation on the same listening sockets; an invalid file, a port taken by
someone else or a handler whose init fails leaves the old generation
serving untouched; services come and go; reloads under load lose no
request; at most two generations live at once."""
import functools
import json
import os
import re
import signal
import threading
import time

import harness
from harness import SLOW, config, listen_inode, rewrite, socket_inodes, start_server, status, svc


def outcomes(srv):
    out = srv.output()
    return len(re.findall(r"reload succeeded", out)), len(re.findall(r"reload failed", out))


def sighup_and_wait(srv, timeout=20):
    """Send SIGHUP, wait for the reload's outcome in the log; True when it succeeded."""
    ok0, bad0 = outcomes(srv)
    srv.signal(signal.SIGHUP)
    ok, bad = harness.wait_until(lambda: (lambda o: o if o != (ok0, bad0) else None)(outcomes(srv)),
                                 timeout, what="the outcome of the reload in the log")
    return ok > ok0


# An echo exchange may take up to 10 s here.
echo_once = functools.partial(harness.echo_once, timeout=10)


def test_reload_applies_new_worker_count_on_the_same_listening_socket():
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = start_server(config(svc("echo", addr, workers=2)), 2, [addr])
    old = srv.workers()
    inode = listen_inode(port)
    assert inode in socket_inodes(srv.pid)
    assert all(inode in socket_inodes(k) for k in old)
    rewrite(srv, config(svc("echo", addr, workers=3)))
    assert sighup_and_wait(srv), srv.output()
    new = srv.wait_workers(3)
    assert not set(new) & set(old), "old workers still there: %s / %s" % (old, new)
    assert listen_inode(port) == inode, "the listening socket was replaced"
    assert inode in socket_inodes(srv.pid)
    assert all(inode in socket_inodes(k) for k in new)
    assert echo_once(addr, b"gen 2") == b"gen 2"
    gens = {w["generation"] for w in status(srv)["services"][0]["workers"]}
    assert len(gens) == 1 and gens != {1}, gens


def test_reload_with_invalid_file_keeps_the_old_generation():
    srv, addr = harness.start_echo(2)
    old = srv.workers()
    rewrite(srv, 'services = (\n  { name = "echo"; listen = "%s"; handler = "echo";\n'
                 '    wokers = 3; }\n);\n' % addr)
    assert not sighup_and_wait(srv)
    assert "reload failed: %s:3: unknown key 'wokers'" % srv.conf in srv.output(), srv.output()
    assert srv.wait_workers(2) == old
    assert echo_once(addr, b"still old") == b"still old"
    # A syntax error too.
    rewrite(srv, 'services = ( { name = "echo" \n')
    assert not sighup_and_wait(srv)
    assert re.search(r"reload failed: %s:\d+: " % re.escape(srv.conf), srv.output())
    assert srv.wait_workers(2) == old
    assert echo_once(addr, b"still old") == b"still old"


def test_s_reload_exits_0_once_the_new_generation_serves_and_1_with_the_reason():
    srv, addr = harness.start_echo(2)
    old = srv.workers()
    rewrite(srv, config(svc("echo", addr, workers=3)))
    r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60)
    assert r.returncode == 0, r
    # When -s reload returns, the new generation already serves.
    doc = status(srv)
    fresh = [w for w in doc["services"][0]["workers"]
             if w["pid"] not in old and w["state"] in ("idle", "busy")]
    assert len(fresh) == 3, doc
    srv.wait_workers(3)
    mid = srv.workers()
    rewrite(srv, config(svc("echo", addr, workers=2, backlog=-5)))
    r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60)
    assert r.returncode == 1, r
    err = r.stderr.decode()
    assert srv.conf in err and "backlog" in err, err
    assert srv.wait_workers(3) == mid
    assert echo_once(addr, b"ok") == b"ok"


def test_reload_fails_when_a_new_port_is_taken_and_old_generation_serves():
    srv, addr = harness.start_echo(2)
    old = srv.workers()
    blocker = harness.listening_socket()
    taken = blocker.getsockname()[1]
    try:
        rewrite(srv, config(svc("echo", addr, workers=2),
                            svc("other", "127.0.0.1:%d" % taken, workers=1)))
        assert not sighup_and_wait(srv)
        assert "127.0.0.1:%d" % taken in srv.output()
        assert srv.wait_workers(2) == old
        assert echo_once(addr, b"old gen") == b"old gen"
        r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60)
        assert r.returncode == 1, r
        assert "127.0.0.1:%d" % taken in r.stderr.decode(), r.stderr
        assert srv.wait_workers(2) == old
        assert [s["name"] for s in status(srv)["services"]] == ["echo"]
        # Moving the service itself to the taken port fails the same way.
        rewrite(srv, config(svc("echo", "127.0.0.1:%d" % taken, workers=2)))
        assert not sighup_and_wait(srv)
        assert srv.wait_workers(2) == old
        assert echo_once(addr, b"old gen") == b"old gen"
    finally:
        blocker.close()


def test_reload_adds_and_removes_services():
    pa, pb, pc = harness.free_port(), harness.free_port(), harness.free_port()
    srv = harness.Server(config(svc("a", "127.0.0.1:%d" % pa, workers=1),
                                svc("b", "127.0.0.1:%d" % pb, workers=1),
                                svc("u", "unix:u.sock", workers=1)))
    upath = os.path.join(srv.dir, "u.sock")
    srv.start(wait_for=["127.0.0.1:%d" % pa, "127.0.0.1:%d" % pb, "unix:" + upath])
    srv.wait_workers(3, idle=False)
    inode_a = listen_inode(pa)
    rewrite(srv, config(svc("a", "127.0.0.1:%d" % pa, workers=1),
                        svc("c", "127.0.0.1:%d" % pc, workers=2)))
    assert sighup_and_wait(srv), srv.output()
    srv.wait_workers(3)
    assert echo_once("127.0.0.1:%d" % pc, b"to c") == b"to c"
    assert echo_once("127.0.0.1:%d" % pa, b"to a") == b"to a"
    assert listen_inode(pa) == inode_a
    # Removed services: their sockets are closed (connections refused) and
    # the unix socket file is removed.
    harness.wait_until(lambda: not harness.can_connect("127.0.0.1:%d" % pb), 10,
                       what="removed port %d to refuse" % pb)
    try:
        harness.connect("127.0.0.1:%d" % pb, timeout=2).close()
        raise AssertionError("port %d still accepts" % pb)
    except ConnectionRefusedError:
        pass
    harness.wait_until(lambda: not os.path.exists(upath), 10, what="u.sock to be removed")
    names = sorted(s["name"] for s in status(srv)["services"])
    assert names == ["a", "c"], names


# Under valgrind the next reload waits seconds for the generation before the
# last to finish (each exiting worker runs valgrind's leak check): four reloads
# there (grow, shrink, grow, shrink), with two clients instead of eight, go
# through the same code as fifty, in a fraction of the time.
RELOADS = 4 if harness.VALGRIND else 50
LOAD_CONNS = 2 if harness.VALGRIND else 8


def run_load(addr, stop, results):
    """Keep prefork-client busy against addr until stop is set; collect its JSON summaries."""
    while not stop.is_set():
        r = harness.client("-c", LOAD_CONNS, "-d", 1, "-m", "ping\n", "--json", addr, timeout=60)
        try:
            results.append(json.loads(r.stdout.decode()))
        except ValueError:
            results.append({"requests": 0, "errors": 1,
                            "errors_by_kind": {"unparsable": r.stdout.decode() + r.stderr.decode()}})


def test_reload_under_load_loses_no_request():
    harness.need_client()
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    confs = [config(svc("echo", addr, workers=n), shutdown_timeout=10) for n in (2, 3)]
    srv = start_server(confs[0], 2, [addr])
    inode = listen_inode(port)
    stop = threading.Event()
    results = []
    loader = threading.Thread(target=run_load, args=(addr, stop, results))
    loader.start()
    try:
        harness.wait_until(lambda: sum(w["served"] for w in status(srv)["services"][0]["workers"]) > 0,
                           10, what="load to arrive")
        t0 = time.monotonic()
        for i in range(RELOADS):
            rewrite(srv, confs[(i + 1) % 2])
            assert sighup_and_wait(srv), "reload %d failed:\n%s" % (i + 1, srv.output()[-3000:])
            assert time.monotonic() - t0 < 120 * SLOW, "%d reloads take too long" % RELOADS
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        loader.join(timeout=60)
    assert results, "the client never ran"
    total = sum(r["requests"] for r in results)
    errors = sum(r["errors"] for r in results)
    kinds = [r["errors_by_kind"] for r in results if r["errors"]]
    assert errors == 0, "%d failed requests out of %d: %s" % (errors, total, kinds)
    assert total > 100, total
    assert listen_inode(port) == inode
    ok, bad = outcomes(srv)
    assert (ok, bad) == (RELOADS, 0), (ok, bad)
    srv.wait_workers(2)
    print("%d reloads under load in %.1f s: %d requests, %d failed" % (RELOADS, elapsed, total, errors))


def test_reload_with_failing_handler_init_keeps_old_generation():
    port, pf = harness.free_port(), harness.free_port()
    addr = "127.0.0.1:%d" % port
    # Under valgrind a worker takes seconds to reach its handler's init: the
    # failure must be the handler's, not the start-up's deadline.
    srv = start_server(config(svc("echo", addr, workers=2), shutdown_timeout=5 * SLOW), 2,
                       [addr])
    harness.build_failinit(srv.dir)
    old = srv.workers()
    broken = config(svc("echo", addr, workers=3),
                    svc("broken", "127.0.0.1:%d" % pf, handler="failinit",
                        module="failinit.so", workers=2),
                    shutdown_timeout=5 * SLOW)
    assert harness.preforkd("-t", "-c", srv.conf).returncode == 0
    rewrite(srv, broken)
    assert harness.preforkd("-t", "-c", srv.conf).returncode == 0, "-t loads the module"
    t0 = time.monotonic()
    assert not sighup_and_wait(srv)
    assert time.monotonic() - t0 < 5 * SLOW, "the failure was not noticed before shutdown_timeout"
    assert srv.wait_workers(2) == old
    assert echo_once(addr, b"old") == b"old"
    harness.wait_until(lambda: not harness.can_connect("127.0.0.1:%d" % pf), 10,
                       what="the new service's socket to be closed")
    r = harness.preforkd("-c", srv.conf, "-s", "reload", timeout=60)
    assert r.returncode == 1, r
    assert "failinit" in r.stderr.decode() or "broken" in r.stderr.decode(), r.stderr
    assert srv.wait_workers(2) == old
    assert echo_once(addr, b"old") == b"old"
    # The old generation was not touched: its workers still serve the status as generation 1,
    # and the service that never got ready is not in the status.
    doc = status(srv)
    gens = {w["generation"] for s in doc["services"] for w in s["workers"]}
    assert gens == {1}, gens
    assert [s["name"] for s in doc["services"]] == ["echo"], doc


def test_reload_while_draining_keeps_at_most_two_generations():
    srv, addr = harness.start_echo(1, top={"shutdown_timeout": 2}, read_timeout=60)
    # Hold gen 1's only worker on a connection that never ends.
    held = harness.connect(addr, timeout=10)
    held.sendall(b"x")
    assert held.recv(10) == b"x"
    rewrite(srv, config(svc("echo", addr, workers=2, read_timeout=60), shutdown_timeout=2))
    assert sighup_and_wait(srv)
    t0 = time.monotonic()
    rewrite(srv, config(svc("echo", addr, workers=1, read_timeout=60), shutdown_timeout=2))
    srv.signal(signal.SIGHUP)
    max_gens = 0
    while time.monotonic() - t0 < 15 * SLOW:
        doc = status(srv)
        gens = {w["generation"] for s in doc["services"] for w in s["workers"]}
        max_gens = max(max_gens, len(gens))
        if outcomes(srv)[0] >= 2:
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    assert outcomes(srv) == (2, 0), srv.output()
    assert max_gens <= 2, "%d generations at once" % max_gens
    # The drain of generation 1 was bounded by shutdown_timeout (2 s).
    assert elapsed < 2 + 5 * SLOW, elapsed
    assert harness.closed_without_a_byte(held, timeout=5)
    held.close()
    srv.wait_workers(1)
    assert echo_once(addr, b"gen 3") == b"gen 3"


def test_several_sighups_during_a_reload_make_one_more_reload():
    srv, addr = harness.start_echo(2)
    # A new worker of this service takes 0.5 s to get ready, so every SIGHUP
    # below lands while the first reload is still under way.
    slow = svc("slow", "127.0.0.1:0", "testmod", module=harness.module("testmod"), workers=1,
               extra="testmod = { init_sleep = 0.5; };")
    rewrite(srv, config(svc("echo", addr, workers=3), slow))
    for _ in range(5):
        srv.signal(signal.SIGHUP)
    harness.wait_until(lambda: outcomes(srv)[0] >= 1, 20 * SLOW, what="a reload to succeed")

    def settled():
        doc = status(srv)
        ws = doc["services"][0]["workers"]
        return (len(ws) == 3 and len({w["generation"] for w in ws}) == 1
                and all(w["state"] == "idle" for w in ws)
                and outcomes(srv)[0] == len(re.findall(r"reloading", srv.output())))
    harness.wait_until(settled, 20 * SLOW, what="reloads to settle")
    started = len(re.findall(r"reloading", srv.output()))
    # One reload for the first signal, at most one more for all the others.
    assert 1 <= started <= 2, "%d reloads for 5 SIGHUPs" % started
    assert outcomes(srv) == (started, 0)
    srv.wait_workers(4)


harness.main(globals())

"""test_resize.py - a resize (SIGTTIN, SIGTTOU, `workers NAME +N`) is never
lost: sent while the first generation is still starting, or while a reload's
new generation starts, the target it sets is the one that serves once that
generation commits. Also: a worker whose init fails during a reload is
reported once, by the reload's failure."""
import functools
import re
import signal

import harness
from harness import SLOW, Server, free_port, module, svc, wait_until

control = functools.partial(harness.control, timeout=15)
status = functools.partial(harness.status, timeout=15)


# How long a slow worker's init takes: long enough for the test's signals and
# control commands to land before its generation commits. Under valgrind those
# take longer too, but not 10 times as long: 6 s, not 20 (each test asserts
# that the window was still open, so a window too short fails, never passes).
INIT_SLEEP = 2 * min(SLOW, 3)


def slow(name, listen, init_sleep, **kw):
    """A testmod echo service whose workers take init_sleep seconds to start."""
    block = 'testmod = { handle = "echo"; init_sleep = %.3f; };' % init_sleep
    return svc(name, listen, "testmod", extra=block, module=module("testmod"), **kw)


def service(doc, name):
    for v in doc["services"]:
        if v["name"] == name:
            return v
    raise AssertionError("no service %s in %s" % (name, doc))


def reload_outcomes(srv):
    out = srv.output()
    return out.count("reload succeeded"), out.count("reload failed")


def test_resize_during_first_generation_start_up_is_kept():
    addr = "127.0.0.1:%d" % free_port()
    # The workers need INIT_SLEEP (2 s) to get ready: the pid file names the master
    # (and the control socket answers) well before start-up commits.
    srv = Server(harness.config(slow("p", addr, INIT_SLEEP, workers=2, max_workers=8),
                                shutdown_timeout=20 * SLOW))
    srv.start()
    srv.signal(signal.SIGTTIN)
    answer = control(srv, "workers p +2").strip()
    assert "ready:" not in srv.output(), "start-up committed before the resize: no test"
    assert answer == "ok p 5", answer
    srv.wait_workers(5, timeout=20 * SLOW)
    assert service(status(srv), "p")["target"] == 5
    srv.signal(signal.SIGTTOU)
    wait_until(lambda: service(status(srv), "p")["target"] == 4, 10, what="target 4")
    srv.wait_workers(4, timeout=10)


def test_resize_during_reload_survives_the_commit():
    addr = "127.0.0.1:%d" % free_port()
    srv = Server(harness.config(slow("p", addr, 0, workers=2, max_workers=8),
                                shutdown_timeout=20 * SLOW))
    srv.start()
    srv.wait_workers(2)
    # The new generation needs INIT_SLEEP (2 s) to get ready; the resize lands meanwhile.
    srv.write_conf(harness.config(slow("p", addr, INIT_SLEEP, workers=2, max_workers=8),
                                  shutdown_timeout=20 * SLOW))
    ok0, bad0 = reload_outcomes(srv)
    srv.signal(signal.SIGHUP)
    wait_until(lambda: "reloading" in srv.output(), 10, what="the reload to start")
    answer = control(srv, "workers p +1").strip()
    srv.signal(signal.SIGTTIN)
    assert reload_outcomes(srv) == (ok0, bad0), "the reload ended before the resize: no test"
    assert answer == "ok p 3", answer
    wait_until(lambda: reload_outcomes(srv)[0] > ok0, 20 * SLOW, what="the reload to succeed")
    doc = status(srv)
    assert service(doc, "p")["target"] == 4, service(doc, "p")
    srv.wait_workers(4, timeout=20 * SLOW)
    gens = {w["generation"] for w in service(status(srv), "p")["workers"]}
    assert gens == {2}, gens


def test_init_failure_during_reload_is_logged_once():
    addr = "127.0.0.1:%d" % free_port()
    pf = free_port()
    srv = Server(harness.config(svc("echo", addr, workers=1), shutdown_timeout=5))
    srv.start(wait_for=[addr])
    harness.build_failinit(srv.dir)
    srv.write_conf(harness.config(svc("echo", addr, workers=1),
                                  svc("broken", "127.0.0.1:%d" % pf, handler="failinit",
                                      module="failinit.so", workers=1),
                                  shutdown_timeout=5))
    srv.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in srv.output(), 15, what="the reload to fail")
    srv.wait_workers(1)
    out = srv.output()
    m = re.search(r"worker (\d+) exited with status 3", out)
    assert m, out
    lines = [l for l in out.splitlines() if "worker %s exited" % m.group(1) in l]
    assert len(lines) == 1, "the failure is logged %d times:\n%s" % (len(lines), "\n".join(lines))
    assert "reload failed" in lines[0], lines


if __name__ == "__main__":
    harness.main(globals())

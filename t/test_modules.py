"""test_modules.py - module code across reloads: a module rebuilt in place
runs its new code in the new generation while the old one keeps its own;
a new build that cannot load (not a shared object, no pf_module, wrong
ABI) fails the reload with FILE:LINE and the old generation serves on."""
import os
import shutil

import re
import signal

import harness
from harness import Server, free_port, module, preforkd


def outcomes(srv):
    out = srv.output()
    return len(re.findall(r"reload succeeded", out)), len(re.findall(r"reload failed", out))


def sighup_and_wait(srv, timeout=20):
    """Send SIGHUP, wait for the reload's outcome in the log; True when it succeeded."""
    before = outcomes(srv)
    srv.signal(signal.SIGHUP)
    ok, _ = harness.wait_until(lambda: (lambda o: o if o != before else None)(outcomes(srv)),
                               timeout, what="the outcome of the reload in the log")
    return ok > before[0]


def conf(addr, path, extra=""):
    return ('shutdown_timeout = 5.0;\nservices = (\n'
            '  { name = "cv"; listen = "%s"; handler = "codever";\n'
            '    module = "%s"; workers = 2;%s }\n);\n' % (addr, path, extra))


def answer(addr):
    s = harness.connect(addr, timeout=10)
    try:
        return harness.recv_all(s)
    finally:
        s.close()


def install(src, dst):
    """Put a new build at dst as a linker does: a new file renamed over the old one."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.rename(tmp, dst)


def start_codever(first="codever1"):
    addr = "127.0.0.1:%d" % free_port()
    d = harness.tmpdir()
    path = os.path.join(d, "codever.so")
    install(module(first), path)
    srv = Server(conf(addr, path), folder=d)
    srv.start(wait_for=[addr])
    srv.wait_workers(2)
    return srv, addr, path


def test_reload_runs_the_rebuilt_module_code():
    srv, addr, path = start_codever()
    assert answer(addr) == b"code 1\n"
    install(module("codever2"), path)
    # Until the reload the old generation runs its own (old) code.
    assert answer(addr) == b"code 1\n"
    old = srv.workers()
    assert sighup_and_wait(srv), srv.output()
    harness.wait_until(lambda: not set(srv.workers()) & set(old), 20, what="old workers gone")
    assert answer(addr) == b"code 2\n"
    # And back, this time overwriting the same file (same inode) in place.
    shutil.copyfile(module("codever1"), path)
    assert sighup_and_wait(srv), srv.output()
    harness.wait_until(lambda: answer(addr) == b"code 1\n", 20, what="code 1 again")
    # An unchanged build across a reload: still the same code.
    assert sighup_and_wait(srv), srv.output()
    assert answer(addr) == b"code 1\n"


def test_s_reload_with_rebuilt_module():
    srv, addr, path = start_codever("codever2")
    assert answer(addr) == b"code 2\n"
    install(module("codever1"), path)
    r = preforkd("-c", srv.conf, "-s", "reload", timeout=60)
    assert r.returncode == 0, (r, srv.output())
    harness.wait_until(lambda: answer(addr) == b"code 1\n", 20, what="the new code")


def test_module_load_leaves_no_private_copy():
    tmp = harness.tmpdir()
    addr = "127.0.0.1:%d" % free_port()
    d = harness.tmpdir()
    path = os.path.join(d, "codever.so")
    install(module("codever1"), path)
    srv = Server(conf(addr, path), folder=d, env={"TMPDIR": tmp})
    srv.start(wait_for=[addr])
    assert answer(addr) == b"code 1\n"
    install(module("codever2"), path)
    assert sighup_and_wait(srv), srv.output()
    harness.wait_until(lambda: answer(addr) == b"code 2\n", 20, what="the new code")
    assert os.listdir(tmp) == [], os.listdir(tmp)
    # The mapping is of a private, deleted file.
    with open("/proc/%d/maps" % srv.pid) as f:
        maps = f.read()
    assert os.path.join(tmp, "prefork-module.") in maps and "(deleted)" in maps, maps


def bad_build(srv, addr, path, make_bad, expect):
    old = srv.workers()
    make_bad(path)
    assert not sighup_and_wait(srv)
    out = srv.output()
    assert "reload failed: %s:4: " % srv.conf in out, out
    assert expect in out, out
    assert srv.wait_workers(2) == old
    assert answer(addr) == b"code 1\n"


def test_reload_with_a_broken_module_build_keeps_the_old_generation():
    srv, addr, path = start_codever()
    bad_build(srv, addr, path, lambda p: harness.write(p, "not an ELF file\n"),
              "cannot load module '%s': " % path)
    bad_build(srv, addr, path, lambda p: install(module("nosym"), p),
              "module '%s' does not export 'pf_module'" % path)
    bad_build(srv, addr, path, lambda p: install(module("badabi"), p),
              "module '%s' was built for ABI version 1002" % path)
    os.unlink(path)
    bad_build(srv, addr, path, lambda p: None, "cannot load module '%s': " % path)
    # A good build after all that: the reload succeeds with the new code.
    install(module("codever2"), path)
    assert sighup_and_wait(srv), srv.output()
    harness.wait_until(lambda: answer(addr) == b"code 2\n", 20, what="the new code")


def test_t_checks_the_current_build():
    d = harness.tmpdir()
    path = os.path.join(d, "codever.so")
    install(module("badabi"), path)
    s = Server(conf("127.0.0.1:1", path), folder=d)
    r = preforkd("-t", "-c", s.conf)
    assert r.returncode == 1 and b"server.conf:4: module" in r.stderr, r


# ---- the handler's tick ------------------------------------------------------

def tick_count(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def start_tickmod(interval=0.05, workers=1):
    addr = "127.0.0.1:%d" % free_port()
    d = harness.tmpdir()
    tick_file = os.path.join(d, "ticks")
    extra = ' tickmod = { tick_file = "ticks"; };'
    if interval is not None:
        extra += " tick_interval = %s;" % interval
    srv = Server('shutdown_timeout = 5.0;\nservices = (\n'
                 '  { name = "tk"; listen = "%s"; handler = "tickmod";\n'
                 '    module = "%s"; workers = %d;%s }\n);\n'
                 % (addr, module("tickmod"), workers, extra), folder=d)
    srv.start(wait_for=[addr])
    return srv, addr, tick_file


def ask(s, line):
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(256)
        assert chunk, "closed after %r" % got
        got += chunk
    return got.decode().split()


def test_tick_runs_while_idle_in_accept():
    srv, addr, tick_file = start_tickmod()
    # The worker still waits in accept() between ticks.
    srv.wait_workers(1)
    first = harness.wait_until(lambda: tick_count(tick_file) or None, 10, what="a first tick")
    harness.wait_until(lambda: tick_count(tick_file) >= first + 3, 10, what="ticks advancing")


def test_tick_runs_between_keepalive_requests_never_inside_one():
    srv, addr, tick_file = start_tickmod()
    s = harness.connect(addr, timeout=10)
    try:
        a = int(ask(s, b"ticks\n")[1])
        # Held by this idle kept-alive connection, the only worker still ticks.
        harness.wait_until(lambda: int(ask(s, b"ticks\n")[1]) >= a + 3, 10,
                           what="ticks between requests")
        assert tick_count(tick_file) >= a + 3
        # A wait inside a request (0.4 s, 8 intervals) runs no tick.
        word, before, after = ask(s, b"slow\n")
        assert word == "slow" and before == after, (before, after)
    finally:
        s.close()


def test_tick_interval_zero_turns_it_off_and_is_checked():
    srv, addr, tick_file = start_tickmod(interval=0, workers=1)
    s = harness.connect(addr, timeout=10)
    try:
        # Past several intervals of the default, inside and outside requests: no tick.
        word, before, after = ask(s, b"slow\n")
        assert (word, before, after) == ("slow", "0", "0")
        assert ask(s, b"ticks\n") == ["ticks", "0"]
    finally:
        s.close()
    assert not os.path.exists(tick_file)
    d = harness.tmpdir()
    bad = Server('services = (\n  { name = "tk"; listen = "127.0.0.1:1"; handler = "tickmod";\n'
                 '    module = "%s";\n    tick_interval = -1.0; }\n);\n' % module("tickmod"),
                 folder=d)
    r = preforkd("-t", "-c", bad.conf)
    assert r.returncode == 1 and b"server.conf:4: " in r.stderr and b"tick_interval" in r.stderr, r


def test_tick_with_the_default_interval():
    srv, addr, tick_file = start_tickmod(interval=None)
    harness.wait_until(lambda: tick_count(tick_file) >= 2, 10, what="two ticks of 1 s")


harness.main(globals())

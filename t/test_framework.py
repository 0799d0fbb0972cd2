"""test_framework.py - libprefork as a framework: modules loaded from
server.conf (and each way loading fails), a custom server built on
pf_main, settings checked by -t, and the exported symbols."""
import os
import subprocess

import harness
from harness import Server, client, free_port, module, preforkd

B = harness.BUILDDIR


def conf_with(svc):
    return 'shutdown_timeout = 5.0;\nservices = (\n%s\n);\n' % svc


def test_module_serves_with_its_settings():
    port = free_port()
    s = Server(conf_with('{ name = "u"; listen = "127.0.0.1:%d"; handler = "upper";\n'
                         '  module = "%s"; workers = 2; upper = { greeting = "HI THERE"; }; }'
                         % (port, module("upper"))))
    s.start(wait_for=["127.0.0.1:%d" % port])
    r = client("-m", "abc xyz", "127.0.0.1:%d" % port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"HI THERE\nABC XYZ", r.stdout


def check_fails(svc, *fragments):
    s = Server(conf_with(svc))
    r = preforkd("-t", "-c", s.conf)
    assert r.returncode == 1, r
    err = r.stderr.decode()
    for f in fragments:
        assert f in err, "%r not in %r" % (f, err)
    return err


def test_missing_module_file_is_a_config_error():
    err = check_fails('{ name = "m"; listen = "127.0.0.1:1"; handler = "x";\n module = "/nonexistent/x.so"; }',
                      "server.conf:4: cannot load module '/nonexistent/x.so'")
    assert err.count("\n") == 1


def test_module_without_symbol_is_refused():
    check_fails('{ name = "m"; listen = "127.0.0.1:1"; handler = "nosym";\n module = "%s"; }' % module("nosym"),
                "server.conf:4: module '%s' does not export 'pf_module'" % module("nosym"))


def test_module_with_wrong_abi_is_refused():
    check_fails('{ name = "m"; listen = "127.0.0.1:1"; handler = "badabi";\n module = "%s"; }' % module("badabi"),
                "server.conf:4: module '%s' was built for ABI version 1002, this preforkd has 2 (and loads 1)" % module("badabi"))


def test_abi1_module_still_loads_and_serves():
    port = free_port()
    s = Server(conf_with('{ name = "old"; listen = "127.0.0.1:%d"; handler = "abi1";\n'
                         '  module = "%s"; workers = 1; }' % (port, module("abi1"))))
    s.start(wait_for=["127.0.0.1:%d" % port])
    r = client("-m", "hi", "127.0.0.1:%d" % port)
    assert r.returncode == 0 and r.stdout == b"abi1 old\n", r


def test_handler_error_is_logged_with_errno_and_counted():
    port = free_port()
    s = Server(conf_with('{ name = "old"; listen = "127.0.0.1:%d"; handler = "abi1";\n'
                         '  module = "%s"; workers = 1; }' % (port, module("abi1"))))
    s.start(wait_for=["127.0.0.1:%d" % port])
    for _ in range(2):
        client("-m", "fail", "127.0.0.1:%d" % port)
    client("-m", "ok", "127.0.0.1:%d" % port)
    harness.wait_until(lambda: "failed on the connection" in s.output(), 10, what="warn line")
    out = s.output()
    assert "warn" in out and "handler abi1 failed on the connection from 127.0.0.1:" in out, out
    assert "Protocol error" in out, out
    st = harness.status(s)
    svc = st["services"][0]
    assert svc["handler_errors"] == 2 and st["totals"]["handler_errors"] == 2, st
    assert "handler_errors=2" in harness.status_text(s)
    # A worker's count outlives it: recycle the pool and look again.
    harness.control(s, "workers old +1")
    kids = s.wait_workers(2)
    for k in kids:
        os.kill(k, 15)
    harness.wait_until(lambda: all(k not in s.workers() for k in kids) and len(s.workers()) == 2,
                       15, what="replaced workers")
    assert harness.status(s)["totals"]["handler_errors"] == 2


def test_module_name_must_match_handler():
    check_fails('{ name = "m"; listen = "127.0.0.1:1"; handler = "other";\n module = "%s"; }' % module("upper"),
                "provides handler 'upper', but 'handler' is 'other'")


def test_module_settings_checked_by_t():
    check_fails('{ name = "m"; listen = "127.0.0.1:1"; handler = "upper"; module = "%s";\n'
                '  upper = {\n greeting = 5;\n colour = "red"; }; }' % module("upper"),
                "server.conf:5: 'greeting' must be a string",
                "server.conf:6: unknown key 'colour' in the upper handler's settings")


def test_relative_module_path_resolves_against_config_folder():
    s = Server(conf_with('{ name = "u"; listen = "127.0.0.1:1"; handler = "upper"; module = "mods/upper.so"; }'))
    os.mkdir(os.path.join(s.dir, "mods"))
    os.symlink(module("upper"), os.path.join(s.dir, "mods", "upper.so"))
    r = preforkd("-t", "-c", s.conf)
    assert r.returncode == 0, r.stderr


def test_custom_server_on_pf_main():
    exe = os.path.join(B, "examples", "hello-server")
    port = free_port()
    d = harness.tmpdir()
    conf = harness.write(os.path.join(d, "hello.conf"), conf_with(
        '{ name = "h"; listen = "127.0.0.1:%d"; handler = "hello"; workers = 2; },\n'
        '{ name = "e"; listen = "127.0.0.1:0"; handler = "echo"; workers = 1; }' % port))
    r = subprocess.run([exe, "-t", "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and b"configuration OK" in r.stdout, r
    p = harness.spawn([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_until(lambda: harness.can_connect("127.0.0.1:%d" % port), 15, what="hello-server")
    r = client("-m", "", "127.0.0.1:%d" % port)
    assert r.returncode == 0 and r.stdout == b"hello 127.0.0.1\n", r
    p.send_signal(15)
    assert p.wait(timeout=15) == 0


def test_library_exports_only_pf_symbols():
    lib = os.path.join(B, ".libs", "libprefork.so")
    if not os.path.exists(lib):
        raise harness.Skip("no shared library built (--disable-shared)")
    out = subprocess.run(["nm", "-D", "--defined-only", lib], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    names = [l.split()[-1] for l in out.splitlines() if l.split() and l.split()[-2] in "TDBRV"]
    assert "pf_main" in names and "pf_conn_read" in names, names
    others = [n for n in names if not n.startswith("pf_") and not n.startswith("_")]
    assert others == [], others


def test_man_page_documents_every_public_call():
    """prefork(3) names every PF_API function of prefork.h, and renders cleanly."""
    import re
    src = harness.SRCDIR
    with open(os.path.join(src, "src", "prefork.h")) as f:
        header = f.read()
    calls = re.findall(r"^PF_API[^(]*?\b(pf_\w+)\(", header, re.M)
    assert len(calls) > 40 and "pf_http_json" in calls, calls
    with open(os.path.join(src, "man", "prefork.3")) as f:
        page = f.read().replace("\\-", "-")
    missing = [c for c in calls if c not in page]
    assert missing == [], "not in man/prefork.3: %s" % missing
    for field in re.findall(r"^\s+\w[\w ]*\(\*(\w+)\)\(", header, re.M):
        assert field in page, "struct pf_handler field %s not in man/prefork.3" % field
    try:
        r = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(src, "man", "prefork.3")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        return
    assert r.returncode == 0 and r.stderr == b"", r.stderr


def test_init_failure_at_startup_exits_1_with_reason():
    port = free_port()
    s = Server(conf_with('{ name = "t"; listen = "127.0.0.1:%d"; handler = "testmod"; module = "%s";\n'
                         '  testmod = { init = "fail"; }; }' % (port, module("testmod"))))
    p = harness.spawn([harness.PREFORKD, "-c", s.conf], stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT)
    out = p.communicate(timeout=30)[0].decode()
    assert p.returncode == 1, out
    assert "start-up failed" in out and "handler init failed" in out, out
    assert not os.path.exists(s.pid_file)
    assert not harness.can_connect("127.0.0.1:%d" % port)


def test_kv_line_server_example():
    """examples/kv-server: pf_main + pf_conn_readline, split lines, overlong line."""
    import socket
    exe = os.path.join(B, "examples", "kv-server")
    port = free_port()
    d = harness.tmpdir()
    conf = harness.write(os.path.join(d, "kv.conf"), conf_with(
        '{ name = "k"; listen = "127.0.0.1:%d"; handler = "kv"; workers = 1; }' % port))
    p = harness.spawn([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        harness.wait_until(lambda: harness.can_connect("127.0.0.1:%d" % port), 15, what="kv-server")
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        s.sendall(b"SET greeting hel")
        s.sendall(b"lo world\nGET greeting\r\nGET nope\n")
        assert f.readline() == b"OK\n"
        assert f.readline() == b"VALUE hello world\n"
        assert f.readline() == b"NOT_FOUND\n"
        s.sendall(b"BOGUS\n")
        assert f.readline() == b"ERROR bad command\n"
        s.sendall(b"SET k " + b"x" * 600 + b"\n")
        assert f.readline() == b"ERROR line too long\n"
        assert f.readline() == b""          # closed after an overlong line
        s.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET greeting\nQUIT\n")
        f = s.makefile("rb")
        assert f.readline() == b"VALUE hello world\n"
        assert f.readline() == b""
        s.close()
    finally:
        p.send_signal(15)
        try:
            p.wait(timeout=15)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


harness.main(globals())

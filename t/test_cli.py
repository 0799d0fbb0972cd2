"""test_cli.py - preforkd's command line: -t, -v, -h, bad flags, -s without a
running master, refusing a second master, bind errors before any fork,
daemon mode (-d) and paths relative to the configuration file's folder."""
import os
import re
import signal
import subprocess
import time

import harness
from harness import SLOW, VALGRIND, config, kill_pids, lines_of, procs_with_conf, svc, write


# ---- -t ----

def test_check_good_config_prints_ok_on_stdout():
    d = harness.tmpdir()
    conf = write(os.path.join(d, "server.conf"), config(
        svc("echo", "127.0.0.1:%d" % harness.free_port(), workers=2),
        svc("local", "unix:echo.sock"),
        shutdown_timeout=2.5, log_level="debug"))
    r = harness.preforkd("-t", "-c", conf)
    assert r.returncode == 0, r
    assert r.stdout.decode() == "%s: configuration OK\n" % conf, r.stdout
    assert r.stderr == b"", r.stderr
    # -t starts nothing: no pid file, no socket files.
    assert sorted(os.listdir(d)) == ["server.conf"], os.listdir(d)


def test_check_bad_config_reports_every_error_with_file_and_line():
    d = harness.tmpdir()
    p1, p2, p3 = (harness.free_port() for _ in range(3))
    text = "\n".join([
        'pid_file = "preforkd.pid";',              # 1
        'log_level = "loud";',                     # 2  bad value
        'shutdown_timeout = "soon";',              # 3  wrong type
        'services = (',                            # 4
        '  {',                                     # 5
        '    name = "a";',                         # 6
        '    listen = "127.0.0.1:%d";' % p1,       # 7
        '    handler = "echo";',                   # 8
        '    wokers = 2;',                         # 9  unknown key
        '  },',                                    # 10
        '  {',                                     # 11 missing handler
        '    name = "a";',                         # 12 duplicate name
        '    listen = "127.0.0.1:%d";' % p2,       # 13
        '    backlog = 0;',                        # 14 out of range
        '  },',                                    # 15
        '  {',                                     # 16
        '    name = "c";',                         # 17
        '    listen = "127.0.0.1:%d";' % p3,       # 18
        '    handler = "ecko";',                   # 19 unknown handler
        '  },',                                    # 20
        '  {',                                     # 21
        '    name = "d";',                         # 22
        '    listen = "127.0.0.1:%d";' % p1,       # 23 duplicate address
        '    handler = "x";',                      # 24
        '    module = "missing.so";',              # 25 unreadable module
        '  }',                                     # 26
        ');',                                      # 27
    ]) + "\n"
    conf = write(os.path.join(d, "bad.conf"), text)
    r = harness.preforkd("-t", "-c", conf)
    assert r.returncode == 1, r
    assert r.stdout == b"", r.stdout
    errs = lines_of(r.stderr)
    for line in errs:
        assert re.match(re.escape(conf) + r":\d+: \S", line), "not FILE:LINE: message: %r" % line

    def at(lineno, *words):
        hits = [e for e in errs if e.startswith("%s:%d: " % (conf, lineno))
                and all(w in e for w in words)]
        assert hits, "no error at line %d mentioning %s in:\n%s" % (lineno, words, "\n".join(errs))

    at(2, "log_level")
    at(3, "shutdown_timeout")
    at(9, "wokers", "did you mean 'workers'")
    at(11, "handler")
    at(12, "a")
    at(14, "backlog")
    at(19, "ecko")
    at(23, "127.0.0.1:%d" % p1)
    at(25, "missing.so")
    assert len(errs) >= 9, errs


def test_check_syntax_error_names_file_and_line():
    d = harness.tmpdir()
    conf = write(os.path.join(d, "syntax.conf"),
                 'pid_file = "x.pid";\nservices = ( { name = "a"; listen = "127.0.0.1:1"; '
                 'handler = "echo" }\n')
    r = harness.preforkd("-t", "-c", conf)
    assert r.returncode == 1, r
    errs = lines_of(r.stderr)
    assert errs and all(re.match(re.escape(conf) + r":\d+: \S", e) for e in errs), errs
    assert r.stdout == b""


def test_check_refuses_paths_that_start_up_cannot_use():
    """Issue 11 item 12: -t checks what start-up checks: a control socket
    path longer than sun_path, a pid file path over PATH_MAX, a folder that
    does not exist; each as FILE:LINE, and the master refuses them too."""
    d = harness.tmpdir()
    addr = "127.0.0.1:%d" % harness.free_port()
    long_sock = os.path.join(d, "c" * (108 - len(d)))
    cases = [
        ({"control_socket": long_sock}, "'control_socket': unix socket path too long (at most 107 bytes)"),
        ({"pid_file": os.path.join(d, *(["p" * 200] * 21))}, "'pid_file': path too long"),
        ({"pid_file": os.path.join(d, "nowhere", "p.pid")}, "'pid_file': folder '%s/nowhere': " % d),
        ({"error_log": os.path.join(d, "nowhere", "e.log")}, "'error_log': folder '%s/nowhere': " % d),
    ]
    for top, message in cases:
        conf = write(os.path.join(d, "server.conf"), config(svc("echo", addr, workers=1), **top))
        r = harness.preforkd("-t", "-c", conf)
        assert r.returncode == 1, (top, r)
        assert lines_of(r.stderr)[0].startswith("%s:1: %s" % (conf, message)), (message, r.stderr)
        assert r.stdout == b""
        # The master says the same and starts nothing.
        r = harness.preforkd("-c", conf, timeout=30)
        assert r.returncode == 1, (top, r)
        assert message in r.stderr.decode(), r.stderr
        assert not os.path.exists(os.path.join(d, "preforkd.pid"))


def test_check_refuses_an_access_log_path_too_long_or_in_no_folder():
    """The access log is resolved (relative to the configuration's folder)
    when a worker opens it; -t checks that path's length and folder, as
    FILE:LINE, once for all of them."""
    d = harness.tmpdir()
    addr = "127.0.0.1:%d" % harness.free_port()
    for value, message in (("a" * 5000, "'access_log' is too long"),
                           ("nowhere/access.log", "'access_log': directory '%s/nowhere' does not exist" % d)):
        conf = write(os.path.join(d, "server.conf"),
                     'services = (\n  { name = "w"; listen = "%s"; handler = "http";\n'
                     '    http = { root = "."; access_log = "%s"; }; }\n);\n' % (addr, value))
        r = harness.preforkd("-t", "-c", conf)
        assert r.returncode == 1, (value[:20], r)
        assert lines_of(r.stderr)[0] == "%s:3: %s" % (conf, message), r.stderr
    os.makedirs(os.path.join(d, "logs"))
    conf = write(os.path.join(d, "server.conf"),
                 'services = (\n  { name = "w"; listen = "%s"; handler = "http";\n'
                 '    http = { root = "."; access_log = "logs/access.log"; }; }\n);\n' % addr)
    assert harness.preforkd("-t", "-c", conf).returncode == 0


def test_check_unknown_key_suggests_the_close_one():
    d = harness.tmpdir()
    conf = write(os.path.join(d, "server.conf"),
                 'services = (\n  { name = "a"; listen = "127.0.0.1:%d"; handler = "echo";\n'
                 '    wokers = 3; }\n);\n' % harness.free_port())
    r = harness.preforkd("-t", "-c", conf)
    assert r.returncode == 1
    errs = lines_of(r.stderr)
    assert errs == ["%s:3: unknown key 'wokers' (did you mean 'workers'?)" % conf], errs


def test_check_missing_file_fails_naming_it():
    d = harness.tmpdir()
    conf = os.path.join(d, "nope.conf")
    r = harness.preforkd("-t", "-c", conf)
    assert r.returncode == 1, r
    assert conf in r.stderr.decode(), r.stderr
    assert r.stdout == b""


# ---- -v, -h, bad flags ----

def test_version_flag_prints_version():
    r = harness.preforkd("-v")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert "preforkd" in out and re.search(r"\d+\.\d+", out), out


def test_help_flag_prints_usage_with_every_flag():
    r = harness.preforkd("-h")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert "usage" in out.lower(), out
    for flag in ("-c", "-t", "-d", "-s", "-v", "-h"):
        assert flag in out, (flag, out)
    for cmd in ("stop", "quit", "reload", "reopen", "status"):
        assert cmd in out, (cmd, out)


def test_bad_flag_exits_1_with_usage():
    for args in (["-x"], ["-c"], ["-t", "stray-argument"]):
        r = harness.preforkd(*args)
        assert r.returncode == 1, (args, r)
        assert r.stderr.strip(), (args, r)
        assert r.stdout == b"", (args, r)


# ---- -s without a running master ----

def _s_conf():
    d = harness.tmpdir()
    return d, write(os.path.join(d, "server.conf"),
                    config(svc("echo", "127.0.0.1:%d" % harness.free_port())))


def every_s_command_fails_in_one_line(conf):
    """Each -s command on conf exits 1 with one line on stderr, nothing on stdout."""
    for cmd in ("stop", "quit", "status", "reload", "reopen"):
        r = harness.preforkd("-c", conf, "-s", cmd, timeout=20)
        assert r.returncode == 1, (cmd, r)
        assert len(lines_of(r.stderr)) == 1, (cmd, r.stderr)
        assert r.stdout == b"", (cmd, r.stdout)


def test_s_commands_without_pid_file_print_one_line_and_exit_1():
    d, conf = _s_conf()
    every_s_command_fails_in_one_line(conf)


def test_s_commands_with_stale_pid_file_print_one_line_and_exit_1():
    d, conf = _s_conf()
    # A pid that named a process which has exited since (reaped at once).
    p = subprocess.Popen(["true"])
    p.wait()
    assert not harness.pid_alive(p.pid)
    write(os.path.join(d, "preforkd.pid"), "%d\n" % p.pid)
    every_s_command_fails_in_one_line(conf)


def test_s_unknown_command_exits_1():
    d, conf = _s_conf()
    r = harness.preforkd("-c", conf, "-s", "dance")
    assert r.returncode == 1, r
    assert r.stderr.strip()


# ---- refusing to start, bind errors ----

def test_refuses_to_start_when_pid_file_names_a_live_master():
    port = harness.free_port()
    srv = harness.Server(config(svc("echo", "127.0.0.1:%d" % port, workers=1)))
    srv.start(wait_for=["127.0.0.1:%d" % port])
    # A second master on the same file; port 0 elsewhere would be free, so
    # only the pid file can stop it.
    second_conf = write(os.path.join(srv.dir, "second.conf"),
                        config(svc("echo", "127.0.0.1:0", workers=1),
                               control_socket="second.sock"))
    p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", second_conf], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("a second preforkd started although the pid file names a live master")
    assert p.returncode == 1, (p.returncode, err)
    assert str(srv.pid) in err.decode(), err
    assert srv.proc.poll() is None
    assert srv.read_pid() == srv.pid
    assert not os.path.exists(os.path.join(srv.dir, "second.sock"))


def test_pid_file_temporary_never_follows_a_planted_symlink():
    """Issue 11 item 3: links planted in the pid file's folder, at the old
    predictable temporary name (PID_FILE.MASTERPID.tmp) and at the pid file's
    own name, are never written through; the pid file ends up a plain file
    and no temporary is left behind."""
    addr = "127.0.0.1:%d" % harness.free_port()
    srv = harness.Server(config(svc("echo", addr, workers=1)))
    srv.start(wait_for=[addr])
    d = srv.dir
    precious = write(os.path.join(d, "precious"), "precious\n")
    precious2 = write(os.path.join(d, "precious2"), "precious2\n")
    new = os.path.join(d, "new.pid")
    planted = ["new.pid.%d.tmp" % srv.pid, "new.pid.tmp", ".new.pid.tmp"]
    for name in planted:
        os.symlink(precious, os.path.join(d, name))
    os.symlink(precious2, new)
    harness.rewrite(srv, config(svc("echo", addr, workers=1), pid_file="new.pid"))
    srv.signal(signal.SIGHUP)
    harness.wait_until(lambda: harness.read_text(new) == "%d\n" % srv.pid, 10 * SLOW,
                       what="the new pid file naming the master")
    assert harness.read_text(precious) == "precious\n", "written through a planted link"
    assert not os.path.islink(new)
    assert harness.read_text(precious2) == "precious2\n"
    assert not os.path.exists(srv.pid_file)
    left = sorted(f for f in os.listdir(d) if f.endswith(".tmp"))
    assert left == sorted(planted), left
    for name in planted:
        assert os.readlink(os.path.join(d, name)) == precious
    assert oct(os.stat(new).st_mode & 0o777) == oct(0o644)
    # The master still owns it: a graceful stop removes it.
    r = harness.preforkd("-c", srv.conf, "-s", "quit")
    assert r.returncode == 0, r
    assert not os.path.exists(new)
    assert harness.read_text(precious) == "precious\n"


def test_bind_error_names_the_address_and_forks_no_worker():
    blocker = harness.listening_socket()
    taken = blocker.getsockname()[1]
    try:
        d = harness.tmpdir()
        conf = write(os.path.join(d, "server.conf"), config(
            svc("first", "127.0.0.1:%d" % harness.free_port(), workers=2),
            svc("second", "127.0.0.1:%d" % taken, workers=2),
            log_level="debug"))
        errpath = os.path.join(d, "stderr.log")
        with open(errpath, "wb") as errf:
            p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=errf)
        # Children seen before the error is reported would be workers. (After it,
        # a sanitizer build's leak checker may show up as a child at exit.)
        seen_children = set()
        deadline = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < deadline:
            kids = harness.children_of(p.pid)
            if kids and "127.0.0.1:%d" % taken not in open(errpath).read():
                seen_children.update(kids)
            time.sleep(0.002)
        assert p.poll() is not None, "preforkd did not exit on a bind error"
        err = open(errpath).read()
        assert p.returncode == 1, (p.returncode, err)
        assert "127.0.0.1:%d" % taken in err, err
        assert "in use" in err.lower(), err
        assert not seen_children, "workers were forked: %s" % seen_children
        assert not re.search(r"worker \d+ started", err), err
        assert not os.path.exists(os.path.join(d, "preforkd.pid"))
    finally:
        blocker.close()


# ---- daemon mode ----

def test_daemon_mode_detaches_and_pid_file_names_the_daemon():
    d = harness.tmpdir()
    port = harness.free_port()
    conf = write(os.path.join(d, "server.conf"), config(
        svc("echo", "127.0.0.1:%d" % port, workers=2), error_log="error.log"))
    try:
        t0 = time.monotonic()
        r = harness.preforkd("-d", "-c", conf, timeout=30)
        assert r.returncode == 0, r
        assert time.monotonic() - t0 < 15 * SLOW
        pid_file = os.path.join(d, "preforkd.pid")
        pid = int(open(pid_file).read())
        assert harness.pid_alive(pid), pid
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ppid, sid = int(fields[1]), int(fields[3])
        assert ppid != os.getpid(), "the daemon's parent is the test"
        assert sid != os.getsid(0), "the daemon did not start a new session"
        # stdio is closed (on /dev/null), the cwd is /.
        for fd in (0, 1, 2):
            assert os.readlink("/proc/%d/fd/%d" % (pid, fd)) == "/dev/null", fd
        assert os.readlink("/proc/%d/cwd" % pid) == "/"
        # It serves, through its workers, and answers -s status.
        assert harness.echo_once("127.0.0.1:%d" % port, b"daemon") == b"daemon"
        harness.wait_until(lambda: len(harness.children_of(pid)) == 2, 10, what="2 workers")
        st = harness.preforkd("-c", conf, "-s", "status")
        assert st.returncode == 0, st
        for w in harness.children_of(pid):
            assert str(w) in st.stdout.decode()
        assert "ready" in open(os.path.join(d, "error.log")).read()
        # -s stop ends it and returns once it is gone.
        r = harness.preforkd("-c", conf, "-s", "stop", timeout=30)
        assert r.returncode == 0, r
        assert not harness.pid_alive(pid)
        assert not os.path.exists(pid_file)
        harness.wait_until(lambda: not procs_with_conf(conf), 5, what="daemon's workers to exit")
    finally:
        kill_pids(procs_with_conf(conf))


def test_daemon_mode_exits_1_when_handler_init_fails():
    d = harness.tmpdir()
    harness.build_failinit(d)
    conf = write(os.path.join(d, "server.conf"), config(
        svc("ok", "127.0.0.1:%d" % harness.free_port(), workers=1),
        svc("broken", "127.0.0.1:%d" % harness.free_port(), handler="failinit",
            module="failinit.so", workers=2),
        error_log="error.log", shutdown_timeout=3))
    try:
        t0 = time.monotonic()
        r = harness.preforkd("-d", "-c", conf, timeout=30)
        assert r.returncode == 1, r
        assert time.monotonic() - t0 < 10 * SLOW
        harness.wait_until(lambda: not procs_with_conf(conf), 10,
                           what="no process left of the failed daemon")
        assert not os.path.exists(os.path.join(d, "preforkd.pid"))
        log = open(os.path.join(d, "error.log")).read()
        assert "init" in log, log
    finally:
        kill_pids(procs_with_conf(conf))


# ---- relative paths ----

def test_relative_paths_resolve_against_the_config_folder():
    top = harness.tmpdir()
    conf_dir = os.path.join(top, "etc")
    os.makedirs(os.path.join(conf_dir, "run"))
    os.makedirs(os.path.join(conf_dir, "logs"))
    elsewhere = os.path.join(top, "elsewhere")
    os.makedirs(elsewhere)
    port = harness.free_port()
    conf = write(os.path.join(conf_dir, "server.conf"), config(
        svc("tcp", "127.0.0.1:%d" % port, workers=1),
        svc("local", "unix:run/echo.sock", workers=1),
        pid_file="run/preforkd.pid", error_log="logs/error.log", control_socket="run/ctl.sock"))
    rel = os.path.relpath(conf, elsewhere)     # ../etc/server.conf
    p = harness.spawn(VALGRIND + [harness.PREFORKD, "-c", rel], cwd=elsewhere,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = os.path.join(conf_dir, "run", "preforkd.pid")

    def ready():
        assert p.poll() is None, "preforkd exited with %s" % p.returncode
        try:
            return int(open(pid_file).read()) == p.pid
        except (OSError, ValueError):
            return False
    harness.wait_until(ready, 15, what="pid file in the config folder")
    harness.wait_until(lambda: harness.can_connect("unix:" + os.path.join(conf_dir, "run/echo.sock")),
                       10, what="unix listener in the config folder")
    assert os.path.exists(os.path.join(conf_dir, "run", "ctl.sock"))
    harness.wait_until(lambda: "ready" in open(os.path.join(conf_dir, "logs", "error.log")).read(),
                       10, what="error log in the config folder")
    assert os.listdir(elsewhere) == [], os.listdir(elsewhere)
    # -s from yet another cwd finds the same files.
    st = subprocess.run(VALGRIND + [harness.PREFORKD, "-c", conf, "-s", "status"], cwd="/",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert st.returncode == 0, st
    assert "local" in st.stdout.decode() and "tcp" in st.stdout.decode()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=15) == 0
    assert not os.path.exists(pid_file)
    assert not os.path.exists(os.path.join(conf_dir, "run", "echo.sock"))
    assert not os.path.exists(os.path.join(conf_dir, "run", "ctl.sock"))


harness.main(globals())

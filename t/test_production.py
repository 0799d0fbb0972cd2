"""test_production.py - running preforkd in production: privileges (user,
group, chroot, rlimit_nofile), daemon mode (-d), systemd's notify protocol
and socket activation (LISTEN_FDS), the PROXY protocol end to end (raw v1
and v2 headers, and a real HAProxy in front of two instances), the man
pages and `make install`.

Tests that need root (dropping privileges, chroot, a port below 1024) skip
when the suite does not run as root; the one that proves `user` is ignored
without root runs preforkd as nobody through setpriv when the suite is
root. The HAProxy test skips only where no haproxy binary can be found."""
import glob
import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import harness
from harness import (Server, closed_without_a_byte, config, echo_once, free_port, listening_inodes,
                     socket_inodes, svc, wait_until)

S = harness.SRCDIR
B = harness.BUILDDIR


def http_block(root="www", access_log="access.log"):
    return 'http = { root = "%s"; access_log = "%s"; };' % (root, access_log)


def make_www(folder, body="hello from prefork\n"):
    www = os.path.join(folder, "www")
    os.makedirs(www, exist_ok=True)
    os.chmod(www, 0o755)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write(body)
    os.chmod(os.path.join(www, "index.html"), 0o644)
    return www


def need_root():
    if os.geteuid() != 0:
        raise harness.Skip("needs root (the suite runs as uid %d)" % os.geteuid())


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def nofile_limits(pid):
    """(soft, hard) "Max open files" of a process, as strings."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise AssertionError("no Max open files line for %d" % pid)


def free_low_port():
    """A port below 1024 that is free on 127.0.0.1 right now (root only)."""
    ports = list(range(600, 1000))
    random.shuffle(ports)
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port below 1024")


def raw_exchange(port, data, timeout=10.0, source=None):
    """Connect to 127.0.0.1:port (from `source` when given), send data, read to EOF."""
    s = socket.socket()
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    try:
        if data:
            s.sendall(data)
        return harness.recv_all(s)
    finally:
        s.close()


# ---- privileges ----------------------------------------------------------

def test_workers_drop_to_user_and_group_master_stays_root():
    need_root()
    port = free_low_port()
    addr = "127.0.0.1:%d" % port
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    srv = Server(config(svc("echo", addr, workers=2), user="nobody", group="nogroup"))
    srv.start(wait_for=[addr])
    kids = srv.wait_workers(2)
    assert echo_once(addr, b"low port\n") == b"low port\n"
    master = proc_status(srv.pid)
    assert master["Uid"].split() == ["0"] * 4, master["Uid"]
    for k in kids:
        st = proc_status(k)
        assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, (k, st["Uid"])
        assert st["Gid"].split() == [str(nogroup.gr_gid)] * 4, (k, st["Gid"])
        groups = set(int(g) for g in st["Groups"].split())
        assert 0 not in groups, st["Groups"]
        assert groups <= set(os.getgrouplist("nobody", nogroup.gr_gid)), st["Groups"]
        # No capability left: root cannot be regained.
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, st["CapEff"]


def test_user_without_group_uses_primary_and_supplementary_groups():
    need_root()
    # A user with supplementary groups shows initgroups at work; else nobody.
    user = None
    for g in grp.getgrall():
        for member in g.gr_mem:
            try:
                pw = pwd.getpwnam(member)
            except KeyError:
                continue
            if pw.pw_uid != 0 and g.gr_gid != pw.pw_gid:
                user = pw
                break
        if user:
            break
    user = user or pwd.getpwnam("nobody")
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(config(svc("echo", addr, workers=1), user=user.pw_name))
    srv.start(wait_for=[addr])
    (k,) = srv.wait_workers(1)
    st = proc_status(k)
    assert st["Uid"].split() == [str(user.pw_uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(user.pw_gid)] * 4, st["Gid"]
    want = set(os.getgrouplist(user.pw_name, user.pw_gid))
    assert set(int(g) for g in st["Groups"].split()) == want, (user.pw_name, st["Groups"], want)


def test_privileged_workers_exit_when_the_master_is_killed():
    need_root()
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(config(svc("echo", addr, workers=2), user="nobody", group="nogroup"))
    srv.start(wait_for=[addr])
    kids = srv.wait_workers(2)
    # Changing credentials clears the parent-death signal; the workers set it again.
    os.kill(srv.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    wait_until(lambda: not any(harness.pid_alive(k) for k in kids), 5.0,
               what="workers of a killed master to exit")
    wait_until(lambda: not harness.can_connect(addr), 5.0, what="the port to be free")


def test_chroot_workers_serve_from_the_jail_master_does_not():
    need_root()
    d = harness.tmpdir()
    os.chmod(d, 0o755)
    make_www(d, "jailed\n")
    jail = os.path.join(d, "jail")
    os.mkdir(jail, 0o755)
    port, port2 = free_port(), free_port()
    addr, addr2 = "127.0.0.1:%d" % port, "127.0.0.1:%d" % port2
    srv = Server(config(svc("web", addr, "http", extra=http_block(access_log=""), workers=1),
                        user="nobody", group="nogroup", chroot="jail"), folder=d)
    srv.start(wait_for=[addr])
    (k,) = srv.wait_workers(1)
    assert os.readlink("/proc/%d/root" % k) == os.path.realpath(jail)
    assert os.readlink("/proc/%d/cwd" % k) == os.path.realpath(jail)
    assert os.readlink("/proc/%d/root" % srv.pid) == "/"
    assert proc_status(k)["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid)
    # The document root was opened before chroot: files are still served.
    r = harness.client("--http", "/", addr)
    assert r.returncode == 0 and r.stdout == b"jailed\n", r
    srv.stop()

    # chroot without user: the workers are jailed and stay root.
    d2 = harness.tmpdir()
    os.mkdir(os.path.join(d2, "jail"))
    srv2 = Server(config(svc("echo", addr2, workers=1), chroot="jail"), folder=d2)
    srv2.start(wait_for=[addr2])
    (k2,) = srv2.wait_workers(1)
    assert os.readlink("/proc/%d/root" % k2) == os.path.realpath(os.path.join(d2, "jail"))
    assert echo_once(addr2, b"x") == b"x"


def test_user_and_chroot_ignored_with_a_warning_when_not_root():
    d = harness.tmpdir()
    os.mkdir(os.path.join(d, "jail"))
    port = free_port()
    addr = "127.0.0.1:%d" % port
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            raise harness.Skip("running as root and no setpriv to start preforkd as nobody")
        nobody = pwd.getpwnam("nobody")
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        run_uid = nobody.pw_uid
    else:
        run_uid = os.geteuid()
    conf = harness.write(os.path.join(d, "server.conf"),
                         config(svc("echo", addr, workers=2), user="root", chroot="jail"))
    os.chmod(conf, 0o644)
    log = open(os.path.join(d, "out.log"), "wb")
    p = harness.spawn(prefix + [harness.PREFORKD, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    wait_until(lambda: p.poll() is not None or harness.can_connect(addr), 15.0, what="preforkd")
    out = open(os.path.join(d, "out.log")).read()
    assert p.poll() is None, out
    assert "'user' is ignored: not started as root" in out, out
    assert "'chroot' is ignored: not started as root" in out, out
    kids = wait_until(lambda: len(harness.children_of(p.pid)) == 2 and harness.children_of(p.pid),
                      10.0, what="2 workers")
    for k in [p.pid] + kids:
        assert proc_status(k)["Uid"].split()[0] == str(run_uid), k
        assert os.readlink("/proc/%d/root" % k) == "/"
    assert echo_once(addr, b"still serving") == b"still serving"


def test_rlimit_nofile_in_master_and_workers_and_on_reload():
    if getattr(harness, "VALGRIND", None):
        raise harness.Skip("valgrind keeps RLIMIT_NOFILE to itself (make check-valgrind)")
    port = free_port()
    addr = "127.0.0.1:%d" % port
    start_soft, start_hard = nofile_limits(os.getpid())
    if start_hard != "unlimited" and int(start_hard) < 1000:
        raise harness.Skip("hard RLIMIT_NOFILE %s is below the values tested" % start_hard)
    srv = Server(config(svc("echo", addr, workers=2), rlimit_nofile=1000))
    srv.start(wait_for=[addr])
    kids = srv.wait_workers(2)
    assert nofile_limits(srv.pid) == ("1000", start_hard), nofile_limits(srv.pid)
    for k in kids:
        assert nofile_limits(k)[0] == "1000", (k, nofile_limits(k))
    # A reload applies a new value to the new generation.
    srv.write_conf(config(svc("echo", addr, workers=2), rlimit_nofile=900))
    r = harness.preforkd("-c", srv.conf, "-s", "reload")
    assert r.returncode == 0, r
    def only_new():
        w = srv.workers()
        return w if len(w) == 2 and not set(w) & set(kids) else None
    new = wait_until(only_new, 10.0, what="the old generation to leave")
    for k in new:
        assert nofile_limits(k)[0] == "900", (k, nofile_limits(k))


# ---- daemon mode ---------------------------------------------------------

def run_daemon(conf, timeout=30):
    """Run preforkd -d: (exit status, stdout, stderr). communicate() returning
    at all shows that the daemon kept no copy of the pipes."""
    p = harness.spawn([harness.PREFORKD, "-d", "-c", conf], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode(), err.decode()


def test_daemon_mode_detaches_and_pid_file_names_the_daemon():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(config(svc("echo", addr, workers=2), error_log="error.log"))
    pid = 0
    try:
        t0 = time.monotonic()
        rc, out, err = run_daemon(srv.conf)
        assert rc == 0, (rc, out, err)
        assert out == "" and err == "", (out, err)
        pid = srv.read_pid()
        assert pid and harness.pid_alive(pid), pid
        # Ready when -d returns: workers in accept(), the port answers.
        assert harness.can_connect(addr)
        kids = harness.children_of(pid)
        assert len(kids) == 2, kids
        wait_until(lambda: all("accept" in harness.wchan(k) for k in kids), 2.0,
                   what="the daemon's workers in accept()")
        assert pid not in harness.children_of(os.getpid())
        with open("/proc/%d/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        assert ppid != os.getpid(), ppid
        # A new session, and not its leader: it can never regain a terminal.
        assert os.getsid(pid) != os.getsid(0) and os.getsid(pid) != pid
        for fd in (0, 1, 2):
            assert os.readlink("/proc/%d/fd/%d" % (pid, fd)) == "/dev/null", fd
        assert os.readlink("/proc/%d/cwd" % pid) == "/"
        assert echo_once(addr, b"daemon\n") == b"daemon\n"
        log = open(os.path.join(srv.dir, "error.log")).read()
        assert "ready" in log and "%d master" % pid in log, log
        # -s quit waits until it is gone; the pid file goes with it.
        r = harness.preforkd("-c", srv.conf, "-s", "quit")
        assert r.returncode == 0, r
        assert not harness.pid_alive(pid)
        assert not os.path.exists(srv.pid_file)
        assert time.monotonic() - t0 < 20
    finally:
        # A daemon is not our child: stop it and its workers by PID.
        if pid:
            harness.kill_pids(harness.children_of(pid) + [pid])


def test_daemon_mode_errors_reach_the_terminal_and_exit_1():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    # A configuration error: FILE:LINE on stderr.
    srv = Server(config(svc("echo", addr), error_log="error.log", no_such_key=1))
    rc, out, err = run_daemon(srv.conf)
    assert rc == 1, (rc, out, err)
    assert re.search(r"server\.conf:\d+: unknown key 'no_such_key'", err), err
    assert not os.path.exists(srv.pid_file)
    # A bind error after the configuration is known good, with the log in a
    # file: still on the terminal, and nothing left running.
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        for error_log in ("error.log", ""):
            srv.write_conf(config(svc("echo", addr), error_log=error_log))
            rc, out, err = run_daemon(srv.conf)
            assert rc == 1, (error_log, rc, out, err)
            assert "bind %s: Address already in use" % addr in err, (error_log, err)
            assert not os.path.exists(srv.pid_file)
    finally:
        holder.close()


def test_daemon_mode_init_failure_exits_1_with_the_reason():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(config(svc("t", addr, "testmod", module=harness.module("testmod"),
                            extra='testmod = { init = "fail"; };')))
    t0 = time.monotonic()
    rc, out, err = run_daemon(srv.conf)
    assert rc == 1, (rc, out, err)
    assert "start-up failed" in err and "handler init failed" in err, err
    assert time.monotonic() - t0 < 20
    # Everything was cleaned up before -d returned.
    assert not os.path.exists(srv.pid_file)
    assert not os.path.exists(srv.control)
    assert not harness.can_connect(addr)


# ---- systemd -------------------------------------------------------------

class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "prefork-test-%d-%d" % (os.getpid(), random.randrange(1 << 30))
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(harness.tmpdir(), "notify")
            self.sock.bind(self.address)
        self.sock.setblocking(False)
        self.messages = []

    def poll(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def events(self):
        """Messages other than pure STATUS= lines, as lists of lines."""
        return [m.split("\n") for m in self.poll() if not m.startswith("STATUS=")]

    def wait_for(self, pred, what, timeout=10.0):
        return wait_until(lambda: pred(self.poll()), timeout, what=what + " (got %r)" % self.messages)


def kinds(events):
    return [next((l for l in e if l in ("READY=1", "RELOADING=1", "STOPPING=1")), e[0])
            for e in events]


def test_notify_ready_reloading_stopping_and_status():
    ns = NotifySocket()
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(config(svc("echo", addr, workers=2)), env={"NOTIFY_SOCKET": ns.address})
    srv.start(wait_for=[addr])
    ns.wait_for(lambda m: ns.events(), "READY=1")
    first = ns.events()[0]
    assert "READY=1" in first and "MAINPID=%d" % srv.pid in first, first
    # STATUS= lines follow the pool: idle and busy counts.
    ns.wait_for(lambda m: any(re.match(r"STATUS=.*\b2 idle, 0 busy", x) for x in m), "2 idle")
    held = harness.connect(addr)
    held.sendall(b"x")
    assert held.recv(1) == b"x"
    ns.wait_for(lambda m: any(re.match(r"STATUS=.*\b1 idle, 1 busy", x) for x in m), "1 busy",
                timeout=5.0)
    held.close()
    ns.wait_for(lambda m: re.match(r"STATUS=.*\b2 idle, 0 busy", m[-1]), "back to 0 busy",
                timeout=5.0)

    # A good reload: RELOADING=1 with MONOTONIC_USEC, then READY=1.
    before = time.monotonic()
    srv.signal(signal.SIGHUP)
    ns.wait_for(lambda m: len(ns.events()) >= 3, "READY=1 after the reload")
    after = time.monotonic()
    ev = ns.events()
    assert kinds(ev) == ["READY=1", "RELOADING=1", "READY=1"], ev
    usec = [l for l in ev[1] if l.startswith("MONOTONIC_USEC=")]
    assert usec, ev[1]
    assert before * 1e6 - 1e4 <= int(usec[0].split("=")[1]) <= after * 1e6 + 1e4, (usec, before, after)
    ns.wait_for(lambda m: any(x.startswith("STATUS=") and "last reload: ok" in x for x in m),
                "STATUS with the reload result")

    # A failed reload ends with READY=1 too, and the STATUS says so.
    srv.write_conf("services = ( { name = 1; } );\n")
    srv.signal(signal.SIGHUP)
    ns.wait_for(lambda m: len(ns.events()) >= 5, "READY=1 after the failed reload")
    assert kinds(ns.events()) == ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1"]
    ns.wait_for(lambda m: any(x.startswith("STATUS=") and "failed" in x for x in m),
                "STATUS with the failure")

    srv.signal(signal.SIGTERM)
    assert srv.wait_exit() == 0
    ns.poll()
    assert kinds(ns.events())[-1] == "STOPPING=1", ns.messages
    assert kinds(ns.events()).count("STOPPING=1") == 1, ns.messages


def test_notify_abstract_socket():
    ns = NotifySocket(abstract=True)
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(config(svc("echo", addr, workers=1)), env={"NOTIFY_SOCKET": ns.address})
    srv.start(wait_for=[addr])
    ns.wait_for(lambda m: any(x.startswith("READY=1") for x in m), "READY=1")


def test_listen_fds_socket_activation_used_and_kept_across_reloads():
    ls = harness.listening_socket(backlog=64)
    port = ls.getsockname()[1]
    addr = "127.0.0.1:%d" % port
    ino = os.fstat(ls.fileno()).st_ino
    other = "127.0.0.1:%d" % free_port()
    conf_a = config(svc("echo", addr, workers=2))
    conf_b = config(svc("other", other, workers=1))
    srv = Server(conf_a)
    fd = ls.fileno()
    redirect = "" if fd == 3 else " 3<&%d %d<&-" % (fd, fd)
    log = open(srv.log, "ab")
    p = harness.spawn(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -c "$1"' + redirect,
                       harness.PREFORKD, srv.conf], pass_fds=[fd], stdout=log,
                      stderr=subprocess.STDOUT)
    srv.proc = p
    wait_until(lambda: p.poll() is not None or srv.read_pid() == p.pid, 15.0, what="pid file")
    assert p.poll() is None, srv.output()
    kids = srv.wait_workers(2)
    assert "using inherited socket %s (descriptor 3)" % addr in srv.output(), srv.output()
    assert echo_once(addr, b"activated") == b"activated"
    # The master serves on our socket and bound no other on that port.
    assert ino in socket_inodes(p.pid)
    assert listening_inodes(port) == [ino], listening_inodes(port)
    for k in kids:
        assert ino in socket_inodes(k)

    # Reload onto a configuration without that service: the socket is kept...
    srv.write_conf(conf_b)
    r = harness.preforkd("-c", srv.conf, "-s", "reload")
    assert r.returncode == 0, r
    wait_until(lambda: harness.can_connect(other), 10.0, what="the other service")
    assert ino in socket_inodes(p.pid)
    # ... and taken again when the service comes back.
    srv.write_conf(conf_a)
    r = harness.preforkd("-c", srv.conf, "-s", "reload")
    assert r.returncode == 0, r
    assert echo_once(addr, b"again") == b"again"
    assert ino in socket_inodes(p.pid)
    assert listening_inodes(port) == [ino], listening_inodes(port)
    new = srv.wait_workers(2)
    assert not set(new) & set(kids), (new, kids)
    assert all(ino in socket_inodes(k) for k in new), new
    # An inherited socket is not ours to close at stop: the test's copy is untouched.
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit() == 0
    assert listening_inodes(port) == [ino]


# ---- PROXY protocol ------------------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst, sport, dport, tlvs=b""):
    if ":" in src:
        fam = 0x21
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam = 0x11
        body = socket.inet_aton(src) + socket.inet_aton(dst)
    body += struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def v2_local():
    return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)


GET = b"GET / HTTP/1.0\r\n\r\n"


def proxy_server(read_timeout=None):
    d = harness.tmpdir()
    make_www(d, "proxied\n")
    http_port, echo_port = free_port(), free_port()
    extra = {} if read_timeout is None else {"read_timeout": read_timeout}
    srv = Server(config(
        svc("web", "127.0.0.1:%d" % http_port, "http", extra=http_block(), workers=2,
            proxy_protocol=True, **extra),
        svc("echo", "127.0.0.1:%d" % echo_port, workers=2, proxy_protocol=True, **extra),
        svc("status", "127.0.0.1:%d" % free_port(), "status", workers=1)), folder=d)
    srv.start(wait_for=["127.0.0.1:%d" % http_port, "127.0.0.1:%d" % echo_port])
    srv.wait_workers(5)
    return srv, http_port, echo_port


def access_lines(srv, n):
    path = os.path.join(srv.dir, "access.log")

    def lines():
        got = harness.read_text(path).splitlines()
        return got if len(got) >= n else None
    return wait_until(lines, 10.0, what="%d access log lines" % n)


def test_proxy_v1_and_v2_address_reaches_handler_access_log_and_status():
    srv, http_port, echo_port = proxy_server()
    cases = [
        (b"PROXY TCP4 203.0.113.9 127.0.0.1 40001 80\r\n", "203.0.113.9"),
        (v2_header("2001:db8::7", "2001:db8::1", 40002, 80), "2001:db8::7"),
        (v2_header("198.51.100.3", "127.0.0.1", 40003, 80, tlvs=b"\x04\x02\xbc" + b"z" * 700),
         "198.51.100.3"),                                # TLVs beyond any small buffer
        (v2_local(), "127.0.0.1"),                       # LOCAL keeps the real peer
        (b"PROXY UNKNOWN\r\n", "127.0.0.1"),
    ]
    for header, _ in cases:
        resp = raw_exchange(http_port, header + GET)
        assert resp.startswith(b"HTTP/1.0 200") or resp.startswith(b"HTTP/1.1 200"), resp[:80]
        assert resp.endswith(b"proxied\n"), resp
    # Workers log after answering, so two lines may land in either order.
    lines = access_lines(srv, len(cases))
    assert sorted(l.split()[0] for l in lines) == sorted(host for _, host in cases), lines

    # Echo: the header is taken off exactly; every client byte comes back.
    payload = b"first bytes after the header" * 100
    for header in (b"PROXY TCP4 192.0.2.5 127.0.0.1 1234 7\r\n", v2_header("192.0.2.5", "127.0.0.1", 1234, 7)):
        s = socket.create_connection(("127.0.0.1", echo_port), timeout=10)
        s.sendall(header + payload)
        s.shutdown(socket.SHUT_WR)
        assert harness.recv_all(s) == payload
        s.close()

    # Status shows the carried address of a connection in progress.
    s = socket.create_connection(("127.0.0.1", echo_port), timeout=10)
    s.sendall(b"PROXY TCP4 198.51.100.23 127.0.0.1 4242 7\r\nx")
    assert s.recv(1) == b"x"
    wait_until(lambda: "peer=198.51.100.23:4242" in harness.status_text(srv), 5.0,
               what="the proxied peer in the status")
    s.close()


def test_proxy_without_a_valid_header_closed_without_a_byte():
    srv, http_port, echo_port = proxy_server(read_timeout=1.0)
    bad = [
        GET,                                                        # no header at all
        b"PROXY TCP4 203.0.113.9 127.0.0.1 99999 80\r\n" + GET,     # port out of range
        b"PROXY TCP4 203.0.113.9\r\n" + GET,                        # fields missing
        V2_SIG + bytes([0x11, 0x11]) + struct.pack("!H", 12) + b"\0" * 12 + GET,  # version 1
        b"PROXY " + b"A" * 200 + b"\r\n",                           # too long
    ]
    for data in bad:
        s = socket.create_connection(("127.0.0.1", http_port), timeout=10)
        s.sendall(data)
        assert closed_without_a_byte(s), data
        s.close()
    # Silence, or a header cut short, is closed within read_timeout (1 s here).
    for data in (b"", b"PROXY TCP4 203.0.113.9 ", V2_SIG[:8]):
        s = socket.create_connection(("127.0.0.1", echo_port), timeout=10)
        if data:
            s.sendall(data)
        t0 = time.monotonic()
        assert closed_without_a_byte(s), data
        took = time.monotonic() - t0
        assert 0.7 <= took <= 3.5, (data, took)
        s.close()
    # None of them reached the handler; valid connections still do.
    assert not os.path.exists(os.path.join(srv.dir, "access.log")) or \
        open(os.path.join(srv.dir, "access.log")).read() == ""
    resp = raw_exchange(http_port, b"PROXY TCP4 203.0.113.1 127.0.0.1 1 80\r\n" + GET)
    assert b" 200 " in resp.split(b"\r\n")[0], resp[:80]


def test_proxy_header_wait_is_at_most_five_seconds():
    srv, http_port, echo_port = proxy_server(read_timeout=30.0)
    s = socket.create_connection(("127.0.0.1", echo_port), timeout=20)
    t0 = time.monotonic()
    assert closed_without_a_byte(s)
    took = time.monotonic() - t0
    assert 4.5 <= took <= 8.0, took


def find_haproxy():
    for cand in (shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def test_haproxy_send_proxy_v2_balances_two_instances_and_logs_client_address():
    haproxy = find_haproxy()
    if not haproxy:
        raise harness.Skip("haproxy not found (Debian: apt-get install haproxy)")
    backends = []
    for name in ("a", "b"):
        d = harness.tmpdir()
        make_www(d, "served by %s\n" % name)
        port, status_port = free_port(), free_port()
        srv = Server(config(
            svc("web", "127.0.0.1:%d" % port, "http", extra=http_block(), workers=2,
                proxy_protocol=True),
            svc("status", "127.0.0.1:%d" % status_port, "status", workers=1)), folder=d)
        srv.start(wait_for=["127.0.0.1:%d" % port])
        backends.append((name, srv, port, status_port))
    front = free_port()
    d = harness.tmpdir()
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("""global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
%s
""" % (front, "\n".join("    server %s 127.0.0.1:%d send-proxy-v2 check port %d inter 300ms"
                        % (name, port, sport) for name, _, port, sport in backends)))
    check = subprocess.run([haproxy, "-c", "-f", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    assert check.returncode == 0, check.stdout.decode()
    hlog = open(os.path.join(d, "haproxy.log"), "wb")
    hp = harness.spawn([haproxy, "-db", "-f", cfg], stdout=hlog, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: hp.poll() is not None or harness.can_connect("127.0.0.1:%d" % front),
                   10.0, what="haproxy")
        assert hp.poll() is None, open(os.path.join(d, "haproxy.log")).read()

        # The client comes from 127.0.0.2; haproxy reaches the backends from 127.0.0.1.
        def request():
            resp = raw_exchange(front, GET, source="127.0.0.2")
            assert resp.split(b"\r\n")[0].endswith(b"200 OK"), resp[:100]
            return resp.rsplit(b"\n", 2)[-2].decode()

        def logged(srv):
            return harness.read_text(os.path.join(srv.dir, "access.log")).splitlines()

        # Until health checks have both servers up, requests may all go to one.
        wait_until(lambda: request() and all(logged(b[1]) for b in backends), 15.0, interval=0.05,
                   what="both backends to receive requests")
        before = [len(logged(b[1])) for b in backends]
        answers = [request() for _ in range(20)]
        counts = wait_until(lambda: [len(logged(b[1])) - n for b, n in zip(backends, before)]
                            if sum(len(logged(b[1])) for b in backends) >= sum(before) + 20
                            else None, 10.0, what="20 more access log lines")
        assert sum(counts) == 20, counts
        assert min(counts) >= 7, (counts, answers)       # round robin: 10 and 10
        assert set(answers) == {"served by a", "served by b"}, answers
        for _, srv, _, _ in backends:
            for line in logged(srv):
                assert line.startswith("127.0.0.2 "), line
    finally:
        hp.terminate()
        try:
            hp.wait(timeout=5)
        except subprocess.TimeoutExpired:
            hp.kill()


# ---- documentation and installation ---------------------------------------

def man_text(name):
    """A man page as plain text: rendered by groff when there is one
    (one long line per paragraph, no hyphenation), else its roff source
    with hyphens and font switches made plain."""
    path = os.path.join(S, "man", name)
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-man", "-Tascii", "-rLL=5000n", "-rHY=0", "-P-cbou", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        return r.stdout.decode("ascii", "replace")
    with open(path) as f:
        src = f.read()
    src = re.sub(r"\\f[BIRP]", "", src.replace("\\-", "-"))
    return re.sub(r"\s\((\d)\)", r"(\1)", src)


def test_man_pages_render_and_document_every_flag_key_and_signal():
    for name in ("preforkd.8", "server.conf.5", "prefork-client.1"):
        path = os.path.join(S, "man", name)
        assert os.path.exists(path), path
        if shutil.which("groff"):
            r = subprocess.run(["groff", "-man", "-ww", "-z", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            assert r.returncode == 0 and r.stderr == b"", (name, r.stderr.decode())
    d8 = man_text("preforkd.8")
    for word in ["-c", "-t", "-d", "-s", "-v", "-h", "stop", "quit", "reload", "reopen", "status",
                 "SIGHUP", "SIGTERM", "SIGQUIT", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGTTIN",
                 "SIGTTOU", "SIGCHLD", "EXIT STATUS", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
                 "READY=1", "RELOADING=1", "STOPPING=1", "server.conf(5)"]:
        assert word in d8, word
    d5 = man_text("server.conf.5")
    with open(os.path.join(S, "etc", "server.conf")) as f:
        keys = set(re.findall(r"^\s*#?\s*([a-z_]+)\s*=", f.read(), re.M))
    keys |= {"user", "group", "chroot", "rlimit_nofile", "proxy_protocol", "module",
             "min_spare", "max_spare", "json"}
    for key in sorted(keys):
        assert re.search(r"\b%s\b" % key, d5), key
    d1 = man_text("prefork-client.1")
    usage = subprocess.run([harness.CLIENT, "-h"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT).stdout.decode()
    for opt in sorted(set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", usage))):
        assert opt in d1, opt
    assert "EXIT STATUS" in d1


def test_make_install_destdir_puts_files_where_spec_says():
    if not os.path.exists(os.path.join(B, "Makefile")) or not shutil.which("make"):
        raise harness.Skip("no configured build tree at %s" % B)
    dest = harness.tmpdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}

    def install():
        r = subprocess.run(["make", "-s", "-C", B, "install", "DESTDIR=" + dest], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        assert r.returncode == 0, r.stdout.decode()[-3000:]

    install()
    files = [os.path.relpath(p, dest) for p in glob.glob(dest + "/**", recursive=True)
             if os.path.isfile(p) or os.path.islink(p)]

    def one(suffix):
        found = [f for f in files if f.endswith(suffix)]
        assert found, (suffix, files)
        return os.path.join(dest, found[0])
    assert os.access(one("sbin/preforkd"), os.X_OK)
    assert os.access(one("bin/prefork-client"), os.X_OK)
    for suffix in ("lib/libprefork.so", "lib/libprefork.a", "include/prefork.h",
                   "lib/pkgconfig/prefork.pc", "man/man8/preforkd.8",
                   "man/man5/server.conf.5", "man/man1/prefork-client.1", "man/man3/prefork.3",
                   "contrib/preforkd.service", "contrib/preforkd.socket", "contrib/logrotate"):
        one(suffix)
    conf = one("prefork/server.conf")
    # The unit names the installed binary, not a placeholder.
    with open(one("contrib/preforkd.service")) as f:
        unit = f.read()
    assert "@" not in re.sub(r"^#.*$", "", unit, flags=re.M), unit
    sbin = one("sbin/preforkd")[len(dest):]
    assert "ExecStart=%s " % sbin in unit, unit
    # An existing server.conf is never overwritten.
    with open(conf, "a") as f:
        f.write("# local change\n")
    install()
    assert open(conf).read().endswith("# local change\n")


def test_make_install_as_root_refreshes_the_linker_cache():
    """As root without DESTDIR, make install runs ldconfig; with DESTDIR it does not."""
    if not os.path.exists(os.path.join(B, "Makefile")) or not shutil.which("make"):
        raise harness.Skip("no configured build tree at %s" % B)
    if os.geteuid() != 0:
        raise harness.Skip("needs root (make install runs ldconfig only as root)")
    prefix = harness.tmpdir()
    marker = os.path.join(prefix, "ldconfig-ran")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    fake = "touch %s" % marker
    r = subprocess.run(["make", "-s", "-C", B, "install-exec", "DESTDIR=" + prefix + "/d",
                        "LDCONFIG=" + fake], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    assert r.returncode == 0, r.stdout.decode()[-3000:]
    assert not os.path.exists(marker), "ldconfig ran for a DESTDIR install"
    r = subprocess.run(["make", "-s", "-C", B, "install-exec", "prefix=" + prefix,
                        "LDCONFIG=" + fake], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    assert r.returncode == 0, r.stdout.decode()[-3000:]
    assert os.path.exists(marker), "make install as root did not run ldconfig: " + r.stdout.decode()
    assert os.path.exists(os.path.join(prefix, "lib", "libprefork.so.0"))


harness.main(globals())

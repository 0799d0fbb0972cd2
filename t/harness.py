"""harness.py - shared helpers for prefork's integration tests.

Every test file imports this module, defines functions named test_*, and
ends with `harness.main(globals())`. Each test gets a fresh temporary folder;
every process a test starts is registered and killed by PID afterwards,
whatever the outcome. Readiness is always waited for by polling with a
deadline (wait_until), never by fixed sleeps.

Environment (set by `make check`): PREFORKD, PREFORK_CLIENT, PREFORK_SRCDIR,
PREFORK_BUILDDIR.

Sections: environment; polling, ports, folders and files; processes and
sockets seen through /proc; configuration text; sockets and talking to a
server; modules; running preforkd; the test runner.
"""
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# ---- environment -----------------------------------------------------------

PREFORKD = os.environ.get("PREFORKD", "src/preforkd")
CLIENT = os.environ.get("PREFORK_CLIENT", "src/prefork-client")
SRCDIR = os.environ.get("PREFORK_SRCDIR", ".")
BUILDDIR = os.environ.get("PREFORK_BUILDDIR", ".")
# `make check-valgrind` sets PREFORK_VALGRIND to a valgrind command line:
# every preforkd (master and workers) then runs under it.
VALGRIND = shlex.split(os.environ.get("PREFORK_VALGRIND", ""))


def instrumented():
    """Why this preforkd is not the product's speed, or None: valgrind, or a
    build with AddressSanitizer or coverage counters (read from its symbols)."""
    if VALGRIND:
        return "valgrind keeps its own copy of every page"
    try:
        syms = subprocess.run(["nm", PREFORKD], capture_output=True, text=True).stdout
    except OSError:
        return None
    for mark, why in (("__asan_init", "AddressSanitizer's shadow memory"),
                      ("__gcov_", "coverage counters written by every worker")):
        if mark in syms:
            return why
    return None


# In an instrumented build every preforkd runs slower: tests multiply their
# upper time bounds by SLOW (lower bounds stay as they are). Under valgrind
# by 10; with ASan or gcov by 3 (an -O0 build with both, as CI's coverage
# run, is about that much slower than -O2: a pool of 64 workers forks,
# starts and writes its counters on exit more slowly).
SLOW = 10 if VALGRIND else 3 if instrumented() else 1

SKIP = 77
_procs = []          # every Popen a test started
_tmpdirs = []


class Skip(Exception):
    """Raised by a test that cannot run here; reported, never counted as a pass."""


# ---- polling, ports, folders and files -------------------------------------

# Under valgrind every deadline of a wait is this much longer: a process
# there starts and answers many times slower, and more so on a slow machine
# (a wait that ends in time costs nothing more).
WAIT_SCALE = 3 if VALGRIND else 1


def wait_until(pred, timeout=10.0, interval=0.01, what="condition"):
    """Poll pred() until it returns a true value or the deadline passes."""
    timeout *= WAIT_SCALE
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


_ports_given = set()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port on loopback that is free right now, and never one this
    test process was given before (the kernel may hand the same free port
    to two calls in a row: a test asking for three got one twice)."""
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise AssertionError("no fresh free port after 100 tries")


def tmpdir():
    """A fresh temporary folder, removed after the test."""
    d = tempfile.mkdtemp(prefix="prefork-test-")
    _tmpdirs.append(d)
    return d


def write(path, text):
    """Write text to path; returns path."""
    with open(path, "w") as f:
        f.write(text)
    return path


def read_text(path):
    """The text in path, or "" while it cannot be read (not written yet)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def rewrite(srv, text):
    """Replace srv's configuration atomically: the master never reads half a file."""
    tmp = srv.conf + ".new"
    write(tmp, text)
    os.replace(tmp, srv.conf)


def lines_of(b):
    """The non-blank lines of a process's output (bytes)."""
    return [l for l in b.decode("utf-8", "replace").splitlines() if l.strip()]


# ---- processes and sockets seen through /proc ------------------------------

def spawn(args, **kw):
    """Start a process and register it so it is stopped whatever happens."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(args, **kw)
    _procs.append(p)
    return p


# The system call a process sleeps in, by number (/proc/PID/syscall).
SYSCALLS = {
    "x86_64": {"recvfrom": 45, "poll": 7, "ppoll": 271, "accept4": 288},
    "aarch64": {"recvfrom": 207, "ppoll": 73, "accept4": 242},
}.get(platform.machine())


def syscall_of(pid):
    """The number of the system call pid sleeps in (-1: running or unknown)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            first = f.read().split()[0]
    except (OSError, IndexError):
        return -1
    return int(first) if first.isdigit() else -1


def need_syscalls():
    """Raise Skip (never counted as a pass) where sleeps cannot be seen."""
    if SYSCALLS is None:
        raise Skip("no system call table for %s" % platform.machine())
    if syscall_of(os.getpid()) < 0 and not os.path.exists("/proc/self/syscall"):
        raise Skip("/proc/PID/syscall cannot be read here")


def strace_lines(pids, run):
    """The system calls of pids (one or a list; strace, one per line, with
    no pid prefix) while run() runs."""
    pids = [pids] if isinstance(pids, int) else list(pids)
    if VALGRIND:
        raise Skip("under valgrind a worker's system calls include valgrind's own")
    exe = shutil.which("strace")
    if not exe:
        raise Skip("strace is missing (Debian: apt-get install strace)")
    out = os.path.join(tmpdir(), "strace.txt")
    argv = [exe, "-qq", "-o", out]
    for pid in pids:
        argv += ["-p", str(pid)]
    p = subprocess.Popen(argv, stderr=subprocess.PIPE)
    _procs.append(p)

    # Attached once every process shows as traced (TracerPid in its status).
    def traced():
        if p.poll() is not None:
            raise Skip("strace cannot attach here: %s" % p.stderr.read().decode().strip())
        for pid in pids:
            with open("/proc/%d/status" % pid) as f:
                if not re.search(r"^TracerPid:\s+%d$" % p.pid, f.read(), re.M):
                    return False
        return True
    wait_until(traced, timeout=10 * SLOW, what="strace attached")
    run()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10 * SLOW)
    with open(out) as f:
        return [re.sub(r"^(\[pid\s+\d+\]|\d+)\s+", "", l) for l in f.read().splitlines()]


def pid_alive(pid):
    """True while pid names a process that is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at its state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(name))
    return sorted(out)


def wchan(pid):
    """Where in the kernel pid sleeps ("" when it cannot be read)."""
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return f.read()
    except OSError:
        return ""


def procs_with_conf(conf):
    """Live PIDs (not zombies) whose command line names this configuration
    file: masters and workers, also those that are not our children."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if conf.encode() in args and pid_alive(int(name)):
            out.append(int(name))
    return out


def kill_pids(pids):
    """SIGKILL each of pids, ignoring those already gone."""
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def kill_leftovers(conf):
    """Stop whatever still runs on this configuration file: daemons and
    upgraded masters are not our children, so _cleanup does not see them."""
    kill_pids(procs_with_conf(conf))


def socket_inodes(pid):
    """Inodes of the sockets process pid holds."""
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def listening_inodes(port):
    """Inodes of the TCP sockets listening on port (from /proc/net/tcp)."""
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                out.append(int(fields[9]))
    return out


def listen_inode(port):
    """Inode of the TCP socket listening on port, or None."""
    inodes = listening_inodes(port)
    return inodes[0] if inodes else None


# ---- configuration text ----------------------------------------------------

def _value(v):
    """A Python value as a libconfig value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"%s"' % v
    return "%s" % v


def svc(name, listen, handler="echo", extra="", **kw):
    """One service block: name, listen and handler, then each keyword as a
    setting, then extra (raw text, such as a handler's settings block)."""
    body = 'name = "%s"; listen = "%s"; handler = "%s";' % (name, listen, handler)
    for k, v in kw.items():
        body += " %s = %s;" % (k, _value(v))
    if extra:
        body += " " + extra
    return "{ %s }" % body


def config(*services, **top):
    """A server.conf: each keyword a top-level setting, then the services."""
    lines = ["%s = %s;" % (k, _value(v)) for k, v in top.items()]
    lines.append("services = (\n  %s\n);" % ",\n  ".join(services))
    return "\n".join(lines) + "\n"


# ---- sockets and talking to a server ---------------------------------------

def listening_socket(backlog=1):
    """A TCP socket listening on a free port of 127.0.0.1 (a port held by
    someone else, or a socket to hand to preforkd); its port is
    getsockname()[1]."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s


def connect(addr, timeout=5.0):
    """A connected socket to "HOST:PORT", "[V6]:PORT" or "unix:PATH"."""
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr[5:])
        return s
    host, port = addr.rsplit(":", 1)
    fam = socket.AF_INET
    if host.startswith("["):
        host = host[1:-1]
        fam = socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, int(port)))
    return s


def can_connect(addr):
    """True when addr accepts a connection now."""
    try:
        connect(addr, timeout=1.0).close()
        return True
    except OSError:
        return False


def recv_all(s):
    """Everything s receives until the peer closes."""
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def closed_without_a_byte(s, timeout=None):
    """Read until the peer closes s (timeout: set on s first); True when it
    sent nothing at all. A reset counts as closed."""
    if timeout is not None:
        s.settimeout(timeout)
    try:
        return recv_all(s) == b""
    except ConnectionResetError:
        return True


def echo_once(addr, data=b"ping", timeout=5.0):
    """Send data on a new connection, half-close, return all that comes back."""
    s = connect(addr, timeout=timeout)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    out = recv_all(s)
    s.close()
    return out


def client(*args, input=None, timeout=30):
    """Run prefork-client; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([CLIENT] + [str(a) for a in args], input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def need_client():
    """Fail (not skip) when prefork-client is not built."""
    if not (os.path.isfile(CLIENT) and os.access(CLIENT, os.X_OK)):
        raise AssertionError("prefork-client not found at %r (set PREFORK_CLIENT; build it "
                             "with make)" % CLIENT)


def control(srv, line, timeout=30):
    """Send one command line to srv's control socket; returns the whole answer.
    Every slot taken (the master frees those of closed connections a moment
    later; under valgrind, several moments): retried for a while, as -s does."""
    deadline = time.monotonic() + 5 * SLOW
    while True:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(srv.control)
        s.sendall(line.encode() + b"\n")
        out = recv_all(s).decode()
        s.close()
        if out != "error: too many control connections\n" or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def status(srv, timeout=30):
    """srv's `status json`, parsed."""
    return json.loads(control(srv, "status json", timeout=timeout))


def status_text(srv):
    """The output of `preforkd -s status`, which must succeed."""
    r = preforkd("-c", srv.conf, "-s", "status")
    assert r.returncode == 0, r
    return r.stdout.decode()


# ---- modules ---------------------------------------------------------------

def module(name):
    """Path of a module make check built (t/modules or examples)."""
    for path in (os.path.join(BUILDDIR, "t", "modules", ".libs", name + ".so"),
                 os.path.join(BUILDDIR, "examples", ".libs", name + ".so")):
        if os.path.exists(path):
            return path
    raise AssertionError("module %s.so not built (make check builds it)" % name)


def build_failinit(folder):
    """Compile t/modules/failinit.c (a handler whose init fails) into folder."""
    src = os.path.join(SRCDIR, "t", "modules", "failinit.c")
    out = os.path.join(folder, "failinit.so")
    r = subprocess.run(["cc", "-shared", "-fPIC", "-I" + os.path.join(SRCDIR, "src"),
                        "-o", out, src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, "cannot build %s:\n%s" % (src, r.stdout.decode())
    return out


# ---- raw HTTP ------------------------------------------------------------

class HttpResponse:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers      # lower-case name -> value
        self.body = body
        self.raw_head = raw_head

    def __repr__(self):
        return "<%d %s %r %r>" % (self.status, self.reason, self.headers, self.body[:80])


class HttpConn:
    """A raw HTTP connection that reads responses framed by Content-Length."""

    def __init__(self, addr, timeout=5.0):
        self.sock = connect(addr, timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed with %d bytes pending" % len(self.buf))
        self.buf += chunk

    def read_response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, "duplicate header %s" % name
            headers[name.lower()] = value.strip()
        status = int(status)
        if not head and headers.get("transfer-encoding") == "chunked":
            return HttpResponse(status, reason, headers, self._read_chunks(), raw)
        length = 0
        if not head and status != 304:
            length = int(headers["content-length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return HttpResponse(status, reason, headers, body, raw)

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_chunks(self):
        body = b""
        while True:
            size = int(self._line().split(b";")[0], 16)
            if size == 0:
                while self._line():
                    pass            # trailers, up to the blank line
                return body
            while len(self.buf) < size + 2:
                self._fill()
            assert self.buf[size:size + 2] == b"\r\n", self.buf[:size + 2]
            body, self.buf = body + self.buf[:size], self.buf[size + 2:]

    def read_until_close(self):
        """The rest of the stream up to the server's close (a body delimited by it)."""
        while True:
            try:
                self._fill()
            except EOFError:
                data, self.buf = self.buf, b""
                return data

    def at_eof(self, timeout=5.0):
        """True when the server closed the connection and sent nothing more."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        if data:
            raise AssertionError("unexpected bytes: %r" % data[:200])
        return True

    def close(self):
        self.sock.close()


def http_request(addr, raw, head=False):
    """One request on a new connection; returns the response."""
    c = HttpConn(addr)
    try:
        c.send(raw)
        return c.read_response(head=head)
    finally:
        c.close()


# ---- running preforkd ------------------------------------------------------

class Server:
    """A preforkd started on a configuration written into a temp folder."""

    def __init__(self, conf_text, name="server.conf", extra_args=(), env=None,
                 folder=None):
        self.dir = folder or tmpdir()
        self.conf = os.path.join(self.dir, name)
        self.write_conf(conf_text)
        self.log = os.path.join(self.dir, "stderr.log")
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None

    def write_conf(self, text):
        write(self.conf, text)

    @property
    def pid_file(self):
        return os.path.join(self.dir, "preforkd.pid")

    @property
    def control(self):
        return os.path.join(self.dir, "preforkd.sock")

    def start(self, wait_for=None, timeout=15.0):
        """Start preforkd; wait until the pid file names it and, when given,
        until every address in wait_for accepts connections."""
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.errf = open(self.log, "ab")
        self.proc = spawn(VALGRIND + [PREFORKD, "-c", self.conf] + self.extra_args,
                          stdout=self.errf, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self.proc.poll() is not None or self.read_pid() == self.proc.pid,
                   timeout, what="pid file of preforkd")
        if self.proc.poll() is not None:
            raise AssertionError("preforkd exited with %s:\n%s" % (self.proc.returncode, self.output()))
        for addr in wait_for or ():
            wait_until(lambda: can_connect(addr), timeout, what="listener %s" % addr)
        return self

    def read_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return children_of(self.proc.pid)

    def wait_workers(self, n, timeout=10.0, idle=True):
        """Wait until the master has n children, each blocked in accept()."""
        def ok():
            kids = self.workers()
            if len(kids) != n:
                return None
            if idle and not all("accept" in wchan(k) for k in kids):
                return None
            return kids
        return wait_until(ok, timeout, what="%d idle workers (have %s)" % (n, self.workers()))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=15.0):
        return self.proc.wait(timeout=timeout)

    def output(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kids = self.workers()
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            kill_pids(kids)


def preforkd(*args, timeout=30):
    """Run preforkd to completion (for -t, -v, -h, -s)."""
    return subprocess.run(VALGRIND + [PREFORKD] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def start_server(text, workers, wait_for=()):
    """Start preforkd on configuration text; wait for every address in
    wait_for to accept and for `workers` workers idle in accept()."""
    srv = Server(text)
    srv.start(wait_for=wait_for)
    srv.wait_workers(workers)
    return srv


def start_echo(workers=2, top=None, **svc_kw):
    """preforkd with one echo service, "echo", on a free loopback port (top:
    top-level settings, svc_kw: the service's); returns (server, address)."""
    addr = "127.0.0.1:%d" % free_port()
    text = config(svc("echo", addr, workers=workers, **svc_kw), **(top or {}))
    return start_server(text, workers, [addr]), addr


# ---- the test runner -------------------------------------------------------

def _cleanup():
    for p in _procs:
        if p.poll() is None:
            # Children first, so nothing is left holding a port. A child may
            # exit between the listing and the kill (an old generation's
            # worker finishing): kill_pids ignores it, and the process itself
            # is killed whatever happened to its children.
            kill_pids(children_of(p.pid))
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass
    del _procs[:]
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    del _tmpdirs[:]


def main(namespace):
    """Run every test_* function of the calling module; exit 0, 1 or 77."""
    tests = sorted((n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f))
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for name, fn in tests:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok      %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("skip    %s: %s" % (name, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL    %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
        finally:
            _cleanup()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        sys.exit(1)
    if passed == 0:
        sys.exit(SKIP)
    sys.exit(0)

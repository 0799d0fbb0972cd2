"""harness.py - shared helpers for prefork's integration tests.

Every test file imports this module, defines functions named test_*, and
ends with `harness.main(globals())`. Each test gets a fresh temporary folder;
every process a test starts is registered and killed by PID afterwards,
whatever the outcome. Readiness is always waited for by polling with a
deadline (wait_until), never by fixed sleeps.

Environment (set by `make check`): PREFORKD, PREFORK_CLIENT, PREFORK_SRCDIR,
PREFORK_BUILDDIR.
"""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

PREFORKD = os.environ.get("PREFORKD", "src/preforkd")
CLIENT = os.environ.get("PREFORK_CLIENT", "src/prefork-client")
SRCDIR = os.environ.get("PREFORK_SRCDIR", ".")
BUILDDIR = os.environ.get("PREFORK_BUILDDIR", ".")
# `make check-valgrind` sets PREFORK_VALGRIND to a valgrind command line:
# every preforkd (master and workers) then runs under it.
VALGRIND = shlex.split(os.environ.get("PREFORK_VALGRIND", ""))

SKIP = 77
_procs = []          # every Popen a test started
_tmpdirs = []


class Skip(Exception):
    """Raised by a test that cannot run here; reported, never counted as a pass."""


def wait_until(pred, timeout=10.0, interval=0.01, what="condition"):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port on loopback that is free right now."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tmpdir():
    d = tempfile.mkdtemp(prefix="prefork-test-")
    _tmpdirs.append(d)
    return d


def spawn(args, **kw):
    """Start a process and register it so it is stopped whatever happens."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(args, **kw)
    _procs.append(p)
    return p


def pid_alive(pid):
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
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return f.read()
    except OSError:
        return ""


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
    try:
        connect(addr, timeout=1.0).close()
        return True
    except OSError:
        return False


def recv_all(s):
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def client(*args, input=None, timeout=30):
    """Run prefork-client; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([CLIENT] + [str(a) for a in args], input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


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
        with open(self.conf, "w") as f:
            f.write(text)

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
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass


def preforkd(*args, timeout=30):
    """Run preforkd to completion (for -t, -v, -h, -s)."""
    return subprocess.run(VALGRIND + [PREFORKD] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                # Children first, so nothing is left holding a port.
                for k in children_of(p.pid):
                    os.kill(k, signal.SIGKILL)
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

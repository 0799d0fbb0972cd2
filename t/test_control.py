"""test_control.py - the master's control socket: owner-only, `status` in
text and JSON, `reload`, `workers NAME +N|-N` within 1..max_workers,
errors, answering while every worker is busy, removed at stop, and
disabled by control_socket = ""."""
import json
import os
import pwd
import re
import signal
import stat
import subprocess

import harness
from harness import config, control, echo_once, rewrite, svc


def test_control_socket_is_owner_only():
    srv, addr = harness.start_echo()
    harness.wait_until(lambda: os.path.exists(srv.control), 10, what="control socket")
    st = os.stat(srv.control)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.geteuid()


# A process that, as fast as it can, tries to connect to each socket path
# given and looks at its mode, until the stop file exists; it prints how
# many rounds it made, how many connects got in, and how many times a
# socket file had any group or other permission bit.
RACER_C = r"""
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long rounds = 0, connects = 0, wide = 0;
	time_t end = time(NULL) + 120;
	printf("go\n");
	fflush(stdout);
	for (;;) {
		for (int i = 2; i < argc; i++) {
			struct sockaddr_un sun = { .sun_family = AF_UNIX };
			strncpy(sun.sun_path, argv[i], sizeof(sun.sun_path) - 1);
			int fd = socket(AF_UNIX, SOCK_STREAM, 0);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
				connects++;
			if (fd >= 0)
				close(fd);
			struct stat st;
			if (lstat(argv[i], &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 077))
				wide++;
		}
		if (++rounds % 512 == 0 && (access(argv[1], F_OK) == 0 || time(NULL) > end))
			break;
	}
	printf("%ld %ld %ld\n", rounds, connects, wide);
	return 0;
}
"""


def nobody_or_skip():
    if os.geteuid() != 0:
        raise harness.Skip("needs root: a process running as nobody races the master")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise harness.Skip("there is no user nobody")


def test_control_socket_never_connectable_by_others_at_start_and_reloads():
    """Issue 11 item 2: `nobody` loops on connect() while the master starts
    and while reloads move control_socket back and forth: it never gets in,
    and never sees the socket file with a group or other permission bit."""
    nobody = nobody_or_skip()
    d = harness.tmpdir()
    os.chmod(d, 0o755)
    src = harness.write(os.path.join(d, "racer.c"), RACER_C)
    racer = os.path.join(d, "racer")
    r = subprocess.run(["cc", "-O2", "-o", racer, src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout.decode()
    sock_a, sock_b, stop = (os.path.join(d, n) for n in ("a.sock", "b.sock", "stop"))

    def as_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    p = harness.spawn([racer, stop, sock_a, sock_b], stdout=subprocess.PIPE,
                      preexec_fn=as_nobody)
    assert p.stdout.readline() == b"go\n"
    addr = "127.0.0.1:%d" % harness.free_port()

    def conf(path):
        # Debug logging: the master writes log lines while it opens the socket.
        return config(svc("echo", addr, workers=1), control_socket=path, log_level="debug")
    srv = harness.Server(conf(sock_a), folder=d)
    srv.start(wait_for=[addr])
    # Under valgrind the master is many times slower, so each reload's window
    # between bind() and the mode fix is that much wider for the racer (and a
    # reload waits seconds for the generation before the last to finish): 4
    # reloads there, 100 in the plain and sanitizer builds.
    reloads = 4 if harness.VALGRIND else 100
    for i in range(reloads):
        new, old = (sock_b, sock_a) if i % 2 == 0 else (sock_a, sock_b)
        rewrite(srv, conf(new))
        srv.signal(signal.SIGHUP)
        harness.wait_until(lambda: os.path.exists(new) and not os.path.exists(old),
                           10 * harness.SLOW, what="control socket moved to %s" % new)
    assert stat.S_IMODE(os.stat(sock_a).st_mode) == 0o600
    harness.write(stop, "")
    out, _ = p.communicate(timeout=30)
    rounds, connects, wide = (int(x) for x in out.split())
    assert rounds > 1000, out
    print("racer: %d rounds, %d connects, %d wide modes" % (rounds, connects, wide))
    assert connects == 0, "nobody connected %d times to the control socket" % connects
    assert wide == 0, "nobody saw the control socket with group/other bits %d times" % wide


def test_service_unix_sockets_are_world_connectable_control_socket_is_not():
    """Service unix listeners keep their documented mode 0666, at start and
    when a reload adds one; the control socket stays 0600."""
    d = harness.tmpdir()
    one, two = os.path.join(d, "one.sock"), os.path.join(d, "two.sock")
    srv = harness.Server(config(svc("one", "unix:" + one, workers=1)), folder=d)
    srv.start(wait_for=["unix:" + one])
    assert stat.S_IMODE(os.stat(one).st_mode) == 0o666, oct(os.stat(one).st_mode)
    assert stat.S_IMODE(os.stat(srv.control).st_mode) == 0o600
    rewrite(srv, config(svc("one", "unix:" + one, workers=1), svc("two", "unix:" + two, workers=1)))
    assert control(srv, "reload") == "ok\n"
    assert stat.S_IMODE(os.stat(two).st_mode) == 0o666, oct(os.stat(two).st_mode)
    assert stat.S_IMODE(os.stat(one).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(srv.control).st_mode) == 0o600
    assert echo_once("unix:" + two, b"two") == b"two"


def test_status_text_lists_every_worker_pid():
    srv, addr = harness.start_echo(workers=3)
    kids = srv.workers()
    text = control(srv, "status")
    for k in kids:
        assert re.search(r"\b%d\b" % k, text), (k, text)
    assert "echo" in text and addr in text, text
    # -s status prints the same scoreboard.
    text = harness.status_text(srv)
    for k in kids:
        assert re.search(r"\b%d\b" % k, text)


def test_status_json_has_the_documented_shape_and_the_worker_pids():
    port, sport = harness.free_port(), harness.free_port()
    addr, saddr = "127.0.0.1:%d" % port, "127.0.0.1:%d" % sport
    srv = harness.Server(config(svc("echo", addr, workers=3), svc("stat", saddr, handler="status",
                                                                 workers=1)))
    srv.start(wait_for=[addr, saddr])
    kids = srv.wait_workers(4)

    def echo_served():
        doc = harness.status(srv)
        return sum(w["served"] for s in doc["services"] if s["name"] == "echo" for w in s["workers"])
    # Start's readiness probes were connections too; count from here.
    before = harness.wait_until(lambda: (lambda n: (n,) if n else None)(echo_served()), 10,
                                what="the readiness probe counted")[0]
    for i in range(5):
        assert echo_once(addr, b"n%d" % i) == b"n%d" % i
    # served is counted once the worker is done with the connection.
    harness.wait_until(lambda: echo_served() == before + 5, 10, what="served + 5")
    doc = harness.status(srv)
    assert isinstance(doc["services"], list), doc
    by_name = {s["name"]: s for s in doc["services"]}
    assert set(by_name) == {"echo", "stat"}, doc
    s = by_name["echo"]
    assert s["listen"] == addr and s["handler"] == "echo", s
    assert by_name["stat"]["listen"] == saddr and by_name["stat"]["handler"] == "status"
    for w in s["workers"]:
        for key, typ in (("pid", int), ("generation", int), ("state", str), ("served", int),
                         ("busy_for", (int, float))):
            assert isinstance(w[key], typ), (key, w)
        assert w["state"] == "idle", w
        assert w["generation"] == 1
        assert w["busy_for"] == 0
    pids = sorted(w["pid"] for sv in doc["services"] for w in sv["workers"])
    assert pids == kids, (pids, kids)
    assert isinstance(doc["totals"], dict) and doc["totals"], doc
    # `status json` is the status handler's JSON: same services, same workers.
    handler_doc = json.loads(echo_once(saddr, b"json\n").decode())
    assert {sv["name"] for sv in handler_doc["services"]} == {"echo", "stat"}
    assert sorted(w["pid"] for sv in handler_doc["services"] for w in sv["workers"]) == kids
    assert set(handler_doc["totals"]) == set(doc["totals"])


def test_reload_command_answers_ok_or_failed_with_the_reason():
    srv, addr = harness.start_echo(workers=2)
    old = srv.workers()
    rewrite(srv, config(svc("echo", addr, workers=3)))
    assert control(srv, "reload") == "ok\n"
    new = srv.wait_workers(3)
    assert not set(new) & set(old)
    rewrite(srv, config(svc("echo", addr, workers=3, backlog=0)))
    answer = control(srv, "reload")
    assert answer.startswith("failed: ") and answer.endswith("\n"), answer
    assert "%s:" % srv.conf in answer and "backlog" in answer, answer
    assert srv.wait_workers(3) == new


def test_workers_command_grows_shrinks_and_stays_within_limits():
    srv, addr = harness.start_echo(workers=2, max_workers=5)
    assert control(srv, "workers echo +2") == "ok echo 4\n"
    srv.wait_workers(4)
    assert control(srv, "workers echo -2") == "ok echo 2\n"
    srv.wait_workers(2)
    assert control(srv, "workers echo +10") == "ok echo 5\n"
    srv.wait_workers(5)
    assert control(srv, "workers echo -10") == "ok echo 1\n"
    srv.wait_workers(1)
    assert echo_once(addr, b"one left") == b"one left"
    answer = control(srv, "workers nosuch +1")
    assert answer.startswith("error: "), answer
    assert control(srv, "workers echo 3").startswith("error: ")
    assert control(srv, "frobnicate").startswith("error: ")
    srv.wait_workers(1)


def test_resize_is_exact_a_signal_is_one_step_and_reload_resets_as_documented():
    """Issue 11 item 14: `workers NAME +N` is exact, each delivered SIGTTIN
    is one step, a reload sets the pool back to the file's value; README
    and preforkd(8) say so, and that bursts of signals merge."""
    srv, addr = harness.start_echo(workers=2, max_workers=10)
    assert control(srv, "workers echo +3") == "ok echo 5\n"
    srv.wait_workers(5)
    srv.signal(signal.SIGTTIN)
    srv.wait_workers(6)
    srv.signal(signal.SIGTTOU)
    srv.wait_workers(5)
    assert control(srv, "reload") == "ok\n"
    srv.wait_workers(2)
    with open(os.path.join(harness.SRCDIR, "README.md")) as f:
        readme = " ".join(f.read().split())
    assert "the kernel merges a signal sent again" in readme
    assert "`workers NAME +N` / `workers NAME -N`" in readme
    assert "resets every pool to the file's `workers` value" in readme
    with open(os.path.join(harness.SRCDIR, "man", "preforkd.8")) as f:
        man = " ".join(f.read().split())
    assert "the kernel merges a signal sent again" in man
    assert "sets every pool back to its .B workers value from the file" in man


def holds_a_slot(s):
    """An idle control connection the master neither turned away nor closed."""
    s.setblocking(False)
    try:
        s.recv(100)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.settimeout(5.0)


def take_every_control_slot(srv, slots=0):
    """Idle connections holding every control slot (each for the master's
    5 s line timeout), once one more is turned away as busy and, given the
    number of slots, once they are that many (the master frees the slots of
    connections closed just before a moment later)."""
    hogs = [harness.connect("unix:" + srv.control) for _ in range(16)]

    def turned_away():
        # A short wait for the answer: a probe taken for a holder by mistake
        # is not counted by holds_a_slot once the answer arrives.
        s = harness.connect("unix:" + srv.control, timeout=0.2)
        try:
            busy = s.recv(100) == b"error: too many control connections\n"
        except OSError:
            hogs.append(s)     # it got a slot: keep it too
            return False
        s.close()
        return busy and sum(holds_a_slot(h) for h in hogs) >= slots
    harness.wait_until(turned_away, 5, what="every control slot taken")
    return hogs


def test_s_status_and_reload_when_every_control_slot_is_taken():
    """Issue 11 item 9: a busy answer is an error (exit 1, on stderr), and a
    reload that cannot get a slot falls back to SIGHUP and says so."""
    srv, addr = harness.start_echo(workers=2)
    hogs = take_every_control_slot(srv)
    r = harness.preforkd("-c", srv.conf, "-s", "status")
    assert r.returncode == 1, r
    assert r.stderr == b"error: too many control connections\n", r.stderr
    assert r.stdout == b"", r.stdout
    for h in hogs:
        h.close()
    old = srv.workers()
    hogs = take_every_control_slot(srv, len(hogs))
    r = harness.preforkd("-c", srv.conf, "-s", "reload")
    assert r.returncode == 1, r
    assert b"too many control connections: sent SIGHUP to process %d instead" % srv.pid in r.stderr, \
        r.stderr
    # The SIGHUP did reload: a new generation replaced the workers.
    harness.wait_until(lambda: len(srv.workers()) == 2 and not set(srv.workers()) & set(old),
                       10 * harness.SLOW, what="a new generation after the SIGHUP")
    for h in hogs:
        h.close()
    # With slots free again, both work.
    assert harness.preforkd("-c", srv.conf, "-s", "status").returncode == 0


def test_s_commands_never_die_of_sigpipe():
    """Issue 11 item 9: an answer written to a closed pipe is an error
    (exit 1, said on stderr), never a death by SIGPIPE (exit 141)."""
    srv, addr = harness.start_echo(workers=1)
    for cmd in ("status", "reload"):
        rfd, wfd = os.pipe()
        os.close(rfd)
        try:
            r = subprocess.run(harness.VALGRIND + [harness.PREFORKD, "-c", srv.conf, "-s", cmd],
                               stdin=subprocess.DEVNULL, stdout=wfd, stderr=subprocess.PIPE,
                               timeout=60)
        finally:
            os.close(wfd)
        assert r.returncode == 1, (cmd, r.returncode, r.stderr)
        assert b"cannot write the answer: Broken pipe" in r.stderr, (cmd, r.stderr)
    srv.wait_workers(1)


def test_control_answers_while_every_worker_is_busy():
    srv, addr = harness.start_echo(workers=2, read_timeout=60)
    kids = srv.workers()
    held = []
    for i in range(2):
        s = harness.connect(addr, timeout=10)
        s.sendall(b"hold")
        assert s.recv(10) == b"hold"
        held.append(s)
    doc = harness.status(srv, timeout=5)
    states = sorted(w["state"] for w in doc["services"][0]["workers"])
    assert states == ["busy", "busy"], doc
    assert all(w["busy_for"] >= 0 for w in doc["services"][0]["workers"])
    text = control(srv, "status", timeout=5)
    for k in kids:
        assert str(k) in text
    assert control(srv, "workers echo +1", timeout=5) == "ok echo 3\n"
    srv.wait_workers(3, idle=False)
    for s in held:
        s.close()


def test_control_socket_is_removed_at_stop():
    for sig in (signal.SIGTERM, signal.SIGINT):
        srv, addr = harness.start_echo(workers=1)
        assert os.path.exists(srv.control)
        srv.signal(sig)
        assert srv.wait_exit() == 0
        assert not os.path.exists(srv.control), "control socket left after %s" % sig


def test_empty_control_socket_disables_it():
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = harness.Server(config(svc("echo", addr, workers=1), control_socket=""))
    srv.start(wait_for=[addr])
    srv.wait_workers(1)
    assert not os.path.exists(srv.control)
    socks = [f for f in os.listdir(srv.dir) if stat.S_ISSOCK(os.stat(os.path.join(srv.dir, f)).st_mode)]
    assert socks == [], socks
    # No unix socket of the master's at all.
    with open("/proc/net/unix") as f:
        assert srv.dir not in f.read()
    r = harness.preforkd("-c", srv.conf, "-s", "status")
    assert r.returncode == 1, r
    assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
    # Signals still work.
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit() == 0


harness.main(globals())

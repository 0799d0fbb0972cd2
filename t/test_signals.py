"""test_signals.py - SIGUSR1 (and -s reopen) reopens the log files in the
master and the workers; SIGTTIN/SIGTTOU add or remove one worker per
service, within 1..max_workers."""
import os
import signal
import socket

import harness
from harness import config, control, read_text, svc


def echo_from(addr, data):
    """One echo exchange; returns the client's local port (it names the peer in the log)."""
    s = harness.connect(addr)
    port = s.getsockname()[1]
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    assert harness.recv_all(s) == data
    s.close()
    return port


def test_sigusr1_reopens_the_log_files_of_master_and_workers():
    port = harness.free_port()
    addr = "127.0.0.1:%d" % port
    srv = harness.Server(config(svc("echo", addr, workers=2), error_log="error.log",
                                log_level="debug"))
    log = os.path.join(srv.dir, "error.log")
    srv.start(wait_for=[addr])
    kids = srv.wait_workers(2)
    harness.wait_until(lambda: "ready" in read_text(log), 10, what="the log file")

    def writers(text, needle):
        """PIDs of the processes that wrote the lines of text containing needle."""
        out = set()
        for line in text.splitlines():
            if needle in line:
                out.add(int(line.split("]", 1)[1].split()[0]))
        return out

    for rotation, reopen in enumerate(("signal", "-s reopen")):
        rotated = log + ".%d" % (rotation + 1)
        os.rename(log, rotated)
        if reopen == "signal":
            srv.signal(signal.SIGUSR1)
        else:
            r = harness.preforkd("-c", srv.conf, "-s", "reopen")
            assert r.returncode == 0, r
        harness.wait_until(lambda: os.path.exists(log), 10, what="a new %s (%s)" % (log, reopen))
        # Worker lines: each accept is logged at debug level with the peer.
        # Every worker must write into the new file: connect until each has.
        peers, seen = [], set()

        def workers_logged():
            peers.append(echo_from(addr, b"after %s" % reopen.encode()))
            text = read_text(log)
            for p in peers:
                seen.update(writers(text, "127.0.0.1:%d" % p))
            return seen >= set(kids)
        harness.wait_until(workers_logged, 10, interval=0.0,
                           what="every worker to write into the new log (%s)" % reopen)
        # A master line: SIGTTIN makes the master log the resize.
        srv.signal(signal.SIGTTIN)
        kids = srv.wait_workers(len(kids) + 1)
        harness.wait_until(lambda: srv.pid in {int(l.split("]", 1)[1].split()[0])
                                               for l in read_text(log).splitlines() if "]" in l},
                           10, what="the master to write into the new log")
        # From now on (every worker has reopened), nothing goes to the rotated file.
        # (A connection that raced with the signal may have been logged there.)
        later = [echo_from(addr, b"later") for _ in range(10)]
        harness.wait_until(lambda: all("127.0.0.1:%d" % p in read_text(log) for p in later), 10,
                           what="the later connections in the new log")
        old = read_text(rotated)
        for p in later:
            assert "127.0.0.1:%d" % p not in old, "a worker still writes to %s" % rotated
    assert srv.proc.poll() is None


def test_sigttin_and_sigttou_resize_every_service_within_limits():
    p1, p2 = harness.free_port(), harness.free_port()
    srv = harness.Server(config(svc("big", "127.0.0.1:%d" % p1, workers=2),
                                svc("small", "127.0.0.1:%d" % p2, workers=1, max_workers=2)))
    srv.start(wait_for=["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2])
    srv.wait_workers(3)

    def counts():
        doc = harness.status(srv)
        return {s["name"]: len([w for w in s["workers"] if w["state"] != "exiting"])
                for s in doc["services"]}

    def expect(big, small):
        srv.wait_workers(big + small)
        harness.wait_until(lambda: counts() == {"big": big, "small": small}, 10,
                           what="big=%d small=%d (have %s)" % (big, small, counts()))

    srv.signal(signal.SIGTTIN)
    expect(3, 2)
    srv.signal(signal.SIGTTIN)            # small is at max_workers = 2
    expect(4, 2)
    # Signals of one kind do not queue: send one, see its effect, send the next.
    srv.signal(signal.SIGTTOU)
    expect(3, 1)
    srv.signal(signal.SIGTTOU)
    expect(2, 1)
    srv.signal(signal.SIGTTOU)
    expect(1, 1)
    # Never below one worker: the control socket answers after the signal is handled.
    srv.signal(signal.SIGTTOU)
    control(srv, "status")
    assert counts() == {"big": 1, "small": 1}
    srv.wait_workers(2)
    srv.signal(signal.SIGTTIN)
    expect(2, 2)
    for port in (p1, p2):
        assert harness.echo_once("127.0.0.1:%d" % port, b"x") == b"x"


harness.main(globals())

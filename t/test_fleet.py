"""test_fleet.py - a fleet behind a real HAProxy: HAProxy on 127.0.0.1 in
front of three preforkd on 127.0.0.2, .3 and .4, each with an HAProxy
agent check, a /health check on its status service and metrics. Under a
bounded load (prefork-client, 4 keep-alive connections to HAProxy):

  1. a rolling `-s reload` of each backend,
  2. a rolling binary upgrade (SIGUSR2) of each backend,
  3. a graceful stop with drain_delay of one backend,

each with 0 failed requests; the drained backend's traffic reaches 0 before
its listener closes; and a backend made busy gets a lower weight in
HAProxy's stats socket (`show stat`). The figures are printed. Skips with
a message when haproxy is not installed (.ci/run installs it).
README.md's "Running more than one machine" shows this configuration."""
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import config, svc, wait_until

HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
DRAIN_DELAY = 3.0

HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 1000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 10s
    # A health or agent check may take longer than inter (200ms) to be
    # answered on a loaded machine (CI's coverage build): that is not a
    # server going down.
    timeout check 2s
    retries 3
    option redispatch

frontend www
    bind 127.0.0.1:{port}
    default_backend prefork

backend prefork
    balance roundrobin
    # One request per server connection: a worker is free again after each.
    option http-server-close
    option httpchk GET /health
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1 agent-check agent-inter 200ms weight 100
{servers}
"""
SERVER_LINE = ("    server {name} {host}:{port} check port {status_port} "
               "agent-addr {host} agent-port {agent_port}")


def find_haproxy():
    for cand in (shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class Backend:
    def __init__(self, name, host, root):
        self.name, self.host = name, host
        p = lambda: harness.free_port(host=host)
        self.port, self.status_port, self.agent_port, self.metrics_port = p(), p(), p(), p()
        self.addr = "%s:%d" % (host, self.port)
        self.metrics = "%s:%d" % (host, self.metrics_port)
        text = config(
            svc("web", self.addr, handler="http", workers=4, agent_check="%s:%d" % (host, self.agent_port),
                extra='http = { root = "%s"; };' % root),
            svc("status", "%s:%d" % (host, self.status_port), handler="status", workers=1),
            metrics=self.metrics, drain_delay=DRAIN_DELAY, shutdown_timeout=10.0)
        self.srv = harness.Server(text)
        self.srv.start(wait_for=[self.addr, self.metrics])
        self.srv.wait_workers(5)

    def master(self):
        return self.srv.read_pid()

    def connections(self):
        """prefork_connections_total of the web service (None when unreachable)."""
        try:
            s = harness.connect(self.metrics, timeout=2)
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            text = harness.recv_all(s).decode()
            s.close()
        except OSError:
            return None
        m = re.search(r'^prefork_connections_total\{service="web"\} (\d+)$', text, re.M)
        return int(m.group(1)) if m else None

    def listening(self):
        """Does the web listener still accept? (A connect probe: /proc/net/tcp is
        too slow to read with the load's sockets in TIME_WAIT.) The probe never
        goes through HAProxy, so it is not in the traffic counted there."""
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((self.host, self.port))
            return True
        except OSError:
            return False
        finally:
            s.close()


def show_stat(sock_path):
    """HAProxy's `show stat` as {server name: row dict} of backend prefork."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(b"show stat\n")
    data = harness.recv_all(s).decode()
    s.close()
    rows = csv.DictReader(io.StringIO(data.lstrip("# ")))
    return {r["svname"]: r for r in rows if r["pxname"] == "prefork"}


class Load:
    """prefork-client keeping 4 keep-alive connections busy through HAProxy."""

    def __init__(self, addr, folder, tag):
        self.out = os.path.join(folder, "load-%s.json" % tag)
        self.f = open(self.out, "wb")
        self.p = harness.spawn([harness.CLIENT, "-c", "4", "-d", "600", "--http", "/",
                                "--keepalive", "-T", "20", "--json", addr],
                               stdout=self.f, stderr=subprocess.DEVNULL)

    def stop(self):
        """End the run (SIGINT prints the summary); the parsed summary."""
        self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=60)
        self.f.close()
        return json.loads(open(self.out).read())


def wait_up(sock_path, names, timeout=30):
    try:
        wait_until(lambda: all(show_stat(sock_path)[n]["status"].startswith("UP")
                               for n in names), timeout, what="every server UP in haproxy")
    except AssertionError as e:
        # Say why HAProxy holds each server down: its health check or its agent.
        rows = show_stat(sock_path)
        why = ["%s: %s" % (n, ", ".join("%s=%s" % (k, rows[n].get(k, "?")) for k in (
            "status", "check_status", "check_code", "last_chk", "agent_status", "last_agt",
            "weight"))) for n in names]
        raise AssertionError("%s; %s" % (e, "; ".join(why))) from None


def test_fleet_rolling_reload_upgrade_drain_and_busy_weight():
    harness.need_client()
    haproxy = find_haproxy()
    if not haproxy:
        raise harness.Skip("haproxy not found (Debian: apt-get install haproxy)")
    if harness.VALGRIND:
        raise harness.Skip("the fleet's timing is not meant for valgrind")
    d = harness.tmpdir()
    root = os.path.join(d, "www")
    os.makedirs(root)
    harness.write(os.path.join(root, "index.html"), "hello from the fleet\n")
    backends = [Backend("b%d" % (i + 1), h, root) for i, h in enumerate(HOSTS)]
    try:
        run_fleet(haproxy, d, backends)
    finally:
        for b in backends:
            harness.kill_leftovers(b.srv.conf)


def run_fleet(haproxy, d, backends):
    port = harness.free_port()
    sock = os.path.join(d, "haproxy.sock")
    servers = "\n".join(SERVER_LINE.format(name=b.name, host=b.host, port=b.port,
                                           status_port=b.status_port, agent_port=b.agent_port)
                        for b in backends)
    cfg = harness.write(os.path.join(d, "haproxy.cfg"),
                        HAPROXY_CFG.format(sock=sock, port=port, servers=servers))
    check = subprocess.run([haproxy, "-c", "-f", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    assert check.returncode == 0, check.stdout.decode()
    hlog = open(os.path.join(d, "haproxy.log"), "wb")
    hp = harness.spawn([haproxy, "-db", "-f", cfg], stdout=hlog, stderr=subprocess.STDOUT)
    wait_until(lambda: os.path.exists(sock) and harness.can_connect("127.0.0.1:%d" % port), 10,
               what="haproxy")
    names = [b.name for b in backends]
    wait_up(sock, names)
    # The agents' answers reached HAProxy: every server has its full weight.
    wait_until(lambda: all(show_stat(sock)[n]["weight"] == "100" for n in names), 10,
               what="agent weights of 100")
    front = "127.0.0.1:%d" % port
    figures = []

    def more_traffic(n=200):
        """Wait until HAProxy has passed n more requests to the backends."""
        start = int(show_stat(sock)["BACKEND"]["stot"])
        wait_until(lambda: int(show_stat(sock)["BACKEND"]["stot"]) >= start + n, 30,
                   interval=0.05, what="%d more requests through haproxy" % n)

    # 1. Rolling reload under load.
    load = Load(front, d, "reload")
    more_traffic()
    for b in backends:
        r = harness.preforkd("-c", b.srv.conf, "-s", "reload", timeout=60)
        assert r.returncode == 0, r
        more_traffic(50)
    more_traffic()
    res = load.stop()
    figures.append("rolling reload: %d requests, %d failed" % (res["requests"], res["errors"]))
    assert res["errors"] == 0 and res["requests"] > 100, res

    # 2. Rolling binary upgrade (SIGUSR2) under load.
    load = Load(front, d, "upgrade")
    more_traffic()
    for b in backends:
        old = b.master()
        os.kill(old, signal.SIGUSR2)
        wait_until(lambda: b.master() not in (0, old), 30, what="%s: new master" % b.name)
        wait_until(lambda: not harness.pid_alive(old), 30, what="%s: old master gone" % b.name)
        wait_until(lambda: b.connections() is not None, 10, what="%s: metrics" % b.name)
    wait_up(sock, names)
    before = [b.connections() for b in backends]
    wait_until(lambda: all(b.connections() > n for b, n in zip(backends, before)), 20,
               what="traffic on every upgraded backend")
    more_traffic()
    res = load.stop()
    figures.append("rolling upgrade: %d requests, %d failed" % (res["requests"], res["errors"]))
    assert res["errors"] == 0 and res["requests"] > 100, res

    # 3. A busy backend gets a lower weight in HAProxy. The load has stopped:
    # first let every agent's smoothed weight settle back to idle, so the
    # comparison is between one held backend and idle ones.
    wait_until(lambda: all(int(show_stat(sock)[b.name]["weight"]) >= 75 for b in backends), 20,
               what="every backend's weight back to idle after the load")
    busy = backends[0]
    held = []
    try:
        for _ in range(3):
            s = harness.connect(busy.addr)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")   # an unfinished head: a busy worker
            held.append(s)
        weight = wait_until(lambda: (lambda w: w if w < 50 else None)(
            int(show_stat(sock)[busy.name]["weight"])), 20, what="b1's weight below 50")
        others = [int(show_stat(sock)[b.name]["weight"]) for b in backends[1:]]
        assert all(weight < w for w in others), (weight, others)
        assert weight > 0
        figures.append("busy backend (3 of 4 workers held): weight %d, others %s" % (weight, others))
    finally:
        for s in held:
            s.close()
    wait_until(lambda: int(show_stat(sock)[busy.name]["weight"]) >= 75, 20, what="b1's weight back")

    # 4. Maintenance: `-s drain` puts a backend in DRAIN in HAProxy, `-s
    # undrain` brings it back (the agent's `ready`: `up` alone leaves HAProxy's
    # DRAIN in place, as after an upgrade whose old master said `drain`).
    b = backends[1]
    assert harness.preforkd("-c", b.srv.conf, "-s", "drain", timeout=30).returncode == 0
    wait_until(lambda: show_stat(sock)[b.name]["status"].startswith("DRAIN"), 10,
               what="%s DRAIN in haproxy" % b.name)
    assert harness.preforkd("-c", b.srv.conf, "-s", "undrain", timeout=30).returncode == 0
    wait_up(sock, [b.name], timeout=10)
    figures.append("drain and undrain by command: DRAIN, then UP in haproxy")

    # 5. A graceful stop with drain_delay of one backend, under load. Its
    # traffic is what HAProxy sends it (stot: sessions so far, from the stats
    # socket); its listener is probed with connect().
    load = Load(front, d, "drain")
    victim = backends[2]
    stot = lambda: int(show_stat(sock)[victim.name]["stot"])
    first = stot()
    wait_until(lambda: stot() > first + 20, 10, what="traffic on b3")
    pid = victim.master()
    samples = []            # (seconds since SIGTERM, sessions sent to b3, listening)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while harness.pid_alive(pid) and time.monotonic() - t0 < 30:
        t = time.monotonic() - t0
        samples.append((t, stot(), victim.listening()))
        time.sleep(0.02)
    assert not harness.pid_alive(pid)
    # The listener closes at most a few milliseconds before the master exits.
    samples.append((time.monotonic() - t0, stot(), victim.listening()))
    more_traffic()  # after the stop, on the other two
    res = load.stop()
    figures.append("drain stop: %d requests, %d failed" % (res["requests"], res["errors"]))
    assert res["errors"] == 0 and res["requests"] > 100, res
    closed_at = next((t for t, n, l in samples if not l), None)
    assert closed_at is not None, (samples, victim.srv.output()[-3000:])
    last = samples[-1][1]
    zero_at = next(t for t, n, l in samples if n == last)
    assert zero_at < closed_at, (zero_at, closed_at, samples)
    assert closed_at >= DRAIN_DELAY - 0.1, closed_at
    figures.append("drained backend: traffic 0 after %.2fs, listener closed after %.2fs "
                   "(drain_delay %.1fs)" % (zero_at, closed_at, DRAIN_DELAY))
    for line in figures:
        print(line, flush=True)
    hp.send_signal(signal.SIGTERM)
    hp.wait(timeout=10)


harness.main(globals())

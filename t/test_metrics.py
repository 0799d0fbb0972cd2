"""test_metrics.py - the master's GET /metrics: Prometheus text (checked by
promtool when installed), OpenMetrics with # EOF when Accept asks, every
documented name, counters that follow the traffic and survive worker deaths
(exits counted by reason), reloads by result, the listen queue from
TCP_INFO, answers while every worker is busy, and errors (404, 405)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import config, echo_once, svc

NAMES = [
    "prefork_build_info", "prefork_draining", "prefork_workers", "prefork_workers_target",
    "prefork_connections_total", "prefork_requests_total", "prefork_received_bytes_total",
    "prefork_sent_bytes_total", "prefork_request_duration_seconds_bucket",
    "prefork_request_duration_seconds_sum", "prefork_request_duration_seconds_count",
    "prefork_worker_exits_total", "prefork_service_throttled", "prefork_listen_queue_length",
    "prefork_listen_queue_limit", "prefork_reloads_total",
    "prefork_last_reload_timestamp_seconds", "prefork_last_reload_success",
    "prefork_group_resident_memory_bytes", "process_cpu_seconds_total",
    "process_resident_memory_bytes", "process_open_fds", "process_max_fds",
    "process_start_time_seconds",
]


def http_get(addr, path="/metrics", headers=(), method="GET", timeout=10):
    """(status, headers dict, body bytes) of one HTTP/1.1 request."""
    s = harness.connect(addr, timeout=timeout)
    req = "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (method, path,
                                                   "".join(h + "\r\n" for h in headers))
    s.sendall(req.encode())
    data = harness.recv_all(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def scrape(addr, **kw):
    code, _, body = http_get(addr, **kw)
    assert code == 200, (code, body)
    return body.decode()


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "bad sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(text, name, **labels):
    return samples(text).get((name, frozenset(labels.items())))


def start(workers=2, top=None, **svc_kw):
    """preforkd with an echo service and metrics on; (server, echo addr, metrics addr)."""
    addr = "127.0.0.1:%d" % harness.free_port()
    maddr = "127.0.0.1:%d" % harness.free_port()
    t = dict(top or {})
    t["metrics"] = maddr
    srv = harness.start_server(config(svc("echo", addr, workers=workers, **svc_kw), **t),
                               workers, [addr, maddr])
    return srv, addr, maddr


def test_every_documented_name_is_there():
    srv, addr, maddr = start()
    echo_once(addr)
    text = scrape(maddr)
    names = {n for (n, _) in samples(text)}
    for n in NAMES:
        assert n in names, (n, text)
    for n in names:
        assert n.startswith("prefork_") or n.startswith("process_"), n
    # The README lists every one of them.
    readme = open(os.path.join(harness.SRCDIR, "README.md")).read()
    for n in NAMES:
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        assert base in readme, "README does not mention %s" % base


def test_promtool_check_metrics_passes():
    promtool = shutil.which("promtool")
    if not promtool:
        raise harness.Skip("promtool is not installed (Debian package prometheus)")
    srv, addr, maddr = start()
    for _ in range(5):
        echo_once(addr)
    r = subprocess.run([promtool, "check", "metrics"], input=scrape(maddr).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0, r.stdout.decode()


def test_text_format_content_type():
    srv, addr, maddr = start()
    code, hdrs, body = http_get(maddr)
    assert code == 200
    assert hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs
    assert int(hdrs["content-length"]) == len(body)
    assert b"# EOF" not in body
    assert b"# TYPE prefork_connections_total counter" in body


def test_openmetrics_when_accept_asks():
    srv, addr, maddr = start()
    echo_once(addr)
    code, hdrs, body = http_get(maddr, headers=[
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"])
    assert code == 200
    assert hdrs["content-type"].startswith("application/openmetrics-text; version=1.0.0"), hdrs
    text = body.decode()
    assert text.endswith("# EOF\n"), text[-200:]
    assert text.count("# EOF") == 1
    # Counter families are named without _total; their samples carry it.
    assert "# TYPE prefork_connections counter" in text
    assert "# TYPE prefork_build info" in text
    harness.wait_until(lambda: value(scrape(maddr), "prefork_connections_total",
                                     service="echo") == 2, 10, what="two connections counted")


def test_counters_follow_traffic_and_survive_worker_exits():
    srv, addr, maddr = start(workers=2, max_requests=3)
    # start() made one empty connection to see the service up.
    base = harness.wait_until(lambda: value(scrape(maddr), "prefork_connections_total",
                                            service="echo"), 10, what="the first connection")
    assert base == 1
    for _ in range(10):
        assert echo_once(addr, b"0123456789") == b"0123456789"
    text = harness.wait_until(
        lambda: (lambda t: t if value(t, "prefork_connections_total", service="echo") == 11
                 else None)(scrape(maddr)), 10, what="10 more connections counted")
    assert value(text, "prefork_received_bytes_total", service="echo") == 100
    assert value(text, "prefork_sent_bytes_total", service="echo") == 100
    assert value(text, "prefork_requests_total", service="echo") == 11
    assert value(text, "prefork_request_duration_seconds_count", service="echo") == 11
    assert value(text, "prefork_request_duration_seconds_bucket", service="echo", le="+Inf") == 11
    # max_requests 3 recycles workers: their counts stay, their exits are counted. How
    # many recycles 10 connections make depends on which worker accept() picked (one
    # past its limit serves on while its successor starts), so go on until two.
    conns = 11

    def recycled():
        nonlocal conns
        if value(scrape(maddr), "prefork_worker_exits_total", service="echo",
                 reason="recycle") >= 2:
            return True
        assert echo_once(addr, b"0123456789") == b"0123456789"
        conns += 1
        return False
    harness.wait_until(recycled, 15 * harness.SLOW, interval=0.05, what="two recycle exits")
    # A worker killed is a crash; the counters do not go back.
    victim = srv.wait_workers(2)[0]
    os.kill(victim, signal.SIGKILL)
    harness.wait_until(lambda: value(scrape(maddr), "prefork_worker_exits_total", service="echo",
                                     reason="crash") == 1, 10 * harness.SLOW, what="crash exit")
    text = scrape(maddr)
    assert value(text, "prefork_connections_total", service="echo") == conns
    assert value(text, "prefork_received_bytes_total", service="echo") == 10 * (conns - 1)
    assert value(text, "prefork_worker_exits_total", service="echo", reason="watchdog") == 0
    assert value(text, "prefork_worker_exits_total", service="echo", reason="memory") == 0


def test_workers_by_state():
    srv, addr, maddr = start(workers=3)
    held = harness.connect(addr)
    held.sendall(b"x")
    try:
        harness.wait_until(lambda: value(scrape(maddr), "prefork_workers", service="echo",
                                         state="busy") == 1, 10, what="one busy worker")
        text = scrape(maddr)
        assert value(text, "prefork_workers", service="echo", state="idle") == 2
        assert value(text, "prefork_workers", service="echo", state="starting") == 0
        assert value(text, "prefork_workers_target", service="echo") == 3
        assert value(text, "prefork_build_info", version=re.search(
            r'version="([^"]+)"', text).group(1)) == 1
    finally:
        held.close()


def test_answers_while_every_worker_is_busy_and_shows_the_queue():
    srv, addr, maddr = start(workers=1, backlog=7)
    held = harness.connect(addr)
    held.sendall(b"x")
    harness.wait_until(lambda: value(scrape(maddr), "prefork_workers", service="echo",
                                     state="busy") == 1, 10, what="the worker busy")
    queued = [harness.connect(addr) for _ in range(3)]
    try:
        listener = addr
        text = harness.wait_until(
            lambda: (lambda t: t if value(t, "prefork_listen_queue_length", listener=listener) == 3
                     else None)(scrape(maddr)), 10, what="3 connections in the queue")
        assert value(text, "prefork_listen_queue_limit", listener=listener) == 7
    finally:
        held.close()
        for q in queued:
            q.close()


def test_reloads_by_result():
    srv, addr, maddr = start()
    text = scrape(maddr)
    assert value(text, "prefork_reloads_total", result="success") == 0
    assert value(text, "prefork_last_reload_timestamp_seconds") == 0
    before = time.time()
    r = harness.preforkd("-c", srv.conf, "-s", "reload")
    assert r.returncode == 0, r
    text = scrape(maddr)
    assert value(text, "prefork_reloads_total", result="success") == 1
    assert value(text, "prefork_last_reload_success") == 1
    assert value(text, "prefork_last_reload_timestamp_seconds") >= before - 1
    with open(srv.conf, "a") as f:
        f.write("bogus_key = 1;\n")
    r = harness.preforkd("-c", srv.conf, "-s", "reload")
    assert r.returncode != 0
    text = scrape(maddr)
    assert value(text, "prefork_reloads_total", result="failure") == 1
    assert value(text, "prefork_reloads_total", result="success") == 1
    assert value(text, "prefork_last_reload_success") == 0


def test_metrics_address_moves_on_reload_and_survives_upgrade():
    srv, addr, maddr = start()
    m2 = "127.0.0.1:%d" % harness.free_port()
    harness.rewrite(srv, open(srv.conf).read().replace(maddr, m2))
    assert harness.preforkd("-c", srv.conf, "-s", "reload").returncode == 0
    harness.wait_until(lambda: harness.can_connect(m2), 10, what="new metrics address")
    assert not harness.can_connect(maddr)
    port = int(m2.rsplit(":", 1)[1])
    inode = harness.listen_inode(port)
    srv.signal(signal.SIGUSR2)
    harness.wait_until(lambda: srv.proc.poll() is not None, 30 * harness.SLOW,
                       what="old master gone")
    new = harness.wait_until(lambda: srv.read_pid() if srv.read_pid() != srv.pid else 0,
                             10 * harness.SLOW, what="new master's pid")
    try:
        # The same socket, handed over: never closed in between.
        assert harness.listen_inode(port) == inode
        assert value(scrape(m2), "prefork_workers_target", service="echo") == 2
    finally:
        harness.kill_leftovers(srv.conf)


def test_errors_and_other_paths():
    srv, addr, maddr = start()
    assert http_get(maddr, path="/")[0] == 404
    assert http_get(maddr, method="POST")[0] == 405
    code, hdrs, body = http_get(maddr, method="HEAD")
    assert code == 200 and body == b"" and int(hdrs["content-length"]) > 0
    # A client that sends nothing does not stop the master from answering others.
    idle = harness.connect(maddr)
    try:
        assert "prefork_build_info" in scrape(maddr)
    finally:
        idle.close()


def test_off_by_default():
    srv, addr = harness.start_echo()
    assert "metrics" not in open(srv.conf).read()
    # The master listens on TCP for the echo service only.
    listening = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                listening.add(int(fields[9]))
    assert len(harness.socket_inodes(srv.pid) & listening) == 1


harness.main(globals())

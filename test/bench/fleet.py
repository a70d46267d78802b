"""fleet - the fleet part of `make bench` (test/bench/run --only fleet; doc/fleet.md).

Three threatbld nodes on one PostgreSQL (test/pgtest.py) and the fake Criminal IP:
- API calls per unique IP: the same new IPs asked of all three at once (target 1.00);
- how long a verdict takes to reach the other nodes: node A looks an IP up; nodes B
  and C, which make no lookups of their own, are asked until they answer it (p50,
  p99 from A's answer; target p99 <= 1 s);
- the CPU a node spends per verdict: the caller (claim, call, write, notify) and a
  receiver (notification, read, into memory), from /proc schedstat;
- the start-up load of 1,000,000 verdicts from PostgreSQL (the node's own log line).
Bounded: about two minutes on a quiet machine.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test"))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

import benchlib  # noqa: E402
import fake_criminalip  # noqa: E402
import pgtest  # noqa: E402

ZONE = "bl.test"
CONF = """[server]
listen = 127.0.0.1:{port}
database = {uri}
database-password-file = {dir}/pw
log-level = info

[zone bl.test]
soa = ns1.bl.test. hostmaster.bl.test. 3600 600 604800 300
ns = ns1.bl.test.
negative-ttl = 120
unknown-ttl = 30

[intel]
provider = criminalip
url = {url}
concurrency = 8
rate = 100000/s
rate-burst = 100000
per-client-rate = 100000/s
per-client-burst = 100000
deadline = 5s
timeout = 3s
{extra}
"""
KEY = "tbl-KEY-bench"


def log(msg):
    sys.stderr.write("bench: fleet: %s\n" % msg)
    sys.stderr.flush()


class Node:
    def __init__(self, threatbld, workdir, name, pg, url, extra=""):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = benchlib.free_port()
        with open(os.path.join(self.dir, "pw"), "w") as f:
            f.write(pg.password + "\n")
        self.conf = os.path.join(self.dir, "threatbl.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(port=self.port, uri=pg.uri(password=False), dir=self.dir,
                                url=url, extra=extra))
        self.logpath = os.path.join(self.dir, "log")
        self.logf = open(self.logpath, "w")
        self.proc = subprocess.Popen([threatbld, "-f", "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     env=dict(os.environ, THREATBL_API_KEY=KEY))
        if not benchlib.wait_answering(self.port, ZONE, timeout=120, proc=self.proc):
            raise RuntimeError("threatbld %s did not start:\n%s" % (name, self.log_text()))

    def cpu_ns(self):
        return benchlib.cpu_ns([self.proc.pid])

    def log_text(self):
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)
        self.logf.close()


def rev(ip):
    return ".".join(reversed(ip.split("."))) + "." + ZONE


def ask_all(port, ips, timeout=30.0, rate=2000):
    """Ask every IP once (UDP, at most rate a second); {ip: answer}."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    answers = {}
    ids = {}
    t0 = time.monotonic()
    end = t0 + timeout
    sent = 0
    while time.monotonic() < end and len(answers) < len(ips):
        while sent < len(ips) and sent < (time.monotonic() - t0) * rate + 1:
            q = dns.message.make_query(rev(ips[sent]), "A")
            q.id = sent % 65536
            q.flags &= ~dns.flags.RD
            ids[q.id] = ips[sent]
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            sent += 1
        try:
            data = s.recv(65535)
            r = dns.message.from_wire(data, ignore_trailing=True)
            answers[ids[r.id]] = r
        except BlockingIOError:
            time.sleep(0.001)
    s.close()
    return answers


def one(port, ip, timeout=1.0):
    q = dns.message.make_query(rev(ip), "A")
    q.flags &= ~dns.flags.RD
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout, ignore_trailing=True)


def answered(r):
    """A verdict (clean NXDOMAIN with the negative TTL, or listed), not `unknown`."""
    if r.rcode() == dns.rcode.NOERROR and r.answer:
        return True
    for rr in r.authority:
        if rr.rdtype == 6:  # SOA
            return rr.ttl == 120
    return False


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def fleet(opts, results):
    if not pgtest.bindir():
        log(pgtest.SKIP_REASON)
        results["fleet"] = {"skipped": pgtest.SKIP_REASON}
        return
    threatbld = os.path.join(opts.builddir, "server", "threatbld")
    workdir = os.path.join(opts.workdir, "run-fleet")
    os.makedirs(workdir, exist_ok=True)
    out = {}
    fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
    pg = pgtest.Postgres().start()
    nodes = []
    try:
        fake.mode("slow", delay_ms=50)
        a = Node(threatbld, workdir, "a", pg, fake.url)
        b = Node(threatbld, workdir, "b", pg, fake.url)
        c = Node(threatbld, workdir, "c", pg, fake.url)
        nodes = [a, b, c]
        # 1. the same unique IPs to all three at once
        n = 500 if opts.quick else 1500
        ips = ["52.%d.%d.%d" % (i // 62500, i // 250 % 250, 1 + i % 250) for i in range(n)]
        cpu0 = [x.cpu_ns() for x in nodes]
        fake.reset()
        fake.mode("slow", delay_ms=20)
        got = {}
        ths = [threading.Thread(target=lambda x=x: got.update({x.port: ask_all(x.port, ips, 60, 300)}))
               for x in nodes]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        # The lookups go on after the queries' deadline: wait until every node has
        # every verdict (asking again starts nothing new for an IP that has one).
        end = time.monotonic() + 120
        while time.monotonic() < end:
            if all(sum(answered(r) for r in ask_all(x.port, ips, 10, 5000).values()) == n
                   for x in nodes):
                break
            time.sleep(1)
        out["settled_s"] = round(120 - (end - time.monotonic()), 1)
        time.sleep(1)
        count = fake.count()
        calls = count["total"]
        per_ip = count.get("per_ip", {})
        out["ips_called_twice"] = sum(1 for ip in ips if per_ip.get(ip, 0) > 1)
        cpu1 = [x.cpu_ns() for x in nodes]
        out["unique_ips"] = n
        out["calls"] = calls
        out["calls_per_ip"] = calls / float(n)
        out["answered"] = [len(got.get(x.port, {})) for x in nodes]
        # Every verdict was written once by the node that called, and received by the
        # two others: CPU per verdict of the whole fleet, per node and verdict.
        out["cpu_us_per_verdict_node"] = (sum(cpu1) - sum(cpu0)) / 3.0 / n / 1000.0
        for x in nodes:
            x.stop()
        # 2. propagation: A looks up, B and C make no lookups of their own
        fake.mode("normal")
        a = Node(threatbld, workdir, "a2", pg, fake.url)
        b = Node(threatbld, workdir, "b2", pg, fake.url, "lookup-from = 192.0.2.1/32")
        c = Node(threatbld, workdir, "c2", pg, fake.url, "lookup-from = 192.0.2.1/32")
        nodes = [a, b, c]
        lat = []
        samples = 30 if opts.quick else 100
        cpub0 = b.cpu_ns()
        for i in range(samples):
            ip = "53.0.%d.%d" % (i // 250, 1 + i % 250)
            r = one(a.port, ip, timeout=6)
            t0 = time.monotonic()
            if not answered(r):
                continue
            for x in (b, c):
                while time.monotonic() - t0 < 5:
                    if answered(one(x.port, ip)):
                        lat.append(time.monotonic() - t0)
                        break
                    time.sleep(0.002)
        cpub1 = b.cpu_ns()
        out["propagation_samples"] = len(lat)
        out["propagation_p50_ms"] = pct(lat, 50) * 1000 if lat else None
        out["propagation_p99_ms"] = pct(lat, 99) * 1000 if lat else None
        out["propagation_max_ms"] = max(lat) * 1000 if lat else None
        for x in nodes:
            x.stop()
        nodes = []
        # 3. CPU of a receiver per verdict: a burst of verdicts written by A
        a = Node(threatbld, workdir, "a3", pg, fake.url)
        b = Node(threatbld, workdir, "b3", pg, fake.url, "lookup-from = 192.0.2.1/32")
        nodes = [a, b]
        m = 500 if opts.quick else 2000
        ips = ["54.%d.%d.%d" % (i // 62500, i // 250 % 250, 1 + i % 250) for i in range(m)]
        ca0, cb0 = a.cpu_ns(), b.cpu_ns()
        ask_all(a.port, ips, rate=1000)
        time.sleep(2)
        ca1, cb1 = a.cpu_ns(), b.cpu_ns()
        out["cpu_us_per_verdict_caller"] = (ca1 - ca0) / float(m) / 1000.0
        out["cpu_us_per_verdict_receiver"] = (cb1 - cb0) / float(m) / 1000.0
        for x in nodes:
            x.stop()
        nodes = []
        # 4. start-up load of 1,000,000 verdicts
        count = 1000000
        log("inserting %d verdicts" % count)
        pg.psql("TRUNCATE verdicts; INSERT INTO verdicts (ip, ip_text, family, mask, flags,"
                " checked, source, created, updated, change, node)"
                " SELECT '\\x00000000000000000000ffff'::bytea || int4send(x + 167772160),"
                " '10.' || (x >> 16) || '.' || ((x >> 8) & 255) || '.' || (x & 255), 4,"
                " CASE WHEN x %% 2 = 0 THEN 1 ELSE 0 END, 0,"
                " extract(epoch from now())::bigint, 'bench', 0, 0,"
                " nextval('threatbl_change'), 'bench'"
                " FROM generate_series(0, %d) AS x; ANALYZE verdicts" % (count - 1))
        loads = []
        for i in range(1 if opts.quick else 3):
            d = Node(threatbld, workdir, "load%d" % i, pg, fake.url)
            nodes = [d]
            m_ = re.search(r"loaded (\d+) verdict\(s\) from .* in ([0-9.]+) s", d.log_text())
            d.stop()
            nodes = []
            if m_:
                loads.append((int(m_.group(1)), float(m_.group(2))))
        out["load"] = loads
        out["load_s"] = min(t for _, t in loads) if loads else None
    finally:
        for x in nodes:
            try:
                x.stop()
            except Exception:
                pass
        pg.cleanup()
        fake.stop()
    results["fleet"] = out
    log("%s" % out)


def report(f):
    L = []
    if "skipped" in f:
        return ["Fleet: skipped (%s)." % f["skipped"], ""]

    def v(x, spec="%.0f"):
        return "-" if x is None else spec % x

    L.append("| fleet (3 nodes, one PostgreSQL 15) | value | target |")
    L.append("|---|---|---|")
    L.append("| API calls per unique IP (%d IPs to all 3 at once) | %s | 1.00 |" %
             (f["unique_ips"], v(f["calls_per_ip"], "%.2f")))
    L.append("| IPs called more than once (a call that timed out is retried) | %s | 0 |" %
             f.get("ips_called_twice", "-"))
    L.append("| verdict to the other nodes, p50 / p99 (%d samples) | %s / %s ms | p99 <= 1000 ms |"
             % (f["propagation_samples"], v(f["propagation_p50_ms"]),
                v(f["propagation_p99_ms"])))
    L.append("| load of 1,000,000 verdicts from PostgreSQL | %s s | <= 5 s |" %
             v(f["load_s"], "%.2f"))
    L.append("| CPU per verdict, caller (claim, call, write, notify) | %s µs | |" %
             v(f["cpu_us_per_verdict_caller"]))
    L.append("| CPU per verdict, receiver (notification, read, memory) | %s µs | |" %
             v(f["cpu_us_per_verdict_receiver"]))
    L.append("| CPU per verdict per node, 3 nodes sharing %d IPs | %s µs | |" %
             (f["unique_ips"], v(f["cpu_us_per_verdict_node"])))
    L.append("")
    return L

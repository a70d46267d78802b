"""benchlib - what test/bench/run is made of: the servers under test, their processes'
CPU time and memory from /proc and dnsperf runs. Free ports and the wait for a
server's first SOA answer come from test/tbltest.py, the black-box tests' harness.

Runs with Debian's /usr/bin/python3 and python3-dnspython (for tbltest).
"""
import os
import re
import signal
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from tbltest import free_port, wait_answering  # noqa: E402  (test/tbltest.py)


# --- /proc ------------------------------------------------------------------------

def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    # The command name is in parentheses and may hold spaces: split after it.
    return s[s.rindex(")") + 2:].split()


def descendants(pid):
    """pid and every process below it (NSD forks a server child and xfrd)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(d))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_ticks(pids):
    """(user, system) clock ticks used so far by these processes (all their threads)."""
    u = s = 0
    for p in pids:
        try:
            f = _stat_fields(p)
        except OSError:
            continue
        u += int(f[11])
        s += int(f[12])
    return u, s


def cpu_ns(pids):
    """Nanoseconds these processes ran, all threads, from /proc/PID/task/*/schedstat
    (exact; the user/system split of /proc/PID/stat is sampled by the timer tick)."""
    return sum(task_ns(pids).values())


def task_ns(pids):
    """{tid: nanoseconds run} for every thread of these processes: how the CPU time
    spread over a server's threads (threatbld's loops, NSD's server processes)."""
    out = {}
    for p in pids:
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    out[int(t)] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return out


def busy_ticks():
    """Clock ticks all CPUs spent not idle, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_tree_kib(pid):
    total = 0
    for p in descendants(pid):
        try:
            total += rss_kib(p)
        except OSError:
            pass
    return total


# --- the servers --------------------------------------------------------------------

class Server:
    """One DNS server under test, started pinned to `cpu` (a CPU or a taskset list
    such as "0-1"; None: inherit this process's affinity), on its own port."""

    name = "?"
    kind = "?"

    def __init__(self, workdir, zone, cpu):
        self.workdir = workdir
        self.zone = zone
        self.cpu = cpu
        self.port = free_port()
        self.proc = None
        self.log = None
        self.started = None
        self.ready_after = None

    def command(self):
        raise NotImplementedError

    def env(self):
        return None

    def start(self):
        self.logpath = os.path.join(self.workdir, self.name + ".log")
        self.log = open(self.logpath, "w")
        cmd = self.command()
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env())
        return self

    def wait_ready(self, timeout=300.0):
        """Seconds from exec to the first SOA answer (asked every few milliseconds)."""
        left = self.started + timeout - time.monotonic()
        if wait_answering(self.port, self.zone, timeout=left, proc=self.proc, step=0.002,
                          query_timeout=0.02):
            self.ready_after = time.monotonic() - self.started
            return self.ready_after
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited with %s; see %s" %
                               (self.name, self.proc.returncode, self.logpath))
        raise RuntimeError("%s did not answer within %.0f s; see %s" %
                           (self.name, timeout, self.logpath))

    def pids(self):
        return descendants(self.proc.pid)

    def cpu_ticks(self):
        return cpu_ticks(self.pids())

    def cpu_now(self):
        """(user ticks, system ticks, exact ns) so far."""
        pids = self.pids()
        u, s = cpu_ticks(pids)
        return u, s, cpu_ns(pids)

    def rss_kib(self):
        return rss_tree_kib(self.proc.pid)

    def stop(self, timeout=30.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None


class Rbldnsd(Server):
    kind = "rbldnsd"

    def __init__(self, workdir, zone, cpu, data, dataset="ip4set"):
        super().__init__(workdir, zone, cpu)
        self.data = data
        self.dataset = dataset
        self.name = "rbldnsd-" + dataset

    def command(self):
        # -n foreground, -a no NS in the authority section (like the others), -c 0 no
        # reload checks. rbldnsd refuses to stay root: it becomes the user rbldns.
        files = "%s,%s" % (os.path.join(self.data, "rbldnsd-soa"),
                           os.path.join(self.data, "listed.ip4set"))
        return ["rbldnsd", "-n", "-a", "-t", "300", "-c", "0",
                "-b", "127.0.0.1/%d" % self.port,
                "%s:%s:%s" % (self.zone, self.dataset, files)]


class Nsd(Server):
    kind = "nsd"
    name = "nsd"

    def __init__(self, workdir, zone, cpu, data, server_count=1, name=None):
        super().__init__(workdir, zone, cpu)
        self.data = data
        self.server_count = server_count
        if name:
            self.name = name

    def command(self):
        d = os.path.join(self.workdir, self.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(HERE, "nsd.conf.in")) as f:
            text = f.read()
        conf = os.path.join(d, "nsd.conf")
        # Several server processes get a socket each (SO_REUSEPORT), as threatbld's
        # loops do; with one the option changes nothing.
        for k, v in (("port", self.port), ("dir", d), ("zone", self.zone),
                     ("zonefile", os.path.join(self.data, "nsd.zone")),
                     ("server_count", self.server_count),
                     ("reuseport", "yes" if self.server_count > 1 else "no")):
            text = text.replace("{%s}" % k, str(v))
        with open(conf, "w") as f:
            f.write(text)
        return ["nsd", "-d", "-c", conf]


class Threatbld(Server):
    kind = "threatbld"

    def __init__(self, workdir, zone, cpu, binary, name, database, static=None,
                 provider="none", url="http://127.0.0.1:9", api_key=None,
                 lookup_reserved="no", log_level="info", threads=1):
        super().__init__(workdir, zone, cpu)
        self.threads = threads
        self.binary = binary
        self.name = name
        self.database = database
        self.static = static
        self.provider = provider
        self.url = url
        self.api_key = api_key
        self.lookup_reserved = lookup_reserved
        self.log_level = log_level

    def command(self):
        with open(os.path.join(HERE, "threatbld.conf.in")) as f:
            text = f.read()
        fields = {
            "port": self.port, "database": self.database, "log_level": self.log_level,
            "provider": self.provider, "url": self.url, "zone": self.zone,
            "lookup_reserved": self.lookup_reserved, "threads": self.threads,
            "static": "static = %s" % self.static if self.static else "",
        }
        for k, v in fields.items():
            text = text.replace("{%s}" % k, str(v))
        conf = os.path.join(self.workdir, self.name + ".conf")
        with open(conf, "w") as f:
            f.write(text)
        return [self.binary, "-f", "-c", conf]

    UDP_STATS = re.compile(r"udp (\S+?)(?: \(thread (\d+)\))?: (\d+) queries, (\d+)"
                           r" answers, (\d+) dropped; (\d+) wakeups, (\d+) batches,"
                           r" (\d+) empty reads")
    UDP_FIELDS = ("queries", "answers", "dropped", "wakeups", "batches", "empty")

    def udp_loops(self):
        """The counters threatbld logs when it stops (udp.c), one dict per UDP listener
        and loop: "addr", "thread" (1 for the main loop, 2.. for the workers of
        `threads`) and the counters. Empty when the log has none."""
        out = []
        try:
            with open(self.logpath) as f:
                for line in f:
                    m = self.UDP_STATS.search(line)
                    if m:
                        d = dict(zip(self.UDP_FIELDS, map(int, m.groups()[2:])))
                        d["addr"] = m.group(1)
                        d["thread"] = int(m.group(2) or 1)
                        out.append(d)
        except OSError:
            pass
        return out

    def udp_stats(self):
        """The counters of every UDP listener and loop added up, or None."""
        loops = self.udp_loops()
        if not loops:
            return None
        return {k: sum(d[k] for d in loops) for k in self.UDP_FIELDS}

    def env(self):
        e = dict(os.environ)
        e.pop("THREATBL_API_KEY", None)
        if self.api_key:
            e["THREATBL_API_KEY"] = self.api_key
        return e


# --- dnsperf ----------------------------------------------------------------------

class Histogram:
    """Latencies in microseconds, exact to the microsecond (dnsperf's resolution)."""

    def __init__(self):
        self.counts = {}
        self.n = 0
        self.total = 0

    def add(self, us, k=1):
        self.counts[us] = self.counts.get(us, 0) + k
        self.n += k
        self.total += us * k

    def quantile(self, q):
        if not self.n:
            return None
        want = q * self.n
        seen = 0
        for us in sorted(self.counts):
            seen += self.counts[us]
            if seen >= want:
                return us
        return max(self.counts)

    def mean(self):
        return self.total / self.n if self.n else None


def parse_dnsperf(path):
    """The summary numbers and, with -v, the latency histogram of one dnsperf run."""
    r = {"sent": 0, "completed": 0, "lost": 0, "qps": 0.0, "avg_us": None,
         "runtime": 0.0}
    h = Histogram()
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"> "):
                try:
                    h.add(int(float(line.rsplit(None, 1)[1]) * 1e6 + 0.5))
                except ValueError:
                    pass
                continue
            s = line.decode(errors="replace").strip()
            if s.startswith("Queries sent:"):
                r["sent"] = int(s.split()[2])
            elif s.startswith("Queries completed:"):
                r["completed"] = int(s.split()[2])
            elif s.startswith("Queries lost:"):
                r["lost"] = int(s.split()[2])
            elif s.startswith("Queries per second:"):
                r["qps"] = float(s.split()[3])
            elif s.startswith("Average Latency (s):"):
                r["avg_us"] = float(s.split()[3]) * 1e6
            elif s.startswith("Run time (s):"):
                r["runtime"] = float(s.split()[3])
    r["hist"] = h
    r["p99_us"] = h.quantile(0.99)
    r["p50_us"] = h.quantile(0.50)
    return r


def dnsperf(port, qfile, seconds, outpath, cpu=None, qps=None, outstanding=100,
            verbose=True, maxruns=None, clients=None):
    """Run dnsperf once against 127.0.0.1:port. Returns parse_dnsperf()'s dict plus
    dnsperf's own CPU seconds ("client_cpu"). clients: its number of sockets (-c),
    each with its own source port, so that SO_REUSEPORT spreads them over a server's
    sockets."""
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile,
           "-l", str(seconds), "-q", str(outstanding), "-t", "2"]
    if qps:
        cmd += ["-Q", str(int(qps))]
    if maxruns:
        cmd += ["-n", str(maxruns)]
    if clients:
        cmd += ["-c", str(clients)]
    if verbose:
        cmd.append("-v")
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    with open(outpath, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        with open(outpath, errors="replace") as f:
            tail = f.read()[-2000:]
        raise RuntimeError("dnsperf failed (%d): %s" % (p.returncode, tail))
    r = parse_dnsperf(outpath)
    r["client_cpu"] = ru.ru_utime + ru.ru_stime
    return r


def measured_run(server, qfile, seconds, outpath, client_cpu=None, qps=None,
                 verbose=True, clients=None):
    """dnsperf against one server, with the server's CPU time and the machine's other
    load over the same interval; "threads_busy": each server thread's share of a CPU
    over the run, busiest first."""
    u0, s0, ns0 = server.cpu_now()
    tasks0 = task_ns(server.pids())
    b0 = busy_ticks()
    t0 = time.monotonic()
    r = dnsperf(server.port, qfile, seconds, outpath, cpu=client_cpu, qps=qps,
                verbose=verbose, clients=clients)
    wall = time.monotonic() - t0
    u1, s1, ns1 = server.cpu_now()
    tasks1 = task_ns(server.pids())
    b1 = busy_ticks()
    r["wall"] = wall
    r["threads_busy"] = sorted(((ns - tasks0.get(t, 0)) / 1e9 / wall
                                for t, ns in tasks1.items()), reverse=True) if wall else []
    n = max(r["completed"], 1)
    # The exact CPU time, split by the ticks' user/system shares.
    r["server_cpu"] = (ns1 - ns0) / 1e9
    ticks = (u1 - u0) + (s1 - s0)
    ushare = (u1 - u0) / ticks if ticks else 0.0
    r["user_us"] = r["server_cpu"] * ushare / n * 1e6
    r["sys_us"] = r["server_cpu"] * (1 - ushare) / n * 1e6
    # Busy time of the whole machine not spent by this server or dnsperf: other
    # processes that would make the run unfair. In CPU seconds per second of run.
    other = (b1 - b0) / HZ - r["server_cpu"] - r["client_cpu"]
    r["other_load"] = max(other, 0.0) / wall if wall > 0 else 0.0
    os.unlink(outpath)
    return r

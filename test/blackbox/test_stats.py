"""Black-box: the numbers a running threatbld shows (doc/operations.md#counters).

`stats` on the control socket (its line format, every family, values that follow
known traffic: lookups through the fake Criminal IP, verdicts, store writes, the
calls of the day and what is left of the budget, the duration histogram, TCP
connections, reloads, the start time, the version), the same numbers as JSON from
`threatbl stats --json`, `status`, `reload` (a good and a broken configuration, the
error's text, requests while a reload runs waiting for the next one, a stop while a
request waits), and the tool's exit statuses and messages when it cannot reach a
daemon. The answer counters are filled on the answer path (dns.c, udp.c, tcp.c); here
they are checked for consistency with each other.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, THREATBL, THREATBLD, ZONE, rev4,  # noqa: E402
                     intel_conf, wait_for, control_request)

KEY = "tbl-KEY-stats-51c0ffee"
LINE = re.compile(r'^(threatbl_[a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*")(,[a-z_]+="(?:[^"\\]|\\.)*")*\})? '
                  r'(-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?)$')
FAMILIES = (
    "threatbl_build_info", "threatbl_start_time_seconds", "threatbl_queries_total",
    "threatbl_answers_total", "threatbl_listed_total", "threatbl_verdicts",
    "threatbl_cache_lookups_total", "threatbl_lookups_total",
    "threatbl_lookups_coalesced_total", "threatbl_lookup_queue",
    "threatbl_lookup_seconds_bucket", "threatbl_lookup_seconds_sum",
    "threatbl_lookup_seconds_count", "threatbl_api_calls_today",
    "threatbl_provider_up", "threatbl_provider_paused", "threatbl_store_writes_total",
    "threatbl_store_errors_total", "threatbl_tcp_connections", "threatbl_reloads_total",
)


def P(n):
    """An address of the fake's profiles (fake_criminalip.py): 10 vpn, 17 clean."""
    return "203.0.113.%d" % n


def Q(n):
    """The same profiles under the other documentation prefix: fresh addresses."""
    return "198.51.100.%d" % n


def parse_labels(text):
    if not text:
        return ()
    out = []
    for m in re.finditer(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', text):
        out.append((m.group(1), m.group(2).replace('\\"', '"').replace("\\\\", "\\")))
    return tuple(out)


def parse_stats(lines):
    """{(name, labels): value} of stats lines; asserts every line's form."""
    out = {}
    for line in lines:
        m = LINE.match(line)
        if not m:
            raise AssertionError("not a stats line: %r" % line)
        labels = parse_labels(line[len(m.group(1)):line.rindex(" ")])
        key = (m.group(1), labels)
        if key in out:
            raise AssertionError("line given twice: %r" % line)
        v = m.group(5)
        out[key] = float(v) if ("." in v or "e" in v) else int(v)
    return out


def stats(d):
    out, last = d.control("stats")
    if last != "ok":
        raise AssertionError("stats: " + last)
    return parse_stats(out)


def total(st, name, **labels):
    """The sum of name's samples whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, lab), v in st.items() if n == name and want <= set(lab))


def one(st, name, **labels):
    return st[(name, tuple(labels.items()))]


def tool(*args, timeout=30):
    return subprocess.run([THREATBL] + list(args), capture_output=True, text=True,
                          timeout=timeout)


class Counters(tbltest.FakeAPICase):
    """One daemon with lookups through the fake, a budget of 100 calls a day."""
    KEY = KEY

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.before = int(time.time())
        conf = BASE_ZONE + "vpn = 127.0.0.2 vpn\n" + intel_conf(
            cls.fake.url, lookup_reserved="yes", deadline="2s", rate="1000/s",
            rate_burst=1000, concurrency=4, daily_budget=100)
        cls.d = Daemon(conf, env={"THREATBL_API_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.d.stop()
            assert rc == 0, cls.d.stderr()[-2000:]
            assert KEY not in cls.d.stderr()
        finally:
            cls.d.cleanup()
            super().tearDownClass()

    def test_format_and_families(self):
        st = stats(self.d)
        names = {n for n, _ in st}
        for fam in FAMILIES:
            self.assertIn(fam, names)
        self.assertEqual(one(st, "threatbl_build_info", version=self.version()), 1)
        self.assertIn(("threatbl_reloads_total", (("result", "ok"),)), st)
        self.assertIn(("threatbl_reloads_total", (("result", "error"),)), st)
        for reason in ("bad_key", "budget", "limit", "trouble", "off"):
            self.assertIn(("threatbl_provider_paused", (("reason", reason),)), st)

    def version(self):
        out, last = self.d.control("version")
        return out[0].split()[1]

    def test_start_time(self):
        st = stats(self.d)
        t = one(st, "threatbl_start_time_seconds")
        self.assertGreaterEqual(t, self.before - 1)
        self.assertLessEqual(t, time.time())

    def test_lookups_verdicts_store_budget(self):
        time.sleep(1.2)   # the lookups' snapshot (at most a second old) is current
        a = stats(self.d)
        n0 = self.fake.count()["total"]
        for ip in (Q(10), Q(17)):
            self.d.query(rev4(ip), timeout=5.0)
        # the lookups' numbers are the lookup thread's snapshot: up to a second old
        self.assertTrue(wait_for(lambda: one(stats(self.d), "threatbl_lookups_total",
                                             outcome="ok")
                                 == one(a, "threatbl_lookups_total", outcome="ok") + 2,
                                 3.0), "two lookups not counted")
        self.assertTrue(wait_for(lambda: total(stats(self.d), "threatbl_store_writes_total")
                                 >= total(a, "threatbl_store_writes_total") + 2, 5.0),
                        "the two verdicts were not written")
        b = stats(self.d)
        self.assertEqual(self.fake.count()["total"] - n0, 2)
        self.assertEqual(one(b, "threatbl_lookups_total", outcome="ok") -
                         one(a, "threatbl_lookups_total", outcome="ok"), 2)
        self.assertEqual(one(b, "threatbl_verdicts") - one(a, "threatbl_verdicts"), 2)
        calls = one(b, "threatbl_api_calls_today")
        self.assertEqual(calls - one(a, "threatbl_api_calls_today"), 2)
        self.assertEqual(one(b, "threatbl_api_budget_remaining"), 100 - calls)
        self.assertEqual(one(b, "threatbl_provider_calls_today", provider="criminalip"), calls)
        self.assertEqual(one(b, "threatbl_provider_budget_remaining", provider="criminalip"),
                         100 - calls)
        self.assertEqual(one(b, "threatbl_lookup_seconds_count") -
                         one(a, "threatbl_lookup_seconds_count"), 2)
        self.assertEqual(one(b, "threatbl_lookup_seconds_bucket", le="+Inf"),
                         one(b, "threatbl_lookup_seconds_count"))
        buckets = [v for (n, lab), v in b.items() if n == "threatbl_lookup_seconds_bucket"]
        self.assertEqual(buckets, sorted(buckets), "buckets are cumulative")
        self.assertGreater(one(b, "threatbl_lookup_seconds_sum"),
                           one(a, "threatbl_lookup_seconds_sum"))
        self.assertEqual(one(b, "threatbl_provider_up"), 1)
        self.assertEqual(total(b, "threatbl_provider_paused"), 0)
        self.assertEqual(total(b, "threatbl_store_errors_total"), 0)

    def test_coalesced(self):
        time.sleep(1.2)   # the lookups' snapshot (at most a second old) is current
        a = stats(self.d)
        self.fake.mode("normal", delay_ms=500)
        ip = Q(12)
        threads = [threading.Thread(target=self.d.query, args=(rev4(ip),),
                                    kwargs={"timeout": 5.0}) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(self.fake.count()["total"], 1)
        self.assertTrue(wait_for(lambda: one(stats(self.d),
                                             "threatbl_lookups_coalesced_total") -
                                 one(a, "threatbl_lookups_coalesced_total") == 2, 3.0),
                        stats(self.d))

    def test_answer_counters_consistent(self):
        for ip in (P(10), P(17), "192.0.2.1"):
            self.d.query(rev4(ip), timeout=5.0)
        self.d.query(ZONE, "SOA", tcp=True)
        st = stats(self.d)
        queries = total(st, "threatbl_queries_total")
        self.assertEqual(queries, total(st, "threatbl_answers_total"))
        self.assertEqual(queries, total(st, "threatbl_loop_queries_total"))
        self.assertGreaterEqual(queries, total(st, "threatbl_cache_lookups_total"))
        self.assertGreaterEqual(total(st, "threatbl_listed_total"),
                                one(st, "threatbl_answers_total", kind="listed"))
        self.assertEqual(total(st, "threatbl_queries_total", transport="udp") +
                         total(st, "threatbl_queries_total", transport="tcp"), queries)

    def test_tcp_connections(self):
        s = socket.create_connection(("127.0.0.1", self.d.port))
        try:
            q = tbltest.wire_query(ZONE, "SOA")
            s.sendall(struct.pack("!H", len(q)) + q)
            tbltest.tcp_read_message(s)
            self.assertGreaterEqual(one(stats(self.d), "threatbl_tcp_connections"), 1)
        finally:
            s.close()
        self.assertTrue(wait_for(lambda: one(stats(self.d), "threatbl_tcp_connections")
                                 == 0, 3.0))

    def test_json_same_as_lines(self):
        r = tool("-s", self.d.control_path, "stats", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        js = json.loads(r.stdout)
        st = stats(self.d)
        flat = {}
        for name, v in js.items():
            if isinstance(v, list):
                for item in v:
                    flat[(name, tuple(item["labels"].items()))] = item["value"]
            else:
                self.assertIsInstance(v, (int, float))
                flat[(name, ())] = v
        self.assertEqual(set(flat), set(st))
        for key in (("threatbl_start_time_seconds", ()), ("threatbl_zones", ()),
                    ("threatbl_build_info", (("version", self.version()),))):
            self.assertEqual(flat[key], st[key])
        r2 = tool("-c", self.d.conf, "stats")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual({k for k in parse_stats(r2.stdout.splitlines())}, set(st))

    def test_status(self):
        out, last = self.d.control("status")
        self.assertEqual(last, "ok")
        lines = dict(line.split(" ", 1) for line in out)
        self.assertEqual(lines["version"], self.version())
        self.assertRegex(lines["status"], r"^serving 1 zone, \d+ verdicts?$")
        self.assertEqual(lines["lookups"], "on")
        self.assertEqual(lines["daily-budget"], "100")
        self.assertRegex(lines["api-calls-today"], r"^\d+$")
        self.assertEqual(lines["metrics"], "off")
        self.assertRegex(lines["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        r = tool("-s", self.d.control_path, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("lookups on\n", r.stdout)


class Paused(tbltest.FakeAPICase):
    KEY = KEY

    def test_bad_key_then_reload(self):
        conf = BASE_ZONE + intel_conf(self.fake.url, lookup_reserved="yes",
                                      deadline="2s")
        d = Daemon(conf, env={"THREATBL_API_KEY": KEY})
        try:
            self.fake.mode("badkey")
            d.query(rev4(P(10)), timeout=5.0)
            ok = wait_for(lambda: one(stats(d), "threatbl_provider_paused",
                                      reason="bad_key") == 1, 3.0)
            st = stats(d)
            self.assertTrue(ok, st)
            self.assertEqual(one(st, "threatbl_provider_up"), 0)
            self.assertEqual(one(st, "threatbl_lookups_total", outcome="bad_key"), 1)
            out, _ = d.control("status")
            self.assertIn("lookups paused bad_key", out)
            self.fake.mode("normal")
            self.assertEqual(d.control("reload"), ([], "ok"))
            self.assertTrue(wait_for(lambda: one(stats(d), "threatbl_provider_up") == 1,
                                     3.0), "a reload ends the bad key's pause")
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()


RELOAD_ZONE = BASE_ZONE + "static = {dir}/local.ip4set\n"


class Reload(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(RELOAD_ZONE, files={"local.ip4set": "45.10.20.30\n"})
        with open(self.d.conf) as f:
            self.good = f.read()

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0, self.d.stderr()[-2000:])
        finally:
            self.d.cleanup()

    def serial(self):
        out, _ = self.d.control("status")
        return int(dict(line.split(" ", 1) for line in out)["serial"])

    def test_reload_ok_and_broken(self):
        a = stats(self.d)
        s0 = self.serial()
        # A list that changes changes the serial (doc/dns.md#the-soa-serial): the
        # answer came after the new zones were in use.
        with open(os.path.join(self.d.dir, "local.ip4set"), "a") as f:
            f.write("45.10.20.31\n")
        self.assertEqual(self.d.control("reload", timeout=30), ([], "ok"))
        self.assertNotEqual(self.serial(), s0)
        b = stats(self.d)
        self.assertEqual(one(b, "threatbl_reloads_total", result="ok") -
                         one(a, "threatbl_reloads_total", result="ok"), 1)
        with open(self.d.conf, "a") as f:
            f.write("bogus-key = 1\n")
        out, last = self.d.control("reload", timeout=30)
        self.assertEqual(out, [])
        nlines = self.good.count("\n") + 1
        self.assertRegex(last, r"^error reload failed: %s:%d: .*bogus-key"
                         % (re.escape(self.d.conf), nlines))
        c = stats(self.d)
        self.assertEqual(one(c, "threatbl_reloads_total", result="error") -
                         one(b, "threatbl_reloads_total", result="error"), 1)
        self.assertEqual(self.d.query(ZONE, "SOA").rcode(), 0, "still serving")
        # the tool: exit 1 and the daemon's words
        r = tool("-s", self.d.control_path, "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the daemon says: reload failed:", r.stderr)
        self.assertIn("bogus-key", r.stderr)
        with open(self.d.conf, "w") as f:
            f.write(self.good)
        r = tool("-s", self.d.control_path, "reload")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "reloaded\n", ""))

    def test_concurrent_reloads(self):
        a = stats(self.d)
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            self.d.control("reload", timeout=30))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [([], "ok")] * 6)
        done = one(stats(self.d), "threatbl_reloads_total", result="ok") - \
            one(a, "threatbl_reloads_total", result="ok")
        self.assertGreaterEqual(done, 1)
        self.assertLessEqual(done, 6)

    def hold_config(self):
        """Replace the configuration by a FIFO: a reload waits (on the thread pool)
        until feed() writes it."""
        os.unlink(self.d.conf)
        os.mkfifo(self.d.conf)

    def feed(self):
        with open(self.d.conf, "w") as f:
            f.write(self.good)

    def ask_async(self, results):
        t = threading.Thread(target=lambda: results.append(
            self.d.control("reload", timeout=30)))
        t.start()
        return t

    def wait_queued(self):
        """The second request has reached the daemon while the first reload runs."""
        self.assertTrue(wait_for(lambda: "reload asked (asked on the control socket) "
                                 "while one runs" in self.d.stderr(), 5.0), self.d.stderr())

    def wait_reloading(self):
        self.assertTrue(wait_for(lambda: "reloading yes" in self.d.control("status")[0],
                                 5.0), "no reload running")

    def test_request_waits_for_the_next_reload(self):
        self.hold_config()
        first, second = [], []
        t1 = self.ask_async(first)
        self.wait_reloading()
        t2 = self.ask_async(second)
        self.wait_queued()
        self.feed()       # the first reload reads it and ends
        t1.join(10)
        self.assertEqual(first, [([], "ok")])
        self.assertEqual(second, [], "answered by a reload that started before it asked")
        self.wait_reloading()
        self.feed()       # the second one, started for the waiting request
        t2.join(10)
        self.assertEqual(second, [([], "ok")])
        os.unlink(self.d.conf)
        with open(self.d.conf, "w") as f:
            f.write(self.good)

    def test_stop_while_a_request_waits(self):
        self.hold_config()
        first, second = [], []
        t1 = self.ask_async(first)
        self.wait_reloading()
        t2 = self.ask_async(second)
        self.wait_queued()
        self.d.signal(15)
        t1.join(10)
        t2.join(10)
        self.assertEqual(first, [([], "error reload failed: the server is stopping")])
        self.assertEqual(second, [([], "error reload failed: the server is stopping")])
        self.feed()       # lets the reload's thread end, and the daemon with it
        self.assertEqual(self.d.proc.wait(10), 0)


class Tool(unittest.TestCase):
    def test_no_daemon(self):
        r = tool("-s", "/nonexistent/threatbl-control", "stats")
        self.assertEqual(r.returncode, 3)
        self.assertIn("no threatbld is listening there", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_wrong_socket_is_a_file(self):
        d = Daemon()
        try:
            r = tool("-s", d.conf, "status")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn(d.conf, r.stderr)
            # the daemon's own socket from its configuration
            r = tool("-c", d.conf, "status")
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()

    def test_config_with_control_off(self):
        d = Daemon()
        try:
            path = os.path.join(d.dir, "off.conf")
            with open(path, "w") as f:
                f.write("[server]\ncontrol =\n" + BASE_ZONE)
            r = tool("-c", path, "stats")
            self.assertEqual(r.returncode, 2)
            self.assertIn("control socket is switched off", r.stderr)
            with open(path, "w") as f:
                f.write("[server]\nnonsense = 1\n")
            r = tool("-c", path, "reload")
            self.assertEqual(r.returncode, 2)
            self.assertIn("nonsense", r.stderr)
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()

    def test_usage(self):
        r = tool("help")
        self.assertEqual(r.returncode, 0)
        for word in ("stats [--json]", "status", "reload"):
            self.assertIn(word, r.stdout)
        r = tool("-s", "/x", "frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", r.stderr)
        r = tool("-s", "/x", "status", "--json")
        self.assertEqual(r.returncode, 2)
        r = tool("-s", "/x", "stats", "extra")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unexpected argument 'extra'", r.stderr)

    def test_unknown_command_at_daemon(self):
        d = Daemon()
        try:
            self.assertTrue(d.control("stats", "x")[1].startswith("error usage: stats"))
            self.assertEqual(d.control("reload", "x")[1], "error usage: reload")
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()


if __name__ == "__main__":
    tbltest.main()

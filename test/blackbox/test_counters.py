"""Black-box: the per-loop answer counters (server/counters.h), as SIGUSR1 logs them
(doc/operations.md#counters): one "stats: answers ..." line per answering loop.

Known queries of every kind go over UDP and TCP, and the counters must move by
exactly what was asked: the answer kinds, the RCODEs per transport, the categories of
listed answers, and what the verdict cache said (a query that waited for a lookup is
one miss, not a miss and a hit). With threads = 2 the loops' lines add up to the same
totals and each loop counted its own share."""
import os
import re
import signal
import sys
import time
import unittest

import dns.message
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import Daemon, BASE_ZONE, rev4, a_values, intel_conf, wait_for  # noqa: E402
from test_threads import ask_from_many  # noqa: E402

KEY = "tbl-KEY-counters-77e1"
LOCAL_IP = "45.10.20.30"
VPN_IP = "198.51.7.10"
CLEAN_IP = "198.51.8.20"
SLOW_IP = "198.51.9.30"
LIST = "%s :127.0.0.9:local $\n" % LOCAL_IP
ZONE_EXTRA = "vpn = 127.0.0.2 vpn $\nstatic = {dir}/local.ip4set\n"
KINDS = ("listed", "clean", "unknown", "static", "nodata", "refused", "other")

LINE = re.compile(r"stats: answers (?P<answers>[^;]*); rcodes(?P<rcodes>[^;]*); "
                  r"categories (?P<cats>[^;]*); cache (?P<cache>[^;\n]*?)"
                  r"(?:; query-log [^(\n]*?)?(?P<tag> \(thread \d+\))?$", re.M)


def pairs(text):
    return {k: int(v) for k, v in re.findall(r"(\S+)=(\d+)", text)}


def parse(log):
    """The last counters line of each loop: {tag: {"answers": {...}, ...}}."""
    out = {}
    for m in LINE.finditer(log):
        out[m.group("tag") or "main"] = {
            "answers": pairs(m.group("answers")), "rcodes": pairs(m.group("rcodes")),
            "cats": pairs(m.group("cats")), "cache": pairs(m.group("cache"))}
    return out


def total(per_loop):
    t = {"answers": {}, "rcodes": {}, "cats": {}, "cache": {}}
    for loop in per_loop.values():
        for part, vals in loop.items():
            for k, v in vals.items():
                t[part][k] = t[part].get(k, 0) + v
    return t


def delta(after, before):
    return {part: {k: v - before[part].get(k, 0) for k, v in vals.items()
                   if v - before[part].get(k, 0)}
            for part, vals in after.items()}


class CountersCase(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        self.fake.set_doc(VPN_IP, fake_criminalip.profile(VPN_IP, 10))
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.kill()
            self.d.cleanup()

    def start(self, threads=1):
        conf = ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = info\n"
                "threads = %d\n" % threads) + BASE_ZONE + ZONE_EXTRA + \
            intel_conf(self.fake.url, deadline="400ms", rate="1000/s", rate_burst=1000,
                       concurrency=8, timeout="5s")
        self.d = Daemon(conf, env={"THREATBL_API_KEY": KEY},
                        files={"local.ip4set": LIST})
        if threads > 1:
            self.assertTrue(wait_for(lambda: "answering UDP on %d loops" % threads in
                                     self.d.stderr(), 10), self.d.stderr())
        self.threads = threads
        return self.d

    def snapshot(self):
        """SIGUSR1, then every loop's counters line."""
        n = self.d.stderr().count("stats: answers ")
        self.d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: self.d.stderr().count("stats: answers ") >=
                                 n + self.threads, 5.0), self.d.stderr()[-2000:])
        loops = parse(self.d.stderr())
        self.assertEqual(len(loops), self.threads, loops)
        return loops

    def ask_all_kinds(self, d):
        """Every kind over UDP and TCP; returns the expected change of the totals."""
        # UDP
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP))), ["127.0.0.9"])
        self.assertEqual(a_values(d.query(rev4(VPN_IP))), ["127.0.0.2"])  # waits
        self.assertEqual(a_values(d.query(rev4(VPN_IP))), ["127.0.0.2"])  # cached
        self.assertEqual(d.query(rev4(CLEAN_IP)).rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(d.query(rev4(CLEAN_IP)).rcode(), dns.rcode.NXDOMAIN)
        self.fake.mode("slow", delay_ms=1500)
        r = d.query(rev4(SLOW_IP), timeout=3)   # the deadline: `unknown`
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(r.authority[0].ttl, 30)
        r = d.query(rev4(LOCAL_IP), "MX")
        self.assertEqual((r.rcode(), len(r.answer)), (dns.rcode.NOERROR, 0))
        self.assertEqual(d.query("4.3.2.1.example.com").rcode(), dns.rcode.REFUSED)
        self.assertEqual(d.query("bl.test", "SOA").rcode(), dns.rcode.NOERROR)
        # TCP (the main loop)
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP), tcp=True)), ["127.0.0.9"])
        self.assertEqual(a_values(d.query(rev4(VPN_IP), tcp=True)), ["127.0.0.2"])
        self.assertEqual(d.query(rev4(CLEAN_IP), tcp=True).rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(d.query(rev4(VPN_IP), "MX", tcp=True).rcode(), dns.rcode.NOERROR)
        self.assertEqual(d.query("example.com", tcp=True).rcode(), dns.rcode.REFUSED)
        return {
            "answers": {"static": 2, "listed": 3, "clean": 3, "unknown": 1, "nodata": 2,
                        "refused": 2, "other": 1},
            "rcodes": {"udp/NOERROR": 5, "udp/NXDOMAIN": 3, "udp/REFUSED": 1,
                       "tcp/NOERROR": 3, "tcp/NXDOMAIN": 1, "tcp/REFUSED": 1},
            "cats": {"vpn": 3},
            # cache: VPN miss then hit (UDP), hit (TCP), hit (TCP MX); CLEAN miss then
            # hit, hit (TCP); SLOW miss. Static answers never reach it.
            "cache": {"miss": 3, "hit": 5},
        }

    def test_every_kind_counted_exactly(self):
        d = self.start()
        before = total(self.snapshot())
        want = self.ask_all_kinds(d)
        got = delta(total(self.snapshot()), before)
        self.assertEqual(got, want)
        log = tbltest.assert_clean_stop(self, d, KEY)
        self.assertIn("stats: answers listed=", log)

    def test_refused_by_allow_query(self):
        conf_extra = "allow-query = 10.0.0.0/8\n"
        conf = ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = info\n"
                + conf_extra) + BASE_ZONE
        self.d = Daemon(conf, wait=False)
        self.threads = 1
        self.assertTrue(wait_for(lambda: "ready" in self.d.stderr(), 10), self.d.stderr())
        before = total(self.snapshot())
        for tcp in (False, True):
            r = self.d.query(rev4(LOCAL_IP), tcp=tcp)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED)
        got = delta(total(self.snapshot()), before)
        self.assertEqual(got, {"answers": {"refused": 2}, "rcodes": {
            "udp/REFUSED": 1, "tcp/REFUSED": 1}, "cats": {}, "cache": {}})

    def test_two_loops_add_up(self):
        d = self.start(threads=2)
        before = self.snapshot()
        n = 32
        answers = ask_from_many(d.port, [rev4(LOCAL_IP)] * n)
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.9"]] * n)
        answers = ask_from_many(d.port, ["4.3.2.1.example.com"] * n)
        self.assertEqual([r.rcode() if r else None for r in answers],
                         [dns.rcode.REFUSED] * n)
        # one lookup, then cached on whichever loop asks
        self.assertEqual(a_values(d.query(rev4(VPN_IP))), ["127.0.0.2"])
        answers = ask_from_many(d.port, [rev4(VPN_IP)] * n)
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.2"]] * n)
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP), tcp=True)), ["127.0.0.9"])
        after = self.snapshot()
        got = delta(total(after), total(before))
        self.assertEqual(got, {
            "answers": {"static": n + 1, "refused": n, "listed": n + 1},
            "rcodes": {"udp/NOERROR": 2 * n + 1, "udp/REFUSED": n, "tcp/NOERROR": 1},
            "cats": {"vpn": n + 1}, "cache": {"miss": 1, "hit": n}})
        # each loop counted its own share: the kernel spread the 32 sockets over both
        for tag in ("main", " (thread 2)"):
            d_loop = delta(after[tag], before[tag])
            self.assertGreater(d_loop["answers"].get("refused", 0), 0, (tag, d_loop))
            self.assertGreater(d_loop["answers"].get("static", 0), 0, (tag, d_loop))
        tbltest.assert_clean_stop(self, d, KEY)


if __name__ == "__main__":
    sys.exit(tbltest.main())

"""Black-box: steering verdicts while threatbld runs (doc/operations.md#managing-verdicts).

`threatbl db purge|recheck|allow|add|unset|overrides|prune` against running daemons
that look IPs up in the fake Criminal IP (test/fake_criminalip.py): each change takes
effect at once, is checked on the answers and on the fake's request counts, and the
daemon keeps answering meanwhile. Also: the file path (no daemon, --offline), the
overrides surviving a restart, pruning past max-stale at the start, and bad input
(bad IP or CIDR, unknown category, overlong or control-character reason, a CIDR too
wide without --force), each refused with a clear error and nothing changed.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, THREATBL, rev4, a_values, txt_values,  # noqa: E402
                     intel_conf, wait_for)

KEY = "tbl-KEY-steer-5b1e"
CATS = ("vpn", "openvpn443", "hosting", "tor", "proxy", "scanner")
CODE = {c: "127.0.0.%d" % (i + 2) for i, c in enumerate(CATS)}
ZONE_EXTRA = "".join("%s = %s %s $\n" % (c, CODE[c], c) for c in CATS) + \
    "static = {dir}/local.ip4set\n"
LOCAL_IP = "45.10.20.30"
FILES = {"local.ip4set": "%s :127.0.0.9:local $\n" % LOCAL_IP}


def Q(n):
    """An address of the fake's profiles (10 vpn, 12 hosting, 13 tor, 17 clean)."""
    return "198.51.100.%d" % n


def tool(*args, timeout=60):
    return subprocess.run([THREATBL] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, text=True)


class SteerCase(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        self.d = None

    def tearDown(self):
        if self.d is not None:
            try:
                log = tbltest.assert_clean_stop(self, self.d, KEY)
                self.assertNotIn("runtime error", log)
            finally:
                self.d.cleanup()

    def start(self, tmpdir=None, **intel):
        settings = dict(lookup_reserved="yes", deadline="2s", rate="1000/s",
                        rate_burst=1000, concurrency=4, timeout="5s")
        settings.update(intel)
        conf = BASE_ZONE + ZONE_EXTRA + intel_conf(self.fake.url, **settings)
        self.d = Daemon(conf, env={"THREATBL_API_KEY": KEY}, files=FILES, tmpdir=tmpdir)
        return self.d

    def db(self, *args, **kw):
        """threatbl db through this daemon's control socket (-s)."""
        return tool("db", "-d", self.d.db, "-s", self.d.control_path, *args, **kw)

    def asked(self, ip):
        return self.fake.count()["per_ip"].get(ip, 0)

    def a(self, ip):
        return a_values(self.d.query(rev4(ip), "A", timeout=5.0))

    def txt(self, ip):
        return txt_values(self.d.query(rev4(ip), "TXT", timeout=5.0))

    def row(self, ip):
        con = sqlite3.connect(self.d.db, timeout=10)
        try:
            return con.execute("SELECT mask FROM verdicts WHERE ip_text = ?",
                               (ip,)).fetchone()
        finally:
            con.close()

    def wait_row(self, ip, present=True):
        return wait_for(lambda: (self.row(ip) is not None) == present, 5)

    def test_purge_ip_asks_again(self):
        self.start()
        ip = Q(10)
        self.assertEqual(self.a(ip), [CODE["vpn"]])
        self.assertEqual(self.asked(ip), 1)
        self.assertTrue(self.wait_row(ip))
        self.assertEqual(self.a(ip), [CODE["vpn"]])
        self.assertEqual(self.asked(ip), 1, "answered from memory")
        r = self.db("purge", ip)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 1 verdict(s) in %s/32" % ip, r.stdout)
        self.assertTrue(self.wait_row(ip, present=False), "still in the file")
        self.assertEqual(self.a(ip), [CODE["vpn"]])
        self.assertEqual(self.asked(ip), 2, "the next query looks it up again")
        # an IP without a verdict: nothing purged, no error
        r = self.db("purge", Q(12))
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "purged 0 verdict(s) in %s/32" % Q(12)))
        # several at once, each answered
        self.a(Q(12))
        r = self.db("purge", ip, Q(12), "198.51.100.64/26")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         ["purged 1 verdict(s) in %s/32" % ip,
                          "purged 1 verdict(s) in %s/32" % Q(12),
                          "purged 0 verdict(s) in 198.51.100.64/26"])
        self.assertIn("control: purged 1 verdict(s) in %s/32" % Q(12), self.d.stderr())

    def test_purge_cidr(self):
        self.start()
        ips = [Q(10), Q(12), Q(13)]
        for ip in ips + ["192.0.2.77"]:
            self.a(ip)
        for ip in ips + ["192.0.2.77"]:
            self.assertTrue(self.wait_row(ip))
        r = self.db("purge", "198.51.100.0/24")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 3 verdict(s) in 198.51.100.0/24", r.stdout)
        for ip in ips:
            self.assertTrue(self.wait_row(ip, present=False))
        self.assertIsNotNone(self.row("192.0.2.77"), "outside the prefix: kept")
        self.assertEqual(self.a(Q(13)), [CODE["tor"]])
        self.assertEqual(self.asked(Q(13)), 2)
        self.assertEqual(self.asked("192.0.2.77"), 1)
        self.a("192.0.2.77")
        self.assertEqual(self.asked("192.0.2.77"), 1)
        # too wide without --force: refused, nothing removed
        r = self.db("purge", "0.0.0.0/4")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--force", r.stderr)
        self.assertIsNotNone(self.row("192.0.2.77"))
        r = self.db("purge", "0.0.0.0/0", "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.wait_row("192.0.2.77", present=False))
        # host bits set: refused with the prefix meant
        r = self.db("purge", "198.51.100.7/24")
        self.assertEqual(r.returncode, 2)
        self.assertIn("198.51.100.0/24", r.stderr)

    def test_recheck_changes_a_verdict(self):
        self.start()
        ip = Q(10)
        self.assertEqual(self.a(ip), [CODE["vpn"]])
        self.fake.set_doc(ip, fake_criminalip.profile(ip, 13))
        self.assertEqual(self.a(ip), [CODE["vpn"]], "fresh: still from memory")
        self.assertEqual(self.asked(ip), 1)
        r = self.db("recheck", ip)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^%s\ttor\tchecked \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$"
                         % ip)
        self.assertEqual(self.asked(ip), 2)
        self.assertEqual(self.a(ip), [CODE["tor"]])
        self.assertTrue(wait_for(lambda: self.row(ip) == (1 << 3,), 5), "the file too")
        # not a single IP, not an IP
        for bad in ("198.51.100.0/24", "bogus"):
            r = self.db("recheck", bad)
            self.assertEqual(r.returncode, 2, bad)
        self.assertEqual(self.asked(ip), 2)

    def test_recheck_refused_when_lookups_are_off(self):
        conf = BASE_ZONE + ZONE_EXTRA
        self.d = Daemon(conf, files=FILES)
        r = self.db("recheck", Q(10))
        self.assertEqual(r.returncode, 2)
        self.assertIn("lookups are off", r.stderr)

    def test_recheck_refused_when_the_budget_is_used_up(self):
        self.start(daily_budget=1)
        self.assertEqual(self.a(Q(10)), [CODE["vpn"]])
        r = self.db("recheck", Q(10))
        self.assertEqual(r.returncode, 2)
        self.assertIn("budget", r.stderr)
        self.assertEqual(self.asked(Q(10)), 1)
        self.assertEqual(self.a(Q(10)), [CODE["vpn"]], "the old verdict stays")

    def test_allow_add_unset(self):
        self.start()
        ip, other = Q(10), Q(13)
        self.assertEqual(self.a(ip), [CODE["vpn"]])
        # allow: not listed, and an allowed IP is never looked up
        r = self.db("allow", ip, "--reason", "our partner's relay")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%s/32: allowed" % ip, r.stdout)
        r = self.d.query(rev4(ip), "A")
        self.assertEqual((r.rcode(), a_values(r)), (3, []))
        r = self.db("allow", "198.51.100.0/28")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a(other), [])
        self.assertEqual(self.asked(other), 0, "allowed: no API call")
        r = self.db("recheck", other)
        self.assertEqual(r.returncode, 2)
        self.assertIn("allowed", r.stderr)
        self.assertEqual(self.asked(other), 0)
        # add: listed in the category with the reason as TXT, beating the list file
        r = self.db("add", LOCAL_IP, "tor", "--reason", "seen in abuse report #42 ($)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a(LOCAL_IP), [CODE["tor"]])
        self.assertEqual(self.txt(LOCAL_IP), ["seen in abuse report #42 ($)"])
        r = self.db("add", "192.0.2.0/24", "scanner")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a("192.0.2.9"), [CODE["scanner"]])
        self.assertEqual(self.txt("192.0.2.9"), ["scanner 192.0.2.9"],
                         "no reason: the zone's TXT")
        self.assertEqual(self.asked("192.0.2.9"), 0)
        # the same prefix: replaced; allow beats add, even a more specific one
        r = self.db("add", ip, "hosting")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("replaces", r.stdout)
        self.assertEqual(self.a(ip), [], "inside the allowed /28")
        r = self.db("add", "192.0.2.128/25", "hosting")
        self.assertEqual(self.a("192.0.2.200"), [CODE["hosting"]], "more specific add")
        self.assertEqual(self.db("unset", "192.0.2.128/25").returncode, 0)
        self.assertEqual(self.a("192.0.2.200"), [CODE["scanner"]])
        self.db("allow", ip)
        self.assertEqual(self.a(ip), [])
        # the overrides: in the daemon and in the file
        r = self.db("overrides")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 4, r.stdout)
        self.assertIn("%s/32\tadd tor\t" % LOCAL_IP, r.stdout)
        self.assertRegex(r.stdout, r"\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\t")
        r = tool("db", "-d", self.d.db, "show", LOCAL_IP)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("override %s/32 add tor by " % LOCAL_IP, r.stdout)
        self.assertIn("seen in abuse report #42 ($)", r.stdout)
        # unset restores what was there
        r = self.db("unset", ip)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a(ip), [], "still inside the allowed /28")
        self.assertEqual(self.db("unset", "198.51.100.0/28").returncode, 0)
        self.assertEqual(self.a(ip), [CODE["vpn"]], "its verdict again")
        self.assertEqual(self.db("unset", LOCAL_IP).returncode, 0)
        self.assertEqual(self.a(LOCAL_IP), ["127.0.0.9"], "the static list again")
        r = self.db("unset", LOCAL_IP)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no override", r.stderr)
        self.assertEqual(self.asked(ip), 1)
        # the last override survives a restart
        self.d.stop()
        tmp = self.d.dir
        self.d.logf.close()
        d1 = self.d
        self.d = None
        self.start(tmpdir=tmp)
        self.assertEqual(self.a("192.0.2.9"), [CODE["scanner"]])
        self.assertIn("1 override(s)", self.d.stderr())
        del d1

    def test_add_is_counted_as_the_operators_list(self):
        """An `add` override's answer counts as a static (the operator's) listing, never
        as clean, in the counters and the query log."""
        self.start()
        r = self.db("add", "192.0.2.0/24", "tor", "--reason", "reported")
        self.assertEqual(r.returncode, 0, r.stderr)

        def answers():
            r = tool("-s", self.d.control_path, "stats")
            self.assertEqual(r.returncode, 0, r.stderr)
            return {m.group(1): int(m.group(2)) for m in
                    re.finditer(r'^threatbl_answers_total\{kind="(\w+)"\} (\d+)$',
                                r.stdout, re.M)}
        before = answers()
        for n in range(3):
            self.assertEqual(self.a("192.0.2.%d" % (n + 1)), [CODE["tor"]])
        after = answers()
        got = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        self.assertEqual({k: v for k, v in got.items() if v}, {"static": 3})

    def test_answers_while_steering(self):
        self.start()
        self.a(Q(10))
        stop = threading.Event()
        bad = []

        def query():
            while not stop.is_set():
                try:
                    r = self.d.query(rev4(Q(10)), "A", timeout=2.0)
                    if a_values(r) not in ([CODE["vpn"]], []):
                        bad.append(a_values(r))
                except Exception as e:  # noqa: BLE001
                    bad.append(repr(e))
        t = threading.Thread(target=query)
        t.start()
        try:
            for i in range(20):
                self.assertEqual(self.db("allow", Q(10)).returncode, 0)
                self.assertEqual(self.db("unset", Q(10)).returncode, 0)
                self.assertEqual(self.db("add", "192.0.2.%d" % i, "proxy").returncode, 0)
        finally:
            stop.set()
            t.join()
        self.assertEqual(bad, [])
        self.assertEqual(len(self.db("overrides").stdout.splitlines()), 20)

    def test_bad_input(self):
        self.start()
        cases = [
            (("allow", "bogus"), "not an IP address"),
            (("allow", "198.51.100.0/33"), "prefix length"),
            (("allow", "16.0.0.0/4"), "--force"),
            (("allow", "10.0.0.0/4"), "host bits"),
            (("add", "2001::/16", "vpn"), "--force"),
            (("add", "192.0.2.1", "spam"), "unknown category"),
            (("add", "192.0.2.1"), "CATEGORY"),
            (("add", "192.0.2.1", "vpn", "--reason", "x" * 201), "too long"),
            (("add", "192.0.2.1", "vpn", "--reason", "a\x01b"), "control"),
            (("add", "192.0.2.1", "vpn", "--reason", "caf\u00e9"), "ASCII"),
            (("allow", "192.0.2.1", "--bogus"), "unknown option"),
            (("purge",), "missing"),
            (("unset", "192.0.2.1", "--reason", "x"), "unexpected"),
        ]
        for args, msg in cases:
            r = self.db(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(msg, r.stderr, args)
            self.assertEqual(r.stdout, "", args)
        r = self.db("overrides")
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        # the raw protocol refuses them too (not only the tool)
        for args, msg in ((("add", "192.0.2.1", "spam"), "unknown category"),
                          (("allow", "16.0.0.0/4"), "--force"),
            (("allow", "10.0.0.0/4"), "host bits"),
                          (("add", "192.0.2.1", "vpn", "--reason", "x" * 201), "too long"),
                          (("purge", "0.0.0.0/7"), "--force"),
                          (("allow", "192.0.2.1", "--who", "x" * 65), "--who")):
            out, last = self.d.control(*args)
            self.assertTrue(last.startswith("error ") and msg in last, (args, last))
        self.assertEqual(self.d.control("overrides"), ([], "ok"))
        # a newline or tab cannot even be carried
        out, last = self.d.control("help")
        self.assertIn("recheck IP", out)

    def test_purge_past_a_full_write_queue(self):
        """A purge larger than the database's write queue (a million rows) while the
        file is locked: every verdict leaves memory, the removals the queue refused are
        counted, the command fails saying so, and the queued ones reach the file."""
        n = 1000000 + 300
        tmp = tempfile.mkdtemp(prefix="threatbl-steer-full-")
        db = os.path.join(tmp, "verdicts.sqlite")
        self.assertEqual(tool("db", "-d", db, "init").returncode, 0)
        now = int(time.time())
        con = sqlite3.connect(db)
        con.executemany(
            "INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked, source, facts,"
            " created, updated) VALUES (?, ?, 4, 1, 0, ?, 'criminalip', NULL, ?, ?)",
            ((bytes(10) + b"\xff\xff" + bytes((10, i >> 16 & 255, i >> 8 & 255, i & 255)),
              "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), now, now, now)
             for i in range(n)))
        con.commit()
        con.close()
        self.start(tmpdir=tmp)
        self.assertIn("loaded %d verdict" % n, self.d.stderr())
        lock = sqlite3.connect(db, timeout=10, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            r = self.db("purge", "10.0.0.0/8", "--force", timeout=120)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("purged %d verdict(s) in 10.0.0.0/8" % n, r.stdout)
            self.assertRegex(r.stderr, r"\b300 of them could not be removed from the database")
            self.assertIn("300 of them could not be removed", self.d.stderr())
            self.assertEqual(self.a("10.0.1.2"), [], "gone from memory")
        finally:
            lock.execute("ROLLBACK")
            lock.close()

        def left():
            c = sqlite3.connect(db, timeout=10)
            try:
                return c.execute("SELECT count(*) FROM verdicts").fetchone()[0]
            finally:
                c.close()
        self.assertTrue(wait_for(lambda: left() == 300, 60), "rows left: %d" % left())

    def test_prune_at_start(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-steer-prune-")
        db = os.path.join(tmp, "verdicts.sqlite")
        self.assertEqual(tool("db", "-d", db, "init").returncode, 0)
        old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * 86400))
        new = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        lines = [{"ip": Q(10), "categories": ["vpn"], "flags": [], "checked": old},
                 {"ip": Q(13), "categories": ["tor"], "flags": [], "checked": new}]
        with open(os.path.join(tmp, "in.json"), "w") as f:
            for o in lines:
                f.write(json.dumps(o) + "\n")
        r = tool("db", "-d", db, "import", os.path.join(tmp, "in.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start(tmpdir=tmp, max_stale="30d")
        self.assertTrue(wait_for(lambda: "pruned 1 verdict(s) older than max-stale"
                                 in self.d.stderr(), 5), self.d.stderr()[-2000:])
        self.assertTrue(self.wait_row(Q(10), present=False))
        self.assertIsNotNone(self.row(Q(13)))
        self.assertEqual(self.a(Q(13)), [CODE["tor"]])
        self.assertEqual(self.asked(Q(13)), 0, "the recent one answered from memory")
        r = self.db("prune")
        self.assertEqual((r.returncode, r.stdout.split(" verdict")[0]), (0, "pruned 0"))


class Offline(unittest.TestCase):
    """No daemon listening, or --offline: the file, and the tool says so."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="threatbl-steer-off-")
        self.db = os.path.join(self.dir, "v.sqlite")
        self.sock = os.path.join(self.dir, "control")
        self.assertEqual(tool("db", "-d", self.db, "init").returncode, 0)

    def tearDown(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_file_path(self):
        r = tool("db", "-d", self.db, "-s", self.sock, "add", "192.0.2.0/24", "vpn",
                 "--reason", "offline")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no daemon reachable", r.stderr)
        self.assertIn("next start", r.stderr)
        r = tool("db", "-d", self.db, "--offline", "allow", "192.0.2.7")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--offline", r.stderr)
        r = tool("db", "-d", self.db, "-s", self.sock, "overrides")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([l.split("\t")[:2] for l in r.stdout.splitlines()],
                         [["192.0.2.0/24", "add vpn"], ["192.0.2.7/32", "allow"]])
        r = tool("db", "-d", self.db, "--offline", "unset", "192.0.2.7")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = tool("db", "-d", self.db, "--offline", "recheck", "192.0.2.7")
        self.assertEqual(r.returncode, 2)
        self.assertIn("running threatbld", r.stderr)
        # no daemon and no file: a clear error
        r = tool("db", "-s", self.sock, "allow", "192.0.2.7")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no -d DBFILE", r.stderr)

    def test_purge_cidr_in_the_file(self):
        con = sqlite3.connect(self.db)
        for ip in ("192.0.2.1", "192.0.2.200", "198.51.100.1"):
            key = bytes(10) + b"\xff\xff" + bytes(int(x) for x in ip.split("."))
            con.execute("INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked,"
                        " source, created, updated) VALUES (?, ?, 4, 1, 0, 1, 'x', 1, 1)",
                        (key, ip))
        con.commit()
        con.close()
        r = tool("db", "-d", self.db, "--offline", "purge", "192.0.2.0/24")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 2 verdict(s) in 192.0.2.0/24", r.stdout)
        con = sqlite3.connect(self.db)
        self.assertEqual([r[0] for r in con.execute("SELECT ip_text FROM verdicts")],
                         ["198.51.100.1"])
        con.close()


if __name__ == "__main__":
    tbltest.main()

"""Black-box: lookup services beside Criminal IP (doc/providers.md).

dnspython -> threatbld -> test/fake_providers.py (AbuseIPDB, ipinfo) and
test/fake_criminalip.py: every category of each service end to end, the key only in
its header (never in a URL or the log), [intel] combine = first and all, one provider
down, one with a refused key, one over its quota (429 with Retry-After), one over its
daily budget, what the store says about who said what (threatbl db show), and the
start refused when a listed provider has no key. Every claim is checked on the fakes'
request counts.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
import fake_providers  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, ZONE, THREATBL, rev4, a_values, txt_values,  # noqa: E402
                     wait_for, soa_ttl)

ADB_KEY = "adb-KEY-0c1d2e3f4a5b6c7d"
IPI_KEY = "ipi-TOKEN-9a8b7c6d5e4f"
CIP_KEY = "cip-KEY-1122334455667788"
NEG_TTL = 120
UNKNOWN_TTL = 30

CATS = ("vpn", "openvpn443", "hosting", "tor", "proxy", "scanner")
CODE = {c: "127.0.0.%d" % (i + 2) for i, c in enumerate(CATS)}
# TXT: the category, the address and who said it (doc/dns.md: ${source}); the braces
# doubled for Daemon's str.format
ZONE_EXTRA = "".join("%s = %s %s $ by ${{source}}\n" % (c, CODE[c], c) for c in CATS)

# the fakes' profiles (fake_providers.py), by last octet
ADB = {10: ("hosting",), 13: ("tor",), 15: ("scanner",), 16: ("hosting", "tor", "scanner"),
       17: (), 20: (), 14: ()}
IPI = {10: ("vpn",), 12: ("hosting",), 13: ("tor",), 14: ("proxy",), 16: ("proxy",),
       17: ()}


def P(n):
    return "203.0.113.%d" % n


def Q(n):
    return "198.51.100.%d" % n


class ProvidersCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.adb = fake_providers.FakeProvider("abuseipdb", key=ADB_KEY).start()
        cls.ipi = fake_providers.FakeProvider("ipinfo", key=IPI_KEY).start()
        cls.cip = fake_criminalip.FakeCriminalIP(key=CIP_KEY).start()

    @classmethod
    def tearDownClass(cls):
        for f in (cls.adb, cls.ipi, cls.cip):
            f.stop()

    def setUp(self):
        for f in (self.adb, self.ipi, self.cip):
            f.reset()
        self.d = None

    def tearDown(self):
        if self.d is None:
            return
        try:
            log = tbltest.assert_clean_stop(self, self.d, ADB_KEY)
            for key in (IPI_KEY, CIP_KEY):
                self.assertNotIn(key, log, "an API key appears in the daemon's log")
            self.assertEqual(self.adb.count()["key_in_url"], 0, "AbuseIPDB key in a URL")
            self.assertEqual(self.ipi.count()["key_in_url"], 0, "ipinfo token in a URL")
        finally:
            self.d.cleanup()

    def start(self, providers, combine="first", adb="", ipi="", env=None, wait=True,
              files=None, tmpdir=None, one=False, server="", **intel):
        """one: the one-provider form, provider = NAME; server: a [server] section."""
        text = ("[intel]\n%s = %s\ncombine = %s\nlookup-reserved = yes\n"
                "deadline = 2s\nrate = 1000/s\nrate-burst = 1000\nconcurrency = 4\n"
                "timeout = 5s\nper-client-rate = 100000/s\nper-client-burst = 100000\n"
                "url = %s\n" % ("provider" if one else "providers", providers, combine,
                                 self.cip.url))
        for k, v in intel.items():
            text += "%s = %s\n" % (k.replace("_", "-"), v)
        text += "[provider abuseipdb]\nurl = %s\n%s" % (self.adb.url, adb)
        text += "[provider ipinfo]\nurl = %s\n%s" % (self.ipi.url, ipi)
        e = {"THREATBL_ABUSEIPDB_KEY": ADB_KEY, "THREATBL_IPINFO_KEY": IPI_KEY,
             "THREATBL_API_KEY": CIP_KEY}
        e.update(env or {})
        self.d = Daemon(server + BASE_ZONE + ZONE_EXTRA + text, env=e, wait=wait, files=files,
                        tmpdir=tmpdir)
        return self.d

    def answer(self, ip, rdtype="A"):
        return self.d.query(rev4(ip), rdtype, timeout=5.0)

    def describe(self, r):
        return "%s A=%s TXT=%s" % (dns.rcode.to_text(r.rcode()), a_values(r), txt_values(r))

    def assert_listed(self, ip, cats):
        r = self.answer(ip)
        self.assertEqual((r.rcode(), a_values(r)),
                         (dns.rcode.NOERROR, sorted(CODE[c] for c in cats)),
                         "%s: %s" % (ip, self.describe(r)))

    def assert_clean(self, ip):
        r = self.answer(ip)
        self.assertEqual((r.rcode(), a_values(r), soa_ttl(r)), (dns.rcode.NXDOMAIN, [], NEG_TTL),
                         "%s should be clean: %s" % (ip, self.describe(r)))

    def assert_unknown(self, ip):
        r = self.answer(ip)
        self.assertEqual((r.rcode(), a_values(r), soa_ttl(r)),
                         (dns.rcode.NXDOMAIN, [], UNKNOWN_TTL),
                         "%s should be unknown: %s" % (ip, self.describe(r)))

    def listed_eventually(self, ip, cats, timeout=5.0):
        want = sorted(CODE[c] for c in cats)
        return wait_for(lambda: a_values(self.answer(ip)) == want, timeout)

    def wait_log(self, pattern, timeout=5.0):
        return wait_for(lambda: re.search(pattern, self.d.stderr()), timeout)

    def show(self, ip):
        """threatbl db show IP on the daemon's database, once the row is written:
        (categories, source, facts)."""
        def row():
            r = subprocess.run([THREATBL, "db", "-d", self.d.db, "show", ip],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            f = r.stdout.rstrip("\n").split("\t")
            return f if len(f) >= 5 else None
        self.assertTrue(wait_for(row, 10), "no row for %s in the store" % ip)
        f = row()
        return f[1], f[3], f[4]


class OneService(ProvidersCase):
    def test_abuseipdb_alone(self):
        self.start("abuseipdb")
        for n, cats in sorted(ADB.items()):
            if cats:
                self.assert_listed(P(n), cats)
            else:
                self.assert_clean(P(n))
        self.assertEqual(self.adb.count()["auth_ok"], len(ADB), "the key in the Key header")
        self.assertEqual(self.ipi.count()["total"], 0, "ipinfo is not configured")
        self.assertEqual(self.cip.count()["total"], 0, "Criminal IP is not configured")
        cats, source, facts = self.show(P(15))
        self.assertEqual((cats, source), ("scanner", "abuseipdb"))
        self.assertEqual(json.loads(facts)["abuseConfidenceScore"], 100, facts)
        r = self.answer(P(16), "TXT")
        self.assertEqual(sorted(txt_values(r)), sorted("%s %s by abuseipdb" % (c, P(16))
                                                       for c in ADB[16]))

    def test_abuseipdb_scanner_score(self):
        self.start("abuseipdb", adb="scanner-score = 50\n")
        self.assert_listed(P(20), ("scanner",))   # score 60 >= 50
        self.assert_clean(P(17))

    def test_abuseipdb_errors_are_not_clean(self):
        self.start("abuseipdb")
        self.assert_unknown(P(22))                # 422: invalid ip, not clean
        self.assert_unknown(P(23))                # an answer about another address
        self.assertTrue(self.wait_log(r"AbuseIPDB gave no usable report for 203\.0\.113\.23"))
        n = self.adb.count()["total"]
        self.assert_unknown(P(22))
        self.assertEqual(self.adb.count()["total"], n, "an invalid ip is not asked again soon")

    def test_ipinfo_alone(self):
        self.start("ipinfo")
        for n, cats in sorted(IPI.items()):
            if cats:
                self.assert_listed(P(n), cats)
            else:
                self.assert_clean(P(n))
        self.assertEqual(self.ipi.count()["auth_ok"], len(IPI), "the token as a bearer")
        cats, source, facts = self.show(P(10))
        self.assertEqual((cats, source), ("vpn", "ipinfo"))
        self.assertEqual(json.loads(facts).get("service"), "NordVPN", facts)
        self.assert_unknown(P(22))                # 404 Wrong ip
        self.assert_unknown(P(24))                # a bogon

    def test_ipinfo_token_refused(self):
        self.start("ipinfo", env={"THREATBL_IPINFO_KEY": "wrong-token"})
        self.assert_unknown(P(10))
        self.assertTrue(self.wait_log(r"ipinfo rejected the API key"))
        n = self.ipi.count()["total"]
        self.assert_unknown(P(12))
        self.assertEqual(self.ipi.count()["total"], n, "no call after a refused token")

    def test_key_file_and_missing_key(self):
        d = Daemon(BASE_ZONE + "[intel]\nproviders = abuseipdb\n", wait=False)
        try:
            rc = d.proc.wait(10)
            self.assertNotEqual(rc, 0, "started without AbuseIPDB's key")
            self.assertIn("provider abuseipdb needs an API key", d.stderr())
            self.assertIn("THREATBL_ABUSEIPDB_KEY", d.stderr())
        finally:
            d.cleanup()
        # a key file of its own section wins over $THREATBL_ABUSEIPDB_KEY
        self.start("abuseipdb", env={"THREATBL_ABUSEIPDB_KEY": "not-this-one"},
                   adb="key-file = {dir}/adb.key\n", files={"adb.key": ADB_KEY + "\n"})
        self.assert_listed(Q(10), ("hosting",))
        self.assertEqual(self.adb.count()["bad_key"], 0, "the key file's key is used")
        self.assertTrue(self.wait_log(r"looking IPs up in AbuseIPDB at .* \(API key from "
                                      r"\[provider abuseipdb\] key-file\)"))


class Keys(ProvidersCase):
    def test_one_provider_form_reads_its_own_key(self):
        """provider = abuseipdb: AbuseIPDB's key, never Criminal IP's THREATBL_API_KEY."""
        self.start("abuseipdb", one=True)
        self.assert_listed(P(10), ("hosting",))
        self.assertEqual((self.adb.count()["auth_ok"], self.adb.count()["bad_key"]), (1, 0),
                         "AbuseIPDB's own key in the Key header")
        self.assertTrue(self.wait_log(r"looking IPs up in AbuseIPDB at .* \(API key from "
                                      r"THREATBL_ABUSEIPDB_KEY\)"), self.d.stderr())
        self.assertEqual(self.d.stop(), 0)
        self.d.cleanup()
        self.d = None
        # without its key: refused, naming its own variable, though THREATBL_API_KEY is set
        d = self.start("ipinfo", one=True, wait=False, env={"THREATBL_IPINFO_KEY": ""})
        self.d = None
        try:
            self.assertNotEqual(d.proc.wait(10), 0, "started without ipinfo's key")
            self.assertIn("provider ipinfo needs an API key", d.stderr())
            self.assertIn("THREATBL_IPINFO_KEY", d.stderr())
            self.assertEqual(self.ipi.count()["total"], 0)
        finally:
            d.cleanup()

    @unittest.skipUnless(os.geteuid() == 0, "dropping root needs root")
    def test_reload_keeps_root_only_keys(self):
        """Key files readable by root only, as advised: after the daemon has become its
        user, a reload keeps each provider's key and the lookups go on."""
        nobody = pwd.getpwnam("nobody")
        tmp = tempfile.mkdtemp(prefix="threatbl-keys-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        os.mkdir(os.path.join(tmp, "db"))
        os.chown(os.path.join(tmp, "db"), nobody.pw_uid, nobody.pw_gid)
        for name, key in (("adb.key", ADB_KEY), ("ipi.key", IPI_KEY)):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(key + "\n")
            os.chmod(path, 0o600)
        self.start("abuseipdb ipinfo", combine="all", tmpdir=tmp,
                   server="[server]\nlisten = 127.0.0.1:{port}\ndatabase = {dir}/db/v.sqlite\n"
                          "log-level = debug\nuser = nobody\n",
                   adb="key-file = {dir}/adb.key\n", ipi="key-file = {dir}/ipi.key\n",
                   env={"THREATBL_ABUSEIPDB_KEY": "", "THREATBL_IPINFO_KEY": ""})
        self.assertIn("running as user nobody", self.d.stderr())
        self.d.signal(signal.SIGHUP)
        self.assertTrue(self.wait_log(r"reloaded"), self.d.stderr()[-2000:])
        log = self.d.stderr()
        self.assertNotIn("reload failed", log)
        for what in ("[provider abuseipdb] key-file", "[provider ipinfo] key-file"):
            self.assertIn("%s: " % what, log)
            self.assertRegex(log, re.escape(what) + r": .*keeping the API key read before")
        self.assertTrue(self.listed_eventually(P(10), ("hosting", "vpn")),
                        self.describe(self.answer(P(10))))
        self.assertEqual((self.adb.count()["bad_key"], self.ipi.count()["bad_key"]), (0, 0))


class Combine(ProvidersCase):
    def test_first_asks_in_order(self):
        self.start("abuseipdb ipinfo", combine="first")
        self.assert_listed(P(10), ("hosting",))   # AbuseIPDB's verdict, first
        self.assert_clean(P(17))
        self.assertEqual(self.adb.count()["total"], 2)
        self.assertEqual(self.ipi.count()["total"], 0, "first: ipinfo not asked")
        self.assertEqual(self.show(P(10))[1], "abuseipdb")
        self.d.signal(signal.SIGUSR1)   # the counters, each provider's too
        self.assertTrue(self.wait_log(r"stats: lookups: abuseipdb: 2 calls, 2 today"))
        self.assertTrue(self.wait_log(r"stats: lookups: ipinfo: 0 calls, 0 today"))

    def test_first_with_one_down(self):
        self.adb.mode("down")
        self.start("abuseipdb ipinfo", combine="first")
        self.assert_listed(P(10), ("vpn",))       # ipinfo's verdict
        self.assertTrue(self.wait_log(r"AbuseIPDB unreachable"))
        self.assertEqual(self.adb.count()["total"], 1)
        self.assert_listed(P(12), ("hosting",))   # straight to ipinfo: AbuseIPDB backs off
        self.assertEqual(self.adb.count()["total"], 1, "AbuseIPDB is left alone in its backoff")
        self.assertEqual(self.show(P(10))[1], "ipinfo")
        self.assertEqual(txt_values(self.answer(P(10), "TXT")), ["vpn %s by ipinfo" % P(10)])

    def test_refresh_asks_the_speaker(self):
        self.adb.mode("down", times=1)
        self.start("abuseipdb ipinfo", combine="first", fresh="1s", max_stale="1h")
        self.assert_listed(P(12), ("hosting",))   # AbuseIPDB failed: ipinfo's verdict
        self.assertEqual((self.adb.count()["per_ip"].get(P(12)),
                          self.ipi.count()["per_ip"].get(P(12))), (1, 1))
        time.sleep(2.5)                           # stale now, AbuseIPDB's backoff over
        self.assert_listed(P(12), ("hosting",))   # the stale verdict, refreshed behind
        self.assertTrue(wait_for(lambda: self.ipi.count()["per_ip"].get(P(12)) == 2, 5),
                        "the refresh asks ipinfo, which gave the verdict")
        self.assertEqual(self.adb.count()["per_ip"].get(P(12)), 1,
                         "the refresh does not ask AbuseIPDB first")
        # a new address still asks in priority order
        self.assert_listed(P(10), ("hosting",))
        self.assertEqual(self.adb.count()["per_ip"].get(P(10)), 1)

    def test_refresh_asks_the_speaker_after_a_restart(self):
        """Who gave a verdict comes back from the store's source column: the restarted
        daemon (no backoff left for AbuseIPDB) refreshes with ipinfo only."""
        self.adb.mode("down", times=1)
        d1 = self.start("abuseipdb ipinfo", combine="first", fresh="1s", max_stale="1h")
        self.assert_listed(P(12), ("hosting",))   # AbuseIPDB failed: ipinfo's verdict
        self.assertEqual(self.show(P(12))[1], "ipinfo")
        self.assertEqual(d1.stop(), 0, d1.stderr()[-2000:])
        self.start("abuseipdb ipinfo", combine="first", fresh="1s", max_stale="1h",
                   tmpdir=d1.dir)
        self.assertRegex(self.d.stderr(), r"loaded 1 verdict")
        time.sleep(1.5)                           # stale now
        self.assert_listed(P(12), ("hosting",))   # the stored verdict, refreshed behind
        self.assertTrue(wait_for(lambda: self.ipi.count()["per_ip"].get(P(12)) == 2, 5),
                        "the refresh asks ipinfo, which gave the verdict")
        self.assertEqual(self.adb.count()["per_ip"].get(P(12)), 1,
                         "the refresh does not ask AbuseIPDB first")

    def test_source_is_empty_for_static_and_test_entries(self):
        self.start("abuseipdb", combine="first")
        r = self.d.query(rev4("127.0.0.2"), "TXT")
        self.assertIn("tor 127.0.0.2 by ", txt_values(r), "no provider for the test entry")

    def test_first_all_down_is_unknown(self):
        self.adb.mode("down")
        self.ipi.mode("down")
        self.start("abuseipdb ipinfo", combine="first")
        self.assert_unknown(P(10))
        self.assertEqual((self.adb.count()["total"], self.ipi.count()["total"]), (1, 1))
        self.adb.mode("normal")
        self.ipi.mode("normal")
        self.assertTrue(wait_for(lambda: a_values(self.answer(P(10))) == [CODE["hosting"]],
                                 10), "asked again after the backoff, never cached as clean")

    def test_first_quota_used_up(self):
        self.adb.mode("limit", retry_after=3600)
        self.start("abuseipdb ipinfo", combine="first")
        self.assert_listed(P(13), ("tor",))       # both say tor: ipinfo's
        # a Retry-After that outlasts the UTC day ends with the day: within an hour of
        # midnight the pause is announced until 00:00 UTC instead
        to_midnight = 86400 - time.time() % 86400
        resume = (r"resume in 3600s" if to_midnight > 3600 + 60 else
                  r"resume at 00:00 UTC" if to_midnight < 3600 - 60 else
                  r"resume (in 3600s|at 00:00 UTC)")
        self.assertTrue(self.wait_log(r"AbuseIPDB credits used up.*" + resume),
                        self.d.stderr()[-2000:])
        self.assert_listed(P(14), ("proxy",))     # ipinfo's
        self.assertEqual(self.adb.count()["total"], 1, "AbuseIPDB paused after its 429")
        self.assertEqual(self.show(P(14))[1], "ipinfo")

    def test_all_lists_the_union(self):
        self.start("abuseipdb ipinfo", combine="all")
        # the first verdict answers; the union follows
        self.assertTrue(self.listed_eventually(P(10), ("hosting", "vpn")),
                        "AbuseIPDB's hosting and ipinfo's vpn: %s"
                        % self.describe(self.answer(P(10))))
        self.assertTrue(self.listed_eventually(P(16), ("hosting", "tor", "scanner", "proxy")))
        self.assertTrue(wait_for(lambda: self.show(P(10))[1] == "abuseipdb,ipinfo", 5))
        cats, source, facts = self.show(P(10))
        self.assertEqual(cats, "vpn,hosting")
        said = json.loads(facts)
        self.assertEqual(said["abuseipdb"]["categories"], "hosting", facts)
        self.assertEqual(said["ipinfo"]["categories"], "vpn", facts)
        self.assertEqual(said["ipinfo"]["facts"]["service"], "NordVPN", facts)
        self.assertEqual((self.adb.count()["per_ip"].get(P(10)),
                          self.ipi.count()["per_ip"].get(P(10))), (1, 1),
                         "each provider asked once")
        r = self.answer(P(10), "TXT")
        self.assertEqual(sorted(txt_values(r)),
                         ["hosting %s by abuseipdb,ipinfo" % P(10),
                          "vpn %s by abuseipdb,ipinfo" % P(10)], "the TXT names both")

    def test_all_with_one_over_budget(self):
        self.start("abuseipdb ipinfo", combine="all", ipi="daily-budget = 1\n")
        self.assertTrue(self.listed_eventually(P(10), ("hosting", "vpn")))
        self.assertTrue(self.wait_log(r"ipinfo: daily budget of 1 calls used up"))
        self.assertTrue(self.listed_eventually(P(13), ("tor",)))
        self.assertTrue(self.listed_eventually(P(15), ("scanner",)))
        self.assertEqual(self.ipi.count()["total"], 1, "ipinfo kept to its budget")
        self.assertTrue(wait_for(lambda: self.show(P(15))[1] == "abuseipdb", 5))
        # each provider's count and what is left of its budget, for the operator
        self.assertTrue(wait_for(lambda: {
            'threatbl_provider_calls_today{provider="abuseipdb"} 3',
            'threatbl_provider_calls_today{provider="ipinfo"} 1',
            'threatbl_provider_budget_remaining{provider="ipinfo"} 0'} <=
            set(self.d.control("stats")[0]), 3), self.d.control("stats")[0])
        self.assertNotIn('provider_budget_remaining{provider="abuseipdb"}',
                         "\n".join(self.d.control("stats")[0]), "no budget, no line")
        # each provider's count is in the database: a restart does not give ipinfo
        # (the second provider) a new budget
        self.assertEqual(subprocess.run(
            ["sqlite3", self.d.db, "SELECT provider, calls FROM budgets ORDER BY provider"],
            stdout=subprocess.PIPE, text=True).stdout.split(), ["abuseipdb|3", "ipinfo|1"])
        d1 = self.d
        self.assertEqual(d1.stop(), 0, d1.stderr()[-2000:])
        self.start("abuseipdb ipinfo", combine="all", ipi="daily-budget = 1\n",
                   tmpdir=d1.dir)
        self.assertTrue(self.listed_eventually(P(16), ("hosting", "tor", "scanner")))
        self.assertEqual(self.ipi.count()["total"], 1, "ipinfo's budget held across a restart")
        self.assertEqual(self.adb.count()["per_ip"].get(P(16)), 1)

    def test_all_with_one_down(self):
        self.ipi.mode("down")
        self.start("abuseipdb ipinfo", combine="all")
        self.assert_listed(P(13), ("tor",))
        self.assertTrue(self.wait_log(r"ipinfo unreachable"))
        self.assertEqual(self.show(P(13))[1], "abuseipdb")

    def test_three_with_criminalip(self):
        self.start("criminalip abuseipdb ipinfo", combine="all")
        # Criminal IP: vpn+hosting+openvpn443; AbuseIPDB: hosting+tor+scanner; ipinfo: relay
        self.assertTrue(self.listed_eventually(
            P(16), ("vpn", "hosting", "openvpn443", "tor", "scanner", "proxy"), 8),
            self.describe(self.answer(P(16))))
        self.assertTrue(wait_for(lambda: self.show(P(16))[1] == "criminalip,abuseipdb,ipinfo",
                                 5), self.show(P(16)))
        self.assertEqual(self.cip.count()["per_ip"].get(P(16)), 1)


if __name__ == "__main__":
    tbltest.main()

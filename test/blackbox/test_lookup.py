"""Black-box: lookups through the fake Criminal IP server (doc/configuration.md, doc/dns.md,
doc/criminalip.md).

dnspython -> threatbld -> test/fake_criminalip.py -> A and TXT answers: every category,
IPv4 and IPv6 names; the API key only in the x-api-key header and never in the log;
coalescing of concurrent queries; the deadline; every error of doc/criminalip.md#errors (the
server keeps answering, nothing is remembered as clean, calls pause and resume as
specified); reserved ranges; the daily budget; `unknown = servfail`. Every claim is
checked on the fake's request counts.
"""
import os
import re
import select
import signal
import socket
import sys
import time
import unittest

import dns.flags
import dns.message
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, ZONE, rev4, rev6, a_values, txt_values,  # noqa: E402
                     intel_conf, wait_for, soa_ttl, timed_query)

KEY = "tbl-KEY-7f3e9c1d5a0b42"
NEG_TTL = 120      # BASE_ZONE negative-ttl: a clean verdict
UNKNOWN_TTL = 30   # BASE_ZONE unknown-ttl: no verdict
LOCAL_IP = "45.10.20.30"  # in the static list

CATS = ("vpn", "openvpn443", "hosting", "tor", "proxy", "scanner")
CODE = {c: "127.0.0.%d" % (i + 2) for i, c in enumerate(CATS)}
ZONE_EXTRA = "".join("%s = %s %s $\n" % (c, CODE[c], c) for c in CATS) + \
    "static = {dir}/local.ip4set\n"
FILES = {"local.ip4set": "%s :127.0.0.9:local $\n" % LOCAL_IP}

SF_ZONE = """
[zone sf.test]
soa = ns1.sf.test. hostmaster.sf.test. 3600 600 604800 300
ns = ns1.sf.test.
ttl = 300
negative-ttl = 120
unknown = servfail
unknown-ttl = 30
"""


def P(n):
    """An address of the fake's profiles (fake_criminalip.py, by last octet)."""
    return "203.0.113.%d" % n


def Q(n):
    """The same profiles under the other documentation prefix: fresh addresses."""
    return "198.51.100.%d" % n


# profile -> categories (fake_criminalip.py's table; doc/criminalip.md#classification)
PROFILES = {
    10: ("vpn",), 11: ("openvpn443",), 12: ("hosting",), 13: ("tor",),
    14: ("proxy",), 15: ("scanner",), 16: ("vpn", "hosting", "openvpn443"),
    17: (), 18: (), 19: ("openvpn443",), 20: ("scanner",), 21: ("vpn",), 23: (),
}


class LookupCase(tbltest.FakeAPICase):
    """One fake for the class, reset before each test; one daemon per test."""

    KEY = KEY

    def setUp(self):
        super().setUp()
        self.d = None
        self.secrets = [KEY]

    def tearDown(self):
        if self.d is None:
            return
        try:
            # a clean stop whatever the test left in flight (and, in a sanitizer
            # build, no report)
            rc = self.d.stop()
            log = self.d.stderr()
            self.assertEqual(rc, 0, "exit status after SIGTERM:\n" + log[-3000:])
            self.assertNotRegex(log, r"ERROR: AddressSanitizer|runtime error:|"
                                r"ERROR: LeakSanitizer")
            for s in self.secrets:
                self.assertNotIn(s, log, "the API key appears in the daemon's log")
            self.assertEqual(self.fake.count()["key_in_url"], 0,
                             "the API key was sent in a URL")
        finally:
            self.d.cleanup()

    def start(self, zone_extra="", key=KEY, tmpdir=None, wait=True, **intel):
        settings = dict(lookup_reserved="yes", deadline="1s", rate="1000/s",
                        rate_burst=1000, concurrency=4, timeout="5s")
        settings.update(intel)
        settings = {k: v for k, v in settings.items() if v is not None}
        conf = BASE_ZONE + ZONE_EXTRA + zone_extra + intel_conf(self.fake.url, **settings)
        env = {"THREATBL_API_KEY": key} if key is not None else {}
        self.d = Daemon(conf, env=env, files=FILES, tmpdir=tmpdir, wait=wait)
        return self.d

    # --- what the fake saw ---

    def total(self):
        return self.fake.count()["total"]

    def asked(self, ip):
        return self.fake.count()["per_ip"].get(ip, 0)

    def fake_idle(self, timeout=5.0):
        self.assertTrue(wait_for(lambda: self.fake.count()["inflight"] == 0, timeout),
                        "the fake still has calls in flight")

    # --- what the daemon answers ---

    def answer(self, ip, rdtype="A", zone=ZONE):
        name = rev6(ip, zone) if ":" in ip else rev4(ip, zone)
        return self.d.query(name, rdtype, timeout=5.0)

    def describe(self, r):
        return "%s A=%s TXT=%s soa-ttl=%s" % (dns.rcode.to_text(r.rcode()), a_values(r),
                                              txt_values(r), soa_ttl(r))

    def is_listed(self, ip, cats, zone=ZONE):
        r = self.answer(ip, zone=zone)
        return r.rcode() == dns.rcode.NOERROR and a_values(r) == sorted(CODE[c] for c in cats)

    def assert_listed(self, ip, cats, zone=ZONE):
        r = self.answer(ip, "A", zone)
        self.assertEqual((r.rcode(), a_values(r)),
                         (dns.rcode.NOERROR, sorted(CODE[c] for c in cats)),
                         "%s A: %s" % (ip, self.describe(r)))
        self.assertTrue(r.flags & dns.flags.AA, "%s: AA not set" % ip)
        r = self.answer(ip, "TXT", zone)
        self.assertEqual((r.rcode(), txt_values(r)),
                         (dns.rcode.NOERROR, sorted("%s %s" % (c, ip) for c in cats)),
                         "%s TXT: %s" % (ip, self.describe(r)))

    def assert_unknown(self, ip, why=""):
        r = self.answer(ip)
        self.assertEqual((r.rcode(), a_values(r), soa_ttl(r)),
                         (dns.rcode.NXDOMAIN, [], UNKNOWN_TTL),
                         "%s should be unknown (NXDOMAIN, SOA TTL unknown-ttl %d)%s: %s"
                         % (ip, UNKNOWN_TTL, why, self.describe(r)))

    def assert_clean(self, ip):
        r = self.answer(ip)
        self.assertEqual((r.rcode(), a_values(r), soa_ttl(r)),
                         (dns.rcode.NXDOMAIN, [], NEG_TTL),
                         "%s should be clean (NXDOMAIN, SOA TTL negative-ttl %d): %s"
                         % (ip, NEG_TTL, self.describe(r)))

    def assert_serving(self):
        """The static list and the RFC 5782 test entry are still answered."""
        r = self.d.query(rev4("127.0.0.2"), "A")
        self.assertEqual(a_values(r), sorted(CODE.values()), "2.0.0.127: %s" % self.describe(r))
        r = self.d.query(rev4(LOCAL_IP), "TXT")
        self.assertEqual(txt_values(r), ["local %s" % LOCAL_IP],
                         "static entry: %s" % self.describe(r))
        r = self.d.query(rev4("127.0.0.1"), "A")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)

    def wait_log(self, pattern, timeout=5.0):
        return wait_for(lambda: re.search(pattern, self.d.stderr()), timeout)


class Categories(LookupCase):
    def test_every_profile_end_to_end(self):
        d = self.start()
        bad = []
        for n, cats in sorted(PROFILES.items()):
            ip = P(n)
            r = self.answer(ip, "A")
            want = sorted(CODE[c] for c in cats)
            if cats:
                if (r.rcode(), a_values(r)) != (dns.rcode.NOERROR, want):
                    bad.append("%s (profile %d) A: want %s, got %s"
                               % (ip, n, want, self.describe(r)))
                t = self.answer(ip, "TXT")
                wtxt = sorted("%s %s" % (c, ip) for c in cats)
                if txt_values(t) != wtxt:
                    bad.append("%s TXT: want %s, got %s" % (ip, wtxt, self.describe(t)))
                t = self.answer(ip, "ANY")
                if (a_values(t), txt_values(t)) != (want, wtxt):
                    bad.append("%s ANY: got %s" % (ip, self.describe(t)))
            elif (r.rcode(), a_values(r), soa_ttl(r)) != (dns.rcode.NXDOMAIN, [], NEG_TTL):
                bad.append("%s (profile %d) should be clean: got %s"
                           % (ip, n, self.describe(r)))
        self.assertEqual(bad, [])
        per_ip = self.fake.count()["per_ip"]
        self.assertEqual({ip: per_ip.get(ip) for ip in map(P, PROFILES)},
                         {ip: 1 for ip in map(P, PROFILES)},
                         "one API request per IP; TXT and ANY come from the cache")
        self.assertTrue(all(x["full"] == "true" and x["key_ok"]
                            for x in self.fake.requests()))
        self.assertEqual(d.proc.poll(), None)

    def test_newest_closed_443_is_not_openvpn443(self):
        # profile 18: an open OpenVPN tcp/443 entry in the past, the newest one closed
        self.start()
        self.assert_clean(Q(18))
        self.assertEqual(self.asked(Q(18)), 1)
        # profile 16's newest 443 entry is the open OpenVPN one
        self.assert_listed(Q(16), ("vpn", "hosting", "openvpn443"))

    def test_criminalip_example(self):
        self.start()
        self.assert_listed("188.214.106.93", ("vpn", "openvpn443", "hosting"))
        self.assertEqual(self.total(), 1)

    def test_ipv6_nibble_name_listed(self):
        ip = "2001:db8::10"
        self.fake.set_doc(ip, fake_criminalip.doc(ip, ("is_vpn", "is_hosting")))
        self.start()
        self.assert_listed(ip, ("vpn", "hosting"))
        self.assertEqual(self.asked(ip), 1)
        self.assertEqual([x["ip"] for x in self.fake.requests()], [ip])

    def test_ipv6_refused_is_unknown_and_not_asked_again(self):
        # The fake answers IPv6 "Invalid IP Address." unless a document is set.
        ip = "2001:db8::11"
        self.start()
        self.assert_unknown(ip)
        self.assertEqual(self.asked(ip), 1)
        # now the fake has a verdict, but the service said "invalid": not retried soon
        self.fake.set_doc(ip, fake_criminalip.doc(ip, ("is_tor",)))
        self.assert_unknown(ip, " (not asked again soon)")
        self.assertEqual(self.asked(ip), 1)
        # and it paused nothing: another address is looked up at once
        self.assert_listed(P(13), ("tor",))
        self.assertEqual(self.total(), 2)


class ApiKey(LookupCase):
    def test_key_only_in_header(self):
        self.start()
        self.assert_listed(P(10), ("vpn",))
        c = self.fake.count()
        self.assertEqual((c["total"], c["bad_key"], c["key_in_url"]), (1, 0, 0))
        self.assertTrue(self.fake.requests()[0]["key_ok"])
        # tearDown: the key is in no log line

    def test_wrong_key(self):
        wrong = "tbl-WRONG-c0ffee-91d2e8a7"
        self.secrets.append(wrong)
        self.start(key=wrong)
        self.assert_unknown(P(10))
        c = self.fake.count()
        self.assertEqual((c["total"], c["bad_key"]), (1, 1))
        self.assertTrue(self.wait_log(r"(?i)(rejected|invalid).{0,40}api key|"
                                      r"api key.{0,40}(rejected|invalid)"),
                        "no log line says the key was rejected:\n" + self.d.stderr())
        # calls stop until a reload: a new IP is unknown without a request
        self.assert_unknown(P(12))
        self.assertEqual(self.total(), 1)
        self.assert_serving()

    def test_bad_key_pause_ends_on_sighup(self):
        d = self.start()
        self.fake.mode("badkey")
        self.assert_unknown(P(10))
        self.assertEqual(self.total(), 1)
        self.fake.mode("normal")
        self.assert_unknown(P(12), " (calls paused after a bad key)")
        self.assert_unknown(P(10), " (calls paused after a bad key)")
        self.assertEqual(self.total(), 1)
        self.assert_serving()
        d.signal(signal.SIGHUP)
        self.assertTrue(self.wait_log(r"reloaded"), "no reload:\n" + d.stderr())
        self.assert_listed(P(10), ("vpn",))
        self.assert_listed(P(12), ("hosting",))
        self.assertEqual(self.total(), 3)


class Coalescing(LookupCase):
    def test_200_concurrent_queries_one_request(self):
        n = 200
        ip = P(16)
        self.start(deadline="3s")
        # slow enough that every query arrives while the one call is in flight
        self.fake.mode("slow", delay_ms=700)
        q = dns.message.make_query(rev4(ip), "A")
        q.flags &= ~dns.flags.RD
        socks = {}
        try:
            for i in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                q.id = i
                s.sendto(q.to_wire(), ("127.0.0.1", self.d.port))
                socks[s] = i
            answers = {}
            end = time.monotonic() + 6
            while len(answers) < n and time.monotonic() < end:
                ready = select.select([s for s in socks if socks[s] not in answers], [], [],
                                      max(0.0, end - time.monotonic()))[0]
                for s in ready:
                    answers[socks[s]] = dns.message.from_wire(s.recv(4096))
        finally:
            for s in socks:
                s.close()
        self.assertEqual(len(answers), n, "queries left unanswered")
        want = sorted(CODE[c] for c in PROFILES[16])
        wrong = [(i, self.describe(r)) for i, r in answers.items()
                 if r.id != i or a_values(r) != want]
        self.assertEqual(wrong, [])
        self.fake_idle()
        self.assertEqual(self.total(), 1, "one API request for 200 queries")


class Deadline(LookupCase):
    def test_slow_api_unknown_at_deadline_then_verdict(self):
        self.start(deadline="1s")
        self.fake.mode("slow", delay_ms=2500)
        r, took = timed_query(self.d, rev4(P(13)))
        self.assertEqual((r.rcode(), soa_ttl(r)), (dns.rcode.NXDOMAIN, UNKNOWN_TTL),
                         self.describe(r))
        self.assertLess(took, 2.0, "the unknown answer came after deadline + 1 s")
        self.assertGreater(took, 0.7, "the query did not wait for the lookup")
        self.fake.mode("normal")
        self.assertTrue(wait_for(lambda: self.fake.count()["inflight"] == 0, 4.0))
        self.assertTrue(wait_for(lambda: self.is_listed(P(13), ("tor",)), 2.0),
                        "the lookup's verdict never reached the cache")
        self.assert_listed(P(13), ("tor",))
        self.assertEqual(self.total(), 1, "the verdict came from the first call: %r\n%s"
                         % (self.fake.requests(), self.d.stderr()))

    def test_servfail_zone(self):
        self.start(zone_extra=SF_ZONE + ZONE_EXTRA,
                   deadline="500ms")
        self.fake.mode("slow", delay_ms=1500)
        r, took = timed_query(self.d, rev4(P(14), "sf.test"))
        self.assertEqual(r.rcode(), dns.rcode.SERVFAIL, self.describe(r))
        self.assertLess(took, 1.5)
        self.fake_idle()
        self.assertTrue(wait_for(lambda: self.is_listed(P(14), ("proxy",), "sf.test"), 2.0))
        self.assert_listed(P(14), ("proxy",), zone="sf.test")
        self.assertEqual(self.total(), 1, "%r\n%s" % (self.fake.requests(), self.d.stderr()))


class Errors(LookupCase):
    """doc/criminalip.md#errors, each on the wire."""

    def trouble(self, mode, **kw):
        """Service trouble for one IP: unknown, still serving, backing off (a new IP
        gets no call), nothing remembered: once the fake is normal and the backoff
        over, the same IP is asked again and gets its verdict."""
        ip, other = P(16), P(10)
        self.start()
        self.assert_listed(P(12), ("hosting",))  # a connection to reuse
        self.fake.mode(mode, ips=[ip], **kw)
        t = time.monotonic()
        self.assert_unknown(ip)
        self.fake.mode("normal")
        first = self.asked(ip)
        self.assertIn(first, (1, 2), "calls for one query")
        self.assert_serving()
        self.assert_unknown(other, " (backing off after trouble)")
        self.assertEqual(self.asked(other), 0, "a call while backing off")
        self.fake_idle()
        time.sleep(max(0.0, t + 1.3 - time.monotonic()))  # the first backoff is 1 s
        self.assert_listed(ip, PROFILES[16])
        self.assertEqual(self.asked(ip), first + 1)
        self.assert_listed(other, ("vpn",))
        self.assertEqual(self.d.proc.poll(), None)
        return self.d.stderr()

    def test_http_500(self):
        self.trouble("http500")

    def test_malformed_json(self):
        self.trouble("malformed")

    def test_connection_dropped(self):
        self.trouble("drop")

    def test_reset_mid_body(self):
        self.trouble("reset_mid_body")

    def too_large(self, **kw):
        """A report past max-report-size is that IP's problem, never the service's
        (issue 12): the IP gets `unknown` and is not asked again soon, and there is no
        backoff: another IP is looked up at once."""
        ip, other = P(16), P(10)
        self.start(max_report_size="1M")
        self.assert_listed(P(12), ("hosting",))
        self.fake.mode("huge", ips=[ip], **kw)
        self.assert_unknown(ip)
        self.fake_idle()
        self.assertEqual(self.asked(ip), 1)
        self.assert_listed(other, ("vpn",))  # no backoff
        self.assertEqual(self.asked(other), 1)
        self.fake.mode("normal")
        self.assert_unknown(ip, " (not retried soon)")
        self.assertEqual(self.asked(ip), 1)
        self.assertNotRegex(self.d.stderr(), r"unreachable")
        self.assertRegex(self.d.stderr(), r"no usable report for 203.0.113.16.*max-report-size")

    def test_huge_body(self):
        self.too_large(size_mb=5)

    def test_huge_body_chunked(self):
        self.too_large(size_mb=5, chunked=True)

    def test_large_report_read(self):
        """A 4.5 MB report (over the old 4 MiB cap) is read with the default cap."""
        self.start()
        ip = P(16)
        self.fake.mode("huge", ips=[ip], size_mb=4.5)
        # 4.5 MB may take longer than the deadline (a sanitizer build, a busy machine):
        # the verdict comes from the one call all the same
        self.assertTrue(wait_for(lambda: self.is_listed(ip, PROFILES[16]), 20),
                        self.d.stderr()[-3000:])
        self.assert_listed(ip, PROFILES[16])
        self.assertEqual(self.asked(ip), 1)

    def test_empty_report(self):
        """HTTP 200 with {"status":200}, or a report about another address, is no
        verdict (issue 11): `unknown`, never clean, and no backoff."""
        self.start()
        self.fake.set_doc(P(17), {"status": 200})
        self.fake.set_doc(P(13), dict(fake_criminalip.profile(P(99), 13)))
        self.assert_unknown(P(17), " ({\"status\":200} is no verdict)")
        self.assert_unknown(P(13), " (a report about 203.0.113.99)")
        self.assert_listed(P(12), ("hosting",))  # no backoff
        self.assertRegex(self.d.stderr(), r"no usable report for 203.0.113.13.*another address")

    def test_error_status_in_body(self):
        # HTTP 200 but status 500 in the body: the body's status is checked too
        self.trouble("error", http_status=200, status=500, message="internal error")

    def test_invalid_ip_address(self):
        ip = P(15)
        self.start()
        self.fake.mode("error", ips=[ip], times=1, http_status=200, status=400,
                       message="Invalid IP Address.")
        self.assert_unknown(ip)
        self.assertEqual(self.asked(ip), 1)
        # the fake is normal again, but the service said "invalid": not retried soon
        self.assert_unknown(ip, " (not retried soon)")
        self.assertEqual(self.asked(ip), 1)
        # no pause: other IPs are looked up
        self.assert_listed(P(12), ("hosting",))
        self.assert_serving()

    def test_limit_exceeded(self):
        d = self.start()
        self.assert_listed(P(11), ("openvpn443",))   # known before the credits run out
        self.fake.mode("limit")
        self.assert_unknown(P(10))
        self.assertEqual(self.total(), 2)
        self.fake.mode("normal")
        self.assert_unknown(P(12), " (no calls until the next UTC day)")
        self.assert_unknown(P(10), " (no calls until the next UTC day)")
        self.assertEqual(self.total(), 2)
        self.assert_listed(P(11), ("openvpn443",))   # answered from the cache
        self.assert_serving()
        self.assertTrue(self.wait_log(r"(?i)limit exceeded|credits"),
                        "the pause is not logged:\n" + d.stderr())
        # nothing was stored as clean: a new daemon on the same database asks again
        tmp = d.dir
        self.assertEqual(d.stop(), 0)
        self.d = None
        self.start(tmpdir=tmp)
        self.assert_listed(P(10), ("vpn",))
        self.assert_listed(P(11), ("openvpn443",))
        self.assertEqual(self.asked(P(10)), 2)
        self.assertEqual(self.asked(P(11)), 1, "the stored verdict was not used")

    def test_concurrent_calls_refused(self):
        ips = {P(10): ("vpn",), P(12): ("hosting",), P(13): ("tor",), P(14): ("proxy",)}
        self.start(deadline="500ms")
        self.fake.mode("concurrent", delay_ms=200)
        socks = []
        for ip in ips:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(dns.message.make_query(rev4(ip), "A").to_wire(),
                     ("127.0.0.1", self.d.port))
            socks.append(s)
        for s in socks:
            s.close()
        # every IP ends with its verdict, asked again after "busy"
        for ip, cats in ips.items():
            self.assertTrue(wait_for(lambda: self.is_listed(ip, cats), 8.0, step=0.2),
                            "%s never got its verdict: %s"
                            % (ip, self.describe(self.answer(ip))))
        self.assert_serving()
        c = self.fake.count()
        self.assertGreater(c["total"], len(ips), "no call was refused: test is void")
        self.assertLess(c["total"], 20, "too many calls: %s" % c["per_ip"])


class Limits(LookupCase):
    def test_reserved_never_looked_up(self):
        public = "45.10.20.99"
        self.fake.set_doc(public, fake_criminalip.doc(public, ("is_tor",)))
        self.start(lookup_reserved=None)   # the default: no
        reserved = ["10.0.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.5", "169.254.1.1",
                    "fe80::1", "2001:db8::1", P(10)]
        bad = []
        for ip in reserved:
            r = self.answer(ip)
            if r.rcode() != dns.rcode.NXDOMAIN or r.answer:
                bad.append("%s: %s" % (ip, self.describe(r)))
        self.assertEqual(bad, [])
        self.assertEqual(self.total(), 0, "reserved addresses reached the API")
        # the lookups themselves work
        self.assert_listed(public, ("tor",))
        self.assertEqual(self.total(), 1)

    def test_daily_budget(self):
        self.start(daily_budget=2)
        self.assert_listed(Q(10), ("vpn",))
        self.assert_listed(Q(12), ("hosting",))
        self.assert_unknown(Q(13), " (daily budget used up)")
        self.assert_unknown(Q(13), " (daily budget used up)")
        self.assertEqual(self.total(), 2)
        self.assert_listed(Q(10), ("vpn",))
        self.assert_serving()


if __name__ == "__main__":
    tbltest.main()

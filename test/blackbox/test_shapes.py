"""Black-box: reports of every shape Criminal IP really answers with (issues 11 and 12),
through the real daemon and the fake server (test/fake_criminalip.py serves the
fixtures test/fixtures/shape_*.json for their addresses).

Each shape gives the right A records: ISO 8601 times in any order, numbers written as
text, ip_category, tags instead of issues, missing keys and nulls, a 4.5 MB report. A
report that says nothing about the address asked is `unknown`, never clean, and holds
no other lookup back. A 429 with Retry-After (seconds or an HTTP date) holds the calls
back as long as it says.
"""
import email.utils
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbltest  # noqa: E402
from test_lookup import LookupCase, P  # noqa: E402

# address -> categories (the fixtures' comments in fake_criminalip.py)
SHAPES = {
    40: ("openvpn443",),               # ISO times, oldest first, offsets
    41: ("openvpn443", "scanner"),     # "443", "200", inbound "5"
    42: ("hosting", "proxy"),          # ip_category; tor too old to count
    43: ("vpn", "hosting", "scanner"),  # tags instead of issues
    44: ("vpn", "openvpn443"),         # nulls, no port_status, odd vpn items
}


class Shapes(LookupCase):

    def start(self, **kw):
        # ip_category entries of the fixtures are from 2024: counted for ten years
        kw.setdefault("max_stale", "3650d")
        return super().start(**kw)

    def test_each_shape(self):
        self.start()
        for n, cats in sorted(SHAPES.items()):
            with self.subTest(ip=P(n)):
                self.assert_listed(P(n), cats)
                self.assertEqual(self.asked(P(n)), 1)

    def test_shapes_from_the_store(self):
        """The facts stored for each shape give the same verdict after a restart
        (nothing asked again)."""
        d = self.start()
        for n, cats in sorted(SHAPES.items()):
            self.assert_listed(P(n), cats)
        tmp = d.dir
        self.assertEqual(d.stop(), 0)
        self.d = None
        self.start(tmpdir=tmp)
        for n, cats in sorted(SHAPES.items()):
            self.assert_listed(P(n), cats)
            self.assertEqual(self.asked(P(n)), 1, "asked again after a restart")

    def test_large_report(self):
        """4.5 MB of ports and domains: read (the old cap was 4 MiB), a VPN."""
        self.start()
        self.assert_listed(P(47), ("vpn",))
        self.assertEqual(self.asked(P(47)), 1)

    def test_no_report(self):
        """{"status":200} and a report about another address: `unknown` (not the
        clean answer), not asked again soon, and other lookups go on."""
        self.start()
        self.assert_unknown(P(45), " ({\"status\":200})")
        self.assert_unknown(P(46), " (a report about 203.0.113.99)")
        self.assert_listed(P(12), ("hosting",))  # no backoff
        self.assert_unknown(P(45), " (not retried soon)")
        self.assertEqual((self.asked(P(45)), self.asked(P(46))), (1, 1))
        log = self.d.stderr()
        self.assertNotRegex(log, r"unreachable")
        self.assertRegex(log, r"no usable report for 203.0.113.45")

    def retry_after(self, value):
        """A 429 with Retry-After: value; no call for another address until then
        (well past the 1 s of the first backoff)."""
        self.start()
        self.assert_listed(P(12), ("hosting",))
        self.fake.mode("error", ips=[P(10)], times=1, http_status=429, status=429,
                       message="too many requests", retry_after=value)
        self.assert_unknown(P(10))
        self.fake_idle()
        time.sleep(1.6)  # the first backoff without Retry-After is 1 s
        self.assert_unknown(P(14), " (the service asked to wait)")
        self.assertEqual(self.asked(P(14)), 0, "a call before the Retry-After")
        self.assertRegex(self.d.stderr(), r"asks to wait 3[56]\d\ds")

    def test_retry_after_seconds(self):
        self.retry_after("3600")

    def test_retry_after_date(self):
        self.retry_after(email.utils.formatdate(time.time() + 3600, usegmt=True))


if __name__ == "__main__":
    tbltest.main()

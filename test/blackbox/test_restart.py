"""Black-box: verdicts across restarts, and their freshness (doc/configuration.md#signals, doc/dns.md#where-a-verdict-comes-from).

Verdicts looked up through the fake Criminal IP server survive a SIGTERM restart and a
kill -9 restart (the store commits its batches about a second apart) and are answered
afterwards with no API request; the sqlite file stays sound. A verdict older than
`fresh` is answered at once and refreshed behind the query; one older than `max-stale`
counts as absent.
"""
import os
import re
import signal
import socket
import sqlite3
import select
import sys
import time

import dns.flags
import dns.message
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import rev4, a_values, soa_ttl, wait_for, timed_query  # noqa: E402
from test_lookup import LookupCase, CODE, PROFILES, NEG_TTL, P  # noqa: E402

# The verdicts of a restart test: every profile, and clean addresses with large
# documents (fake_criminalip.py's noise).
NOISE = ["45.20.%d.%d" % (i // 200, 10 + i % 200) for i in range(48)]
STORED = {P(n): cats for n, cats in PROFILES.items()}
STORED.update({ip: () for ip in NOISE})


def query_all(port, ips, timeout=8.0):
    """Ask the A record of every IP at once; {ip: answer} of those answered."""
    socks = {}
    answers = {}
    try:
        for ip in ips:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            q = dns.message.make_query(rev4(ip), "A")
            q.flags &= ~dns.flags.RD
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            socks[s] = ip
        end = time.monotonic() + timeout
        while len(answers) < len(ips) and time.monotonic() < end:
            ready = select.select([s for s in socks if socks[s] not in answers], [], [],
                                  max(0.0, end - time.monotonic()))[0]
            for s in ready:
                answers[socks[s]] = dns.message.from_wire(s.recv(4096))
    finally:
        for s in socks:
            s.close()
    return answers


class Restart(LookupCase):
    def check_all(self, answers, what):
        bad = []
        for ip, cats in sorted(STORED.items()):
            r = answers.get(ip)
            if r is None:
                bad.append("%s: no answer" % ip)
            elif cats and (r.rcode(), a_values(r)) != (dns.rcode.NOERROR,
                                                        sorted(CODE[c] for c in cats)):
                bad.append("%s: want %s, got %s" % (ip, cats, self.describe(r)))
            elif not cats and (r.rcode(), soa_ttl(r)) != (dns.rcode.NXDOMAIN, NEG_TTL):
                bad.append("%s: want clean (NXDOMAIN, SOA TTL %d), got %s"
                           % (ip, NEG_TTL, self.describe(r)))
        self.assertEqual(bad, [], what)

    def populate(self):
        d = self.start(deadline="5s")
        self.check_all(query_all(d.port, list(STORED)), "first lookups")
        self.assertEqual(self.total(), len(STORED))
        return d

    def restart_and_check(self, tmp, how):
        self.fake.reset()
        t = time.monotonic()
        self.start(tmpdir=tmp, wait=False)
        soa = tbltest.wire_query(tbltest.ZONE, "SOA")
        self.assertTrue(wait_for(lambda: tbltest.exchange(self.d.port, soa, timeout=0.02),
                                 10.0, step=0.005), "not answering after the restart")
        ready = time.monotonic() - t
        self.d.wait_ready()
        loaded = re.findall(r"loaded (\d+) verdict\(s\) from .* in ([0-9.]+) s",
                            self.d.stderr())
        self.assertTrue(loaded, "no \"loaded N verdict(s)\" line:\n" + self.d.stderr())
        n, secs = int(loaded[-1][0]), float(loaded[-1][1])
        print("# restart after %s: loaded %d verdict(s) in %.3f s (log); answering %.3f s "
              "after start" % (how, n, secs, ready))
        self.assertEqual(n, len(STORED))
        self.check_all(query_all(self.d.port, list(STORED)), "after the restart")
        self.fake_idle()
        self.assertEqual(self.total(), 0, "API requests after the restart: %s"
                         % self.fake.count()["per_ip"])
        for ip, cats in list(STORED.items())[:3]:
            if cats:
                self.assert_listed(ip, cats)  # TXT as well
        self.assertEqual(self.total(), 0)

    def test_sigterm_restart(self):
        d = self.populate()
        tmp = d.dir
        self.assertEqual(d.stop(), 0, "exit status after SIGTERM")
        self.d = None
        self.restart_and_check(tmp, "SIGTERM")

    def test_kill9_restart(self):
        d = self.populate()
        tmp = d.dir
        time.sleep(1.6)  # the store commits at most about a second apart
        d.kill()
        self.assertEqual(d.proc.returncode, -signal.SIGKILL)
        self.d = None
        db = sqlite3.connect(d.db)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            self.assertEqual(db.execute("SELECT count(*) FROM verdicts").fetchone()[0],
                             len(STORED))
        finally:
            db.close()
        self.restart_and_check(tmp, "kill -9")


class Freshness(LookupCase):
    def age(self, ip, before_s):
        """Start a daemon, look ip up, and give the fake a new verdict for it."""
        self.start(fresh="2s", max_stale="5s", deadline="1s")
        self.assert_listed(ip, ("vpn",))
        self.assertEqual(self.asked(ip), 1)
        self.fake.set_doc(ip, fake_criminalip.doc(ip, ("is_tor",)))
        # verdict ages are whole seconds: sleeping n s makes it at least n s old
        time.sleep(before_s)

    def test_stale_answered_then_refreshed(self):
        ip = P(10)
        self.age(ip, 3.0)  # 3 or 4 s old: past fresh, before max-stale
        # a slow service: were the query to wait, it would get `unknown` after 1 s
        self.fake.mode("slow", delay_ms=1500)
        r, took = timed_query(self.d, rev4(ip))
        self.assertEqual(a_values(r), [CODE["vpn"]], "the stale verdict: %s" % self.describe(r))
        self.assertLess(took, 0.5, "the stale answer was not immediate")
        self.assertTrue(wait_for(lambda: self.asked(ip) == 2, 1.0),
                        "no background request for the stale verdict")
        r, took = timed_query(self.d, rev4(ip))
        self.assertEqual(a_values(r), [CODE["vpn"]], "still stale while refreshing")
        self.assertLess(took, 0.5)
        self.fake.mode("normal")
        self.fake_idle()
        self.assertTrue(wait_for(lambda: self.is_listed(ip, ("tor",)), 2.0),
                        "the refreshed verdict is not answered: %s"
                        % self.describe(self.answer(ip)))
        self.assert_listed(ip, ("tor",))
        self.assertEqual(self.asked(ip), 2, "one background request")

    def test_past_max_stale_is_absent(self):
        ip = P(21)
        self.age(ip, 5.2)  # at least 5 s old: past max-stale
        r, took = timed_query(self.d, rev4(ip))
        self.assertEqual(a_values(r), [CODE["tor"]],
                         "an expired verdict was answered instead of waiting for a "
                         "lookup: %s" % self.describe(r))
        self.assertEqual(self.asked(ip), 2)


if __name__ == "__main__":
    tbltest.main()

"""Black-box: the daemon against a failing Criminal IP (doc/criminalip.md#errors).

The service down, slow past `timeout`, 5xx storms, resets mid-body, malformed and
100 MB bodies, and every error message of doc/criminalip.md#errors, each hit by a storm of
queries for new IPs. Throughout, the daemon keeps answering cached verdicts, the static
list and the RFC 5782 test entry at once; the storm's IPs get the `unknown` answer
(never `clean`); calls to the service stay few (backoff, pauses); its memory (VmRSS)
stays bounded; and once the service works again, lookups resume by themselves (or
after SIGHUP for a bad key, as specified).
"""
import os
import signal
import sys
import time

import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, a_values, soa_ttl, wait_for,  # noqa: E402
                     intel_conf, rss_kb, udp_many, SLOW, VALGRIND)
from test_lookup import (LookupCase, CODE, ZONE_EXTRA, FILES, KEY, NEG_TTL,  # noqa: E402
                         UNKNOWN_TTL, LOCAL_IP, P)

# Verdicts looked up before the trouble starts; they must keep being answered.
CACHED = {P(10): ("vpn",), P(13): ("tor",), P(16): ("vpn", "hosting", "openvpn443")}
# Growth of the daemon's VmRSS allowed across one storm (generous: the real growth is
# a few hundred KiB; a leak of one 4 MiB body buffer per call would pass it in 16).
RSS_GROWTH_MAX_KB = (256 if VALGRIND else 64) * 1024
# A cached or static answer during a storm: no waiting on the service.
FAST_S = 0.25 * SLOW


Addresses = tbltest.FreshAddresses(45, 100)


class FaultCase(LookupCase):
    def start(self, zone_extra="", key=KEY, tmpdir=None, url=None, **intel):
        settings = dict(lookup_reserved="yes", deadline="1s", rate="1000/s",
                        rate_burst=1000, concurrency=4, timeout="5s")
        settings.update(intel)
        settings = {k: v for k, v in settings.items() if v is not None}
        conf = BASE_ZONE + ZONE_EXTRA + zone_extra + intel_conf(url or self.fake.url,
                                                                **settings)
        # In a sanitizer build, freed memory sits in ASan's quarantine (256 MB by
        # default) and would count as growth: keep it small so that VmRSS measures the
        # daemon. Builds without ASan ignore the variable.
        asan = os.environ.get("ASAN_OPTIONS", "")
        asan = (asan + ":" if asan else "") + "quarantine_size_mb=8"
        self.d = Daemon(conf, env={"THREATBL_API_KEY": key, "ASAN_OPTIONS": asan},
                        files=FILES, tmpdir=tmpdir)
        return self.d

    def tearDown(self):
        super().tearDown()
        # calls still sleeping in the fake (a slow mode) would end in the next test
        # and upset its counters
        wait_for(lambda: self.fake.count()["inflight"] == 0, 8 * SLOW, step=0.1)

    def prime(self):
        for ip, cats in CACHED.items():
            # the first query may meet a short deadline (slow under valgrind)
            wait_for(lambda: self.is_listed(ip, cats), 5 * SLOW, step=0.2)
            self.assert_listed(ip, cats)

    def rss(self):
        return rss_kb(self.d.proc.pid)

    def is_clean(self, ip):
        r = self.answer(ip)
        return r.rcode() == dns.rcode.NXDOMAIN and soa_ttl(r) == NEG_TTL

    def storm(self, ips, seconds=1.0, what="storm"):
        """Ask the A record of every new IP, spread over `seconds`, with the cached
        verdicts, the static entry and the test entry asked among them. Checks that
        everything is answered, the known names at once and correctly, the new IPs
        `unknown` (or clean, when the service answers). Returns {ip: answer}."""
        known = [(rev4(ip), "A") for ip in CACHED] + [(rev4(LOCAL_IP), "A"),
                                                       (rev4("127.0.0.2"), "A")]
        queries, where = [], []
        for i, ip in enumerate(ips):
            queries.append((rev4(ip), "A"))
            where.append(ip)
            if i % 10 == 0:
                queries.append(known[(i // 10) % len(known)])
                where.append(None)
        rate = len(queries) / (seconds * SLOW) if seconds > 0 else 0
        res = udp_many(self.d.port, queries, rate=rate, timeout=4.0 * SLOW)
        # UDP may lose a datagram on a busy machine, and a client asks again: so do we,
        # once, for what got no answer
        first = [i for i, (r, _) in enumerate(res) if r is None]
        if first:
            print("# %s: %d of %d queries without an answer at the first try, asked again"
                  % (what, len(first), len(queries)))
            again = udp_many(self.d.port, [queries[i] for i in first], rate=rate,
                             timeout=4.0 * SLOW)
            for i, a in zip(first, again):
                res[i] = a
        lost = [q[0] for q, (r, _) in zip(queries, res) if r is None]
        self.assertEqual(lost, [], "%s: queries without an answer" % what)
        slow, wrong = [], []
        want_known = {rev4(ip): sorted(CODE[c] for c in cats) for ip, cats in CACHED.items()}
        want_known[rev4(LOCAL_IP)] = ["127.0.0.9"]
        want_known[rev4("127.0.0.2")] = sorted(CODE.values())
        out = {}
        for q, ip, (r, took) in zip(queries, where, res):
            if ip is None:
                if took > FAST_S:
                    slow.append("%s %.3fs" % (q[0], took))
                if (r.rcode(), a_values(r)) != (dns.rcode.NOERROR, want_known[q[0]]):
                    wrong.append("%s: %s" % (q[0], self.describe(r)))
            else:
                out[ip] = r
                if r.rcode() != dns.rcode.NXDOMAIN or soa_ttl(r) not in (UNKNOWN_TTL,
                                                                        NEG_TTL):
                    wrong.append("%s: %s" % (ip, self.describe(r)))
        self.assertEqual(wrong, [], "%s: wrong answers" % what)
        self.assertEqual(slow, [], "%s: known names not answered at once" % what)
        self.assertIsNone(self.d.proc.poll(), "threatbld died:\n" + self.d.stderr())
        return out

    def assert_unknowns(self, answers, what):
        clean = [ip for ip, r in answers.items() if soa_ttl(r) != UNKNOWN_TTL]
        self.assertEqual(clean, [], "%s: answered clean, not unknown" % what)

    def assert_rss(self, before, what):
        after = self.rss()
        print("# %s: VmRSS %d KiB before, %d KiB after (%+d KiB)"
              % (what, before, after, after - before))
        self.assertLess(after - before, RSS_GROWTH_MAX_KB,
                        "%s: memory grew by %d KiB" % (what, after - before))

    def recovers(self, within, what):
        """A new IP gets its verdict within `within` seconds; returns how long it took."""
        t = time.monotonic()
        probe = iter(Addresses.take(1000))
        ok = wait_for(lambda: self.is_clean(next(probe)), within * SLOW, step=0.2)
        took = time.monotonic() - t
        self.assertTrue(ok, "%s: no lookup works %.0f s after the service came back:\n%s"
                        % (what, within, self.d.stderr()[-2000:]))
        print("# %s: lookups work again %.2f s after the service did" % (what, took))
        return took

    def calls(self):
        return self.fake.count()["total"]


class Down(FaultCase):
    def test_api_down_then_back(self):
        """The service's port closed (connection refused), then open again."""
        own = fake_criminalip.FakeCriminalIP(key=KEY).start()
        try:
            self.start(url=own.url)
            for ip, cats in CACHED.items():
                self.assert_listed(ip, cats)
            own.stop()
            rss0 = self.rss()
            t0 = time.monotonic()
            answers = self.storm(Addresses.take(600), 1.0, "service down")
            self.assert_unknowns(answers, "service down")
            self.assert_serving()
            self.assertRegex(self.d.stderr(), r"Criminal IP unreachable",
                             "the outage is not logged")
            self.assert_rss(rss0, "600 new IPs, service down")
            self.assertLess(time.monotonic() - t0, 6 * SLOW)
            own = fake_criminalip.FakeCriminalIP(key=KEY, port=own.port).start()
            self.recovers(10, "service down")
            self.assertGreater(own.total(), 0)
        finally:
            own.stop()


class Slow(FaultCase):
    def test_slow_past_timeout(self):
        """Every call takes longer than `timeout`: queries get `unknown` at the deadline,
        known names are answered at once while calls hang, then lookups resume."""
        self.start(timeout="1s", deadline="300ms")
        self.prime()
        self.fake.mode("slow", delay_ms=3000)
        rss0 = self.rss()
        answers = self.storm(Addresses.take(200), 1.5, "slow service")
        self.assert_unknowns(answers, "slow service")
        # at most concurrency calls hang at once, then the timeouts back off
        self.assertLessEqual(self.calls() - len(CACHED), 8,
                             "calls to a service that times out: %s" % self.fake.count())
        self.assert_rss(rss0, "200 new IPs, service slower than timeout")
        self.assertTrue(wait_for(lambda: "unreachable" in self.d.stderr(), 3 * SLOW),
                        "the timeouts are not logged:\n" + self.d.stderr())
        self.fake.mode("normal")
        self.recovers(8, "slow service")
        self.assert_serving()


class Storms(FaultCase):
    """A storm of new IPs while the service answers with one kind of trouble."""

    def trouble_storm(self, mode, n=300, seconds=1.0, recover_s=6, label=None, **kw):
        self.start()
        self.prime()
        base = self.calls()
        self.fake.mode(mode, **kw)
        mode = label or mode
        rss0 = self.rss()
        # one profile address among them: after recovery it must get its verdict,
        # so nothing was remembered from the trouble
        ips = Addresses.take(n - 1) + ["198.51.100.13"]
        answers = self.storm(ips, seconds, mode)
        self.assert_unknowns(answers, mode)
        during = self.calls() - base
        print("# %s: %d calls for %d new IPs" % (mode, during, n))
        # the first calls (concurrency 4) fail, then one call per backoff period
        # (1 s, 2 s, ...); allow some slack for calls in flight
        self.assertLessEqual(during, 12, "%s: the storm was not backed off" % mode)
        self.assertGreater(during, 0)
        self.assert_rss(rss0, "%d new IPs, %s" % (n, mode))
        self.assert_serving()
        self.fake.mode("normal")
        self.recovers(recover_s, mode)
        self.assertTrue(wait_for(lambda: self.is_listed("198.51.100.13", ("tor",)),
                                 6 * SLOW, step=0.3),
                        "an IP asked during the trouble is still without its verdict")

    def test_http_500_storm(self):
        self.trouble_storm("http500")

    def test_http_503_json_storm(self):
        self.trouble_storm("error", http_status=503, status=503, message="unavailable",
                           label="HTTP 503")

    def test_reset_mid_body_storm(self):
        self.trouble_storm("reset_mid_body")

    def test_dropped_connections_storm(self):
        self.trouble_storm("drop")

    def test_malformed_json_storm(self):
        self.trouble_storm("malformed")

    def test_status_500_in_body_storm(self):
        self.trouble_storm("error", http_status=200, status=500, message="internal error",
                           label="status 500 in the body")


class Paused(FaultCase):
    """"invalid api key" and "limit exceeded": calls stop, the cache keeps answering."""

    def pause_storm(self, mode):
        self.start()
        self.prime()
        base = self.calls()
        self.fake.mode(mode)
        rss0 = self.rss()
        answers = self.storm(Addresses.take(400), 1.0, mode)
        self.assert_unknowns(answers, mode)
        during = self.calls() - base
        self.assertGreater(during, 0)
        self.assertLessEqual(during, 4, "%s: calls went on after the pause (%d)"
                             % (mode, during))
        self.assert_rss(rss0, "400 new IPs, %s" % mode)
        self.assert_serving()
        self.fake.mode("normal")
        # still paused: a new IP gets `unknown` and no call
        self.assert_unknown(Addresses.take(1)[0], " (calls paused)")
        self.assertEqual(self.calls() - base, during)

    def test_invalid_api_key_storm_then_sighup(self):
        self.pause_storm("badkey")
        self.d.signal(signal.SIGHUP)
        self.assertTrue(self.wait_log(r"reloaded", 5 * SLOW), self.d.stderr())
        self.recovers(3, "invalid api key, after SIGHUP")

    def test_limit_exceeded_storm(self):
        # calls resume at 00:00 UTC: not waited for here
        self.pause_storm("limit")


class Refusals(FaultCase):
    def test_invalid_ip_address_storm(self):
        """Every IP "Invalid IP Address.": each asked once, remembered as unknown (not
        asked again), no backoff, memory bounded."""
        self.start(concurrency=16)
        self.prime()
        base = self.calls()
        self.fake.mode("error", http_status=200, status=400, message="Invalid IP Address.")
        ips = Addresses.take(500)
        rss0 = self.rss()
        answers = self.storm(ips, 1.0, "Invalid IP Address.")
        self.assert_unknowns(answers, "Invalid IP Address.")
        # the lookups go on past the queries' deadline
        wait_for(lambda: self.calls() - base >= len(ips), 15 * SLOW, step=0.2)
        self.fake_idle()
        first = self.calls() - base
        self.assertEqual(first, len(ips), "one call per IP: %d calls" % first)
        again = self.storm(ips[:100], 0.3, "Invalid IP Address., asked again")
        self.assert_unknowns(again, "Invalid IP Address., asked again")
        self.assertEqual(self.calls() - base, first, "an invalid IP was asked again soon")
        self.assert_rss(rss0, "500 invalid IPs")
        self.fake.mode("normal")
        self.recovers(2, "after invalid IPs")

    def test_concurrent_calls_refused_storm(self):
        """"unable to call api at the same time" for 30 new IPs: one call at a time,
        every IP ends with its verdict, known names answered at once meanwhile."""
        self.start(deadline="300ms")
        self.prime()
        self.fake.mode("concurrent", delay_ms=40)
        ips = Addresses.take(30)
        self.storm(ips, 0.3, "concurrent calls refused")
        self.assertTrue(wait_for(lambda: all(self.is_clean(ip) for ip in ips), 20 * SLOW,
                                 step=0.5),
                        "not every IP got its verdict: %s" % self.fake.count())
        c = self.fake.count()
        self.assertGreaterEqual(c["total"], len(ips) + len(CACHED))
        self.assert_serving()


class Memory(FaultCase):
    def test_5000_new_ips_failing_api(self):
        self.start()
        self.prime()
        self.fake.mode("http500")
        rss0 = self.rss()
        answers = self.storm(Addresses.take(5000), 2.0, "5000 IPs, HTTP 500")
        self.assert_unknowns(answers, "5000 IPs, HTTP 500")
        self.assert_rss(rss0, "5000 new IPs, HTTP 500")
        self.assertLessEqual(self.calls() - len(CACHED), 12)

    def test_5000_new_ips_queued_behind_slow_api(self):
        """A slow but working service: the lookups pile up in the queue (up to
        [intel] queue); memory stays bounded all the same."""
        self.start(concurrency=1, deadline="200ms", timeout="5s")
        self.prime()
        self.fake.mode("slow", delay_ms=2000)
        rss0 = self.rss()
        t = time.monotonic()
        answers = self.storm(Addresses.take(5000), 2.0, "5000 IPs, slow service")
        self.assert_unknowns(answers, "5000 IPs, slow service")
        self.assert_rss(rss0, "5000 new IPs queued behind a slow service")
        # one call at a time, 2 s each
        self.assertLessEqual(self.calls() - len(CACHED), 2 + (time.monotonic() - t) / 2)

    def test_huge_bodies(self):
        """20 bodies of 100 MB (half of them chunked), five rounds of four at once.
        Each is cut at the size cap and the IP gets `unknown`; memory does not keep
        what was read."""
        self.start(timeout="10s", deadline="2s")
        self.prime()
        rss0 = self.rss()
        huge = []
        for rnd in range(5):
            # after the last round's failure, wait for the backoff to end: a good
            # lookup makes the service reachable again (concurrency back to 4)
            if rnd:
                self.recovers(4, "huge bodies, round %d" % rnd)
            ips = Addresses.take(4)
            huge += ips
            self.fake.mode("huge", size_mb=100, chunked=bool(rnd % 2), ips=ips)
            res = udp_many(self.d.port, [(rev4(ip), "A") for ip in ips],
                           timeout=8 * SLOW)
            self.assertTrue(all(r is not None for r, _ in res), "round %d unanswered" % rnd)
            self.assert_unknowns(dict(zip(ips, [r for r, _ in res])), "100 MB body")
            self.assertTrue(wait_for(lambda: self.fake.count()["inflight"] == 0, 10 * SLOW))
        per_ip = self.fake.count()["per_ip"]
        self.assertEqual([per_ip.get(ip, 0) for ip in huge], [1] * len(huge),
                         "one call per IP with a 100 MB body")
        self.assert_serving()
        self.assert_rss(rss0, "20 bodies of 100 MB")
        # too large is each IP's problem, not the service's (issue 12)
        self.assertRegex(self.d.stderr(), r"no usable report for .*max-report-size")
        self.assertNotRegex(self.d.stderr(), r"Criminal IP unreachable")


if __name__ == "__main__":
    tbltest.main()

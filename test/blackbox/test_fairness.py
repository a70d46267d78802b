"""Black-box: lookups shared fairly between clients, lookup-from and allow-query
(doc/configuration.md#running-it-on-the-internet).

One client flooding the server with unique new addresses must not starve another's
lookups nor spend the whole budget; only lookup-from clients cause lookups; clients
outside allow-query are REFUSED over UDP and TCP. The sources are loopback addresses
(127.0.0.2, 127.0.0.3), counted per /32 here (client-prefix-v4 = 32).
"""
import os
import socket
import sys
import threading
import time
import unittest

import dns.flags
import dns.message
import dns.query
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import Daemon, BASE_ZONE, rev4, a_values, intel_conf, wait_for  # noqa: E402

KEY = "tbl-KEY-fairness-77aa"
VPN_IP = "198.51.100.10"   # the fake's VPN profile (by last octet), reserved range
FLOOD = "127.0.0.2"
OTHER = "127.0.0.3"


def server_conf(extra=""):
    return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = info\n"
            + extra + BASE_ZONE)


def ask(port, name, source, tcp=False, timeout=2.0):
    q = dns.message.make_query(name, "A")
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=timeout, source=source)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout, source=source)


class Fairness(unittest.TestCase):

    def test_flood_does_not_starve_another_client(self):
        """rate 5/s: 127.0.0.2 sends 40 unique new IPs a second for 15 s while
        127.0.0.3 asks every second for one VPN IP: it is listed within 5 s of its
        first query, and the flood caused at most its per-client share of calls."""
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        d = Daemon(server_conf() + intel_conf(
            fake.url, rate="5/s", lookup_reserved="yes", client_prefix_v4=32,
            per_client_rate="1/s", per_client_burst=5),
            env={"THREATBL_API_KEY": KEY})
        self.addCleanup(d.stop_and_cleanup)
        stop = threading.Event()
        fresh = tbltest.FreshAddresses(93, 20)
        sent = [0]

        def flood():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((FLOOD, 0))
            end = time.monotonic() + 15
            try:
                while not stop.is_set() and time.monotonic() < end:
                    t0 = time.monotonic()
                    for ip in fresh.take(40):
                        s.sendto(dns.message.make_query(rev4(ip), "A").to_wire(),
                                 ("127.0.0.1", d.port))
                        sent[0] += 1
                    # drain answers so the socket buffer never fills
                    s.setblocking(False)
                    try:
                        while True:
                            s.recv(4096)
                    except BlockingIOError:
                        pass
                    s.setblocking(True)
                    stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))
            finally:
                s.close()

        t = threading.Thread(target=flood)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        time.sleep(2)  # the flood has filled what it can
        first = time.monotonic()
        listed_after = None
        while time.monotonic() - first < 12:
            try:
                r = ask(d.port, rev4(VPN_IP), OTHER, timeout=2.0)
                if a_values(r) == ["127.0.0.2"]:
                    listed_after = time.monotonic() - first
                    break
            except dns.exception.Timeout:
                pass
            time.sleep(1)
        t.join()
        per_ip = fake.count()["per_ip"]
        flood_calls = sum(n for ip, n in per_ip.items() if ip.startswith("93."))
        print("# flood: %d queries, %d API calls; the other client's VPN IP listed after "
              "%s s" % (sent[0], flood_calls,
                        "%.1f" % listed_after if listed_after is not None else "never"))
        self.assertIsNotNone(listed_after, "the other client's IP was never listed:\n"
                             + d.stderr()[-3000:])
        self.assertLess(listed_after, 5.0)
        # its share: a burst of 5 and 1 a second over the ~15 s of the flood
        self.assertLessEqual(flood_calls, 5 + 17, per_ip)
        self.assertGreater(sent[0], 400)
        # the operator hears why the flood's queries got `unknown` (once a minute)
        self.assertEqual(d.stderr().count("asks for more new lookups than "
                                          "per-client-rate allows"), 1, d.stderr()[-2000:])

    def test_lookup_from(self):
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        d = Daemon(server_conf() + intel_conf(
            fake.url, lookup_reserved="yes", lookup_from="127.0.0.3/32 192.0.2.0/24",
            deadline="3s"), env={"THREATBL_API_KEY": KEY})
        self.addCleanup(d.stop_and_cleanup)
        r = ask(d.port, rev4(VPN_IP), FLOOD)
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN, "not in lookup-from: unknown")
        self.assertEqual(fake.total(), 0, "and no call")
        r = ask(d.port, rev4(VPN_IP), OTHER, timeout=5)
        self.assertEqual(a_values(r), ["127.0.0.2"], "in lookup-from: looked up")
        self.assertEqual(fake.total(), 1)
        r = ask(d.port, rev4(VPN_IP), FLOOD)
        self.assertEqual(a_values(r), ["127.0.0.2"], "the verdict is everyone's")
        self.assertEqual(fake.total(), 1)


class AllowQuery(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # 127.0.0.1: the harness's own readiness queries
        allow = "allow-query = 127.0.0.1 127.0.0.3/32\nallow-query = ::1\n"
        cls.d = Daemon(server_conf(allow) + "static = {dir}/l.list\n",
                       files={"l.list": "192.0.2.9\n"})

    @classmethod
    def tearDownClass(cls):
        cls.d.stop_and_cleanup()

    def test_refused_outside(self):
        for tcp in (False, True):
            r = ask(self.d.port, rev4("192.0.2.9"), FLOOD, tcp=tcp)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED, "tcp=%s" % tcp)
            self.assertEqual(len(r.answer), 0)
            self.assertFalse(r.flags & dns.flags.AA)
            self.assertEqual(str(r.question[0].name), rev4("192.0.2.9") + ".")

    def test_answered_inside(self):
        for tcp in (False, True):
            r = ask(self.d.port, rev4("192.0.2.9"), OTHER, tcp=tcp)
            self.assertEqual(a_values(r), ["127.0.0.2"], "tcp=%s" % tcp)

    def test_check_rejects_bad_prefix(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "t.conf")
            with open(conf, "w") as f:
                f.write("[server]\nallow-query = 10.0.0.0/33 any\n" + BASE_ZONE)
            p = subprocess.run([tbltest.THREATBLD, "-t", "-c", conf], capture_output=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"allow-query: '10.0.0.0/33' is not an address or a prefix",
                          p.stderr)


if __name__ == "__main__":
    tbltest.main()

"""Black-box: lookups on their own thread (server/lookup.c, server/relay.c).

The answering loops only hand lookups to the lookup thread and get outcomes back, so
with lookups in flight (the fake API slow) cached and static answers still come back
while the parked queries wait; and a reload that switches lookups off answers every
parked query, over UDP and TCP, with `threads` = 1 and 2, long before the deadline
would. No timing is asserted: "still come back" is checked as an order (the cached
answers arrive while the parked ones have not), and the reload case with a deadline
far beyond the queries' own timeouts."""
import os
import select
import signal
import socket
import sys
import time
import unittest

import dns.flags
import dns.message

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, a_values, intel_conf,  # noqa: E402
                     tcp_read_message, wait_for)

KEY = "tbl-KEY-lookup-thread-7d3e"
LOCAL_IP = "45.10.20.30"
LIST = "%s :127.0.0.9:local $\n" % LOCAL_IP
ZONE_EXTRA = ("vpn = 127.0.0.2 vpn $\nhosting = 127.0.0.4 hosting $\n"
              "static = {dir}/local.ip4set\n")
PARKED = 32


def cached_ip(i):
    return "198.51.%d.10" % i


def slow_ip(i):
    return "203.0.%d.77" % i


class Asker:
    """Queries sent from one UDP socket each (so that `threads` spreads them), answers
    collected as they come; arrival order kept."""

    def __init__(self, port):
        self.port = port
        self.socks = []
        self.names = []
        self.answers = {}
        self.order = []

    def send(self, names, tag):
        for name in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            q = dns.message.make_query(name, "A")
            q.flags &= ~dns.flags.RD
            s.sendto(q.to_wire(), ("127.0.0.1", self.port))
            self.socks.append(s)
            self.names.append((tag, name))

    def collect(self, want, timeout):
        """Read until the answers of every query tagged `want` are in (or timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            missing = [i for i, (tag, _) in enumerate(self.names)
                       if tag == want and i not in self.answers]
            if not missing:
                return True
            for s in select.select(self.socks, [], [], 0.05)[0]:
                i = self.socks.index(s)
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    continue
                if i not in self.answers:
                    self.answers[i] = dns.message.from_wire(data)
                    self.order.append(self.names[i][0])
        return False

    def tagged(self, tag):
        return [self.answers.get(i) for i, (t, _) in enumerate(self.names) if t == tag]

    def close(self):
        for s in self.socks:
            s.close()


class LookupThread(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        for i in range(PARKED):
            self.fake.set_doc(cached_ip(i), fake_criminalip.profile(cached_ip(i), 10))
            self.fake.set_doc(slow_ip(i), fake_criminalip.profile(slow_ip(i), 10))
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.kill()
            self.d.cleanup()

    def start(self, threads, deadline):
        conf = ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = debug\n"
                "threads = %d\n" % threads) + BASE_ZONE + ZONE_EXTRA + \
            intel_conf(self.fake.url, lookup_reserved="yes", deadline=deadline,
                       rate="1000/s", rate_burst=1000, concurrency=64, timeout="60s")
        self.d = Daemon(conf, env={"THREATBL_API_KEY": KEY},
                        files={"local.ip4set": LIST})
        return self.d

    def stop_clean(self):
        tbltest.assert_clean_stop(self, self.d, KEY)

    def cache_some(self, d):
        a = Asker(d.port)
        try:
            a.send([rev4(cached_ip(i)) for i in range(PARKED)], "warm")
            self.assertTrue(a.collect("warm", 10.0), "warming the cache")
            self.assertEqual([a_values(r) for r in a.tagged("warm")],
                             [["127.0.0.2"]] * PARKED)
        finally:
            a.close()

    def cached_while_lookups_wait(self, threads):
        d = self.start(threads, deadline="20s")
        self.cache_some(d)
        calls = self.fake.count()["total"]
        self.fake.mode("slow", delay_ms=4000)
        a = Asker(d.port)
        try:
            a.send([rev4(slow_ip(i)) for i in range(PARKED)], "slow")
            # the lookups are in flight before the cached questions are asked
            self.assertTrue(wait_for(lambda: self.fake.count()["total"] > calls, 5.0))
            a.send([rev4(cached_ip(i)) for i in range(PARKED)], "cached")
            a.send([rev4(LOCAL_IP)] * 4, "static")
            self.assertTrue(a.collect("cached", 10.0), "cached answers")
            self.assertTrue(a.collect("static", 10.0), "static answers")
            self.assertEqual([a_values(r) for r in a.tagged("cached")],
                             [["127.0.0.2"]] * PARKED)
            self.assertEqual([a_values(r) for r in a.tagged("static")],
                             [["127.0.0.9"]] * 4)
            self.assertNotIn("slow", a.order, "a lookup came back before the cached "
                             "answers: %r" % a.order)
            # and the lookups still end with their verdicts
            self.assertTrue(a.collect("slow", 15.0), "parked answers")
            self.assertEqual([a_values(r) for r in a.tagged("slow")],
                             [["127.0.0.2"]] * PARKED)
        finally:
            a.close()
        self.stop_clean()

    def test_cached_answers_while_lookups_wait(self):
        self.cached_while_lookups_wait(1)

    def test_cached_answers_while_lookups_wait_two_threads(self):
        self.cached_while_lookups_wait(2)

    def switch_off_answers_parked(self, threads):
        # the deadline and the API's delay are far beyond the queries' timeouts
        # below: only the reload can answer them in time
        d = self.start(threads, deadline="60s")
        self.fake.mode("slow", delay_ms=60000)
        a = Asker(d.port)
        tcp = socket.create_connection(("127.0.0.1", d.port), timeout=20.0)
        try:
            a.send([rev4(slow_ip(i)) for i in range(PARKED)], "slow")
            for i in range(8):
                q = dns.message.make_query(rev4(slow_ip(i)), "A")
                q.id = 100 + i
                wire = q.to_wire()
                tcp.sendall(len(wire).to_bytes(2, "big") + wire)
            self.assertTrue(wait_for(lambda: self.fake.count()["total"] >= 4, 5.0),
                            "lookups in flight")
            time.sleep(0.3)  # let every query park
            with open(d.conf) as f:
                text = f.read()
            with open(d.conf, "w") as f:
                f.write(text.replace("provider = criminalip", "provider = none"))
            d.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "lookups switched off" in d.stderr(), 10.0),
                            d.stderr()[-2000:])
            self.assertTrue(a.collect("slow", 10.0),
                            "UDP answers: %d of %d" % (len(a.answers), PARKED))
            ids = set()
            for _ in range(8):
                data = tcp_read_message(tcp)
                self.assertIsNotNone(data, "TCP answers: %d of 8" % len(ids))
                ids.add(dns.message.from_wire(data).id)
            self.assertEqual(ids, set(range(100, 108)))
        finally:
            a.close()
            tcp.close()
        # and the daemon goes on answering, without lookups
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP))), ["127.0.0.9"])
        self.stop_clean()

    def test_switch_off_answers_parked_udp_and_tcp(self):
        self.switch_off_answers_parked(1)

    def test_switch_off_answers_parked_udp_and_tcp_two_threads(self):
        self.switch_off_answers_parked(2)


if __name__ == "__main__":
    tbltest.main()

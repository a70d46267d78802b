"""Black-box: one client against everyone, a stop during a long reload, the user signals.

- One source address (127.0.0.2) holding 300 TCP connections: it keeps at most
  tcp-clients-per-ip of them (16 by default), and another source (127.0.0.3) is
  answered over TCP; with tcp-clients-per-ip raised over tcp-clients, the global cap
  closes the holder's idle connections to admit the other client. The counters are in
  the close-time line (doc/dns.md#tcp).
- SIGTERM while a reload reads a list that takes minutes (a sparse 8 GiB file of NUL
  bytes: no disk used, and the reader goes through it byte by byte): the daemon exits
  0 within 5 s and the verdict made just before is in the database
  (doc/configuration.md#signals).
- SIGUSR1 logs the counters of every loop and of the lookups; SIGUSR2 is ignored;
  neither ends the daemon.
"""
import os
import re
import resource
import signal
import socket
import sqlite3
import struct
import sys
import time
import unittest

import dns.flags
import dns.message

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, a_values, intel_conf, wait_for,  # noqa: E402
                     SLOW)

KEY = "tbl-KEY-hardening-tcp-8d2e"
VPN_IP = "203.0.113.10"  # a VPN profile of the fake (by last octet; reserved range)
HOLDER, OTHER = "127.0.0.2", "127.0.0.3"

# TCP states (linux/tcp_states.h) in struct tcp_info's first byte
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_CLOSE_WAIT = 1, 2, 8


def server_conf(extra=""):
    return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = debug\n"
            + extra + BASE_ZONE)


def query_wire():
    q = dns.message.make_query(rev4("127.0.0.2"), "A", use_edns=False)
    q.flags &= ~dns.flags.RD
    return q.to_wire()


def state(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def hold(port, n):
    """n non-blocking connections from HOLDER, sending nothing."""
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((HOLDER, 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        if i % 50 == 49:
            # in waves the listen backlog (128) takes (test_abuse.py says why)
            time.sleep(0.02 * SLOW)
    return socks


def settled_open(socks, at_most, timeout=10):
    """Wait until no connection is still connecting and at most at_most are open on
    the server's side too; the number open then (or at the timeout)."""
    def count():
        states = [state(s) for s in socks]
        return states.count(TCP_SYN_SENT), states.count(TCP_ESTABLISHED)

    wait_for(lambda: count()[0] == 0 and count()[1] <= at_most, timeout * SLOW, 0.1)
    # what the server closes it closes at once: give a late one a moment to show
    time.sleep(0.3 * SLOW)
    return count()[1]


def ask_from(port, source, timeout=3):
    """One query over a new TCP connection from source: the answer, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        q = query_wire()
        s.sendall(struct.pack("!H", len(q)) + q)
        a = tbltest.tcp_read_message(s)
        return None if a is None else dns.message.from_wire(a)
    except OSError:
        return None
    finally:
        s.close()


def close_counters(log):
    m = re.search(r"tcp 127\.0\.0\.1:\d+: \d+ connections, (\d+) refused, (\d+) refused per "
                  r"address, (\d+) evicted", log)
    return tuple(int(x) for x in m.groups()) if m else None


class OneClientAgainstEveryone(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 1024:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()

    def test_per_address_cap(self):
        d = Daemon(server_conf("tcp-idle = 30s\n"))  # tcp-clients 256, per-ip 16
        self.addCleanup(d.cleanup)
        self.socks = hold(d.port, 300)
        held = settled_open(self.socks, 16)
        print("# the holder keeps %d of 300 connections" % held)
        self.assertEqual(held, 16, "the holder's connections, tcp-clients-per-ip = 16")
        answers = [ask_from(d.port, OTHER) for _ in range(5)]
        self.assertTrue(all(a is not None and a_values(a) for a in answers),
                        "TCP queries from another address: %s\n%s" % (answers, d.stderr()))
        self.assertIn("tcp: %s has 16 connections open (tcp-clients-per-ip)" % HOLDER,
                      d.stderr())
        self.assertEqual(d.stop(), 0, d.stderr())
        counters = close_counters(d.stderr())
        self.assertIsNotNone(counters, d.stderr())
        self.assertEqual(counters, (0, 284, 0), "refused, refused per address, evicted")

    def test_global_cap_evicts_the_longest_idle(self):
        d = Daemon(server_conf("tcp-idle = 30s\ntcp-clients = 50\n"
                               "tcp-clients-per-ip = 1000\n"))
        self.addCleanup(d.cleanup)
        self.socks = hold(d.port, 300)
        held = settled_open(self.socks, 50)
        print("# the holder keeps %d of 300 connections" % held)
        self.assertEqual(held, 50, "tcp-clients = 50")
        # the connections opened last are the most recently active: they stay
        alive = [i for i, s in enumerate(self.socks) if state(s) == TCP_ESTABLISHED]
        self.assertEqual(alive, list(range(250, 300)))
        answers = [ask_from(d.port, OTHER) for _ in range(5)]
        self.assertTrue(all(a is not None and a_values(a) for a in answers),
                        "TCP queries from another address: %s\n%s" % (answers, d.stderr()))
        # the first closed the longest idle; the others took the room it left
        self.assertEqual(settled_open(self.socks, 49), 49, "one evicted for the client")
        self.assertEqual(state(self.socks[250]), TCP_CLOSE_WAIT,
                         "the longest idle was closed (CLOSE_WAIT)")
        self.assertEqual(d.stop(), 0, d.stderr())
        counters = close_counters(d.stderr())
        self.assertIsNotNone(counters, d.stderr())
        self.assertEqual(counters, (0, 0, 251), "refused, refused per address, evicted")

    def test_own_idle_connection_evicted(self):
        """At tcp-clients = 1 a client's second connection closes its first (idle):
        its address's count goes to 0 and back to 1 within one accept."""
        d = Daemon(server_conf("tcp-idle = 30s\ntcp-clients = 1\n"))
        self.addCleanup(d.cleanup)
        self.socks = hold(d.port, 1)
        self.assertEqual(settled_open(self.socks, 1), 1)
        for _ in range(3):
            a = ask_from(d.port, HOLDER)
            self.assertTrue(a is not None and a_values(a), "%s\n%s" % (a, d.stderr()))
        self.assertEqual(state(self.socks[0]), TCP_CLOSE_WAIT)
        self.assertEqual(d.stop(), 0, d.stderr())
        self.assertEqual(close_counters(d.stderr()), (0, 0, 1))

    def test_check_knows_the_key(self):
        d = Daemon(server_conf("tcp-clients-per-ip = 0\n"), wait=False)
        self.addCleanup(d.cleanup)
        self.assertNotEqual(d.proc.wait(10), 0)
        self.assertIn("tcp-clients-per-ip", d.stderr())


class StopDuringReload(unittest.TestCase):
    def test_sigterm_while_a_reload_reads_a_huge_list(self):
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        conf = (server_conf("max-list-size = 1024G\n") + "static = {dir}/local.list\n"
                + intel_conf(fake.url, deadline="3s", lookup_reserved="yes"))
        # ThreadSanitizer sleeps 1 s in exit (atexit_sleep_ms) by default: not ours
        tsan = (os.environ.get("TSAN_OPTIONS", "") + ":atexit_sleep_ms=0").lstrip(":")
        d = Daemon(conf, files={"local.list": "192.0.2.77\n"},
                   env={"THREATBL_API_KEY": KEY, "TSAN_OPTIONS": tsan})
        self.addCleanup(d.cleanup)
        self.assertEqual(a_values(d.query(rev4("192.0.2.77"))), ["127.0.0.2"])
        # sparse: NUL bytes that take no disk, and minutes to read
        with open(os.path.join(d.dir, "local.list"), "r+b") as f:
            f.truncate(8 << 30)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloading:" in d.stderr(), 5), d.stderr())
        self.assertEqual(a_values(d.query(rev4(VPN_IP), timeout=5)), ["127.0.0.2"])
        self.assertNotIn("reloaded", d.stderr())
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(5)
        except Exception:
            self.fail("not stopped 5 s after SIGTERM:\n" + d.stderr())
        took = time.monotonic() - t0
        print("# stopped %.2f s after SIGTERM" % took)
        self.assertEqual(rc, 0, d.stderr())
        self.assertLess(took, 5)
        self.assertIn("abandoning the reload still running", d.stderr())
        db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True, timeout=2)
        try:
            n = db.execute("SELECT count(*) FROM verdicts WHERE ip_text = ?",
                           (VPN_IP,)).fetchone()[0]
        finally:
            db.close()
        self.assertEqual(n, 1, "the verdict made before SIGTERM:\n" + d.stderr())

    def test_normal_stop_is_not_cut_short(self):
        d = Daemon(server_conf())
        self.addCleanup(d.cleanup)
        self.assertEqual(d.stop(), 0, d.stderr())
        self.assertNotIn("not stopped after", d.stderr())
        self.assertRegex(d.stderr(), r"stopped\s*$")


class UserSignals(unittest.TestCase):
    def test_sigusr1_logs_stats_and_sigusr2_is_ignored(self):
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        d = Daemon(server_conf("threads = 2\n")
                   + intel_conf(fake.url, deadline="3s", lookup_reserved="yes"),
                   env={"THREATBL_API_KEY": KEY})
        self.addCleanup(d.cleanup)
        self.assertEqual(a_values(d.query(rev4(VPN_IP), timeout=5)), ["127.0.0.2"])
        self.assertEqual(a_values(d.query(rev4(VPN_IP), tcp=True)), ["127.0.0.2"])
        d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: "stats: lookups:" in d.stderr(), 5), d.stderr())
        self.assertTrue(wait_for(lambda: re.search(r"stats: udp \S+ \(thread 2\)",
                                                   d.stderr()), 5), d.stderr())
        log = d.stderr()
        self.assertRegex(log, r"stats: \d+ verdict\(s\) in memory")
        self.assertRegex(log, r"stats: udp 127\.0\.0\.1:\d+: \d+ queries")
        self.assertRegex(log, r"stats: tcp 127\.0\.0\.1:\d+: 1 connections, .* 1 queries")
        self.assertRegex(log, r"stats: lookups: 1 calls")
        d.signal(signal.SIGUSR2)
        d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: d.stderr().count("stats: lookups:") == 2, 5),
                        d.stderr())
        self.assertIn("SIGUSR2 ignored", d.stderr())
        self.assertIsNone(d.proc.poll())
        self.assertEqual(a_values(d.query(rev4(VPN_IP))), ["127.0.0.2"])
        self.assertEqual(d.stop(), 0, d.stderr())


if __name__ == "__main__":
    tbltest.main()

"""Black-box: `threads = N` (doc/configuration.md#the-server-section, an addition; server/worker.c).

N loops share each UDP address through SO_REUSEPORT and the kernel picks the loop by
the client's address and port, so every test here asks from many client sockets: with
48 of them each of 3 loops gets some (the chance that one gets none is below 1e-8),
and the per-loop counters logged at stop prove it. What is checked on every loop:
static and cached answers, lookups handed to the lookup thread and back (one API call
per IP however many loops ask), refreshes of stale verdicts, reloads, a stop while
queries are parked, and TCP still served."""
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
from tbltest import (Daemon, BASE_ZONE, ZONE, rev4, a_values, intel_conf,  # noqa: E402
                     wait_for)

KEY = "tbl-KEY-threads-51c2"
THREADS = 3
SOCKETS = 48
LOCAL_IP = "45.10.20.30"
LIST = "%s :127.0.0.9:local $\n" % LOCAL_IP
ZONE_EXTRA = ("vpn = 127.0.0.2 vpn $\nhosting = 127.0.0.4 hosting $\n"
              "static = {dir}/local.ip4set\n")


def vpn_ip(i):
    """A fresh address the fake answers with its VPN profile (set in setUp)."""
    return "198.51.%d.10" % i


VPN_IPS = [vpn_ip(i) for i in range(SOCKETS)] + [vpn_ip(200)]


def ask_from_many(port, names, timeout=5.0, rdtype="A"):
    """Ask names[i] from client socket i (one socket per name, so the kernel spreads
    them over the loops); all at once. Returns the answers in order (None: none)."""
    socks, out = [], [None] * len(names)
    try:
        for i, name in enumerate(names):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            q = dns.message.make_query(name, rdtype)
            q.flags &= ~dns.flags.RD
            q.id = i
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            socks.append(s)
        end = time.monotonic() + timeout
        left = len(names)
        while left and time.monotonic() < end:
            for s in select.select(socks, [], [], 0.05)[0]:
                i = socks.index(s)
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    continue
                if out[i] is None:
                    out[i] = dns.message.from_wire(data)
                    left -= 1
    finally:
        for s in socks:
            s.close()
    return out


class ThreadsCase(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        for ip in VPN_IPS:
            self.fake.set_doc(ip, fake_criminalip.profile(ip, 10))
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.kill()
            self.d.cleanup()

    def start(self, threads=THREADS, **intel):
        settings = dict(lookup_reserved="yes", deadline="2s", rate="1000/s",
                        rate_burst=1000, concurrency=8, timeout="5s")
        settings.update(intel)
        conf = ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = debug\n"
                "threads = %d\n" % threads) + BASE_ZONE + ZONE_EXTRA + \
            intel_conf(self.fake.url, **settings)
        self.d = Daemon(conf, env={"THREATBL_API_KEY": KEY},
                        files={"local.ip4set": LIST})
        # Daemon waits for "ready", logged once every loop has bound its sockets (the
        # kernel spreads queries only over the bound ones) and every thread runs.
        return self.d

    def stop_and_loop_counts(self):
        """SIGTERM, exit 0 within 10 s, no sanitizer report, no key in the log; the
        queries each loop read, from its closing log line: {tag: count}."""
        log = tbltest.assert_clean_stop(self, self.d, KEY)
        counts = {}
        for m in re.finditer(r"udp 127\.0\.0\.1:\d+( \(thread \d+\))?: (\d+) queries", log):
            counts[m.group(1) or "main"] = int(m.group(2))
        return counts

    def assert_every_loop_used(self, counts):
        self.assertEqual(len(counts), THREADS, "closing lines: %r" % counts)
        for tag, n in counts.items():
            self.assertGreater(n, 0, "loop %s read no query: %r" % (tag, counts))

    def test_thread_names(self):
        """Each thread says what it is (doc/architecture.md#threads-and-loops), for
        top -H, perf and taskset."""
        d = self.start()
        task = "/proc/%d/task" % d.proc.pid
        names = []
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "comm")) as f:
                names.append(f.read().strip())
        want = ["threatbld", "tbl-lookup", "tbl-store", "tbl-querylog"] + [
            "tbl-loop-%d" % i for i in range(2, THREADS + 1)]   # the main loop is loop 1
        for name in want:
            self.assertEqual(names.count(name), 1, "%s in %r" % (name, names))
        self.assertGreaterEqual(names.count("tbl-pool"), 1, names)
        self.assertEqual(len(names), len(want) + names.count("tbl-pool"),
                         "no thread without its name: %r" % names)
        tbltest.assert_clean_stop(self, d, KEY)
        self.d = None

    def test_static_answers_on_every_loop(self):
        d = self.start()
        self.assertIn("answering UDP on %d loops" % THREADS, d.stderr())
        names = [rev4(LOCAL_IP) if i % 2 == 0 else rev4("45.10.20.%d" % (40 + i))
                 for i in range(SOCKETS)]
        # the listed ones are static; the others go to the fake (clean noise documents)
        answers = ask_from_many(d.port, names)
        for i, r in enumerate(answers):
            self.assertIsNotNone(r, "no answer to %s" % names[i])
            if i % 2 == 0:
                self.assertEqual(a_values(r), ["127.0.0.9"], names[i])
            else:
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN, names[i])
        # TCP is served by the main loop
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP), tcp=True)), ["127.0.0.9"])
        self.assert_every_loop_used(self.stop_and_loop_counts())

    def test_lookups_from_every_loop(self):
        d = self.start()
        ips = [vpn_ip(i) for i in range(SOCKETS)]
        answers = ask_from_many(d.port, [rev4(ip) for ip in ips])
        for ip, r in zip(ips, answers):
            self.assertIsNotNone(r, "no answer for %s" % ip)
            self.assertEqual(a_values(r), ["127.0.0.2"], ip)
        per_ip = self.fake.count()["per_ip"]
        for ip in ips:
            self.assertEqual(per_ip.get(ip), 1, "API calls for %s" % ip)
        # cached now: answered again from every loop with no new call
        before = self.fake.count()["total"]
        answers = ask_from_many(d.port, [rev4(ip) for ip in ips])
        self.assertEqual([a_values(r) for r in answers], [["127.0.0.2"]] * len(ips))
        self.assertEqual(self.fake.count()["total"], before)
        self.assert_every_loop_used(self.stop_and_loop_counts())

    def test_one_call_when_every_loop_asks_at_once(self):
        d = self.start()
        self.fake.mode("slow", delay_ms=400)
        ip = vpn_ip(200)
        answers = ask_from_many(d.port, [rev4(ip)] * SOCKETS)
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.2"]] * SOCKETS)
        self.assertEqual(self.fake.count()["per_ip"].get(ip), 1)
        self.assert_every_loop_used(self.stop_and_loop_counts())

    def test_stale_refreshed_from_every_loop(self):
        d = self.start(fresh="1s", max_stale="1h")
        ips = [vpn_ip(i) for i in range(SOCKETS)]
        answers = ask_from_many(d.port, [rev4(ip) for ip in ips])
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.2"]] * len(ips))
        time.sleep(2.1)
        # stale: answered at once from memory, and each looked up again once
        answers = ask_from_many(d.port, [rev4(ip) for ip in ips])
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.2"]] * len(ips))
        self.assertTrue(wait_for(lambda: all(
            self.fake.count()["per_ip"].get(ip) == 2 for ip in ips), 5.0),
            "refreshes: %r" % {ip: self.fake.count()["per_ip"].get(ip) for ip in ips})
        self.assert_every_loop_used(self.stop_and_loop_counts())

    def test_reload_reaches_every_loop(self):
        d = self.start()
        with open(os.path.join(d.dir, "local.ip4set"), "w") as f:
            f.write("45.10.20.31 :127.0.0.9:local $\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 5.0))
        answers = ask_from_many(d.port, [rev4("45.10.20.31")] * SOCKETS)
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.9"]] * SOCKETS)
        self.assert_every_loop_used(self.stop_and_loop_counts())

    def test_threads_change_waits_for_restart(self):
        d = self.start()
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace("threads = %d\n" % THREADS, "threads = 2\n"))
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 5.0))
        self.assertIn("threads changed from %d to 2: restart threatbld" % THREADS, d.stderr())
        answers = ask_from_many(d.port, [rev4(LOCAL_IP)] * SOCKETS)
        self.assertEqual([a_values(r) if r else None for r in answers],
                         [["127.0.0.9"]] * SOCKETS)
        self.assert_every_loop_used(self.stop_and_loop_counts())

    def test_stop_with_queries_parked_on_every_loop(self):
        d = self.start(deadline="10s")
        self.fake.mode("slow", delay_ms=3000)
        socks = []
        for i in range(SOCKETS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            q = dns.message.make_query(rev4(vpn_ip(i)), "A")
            s.sendto(q.to_wire(), ("127.0.0.1", d.port))
            socks.append(s)
        self.assertTrue(wait_for(lambda: self.fake.count()["inflight"] > 0, 3.0))
        t = time.monotonic()
        counts = self.stop_and_loop_counts()
        self.assertLess(time.monotonic() - t, 5.0, "stopping waited for the API")
        for s in socks:
            s.close()
        self.assert_every_loop_used(counts)

    def test_one_thread_has_no_workers(self):
        d = self.start(threads=1)
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP))), ["127.0.0.9"])
        self.assertNotIn("loops", d.stderr())
        self.assertEqual(list(self.stop_and_loop_counts()), ["main"])


if __name__ == "__main__":
    sys.exit(tbltest.main())

"""Black-box: crash safety of the verdict store (store.c) and a full disk.

- kill -9 at a random moment of a burst of new verdicts, five times over one database:
  after each kill the file passes PRAGMA integrity_check, and a daemon restarted with
  the service down still answers every verdict that was answered more than 2 s before
  the kill (the store commits its batches well under a second apart).
- SIGTERM during a burst: every verdict answered is in the database afterwards.
- A full disk (a 600 KiB tmpfs): the failed write is logged clearly, the verdicts are
  still answered from memory, and they reach the database once space returns.
- A database on a read-only file system: start-up fails with one clear line.
"""
import os
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import dns.flags
import dns.message
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbltest  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, soa_ttl, wait_for, intel_conf,  # noqa: E402
                     free_port, udp_many, SLOW, VALGRIND)

KEY = "tbl-crash-KEY-5d1c2b"
NEG_TTL = 120      # BASE_ZONE negative-ttl: a clean verdict
UNKNOWN_TTL = 30   # BASE_ZONE unknown-ttl: no verdict
# A verdict answered this long before a kill -9 must have been committed.
COMMITTED_AFTER_S = 2.0
# Under valgrind a lookup (a 100 KB document to parse) takes about a second: slower
# bursts, fewer rounds.
ROUNDS, RATE, ENOUGH = (2, 10, 5) if VALGRIND else (5, 150, 20)


Addresses = tbltest.FreshAddresses(46, 10)


def verdict_of(r):
    """'clean' (a stored or fresh verdict), 'unknown', or a description."""
    if r is None:
        return "no answer"
    if r.rcode() == dns.rcode.NXDOMAIN and soa_ttl(r) == NEG_TTL:
        return "clean"
    if r.rcode() == dns.rcode.NXDOMAIN and soa_ttl(r) == UNKNOWN_TTL:
        return "unknown"
    return "%s soa-ttl %s" % (dns.rcode.to_text(r.rcode()), soa_ttl(r))


def db_rows(path):
    """{ip_text: checked} of the stored verdicts, read-only (the daemon may be running)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT ip_text, checked FROM verdicts").fetchall())
    finally:
        db.close()


def integrity(path):
    db = sqlite3.connect(path, timeout=5)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def burst(port, ips, rate, stop_at):
    """Ask new IPs at `rate` per second until the monotonic time stop_at (or all are
    asked); {ip: monotonic time its real verdict was answered}."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setblocking(False)
    answered = {}
    start = time.monotonic()
    n = 0
    try:
        while time.monotonic() < stop_at:
            due = min(len(ips), int((time.monotonic() - start) * rate) + 1)
            while n < due:
                q = dns.message.make_query(rev4(ips[n]), "A")
                q.flags &= ~dns.flags.RD
                q.id = n
                s.sendto(q.to_wire(), ("127.0.0.1", port))
                n += 1
            left = stop_at - time.monotonic()
            if left <= 0:
                break
            if select.select([s], [], [], min(left, 0.01))[0]:
                while True:
                    try:
                        data = s.recv(4096)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    r = dns.message.from_wire(data)
                    if verdict_of(r) == "clean" and r.id < n:
                        answered.setdefault(ips[r.id], time.monotonic())
    finally:
        s.close()
    return answered, n


class CrashCase(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="threatbl-crash-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.kill()
        for where in getattr(self, "mounts", []):
            subprocess.run(["umount", where], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def conf(self, url, database=None, **intel):
        settings = dict(lookup_reserved="yes", deadline="%ds" % (3 * SLOW), rate="1000/s",
                        rate_burst=1000, concurrency=8, timeout="5s")
        settings.update(intel)
        head = ""
        if database:
            head = ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = %s\nlog-level = debug\n"
                    % database)
        return head + BASE_ZONE + intel_conf(url, **settings)

    def start(self, url=None, database=None, **kw):
        d = Daemon(self.conf(url or self.fake.url, database), tmpdir=self.tmp,
                   env={"THREATBL_API_KEY": KEY}, **kw)
        self.daemons.append(d)
        return d

    def dead_url(self):
        return "http://127.0.0.1:%d" % free_port()

    def loaded(self, d):
        found = re.findall(r"loaded (\d+) verdict\(s\)", d.stderr())
        self.assertTrue(found, "no \"loaded N verdict(s)\" line:\n" + d.stderr())
        return int(found[-1])

    def ask_all(self, d, ips):
        """{ip: verdict_of(answer)}, asked at a pace the default socket buffers take;
        what UDP lost is asked again, twice at most, like a resolver would."""
        res = [(None, None)] * len(ips)
        todo = list(range(len(ips)))
        for _ in range(3):
            got = udp_many(d.port, [(rev4(ips[i]), "A") for i in todo], rate=2000 / SLOW,
                           timeout=3 * SLOW)
            for i, a in zip(todo, got):
                res[i] = a
            todo = [i for i in todo if res[i][0] is None]
            if not todo:
                break
        return {ip: verdict_of(r) for ip, (r, _) in zip(ips, res)}


class Kill9(CrashCase):
    def test_kill9_during_bursts(self):
        rng = random.Random()
        seed = rng.randrange(1 << 30)
        rng.seed(seed)
        print("# seed %d" % seed)
        must = {}      # every IP that must survive, with the round it was answered in
        db = os.path.join(self.tmp, "verdicts.sqlite")
        for rnd in range(ROUNDS):
            d = self.start()
            before = self.loaded(d)
            ips = Addresses.take(2000)
            t0 = time.monotonic()
            kill_at = t0 + rng.uniform(2.5, 4.5) * SLOW
            answered, sent = burst(d.port, ips, RATE, kill_at)
            d.kill()
            killed = time.monotonic()
            self.assertEqual(d.proc.returncode, -signal.SIGKILL)
            old = [ip for ip, t in answered.items() if t <= killed - COMMITTED_AFTER_S]
            print("# round %d: killed %.2f s into the burst; %d asked, %d answered, "
                  "%d of them more than %.0f s before the kill"
                  % (rnd, killed - t0, sent, len(answered), len(old), COMMITTED_AFTER_S))
            self.assertGreater(len(old), ENOUGH,
                               "too few verdicts before the kill: test is void")
            for ip in old:
                must[ip] = rnd
            self.assertEqual(integrity(db), [("ok",)], "round %d" % rnd)
            rows = db_rows(db)
            missing = sorted(ip for ip in must if ip not in rows)
            self.assertEqual(missing, [], "round %d: committed verdicts missing from the "
                             "database (round answered: %s)"
                             % (rnd, [must[ip] for ip in missing][:20]))
            self.assertGreaterEqual(len(rows), before)

            # the service down: only the database can answer
            d = self.start(url=self.dead_url())
            self.assertGreaterEqual(self.loaded(d), len(must))
            got = self.ask_all(d, sorted(must))
            bad = {ip: v for ip, v in got.items() if v != "clean"}
            self.assertEqual(bad, {}, "round %d: verdicts lost after the restart" % rnd)
            # and the service is really down: a new IP is unknown
            probe = Addresses.take(1)
            self.assertEqual(self.ask_all(d, probe), {probe[0]: "unknown"})
            self.assertEqual(d.stop(), 0)
            self.assertEqual(integrity(db), [("ok",)])


class Sigterm(CrashCase):
    def test_sigterm_during_burst_writes_everything(self):
        d = self.start()
        ips = Addresses.take(1000)
        answered, sent = burst(d.port, ips, RATE * 4 / 3, time.monotonic() + 2.0 * SLOW)
        self.assertGreater(len(answered), ENOUGH * 2)
        self.assertEqual(d.stop(), 0)
        db = os.path.join(self.tmp, "verdicts.sqlite")
        self.assertEqual(integrity(db), [("ok",)])
        rows = db_rows(db)
        missing = sorted(set(answered) - set(rows))
        print("# SIGTERM during a burst: %d asked, %d answered, %d rows"
              % (sent, len(answered), len(rows)))
        self.assertEqual(missing, [], "verdicts answered but not written at SIGTERM")


class Disk(CrashCase):
    def mount(self, size="600k", options=""):
        where = os.path.join(self.tmp, "disk")
        os.mkdir(where)
        opts = "size=%s%s" % (size, options)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", where],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.fail("cannot mount a tmpfs (needed for this test): %s" % r.stderr.strip())
        self.mounts = getattr(self, "mounts", []) + [where]  # unmounted in tearDown
        return where

    def fill(self, where):
        """Fill the file system; returns the filler's path."""
        path = os.path.join(where, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        if os.write(fd, b"\0" * size) < size:
                            break
                    except OSError:
                        break
        finally:
            os.close(fd)
        return path

    def test_full_disk(self):
        where = self.mount()
        db = os.path.join(where, "verdicts.sqlite")
        d = self.start(database=db)
        first = Addresses.take(20)
        self.assertEqual(set(self.ask_all(d, first).values()), {"clean"})
        self.assertTrue(wait_for(lambda: set(first) <= set(db_rows(db)), 5 * SLOW),
                        "the first verdicts were never written")
        filler = self.fill(where)
        st = os.statvfs(where)
        print("# tmpfs filled: %d bytes free" % (st.f_bavail * st.f_frsize))
        late = Addresses.take(200)
        self.assertEqual(set(self.ask_all(d, late).values()), {"clean"})
        self.assertTrue(wait_for(lambda: re.search(r"(?i)database .*(full|space)",
                                                   d.stderr()), 5 * SLOW),
                        "no clear error for the full disk:\n" + d.stderr()[-3000:])
        line = re.search(r".*(?i:database .*(full|space)).*", d.stderr()).group(0)
        print("# logged: %s" % line)
        self.assertIn(db, line, "the error does not name the database")
        # answered from memory, not asked again; nothing written
        calls = self.fake.count()["total"]
        self.assertEqual(set(self.ask_all(d, late).values()), {"clean"})
        self.assertEqual(self.fake.count()["total"], calls)
        self.assertFalse(set(late) & set(db_rows(db)), "rows written on a full disk?")
        self.assertIsNone(d.proc.poll())
        # space returns: the queued verdicts are written within the retry backoff
        t = time.monotonic()
        os.unlink(filler)
        self.assertTrue(wait_for(lambda: set(late) <= set(db_rows(db)), 10 * SLOW, 0.2),
                        "the verdicts were not written once space returned:\n"
                        + d.stderr()[-2000:])
        print("# written %.1f s after space returned" % (time.monotonic() - t))
        self.assertRegex(d.stderr(), r"(?i)writing again")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(integrity(db), [("ok",)])

    def test_read_only_database_refused_at_start(self):
        where = self.mount()
        db = os.path.join(where, "verdicts.sqlite")
        d = self.start(database=db)
        self.assertEqual(set(self.ask_all(d, Addresses.take(5)).values()), {"clean"})
        self.assertEqual(d.stop(), 0)
        r = subprocess.run(["mount", "-o", "remount,ro", where], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = self.start(database=db, wait=False)
        try:
            d.proc.wait(10 * SLOW)
        except subprocess.TimeoutExpired:
            self.fail("threatbld started on a read-only database:\n" + d.stderr())
        self.assertNotEqual(d.proc.returncode, 0)
        errors = [x for x in d.stderr().splitlines() if db in x]
        print("# logged: %s" % (errors[-1] if errors else None))
        self.assertTrue(errors, "no line names the database:\n" + d.stderr())
        self.assertRegex(errors[-1], r"(?i)read-only|readonly|writ")


if __name__ == "__main__":
    tbltest.main()

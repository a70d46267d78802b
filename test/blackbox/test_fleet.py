"""Black-box: several threatbld nodes on one PostgreSQL (doc/fleet.md).

Three nodes share a real PostgreSQL 15 (test/pgtest.py: initdb in a temporary
directory, removed at the end) and the fake Criminal IP API: the same 200 new IPs asked
of all three at once cost exactly 200 calls; a verdict made by one node is answered by
a node that makes no lookups of its own within a second; a node killed with -9 while it
holds claims leaves them to another node after the lease; PostgreSQL restarted during a
burst loses no query and no verdict; the daily budget is the fleet's, across restarts;
`threatbl db copy` carries everything sqlite -> PostgreSQL -> sqlite. The password is
read from database-password-file and never logged. Skipped only where PostgreSQL is not
installed.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import dns.flags
import dns.message
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_providers  # noqa: E402
import pgtest  # noqa: E402
from tbltest import (rev4, soa_ttl, wait_for, intel_conf, FreshAddresses,  # noqa: E402
                     BASE_ZONE, a_values)

NEG_TTL = 120      # BASE_ZONE: a clean verdict
UNKNOWN_TTL = 30   # no verdict (yet)
ADDR = FreshAddresses(51, 0)


def query_all(port, ips, timeout=8.0):
    """The A question of every IP at once over UDP; {ip: answer} of those answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    ids = {}
    for i, ip in enumerate(ips):
        q = dns.message.make_query(rev4(ip), "A")
        q.id = i
        q.flags &= ~dns.flags.RD
        ids[i] = ip
        s.sendto(q.to_wire(), ("127.0.0.1", port))
    answers = {}
    end = time.monotonic() + timeout
    while len(answers) < len(ips) and time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data = s.recv(65535)
        except socket.timeout:
            break
        r = dns.message.from_wire(data, ignore_trailing=True)
        answers[ids[r.id]] = r
    s.close()
    return answers


def clean(r):
    return r is not None and r.rcode() == dns.rcode.NXDOMAIN and soa_ttl(r) == NEG_TTL


def node_conf(pg, intel, db="threatbl"):
    return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = %s\ncontrol = {control}\n"
            "database-password-file = {dir}/db-password\nlog-level = debug\n"
            % pg.uri(password=False, db=db)) + BASE_ZONE + intel


@unittest.skipUnless(pgtest.bindir(), pgtest.SKIP_REASON)
class FleetCase(tbltest.FakeAPICase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = pgtest.Postgres().start()
        cls.nodes = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.nodes:
            d.cleanup()
        cls.pg.cleanup()
        super().tearDownClass()

    def tearDown(self):
        # A failed test's nodes would keep their heartbeats and claims: the next
        # test's shares of the budget would count them.
        for d in list(self.nodes):
            d.cleanup()
            self.nodes.remove(d)
        super().tearDown()

    def node(self, wait=True, db="threatbl", extra="", env=None, **settings):
        settings.setdefault("deadline", "3s")
        settings.setdefault("timeout", "2s")
        settings.setdefault("concurrency", 16)
        settings.setdefault("rate", "1000/s")
        settings.setdefault("rate_burst", 1000)
        intel = intel_conf(self.fake.url, **settings)
        if "providers =" in extra:   # the list replaces the one-provider shorthand
            intel = intel.replace("provider = criminalip\n", "")
        d = tbltest.Daemon(node_conf(self.pg, intel + extra, db),
                           env=dict({"THREATBL_API_KEY": self.KEY}, **(env or {})),
                           files={"db-password": self.pg.password + "\n"}, wait=wait)
        self.nodes.append(d)
        return d

    def stop_node(self, d):
        rc = d.stop()
        log = d.stderr()
        self.assertEqual(rc, 0, log[-3000:])
        self.assertNotIn(self.pg.password, log, "the password is never logged")
        self.assertNotIn(self.KEY, log)
        d.cleanup()
        self.nodes.remove(d)
        return log

    def test_1_three_nodes_one_call_per_ip(self):
        # A claim holds for timeout + 3 s, until its verdict is committed: under a
        # sanitizer on a loaded machine the 200 lookups and their writes can take
        # longer than the 5 s of the default timeout here (the fake answers at once).
        a, b, c = (self.node(timeout="10s") for _ in range(3))
        self.assertIn("postgresql://threatbl@127.0.0.1:%d/threatbl" % self.pg.port,
                      a.stderr())
        ips = ADDR.take(200)
        results = {}

        def ask(d):
            results[d.port] = query_all(d.port, ips, timeout=10)

        threads = [threading.Thread(target=ask, args=(d,)) for d in (a, b, c)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for d in (a, b, c):
            self.assertEqual(len(results[d.port]), 200, "every query answered")
        self.assertEqual(self.fake.total(), 200, "one API call per IP across the fleet")
        # Every node answers every IP from memory now, with no call.
        for d in (a, b, c):
            got = wait_for(lambda: sum(clean(r) for r in query_all(d.port, ips).values())
                           == 200, 5)
            self.assertTrue(got, "node %d answers all 200 verdicts" % d.port)
        self.assertEqual(self.fake.total(), 200)
        stored = int(self.pg.psql("SELECT count(*) FROM verdicts WHERE ip_text IN (%s)"
                                  % ",".join("'%s'" % ip for ip in ips)))
        self.assertEqual(stored, 200)
        for d in (a, b, c):
            self.stop_node(d)
        # A node starting later loads them (and makes no lookups of its own here).
        d = self.node(lookup_from="192.0.2.1/32")
        self.assertEqual(sum(clean(r) for r in query_all(d.port, ips).values()), 200,
                         "a new node answers all 200 from what it loaded")
        self.assertRegex(d.stderr(), r"loaded (\d{3,}) verdict\(s\) from postgresql://")
        self.stop_node(d)
        self.assertEqual(self.fake.total(), 200)

    def test_2_verdict_reaches_other_nodes_within_a_second(self):
        a = self.node()
        # These two make no lookups of their own (lookup-from admits no querier here):
        # what they answer comes from the notifications.
        b = self.node(lookup_from="192.0.2.1/32")
        c = self.node(lookup_from="192.0.2.1/32")
        for ip in ADDR.take(5):
            r = b.query(rev4(ip))
            self.assertEqual(soa_ttl(r), UNKNOWN_TTL, "B has no verdict of its own")
            self.assertTrue(clean(a.query(rev4(ip), timeout=5)), "A looks it up")
            for d in (b, c):
                self.assertTrue(wait_for(lambda: clean(d.query(rev4(ip))), 1.0, step=0.02),
                                "node %d answers it within 1 s" % d.port)
        self.assertEqual(self.fake.total(), 5)
        for d in (a, b, c):
            self.stop_node(d)

    def test_3_killed_node_claims_taken_over(self):
        a = self.node(timeout="1s", deadline="500ms")
        b = self.node(timeout="1s", deadline="500ms")
        ips = ADDR.take(10)
        # A's calls hang: A holds the claims when it is killed.
        self.fake.mode("slow", delay_ms=30000, ips=ips)
        query_all(a.port, ips, timeout=1.5)
        self.assertTrue(wait_for(lambda: int(self.pg.psql(
            "SELECT count(*) FROM claims")) >= 10, 5), "A holds the claims")
        answers = query_all(b.port, ips, timeout=1.5)
        self.assertTrue(all(soa_ttl(r) == UNKNOWN_TTL for r in answers.values()),
                        "B waits for A rather than calling")
        calls = self.fake.total()
        a.proc.send_signal(signal.SIGKILL)
        a.kill()
        self.fake.mode("normal")
        # The lease (timeout + 3 s) runs out; B claims them again and calls.
        self.assertTrue(wait_for(lambda: sum(clean(r) for r in
                                             query_all(b.port, ips, 1).values()) == 10,
                                 15, step=0.5), "B completes A's lookups")
        self.assertEqual(self.fake.total() - calls, 10, "one call per IP by B")
        self.nodes.remove(a)
        a.cleanup()
        self.stop_node(b)

    def test_4_postgres_restart_during_burst(self):
        a = self.node()
        b = self.node(lookup_from="192.0.2.1/32")
        ips = ADDR.take(300)
        answers = {}

        def burst():
            answers.update(query_all(a.port, ips, timeout=15))

        t = threading.Thread(target=burst)
        t.start()
        time.sleep(0.2)
        self.pg.restart()
        t.join()
        self.assertEqual(len(answers), 300, "every query answered")
        # A looked them all up (locally while PostgreSQL was away): all in memory.
        self.assertTrue(wait_for(lambda: sum(clean(r) for r in
                                             query_all(a.port, ips, 2).values()) == 300,
                                 10, step=0.5), "A answers all 300")
        # The writes were flushed after the reconnection; B caught up by change number.
        self.assertTrue(wait_for(lambda: int(self.pg.psql(
            "SELECT count(*) FROM verdicts WHERE ip_text IN (%s)"
            % ",".join("'%s'" % ip for ip in ips))) == 300, 40, step=0.5),
            "no verdict lost")
        self.assertTrue(wait_for(lambda: sum(clean(r) for r in
                                             query_all(b.port, ips, 2).values()) == 300,
                                 15, step=0.5), "B has them all")
        log = self.stop_node(a)
        self.assertNotRegex(log, r"verdicts lost|not written")
        self.assertIn("writing again", log, "the writes were retried and flushed")
        self.stop_node(b)

    def test_5_shared_daily_budget(self):
        self.pg.psql("DELETE FROM budgets")
        a = self.node(daily_budget=30)
        b = self.node(daily_budget=30)
        query_all(a.port, ADDR.take(20), timeout=5)
        query_all(b.port, ADDR.take(20), timeout=5)
        self.assertEqual(self.fake.total(), 30, "30 calls for the fleet, not 30 each")
        self.stop_node(a)
        self.stop_node(b)
        # Restarted, they still know the day's count.
        a = self.node(daily_budget=30)
        query_all(a.port, ADDR.take(5), timeout=5)
        self.assertEqual(self.fake.total(), 30)
        self.assertEqual(self.pg.psql("SELECT provider || '=' || calls FROM budgets"),
                         "criminalip=30")
        self.stop_node(a)

    def test_6_db_copy_round_trip(self):
        d = tbltest.Daemon(BASE_ZONE + intel_conf(self.fake.url),
                           env={"THREATBL_API_KEY": self.KEY})
        try:
            ips = ADDR.take(20)
            query_all(d.port, ips, timeout=5)
            self.assertTrue(wait_for(lambda: sum(clean(r) for r in
                                                 query_all(d.port, ips, 1).values()) == 20,
                                     5))
            self.assertEqual(d.stop(), 0)
            src = d.db
            for args in (("add", ips[1], "tor", "--reason", "a relay's \"exit\" $1"),
                         ("allow", "198.51.100.0/24", "--reason", "our partner")):
                r = subprocess.run([tbltest.THREATBL, "db", "--offline", "-d", src] +
                                   list(args), capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
            back = os.path.join(d.dir, "back.sqlite")
            pw = os.path.join(d.dir, "pw")
            with open(pw, "w") as f:
                f.write(self.pg.password + "\n")
            env = dict(os.environ)
            self.pg.psql("CREATE DATABASE copy OWNER threatbl", db="postgres")
            uri = self.pg.uri(password=False, db="copy")
            r = subprocess.run([tbltest.THREATBL, "db", "-p", pw, "copy", src, uri], env=env,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn(self.pg.password, r.stdout + r.stderr)
            # today's count goes along: the move gives no provider a new budget
            self.assertIn("today's call counts of 1 provider(s)", r.stdout)
            self.assertIn("2 override(s) copied", r.stdout)
            self.assertEqual(self.pg.psql("SELECT provider || '=' || calls FROM budgets",
                                          db="copy"), "criminalip=20")
            r = subprocess.run([tbltest.THREATBL, "db", "-p", pw, "copy", uri, back], env=env,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            cols = ("ip, ip_text, family, mask, flags, checked, source, facts, created,"
                    " probe, probed")
            with sqlite3.connect(src) as s1, sqlite3.connect(back) as s2:
                rows1 = s1.execute("SELECT %s FROM verdicts ORDER BY ip" % cols).fetchall()
                rows2 = s2.execute("SELECT %s FROM verdicts ORDER BY ip" % cols).fetchall()
            self.assertEqual(len(rows1), 20)
            self.assertEqual(rows1, rows2, "nothing lost sqlite -> PostgreSQL -> sqlite")
            ocols = "prefix, net, len, kind, category, reason, created, who"
            with sqlite3.connect(src) as s1, sqlite3.connect(back) as s2:
                o1 = s1.execute("SELECT %s FROM overrides ORDER BY prefix" % ocols).fetchall()
                o2 = s2.execute("SELECT %s FROM overrides ORDER BY prefix" % ocols).fetchall()
            self.assertEqual(len(o1), 2)
            self.assertEqual(o1, o2, "the overrides too")
            with sqlite3.connect(back) as s2:
                self.assertEqual(s2.execute("SELECT provider, calls FROM budgets").fetchall(),
                                 [("criminalip", 20)])
            # The other db commands read PostgreSQL too.
            r = subprocess.run([tbltest.THREATBL, "db", "-p", pw, "-d", uri, "list"], env=env,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len([l for l in r.stdout.splitlines()
                                  if not l.startswith("#")]), 20)
            r = subprocess.run([tbltest.THREATBL, "db", "-p", pw, "-d", uri, "show", ips[0]],
                               env=env, capture_output=True, text=True)
            self.assertIn(ips[0] + "\tclean", r.stdout)
            # A missing FROM is an error and creates nothing; FROM = TO is refused.
            r = subprocess.run([tbltest.THREATBL, "db", "copy", src + ".missing", back],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertFalse(os.path.exists(src + ".missing"))
            r = subprocess.run([tbltest.THREATBL, "db", "copy", src, src],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertIn("the same database", r.stderr)
            # A copy onto a database that has rows is refused: nothing is mixed.
            r = subprocess.run([tbltest.THREATBL, "db", "-p", pw, "copy", src, uri], env=env,
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not empty", r.stderr)
        finally:
            d.cleanup()

    def copy_source(self, n, probes=0, calls=0):
        """A sqlite database of n listed IPv4 verdicts (10.x.y.z), the first probes of
        them probed, and calls of Criminal IP's counted today; its path and the
        password file for the PostgreSQL end, in a directory removed after the test."""
        tmp = tempfile.mkdtemp(prefix="threatbl-copy-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        src = os.path.join(tmp, "src.sqlite")
        pw = os.path.join(tmp, "pw")
        with open(pw, "w") as f:
            f.write(self.pg.password + "\n")
        r = subprocess.run([tbltest.THREATBL, "db", "-d", src, "init"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        now = int(time.time())
        with sqlite3.connect(src) as s:
            s.executemany(
                "INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked, source,"
                " facts, created, updated, probe, probed) VALUES (?,?,4,1,0,?,"
                " 'criminalip', '{}',?,?,?,?)",
                ((bytes(10) + b"\xff\xff" + (0x0a000000 + i).to_bytes(4, "big"),
                  "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), now, now, now,
                  "confirmed" if i < probes else None, now if i < probes else None)
                 for i in range(n)))
            if calls:
                s.execute("INSERT INTO budgets VALUES ('criminalip', ?, ?)",
                          (now // 86400, calls))
        return src, pw

    def copy_to(self, src, pw, db):
        return subprocess.run([tbltest.THREATBL, "db", "-p", pw, "copy", src,
                               self.pg.uri(password=False, db=db)],
                              capture_output=True, text=True, timeout=300)

    def test_6b_db_copy_says_what_is_in_postgresql(self):
        """Success is said once every row, probe and count is in: the count printed is
        the count stored, over several of the writer's batches."""
        src, pw = self.copy_source(30000, probes=500, calls=17)
        self.pg.psql("CREATE DATABASE copyn OWNER threatbl", db="postgres")
        r = self.copy_to(src, pw, "copyn")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("30000 verdicts (500 probed) and today's call counts of 1 "
                      "provider(s) copied", r.stdout)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM verdicts", db="copyn"), "30000")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM verdicts WHERE probe = "
                                      "'confirmed'", db="copyn"), "500")
        self.assertEqual(self.pg.psql("SELECT provider || '=' || calls FROM budgets",
                                      db="copyn"), "criminalip=17")

    @unittest.skipUnless(os.environ.get("THREATBL_TEST_LARGE"),
                         "THREATBL_TEST_LARGE=1: 1.1 million rows, about a minute")
    def test_6c_db_copy_past_the_queue_bound(self):
        """More rows than a PostgreSQL store queues (1,000,000, past which it drops the
        oldest): the copy waits for the writer instead of losing rows."""
        src, pw = self.copy_source(1100000)
        self.pg.psql("CREATE DATABASE copybig OWNER threatbl", db="postgres")
        r = self.copy_to(src, pw, "copybig")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("1100000 verdicts", r.stdout)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM verdicts", db="copybig"),
                         "1100000")
        self.assertNotIn("dropped", r.stderr)

    def test_6d_db_copy_that_cannot_write_fails(self):
        """PostgreSQL refusing a batch (a trigger stands for a full disk), or the day's
        counts, or not there at all: a non-zero exit, what happened on stderr, no
        success on stdout."""
        src, pw = self.copy_source(3000, calls=5)
        self.pg.psql("CREATE DATABASE copyf OWNER threatbl", db="postgres")
        empty, _ = self.copy_source(0)
        r = self.copy_to(empty, pw, "copyf")   # the schema, no rows
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.pg.psql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF TG_TABLE_NAME = 'budgets' THEN RAISE EXCEPTION 'refused by the test';"
            " ELSIF NEW.ip_text = '10.0.7.77' THEN RAISE EXCEPTION 'refused by the test';"
            " END IF; RETURN NEW; END $$;"
            " CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON verdicts"
            "  FOR EACH ROW EXECUTE FUNCTION refuse()", db="copyf")
        r = self.copy_to(src, pw, "copyf")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertEqual(r.stdout, "")
        self.assertIn("refused by the test", r.stderr)
        self.assertIn("cannot write to postgresql://threatbl@", r.stderr)
        self.assertIn("holds part of the copy", r.stderr)
        self.assertNotIn(self.pg.password, r.stderr)

        # The rows go in, the day's counts do not: still a failure.
        self.pg.psql("DROP TRIGGER refuse ON verdicts; TRUNCATE verdicts;"
                     " CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON budgets"
                     "  FOR EACH ROW EXECUTE FUNCTION refuse()", db="copyf")
        r = self.copy_to(src, pw, "copyf")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertEqual(r.stdout, "")
        self.assertIn("today's call counts not written", r.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM budgets", db="copyf"), "0")

        # Nothing listening there.
        uri = "postgresql://threatbl@127.0.0.1:%d/threatbl" % tbltest.free_port()
        r = subprocess.run([tbltest.THREATBL, "db", "-p", pw, "copy", src, uri],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertEqual(r.stdout, "")
        self.assertIn("cannot connect", r.stderr)


    def test_6e_db_commands_on_postgresql(self):
        """`threatbl db -d URI -p FILE`: init makes the schema, show/list/purge (an IP or
        a prefix), export and the overrides work, import (sqlite's only) says so, and
        the password (from the file or the URI) is in no output."""
        src, pw = self.copy_source(5)
        os.chmod(pw, 0o644)   # a mistake the tool warns about, naming -p
        self.pg.psql("CREATE DATABASE cmds OWNER threatbl", db="postgres")
        uri = self.pg.uri(password=False, db="cmds")

        def db(*args, uri=uri):
            r = subprocess.run([tbltest.THREATBL, "db", "--offline", "-p", pw, "-d", uri]
                               + list(args), capture_output=True, text=True, timeout=60)
            self.assertNotIn(self.pg.password, r.stdout + r.stderr)
            return r

        r = db("init")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("schema ready", r.stdout)
        self.assertEqual(self.pg.psql("SELECT version FROM threatbl_schema", db="cmds"), "4")
        r = db("init")   # again: brought up to date, nothing refused or lost
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.copy_to(src, pw, "cmds")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(db("list").stdout.count("\n10.0.0."), 5)
        r = db("show", "10.0.0.3")   # no override yet: none shown
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(r.stdout.startswith("10.0.0.3\tvpn\t"), r.stdout)
        self.assertNotIn("overrides", r.stderr)
        # the tool's own lines say it is the tool, and name its option
        self.assertIn(" threatbl[", r.stderr)
        self.assertNotIn("threatbld[", r.stderr)
        self.assertIn("warn: -p %s is readable or writable by others" % pw, r.stderr)
        r = db("purge", "10.0.0.3", "10.0.0.9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10.0.0.3: purged", r.stdout)
        self.assertIn("10.0.0.9: no verdict", r.stdout)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM verdicts", db="cmds"), "4")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM verdicts WHERE ip_text = "
                                      "'10.0.0.3'", db="cmds"), "0")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM purges", db="cmds"), "1",
                         "the purge is left for the nodes; no row for what was not there")
        # The overrides are kept there: written, listed, shown, removed.
        r = db("add", "10.0.0.1", "tor", "--reason", "seen in a relay list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10.0.0.1/32: listed as tor", r.stdout)
        self.assertIn("the running threatbld nodes of the fleet apply it at once", r.stderr)
        r = db("allow", "10.0.0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = db("overrides")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"10\.0\.0\.1/32\tadd tor\t.*\tseen in a relay list")
        self.assertRegex(r.stdout, r"10\.0\.0\.2/32\tallow\t")
        r = db("show", "10.0.0.1")
        self.assertIn("seen in a relay list", r.stdout)
        r = db("unset", "10.0.0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = db("unset", "10.0.0.2")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("no override for 10.0.0.2/32", r.stderr)
        self.assertEqual(self.pg.psql("SELECT prefix || ' ' || kind || ' ' || category"
                                      " FROM overrides", db="cmds"), "10.0.0.1/32 add tor")
        # Export reads PostgreSQL as it reads sqlite: the same verdict lines as the
        # source's, less the purged one, and the override.
        r = db("export", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        pg_lines = r.stdout.splitlines()
        r = subprocess.run([tbltest.THREATBL, "db", "-d", src, "export", "--format", "json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = [x for x in r.stdout.splitlines() if '"ip":"10.0.0.3"' not in x]
        self.assertEqual(len(want), 4, r.stdout)
        self.assertEqual([x for x in pg_lines if x.startswith('{"ip"')], want)
        self.assertEqual([json.loads(x)["prefix"] for x in pg_lines if '"override"' in x],
                         ["10.0.0.1/32"])
        r = db("export", "--format", "rbldnsd")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\n10.0.0.4 :127.0.0.2:", r.stdout)
        # A prefix purge: the rows, and a row in purges for each, for the nodes.
        r = db("purge", "10.0.0.0/31")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 2 verdict(s) in 10.0.0.0/31", r.stdout)
        r = db("purge", "10.0.0.0/31")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 0 verdict(s) in 10.0.0.0/31", r.stdout)
        self.assertEqual(self.pg.psql("SELECT string_agg(ip_text, ' ' ORDER BY ip)"
                                      " FROM verdicts", db="cmds"), "10.0.0.2 10.0.0.4")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM purges", db="cmds"), "3")
        # Import is sqlite's only, and says so; nothing is written.
        imp = os.path.join(os.path.dirname(src), "import.json")
        with open(imp, "w") as f:
            f.write("\n".join(want) + "\n")
        r = db("import", imp)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("import needs an sqlite database", r.stderr)
        self.assertIn("postgresql://threatbl@", r.stderr)
        self.assertIn("nothing imported", r.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM verdicts", db="cmds"), "2",
                         "the refused import wrote nothing")
        # A password in the URI itself never shows either.
        r = db("purge", "10.0.0.4", uri=self.pg.uri(password=True, db="cmds"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("threatbl:***@", r.stderr)
        # A missing sqlite path is still an error, and creates nothing.
        missing = os.path.join(os.path.dirname(src), "typo.sqlite")
        for args in (("show", "10.0.0.1"), ("purge", "10.0.0.1"), ("allow", "10.0.0.1")):
            r = db(*args, uri=missing)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("No such file", r.stderr, args)
            self.assertFalse(os.path.exists(missing), args)
    def test_6f_overrides_shared_by_the_fleet(self):
        """An override made on one node (its control socket) or in the database (the
        tool) reaches every running node at once, and a node starting later loads
        them: kept in PostgreSQL like the verdicts."""
        a, b = self.node(), self.node(lookup_from="192.0.2.1/32")
        listed, other = ADDR.take(2)
        for ip in (listed, other):
            self.assertTrue(clean(a.query(rev4(ip), timeout=5)), "A looks it up: clean")
            self.assertTrue(wait_for(lambda: clean(b.query(rev4(ip))), 2, step=0.02))
        self.assertEqual(a.control("add", listed, "vpn", "--reason", "abuse report 42")[1],
                         "ok")

        def listed_on(d, ip=listed):
            r = d.query(rev4(ip))
            return r.rcode() == dns.rcode.NOERROR and a_values(r) == ["127.0.0.2"]
        for d in (a, b):
            self.assertTrue(wait_for(lambda: listed_on(d), 2, step=0.02),
                            "node %d lists it within 2 s:\n%s" % (d.port, d.stderr()[-2000:]))
        self.assertIn("overrides changed in the database: 1 in force", b.stderr())
        # The tool, straight into the database: both nodes follow.
        pw = os.path.join(a.dir, "db-password")
        r = subprocess.run([tbltest.THREATBL, "db", "--offline", "-p", pw, "-d",
                            self.pg.uri(password=False), "add", other, "vpn"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        for d in (a, b):
            self.assertTrue(wait_for(lambda: listed_on(d, other), 2, step=0.02),
                            "node %d follows the tool" % d.port)
        # A change the nodes were not told of (written without NOTIFY, as while their
        # listeners were away): each reads the overrides again once it reconnects.
        self.pg.psql("UPDATE overrides SET kind = 'allow', category = NULL"
                     " WHERE prefix = '%s/32'" % other)
        time.sleep(1)
        self.assertTrue(listed_on(a, other) and listed_on(b, other), "no NOTIFY came")
        self.pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE application_name = 'threatbld'")
        for d in (a, b):
            self.assertTrue(wait_for(lambda: clean(d.query(rev4(other))), 10, step=0.1),
                            "node %d reads them again after reconnecting:\n%s"
                            % (d.port, d.stderr()[-3000:]))
        # A node started now has them from the start.
        c = self.node(lookup_from="192.0.2.1/32")
        self.assertIn("2 override(s) of the operator in force", c.stderr())
        self.assertTrue(listed_on(c) and clean(c.query(rev4(other))))
        # Removed on B: gone everywhere, the verdict answers again.
        self.assertEqual(b.control("unset", listed)[1], "ok")
        for d in (a, b, c):
            self.assertTrue(wait_for(lambda: clean(d.query(rev4(listed))), 2, step=0.02),
                            "node %d drops the override" % d.port)
        self.assertEqual(self.fake.total(), 2, "overrides make no API call")
        # A row a hand or another version wrote wrong is skipped, with a warning; the
        # others still apply.
        self.pg.psql("INSERT INTO overrides VALUES ('%s/32', decode('%s', 'hex'), 128,"
                     " 'add', 'nonsense', '', 0, '')"
                     % (listed, "00" * 10 + "ffff" + "".join("%02x" % int(x)
                                                            for x in listed.split("."))))
        self.assertEqual(b.control("add", "198.51.100.7", "tor")[1], "ok")
        for d in (a, b, c):
            self.assertTrue(wait_for(lambda: a_values(d.query(rev4("198.51.100.7"))) ==
                                     ["127.0.0.5"], 2, step=0.02), d.port)
            self.assertTrue(wait_for(lambda: "1 malformed override rows skipped" in
                                     d.stderr(), 2), d.stderr()[-2000:])
            self.assertTrue(clean(d.query(rev4(listed))), "the bad row is not applied")
        # PostgreSQL down: a change through the control socket fails and says so, and
        # changes nothing in memory; once it is back, the same command works.
        self.pg.stop()
        try:
            out, end = a.control("allow", other, timeout=30)
            self.assertTrue(end.startswith("error ") and "cannot connect" in end, end)
            self.assertTrue(clean(a.query(rev4(other))), "unchanged")
        finally:
            self.pg.start()
        self.assertTrue(wait_for(lambda: a.control("add", other, "proxy")[1] == "ok", 15,
                                 step=0.5))
        self.assertTrue(wait_for(lambda: a_values(b.query(rev4(other))) == ["127.0.0.6"],
                                 10, step=0.1), "B follows once PostgreSQL is back")
        for d in (a, b, c):
            self.stop_node(d)
        self.pg.psql("DELETE FROM overrides")

    def test_6g_purge_reaches_every_node(self):
        """A purge through one node's control socket, or by the tool, drops the
        verdict from every node's memory; a node that was not listening drops it when
        it connects again; a verdict looked up after the purge is kept by all."""
        a = self.node()
        b, c = (self.node(lookup_from="192.0.2.1/32") for _ in range(2))
        ADDR.take(-ADDR.n % 250)   # a /24 of their own
        ips = ADDR.take(4)
        for ip in ips:
            self.assertTrue(clean(a.query(rev4(ip), timeout=5)), "A looks it up: clean")
        for d in (b, c):
            for ip in ips:
                self.assertTrue(wait_for(lambda: clean(d.query(rev4(ip))), 2, step=0.02))

        def unknown_on(d, ip):
            return soa_ttl(d.query(rev4(ip))) == UNKNOWN_TTL
        # Through A's control socket: B and C no longer have it. (They make no lookups
        # of their own, so what they lack is answered as unknown; A would look it up.)
        self.assertEqual(a.control("purge", ips[0])[1], "ok")
        for d in (b, c):
            self.assertTrue(wait_for(lambda: unknown_on(d, ips[0]), 2, step=0.02),
                            "node %d drops it within 2 s:\n%s" % (d.port, d.stderr()[-2000:]))
            self.assertTrue(clean(d.query(rev4(ips[1]))), "the others are kept")
        self.assertTrue(wait_for(lambda: "1 verdict(s) purged on other nodes, dropped from"
                                 " memory" in b.stderr(), 2), b.stderr()[-2000:])
        self.assertNotIn("purged on other nodes", a.stderr(), "A's own purge is not read back")
        # A prefix: every verdict in it, on every node.
        net = ips[1].rsplit(".", 1)[0] + ".0/24"
        self.assertTrue(all(ip.startswith(net[:-4]) for ip in ips), (net, ips))
        out, end = a.control("purge", net)
        self.assertEqual(end, "ok", out)
        self.assertIn("purged 3 verdict(s) in %s" % net, out)
        for d in (b, c):
            for ip in ips[1:]:
                self.assertTrue(wait_for(lambda: unknown_on(d, ip), 2, step=0.02),
                                "node %d drops %s of %s" % (d.port, ip, net))
        # Looked up again after the purge: the new verdict is everybody's again (the
        # purge, read before it by its number, does not remove it).
        calls = self.fake.total()
        for ip in (ips[0], ips[3]):
            self.assertTrue(clean(a.query(rev4(ip), timeout=5)))
        self.assertEqual(self.fake.total(), calls + 2, "a purged IP is asked again")
        for d in (b, c):
            for ip in (ips[0], ips[3]):
                self.assertTrue(wait_for(lambda: clean(d.query(rev4(ip))), 2, step=0.02))
        # The tool, straight into the database.
        pw = os.path.join(a.dir, "db-password")
        r = subprocess.run([tbltest.THREATBL, "db", "--offline", "-p", pw, "-d",
                            self.pg.uri(password=False), "purge", ips[0]],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        for d in (b, c):
            self.assertTrue(wait_for(lambda: unknown_on(d, ips[0]), 2, step=0.02),
                            "node %d follows the tool" % d.port)
        # A purge the nodes were not told of (as while their listeners were away): read
        # when they connect again.
        self.pg.psql("WITH d AS (DELETE FROM verdicts WHERE ip_text = '%s' RETURNING ip)"
                     " INSERT INTO purges (change, ip, node) SELECT"
                     " nextval('threatbl_change'), ip, 'elsewhere' FROM d" % ips[3])
        time.sleep(1)
        self.assertTrue(clean(c.query(rev4(ips[3]))), "no NOTIFY came")
        self.pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE application_name = 'threatbld'")
        for d in (b, c):
            self.assertTrue(wait_for(lambda: unknown_on(d, ips[3]), 10, step=0.1),
                            "node %d reads it after reconnecting:\n%s"
                            % (d.port, d.stderr()[-3000:]))
        # The tool's prefix purge reaches the nodes too.
        self.assertTrue(clean(a.query(rev4(ips[1]), timeout=5)))
        for d in (b, c):
            self.assertTrue(wait_for(lambda: clean(d.query(rev4(ips[1]))), 10, step=0.1))
        r = subprocess.run([tbltest.THREATBL, "db", "--offline", "-p", pw, "-d",
                            self.pg.uri(password=False), "purge", net],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 1 verdict(s) in %s" % net, r.stdout)
        for d in (b, c):
            self.assertTrue(wait_for(lambda: unknown_on(d, ips[1]), 2, step=0.02),
                            "node %d follows the tool's prefix purge" % d.port)
        for d in (a, b, c):
            self.stop_node(d)

    def test_8_budget_share_while_postgres_away(self):
        self.pg.psql("DELETE FROM budgets; DELETE FROM nodes")
        a = self.node(daily_budget=20)
        b = self.node(daily_budget=20)
        self.assertTrue(wait_for(lambda: self.pg.psql(
            "SELECT count(*) FROM nodes") == "2", 15), "both nodes seen alive")
        time.sleep(6)  # and A's next heartbeat (every 5 s) has counted them
        query_all(a.port, ADDR.take(4), timeout=5)
        self.assertEqual(self.fake.total(), 4)
        self.pg.stop()
        try:
            # 16 calls were left for 2 nodes: 8 for A while PostgreSQL is away.
            answers = query_all(a.port, ADDR.take(20), timeout=5)
            self.assertEqual(len(answers), 20, "every query answered")
            self.assertEqual(self.fake.total(), 12, "A's share of what was left")
        finally:
            self.pg.start()
        # Back: A's 8 calls join the fleet's count, then a claim counts one more.
        self.assertTrue(wait_for(lambda: query_all(a.port, ADDR.take(1), 2) and
                                 self.pg.psql("SELECT calls FROM budgets") == "13", 20,
                                 step=0.5), "the calls made meanwhile are counted")
        self.assertEqual(self.fake.total(), 13)
        self.stop_node(a)
        self.stop_node(b)

    def test_9_schema_1_gains_budgets_per_provider(self):
        """A database of schema 1 (one count per day; a claim without a provider) is
        migrated: the day's count becomes Criminal IP's and still holds."""
        self.pg.psql("CREATE DATABASE v1 OWNER threatbl", db="postgres")
        self.stop_node(self.node(db="v1"))     # schema 4, then back to what 1 had:
        self.pg.psql(
            "DROP TABLE purges; DROP TABLE overrides; DROP TABLE budgets;"
            " CREATE TABLE budget (day bigint NOT NULL PRIMARY KEY, calls bigint NOT NULL);"
            " INSERT INTO budget VALUES (%d, 7); ALTER TABLE budget OWNER TO threatbl;"
            " DROP FUNCTION threatbl_claim(bytea, text, integer, bigint, text, bigint, bigint);"
            " CREATE FUNCTION threatbl_claim(p_ip bytea, p_node text, p_lease_ms integer,"
            "  p_fresh bigint, p_day bigint, p_budget bigint, OUT outcome text)"
            "  LANGUAGE sql AS $$ SELECT 'mine' $$;"
            " ALTER FUNCTION threatbl_claim(bytea, text, integer, bigint, bigint, bigint)"
            "  OWNER TO threatbl;"
            " UPDATE threatbl_schema SET version = 1" % (int(time.time()) // 86400), db="v1")
        before = self.fake.total()
        a = self.node(db="v1", daily_budget=8)
        self.assertIn("schema version 2", a.stderr())
        self.assertIn("schema version 3", a.stderr())
        self.assertIn("schema version 4", a.stderr())
        query_all(a.port, ADDR.take(3), timeout=5)
        self.assertEqual(self.fake.total() - before, 1, "one call left after the 7 counted")
        self.assertEqual(self.pg.psql("SELECT provider || '=' || calls FROM budgets",
                                      db="v1"), "criminalip=8")
        self.stop_node(a)

    def test_8b_every_providers_budget_is_the_fleets(self):
        """combine = all: a lookup's claim counts Criminal IP's call; AbuseIPDB's, the
        further call, is added to its own row by the node's writer, which reads the
        fleet's count back: the other node stops at the fleet's budget."""
        adb_key = "adb-fleet-KEY-5e6f7a8b"
        adb = fake_providers.FakeProvider("abuseipdb", key=adb_key).start()
        try:
            self.pg.psql("DELETE FROM budgets")
            extra = ("providers = criminalip abuseipdb\ncombine = all\n"
                     "[provider abuseipdb]\nurl = %s\ndaily-budget = 3\n" % adb.url)
            env = {"THREATBL_ABUSEIPDB_KEY": adb_key}
            a = self.node(extra=extra, env=env)
            b = self.node(extra=extra, env=env)
            query_all(a.port, ADDR.take(2), timeout=5)
            self.assertTrue(wait_for(lambda: self.pg.psql(
                "SELECT calls FROM budgets WHERE provider = 'abuseipdb'") == "2", 5))
            for ip in ADDR.take(3):    # one at a time: B's writes bring the count back
                query_all(b.port, [ip], timeout=5)
                time.sleep(0.5)
            self.assertEqual(adb.count()["total"], 3, "AbuseIPDB's budget is the fleet's")
            self.assertEqual(self.pg.psql("SELECT provider || '=' || calls FROM budgets"
                                          " ORDER BY provider").split(),
                             ["abuseipdb=3", "criminalip=5"])
            self.assertIn("AbuseIPDB: daily budget of 3 calls used up", b.stderr())
            for d in (a, b):
                self.assertNotIn(adb_key, d.stderr())
                self.stop_node(d)
        finally:
            adb.stop()

    def test_7_mistakes(self):
        # A wrong password: a clear error, and the password in no message.
        d = tbltest.Daemon(node_conf(self.pg, ""), files={"db-password": "wrong-pw\n"},
                           wait=False)
        try:
            self.assertNotEqual(d.proc.wait(20), 0)
            log = d.stderr()
            self.assertIn("cannot connect", log)
            self.assertIn("password authentication failed", log)
            self.assertNotIn("wrong-pw", log)
        finally:
            d.cleanup()
        # A missing password file names itself.
        conf = node_conf(self.pg, "").replace("{dir}/db-password", "{dir}/nonexistent")
        d = tbltest.Daemon(conf, wait=False)
        try:
            self.assertNotEqual(d.proc.wait(20), 0)
            self.assertIn("database-password-file", d.stderr())
            self.assertIn("nonexistent", d.stderr())
        finally:
            d.cleanup()
        # A password file that is not one (a megabyte of something) is refused.
        d = tbltest.Daemon(node_conf(self.pg, ""), files={"db-password": "x" * 1000000},
                           wait=False)
        try:
            self.assertNotEqual(d.proc.wait(20), 0)
            self.assertIn("database-password-file", d.stderr())
            self.assertIn("longer than", d.stderr())
            self.assertNotIn("xxxxxxxx", d.stderr())
        finally:
            d.cleanup()
        # A password in the URI is never logged either.
        conf = node_conf(self.pg, "").replace(
            "threatbl@127.0.0.1", "threatbl:%s@127.0.0.1" % self.pg.password).replace(
            "database-password-file = {dir}/db-password\n", "")
        d = tbltest.Daemon(conf)
        try:
            self.assertEqual(d.stop(), 0)
            self.assertIn("threatbl:***@127.0.0.1", d.stderr())
            self.assertNotIn(self.pg.password, d.stderr())
        finally:
            d.cleanup()
        # The password from the systemd credential when no file is configured.
        conf = node_conf(self.pg, "").replace(
            "database-password-file = {dir}/db-password\n", "")
        creds = tempfile.mkdtemp(prefix="threatbl-creds-")
        try:
            with open(os.path.join(creds, "threatbl-db-password"), "w") as f:
                f.write(self.pg.password + "\n")
            d = tbltest.Daemon(conf, env={"CREDENTIALS_DIRECTORY": creds})
            self.assertEqual(d.stop(), 0)
            self.assertEqual(self.pg.psql("SELECT version FROM threatbl_schema"), "4",
                             "connected with the credential's password: the schema")
            self.assertNotIn(self.pg.password, d.stderr())
            d.cleanup()
        finally:
            shutil.rmtree(creds, ignore_errors=True)
        # Someone else's database (a table verdicts, no threatbl_schema) is refused.
        self.pg.psql("CREATE DATABASE other OWNER threatbl", db="postgres")
        self.pg.psql("CREATE TABLE verdicts (x int); ALTER TABLE verdicts OWNER TO threatbl",
                     db="other")
        conf = node_conf(self.pg, "").replace("/threatbl\n", "/other\n")
        d = tbltest.Daemon(conf, files={"db-password": self.pg.password}, wait=False)
        try:
            self.assertNotEqual(d.proc.wait(20), 0)
            self.assertIn("not a threatbl database", d.stderr())
        finally:
            d.cleanup()


if __name__ == "__main__":
    tbltest.main()

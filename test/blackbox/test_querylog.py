"""Black-box: the query log ([server] query-log, query-log-sample;
doc/operations.md#query-log, server/querylog.c).

One line per logged query with its fields for each kind of answer, one query in N
sampled, a hostile name escaped, the file moved and reopened on SIGHUP, a symlink and
a missing directory refused (at start and by -t), a full disk (a tiny tmpfs, mounted
here as root) that drops lines without stopping the answers and resumes once space is
freed, bad query-log-sample values refused by -t, and lines kept whole with two loops."""
import calendar
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, a_values, intel_conf, wait_for,  # noqa: E402
                     THREATBLD)
from test_threads import ask_from_many  # noqa: E402

KEY = "tbl-KEY-querylog-3b9d"
LOCAL_IP = "45.10.20.30"
VPN_IP = "198.51.7.10"
CLEAN_IP = "198.51.8.20"
SLOW_IP = "198.51.9.30"
LIST = "%s :127.0.0.9:local $\n" % LOCAL_IP
ZONE_EXTRA = "vpn = 127.0.0.2 vpn $\nhosting = 127.0.0.4 hosting $\n" \
    "static = {dir}/local.ip4set\n"

LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) "
    r"(?P<client>[0-9a-f.:]+)#(?P<port>\d+) (?P<transport>udp|tcp) (?P<name>\S+) "
    r"(?P<type>\S+) (?P<kind>listed|clean|unknown|static|nodata|refused|other) "
    r"(?P<rcode>[A-Z]+\d*) (?P<cats>\S+) (?P<us>\d+)$")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode("ascii")   # every byte of a line is printable ASCII
    return text.splitlines()


def parse_lines(case, path):
    out = []
    for line in read_lines(path):
        m = LINE.match(line)
        case.assertIsNotNone(m, "bad line %r" % line)
        out.append(m.groupdict())
    return out


def conf_text(extra, threads=1, intel=""):
    return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = info\n"
            "threads = %d\n" % threads) + extra + BASE_ZONE + ZONE_EXTRA + intel


def check_config(conf_path):
    p = subprocess.run([THREATBLD, "-t", "-c", conf_path], capture_output=True, text=True,
                       timeout=20)
    return p.returncode, p.stdout + p.stderr


class QueryLogCase(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        self.fake.set_doc(VPN_IP, fake_criminalip.profile(VPN_IP, 10))
        self.d = None
        self.tmp = tempfile.mkdtemp(prefix="threatbl-qlog-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def tearDown(self):
        if self.d is not None:
            self.d.kill()
            self.d.cleanup()

    def start(self, extra, threads=1, wait=True, **intel):
        settings = dict(deadline="400ms", rate="1000/s", rate_burst=1000, concurrency=8,
                        timeout="5s")
        settings.update(intel)
        self.d = Daemon(conf_text(extra, threads, intel_conf(self.fake.url, **settings)),
                        env={"THREATBL_API_KEY": KEY}, files={"local.ip4set": LIST},
                        tmpdir=self.tmp, wait=wait)
        if threads > 1:
            self.assertTrue(wait_for(lambda: "answering UDP on %d loops" % threads in
                                     self.d.stderr(), 10), self.d.stderr())
        return self.d

    def settled(self, path):
        """The lines there once the readiness queries' are written (at least one,
        then no change for 0.2 s)."""
        self.assertTrue(wait_for(lambda: len(read_lines(path)) >= 1, 5.0), self.d.stderr())
        n = -1
        while n != len(read_lines(path)):
            n = len(read_lines(path))
            time.sleep(0.2)
        return n

    def wait_lines(self, path, n, timeout=5.0):
        self.assertTrue(wait_for(lambda: len(read_lines(path)) >= n, timeout),
                        "%d lines wanted, %d there:\n%s" % (n, len(read_lines(path)),
                                                            self.d.stderr()[-2000:]))
        return parse_lines(self, path)

    def test_fields_of_each_kind(self):
        log = os.path.join(self.tmp, "queries.log")
        d = self.start("query-log = %s\n" % log)
        st = os.stat(log)
        self.assertEqual(st.st_mode & 0o777, 0o640)
        n0 = self.settled(log)   # the readiness queries (apex SOA)
        self.fake.mode("slow", delay_ms=200)
        t0 = time.time()
        self.assertEqual(a_values(d.query(rev4(VPN_IP))), ["127.0.0.2"])   # waits 200 ms
        self.assertEqual(a_values(d.query(rev4(LOCAL_IP))), ["127.0.0.9"])
        self.assertEqual(d.query(rev4(CLEAN_IP), timeout=3).rcode(), dns.rcode.NXDOMAIN)
        self.fake.mode("slow", delay_ms=1500)
        self.assertEqual(d.query(rev4(SLOW_IP), timeout=3).rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(d.query(rev4(LOCAL_IP), "MX").rcode(), dns.rcode.NOERROR)
        self.assertEqual(d.query("4.3.2.1.example.com").rcode(), dns.rcode.REFUSED)
        self.assertEqual(d.query("bl.test", "SOA", tcp=True).rcode(), dns.rcode.NOERROR)
        self.assertEqual(a_values(d.query(rev4(VPN_IP), "TXT", tcp=True)), [])
        raw = tbltest.wire_query("bl.test", "TXT", rdclass="CH")
        self.assertIsNotNone(d.send_raw_udp(raw))
        lines = self.wait_lines(log, n0 + 9)[n0:]
        t1 = time.time()
        want = [
            ("udp", rev4(VPN_IP) + ".", "A", "listed", "NOERROR", "vpn"),
            ("udp", rev4(LOCAL_IP) + ".", "A", "static", "NOERROR", "-"),
            ("udp", rev4(CLEAN_IP) + ".", "A", "clean", "NXDOMAIN", "-"),
            ("udp", rev4(SLOW_IP) + ".", "A", "unknown", "NXDOMAIN", "-"),
            ("udp", rev4(LOCAL_IP) + ".", "MX", "nodata", "NOERROR", "-"),
            ("udp", "4.3.2.1.example.com.", "A", "refused", "REFUSED", "-"),
            ("tcp", "bl.test.", "SOA", "other", "NOERROR", "-"),
            ("tcp", rev4(VPN_IP) + ".", "TXT", "listed", "NOERROR", "vpn"),
            ("udp", "bl.test.", "TXT/CH", "refused", "REFUSED", "-"),
        ]
        got = [(x["transport"], x["name"], x["type"], x["kind"], x["rcode"], x["cats"])
               for x in lines]
        self.assertEqual(got, want)
        for x in lines:
            self.assertEqual(x["client"], "127.0.0.1")
            self.assertGreater(int(x["port"]), 0)
            stamp = calendar.timegm(time.strptime(x["time"][:19], "%Y-%m-%dT%H:%M:%S"))
            self.assertTrue(t0 - 1 <= stamp <= t1 + 1, (x["time"], t0, t1))
        # microseconds from receipt to the kernel: a parked query includes its wait
        self.assertGreaterEqual(int(lines[0]["us"]), 190000)
        self.assertGreaterEqual(int(lines[3]["us"]), 390000)   # the 400 ms deadline
        # a cached answer did not wait: below the wait of the one answered at the deadline
        self.assertLess(int(lines[1]["us"]), int(lines[3]["us"]))
        tbltest.assert_clean_stop(self, d, KEY)

    def test_sampling_one_in_n(self):
        log = os.path.join(self.tmp, "queries.log")
        d = self.start("query-log = %s\nquery-log-sample = 3\n" % log)
        n0 = self.settled(log)
        names = [rev4("45.10.21.%d" % i) for i in range(30)]
        for name in names:
            self.assertEqual(d.query(name).rcode(), dns.rcode.NXDOMAIN)
        lines = self.wait_lines(log, n0 + 10)
        time.sleep(0.2)
        lines = parse_lines(self, log)[n0:]
        idx = [names.index(x["name"][:-1]) for x in lines]
        self.assertEqual(len(idx), 10, idx)
        self.assertEqual(idx, list(range(idx[0], 30, 3)), idx)
        # a reload changes the sample: every query now
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace("query-log-sample = 3", "query-log-sample = 1"))
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 5.0))
        n1 = len(read_lines(log))
        for name in names[:5]:
            d.query(name)
        self.assertEqual(len(self.wait_lines(log, n1 + 5)), n1 + 5)
        tbltest.assert_clean_stop(self, d, KEY)

    def test_enabled_and_disabled_by_reload(self):
        log = os.path.join(self.tmp, "queries.log")
        d = self.start("")
        d.query(rev4(LOCAL_IP))
        self.assertFalse(os.path.exists(log))

        def reload(old, new):
            with open(d.conf) as f:
                text = f.read()
            with open(d.conf, "w") as f:
                f.write(text.replace(old, new, 1))
            n = d.stderr().count("reloaded")
            d.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: d.stderr().count("reloaded") > n, 5.0),
                            d.stderr())

        reload("[server]\n", "[server]\nquery-log = %s\n" % log)
        # the first query after the switch is in the new file
        d.query(rev4("45.10.24.1"))
        lines = self.wait_lines(log, 1)
        self.assertEqual([x["name"] for x in lines], [rev4("45.10.24.1") + "."])
        reload("query-log = %s\n" % log, "")
        d.query(rev4("45.10.24.2"))
        time.sleep(0.3)
        self.assertEqual(len(read_lines(log)), 1)
        tbltest.assert_clean_stop(self, d, KEY)

    def test_hostile_name_escaped(self):
        log = os.path.join(self.tmp, "queries.log")
        d = self.start("query-log = %s\n" % log)
        n0 = self.settled(log)
        label = b"a b\\c.d\x00e\xff\nf\x1b\"g"
        wire = tbltest.wire_query("x.bl.test")
        qname = tbltest.wire_name("x.bl.test")
        hostile = bytes([len(label)]) + label + tbltest.wire_name("bl.test")
        wire = wire.replace(qname, hostile, 1)
        self.assertIsNotNone(d.send_raw_udp(wire))
        lines = self.wait_lines(log, n0 + 1)[n0:]
        self.assertEqual(lines[0]["name"],
                         "a\\032b\\092c\\046d\\000e\\255\\010f\\027\"g.bl.test.")
        self.assertEqual((lines[0]["kind"], lines[0]["rcode"]), ("other", "NXDOMAIN"))
        tbltest.assert_clean_stop(self, d, KEY)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to become the user nobody")
    def test_rotation_move_and_hup(self):
        nobody = pwd.getpwnam("nobody")
        os.chmod(self.tmp, 0o755)
        os.chown(self.tmp, nobody.pw_uid, nobody.pw_gid)
        log = os.path.join(self.tmp, "queries.log")
        d = self.start("query-log = %s\nuser = nobody\n" % log)
        st = os.stat(log)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (nobody.pw_uid, 0o640))
        # the readiness queries' lines may come from another loop, after ours:
        # count once they are all written, then once ours is
        n0 = self.settled(log) + 1
        d.query(rev4(LOCAL_IP))
        self.assertEqual(self.wait_lines(log, n0)[-1]["name"], rev4(LOCAL_IP) + ".")
        os.rename(log, log + ".1")
        d.query(rev4("45.10.22.1"))       # still into the moved file
        self.wait_lines(log + ".1", n0 + 1)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 5.0), d.stderr())
        self.assertTrue(os.path.exists(log))
        self.assertEqual(os.stat(log).st_uid, nobody.pw_uid)   # made after the drop
        d.query(rev4("45.10.22.2"))
        lines = self.wait_lines(log, 1)
        self.assertEqual([x["name"] for x in lines], [rev4("45.10.22.2") + "."])
        old = parse_lines(self, log + ".1")
        self.assertEqual(old[-1]["name"], rev4("45.10.22.1") + ".")
        self.assertEqual(len(old), n0 + 1)
        # a reload to a path that cannot be opened fails whole: the old file stays
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace("query-log = %s" % log,
                                 "query-log = %s/missing/q.log" % self.tmp))
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload failed" in d.stderr(), 5.0), d.stderr())
        self.assertIn("missing", d.stderr())
        d.query(rev4("45.10.22.3"))
        self.assertEqual(self.wait_lines(log, 2)[-1]["name"], rev4("45.10.22.3") + ".")
        tbltest.assert_clean_stop(self, d, KEY)

    def test_symlink_refused(self):
        real = os.path.join(self.tmp, "real.log")
        open(real, "w").close()
        link = os.path.join(self.tmp, "queries.log")
        os.symlink(real, link)
        d = self.start("query-log = %s\n" % link, wait=False)
        self.assertEqual(d.proc.wait(20), 1)
        self.assertRegex(d.stderr(), r"query-log: .*queries\.log is a symbolic link")
        self.d = None
        d.logf.close()
        rc, out = check_config(d.conf)
        self.assertEqual(rc, 1, out)
        self.assertIn("is a symbolic link", out)
        self.assertEqual(os.path.getsize(real), 0)

    def test_missing_directory_and_bad_values(self):
        path = os.path.join(self.tmp, "nowhere", "queries.log")
        d = self.start("query-log = %s\n" % path, wait=False)
        self.assertEqual(d.proc.wait(20), 1)
        self.assertIn("query-log: the directory %s of %s: No such file or directory"
                      % (os.path.dirname(path), path), d.stderr())
        self.d = None
        d.logf.close()
        rc, out = check_config(d.conf)
        self.assertEqual(rc, 1, out)
        self.assertIn("No such file or directory", out)
        self.assertFalse(os.path.exists(os.path.dirname(path)))
        conf = os.path.join(self.tmp, "t.conf")
        for value, why in (("query-log-sample = 0", "query-log-sample"),
                           ("query-log-sample = often", "query-log-sample"),
                           ("query-log-sample = -1", "query-log-sample"),
                           ("query-log = relative.log", "not an absolute path"),
                           ("query-log = %s" % self.tmp, "not a regular file")):
            with open(conf, "w") as f:
                f.write(conf_text(value + "\n").format(port=5353, db="/tmp/x.sqlite",
                                                       dir=self.tmp))
            rc, out = check_config(conf)
            self.assertEqual(rc, 1, (value, out))
            self.assertIn(why, out, value)
        # and a good one passes -t without creating the file
        good = os.path.join(self.tmp, "good.log")
        with open(conf, "w") as f:
            f.write(conf_text("query-log = %s\nquery-log-sample = 100\n" % good)
                    .format(port=5353, db="/tmp/x.sqlite", dir=self.tmp))
        with open(os.path.join(self.tmp, "local.ip4set"), "w") as f:
            f.write(LIST)
        rc, out = check_config(conf)
        self.assertEqual(rc, 0, out)
        self.assertFalse(os.path.exists(good))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to mount a tmpfs")
    def test_full_disk(self):
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt],
                       check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        log = os.path.join(mnt, "queries.log")
        d = self.start("query-log = %s\n" % log)
        n0 = self.settled(log) + 1
        d.query(rev4(LOCAL_IP))
        self.wait_lines(log, n0)
        filler = os.path.join(mnt, "filler")
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass
        # far more than the 1 MiB ring holds: every query still answered
        n = 16000
        res = tbltest.udp_many(d.port, [(rev4(LOCAL_IP), "A")] * n, rate=8000, timeout=30)
        self.assertGreater(sum(1 for r, _ in res if r is not None), n // 2)
        k = d.stderr().count("stats: udp")
        d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: d.stderr().count("stats: udp") > k, 5.0))
        m = re.findall(r"stats: udp \S+: (\d+) queries, (\d+) answers, (\d+) dropped",
                       d.stderr())[-1]
        # the daemon read them all and answered every one
        self.assertEqual((int(m[1]), int(m[2])), (int(m[0]), 0))
        self.assertGreaterEqual(int(m[0]), n)
        answered = int(m[1]) - n0
        self.assertTrue(wait_for(lambda: "No space left on device: dropping lines" in
                                 d.stderr(), 5.0), d.stderr()[-2000:])
        self.assertEqual(d.stderr().count("No space left on device"), 1)
        d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: re.search(r"query-log logged=\d+ dropped=[1-9]",
                                                   d.stderr()), 5.0), d.stderr()[-2000:])
        dropped = int(re.search(r"query-log logged=\d+ dropped=(\d+)",
                                d.stderr()).group(1))
        os.unlink(filler)
        self.assertTrue(wait_for(lambda: "writing again" in d.stderr(), 5.0),
                        d.stderr()[-2000:])
        m = re.search(r"writing again; (\d+) line\(s\) dropped", d.stderr())
        self.assertGreaterEqual(int(m.group(1)), dropped)
        # logging resumes, every line whole
        d.query(rev4("45.10.23.4"))
        self.assertTrue(wait_for(lambda: read_lines(log) and
                                 read_lines(log)[-1].split(" ")[3] ==
                                 rev4("45.10.23.4") + ".", 5.0))
        lines = parse_lines(self, log)
        self.assertGreater(len(lines), n0)
        # what the loop says it handed over is in the file, whole
        k = d.stderr().count("query-log logged=")
        d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: d.stderr().count("query-log logged=") > k, 5.0))
        logged, dropped = map(int, re.findall(r"query-log logged=(\d+) dropped=(\d+)",
                                              d.stderr())[-1])
        self.assertEqual(len(parse_lines(self, log)), logged)
        self.assertEqual(logged + dropped, n0 + answered + 1)
        tbltest.assert_clean_stop(self, d, KEY)

    def test_two_loops_whole_lines(self):
        log = os.path.join(self.tmp, "queries.log")
        d = self.start("query-log = %s\n" % log, threads=2)
        n0 = self.settled(log)
        n = 40
        for _ in range(5):
            answers = ask_from_many(d.port, [rev4(LOCAL_IP)] * n)
            self.assertEqual(sum(1 for r in answers if r is not None), n)
        lines = self.wait_lines(log, n0 + 5 * n)
        time.sleep(0.2)
        lines = parse_lines(self, log)
        self.assertEqual(len(lines), n0 + 5 * n)
        self.assertEqual({x["kind"] for x in lines[n0:]}, {"static"})
        d.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: len(re.findall(r"query-log logged=[1-9]",
                                                        d.stderr())) == 2, 5.0),
                        d.stderr()[-2000:])
        tbltest.assert_clean_stop(self, d, KEY)


if __name__ == "__main__":
    sys.exit(tbltest.main())

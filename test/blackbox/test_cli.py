"""Black-box: the command line of threatbld (doc/configuration.md#threatbld).

-V, -h, bad options, -t on good and broken configurations (FILE:LINE: message per
problem), -l replacing [server] listen (IPv4, twice, IPv6), -d, SIGTERM and SIGINT,
and a start that fails on an unreadable static list.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import tbltest
from tbltest import (Daemon, BASE_ZONE, ZONE, THREATBLD, free_port, wire_query,
                     exchange, wait_answering)

GOOD = """[server]
listen = 127.0.0.1:{port}
database = {dir}/db.sqlite
log-level = info

[intel]
provider = none
timeout = 5s
deadline = 1500ms

[zone bl.test]
soa = ns1.bl.test. hostmaster.bl.test. 3600 600 604800 300
ns = ns1.bl.test. ns2.bl.test.
ttl = 300
negative-ttl = 120
vpn = 127.0.0.2 VPN exit node $
tor =
static = {dir}/good.ip4set
"""

# Problems on lines 3, 7, 12, 13 and 14, nothing else wrong.
BROKEN = """[server]
listen = 127.0.0.1:{port}
log-level = loud
database = {dir}/db.sqlite

[intel]
timeout = 5 parsecs
deadline = 1500ms

[zone bl.test]
soa = ns1.bl.test. hostmaster.bl.test. 3600 600 604800 300
ttl = banana
vpn = 127.0.0.300 Not an address
unknown = maybe
ns = ns1.bl.test.
negative-ttl = 120
"""
BROKEN_LINES = [3, 7, 12, 13, 14]

LIST = "45.10.20.30 :127.0.0.3:listed $\n"


def run(args, timeout=10):
    """Run threatbld with args; (exit code, stdout, stderr)."""
    p = subprocess.run([THREATBLD] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def problems(stderr, filename):
    """Line numbers of the "FILE:LINE: message" lines about filename, in order."""
    out = []
    for line in stderr.splitlines():
        m = re.search(r"(\S*?)([^/\s]+):(\d+): *(\S.*)$", line)
        if m and m.group(2) == filename:
            out.append(int(m.group(3)))
    return out


def udp_answers(port, host="127.0.0.1", timeout=0.5):
    raw = exchange(port, wire_query(ZONE, "SOA", qid=0x4242), timeout=timeout, host=host)
    return raw is not None and raw[:2] == b"\x42\x42" and raw[3] & 0xf == 0


def tcp_refused(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


def v6_free_port():
    """A port free on [::1] for UDP and TCP, or None when ::1 cannot be bound."""
    try:
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t.bind(("::1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.bind(("::1", port))
        u.close()
        t.close()
        return port
    except OSError:
        return None


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="threatbl-cli-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    def file(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text.format(port=free_port(), dir=self.dir))
        return path

    def daemon(self, conf=BASE_ZONE, **kw):
        d = Daemon(conf, **kw)
        self.daemons.append(d)
        return d

    # -- options that do not start a server ------------------------------------

    def test_version(self):
        code, out, err = run(["-V"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out + err, r"\d+\.\d+")

    def test_help(self):
        code, out, err = run(["-h"])
        self.assertEqual(code, 0, err)
        text = out + err
        self.assertRegex(text, r"(?i)usage")
        for opt in ("-c", "-l", "-d", "-f", "-t", "-V"):
            self.assertIn(opt, text, "usage does not mention " + opt)

    def test_bad_option(self):
        self.file("good.ip4set", LIST)
        for args in (["-Z"], ["--no-such-option"], ["-l"], ["-c"],
                     ["-t", "-c", self.file("g.conf", GOOD), "extra-argument"]):
            code, out, err = run(args)
            self.assertNotEqual(code, 0, "%s exited 0" % args)
            self.assertTrue(err.strip(), "%s: no message on stderr" % args)

    def test_bad_listen_option(self):
        self.file("good.ip4set", LIST)
        conf = self.file("g.conf", GOOD)
        for bad in ("nonsense:53", "127.0.0.1:99999", "[::1:53"):
            try:
                code, out, err = run(["-f", "-c", conf, "-l", bad], timeout=3)
            except subprocess.TimeoutExpired:
                self.fail("-l %s: still running after 3 s" % bad)
            self.assertNotEqual(code, 0, "-l %s accepted" % bad)
            self.assertTrue(err.strip(), "-l %s: no message" % bad)

    def test_check_good(self):
        self.file("good.ip4set", LIST)
        code, out, err = run(["-t", "-c", self.file("good.conf", GOOD)])
        self.assertEqual(code, 0, err)
        self.assertEqual(problems(err, "good.conf"), [])

    def test_check_broken_lists_every_problem(self):
        path = self.file("broken.conf", BROKEN)
        code, out, err = run(["-t", "-c", path])
        self.assertEqual(code, 1, "exit code; stderr:\n" + err)
        self.assertEqual(problems(err, "broken.conf"), BROKEN_LINES,
                         "want one FILE:LINE: message per problem; stderr:\n" + err)
        self.assertIn(path, err, "the file is not named as given")

    def test_check_list_problems(self):
        # -t reads the lists too: a bad line is named with its line number...
        self.file("good.ip4set", "45.10.20.30 :127.0.0.3:ok\nnot an address\n")
        code, out, err = run(["-t", "-c", self.file("good.conf", GOOD)])
        self.assertEqual(code, 1, err)
        self.assertEqual(problems(err, "good.ip4set"), [2], err)
        # ...and a missing list is named.
        os.unlink(os.path.join(self.dir, "good.ip4set"))
        code, out, err = run(["-t", "-c", os.path.join(self.dir, "good.conf")])
        self.assertEqual(code, 1, err)
        self.assertIn("good.ip4set", err)

    def test_check_missing_file(self):
        path = os.path.join(self.dir, "absent.conf")
        code, out, err = run(["-t", "-c", path])
        self.assertNotEqual(code, 0)
        self.assertIn("absent.conf", err)

    # -- -l, -d ------------------------------------------------------------------

    def test_listen_option_replaces_configured(self):
        p2 = free_port()
        d = self.daemon(args=["-l", "127.0.0.1:%d" % p2], wait=False)
        self.assertNotEqual(p2, d.port)
        self.assertTrue(wait_answering(p2, proc=d.proc), "no answer on the -l port:\n"
                        + d.stderr())
        self.assertFalse(udp_answers(d.port), "answers on the configured port")
        self.assertTrue(tcp_refused(d.port), "TCP open on the configured port")

    def test_two_listen_options(self):
        p2, p3 = free_port(), free_port()
        d = self.daemon(args=["-l", "127.0.0.1:%d" % p2, "-l", "127.0.0.1:%d" % p3],
                        wait=False)
        self.assertTrue(wait_answering(p2, proc=d.proc), d.stderr())
        self.assertTrue(wait_answering(p3, proc=d.proc), d.stderr())
        for p in (p2, p3):
            raw = exchange(p, wire_query(ZONE, "SOA", qid=7), tcp=True, timeout=2.0)
            self.assertIsNotNone(raw, "no TCP answer on %d" % p)
        self.assertFalse(udp_answers(d.port), "answers on the configured port")

    def test_listen_ipv6(self):
        p6 = v6_free_port()
        if p6 is None:
            self.skipTest("::1 cannot be bound here")
        d = self.daemon(args=["-l", "[::1]:%d" % p6], wait=False)
        self.assertTrue(wait_answering(p6, host="::1", proc=d.proc), d.stderr())
        raw = exchange(p6, wire_query(ZONE, "SOA", qid=9), tcp=True, timeout=2.0,
                       host="::1")
        self.assertIsNotNone(raw, "no TCP answer on [::1]")
        self.assertFalse(udp_answers(d.port), "answers on the configured port")

    def test_database_option(self):
        db = os.path.join(self.dir, "other.sqlite")
        d = self.daemon(args=["-d", db])
        self.assertEqual(d.stop(), 0)
        self.assertTrue(os.path.exists(db), "-d file not created")
        self.assertFalse(os.path.exists(d.db), "the configured database was used")

    # -- signals, start-up failures ------------------------------------------------

    def test_sigterm_exits_0(self):
        d = self.daemon()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(10), 0, d.stderr())

    def test_sigint_exits_0(self):
        d = self.daemon()
        d.signal(signal.SIGINT)
        self.assertEqual(d.proc.wait(10), 0, d.stderr())

    def test_missing_list_fails_start(self):
        d = self.daemon(BASE_ZONE + "static = {dir}/nowhere.ip4set\n", wait=False)
        try:
            code = d.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("threatbld runs with an unreadable static list")
        self.assertNotEqual(code, 0)
        self.assertIn("nowhere.ip4set", d.stderr())
        self.assertFalse(udp_answers(d.port))

    def test_unreadable_list_fails_start(self):
        # A list that exists but cannot be read: a directory (even root cannot read
        # one as a file), and a mode 000 file when not root.
        tmp = tempfile.mkdtemp(prefix="threatbl-test-")
        os.mkdir(os.path.join(tmp, "locked.ip4set"))
        if os.geteuid() != 0:
            os.rmdir(os.path.join(tmp, "locked.ip4set"))
            path = os.path.join(tmp, "locked.ip4set")
            with open(path, "w") as f:
                f.write(LIST)
            os.chmod(path, 0)
        d = self.daemon(BASE_ZONE + "static = {dir}/locked.ip4set\n", wait=False,
                        tmpdir=tmp)
        try:
            code = d.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("threatbld runs with an unreadable static list")
        self.assertNotEqual(code, 0)
        self.assertIn("locked.ip4set", d.stderr())

if __name__ == "__main__":
    tbltest.main()

"""Black-box: a fleet of threatbld behind one name (doc/dns.md#the-soa-serial,
doc/dns.md#server-identity).

Two daemons started a second apart with the same zones and lists answer the same SOA
serial; a list changed on one of them changes its serial (and a reload with nothing
changed keeps it); serial = time and a fixed serial keep their meaning. [server]
identity is answered to CH TXT id.server / hostname.bind and to NSID, checked with dig
itself (+nsid) as an operator would; without it both are REFUSED or absent, and a
client outside allow-query learns nothing. Bad identities are configuration errors.
"""
import os
import re
import signal
import socket
import subprocess
import time
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass

import tbltest
from tbltest import Daemon, BASE_ZONE, rev4, a_values, wait_for

LIST = "192.0.2.0/24 :127.0.0.10:listed by the fleet\n"
LISTED = "192.0.2.44"
CONF = BASE_ZONE + "static = {dir}/fleet.ip4set\n"


def server_section(extra=""):
    return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = debug\n"
            + extra)


def serial(d):
    r = d.query(tbltest.ZONE, "SOA")
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    return r.answer[0][0].serial


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def reloads(d):
    return len(re.findall(r"reloaded: ", d.stderr()))


def sighup_and_wait(case, d):
    """SIGHUP, and wait for the reload's log line; returns the serial it logged."""
    before = reloads(d)
    d.signal(signal.SIGHUP)
    case.assertTrue(wait_for(lambda: reloads(d) > before, 10), d.stderr())
    return int(re.findall(r"reloaded: \d+ zone\(s\), serial (\d+)", d.stderr())[-1])


def dig(d, *args, source=None):
    cmd = ["dig", "@127.0.0.1", "-p", str(d.port), "+time=5", "+tries=2"]
    if source:
        cmd += ["-b", source]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=20)
    return out.stdout


def ch_query(d, name, rdtype="TXT", tcp=False, nsid=False, source=None):
    opts = [dns.edns.GenericOption(dns.edns.NSID, b"")] if nsid else None
    q = dns.message.make_query(name, rdtype, rdclass=dns.rdataclass.CH,
                               use_edns=0 if nsid else -1, options=opts)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=d.port, timeout=2, source=source)
    return dns.query.udp(q, "127.0.0.1", port=d.port, timeout=2, source=source)


def nsid_of(resp):
    for o in resp.options:
        if o.otype == dns.edns.NSID:
            return o.data if hasattr(o, "data") else o.to_wire()
    return None


class Serial(unittest.TestCase):
    def setUp(self):
        self.ds = []

    def tearDown(self):
        for d in self.ds:
            d.cleanup()

    def start(self, conf=CONF, files=None, extra=""):
        d = Daemon(server_section(extra) + conf, files=files or {"fleet.ip4set": LIST})
        self.ds.append(d)
        return d

    def test_same_content_same_serial(self):
        a = self.start(extra="identity = node-a\n")
        time.sleep(1.2)
        # Another directory, port, database and identity: only the zones and lists
        # are alike.
        b = self.start(extra="identity = node-b\n")
        sa, sb = serial(a), serial(b)
        self.assertEqual(sa, sb)
        self.assertNotAlmostEqual(sa, time.time(), delta=3600,
                                  msg="the serial is not the load time")
        self.assertEqual(a.query(rev4(LISTED)).rcode(), dns.rcode.NOERROR)

        # A reload with nothing changed keeps it.
        self.assertEqual(sighup_and_wait(self, b), sb)
        self.assertEqual(serial(b), sb)

        # b's list changes: b's serial changes (the watcher reloads it), a's does not.
        write(os.path.join(b.dir, "fleet.ip4set"), LIST + "198.51.100.7\n")
        self.assertTrue(wait_for(lambda: serial(b) != sb, 10), b.stderr())
        self.assertEqual(b.query(rev4("198.51.100.7")).rcode(), dns.rcode.NOERROR)
        self.assertEqual(serial(a), sa)
        changed = serial(b)
        # The same change on a: the two agree again.
        write(os.path.join(a.dir, "fleet.ip4set"), LIST + "198.51.100.7\n")
        self.assertTrue(wait_for(lambda: serial(a) == changed, 10), a.stderr())
        # And back to the first list: the first serial.
        write(os.path.join(b.dir, "fleet.ip4set"), LIST)
        self.assertEqual(sighup_and_wait(self, b), sa)
        self.assertEqual(serial(b), sa)

    def test_zone_setting_changes_serial(self):
        a = self.start()
        s = serial(a)
        with open(a.conf) as f:
            text = f.read()
        write(a.conf, text.replace("negative-ttl = 120", "negative-ttl = 121"))
        self.assertNotEqual(sighup_and_wait(self, a), s)
        self.assertNotEqual(serial(a), s)

    def test_time_and_fixed(self):
        t0 = int(time.time())
        a = self.start(extra="serial = time\n")
        s = serial(a)
        self.assertTrue(t0 - 2 <= s <= int(time.time()) + 2, s)
        self.assertGreater(sighup_and_wait(self, a), s, "time: raised on each reload")
        self.assertGreater(serial(a), s)

        b = self.start(extra="serial = 2026120301\n")
        self.assertEqual(serial(b), 2026120301)
        write(os.path.join(b.dir, "fleet.ip4set"), LIST + "198.51.100.7\n")
        self.assertEqual(sighup_and_wait(self, b), 2026120301)
        self.assertEqual(serial(b), 2026120301, "fixed: the operator's number")

    def test_unreadable_list_on_reload(self):
        a = self.start()
        s = serial(a)
        path = os.path.join(a.dir, "fleet.ip4set")
        os.unlink(path)
        os.mkfifo(path)
        before = a.stderr().count("reload failed")
        a.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: a.stderr().count("reload failed") > before, 10),
                        a.stderr())
        self.assertEqual(serial(a), s, "the old zones, the old serial")
        self.assertEqual(a.query(rev4(LISTED)).rcode(), dns.rcode.NOERROR)


class Identity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(server_section("identity = ns-%h.fra\n"
                                      "allow-query = 127.0.0.1 ::1\n") + CONF,
                       files={"fleet.ip4set": LIST})
        cls.want = "ns-%s.fra" % socket.gethostname()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop_and_cleanup()

    def test_dig_ch_txt(self):
        for name in ("id.server", "hostname.bind", "ID.SERVER"):
            for tcp in ([], ["+tcp"]):
                out = dig(self.d, "+short", *tcp, "CH", "TXT", name)
                self.assertEqual(out.strip(), '"%s"' % self.want, (name, tcp, out))

    def test_ch_answer(self):
        for tcp in (False, True):
            r = ch_query(self.d, "id.server", tcp=tcp)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertEqual(len(r.answer), 1)
            rr = r.answer[0]
            self.assertEqual(rr.rdclass, dns.rdataclass.CH)
            self.assertEqual(rr.ttl, 0)
            self.assertEqual([s.decode() for s in rr[0].strings], [self.want])
            self.assertFalse(r.flags & dns.flags.AA)

    def test_version_not_told(self):
        for name in ("version.server", "version.bind", "authors.bind"):
            r = ch_query(self.d, name)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED, name)
            self.assertEqual(r.answer, [])
        r = ch_query(self.d, "id.server", rdtype="A")
        self.assertEqual(r.rcode(), dns.rcode.REFUSED)

    def test_dig_nsid(self):
        for tcp in ([], ["+tcp"]):
            out = dig(self.d, "+nsid", *tcp, rev4(LISTED), "A")
            self.assertIn('("%s")' % self.want, out, out)
            self.assertIn("127.0.0.10", out)
            self.assertIn("status: NOERROR", out)
        out = dig(self.d, rev4(LISTED), "A")
        self.assertNotIn("NSID", out)

    def test_nsid_with_ch(self):
        r = ch_query(self.d, "hostname.bind", nsid=True)
        self.assertEqual(nsid_of(r), self.want.encode())
        self.assertEqual(r.answer[0][0].strings, (self.want.encode(),))

    def test_outside_allow_query(self):
        """127.0.0.5 is not in allow-query: REFUSED, no identity, no NSID."""
        out = dig(self.d, "+nsid", "CH", "TXT", "id.server", source="127.0.0.5")
        self.assertIn("status: REFUSED", out)
        self.assertNotIn(self.want, out)
        out = dig(self.d, "+nsid", rev4(LISTED), "A", source="127.0.0.5")
        self.assertIn("status: REFUSED", out)
        self.assertNotIn("NSID", out)


class NoIdentity(unittest.TestCase):
    def test_refused_and_absent(self):
        d = Daemon(server_section() + CONF, files={"fleet.ip4set": LIST})
        try:
            for name in ("id.server", "hostname.bind"):
                self.assertIn("status: REFUSED", dig(d, "CH", "TXT", name))
            out = dig(d, "+nsid", rev4(LISTED), "A")
            self.assertIn("status: NOERROR", out)
            self.assertIn("127.0.0.10", out)
            self.assertNotIn("NSID", out)
            # Set on reload: answered from then on, and the serial stays (the
            # identity is not content).
            s = serial(d)
            with open(d.conf) as f:
                text = f.read()
            write(d.conf, text.replace("[server]\n", "[server]\nidentity = late\n", 1))
            self.assertEqual(sighup_and_wait(self, d), s)
            self.assertEqual(dig(d, "+short", "CH", "TXT", "id.server").strip(), '"late"')
        finally:
            d.stop_and_cleanup()


class BadIdentity(unittest.TestCase):
    def check(self, extra, want):
        d = Daemon(server_section(extra) + BASE_ZONE, wait=False)
        try:
            out = subprocess.run([tbltest.THREATBLD, "-t", "-c", d.conf],
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn(want, out.stderr)
        finally:
            d.cleanup()

    def test_bad_values(self):
        self.check("identity = 50%\n", ":5: identity: '%' must be followed by h")
        self.check("identity = a\x01b\n", ":5: identity: byte 2 (0x01) is not printable")
        self.check("serial = soon\n", ":5: serial: 'soon' is not content, time or a "
                   "serial number")

    def test_bad_identity_on_reload_keeps_the_old(self):
        d = Daemon(server_section("identity = first\n") + BASE_ZONE)
        try:
            with open(d.conf) as f:
                text = f.read()
            write(d.conf, text.replace("identity = first", "identity = 100%"))
            before = d.stderr().count("reload failed")
            d.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: d.stderr().count("reload failed") > before,
                                     10), d.stderr())
            self.assertEqual(dig(d, "+short", "CH", "TXT", "id.server").strip(),
                             '"first"')
        finally:
            d.stop_and_cleanup()


if __name__ == "__main__":
    tbltest.main()

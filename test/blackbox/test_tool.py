"""Black-box: the command-line tool `threatbl` (doc/configuration.md#the-threatbl-tool, tools/threatbl.1).

lookup (plain and --json, listed, unlisted and mixed IPs, IPv6, the RFC 5782 test
entry, bad IPs, a server that does not answer), check-mail (each verdict, the
X-Threatbl: line, --add-header keeping the message byte for byte, stdin and files,
CRLF and mbox messages, --trusted, garbage, a message over the 64 MiB in-memory cap)
and db (show, list, list -c, purge, init, exit codes, a missing file that must not be
created, and all of it while a running threatbld holds the database).

A threatbld with static lists and no Criminal IP answers the lookups; the databases are
made by `threatbl db init` and filled with Python's sqlite3.
"""
import calendar
import json
import os
import re
import random
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import tbltest
from tbltest import (Daemon, BASE_ZONE, ZONE, THREATBL, free_port, rev4, rev6, a_values,
                     txt_values)

CATS = ("vpn", "openvpn443", "hosting", "tor", "proxy", "scanner")
MASK = {c: 1 << i for i, c in enumerate(CATS)}

VPN_IP = "188.214.106.93"        # vpn
OVPN_IP = "45.10.20.3"           # openvpn443
HOSTING_IP = "45.10.20.4"        # hosting
PROXY_IP6 = "2a01:4f8:c0c:1::5"  # proxy
CLEAN_IP = "81.2.69.160"
CLEAN_IP2 = "93.184.216.34"
CLEAN_IP6 = "2a00:1450:4001:80b::200e"
PROBED_IP = "45.10.20.5"         # hosting, openvpn443 found by threatbl's probe

LIST4 = """# the tool's tests
%s :127.0.0.2:VPN exit node $
%s :127.0.0.3:OpenVPN served on tcp/443 at $
%s :127.0.0.4:Hosting $
""" % (VPN_IP, OVPN_IP, HOSTING_IP)
LIST6 = "%s :127.0.0.6:Open proxy $\n" % PROXY_IP6

CONF = """[server]
listen = 127.0.0.1:{port}
listen = [::1]:{port}
database = {db}
log-level = debug
""" + BASE_ZONE + """static = {dir}/tool.ip4set
static = {dir}/tool.ip6trie
"""
FILES = {"tool.ip4set": LIST4, "tool.ip6trie": LIST6}

D = None


def setUpModule():
    global D
    D = Daemon(CONF, files=FILES)


def tearDownModule():
    if D is not None:
        D.cleanup()


def run(args, input=None, timeout=60):
    """threatbl args; a CompletedProcess with bytes stdout and stderr."""
    return subprocess.run([THREATBL] + list(args), input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def server():
    return "127.0.0.1:%d" % D.port


def lookup(*args):
    return run(["lookup", "-s", server(), "-z", ZONE] + list(args))


def check_mail(*args, input=None):
    return run(["check-mail", "-s", server(), "-z", ZONE] + list(args), input=input)


def out(r):
    return r.stdout.decode("utf-8", "replace")


def err(r):
    return r.stderr.decode("utf-8", "replace")


def closed_port():
    """A UDP and TCP port on 127.0.0.1 where nothing listens."""
    return free_port()


class Lookup(unittest.TestCase):
    def test_listed_plain(self):
        r = lookup(VPN_IP)
        self.assertEqual(r.returncode, 1, err(r))
        self.assertIn("%s: listed in %s as vpn" % (VPN_IP, ZONE), out(r))
        self.assertIn('"VPN exit node %s"' % VPN_IP, out(r))

    def test_unlisted_plain(self):
        r = lookup(CLEAN_IP)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(out(r), "%s: not listed in %s\n" % (CLEAN_IP, ZONE))
        self.assertEqual(err(r), "")

    def test_mixed_plain(self):
        r = lookup(CLEAN_IP, OVPN_IP, CLEAN_IP2)
        self.assertEqual(r.returncode, 1, err(r))
        lines = out(r).splitlines()
        self.assertEqual(lines[0], "%s: not listed in %s" % (CLEAN_IP, ZONE))
        self.assertEqual(lines[1], "%s: listed in %s as openvpn443" % (OVPN_IP, ZONE))
        self.assertEqual(lines[2], '  "OpenVPN served on tcp/443 at %s"' % OVPN_IP)
        self.assertEqual(lines[3], "%s: not listed in %s" % (CLEAN_IP2, ZONE))

    def test_json(self):
        r = lookup("--json", CLEAN_IP, VPN_IP, "127.0.0.2", PROXY_IP6)
        self.assertEqual(r.returncode, 1, err(r))
        data = json.loads(out(r))
        self.assertEqual([d["ip"] for d in data], [CLEAN_IP, VPN_IP, "127.0.0.2", PROXY_IP6])
        self.assertEqual(data[0], {"ip": CLEAN_IP, "listed": False, "categories": [],
                                   "codes": [], "txt": []})
        self.assertEqual(data[1], {"ip": VPN_IP, "listed": True, "categories": ["vpn"],
                                   "codes": ["127.0.0.2"],
                                   "txt": ["VPN exit node %s" % VPN_IP]})
        # The RFC 5782 test entry: every category, in category order.
        self.assertTrue(data[2]["listed"])
        self.assertEqual(data[2]["categories"], list(CATS))
        self.assertEqual(data[2]["codes"], ["127.0.0.%d" % i for i in range(2, 8)])
        self.assertEqual(len(data[2]["txt"]), 6)
        self.assertEqual(data[3]["categories"], ["proxy"])
        self.assertEqual(data[3]["txt"], ["Open proxy %s" % PROXY_IP6])

    def test_json_clean_exit_0(self):
        r = lookup("--json", CLEAN_IP, CLEAN_IP6)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual([d["listed"] for d in json.loads(out(r))], [False, False])

    def test_ipv6(self):
        r = lookup(PROXY_IP6)
        self.assertEqual(r.returncode, 1, err(r))
        self.assertIn("%s: listed in %s as proxy" % (PROXY_IP6, ZONE), out(r))
        r = lookup(CLEAN_IP6)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertIn("%s: not listed" % CLEAN_IP6, out(r))
        # Written the long way, or bracketed as in mail: the same IP.
        r = lookup("[2a01:04f8:0c0c:0001:0000:0000:0000:0005]")
        self.assertEqual(r.returncode, 1, err(r))
        self.assertIn("%s: listed" % PROXY_IP6, out(r))

    def test_server_over_ipv6_and_by_name(self):
        r = run(["lookup", "-s", "[::1]:%d" % D.port, "-z", ZONE, VPN_IP])
        self.assertEqual(r.returncode, 1, err(r))
        r = run(["lookup", "-s", "localhost:%d" % D.port, "-z", ZONE, VPN_IP])
        self.assertEqual(r.returncode, 1, err(r))
        self.assertIn("listed in %s as vpn" % ZONE, out(r))

    def test_bad_ip_exit_2(self):
        for bad in ("1.2.3", "300.1.1.1", "example.org", "", "01.2.3.4", "1.2.3.4/32"):
            r = lookup(bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("is not an IP address", err(r))
        # An error wins over a listed IP (like grep); the good IP is still answered.
        r = lookup(VPN_IP, "bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("listed in %s as vpn" % ZONE, out(r))
        r = lookup("--json", "bogus", VPN_IP)
        self.assertEqual(r.returncode, 2)
        data = json.loads(out(r))
        self.assertEqual(data[0], {"ip": "bogus", "listed": None,
                                   "error": "not an IP address"})
        self.assertTrue(data[1]["listed"])

    def test_server_not_answering_exit_2(self):
        port = closed_port()
        t = time.monotonic()
        r = run(["lookup", "-s", "127.0.0.1:%d" % port, "-z", ZONE, VPN_IP, CLEAN_IP,
                 CLEAN_IP2])
        took = time.monotonic() - t
        self.assertEqual(r.returncode, 2)
        self.assertIn("%s: no answer" % VPN_IP, err(r))
        self.assertIn("%s: not asked: the server did not answer" % CLEAN_IP2, err(r))
        self.assertEqual(out(r), "")
        # One timeout, not one per IP.
        self.assertLess(took, 8.0)

    def test_refused_zone_exit_2(self):
        r = run(["lookup", "-s", server(), "-z", "other.test", VPN_IP])
        self.assertEqual(r.returncode, 2)
        self.assertIn("REFUSED", err(r))
        self.assertEqual(out(r), "")

    def test_usage_errors(self):
        for args in (["lookup", "-s", server(), VPN_IP],            # no zone
                     ["lookup", "-s", server(), "-z", ZONE],        # no IP
                     ["lookup", "-s", "not a server", "-z", ZONE, VPN_IP],
                     ["lookup", "-s", "127.0.0.1:99999", "-z", ZONE, VPN_IP],
                     ["lookup", "-s", server(), "-z", ZONE, "--add-header", VPN_IP],
                     ["lookup", "-s", server(), "-z", ZONE, "--bogus", VPN_IP],
                     ["frobnicate"], []):
            r = run(args)
            self.assertEqual(r.returncode, 2, args)
            self.assertNotEqual(err(r), "", args)
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("check-mail", out(r))
        r = run(["-V"])
        self.assertEqual(r.returncode, 0)
        self.assertTrue(out(r).startswith("threatbl "))


def message(*headers, body="Hello,\n\nthe invoice.\n", eol="\n"):
    lines = list(headers) + ["From: Bob <bob@bigmail.example>", "To: alice@example.net",
                             "Subject: the invoice", ""]
    return (eol.join(lines) + eol + body.replace("\n", eol)).encode()


LISTED_ORIG = message(
    "Received: from smtp-out.bigmail.example (smtp-out.bigmail.example [%s])" % CLEAN_IP2,
    "\tby mx.example.net (Postfix) with ESMTPS id 4dKq2T0xYzz1Q",
    "Received: from webmail.bigmail.example (webmail.bigmail.example [10.12.0.7])",
    "\tby smtp-out.bigmail.example with HTTP",
    "X-Originating-IP: [%s]" % VPN_IP)

CLEAN = message(
    "Received: from smtp-out.bigmail.example (smtp-out.bigmail.example [%s])" % CLEAN_IP2,
    "\tby mx.example.net (Postfix) with ESMTPS id 4dKq4W2cDez3S",
    "X-Originating-IP: %s" % CLEAN_IP)

LISTED_RELAY6 = message(
    "Received: from shop.example ([IPv6:%s])" % PROXY_IP6,
    " by mx.example.net (Postfix) with ESMTP id 4dKq3V1bCdz2R",
    "X-Originating-IP: [%s]" % CLEAN_IP)

# The topmost hop is the site's own relay, in a hosting network.
OWN_RELAY = message(
    "Received: from relay.example.net (relay.example.net [%s])" % HOSTING_IP,
    "\tby mailstore.example.net (Postfix) with ESMTP id 1",
    "Received: from client.example (client.example [%s])" % CLEAN_IP2,
    "\tby relay.example.net (Postfix) with ESMTP id 2")

NO_IPS = message("Received: by mailstore.example.net (Postfix, from userid 1000)")


class CheckMail(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="threatbl-tool-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def file(self, data, name="msg.eml"):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_listed_originating_ip(self):
        want = ("X-Threatbl: listed ip=%s source=X-Originating-IP categories=vpn zone=%s"
                % (VPN_IP, ZONE))
        for r in (check_mail(self.file(LISTED_ORIG)), check_mail(input=LISTED_ORIG),
                  check_mail("-", input=LISTED_ORIG)):
            self.assertEqual(r.returncode, 1, err(r))
            lines = out(r).splitlines()
            self.assertEqual(lines[-1], want)
            self.assertIn("X-Originating-IP %s: listed in %s as vpn" % (VPN_IP, ZONE), lines)
            self.assertIn('  "VPN exit node %s"' % VPN_IP, lines)
            self.assertIn("Received %s: not listed in %s" % (CLEAN_IP2, ZONE), lines)
            self.assertNotIn("10.12.0.7", out(r))

    def test_clean(self):
        r = check_mail(self.file(CLEAN))
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(out(r).splitlines(), [
            "X-Originating-IP %s: not listed in %s" % (CLEAN_IP, ZONE),
            "Received %s: not listed in %s" % (CLEAN_IP2, ZONE),
            "X-Threatbl: clean checked=2 zone=%s" % ZONE])

    def test_listed_relay_ipv6(self):
        r = check_mail(input=LISTED_RELAY6)
        self.assertEqual(r.returncode, 1, err(r))
        self.assertIn("X-Threatbl: listed ip=%s source=Received categories=proxy zone=%s"
                      % (PROXY_IP6, ZONE), out(r))

    def test_no_ips(self):
        for data in (NO_IPS, b"", b"\n\n", b"just a body line\n"):
            r = check_mail(input=data)
            self.assertEqual(r.returncode, 0, (data, err(r)))
            self.assertEqual(out(r), "X-Threatbl: clean checked=0 zone=%s\n" % ZONE)

    def test_add_header_keeps_the_message(self):
        for data, code, head in (
                (LISTED_ORIG, 1, "X-Threatbl: listed ip=%s source=X-Originating-IP "
                 "categories=vpn zone=%s" % (VPN_IP, ZONE)),
                (CLEAN, 0, "X-Threatbl: clean checked=2 zone=%s" % ZONE),
                (NO_IPS, 0, "X-Threatbl: clean checked=0 zone=%s" % ZONE)):
            for r in (check_mail("--add-header", input=data),
                      check_mail("--add-header", self.file(data))):
                self.assertEqual(r.returncode, code, err(r))
                self.assertEqual(r.stdout, head.encode() + b"\n" + data)
                # The report goes to stderr, the message alone to stdout.
                self.assertIn(head, err(r))

    def test_add_header_crlf_and_mbox(self):
        crlf = message("X-Originating-IP: [%s]" % VPN_IP, eol="\r\n")
        r = check_mail("--add-header", input=crlf)
        self.assertEqual(r.returncode, 1, err(r))
        head, _, rest = r.stdout.partition(b"\r\n")
        self.assertTrue(head.startswith(b"X-Threatbl: listed ip=%s" % VPN_IP.encode()))
        self.assertEqual(rest, crlf)
        mbox = b"From bob@bigmail.example Thu Nov 26 09:14:02 2026\n" + LISTED_ORIG
        r = check_mail("--add-header", input=mbox)
        self.assertEqual(r.returncode, 1, err(r))
        lines = r.stdout.split(b"\n", 2)
        self.assertEqual(lines[0], mbox.split(b"\n")[0])
        self.assertTrue(lines[1].startswith(b"X-Threatbl: listed ip=%s" % VPN_IP.encode()))
        self.assertEqual(lines[2], LISTED_ORIG)

    def test_json(self):
        r = check_mail("--json", input=LISTED_ORIG)
        self.assertEqual(r.returncode, 1, err(r))
        data = json.loads(out(r))
        self.assertEqual([(d["ip"], d["source"], d["listed"]) for d in data["ips"]],
                         [(VPN_IP, "X-Originating-IP", True),
                          (CLEAN_IP2, "Received", False)])
        self.assertEqual(data["ips"][0]["categories"], ["vpn"])
        self.assertTrue(data["header"].startswith("X-Threatbl: listed ip=%s" % VPN_IP))
        # With --add-header the JSON report goes to stderr.
        r = check_mail("--json", "--add-header", input=CLEAN)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(json.loads(err(r))["header"],
                         "X-Threatbl: clean checked=2 zone=%s" % ZONE)

    def test_trusted(self):
        r = check_mail(input=OWN_RELAY)
        self.assertEqual(r.returncode, 1, err(r))
        self.assertIn("listed ip=%s source=Received categories=hosting" % HOSTING_IP, out(r))
        r = check_mail("--trusted", "1", input=OWN_RELAY)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertNotIn(HOSTING_IP, out(r))
        self.assertIn("X-Threatbl: clean checked=1", out(r))
        r = check_mail("--trusted", "2", input=OWN_RELAY)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertIn("X-Threatbl: clean checked=0", out(r))
        # The originating headers are read whatever --trusted says.
        r = check_mail("--trusted", "5", input=LISTED_ORIG)
        self.assertEqual(r.returncode, 1, err(r))
        for bad in ("-1", "x", "", "1001", "1x"):
            r = check_mail("--trusted", bad, input=CLEAN)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--trusted", err(r))

    def test_server_down(self):
        port = closed_port()
        base = ["check-mail", "-s", "127.0.0.1:%d" % port, "-z", ZONE]
        r = run(base, input=CLEAN)
        self.assertEqual(r.returncode, 2)
        self.assertIn("X-Threatbl: unknown checked=2 zone=%s" % ZONE, out(r))
        # As a filter: the message is never lost.
        r = run(base + ["--add-header"], input=LISTED_ORIG)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, b"X-Threatbl: unknown checked=2 zone=%s\n" % ZONE.encode()
                         + LISTED_ORIG)
        r = run(["check-mail", "-s", "bad server", "-z", ZONE, "--add-header"], input=CLEAN)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, b"X-Threatbl: unknown checked=0 zone=%s\n" % ZONE.encode()
                         + CLEAN)

    def test_errors(self):
        r = check_mail(os.path.join(self.dir, "missing.eml"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.eml", err(r))
        r = check_mail(self.file(CLEAN, "a"), self.file(CLEAN, "b"))
        self.assertEqual(r.returncode, 2)
        r = check_mail(self.dir)  # a directory: a read error
        self.assertEqual(r.returncode, 2)
        self.assertIn("Is a directory", err(r))
        r = run(["check-mail", "-s", server(), "-z", "bl.test\nX-Evil: 1"], input=CLEAN)
        self.assertEqual(r.returncode, 2)

    def test_garbage(self):
        rnd = random.Random(20261128)
        samples = [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 5000)))
                   for _ in range(20)]
        samples += [LISTED_ORIG.replace(b"\n", b"\0"), b"\0" * 1000, b"\xff\xfe" * 3000,
                    b"X-Originating-IP: [" + b"1" * 100000 + b"]\n\n",
                    b"Received: from " + b"(" * 50000 + b"\n\n",
                    LISTED_ORIG[:len(LISTED_ORIG) // 2]]
        for data in samples:
            r = check_mail("--add-header", input=data)
            self.assertIn(r.returncode, (0, 1), err(r))
            head, _, rest = r.stdout.partition(b"\n")
            self.assertTrue(head.startswith(b"X-Threatbl: "), head[:100])
            self.assertEqual(rest, data)
        # NUL bytes inside the header block do not hide what follows them.
        data = b"X-Originating-IP: \0[" + VPN_IP.encode() + b"]\nSubject: \0\0\n\nbody\0\n"
        r = check_mail(input=data)
        self.assertEqual(r.returncode, 1, err(r))

    def test_over_the_memory_cap(self):
        # 64 MiB are kept in memory; the rest of a larger message is copied through.
        body = b"x" * 1023 + b"\n"
        data = LISTED_ORIG + body * (65 * 1024)
        self.assertGreater(len(data), 64 << 20)
        r = check_mail("--add-header", input=data)
        self.assertEqual(r.returncode, 1, err(r)[-500:])
        self.assertIn("larger than 64 MiB", err(r))
        head, _, rest = r.stdout.partition(b"\n")
        self.assertTrue(head.startswith(b"X-Threatbl: listed ip=%s" % VPN_IP.encode()))
        self.assertEqual(len(rest), len(data))
        self.assertTrue(rest == data)
        r = check_mail(self.file(data))
        self.assertEqual(r.returncode, 1, err(r)[-500:])


def key(ip):
    """The 16-byte key of ipaddr.h: IPv4 as ::ffff:a.b.c.d."""
    import ipaddress
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return b"\0" * 10 + b"\xff\xff" + a.packed
    return a.packed


def put(db, ip, cats=(), flags=0, source="criminalip", facts=None, checked=None,
        probe=None, probed=None):
    now = int(time.time())
    mask = 0
    for c in cats:
        mask |= MASK[c]
    db.execute("INSERT OR REPLACE INTO verdicts (ip, ip_text, family, mask, flags,"
               " checked, source, facts, created, updated, probe, probed)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (key(ip), ip, 6 if ":" in ip else 4, mask, flags,
                now if checked is None else checked, source, facts, now, now,
                probe, probed))


def make_db(path, rows):
    """A database made by the tool itself (`threatbl db init`: store.c's schema, no
    copy of it here), then rows written with Python's sqlite3."""
    r = run(["db", "-d", path, "init"])
    if r.returncode != 0:
        raise RuntimeError("threatbl db init %s: %s" % (path, err(r)))
    db = sqlite3.connect(path)
    for row in rows:
        put(db, *row[:2], **(row[2] if len(row) > 2 else {}))
    db.commit()
    db.close()


ROWS = [
    (VPN_IP, ("vpn",), {"facts": '{"is_vpn":true}'}),
    (OVPN_IP, ("vpn", "openvpn443")),
    (CLEAN_IP, ()),
    (PROBED_IP, ("hosting", "openvpn443"),
     {"flags": 2, "probe": "confirmed", "probed": 1700000200}),  # VERDICT_F_PROBED
    (PROXY_IP6, ("proxy",)),
    ("5.45.207.1", (), {"flags": 1}),   # VERDICT_F_UNKNOWN
]


def db_rows(path):
    db = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in db.execute("SELECT ip_text FROM verdicts"))
    finally:
        db.close()


class Db(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="threatbl-tool-db-")
        self.db = os.path.join(self.dir, "verdicts.sqlite")
        make_db(self.db, ROWS)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def tool(self, *args):
        return run(["db", "-d", self.db] + list(args))

    def test_show(self):
        r = self.tool("show", VPN_IP)
        self.assertEqual(r.returncode, 1, err(r))
        f = out(r).rstrip("\n").split("\t")
        self.assertEqual(f[0], VPN_IP)
        self.assertEqual(f[1], "vpn")
        # ISO 8601 UTC, as every time the tool prints
        checked = calendar.timegm(time.strptime(f[2], "%Y-%m-%dT%H:%M:%SZ"))
        self.assertLess(abs(checked - time.time()), 60)
        self.assertEqual(f[3:], ["criminalip", '{"is_vpn":true}'])
        r = self.tool("show", OVPN_IP)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(out(r).split("\t")[1], "vpn,openvpn443")
        r = self.tool("show", PROBED_IP)
        self.assertEqual(r.returncode, 1, err(r))
        f = out(r).rstrip("\n").split("\t")
        self.assertEqual(f[1], "openvpn443,hosting")
        self.assertEqual(f[5], "probe confirmed 2023-11-14T22:16:40Z")  # 1700000200
        r = self.tool("show", CLEAN_IP)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(out(r).split("\t")[1], "clean")
        r = self.tool("show", "5.45.207.1")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(out(r).split("\t")[1], "unknown")
        r = self.tool("show", "[2a01:04f8:c0c:1:0::5]")
        self.assertEqual(r.returncode, 1, err(r))
        self.assertTrue(out(r).startswith(PROXY_IP6 + "\tproxy\t"))
        r = self.tool("show", CLEAN_IP2)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(out(r), "%s: no verdict\n" % CLEAN_IP2)
        r = self.tool("show", CLEAN_IP, VPN_IP)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(out(r).splitlines()), 2)
        r = self.tool("show", "bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not an IP address", err(r))
        r = self.tool("show")
        self.assertEqual(r.returncode, 2)

    def test_list(self):
        r = self.tool("list")
        self.assertEqual(r.returncode, 1, err(r))
        lines = out(r).splitlines()
        self.assertEqual(lines[0], "# ip\tcategories\tchecked\tsource\tfacts")
        self.assertEqual(sorted(line.split("\t")[0] for line in lines[1:]),
                         sorted(row[0] for row in ROWS))
        r = self.tool("list", "-c", "vpn")
        self.assertEqual(r.returncode, 1, err(r))
        self.assertEqual(sorted(line.split("\t")[0] for line in out(r).splitlines()[1:]),
                         sorted([VPN_IP, OVPN_IP]))
        r = self.tool("list", "-c", "proxy")
        self.assertEqual([line.split("\t")[0] for line in out(r).splitlines()[1:]],
                         [PROXY_IP6])
        r = self.tool("list", "-c", "tor")
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(out(r).splitlines()[1:], [])
        for bad in (["list", "-c", "bogus"], ["list", "extra"], ["list", "-x"],
                    ["frobnicate"]):
            r = self.tool(*bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertEqual(out(r), "", bad)

    def test_list_clean_only(self):
        os.unlink(self.db)
        make_db(self.db, [(CLEAN_IP, ()), ("5.45.207.1", (), {"flags": 1})])
        r = self.tool("list")
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(len(out(r).splitlines()), 3)

    def test_control_characters_kept_on_one_line(self):
        db = sqlite3.connect(self.db)
        put(db, CLEAN_IP2, ("tor",), source="odd\nsource", facts="a\tb")
        db.commit()
        db.close()
        r = self.tool("show", CLEAN_IP2)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(out(r).count("\n"), 1)
        self.assertEqual(out(r).split("\t")[3:], ["odd?source", "a?b\n"])

    def test_purge(self):
        r = self.tool("purge", VPN_IP, PROXY_IP6)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(out(r), "%s: purged\n%s: purged\n" % (VPN_IP, PROXY_IP6))
        self.assertEqual(db_rows(self.db),
                         sorted([OVPN_IP, CLEAN_IP, PROBED_IP, "5.45.207.1"]))
        r = self.tool("purge", VPN_IP)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(out(r), "%s: no verdict\n" % VPN_IP)
        # the command line is checked whole: a bad argument purges nothing
        r = self.tool("purge", "bogus", CLEAN_IP)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(db_rows(self.db), sorted([OVPN_IP, CLEAN_IP, PROBED_IP,
                                                   "5.45.207.1"]))
        r = self.tool("purge", CLEAN_IP)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(db_rows(self.db), sorted([OVPN_IP, PROBED_IP, "5.45.207.1"]))
        r = self.tool("purge")
        self.assertEqual(r.returncode, 2)

    def test_missing_file_not_created(self):
        path = os.path.join(self.dir, "typo.sqlite")
        for args in (["show", VPN_IP], ["list"], ["purge", VPN_IP]):
            r = run(["db", "-d", path] + args)
            self.assertEqual(r.returncode, 2)
            self.assertIn("typo.sqlite", err(r))
        self.assertEqual(sorted(os.listdir(self.dir)), ["verdicts.sqlite"])
        r = run(["db", "list"])
        self.assertEqual(r.returncode, 2)

    def test_init(self):
        path = os.path.join(self.dir, "new.sqlite")
        r = run(["db", "-d", path, "init"])
        self.assertEqual(r.returncode, 0, err(r))
        m = re.fullmatch(r"(.*): created \(schema version (\d+)\)\n", out(r))
        self.assertTrue(m, out(r))
        self.assertEqual(m.group(1), path)
        con = sqlite3.connect(path)
        try:
            self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0],
                             int(m.group(2)))
            self.assertGreaterEqual(int(m.group(2)), 3, "verdicts, the daily budget, probes")
            self.assertEqual(con.execute("SELECT count(*) FROM verdicts").fetchone()[0], 0)
        finally:
            con.close()
        r = run(["db", "-d", path, "list"])
        self.assertEqual((r.returncode, out(r)), (0, "# ip\tcategories\tchecked\tsource"
                                                    "\tfacts\n"), err(r))
        # An existing database is left alone, rows and all.
        r = self.tool("init")
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists", err(r))
        self.assertEqual(db_rows(self.db), sorted(row[0] for row in ROWS))
        for args in (["init", "extra"], ["-d", os.path.join(self.dir, "no", "x"), "init"]):
            r = run(["db"] + (args if args[0] == "-d" else ["-d", path + "2"] + args))
            self.assertEqual(r.returncode, 2, args)
        self.assertEqual(sorted(os.listdir(self.dir)), ["new.sqlite", "verdicts.sqlite"])

    def test_not_a_database(self):
        path = os.path.join(self.dir, "notes.txt")
        with open(path, "w") as f:
            f.write("these are not verdicts\n" * 100)
        r = run(["db", "-d", path, "list"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(path, err(r))
        with open(path) as f:
            self.assertEqual(f.read(), "these are not verdicts\n" * 100)

    def test_locked_database(self):
        # A writer holds the lock for a second: the tool waits for it.
        db = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN IMMEDIATE")
        threading.Timer(1.0, lambda: db.execute("COMMIT")).start()
        r = self.tool("purge", VPN_IP)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertNotIn(VPN_IP, db_rows(self.db))
        # Held for longer than the tool waits: an error, not a hang.
        db.execute("BEGIN IMMEDIATE")
        try:
            t = time.monotonic()
            r = self.tool("purge", OVPN_IP)
            self.assertEqual(r.returncode, 2)
            self.assertIn("%s: " % OVPN_IP, err(r))
            self.assertLess(time.monotonic() - t, 15)
            # Readers are not blocked by a writer (WAL).
            r = self.tool("show", OVPN_IP)
            self.assertEqual(r.returncode, 1, err(r))
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertIn(OVPN_IP, db_rows(self.db))


class DbExport(unittest.TestCase):
    """export --format rbldnsd|rbldnsd6|zone|json and import of the JSON lines
    (doc/operations.md#managing-verdicts)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="threatbl-tool-export-")
        self.db = os.path.join(self.dir, "verdicts.sqlite")
        make_db(self.db, ROWS)
        r = run(["db", "-d", self.db, "--offline", "add", "192.0.2.0/24", "scanner",
                 "--reason", "operator: scans"])
        self.assertEqual(r.returncode, 0, err(r))
        r = run(["db", "-d", self.db, "--offline", "allow", OVPN_IP])
        self.assertEqual(r.returncode, 0, err(r))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def export(self, *args, db=None):
        r = run(["db", "-d", db or self.db, "export"] + list(args))
        self.assertEqual(r.returncode, 0, err(r))
        return out(r)

    def serve(self, lists):
        """A daemon serving lists ({file name: text}) as its zone's static lists."""
        conf = ("[server]\nlisten = 127.0.0.1:{port}\ncontrol = {control}\n"
                "database = {dir}/served.sqlite\n" + BASE_ZONE)
        for name, text in lists.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
            conf += "static = {dir}/%s\n" % name
        return Daemon(conf, tmpdir=self.dir)

    def test_help(self):
        for args in (["db", "--help"], ["db", "help"], ["db", "-h"]):
            r = run(args)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("export --format rbldnsd", out(r))
            self.assertIn("recheck IP", out(r))
            self.assertEqual(err(r), "")
        r = run(["db"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", err(r))

    def test_rbldnsd_loads_as_a_static_list(self):
        text = self.export("--format", "rbldnsd")
        lines = [l for l in text.splitlines() if l and not l.startswith("#")]
        self.assertIn("%s :127.0.0.2:threatbl: vpn" % VPN_IP, lines)
        self.assertIn("!%s" % OVPN_IP, lines, "an allow is an exclusion")
        self.assertIn("192.0.2.0/24 :127.0.0.7:operator: scans", lines)
        self.assertNotIn(CLEAN_IP, text)
        self.assertNotIn("5.45.207.1", text, "unknown: not listed")
        self.assertNotIn(PROXY_IP6, text, "IPv6 is rbldnsd6's")
        six = self.export("--format", "rbldnsd6")
        self.assertIn("%s :127.0.0.6:threatbl: proxy" % PROXY_IP6, six)
        # threatbl itself reads it as an rbldnsd dataset (lists.c)
        d = self.serve({"export.ip4set": text, "export.ip6trie": six})
        try:
            self.assertEqual(a_values(d.query(rev4(VPN_IP))), ["127.0.0.2"])
            self.assertEqual(a_values(d.query(rev4("192.0.2.77"))), ["127.0.0.7"])
            self.assertEqual(a_values(d.query(rev4(OVPN_IP))), [])
            self.assertEqual(a_values(d.query(rev6(PROXY_IP6))), ["127.0.0.6"])
            self.assertNotIn("warning", d.stderr().split("ready")[0].lower())
        finally:
            d.stop()

    def test_reasons_exported_as_written(self):
        """A reason holding what a dataset or a zone file reads as syntax ('$', "$5",
        quotes, a backslash, ';', '#') is loaded back as the text it was."""
        reason = 'costs $5 "per" \\month; #1 $ at end $'
        r = run(["db", "-d", self.db, "--offline", "add", "198.51.100.9", "proxy",
                 "--reason", reason])
        self.assertEqual(r.returncode, 0, err(r))
        text = self.export("--format", "rbldnsd")
        self.assertIn("198.51.100.9/32 :127.0.0.6:costs $$5", text)
        d = self.serve({"export.ip4set": text})
        try:
            self.assertEqual(txt_values(d.query(rev4("198.51.100.9"), "TXT")), [reason])
        finally:
            d.stop()
        import dns.zone
        z = dns.zone.from_text(self.export("--format", "zone", "--zone", "bl.example.org"),
                               origin="bl.example.org.", relativize=False)
        node = z.get_node("9.100.51.198.bl.example.org.")
        txt = node.get_rdataset(1, dns.rdatatype.TXT)
        self.assertEqual([b"".join(x.strings).decode() for x in txt], [reason])

    def test_zone_file(self):
        import dns.zone
        text = self.export("--format", "zone", "--zone", "bl.example.org")
        z = dns.zone.from_text(text, origin="bl.example.org.", relativize=False)
        def rr(name, t):
            node = z.get_node(name + ".bl.example.org.")
            s = node.get_rdataset(1, dns.rdatatype.from_text(t)) if node else None
            return sorted(x.to_text() for x in s) if s else []
        rev = ".".join(reversed(VPN_IP.split(".")))
        self.assertEqual(rr(rev, "A"), ["127.0.0.2"])
        self.assertEqual(rr(rev, "TXT"), ['"threatbl: vpn"'])
        self.assertEqual(rr(".".join(reversed(PROBED_IP.split("."))), "A"),
                         ["127.0.0.3", "127.0.0.4"])
        self.assertEqual(rr(".".join(reversed(OVPN_IP.split("."))), "A"), [], "allowed")
        self.assertEqual(rr("2.0.0.127", "A"), ["127.0.0.2"], "RFC 5782 test entry")
        import ipaddress
        rev6name = ipaddress.ip_address(PROXY_IP6).reverse_pointer[:-len(".ip6.arpa")]
        self.assertEqual(rr(rev6name, "A"), ["127.0.0.6"])
        for bad in (["--format", "zone"], ["--format", "json", "--zone", "x"],
                    ["--format", "csv"], [], ["--format", "zone", "--zone", "a b"]):
            r = run(["db", "-d", self.db, "export"] + bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertEqual(out(r), "", bad)

    def test_json_round_trip(self):
        text = self.export("--format", "json")
        objs = [json.loads(l) for l in text.splitlines()]
        verdicts = [o for o in objs if "ip" in o]
        overrides = [o for o in objs if "override" in o]
        self.assertEqual(sorted(o["ip"] for o in verdicts), sorted(r[0] for r in ROWS))
        self.assertEqual(len(overrides), 2)
        probed = [o for o in verdicts if o["ip"] == PROBED_IP][0]
        self.assertEqual(probed["probe"], {"result": "confirmed",
                                           "when": "2023-11-14T22:16:40Z"})
        self.assertEqual(probed["flags"], ["probed"])
        self.assertRegex(probed["checked"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        vpn = [o for o in verdicts if o["ip"] == VPN_IP][0]
        self.assertEqual(vpn["facts"], {"is_vpn": True})
        # into a new database and out again: the same
        new = os.path.join(self.dir, "new.sqlite")
        self.assertEqual(run(["db", "-d", new, "init"]).returncode, 0)
        path = os.path.join(self.dir, "export.json")
        with open(path, "w") as f:
            f.write(text)
        r = run(["db", "-d", new, "import", path])
        self.assertEqual(r.returncode, 0, err(r))
        self.assertIn("imported %d verdict(s) and 2 override(s)" % len(ROWS), out(r))
        self.assertEqual(self.export("--format", "json", db=new), text)
        # stdin too
        r = run(["db", "-d", new, "import", "-"], input=text.encode())
        self.assertEqual(r.returncode, 0, err(r))

    def test_import_refuses_bad_lines_whole(self):
        new = os.path.join(self.dir, "new.sqlite")
        self.assertEqual(run(["db", "-d", new, "init"]).returncode, 0)
        good = {"ip": "192.0.2.1", "categories": ["vpn"], "flags": [],
                "checked": "2026-12-03T17:30:00Z"}
        bad = [
            ("not json", "not a JSON object"),
            (json.dumps(dict(good, ip="300.1.1.1")), "ip"),
            (json.dumps(dict(good, categories=["spam"])), "unknown category"),
            (json.dumps(dict(good, checked="yesterday")), "ISO 8601"),
            (json.dumps(dict(good, checked=1700000000)), "ISO 8601"),
            (json.dumps(dict(good, flags=["weird"])), "unknown flag"),
            (json.dumps(dict(good, source="a\nb")), "source"),
            (json.dumps(dict(good, probe={"result": "maybe", "when": good["checked"]})),
             "probe"),
            (json.dumps({"override": "add", "prefix": "192.0.2.0/24", "category": "vpn",
                         "reason": "x" * 201, "created": good["checked"]}), "too long"),
            (json.dumps({"override": "deny", "prefix": "192.0.2.0/24",
                         "created": good["checked"]}), "override"),
        ]
        for line, msg in bad:
            text = json.dumps(good) + "\n" + line + "\n"
            r = run(["db", "-d", new, "import", "-"], input=text.encode())
            self.assertEqual(r.returncode, 2, line)
            self.assertIn("line 2: ", err(r), line)
            self.assertIn(msg, err(r), line)
            self.assertIn("nothing imported", err(r))
            self.assertEqual(db_rows(new), [], "the good line was not applied either")
        r = run(["db", "-d", new, "import", os.path.join(self.dir, "missing.json")])
        self.assertEqual(r.returncode, 2)
        r = run(["db", "-d", new, "import", "-"], input=(json.dumps(good) + "\n").encode())
        self.assertEqual(r.returncode, 0, err(r))
        self.assertEqual(db_rows(new), ["192.0.2.1"])


class DbWhileServing(unittest.TestCase):
    """The database of a running threatbld: it loaded the rows at start and its
    writer thread holds the file open."""

    def test_db_while_the_daemon_runs(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-tool-live-")
        db = os.path.join(tmp, "verdicts.sqlite")
        make_db(db, [(CLEAN_IP2, ("tor",)), (CLEAN_IP6, ("scanner",))])
        d = None
        try:
            d = Daemon(CONF, files=FILES, tmpdir=tmp)
            self.assertEqual(d.db, db)
            srv = "127.0.0.1:%d" % d.port
            # The daemon answers from the verdicts it loaded.
            self.assertEqual(a_values(d.query(rev4(CLEAN_IP2))), ["127.0.0.5"])
            r = run(["lookup", "-s", srv, "-z", ZONE, CLEAN_IP2, CLEAN_IP6])
            self.assertEqual(r.returncode, 1, err(r))
            self.assertIn("%s: listed in %s as tor" % (CLEAN_IP2, ZONE), out(r))
            self.assertIn("%s: listed in %s as scanner" % (CLEAN_IP6, ZONE), out(r))
            r = run(["db", "-d", db, "list"])
            self.assertEqual(r.returncode, 1, err(r))
            self.assertEqual(len(out(r).splitlines()), 3)
            # A row written meanwhile (another writer) is seen by the tool.
            con = sqlite3.connect(db, timeout=10)
            put(con, CLEAN_IP, ("hosting",))
            con.commit()
            con.close()
            r = run(["db", "-d", db, "show", CLEAN_IP])
            self.assertEqual(r.returncode, 1, err(r))
            self.assertIn("\thosting\t", out(r))
            r = run(["db", "-d", db, "list", "-c", "tor"])
            self.assertEqual(out(r).splitlines()[1:][0].split("\t")[:2], [CLEAN_IP2, "tor"])
            # Purge while it runs: gone from the file at once ...
            r = run(["db", "-d", db, "purge", CLEAN_IP2])
            self.assertEqual(r.returncode, 0, err(r))
            self.assertEqual(out(r), "%s: purged\n" % CLEAN_IP2)
            self.assertNotIn(CLEAN_IP2, db_rows(db))
            r = run(["db", "-d", db, "show", CLEAN_IP2])
            self.assertEqual(out(r), "%s: no verdict\n" % CLEAN_IP2)
            # ... still answered from the daemon's memory (tools/threatbl.1) ...
            r = run(["lookup", "-s", srv, "-z", ZONE, CLEAN_IP2])
            self.assertEqual(r.returncode, 1, err(r))
            self.assertTrue(d.proc.poll() is None, d.stderr())
            # ... and the server stops cleanly and comes back without it.
            self.assertEqual(d.stop(), 0, d.stderr())
            d = Daemon(CONF, files=FILES, tmpdir=tmp)
            srv = "127.0.0.1:%d" % d.port
            r = run(["lookup", "-s", srv, "-z", ZONE, CLEAN_IP2, CLEAN_IP6, CLEAN_IP])
            self.assertEqual(out(r).splitlines(), [
                "%s: not listed in %s" % (CLEAN_IP2, ZONE),
                "%s: listed in %s as scanner" % (CLEAN_IP6, ZONE),
                '  "Scanner or attack source"',
                "%s: listed in %s as hosting" % (CLEAN_IP, ZONE),
                '  "Hosting or cloud network"'])
            self.assertEqual(r.returncode, 1, err(r))
        finally:
            if d is not None:
                d.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)



FIXTURES = os.path.join(os.environ.get("TOP_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "test", "fixtures")


class Classify(unittest.TestCase):
    """`threatbl classify FILE|-`: a saved report judged by hand, each category with
    the evidence behind it (field and value) and the facts the daemon would store."""

    def classify(self, *args, input=None):
        r = run(("classify",) + args, input=input)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def lines(self, out):
        return [tuple(l.split("\t", 1)) for l in out.splitlines()]

    def test_example(self):
        rc, out, err = self.classify(os.path.join(FIXTURES, "criminalip_example.json"))
        self.assertEqual(rc, 1, err)
        got = self.lines(out)
        self.assertEqual(got[0], ("categories", "vpn,openvpn443,hosting"))
        for line in (("vpn", "issues.is_vpn=true"), ("vpn", "issues.is_anonymous_vpn=true"),
                     ("vpn", "vpn block vpn_name=privateinternetaccess"),
                     ("openvpn443", "port tcp/443 app_name=OpenVPN 2022-10-09 11:02:07"),
                     ("hosting", "issues.is_hosting=true")):
            self.assertIn(line, got)
        facts = dict(got)["facts"]
        self.assertEqual(json.loads(facts)["vpn"], "privateinternetaccess")

    def test_shapes(self):
        cases = {
            "shape_tags.json": ("vpn,hosting,scanner", ("scanner", "tags.is_scanner=true")),
            "shape_text_numbers.json": ("openvpn443,scanner",
                                        ("scanner", "score.inbound=Critical")),
            "shape_ip_category.json": ("hosting,proxy", ("proxy", "ip_category type=proxy "
                                                         "confirmed_time=2024-03-01 10:20:30")),
        }
        for name, (cats, line) in cases.items():
            with self.subTest(name=name):
                rc, out, err = self.classify("--max-stale", "3650d",
                                             os.path.join(FIXTURES, name))
                self.assertEqual(rc, 1, err)
                got = self.lines(out)
                self.assertEqual(got[0], ("categories", cats))
                self.assertIn(line, got)

    def test_stdin_and_stale(self):
        with open(os.path.join(FIXTURES, "shape_ip_category.json"), "rb") as f:
            doc = f.read()
        rc, out, err = self.classify("--max-stale", "1d", "-", input=doc)
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.lines(out)[0], ("categories", "hosting"),
                         "a proxy entry older than max-stale does not count")

    def test_clean_and_no_verdict(self):
        rc, out, _ = self.classify("-", input=b'{"status":200,"issues":{"is_vpn":false}}')
        self.assertEqual((rc, self.lines(out)[0]), (0, ("categories", "clean")))
        rc, out, err = self.classify("-", input=b'{"status":200}')
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("no verdict", err)
        rc, _, err = self.classify("--ip", "203.0.113.5", "-",
                                   input=b'{"status":200,"ip":"203.0.113.6","port":{}}')
        self.assertEqual(rc, 2)
        self.assertIn("another address", err)
        rc, _, err = self.classify(os.path.join(FIXTURES, "no-such-file.json"))
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    tbltest.main()

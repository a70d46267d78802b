"""Black-box: the DNS answers of doc/dns.md#the-answer-rules, every row, over UDP and over TCP.

One threatbld serves three zones with no Criminal IP (provider none): IPs without a
static entry are clean. Listed IPs come from static lists in the test directory and
from the RFC 5782 test entry 2.0.0.127. Raw wire messages are used wherever dnspython
would normalise what is checked (the question's case, header flags, counts, opcodes).
"""
import ipaddress
import random
import socket
import struct
import unittest

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype

import tbltest
from tbltest import (Daemon, rev4, rev6, a_values, txt_values, wire_question,
                     wire_query, exchange, tcp_read_message)

Z1 = "bl.test"             # default codes, '$' templates, IPv4 and IPv6 lists
Z2 = "dnsbl.example.net"   # other codes, tor off, clean = 127.0.0.9
Z3 = "big.test"            # 200- and 300-byte TXT templates

# Zone one's IPv4 list: one entry per code, '$' and '$$' in the texts.
LIST4 = """# zone one, IPv4
45.10.20.2 :127.0.0.2:Two $
45.10.20.3 :127.0.0.3:Three $ costs $$3
45.10.20.4 :127.0.0.4:$ is four
45.10.20.5 :127.0.0.5:Five $$$ at $
45.10.20.6 :127.0.0.6:Six
45.10.20.7 :127.0.0.7:Seven $$
45.10.21.0/24 :127.0.0.4:Net $
!45.10.21.7
9.8.7.6 :127.0.0.2:Digits $
"""
LISTED4 = {
    "45.10.20.2": ("127.0.0.2", "Two 45.10.20.2"),
    "45.10.20.3": ("127.0.0.3", "Three 45.10.20.3 costs $3"),
    "45.10.20.4": ("127.0.0.4", "45.10.20.4 is four"),
    "45.10.20.5": ("127.0.0.5", "Five $45.10.20.5 at 45.10.20.5"),
    "45.10.20.6": ("127.0.0.6", "Six"),
    "45.10.20.7": ("127.0.0.7", "Seven $"),
    "45.10.21.99": ("127.0.0.4", "Net 45.10.21.99"),
    "9.8.7.6": ("127.0.0.2", "Digits 9.8.7.6"),  # its name is also 4 nibbles
}

LIST6 = """# zone one, IPv6
2a01:4f8:c0c:1::/64 :127.0.0.4:Hosting $
2a01:4f8:c0c:1::5 :127.0.0.6:Proxy $
!2a01:4f8:c0c:1::9
"""
LISTED6 = {
    "2a01:4f8:c0c:1::1": ("127.0.0.4", "Hosting %s"),
    "2a01:4f8:c0c:1::5": ("127.0.0.6", "Proxy %s"),
}

LIST4_Z2 = """45.10.20.2 :127.0.1.20:Zone two lists $
"""

# The six templates of big.test: 200 bytes each, the scanner one 300 (cut to 255).
# A configuration line holds at most 199 characters, so each template is written on
# two lines: an indented line continues the value, joined with one space.
BIG_PARTS = [(c * 99, c * 100) for c in "ABCDE"] + [("F" * 150, "G" * 149)]
BIG = ["%s %s" % p for p in BIG_PARTS]

CONF = """
[zone bl.test]
soa = ns1.bl.test. hostmaster.bl.test. 3600 600 604800 300
ns = ns1.bl.test. ns2.bl.test.
ttl = 300
negative-ttl = 120
unknown-ttl = 30
vpn = 127.0.0.2 VPN exit node $, see https://bl.test/ip/$
static = {dir}/one.ip4set
static = {dir}/one.ip6trie

[zone dnsbl.example.net]
soa = a.ns.example.net. dnsadmin.example.net. 7200 900 1209600 600
ns = a.ns.example.net.
ttl = 600
negative-ttl = 60
vpn = 127.0.1.2 Zone two vpn
openvpn443 = 127.0.1.3 Zone two openvpn443
hosting = 127.0.1.4 Zone two hosting
tor =
proxy = 127.0.1.6 Zone two proxy
scanner = 127.0.1.7 Zone two scanner $$
clean = 127.0.0.9
static = {dir}/two.ip4set
"""

# A server of its own, so that a problem with long values fails only its tests.
CONF_BIG = """
[zone big.test]
soa = ns.big.test. admin.big.test. 3600 600 604800 300
ns = ns.big.test.
ttl = 300
negative-ttl = 120
vpn = 127.0.0.2 %s
  %s
openvpn443 = 127.0.0.3 %s
  %s
hosting = 127.0.0.4 %s
  %s
tor = 127.0.0.5 %s
  %s
proxy = 127.0.0.6 %s
  %s
scanner = 127.0.0.7 %s
  %s
""" % tuple(x for p in BIG_PARTS for x in p)

ZINFO = {
    Z1: dict(ttl=300, neg=120, mname="ns1.bl.test.", rname="hostmaster.bl.test.",
             times=(3600, 600, 604800, 300), ns={"ns1.bl.test.", "ns2.bl.test."}),
    Z2: dict(ttl=600, neg=60, mname="a.ns.example.net.", rname="dnsadmin.example.net.",
             times=(7200, 900, 1209600, 600), ns={"a.ns.example.net."}),
    Z3: dict(ttl=300, neg=120, mname="ns.big.test.", rname="admin.big.test.",
             times=(3600, 600, 604800, 300), ns={"ns.big.test."}),
}

# What the RFC 5782 test entry answers in each zone, in category order.
TEST_A = {
    Z1: ["127.0.0.%d" % i for i in range(2, 8)],
    Z2: ["127.0.1.2", "127.0.1.3", "127.0.1.4", "127.0.1.6", "127.0.1.7"],
}
TEST_TXT = {
    Z1: ["VPN exit node %s, see https://bl.test/ip/%s", "OpenVPN served on tcp/443",
         "Hosting or cloud network", "Tor exit node", "Open proxy",
         "Scanner or attack source"],
    Z2: ["Zone two vpn", "Zone two openvpn443", "Zone two hosting", "Zone two proxy",
         "Zone two scanner $"],
}

D = None
BIG_D = []  # [Daemon] or [the exception it failed with]


def setUpModule():
    global D
    D = Daemon(CONF, files={"one.ip4set": LIST4, "one.ip6trie": LIST6,
                            "two.ip4set": LIST4_Z2})


def tearDownModule():
    if D is not None:
        D.cleanup()
    if BIG_D and isinstance(BIG_D[0], Daemon):
        BIG_D[0].cleanup()


def big_port():
    """The port of the big.test server, started on first use."""
    if not BIG_D:
        d = Daemon(CONF_BIG, wait=False)
        try:
            d.wait_ready()
            BIG_D.append(d)
        except Exception as e:
            d.cleanup()
            BIG_D.append(e)
    if not isinstance(BIG_D[0], Daemon):
        raise BIG_D[0]
    return BIG_D[0].port


def port_for(name):
    """big.test is served by its own server."""
    n = name.lower().rstrip(".")
    return big_port() if n == Z3 or n.endswith("." + Z3) else D.port


def v6_forms(ip):
    """The ways '$' may print an IPv6 address."""
    a = ipaddress.IPv6Address(ip)
    out = {a.compressed, a.exploded}
    if a.ipv4_mapped is not None:
        out |= {"::ffff:%s" % a.ipv4_mapped, str(a.ipv4_mapped)}
    return out


def rrsets(section, rdtype):
    t = dns.rdatatype.from_text(rdtype)
    return [rs for rs in section if rs.rdtype == t]


def ordered_a(msg):
    """A addresses in wire order."""
    return [rr.address for rs in rrsets(msg.answer, "A") for rr in rs]


def ordered_txt(msg):
    return [b"".join(rr.strings).decode("latin-1") for rs in rrsets(msg.answer, "TXT")
            for rr in rs]


class Answers:
    """The checks, run once over UDP and once over TCP (the subclasses below)."""
    TCP = False

    # -- sending and the checks every answer gets ---------------------------------

    def send(self, sent, timeout=2.0, port=None):
        return exchange(port or D.port, sent, tcp=self.TCP, timeout=timeout)

    def ask(self, name, rdtype="A", rdclass="IN", rd=True, edns=None, edns_version=0,
            opcode=0):
        """Send a raw query; check the header and the echoed question; parsed answer."""
        qid = random.randrange(65536)
        sent = wire_query(name, rdtype, rdclass, qid=qid, flags=0x0100 if rd else 0,
                          opcode=opcode, edns=edns, edns_version=edns_version)
        raw = self.send(sent, port=port_for(name))
        self.assertIsNotNone(raw, "no answer to %s %s %s" % (name, rdclass, rdtype))
        self.check_header(raw, sent, "%s %s %s" % (name, rdclass, rdtype))
        r = dns.message.from_wire(raw)
        for rs in r.answer:
            self.assertEqual(rs.name, r.question[0].name, "owner of %s" % rs)
        return r

    def check_header(self, raw, sent, what):
        self.assertGreaterEqual(len(raw), 12, what)
        self.assertEqual(raw[:2], sent[:2], "%s: ID not echoed" % what)
        flags = struct.unpack(">H", raw[2:4])[0]
        self.assertTrue(flags & 0x8000, "%s: QR not set" % what)
        self.assertFalse(flags & 0x0080, "%s: RA set" % what)
        self.assertEqual((flags >> 11) & 0xf, (sent[2] >> 3) & 0xf,
                         "%s: opcode not echoed" % what)
        # The question, byte for byte (0x20 case included).
        qlen = len(sent) - 12 - (11 if sent[11] else 0)
        if (sent[2] >> 3) & 0xf:
            return  # NOTIMP: the question of another opcode need not come back
        self.assertEqual(struct.unpack(">H", raw[4:6])[0], 1, "%s: QDCOUNT" % what)
        self.assertEqual(raw[12:12 + qlen], sent[12:12 + qlen],
                         "%s: question not echoed byte for byte" % what)

    def assert_positive(self, msg, zone, a=None, txt=None, what=""):
        """NOERROR, AA, the A and/or TXT records given (None = that type absent),
        TTL = the zone's ttl."""
        self.assertEqual(msg.rcode(), dns.rcode.NOERROR, what)
        self.assertTrue(msg.flags & dns.flags.AA, "%s: AA not set" % what)
        for rs in msg.answer:
            self.assertEqual(rs.ttl, ZINFO[zone]["ttl"], "%s: TTL of %s" % (what, rs))
        if a is None:
            self.assertEqual(a_values(msg), [], what)
        else:
            self.assertEqual(a_values(msg), sorted(a), what)
        if txt is None:
            self.assertEqual(txt_values(msg), [], what)
        else:
            self.assertEqual(txt_values(msg), sorted(txt), what)

    def assert_negative(self, msg, zone, rcode=dns.rcode.NXDOMAIN, what=""):
        """rcode, AA, empty answer, the zone's SOA in authority with negative-ttl."""
        self.assertEqual(dns.rcode.to_text(msg.rcode()), dns.rcode.to_text(rcode), what)
        self.assertTrue(msg.flags & dns.flags.AA, "%s: AA not set" % what)
        self.assertEqual(msg.answer, [], "%s: answer not empty" % what)
        soa = rrsets(msg.authority, "SOA")
        self.assertEqual(len(soa), 1, "%s: no SOA in authority: %s" % (what, msg))
        self.assertEqual(soa[0].name, dns.name.from_text(zone), what)
        self.assertEqual(soa[0].ttl, ZINFO[zone]["neg"], "%s: SOA TTL" % what)
        self.assertEqual(soa[0][0].mname, dns.name.from_text(ZINFO[zone]["mname"]), what)

    def assert_nodata(self, msg, zone, what=""):
        self.assert_negative(msg, zone, dns.rcode.NOERROR, what)

    # -- listed addresses ---------------------------------------------------------

    def test_listed_ipv4_each_code(self):
        for ip, (a, txt) in LISTED4.items():
            name = rev4(ip, Z1)
            self.assert_positive(self.ask(name, "A"), Z1, a=[a], what=name + " A")
            self.assert_positive(self.ask(name, "TXT"), Z1, txt=[txt], what=name + " TXT")
            self.assert_positive(self.ask(name, "ANY"), Z1, a=[a], txt=[txt],
                                 what=name + " ANY")

    def test_listed_ipv4_other_types_nodata(self):
        for ip in ("45.10.20.2", "45.10.21.99"):
            for t in ("MX", "AAAA", "NS", "SOA", "PTR"):
                name = rev4(ip, Z1)
                self.assert_nodata(self.ask(name, t), Z1, name + " " + t)

    def test_exclusion_and_unlisted_nxdomain(self):
        for ip in ("45.10.21.7", "45.10.20.1", "45.10.20.8", "93.184.216.34"):
            for t in ("A", "TXT", "ANY"):
                name = rev4(ip, Z1)
                self.assert_negative(self.ask(name, t), Z1, what=name + " " + t)

    def test_listed_ipv6(self):
        for ip, (a, txt) in LISTED6.items():
            name = rev6(ip, Z1)
            self.assert_positive(self.ask(name, "A"), Z1, a=[a], what=name + " A")
            got = txt_values(self.ask(name, "TXT"))
            self.assertEqual(len(got), 1, name)
            self.assertIn(got[0], {txt % f for f in v6_forms(ip)}, name + " TXT")
            r = self.ask(name, "ANY")
            self.assertEqual(a_values(r), [a], name + " ANY")
            self.assertEqual(len(txt_values(r)), 1, name + " ANY")
            self.assert_nodata(self.ask(name, "AAAA"), Z1, name + " AAAA")
            self.assert_nodata(self.ask(name, "MX"), Z1, name + " MX")

    def test_single_digit_ipv4_unlisted(self):
        # d.c.b.a of one digit each is also 4 IPv6 nibbles, an empty non-terminal
        # above every IPv6 name that starts so ("0.0.6.2" for 2600::/16): NXDOMAIN
        # there would stop a QNAME-minimising resolver before the IPv6 name, so an
        # unlisted one is NOERROR with no records.
        for ip in ("8.8.8.8", "2.6.0.0", "1.1.1.1"):
            name = rev4(ip, Z1)
            self.assert_nodata(self.ask(name, "A"), Z1, name)

    def test_ipv6_exclusion_and_unlisted_nxdomain(self):
        for ip in ("2a01:4f8:c0c:1::9", "2a01:4f8:c0c:2::1", "2a00:1450:4001::1"):
            name = rev6(ip, Z1)
            for t in ("A", "TXT"):
                self.assert_negative(self.ask(name, t), Z1, what=name + " " + t)

    def test_zones_independent(self):
        name = rev4("45.10.20.2", Z2)
        self.assert_positive(self.ask(name, "A"), Z2, a=["127.0.1.20"], what=name)
        self.assert_positive(self.ask(name, "TXT"), Z2,
                             txt=["Zone two lists 45.10.20.2"], what=name)
        # Listed in zone one only: zone two answers it as clean.
        name = rev4("45.10.20.3", Z2)
        self.assert_positive(self.ask(name, "A"), Z2, a=["127.0.0.9"], what=name)

    # -- the RFC 5782 test entries ------------------------------------------------

    def check_test_entry(self, zone, name, forms):
        r = self.ask(name, "A")
        self.assert_positive(r, zone, a=TEST_A[zone], what=name + " A")
        self.assertEqual(ordered_a(r), TEST_A[zone], name + ": A not in category order")
        r = self.ask(name, "TXT")
        got = ordered_txt(r)
        self.assertEqual(len(got), len(TEST_TXT[zone]), "%s TXT: %s" % (name, got))
        for i, (g, want) in enumerate(zip(got, TEST_TXT[zone])):
            if "%s" in want:
                self.assertIn(g, {want % (f, f) for f in forms},
                              "%s TXT #%d (category order)" % (name, i))
            else:
                self.assertEqual(g, want, "%s TXT #%d (category order)" % (name, i))
        for rs in r.answer:
            self.assertEqual(rs.ttl, ZINFO[zone]["ttl"], name)
        r = self.ask(name, "ANY")
        self.assertEqual(a_values(r), sorted(TEST_A[zone]), name + " ANY")
        self.assertEqual(len(txt_values(r)), len(TEST_TXT[zone]), name + " ANY")
        self.assert_nodata(self.ask(name, "MX"), zone, name + " MX")
        self.assert_nodata(self.ask(name, "AAAA"), zone, name + " AAAA")

    def test_test_entry_ipv4(self):
        self.check_test_entry(Z1, rev4("127.0.0.2", Z1), {"127.0.0.2"})

    def test_test_entry_ipv6(self):
        self.check_test_entry(Z1, rev6("::ffff:7f00:2", Z1), v6_forms("::ffff:7f00:2"))

    def test_test_entry_disabled_category(self):
        # tor is switched off in zone two: five records, no 127.0.1.5 / tor text.
        self.check_test_entry(Z2, rev4("127.0.0.2", Z2), {"127.0.0.2"})
        self.check_test_entry(Z2, rev6("::ffff:7f00:2", Z2), v6_forms("::ffff:7f00:2"))

    def test_1_0_0_127_nxdomain(self):
        for zone in (Z1, Z2):
            for name in (rev4("127.0.0.1", zone), rev6("::ffff:7f00:1", zone)):
                for t in ("A", "TXT"):
                    self.assert_negative(self.ask(name, t), zone, what=name + " " + t)

    # -- clean ----------------------------------------------------------------

    def test_clean_address(self):
        for name in (rev4("93.184.216.34", Z2), rev4("45.10.21.99", Z2),
                     rev6("2a00:1450:4001::1", Z2)):
            self.assert_positive(self.ask(name, "A"), Z2, a=["127.0.0.9"], what=name)
        # The same IPs without clean = are NXDOMAIN.
        self.assert_negative(self.ask(rev4("93.184.216.34", Z1)), Z1,
                             what="93.184.216.34 in " + Z1)

    # -- empty non-terminals, the apex, other names ------------------------------

    def test_empty_non_terminals_numeric(self):
        for zone in (Z1, Z2):
            for labels in ("45", "10.45", "20.10.45", "0.0.127", "0.127", "127", "7",
                           "255.255.255", "0"):
                name = labels + "." + zone
                for t in ("A", "TXT", "NS"):
                    self.assert_nodata(self.ask(name, t), zone, name + " " + t)

    def test_empty_non_terminals_nibbles(self):
        for ip in ("2a01:4f8:c0c:1::5", "2a00:1450:4001::1", "::ffff:7f00:2"):
            nibbles = rev6(ip, Z1)[:-len(Z1) - 1].split(".")
            for k in (1, 2, 8, 16, 24, 31):
                name = ".".join(nibbles[-k:]) + "." + Z1
                self.assert_nodata(self.ask(name, "A"), Z1, name)
        self.assert_nodata(self.ask("f." + Z1, "TXT"), Z1, "f." + Z1)

    def test_apex_soa(self, zones=(Z1, Z2)):
        for zone in zones:
            info = ZINFO[zone]
            r = self.ask(zone, "SOA")
            self.assertEqual(r.rcode(), dns.rcode.NOERROR, zone)
            self.assertTrue(r.flags & dns.flags.AA, zone)
            soa = rrsets(r.answer, "SOA")
            self.assertEqual(len(soa), 1, "%s SOA: %s" % (zone, r))
            self.assertEqual(len(soa[0]), 1)
            self.assertEqual(soa[0].name, dns.name.from_text(zone))
            rr = soa[0][0]
            self.assertGreater(rr.serial, 0, zone)
            self.assertEqual(rr.mname, dns.name.from_text(info["mname"]), zone)
            self.assertEqual(rr.rname, dns.name.from_text(info["rname"]), zone)
            self.assertEqual((rr.refresh, rr.retry, rr.expire, rr.minimum),
                             info["times"], zone)

    def test_apex_ns(self, zones=(Z1, Z2)):
        for zone in zones:
            info = ZINFO[zone]
            r = self.ask(zone, "NS")
            self.assertEqual(r.rcode(), dns.rcode.NOERROR, zone)
            self.assertTrue(r.flags & dns.flags.AA, zone)
            ns = rrsets(r.answer, "NS")
            self.assertEqual(len(ns), 1, "%s NS: %s" % (zone, r))
            self.assertEqual(ns[0].name, dns.name.from_text(zone))
            self.assertEqual({rr.target.to_text() for rr in ns[0]}, info["ns"], zone)

    def test_apex_other_types_nodata(self, zones=(Z1, Z2)):
        for zone in zones:
            for t in ("A", "TXT", "MX", "AAAA", "PTR"):
                self.assert_nodata(self.ask(zone, t), zone, zone + " " + t)

    def test_apex_big_zone(self):
        self.test_apex_soa((Z3,))
        self.test_apex_ns((Z3,))
        self.test_apex_other_types_nodata((Z3,))

    def test_other_names_nxdomain(self):
        names = ["foo", "01.0.0.127", "256.0.0.1", "1.2.0.0.127", "10.2.3.4.5",
                 "foo.2.0.0.127", "2.0.0.127.foo", "x.0.127", "-1.0.0.127",
                 "0." + rev6("2a01:4f8:c0c:1::5", "").rstrip("."),   # 33 nibbles
                 "g." + ".".join(["0"] * 31), "www"]
        for zone in (Z1, Z2):
            for n in names:
                name = n + "." + zone
                for t in ("A", "TXT"):
                    self.assert_negative(self.ask(name, t), zone, what=name + " " + t)

    # -- outside the zones, RA, AA ----------------------------------------------

    def test_outside_refused(self):
        for name in ("example.com", "test", "xbl.test", "bl.test.example", "net",
                     "example.net", "2.0.0.127.example.com", "."):
            for t in ("A", "SOA", "NS"):
                r = self.ask(name, t, rd=True)
                what = name + " " + t
                self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED", what)
                self.assertFalse(r.flags & dns.flags.AA, what + ": AA set")
                self.assertFalse(r.flags & dns.flags.RA, what + ": RA set")
                self.assertEqual(r.answer, [], what)

    def test_ra_never_set_aa_in_zone(self):
        for rd in (True, False):
            for name, t in ((rev4("45.10.20.2", Z1), "A"), (rev4("45.10.20.1", Z1), "A"),
                            ("45." + Z1, "A"), (Z1, "SOA"), ("foo." + Z1, "A"),
                            (rev4("127.0.0.2", Z2), "TXT")):
                r = self.ask(name, t, rd=rd)  # ask() checks RA = 0
                self.assertTrue(r.flags & dns.flags.AA, "%s %s: AA not set" % (name, t))

    # -- header and question problems -------------------------------------------

    def test_opcodes_notimp(self):
        for op in (dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY,
                   dns.opcode.UPDATE, 3, 15):
            for name in (Z1, rev4("45.10.20.2", Z1), "example.com"):
                what = "opcode %d %s" % (op, name)
                sent = wire_query(name, "SOA", qid=0x0f00 + op, opcode=op)
                raw = self.send(sent)
                self.assertIsNotNone(raw, what + ": no answer")
                self.check_header(raw, sent, what)
                self.assertEqual(raw[3] & 0xf, dns.rcode.NOTIMP, what)

    def formerr(self, sent, what):
        raw = self.send(sent)
        self.assertIsNotNone(raw, what + ": no answer")
        self.assertEqual(raw[:2], sent[:2], what + ": ID")
        self.assertTrue(raw[2] & 0x80, what + ": QR")
        self.assertFalse(raw[3] & 0x80, what + ": RA set")
        self.assertEqual(raw[3] & 0xf, dns.rcode.FORMERR, what + ": rcode")

    def test_qdcount_formerr(self):
        q = wire_question(rev4("45.10.20.2", Z1), "A")
        self.formerr(wire_query("", qid=0x0a01, flags=0x0100, questions=[]), "QDCOUNT 0")
        self.formerr(wire_query("", qid=0x0a02, flags=0x0100, questions=[q, q]),
                     "QDCOUNT 2")
        self.formerr(wire_query("", qid=0x0a03, questions=[q, wire_question(Z1, "SOA")]),
                     "QDCOUNT 2, two names")
        # QDCOUNT 1 but the question cut short.
        full = wire_query(rev4("45.10.20.2", Z1), qid=0x0a04)
        self.formerr(full[:-3], "truncated question")

    def test_qr_set_dropped(self):
        sent = wire_query(Z1, "SOA", qid=0x0b01, flags=0x8000)
        if not self.TCP:
            self.assertIsNone(exchange(D.port, sent, timeout=0.5), "a QR=1 packet answered")
            return
        # Over TCP: the QR=1 message gets nothing; a query after it on the same
        # connection is answered (or the server closes the connection).
        good = wire_query(Z1, "SOA", qid=0x0b02)
        s = socket.create_connection(("127.0.0.1", D.port), timeout=2.0)
        try:
            s.sendall(len(sent).to_bytes(2, "big") + sent)
            s.sendall(len(good).to_bytes(2, "big") + good)
            raw = tcp_read_message(s)
            if raw is not None:
                self.assertEqual(raw[:2], good[:2], "a QR=1 message answered")
                s.settimeout(0.3)
                self.assertIsNone(tcp_read_message(s), "a QR=1 message answered")
        finally:
            s.close()

    def test_class_ch_refused(self):
        for name, t in ((Z1, "SOA"), ("version.bind", "TXT"), ("id.server", "TXT"),
                        (rev4("127.0.0.2", Z1), "A")):
            r = self.ask(name, t, rdclass="CH")
            self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED", name + " CH " + t)
            self.assertEqual(r.answer, [], name)

    # -- EDNS and sizes ----------------------------------------------------------

    def test_edns_echoed(self):
        for name, t in ((rev4("45.10.20.2", Z1), "A"), (rev4("45.10.20.1", Z1), "A"),
                        (Z1, "SOA"), ("45." + Z1, "A"), ("example.com", "A")):
            r = self.ask(name, t, edns=1232)
            self.assertEqual(r.edns, 0, "%s %s: no OPT in the answer" % (name, t))
            r = self.ask(name, t)
            self.assertEqual(r.edns, -1, "%s %s: OPT without one in the query" % (name, t))
        r = self.ask(rev4("45.10.20.2", Z1), "A", edns=1232)
        self.assert_positive(r, Z1, a=["127.0.0.2"], what="with EDNS")

    def test_edns_badvers(self):
        for name in (rev4("45.10.20.2", Z1), Z1):
            r = self.ask(name, "A", edns=1232, edns_version=1)
            self.assertEqual(dns.rcode.to_text(r.rcode()), "BADVERS", name)
            self.assertEqual(r.edns, 0, name + ": the OPT of a BADVERS answer")
            self.assertEqual(r.answer, [], name)

    def check_big_full(self, r, what):
        self.assertFalse(r.flags & dns.flags.TC, what + ": TC")
        self.assertEqual(r.rcode(), dns.rcode.NOERROR, what)
        got = [rr for rs in rrsets(r.answer, "TXT") for rr in rs]
        self.assertEqual(len(got), 6, "%s: %d TXT" % (what, len(got)))
        texts = []
        for rr in got:
            for s in rr.strings:
                self.assertLessEqual(len(s), 255, what + ": TXT string over 255 bytes")
            texts.append(b"".join(rr.strings).decode())
        for t in BIG[:5]:
            self.assertIn(t, texts, what)
        cut = [t for t in texts if t.startswith("F")]
        self.assertEqual(len(cut), 1, what)
        self.assertTrue(BIG[5].startswith(cut[0]) and len(cut[0]) >= 255,
                        "%s: the 300-byte template came out as %d bytes"
                        % (what, len(cut[0])))

    def test_txt_strings_at_most_255(self):
        # The six long TXT records pass 1232 bytes: over UDP that is TC (see
        # AnswersUDP.test_udp_answers_at_most_1232), so these run over TCP.
        name = rev4("127.0.0.2", Z3)
        tcp, self.TCP = self.TCP, True
        try:
            for t in ("TXT", "ANY"):
                self.check_big_full(self.ask(name, t, edns=4096), name + " " + t)
        finally:
            self.TCP = tcp


class AnswersUDP(Answers, unittest.TestCase):
    TCP = False

    def test_tc_without_edns(self):
        name = rev4("127.0.0.2", Z3)
        for t in ("TXT", "ANY"):
            for edns in (None, 512):
                sent = wire_query(name, t, qid=0x0c00, edns=edns)
                raw = exchange(port_for(name), sent, timeout=2.0)
                what = "%s %s edns %s" % (name, t, edns)
                self.assertIsNotNone(raw, what)
                self.check_header(raw, sent, what)
                self.assertLessEqual(len(raw), 512, what)
                self.assertTrue(raw[2] & 0x02, what + ": TC not set")
        # What fits is not truncated.
        r = self.ask(name, "A")
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(len(a_values(r)), 6)

    def test_udp_answers_at_most_1232(self):
        # RFC 6891: the payload is the smaller of the client's size and the server's,
        # and threatbld's is 1232 (no IP fragmentation; DNS flag day 2020). An answer
        # past it is TC=1 even when the client offers 4096, and complete over TCP.
        name = rev4("127.0.0.2", Z3)
        r = self.ask(name, "TXT", edns=4096)
        self.assertTrue(r.flags & dns.flags.TC, name + " EDNS 4096: TC expected")
        self.assertEqual(r.answer, [], name + ": records in a TC answer")
        self.assertEqual(r.payload, 1232, name + ": advertised UDP size")
        tcp, self.TCP = self.TCP, True
        try:
            self.check_big_full(self.ask(name, "TXT", edns=4096), name + " over TCP")
        finally:
            self.TCP = tcp


class AnswersTCP(Answers, unittest.TestCase):
    TCP = True

    def test_big_answer_in_full(self):
        name = rev4("127.0.0.2", Z3)
        for t in ("TXT", "ANY"):
            self.check_big_full(self.ask(name, t), name + " " + t + " over TCP")

    def test_axfr_ixfr_not_served(self):
        for t in ("AXFR", "IXFR"):
            for zone in (Z1, Z2):
                r = self.ask(zone, t)
                self.assertIn(dns.rcode.to_text(r.rcode()), ("NOTIMP", "REFUSED"),
                              zone + " " + t)
                self.assertEqual(r.answer, [], zone + " " + t)

    def test_two_queries_one_connection(self):
        q1 = wire_query(rev4("45.10.20.3", Z1), "A", qid=0x0d01)
        q2 = wire_query(rev4("127.0.0.2", Z2), "TXT", qid=0x0d02)
        q3 = wire_query(Z1, "SOA", qid=0x0d03)
        s = socket.create_connection(("127.0.0.1", D.port), timeout=2.0)
        try:
            # Two in one write, then a third after the answers.
            s.sendall(b"".join(len(q).to_bytes(2, "big") + q for q in (q1, q2)))
            got = {}
            for _ in range(2):
                raw = tcp_read_message(s)
                self.assertIsNotNone(raw, "answers missing on the connection")
                got[raw[:2]] = dns.message.from_wire(raw)
            self.assertEqual(set(got), {q1[:2], q2[:2]})
            self.assertEqual(a_values(got[q1[:2]]), ["127.0.0.3"])
            self.assertEqual(len(txt_values(got[q2[:2]])), 5)
            s.sendall(len(q3).to_bytes(2, "big") + q3)
            raw = tcp_read_message(s)
            self.assertIsNotNone(raw, "third query on the connection")
            self.assertEqual(raw[:2], q3[:2])
            self.assertTrue(rrsets(dns.message.from_wire(raw).answer, "SOA"))
        finally:
            s.close()


class CaseKept(unittest.TestCase):
    """0x20: the question comes back exactly as sent, whatever the answer."""

    def test_mixed_case_echoed(self):
        v6 = rev6("2a01:4f8:c0c:1::5", "bL.TeSt")
        v6 = "".join(c.upper() if i % 3 == 0 else c for i, c in enumerate(v6))
        cases = [("2.0.0.127.bL.TeSt", "A", ["127.0.0.%d" % i for i in range(2, 8)]),
                 ("2.0.0.127.Bl.tEsT", "TXT", None),
                 ("30.20.10.45.BL.TEST", "A", None),
                 ("2.20.10.45.bl.TEST", "A", ["127.0.0.2"]),
                 (v6, "A", ["127.0.0.6"]),
                 ("45.Bl.TeSt", "A", None),
                 ("FoO.bL.tEsT", "A", None),
                 ("BL.TEST", "SOA", None),
                 ("DnsBL.Example.NET", "NS", None),
                 ("ExAmPlE.CoM", "A", None)]
        for tcp in (False, True):
            for name, t, a in cases:
                sent = wire_query(name, t, qid=0x0e00, flags=0x0100)
                raw = exchange(D.port, sent, tcp=tcp, timeout=2.0)
                what = "%s %s tcp=%s" % (name, t, tcp)
                self.assertIsNotNone(raw, what)
                qlen = len(sent) - 12
                self.assertEqual(raw[12:12 + qlen], sent[12:],
                                 what + ": question not echoed byte for byte")
                if a is not None:
                    self.assertEqual(a_values(dns.message.from_wire(raw)), sorted(a), what)


if __name__ == "__main__":
    tbltest.main()

#!/usr/bin/python3
"""dns_seeds.py - write the seed corpus of fuzz_dns: one real query per answer rule of
doc/dns.md#the-answer-rules, against the zones fuzz_dns.c builds (bl.example.org and
sub.dnsbl.test). Each seed is two bytes for the harness (flags, small buffer size)
followed by the query.

    /usr/bin/python3 test/fuzz/dns_seeds.py test/fuzz/corpus/fuzz_dns
"""
import ipaddress
import os
import sys

import dns.flags
import dns.message
import dns.opcode

UDP, TCP, NOWAIT = 0, 1, 2
BIG = 255  # the small buffer is then 1207 bytes


def nibbles(ip):
    return ".".join(reversed(ipaddress.IPv6Address(ip).exploded.replace(":", "")))


def rev4(ip):
    return ".".join(reversed(ip.split(".")))


def query(name, rdtype="A", rdclass="IN", edns=-1, payload=1232, qid=0x1234):
    m = dns.message.make_query(name, rdtype, rdclass, use_edns=edns, payload=payload)
    m.id = qid
    m.flags &= ~dns.flags.RD
    return m.to_wire()


def seeds():
    Z, Y = "bl.example.org.", "sub.dnsbl.test."
    yield "v4-fresh-a", UDP, query(rev4("93.106.214.188") + "." + Z)
    yield "v4-fresh-txt", UDP, query(rev4("93.106.214.188") + "." + Z, "TXT")
    yield "v4-all-any-edns", UDP, query(rev4("9.9.9.9") + "." + Y, "ANY", edns=0)
    yield "v4-all-any-tc", UDP, query(rev4("9.9.9.9") + "." + Y, "ANY")
    yield "v4-all-any-tcp", TCP, query(rev4("9.9.9.9") + "." + Y, "ANY")
    yield "v4-listed-mx-nodata", UDP, query(rev4("93.106.214.188") + "." + Z, "MX")
    yield "v4-stale", UDP, query(rev4("188.214.106.93") + "." + Z)
    yield "v4-expired-wait", UDP, query(rev4("8.8.8.8") + "." + Z)
    yield "v4-new-nowait", NOWAIT, query(rev4("1.1.1.1") + "." + Y)
    yield "v4-unknown-servfail", UDP, query(rev4("1.2.3.4") + "." + Y)
    yield "v4-clean-answer", UDP, query(rev4("5.6.7.8") + "." + Y, "TXT")
    yield "v4-future", UDP, query(rev4("4.4.4.4") + "." + Z)
    yield "v4-reserved", UDP, query(rev4("10.1.2.3") + "." + Z)
    yield "v4-static", UDP, query(rev4("192.0.2.5") + "." + Z, "TXT")
    yield "v4-static-excl", UDP, query(rev4("192.0.2.1") + "." + Z)
    yield "v4-range", UDP, query(rev4("198.51.100.15") + "." + Z, "ANY")
    yield "v4-0x20", UDP, query("2.0.0.127.Bl.ExAmPlE.oRg.", "TXT")
    yield "v6-cached", UDP, query(nibbles("2001:4860::8888") + "." + Z, "ANY")
    yield "v6-static", UDP, query(nibbles("2001:db8:2::5") + "." + Z, "TXT")
    yield "v6-stale", UDP, query(nibbles("2a01:4f8::1") + "." + Z)
    yield "test-listed", UDP, query("2.0.0.127." + Z, "ANY", edns=0)
    yield "test-listed-v6", UDP, query(nibbles("::ffff:7f00:2") + "." + Y, "A")
    yield "test-clean", UDP, query("1.0.0.127." + Z)
    yield "test-clean-v6", UDP, query(nibbles("::ffff:7f00:1") + "." + Z)
    yield "ent-1", UDP, query("127." + Z)
    yield "ent-3", UDP, query("0.0.127." + Z)
    yield "ent-4-digits", UDP, query("4.3.2.1." + Z)
    yield "ent-nibbles-31", UDP, query(nibbles("2001:db8::1")[2:] + "." + Z)
    yield "apex-soa", UDP, query(Z, "SOA")
    yield "apex-ns", TCP, query(Z, "NS")
    yield "apex-any", UDP, query(Y, "ANY", edns=0)
    yield "apex-a-nodata", UDP, query(Z, "A")
    yield "other-name", UDP, query("www." + Z)
    yield "other-octet-256", UDP, query("256.0.0.127." + Z)
    yield "refused-outside", UDP, query("example.com.")
    yield "refused-class-ch", UDP, query("version.bind.", "TXT", "CH")
    yield "notimp-axfr", TCP, query(Z, "AXFR")
    yield "notimp-ixfr", UDP, query(Z, "IXFR")
    m = dns.message.make_query(Z, "SOA")
    m.set_opcode(dns.opcode.NOTIFY)
    yield "notimp-notify", UDP, m.to_wire()
    w = bytearray(query(Z, "SOA", edns=0))
    w[-5] = 1  # the OPT record's version byte (dnspython takes edns=1 as True)
    yield "edns-badvers", UDP, bytes(w)
    yield "edns-small", UDP, query(rev4("9.9.9.9") + "." + Y, "ANY", edns=0, payload=100)
    w = bytearray(query(Z, "SOA"))
    w[4:6] = b"\x00\x00"
    yield "formerr-qdcount-0", UDP, bytes(w[:12])
    w = bytearray(query(Z, "SOA"))
    w[4:6] = b"\x00\x02"
    yield "formerr-qdcount-2", UDP, bytes(w) + bytes(w[12:])
    yield "formerr-truncated", UDP, query(Z, "SOA")[:20]
    w = bytearray(query(Z, "SOA"))
    w[2] |= 0x80
    yield "drop-qr", UDP, bytes(w)
    yield "drop-short", UDP, query(Z, "SOA")[:11]
    yield "small-buffer", UDP, query(rev4("9.9.9.9") + "." + Y, "ANY", edns=0)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, flags, wire in seeds():
        cap = 40 if name == "small-buffer" else BIG
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags, cap]) + wire)


if __name__ == "__main__":
    main()

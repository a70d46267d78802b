"""gendata - the benchmark's data set, one for every server (test/bench/run uses it).

    /usr/bin/python3 test/bench/gendata.py OUTDIR COUNT [--seed N] [--tool PATH]

From one list of COUNT listed IPv4 addresses (and as many others that are not
listed), deterministic for a seed, it writes into OUTDIR:
    listed.ip4set     rbldnsd ip4set entries "a.b.c.d :127.0.0.X:TEXT" (also the
                      static list of threatbld)
    rbldnsd-soa       the $SOA/$NS lines that rbldnsd needs (threatbld has them in
                      its configuration; NSD in its zone file)
    nsd.zone          the same names as A and TXT records in a zone file
    verdicts.sqlite   the same IPs as cached verdicts, in threatbld's sqlite schema
                      (made by `threatbl db init`, the tool at PATH, default
                      $THREATBL or tools/threatbl: store.c's own schema, no copy)
    empty.sqlite      the same schema without rows (the memory baseline)
    a-mix.queries     dnsperf input: 50% listed, 50% not listed, all A
    txt-mix.queries   dnsperf input: the same IPs, 80% TXT and 20% A
    hits.queries      dnsperf input: listed IPs only, A (the steady load of the storm)
    meta.json         the zone, the counts and the seed

Only addresses outside the reserved ranges are used (first octets 1-223 without
10, 100, 127, 169, 172, 192, 198 and 203), so no server treats them specially.
Runs with Debian's /usr/bin/python3 and the standard library only (and the built
threatbl tool).
"""
import argparse
import json
import os
import random
import socket
import sqlite3
import struct
import subprocess
import sys
import time

ZONE = "bl.bench.test"
SOA = "ns1.bench.test. hostmaster.bench.test."
SOA_TIMES = (3600, 600, 604800, 300)
TTL = 300
NEG_TTL = 300

# Category, bit (server/verdict.h), A record, TXT template, share of the listed IPs.
CATEGORIES = (
    ("vpn", 0, "127.0.0.2", "VPN exit node: $", 30),
    ("openvpn443", 1, "127.0.0.3", "OpenVPN served on tcp/443: $", 5),
    ("hosting", 2, "127.0.0.4", "Hosting or cloud network: $", 30),
    ("tor", 3, "127.0.0.5", "Tor exit node: $", 10),
    ("proxy", 4, "127.0.0.6", "Open proxy: $", 10),
    ("scanner", 5, "127.0.0.7", "Scanner or attack source: $", 15),
)

# First octets that hold no reserved or special-purpose range.
_AVOID = {0, 10, 100, 127, 169, 172, 192, 198, 203}
FIRST_OCTETS = [o for o in range(1, 224) if o not in _AVOID]

QUERIES = 400000  # lines per query file; dnsperf goes round it again when done


def random_ips(rnd, n):
    """n distinct public IPv4 addresses as 32-bit integers, in random order."""
    seen = set()
    out = []
    while len(out) < n:
        ip = (rnd.choice(FIRST_OCTETS) << 24) | rnd.getrandbits(24)
        if ip in seen:
            continue
        seen.add(ip)
        out.append(ip)
    return out


def dotted(ip):
    return socket.inet_ntoa(struct.pack("!I", ip))


def rev_name(ip):
    a, b, c, d = dotted(ip).split(".")
    return "%s.%s.%s.%s.%s" % (d, c, b, a, ZONE)


def pick_categories(rnd, n):
    """A category index for each of n listed IPs, by the shares above."""
    weights = [c[4] for c in CATEGORIES]
    return rnd.choices(range(len(CATEGORIES)), weights=weights, k=n)


def write_rbldnsd(out, listed, cats):
    with open(os.path.join(out, "listed.ip4set"), "w") as f:
        f.write("# threatbl benchmark: %d listed addresses\n" % len(listed))
        for ip, c in zip(listed, cats):
            cat = CATEGORIES[c]
            f.write("%s :%s:%s\n" % (dotted(ip), cat[2], cat[3]))
    with open(os.path.join(out, "rbldnsd-soa"), "w") as f:
        f.write("$SOA %d %s 1 %d %d %d %d\n" % ((TTL, SOA) + SOA_TIMES))
        f.write("$NS %d ns1.bench.test.\n" % TTL)


def write_nsd_zone(out, listed, cats):
    with open(os.path.join(out, "nsd.zone"), "w") as f:
        f.write("$ORIGIN %s.\n$TTL %d\n" % (ZONE, TTL))
        f.write("@ IN SOA %s 1 %d %d %d %d\n" % ((SOA,) + SOA_TIMES))
        f.write("@ IN NS ns1.bench.test.\n")
        for ip, c in zip(listed, cats):
            cat = CATEGORIES[c]
            name = rev_name(ip)[: -len(ZONE) - 1]
            txt = cat[3].replace("$", dotted(ip))
            f.write('%s IN A %s\n%s IN TXT "%s"\n' % (name, cat[2], name, txt))


def write_sqlite(path, listed, cats, now, tool):
    """threatbld's database, created empty by `threatbl db init` (server/store.c makes
    the schema), then one row per verdict in one transaction."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    r = subprocess.run([tool, "db", "-d", path, "init"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s db -d %s init: %s" % (tool, path, r.stderr.strip()))
    db = sqlite3.connect(path)
    prefix = b"\0" * 10 + b"\xff\xff"
    rows = sorted((prefix + struct.pack("!I", ip), dotted(ip), 1 << CATEGORIES[c][1])
                  for ip, c in zip(listed, cats))
    db.executemany("INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked,"
                   " source, facts, created, updated)"
                   " VALUES (?, ?, 4, ?, 0, ?, 'criminalip', NULL, ?, ?)",
                   ((k, t, m, now, now, now) for k, t, m in rows))
    db.commit()
    db.close()


def write_queries(out, rnd, listed, clean):
    """Both mixes from one sequence of IPs: half listed, half not."""
    names = []
    for i in range(QUERIES):
        pool = listed if i % 2 == 0 else clean
        names.append(rev_name(pool[rnd.randrange(len(pool))]))
    rnd.shuffle(names)
    with open(os.path.join(out, "a-mix.queries"), "w") as f:
        for n in names:
            f.write("%s A\n" % n)
    with open(os.path.join(out, "txt-mix.queries"), "w") as f:
        for i, n in enumerate(names):
            f.write("%s %s\n" % (n, "A" if i % 5 == 0 else "TXT"))
    with open(os.path.join(out, "hits.queries"), "w") as f:
        for i in range(QUERIES // 4):
            f.write("%s A\n" % rev_name(listed[rnd.randrange(len(listed))]))


def default_tool():
    return os.environ.get("THREATBL", "tools/threatbl")


def generate(out, count, seed=1, now=None, tool=None):
    """The data set in out; tool: the threatbl executable (default_tool())."""
    tool = tool or default_tool()
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(seed)
    ips = random_ips(rnd, 2 * count)
    listed, clean = ips[:count], ips[count:]
    cats = pick_categories(rnd, count)
    write_rbldnsd(out, listed, cats)
    write_nsd_zone(out, listed, cats)
    now = int(time.time()) if now is None else now
    write_sqlite(os.path.join(out, "verdicts.sqlite"), listed, cats, now, tool)
    write_sqlite(os.path.join(out, "empty.sqlite"), [], [], now, tool)
    write_queries(out, rnd, listed, clean)
    meta = {"zone": ZONE, "count": count, "seed": seed, "queries": QUERIES,
            "generated": now}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f)
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tool", default=default_tool(),
                    help="the threatbl executable (default: $THREATBL or tools/threatbl)")
    a = ap.parse_args(argv)
    generate(a.outdir, a.count, a.seed, tool=a.tool)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""storm - the lookup storm of test/bench/run: new IPs arriving at a steady rate while
the fake Criminal IP answers slowly.

The new IPs are 10.x.y.z (a reserved range: the daemon runs with lookup-reserved =
yes), so they are in no data set. Each gets a small document of its own on the fake
(its built-in profiles: vpn, hosting, tor, proxy, scanner, clean), since the fake's
default 120 KB document takes Python milliseconds to build, too slow for 500 a second.
Each new IP is asked three times: when it arrives, again 50 ms later (while its lookup
is in flight: the two must share one API request) and 1.5 s later (answered from the
cache). Runs with Debian's /usr/bin/python3 and the standard library only.
"""
import heapq
import http.client
import json
import os
import random
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fake_criminalip  # noqa: E402  (test/fake_criminalip.py)
from tbltest import wire_query  # noqa: E402  (test/tbltest.py)

# Built-in profiles of the fake: vpn, hosting, tor, proxy, scanner, clean.
PROFILES = (10, 12, 13, 14, 15, 17, 17, 17)
ASK_AGAIN = (0.05, 1.5)


def storm_ips(first, n):
    """n addresses 10.x.y.z from index `first` on (distinct across rounds)."""
    out = []
    for i in range(first, first + n):
        j = i + 1
        out.append("10.%d.%d.%d" % ((j >> 16) & 255, (j >> 8) & 255, j & 255))
    return out


class FakeControl:
    """Keep-alive connection to the fake's control interface."""

    def __init__(self, url):
        hostport = url.split("//", 1)[1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, path, obj=None):
        body = None if obj is None else json.dumps(obj)
        self.conn.request("GET" if obj is None else "POST", path, body=body,
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError("fake %s: HTTP %d %s" % (path, r.status, data[:200]))
        return json.loads(data.decode())

    def set_docs(self, ips, pad_kb=0):
        """A profile document for each IP; pad_kb > 0 adds domain entries until the
        document is about that many KB (real reports hold hundreds of entries)."""
        for i, ip in enumerate(ips):
            d = fake_criminalip.profile(ip, PROFILES[i % len(PROFILES)])
            if pad_kb:
                d["domain"] = fake_criminalip.block(padding(pad_kb * 1024 -
                                                            len(json.dumps(d))))
            self.call("/_control/doc", {"ip": ip, "doc": d})

    def close(self):
        self.conn.close()


def padding(size):
    """Domain entries of about size bytes of JSON in all."""
    out, n = [], 0
    while n < size:
        e = {"domain": "host%d.example-%d.example" % (len(out), len(out) % 97),
             "ip_type": "IPv4", "registrar": "N/A", "create_date": "2019-01-01",
             "confirmed_time": "2023-01-01 00:00:00"}
        out.append(e)
        n += len(json.dumps(e)) + 2
    return out


def _quantile(v, q):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def run_storm(port, zone, ips, rate, drain=2.5):
    """Ask about ips at `rate` new IPs per second (each three times, see above) and
    collect the answers. Returns counts and the first answers' latencies (ms)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.setblocking(False)
    dest = ("127.0.0.1", port)
    t0 = time.monotonic() + 0.05
    events = []  # (time, seq, ip index, ask number)
    for i in range(len(ips)):
        heapq.heappush(events, (t0 + i / rate, len(events), i, 0))
    sent = {}     # qid -> (ip index, ask number, time sent)
    rcodes = {}
    first_ms = []
    answered = [0, 0, 0]
    asked = [0, 0, 0]
    qid = random.randrange(65536)
    end_send = t0 + len(ips) / rate + max(ASK_AGAIN)
    while True:
        now = time.monotonic()
        while events and events[0][0] <= now:
            _, _, i, k = heapq.heappop(events)
            qid = (qid + 1) & 0xffff
            name = ".".join(reversed(ips[i].split("."))) + "." + zone
            try:
                s.sendto(wire_query(name, "A", qid=qid), dest)
            except BlockingIOError:
                pass
            sent[qid] = (i, k, now)
            asked[k] += 1
            if k < len(ASK_AGAIN):
                heapq.heappush(events, (t0 + i / rate + ASK_AGAIN[k], qid * 8 + k,
                                        i, k + 1))
        if not events and now > end_send + drain:
            break
        wait = events[0][0] - now if events else 0.05
        r, _, _ = select.select([s], [], [], max(0.0, min(wait, 0.05)))
        if not r:
            continue
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            if len(data) < 12:
                continue
            rid, flags = struct.unpack("!HH", data[:4])
            info = sent.pop(rid, None)
            if not info:
                continue
            i, k, ts = info
            answered[k] += 1
            rc = flags & 0xf
            rcodes[rc] = rcodes.get(rc, 0) + 1
            if k == 0:
                first_ms.append((time.monotonic() - ts) * 1000)
    s.close()
    return {
        "ips": len(ips), "asked": asked, "answered": answered, "rcodes": rcodes,
        "first_p50_ms": _quantile(first_ms, 0.5), "first_p99_ms": _quantile(first_ms, 0.99),
        "seconds": len(ips) / rate,
    }

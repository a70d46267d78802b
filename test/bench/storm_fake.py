"""storm_fake - a lean stand-in for the fake Criminal IP (test/fake_criminalip.py) in
the lookup storm of test/bench/run.

The storm measures what new addresses cost the cached answers on the server's machine.
The real API runs elsewhere, but the fake runs on the measured machine, and the full
fake (a thread per connection, a JSON document built per request) spends a good part of
a core at 500 requests a second on the very core dnsperf measures from. This one answers
the same report documents (fake_criminalip.profile of the storm's addresses, in the
storm's order of profiles, padded as --doc-kb asks) with the same delay, from one
thread and a select loop, each body serialised once at start; it checks the key header
(401 without it) and counts requests per address for /_control/count. It answers
nothing else the full fake does (no modes, no errors): the bench's correctness tests
use the full one.

    storm_fake.py --key KEY --count N [--delay-ms MS] [--doc-kb KB]

Prints "READY <port>" once listening on 127.0.0.1 (test/fakeproc.py). Debian's
/usr/bin/python3 and the standard library only.
"""
import argparse
import heapq
import json
import os
import selectors
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_criminalip  # noqa: E402  (test/fake_criminalip.py)
import storm  # noqa: E402  (test/bench/storm.py)

MAX_HEAD = 16384


def response(code, body):
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized",
              404: "Not Found"}.get(code, "Error")
    return (b"HTTP/1.1 %d %s\r\nServer: storm-fake/1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (code, reason.encode(), len(body))) + body


def error(code, message):
    return response(code, json.dumps({"status": code, "message": message}).encode())


class Conn:
    __slots__ = ("sock", "inbuf", "outbuf", "last_due", "closed")

    def __init__(self, sock):
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.last_due = 0.0   # answers on one connection leave in order
        self.closed = False


class StormFake:
    def __init__(self, key, bodies, delay):
        self.key = key
        self.bodies = bodies
        self.delay = delay
        self.total = 0
        self.bad_key = 0
        self.per_ip = {}
        self.heap = []        # (due, seq, conn, bytes)
        self.seq = 0
        self.sel = selectors.DefaultSelector()

    def answer(self, head):
        try:
            line, _, rest = head.decode("latin-1").partition("\r\n")
            method, target, _ = line.split(" ", 2)
        except ValueError:
            return 0.0, error(400, "bad request line"), True
        headers = {}
        for h in rest.split("\r\n"):
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        url = urllib.parse.urlsplit(target)
        if method != "GET":
            return 0.0, error(404, "not found"), False
        if url.path == "/_control/count":
            return 0.0, response(200, json.dumps({
                "total": self.total, "per_ip": self.per_ip,
                "bad_key": self.bad_key}).encode()), False
        if url.path != "/v1/asset/ip/report":
            return 0.0, error(404, "not found"), False
        ip = (urllib.parse.parse_qs(url.query).get("ip") or [""])[0]
        self.total += 1
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        if headers.get("x-api-key") != self.key:
            self.bad_key += 1
            return self.delay, error(401, "invalid api key"), False
        body = self.bodies.get(ip)
        if body is None:
            body = json.dumps(fake_criminalip.profile(ip, 17)).encode()
        return self.delay, response(200, body), False

    def on_read(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)
            return
        conn.inbuf += data
        while True:
            end = conn.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(conn.inbuf) > MAX_HEAD:
                    self.close(conn)
                return
            head = bytes(conn.inbuf[:end])
            del conn.inbuf[:end + 4]
            delay, out, close = self.answer(head)
            due = max(time.monotonic() + delay, conn.last_due)
            conn.last_due = due
            self.seq += 1
            heapq.heappush(self.heap, (due, self.seq, conn, out))
            if close:
                return

    def send(self, conn, data):
        if conn.closed:
            return
        if not conn.outbuf:
            try:
                n = conn.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.close(conn)
                return
            data = data[n:]
            if not data:
                return
            self.sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        conn.outbuf += data

    def on_write(self, conn):
        try:
            n = conn.sock.send(conn.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close(conn)
            return
        del conn.outbuf[:n]
        if not conn.outbuf:
            self.sel.modify(conn.sock, selectors.EVENT_READ, conn)

    def close(self, conn):
        if not conn.closed:
            conn.closed = True
            self.sel.unregister(conn.sock)
            conn.sock.close()

    def serve(self, listener):
        self.sel.register(listener, selectors.EVENT_READ, None)
        while True:
            timeout = None
            if self.heap:
                timeout = max(0.0, self.heap[0][0] - time.monotonic())
            for key, mask in self.sel.select(timeout):
                if key.data is None:
                    while True:
                        try:
                            s, _ = listener.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        s.setblocking(False)
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        self.sel.register(s, selectors.EVENT_READ, Conn(s))
                    continue
                if mask & selectors.EVENT_WRITE:
                    self.on_write(key.data)
                if mask & selectors.EVENT_READ and not key.data.closed:
                    self.on_read(key.data)
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, _, conn, out = heapq.heappop(self.heap)
                self.send(conn, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--count", type=int, required=True,
                    help="documents for the storm's first COUNT addresses")
    ap.add_argument("--delay-ms", type=int, default=200)
    ap.add_argument("--doc-kb", type=int, default=0)
    opts = ap.parse_args()
    bodies = {}
    for i, ip in enumerate(storm.storm_ips(0, opts.count)):
        d = fake_criminalip.profile(ip, storm.PROFILES[i % len(storm.PROFILES)])
        if opts.doc_kb:
            d["domain"] = fake_criminalip.block(
                storm.padding(opts.doc_kb * 1024 - len(json.dumps(d))))
        bodies[ip] = json.dumps(d).encode()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)
    print("READY %d" % listener.getsockname()[1], flush=True)
    try:
        StormFake(opts.key, bodies, opts.delay_ms / 1000.0).serve(listener)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

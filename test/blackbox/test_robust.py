"""Robustness of the transports (udp.c, tcp.c) and of the parser behind them: garbage
and truncated packets, the header-level answers of doc/dns.md#malformed-queries (FORMERR,
NOTIMP, QR=1 dropped), and RFC 7766 TCP: pipelining, split messages, idle timeout,
zero-length messages, the connection cap and slow clients."""
import random
import select
import socket
import struct
import time
import unittest

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

import tbltest
from tbltest import BASE_ZONE, ZONE, rev4, rev6

IDLE_S = 1.0
MAX_CLIENTS = 50

CONF = """[server]
listen = 127.0.0.1:{port}
database = {db}
log-level = info
tcp-idle = 1s
tcp-clients = 50
# every client here is 127.0.0.1: the cap in all is what is tested
tcp-clients-per-ip = 1000

[intel]
provider = none
""" + BASE_ZONE


def wire(name, rdtype="A", qid=0x4242, edns=-1):
    q = dns.message.make_query(name, rdtype, use_edns=edns)
    q.id = qid
    return q.to_wire()


def header(qid, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name, rdtype=dns.rdatatype.A):
    return dns.name.from_text(name).to_wire() + struct.pack("!HH", rdtype, 1)


def frame(msg):
    return struct.pack("!H", len(msg)) + msg


def recv_exact(sock, n):
    """n bytes, or None when the peer closed first."""
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg(sock):
    head = recv_exact(sock, 2)
    if head is None:
        return None
    return recv_exact(sock, struct.unpack("!H", head)[0])


def closed_by_peer(sock, timeout):
    """Seconds until the server closed sock, or None if it stays open for timeout."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - start
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except socket.timeout:
        return None


def is_closed_now(sock):
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(4096, socket.MSG_DONTWAIT) == b""
    except ConnectionResetError:
        return True
    except BlockingIOError:
        return False


class Robust(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tbltest.Daemon(CONF)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop_and_cleanup()

    def tcp(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.addCleanup(s.close)
        return s

    def assert_serving(self):
        self.assertIsNone(self.d.proc.poll(), "threatbld died:\n" + self.d.stderr())
        r = self.d.query(rev4("127.0.0.2"))
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(tbltest.a_values(r), "no A records for the test entry")
        r = self.d.query(ZONE, "SOA", tcp=True)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)

    # --- UDP -----------------------------------------------------------------------

    def test_garbage_udp(self):
        """2,000 bad packets; every answer is a well-formed response to a sent ID, QR=1
        packets get none, and the server answers normally afterwards."""
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        good = [wire(rev4("127.0.0.2")), wire(rev4("192.0.2.1"), "TXT", edns=0),
                wire(ZONE, "SOA"), wire(rev6("2001:db8::1"), "ANY", edns=0),
                wire("4.3.2.1." + ZONE, "A", edns=0), wire("outside.example.", "A")]
        packets = []   # answers may come
        responses = [] # QR=1: answers must not come
        for g in good:
            packets += [g[:n] for n in range(len(g))]
        while len(packets) < 700:
            qid = rng.randrange(65536)
            flags = rng.randrange(65536) & ~0x8000
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            packets.append(header(qid, flags) + body)
        while len(responses) < 300:
            g = bytearray(rng.choice(good))
            g[0:2] = struct.pack("!H", rng.randrange(65536))
            g[2] |= 0x80
            if rng.random() < 0.5:
                g[3] = rng.randrange(256)
            responses.append(bytes(g[:rng.randrange(12, len(g) + 1)]))
        while len(packets) + len(responses) < 2000:
            packets.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600))))
        rng.shuffle(packets)
        ids = {struct.unpack("!H", p[:2])[0] for p in packets if len(p) >= 2}

        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        for s in (a, b):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            s.connect(("127.0.0.1", self.d.port))
        answers, stray = [], []

        def drain(wait):
            end = time.monotonic() + wait
            while True:
                left = end - time.monotonic()
                r, _, _ = select.select([a, b], [], [], max(0, left))
                if not r:
                    if left <= 0:
                        return
                    continue
                for s in r:
                    (answers if s is a else stray).append(s.recv(65535))

        mixed = [(a, p) for p in packets] + [(b, p) for p in responses]
        rng.shuffle(mixed)
        for i, (s, p) in enumerate(mixed):
            s.send(p)
            if i % 100 == 99:
                drain(0.01)
        drain(0.5)

        why = "seed %d" % seed
        self.assertEqual(stray, [], "answers to QR=1 packets (%s)" % why)
        self.assertGreater(len(answers), 0, why)
        for ans in answers:
            self.assertGreaterEqual(len(ans), 12, why)
            self.assertTrue(ans[2] & 0x80, "answer without QR (%s)" % why)
            self.assertIn(struct.unpack("!H", ans[:2])[0], ids, why)
        self.assert_serving()

    def test_formerr_qdcount_2(self):
        q = header(0x1234, qd=2) + question(rev4("127.0.0.2")) + question(ZONE)
        ans = self.d.send_raw_udp(q)
        self.assertIsNotNone(ans, "no answer to QDCOUNT=2")
        self.assertEqual(ans[:2], b"\x12\x34")
        self.assertTrue(ans[2] & 0x80)
        self.assertEqual(ans[3] & 0x0f, dns.rcode.FORMERR)

    def test_formerr_qdcount_0(self):
        ans = self.d.send_raw_udp(header(0x1235, qd=0))
        self.assertIsNotNone(ans, "no answer to QDCOUNT=0")
        self.assertEqual(ans[:2], b"\x12\x35")
        self.assertEqual(ans[3] & 0x0f, dns.rcode.FORMERR)

    def test_formerr_truncated_question(self):
        q = header(0x1236) + question(rev4("127.0.0.2"))[:-3]
        ans = self.d.send_raw_udp(q)
        self.assertIsNotNone(ans, "no answer to a truncated question")
        self.assertEqual(ans[:2], b"\x12\x36")
        self.assertEqual(ans[3] & 0x0f, dns.rcode.FORMERR)

    def test_short_header_dropped(self):
        self.assertIsNone(self.d.send_raw_udp(header(0x1237)[:11], timeout=0.5))

    def test_notimp_status(self):
        q = header(0x2345, flags=2 << 11) + question(rev4("127.0.0.2"))
        ans = self.d.send_raw_udp(q)
        self.assertIsNotNone(ans, "no answer to opcode STATUS")
        self.assertEqual(ans[:2], b"\x23\x45")
        self.assertTrue(ans[2] & 0x80)
        self.assertEqual((ans[2] >> 3) & 0x0f, 2, "opcode not echoed")
        self.assertEqual(ans[3] & 0x0f, dns.rcode.NOTIMP)

    def test_qr_dropped(self):
        q = bytearray(wire(rev4("127.0.0.2"), qid=0x3456))
        q[2] |= 0x80
        self.assertIsNone(self.d.send_raw_udp(bytes(q), timeout=0.5))
        # The same query without QR is answered: the drop was for QR.
        self.assertIsNotNone(self.d.send_raw_udp(wire(rev4("127.0.0.2"), qid=0x3456)))

    # --- TCP -----------------------------------------------------------------------

    def test_tcp_pipelined(self):
        s = self.tcp()
        names = [rev4("127.0.0.2"), rev4("127.0.0.1"), ZONE, rev4("10.0.0.1"),
                 "outside.example.", rev4("127.0.0.2")] * 3
        ids = list(range(0x100, 0x100 + len(names)))
        s.sendall(b"".join(frame(wire(n, "A", qid=i)) for n, i in zip(names, ids)))
        got = {}
        for _ in names:
            msg = read_msg(s)
            self.assertIsNotNone(msg, "connection closed after %d answers" % len(got))
            r = dns.message.from_wire(msg)
            got[r.id] = r
        self.assertEqual(sorted(got), ids)
        for n, i in zip(names, ids):
            self.assertEqual(got[i].question[0].name, dns.name.from_text(n))
        self.assertEqual(got[0x100].rcode(), dns.rcode.NOERROR)
        self.assertEqual(got[0x101].rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(got[0x104].rcode(), dns.rcode.REFUSED)

    def test_tcp_split_byte_by_byte(self):
        s = self.tcp()
        data = frame(wire(rev4("127.0.0.2"), qid=0x777))
        for i in range(len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.01)
        msg = read_msg(s)
        self.assertIsNotNone(msg, "closed instead of answering")
        r = dns.message.from_wire(msg)
        self.assertEqual(r.id, 0x777)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)

    def test_tcp_idle_closed(self):
        s = self.tcp()
        t = closed_by_peer(s, IDLE_S + 3)
        self.assertIsNotNone(t, "idle connection still open")
        self.assertGreater(t, IDLE_S * 0.7)
        self.assertLess(t, IDLE_S + 1.5)

    def test_tcp_queries_keep_it_open(self):
        """The idle timer restarts with every complete query."""
        s = self.tcp()
        for i in range(5):
            time.sleep(IDLE_S * 0.6)
            s.sendall(frame(wire(ZONE, "SOA", qid=i)))
            msg = read_msg(s)
            self.assertIsNotNone(msg, "closed after %.1fs of activity" % (0.6 * IDLE_S * (i + 1)))
            self.assertEqual(struct.unpack("!H", msg[:2])[0], i)

    def test_tcp_zero_length_closes(self):
        s = self.tcp()
        s.sendall(b"\x00\x00")
        t = closed_by_peer(s, 2)
        self.assertIsNotNone(t, "zero-length message did not close the connection")
        self.assertLess(t, 0.5 * IDLE_S, "closed by the idle timer, not at once")

    def test_tcp_short_message_closes(self):
        s = self.tcp()
        s.sendall(b"\x00\x05hello")
        t = closed_by_peer(s, 2)
        self.assertIsNotNone(t, "5-byte message did not close the connection")
        self.assertLess(t, 0.5 * IDLE_S)

    def test_tcp_garbage(self):
        """Length-framed garbage: the server answers or closes, and keeps serving."""
        rng = random.Random(7)
        for _ in range(30):
            s = self.tcp()
            n = rng.randrange(12, 300)
            body = header(rng.randrange(65536), rng.randrange(65536) & ~0x8000) + \
                bytes(rng.randrange(256) for _ in range(n - 12))
            s.sendall(frame(body) + frame(body[:rng.randrange(12, n + 1)]))
            s.settimeout(2)
            msg = read_msg(s)
            if msg is not None:
                self.assertTrue(msg[2] & 0x80)
                self.assertEqual(msg[:2], body[:2])
            s.close()
        self.assert_serving()

    def test_tcp_client_cap(self):
        time.sleep(0.3)  # let connections of earlier tests be reaped
        start = time.monotonic()
        conns = []
        for i in range(300):
            conns.append(socket.create_connection(("127.0.0.1", self.d.port), timeout=5))
            if i % 50 == 49:
                r = self.d.query(rev4("127.0.0.2"), timeout=1)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        for c in conns:
            self.addCleanup(c.close)
        self.assertLess(time.monotonic() - start, IDLE_S * 0.5, "connecting took too long")
        time.sleep(max(0, start + IDLE_S * 0.6 - time.monotonic()))
        open_ = [c for c in conns if not is_closed_now(c)]
        self.assertEqual(len(open_), MAX_CLIENTS,
                         "%d of 300 connections open, cap %d" % (len(open_), MAX_CLIENTS))
        r = self.d.query(rev4("127.0.0.2"), timeout=1)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        # Those kept are served.
        open_[0].sendall(frame(wire(ZONE, "SOA", qid=0x99)))
        msg = read_msg(open_[0])
        self.assertIsNotNone(msg)
        self.assertEqual(msg[:2], b"\x00\x99")
        # Once they are gone, new connections are accepted again.
        for c in conns:
            c.close()
        time.sleep(0.3)
        r = self.d.query(ZONE, "SOA", tcp=True)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)

    def test_tcp_slow_loris(self):
        s = self.tcp()
        data = frame(wire(rev4("127.0.0.2"), qid=0x888))
        start = time.monotonic()
        closed = None
        for i in range(len(data)):
            try:
                s.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - start
                break
            if is_closed_now(s):
                closed = time.monotonic() - start
                break
            time.sleep(0.3)
        self.assertIsNotNone(closed, "a client trickling a byte per 300 ms was not cut off")
        self.assertGreater(closed, IDLE_S * 0.7)
        self.assertLess(closed, IDLE_S + 1.5)


if __name__ == "__main__":
    tbltest.main()

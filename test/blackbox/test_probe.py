"""Black-box: threatbl's own OpenVPN probe ([probe] openvpn443, probe.c).

dnspython -> threatbld -> the fake Criminal IP, whose report for a loopback address
shows tcp/443 open as HTTPS on a hosting network; beside it a small fake OpenVPN
server (FakeOpenVPN below) on that address, at the port [probe] port points to. With
openvpn443 = yes the report's verdict is answered first (the fake holds its reply
until the test has that answer), then 127.0.0.3 once the probe confirms; a server
that closes or stays silent changes nothing; with openvpn443 = no, or a report that
already names OpenVPN, nothing connects. Every claim is checked on what the fake
OpenVPN server saw.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, a_values, txt_values, intel_conf,  # noqa: E402
                     wait_for, THREATBL)

KEY = "tbl-KEY-probe-5c81"
CATS = ("vpn", "openvpn443", "hosting", "tor", "proxy", "scanner")
CODE = {c: "127.0.0.%d" % (i + 2) for i, c in enumerate(CATS)}
SERVER_SID = b"\x9f\x1c\xd2\x85\x11\x0f\x01\x00"


class FakeOpenVPN:
    """A TCP server on host: port chosen by the kernel. mode: "reset" answers a
    P_CONTROL_HARD_RESET_CLIENT_V2 with the server reset OpenVPN sends (once gate is
    set), "close" closes at once, "silent" reads and says nothing, "tls" answers a
    TLS alert. It keeps the packets it received."""

    def __init__(self, host, mode="reset"):
        self.mode = mode
        self.gate = threading.Event()
        self.gate.set()
        self.connections = 0
        self.packets = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    def _handle(self, c):
        c.settimeout(10)
        try:
            if self.mode == "close":
                return
            data = b""
            while len(data) < 16:
                chunk = c.recv(16 - len(data))
                if not chunk:
                    return
                data += chunk
            with self.lock:
                self.packets.append(data)
            if self.mode == "reset":
                self.gate.wait(20)
                # length, opcode 8 / key 0, our session, one ack (packet id 0), the
                # client's session id, message packet id 0
                c.sendall(struct.pack(">HB8sBI8sI", 26, 8 << 3, SERVER_SID, 1, 0,
                                      data[3:11], 0))
            elif self.mode == "tls":
                c.sendall(b"\x15\x03\x03\x00\x02\x02\x28")
            while c.recv(4096):
                pass
        except OSError:
            pass
        finally:
            c.close()

    def count(self):
        with self.lock:
            return self.connections

    def stop(self):
        self.stopping = True
        self.gate.set()
        self.sock.close()
        self.thread.join(5)


def report(ip, issues=("is_hosting",), ports=None):
    """A report with tcp/443 open as HTTPS, N/A (what a scanner sees of OpenVPN that
    hides behind 443) unless ports says otherwise."""
    if ports is None:
        ports = [fake_criminalip.port(443)]
    return fake_criminalip.doc(ip, issues, ports=ports)


class ProbeCase(tbltest.FakeAPICase):
    KEY = KEY

    def setUp(self):
        super().setUp()
        self.d = None
        self.ovpn = None

    def tearDown(self):
        try:
            if self.d is not None:
                rc = self.d.stop()
                log = self.d.stderr()
                self.assertEqual(rc, 0, "exit status after SIGTERM:\n" + log[-3000:])
                self.assertNotRegex(log, r"ERROR: AddressSanitizer|runtime error:|"
                                    r"ERROR: LeakSanitizer")
        finally:
            if self.d is not None:
                self.d.cleanup()
            if self.ovpn is not None:
                self.ovpn.stop()

    def start(self, ip, mode="reset", on="yes", timeout="2s", doc=None):
        self.fake.set_doc(ip, doc if doc is not None else report(ip))
        self.ovpn = FakeOpenVPN(ip, mode)
        zone = BASE_ZONE + "".join("%s = %s %s $\n" % (c, CODE[c], c) for c in CATS)
        conf = zone + intel_conf(self.fake.url, lookup_reserved="yes", deadline="1s") + \
            "[probe]\nopenvpn443 = %s\ntimeout = %s\nport = %d\n" % (on, timeout,
                                                                     self.ovpn.port)
        self.d = Daemon(conf, env={"THREATBL_API_KEY": KEY})
        return self.d

    def a(self, ip):
        return a_values(self.d.query(rev4(ip)))

    def logged(self, text):
        return text in self.d.stderr()

    def show(self, ip):
        r = subprocess.run([THREATBL, "db", "-d", self.d.db, "show", ip],
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def test_confirmed_after_the_report(self):
        ip = "127.0.0.21"
        self.start(ip)
        self.ovpn.gate.clear()  # the reply waits until the first answer is seen
        self.assertEqual(self.a(ip), [CODE["hosting"]],
                         "the first answer is the report's verdict")
        self.assertTrue(wait_for(lambda: self.ovpn.packets, 5), "no probe arrived")
        pkt = self.ovpn.packets[0]
        self.assertEqual(pkt[:3], b"\x00\x0e\x38",
                         "length 14, P_CONTROL_HARD_RESET_CLIENT_V2, key id 0")
        self.assertEqual(pkt[11:], b"\x00" * 5, "no acks, message packet id 0")
        self.ovpn.gate.set()
        self.assertTrue(wait_for(lambda: self.a(ip) == sorted([CODE["openvpn443"],
                                                                CODE["hosting"]]), 5),
                        "127.0.0.3 not listed after the probe:\n" + self.d.stderr()[-2000:])
        self.assertIn("openvpn443 %s (confirmed by probe)" % ip,
                      txt_values(self.d.query(rev4(ip), "TXT")))
        self.assertTrue(self.logged("probe %s: OpenVPN on tcp/%d confirmed"
                                    % (ip, self.ovpn.port)))
        self.assertTrue(wait_for(lambda: "\tprobe confirmed " in self.show(ip), 5),
                        "db show: " + self.show(ip))
        self.assertTrue(self.show(ip).startswith(ip + "\topenvpn443,hosting\t"))
        self.assertEqual(self.ovpn.count(), 1, "one connection")
        self.assertEqual(self.fake.count()["per_ip"].get(ip), 1, "one report asked")

    def test_closed_is_not_openvpn(self):
        ip = "127.0.0.22"
        self.start(ip, mode="close")
        self.assertEqual(self.a(ip), [CODE["hosting"]])
        self.assertTrue(wait_for(lambda: self.logged("probe %s: not OpenVPN" % ip), 5),
                        self.d.stderr()[-2000:])
        self.assertEqual(self.a(ip), [CODE["hosting"]], "the report's verdict kept")
        self.assertTrue(wait_for(lambda: "\tprobe not-openvpn " in self.show(ip), 5))

    def test_tls_is_not_openvpn(self):
        ip = "127.0.0.23"
        self.start(ip, mode="tls")
        self.assertEqual(self.a(ip), [CODE["hosting"]])
        self.assertTrue(wait_for(lambda: self.logged("probe %s: not OpenVPN on tcp/%d "
                                                     "(TLS alert)" % (ip, self.ovpn.port)),
                                 5), self.d.stderr()[-2000:])
        self.assertEqual(self.a(ip), [CODE["hosting"]])

    def test_silence_is_unconfirmed(self):
        ip = "127.0.0.24"
        self.start(ip, mode="silent", timeout="300ms")
        self.assertEqual(self.a(ip), [CODE["hosting"]])
        self.assertTrue(wait_for(lambda: self.logged("probe %s: OpenVPN on tcp/%d "
                                                     "unconfirmed" % (ip, self.ovpn.port)),
                                 5), self.d.stderr()[-2000:])
        self.assertEqual(self.ovpn.count(), 1)
        self.assertEqual(self.a(ip), [CODE["hosting"]], "the report's verdict kept")
        self.assertTrue(wait_for(lambda: "\tprobe unconfirmed " in self.show(ip), 5))

    def test_off_nothing_probed(self):
        ip = "127.0.0.25"
        self.start(ip, on="no")
        self.assertEqual(self.a(ip), [CODE["hosting"]])
        # the probe would start with the verdict, before the answer: give it time
        time.sleep(0.5)
        self.assertEqual(self.ovpn.count(), 0, "a connection with openvpn443 = no")
        self.assertNotIn("probe %s" % ip, self.d.stderr())
        self.assertNotIn("\tprobe ", self.show(ip))

    def test_report_naming_openvpn_not_probed(self):
        ip = "127.0.0.26"
        self.start(ip, doc=report(ip, ports=[fake_criminalip.port(443, protocol="OpenVPN",
                                                                  app="OpenVPN")]))
        self.assertEqual(self.a(ip), sorted([CODE["openvpn443"], CODE["hosting"]]))
        time.sleep(0.5)
        self.assertEqual(self.ovpn.count(), 0, "probed although the report names OpenVPN")

    def test_clean_report_not_probed(self):
        ip = "127.0.0.27"
        # tcp/443 is not open and the address is neither VPN nor hosting
        self.start(ip, doc=report(ip, issues=(), ports=[]))
        self.assertEqual(self.a(ip), [])
        time.sleep(0.5)
        self.assertEqual(self.ovpn.count(), 0, "a clean report was probed")


if __name__ == "__main__":
    tbltest.main()

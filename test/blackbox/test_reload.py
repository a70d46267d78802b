"""Black-box: reloads (doc/configuration.md#reloading: SIGHUP; static lists).

SIGHUP swaps in new data while queries keep being answered; a changed list file is
picked up by itself; a bad configuration or an unreadable list on SIGHUP keeps the old
data; bad lines in a list are skipped and named as FILE:LINE in the log.
"""
import os
import re
import signal
import socket
import tempfile
import threading
import time
import unittest

import dns.message
import dns.rcode

import tbltest
from tbltest import Daemon, BASE_ZONE, rev4, a_values, wire_query

IP = "45.10.20.30"


def zone_conf(lists, ttl=300):
    conf = BASE_ZONE.replace("ttl = 300", "ttl = %d" % ttl)
    assert "ttl = %d" % ttl in conf
    return conf + "".join("static = {dir}/%s\n" % name for name in lists)


def write(path, text, mtime=None):
    with open(path, "w") as f:
        f.write(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def answer(d, name, timeout=2.0):
    """(rcode, A addresses, TTL of the A set or None); raises on no answer."""
    r = d.query(name, "A", timeout=timeout)
    ttl = r.answer[0].ttl if r.answer else None
    return r.rcode(), a_values(r), ttl


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Reload(unittest.TestCase):
    def setUp(self):
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.cleanup()

    def start(self, conf, files, **kw):
        self.d = Daemon(conf, files=files, **kw)
        return self.d

    def log_since(self, offset):
        return self.d.stderr()[offset:]

    def test_sighup_under_load_loses_nothing(self):
        d = self.start(zone_conf(["r.ip4set"]),
                       {"r.ip4set": "%s :127.0.0.2:old $\n" % IP})
        name = rev4(IP)
        self.assertEqual(answer(d, name)[:2], (dns.rcode.NOERROR, ["127.0.0.2"]))
        n = 2000
        results = [None] * n
        progress = [0]

        def client():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2.0)
            try:
                for i in range(n):
                    sent = wire_query(name, "A", qid=i)
                    s.sendto(sent, ("127.0.0.1", d.port))
                    try:
                        while True:
                            raw = s.recv(4096)
                            if raw[:2] == sent[:2]:
                                break
                    except socket.timeout:
                        results[i] = "lost"
                        continue
                    r = dns.message.from_wire(raw)
                    results[i] = (dns.rcode.to_text(r.rcode()), tuple(a_values(r)))
                    progress[0] = i + 1
                    time.sleep(0.0008)
            finally:
                s.close()

        t = threading.Thread(target=client)
        t.start()
        self.assertTrue(wait_for(lambda: progress[0] >= 300, 10), "client stuck")
        write(os.path.join(d.dir, "r.ip4set"), "%s :127.0.0.3:new $\n" % IP)
        d.signal(signal.SIGHUP)
        t.join(60)
        self.assertFalse(t.is_alive())
        lost = [i for i, r in enumerate(results) if r == "lost"]
        self.assertEqual(lost, [], "%d of %d queries got no answer" % (len(lost), n))
        old = ("NOERROR", ("127.0.0.2",))
        new = ("NOERROR", ("127.0.0.3",))
        bad = [(i, r) for i, r in enumerate(results) if r not in (old, new)]
        self.assertEqual(bad, [], "answers other than the old or the new data")
        self.assertIn(old, results)
        self.assertIn(new, results, "the reload did not show within %d queries" % n)
        self.assertEqual(results[-1], new)
        self.assertTrue(d.proc.poll() is None, "threatbld exited")

    def test_sighup_reads_new_configuration(self):
        # The configuration names another list: only a SIGHUP can bring it in.
        d = self.start(zone_conf(["a.ip4set"]),
                       {"a.ip4set": "%s :127.0.0.2:from a\n" % IP,
                        "b.ip4set": "%s :127.0.0.5:from b\n45.10.20.31 :127.0.0.6:b\n" % IP})
        name = rev4(IP)
        self.assertEqual(answer(d, name), (dns.rcode.NOERROR, ["127.0.0.2"], 300))
        with open(d.conf) as f:
            text = f.read()
        write(d.conf, text.replace("a.ip4set", "b.ip4set").replace("ttl = 300", "ttl = 77"))
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: answer(d, name)[1] == ["127.0.0.5"], 5),
                        "SIGHUP did not bring the new configuration in: %s"
                        % (answer(d, name),))
        self.assertEqual(answer(d, name), (dns.rcode.NOERROR, ["127.0.0.5"], 77))
        self.assertEqual(answer(d, rev4("45.10.20.31"))[1], ["127.0.0.6"])

    def test_list_mtime_change_picked_up(self):
        # The list is older than the start, so the rewrite below surely changes its
        # mtime, even within the clock's granularity.
        past = time.time() - 100
        tmp = tempfile.mkdtemp(prefix="threatbl-test-")
        path = os.path.join(tmp, "m.ip4set")
        write(path, "%s :127.0.0.2:x\n" % IP, mtime=past)
        d = self.start(zone_conf(["m.ip4set"]), {}, tmpdir=tmp)
        name = rev4(IP)
        self.assertEqual(answer(d, name)[1], ["127.0.0.2"])
        write(path, "%s :127.0.0.4:y\n45.10.20.32 :127.0.0.7:z\n" % IP)
        self.assertGreater(os.stat(path).st_mtime, past + 50)
        t0 = time.monotonic()
        self.assertTrue(wait_for(lambda: answer(d, name)[1] == ["127.0.0.4"], 8, 0.1),
                        "a changed list was not picked up in 8 s without SIGHUP")
        self.assertEqual(answer(d, rev4("45.10.20.32"))[1], ["127.0.0.7"])
        self.assertLess(time.monotonic() - t0, 8)

    def test_sighup_bad_configuration_keeps_old(self):
        d = self.start(zone_conf(["k.ip4set"]), {"k.ip4set": "%s :127.0.0.2:x\n" % IP})
        name = rev4(IP)
        good = (dns.rcode.NOERROR, ["127.0.0.2"], 300)
        self.assertEqual(answer(d, name), good)
        with open(d.conf) as f:
            text = f.read()
        lines = text.split("\n")
        bad_line = [i for i, l in enumerate(lines) if l.startswith("ttl = ")][0]
        lines[bad_line] = "ttl = banana"
        broken = "\n".join(lines).replace("k.ip4set", "other.ip4set")
        write(os.path.join(d.dir, "other.ip4set"), "%s :127.0.0.6:other\n" % IP)
        write(d.conf, broken)
        mark = len(d.stderr())
        d.signal(signal.SIGHUP)
        pat = re.compile(r"threatbl\.conf:%d\b" % (bad_line + 1))
        logged = wait_for(lambda: pat.search(self.log_since(mark)), 5)
        # Answers went on from the old data all along.
        for _ in range(20):
            self.assertEqual(answer(d, name), good)
            time.sleep(0.02)
        self.assertTrue(d.proc.poll() is None, "threatbld exited on a bad configuration")
        self.assertTrue(logged, "the error was not logged as threatbl.conf:%d; log:\n%s"
                        % (bad_line + 1, self.log_since(mark)))
        # A good configuration after it is taken.
        lines[bad_line] = "ttl = 99"
        write(d.conf, "\n".join(lines))
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: answer(d, name)[2] == 99, 5),
                        "no reload after a failed one")

    def test_sighup_unreadable_list_keeps_old(self):
        d = self.start(zone_conf(["u.ip4set"]), {"u.ip4set": "%s :127.0.0.2:x\n" % IP})
        name = rev4(IP)
        self.assertEqual(answer(d, name)[1], ["127.0.0.2"])
        with open(d.conf) as f:
            text = f.read()
        write(d.conf, text.replace("ttl = 300", "ttl = 55")
              + "static = {}/missing.ip4set\n".format(d.dir))
        mark = len(d.stderr())
        d.signal(signal.SIGHUP)
        logged = wait_for(lambda: "missing.ip4set" in self.log_since(mark), 5)
        for _ in range(10):
            self.assertEqual(answer(d, name), (dns.rcode.NOERROR, ["127.0.0.2"], 300))
            time.sleep(0.02)
        self.assertTrue(d.proc.poll() is None, "threatbld exited")
        self.assertTrue(logged, "the unreadable list was not named in the log:\n%s"
                        % self.log_since(mark))

    def test_bad_lines_skipped_and_named(self):
        text = ("# good and bad lines\n"                     # 1
                "45.10.20.40 :127.0.0.2:good one\n"         # 2
                "300.1.2.3 :127.0.0.2:bad address\n"        # 3
                "45.10.20.41 :127.0.0.3:good two\n"         # 4
                "this is not an address\n"                  # 5
                "45.10.20.0/33 :127.0.0.2:bad prefix\n"     # 6
                "45.10.20.42 :127.0.0.4:good three\n"       # 7
                "45.10.20.43/ :127.0.0.2:bad\n"             # 8
                "\n"                                        # 9
                "45.10.20.44 :127.0.0.5:good four $\n")     # 10
        d = self.start(zone_conf(["bad.ip4set"]), {"bad.ip4set": text})
        for ip, code in (("45.10.20.40", "127.0.0.2"), ("45.10.20.41", "127.0.0.3"),
                         ("45.10.20.42", "127.0.0.4"), ("45.10.20.44", "127.0.0.5")):
            self.assertEqual(answer(d, rev4(ip))[:2], (dns.rcode.NOERROR, [code]), ip)
        r = d.query(rev4("45.10.20.44"), "TXT")
        self.assertEqual(tbltest.txt_values(r), ["good four 45.10.20.44"])
        self.assertEqual(answer(d, rev4("45.10.20.43"))[0], dns.rcode.NXDOMAIN)
        log = d.stderr()
        named = {int(m) for m in re.findall(r"bad\.ip4set:(\d+)\b", log)}
        self.assertTrue({3, 5, 6, 8} <= named,
                        "bad lines named: %s, want 3 5 6 8; log:\n%s" % (sorted(named), log))
        self.assertFalse(named & {1, 2, 4, 7, 9, 10},
                         "good lines named as bad: %s" % sorted(named & {1, 2, 4, 7, 9, 10}))


def sighup_blocked(pid):
    """Whether SIGHUP is in the main thread's blocked mask (/proc/PID/status SigBlk)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    except FileNotFoundError:
        pass
    return False


class SignalsAroundTheLoop(unittest.TestCase):
    """SIGHUP's default action ends the process: one that comes while the server starts
    (it may already answer) or stops (the writer may still write) must not
    (doc/configuration.md#reloading)."""

    def setUp(self):
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.cleanup()

    def test_sighup_while_starting_reloads_once_ready(self):
        # A long list keeps the server starting for a while.
        big = "".join("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255)
                      for i in range(300000))
        self.d = d = Daemon(zone_conf(["big.ip4set", "r.ip4set"]), wait=False,
                            files={"big.ip4set": big,
                                   "r.ip4set": "%s :127.0.0.2:old $\n" % IP})
        # From the moment the server holds SIGHUP (before it reads its configuration),
        # one every millisecond until it answers.
        self.assertTrue(wait_for(lambda: sighup_blocked(d.proc.pid) or
                                 d.proc.poll() is not None, 10, step=0.001),
                        "SIGHUP never held while starting:\n" + d.stderr())
        write(os.path.join(d.dir, "r.ip4set"), "%s :127.0.0.3:new $\n" % IP)
        sent = 0
        end = time.monotonic() + 20
        while time.monotonic() < end and d.proc.poll() is None:
            d.signal(signal.SIGHUP)
            sent += 1
            if d.logged_ready():
                break
            time.sleep(0.001)
        self.assertIsNone(d.proc.poll(), "threatbld ended by a SIGHUP while starting "
                          "(exit %s, %d sent):\n%s" % (d.proc.returncode, sent, d.stderr()))
        self.assertGreater(sent, 1)
        d.wait_ready()
        # The held SIGHUP reloads once the loop runs; the new list is in.
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 10), d.stderr())
        self.assertTrue(wait_for(lambda: answer(d, rev4(IP))[1] == ["127.0.0.3"], 10),
                        answer(d, rev4(IP)))
        self.assertEqual(d.stop(), 0, d.stderr())

    def test_sighup_while_stopping_ignored(self):
        self.d = d = Daemon(zone_conf(["r.ip4set"]),
                            files={"r.ip4set": "%s :127.0.0.2:old $\n" % IP})
        self.assertEqual(answer(d, rev4(IP))[:2], (dns.rcode.NOERROR, ["127.0.0.2"]))
        d.signal(signal.SIGTERM)
        sent = 0
        end = time.monotonic() + 10
        while time.monotonic() < end and d.proc.poll() is None:
            try:
                d.signal(signal.SIGHUP)
                sent += 1
            except ProcessLookupError:
                break
        d.proc.wait(10)
        self.assertEqual(d.proc.returncode, 0, "%d SIGHUP sent while stopping:\n%s"
                         % (sent, d.stderr()))
        self.assertIn("stopped", d.stderr())


if __name__ == "__main__":
    tbltest.main()

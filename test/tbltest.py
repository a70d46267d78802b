"""tbltest - what the black-box tests share: free ports, a running threatbld, queries,
and a TAP runner for unittest cases (automake's tap-driver reads the output).

Runs with Debian's /usr/bin/python3 and python3-dnspython only.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

THREATBLD = os.environ.get("THREATBLD", "server/threatbld")
THREATBL = os.environ.get("THREATBL", "tools/threatbl")
TOP_SRCDIR = os.environ.get("TOP_SRCDIR", os.getcwd())


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise RuntimeError("no free port")


ZONE = "bl.test"

BASE_ZONE = """
[zone bl.test]
soa = ns1.bl.test. hostmaster.bl.test. 3600 600 604800 300
ns = ns1.bl.test. ns2.bl.test.
ttl = 300
negative-ttl = 120
unknown-ttl = 30
"""


class Daemon:
    """One threatbld started in a temporary directory on a free port.

    conf: the configuration text; {port}, {dir}, {db} and {control} are filled in. A
    [server] section with listen, database, control (in dir) and log-level debug is
    added unless conf has one."""

    def __init__(self, conf=BASE_ZONE, args=(), env=None, files=None, wait=True,
                 tmpdir=None):
        self.dir = tmpdir or tempfile.mkdtemp(prefix="threatbl-test-")
        self.port = free_port()
        self.db = os.path.join(self.dir, "verdicts.sqlite")
        self.control_path = os.path.join(self.dir, "control")
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        text = conf.format(port=self.port, dir=self.dir, db=self.db,
                           control=self.control_path)
        if "[server]" not in text:
            text = ("[server]\nlisten = 127.0.0.1:%d\ndatabase = %s\ncontrol = %s\n"
                    "log-level = debug\n" % (self.port, self.db, self.control_path)) + text
        self.conf = os.path.join(self.dir, "threatbl.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.log = os.path.join(self.dir, "stderr.log")
        e = dict(os.environ)
        e.pop("THREATBL_API_KEY", None)
        e.update(env or {})
        self.logf = open(self.log, "ab")
        self.log_start = self.logf.tell()   # this run's lines come after
        self.proc = subprocess.Popen([THREATBLD, "-f", "-c", self.conf] + list(args),
                                     stdout=self.logf, stderr=self.logf, env=e,
                                     cwd=self.dir)
        if wait:
            self.wait_ready()

    def zones(self):
        out = []
        with open(self.conf) as f:
            for line in f:
                line = line.strip()
                if line.startswith("[zone ") and line.endswith("]"):
                    out.append(line[6:-1].strip())
        return out

    def wait_ready(self, timeout=10.0):
        """Ready when every zone answers its SOA (doc/configuration.md#start-up-and-readiness)
        and the server has logged that it is ready: the control socket, the HTTP
        listeners and the writers start after the first answers."""
        end = time.monotonic() + timeout
        pending = self.zones()
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("threatbld exited with %s:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            try:
                while pending:
                    r = self.query(pending[0], "SOA", timeout=0.3)
                    if r.rcode() != dns.rcode.NOERROR or not r.answer:
                        break
                    pending.pop(0)
                if not pending and self.logged_ready():
                    return
            except (dns.exception.Timeout, ConnectionRefusedError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("threatbld not ready after %.0fs:\n%s" % (timeout, self.stderr()))

    def query(self, name, rdtype="A", tcp=False, timeout=2.0, edns=-1, payload=1232,
              want_dnssec=False, rd=False):
        q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload,
                                   want_dnssec=want_dnssec)
        if not rd:
            q.flags &= ~dns.flags.RD
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout,
                             ignore_trailing=True)

    def control(self, *args, timeout=5.0):
        """One request on the control socket (doc/operations.md#control-protocol):
        (output lines, final line) as text."""
        return control_request(self.control_path, args, timeout)

    def send_raw_udp(self, data, timeout=1.0):
        """Send bytes; return the answer bytes or None when nothing came back."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(data, ("127.0.0.1", self.port))
            return s.recv(65535)
        except socket.timeout:
            return None
        finally:
            s.close()

    def logged_ready(self):
        """Whether this run has logged "threatbld VERSION ready: ..."."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.log_start)
                return b" ready: " in f.read()
        except OSError:
            return False

    def stderr(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("threatbld did not stop on SIGTERM")
        self.logf.close()
        return self.proc.returncode

    def stop_and_cleanup(self):
        """For tearDownClass: stop, remove the directory, and raise when the exit code
        was not 0 (with the log)."""
        try:
            rc = self.stop()
            if rc != 0:
                raise RuntimeError("threatbld exited with %s:\n%s" % (rc, self.stderr()))
        finally:
            self.cleanup()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)




class FreshAddresses:
    """Public IPv4 addresses never asked before in this run, from FIRST.SECOND.0.1 on
    (the fake answers them with large clean documents, fake_criminalip.noise); one
    instance per test file, each with its own FIRST."""

    def __init__(self, first, second):
        self.first, self.second, self.n = first, second, 0

    def take(self, count):
        out = []
        for _ in range(count):
            i = self.n
            self.n += 1
            out.append("%d.%d.%d.%d" % (self.first, self.second + i // 62500, i // 250 % 250,
                                        1 + i % 250))
        return out

class FakeAPICase(unittest.TestCase):
    """A fake Criminal IP (test/fake_criminalip.py) for the whole class, accepting the
    class's KEY, its counters reset before each test."""
    KEY = "tbl-KEY-test"

    @classmethod
    def setUpClass(cls):
        import fake_criminalip
        cls.fake = fake_criminalip.FakeCriminalIP(key=cls.KEY).start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()

def assert_clean_stop(case, d, key):
    """SIGTERM d: exit 0, no sanitizer report, the key nowhere in the log. The log."""
    rc = d.stop()
    log = d.stderr()
    case.assertEqual(rc, 0, "exit status after SIGTERM:\n" + log[-3000:])
    case.assertNotRegex(log, r"ERROR: AddressSanitizer|runtime error:|"
                        r"ERROR: LeakSanitizer|ThreadSanitizer")
    case.assertNotIn(key, log)
    return log


def rev4(ip, zone=ZONE):
    return ".".join(reversed(ip.split("."))) + "." + zone


def rev6(ip, zone=ZONE):
    import ipaddress
    nib = ipaddress.IPv6Address(ip).exploded.replace(":", "")
    return ".".join(reversed(nib)) + "." + zone


def a_values(resp):
    return sorted(rr.address for rrset in resp.answer
                  if rrset.rdtype == dns.rdatatype.A for rr in rrset)


def txt_values(resp):
    return sorted(b"".join(rr.strings).decode() for rrset in resp.answer
                  if rrset.rdtype == dns.rdatatype.TXT for rr in rrset)


class TapResult(unittest.TestResult):
    """Prints one TAP line per test as it ends."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, test, good, why=None, skip=None):
        self.n += 1
        name = test.id().split(".", 1)[-1]
        if skip is not None:
            print("ok %d - %s # SKIP %s" % (self.n, name, skip))
        else:
            print("%sok %d - %s" % ("" if good else "not ", self.n, name))
        if why:
            for line in why.rstrip().splitlines():
                print("#   " + line)
        sys.stdout.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, False, "".join(traceback.format_exception(*err)))

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, False, "".join(traceback.format_exception(*err)))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, True, skip=reason)


def main():
    """Run the calling module's TestCases and print TAP."""
    mod = sys.modules["__main__"]
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    res = TapResult()
    suite.run(res)
    print("1..%d" % res.n)
    sys.exit(0 if res.wasSuccessful() else 1)


# Raw wire helpers, for what dnspython would normalise or refuse to send: the case of
# the question, header flags and counts, opcodes, EDNS versions.

def control_raw(path, data, timeout=5.0):
    """Send bytes to a control socket, return everything it sent back before closing."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        if data:
            s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def control_request(path, args, timeout=5.0):
    """(output lines without their "+ ", final line) of one control request."""
    raw = control_raw(path, ("\t".join(("THREATBL1",) + tuple(args)) + "\n").encode(),
                      timeout)
    lines = raw.decode().split("\n")
    if lines[-1] != "":
        raise AssertionError("answer does not end with a newline: %r" % raw)
    lines = lines[:-1]
    for line in lines[:-1]:
        if not line.startswith("+ "):
            raise AssertionError("output line without '+ ': %r" % line)
    return [line[2:] for line in lines[:-1]], lines[-1]


def wire_name(name):
    """A name in uncompressed wire form, each label's case kept as written."""
    out = b""
    for label in [x for x in name.rstrip(".").split(".") if x]:
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def wire_question(name, rdtype="A", rdclass="IN"):
    import dns.rdataclass
    t = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    c = dns.rdataclass.from_text(rdclass) if isinstance(rdclass, str) else rdclass
    return wire_name(name) + t.to_bytes(2, "big") + c.to_bytes(2, "big")


def wire_query(name, rdtype="A", rdclass="IN", qid=0x1234, flags=0, opcode=0,
               edns=None, edns_version=0, questions=None):
    """One query message. flags: header flag bits as on the wire (0x0100 = RD,
    0x8000 = QR); opcode goes into bits 11-14. edns: None for no OPT record, else the
    UDP payload size of an OPT with version edns_version. questions: a list of
    wire_question() byte strings that replaces the one built from name/rdtype/rdclass
    (QDCOUNT follows its length; [] gives QDCOUNT 0)."""
    import struct
    qs = [wire_question(name, rdtype, rdclass)] if questions is None else questions
    flags = (flags & ~0x7800) | ((opcode & 0xf) << 11)
    msg = struct.pack(">HHHHHH", qid & 0xffff, flags, len(qs), 0, 0,
                      0 if edns is None else 1) + b"".join(qs)
    if edns is not None:
        msg += b"\0" + struct.pack(">HHBBHH", 41, edns, 0, edns_version, 0, 0)
    return msg


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def exchange(port, data, tcp=False, timeout=1.0, host="127.0.0.1"):
    """Send one DNS message; return the answer's bytes, or None when nothing came back
    (UDP: nothing before the timeout; TCP: the server closed or stayed silent)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not tcp:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(data, (host, port))
            return s.recv(65535)
        except socket.timeout:
            return None
        finally:
            s.close()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(len(data).to_bytes(2, "big") + data)
        head = _recv_exact(s, 2)
        if head is None:
            return None
        return _recv_exact(s, int.from_bytes(head, "big"))
    except (socket.timeout, ConnectionResetError):
        return None
    finally:
        s.close()


def tcp_read_message(sock):
    """One length-prefixed DNS message from a TCP socket, or None on close/timeout."""
    try:
        head = _recv_exact(sock, 2)
        if head is None:
            return None
        return _recv_exact(sock, int.from_bytes(head, "big"))
    except OSError:  # timeout, reset
        return None


def wait_answering(port, zone=ZONE, host="127.0.0.1", timeout=10.0, proc=None,
                   step=0.05, query_timeout=0.3):
    """Wait until host:port answers zone's SOA over UDP with NOERROR; True if it did.
    proc (a Popen) ends the wait early when it exits. step: the pause between tries,
    query_timeout: how long one try waits (small both to time a start-up closely)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            r = exchange(port, wire_query(zone, "SOA"), timeout=query_timeout, host=host)
        except OSError:
            r = None
        if r is not None and len(r) >= 12 and r[3] & 0xf == 0 and r[7] > 0:
            return True
        time.sleep(step)
    return False


# Lookups through the fake Criminal IP server (test/fake_criminalip.py).

def intel_conf(url, **settings):
    """An [intel] section that looks IPs up at url. settings: more keys, with "_" for
    "-" in their names (lookup_reserved="yes", daily_budget=2)."""
    text = "[intel]\nprovider = criminalip\nurl = %s\n" % url
    # The tests ask for many new addresses from one client (127.0.0.1): the per-client
    # share is tested on its own (test_fairness.py), not in every test.
    settings.setdefault("per_client_rate", "100000/s")
    settings.setdefault("per_client_burst", 100000)
    for key, value in settings.items():
        text += "%s = %s\n" % (key.replace("_", "-"), value)
    return text


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until it is true or timeout seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def soa_ttl(resp):
    """The TTL of the SOA in the authority section (negative answers), or None."""
    for rrset in resp.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset.ttl
    return None


def timed_query(d, name, rdtype="A", timeout=5.0):
    """(answer, seconds it took) of one UDP query to Daemon d."""
    t = time.monotonic()
    r = d.query(name, rdtype, timeout=timeout)
    return r, time.monotonic() - t


# Process and load helpers (fault, crash and abuse tests; test/valgrind/run).

# test/valgrind/run sets THREATBL_VALGRIND=1: the daemon is then tens of times slower,
# so time limits are multiplied by SLOW, and memory bounds are looser.
VALGRIND = bool(os.environ.get("THREATBL_VALGRIND"))
SLOW = 10.0 if VALGRIND else 1.0


def proc_status(pid):
    """/proc/PID/status as a dict of text values ("VmRSS": "1234 kB", "Uid": ...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def rss_kb(pid):
    """The resident set size of a process, in KiB."""
    return int(proc_status(pid)["VmRSS"].split()[0])


def udp_many(port, queries, rate=0.0, timeout=5.0, host="127.0.0.1"):
    """Send many UDP queries and collect the answers.

    queries: a list of (name, rdtype) or wire bytes. rate: queries per second (0: as
    fast as the socket takes them). Answers are matched by message ID (several sockets
    beyond 65,536 queries). Returns a list, in the order of queries, of
    (dns.message or None, seconds from send to answer or None)."""
    import select
    per = 60000
    socks = []
    wires = []
    for i, q in enumerate(queries):
        if isinstance(q, (bytes, bytearray)):
            w = bytearray(q)
        else:
            m = dns.message.make_query(q[0], q[1] if len(q) > 1 else "A")
            m.flags &= ~dns.flags.RD
            w = bytearray(m.to_wire())
        qid = i % per
        w[0:2] = qid.to_bytes(2, "big")
        wires.append(bytes(w))
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range((len(queries) + per - 1) // per):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        socks.append(s)
    results = [(None, None)] * len(queries)
    sent_at = [None] * len(queries)
    left = len(queries)
    nsent = 0
    start = time.monotonic()
    last_send = None
    try:
        while left:
            now = time.monotonic()
            if nsent < len(queries):
                due = len(queries) if rate <= 0 else min(
                    len(queries), int((now - start) * rate) + 1)
                while nsent < due:
                    s = socks[nsent // per]
                    try:
                        s.sendto(wires[nsent], (host, port))
                    except BlockingIOError:
                        break
                    sent_at[nsent] = time.monotonic()
                    nsent += 1
                last_send = time.monotonic()
            elif now - last_send > timeout:
                break
            wait = 0.01 if nsent < len(queries) else max(0.0, last_send + timeout - now)
            ready = select.select(socks, [], [], min(wait, 0.05))[0]
            for s in ready:
                base = socks.index(s) * per
                while True:
                    try:
                        data = s.recv(65535)
                    except BlockingIOError:
                        break
                    if len(data) < 2:
                        continue
                    i = base + int.from_bytes(data[:2], "big")
                    if i >= len(queries) or sent_at[i] is None or results[i][0] is not None:
                        continue
                    try:
                        msg = dns.message.from_wire(data, ignore_trailing=True)
                    except Exception:  # noqa: BLE001 - kept as raw bytes
                        msg = data
                    results[i] = (msg, time.monotonic() - sent_at[i])
                    left -= 1
    finally:
        for s in socks:
            s.close()
    return results


if VALGRIND:
    _kill_cleanup = Daemon.cleanup

    def _graceful_cleanup(self):
        """Under valgrind, stop with SIGTERM first: a SIGKILL leaves no leak report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        _kill_cleanup(self)

    Daemon.cleanup = _graceful_cleanup

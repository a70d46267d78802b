"""Black-box: threatbld as a systemd service (doc/configuration.md#running-under-systemd).

sd_notify through $NOTIFY_SOCKET (a datagram socket this test binds, by path and in
the abstract namespace, and one that does not exist): READY=1 once listening,
RELOADING=1 with MONOTONIC_USEC then READY=1 on SIGHUP, STATUS= with the zone and
verdict counts and a paused lookup, STOPPING=1 on SIGTERM. The journal's "<N>"
prefixes when $JOURNAL_STREAM names stderr. The API key as the credential
threatbl-api-key in $CREDENTIALS_DIRECTORY. The installed configuration passes -t,
and the unit passes `systemd-analyze verify`.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, THREATBLD, TOP_SRCDIR, rev4, a_values,  # noqa: E402
                     intel_conf, wait_for, free_port)

KEY = "tbl-KEY-service-7d2e"
VPN_IP = "203.0.113.10"  # a VPN profile of the fake (by last octet; reserved range)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

SECOND_ZONE = """
[zone bl2.test]
soa = ns1.bl2.test. hostmaster.bl2.test. 3600 600 604800 300
ns = ns1.bl2.test.
"""


class Notify:
    """A datagram socket standing in for systemd's notification socket. name: a path,
    or "@name" for the abstract namespace; .env is what NOTIFY_SOCKET gets."""

    def __init__(self, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)
        self.env = name
        self.msgs = []

    def next(self, timeout=10.0):
        """The next message as a list of KEY=VALUE lines, or None after timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        msg = data.decode().split("\n")
        self.msgs.append(msg)
        return msg

    def until(self, key, timeout=10.0):
        """The messages up to and including the first that has key (KEY=VALUE, or KEY
        alone for any value); the last is None when none came in time."""
        got = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            m = self.next(max(left, 0.01)) if left > 0 else None
            got.append(m)
            if m is None or any(line == key or line.startswith(key + "=") for line in m):
                return got

    def close(self):
        self.sock.close()


def field(msg, key):
    for line in msg or ():
        if line.startswith(key + "="):
            return line[len(key) + 1:]
    return None


def notified_daemon(test, conf=BASE_ZONE, name=None, env=None, **kw):
    """A Daemon with NOTIFY_SOCKET at a fresh socket (or name); returns (daemon, notify)."""
    tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
    n = Notify(name or os.path.join(tmp, "notify.sock"))
    e = {"NOTIFY_SOCKET": n.env}
    e.update(env or {})
    d = Daemon(conf, env=e, tmpdir=tmp, wait=False, **kw)
    test.addCleanup(d.cleanup)
    test.addCleanup(n.close)
    return d, n


class Readiness(unittest.TestCase):

    def test_ready_once_listening_then_answers(self):
        d, n = notified_daemon(self)
        got = n.until("READY")
        self.assertIsNotNone(got[-1], "no READY=1:\n" + d.stderr())
        self.assertEqual(field(got[-1], "READY"), "1")
        # No wait, no retry: listening is what READY=1 means.
        r = d.query("bl.test", "SOA", timeout=2.0)
        self.assertTrue(r.answer, "READY=1 sent before the zone answered")
        self.assertEqual(field(got[-1], "STATUS"), "serving 1 zone, 0 verdicts; lookups off")

    def test_reload_stop(self):
        d, n = notified_daemon(self, conf=BASE_ZONE + SECOND_ZONE)
        self.assertIsNotNone(n.until("READY")[-1], d.stderr())
        before = time.monotonic_ns() // 1000
        d.signal(signal.SIGHUP)
        got = n.until("RELOADING")
        after = time.monotonic_ns() // 1000
        self.assertIsNotNone(got[-1], "no RELOADING=1 on SIGHUP:\n" + d.stderr())
        self.assertEqual(field(got[-1], "RELOADING"), "1")
        usec = field(got[-1], "MONOTONIC_USEC")
        self.assertIsNotNone(usec, "RELOADING=1 without MONOTONIC_USEC: %r" % got[-1])
        # CLOCK_MONOTONIC, the clock systemd compares it with: between the signal and
        # the message.
        self.assertTrue(before <= int(usec) <= after, (before, usec, after))
        got = n.until("READY")
        self.assertIsNotNone(got[-1], "no READY=1 after the reload:\n" + d.stderr())
        self.assertEqual(field(got[-1], "STATUS"), "serving 2 zones, 0 verdicts; lookups off")
        self.assertTrue(d.query("bl2.test", "SOA").answer)
        d.signal(signal.SIGTERM)
        got = n.until("STOPPING")
        self.assertIsNotNone(got[-1], "no STOPPING=1 on SIGTERM:\n" + d.stderr())
        self.assertEqual(field(got[-1], "STOPPING"), "1")
        self.assertEqual(d.proc.wait(10), 0)
        # Nothing announces readiness after STOPPING=1.
        rest = []
        while True:
            m = n.next(0.2)
            if m is None:
                break
            rest.append(m)
        self.assertFalse([m for m in rest if field(m, "READY")], rest)

    def test_failed_reload_in_status(self):
        d, n = notified_daemon(self)
        self.assertIsNotNone(n.until("READY")[-1], d.stderr())
        good = open(d.conf).read()
        with open(d.conf, "w") as f:
            f.write(good + "\n[server]\nthreads = many\n")
        d.signal(signal.SIGHUP)
        got = n.until("READY")
        self.assertIsNotNone(got[-1], d.stderr())
        self.assertIn("RELOADING=1", sum(got, []))
        self.assertIn("the last reload failed", field(got[-1], "STATUS"))
        with open(d.conf, "w") as f:
            f.write(good)
        d.signal(signal.SIGHUP)
        got = n.until("READY")
        self.assertIsNotNone(got[-1], d.stderr())
        self.assertEqual(field(got[-1], "STATUS"), "serving 1 zone, 0 verdicts; lookups off")

    def test_abstract_socket(self):
        name = "@threatbl-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        d, n = notified_daemon(self, name=name)
        got = n.until("READY")
        self.assertIsNotNone(got[-1], "nothing on %s:\n%s" % (name, d.stderr()))
        self.assertTrue(d.query("bl.test", "SOA").answer)

    def test_socket_that_does_not_exist(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
        d = Daemon(BASE_ZONE, env={"NOTIFY_SOCKET": tmp + "/no/such.sock"}, tmpdir=tmp)
        self.addCleanup(d.cleanup)
        self.assertTrue(d.query("bl.test", "SOA").answer)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 10), d.stderr())
        self.assertTrue(d.query("bl.test", "SOA").answer)
        self.assertEqual(d.stop(), 0)
        log = d.stderr()
        self.assertEqual(log.count("cannot notify the service manager at NOTIFY_SOCKET"), 1,
                         "one warning, not one per message:\n" + log)

    def test_not_a_socket_address(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
        d = Daemon(BASE_ZONE, env={"NOTIFY_SOCKET": "vsock:2:1234"}, tmpdir=tmp)
        self.addCleanup(d.cleanup)
        self.assertTrue(d.query("bl.test", "SOA").answer)
        self.assertIn("NOTIFY_SOCKET is not an AF_UNIX socket address", d.stderr())
        self.assertEqual(d.stop(), 0)


class Status(tbltest.FakeAPICase):
    KEY = KEY

    def test_verdicts_and_paused_lookups(self):
        conf = BASE_ZONE + intel_conf(self.fake.url, lookup_reserved="yes",
                                      daily_budget=1)
        d, n = notified_daemon(self, conf=conf, env={"THREATBL_API_KEY": KEY})
        got = n.until("READY")
        self.assertIsNotNone(got[-1], d.stderr())
        self.assertEqual(field(got[-1], "STATUS"), "serving 1 zone, 0 verdicts")
        r = d.query(rev4(VPN_IP), timeout=5)
        self.assertEqual(a_values(r), ["127.0.0.2"], d.stderr())
        # The one call of the day is spent: the status says so by itself (the timer).
        end = time.monotonic() + 30
        status = None
        while time.monotonic() < end:
            m = n.next(max(end - time.monotonic(), 0.01))
            if m is None:
                break
            status = field(m, "STATUS") or status
            if status and "paused" in status:
                break
        self.assertEqual(status, "serving 1 zone, 1 verdict; lookups paused: daily budget "
                         "used up (until 00:00 UTC)", d.stderr())
        self.assertEqual(d.stop(), 0)


class Journal(unittest.TestCase):

    def start(self, stream):
        """A daemon whose stderr is a file; stream(st) gives JOURNAL_STREAM from its
        stat. Returns the daemon, stopped, and its log lines."""
        tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
        log = os.path.join(tmp, "stderr.log")
        open(log, "wb").close()
        d = Daemon(BASE_ZONE, env={"JOURNAL_STREAM": stream(os.stat(log))}, tmpdir=tmp)
        self.addCleanup(d.cleanup)
        # A reload that fails, for an error line among the others.
        with open(d.conf, "a") as f:
            f.write("[server]\nthreads = many\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload failed" in d.stderr(), 10), d.stderr())
        self.assertEqual(d.stop(), 0)
        return [line for line in d.stderr().splitlines() if line]

    def test_priority_prefixes(self):
        lines = self.start(lambda st: "%d:%d" % (st.st_dev, st.st_ino))
        self.assertTrue(lines)
        bad = [line for line in lines if not re.match(r"<[0-7]>\S", line)]
        self.assertEqual(bad, [], "lines without a <N> prefix")
        self.assertEqual([line for line in lines if TIMESTAMP.search(line)], [],
                         "the journal has its own timestamps")
        self.assertTrue([line for line in lines if line.startswith("<6>threatbld ")
                         and " ready: " in line], lines)
        self.assertTrue([line for line in lines if line.startswith("<3>reload failed")],
                        "errors at <3>: %r" % lines)
        self.assertFalse([line for line in lines if "threatbld[" in line],
                         "the journal records the name and pid itself")

    def test_other_stream_keeps_timestamps(self):
        # Another file's device and inode: stderr is not the journal (a shell
        # redirected it), so lines stay as they are.
        other = os.stat("/")
        lines = self.start(lambda st: "%d:%d" % (other.st_dev, other.st_ino))
        self.assertTrue(lines)
        self.assertEqual([line for line in lines if not TIMESTAMP.match(line)], [])

    def test_malformed_variable_ignored(self):
        lines = self.start(lambda st: "%d:%dx" % (st.st_dev, st.st_ino))
        self.assertTrue(lines)
        self.assertEqual([line for line in lines if not TIMESTAMP.match(line)], [])


def check(conf, env=None, files=None, cred=None):
    """threatbld -t on conf (filled with {dir}); cred: the credential's bytes (a
    CREDENTIALS_DIRECTORY is made for it), or None. (exit code, stderr)."""
    tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
    try:
        e = dict(os.environ)
        e.pop("THREATBL_API_KEY", None)
        e.pop("CREDENTIALS_DIRECTORY", None)
        if cred is not None:
            os.mkdir(tmp + "/creds", 0o700)
            with open(tmp + "/creds/threatbl-api-key", "wb") as f:
                f.write(cred)
            os.chmod(tmp + "/creds/threatbl-api-key", 0o400)
            e["CREDENTIALS_DIRECTORY"] = tmp + "/creds"
        e.update(env or {})
        for name, text in (files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(tmp, name), 0o600)
        path = os.path.join(tmp, "threatbl.conf")
        with open(path, "w") as f:
            f.write(conf.format(dir=tmp))
        p = subprocess.run([THREATBLD, "-t", "-c", path], env=e, capture_output=True,
                           timeout=20, cwd=tmp)
        return p.returncode, p.stderr.decode(errors="replace")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


NEEDS_KEY = BASE_ZONE + "[intel]\nprovider = criminalip\n"


class Credential(tbltest.FakeAPICase):
    KEY = KEY

    def test_check_accepts_the_credential(self):
        code, err = check(NEEDS_KEY)
        self.assertEqual(code, 1, "without a key provider = criminalip must fail")
        code, err = check(NEEDS_KEY, cred=KEY.encode() + b"\n")
        self.assertEqual((code, err), (0, ""))

    def test_bad_credential_named_not_shown(self):
        code, err = check(NEEDS_KEY, cred=b"tbl-KEY\xc2\xa0secret\n")
        self.assertEqual(code, 1)
        self.assertIn("/creds/threatbl-api-key", err)
        self.assertIn("position 8", err)
        self.assertNotIn("secret", err)

    def test_empty_credential_falls_back_to_environment(self):
        code, err = check(NEEDS_KEY, cred=b"")
        self.assertEqual(code, 1, "an empty credential is no key")
        code, err = check(NEEDS_KEY, cred=b"", env={"THREATBL_API_KEY": KEY})
        self.assertEqual((code, err), (0, ""))

    def test_key_file_wins(self):
        conf = NEEDS_KEY + "api-key-file = {dir}/key\n"
        code, err = check(conf, cred=b"bad\xffkey", files={"key": KEY})
        self.assertEqual((code, err), (0, ""), "api-key-file is read, not the credential")

    def test_lookups_use_it(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
        os.mkdir(tmp + "/creds", 0o700)
        with open(tmp + "/creds/threatbl-api-key", "w") as f:
            f.write(KEY + "\n")
        conf = BASE_ZONE + intel_conf(self.fake.url, lookup_reserved="yes")
        d = Daemon(conf, tmpdir=tmp,
                   env={"CREDENTIALS_DIRECTORY": tmp + "/creds",
                        "THREATBL_API_KEY": "tbl-not-this-one"})
        self.addCleanup(d.cleanup)
        r = d.query(rev4(VPN_IP), timeout=5)
        self.assertEqual(a_values(r), ["127.0.0.2"], d.stderr())
        self.assertEqual(d.stop(), 0)
        log = d.stderr()
        self.assertIn("API key from the credential threatbl-api-key", log)
        self.assertNotIn(KEY, log)


class Installed(unittest.TestCase):
    """What make install puts in place, as built in this tree."""

    def builddir(self):
        return os.path.dirname(os.path.dirname(os.path.abspath(THREATBLD)))

    def test_installed_configuration_passes_check(self):
        path = os.path.join(self.builddir(), "dist", "threatbl.conf")
        self.assertTrue(os.path.exists(path), "make did not build " + path)
        p = subprocess.run([THREATBLD, "-t", "-c", path], capture_output=True, timeout=20,
                           env={k: v for k, v in os.environ.items()
                                if k not in ("THREATBL_API_KEY", "CREDENTIALS_DIRECTORY")})
        self.assertEqual((p.returncode, p.stderr.decode()), (0, ""))
        with open(path) as f:
            text = f.read()
        self.assertNotIn("@", re.sub(r"(?m)^#.*$", "", text), "a placeholder left over")
        db = re.search(r"(?m)^database = (.*)$", text).group(1)
        self.assertTrue(db.startswith("/") and db.endswith("/lib/threatbl/threatbl.sqlite"),
                        db)

    def test_unit_verifies(self):
        tool = shutil.which("systemd-analyze")
        if not tool:
            self.skipTest("systemd-analyze is not installed (tools/setup-debian installs "
                          "the package systemd)")
        unit = os.path.join(self.builddir(), "dist", "systemd", "threatbld.service")
        self.assertTrue(os.path.exists(unit), "make did not build " + unit)
        tmp = tempfile.mkdtemp(prefix="threatbl-svc-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(unit) as f:
            text = f.read()
        self.assertIn("\nType=notify\n", text)
        self.assertIn("\nExecReload=/bin/kill -HUP $MAINPID\n", text)
        self.assertRegex(text, r"\nLoadCredential=threatbl-api-key:/\S+/threatbl/api-key\n")
        # The unit names the installed binary; verify checks that it is executable, so
        # the copy names the one just built. The manual pages it cites are looked up
        # in a MANPATH made of the sources'.
        text = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + os.path.abspath(THREATBLD),
                      text)
        with open(os.path.join(tmp, "threatbld.service"), "w") as f:
            f.write(text)
        for sect, page in (("8", "server/threatbld.8"), ("1", "tools/threatbl.1")):
            os.makedirs(os.path.join(tmp, "man", "man" + sect))
            shutil.copy(os.path.join(TOP_SRCDIR, page), os.path.join(tmp, "man", "man" + sect))
        env = dict(os.environ, MANPATH=os.path.join(tmp, "man"))
        args = [tool, "verify"]
        if not shutil.which("man"):
            args.append("--man=no")
        p = subprocess.run(args + [os.path.join(tmp, "threatbld.service")],
                           capture_output=True, timeout=60, env=env)
        self.assertEqual((p.returncode, p.stdout.decode() + p.stderr.decode()), (0, ""))


if __name__ == "__main__":
    tbltest.main()

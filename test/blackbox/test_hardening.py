"""Black-box: abuse and operator mistakes (doc/configuration.md#running-it-on-the-internet).

A database path that is a symbolic link, a key with a byte that is not visible ASCII,
a root-only key file after dropping root, a list that never ends (a FIFO, /dev/zero)
or is too large, a TSIG-signed query, a database deleted while running, the mode of a
new database, the daily budget across restarts.
"""
import os
import pwd
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
import fake_criminalip  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, THREATBLD, rev4, a_values, intel_conf,  # noqa: E402
                     wait_for, free_port)

KEY = "tbl-KEY-hardening-5b1c"
VPN_IP = "203.0.113.10"  # a VPN profile of the fake (by last octet; reserved range)


def check(conf_text, env=None, files=None, timeout=10):
    """threatbld -t on conf_text in a new directory: (exit code, stderr)."""
    tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
    try:
        for name, text in (files or {}).items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(text if isinstance(text, bytes) else text.encode())
        conf = os.path.join(tmp, "threatbl.conf")
        with open(conf, "w") as f:
            f.write(conf_text.format(dir=tmp, port=free_port(), db=tmp + "/v.sqlite"))
        e = dict(os.environ)
        e.pop("THREATBL_API_KEY", None)
        e.update(env or {})
        p = subprocess.run([THREATBLD, "-t", "-c", conf], env=e, capture_output=True,
                           timeout=timeout, cwd=tmp)
        return p.returncode, p.stderr.decode(errors="replace")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def server_conf(extra=""):
    return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = {db}\nlog-level = debug\n"
            + extra + BASE_ZONE)


class DatabasePassword(unittest.TestCase):
    """[server] database-password-file: a FIFO, a directory or a device never hangs or
    feeds the start, an empty file is refused, and PostgreSQL unreachable at the start
    stops it with the reason; -t reads the file as the start does. No PostgreSQL is
    needed: the password is read before connecting (port 1 refuses)."""
    URI = "postgresql://threatbl@127.0.0.1:1/threatbl"
    SECRET = "pw-hardening-7d1f"

    def conf(self, path):
        return ("[server]\nlisten = 127.0.0.1:{port}\ndatabase = %s\n"
                "database-password-file = %s\ncontrol =\n" % (self.URI, path) + BASE_ZONE)

    def run_start(self, path, setup):
        tmp = tempfile.mkdtemp(prefix="threatbl-dbpw-")
        self.addCleanup(shutil.rmtree, tmp, True)
        setup(os.path.join(tmp, "pw"))
        conf = os.path.join(tmp, "threatbl.conf")
        with open(conf, "w") as f:
            f.write(self.conf(path.format(dir=tmp)).format(port=free_port()))
        out = []
        for args in (["-t"], ["-f"]):
            p = subprocess.run([THREATBLD] + args + ["-c", conf], capture_output=True,
                               timeout=20, cwd=tmp)
            out.append((p.returncode, p.stderr.decode(errors="replace")))
        return out

    def test_not_a_regular_file(self):
        for what, setup in (("a FIFO", os.mkfifo), ("a directory", os.mkdir),
                            ("a link to /dev/zero", lambda p: os.symlink("/dev/zero", p))):
            for rc, err in self.run_start("{dir}/pw", setup):
                self.assertEqual(rc, 1, "%s: %s" % (what, err))
                self.assertRegex(err, r"database-password-file \S+/pw is not a regular file",
                                 what)

    def test_empty_missing_and_unreachable(self):
        def empty(p):
            open(p, "w").close()

        def good(p):
            with open(p, "w") as f:
                f.write(self.SECRET + "\n")
            os.chmod(p, 0o600)
        for rc, err in self.run_start("{dir}/pw", empty):
            self.assertEqual(rc, 1, err)
            self.assertIn("is empty", err)
        for rc, err in self.run_start("{dir}/absent", good):
            self.assertEqual(rc, 1, err)
            self.assertIn("No such file or directory", err)
        (t_rc, t_err), (rc, err) = self.run_start("{dir}/pw", good)
        self.assertEqual(t_rc, 0, "-t does not connect: %s" % t_err)
        self.assertEqual(rc, 1, "PostgreSQL unreachable at the start: %s" % err)
        self.assertIn("cannot connect", err)
        self.assertIn("threatbl@127.0.0.1:1", err, "the database named")
        self.assertNotIn(self.SECRET, t_err + err, "the password is never logged")


class ApiKey(unittest.TestCase):
    """One validator for -t, the start and reloads."""

    def conf(self):
        return server_conf() + intel_conf("http://127.0.0.1:9", api_key_file="{dir}/key")

    def test_no_break_space_fails_check(self):
        secret = "abcDEF123456"
        code, err = check(self.conf(), files={"key": secret.encode() + b"\xc2\xa0\n"})
        self.assertEqual(code, 1, err)
        self.assertIn("position 13 of 14", err)
        self.assertNotIn(secret, err)

    def test_inner_space_fails_check(self):
        code, err = check(self.conf(), files={"key": "abc def\n"})
        self.assertEqual(code, 1, err)
        self.assertIn("position 4", err)
        self.assertNotIn("abc", err)

    def test_surrounding_white_space_is_trimmed(self):
        code, err = check(self.conf(), files={"key": " \t abcdef \r\n\n"})
        self.assertEqual(code, 0, err)

    def test_environment_key_checked_too(self):
        code, err = check(server_conf() + intel_conf("http://127.0.0.1:9"),
                          env={"THREATBL_API_KEY": "abc\u00e9def"})
        self.assertEqual(code, 1, err)
        self.assertIn("THREATBL_API_KEY", err)
        self.assertIn("position 4", err)

    def test_start_refused_with_bad_key(self):
        d = Daemon(server_conf() + intel_conf("http://127.0.0.1:9",
                                              api_key_file="{dir}/key"),
                   files={"key": "abc\x7fdef"}, wait=False)
        self.addCleanup(d.cleanup)
        self.assertNotEqual(d.proc.wait(10), 0)
        self.assertIn("position 4", d.stderr())

    def test_key_file_a_fifo_is_refused(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.mkfifo(os.path.join(tmp, "fifo"))
        conf = server_conf() + intel_conf("http://127.0.0.1:9",
                                          api_key_file=os.path.join(tmp, "fifo"))
        code, err = check(conf, timeout=5)
        self.assertEqual(code, 1, err)
        self.assertIn("not a regular file", err)


class QuietMistakes(unittest.TestCase):
    """Mistakes that work but should not go unnoticed: -t warns, and still passes."""

    def test_plain_http_to_another_host(self):
        for url, warned in (("http://api.example.net", True),
                            ("http://user@10.1.2.3:8080/x", True),
                            ("http://127.0.0.1:9", False), ("http://localhost", False),
                            ("http://[::1]:80", False), ("https://api.example.net", False),
                            ("http://127.0.0.1.example.net", True)):
            code, err = check(server_conf() + intel_conf(url, api_key_file="{dir}/key"),
                              files={"key": "abcdef"})
            self.assertEqual(code, 0, err)
            self.assertEqual("plain HTTP" in err, warned, url + ": " + err)

    def test_key_file_readable_by_others(self):
        for mode, warned in ((0o644, "its group and others"), (0o640, "its group"),
                             (0o604, "others"), (0o600, None), (0o400, None)):
            tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
            self.addCleanup(shutil.rmtree, tmp, True)
            key = os.path.join(tmp, "key")
            with open(key, "w") as f:
                f.write("abcdef\n")
            os.chmod(key, mode)
            code, err = check(server_conf() + intel_conf("http://127.0.0.1:9",
                                                         api_key_file=key))
            self.assertEqual(code, 0, err)
            if warned:
                self.assertIn("readable or writable by %s (mode %04o)" % (warned, mode), err)
            else:
                self.assertNotIn("readable", err)
            self.assertNotIn("abcdef", err)


class NeverEndingLists(unittest.TestCase):
    """A static list is read only when it is a regular file within max-list-size."""

    def test_check_refuses_fifo_and_device(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.mkfifo(os.path.join(tmp, "fifo.list"))
        os.symlink("/dev/zero", os.path.join(tmp, "zero.list"))
        for name, why in (("fifo.list", "a FIFO"), ("zero.list", "a device")):
            conf = server_conf() + "static = %s/%s\n" % (tmp, name)
            t0 = time.monotonic()
            code, err = check(conf, timeout=5)
            self.assertEqual(code, 1, err)
            self.assertIn("not a regular file (%s)" % why, err)
            self.assertLess(time.monotonic() - t0, 5)

    def test_max_list_size(self):
        big = "".join("10.0.%d.%d\n" % (i // 250, 1 + i % 250) for i in range(400))
        conf = server_conf("max-list-size = 2K\n") + "static = {dir}/big.list\n"
        code, err = check(conf, files={"big.list": big})
        self.assertEqual(code, 1, err)
        self.assertIn("more than max-list-size (2048)", err)
        conf = server_conf("max-list-size = 1M\n") + "static = {dir}/big.list\n"
        code, err = check(conf, files={"big.list": big})
        self.assertEqual(code, 0, err)
        code, err = check(server_conf("max-list-size = 3X\n"))
        self.assertEqual(code, 1, err)
        self.assertIn("not a size", err)

    def test_reload_onto_dev_zero_keeps_serving(self):
        d = Daemon(server_conf() + "static = {dir}/local.list\n",
                   files={"local.list": "192.0.2.77\n"})
        self.addCleanup(d.stop_and_cleanup)
        self.assertEqual(a_values(d.query(rev4("192.0.2.77"))), ["127.0.0.2"])
        path = os.path.join(d.dir, "local.list")
        os.unlink(path)
        os.symlink("/dev/zero", path)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload failed" in d.stderr(), 5), d.stderr())
        self.assertIn("not a regular file (a device)", d.stderr())
        # the previous lists still answer, and SIGTERM stops at once
        self.assertEqual(a_values(d.query(rev4("192.0.2.77"))), ["127.0.0.2"])
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0, d.stderr())
        self.assertLess(time.monotonic() - t0, 5)


class Tsig(unittest.TestCase):
    """threatbl holds no TSIG keys: a signed query gets NOTAUTH and BADKEY
    (RFC 8945 §5.2), unsigned, as NSD answers it."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(server_conf())

    @classmethod
    def tearDownClass(cls):
        cls.d.stop_and_cleanup()

    def signed(self, name, use_edns=False):
        ring = dns.tsigkeyring.from_text({"tkey.example.": "c2VjcmV0c2VjcmV0c2VjcmV0"})
        q = dns.message.make_query(name, "A", use_edns=use_edns)
        q.use_tsig(ring, keyname="tkey.example.", algorithm=dns.tsig.HMAC_SHA256)
        return q

    def raw(self, q, tcp=False):
        wire = q.to_wire()
        return wire, tbltest.exchange(self.d.port, wire, tcp=tcp)

    def test_badkey(self):
        for tcp in (False, True):
            for edns in (False, True):
                wire, r = self.raw(self.signed(rev4("127.0.0.2", tbltest.ZONE), edns), tcp)
                self.assertIsNotNone(r)
                self.assertEqual(r[:2], wire[:2])
                self.assertEqual(r[3] & 0x0f, 9, "NOTAUTH")
                # dnspython reads the TSIG error and raises it
                with self.assertRaises(dns.tsig.PeerBadKey):
                    dns.message.from_wire(r, keyring=dns.tsigkeyring.from_text(
                        {"tkey.example.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), request_mac=b"")
                self.assertEqual(r[6:10], b"\0\0\0\0", "no answer, no authority")
                self.assertEqual(r[10:12], bytes([0, 2 if edns else 1]))
                # the TSIG record is last: key name, TSIG, class ANY, TTL 0, then
                # hmac-sha256., time signed and fudge as sent, MAC size 0, original
                # ID, error BADKEY, other len 0
                key = b"\x04tkey\x07example\x00"
                alg = b"\x0bhmac-sha256\x00"
                rdata = r[-(len(alg) + 16):]
                head = r[-(len(alg) + 16 + 10 + len(key)):-(len(alg) + 16)]
                self.assertEqual(head, key + b"\x00\xfa\x00\xff\0\0\0\0" +
                                 (len(alg) + 16).to_bytes(2, "big"))
                sent = wire[-(len(alg) + 16 + 32):]  # the query's RDATA (32-byte MAC)
                self.assertEqual(rdata[:len(alg) + 8], sent[:len(alg) + 8])
                self.assertEqual(rdata[len(alg) + 8:], b"\0\0" + wire[:2] +
                                 b"\x00\x11\x00\x00")
                if edns:
                    opt = r[-(len(alg) + 16 + 10 + len(key) + 11):-(len(alg) + 16 + 10 + len(key))]
                    self.assertEqual(opt[:3], b"\x00\x00\x29")

    def test_outside_zones_too(self):
        wire, r = self.raw(self.signed("example.com."))
        self.assertEqual(r[3] & 0x0f, 9)

    def test_tsig_not_last_is_formerr(self):
        q = self.signed(rev4("127.0.0.2", tbltest.ZONE))
        wire = bytearray(q.to_wire())
        # one more additional record after the TSIG: an empty-name A record
        wire[11] += 1
        wire += b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x7f\x00\x00\x01"
        r = tbltest.exchange(self.d.port, bytes(wire))
        self.assertEqual(r[3] & 0x0f, 1, "FORMERR")

    def test_unsigned_still_answered(self):
        r = self.d.query(rev4("127.0.0.2", tbltest.ZONE))
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)


class Database(unittest.TestCase):

    def test_new_database_mode(self):
        d = Daemon(server_conf())
        self.addCleanup(d.stop_and_cleanup)
        self.assertEqual(stat.S_IMODE(os.stat(d.db).st_mode) & 0o077 & ~0o040, 0,
                         oct(os.stat(d.db).st_mode))
        self.assertEqual(stat.S_IMODE(os.stat(d.db).st_mode) & 0o007, 0)

    def test_symlink_refused(self):
        tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        target = os.path.join(tmp, "target.sqlite")
        link = os.path.join(tmp, "v.sqlite")
        os.symlink(target, link)
        d = Daemon(server_conf().replace("{db}", link), wait=False, tmpdir=tmp)
        self.addCleanup(d.cleanup)
        self.assertNotEqual(d.proc.wait(10), 0)
        self.assertIn("symbolic link", d.stderr())
        self.assertFalse(os.path.lexists(target), "the link's target was created")

    @unittest.skipUnless(os.geteuid() == 0, "needs root: the daemon must start as root")
    def test_symlink_refused_when_dropping_root(self):
        """The attack: the daemon's user owns the directory and plants a dangling link
        at the database path; root must neither create the target nor chown it."""
        nobody = pwd.getpwnam("nobody")
        tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        os.chown(tmp, nobody.pw_uid, nobody.pw_gid)
        victim = os.path.join(tempfile.mkdtemp(prefix="threatbl-victim-"), "owned")
        self.addCleanup(shutil.rmtree, os.path.dirname(victim), True)
        link = os.path.join(tmp, "v.sqlite")
        os.symlink(victim, link)
        conf = server_conf("user = nobody\n").replace("{db}", link)
        d = Daemon(conf, wait=False, tmpdir=tmp)
        self.addCleanup(d.cleanup)
        self.assertNotEqual(d.proc.wait(10), 0)
        self.assertIn("symbolic link", d.stderr())
        self.assertFalse(os.path.lexists(victim))
        # and a -wal link next to a real database
        os.unlink(link)
        wal = os.path.join(tmp, "v.sqlite-wal")
        os.symlink(victim, wal)
        d2 = Daemon(conf, wait=False, tmpdir=tmp)
        self.addCleanup(d2.cleanup)
        self.assertNotEqual(d2.proc.wait(10), 0)
        self.assertIn("v.sqlite-wal is a symbolic link", d2.stderr())
        self.assertFalse(os.path.lexists(victim))

    def test_deleted_while_running(self):
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        d = Daemon(server_conf() + intel_conf(fake.url, deadline="3s", lookup_reserved="yes"),
                   env={"THREATBL_API_KEY": KEY})
        self.addCleanup(d.stop_and_cleanup)
        self.assertEqual(a_values(d.query(rev4(VPN_IP), timeout=5)), ["127.0.0.2"])

        def rows():
            try:
                db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True, timeout=2)
                try:
                    return db.execute("SELECT count(*) FROM verdicts").fetchone()[0]
                finally:
                    db.close()
            except sqlite3.Error:
                return 0
        self.assertTrue(wait_for(rows, 5), d.stderr())
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(d.db + suffix):
                os.unlink(d.db + suffix)
        self.assertTrue(wait_for(lambda: "deleted or replaced" in d.stderr(), 6),
                        d.stderr())
        self.assertTrue(wait_for(lambda: os.path.exists(d.db) and rows() >= 1, 6),
                        d.stderr())
        self.assertEqual(d.stop(), 0, d.stderr())
        # a restart finds the verdict without asking again
        before = fake.total()
        d2 = Daemon(server_conf().replace("{db}", d.db) + intel_conf(fake.url, lookup_reserved="yes"),
                    env={"THREATBL_API_KEY": KEY})
        self.addCleanup(d2.stop_and_cleanup)
        self.assertEqual(a_values(d2.query(rev4(VPN_IP))), ["127.0.0.2"])
        self.assertEqual(fake.total(), before)


class Budget(unittest.TestCase):
    """daily-budget is the day's: restarts do not reset it (the count is kept in the
    database)."""

    def test_budget_survives_restarts(self):
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        fresh = tbltest.FreshAddresses(91, 40)
        tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = server_conf() + intel_conf(fake.url, daily_budget=3, deadline="3s")
        for round_no in range(3):
            d = Daemon(conf, env={"THREATBL_API_KEY": KEY}, tmpdir=tmp)
            for ip in fresh.take(3):
                d.query(rev4(ip), timeout=5)
            self.assertEqual(d.stop(), 0, d.stderr())
            self.assertEqual(fake.total(), 3, "after start %d:\n%s" % (round_no + 1,
                                                                      d.stderr()))
            if round_no:
                self.assertIn("3 calls to Criminal IP made earlier today", d.stderr())
            os.unlink(d.log)


@unittest.skipUnless(os.geteuid() == 0, "needs root: the daemon must start as root")
class RootOnlyKey(unittest.TestCase):
    """The example configuration advises a key file readable by root only: after the
    daemon has become its user, a reload keeps the key it read at start."""

    def test_reload_keeps_key(self):
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        self.addCleanup(fake.stop)
        tmp = tempfile.mkdtemp(prefix="threatbl-hard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        nobody = pwd.getpwnam("nobody")
        os.chmod(tmp, 0o755)
        db_dir = os.path.join(tmp, "db")
        os.mkdir(db_dir)
        os.chown(db_dir, nobody.pw_uid, nobody.pw_gid)
        key = os.path.join(tmp, "key")
        with open(key, "w") as f:
            f.write(KEY + "\n")
        os.chmod(key, 0o600)
        conf = (server_conf("user = nobody\n").replace("{db}", db_dir + "/v.sqlite")
                + intel_conf(fake.url, api_key_file=key, deadline="3s",
                                    lookup_reserved="yes"))
        d = Daemon(conf, tmpdir=tmp)
        self.addCleanup(d.stop_and_cleanup)
        self.assertIn("running as user nobody", d.stderr())
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.stderr(), 5), d.stderr())
        self.assertIn("keeping the API key read before", d.stderr())
        self.assertNotIn("reload failed", d.stderr())
        self.assertEqual(a_values(d.query(rev4(VPN_IP), timeout=5)), ["127.0.0.2"])
        self.assertEqual(fake.count()["bad_key"], 0)


if __name__ == "__main__":
    tbltest.main()

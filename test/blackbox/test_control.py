"""Black-box: the control socket's plumbing (doc/operations.md#control-protocol).

The protocol (version word, tabs, "+ " lines, the final ok/error line), what a client
cannot do to it (control characters, an overlong line, too many arguments, silence,
more connections than allowed), and what is at the path when it starts: a socket left
by a dead process is replaced; a live one, a file, a symbolic link or a missing
directory are errors. The socket is made 0660. The commands that do something are
tested with them (test_stats.py, test_steer.py ...).
"""
import os
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import Daemon, BASE_ZONE, THREATBLD, control_raw, control_request  # noqa: E402

SERVER = """[server]
listen = 127.0.0.1:{port}
database = {db}
control = %s
log-level = debug
""" + BASE_ZONE


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop_and_cleanup()

    def test_version(self):
        out, last = self.d.control("version")
        self.assertEqual(last, "ok")
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r"^threatbld \d+\.\d+\.\d+")

    def test_help_lists_commands(self):
        out, last = self.d.control("help")
        self.assertEqual(last, "ok")
        self.assertIn("help", out)
        self.assertIn("version", out)

    def test_unknown_command(self):
        out, last = self.d.control("frobnicate")
        self.assertEqual(out, [])
        self.assertTrue(last.startswith("error unknown command 'frobnicate'"), last)

    def test_wrong_argument_count(self):
        out, last = self.d.control("version", "extra")
        self.assertEqual(last, "error usage: version")

    def test_wrong_version_word(self):
        raw = control_raw(self.d.control_path, b"THREATBL0\tversion\n")
        self.assertTrue(raw.startswith(b"error protocol:"), raw)
        raw = control_raw(self.d.control_path, b"version\n")
        self.assertTrue(raw.startswith(b"error protocol:"), raw)

    def test_empty_command(self):
        raw = control_raw(self.d.control_path, b"THREATBL1\n")
        self.assertTrue(raw.startswith(b"error no command"), raw)
        raw = control_raw(self.d.control_path, b"THREATBL1\t\n")
        self.assertTrue(raw.startswith(b"error no command"), raw)

    def test_crlf_accepted(self):
        raw = control_raw(self.d.control_path, b"THREATBL1\tversion\r\n")
        self.assertTrue(raw.endswith(b"\nok\n"), raw)

    def test_control_characters_refused(self):
        for bad in (b"\x00", b"\x1b[2J", b"\x7f", b"\rx"):
            raw = control_raw(self.d.control_path, b"THREATBL1\tversion" + bad + b"\n")
            self.assertEqual(raw, b"error request holds a control character\n", bad)

    def test_too_many_arguments(self):
        raw = control_raw(self.d.control_path,
                          b"THREATBL1\thelp" + b"\tx" * 20 + b"\n")
        self.assertEqual(raw, b"error too many arguments\n")

    def test_overlong_line(self):
        # The answer comes after 4096 bytes; the rest, unread, may reset the
        # connection before the client reads it. Either way nothing runs and the
        # server goes on.
        try:
            raw = control_raw(self.d.control_path, b"THREATBL1\thelp\t" + b"x" * 10000)
            self.assertEqual(raw, b"error request line longer than 4096 bytes\n")
        except ConnectionResetError:
            pass
        raw = control_raw(self.d.control_path, b"THREATBL1\thelp\t" + b"x" * 4082)
        self.assertEqual(raw, b"error request line longer than 4096 bytes\n")
        self.assertEqual(self.d.control("version")[1], "ok")

    def test_only_first_line_runs(self):
        raw = control_raw(self.d.control_path,
                          b"THREATBL1\tversion\nTHREATBL1\thelp\n")
        self.assertEqual(raw.count(b"\nok\n"), 1, raw)
        self.assertNotIn(b"+ help", raw)

    def test_client_that_hangs_up(self):
        for data in (b"", b"THREATBL1\tver"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.d.control_path)
            s.sendall(data)
            s.close()
        self.assertEqual(self.d.control("version")[1], "ok")
        self.assertEqual(self.d.query(tbltest.ZONE, "SOA").rcode(), 0)

    def test_silent_client_times_out(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.control_path)
        s.sendall(b"THREATBL1\tver")
        t0 = time.monotonic()
        data = s.recv(1000)
        s.close()
        self.assertEqual(data, b"error no complete request line in time\n")
        self.assertGreater(time.monotonic() - t0, 3.0)

    def test_too_many_clients(self):
        held = []
        try:
            for _ in range(16):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.d.control_path)
                held.append(s)
            time.sleep(0.2)
            raw = control_raw(self.d.control_path, b"THREATBL1\tversion\n")
            self.assertTrue(raw.startswith(b"error busy"), raw)
            # DNS is not held up by them.
            self.assertEqual(self.d.query(tbltest.ZONE, "SOA").rcode(), 0)
        finally:
            for s in held:
                s.close()
        time.sleep(0.2)
        self.assertEqual(self.d.control("version")[1], "ok")

    def test_mode(self):
        st = os.lstat(self.d.control_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)


class AtThePath(unittest.TestCase):
    def start(self, path, wait=True):
        return Daemon(SERVER % path, wait=wait)

    def test_stale_socket_replaced(self):
        d = Daemon()
        try:
            path = d.control_path
            d.kill()  # SIGKILL: the socket file stays behind
            self.assertTrue(os.path.exists(path))
            d2 = Daemon(SERVER % path, tmpdir=d.dir)
            try:
                self.assertEqual(d2.control("version")[1], "ok")
            finally:
                d2.stop()
        finally:
            d.cleanup()

    def test_removed_at_stop(self):
        d = Daemon()
        try:
            self.assertTrue(os.path.exists(d.control_path))
            self.assertEqual(d.stop(), 0)
            self.assertFalse(os.path.exists(d.control_path))
        finally:
            d.cleanup()

    def test_live_socket_is_an_error(self):
        d = Daemon()
        try:
            d2 = self.start(d.control_path, wait=False)
            try:
                self.assertEqual(d2.proc.wait(10), 1)
                self.assertIn("another process answers on it", d2.stderr())
            finally:
                d2.cleanup()
            self.assertEqual(d.control("version")[1], "ok")
        finally:
            d.stop_and_cleanup()

    def _refused(self, make, why):
        dirpath = tbltest.tempfile.mkdtemp(prefix="threatbl-ctl-")
        path = os.path.join(dirpath, "control")
        make(path)
        d = self.start(path, wait=False)
        try:
            self.assertEqual(d.proc.wait(10), 1)
            self.assertIn(why, d.stderr())
            self.assertTrue(os.path.lexists(path), "what was there must stay")
        finally:
            d.cleanup()
            tbltest.shutil.rmtree(dirpath)

    def test_file_is_not_removed(self):
        self._refused(lambda p: open(p, "w").write("precious"), "a file")

    def test_symlink_is_not_followed(self):
        self._refused(lambda p: os.symlink("/etc/passwd", p), "a symbolic link")

    def test_missing_directory_is_an_error(self):
        d = self.start("/nonexistent/threatbl/control", wait=False)
        try:
            self.assertEqual(d.proc.wait(10), 1)
            self.assertIn("its directory does not exist", d.stderr())
        finally:
            d.cleanup()

    def test_too_long_path(self):
        d = self.start("/tmp/" + "x" * 120 + "/control", wait=False)
        try:
            self.assertEqual(d.proc.wait(10), 1)
            self.assertIn("path too long", d.stderr())
        finally:
            d.cleanup()

    def test_off_when_empty(self):
        d = Daemon(SERVER % "")
        try:
            self.assertFalse(os.path.exists(d.control_path))
            self.assertNotIn("control socket", d.stderr())
        finally:
            d.stop_and_cleanup()

    def test_check_accepts_it(self):
        d = Daemon(SERVER % "/nonexistent/threatbl/control", wait=False)
        d.proc.wait(10)
        r = subprocess.run([THREATBLD, "-t", "-c", d.conf], capture_output=True,
                           text=True)
        d.cleanup()
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    tbltest.main()

"""Black-box: the Prometheus exposition (doc/operations.md#metrics).

[server] metrics scraped with real HTTP clients (Python's http.client and curl): the
content type, HELP and TYPE of every required family, the same samples as `stats`,
values that move (reloads, TCP connections), HEAD, 404 for other paths and 405 for
other methods, metrics-allow closing a peer it does not admit, the bound on
connections from one address, and the mistakes: a bad address or ACL (-t and start),
an address in use, off by default.
"""
import http.client
import os
import re
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import Daemon, BASE_ZONE, THREATBLD, ZONE, free_port, wait_for  # noqa: E402

REQUIRED = {
    "threatbl_queries_total": "counter",
    "threatbl_answers_total": "counter",
    "threatbl_listed_total": "counter",
    "threatbl_verdicts": "gauge",
    "threatbl_cache_lookups_total": "counter",
    "threatbl_lookups_total": "counter",
    "threatbl_lookups_coalesced_total": "counter",
    "threatbl_lookup_queue": "gauge",
    "threatbl_lookup_seconds": "histogram",
    "threatbl_api_calls_today": "gauge",
    "threatbl_api_budget_remaining": "gauge",
    "threatbl_provider_calls_today": "gauge",
    "threatbl_provider_budget_remaining": "gauge",
    "threatbl_provider_up": "gauge",
    "threatbl_provider_paused": "gauge",
    "threatbl_store_writes_total": "counter",
    "threatbl_store_errors_total": "counter",
    "threatbl_tcp_connections": "gauge",
    "threatbl_reloads_total": "counter",
    "threatbl_start_time_seconds": "gauge",
    "threatbl_build_info": "gauge",
}
PER_IP_MAX = 4  # METRICS_PER_IP_MAX (server/metrics.h)

SERVER = """[server]
listen = 127.0.0.1:{port}
database = {db}
control = {control}
log-level = debug
"""


def conf(metrics_lines):
    return SERVER + metrics_lines + BASE_ZONE


def get(port, path="/metrics", method="GET", host="127.0.0.1", body=None):
    c = http.client.HTTPConnection(host, port, timeout=5)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def samples(text):
    """{(name, labels text): value} of an exposition's sample lines."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.match(r"^([a-z_]+)(\{.*\})? (\S+)$", line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def check(conf_text):
    """threatbld -t on conf_text: (exit status, stderr)."""
    d = Daemon.__new__(Daemon)
    import tempfile
    tmp = tempfile.mkdtemp(prefix="threatbl-test-")
    path = os.path.join(tmp, "t.conf")
    with open(path, "w") as f:
        f.write(conf_text.format(port=free_port(), db=os.path.join(tmp, "db"),
                                 control=os.path.join(tmp, "control")))
    r = subprocess.run([THREATBLD, "-t", "-c", path], capture_output=True, text=True,
                       timeout=20)
    import shutil
    shutil.rmtree(tmp)
    del d
    return r.returncode, r.stderr


class Scrape(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mport = free_port()
        cls.d = Daemon(conf("metrics = 127.0.0.1:%d\n[intel]\ndaily-budget = 50\n"
                            % cls.mport))

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.d.stop() == 0, cls.d.stderr()[-2000:]
        finally:
            cls.d.cleanup()

    def test_required_families_and_types(self):
        status, headers, body = get(self.mport)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))
        helps = dict(re.findall(r"^# HELP (\S+) (.+)$", body, re.M))
        for name, typ in REQUIRED.items():
            self.assertEqual(types.get(name), typ, name)
            self.assertIn(name, helps)
        self.assertEqual(set(types), set(helps))
        s = samples(body)
        for name in types:
            if name in ("threatbl_api_budget_remaining", "threatbl_provider_calls_today",
                        "threatbl_provider_budget_remaining"):
                continue   # no samples without a budget, or without a provider
            if types[name] == "histogram":
                self.assertIn((name + "_count", ""), s)
                self.assertIn((name + "_sum", ""), s)
                self.assertIn((name + "_bucket", '{le="+Inf"}'), s)
            else:
                self.assertTrue(any(n == name for n, _ in s), name)
        # every sample belongs to a family announced before it
        seen = set()
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                seen.add(line.split()[2])
            elif line and not line.startswith("#"):
                base = re.sub(r"_(bucket|sum|count)$", "", line.split("{")[0].split()[0])
                self.assertTrue(line.split("{")[0].split()[0] in seen or base in seen,
                                line)
        self.assertIn(("threatbl_provider_paused", '{reason="off"}'), s)
        self.assertEqual(s[("threatbl_provider_up", "")], 0)

    def test_same_samples_as_stats(self):
        out, last = self.d.control("stats")
        self.assertEqual(last, "ok")
        lines = {line.rsplit(" ", 1)[0] for line in out}
        _, _, body = get(self.mport)
        exposed = {line.rsplit(" ", 1)[0] for line in body.splitlines()
                   if line and not line.startswith("#")}
        self.assertEqual(lines, exposed)

    def test_curl_and_head(self):
        url = "http://127.0.0.1:%d/metrics" % self.mport
        r = subprocess.run(["curl", "-sS", "-f", url], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("# TYPE threatbl_build_info gauge", r.stdout)
        r = subprocess.run(["curl", "-sS", "-I", url], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^HTTP/1\.1 200")
        status, headers, body = get(self.mport, method="HEAD")
        self.assertEqual((status, body), (200, ""))

    def test_values_move(self):
        _, _, body = get(self.mport)
        before = samples(body)
        self.assertEqual(self.d.control("reload", timeout=30), ([], "ok"))
        s = socket.create_connection(("127.0.0.1", self.d.port))
        try:
            # the snapshot the metrics thread reads is refreshed every second
            def moved():
                now = samples(get(self.mport)[2])
                return (now[("threatbl_reloads_total", '{result="ok"}')] ==
                        before[("threatbl_reloads_total", '{result="ok"}')] + 1 and
                        now[("threatbl_tcp_connections", "")] >= 1)
            self.assertTrue(wait_for(moved, 3.0))
        finally:
            s.close()
        self.assertTrue(wait_for(lambda: samples(get(self.mport)[2])[
            ("threatbl_tcp_connections", "")] == 0, 3.0))
        self.assertEqual(self.d.query(ZONE, "SOA").rcode(), 0)
        after = samples(get(self.mport)[2])
        self.assertEqual(after[("threatbl_api_budget_remaining", "")], 50)

    def test_other_paths_and_methods(self):
        for path in ("/", "/metricsx", "/metrics/", "/../etc/passwd", "/metrics?x=1"):
            status, _, _ = get(self.mport, path)
            self.assertEqual(status, 200 if path == "/metrics?x=1" else 404, path)
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            status, headers, _ = get(self.mport, method=method, body="x=1")
            self.assertEqual(status, 405, method)
            self.assertEqual(headers.get("Allow"), "GET, HEAD")
        self.assertEqual(get(self.mport)[0], 200)

    def test_connections_per_address_bounded(self):
        idle = []
        try:
            for _ in range(PER_IP_MAX):
                idle.append(socket.create_connection(("127.0.0.1", self.mport)))
            time.sleep(0.3)
            with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
                get(self.mport)
        finally:
            for s in idle:
                s.close()
        self.assertTrue(wait_for(lambda: self._ok(), 3.0))
        # the DNS side never noticed
        self.assertEqual(self.d.query(ZONE, "SOA").rcode(), 0)

    def test_oversized_request_refused(self):
        """A request past the connection's memory (METRICS_MEMORY_LIMIT, 32 KiB) gets
        an error or a close, never the page, and the next scrape is served."""
        for extra in ("X-Big: " + "a" * 100000 + "\r\n",
                      "".join("X-%d: %s\r\n" % (i, "b" * 60) for i in range(2000))):
            s = socket.create_connection(("127.0.0.1", self.mport), timeout=5)
            try:
                try:
                    s.sendall(("GET /metrics HTTP/1.1\r\nHost: x\r\n" + extra
                               + "\r\n").encode())
                except OSError:
                    pass   # closed while sending: refused too
                data = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
            finally:
                s.close()
            status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/") else b""
            self.assertNotEqual(status, b"200", data[:200])
            self.assertNotIn(b"threatbl_", data)
            if status:
                self.assertIn(status, (b"413", b"414", b"431", b"400"), data[:200])
        self.assertEqual(get(self.mport)[0], 200)

    def _ok(self):
        try:
            return get(self.mport)[0] == 200
        except (ConnectionError, http.client.HTTPException, OSError):
            return False


class Mistakes(unittest.TestCase):
    def test_acl_refuses(self):
        mport = free_port()
        d = Daemon(conf("metrics = 127.0.0.1:%d\nmetrics-allow = 192.0.2.0/24\n" % mport))
        try:
            with self.assertRaises((ConnectionError, http.client.HTTPException)):
                get(mport)
            r = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % mport],
                               capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(r.stdout, "")
            self.assertTrue(wait_for(lambda: "not in metrics-allow" in d.stderr(), 2.0))
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()

    def test_acl_any_admits(self):
        mport = free_port()
        d = Daemon(conf("metrics = 127.0.0.1:%d\nmetrics-allow = any\n" % mport))
        try:
            self.assertEqual(get(mport)[0], 200)
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()

    def test_bad_values_checked(self):
        for value, words in (("nonsense", "not one numeric ADDRESS:PORT"),
                             ("localhost:9100", "not one numeric ADDRESS:PORT"),
                             ("127.0.0.1:0", "not one numeric ADDRESS:PORT"),
                             ("127.0.0.1:99999", "not one numeric ADDRESS:PORT"),
                             ("127.0.0.1", "not one numeric ADDRESS:PORT")):
            rc, err = check(conf("metrics = %s\n" % value))
            self.assertEqual(rc, 1, value)
            self.assertIn(words, err, value)
            self.assertIn("metrics", err)
        rc, err = check(conf("metrics = 127.0.0.1:9153\nmetrics-allow = 300.1.1.1\n"))
        self.assertEqual(rc, 1)
        self.assertIn("metrics-allow: '300.1.1.1' is not an address", err)
        rc, err = check(conf("metrics = 127.0.0.1:9153\nmetrics-allow = ::1 127.0.0.1\n"))
        self.assertEqual((rc, err), (0, ""))
        rc, err = check(conf("metrics = [::1]:9153\n"))
        self.assertEqual((rc, err), (0, ""))

    def test_address_in_use(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        try:
            port = busy.getsockname()[1]
            d = Daemon(conf("metrics = 127.0.0.1:%d\n" % port), wait=False)
            try:
                rc = d.proc.wait(10)
                self.assertNotEqual(rc, 0)
                self.assertRegex(d.stderr(), r"metrics: cannot listen on 127\.0\.0\.1:%d: "
                                 r"Address already in use \(another process listens "
                                 r"there\)" % port)
            finally:
                d.cleanup()
        finally:
            busy.close()

    def test_address_not_here(self):
        d = Daemon(conf("metrics = 192.0.2.77:9153\n"), wait=False)
        try:
            self.assertNotEqual(d.proc.wait(10), 0)
            self.assertIn("not an address of this machine", d.stderr())
        finally:
            d.cleanup()

    def test_off_by_default(self):
        d = Daemon()
        try:
            out, _ = d.control("status")
            self.assertIn("metrics off", out)
            self.assertNotIn("metrics on", d.stderr())
        finally:
            self.assertEqual(d.stop(), 0)
            d.cleanup()


if __name__ == "__main__":
    tbltest.main()

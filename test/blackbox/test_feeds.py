"""Black-box: feeds ([feed NAME], doc/configuration.md#the-feed-section).

A local HTTP server (http.server on 127.0.0.1, in this process) serves each format
(the fixtures test/fixtures/feed_*), then changes, fails (500, timeout, truncated
body, wrong format, too large), shrinks past max-shrink, and answers 304 to
If-None-Match / If-Modified-Since. threatbld must serve the feed's entries as its
category with the feed's name in the TXT, keep serving the last good copy through
every failure, serve the kept copy after a restart before any fetch, drop it with a
warning after max-age, refuse a kept copy that is a symbolic link, and, with
[intel] skip-when, make no call to the fake Criminal IP for a feed's address while a
miss still makes one.
"""
import os
import re
import ssl
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import (Daemon, BASE_ZONE, rev4, rev6, a_values, txt_values,  # noqa: E402
                     intel_conf, wait_for, assert_clean_stop)

FIXTURES = os.path.join(tbltest.TOP_SRCDIR, "test", "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


class Feed:
    """What the server does for one path."""

    def __init__(self, body=b"", etag=None, last_modified=None):
        self.body = body
        self.etag = etag
        self.last_modified = last_modified
        self.mode = "normal"       # normal, 500, slow, truncate, hold
        self.delay = 0.0
        self.release = threading.Event()  # "hold": the answer waits for it
        self.requests = []         # the request headers of every GET
        self.not_modified = 0      # 304s sent


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            feed = srv.feeds.get(self.path)
            if feed is not None:
                feed.requests.append(dict(self.headers))
        if feed is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if feed.mode == "500":
            body = b"<html>internal error</html>\n"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if feed.mode == "slow":
            time.sleep(feed.delay)
        if feed.mode == "hold":
            feed.release.wait(30)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (feed.etag and inm == feed.etag) or \
                (feed.last_modified and not feed.etag and ims == feed.last_modified):
            with srv.lock:
                feed.not_modified += 1
            self.send_response(304)
            if feed.etag:
                self.send_header("ETag", feed.etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if feed.etag:
            self.send_header("ETag", feed.etag)
        if feed.last_modified:
            self.send_header("Last-Modified", feed.last_modified)
        if feed.mode == "truncate":
            # announce the whole body, send half of it, and hang up
            self.send_header("Content-Length", str(len(feed.body)))
            self.end_headers()
            self.wfile.write(feed.body[:len(feed.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(feed.body)))
        self.end_headers()
        self.wfile.write(feed.body)


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.lock = threading.Lock()
        self.feeds = {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request, client_address):
        pass  # the client hanging up on a slow or cut answer is what is tested

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.server_address[1], path)

    def add(self, path, feed):
        with self.lock:
            self.feeds[path] = feed
        return feed

    def stop(self):
        self.shutdown()
        self.server_close()


CATS = ("vpn", "openvpn443", "hosting", "tor", "proxy", "scanner")
ZONE = BASE_ZONE + "".join("%s = 127.0.0.%d %s\n" % (c, i + 2, c) for i, c in enumerate(CATS))
TOR_IPS = [l.strip() for l in fixture("feed_tor.txt").decode().splitlines() if l.strip()]


def feed_conf(name, url, category, fmt="plain", **more):
    text = "[feed %s]\nurl = %s\nformat = %s\ncategory = %s\n" % (name, url, fmt, category)
    for k, v in more.items():
        text += "%s = %s\n" % (k.replace("_", "-"), v)
    return text


def plain(ips):
    return ("".join("%s\n" % ip for ip in ips)).encode()


class FeedCase(unittest.TestCase):
    def setUp(self):
        self.http = FeedServer()
        self.d = None

    def tearDown(self):
        # every test ends with a clean stop: exit 0, no sanitizer report
        try:
            if self.d:
                assert_clean_stop(self, self.d, getattr(self, "KEY", "tbl-no-key-here"))
        finally:
            if self.d:
                self.d.cleanup()
            self.http.stop()

    def start(self, feeds, extra="", **kw):
        self.d = Daemon(extra + ZONE + feeds, **kw)
        return self.d

    def log_has(self, pattern, timeout=10.0):
        return wait_for(lambda: re.search(pattern, self.d.stderr()), timeout)

    def log_since(self, mark, pattern, timeout=10.0):
        return wait_for(lambda: re.search(pattern, self.d.stderr()[mark:]), timeout)

    def reconfigure(self, old, new):
        """Replace old by new in the configuration and reload (SIGHUP); the log's
        length before, for log_since."""
        with open(self.d.conf) as fh:
            text = fh.read()
        self.assertIn(old, text)
        with open(self.d.conf, "w") as fh:
            fh.write(text.replace(old, new))
        mark = len(self.d.stderr())
        self.d.signal(tbltest.signal.SIGHUP)
        return mark

    def a(self, ip):
        r = self.d.query(rev6(ip) if ":" in ip else rev4(ip))
        return r.rcode(), a_values(r)

    def txt(self, ip):
        return txt_values(self.d.query(rev6(ip) if ":" in ip else rev4(ip), "TXT"))


class TestFormats(FeedCase):
    def test_every_format_answers_as_its_category(self):
        """Plain (Tor), AWS, Google, Oracle and CSV (DigitalOcean): each feed's entries
        answer its category's A, and a TXT naming the feed; an address in no feed is
        NXDOMAIN."""
        h = self.http
        h.add("/tor", Feed(fixture("feed_tor.txt")))
        h.add("/aws.json", Feed(fixture("feed_aws.json")))
        h.add("/cloud.json", Feed(fixture("feed_gcp.json")))
        h.add("/oci.json", Feed(fixture("feed_oracle.json")))
        h.add("/do.csv", Feed(fixture("feed_do.csv")))
        feeds = (feed_conf("tor-exits", h.url("/tor"), "tor") +
                 feed_conf("aws", h.url("/aws.json"), "hosting", "aws") +
                 feed_conf("gcp", h.url("/cloud.json"), "hosting", "gcp") +
                 feed_conf("oracle", h.url("/oci.json"), "hosting", "oracle") +
                 feed_conf("do", h.url("/do.csv"), "proxy", "csv", column=1))
        self.start(feeds)
        for name, n in (("tor-exits", 10), ("aws", 7), ("gcp", 5), ("oracle", 4), ("do", 6)):
            self.assertTrue(self.log_has(r"feed %s: %d entries" % (name, n)),
                            "%s not loaded:\n%s" % (name, self.d.stderr()[-3000:]))
        cases = (("185.220.101.1", "127.0.0.5", "tor (feed tor-exits)"),
                 ("18.209.1.1", "127.0.0.4", "hosting (feed aws)"),
                 ("2600:1f14::10", "127.0.0.4", "hosting (feed aws)"),
                 ("104.154.9.9", "127.0.0.4", "hosting (feed gcp)"),
                 ("2600:1900:8000::1", "127.0.0.4", "hosting (feed gcp)"),
                 ("130.61.5.5", "127.0.0.4", "hosting (feed oracle)"),
                 ("45.55.1.1", "127.0.0.6", "proxy (feed do)"),
                 ("2604:a880:800::1", "127.0.0.6", "proxy (feed do)"))
        for ip, a, txt in cases:
            rc, vals = self.a(ip)
            self.assertEqual((rc, vals), (dns.rcode.NOERROR, [a]), ip)
            self.assertEqual(self.txt(ip), [txt], ip)
        for ip in ("185.220.101.2", "8.8.8.80", "2600:1f15::1"):
            self.assertEqual(self.a(ip)[0], dns.rcode.NXDOMAIN, ip)
        # files kept beside the database, 0640, atomically (no temporary left)
        kept = os.path.join(self.d.dir, "feeds")
        for name in ("tor-exits", "aws", "gcp", "oracle", "do"):
            for ext in ("data", "meta"):
                st = os.lstat(os.path.join(kept, "%s.%s" % (name, ext)))
                self.assertEqual(st.st_mode & 0o777, 0o640, name + ext)
        self.assertEqual([f for f in os.listdir(kept) if f.endswith(".tmp")], [])
        with open(os.path.join(kept, "aws.data"), "rb") as f:
            self.assertEqual(f.read(), fixture("feed_aws.json"))

    def test_zone_feeds_choose(self):
        """`[zone] feeds = NAME` serves that feed only; `feeds = none` none."""
        h = self.http
        h.add("/tor", Feed(plain(["192.0.2.1"])))
        h.add("/aws", Feed(plain(["192.0.2.2"])))
        zone2 = ZONE.replace("bl.test", "two.test") + "feeds = aws\n"
        zone3 = ZONE.replace("bl.test", "three.test") + "feeds = none\n"
        feeds = feed_conf("tor", h.url("/tor"), "tor") + feed_conf("aws", h.url("/aws"), "hosting")
        self.start(feeds + zone2 + zone3)
        self.assertTrue(self.log_has(r"feed aws: 1 entries") and self.log_has(r"feed tor: 1 "))
        self.assertEqual(self.a("192.0.2.1")[1], ["127.0.0.5"])
        self.assertEqual(self.a("192.0.2.2")[1], ["127.0.0.4"])
        q = self.d.query(rev4("192.0.2.2", "two.test"))
        self.assertEqual(a_values(q), ["127.0.0.4"])
        q = self.d.query(rev4("192.0.2.1", "two.test"))
        self.assertEqual(q.rcode(), dns.rcode.NXDOMAIN)
        q = self.d.query(rev4("192.0.2.2", "three.test"))
        self.assertEqual(q.rcode(), dns.rcode.NXDOMAIN)


class TestUpdates(FeedCase):
    def test_change_and_conditional_get(self):
        """A changed list replaces the old one; an unchanged one is asked with
        If-None-Match and answered 304, and nothing changes."""
        f = self.http.add("/tor", Feed(plain(["192.0.2.1", "192.0.2.2"]), etag='"v1"'))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1s"))
        self.assertTrue(self.log_has(r"feed tor: 2 entries"))
        self.assertTrue(wait_for(lambda: f.not_modified >= 1, 10), "no 304 sent")
        self.assertTrue(self.log_has(r"feed tor: not modified \(2 entries\)"))
        self.assertIn('"v1"', [r.get("If-None-Match") for r in f.requests])
        self.assertIsNone(f.requests[0].get("If-None-Match"), "first GET is unconditional")
        self.assertEqual(self.a("192.0.2.1")[1], ["127.0.0.5"])
        with self.http.lock:
            f.body = plain(["192.0.2.2", "192.0.2.3"])
            f.etag = '"v2"'
        self.assertTrue(wait_for(lambda: self.a("192.0.2.3")[1] == ["127.0.0.5"], 10))
        self.assertEqual(self.a("192.0.2.1")[0], dns.rcode.NXDOMAIN)
        self.assertEqual(self.a("192.0.2.2")[1], ["127.0.0.5"])

    def test_if_modified_since(self):
        """Without an ETag, Last-Modified is sent back as If-Modified-Since."""
        lm = "Wed, 02 Dec 2026 10:00:00 GMT"
        f = self.http.add("/tor", Feed(plain(["192.0.2.1"]), last_modified=lm))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1s"))
        self.assertTrue(wait_for(lambda: f.not_modified >= 1, 10), "no 304 sent")
        self.assertIn(lm, [r.get("If-Modified-Since") for r in f.requests])
        self.assertEqual(self.a("192.0.2.1")[1], ["127.0.0.5"])
        # SIGUSR1: the feed's state among the counters
        self.d.signal(tbltest.signal.SIGUSR1)
        self.assertTrue(self.log_has(r"stats: feed tor: not modified, 1 entries served, "
                                     r"\d+ fetches \(1 new, \d+ not modified, 0 failed, "
                                     r"0 refused, 0 expired\)"), self.d.stderr()[-2000:])

    def test_failures_keep_the_good_copy(self):
        """500, a timeout, a truncated body, a wrong format, a body over max-size, more
        entries than max-entries and a list that shrank past max-shrink: each is logged
        and the good copy stays."""
        good = plain(TOR_IPS)
        f = self.http.add("/tor", Feed(good))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1s", timeout="1s",
                             max_size="2K", max_entries=12))
        self.assertTrue(self.log_has(r"feed tor: 10 entries"))
        steps = (("500", None, r"fetch failed: HTTP status 500"),
                 ("slow", None, r"fetch failed: .*timed out"),
                 ("truncate", None, r"fetch failed: connection cut"),
                 ("normal", b"<html><body>Please log in</body></html>\n",
                  r"download refused: no entries"),
                 ("normal", b"192.0.2.1\n" * 300, r"fetch failed: larger than max-size"),
                 ("normal", plain(["192.0.2.%d" % i for i in range(1, 14)]),
                  r"download refused: more than 12 entries \(max-entries\)"),
                 ("normal", plain(TOR_IPS[:4]),
                  r"download refused: shrank from 10 to 4 entries, more than max-shrink"))
        for mode, body, pattern in steps:
            mark = len(self.d.stderr())
            with self.http.lock:
                f.mode = mode
                f.delay = 3.0
                if body is not None:
                    f.body = body
            self.assertTrue(wait_for(lambda: re.search(pattern, self.d.stderr()[mark:]), 15),
                            "%s: no %r in\n%s" % (mode, pattern, self.d.stderr()[-2000:]))
            self.assertRegex(self.d.stderr()[mark:], r"serving the copy of .* \(10 entries\)")
            for ip in (TOR_IPS[0], TOR_IPS[-1]):
                self.assertEqual(self.a(ip)[1], ["127.0.0.5"], mode)
        # and a good copy again is taken
        with self.http.lock:
            f.mode = "normal"
            f.body = plain(TOR_IPS[:9])
        self.assertTrue(self.log_has(r"feed tor: 9 entries \(was 10\)", 15))
        self.assertTrue(wait_for(lambda: self.a(TOR_IPS[-1])[0] == dns.rcode.NXDOMAIN, 5))


class TestKeptCopy(FeedCase):
    def test_restart_serves_the_kept_copy_before_any_fetch(self):
        """After a restart with the feed's server failing, the kept copy answers."""
        f = self.http.add("/tor", Feed(plain(TOR_IPS)))
        conf = feed_conf("tor", self.http.url("/tor"), "tor", every="1h")
        d = self.start(conf)
        self.assertTrue(self.log_has(r"feed tor: 10 entries"))
        tmp = d.dir
        assert_clean_stop(self, d, "no key")
        with self.http.lock:
            f.mode = "500"
            f.requests = []
        mark = len(d.stderr())
        self.d = Daemon(ZONE + conf, tmpdir=tmp)
        self.assertTrue(wait_for(lambda: re.search(
            r"feed tor: serving the kept copy of .* \(10 entries\)", self.d.stderr()[mark:]), 10))
        self.assertEqual(self.a(TOR_IPS[0])[1], ["127.0.0.5"])
        # the copy was an hour from due: no fetch at all yet
        self.assertEqual(f.requests, [])
        self.assertNotRegex(self.d.stderr()[mark:], r"feed tor: (fetch failed|no kept copy)")

    def test_max_age_drops_the_copy(self):
        """A copy that no fetch confirms for max-age is dropped, with a warning."""
        f = self.http.add("/tor", Feed(plain(TOR_IPS)))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1s", max_age="3s"))
        self.assertTrue(self.log_has(r"feed tor: 10 entries"))
        with self.http.lock:
            f.mode = "500"
        self.assertTrue(self.log_has(r"warn: feed tor: no good copy for \d+s, more than "
                                     r"max-age \(3s\): dropped, its 10 entries", 15))
        self.assertEqual(self.a(TOR_IPS[0])[0], dns.rcode.NXDOMAIN)
        # a good fetch serves it again
        with self.http.lock:
            f.mode = "normal"
        self.assertTrue(wait_for(lambda: self.a(TOR_IPS[0])[1] == ["127.0.0.5"], 10))

    def test_old_kept_copy_is_not_served(self):
        """A kept copy older than max-age is not served at start."""
        self.http.add("/tor", Feed(b"", etag=None)).mode = "500"
        tmp = tbltest.tempfile.mkdtemp(prefix="threatbl-test-")
        os.makedirs(os.path.join(tmp, "feeds"))
        with open(os.path.join(tmp, "feeds", "tor.data"), "wb") as fh:
            fh.write(plain(TOR_IPS))
        with open(os.path.join(tmp, "feeds", "tor.meta"), "w") as fh:
            fh.write("etag \"x\"\nlast-modified \nfetched %d\n" % (time.time() - 7200))
        self.d = Daemon(ZONE + feed_conf("tor", self.http.url("/tor"), "tor", max_age="1h"),
                        tmpdir=tmp)
        self.assertTrue(self.log_has(r"feed tor: the kept copy is 2h old, more than "
                                     r"max-age: not served"))
        self.assertEqual(self.a(TOR_IPS[0])[0], dns.rcode.NXDOMAIN)

    def test_kept_copy_from_the_future(self):
        """A kept copy that says it was fetched years from now (the clock went back, or
        a hand-written file): served, fetched again at once (not years later), and
        max-age counted from now; garbage in the meta file is a copy of unknown age."""
        f = self.http.add("/tor", Feed(plain(TOR_IPS[:3])))
        f.mode = "500"
        tmp = tbltest.tempfile.mkdtemp(prefix="threatbl-test-")
        os.makedirs(os.path.join(tmp, "feeds"))
        with open(os.path.join(tmp, "feeds", "tor.data"), "wb") as fh:
            fh.write(plain(TOR_IPS))
        with open(os.path.join(tmp, "feeds", "tor.meta"), "w") as fh:
            fh.write("etag \"x\"\nlast-modified \nfetched %d\n" % (time.time() + 86400 * 800))
        self.d = Daemon(ZONE + feed_conf("tor", self.http.url("/tor"), "tor", every="1d",
                                         max_age="4s"), tmpdir=tmp)
        self.assertTrue(self.log_has(r"warn: feed tor: the kept copy says it was fetched "
                                     r"\d+d from now \(the clock went back\?\): served"))
        self.assertEqual(self.a(TOR_IPS[5])[1], ["127.0.0.5"])
        # fetched at once: the failure is seen now, not in 800 days
        self.assertTrue(wait_for(lambda: len(f.requests) >= 1, 5), "fetched at once")
        self.assertNotIn("If-None-Match", f.requests[0], "its validators not trusted")
        # and the copy is dropped max-age after the start, the fetches failing
        self.assertTrue(self.log_has(r"warn: feed tor: no good copy for \d+s, more than "
                                     r"max-age \(4s\): dropped", 15))
        self.assertEqual(self.a(TOR_IPS[5])[0], dns.rcode.NXDOMAIN)
        self.assertEqual(self.d.stop(), 0)   # its directory, tmp, is the next one's
        # A meta file of garbage: no fetch time, so not served; fetched instead.
        with open(os.path.join(tmp, "feeds", "tor.meta"), "wb") as fh:
            fh.write(b"etag \x01\x02\nfetched yesterday\n\x00\xff junk")
        with open(os.path.join(tmp, "feeds", "tor.data"), "wb") as fh:
            fh.write(plain(TOR_IPS))
        with self.http.lock:
            f.mode = "normal"
        self.d = Daemon(ZONE + feed_conf("tor", self.http.url("/tor"), "tor"), tmpdir=tmp)
        self.assertTrue(self.log_has(r"feed tor: the kept copy is \S+ old, more than "
                                     r"max-age: not served"))
        self.assertTrue(wait_for(lambda: self.a(TOR_IPS[0])[1] == ["127.0.0.5"], 10))
        self.assertEqual(self.a(TOR_IPS[5])[0], dns.rcode.NXDOMAIN, "the fetched copy")

    def test_symlinked_copy_is_refused(self):
        """A kept copy replaced by a symbolic link is not read."""
        self.http.add("/tor", Feed(b"")).mode = "500"
        tmp = tbltest.tempfile.mkdtemp(prefix="threatbl-test-")
        os.makedirs(os.path.join(tmp, "feeds"))
        with open(os.path.join(tmp, "elsewhere"), "wb") as fh:
            fh.write(plain(TOR_IPS))
        os.symlink(os.path.join(tmp, "elsewhere"), os.path.join(tmp, "feeds", "tor.data"))
        with open(os.path.join(tmp, "feeds", "tor.meta"), "w") as fh:
            fh.write("etag \nlast-modified \nfetched %d\n" % time.time())
        self.d = Daemon(ZONE + feed_conf("tor", self.http.url("/tor"), "tor"), tmpdir=tmp)
        self.assertTrue(self.log_has(r"feed tor: kept copy not used: .*tor.data: a symbolic "
                                     r"link: refused"))
        self.assertEqual(self.a(TOR_IPS[0])[0], dns.rcode.NXDOMAIN)

    def test_symlinked_directory_is_refused(self):
        """feeds/ as a symbolic link: nothing is read or written through it; the feed
        is still fetched and served from memory, with a warning."""
        self.http.add("/tor", Feed(plain(TOR_IPS)))
        tmp = tbltest.tempfile.mkdtemp(prefix="threatbl-test-")
        os.makedirs(os.path.join(tmp, "elsewhere"))
        os.symlink(os.path.join(tmp, "elsewhere"), os.path.join(tmp, "feeds"))
        self.d = Daemon(ZONE + feed_conf("tor", self.http.url("/tor"), "tor"), tmpdir=tmp)
        self.assertTrue(self.log_has(r"feed tor: kept copy not used: directory .*feeds: "
                                     r"Too many levels of symbolic links"))
        self.assertTrue(self.log_has(r"feed tor: cannot keep the copy in .*feeds: Too many "
                                     r"levels of symbolic links"))
        self.assertEqual(self.a(TOR_IPS[0])[1], ["127.0.0.5"])
        self.assertEqual(os.listdir(os.path.join(tmp, "elsewhere")), [])

    def test_reload_removes_and_adds_feeds(self):
        """A feed removed by a reload stops being served; one added starts."""
        self.http.add("/tor", Feed(plain(["192.0.2.1"])))
        self.http.add("/aws", Feed(plain(["192.0.2.2"])))
        d = self.start(feed_conf("tor", self.http.url("/tor"), "tor"))
        self.assertTrue(self.log_has(r"feed tor: 1 entries"))
        text = open(d.conf).read().replace("[feed tor]", "[feed aws]").replace(
            "/tor", "/aws").replace("category = tor", "category = hosting")
        with open(d.conf, "w") as fh:
            fh.write(text)
        d.signal(tbltest.signal.SIGHUP)
        self.assertTrue(self.log_has(r"feed tor: removed from the configuration"))
        self.assertTrue(self.log_has(r"feed aws: 1 entries"))
        self.assertTrue(wait_for(lambda: self.a("192.0.2.2")[1] == ["127.0.0.4"], 5))
        self.assertEqual(self.a("192.0.2.1")[0], dns.rcode.NXDOMAIN)


class TestReloadSettings(FeedCase):
    def test_max_size_change_keeps_the_copy(self):
        """A reload that lowers max-size below the size of the copy served: the copy
        stays served (the next download is refused as too large), nothing dropped."""
        ips = ["192.0.2.%d" % i for i in range(1, 201)]
        f = self.http.add("/tor", Feed(plain(ips)))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1s", max_size="4K"))
        self.assertTrue(self.log_has(r"feed tor: 200 entries"))
        mark = self.reconfigure("max-size = 4K", "max-size = 1K")
        self.assertTrue(self.log_since(mark, r"feed tor: fetch failed: larger than max-size "
                                       r"\(1024 bytes\)", 15), self.d.stderr()[mark:])
        after = self.d.stderr()[mark:]
        self.assertRegex(after, r"fetch failed: larger than max-size \(1024 bytes\); "
                         r"serving the copy of .* \(200 entries\)")
        self.assertNotRegex(after, r"feed tor: (no good copy|kept copy not used)")
        self.assertEqual(self.a("192.0.2.200")[1], ["127.0.0.5"])
        # raised again, past the size of a larger list: that one is taken
        with self.http.lock:
            f.body = plain(ips + ["198.51.100.%d" % i for i in range(1, 201)])
        mark = self.reconfigure("max-size = 1K", "max-size = 8K")
        self.assertTrue(self.log_since(mark, r"feed tor: 400 entries \(was 200\)", 15),
                        self.d.stderr()[mark:])

    def test_format_change_is_not_lost_to_a_304(self):
        """A reload changing the format while a fetch is under way (answered 200 with a
        new ETag, the same body): the next fetch is unconditional, so the body is read
        in the new format rather than confirmed by a 304 in the old one."""
        body = b"192.0.2.1 ,198.51.100.1\n192.0.2.2 ,198.51.100.2\n"
        f = self.http.add("/f", Feed(body, etag='"v1"'))
        self.start(feed_conf("f", self.http.url("/f"), "tor", every="1s"))
        self.assertTrue(wait_for(lambda: self.a("192.0.2.1")[1] == ["127.0.0.5"], 10))
        with self.http.lock:
            f.etag = '"v2"'
            f.mode = "hold"
            held = len(f.requests)
        self.assertTrue(wait_for(lambda: len(f.requests) > held, 10), "no fetch to hold")
        mark = self.reconfigure("format = plain\n", "format = csv\ncolumn = 2\n")
        self.assertTrue(self.log_since(mark, r"feed f: format, column changed: fetching it "
                                       r"again, unconditionally"), self.d.stderr()[mark:])
        with self.http.lock:
            f.mode = "normal"
            f.release.set()
        self.assertTrue(wait_for(lambda: self.a("198.51.100.1")[1] == ["127.0.0.5"], 10),
                        self.d.stderr()[mark:])
        self.assertEqual(self.a("192.0.2.1")[0], dns.rcode.NXDOMAIN)
        with self.http.lock:
            after = f.requests[held + 1:]
        self.assertTrue(after and after[0].get("If-None-Match") is None, after)

    def test_url_change_is_not_lost_to_a_304(self):
        """A reload changing the url while a fetch of the old one is under way (200,
        Last-Modified L): the new url is asked without If-Modified-Since L, which it
        would answer 304 (its file is as old), and its list is served."""
        lm = "Wed, 02 Dec 2026 10:00:00 GMT"
        old = self.http.add("/old", Feed(plain(["192.0.2.1"]), last_modified=lm))
        new = self.http.add("/new", Feed(plain(["198.51.100.1"]), last_modified=lm))
        self.start(feed_conf("f", self.http.url("/old"), "tor", every="1s"))
        self.assertTrue(wait_for(lambda: self.a("192.0.2.1")[1] == ["127.0.0.5"], 10))
        with self.http.lock:
            old.mode = "hold"
            held = len(old.requests)
        self.assertTrue(wait_for(lambda: len(old.requests) > held, 10), "no fetch to hold")
        mark = self.reconfigure("/old\n", "/new\n")
        self.assertTrue(self.log_since(mark, r"feed f: url changed: fetching it again, "
                                       r"unconditionally"), self.d.stderr()[mark:])
        with self.http.lock:
            old.mode = "normal"
            old.release.set()
        self.assertTrue(wait_for(lambda: self.a("198.51.100.1")[1] == ["127.0.0.5"], 10),
                        self.d.stderr()[mark:])
        self.assertEqual(self.a("192.0.2.1")[0], dns.rcode.NXDOMAIN)
        with self.http.lock:
            self.assertIsNone(new.requests[0].get("If-Modified-Since"), new.requests)
            self.assertEqual(new.not_modified, 0)

    def test_every_change_is_rescheduled(self):
        """A reload from every = 1h to every = 1s: the next fetch comes within seconds,
        not an hour after the last."""
        f = self.http.add("/tor", Feed(plain(TOR_IPS)))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1h"))
        self.assertTrue(self.log_has(r"feed tor: 10 entries"))
        self.assertEqual(len(f.requests), 1)
        self.reconfigure("every = 1h", "every = 1s")
        self.assertTrue(wait_for(lambda: len(f.requests) >= 3, 10), self.d.stderr()[-2000:])

    def test_max_age_change_is_rescheduled(self):
        """A reload lowering max-age while the feed fails: the copy is dropped when the
        new max-age passes, not when the old one would have."""
        f = self.http.add("/tor", Feed(plain(TOR_IPS)))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1h", max_age="1h"))
        self.assertTrue(self.log_has(r"feed tor: 10 entries"))
        with self.http.lock:
            f.mode = "500"
        mark = self.reconfigure("max-age = 1h", "max-age = 2s")
        self.assertTrue(self.log_since(mark, r"warn: feed tor: no good copy for \d+s, more "
                                       r"than max-age \(2s\): dropped", 15),
                        self.d.stderr()[mark:])
        self.assertTrue(wait_for(lambda: self.a(TOR_IPS[0])[0] == dns.rcode.NXDOMAIN, 5))


    def test_raising_max_shrink_takes_the_refused_list_at_once(self):
        """A list that shrank legitimately is refused; a reload raising max-shrink
        fetches it again at once (not after every, nor after the 300 s retry cap) and
        serves it."""
        f = self.http.add("/tor", Feed(plain(TOR_IPS)))
        self.start(feed_conf("tor", self.http.url("/tor"), "tor", every="1h"))
        self.assertTrue(self.log_has(r"feed tor: 10 entries"))
        with self.http.lock:
            f.body = plain(TOR_IPS[:4])
        mark = self.reconfigure("every = 1h", "every = 1s")
        self.assertTrue(self.log_since(mark, r"download refused: shrank from 10 to 4", 15),
                        self.d.stderr()[mark:])
        mark = self.reconfigure("every = 1s", "every = 1h\nmax-shrink = 90")
        self.assertTrue(self.log_since(mark, r"feed tor: 4 entries \(was 10\)", 15),
                        self.d.stderr()[mark:])
        self.assertEqual(self.a(TOR_IPS[0])[1], ["127.0.0.5"])
        self.assertEqual(self.a(TOR_IPS[-1])[0], dns.rcode.NXDOMAIN)


class TestTLS(FeedCase):
    def test_untrusted_certificate_is_refused(self):
        """An HTTPS feed whose certificate is not trusted (self-signed, the fixture
        feed_selfsigned.pem) is not fetched: the handshake fails, no GET is made, nothing
        is served."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(FIXTURES, "feed_selfsigned.pem"))
        self.http.socket = ctx.wrap_socket(self.http.socket, server_side=True)
        f = self.http.add("/tor", Feed(plain(TOR_IPS)))
        url = self.http.url("/tor").replace("http://", "https://")
        self.start(feed_conf("tor", url, "tor", every="1s"))
        self.assertTrue(self.log_has(r"feed tor: fetch failed: (SSL|TLS).*; nothing served"),
                        self.d.stderr()[-2000:])
        self.assertEqual(f.requests, [])
        self.assertEqual(self.a(TOR_IPS[0])[0], dns.rcode.NXDOMAIN)


class TestSkipWhen(FeedCase, tbltest.FakeAPICase):
    KEY = "tbl-KEY-feeds-0123456789"

    def setUp(self):
        tbltest.FakeAPICase.setUp(self)
        FeedCase.setUp(self)

    def test_skip_when(self):
        """skip-when = tor: a Tor feed hit makes no call; a miss does; a hosting feed
        (not in skip-when) is looked up too, and its category joins the verdict's."""
        # 203.0.113.13 is tor and 203.0.113.14 proxy in the fake's profiles
        self.http.add("/tor", Feed(plain(["203.0.113.13"])))
        self.http.add("/hosting", Feed(plain(["203.0.113.14"])))
        feeds = (feed_conf("tor", self.http.url("/tor"), "tor") +
                 feed_conf("cloud", self.http.url("/hosting"), "hosting"))
        self.start(feeds, extra=intel_conf(self.fake.url, skip_when="tor",
                                                 lookup_reserved="yes"),
                   env={"THREATBL_API_KEY": self.KEY})
        self.assertTrue(self.log_has(r"feed tor: 1 entries") and
                        self.log_has(r"feed cloud: 1 entries"))
        self.assertEqual(self.a("203.0.113.13")[1], ["127.0.0.5"])
        self.assertEqual(self.txt("203.0.113.13"), ["tor (feed tor)"])
        self.assertEqual(self.a("203.0.113.13")[1], ["127.0.0.5"])
        # a miss: looked up (the fake says tor for .13's twin under 198.51.100); the
        # first answer may come at the deadline
        self.assertTrue(wait_for(lambda: self.a("198.51.100.13")[1] == ["127.0.0.5"], 10),
                        self.d.stderr()[-3000:])
        self.assertEqual(self.txt("198.51.100.13"), ["tor"])
        # hosting is not in skip-when: looked up, answered with both
        self.assertTrue(wait_for(lambda: sorted(self.a("203.0.113.14")[1]) ==
                                 ["127.0.0.4", "127.0.0.6"], 10))
        self.assertEqual(sorted(self.txt("203.0.113.14")), ["hosting (feed cloud)", "proxy"])
        per_ip = self.fake.count()["per_ip"]
        self.assertNotIn("203.0.113.13", per_ip)
        self.assertEqual(per_ip.get("198.51.100.13"), 1)
        self.assertEqual(per_ip.get("203.0.113.14"), 1)
        assert_clean_stop(self, self.d, self.KEY)
        self.d = None


class TestConfig(unittest.TestCase):
    def check(self, text):
        """threatbld -t on text: (exit code, output)."""
        tmp = tbltest.tempfile.mkdtemp(prefix="threatbl-test-")
        path = os.path.join(tmp, "t.conf")
        with open(path, "w") as f:
            f.write(text)
        p = tbltest.subprocess.run([tbltest.THREATBLD, "-t", "-c", path],
                                   capture_output=True, text=True, timeout=20)
        tbltest.shutil.rmtree(tmp, ignore_errors=True)
        return p.returncode, p.stdout + p.stderr

    def test_examples(self):
        """zones/feeds.conf.example is valid as it stands and names the three feeds."""
        path = os.path.join(tbltest.TOP_SRCDIR, "zones", "feeds.conf.example")
        with open(path) as f:
            text = f.read()
        rc, out = self.check(text)
        self.assertEqual(rc, 0, out)
        for url in ("https://check.torproject.org/torbulkexitlist",
                    "https://ip-ranges.amazonaws.com/ip-ranges.json",
                    "https://www.gstatic.com/ipranges/cloud.json"):
            self.assertIn("url = " + url, text)
        # the commented [feed] section of threatbl.conf.example, uncommented, is valid
        path = os.path.join(tbltest.TOP_SRCDIR, "zones", "threatbl.conf.example")
        with open(path) as f:
            lines = f.read().split("[feed tor-exits]")[1].splitlines()
        section = "[feed tor-exits]\n" + "".join(
            l[1:] + "\n" for l in lines if re.match(r";[a-z-]+ = ", l))
        self.assertIn("max-shrink = 50", section)
        rc, out = self.check(BASE_ZONE + section)
        self.assertEqual(rc, 0, out + section)

    def test_mistakes(self):
        """Every [feed] mistake is an error with its line; a good one passes."""
        good = feed_conf("tor", "https://check.torproject.org/torbulkexitlist", "tor")
        self.assertEqual(self.check(BASE_ZONE + good)[0], 0, self.check(BASE_ZONE + good)[1])
        cases = (("[feed tor]\ncategory = tor\n", r"feed tor: missing url"),
                 ("[feed tor]\nurl = https://x.example/\n", r"feed tor: missing category"),
                 (good.replace("category = tor", "category = evil"),
                  r":\d+: category: 'evil' is not one of"),
                 (good.replace("format = plain", "format = xml"),
                  r"format: 'xml' is not one of plain \| aws \| gcp \| oracle \| csv"),
                 (good.replace("[feed tor]", "[feed ../etc]"), r"a feed's name is 1-63"),
                 (good.replace("[feed tor]", "[feed .hidden]"), r"a feed's name is 1-63"),
                 (good + good, r"feed tor is given twice"),
                 (good + "every = 0s\n", r"every: 0s is out of range"),
                 (good + "max-shrink = 101\n", r"max-shrink: 101 is out of range"),
                 (good + "max-size = 1\n", r"max-size"),
                 (good + "max-age = 0s\n", r"max-age: 0s is out of range"),
                 (good + "max-entries = 0\n", r"max-entries: 0 is out of range"),
                 (good + "column = 0\n", r"column: 0 is out of range"),
                 (good + "timeout = 50ms\n", r"timeout: 50ms is out of range"),
                 (good + "every = 1h\nevery = 2h\n", r"every is given twice"),
                 (good + "colour = red\n", r"unknown key 'colour' in \[feed tor\]"),
                 ("[feed]\nurl = https://x.example/\ncategory = tor\n", r"a feed's name is"),
                 (good.replace("https://check", "ftp://check"), r"does not start with http"),
                 (good + "[zone two.test]\nsoa = a.two.test. b.two.test. 1 1 1 1\n"
                  "ns = a.two.test.\nfeeds = tor aws\n", r"zone two.test: feeds: no \[feed aws\]"),
                 (good + "[zone two.test]\nsoa = a.two.test. b.two.test. 1 1 1 1\n"
                  "ns = a.two.test.\nfeeds = none tor\n", r"feeds: 'none tor' is not a list"),
                 ("[intel]\nskip-when = tor cloudy\n" + good, r"skip-when: 'cloudy' is not a"),
                 ("[intel]\nskip-when = none tor\n" + good, r"skip-when: 'none tor' is not"))
        for extra, pattern in cases:
            rc, out = self.check(BASE_ZONE + extra)
            self.assertNotEqual(rc, 0, extra)
            self.assertRegex(out, pattern, extra)
        rc, out = self.check(BASE_ZONE + good.replace("https://", "http://"))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"warning: .*plain HTTP to another host: anyone on the path "
                         r"can change the list")


if __name__ == "__main__":
    tbltest.main()

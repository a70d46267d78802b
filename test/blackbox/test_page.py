"""Black-box: the lookup page (doc/lookup-page.md) over HTTP.

Every route (the form, the form's redirect, the HTML and JSON of an address listed by
a static list with its file and line, by a verdict with its evidence, excluded, clean,
not checked yet; the style sheet; 404, 405, HEAD), the headers (a strict CSP, no
cookie), escaping of what a list or a provider says (a TXT and a VPN name holding
<script>), the limits (request size, body size, connections per address, [http]
allow), $url in a TXT answer, and the configuration's mistakes (a bad or busy
address, $url without public-url).
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest

import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import (Daemon, ZONE, THREATBLD, rev4, txt_values, intel_conf,  # noqa: E402
                     free_port, wait_for)
import fake_criminalip  # noqa: E402

KEY = "tbl-KEY-page-51c3"
VPN_IP = "203.0.113.10"
HOSTILE_IP = "203.0.113.77"
HOSTILE = "<script>alert(1)</script>"

LIST = """# static list of the page test
:127.0.0.2:Listed by hand, see $
192.0.2.0/24
192.0.2.7 :127.0.0.9:%s
!192.0.2.8
""" % HOSTILE


def conf(http_port, extra="", intel=""):
    return ("""[server]
listen = 127.0.0.1:{port}
database = {db}
control = {control}
log-level = debug

[http]
listen = 127.0.0.1:%d
public-url = https://bl.example.test/
%s
%s
[zone %s]
soa = ns1.%s. hostmaster.%s. 3600 600 604800 300
ns = ns1.%s.
vpn = 127.0.0.2 VPN exit node, see $url
static = {dir}/hand.list
""" % (http_port, extra, intel, ZONE, ZONE, ZONE, ZONE))


def get(port, path, method="GET", headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


class Page(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        cls.fake.set_doc(HOSTILE_IP, fake_criminalip.doc(
            HOSTILE_IP, issues=("is_vpn",), vpn=[fake_criminalip.vpn_item(HOSTILE)]))
        cls.http = free_port()
        cls.d = Daemon(conf(cls.http, intel=intel_conf(cls.fake.url, lookup_reserved="yes")),
                       env={"THREATBL_API_KEY": KEY}, files={"hand.list": LIST})

    @classmethod
    def tearDownClass(cls):
        cls.d.stop_and_cleanup()
        cls.fake.stop()

    def look_up(self, ip):
        """A DNS query makes the verdict; then wait until its facts are in the file."""
        self.d.query(rev4(ip), "A", timeout=5)

        def stored():
            st, _, body = get(self.http, "/v1/ip/" + ip)
            v = json.loads(body)["verdict"]
            return v is not None and v["source"] is not None
        self.assertTrue(wait_for(stored, 10), "verdict of %s not stored" % ip)

    def test_form(self):
        st, h, body = get(self.http, "/")
        self.assertEqual(st, 200)
        self.assertTrue(h["Content-Type"].startswith("text/html"))
        self.assertIn(b'<form method="get" action="/ip">', body)
        self.assertIn(b'name="address"', body)

    def test_form_redirects(self):
        st, h, _ = get(self.http, "/ip?address=192.0.2.55")
        self.assertEqual(st, 303)
        self.assertEqual(h["Location"], "/ip/192.0.2.55")
        st, h, _ = get(self.http, "/ip?address=2001:DB8::0:1")
        self.assertEqual((st, h["Location"]), (303, "/ip/2001:db8::1"))
        st, _, body = get(self.http, "/ip?address=not-an-ip")
        self.assertEqual(st, 400)
        self.assertIn(b"not an IPv4 or IPv6 address", body)

    def test_static_listed_with_line(self):
        st, _, body = get(self.http, "/ip/192.0.2.55")
        self.assertEqual(st, 200)
        text = body.decode()
        self.assertIn("Listed by a static list", text)
        self.assertIn("hand.list</code>, line 3", text)
        self.assertIn("Listed by hand, see 192.0.2.55", text)
        self.assertNotIn(self.d.dir, text, "the server's paths stay private")
        st, _, body = get(self.http, "/v1/ip/192.0.2.55")
        j = json.loads(body)
        self.assertTrue(j["listed"])
        z = j["zones"][0]
        self.assertEqual((z["by"], z["a"], z["list"]["line"], z["list"]["file"]),
                         ("static", "127.0.0.2", 3, "hand.list"))

    def test_most_specific_line(self):
        j = json.loads(get(self.http, "/v1/ip/192.0.2.7")[2])
        self.assertEqual(j["zones"][0]["list"]["line"], 4)
        self.assertEqual(j["zones"][0]["a"], "127.0.0.9")

    def test_excluded(self):
        j = json.loads(get(self.http, "/v1/ip/192.0.2.8")[2])
        self.assertFalse(j["listed"])
        self.assertEqual((j["zones"][0]["by"], j["zones"][0]["list"]["line"]),
                         ("exclusion", 5))
        self.assertIn(b"excluded it", get(self.http, "/ip/192.0.2.8")[2])

    def test_list_text_escaped(self):
        body = get(self.http, "/ip/192.0.2.7")[2].decode()
        self.assertNotIn("<script>", body)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", body)

    def test_verdict_with_evidence(self):
        self.look_up(VPN_IP)
        st, _, body = get(self.http, "/ip/" + VPN_IP)
        text = body.decode()
        self.assertIn("Listed: VPN exit", text)
        self.assertIn('class="cat cat-vpn"', text)
        self.assertIn("issues.is_vpn=true", text)
        self.assertIn("vpn_name=nordvpn", text)
        self.assertIn("Checked", text)
        j = json.loads(get(self.http, "/v1/ip/" + VPN_IP)[2])
        self.assertEqual(j["categories"], ["vpn"])
        self.assertEqual(j["verdict"]["source"], "criminalip")
        self.assertRegex(j["verdict"]["checked"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn({"category": "vpn", "text": "issues.is_vpn=true"},
                      j["verdict"]["evidence"])

    def test_provider_text_escaped(self):
        self.look_up(HOSTILE_IP)
        body = get(self.http, "/ip/" + HOSTILE_IP)[2].decode()
        self.assertIn("Listed: VPN exit", body)
        self.assertNotIn("<script>", body)
        self.assertIn("vpn_name=&lt;script&gt;", body)

    def test_clean_and_unchecked(self):
        body = get(self.http, "/ip/198.18.0.1")[2].decode()
        self.assertIn("not checked yet", body)
        self.d.query(rev4("203.0.113.17"), "A", timeout=5)
        self.assertTrue(wait_for(lambda: json.loads(
            get(self.http, "/v1/ip/203.0.113.17")[2])["verdict"] is not None, 10))
        body = get(self.http, "/ip/203.0.113.17")[2].decode()
        self.assertIn("checked and found clean", body)

    def test_page_never_looks_up(self):
        before = self.fake.total()
        for i in range(5):
            get(self.http, "/ip/198.51.100.%d" % (100 + i))
        time.sleep(0.5)
        self.assertEqual(self.fake.total(), before)

    def test_bad_addresses(self):
        for path in ("/ip/1.2.3", "/ip/%3Cscript%3E", "/ip/" + "1" * 200,
                     "/ip/1.2.3.4.5"):
            st, _, body = get(self.http, path)
            self.assertEqual(st, 400, path)
            self.assertNotIn(b"<script>", body)
        st, _, body = get(self.http, "/v1/ip/nope")
        self.assertEqual((st, json.loads(body)), (400, {"error": "not an IP address"}))

    def test_headers(self):
        for path in ("/", "/ip/192.0.2.55", "/v1/ip/192.0.2.55", "/style.css"):
            st, h, _ = get(self.http, path)
            self.assertEqual(st, 200, path)
            csp = h["Content-Security-Policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual(h["X-Content-Type-Options"], "nosniff")
            self.assertNotIn("Set-Cookie", h)
        self.assertEqual(get(self.http, "/v1/ip/192.0.2.55")[1]["Content-Type"],
                         "application/json")
        st, h, body = get(self.http, "/style.css")
        self.assertTrue(h["Content-Type"].startswith("text/css"))
        self.assertIn(b"@media", body)

    def test_no_third_party_assets(self):
        body = get(self.http, "/ip/192.0.2.55")[2].decode()
        self.assertNotRegex(body, r'(src|href)="(https?:)?//')
        self.assertNotIn("<script", body)

    def test_not_found_and_methods(self):
        self.assertEqual(get(self.http, "/favicon.ico")[0], 404)
        self.assertEqual(get(self.http, "/etc/passwd")[0], 404)
        st, h, _ = get(self.http, "/", method="DELETE")
        self.assertEqual(st, 405)
        self.assertIn("GET", h["Allow"])
        st, h, body = get(self.http, "/ip/192.0.2.55", method="HEAD")
        self.assertEqual((st, body), (200, b""))

    def test_recheck_off_by_default(self):
        st, _, _ = get(self.http, "/ip/192.0.2.55/recheck", method="POST")
        self.assertEqual(st, 404)
        self.assertNotIn(b"/recheck", get(self.http, "/ip/" + VPN_IP)[2])

    def test_request_limits(self):
        st, _, _ = get(self.http, "/", headers={"X-Big": "x" * 20000})
        self.assertIn(st, (413, 431))
        st, _, _ = get(self.http, "/ip/192.0.2.55/recheck", method="POST", body=b"x" * 5000)
        self.assertIn(st, (404, 413))
        self.assertEqual(get(self.http, "/")[0], 200)

    def test_connections_per_ip(self):
        held = []
        try:
            for _ in range(8):
                # A whole keep-alive exchange: the connection is surely accepted and
                # counted before the next one.
                c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=10)
                c.request("GET", "/")
                c.getresponse().read()
                held.append(c)
            s = socket.create_connection(("127.0.0.1", self.http), timeout=5)
            try:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = s.recv(100)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            s.close()
            self.assertEqual(data, b"", "the 9th connection is closed")
            # DNS goes on meanwhile.
            self.assertEqual(self.d.query(ZONE, "SOA").rcode(), 0)
        finally:
            for s in held:
                s.close()
        # The server sees the closes shortly; until then a new one is still refused.

        def answered():
            try:
                return get(self.http, "/")[0] == 200
            except (ConnectionError, http.client.HTTPException):
                return False
        self.assertTrue(wait_for(answered, 10))

    def test_url_in_txt(self):
        self.look_up(VPN_IP)
        r = self.d.query(rev4(VPN_IP), "TXT")
        self.assertIn("VPN exit node, see https://bl.example.test/ip/%s" % VPN_IP,
                      txt_values(r))


class Recheck(unittest.TestCase):
    """[http] recheck = yes: a real lookup, limited per address and per client. A
    daemon per test: the per-client tokens are the test's own."""

    @classmethod
    def setUpClass(cls):
        cls.fake = fake_criminalip.FakeCriminalIP(key=KEY).start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.http = free_port()
        self.d = Daemon(conf(self.http, extra="recheck = yes",
                             intel=intel_conf(self.fake.url, lookup_reserved="yes")),
                        env={"THREATBL_API_KEY": KEY}, files={"hand.list": LIST})

    def tearDown(self):
        self.d.stop_and_cleanup()

    def post(self, ip, headers=None):
        return get(self.http, "/ip/%s/recheck" % ip, method="POST", headers=headers)

    def test_recheck_looks_up_once(self):
        ip = "203.0.113.13"  # tor in the fake
        self.assertIn(b'action="/ip/203.0.113.13/recheck"', get(self.http, "/ip/" + ip)[2])
        before = self.fake.total()
        st, h, _ = self.post(ip)
        self.assertEqual((st, h["Location"]), (303, "/ip/%s?rechecked=1" % ip))
        self.assertTrue(wait_for(lambda: self.fake.total() == before + 1, 10),
                        "the re-check made one call")
        self.assertTrue(wait_for(lambda: json.loads(
            get(self.http, "/v1/ip/" + ip)[2])["categories"] == ["tor"], 10))
        body = get(self.http, "/ip/%s?rechecked=1" % ip)[2].decode()
        self.assertIn("A new check was asked for", body)
        # checked just now: the next one waits for recheck-interval
        st, _, body = self.post(ip)
        self.assertEqual(st, 429)
        self.assertIn(b"a new check is possible from", body)
        self.assertNotIn(b'/recheck"><button', get(self.http, "/ip/" + ip)[2])
        j = json.loads(get(self.http, "/v1/ip/" + ip)[2])
        self.assertIsNotNone(j["recheck"]["next"])
        time.sleep(0.5)
        self.assertEqual(self.fake.total(), before + 1)

    def test_cross_site_post_refused(self):
        before = self.fake.total()
        st, _, _ = self.post("203.0.113.14", {"Origin": "https://evil.example"})
        self.assertEqual(st, 403)
        st, _, _ = self.post("203.0.113.14", {"Origin": "http://127.0.0.1:%d" % self.http,
                                               "Host": "127.0.0.1:%d" % self.http})
        self.assertEqual(st, 303)
        self.assertTrue(wait_for(lambda: self.fake.total() == before + 1, 10))

    def test_per_client_limit(self):
        # 3 at once per client prefix (recheck-per-client = 5/h); the 4th is refused
        codes = [self.post("198.51.100.%d" % (60 + i))[0] for i in range(5)]
        self.assertIn(429, codes)
        self.assertLessEqual(codes.count(303), 3)


class OverrideEvidence(unittest.TestCase):
    def test_allow_and_add_on_page(self):
        port = free_port()
        d = Daemon(conf(port), files={"hand.list": LIST})
        try:
            self.assertEqual(d.control("allow", "192.0.2.0/28", "--reason",
                                       "our <partner>")[1], "ok")
            self.assertEqual(d.control("add", "198.18.9.0/24", "scanner", "--reason",
                                       "seen attacking us")[1], "ok")

            def decided(ip, kind):
                o = json.loads(get(port, "/v1/ip/" + ip)[2])["override"]
                return o is not None and o["kind"] == kind
            self.assertTrue(wait_for(lambda: decided("192.0.2.7", "allow"), 10))
            j = json.loads(get(port, "/v1/ip/192.0.2.7")[2])
            self.assertFalse(j["listed"], "allow beats the static list")
            self.assertEqual((j["override"]["reason"], j["override"]["prefix"]),
                             ("our <partner>", "192.0.2.0/28"))
            body = get(port, "/ip/192.0.2.7")[2].decode()
            self.assertIn("has allowed this address", body)
            self.assertIn("Reason: <q>our &lt;partner&gt;</q>", body)
            self.assertTrue(wait_for(lambda: decided("198.18.9.9", "add"), 10))
            j = json.loads(get(port, "/v1/ip/198.18.9.9")[2])
            self.assertEqual((j["listed"], j["categories"], j["zones"][0]["by"]),
                             (True, ["scanner"], "override"))
            body = get(port, "/ip/198.18.9.9")[2].decode()
            self.assertIn("listed by the operator of this server: seen attacking us", body)
        finally:
            d.stop_and_cleanup()

    def test_allow_beats_a_nested_add(self):
        """An add inside an allow: DNS answers NXDOMAIN (allow > add, override.h), and
        the page explains that answer, with the allow's prefix and reason, not the
        add's (the more specific one)."""
        port = free_port()
        d = Daemon(conf(port), files={"hand.list": LIST})
        try:
            self.assertEqual(d.control("allow", "192.0.2.0/24", "--reason",
                                       "our partner")[1], "ok")
            self.assertEqual(d.control("add", "192.0.2.5", "tor", "--reason",
                                       "seen on tor")[1], "ok")
            self.assertEqual(d.query(rev4("192.0.2.5"), "A").rcode(), dns.rcode.NXDOMAIN)
            j = json.loads(get(port, "/v1/ip/192.0.2.5")[2])
            self.assertFalse(j["listed"])
            self.assertEqual(j["categories"], [])
            self.assertEqual((j["zones"][0]["listed"], j["zones"][0]["by"]),
                             (False, "allow"))
            o = j["override"]
            self.assertEqual((o["kind"], o["category"], o["prefix"], o["reason"]),
                             ("allow", None, "192.0.2.0/24", "our partner"))
            self.assertIsNotNone(o["since"])
            body = get(port, "/ip/192.0.2.5")[2].decode()
            self.assertIn("has allowed this address", body)
            self.assertIn("Reason: <q>our partner</q>", body)
            self.assertIn("<code>192.0.2.0/24</code>", body)
            self.assertNotIn("seen on tor", body)
            self.assertNotIn("Listed:", body)
        finally:
            d.stop_and_cleanup()


class FeedEvidence(unittest.TestCase):
    def test_feed_hit_on_page(self):
        from test_feeds import FeedServer, Feed, feed_conf, plain
        srv = FeedServer()
        try:
            srv.add("/tor.txt", Feed(plain(["198.18.7.7"])))
            port = free_port()
            d = Daemon(conf(port) + feed_conf("tor-test", srv.url("/tor.txt"), "tor"),
                       files={"hand.list": LIST})
            try:
                def listed():
                    return json.loads(get(port, "/v1/ip/198.18.7.7")[2])["listed"]
                self.assertTrue(wait_for(listed, 10), d.stderr()[-2000:])
                z = json.loads(get(port, "/v1/ip/198.18.7.7")[2])["zones"][0]
                self.assertEqual((z["by"], z["categories"]), ("feed", ["tor"]))
                self.assertEqual(z["feeds"], [{"category": "tor",
                                               "txt": "Tor exit node (feed tor-test)"}])
                body = get(port, "/ip/198.18.7.7")[2].decode()
                self.assertIn("Listed: Tor exit node", body)
                self.assertIn("a public feed: Tor exit node (feed tor-test)", body)
            finally:
                d.stop_and_cleanup()
        finally:
            srv.stop()


    def test_skip_when_feed_decides_alone(self):
        """[intel] skip-when = tor: once a Tor feed holds an address that has a VPN
        verdict, DNS answers the feed alone; so does the page (categories, zone,
        evidence), and says what DNS says."""
        from test_feeds import FeedServer, Feed, feed_conf, plain
        srv = FeedServer()
        fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        try:
            feed = srv.add("/tor.txt", Feed(plain(["198.18.7.7"])))
            port = free_port()
            d = Daemon(conf(port, intel=intel_conf(fake.url, skip_when="tor",
                                                     lookup_reserved="yes")) +
                       feed_conf("tor-test", srv.url("/tor.txt"), "tor", every="1s"),
                       env={"THREATBL_API_KEY": KEY}, files={"hand.list": LIST})
            try:
                d.query(rev4(VPN_IP), "A", timeout=5)

                def stored():
                    v = json.loads(get(port, "/v1/ip/" + VPN_IP)[2])["verdict"]
                    return v is not None and v["source"] is not None
                self.assertTrue(wait_for(stored, 10), d.stderr()[-2000:])
                vpn_a = tbltest.a_values(d.query(rev4(VPN_IP), "A"))
                with srv.lock:
                    feed.body = plain(["198.18.7.7", VPN_IP])
                self.assertTrue(wait_for(lambda: tbltest.a_values(
                    d.query(rev4(VPN_IP), "A")) not in ([], vpn_a), 10), d.stderr()[-2000:])
                txt = txt_values(d.query(rev4(VPN_IP), "TXT"))
                self.assertEqual(txt, ["Tor exit node (feed tor-test)"])
                j = json.loads(get(port, "/v1/ip/" + VPN_IP)[2])
                self.assertEqual((j["listed"], j["categories"]), (True, ["tor"]))
                z = j["zones"][0]
                self.assertEqual((z["by"], z["categories"]), ("feed", ["tor"]))
                self.assertEqual([f["txt"] for f in z["feeds"]], txt)
                self.assertEqual(j["verdict"]["categories"], ["vpn"], "the verdict is kept")
                body = get(port, "/ip/" + VPN_IP)[2].decode()
                self.assertIn("Listed: Tor exit node<", body)
                self.assertIn("a public feed: Tor exit node (feed tor-test)", body)
                self.assertNotIn("cat-vpn", body)
                self.assertNotIn("issues.is_vpn=true", body)
            finally:
                d.stop_and_cleanup()
        finally:
            fake.stop()
            srv.stop()


class Config(unittest.TestCase):
    def test_allow(self):
        port = free_port()
        d = Daemon(conf(port, "allow = 10.0.0.0/8"), files={"hand.list": LIST})
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            s.close()
            self.assertEqual(data, b"")
        finally:
            d.stop_and_cleanup()

    def test_off_when_unset(self):
        d = Daemon(files={"hand.list": LIST})
        try:
            self.assertNotIn("lookup page", d.stderr())
        finally:
            d.stop_and_cleanup()

    def start_fails(self, text, why):
        d = Daemon(text, wait=False, files={"hand.list": LIST})
        try:
            self.assertEqual(d.proc.wait(10), 1)
            self.assertIn(why, d.stderr())
        finally:
            d.cleanup()
        return d

    def test_bad_address(self):
        self.start_fails(conf(0).replace("listen = 127.0.0.1:0\npublic",
                                         "listen = localhost:80\npublic"),
                         "[http] listen: 'localhost:80' is not ADDR:PORT")

    def test_busy_address(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        try:
            self.start_fails(conf(s.getsockname()[1]),
                             "lookup page: cannot listen on 127.0.0.1:%d: Address already in use"
                             " (another process listens there)" % s.getsockname()[1])
        finally:
            s.close()

    def test_address_not_here(self):
        self.start_fails(conf(0).replace("listen = 127.0.0.1:0\npublic",
                                         "listen = 192.0.2.77:8080\npublic"),
                         "lookup page: cannot listen on 192.0.2.77:8080: Cannot assign "
                         "requested address (not an address of this machine)")

    def test_url_without_public_url(self):
        text = conf(free_port()).replace("public-url = https://bl.example.test/\n", "")
        self.start_fails(text, "vpn uses $url but [http] public-url is not set")
        d = Daemon(text, wait=False, files={"hand.list": LIST})
        d.proc.wait(10)
        r = subprocess.run([THREATBLD, "-t", "-c", d.conf], capture_output=True, text=True)
        d.cleanup()
        self.assertEqual(r.returncode, 1)
        self.assertIn("$url but [http] public-url is not set", r.stderr)


if __name__ == "__main__":
    tbltest.main()

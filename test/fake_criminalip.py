#!/usr/bin/python3
"""fake_criminalip - a stand-in for Criminal IP's asset report API (doc/criminalip.md).

    fake_criminalip.py --port N [--host 127.0.0.1] [--key KEY] [--control-file F]

Prints "READY <port>" on stdout once it listens (with --port 0 it picks a free port).
Runs with Debian's /usr/bin/python3 and the standard library only.

API:  GET /v1/asset/ip/report?ip=X&full=true with the header "x-api-key: KEY"
      (default key "test-key"). A wrong or missing key, or a key anywhere in the URL,
      is answered 401 {"status":401,"message":"invalid api key"}.

Built-in documents, by the last octet of 203.0.113.x or 198.51.100.x (any other
IPv4 address: clean, with hundreds of domain and port entries of noise):
    10 vpn           is_vpn, a "vpn" block (nordvpn), tcp/443 plain HTTPS, udp/1194 OpenVPN
    11 openvpn443    port history: newest tcp/443 entry open, app_name OpenVPN; older
                     HTTPS and closed entries; placeholders
    12 hosting       is_cloud
    13 tor           is_tor
    14 proxy         is_proxy
    15 scanner       score inbound "Dangerous" (is_scanner false)
    16 vpn+hosting+openvpn443
    17 clean
    18 clean         an open OpenVPN tcp/443 entry in the past, but the newest is closed
    19 openvpn443    banner describing a P_CONTROL_HARD_RESET_SERVER reply, no name
    20 scanner       integer scores (inbound 5 = Critical, outbound 1)
    21 vpn           only a non-empty "anonymous_vpn" block, every issue false
    22 (error)       {"status":400,"message":"Invalid IP Address."}
    23 clean         placeholders and fields of the wrong type everywhere
    45 (no verdict)  {"status":200}: no block at all
    46 (no verdict)  a full report, but about 203.0.113.99
    47 vpn           a real-sized report of about 4.5 MB (thousands of ports, domains)
Every fixture in test/fixtures whose "ip" is an address is served for that address:
188.214.106.93 is the example of doc/criminalip.md#an-example (test/fixtures/criminalip_example.json):
vpn + openvpn443 + hosting; 203.0.113.40-44 are the shapes of real reports
(shape_*.json: ISO times, numbers as text, ip_category, tags, nulls). IPv6 addresses and text that is not an address are
answered "Invalid IP Address." (the service may not support IPv6) unless a document
was set for them.

Controls (same port, no key): GET /_control/count -> {"total", "per_ip", "bad_key",
"key_in_url", "inflight", "max_inflight", "connections" (TCP connections accepted)};
GET /_control/redirect -> a 302 (for a client that must not follow it); GET /_control/requests -> the last requests (ip, full,
user_agent, accept, key_ok, mode); POST /_control/reset (counters, mode and set
documents); POST /_control/mode {"mode": M, ...} with M one of normal, slow
(delay_ms), error (message, http_status, status, retry_after: a Retry-After header), http500, malformed, huge (size_mb,
chunked), drop, reset_mid_body, concurrent, limit, badkey; optional "ips": [...] (only
those IPs), "times": N (N answers, then normal), "delay_ms" (wait before any answer);
POST /_control/doc {"ip": IP, "doc": {...}}. --control-file F: a JSON file holding a
mode object, applied again whenever the file changes.

The FakeCriminalIP class below starts and drives this server from a test.
"""
import argparse
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakeproc  # beside this file: the client side of every fake

DEFAULT_KEY = "test-key"
HERE = os.path.dirname(os.path.abspath(__file__))
ISSUES = ("is_vpn", "is_cloud", "is_tor", "is_proxy", "is_hosting", "is_mobile",
          "is_darkweb", "is_scanner", "is_snort", "is_anonymous_vpn")

# --- documents ----------------------------------------------------------------------


def port(no, sock="tcp", status="open", protocol="HTTPS", app="N/A", version="N/A",
         banner="", when="2023-03-01 10:00:00", tags=None, vuln=None):
    return {"open_port_no": no, "socket": sock, "port_status": status,
            "protocol": protocol, "app_name": app, "app_version": version,
            "banner": banner, "tags": tags or [], "is_vulnerability": vuln,
            "confirmed_time": when, "dns_names": None, "sdn_common_name": "N/A",
            "jarm_hash": "N/A", "ssl_info_raw": None, "technologies": [],
            "has_cve": False}


def block(items):
    return {"count": len(items), "data": items}


def vpn_item(name, url="N/A", sock="tcp", when="2023-02-11 04:12:55"):
    return {"vpn_name": name, "vpn_url": url, "vpn_source_url": "https://%s" % url,
            "socket_type": sock, "confirmed_time": when}


def whois(as_name="Example Networks", as_no=64500, cc="us"):
    return block([{"as_name": as_name, "as_no": as_no, "org_name": as_name,
                   "org_country_code": cc, "city": "N/A", "region": "N/A",
                   "latitude": 0.0, "longitude": 0.0,
                   "confirmed_time": "2023-01-05 00:00:00"}])


def doc(ip, issues=(), inbound="Safe", outbound="Safe", vpn=(), anon=(), ports=(),
        **extra):
    d = {
        "ip": ip,
        "issues": {k: k in issues for k in ISSUES},
        "score": {"inbound": inbound, "outbound": outbound},
        "user_search_count": 1,
        "protected_ip": block([]),
        "domain": block([]),
        "whois": whois(),
        "hostname": block([]),
        "ids": block([]),
        "vpn": block(list(vpn)),
        "anonymous_vpn": block(list(anon)),
        "webcam": block([]),
        "honeypot": block([]),
        "ip_category": block([]),
        "port": block(list(ports)),
        "vulnerability": block([]),
        "mobile": block([]),
        "status": 200,
    }
    d.update(extra)
    return d


HARD_RESET_BANNER = ("\\x00\\x0e8\\x9f\\x1c\\xd2\\x85\\x11\\x0f\\x01\\x00\\x00\\x00\\x00\\x00 "
                     "TCP reply: opcode P_CONTROL_HARD_RESET_SERVER_V2 key_id 0, "
                     "session id 9f1cd285110f0100")


def profile(ip, n):
    """The built-in document for last octet n, or (http, body) for an error."""
    if n == 10:
        return doc(ip, ("is_vpn",), "Moderate", "Low",
                   vpn=[vpn_item("nordvpn", "us1234.nordvpn.example")],
                   ports=[port(443), port(80, protocol="HTTP", app="nginx"),
                          port(1194, "udp", protocol="OpenVPN", app="OpenVPN")])
    if n == 11:
        return doc(ip, (), "Low", "Safe", ports=[
            port(443, protocol="HTTPS", when="2022-07-01 03:00:12"),
            port(443, protocol="OpenVPN", app="OpenVPN", when="2022-10-09 11:02:07"),
            port(443, status="closed", protocol="", app="Unknown", version="Unknown",
                 banner="N/A", when="2022-05-14 11:54:48"),
            port(443, protocol=None, app=None, version=None, banner=None, when=None),
            port(22, protocol="SSH", app="OpenSSH", version="8.9p1",
                 banner="SSH-2.0-OpenSSH_8.9p1 Ubuntu-3", when="2022-10-01 00:00:00"),
            port(1194, "udp", status="closed", protocol="", app="Unknown",
                 banner="N/A", when="2022-05-14 11:54:48")])
    if n == 12:
        return doc(ip, ("is_cloud",), ports=[
            port(22, protocol="SSH", app="OpenSSH", banner="SSH-2.0-OpenSSH_9.2p1"),
            port(80, protocol="HTTP", app="nginx"), port(443)],
            whois=whois("Example Cloud Inc", 64501))
    if n == 13:
        return doc(ip, ("is_tor", "is_darkweb"), "Moderate", "Moderate",
                   ports=[port(9001, protocol="", app="Tor", banner="")])
    if n == 14:
        return doc(ip, ("is_proxy",), "Low", "Low",
                   ports=[port(3128, protocol="HTTP", app="Squid http proxy")])
    if n == 15:
        return doc(ip, (), "Dangerous", "Moderate",
                   ports=[port(22, protocol="SSH", app="OpenSSH")])
    if n == 16:
        return doc(ip, ("is_vpn", "is_hosting"), "Moderate", "Low",
                   vpn=[vpn_item("expressvpn", "node7.expressvpn.example")],
                   ports=[port(443, protocol="OpenVPN", app="N/A",
                               when="2023-04-02 09:30:00"),
                          port(443, protocol="HTTPS", when="2023-01-02 09:30:00")])
    if n == 17:
        return doc(ip, (), ports=[port(25, protocol="SMTP", app="Postfix",
                                       banner="220 mail.example ESMTP Postfix")])
    if n == 18:
        return doc(ip, (), "Low", "Safe", ports=[
            port(443, protocol="OpenVPN", app="OpenVPN", when="2022-10-09 11:02:07"),
            port(443, status="closed", protocol="OpenVPN", app="OpenVPN",
                 when="2023-02-20 17:45:00"),
            port(443, protocol="HTTPS", when="2021-12-31 23:59:59")])
    if n == 19:
        return doc(ip, (), "Low", "Safe", ports=[
            port(443, protocol="", app="Unknown", version="Unknown",
                 banner=HARD_RESET_BANNER, when="2023-05-06 07:08:09")])
    if n == 20:
        return doc(ip, (), 5, 1, ports=[port(23, protocol="Telnet", app="N/A")])
    if n == 21:
        return doc(ip, (), "Low", "Safe",
                   anon=[vpn_item("N/A", sock="N/A"), vpn_item("mullvad", "se-mma.example")])
    if n == 22:
        return 200, {"status": 400, "message": "Invalid IP Address."}
    if n == 45:
        return {"status": 200}
    if n == 46:
        return profile("203.0.113.99", 13)
    if n == 47:
        return big(ip)
    if n == 23:
        d = doc(ip, (), ports=[port(443, status=None, protocol=None, app=None,
                                    banner=None, when="N/A"),
                               {"open_port_no": "443", "socket": "tcp",
                                "port_status": "open", "app_name": "OpenVPN"},
                               "not an object", None])
        d["issues"]["is_vpn"] = "true"
        d["issues"]["is_tor"] = None
        d["issues"]["is_proxy"] = 1
        d["score"] = {"inbound": None, "outbound": ["Critical"]}
        d["vpn"] = {"count": 1, "data": "nordvpn"}
        d["anonymous_vpn"] = None
        d["whois"] = "N/A"
        return d
    return None


def noise(ip):
    """A clean but large document, the same every time for the same IP."""
    rnd = random.Random(ip)
    words = ("mail", "shop", "blog", "cdn", "api", "static", "portal", "dev", "img", "www")
    tlds = ("com", "net", "org", "io", "example")
    domains = []
    for i in range(300):
        name = "%s%d.%s-%d.%s" % (rnd.choice(words), i, rnd.choice(words),
                                   rnd.randrange(1000), rnd.choice(tlds))
        domains.append({"domain": name, "ip_type": "IPv4", "registrar": "N/A",
                        "create_date": "2019-%02d-%02d" % (rnd.randrange(1, 13),
                                                           rnd.randrange(1, 29)),
                        "confirmed_time": "2023-%02d-%02d 00:00:00"
                        % (rnd.randrange(1, 13), rnd.randrange(1, 29))})
    ports = []
    for i in range(200):
        no = rnd.choice((21, 22, 25, 80, 110, 143, 443, 587, 993, 3306, 8080, 8443))
        when = "20%02d-%02d-%02d %02d:%02d:%02d" % (
            rnd.randrange(19, 24), rnd.randrange(1, 13), rnd.randrange(1, 29),
            rnd.randrange(24), rnd.randrange(60), rnd.randrange(60))
        proto = {22: "SSH", 25: "SMTP", 80: "HTTP", 443: "HTTPS"}.get(no, "")
        ports.append(port(no, status=rnd.choice(("open", "open", "closed")),
                          protocol=proto, app=rnd.choice(("N/A", "nginx", "Unknown")),
                          banner=rnd.choice(("", "N/A", "HTTP/1.1 200 OK\r\nServer: nginx")),
                          when=when))
    d = doc(ip, (), "Safe", "Low", ports=ports)
    d["domain"] = block(domains)
    d["hostname"] = block([{"domain_name_rep": "host%d.example" % i,
                            "domain_name_full": "host%d.isp.example" % i,
                            "confirmed_time": "2023-01-01 00:00:00"} for i in range(50)])
    return d


def big(ip, size=int(4.5 * (1 << 20))):
    """A report of the real shape and about size bytes: a VPN with a long scan
    history and thousands of domains, the newest tcp/443 entry plain HTTPS."""
    rnd = random.Random(ip)
    d = doc(ip, ("is_vpn",), "Moderate", "Low",
            vpn=[vpn_item("nordvpn", "nl%d.nordvpn.example" % rnd.randrange(999))])
    ports, domains, n = [], [], len(json.dumps(d))
    while n < size:
        i = len(ports)
        p = port(rnd.choice((22, 80, 443, 8080, 8443)), protocol="HTTPS",
                 app=rnd.choice(("nginx", "N/A")),
                 banner="HTTP/1.1 200 OK\r\nServer: nginx\r\n" + "x" * rnd.randrange(400),
                 when="20%02d-%02d-%02d 00:00:00" % (rnd.randrange(15, 22),
                                                     rnd.randrange(1, 13),
                                                     rnd.randrange(1, 29)))
        ports.append(p)
        dom = {"domain": "site%d.example" % i, "ip_type": "IPv4", "registrar": "N/A",
               "create_date": "2019-01-01", "confirmed_time": "2023-01-01 00:00:00"}
        domains.append(dom)
        n += len(json.dumps(p)) + len(json.dumps(dom)) + 4
    ports.append(port(443, protocol="HTTPS", when="2023-12-31 23:59:59"))
    d["port"] = block(ports)
    d["domain"] = block(domains)
    return d


def fixture_docs():
    """The fixtures that name an address, by that address."""
    docs = {}
    folder = os.path.join(HERE, "fixtures")
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return docs
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name)) as f:
                d = json.load(f)
        except (OSError, ValueError):
            continue
        ip = canonical_ip(d.get("ip")) if isinstance(d, dict) and \
            isinstance(d.get("ip"), str) else None
        if ip:
            docs[ip] = d
    return docs


FIXTURES = None


def fixture_doc(ip):
    global FIXTURES
    if FIXTURES is None:
        FIXTURES = fixture_docs()
    return FIXTURES.get(ip)


def canonical_ip(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


INVALID_IP = (200, {"status": 400, "message": "Invalid IP Address."})


def document_for(ip, custom):
    """(http_status, body object) for the asked text."""
    canon = canonical_ip(ip) or ip
    if canon in custom:
        return 200, custom[canon]
    fx = fixture_doc(canon)
    if fx is not None:
        return 200, fx
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return INVALID_IP
    if addr.version != 4:
        return INVALID_IP
    parts = canon.split(".")
    if parts[:3] in (["203", "0", "113"], ["198", "51", "100"]):
        p = profile(canon, int(parts[3]))
        if isinstance(p, tuple):
            return p
        if p is not None:
            return 200, p
    return 200, noise(canon)

# --- the server -----------------------------------------------------------------------


class State:
    def __init__(self, key, control_file=None):
        self.key = key
        self.lock = threading.Lock()
        self.control_file = control_file
        self.control_stamp = None
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.per_ip = {}
            self.bad_key = 0
            self.key_in_url = 0
            self.inflight = 0
            self.max_inflight = 0
            self.connections = 0
            self.requests = []
            self.custom = {}
            self.mode = {"mode": "normal"}

    def set_mode(self, m):
        if not isinstance(m, dict) or "mode" not in m:
            raise ValueError("a mode object needs \"mode\"")
        m = dict(m)
        if m.get("ips") is not None:
            m["ips"] = set(canonical_ip(i) or i for i in m["ips"])
        with self.lock:
            self.mode = m

    def poll_control_file(self):
        if not self.control_file:
            return
        try:
            st = os.stat(self.control_file)
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.control_stamp:
            return
        self.control_stamp = stamp
        try:
            with open(self.control_file) as f:
                self.set_mode(json.load(f))
        except (OSError, ValueError) as e:
            sys.stderr.write("fake_criminalip: control file: %s\n" % e)

    def take_mode(self, ip):
        """The mode that applies to this request (and use one of its "times")."""
        with self.lock:
            m = self.mode
            if m.get("mode", "normal") == "normal" and "delay_ms" not in m:
                return m
            if m.get("ips") is not None and ip not in m["ips"]:
                return {"mode": "normal"}
            if m.get("times") is not None:
                m["times"] -= 1
                if m["times"] <= 0:
                    self.mode = {"mode": "normal"}
            return m


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-criminalip/1"

    def log_message(self, fmt, *args):  # quiet; and headers are never printed
        pass

    @property
    def st(self):
        return self.server.state

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without NODELAY each answer on a
        # reused connection waits for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.st.lock:
            self.st.connections += 1

    def send_body(self, code, body, ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code, obj, headers=None):
        self.send_body(code, json.dumps(obj), headers=headers)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw.decode() or "null")

    # controls

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            body = self.read_json()
            if path == "/_control/reset":
                self.st.reset()
            elif path == "/_control/mode":
                self.st.set_mode(body)
            elif path == "/_control/doc":
                ip = canonical_ip(body["ip"]) or body["ip"]
                with self.st.lock:
                    self.st.custom[ip] = body["doc"]
            else:
                return self.send_json(404, {"status": 404, "message": "not found"})
        except (ValueError, KeyError, TypeError) as e:
            return self.send_json(400, {"status": 400, "message": str(e)})
        self.send_json(200, {"status": 200, "message": "ok"})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_control/count":
            with self.st.lock:
                return self.send_json(200, {
                    "total": self.st.total, "per_ip": dict(self.st.per_ip),
                    "bad_key": self.st.bad_key, "key_in_url": self.st.key_in_url,
                    "inflight": self.st.inflight, "max_inflight": self.st.max_inflight,
                    "connections": self.st.connections})
        if url.path == "/_control/requests":
            with self.st.lock:
                return self.send_json(200, list(self.st.requests))
        if url.path == "/_control/redirect":
            self.send_response(302)
            self.send_header("Location", "/_control/count")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if url.path != "/v1/asset/ip/report":
            return self.send_json(404, {"status": 404, "message": "not found"})
        self.st.poll_control_file()
        with self.st.lock:
            self.st.inflight += 1
            self.st.max_inflight = max(self.st.max_inflight, self.st.inflight)
            alone = self.st.inflight == 1
        try:
            self.report(url, alone)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with self.st.lock:
                self.st.inflight -= 1

    def report(self, url, alone):
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        ip_text = (q.get("ip") or [""])[0]
        ip = canonical_ip(ip_text) or ip_text
        key = self.headers.get("x-api-key")
        in_url = any(k.lower().replace("-", "_") in ("key", "api_key", "apikey",
                                                     "x_api_key", "token")
                     for k in q) or (self.st.key and self.st.key in url.query)
        key_ok = key == self.st.key and not in_url
        m = self.st.take_mode(ip)
        mode = m.get("mode", "normal")
        with self.st.lock:
            self.st.total += 1
            self.st.per_ip[ip] = self.st.per_ip.get(ip, 0) + 1
            self.st.bad_key += not key_ok
            self.st.key_in_url += bool(in_url)
            self.st.requests.append({
                "ip": ip, "full": (q.get("full") or [""])[0],
                "user_agent": self.headers.get("User-Agent"),
                "accept": self.headers.get("Accept"), "key_ok": key_ok, "mode": mode})
            del self.st.requests[:-200]
        delay = m.get("delay_ms", 300 if mode == "concurrent" else 0)
        if mode == "slow":
            delay = m.get("delay_ms", 5000)
        if delay:
            time.sleep(delay / 1000.0)
        if not key_ok or mode == "badkey":
            return self.send_json(401, {"status": 401, "message": "invalid api key"})
        if mode == "error":
            code = m.get("http_status", 200)
            ra = m.get("retry_after")
            return self.send_json(code, {"status": m.get("status", code),
                                         "message": m.get("message", "error")},
                                  {"Retry-After": str(ra)} if ra is not None else None)
        if mode == "limit":
            code = m.get("http_status", 200)
            return self.send_json(code, {"status": m.get("status", 403),
                                         "message": "limit exceeded"})
        if mode == "concurrent" and not alone:
            code = m.get("http_status", 429)
            return self.send_json(code, {"status": m.get("status", 429),
                                         "message": "unable to call api at the same time"})
        if mode == "http500":
            return self.send_body(500, "<html><body><h1>500 Internal Server Error</h1>"
                                  "</body></html>", "text/html")
        if mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        with self.st.lock:
            code, body = document_for(ip_text, self.st.custom)
        text = json.dumps(body)
        if mode == "malformed":
            return self.send_body(200, text[:len(text) // 2])
        if mode == "huge":
            return self.huge(body, m)
        if mode == "reset_mid_body":
            return self.reset_mid_body(text.encode())
        self.send_body(code, text)

    def huge(self, body, m):
        """A valid document of size_mb MiB, written as it is made."""
        size = int(float(m.get("size_mb", 5)) * (1 << 20))
        head = (json.dumps(body)[:-1] + ', "padding": "').encode()
        tail = b'"}'
        pad = max(0, size - len(head) - len(tail))
        chunked = bool(m.get("chunked"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(head) + pad + len(tail)))
        self.end_headers()

        def out(b):
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
            else:
                self.wfile.write(b)
        out(head)
        piece = b"x" * 65536
        while pad > 0:
            n = min(pad, len(piece))
            out(piece[:n])
            pad -= n
        out(tail)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def reset_mid_body(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        time.sleep(0.2)  # let the half reach the client before the RST
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.connection.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (BrokenPipeError, ConnectionResetError, OSError)):
            super().handle_error(request, client_address)


def serve(argv=None):
    ap = argparse.ArgumentParser(description="fake Criminal IP asset report API")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--key", default=DEFAULT_KEY)
    ap.add_argument("--control-file")
    a = ap.parse_args(argv)
    if ":" in a.host:
        Server.address_family = socket.AF_INET6
    srv = Server((a.host, a.port), Handler)
    srv.state = State(a.key, a.control_file)
    sys.stdout.write("READY %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0

# --- the client for tests -------------------------------------------------------------


class FakeCriminalIP(fakeproc.FakeProcess):
    """Start the fake in a child process and drive it.

        fake = FakeCriminalIP().start()
        ... daemon with url = fake.url and THREATBL_API_KEY = fake.key ...
        fake.mode("slow", delay_ms=3000, times=1); fake.count()["total"]; fake.stop()
    """

    def __init__(self, key=DEFAULT_KEY, port=0, control_file=None):
        args = ["--port", str(port), "--key", key]
        if control_file:
            args += ["--control-file", control_file]
        super().__init__(__file__, args, "fake Criminal IP")
        self.key = key
        self.port = port
        self.control_file = control_file

    def total(self):
        return self.count()["total"]

    def requests(self):
        return self._call("/_control/requests")

    def set_doc(self, ip, doc_):
        return self._call("/_control/doc", {"ip": ip, "doc": doc_})


if __name__ == "__main__":
    sys.exit(serve())

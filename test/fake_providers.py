#!/usr/bin/python3
"""fake_providers - stand-ins for AbuseIPDB's and ipinfo's APIs (doc/providers.md).

    fake_providers.py --service abuseipdb|ipinfo --port N [--key KEY]

Prints "READY <port>" on stdout once it listens (--port 0: a free port). Debian's
/usr/bin/python3 and the standard library only.

abuseipdb: GET /api/v2/check?ipAddress=IP&maxAgeInDays=90 with the header "Key: KEY";
    answers {"data": {ipAddress, isPublic, ipVersion, isWhitelisted,
    abuseConfidenceScore, countryCode, usageType, isp, domain, hostnames, isTor,
    totalReports, numDistinctUsers, lastReportedAt}}; errors are
    {"errors": [{"detail": ..., "status": N, "source": {...}}]}: 401 for a wrong or
    missing key (or a key in the URL), 422 for a bad address, 429 with Retry-After and
    X-RateLimit-Limit/Remaining/Reset when the quota is used up.
ipinfo: GET /IP/privacy with "Authorization: Bearer TOKEN"; answers {"vpn", "proxy",
    "tor", "relay", "hosting", "service"}; GET /IP (the full answer) carries them in a
    "privacy" object. Errors: 403 {"status":403,"error":{"title":"Unknown token",...}}
    (also for a token in the URL), 404 {"status":404,"error":{"title":"Wrong ip",...}},
    429 {"status":429,"error":{"title":"Rate limit exceeded",...}} (or plain text in
    mode "limit_text").

By the last octet of 203.0.113.x or 198.51.100.x (anything else: clean):
    abuseipdb: 10 hosting (Data Center/Web Hosting/Transit), 13 tor (isTor), 15 scanner
        (score 100), 16 hosting+tor+scanner, 20 score 60 (a scanner only below the
        default scanner-score), 22 a 422 error, 23 an answer about another address
    ipinfo: 10 vpn (service NordVPN), 12 hosting, 13 tor, 14 proxy, 16 relay,
        22 a 404 Wrong ip, 24 bogon

Controls (no key): GET /_control/count -> {"total", "per_ip", "bad_key", "key_in_url",
"auth_ok"}; POST /_control/reset; POST /_control/mode {"mode": M, "retry_after": S,
"times": N} with M one of normal, down (500), badkey (401/403), limit (429), limit_text
(ipinfo: 429 plain text), slow ("delay_ms"), drop (close without an answer).
"""
import argparse
import ipaddress
import json
import socketserver
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import fakeproc  # beside this file: the client side of every fake

DEFAULT_KEY = "prov-test-key"
HOSTING = "Data Center/Web Hosting/Transit"


def abuseipdb_doc(ip):
    octet = last_octet(ip)
    d = {"ipAddress": ip, "isPublic": True, "ipVersion": 6 if ":" in ip else 4,
         "isWhitelisted": False, "abuseConfidenceScore": 0, "countryCode": "NL",
         "usageType": "Fixed Line ISP", "isp": "Example BV", "domain": "example.nl",
         "hostnames": [], "isTor": False, "totalReports": 0, "numDistinctUsers": 0,
         "lastReportedAt": None}
    if octet == 10:
        d["usageType"] = HOSTING
    elif octet == 13:
        d["isTor"] = True
        d["usageType"] = "Commercial"
    elif octet == 15:
        d["abuseConfidenceScore"] = 100
        d["totalReports"] = 412
        d["numDistinctUsers"] = 97
        d["lastReportedAt"] = "2026-11-30T10:11:12+00:00"
    elif octet == 16:
        d.update(usageType=HOSTING, isTor=True, abuseConfidenceScore=100)
    elif octet == 20:
        d["abuseConfidenceScore"] = 60
    elif octet == 23:
        d["ipAddress"] = "203.0.113.99"
    elif octet == 14:
        d["usageType"] = None
    return {"data": d}


def ipinfo_doc(ip):
    octet = last_octet(ip)
    d = {"vpn": False, "proxy": False, "tor": False, "relay": False, "hosting": False,
         "service": ""}
    if octet == 10:
        d.update(vpn=True, service="NordVPN")
    elif octet == 12:
        d["hosting"] = True
    elif octet == 13:
        d["tor"] = True
    elif octet == 14:
        d["proxy"] = True
    elif octet == 16:
        d["relay"] = True
    return d


def last_octet(ip):
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if a.version == 4 and (a in ipaddress.ip_network("203.0.113.0/24") or
                           a in ipaddress.ip_network("198.51.100.0/24")):
        return int(str(a).split(".")[-1])
    return None


class State:
    def __init__(self, service, key):
        self.service = service
        self.key = key
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.total = 0
        self.per_ip = {}
        self.bad_key = 0
        self.key_in_url = 0
        self.auth_ok = 0
        self.mode = {"mode": "normal"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, headers=None, ctype="application/json"):
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if not isinstance(body, str) else body.encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        with st.lock:
            if self.path == "/_control/reset":
                st.reset()
            elif self.path == "/_control/mode":
                st.mode = body
            else:
                return self.send(404, {"error": "no such control"})
        self.send(200, {"ok": True})

    def do_GET(self):
        st = self.server.state
        if self.path == "/_control/count":
            with st.lock:
                return self.send(200, {"total": st.total, "per_ip": st.per_ip,
                                       "bad_key": st.bad_key, "key_in_url": st.key_in_url,
                                       "auth_ok": st.auth_ok})
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if st.service == "abuseipdb":
            if url.path != "/api/v2/check":
                return self.send(404, {"errors": [{"detail": "Not found", "status": 404}]})
            ip = (query.get("ipAddress") or [""])[0]
            given = self.headers.get("Key")
        else:
            parts = [p for p in url.path.split("/") if p]
            if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] != "privacy"):
                return self.send(404, {"status": 404, "error": {"title": "Wrong ip"}})
            ip = parts[0]
            auth = self.headers.get("Authorization") or ""
            given = auth[7:] if auth.startswith("Bearer ") else None
        in_url = st.key in self.path or "token" in query or "key" in query
        with st.lock:
            st.total += 1
            st.per_ip[ip] = st.per_ip.get(ip, 0) + 1
            if in_url:
                st.key_in_url += 1
            ok = given == st.key and not in_url
            if ok:
                st.auth_ok += 1
            else:
                st.bad_key += 1
            mode = dict(st.mode)
            if mode.get("times") is not None:
                mode["times"] -= 1
                st.mode["times"] = mode["times"]
                if mode["times"] < 0:
                    st.mode = mode = {"mode": "normal"}
        m = mode.get("mode", "normal")
        if m == "slow":
            time.sleep(mode.get("delay_ms", 3000) / 1000.0)
        if m == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if not ok or m == "badkey":
            if st.service == "abuseipdb":
                return self.send(401, {"errors": [{"detail": "Authentication failed. Your API "
                                                   "key is either missing, incorrect, or "
                                                   "revoked. Note: The APIv2 key differs "
                                                   "from the APIv1 key.", "status": 401}]})
            return self.send(403, {"status": 403, "error": {
                "title": "Unknown token",
                "message": "Please ensure you've entered your token correctly."}})
        if m == "down":
            return self.send(500, "<html>Internal Server Error</html>", ctype="text/html")
        if m in ("limit", "limit_text"):
            ra = str(mode.get("retry_after", 3600))
            if st.service == "abuseipdb":
                return self.send(429, {"errors": [{"detail": "Daily rate limit of 1000 "
                                                   "requests exceeded for this endpoint. "
                                                   "See headers for additional details.",
                                                   "status": 429}]},
                                 {"Retry-After": ra, "X-RateLimit-Limit": "1000",
                                  "X-RateLimit-Remaining": "0",
                                  "X-RateLimit-Reset": str(int(time.time()) + int(ra))})
            if m == "limit_text":
                return self.send(429, "Too Many Requests", {"Retry-After": ra},
                                 ctype="text/plain")
            return self.send(429, {"status": 429, "error": {
                "title": "Rate limit exceeded",
                "message": "You've hit the daily limit for the unauthenticated API."}},
                {"Retry-After": ra})
        octet = last_octet(ip)
        try:
            ipaddress.ip_address(ip)
            valid = True
        except ValueError:
            valid = False
        if st.service == "abuseipdb":
            if not valid or octet == 22:
                return self.send(422, {"errors": [{
                    "detail": "The ip address must be a valid IPv4 or IPv6 address (e.g. "
                              "8.8.8.8 or 2001:4860:4860::8888).",
                    "status": 422, "source": {"parameter": "ipAddress"}}]})
            return self.send(200, abuseipdb_doc(ip))
        if not valid or octet == 22:
            return self.send(404, {"status": 404, "error": {
                "title": "Wrong ip", "message": "Please provide a valid IP address"}})
        if octet == 24:
            return self.send(200, {"ip": ip, "bogon": True})
        doc = ipinfo_doc(ip)
        if len([p for p in url.path.split("/") if p]) == 1:
            doc = {"ip": ip, "city": "Amsterdam", "country": "NL", "privacy": doc}
        return self.send(200, doc)


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--service", choices=("abuseipdb", "ipinfo"), required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--key", default=DEFAULT_KEY)
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    srv.state = State(a.service, a.key)
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


class FakeProvider(fakeproc.FakeProcess):
    """Start one fake service in a child process and drive it.

        fake = FakeProvider("ipinfo").start(); fake.url; fake.mode("down"); fake.count()
    """

    def __init__(self, service, key=DEFAULT_KEY):
        super().__init__(__file__, ["--service", service, "--key", key],
                         "fake %s" % service)
        self.service = service
        self.key = key


if __name__ == "__main__":
    main()

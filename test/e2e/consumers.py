"""consumers - what test/e2e/run uses to drive the consumers of threatbl: the
addresses and ports of the scenarios, the processes started inside the namespace
(threatbld, Unbound, BIND, Postfix), the configurations they get (the files of zones/
as they are, around the test's own settings), SMTP through swaks, SpamAssassin with a
temporary siteconfig, and the README's dig lines and excerpts.

Runs with Debian's /usr/bin/python3 and the standard library.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
THREATBLD = os.environ.get("THREATBLD", os.path.join(TOP_SRCDIR, "server/threatbld"))
THREATBL = os.environ.get("THREATBL", os.path.join(TOP_SRCDIR, "tools/threatbl"))
ZONES = os.path.join(TOP_SRCDIR, "zones")
MAIL = os.path.join(HERE, "mail")
PYTHON = "/usr/bin/python3"

ZONE = "bl.example.org"        # the zone of the snippets in zones/
DEMO_ZONE = "bl.threatbl.test"  # the zone of zones/demo.conf (README's quick start)
SERVER = "127.0.0.1"           # threatbld in the namespace, as in the snippets
PORT = 5353
BIND_PORT = 5300

# Client addresses; the fake Criminal IP service answers by the last octet.
MX = "192.0.2.25"
VPN, OVPN443, HOSTING, TOR, PROXY, SCANNER, MULTI, CLEAN = (
    "203.0.113.%d" % n for n in range(10, 18))
SCAN_HOSTING = "198.51.100.30"  # a document set by the test: scanner + hosting
UNKNOWN_SMTPD = "198.51.100.10"  # vpn profile, first asked while the API is down
UNKNOWN_SCREEN = "198.51.100.11"  # openvpn443 profile, likewise
# threatbl's own OpenVPN probe ([probe] openvpn443 = yes): hosting addresses whose
# report shows tcp/443 open as HTTPS, N/A; on 443 a real OpenVPN server (TLS mode),
# an HTTPS server (openssl s_server), nothing, and OpenVPN with tls-auth.
PROBE_OVPN, PROBE_HTTPS, PROBE_CLOSED, PROBE_TLSAUTH = (
    "192.0.2.%d" % n for n in range(44, 48))
PROBED = (PROBE_OVPN, PROBE_HTTPS, PROBE_CLOSED, PROBE_TLSAUTH)
ADDRESSES = [VPN, OVPN443, HOSTING, TOR, PROXY, SCANNER, MULTI, CLEAN,
             SCAN_HOSTING, UNKNOWN_SMTPD, UNKNOWN_SCREEN, MX] + list(PROBED)

# The listeners of the Postfix instance.
SMTPD_PORT = 25      # smtpd with zones/postfix-main.cf.snippet
RANGE_PORT = 2525    # smtpd with reject_rbl_client ZONE=127.0.0.[2..7]
SCREEN_PORT = 2526   # postscreen with zones/postfix-postscreen.cf.snippet

TXT = {
    "vpn": "127.0.0.2 VPN exit node: $",
    "openvpn443": "127.0.0.3 OpenVPN on tcp/443: $",
    "hosting": "127.0.0.4 Hosting or cloud network: $",
    "tor": "127.0.0.5 Tor exit node: $",
    "proxy": "127.0.0.6 Open proxy: $",
    "scanner": "127.0.0.7 Scanner or attack source: $",
}

NEEDED = [("ip", "iproute2"), ("dig", "dnsutils"), ("kdig", "knot-dnsutils"),
          ("unbound", "unbound"), ("unbound-checkconf", "unbound"),
          ("unbound-control", "unbound"), ("postfix", "postfix"),
          ("postconf", "postfix"), ("spamassassin", "spamassassin"),
          ("swaks", "swaks"), ("named", "bind9"), ("named-checkconf", "bind9"),
          ("openvpn", "openvpn"), ("openssl", "openssl"), ("ss", "iproute2")]


def on_signal(sig, frame):
    raise SystemExit(128 + sig)


def run(cmd, timeout=30, check=False, **kw):
    """Run cmd (a list, or a string for the shell); returns CompletedProcess with text
    output (stderr folded into stdout unless given)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run(cmd, shell=isinstance(cmd, str), timeout=timeout, **kw)
    r.out = (r.stdout or b"").decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (cmd, r.returncode, r.out))
    return r


class Tap:
    """TAP lines without numbers: the outer process numbers them and adds the plan."""

    def __init__(self):
        self.failed = 0

    def ok(self, good, name, diag=()):
        """One test line; diag (lines of text) is shown only when it failed."""
        print("%s - %s" % ("ok" if good else "not ok", name))
        if not good:
            self.failed += 1
            for line in diag:
                for part in str(line).rstrip().splitlines():
                    print("#   " + part)
        sys.stdout.flush()
        return good

    @staticmethod
    def note(text):
        for part in str(text).rstrip().splitlines():
            print("# " + part)
        sys.stdout.flush()


class Inside:
    """The scenarios' side, in the namespace: the processes it started (each logs to
    WORK/NAME.log) and the configurations it writes into the work directory."""

    def __init__(self, work):
        self.work = work
        self.tap = Tap()
        self.procs = []   # [name, Popen], stopped in reverse order at the end
        self.fake = None
        self.pfdir = os.path.join(work, "postfix")
        self.unbound_conf = os.path.join(work, "unbound.conf")

    # processes

    def start(self, name, argv, cwd=None, env=None, new_session=False):
        log = open(os.path.join(self.work, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd or self.work,
                             env=env, stdin=subprocess.DEVNULL,
                             start_new_session=new_session)
        log.close()
        self.procs.append([name, p])
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        """Stop one of our processes; returns its exit code (None if it had to be
        killed)."""
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return None
        return p.returncode

    def log(self, name):
        try:
            with open(os.path.join(self.work, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if os.path.exists(os.path.join(self.pfdir, "main.cf")):
            run(["postfix", "-c", self.pfdir, "stop"], timeout=20)
        for name, p in reversed(self.procs):
            self.stop(p)
        if self.fake:
            self.fake.stop()
        # Orphans of Postfix's master come to us (subreaper): reap them.
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.1)

    # DNS

    def dig(self, args, timeout=15):
        """dig with args (a list) through the namespace's resolver unless args name a
        server; returns (parse_dig(output), output)."""
        r = run(["dig", "+time=3", "+tries=1"] + args, timeout=timeout)
        return parse_dig(r.out), r.out

    def make_certs(self):
        """A CA and a server certificate (ECDSA P-256) for the OpenVPN and HTTPS
        servers of the probe; returns the directory."""
        d = os.path.join(self.work, "pki")
        os.makedirs(d, exist_ok=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\n"
                    "extendedKeyUsage=serverAuth\n")
        for cmd in (["openssl", "req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt",
                                                      "-subj", "/CN=threatbl e2e CA",
                                                      "-days", "2"],
                    ["openssl", "req"] + ec + ["-keyout", "server.key", "-out", "server.csr",
                                               "-subj", "/CN=server"],
                    ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt",
                     "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
                     "-days", "2", "-extfile", ext],
                    ["openvpn", "--genkey", "secret", "ta.key"]):
            run(cmd, cwd=d, check=True)
        return d

    def wait_listening(self, addr, port, proc=None, timeout=15):
        """Until something listens on addr:port (seen with ss: a test connection
        would make a point-to-point OpenVPN restart)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                return False
            if "%s:%d" % (addr, port) in run(["ss", "-Hltn"]).out:
                return True
            time.sleep(0.1)
        return False

    def wait_dns(self, server, port, name, rdtype="SOA", timeout=15, proc=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                return False
            r = run(["dig", "@" + server, "-p", str(port), "+time=1", "+tries=1",
                     "+norecurse" if port == PORT else "+recurse", name, rdtype],
                    timeout=5)
            st = parse_dig(r.out)
            if st["status"] == "NOERROR" and st["answer"] > 0:
                return True
            time.sleep(0.1)
        return False

    # the pieces

    def start_demo(self):
        """The README's first command: threatbld -f -c zones/demo.conf (no API key)."""
        d = os.path.join(self.work, "demo")
        os.makedirs(d, exist_ok=True)
        env = dict(os.environ)
        env.pop("THREATBL_API_KEY", None)
        p = self.start("threatbld-demo", [THREATBLD, "-f", "-c",
                                          os.path.join(ZONES, "demo.conf")], cwd=d, env=env)
        return p, self.wait_dns(SERVER, PORT, DEMO_ZONE, proc=p)

    def start_fake(self):
        sys.path.insert(0, os.path.join(TOP_SRCDIR, "test"))
        sys.dont_write_bytecode = True  # nothing written into the source tree
        import fake_criminalip  # noqa: E402 (the tree's own fake)
        self.fake = fake_criminalip.FakeCriminalIP(key="e2e-%d-key" % os.getpid())
        self.fake.start()
        self.fake.set_doc(SCAN_HOSTING, fake_criminalip.doc(
            SCAN_HOSTING, ("is_scanner", "is_hosting"), "Moderate", "Low"))
        for ip in PROBED:
            self.fake.set_doc(ip, fake_criminalip.doc(
                ip, ("is_hosting",), ports=[fake_criminalip.port(443)]))

    def start_threatbld(self):
        conf = os.path.join(self.work, "threatbl.conf")
        cats = "".join("%s = %s\n" % kv for kv in TXT.items())
        with open(conf, "w") as f:
            f.write("""# threatbld of the end-to-end tests
[server]
listen = {server}:{port}
database = {work}/threatbl.sqlite
log-level = debug

[intel]
provider = criminalip
url = {url}
lookup-reserved = yes
timeout = 2s
deadline = 1500ms
concurrency = 4
rate = 100/s
rate-burst = 100
# every query comes through the resolver, one client: its share is the whole rate
per-client-rate = 100/s
per-client-burst = 100

[probe]
openvpn443 = yes
timeout = 2s

[zone {zone}]
soa = ns1.example.org. hostmaster.example.org. 3600 600 604800 300
ns = ns1.example.org.
ttl = 300
negative-ttl = 300
unknown = nxdomain
unknown-ttl = 30
{cats}""".format(server=SERVER, port=PORT, work=self.work, url=self.fake.url, zone=ZONE,
                 cats=cats))
        env = dict(os.environ, THREATBL_API_KEY=self.fake.key)
        p = self.start("threatbld", [THREATBLD, "-f", "-c", conf], env=env)
        self.threatbld = p
        return self.wait_dns(SERVER, PORT, ZONE, proc=p)

    def write_unbound_conf(self):
        extra = ""
        if os.path.exists("/usr/share/dns/root.key"):
            # Validate as a real resolver does: the snippet's domain-insecure must
            # then be right, or every answer of the zone is SERVFAIL.
            extra += '\ttrust-anchor-file: "/usr/share/dns/root.key"\n'
        if ZONE.endswith(".test"):
            extra += '\tlocal-zone: "test." nodefault\n'
        with open(self.unbound_conf, "w") as f:
            f.write("""# Unbound of the end-to-end tests: the namespace's resolver.
server:
	interface: 127.0.0.1
	port: 53
	username: ""
	chroot: ""
	directory: "{work}"
	pidfile: "{work}/unbound.pid"
	use-syslog: no
	verbosity: 1
	qname-minimisation: yes
	qname-minimisation-strict: yes
{extra}
remote-control:
	control-enable: yes
	control-interface: "{work}/unbound.ctl"
	control-use-cert: no

# The operator's snippet, as it is:
include: "{snippet}"
""".format(work=self.work, extra=extra,
                       snippet=os.path.join(ZONES, "unbound-threatbl.conf")))

    def unbound_control(self, *args):
        return run(["unbound-control", "-c", self.unbound_conf] + list(args), timeout=10)

    def unbound_queries(self):
        r = self.unbound_control("stats_noreset")
        m = re.search(r"^total\.num\.queries=(\d+)", r.out, re.M)
        return int(m.group(1)) if m else -1

    def write_named_conf(self):
        """BIND on 127.0.0.1:5300 with zones/bind-threatbl.conf included; the
        validate-except line the snippet asks for goes into options."""
        snippet = os.path.join(ZONES, "bind-threatbl.conf")
        with open(snippet) as f:
            m = re.search(r"^//\s*(validate-except\s*\{[^}]*\};)", f.read(), re.M)
        ve = m.group(1) if m else ""
        d = os.path.join(self.work, "named")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(self.work, "named.conf")
        with open(conf, "w") as f:
            f.write("""// named of the end-to-end tests
controls {{ }};
options {{
	directory "{d}";
	pid-file "{d}/named.pid";
	listen-on port {port} {{ 127.0.0.1; }};
	listen-on-v6 {{ none; }};
	recursion yes;
	allow-query {{ any; }};
	allow-recursion {{ any; }};
	dnssec-validation auto;
	qname-minimization strict;
	{ve}
}};
// The operator's snippet, as it is:
include "{snippet}";
""".format(d=d, port=BIND_PORT, ve=ve, snippet=snippet))
        return conf, ve

    def write_postfix(self):
        os.makedirs(self.pfdir, exist_ok=True)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(self.work, "postfix-" + sub), exist_ok=True)
        shutil.chown(os.path.join(self.work, "postfix-data"), "postfix")
        parts = ["""# main.cf of the end-to-end Postfix instance: the test's settings, then the
# snippets of zones/ as they are.
compatibility_level = 3.6
queue_directory = {work}/postfix-queue
data_directory = {work}/postfix-data
maillog_file = /dev/stdout
myhostname = mx.example.net
mydomain = example.net
myorigin = $mydomain
mydestination = $mydomain
mynetworks = 127.0.0.0/8
inet_interfaces = {mx}
inet_protocols = ipv4
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
biff = no
smtpd_banner = $myhostname ESMTP
""".format(work=self.work, mx=MX)]
        for name in ("postfix-main.cf.snippet", "postfix-postscreen.cf.snippet"):
            with open(os.path.join(ZONES, name)) as f:
                parts.append("\n# ---- zones/%s ----\n%s" % (name, f.read()))
        parts.append("""
# ---- the test's overrides ----
# postscreen waits this long before its 220 (the DNSBL answers come much sooner).
postscreen_greet_wait = 2s
""")
        with open(os.path.join(self.pfdir, "main.cf"), "w") as f:
            f.write("".join(parts))
        shutil.copy(os.path.join(ZONES, "postfix-threatbl-reply"),
                    os.path.join(self.pfdir, "threatbl-reply"))
        with open(os.path.join(self.pfdir, "master.cf"), "w") as f:
            f.write("""# master.cf of the end-to-end Postfix instance (no chroot)
{mx}:{smtpd}  inet  n  -  n  -  -  smtpd
{mx}:{rng}  inet  n  -  n  -  -  smtpd
  -o {{ smtpd_client_restrictions = reject_rbl_client {zone}=127.0.0.[2..7] }}
{mx}:{screen}  inet  n  -  n  -  1  postscreen
smtpd     pass  -       -       n       -       -       smtpd
  -o smtpd_client_restrictions=
dnsblog   unix  -       -       n       -       0       dnsblog
tlsproxy  unix  -       -       n       -       0       tlsproxy
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""".format(mx=MX, smtpd=SMTPD_PORT, rng=RANGE_PORT, screen=SCREEN_PORT, zone=ZONE))

    def smtp(self, port, client, rcpt="alice@example.net"):
        """One SMTP transaction from client to the MX; returns (replies, transcript):
        replies maps what the client last said ("banner" before anything, "ehlo",
        "mail", "rcpt", "data", "data_end" for the final dot) to the server's reply
        lines that followed."""
        r = run(["swaks", "--server", "%s:%d" % (MX, port), "--local-interface", client,
                 "--helo", "client.example", "--from", "sender@client.example",
                 "--to", rcpt, "--timeout", "20",
                 "--header", "Subject: threatbl e2e from %s" % client,
                 "--body", "threatbl end-to-end test"], timeout=60)
        replies = {}
        last = "banner"
        for line in r.out.splitlines():
            s = line.strip()
            if s.startswith("->"):
                cmd = s[2:].strip().upper()
                last = ("rcpt" if cmd.startswith("RCPT") else
                        "data_end" if cmd == "." else
                        cmd.split()[0].lower() if cmd else last)
            elif s.startswith("<-") or s.startswith("<**"):
                text = s[3:].strip() if s.startswith("<**") else s[2:].strip()
                replies.setdefault(last, []).append(text)
        return replies, r.out

    def spamassassin(self, variant, dns_server):
        """A siteconfig with the system's plugin set (*.pre), zones/spamassassin-threatbl.cf
        as it is and the test's local settings; the default prefs only as rules."""
        site = os.path.join(self.work, "sa-site-" + variant)
        rules = os.path.join(self.work, "sa-rules")
        home = os.path.join(self.work, "sa-home")
        for d in (site, rules, home):
            os.makedirs(d, exist_ok=True)
        for f in os.listdir("/etc/spamassassin"):
            if f.endswith(".pre"):
                shutil.copy(os.path.join("/etc/spamassassin", f), site)
        for f in ("10_default_prefs.cf", "20_aux_tlds.cf"):
            p = os.path.join("/usr/share/spamassassin", f)
            if os.path.exists(p):
                shutil.copy(p, rules)
        shutil.copy(os.path.join(ZONES, "spamassassin-threatbl.cf"),
                    os.path.join(site, "threatbl.cf"))
        with open(os.path.join(site, "zz-e2e.cf"), "w") as f:
            f.write("""# the end-to-end test's settings
dns_server {dns}
# our MX, 192.0.2.25, is the only trusted and internal relay
trusted_networks 192.0.2.0/24
internal_networks 192.0.2.0/24
use_bayes 0
""".format(dns=dns_server))
        return ["spamassassin", "-x", "--configpath=" + rules, "--siteconfigpath=" + site]


def parse_dig(out):
    """status and answer count of dig or kdig output (also +short: status None)."""
    m = re.search(r"status: (\w+)", out)
    a = re.search(r"ANSWER: (\d+)", out)
    return {"status": m.group(1) if m else None, "answer": int(a.group(1)) if a else 0}


def a_records(out, name=None):
    return sorted(re.findall(r"\sIN\s+A\s+(\d+\.\d+\.\d+\.\d+)", out))


def txt_records(out):
    return sorted(re.findall(r'\sIN\s+TXT\s+"([^"]*)"', out))


def readme_digs():
    """(line, expectation) for each dig/kdig line of the README's code blocks. The
    expectation comes from the line's comment: NXDOMAIN, REFUSED, NODATA, or an answer
    when the comment says anything else; None without a comment (then any answer)."""
    out = []
    try:
        with open(os.path.join(TOP_SRCDIR, "README")) as f:
            text = f.read()
    except OSError:
        return out
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        s = line.strip()
        if not fenced or not re.match(r"^k?dig\s", s):
            continue
        c = s.split("#", 1)[1].lower() if "#" in s else ""
        exp = ("NXDOMAIN" if re.search(r"nxdomain|not listed|never listed", c) else
               "REFUSED" if "refused" in c else "NODATA" if "nodata" in c else
               "ANSWER" if re.search(r"listed|reason", c) else None)
        out.append((s, exp))
    return out


def readme_excerpts():
    """(FILE, lines) for each code block of the README whose paragraph just before it
    names zones/FILE (the last one named): the README shows (part of) that file."""
    out = []
    try:
        with open(os.path.join(TOP_SRCDIR, "README")) as f:
            text = f.read()
    except OSError:
        return out
    fenced, block, target, para, last = False, [], None, "", ""
    for line in text.splitlines():
        if line.startswith("```"):
            if fenced:
                if target:
                    out.append((target, block))
                para = last = ""
            else:
                names = [n.rstrip(".") for n in
                         re.findall(r"zones/([\w.+-]+)", para or last)]
                target = names[-1] if names else None
                block = []
            fenced = not fenced
            continue
        if fenced:
            block.append(line)
        elif line.strip():
            para += " " + line
        elif para:
            last, para = para, ""
    return out


def excerpt_in_file(block, path):
    """Whether every line of block that is not a comment appears in the file at path,
    in the same order (whitespace runs count as one space). Returns (good, first line
    not found)."""
    def norm(x):
        return " ".join(x.split())
    with open(path) as f:
        have = [norm(x) for x in f.read().splitlines()]
    i = 0
    for line in block:
        w = norm(line)
        if not w or re.match(r"^(#|//|;)", w):
            continue
        while i < len(have) and have[i] != w:
            i += 1
        if i == len(have):
            return False, line
        i += 1
    return True, None


def check_dig_line(line, exp):
    """Run one README line as written; returns (good, output)."""
    r = run(line, timeout=30)
    st = parse_dig(r.out)
    short = "+short" in line
    if r.returncode != 0:
        return False, r.out
    if short:
        body = r.out.strip()
        good = {"NXDOMAIN": body == "", "NODATA": body == "", "REFUSED": False,
                "ANSWER": body != "", None: True}[exp]
    else:
        good = {"NXDOMAIN": st["status"] == "NXDOMAIN",
                "REFUSED": st["status"] == "REFUSED",
                "NODATA": st["status"] == "NOERROR" and st["answer"] == 0,
                "ANSWER": st["status"] == "NOERROR" and st["answer"] > 0,
                None: st["status"] in ("NOERROR", "NXDOMAIN")}[exp]
    return good, r.out


def as_kdig(line):
    return re.sub(r"^dig\b", "kdig", line)


def spam_status(out):
    """The tests= list of X-Spam-Status, unfolded."""
    m = re.search(r"^X-Spam-Status:(.*(?:\n[ \t].*)*)", out, re.M)
    if not m:
        return None
    # Folded after the commas of the list: unfold, then take tests= up to the next key.
    value = re.sub(r",\s+", ",", re.sub(r"\s+", " ", m.group(1)))
    t = re.search(r"tests=(\S*)", value)
    if not t or t.group(1) == "none":
        return set()
    return set(x for x in t.group(1).split(",") if x)


def reply(replies, key):
    return (replies.get(key) or [""])[-1]


def rev(ip):
    return ".".join(reversed(ip.split("."))) + "." + ZONE


def port_name(port):
    return {SMTPD_PORT: "smtpd (postfix-main.cf.snippet)",
            RANGE_PORT: "smtpd (%s=127.0.0.[2..7])" % ZONE,
            SCREEN_PORT: "postscreen (postfix-postscreen.cf.snippet)"}[port]


def last_line(text):
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1] if lines else ""

"""fakeproc - the client side of the fake services (fake_criminalip.py,
fake_providers.py): start one in a child process, wait for its "READY <port>" line,
drive it through its /_control/ routes, stop it. Debian's /usr/bin/python3 and the
standard library only.
"""
import json
import os
import select
import subprocess
import sys
import time
import urllib.request


class FakeProcess:
    """A fake service run as `python3 SCRIPT ARGS...`; url once started."""

    def __init__(self, script, args, what):
        self.script = script
        self.args = list(args)
        self.what = what        # for errors: "fake Criminal IP"
        self.proc = None
        self.port = None
        self.url = None

    def start(self, timeout=10.0):
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        self.proc = subprocess.Popen([python, os.path.abspath(self.script)] + self.args,
                                     stdout=subprocess.PIPE, bufsize=0)
        end = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.stop()
                raise RuntimeError("%s did not start" % self.what)
            c = self.proc.stdout.read(1)
            if not c:
                self.stop()
                raise RuntimeError("%s exited" % self.what)
            line += c
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()

    def _call(self, path, obj=None):
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method="GET" if obj is None else "POST",
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return json.loads(r.read().decode())

    def count(self):
        return self._call("/_control/count")

    def reset(self):
        return self._call("/_control/reset", {})

    def mode(self, mode="normal", **kw):
        kw["mode"] = mode
        return self._call("/_control/mode", kw)

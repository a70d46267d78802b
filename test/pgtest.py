"""pgtest - a real PostgreSQL for the fleet's tests and benchmark (doc/fleet.md).

    pg = pgtest.Postgres().start()    # initdb in a temporary directory, pg_ctl start
    pg.uri()                          # postgresql://threatbl@127.0.0.1:PORT/threatbl
    pg.psql("SELECT count(*) FROM verdicts")
    pg.restart(); pg.stop(); pg.start(); pg.cleanup()

The server runs as an unprivileged user (initdb refuses root: when the tests run as
root it is `nobody`), listens on a unix socket in its directory and on a free loopback
port, and is removed by cleanup(). Connections over TCP need the password
(scram-sha-256): the role threatbl has PASSWORD; the socket trusts the superuser
postgres, which psql() uses. Debian's package postgresql (tools/setup-debian) provides
the programs; bindir() is None when it is not installed, and the tests then skip
with a clear message.
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PASSWORD = "pg-Secret-4711"


def bindir():
    """The directory of initdb and pg_ctl (the newest installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


SKIP_REASON = ("PostgreSQL is not installed (apt-get install postgresql, as "
               "tools/setup-debian does): the fleet's tests need a real server")


def _free_tcp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    def __init__(self, password=PASSWORD):
        self.bin = bindir()
        if not self.bin:
            raise RuntimeError(SKIP_REASON)
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="threatbl-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = _free_tcp_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "nobody"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._as([], ["mkdir", "-p", self.sock])
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write("unused-superuser-password\n")
        if self.user:
            os.chown(pwfile, pwd.getpwnam(self.user).pw_uid, -1)
        self._as([], [os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                      "--auth-local=trust", "--auth-host=scram-sha-256",
                      "--pwfile=" + pwfile, "-E", "UTF8", "--no-sync"],
                 quiet=True)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\n"
                    "unix_socket_directories = '%s'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 60\nshared_buffers = 64MB\n" % (self.port, self.sock))
        self.started = False

    def _as(self, env, cmd, quiet=False, input=None, check=True):
        if self.user:
            cmd = ["setpriv", "--reuid=" + self.user, "--regid=nogroup", "--clear-groups",
                   "--"] + cmd
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, cwd=self.dir,
                           env=dict(os.environ, **dict(env)))
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                          r.stdout, r.stderr))
        return r.stdout

    def start(self, timeout=30):
        self._as([], [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log,
                      "-w", "-t", str(timeout), "start"], quiet=True)
        if not self.started:
            self.started = True
            self.psql("CREATE ROLE threatbl LOGIN PASSWORD '%s'" % self.password,
                      db="postgres")
            self.psql("CREATE DATABASE threatbl OWNER threatbl", db="postgres")
        return self

    def stop(self, mode="fast"):
        self._as([], [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                      "stop"], check=False)

    def restart(self):
        self.stop()
        self.start()

    def uri(self, password=True, db="threatbl"):
        if password:
            return "postgresql://threatbl:%s@127.0.0.1:%d/%s" % (self.password, self.port, db)
        return "postgresql://threatbl@127.0.0.1:%d/%s" % (self.port, db)

    def psql(self, sql, db="threatbl"):
        """Run sql as the superuser over the socket; the output, unaligned, no headers."""
        return self._as([], ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                             "-h", self.sock, "-p", str(self.port), "-U", "postgres",
                             "-d", db, "-c", sql]).strip()

    def cleanup(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


if __name__ == "__main__":
    pg = Postgres().start()
    try:
        print(pg.uri())
        print(pg.psql("SELECT version()"))
    finally:
        pg.cleanup()

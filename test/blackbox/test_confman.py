"""Black-box: the man pages. threatbl.conf(5) is made from doc/configuration.md by
doc/mkconfman and must be what it makes now (edit the Markdown, then run it again);
it names every key of every section; every page says the current version and renders
without a groff warning.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import THREATBL, TOP_SRCDIR  # noqa: E402

PAGES = ("server/threatbld.8", "tools/threatbl.1", "doc/threatbl.conf.5")


def src(path):
    return os.path.join(TOP_SRCDIR, path)


class ConfMan(unittest.TestCase):
    def test_made_from_configuration_md(self):
        made = subprocess.run(["/usr/bin/python3", src("doc/mkconfman"), TOP_SRCDIR],
                              stdout=subprocess.PIPE, check=True, text=True).stdout
        with open(src("doc/threatbl.conf.5")) as f:
            self.assertEqual(f.read(), made, "doc/threatbl.conf.5 is not what "
                             "doc/mkconfman makes of doc/configuration.md: run it again")

    def test_every_key(self):
        with open(src("doc/configuration.md")) as f:
            md = f.read()
        md = md[md.index("## The configuration file"):md.index("## Running it on the Internet")]
        keys = set()
        for line in md.splitlines():
            m = re.match(r"\| `([a-z0-9-]+)`(?:, `([a-z0-9-]+)`)* \| ", line)
            if m:
                keys.update(re.findall(r"`([a-z0-9-]+)`", line.split(" | ")[0]))
        self.assertGreater(len(keys), 40, keys)
        self.assertIn("max-stale", keys)
        with open(src("doc/threatbl.conf.5")) as f:
            page = f.read()
        for k in sorted(keys):
            self.assertIn("\\fB%s\\fR" % k.replace("-", "\\-"), page, k)

    def test_versions_and_rendering(self):
        version = subprocess.run([THREATBL, "--version"], stdout=subprocess.PIPE,
                                 text=True).stdout.split()[-1]
        for page in PAGES:
            with open(src(page)) as f:
                th = f.readline() if not page.endswith(".5") else f.read().split("\n")[1]
            self.assertIn('"threatbl %s"' % version, th, page)
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", src(page)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)


if __name__ == "__main__":
    tbltest.main()

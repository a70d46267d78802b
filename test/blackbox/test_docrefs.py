"""The reference cites itself right: every `doc/PAGE.md#anchor` in the code, the tests
and the README, and every `PAGE.md#anchor` link between the pages of doc/, names a page
that exists and a heading it has (GitHub's anchors: lower case, punctuation dropped,
spaces as hyphens, -1, -2 for repeats). A renamed heading fails here, not in a reader's
browser.
"""
import glob
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import TOP_SRCDIR  # noqa: E402


def slug(heading):
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    fence = False
    with open(path) as f:
        for line in f:
            if line.startswith("```"):
                fence = not fence
            m = None if fence else re.match(r"#{1,6}\s+(.*?)\s*#*$", line)
            if not m:
                continue
            s = slug(m.group(1))
            n = seen.get(s)
            seen[s] = 0 if n is None else n + 1
            out.add(s if n is None else "%s-%d" % (s, n + 1))
    return out


def citations(text, in_doc):
    # a citation may wrap in a C comment after a hyphen of its anchor
    text = re.sub(r"-\n\s*(?:\*|#|//)?\s*", "-", text)
    pat = r"\(([a-z][\w-]*\.md)#([\w-]+)\)" if in_doc else r"doc/([a-z][\w-]*\.md)#([\w-]+)"
    return re.findall(pat, text)


class DocRefs(unittest.TestCase):
    def test_every_anchor_exists(self):
        pages = {os.path.basename(p): anchors(p)
                 for p in glob.glob(os.path.join(TOP_SRCDIR, "doc", "*.md"))}
        self.assertIn("dns.md", pages)
        files = []
        for pattern in ("server/*.[ch]", "tools/*.[ch]", "test/*.py", "test/*/*.py",
                        "test/unit/*.c", "test/fuzz/*.c", "README", "doc/*.md"):
            files += glob.glob(os.path.join(TOP_SRCDIR, pattern))
        bad, n = [], 0
        for path in sorted(files):
            with open(path, errors="replace") as f:
                text = f.read()
            rel = os.path.relpath(path, TOP_SRCDIR)
            for page, anchor in citations(text, rel.startswith("doc/")):
                n += 1
                if page not in pages:
                    bad.append("%s: %s (no such page)" % (rel, page))
                elif anchor not in pages[page]:
                    bad.append("%s: %s#%s (no such heading)" % (rel, page, anchor))
        self.assertGreater(n, 100, "the citations were found")
        self.assertEqual(bad, [], "\n".join(bad))

    def test_every_module_in_the_architecture(self):
        """doc/architecture.md names every module of server/ and tools/."""
        with open(os.path.join(TOP_SRCDIR, "doc", "architecture.md")) as f:
            text = f.read()
        mods = sorted(os.path.basename(p) for pattern in ("server/*.c", "tools/*.c")
                      for p in glob.glob(os.path.join(TOP_SRCDIR, pattern)))
        self.assertGreater(len(mods), 50, "the modules were found")
        self.assertEqual([m for m in mods if "`%s`" % m not in text], [],
                         "modules doc/architecture.md does not name")

    def test_slugs(self):
        self.assertEqual(slug("The `[feed NAME]` section"), "the-feed-name-section")
        self.assertEqual(slug("Categories and A and TXT records"),
                         "categories-and-a-and-txt-records")
        self.assertEqual(slug("What threatbl does with each outcome"),
                         "what-threatbl-does-with-each-outcome")


if __name__ == "__main__":
    tbltest.main()

"""Browser: the lookup page in headless Chromium (Debian's chromium and chromium-driver,
through python3-selenium), at a phone's and a desktop's size.

Opens the form, types an address that the fake Criminal IP reports as a VPN exit,
submits, follows to the verdict page, and checks the rendered text (the category, what
it means, the evidence) and that nothing overflows the phone's width; then the same for
an address of a static list. Screenshots are kept in test_page_browser.d/ beside this
test's log. Skipped only when chromium or chromedriver is not installed
(tools/setup-debian installs both).
"""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tbltest  # noqa: E402
from tbltest import Daemon, rev4, intel_conf, free_port, wait_for  # noqa: E402
import fake_criminalip  # noqa: E402
from test_page import conf, get, LIST  # noqa: E402

KEY = "tbl-KEY-browser-9e21"
VPN_IP = "203.0.113.10"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
OUT = os.path.abspath("test/blackbox/test_page_browser.d")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover
    webdriver = None


@unittest.skipUnless(CHROMIUM and DRIVER and webdriver,
                     "chromium, chromium-driver or python3-selenium not installed "
                     "(tools/setup-debian)")
class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(OUT, exist_ok=True)
        cls.fake = fake_criminalip.FakeCriminalIP(key=KEY).start()
        cls.http = free_port()
        cls.d = Daemon(conf(cls.http, intel=intel_conf(cls.fake.url, lookup_reserved="yes")),
                       env={"THREATBL_API_KEY": KEY}, files={"hand.list": LIST})
        cls.d.query(rev4(VPN_IP), "A", timeout=5)
        import json

        def stored():
            v = json.loads(get(cls.http, "/v1/ip/" + VPN_IP)[2])["verdict"]
            return v is not None and v["source"] is not None
        if not wait_for(stored, 10):
            raise RuntimeError("verdict not stored")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                  "--user-data-dir=" + os.path.join(cls.d.dir, "chromium")):
            opts.add_argument(a)
        cls.b = webdriver.Chrome(service=Service(DRIVER), options=opts)
        cls.b.set_page_load_timeout(30)

    @classmethod
    def tearDownClass(cls):
        cls.b.quit()
        cls.d.stop_and_cleanup()
        cls.fake.stop()

    def submit(self, address):
        self.b.get("http://127.0.0.1:%d/" % self.http)
        field = self.b.find_element(By.NAME, "address")
        field.clear()
        field.send_keys(address)
        self.b.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(self.b, 10).until(lambda b: "/ip/" in b.current_url)
        return self.b.find_element(By.TAG_NAME, "body").text

    def no_overflow(self):
        return self.b.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")

    def test_phone_vpn_verdict(self):
        self.b.set_window_size(390, 844)
        text = self.submit(VPN_IP)
        self.assertTrue(self.b.current_url.endswith("/ip/" + VPN_IP))
        self.assertIn("Listed: VPN exit", text)
        self.assertIn("exit of a commercial VPN service", text)
        self.assertIn("issues.is_vpn=true", text)
        self.assertIn("vpn_name=nordvpn", text)
        self.assertTrue(self.no_overflow(), "the page is wider than the phone")
        colour = self.b.execute_script(
            "return getComputedStyle(document.querySelector('.cat-vpn'))"
            ".borderLeftColor")
        self.assertEqual(colour, "rgb(106, 27, 154)", "the VPN accent colour applies")
        self.b.save_screenshot(os.path.join(OUT, "phone-vpn.png"))
        self.assertGreater(os.path.getsize(os.path.join(OUT, "phone-vpn.png")), 1000)

    def test_desktop_static_list(self):
        self.b.set_window_size(1280, 900)
        text = self.submit("192.0.2.55")
        self.assertIn("Listed by a static list", text)
        self.assertIn("hand.list, line 3", text)
        self.b.save_screenshot(os.path.join(OUT, "desktop-static.png"))
        self.assertGreater(os.path.getsize(os.path.join(OUT, "desktop-static.png")), 1000)

    def test_bad_address_in_form(self):
        self.b.set_window_size(1280, 900)
        self.b.get("http://127.0.0.1:%d/" % self.http)
        field = self.b.find_element(By.NAME, "address")
        field.send_keys("<b>nope</b>")
        self.b.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(self.b, 10).until(
            lambda b: b.find_elements(By.ID, "notice"))
        self.assertIn("not an IPv4 or IPv6 address",
                      self.b.find_element(By.ID, "notice").text)
        self.assertEqual(self.b.find_elements(By.TAG_NAME, "b"), [])


if __name__ == "__main__":
    tbltest.main()

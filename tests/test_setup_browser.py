"""Setup from a phone, in a real browser: headless Chromium fills in the device's own setup page.

`python -m tools.sim --setup` boots a virtual board with no config.json in setup mode (its
access point is 127.0.0.1) and prints the page's URL; Chromium, driven by the pinned selenium,
opens it, fills in the form and submits it. Then config.json must hold what was typed, and the
restarted app must reach the fake cloud and answer a push-to-talk question. A second test
submits a badly formed token and an unknown board and reads both errors off the page. Under
both runtimes: the page is always served by the device's own server.

Chromium is Debian's chromium + chromium-driver, which `make test` installs (as root, with
apt). Without them the tests skip, except on CI, where they fail.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The machine has no network: without the background-networking flags Chromium floods refused
# connections; a fresh profile per run keeps runs independent.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=420,900")
RUNTIMES = ("cpython", "micropython")
TOKEN = "pat_browser_typed_7f3a9c"  # what the user types; the fake cloud takes any token
WIFI_PASSWORD = "sim-password"  # the virtual network's (tools/sim/harness.py)
BOT_ID = "7400000000000000000"
URL_S = 180  # the page is up (a first MicroPython run builds the deployed tree)
SESSION_S = 240  # the restarted app's whole push-to-talk session

# One Chromium at a time per run: conftest.py ONE_WORKER_MODULES keeps this module on one worker.


def _need_chromium():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if not missing:
        return
    why = ("Chromium is not installed (%s missing): `make test` installs Debian's chromium and "
           "chromium-driver when run as root; else `sudo apt-get install chromium "
           "chromium-driver`" % ", ".join(missing))
    if os.environ.get("CI"):
        pytest.fail(why)  # CI runs as root with apt: there the browser tests must run
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + str(tmp_path_factory.mktemp("chromium-profile")))
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class Sim:
    """`python -m tools.sim --setup` in a child process; its output read line by line."""

    def __init__(self, runtime, out_dir):
        self.out_dir = out_dir
        self.proc = subprocess.Popen(
            # --allow-gaps: silence a loaded host inserts is named in the report (checked below
            # to be the host's), so the outcome does not depend on the host's speed.
            [sys.executable, "-m", "tools.sim", "--setup", "--runtime", runtime,
             "--allow-gaps", "--out-dir", str(out_dir)], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError("no %r line within %d s; output:\n%s" % (
            prefix, timeout, "\n".join(self.lines[-30:])))

    def url(self):
        return self.wait_line("sim: setup page ", URL_S).split()[-1]

    def finish(self, timeout):
        """Exit code and whole output once the run ends by itself."""
        self.proc.wait(timeout)
        while True:
            line = self._queue.get(timeout=10)
            if line is None:
                break
            self.lines.append(line)
        return self.proc.returncode, "\n".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # a MicroPython device child sees its stdin close and stops
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def fill(driver, **values):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for key, value in values.items():
        element = driver.find_element(By.ID, key)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def submit_and_wait(driver, element_id):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "save").click()
    return WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, element_id)))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_page_sets_the_board_up_and_the_restarted_app_answers(browser, tmp_path, runtime):
    from selenium.webdriver.common.by import By

    sim = Sim(runtime, tmp_path)
    try:
        browser.get(sim.url())
        assert browser.title == "Set up voice-3456"
        # The scan's networks are offered (the virtual air has one), and typing works too.
        options = browser.find_elements(By.CSS_SELECTOR, "#networks option")
        assert [o.get_attribute("value") for o in options] == ["sim-wifi"]
        fill(browser, wifi_ssid="sim-wifi", wifi_password=WIFI_PASSWORD, cloud="coze",
             token=TOKEN, bot_id=BOT_ID, mode="ptt", board="esp32s3_inmp441")
        saved = submit_and_wait(browser, "saved")
        assert saved.text == "Saved"
        assert "joins sim-wifi" in browser.find_element(By.TAG_NAME, "body").text
        code, out = sim.finish(SESSION_S)
    finally:
        sim.kill()
    assert code == 0, out[-3000:]
    assert "sim: the device restarts into normal mode" in out
    assert "sim: 1 answer(s)" in out and out.rstrip().endswith("sim: ok"), out[-3000:]
    with open(os.path.join(tmp_path, "setup", "config.json")) as f:
        cfg = json.load(f)
    assert cfg == {"wifi_ssid": "sim-wifi", "wifi_password": WIFI_PASSWORD, "cloud": "coze",
                   "token": TOKEN, "bot_id": BOT_ID, "mode": "ptt", "board": "esp32s3_inmp441"}
    assert not os.path.exists(os.path.join(tmp_path, "setup", "config.json.tmp"))
    assert TOKEN not in out  # printed redacted, and never logged by the device
    # The session reached the fake cloud through the recorder, and the board saw that config.
    with open(os.path.join(tmp_path, "sim-report.json")) as f:
        report = json.load(f)
    assert report["turns"] == 1
    assert isinstance(report["gaps"], list)  # real time: counted and reported, not judged here


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_bad_token_and_an_unknown_board_are_named_on_the_page(browser, tmp_path, runtime):
    from selenium.webdriver.common.by import By

    bad_token = "Bearer pat_typed_with_prefix_42"
    sim = Sim(runtime, tmp_path)
    try:
        url = sim.url()
        browser.get(url)
        fill(browser, wifi_ssid="sim-wifi", wifi_password=WIFI_PASSWORD, token=bad_token,
             bot_id=BOT_ID, mode="free")
        # A board the select does not offer, as an old or hand-made page would send it.
        browser.execute_script(
            "var s = document.getElementById('board');"
            "s.add(new Option('esp8266_mic', 'esp8266_mic')); s.value = 'esp8266_mic';")
        token_error = submit_and_wait(browser, "err-token")
        board_error = browser.find_element(By.ID, "err-board")
        assert "remove the 'Bearer ' prefix" in token_error.text
        assert "esp8266_mic" in board_error.text and "esp32s3_inmp441" in board_error.text
        assert browser.find_elements(By.ID, "err-wifi_ssid") == []
        page = browser.page_source
        assert "pat_typed_with_prefix_42" not in page and WIFI_PASSWORD not in page
        for key in ("wifi_password", "token"):
            assert browser.find_element(By.ID, key).get_attribute("value") == ""
        # What was right is kept on the page; nothing was written; the device serves on.
        assert browser.find_element(By.ID, "wifi_ssid").get_attribute("value") == "sim-wifi"
        assert browser.find_element(By.ID, "mode").get_attribute("value") == "free"
        assert not os.path.exists(os.path.join(tmp_path, "setup", "config.json"))
        browser.get(url)
        assert browser.find_element(By.ID, "save").text == "Save and restart"
    finally:
        sim.kill()
    assert "pat_typed_with_prefix_42" not in "\n".join(sim.lines)


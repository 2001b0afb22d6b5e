"""Fixtures of the console's browser tests: a real `muster` server per test (fresh SQLite data
directory in a temp folder, port 0, the bootstrap admin's password from the environment), a
small API client to seed it, headless Chromium driven by Debian's chromedriver, and a local
tile server.

Environment:
  MUSTER_BIN                    the muster binary to test (.ci/console builds it)
  MUSTER_CONSOLE_SCREENSHOTS    a folder to save screenshots of the main screens into
"""

import json
import os
import shutil
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "console-test-admin-password"
PASSWORD = "a-long-enough-password"

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def muster_binary():
    binary = os.environ.get("MUSTER_BIN")
    if not binary or not Path(binary).is_file():
        pytest.fail("MUSTER_BIN must name a built muster binary (run .ci/console)")
    return binary


class Server:
    """One `muster serve` on 127.0.0.1, port 0, with its own data directory."""

    def __init__(self, directory, settings):
        self.directory = Path(directory)
        self.log_path = self.directory / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
        env.update({
            "MUSTER_LISTEN": "127.0.0.1:0",
            "MUSTER_DATABASE_URL": f"sqlite://{self.directory / 'muster.db'}",
            "MUSTER_PHOTO_STORE": f"file://{self.directory / 'photos'}",
            "MUSTER_DATA_DIR": str(self.directory),
            "MUSTER_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MUSTER_LOG_FORMAT": "json",
            "MUSTER_RETENTION_INTERVAL_S": "0",
            "MUSTER_WORKERS": "2",
            "MUSTER_CONSOLE_TILE_URL": "off",
        })
        env.update({k: str(v) for k, v in settings.items()})
        self.log = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen(
            [muster_binary(), "serve"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self._port = None
        self._started = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        if not self._started.wait(120) or self._port is None:
            self.process.kill()
            raise RuntimeError(f"muster did not start:\n{self.log_path.read_text()[-4000:]}")
        self.port = self._port
        self.url = f"http://127.0.0.1:{self.port}"

    def _drain(self):
        """Copies the server's log to a file, noting the port it announces."""
        for line in self.process.stderr:
            self.log.write(line)
            self.log.flush()
            if self._port is None:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("message") == "muster is serving":
                    self._port = int(entry["port"])
                    self._started.set()
        self._started.set()  # exited: stop waiting

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._drainer.join(10)
        self.log.close()


class Api:
    """The API of a server, to seed it as the tests need (never to check the page's work
    for it: assertions are on what the page shows)."""

    def __init__(self, base):
        self.base = base

    def request(self, method, path, token=None, body=None, expect=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw, answer_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, answer_headers = error.code, error.read(), error.headers
        text = raw.decode("utf-8", "replace")
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {text}"
        try:
            value = json.loads(text) if text else None
        except ValueError:
            value = text
        return status, value, answer_headers

    def call(self, method, path, token=None, body=None, expect=200):
        return self.request(method, path, token, body, expect)[1]

    def login(self, email, password=PASSWORD):
        return self.call("POST", "/v1/auth/login", body={"email": email, "password": password})["access_token"]

    def admin(self):
        return self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    def user(self, admin, email, name, roles, manager_id=None, site_ids=None):
        user = self.call("POST", "/v1/users", admin, {
            "email": email, "name": name, "employee_code": f"E-{uuid.uuid4().hex[:8]}",
            "manager_id": manager_id, "roles": roles, "password": PASSWORD,
            "site_ids": site_ids or [],
        }, expect=201)
        return user

    def check_in(self, email, lat, lon, kind="check_in"):
        token = self.login(email)
        return self.call("POST", "/v1/attendance/events", token, {
            "client_event_id": str(uuid.uuid4()),
            "kind": kind,
            "captured_at": datetime.now(timezone.utc).isoformat(),
            "location": {"lat": lat, "lon": lon, "accuracy_m": 8.0, "provider": "gps", "is_mock": False},
            "device": {"id": "device-1", "model": "Pixel 8", "os": "android", "os_version": "15",
                       "app_version": "3.2.1"},
        }, expect=201)


@pytest.fixture
def spawn(tmp_path):
    """`spawn(**settings)` starts a server (settings as MUSTER_* environment variables)."""
    servers = []

    def start(**settings):
        directory = tmp_path / f"server-{len(servers)}"
        directory.mkdir()
        server = Server(directory, settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Page:
    """A headless Chromium tab with the waits and checks the tests share."""

    def __init__(self, driver, downloads):
        self.driver = driver
        self.downloads = downloads
        self.wait = WebDriverWait(driver, 20)
        # Chromedriver hands out each log entry once: whatever reads a log first would hide
        # it from every later check, so both logs are drained into these lists.
        self._browser_log = []
        self._performance_log = []
        self._expected = []

    def open(self, url):
        self.driver.get(url)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def find_text(self, css, text):
        """The first element matching `css` whose text is exactly `text`."""
        return self.until(lambda: next((e for e in self.all(css) if e.text == text), None), f"no {css} saying {text}")

    def visible(self, css):
        return self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def gone(self, css):
        self.wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, css)))

    def text(self, css, text):
        """Waits until the element shows `text`; returns the element."""
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        return self.find(css)

    def until(self, predicate, message="condition not met"):
        return self.wait.until(lambda _: predicate(), message)

    def sign_in(self, email, password=PASSWORD):
        self.visible("#sign-in-form")
        self.find("#email").clear()
        self.find("#email").send_keys(email)
        self.find("#password").send_keys(password)
        self.find("#sign-in-button").click()
        self.visible("#workspace")

    def browser_log(self):
        """Every entry of the browser's log since the tab was opened."""
        self._browser_log.extend(self.driver.get_log("browser"))
        return list(self._browser_log)

    def expect_in_log(self, text):
        """Says that browser log entries containing `text` are part of the test (a tile
        server that is down), not a CSP violation or a script error to fail it on."""
        self._expected.append(text)

    def _unexpected(self):
        return [e for e in self.browser_log() if not any(t in e["message"] for t in self._expected)]

    def csp_violations(self):
        return [e["message"] for e in self._unexpected()
                if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]

    def page_errors(self):
        """Script errors and failed loads the page logged (a 4xx answer the page handles,
        such as a 422 it shows, is logged by Chromium too and is not a page error)."""
        return [e["message"] for e in self._unexpected()
                if e["level"] == "SEVERE" and "the server responded with a status of 4" not in e["message"]]

    def check_log(self):
        """Fails on any CSP violation or script error logged since the tab was opened; every
        test's call ends with this (`pytest_runtest_call` below)."""
        violations = self.csp_violations()
        errors = [m for m in self.page_errors() if m not in violations]
        assert not violations and not errors, \
            f"in the browser log: CSP violations {violations}, script errors {errors}"

    def _network_events(self):
        self._performance_log.extend(self.driver.get_log("performance"))
        return [json.loads(entry["message"])["message"] for entry in self._performance_log]

    def network(self):
        """(url, method) of every request the page made since the tab was opened, and
        {url: status} of the answers."""
        requests, statuses = [], {}
        for message in self._network_events():
            if message["method"] == "Network.requestWillBeSent":
                request = message["params"]["request"]
                requests.append((request["url"], request["method"]))
            elif message["method"] == "Network.responseReceived":
                response = message["params"]["response"]
                statuses[response["url"]] = response["status"]
        return requests, statuses

    def answers(self):
        """(url, status) of every answer the page received since the tab was opened, in
        order."""
        return [(m["params"]["response"]["url"], m["params"]["response"]["status"])
                for m in self._network_events() if m["method"] == "Network.responseReceived"]

    def shot(self, name):
        folder = os.environ.get("MUSTER_CONSOLE_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(folder) / f"{name}.png"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Ends every test that has a browser tab with the tab's log check, as part of the test
    (a failure, not a teardown error), so that no test can forget it."""
    result = yield  # raises, skipping the check, when the test itself failed
    tab = item.funcargs.get("page")
    if isinstance(tab, Page):
        tab.check_log()
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def page(request, tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,900", "--force-device-scale-factor=1",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--lang=en-GB"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # Debian's chromedriver, named: Selenium Manager must not look for (or download) one.
    os.environ["SE_OFFLINE"] = "true"
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.execute_cdp_cmd("Network.enable", {})
    tab = Page(driver, downloads)
    yield tab
    if getattr(request.node, "failed_call", False):
        # What the page showed and logged when the test failed.
        shot = tmp_path / "failure.png"
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot of the failure: {shot}")
        for entry in tab.browser_log():
            print(f"browser {entry['level']}: {entry['message']}")
    driver.quit()


def png(width=256, height=256):
    """A tile: light grey with a darker grid, as a PNG."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            line = x % 64 == 0 or y % 64 == 0
            row += bytes([200, 205, 210] if line else [236, 238, 240])
        rows.append(bytes(row))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


@pytest.fixture
def tile_server():
    """A tile server on 127.0.0.1 that answers every path with the same PNG and counts."""
    tile = png()
    served = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            served.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.served = served
    yield server
    server.shutdown()
    server.server_close()

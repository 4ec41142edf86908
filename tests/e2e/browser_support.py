"""A real headless browser and the MCP Inspector's web client, for the browser end-to-end tests.

The browser is the system Chromium (Debian `chromium` + `chromium-driver`) driven by Selenium
with an explicit driver path, so Selenium Manager never runs (it would try to download a
browser). Locally a missing browser skips the test with the command that installs it; in CI
(`CI` set) it is a failure, because `.ci/run` installs it first.

The Inspector is the pinned npm package (`package.json`), run from `node_modules` on the Node 22
the package `node` provides (the Inspector needs Node >= 22.19). Its web server holds a proxy
that can fetch any URL and start local processes, so it keeps its own API token: one made at
test time, handed to the browser in the page URL as the Inspector prints it, never disabled.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from devtools.local_stack import stop_process
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
INSTALL_BROWSER = "apt-get install -y --no-install-recommends chromium chromium-driver"
INSPECTOR_PACKAGE = ROOT / "node_modules" / "@modelcontextprotocol" / "inspector"
INSPECTOR_LAUNCHER = INSPECTOR_PACKAGE / "clients" / "launcher" / "build" / "index.js"
NODE_BIN = ROOT / "node_modules" / "node" / "bin"
INSPECTOR_START_SECONDS = 30

# FIELD-NOTES "Browsers, inspectors and MCP Apps": headless, and nothing that reaches the internet
# on its own (component updates, sync, background networking, QUIC probes).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)

T = TypeVar("T")


@dataclass(frozen=True)
class BrowserPaths:
    chromium: str
    chromedriver: str


def browser_paths() -> BrowserPaths:
    """The system Chromium and its driver, or a skip (a failure in CI) saying how to install them."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        missing(f"no system Chromium and chromedriver: install them with `{INSTALL_BROWSER}`")
    return BrowserPaths(chromium, chromedriver)


@contextmanager
def headless_chromium(paths: BrowserPaths, *, network_log: bool = False) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own profile, so its own cookies), closed afterwards.

    `network_log`: also keep Chromium's performance log (DevTools Network events), where every
    request the page made, or tried to make, can be read (`network_events`).
    """
    options = Options()
    options.binary_location = paths.chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # The console (errors, CSP violations) is what explains a stuck sign-in.
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if network_log else {})}
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=paths.chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def network_events(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The DevTools Network events since the last read (each entry is handed out once)."""
    events: list[dict[str, Any]] = []
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        message = json.loads(entry["message"])["message"]
        if str(message.get("method", "")).startswith("Network."):
            events.append(message)
    return events


class Console:
    """The browser console, kept: each read moves new entries here (the driver hands each out once)."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.entries: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        # Selenium leaves `get_log` unannotated; it returns the console entries as dicts.
        self.entries.extend(self.driver.get_log("browser"))  # type: ignore[no-untyped-call]
        return self.entries

    def errors(self) -> list[dict[str, Any]]:
        """SEVERE entries, minus the web fonts the Inspector asks the internet for (offline here)."""
        return [
            entry
            for entry in self.read()
            if entry.get("level") == "SEVERE" and "fonts.googleapis.com" not in str(entry.get("message"))
        ]


def save_artifacts(console: Console, folder: Path) -> None:
    """Save a screenshot, the page and the browser console in `folder`, and print where."""
    folder.mkdir(parents=True, exist_ok=True)
    driver = console.driver
    try:
        driver.save_screenshot(str(folder / "screenshot.png"))
        (folder / "page.html").write_text(driver.page_source)
        (folder / "url.txt").write_text(driver.current_url + "\n")
        (folder / "console.json").write_text(json.dumps(console.read(), indent=2))
    except WebDriverException as error:  # the browser itself died: say so next to the rest
        (folder / "artifacts-error.txt").write_text(f"{type(error).__name__}: {error.msg}\n")
    print(f"browser artifacts (screenshot, page, console): {folder}")


@contextmanager
def failure_artifacts(console: Console, folder: Path) -> Iterator[None]:
    """On any failure inside, save the browser's artifacts in `folder` (`save_artifacts`), re-raise."""
    try:
        yield
    except BaseException:
        save_artifacts(console, folder)
        raise


def wait_until(what: str, probe: Callable[[], T | None], seconds: float = 20, every: float = 0.2) -> T:
    """`probe()` once it returns something truthy; an AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def act(what: str, action: Callable[[], T | None], seconds: float = 20) -> T:
    """`action()` (find elements and use them) until it returns something truthy.

    A React page re-renders under the test: an element found a moment ago may be gone by the
    time it is clicked (StaleElementReferenceException). Finding it again is what a person does.
    """

    def attempt() -> T | None:
        try:
            return action()
        except StaleElementReferenceException:
            return None

    return wait_until(what, attempt, seconds)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Inspector:
    """The Inspector's web client: the URL to open (with its API token) and its origin."""

    url: str
    origin: str
    log_path: Path


@contextmanager
def inspector_web(server_url: str, folder: Path) -> Iterator[Inspector]:
    """The Inspector's web client and proxy on free ports, pointed at `server_url` (Streamable HTTP,
    no header), until the block ends.

    Its state (catalog, OAuth storage, HOME) lives in `folder`; secrets stay in memory. It binds
    127.0.0.1 only (its default) and does not open a browser itself.
    """
    if not INSPECTOR_LAUNCHER.exists() or not (NODE_BIN / "node").exists():
        missing("the MCP Inspector is not installed: run `make node_modules/.installed` (npm ci)")
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MCP_", "OAUTH_"))}
    env.update(
        {
            "PATH": os.pathsep.join([str(NODE_BIN), env.get("PATH", "")]),
            "HOME": str(home),
            "CLIENT_PORT": str(port),
            # Its MCP Apps sandbox and app origin servers: free ports too, so runs never collide.
            "MCP_SANDBOX_PORT": str(free_port()),
            "MCP_APP_ORIGIN_PORT": str(free_port()),
            "MCP_INSPECTOR_API_TOKEN": token,
            "MCP_INSPECTOR_SECRET_STORE": "memory",
            "MCP_STORAGE_DIR": str(folder / "storage"),
            "MCP_AUTO_OPEN_ENABLED": "false",
        }
    )
    log_path = folder / "inspector.log"
    command = [
        str(NODE_BIN / "node"),
        str(INSPECTOR_LAUNCHER),
        "--web",
        "--transport",
        "http",
        "--server-url",
        server_url,
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    origin = f"http://127.0.0.1:{port}"
    try:

        def serving() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the Inspector exited:\n{log_path.read_text()[-4000:]}")
            return "is up and running" in log_path.read_text()

        try:
            wait_until("the Inspector to serve", serving, seconds=INSPECTOR_START_SECONDS)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{log_path.read_text()[-4000:]}") from None
        yield Inspector(f"{origin}/?MCP_INSPECTOR_API_TOKEN={token}", origin, log_path)
    finally:
        stop_process(process, 10)


# ---------------------------------------------------------------------------------------------
# A page on another origin and a bare WebDriver session: Debian's Chromium driven through
# chromedriver's W3C WebDriver HTTP API (https://www.w3.org/TR/webdriver2/: New Session, Navigate
# To, Execute Async Script). The browser itself enforces CORS: a refusal is a TypeError the page sees.

# Runs in the page: each step is a fetch; a CORS refusal is a TypeError the page sees.
STEPS_SCRIPT = """
const [steps, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const results = [];
  for (const step of steps) {
    try {
      const response = await fetch(step.url, {method: step.method, headers: step.headers, body: step.body});
      // Only what the browser lets the page read: safelisted and exposed response headers.
      const headers = {};
      response.headers.forEach((value, name) => { headers[name] = value; });
      results.push({read: true, status: response.status, body: await response.text(), headers});
    } catch (error) {
      results.push({read: false, error: String(error)});
    }
  }
  done(results);
})();
"""


@contextmanager
def page_origin() -> Iterator[str]:
    """An empty page on its own origin (another port of 127.0.0.1), standing in for the Inspector."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>inspector stand-in</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def webdriver_session() -> Iterator[tuple[httpx2.Client, str]]:
    """chromedriver on a free loopback port and one headless Chromium session; both stopped after."""
    paths = browser_paths()
    port = free_port()
    driver = subprocess.Popen(
        [paths.chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(200):
                try:
                    if http.get("/status").json()["value"]["ready"]:
                        break
                except httpx2.TransportError:
                    pass
                time.sleep(0.05)
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": paths.chromium, "args": list(CHROMIUM_FLAGS)},
            }
            created = http.post("/session", json={"capabilities": {"alwaysMatch": capabilities}})
            assert created.status_code == 200, created.text
            session = created.json()["value"]["sessionId"]
            try:
                yield http, session
            finally:
                http.delete(f"/session/{session}")
    finally:
        driver.terminate()
        driver.wait(timeout=10)


def run_in_page(http: httpx2.Client, session: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = http.post(f"/session/{session}/execute/async", json={"script": STEPS_SCRIPT, "args": [steps]})
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["value"]
    return results

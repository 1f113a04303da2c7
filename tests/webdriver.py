"""A minimal W3C WebDriver client over urllib: start /usr/bin/chromedriver, drive headless Chromium with real clicks
and keystrokes, take screenshots. No selenium dependency (the protocol is a handful of JSON requests).

    with Browser.start() as b:
        b.get(url); b.click(b.wait_text("Search")); b.screenshot(path)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
CHROMIUM = ("chromium", "/usr/bin/chromium")
CHROMEDRIVER = ("chromedriver", "/usr/bin/chromedriver")


def _find(names: tuple[str, ...]) -> str | None:
    for n in names:
        found = shutil.which(n) or (n if Path(n).is_file() else None)
        if found:
            return found
    return None


def require_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths; under CI=true a missing one fails the test, locally it skips."""
    chromium, driver = _find(CHROMIUM), _find(CHROMEDRIVER)
    if chromium is None or driver is None:
        missing = "chromium" if chromium is None else "chromedriver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} is required in CI (apt-get install -y chromium chromium-driver)")
        pytest.skip(f"{missing} not installed (apt-get install -y chromium chromium-driver)")
    return chromium, driver


class WebDriverError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One chromedriver process and one headless Chromium session."""

    def __init__(self, proc: subprocess.Popen, base: str, session: str):
        self.proc, self.base, self.session = proc, base, session

    # --- lifecycle -------------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, width: int = 1280, height: int = 900, log: Path | None = None) -> "Browser":
        chromium, driver = require_browser()
        port = _free_port()
        out = open(log, "wb") if log else subprocess.DEVNULL
        proc = subprocess.Popen([driver, f"--port={port}"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/status", timeout=2) as r:
                    if json.loads(r.read())["value"].get("ready"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise WebDriverError("chromedriver did not start")
            time.sleep(0.2)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--window-size={width},{height}"]}}}}
        try:
            value = cls._call(base, "POST", "/session", caps, timeout=120)
        except Exception:
            proc.kill()
            raise
        return cls(proc, base, value["sessionId"])

    def quit(self) -> None:
        try:
            self._call(self.base, "DELETE", f"/session/{self.session}", None, timeout=30)
        except Exception:  # noqa: BLE001 - the process is stopped below either way
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.quit()

    # --- protocol ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _call(base: str, method: str, path: str, body: Any, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: {str(detail.get('message'))[:300]}") from None

    def cmd(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        return self._call(self.base, method, f"/session/{self.session}{path}", body, timeout)

    # --- pages and elements ------------------------------------------------------------------------------------------
    def get(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url}, timeout=120)

    def run_js(self, script: str, *args: Any) -> Any:
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find_all(self, css: str) -> list[str]:
        return [e[ELEMENT] for e in self.cmd("POST", "/elements", {"using": "css selector", "value": css})]

    def text_of(self, element: str) -> str:
        return str(self.cmd("GET", f"/element/{element}/text"))

    def page_text(self) -> str:
        return str(self.run_js("return document.body ? document.body.innerText : '';"))

    def wait(self, predicate: Any, what: str, timeout: float = 90, interval: float = 0.5) -> Any:
        """Poll `predicate()` until it returns something truthy (Streamlit fills the page over a websocket)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except WebDriverError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; page text:\n{self.page_text()[-3000:]}")
            time.sleep(interval)

    def wait_text(self, text: str, timeout: float = 90) -> None:
        self.wait(lambda: text in self.page_text(), f"text {text!r}", timeout)

    def wait_idle(self, timeout: float = 180) -> None:
        """Until Streamlit's "Running…" indicator is gone (the script run finished)."""
        time.sleep(0.5)
        self.wait(lambda: not self.find_all('[data-testid="stStatusWidget"]'), "the script run to finish", timeout)

    def element_with_text(self, css: str, text: str) -> str | None:
        for e in self.find_all(css):
            if text in self.text_of(e):
                return e
        return None

    def click(self, element: str) -> None:
        self.run_js("arguments[0].scrollIntoView({block: 'center'});", {ELEMENT: element})
        self.cmd("POST", f"/element/{element}/click", {})

    def click_text(self, css: str, text: str, timeout: float = 90) -> None:
        """Click the first `css` element whose visible text contains `text` (a button, a tab, a nav link)."""
        el = self.wait(lambda: self.element_with_text(css, text), f"{css} with {text!r}", timeout)
        self.click(el)

    def type_into(self, element: str, text: str, enter: bool = True) -> None:
        self.click(element)
        self.cmd("POST", f"/element/{element}/clear", {})
        self.cmd("POST", f"/element/{element}/value", {"text": text + ("\ue007" if enter else "")})

    def input_labelled(self, label: str, timeout: float = 60) -> str:
        """The text input (or textarea) of the Streamlit widget whose label contains `label`."""
        def find() -> str | None:
            for w in self.find_all('[data-testid="stTextInput"], [data-testid="stTextArea"]'):
                if label in self.text_of(w):
                    inner = self.cmd("POST", f"/element/{w}/elements", {"using": "css selector", "value": "input, textarea"})
                    if inner:
                        return str(inner[0][ELEMENT])
            return None
        return self.wait(find, f"input labelled {label!r}", timeout)

    def upload(self, path: Path, nth: int = 0, timeout: float = 60) -> None:
        """Send a file to the nth file uploader on the page (what choosing it in the dialog does)."""
        inputs = self.wait(lambda: self.find_all('input[type="file"]'), "a file uploader", timeout)
        self.cmd("POST", f"/element/{inputs[nth]}/value", {"text": str(path)})

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))
        return path

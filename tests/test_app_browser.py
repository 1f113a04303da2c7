"""The review app served by `audit app` (streamlit run): over HTTP, in headless Chromium, and stopped by SIGTERM."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from test_app_search import ITEMS, tiny_index  # noqa: F401  (fixture: a real tiny index)

from app import app_display
from audit.index.cache import open_index_ready

# --- served by `audit app` (streamlit run), checked over HTTP and in headless Chromium ----------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory):
    """`audit app --index … --port … --headless` in its own process group; stopped by its id afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "streamlit.log"
    env = dict(os.environ, HOME=str(log.parent))  # no ~/.streamlit state from this machine
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "audit.cli", "app", "--index", str(tiny_index), "--port", str(port), "--headless"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url, log, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_audit_app_serves_the_app(served_app) -> None:
    url, log, _ = served_app
    with urllib.request.urlopen(url + "/", timeout=10) as r:
        assert r.status == 200 and b'<div id="root">' in r.read()
    text = log.read_text(errors="replace")
    assert "serving the review app" in text and f"{len(ITEMS)} images" in text


def _chromium() -> str:
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return exe


def _chromium_run(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900",
           "--virtual-time-budget=20000", *args]
    return subprocess.run(cmd, capture_output=True, timeout=120)


THUMBS_MIN_COLOURS = 300
#: How long a capture is retried while Streamlit fills the page (a loaded CI machine can need well over 8 tries).
RETRY_SECONDS = 90


def _colour_count(arr) -> int:
    """Distinct colours at 4 bits per channel: the bare UI has < 100, photo thumbnails add hundreds."""
    import numpy as np

    return len(np.unique(arr.reshape(-1, 3) // 16, axis=0))


@pytest.mark.browser
def test_browser_renders_results(served_app, tiny_index: Path, tmp_path: Path) -> None:
    """Headless Chromium loads a shared search link; the page shows the title, captions, authors and thumbnails.

    Streamlit fills the page over a websocket after load, so each capture is retried until it shows results.
    """
    import numpy as np

    exe = _chromium()
    url = served_app[0] + "/?q=a+lemon"
    dom = ""
    deadline = time.monotonic() + RETRY_SECONDS  # the first query also loads the model in the server
    for attempt in itertools.count():
        dom = _chromium_run(exe, tmp_path / f"dom{attempt}", "--dump-dom", url).stdout.decode(errors="replace")
        if all(item[1] in dom for item in ITEMS) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert app_display.APP_TITLE in dom and "Search the training set" in dom
    for _, caption, author, lic, *_ in ITEMS:
        assert caption in dom and author in dom and lic in dom
    # The served app ranks and scores exactly as the library does in this process.
    expected = open_index_ready(tiny_index).search_text("a lemon", k=12)
    shown = re.findall(r"score (-?[0-9.]+) · [^<]*? · key ([^<\s]+)", dom)
    assert shown == [(f"{h.score:.3f}", h.key) for h in expected]

    arr = None
    deadline = time.monotonic() + RETRY_SECONDS
    for attempt in itertools.count():
        shot = tmp_path / f"search{attempt}.png"
        done = _chromium_run(exe, tmp_path / f"shot{attempt}", f"--screenshot={shot}", url)
        assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
        arr = np.asarray(Image.open(shot).convert("RGB"))
        if _colour_count(arr) > THUMBS_MIN_COLOURS or time.monotonic() > deadline:
            break
        time.sleep(1)
    if os.environ.get("GENAUDIT_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["GENAUDIT_KEEP_SCREENSHOT"])
    assert arr.shape == (900, 1280, 3)
    grey = arr.mean(axis=-1)
    assert grey.std() > 10, "screenshot is blank"
    assert _colour_count(arr) > THUMBS_MIN_COLOURS, "no photo thumbnails visible in the screenshot"


def test_sigterm_to_audit_app_stops_streamlit(served_app) -> None:
    """Runs last in this module: stopping `audit app` must not leave the Streamlit server behind."""
    url, _, proc = served_app
    proc.send_signal(signal.SIGTERM)  # to `audit app` only, not its process group
    assert proc.wait(timeout=30) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)

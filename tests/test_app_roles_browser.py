"""Each role's whole flow in a real browser: `audit app --workspace` serves on loopback, headless Chromium (driven
through chromedriver's W3C WebDriver API, tests/webdriver.py) clicks and types as a person would, and each test
saves a screenshot (GENAUDIT_SCREENSHOTS=DIR keeps them; otherwise they stay in pytest's tmp dir).

One server, one browser and one workspace (tests/workspace_fixture.py) are shared by the module; one test per role.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from webdriver import Browser, require_browser
from workspace_fixture import OPTED_OUT_ARTIST, SUBJECT, build_workspace

from audit.workspace import Workspace

pytestmark = pytest.mark.browser
DATA = Path(__file__).resolve().parent / "data" / "images"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def role_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    require_browser()  # skip (or fail under CI) before building anything
    return build_workspace(tmp_path_factory.mktemp("roles") / "ws")


@pytest.fixture(scope="module")
def server(role_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    """`audit app --workspace WS --headless` in its own process group, started from an unrelated directory (the
    workspace, not the working directory, decides what every page opens); stopped by its id afterwards."""
    port = _free_port()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    log = elsewhere / "streamlit.log"
    env = dict(os.environ, HOME=str(elsewhere), PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    env.pop("GENAUDIT_INDEX", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "app", "--workspace", str(role_workspace.root),
                                 "--port", str(port), "--headless"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=elsewhere, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
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
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser(server: str, tmp_path_factory: pytest.TempPathFactory):
    b = Browser.start(log=tmp_path_factory.mktemp("chromedriver") / "chromedriver.log")
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = os.environ.get("GENAUDIT_SCREENSHOTS")
    return Path(keep) if keep else tmp_path_factory.mktemp("screenshots")


def _open(browser: Browser, server: str, page: str, title: str) -> None:
    browser.get(f"{server}/{page}")
    browser.wait_text(title)
    browser.wait_idle()


def _images_shown(browser: Browser) -> int:
    return int(browser.run_js("return [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                              ".filter(i => i.complete && i.naturalWidth > 0).length;"))


def test_artist_looks_up_sees_status_and_withdraws(browser: Browser, server: str, role_workspace: Workspace,
                                                    shots: Path) -> None:
    _open(browser, server, "artist_lookup", "Have I been trained?")
    browser.type_into(browser.input_labelled("Artist name"), OPTED_OUT_ARTIST)
    browser.wait_text("opted out of ai-training on")
    browser.wait_text("1 training item(s) found")
    browser.wait(lambda: _images_shown(browser) >= 1, "the thumbnail of the artist's work")
    assert "Download the list (CSV)" in browser.page_text()
    browser.screenshot(shots / "artist.png")
    browser.type_into(browser.input_labelled("Reason for withdrawing"), "the artist asked by e-mail", enter=False)
    browser.click_text("button", "Withdraw this opt-out")
    browser.wait_text("Withdrawn: opt-out #1")
    from audit.optout.lookup import artist_optouts

    assert artist_optouts(role_workspace.registry, OPTED_OUT_ARTIST) == []


def test_reviewer_takes_a_request_from_locate_to_letter(browser: Browser, server: str, role_workspace: Workspace,
                                                         shots: Path) -> None:
    _open(browser, server, "removal", "Removal requests")
    browser.wait_text(f"#1 {SUBJECT}: verified")
    assert "intact" in browser.page_text()
    browser.click_text("button", "Locate")
    browser.wait_text("candidate item(s) found")
    browser.wait(lambda: _images_shown(browser) >= 1, "candidate thumbnails")
    browser.screenshot(shots / "reviewer-candidates.png")
    browser.click_text('[data-testid="stCheckbox"]', "astronaut")
    browser.wait_idle()
    browser.click_text("button", "Confirm the ticked items")
    browser.wait_text("Confirmed 1 item(s)")
    browser.click_text("button", "Erase everywhere")
    browser.wait_text("Erased 1 item(s)", timeout=180)
    browser.wait_text("Your erasure request #1")
    browser.wait_text(f"#1 {SUBJECT}: index_rebuilt")
    assert "Download the letter" in browser.page_text()
    browser.screenshot(shots / "reviewer.png")
    from audit.removal import connect, get_request, verify_log

    conn = connect(role_workspace.requests)
    assert get_request(conn, 1).state == "index_rebuilt" and verify_log(conn).ok
    assert not (role_workspace.root / "removal" / "dataset" / "images" / "astronaut.jpg").exists()
    assert (role_workspace.root / "dataset" / "images" / "astronaut.jpg").exists()  # the other index is untouched


def test_auditor_reviews_a_pair_and_decides(browser: Browser, server: str, role_workspace: Workspace,
                                             shots: Path) -> None:
    from audit.memorisation import review

    _open(browser, server, "memorisation", "Memorisation review")
    browser.wait_text("Open a pair")
    browser.wait(lambda: _images_shown(browser) >= 2, "the generated and the training image")
    sizes = browser.run_js("return [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                           ".map(i => Math.round(i.getBoundingClientRect().width));")
    assert len(set(sizes[:2])) == 1, sizes  # the pair is shown at equal size
    checked = browser.run_js("return [...document.querySelectorAll('input[type=radio]')].filter(r => r.checked).length;")
    assert checked == 0  # no decision preselected
    browser.click_text("label", "false positive")
    browser.click_text("button", "Save decision")
    browser.wait_text("Saved:")
    assert "Download report.html" in browser.page_text()
    browser.screenshot(shots / "auditor.png")
    decided = review.load_reviews(role_workspace.report)
    assert decided["decision"].tolist() == ["false_positive"]


def test_publisher_stamps_then_verifies(browser: Browser, server: str, role_workspace: Workspace, shots: Path) -> None:
    _open(browser, server, "provenance", "Provenance")
    browser.click_text('[role="tab"]', "Stamp")
    browser.upload(DATA / "oc_lemon.png", nth=1)
    browser.wait_idle()
    browser.click_text("button", "Stamp")
    browser.wait_text("Download signed oc_lemon.png", timeout=120)
    signed = next(role_workspace.runs.glob("stamp-*/oc_lemon.png"))
    browser.click_text('[role="tab"]', "Verify")
    browser.upload(signed, nth=0)
    browser.wait_text("Trusted — signed by", timeout=120)
    assert "Memorisation verdict" not in browser.page_text() or "genaudit audit assertion" in browser.page_text()
    browser.screenshot(shots / "publisher.png")


@pytest.mark.slow  # sampling then scanning costs ~1-2 min on 2 cores; AppTest covers the page in the default run
def test_generate_downloads_and_scans(browser: Browser, server: str, role_workspace: Workspace, shots: Path) -> None:
    _open(browser, server, "generate", "Generate with the reference model")
    browser.click_text("button", "Generate")
    browser.wait_text("Download the images (zip)", timeout=240)
    browser.click_text("button", "Scan these for memorisation")
    browser.wait_text("Verdicts:", timeout=240)
    browser.screenshot(shots / "generate.png")
    assert len(list(role_workspace.runs.glob("generate-*/*.png"))) == 8

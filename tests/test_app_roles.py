"""Fast AppTest checks of the role flows on a real workspace (tests/workspace_fixture.py): the removal reviewer
from locate to letter, and the auditor's decision with nothing preselected. The browser walks them too
(tests/test_app_roles_browser.py); these run without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_fixture import SUBJECT, build_workspace

from audit import config
from audit.app_cli import APP_SCRIPT

TIMEOUT = 180


def _at(monkeypatch: pytest.MonkeyPatch, ws_root: Path, page: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(config.ENV_WORKSPACE, str(ws_root))
    monkeypatch.delenv(config.ENV_INDEX, raising=False)
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(elements) -> str:
    return " ".join(str(e.value).replace("\\", "") for e in elements)


def test_reviewer_locates_confirms_erases_and_writes_the_letter(monkeypatch, tmp_path) -> None:
    from audit.removal import connect, get_request, verify_log

    ws = build_workspace(tmp_path / "ws", with_report=False)
    monkeypatch.chdir(tmp_path)  # an unrelated working directory: the workspace decides
    at = _at(monkeypatch, ws.root, "app_pages/removal.py")
    assert at.text_input(key="removal_db").value == str(ws.requests)
    assert any(f"#1 {SUBJECT}: verified" in s.value for s in at.subheader)
    # a reason is asked for in the page's words, not as a CLI flag
    at.selectbox(key="removal_to").set_value("rejected")
    at.button(key="FormSubmitter:removal_move-Apply").click().run()
    assert "type it in the Reason box" in _text(at.error) and "--reason" not in _text(at.error)
    at.button(key="FormSubmitter:removal_locate-Locate").click().run()
    assert not at.exception and "candidate item(s) found" in _text(at.success)
    assert at.get("imgs") or at.get("image")  # candidate thumbnails
    at.checkbox(key="removal_c_1_astronaut").check().run()
    at.button(key="removal_confirm").click().run()
    assert "Confirmed 1 item(s)" in _text(at.success)
    at.button(key="removal_erase").click().run()
    assert not at.exception and "Erased 1 item(s)" in _text(at.success)
    assert any(f"#1 {SUBJECT}: index_rebuilt" in s.value for s in at.subheader)  # heading follows the state
    assert "Your erasure request #1" in _text(at.markdown)
    conn = connect(ws.requests)
    assert get_request(conn, 1).state == "index_rebuilt" and verify_log(conn).ok
    assert not (ws.root / "removal" / "dataset" / "images" / "astronaut.jpg").exists()
    assert (ws.root / "dataset" / "images" / "astronaut.jpg").exists()


def test_auditor_decides_with_nothing_preselected(monkeypatch, tmp_path) -> None:
    from audit.memorisation import review

    ws = build_workspace(tmp_path / "ws")
    monkeypatch.chdir(tmp_path)
    at = _at(monkeypatch, ws.root, "app_pages/memorisation.py")
    assert at.text_input(key="memo_report").value == str(ws.report)
    table = at.dataframe[0].value
    assert not table.astype(str).isin(["None", "nan", "<NA>"]).any().any()
    radio = at.radio[0]
    assert radio.value is None  # no decision preselected
    at.button(key="FormSubmitter:memo_review-Save decision").click().run()
    assert "Pick a decision first" in _text(at.error)
    at.radio[0].set_value("confirmed")
    at.button(key="FormSubmitter:memo_review-Save decision").click().run()
    assert not at.exception and "Saved:" in _text(at.success)  # visible after the rerun
    assert review.load_reviews(ws.report)["decision"].tolist() == ["confirmed"]

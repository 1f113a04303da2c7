"""Removal page: lists the queue from a real SQLite file and applies a state change with the optimistic check."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.app_cli import APP_SCRIPT
from audit.index.status import INDEX_ENV
from audit.removal import connect, create_request, get_request


def test_page_lists_and_moves_a_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "requests.db"
    r = create_request(connect(db), "Grace Hopper", "g@example.org")
    monkeypatch.setenv("GENAUDIT_REMOVAL_DB", str(db))
    monkeypatch.setenv(INDEX_ENV, str(tmp_path / "no-index"))
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=60).run()
    at.switch_page("app_pages/removal.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Removal requests"]
    assert "intact" in " ".join(c.value for c in at.caption)
    assert at.dataframe[0].value["subject"].tolist() == ["Grace Hopper"]
    at.selectbox[1].set_value("identity_pending")
    at.button[1].click().run()
    assert not at.exception and not at.error
    assert get_request(connect(db), r.id).state == "identity_pending"

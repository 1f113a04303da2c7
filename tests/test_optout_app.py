"""The "Have I been trained?" page over a real tiny index and a real SQLite registry file, driven by AppTest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_app_search import APP_TIMEOUT, tiny_index  # noqa: F401  (module-scoped real index fixture)

PAGE = "app_pages/artist_lookup.py"


def _page(monkeypatch: pytest.MonkeyPatch, index_dir: Path, registry: Path):
    import torch
    from streamlit.testing.v1 import AppTest

    from audit.app_cli import APP_SCRIPT
    from audit.config import ENV_OPTOUT_REGISTRY
    from audit.index.status import INDEX_ENV

    torch.set_num_threads(1)
    monkeypatch.setenv(INDEX_ENV, str(index_dir))
    monkeypatch.setenv(ENV_OPTOUT_REGISTRY, str(registry))
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=APP_TIMEOUT).run()
    at.switch_page(PAGE).run()
    assert not at.exception and at.title[0].value == "Have I been trained?"
    return at


def _messages(elements) -> list[str]:
    return [e.value.replace("\\", "") for e in elements]


def test_lookup_shows_matches_with_reasons(monkeypatch, tiny_index, tmp_path) -> None:  # noqa: F811
    at = _page(monkeypatch, tiny_index, tmp_path / "reg.db")
    at.text_input(key="optout_artist").input("Charles Barbin").run()
    assert not at.exception
    assert any("1 training item(s) found" in s.value for s in at.subheader)
    df = at.dataframe[0].value
    assert list(df["key"]) == ["wp_LadyBird", "wp_LadyBird"]
    assert set(df["method"]) == {"author", "caption"}
    assert all("Charles Barbin" in r for r in df["reason"])
    # a name absent from the index says so
    at.text_input(key="optout_artist").input("Nobody Atall").run()
    assert not at.exception and any("No training item found" in m for m in _messages(at.success))


def test_file_optout_lands_in_sqlite_registry(monkeypatch, tiny_index, tmp_path) -> None:  # noqa: F811
    reg = tmp_path / "sub" / "optout.db"
    at = _page(monkeypatch, tiny_index, reg)
    at.text_input(key="optout_artist").input("Dan Gerhards").run()
    at.text_input(key="optout_aliases").input("D. Gerhards").run()
    assert at.text_input(key="optout_registry").value == str(reg)
    at.text_input(key="optout_source").input("email 2026-11-25")
    at.button[0].click().run()
    assert not at.exception
    assert any("Filed: opt-out #1 for artist 'Dan Gerhards'" in m for m in _messages(at.success)), _messages(at.success)
    with sqlite3.connect(reg) as conn:
        rows = conn.execute("SELECT kind, display, aliases, scope, source, active FROM entries").fetchall()
    assert rows == [("artist", "Dan Gerhards", '["D. Gerhards"]', "ai-training", "email 2026-11-25", 1)]
    # the page now says the artist has opted out, with the date, and offers to withdraw instead of filing again
    today = rows and sqlite3.connect(reg).execute("SELECT substr(received, 1, 10) FROM entries").fetchone()[0]
    assert any(f"opted out of ai-training on **{today}**" in m for m in _messages(at.success)), _messages(at.success)
    # filing again is idempotent and says so (the file form's button follows the withdraw form's)
    at.button[1].click().run()
    assert any("Already registered: opt-out #1" in m for m in _messages(at.success))
    with sqlite3.connect(reg) as conn:
        assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1
    # withdrawing needs a reason, then marks the entry inactive (kept, logged)
    at.button[0].click().run()
    assert any("needs a reason" in m for m in _messages(at.error))
    at.text_input(key="optout_withdraw_reason_1").input("artist changed their mind")
    at.button[0].click().run()
    assert not at.exception and any("Withdrawn: opt-out #1" in m for m in _messages(at.success))
    with sqlite3.connect(reg) as conn:
        assert conn.execute("SELECT active FROM entries").fetchall() == [(0,)]
    assert not any("opted out of" in m for m in _messages(at.success))


def test_bad_input_gives_clear_message(monkeypatch, tiny_index, tmp_path) -> None:  # noqa: F811
    reg = tmp_path / "optout.db"
    at = _page(monkeypatch, tiny_index, reg)
    at.text_input(key="optout_artist").input("   ").run()
    assert not at.exception and not at.error
    assert any("Enter an artist name" in c.value for c in at.caption)
    assert not at.dataframe
    at.text_input(key="optout_artist").input("!!!").run()
    assert not at.exception
    assert any("has no letters or digits" in m for m in _messages(at.error))
    # filing into a path that is a directory: one clear error, nothing written
    at.text_input(key="optout_artist").input("Nicu Buculei").run()
    at.text_input(key="optout_registry").input(str(tmp_path))
    at.button[0].click().run()
    assert not at.exception
    assert any("is a directory, not a registry file" in m for m in _messages(at.error))
    assert not reg.exists()

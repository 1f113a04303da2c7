"""app/app_display.py: how the review app formats results, thumbnails and user text (no streamlit needed)."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from app import app_display


def test_escape_markdown_keeps_text_literal() -> None:
    raw = "*bold* _it_ [link](http://a.b) # 1. :smile: $x$ <b> a|b ~s~ `c`\nnext"
    esc = app_display.escape_markdown(raw)
    assert "\n" not in esc
    for ch in "*_[]()#.:$<>|~`":
        assert re.search(r"(?<!\\)" + re.escape(ch), esc) is None, ch
    assert re.sub(r"\\(.)", r"\1", esc) == raw.replace("\n", " ")


def test_thumbnail_downscales_and_tolerates_missing_or_broken(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    Image.new("RGB", (600, 300), (1, 2, 3)).save(p)
    assert app_display.thumbnail(p, 256).size == (256, 128)
    assert app_display.thumbnail(tmp_path / "missing.png") is None
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert app_display.thumbnail(bad) is None
    assert app_display.thumbnail(None) is None


def _hit(**kw):
    from audit.index import SearchHit

    base = dict(rank=1, id=42, key="k1", score=0.87654, path="images/k1.png", caption="a lemon", author="Ada",
                license="CC0-1.0", source="drawn", method="clip-text")
    return SearchHit(**{**base, **kw})


def test_hit_card_formats_scores_and_fills_blank_metadata() -> None:
    card = app_display.hit_card(_hit())
    assert card.title == "1. a lemon"
    assert card.details == "score 0.877 · Ada · CC0-1.0 · key k1"
    blank = app_display.hit_card(_hit(rank=3, caption="  ", author=None, license=float("nan"), key=""))
    assert blank.title == "3. (no caption)"
    assert blank.details == "score 0.877 · unknown author · licence unknown · key row 42"
    assert app_display.hit_card(_hit(score=-0.0123)).score_text == "-0.012"

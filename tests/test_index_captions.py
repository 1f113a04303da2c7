"""Caption search: the FTS5 file built with the index, keyword / clip / hybrid modes, fusion order, denylist in
every mode (and in the FTS file itself), FTS syntax in user input, the CLI, and indexes from before captions."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from audit.errors import InputError

IMAGES = Path(__file__).parent / "data" / "images"
MODEL = "genaudit-tiny-clip@random:0"
MODES = ("hybrid", "clip", "keyword")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from audit.index import build_index

    out = tmp_path_factory.mktemp("cap") / "index"
    build_index(IMAGES, out, model=MODEL)
    return out


@pytest.fixture()
def copy(built, tmp_path) -> Path:
    dst = tmp_path / "index"
    shutil.copytree(built, dst)
    return dst


def _fts_rows(index_dir: Path) -> int:
    with sqlite3.connect(index_dir / "captions.fts.sqlite") as conn:
        return conn.execute("SELECT count(*) FROM captions").fetchone()[0]


def test_caption_index_built_with_the_index(built):
    from audit.index import open_index

    idx = open_index(built)
    assert (built / "captions.fts.sqlite").is_file()
    assert _fts_rows(built) == idx.count
    assert idx.default_mode() == "hybrid"


def test_keyword_hits_whole_words_and_plurals(built):
    from audit.index import open_index

    idx = open_index(built)
    hits = idx.search_text("monkey", k=5, mode="keyword")
    assert [h.key for h in hits] == ["oc_crazy_monkey_shandy_brow_01"]
    assert hits[0].evidence == "caption words" and hits[0].method == "keyword-text" and hits[0].score > 0
    flowers = {h.key for h in idx.search_text("flowers", k=10, mode="keyword")}  # captions say "flower"
    assert {"oc_cartoon_tree_01", "oc_magnolia_white_patricia__01"} <= flowers
    assert all("flower" in (h.caption or "").lower() for h in idx.search_text("flowers", k=10, mode="keyword"))
    # whole words: "ant" is inside "plant" and "elephant" but is no word of any caption
    assert idx.search_text("ant", k=10, mode="keyword") == []


def test_rrf_fusion_order():
    from audit.index.fusion import BOTH, CLIP, WORDS, rrf

    fused = rrf([10, 11, 12, 13], [12, 20, 10], k=5, clip_weight=1.0)
    # 10 and 12 both score 1/61 + 1/63, 11 and 20 both 1/62: ties keep first appearance (the CLIP list is read first)
    assert [f.id for f in fused] == [10, 12, 11, 20, 13]
    assert [f.evidence for f in fused] == [BOTH, BOTH, CLIP, WORDS, CLIP]
    weighted = rrf([10, 11, 12, 13], [20, 21], k=3)  # CLIP at half weight: the two word hits lead
    assert [f.id for f in weighted] == [20, 21, 10]


def test_hybrid_puts_caption_match_first_with_evidence(built):
    from audit.index import open_index

    idx = open_index(built)
    hybrid = idx.search_text("sailboat", k=8)  # default mode: hybrid
    assert hybrid[0].key == "oc_sailboat_illustration" and hybrid[0].method == "hybrid-text"
    assert hybrid[0].evidence == "both"  # also in CLIP's top 100 of a 49-item index
    assert len(hybrid) == 8 and {h.evidence for h in hybrid[1:]} == {"CLIP"}
    clip = idx.search_text("sailboat", k=8, mode="clip")
    assert {h.evidence for h in clip} == {"CLIP"} and [h.method for h in clip] == ["clip-text"] * 8


def test_denylisted_id_absent_in_every_mode_and_from_fts_file(copy):
    from audit.index import add_to_denylist, open_index

    before = _fts_rows(copy)
    assert add_to_denylist(copy, ["oc_crazy_monkey_shandy_brow_01"], reason="gdpr-1") == 1
    assert _fts_rows(copy) == before - 1  # the caption text itself is gone, not only filtered
    idx = open_index(copy)
    for mode in MODES:
        keys = [h.key for h in idx.search_text("crazy monkey", k=idx.count, mode=mode)]
        assert "oc_crazy_monkey_shandy_brow_01" not in keys, mode
    assert idx.search_text("monkey", k=5, mode="keyword") == []


def test_denylisted_rows_stay_out_of_a_rebuilt_caption_index(copy):
    from audit.index import add_to_denylist, open_index
    from audit.index.build import write_captions

    add_to_denylist(copy, ["oc_lemon"])
    (copy / "captions.fts.sqlite").unlink()
    write_captions(copy)
    assert open_index(copy).search_text("lemon", k=5, mode="keyword") == []


@pytest.mark.parametrize("text", ['"', 'lemon"', "lem*", "-lemon", "NEAR(lemon juice)", "(lemon", "lemon)", "a AND OR NOT",
                                  "caption: lemon", "{author}: x", "^lemon", "lemon + juice", "'", "***", "NEAR", "é ü"])
def test_fts_syntax_in_query_never_errors(built, text):
    from audit.index import open_index

    idx = open_index(built)
    for mode in MODES:
        assert isinstance(idx.search_text(text, k=3, mode=mode), list)
    assert "oc_lemon" in [h.key for h in idx.search_text(text, k=3, mode="keyword")] or "lemon" not in text.lower()


def test_cli_keyword_mode(built, capsys):
    from audit.cli import main

    assert main(["search", "--index", str(built), "--text", "Monkeys", "--mode", "keyword", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["key"] for r in rows] == ["oc_crazy_monkey_shandy_brow_01"] and rows[0]["evidence"] == "caption words"
    assert main(["search", "--index", str(built), "--text", "lemon", "--mode", "keyword"]) == 0
    out = capsys.readouterr().out
    assert "caption words" in out.replace("\n", " ") or "caption" in out
    assert main(["search", "--index", str(built), "--text", "lemon", "--mode", "fuzzy"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown search mode")


def test_index_without_caption_file_reads_and_build_adds_it(copy, capsys):
    from audit.cli import main
    from audit.index import open_index

    (copy / "captions.fts.sqlite").unlink()
    idx = open_index(copy)
    assert idx.captions is None and idx.default_mode() == "clip"
    assert {h.evidence for h in idx.search_text("lemon", k=3)} == {"CLIP"}
    with pytest.raises(InputError, match="no caption index"):
        idx.search_text("lemon", k=3, mode="keyword")
    assert main(["index", "build", str(idx.dataset_dir), "--out", str(copy), "--model", MODEL]) == 0
    assert "up to date (caption index added)" in capsys.readouterr().out
    assert open_index(copy).search_text("lemon", k=1, mode="keyword")[0].key == "oc_lemon"


def test_artist_lookup_and_locate_by_name_use_the_caption_index(copy):
    from audit.index import add_to_denylist, open_index
    from audit.index.cache import clear_index_cache
    from audit.optout.lookup import lookup_artist
    from audit.removal.locate import find_hits

    key = open_index(copy).search_text("astronaut", k=1, mode="keyword")[0].key
    hits = lookup_artist("Eileen Collins", copy)
    assert [(h.key, h.method, h.evidence) for h in hits] == [(key, "caption", "caption words")]
    assert lookup_artist("Collins Eileen", copy) == []  # words of the name, but not the name
    clear_index_cache()
    assert [(c.key, c.method) for c in find_hits(copy, name="eileen collins")] == [(key, "name-caption")]
    add_to_denylist(copy, [key])
    assert lookup_artist("Eileen Collins", copy) == []
    assert find_hits(copy, name="Eileen Collins") == []


def test_quality_metrics_and_shipped_figures(built):
    from audit import config
    from audit.index import open_index
    from audit.index.quality import QUALITY_NAME, best_precision_at, measured_quality, ndcg_at, precision_at

    rel = {"a": 2, "b": 1, "c": 2}
    assert precision_at(["a", "x", "b"], rel, k=10) == 0.2 and best_precision_at(rel, k=10) == 0.3
    assert ndcg_at(["a", "c", "b"], rel) == pytest.approx(1.0) and ndcg_at(["x", "y"], rel) == 0.0
    assert 0 < ndcg_at(["b", "a", "c"], rel) < 1
    shipped = json.loads((config.TINY_CLIP_DIR / QUALITY_NAME).read_text())
    weights = json.loads((config.TINY_CLIP_DIR / "meta.json").read_text())["weights_sha256"]
    assert shipped["model_fingerprint"] == weights  # measured on the weights that ship
    assert shipped["all"]["queries"] >= 50 and shipped["all"]["hybrid"]["p@10"] > shipped["all"]["clip"]["p@10"]
    assert measured_quality(open_index(built)) is None  # another model's index shows no borrowed figures

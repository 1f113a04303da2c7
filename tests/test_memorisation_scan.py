"""End-to-end scan over a real faiss index (random-init tiny CLIP) built from real fixture images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.errors import ArtefactError, InputError
from audit.memorisation import review
from audit.memorisation import transforms as tf
from audit.memorisation.run import scan_folder
from audit.memorisation.verdict import Thresholds

IMAGES = Path(__file__).parent / "data" / "images"
TRAIN = ["oc_lemon.png", "oc_sailboat_illustration.png", "oc_home0.png", "oc_cartoon_tree_01.png",
         "wp_Kleiber_by_Lukas_Baubkus.jpg", "wp_LadyBird.jpg", "astronaut.jpg", "oc_saturn_dan_gerhards_01.png"]
MODEL = "genaudit-tiny-clip@random:0"
#: A random-weights CLIP gives meaningless cosines, so CLIP alone must not make anything `similar` here.
T = Thresholds(clip_similar=0.9999)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    from audit.index import build_index

    root = tmp_path_factory.mktemp("memo")
    train = root / "train"
    train.mkdir()
    for name in TRAIN:
        shutil.copy(IMAGES / name, train / name)
    index = build_index(train, root / "index", model=MODEL)
    gen = root / "generated"
    gen.mkdir()
    src = lambda n: Image.open(IMAGES / n).convert("RGB")  # noqa: E731
    src("wp_LadyBird.jpg").save(gen / "exact.png")
    tf.apply("jpeg_crop", src("wp_Kleiber_by_Lukas_Baubkus.jpg"), seed=1).save(gen / "jpeg_crop.jpg")
    tf.apply("flip", src("oc_sailboat_illustration.png"), seed=0).save(gen / "flip.png")
    src("wp_Storm.jpg").save(gen / "unrelated.png")
    (gen / "notes.txt").write_text("not an image")
    out = root / "report"
    summary = scan_folder(gen, index, out, thresholds=T, baseline_sample=4, workers=1)
    return root, index, gen, out, summary


def _row(out: Path, name: str) -> pd.Series:
    m = pd.read_parquet(out / "matches.parquet")
    return m[m["query_path"].str.endswith(name)].iloc[0]


@pytest.mark.parametrize("name,source", [("exact.png", "wp_LadyBird"), ("jpeg_crop.jpg", "wp_Kleiber_by_Lukas_Baubkus"),
                                         ("flip.png", "oc_sailboat_illustration")])
def test_copies_found_with_right_source(scanned, name, source):
    out = scanned[3]
    r = _row(out, name)
    assert r["verdict"] == "copy", r["reasons"]
    assert Path(r["match_path"]).stem == source
    assert r["match_key"]
    assert r["duplicate_count"] >= 1


def test_unrelated_is_novel(scanned):
    r = _row(scanned[3], "unrelated.png")
    assert r["verdict"] == "novel", r["reasons"]


def test_report_files(scanned):
    out, summary = scanned[3], scanned[4]
    for f in ("matches.parquet", "summary.json", "report.html", "meta.json", "pairs.parquet", "baseline.parquet"):
        assert (out / f).is_file(), f
    m = pd.read_parquet(out / "matches.parquet")
    assert len(m) == 4
    for col in ("query_path", "verdict", "match_path", "match_key", "score", "tiled_l2", "inliers", "ssim",
                "aligned_l2", "duplicate_count", "reasons"):
        assert col in m.columns
    s = json.loads((out / "summary.json").read_text())
    assert s["counts"] == {"copy": 3, "similar": 0, "novel": 1}
    assert [Path(x["path"]).name for x in s["skipped"]] == ["notes.txt"]
    html = (out / "report.html").read_text()
    assert "data:image/jpeg;base64," in html and "data:image/png;base64," in html
    assert "notes.txt" in html and "tiled_l2" in html
    assert summary["baseline_pairs"] >= 1


def test_existing_report_refused_unless_overwrite(scanned, capsys):
    root, index, gen, out, _ = scanned
    with pytest.raises(ArtefactError, match="already holds a report"):
        scan_folder(gen, index, out)
    rc = main(["memorisation", "scan", str(gen), "--index", str(index), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "already holds a report" in err and "Traceback" not in err
    small = root / "small"
    small.mkdir()
    shutil.copy(gen / "exact.png", small / "exact.png")
    rc = main(["memorisation", "scan", str(small), "--index", str(index), "--out", str(root / "r2"), "--baseline", "0",
               "--thresholds", '{"clip_similar": 0.9999}'])
    assert rc == 0
    rc = main(["memorisation", "scan", str(small), "--index", str(index), "--out", str(root / "r2"), "--baseline", "0",
               "--overwrite"])
    assert rc == 0 and len(pd.read_parquet(root / "r2" / "matches.parquet")) == 1


def test_empty_and_missing_folders(scanned, tmp_path):
    index = scanned[1]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(InputError, match="no readable images"):
        scan_folder(tmp_path / "empty", index, tmp_path / "r")
    with pytest.raises(InputError, match="no such folder"):
        scan_folder(tmp_path / "missing", index, tmp_path / "r")


def test_review_round_trip(scanned):
    out = scanned[3]
    q = _row(out, "exact.png")["query_path"]
    review.record(out, q, "confirmed", "same photo", "alice")
    r = review.reviewed_matches(out)
    got = r[r["query_path"] == q].iloc[0]
    assert (got["decision"], got["note"], got["reviewer"]) == ("confirmed", "same photo", "alice")
    review.record(out, q, "false_positive", "changed my mind")
    saved = review.load_reviews(out)
    assert len(saved) == 1 and saved.iloc[0]["decision"] == "false_positive"
    assert not list(out.glob(".reviews.parquet.*"))  # no temp file left behind
    with pytest.raises(InputError, match="unknown decision"):
        review.record(out, q, "maybe")
    with pytest.raises(InputError, match="not an image of this report"):
        review.record(out, "/nope.png", "confirmed")


def test_index_without_hashes_or_pixels_degrades_with_warnings(scanned, tmp_path):
    root, index, gen, _, _ = scanned
    degraded = tmp_path / "index"
    shutil.copytree(index, degraded)
    (degraded / "hashes.parquet").unlink()
    meta = json.loads((degraded / "meta.json").read_text())
    meta["dataset_dir"] = str(tmp_path / "moved_away")  # training images no longer where the index says
    (degraded / "meta.json").write_text(json.dumps(meta))
    small = tmp_path / "gen"
    small.mkdir()
    shutil.copy(gen / "exact.png", small / "exact.png")
    summary = scan_folder(small, degraded, tmp_path / "r", thresholds=Thresholds(clip_similar=0.5), baseline_sample=2)
    text = " ".join(summary["warnings"])
    assert "hashes.parquet" in text and "no stored pixels" in text
    r = pd.read_parquet(tmp_path / "r" / "matches.parquet").iloc[0]
    assert r["verdict"] == "similar" and "unavailable" in r["reasons"]
    assert "no stored pixels" in (tmp_path / "r" / "report.html").read_text()


def test_app_page_records_a_decision(scanned, monkeypatch):
    from streamlit.testing.v1 import AppTest

    out = scanned[3]
    monkeypatch.setenv("GENAUDIT_REPORT", str(out))
    page = Path(__file__).parents[1] / "app" / "app_pages" / "memorisation.py"
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not at.exception
    assert [m.value for m in at.metric][:3] == ["3", "0", "1"]  # copy, similar, novel
    at.radio[0].set_value("false_positive")
    at.text_input[1].set_value("looks different to me")
    next(b for b in at.button if b.label == "Save decision").click().run()
    assert not at.exception
    saved = review.load_reviews(out)
    assert "false_positive" in saved["decision"].tolist()


def test_filter_matches_by_verdict_and_open_decisions(scanned):
    """What the review page lists: chosen verdicts, optionally only images nobody has decided on yet."""
    out = scanned[3]
    frame = review.reviewed_matches(out)
    copies = review.filter_matches(frame, ["copy"])
    assert len(copies) and set(copies["verdict"]) == {"copy"}
    q = copies["query_path"].iloc[0]
    review.record(out, q, "confirmed", "", "bob")
    frame = review.reviewed_matches(out)
    still_open = review.filter_matches(frame, ["copy", "similar", "novel"], only_undecided=True)
    assert q not in set(still_open["query_path"]) and len(still_open) == len(frame) - frame["decision"].notna().sum()
    assert review.filter_matches(frame, []).empty

"""`audit dataset ingest`: real fixture images, img2dataset/LAION layouts, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.records import read_manifest

DATA = Path(__file__).parent / "data"


def _meta(out: Path) -> dict:
    return json.loads((out / "meta.json").read_text())


def test_ingest_fixture_folder_with_sidecar_captions(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert main(["dataset", "ingest", str(DATA / "images"), "--out", str(out), "--max-side", "64"]) == 0
    df = read_manifest(out)
    captions = json.loads((DATA / "images" / "captions.json").read_text())
    assert len(df) == len(captions) == 24
    by_file = dict(zip(df["original_path"], df["caption"]))
    for name, info in captions.items():
        assert by_file[name] == info["caption"]
    assert (df[["width", "height"]].max(axis=1) <= 64).all()
    assert df["phash"].str.fullmatch(r"[0-9a-f]{16}").all() and df["sha256"].str.len().eq(64).all()
    assert all((out / p).is_file() for p in df["path"])
    assert _meta(out)["skipped"] == []


def test_bad_inputs_recorded_not_fatal(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    assert main(["dataset", "ingest", str(DATA / "bad"), "--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out
    meta = _meta(out)
    skipped = {s["file"]: s["reason"] for s in meta["skipped"]}
    assert "truncated" in skipped["truncated.jpg"] or "corrupt" in skipped["truncated.jpg"]
    assert "corrupt" in skipped["corrupt.png"]
    assert "not a supported image format" in skipped["notes.jpg"]
    assert skipped["vector.svg"] == "unsupported format (.svg)"
    assert skipped["good_copy.png"] == "exact duplicate of good"
    notes = {n["file"]: n["note"] for n in meta["notes"]}
    assert notes["cmyk.jpg"] == "CMYK converted to RGB"
    assert "rescaled to 8-bit" in notes["gray16.png"]
    assert notes["rgba.png"] == "alpha composited on white"
    assert notes["animated.gif"] == "animated: first of 3 frames"
    df = read_manifest(out)
    assert sorted(df["key"]) == ["animated", "cmyk", "good", "gray16", "rgba"]
    assert df.set_index("key").loc["good", "caption"] == "good"  # no sidecar: caption from file name

    out2 = tmp_path / "ds2"
    assert main(["dataset", "ingest", str(DATA / "bad"), "--out", str(out2), "--keep-duplicates"]) == 0
    assert "good_copy" in set(read_manifest(out2)["key"])


def test_idempotent_rerun_and_change_detection(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("oc_lemon.png", "oc_lemon.txt", "astronaut.jpg"):
        shutil.copy(DATA / "images" / name, src / name)
    out = tmp_path / "ds"
    assert main(["dataset", "ingest", str(src), "--out", str(out)]) == 0
    first = (out / "meta.json").read_text()
    capsys.readouterr()
    assert main(["dataset", "ingest", str(src), "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out and (out / "meta.json").read_text() == first
    (src / "astronaut.txt").write_text("Eileen Collins in 1990s NASA portrait\n")
    assert main(["dataset", "ingest", str(src), "--out", str(out)]) == 0
    df = read_manifest(out).set_index("key")
    assert df.loc["astronaut", "caption"] == "Eileen Collins in 1990s NASA portrait"
    assert df.loc["oc_lemon", "caption"] == "lemon, food clip art"


def _img2dataset_folder(root: Path) -> Path:
    """The layout img2dataset writes: 00000/000000000.jpg + .txt + .json, and 00000.parquet."""
    shard = root / "00000"
    shard.mkdir(parents=True)
    rows = []
    for i, name in enumerate(["wp_Storm.jpg", "oc_sailboat_illustration.png"]):
        key = f"{i:09d}"
        ext = Path(name).suffix
        shutil.copy(DATA / "images" / name, shard / f"{key}{ext}")
        cap = (DATA / "images" / name).with_suffix(".txt").read_text().strip()
        (shard / f"{key}.txt").write_text(cap)
        url = f"https://example.org/img/{name}"
        (shard / f"{key}.json").write_text(json.dumps({"key": key, "url": url, "caption": cap, "status": "success"}))
        rows.append({"key": key, "url": url, "caption": cap, "status": "success", "error_message": None})
    rows.append({"key": "000000002", "url": "https://example.org/gone.jpg", "caption": "a lost picture",
                 "status": "failed_to_download", "error_message": "HTTP 404"})
    pd.DataFrame(rows).to_parquet(root / "00000.parquet")
    (root / "00000_stats.json").write_text("{}")
    return root


def test_ingest_img2dataset_layout(tmp_path: Path) -> None:
    src = _img2dataset_folder(tmp_path / "i2d")
    out = tmp_path / "ds"
    assert main(["dataset", "ingest", str(src), "--out", str(out)]) == 0
    df = read_manifest(out).set_index("key")
    assert list(df.index) == ["000000000", "000000001"]
    assert df.loc["000000000", "url"] == "https://example.org/img/wp_Storm.jpg"
    assert df.loc["000000000", "caption"].startswith("storm, wallpaper photo by Sergey Nazarov")
    skipped = _meta(out)["skipped"]
    assert len(skipped) == 1 and skipped[0]["reason"] == "not downloaded (failed_to_download: HTTP 404)"
    assert "https://example.org/gone.jpg" in skipped[0]["file"]


def test_ingest_laion_parquet_uppercase_columns(tmp_path: Path) -> None:
    src = tmp_path / "laion"
    src.mkdir()
    shutil.copy(DATA / "images" / "oc_lemon.png", src / "lemon.png")
    pd.DataFrame({
        "URL": ["https://cdn.example.com/a/lemon.png", "https://cdn.example.com/b/never-fetched.jpg"],
        "TEXT": ["A yellow lemon drawing", "something we do not have"],
        "WIDTH": [128, 640], "similarity": [0.31, 0.29],
    }).to_parquet(src / "part-00000.parquet")
    out = tmp_path / "ds"
    assert main(["dataset", "ingest", str(src / "part-00000.parquet"), "--out", str(out)]) == 0
    df = read_manifest(out)
    assert list(df["caption"]) == ["A yellow lemon drawing"]
    assert list(df["url"]) == ["https://cdn.example.com/a/lemon.png"]
    assert [s["reason"] for s in _meta(out)["skipped"]] == ["not downloaded"]


def test_parquet_missing_column_is_one_line_error(tmp_path: Path, capsys) -> None:
    src = tmp_path / "s"
    src.mkdir()
    pd.DataFrame({"url": ["https://x/y.jpg"], "similarity": [0.3]}).to_parquet(src / "bad.parquet")
    assert main(["dataset", "ingest", str(src), "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "'caption'" in err and "Traceback" not in err
    assert err.splitlines()[0].startswith("error:")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("setup,expected", [
    (lambda d: None, "no images found"),
    (lambda d: shutil.copy(DATA / "bad" / "notes.jpg", d / "notes.jpg"), "no usable images"),
    (lambda d: (d / "x.parquet").write_bytes(b"PAR1 not really"), "not a readable parquet"),
])
def test_unusable_sources_exit_2(tmp_path: Path, capsys, setup, expected) -> None:
    src = tmp_path / "src"
    src.mkdir()
    setup(src)
    assert main(["dataset", "ingest", str(src), "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert main(["dataset", "ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "ds")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_undecodable_image_with_phash_tombstones_is_skipped_not_fatal(tmp_path: Path) -> None:
    """With perceptual tombstones loaded, a corrupt file must be recorded as a skip like without them."""
    from audit.removal.store import connect

    db = tmp_path / "requests.db"
    conn = connect(db)
    with conn:
        conn.execute("INSERT INTO tombstones (sha256, phash, request_id, added_unix) VALUES (?, ?, ?, ?)",
                     ("0" * 64, "ffffffffffffffff", 1, 0))
    conn.close()
    out = tmp_path / "ds"
    assert main(["dataset", "ingest", str(DATA / "bad"), "--out", str(out), "--removal-db", str(db)]) == 0
    skipped = {s["file"]: s["reason"] for s in _meta(out)["skipped"]}
    assert "corrupt" in skipped["corrupt.png"] and "erased" not in skipped["corrupt.png"]
    assert "good.png" in set(read_manifest(out)["original_path"])

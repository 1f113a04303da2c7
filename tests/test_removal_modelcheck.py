"""`audit removal model-check`: the shipped 32 px generator (which memorised chelsea the cat), sampled with the
reviewer's caption after a real erasure, scanned against the reviewer's photo; outcome in the hash-chained log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.errors import InputError
from audit.removal import connect, model_check, verify_log

GENERATOR = Path(__file__).resolve().parents[1] / "data" / "generator"
MODEL = "genaudit-tiny-clip@random:0"


@pytest.fixture(scope="module")
def erased(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A real dataset (chelsea + coffee), real index, request located by photo, confirmed and erased via the CLI."""
    import skimage.data as sd

    from audit.dataset.ingest import ingest
    from audit.index import build_index

    root = tmp_path_factory.mktemp("modelcheck")
    src = root / "src"
    src.mkdir()
    Image.fromarray(sd.chelsea()).save(src / "chelsea.png")
    Image.fromarray(sd.coffee()).save(src / "coffee.png")
    (src / "chelsea.json").write_text(json.dumps({"caption": "a photo of chelsea the cat", "author": "Stefan"}))
    photo = root / "subject_sent.jpg"
    Image.fromarray(sd.chelsea()).save(photo, quality=90)
    ingest(src, root / "ds")
    idx = build_index(root / "ds", root / "idx", model=MODEL)
    db = str(root / "r.db")
    assert main(["removal", "new", "--name", "Stefan", "--contact", "s@example.org", "--removal-db", db]) == 0
    assert main(["removal", "move", "1", "verified", "--removal-db", db]) == 0
    assert main(["removal", "locate", "1", "--index", str(idx), "--photo", str(photo), "--removal-db", db]) == 0
    assert main(["removal", "confirm-hits", "1", "chelsea", "--removal-db", db]) == 0
    assert main(["removal", "erase", "1", "--index", str(idx), "--removal-db", db]) == 0
    assert not (root / "ds" / "images").exists() or not list((root / "ds").rglob("chelsea*"))
    return root, Path(db), photo


def test_model_check_cli_runs_scan_and_logs_hashes_only(erased, capsys):
    root, db, photo = erased
    out = root / "check"
    before = connect(db).execute("SELECT count(*) FROM audit_log").fetchone()[0]
    capsys.readouterr()
    rc = main(["removal", "model-check", "1", "--generator", str(GENERATOR), "--out", str(out), "--n", "1", "--steps", "5",
               "--prompt", "a photo of chelsea the cat", "--photo", str(photo), "--removal-db", str(db)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "supplied by the reviewer" in text and "report" in text
    m = pd.read_parquet(out / "scan" / "matches.parquet")
    assert len(m) == 1 and len(list((out / "samples").glob("*.png"))) == 1
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "removal-model-check" and meta["outcome"] in ("copies-found", "no-copy-found")
    assert meta["outcome"] in text
    assert meta["photos_sha256"] == [hashlib.sha256(photo.read_bytes()).hexdigest()]
    assert not list(out.glob(".modelcheck-*")), "temporary index of the subject's photo must be removed"
    assert not (out / "scan" / "report.html").exists(), "the scan report embeds thumbnails of the reviewer's photo"
    assert meta["report_html"].startswith("deleted")
    conn = connect(db)
    rows = conn.execute("SELECT action, key_hashes FROM audit_log WHERE seq>? ORDER BY seq", (before,)).fetchall()
    assert len(rows) == 1 and rows[0][0].startswith(f"model-check:{meta['outcome']}:copies=")
    logged = json.loads(rows[0][1])
    assert meta["photos_sha256"][0] in logged and all(len(h) == 64 for h in logged)
    assert "chelsea" not in rows[0][1]
    assert verify_log(conn).ok


def test_model_check_needs_reviewer_inputs_and_an_erasure(erased, tmp_path):
    _root, db, photo = erased
    conn = connect(db)
    with pytest.raises(InputError, match="does not store captions"):
        model_check(conn, 1, GENERATOR, tmp_path / "a", prompts=[], photos=[photo], n=1, steps=5)
    with pytest.raises(InputError, match="not brought back"):
        model_check(conn, 1, GENERATOR, tmp_path / "b", prompts=["a cat"], photos=[], n=1, steps=5)
    rc = main(["removal", "model-check", "1", "--generator", str(GENERATOR), "--out", str(tmp_path / "c"),
               "--prompt", "a cat", "--photo", str(tmp_path / "missing.jpg"), "--removal-db", str(db)])
    assert rc != 0
    from audit.removal import create_request

    r = create_request(conn, "Someone Else", "x@example.org")
    rc = main(["removal", "model-check", str(r.id), "--generator", str(GENERATOR), "--out", str(tmp_path / "d"),
               "--prompt", "a cat", "--photo", str(photo), "--removal-db", str(db)])
    assert rc != 0

"""Tombstones enforced wherever data enters or is rebuilt: mirrored, cropped, resized and re-encoded copies of an
erased photo stay out of ingest and `index build` (real files, real SQLite, real index); the opt-out is logged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageOps

from audit.cli import main
from audit.removal import connect, create_request, load_tombstones
from audit.removal.erase import _do_step, _tombstone_hashes

MODEL = "genaudit-tiny-clip@random:0"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A dataset holding the astronaut and three others, and a request DB whose tombstone step erased the astronaut."""
    import skimage.data as sd
    from matplotlib.cbook import get_sample_data

    from audit.dataset.ingest import ingest

    root = tmp_path_factory.mktemp("tomb")
    src = root / "src"
    src.mkdir()
    Image.fromarray(sd.astronaut()).save(src / "astronaut.png")
    with get_sample_data("grace_hopper.jpg") as f:
        Image.open(f).convert("RGB").save(src / "hopper.jpg")
    Image.fromarray(sd.coffee()).save(src / "coffee.png")
    Image.fromarray(sd.rocket()).save(src / "rocket.png")
    ingest(src, root / "ds")
    db = root / "requests.db"
    conn = connect(db)
    rid = create_request(conn, "Eileen Collins", "ec@example.org").id
    df = pd.read_parquet(root / "ds" / "manifest.parquet")
    rows = df[df["key"] == "astronaut"]
    _do_step(conn, rid, "tombstone", {"keys": ["astronaut"], "dataset": str(root / "ds"),
                                      "hashes": _tombstone_hashes(rows, root / "ds")})
    conn.close()
    # a re-crawl: the erased photo mirrored, cropped, resized + re-encoded; and unrelated images
    crawl = root / "crawl"
    crawl.mkdir()
    a = Image.fromarray(sd.astronaut())
    w, h = a.size
    ImageOps.mirror(a).save(crawl / "mirrored.png")
    a.crop((w // 20, h // 20, w // 20 + int(w * 0.9), h // 20 + int(h * 0.9))).save(crawl / "crop90.png")
    a.crop((w - int(w * 0.8), 0, w, int(h * 0.8))).save(crawl / "crop80corner.png")
    ImageOps.mirror(a.crop((0, 0, int(w * 0.8), int(h * 0.8)))).save(crawl / "flipcrop80.png")
    a.resize((200, 200)).save(crawl / "small.jpg", quality=60)
    Image.fromarray(sd.coffee()).save(crawl / "coffee.png")
    Image.fromarray(sd.chelsea()).save(crawl / "cat.png")
    return {"root": root, "ds": root / "ds", "db": db, "crawl": crawl, "src": src}


def test_tombstone_stores_mirror_and_crop_variants(world) -> None:
    conn = connect(world["db"])
    variants = json.loads(conn.execute("SELECT variants FROM tombstones").fetchone()[0])
    assert len(variants) >= 30  # mirror + 3 crop sizes x 9 positions x 2 orientations (duplicates collapsed)
    t = load_tombstones(conn)
    assert len(t.phashes) == len(set(variants) | {conn.execute("SELECT phash FROM tombstones").fetchone()[0]})


def test_ingest_refuses_mirrored_cropped_and_reencoded_copies(world, tmp_path) -> None:
    from audit.dataset.ingest import ingest

    ingest(world["crawl"], tmp_path / "recrawl", tombstones=world["db"])
    keys = set(pd.read_parquet(tmp_path / "recrawl" / "manifest.parquet")["key"])
    assert keys == {"coffee", "cat"}
    meta = json.loads((tmp_path / "recrawl" / "meta.json").read_text())
    assert sum("erased on request" in json.dumps(s) for s in meta.get("skipped", [])) == 5


def test_index_build_never_indexes_a_tombstoned_photo(world, tmp_path, monkeypatch, capsys) -> None:
    from audit.index import open_index

    idx = tmp_path / "idx"
    monkeypatch.setenv("GENAUDIT_REMOVAL_DB", str(world["db"]))  # on by default once a removal DB is configured
    assert main(["index", "build", str(world["ds"]), "--out", str(idx), "--model", MODEL]) == 0
    assert "astronaut" not in set(open_index(idx).table["key"])
    meta = json.loads((idx / "meta.json").read_text())
    assert meta["tombstones"]["enforced"] is True and meta["tombstones"]["refused"] == 1
    assert any("erased on request" in s["reason"] for s in meta["skipped"])

    capsys.readouterr()
    loose = tmp_path / "loose"
    assert main(["index", "build", str(world["ds"]), "--out", str(loose), "--model", MODEL, "--no-tombstones"]) == 0
    assert "NOT enforced" in capsys.readouterr().err  # the opt-out is logged...
    assert "astronaut" in set(open_index(loose).table["key"])
    assert json.loads((loose / "meta.json").read_text())["tombstones"] == {"enforced": False, "why": "--no-tombstones"}
    # ...and an index built without them is rebuilt, not reported up to date, once tombstones are enforced again
    assert main(["index", "build", str(world["ds"]), "--out", str(loose), "--model", MODEL]) == 0
    assert "astronaut" not in set(open_index(loose).table["key"])


def _artefacts(root: Path, src: Path) -> dict[str, Path]:
    """A memorisation-style HTML report embedding the photo, a card.json naming the key, a matches.parquet."""
    import base64
    import io

    buf = io.BytesIO()
    Image.open(src / "astronaut.png").convert("RGB").resize((96, 96)).save(buf, "JPEG", quality=80)
    thumb = base64.b64encode(buf.getvalue()).decode()
    other = io.BytesIO()
    Image.open(src / "coffee.png").convert("RGB").resize((96, 96)).save(other, "JPEG")
    report = root / "memorisation" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text(
        "<html><body><h1>Memorisation report</h1>"
        f"<div class='pair'><h3>copy: s1.png</h3><img alt='training' src='data:image/jpeg;base64,{thumb}'>"
        "<p>Training image <code>x1</code> - a woman in a spacesuit</p></div>"
        f"<div class='pair'><h3>similar: s2.png</h3><img src='data:image/jpeg;base64,{base64.b64encode(other.getvalue()).decode()}'>"
        "<p>Training image <code>coffee</code></p></div>"
        "<table><tr><td>s1.png</td><td>astronaut</td></tr><tr><td>s2.png</td><td>coffee</td></tr></table></body></html>")
    card = root / "card" / "card.json"
    card.parent.mkdir()
    card.write_text(json.dumps({"rows": 4, "examples": [{"key": "astronaut", "caption": "Eileen"}, {"key": "coffee"}],
                                "note": "astronaut_small is another item"}))
    pd.DataFrame({"query": ["s1", "s2"], "match_key": ["astronaut", "coffee"]}).to_parquet(root / "memorisation" / "matches.parquet")
    return {"report": report, "card": card, "parquet": root / "memorisation" / "matches.parquet"}


def test_residual_sweep_lists_and_redacts_reports_and_cards(world, tmp_path, capsys) -> None:
    from audit.removal.store import transaction

    db = tmp_path / "requests.db"
    import shutil

    from audit import config

    for p in (world["db"], config.removal_keys_dir(world["db"]), config.removal_heads_file(world["db"])):
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp_path / p.name)
    conn = connect(db)
    with transaction(conn):
        conn.execute("INSERT INTO candidates VALUES (1, 'astronaut', 'phash', 1.0, 1)")
    a = _artefacts(tmp_path / "out", world["src"])
    capsys.readouterr()
    assert main(["removal", "residuals", "1", "--root", str(tmp_path / "out"), "--removal-db", str(db)]) == 1
    listed = capsys.readouterr().out
    assert all(str(p) in listed for p in a.values()) and "embedded image (pHash)" in listed, listed
    assert main(["removal", "residuals", "1", "--root", str(tmp_path / "out"), "--redact", "--removal-db", str(db)]) == 0
    html = a["report"].read_text()
    assert "spacesuit" not in html and ">astronaut<" not in html and "Memorisation report" in html
    assert html.count("data:image/jpeg;base64,") == 1 and "coffee" in html  # the other pair is kept
    card = json.loads(a["card"].read_text())
    assert card["examples"] == [{"key": "coffee"}] and card["note"] == "astronaut_small is another item"  # whole words only
    assert list(pd.read_parquet(a["parquet"])["match_key"]) == ["coffee"]
    assert main(["removal", "residuals", "1", "--root", str(tmp_path / "out"), "--removal-db", str(db)]) == 0
    from audit.removal.seal import verify

    assert conn.execute("SELECT count(*) FROM residuals WHERE action='redacted'").fetchone()[0] == 3
    assert verify(conn).ok

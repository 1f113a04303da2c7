"""Locate → confirm → erase on a real tiny dataset of real photos of people, a real faiss index and a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.errors import InputError
from audit.removal import (
    affected_models,
    confirm_hits,
    connect,
    create_request,
    erase,
    is_tombstoned,
    locate,
    transition,
    verify_log,
    write_letter,
)
from audit.removal.store import RequestError

MODEL = "genaudit-tiny-clip@random:0"
SIDECARS = {
    "astronaut": {"caption": "Astronaut Eileen Collins in her suit", "author": "NASA", "url": "https://images.nasa.gov/collins.jpg"},
    "hopper": {"caption": "Portrait of Rear Admiral Grace Hopper", "author": "US Navy", "url": "https://example.org/hopper.jpg"},
    "coffee": {"caption": "a cup of coffee", "author": "Rachel Michetti"},
    "rocket": {"caption": "a rocket on the launch pad", "author": "NASA"},
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    import skimage.data as sd
    from matplotlib.cbook import get_sample_data

    src = tmp_path_factory.mktemp("removal") / "src"
    src.mkdir()
    Image.fromarray(sd.astronaut()).save(src / "astronaut.png")
    with get_sample_data("grace_hopper.jpg") as f:
        Image.open(f).convert("RGB").save(src / "hopper.jpg")
    Image.fromarray(sd.coffee()).save(src / "coffee.png")
    Image.fromarray(sd.rocket()).save(src / "rocket.png")
    for k, v in SIDECARS.items():
        (src / f"{k}.json").write_text(json.dumps(v))
    Image.fromarray(sd.checkerboard()).convert("RGB").save(src.parent / "checker.png")
    Image.fromarray(sd.astronaut()).resize((256, 256)).save(src.parent / "astronaut_small.jpg", quality=80)
    return src


def _world(photos: Path, root: Path) -> tuple[Path, Path]:
    from audit.dataset.ingest import ingest
    from audit.index import build_index

    ingest(photos, root / "ds")
    return root / "ds", build_index(root / "ds", root / "idx", model=MODEL)


def _located(conn, idx: Path, photo: Path) -> int:
    r = create_request(conn, "Eileen Collins", "eileen@example.org")
    transition(conn, r.id, "verified")
    locate(conn, r.id, idx, photo=photo)
    return r.id


def test_locate_by_photo_url_name_and_errors(photos, tmp_path):
    _, idx = _world(photos, tmp_path)
    conn = connect(tmp_path / "r.db")
    r = create_request(conn, "Grace Hopper", "grace@example.org")
    with pytest.raises(RequestError, match="locate needs 'verified'"):
        locate(conn, r.id, idx, name="Grace Hopper")
    transition(conn, r.id, "verified")
    with pytest.raises(InputError, match="nothing in .* matches the photo"):
        locate(conn, r.id, idx, photo=photos.parent / "checker.png")
    got = locate(conn, r.id, idx, photo=photos.parent / "astronaut_small.jpg", url="http://www.images.nasa.gov/collins.jpg/",
                 name="grace  hopper")
    methods = {(c.key, c.method) for c in got}
    assert {("astronaut", "phash"), ("astronaut", "clip-image"), ("astronaut", "url"), ("hopper", "name-caption")} <= methods
    assert not any(c.key in ("coffee", "rocket") for c in got)
    with pytest.raises(InputError, match="coffee are not candidates"):
        confirm_hits(conn, r.id, ["coffee"])
    assert confirm_hits(conn, r.id, ["hopper"]) == ["hopper"]


def _final_state(ds: Path, idx: Path) -> dict:
    from audit.index import open_index, read_denylist

    o = open_index(idx)
    return {"manifest": sorted(pd.read_parquet(ds / "manifest.parquet")["key"]),
            "files": sorted(p.name for p in (ds / "images").iterdir()),
            "index_keys": sorted(o.table["key"]), "denylist": sorted(read_denylist(idx)["key"]), "count": o.count}


def test_erase_everywhere_crash_resume_tombstone_models_letter(photos, tmp_path):
    clean_ds, clean_idx = _world(photos, tmp_path / "clean")
    ds, idx = _world(photos, tmp_path / "crash")
    # a generator trained on this dataset before the erasure (meta.json as audit.generate writes it)
    from audit.meta import make_meta, write_meta
    from audit.records import manifest_hash, read_manifest

    model = tmp_path / "model"
    model.mkdir()
    write_meta(model, make_meta("generator", training={"manifest_hash": manifest_hash(read_manifest(ds)),
                                                       "datasets": [str(ds)], "excluded_keys": []}))
    other = tmp_path / "other"
    other.mkdir()
    write_meta(other, make_meta("generator", training={"manifest_hash": "0" * 64, "datasets": ["/elsewhere"], "excluded_keys": []}))

    clean = connect(tmp_path / "clean.db")
    rid = _located(clean, clean_idx, photos / "astronaut.png")
    confirm_hits(clean, rid, ["astronaut"])
    done = erase(clean, rid, clean_idx)
    assert done.state == "index_rebuilt" and done.keys == ("astronaut",)

    conn = connect(tmp_path / "crash.db")
    rid = _located(conn, idx, photos / "astronaut.png")
    with pytest.raises(RequestError, match="no confirmed hits"):
        erase(conn, rid, idx)
    confirm_hits(conn, rid, ["astronaut"])

    def crash(step: str) -> None:
        if step == "state-erased":  # files already deleted, index not yet rebuilt
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        erase(conn, rid, idx, _before_step=crash)
    from audit.index import open_index

    assert "astronaut" not in {h.key for h in open_index(idx).search_image(photos / "astronaut.png", k=10)}  # denylisted at once
    assert not list((ds / "images").glob("astronaut.*"))
    again = erase(connect(tmp_path / "crash.db"), rid, idx)
    assert again.steps_run == ("state-erased", "rebuild", "residuals", "state-index_rebuilt") and again.state == "index_rebuilt"
    assert erase(conn, rid, idx).steps_run == ()  # idempotent
    a, b = _final_state(clean_ds, clean_idx), _final_state(ds, idx)
    assert a == b and "astronaut" not in a["manifest"] and a["count"] == 3 and a["denylist"] == ["astronaut"]

    assert "request #" in is_tombstoned(conn, photos / "astronaut.png")
    assert is_tombstoned(conn, photos.parent / "astronaut_small.jpg")  # re-encoded copy: perceptual hash
    assert is_tombstoned(conn, photos / "hopper.jpg") is None
    ms = affected_models(conn, rid, [model, other])
    assert [m.model_dir for m in ms] == [str(model)] and "held 1 erased" in ms[0].reason

    transition(conn, rid, "confirmed")
    letter = write_letter(conn, rid, tmp_path / "letter.html", ms).read_text()
    assert "Eileen Collins" in letter and "<strong>1</strong>" in letter and "intact" in letter
    assert verify_log(conn).ok
    log = "\n".join(str(tuple(r)) for r in conn.execute("SELECT * FROM audit_log"))
    assert "astronaut" not in log and "Eileen" not in log and "nasa" not in log

    # closing minimises: no name, contact, key or image path left anywhere in the database file
    import sqlite3

    dump = "\n".join(sqlite3.connect(tmp_path / "crash.db").iterdump())
    assert "Eileen" in dump and "astronaut" in dump  # before closing the reviewer still needs them
    transition(conn, rid, "closed")
    dump = "\n".join(sqlite3.connect(tmp_path / "crash.db").iterdump())
    for personal in ("Eileen", "eileen@example.org", "astronaut", "images/"):
        assert personal not in dump, personal
    from audit.index import read_denylist

    deny = read_denylist(idx)  # the denylist keeps no raw key beside the request id once closed
    assert "astronaut" not in set(deny["key"]) and all(str(k).startswith("salted:") for k in deny["key"])
    from audit.removal import get_request, key_hash
    from audit.removal.keys import load_keys
    from audit.removal.locate import candidates

    closed = get_request(conn, rid)
    assert closed.subject is None and closed.contact is None and closed.state == "closed"
    salted = load_keys(tmp_path / "crash.db").salted("astronaut")  # salt outside the DB: not recomputable from a name
    assert {c.key for c in candidates(conn, rid) if c.confirmed} == {salted} and salted != key_hash("astronaut")
    assert conn.execute("SELECT count(*) FROM tombstones WHERE request_id=?", (rid,)).fetchone()[0] == 1
    assert [m.model_dir for m in affected_models(conn, rid, [model, other])] == [str(model)]  # still answerable
    assert conn.execute("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()[0] == "minimised"
    assert verify_log(conn).ok
    from audit.removal.seal import verify

    assert verify(conn).ok, verify(conn).problems
    assert "Dear data subject" in write_letter(conn, rid, tmp_path / "after.md").read_text()
    with pytest.raises(RequestError, match="is closed"):
        erase(conn, rid, idx)


def test_cli_flow_and_reingest_refused(photos, tmp_path, capsys, monkeypatch):
    ds, idx = _world(photos, tmp_path)
    db = str(tmp_path / "r.db")
    assert main(["removal", "new", "--name", "Grace Hopper", "--contact", "g@example.org", "--removal-db", db]) == 0
    assert main(["removal", "move", "1", "verified", "--removal-db", db]) == 0
    capsys.readouterr()
    assert main(["removal", "locate", "1", "--index", str(idx), "--photo", str(photos / "hopper.jpg"), "--removal-db", db]) == 0
    assert "hopper\tphash" in capsys.readouterr().out
    assert main(["removal", "confirm-hits", "1", "hopper", "--removal-db", db]) == 0
    assert main(["removal", "erase", "1", "--index", str(idx), "--removal-db", db]) == 0
    assert "1 item(s) erased; state index_rebuilt" in capsys.readouterr().out
    assert main(["removal", "check", str(photos / "hopper.jpg"), "--removal-db", db]) == 1
    assert main(["removal", "move", "1", "confirmed", "--removal-db", db]) == 0
    assert main(["removal", "letter", "1", "--out", str(tmp_path / "l.md"), "--removal-db", db]) == 0
    assert "Grace Hopper" in (tmp_path / "l.md").read_text()
    assert main(["removal", "verify-log", "--removal-db", db]) == 0
    assert "hopper" not in set(pd.read_parquet(ds / "manifest.parquet")["key"])
    from audit.dataset.ingest import ingest

    # A re-crawl of the same folder must not bring her back: via the CLI option, and via the environment.
    assert main(["dataset", "ingest", str(photos), "--out", str(tmp_path / "again"), "--removal-db", db]) == 0
    assert sorted(pd.read_parquet(tmp_path / "again" / "manifest.parquet")["key"]) == ["astronaut", "coffee", "rocket"]
    assert "erased on request" in (tmp_path / "again" / "meta.json").read_text()
    monkeypatch.setenv("GENAUDIT_REMOVAL_DB", db)
    ingest(photos, tmp_path / "again-env")
    assert "hopper" not in set(pd.read_parquet(tmp_path / "again-env" / "manifest.parquet")["key"])


def test_rebuild_reuses_stored_vectors_and_reads_no_image(photos, tmp_path):
    """The erasure's rebuild copies the remaining rows' stored vectors/hashes: with every image file moved away
    before the rebuild it still succeeds (a re-embedding build could read none), and it equals a fresh build."""
    import numpy as np

    from audit.index import build_index
    from audit.index.build import build_index_report

    ds, idx = _world(photos, tmp_path)
    conn = connect(tmp_path / "r.db")
    rid = _located(conn, idx, photos / "astronaut.png")
    confirm_hits(conn, rid, ["astronaut"])
    away = tmp_path / "images-away"

    def hide_images(step: str) -> None:
        if step == "rebuild":
            (ds / "images").rename(away)

    try:
        done = erase(conn, rid, idx, _before_step=hide_images)
    finally:
        if away.exists():
            away.rename(ds / "images")
    assert done.state == "index_rebuilt"
    arg = json.loads(conn.execute("SELECT arg FROM erase_plan WHERE request_id=? AND name='rebuild'", (rid,)).fetchone()[0])
    assert arg["rebuild"]["mode"] == "reused" and arg["rebuild"]["reused_vectors"] == 3
    fresh = build_index(ds, tmp_path / "fresh", model=MODEL)  # re-embeds the 3 remaining images
    for name in ("ids.parquet", "hashes.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(idx / name), pd.read_parquet(fresh / name))
    np.testing.assert_allclose(np.load(idx / "vectors.npy"), np.load(fresh / "vectors.npy"), atol=1e-5)
    assert build_index_report(ds, idx, model=MODEL).up_to_date  # same meta inputs as a plain build


def test_tombstone_gets_a_phash_when_the_manifest_has_none(photos, tmp_path):
    """A hand-made manifest with empty or null pHash cells and null optional values (issue #16: `boolean value of NA
    is ambiguous`): erase works, and the tombstone must still stop a resized re-encode."""
    from audit.index import build_index
    from audit.records import read_manifest, write_manifest

    ds, _ = _world(photos, tmp_path)
    df = read_manifest(ds)
    subject = df["key"] == "astronaut"
    df["phash"] = ""
    df.loc[subject, ["phash", "url", "caption", "author", "license", "source", "width", "height"]] = pd.NA
    df["title"] = pd.Series([pd.NA] * len(df), dtype="string")  # an optional extra column, all null
    write_manifest(df, ds)
    assert read_manifest(ds).loc[lambda d: d["key"] == "astronaut", "phash"].isna().all()
    idx = build_index(ds, tmp_path / "idx2", model=MODEL)
    conn = connect(tmp_path / "r.db")
    rid = _located(conn, idx, photos.parent / "astronaut_small.jpg")
    confirm_hits(conn, rid, ["astronaut"])
    erase(conn, rid, idx)
    stored = conn.execute("SELECT phash FROM tombstones").fetchall()
    assert len(stored) == 1 and len(stored[0][0]) == 16
    assert "perceptual hash" in is_tombstoned(conn, photos.parent / "astronaut_small.jpg")
    assert is_tombstoned(conn, photos / "hopper.jpg") is None

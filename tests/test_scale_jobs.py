"""Spark jobs give the same answers as the single-machine commands on the same data (local[2], one session)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.scale.session import java_available

IMAGES = Path(__file__).parent / "data" / "images"
MODEL = "genaudit-tiny-clip@random:0"
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="session")
def spark():
    if not java_available():
        msg = "Java not found: Spark tests need openjdk-17-jre-headless"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    from audit.scale.session import spark_session

    s = spark_session("local[2]", "genaudit-tests", shuffle_partitions=2)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """img2dataset layout: 00000.parquet + 00000/<key>.<ext>, 00001.parquet (flat), one row not downloaded."""
    root = tmp_path_factory.mktemp("i2d")
    files = sorted(p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))[:8]
    rows = []
    for i, p in enumerate(files):
        shard = f"{i % 2:05d}"
        key = f"{i:09d}"
        folder = root / shard
        folder.mkdir(exist_ok=True)
        shutil.copy(p, folder / f"{key}{p.suffix}")
        rows.append({"shard": shard, "key": key, "url": f"https://img.example.org/{p.name}",
                     "caption": f"picture {i} of {p.stem}", "status": "success"})
    rows.append({"shard": "00001", "key": "000000099", "url": "https://gone.example.org/x.jpg", "caption": "gone",
                 "status": "failed_to_download"})
    df = pd.DataFrame(rows)
    for shard, grp in df.groupby("shard"):
        grp.drop(columns="shard").to_parquet(root / f"{shard}.parquet", index=False)
    return root


@pytest.fixture(scope="session")
def dataset(shards, tmp_path_factory):
    from audit.dataset.ingest import ingest

    out = tmp_path_factory.mktemp("ds") / "ds"
    ingest(shards, out, max_side=64)
    return out


def test_hash_shards_equals_ingest(spark, shards, dataset, tmp_path, capsys):
    from audit.cli import main
    from audit.records import read_manifest

    assert main(["scale", "hash", str(shards), "--out", str(tmp_path / "hashed"), "--max-side", "64"]) == 0
    assert "hashed 8 rows, 1 not hashed" in capsys.readouterr().out
    got = pd.read_parquet(tmp_path / "hashed").sort_values("key").reset_index(drop=True)
    want = read_manifest(dataset).sort_values("key").reset_index(drop=True)
    ok = got[got["error"].isna()].reset_index(drop=True)
    assert list(ok["key"]) == list(want["key"]) and len(ok) == 8
    for col in ("sha256", "phash", "url", "caption"):
        assert list(ok[col]) == list(want[col].astype(str)), col
    assert list(ok["width"]) == list(want["width"]) and list(ok["height"]) == list(want["height"])
    gone = got[got["key"] == "000000099"].iloc[0]
    assert pd.isna(gone["sha256"]) and gone["error"] == "not downloaded (failed_to_download)"


def _registry(tmp_path, manifest: pd.DataFrame) -> Path:
    from audit.optout.registry import Registry

    db = tmp_path / "r.db"
    with Registry(db) as r:
        r.add("artist", "Claude Monet", aliases=["Monet"])
        r.add("url", "https://Example.com/a.jpg")
        r.add("url_prefix", "https://gallery.org/private/")
        r.add("domain", "Exämple.de", scope="all-tdm")
        r.add("sha256", manifest["sha256"].iloc[3])
        r.add("phash", manifest["phash"].iloc[5])
        r.add("domain", "img.example.org")
        r.add("artist", "Jan Smit", scope="search")
        e, _ = r.add("url", "https://withdrawn.org/a.jpg")
        r.deactivate(e.id, "test")
    return db


def test_optout_check_equals_single_machine(spark, dataset, tmp_path):
    from audit.cli import main
    from audit.optout.apply import run_check
    from audit.records import read_manifest, write_manifest
    from audit.scale.optout import check

    base = read_manifest(dataset)
    extra = pd.DataFrame({
        "key": [f"x{i}" for i in range(7)],
        "url": ["http://EXAMPLE.com/a.jpg#frag", "https://gallery.org/private/x.png", "https://cdn.EXÄMPLE.de/y",
                "not a url", "https://withdrawn.org/a.jpg", None, "http://h:99x/a"],
        "caption": ["water lilies by Claude Monet", "Claude Monetti portrait", "monetary policy", "Monet-like garden",
                    "a monet print", "Jan Smit", None],
        "author": ["", "", "Monet", "", "", "", ""],
        "sha256": [base["sha256"].iloc[3]] + ["b" * 64] * 6,
        "phash": [base["phash"].iloc[5][:-1] + "0", "zz", None, "", "1", "ff", base["phash"].iloc[5]],
    })
    man = pd.concat([base, extra], ignore_index=True)
    mdir = tmp_path / "m"
    write_manifest(man, mdir)
    db = _registry(tmp_path, man)
    single = run_check(mdir / "manifest.parquet", db, tmp_path / "single.parquet").matches
    reg_pq = tmp_path / "registry.parquet"
    assert main(["scale", "export-registry", "--registry", str(db), "--out", str(reg_pq)]) == 0
    assert main(["scale", "optout-check", str(mdir / "manifest.parquet"), "--registry", str(reg_pq),
                 "--out", str(tmp_path / "spark.parquet"), "--single-file"]) == 0
    got = pd.read_parquet(tmp_path / "spark.parquet")
    want = pd.read_parquet(tmp_path / "single.parquet")
    assert len(want) >= 12 and set(want["rule"]) >= {"url", "url_prefix", "domain", "sha256", "phash", "artist"}
    assert list(got.columns) == list(want.columns)
    cols = ["key", "rule", "entry_id", "field", "matched", "reason"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True), check_dtype=False)
    assert list(got["distance"].fillna(-1).astype(int)) == list(want["distance"].fillna(-1).astype(int))
    assert set(pd.read_parquet(tmp_path / "spark.problems.parquet")["key"]) == {"x3", "x6"}
    # the partitioned (cluster) output holds the same rows
    counts = check(spark, mdir / "manifest.parquet", reg_pq, tmp_path / "parts")
    assert counts["rows_covered"] == single["key"].nunique() and counts["malformed_urls"] == 2
    parts = pd.read_parquet(tmp_path / "parts")
    assert sorted(zip(parts["key"], parts["rule"], parts["entry_id"])) == sorted(zip(want["key"], want["rule"], want["entry_id"]))


def test_index_build_equals_single_machine(spark, dataset, tmp_path):
    from audit.index import build_index, open_index
    from audit.scale.index import build_index_spark

    single = build_index(dataset, tmp_path / "single", model=MODEL)
    meta = build_index_spark(spark, dataset, tmp_path / "spark", model=MODEL)
    assert meta["count"] == 8 and meta["engine"] == "spark"
    a, b = open_index(single), open_index(tmp_path / "spark")
    assert a.meta["weights_sha256"] == b.meta["weights_sha256"] and a.meta["factory"] == b.meta["factory"]
    np.testing.assert_allclose(np.load(tmp_path / "spark" / "vectors.npy"), np.load(single / "vectors.npy"), atol=1e-5)
    for name in ("ids.parquet", "hashes.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "spark" / name), pd.read_parquet(single / name))
    ha, hb = a.search_text("picture 3", k=5), b.search_text("picture 3", k=5)
    assert [h.key for h in ha] == [h.key for h in hb]
    # re-running with the same inputs is a no-op
    from audit.cli import main

    # an IVF index (trained on a seeded sample) in the same layout; nprobe covers both lists, so same hits
    ivf = build_index_spark(spark, dataset, tmp_path / "ivf", model=MODEL, factory="IVF2,Flat")
    assert ivf["factory"] == "IVF2,Flat" and ivf["params"]["nprobe"] == 2
    assert [h.key for h in open_index(tmp_path / "ivf").search_text("picture 3", k=5)] == [h.key for h in ha]
    before = (tmp_path / "spark" / "vectors.faiss").stat().st_mtime_ns
    assert main(["scale", "index-build", str(dataset), "--out", str(tmp_path / "spark"), "--model", MODEL]) == 0
    assert (tmp_path / "spark" / "vectors.faiss").stat().st_mtime_ns == before  # same inputs: nothing rebuilt


def test_locate_cli_finds_request_items_across_shards(spark, dataset, tmp_path, capsys):
    from audit.cli import main
    from audit.records import read_manifest, write_manifest

    man = read_manifest(dataset)
    man["author"] = ["Eileen Collins" if i == 2 else "someone" for i in range(len(man))]
    for i, part in enumerate((man.iloc[:4], man.iloc[4:])):  # two shards
        write_manifest(part, tmp_path / f"s{i}")
        (tmp_path / "shards").mkdir(exist_ok=True)
        (tmp_path / f"s{i}" / "manifest.parquet").rename(tmp_path / "shards" / f"part-{i}.parquet")
    want = {man["key"].iloc[2], man["key"].iloc[6], man["key"].iloc[7]}
    rc = main(["scale", "locate", str(tmp_path / "shards"), "--name", "Eileen Collins", "--sha256", man["sha256"].iloc[6].upper(),
               "--url", man["url"].iloc[7].replace("https://img.", "HTTPS://IMG."), "--out", str(tmp_path / "hits.parquet")])
    assert rc == 0, capsys.readouterr()
    hits = pd.read_parquet(tmp_path / "hits.parquet")
    assert set(hits["key"]) == want
    assert {Path(s).name for s in hits["shard"]} == {"part-0.parquet", "part-1.parquet"}
    assert "3 items in 2 shards" in capsys.readouterr().out
    assert main(["scale", "locate", str(tmp_path / "shards")]) == 2  # nothing to locate: one-line error


def test_missing_java_is_one_line_error(tmp_path, monkeypatch, capsys):
    from audit.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert main(["scale", "optout-check", str(tmp_path), "--registry", str(tmp_path / "r.parquet"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Java not found" in err and "openjdk-17-jre-headless" in err


def test_hash_webdataset_tars_equals_ingest(spark, shards, dataset, tmp_path):
    import io
    import json
    import tarfile

    from audit.records import read_manifest
    from audit.scale.images import hash_shards

    rows = pd.concat([pd.read_parquet(p) for p in sorted(shards.glob("*.parquet"))])
    (tmp_path / "wds").mkdir()
    for shard in ("00000", "00001"):
        with tarfile.open(tmp_path / "wds" / f"{shard}.tar", "w") as tf:
            for img in sorted((shards / shard).iterdir()):
                rec = rows[rows["key"] == img.stem].iloc[0]
                tf.add(img, arcname=img.name)
                data = json.dumps({"url": rec["url"], "caption": rec["caption"]}).encode()
                info = tarfile.TarInfo(f"{img.stem}.json")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    got = hash_shards(spark, tmp_path / "wds", max_side=64).toPandas().sort_values("key").reset_index(drop=True)
    want = read_manifest(dataset).sort_values("key").reset_index(drop=True)
    assert got["error"].isna().all() and list(got["key"]) == list(want["key"])
    for col in ("sha256", "phash", "url", "caption"):
        assert list(got[col]) == list(want[col].astype(str)), col
    assert got["original_path"].str.contains(".tar::").all()


@pytest.fixture(scope="session")
def erased_shards(shards, tmp_path_factory):
    """The img2dataset shards plus byte-identical copies, and a real removal DB in which one image was erased.

    000000010 (folder 00000) copies 000000001 (folder 00001): ingest walks paths in order, so it keeps 000000010.
    000000012 copies 000000004, which a real erase (locate → confirm → erase on a real index) tombstoned: the
    erasure wins over the dedupe for both. Returns (shards folder, requests.db)."""
    from audit.dataset.ingest import ingest
    from audit.index import build_index
    from audit.records import read_manifest
    from audit.removal import (
        confirm_hits,
        connect,
        create_request,
        erase,
        locate,
        transition,
    )

    tmp = tmp_path_factory.mktemp("erased")
    root = tmp / "i2d"
    shutil.copytree(shards, root)
    for src, folder, key in (("00001/000000001", "00000", "000000010"), ("00000/000000004", "00001", "000000012")):
        img = next((root / src).parent.glob(Path(src).name + ".*"))
        shutil.copy(img, root / folder / f"{key}{img.suffix}")
        shard = root / f"{folder}.parquet"
        rows = pd.read_parquet(shard)
        extra = pd.DataFrame([{"key": key, "url": f"https://mirror.example.net/{key}{img.suffix}",
                               "caption": f"copy {key}", "status": "success"}])
        pd.concat([rows, extra], ignore_index=True).to_parquet(shard, index=False)
    ds = tmp / "ds"
    ingest(shards, ds, max_side=64)
    idx = build_index(ds, tmp / "idx", model=MODEL)
    conn = connect(tmp / "requests.db")
    r = create_request(conn, "Data Subject", "subject@example.org")
    transition(conn, r.id, "verified")
    url = read_manifest(ds).set_index("key").loc["000000004", "url"]
    locate(conn, r.id, idx, url=url)
    confirm_hits(conn, r.id, ["000000004"])
    assert erase(conn, r.id, idx).keys == ("000000004",)
    conn.close()
    return root, tmp / "requests.db"


def _skips(df: pd.DataFrame) -> set[tuple[str, str]]:
    return {(k, r) for k, r in zip(df["key"], df["skipped"]) if isinstance(r, str)}


def test_hash_skips_duplicates_and_tombstones_like_ingest(spark, erased_shards, tmp_path, capsys, monkeypatch):
    import json

    from audit.cli import main
    from audit.dataset.ingest import ingest
    from audit.records import read_manifest
    from audit.scale.images import hash_shards

    root, db = erased_shards
    monkeypatch.delenv("GENAUDIT_REMOVAL_DB", raising=False)
    ingest(root, tmp_path / "ds", max_side=64, tombstones=db)
    want = read_manifest(tmp_path / "ds").sort_values("key").reset_index(drop=True)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    want_skips = {(Path(s["file"]).stem, s["reason"]) for s in meta["skipped"]
                  if s["reason"].startswith(("exact duplicate", "erased on request"))}
    erased = {"000000004", "000000012"}
    assert {k for k, r in want_skips if r.startswith("erased on request (perceptual hash within")} == erased
    assert ("000000001", "exact duplicate of 000000010") in want_skips and len(want_skips) == 3

    assert main(["scale", "hash", str(root), "--out", str(tmp_path / "hashed"), "--max-side", "64",
                 "--removal-db", str(db)]) == 0
    assert "hashed 8 rows, 1 not hashed (see the error column); skipped 1 exact duplicates, 2 erased on request" \
        in capsys.readouterr().out
    got = pd.read_parquet(tmp_path / "hashed").sort_values("key").reset_index(drop=True)
    assert _skips(got) == want_skips
    kept = got[got["error"].isna() & got["skipped"].isna()].reset_index(drop=True)
    assert list(kept["key"]) == list(want["key"]) and len(kept) == 7
    for col in ("sha256", "phash", "url", "caption"):
        assert list(kept[col]) == list(want[col].astype(str)), col
    gone = got[got["key"].isin(erased)]
    assert gone["url"].isna().all() and gone["caption"].isna().all() and gone["sha256"].isna().all()
    run_meta = json.loads((tmp_path / "hashed.meta.json").read_text())
    assert run_meta["erased"] == 2 and run_meta["duplicates"] == 1 and run_meta["tombstones"] == str(db)
    assert main(["scale", "hash", str(root), "--out", str(tmp_path / "h2"), "--removal-db", str(tmp_path / "nope.db")]) == 2
    assert "removal database" in capsys.readouterr().err and not (tmp_path / "h2").exists()

    # $GENAUDIT_REMOVAL_DB is honoured like ingest's; --keep-duplicates keeps the copy, the erasure still wins
    monkeypatch.setenv("GENAUDIT_REMOVAL_DB", str(db))
    keep = hash_shards(spark, root, max_side=64, keep_duplicates=True).toPandas()
    assert _skips(keep) == {(k, r) for k, r in want_skips if k in erased}
    # no tombstones at all: the erased images and their copy come back, and the copy is a duplicate again
    monkeypatch.delenv("GENAUDIT_REMOVAL_DB")
    plain = hash_shards(spark, root, max_side=64).toPandas()
    assert _skips(plain) == {("000000001", "exact duplicate of 000000010"), ("000000012", "exact duplicate of 000000004")}


def test_hash_image_applies_the_tombstone_rule_of_removal(tmp_path):
    """Executors call the same `Tombstones.reason` as `Tombstones.check` (ingest): sha256 first, then pHash."""
    from audit.images import load_rgb
    from audit.meta import sha256_file
    from audit.perceptual import phash
    from audit.removal.tombstones import Tombstones
    from audit.scale.images import hash_image

    img = IMAGES / "astronaut.jpg"
    ph = phash(load_rgb(img))
    for t, why in ((Tombstones({sha256_file(img): 7}, ()), "sha256 erased under request #7"),
                   (Tombstones({}, ((ph ^ 0b111, 3), (ph ^ 0xFF00, 2))),
                    "perceptual hash within 3 bits of an image erased under request #3")):
        assert t.check(img) == why
        assert hash_image(img, 64, "jpeg", t) == {"skipped": f"erased on request ({why})", "url": None, "caption": None}
    far = Tombstones({"0" * 64: 1}, ((ph ^ 0b11_1111_1111, 4),))  # 10 bits: beyond the frozen distance
    assert far.check(img) is None and hash_image(img, 64, "jpeg", far)["sha256"] == hash_image(img, 64, "jpeg")["sha256"]

"""audit.card: a dataset card over real images with a planted exact and near duplicate, rows missing
caption/author/licence, a real opt-out registry, a real (random-init tiny CLIP) index; compare mode, zero rows,
index/manifest disagreement, CLI through audit.cli.main (the app page: test_card_app.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageOps

from audit.meta import make_meta, sha256_file, write_meta
from audit.records import read_manifest, write_manifest

MODEL = "genaudit-tiny-clip@random:0"
DATA = Path(__file__).resolve().parent / "data" / "images"
CAPTIONS = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
FILES = ["oc_lemon.png", "oc_sailboat_illustration.png", "oc_saturn_dan_gerhards_01.png", "wp_LadyBird.jpg",
         "astronaut.jpg", "oc_home0.png", "oc_cartoon_tree_01.png"]


def _row(ds: Path, key: str, rel: str, caption, author, licence, source) -> dict:
    import imagehash

    with Image.open(ds / rel) as img:
        size, phash = img.size, str(imagehash.phash(img.convert("RGB")))
    return dict(key=key, path=rel, url=f"https://img.example/{key}", caption=caption, width=size[0], height=size[1],
                sha256=sha256_file(ds / rel), phash=phash, author=author, license=licence, source=source)


def make_dataset(ds: Path, files=FILES) -> Path:
    """Real images + an exact copy of the lemon + a resized JPEG of the sailboat + one row with no metadata."""
    (ds / "images").mkdir(parents=True)
    rows = []
    for f in files:
        shutil.copyfile(DATA / f, ds / "images" / f)
        m = CAPTIONS[f]
        rows.append(_row(ds, Path(f).stem, f"images/{f}", m["caption"], m["author"], m["license"], m["source"]))
    shutil.copyfile(DATA / "oc_lemon.png", ds / "images" / "lemon_copy.png")
    rows.append(_row(ds, "lemon_copy", "images/lemon_copy.png", "a lemon again", "Someone Else", "CC-BY-4.0", "web:copy"))
    with Image.open(DATA / "oc_sailboat_illustration.png") as img:
        small = img.convert("RGB")
        small.resize((small.width * 3 // 4, small.height * 3 // 4)).save(ds / "images" / "sail_small.jpg", quality=85)
    rows.append(_row(ds, "sail_small", "images/sail_small.jpg", "un bateau à voile sur la mer", None, None, "web:copy"))
    shutil.copyfile(DATA / "oc_home0.png", ds / "images" / "bare.png")
    rows.append(_row(ds, "bare", "images/bare.png", None, None, None, None) | {"url": None})
    write_manifest(pd.DataFrame(rows), ds)
    write_meta(ds, make_meta("dataset", count=len(rows)))
    return ds


def add_flipped(ds: Path, name: str = "astronaut.jpg", key: str = "astronaut_flipped") -> Path:
    """Append a real horizontally flipped, downscaled JPEG copy of a test image (pHash as the rows above)."""
    with Image.open(DATA / name) as img:
        flipped = ImageOps.mirror(img.convert("RGB"))
    flipped.resize((flipped.width * 3 // 4, flipped.height * 3 // 4)).save(ds / "images" / f"{key}.jpg", quality=85)
    row = _row(ds, key, f"images/{key}.jpg", "the same photo, mirrored", "Mirror Site", "CC-BY-4.0", "web:mirror")
    write_manifest(pd.concat([read_manifest(ds), pd.DataFrame([row])], ignore_index=True), ds)
    return ds


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    import torch

    torch.set_num_threads(1)
    from audit.index import build_index

    root = tmp_path_factory.mktemp("card")
    ds = make_dataset(root / "ds")
    index = build_index(ds, root / "index", model=MODEL)
    return {"root": root, "ds": ds, "index": index}


def test_counts_unknowns_duplicates(world):
    from audit.card import build_card

    card = build_card(world["ds"])
    assert card.rows == len(FILES) + 3 and card.input_kind == "manifest" and card.concepts is None
    assert card.unknown["author"] == 2 and card.unknown["license"] == 2 and card.unknown["caption"] == 1
    lic = dict(card.licenses)
    assert lic["(unknown)"] == 2 and lic["CC-BY-4.0"] == 1 and sum(lic.values()) == card.rows
    assert dict(card.authors_top)["(unknown)"] == 2
    assert dict(card.sources)["web:copy"] == 2 and dict(card.sources)["(unknown)"] == 1
    assert dict(card.domains)["img.example"] == card.rows - 1 and dict(card.domains)["(unknown)"] == 1
    assert dict(card.formats) == {"png": 7, "jpg": 3}
    # planted duplicates: lemon byte copy (exact, and near at distance 0), resized JPEG sailboat (near only)
    exact = [sorted(m["key"] for m in c) for c in card.exact_duplicates]
    assert ["lemon_copy", "oc_lemon"] in exact and ["bare", "oc_home0"] in exact and len(exact) == 2
    near = [sorted(m["key"] for m in c) for c in card.near_duplicates]
    assert ["oc_sailboat_illustration", "sail_small"] in near and ["lemon_copy", "oc_lemon"] in near
    assert all(Path(m["path"]).is_file() for c in card.near_duplicates for m in c)
    assert card.captions["with_caption"] == card.rows - 1
    assert dict(card.captions["languages"])["fr"] == 1 and dict(card.captions["languages"])["(unknown)"] == 1
    assert "all-pairs" in card.duplicate_method


def test_index_card_concepts_optout_removal_html(world, tmp_path):
    from audit.card import build_card, write_card
    from audit.optout.registry import open_registry

    db = tmp_path / "reg.db"
    with open_registry(db, create=True) as reg:
        reg.add("artist", "NASA")
        reg.add("url", "https://img.example/oc_lemon")
    erased = tmp_path / "erased.txt"
    erased.write_text("# erased\nwp_LadyBird\nnot-in-set\n", encoding="utf-8")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("fruit: a lemon\nfruit: a boat\npeople: one person\npeople: no people\n", encoding="utf-8")
    card = build_card(world["index"], registry=db, requests=erased, prompts=prompts)
    assert card.input_kind == "index" and card.rows == len(FILES) + 3 and not card.warnings
    assert card.optout["rows_covered"] == 2 and set(card.optout["keys"]) == {"astronaut", "oc_lemon"}
    assert card.removal["rows_still_present"] == 1 and card.removal["keys"] == ["wp_LadyBird"]
    groups = {g["group"]: g for g in card.concepts}
    assert set(groups) == {"fruit", "people"} and groups["people"]["aggregate_only"]
    assert sum(p["count"] for p in groups["fruit"]["prompts"]) == card.rows
    assert all(p["examples"] == [] for p in groups["people"]["prompts"])
    assert all(len(p["examples"]) == min(p["count"], 8) for p in groups["fruit"]["prompts"])
    out = write_card(card, tmp_path / "card")
    html = (out / "card.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "src=\"http" not in html and "aggregate only" in html
    assert "(unknown)" in html and "genaudit-tiny-clip@random:0" in html
    data = json.loads((out / "card.json").read_text(encoding="utf-8"))
    assert data["card"]["rows"] == card.rows and json.loads((out / "meta.json").read_text())["kind"] == "dataset-card"


def test_compare_zero_rows_and_mismatch(world, tmp_path):
    from audit.card import build_card, compare_cards, render_html

    old_ds = tmp_path / "old"
    shutil.copytree(world["ds"], old_ds)
    df = read_manifest(old_ds)
    df = df[~df["key"].isin(["lemon_copy", "sail_small"])]
    extra = df.iloc[[0]].assign(key="gone", license="GPL-2+", author="Old Author")
    write_manifest(pd.concat([df, extra]), old_ds)
    cmp = compare_cards(build_card(old_ds), build_card(world["ds"]))
    assert (cmp.added, cmp.removed) == (2, 1) and cmp.added_keys == ["lemon_copy", "sail_small"]
    deltas = {v: d for v, _, _, d in cmp.license_deltas}
    assert deltas["CC-BY-4.0"] == 1 and deltas["GPL-2+"] == -1 and deltas["(unknown)"] == 1
    assert {v: d for v, _, _, d in cmp.author_deltas}["Old Author"] == -1
    assert "2</b> rows added" in render_html(cmp.new, cmp)

    empty = tmp_path / "empty"
    empty.mkdir()
    write_manifest(read_manifest(world["ds"]).iloc[0:0], empty)
    card = build_card(empty)
    assert card.rows == 0 and card.exact_duplicates == [] and "no rows" in card.warnings[0]
    assert "This manifest has no rows" in render_html(card)

    # the index was built from the full set; the old manifest lacks 2 of its rows and has one it lacks
    card = build_card(old_ds, index=world["index"])
    msg = card.warnings[0]
    assert "disagree" in msg and "not the index: 1 (gone)" in msg and "not the manifest: 2 (lemon_copy, sail_small)" in msg


def test_cli(world, tmp_path, capsys):
    from audit.cli import main

    out = tmp_path / "c"
    assert main(["dataset", "card", str(world["ds"]), "--out", str(out), "--compare", str(world["ds"])]) == 0
    assert "10 rows" in capsys.readouterr().out and (out / "card.html").is_file()
    assert json.loads((out / "card.json").read_text())["comparison"]["added"] == 0
    assert main(["dataset", "card", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "no manifest" in capsys.readouterr().err
    bad = tmp_path / "p.txt"
    bad.write_text("no group here\n")
    assert main(["dataset", "card", str(world["ds"]), "--out", str(out), "--prompts", str(bad)]) == 2
    assert "no 'group:' prefix" in capsys.readouterr().err



def test_removal_request_db(world, tmp_path):
    """A real audit.removal DB: a located + confirmed request, and a tombstone of an image that is still present."""
    import time

    from audit.card import build_card
    from audit.removal import confirm_hits, connect, create_request, locate, transition

    db = tmp_path / "requests.db"
    conn = connect(db)
    rid = create_request(conn, "Eileen Collins", "ec@example.org").id
    transition(conn, rid, "verified")
    locate(conn, rid, world["index"], photo=DATA / "astronaut.jpg")
    confirm_hits(conn, rid, ["astronaut"])
    lemon = read_manifest(world["ds"]).set_index("key").loc["oc_lemon"]
    conn.execute("INSERT INTO tombstones (sha256, phash, request_id, added_unix) VALUES (?, ?, ?, ?)",
                 (lemon["sha256"], lemon["phash"], rid, int(time.time())))
    conn.close()
    r = build_card(world["ds"], requests=db).removal
    assert r["requests_total"] == 1 and r["rows_requested"] == 1
    assert r["rows_still_present"] == 2 and r["keys"] == ["astronaut", "lemon_copy", "oc_lemon"]
    assert r["share"] == 0.3


def test_flipped_copy_joins_near_cluster(tmp_path):
    """A real horizontally flipped (and downscaled JPEG) copy of a photo: 30+ bits from the original's pHash, so
    only the mirror-aware clustering joins it; nothing else changes and the flipped member is marked."""
    from audit.card import build_card
    from audit.card.stats import hash_distance, parse_hashes

    ds = add_flipped(make_dataset(tmp_path / "ds"))
    df = read_manifest(ds).set_index("key")
    (a, b), _ = parse_hashes(df.loc[["astronaut", "astronaut_flipped"], "phash"].tolist())
    assert hash_distance(a, b) > 20 and hash_distance(a, b, mirror=True) <= 8
    card = build_card(ds)
    near = {tuple(sorted(m["key"] for m in c)): c for c in card.near_duplicates}
    assert ("astronaut", "astronaut_flipped") in near and card.near_mirror
    flags = {m["key"]: m["mirrored"] for m in near[("astronaut", "astronaut_flipped")]}
    assert flags["astronaut"] != flags["astronaut_flipped"]  # relative to the first member
    assert not any(m["mirrored"] for k, c in near.items() if "astronaut" not in k for m in c)
    assert "flipped copies matched" in card.duplicate_method and "1 member(s) shown as 'mirrored'" in card.duplicate_method
    plain = build_card(ds, mirror=False)
    plain_near = {tuple(sorted(m["key"] for m in c)) for c in plain.near_duplicates}
    assert plain_near == set(near) - {("astronaut", "astronaut_flipped")}
    assert "mirrored copies are not matched" in plain.duplicate_method


def test_swapped_or_missing_databases_refused_untouched(world, tmp_path, capsys):
    """The registry given as --removal-db (or the request DB as --registry) is refused with one line naming the
    file, before anything opens it (audit.optout/audit.removal would add their tables to it)."""
    from audit.card import build_card
    from audit.cli import main
    from audit.errors import InputError
    from audit.optout.registry import open_registry
    from audit.removal import connect

    reg = tmp_path / "optout.db"
    with open_registry(reg, create=True) as r:
        r.add("artist", "NASA")
    req = tmp_path / "requests.db"
    connect(req).close()
    before = {p: sha256_file(p) for p in (reg, req)}
    with pytest.raises(InputError, match="is an opt-out registry"):
        build_card(world["ds"], requests=reg)
    with pytest.raises(InputError, match="is a removal-request database"):
        build_card(world["ds"], registry=req)
    with pytest.raises(InputError, match="does not exist"):
        build_card(world["ds"], registry=tmp_path / "nope.db")
    assert {p: sha256_file(p) for p in (reg, req)} == before
    assert main(["dataset", "card", str(world["ds"]), "--out", str(tmp_path / "c"), "--registry", str(req)]) == 2
    err = capsys.readouterr().err
    assert "requests.db is a removal-request database" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()
    card = build_card(world["ds"], registry=reg, requests=req)  # the right way round works
    assert card.optout["rows_covered"] == 1 and card.optout["examples"][0]["key"] == "astronaut"
    assert card.removal["rows_requested"] == 0 and card.removal["examples"] == []


def test_cli_unknowns_zero_rows_mismatch_and_filter_comparison(world, tmp_path, capsys):
    """Through `audit dataset card`: unknowns shown, a zero-row manifest, an index that disagrees with the
    manifest (the warning names the rows), and before/after a real `filter_dataset` with the same registry."""
    from audit.cli import main
    from audit.optout.apply import filter_dataset
    from audit.optout.registry import open_registry

    db = tmp_path / "reg.db"
    with open_registry(db, create=True) as reg:
        reg.add("artist", "NASA")
        reg.add("url", "https://img.example/oc_lemon")
    kept, excluded = filter_dataset(world["ds"], db, tmp_path / "filtered")
    assert (kept, excluded) == (8, 2)
    out = tmp_path / "cmp"
    assert main(["dataset", "card", str(tmp_path / "filtered"), "--out", str(out), "--compare", str(world["ds"]),
                 "--registry", str(db)]) == 0
    assert "8 rows" in capsys.readouterr().out
    data = json.loads((out / "card.json").read_text(encoding="utf-8"))
    cmp = data["comparison"]
    assert (cmp["added"], cmp["removed"], cmp["removed_keys"]) == (0, 2, ["astronaut", "oc_lemon"])
    assert data["card"]["optout"]["rows_covered"] == 0 and data["compared_with"]["optout"]["rows_covered"] == 2
    assert data["card"]["unknown"]["license"] == 2 and dict(data["card"]["licenses"])["(unknown)"] == 2
    html = (out / "card.html").read_text(encoding="utf-8")
    assert "<td>opted-out rows</td><td>2</td><td>0</td><td>-2</td>" in html and "(unknown)" in html

    empty = tmp_path / "empty"
    empty.mkdir()
    write_manifest(read_manifest(world["ds"]).iloc[0:0], empty)
    assert main(["dataset", "card", str(empty), "--out", str(tmp_path / "e")]) == 0
    assert "no rows" in capsys.readouterr().err
    assert "This manifest has no rows" in (tmp_path / "e" / "card.html").read_text(encoding="utf-8")

    part = tmp_path / "part"
    shutil.copytree(world["ds"], part)
    write_manifest(read_manifest(part).query("key not in ['bare', 'oc_home0']"), part)
    assert main(["dataset", "card", str(part), "--index", str(world["index"]), "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert "10 indexed vs 8 in manifest" in err and "in the index but not the manifest: 2 (bare, oc_home0)" in err


def test_dhash_check_splits_layout_alike_cards_but_keeps_real_copies() -> None:
    """Two different cards of one deck share a pHash neighbourhood (4 bits) but not a dHash; a resized JPEG copy
    shares both. Real shipped drawings, hashes computed exactly as the index computes them."""
    import io

    import numpy as np
    from PIL import Image

    from audit.card import stats as S
    from audit.config import REFERENCE_DIR
    from audit.perceptual import encode

    names = ["oc-recreation-games-cards-simple-simple-h-3.jpg", "oc-recreation-games-cards-bordered-bordered-s-3.jpg"]
    imgs = [Image.open(REFERENCE_DIR / "images" / n).convert("RGB") for n in names]
    buf = io.BytesIO()
    imgs[0].resize((imgs[0].width * 3 // 4, imgs[0].height * 3 // 4)).save(buf, "JPEG", quality=75)
    imgs.append(Image.open(buf).convert("RGB"))  # row 2: a re-encoded copy of row 0
    hs = [encode(i) for i in imgs]
    ph = np.array([h.phash for h in hs], np.uint64)
    dh = np.array([h.dhash for h in hs], np.uint64)
    clusters, _ = S.near_clusters(ph, np.ones(3, bool), 8)
    assert sorted(map(sorted, clusters)) == [[0, 1, 2]]  # pHash alone joins the two different cards
    confirmed, unsplit = S.confirm_clusters(clusters, ph, dh, np.ones(3, bool), 8)
    assert confirmed == [[0, 2]] and unsplit == 0
    # Without dHash for a row, its pHash links stand (manifest-only cards behave as before).
    kept, _ = S.confirm_clusters(clusters, ph, dh, np.array([True, False, True]), 8)
    assert sorted(map(sorted, kept)) == [[0, 1, 2]]

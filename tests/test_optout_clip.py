"""`audit optout check --index`: an artist's example image matched by CLIP against a real dataset index.

Real parts only: scikit-image's bundled photos, the shipped tiny CLIP (data/tiny_clip), a real faiss
index built by `audit.index.build_index`, a real SQLite registry, and the CLI entry point.
"""

from __future__ import annotations

import io
import json

import imagehash
import pandas as pd
import pytest
from PIL import Image

from audit import config
from audit.cli import main
from audit.meta import sha256_file
from audit.records import write_manifest

pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")
pytestmark = pytest.mark.skipif(not (config.TINY_CLIP_DIR / "model.pt").is_file(), reason="shipped tiny CLIP missing")

MODEL = "genaudit-tiny-clip"
N_COPIES = 70  # more than the first k=64 neighbours fetched: every copy above the threshold must be found


def _rgb(name: str) -> Image.Image:
    return Image.fromarray(getattr(skdata, name)()).convert("RGB")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The artist's example (chelsea.png, kept out of the dataset), a dataset holding re-hosted copies of it
    (resized + JPEG at varying quality) and unrelated photos, and an index of that dataset."""
    from audit.index import build_index

    root = tmp_path_factory.mktemp("optout-clip")
    example = _rgb("chelsea")
    example_file = root / "my_cat_painting.png"
    example.save(example_file)
    ds = root / "ds"
    (ds / "images").mkdir(parents=True)
    items: list[tuple[str, Image.Image, str]] = []
    for i in range(N_COPIES):
        scale = 0.35 + 0.005 * i
        copy = example.resize((int(example.width * scale), int(example.height * scale)))
        buf = io.BytesIO()
        copy.save(buf, "JPEG", quality=50 + i % 40)
        items.append((f"rehost{i:02d}", Image.open(buf).convert("RGB"), f"https://mirror{i}.example/cat_{i}.jpg"))
    for name in ("coffee", "rocket", "astronaut"):
        items.append((name, _rgb(name).resize((160, 120)), f"https://photos.example/{name}.jpg"))
    rows = []
    for key, img, url in items:
        p = ds / "images" / f"{key}.jpg"
        img.save(p, "JPEG", quality=90)
        rows.append({"key": key, "path": f"images/{key}.jpg", "url": url, "caption": f"photo {key}",
                     "width": img.width, "height": img.height, "sha256": sha256_file(p),
                     "phash": str(imagehash.phash(img)), "author": "uploader", "license": "unknown", "source": "test"})
    write_manifest(pd.DataFrame(rows), ds)
    index = build_index(ds, root / "idx", model=MODEL)
    return root, example_file, ds, index


def test_check_index_matches_rehosted_copies_with_distance(world, tmp_path, capsys):
    _, example_file, ds, index = world
    db = str(tmp_path / "r.db")
    assert main(["optout", "add", "image", str(example_file), "--registry", db, "--model", MODEL,
                 "--artist", "Jo Painter", "--source", "artist form"]) == 0
    out = tmp_path / "m.parquet"
    assert main(["optout", "check", str(ds), "--registry", db, "--out", str(out), "--index", str(index)]) == 0
    assert "rule_clip" in capsys.readouterr().out
    m = pd.read_parquet(out)
    clip = m[m["rule"] == "clip"]
    assert set(clip["key"]) == {f"rehost{i:02d}" for i in range(N_COPIES)}  # all of them, none of the unrelated photos
    assert not set(m["key"]) & {"coffee", "rocket", "astronaut"}
    assert (clip["distance"] <= 1 - config.CLIP_DUPLICATE_COSINE).all() and (clip["distance"] >= 0).all()
    row = clip[clip["key"] == "rehost00"].iloc[0]
    assert row["url"] == "https://mirror0.example/cat_0.jpg" and row["field"] == "image"
    assert "CLIP cosine" in row["reason"] and "Jo Painter" in row["reason"] and f"{row['distance']:.3f}" in row["reason"]
    assert float(row["matched"]) == pytest.approx(1 - row["distance"], abs=1e-3)
    assert json.loads((tmp_path / "m.meta.json").read_text())["index"] == str(index)
    # the file itself is not in the dataset: no sha256 hit, so the match is the content, not the bytes
    assert "sha256" not in set(m["rule"])
    strict = tmp_path / "strict.parquet"
    assert main(["optout", "check", str(ds), "--registry", db, "--out", str(strict), "--index", str(index),
                 "--min-clip", "0.9999"]) == 0
    s = pd.read_parquet(strict)
    s_clip = s[s["rule"] == "clip"]
    assert set(s_clip["key"]) <= set(clip["key"]) and (s_clip["distance"] <= 1e-4 + 1e-6).all()
    assert json.loads((tmp_path / "strict.meta.json").read_text())["clip_min_cosine"] == 0.9999


def test_check_index_with_examples_from_another_model_is_a_clear_error(world, tmp_path, capsys):
    _, example_file, ds, index = world
    db = str(tmp_path / "r.db")
    assert main(["optout", "add", "image", str(example_file), "--registry", db, "--model", "genaudit-tiny-clip@random:0"]) == 0
    out = tmp_path / "m.parquet"
    assert main(["optout", "check", str(ds), "--registry", db, "--out", str(out), "--index", str(index)]) == 2
    err = capsys.readouterr().err
    assert "has a CLIP embedding from model genaudit-tiny-clip" in err and "--model genaudit-tiny-clip" in err
    assert "Traceback" not in err and not out.exists()
    db2 = str(tmp_path / "r2.db")  # an example registered without any embedding: same message, nothing written
    assert main(["optout", "add", "image", str(example_file), "--registry", db2]) == 0
    assert main(["optout", "check", str(ds), "--registry", db2, "--out", str(out), "--index", str(index)]) == 2
    assert "(their models: none)" in capsys.readouterr().err and not out.exists()


def test_lookup_image_finds_every_copy_not_a_top_k(world):
    """'Have I been trained?' with the artist's own file: all 70 re-hosted copies, by CLIP and by pHash."""
    from audit.optout.lookup import lookup_image

    _, example_file, _, index = world
    hits = lookup_image(example_file, index, min_score=config.CLIP_DUPLICATE_COSINE)
    by = {(h.key, h.method) for h in hits}
    copies = {f"rehost{i:02d}" for i in range(N_COPIES)}
    assert {k for k, m in by if m == "clip"} == copies  # the old top-20 search stopped at 20
    assert not {k for k, _ in by} - copies
    assert all(h.score >= config.CLIP_DUPLICATE_COSINE and "CLIP cosine" in h.reason for h in hits if h.method == "clip")


def test_filter_with_index_excludes_rehosted_copies(world, tmp_path):
    from audit.records import read_manifest

    _, example_file, ds, index = world
    db = str(tmp_path / "r.db")
    assert main(["optout", "add", "image", str(example_file), "--registry", db, "--model", MODEL, "--artist", "Jo Painter"]) == 0
    clean = tmp_path / "clean"
    assert main(["optout", "filter", str(ds), "--registry", db, "--out", str(clean), "--index", str(index)]) == 0
    assert sorted(read_manifest(clean)["key"]) == ["astronaut", "coffee", "rocket"]
    excl = pd.read_parquet(clean / "excluded.parquet")
    assert len(excl) == N_COPIES and excl["rules"].str.contains("clip").all() and excl["reasons"].str.contains("Jo Painter").all()
    assert json.loads((clean / "meta.json").read_text())["clip_min_cosine"] == config.CLIP_DUPLICATE_COSINE


def test_lookup_image_serves_from_the_opened_index_cache(world):
    """The app's lookups reuse one opened index (and CLIP model) instead of reopening it on every call."""
    from pathlib import Path

    from audit.index import cache
    from audit.optout.lookup import lookup_image

    _, example_file, _, index = world
    cache.clear_index_cache()
    lookup_image(example_file, index, min_score=config.CLIP_DUPLICATE_COSINE)
    first = cache.cached_index(index)
    assert list(cache._CACHE) == [str(Path(index).resolve())]
    lookup_image(example_file, index, min_score=config.CLIP_DUPLICATE_COSINE)
    assert cache.cached_index(index) is first


def test_parse_aliases_splits_commas_and_drops_blanks():
    from audit.optout.lookup import parse_aliases

    assert parse_aliases(" Monet, C. Monet ,, ") == ("Monet", "C. Monet")
    assert parse_aliases("") == () and parse_aliases(None) == ()

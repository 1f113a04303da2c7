"""audit.index: build from real images with a (random-init) tiny CLIP, exact self-query, text search,
near duplicates (resized/JPEG'd and mirrored copies), denylist, approximate path, idempotence, atomicity."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from audit import config
from audit.errors import ArtefactError, IndexMismatchError, InputError

IMAGES = Path(__file__).parent / "data" / "images"
MODEL = "genaudit-tiny-clip@random:0"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """An index built from the plain image folder (ingested into a sibling dataset dir first)."""
    from audit.index import build_index

    out = tmp_path_factory.mktemp("idx") / "index"
    assert build_index(IMAGES, out, model=MODEL) == out
    return out


@pytest.fixture(scope="module")
def idx(built):
    from audit.index import open_index

    return open_index(built)


def test_layout_and_meta(built, idx):
    for name in ("vectors.faiss", "vectors.npy", "ids.parquet", "hashes.parquet", "meta.json"):
        assert (built / name).is_file(), name
    n_images = len([p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg")])
    m = idx.meta
    assert m["kind"] == "index" and m["count"] == n_images == idx.count
    assert m["model"] == MODEL and len(m["weights_sha256"]) >= 16
    assert m["factory"] == "IDMap2,Flat" and m["exact"] is True
    assert Path(m["dataset_dir"]).name == "index_dataset" and m["manifest_hash"]
    assert idx.mmapped
    hashes = __import__("pandas").read_parquet(built / "hashes.parquet")
    assert str(hashes["phash"].dtype) == "uint64" and str(hashes["dhash"].dtype) == "uint64"


def test_self_query_scores_one(idx):
    for id_ in idx.ids[:6]:
        hits = idx.search_image(idx.image_path(id_), k=3)
        assert hits[0].id == id_ and hits[0].rank == 1
        assert abs(hits[0].score - 1.0) < 1e-5
        assert hits[1].score < hits[0].score


def test_search_vectors_exact(idx):
    vecs = np.asarray(idx.searcher.vectors[:4], dtype=np.float32)
    scores, ids = idx.search_vectors(vecs, k=idx.count + 5)
    assert np.array_equal(ids[:, 0], idx.ids[:4])
    assert (ids[:, idx.count:] == -1).all()
    brute = vecs @ np.asarray(idx.searcher.vectors).T
    np.testing.assert_allclose(scores[:, : idx.count], -np.sort(-brute, axis=1), atol=1e-5)
    with pytest.raises(IndexMismatchError):
        idx.search_vectors(np.ones((1, idx.dim + 1), np.float32), 3)
    with pytest.raises(InputError):
        idx.search_vectors(vecs, 0)


def test_text_search_returns_metadata(idx):
    hits = idx.search_text("a lemon, food clip art", k=5, mode="clip")
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(h.method == "clip-text" for h in hits)
    assert all(Path(h.path).is_file() and h.key and h.caption for h in hits)
    assert hits[0].score >= hits[-1].score
    with pytest.raises(InputError):
        idx.search_text("   ")


def _jpeg(img: Image.Image, quality: int = 60) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.mark.parametrize("name", ["wp_Storm.jpg", "oc_cartoon_tree_01.png", "astronaut.jpg"])
def test_near_duplicates_resized_jpeg_and_flipped(idx, name):
    key = Path(name).stem
    original = Image.open(IMAGES / name).convert("RGB")
    copy = _jpeg(original.resize((original.width * 2 // 3, original.height * 2 // 3)))
    hits = idx.near_duplicates(copy)
    assert hits and hits[0].key == key and hits[0].method == "phash" and hits[0].distance <= config.PHASH_NEAR_DUPLICATE
    flipped = ImageOps.mirror(copy)
    hits = idx.near_duplicates(flipped)
    assert hits and hits[0].key == key and hits[0].method == "phash+mirror"
    both = idx.near_duplicates(flipped, kind="both")
    assert both and both[0].key == key


def test_near_duplicates_rejects_unrelated(idx):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert all(h.distance <= config.PHASH_NEAR_DUPLICATE for h in idx.near_duplicates(noise))
    assert idx.near_duplicates(noise, max_distance=2) == []


def test_denylist_hides_key_and_still_returns_k(built, tmp_path):
    from audit.index import add_to_denylist, open_index

    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    before = open_index(copy)
    target = before.ids[2]
    key = before.row(target)["key"]
    path = before.image_path(target)
    assert add_to_denylist(copy, [key, "not-in-index"], reason="gdpr-1") == 2
    assert add_to_denylist(copy, [key], reason="again") == 0  # idempotent
    idx = open_index(copy)
    hits = idx.search_image(path, k=5)
    assert len(hits) == 5 and key not in [h.key for h in hits]
    assert all(h.key != key for h in idx.near_duplicates(path))
    _, ids = idx.search_vectors(np.asarray(idx.searcher.vectors[:], np.float32), k=idx.count)
    assert (ids == target).sum() == 0 and (ids[:, -1] == -1).all()  # one fewer than everything


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_approximate_factory_recall():
    from audit.index.vectors import VectorSearcher, build_faiss, choose_factory, pq_choice

    x, q = _clustered(4000, 32, 0), _clustered(50, 32, 1)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    ids = np.arange(len(x), dtype=np.int64)
    assert choose_factory(len(x), 32).exact
    # the automatic choice must reach the benchmark target; 4-bit PQ on 32-d noise is coarse but re-ranked
    for choice, target in ((choose_factory(len(x), 32, exact_max=1000), 0.95), (pq_choice(len(x), 32), 0.85)):
        assert not choice.exact and choice.factory.startswith("IVF") and choice.params["nprobe"] >= 1
        searcher = VectorSearcher(build_faiss(choice, x, ids), x, ids, choice)
        _, found = searcher.search(q, 10)
        recall = np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth)])
        assert recall >= target, (choice.factory, recall)


def test_build_approximate_index_when_above_threshold(built, tmp_path, monkeypatch):
    from audit.index import build_index, open_index

    monkeypatch.setattr(config, "EXACT_INDEX_MAX", 4)
    out = build_index(open_index(built).dataset_dir, tmp_path / "approx", model=MODEL)
    idx = open_index(out)
    assert idx.meta["exact"] is False and idx.meta["factory"].startswith("IVF") and "nprobe" in idx.meta["params"]
    assert idx.meta["rerank_factor"] == config.RERANK_FACTOR
    id_ = idx.ids[5]
    hit = idx.search_image(idx.image_path(id_), k=3)[0]
    assert hit.id == id_ and abs(hit.score - 1.0) < 1e-5


def test_rebuild_is_noop_when_inputs_unchanged(built):
    from audit.index.build import build_index_report

    stamps = {p.name: p.stat().st_mtime_ns for p in built.iterdir()}
    res = build_index_report(Path(open_meta(built)["dataset_dir"]), built, model=MODEL)
    assert res.up_to_date
    assert {p.name: p.stat().st_mtime_ns for p in built.iterdir()} == stamps


def open_meta(d: Path) -> dict:
    from audit.meta import read_meta

    return read_meta(d, kind="index")


def test_other_inputs_need_overwrite_and_interrupted_build_keeps_old(built, tmp_path, monkeypatch):
    import audit.index.build as b

    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    dataset = Path(open_meta(copy)["dataset_dir"])
    with pytest.raises(ArtefactError, match="--overwrite"):
        b.build_index(dataset, copy, model="genaudit-tiny-clip@random:1")

    def boom(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(b, "build_faiss", boom)
    old = open_meta(copy)
    with pytest.raises(RuntimeError, match="power cut"):
        b.build_index(dataset, copy, model=MODEL, overwrite=True)
    assert open_meta(copy) == old
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[1:] == ["index"] and left[0].startswith(".index.work-")  # no half index; finished chunks kept
    from audit.index import open_index

    assert open_index(copy).count == old["count"]

    # the re-run resumes from the finished embedding chunks: no image is embedded again
    monkeypatch.undo()
    monkeypatch.setattr(b, "embed_chunk", boom)
    res = b.build_index_report(dataset, copy, model=MODEL, overwrite=True)
    assert not res.up_to_date and res.meta["count"] == old["count"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
    assert open_index(copy).count == old["count"]


def test_refuses_non_index_out_dir(built, tmp_path):
    from audit.index import build_index

    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not delete")
    with pytest.raises(ArtefactError, match="not an index"):
        build_index(Path(open_meta(built)["dataset_dir"]), out, model=MODEL, overwrite=True)
    assert (out / "thesis.txt").read_text() == "do not delete"


def test_model_mismatch(built):
    from audit.embed import load_embedder
    from audit.index import open_index

    other = load_embedder("genaudit-tiny-clip@random:1")
    with pytest.raises(IndexMismatchError, match="random:0"):
        open_index(built, embedder=other)
    idx = open_index(built)
    with pytest.raises(IndexMismatchError):
        idx.use_embedder(other)


@pytest.mark.parametrize("factory", ["HNSW32", "PCA32,IVF16,SQ8"])
def test_user_factories_roundtrip_mmap(tmp_path, factory):
    """User factory strings: ids kept (IDMap2 wrapper when needed), params re-applied after an mmap load."""
    from audit.index.vectors import VectorSearcher, apply_params, build_faiss, load_faiss, resolve_factory, save_faiss

    x, q = _clustered(3000, 32, 0), _clustered(20, 32, 1)
    ids = np.arange(len(x), dtype=np.int64) * 3 + 5
    truth = ids[np.argsort(-(q @ x.T), axis=1)[:, :10]]
    choice = resolve_factory(factory, len(x), 32)
    assert choice.params  # efSearch / nprobe
    save_faiss(build_faiss(choice, x, ids), tmp_path / "v.faiss")
    index, mmapped = load_faiss(tmp_path / "v.faiss")
    apply_params(index, choice.params)
    _, found = VectorSearcher(index, x, ids, choice).search(q, 10)
    assert mmapped and np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth)]) >= 0.9


def test_query_index_rejects_empty_text_and_bad_k_before_touching_the_index() -> None:
    from audit.index.search import query_index

    with pytest.raises(InputError, match="empty"):
        query_index(None, "   ", k=5)
    with pytest.raises(InputError, match="k=0"):
        query_index(None, "a cat", k=0)

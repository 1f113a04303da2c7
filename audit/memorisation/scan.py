"""`audit memorisation scan`: generated images -> candidate training images -> pixel evidence -> verdicts.

Stages (each timed, shares reported in summary.json):
  load     decode the generated folder (non-images and undecodable files are skipped and listed)
  embed    CLIP-embed the queries with the index's own model (skipped when vectors are given)
  knn      `SearchIndex.search_vectors`: the k nearest training images by CLIP cosine
  phash    `SearchIndex.near_duplicates` on the query and its mirror: near-duplicates by pHash
  verify   pixel evidence on the top `verify_k` kNN candidates plus every pHash hit; small generations
           (<= 64 px) also get the nearest 32 px thumbnails and low-resolution evidence (lowres.py)
  dups     how often each matched training image (or a near-duplicate) occurs in the training set
  baseline the same scores for sampled training images against their own nearest other neighbour
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from audit.errors import AuditError, ImageError, InputError
from audit.generate.samples_layout import SAMPLES_NAME
from audit.images import fit_within, is_image_path, load_image
from audit.memorisation import evidence as ev
from audit.memorisation import lowres
from audit.memorisation.verdict import COPY, NOVEL, SIMILAR, PairScores, Thresholds, Verdict, decide, rank_key
from audit.meta import META_NAME
from audit.progress import bar

#: Queries are brought within this side before anything else (huge generations cost time, not evidence).
QUERY_MAX_SIDE = 1024


@dataclass(frozen=True)
class Match:
    """The result for one generated image: its best training match and the decision."""

    query_path: str
    verdict: Verdict
    scores: PairScores
    match_id: int | None
    match_key: str | None
    match_path: str | None
    match_caption: str | None = None
    match_author: str | None = None
    match_license: str | None = None
    candidates: int = 0
    notes: tuple[str, ...] = ()


@dataclass
class ScanResult:
    matches: list[Match]
    skipped: list[tuple[str, str]]
    warnings: list[str]
    timings: dict[str, float]
    duplicate_counts: dict[int, int] = field(default_factory=dict)
    baseline: list[PairScores] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)


def list_generated(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files of `folder` (recursively, sorted) and the other files with why they were skipped.

    A samples folder's own records (meta.json, samples.parquet) are not images anyone meant to scan: not listed."""
    if not folder.exists():
        raise InputError(f"{folder}: no such folder", "pass the folder of generated images")
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder", "pass a folder of generated images")
    images: list[Path] = []
    skipped: list[Any] = []
    for p in sorted(folder.rglob("*")):
        if p.is_dir() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if p.name in (META_NAME, SAMPLES_NAME):
            continue
        (images if is_image_path(p) else skipped).append(p)
    return images, [(str(p), "not an image file") for p in skipped]


class _CandidateCache:
    """Thread-safe LRU of prepared training images (memorised images recur across generations)."""

    def __init__(self, index, detector: str, size: int = 512):
        self.index, self.detector, self.size = index, detector, size
        self._d: OrderedDict[int, ev.Candidate | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, row_id: int) -> ev.Candidate | None:
        with self._lock:
            if row_id in self._d:
                self._d.move_to_end(row_id)
                return self._d[row_id]
        cand = None
        try:
            path = Path(self.index.image_path(int(row_id)))
            if path.is_file():
                cand = ev.prepare_candidate(load_image(path).image, self.detector)
        except (AuditError, OSError):
            cand = None
        with self._lock:
            self._d[row_id] = cand
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return cand


def _hit_ids(hits) -> list[int]:
    return [int(h.id) for h in hits]


class Scanner:
    """Holds the index and settings; `scan_images` does the work for a list of images."""

    def __init__(self, index, thresholds: Thresholds | None = None, k: int = 10, verify_k: int = 3,
                 detector: str = "orb", workers: int = 2):
        if k < 1 or verify_k < 1:
            raise InputError("--k and --verify-k must be at least 1")
        self.index, self.t, self.k, self.verify_k = index, thresholds or Thresholds(), k, min(verify_k, k)
        self.detector, self.workers = detector, max(1, workers)
        self.cache = _CandidateCache(index, detector)
        self.warnings: list[str] = []
        self._phash_ok = True
        ids = getattr(index, "ids", None)
        self.thumbs = lowres.LazyThumbs(index, np.asarray(ids if ids is not None else np.arange(index.count)))

    # -- stages ---------------------------------------------------------------------------------
    def near_duplicates(self, img: Image.Image) -> list[int]:
        if not self._phash_ok:
            return []
        try:
            # near_duplicates hashes the mirrored query too (pHash alone misses flips).
            return _hit_ids(self.index.near_duplicates(img, max_distance=self.t.phash_similar))
        except (AuditError, FileNotFoundError, OSError) as exc:
            self._phash_ok = False
            self.warnings.append(f"perceptual-hash retrieval unavailable ({exc}); CLIP kNN candidates only")
            return []

    def evaluate(self, img: Image.Image, knn_ids: np.ndarray, knn_scores: np.ndarray,
                 phash_ids: Sequence[int]) -> tuple[PairScores, Verdict, int | None, list[dict]]:
        """Pixel evidence on the candidates of one query; returns the best pair and all pairs."""
        q = ev.prepare_query(img, self.detector)
        cos = {int(i): float(s) for i, s in zip(knn_ids, knn_scores) if int(i) >= 0}
        order = [int(i) for i in knn_ids[: self.verify_k] if int(i) >= 0]
        order += [i for i in phash_ids if i not in order]
        thumbs = self.thumbs.get() if lowres.is_small(img) else None
        if thumbs is not None:
            # Small generation: the nearest thumbnails are candidates too (tiny CLIP and pHash miss them).
            qvec = lowres.thumb_vector(img)
            qs = thumbs.scores(qvec)
            order += [i for i in thumbs.nearest(qvec, self.verify_k) if i not in order]
        best: tuple | None = None
        pairs = []
        for cid in order:
            cand = self.cache.get(cid)
            if cand is None:
                p = PairScores(clip_cosine=cos.get(cid, float("nan")), pixels_available=False)
            else:
                p = ev.measure(q, cand, cos.get(cid, float("nan")))
                if thumbs is not None:
                    p = replace(p, lowres_ssim=lowres.lowres_ssim(img, Image.fromarray(cand.features.rgb)),
                                lowres_ratio=thumbs.ratio(qvec, cid, qs))
            v = decide(p, self.t)
            pairs.append({"candidate_id": cid, "verdict": v.label, **asdict(p)})
            key = rank_key(v, p)
            if best is None or key < best[0]:
                best = (key, p, v, cid)
            if v.label == COPY and v.reasons[0].startswith("verbatim"):
                break  # verbatim copy found; nothing can rank above it
        if best is None:
            p = PairScores()
            return p, decide(p, self.t), None, pairs
        return best[1], best[2], best[3], pairs


def load_queries(paths: Sequence[Path], native: dict[str, tuple[int, int]] | None = None
                 ) -> tuple[list[tuple[Path, Image.Image, tuple[str, ...]]], list[tuple[str, str]]]:
    """Decode generated images; undecodable ones are skipped with the reason. `native` (file name -> size the
    generator produced) undoes a recorded upscale, so a 32 px sample saved at 256 px gets the small-generation
    evidence it needs (lowres.py)."""
    native = native or {}
    ok, skipped = [], []
    for p in paths:
        try:
            loaded = load_image(p)
        except ImageError as exc:
            skipped.append((str(p), str(exc)))
            continue
        img, notes = loaded.image, list(loaded.notes)
        size = native.get(Path(p).name)
        if size is not None and size[0] < img.width and size[1] < img.height:
            notes.append(f"scanned at its native {size[0]}x{size[1]} (recorded upscale from it, samples.parquet)")
            img = img.resize(size, Image.Resampling.LANCZOS)
        if max(img.size) > QUERY_MAX_SIDE:
            notes.append(f"downscaled from {img.width}x{img.height}")
            img = fit_within(img, QUERY_MAX_SIDE)
        if max(img.size) < 64:
            notes.append(f"very small ({img.width}x{img.height}): geometric evidence is weak")
        ok.append((p, img, tuple(notes)))
    return ok, skipped


def scan_images(index, queries: list[tuple[Path, Image.Image, tuple[str, ...]]], *, scanner: Scanner,
                vectors: np.ndarray | None = None, timings: dict[str, float] | None = None) -> tuple[list[Match], list[dict]]:
    """Verdicts for decoded queries; `vectors` (N, dim) skips the embedding stage (benchmarks)."""
    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    # Padded copies defeat global signals: retrieval also runs on the query without its plain border.
    trimmed = [(i, t) for i, (_, img, _) in enumerate(queries) if (t := ev.trim_border(img)) is not None]
    if vectors is None:
        vectors = index.embedder.embed_images([img for _, img, _ in queries], progress=False)
    t_vecs = index.embedder.embed_images([t for _, t in trimmed], progress=False) if trimmed else None
    timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    scores, ids = index.search_vectors(np.ascontiguousarray(vectors, dtype=np.float32), scanner.k)
    if trimmed:
        scores, ids = _merge_trimmed(scores, ids, index.search_vectors(t_vecs, scanner.k), [i for i, _ in trimmed])
    timings["knn"] = timings.get("knn", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    trimmed_of = dict(trimmed)

    def hash_hits(i: int) -> list[int]:
        found = scanner.near_duplicates(queries[i][1])
        if i in trimmed_of:
            found += [j for j in scanner.near_duplicates(trimmed_of[i]) if j not in found]
        return found

    phash_ids = [hash_hits(0)]  # first call loads the hash index (not thread-safe)
    with ThreadPoolExecutor(max_workers=scanner.workers) as pool:
        phash_ids += list(pool.map(hash_hits, range(1, len(queries))))
    timings["phash"] = timings.get("phash", 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    if any(lowres.is_small(img) for _, img, _ in queries):
        scanner.thumbs.get()  # build once before the threads need it
        if scanner.thumbs.warning and scanner.thumbs.warning not in scanner.warnings:
            scanner.warnings.append(scanner.thumbs.warning)
    timings["thumbs"] = timings.get("thumbs", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    progress = bar(len(queries), "verifying", unit="img")

    def one(i: int):
        out = scanner.evaluate(queries[i][1], ids[i], scores[i], phash_ids[i])
        progress.update(1)
        return out

    with ThreadPoolExecutor(max_workers=scanner.workers) as pool:
        results = list(pool.map(one, range(len(queries))))
    progress.close()
    timings["verify"] = timings.get("verify", 0.0) + time.perf_counter() - t0

    matches, all_pairs = [], []
    match_ids = sorted({cid for _, _, cid, _ in results if cid is not None})
    rows = index.rows(match_ids) if match_ids else None
    info = {int(i): r for i, r in zip(match_ids, rows.to_dict("records"))} if rows is not None else {}
    for (path, _img, notes), (p, v, cid, pairs), _knn in zip(queries, results, ids):
        r = info.get(cid, {}) if cid is not None else {}
        mpath = str(index.image_path(cid)) if cid is not None else None
        matches.append(Match(
            str(path), v, p, cid, _s(r.get("key")), mpath, _s(r.get("caption")), _s(r.get("author")),
            _s(r.get("license")), candidates=len(pairs), notes=notes,
        ))
        all_pairs += [{"query_path": str(path), **pp} for pp in pairs]
    return matches, all_pairs


def _merge_trimmed(scores: np.ndarray, ids: np.ndarray, extra: tuple[np.ndarray, np.ndarray],
                   rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the best k of the original and the border-trimmed kNN lists (each id once, best cosine)."""
    scores, ids = scores.copy(), ids.copy()
    k = ids.shape[1]
    for r, (es, ei) in zip(rows, zip(*extra)):
        best: dict[int, float] = {}
        for s_, i_ in list(zip(scores[r], ids[r])) + list(zip(es, ei)):
            if int(i_) >= 0 and s_ > best.get(int(i_), -np.inf):
                best[int(i_)] = float(s_)
        top = sorted(best.items(), key=lambda kv: -kv[1])[:k]
        scores[r], ids[r] = -np.inf, -1
        for j, (i_, s_) in enumerate(top):
            ids[r, j], scores[r, j] = i_, s_
    return scores, ids


def _s(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def duplicate_counts(index, ids: Sequence[int], t: Thresholds) -> dict[int, int]:
    """How many training items are the same image as each id (itself included): pHash ∪ CLIP ≥ dup_clip."""
    out: dict[int, int] = {}
    if not ids:
        return out
    paths, usable = [], []
    for i in ids:
        p = Path(index.image_path(int(i)))
        if p.is_file():
            paths.append(p)
            usable.append(int(i))
        else:
            out[int(i)] = 1
    if not usable:
        return out
    imgs = [load_image(p).image for p in paths]
    vecs = index.embedder.embed_images(imgs, progress=False)
    kk = min(index.count, 100)
    s, nn = index.search_vectors(vecs, kk)
    for row, i in enumerate(usable):
        same = {int(j) for j, c in zip(nn[row], s[row]) if int(j) >= 0 and c >= t.dup_clip}
        try:
            same |= set(_hit_ids(index.near_duplicates(imgs[row], max_distance=t.dup_phash)))
        except (AuditError, OSError):
            pass
        same.add(i)
        out[i] = len(same)
    return out


def baseline_scores(index, scanner: Scanner, sample: int, seed: int, ids: np.ndarray | None = None) -> list[PairScores]:
    """Scores of sampled training images against their own nearest other neighbour (the baseline)."""
    if sample <= 0 or index.count < 2:
        return []
    ids = np.arange(index.count) if ids is None else ids
    rng = np.random.default_rng(seed)
    picked = rng.choice(ids, size=min(sample, len(ids)), replace=False)
    loaded = []
    for rid in picked:
        path = Path(index.image_path(int(rid)))
        if path.is_file():
            try:
                loaded.append((int(rid), load_image(path).image))
            except ImageError:
                continue
    if not loaded:
        return []
    vecs = index.embedder.embed_images([im for _, im in loaded], progress=False)
    s, nn = index.search_vectors(vecs, min(index.count, 2 + 3))
    out = []
    for (rid, img), srow, nrow in zip(loaded, s, nn):
        others = [(int(j), float(c)) for j, c in zip(nrow, srow) if int(j) >= 0 and int(j) != rid]
        if not others:
            continue
        j, c = others[0]
        cand = scanner.cache.get(j)
        if cand is None:
            continue
        out.append(ev.measure(ev.prepare_query(img, scanner.detector), cand, c))
    return out


def verdict_counts(matches: Sequence[Match]) -> dict[str, int]:
    return {label: sum(m.verdict.label == label for m in matches) for label in (COPY, SIMILAR, NOVEL)}

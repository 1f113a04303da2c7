"""The vector half of an index: pick a faiss factory, train/fill it, save/load it (mmap), search + exact re-rank.

Kept free of manifests and models so the benchmark measures exactly the code path `audit search` runs.
Rows of the stored vectors are kept in ascending id order, so id -> row is a binary search.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from audit import config
from audit.errors import ArtefactError, IndexMismatchError, InputError
from audit.progress import bar

#: Above this many vectors the automatic choice compresses codes further with product quantisation.
PQ_ABOVE = 20_000_000
#: Re-rank depth for PQ codes, which are much coarser than SQ8 (see NOTES: PQ alone gives poor recall).
PQ_RERANK_FACTOR = 32
EXACT_FACTORY = "IDMap2,Flat"


@dataclass(frozen=True)
class FactoryChoice:
    """A faiss factory string plus the search parameters and re-rank depth that go with it."""

    factory: str
    params: dict[str, Any] = field(default_factory=dict)
    rerank_factor: int = 1
    exact: bool = True

    def to_meta(self) -> dict[str, Any]:
        return {"factory": self.factory, "params": dict(self.params), "rerank_factor": self.rerank_factor,
                "exact": self.exact}


def _ivf_nlist(n: int) -> int:
    """A power of two near 4*sqrt(n), small enough that each centroid has >= 39 training points."""
    nlist = 2 ** max(0, round(math.log2(max(1.0, 4 * math.sqrt(n)))))
    while nlist > 1 and nlist * 39 > n:
        nlist //= 2
    return nlist


def _nprobe(nlist: int) -> int:
    return min(nlist, max(16, nlist // 128))


def choose_factory(n: int, dim: int, exact_max: int | None = None) -> FactoryChoice:
    """Exact inner product up to `config.EXACT_INDEX_MAX` vectors, IVF + SQ8 (or PQ when huge) above."""
    exact_max = config.EXACT_INDEX_MAX if exact_max is None else exact_max
    if n <= exact_max:
        return FactoryChoice(EXACT_FACTORY)
    nlist = _ivf_nlist(n)
    if n > PQ_ABOVE and dim % 8 == 0:
        return pq_choice(n, dim)
    return FactoryChoice(f"IVF{nlist},SQ8", {"nprobe": _nprobe(nlist)}, config.RERANK_FACTOR, exact=False)


def pq_choice(n: int, dim: int) -> FactoryChoice:
    """IVF + 4-bit fast-scan PQ (dim/8 bytes per vector) with a deep exact re-rank from the stored vectors."""
    nlist = _ivf_nlist(n)
    m = max(1, dim // 4)
    while dim % m:
        m -= 1
    return FactoryChoice(f"IVF{nlist},PQ{m}x4fs", {"nprobe": _nprobe(nlist)}, PQ_RERANK_FACTOR, exact=False)


def resolve_factory(factory: str | None, n: int, dim: int) -> FactoryChoice:
    """Auto choice when `factory` is None, else the user's string with sensible defaults for its parameters."""
    if factory is None or factory.strip().lower() in ("", "auto"):
        return choose_factory(n, dim)
    factory = factory.strip()
    if factory in ("Flat", EXACT_FACTORY, "IDMap,Flat"):
        return FactoryChoice(EXACT_FACTORY)
    params: dict[str, Any] = {}
    rerank = config.RERANK_FACTOR
    ivf = re.search(r"(?:^|,)IVF(\d+)", factory)
    if ivf:
        params["nprobe"] = _nprobe(int(ivf.group(1)))
    if "HNSW" in factory:
        params["efSearch"] = 256
    if ",PQ" in factory or factory.startswith("PQ"):
        rerank = PQ_RERANK_FACTOR
    return FactoryChoice(factory, params, rerank, exact=False)


def key_ids(keys: Iterable[str]) -> np.ndarray:
    """Stable non-negative int64 ids from keys (first 63 bits of sha256): the same key keeps its id across rebuilds."""
    out = np.fromiter(
        (int.from_bytes(hashlib.sha256(str(k).encode("utf-8")).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF
         for k in keys),
        dtype=np.int64,
    )
    if len(np.unique(out)) != len(out):  # 63-bit collision: astronomically unlikely, but never silent
        raise ArtefactError("two keys hash to the same index id", "rename one of the colliding keys")
    return out


def _make(choice: FactoryChoice, dim: int):
    import faiss

    try:
        index = faiss.index_factory(dim, choice.factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise InputError(f"faiss cannot build factory '{choice.factory}' ({str(exc).splitlines()[0][:120]})",
                         "use e.g. Flat, IVF1024,SQ8, IVF1024,PQ64 or HNSW32") from None
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        if not choice.factory.startswith("IDMap"):  # HNSW, PQ...: ids need an IDMap2 wrapper
            index = faiss.index_factory(dim, "IDMap2," + choice.factory, faiss.METRIC_INNER_PRODUCT)
    return index


def build_faiss(choice: FactoryChoice, vectors: np.ndarray, ids: np.ndarray, *, seed: int = config.DEFAULT_SEED,
                max_train: int = 200_000, chunk: int = 100_000):
    """Create, train (on a seeded sample) and fill a faiss index with `vectors` under `ids`."""

    n, dim = vectors.shape
    index = _make(choice, dim)
    if not index.is_trained:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, max_train), replace=False))
        train = np.ascontiguousarray(vectors[sample], dtype=np.float32)
        ivf = _try_ivf(index)
        if ivf is not None:
            ivf.cp.seed = seed
            ivf.cp.verbose = False
        index.train(train)
    with bar(n, "index add", unit="vec") as pb:
        for start in range(0, n, chunk):
            block = np.ascontiguousarray(vectors[start:start + chunk], dtype=np.float32)
            index.add_with_ids(block, np.ascontiguousarray(ids[start:start + chunk], dtype=np.int64))
            pb.update(len(block))
    apply_params(index, choice.params)
    return index


def _try_ivf(index):
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def apply_params(index, params: dict[str, Any]) -> None:
    """Set query-time parameters (nprobe, efSearch) through any IDMap wrapper."""
    import faiss

    if "nprobe" in params:
        ivf = _try_ivf(index)
        if ivf is not None:
            ivf.nprobe = int(params["nprobe"])
    if "efSearch" in params:
        inner = faiss.downcast_index(index.index) if hasattr(index, "index") and isinstance(
            index, (faiss.IndexIDMap, faiss.IndexIDMap2)) else index
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = int(params["efSearch"])


def save_faiss(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_faiss(path: Path, mmap: bool = True):
    """Read a faiss index, memory-mapped when asked and supported; returns (index, mmapped)."""
    import faiss

    if not path.is_file():
        raise ArtefactError(f"{path} is missing", "rebuild the index with `audit index build`")
    if mmap:
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY), True
        except RuntimeError:
            pass
    try:
        return faiss.read_index(str(path)), False
    except RuntimeError as exc:
        raise ArtefactError(f"{path} is not a readable faiss index ({str(exc).splitlines()[0][:100]})",
                            "rebuild the index with `audit index build --overwrite`") from None


def load_vectors(path: Path, count: int, dim: int, mmap: bool = True) -> np.ndarray:
    """The stored L2-normalised vectors (rows in id order), memory-mapped; checked against meta."""
    if not path.is_file():
        raise ArtefactError(f"{path} is missing", "rebuild the index with `audit index build --overwrite`")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ArtefactError(f"{path} is corrupt ({str(exc)[:100]})",
                            "rebuild the index with `audit index build --overwrite`") from None
    if arr.ndim != 2 or arr.shape != (count, dim):
        raise ArtefactError(f"{path} has shape {arr.shape}, meta.json says ({count}, {dim})",
                            "rebuild the index with `audit index build --overwrite`")
    return arr


class VectorSearcher:
    """faiss candidates -> drop excluded ids -> exact cosine from the stored vectors -> top k."""

    def __init__(self, index, vectors: np.ndarray, ids: np.ndarray, choice: FactoryChoice):
        self.index = index
        self.vectors = vectors
        self.ids = ids  # ascending, aligned with vectors rows
        self.choice = choice
        self.dim = vectors.shape[1]

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of ids (which must be present)."""
        return np.searchsorted(self.ids, ids)

    def search(self, queries: np.ndarray, k: int, exclude: Sequence[int] | np.ndarray = ()) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query, exact cosine scores; missing slots have id -1 and score -inf."""
        if k <= 0:
            raise InputError(f"k must be positive, got {k}")
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise IndexMismatchError(f"query vectors have dimension {q.shape[1]}, the index has {self.dim}",
                                     "query with the model the index was built with")
        excl = np.unique(np.asarray(exclude, dtype=np.int64))
        n = len(self.ids)
        depth = k if self.choice.exact else k * max(1, self.choice.rerank_factor)
        out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(q), k), -1, dtype=np.int64)
        todo = np.arange(len(q))
        while len(todo):
            fetch = min(n, depth + len(excl))
            _, cand = self.index.search(q[todo], fetch)
            retry = []
            for qi, row_ids in zip(todo, cand):
                got = row_ids[row_ids >= 0]
                full = len(got) == fetch  # faiss had more to give
                if len(excl):
                    got = got[~np.isin(got, excl)]
                rows = np.sort(self.rows_of(got))
                scores = self.vectors[rows].astype(np.float32, copy=False) @ q[qi]
                got = self.ids[rows]
                order = np.argsort(-scores, kind="stable")[:k]
                m = len(order)
                out_s[qi, :m], out_i[qi, :m] = scores[order], got[order]
                if m < k and full and fetch < n:
                    retry.append(qi)  # the denylist ate the candidates: fetch deeper
            todo = np.asarray(retry, dtype=np.int64)
            depth *= 4
        return out_s, out_i

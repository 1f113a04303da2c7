"""Query an index dir: text search (CLIP, caption words, or both fused), image search (exact re-rank),
perceptual-hash near duplicates, denylist filter."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from audit import config
from audit.embed import load_embedder
from audit.errors import ArtefactError, AuditError, IndexMismatchError, InputError
from audit.images import load_rgb
from audit.index import layout
from audit.index.captions import CaptionIndex
from audit.index.denylist import read_denylist
from audit.index.fusion import CLIP, FUSION_DEPTH, MODES, WORDS, rrf
from audit.index.hashes import HASH_KINDS, HashIndex
from audit.index.layout import CAPTIONS_NAME, FAISS_NAME, HASHES_NAME, IDS_NAME, VECTORS_NAME
from audit.index.vectors import FactoryChoice, VectorSearcher, apply_params, key_ids, load_faiss, load_vectors
from audit.meta import weights_sha256


@dataclass(frozen=True)
class SearchHit:
    """One result. `method` says how it was found (clip-text, keyword-text, hybrid-text, clip-image, phash,
    phash+mirror...); `evidence` says what matched: "CLIP", "caption words", "both" (hybrid), "perceptual hash"."""

    rank: int
    id: int
    key: str
    score: float
    path: str
    caption: str | None
    author: str | None
    license: str | None
    source: str | None
    method: str
    distance: int | None = None  # Hamming bits, for perceptual-hash hits
    evidence: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hits_frame(hits: Iterable[Any], columns: Sequence[str] = tuple(SearchHit.__dataclass_fields__)) -> pd.DataFrame:
    """One row per hit, `columns` in order (also with no hits): search hits by default; opt-out lookups pass
    `LookupHit.COLUMNS`."""
    cols = list(columns)
    return pd.DataFrame([{c: getattr(h, c) for c in cols} for h in hits], columns=cols)


def _opt(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)


class SearchIndex:
    """An opened index dir. faiss index and vectors are memory-mapped; the model loads on first text/image query."""

    def __init__(self, index_dir: str | Path, mmap: bool = True, embedder: Any = None):
        self.dir = Path(index_dir)
        if not self.dir.is_dir():
            raise InputError(f"index {self.dir} does not exist", "build it with `audit index build`")
        self.meta = layout.read_index_meta(self.dir)
        self.count = int(self.meta["count"])
        self.dim = int(self.meta["dim"])
        self.choice = FactoryChoice(self.meta["factory"], dict(self.meta.get("params") or {}),
                                    int(self.meta.get("rerank_factor", 1)), bool(self.meta.get("exact", True)))
        index, self.mmapped = load_faiss(self.dir / FAISS_NAME, mmap=mmap)
        if index.ntotal != self.count or index.d != self.dim:
            raise ArtefactError(f"{self.dir / FAISS_NAME} holds {index.ntotal}x{index.d}, meta.json says "
                                f"{self.count}x{self.dim}", "rebuild the index with `audit index build --overwrite`")
        apply_params(index, self.choice.params)
        vectors = load_vectors(self.dir / VECTORS_NAME, self.count, self.dim, mmap=mmap)
        # Only the id column at open: parsing every string column of a 1M-row table dominated a cold open.
        self.ids = self._read_table(IDS_NAME, ["id"])["id"].to_numpy(dtype=np.int64)
        if len(self.ids) != self.count:
            raise ArtefactError(f"{self.dir / IDS_NAME} has {len(self.ids)} rows, meta.json says {self.count}",
                                "rebuild the index with `audit index build --overwrite`")
        self._table: pd.DataFrame | None = None
        self._hit_table: Any = None
        self.searcher = VectorSearcher(index, vectors, self.ids, self.choice)
        self._hash_index: HashIndex | None = None
        cap = self.dir / CAPTIONS_NAME
        #: None for an index built before caption search existed (`audit index build` adds it).
        self.captions: CaptionIndex | None = CaptionIndex(cap) if cap.is_file() else None
        self._embedder = None
        if embedder is not None:
            self.use_embedder(embedder)
        self.reload_denylist()

    # ---- files ----------------------------------------------------------------------------------
    def _read_table(self, name: str, columns: list[str] | None = None, arrow: bool = False) -> Any:
        return layout.read_table(self.dir, name, columns, arrow)

    @property
    def table(self) -> pd.DataFrame:
        """All of ids.parquet (row id -> manifest columns), read on first use."""
        if self._table is None:
            table = self._read_table(IDS_NAME)
            if len(table) != self.count:
                raise ArtefactError(f"{self.dir / IDS_NAME} has {len(table)} rows, meta.json says {self.count}",
                                    "rebuild the index with `audit index build --overwrite`")
            self._table = table
        return self._table

    def _hit_rows(self, rows: np.ndarray) -> pd.DataFrame:
        """The columns a SearchHit shows, for a few row positions (only those columns are ever parsed)."""
        if self._table is not None:
            return self._table.iloc[rows]
        if self._hit_table is None:
            self._hit_table = self._read_table(IDS_NAME, ["key", "path", "caption", "author", "license", "source"],
                                               arrow=True)
        import pyarrow as pa

        t = self._hit_table  # zero-copy one-row slices: `take` on a chunked column first concatenates all of it
        return pa.concat_tables([t.slice(int(r), 1) for r in rows] or [t.slice(0, 0)]).to_pandas()

    def reload_denylist(self) -> None:
        """Re-read denylist.parquet (call after adding keys from another process)."""
        keys = read_denylist(self.dir)["key"].astype(str).tolist()
        self.denied_keys = frozenset(keys)
        self.denied_ids = np.unique(key_ids(keys)) if keys else np.empty(0, np.int64)

    @property
    def dataset_dir(self) -> Path:
        return layout.dataset_dir(self.dir, self.meta)

    # ---- model ----------------------------------------------------------------------------------
    def use_embedder(self, emb: Any) -> None:
        """Query with an already loaded model; it must be the one the index was built with."""
        if emb.weights_sha256 != weights_sha256(self.meta):
            raise IndexMismatchError(
                f"index {self.dir} was built with model {self.meta.get('model')} "
                f"({str(weights_sha256(self.meta))[:12]}), the query model is {emb.name} ({emb.weights_sha256[:12]})",
                f"query with --model {self.meta.get('model')} or rebuild the index with the new model")
        self._embedder = emb

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self.use_embedder(load_embedder(self.meta.get("model"), device=self.meta.get("device", "cpu")))
        return self._embedder

    # ---- queries --------------------------------------------------------------------------------
    def search_vectors(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k): exact cosine, denylisted ids removed, -1 where fewer than k."""
        return self.searcher.search(vecs, k, exclude=self.denied_ids)

    def _hits(self, scores: np.ndarray, ids: np.ndarray, method: str,
              distances: list[int | None] | None = None, evidence: str | list[str] = CLIP) -> list[SearchHit]:
        out = []
        valid = [(s, i) for s, i in zip(scores, ids) if i >= 0]
        rows = self._hit_rows(self.searcher.rows_of(np.array([i for _, i in valid], dtype=np.int64))) if valid else None
        for rank, ((s, i), rec) in enumerate(zip(valid, rows.itertuples(index=False) if rows is not None else []), 1):
            rec = rec._asdict()
            out.append(SearchHit(rank, int(i), str(rec["key"]), float(s), str(self.dataset_dir / str(rec["path"])),
                                 _opt(rec.get("caption")), _opt(rec.get("author")), _opt(rec.get("license")),
                                 _opt(rec.get("source")), method, distances[rank - 1] if distances else None,
                                 evidence if isinstance(evidence, str) else evidence[rank - 1]))
        return out

    def default_mode(self) -> str:
        """hybrid where the index has a caption index, clip where it does not."""
        return "hybrid" if self.captions is not None else "clip"

    def search_text(self, text: str, k: int = 20, mode: str | None = None) -> list[SearchHit]:
        """Text query in one of MODES: CLIP only, caption words only (BM25), or both by reciprocal-rank fusion."""
        if not str(text).strip():
            raise InputError("empty text query", "pass some words, e.g. --text 'a red apple'")
        mode = mode or self.default_mode()
        if mode not in MODES:
            raise InputError(f"unknown search mode '{mode}'", f"use one of {', '.join(MODES)}")
        if mode != "clip" and self.captions is None:
            raise InputError(f"index {self.dir} has no caption index, so --mode {mode} cannot run",
                             "add it with `audit index build` on the same dataset, or use --mode clip")
        if mode == "clip":
            s, i = self.search_vectors(self.embedder.embed_texts([text]), k)
            return self._hits(s[0], i[0], "clip-text")
        if mode == "keyword":
            words = self.keyword_matches(text, k)
            return self._hits(np.array([m.score for m in words], np.float32), np.array([m.id for m in words], np.int64),
                              "keyword-text", evidence=WORDS)
        depth = max(k, FUSION_DEPTH)
        _, clip_ids = self.search_vectors(self.embedder.embed_texts([text]), depth)
        fused = rrf([i for i in clip_ids[0] if i >= 0], [m.id for m in self.keyword_matches(text, depth)], k)
        return self._hits(np.array([f.score for f in fused], np.float32), np.array([f.id for f in fused], np.int64),
                          "hybrid-text", evidence=[f.evidence for f in fused])

    def keyword_matches(self, text: str, k: int, columns: tuple[str, ...] = ("caption",), phrase: bool = False) -> list:
        """Caption-index hits (audit.index.captions.KeywordMatch), denylisted ids removed; [] without a caption index."""
        if self.captions is None:
            return []
        return self.captions.search(text, k, columns=columns, phrase=phrase, exclude=self.denied_ids.tolist())

    def _image(self, image: Image.Image | str | Path) -> Image.Image:
        return image.convert("RGB") if isinstance(image, Image.Image) else load_rgb(image)

    def search_image(self, image: Image.Image | str | Path, k: int = 20) -> list[SearchHit]:
        img = self._image(image)
        q = self.embedder.embed_images([img], progress=False)
        s, i = self.search_vectors(q, k)
        return self._hits(s[0], i[0], "clip-image")

    def near_duplicates(self, image: Image.Image | str | Path, max_distance: int = config.PHASH_NEAR_DUPLICATE,
                        kind: str = "phash") -> list[SearchHit]:
        """Rows whose perceptual hash is within `max_distance` bits of the image or its mirror; score = 1 - d/64."""
        if kind not in (*HASH_KINDS, "both"):
            raise InputError(f"unknown hash kind '{kind}'", "use phash, dhash or both")
        if self._hash_index is None:
            hashes = self._read_table(HASHES_NAME, ["id", *HASH_KINDS])
            if len(hashes) != self.count or not np.array_equal(hashes["id"].to_numpy(np.int64), self.ids):
                raise ArtefactError(f"{self.dir / HASHES_NAME} does not match ids.parquet",
                                    "rebuild the index with `audit index build --overwrite`")
            self._hash_index = HashIndex({kd: hashes[kd].to_numpy(np.uint64) for kd in HASH_KINDS})
        matches = self._hash_index.lookup(self._image(image), max_distance, kind)
        if len(self.denied_ids):
            matches = [m for m in matches if not np.isin(self.ids[m.row], self.denied_ids)]
        scores = np.array([1.0 - m.distance / 64.0 for m in matches], dtype=np.float32)
        ids = np.array([self.ids[m.row] for m in matches], dtype=np.int64)
        hits = self._hits(scores, ids, kind, [m.distance for m in matches], evidence="perceptual hash")
        return [SearchHit(**{**h.as_dict(), "method": f"{kind}+mirror" if m.mirrored else kind})
                for h, m in zip(hits, matches)]

    # ---- rows -----------------------------------------------------------------------------------
    def _row_pos(self, id_: int) -> int:
        pos = int(self.searcher.rows_of(np.array([id_], dtype=np.int64))[0])
        if pos >= self.count or self.ids[pos] != id_:
            raise InputError(f"id {id_} is not in index {self.dir}")
        return pos

    def row(self, id_: int) -> dict[str, Any]:
        return self.table.iloc[self._row_pos(int(id_))].to_dict()

    def rows(self, ids: Iterable[int]) -> pd.DataFrame:
        return self.table.iloc[[self._row_pos(int(i)) for i in ids]].reset_index(drop=True)

    def image_path(self, id_: int) -> Path:
        return self.dataset_dir / str(self.row(id_)["path"])

    def id_of(self, key: str) -> int:
        """The index id of a manifest key (whether or not it is present)."""
        return int(key_ids([key])[0])


def open_index(index_dir: str | Path, mmap: bool = True, embedder: Any = None) -> SearchIndex:
    return SearchIndex(index_dir, mmap=mmap, embedder=embedder)


def query_index(index: SearchIndex, query: "str | Image.Image", k: int = 20, mode: str | None = None) -> list[SearchHit]:
    """Text (mode hybrid, clip or keyword; default the index's) or image search as a reviewer asks it: k out of range
    or an empty text is an InputError that says what to do, not a meaningless result list."""
    if not 1 <= int(k) <= 1000:
        raise InputError(f"k={k} is out of range", "ask for 1 to 1000 results")
    if isinstance(query, str):
        text = query.strip()
        if not text:
            raise InputError("the text query is empty", "type a few words describing the image")
        return list(index.search_text(text, k=int(k), mode=mode))
    return list(index.search_image(query, k=int(k)))


def hit_image_path(index: Any, hit: Any) -> Path | None:
    """Where a hit's image file is, asking the index first (it knows its dataset dir); None when the file is gone
    (e.g. erased by a removal request since the search)."""
    candidates: list[Path] = []
    try:
        candidates.append(Path(index.image_path(hit.id)))
    except (AuditError, KeyError, IndexError, OSError, TypeError, ValueError):
        pass
    raw = _opt(getattr(hit, "path", None))
    if raw and raw.strip():
        candidates.append(Path(raw.strip()))
    return next((c for c in candidates if c.is_file()), None)

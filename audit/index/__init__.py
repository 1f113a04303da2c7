"""Search indices over a training set: faiss vectors (exact, or approximate + exact re-rank), perceptual
hashes for near duplicates, a query-time denylist. Heavy imports (faiss, torch) happen inside functions.

    from audit.index import build_index, open_index
    build_index("dataset/", "index/")               # idempotent
    idx = open_index("index/"); idx.search_text("a red apple", k=5)
"""

from __future__ import annotations

from audit.index.build import build_index
from audit.index.denylist import add_to_denylist, read_denylist
from audit.index.search import SearchHit, SearchIndex, hits_frame, open_index

__all__ = ["build_index", "open_index", "SearchIndex", "SearchHit", "hits_frame", "add_to_denylist", "read_denylist"]

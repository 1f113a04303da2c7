"""Search indices over a training set: faiss vectors (exact, or approximate + exact re-rank), perceptual
hashes for near duplicates, a query-time denylist. Heavy imports (faiss, torch) happen inside functions.

    from audit.index import build_index, open_index
    build_index("dataset/", "index/")               # idempotent
    idx = open_index("index/"); idx.search_text("a red apple", k=5)

The names below are resolved on first use (PEP 562), so importing a light submodule such as
`audit.index.hamming` does not pull in pandas/pyarrow/PIL through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.lazy import lazy_exports

_EXPORTS = {
    "build_index": "audit.index.build",
    "add_to_denylist": "audit.index.denylist",
    "read_denylist": "audit.index.denylist",
    "SearchHit": "audit.index.search",
    "SearchIndex": "audit.index.search",
    "hits_frame": "audit.index.search",
    "open_index": "audit.index.search",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from audit.index.build import build_index  # noqa: F401  (lazy re-exports for type checkers)
    from audit.index.denylist import add_to_denylist, read_denylist  # noqa: F401
    from audit.index.search import SearchHit, SearchIndex, hits_frame, open_index  # noqa: F401

"""Opened indices kept per process: one cache serves the review app, removal locate and opt-out lookup.

Opening a 1M-item index (tables, faiss, CLIP model) costs far more than a query, and a reviewer (or the app)
queries the same index many times. An entry is keyed by the resolved directory and reused only while its change
token (audit.index.layout) is unchanged: an erasure's rebuild replaces the files, so the next call opens the new
index; a changed denylist only re-reads the denylist, so an erased subject disappears from the next query at once.
LRU of MAX_ENTRIES indices. Safe to call from several threads (Streamlit serves sessions from threads).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from audit.errors import InputError
from audit.index.layout import ChangeToken, change_token

MAX_ENTRIES = 4

_LOCK = threading.Lock()
#: Serialises model loading: seeded random init uses torch's global RNG and SearchIndex loads its model lazily,
#: so two threads loading at once would build differently-initialised models.
_LOAD_LOCK = threading.Lock()
_CACHE: OrderedDict[str, tuple[ChangeToken, Any]] = OrderedDict()


def open_index_ready(path: str | Path) -> Any:
    """Open an index and load its CLIP model now, one load at a time (uncached: see `cached_index`)."""
    from audit.index.search import open_index

    with _LOAD_LOCK:
        index = open_index(Path(path))
        index.embedder  # noqa: B018  (load inside the lock, not lazily on a first search)
    return index


def cached_index(index_dir: str | Path) -> Any:
    """The opened SearchIndex of `index_dir` with its CLIP model loaded, reopened when the index was rebuilt."""
    d = Path(index_dir).expanduser().resolve()
    if not d.is_dir():
        raise InputError(f"index {index_dir} does not exist", "build it with `audit index build`")
    token = change_token(d)
    with _LOCK:
        hit = _CACHE.get(str(d))
        if hit is not None and hit[0].core == token.core:
            idx = hit[1]
            if hit[0].denylist != token.denylist:
                idx.reload_denylist()  # swaps two attributes: queries running now see the old or the new list
                _CACHE[str(d)] = (token, idx)
            _CACHE.move_to_end(str(d))
            return idx
    idx = open_index_ready(d)
    with _LOCK:
        _CACHE[str(d)] = (token, idx)
        _CACHE.move_to_end(str(d))
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return idx


def clear_index_cache() -> None:
    """Forget every opened index (frees their memory maps and models)."""
    with _LOCK:
        _CACHE.clear()

"""Opened indices kept across locate calls: opening a 1M-item index (tables, faiss, CLIP model) costs far more than
the lookup itself, and a reviewer (or the app) locates many requests against the same index.

An entry is reused only while the index files are unchanged (inode, mtime, size of each): an erasure's rebuild
replaces the directory, so the next call opens the new index. A changed denylist only re-reads the denylist,
so an erased subject disappears from the next locate at once. Safe to call from several threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from audit.errors import InputError

#: Files whose change means "another index": reopen.
CORE_FILES = ("meta.json", "vectors.faiss", "vectors.npy", "ids.parquet", "hashes.parquet")
DENYLIST_FILE = "denylist.parquet"
MAX_ENTRIES = 4

_LOCK = threading.Lock()
_CACHE: OrderedDict[str, tuple[tuple, tuple, Any]] = OrderedDict()


def _stamp(d: Path, names: tuple[str, ...]) -> tuple:
    out = []
    for n in names:
        try:
            st = (d / n).stat()
            out.append((n, st.st_ino, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((n, None))
    return tuple(out)


def cached_index(index_dir: str | Path) -> Any:
    """The opened SearchIndex of `index_dir` with its CLIP model loaded, reopened when the index was rebuilt."""
    from audit import webapp

    d = Path(index_dir).expanduser().resolve()
    if not d.is_dir():
        raise InputError(f"index {index_dir} does not exist", "build it with `audit index build`")
    core, deny = _stamp(d, CORE_FILES), _stamp(d, (DENYLIST_FILE,))
    with _LOCK:
        hit = _CACHE.get(str(d))
        if hit is not None and hit[0] == core:
            idx = hit[2]
            if hit[1] != deny:
                idx.reload_denylist()  # swaps two attributes: queries running now see the old or the new list
                _CACHE[str(d)] = (core, deny, idx)
            _CACHE.move_to_end(str(d))
            return idx
    idx = webapp.open_index_ready(d)  # one model load at a time (seeded init uses torch's global RNG)
    with _LOCK:
        _CACHE[str(d)] = (core, deny, idx)
        _CACHE.move_to_end(str(d))
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return idx


def clear_index_cache() -> None:
    """Forget every opened index (frees their memory maps and models)."""
    with _LOCK:
        _CACHE.clear()

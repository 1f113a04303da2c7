"""Denylist: keys hidden from every query at once (GDPR erasure, opt-out) until the index is rebuilt without them.

faiss cannot remove ids from every index type, so removal is a query-time filter first and a rebuild after
(NOTES: GDPR requests). The denylist survives rebuilds: it doubles as a tombstone list. The caption index
(audit.index.captions) can delete rows, so denylisted rows are deleted from it at once: their caption text
does not stay searchable, nor stored, until the rebuild.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

import pandas as pd

from audit.atomic import atomic_path
from audit.errors import ArtefactError
from audit.index.captions import CAPTIONS_NAME, drop_ids
from audit.index.layout import DENYLIST_NAME
from audit.index.vectors import key_ids

COLUMNS = ("key", "reason", "added_unix")


def read_denylist(index_dir: str | Path) -> pd.DataFrame:
    """The denylist of an index dir (empty frame when there is none)."""
    path = Path(index_dir) / DENYLIST_NAME
    if not path.is_file():
        return pd.DataFrame({"key": pd.Series(dtype="string"), "reason": pd.Series(dtype="string"),
                             "added_unix": pd.Series(dtype="int64")})
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ArtefactError(f"{path} is not readable ({str(exc)[:100]})",
                            "restore it from the removal log or delete it and re-apply the removals") from None
    if "key" not in df.columns:
        raise ArtefactError(f"{path} has no 'key' column", "re-create it with audit.index.add_to_denylist")
    return df


def add_to_denylist(index_dir: str | Path, keys: Iterable[str], reason: str = "") -> int:
    """Append keys (idempotent: known keys are kept once); returns how many were new."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise ArtefactError(f"{index_dir} is not an index directory", "build it with `audit index build`")
    old = read_denylist(index_dir)
    known = set(old["key"].astype(str))
    new_keys = [k for k in dict.fromkeys(str(k) for k in keys) if k not in known]
    if not new_keys:
        _drop_captions(index_dir, known)  # idempotent: finishes a run interrupted between the two writes
        return 0
    now = int(time.time())
    add = pd.DataFrame({"key": new_keys, "reason": [reason] * len(new_keys), "added_unix": [now] * len(new_keys)})
    df = pd.concat([old[list(COLUMNS)] if len(old) else None, add], ignore_index=True)
    df["key"] = df["key"].astype("string")
    df["reason"] = df["reason"].astype("string")
    df["added_unix"] = df["added_unix"].astype("int64")
    with atomic_path(index_dir / DENYLIST_NAME, ".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    _drop_captions(index_dir, new_keys)
    return len(new_keys)


def _drop_captions(index_dir: Path, keys: Iterable[str]) -> None:
    """Delete the keys' rows from the caption index (after the denylist is written: queries filter them anyway)."""
    keys = list(keys)
    if keys and (index_dir / CAPTIONS_NAME).is_file():
        drop_ids(index_dir / CAPTIONS_NAME, key_ids(keys).tolist())

"""The owner of an index directory's layout: its file names, its change token and small readers.

Every module that reads an index dir by hand (rather than through `open_index`) goes through here, so a newcomer
finds what an index dir holds, and a layout change touches one file. Writing stays in `build.finish_index_dir`
(and `denylist.add_to_denylist`), which take their names from here too.

    INDEX_DIR/meta.json         kind="index": model name + fingerprint, dim, count, factory, manifest hash, dataset dir
    INDEX_DIR/vectors.faiss     faiss index (ids = key hashes)
    INDEX_DIR/vectors.npy       exact L2-normalised float32 rows for the re-rank, memory-mapped at query time
    INDEX_DIR/ids.parquet       row id -> manifest columns (key, path, caption, author, license, ...)
    INDEX_DIR/hashes.parquet    id, key, phash, dhash (uint64)
    INDEX_DIR/denylist.parquet  optional: keys hidden from every query (removal, opt-out); survives rebuilds

Rows of every file are in ascending id order. Light module: pandas, pyarrow and numpy load inside the readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.atomic import restore_if_absent
from audit.errors import ArtefactError
from audit.meta import META_NAME, read_meta

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

KIND = "index"
FAISS_NAME = "vectors.faiss"
VECTORS_NAME = "vectors.npy"
IDS_NAME = "ids.parquet"
HASHES_NAME = "hashes.parquet"
DENYLIST_NAME = "denylist.parquet"
#: Caption words for keyword / hybrid search (SQLite FTS5; written by audit.index.captions; optional for old indices).
CAPTIONS_NAME = "captions.fts.sqlite"
#: Every unfiltered row's vector while a build is running (renamed or filtered into vectors.npy at the end).
VECTORS_WORK_NAME = "vectors.all.npy"
#: What a finished build writes; a dir missing one is incomplete (`audit index build` refuses to call it up to date).
BUILD_FILES = (FAISS_NAME, VECTORS_NAME, IDS_NAME, HASHES_NAME, META_NAME)
#: What a reader needs before it can list or open the index (the app's "ready").
READY_FILES = (META_NAME, FAISS_NAME, IDS_NAME)
#: Files whose change means "another index": a cached opened index must be reopened.
CORE_FILES = (META_NAME, FAISS_NAME, VECTORS_NAME, IDS_NAME, HASHES_NAME)
REBUILD_HINT = "rebuild the index with `audit index build --overwrite`"


def _stamp(d: Path, names: tuple[str, ...]) -> tuple:
    out: list[tuple] = []
    for n in names:
        try:
            st = (d / n).stat()
            out.append((n, st.st_ino, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((n, None))
    return tuple(out)


@dataclass(frozen=True)
class ChangeToken:
    """(inode, mtime, size) of each index file: equal tokens mean the same files.

    `core` changes when the index was rebuilt (an erasure's rebuild replaces the directory); `denylist` when a key
    was hidden, which needs only the denylist re-read. `str()` gives one string for cache keys."""

    core: tuple
    denylist: tuple

    def __str__(self) -> str:
        return "-".join(":".join(str(v) for v in part) for part in (*self.core, *self.denylist))


def change_token(index_dir: str | Path) -> ChangeToken:
    """The change token of an index dir now (missing files count as missing, never as an error)."""
    d = Path(index_dir)
    return ChangeToken(_stamp(d, CORE_FILES), _stamp(d, (DENYLIST_NAME,)))


def is_index_dir(path: str | Path) -> bool:
    """True for a directory whose meta.json says kind="index" (files not checked: see `missing_files`).

    An unreadable meta.json is an ArtefactError, not False: the user should hear that the file is damaged."""
    p = Path(path)
    if not (p.is_dir() and (p / META_NAME).is_file()):
        return False
    return read_meta(p).get("kind") == KIND


def read_index_meta(index_dir: str | Path) -> dict[str, Any]:
    """meta.json of an index dir; ArtefactError when missing, unreadable or of another kind."""
    restore_if_absent(index_dir)  # a kill between the two renames of a swap must not lose the index
    return read_meta(index_dir, kind=KIND)


def missing_files(index_dir: str | Path, names: tuple[str, ...] = READY_FILES) -> list[str]:
    """Which of `names` are not files in `index_dir`, in order."""
    d = Path(index_dir)
    return [n for n in names if not (d / n).is_file()]


def read_table(index_dir: str | Path, name: str, columns: list[str] | None = None, arrow: bool = False) -> Any:
    """One parquet file of the index (only `columns` parsed; as a pyarrow Table with `arrow`).

    Missing or damaged files are an ArtefactError saying to rebuild, never a pyarrow traceback."""
    path = Path(index_dir) / name
    if not path.is_file():
        raise ArtefactError(f"{path} is missing", REBUILD_HINT)
    try:
        if arrow:
            import pyarrow.parquet as pq

            have = pq.read_schema(path).names
            return pq.read_table(path, columns=[c for c in (columns or have) if c in have])
        import pandas as pd

        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ArtefactError(f"{path} is corrupt ({str(exc)[:100]})", REBUILD_HINT) from None


def read_ids(index_dir: str | Path, columns: list[str] | None = None) -> "pd.DataFrame":
    """ids.parquet: row id -> manifest columns."""
    return read_table(index_dir, IDS_NAME, columns)


def has_hashes(index_dir: str | Path) -> bool:
    """Whether the index stores perceptual hashes (indices from before hashes.parquet do not)."""
    return (Path(index_dir) / HASHES_NAME).is_file()


def read_hashes(index_dir: str | Path, columns: list[str] | None = None) -> "pd.DataFrame | None":
    """hashes.parquet (id, key, phash, dhash), or None for an index without one."""
    if not has_hashes(index_dir):
        return None
    return read_table(index_dir, HASHES_NAME, columns)


def open_vectors(index_dir: str | Path) -> "np.ndarray":
    """vectors.npy memory-mapped read-only (rows in id order, L2-normalised float32)."""
    path = Path(index_dir) / VECTORS_NAME
    if not path.is_file():
        raise ArtefactError(f"{path} is missing", REBUILD_HINT)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ArtefactError(f"{path} is corrupt ({str(exc)[:100]})", REBUILD_HINT) from None


def dataset_dir(index_dir: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """The dataset dir the index was built from (relative paths in ids.parquet resolve against it)."""
    meta = read_index_meta(index_dir) if meta is None else meta
    return Path(meta.get("dataset_dir", index_dir))


def key_paths(index_dir: str | Path, keys: "list[str] | tuple[str, ...]") -> dict[str, Path | None]:
    """Image file of each key (None when the key is not indexed or its file is gone): thumbnails for reviewers."""
    want = {str(k) for k in keys}
    if not want:
        return {}
    ids = read_ids(index_dir, columns=["key", "path"])
    root = dataset_dir(index_dir)
    out: dict[str, Path | None] = dict.fromkeys(want)
    for key, rel in zip(ids["key"].astype(str), ids["path"].astype(str)):
        if key in want:
            p = Path(rel) if Path(rel).is_absolute() else root / rel
            out[key] = p if p.is_file() else None
    return out

"""The manifest: one row per training item, img2dataset/LAION column names where they exist.

A dataset directory holds `manifest.parquet`, `images/` and `meta.json`. Paths in the manifest are
relative to the dataset directory so the directory can be moved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.atomic import atomic_path, restore_if_absent
from audit.errors import ManifestError
from audit.meta import sha256_strings
from audit.paths import HINT, confine, path_problem

MANIFEST_NAME = "manifest.parquet"
IMAGES_DIRNAME = "images"

#: Columns every manifest has. `key`, `url`, `caption`, `width`, `height`, `sha256` follow img2dataset;
#: `path`, `phash`, `author`, `license`, `source` are ours.
MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("path", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("sha256", pa.string()),
        ("phash", pa.string()),
        ("author", pa.string()),
        ("license", pa.string()),
        ("source", pa.string()),
    ]
)
REQUIRED_COLUMNS = tuple(MANIFEST_SCHEMA.names)
#: The least a foreign manifest (e.g. an img2dataset shard) must have to be ingested.
MINIMAL_COLUMNS = ("key",)


def empty_manifest() -> pd.DataFrame:
    return MANIFEST_SCHEMA.empty_table().to_pandas()


def conform(df: pd.DataFrame, *, source_name: str = "manifest") -> pd.DataFrame:
    """Check required columns and types; extra columns are kept after the standard ones."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(
            f"{source_name} is missing column(s) {', '.join(missing)}",
            f"a manifest needs {', '.join(REQUIRED_COLUMNS)}; use `audit dataset ingest` to build one",
        )
    if df["key"].isna().any():
        raise ManifestError(f"{source_name}: {int(df['key'].isna().sum())} row(s) have no key", "every row needs a key")
    dup = df["key"][df["key"].duplicated()]
    if len(dup):
        raise ManifestError(
            f"{source_name}: duplicate key(s) {', '.join(map(str, dup.head(5)))}", "keys must be unique"
        )
    _refuse_hostile_paths(df, source_name)
    out = df.copy()
    for col in ("width", "height"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int32")
    for col in REQUIRED_COLUMNS:
        if col not in ("width", "height"):
            out[col] = out[col].astype("string")
    extra = [c for c in out.columns if c not in REQUIRED_COLUMNS]
    return out[list(REQUIRED_COLUMNS) + extra].reset_index(drop=True)


def _refuse_hostile_paths(df: pd.DataFrame, source_name: str) -> None:
    """Absolute, `..` and NUL paths are refused whenever a manifest is read or written (audit.paths)."""
    s = df["path"].reset_index(drop=True)
    s = s[s.notna()].astype(str)
    flagged = s[s.str.startswith(("/", "\\")) | s.str.contains("..", regex=False) | s.str.contains("\x00", regex=False)
                | s.str.match(r"^[A-Za-z]:")]
    for pos, rel in flagged.items():
        if (problem := path_problem(rel)) is not None:
            raise ManifestError(f"{source_name} row {pos} (key {df['key'].iloc[int(pos)]}): path {rel[:200]!r} {problem}", HINT)


def manifest_path(dataset: str | Path) -> Path:
    """Accept a dataset directory or a manifest file."""
    p = Path(dataset)
    return p / MANIFEST_NAME if p.is_dir() else p


def read_manifest(dataset: str | Path) -> pd.DataFrame:
    restore_if_absent(dataset)  # a dataset dir lost between the two renames of a swap comes back
    path = manifest_path(dataset)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}", "build one with `audit dataset build-reference` or `audit dataset ingest`")
    try:
        df = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path} is not a readable parquet file ({exc})", "rebuild the manifest") from None
    return conform(df, source_name=str(path))


def write_manifest(df: pd.DataFrame, dataset_dir: str | Path) -> Path:
    """Validate and write `manifest.parquet` atomically; returns its path."""
    df = conform(df)
    dest = Path(dataset_dir) / MANIFEST_NAME
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(dest, ".parquet") as tmp:
        pq.write_table(table, tmp)
    return dest


def manifest_hash(df: pd.DataFrame) -> str:
    """Content hash of a manifest: its keys and image hashes, in order."""
    return sha256_strings(f"{k}:{s}" for k, s in zip(df["key"].astype(str), df["sha256"].fillna("").astype(str)))


IMAGE_ROOT_FIELD = "image_root"


def image_root(dataset_dir: str | Path) -> Path:
    """The folder a dataset's manifest paths are relative to: the dataset dir, or for a derived dataset (e.g.
    `audit optout filter` output, which references the source's images instead of copying them) the folder its
    meta.json names in `image_root`. Rows can never leave this root (audit.paths.confine)."""
    base = Path(dataset_dir)
    meta = base / "meta.json"
    if meta.is_file():
        try:
            root = json.loads(meta.read_text(encoding="utf-8")).get(IMAGE_ROOT_FIELD)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            root = None
        if isinstance(root, str) and root:
            return Path(root) if Path(root).is_absolute() else base / root
    return base


def resolve_paths(df: pd.DataFrame, dataset_dir: str | Path, *, source: str | None = None) -> list[Path]:
    """Image files of manifest rows, each confined to the dataset's image root (refused with the row named)."""
    root = image_root(dataset_dir)
    src = source or str(manifest_path(dataset_dir))
    keys = df["key"].astype(str).tolist() if "key" in df.columns else ["?"] * len(df)
    return [confine(root, p if isinstance(p, str) else None if p is None or p != p else p,
                    where=f"{src} row {i} (key {k})") for i, p, k in zip(df.index, df["path"].tolist(), keys)]

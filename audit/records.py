"""The manifest: one row per training item, img2dataset/LAION column names where they exist.

A dataset directory holds `manifest.parquet`, `images/` and `meta.json`. Paths in the manifest are
relative to the dataset directory so the directory can be moved.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.atomic import atomic_path
from audit.errors import ManifestError
from audit.meta import sha256_strings

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
    out = df.copy()
    for col in ("width", "height"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int32")
    for col in REQUIRED_COLUMNS:
        if col not in ("width", "height"):
            out[col] = out[col].astype("string")
    extra = [c for c in out.columns if c not in REQUIRED_COLUMNS]
    return out[list(REQUIRED_COLUMNS) + extra].reset_index(drop=True)


def manifest_path(dataset: str | Path) -> Path:
    """Accept a dataset directory or a manifest file."""
    p = Path(dataset)
    return p / MANIFEST_NAME if p.is_dir() else p


def read_manifest(dataset: str | Path) -> pd.DataFrame:
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


def resolve_paths(df: pd.DataFrame, dataset_dir: str | Path) -> list[Path]:
    """Absolute image paths of manifest rows (paths are stored relative to the dataset dir)."""
    base = Path(dataset_dir)
    return [Path(p) if Path(p).is_absolute() else base / p for p in df["path"].astype(str)]

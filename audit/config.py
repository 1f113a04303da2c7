"""Paths, defaults and environment variables in one place, so every command and the app agree on them.

Every `GENAUDIT_*` variable genaudit reads is named here (the `ENV_*` constants) and read only through the
functions below; the table in docs/CONTRACTS.md documents them. Values are read when asked for (not at import)
except GENAUDIT_DATA and GENAUDIT_CACHE, which fix the data and cache folders for the whole process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

# --- environment variables ---------------------------------------------------------------------------------
#: Folder of the shipped assets (default: data/ of the checkout).
ENV_DATA = "GENAUDIT_DATA"
#: Folder for downloads and other rebuildable caches (default: ~/.cache/genaudit).
ENV_CACHE = "GENAUDIT_CACHE"
#: Progress bars: 0/false/no never, 1/true/yes always, unset: only when stderr is a terminal.
ENV_PROGRESS = "GENAUDIT_PROGRESS"
#: Workspace directory (holding workspace.toml) the review app opens (`audit app --workspace` sets it).
ENV_WORKSPACE = "GENAUDIT_WORKSPACE"
#: Index directory the review app opens (`audit app --index` sets it for the Streamlit process).
ENV_INDEX = "GENAUDIT_INDEX"
#: Memorisation report directory the app's review page opens first.
ENV_REPORT = "GENAUDIT_REPORT"
#: Generator model directory the app's generate page opens first.
ENV_GENERATOR = "GENAUDIT_GENERATOR"
#: Removal-request database: ingest, `audit index build` and `audit scale hash` refuse its tombstoned images; the app's pages open it.
ENV_REMOVAL_DB = "GENAUDIT_REMOVAL_DB"
#: Opt-out registry the app files artist opt-outs into (and the dataset card page reads).
ENV_OPTOUT_REGISTRY = "GENAUDIT_OPTOUT_REGISTRY"
#: Rows per Arrow batch between Spark and pandas (spark.sql.execution.arrow.maxRecordsPerBatch).
ENV_SPARK_BATCH_ROWS = "GENAUDIT_SPARK_BATCH_ROWS"
#: Memory of the Spark driver (spark.driver.memory).
ENV_SPARK_DRIVER_MEMORY = "GENAUDIT_SPARK_DRIVER_MEMORY"
#: Fault injection for crash tests only: the named point SIGKILLs the process (audit.faults). Never set it in use.
ENV_FAULT = "GENAUDIT_FAULT"


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value without surrounding blanks, or None when it is unset or blank (blank means 'not set')."""
    value = ((os.environ if environ is None else environ).get(name) or "").strip()
    return value or None


def _env_path(name: str, default: Path, environ: Mapping[str, str] | None = None) -> Path:
    value = env_value(name, environ)
    return Path(value).expanduser() if value else default


# --- shipped assets and caches -----------------------------------------------------------------------------
#: Shipped assets (tiny CLIP checkpoint, reference sample set, generator checkpoint).
DATA_DIR = _env_path(ENV_DATA, PROJECT_DIR / "data")
#: Downloads (Debian packages) and other rebuildable caches.
CACHE_DIR = _env_path(ENV_CACHE, Path.home() / ".cache" / "genaudit")

#: Name of the embedded CLIP model; resolved by audit.embed.load_embedder.
DEFAULT_MODEL = "genaudit-tiny-clip"
TINY_CLIP_DIR = DATA_DIR / "tiny_clip"
REFERENCE_DIR = DATA_DIR / "reference"
#: The shipped reference generator: `audit generate sample` uses it when no --generator is given.
GENERATOR_DIR = DATA_DIR / "generator"

#: Default output folder of `audit demo` (relative to the working directory).
DEMO_DIR = Path("demo")
#: Where the app looks for an index and a memorisation report when the environment names none (`audit demo` output).
DEFAULT_INDEX_DIR = DEMO_DIR / "index"
DEFAULT_REPORT_DIR = DEMO_DIR / "memorisation"
#: Removal-request database of `audit removal` and the app's removal page (relative to the working directory).
DEFAULT_REMOVAL_DB = Path("requests.db")
#: Opt-out registry the app files opt-outs into when the environment names none.
DEFAULT_OPTOUT_REGISTRY = Path("optout.db")
#: Spark defaults for a laptop-sized driver (see docs/SCALE.md).
DEFAULT_SPARK_BATCH_ROWS = 200_000
DEFAULT_SPARK_DRIVER_MEMORY = "2g"

#: Above this many vectors `audit index build` switches from exact to an approximate faiss index.
EXACT_INDEX_MAX = 50_000
#: How many candidates the approximate index returns per query before the exact re-rank.
RERANK_FACTOR = 10

#: Perceptual-hash Hamming distance (of 64 bits) under which two images count as near-duplicates.
PHASH_NEAR_DUPLICATE = 8
#: CLIP cosine at or above which clip-retrieval's dedup treats two images as duplicates.
CLIP_DUPLICATE_COSINE = 0.94

DEFAULT_SEED = 0


# --- values the environment may override (read on each call: tests and the app set them at run time) ---------
def progress_choice() -> bool | None:
    """$GENAUDIT_PROGRESS as a choice: False (0/false/no), True (1/true/yes), or None (decide by the terminal)."""
    value = (env_value(ENV_PROGRESS) or "").lower()
    return False if value in ("0", "false", "no") else True if value in ("1", "true", "yes") else None


def workspace_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """$GENAUDIT_WORKSPACE (as `audit app --workspace` sets it), or None when unset."""
    value = env_value(ENV_WORKSPACE, environ)
    return Path(value).expanduser() if value else None


def index_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The index the app opens: $GENAUDIT_INDEX if set (as `audit app --index` does), else demo/index."""
    return _env_path(ENV_INDEX, DEFAULT_INDEX_DIR, environ)


def report_dir() -> Path:
    """The memorisation report the app opens first: $GENAUDIT_REPORT, else demo/memorisation."""
    return _env_path(ENV_REPORT, DEFAULT_REPORT_DIR)


def generator_dir() -> Path:
    """The generator the app opens first: $GENAUDIT_GENERATOR, else the shipped one."""
    return _env_path(ENV_GENERATOR, GENERATOR_DIR)


def removal_db_from_env() -> Path | None:
    """$GENAUDIT_REMOVAL_DB, or None when unset (then ingest filters nothing)."""
    value = env_value(ENV_REMOVAL_DB)
    return Path(value).expanduser() if value else None


def removal_db() -> Path:
    """The request database the app opens: $GENAUDIT_REMOVAL_DB, else requests.db (as `audit removal`)."""
    return removal_db_from_env() or DEFAULT_REMOVAL_DB


def removal_keys_dir(db: str | Path) -> Path:
    """Secrets of a removal database (HMAC chain key, salt, Ed25519 signing key): `<db>.keys/` beside it, mode 0700.
    Back it up apart from the database: the chain cannot be verified without it."""
    db = Path(db)
    return db.with_name(db.name + ".keys")


def removal_heads_file(db: str | Path) -> Path:
    """The append-only file of signed chain heads of a removal database: `<db>.heads` beside it."""
    db = Path(db)
    return db.with_name(db.name + ".heads")


def optout_registry() -> Path:
    """The registry the app files opt-outs into: $GENAUDIT_OPTOUT_REGISTRY, else optout.db in the working directory."""
    return _env_path(ENV_OPTOUT_REGISTRY, DEFAULT_OPTOUT_REGISTRY)


def spark_batch_rows() -> str:
    """$GENAUDIT_SPARK_BATCH_ROWS, else 200000 (a Spark config value, hence text)."""
    return env_value(ENV_SPARK_BATCH_ROWS) or str(DEFAULT_SPARK_BATCH_ROWS)


def spark_driver_memory() -> str:
    """$GENAUDIT_SPARK_DRIVER_MEMORY, else 2g."""
    return env_value(ENV_SPARK_DRIVER_MEMORY) or DEFAULT_SPARK_DRIVER_MEMORY


def fault_point() -> str | None:
    """$GENAUDIT_FAULT: the fault-injection point that kills the process (tests only), or None."""
    return env_value(ENV_FAULT)

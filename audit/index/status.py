"""Is this directory a usable index, and if not why and what to do; which indices are near; which one is the default.

Cheap (no faiss, no model, only meta.json and file stats) so the review app can call it on every page run and
`audit app` before it starts Streamlit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from audit import config
from audit.errors import ArtefactError
from audit.index import layout

#: Environment variable through which `audit app` hands the index directory to the Streamlit process.
INDEX_ENV = config.ENV_INDEX
NO_INDEX_HINT = "run `audit demo` or `audit index build IMAGES_DIR --out INDEX_DIR`, then pick that directory"
#: Folders never walked looking for indices (a dataset's images/ can hold millions of files).
_SKIP_DIRS = ("images", "thumbs", "__pycache__", "node_modules")


def default_index_dir(environ: Mapping[str, str] | None = None) -> Path:
    """GENAUDIT_INDEX if set (as `audit app --index` does), else `demo/index` under the working directory."""
    return config.index_dir(environ)


@dataclass(frozen=True)
class IndexStatus:
    """Whether a directory holds a usable index, and if not, why and what to do."""

    path: Path
    ready: bool
    message: str
    hint: str | None = None
    count: int | None = None
    model: str | None = None
    #: str(layout.change_token): changes whenever the index is rebuilt or its denylist grows, so caches reload.
    token: str = ""

    @property
    def summary(self) -> str:
        if not self.ready:
            return self.message
        return f"{self.count:,} images · model `{self.model}`"


def index_status(path: str | Path | None) -> IndexStatus:
    """Check a directory without loading faiss or a model: cheap enough to call on every page run."""
    if path is None or not str(path).strip():
        return IndexStatus(Path(""), False, "No index directory given.", NO_INDEX_HINT)
    p = Path(str(path).strip()).expanduser()
    if not p.exists():
        return IndexStatus(p, False, f"No index at `{p}` yet.", NO_INDEX_HINT)
    if not p.is_dir():
        return IndexStatus(p, False, f"`{p}` is a file, not an index directory.", NO_INDEX_HINT)
    try:
        meta = layout.read_index_meta(p)
    except ArtefactError as exc:
        return IndexStatus(p, False, f"`{p}` is not a usable index: {exc.message}", NO_INDEX_HINT)
    missing = layout.missing_files(p, layout.READY_FILES)
    if missing:
        return IndexStatus(
            p, False, f"Index `{p}` is incomplete (missing {', '.join(missing)}).",
            "rebuild it with `audit index build … --overwrite`",
        )
    count = meta.get("count")
    return IndexStatus(
        p, True, "ready", None,
        count=int(count) if isinstance(count, (int, float)) else None,
        model=str(meta.get("model") or "unknown model"),
        token=str(layout.change_token(p)),
    )


def discover_indices(roots: Iterable[str | Path], max_depth: int = 2) -> list[Path]:
    """Index directories (meta.json of kind "index") at or below `roots`, nearest first, without duplicates.

    Only directories are walked, hidden ones and `images/` folders skipped, so a large dataset costs little.
    """
    found: list[Path] = []
    seen: set[Path] = set()

    def visit(d: Path, depth: int) -> None:
        try:
            real = d.resolve()
        except OSError:
            return
        if real in seen:
            return
        seen.add(real)
        if index_status(d).ready:
            found.append(d)
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(
                e.path for e in os.scandir(d)
                if e.is_dir(follow_symlinks=False) and not e.name.startswith(".") and e.name not in _SKIP_DIRS
            )
        except OSError:
            return
        for child in children:
            visit(Path(child), depth + 1)

    for root in roots:
        root = Path(root)
        if root.is_dir():
            visit(root, 0)
    return found

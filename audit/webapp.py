"""Helpers behind the review app (app/): index discovery, result formatting, upload decoding, launch command.

The Streamlit pages hold UI only; everything that can be wrong lives here, where plain tests reach it.
No streamlit, torch or faiss import at module level: `audit app` and the tests import this cheaply.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from audit import config
from audit.errors import ArtefactError, AuditError, ImageError, InputError
from audit.images import fit_within, load_image

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from PIL import Image

APP_TITLE = "genaudit review"
#: Environment variable through which `audit app` hands the index directory to the Streamlit process.
INDEX_ENV = "GENAUDIT_INDEX"
APP_SCRIPT = config.PROJECT_DIR / "app" / "streamlit_app.py"
INDEX_FILES = ("meta.json", "vectors.faiss", "ids.parquet")
#: Also part of the cache token: a removal adds to the denylist, and the app must stop showing the item at once.
TOKEN_OPTIONAL_FILES = ("denylist.parquet", "hashes.parquet")
NO_INDEX_HINT = "run `audit demo` or `audit index build IMAGES_DIR --out INDEX_DIR`, then pick that directory"
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff")


def default_index_dir(environ: Mapping[str, str] | None = None) -> Path:
    """GENAUDIT_INDEX if set (as `audit app --index` does), else `demo/index` under the working directory."""
    env = os.environ if environ is None else environ
    value = (env.get(INDEX_ENV) or "").strip()
    return Path(value).expanduser() if value else config.DEMO_DIR / "index"


@dataclass(frozen=True)
class IndexStatus:
    """Whether a directory holds a usable index, and if not, why and what to do."""

    path: Path
    ready: bool
    message: str
    hint: str | None = None
    count: int | None = None
    model: str | None = None
    #: Changes whenever the index is rebuilt, so cached loaders reload it.
    token: str = ""

    @property
    def summary(self) -> str:
        if not self.ready:
            return self.message
        return f"{self.count:,} images · model `{self.model}`"


def _read_index_meta(path: Path) -> dict[str, Any]:
    from audit.meta import read_meta

    return read_meta(path, kind="index")


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
        meta = _read_index_meta(p)
    except ArtefactError as exc:
        return IndexStatus(p, False, f"`{p}` is not a usable index: {exc.message}", NO_INDEX_HINT)
    missing = [name for name in INDEX_FILES if not (p / name).is_file()]
    if missing:
        return IndexStatus(
            p, False, f"Index `{p}` is incomplete (missing {', '.join(missing)}).",
            "rebuild it with `audit index build … --overwrite`",
        )
    names = [*INDEX_FILES, *(n for n in TOKEN_OPTIONAL_FILES if (p / n).is_file())]
    token = "-".join(f"{n}:{s.st_mtime_ns}:{s.st_size}" for n, s in ((n, (p / n).stat()) for n in names))
    count = meta.get("count")
    return IndexStatus(
        p, True, "ready", None,
        count=int(count) if isinstance(count, (int, float)) else None,
        model=str(meta.get("model") or "unknown model"),
        token=token,
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
                if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                and e.name not in ("images", "thumbs", "__pycache__", "node_modules")
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


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: str) -> str:
    """Make user text (captions, author names) show literally in st.markdown / st.caption."""
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value).strip()


@dataclass(frozen=True)
class HitCard:
    """One search result, formatted for display; `image_path` is None when the file cannot be found."""

    rank: int
    id: int
    key: str
    score: float
    caption: str
    author: str
    license: str
    source: str
    method: str
    image_path: Path | None
    evidence: str = ""  # what matched: CLIP, caption words, both

    @property
    def score_text(self) -> str:
        return f"{self.score:.3f}"

    @property
    def title(self) -> str:
        return f"{self.rank}. {self.caption}"

    @property
    def details(self) -> str:
        matched = f"matched: {self.evidence} · " if self.evidence else ""
        return f"{matched}score {self.score_text} · {self.author} · {self.license} · key {self.key}"


def hit_card(hit: Any, image_path: Path | None = None) -> HitCard:
    """Format a SearchHit; empty metadata gets words a reviewer understands instead of blanks or `nan`."""
    return HitCard(
        rank=int(hit.rank),
        id=int(hit.id),
        key=_clean(hit.key) or f"row {hit.id}",
        score=float(hit.score),
        caption=_clean(hit.caption) or "(no caption)",
        author=_clean(hit.author) or "unknown author",
        license=_clean(hit.license) or "licence unknown",
        source=_clean(getattr(hit, "source", "")),
        method=_clean(getattr(hit, "method", "")),
        image_path=image_path,
        evidence=_clean(getattr(hit, "evidence", "")),
    )


def resolve_image_path(index: Any, hit: Any) -> Path | None:
    """Where the hit's image file is, asking the index first (it knows its dataset dir); None if missing."""
    candidates: list[Path] = []
    try:
        candidates.append(Path(index.image_path(hit.id)))
    except (AuditError, KeyError, IndexError, OSError, TypeError, ValueError):
        pass
    raw = _clean(getattr(hit, "path", ""))
    if raw:
        candidates.append(Path(raw))
    for c in candidates:
        if c.is_file():
            return c
    return None


def hit_cards(hits: Sequence[Any], index: Any | None = None,
              resolve: Callable[[Any, Any], Path | None] = resolve_image_path) -> list[HitCard]:
    return [hit_card(h, resolve(index, h) if index is not None else None) for h in hits]


def cards_frame(cards: Sequence[HitCard]) -> "pd.DataFrame":
    """The results as a table (for st.dataframe and CSV download)."""
    import pandas as pd

    cols = ["rank", "score", "key", "caption", "author", "license", "source", "method", "evidence", "path"]
    rows = [
        [c.rank, round(c.score, 6), c.key, c.caption, c.author, c.license, c.source, c.method, c.evidence,
         str(c.image_path) if c.image_path else ""]
        for c in cards
    ]
    return pd.DataFrame(rows, columns=cols)


def thumbnail(path: str | Path | None, max_side: int = 256) -> "Image.Image | None":
    """A small RGB copy for the result grid; None for a missing or broken file (the grid says so)."""
    if path is None:
        return None
    try:
        return fit_within(load_image(Path(path)).image, max_side)
    except ImageError:
        return None


def read_upload(data: bytes, name: str) -> "Image.Image":
    """Decode an uploaded file to RGB; anything else becomes an ImageError naming the file."""
    name = name or "upload"
    if not data:
        raise ImageError(f"{name}: the file is empty", "upload a PNG, JPEG, WebP, GIF, BMP or TIFF image")
    try:
        return load_image(data).image
    except ImageError as exc:
        message = exc.message.replace("<bytes>", name, 1)
        raise ImageError(message, exc.hint or "upload a PNG, JPEG, WebP, GIF, BMP or TIFF image") from None


#: Serialises model loading: seeded random init uses torch's global RNG and SearchIndex loads its model
#: lazily, so two Streamlit sessions (threads) loading at once would build differently-initialised models.
_LOAD_LOCK = threading.Lock()


def open_index_ready(path: str | Path) -> Any:
    """Open an index and load its CLIP model now, one load at a time (Streamlit serves sessions from threads)."""
    from audit.index import open_index

    with _LOAD_LOCK:
        index = open_index(Path(path))
        index.embedder  # noqa: B018  (load inside the lock, not lazily on a first search)
    return index


def search(index: Any, query: "str | Image.Image", k: int = 20, mode: str | None = None) -> list[Any]:
    """Text (mode: hybrid, clip, keyword; default the index's) or image search; an empty text query is a clear
    error instead of a meaningless result list."""
    if not 1 <= int(k) <= 1000:
        raise InputError(f"k={k} is out of range", "ask for 1 to 1000 results")
    if isinstance(query, str):
        text = query.strip()
        if not text:
            raise InputError("the text query is empty", "type a few words describing the image")
        return list(index.search_text(text, k=int(k), mode=mode))
    return list(index.search_image(query, k=int(k)))


def format_error(exc: AuditError) -> str:
    """One line for st.error: the message, then what to do."""
    return f"{exc.message} — {exc.hint}" if exc.hint else exc.message


def streamlit_command(
    index_dir: str | Path | None = None,
    port: int = 8501,
    host: str = "localhost",
    headless: bool = False,
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that serve the review app (used by `audit app` and by the tests)."""
    if not APP_SCRIPT.is_file():
        raise ArtefactError(f"{APP_SCRIPT} is missing", "run `audit app` from a source checkout of genaudit")
    if not 1 <= int(port) <= 65535:
        raise InputError(f"--port {port} is not a TCP port", "use a number from 1 to 65535, e.g. 8501")
    index = Path(index_dir) if index_dir is not None else default_index_dir(environ)
    env = dict(os.environ if environ is None else environ)
    env[INDEX_ENV] = str(index.expanduser().resolve())
    cmd = [
        python or sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
        "--server.port", str(int(port)),
        "--server.address", host,
        "--server.headless", "true" if headless else "false",
        "--server.showEmailPrompt", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]
    return cmd, env


def launch(index_dir: str | Path | None = None, port: int = 8501, host: str = "localhost",
           headless: bool = False, log: Callable[[str], None] = print) -> int:
    """Run Streamlit in the foreground until it exits or the user presses Ctrl-C."""
    import signal
    import subprocess

    cmd, env = streamlit_command(index_dir, port=port, host=host, headless=headless)
    status = index_status(env[INDEX_ENV])
    if status.ready:
        log(f"index: {status.path} ({status.summary.replace('`', '')})")
    else:
        log(f"note: {status.message.replace('`', '')} The app will say how to build one ({NO_INDEX_HINT}).")
    log(f"serving the review app on http://{host}:{port}  (Ctrl-C stops it)")
    proc = subprocess.Popen(cmd, env=env)
    # A SIGTERM to `audit app` (service managers, test harnesses) must stop Streamlit too, not orphan it.
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        code = proc.wait()
        return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)

"""Display helpers of the review app: result cards, thumbnails, upload decoding, error lines, markdown escaping.

No streamlit import here (plain tests reach every helper); no business rules either: searching, index status and
caching live in audit.index (search.query_index, status.index_status, cache.cached_index), upload decoding in
audit.images.load_upload.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from audit.errors import AuditError, ImageError
from audit.images import fit_within, load_image
from audit.index.search import hit_image_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from PIL import Image

APP_TITLE = "genaudit review"
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff")

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
        parts = [f"score {self.score_text}", self.author, self.license, f"key {self.key}"]
        return matched + " · ".join(p for p in parts if p)


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


def hit_cards(hits: Sequence[Any], index: Any | None = None,
              resolve: Callable[[Any, Any], Path | None] = hit_image_path) -> list[HitCard]:
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


def at_side(img: "Image.Image", side: int) -> "Image.Image":
    """Scale so the longer side is `side` px, up or down: a 32 px generation and a 384 px training image are shown at
    the same size (small ones with nearest-neighbour, so pixels stay visible rather than blurred)."""
    from PIL import Image

    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)


def thumbnail_bytes(data: bytes, max_side: int = 256) -> "Image.Image | None":
    """A preview of uploaded bytes, None when they do not decode (a damaged file must not crash the page)."""
    try:
        return fit_within(load_image(data).image, max_side)
    except ImageError:
        return None


def zip_folder(folder: Path) -> bytes:
    """The files of one output folder as a zip (for a download button)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                z.write(p, p.name)
    return buf.getvalue()


def format_error(exc: AuditError) -> str:
    """One line for st.error: the message, then what to do."""
    return f"{exc.message} — {exc.hint}" if exc.hint else exc.message


def lookup_cards(hits: Sequence[Any], index_dir: Path) -> list[HitCard]:
    """One card per training item of an opt-out lookup (its strongest reason), the image resolved against the
    index's dataset dir (name hits carry the manifest's relative path, image hits an absolute one)."""
    from audit.index.layout import dataset_dir

    root = dataset_dir(index_dir)
    cards: list[HitCard] = []
    seen: set[str] = set()
    for h in hits:
        if h.key in seen:
            continue
        seen.add(h.key)
        raw = _clean(h.path)
        path = (Path(raw) if Path(raw).is_absolute() else root / raw) if raw else None
        cards.append(HitCard(rank=len(cards) + 1, id=-1, key=h.key, score=float(h.score), caption=_clean(h.caption)
                             or "(no caption)", author=_clean(h.author) or "unknown author", license="",
                             source="", method=h.method, image_path=path if path and path.is_file() else None,
                             evidence=h.reason))
    return cards

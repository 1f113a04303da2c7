"""openclipart SVGs: read the RDF metadata (title, keywords, creator) and render to a raster.

Old Sodipodi/Inkscape files give their page size in mm/pt without a viewBox, which resvg refuses;
we rewrite those sizes to pixels, render, crop to the drawn content and composite on white.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from audit.errors import ImageError

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "cc": "http://web.resource.org/cc/",
    "cc2": "http://creativecommons.org/ns#",
}
IGNORED_KEYWORDS = {"unsorted", "", "clip art", "clipart", "image", "media", "svg", "png", "hash"}
#: Titles that name a collection rather than the drawing; the file name says more.
_GENERIC_TITLE = re.compile(r"collection|theme|clip ?art by|^part of|^untitled|^various|^new document|^drawing|\(\w{3} \w{3} \d", re.I)


@dataclass(frozen=True)
class SvgMeta:
    title: str | None
    keywords: tuple[str, ...]
    creator: str | None
    license_url: str | None


def _text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    t = " ".join("".join(el.itertext()).split())
    return t or None


def _agent(work: ET.Element, tag: str) -> str | None:
    for ns in ("dc",):
        el = work.find(f"{ns}:{tag}", NS)
        if el is None:
            continue
        title = el.find(".//dc:title", NS)
        return _text(title) if title is not None else _text(el)
    return None


def parse_svg_meta(data: bytes | str | Path) -> SvgMeta:
    """RDF metadata of an SVG (dc:title, dc:subject keywords, dc:creator); empty fields are None."""
    raw = Path(data).read_bytes() if isinstance(data, Path) else data
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    m = re.search(rb"<rdf:RDF\b.*?</rdf:RDF>", raw, re.S)
    if not m:
        return SvgMeta(None, (), None, None)
    block = m.group(0)
    # Old files declare the namespaces on the root element; re-declare them so the fragment parses.
    decl = b" ".join(f'xmlns:{p}="{u}"'.encode() for p, u in NS.items() if p != "cc2")
    block = re.sub(rb"<rdf:RDF\b[^>]*>", b"<rdf:RDF " + decl + b">", block, count=1)
    block = re.sub(rb"\sxmlns:cc=\"http://creativecommons.org/ns#\"", b"", block)
    try:
        rdf = ET.fromstring(block)
    except ET.ParseError:
        return SvgMeta(None, (), None, None)
    work = rdf.find("cc:Work", NS)
    if work is None:
        return SvgMeta(None, (), None, None)
    title = _text(work.find("dc:title", NS))
    subject = work.find("dc:subject", NS)
    kws: list[str] = []
    if subject is not None:
        items = [_text(li) for li in subject.findall(".//rdf:li", NS)] or [_text(subject)]
        for item in items:
            for kw in re.split(r"[,;]", item or ""):
                kw = " ".join(kw.replace("_", " ").split()).lower()
                if kw not in IGNORED_KEYWORDS and kw not in kws and not kw.startswith("hash("):
                    kws.append(kw)
    lic = work.find("cc:license", NS)
    lic_url = lic.get(f"{{{NS['rdf']}}}resource") if lic is not None else None
    creator = _agent(work, "creator")
    if creator:
        creator = re.sub(r"\s*[(<][^()<>]*@[^()<>]*[)>]", "", creator).strip() or None
    return SvgMeta(title, tuple(kws), creator, lic_url)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def clean_title(text: str, drop_words: tuple[str, ...] = ()) -> str:
    """'soft_blue_couch_jonadab_01' -> 'soft blue couch'; 'GreenMeadow' -> 'green meadow'."""
    text = re.sub(r"\.(svg|png|jpe?g)$", "", text.strip(), flags=re.I)
    text = _CAMEL.sub(" ", text)
    words = [w for w in re.split(r"[\s_\-]+", text) if w]
    drop = {w.lower() for w in drop_words}
    kept = [w.lower() for w in words if w.lower() not in drop]
    while kept and (kept[-1].isdigit() or kept[-1] in drop):
        kept.pop()
    return " ".join(kept) or " ".join(w.lower() for w in words)


def drawing_title(meta_title: str | None, stem: str, creator: str | None) -> str:
    """Cleaned dc:title, or the file name (minus the author's name) when the title is missing or generic."""
    if meta_title and not _GENERIC_TITLE.search(meta_title):
        return clean_title(meta_title)
    drop = tuple(re.split(r"[\s_\-]+", creator.lower())) if creator else ()
    return clean_title(stem, drop_words=drop)


def caption_for(
    title: str, category: str, keywords: tuple[str, ...], max_keywords: int = 4, folders: tuple[str, ...] = ()
) -> str:
    """'my lovely baby, people clip art: daughter, lovely' — short enough for a 32-token text encoder.

    Keywords already said by the title, the category or the folder names are left out.
    """
    seen = set(title.split()) | set(category.split()) | {f.replace("_", " ").lower() for f in folders}
    kws = [k for k in keywords if k not in seen and k != category][:max_keywords]
    cap = f"{title}, {category} clip art"
    return cap + (f": {', '.join(kws)}" if kws else "")


_UNITS = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0}


def _px_sizes(svg: str) -> str:
    """Rewrite root width/height given in absolute units (or %) to plain pixel numbers."""
    m = re.search(r"<svg\b[^>]*>", svg, re.S)
    if not m:
        return svg
    tag = m.group(0)
    has_viewbox = re.search(r"\sviewBox\s*=", tag) is not None

    def fix(mm: re.Match) -> str:
        attr, num, unit = mm.group(1), float(mm.group(2)), (mm.group(3) or "px").lower()
        if unit == "%":
            return "" if has_viewbox else f' {attr}="1000"'
        return f' {attr}="{num * _UNITS.get(unit, 1.0):.3f}"'

    new = re.sub(r'\s(width|height)\s*=\s*"\s*([0-9.]+)\s*(px|pt|pc|mm|cm|in|%)?\s*"', fix, tag)
    return svg[: m.start()] + new + svg[m.end():]


def render_svg(path: Path, size: int = 512, margin: float = 0.04) -> Image.Image:
    """Render an SVG to RGB on white, cropped to its drawn content, longest side about `size`."""
    import resvg_py

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc})") from None
    text = _px_sizes(text)
    png = None
    attempts: tuple[dict[str, Any], ...] = (dict(width=size), dict(height=size))
    for attempt in attempts:
        try:
            png = resvg_py.svg_to_bytes(svg_string=text, resources_dir=str(path.parent), **attempt)
        except BaseException as exc:  # resvg raises ValueError; pyo3 panics are BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            err = exc
            continue
        img = Image.open(io.BytesIO(png)).convert("RGBA")
        if max(img.size) <= size * 1.01:
            break
    if png is None:
        raise ImageError(f"{path}: cannot render SVG ({err})")
    bbox = img.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if bbox is None:
        raise ImageError(f"{path}: SVG renders as an empty image")
    img = img.crop(bbox)
    pad = max(1, round(max(img.size) * margin))
    canvas = Image.new("RGBA", (img.width + 2 * pad, img.height + 2 * pad), (255, 255, 255, 255))
    canvas.alpha_composite(img, (pad, pad))
    return canvas.convert("RGB")

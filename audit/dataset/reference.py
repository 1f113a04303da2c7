"""Build a reference training set from real images nobody here made (Debian + PyPI packages).

Sources:
- `openclipart`: openclipart-svg, ~8,000 public-domain drawings with RDF title/keywords/creator.
- `wallpapers`: mate-backgrounds and lomiri-wallpapers-20.04 photos; photographer and licence
  from the packages' DEP-5 copyright files (or `*_by_Name.jpg` file names).
- `people`: scikit-image's `astronaut` (Eileen Collins, NASA) and matplotlib's Grace Hopper
  sample photo, both public domain: the subjects of removal-request demos.
"""

from __future__ import annotations

import importlib.util
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from audit import config
from audit.dataset import debian, dep5, svg
from audit.dataset.store import BuildResult, DatasetWriter, check_out_dir, inputs_sha256, result_from_existing, up_to_date, write_dataset
from audit.errors import ImageError, InputError
from audit.images import IMAGE_SUFFIXES, load_image
from audit.meta import sha256_file
from audit.progress import track

SOURCES = ("openclipart", "wallpapers", "people")
OPENCLIPART_PKG = "openclipart-svg"
OPENCLIPART_ROOT = "usr/share/openclipart/svg"
WALLPAPER_PKGS = ("mate-backgrounds", "lomiri-wallpapers-20.04")
PUBLIC_DOMAIN = "public-domain"


@dataclass(frozen=True)
class PersonPhoto:
    key: str
    dist: str  # PyPI distribution that ships the file
    module: str
    rel: str  # path inside the module's package directory
    caption: str
    author: str
    person: str
    url: str | None


PEOPLE = (
    PersonPhoto(
        "people-astronaut-eileen-collins", "scikit-image", "skimage", "data/astronaut.png",
        "astronaut Eileen Collins, portrait photo in a NASA flight suit", "NASA", "Eileen Collins",
        "https://commons.wikimedia.org/wiki/File:Eileen_Collins.jpg",
    ),
    PersonPhoto(
        "people-grace-hopper", "matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
        "Rear Admiral Grace Hopper, portrait photo in US Navy uniform", "U.S. Navy", "Grace Hopper",
        "https://commons.wikimedia.org/wiki/File:Commodore_Grace_M._Hopper,_USN_(covered).jpg",
    ),
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _row_extras(title: str | None, keywords: tuple[str, ...] | list[str], category: str | None, **more) -> dict:
    return {"title": title, "keywords": ", ".join(keywords) if keywords else None, "category": category,
            "person": None, **more}


# ---------------------------------------------------------------- openclipart
def stratified_order(paths: list[str], seed: int) -> list[str]:
    """All drawings, interleaved round-robin over the top-level categories (shuffled within each, seeded)."""
    by_cat: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        by_cat[p.split("/", 1)[0]].append(p)
    rng = random.Random(seed)
    for cat in sorted(by_cat):
        rng.shuffle(by_cat[cat])
    order: list[str] = []
    for i in range(max((len(v) for v in by_cat.values()), default=0)):
        order += [by_cat[cat][i] for cat in sorted(by_cat) if i < len(by_cat[cat])]
    return order


def select_drawings(paths: list[str], limit: int | None, seed: int) -> list[str]:
    """All drawings, or `limit` of them spread evenly over the top-level categories (seeded)."""
    if limit is None or limit >= len(paths):
        return paths
    return sorted(stratified_order(paths, seed)[:limit])


def add_openclipart(w: DatasetWriter, pkg: debian.DebPackage, limit: int | None, seed: int) -> None:
    root = pkg.root / OPENCLIPART_ROOT
    paths = []
    for p in sorted(root.rglob("*.svg")):
        rel = str(p.relative_to(root))
        if p.is_symlink():  # the same drawing filed under a second category
            w.skip(f"{OPENCLIPART_ROOT}/{rel}", f"symlink to {p.resolve().relative_to(root.resolve())} (same drawing)")
        else:
            paths.append(rel)
    render_size = max(256, 2 * w.max_side)
    # With a limit, walk the stratified order until `limit` drawings are stored (some fail to render).
    candidates = paths if limit is None else stratified_order(paths, seed)
    added = 0
    for rel in track(candidates, "openclipart", total=limit or len(paths), unit="svg"):
        if limit is not None and added >= limit:
            break
        path = root / rel
        installed = f"{OPENCLIPART_ROOT}/{rel}"
        parts = rel.split("/")
        category = parts[0].replace("_", " ")
        meta = svg.parse_svg_meta(path)
        title = svg.drawing_title(meta.title, path.stem, meta.creator)
        caption = svg.caption_for(title, "" if category == "unsorted" else category, meta.keywords,
                                  folders=tuple(parts[:-1]))
        caption = caption.replace(",  clip art", ", clip art")
        try:
            img = svg.render_svg(path, render_size)
        except ImageError as exc:
            w.skip(installed, exc.message.split(": ", 1)[-1])
            continue
        key = w.add(
            "oc-" + _slug(rel[: -len(".svg")]),
            img,
            caption=caption,
            author=meta.creator,
            license=PUBLIC_DOMAIN,
            source=pkg.source(installed),
            url=None,
            content_sha256=sha256_file(path),
            origin=installed,
            **_row_extras(title, meta.keywords, category),
        )
        added += key is not None


# ---------------------------------------------------------------- wallpapers
def is_blank(img: Image.Image, tolerance: float = 2.0) -> bool:
    """True when the image is (nearly) one flat colour: nothing to train on or audit."""
    small = np.asarray(img.convert("L").resize((64, 64)), dtype=np.float32)
    return float(small.std()) < tolerance


def wallpaper_title(name: str) -> str:
    """'Elephants_3840x2160.jpg' -> 'elephants'; 'Fossa_by_Jasper_Roks.jpg' -> 'fossa'."""
    stem = Path(name).stem
    stem = re.sub(r"_by_.*$", "", stem)
    stem = re.sub(r"[_-]?\d{3,5}x\d{3,5}$", "", stem)
    stem = re.sub(r"[-_]no[-_]logo$", "", stem, flags=re.I)
    return svg.clean_title(stem)


def add_wallpapers(w: DatasetWriter, pkg: debian.DebPackage) -> None:
    copyright_file = pkg.root / "usr/share/doc" / pkg.name / "copyright"
    stanzas = dep5.parse_dep5(copyright_file.read_text(encoding="utf-8", errors="replace")) if copyright_file.is_file() else []
    files = sorted(p for p in pkg.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for path in track(files, pkg.name, unit="img"):
        installed = str(path.relative_to(pkg.root))
        stanza = dep5.match_stanza(stanzas, installed)
        author = (dep5.holders(stanza) if stanza else None) or dep5.author_from_filename(path.name)
        license = (stanza.license if stanza and stanza.license else None) or "unknown"
        parent = path.parent.name
        category = parent if parent not in ("backgrounds", "desktop") else "wallpaper"
        title = wallpaper_title(path.name)
        kind = "wallpaper" if category == "wallpaper" else f"{category} wallpaper"
        caption = f"{title}, {kind}" + (f" by {author.split(';')[0]}" if author else "")
        try:
            loaded = load_image(path)
        except ImageError as exc:
            w.skip(installed, exc.message.split(": ", 1)[-1])
            continue
        if is_blank(loaded.image):
            # e.g. MATE's white overlay textures, drawn to sit on a desktop colour: blank on white.
            w.skip(installed, "blank after compositing its transparency on white")
            continue
        w.add(
            f"wp-{_slug(pkg.name.split('-')[0])}-{_slug(Path(installed).stem)}",
            loaded.image,
            caption=caption,
            author=author,
            license=license,
            source=pkg.source(installed),
            url=None,
            content_sha256=sha256_file(path),
            origin=installed,
            notes=loaded.notes,
            **_row_extras(title, (), category),
        )


# ---------------------------------------------------------------- people
def person_file(p: PersonPhoto) -> Path:
    spec = importlib.util.find_spec(p.module)
    if spec is None or spec.origin is None:
        raise InputError(f"Python package {p.dist} is not installed", f"pip install {p.dist}")
    path = Path(spec.origin).parent / p.rel
    if not path.is_file():
        raise InputError(f"{path} is missing from {p.dist}", f"reinstall {p.dist}")
    return path


def add_people(w: DatasetWriter) -> None:
    for p in PEOPLE:
        path = person_file(p)
        loaded = load_image(path)
        version = metadata.version(p.dist)
        w.add(
            p.key,
            loaded.image,
            caption=p.caption,
            author=p.author,
            license=PUBLIC_DOMAIN,
            source=f"pypi:{p.dist}={version}:{p.module}/{p.rel}",
            url=p.url,
            content_sha256=sha256_file(path),
            origin=str(path),
            notes=loaded.notes,
            **{**_row_extras(p.person, ("person", "portrait"), "people"), "person": p.person},
        )


# ---------------------------------------------------------------- build
def parse_sources(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    bad = [s for s in out if s not in SOURCES]
    if bad or not out:
        raise InputError(f"unknown source(s) {', '.join(bad) or '(none)'}", f"choose from {', '.join(SOURCES)}")
    return out


def build_reference(
    out: str | Path,
    *,
    max_side: int = 256,
    limit: int | None = None,
    sources: str | tuple[str, ...] = SOURCES,
    seed: int = config.DEFAULT_SEED,
    image_format: str = "jpeg",
    cache_dir: Path | None = None,
    force: bool = False,
    fetch: Callable[[str, Path | None], debian.DebPackage] = debian.fetch,
) -> BuildResult:
    """Assemble the reference set at `out` (no-op if it was built from the same inputs).

    `limit` caps the number of openclipart drawings (spread over categories); photos are always all kept.
    """
    out = Path(out)
    srcs = parse_sources(sources)
    if max_side < 16:
        raise InputError(f"--max-side {max_side} is too small", "use at least 16")
    check_out_dir(out)
    pkgs: dict[str, debian.DebPackage] = {}
    if "openclipart" in srcs:
        pkgs[OPENCLIPART_PKG] = fetch(OPENCLIPART_PKG, cache_dir)
    if "wallpapers" in srcs:
        for name in WALLPAPER_PKGS:
            pkgs[name] = fetch(name, cache_dir)
    people_files = {p.key: sha256_file(person_file(p)) for p in PEOPLE} if "people" in srcs else {}
    inputs = {
        "kind": "reference", "sources": srcs, "max_side": max_side, "limit": limit, "seed": seed,
        "image_format": image_format, "debs": {n: p.sha256 for n, p in pkgs.items()}, "people": people_files,
    }
    fp = inputs_sha256(inputs)
    if not force and up_to_date(out, fp):
        return result_from_existing(out)

    def fill(w: DatasetWriter) -> dict:
        if OPENCLIPART_PKG in pkgs:
            add_openclipart(w, pkgs[OPENCLIPART_PKG], limit, seed)
        for name in WALLPAPER_PKGS:
            if name in pkgs:
                add_wallpapers(w, pkgs[name])
        if "people" in srcs:
            add_people(w)
        return {}

    source_meta = [
        {**p.as_meta(), "license": "public domain" if n == OPENCLIPART_PKG else "per file, see manifest (DEP-5)"}
        for n, p in pkgs.items()
    ]
    source_meta += [
        {"package": p.dist, "version": metadata.version(p.dist), "file": f"{p.module}/{p.rel}",
         "sha256": people_files[p.key], "license": "public domain"}
        for p in PEOPLE if "people" in srcs
    ]
    return write_dataset(
        out, fp, fill, max_side=max_side, image_format=image_format,
        dataset="reference", seed=seed, limit=limit, sources=source_meta, inputs=inputs,
    )

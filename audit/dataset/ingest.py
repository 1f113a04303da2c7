"""Ingest your own images: a plain folder, img2dataset output, or LAION-style parquet shards.

Captions come from (in order) a parquet row, a sidecar `key.txt`, a sidecar `key.json` (as img2dataset
writes them), or the file name. Nothing is fetched from the network: parquet rows whose image is not
present locally are recorded as skipped 'not downloaded'. Every skipped file is listed in meta.json
with its reason; odd layouts (CMYK, 16-bit, alpha, animated) are converted and noted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from audit.dataset.store import BuildResult, DatasetWriter, check_out_dir, inputs_sha256, result_from_existing, up_to_date, write_dataset
from audit.dataset.svg import clean_title
from audit.errors import ImageError, InputError, ManifestError
from audit.images import IMAGE_SUFFIXES, load_image
from audit.meta import sha256_file
from audit.progress import track

URL_COLUMNS = ("url", "URL")
CAPTION_COLUMNS = ("caption", "TEXT", "text")
#: Files that accompany images and are read (sidecars, shard tables) or harmlessly ignored.
QUIET_SUFFIXES = {".txt", ".json", ".parquet", ".md", ".csv", ".tsv", ".jsonl", ".log"}
#: img2dataset status values other than success mean the image was never downloaded.
SUCCESS = "success"


@dataclass
class Item:
    """What we know about one local image before decoding it."""

    path: Path
    rel: str
    key: str | None = None
    caption: str | None = None
    url: str | None = None
    author: str | None = None
    license: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    return next((c for c in wanted if c in columns), None)


def _str(v: Any) -> str | None:
    if v is None:
        return None
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    s = str(v).strip()
    return s or None


def read_shard(path: Path) -> list[dict[str, Any]]:
    """Rows of a LAION/img2dataset parquet shard as dicts with url, caption, key, status, error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})",
                            "re-export the shard or remove it from the folder") from None
    cols = table.column_names
    url_col, cap_col = _pick(cols, URL_COLUMNS), _pick(cols, CAPTION_COLUMNS)
    if url_col is None:
        raise ManifestError(f"{path}: missing column 'url' (or 'URL')", "a shard needs url and caption/TEXT columns")
    if cap_col is None:
        raise ManifestError(f"{path}: missing column 'caption' (or 'TEXT')", "a shard needs url and caption/TEXT columns")
    df = table.to_pandas()
    rows = []
    for rec in df.to_dict("records"):
        rows.append({
            "url": _str(rec.get(url_col)), "caption": _str(rec.get(cap_col)), "key": _str(rec.get("key")),
            "status": _str(rec.get("status")), "error": _str(rec.get("error_message")),
            "author": _str(rec.get("author")), "license": _str(rec.get("license") or rec.get("LICENSE")),
        })
    return rows


def _url_name(url: str | None) -> str | None:
    if not url:
        return None
    name = PurePosixPath(unquote(urlparse(url).path)).name
    return name or None


def _sidecar(path: Path) -> dict[str, Any]:
    """Caption/url/key from `stem.txt` and `stem.json` beside an image (img2dataset's layout)."""
    out: dict[str, Any] = {}
    txt, js = path.with_suffix(".txt"), path.with_suffix(".json")
    if js.is_file():
        try:
            data = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = {}
        if isinstance(data, dict):
            for k in ("caption", "url", "key", "author", "license"):
                if _str(data.get(k)):
                    out[k] = _str(data.get(k))
    if txt.is_file() and txt != path:
        try:
            cap = " ".join(txt.read_text(encoding="utf-8", errors="replace").split())
        except OSError:
            cap = ""
        if cap:
            out["caption"] = cap
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


def scan(src: Path, out: Path, writer_skip) -> list[Item]:
    """Find images under `src` and attach captions/urls from shards and sidecars; record skips."""
    if src.is_file():
        if src.suffix.lower() != ".parquet":
            raise InputError(f"{src} is a file, not a folder or parquet shard", "pass a folder of images or a .parquet shard")
        base, shards = src.parent, [src]
        files = [p for p in sorted(base.rglob("*")) if p.is_file()]
    else:
        base = src
        files = [p for p in sorted(src.rglob("*")) if p.is_file()]
        shards = [p for p in files if p.suffix.lower() == ".parquet"]
    out_r = out.resolve()
    files = [p for p in files if out_r not in p.resolve().parents and not any(part.startswith(".") for part in p.relative_to(base).parts)]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if src.is_dir():
        for p in files:
            if p.suffix.lower() not in IMAGE_SUFFIXES and p.suffix.lower() not in QUIET_SUFFIXES:
                writer_skip(str(p.relative_to(base)), f"unsupported format ({p.suffix.lower() or 'no extension'})")
    by_stem: dict[str, list[Path]] = {}
    by_name: dict[str, list[Path]] = {}
    for p in images:
        by_stem.setdefault(p.stem, []).append(p)
        by_name.setdefault(p.name, []).append(p)
    items = {p: Item(p, str(p.relative_to(base))) for p in images}
    for shard in shards:
        for i, row in enumerate(read_shard(shard)):
            label = f"{shard.name} row {i}" + (f" ({row['url']})" if row["url"] else "")
            match = None
            if row["key"] and len(by_stem.get(row["key"], [])) == 1:
                match = by_stem[row["key"]][0]
            elif (name := _url_name(row["url"])) and len(by_name.get(name, [])) == 1:
                match = by_name[name][0]
            if match is None:
                why = "not downloaded"
                if row["status"] and row["status"] != SUCCESS:
                    why += f" ({row['status']}{': ' + row['error'] if row['error'] else ''})"
                writer_skip(label, why)
                continue
            it = items[match]
            it.key = it.key or row["key"]
            it.caption, it.url = row["caption"] or it.caption, row["url"] or it.url
            it.author, it.license = row["author"] or it.author, row["license"] or it.license
    if src.is_file():  # a single shard: only the images it names
        named = {p for p, it in items.items() if it.url or it.caption}
        items = {p: it for p, it in items.items() if p in named}
    for p, it in items.items():
        side = _sidecar(p)
        it.caption = it.caption or side.get("caption")
        it.url = it.url or side.get("url")
        it.key = it.key or side.get("key")
        it.author = it.author or side.get("author")
        it.license = it.license or side.get("license")
    return list(items.values())


def _keys(items: list[Item]) -> None:
    """Stable unique keys: the given key, else the file stem, else the slugged relative path."""
    stems: dict[str, int] = {}
    for it in items:
        stems[it.key or Path(it.rel).stem] = stems.get(it.key or Path(it.rel).stem, 0) + 1
    for it in items:
        k = it.key or Path(it.rel).stem
        it.key = _slug(k) if stems[k] == 1 else _slug(str(PurePosixPath(it.rel).with_suffix("")).replace("/", "__"))


def ingest(src: str | Path, out: str | Path, *, max_side: int = 512, keep_duplicates: bool = False,
           image_format: str = "jpeg", force: bool = False, tombstones: str | Path | None = None) -> BuildResult:
    """Import images (and shard/sidecar metadata) from `src` into a dataset folder at `out`.

    `tombstones` (a removal requests.db; default $GENAUDIT_REMOVAL_DB) refuses images erased on request.
    """
    src, out = Path(src), Path(out)
    if not src.exists():
        raise InputError(f"{src} does not exist", "pass a folder of images or a .parquet shard")
    check_out_dir(out, src)
    skipped: list[tuple[str, str]] = []
    items = scan(src, out, lambda f, r: skipped.append((f, r)))
    if not items and not skipped:
        raise InputError(f"{src}: no images found", f"put image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
    if not items:
        reasons = sorted({r for _, r in skipped})[:3]
        raise InputError(f"{src}: no usable images ({len(skipped)} skipped: {'; '.join(reasons)})",
                         "download the images first (e.g. with img2dataset); nothing is fetched here")
    _keys(items)
    hashes = {it.rel: sha256_file(it.path) for it in items}
    inputs = {
        "kind": "ingest", "src": str(src.resolve()), "max_side": max_side, "keep_duplicates": keep_duplicates,
        "image_format": image_format, "files": sorted(hashes.items()),
        "meta": sorted((it.rel, it.key, it.caption, it.url, it.author, it.license) for it in items),
        "skipped": sorted(skipped),
    }
    fp = inputs_sha256(inputs)
    if not force and up_to_date(out, fp):
        return result_from_existing(out)

    from audit.removal.tombstones import from_env

    erased = from_env(tombstones)  # GDPR tombstones of $GENAUDIT_REMOVAL_DB: erased images must not come back

    def fill(w: DatasetWriter) -> dict:
        for f, r in skipped:
            w.skip(f, r)
        for it in track(items, "ingest", unit="img"):
            try:
                why = erased.check(it.path, hashes[it.rel]) if erased is not None else None
            except ImageError:  # undecodable, so no pHash to compare: load_image below records why it is skipped
                why = None
            if why:
                w.skip(it.rel, f"erased on request ({why})")
                continue
            if (kept := w.duplicate_of(hashes[it.rel])) is not None:
                w.skip(it.rel, f"exact duplicate of {kept}")
                continue
            try:
                loaded = load_image(it.path)
            except ImageError as exc:
                w.skip(it.rel, exc.message.split(": ", 1)[-1])
                continue
            caption = it.caption or clean_title(Path(it.rel).stem)
            assert it.key is not None  # _keys gave every item one
            w.add(it.key, loaded.image, caption=caption, author=it.author, license=it.license,
                  source=f"file:{it.rel}", url=it.url, content_sha256=hashes[it.rel], origin=it.rel,
                  notes=loaded.notes, original_path=it.rel, original_width=loaded.image.width,
                  original_height=loaded.image.height, original_format=loaded.format)
        return {}

    return write_dataset(
        out,
        fp,
        fill,
        max_side=max_side,
        image_format=image_format,
        keep_duplicates=keep_duplicates,
        dataset="ingest",
        inputs={k: v for k, v in inputs.items() if k not in ("files", "meta", "skipped")},
        sources=[{"src": str(src.resolve()), "files": len(items), "sha256_of_inputs": fp}],
    )

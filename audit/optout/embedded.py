"""Signals embedded in image files: XMP `plus:DataMining` and C2PA `*.training-mining` assertions.

XMP is found by scanning the first bytes for the packet and read with tolerant regexes (broken XMP
still yields what is readable plus a non-restricting 'broken XMP' note). C2PA is read with the
c2pa Reader; files without a manifest are skipped quietly.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import BinaryIO

from audit.optout.signals import Signal, _clip
from audit.provenance.context import make_context

MAX_SCAN_BYTES = 8 * 1024 * 1024
PLUS_NS = "http://ns.useplus.org/ldf/vocab/"
#: PLUS Data Mining values -> (scope, restricts).
DMI = {
    "DMI-UNSPECIFIED": ("all-tdm", False),
    "DMI-ALLOWED": ("all-tdm", False),
    "DMI-PROHIBITED": ("all-tdm", True),
    "DMI-PROHIBITED-AIMLTRAINING": ("ai-training", True),
    "DMI-PROHIBITED-GENAIMLTRAINING": ("genai-training", True),
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": ("all-tdm", True),
    "DMI-PROHIBITED-SEEPROPERTY": ("all-tdm", True),
    "DMI-ALLOWED-WITHCONSTRAINTS": ("all-tdm", False),
}
_DM_RE = re.compile(
    rb"(?<![/:\w])(?:\w{1,20}:)?DataMining\s*(?:=\s*[\"']([^\"']{0,300})[\"']|>\s*([^<]{0,300})<|[^>]{0,300}?rdf:resource\s*=\s*[\"']([^\"']{0,300})[\"'])",
    re.I,
)
#: C2PA training-mining entry -> scope.
C2PA_ENTRIES = {"ai_generative_training": "genai-training", "ai_training": "ai-training", "data_mining": "all-tdm",
                "ai_inference": "ai-input"}
_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
         ".tif": "image/tiff", ".tiff": "image/tiff", ".gif": "image/gif"}


def parse_xmp(data: bytes, location: str = "") -> tuple[Signal, ...]:
    """PLUS Data Mining value(s) in the XMP packet(s) of an image file's bytes."""
    data = data[:MAX_SCAN_BYTES]
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        return ()
    end = data.find(b"</x:xmpmeta>", start)
    packet = data[start:end + 12] if end > 0 else data[start:start + 256 * 1024]
    out: list[Signal] = []
    seen: set[str] = set()
    for m in _DM_RE.finditer(packet):
        raw = next(g for g in m.groups() if g is not None).decode("utf-8", errors="replace").strip()
        if not raw or raw in seen:  # a hostile packet repeats one value thousands of times: report it once
            continue
        seen.add(raw)
        if len(seen) > 50:
            break
        value = raw.rsplit("/", 1)[-1].upper() if raw else ""
        scope, restricts = DMI.get(value, ("all-tdm", False))
        directive = f"plus:DataMining={value}" if value in DMI else f"plus:DataMining={_clip(raw, 60)} (unknown value)"
        out.append(Signal("xmp", directive, scope, restricts, _clip(m.group(0).decode("utf-8", errors="replace")), None, location))
    if end < 0:
        out.append(Signal("xmp", "broken XMP (packet not closed)", "all-tdm", False,
                          _clip(packet[:120].decode("utf-8", errors="replace")), None, location))
    return tuple(out)


def parse_c2pa_json(manifest_json: str, location: str = "") -> tuple[Signal, ...]:
    """`c2pa.training-mining` / `cawg.training-mining` assertions of the active manifest, then of its
    ingredients' manifests.

    A re-signed copy (an editor or platform signing over the artist's manifest) keeps the artist's
    manifest as an ingredient; its reservation still speaks for the work, so it is reported too
    (marked 'ingredient') and `decide` lets the strictest statement win, naming the conflict.
    """
    try:
        store = json.loads(manifest_json)
    except (json.JSONDecodeError, RecursionError):
        return ()
    if not isinstance(store, dict):
        return ()
    manifests = store.get("manifests") or {}
    if not isinstance(manifests, dict):
        return ()
    active = store.get("active_manifest")
    order = ([active] if active in manifests else []) + [k for k in manifests if k != active]
    out: list[Signal] = []
    for label_ in order:
        man = manifests[label_]
        if not isinstance(man, dict):
            continue
        origin = "" if label_ == active or not active else f"ingredient '{_clip(str(man.get('title') or label_), 60)}': "
        for a in man.get("assertions", []) or []:
            label = str(a.get("label", "")) if isinstance(a, dict) else ""
            if not re.match(r"^(c2pa|cawg)\.training-mining(\.v\d+)?$", label):
                continue
            entries = (a.get("data") or {}).get("entries") or {}
            if not isinstance(entries, dict):
                continue
            for name, val in entries.items():
                use = str((val or {}).get("use", "") if isinstance(val, dict) else "").strip()
                short = name.split(".", 1)[-1]
                scope = C2PA_ENTRIES.get(short, "all-tdm")
                restricts = use.lower() in ("notallowed", "constrained")
                out.append(Signal("c2pa", f"{origin}{label} {name}={use}", scope, restricts,
                                  _clip(json.dumps({name: val})), None, location))
    return tuple(out)


def parse_c2pa(data: bytes | BinaryIO, mime: str, location: str = "") -> tuple[Signal, ...]:
    """Read the C2PA manifest store with c2pa's Reader; no manifest or unsupported type -> ().

    Give the whole file (bytes or an open binary file): c2pa cannot parse a truncated asset, so the
    8 MB prefix scanned for XMP is not enough for a large photo."""
    try:
        import c2pa
    except ImportError:  # pragma: no cover - c2pa-python is a dependency
        return ()
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        reader = c2pa.Reader.try_create(mime, stream, context=make_context())
    except Exception as exc:  # noqa: BLE001 - c2pa raises its own error types for broken manifests
        return (Signal("c2pa", "unreadable C2PA manifest", "all-tdm", False, _clip(str(exc)), None, location),)
    if reader is None:
        return ()
    try:
        return parse_c2pa_json(reader.json(), location)
    finally:
        reader.close()


def _sniff_mime(head: bytes) -> str | None:
    """MIME type from the file's magic bytes: scraped files often carry the wrong extension."""
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:2] == b"\xff\xd8":
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def image_signals(path: str | Path | None = None, data: bytes | None = None, mime: str | None = None,
                  location: str = "") -> tuple[Signal, ...]:
    """XMP + C2PA signals of one image file (or its bytes). The type comes from the magic bytes,
    then the given `mime`, then the file name."""
    if data is None:
        p = Path(path)  # type: ignore[arg-type]
        location = location or str(p)
        with open(p, "rb") as f:
            head = f.read(MAX_SCAN_BYTES)
            out = parse_xmp(head, location)
            mime = _sniff_mime(head) or mime or _MIME.get(p.suffix.lower())
            if mime:
                f.seek(0)
                out += parse_c2pa(f, mime, location)
        return out
    mime = _sniff_mime(data[:16]) or mime
    out = parse_xmp(data, location)
    if mime:
        out += parse_c2pa(data, mime, location)
    return out

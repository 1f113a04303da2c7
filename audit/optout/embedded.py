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

from audit.optout.signals import Signal, _clip

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
    for m in _DM_RE.finditer(packet):
        raw = next(g for g in m.groups() if g is not None).decode("utf-8", errors="replace").strip()
        if not raw:
            continue
        value = raw.rsplit("/", 1)[-1].upper() if raw else ""
        scope, restricts = DMI.get(value, ("all-tdm", False))
        directive = f"plus:DataMining={value}" if value in DMI else f"plus:DataMining={_clip(raw, 60)} (unknown value)"
        out.append(Signal("xmp", directive, scope, restricts, _clip(m.group(0).decode("utf-8", errors="replace")), None, location))
    if end < 0:
        out.append(Signal("xmp", "broken XMP (packet not closed)", "all-tdm", False,
                          _clip(packet[:120].decode("utf-8", errors="replace")), None, location))
    return tuple(out)


def parse_c2pa_json(manifest_json: str, location: str = "") -> tuple[Signal, ...]:
    """`c2pa.training-mining` / `cawg.training-mining` assertions of the active manifest."""
    try:
        store = json.loads(manifest_json)
    except json.JSONDecodeError:
        return ()
    active = store.get("active_manifest")
    manifests = store.get("manifests", {})
    m = manifests.get(active) if active else None
    out: list[Signal] = []
    for man in [m] if m else manifests.values():
        for a in man.get("assertions", []) or []:
            label = str(a.get("label", ""))
            if not re.match(r"^(c2pa|cawg)\.training-mining(\.v\d+)?$", label):
                continue
            entries = (a.get("data") or {}).get("entries") or {}
            for name, val in entries.items():
                use = str((val or {}).get("use", "")).strip()
                short = name.split(".", 1)[-1]
                scope = C2PA_ENTRIES.get(short, "all-tdm")
                restricts = use.lower() in ("notallowed", "constrained")
                out.append(Signal("c2pa", f"{label} {name}={use}", scope, restricts,
                                  _clip(json.dumps({name: val})), None, location))
    return tuple(out)


def parse_c2pa(data: bytes, mime: str, location: str = "") -> tuple[Signal, ...]:
    """Read the C2PA manifest store with c2pa's Reader; no manifest or unsupported type -> ()."""
    try:
        import c2pa
    except ImportError:  # pragma: no cover - c2pa-python is a dependency
        return ()
    try:
        ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False}})
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=ctx)
    except Exception as exc:  # noqa: BLE001 - c2pa raises its own error types for broken manifests
        return (Signal("c2pa", "unreadable C2PA manifest", "all-tdm", False, _clip(str(exc)), None, location),)
    if reader is None:
        return ()
    try:
        return parse_c2pa_json(reader.json(), location)
    finally:
        reader.close()


def image_signals(path: str | Path | None = None, data: bytes | None = None, mime: str | None = None,
                  location: str = "") -> tuple[Signal, ...]:
    """XMP + C2PA signals of one image file (or its bytes)."""
    if data is None:
        p = Path(path)  # type: ignore[arg-type]
        with open(p, "rb") as f:
            data = f.read(MAX_SCAN_BYTES)
        mime = mime or _MIME.get(p.suffix.lower())
        location = location or str(p)
    if mime is None:
        mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg" if data[:2] == b"\xff\xd8" else None
    out = parse_xmp(data, location)
    if mime:
        out += parse_c2pa(data, mime, location)
    return out

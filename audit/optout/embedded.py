"""Signals embedded in image files: XMP `plus:DataMining` (PLUS LDF) and C2PA/CAWG `training-mining` assertions.

XMP packets are parsed as XML with namespaces (expat), refusing any DOCTYPE or entity declaration (no
entity expansion, as defusedxml does). A property counts only under its namespace URI: PLUS is
`http://ns.useplus.org/ldf/xmp/1.0/`; `DataMining` under a look-alike namespace is reported and ignored.
Values are matched exactly as the PLUS LDF Data Mining vocabulary lists them. A packet that cannot be
read (not closed, not well-formed) gives an "unknown" answer, never "allowed". C2PA is read with the
c2pa Reader; files without a manifest are skipped quietly.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

from audit.optout.base import ALLOW, DISALLOW, NONE, UNKNOWN, USES, Signal, clip, unreadable
from audit.provenance.context import make_context

MAX_SCAN_BYTES = 8 * 1024 * 1024
MAX_PACKETS = 8
PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PLUS_RULE = "PLUS LDF 1.2 plus:DataMining (IPTC Photo Metadata 2023.1 'Data Mining'), namespace " + PLUS_NS
_ALL_NO = {u: DISALLOW for u in USES}
#: PLUS Data Mining vocabulary (IPTC Photo Metadata Standard 2023.1) -> (scope, {use: state}).
DMI = {
    "DMI-UNSPECIFIED": ("all-tdm", {}),                      # neither allowed nor prohibited
    "DMI-ALLOWED": ("all-tdm", {u: ALLOW for u in USES}),
    "DMI-PROHIBITED-AIMLTRAINING": ("ai-training", {"train": DISALLOW}),
    "DMI-PROHIBITED-GENAIMLTRAINING": ("genai-training", {"train": DISALLOW}),  # this project trains generative models
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": ("all-tdm", {"train": DISALLOW, "ai-input": DISALLOW, "search": ALLOW}),
    "DMI-PROHIBITED": ("all-tdm", _ALL_NO),
    "DMI-PROHIBITED-SEECONSTRAINT": ("all-tdm", _ALL_NO),          # prohibited; details in plus:OtherConstraints
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": ("all-tdm", _ALL_NO),  # details in iptcExt:EmbdEncRightsExpr
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": ("all-tdm", _ALL_NO),    # details in iptcExt:LinkedEncRightsExpr
}
#: Values of the 2023 PLUS public-review draft, still found in files written before the final vocabulary.
DMI_DRAFT = {
    "DMI-ALLOWED-noaitraining": ("ai-training", {"train": DISALLOW, "ai-input": ALLOW, "search": ALLOW}),
    "DMI-ALLOWED-noaigentraining": ("genai-training", {"train": DISALLOW, "ai-input": ALLOW, "search": ALLOW}),
    "DMI-SEE-constraint": ("all-tdm", {u: UNKNOWN for u in USES}),  # allowed with constraints only a person can read
    "DMI-SEE-embeddedrightsexpr": ("all-tdm", {u: UNKNOWN for u in USES}),
    "DMI-SEE-linkedrightsexpr": ("all-tdm", {u: UNKNOWN for u in USES}),
}
#: C2PA/CAWG training-mining entry -> (scope, uses it governs).
C2PA_ENTRIES = {"ai_generative_training": ("genai-training", ("train",)), "ai_training": ("ai-training", ("train",)),
                "data_mining": ("all-tdm", ("train", "ai-input")), "ai_inference": ("ai-input", ("ai-input",))}
C2PA_RULE = "C2PA 2.x / CAWG training-and-data-mining assertion (allowed | notAllowed | constrained)"
_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
         ".tif": "image/tiff", ".tiff": "image/tiff", ".gif": "image/gif"}
_PACKET = re.compile(rb"<(x:x[am]pmeta|rdf:RDF)\b")


class _Refused(Exception):
    pass


def _data_mining_values(packet: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """[(namespace URI, value)] of every `DataMining` property in one XMP packet, or an error message."""
    found: list[tuple[str, str]] = []
    text: list[str] | None = None
    current: str | None = None
    p = expat.ParserCreate(namespace_separator=" ")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_a: object) -> None:
        raise _Refused("DOCTYPE or entity declaration in XMP (refused: no entity expansion)")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal text, current
        for k, v in attrs.items():
            ns, _, local = k.rpartition(" ")
            if local == "DataMining":
                found.append((ns, v))
        ns, _, local = name.rpartition(" ")
        if local == "DataMining":
            res = attrs.get(RDF_NS + " resource")
            if res is not None:
                found.append((ns, res))
            else:
                text, current = [], ns

    def chars(data: str) -> None:
        if text is not None and len(text) < 1000:
            text.append(data)

    def end(name: str) -> None:
        nonlocal text, current
        if text is not None and name.rpartition(" ")[2] == "DataMining":
            found.append((current or "", "".join(text).strip()))
            text, current = None, None

    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    p.ExternalEntityRefHandler = lambda *a: 0
    p.StartElementHandler, p.CharacterDataHandler, p.EndElementHandler = start, chars, end
    try:
        p.Parse(packet, True)
    except (expat.ExpatError, _Refused) as exc:
        return found, f"not well-formed XML ({exc})"
    return found, None


def _dmi_signals(ns: str, raw: str, location: str) -> list[Signal]:
    if ns != PLUS_NS:
        return [Signal("xmp", f"DataMining under namespace '{clip(ns or '(none)', 60)}', not PLUS: ignored", "all-tdm", NONE,
                       USES, clip(raw), None, location, PLUS_RULE)]
    name = raw[len(PLUS_VOCAB):] if raw.startswith(PLUS_VOCAB) else raw
    table = DMI if name in DMI else DMI_DRAFT if name in DMI_DRAFT else None
    if table is None:
        return [Signal("xmp", f"plus:DataMining={clip(raw, 60)} (not a PLUS vocabulary value)", "all-tdm", UNKNOWN, USES,
                       clip(raw), None, location, PLUS_RULE)]
    scope, states = table[name]
    note = " (PLUS 2023 draft value)" if table is DMI_DRAFT else ""
    if not states:
        return [Signal("xmp", f"plus:DataMining={name}{note}", scope, NONE, USES, clip(raw), None, location, PLUS_RULE)]
    out = []
    for state in (DISALLOW, ALLOW, UNKNOWN):
        uses = tuple(u for u in USES if states.get(u) == state)
        if uses:
            out.append(Signal("xmp", f"plus:DataMining={name}{note}", scope, state, uses, clip(raw), None, location, PLUS_RULE))
    return out


def parse_xmp(data: bytes, location: str = "") -> tuple[Signal, ...]:
    """PLUS Data Mining value(s) in the XMP packet(s) of an image file's bytes."""
    data = data[:MAX_SCAN_BYTES]
    out: list[Signal] = []
    seen: set[tuple[str, str]] = set()
    pos = 0
    for _ in range(MAX_PACKETS):
        m = _PACKET.search(data, pos)
        if m is None:
            break
        close = b"</" + m.group(1) + b">"
        end = data.find(close, m.start())
        if end < 0:
            head = data[m.start():m.start() + 120].decode("utf-8", "replace")
            out.append(unreadable("xmp", "XMP: packet not closed (broken XMP, or longer than the bytes read)", head, location,
                                  PLUS_RULE, "all-tdm"))
            break
        packet, pos = data[m.start():end + len(close)], end + len(close)
        values, error = _data_mining_values(packet)
        if error:
            out.append(unreadable("xmp", f"XMP: {error}", packet[:120].decode("utf-8", "replace"), location, PLUS_RULE, "all-tdm"))
            continue
        for ns, raw in values:
            if (ns, raw) not in seen and len(seen) < 50:  # a hostile packet repeats one value thousands of times: once
                seen.add((ns, raw))
                out += _dmi_signals(ns, raw, location)
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
        origin = "" if label_ == active or not active else f"ingredient '{clip(str(man.get('title') or label_), 60)}': "
        for a in man.get("assertions", []) or []:
            label = str(a.get("label", "")) if isinstance(a, dict) else ""
            if not re.match(r"^(c2pa|cawg)\.training-mining(\.v\d+)?$", label):
                continue
            entries = (a.get("data") or {}).get("entries") or {}
            if not isinstance(entries, dict):
                continue
            for name, val in entries.items():
                use = str((val or {}).get("use", "") if isinstance(val, dict) else "").strip()
                scope, uses = C2PA_ENTRIES.get(name.split(".", 1)[-1], ("all-tdm", ()))
                state = {"notallowed": DISALLOW, "allowed": ALLOW}.get(use.lower(), UNKNOWN)  # constrained: see constraint_info
                if not uses:
                    state, uses = NONE, USES  # an entry this reader does not know: reported, decides nothing
                out.append(Signal("c2pa", f"{origin}{label} {name}={use}", scope, state, uses,
                                  clip(json.dumps({name: val})), None, location, C2PA_RULE))
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
        return (Signal("c2pa", "unreadable C2PA manifest", "all-tdm", UNKNOWN, USES, clip(str(exc)), None, location, C2PA_RULE),)
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

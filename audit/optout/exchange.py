"""Import and export of registry entries: CSV, JSON, and Spawning-style plain lists of URLs/domains.

Imports are validated whole before anything is written and then inserted in one transaction, so a
bad line never leaves a half-imported registry (unless the caller asks to skip invalid lines).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from audit.atomic import write_text
from audit.errors import InputError
from audit.optout.registry import ImportSummary, Registry

EXPORT_FIELDS = ("kind", "value", "aliases", "artist", "phash", "scope", "source", "received", "evidence", "active")
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in ("csv", "json", "list"):
            raise InputError(f"unknown format '{fmt}'", "use csv, json or list")
        return fmt
    suffix = path.suffix.lower()
    return {".csv": "csv", ".json": "json", ".jsonl": "json"}.get(suffix, "list")


def _plain_list(text: str) -> list[dict[str, Any]]:
    """Spawning-style: one URL or domain per line; '#' comments; a URL ending in '/' or '*' is a prefix."""
    out = []
    for line in text.splitlines():
        item = line.split("#", 1)[0].strip() if not line.lstrip().startswith("http") else line.strip()
        if not item:
            continue
        if "://" in item:
            kind = "url_prefix" if item.endswith(("/", "*")) else "url"
        else:
            kind = "domain"
        out.append({"kind": kind, "value": item})
    return out


def _records(text: str, fmt: str, name: str) -> list[dict[str, Any]]:
    if fmt == "list":
        return _plain_list(text)
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        try:
            if not reader.fieldnames or "kind" not in reader.fieldnames or "value" not in reader.fieldnames:
                raise InputError(f"{name}: CSV needs a header with at least 'kind' and 'value'",
                                 f"columns: {', '.join(EXPORT_FIELDS)}")
            return [dict(r) for r in reader]
        except csv.Error as exc:  # e.g. a field over the 128 KiB limit, an unterminated quote
            raise InputError(f"{name}: unreadable CSV after line {reader.line_num} ({exc})",
                             "check the quoting of that line; nothing was imported") from None
    try:
        if name.endswith(".jsonl"):
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{name}: not valid JSON ({exc or 'nested too deeply'})", "export the list again, or use CSV") from None
    if isinstance(data, dict):
        data = data.get("entries", data.get("urls", data.get("domains")))
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON list of entries or {{\"entries\": [...]}}")
    recs: list[Any] = []
    for item in data:
        recs.extend(_plain_list(item) if isinstance(item, str) else [item])
    return recs


def _to_record(raw: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError("entry is not an object")
    aliases = raw.get("aliases") or []
    if isinstance(aliases, str):
        aliases = [a for a in aliases.split("|") if a.strip()]
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InputError("aliases must be a list of names (or 'a|b' in CSV)")
    for fld in ("kind", "value", "scope", "source", "received", "evidence", "artist", "phash"):
        if isinstance(raw.get(fld), (dict, list)):  # hand-edited JSON: say which field, do not crash
            raise InputError(f"field '{fld}' must be text, not {type(raw.get(fld)).__name__}")

    def text(v: Any) -> Any:
        return None if v is None or v == "" else str(v)

    fields = {
        "aliases": aliases,
        "scope": text(raw.get("scope")) or defaults.get("scope") or "ai-training",
        "source": text(raw.get("source")) or defaults.get("source") or "",
        "received": text(raw.get("received")) or defaults.get("received"),
        "evidence": text(raw.get("evidence")) or defaults.get("evidence") or "",
        "artist": text(raw.get("artist")),
        "phash": text(raw.get("phash")),
    }
    return Registry.make_record(str(raw.get("kind") or "").strip(), str(raw.get("value") or ""), **fields)


def import_entries(reg: Registry, path: str | Path, fmt: str | None = None, *, skip_invalid: bool = False,
                   **defaults: Any) -> ImportSummary:
    """Validate every record, then insert all valid ones in one transaction (duplicates are counted, not re-added)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise InputError(f"{path} is larger than {MAX_IMPORT_BYTES >> 20} MiB", "split it into smaller files")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    raws = _records(text, detect_format(path, fmt), str(path))
    good, bad = [], []
    for i, raw in enumerate(raws, start=1):
        try:
            good.append(_to_record(raw, defaults))
        except InputError as exc:
            bad.append((i, exc.message))
    if bad and not skip_invalid:
        shown = "; ".join(f"record {i}: {m}" for i, m in bad[:3])
        raise InputError(f"{path}: {len(bad)} invalid record(s), nothing imported ({shown})",
                         "fix them or pass --skip-invalid to import the rest")
    added, dups = reg.add_many(good)
    return ImportSummary(added, dups, tuple(bad))


def export_entries(reg: Registry, path: str | Path, fmt: str | None = None, include_inactive: bool = False) -> int:
    """Write the registry as CSV, JSON or a plain list (URLs/prefixes/domains only); returns rows written."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    df = reg.frame(active_only=not include_inactive)
    rows = []
    for r in df.itertuples(index=False):
        rows.append({
            "kind": r.kind, "value": r.display, "aliases": json.loads(r.aliases), "artist": r.artist, "phash": r.phash,
            "scope": r.scope, "source": r.source, "received": r.received, "evidence": r.evidence, "active": bool(r.active),
        })
    if fmt == "json":
        write_text(path, json.dumps({"entries": rows}, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS)
        w.writeheader()
        for row in rows:
            w.writerow({**row, "aliases": "|".join(row["aliases"]), "artist": row["artist"] or "", "phash": row["phash"] or ""})
        write_text(path, buf.getvalue())
    else:
        rows = [r for r in rows if r["kind"] in ("url", "url_prefix", "domain")]
        write_text(path, "".join(r["value"] + "\n" for r in rows))
    return len(rows)

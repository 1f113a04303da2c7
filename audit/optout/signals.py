"""Opt-out signals in HTTP headers and HTML: X-Robots-Tag, robots meta, TDMRep, Content-Usage, Content-Signal.

Each directive governs the use its convention or specification names, and only that use:
`noai`/`noimageai` reserve training; `noindex`/`noimageindex`/`none` are search directives; TDMRep reserves
text and data mining (training and AI input); Content-Usage and Content-Signal map key by key (vocab.py).
Directives are case-insensitive; `name: directive` scopes bind only the agent named; values may contain
colons (`unavailable_after: 25 Jun 2030 15:00:00 PST`). Every X-Robots-Tag line is read. Input beyond a cap
is never silently dropped: a Signal in state "unknown" says what was cut.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from audit.optout.base import (
    ALLOW,
    DISALLOW,
    MAX_HEADER_LINES,
    MAX_HEADER_VALUE,
    MAX_HTML_BYTES,
    NONE,
    STRICTNESS,
    Signal,
    clip,
    cut,
    path_match,
    unreadable,
)
from audit.optout.crawlers import training_crawlers
from audit.optout.htmlmeta import MAX_META_TAGS, meta_tags
from audit.optout.vocab import parse_content_signal, parse_content_usage

__all__ = ["parse_headers", "parse_html", "parse_tdmrep_json", "parse_robots_directives", "parse_content_usage",
           "parse_content_signal", "header_lines", "meta_tags", "Signal", "STRICTNESS", "TDMREP_PRECEDENCE", "AI_AGENTS"]

#: Product tokens of the training crawlers in crawlers.json (kept for callers of the old constant).
AI_AGENTS = tuple(c.token for c in training_crawlers())

NOAI_RULE = "robots meta / X-Robots-Tag noai, noimageai convention (DeviantArt 2022, adopted by ArtStation, Raptive)"
INDEX_RULE = "robots meta / X-Robots-Tag noindex, noimageindex, none (Google robots meta specification): search only"
#: Directive -> (scope, uses it governs, specification).
ROBOTS_DIRECTIVES = {
    "noai": ("ai-training", ("train",), NOAI_RULE),
    "noimageai": ("ai-training-images", ("train",), NOAI_RULE),
    "noml": ("ml", ("train",), "noml (a 'no machine learning' variant of the noai convention)"),
    "noindex": ("search", ("search",), INDEX_RULE),
    "noimageindex": ("search", ("search",), INDEX_RULE),
    "none": ("search", ("search",), INDEX_RULE),
}
#: Robots directives that take a value (their name is followed by a colon, not an agent).
VALUE_DIRECTIVES = ("unavailable_after", "max-snippet", "max-image-preview", "max-video-preview")

TDMREP_USES = ("train", "ai-input")
TDMREP_RULE = "W3C TDMRep final report §3 (tdm-reservation 1 = TDM rights reserved, 0 = not reserved)"
#: TDMRep precedence (W3C TDMRep final report §4): embedded metadata > HTML meta > HTTP header > tdmrep.json.
TDMREP_PRECEDENCE = {"tdmrep-embedded": 4, "tdmrep-meta": 3, "tdmrep-header": 2, "tdmrep-file": 1}


# ------------------------------------------------------------------ X-Robots-Tag / robots meta

_AGENT_PREFIX = re.compile(r"^\s*([A-Za-z0-9_.\-]{1,64})\s*:\s*(.*)$", re.S)


def parse_robots_directives(value: str, *, kind: str, agent: str | None = None, location: str = "") -> tuple[Signal, ...]:
    """Parse one X-Robots-Tag / robots-meta value ('googlebot: noai, noimageai'); an agent prefix scopes what follows."""
    value, was_cut = cut(value, MAX_HEADER_VALUE)
    out: list[Signal] = []
    current_agent = agent
    for frag in value.split(","):
        frag = frag.strip()
        if not frag:
            continue
        m = _AGENT_PREFIX.match(frag)
        if m and m.group(1).lower() not in VALUE_DIRECTIVES:
            current_agent, frag = m.group(1).lower(), m.group(2).strip()  # "otherbot: noai" starts a new scope
            m2 = _AGENT_PREFIX.match(frag)
            if m2 and m2.group(1).lower() not in VALUE_DIRECTIVES:
                continue  # "a: b: c" with an unknown directive: not something we understand
        name = frag.split(":", 1)[0].strip().lower()  # value directives keep their value (colons and all)
        if name in ROBOTS_DIRECTIVES:
            scope, uses, rule = ROBOTS_DIRECTIVES[name]
            out.append(Signal(kind, name, scope, DISALLOW, uses, clip(value), current_agent, location, rule))
    if was_cut:
        out.append(unreadable(kind, f"the whole value (longer than {MAX_HEADER_VALUE} bytes; the rest was cut)",
                              value[:120], location, NOAI_RULE, uses=("train", "search")))
    return tuple(out)


def _header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]] | str) -> tuple[list[tuple[str, str]], int]:
    """(name, value) pairs, repeats kept, and how many lines were beyond the line cap (not read)."""
    if isinstance(headers, str):
        pairs: list[tuple[str, str]] = []
        lines = [ln for ln in headers.splitlines() if ln.strip()]
        for line in lines[:MAX_HEADER_LINES]:
            if line.startswith((" ", "\t")) and pairs:  # obsolete line folding (RFC 9112 §5.2): part of the previous value
                pairs[-1] = (pairs[-1][0], pairs[-1][1] + " " + line.strip())
            elif ":" in line and not line.startswith("HTTP/"):
                name, val = line.split(":", 1)  # the *name* ends at the first colon; the value keeps the rest
                pairs.append((name.strip(), val.strip()))
        return pairs, max(0, len(lines) - MAX_HEADER_LINES)
    items = list(headers.items() if isinstance(headers, Mapping) else headers)
    return [(str(k), str(v)) for k, v in items[:MAX_HEADER_LINES]], max(0, len(items) - MAX_HEADER_LINES)


def header_lines(headers: Mapping[str, str] | Iterable[tuple[str, str]] | str) -> list[tuple[str, str]]:
    """Normalise headers given as a dict, (name, value) pairs, or raw 'Name: value' text (repeats kept)."""
    return _header_pairs(headers)[0]


def _tdm(kind: str, reservation: str | None, policy: str | None, evidence: str, location: str,
         rule: str = TDMREP_RULE) -> tuple[Signal, ...]:
    if reservation is None:
        return ()
    r = reservation.strip()
    if r not in ("0", "1"):  # "other values are protocol errors": treated as unset
        return (Signal(kind, f"tdm-reservation={clip(r, 20)} (invalid: treated as unset)", "all-tdm", NONE, TDMREP_USES,
                       clip(evidence), None, location, rule),)
    directive = f"tdm-reservation={r}" + (f" tdm-policy={policy.strip()}" if policy else "")
    return (Signal(kind, directive, "all-tdm", DISALLOW if r == "1" else ALLOW, TDMREP_USES, clip(evidence), None, location,
                   rule),)


def parse_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | str, location: str = "") -> tuple[Signal, ...]:
    """Every opt-out signal in a set of HTTP response headers (every repeated line counts)."""
    pairs, beyond = _header_pairs(headers)
    out: list[Signal] = []
    tdm_res = tdm_pol = None
    for name, value in pairs:
        n = name.strip().lower()
        if n == "x-robots-tag":
            out += parse_robots_directives(value, kind="x-robots-tag", location=location)
        elif n in ("content-usage", "content-signal"):
            value, was_cut = cut(value, MAX_HEADER_VALUE)
            out += (parse_content_usage if n == "content-usage" else parse_content_signal)(value, location=location)
            if was_cut:
                out.append(unreadable(n, f"the whole {name} value (longer than {MAX_HEADER_VALUE} bytes)", value[:120], location))
        elif n == "tdm-reservation":
            tdm_res = value
        elif n == "tdm-policy":
            tdm_pol = value
    out += _tdm("tdmrep-header", tdm_res, tdm_pol, f"tdm-reservation: {tdm_res}", location)
    if beyond:
        out.append(unreadable("http-headers", f"{beyond} header line(s) beyond the first {MAX_HEADER_LINES}", "", location,
                              "RFC 9110 §5.3 (every field line counts; none may be skipped)"))
    return tuple(out)


def parse_html(html: str | bytes, location: str = "") -> tuple[Signal, ...]:
    """Robots meta (`robots`, or a crawler's name such as `img2dataset`) and TDMRep meta tags of an HTML page."""
    size = len(html)
    if isinstance(html, bytes):
        html = html[:MAX_HTML_BYTES].decode("utf-8", errors="replace")
    html = html[:MAX_HTML_BYTES]
    out: list[Signal] = []
    tdm_res = tdm_pol = None
    tags = meta_tags(html)
    for name, content in tags:
        if name == "robots":
            out += parse_robots_directives(content, kind="robots-meta", location=location)
        elif name == "tdm-reservation":
            tdm_res = content
        elif name == "tdm-policy":
            tdm_pol = content
        elif re.fullmatch(r"[a-z0-9_.\-]{1,64}", name):  # <meta name="img2dataset" content="noai">: binds that crawler only
            out += parse_robots_directives(content, kind="robots-meta", agent=name, location=location)
    out += _tdm("tdmrep-meta", tdm_res, tdm_pol, f'<meta name="tdm-reservation" content="{tdm_res}">', location)
    if size > MAX_HTML_BYTES:
        out.append(unreadable("robots-meta", f"the whole page (longer than {MAX_HTML_BYTES} bytes; the rest was cut)", "", location))
    if len(tags) >= MAX_META_TAGS:
        out.append(unreadable("robots-meta", f"every meta tag (more than {MAX_META_TAGS})", "", location))
    return tuple(out)


TDMREP_FILE_RULE = ("W3C TDMRep final report §4.1 (tdmrep.json: first matching rule; location matched as a path prefix "
                    "with robots.txt '*' and '$')")


def parse_tdmrep_json(text: str | bytes, path: str = "/", location: str = "") -> tuple[Signal, ...]:
    """`/.well-known/tdmrep.json`: the first rule whose `location` matches `path` as a prefix ('/' covers the site)."""
    if isinstance(text, bytes):
        text = text[:MAX_HTML_BYTES].decode("utf-8", errors="replace")
    try:
        rules = json.loads(text[:MAX_HTML_BYTES])
    except (json.JSONDecodeError, RecursionError) as exc:  # hostile files nest '[' a million deep
        s = unreadable("tdmrep-file", "tdmrep.json (not valid JSON)", str(exc) or type(exc).__name__, location, TDMREP_FILE_RULE,
                       "all-tdm", TDMREP_USES)
        return (Signal(s.kind, "unparseable tdmrep.json", s.scope, s.state, s.uses, s.evidence, None, location, s.rule),)
    if not isinstance(rules, list):
        return (unreadable("tdmrep-file", "tdmrep.json (not an array of rules)", clip(text, 120), location, TDMREP_FILE_RULE,
                           "all-tdm", TDMREP_USES),)
    for rule in rules[:10_000]:
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            continue
        loc = rule["location"].strip()
        if "://" in loc:
            loc = urlsplit(loc).path or "/"
        if not loc.startswith(("/", "*")):
            loc = "/" + loc
        if path_match(loc, path):
            res = rule.get("tdm-reservation")
            res = None if res is None or isinstance(res, bool) else str(res)
            pol = rule.get("tdm-policy")
            return _tdm("tdmrep-file", res, pol if isinstance(pol, str) else None, json.dumps(rule)[:300], location,
                        TDMREP_FILE_RULE)
    return ()

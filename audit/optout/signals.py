"""Opt-out signals in HTTP headers and HTML: X-Robots-Tag, robots meta, TDMRep, Content-Usage, Content-Signal.

Mistakes existing tools make and this module avoids: directives are case-insensitive; a scoped
directive (`googlebot: noai`) applies only to that agent; values may contain colons
(`unavailable_after: 25 Jun 2030 15:00:00 PST`) and commas; many repeated header lines are normal.
Inputs are size-capped; hostile input yields fewer signals, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

MAX_HEADER_LINES = 1000
MAX_HEADER_VALUE = 8192
MAX_HTML_BYTES = 2 * 1024 * 1024
MAX_META_TAGS = 2000

#: Crawlers that collect AI training data; a directive scoped to one of them applies to us.
AI_AGENTS = ("img2dataset", "gptbot", "ccbot", "google-extended", "claudebot", "anthropic-ai", "applebot-extended",
             "bytespider", "perplexitybot", "meta-externalagent", "omgili", "diffbot", "cohere-ai", "chatgpt-user")
#: Directive -> scope it reserves.
ROBOTS_DIRECTIVES = {"noai": "ai-training", "noimageai": "ai-training-images", "noml": "ml"}
#: Robots directives that take a value (their name is followed by a colon, not an agent).
VALUE_DIRECTIVES = ("unavailable_after", "max-snippet", "max-image-preview", "max-video-preview")
#: How strict each scope is (higher = forbids more uses); the strictest reservation wins.
STRICTNESS = {"all": 6, "all-tdm": 5, "ai-training": 4, "ml": 4, "genai-training": 3, "ai-training-images": 3,
              "ai-input": 2, "crawling": 2, "search": 1}
#: TDMRep precedence (W3C): embedded metadata > HTML meta > HTTP header > tdmrep.json.
TDMREP_PRECEDENCE = {"tdmrep-embedded": 4, "tdmrep-meta": 3, "tdmrep-header": 2, "tdmrep-file": 1}


@dataclass(frozen=True)
class Signal:
    """One directive found somewhere, with the text it came from."""

    kind: str                 # x-robots-tag, robots-meta, tdmrep-header, robots.txt, content-usage, xmp, c2pa, ...
    directive: str            # normalised, e.g. "noai", "tdm-reservation=1", "disallow /", "train-ai=n"
    scope: str                # ai-training, all-tdm, ... (see STRICTNESS)
    restricts: bool           # True: this reserves rights / says "do not use"
    evidence: str             # the raw line or value it was read from
    agent: str | None = None  # None = every agent
    location: str = ""        # URL or file it came from

    def applies_to(self, agent: str) -> bool:
        """Does this signal bind `agent`? Unscoped ones bind everyone; AI-crawler scopes bind AI crawlers."""
        if self.agent is None or self.agent == "*":
            return True
        a = self.agent.lower()
        return a == agent.lower() or (a in AI_AGENTS and agent.lower() in AI_AGENTS)


def _clip(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[:n] + "…"


# ------------------------------------------------------------------ X-Robots-Tag / robots meta

_AGENT_PREFIX = re.compile(r"^\s*([A-Za-z0-9_.\-]{1,64})\s*:\s*(.*)$", re.S)


def parse_robots_directives(value: str, *, kind: str, agent: str | None = None, location: str = "") -> tuple[Signal, ...]:
    """Parse one X-Robots-Tag / robots-meta value ('googlebot: noai, noimageai')."""
    value = value[:MAX_HEADER_VALUE]
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
            out.append(Signal(kind, name, ROBOTS_DIRECTIVES[name], True, _clip(value), current_agent, location))
    return tuple(out)


def header_lines(headers: Mapping[str, str] | Iterable[tuple[str, str]] | str) -> list[tuple[str, str]]:
    """Normalise headers given as a dict, (name, value) pairs, or raw 'Name: value' text (repeats kept)."""
    if isinstance(headers, str):
        pairs = []
        for line in headers.splitlines()[:MAX_HEADER_LINES]:
            if ":" in line and not line.startswith(("HTTP/", " ", "\t")):
                name, val = line.split(":", 1)  # header *name* ends at the first colon; the value keeps the rest
                pairs.append((name.strip(), val.strip()))
        return pairs
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in list(items)[:MAX_HEADER_LINES]]


def parse_key_values(value: str) -> dict[str, str]:
    """'train-ai=n, search=y' or 'ai-train=no; search=yes' -> {key: value} (lower-cased)."""
    out = {}
    for part in re.split(r"[,;\s]+", value[:MAX_HEADER_VALUE]):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip().strip('"').lower()
    return out


_CONTENT_USAGE = {"train-ai": "ai-training", "train-genai": "genai-training", "ai": "ai-training", "tdm": "all-tdm",
                  "search": "search", "bots": "crawling"}
_CONTENT_SIGNAL = {"ai-train": "ai-training", "ai-input": "ai-input", "search": "search"}


def parse_content_usage(value: str, kind: str = "content-usage", location: str = "") -> tuple[Signal, ...]:
    """IETF aipref `Content-Usage: train-ai=n` (y/n)."""
    return tuple(Signal(kind, f"{k}={v}", _CONTENT_USAGE[k], v in ("n", "no"), _clip(value), None, location)
                 for k, v in parse_key_values(value).items() if k in _CONTENT_USAGE and v in ("y", "n", "yes", "no"))


def parse_content_signal(value: str, kind: str = "content-signal", location: str = "") -> tuple[Signal, ...]:
    """Cloudflare `Content-Signal: search=yes, ai-train=no`."""
    return tuple(Signal(kind, f"{k}={v}", _CONTENT_SIGNAL[k], v in ("n", "no"), _clip(value), None, location)
                 for k, v in parse_key_values(value).items() if k in _CONTENT_SIGNAL and v in ("y", "n", "yes", "no"))


def _tdm(kind: str, reservation: str | None, policy: str | None, evidence: str, location: str) -> tuple[Signal, ...]:
    if reservation is None:
        return ()
    r = reservation.strip()
    if r not in ("0", "1"):
        return (Signal(kind, f"tdm-reservation={_clip(r, 20)} (invalid)", "all-tdm", False, _clip(evidence), None, location),)
    directive = f"tdm-reservation={r}" + (f" tdm-policy={policy.strip()}" if policy else "")
    return (Signal(kind, directive, "all-tdm", r == "1", _clip(evidence), None, location),)


def parse_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | str, location: str = "") -> tuple[Signal, ...]:
    """Every opt-out signal in a set of HTTP response headers (repeated lines each count)."""
    out: list[Signal] = []
    tdm_res = tdm_pol = None
    for name, value in header_lines(headers):
        n = name.strip().lower()
        if n == "x-robots-tag":
            out += parse_robots_directives(value, kind="x-robots-tag", location=location)
        elif n == "content-usage":
            out += parse_content_usage(value, location=location)
        elif n == "content-signal":
            out += parse_content_signal(value, location=location)
        elif n == "tdm-reservation":
            tdm_res = value
        elif n == "tdm-policy":
            tdm_pol = value
    out += _tdm("tdmrep-header", tdm_res, tdm_pol, f"tdm-reservation: {tdm_res}", location)
    return tuple(out)


_META_TAG = re.compile(r"<meta\b([^<>]{0,4000})>", re.I)
_ATTR = re.compile(r"""([A-Za-z_:][-\w:.]{0,60})\s*=\s*("[^"]{0,4000}"|'[^']{0,4000}'|[^\s"'>]{1,4000})""")


def meta_tags(html: str) -> list[tuple[str, str]]:
    """(name, content) of <meta> tags. A bounded regex scan, linear in the input: Python's HTMLParser
    goes quadratic on hostile input such as thousands of unclosed '<div ' tags."""
    import html as _html

    out = []
    for m in _META_TAG.finditer(html):
        attrs = {k.lower(): _html.unescape(v.strip("\"'")) for k, v in _ATTR.findall(m.group(1))}
        if "name" in attrs and "content" in attrs:
            out.append((attrs["name"].strip().lower(), attrs["content"]))
            if len(out) >= MAX_META_TAGS:
                break
    return out


def parse_html(html: str | bytes, location: str = "") -> tuple[Signal, ...]:
    """Robots meta (`robots`, or an agent name such as `img2dataset`) and TDMRep meta tags in an HTML page."""
    if isinstance(html, bytes):
        html = html[:MAX_HTML_BYTES].decode("utf-8", errors="replace")
    html = html[:MAX_HTML_BYTES]
    out: list[Signal] = []
    tdm_res = tdm_pol = None
    for name, content in meta_tags(html):
        if name == "robots":
            out += parse_robots_directives(content, kind="robots-meta", location=location)
        elif name in AI_AGENTS or name in ("googlebot", "bingbot", "googlebot-image"):
            out += parse_robots_directives(content, kind="robots-meta", agent=name, location=location)
        elif name == "tdm-reservation":
            tdm_res = content
        elif name == "tdm-policy":
            tdm_pol = content
    out += _tdm("tdmrep-meta", tdm_res, tdm_pol, f'<meta name="tdm-reservation" content="{tdm_res}">', location)
    return tuple(out)


def parse_tdmrep_json(text: str | bytes, path: str = "/", location: str = "") -> tuple[Signal, ...]:
    """`/.well-known/tdmrep.json`: the first rule whose `location` pattern matches `path` applies."""
    import json

    from audit.optout.robots import glob_match

    if isinstance(text, bytes):
        text = text[:MAX_HTML_BYTES].decode("utf-8", errors="replace")
    try:
        rules = json.loads(text[:MAX_HTML_BYTES])
    except (json.JSONDecodeError, RecursionError) as exc:  # hostile files nest '[' a million deep
        return (Signal("tdmrep-file", "unparseable tdmrep.json", "all-tdm", False, _clip(str(exc) or type(exc).__name__), None, location),)
    if not isinstance(rules, list):
        return ()
    for rule in rules[:10_000]:
        if not isinstance(rule, dict):
            continue
        loc = str(rule.get("location", ""))
        if glob_match(loc if loc.startswith(("/", "*")) else "/" + loc, path, prefix=False) or glob_match(loc, path, prefix=False):
            res = rule.get("tdm-reservation")
            return _tdm("tdmrep-file", None if res is None else str(res), rule.get("tdm-policy"), _clip(json.dumps(rule)), location)
    return ()

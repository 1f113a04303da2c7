"""Primitives every opt-out reader shares: the Signal record, the uses a signal governs, path patterns, caps.

Kept apart so `signals`, `robots`, `vocab` and `embedded` import one module and never each other in a
cycle. A Signal is one statement read from one place, for the uses its specification says it governs:

  train     training (or fine-tuning) a generative AI model — what this project audits
  ai-input  feeding the content to an AI model at answer time (RAG, grounding, live answers)
  search    building a search index and linking to the content

Its `state` is what the statement says about those uses: "disallow", "allow", "unknown" (the source
could not be read in full or its value cannot be interpreted, so the answer cannot be given), or
"none" (read, and says nothing about these uses: an informational note).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USES = ("train", "ai-input", "search")
DISALLOW, ALLOW, UNKNOWN, NONE = "disallow", "allow", "unknown", "none"
STATES = (DISALLOW, ALLOW, UNKNOWN, NONE)

#: Longest header value read in full (the issue asks for at least 64 KB); longer values are cut and said so.
MAX_HEADER_VALUE = 256 * 1024
#: Header lines read from a stored response; more are not read, and the answer says so.
MAX_HEADER_LINES = 1000
MAX_HTML_BYTES = 2 * 1024 * 1024

#: How much a legacy `scope` forbids (for display and the registry's vocabulary); higher = more.
STRICTNESS = {"all": 6, "all-tdm": 5, "ai-training": 4, "ml": 4, "genai-training": 3, "ai-training-images": 3,
              "ai-input": 2, "crawling": 2, "search": 1}
#: Registry scope to record for a reservation found for a use.
SCOPE_FOR_USE = {"train": "ai-training", "ai-input": "ai-input", "search": "search"}


@dataclass(frozen=True)
class Signal:
    """One statement found somewhere, the uses it governs, what it says about them, and the text it came from."""

    kind: str                 # x-robots-tag, robots-meta, tdmrep-header, robots.txt, content-usage, xmp, c2pa, ...
    directive: str            # normalised, e.g. "noai", "tdm-reservation=1", "disallow /", "train-ai=n"
    scope: str                # the source's own category, in the registry's words (ai-training, all-tdm, ...)
    state: str                # disallow | allow | unknown | none
    uses: tuple[str, ...]     # the uses this statement governs (see USES)
    evidence: str             # the raw line or value it was read from (clipped)
    agent: str | None = None  # None = every agent; else the product token it is scoped to
    location: str = ""        # URL or file it came from
    rule: str = ""            # the specification section that gives it this meaning

    @property
    def restricts(self) -> bool:
        """True when this statement says "do not" for the uses it governs."""
        return self.state == DISALLOW

    def governs(self, use: str) -> bool:
        return use in self.uses

    def applies_to(self, agent: str) -> bool:
        """Does this statement bind `agent`? Unscoped ones bind everyone; a scoped one binds only the agent it
        names (RFC 9309 §2.2.1 for robots.txt groups; the same rule for `name: directive` robots scoping).
        A statement addressed to another AI crawler does not bind ours."""
        return self.agent is None or self.agent == "*" or product_token(self.agent) == product_token(agent)


def product_token(agent: str) -> str:
    """'GPTBot/1.1 (+https://openai.com/gptbot)' -> 'gptbot' (RFC 9309 §2.2.1: match the product token, case-insensitively)."""
    return re.split(r"[/\s;(]", agent.strip(), maxsplit=1)[0].lower()


def clip(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[:n] + "…"


def cut(text: str, limit: int) -> tuple[str, bool]:
    """(text[:limit], was it cut?)"""
    return (text, False) if len(text) <= limit else (text[:limit], True)


def unreadable(kind: str, what: str, evidence: str = "", location: str = "", rule: str = "", scope: str = "all",
               uses: tuple[str, ...] = USES) -> Signal:
    """A statement that could not be read in full: the answer for these uses is unknown, never "allowed"."""
    return Signal(kind, f"could not read {what}", scope, UNKNOWN, uses, clip(evidence), None, location, rule)


# ------------------------------------------------------------------ path patterns (RFC 9309 §2.2.2-2.2.3)

_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")


def _decode_unreserved(s: str) -> str:
    """Percent-decode only unreserved characters (RFC 3986 §2.3), as RFC 9309 §2.2.2 and TDMRep ask before comparing."""

    def sub(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if (ch.isascii() and (ch.isalnum() or ch in "-._~")) else "%" + m.group(1).upper()

    return _UNRESERVED.sub(sub, s)


def path_match(pattern: str, path: str) -> bool:
    """robots.txt-style path pattern: a prefix match, where `*` matches any run and a final `$` anchors the end.

    A linear two-pointer match (no regex), so hostile `/*a*a*a…` patterns cannot backtrack catastrophically."""
    pattern, path = _decode_unreserved(pattern), _decode_unreserved(path)
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    else:
        pattern += "*"
    p = s = 0
    star = -1
    mark = 0
    while s < len(path):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == path[s]:
            p += 1
            s += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, s
            p += 1
        elif star != -1:
            p = star + 1
            mark += 1
            s = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def glob_match(pattern: str, path: str, prefix: bool = True) -> bool:
    """Compatibility wrapper: `prefix=False` anchors the pattern at the end of the path."""
    return path_match(pattern if prefix or pattern.endswith("$") else pattern + "$", path)


def match_length(pattern: str) -> int:
    """RFC 9309 §2.2.2: 'the most specific match' is the one with the most octets in the pattern."""
    return len(_decode_unreserved(pattern).encode("utf-8", errors="replace"))

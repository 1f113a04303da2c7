"""Usage-preference vocabularies: IETF aipref `Content-Usage` and Cloudflare `Content-Signal`.

Each vocabulary maps to the use it governs, and nothing else:

  Content-Usage (draft-ietf-aipref-vocab, draft-ietf-aipref-attach)
    categories nest (vocab-01..03 §4, "Applying Statements of Preference" §5): Automated Processing (`bots`,
    earlier `all`) contains AI Training (`train-ai`), which contains Generative AI Training (`train-genai`),
    and Search (`search`) and AI Use (`ai-use`). A preference for a specific category overrides its parent:
    `bots=n, train-ai=y` allows training. The value is an RFC 9651 Dictionary of tokens `y`/`n`; anything
    else (other values, uppercase keys, a parse failure) expresses no preference (vocab §6.5).
  Content-Signal (Cloudflare Content Signals Policy)
    `search`, `ai-input`, `ai-train`, each `yes`/`no`; an absent signal neither grants nor restricts.
    Only `ai-train` speaks about training; `ai-input=no` and `search=no` are not training reservations.
"""

from __future__ import annotations

import re

from audit.optout.base import ALLOW, DISALLOW, NONE, USES, Signal, clip

AIPREF = "draft-ietf-aipref-vocab §4-5 (categories nest; the most specific stated category decides)"
CONTENT_SIGNALS = "Cloudflare Content Signals Policy (search / ai-input / ai-train)"

#: Use -> aipref labels to consult, most specific first. `train` is training a generative model (what this project audits).
AIPREF_LOOKUP = {
    "train": ("train-genai", "train-ai", "bots", "all"),
    "ai-input": ("ai-use", "bots", "all"),
    "search": ("search", "bots", "all"),
}
_AIPREF_SCOPE = {"train-genai": "genai-training", "train-ai": "ai-training", "bots": "all", "all": "all",
                 "ai-use": "ai-input", "search": "search"}
CONTENT_SIGNAL_USE = {"ai-train": "train", "ai-input": "ai-input", "search": "search"}
_CS_SCOPE = {"ai-train": "ai-training", "ai-input": "ai-input", "search": "search"}

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_BARE = re.compile(r'"(?:[^"\\]|\\.)*"|\?[01]|-?\d+(?:\.\d+)?|:[A-Za-z0-9+/=]*:|@-?\d+|%"[^"]*"')


def parse_sf_dictionary(value: str) -> dict[str, str | None] | None:
    """RFC 9651 §4.2.2 Dictionary -> {key: token value, or None for a non-token value}; None if it does not parse.

    Parameters are read and discarded (aipref vocab §6: unknown parameters MUST be ignored); the last
    duplicate key wins."""
    out: dict[str, str | None] = {}
    s, i, n = value, 0, len(value)

    def skip_ows(j: int) -> int:
        while j < n and s[j] in " \t":
            j += 1
        return j

    def item(j: int) -> tuple[str | None, int] | None:
        m = _TOKEN.match(s, j)
        if m:
            return m.group(0), m.end()
        m = _BARE.match(s, j)
        return (None, m.end()) if m else None

    def params(j: int) -> int | None:
        while j < n and s[j] == ";":
            j = skip_ows(j + 1)
            m = _KEY.match(s, j)
            if not m:
                return None
            j = m.end()
            if j < n and s[j] == "=":
                got = item(j + 1)
                if got is None:
                    return None
                j = got[1]
        return j

    i = skip_ows(i)
    while i < n:
        m = _KEY.match(s, i)
        if not m:
            return None
        key, i = m.group(0), m.end()
        val: str | None = "?1"  # a bare key is Boolean true: not a y/n token
        if i < n and s[i] == "=":
            if i + 1 < n and s[i + 1] == "(":  # inner list: not a preference
                end = s.find(")", i + 2)
                if end < 0:
                    return None
                val, i = None, end + 1
            else:
                got = item(i + 1)
                if got is None:
                    return None
                val, i = got
        p = params(i)
        if p is None:
            return None
        i = p
        out[key] = val if val != "?1" else None
        i = skip_ows(i)
        if i >= n:
            break
        if s[i] != ",":
            return None
        i = skip_ows(i + 1)
        if i >= n:
            return None  # trailing comma
    return out


def aipref_preferences(value: str) -> dict[str, str]:
    """{label: 'y'|'n'} for the labels that carry an explicit preference."""
    d = parse_sf_dictionary(value)
    return {} if d is None else {k: v for k, v in d.items() if v in ("y", "n")}


def parse_content_usage(value: str, kind: str = "content-usage", location: str = "", agent: str | None = None,
                        rule: str = AIPREF) -> tuple[Signal, ...]:
    """One Signal per use that the statement decides, by the most specific stated category."""
    prefs = aipref_preferences(value)
    if not prefs:
        why = "no preference stated" if parse_sf_dictionary(value) is not None else "does not parse as a Dictionary: no preference"
        return (Signal(kind, f"{clip(value, 60)} ({why})", "all", NONE, USES, clip(value), agent, location, rule),)
    out = []
    for use, labels in AIPREF_LOOKUP.items():
        label = next((lb for lb in labels if lb in prefs), None)
        if label is None:
            continue
        overridden = [f"{lb}={prefs[lb]}" for lb in labels[labels.index(label) + 1:] if lb in prefs]
        directive = f"{label}={prefs[label]}" + (f" (overrides {', '.join(overridden)})" if overridden else "")
        out.append(Signal(kind, directive, _AIPREF_SCOPE[label], DISALLOW if prefs[label] == "n" else ALLOW, (use,),
                          clip(value), agent, location, rule))
    return tuple(out)


def parse_content_signal(value: str, kind: str = "content-signal", location: str = "", agent: str | None = None,
                         rule: str = CONTENT_SIGNALS) -> tuple[Signal, ...]:
    """`search=yes, ai-train=no`: each signal governs only its own use."""
    out = []
    seen: dict[str, str] = {}
    for part in value.split(","):
        if "=" not in part:
            continue
        k, v = (x.strip().lower() for x in part.split("=", 1))
        if k in CONTENT_SIGNAL_USE and v in ("yes", "no"):
            seen[k] = v
    for k, v in seen.items():
        out.append(Signal(kind, f"{k}={v}", _CS_SCOPE[k], DISALLOW if v == "no" else ALLOW, (CONTENT_SIGNAL_USE[k],),
                          clip(value), agent, location, rule))
    return tuple(out)

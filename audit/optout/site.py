"""All signals for one URL — from a live fetch (urllib) or from stored headers/HTML/files — and the verdict.

Conflicts are reported, not hidden: within TDMRep the W3C precedence (embedded > meta > header >
file) picks the binding statement; across families the strictest reservation wins, and the verdict
says which signal overrode which.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from audit.errors import InputError
from audit.optout import embedded, robots
from audit.optout import signals as S
from audit.optout.signals import Signal

MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_AGENT = "img2dataset"


@dataclass(frozen=True)
class Verdict:
    """Is use for AI training reserved for `agent`? With every signal considered and why."""

    url: str
    agent: str
    opted_out: bool
    scope: str | None
    reason: str
    signals: tuple[Signal, ...]
    binding: tuple[Signal, ...]    # the restricting signals that apply
    overridden: tuple[Signal, ...]  # signals set aside (TDMRep precedence, permissive signals beaten by stricter ones)
    problems: tuple[str, ...] = ()


def decide(sigs: tuple[Signal, ...], agent: str = DEFAULT_AGENT, url: str = "", problems: tuple[str, ...] = ()) -> Verdict:
    applicable = [s for s in sigs if s.applies_to(agent)]
    by_precedence: list[Signal] = []
    tdm = [s for s in applicable if s.kind in S.TDMREP_PRECEDENCE and "invalid" not in s.directive]
    if tdm:
        top = max(S.TDMREP_PRECEDENCE[s.kind] for s in tdm)
        for s in tdm:
            if S.TDMREP_PRECEDENCE[s.kind] < top:
                by_precedence.append(s)
                applicable.remove(s)
    restricting = [s for s in applicable if s.restricts]
    # permissive statements about training-like uses conflict with a reservation; "search=yes" does not
    permissive = [s for s in applicable if not s.restricts and "=" in s.directive and S.STRICTNESS.get(s.scope, 0) >= 3]
    if not restricting:
        reason = "no applicable reservation" + (
            f" ({len(sigs) - len(applicable) - len(by_precedence)} signal(s) scoped to other agents)"
            if len(sigs) > len(applicable) + len(by_precedence)
            else ""
        )
        return Verdict(url, agent, False, None, reason, sigs, (), tuple(by_precedence), problems)
    strictest = max(restricting, key=lambda s: S.STRICTNESS.get(s.scope, 0))
    reason = f"{strictest.kind} '{strictest.directive}' reserves {strictest.scope}"
    if permissive:
        reason += "; conflicting signals, strictest wins over " + ", ".join(f"{p.kind} '{p.directive}'" for p in permissive)
    if by_precedence:
        reason += "; TDMRep precedence (embedded > meta > header > file) set aside " + ", ".join(
            f"{s.kind} '{s.directive}'" for s in by_precedence
        )
    overridden = by_precedence + permissive
    return Verdict(url, agent, True, strictest.scope, reason, sigs, tuple(restricting), tuple(overridden), problems)


def offline_signals(
    url: str = "/",
    *,
    headers: str | Path | None = None,
    html: str | Path | None = None,
    robots_txt: str | Path | None = None,
    ai_txt: str | Path | None = None,
    tdmrep_json: str | Path | None = None,
    image: str | Path | None = None,
) -> tuple[Signal, ...]:
    """Signals from stored files (the archived response of a crawl)."""
    path = urllib.parse.urlsplit(url).path or "/"

    def read(p: str | Path) -> bytes:
        p = Path(p)
        if not p.is_file():
            raise InputError(f"{p}: file not found")
        with open(p, "rb") as f:
            return f.read(MAX_BODY_BYTES)

    out: list[Signal] = []
    if headers:
        out += S.parse_headers(read(headers).decode("utf-8", errors="replace"), location=str(headers))
    if html:
        out += S.parse_html(read(html), location=str(html))
    if robots_txt:
        out += robots.robots_signals(read(robots_txt), path, location=str(robots_txt))
    if ai_txt:
        out += robots.ai_txt_signals(read(ai_txt), path, location=str(ai_txt))
    if tdmrep_json:
        out += S.parse_tdmrep_json(read(tdmrep_json), path, location=str(tdmrep_json))
    if image:
        out += embedded.image_signals(image)
    return tuple(out)


def _get(url: str, timeout: float, agent: str) -> tuple[int, list[tuple[str, str]], bytes, str | None]:
    req = urllib.request.Request(url, headers={"User-Agent": f"genaudit-optout (+{agent})"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - http(s) only, checked by caller
            return r.status, list(r.headers.items()), r.read(MAX_BODY_BYTES), None
    except urllib.error.HTTPError as exc:
        return exc.code, list(exc.headers.items()) if exc.headers else [], b"", f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: e.g. a hostile server sending > 100 headers, or a body cut short (IncompleteRead)
        return 0, [], b"", f"{url}: {getattr(exc, 'reason', None) or exc or type(exc).__name__}"


def fetch_signals(url: str, *, timeout: float = 10.0, agent: str = DEFAULT_AGENT) -> tuple[tuple[Signal, ...], tuple[str, ...]]:
    """Live check of one URL: its response headers and body (HTML meta or image metadata), plus the
    origin's robots.txt, ai.txt and /.well-known/tdmrep.json. Returns (signals, problems)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"'{url}' is not an http(s) URL")
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path or "/"
    out: list[Signal] = []
    problems: list[str] = []
    status, hdrs, body, err = _get(url, timeout, agent)
    if err:
        problems.append(err)
    out += S.parse_headers(hdrs, location=url)
    ctype = next((v for k, v in hdrs if k.lower() == "content-type"), "").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        out += S.parse_html(body, location=url)
    elif ctype.startswith("image/") and body:
        out += embedded.image_signals(data=body, mime=ctype, location=url)
    for name, parse in (
        ("/robots.txt", lambda b, loc: robots.robots_signals(b, path, location=loc)),
        ("/ai.txt", lambda b, loc: robots.ai_txt_signals(b, path, location=loc)),
        ("/.well-known/tdmrep.json", lambda b, loc: S.parse_tdmrep_json(b, path, location=loc)),
    ):
        st, _, b, e = _get(origin + name, timeout, agent)
        if st == 200 and b:
            out += parse(b, origin + name)
        elif e and st not in (404, 410):
            problems.append(e)
    return tuple(out), tuple(problems)


def check_url(url: str, *, timeout: float = 10.0, agent: str = DEFAULT_AGENT) -> Verdict:
    sigs, problems = fetch_signals(url, timeout=timeout, agent=agent)
    return decide(sigs, agent, url, problems)

"""All signals for one URL — from a live fetch (urllib) or from stored headers/HTML/files — and the verdict.

What cannot be read is said, never taken as "no reservation": a response the HTTP client refuses (more
header lines than http.client accepts, a header line over its 64 KiB cap), a body cut at the size cap, an
HTTP error, or robots.txt unreachable (RFC 9309 §2.3.1.4) each add a Signal in state "unknown".
robots.txt answering 4xx is "unavailable": no rules (§2.3.1.3). A missing tdmrep.json means the origin
does not implement TDMRep (TDMRep §4.1). The verdict itself is in verdict.py.
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
from audit.optout.base import USES, Signal, unreadable
from audit.optout.verdict import DEFAULT_AGENT, DEFAULT_USE, Verdict, check_use, decide

MAX_BODY_BYTES = 16 * 1024 * 1024
RFC_UNREACHABLE = "RFC 9309 §2.3.1.4 (robots.txt unreachable: the crawler may not assume it is allowed)"

__all__ = ["Verdict", "decide", "offline_signals", "fetch_signals", "check_url", "DEFAULT_AGENT", "MAX_BODY_BYTES"]


@dataclass(frozen=True)
class Response:
    status: int                       # 0: no HTTP response could be read
    headers: list[tuple[str, str]]
    body: bytes
    error: str | None
    body_cut: bool = False


def _get(url: str, timeout: float, agent: str) -> Response:
    req = urllib.request.Request(url, headers={"User-Agent": f"genaudit-optout (+{agent})"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - http(s) only, checked by caller
            body = r.read(MAX_BODY_BYTES + 1)
            return Response(r.status, list(r.headers.items()), body[:MAX_BODY_BYTES], None, len(body) > MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        return Response(exc.code, list(exc.headers.items()) if exc.headers else [], b"", f"{url}: HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: 'got more than 100 headers', a header line over 65536 bytes, a body cut short (IncompleteRead)
        why = getattr(exc, "reason", None) or exc or type(exc).__name__
        return Response(0, [], b"", f"{url}: {type(exc).__name__}: {why}")


def _sniff(ctype: str, body: bytes) -> str:
    if ctype in ("text/html", "application/xhtml+xml") or ctype.startswith("image/"):
        return ctype
    if not ctype and body:
        if embedded._sniff_mime(body[:16]):
            return embedded._sniff_mime(body[:16]) or ""
        if b"<html" in body[:4096].lower() or b"<!doctype html" in body[:4096].lower():
            return "text/html"
    return ctype


def _body_signals(body: bytes, ctype: str, location: str) -> tuple[Signal, ...]:
    if ctype in ("text/html", "application/xhtml+xml"):
        return S.parse_html(body, location=location)
    if ctype.startswith("image/") and body:
        return embedded.image_signals(data=body, mime=ctype, location=location)
    return ()


def offline_signals(
    url: str = "/",
    *,
    headers: str | Path | None = None,
    html: str | Path | None = None,
    robots_txt: str | Path | None = None,
    ai_txt: str | Path | None = None,
    tdmrep_json: str | Path | None = None,
    image: str | Path | None = None,
    agent: str = DEFAULT_AGENT,
) -> tuple[Signal, ...]:
    """Signals from stored files (the archived response of a crawl), for `agent`."""
    path = urllib.parse.urlsplit(url).path or "/"
    out: list[Signal] = []

    def read(p: str | Path) -> bytes:
        p = Path(p)
        if not p.is_file():
            raise InputError(f"{p}: file not found")
        with open(p, "rb") as f:
            data = f.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            out.append(unreadable("file", f"all of {p} (larger than {MAX_BODY_BYTES} bytes)", "", str(p)))
        return data[:MAX_BODY_BYTES]

    if headers:
        out += S.parse_headers(read(headers).decode("utf-8", errors="replace"), location=str(headers))
    if html:
        out += S.parse_html(read(html), location=str(html))
    if robots_txt:
        out += robots.robots_signals(read(robots_txt), path, location=str(robots_txt), agent=agent)
    if ai_txt:
        out += robots.ai_txt_signals(read(ai_txt), path, location=str(ai_txt), agent=agent)
    if tdmrep_json:
        out += S.parse_tdmrep_json(read(tdmrep_json), path, location=str(tdmrep_json))
    if image:
        out += embedded.image_signals(image)
    return tuple(out)


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
    r = _get(url, timeout, agent)
    if r.error:
        problems.append(r.error)
        out.append(unreadable("http-response", f"the response of {url} ({r.error.split(': ', 1)[-1]})", r.error, url,
                              "every header line and the body must be read before answering"))
    out += S.parse_headers(r.headers, location=url)
    ctype = _sniff(next((v for k, v in r.headers if k.lower() == "content-type"), "").split(";")[0].strip().lower(), r.body)
    out += _body_signals(r.body, ctype, url)
    if r.body_cut:
        out.append(unreadable("http-response", f"the whole body of {url} (larger than {MAX_BODY_BYTES} bytes)", "", url))
    robots_url = origin + "/robots.txt"
    rr = _get(robots_url, timeout, agent)
    if rr.status == 200:
        out += robots.robots_signals(rr.body, path, location=robots_url, agent=agent)
    elif rr.status == 0 or rr.status >= 500:
        problems.append(rr.error or f"{robots_url}: HTTP {rr.status}")
        out.append(unreadable("robots.txt", f"robots.txt ({(rr.error or '').split(': ', 1)[-1] or rr.status})", "", robots_url,
                              RFC_UNREACHABLE, "crawling", USES))
    ai_url = origin + "/ai.txt"
    ra = _get(ai_url, timeout, agent)
    if ra.status == 200 and ra.body:
        out += robots.ai_txt_signals(ra.body, path, location=ai_url, agent=agent)
    elif ra.status == 0 or ra.status >= 500:
        problems.append(ra.error or f"{ai_url}: HTTP {ra.status}")
        out.append(unreadable("ai.txt", f"ai.txt ({(ra.error or '').split(': ', 1)[-1] or ra.status})", "", ai_url,
                              robots.AI_TXT, "ai-training", ("train",)))
    tdm_url = origin + "/.well-known/tdmrep.json"
    rt = _get(tdm_url, timeout, agent)
    if rt.status == 200 and rt.body:
        out += S.parse_tdmrep_json(rt.body, path, location=tdm_url)
    elif rt.error and rt.status not in (404, 410):
        problems.append(rt.error + " (TDMRep §4.1: no tdmrep.json means the origin does not use the protocol)")
    return tuple(out), tuple(problems)


def check_url(url: str, *, timeout: float = 10.0, agent: str = DEFAULT_AGENT, use: str = DEFAULT_USE) -> Verdict:
    check_use(use)
    sigs, problems = fetch_signals(url, timeout=timeout, agent=agent)
    return decide(sigs, agent, url, problems, use=use)

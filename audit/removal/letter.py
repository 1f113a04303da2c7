"""Confirmation letter for the data subject (Art. 12/17/19): what was found, erased, and what remains."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path

from audit.atomic import write_text
from audit.removal.auditlog import verify_log
from audit.removal.store import _iso, get_request


def letter_markdown(conn: sqlite3.Connection, request_id: int, models: list | None = None) -> str:
    req = get_request(conn, request_id)
    steps = {r["name"]: r["done_unix"] for r in conn.execute(
        "SELECT name, done_unix FROM erase_plan WHERE request_id=?", (request_id,))}
    n = conn.execute("SELECT count(DISTINCT key) FROM candidates WHERE request_id=? AND confirmed=1", (request_id,)).fetchone()[0]
    check = verify_log(conn)
    lines = [f"# Your erasure request #{req.id}", "", f"Dear {req.subject or 'data subject'},", "",
             f"we received your request on {_iso(req.received_unix)}; our deadline to answer is {_iso(req.deadline_unix)}"
             + (f" (extended by {req.extended_months} month(s): {req.reason})." if req.extended_months else "."), ""]
    if req.state in ("rejected", "exempted"):
        lines += [f"We did not erase data: **{req.state}** — {req.reason}.", ""]
    else:
        lines += [f"Items found in our training set that show you: **{n}**.", ""]
        for label, name in (("Hidden from all searches", "denylist"), ("Removed from the training manifest", "manifest"),
                            ("Image files deleted", "files"), ("Search index rebuilt without them", "rebuild")):
            done = steps.get(name)
            lines.append(f"- {label}: {_iso(done) if done else 'not yet'}")
        lines += ["", "We keep only a fingerprint (SHA-256 and perceptual hash) of each erased image so that it is not "
                  "collected again; no copy of the image, caption, name or address is kept for that purpose."]
        if models:
            lines += ["", f"Models trained before the erasure that included these items: {len(models)}. "
                      "They will be retrained or withdrawn; recipients of the data have been informed (Art. 19)."]
    lines += ["", f"Current status: **{req.state}**. Audit-log head: `{check.head[:16]}` ({check.rows} entries, "
              f"{'intact' if check.ok else 'FAILED verification'}).", ""]
    return "\n".join(lines)


def write_letter(conn: sqlite3.Connection, request_id: int, out: str | Path, models: list | None = None) -> Path:
    """Markdown, or HTML when `out` ends in .html."""
    out = Path(out)
    md = letter_markdown(conn, request_id, models)
    if out.suffix.lower() in (".html", ".htm"):
        body = []
        for line in md.splitlines():
            t = html.escape(line)

            t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
            t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
            if line.startswith("# "):
                body.append(f"<h1>{t[2:]}</h1>")
            elif line.startswith("- "):
                body.append(f"<li>{t[2:]}</li>")
            elif line:
                body.append(f"<p>{t}</p>")
        md = ("<!doctype html><html><head><meta charset='utf-8'><title>Erasure request</title></head><body>"
              + "\n".join(body) + "</body></html>\n")
    write_text(out, md)
    return out

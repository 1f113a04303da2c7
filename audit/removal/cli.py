"""`audit removal …`: GDPR requests — log, verify, locate, confirm, erase everywhere, prove it. Thin calls into audit.removal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from audit import config
from audit.cli_renames import renamed

app = typer.Typer(no_args_is_help=True)

DB = typer.Option(config.DEFAULT_REMOVAL_DB, "--removal-db", help="SQLite request queue (created if missing).")
#: Every removal command still accepts the old `--db` (and `--models`/`--model` for generator dirs), with a warning.
RENAMED = renamed({"--db": "--removal-db", "--models": "--generator", "--model": "--generator"})


def _conn(db: Path):
    from audit.removal.store import connect

    return connect(db)


@app.command("new", cls=RENAMED)
def new(name: str = typer.Option(..., "--name", help="Data subject's name."),
        contact: str = typer.Option(..., "--contact", help="Where to send the answer (e-mail)."), db: Path = DB) -> None:
    """Log a request received now (deadline: one month)."""
    from audit.removal.store import _iso, create_request

    r = create_request(_conn(db), name, contact)
    typer.echo(f"request #{r.id} received; deadline {_iso(r.deadline_unix)}")


@app.command("list", cls=RENAMED)
def list_(all_: bool = typer.Option(False, "--all", help="Include closed requests."),
          as_json: bool = typer.Option(False, "--json"), db: Path = DB) -> None:
    """Requests, overdue first."""
    from audit.removal.store import _iso, list_requests

    rows = list_requests(_conn(db), include_closed=all_)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    for r in rows:
        flag = "OVERDUE " if r.overdue() else ""
        typer.echo(f"#{r.id:<4} {flag}{r.state:<16} deadline {_iso(r.deadline_unix)}  {r.subject or '(personal data removed)'}")
    if not rows:
        typer.echo("no open requests")


@app.command("show", cls=RENAMED)
def show(request_id: int, db: Path = DB) -> None:
    """One request: state, deadline, allowed next states, candidates."""
    from audit.removal.locate import candidates
    from audit.removal.store import allowed_next, get_request

    conn = _conn(db)
    r = get_request(conn, request_id)
    d = r.as_dict()
    who = f"{r.subject} <{r.contact}>" if r.subject is not None else "(personal data removed on closing)"
    typer.echo(f"#{r.id} {who}: {r.state} (received {d['received']}, deadline {d['deadline']}"
               f"{', OVERDUE' if d['overdue'] else ''})")
    if r.reason:
        typer.echo(f"  reason: {r.reason}")
    typer.echo(f"  next: {', '.join(allowed_next(r)) or '-'}")
    for c in candidates(conn, request_id):
        typer.echo(f"  {'[x]' if c.confirmed else '[ ]'} {c.key}  {c.method} {c.score:.3f}")


@app.command("move", cls=RENAMED)
def move(request_id: int, state: str, expect: Optional[str] = typer.Option(None, "--expect", help="State you saw; refused if it changed."),
         reason: Optional[str] = typer.Option(None, "--reason"), months: int = typer.Option(2, "--months", help="For 'extended': 1 or 2."),
         actor: str = typer.Option("", "--actor"), db: Path = DB) -> None:
    """Move a request to STATE (identity_pending, verified, rejected, extended, exempted, confirmed, closed…)."""
    from audit.removal.store import _iso, transition

    r = transition(_conn(db), request_id, state, expected=expect, reason=reason, actor=actor, months=months)
    typer.echo(f"request #{r.id} is now {r.state}; deadline {_iso(r.deadline_unix)}")


@app.command("locate", cls=RENAMED)
def locate_(request_id: int, index: Path = typer.Option(..., "--index"), photo: Optional[Path] = typer.Option(None, "--photo"),
            url: Optional[str] = typer.Option(None, "--url"), name: Optional[str] = typer.Option(None, "--name"),
            k: int = typer.Option(10, "-k"), min_clip: float = typer.Option(0.98, "--min-clip"), db: Path = DB) -> None:
    """Find the subject's items (photo: pHash + CLIP; url; name in caption/author) and store them as candidates."""
    from audit.removal.locate import locate

    for c in locate(_conn(db), request_id, index, photo=photo, url=url, name=name, k=k, min_clip=min_clip):
        typer.echo(f"{c.key}\t{c.method}\t{c.score:.3f}")


@app.command("confirm-hits", cls=RENAMED)
def confirm_hits_(request_id: int, keys: List[str], db: Path = DB) -> None:
    """Confirm which candidates show the subject."""
    from audit.removal.locate import confirm_hits

    typer.echo(f"confirmed: {', '.join(confirm_hits(_conn(db), request_id, keys))}")


@app.command("erase", cls=RENAMED)
def erase_(request_id: int, index: Path = typer.Option(..., "--index"), db: Path = DB) -> None:
    """Erase confirmed items everywhere (resumable): tombstone, denylist, manifest, files, index rebuild."""
    from audit.removal.erase import erase

    r = erase(_conn(db), request_id, index)
    typer.echo(f"request #{r.request_id}: {len(r.keys)} item(s) erased; state {r.state}; "
               f"steps run now: {', '.join(r.steps_run) or 'none (already done)'}")


@app.command("models", cls=RENAMED)
def models(request_id: int, model_dirs: List[Path] = typer.Option(..., "--generator", help="Generator model dir (repeatable)."),
           db: Path = DB) -> None:
    """Generator checkpoints trained on data that held the erased items."""
    from audit.removal.erase import affected_models

    hits = affected_models(_conn(db), request_id, model_dirs)
    for m in hits:
        typer.echo(f"{m.model_dir}\t{m.reason}")
    typer.echo(f"{len(hits)} of {len(model_dirs)} model(s) affected")


@app.command("close-answered", cls=RENAMED)
def close_answered_(
    retention_days: float = typer.Option(..., "--retention-days", help="Keep answered requests this long, then close them."), db: Path = DB
) -> None:
    """Close confirmed/rejected/exempted requests answered more than N days ago; closing drops name and contact."""
    from audit.removal.retention import close_answered

    ids = close_answered(_conn(db), retention_days)
    typer.echo(f"closed and minimised {len(ids)} request(s){': ' + ', '.join(f'#{i}' for i in ids) if ids else ''}")


@app.command("letter", cls=RENAMED)
def letter(
    request_id: int,
    out: Path = typer.Option(..., "--out", help=".md or .html"),
    model_dirs: Optional[List[Path]] = typer.Option(None, "--generator", help="Generator model dir(s) to report on (repeatable)."),
    db: Path = DB,
) -> None:
    """Write the confirmation letter for the subject."""
    from audit.removal.erase import affected_models
    from audit.removal.letter import write_letter

    conn = _conn(db)
    ms = affected_models(conn, request_id, model_dirs) if model_dirs else None
    typer.echo(str(write_letter(conn, request_id, out, ms)))


@app.command("check", cls=RENAMED)
def check(image: str, db: Path = DB) -> None:
    """Is an image (path or sha256) tombstoned? Exit 1 when it is."""
    from audit.removal.tombstones import is_tombstoned

    why = is_tombstoned(_conn(db), image)
    typer.echo(f"tombstoned: {why}" if why else "not tombstoned")
    if why:
        raise typer.Exit(1)


@app.command("verify-log", cls=RENAMED)
def verify_log_(db: Path = DB) -> None:
    """Recompute the hash chain of the audit log; any edit or deletion fails."""
    from audit.errors import RegistryError
    from audit.removal.auditlog import verify_log

    r = verify_log(_conn(db))
    if not r.ok:
        raise RegistryError(f"audit log of {db} fails verification: {r.problem}", "restore the database from backup and investigate")
    typer.echo(f"audit log intact: {r.rows} entries, head {r.head[:16]}")


@app.command("model-check", cls=RENAMED)
def model_check_(
    request_id: int,
    generator: Path = typer.Option(..., "--generator", help="Generator checkpoint dir to check."),
    out: Path = typer.Option(..., "--out", help="Report dir: samples/, scan/ (matches.parquet), meta.json."),
    prompt: Optional[List[str]] = typer.Option(None, "--prompt", help="Subject's caption(s); the request does not store them."),
    photo: Optional[List[Path]] = typer.Option(None, "--photo", help="Subject's photo(s); erased files are gone."),
    n: int = typer.Option(4, "--n", help="Images per prompt."),
    steps: int = typer.Option(25, "--steps"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    db: Path = DB,
) -> None:
    """Sample the generator with the subject's captions and scan the samples against the subject's photos."""
    from audit.removal.modelcheck import model_check

    r = model_check(_conn(db), request_id, generator, out, prompts=prompt or [], photos=photo or [], n=n, steps=steps, seed=seed,
                    device=device)
    typer.echo(f"note: {r.note}")
    typer.echo(
        f"request #{r.request_id}: {r.generated} image(s) from {r.model_dir}: {r.copies} copy, {r.similar} similar "
        f"-> {r.outcome}; report {r.report_dir}/scan/matches.parquet (outcome logged, hashes only)"
    )

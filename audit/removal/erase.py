"""Erase a subject's confirmed items everywhere, crash-safe: a journal first, then steps that mark themselves done.

Order (NOTES: GDPR): tombstones (hashes only) → index denylist (hidden from queries at once) → manifest rewrite
(atomic) → image files deleted → `erased` → index rebuilt from the filtered manifest, reusing the stored vectors of
the remaining rows (audit.removal.rebuild: no re-embedding) → residual sweep of the dataset's meta.json, the index and
the `sweep_roots` given (audit.removal.residuals: reports and cards redacted) → `index_rebuilt`.
Every step is idempotent, so re-running after a crash anywhere finishes in the same final state; a step is marked
done together with its one audit-log row (one transaction), and only one process runs a request's erasure at a
time (audit.removal.lease). Fault points (audit.faults) sit before and after every step; docs/REMOVAL.md.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from audit.atomic import recover_dir
from audit.errors import InputError
from audit.faults import fault_point
from audit.images import load_rgb
from audit.index import add_to_denylist, open_index
from audit.meta import read_meta, sha256_file
from audit.paths import confine
from audit.perceptual import phash_hex
from audit.progress import track
from audit.records import image_root
from audit.removal.auditlog import append_log, key_hasher
from audit.removal.lease import erase_lease, renew
from audit.removal.locate import confirmed_keys
from audit.removal.rebuild import rebuild_without_reembedding
from audit.removal.residuals import record, sweep
from audit.removal.store import RequestError, get_request, transaction, transition
from audit.removal.tombstones import load_tombstones, variant_hashes

STEPS = ("tombstone", "denylist", "manifest", "files", "state-erased", "rebuild", "residuals", "state-index_rebuilt")
#: Where $GENAUDIT_FAULT can kill an erase: before/after each step (after = work done, not yet marked done)
#: and inside the index swap of the rebuild step.
FAULT_POINTS = (*(f"erase:{when}:{s}" for s in STEPS for when in ("before", "after")),
                "atomic_dir:before-swap", "atomic_dir:between-renames", "atomic_dir:after-swap")


@dataclass(frozen=True)
class EraseResult:
    request_id: int
    keys: tuple[str, ...]
    steps_run: tuple[str, ...]  # steps done by this call (empty when everything was already done)
    manifest_before: str
    manifest_after: str | None
    state: str


def _tombstone_hashes(rows: Any, dataset: Path) -> list[list[str | None]]:
    """(sha256, pHash, variants JSON) per erased row, from the file, which still exists when the plan is written
    (a manifest without pHashes gets them from it too): a tombstone with no pHash would let a re-encoded or resized
    copy back in, one without variants a mirrored or cropped copy (audit.removal.tombstones.variant_hashes)."""
    from audit.records import resolve_paths

    out: list[list[str | None]] = []
    phashes = rows["phash"].tolist() if "phash" in rows.columns else [None] * len(rows)
    for sha, ph, path in zip(rows["sha256"].tolist(), phashes, resolve_paths(rows, dataset)):
        sha_s, ph_s = _text(sha), _text(ph)
        variants = None
        if path.is_file():
            img = load_rgb(path)
            ph_s = ph_s or phash_hex(img)
            sha_s = sha_s or sha256_file(path)
            variants = json.dumps(variant_hashes(img))
        if sha_s is not None:
            out.append([sha_s, ph_s, variants])
    return out


def _text(v: Any) -> str | None:
    """A manifest cell as text, None when null (pandas NA has no truth value: `NA != NA` raises)."""
    import pandas as pd

    if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
        return None
    return str(v).strip() or None


def _plan(conn: sqlite3.Connection, request_id: int, index_dir: Path, sweep_roots: list[str] | None = None) -> dict[str, Any]:
    """Write the journal once (inside one transaction) from what the manifest holds now."""
    from audit.records import manifest_hash, read_manifest

    keys = confirmed_keys(conn, request_id)
    if not keys:
        raise RequestError(f"request #{request_id} has no confirmed hits",
                           f"confirm them with `audit removal confirm-hits {request_id} KEY...`")
    idx = open_index(index_dir)
    dataset = idx.dataset_dir
    df = read_manifest(dataset)
    rows = df[df["key"].astype(str).isin(keys)]
    if rows.empty:
        raise InputError(f"none of the confirmed keys are in {dataset}", "was the index built from another dataset?")
    keys_sorted: list[str] = sorted(rows["key"].astype(str))
    common: dict[str, Any] = {"request_id": request_id, "keys": keys_sorted, "dataset": str(dataset),
              "index": str(Path(index_dir).resolve()), "model": idx.meta.get("model"),
              "factory": idx.meta.get("factory_requested"), "manifest_before": manifest_hash(df)}
    args: dict[str, dict[str, Any]] = {
        "tombstone": {"hashes": _tombstone_hashes(rows, dataset)},
        "files": {"paths": [str(p) for p in rows["path"].astype(str)]},
        "residuals": {"roots": [str(dataset / "meta.json"), common["index"], *[str(Path(r).resolve()) for r in sweep_roots or []]]},
    }
    with transaction(conn):
        if conn.execute("SELECT 1 FROM erase_plan WHERE request_id=?", (request_id,)).fetchone() is None:
            for i, name in enumerate(STEPS):
                conn.execute("INSERT INTO erase_plan VALUES (?, ?, ?, ?, NULL)",
                             (request_id, i, name, json.dumps({**common, **args.get(name, {})})))
            append_log(conn, "erase-planned", request_id, keys_sorted)
    return common


def _do_step(conn: sqlite3.Connection, request_id: int, name: str, a: dict[str, Any]) -> dict[str, Any]:
    """Run one step; returns facts to keep in the journal. Each is safe to run twice."""
    from audit.records import manifest_hash, read_manifest, write_manifest

    keys, dataset = a["keys"], Path(a["dataset"])
    if name == "tombstone":
        now = int(time.time())
        with transaction(conn):
            conn.executemany("INSERT OR IGNORE INTO tombstones (sha256, phash, request_id, added_unix, variants) "
                             "VALUES (?, ?, ?, ?, ?)", [(h[0], h[1], request_id, now, h[2] if len(h) > 2 else None)
                                                        for h in a["hashes"]])
    elif name == "denylist":
        add_to_denylist(a["index"], keys, reason=f"gdpr-request-{request_id}")
    elif name == "manifest":
        df = read_manifest(dataset)
        keep = df[~df["key"].astype(str).isin(keys)]
        if len(keep) != len(df):
            write_manifest(keep, dataset)
        return {"manifest_after": manifest_hash(keep)}
    elif name == "files":
        root = image_root(dataset)
        targets = [confine(root, p, where=f"erase plan of request #{request_id}") for p in a["paths"]]  # all or none
        for path in targets:
            path.unlink(missing_ok=True)
    elif name == "rebuild":
        index = Path(a["index"])
        recover_dir(index)  # an index lost between the renames of an interrupted swap comes back first
        r = rebuild_without_reembedding(dataset, a["index"], model=a["model"], factory=a["factory"],
                                        tombstones=load_tombstones(conn))
        recover_dir(index)  # a previous version left by a kill after the swap still holds the erased rows
        for stale in index.parent.glob(f".{index.name}.work-*"):  # embeddings cached by an interrupted older build
            shutil.rmtree(stale, ignore_errors=True)
        return {"rebuild": {"mode": r.mode, "rows": r.rows, "reused_vectors": r.reused, "why": r.why}}
    elif name == "residuals":
        found = sweep(conn, request_id, a.get("roots") or [], redact=True)
        record(conn, request_id, found)
        return {"swept": {"found": len(found), "redacted": sum(r.action == "redacted" for r in found)}}
    elif name.startswith("state-"):
        state = name.split("-", 1)[1]
        if get_request(conn, request_id).state != state:
            transition(conn, request_id, state, _executor=True, key_hashes=None)
    return {}


def erase(conn: sqlite3.Connection, request_id: int, index_dir: str | Path,
          _before_step: Callable[[str], None] | None = None, sweep_roots: list[str] | None = None) -> EraseResult:
    """Run (or resume) the erasure of a located request's confirmed keys; returns what was done. `sweep_roots`
    (reports, cards, sample dirs) are swept for residuals besides the dataset and index (fixed when planned).

    Holds the request's erase lease throughout: a second concurrent run is refused with a RequestError."""
    req = get_request(conn, request_id)
    if req.state == "closed":
        raise RequestError(f"request #{request_id} is closed (its keys were replaced by hashes)",
                           "log a new request if the subject asks again")
    with erase_lease(conn, request_id) as lease:
        return _run(conn, request_id, Path(index_dir), lease, _before_step, sweep_roots)


def _run(conn: sqlite3.Connection, request_id: int, index_dir: Path, lease: Any,
         _before_step: Callable[[str], None] | None, sweep_roots: list[str] | None) -> EraseResult:

    req = get_request(conn, request_id)  # read again under the lease: another run may have finished meanwhile
    planned = conn.execute("SELECT 1 FROM erase_plan WHERE request_id=?", (request_id,)).fetchone() is not None
    if not planned and req.state != "located":
        raise RequestError(f"request #{request_id} is '{req.state}'; erase needs 'located' with confirmed hits")
    if not planned:
        _plan(conn, request_id, index_dir, [str(r) for r in sweep_roots or []])
    ran = []
    plan = conn.execute("SELECT step, name, arg, done_unix FROM erase_plan WHERE request_id=? ORDER BY step",
                        (request_id,)).fetchall()
    for r in track(plan, "erasure steps", unit="step"):  # the CLI's bar and the app's progress
        if r["done_unix"] is not None:
            continue
        lease = renew(conn, lease)
        a = json.loads(r["arg"])
        fault_point(f"erase:before:{r['name']}")
        if _before_step is not None:
            _before_step(r["name"])
        facts = _do_step(conn, request_id, r["name"], a)
        fault_point(f"erase:after:{r['name']}")
        with transaction(conn):
            if facts:
                conn.execute("UPDATE erase_plan SET arg=? WHERE request_id=? AND step=?",
                             (json.dumps({**a, **facts}), request_id, r["step"]))
            cur = conn.execute("UPDATE erase_plan SET done_unix=? WHERE request_id=? AND step=? AND done_unix IS NULL",
                               (int(time.time()), request_id, r["step"]))
            if cur.rowcount == 1:  # exactly one log row per step, however often it was attempted
                append_log(conn, f"erase:{r['name']}", request_id, a["keys"])
        ran.append(r["name"])
    return erase_summary(conn, request_id, tuple(ran))


def erase_summary(conn: sqlite3.Connection, request_id: int, ran: tuple[str, ...] = ()) -> EraseResult:
    rows = conn.execute("SELECT name, arg FROM erase_plan WHERE request_id=? ORDER BY step", (request_id,)).fetchall()
    if not rows:
        raise RequestError(f"request #{request_id} has no erasure yet", f"run `audit removal erase {request_id}`")
    args = {r["name"]: json.loads(r["arg"]) for r in rows}
    return EraseResult(request_id, tuple(args["manifest"]["keys"]), ran, args["manifest"]["manifest_before"],
                       args["manifest"].get("manifest_after"), get_request(conn, request_id).state)


@dataclass(frozen=True)
class AffectedModel:
    model_dir: str
    reason: str


def affected_models(conn: sqlite3.Connection, request_id: int, model_dirs: Sequence[str | Path]) -> list[AffectedModel]:
    """Generator checkpoints whose meta.json shows they were trained on data holding the erased keys."""
    res = erase_summary(conn, request_id)
    plan = json.loads(conn.execute("SELECT arg FROM erase_plan WHERE request_id=? AND name='manifest'", (request_id,)).fetchone()[0])
    erased_at = conn.execute("SELECT min(done_unix) FROM erase_plan WHERE request_id=? AND name='manifest'", (request_id,)).fetchone()[0]
    dataset = str(Path(plan["dataset"]).resolve())
    # a closed request's journal holds key hashes only (audit.removal.minimise): compare hashes then
    key_hash = key_hasher(conn)
    norm = (lambda ks: {key_hash(str(k)) for k in ks}) if plan.get("minimised") else (lambda ks: {str(k) for k in ks})
    out = []
    for d in model_dirs:
        meta = read_meta(d, kind="generator")
        t = meta.get("training") or {}
        keys = set(res.keys) - norm(t.get("excluded_keys") or [])
        if not keys:
            continue
        if t.get("manifest_hash") == res.manifest_before:
            out.append(AffectedModel(str(d), f"trained on manifest {res.manifest_before[:12]}, which held {len(keys)} erased item(s)"))
        elif dup := sorted(keys & norm(t.get("duplication") or {})):
            out.append(AffectedModel(str(d), f"training record names {len(dup)} erased item(s)"))
        elif dataset in [str(Path(x).resolve()) for x in t.get("datasets") or []] and (
                erased_at is None or int(meta.get("created_unix", 0)) <= int(erased_at)):
            out.append(AffectedModel(str(d), "trained on this dataset before the erasure"))
    return out

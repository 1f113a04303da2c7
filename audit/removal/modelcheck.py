"""Does a generator trained before an erasure still reproduce the subject? Sample it, scan against the subject's photos.

Data minimisation shapes the inputs: the request database keeps manifest keys and hashes only, never captions,
and `erase` deletes the image files. So the prompts (`--prompt`) and the photos to compare against (`--photo`)
come from the reviewer for this check; nothing erased is read back or resurrected. The photos are indexed in a
temporary directory that is deleted after the scan; the audit log records only sha256 hashes and the outcome.
The scan's report.html embeds base64 thumbnails of the matched "training" images, i.e. of the reviewer's photos of
the subject, so it is deleted too (decision: strip the report rather than keep a copy of the subject's photo);
what the outcome rests on stays in scan/matches.parquet (verdicts, scores, evidence: numbers and temp paths only),
the generated samples in samples/ (the model's own output, the evidence for retraining) and meta.json.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from audit.errors import InputError
from audit.generate.sample import sample_to_dir
from audit.index import build_index
from audit.memorisation.verdict import COPY, SIMILAR
from audit.meta import make_meta, write_meta
from audit.removal.auditlog import append_log
from audit.removal.erase import erase_summary
from audit.removal.store import transaction

#: The scan report that would keep the subject's photo (as base64 thumbnails); deleted after the check.
REPORT_HTML = "report.html"
#: Why prompts and photos are the reviewer's: stated in the CLI output and in the report's meta.json.
MINIMISATION_NOTE = ("captions are not stored with the request and erased files are deleted (data minimisation): "
                     "prompts and comparison photos were supplied by the reviewer")


@dataclass(frozen=True)
class ModelCheck:
    """Outcome of one check, with what it rests on."""

    request_id: int
    model_dir: str
    report_dir: str
    generated: int
    copies: int  # generated images judged copies of a subject photo
    similar: int
    outcome: str  # "copies-found" | "no-copy-found"
    note: str


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_check(conn: sqlite3.Connection, request_id: int, model_dir: str | Path, out: str | Path, *,
                prompts: Sequence[str], photos: Sequence[str | Path], n: int = 4, steps: int = 25, seed: int = 0,
                index_model: str | None = None, device: str = "cpu") -> ModelCheck:
    """Sample `model_dir` with `prompts`, scan the samples against `photos`, log the outcome (hashes only)."""
    from audit.memorisation.run import scan_folder

    res = erase_summary(conn, request_id)  # the check is about items this request erased
    prompts = [" ".join(str(p).split()) for p in prompts if str(p).strip()]
    if not prompts:
        raise InputError("no prompts given: the request does not store captions (data minimisation)",
                         "pass the subject's captions with --prompt '...' (repeatable)")
    photo_paths = [Path(p) for p in photos]
    if not photo_paths:
        raise InputError("no photos given: erased images are deleted and are not brought back for the check",
                         "pass the subject's photo(s) with --photo PATH (repeatable)")
    for p in photo_paths:
        if not p.is_file():
            raise InputError(f"photo {p} does not exist", "pass the image(s) the subject sent")
    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / "meta.json").is_file():
        raise InputError(f"{model_dir} is not a generator checkpoint (no meta.json)", "pass --generator MODEL_DIR")
    if index_model is None:
        plan = conn.execute("SELECT arg FROM erase_plan WHERE request_id=? AND name='rebuild'", (request_id,)).fetchone()
        index_model = json.loads(plan[0]).get("model") if plan else None
    out.mkdir(parents=True, exist_ok=True)
    photo_hashes = sorted({_sha(p) for p in photo_paths})
    sampled = sample_to_dir(model_dir, prompts, out / "samples", n=n, seed=seed, steps=steps, device=device)
    tmp = Path(tempfile.mkdtemp(prefix=".modelcheck-", dir=out))
    try:
        src = tmp / "photos"
        src.mkdir()
        for i, p in enumerate(photo_paths):
            shutil.copy2(p, src / f"subject_{i}{p.suffix.lower()}")
        build_index(src, tmp / "index", model=index_model)
        summary = scan_folder(out / "samples", tmp / "index", out / "scan", overwrite=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the reviewer's photos are not kept beyond the check
        (out / "scan" / REPORT_HTML).unlink(missing_ok=True)  # it embeds thumbnails of those photos
    counts = summary.get("counts") or {}
    copies, similar = int(counts.get(COPY, 0)), int(counts.get(SIMILAR, 0))
    outcome = "copies-found" if copies else "no-copy-found"
    write_meta(out, make_meta("removal-model-check", request_id=request_id, weights_sha256=sampled.weights_sha256,
                              prompts_sha256=[hashlib.sha256(p.encode()).hexdigest() for p in prompts],
                              photos_sha256=photo_hashes, n=n, steps=steps, seed=seed, index_model=index_model,
                              generated=sampled.count, copies=copies, similar=similar, outcome=outcome,
                              erased_keys=len(res.keys), note=MINIMISATION_NOTE,
                              report_html=f"deleted: it embeds thumbnails of the reviewer's photos ({REPORT_HTML})"))
    with transaction(conn):
        append_log(conn, f"model-check:{outcome}:copies={copies}:similar={similar}", request_id,
                   [sampled.weights_sha256, *photo_hashes], hashed=True)
    return ModelCheck(request_id, str(model_dir), str(out), sampled.count, copies, similar, outcome, MINIMISATION_NOTE)

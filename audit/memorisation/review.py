"""Reviewer decisions on a memorisation report, stored next to it in REPORT_DIR/reviews.parquet.

One row per generated image (a new decision replaces the previous one), written
with temp-then-rename so a crash never leaves a half-written file. Used by the app page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from audit.atomic import atomic_path
from audit.errors import ArtefactError, AuditError, InputError
from audit.generate.store import check_model_dir

REVIEWS_NAME = "reviews.parquet"
DECISIONS = ("confirmed", "false_positive")
COLUMNS = ("query_path", "decision", "note", "reviewer", "decided_unix", "verdict", "match_key")


@dataclass(frozen=True)
class Review:
    query_path: str
    decision: str
    note: str
    reviewer: str
    decided_unix: int
    verdict: str | None = None
    match_key: str | None = None


def load_matches(report_dir: str | Path) -> pd.DataFrame:
    """The report's matches.parquet, or a one-line error saying what is wrong."""
    path = Path(report_dir) / "matches.parquet"
    if not path.is_file():
        raise ArtefactError(f"{report_dir}: no matches.parquet", "run `audit memorisation scan` first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ArtefactError(f"{path} is unreadable ({exc.__class__.__name__})", "re-run the scan with --overwrite") from None


def load_reviews(report_dir: str | Path) -> pd.DataFrame:
    """All recorded decisions (latest per image), empty frame if none yet."""
    path = Path(report_dir) / REVIEWS_NAME
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "decided_unix" else "string") for c in COLUMNS})
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise ArtefactError(f"{path} is unreadable ({exc.__class__.__name__})", "restore it from a backup or delete it") from None


def record(report_dir: str | Path, query_path: str, decision: str, note: str = "", reviewer: str = "") -> Review:
    """Store (or replace) the decision for one generated image of the report."""
    if decision not in DECISIONS:
        raise InputError(f"unknown decision {decision!r}", f"use one of {', '.join(DECISIONS)}")
    matches = load_matches(report_dir)
    row = matches[matches["query_path"] == query_path]
    if row.empty:
        raise InputError(f"{query_path} is not an image of this report", "pick a query_path from matches.parquet")
    r = row.iloc[0]
    review = Review(query_path, decision, note or "", reviewer or "", int(time.time()),
                    str(r["verdict"]), None if pd.isna(r.get("match_key")) else str(r.get("match_key")))
    current = load_reviews(report_dir)
    current = current[current["query_path"] != query_path]
    new = pd.concat([current, pd.DataFrame([review.__dict__])], ignore_index=True)
    new = new.astype({c: "string" for c in COLUMNS if c != "decided_unix"}).astype({"decided_unix": "int64"})
    with atomic_path(Path(report_dir) / REVIEWS_NAME, ".parquet") as tmp:
        new.to_parquet(tmp, index=False)
    return review


def reviewed_matches(report_dir: str | Path) -> pd.DataFrame:
    """matches.parquet joined with the reviewer decisions (decision/note empty when not reviewed)."""
    m = load_matches(report_dir)
    r = load_reviews(report_dir)[["query_path", "decision", "note", "reviewer", "decided_unix"]]
    return m.merge(r, on="query_path", how="left")


def filter_matches(frame: pd.DataFrame, verdicts: Iterable[str], only_undecided: bool = False) -> pd.DataFrame:
    """The rows of `reviewed_matches` with one of `verdicts`, optionally only those without a decision yet."""
    shown = frame[frame["verdict"].isin(list(verdicts))]
    return shown[shown["decision"].isna()] if only_undecided else shown


def training_repeats(model_dir: str | Path | None) -> dict[str, int]:
    """Times per epoch the generator saw each duplicated training key (its meta.json), {} when unknown.

    Why: the index counts near-copies *in the set* (1 for an image stored once); the generator may still have been
    trained on it x100 by oversampling, which is what drives memorisation."""
    if model_dir is None:
        return {}
    try:
        meta = check_model_dir(model_dir)
    except AuditError:
        return {}
    dup = (meta.get("training") or {}).get("duplication") or {}
    return {str(k): int(v) for k, v in dup.items()}


def display_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The review table as text a reviewer reads: missing values blank, never 'None' / '<NA>' / 'nan'."""
    out = frame[columns].astype(object)
    return out.where(out.notna(), "")

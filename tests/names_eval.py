"""Precision/recall of artist-name matching on a labelled set (text, field, artist, label): a test helper of test_optout_match."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.optout.match import check_manifest


@dataclass(frozen=True)
class NameEval:
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    errors: tuple[tuple[str, str, int], ...]  # (text, artist, label) of every wrong prediction


def evaluate_names(labelled: str | Path, registry_frame: pd.DataFrame) -> NameEval:
    lab = pd.read_csv(labelled)
    n = len(lab)
    manifest = pd.DataFrame({
        "key": [str(i) for i in range(n)], "url": [None] * n,
        "caption": [t if f == "caption" else "" for t, f in zip(lab["text"], lab["field"])],
        "author": [t if f == "author" else "" for t, f in zip(lab["text"], lab["field"])],
    })
    res = check_manifest(manifest, registry_frame, rules=("artist",))
    hit = set(zip(res.matches["key"], res.matches["entry"]))
    pred = [(str(i), a) in hit for i, a in zip(range(n), lab["artist"])]
    truth = lab["label"].astype(bool).tolist()
    tp = sum(p and t for p, t in zip(pred, truth))
    fp = sum(p and not t for p, t in zip(pred, truth))
    fn = sum(t and not p for p, t in zip(pred, truth))
    errors = tuple((x, a, int(t)) for x, a, p, t in zip(lab["text"], lab["artist"], pred, truth) if p != t)
    return NameEval(n, tp, fp, fn, n - tp - fp - fn, tp / max(tp + fp, 1), tp / max(tp + fn, 1), errors)

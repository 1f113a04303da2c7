"""Thresholds and the copy / similar / novel decision, with every score shown beside its threshold.

Defaults were calibrated on the copy-detection set of benchmarks/copy_detection_eval.py (real
openclipart drawings and scikit-image photos, 11 transforms, same-category hard negatives);
see docs/MEMORISATION.md. Any threshold can be overridden (`--thresholds JSON`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from audit import config
from audit.errors import InputError

COPY, SIMILAR, NOVEL = "copy", "similar", "novel"
VERDICTS = (COPY, SIMILAR, NOVEL)
LOWRES_REASON = "same content at the generation's low resolution"

#: The other definition of a copy, for a different question. `audit generate measure` already knows which
#: training item a sample should copy (the one whose caption prompted it) and compares the two at the training
#: resolution: a copy when the whole-image RMS distance (pixels in [0, 1]) is below this. The scan does not know
#: the item, searches the whole training set and needs evidence robust to crops and edits, so it decides with
#: `Thresholds` below (worst 4x4-tile RMS `tiled_l2`, alignment, SSIM). A mean over the whole image forgives a
#: local difference the worst tile would not: the two numbers measure different things (docs/MEMORISATION.md).
KNOWN_ITEM_COPY_RMS = 0.1


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds. `copy` needs pixel evidence; `similar` only a strong retrieval signal."""

    #: Carlini et al. 2023: worst 4x4-tile RMS distance (pixels in [0,1]) below this = verbatim copy.
    tiled_l2: float = 0.15
    #: ... confirmed by a pHash distance at most this: on sparse drawings on white the unaligned tiled L2
    #: of two different images can fall under 0.15 (Carlini et al. normalise for the same reason).
    verbatim_phash: int = 12
    #: Geometric verification: RANSAC similarity-transform inliers at least this many ...
    min_inliers: int = 8
    #: ... and, after warping the query onto the candidate, worst-tile RMS below this ...
    aligned_l2: float = 0.15
    #: ... and SSIM over the overlap at least this ...
    ssim: float = 0.70
    #: ... over at least this fraction of the training image (a 70 % crop covers ~0.49).
    min_overlap: float = 0.30
    #: Second structural path, for local edits (text, thin line art slightly misregistered) that spoil
    #: the worst tile: this many inliers with SSIM at least `strong_ssim` (and the overlap above).
    strong_inliers: int = 50
    strong_ssim: float = 0.94
    #: `similar` when the CLIP cosine reaches this (clip-retrieval's dedup threshold) ...
    clip_similar: float = config.CLIP_DUPLICATE_COSINE
    #: ... or the perceptual-hash Hamming distance (query or its mirror) is at most this ...
    phash_similar: int = config.PHASH_NEAR_DUPLICATE
    #: ... or this many inliers support a partial re-use of the training image.
    partial_inliers: int = 12
    #: Small generations (native side <= 64 px, audit.memorisation.lowres): copy when the structure SSIM at the
    #: query's own size, colour cast removed, reaches this ... (with-artist copies 0.80–0.98, without-artist
    #: samples at most 0.64 in the opt-out experiment; docs/MEMORISATION.md "Small generations") ...
    lowres_ssim: float = 0.75
    #: ... and the candidate is distinct: Carlini et al. 2023's relative criterion (their alpha = 0.5): the
    #: thumbnail distance to it at most this times the mean distance to the 50 nearest other training images.
    lowres_ratio: float = 0.35
    #: Training-set duplication: pHash distance / CLIP cosine counting two training images as one.
    dup_phash: int = config.PHASH_NEAR_DUPLICATE
    dup_clip: float = config.CLIP_DUPLICATE_COSINE

    @classmethod
    def from_json(cls, text_or_path: str | None) -> "Thresholds":
        """Defaults overridden by a JSON object (inline text or a path to a .json file)."""
        if not text_or_path:
            return cls()
        raw = text_or_path
        p = Path(text_or_path)
        if not text_or_path.lstrip().startswith("{") and p.is_file():
            raw = p.read_text(encoding="utf-8")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"--thresholds is not valid JSON ({exc.msg})", 'e.g. --thresholds \'{"ssim": 0.8}\'') from None
        if not isinstance(data, dict):
            raise InputError("--thresholds must be a JSON object", 'e.g. {"tiled_l2": 0.1}')
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InputError(f"unknown threshold(s) {', '.join(unknown)}", f"known: {', '.join(known)}")
        for k, v in data.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise InputError(f"threshold {k} must be a number, got {v!r}")
        return replace(cls(), **data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Score:
    """One measured score beside the threshold it was compared with."""

    name: str
    value: float
    threshold: float
    op: str  # "<", "<=", ">="
    passed: bool

    def __str__(self) -> str:
        v = "n/a" if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)) else f"{self.value:.3g}"
        return f"{self.name}={v} ({'✓' if self.passed else '✗'} {self.op} {self.threshold:g})"


def _score(name: str, value: float | None, threshold: float, op: str) -> Score:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Score(name, float("nan"), threshold, op, False)
    ok = {"<": value < threshold, "<=": value <= threshold, ">=": value >= threshold}[op]
    return Score(name, float(value), float(threshold), op, bool(ok))


@dataclass(frozen=True)
class PairScores:
    """Everything measured for one (query, training image) pair; NaN/None where not measurable."""

    clip_cosine: float = float("nan")
    phash_distance: int | None = None  # min over query and mirrored query
    tiled_l2: float = float("nan")
    inliers: int = 0
    aligned_l2: float = float("nan")
    ssim: float = float("nan")
    overlap: float = float("nan")
    mirrored: bool = False
    rotation_deg: float = float("nan")
    scale: float = float("nan")
    pixels_available: bool = True
    lowres_ssim: float = float("nan")  # only for small generations (audit.memorisation.lowres)
    lowres_ratio: float = float("nan")


@dataclass(frozen=True)
class Verdict:
    """The decision for one pair, the reasons for it, and every score beside its threshold."""

    label: str
    reasons: tuple[str, ...]
    scores: tuple[Score, ...]

    def score(self, name: str) -> Score:
        return next(s for s in self.scores if s.name == name)


def decide(p: PairScores, t: Thresholds) -> Verdict:
    """copy: pixel evidence (verbatim tiled L2, or aligned content); similar: strong retrieval signal."""
    scores = (
        _score("tiled_l2", p.tiled_l2, t.tiled_l2, "<"),
        _score("inliers", p.inliers, t.min_inliers, ">="),
        _score("aligned_l2", p.aligned_l2, t.aligned_l2, "<"),
        _score("ssim", p.ssim, t.ssim, ">="),
        _score("overlap", p.overlap, t.min_overlap, ">="),
        _score("clip_cosine", p.clip_cosine, t.clip_similar, ">="),
        _score("phash_distance", None if p.phash_distance is None else float(p.phash_distance), t.phash_similar, "<="),
        _score("lowres_ssim", p.lowres_ssim, t.lowres_ssim, ">="),
        _score("lowres_ratio", p.lowres_ratio, t.lowres_ratio, "<="),
    )
    s = {x.name: x for x in scores}
    reasons: list[str] = []
    if not p.pixels_available:
        reasons.append("training image pixels unavailable: no pixel evidence, at most `similar`")
    else:
        if s["tiled_l2"].passed and p.phash_distance is not None and p.phash_distance <= t.verbatim_phash:
            reasons.append(f"verbatim: worst-tile L2 {p.tiled_l2:.3f} < {t.tiled_l2:g} (Carlini et al.), "
                           f"pHash distance {p.phash_distance} <= {t.verbatim_phash}")
        if s["inliers"].passed and s["aligned_l2"].passed and s["ssim"].passed and s["overlap"].passed:
            how = "mirrored, " if p.mirrored else ""
            reasons.append(
                f"same content after {how}rotation {p.rotation_deg:.0f}°, scale {p.scale:.2f}: {p.inliers} inliers, "
                f"SSIM {p.ssim:.2f}, aligned L2 {p.aligned_l2:.3f}, overlap {p.overlap:.0%}"
            )
        elif s["inliers"].passed and p.inliers >= t.strong_inliers and p.ssim >= t.strong_ssim and s["overlap"].passed:
            reasons.append(
                f"strongly supported alignment: {p.inliers} inliers >= {t.strong_inliers}, SSIM {p.ssim:.2f} >= "
                f"{t.strong_ssim:g} (local edits such as overlaid text)"
            )
        if s["lowres_ssim"].passed and s["lowres_ratio"].passed:
            reasons.append(f"{LOWRES_REASON}: structure SSIM {p.lowres_ssim:.2f} >= "
                           f"{t.lowres_ssim:g}, distance ratio to the nearest other training images {p.lowres_ratio:.2f} <= "
                           f"{t.lowres_ratio:g} (Carlini et al.)")
        if reasons:
            return Verdict(COPY, tuple(reasons), scores)
    if s["clip_cosine"].passed:
        reasons.append(f"CLIP cosine {p.clip_cosine:.3f} >= {t.clip_similar:g}")
    if s["phash_distance"].passed:
        reasons.append(f"pHash distance {p.phash_distance} <= {t.phash_similar}")
    if p.pixels_available and p.inliers >= t.partial_inliers:
        reasons.append(f"{p.inliers} geometric inliers: part of the training image re-used")
    label = SIMILAR if len(reasons) > (0 if p.pixels_available else 1) else NOVEL
    if label == NOVEL:
        reasons.append("no score passed its threshold")
    return Verdict(label, tuple(reasons), scores)


def rank_key(v: Verdict, p: PairScores) -> tuple:
    """Order candidates: copy before similar before novel, then stronger evidence first."""
    order = {COPY: 0, SIMILAR: 1, NOVEL: 2}[v.label]
    l2 = p.tiled_l2 if not math.isnan(p.tiled_l2) else 9.0
    al2 = p.aligned_l2 if not math.isnan(p.aligned_l2) else 9.0
    cos = p.clip_cosine if not math.isnan(p.clip_cosine) else -1.0
    # Copies with full-resolution pixel evidence first; low-resolution-only copies by their distance ratio.
    lowres_only = v.label == COPY and all(r.startswith(LOWRES_REASON) for r in v.reasons)
    return (order, int(lowres_only), p.lowres_ratio if lowres_only else min(l2, al2), -p.inliers, -cos)

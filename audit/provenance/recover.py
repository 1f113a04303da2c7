"""Recover the signed manifest of an image that lost it (re-encoded, screenshotted, resized).

Order: read the watermark (at the image's size, then scaled back to each stamped size of the same
aspect ratio, which undoes resizing); a checksum-valid id, or a word within MAX_BIT_ERRORS of a stored
id's codeword, names the entry. Otherwise fall back to the nearest perceptual fingerprint in the
store(s), and then (crops defeat both) to ORB keypoints matched against the store's local features with
RANSAC and a tile-wise aligned pixel check that tolerates stickers and caption boxes (local_features.py,
aligned_check.py). Every route also tries the image's mirror image: a flipped copy is found and reported
as mirrored. The stored signed copy is then re-verified with
c2pa, so a recovered manifest whose signature no longer validates (expired or untrusted signer, edited
store file) says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audit.errors import InputError, ProvenanceError
from audit.images import load_image, load_upload
from audit.provenance import local_features as lf
from audit.provenance import watermark as wm
from audit.provenance.fingerprint import MAX_DISTANCE, MIN_SIMILARITY, fingerprint, similarity
from audit.provenance.store import Entry, ManifestStore
from audit.provenance.verify import Verifier, summarise

ASPECT_TOLERANCE = 0.03


@dataclass(frozen=True)
class RecoveryResult:
    """What was found for one image, how, how sure, and whether the stored manifest still validates."""

    image: str
    recovered: bool
    method: str | None  # "watermark" | "fingerprint" | "local-features" | None
    wm_id: str | None
    store: str | None
    bit_errors: int | None  # of 64 watermark bits against the recovered id (0 = perfect read), whichever route decided
    fingerprint_distance: int | None  # pHash+dHash Hamming distance, of 128 bits
    confidence: str  # high | medium | low | none
    state: str | None  # Trusted / Valid / Invalid of the stored signed copy
    signed_copy: str | None
    reasons: tuple[str, ...]
    manifest: dict[str, Any] | None = None  # verify summary of the stored copy (audit, signer, history)
    pixel_similarity: float | None = None  # fingerprint route: grey 64×64 correlation with the stored copy
    inliers: int | None = None  # local-features route: RANSAC inliers of the query → stored alignment
    inlier_ratio: float | None = None  # inliers / ratio-test matches
    aligned_ssim: float | None = None  # SSIM of the aligned query against the stored copy, over the overlap
    overlap: float | None = None  # share of the stored image the query covers (≈ crop area)
    mirrored: bool = False  # the copy is a horizontal mirror image of the stored one
    occluded: float | None = None  # local-features route: share of the aligned tiles that disagree (stickers, boxes)

    @property
    def ok(self) -> bool:
        return self.recovered and self.state in ("Trusted", "Valid")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Read:
    size: str  # WxH the query was scaled to before reading
    mirrored: bool  # read from the query's mirror image
    readout: wm.Readout


def _reads(rgb: np.ndarray, sizes: list[tuple[int, int]], mirrored: bool) -> list[_Read]:
    """Watermark reads at the native size and at each stamped size with the same aspect ratio, of the image
    as given or of its mirror image (a flipped copy carries the mark's blocks in mirrored order)."""
    import cv2

    h, w = rgb.shape[:2]
    img = np.ascontiguousarray(rgb[:, ::-1]) if mirrored else rgb
    out = []
    r = wm.read(img)
    if r is not None:
        out.append(_Read(f"{w}x{h}", mirrored, r))
    for sw, sh in sizes:
        if (sw, sh) == (w, h) or abs((sw / sh) / (w / h) - 1) > ASPECT_TOLERANCE:
            continue
        interp = cv2.INTER_CUBIC if sw > w else cv2.INTER_AREA
        r = wm.read(cv2.resize(img, (sw, sh), interpolation=interp))
        if r is not None:
            out.append(_Read(f"{sw}x{sh}", mirrored, r))
    return out


def _lookup(stores: list[ManifestStore], wm_id: str) -> Entry | None:
    found = [e for e in (s.get(wm_id) for s in stores) if e is not None]
    if len({e.signed_sha256 for e in found}) > 1:
        raise ProvenanceError(f"watermark id {wm_id} names different images in {found[0].store} and {found[1].store}",
                              "the stores clash: recover against one store at a time")
    return found[0] if found else None


def _match_watermark(stores, reads: list[_Read]) -> tuple[Entry | None, int | None, bool, list[str]]:
    """(entry, bit errors, mirrored, notes): an exact checksum first, then the nearest stored codeword."""
    notes: list[str] = []
    for r in reads:  # exact checksum first (unmirrored reads come first)
        if r.readout.wm_id is not None:
            entry = _lookup(stores, r.readout.wm_id)
            if entry is not None:
                return entry, wm.bit_errors(r.readout.bits, entry.wm_id), r.mirrored, notes
            notes.append(f"watermark id {r.readout.wm_id} read with a valid checksum, but it is not in "
                         f"{', '.join(str(s.directory) for s in stores)}: stamped into another store?")
    best: tuple[int, bool, Entry] | None = None
    for s in stores:  # then nearest codeword within MAX_BIT_ERRORS
        for e in s.entries():
            for r in reads:
                d = wm.bit_errors(r.readout.bits, e.wm_id)
                if d <= wm.MAX_BIT_ERRORS and (best is None or (d, r.mirrored) < best[:2]):
                    best = (d, r.mirrored, e)
    if best is not None:
        _lookup(stores, best[2].wm_id)  # clash check
        return best[2], best[0], best[1], notes
    return None, None, False, notes


def _best_bits(reads: list[_Read], wm_id: str) -> int | None:
    """Fewest bit errors any read has against `wm_id`'s codeword: reported even when the mark did not decide."""
    return min((wm.bit_errors(r.readout.bits, wm_id) for r in reads), default=None)


def _match_fingerprint(stores, rgb) -> tuple[Entry | None, int | None, float | None, bool]:
    """Nearest informative fingerprint within MAX_DISTANCE whose pixels also correlate ≥ MIN_SIMILARITY,
    for the image as given and for its mirror image: (entry, distance, correlation, mirrored)."""
    views = [(False, rgb), (True, np.ascontiguousarray(rgb[:, ::-1]))]
    fps = [(m, v, fingerprint(v)) for m, v in views]
    if not fps[0][2].informative:
        return None, None, None, False
    cands = sorted(((fp.distance(e.fingerprint), m, e.wm_id, e, v) for m, v, fp in fps for s in stores
                    for e in s.entries() if e.fingerprint.informative), key=lambda t: t[:3])
    nearest = cands[0][0] if cands else None
    best_sim = None
    for d, mirrored, _, e, view in cands:
        if d > MAX_DISTANCE:
            break
        if not e.signed_path.is_file():
            continue
        sim = similarity(view, np.asarray(load_image(e.signed_path.read_bytes()).image, dtype=np.uint8))
        if sim >= MIN_SIMILARITY:
            return e, d, sim, mirrored
        best_sim = sim if best_sim is None else max(best_sim, sim)
    return None, nearest, best_sim, False


def _load_signed(stores: list[ManifestStore]):
    def load(wm_id: str) -> np.ndarray | None:
        entry = _lookup(stores, wm_id)
        if entry is None or not entry.signed_path.is_file():
            return None
        return np.asarray(load_image(entry.signed_path.read_bytes()).image, dtype=np.uint8)

    return load


def _match_local(stores: list[ManifestStore], rgb: np.ndarray, notes: list[str]):
    """Crop-tolerant route; notes say when stored entries carry no local features to match against."""
    stored = [item for s in stores for item in s.local_features()]
    missing = sum(len(s.missing_local_features()) for s in stores)
    if missing:
        notes.append(f"{missing} stored image(s) have no local features (stamped before store schema 2): crop-tolerant "
                     f"search skipped them; run `audit provenance store-features --store DIR`")
    if not stored:
        return None, None
    return lf.match(rgb, stored, _load_signed(stores))


def recover_image(image: str | Path, stores: Sequence[str | Path | None] = (None,), *,
                  ca: str | Path | None = None, trust: str | Path | None = None) -> RecoveryResult:
    """Find `image`'s original signed manifest in the store(s) and re-verify it."""
    path = Path(image)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return recover_bytes(path.read_bytes(), str(path), stores, ca=ca, trust=trust)


def recover_bytes(data: bytes, name: str, stores: Sequence[str | Path | None] = (None,), *,
                  ca: str | Path | None = None, trust: str | Path | None = None) -> RecoveryResult:
    """`recover_image` for an in-memory image (the app's upload); `name` labels the result and the errors."""
    rgb = np.asarray(load_upload(data, name), dtype=np.uint8)
    return _recover(rgb, name, stores, ca, trust)


def _recover(rgb: np.ndarray, label: str, stores: Sequence[str | Path | None], ca: str | Path | None,
             trust: str | Path | None) -> RecoveryResult:
    opened = [ManifestStore(s, create=False) for s in (stores or (None,))]
    try:
        sizes = sorted({sz for s in opened for sz in s.sizes()})
        reads = _reads(rgb, sizes, mirrored=False)
        entry, errors, mirrored, notes = _match_watermark(opened, reads)
        if entry is None:  # then the mirror image (reads cost ~10 ms each: only when the image as given failed)
            flipped = _reads(rgb, sizes, mirrored=True)
            entry, errors, mirrored, more = _match_watermark(opened, flipped)
            reads += flipped
            notes += [n for n in more if n not in notes]
        method: str | None = "watermark" if entry is not None else None
        distance: int | None = None
        sim: float | None = None
        local: lf.LocalMatch | None = None
        rejected: lf.LocalMatch | None = None
        if entry is None:
            entry, distance, sim, mirrored = _match_fingerprint(opened, rgb)
            method = "fingerprint" if entry is not None else None
            if not fingerprint(rgb).informative:
                notes.append("image is too flat for a perceptual fingerprint to mean anything")
            if reads and not notes:
                notes.append(f"no stored watermark found ({len(reads)} read(s), the image and its mirror)")
            elif not reads:
                notes.append(f"image is {rgb.shape[1]}x{rgb.shape[0]} px: too small to read a watermark")
            if entry is None:
                local, rejected = _match_local(opened, rgb, notes)
                if local is not None:
                    entry, method, mirrored = _lookup(opened, local.wm_id), "local-features", local.mirrored
        if entry is None:
            tail = "" if distance is None else f"; nearest fingerprint is {distance}/128 bits away (limit {MAX_DISTANCE})"
            if sim is not None:
                tail += f"; best pixel correlation among close fingerprints {sim:.3f} (needs {MIN_SIMILARITY})"
            if rejected is not None:
                tail += (f"; best local-feature candidate {rejected.wm_id}{' (mirrored)' if rejected.mirrored else ''}: "
                         f"{rejected.inliers} inliers (needs ≥ {lf.MIN_INLIERS}), {rejected.pixels.describe()} "
                         f"({rejected.pixels.needs()})")
            return RecoveryResult(label, False, None, None, None, None, distance, "none", None, None,
                                  tuple(notes) + (f"no stored image matches{tail}",), pixel_similarity=sim,
                                  inliers=None if rejected is None else rejected.inliers)
        if method != "watermark":
            errors = _best_bits(reads, entry.wm_id)
        with Verifier(ca, trust) as verifier:
            store_json = verifier.read_store(entry.signed_path.read_bytes(), entry.mime, str(entry.signed_path)) \
                if entry.signed_path.is_file() else None
            summary = summarise(str(entry.signed_path), store_json, verifier.trust)
        reasons = list(notes)
        flip = "the mirror image of " if mirrored else ""
        if method == "watermark":
            assert errors is not None  # a watermark read always counts its bit errors
            confidence = "high" if errors <= 4 else "medium"
            reasons.append(f"decided by the watermark: {entry.wm_id} read from {flip}the image with {errors}/64 bit errors")
        elif method == "local-features":
            assert local is not None
            confidence = "high" if local.inliers >= 5 * lf.MIN_INLIERS and local.ssim >= 0.9 else "medium"
            reasons.append(f"decided by local features: {local.inliers} RANSAC inliers of {local.matches} matches "
                           f"(ratio {local.inlier_ratio:.2f}) from {flip}the image onto stored image {entry.wm_id}; "
                           f"aligned pixels: {local.pixels.describe()}; the image covers {local.overlap:.0%} of it "
                           f"(cropped or padded), {local.pixels.occluded:.0%} of that differs (occluded or edited)")
        else:
            assert distance is not None  # a fingerprint match has a distance
            confidence = "medium" if distance <= MAX_DISTANCE // 2 else "low"
            reasons.append(f"decided by the perceptual fingerprint of {flip}the image: {distance}/128 bits from stored "
                           f"image {entry.wm_id}, pixel correlation {sim:.3f}: a look-alike (e.g. a duplicate) would "
                           f"match too")
        if method != "watermark":
            reasons.append("watermark: not read (image under 256 px)" if errors is None else
                           f"watermark: best read has {errors}/64 bit errors against {entry.wm_id} (decides at ≤ "
                           f"{wm.MAX_BIT_ERRORS}): damaged or lost")
        if mirrored:
            reasons.append("the image is a horizontally mirrored copy of the stored original")
        if not entry.signed_path.is_file():
            reasons.append(f"{entry.signed_path}: stored signed copy is missing; cannot re-verify")
        elif summary.ok:
            reasons.append(f"stored manifest re-verified: {summary.state}")
        else:
            reasons.append(f"stored manifest NO LONGER VALIDATES ({summary.state}): " + "; ".join(summary.reasons))
        extra: dict[str, Any] = {} if local is None else {"inliers": local.inliers, "inlier_ratio": round(local.inlier_ratio, 3),
                                          "aligned_ssim": round(local.ssim, 4), "overlap": round(local.overlap, 3),
                                          "occluded": round(local.pixels.occluded, 3)}
        return RecoveryResult(label, True, method, entry.wm_id, str(entry.store), errors, distance, confidence,
                              summary.state, str(entry.signed_path), tuple(reasons), summary.to_dict(), sim,
                              mirrored=mirrored, **extra)
    finally:
        for s in opened:
            s.close()

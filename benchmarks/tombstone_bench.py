"""Tombstone robustness: do erased images stay out when they come back flipped, cropped, resized or re-encoded,
and how many other images are refused by mistake?

Data: the shipped reference set (data/reference). A seeded draw of `--tombstones` images (the two people photos
always among them) is tombstoned; they are split in half BEFORE anything is measured: calibration / test. The
remaining images are split the same way into calibration negatives (`--cal-negatives`) and test negatives (the
rest, >= 1,000). Each tombstoned image gets `len(VARIANTS)` (>= 50) variants: flip, centre and off-centre crops
95..70 %, resizes, JPEG q50-90, flip+crop, brightness/contrast, blur and combinations.

The threshold (pHash bits to the nearest stored code) is the largest one with no false refusal among the
calibration negatives, chosen on the calibration half only and written to audit/removal/tombstone_thresholds.json
with `--freeze`. Reported on the test half, with Wilson 95 % intervals and n: variants refused, false refusals;
baseline in the same run: the previous tombstone rule (the image's own pHash only, 4 bits).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/tombstone_bench.py --freeze
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageEnhance, ImageFilter, ImageOps  # noqa: E402

from audit import config  # noqa: E402
from audit.perceptual import phash_hex  # noqa: E402
from audit.removal.tombstones import THRESHOLDS_FILE, Tombstones, variant_hashes  # noqa: E402

Transform = Callable[[Image.Image, random.Random], Image.Image]


def _crop(frac: float, where: str = "centre") -> Transform:
    def f(img: Image.Image, rng: random.Random) -> Image.Image:
        w, h = img.size
        cw, ch = max(1, round(w * frac)), max(1, round(h * frac))
        x, y = ((w - cw) // 2, (h - ch) // 2) if where == "centre" else (rng.randint(0, w - cw), rng.randint(0, h - ch))
        return img.crop((x, y, x + cw, y + ch))
    return f


def _resize(sx: float, sy: float | None = None) -> Transform:
    return lambda img, rng: img.resize((max(8, round(img.width * sx)), max(8, round(img.height * (sy or sx)))), Image.BICUBIC)


def _jpeg(q: int) -> Transform:
    def f(img: Image.Image, rng: random.Random) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return f


def _flip(img: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.mirror(img)


def _then(*fs: Transform) -> Transform:
    def f(img: Image.Image, rng: random.Random) -> Image.Image:
        for g in fs:
            img = g(img, rng)
        return img
    return f


def _enhance(kind: str, factor: float) -> Transform:
    return lambda img, rng: getattr(ImageEnhance, kind)(img).enhance(factor)


PCTS = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
VARIANTS: dict[str, Transform] = {"flip": _flip}
VARIANTS |= {f"crop-centre-{round(p * 100)}": _crop(p) for p in PCTS}
VARIANTS |= {f"crop-random-{round(p * 100)}-{i}": _crop(p, "random") for p in PCTS for i in range(3)}
VARIANTS |= {f"resize-{s}": _resize(s) for s in (0.5, 0.75, 1.25, 2.0)} | {"resize-aspect-0.9x1": _resize(0.9, 1.0)}
VARIANTS |= {f"jpeg-q{q}": _jpeg(q) for q in (50, 60, 70, 80, 90)}
VARIANTS |= {f"flip+crop-centre-{round(p * 100)}": _then(_flip, _crop(p)) for p in (0.9, 0.8, 0.7)}
VARIANTS |= {f"flip+crop-random-{round(p * 100)}": _then(_flip, _crop(p, "random")) for p in (0.85, 0.75)}
VARIANTS |= {f"brightness-{f}": _enhance("Brightness", f) for f in (0.7, 0.85, 1.15, 1.3)}
VARIANTS |= {f"contrast-{f}": _enhance("Contrast", f) for f in (0.8, 1.2)}
VARIANTS |= {f"crop-centre-{round(p * 100)}+jpeg-q70": _then(_crop(p), _jpeg(70)) for p in (0.9, 0.8)}
VARIANTS |= {f"resize-{s}+jpeg-q60": _then(_resize(s), _jpeg(60)) for s in (0.5, 1.5)}
VARIANTS |= {f"flip+resize-{s}": _then(_flip, _resize(s)) for s in (0.75, 1.5)}
VARIANTS |= {f"flip+brightness-{f}": _then(_flip, _enhance("Brightness", f)) for f in (0.8, 1.2)}
VARIANTS |= {"blur-1": lambda img, rng: img.filter(ImageFilter.GaussianBlur(1))}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    from extraction_eval import wilson as w  # one definition for the benchmarks

    return w(k, n, z)


def _tombs(codes: dict[str, list[int]], names: list[str], distance: int) -> Tombstones:
    return Tombstones({}, tuple((c, i) for i, n in enumerate(names) for c in codes[n]), distance)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=config.REFERENCE_DIR)
    ap.add_argument("--tombstones", type=int, default=24)
    ap.add_argument("--cal-negatives", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-distance", type=int, default=16)
    ap.add_argument("--freeze", action="store_true", help="write the calibrated threshold to " + THRESHOLDS_FILE.name)
    a = ap.parse_args()
    import pandas as pd

    from audit.images import load_rgb

    df = pd.read_parquet(a.dataset / "manifest.parquet")
    rng = random.Random(a.seed)
    people = df.index[df["person"].notna()].tolist()
    rest = [i for i in df.index if i not in people]
    rng.shuffle(rest)
    tomb_idx = people + rest[: a.tombstones - len(people)]
    rng.shuffle(tomb_idx)
    cal_t, test_t = tomb_idx[: len(tomb_idx) // 2], tomb_idx[len(tomb_idx) // 2:]
    others = rest[a.tombstones - len(people):]
    cal_n, test_n = others[: a.cal_negatives], others[a.cal_negatives:]
    t0 = time.perf_counter()
    img = {i: load_rgb(a.dataset / df.at[i, "path"]) for i in df.index}
    own = {i: int(df.at[i, "phash"], 16) if isinstance(df.at[i, "phash"], str) else int(phash_hex(img[i]), 16) for i in df.index}
    stored = {i: [own[i]] + [int(v, 16) for v in variant_hashes(img[i])] for i in tomb_idx}
    vrng = random.Random(a.seed + 1)
    queries = {i: {name: int(phash_hex(f(img[i], vrng)), 16) for name, f in VARIANTS.items()} for i in tomb_idx}
    neg = {i: own[i] for i in others}
    prep = time.perf_counter() - t0

    def rates(ts: list[int], negs: list[int], d: int, with_variants: bool) -> tuple[int, int, int, int, dict[str, int]]:
        codes = stored if with_variants else {i: [own[i]] for i in ts}
        t = _tombs({str(i): codes[i] for i in ts}, [str(i) for i in ts], d)
        per: dict[str, int] = {}
        hit = 0
        for i in ts:
            for name, q in queries[i].items():
                ok = t.reason(None, q) is not None
                hit += ok
                per[name] = per.get(name, 0) + ok
        fr = sum(t.reason(None, neg[i]) is not None for i in negs)
        return hit, len(ts) * len(VARIANTS), fr, len(negs), per

    print(f"{len(VARIANTS)} variants per tombstone; tombstones cal {len(cal_t)} / test {len(test_t)}; negatives cal "
          f"{len(cal_n)} / test {len(test_n)}; {sum(len(v) for v in stored.values()) / len(stored):.1f} stored codes per "
          f"tombstone; preparation {prep:.1f} s")
    print("calibration (threshold sweep): d  refused  false-refusals")
    chosen = 0
    for d in range(a.max_distance + 1):
        hit, n, fr, nn, _ = rates(cal_t, cal_n, d, True)
        print(f"  {d:2d}  {hit}/{n} ({hit / n:.3f})  {fr}/{nn}")
        if fr == 0:
            chosen = d
    print(f"chosen on calibration: {chosen} bits (largest with no false refusal)")
    hit, n, fr, nn, per = rates(test_t, test_n, chosen, True)
    bhit, bn, bfr, bnn, bper = rates(test_t, test_n, 4, False)
    lo, hi = wilson(hit, n)
    flo, fhi = wilson(fr, nn)
    blo, bhi = wilson(bhit, bn)
    print(f"TEST variants refused: {hit}/{n} = {hit / n:.3f} [95% CI {lo:.3f}-{hi:.3f}]  "
          f"baseline (own pHash, 4 bits): {bhit}/{bn} = {bhit / bn:.3f} [{blo:.3f}-{bhi:.3f}]  ratio {hit / max(1, bhit):.2f}x")
    print(f"TEST false refusals: {fr}/{nn} = {fr / nn:.4f} [95% CI {flo:.4f}-{fhi:.4f}]  baseline: {bfr}/{bnn}")
    groups: dict[str, list[int]] = {}
    for name in VARIANTS:
        g = name.split("-")[0] if not name.startswith("crop-random") else "crop-random"
        g = "crop-random" if name.startswith("crop-random") else g
        groups.setdefault(g, [0, 0, 0])
        groups[g][0] += per[name]
        groups[g][1] += bper[name]
        groups[g][2] += len(test_t)
    print("TEST by kind: kind  refused (new)  refused (baseline)  n")
    for g, (h, b, k) in groups.items():
        print(f"  {g:<22} {h / k:.3f}  {b / k:.3f}  {k}")
    missed = sorted(((name, len(test_t) - per[name]) for name in VARIANTS if per[name] < len(test_t)), key=lambda x: -x[1])
    print("TEST variants missed at least once:", ", ".join(f"{m}x{c}" for m, c in missed) or "none")
    if a.freeze:
        THRESHOLDS_FILE.write_text(json.dumps({
            "version": 1, "phash_distance": chosen,
            "chosen_by": "benchmarks/tombstone_bench.py: largest pHash distance with no false refusal on the calibration "
                         f"half (tombstones {len(cal_t)}, negatives {len(cal_n)}, seed {a.seed})",
            "test": {"refused": [hit, n], "false_refusals": [fr, nn]}}, indent=2) + "\n")
        print(f"frozen in {THRESHOLDS_FILE}")


if __name__ == "__main__":
    main()

"""Extraction without the training set, evaluated on the shipped generator (issue: Carlini et al. 2023 style).

Positives: the captions of the 5 training items duplicated x100. Negatives: captions seen once (shapes).
Calibration used astronaut + hopper + 2 shape captions at 10 steps x 8 samples (see audit/memorisation/extract.py);
they are excluded here. A flagged negative whose representative the index scan calls a `copy` of a duplicated
item is reported separately: the generator did reproduce a training image for it (prompt-blind collapse).

    python benchmarks/extraction_eval.py --negatives 20 --samples 16 --steps 25 [--index demo/gen_index]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.config import GENERATOR_DIR  # noqa: E402
from audit.generate.shipped_set import BACKGROUNDS, COLOURS, POSITIONS, SHAPES, SIZES  # noqa: E402
from audit.memorisation.extract_run import extract_captions  # noqa: E402

POSITIVES_CALIBRATION = {"a photo of the astronaut eileen collins", "a portrait of grace hopper"}
POSITIVES = ["a cup of coffee on a saucer", "a photo of chelsea the cat", "a rocket on the launch pad"]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--negatives", type=int, default=20)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    shapes = [f"a {sz} {c} {s} on the {pos} of a {b} background" for s in SHAPES for c in COLOURS for b in BACKGROUNDS
              for sz in SIZES for pos in POSITIONS if c != b]
    negatives = random.Random(a.seed).sample(shapes, a.negatives)
    out = a.out or Path(tempfile.mkdtemp()) / "extraction"
    run = extract_captions(GENERATOR_DIR, POSITIVES + negatives, out, samples_per_prompt=a.samples, steps=a.steps,
                           seed=a.seed, index=a.index, overwrite=True)
    flagged = {c.prompt for c in run.flagged}
    tp = len(flagged & set(POSITIVES))
    fp = len(flagged - set(POSITIVES))
    print(f"{len(POSITIVES)} duplicated captions, {len(negatives)} seen-once captions, {a.samples} samples, {a.steps} steps")
    print(f"recall {tp}/{len(POSITIVES)} (95% {wilson(tp, len(POSITIVES))[0]:.2f}-{wilson(tp, len(POSITIVES))[1]:.2f}); "
          f"false flags {fp}/{len(negatives)} (95% {wilson(fp, len(negatives))[0]:.2f}-{wilson(fp, len(negatives))[1]:.2f}); "
          f"precision {tp}/{tp + fp}")
    for c in run.captions:
        print(f"  {'FLAG' if c.flagged else '    '} {c.clique_size:>3}/{c.samples} "
              f"{'dup ' if c.prompt in POSITIVES else 'once'} {c.prompt}")
    print(f"output: {out}; {run.seconds:.0f} s")


if __name__ == "__main__":
    main()

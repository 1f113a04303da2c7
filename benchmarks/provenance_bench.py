"""Stamping and verifying throughput at 512x512, as ratios against PNG-encoding the same images in the same run.

Target: stamping >= 100 images/s on 2 cores with one reused Signer and no thumbnails.

    nice -n 10 .venv/bin/python benchmarks/provenance_bench.py [--n 200] [--size 512]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _images(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    """Generated-looking images: smooth gradients with mild noise (random noise would inflate PNG sizes)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.5, 4.0, 3)
        base = np.stack([np.sin(a * 6 * xx + b), np.cos(b * 6 * yy + c), np.sin(c * 6 * (xx + yy))], axis=2)
        arr = (base + 1) * 110 + rng.normal(0, 6, (size, size, 3))
        out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return out


def _rate(fn, items) -> float:
    t0 = time.perf_counter()
    for it in items:
        fn(it)
    return len(items) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)

    from audit.provenance import ImageFacts, ManifestOptions, Stamper, init_ca
    from audit.provenance.assertions import GeneratorInfo
    from audit.provenance.verify import Verifier, summarise

    imgs = _images(args.n, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ca = init_ca(tmp / "ca")

        def encode(img: Image.Image) -> bytes:
            buf = io.BytesIO()
            img.save(buf, "PNG")
            return buf.getvalue()

        encode(imgs[0])
        baseline = _rate(encode, imgs)  # plain PNG encode of the same images: what a sampler pays anyway
        pngs = [encode(i) for i in imgs]
        for i, data in enumerate(pngs):
            (tmp / f"in{i}.png").write_bytes(data)
        facts = ImageFacts(prompt="a watercolour fox in the snow", seed=1234,
                           verdict={"verdict": "novel", "match_path": "images/k1.png", "score": 0.31})
        options = ManifestOptions(generator=GeneratorInfo("tiny-diffusion", "ab" * 32, "cd" * 32, {"checked": 2000}))
        with Stamper(ca, options=options) as st:
            st.sign_bytes(pngs[0], "image/png", "warm.png", facts)
            sign_rate = _rate(lambda d: st.sign_bytes(d, "image/png", "x.png", facts), pngs)
            idx = iter(range(len(pngs)))
            file_rate = _rate(lambda i: st.stamp(tmp / f"in{i}.png", tmp / "out" / f"o{i}.png", facts), list(idx))
        with Stamper(ca, options=options, thumbnail=True) as st:
            few = pngs[: max(5, len(pngs) // 10)]
            thumb_rate = _rate(lambda d: st.sign_bytes(d, "image/png", "x.png", facts), few)
        signed = [(tmp / "out" / f"o{i}.png").read_bytes() for i in range(len(pngs))]
        with Verifier(ca=ca.directory) as v:
            states = {summarise("x", v.read_store(signed[0], "image/png", "x"), v.trust).state}
            verify_rate = _rate(lambda d: states.add(summarise("x", v.read_store(d, "image/png", "x"), v.trust).state),
                                signed)
        if states != {"Trusted"}:
            print(f"unexpected verify states {states}", file=sys.stderr)
            return 1
    rows = [
        ("PNG encode (baseline)", baseline),
        ("stamp, in memory (reused Signer, no thumbnail)", sign_rate),
        ("stamp, files (decode check + atomic write)", file_rate),
        ("stamp with thumbnail", thumb_rate),
        ("verify (Reader + summary, trusted)", verify_rate),
    ]
    print(f"{args.n} images {args.size}x{args.size}, c2pa-python "
          f"{__import__('importlib.metadata').metadata.version('c2pa-python')}")
    print(f"{'step':50s} {'img/s':>8s} {'vs PNG encode':>14s}")
    for name, rate in rows:
        print(f"{name:50s} {rate:8.1f} {rate / baseline:13.2f}x")
    target = file_rate >= 100
    print(f"target stamping >= 100 img/s (files): {'met' if target else 'NOT met'} ({file_rate:.0f} img/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

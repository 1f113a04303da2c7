"""Generator speed: DDIM sampling images/s (32 px and 64 px, 25 steps, guidance on) and training steps/s,
each also as a ratio to a baseline measured in the same run (one UNet forward pass on a batch of 16 at 32 px),
so numbers stay comparable on a shared, noisy machine.

    nice -n 10 .venv/bin/python benchmarks/generate_bench.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clip", default="genaudit-tiny-clip@random:0")
    ap.add_argument("--images", type=int, default=8, help="images per sampling call")
    args = ap.parse_args()

    import torch

    from audit.generate.models import build_unet, count_params, unet_config
    from audit.generate.pipeline import GeneratorPipeline
    from audit.generate.schedule import DEFAULT_SCHEDULE, training_scheduler
    from audit.generate.text import TextConditioner
    from audit.generate.train import denoising_loss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    text = TextConditioner(args.clip)
    ctx16 = text.encode(["a red circle on a white background"] * 16)

    unet32 = build_unet(unet_config("small", 32, text.text_width)).eval()
    x = torch.randn(16, 3, 32, 32)
    t = torch.full((16,), 500)
    with torch.inference_mode():
        base = _median_time(lambda: unet32(x, t, ctx16).sample, args.repeats)
    rows = [("baseline: UNet forward, batch 16, 32 px", 16 / base, "img/s", 1.0)]

    for res in (32, 64):
        unet = build_unet(unet_config("small", res, text.text_width)).eval()
        pipe = GeneratorPipeline(unet=unet, text=text, schedule=DEFAULT_SCHEDULE, resolution=res, meta={},
                                 weights_sha256="", model_dir=Path("."))
        prompts = ["a red circle on a white background"] * args.images
        s = _median_time(lambda: pipe(prompts, seed=0, steps=25, guidance=3.0, batch_size=args.images), args.repeats)  # noqa: B023 (timed within this iteration)
        rows.append((f"sample {res} px, 25 DDIM steps, CFG, batch {args.images}", args.images / s, "img/s", s / base))

    for batch in (16, 32):
        unet = build_unet(unet_config("small", 32, text.text_width)).train()
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
        sched = training_scheduler()
        xb, cb = torch.randn(batch, 3, 32, 32), text.encode(["a red circle"] * batch)

        def step() -> None:
            loss = denoising_loss(unet, sched, xb, cb, torch.randn_like(xb), torch.randint(0, 1000, (batch,)))  # noqa: B023 (timed within this iteration)
            opt.zero_grad()  # noqa: B023 (timed within this iteration)
            loss.backward()
            opt.step()  # noqa: B023 (timed within this iteration)

        s = _median_time(step, args.repeats)
        rows.append((f"train step, batch {batch}, 32 px", 1 / s, "step/s", s / base))

    print(f"small preset: {count_params(unet32):,} params; threads={args.threads}; repeats={args.repeats} (median)")
    print(f"{'measurement':<48}{'rate':>10} {'unit':<7}{'time / baseline':>16}")
    for name, rate, unit, ratio in rows:
        print(f"{name:<48}{rate:>10.2f} {unit:<7}{ratio:>16.1f}")


if __name__ == "__main__":
    main()

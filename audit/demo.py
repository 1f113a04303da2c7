"""`audit demo`: the main job on the embedded defaults, end to end, re-runnable (unchanged steps are no-ops).

Each step is a function taking the demo context and returning lines of Markdown for `summary.md`,
so later features add a step without touching the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from audit import config
from audit.atomic import write_text
from audit.errors import AuditError

SAMPLE_QUERIES = (
    "a cat",
    "a red car",
    "a house with a roof",
    "a woman in an orange space suit",
    "flowers in a garden",
)


@dataclass
class DemoContext:
    out: Path
    dataset: Path
    model: str | None
    device: str
    seed: int
    log: Callable[[str], None]
    artefacts: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def index_dir(self) -> Path:
        return self.out / "index"


def step_index(ctx: DemoContext) -> list[str]:
    from audit.index import build_index, open_index

    build_index(ctx.dataset, ctx.index_dir, model=ctx.model, device=ctx.device)
    idx = open_index(ctx.index_dir)
    ctx.artefacts["index"] = ctx.index_dir
    meta = idx.meta
    return [
        "## Training-set index",
        f"- dataset: `{ctx.dataset}` ({idx.count} images)",
        f"- model: `{meta.get('model')}` (dim {meta.get('dim')}), faiss `{meta.get('factory')}`",
        f"- index: `{ctx.index_dir}`",
    ]


def _hits_table(hits) -> list[str]:
    lines = ["| rank | score | key | caption | author | licence |", "|---|---|---|---|---|---|"]
    for h in hits:
        caption = str(h.caption or "").replace("|", "/")[:60]
        lines.append(f"| {h.rank} | {h.score:.3f} | {h.key} | {caption} | {h.author or ''} | {h.license or ''} |")
    return lines


def step_search(ctx: DemoContext) -> list[str]:
    from audit.index import open_index

    idx = open_index(ctx.index_dir)
    lines = ["## Sample searches (text → training images)"]
    for q in SAMPLE_QUERIES:
        hits = idx.search_text(q, k=3)
        lines += ["", f"**“{q}”**", "", *_hits_table(hits)]
    # An indexed image queried against the index must find itself with cosine 1.0.
    first_id = int(idx.ids[0])  # ids are key hashes (stable across rebuilds), not row numbers
    first = idx.rows([first_id]).iloc[0]
    self_hits = idx.search_image(idx.image_path(first_id), k=1)
    lines += [
        "",
        "## Self-query check",
        f"- querying with indexed image `{first['key']}` returns `{self_hits[0].key}` at score {self_hits[0].score:.6f}",
    ]
    ctx.log(f"self-query of {first['key']}: {self_hits[0].key} score {self_hits[0].score:.6f}")
    return lines


STEPS: list[tuple[str, Callable[[DemoContext], list[str]]]] = [
    ("index", step_index),
    ("search", step_search),
]


def run_demo(
    out: Path = config.DEMO_DIR,
    dataset: Path | None = None,
    model: str | None = None,
    device: str = "cpu",
    seed: int = config.DEFAULT_SEED,
    log: Callable[[str], None] = print,
) -> Path:
    """Run every demo step and write `out/summary.md`; returns its path."""
    dataset = Path(dataset) if dataset else config.REFERENCE_DIR
    if not (dataset / "manifest.parquet").is_file():
        raise AuditError(
            f"no reference set at {dataset}",
            "the checkout ships one in data/reference; or build one with `audit dataset build-reference --out DIR` and pass --dataset DIR",
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, dataset=dataset, model=model, device=device, seed=seed, log=log)
    sections: list[str] = ["# genaudit demo", ""]
    for name, step in STEPS:
        log(f"[demo] {name} …")
        t0 = time.perf_counter()
        sections += step(ctx) + [""]
        ctx.timings[name] = time.perf_counter() - t0
        log(f"[demo] {name} done in {ctx.timings[name]:.1f}s")
    sections += ["## Timings", *[f"- {k}: {v:.1f}s" for k, v in ctx.timings.items()], ""]
    summary = out / "summary.md"
    write_text(summary, "\n".join(sections))
    return summary

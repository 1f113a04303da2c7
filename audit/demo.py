"""`audit demo`: the main job on the embedded defaults, end to end, re-runnable (unchanged steps are no-ops).

Each step is a function taking the demo context and returning lines of Markdown for `summary.md`,
so later features add a step without touching the others.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from audit import config
from audit.atomic import write_text
from audit.errors import ArtefactError, AuditError
from audit.generate.sample import sample_to_dir
from audit.generate.samples_layout import sample_images
from audit.index import build_index, open_index
from audit.provenance.ca import init_ca
from audit.provenance.recover import recover_image
from audit.provenance.stamp import ManifestOptions, read_generator, stamp_images
from audit.provenance.verify import verify_image, verify_images
from audit.removal import (
    affected_models,
    confirm_hits,
    connect,
    create_request,
    erase,
    is_tombstoned,
    locate,
    transition,
    verify_log,
    write_letter,
)
from audit.workspace import write_workspace

#: Phrased like the reference set's captions (title, category, keywords), which is what the tiny CLIP learnt.
SAMPLE_QUERIES = (
    "cat, animals clip art: mammal",
    "house, buildings clip art: home",
    "flower, plants clip art",
    "car, transportation clip art",
    "astronaut eileen collins",
)
#: Captions the shipped generator saw x100 (it should copy these) and x1 (it should not).
GENERATOR_PROMPTS = (
    "a photo of chelsea the cat",
    "a portrait of grace hopper",
    "a rocket on the launch pad",
    "a large red circle on the centre of a white background",
    "a small blue square on the left of a yellow background",
)
#: The artist whose opt-out the demo files (a real openclipart author in the reference set).
DEMO_OPTOUT_ARTIST = "Gerald G."


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


def ensure_index(ctx: DemoContext, source: Path, out: Path) -> None:
    """Reuse `out` when its inputs are unchanged; the demo owns it, so rebuild it when they changed."""
    try:
        build_index(source, out, model=ctx.model, device=ctx.device)
    except ArtefactError as exc:
        ctx.log(f"[demo] {exc.message}: rebuilding")
        build_index(source, out, model=ctx.model, device=ctx.device, overwrite=True)


def step_index(ctx: DemoContext) -> list[str]:
    ensure_index(ctx, ctx.dataset, ctx.index_dir)
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
    lines = ["| rank | score | matched | key | caption | author | licence |", "|---|---|---|---|---|---|---|"]
    for h in hits:
        caption = str(h.caption or "").replace("|", "/")[:60]
        lines.append(f"| {h.rank} | {h.score:.3f} | {h.evidence} | {h.key} | {caption} | {h.author or ''} | {h.license or ''} |")
    return lines


def step_search(ctx: DemoContext) -> list[str]:
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


def step_generate(ctx: DemoContext) -> list[str]:
    """Sample the shipped generator: memorised captions and novel ones."""
    out = ctx.out / "generated"
    res = sample_to_dir(config.GENERATOR_DIR, list(GENERATOR_PROMPTS), out, n=2, seed=ctx.seed, steps=25, device=ctx.device)
    ctx.artefacts["generated"] = out
    return [
        "## Reference generator samples",
        f"- model: `{config.GENERATOR_DIR}` (sha256 {res.weights_sha256[:12]}…), {res.count} images in {res.seconds:.1f}s → `{out}`",
        *[f"- “{p}”" for p in GENERATOR_PROMPTS],
    ]


def step_memorisation(ctx: DemoContext) -> list[str]:
    """Scan the samples against the generator's own training set (rebuilt, indexed)."""
    from audit.generate.shipped_set import build
    from audit.memorisation.run import scan_folder

    train_dir = ctx.out / "generator-train"
    if not (train_dir / "manifest.parquet").is_file():
        build(train_dir)
    index_dir = ctx.out / "generator-index"
    ensure_index(ctx, train_dir, index_dir)
    report = ctx.out / "memorisation"
    summary = scan_folder(ctx.artefacts["generated"], index_dir, report, overwrite=True, seed=ctx.seed)
    ctx.artefacts["memorisation"] = report
    counts = summary["counts"]
    return [
        "## Memorisation scan of the samples",
        f"- verdicts: {counts}",
        f"- report: `{report / 'report.html'}` (pairs side by side, every score beside its threshold)",
    ]


def step_provenance(ctx: DemoContext) -> list[str]:
    """Sign the samples with a local test CA, carrying their verdicts; verify them back."""
    ca_dir = ctx.out / "ca"
    if not (ca_dir / "meta.json").is_file():
        init_ca(ca_dir)
    stamped = ctx.out / "stamped"
    options = ManifestOptions(generator=read_generator(config.GENERATOR_DIR))
    stamp_images([ctx.artefacts["generated"]], stamped, ca=ca_dir, options=options,
                 report=ctx.artefacts.get("memorisation"), overwrite=True)
    results = verify_images(sorted(stamped.glob("*.png")), ca=ca_dir)
    states: dict[str, int] = {}
    for r in results:
        states[r.state] = states.get(r.state, 0) + 1
    return [
        "## C2PA Content Credentials",
        f"- {len(results)} samples signed into `{stamped}` with the test CA `{ca_dir}`",
        f"- verification: {states}  (`audit provenance verify {stamped}/*.png --ca {ca_dir}`)",
    ]


def step_durable(ctx: DemoContext) -> list[str]:
    """Durable Content Credentials: a sample watermarked + stored as it is generated, its manifest stripped by a
    JPEG re-encode (what an upload does), then found again from the watermark alone."""
    root = ctx.out / "durable"
    if root.exists():  # a fresh store each run: re-running gives the same result
        shutil.rmtree(root)
    store = root / "store"
    sample_to_dir(config.GENERATOR_DIR, [GENERATOR_PROMPTS[1]], root / "samples", n=1, seed=ctx.seed, steps=25,
                  device=ctx.device, stamp=True, durable=True, store=store, ca=ctx.out / "ca")
    signed = sample_images(root / "samples")[0]
    stripped = root / "stripped.jpg"
    Image.open(signed).convert("RGB").save(stripped, quality=75)
    before = verify_image(stripped, ca=ctx.out / "ca")
    rec = recover_image(stripped, [store], ca=ctx.out / "ca")
    ctx.artefacts["durable"] = root
    how = f"{rec.method}, {rec.bit_errors} bit error(s) of 64" if rec.method == "watermark" else str(rec.method)
    return [
        "## Durable credentials",
        f"- “{GENERATOR_PROMPTS[1]}” sampled, watermarked and signed into `{signed}`; manifest kept in `{store}`",
        f"- re-encoded as JPEG q75 → the file's own manifest: {before.state}",
        f"- `audit provenance recover {stripped} --store {store}`: recovered={rec.recovered} by {how}, "
        f"confidence {rec.confidence}, stored manifest {rec.state}",
    ]


def step_optout(ctx: DemoContext) -> list[str]:
    """File one artist's opt-out and find their works in the reference set, with reasons."""
    from audit.optout.apply import run_check
    from audit.optout.registry import Registry

    db = ctx.out / "optout.db"
    with Registry(db) as reg:  # re-adding the same entry is a no-op
        reg.add("artist", DEMO_OPTOUT_ARTIST, source="audit demo", scope="ai-training")
    out = ctx.out / "optout-matches.parquet"
    result = run_check(ctx.dataset, db, out)
    n = result.matches["key"].nunique() if len(result.matches) else 0
    return [
        "## Opt-out check",
        f"- registry `{db}`: artist “{DEMO_OPTOUT_ARTIST}” opted out of AI training",
        f"- {n} reference-set rows covered → `{out}` (rule and matched span per row)",
    ]


def step_card(ctx: DemoContext) -> list[str]:
    """The dataset card of the indexed set: contents, duplicates, licences, opted-out share, concepts."""
    from audit.card import build_card, write_card

    registry = ctx.out / "optout.db"
    card = build_card(ctx.index_dir, registry=registry if registry.is_file() else None)
    out = ctx.out / "card"
    write_card(card, out)
    ctx.artefacts["card"] = out
    return [
        "## Dataset card",
        f"- {card.rows} rows, {len(card.licenses)} licence value(s), {card.authors_total} author value(s), "
        f"{len(card.exact_duplicates)} exact / {len(card.near_duplicates)} near-duplicate cluster(s)",
        f"- card: `{out / 'card.html'}` (and card.json)",
    ]


#: The data subject of the demo's GDPR request: a real photo in the shipped generator's training set.
DEMO_SUBJECT = ("Grace Hopper", "ref_hopper")


def step_removal(ctx: DemoContext) -> list[str]:
    """A GDPR erasure request end to end on a copy of the generator's training set (the demo owns the copy).

    The subject sends a JPEG of their photo; it is located by pHash/CLIP, confirmed, erased (denylist,
    manifest, files, index rebuild, tombstones), the generator trained on it is listed, and the hash-chained
    log is verified. Each run starts from a fresh copy, so re-running gives the same result.
    """
    import matplotlib.cbook

    root = ctx.out / "removal"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(ctx.out / "generator-train", root / "dataset")
    index_dir = build_index(root / "dataset", root / "index", model=ctx.model, device=ctx.device)
    photo = root / "subject_photo.jpg"  # what the subject sends: a smaller re-encode, not the training file
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:  # type: ignore[union-attr]
        img = Image.open(f).convert("RGB")
        img.resize((img.width // 2, img.height // 2)).save(photo, quality=80)
    name, key = DEMO_SUBJECT
    reports = root / "reports"  # copies of the reports made before the erasure: the residual sweep redacts these
    for art in ("memorisation", "card"):
        if art in ctx.artefacts and Path(ctx.artefacts[art]).is_dir():
            shutil.copytree(ctx.artefacts[art], reports / art)
    conn = connect(root / "requests.db")  # a new database: its keys (root/requests.db.keys) are created with it
    try:
        req = create_request(conn, name, "subject@example.org")
        transition(conn, req.id, "verified", reason="identity checked against the photo")
        found = locate(conn, req.id, index_dir, photo=photo, name=name)
        confirm_hits(conn, req.id, sorted({c.key for c in found if c.key == key}))
        result = erase(conn, req.id, index_dir, sweep_roots=[str(reports)] if reports.is_dir() else [])
        swept = conn.execute("SELECT path, action FROM residuals WHERE request_id=?", (req.id,)).fetchall()
        models = affected_models(conn, req.id, [config.GENERATOR_DIR])
        refused = is_tombstoned(conn, photo)  # the same picture offered again (any size/encoding) is refused
        transition(conn, req.id, "confirmed")
        letter = write_letter(conn, req.id, root / "letter.md", models=models)
        log = verify_log(conn)
        from audit.removal.seal import verify

        sealed = verify(conn)
    finally:
        conn.close()
    ctx.artefacts["removal"] = root
    return [
        "## GDPR erasure request",
        f"- “{name}” sent a photo; located {len(found)} candidate hit(s) by "
        f"{', '.join(sorted({c.method for c in found}))}; confirmed `{key}`",
        f"- erased {len(result.keys)} item(s) from a copy of the generator's training set: state `{result.state}`, "
        f"re-ingesting the photo is refused: {refused or 'NOT refused'}",
        f"- generators trained on it: {[Path(m.model_dir).name + ': ' + m.reason for m in models]}",
        f"- residuals after erasure: {len(swept)} artefact(s) still held the item, "
        f"{sum(a == 'redacted' for _, a in swept)} redacted ({', '.join(Path(p).name for p, _ in swept) or 'none'})",
        f"- audit log: {log.rows} entries, {'intact' if log.ok else 'FAILED'}; keyed chain: {sealed.entries} sealed "
        f"change(s), {sealed.heads} signed head(s), {'intact' if sealed.ok else 'FAILED'}; letter `{letter}`",
    ]


STEPS: list[tuple[str, Callable[[DemoContext], list[str]]]] = [
    ("index", step_index),
    ("search", step_search),
    ("generate", step_generate),
    ("memorisation", step_memorisation),
    ("provenance", step_provenance),
    ("durable", step_durable),
    ("optout", step_optout),
    ("card", step_card),
    ("removal", step_removal),
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
    workspace = write_workspace(out, name="demo")
    sections += ["## Review app workspace", f"- `{workspace}`: `audit app --workspace {out}` opens every page on "
                 "these artefacts", ""]
    sections += ["## Timings", *[f"- {k}: {v:.1f}s" for k, v in ctx.timings.items()], ""]
    summary = out / "summary.md"
    write_text(summary, "\n".join(sections))
    return summary

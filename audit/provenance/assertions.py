"""What goes into a genaudit manifest: the generator, prompt/seed, memorisation verdict, opt-out summary.

Inputs are read from other modules' artefacts (generator model dir meta.json, `samples.parquet` beside
generated images (layout owned by audit.generate.samples_layout), a memorisation report's `matches.parquet`)
once per folder, then looked up per image.
The manifest is a plain dict (c2pa ManifestDefinition JSON), built here so it can be unit-tested and
shown in docs without signing anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from audit import __version__
from audit.errors import ArtefactError, ManifestError, ProvenanceError
from audit.generate import samples_layout
from audit.meta import read_meta, sha256_file, weights_sha256

AUDIT_LABEL = "org.genaudit.audit"
SCHEMA = "org.genaudit.audit/1"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MINING_CHOICES = ("allowed", "notAllowed", "constrained")
MINING_LABELS = {"cawg": "cawg.training-mining", "c2pa": "c2pa.training-mining"}
_MINING_KEYS = ("ai_generative_training", "ai_training", "ai_inference", "data_mining")
MATCHES_NAME = "matches.parquet"
MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


@dataclass(frozen=True)
class GeneratorInfo:
    """The model that made the image, as recorded in its model dir's meta.json."""

    name: str
    weights_sha256: str | None = None
    training_manifest_sha256: str | None = None
    optout_summary: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.weights_sha256:
            out["weights_sha256"] = self.weights_sha256
        if self.training_manifest_sha256:
            out["training_manifest_sha256"] = self.training_manifest_sha256
        return out


@dataclass(frozen=True)
class ImageFacts:
    """Per-image facts to record; every field optional except what the caller knows."""

    prompt: str | None = None
    seed: int | None = None
    verdict: Mapping[str, Any] | None = None  # from matches.parquet: verdict, match_path, score
    edits: tuple[Mapping[str, Any], ...] = ()  # further c2pa actions after creation (e.g. c2pa.resized)


def mime_type(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        raise ProvenanceError(
            f"{path}: unsupported format '{suffix or 'no extension'}' for Content Credentials",
            "use PNG, JPEG or WebP",
        )
    return MIME_TYPES[suffix]


def _first(meta: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if meta.get(key) not in (None, ""):
            return meta[key]
    return None


def read_generator(model_dir: str | Path) -> GeneratorInfo:
    """GeneratorInfo from a generator model dir (meta.json kind="generator"); hashes the checkpoint if meta lacks it."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir, kind="generator")
    ckpt_hash = weights_sha256(meta) or _first(meta, "sha256")
    if ckpt_hash is None:
        for name in ("model.safetensors", "model.pt"):
            if (model_dir / name).is_file():
                ckpt_hash = sha256_file(model_dir / name)
                break
    manifest_hash = _first(meta, "training_manifest_sha256", "training_manifest_hash", "manifest_hash")
    if manifest_hash is None and isinstance(meta.get("dataset"), Mapping):
        manifest_hash = _first(meta["dataset"], "manifest_hash", "manifest_sha256")
    optout = _first(meta, "optout_summary", "optout", "optout_check")
    return GeneratorInfo(
        name=str(_first(meta, "name", "model_name") or model_dir.name),
        weights_sha256=ckpt_hash,
        training_manifest_sha256=manifest_hash,
        optout_summary=optout if isinstance(optout, Mapping) else None,
    )


def _read_parquet(path: Path, needed: tuple[str, ...], what: str):
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise ManifestError(f"{path}: cannot read {what} ({type(exc).__name__})", "regenerate it") from None
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: {what} is missing column(s) {', '.join(missing)}", f"it needs {', '.join(needed)}")
    return df


def _clean(value: Any) -> Any:
    """pandas/numpy scalars → JSON-able Python; NaN → None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_samples(folder: str | Path) -> dict[str, ImageFacts]:
    """Prompt/seed per image file name from `samples.parquet` in `folder` (audit generate sample); {} if absent."""
    path = samples_layout.table_path(folder)
    if not path.is_file():
        return {}
    df = _read_parquet(path, ("prompt",), "samples table")
    col = next((c for c in ("path", "file", "filename", "image") if c in df.columns), None)
    if col is None:
        raise ManifestError(f"{path}: samples table has no path/file column", "it needs path, prompt, seed")
    out = {}
    for row in df.to_dict("records"):
        seed = _clean(row.get("seed"))
        out[Path(str(row[col])).name] = ImageFacts(prompt=_clean(row["prompt"]), seed=None if seed is None else int(seed))
    return out


def read_verdicts(report_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Memorisation verdict per generated image (keyed by file name) from a report's matches.parquet."""
    report_dir = Path(report_dir)
    path = report_dir / MATCHES_NAME if report_dir.is_dir() else report_dir
    if not path.is_file():
        raise ArtefactError(f"{path}: memorisation report not found", "run `audit memorisation scan … --out REPORT_DIR`")
    df = _read_parquet(path, ("query_path", "verdict", "match_path", "score"), "memorisation matches")
    out: dict[str, dict[str, Any]] = {}
    for row in df.to_dict("records"):
        out[Path(str(row["query_path"])).name] = {
            "verdict": _clean(row["verdict"]),
            "match_path": _clean(row["match_path"]),
            "score": _clean(row["score"]),
            "report_sha256": sha256_file(path),
        }
    return out


def training_mining_assertion(use: str, label: str = "cawg") -> dict[str, Any]:
    """The training-and-data-mining assertion: one `use` for generative training, training, inference, mining."""
    if use not in MINING_CHOICES:
        raise ProvenanceError(f"training-mining '{use}' is not one of {', '.join(MINING_CHOICES)}")
    if label not in MINING_LABELS:
        raise ProvenanceError(f"training-mining label '{label}' is not one of {', '.join(MINING_LABELS)}")
    prefix = "cawg" if label == "cawg" else "c2pa"
    entry: dict[str, Any] = {"use": use}
    if use == "constrained":
        entry["constraint_info"] = "see the licence terms of the image owner"
    return {"label": MINING_LABELS[label], "data": {"entries": {f"{prefix}.{k}": dict(entry) for k in _MINING_KEYS}}}


@dataclass(frozen=True)
class ManifestOptions:
    """Choices that apply to a whole stamping run."""

    include_prompt: bool = True
    training_mining: str = "notAllowed"
    mining_label: str = "cawg"
    generator: GeneratorInfo | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def build_manifest(title: str, facts: ImageFacts, options: ManifestOptions, *, has_parent: bool) -> dict[str, Any]:
    """The ManifestDefinition for one image: actions, our audit assertion, training-mining."""
    params: dict[str, Any] = {}
    if facts.prompt is not None and options.include_prompt:
        params["prompt"] = facts.prompt
    if facts.seed is not None:
        params["seed"] = int(facts.seed)
    gen = options.generator
    if has_parent:  # an already-signed image: record it as the parent and keep its history
        action: dict[str, Any] = {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"], **params}}
    else:
        action = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
        if params:
            action["parameters"] = params
    if gen is not None:
        action["softwareAgent"] = {"name": gen.name}
    audit: dict[str, Any] = {"schema": SCHEMA, "stamped_by": f"genaudit {__version__}"}
    audit["prompt_recorded"] = facts.prompt is not None and options.include_prompt
    if gen is not None:
        audit["generator"] = gen.as_dict()
        if gen.training_manifest_sha256:
            audit["training_manifest_sha256"] = gen.training_manifest_sha256
        if gen.optout_summary:
            audit["optout"] = dict(gen.optout_summary)
    if facts.verdict is not None:
        audit["memorisation"] = dict(facts.verdict)
    audit.update(options.extra)
    return {
        "claim_generator_info": [{"name": "genaudit", "version": __version__}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [action, *map(dict, facts.edits)]}},
            {"label": AUDIT_LABEL, "data": audit},
            training_mining_assertion(options.training_mining, options.mining_label),
        ],
    }

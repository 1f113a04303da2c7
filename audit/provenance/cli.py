"""`audit provenance …`: test CA, stamp, verify. Thin calls into audit.provenance."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="C2PA Content Credentials: sign generated images, verify them.")


class Mining(str, Enum):
    allowed = "allowed"
    notAllowed = "notAllowed"
    constrained = "constrained"


class MiningLabel(str, Enum):
    cawg = "cawg"
    c2pa = "c2pa"


@app.command("init-ca")
def init_ca_cmd(
    out: Path = typer.Option(..., "--out", help="Directory for root.pem, chain.pem, signer.key (0600), meta.json."),
    name: str = typer.Option("genaudit", help="Name used in the certificates' subjects."),
    days: int = typer.Option(365, help="Validity of the signing certificate in days."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing CA directory."),
) -> None:
    """Create a local TEST certificate authority (root + signing certificate c2pa accepts)."""
    from audit.provenance.ca import init_ca

    ca = init_ca(out, name=name, signer_days=days, overwrite=overwrite)
    typer.echo(f"test CA written to {ca.directory} (signer {ca.subject}, valid until {ca.not_after})")
    typer.echo("only you trust it: verify with `--ca DIR`; see docs/PROVENANCE.md for a real chain and a TSA")


@app.command("stamp")
def stamp_cmd(
    images: List[Path] = typer.Argument(..., help="Images (PNG/JPEG/WebP) or folders of them."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder for the signed copies."),
    ca: Optional[Path] = typer.Option(None, "--ca", help="CA directory (default: local test CA, created on first use)."),
    prompt: bool = typer.Option(True, "--prompt/--no-prompt", help="Record the prompt (omit for privacy)."),
    training_mining: Mining = typer.Option(Mining.notAllowed, "--training-mining", help="Training/data-mining permission."),
    mining_label: MiningLabel = typer.Option(MiningLabel.cawg, "--mining-label", help="cawg.training-mining or c2pa.training-mining."),
    generator: Optional[Path] = typer.Option(None, "--generator", help="Generator model dir (meta.json) that made the images."),
    report: Optional[Path] = typer.Option(None, "--report", help="Memorisation report dir (matches.parquet)."),
    thumbnail: bool = typer.Option(False, "--thumbnail", help="Embed a thumbnail (~50 ms per image)."),
    tsa: Optional[str] = typer.Option(None, "--tsa", help="RFC 3161 timestamp authority URL (needs network)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files in --out."),
    in_place: bool = typer.Option(False, "--in-place", help="Sign the inputs themselves (temp then rename)."),
    durable: bool = typer.Option(False, "--durable", help="Also embed an invisible watermark id and keep the signed "
                                 "copy in a manifest store, so `recover` finds it after the manifest is stripped."),
    store: Optional[Path] = typer.Option(None, "--store", help="Manifest store dir for --durable (default: local store)."),
    upscale_small: bool = typer.Option(False, "--upscale-small", help="With --durable: Lanczos-upscale images under "
                                       "256 px (recorded as a c2pa.resized action) instead of skipping them."),
) -> None:
    """Sign images with a C2PA manifest: created by a trained model, prompt/seed, audit verdict, mining choice.

    With --durable, images that cannot carry durable provenance (too small, flat) are skipped and listed."""
    from audit.provenance.assertions import ManifestOptions, read_generator
    from audit.provenance.stamp import stamp_batch

    options = ManifestOptions(
        include_prompt=prompt, training_mining=training_mining.value, mining_label=mining_label.value,
        generator=read_generator(generator) if generator else None,
    )
    batch = stamp_batch(images, out, ca=ca, options=options, report=report, overwrite=overwrite,
                        in_place=in_place, thumbnail=thumbnail, tsa_url=tsa, durable=durable, store=store,
                        upscale_small=upscale_small)
    results = batch.stamped
    parents = sum(r.had_manifest for r in results)
    where = "in place" if in_place else f"into {out}"
    typer.echo(f"stamped {len(results)} image(s) {where}"
               + (f"; {parents} already signed, kept as parent ingredient" if parents else ""))
    for r in results:
        if r.wm_id:
            typer.echo(f"  {r.output.name}: watermark {r.wm_id} (PSNR {r.psnr:.1f} dB), kept in {r.store}")
            if r.upscaled_from:
                typer.echo(f"    upscaled from {r.upscaled_from[0]}x{r.upscaled_from[1]} px first (recorded as c2pa.resized)")
            if r.readback_errors is not None and r.readback_errors > 4:
                typer.echo(f"    warning: the mark reads back with {r.readback_errors}/64 bit errors (flat or "
                           "saturated image); recovery will rely on the perceptual fingerprint")
    if batch.skipped:
        typer.echo(f"skipped {len(batch.skipped)} image(s) that cannot carry durable provenance:")
        for s in batch.skipped:
            typer.echo(f"  - {s.source}: {s.reason}")


@app.command("verify")
def verify_cmd(
    images: List[Path] = typer.Argument(..., help="Images or folders to verify."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout (list of results)."),
    ca: Optional[Path] = typer.Option(None, "--ca", help="Trust this CA directory's root.pem."),
    trust: Optional[Path] = typer.Option(None, "--trust", help="Trust anchors PEM file."),
) -> None:
    """Validate Content Credentials: Trusted / Valid / Invalid / NoManifest, with reasons. Exit 1 unless all pass."""
    from audit.provenance.verify import verify_images

    results = verify_images(images, ca=ca, trust=trust)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2, default=str))
    else:
        for r in results:
            typer.echo(f"{r.path}: {r.state}")
            for reason in r.reasons:
                typer.echo(f"  - {reason}")
            for step in r.history:
                acts = ", ".join(a.get("action", "?") for a in step["actions"]) or "no actions"
                typer.echo(f"  history: {acts} (signer {(step['signer'] or {}).get('common_name', '?')})")
            for ing in r.ingredients:
                typer.echo(f"  ingredient: {ing['title']} [{ing['relationship']}] {ing['validation_state']}")
            if r.audit:
                mem = (r.audit.get("memorisation") or {}).get("verdict", "not checked")
                gen = (r.audit.get("generator") or {}).get("name", "unknown")
                typer.echo(f"  audit: generator {gen}, memorisation {mem}")
    if not all(r.ok for r in results):
        # SystemExit, not typer.Exit: audit.cli.main discards click's return code under standalone_mode=False.
        raise SystemExit(1)


@app.command("recover")
def recover_cmd(
    image: Path = typer.Argument(..., help="An image that lost its Content Credentials."),
    store: List[Path] = typer.Option([], "--store", help="Manifest store dir (repeatable; default: the local store)."),
    ca: Optional[Path] = typer.Option(None, "--ca", help="Trust this CA directory's root.pem."),
    trust: Optional[Path] = typer.Option(None, "--trust", help="Trust anchors PEM file."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Find the original signed manifest via the watermark or fingerprint; exit 1 unless it still validates."""
    from audit.provenance.recover import recover_image

    r = recover_image(image, list(store) or [None], ca=ca, trust=trust)
    if as_json:
        typer.echo(json.dumps(r.to_dict(), indent=2, default=str))
    else:
        flip = ", mirrored copy" if r.mirrored else ""
        head = (f"recovered by {r.method} (id {r.wm_id}, confidence {r.confidence}{flip}): {r.state}"
                if r.recovered else "nothing recovered")
        typer.echo(f"{r.image}: {head}")
        for reason in r.reasons:
            typer.echo(f"  - {reason}")
        if r.signed_copy:
            typer.echo(f"  signed original: {r.signed_copy}")
    if not r.ok:
        raise SystemExit(1)


@app.command("store-features")
def store_features_cmd(
    store: Optional[Path] = typer.Option(None, "--store", help="Manifest store dir (default: the local store)."),
) -> None:
    """Add local (ORB) features to store entries stamped before schema 2, so cropped copies can be recovered."""
    from audit.provenance.store import ManifestStore

    with ManifestStore(store, create=False) as s:
        done, skipped = s.backfill_local_features()
        typer.echo(f"{s.directory}: local features computed for {done} entr{'y' if done == 1 else 'ies'}; "
                   f"{len(s) - done - len(skipped)} already had them")
        for wm_id in skipped:
            typer.echo(f"  - {wm_id}: stored signed copy missing or unreadable; skipped")
    if skipped:
        raise SystemExit(1)

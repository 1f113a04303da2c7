"""Sign generated images with a C2PA manifest carrying genaudit's audit results.

One `Stamper` holds one c2pa Signer and Context for a whole run (building a Signer per image costs
~25 %). Thumbnails are off by default (~50 ms each). Inputs are never overwritten unless asked;
an input that already carries a manifest becomes the parent ingredient, so its history is kept.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from PIL import Image

from audit.atomic import atomic_path
from audit.errors import ArtefactError, ImageError, InputError, ProvenanceError
from audit.images import load_image
from audit.meta import make_meta, sha256_bytes, write_meta
from audit.progress import track
from audit.provenance.assertions import (
    MIME_TYPES,
    ImageFacts,
    ManifestOptions,
    build_manifest,
    mime_type,
    read_generator,
    read_samples,
    read_verdicts,
)
from audit.provenance.ca import DEFAULT_CA_DIR, CertificateAuthority, algorithm_for, init_ca, load_ca
from audit.provenance.context import c2pa_message, make_context
from audit.provenance.durable import CannotMark, durable_input, prepare_durable
from audit.provenance.store import ManifestStore


@dataclass(frozen=True)
class StampResult:
    """One stamped image: where it went, whether a prior manifest became its parent, what was recorded."""

    source: Path
    output: Path
    had_manifest: bool
    verdict: str | None
    prompt_recorded: bool
    bytes_added: int
    wm_id: str | None = None  # durable stamping: the watermark id, also the manifest store key
    store: Path | None = None
    psnr: float | None = None  # of the watermarked pixels against the input
    readback_errors: int | None = None  # bits wrong reading the mark back at once (flat images can lose it)
    upscaled_from: tuple[int, int] | None = None  # --upscale-small: the size before the recorded c2pa.resized


@dataclass(frozen=True)
class Skipped:
    """An input a batch did not stamp, and why (e.g. too small or flat for durable provenance)."""

    source: Path
    reason: str


@dataclass(frozen=True)
class StampBatch:
    stamped: tuple[StampResult, ...]
    skipped: tuple[Skipped, ...]


def _c2pa_error(exc: Exception, name: str) -> ProvenanceError:
    text = c2pa_message(exc)
    if "could not be parsed" in text or "out of range" in text or "invalid header" in text:
        return ProvenanceError(f"{name}: corrupt or truncated image ({text})", "re-export or remove the file")
    return ProvenanceError(f"{name}: c2pa could not sign it ({text})")


class Stamper:
    """Reusable signer: `Stamper(ca_dir).stamp(src, dst, facts)` for each image of a run."""

    def __init__(self, ca: str | Path | CertificateAuthority | None = None, *, options: ManifestOptions | None = None,
                 thumbnail: bool = False, tsa_url: str | None = None, durable: bool = False,
                 store: str | Path | None = None):
        import c2pa

        self.ca = resolve_ca(ca)
        self.options = options or ManifestOptions()
        self.tsa_url = tsa_url
        self.durable = durable
        self._store = None
        if durable:
            self._store = ManifestStore(store)
        from cryptography import x509

        alg = algorithm_for(x509.load_pem_x509_certificates(self.ca.chain_pem)[0])
        try:
            self._signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, self.ca.chain_pem, self.ca.key_pem, tsa_url))
        except Exception as exc:
            raise ProvenanceError(f"{self.ca.directory}: c2pa rejected the signing certificate ({exc})") from None
        self._context = make_context(trust_anchors=self.ca.root_pem.decode(), signer=True, thumbnail=thumbnail)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._signer.close()
        self._context.close()

    def __enter__(self) -> "Stamper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sign_bytes(self, data: bytes, mime: str, title: str, facts: ImageFacts,
                   extra_assertions: Sequence[dict] = ()) -> tuple[bytes, bool]:
        """Signed copy of `data`; the bool says whether an existing manifest was kept as parent ingredient."""
        import c2pa

        try:
            prior = c2pa.Reader.try_create(mime, io.BytesIO(data), context=self._context)
        except Exception as exc:
            raise _c2pa_error(exc, title) from None
        had = prior is not None
        if prior is not None:
            prior.close()
        manifest = build_manifest(title, facts, self.options, has_parent=had)
        manifest["assertions"].extend(extra_assertions)
        out = io.BytesIO()
        try:
            with c2pa.Builder(manifest, context=self._context) as builder:
                if had:
                    builder.add_ingredient({"title": title, "relationship": "parentOf", "label": "parent"},
                                           mime, io.BytesIO(data))
                builder.sign(self._signer, mime, io.BytesIO(data), out)
        except Exception as exc:
            raise _c2pa_error(exc, title) from None
        return out.getvalue(), had

    def stamp(self, src: str | Path, dst: str | Path, facts: ImageFacts = ImageFacts(), *,
              overwrite: bool = False, data: bytes | None = None) -> StampResult:
        """Sign `src` into `dst` (temp then rename). `dst == src` only when `overwrite` is set.
        `data`: the bytes to sign instead of the file's (an upscaled copy whose resize `facts.edits` records)."""
        src, dst = Path(src), Path(dst)
        mime = mime_type(src)
        if not src.is_file():
            raise InputError(f"{src}: file not found")
        if dst.exists() and not overwrite:
            raise ArtefactError(f"{dst} already exists", "pass --overwrite (or --in-place to sign inputs in place)")
        data = src.read_bytes() if data is None else data
        _check_decodes(data, src)
        if self.durable:
            return self._stamp_durable(src, dst, data, mime, facts)
        signed, had = self.sign_bytes(data, mime, src.name, facts)
        with atomic_path(dst, suffix=dst.suffix) as tmp:
            tmp.write_bytes(signed)
        return StampResult(src, dst, had, None if facts.verdict is None else facts.verdict.get("verdict"),
                           facts.prompt is not None and self.options.include_prompt, len(signed) - len(data))

    def _stamp_durable(self, src: Path, dst: Path, data: bytes, mime: str, facts: ImageFacts) -> StampResult:
        """Watermark first, then sign (so the hash binds the marked pixels), then keep the signed copy."""
        assert self._store is not None
        prep = prepare_durable(data, mime, src.name, self._store)
        signed, had = self.sign_bytes(prep.data, mime, src.name, facts, prep.assertions)
        import c2pa

        reader = c2pa.Reader(mime, io.BytesIO(signed), context=self._context)
        with reader:
            manifest_json = json.loads(reader.json())
        self._store.add(prep.wm_id, signed, manifest_json, mime=mime, width=prep.width, height=prep.height,
                        fp=prep.fingerprint, readback_errors=prep.readback_errors, psnr=prep.psnr, title=src.name,
                        local=prep.local)
        with atomic_path(dst, suffix=dst.suffix) as tmp:
            tmp.write_bytes(signed)
        return StampResult(src, dst, had, None if facts.verdict is None else facts.verdict.get("verdict"),
                           facts.prompt is not None and self.options.include_prompt, len(signed) - len(data),
                           prep.wm_id, self._store.directory, prep.psnr, prep.readback_errors)


def _check_decodes(data: bytes, name: Path) -> None:
    """Refuse truncated/corrupt images before signing them (c2pa would sign broken pixels happily).

    PNG: PIL's verify() checks every chunk CRC through IEND in ~0.5 ms, a full decode costs ~10 ms at
    512² and would halve stamping throughput. JPEG/WebP are decoded (a few ms) by the shared loader.
    """
    if name.suffix.lower() == ".png":
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
            return
        except Exception as exc:  # PIL raises SyntaxError/OSError/struct.error for broken chunks
            raise ImageError(f"{name}: corrupt or truncated image ({exc})", "re-export or remove the file") from None

    try:
        load_image(data)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc.message.removeprefix('<bytes>: ')}", exc.hint) from None


def resolve_ca(ca: str | Path | CertificateAuthority | None) -> CertificateAuthority:
    """A CA directory, a loaded CA, or None → the local test CA (created on first use)."""
    if isinstance(ca, CertificateAuthority):
        return ca
    if ca is None:
        if not (DEFAULT_CA_DIR / "chain.pem").is_file():
            return init_ca(DEFAULT_CA_DIR, overwrite=True)
        return load_ca(DEFAULT_CA_DIR)
    return load_ca(ca)


def stamp_image(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    ca: str | Path | CertificateAuthority | Stamper | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    generator: str | Path | None = None,
    verdict: dict | None = None,
    include_prompt: bool = True,
    training_mining: str = "notAllowed",
    overwrite: bool = False,
    durable: bool = False,
    store: str | Path | None = None,
) -> StampResult:
    """Sign one image (for `audit generate sample --stamp`). `dst=None` signs in place (temp then rename).

    Pass a `Stamper` as `ca` to reuse one Signer across many calls; its options then apply and
    `generator`/`include_prompt`/`training_mining` here are ignored.
    """
    src = Path(src)
    dst = src if dst is None else Path(dst)
    facts = ImageFacts(prompt=prompt, seed=seed, verdict=verdict)
    if isinstance(ca, Stamper):
        return ca.stamp(src, dst, facts, overwrite=overwrite or dst == src)
    options = ManifestOptions(include_prompt=include_prompt, training_mining=training_mining,
                              generator=read_generator(generator) if generator else None)
    with Stamper(ca, options=options, durable=durable, store=store) as stamper:
        return stamper.stamp(src, dst, facts, overwrite=overwrite or dst == src)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Files given directly plus supported images found (non-recursively) in given folders, sorted."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in MIME_TYPES and not p.name.startswith(".")))
        elif item.is_file():
            mime_type(item)
            out.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    if not out:
        raise InputError(f"no PNG/JPEG/WebP images in {', '.join(map(str, inputs))}")
    return out


def stamp_images(inputs: Sequence[str | Path], out: str | Path | None, **kwargs) -> list[StampResult]:
    """`stamp_batch(...)`'s stamped results (what callers before the skip list used)."""
    return list(stamp_batch(inputs, out, **kwargs).stamped)


def stamp_batch(
    inputs: Sequence[str | Path],
    out: str | Path | None,
    *,
    ca: str | Path | None = None,
    options: ManifestOptions = ManifestOptions(),
    report: str | Path | None = None,
    overwrite: bool = False,
    in_place: bool = False,
    thumbnail: bool = False,
    tsa_url: str | None = None,
    durable: bool = False,
    store: str | Path | None = None,
    upscale_small: bool = False,
) -> StampBatch:
    """Folder mode: sign every image into `out` (or in place), prompt/seed from samples.parquet beside it.

    With `durable`, an image that cannot carry durable provenance (under 256 px, flat) is skipped and listed
    with its reason while the rest are stamped; `upscale_small` instead Lanczos-upscales small images and
    records that as a c2pa.resized action. Nothing stampable at all is an error (exit 2).
    """
    images = collect_images(inputs)
    if in_place == (out is not None):
        raise InputError("give exactly one of --out DIR or --in-place")
    if upscale_small and not durable:
        raise InputError("--upscale-small needs --durable")
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        clash = [p for p in images if p.resolve().parent == out_dir.resolve()]
        if clash:
            raise InputError(f"--out {out_dir} is the input folder", "choose another --out, or use --in-place")
        names = [p.name for p in images]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError(f"two inputs share the file name {sorted(dup)[0]}", "stamp the folders one at a time")
    verdicts = read_verdicts(report) if report is not None else {}
    samples: dict[Path, dict[str, ImageFacts]] = {}
    results: list[StampResult] = []
    skipped: list[tuple[Skipped, CannotMark]] = []
    with Stamper(ca, options=options, thumbnail=thumbnail, tsa_url=tsa_url, durable=durable, store=store) as stamper:
        for src in track(images, desc="stamping", total=len(images), unit="img"):
            folder = src.resolve().parent
            if folder not in samples:
                samples[folder] = read_samples(folder)
            base = samples[folder].get(src.name, ImageFacts())
            if in_place or out_dir is None:  # the CLI requires --out unless --in-place
                dst = src
            else:
                dst = out_dir / src.name
            try:
                data, edits = durable_input(src, mime_type(src), upscale_small) if durable else (None, ())
                facts = ImageFacts(prompt=base.prompt, seed=base.seed, verdict=verdicts.get(src.name), edits=edits)
                r = stamper.stamp(src, dst, facts, overwrite=overwrite or in_place, data=data)
            except CannotMark as exc:
                why = exc.message.removeprefix(f"{src}: ").removeprefix(f"{src.name}: ")
                skipped.append((Skipped(src, f"{why} ({exc.hint})" if exc.hint else why), exc))
                continue
            if edits:
                size = edits[0]["parameters"]["from"]
                r = replace(r, upscaled_from=(size["width"], size["height"]))
            results.append(r)
        if not results and skipped:
            first = skipped[0][1]
            raise CannotMark(f"nothing stamped: {len(skipped)} image(s) cannot carry durable provenance; "
                             f"{first.message}", first.hint if upscale_small else
                             f"{first.hint}; --upscale-small stamps small images after a recorded upscale")
        if out_dir is not None:
            _write_run_meta(out_dir, stamper, results, report, [s for s, _ in skipped])
    return StampBatch(tuple(results), tuple(s for s, _ in skipped))


def _write_run_meta(out_dir: Path, stamper: Stamper, results: list[StampResult], report,
                    skipped: Sequence[Skipped] = ()) -> None:
    """meta.json for the output folder: signer, options, and each output's source and hash."""
    opts = stamper.options
    write_meta(out_dir, make_meta(
        "stamped-images",
        signer_ca=str(stamper.ca.directory),
        signer_subject=stamper.ca.subject,
        root_sha256=sha256_bytes(stamper.ca.root_pem),
        include_prompt=opts.include_prompt,
        training_mining=opts.training_mining,
        tsa_url=stamper.tsa_url,
        mining_label=opts.mining_label,
        generator=None if opts.generator is None else opts.generator.as_dict(),
        memorisation_report=None if report is None else str(report),
        images=[{"source": str(r.source), "output": r.output.name, "had_manifest": r.had_manifest,
                 "verdict": r.verdict} for r in results],
        skipped=[{"source": str(x.source), "reason": x.reason} for x in skipped],
    ))


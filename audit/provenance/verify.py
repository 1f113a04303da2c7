"""Read and validate Content Credentials, and say in plain words why an image is (not) trustworthy.

States: Trusted (signature intact, signer chains to a trust anchor you gave), Valid (intact, signer
unknown), Invalid (image or manifest changed after signing, expired certificate, ...), NoManifest
(never signed, or stripped, e.g. by re-encoding). c2pa's status codes are kept beside the words.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from audit.errors import InputError, ProvenanceError
from audit.progress import track
from audit.provenance.assertions import AUDIT_LABEL, MINING_LABELS, mime_type
from audit.provenance.ca import DEFAULT_CA_DIR, ROOT_CERT, load_trust_pem
from audit.provenance.context import c2pa_message, make_context
from audit.provenance.stamp import collect_images

TRUSTED, VALID, INVALID, NO_MANIFEST = "Trusted", "Valid", "Invalid", "NoManifest"

#: c2pa status codes → what they mean for a reader of the report.
PLAIN_WORDS = {
    "assertion.dataHash.mismatch": "the image data changed after signing (pixels tampered or file edited)",
    "assertion.bmffHash.mismatch": "the image data changed after signing",
    "assertion.boxesHash.mismatch": "the image data changed after signing",
    "assertion.hashedURI.mismatch": "an assertion in the manifest was altered after signing",
    "assertion.missing": "an assertion the claim refers to is missing",
    "claimSignature.mismatch": "the signature does not match the manifest (manifest altered or forged)",
    "claimSignature.outsideValidity": "the claim was signed outside the certificate's validity period",
    "signingCredential.untrusted": "the signer is unknown: its certificate does not chain to a trusted root",
    "signingCredential.expired": "the signing certificate has expired and no trusted timestamp proves it was "
                                 "valid when signing",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.invalid": "the signing certificate is not valid for C2PA signing",
    "timeStamp.mismatch": "the timestamp does not match the signature",
    "timeStamp.untrusted": "the timestamp authority is not trusted",
    "manifest.inaccessible": "the manifest could not be read",
}


@dataclass(frozen=True)
class VerifyResult:
    """Outcome for one image, with the reasons for its state and what the manifest says."""

    path: str
    state: str
    reasons: tuple[str, ...]
    codes: tuple[str, ...]  # c2pa failure codes, e.g. assertion.dataHash.mismatch
    trust: str  # where the trust anchors came from, or "none"
    signer: dict[str, Any] | None = None
    history: tuple[dict[str, Any], ...] = ()  # newest first: {manifest, signer, actions}
    ingredients: tuple[dict[str, Any], ...] = ()
    audit: dict[str, Any] | None = None  # our org.genaudit.audit assertion
    training_mining: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state in (TRUSTED, VALID)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(code: str, explanation: str = "") -> str:
    words = PLAIN_WORDS.get(code)
    if words is None:
        words = explanation or code
    return f"{words} [{code}]"


def _trust_anchors(ca: str | Path | None, trust: str | Path | None) -> tuple[str | None, str]:
    if ca is not None and trust is not None:
        raise InputError("give --ca or --trust, not both")
    if trust is not None:
        return load_trust_pem(trust).decode(), str(trust)
    if ca is not None:
        return load_trust_pem(Path(ca) / ROOT_CERT).decode(), str(Path(ca) / ROOT_CERT)
    if (DEFAULT_CA_DIR / ROOT_CERT).is_file():
        return (DEFAULT_CA_DIR / ROOT_CERT).read_text(), f"{DEFAULT_CA_DIR / ROOT_CERT} (local test CA)"
    return None, "none"


class Verifier:
    """One c2pa Context (trust settings) reused for many images."""

    def __init__(self, ca: str | Path | None = None, trust: str | Path | None = None):
        anchors, self.trust = _trust_anchors(ca, trust)
        self._context = make_context(trust_anchors=anchors)

    def close(self) -> None:
        self._context.close()

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_store(self, data: bytes, mime: str, name: str) -> dict[str, Any] | None:
        """The manifest store JSON, or None when the image carries no manifest."""
        import c2pa

        try:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=self._context)
        except Exception as exc:
            raise ProvenanceError(f"{name}: cannot be read as {mime} ({c2pa_message(exc)})",
                                  "is the file truncated or mislabelled?") from None
        if reader is None:
            return None
        with reader:
            return json.loads(reader.json())

    def verify(self, path: str | Path) -> VerifyResult:
        path = Path(path)
        mime = mime_type(path)
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        store = self.read_store(path.read_bytes(), mime, str(path))
        return summarise(str(path), store, self.trust)


def _assertion(manifest: dict[str, Any], *labels: str) -> dict[str, Any] | None:
    for a in manifest.get("assertions", []):
        if a.get("label") in labels:
            return a.get("data")
    return None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for a in manifest.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            for act in a.get("data", {}).get("actions", []):
                out.append({k: v for k, v in act.items() if k in ("action", "digitalSourceType", "softwareAgent",
                                                                 "parameters", "when", "description")})
    return out


def _failures(results: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list(((results or {}).get("activeManifest") or {}).get("failure", []))


def summarise(path: str, store: dict[str, Any] | None, trust: str) -> VerifyResult:
    """Turn c2pa's manifest-store JSON into a VerifyResult with plain-word reasons."""
    if store is None:
        return VerifyResult(path, NO_MANIFEST, (
            "no Content Credentials: never signed, or stripped (re-encoding, screenshots and many "
            "upload pipelines drop the manifest)",), (), trust)
    manifests = store.get("manifests", {})
    active = manifests.get(store.get("active_manifest"), {})
    results = store.get("validation_results") or {}
    failures = _failures(results)
    for ing in results.get("ingredientDeltas", []) or []:
        for f in (ing.get("validationDeltas") or {}).get("failure", []):
            failures.append({**f, "explanation": f"parent ingredient: {f.get('explanation', '')}"})
    state = store.get("validation_state") or (INVALID if failures else VALID)
    codes = tuple(f.get("code", "") for f in failures)
    signer = active.get("signature_info")
    reasons = [explain(f.get("code", ""), f.get("explanation", "")) for f in failures]
    who = f"{(signer or {}).get('common_name', 'unknown')} (issuer {(signer or {}).get('issuer', 'unknown')})"
    if state == TRUSTED:
        reasons.insert(0, f"signed by {who}, which chains to a trusted root; the image is unchanged since signing")
    elif state == VALID:
        reasons.insert(0, f"signature intact and image unchanged, but the signer {who} is not on the trust list"
                       + ("" if trust != "none" else " (no trust anchors given: pass --ca or --trust)"))
    elif state == INVALID and not reasons:
        reasons.append("c2pa reported the manifest invalid without a failure code")
    history = []
    label = store.get("active_manifest")
    seen = set()
    while label and label in manifests and label not in seen:  # follow parentOf ingredients back in time
        seen.add(label)
        m = manifests[label]
        history.append({"manifest": label, "signer": m.get("signature_info"), "actions": _actions(m)})
        parent = next((i for i in m.get("ingredients", []) if i.get("relationship") == "parentOf"), None)
        label = parent.get("active_manifest") if parent else None
    ingredients = tuple({
        "title": i.get("title"), "format": i.get("format"), "relationship": i.get("relationship"),
        "active_manifest": i.get("active_manifest"),
        "validation_state": _ingredient_state(i),
    } for i in active.get("ingredients", []))
    for ing in ingredients:
        if ing["validation_state"] == INVALID:
            reasons.append(f"ingredient '{ing['title']}' carried a manifest that was already invalid when it was "
                           "used (edited after its earlier signing): its history cannot be relied on")
    return VerifyResult(
        path=path, state=state, reasons=tuple(reasons), codes=codes, trust=trust, signer=signer,
        history=tuple(history), ingredients=ingredients, audit=_assertion(active, AUDIT_LABEL),
        training_mining=_assertion(active, *MINING_LABELS.values()),
    )


def _ingredient_state(ingredient: dict[str, Any]) -> str:
    if not ingredient.get("active_manifest"):
        return NO_MANIFEST
    fails = _failures(ingredient.get("validation_results"))
    if fails:
        return INVALID
    success = ((ingredient.get("validation_results") or {}).get("activeManifest") or {}).get("success", [])
    return TRUSTED if any(s.get("code") == "signingCredential.trusted" for s in success) else VALID


def verify_image(path: str | Path, *, ca: str | Path | None = None, trust: str | Path | None = None) -> VerifyResult:
    """Verify one image (see `Verifier` to check many with one context)."""
    with Verifier(ca, trust) as verifier:
        return verifier.verify(path)


def verify_bytes(data: bytes, name: str, *, ca: str | Path | None = None, trust: str | Path | None = None) -> VerifyResult:
    """Verify an in-memory image (the app's upload); `name` gives the format by its extension."""
    with Verifier(ca, trust) as verifier:
        return summarise(name, verifier.read_store(data, mime_type(name), name), verifier.trust)


def trust_options(path: str | Path | None) -> dict[str, Path]:
    """The `ca=` / `trust=` keyword for a user-typed trust path: a directory is a CA dir (its root certificate is
    trusted), a file a trusted root PEM; blank means the defaults."""
    text = str(path or "").strip()
    if not text:
        return {}
    p = Path(text).expanduser()
    return {"ca": p} if p.is_dir() else {"trust": p}


def verify_images(paths: Sequence[str | Path], *, ca: str | Path | None = None,
                  trust: str | Path | None = None) -> list[VerifyResult]:
    images = collect_images(paths)
    with Verifier(ca, trust) as verifier:
        return [verifier.verify(p) for p in track(images, desc="verifying", total=len(images), unit="img")]

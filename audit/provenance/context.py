"""The c2pa settings every genaudit reader and signer uses, built in one place.

Offline always: remote manifests are never fetched (NOTES: C2PA). A verifier adds the trust anchors it was
given (its own test CA, or a PEM bundle); a signer adds the claim generator (genaudit and its version) and
whether to embed a thumbnail (off by default: ~50 ms each). c2pa is imported on first use.
"""

from __future__ import annotations

from typing import Any

from audit import __version__


def context_settings(*, trust_anchors: str | None = None, signer: bool = False, thumbnail: bool = False) -> dict[str, Any]:
    """The settings dict of `make_context` (kept separate so tests and reports can show it)."""
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False}}
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors}
    if signer:
        settings["builder"] = {"claim_generator_info": {"name": "genaudit", "version": __version__},
                               "thumbnail": {"enabled": bool(thumbnail)}}
    return settings


def make_context(*, trust_anchors: str | None = None, signer: bool = False, thumbnail: bool = False):
    """A c2pa.Context: trust_anchors = PEM text of the roots to trust; signer=True for a Builder's context."""
    import c2pa

    return c2pa.Context.from_dict(context_settings(trust_anchors=trust_anchors, signer=signer, thumbnail=thumbnail))


def c2pa_message(exc: Exception) -> str:
    """The first line of a c2pa error (its messages run to several lines), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

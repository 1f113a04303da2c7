"""CLIP embeddings: one way in (`load_embedder`) for the tiny in-project CLIP, open_clip names and local checkpoints.

Light on import: torch and open_clip are imported only when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from audit.embed.embedder import Embedder

TINY_CLIP = "genaudit-tiny-clip"

__all__ = ["TINY_CLIP", "load_embedder", "Embedder"]


def load_embedder(name: str | None = None, device: str = "cpu") -> "Embedder":
    """Load a CLIP embedder by name, pretrained tag, `NAME@random:SEED`, checkpoint file or model dir.

    See docs/CONTRACTS.md. Unknown names, corrupt checkpoints and hub tags that are not cached
    locally raise `audit.errors.ModelError` at once (nothing is downloaded).
    """
    from audit.embed.loader import load_embedder as _load

    return _load(name, device=device)


def __getattr__(attr: str):
    if attr == "Embedder":
        from audit.embed.embedder import Embedder

        return Embedder
    raise AttributeError(attr)

"""The Embedder: an open_clip model plus its preprocess and tokenizer, with batched, normalised outputs.

Image decoding and resizing run in a small thread pool one batch ahead of the model, so on a
2-core machine the model, not JPEG decoding, sets the pace (see benchmarks/embed_throughput.py).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from audit.images import load_rgb
from audit.progress import bar

ImageLike = Image.Image | str | Path


def _decode_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


@dataclass
class Embedder:
    """A loaded CLIP model. `name` reloads the same model; `weights_sha256` identifies its weights
    (sha256 of the checkpoint file; of the name for random-init models)."""

    name: str
    weights_sha256: str
    model: Any
    preprocess: Callable[[Image.Image], Any]
    tokenizer: Callable[..., Any]
    device: str = "cpu"
    config_name: str = ""
    source: str = ""  # checkpoint path, "random:SEED" or "hub:TAG"
    dim: int = field(init=False)
    image_size: int = field(init=False)
    context_length: int = field(init=False)
    text_width: int = field(init=False)

    def __post_init__(self) -> None:
        m = self.model
        self.dim = int(getattr(m.visual, "output_dim", 0) or m.text_projection.shape[1])
        size = m.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length = int(m.context_length)
        self.text_width = int(m.transformer.width)

    # ---- images -------------------------------------------------------------------------------
    def _prepare(self, item: ImageLike):
        img = item if isinstance(item, Image.Image) else load_rgb(item)
        if img.mode != "RGB":
            img = img.convert("RGB")
        return self.preprocess(img)

    def _batches(self, images: Sequence[ImageLike], batch_size: int) -> Iterator[Any]:
        """Yield preprocessed image tensors batch by batch, decoding the next batch in threads meanwhile."""
        import torch

        n = len(images)
        if n <= 8:
            for start in range(0, n, batch_size):
                yield torch.stack([self._prepare(x) for x in images[start : start + batch_size]])
            return
        with ThreadPoolExecutor(max_workers=_decode_workers(), thread_name_prefix="embed-decode") as pool:

            def submit(start: int) -> list[Future]:
                return [pool.submit(self._prepare, x) for x in images[start : start + batch_size]]

            pending = submit(0)
            for start in range(0, n, batch_size):
                nxt = submit(start + batch_size) if start + batch_size < n else []
                try:
                    yield torch.stack([f.result() for f in pending])
                except BaseException:
                    for f in nxt:
                        f.cancel()
                    raise
                pending = nxt

    def embed_image_tensors(self, pixels: Any) -> np.ndarray:
        """Embed already preprocessed pixels (B, 3, H, W); float32, L2-normalised."""
        import torch

        with torch.inference_mode():
            feats = self.model.encode_image(pixels.to(self.device), normalize=True)
        return feats.float().cpu().numpy().astype(np.float32, copy=False)

    def embed_images(
        self, images: Sequence[ImageLike], batch_size: int = 256, progress: bool = True
    ) -> np.ndarray:
        """Embed PIL images or image paths in batches; (N, dim) float32, L2-normalised rows."""
        images = list(images)
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        if not images:
            return out
        batch_size = max(1, int(batch_size))
        pbar = bar(len(images), "embedding images", unit="img") if progress else None
        try:
            row = 0
            for pixels in self._batches(images, batch_size):
                feats = self.embed_image_tensors(pixels)
                out[row : row + len(feats)] = feats
                row += len(feats)
                if pbar is not None:
                    pbar.update(len(feats))
        finally:
            if pbar is not None:
                pbar.close()
        return _renormalise(out)

    # ---- texts --------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer([str(t) for t in texts]).to(self.device)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """Embed captions; (N, dim) float32, L2-normalised rows."""
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenize(texts[start : start + batch_size])
                out[start : start + len(tokens)] = self.model.encode_text(tokens, normalize=True).float().cpu().numpy()
        return _renormalise(out)

    def encode_text_tokens(self, texts: Sequence[str]):
        """Per-token text states after ln_final, (N, context_length, text_width): cross-attention context."""
        import torch

        m = self.model
        with torch.inference_mode():
            tokens = self.tokenize(list(texts))
            cast = m.transformer.get_cast_dtype()
            x = m.token_embedding(tokens).to(cast) + m.positional_embedding.to(cast)
            x = m.transformer(x, attn_mask=m.attn_mask)
            x = m.ln_final(x)
        return x.float()

    def describe(self) -> dict[str, Any]:
        """What an artefact's meta.json records about the model."""
        return {
            "model": self.name,
            "weights_sha256": self.weights_sha256,
            "model_config": self.config_name,
            "dim": self.dim,
            "image_size": self.image_size,
        }


def _renormalise(x: np.ndarray) -> np.ndarray:
    """Exact unit norm in float32 (fp16/fp32 round-off otherwise leaves norms at 1 ± 1e-7..1e-3)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, np.maximum(norms, 1e-12), out=x)
    return x

"""Text conditioning: the project's frozen CLIP text encoder, per-token states for cross-attention.

The encoder is never trained here; its name and weights sha256 go into meta.json so sampling
refuses a different encoder than the one the generator learnt to read.
"""

from __future__ import annotations

from typing import Sequence

from audit.embed import load_embedder
from audit.errors import InputError, ModelError

#: Tokens a tokenizer might use for "unknown word" (open_clip SimpleTokenizer has none; HF/word-level ones do).
_UNK_NAMES = ("<unk>", "<|unk|>", "[UNK]", "<|unknown|>")


def _unk_id(tokenizer) -> int | None:
    for holder in (tokenizer, getattr(tokenizer, "tokenizer", None)):
        if holder is None:
            continue
        uid = getattr(holder, "unk_token_id", None)
        if isinstance(uid, int):
            return uid
        vocab = getattr(holder, "encoder", None) or getattr(holder, "vocab", None)
        if isinstance(vocab, dict):
            for name in _UNK_NAMES:
                if name in vocab:
                    return int(vocab[name])
    return None


class TextConditioner:
    """Wraps `audit.embed.load_embedder(name)`; encodes prompts to (N, context, width) float32 tensors."""

    def __init__(self, name: str, device: str = "cpu", expected_weights_sha256: str | None = None):
        self.embedder = load_embedder(name, device=device)
        self.device = device
        self.name: str = self.embedder.name
        self.weights_sha256: str = self.embedder.weights_sha256
        if expected_weights_sha256 is not None and expected_weights_sha256 != self.weights_sha256:
            raise ModelError(
                f"text encoder '{name}' has weights sha256 {self.weights_sha256[:12]}, the generator was trained with "
                f"{expected_weights_sha256[:12]}",
                "use the CLIP checkpoint recorded in the generator's meta.json, or retrain the generator",
            )
        self.context_length: int = int(self.embedder.context_length)
        self.text_width: int = int(self.embedder.text_width)
        tok = self.embedder.tokenizer
        self._unk = _unk_id(tok)
        self._special = set(int(i) for i in tok([""])[0].tolist())

    def encode(self, texts: Sequence[str], batch_size: int = 256):
        """Per-token states for each text, no gradients (the encoder is frozen)."""
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                states = self.embedder.encode_text_tokens(list(texts[i : i + batch_size]))
                out.append(states.to("cpu", torch.float32).clone())  # clone: leave inference mode
        if not out:
            return torch.zeros(0, self.context_length, self.text_width)
        return torch.cat(out)

    def problem_words(self, prompt: str) -> tuple[list[str], list[str]]:
        """(words that tokenize to <unk>, words that tokenize to nothing)."""
        unknown, empty = [], []
        tok = self.embedder.tokenizer
        for word in prompt.split():
            ids = [int(i) for i in tok([word])[0].tolist()]
            content = [i for i in ids if i not in self._special]
            if not content:
                empty.append(word)
            elif self._unk is not None and self._unk in content:
                unknown.append(word)
        return unknown, empty

    def check_prompt(self, prompt: str) -> None:
        """One-line InputError for prompts the encoder cannot read."""
        if not prompt or not prompt.strip():
            raise InputError("the prompt is empty", "give a caption-like prompt, e.g. \"a red circle on a white background\"")
        unknown, empty = self.problem_words(prompt)
        if unknown or empty:
            parts = []
            if unknown:
                parts.append(f"unknown to the tokenizer (<unk>): {', '.join(repr(w) for w in unknown)}")
            if empty:
                parts.append(f"tokenize to nothing: {', '.join(repr(w) for w in empty)}")
            raise InputError(
                f"prompt {prompt!r} has words the text encoder '{self.name}' cannot read — " + "; ".join(parts),
                "rephrase with words from the training captions",
            )

"""Zero-shot concept prompts for the card: the default list, and loading a user-edited one.

A prompt file is JSON `{"group": ["prompt", ...], ...}` or text lines `group: prompt` (# comments).
Groups listed in AGGREGATE_ONLY (people attributes) are reported as counts only: no example images.
"""

from __future__ import annotations

import json
from pathlib import Path

from audit.errors import InputError

DEFAULT_PROMPTS: dict[str, list[str]] = {
    "subject": ["a photo of an animal", "a photo of a person", "a plant or flower", "a building",
                "a landscape", "food or drink", "a vehicle", "a tool or object", "an icon or symbol",
                "text or a sign", "a map or flag"],
    "style": ["a photograph", "clip art", "a line drawing", "a cartoon", "a painting", "a flat icon",
              "a diagram", "a pattern or texture"],
    "people": ["no people", "one person", "a group of people"],
}
#: Groups whose results are aggregate counts only (no per-image drill-down, no example thumbnails).
AGGREGATE_ONLY = frozenset({"people"})
#: Limits stated in every card next to the concept table.
LIMITS = ("Each image is assigned to the single best-scoring prompt of each group (CLIP zero-shot, softmax "
          "over the group's prompts at temperature 0.01); shares are only as good as the CLIP model, and "
          "a randomly initialised or tiny model gives arbitrary assignments. Prompts not in a group cannot "
          "be found. People-related groups are reported in aggregate only; nothing infers identity, age, "
          "gender or ethnicity.")


def load_prompts(path: str | Path | None) -> dict[str, list[str]]:
    """The default prompts, or those in `path` (JSON mapping or `group: prompt` lines)."""
    if path is None:
        return {g: list(p) for g, p in DEFAULT_PROMPTS.items()}
    p = Path(path)
    if not p.is_file():
        raise InputError(f"prompt file {p} does not exist", "pass a JSON {group: [prompts]} or 'group: prompt' lines")
    return parse_prompts(p.read_text(encoding="utf-8"), str(p))


def prompts_text(prompts: dict[str, list[str]]) -> str:
    """The editable `group: prompt` form of a prompt mapping (what the app shows)."""
    return "\n".join(f"{g}: {p}" for g, ps in prompts.items() for p in ps) + "\n"


def parse_prompts(text: str, name: str = "prompts") -> dict[str, list[str]]:
    """Prompts from JSON `{group: [prompts]}` or `group: prompt` lines; `name` is used in error messages."""
    groups: dict[str, list[str]] = {}
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno})",
                             "fix the file or use 'group: prompt' lines") from None
        for g, items in data.items():
            if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                raise InputError(f"{name}: group '{g}' is not a list of strings", 'use {"group": ["prompt", ...]}')
            groups[str(g)] = [s.strip() for s in items if s.strip()]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if ":" not in line:
                raise InputError(f"{name} line {n}: '{line[:40]}' has no 'group:' prefix", "write lines as 'group: prompt'")
            g, prompt = (s.strip() for s in line.split(":", 1))
            if prompt:
                groups.setdefault(g or "concepts", []).append(prompt)
    groups = {g: ps for g, ps in groups.items() if ps}
    if not groups:
        raise InputError(f"{name} holds no prompts", "add at least one 'group: prompt' line")
    return groups

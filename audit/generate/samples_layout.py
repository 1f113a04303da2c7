"""The owner of a samples directory (what `audit generate sample` writes): file names, the check before replacing
one, and the readers every consumer uses (memorisation scan, provenance stamping, experiments, demo).

    SAMPLES_DIR/p000_000.png     image i of prompt p (seed = --seed + i), possibly C2PA-stamped
    SAMPLES_DIR/samples.parquet  one row per image: path, prompt, seed, index, prompt_index, model_hash, steps,
                                 guidance, width, height, upscaled_from ("WxH" when saved upscaled for --durable)
    SAMPLES_DIR/meta.json        kind="samples": model dir + hash, prompts, n, seed, steps, guidance, count

Light module: pandas loads inside the readers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from audit.errors import ArtefactError
from audit.meta import META_NAME

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

KIND = "samples"
SAMPLES_NAME = "samples.parquet"
IMAGE_SUFFIX = ".png"


def image_name(prompt_index: int, i: int) -> str:
    """File name of image `i` of prompt `prompt_index` (sorting by name gives prompt order, then seed order)."""
    return f"p{prompt_index:03d}_{i:03d}{IMAGE_SUFFIX}"


def table_path(samples_dir: str | Path) -> Path:
    return Path(samples_dir) / SAMPLES_NAME


def is_samples_dir(path: str | Path) -> bool:
    """Whether `path` holds earlier samples (its meta.json says kind="samples"), so it may be replaced."""
    meta = Path(path) / META_NAME
    try:
        return json.loads(meta.read_text(encoding="utf-8", errors="replace")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False


def sample_images(samples_dir: str | Path) -> list[Path]:
    """The sample images of a samples dir, in name order (prompt, then seed)."""
    return sorted(Path(samples_dir).glob(f"*{IMAGE_SUFFIX}"))


def read_samples_table(samples_dir: str | Path, columns: list[str] | None = None) -> "pd.DataFrame":
    """samples.parquet of a samples dir; ArtefactError when it is missing or unreadable."""
    import pandas as pd

    path = table_path(samples_dir)
    if not path.is_file():
        raise ArtefactError(f"{path} is missing", "write the samples with `audit generate sample`")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ArtefactError(f"{path} is not readable ({str(exc)[:100]})", "generate the samples again") from None


def native_sizes(samples_dir: str | Path) -> dict[str, tuple[int, int]]:
    """File name -> (width, height) the generator produced, for samples saved upscaled (`--durable` needs
    256 px for the watermark). Empty when the folder has no samples.parquet or nothing was upscaled."""
    if not table_path(samples_dir).is_file():
        return {}
    try:
        df = read_samples_table(samples_dir, ["path", "upscaled_from"])
    except ArtefactError:  # an older samples.parquet without the column, or not ours: no hint
        return {}
    out = {}
    for name, size in zip(df["path"].astype(str), df["upscaled_from"]):
        try:
            w, h = (int(v) for v in str(size).lower().split("x"))
        except ValueError:
            continue
        out[Path(name).name] = (w, h)
    return out

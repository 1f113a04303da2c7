"""Rebuild docs/img/memorised_pairs.png from `audit demo`'s output (run `audit demo` first).

Top row: samples of the shipped generator for captions it saw x100 (and one it saw once);
bottom row: the training image the memorisation scan matched, with its verdict.

    python docs/img/make_memorised_pairs.py demo docs/img/memorised_pairs.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

TILE = 96


def main(demo: Path, dest: Path) -> None:
    matches = pd.read_parquet(demo / "memorisation" / "matches.parquet")
    picks = matches[matches["query_path"].str.contains(r"p00[0-4]_000")].sort_values("query_path")
    sheet = Image.new("RGB", (TILE * len(picks), TILE * 2 + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(picks.itertuples()):
        gen = Image.open(row.query_path).convert("RGB").resize((TILE, TILE), Image.Resampling.NEAREST)
        train = Image.open(row.match_path).convert("RGB")
        side = min(train.size)
        left, top = (train.width - side) // 2, (train.height - side) // 2
        train = train.crop((left, top, left + side, top + side)).resize((TILE, TILE))
        sheet.paste(gen, (i * TILE, 0))
        sheet.paste(train, (i * TILE, TILE))
        draw.text((i * TILE + 4, 2 * TILE + 2), str(row.verdict), fill="black")
    sheet.save(dest)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

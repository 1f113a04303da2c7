"""Dataset cards: what a training set holds (counts, licences, authors, duplicates, opt-outs, concepts).

    from audit.card import build_card, write_card
    write_card(build_card("data/reference", index="demo/index"), "card/")
"""

from __future__ import annotations

from audit.card.build import CardComparison, DatasetCard, build_card, compare_cards, read_key_list
from audit.card.prompts import DEFAULT_PROMPTS, load_prompts, parse_prompts, prompts_text
from audit.card.render import render_html, write_card

__all__ = ["DatasetCard", "CardComparison", "build_card", "compare_cards", "read_key_list", "render_html",
           "write_card", "DEFAULT_PROMPTS", "load_prompts", "parse_prompts", "prompts_text"]

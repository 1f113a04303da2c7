"""The crawler table (crawlers.json): which user agents collect training data, which fetch for live answers or search.

Data, not code: each row names its operator, the page that documents its purpose and the date it was
transcribed. Only `purpose == "training"` crawlers are training crawlers; a robots.txt group for one of
them is reported for information, and binds only that crawler (RFC 9309 §2.2.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from audit.optout.base import product_token

TABLE = Path(__file__).with_name("crawlers.json")
PURPOSES = ("training", "live-answers", "search")


@dataclass(frozen=True)
class Crawler:
    name: str
    purpose: str
    operator: str
    source: str
    date: str

    @property
    def token(self) -> str:
        return product_token(self.name)


@lru_cache(maxsize=1)
def crawlers() -> tuple[Crawler, ...]:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    rows = tuple(Crawler(r["name"], r["purpose"], r["operator"], r["source"], r["date"]) for r in data["crawlers"])
    bad = [r.name for r in rows if r.purpose not in PURPOSES]
    if bad:  # a malformed table is a packaging bug, caught by the tests
        raise ValueError(f"{TABLE}: unknown purpose for {', '.join(bad)}")
    return rows


def table_version() -> str:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    return f"v{data['version']} ({data['updated']})"


def lookup(agent: str) -> Crawler | None:
    token = product_token(agent)
    return next((c for c in crawlers() if c.token == token), None)


def training_crawlers() -> tuple[Crawler, ...]:
    return tuple(c for c in crawlers() if c.purpose == "training")


def is_training_crawler(agent: str) -> bool:
    c = lookup(agent)
    return c is not None and c.purpose == "training"

"""The column-wise kernels behind `check`, each against a plain-Python reference on awkward input:
byte-level tokeniser, hex hash parser, token spans (the Hamming join: tests/test_index_hamming.py)."""

from __future__ import annotations

import random
import re
import unicodedata

import pyarrow as pa
import pytest

from audit.optout import normalise as N


def _reference_tokens(texts):
    low, orig, parents = [], [], []
    for row, t in enumerate(texts):
        t = "".join(c for c in unicodedata.normalize("NFKD", t or "") if unicodedata.category(c) != "Mn")
        for tok in re.split(r"[\W_]+", t):
            if tok:
                orig.append(tok)
                low.append(tok.lower())
                parents.append(row)
    return low, orig, parents


def test_tokenise_matches_reference_including_row_edges_and_unicode():
    texts = ["Claude Monet", "O'Keeffe", "", None, "water_lilies by CLAUDE  MONÉT!", "Ünïcödé Straße", "漢字 テスト ok",
             "ab", "x1-y2", "trail  ", "émoji 😀 here", "naïve café", "end", "Zoë", "Ångström12", "tab\tnew\nline"]
    rng = random.Random(3)
    alpha = "abcXYZ09 _-'.éÉüß漢😀\t"
    texts += ["".join(rng.choice(alpha) for _ in range(rng.randint(0, 10))) for _ in range(200)]
    low, orig, parents = N.tokenise(texts)
    assert (low.to_pylist(), orig.to_pylist(), parents.to_pylist()) == _reference_tokens(texts)
    sliced = pa.array(texts, type=pa.large_string()).slice(4, 9)  # an Arrow slice: non-zero offset
    assert N.tokenise(sliced)[0].to_pylist() == _reference_tokens(texts[4:13])[0]
    assert [x.to_pylist() for x in N.tokenise([])] == [[], [], []]


def test_hex_to_uint64_edge_cases():
    vals = ["fffffffffffffff0", "0x00000000000000FF", " 0123456789abcdef ", "zz", None, "", "1",
            "0123456789abcdeg", "ffffffffffffffff0", "é123456789abcdef"]
    codes, ok = N.hex_to_uint64(vals)
    assert ok.tolist() == [True, True, True] + [False] * 7
    assert [int(c) for c in codes[:3]] == [0xFFFFFFFFFFFFFFF0, 0xFF, 0x0123456789ABCDEF]
    assert codes[3:].tolist() == [0] * 7


@pytest.mark.parametrize("text,index,tokens,span", [
    ("water lilies by Claude  MONET.", 3, ("claude", "monet"), (16, 29)),
    ("Monet, Monet and Claude Monet", 3, ("claude", "monet"), (17, 29)),
    ("by Zoë Müller", 1, ("zoe", "muller"), (3, 13)),  # non-ASCII: falls back to the folding search
])
def test_token_span(text, index, tokens, span):
    assert N.token_span(text, index, tokens) == span
    assert N.find_span(text, tokens) == span

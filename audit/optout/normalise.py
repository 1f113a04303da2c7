"""Canonical forms for URLs, hosts, hashes and names, computed column-wise with pyarrow.

Matching is only as good as normalisation: hosts are case-folded, IDNs turned into punycode,
default ports and fragments dropped; names are accent-stripped and split into word tokens so that
"Monet" matches "Claude MONET" but never "Claude Monetti". Everything here works on whole columns
(Arrow compute kernels); Python loops only run over *unique* non-ASCII hosts.
"""

from __future__ import annotations

import unicodedata
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_URL_RE = r"^\s*(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<netloc>[^/?#\s]*)(?P<rest>[^#\s]*)(?:#\S*)?\s*$"


def _L(s: str | None) -> pa.Scalar:
    return pa.scalar(s, pa.large_string())


def idna_host(host: str) -> str | None:
    """Punycode form of one lower-case host, or None when it is not a valid host name."""
    host = host.strip().rstrip(".")
    if not host or len(host) > 253 or any(c in host for c in " \t\"<>\\^`{|}"):
        return None
    if host.isascii():
        return host.lower()
    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(label.casefold().encode("idna").decode("ascii"))
        except UnicodeError:
            return None
    return ".".join(labels)


def _as_string_array(values: Iterable[str | None] | pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string()) if values.type != pa.large_string() else values
    return pa.array(list(values), type=pa.large_string())


def normalise_hosts(hosts: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(canonical host or null, error or null) for a column of raw host strings."""
    hosts = _as_string_array(hosts)
    lowered = pc.utf8_lower(pc.utf8_trim(hosts, characters=". "))
    ok_ascii = pc.and_(pc.string_is_ascii(lowered), pc.match_substring_regex(lowered, r"^[a-z0-9_\-]+(\.[a-z0-9_\-]+)*$"))
    ok_ascii = pc.fill_null(ok_ascii, False)
    out = pc.if_else(ok_ascii, lowered, pa.scalar(None, pa.large_string()))
    todo = pc.and_(pc.invert(ok_ascii), pc.invert(pc.is_null(lowered)))
    todo = pc.and_(todo, pc.not_equal(pc.fill_null(lowered, ""), ""))
    if pc.any(todo).as_py():
        idx = np.flatnonzero(np.asarray(todo.to_numpy(zero_copy_only=False), dtype=bool))
        raw = pc.take(lowered, pa.array(idx)).to_pylist()
        cache = {h: idna_host(h) for h in set(raw)}  # unique non-ASCII / odd hosts only
        vals = out.to_pylist()
        for i, h in zip(idx, raw):
            vals[i] = cache[h]
        out = pa.array(vals, type=pa.large_string())
    err = pc.if_else(pc.and_(pc.is_null(out), pc.invert(pc.is_null(hosts))), "invalid host", pa.scalar(None, pa.large_string()))
    return out, err


def split_urls(urls: Iterable[str | None] | pa.Array) -> dict[str, pa.Array]:
    """Column-wise URL parse: scheme, host (punycode, lower case), url_key (host+port+path+query), error.

    `url_key` drops the scheme (http and https name the same work for opt-out purposes) and the
    fragment, so one registry entry covers every spelling of a URL.
    """
    arr = _as_string_array(urls)
    parts = pc.extract_regex(pc.fill_null(arr, ""), _URL_RE)
    valid = pc.fill_null(pc.is_valid(parts), False)
    scheme = pc.utf8_lower(pc.struct_field(parts, "scheme"))
    netloc = pc.struct_field(parts, "netloc")
    rest = pc.struct_field(parts, "rest")
    netloc = pc.replace_substring_regex(netloc, r"^[^@]*@", "")  # user info
    hp = pc.extract_regex(netloc, r"^(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>[0-9]*))?$")
    hp_ok = pc.fill_null(pc.is_valid(hp), False)
    raw_host = pc.struct_field(hp, "host")
    port = pc.fill_null(pc.struct_field(hp, "port"), "")
    host, host_err = normalise_hosts(raw_host)
    default_port = pc.fill_null(pc.replace_substring_regex(scheme, "^https$", "443"), "")
    default_port = pc.replace_substring_regex(default_port, "^http$", "80")
    keep_port = pc.and_(pc.not_equal(port, ""), pc.not_equal(port, default_port))
    hostport = pc.if_else(keep_port, pc.binary_join_element_wise(host, port, _L(":")), host)
    path = pc.if_else(pc.equal(pc.fill_null(rest, ""), ""), "/", rest)
    path = pc.if_else(pc.starts_with(path, "?"), pc.binary_join_element_wise(_L("/"), path, _L("")), path)
    good = pc.and_(pc.and_(valid, hp_ok), pc.invert(pc.is_null(host)))
    good = pc.fill_null(good, False)
    null = pa.scalar(None, pa.large_string())
    url_key = pc.if_else(good, pc.binary_join_element_wise(hostport, path, _L("")), null)
    is_null_in = pc.is_null(arr)
    error = pc.if_else(
        is_null_in, null,
        pc.if_else(pc.invert(valid), "malformed URL (expected scheme://host/path)",
                   pc.if_else(pc.invert(hp_ok), "bad port", pc.if_else(good, null, pc.fill_null(host_err, "invalid host")))),
    )
    error = pc.if_else(pc.equal(pc.fill_null(arr, "x"), ""), "empty URL", error)
    return {"scheme": scheme, "host": pc.if_else(good, host, null), "hostport": pc.if_else(good, hostport, null),
            "url_key": url_key, "url_error": error}


def url_key(url: str) -> str | None:
    """The canonical key of one URL (see `split_urls`), or None if it is not a usable URL."""
    return split_urls([url])["url_key"][0].as_py()


def prefix_key(prefix: str) -> str | None:
    """Canonical key of a URL prefix; a bare scheme+host prefix gets its '/'."""
    key = url_key(prefix)
    if key is None:
        return None
    # keep a trailing '*' wildcard out of the key: prefixes are prefixes already
    return key[:-1] if key.endswith("*") else key


def domain_key(domain: str) -> str | None:
    """Canonical domain: accepts 'Example.COM', '*.example.com', 'https://example.com/x' or an IDN."""
    d = domain.strip()
    if "://" in d:
        parts = split_urls([d])
        host = parts["host"][0].as_py()
        return host.split(":")[0] if host else None
    d = d.lstrip("*").lstrip(".").split("/")[0]
    return idna_host(d)


def host_suffixes(host: str) -> list[str]:
    """'a.b.example.com' -> ['a.b.example.com', 'b.example.com', 'example.com', 'com']."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def hex_to_uint64(values: Iterable[str | None] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse 16-hex-digit perceptual hashes; returns (uint64 codes, valid mask). Bad values are masked."""
    arr = _as_string_array(values)
    s = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(arr, "")))
    s = pc.replace_substring_regex(s, "^0x", "")
    ok = pc.fill_null(pc.match_substring_regex(s, "^[0-9a-f]{16}$"), False)
    okn = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    padded = pc.if_else(ok, s, "0000000000000000").to_numpy(zero_copy_only=False).astype("U16")
    codes = np.zeros(len(padded), dtype=np.uint64)
    if len(padded):
        # two 32-bit halves, parsed by numpy without a Python loop
        b = np.char.encode(padded, "ascii").view(np.uint8).reshape(-1, 16)
        nib = np.where(b >= ord("a"), b - ord("a") + 10, b - ord("0")).astype(np.uint64)
        shifts = np.arange(60, -1, -4, dtype=np.uint64)
        codes = np.bitwise_or.reduce(nib << shifts, axis=1)
    codes[~okn] = 0
    return codes, okn


# ---------------------------------------------------------------- names

def tokenise(texts: Iterable[str | None] | pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Word tokens of a text column: (tokens lower-cased, tokens as written, parent row index).

    Accents are stripped (NFKD minus combining marks) and every run of non-letter/digit characters
    splits words, so "O'Keeffe" -> ["o", "keeffe"] for texts and registry names alike.
    """
    arr = _as_string_array(texts)
    s = pc.utf8_normalize(pc.fill_null(arr, ""), "NFKD")
    s = pc.replace_substring_regex(s, r"\p{Mn}+", "")
    s = pc.replace_substring_regex(s, r"[^\p{L}\p{N}]+", " ")
    s = pc.utf8_trim_whitespace(s)
    lists = pc.split_pattern(s, " ")
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    nonempty = pc.not_equal(flat, "")
    flat = pc.filter(flat, nonempty)
    parents = pc.filter(parents, nonempty)
    return pc.utf8_lower(flat), flat, parents


def name_tokens(name: str) -> tuple[str, ...]:
    """Tokens of one name, with exactly the normalisation `tokenise` applies to texts."""
    low, _, _ = tokenise([name])
    return tuple(low.to_pylist())


def _fold_char(c: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", c) if not unicodedata.combining(ch)).lower()


def find_span(text: str, tokens: tuple[str, ...]) -> tuple[int, int] | None:
    """Character span in the original `text` of the token sequence (word-boundary aware)."""
    import re

    pat = r"(?<![^\W_])" + r"[\W_]+".join(re.escape(t) for t in tokens) + r"(?![^\W_])"
    if text.isascii():  # fast path: folding is just lower-casing, offsets are unchanged
        m = re.search(pat, text, re.I)
        return (m.start(), m.end()) if m else None
    folded: list[str] = []
    owner: list[int] = []
    for i, c in enumerate(text):
        f = _fold_char(c) if not c.isascii() else c.lower()
        for ch in f:
            folded.append(ch if ch.isalnum() else " ")
            owner.append(i)
    m = re.search(pat, "".join(folded))
    if not m:
        return None
    return owner[m.start()], owner[m.end() - 1] + 1

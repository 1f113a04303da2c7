"""Canonical forms for URLs, hosts, hashes and names, computed column-wise with pyarrow.

Matching is only as good as normalisation: hosts are case-folded, IDNs turned into punycode,
default ports and fragments dropped; names are accent-stripped and split into word tokens so that
"Monet" matches "Claude MONET" but never "Claude Monetti". Everything here works on whole columns
(Arrow compute kernels, and numpy over the raw UTF-8 bytes of a column); Python loops only run over
*distinct* odd hosts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import pandas as pd


def _L(s: str | None) -> pa.Scalar:
    return pa.scalar(s, pa.large_string())


_HOST_RE = re.compile(r"^[a-z0-9_\-]{1,63}(\.[a-z0-9_\-]{1,63})*$")
_IPV6_RE = re.compile(r"^\[[0-9A-Fa-f:.]{2,45}\]$")


def idna_host(host: str) -> str | None:
    """Punycode form of one host, or None when it is not a valid host name (empty label, label over
    63 bytes, characters no host can hold). Underscores are tolerated: real-world hosts use them."""
    host = host.strip().rstrip(".")
    if not host or len(host) > 253:
        return None
    if host.startswith("["):  # IPv6 literal
        return host.lower() if _IPV6_RE.match(host) else None
    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(label.casefold().encode("idna").decode("ascii"))
        except UnicodeError:
            return None
    out = ".".join(labels)
    return out if len(out) <= 253 and _HOST_RE.match(out) else None


def _as_string_array(values: Iterable[str | None] | pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string()) if values.type != pa.large_string() else values
    return pa.array(list(values), type=pa.large_string())


def text_column(values: pd.Series) -> pa.Array:
    """A manifest column as Arrow large_string, nulls kept. Non-string cells (an int URL, a float
    caption from a hand-made CSV) become their text instead of failing the whole check."""
    try:  # pandas' Arrow-backed string columns convert without a copy
        direct = pa.array(values.array)
        if pa.types.is_string(direct.type) or pa.types.is_large_string(direct.type):
            return direct.cast(pa.large_string())
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
        pass
    obj = values.astype("object").where(values.notna(), None)
    try:
        return pa.array(obj, type=pa.large_string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in obj], type=pa.large_string())


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


_URL_OK_RE = r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\s]*[^#\s]*(?:#\S*)?$"
_URL_HEAD_RE = r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<netloc>[^/?#\s]*)"


def _split_netlocs(netlocs: pa.Array) -> dict[str, pa.Array]:
    """host (canonical), port, ok flags for a column of *distinct* netlocs ('user@Host:8080')."""
    netloc = pc.replace_substring_regex(netlocs, r"^[^@]*@", "")  # user info
    hp = pc.extract_regex(netloc, r"^(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>[0-9]*))?$")
    hp_ok = pc.fill_null(pc.is_valid(hp), False)
    host, host_err = normalise_hosts(pc.struct_field(hp, "host"))
    return {"host": host, "host_err": host_err, "port": pc.fill_null(pc.struct_field(hp, "port"), ""), "hp_ok": hp_ok}


def split_urls(urls: Iterable[str | None] | pa.Array) -> dict[str, pa.Array]:
    """Column-wise URL parse: scheme, host (punycode, lower case), url_key (host+port+path+query), error.

    `url_key` drops the scheme (http and https name the same work for opt-out purposes) and the
    fragment, so one registry entry covers every spelling of a URL.

    Speed (1M URLs): only cheap regexes run per row (a no-capture syntax check, scheme+netloc
    capture, one prefix strip); everything about hosts and ports runs on the *distinct* netlocs
    (dictionary-encoded: ~50k for 1M rows) and is taken back by index.
    """
    arr = _as_string_array(urls)
    null = pa.scalar(None, pa.large_string())
    is_null_in = pc.is_null(arr)
    s = pc.utf8_trim_whitespace(pc.fill_null(arr, _L("")))
    valid = pc.fill_null(pc.match_substring_regex(s, _URL_OK_RE), False)
    head = pc.extract_regex(s, _URL_HEAD_RE)
    scheme = pc.utf8_lower(pc.struct_field(head, "scheme"))
    rest = pc.replace_substring_regex(s, r"^[^:/?#\s]*://[^/?#\s]*", "", max_replacements=1)
    rest = pc.list_element(pc.split_pattern(rest, "#", max_splits=1), 0)  # drop the fragment
    enc = pc.dictionary_encode(pc.if_else(valid, pc.struct_field(head, "netloc"), null))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    parts = _split_netlocs(enc.dictionary)
    idx = enc.indices
    host, host_err = pc.take(parts["host"], idx), pc.take(parts["host_err"], idx)
    port, hp_ok = pc.take(parts["port"], idx), pc.fill_null(pc.take(parts["hp_ok"], idx), False)
    default_port = pc.if_else(pc.equal(scheme, "https"), _L("443"), pc.if_else(pc.equal(scheme, "http"), _L("80"), _L("")))
    keep_port = pc.fill_null(pc.and_(pc.not_equal(port, ""), pc.not_equal(port, default_port)), False)
    hostport = pc.if_else(keep_port, pc.binary_join_element_wise(host, port, _L(":")), host)
    path = pc.if_else(pc.equal(pc.fill_null(rest, ""), ""), _L("/"), rest)
    path = pc.if_else(pc.starts_with(path, "?"), pc.binary_join_element_wise(_L("/"), path, _L("")), path)
    good = pc.fill_null(pc.and_(pc.and_(valid, hp_ok), pc.invert(pc.is_null(host))), False)
    url_key = pc.if_else(good, pc.binary_join_element_wise(hostport, path, _L("")), null)
    error = pc.if_else(
        is_null_in, null,
        pc.if_else(pc.invert(valid), "malformed URL (expected scheme://host/path)",
                   pc.if_else(pc.invert(hp_ok), "bad port", pc.if_else(good, null, pc.fill_null(host_err, "invalid host")))),
    )
    error = pc.if_else(pc.equal(pc.fill_null(arr, "x"), ""), "empty URL", error)
    return {"scheme": pc.if_else(valid, scheme, null), "host": pc.if_else(good, host, null),
            "hostport": pc.if_else(good, hostport, null), "url_key": url_key, "url_error": error}


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


_HEX_VALUE = np.zeros(256, dtype=np.uint8)
_HEX_OK = np.zeros(256, dtype=bool)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c], _HEX_OK[_c] = _i, True
_ZERO16 = "0" * 16


def hex_to_uint64(values: Iterable[str | None] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse 16-hex-digit perceptual hashes; returns (uint64 codes, valid mask). Bad values are masked.

    No regex and no per-row Python: every value is padded to exactly 16 bytes, so the Arrow data
    buffer is an (n, 16) byte matrix that two lookup tables turn into nibbles and a validity mask."""
    arr = _as_string_array(values)
    n = len(arr)
    if not n:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    s = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(arr, "")))
    if pc.any(pc.starts_with(s, "0x")).as_py():
        s = pc.replace_substring_regex(s, "^0x", "")
    len16 = np.asarray(pc.equal(pc.binary_length(s), 16).to_numpy(zero_copy_only=False), dtype=bool)
    s16 = pc.if_else(pa.array(len16), s, _L(_ZERO16))
    if isinstance(s16, pa.ChunkedArray):
        s16 = s16.combine_chunks()
    offsets = np.frombuffer(s16.buffers()[1], dtype=np.int64)[s16.offset:s16.offset + n + 1]
    start = int(offsets[0])
    if int(offsets[-1]) - start != 16 * n:  # cannot happen with 16-byte values; stay correct if it does
        raw = np.frombuffer("".join(s16.to_pylist()).encode("ascii", "replace"), dtype=np.uint8)
    else:
        raw = np.frombuffer(s16.buffers()[2], dtype=np.uint8)[start:start + 16 * n]
    raw = raw.reshape(n, 16)
    ok = len16 & _HEX_OK[raw].all(axis=1)
    nib = _HEX_VALUE[raw]
    packed = np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2])  # (n, 8) bytes, most significant first
    codes = packed.view(">u8").ravel().astype(np.uint64)
    codes[~ok] = 0
    return codes, ok


# ---------------------------------------------------------------- names

def _string_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(row offsets relative to the returned bytes, the bytes) of a large_string array without nulls."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = arr.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], raw[offsets[0]:offsets[-1]]


def _clean_unicode(s: pa.Array) -> pa.Array:
    """Accents stripped (NFKD minus combining marks), every run of non-letter/digit characters -> ' '."""
    s = pc.utf8_normalize(s, "NFKD")
    s = pc.replace_substring_regex(s, r"\p{Mn}+", "")
    return pc.replace_substring_regex(s, r"[^\p{L}\p{N}]+", " ")


def tokenise(texts: Iterable[str | None] | pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Word tokens of a text column: (tokens lower-cased, tokens as written, parent row index).

    Accents are stripped (NFKD minus combining marks) and every run of non-letter/digit characters
    splits words, so "O'Keeffe" -> ["o", "keeffe"] for texts and registry names alike.

    Speed: Unicode regexes cost ~1 s per million captions, so only non-ASCII rows go through them;
    then words are cut from the raw UTF-8 bytes with numpy lookup tables (ASCII letters/digits and
    any non-ASCII byte are word bytes) and the token column is assembled from those bytes directly.
    """
    arr = _as_string_array(texts)
    arr = pc.fill_null(arr, _L(""))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    non_ascii = pc.invert(pc.string_is_ascii(arr))
    if pc.any(non_ascii).as_py():
        cleaned = _clean_unicode(pc.filter(arr, non_ascii))
        arr = pc.replace_with_mask(arr, non_ascii, cleaned)
    n = len(arr)
    offsets, data = _string_bytes(arr)
    # uint8 arithmetic (SIMD) rather than table gathers: word = [0-9A-Za-z] or any non-ASCII byte
    word = ((data | np.uint8(32)) - np.uint8(ord("a")) < 26) | (data - np.uint8(ord("0")) < 10) | (data >= 128)
    # a token starts at a word byte whose predecessor is not a word byte or lies in the previous row
    edge = np.empty(len(data) + 1, dtype=bool)
    edge[0] = edge[-1] = True
    np.not_equal(word[1:], word[:-1], out=edge[1:-1])
    edge[offsets] = True  # row boundaries cut tokens
    cuts = np.flatnonzero(edge)  # every token is [cut_k, cut_k+1) for a cut_k that begins a word run
    is_tok = word[cuts[:-1]]  # cuts[:-1] < len(data): the last cut is the end of the data
    starts, ends = cuts[:-1][is_tok], cuts[1:][is_tok]
    lengths = ends - starts
    tok_offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=tok_offsets[1:])
    orig_bytes = data[word]  # the tokens' bytes, in order, back to back
    per_row = np.diff(np.searchsorted(starts, offsets, side="left"))  # 1M needles into 10M tokens, not the reverse
    parents = pa.array(np.repeat(np.arange(n, dtype=np.int64), per_row), type=pa.int64())
    off_buf = pa.py_buffer(tok_offsets)
    orig = pa.LargeStringArray.from_buffers(len(starts), off_buf, pa.py_buffer(orig_bytes.tobytes()))
    upper = (orig_bytes - np.uint8(ord("A"))) < 26
    low = pa.LargeStringArray.from_buffers(len(starts), off_buf, pa.py_buffer((orig_bytes | (upper.astype(np.uint8) << 5)).tobytes()))
    if (orig_bytes >= 128).any():
        low = pc.utf8_lower(low)  # non-ASCII letters: Unicode case folding on the (few) tokens
    return low, orig, parents


def name_tokens(name: str) -> tuple[str, ...]:
    """Tokens of one name, with exactly the normalisation `tokenise` applies to texts."""
    low, _, _ = tokenise([name])
    return tuple(low.to_pylist())


def _fold_char(c: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", c) if not unicodedata.combining(ch)).lower()


def find_span(text: str, tokens: tuple[str, ...]) -> tuple[int, int] | None:
    """Character span in the original `text` of the token sequence (word-boundary aware)."""
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


_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


def token_span(text: str, index: int, tokens: tuple[str, ...]) -> tuple[int, int] | None:
    """Character span of `tokens`, known to start at word token `index` of `text` (from `find_names`).

    For ASCII text the tokens `tokenise` makes are exactly the runs of [A-Za-z0-9], so the span comes
    from one precompiled scan; anything else (or a disagreement) falls back to `find_span`, whose
    per-name regex costs ~0.3 ms to compile — too slow for tens of thousands of matches."""
    n = len(tokens)
    if text.isascii() and index >= 0 and n:
        found = []
        for i, m in enumerate(_ASCII_TOKEN.finditer(text)):
            if i >= index:
                found.append(m)
                if len(found) == n:
                    break
        if len(found) == n and all(m.group().lower() == t for m, t in zip(found, tokens)):
            return found[0].start(), found[-1].end()
    return find_span(text, tokens)

"""Read machine-readable Debian copyright files (DEP-5): who made a file and under which licence.

Patterns in `Files:` are relative to the upstream source tree, not to where the package installs
the file, so a pattern matches an installed path by its trailing components (best), or by file name.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Dep5Stanza:
    files: tuple[str, ...]
    copyright: tuple[str, ...]  # one entry per line, as written
    license: str  # short name (first line of License:)


def _fields(paragraph: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in paragraph:
        if line[:1] in (" ", "\t"):
            if current is not None:
                out[current].append(line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        current = name.strip().lower()
        out[current] = [value.strip()] if value.strip() else []
    return out


def parse_dep5(text: str) -> list[Dep5Stanza]:
    """Files stanzas of a DEP-5 copyright file, in file order (later stanzas win on a tie)."""
    stanzas: list[Dep5Stanza] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        f = _fields([ln for ln in block.split("\n") if ln.strip() != "."])
        if "files" not in f:
            continue
        files = tuple(p for entry in f["files"] for p in entry.split())
        lic = (f.get("license") or [""])[0].strip()
        stanzas.append(Dep5Stanza(files, tuple(x for x in f.get("copyright", []) if x), lic))
    return stanzas


def _score(pattern: str, path: PurePosixPath) -> int:
    """2: pattern matches the path's trailing components; 1: matches the file name; 0: catch-all '*'."""
    if pattern == "*":
        return 0
    parts = pattern.strip("/").split("/")
    tail = "/".join(path.parts[-len(parts):])
    if len(path.parts) >= len(parts) and fnmatch.fnmatchcase(tail, pattern):
        return 2
    base = parts[-1]
    if base not in ("*", "*.*") and fnmatch.fnmatchcase(path.name, base):
        return 1
    return -1


def match_stanza(stanzas: list[Dep5Stanza], installed_path: str) -> Dep5Stanza | None:
    """The stanza that governs an installed file (best match; the last one among equals)."""
    path = PurePosixPath(installed_path)
    best, best_score = None, -1
    for st in stanzas:
        score = max((_score(p, path) for p in st.files), default=-1)
        if score >= best_score and score >= 0:
            best, best_score = st, score
    return best


_YEARS = re.compile(r"(?:(?:19|20)\d\d(?:\s*-\s*(?:19|20)?\d\d)?[,.]?\s*)+")
_EMAIL = re.compile(r"<[^>]*>")


def clean_holder(line: str) -> str:
    """'2008, Hylke Bons <x@y>' / 'Peter Nerlich, 2018' -> 'Hylke Bons' / 'Peter Nerlich'."""
    s = _EMAIL.sub("", line)
    s = re.sub(r"\(c\)|©|copyright", "", s, flags=re.I)
    s = _YEARS.sub(" ", s)
    s = s.strip(" ,.;:´'`")
    return re.sub(r"\s+", " ", s)


def holders(stanza: Dep5Stanza) -> str | None:
    """Copyright holders of a stanza as one string ('A; B'), or None if it names nobody."""
    names = []
    for line in stanza.copyright:
        low = line.lower()
        if "no copyright" in low or "copyright holder" in low:
            continue
        name = clean_holder(line)
        if name and name not in names:
            names.append(name)
    return "; ".join(names) or None


_BY = re.compile(r"_by_+(?P<name>[A-Za-z0-9][^.]*)$")


def author_from_filename(name: str) -> str | None:
    """`Kleiber_by_Lukas_Baubkus.jpg` -> 'Lukas Baubkus' (the Ubuntu wallpaper contest convention)."""
    m = _BY.search(PurePosixPath(name).stem)
    if not m:
        return None
    return m.group("name").replace("_", " ").strip() or None

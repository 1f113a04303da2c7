"""A workspace: one directory whose `workspace.toml` names every artefact the review app works on.

Why: the app's pages used to guess each path from the working directory (`./requests.db`, `./optout.db`, …), so
what `audit demo` wrote and what the app opened disagreed. A workspace file names them once, relative to its own
directory, so the app behaves the same wherever it is started. A relative path must stay inside the workspace
(a file handed around must not point the app at `../../somewhere`); an absolute path is allowed because the
person who wrote it said so explicitly.

    [workspace]
    name = "demo"
    [paths]
    index = "index"                    # training-set index (search, artist lookup, card)
    training_index = "generator-index" # index of the generator's training set (memorisation scans)
    registry = "optout.db"             # opt-out registry (SQLite)
    requests = "removal/requests.db"   # removal requests + audit log (SQLite)
    removal_index = "removal/index"    # index removal requests locate in and erase from
    ca = "ca"                          # test CA: signs stamps; its root is the trust anchor
    trust = ""                         # optional extra trust anchor (PEM); blank: the CA's root
    store = "durable/store"            # manifest store of durable Content Credentials
    report = "memorisation"            # memorisation report the auditor opens first
    runs = "runs"                      # where the app writes generations, stamps and new scans
    generator = "/abs/path/generator"  # reference generator model dir
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from audit import config
from audit.atomic import write_text
from audit.errors import InputError
from audit.provenance.ca import DEFAULT_CA_DIR
from audit.provenance.store import DEFAULT_STORE_DIR

WORKSPACE_FILE = "workspace.toml"
FORMAT_VERSION = 1
#: Fields that may be blank (then: not configured).
OPTIONAL = ("trust",)
#: Path fields in file order, with what each one is (shown in the app's sidebar).
PATH_FIELDS: dict[str, str] = {
    "index": "training-set index",
    "training_index": "generator's training index",
    "registry": "opt-out registry",
    "requests": "removal requests",
    "removal_index": "removal index",
    "ca": "signing CA",
    "trust": "extra trust anchor",
    "store": "manifest store",
    "report": "memorisation report",
    "runs": "app output folder",
    "generator": "generator",
}


@dataclass(frozen=True)
class Workspace:
    """Resolved, absolute paths of one workspace; `root` is the directory holding workspace.toml."""

    root: Path
    name: str
    index: Path
    training_index: Path
    registry: Path
    requests: Path
    removal_index: Path
    ca: Path
    trust: Path | None
    store: Path
    report: Path
    runs: Path
    generator: Path
    #: False for the fallback built from environment variables when no workspace.toml exists.
    from_file: bool = True

    @property
    def file(self) -> Path:
        return self.root / WORKSPACE_FILE

    def paths(self) -> dict[str, Path | None]:
        return {name: getattr(self, name) for name in PATH_FIELDS}

    def trust_anchor(self) -> Path | None:
        """What verification trusts: the explicit anchor, else the workspace CA (if it exists)."""
        if self.trust is not None:
            return self.trust
        return self.ca if self.ca.exists() else None

    def run_dir(self, kind: str, stamp: str) -> Path:
        """A fresh output folder for one app action (e.g. runs/generate-20261203-041500)."""
        return self.runs / f"{kind}-{stamp}"


def _resolve(root: Path, field: str, value: object, source: Path) -> Path | None:
    if not isinstance(value, str):
        raise InputError(f"{source}: [paths] {field} must be a text path, not {type(value).__name__}",
                         f'write it as {field} = "relative/path"')
    text = value.strip()
    if not text:
        if field in OPTIONAL:
            return None
        raise InputError(f"{source}: [paths] {field} is blank", f"name the {PATH_FIELDS[field]} (relative to {root})")
    p = Path(text).expanduser()
    if p.is_absolute():
        return p
    resolved = (root / p).resolve()
    if not resolved.is_relative_to(root):
        raise InputError(f"{source}: [paths] {field} = {text!r} leaves the workspace directory",
                         "use a path inside the workspace, or an absolute path if it really lives elsewhere")
    return resolved


def default_paths() -> dict[str, str]:
    """What `audit demo` writes, relative to the demo directory (the generator is the shipped one)."""
    return {
        "index": "index", "training_index": "generator-index", "registry": "optout.db",
        "requests": "removal/requests.db", "removal_index": "removal/index", "ca": "ca", "trust": "",
        "store": "durable/store", "report": "memorisation", "runs": "runs",
        "generator": str(config.GENERATOR_DIR.resolve()),
    }


def load_workspace(directory: str | Path) -> Workspace:
    """Read DIR/workspace.toml (or the file itself); every bad value is a one-line InputError naming the field."""
    d = Path(directory).expanduser()
    if d.is_file() and d.name == WORKSPACE_FILE:
        d = d.parent
    root = d.resolve()
    source = root / WORKSPACE_FILE
    if not root.is_dir():
        raise InputError(f"workspace {d} is not a directory", "run `audit demo` (it writes demo/workspace.toml) or "
                         "pass the folder holding a workspace.toml")
    if not source.is_file():
        raise InputError(f"{d} has no {WORKSPACE_FILE}",
                         "run `audit demo` (it writes demo/workspace.toml) or `audit workspace init DIR`")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{source} is not valid TOML ({exc})", "fix the line named, or rewrite it with "
                         "`audit workspace init DIR --overwrite`") from None
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise InputError(f"{source}: version {version!r} is not supported (this genaudit reads {FORMAT_VERSION})",
                         "upgrade genaudit or rewrite the file with `audit workspace init`")
    paths = data.get("paths")
    if not isinstance(paths, dict):
        raise InputError(f"{source} has no [paths] table", "add one naming index, registry, requests, … (see docs)")
    unknown = sorted(set(paths) - set(PATH_FIELDS))
    if unknown:
        raise InputError(f"{source}: unknown [paths] key(s) {', '.join(unknown)}",
                         f"use {', '.join(PATH_FIELDS)}")
    defaults = default_paths()
    resolved = {f: _resolve(root, f, paths.get(f, defaults[f]), source) for f in PATH_FIELDS}
    raw_info = data.get("workspace")
    info: dict[str, object] = raw_info if isinstance(raw_info, dict) else {}
    name = str(info.get("name") or root.name)
    return Workspace(root=root, name=name, **resolved)  # type: ignore[arg-type]


def workspace_toml(name: str, paths: Mapping[str, str]) -> str:
    """The text of a workspace.toml (strings written as TOML basic strings)."""
    lines = ["# genaudit workspace: relative paths are inside this directory (see audit/workspace.py)",
             f"version = {FORMAT_VERSION}", "", "[workspace]", f"name = {json.dumps(name)}", "", "[paths]"]
    for f, what in PATH_FIELDS.items():
        lines.append(f"{f} = {json.dumps(str(paths.get(f, '')))}  # {what}")
    return "\n".join(lines) + "\n"


def write_workspace(directory: str | Path, name: str | None = None, paths: Mapping[str, str] | None = None,
                    overwrite: bool = True) -> Path:
    """Write DIR/workspace.toml atomically (the demo's layout unless `paths` says otherwise); returns its path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    target = d / WORKSPACE_FILE
    if target.exists() and not overwrite:
        raise InputError(f"{target} exists", "pass --overwrite to replace it")
    write_text(target, workspace_toml(name or d.resolve().name, {**default_paths(), **(paths or {})}))
    load_workspace(d)  # what was written must read back
    return target


def from_environment(environ: Mapping[str, str] | None = None) -> Workspace:
    """The fallback without a workspace.toml: the single-artefact variables (GENAUDIT_INDEX, …) or their defaults,
    made absolute now so a later change of working directory changes nothing."""

    def env(name: str, default: Path) -> Path:
        value = config.env_value(name, environ)
        return (Path(value).expanduser() if value else default).resolve()

    index = env(config.ENV_INDEX, config.DEFAULT_INDEX_DIR)
    return Workspace(
        root=Path.cwd().resolve(), name="(no workspace file)", index=index, training_index=index,
        registry=env(config.ENV_OPTOUT_REGISTRY, config.DEFAULT_OPTOUT_REGISTRY),
        requests=env(config.ENV_REMOVAL_DB, config.DEFAULT_REMOVAL_DB), removal_index=index,
        ca=DEFAULT_CA_DIR, trust=None, store=DEFAULT_STORE_DIR,
        report=env(config.ENV_REPORT, config.DEFAULT_REPORT_DIR), runs=(Path.cwd() / "runs").resolve(),
        generator=env(config.ENV_GENERATOR, config.GENERATOR_DIR), from_file=False,
    )


def current_workspace(directory: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Workspace:
    """The workspace the app opens: DIR if given, else $GENAUDIT_WORKSPACE, else ./demo if it has a workspace.toml,
    else the environment fallback."""
    chosen = directory if directory is not None and str(directory).strip() else config.workspace_dir(environ)
    if chosen is not None:
        return load_workspace(chosen)
    if (config.DEMO_DIR / WORKSPACE_FILE).is_file() and config.env_value(config.ENV_INDEX, environ) is None:
        return load_workspace(config.DEMO_DIR)
    return from_environment(environ)


def describe(ws: Workspace) -> list[tuple[str, str, bool]]:
    """(what, path, exists) per configured path, for the sidebar and `audit app`'s start-up lines."""
    out = []
    for f, what in PATH_FIELDS.items():
        p = getattr(ws, f)
        if p is None:
            continue
        out.append((what, str(p), Path(p).exists()))
    return out


__all__ = ["WORKSPACE_FILE", "PATH_FIELDS", "Workspace", "load_workspace", "write_workspace", "current_workspace",
           "from_environment", "describe", "default_paths", "workspace_toml"]

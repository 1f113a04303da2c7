"""Fetch Debian packages with `apt-get download` (cached) and extract them with `dpkg -x`.

The .deb files are kept in `config.CACHE_DIR/debs`; each is recorded with its version and sha256
so a dataset's meta.json says exactly which upstream files it came from.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from audit import config
from audit.atomic import atomic_dir
from audit.errors import InputError
from audit.meta import sha256_file

_NO_APT_HINT = "build a dataset from your own images with `audit dataset ingest FOLDER --out DIR`"


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    deb: Path
    sha256: str
    root: Path  # extracted tree (`dpkg -x`)

    def source(self, rel: str) -> str:
        """Provenance string for a file inside the package, e.g. `debian:pkg=1.0:usr/share/x.svg`."""
        return f"debian:{self.name}={self.version}:{rel}"

    def as_meta(self) -> dict[str, str]:
        return {"package": self.name, "version": self.version, "deb": self.deb.name, "sha256": self.sha256}


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise InputError(f"`{cmd[0]}` is not available on this machine", _NO_APT_HINT) from None
    except subprocess.TimeoutExpired:
        raise InputError(f"`{' '.join(cmd)}` timed out", "check the network connection to the Debian mirror") from None


def candidate_version(name: str) -> str | None:
    """Version apt would download, or None if apt does not know the package."""
    proc = _run(["apt-cache", "policy", name])
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("Candidate:"):
            v = line.split(":", 1)[1].strip()
            return None if v in ("", "(none)") else v
    return None


def _deb_version(deb: Path) -> str:
    proc = _run(["dpkg-deb", "-f", str(deb), "Version"])
    if proc.returncode != 0:
        raise InputError(f"{deb} is not a readable .deb ({proc.stderr.strip()})", f"delete {deb} and retry")
    return proc.stdout.strip()


def fetch(name: str, cache_dir: Path | None = None) -> DebPackage:
    """Download (once) and extract (once) a Debian package; returns where its files are."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise InputError("apt-get/dpkg are not available, so Debian reference images cannot be fetched", _NO_APT_HINT)
    debs = Path(cache_dir or config.CACHE_DIR) / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    existing = sorted(debs.glob(f"{name}_*.deb"))
    version = candidate_version(name)
    deb = None
    for d in existing:
        if version is None or _deb_version(d) == version:
            deb = d
    if deb is None:
        if version is None:
            raise InputError(
                f"Debian package {name} is unknown to apt",
                "run `apt-get update` (needs access to a Debian mirror), or " + _NO_APT_HINT,
            )
        proc = _run(["apt-get", "download", name], cwd=debs)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if proc.returncode != 0 or not found:
            msg = (proc.stderr.strip().splitlines() or ["no .deb written"])[-1]
            raise InputError(f"apt-get download {name} failed: {msg}", "check network access to the Debian mirror")
        deb = next((d for d in found if _deb_version(d) == version), found[-1])
    version = _deb_version(deb)
    root = debs / f"{deb.stem}.x"
    if not (root / ".complete").is_file():
        with atomic_dir(root) as tmp:
            proc = _run(["dpkg", "-x", str(deb), str(tmp)])
            if proc.returncode != 0:
                raise InputError(f"dpkg -x {deb.name} failed: {proc.stderr.strip()}", f"delete {deb} and retry")
            (tmp / ".complete").write_text(version)
    return DebPackage(name, version, deb, sha256_file(deb), root)

"""Secrets of a removal database, kept OUTSIDE it: the HMAC key of the tamper chain, the salt of key hashes and the
Ed25519 key that signs each head appended to the head file.

Why outside: a chain anyone can recompute proves nothing (issue 16: "recomputing the chain after an edit passes"),
and a salt stored beside the hashes it salts does not stop anyone recomputing a closed request's key hashes from the
subject's name. `audit removal init-keys` creates `<db>.keys/` (mode 0700, files 0600, see audit.config); a new
database gets them on its first `connect`. Whoever holds this directory can rewrite history (docs/REMOVAL.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit import config
from audit.errors import RegistryError

HMAC_NAME = "hmac.key"
SIGNING_NAME = "ed25519.pem"
PUBLIC_NAME = "ed25519.pub"
#: Written after the first head is sealed: these keys belong to a database that exists (a missing DB is a wipe).
SEALED_NAME = "sealed"


@dataclass(frozen=True)
class RemovalKeys:
    """The loaded secrets. `key_id` names the HMAC key without revealing it; `public_id` is the signing key's
    fingerprint (print it, pin it elsewhere: `verify-log --expect-key`)."""

    directory: Path
    secret: bytes = field(repr=False)  # never in a traceback or log line
    signing_pem: bytes = field(repr=False)
    public_pem: bytes = field(repr=False)

    @property
    def chain_key(self) -> bytes:
        return hmac.new(self.secret, b"genaudit-chain", hashlib.sha256).digest()

    @property
    def salt(self) -> bytes:
        return hmac.new(self.secret, b"genaudit-salt", hashlib.sha256).digest()

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"genaudit-key-id", hashlib.sha256).hexdigest()[:16]

    @property
    def public_id(self) -> str:
        return hashlib.sha256(self.public_pem).hexdigest()[:16]

    def sign(self, data: bytes) -> str:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key: Any = load_pem_private_key(self.signing_pem, password=None)
        return bytes(key.sign(data)).hex()

    def verify(self, data: bytes, signature_hex: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        key: Any = load_pem_public_key(self.public_pem)
        try:
            key.verify(bytes.fromhex(signature_hex), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def salted(self, text: str) -> str:
        """HMAC of a manifest key with the salt: what a closed request (and the audit log) keeps instead of it."""
        return hmac.new(self.salt, f"genaudit-key:{text}".encode("utf-8"), hashlib.sha256).hexdigest()

    @property
    def sealed(self) -> bool:
        return (self.directory / SEALED_NAME).is_file()

    def mark_sealed(self) -> None:
        if not self.sealed:
            _write_secret(self.directory / SEALED_NAME, b"1\n")


def db_path(conn: sqlite3.Connection) -> Path | None:
    """The file behind `conn` (None for an in-memory database): its keys and heads live beside it."""
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return Path(file) if file else None
    return None


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def create_keys(db: str | Path) -> RemovalKeys:
    """New secrets for `db` in its keys directory; refuses to replace existing ones (that would orphan the chain)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = config.removal_keys_dir(db)
    if (d / HMAC_NAME).exists():
        raise RegistryError(f"{d} already holds keys", "keep them; replacing keys breaks the database's chain")
    tmp = d.with_name(d.name + f".tmp-{secrets.token_hex(4)}")
    tmp.mkdir(mode=0o700, parents=True)
    priv = Ed25519PrivateKey.generate()
    _write_secret(tmp / HMAC_NAME, secrets.token_bytes(32).hex().encode() + b"\n")
    _write_secret(tmp / SIGNING_NAME, priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    _write_secret(tmp / PUBLIC_NAME, priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    try:
        if d.exists():  # an empty leftover directory (a non-empty one makes rmdir fail: keys appeared meanwhile)
            d.rmdir()
        os.rename(tmp, d)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RegistryError(f"{d} was created by another process meanwhile", "retry: its keys are used then") from None
    os.chmod(d, 0o700)
    keys = load_keys(db)
    assert keys is not None
    return keys


_CACHE: dict[tuple[Any, ...], RemovalKeys] = {}


def load_keys(db: str | Path) -> RemovalKeys | None:
    """The keys of `db`, or None when its keys directory does not exist. Cached per file identity (path, inode,
    mtime), so a key file replaced on disk is read again."""
    d = config.removal_keys_dir(db)
    if not (d / HMAC_NAME).exists():
        return None
    try:
        ident = (str(d.resolve()), *((s.st_ino, s.st_mtime_ns, s.st_size)
                                     for s in ((d / n).stat() for n in (HMAC_NAME, SIGNING_NAME, PUBLIC_NAME))))
    except OSError:
        ident = None
    if ident is not None and ident in _CACHE:
        return _CACHE[ident]
    keys = _read_keys(d)
    _CACHE.clear()  # one database per process is the norm: keep the cache tiny
    if ident is not None:
        _CACHE[ident] = keys
    return keys


def _read_keys(d: Path) -> RemovalKeys:
    try:
        secret = bytes.fromhex((d / HMAC_NAME).read_text().strip())
        signing, public = (d / SIGNING_NAME).read_bytes(), (d / PUBLIC_NAME).read_bytes()
    except (OSError, ValueError) as exc:
        raise RegistryError(f"the keys in {d} are unreadable ({exc})", "restore them from your key backup") from None
    if len(secret) < 16:
        raise RegistryError(f"{d / HMAC_NAME} is too short", "restore the keys from your key backup")
    return RemovalKeys(d, secret, signing, public)

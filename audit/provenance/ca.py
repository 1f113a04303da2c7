"""A local test certificate authority for Content Credentials, and the certificate checks c2pa needs.

c2pa refuses a signing certificate without ExtendedKeyUsage (emailProtection here) or without
AuthorityKeyIdentifier, but only says "the certificate is invalid". We check those with
`cryptography` first so the user is told WHICH extension is missing. Keys are PKCS#8 PEM.
A test CA is for development: its root is trusted only where you add it (`--ca`/`--trust`).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from audit import config
from audit.atomic import atomic_dir
from audit.errors import ArtefactError, ProvenanceError
from audit.meta import make_meta, read_meta, sha256_file, write_meta

if TYPE_CHECKING:
    from cryptography import x509

ROOT_CERT = "root.pem"
ROOT_KEY = "root.key"
SIGNER_CERT = "signer.pem"
SIGNER_KEY = "signer.key"
CHAIN = "chain.pem"  # signer certificate then root: what the Signer is given
#: Used when `stamp`/`verify` get no --ca: created on first use by `stamp`.
DEFAULT_CA_DIR = config.CACHE_DIR / "test-ca"
#: c2pa signing algorithm matching the keys written here (ECDSA P-256 + SHA-256).
ALGORITHM = "es256"
#: Extended key usages the C2PA trust model accepts for claim signing: emailProtection, documentSigning,
#: timeStamping, OCSPSigning, Microsoft C2PA signing, c2pa-kp-claimSigning.
C2PA_EKUS = {
    "1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9",
    "1.3.6.1.4.1.311.76.59.1.9", "1.3.6.1.4.1.62558.2.1",
}


@dataclass(frozen=True)
class CertificateAuthority:
    """Paths of a CA directory written by `init_ca` (or of a real chain laid out the same way)."""

    directory: Path
    chain_pem: bytes
    key_pem: bytes
    root_pem: bytes
    subject: str
    not_after: str


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "genaudit local test CA"),
        ]
    )


def _key_usage(sign: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=not sign, crl_sign=not sign, encipher_only=False, decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def init_ca(
    out: str | Path,
    *,
    name: str = "genaudit",
    root_days: int = 3650,
    signer_days: int = 365,
    overwrite: bool = False,
    _now: dt.datetime | None = None,
    _signer_seconds: int | None = None,
) -> CertificateAuthority:
    """Write a root + signing leaf c2pa accepts (EKU emailProtection, AKI, PKCS#8 keys) to `out`.

    Private keys are 0600 and the directory 0700. `_now`/`_signer_seconds` exist so tests can make
    a certificate that expires seconds after signing (the no-timestamp-authority caveat).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ArtefactError(f"{out} already exists and is not empty", "pass --overwrite or choose another --out")
    now = _now or dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{name} test root")
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(now + dt.timedelta(days=root_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_end = now + (dt.timedelta(seconds=_signer_seconds) if _signer_seconds else dt.timedelta(days=signer_days))
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"{name} signer")).issuer_name(root_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(leaf_end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()
    with atomic_dir(out) as tmp:
        os.chmod(tmp, 0o700)
        (tmp / ROOT_CERT).write_bytes(root.public_bytes(pem))
        (tmp / SIGNER_CERT).write_bytes(leaf.public_bytes(pem))
        (tmp / CHAIN).write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))
        _write_private(tmp / ROOT_KEY, root_key.private_bytes(pem, pkcs8, plain))
        _write_private(tmp / SIGNER_KEY, leaf_key.private_bytes(pem, pkcs8, plain))
        write_meta(tmp, make_meta(
            "provenance-ca",
            purpose="local TEST certificate authority: not trusted by anyone but you; use a real chain in production",
            algorithm=ALGORITHM,
            root_subject=root.subject.rfc4514_string(),
            signer_subject=leaf.subject.rfc4514_string(),
            root_not_after=root.not_valid_after_utc.isoformat(),
            signer_not_after=leaf.not_valid_after_utc.isoformat(),
            root_sha256=sha256_file(tmp / ROOT_CERT),
            files={"root": ROOT_CERT, "chain": CHAIN, "signer_cert": SIGNER_CERT, "signer_key": SIGNER_KEY},
        ))
    return load_ca(out)


def _read(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise ProvenanceError(f"{path}: {what} not found", "run `audit provenance init-ca --out DIR` or pass the right --ca")
    return path.read_bytes()


def load_ca(directory: str | Path) -> CertificateAuthority:
    """Read a CA directory (chain.pem, signer.key, root.pem) and check the pair before c2pa sees it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProvenanceError(f"{directory}: no such CA directory", "run `audit provenance init-ca --out DIR` first")
    chain = _read(directory / CHAIN, "certificate chain")
    key = _read(directory / SIGNER_KEY, "signing key")
    root = _read(directory / ROOT_CERT, "root certificate")
    leaf = check_signing_material(chain, key, source=str(directory / CHAIN))
    try:
        meta = read_meta(directory)
    except ArtefactError:
        meta = {}
    return CertificateAuthority(
        directory, chain, key, root, str(meta.get("signer_subject", leaf.subject.rfc4514_string())),
        leaf.not_valid_after_utc.isoformat(),
    )


def load_trust_pem(path: str | Path) -> bytes:
    """A PEM file of trust anchors (one or more root certificates) for `verify --trust`."""
    from cryptography import x509

    path = Path(path)
    data = _read(path, "trust anchor PEM")
    try:
        if not x509.load_pem_x509_certificates(data):
            raise ValueError("no certificate")
    except ValueError:
        raise ProvenanceError(f"{path}: not a PEM certificate file", "pass the root certificate (root.pem)") from None
    return data


def check_signing_material(chain_pem: bytes, key_pem: bytes, *, source: str = "certificate") -> x509.Certificate:
    """Return the leaf certificate if c2pa will accept chain + key; else a ProvenanceError naming the problem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ProvenanceError(f"{source}: not a PEM certificate chain", "give the signer certificate then its issuers, PEM") from None
    leaf = certs[0]
    if b"-----BEGIN PRIVATE KEY-----" not in key_pem:
        raise ProvenanceError(
            f"{source}: signing key is not PKCS#8 PEM ('BEGIN PRIVATE KEY')",
            "convert it: openssl pkcs8 -topk8 -nocrypt -in key.pem -out signer.key",
        )
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvenanceError(f"{source}: signing key cannot be read ({exc})", "use an unencrypted PKCS#8 PEM key") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ):
        raise ProvenanceError(
            f"{source}: the signing key does not belong to the signer certificate (wrong key/certificate pair)",
            "use the key the certificate was issued for",
        )
    ext = {e.oid: e.value for e in leaf.extensions}
    if x509.oid.ExtensionOID.EXTENDED_KEY_USAGE not in ext:
        raise ProvenanceError(
            f"{source}: signer certificate lacks the ExtendedKeyUsage extension (c2pa requires e.g. emailProtection)",
            "reissue it with extendedKeyUsage=emailProtection (or documentSigning)",
        )
    purposes = {oid.dotted_string for oid in ext[x509.oid.ExtensionOID.EXTENDED_KEY_USAGE]}
    if not purposes & C2PA_EKUS:
        raise ProvenanceError(
            f"{source}: signer certificate's ExtendedKeyUsage has no purpose c2pa accepts ({', '.join(sorted(purposes))})",
            "reissue it with extendedKeyUsage=emailProtection (or documentSigning)",
        )
    if x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in ext:
        raise ProvenanceError(
            f"{source}: signer certificate lacks the AuthorityKeyIdentifier extension, which c2pa requires",
            "reissue it with authorityKeyIdentifier=keyid",
        )
    ku = ext.get(x509.oid.ExtensionOID.KEY_USAGE)
    if ku is not None and not ku.digital_signature:
        raise ProvenanceError(f"{source}: signer certificate KeyUsage lacks digitalSignature", "reissue it with keyUsage=digitalSignature")
    bc = ext.get(x509.oid.ExtensionOID.BASIC_CONSTRAINTS)
    if bc is not None and bc.ca:
        raise ProvenanceError(f"{source}: the first certificate is a CA, not a signer", "put the signer certificate first in the chain")
    now = dt.datetime.now(dt.timezone.utc)
    if leaf.not_valid_after_utc <= now:
        raise ProvenanceError(
            f"{source}: signer certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
            "issue a new signer certificate (`audit provenance init-ca --overwrite` for the test CA)",
        )
    if leaf.not_valid_before_utc > now:
        raise ProvenanceError(f"{source}: signer certificate is not valid yet", "check the system clock")
    return leaf


def algorithm_for(leaf) -> str:
    """The c2pa algorithm name for the leaf's key type."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    pub = leaf.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(pub.curve.name, "es256")
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(pub, rsa.RSAPublicKey):
        return "ps256"
    raise ProvenanceError(f"unsupported signer key type {type(pub).__name__}", "use an EC P-256 / P-384, Ed25519 or RSA-PSS key")

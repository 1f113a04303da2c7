"""Test CA: files and permissions, c2pa-required extensions checked (and named) before c2pa sees them."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from audit.errors import ArtefactError, ProvenanceError
from audit.meta import read_meta
from audit.provenance.ca import CHAIN, ROOT_KEY, SIGNER_KEY, init_ca, load_ca


def _reissue_leaf(ca_dir, *, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,), aki=True):
    """Replace the CA's signer certificate with one issued from the same keys but other extensions."""
    root_key = serialization.load_pem_private_key((ca_dir / ROOT_KEY).read_bytes(), None)
    leaf_key = serialization.load_pem_private_key((ca_dir / SIGNER_KEY).read_bytes(), None)
    certs = x509.load_pem_x509_certificates((ca_dir / CHAIN).read_bytes())
    old, root = certs[0], certs[1]
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(root.subject)
         .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if aki:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
    leaf = b.sign(root_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    (ca_dir / CHAIN).write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))


def test_init_ca_writes_restricted_files_and_meta(tmp_path):
    ca = init_ca(tmp_path / "ca")
    d = ca.directory
    for name in ("root.pem", "chain.pem", "signer.pem", "signer.key", "root.key", "meta.json"):
        assert (d / name).is_file(), name
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / "signer.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "root.key").stat().st_mode) == 0o600
    assert (d / "signer.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    meta = read_meta(d, kind="provenance-ca")
    assert meta["algorithm"] == "es256" and "TEST" in meta["purpose"]
    leaf = x509.load_pem_x509_certificates(ca.chain_pem)[0]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in list(eku)
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_init_ca_refuses_to_overwrite(tmp_path):
    init_ca(tmp_path / "ca")
    with pytest.raises(ArtefactError, match="already exists"):
        init_ca(tmp_path / "ca")
    first = (tmp_path / "ca" / "root.pem").read_bytes()
    init_ca(tmp_path / "ca", overwrite=True)
    assert (tmp_path / "ca" / "root.pem").read_bytes() != first


def test_missing_extended_key_usage_is_named(tmp_path):
    ca = init_ca(tmp_path / "ca")
    _reissue_leaf(ca.directory, eku=())
    with pytest.raises(ProvenanceError, match="ExtendedKeyUsage"):
        load_ca(ca.directory)


def test_missing_authority_key_identifier_is_named(tmp_path):
    ca = init_ca(tmp_path / "ca")
    _reissue_leaf(ca.directory, aki=False)
    with pytest.raises(ProvenanceError, match="AuthorityKeyIdentifier"):
        load_ca(ca.directory)


def test_wrong_extended_key_usage_purpose(tmp_path):
    ca = init_ca(tmp_path / "ca")
    _reissue_leaf(ca.directory, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    with pytest.raises(ProvenanceError, match="no purpose c2pa accepts"):
        load_ca(ca.directory)


def test_reissued_leaf_with_extensions_is_accepted(tmp_path):
    """The negative tests above fail for the extension, not for the re-issuing itself."""
    ca = init_ca(tmp_path / "ca")
    _reissue_leaf(ca.directory)
    assert load_ca(ca.directory).key_pem == ca.key_pem


def test_wrong_key_certificate_pair(tmp_path):
    a, b = init_ca(tmp_path / "a"), init_ca(tmp_path / "b")
    (a.directory / SIGNER_KEY).write_bytes(b.key_pem)
    with pytest.raises(ProvenanceError, match="wrong key/certificate pair"):
        load_ca(a.directory)


def test_non_pkcs8_key_and_missing_dir(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = init_ca(tmp_path / "ca")
    key = serialization.load_pem_private_key(ca.key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    (ca.directory / SIGNER_KEY).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    with pytest.raises(ProvenanceError, match="PKCS#8"):
        load_ca(ca.directory)
    with pytest.raises(ProvenanceError, match="no such CA directory"):
        load_ca(tmp_path / "nope")

"""C2PA Content Credentials: a local test CA, stamping generated images with audit results, verifying.

Light to import: c2pa and cryptography load only when a function needs them.
"""

from audit.provenance.assertions import GeneratorInfo, ImageFacts, ManifestOptions, read_generator
from audit.provenance.ca import CertificateAuthority, init_ca, load_ca
from audit.provenance.stamp import Stamper, StampResult, stamp_image, stamp_images
from audit.provenance.verify import Verifier, VerifyResult, verify_bytes, verify_image, verify_images

__all__ = [
    "CertificateAuthority", "GeneratorInfo", "ImageFacts", "ManifestOptions", "RecoveryResult", "StampResult", "Stamper",
    "VerifyResult", "Verifier", "init_ca", "load_ca", "read_generator", "recover_image", "stamp_image", "stamp_images",
    "verify_bytes", "verify_image", "verify_images",
]


def __getattr__(name: str):
    """Durable-provenance recovery needs numpy/sqlite: import it only when asked for."""
    if name in ("RecoveryResult", "recover_image"):
        from audit.provenance import recover

        return getattr(recover, name)
    raise AttributeError(f"module 'audit.provenance' has no attribute {name!r}")

"""One root error type with typed subclasses, so the CLI can print a one-line message, never a traceback."""

from __future__ import annotations


class AuditError(Exception):
    """Root of every error genaudit raises on purpose. `hint` says what the user should do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(AuditError):
    """A path, argument or file given by the user is missing or unusable."""


class ImageError(InputError):
    """An image cannot be decoded or has an unsupported layout."""


class ManifestError(InputError):
    """A manifest is missing columns, has bad values or is not parquet."""


class ModelError(AuditError):
    """A model cannot be loaded (unknown name, offline hub, corrupt checkpoint)."""


class IndexMismatchError(AuditError):
    """An index was built with a different model or dataset than the one being used."""


class ArtefactError(AuditError):
    """An artefact directory is incomplete, from another version, or would be overwritten."""


class RegistryError(AuditError):
    """A SQLite registry/queue is unusable (future schema, locked, corrupt)."""


class ProvenanceError(AuditError):
    """Signing or verification of Content Credentials failed."""

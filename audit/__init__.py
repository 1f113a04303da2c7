"""genaudit: provenance and auditing for text-to-image models and their training sets."""

__version__ = "0.1.0"

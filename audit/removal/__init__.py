"""GDPR removal requests: a state machine with deadlines, locate → confirm → erase everywhere, a hash-chained log.

    from audit.removal import connect, create_request, transition, locate, confirm_hits, erase, verify_log
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.lazy import lazy_exports

# Resolved on first use (PEP 562): importing one submodule (e.g. tombstones, from dataset ingest) must not run
# every sibling, which would tie dataset -> removal -> index -> dataset into an import cycle.
_EXPORTS = {
    "cached_index": "audit.index.cache",
    "clear_index_cache": "audit.index.cache",
    "LogCheck": "audit.removal.auditlog",
    "append_log": "audit.removal.auditlog",
    "key_hash": "audit.removal.auditlog",
    "verify_log": "audit.removal.auditlog",
    "AffectedModel": "audit.removal.erase",
    "EraseResult": "audit.removal.erase",
    "affected_models": "audit.removal.erase",
    "erase": "audit.removal.erase",
    "letter_markdown": "audit.removal.letter",
    "write_letter": "audit.removal.letter",
    "Candidate": "audit.removal.locate",
    "candidates": "audit.removal.locate",
    "confirm_hits": "audit.removal.locate",
    "confirmed_keys": "audit.removal.locate",
    "find_hits": "audit.removal.locate",
    "locate": "audit.removal.locate",
    "close_answered": "audit.removal.retention",
    "minimise_request": "audit.removal.minimise",
    "ModelCheck": "audit.removal.modelcheck",
    "model_check": "audit.removal.modelcheck",
    "Rebuild": "audit.removal.rebuild",
    "rebuild_without_reembedding": "audit.removal.rebuild",
    "STATES": "audit.removal.store",
    "RemovalRequest": "audit.removal.store",
    "RequestError": "audit.removal.store",
    "connect": "audit.removal.store",
    "create_request": "audit.removal.store",
    "get_request": "audit.removal.store",
    "list_requests": "audit.removal.store",
    "transition": "audit.removal.store",
    "Tombstones": "audit.removal.tombstones",
    "is_tombstoned": "audit.removal.tombstones",
    "load_tombstones": "audit.removal.tombstones",
}
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from audit.index.cache import cached_index, clear_index_cache  # noqa: F401
    from audit.removal.auditlog import LogCheck, append_log, key_hash, verify_log  # noqa: F401
    from audit.removal.erase import AffectedModel, EraseResult, affected_models, erase  # noqa: F401
    from audit.removal.letter import letter_markdown, write_letter  # noqa: F401
    from audit.removal.locate import Candidate, candidates, confirm_hits, confirmed_keys, find_hits, locate  # noqa: F401
    from audit.removal.minimise import minimise_request  # noqa: F401
    from audit.removal.modelcheck import ModelCheck, model_check  # noqa: F401
    from audit.removal.rebuild import Rebuild, rebuild_without_reembedding  # noqa: F401
    from audit.removal.retention import close_answered  # noqa: F401
    from audit.removal.store import STATES, RemovalRequest, RequestError, connect, create_request, get_request, list_requests, transition  # noqa: F401
    from audit.removal.tombstones import Tombstones, is_tombstoned, load_tombstones  # noqa: F401

__all__ = ["LogCheck", "append_log", "key_hash", "verify_log", "AffectedModel", "EraseResult", "affected_models",
           "erase", "is_tombstoned", "letter_markdown", "write_letter", "Candidate", "candidates", "confirm_hits",
           "confirmed_keys", "find_hits", "locate", "STATES", "RemovalRequest", "RequestError", "connect",
           "create_request", "get_request", "list_requests", "transition", "Tombstones", "load_tombstones", "ModelCheck", "model_check",
           "cached_index", "clear_index_cache", "close_answered", "minimise_request", "Rebuild", "rebuild_without_reembedding"]

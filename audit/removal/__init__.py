"""GDPR removal requests: a state machine with deadlines, locate → confirm → erase everywhere, a hash-chained log.

    from audit.removal import connect, create_request, transition, locate, confirm_hits, erase, verify_log
"""

from __future__ import annotations

from audit.index.cache import cached_index, clear_index_cache  # re-exported: locate serves from the one cache
from audit.removal.auditlog import LogCheck, append_log, key_hash, verify_log
from audit.removal.erase import AffectedModel, EraseResult, affected_models, erase
from audit.removal.letter import letter_markdown, write_letter
from audit.removal.locate import Candidate, candidates, confirm_hits, confirmed_keys, find_hits, locate
from audit.removal.minimise import minimise_request
from audit.removal.modelcheck import ModelCheck, model_check
from audit.removal.rebuild import Rebuild, rebuild_without_reembedding
from audit.removal.retention import close_answered
from audit.removal.store import STATES, RemovalRequest, RequestError, connect, create_request, get_request, list_requests, transition
from audit.removal.tombstones import Tombstones, is_tombstoned, load_tombstones

__all__ = ["LogCheck", "append_log", "key_hash", "verify_log", "AffectedModel", "EraseResult", "affected_models",
           "erase", "is_tombstoned", "letter_markdown", "write_letter", "Candidate", "candidates", "confirm_hits",
           "confirmed_keys", "find_hits", "locate", "STATES", "RemovalRequest", "RequestError", "connect",
           "create_request", "get_request", "list_requests", "transition", "Tombstones", "load_tombstones", "ModelCheck", "model_check",
           "cached_index", "clear_index_cache", "close_answered", "minimise_request", "Rebuild", "rebuild_without_reembedding"]

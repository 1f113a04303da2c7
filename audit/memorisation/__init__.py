"""Memorisation audit: generated images -> candidate training images -> pixel evidence -> verdicts -> report.

Light at import time: heavy modules (cv2, faiss, torch) load inside the functions that need them.
"""

from audit.memorisation.verdict import COPY, NOVEL, SIMILAR, PairScores, Score, Thresholds, Verdict, decide

__all__ = ["COPY", "NOVEL", "SIMILAR", "PairScores", "Score", "Thresholds", "Verdict", "decide", "scan_folder"]


def scan_folder(*args, **kwargs):
    """See audit.memorisation.run.scan_folder."""
    from audit.memorisation.run import scan_folder as _scan

    return _scan(*args, **kwargs)

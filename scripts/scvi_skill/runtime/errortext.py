"""Does a question carry error text? The cheap test that decides whether the pack looks up raise
sites at all (:mod:`.messages`, with its index and matcher, is imported only when it does).

Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re

EXCEPTION_NAME = r"[A-Za-z_][\w.]*(?:Error|Exception|Warning|Interrupt|Exit)"
"""An exception or warning class name as users paste it (``ValueError``, ``torch.OutOfMemoryError``)."""

_LOOKS_LIKE_ERROR = re.compile(
    rf"\b{EXCEPTION_NAME}\b|Traceback \(most recent|\b(?:error|warning):\s|"
    r"[`'\"]([^`'\"\n]*\s){3,}[^`'\"\n]*[`'\"]")


def looks_like_error(question: str) -> bool:
    """Whether ``question`` carries error text: an exception or warning class name, a
    traceback, ``error:``/``warning:``, or a quoted phrase of four or more words. Cheap (one
    regular expression, no file read); :func:`.messages.match_messages` decides what matches."""
    return bool(question) and _LOOKS_LIKE_ERROR.search(question) is not None

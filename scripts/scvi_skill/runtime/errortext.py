"""Does a question carry error text? The cheap test that decides whether the pack looks up raise
sites at all (:mod:`.messages`, with its index and matcher, is imported only when it does).

Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re

_EXCEPTION_SUFFIX = r"(?:Error|Exception|Warning|Interrupt|Exit)"
EXCEPTION_NAME = rf"[A-Za-z_][\w.]*{_EXCEPTION_SUFFIX}"
"""An exception or warning class name as users paste it (``ValueError``, ``torch.OutOfMemoryError``)."""
_TRACEBACK_HEAD = r"Traceback \(most recent"

_LOG_RECORD = r"(?: {2,}|:[\w.]*:)\s*[A-Za-z]"
"""After a level name, a line of a log as scvi-tools prints it (rich's ``INFO     Found 97.3%
reference vars``) or Python's default ``logging`` does (``INFO:scvi.model.base._archesmixin:...``)."""
_PROBLEM = rf"\b{EXCEPTION_NAME}\b|{_TRACEBACK_HEAD}|\b(?:error|warning):\s" \
    rf"|\b(?:WARNING|ERROR|CRITICAL){_LOG_RECORD}"
_LOOKS_LIKE_ERROR = re.compile(rf"{_PROBLEM}|\bINFO{_LOG_RECORD}")
_REPORTS_PROBLEM = re.compile(_PROBLEM)
"""Error text that says something went wrong: not an INFO line of a log."""
_EXCEPTION_END = re.compile(rf"[a-z]{_EXCEPTION_SUFFIX}\b")
"""The end of an exception or warning class name (no leading repeat: it is searched in the
whole paste, whose last line names the exception, however long the paste)."""
_TRACEBACK = re.compile(_TRACEBACK_HEAD)
_SHOWN = r"warn(?:s|ed|ing|ings)?|says|said|prints?|printed|complain(?:s|ed)?"
"""Words saying the user was shown a message."""
_TOLD = re.compile(rf"\b(?:{_SHOWN}|say|tells?|told)\b", re.IGNORECASE)
"""Words saying the user was told something (a message they may retell in their own words)."""
_FAILED = re.compile(rf"\b(?:fail(?:s|ed|ing|ure)?|errors?|crash(?:es|ed|ing)?|"
                     rf"rais(?:es?|ed|ing)|exceptions?|refus(?:es?|ed)|reject(?:s|ed)?|dies|"
                     rf"died|blew up|blows? up|{_SHOWN})\b|"
                     rf"\b(?:I|we) (?:get|got) (?:an? |the )?[`'\"]", re.IGNORECASE)
"""Words saying that something went wrong or that the user was shown a message ("I get
'unexpected keyword'"; not "how do I tell", nor "I get rho easily")."""
_QUOTE = re.compile(r"[`'\"]")
MIN_QUOTED_WORDS = 4
MAX_CHARS = 4000
"""Only the start of a question is looked at (as :mod:`.rank` ranks only its start)."""


def looks_like_error(question: str) -> bool:
    """Whether ``question`` carries error text: an exception or warning class name, a
    traceback, ``error:``/``warning:``, a log line (``INFO     ...``), or a quoted phrase of
    four or more words. Cheap (one regular expression and one split, linear in the
    question's length, no file read); :func:`.messages.match_messages` decides what
    matches."""
    if not question:
        return False
    text = question[:MAX_CHARS]
    if _LOOKS_LIKE_ERROR.search(text) is not None:
        return True
    # Text between two quote marks on one line; a split, not a regular expression with
    # nested repeats (which backtracked exponentially on an unclosed quote).
    for line in text.splitlines():
        inner = _QUOTE.split(line)[1:-1]
        if any(len(part.split()) >= MIN_QUOTED_WORDS for part in inner):
            return True
    return False


def traceback_without_exception(question: str) -> bool:
    """Whether ``question`` pastes a traceback but no exception or warning class name (the
    traceback's last line, which says what went wrong, was left out)."""
    return _TRACEBACK.search(question[:MAX_CHARS]) is not None \
        and _EXCEPTION_END.search(question) is None


def says_it_was_told(question: str) -> bool:
    """Whether ``question`` says scvi-tools told the user something (warns, says, prints,
    complains): the cheap test before looking for a message it retells."""
    return _TOLD.search(question[:MAX_CHARS]) is not None


def reports_failure(question: str) -> bool:
    """Whether ``question`` pastes an exception, warning or traceback, or carries quoted text
    (:func:`looks_like_error`) and says something failed or that it told the user something:
    a quoted call or option in a how-to question (```weights='importance'```) is not an error
    message, and no note should call it one; nor is an INFO line of a log pasted as context."""
    if not looks_like_error(question):
        return False
    text = question[:MAX_CHARS]
    return _REPORTS_PROBLEM.search(text) is not None or _FAILED.search(text) is not None

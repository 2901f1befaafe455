"""Fenced code blocks in Markdown, found by CommonMark's rules (spec 0.31.2, section 4.5).

An opening fence is three or more backticks or tildes, indented at most 3 spaces; the rest
of its line is the info string, whose first word is the language (``python``). A backtick
fence's info string holds no backtick, so a line that starts with three backticks, a name
and three more backticks is a sentence with an inline code span. A block closes at a fence
of the same character, at least as long as the opening one, with nothing after it and
indented at most 3 spaces: inside a four-backtick block a three-backtick line is code, and
so is a tilde line inside a backtick block. A block never closed runs to the end.

A fence in a list item is indented by the item's width (``1. `` and three spaces): the 3
spaces are counted from the content of the innermost list item still open (a heading, or a
line after a blank line, indented less than that content ends the item). A closing fence
indented less than its item's content closes the block too (CommonMark would end the item
and open a new block there, running to the end of the answer). Blockquotes are not followed
(a fence after ``>`` is not found).

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import re
from collections import namedtuple

OUTSIDE, OPENER, BODY, CLOSER = "outside", "opener", "body", "closer"
"""What a line is (:func:`line_roles`): prose, a block's opening fence, its code (blank
lines included), its closing fence."""
MAX_INDENT = 3
"""Columns a fence may be indented beyond its container; 4 make an indented code block."""
TAB = 4

_FENCE = re.compile(r"(`{3,}|~{3,})(.*)")
_LANG = re.compile(r"[\w+-]*")
_LIST_MARKER = re.compile(r"(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
"""A line that starts a list item (a bullet, or at most nine digits and ``.`` or ``)``, then
a space): the citation checker's and the prose span reader's unit below a paragraph."""


class Fence(namedtuple("Fence", "first end info")):
    """One fenced code block of a list of lines: ``first``, the 0-based index of the
    opening fence's line; ``end``, the closing fence's (the number of lines when never
    closed); ``info``, the info string, stripped (``python title="x"``). A named tuple, not
    a dataclass: ``dataclasses`` imports ``inspect``, about 11 ms of every call."""

    __slots__ = ()

    @property
    def lang(self) -> str:
        """The language tag, lowercased: the info string's leading word characters, ``+``
        and ``-`` (``python`` of ``python title="x"``, ``""`` of ``{code-cell}``)."""
        return _LANG.match(self.info).group(0).lower()


def _indent(line: str) -> tuple[int, str]:
    """``(columns, text)``: the columns of ``line``'s leading blanks (a tab to the next
    multiple of 4) and the text after them."""
    text = line.lstrip(" \t")
    return len(line[:len(line) - len(text)].expandtabs(TAB)), text


def _opener(text: str) -> tuple[str, str] | None:
    """``(mark, info)`` when ``text`` (a line less its indentation) opens a block."""
    match = _FENCE.fullmatch(text)
    if not match:
        return None
    mark, info = match.group(1), match.group(2)
    if mark[0] == "`" and "`" in info:
        return None  # ```SCVI``` is code in a sentence, not a fence
    return mark, info.strip()


def _closes(line: str, mark: str, limit: int) -> bool:
    """Whether ``line`` closes a block opened by ``mark``, indented at most ``limit``."""
    columns, text = _indent(line)
    match = _FENCE.fullmatch(text)
    return bool(match) and columns <= limit and match.group(1)[0] == mark[0] \
        and len(match.group(1)) >= len(mark) and not match.group(2).strip()


def find_fences(lines: list[str], *, any_indent: bool = False) -> list[Fence]:
    """The fenced code blocks of ``lines``, in order. ``any_indent``: ``lines`` are cut from
    a document whose list items may lie above them, so an opening fence may be indented any
    amount (its closing fence at most 3 columns more than it)."""
    fences: list[Fence] = []
    items: list[int] = []  # content columns of the open list items, innermost last
    blank = False
    n = 0
    while n < len(lines):
        columns, text = _indent(lines[n])
        if not text:
            blank, n = True, n + 1
            continue
        if blank or text.startswith("#"):
            while items and columns < items[-1]:
                items.pop()
        container = items[-1] if items else 0
        marker = _LIST_MARKER.match(text) if columns <= container + MAX_INDENT else None
        if marker:  # a list item, whose first line may open a fence (- ```python)
            while items and columns < items[-1]:
                items.pop()
            columns += marker.end()
            after, text = _indent(text[marker.end():])
            container = columns + (after if 1 <= after <= 4 and text else 1)
            columns += after
            items.append(container)
        opened = _opener(text)
        if opened and (any_indent or columns <= container + MAX_INDENT):
            mark, info = opened
            limit = (max(columns, container) if any_indent else container) + MAX_INDENT
            end = n + 1
            while end < len(lines) and not _closes(lines[end], mark, limit):
                end += 1
            fences.append(Fence(n, end, info))
            n = end
        blank, n = False, n + 1
    return fences


def line_roles(lines: list[str], *, any_indent: bool = False) -> list[str]:
    """For each of ``lines``: :data:`OUTSIDE`, :data:`OPENER`, :data:`BODY` or
    :data:`CLOSER` (see :func:`find_fences`)."""
    roles = [OUTSIDE] * len(lines)
    for fence in find_fences(lines, any_indent=any_indent):
        roles[fence.first] = OPENER
        roles[fence.first + 1 : fence.end] = [BODY] * (fence.end - fence.first - 1)
        if fence.end < len(lines):
            roles[fence.end] = CLOSER
    return roles

"""Split a section's own body into passages: the units the resolver ranks and quotes.

A passage is one paragraph, one list item (with its nested items and continuation lines: a
CHANGELOG bullet), one table, one fenced block (code or a MyST directive) or one run of
``.. `` lines. Long blocks are cut into pieces of at most :data:`MAX_PASSAGE_LINES` lines, so
a quoted passage is never a whole section.

Works on the raw lines of the file (what the resolver quotes verbatim) and returns 1-based
inclusive ``(start, end)`` spans with no blank line at either end. Standard library only.
"""

from __future__ import annotations

import re

MAX_PASSAGE_LINES = 12
"""A block longer than this (a long code block, a long list item) is cut into pieces."""

_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+\S")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})")
_HEADING = re.compile(r"^#{1,6}\s")


def split_passages(lines: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """Passages of ``lines[start - 1 : end]`` (1-based, inclusive), heading lines excluded."""
    blocks: list[list[int]] = []  # [first, last] 1-based
    current: list[int] | None = None
    item_indent = -1  # >= 0 while ``current`` is a list item
    blank_seen = False
    n = start
    while n <= min(end, len(lines)):
        text = lines[n - 1]
        stripped = text.strip()
        if not stripped:
            blank_seen = True
            if item_indent < 0:
                current = None
            n += 1
            continue
        indent = len(text) - len(text.lstrip())
        fence = _FENCE.match(text)
        item = _ITEM.match(text)
        continues_item = item_indent >= 0 and current is not None and (
            indent > item_indent and not (item and indent <= item_indent)
        )
        if _HEADING.match(text) and indent == 0:
            current, item_indent = None, -1
        elif fence and not continues_item:
            close = _fence_end(lines, n, min(end, len(lines)), fence)
            blocks.append([n, close])
            current, item_indent = None, -1
            n = close
        elif item and (item_indent < 0 or indent <= item_indent):
            current = [n, n]
            blocks.append(current)
            item_indent = indent
        elif continues_item or (current is not None and not blank_seen):
            if fence:  # a fence inside a list item belongs to the item, whole
                n = _fence_end(lines, n, min(end, len(lines)), fence)
            current[1] = n
        else:
            current = [n, n]
            blocks.append(current)
            item_indent = -1
        blank_seen = False
        n += 1
    return [piece for first, last in blocks for piece in _cut(lines, first, last)]


def _fence_end(lines: list[str], first: int, last: int, fence: re.Match) -> int:
    """Line of the fence that closes the one opened at ``first`` (or ``last``)."""
    marker = fence.group(2)
    for n in range(first + 1, last + 1):
        closing = lines[n - 1].strip()
        if closing.startswith(marker[0] * len(marker)) and not closing.strip(marker[0]):
            return n
    return last


def _cut(lines: list[str], first: int, last: int) -> list[tuple[int, int]]:
    """``first..last`` in pieces of at most :data:`MAX_PASSAGE_LINES`, each trimmed of
    blank lines at its ends."""
    out = []
    for piece_start in range(first, last + 1, MAX_PASSAGE_LINES):
        a, b = piece_start, min(last, piece_start + MAX_PASSAGE_LINES - 1)
        while a < b and not lines[a - 1].strip():
            a += 1
        while b > a and not lines[b - 1].strip():
            b -= 1
        if lines[a - 1].strip():
            out.append((a, b))
    return out

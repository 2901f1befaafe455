"""The release notes as entries: each note of a tree's ``CHANGELOG.md`` with its release and
the heading it is filed under ("1.1.0 (2024-02-13) > Removed").

A grep of ``CHANGELOG.md`` finds the line but not which release it belongs to, and that is
usually the answer ("since which version", "what replaced it"). The headings are read from
the file itself, so any release's layout works: ``### 1.5.1 (2026-09-10)`` then
``#### Fixed``, or ``### New in 0.9.0 (2021-03-03)`` then ``#### Important changes`` then
``##### Breaking change: ...``. A note is a top-level list item with its continuation and
nested lines, or a paragraph. Standard library only.
"""

from __future__ import annotations

import re

from .fences import BODY, CLOSER, OPENER, line_roles

CHANGELOG = "CHANGELOG.md"
PLACES = (CHANGELOG, "docs/release_notes/index.md")
"""Where a tree keeps its release notes: the top of the sdist since 1.2, the docs before."""
MAX_NOTE_LINES = 8
"""Lines of one note that are shown; the rest is counted ("... 4 more lines")."""

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RELEASE = re.compile(r"\d+\.\d+\.\d+")
_ITEM = re.compile(r"^[-*+]\s|^\d+\.\s")
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s")
"""``[#1001]: https://...``: the link targets at the end of the file, not notes."""


class Note:
    """One note: ``line``..``end`` (1-based) of ``CHANGELOG.md``, its ``release`` heading
    ("1.1.0 (2024-02-13)", "" above the first release) and ``section`` (the headings below
    the release, joined with " > "), and its ``lines`` as they are in the file."""

    def __init__(self, line: int, end: int, release: str, section: str, lines: list[str]) -> None:
        self.line, self.end, self.release, self.section = line, end, release, section
        self.lines = lines

    @property
    def heading(self) -> str:
        return " > ".join(part for part in (self.release, self.section) if part)

    def as_dict(self, path: str = CHANGELOG, max_lines: int = MAX_NOTE_LINES) -> dict:
        return {"path": path, "line": self.line, "end": self.end, "release": self.release,
                "section": self.section, "text": "\n".join(self.lines[:max_lines]),
                "more_lines": max(0, len(self.lines) - max_lines)}


def parse_notes(lines: list[str]) -> list[Note]:
    """The notes of ``lines`` (a CHANGELOG.md), in file order (newest release first)."""
    notes: list[Note] = []
    stack: list[tuple[int, str]] = []  # (level, title) of the open headings
    start: int | None = None

    def close(end: int) -> None:
        nonlocal start
        if start is not None:
            while end > start and not lines[end - 1].strip():
                end -= 1
            release, section = _place(stack)
            notes.append(Note(start + 1, end, release, section, lines[start:end]))
        start = None

    for n, (text, role) in enumerate(zip(lines, line_roles(lines))):
        if role in (OPENER, CLOSER):
            if role == OPENER and start is not None and not text[:1].isspace() \
                    and not lines[n - 1].strip():
                close(n)  # a code block of its own after a list item or paragraph
            if start is None:
                start = n
            continue
        if role == BODY:
            continue
        heading = _HEADING.match(text)
        if heading:
            close(n)
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading.group(2)))
            continue
        if _LINK_DEFINITION.match(text):
            close(n)
            continue
        if not text.strip():
            # A paragraph ends at a blank line; a list item may go on, indented, after one.
            if start is not None and not _ITEM.match(lines[start]):
                close(n)
            continue
        top_level = not text[:1].isspace()
        if start is None:
            start = n
        elif top_level and (_ITEM.match(text) or not lines[n - 1].strip()):
            close(n)  # the next item, or a paragraph after a list
            start = n
    close(len(lines))
    return notes


def _place(stack: list[tuple[int, str]]) -> tuple[str, str]:
    """(release heading, the headings below it) of the open heading ``stack``."""
    at = next((i for i in range(len(stack) - 1, -1, -1) if _RELEASE.search(stack[i][1])), None)
    if at is None:
        return "", " > ".join(title for _, title in stack[1:])
    return stack[at][1], " > ".join(title for _, title in stack[at + 1 :])


def find_notes(notes: list[Note], words: list[str]) -> list[Note]:
    """The notes whose text, release and section hold every word of ``words`` (case
    insensitive, literal substrings), newest first."""
    wanted = [w.lower() for w in words if w]
    return [note for note in notes
            if all(w in f"{note.heading}\n{chr(10).join(note.lines)}".lower() for w in wanted)]

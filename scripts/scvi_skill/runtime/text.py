"""Cutting text to a width: the one truncation rule of every output and index field.

Standard library only.
"""

from __future__ import annotations

ELLIPSIS = "..."


def clip(text: str, width: int) -> str:
    """``text`` when it fits in ``width`` characters, else its first ``width - 3`` characters
    and ``...`` (``width`` characters in all)."""
    return text if len(text) <= width else text[: width - len(ELLIPSIS)] + ELLIPSIS

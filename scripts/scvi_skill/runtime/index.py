"""Load the shipped ``references/index.json`` and ``references/search_index.json``.

Both are plain JSON read with one ``json.loads``; a missing, unreadable or wrong-format file
raises :class:`IndexStale` (exit 6) with the command that regenerates it. Loaded objects are
cached per process. Their formats and fields are defined in :mod:`.schema`; ``REGENERATE`` is
re-exported from there for the scripts that name it.

Standard library only.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import IndexStale
from .paths import INDEX_PATH, REFERENCES_DIR
from .schema import INDEX_FORMAT, REGENERATE, SEARCH_INDEX_FORMAT

__all__ = ["REGENERATE", "SEARCH_INDEX_PATH", "load_index", "load_json", "load_search_index"]

SEARCH_INDEX_PATH = REFERENCES_DIR / "search_index.json"
_CACHE: dict[Path, dict] = {}


def load_json(path: Path, *, expected_format: int, what: str) -> dict:
    """``json.loads`` of ``path``, checked for a dict with the expected ``format``."""
    path = Path(path)
    cached = _CACHE.get(path)
    if cached is not None:
        return cached
    hint = f"The skill's {what} is generated; restore it from the skill package or run: {REGENERATE}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise IndexStale(f"{what} missing: {path}", hint=hint) from exc
    except OSError as exc:
        raise IndexStale(f"{what} unreadable: {path}: {exc.strerror}", hint=hint) from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise IndexStale(f"{what} is not valid JSON: {path}: {exc}", hint=hint) from exc
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        msg = f"{what} has format {found!r}, this script reads format {expected_format}: {path}"
        raise IndexStale(msg, hint=hint)
    _CACHE[path] = data
    return data


def load_index(path: Path | None = None) -> dict:
    """The machine index (docs, sections, symbols, namespaces, tests)."""
    return load_json(path or INDEX_PATH, expected_format=INDEX_FORMAT, what="index")


def load_search_index(path: Path | None = None) -> dict:
    """The precomputed ranking data built by ``scvi_skill.build.search_index.build``."""
    return load_json(
        path or SEARCH_INDEX_PATH, expected_format=SEARCH_INDEX_FORMAT, what="search index"
    )

"""Load the shipped ``references/index.json`` and ``references/search_index.json``.

Both are plain JSON read with one ``json.loads``; a missing, unreadable or wrong-format file
raises :class:`IndexStale` (exit 6) with the command that regenerates it. Loaded objects are
cached per process, and the decoded object per user (:mod:`.loadcache`: a marshal copy keyed
by the file's stamp, read in about half the time of decoding the JSON). Their
formats and fields are defined in :mod:`.schema`; ``REGENERATE`` is re-exported from there for
the scripts that name it.

Standard library only.
"""

from __future__ import annotations

import gc
import stat
from pathlib import Path

from . import loadcache
from .errors import IndexStale
from .paths import INDEX_PATH, REFERENCES_DIR
from .formats import INDEX_FORMAT, REGENERATE, SEARCH_INDEX_FORMAT

__all__ = ["REGENERATE", "SEARCH_INDEX_PATH", "load_index", "load_json", "load_search_index"]

SEARCH_INDEX_PATH = REFERENCES_DIR / "search_index.json"
LAZY_TABLES = ("terms", "names")
"""Search-index tables read row by row from the per-user cache (a call reads a few rows)."""
_CACHE: dict[Path, dict] = {}


def load_json(path: Path, *, expected_format: int, what: str, lazy: tuple[str, ...] = ()) -> dict:
    """``json.loads`` of ``path``, checked for a dict with the expected ``format``; its
    ``lazy`` tables come back from the per-user cache as :class:`.loadcache.LazyRows`."""
    path = Path(path)
    cached = _CACHE.get(path)
    if cached is not None:
        return cached
    hint = f"The skill's {what} is generated; restore it from the skill package or run: {REGENERATE}"
    try:
        _check_file(path, what, hint)
        if _shipped(path):
            key, data, raw = loadcache.lookup(path, _without_gc)
        else:  # another file (--index): read, never cached (each copy would add megabytes)
            key, data, raw = None, None, path.read_bytes()
    except FileNotFoundError as exc:
        raise IndexStale(f"{what} missing: {path}", hint=hint) from exc
    except OSError as exc:
        raise IndexStale(f"{what} unreadable: {path}: {exc.strerror}", hint=hint) from exc
    decoded = data is None
    if decoded:
        import json  # only without a cached copy (about 3 ms of imports otherwise)

        try:
            data = _without_gc(json.loads, raw)
        except ValueError as exc:
            raise IndexStale(f"{what} is not valid JSON: {path}: {exc}", hint=hint) from exc
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        msg = f"{what} has format {found!r}, this script reads format {expected_format}: {path}"
        raise IndexStale(msg, hint=hint)
    if decoded and key is not None:
        loadcache.store(path, key, data, lazy)
    _CACHE[path] = data
    return data


MAX_JSON_BYTES = 256 << 20
"""The largest reference file read (the shipped ones are under 4 MB): an endless device
such as ``--index /dev/zero`` would otherwise fill the memory."""


def _check_file(path: Path, what: str, hint: str) -> None:
    """``IndexStale`` unless ``path`` is a regular file of at most :data:`MAX_JSON_BYTES`
    (a named pipe would block the read forever); ``OSError`` when it cannot be stat'ed."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise IndexStale(f"{what} is not a regular file: {path}", hint=hint)
    if info.st_size > MAX_JSON_BYTES:
        raise IndexStale(f"{what} is {info.st_size} bytes, more than any reference file "
                         f"({MAX_JSON_BYTES}): {path}", hint=hint)


def _shipped(path: Path) -> bool:
    """Whether ``path`` is one of the skill's own references (only those are cached)."""
    try:
        return path.resolve().parent == REFERENCES_DIR.resolve()
    except OSError:
        return False


def _without_gc(load, *args):
    """``load(*args)`` with the cyclic garbage collector paused: the index is a few hundred
    thousand lists and strings without cycles, and the collector's passes over them while they
    are built cost about a third of the load. Afterwards they are frozen (moved out of the
    collector's view), so later collections in the same process skip them too."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return load(*args)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def load_index(path: Path | None = None) -> dict:
    """The machine index (docs, sections, symbols, namespaces, tests); its name tables are
    checked for the shape :class:`~.indexview.IndexView` reads (``IndexStale`` otherwise)."""
    path = path or INDEX_PATH
    data = load_json(path, expected_format=INDEX_FORMAT, what="index")
    problem = index_shape_problem(data)
    if problem is not None:
        _CACHE.pop(Path(path), None)
        raise IndexStale(f"index {path} has an unexpected layout: {problem}",
                         hint=f"Restore it from the skill package or run: {REGENERATE}")
    return data


def index_shape_problem(data: dict) -> str | None:
    """What is wrong with the ``symbols`` and ``namespaces`` tables, or ``None``."""
    symbols, namespaces = data.get("symbols", []), data.get("namespaces", {})
    if not isinstance(symbols, list):
        return f"symbols is a {type(symbols).__name__}, not a list"
    for number, symbol in enumerate(symbols):
        if not isinstance(symbol, dict) or not isinstance(symbol.get("qualname"), str):
            return f"symbols[{number}] has no qualname"
        for key, kind in (("params", list), ("mro", list), ("bases", list), ("uses", dict),
                          ("kind", str), ("path", str), ("signature", str)):
            if key in symbol and not isinstance(symbol[key], kind):
                return f"symbols[{number}].{key} is a {type(symbol[key]).__name__}"
        params = symbol.get("params", [])
        if not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in params):
            return f"symbols[{number}].params holds an entry without a name"
        if not all(isinstance(b, str) for b in symbol.get("mro", [])):
            return f"symbols[{number}].mro holds a non-name"
    if not isinstance(namespaces, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in namespaces.items()):
        return "namespaces is not a mapping of names to names"
    return None


def load_search_index(path: Path | None = None) -> dict:
    """The precomputed ranking data built by ``scvi_skill.build.search_index.build``."""
    return load_json(
        path or SEARCH_INDEX_PATH, expected_format=SEARCH_INDEX_FORMAT, what="search index",
        lazy=LAZY_TABLES,
    )

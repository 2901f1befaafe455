"""A per-user cache of the decoded references, so that each call does not decode JSON again.

``json.loads`` of ``references/search_index.json`` (2.3 MB) is the largest fixed cost of one
``resolve_docs.py`` call. The decoded object is kept, in :mod:`marshal` form, under
``<trees_dir>/.references-cache/`` (the folder of cached trees: ours, see
:func:`~.paths.trees_dir`), one file per content, Python minor version and marshal version.

- A cache file is named by the source file's length and CRC-32, so an edited or regenerated
  reference never meets a stale cache, whatever its timestamps say.
- It is used only when it is a regular file owned by the current user, and holds the same
  length and CRC-32 again inside; anything else is ignored (and the JSON decoded as before).
- It is written atomically (a temporary file in the same folder, then ``os.replace``), in a
  folder created with mode 0700. Any failure to write leaves the call's result unchanged.
- At most :data:`KEEP` files per reference stay; older ones this cache wrote are removed.
- ``SCVI_SKILL_NO_LOAD_CACHE=1`` turns it off.

Standard library only.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib
from pathlib import Path

from .paths import trees_dir

CACHE_DIR_NAME = ".references-cache"
DISABLE_ENV = "SCVI_SKILL_NO_LOAD_CACHE"
KEEP = 4
"""Cache files kept per reference (several skill installs or versions side by side)."""
SUFFIX = f".py{sys.version_info[0]}{sys.version_info[1]}.m{marshal.version}.marshal"


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "") in ("", "0")


def cache_dir() -> Path:
    return trees_dir() / CACHE_DIR_NAME


def _key(raw: bytes) -> str:
    return f"{len(raw)}.{zlib.crc32(raw):08x}"


def cache_path(source: Path, raw: bytes) -> Path:
    return _path_for(source, _key(raw))


def _path_for(source: Path, key: str) -> Path:
    return cache_dir() / f"{Path(source).stem}.{key}{SUFFIX}"


def load(source: Path, raw: bytes) -> dict | None:
    """The object cached for ``raw`` (the bytes of ``source``), or ``None``."""
    if not enabled():
        return None
    key = _key(raw)  # the CRC-32 of a few MB: once per call
    path = _path_for(source, key)
    try:
        info = path.lstat()
        if not _is_ours(info):
            return None
        payload = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(payload, tuple) and len(payload) == 2 and payload[0] == key
            and isinstance(payload[1], dict)):
        return None
    return payload[1]


def store(source: Path, raw: bytes, data: dict) -> None:
    """Cache ``data`` (decoded from ``raw``); silently nothing when that cannot be done."""
    if not enabled():
        return
    folder = cache_dir()
    key = _key(raw)
    target = _path_for(source, key)
    temp = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        blob = marshal.dumps((key, data))
        temp = folder / f".tmp-{os.getpid()}-{target.name}"
        with open(temp, "xb") as handle:
            handle.write(blob)
        os.replace(temp, target)
        temp = None
        _prune(folder, Path(source).stem, keep=target.name)
    except (OSError, ValueError):
        pass
    finally:
        if temp is not None:
            try:
                temp.unlink()
            except OSError:
                pass


def _is_ours(info: os.stat_result) -> bool:
    import stat

    getuid = getattr(os, "getuid", None)
    return stat.S_ISREG(info.st_mode) and (getuid is None or info.st_uid == getuid())


def _prune(folder: Path, stem: str, keep: str) -> None:
    """Remove this reference's cache files beyond the :data:`KEEP` newest (never ``keep``)."""
    mine = []
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(f"{stem}.") and name.endswith(".marshal") and name != keep \
                and entry.is_file(follow_symlinks=False):
            mine.append((entry.stat(follow_symlinks=False).st_mtime_ns, name))
    mine.sort(reverse=True)
    for _, name in mine[KEEP - 1:]:
        try:
            os.unlink(folder / name)
        except OSError:
            pass

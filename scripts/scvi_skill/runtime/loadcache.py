"""A per-user cache of the decoded references, so that each call does not decode JSON again.

``json.loads`` of ``references/search_index.json`` (3.4 MB) is the largest fixed cost of one
``resolve_docs.py`` call. The decoded object is kept, in :mod:`marshal` form, under
``<trees_dir>/.references-cache/`` (the folder of cached trees: ours, see
:func:`~.paths.trees_dir`), one file per reference file, Python minor version and marshal
version.

- A cache file is named by the source file's stamp: its device, inode, length, and
  modification and status-change times in nanoseconds (:func:`key_for`). Any write to the file,
  and any ``os.utime`` that sets its times back, moves its status-change time, which no user
  can set: an edited or regenerated reference never meets a stale cache, whatever its
  modification time says, and a call whose cache is there does not read the source at all
  (reading it and its CRC-32 was about 3 ms of each call). Where the status-change time is
  not that (Windows, where it is the creation time), the name is the content's length and
  CRC-32 instead, read from the file.
- It is used only when it is a regular file owned by the current user, its Adler-32 checksum
  (the first 4 bytes) matches the rest, and it holds the same whole key again inside;
  anything else is ignored (and the JSON decoded as before). The checksum matters because a
  large table's rows are decoded only when read: a damaged row would otherwise surface in the
  middle of a ranking.
- It is written atomically (a temporary file in the same folder, then ``os.replace``), in a
  folder created with mode 0700. Any failure to write leaves the call's result unchanged.
- At most :data:`KEEP` files per reference stay; older ones this cache wrote are removed.
- ``SCVI_SKILL_NO_LOAD_CACHE=1`` turns it off.
- The large tables a caller names (the search index's term postings and public names) are
  stored row by row as marshal bytes and read back as :class:`LazyRows`, which decodes a
  row when it is asked for: one call reads a few dozen of their thousands of rows, and
  building them all was half the load. Only tables of at least :data:`LAZY_MIN_ROWS` rows
  of lists or mappings qualify.

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
LAYOUT = 3
"""Version of the cache file's layout (3: a checksum, then large tables row by row), part of
its name."""
SUFFIX = f".py{sys.version_info[0]}{sys.version_info[1]}.m{marshal.version}.c{LAYOUT}.marshal"
LAZY_MIN_ROWS = 1000
"""A named table smaller than this is stored whole: decoding it row by row would not pay."""


class LazyRows(dict):
    """A table whose rows are kept as marshal bytes and decoded (once) when read.

    Reading goes through ``[]``, ``get``, ``items`` and ``values``, and it compares equal to
    the plain table; ``len``, ``in`` and iteration over the keys need no decoding."""

    __slots__ = ()

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if type(value) is bytes:
            value = marshal.loads(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key, default=None):
        return self[key] if dict.__contains__(self, key) else default

    def items(self):
        return [(key, self[key]) for key in dict.keys(self)]

    def values(self):
        return [self[key] for key in dict.keys(self)]

    def __eq__(self, other):
        return isinstance(other, dict) and dict(self.items()) == dict(other.items())

    def __ne__(self, other):
        return not self == other

    __hash__ = None


def _lazy_names(data: dict, lazy: tuple[str, ...]) -> list[str]:
    return [name for name in lazy if type(data.get(name)) is dict
            and len(data[name]) >= LAZY_MIN_ROWS
            and all(type(row) in (list, dict) for row in data[name].values())]


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "") in ("", "0")


def cache_dir() -> Path:
    return trees_dir() / CACHE_DIR_NAME


def _key(raw: bytes) -> str:
    return f"{len(raw)}.{zlib.crc32(raw):08x}"


STAMPED = os.name != "nt"
"""Whether a file's stamp names its cache (:func:`key_for`); else its content does."""


def key_for(source: Path, raw: bytes | None = None) -> str | None:
    """The cache key of ``source``: its stamp (:data:`STAMPED`: ``OSError`` when it cannot be
    read), else the length and CRC-32 of ``raw``, its bytes (``None`` without them).

    Take it before reading the file: a file replaced in between is then cached under the
    old file's stamp, which no file has any more."""
    if STAMPED:
        info = os.stat(source)
        return (f"s{info.st_size}.{info.st_dev:x}.{info.st_ino:x}.{info.st_mtime_ns:x}"
                f".{info.st_ctime_ns:x}")
    return None if raw is None else _key(raw)


def lookup(source: Path, call=None) -> tuple[str | None, dict | None, bytes | None]:
    """``(key, cached object or None, the file's bytes or None)`` for ``source``: its stamp
    first, so that a cached copy spares reading the file; where stamps do not name caches,
    the bytes are read and the content's key looked up. ``call(load, source, key)`` wraps the
    loads (the index pauses the garbage collector); ``OSError`` from reading the file."""
    def do(*args):
        return call(load, *args) if call else load(*args)

    key = key_for(source)
    data = do(source, key) if key else None
    raw = None
    if data is None:
        raw = Path(source).read_bytes()
        if key is None:
            key = key_for(source, raw)
            data = do(source, key)
    return key, data, raw


def cache_path(source: Path, key: str) -> Path:
    """The cache file of ``source`` under ``key`` (:func:`key_for`)."""
    return cache_dir() / f"{Path(source).stem}.{_short(key)}{SUFFIX}"


def _short(key: str) -> str:
    """``key`` for a file name: a stamp as its CRC-32 (the whole stamp is inside the file)."""
    return f"s{zlib.crc32(key.encode()):08x}" if key.startswith("s") else key


def load(source: Path, key: str) -> dict | None:
    """The object cached for ``source`` under ``key`` (:func:`key_for`), or ``None``."""
    if not enabled():
        return None
    path = cache_path(source, key)
    try:
        info = path.lstat()
        if not _is_ours(info):
            return None
        payload = decode(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(payload, tuple) and len(payload) == 3 and payload[0] == key
            and isinstance(payload[1], dict) and isinstance(payload[2], tuple)):
        return None
    data = payload[1]
    for name in payload[2]:
        if type(data.get(name)) is not dict:
            return None
        data[name] = LazyRows(data[name])
    return data


def store(source: Path, key: str, data: dict, lazy: tuple[str, ...] = ()) -> None:
    """Cache ``data`` (decoded from ``source`` read after its ``key`` was taken), its ``lazy``
    tables row by row; silently nothing when that cannot be done."""
    if not enabled():
        return
    folder = cache_dir()
    target = cache_path(source, key)
    temp = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lazy = _lazy_names(data, lazy)
        stored = dict(data)
        for name in lazy:
            stored[name] = {k: marshal.dumps(row) for k, row in data[name].items()}
        blob = encode((key, stored, tuple(lazy)))
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


def encode(payload: tuple) -> bytes:
    """A cache file's bytes: the Adler-32 of the marshal bytes of ``payload``, then those."""
    blob = marshal.dumps(payload)
    return zlib.adler32(blob).to_bytes(4, "big") + blob


def decode(data: bytes):
    """What :func:`encode` wrote; ``ValueError`` when the checksum does not match."""
    body = memoryview(data)[4:]
    if len(data) < 4 or zlib.adler32(body) != int.from_bytes(data[:4], "big"):
        raise ValueError("cache file checksum mismatch")
    return marshal.loads(body)


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

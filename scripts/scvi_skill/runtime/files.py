"""File helpers shared by the tree cache (:mod:`.fetch`), the installer
(``scvi_skill.install``) and the scripts: digests, small JSON records, containment checks,
bounded reads of stdin.

Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

_BLOCK_BYTES = 1 << 20


def read_stdin(limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of stdin, and whether there was more (an endless or huge
    pipe, ``yes | script -``, would otherwise fill the memory)."""
    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read(limit + 1) if stream else sys.stdin.read(limit + 1).encode("utf-8", "replace")
    return raw[:limit], len(raw) > limit


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (archives can be large)."""
    import hashlib  # here, not at the top: every agent-facing call imports this module, and
    # hashlib (OpenSSL's _hashlib) is 2-4 ms of it; only fetches and installs hash files

    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_file(path: Path) -> object | None:
    """The parsed JSON of a UTF-8 file; ``None`` when it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def default_mode(*, folder: bool = False) -> int:
    """The mode a plain ``open()`` or ``mkdir()`` would give under the current umask
    (``mkstemp`` and ``mkdtemp`` give 0600 and 0700, which atomic writes must not leave)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


TEMP_MARK = ".scvi-skill-tmp-"
"""What the temporary file of an atomic write holds after the target's name
(``.adata-skill.zip.scvi-skill-tmp-k3j9``): only files named so are swept."""
STALE_TEMP_S = 3600
"""A temporary file older than this was left by a killed write, not one at work."""


def temp_beside(path: Path, suffix: str = "") -> tuple[int, str]:
    """``(fd, name)`` of a new temporary file beside ``path`` for an atomic write of it
    (``mkstemp``: mode 0600), once the ones a killed write of ``path`` left are swept
    (:func:`sweep_stale_temps`)."""
    import tempfile  # imports shutil: not at the agent commands' start (maintainer writes)

    path = Path(path)
    sweep_stale_temps(path)
    return tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=suffix, dir=path.parent)


def sweep_stale_temps(path: Path, head: str | None = None, *, folders: bool = False) -> list[str]:
    """Remove what a killed write of ``path`` left beside it, once :data:`STALE_TEMP_S` old
    (a younger one may be another process's, at work): the regular files named as
    :func:`temp_beside` names them (the names starting with ``head``, when given), or with
    ``folders`` the folders so named (a killed install's staging copy). Links are left.
    Returns the names removed."""
    import shutil

    path = Path(path)
    head = head or f".{path.name}{TEMP_MARK}"
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(head):
            continue
        try:
            kind = entry.is_dir if folders else entry.is_file
            if kind(follow_symlinks=False) and \
                    now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_S:
                if folders:
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def lexically_inside(base: Path, candidate: Path) -> bool:
    """True when ``candidate`` is ``base`` or below it, comparing normalised paths only.

    Nothing is read from disk, so it answers for paths that do not exist yet (archive members
    before extraction); symlinks are not followed: check link targets separately."""
    base_text, candidate_text = os.path.normpath(base), os.path.normpath(candidate)
    return candidate_text == base_text or candidate_text.startswith(base_text + os.sep)


def resolves_inside(root: Path, path: Path) -> bool:
    """True when ``path``, with every symlink followed, is ``root`` or below it."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.12)
        return False
    return True

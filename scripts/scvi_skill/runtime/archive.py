"""Extract an sdist archive safely: every member is checked before anything is written.

An sdist holds regular files and folders only, so anything else is refused outright: symbolic
links, hard links, devices, fifos, and names that are absolute, contain ``..`` or appear twice.
With no link among the members, comparing path text is enough to keep every write inside the
target folder, on every Python (tarfile's ``data`` filter is missing before 3.10.12 / 3.11.4
and had a realpath bypass, CVE-2025-4517, until 3.12.11 / 3.13.4). The filter is still passed
where it exists, as a second line of defence.

Standard library only.
"""

from __future__ import annotations

import errno
import os
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import FetchError

_FILTER_ERRORS: tuple[type[BaseException], ...] = (
    (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
)
"""``tarfile.FilterError`` where this Python has it; ``except ()`` matches nothing."""
CACHE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})
"""OS errors that mean the cache cannot be written (rather than a bad archive)."""
FILE_MODE, DIR_MODE = 0o644, 0o755
MAX_MEMBER_BYTES = 128 << 20
MAX_TOTAL_BYTES = 1 << 30
"""An sdist's largest file is a few MB and the whole tree under 30 MB: a member or a total
beyond these is a hostile archive (a small .tar.gz can unpack to gigabytes of zeros)."""


class UnsafeMember(Exception):
    """A member that would write outside the target folder or is not a file or folder."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name!r}: {why}")
        self.name, self.why = name, why


class CacheWriteError(Exception):
    """Extraction failed because the target folder cannot be written (``__cause__``: the
    ``OSError``)."""


def extract_sdist(archive: Path, dest: Path, *, downloaded: bool) -> None:
    """Extract ``archive`` into the existing folder ``dest``; raise :class:`FetchError` for an
    unsafe, corrupted or unreadable archive, :class:`CacheWriteError` when ``dest`` cannot be
    written. Nothing is extracted unless every member passes :func:`check_member`.

    ``downloaded`` says the archive came from the package index (a temporary file), which
    changes the hint: a user's own file is never to be deleted by our advice.
    """
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            check_members(members)
            for member in members:
                member.mode = DIR_MODE if member.isdir() else FILE_MODE
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # the checks above are the whole defence, and they are enough
                tar.extractall(dest, members=members)
    except UnsafeMember as err:
        raise unsafe_error(archive, err.name, err.why) from None
    except _FILTER_ERRORS as err:
        member = getattr(err, "tarinfo", None)
        raise unsafe_error(archive, getattr(member, "name", "?"), str(err)) from err
    except (tarfile.TarError, EOFError, zlib.error) as err:
        hint = ("The download was damaged; run the same command again" if downloaded
                else f"Check that {archive} is a complete .tar.gz sdist of scvi-tools")
        reason = str(err).split("\n", 1)[0].rstrip(":")  # tarfile lists every method tried
        raise FetchError(f"{archive.name} is corrupted or truncated ({reason})", hint=hint) \
            from err
    except OSError as err:
        if err.filename is not None and os.fspath(err.filename) == os.fspath(archive):
            raise FetchError(f"cannot read {archive}: {err.strerror or err}") from err
        if err.errno in CACHE_ERRNOS:
            raise CacheWriteError(str(err)) from err
        raise FetchError(f"{archive.name} could not be extracted: {err.strerror or err}",
                         hint="The archive was not cached") from err


def check_members(members: list[tarfile.TarInfo]) -> None:
    """:func:`check_member` for each member, and their total size within
    :data:`MAX_TOTAL_BYTES`."""
    seen: set[str] = set()
    total = 0
    for member in members:
        check_member(member, seen)
        total += member.size
        if total > MAX_TOTAL_BYTES:
            raise UnsafeMember(member.name, f"the members up to it hold more than "
                                            f"{MAX_TOTAL_BYTES >> 20} MiB (an sdist: under 30)")


def check_member(member: tarfile.TarInfo, seen: set[str]) -> None:
    """Raise :class:`UnsafeMember` unless ``member`` is a regular file or folder whose
    relative name stays inside the target folder and was not seen before."""
    name = member.name
    if member.issym():
        raise UnsafeMember(name, f"symbolic link to {member.linkname[:80]!r} (an sdist has none)")
    if member.islnk():
        raise UnsafeMember(name, f"hard link to {member.linkname[:80]!r} (an sdist has none)")
    if member.isdev() or member.isfifo():
        raise UnsafeMember(name, "device or fifo")
    if not (member.isreg() or member.isdir()):
        raise UnsafeMember(name, "not a regular file or folder")
    if member.size > MAX_MEMBER_BYTES:
        raise UnsafeMember(name, f"{member.size} bytes (an sdist's files are a few MB)")
    if not name or "\x00" in name:
        raise UnsafeMember(name, "empty name")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or PurePosixPath(name).is_absolute():
        raise UnsafeMember(name, "absolute path")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        raise UnsafeMember(name, "path leaves the target folder ('..')")
    key = "/".join(p for p in parts if p != ".")
    if member.isdir():  # a folder listed twice is harmless
        return
    if key in seen:
        raise UnsafeMember(name, "appears twice in the archive")
    seen.add(key)


def unsafe_error(archive: Path, name: str, why: str) -> FetchError:
    msg = f"{archive.name} has an unsafe member {name!r}: {why}"
    return FetchError(msg, hint="The archive was not extracted; nothing was cached")

"""Reading tree files for the map generator: a log of what was read, and problem records.

Every file the generator reads goes through :class:`ReadLog`, so the index's ``tree_sha256``
covers exactly the bytes the maps were built from. A file that cannot be used (not UTF-8, a
syntax error, an unbalanced fence) becomes a :class:`ReadProblem`: reported as ``path:line``,
skipped, and counted; ``refresh_maps.py --strict`` turns problems into a failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class ReadProblem:
    """A tree file the generator skipped."""

    path: str
    """Tree-relative POSIX path."""
    line: int
    """1-based line of the problem (1 when the whole file is affected)."""
    message: str

    def to_dict(self) -> dict:
        return {"line": self.line, "message": self.message, "path": self.path}

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ReadLog:
    """Reads tree files and remembers their bytes for the tree checksum."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def read(self, rel: str, disk: Path) -> bytes:
        data = disk.read_bytes()
        self._files[rel] = data
        return data

    def sha256(self) -> str:
        """SHA-256 over the sorted (path, bytes) pairs read so far, length-prefixed."""
        digest = hashlib.sha256()
        for rel in sorted(self._files):
            data = self._files[rel]
            name = rel.encode("utf-8")
            digest.update(len(name).to_bytes(8, "big") + name)
            digest.update(len(data).to_bytes(8, "big") + data)
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self._files)


MAX_FILE_BYTES = 2 << 20
"""A tree file larger than this is skipped with a problem (the largest file of 1.5.1, the
CHANGELOG, is about 150 kB; a crafted 31 MB Markdown file made a refresh take minutes)."""


def read_utf8(log: ReadLog, rel: str, disk: Path) -> tuple[str | None, ReadProblem | None]:
    """The text of a tree file through ``log``, or a problem when it is over
    :data:`MAX_FILE_BYTES` (not read) or not UTF-8."""
    size = disk.stat().st_size
    if size > MAX_FILE_BYTES:
        return None, ReadProblem(rel, 1, f"{size / (1 << 20):.1f} MiB, over the "
                                         f"{MAX_FILE_BYTES >> 20} MiB cap; file skipped")
    return decode_utf8(rel, log.read(rel, disk))


def decode_utf8(rel: str, data: bytes) -> tuple[str | None, ReadProblem | None]:
    """Decode a file as UTF-8 (a BOM is dropped); on failure name the line of the bad byte."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return None, ReadProblem(rel, line, f"not UTF-8 (byte 0x{data[err.start]:02x}); file skipped")

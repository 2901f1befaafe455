"""Find ripgrep, run it with an argument list, and parse ``rg --json``.

``rg`` is looked up as: ``$SCVI_SKILL_RG`` (an explicit binary; when set it is the only
candidate, so tests and users can pin or disable it), then ``rg`` on ``PATH``, then an ``rg``
next to the running interpreter (``pip install ripgrep`` puts it in the environment's ``bin/``,
which need not be on ``PATH``).

Patterns always go through ``-e`` (a pattern may start with ``-``); literal text is searched
with ``--fixed-strings``. ``--no-config`` keeps ``RIPGREP_CONFIG_PATH`` from changing results,
and parent or global ignore files are not read, so a tree cached under an ignored folder is
still searched. Exit status as ripgrep defines it: 0 matches, 1 none (not an error), 2 an
error (stdout may still hold partial results, which are kept).

Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RgMissing, SkillPackageError, UsageError

RG_ENV = "SCVI_SKILL_RG"
INSTALL_HINT = (
    # ripgrep 15.x on the Python index is source-only (it needs Rust); 14.1.0 ships wheels.
    "Install ripgrep: `pip install ripgrep==14.1.0` (or apt install ripgrep / brew install "
    f"ripgrep / winget install BurntSushi.ripgrep.MSVC), or point ${RG_ENV} at an rg binary. "
    "An agent can use its own Grep tool on the tree instead."
)
DEFAULT_TIMEOUT_S = 20.0
BASE_ARGS = ("--json", "--no-config", "--no-ignore-parent", "--no-ignore-global", "--no-messages")
_REGEX_ERROR = "regex parse error"
PATTERN_HINT = ("ripgrep's regex syntax has no look-around or backreferences; escape ( [ . * "
                "with a backslash, or search literal text without --pattern")


class RgPatternError(UsageError):
    """rg refused the regular expression (exit 2): the message is rg's whole explanation."""


@dataclass
class RgLine:
    """One line reported by ``rg --json``."""

    path: str
    """The path as rg printed it (absolute when rg was given absolute paths)."""
    line: int
    """1-based line number."""
    text: str
    """The line without its trailing newline (undecodable bytes replaced)."""
    kind: str = "match"
    """``"match"`` or ``"context"``."""
    spans: list[tuple[int, int]] = field(default_factory=list)
    """Character offsets of the submatches in ``text`` (rg reports bytes; converted here)."""


def find_rg() -> str:
    """Path of the rg binary, or raise :class:`RgMissing` with an install hint."""
    explicit = os.environ.get(RG_ENV)
    if explicit is not None:
        if explicit and os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise RgMissing(f"ripgrep (rg) not found at ${RG_ENV}={explicit!r}", hint=INSTALL_HINT)
    found = shutil.which("rg")
    if found:
        return found
    for name in ("rg", "rg.exe"):
        beside = Path(sys.executable).parent / name
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    raise RgMissing("ripgrep (rg) not found on PATH or next to this Python", hint=INSTALL_HINT)


def run_rg(
    args: list[str], *, rg: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> tuple[list[RgLine], int]:
    """Run ``rg --json ARGS`` (no shell) and return (parsed lines, rg exit status)."""
    cmd = [rg or find_rg(), *BASE_ARGS, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        msg = f"ripgrep took longer than {timeout:.0f} s; narrow the search with --in or --max"
        raise SkillPackageError(msg) from exc
    except OSError as exc:
        raise RgMissing(f"could not run ripgrep ({cmd[0]}): {exc}", hint=INSTALL_HINT) from exc
    if proc.returncode not in (0, 1) and not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip()
        if "is not allowed in a regex" in detail:  # rg's advice (--multiline) is not ours
            raise RgPatternError("--pattern matches within one line: a line break (\\n) in it "
                                 "cannot match", hint="Search for one line's part of the code")
        if _REGEX_ERROR in detail:
            # The caret under the pattern and the reason are on later lines: keep them all.
            raise RgPatternError(detail.removeprefix("rg: "), hint=PATTERN_HINT)
        first = detail.splitlines()[0] if detail else proc.returncode
        raise SkillPackageError(f"ripgrep failed: {first}")
    return parse_rg_json(proc.stdout), proc.returncode


MAX_SPANS = 64
"""Submatches kept per line: a line of a generated file can hold thousands, and each non-ASCII
one costs a decode of the line up to it."""


def parse_rg_json(stdout: bytes | str) -> list[RgLine]:
    """Parse ``rg --json`` output: ``match`` and ``context`` records, tolerant of anything else.

    ``begin``, ``end``, ``summary`` and unknown record types are skipped, as are lines that
    are not JSON (a truncated last line, for instance).
    """
    if isinstance(stdout, str):
        stdout = stdout.encode("utf-8")
    out = []
    for raw in stdout.splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("type") not in ("match", "context"):
            continue
        data = record.get("data") or {}
        path = _data_text(data.get("path"))
        line_bytes = _data_bytes(data.get("lines"))
        number = data.get("line_number")
        if path is None or line_bytes is None or not isinstance(number, int):
            continue
        spans = []
        ascii_line = line_bytes.isascii()  # byte offsets are character offsets
        for sub in (data.get("submatches") or [])[:MAX_SPANS]:
            start, end = sub.get("start"), sub.get("end")
            if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end:
                if ascii_line:
                    spans.append((start, end))
                    continue
                # Byte offsets into the UTF-8 line -> character offsets into the str.
                spans.append(
                    (
                        len(line_bytes[:start].decode("utf-8", "replace")),
                        len(line_bytes[:end].decode("utf-8", "replace")),
                    )
                )
        text = line_bytes.decode("utf-8", "replace").rstrip("\r\n")
        out.append(RgLine(path=path, line=number, text=text, kind=record["type"], spans=spans))
    return out


def _data_bytes(value) -> bytes | None:
    """rg's ``{"text": str}`` or ``{"bytes": base64}`` as bytes."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("text"), str):
        return value["text"].encode("utf-8")
    if isinstance(value.get("bytes"), str):
        import base64  # only for non-UTF-8 data, which is rare

        try:
            return base64.b64decode(value["bytes"])
        except ValueError:
            return None
    return None


def _data_text(value) -> str | None:
    raw = _data_bytes(value)
    if raw is None:
        return None
    return raw.decode("utf-8", "surrogateescape")

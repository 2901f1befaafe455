"""Exception hierarchy of the skill's scripts, caught once at each CLI boundary."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_RG_MISSING = 3
EXIT_TREE = 4
EXIT_FETCH = 5
EXIT_INDEX = 6


class SkillPackageError(Exception):
    """Base error: ``str(err)`` is the message, ``exit_code`` what the CLI returns."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(SkillPackageError):
    exit_code = EXIT_USAGE


class RgMissing(SkillPackageError):
    exit_code = EXIT_RG_MISSING


class TreeNotFound(SkillPackageError):
    exit_code = EXIT_TREE


class FetchError(SkillPackageError):
    exit_code = EXIT_FETCH


class IndexStale(SkillPackageError):
    """The shipped index is missing, unreadable or of another format."""

    exit_code = EXIT_INDEX


def print_error(err: SkillPackageError | str, *, hint: str | None = None) -> None:
    """Write one ``Error: ...`` message (and an optional hint line) to stderr."""
    message = str(err)
    hint = hint or getattr(err, "hint", None)
    print(f"Error: {message}", file=sys.stderr)
    if hint:
        print(f"  {hint}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)

"""Exception hierarchy of the skill's scripts, caught once at each CLI boundary."""

from __future__ import annotations

import errno
import os
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


UNREADABLE: dict[str, str] = {}
"""Files of the tree that are there but could not be read (``tree.read_text``) -> why: a
named pipe, a file too large, one the account may not read. Passed over, they would read as
absent; :func:`warn_unreadable` says so once."""
MAX_UNREADABLE_NAMED = 3


def warn_unreadable() -> None:
    """One warning naming the tree files passed over because they could not be read (none:
    nothing printed); the registry is emptied."""
    if not UNREADABLE:
        return
    named = [f"{path} ({why})" for path, why in list(UNREADABLE.items())[:MAX_UNREADABLE_NAMED]]
    more = len(UNREADABLE) - len(named)
    warn(f"{len(UNREADABLE)} file(s) of the scvi-tools tree could not be read and were passed "
         f"over, so what they hold is missing here: {'; '.join(named)}"
         + (f" (+{more} more)" if more else ""))
    UNREADABLE.clear()


BAD_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.ENOTDIR})
"""An OSError with one of these while a script reads a path the user gave is bad input."""


def bad_path(err: OSError) -> int | None:
    """For an OSError about a path the user gave (see :data:`BAD_PATH_ERRNOS`): its one-line
    message on stderr and :data:`EXIT_USAGE`; None for any other error (the caller
    re-raises)."""
    if err.errno not in BAD_PATH_ERRNOS:
        return None
    name = str(err.filename or "")
    shown = name if len(name) <= 80 else name[:77] + "..."
    print_error(f"cannot use the path {shown!r}: {err.strerror or err}")
    return EXIT_USAGE


def guarded(run, args) -> int:
    """``run(args)``'s exit status, with the agent commands' handling of what goes wrong: a
    :class:`SkillPackageError` printed as one message with its code, a reader that closed
    the pipe (``| head``) as success, a path the system refuses as :func:`bad_path` says;
    anything else is raised. Tree files it could not read are named last
    (:func:`warn_unreadable`)."""
    try:
        return run(args)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    except BrokenPipeError:  # pragma: no cover - reader closed the pipe (| head)
        return EXIT_OK
    except OSError as err:  # a path the user gave that the system refuses (too long, a loop)
        code = bad_path(err)
        if code is None:
            raise
        return code
    finally:
        warn_unreadable()


def os_guarded(run, argv) -> int:
    """``run(argv)``'s exit status for the maintainer scripts: what :func:`guarded` handles,
    and any other ``OSError`` (a folder where a file is written, a file where a folder is,
    a full disk) as one message and exit 1, not a traceback."""
    try:
        return guarded(run, argv)
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        print_error(f"{err.strerror or err}{where}",
                    hint="Fix the path or free the disk, then run the same command again")
        return 1


def refuse_blank(*options: tuple[str, object]) -> None:
    """A usage error for each ``(flag, value)`` given as a blank string: ``--version ''``
    or ``--tree ''`` (an unset shell variable) would otherwise quietly mean the default."""
    for flag, value in options:
        if isinstance(value, str) and not value.strip():
            raise UsageError(f"{flag} is empty", hint=f"Give {flag} a value, or leave it out")


def refuse_bad_path(path: os.PathLike | str) -> None:
    """Raise the ``OSError`` of a path the user gave when the system refuses it (one of
    :data:`BAD_PATH_ERRNOS`: a loop, a name too long), so that the CLI's :func:`bad_path`
    reports it as such; a missing path, or one that stats, is left to its reader (which
    says what it found there)."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno in BAD_PATH_ERRNOS:
            raise

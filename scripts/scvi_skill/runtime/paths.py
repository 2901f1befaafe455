"""Where the skill's own files live, wherever the skill folder was copied."""

from __future__ import annotations

import os
import re
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parents[2]
SKILL_ROOT = SCRIPTS_DIR.parent
REFERENCES_DIR = SKILL_ROOT / "references"
INDEX_PATH = REFERENCES_DIR / "index.json"
ROUTING_PATH = REFERENCES_DIR / "routing.yaml"
UPSTREAM_REPO = "https://github.com/scverse/scvi-tools"
PUBLIC_VERSION_RE = re.compile(
    r"(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?",
    re.ASCII,
)
"""A PEP 440 public version in normalised form (no local ``+...`` part); used with
``fullmatch``, so no trailing newline, ``/`` or ``..`` can reach a path."""


def trees_dir() -> Path:
    """Folder of cached trees: ``$SCVI_SKILL_CACHE``, else
    ``${XDG_CACHE_HOME:-~/.cache}/scvi-skill/trees``. Only absolute folders count: a
    relative or empty value (``HOME=`` too) would put the cache wherever the command runs,
    in the user's project, so it is passed over (XDG's own rule for its variables)."""
    explicit = os.environ.get("SCVI_SKILL_CACHE")
    if explicit and _absolute(explicit):
        return Path(explicit).expanduser()
    if explicit:
        _warn_once(f"SCVI_SKILL_CACHE={explicit!r} is not an absolute folder; passed over")
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and _absolute(xdg):
        return Path(xdg).expanduser() / "scvi-skill" / "trees"
    return home_dir() / ".cache" / "scvi-skill" / "trees"


def _absolute(folder: str) -> bool:
    return Path(folder).expanduser().is_absolute()


def home_dir() -> Path:
    """``$HOME`` when it is an absolute folder, else the account's home (``Path.home()``
    reads an empty or relative ``$HOME`` as it is)."""
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return Path(home)
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):  # Windows: USERPROFILE
        return Path.home()


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        from .errors import warn

        warn(message)


def is_public_version(text: str) -> bool:
    """True when ``text`` is a normalised PEP 440 public version such as ``1.5.1``."""
    return isinstance(text, str) and PUBLIC_VERSION_RE.fullmatch(text) is not None


def cached_tree_path(version: str) -> Path:
    """``<trees_dir>/scvi-tools-<version>``; ``ValueError`` for anything but a public version
    (callers check first and give a clear message; this is the last line of defence)."""
    if not is_public_version(version):
        raise ValueError(f"not a version number: {version!r}")
    return trees_dir() / f"scvi-tools-{version}"


def shell_word(text: str) -> str:
    """``text`` as one POSIX shell word (single-quoted unless plainly safe)."""
    if text and all(c.isalnum() or c in "._-/" for c in text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def script_command(name: str) -> str:
    """How to run one of the skill's scripts from any folder: ``python3 /abs/path/name``.

    Printed in "next" hints, so an agent whose working folder is the user's project (not the
    skill) can paste it as it is.
    """
    return f"python3 {shell_word(str(SCRIPTS_DIR / name))}"

"""The files of the shipped per-release API indexes (``references/api/``, described in
:mod:`.apiindex`): the manifest, one release's index, the name history and the curated
migrations, each read through the per-user cache of decoded references (:mod:`.loadcache`).

Kept apart from :mod:`.apiindex` so that the one call (``resolve_docs.py``, whose release
history reads the history and the migrations) imports neither ``dataclasses`` nor the
index view: about 40 ms on a slow machine. Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import loadcache
from .errors import IndexStale, SkillPackageError
from .paths import REFERENCES_DIR
from .text import clip

API_FORMAT = 1
API_DIR = REFERENCES_DIR / "api"
REGENERATE_API = "python scripts/build_api_index.py"
EXIT_UNKNOWN_VERSION = 4
DEPENDENCY_USES_FILE = "dependency_uses.json.gz"


class UnknownVersion(SkillPackageError):
    """A version the shipped indexes do not cover (exit 4)."""

    exit_code = EXIT_UNKNOWN_VERSION


def release_file_name(version: str) -> str:
    return f"scvi-tools-{version}.json.gz"


def read_api_file(path: Path) -> dict:
    """The JSON object in ``path`` (gzip-compressed when it ends in ``.gz``), from the per-user
    cache of decoded references when it holds this content (:mod:`.loadcache`)."""
    try:
        key, data, raw = loadcache.lookup(path)
    except OSError as err:
        raise IndexStale(f"cannot read the API index {path}: {err}",
                         hint=f"Regenerate it with: {REGENERATE_API}") from err
    if data is not None:
        return data
    import gzip  # only without a cached copy: with it, neither is needed
    import json

    try:
        text = gzip.decompress(raw) if path.suffix == ".gz" else raw
        data = json.loads(text.decode("utf-8"))
    except (OSError, ValueError, EOFError) as err:
        raise IndexStale(f"cannot read the API index {path}: {err}",
                         hint=f"Regenerate it with: {REGENERATE_API}") from err
    if not isinstance(data, dict):
        raise IndexStale(f"{path} is not a JSON object", hint=f"Regenerate: {REGENERATE_API}")
    loadcache.store(path, key, data)
    return data


class Releases:
    """The manifest: ``versions`` (known releases, oldest first), ``files`` (version -> file
    name in the API folder), ``folder``, ``requires_python`` (version -> the Python versions
    its sdist declares, ``">=3.10"``; ``""`` when unknown) and ``requires`` (version -> the
    packages it needs to run: name -> version specifier, ``""`` for any). A plain class, not
    a dataclass: importing ``dataclasses`` (with ``inspect``) would cost the one call more
    than reading the files."""

    __slots__ = ("versions", "files", "folder", "requires_python", "requires")

    def __init__(self, versions: list[str], files: dict[str, str], folder: Path,
                 requires_python: dict[str, str] | None = None,
                 requires: dict[str, dict[str, str]] | None = None) -> None:
        self.versions, self.files, self.folder = versions, files, folder
        self.requires_python = requires_python or {}
        self.requires = requires or {}

    def check(self, version: str) -> str:
        if version in self.files:
            return version
        raise UnknownVersion(
            f"no API index for scvi-tools {clip(version, 60)!r}; known releases: "
            + ", ".join(self.versions),
            hint="Pass one of these with --version (a release newer than the last one is "
                 "checked against the last; the skill's maintainers index new releases: "
                 f"{REGENERATE_API} in its repository).")

    def newer(self, version: str) -> bool:
        """Whether ``version`` is a release after the newest one indexed (``1.6.0`` or
        ``1.5.1.post1`` when the newest is 1.5.1): a skill not yet refreshed for it."""
        mine, last = _release_key(version), _release_key(self.versions[-1]) \
            if self.versions else None
        return mine is not None and last is not None and mine > last

    @property
    def newest(self) -> str:
        return self.versions[-1]


_RELEASE = re.compile(r"(\d+(?:\.\d+)*)(?:(a|b|rc)\d+)?(?:\.post(\d+))?(?:\.dev\d+)?")


def _release_key(version: str) -> tuple | None:
    """``(release numbers padded to three, 0 for a pre-release else 1, post number)``, which
    orders releases of one series as PEP 440 does outside dev releases; None for a text that
    is not a version."""
    match = _RELEASE.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        return None
    numbers = tuple(int(part) for part in match[1].split("."))
    numbers += (0,) * (3 - len(numbers))
    return numbers, 0 if match[2] else 1, int(match[3] or 0)


def load_releases(folder: Path | None = None) -> Releases:
    folder = folder or API_DIR
    manifest = read_api_file(folder / "releases.json")
    if manifest.get("format") != API_FORMAT:
        raise IndexStale(f"{folder / 'releases.json'} has format {manifest.get('format')!r}, "
                         f"expected {API_FORMAT}", hint=f"Regenerate: {REGENERATE_API}")
    rows = manifest.get("releases") or []
    return Releases([r["version"] for r in rows], {r["version"]: r["file"] for r in rows},
                    folder, {r["version"]: r.get("requires_python") or "" for r in rows},
                    {r["version"]: r.get("requires") or {} for r in rows})


def load_release(releases: Releases, version: str) -> dict:
    return read_api_file(releases.folder / releases.files[releases.check(version)])


def load_history(releases: Releases) -> dict:
    return read_api_file(releases.folder / "history.json.gz")


def load_gone_messages(folder: Path | None = None) -> dict:
    """The messages earlier releases raise and the pinned one does not (small: read for a
    pasted error without the history)."""
    return read_api_file((folder or API_DIR) / "gone_messages.json")


def load_dependency_uses(folder: Path | None = None) -> dict:
    """Which releases use which names of their dependencies (small: read only for a question
    that names one, or pastes an error about one)."""
    data = read_api_file((folder or API_DIR) / DEPENDENCY_USES_FILE)
    if data.get("format") != API_FORMAT:
        raise IndexStale(f"{DEPENDENCY_USES_FILE} has format {data.get('format')!r}, expected "
                         f"{API_FORMAT}", hint=f"Regenerate: {REGENERATE_API}")
    return data


def load_migrations(folder: Path | None = None) -> dict:
    path = (folder or API_DIR) / "migrations.json"
    return read_api_file(path) if path.is_file() else {}

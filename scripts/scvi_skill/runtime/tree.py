"""Find the scvi-tools tree a script works on, and read its version.

One discovery order for every script: ``--tree PATH``, else ``$SCVI_TOOLS_TREE``, else the
cached tree of the pinned version (``scripts/fetch_tree.py`` puts it there), else an error that
names the command that fixes it. ``--installed`` (or a ``--tree`` that points into
site-packages) uses the scvi package installed in the running Python: good for source
searches, but it has no docs/ or tests/.

Paths reported to the agent are always relative to the tree root and use the sdist layout
(``docs/...``, ``src/scvi/...``, ``tests/...``), whichever kind of tree was found.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import re
import stat
from collections import namedtuple
from pathlib import Path

from . import PINNED_SCVI_TOOLS
from .errors import UNREADABLE, TreeNotFound, warn
from .paths import cached_tree_path, home_dir, is_public_version

TREE_ENV = "SCVI_TOOLS_TREE"
FIX_COMMAND = "python3 scripts/fetch_tree.py"
_VERSION_LINE = re.compile(r"^version\s*=\s*[\"']([^\"']+)[\"']\s*$", re.MULTILINE)


MAX_TREE_FILE_BYTES = 64 << 20
"""The largest tree file read (scvi-tools' largest text files are under 2 MB)."""


def read_text(path: Path) -> str:
    """A tree file's text (undecodable bytes replaced); ``OSError`` for anything but a
    regular file of at most :data:`MAX_TREE_FILE_BYTES`: a named pipe in a tree would block
    the read forever, a device never end. A file that is there but cannot be read is noted
    in :data:`~.errors.UNREADABLE`."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > MAX_TREE_FILE_BYTES:
            raise OSError(errno.EFBIG, "file too large", str(path))
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise
    except OSError as err:  # there, yet passed over: said once (errors.warn_unreadable)
        UNREADABLE.setdefault(str(path), err.strerror or type(err).__name__)
        raise


class Tree(namedtuple("_TreeFields", ["root", "kind", "version"])):
    """A scvi-tools tree on disk: ``root``, the absolute, resolved folder (the sdist/checkout
    root, or site-packages for an install); ``kind``, ``"sdist"``, ``"checkout"`` or
    ``"installed"``; ``version``, the tree's scvi-tools version or ``"unknown"``.

    A ``collections.namedtuple``: immutable, and cheaper to import than a dataclass or a
    ``typing.NamedTuple`` (``typing`` alone is about 3 ms) in the agent's one-shot processes."""

    __slots__ = ()

    @property
    def package_dir(self) -> Path:
        """The ``scvi`` package folder."""
        if self.kind == "installed":
            return self.root / "scvi"
        return self.root / "src" / "scvi"

    @property
    def has_docs(self) -> bool:
        return (self.root / "docs").is_dir()

    @property
    def has_tests(self) -> bool:
        return (self.root / "tests").is_dir()

    def holds(self, rel: str) -> bool:
        """Whether the tree-relative path ``rel`` is of a part this kind of tree carries: an
        installed package has ``src/scvi/...`` only (no docs/, tests/ or CHANGELOG.md), so
        what it lacks elsewhere is unknown there, not absent."""
        return self.kind != "installed" or rel.startswith("src/scvi/")

    def to_disk(self, rel: str) -> Path:
        """Map a tree-relative path (``src/scvi/...``) to the file on disk."""
        if self.kind == "installed" and rel.startswith("src/"):
            rel = rel[len("src/") :]
        return self.root / rel

    def to_rel(self, path: Path | str) -> str | None:
        """Map a path on disk to its tree-relative POSIX path; ``None`` if outside the tree.

        Symlinks are resolved first, so a link that leads out of the tree is outside.
        """
        try:
            rel = Path(path).resolve().relative_to(self.root)
        except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (3.12)
            return None
        posix = rel.as_posix()
        if self.kind == "installed":
            return "src/" + posix if posix.startswith("scvi/") else None
        return posix


def missing_parts(root: Path, *, flat: bool = False) -> list[str]:
    """What a folder lacks to be an sdist or checkout tree (empty when it is one). With
    ``flat``, the package may also be at the top (``scvi/``), as in the sdists before 1.2."""
    missing = []
    if not (root / "src" / "scvi" / "__init__.py").is_file() and not (
            flat and is_flat(root)):
        missing.append("src/scvi/__init__.py")
    if not (root / "docs").is_dir():
        missing.append("docs/")
    return missing


def cached_tree(version: str) -> Path | None:
    """The cached tree folder of ``version`` (``fetch_tree.py`` puts it there) when it is
    whole, else None; None too for a text that is not a version (it never becomes a path)."""
    if not is_public_version(version):
        return None
    cached = cached_tree_path(version)
    return cached if cached.is_dir() and not missing_parts(cached) else None


def is_flat(root: Path) -> bool:
    """Whether a tree has its package at the top (``scvi/__init__.py``, no ``src/``), as the
    scvi-tools sdists before 1.2 have."""
    return (root / "scvi" / "__init__.py").is_file() and not (root / "src").exists()


def read_version(root: Path) -> str:
    """Version from PKG-INFO (sdist), pyproject.toml (checkout) or dist-info (installed)."""
    pkg_info = root / "PKG-INFO"
    if pkg_info.is_file():
        for line in pkg_info.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        match = _VERSION_LINE.search(pyproject.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
    for dist_info in sorted(root.glob("scvi_tools-*.dist-info")):
        metadata = dist_info / "METADATA"
        if metadata.is_file():
            return read_version_from_metadata(metadata)
    return "unknown"


def read_version_from_metadata(metadata: Path) -> str:
    for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
        if not line.strip():
            break
    return "unknown"


def open_tree(path: Path | str, *, need_docs: bool = False) -> Tree:
    """Open an explicit tree path (an sdist/checkout root or an installed scvi package)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise TreeNotFound(
            f"no scvi-tools tree at {root}: not a folder",
            hint=f"Fetch the pinned tree with: {FIX_COMMAND}",
        )
    root = root.resolve()
    missing = missing_parts(root)
    if not missing:
        kind = "checkout" if (root / ".git").exists() else "sdist"
        return Tree(root=root, kind=kind, version=read_version(root))
    installed = _installed_from(root)
    if installed is not None:
        if need_docs:
            raise TreeNotFound(
                f"{root} is an installed scvi package: it has no docs/",
                hint=f"Use a full tree for documents: {FIX_COMMAND}",
            )
        return installed
    raise TreeNotFound(
        f"{root} is not an scvi-tools tree: missing {', '.join(missing)}",
        hint=f"Point --tree at an sdist or git checkout of scvi-tools, or run: {FIX_COMMAND}",
    )


def _installed_from(path: Path) -> Tree | None:
    """An installed package given as site-packages or as site-packages/scvi."""
    if path.name == "scvi" and (path / "__init__.py").is_file():
        site = path.parent
    elif (path / "scvi" / "__init__.py").is_file():
        site = path
    else:
        return None
    return Tree(root=site, kind="installed", version=read_version(site))


NO_PROJECT_ENV = "SCVI_SKILL_NO_PROJECT"
"""Set to 1: no script reads the project's installed scvi package unasked."""
PROJECT_ENVS = ("VIRTUAL_ENV", "CONDA_PREFIX")
"""Environment variables that name the project's active environment (venv, conda)."""
PROJECT_VENVS = (".venv", "venv")
"""Folders of the working directory that hold a project's virtual environment."""


def project_installed(cwd: Path | None = None) -> Tree | None:
    """The scvi package installed in the project's environment, found without running or
    importing anything: ``$VIRTUAL_ENV``, ``$CONDA_PREFIX``, then ``.venv`` and ``venv`` of
    the working folder (the user's project, where the agent works) or a folder above it up to
    the project's root (:func:`_project_folders`), the first whose
    site-packages holds both ``scvi/__init__.py`` and a ``scvi_tools-*.dist-info`` (or only
    the dist-info of an editable install: its checkout, :func:`_editable_checkout`); None
    when none does, or when ``$SCVI_SKILL_NO_PROJECT`` is set. A few stat calls and one small
    glob per environment."""
    if os.environ.get(NO_PROJECT_ENV, "") not in ("", "0"):
        return None
    places = [Path(os.environ[name]) for name in PROJECT_ENVS if os.environ.get(name)]
    places += [folder / name for folder in _project_folders(cwd) for name in PROJECT_VENVS]
    for env in places:
        try:
            sites = [env / "Lib" / "site-packages"] if os.name == "nt" else \
                sorted((env / "lib").glob("python3*/site-packages"))
            for site in sites:
                dists = sorted(site.glob("scvi_tools-*.dist-info"))
                found = _installed_from(site.resolve()) if dists else None
                if found is None and dists:
                    found = _editable_checkout(dists[-1])
                if found is not None:
                    return found
        except OSError:
            continue  # an unreadable environment is not the project's
    return None


MAX_PROJECT_DEPTH = 6
"""How many folders above the working one may hold the project's environment."""


def _project_folders(cwd: Path | None) -> list[Path]:
    """The working folder and those above it, up to the project's root (the first holding
    ``.git`` or ``pyproject.toml``), at most :data:`MAX_PROJECT_DEPTH` above, never the home
    folder or the file system's root: an agent that went into the project's ``notebooks/``
    still works in the project, whose ``.venv`` is at its root."""
    try:
        folder = Path.cwd() if cwd is None else cwd
    except OSError:  # the working folder was removed
        return []
    try:
        stops = {home_dir(), Path(folder.anchor)}
    except (OSError, RuntimeError):  # no home folder to be found
        stops = {Path(folder.anchor)}
    out = []
    for _ in range(MAX_PROJECT_DEPTH + 1):
        if folder in stops:
            break
        out.append(folder)
        try:
            root = (folder / ".git").exists() or (folder / "pyproject.toml").is_file()
        except OSError:  # a folder the account may not look into: go no higher
            break
        if root or folder.parent == folder:
            break
        folder = folder.parent
    return out


def _editable_checkout(dist: Path) -> Tree | None:
    """The checkout an editable install of scvi-tools (``pip install -e``) points at, read
    from the dist-info's ``direct_url.json`` (PEP 610), as a tree with the installed version
    (a checkout's pyproject may not carry one); None for any other install or a checkout
    that is not a whole tree. A scvi-tools developer's project runs that checkout."""
    import json  # only here: most environments have the package itself in site-packages

    try:
        info = json.loads((dist / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str) or not url.startswith("file:") \
            or not isinstance(info.get("dir_info"), dict) or not info["dir_info"].get("editable"):
        return None
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    try:
        tree = open_tree(url2pathname(urlparse(url).path))  # it unquotes %20 and the like
    except (TreeNotFound, OSError, ValueError):
        return None
    if tree.kind == "installed":
        return None
    installed = read_version_from_metadata(dist / "METADATA") \
        if (dist / "METADATA").is_file() else "unknown"
    return Tree(tree.root, tree.kind, installed if installed != "unknown" else tree.version)


def project_release(requested: str | None = None,
                    pinned: str = PINNED_SCVI_TOOLS) -> Tree | None:
    """The project's installed package (:func:`project_installed`) when reading it tells
    more than the cached tree of ``pinned`` does: it is another release, or that release with
    no tree cached; and ``requested`` (a ``--version``) is None or its release. None otherwise:
    no project package, an unknown version, another release asked for, or the same source
    cached with its docs beside it. The scripts that read it say so on stderr."""
    found = project_installed()  # None with $SCVI_SKILL_NO_PROJECT set
    if found is None or found.version == "unknown" or (requested and requested != found.version):
        return None
    if found.version == pinned and cached_tree(pinned) is not None:
        return None
    return found


def installed_tree() -> Tree:
    """The scvi package of the running Python, found without importing it."""
    spec = importlib.util.find_spec("scvi")
    if spec is None or not spec.submodule_search_locations:
        raise TreeNotFound(
            "scvi-tools is not installed in this Python",
            hint=f"Install it (pip install scvi-tools) or fetch the source tree: {FIX_COMMAND}",
        )
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    tree = _installed_from(package)
    if tree is None:  # pragma: no cover - find_spec found a package without __init__.py
        raise TreeNotFound(f"{package} does not look like the scvi package")
    return tree


def discover_tree(
    tree_arg: str | None = None,
    *,
    installed: bool = False,
    need_docs: bool = False,
    expected_version: str | None = None,
) -> Tree:
    """Find the tree by the one discovery order, and warn on a version mismatch.

    ``expected_version`` is the version the shipped maps were generated from; it defaults
    to the pinned version.
    """
    if installed:
        tree = installed_tree()
        if need_docs:
            raise TreeNotFound(
                "the installed scvi package has no docs/",
                hint=f"Use a full tree for documents: {FIX_COMMAND}",
            )
    elif tree_arg is not None and not str(tree_arg).strip():
        raise TreeNotFound("--tree is empty", hint="Pass the tree's folder, or leave --tree "
                                                   "out to use the cached one")
    elif tree_arg:
        tree = open_tree(tree_arg, need_docs=need_docs)
    elif os.environ.get(TREE_ENV):
        tree = open_tree(os.environ[TREE_ENV], need_docs=need_docs)
    else:
        cached = cached_tree_path(PINNED_SCVI_TOOLS)
        if not cached.is_dir() or missing_parts(cached):
            raise TreeNotFound(
                f"no scvi-tools tree given and none cached for {PINNED_SCVI_TOOLS} at {cached}",
                hint=f"Fetch it once with: {FIX_COMMAND}   (or pass --tree PATH / set {TREE_ENV})",
            )
        tree = open_tree(cached, need_docs=need_docs)
    expected = expected_version or PINNED_SCVI_TOOLS
    if tree.version != expected:
        warn(
            f"tree {tree.root} is scvi-tools {tree.version}, the maps describe {expected}: "
            "line numbers may be off"
        )
    return tree

"""Shared fixtures: the pinned scvi-tools tree, fetched once if no tree is cached yet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.errors import TreeNotFound  # noqa: E402
from scvi_skill.runtime.tree import Tree, discover_tree  # noqa: E402


@pytest.fixture(autouse=True)
def _no_load_cache(monkeypatch):
    """The per-user cache of decoded references (scvi_skill.runtime.loadcache) stays out of
    the way: tests load many fixture files, and must not leave copies of them in the user's
    cache. tests/test_loadcache.py turns it on, in a temporary cache folder."""
    monkeypatch.setenv("SCVI_SKILL_NO_LOAD_CACHE", "1")


@pytest.fixture(autouse=True)
def _no_project_install(monkeypatch):
    """Tests run in the repository, whose .venv holds scvi-tools: resolve_docs.py must not
    read the project's installed package unasked (its tests without a cached tree would read
    it). tests/test_installed_tree.py turns it on for a project it makes."""
    monkeypatch.setenv("SCVI_SKILL_NO_PROJECT", "1")


@pytest.fixture(autouse=True)
def _no_claude_config_dir(monkeypatch):
    """Tests that set HOME must not install into the caller's real $CLAUDE_CONFIG_DIR."""
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)


@pytest.fixture(autouse=True)
def _repo_root_untouched():
    """No test leaves a new file or folder at the repository's top (Lightning's DDP set-up
    once left ``lightning_logs/`` there, from a test running in the repository)."""
    before = set(os.listdir(REPO))
    yield
    added = set(os.listdir(REPO)) - before
    if added:
        pytest.fail(f"the test left {sorted(added)} in the repository's top folder")


@pytest.fixture
def cache_with_pinned(tmp_path, pinned_tree, monkeypatch) -> Path:
    """A per-user cache (``$SCVI_SKILL_CACHE``) that holds the pinned tree (a link to it) and
    nothing else, with ``$SCVI_TOOLS_TREE`` unset: a test's other trees are read as another
    release's, the pinned one found in the cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / pinned_tree.root.name).symlink_to(pinned_tree.root)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(cache))
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    return cache


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def pinned_tree() -> Tree:
    """The scvi-tools tree the maps describe ($SCVI_TOOLS_TREE or the cache).

    When none is there, it is fetched from the package index once (as a new user's first
    run would); under CI a failure to get it fails the tests that need it.
    """
    try:
        return discover_tree(None)
    except TreeNotFound:
        pass
    from scvi_skill.runtime.errors import SkillPackageError
    from scvi_skill.runtime.fetch import fetch_tree

    try:
        path = fetch_tree(PINNED_SCVI_TOOLS)
    except SkillPackageError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no scvi-tools {PINNED_SCVI_TOOLS} tree and it could not be fetched: {err}")
    return discover_tree(str(path))


@pytest.fixture
def tree_cache(tmp_path, monkeypatch) -> Path:
    """An empty per-user cache of release trees (``$SCVI_SKILL_CACHE``) for one test: trees
    the test writes there stand in for downloads."""
    folder = tmp_path / "trees"
    folder.mkdir()
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def rg_binary() -> str:
    """Path of ripgrep: on PATH or next to this interpreter (the ripgrep wheel)."""
    found = shutil.which("rg") or shutil.which("rg", path=str(Path(sys.executable).parent))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("rg is not installed (the ripgrep wheel should bring it)")
        pytest.skip("rg is not installed")
    return found


@pytest.fixture(scope="session")
def older_python() -> str:
    """An interpreter from 3.10 up to, not including, the tests' own (Debian's 3.11): the
    agent-facing scripts run on 3.10 and newer, and older ``ast`` raises other errors."""
    older = next((c for c in ("/usr/bin/python3", shutil.which("python3.11"),
                              shutil.which("python3.10"))
                  if c and Path(c).is_file() and subprocess.run(
                      [c, "-c", "import sys; raise SystemExit(not (3, 10) <= sys.version_info "
                       f"< {tuple(sys.version_info[:2])})"]).returncode == 0), None)
    if older is None:
        pytest.skip("no Python from 3.10 up to, not including, the tests' own on this machine")
    return older

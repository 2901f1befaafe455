"""Tree discovery: one order for every script, version warnings, installed packages."""

from __future__ import annotations

from pathlib import Path

import pytest
from scvi_skill.runtime import PINNED_SCVI_TOOLS
from scvi_skill.runtime.errors import TreeNotFound
from scvi_skill.runtime.tree import discover_tree, open_tree


def _make_tree(root: Path, version: str = PINNED_SCVI_TOOLS) -> Path:
    (root / "src" / "scvi" / "model").mkdir(parents=True)
    (root / "src" / "scvi" / "__init__.py").write_text("")
    (root / "src" / "scvi" / "model" / "_scvi.py").write_text("class SCVI:\n    pass\n")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# Index\n")
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n")
    return root


def _make_site_packages(root: Path, version: str) -> Path:
    (root / "scvi" / "model").mkdir(parents=True)
    (root / "scvi" / "__init__.py").write_text("")
    (root / "scvi" / "model" / "_scvi.py").write_text("class SCVI:\n    pass\n")
    dist = root / f"scvi_tools-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n")
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty-cache"))
    return tmp_path


def test_order_tree_arg_then_env_then_cache(isolated, monkeypatch):
    arg = _make_tree(isolated / "arg")
    env = _make_tree(isolated / "env")
    cached = _make_tree(isolated / "empty-cache" / f"scvi-tools-{PINNED_SCVI_TOOLS}")
    monkeypatch.setenv("SCVI_TOOLS_TREE", str(env))
    assert discover_tree(str(arg)).root == arg.resolve()
    assert discover_tree(None).root == env.resolve()
    monkeypatch.delenv("SCVI_TOOLS_TREE")
    assert discover_tree(None).root == cached.resolve()


def test_no_tree_names_the_fix(isolated):
    with pytest.raises(TreeNotFound) as info:
        discover_tree(None)
    assert "fetch_tree.py" in info.value.hint
    assert "SCVI_TOOLS_TREE" in info.value.hint


def test_wrong_path_says_what_is_missing(isolated):
    (isolated / "half" / "docs").mkdir(parents=True)
    with pytest.raises(TreeNotFound) as info:
        discover_tree(str(isolated / "half"))
    assert "src/scvi/__init__.py" in str(info.value)
    with pytest.raises(TreeNotFound, match="not a folder"):
        discover_tree(str(isolated / "missing"))


def test_version_mismatch_warns(isolated, capsys):
    tree = discover_tree(str(_make_tree(isolated / "old", version="1.4.2")))
    assert tree.version == "1.4.2"
    err = capsys.readouterr().err
    assert "1.4.2" in err and PINNED_SCVI_TOOLS in err


def test_pyproject_version_of_a_checkout(isolated):
    root = _make_tree(isolated / "checkout")
    (root / "PKG-INFO").unlink()
    (root / "pyproject.toml").write_text('[project]\nname = "scvi-tools"\nversion = "1.6.0"\n')
    (root / ".git").mkdir()
    tree = open_tree(root)
    assert (tree.kind, tree.version) == ("checkout", "1.6.0")


def test_installed_package_is_a_source_only_tree(isolated, capsys):
    site = _make_site_packages(isolated / "site-packages", PINNED_SCVI_TOOLS)
    for given in (site, site / "scvi"):
        tree = discover_tree(str(given))
        assert tree.kind == "installed" and tree.version == PINNED_SCVI_TOOLS
        assert not tree.has_docs
        assert tree.to_rel(site / "scvi" / "model" / "_scvi.py") == "src/scvi/model/_scvi.py"
        assert tree.to_disk("src/scvi/model/_scvi.py") == site / "scvi" / "model" / "_scvi.py"
    with pytest.raises(TreeNotFound, match="no docs"):
        discover_tree(str(site), need_docs=True)
    assert capsys.readouterr().err == ""


def test_symlink_out_of_the_tree_is_outside(isolated):
    root = _make_tree(isolated / "tree")
    secret = isolated / "secret.py"
    secret.write_text("x = 1\n")
    (root / "src" / "scvi" / "link.py").symlink_to(secret)
    tree = open_tree(root)
    assert tree.to_rel(root / "src" / "scvi" / "link.py") is None
    assert tree.to_rel(root / "src" / "scvi" / "model" / "_scvi.py") == "src/scvi/model/_scvi.py"


def test_pinned_tree_is_real(pinned_tree):
    assert pinned_tree.version == PINNED_SCVI_TOOLS
    assert (pinned_tree.root / "CHANGELOG.md").is_file()
    assert len(list((pinned_tree.root / "docs").rglob("*.md"))) == 76

"""``search_source.py --symbol`` without ripgrep: names the shipped index knows are answered
from it (definition line, signature and docstring read from the tree); a name it does not know
exits 3 with a hint that names the Grep fallback and the folder to search."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import search_source
from scvi_skill.runtime import rg as rg_module

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "search_source.py"


@pytest.fixture()
def no_rg(monkeypatch, tmp_path):
    """rg is nowhere: not at $SCVI_SKILL_RG, not on PATH, not next to the interpreter."""
    monkeypatch.delenv(rg_module.RG_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rg_module.sys, "executable", str(tmp_path / "python"))


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = search_source.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("name", "path", "symbol"), [
    ("SCVI.setup_anndata", "src/scvi/model/_scvi.py", "scvi.model.SCVI.setup_anndata"),
    ("scvi.external.MRVI", "src/scvi/external/mrvi/_model.py", "scvi.external.MRVI"),
    ("TrainerConfig", "src/scvi/train/", "scvi.train.TrainerConfig"),
])
def test_symbol_answers_from_the_index_without_rg(no_rg, capsys, pinned_tree, name, path, symbol):
    code, out, err = _run(capsys, "--symbol", name, "--json", "--tree", str(pinned_tree.root))
    assert code == 0, err
    report = json.loads(out)
    first = report["results"][0]
    assert first["symbol"] == symbol and first["path"].startswith(path)
    line = (pinned_tree.root / first["path"]).read_text(encoding="utf-8").splitlines()[first["line"] - 1]
    assert line.lstrip().startswith(("def ", "class ")) and symbol.rsplit(".", 1)[-1] in line
    assert "ripgrep" not in err


def test_inherited_member_resolves_without_rg(no_rg, capsys, pinned_tree):
    code, out, err = _run(capsys, "--symbol", "SCVI.train", "--json", "--tree", str(pinned_tree.root))
    assert code == 0, err
    first = json.loads(out)["results"][0]
    assert first.get("inherited_from") and first["path"].startswith("src/scvi/model/base/")


def test_unknown_symbol_without_rg_exits_3_with_the_grep_fallback(no_rg, capsys, pinned_tree):
    code, out, err = _run(capsys, "--symbol", "NoSuchClassAnywhere", "--tree",
                          str(pinned_tree.root))
    assert code == 3 and out == ""
    assert err.startswith("Error: ") and err.count("Error:") == 1
    assert "NoSuchClassAnywhere" in err and "Grep" in err
    assert str(pinned_tree.root / "src" / "scvi") in err


def test_other_modes_still_need_rg(no_rg, capsys, pinned_tree):
    code, out, err = _run(capsys, "--usages", "SCVI", "--tree", str(pinned_tree.root))
    assert code == 3 and out == "" and "rg" in err


def test_symbol_without_rg_in_a_bare_process(pinned_tree, tmp_path):
    """The whole script, as an agent runs it, with an interpreter that has no rg beside it."""
    env = {"PATH": str(tmp_path), "SCVI_SKILL_RG": "", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-I", str(SCRIPT), "--symbol", "SCANVI.from_scvi_model",
                          "--tree", str(pinned_tree.root)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "src/scvi/model/_scanvi.py:" in run.stdout and "def from_scvi_model" in run.stdout

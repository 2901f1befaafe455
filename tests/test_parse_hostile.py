"""Huge or undecodable inputs to refresh_maps.py and check_skill.py (issue 13, D6): a
200,000-term expression or a non-UTF-8 SKILL.md is one reported problem, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import check_skill
import pytest
import refresh_maps
from scvi_skill.build.source.pyast import parse_python
from scvi_skill.check.codecheck import check_snippet

FIXTURES = Path(__file__).parent / "fixtures"
HUGE = "x = " + "+".join(["1"] * 200_000) + "\n"


def test_parse_python_turns_recursion_into_a_syntax_error():
    with pytest.raises(SyntaxError, match="too deeply nested"):
        parse_python(HUGE, "src/scvi/huge.py")


def test_refresh_skips_a_huge_expression(tmp_path, capsys):
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "mini_tree", tree)
    (tree / "src" / "scvi" / "huge.py").write_text(HUGE)
    (tree / "tests" / "test_huge.py").write_text(HUGE)
    code = refresh_maps.main(["--tree", str(tree), "--out", str(tmp_path / "out"),
                              "--routing", str(FIXTURES / "mini_tree" / "routing.yaml")])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RecursionError" not in err.replace("(RecursionError)", "")
    assert code == 0, err
    assert "src/scvi/huge.py" in err and "tests/test_huge.py" in err


def test_check_skill_reports_a_huge_block_and_a_non_utf8_skill_md(tmp_path, pinned_tree,
                                                                   repo_root, capsys):
    findings = check_snippet(HUGE, api=None, scope=None, inline=False)
    assert findings and "too deeply nested" in findings[0].message
    skill = tmp_path / "skill"
    shutil.copytree(repo_root, skill, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".ci", "node_modules", "__pycache__", "examples", "benchmarks"))
    (skill / "SKILL.md").write_bytes((repo_root / "SKILL.md").read_bytes() + b"\n\xff\xfe\n")
    code = check_skill.main(["--skill-dir", str(skill), "--tree", str(pinned_tree.root)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "not UTF-8" in out


def test_check_code_reports_a_chain_too_deep_to_walk_not_a_traceback(tmp_path, capsys):
    """A 900-part attribute chain parses but is too deep for the checker's tree walk (it
    raised RecursionError through check_code.py before): one finding, exit 1; a normal
    block in the same file is still checked."""
    import check_code

    deep = tmp_path / "deep.py"
    deep.write_text("import scvi\nx = scvi.settings" + ".a" * 900 + "\n", encoding="utf-8")
    ok = tmp_path / "ok.py"
    ok.write_text("import scvi\nscvi.settings.num_workers = 4\n", encoding="utf-8")
    code = check_code.main([str(deep), str(ok)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "deep.py:1:1: code is too deeply nested to check (RecursionError)" in out
    assert "ok.py:2:1: scvi.settings.num_workers" in out


@pytest.mark.parametrize("notebook, why", [
    ('{"cells": "x"}', "no list of cells"), ("[1, 2]", "no list of cells"),
    ('{"cells": [1]}', "no list of cells"),
    ('{"cells": [{"cell_type": "code", "source": [1]}]}', "cell 1's source is not text"),
])
def test_a_notebook_of_the_wrong_shape_is_a_finding_not_a_traceback(tmp_path, capsys,
                                                                    notebook, why):
    """Valid JSON that is not a notebook's shape ended in AttributeError before; now it is
    one "cannot read" finding like invalid JSON, and the next file is still checked."""
    import check_code

    bad = tmp_path / "bad.ipynb"
    bad.write_text(notebook, encoding="utf-8")
    ok = tmp_path / "ok.py"
    ok.write_text("import scvi\nscvi.settings.num_workers = 4\n", encoding="utf-8")
    code = check_code.main([str(bad), str(ok)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert f"bad.ipynb:1:1: cannot read: not a notebook ({why})" in out
    assert "ok.py:2:1: scvi.settings.num_workers" in out

"""SKILL.md and the slash command stay in step with the scripts, and SKILL.md's Python runs.

The Python blocks run against the installed scvi-tools (1.5.1, the examples extra) with two
substitutions: ``scvi.data.pbmc_dataset()`` (a download, commented out in SKILL.md) becomes
``scvi.data.synthetic_iid()``, and every ``max_epochs=N`` becomes ``max_epochs=2`` (SKILL.md
says so).
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin
from scvi_skill.install import AGENT_SCRIPTS

REPO = Path(__file__).resolve().parent.parent
SKILL = (REPO / "SKILL.md").read_text(encoding="utf-8")
COMMAND = (REPO / "commands" / "scvi-inputs.md").read_text(encoding="utf-8")
QUICK_EPOCHS = 2
OFFLINE = ("scvi.data.pbmc_dataset()", "scvi.data.synthetic_iid()")
"""The documented offline substitution: same ``batch`` and ``labels`` columns, no download."""


def _tokens(text: str):
    return MarkdownIt("commonmark").use(front_matter_plugin).parse(text)


def python_blocks(text: str) -> list[str]:
    return [t.content for t in _tokens(text)
            if t.type == "fence" and (t.info.split() or [""])[0] in ("python", "py")]


def inline_code(text: str) -> list[str]:
    return [child.content for t in _tokens(text) if t.type == "inline" and t.children
            for child in t.children if child.type == "code_inline"]


def offline_program(blocks: list[str]) -> tuple[str, int]:
    program = "\n\n".join(blocks).replace(*OFFLINE)
    program, n_epochs = re.subn(r"\bmax_epochs\s*=\s*\d+", f"max_epochs={QUICK_EPOCHS}", program)
    return program, n_epochs


def test_skill_names_every_agent_script_with_its_folder_variable():
    for script in AGENT_SCRIPTS:
        assert f'"${{CLAUDE_SKILL_DIR}}/scripts/{script}"' in SKILL, script


@pytest.mark.parametrize("script", AGENT_SCRIPTS)
def test_agent_scripts_have_help(script, capsys):
    module = importlib.import_module(script.removesuffix(".py"))
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_every_flag_shown_in_skill_md_exists(capsys):
    helps = ""
    for script in AGENT_SCRIPTS:
        module = importlib.import_module(script.removesuffix(".py"))
        with pytest.raises(SystemExit):
            module.main(["--help"])
        helps += capsys.readouterr().out
    flags = {flag for span in inline_code(SKILL) for flag in re.findall(r"--[a-z][a-z-]*", span)}
    assert {"--json", "--symbol", "--kwarg"} <= flags
    assert sorted(f for f in flags if f not in helps) == []


def test_command_runs_the_resolver_on_the_arguments():
    assert COMMAND.startswith("---\n")
    assert "$ARGUMENTS" in COMMAND
    assert '"${CLAUDE_PLUGIN_ROOT}/scripts/resolve_docs.py"' in COMMAND
    # Every script the command tells the agent to run is pre-approved by its allowed-tools.
    granted = COMMAND.split("---")[1]
    for script in set(re.findall(r"scripts/(\w+\.py)", COMMAND.split("---", 2)[2])):
        assert f'"${{CLAUDE_PLUGIN_ROOT}}/scripts/{script}" *)' in granted, script
    assert "argument-hint:" in COMMAND.split("---")[1]


def test_substitution_rules_apply_to_the_blocks():
    blocks = python_blocks(SKILL)
    assert blocks, "SKILL.md must keep its minimal working example"
    program, n_epochs = offline_program(blocks)
    assert n_epochs >= 1 and "pbmc_dataset()" not in program
    compile(program, "SKILL.md", "exec")
    assert "pbmc_dataset()" in SKILL  # the real-data path stays documented beside it


@pytest.mark.examples
@pytest.mark.slow
def test_python_blocks_run_against_scvi_tools(tmp_path):
    pytest.importorskip("scvi")
    program, _ = offline_program(python_blocks(SKILL))
    script = tmp_path / "skill_blocks.py"
    script.write_text(program, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    assert (tmp_path / "scvi_model" / "model.pt").is_file()


def test_script_commands_use_the_skill_folder_variable():
    """A bare ``python3 scripts/...`` only works when the agent's cwd is the skill folder."""
    for span in inline_code(SKILL):
        if span.startswith("python3 ") and "scripts/" in span:
            assert '"${CLAUDE_SKILL_DIR}/scripts/' in span, span


MAX_BODY_CHARS = 10_000
"""Issue 10: the body the agent loads on invoke stays at or under 10,000 characters (about
2,500 tokens); long lists live in references/ and reach the agent through the pack."""


def test_skill_body_stays_within_its_character_budget():
    front, _, body = SKILL.partition("\n---\n")
    assert front.startswith("---") and body
    assert len(body) <= MAX_BODY_CHARS, len(body)

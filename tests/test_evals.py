"""evals/: the suite `claude plugin eval` runs, checked offline.

The fast tests read the case files against the format Claude Code 2.1.332 accepts (prompt.md
frontmatter keys, grader types and their keys) and check what the graders claim against the
pinned tree and index (paths exist, dotted scvi names are public in 1.5.1). The slow test runs
the real CLI's `plugin eval` on a clone, with a local API stub in place of the model: every
case must load and report the graders written here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
EVALS = REPO / "evals"
SKILL = "scvi-tools-inputs-and-modeling"
MIN_CASES = 12
PROMPT_KEYS = {"schema_version", "name", "description", "tags", "plugins", "runs",
               "expected_outcome", "model", "max_turns", "timeout_seconds", "allowed_tools",
               "disallowed_tools", "artifact_publish", "growthbook_overrides",
               "append_system_prompt", "env"}
"""prompt.md frontmatter keys `claude plugin eval` 2.1.332 accepts (others are an error)."""
GRADER_KEYS = {
    "regex": {"target", "pattern", "flags", "match", "weight", "arm"},
    "tool_order": {"before", "after", "weight", "arm"},
    "tool_used": {"tool", "input_match", "min", "max", "weight", "arm"},
    "file_exists": {"path", "exists", "weight", "arm"},
    "llm": {"criteria", "focus", "weight", "arm"},
    "baseline": {"baseline_file", "criteria", "weight", "arm"},
}
"""Grader types and their keys (besides ``type``; the name is the file name)."""
TEMPLATE_TEXT = ("TODO: describe what the agent should do",
                 "TODO: describe what a successful response looks like")
TREE_PATH = re.compile(r"\b((?:docs|src/scvi)/[A-Za-z0-9_./-]+\.(?:md|py)|CHANGELOG\.md)\b")
SCVI_NAME = re.compile(r"\bscvi\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _split(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path}: no frontmatter"
    head, body = text[4:].split("\n---\n", 1)
    data = yaml.safe_load(head)
    assert isinstance(data, dict), path
    return data, body.strip()


def _cases() -> list[Path]:
    return sorted(p for p in EVALS.iterdir() if p.is_dir() and p.name != "results")


def test_the_suite_has_enough_cases_and_a_negative_one():
    cases = _cases()
    assert len(cases) >= MIN_CASES
    negative = [c for c in cases if _skill_grader(c)[0].get("max") == 0]
    assert negative, "no case checks that the skill stays out of a question it excludes"
    prompts = [_split(c / "prompt.md")[1] for c in cases]
    assert len(set(prompts)) == len(prompts)


def _skill_grader(case: Path) -> tuple[dict, str]:
    for grader in sorted((case / "graders").glob("*.md")):
        data, _ = _split(grader)
        if data.get("type") == "tool_used" and data.get("tool") == "Skill":
            return data, grader.name
    return {}, ""


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_case_follows_the_eval_format(case):
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", case.name)
    front, prompt = _split(case / "prompt.md")
    assert set(front) <= PROMPT_KEYS, set(front) - PROMPT_KEYS
    assert prompt and not any(t in prompt for t in TEMPLATE_TEXT)
    tools = front.get("allowed_tools", [])
    assert "Skill" in tools and "Bash" not in tools, "Bash must be scoped, e.g. Bash(python3 *)"
    assert 0 < front.get("max_turns", 10) <= 200 and 0 < front.get("timeout_seconds", 300) <= 3600
    graders = sorted((case / "graders").glob("*.md"))
    assert graders
    for grader in graders:
        data, body = _split(grader)
        kind = data.pop("type")
        assert kind in GRADER_KEYS, f"{grader}: unknown type {kind}"
        assert set(data) <= GRADER_KEYS[kind], f"{grader}: {set(data) - GRADER_KEYS[kind]}"
        assert data.get("arm") in (None, "with-only", "both")
        if kind in ("llm", "baseline"):
            assert body and not any(t in body for t in TEMPLATE_TEXT), grader
        if kind == "regex":
            re.compile(data.get("pattern") or body)
            assert data.get("match", "contains") in ("contains", "not_contains") \
                or re.fullmatch(r"count:\d+", data["match"])
    skill, name = _skill_grader(case)
    assert skill.get("input_match") == SKILL, f"{case.name}: no Skill grader for {SKILL}"
    if skill.get("max") == 0:
        assert skill.get("arm") == "both", "a must-not-fire check has to be scored"
    else:
        assert skill.get("arm") == "with-only" and skill.get("min", 1) >= 1, name
        assert any(_split(g)[0].get("type") == "llm" for g in graders), "no answer grader"


def test_no_case_file_has_a_second_name():
    """`claude plugin eval` refuses case files reachable through a hard link."""
    linked = [p for p in EVALS.rglob("*") if p.is_file() and os.stat(p).st_nlink > 1]
    assert linked == []


def test_grader_facts_cite_what_exists_in_the_pinned_release(pinned_tree):
    from scvi_skill.runtime.index import load_index

    namespaces = load_index(None)["namespaces"]
    problems = []
    for grader in sorted(EVALS.glob("*/graders/*.md")):
        _, body = _split(grader)
        for path in TREE_PATH.findall(body):
            if not (pinned_tree.root / path).is_file():
                problems.append(f"{grader.relative_to(REPO)}: {path} not in the tree")
        for name in SCVI_NAME.findall(body):
            name = name.rstrip(".")
            if name not in namespaces:
                problems.append(f"{grader.relative_to(REPO)}: {name} is not public in 1.5.1")
    assert problems == []


# -- the real CLI loads every case -----------------------------------------------------------------


def _clone(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / rel, dest / rel)
    return dest


@pytest.mark.slow
def test_claude_plugin_eval_loads_every_case(tmp_path):
    from claude_api_stub import ScriptedApi

    claude = os.environ.get("CLAUDE_BIN") or shutil.which("claude")
    if not claude or not Path(claude).is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Claude Code CLI not found: set CLAUDE_BIN")
        pytest.skip("Claude Code CLI not installed (set CLAUDE_BIN)")
    clone = _clone(tmp_path / "clone")
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    result = tmp_path / "result.json"
    with ScriptedApi([]) as api:
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "CLAUDE_CONFIG_DIR": str(home / ".claude"), "TMPDIR": str(scratch), "CI": "true",
               "DISABLE_AUTOUPDATER": "1", "NO_COLOR": "1", "ANTHROPIC_BASE_URL": api.base_url,
               "ANTHROPIC_API_KEY": "stub-key", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        run = subprocess.run(
            [claude, "plugin", "eval", ".", "--runs", "1", "--ablation", "none", "-j", "8",
             "--trust-plugin", "--no-publish", "--output-dir", str(tmp_path / "out"),
             "--report", str(tmp_path / "report.html"), "--json", str(result)],
            cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert "Couldn't load" not in output and "✗ " + str(clone / "evals") not in output, output
    report = json.loads(result.read_text(encoding="utf-8"))
    loaded = {case["name"]: case for case in report["cases"]}
    assert sorted(loaded) == [c.name for c in _cases()], output[-3000:]
    for name, case in loaded.items():
        written = {p.stem for p in (EVALS / name / "graders").glob("*.md")}
        assert {g["name"] for g in case["graders"]} == written, name
    for folder in scratch.glob("claude-eval-*"):  # runs that failed keep read-only sandboxes
        subprocess.run(["chmod", "-R", "u+rwX", str(folder)], check=False)

#!/usr/bin/env python3
"""Set up, grade and store one agent-trial round (the procedure of ``round5/README.md``).

Usage:
  python benchmarks/trials/trial.py setup N --set FILE [--ids ID,ID,...] [--dir DIR]
  python benchmarks/trials/trial.py grade N --skill-as A|B [--dir DIR]
  python benchmarks/trials/trial.py store N [--dir DIR]

- ``setup`` makes the round's folder (default: ``<temp>/trialN``): the questions (id and
  question only) and the grader's key (notes and gold lines) from a question set, the skill
  installed into ``skillproj/`` with ``scripts/install_skill.py --project``, ``run_logged.sh``,
  ``bin/rg`` and the three briefs (``prompt_skill.md``, ``prompt_rg.md``, ``grade/prompt.md``)
  to hand to the two answering agents and the blind grader, each passed in full.
- ``grade`` copies the two answer sets to ``grade/A.md`` and ``grade/B.md`` (``--skill-as``
  says which letter the skill agent gets; swap it each round) after checking that neither
  names a tool of the skill.
- ``store`` copies the logs, answers, questions, key and grades into
  ``benchmarks/trials/roundN/`` with this machine's paths shortened to SKILL, TREE, TREES,
  CACHE, TRIAL and HOME; it refuses a round that is already stored. The round's README.md
  is written by hand. ``summarize.py`` gives the commands and characters of the logs.

Exit codes: 0 done, 1 a check failed (an answer names the skill's tools, a file is missing),
2 usage error (an unknown id, a folder that exists, a stored round).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SKILL_NAME = "scvi-tools-inputs-and-modeling"
TOOLS = ("resolve_docs", "search_source", "check_code", "check_env", "fetch_tree", "SKILL.md")
"""Names an answer set must not hold: the grader is blind to which agent had the skill."""
STORED = {"answers_rg.md": "answers_rg.md", "answers_skill.md": "answers_skill.md",
          "log_rg.jsonl": "log_rg.jsonl", "log_skill.jsonl": "log_skill.jsonl",
          "questions.jsonl": "questions.jsonl", "key.jsonl": "key.jsonl",
          "grade/grades.md": "grades.md"}

RULES = """RULES (this is a measured trial; reading this brief itself is not logged, but do not list {dir}):
- Run EVERY shell command through the logger, exactly like this:
    {dir}/run_logged.sh {dir}/log_{who}.jsonl 'YOUR COMMAND'
  (single-quote the command; if it contains single quotes, use a heredoc inside or escape them). Never run a command
  outside the logger, and do not use any file-reading tool other than shell commands through the logger (no Read/Grep/Glob tools),
  nor any search or web tool (no GitHub, forum or documentation search).
  The only exception: write your final answers file with one command outside the logger.
- {forbidden}
- Be efficient: a real user waits for you. Do not re-read what you already have.
- Write {dir}/answers_{who}.md: for each question a heading "## <id>", then your answer as you would give it to
  the user (central answer first, then details, code if useful), citing tree paths as path:line where you rely on them.{extra}
Your final message: one line saying you are done.
"""
SKILL_HEAD = """You are an AI coding agent helping scientists with scvi-tools. A Claude Code skill for scvi-tools is installed at
{skill} (call this folder SKILL; its ${{CLAUDE_SKILL_DIR}}).
Read SKILL/SKILL.md first and work as it says. The scvi-tools {version} source tree is at
{tree} (the skill finds it by itself); `rg` is available.

Answer the {n} user questions in {dir}/questions.jsonl (one JSON object per line: id, question).

"""
RG_HEAD = """You are an AI coding agent helping scientists with scvi-tools. The scvi-tools {version} source tree is at
{tree} (call it TREE); `rg` is available. Use only that tree (do not read other
trees in {trees}).

Answer the {n} user questions in {dir}/questions.jsonl (one JSON object per line: id, question).

"""
GRADER = """You are a blind grader. Two answer sets, {dir}/grade/A.md and {dir}/grade/B.md, answer the same {n} user
questions about scvi-tools ({dir}/grade/questions.jsonl). {dir}/grade/key.jsonl gives, per question, what
the source thread concluded and the gold lines in the scvi-tools {version} tree. The tree is at
{tree} (other releases' trees are beside it, for claims about older releases);
`rg` is at {dir}/bin/rg. Read nothing else (not the project, not other files in {dir}).

Score each answer out of 7: central answer correct and complete 3; accuracy of every other claim and every cited
path:line 2 (check the citations against the tree: a citation that does not show what it claims is an error);
actionability (what the user should do, correct code) 2. Count factual errors: a claim the tree contradicts, or a
citation that does not show what it claims. Check claims against the tree, not against your memory. The key is a guide;
an answer can be right by another route the tree supports.

Write {dir}/grade/grades.md: a table | id | A score | B score | A errors | B errors | A reason | B reason |
(reasons concise but specific, naming the errors), then totals (A: x/{total} with n factual errors; B likewise) and a short
paragraph comparing the sets. Your final message: the two totals and error counts in one line.
"""


class TrialError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def default_dir(n: int) -> Path:
    return Path(tempfile.gettempdir()) / f"trial{n}"


def _tree():
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    from scvi_skill.runtime.tree import discover_tree

    return discover_tree(None, need_docs=True)


def _rg() -> str:
    """The rg the trial's bin/ links to: the project's environment's, else the one on PATH."""
    local = Path(sys.executable).parent / "rg"
    found = str(local) if local.is_file() else shutil.which("rg")
    if not found:
        raise TrialError("no rg found next to this Python or on PATH", 1)
    return found


def setup(n: int, question_set: Path, ids: list[str], folder: Path) -> Path:
    if folder.exists():
        raise TrialError(f"{folder} exists: pick another --dir or remove it", 2)
    rows = [json.loads(line) for line in question_set.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    by_id = {row["id"]: row for row in rows}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise TrialError(f"not in {question_set.name}: {', '.join(unknown)}", 2)
    chosen = [by_id[i] for i in ids] if ids else rows
    tree = _tree()
    (folder / "bin").mkdir(parents=True)
    (folder / "grade").mkdir()
    os.symlink(_rg(), folder / "bin" / "rg")
    shutil.copy2(HERE / "run_logged.sh", folder / "run_logged.sh")
    questions = "".join(json.dumps({"id": r["id"], "question": r["question"]}) + "\n"
                        for r in chosen)
    key = "".join(json.dumps({"id": r["id"], "url": r.get("url", ""), "notes": r.get("notes", ""),
                              "gold_lines": r.get("gold_lines", [])}) + "\n" for r in chosen)
    for where in (folder, folder / "grade"):
        (where / "questions.jsonl").write_text(questions, encoding="utf-8")
        (where / "key.jsonl").write_text(key, encoding="utf-8")
    (folder / "skillproj").mkdir()
    subprocess.run([sys.executable, str(REPO / "scripts" / "install_skill.py"), "--project",
                    str(folder / "skillproj")], check=True, capture_output=True, text=True)
    skill = folder / "skillproj" / ".claude" / "skills" / SKILL_NAME
    values = {"dir": folder, "skill": skill, "tree": tree.root, "trees": tree.root.parent,
              "version": tree.version, "n": len(chosen), "total": 7 * len(chosen)}
    (folder / "prompt_skill.md").write_text(SKILL_HEAD.format(**values) + RULES.format(
        who="skill", forbidden=f"Do not look at {REPO}, {folder}/key.jsonl, {folder}/grade or any "
        f"benchmark files; only SKILL, the tree(s) under {tree.root.parent}, and "
        f"{folder}/questions.jsonl.",
        extra="\n  Do not mention the skill, its scripts or this trial in the answers.",
        **values), encoding="utf-8")
    (folder / "prompt_rg.md").write_text(RG_HEAD.format(**values) + RULES.format(
        who="rg", forbidden=f"Do not look at {REPO}, {folder} (other than questions.jsonl and the "
        "logger) or anything but TREE.", extra="", **values), encoding="utf-8")
    (folder / "grade" / "prompt.md").write_text(GRADER.format(**values), encoding="utf-8")
    return folder


def grade(folder: Path, skill_as: str) -> None:
    answers = {"skill": folder / "answers_skill.md", "rg": folder / "answers_rg.md"}
    for path in answers.values():
        if not path.is_file():
            raise TrialError(f"missing {path}", 1)
        text = path.read_text(encoding="utf-8")
        named = [tool for tool in TOOLS if tool in text]
        if named:
            raise TrialError(f"{path.name} names {', '.join(named)}: the grader would not be "
                             "blind; remove those words first", 1)
    other = "B" if skill_as == "A" else "A"
    shutil.copy2(answers["skill"], folder / "grade" / f"{skill_as}.md")
    shutil.copy2(answers["rg"], folder / "grade" / f"{other}.md")


def shortened(text: str, folder: Path, tree_root: Path) -> str:
    """``text`` with this machine's paths written as SKILL, TREE, TREES, CACHE, TRIAL, HOME
    (longest first, so a path inside another is named by the inner one)."""
    home = str(Path.home())
    cache = tree_root.parent.parent
    subs = [(str(folder / "skillproj" / ".claude" / "skills" / SKILL_NAME), "SKILL")]
    for base, name in ((tree_root, "TREE"), (tree_root.parent, "TREES"), (cache, "CACHE")):
        rel = str(base)[len(home) + 1:] if str(base).startswith(home + os.sep) else None
        subs.append((str(base), name))
        if rel:
            subs += [(f"$HOME/{rel}", name), (f"~/{rel}", name)]
    subs += [(str(folder), "TRIAL"), (home, "HOME")]
    for old, new in subs:
        text = text.replace(old, new)
    return text


def store(n: int, folder: Path, rounds: Path = HERE) -> Path:
    target = rounds / f"round{n}"
    if target.exists():
        raise TrialError(f"{target} exists: a stored round is never overwritten", 2)
    missing = [name for name in STORED if not (folder / name).is_file()]
    if missing:
        raise TrialError(f"missing in {folder}: {', '.join(missing)}", 1)
    tree_root = _tree().root
    staging = Path(tempfile.mkdtemp(prefix=f"round{n}-", dir=rounds))
    try:
        for name, stored in STORED.items():
            text = (folder / name).read_text(encoding="utf-8")
            if name.startswith("log_"):
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
                text = "".join(json.dumps(dict(row, cmd=shortened(row["cmd"], folder, tree_root)))
                               + "\n" for row in rows)
            else:
                text = shortened(text, folder, tree_root)
            (staging / stored).write_text(text, encoding="utf-8")
        staging.rename(target)  # all files or none
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for step in ("setup", "grade", "store"):
        p = sub.add_parser(step)
        p.add_argument("n", type=int, help="the round's number")
        p.add_argument("--dir", type=Path, help="the round's folder (default: <temp>/trialN)")
        if step == "setup":
            p.add_argument("--set", type=Path, required=True, help="a question set (.jsonl)")
            p.add_argument("--ids", default="", help="ids to ask, comma-separated (default: all)")
        if step == "grade":
            p.add_argument("--skill-as", choices=("A", "B"), required=True)
    args = parser.parse_args(argv)
    folder = args.dir or default_dir(args.n)
    try:
        if args.step == "setup":
            ids = [i for i in args.ids.split(",") if i]
            print(setup(args.n, args.set, ids, folder))
        elif args.step == "grade":
            grade(folder, args.skill_as)
            print(folder / "grade")
        else:
            print(store(args.n, folder))
    except TrialError as err:
        print(f"Error: {err}", file=sys.stderr)
        return err.code
    except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as err:
        print(f"Error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measure check_code.py's citation check on the agent-trial answers: what it judges, how often
its findings are right, and what it costs.

- **Answers**, each citing the pinned tree, reported apart:
  ``trials``: every ``benchmarks/trials/round*/answers_*.md`` (the skill agents' and the rg
  agents' answers of rounds 5 on), on which the check's rules were shaped;
  ``cited_answers``: ``benchmarks/cited_answers/set*.md``, answers helpers wrote with rg for
  this measure (``cited_answers/README.md`` says which set was read before a rule changed).
- **Findings against hand labels:** ``benchmarks/citation_labels.jsonl`` holds each finding
  read by hand (the cited lines and the line the finding names, opened in the tree): ``error``
  true when the citation is wrong, false for a false alarm. ``precision`` = labelled errors /
  labelled findings; a finding with no label is printed for review and counted apart.
- **Recall of the graders' citation errors:**
  ``benchmarks/trials/grader_citation_errors.jsonl`` holds each citation a blind grader of
  rounds 5 on named as not showing what its sentence claims (a helper copied them from each
  round's ``grades.md``: the citation as written, its line in the answers file, the
  grader's words). For each, the check's verdict on that
  citation in that line: a finding (``off``, ``past_end``, ``no_file``), shown, not judged,
  or not read as a citation at all (a bare ``:711``, a number without a path).
- **Named releases:** each corpus twice, side by side: judged against the pinned tree only,
  and with each finding judged again in the cached trees of the releases its answer names
  (``fetch_tree.py --version V`` put them there; a release not cached is not judged).
- **Speed:** ``python3 scripts/check_code.py ANSWER`` (one answer file, whole process), with the
  tree (citations checked) and without one (``SCVI_SKILL_CACHE`` pointed at an empty folder:
  the same run less the citation check), median of --runs, side by side.

Usage:
  uv run python benchmarks/bench_citations.py [--tree PATH] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))

from scvi_skill.runtime.citations import (  # noqa: E402
    FINDINGS,
    TreeLines,
    cached_releases,
    check_citations,
)
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

TRIALS = HERE / "trials"
CITED = HERE / "cited_answers"
LABELS = HERE / "citation_labels.jsonl"
SPEED_FILE = TRIALS / "round41" / "answers_skill.md"


def corpora() -> dict[str, list[Path]]:
    """The answer files of each corpus, in a fixed order."""
    return {
        "trials": sorted(TRIALS.glob("round*/answers_*.md"),
                         key=lambda p: (int(p.parent.name[len("round"):]), p.name)),
        "cited_answers": sorted(CITED.glob("set*.md")),
    }


def label_key(path: Path, line: int, message: str) -> tuple[str, int, str]:
    """How citation_labels.jsonl names a finding: (file under benchmarks/, line, citation)."""
    return path.relative_to(HERE).as_posix(), line, message.split(" ", 1)[0].rstrip(":")


def judge(tree_lines: TreeLines, files: list[Path], labels: dict, releases=None) -> dict:
    counts = {"answers": 0, "cited": 0, "shown": 0, "unverified": 0, "findings": 0,
              "other_release": 0, "labelled errors": 0, "false alarms": 0, "unlabelled": 0}
    unlabelled = []
    for path in files:
        report = check_citations(path.read_text(encoding="utf-8"), tree_lines, releases)
        counts["answers"] += 1
        for key in ("cited", "shown", "unverified", "findings", "other_release"):
            counts[key] += report.summary()[key]
        for cite in report.findings:
            label = labels.get(label_key(path, cite.line, cite.message))
            if label is None:
                counts["unlabelled"] += 1
                unlabelled.append(f"{path.relative_to(HERE).as_posix()}:{cite.line}: "
                                  f"{cite.message}")
            else:
                counts["labelled errors" if label else "false alarms"] += 1
    labelled = counts["labelled errors"] + counts["false alarms"]
    counts["precision"] = round(counts["labelled errors"] / labelled, 3) if labelled else None
    return {"counts": counts, "unlabelled": unlabelled}


GRADED = TRIALS / "grader_citation_errors.jsonl"


def graded_recall(tree_lines: TreeLines, releases=None) -> dict:
    """The check's verdict on each citation error the graders named (:data:`GRADED`)."""
    rows = [json.loads(row) for row in GRADED.read_text(encoding="utf-8").splitlines()]
    reports: dict[Path, list] = {}
    counts = {"graded": len(rows), "flagged": 0, "shown": 0, "not judged": 0, "not read": 0}
    for row in rows:
        path = HERE / "trials" / f"round{row['round']}" / f"answers_{row['agent']}.md"
        if path not in reports:
            reports[path] = check_citations(path.read_text(encoding="utf-8"), tree_lines,
                                            releases).citations
        key = row["citation"].split("/")[-1].strip("`.,;() ").split(",")[0].strip()
        verdicts = [c.verdict for c in reports[path]
                    if c.line == row["answer_line"] and key in c.text]
        verdict = verdicts[0] if verdicts else ""
        counts["flagged" if verdict in FINDINGS else "shown" if verdict == "shown"
               else "not judged" if verdict else "not read"] += 1
    counts["recall"] = round(counts["flagged"] / len(rows), 3) if rows else None
    return counts


def speed(tree: Path, runs: int) -> dict:
    command = [sys.executable, str(REPO / "scripts" / "check_code.py"), str(SPEED_FILE)]
    with tempfile.TemporaryDirectory() as empty:
        settings = {
            "with the tree (citations checked)": dict(os.environ, SCVI_TOOLS_TREE=str(tree)),
            "no tree (code only)": {**{k: v for k, v in os.environ.items()
                                       if k != "SCVI_TOOLS_TREE"}, "SCVI_SKILL_CACHE": empty},
        }
        out = {}
        for name, env in settings.items():
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                subprocess.run(command, env=env, capture_output=True, check=False)
                times.append((time.perf_counter() - start) * 1000)
            out[name] = round(statistics.median(times), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", help="the pinned scvi-tools tree (default: discovered)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tree = discover_tree(args.tree)
    labels = {(row["file"], row["line"], row["cited"]): row["error"]
              for row in map(json.loads, LABELS.read_text(encoding="utf-8").splitlines())}
    lines = TreeLines(tree)
    modes = {"pinned tree only": None, "with named releases": cached_releases()}
    result = {"corpora": {f"{name}, {mode}": judge(lines, files, labels, releases)
                          for name, files in corpora().items()
                          for mode, releases in modes.items()}, "tree": tree.version}
    result["graded"] = {mode: graded_recall(lines, releases) for mode, releases in modes.items()}
    result["speed_ms_p50"] = speed(tree.root, args.runs)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"citations against the scvi-tools {tree.version} tree; \"with named releases\": a "
          "finding judged again in the cached trees of the releases its answer names\n")
    print("| answers | files | cited | show what they cite | not judged | findings "
          "| other release's | labelled errors | false alarms | unlabelled | precision |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, found in result["corpora"].items():
        c = found["counts"]
        print(f"| {name} | {c['answers']} | {c['cited']} | {c['shown']} | {c['unverified']} | "
              f"{c['findings']} | {c['other_release']} | {c['labelled errors']} | "
              f"{c['false alarms']} | {c['unlabelled']} | {c['precision']} |")
    print(f"\nthe citations blind graders named as not showing their claim ({GRADED.name}):")
    print("| mode | graded | flagged | shown | not judged | not read as a citation | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, c in result["graded"].items():
        print(f"| {mode} | {c['graded']} | {c['flagged']} | {c['shown']} | {c['not judged']} "
              f"| {c['not read']} | {c['recall']} |")
    print(f"\ncheck_code.py on {SPEED_FILE.relative_to(REPO)}, whole process, median of "
          f"{args.runs}:")
    print("| run | ms |\n| --- | ---: |")
    for name, ms in result["speed_ms_p50"].items():
        print(f"| {name} | {ms} |")
    for found in result["corpora"].values():
        for line in found["unlabelled"]:
            print(f"unlabelled: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

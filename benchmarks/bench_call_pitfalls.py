#!/usr/bin/env python3
"""Measure check_code.py's pitfall notes on the agent-trial answers: how many, how apt, how fast.

- **Answers:** every ``benchmarks/trials/round*/answers_*.md`` (the skill and rg agents'
  answers; a file holds one round's 5-12 answers), in two splits fixed before the first
  judgement: ``dev`` (rounds 5-69, and 84, whose notes were read while the matching was
  built; rounds 86 on, stored after, whose notes are read with their trial), on which the
  call patterns and rules were shaped, and ``test`` (rounds 70-83 and 85), read only in
  aggregate.
- **Notes:** per split, the files, the notes, the files with a note, the most notes in one
  file (the text output shows at most three a file).
- **Against hand labels:** ``benchmarks/trials/call_pitfall_labels.jsonl`` holds notes a helper
  judged with the answer's code beside them (60 drawn from dev, every one of test at the
  first read): ``applies`` (the code walks into the pitfall or is exposed to it), ``related``
  (true and about this call, but the condition does not hold here) or ``off`` (not about
  what the code does, or the code already follows the fix). For the notes check_code gives
  now: how many carry each label, and how many no label (new since the judgement). A
  labelled note it no longer gives counts as dropped, by label.
- **Speed:** ``check_code.py`` on the answers file with the most calls, whole process (text
  output), beside the same process with the notes left out (its pitfall list emptied before
  ``main`` runs: no index read, no matching), median of --runs each, interleaved.

Usage:
  python3 benchmarks/bench_call_pitfalls.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.apiindex import (  # noqa: E402
    ReleaseApi,
    load_history,
    load_migrations,
    load_release,
    load_releases,
)
from scvi_skill.runtime.callpitfalls import notes_for_calls  # noqa: E402
from scvi_skill.runtime.codelint import History, lint_file  # noqa: E402
from scvi_skill.runtime.index import load_index  # noqa: E402

TRIALS = HERE / "trials"
LABELS = TRIALS / "call_pitfall_labels.jsonl"
SEEN_TEST_ROUNDS = {84}
"""Rounds of the test range whose notes were read while the matching was built: dev."""
TEST_ROUNDS = range(70, 86)


def split_of(round_number: int) -> str:
    return "test" if round_number in TEST_ROUNDS and round_number not in SEEN_TEST_ROUNDS \
        else "dev"


def answer_files() -> list[tuple[str, str, Path]]:
    """``(split, shown, path)`` of every trial answers file, by round."""
    found = []
    for path in sorted(TRIALS.glob("round*/answers_*.md")):
        match = re.fullmatch(r"round(\d+)", path.parent.name)
        if match:
            found.append((split_of(int(match.group(1))), f"{path.parent.name}/{path.name}",
                          path))
    return found


def measure(runs: int) -> dict:
    releases = load_releases()
    api = ReleaseApi(load_release(releases, PINNED_SCVI_TOOLS))
    history = History.lazy(lambda: (load_history(releases), load_migrations()))
    pitfalls = load_index()["pitfalls"]
    labels = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labels[(row["path"], row["line"], row["id"])] = row
    report: dict = {}
    given: set = set()
    busiest = (0, None)
    for split, shown, path in answer_files():
        calls: list = []
        lint_file(path, shown, api, history, prose=True, calls=calls)
        notes = notes_for_calls(shown, calls, pitfalls)
        busiest = max(busiest, (len(calls), path), key=lambda b: b[0])
        row = report.setdefault(split, {"files": 0, "notes": 0, "files_with_notes": 0,
                                        "most_in_a_file": 0, "labels": Counter(),
                                        "dropped": Counter()})
        row["files"] += 1
        row["notes"] += len(notes)
        row["files_with_notes"] += bool(notes)
        row["most_in_a_file"] = max(row["most_in_a_file"], len(notes))
        for note in notes:
            key = (shown, note.line, note.id)
            given.add(key)
            label = labels.get(key)
            row["labels"]["unlabelled" if label is None else label["label"]] += 1
    for key, label in labels.items():
        if key not in given:
            report.setdefault(label["split"], {}).setdefault("dropped", Counter())[
                label["label"]] += 1
    for row in report.values():
        row["labels"] = dict(row.get("labels") or {})
        row["dropped"] = dict(row.get("dropped") or {})
    report["speed_ms"] = _speed(busiest[1], runs) if busiest[1] is not None else {}
    return report


def _speed(path: Path, runs: int) -> dict:
    """Median whole-process ms of check_code.py on ``path`` with and without the notes."""
    scripts = str(REPO / "scripts")
    code = ("import sys; sys.path.insert(0, {scripts!r}); import check_code; {patch}"
            "sys.exit(check_code.main([{path!r}]))")
    commands = {
        "with_notes": [sys.executable, "-c", code.format(scripts=scripts, patch="",
                                                         path=str(path))],
        "without_notes": [sys.executable, "-c", code.format(
            scripts=scripts, patch="check_code._pitfalls = lambda: []; ", path=str(path))],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False)
            times[name].append((time.perf_counter() - start) * 1000)
    return {"file": path.relative_to(REPO).as_posix(),
            **{name: round(statistics.median(values), 1) for name, values in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = measure(max(args.runs, 1))
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
        return 0
    print("| split | files | notes | files with a note | most in a file | applies | related "
          "| off | unlabelled | dropped (labelled, no longer given) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for split in ("dev", "test"):
        row = report.get(split) or {}
        labels = row.get("labels") or {}
        dropped = ", ".join(f"{k} {v}" for k, v in sorted((row.get("dropped") or {}).items()))
        print(f"| {split} | {row.get('files', 0)} | {row.get('notes', 0)} | "
              f"{row.get('files_with_notes', 0)} | {row.get('most_in_a_file', 0)} | "
              f"{labels.get('applies', 0)} | {labels.get('related', 0)} | "
              f"{labels.get('off', 0)} | {labels.get('unlabelled', 0)} | {dropped or '-'} |")
    speed = report["speed_ms"]
    if speed:
        print(f"\ncheck_code.py on {speed['file']} (most calls), whole process p50: "
              f"{speed['with_notes']} ms with the notes, {speed['without_notes']} ms without")
    return 0


if __name__ == "__main__":
    sys.exit(main())

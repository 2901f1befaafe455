#!/usr/bin/env python3
"""The one-call answer, measured: does the gold answering line reach the agent in one call?

On benchmarks/devset.jsonl (every question has line-level gold: path, start, end and a
phrase copied from the answering line), per split and side by side in one run:

- **pack** (this skill): ``resolve_docs.py QUESTION`` text output, i.e. the context pack;
- **first version** (the resolver as of --baseline-commit, checked out from git into a
  temporary folder): its text output (pointers plus two-line excerpts) and its ``--json``;
- **whole-file BM25 + windows**: the top 3 docs and top 3 source files of whole-file BM25 over
  the tree, each shown as its 12-line window holding most query terms, in rank order until the
  same token budget is full (a strong "rg and read" stand-in).

Metrics:
- phrase in output: a gold phrase appears verbatim in what the one call prints;
- median output tokens (characters / 4);
- answer line in top-3 ranges: a gold answering line (the line of the passage that holds the
  phrase) lies inside one of the first three ``ranges`` of ``--json`` (every span the pack
  shows, in reading order: doc passages, raise sites, parameter entries, source windows; since
  session 42 spans of a file at most ``pack.MERGE_GAP`` lines apart are one range); for
  the first version, which has no ``ranges``, its first three ``docs[].lines``; for BM25, its
  first three windows, docs and source files alternately (best first);
- answer line in top-3 docs[].lines: the same for the first three ``docs[].lines`` ranges
  (the measure of sessions 1-10, which source gold cannot reach); for BM25 its three doc
  windows;
- p50 / p95 ms of whole processes (interpreter start to exit), on --speed-questions questions.

Usage:
  python benchmarks/bench_pack.py [--split dev|test|holdout|holdout2|...|holdout6|holdout7|holdout8|holdout9|holdout10|holdout11|holdout12|holdout13|holdout14|holdout15|holdout16|dev2|dev3|dev4|dev5|dev6|synthetic|synthetic2|synthetic2-test|all]
      [--budget 1200]
      [--runs 1]
      [--baseline-commit REV] [--misses] [--no-speed]
  python benchmarks/bench_pack.py --rounds 62-70 --no-speed
  python benchmarks/bench_pack.py --rounds 62-87 --half odd --agent-hints --no-speed

--rounds A-B scores the questions of agent-trial rounds A to B instead, with their keys' gold
lines (the split ``trials``, aggregate only). Rounds 62 to 70 asked only threads no question
set used: no ranking rule was tuned on them, and no pack was read for them question by
question. With ``--half even`` only the even rounds (``trials-even``: of rounds 62-87 the
tuning half since session 41, read question by question), with ``--half odd`` only the odd
ones (``trials-odd``: frozen, aggregate only; ``DEVSET.md``). ``--agent-hints`` adds the row
of the pack with the ``--also`` each round's skill agent passed with that question, read
from its log (``log_skill.jsonl``): the one call as the agents made it.

--misses lists per-question misses of the pack, for the dev split only (the test split and
the holdout sets, ``holdout.jsonl`` to ``holdout16.jsonl``, are never inspected question by
question).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import zip_longest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(HERE))

from baselines import WholeFileBM25, plain_tokens  # noqa: E402
from bench_resolver import bytecode_env, load_devset, load_hints  # noqa: E402
from resolve_docs import DEFAULT_TEXT_LIMIT, _named_version, make_pack, split_question  # noqa: E402
from scvi_skill.runtime.index import load_search_index  # noqa: E402
from scvi_skill.runtime.pack import CHARS_PER_TOKEN  # noqa: E402
from scvi_skill.runtime.rank import resolve  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

BASELINE_COMMIT = "03f1f89"
"""The last commit of the first version (before passages and the pack)."""
WINDOW_LINES = 12
SPLITS = ("dev", "test", "holdout", "holdout2", "holdout3", "holdout4", "holdout5", "holdout6",
          "holdout7", "holdout8", "holdout9", "holdout10", "holdout11", "holdout12",
          "holdout13", "holdout14", "holdout15", "holdout16", "dev2",
          "dev3", "dev4", "dev5", "dev6", "synthetic",
          "synthetic2", "synthetic2-test")
EXTRA_SETS = (
    ("holdout2", "the second holdout set, curated later from threads no other set uses; kept "
     "out of all (aggregate figures only)"),
    ("holdout3", "the third holdout set: the fresh questions of agent-trial rounds 5 and 6; "
     "kept out of all (aggregate figures only)"),
    ("holdout4", "the fourth holdout set: agent-trial round 7's questions, each with a pasted "
     "traceback; kept out of all (aggregate figures only)"),
    ("holdout5", "the fifth holdout set: 30 fresh threads curated in session 7 by a helper that "
     "never ran the skill; kept out of all (aggregate figures only)"),
    ("holdout6", "the sixth holdout set: 21 fresh threads, mostly of projects built on "
     "scvi-tools, curated in session 8; kept out of all (aggregate figures only)"),
    ("holdout7", "the seventh holdout set: 24 fresh threads (17 of projects built on scvi-tools) "
     "curated in session 9; kept out of all (aggregate figures only)"),
    ("holdout8", "the eighth holdout set: 24 fresh threads (15 of them pull requests) curated "
     "in session 10; kept out of all (aggregate figures only)"),
    ("holdout9", "the ninth holdout set: 12 fresh issues of projects built on scvi-tools, "
     "curated at session 10's end and not read then; kept out of all (aggregate figures only)"),
    ("holdout10", "the tenth holdout set: 20 fresh threads (8 of them pull requests) curated in "
     "session 12; kept out of all (aggregate figures only)"),
    ("holdout11", "the eleventh holdout set: 12 fresh issues, 9 of projects built on scvi-tools, "
     "curated in session 12; kept out of all (aggregate figures only)"),
    ("holdout12", "the twelfth holdout set: 12 fresh issues (9 about upgrades and changes, 8 of "
     "projects built on scvi-tools) curated in session 13; kept out of all (aggregate figures "
     "only)"),
    ("holdout13", "the thirteenth holdout set: 12 fresh threads (7 on query mapping) curated in "
     "session 14 and asked in trial round 26 first; kept out of all (aggregate figures only)"),
    ("holdout14", "the fourteenth holdout set: 12 fresh threads (7 of projects built on "
     "scvi-tools) curated in session 15 and asked in trial round 27 first; kept out of all "
     "(aggregate figures only)"),
    ("holdout15", "the fifteenth holdout set: 14 fresh threads (7 scvi-tools issues) curated "
     "in session 17; kept out of all (aggregate figures only)"),
    ("holdout16", "the sixteenth holdout set: 20 fresh threads (19 scvi-tools issues) curated "
     "in session 26; kept out of all (aggregate figures only)"),
    ("dev2", "the second dev set: 40 fresh threads curated in session 6 for tuning (read "
     "question by question); kept out of all"),
    ("dev3", "the third dev set: 30 fresh issue threads curated in session 7 for tuning (read "
     "question by question); kept out of all"),
    ("dev4", "the fourth dev set: 35 fresh threads (17 of projects built on scvi-tools) curated "
     "in session 9 for tuning (read question by question after a first aggregate read); kept "
     "out of all"),
    ("dev5", "the fifth dev set: fresh threads curated in session 10 for tuning (read question "
     "by question after a first aggregate read); kept out of all"),
    ("dev6", "the sixth dev set: 40 fresh threads (34 scvi-tools pull requests) curated in "
     "session 35 for tuning (read question by question after a first aggregate read); kept "
     "out of all"),
    ("synthetic", "questions written from randomly drawn passages (dev-like: read question by "
     "question during tuning)"),
    ("synthetic2", "the second synthetic set: split synthetic2 is dev-like, split "
     "synthetic2-test was frozen before tuning (aggregate figures only)"),
)
"""Sets besides devset.jsonl and holdout.jsonl, each with its --NAME option (its file by
default), reported per split and kept out of "all"."""


def answer_lines(tree, row: dict) -> list[tuple[str, int]]:
    """(path, line) of each gold phrase's own line."""
    out = []
    for gold in row["gold_lines"]:
        lines = tree.to_disk(gold["path"]).read_text(encoding="utf-8").splitlines()
        for n in range(gold["start"], gold["end"] + 1):
            if gold["phrase"] in lines[n - 1]:
                out.append((gold["path"], n))
                break
    return out


def phrase_hit(text: str, row: dict) -> bool:
    return any(g["phrase"] in text for g in row["gold_lines"])


def range_hit(ranges: list[tuple[str, int, int]], answers: list[tuple[str, int]]) -> bool:
    return any(p == path and a <= line <= b for path, a, b in ranges[:3] for p, line in answers)


class Pack:
    name = "pack (resolve_docs.py)"

    def __init__(self, tree, budget: int) -> None:
        self.sidx, self.tree, self.budget = load_search_index(), tree, budget

    def run(self, question: str, also: str = "") -> tuple[str, list[tuple[str, int, int]], list]:
        # As resolve_docs.py prepares it: a pasted traceback's frames apart from the ranking.
        pasted, frames, question = split_question(question)
        result = resolve(question, self.sidx, limit=DEFAULT_TEXT_LIMIT,
                         source_limit=DEFAULT_TEXT_LIMIT, also=also)
        named = _named_version(question, self.sidx.get("scvi_tools_version", ""), result,
                               self.sidx)
        pack = make_pack(pasted, frames, question, result, self.sidx, self.tree,
                         budget=self.budget, other=named, also=also)
        ranges = [(r["path"], *r["lines"]) for r in pack.ranges]
        docs = [(d["path"], *d["lines"]) for d in result["docs"][:3]]
        return "\n".join(pack.lines), ranges, docs

    def command(self, question: str) -> list[str]:
        return [sys.executable, str(REPO / "scripts" / "resolve_docs.py"), question]


class AgentHintedPack(Pack):
    """The pack with the ``--also`` the trial's skill agent passed (:func:`agent_hints`)."""

    name = "pack + the skill agent's own --also (trial logs)"

    def __init__(self, tree, budget: int, hints: dict[str, str]) -> None:
        super().__init__(tree, budget)
        self.hints = hints

    def hint(self, row: dict) -> str:
        return self.hints.get(row["id"], "")

    def run_row(self, row: dict) -> tuple[str, list[tuple[str, int, int]], list]:
        return self.run(row["question"], also=self.hint(row))


class HintedPack(Pack):
    """The pack with the hint an agent wrote from memory for each question (``--also``):
    ``hints/first.jsonl``, one ``{"split", "id", "also"}`` per question (``benchmarks/DEVSET.md``)."""

    name = "pack + the agent's hint (--also)"

    def __init__(self, tree, budget: int, hints: dict[tuple[str, str], str]) -> None:
        super().__init__(tree, budget)
        self.hints = hints

    def hint(self, row: dict) -> str:
        return self.hints.get((row["split"], row["id"]), "")

    def run_row(self, row: dict) -> tuple[str, list[tuple[str, int, int]], list]:
        return self.run(row["question"], also=self.hint(row))

    def command_row(self, row: dict) -> list[str]:
        also = self.hint(row)
        return [*self.command(row["question"]), *(["--also", also] if also else [])]


class FirstVersion:
    name = "first version (pointers + excerpts)"

    def __init__(self, checkout: Path, tree) -> None:
        self.script = checkout / "scripts" / "resolve_docs.py"
        self.tree = tree

    def run(self, question: str) -> tuple[str, list[tuple[str, int, int]], list]:
        env_tree = ["--tree", str(self.tree.root)]
        text = subprocess.run([sys.executable, str(self.script), question, *env_tree],
                              capture_output=True, text=True, check=False).stdout
        raw = subprocess.run([sys.executable, str(self.script), "--json", question],
                             capture_output=True, text=True, check=False).stdout
        docs = json.loads(raw)["docs"] if raw.strip() else []
        ranges = [(d["path"], *d["lines"]) for d in docs[:3]]
        return text, ranges, ranges

    def command(self, question: str) -> list[str]:
        return [sys.executable, str(self.script), question]


class BM25Windows:
    name = "whole-file BM25 + 12-line windows"

    def __init__(self, tree, budget: int) -> None:
        self.bm25 = WholeFileBM25(tree.root)
        self.tree, self.budget = tree, budget

    def run(self, question: str) -> tuple[str, list[tuple[str, int, int]], list]:
        """Windows of the top 3 docs and top 3 source files, in rank order (docs first), each
        the 12 lines holding most distinct query terms, until the token budget is full; its
        ranges alternate docs and source files."""
        docs, source = self.bm25.query(question, limit=3)
        terms = set(plain_tokens(question))
        out, ranges, size = [], [], 0
        for path in docs[:3] + source[:3]:
            lines = self.tree.to_disk(path).read_text(encoding="utf-8", errors="replace").splitlines()
            per_line = [terms & set(plain_tokens(t)) for t in lines]
            best, best_at = -1, 1
            for start in range(1, max(2, len(lines) - WINDOW_LINES + 2)):
                hits = len(set().union(*per_line[start - 1 : start - 1 + WINDOW_LINES]))
                if hits > best:
                    best, best_at = hits, start
            end = min(len(lines), best_at + WINDOW_LINES - 1)
            block = [f"== {path}:{best_at}-{end}"] + lines[best_at - 1 : end]
            size += sum(len(t) + 1 for t in block)
            if size > self.budget * CHARS_PER_TOKEN and out:
                break
            ranges.append((path, best_at, end))
            out.extend(block)
        text = "\n".join(out)[: self.budget * CHARS_PER_TOKEN]
        doc_ranges = [r for r in ranges if r[0] in docs]
        src_ranges = [r for r in ranges if r[0] not in docs]
        mixed = [r for pair in zip_longest(doc_ranges, src_ranges) for r in pair if r]
        return text, mixed, doc_ranges


class _Floor:
    """Interpreter start and exit alone: what any process costs."""

    def command(self, question: str) -> list[str]:
        return [sys.executable, "-c", "pass"]


def score(system, rows: list[dict], tree) -> dict:
    phrase, ranged, doc_ranged, tokens, misses = 0, 0, 0, [], []
    for row in rows:
        run_row = getattr(system, "run_row", None)
        text, ranges, doc_ranges = run_row(row) if run_row else system.run(row["question"])
        hit = phrase_hit(text, row)
        phrase += hit
        answers = answer_lines(tree, row)
        ranged += range_hit(ranges, answers)
        doc_ranged += range_hit(doc_ranges, answers)
        tokens.append((len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)
        if not hit:
            misses.append(row)
    n = max(len(rows), 1)
    return {"n": len(rows), "phrase": phrase / n, "range3": ranged / n,
            "doc_range3": doc_ranged / n,
            "tokens_p50": statistics.median(tokens) if tokens else 0, "misses": misses}


def time_processes(system, rows: list[dict], runs: int) -> dict | None:
    if not hasattr(system, "command"):
        return None
    walls = []
    env = bytecode_env()
    command = getattr(system, "command_row", None) or (lambda row: system.command(row["question"]))
    subprocess.run(command(rows[0]), capture_output=True, env=env)  # warm-up
    for _ in range(runs):
        for row in rows:
            start = time.perf_counter()
            subprocess.run(command(row), capture_output=True, check=False, env=env)
            walls.append(time.perf_counter() - start)
    walls.sort()
    return {"n": len(walls), "p50": 1000 * statistics.median(walls),
            "p95": 1000 * walls[min(len(walls) - 1, int(round(0.95 * (len(walls) - 1))))]}


def _round_span(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    try:
        span = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a round span like 62-70: {text!r}") from None
    if span[0] > span[1]:
        raise argparse.ArgumentTypeError(f"the first round comes after the last: {text!r}")
    return span


def trial_rows(first: int, last: int, half: str | None = None) -> list[dict]:
    """The questions of agent-trial rounds ``first`` to ``last`` (those with a key), each with
    its key's gold lines, as the split ``trials``; ``half``: only the even rounds (split
    ``trials-even``, tuned on from session 41) or the odd ones (``trials-odd``, frozen)."""
    rows = []
    split = f"trials-{half}" if half else "trials"
    for n in range(first, last + 1):
        if half and (n % 2 == 0) != (half == "even"):
            continue
        folder = HERE / "trials" / f"round{n}"
        if not (folder / "key.jsonl").is_file():
            continue
        questions = {r["id"]: r["question"] for r in map(
            json.loads, (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines())}
        for key in map(json.loads, (folder / "key.jsonl").read_text(encoding="utf-8")
                       .splitlines()):
            if key.get("gold_lines") and key["id"] in questions:
                rows.append({"id": f"round{n}/{key['id']}", "question": questions[key["id"]],
                             "split": split, "gold_lines": key["gold_lines"]})
    return rows


_ALSO = re.compile(r"""--also\s+("(?:[^"\\]|\\.)*"|'[^']*')""")
_NTH = re.compile(r"\bq (\d+)\s*\|[^|]*$")
"""A log's ``q N | python3 .../resolve_docs.py --also ...``: question N of the round."""


def agent_hints(first: int, last: int) -> dict[str, str]:
    """``"roundN/ID" -> the --also`` the skill agent of trial round N passed with
    that question, read from its log (``log_skill.jsonl``): each ``--also`` goes to the
    question its heredoc holds (most shared words, at least half of the heredoc's), or to
    question N of a ``q N | ...`` line. A question the agent passed no hint for has none."""
    hints: dict[str, str] = {}
    for n in range(first, last + 1):
        folder = HERE / "trials" / f"round{n}"
        log = folder / "log_skill.jsonl"
        if not log.is_file() or not (folder / "questions.jsonl").is_file():
            continue
        questions = [json.loads(line) for line in
                     (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
                     if line.strip()]
        words = [set(plain_tokens(q["question"])) for q in questions]
        for entry in map(json.loads, log.read_text(encoding="utf-8").splitlines()):
            cmd = entry.get("cmd", "")
            for match in _ALSO.finditer(cmd):
                try:
                    also = shlex.split(match.group(1))[0]
                except ValueError:
                    continue
                nth = _NTH.search(cmd[: match.start()])
                if nth and 1 <= int(nth.group(1)) <= len(questions):
                    at = int(nth.group(1)) - 1
                else:
                    body = set(plain_tokens(cmd[match.end(): match.end() + 3000]))
                    shared = [len(body & w) for w in words]
                    at = max(range(len(words)), key=shared.__getitem__, default=-1)
                    if at < 0 or shared[at] < 0.5 * max(len(body), 1) or not body:
                        continue
                key = f"round{n}/{questions[at]['id']}"
                hints.setdefault(key, also)
    return hints


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devset", type=Path, default=HERE / "devset.jsonl")
    parser.add_argument("--holdout", type=Path, default=HERE / "holdout.jsonl",
                        help="the frozen holdout set (aggregate figures only)")
    for name, what in EXTRA_SETS:
        parser.add_argument(f"--{name}", type=Path, default=HERE / f"{name}.jsonl", help=what)
    parser.add_argument("--split", choices=SPLITS + ("all",), default="all")
    parser.add_argument("--budget", type=int, default=1200)
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    parser.add_argument("--no-baselines", action="store_true", help="the pack only (fast)")
    parser.add_argument("--misses", action="store_true", help="list pack misses (dev only)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="skip the quality table")
    parser.add_argument("--speed-questions", type=int, default=40)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rounds", type=_round_span, metavar="A-B",
                        help="score only the questions of agent-trial rounds A to B "
                        "(trials/roundN/questions.jsonl with their key's gold lines), as the "
                        "split 'trials': questions never tuned on (aggregate figures only)")
    parser.add_argument("--hints", type=Path, default=HERE / "hints" / "first.jsonl",
                        help="the agent's hints (--also) per question: adds the row 'pack + "
                        "the agent's hint' (none when the file is not there)")
    parser.add_argument("--agent-hints", action="store_true",
                        help="with --rounds: adds the row 'pack + the skill agent's own "
                        "--also', each question's hint as the trial's skill agent passed it "
                        "(its log)")
    parser.add_argument("--half", choices=("even", "odd"),
                        help="with --rounds: only the even rounds (the tuning half, "
                        "trials-even) or the odd ones (the frozen half, trials-odd; aggregate "
                        "only): benchmarks/DEVSET.md")
    args = parser.parse_args(argv)
    if args.agent_hints and not args.rounds:
        parser.error("--agent-hints needs --rounds")
    if args.half and not args.rounds:
        parser.error("--half needs --rounds")

    tree = discover_tree(None, need_docs=True)
    if args.rounds:
        rows = trial_rows(*args.rounds, half=args.half)
        real = len(rows)
    else:
        rows = load_devset(args.devset)
        if args.holdout.is_file():
            rows += load_devset(args.holdout)
        real = len(rows)
        for extra in (getattr(args, name) for name, _ in EXTRA_SETS):
            if extra.is_file():
                rows += load_devset(extra)
    splits = ["dev", "test", "holdout", "all", "holdout2", "holdout3", "holdout4", "holdout5",
              "holdout6", "holdout7", "holdout8", "holdout9", "holdout10", "holdout11", "holdout12", "holdout13", "holdout14", "holdout15", "holdout16", "dev2", "dev3",
              "dev4",
              "dev5", "dev6",
              "synthetic", "synthetic2", "synthetic2-test"] \
        if args.split == "all" else [args.split]
    if args.rounds:
        splits = [rows[0]["split"]] if rows else ["trials"]
    with tempfile.TemporaryDirectory(prefix="bench-pack-") as tmp:
        systems = [Pack(tree, args.budget)]
        hints = load_hints(args.hints)
        if hints and not args.rounds:  # the hint files hold the frozen and tuning sets' ids
            systems.append(HintedPack(tree, args.budget, hints))
        if args.agent_hints:
            own = AgentHintedPack(tree, args.budget, agent_hints(*args.rounds))
            print(f"(the skill agent passed a hint for {sum(1 for r in rows if own.hint(r))}"
                  f" of {len(rows)} questions)", file=sys.stderr)
            systems.append(own)
        if not args.no_baselines:
            checkout = Path(tmp) / "v1"
            checkout.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline_commit,
                                      "scripts", "references"], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
            systems += [FirstVersion(checkout, tree), BM25Windows(tree, args.budget)]
        if not args.speed_only:
            print("| system | split | n | phrase in output | median tokens "
                  "| answer line in top-3 ranges | in top-3 docs[].lines |")
            print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for system in systems if not args.speed_only else []:
            for split in splits:
                subset = rows[:real] if split == "all" else [r for r in rows if r["split"] == split]
                m = score(system, subset, tree)
                print(f"| {system.name} | {split} | {m['n']} | {m['phrase']:.2f} | "
                      f"{m['tokens_p50']:.0f} | {m['range3']:.2f} | {m['doc_range3']:.2f} |",
                      flush=True)
                if args.misses and split == "dev" and system is systems[0]:
                    for row in m["misses"]:
                        print(f"  miss {row['id']}: {row['question'][:90]}", file=sys.stderr)
        if not args.no_speed:
            sample = [r for r in rows if r["split"] == "dev"][: args.speed_questions]
            print("\n| process | runs | p50 ms | p95 ms |\n| --- | ---: | ---: | ---: |")
            for system in systems:
                timing = time_processes(system, sample, args.runs)
                if timing:
                    print(f"| {system.name} | {timing['n']} | {timing['p50']:.0f} | "
                          f"{timing['p95']:.0f} |", flush=True)
            floor = time_processes(_Floor(), sample[:20], 1)
            print(f"| `python -c pass` (floor) | {floor['n']} | {floor['p50']:.0f} | "
                  f"{floor['p95']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

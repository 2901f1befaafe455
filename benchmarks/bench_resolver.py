#!/usr/bin/env python3
"""Quality and speed of resolve_docs.py and search_source.py, next to two baselines.

Quality, on benchmarks/devset.jsonl (per split, and all): doc hit@1, doc hit@3, doc MRR@10
and source hit@5 for

- the resolver (scvi_skill.runtime.rank over references/search_index.json, as resolve_docs.py runs it),
- whole-file BM25 over the tree (benchmarks/baselines.py),
- a naive rg keyword ranker over the tree (benchmarks/baselines.py).

Also per split: the frozen holdout set (benchmarks/holdout.jsonl, counted in "all"), the
second to sixteenth holdout sets (holdout2.jsonl to holdout16.jsonl), the second to fifth dev sets (dev2.jsonl to dev5.jsonl) and the written-from-passage sets (synthetic.jsonl;
synthetic2.jsonl, whose synthetic2-test split was frozen before tuning), kept out of "all".

A doc hit is any returned doc path in the question's gold_docs; a source hit any returned
source path in gold_source.

Lines to read: p50 and p95 of the line counts of the doc ranges the resolver returns, for its
first doc and for its top three.

Speed: wall time of whole processes (interpreter start to exit), p50 and p95, for
`resolve_docs.py --json QUESTION` over the set's questions and for
`search_source.py --symbol NAME` over a fixed list of names on the full tree.

Usage:
  python benchmarks/bench_resolver.py [--tree PATH] [--devset FILE] [--runs N] [--no-speed]
      [--json OUT] [--misses SPLIT] [--synthetic FILE ...]

Tuning happens on split=dev (and the dev-like synthetic splits) only; split=test, the holdout
set and synthetic2-test are reported in aggregate, never tuned on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(HERE))

from baselines import NaiveRg, WholeFileBM25  # noqa: E402
from resolve_docs import split_question  # noqa: E402
from scvi_skill.runtime.index import load_search_index  # noqa: E402
from scvi_skill.runtime.rank import resolve  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

SYMBOLS = [
    "SCVI",
    "SCVI.setup_anndata",
    "TrainerConfig",
    "scvi.external.TOTALANVI",
    "SCANVI.train",
    "scvi.model.base.ArchesMixin.load_query_data",
    "get_normalized_expression",
    "MULTIVI",
]
K_DOC_HIT = (1, 3)
K_MRR = 10
K_SRC = 5


def load_devset(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            row.setdefault("split", "dev")
            rows.append(row)
    return rows


class Resolver:
    name = "resolver (section BM25F + routing)"

    def __init__(self, sidx: dict, params: dict | None = None) -> None:
        self.sidx = sidx
        self.params = params

    def query(self, question: str, limit: int = 10, also: str = "") -> tuple[list[str], list[str]]:
        kwargs = {"params": self.params} if self.params else {}
        question = split_question(question)[2]  # as resolve_docs.py ranks a pasted traceback
        out = resolve(question, self.sidx, limit=limit, source_limit=limit, also=also, **kwargs)
        self.last_lines = [d["lines"][1] - d["lines"][0] + 1 for d in out["docs"]]
        return [d["path"] for d in out["docs"]], [s["path"] for s in out["source"]]


def load_hints(path: Path) -> dict[tuple[str, str], str]:
    """(split, id) -> the agent's hint; empty when the file is not there."""
    if not path.is_file():
        return {}
    hints = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            hints[(row["split"], row["id"])] = row["also"]
    return hints


class HintedResolver(Resolver):
    """The resolver with the hint an agent wrote from memory for each question (``--also``;
    ``hints/first.jsonl``, ``benchmarks/DEVSET.md``)."""

    name = "resolver + the agent's hint (--also)"

    def __init__(self, sidx: dict, hints: dict[tuple[str, str], str]) -> None:
        super().__init__(sidx)
        self.hints = hints

    def query_row(self, row: dict, limit: int) -> tuple[list[str], list[str]]:
        return self.query(row["question"], limit, also=self.hints.get((row["split"], row["id"]), ""))


def score(system, rows: list[dict]) -> dict:
    """Metrics of ``system`` on ``rows`` and the per-question ranks (for miss reports)."""
    n = len(rows)
    hits = {k: 0 for k in K_DOC_HIT}
    rr, src_hits, per_q, n_doc, n_src = 0.0, 0, [], 0, 0
    read_top1, read_top3 = [], []
    for row in rows:
        query_row = getattr(system, "query_row", None)
        docs, source = query_row(row, K_MRR) if query_row else system.query(row["question"], limit=K_MRR)
        lines = getattr(system, "last_lines", None)
        if lines:
            read_top1.append(lines[0])
            read_top3.extend(lines[:3])
        gold_d, gold_s = set(row["gold_docs"]), set(row["gold_source"])
        rank = next((i for i, d in enumerate(docs[:K_MRR], 1) if d in gold_d), None)
        n_doc += bool(gold_d)  # a question only the source answers has no doc to find
        for k in K_DOC_HIT:
            hits[k] += bool(rank and rank <= k)
        rr += 1.0 / rank if rank else 0.0
        src_ok = any(s in gold_s for s in source[:K_SRC])
        src_hits += src_ok
        n_src += bool(gold_s)  # a question no source file answers (installation) is not counted
        per_q.append({"id": row["id"], "doc_rank": rank, "src_hit": src_ok, "docs": docs[:5], "source": source[:5]})
    div, doc_div = max(n_src, 1), max(n_doc, 1)
    return {
        "n": n,
        "doc_hit@1": hits[1] / doc_div,
        "doc_hit@3": hits[3] / doc_div,
        "mrr@10": rr / doc_div,
        "src_hit@5": src_hits / div,
        "per_question": per_q,
        "read_lines": {"top1": _p50_p95(read_top1), "top3": _p50_p95(read_top3)} if read_top1 else None,
    }


def _p50_p95(values: list[int]) -> dict:
    """Median and 95th percentile of the line counts the resolver asks the agent to read."""
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))],
    }


def bytecode_env() -> dict:
    """The environment with bytecode caching allowed: a user's Python writes ``__pycache__``
    on the first run, so timing with ``PYTHONDONTWRITEBYTECODE`` set (as some sandboxes do)
    would charge every run for compiling the modules."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_processes(cmds: list[list[str]], runs: int) -> dict:
    walls = []
    env = bytecode_env()
    subprocess.run(cmds[0], capture_output=True, env=env)  # warm-up: writes the bytecode caches
    for _ in range(runs):
        for cmd in cmds:
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, check=False, env=env)
            walls.append(time.perf_counter() - start)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"{cmd} failed: {proc.stderr.decode()[-500:]}")
    walls.sort()
    return {
        "n": len(walls),
        "p50_ms": 1000 * statistics.median(walls),
        "p95_ms": 1000 * walls[min(len(walls) - 1, int(round(0.95 * (len(walls) - 1))))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", help="scvi-tools tree (default: discovered)")
    parser.add_argument("--devset", type=Path, default=HERE / "devset.jsonl")
    parser.add_argument("--search-index", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=1, help="timing passes (default: 1)")
    parser.add_argument("--no-speed", action="store_true", help="skip process timings")
    parser.add_argument("--no-baselines", action="store_true", help="resolver only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--holdout", type=Path, default=HERE / "holdout.jsonl",
                        help="the frozen holdout set (aggregate figures only)")
    parser.add_argument("--synthetic", type=Path, nargs="*",
                        default=[HERE / "holdout2.jsonl", HERE / "holdout3.jsonl",
                                 HERE / "holdout4.jsonl", HERE / "holdout5.jsonl",
                                 HERE / "holdout6.jsonl", HERE / "holdout7.jsonl",
                                 HERE / "holdout8.jsonl", HERE / "holdout9.jsonl",
                                 HERE / "holdout10.jsonl", HERE / "holdout11.jsonl",
                                 HERE / "holdout12.jsonl", HERE / "holdout13.jsonl",
                                 HERE / "holdout14.jsonl", HERE / "holdout15.jsonl",
                                 HERE / "holdout16.jsonl",
                                 HERE / "dev2.jsonl", HERE / "dev3.jsonl", HERE / "dev4.jsonl",
                                 HERE / "dev5.jsonl", HERE / "dev6.jsonl",
                                 HERE / "synthetic.jsonl", HERE / "synthetic2.jsonl"],
                        help="sets reported per split and kept out of all: the second to sixteenth "
                        "holdout sets and the written-from-passage sets")
    parser.add_argument("--hints", type=Path, default=HERE / "hints" / "first.jsonl",
                        help="the agent's hints (--also) per question: adds the row 'resolver + "
                        "the agent's hint' (none when the file is not there)")
    parser.add_argument("--misses", metavar="SPLIT", choices=("dev",),
                        help="list the resolver's misses on SPLIT (dev only: the test split and "
                        "the holdout set are never read question by question)")
    args = parser.parse_args(argv)

    tree = discover_tree(args.tree, need_docs=True)
    rows = load_devset(args.devset)
    held = load_devset(args.holdout) if args.holdout.is_file() else []
    splits = {"dev": [r for r in rows if r["split"] == "dev"], "test": [r for r in rows if r["split"] == "test"],
              "holdout": held}
    splits["all"] = rows + held
    for extra in args.synthetic:
        for row in load_devset(extra) if extra.is_file() else []:
            splits.setdefault(row["split"], []).append(row)
    systems = [Resolver(load_search_index(args.search_index))]
    hints = load_hints(args.hints)
    if hints:
        systems.append(HintedResolver(systems[0].sidx, hints))
    if not args.no_baselines:
        t0 = time.perf_counter()
        systems.append(WholeFileBM25(tree.root))
        print(f"(BM25 baseline built in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        systems.append(NaiveRg(tree.root))

    results: dict = {"tree_version": tree.version, "quality": {}, "speed": {}}
    lines = [
        "| system | split | n | doc hit@1 | doc hit@3 | doc MRR@10 | source hit@5 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    read_rows: list[tuple[str, dict]] = []
    for system in systems:
        results["quality"][system.name] = {}
        for split, subset in splits.items():
            if not subset:
                continue
            m = score(system, subset)
            results["quality"][system.name][split] = {k: v for k, v in m.items() if k != "per_question"}
            lines.append(
                f"| {system.name} | {split} | {m['n']} | {m['doc_hit@1']:.2f} | {m['doc_hit@3']:.2f} "
                f"| {m['mrr@10']:.2f} | {m['src_hit@5']:.2f} |"
            )
            if args.misses == split and system is systems[0]:
                _print_misses(subset, m["per_question"])
            if m["read_lines"]:
                read_rows.append((split, m["read_lines"]))
    print("\n".join(lines))
    if read_rows:
        print()
        print("| lines to read (resolver `lines`) | split | p50 top-1 | p95 top-1 | p50 top-3 | p95 top-3 |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for split, read in read_rows:
            print(
                f"| doc section ranges | {split} | {read['top1']['p50']:g} | {read['top1']['p95']:g} "
                f"| {read['top3']['p50']:g} | {read['top3']['p95']:g} |"
            )

    if not args.no_speed:
        py = sys.executable
        resolve_cmds = [
            [py, str(REPO / "scripts" / "resolve_docs.py"), "--json", r["question"]] for r in rows
        ]
        if args.search_index:
            resolve_cmds = [c + ["--index", str(args.search_index)] for c in resolve_cmds]
        symbol_cmds = [
            [py, str(REPO / "scripts" / "search_source.py"), "--json", "--symbol", s, "--tree", str(tree.root)]
            for s in SYMBOLS
        ]
        runs_sym = max(args.runs, 3)
        results["speed"]["resolve_docs.py --json"] = time_processes(resolve_cmds, args.runs)
        results["speed"]["search_source.py --symbol"] = time_processes(symbol_cmds, runs_sym)
        results["speed"]["python -c pass"] = time_processes([[py, "-c", "pass"]], 20)
        print()
        print("| process | runs | p50 ms | p95 ms |")
        print("| --- | ---: | ---: | ---: |")
        for name, s in results["speed"].items():
            print(f"| {name} | {s['n']} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


def _print_misses(rows: list[dict], per_q: list[dict]) -> None:
    by_id = {r["id"]: r for r in rows}
    for q in per_q:
        if q["doc_rank"] == 1 and q["src_hit"]:
            continue
        row = by_id[q["id"]]
        print(f"- {q['id']} doc_rank={q['doc_rank']} src_hit={q['src_hit']}: {row['question'][:120]}", file=sys.stderr)
        print(f"    gold docs {row['gold_docs']}  got {q['docs'][:3]}", file=sys.stderr)
        if not q["src_hit"]:
            print(f"    gold src  {row['gold_source']}  got {q['source']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

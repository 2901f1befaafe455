#!/usr/bin/env python3
"""Pitfall matching, measured: does the pack show the pitfall a user question is about?

On benchmarks/pitfall_questions.jsonl: four questions per pitfall of references/pitfalls.yaml,
written by a helper that saw each pitfall's claim, fix and evidence but never its triggers,
as a user who hit the problem without knowing its cause would post them. Two per pitfall are
``pdev`` and two ``pdev2`` (tuned on; ``pdev2`` was first held out, read in aggregate, then
demoted: see benchmarks/DEVSET.md); a second helper, blind to the first set too, wrote two more
per pitfall, ``ptest`` (frozen; read in aggregate only). Side by side in one run:

- **pack**: :func:`scvi_skill.runtime.pack.match_pitfalls`, what the pack shows (at most
  ``MAX_PITFALLS``);
- **previous matching**: the same triggers matched as before session 13: longest trigger
  first, and every question that writes ``scvi`` (``scvi-tools``, ``import scvi``, ``CondSCVI``)
  counted as naming the SCVI model, which hides the pitfalls of other models;
- **claim BM25, top 1**: the pitfall whose claim, fix and triggers share the most passage idf
  with the question, always shown (no triggers at all).

Metrics: shown (the question's pitfall is among those matched), first (it is matched first),
in the text (pack only: the pitfall's claim is in the one-call text resolve_docs.py prints
within its default budget, where raise sites, passages and source facts share the room; needs
the pinned tree, else "n/a"), and, on the dev questions no pitfall was written for
(benchmarks/devset.jsonl and friends, tuning splits), the share of questions that get any
pitfall at all (what pitfalls cost the budget; some of those fire rightly).

Usage: python benchmarks/bench_pitfalls.py [--misses] [--splits pdev,pdev2,ptest]
(--misses: pdev and pdev2 only)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(HERE))

from bench_resolver import load_devset  # noqa: E402
from scvi_skill.build.pitfalls import load_pitfalls  # noqa: E402
from scvi_skill.runtime.index import load_search_index  # noqa: E402
from scvi_skill.runtime.pack import (  # noqa: E402
    DEFAULT_BUDGET, MAX_PITFALLS, match_pitfalls, named_models, pitfalls_for)
from scvi_skill.runtime.rank import passage_idf, query_terms, tokenize  # noqa: E402

QUESTIONS = HERE / "pitfall_questions.jsonl"
TUNING_FILES = ("devset", "dev2", "dev3", "dev4", "dev5", "synthetic", "synthetic2")
TUNING_SPLITS = {"dev", "dev2", "dev3", "dev4", "dev5", "synthetic", "synthetic2"}


def own_terms(question: str, sidx: dict) -> list[str]:
    """The terms the pack matches triggers against (no routing synonyms)."""
    return sorted(query_terms(question, [], vocabulary=sidx.get("terms")))


def previous_match(question: str, sidx: dict, terms: list[str]) -> list[str]:
    """Pitfall ids as matched before session 13 (see the module docstring)."""
    present = set(terms)
    found = []
    # named_models without the question: "scvi" always a model, as before session 13.
    for n, row in pitfalls_for(sidx, named_models(sidx, terms)):
        pid, _, _, triggers = row[:4]
        longest = max((len(tokens) for tokens in triggers
                       if tokens and all(t in present for t in tokens)), default=0)
        if longest:
            found.append((-longest, n, pid))
    return [row[2] for row in sorted(found)[:MAX_PITFALLS]]


class ClaimBM25:
    """Top-1 pitfall by the passage idf its claim, fix and triggers share with the question."""

    def __init__(self, sidx: dict, pitfalls: list[dict]):
        self.sidx = sidx
        self.n = max(len(sidx.get("passages") or []), 1)
        self.bags = {p["id"]: set(tokenize(" ".join([p["claim"], str(p["fix"]),
                                                     " ".join(map(str, p["triggers"]))])))
                     for p in pitfalls}

    def idf(self, term: str) -> float:
        return passage_idf(self.sidx.get("terms") or {}, term, self.n)

    def __call__(self, question: str, sidx: dict, terms: list[str]) -> list[str]:
        present = set(terms)
        scored = sorted((-sum(self.idf(t) for t in bag & present), pid)
                        for pid, bag in self.bags.items())
        return [scored[0][1]] if scored and scored[0][0] < 0 else []


def measure(system, rows: list[dict], sidx: dict) -> dict:
    shown = first = 0
    misses = []
    for row in rows:
        got = system(row["question"], sidx, own_terms(row["question"], sidx))
        shown += row["pitfall"] in got
        first += bool(got) and got[0] == row["pitfall"]
        if row["pitfall"] not in got:
            misses.append((row["id"], row["pitfall"], got))
    n = max(len(rows), 1)
    return {"n": len(rows), "shown": shown / n, "first": first / n, "misses": misses}


def one_call():
    """The one call as resolve_docs.py makes it (bench_pack's ``Pack``), or None without the
    pinned tree."""
    from bench_pack import Pack
    from scvi_skill.runtime.errors import TreeNotFound
    from scvi_skill.runtime.tree import discover_tree

    try:
        return Pack(discover_tree(None, need_docs=True), DEFAULT_BUDGET)
    except TreeNotFound:
        return None


def in_text_share(pack, rows: list[dict], claims: dict[str, str]) -> str:
    """The share of ``rows`` whose pitfall's claim the one-call text holds ("n/a" without
    ``pack``)."""
    if pack is None:
        return "n/a"
    held = sum(claims[r["pitfall"]][:CLAIM_CHARS] in pack.run(r["question"])[0] for r in rows)
    return f"{held / max(len(rows), 1):.2f}"


CLAIM_CHARS = 80
"""The start of a claim looked for in the text (the pack prints claims whole)."""


def fire_share(system, rows: list[dict], sidx: dict) -> float:
    fired = sum(bool(system(r["question"], sidx, own_terms(r["question"], sidx))) for r in rows)
    return fired / max(len(rows), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true",
                        help="list the pack's misses on pdev and pdev2 (never ptest)")
    parser.add_argument("--splits", default="pdev,pdev2,ptest",
                        help="comma-separated splits to score (tune with pdev,pdev2)")
    args = parser.parse_args(argv)
    splits = [split for split in args.splits.split(",") if split]
    sidx = load_search_index()
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    tuning = [r for name in TUNING_FILES for r in load_devset(HERE / f"{name}.jsonl")
              if r["split"] in TUNING_SPLITS]
    pack = lambda q, s, t: [p["id"] for p in match_pitfalls(q, s, t)]  # noqa: E731
    pitfalls = load_pitfalls(REPO / "references" / "pitfalls.yaml")
    claims = {p["id"]: " ".join(p["claim"].split()) for p in pitfalls}
    systems = {"pack": pack, "previous matching": previous_match,
               "claim BM25, top 1": ClaimBM25(sidx, pitfalls)}
    packer = one_call()
    print("| system | split | n | shown | first | in the text | dev questions with any pitfall |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, system in systems.items():
        share = fire_share(system, tuning, sidx)
        for split in splits:
            split_rows = [r for r in rows if r["split"] == split]
            m = measure(system, split_rows, sidx)
            text = in_text_share(packer, split_rows, claims) if name == "pack" else "-"
            print(f"| {name} | {split} | {m['n']} | {m['shown']:.2f} | {m['first']:.2f} | "
                  f"{text} | {share:.2f} ({len(tuning)}) |")
            if args.misses and name == "pack" and split != "ptest":
                for qid, pid, got in m["misses"]:
                    print(f"  miss {qid} {pid} -> {got}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

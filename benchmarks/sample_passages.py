#!/usr/bin/env python3
"""Seeds of the synthetic question set (benchmarks/synthetic.jsonl): passages drawn at random
from the pinned tree, so that the questions written from them cover the tree evenly instead of
the topics users happened to ask about.

Draws, with a fixed seed: 15 release notes of 1.0 and later (CHANGELOG.md bullets of at least
80 characters), 15 user-guide passages (docs/user_guide/, not code, tables or math) and 10
public functions, methods or classes outside scvi.external. Each seed is one JSON array per
line:

    ["changelog" | "doc", path, start, end, section]    or    ["api", path, line, qualname]

A helper agent then wrote one user-style question per seed from the passage alone, without
this project's scripts or references (the prompt is in benchmarks/DEVSET.md).

Usage:
  python benchmarks/sample_passages.py [--seed 20261202] [--count KIND=N ...] > seeds.jsonl

The second set (``synthetic2.jsonl``) was drawn with
  --seed 20261203 --count changelog=25 --count doc=25 --count api=20 --count external=10
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))

from scvi_skill.runtime.index import load_search_index  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

MIN_CHARS = 80
COUNTS = {"changelog": 15, "doc": 15, "api": 10, "external": 0}
"""Seeds per kind by default (the first set's draw); ``--count KIND=N`` changes one."""


def _candidates(tree, sidx: dict) -> tuple[list, list]:
    release = re.compile(r"(\d+)\.(\d+)\.(\d+)")
    notes, guide = [], []
    files: dict[str, list[str]] = {}
    for section_id, start, end in (row[:3] for row in sidx["passages"]):
        section = sidx["sections"][section_id]
        path = sidx["docs"][section[0]][0]
        if path not in files:
            files[path] = tree.to_disk(path).read_text(encoding="utf-8").splitlines()
        text = "\n".join(files[path][start - 1 : end])
        if len(text) < MIN_CHARS:
            continue
        if path == "CHANGELOG.md":
            found = release.search(section[1])
            if found and (int(found.group(1)), int(found.group(2))) >= (1, 0):
                notes.append((path, start, end, section[1]))
        elif path.startswith("docs/user_guide/") and not text.lstrip().startswith(("```", "|", "$$")):
            guide.append((path, start, end, section[1]))
    return notes, guide


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--count", action="append", default=[], metavar="KIND=N",
                        help=f"seeds of one kind ({', '.join(COUNTS)}); repeatable")
    args = parser.parse_args(argv)
    counts = dict(COUNTS)
    for item in args.count:
        kind, _, number = item.partition("=")
        if kind not in counts or not number.isdigit():
            print(f"Error: --count wants KIND=N with KIND one of {', '.join(counts)}: {item!r}",
                  file=sys.stderr)
            return 2
        counts[kind] = int(number)
    tree = discover_tree(None, need_docs=True)
    sidx = load_search_index()
    index = json.loads((REPO / "references" / "index.json").read_text(encoding="utf-8"))
    notes, guide = _candidates(tree, sidx)
    public = [(s["path"], s["line"], s["qualname"]) for s in index["symbols"]
              if s.get("public") and s["kind"] in ("method", "function", "class")]
    api = [x for x in public if "/external/" not in x[0]]
    external = [x for x in public if "/external/" in x[0]]
    rng = random.Random(args.seed)
    # Drawn in this order, and a kind with no seeds draws nothing, so the first set's draw
    # (the defaults) is unchanged.
    picks = ([("changelog",) + x for x in rng.sample(notes, counts["changelog"])]
             + [("doc",) + x for x in rng.sample(guide, counts["doc"])]
             + [("api",) + x for x in rng.sample(api, counts["api"])]
             + [("api",) + x for x in rng.sample(external, counts["external"])])
    for pick in picks:
        print(json.dumps(pick))
    return 0


if __name__ == "__main__":
    sys.exit(main())

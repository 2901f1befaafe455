#!/usr/bin/env python3
"""The pack for a user's older release: does it say which of the code it shows that release lacks?

The pack quotes the pinned release's docs. For a user on an older release (``--version V``,
or a release the question names) its notes list the names whose signature differs in V;
since session 21 they also list what V lacks in the Python code the pack's passages show
(``resolve_docs.make_pack``: the shown fences checked by ``check_code.py``'s checker against
V's API index). Per release V, over the questions of the given sets, side by side:

- packs: questions answered; with a fence: packs whose passages show a code fence;
- code V lacks: packs whose shown code uses a name or keyword V lacks (the check of the
  shown lines, the same in both columns);
- named in the notes: of those, the packs whose notes name at least one such name or keyword
  (before: a ``differences`` entry with that name missing or that keyword removed; now: the
  code lines as well);
- all named: the packs whose notes name every one of them;
- cites V lacks: packs whose shown docs (not the release notes) cite by MyST role or
  backticked ``scvi.`` name a name V lacks; cited named: of those, the packs whose notes name
  one of them;
- facts V differs on: packs whose model facts state a default (``SCANVI.differential_expression
  (mode='vanilla')``) that V's signature does not have; facts named: of those, the packs
  whose notes give that method's line;
- name lines: the notes' lines on a name whose signature differs in V; not shown: those
  whose name (its last part) the rest of the pack and the question never write;
- p50 ms of ``make_pack`` in process, with and without the code check (after a warm-up).

Only aggregate figures are printed (the frozen splits are read in aggregate only).

Usage:
  python benchmarks/bench_version_code.py [--versions 1.0.4,1.2.0,1.3.3] [--sets devset,dev2,...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(HERE))

import resolve_docs  # noqa: E402
from bench_resolver import load_devset  # noqa: E402
from resolve_docs import (  # noqa: E402
    DEFAULT_TEXT_LIMIT,
    _other_version,
    _release_api,
    passage_spans,
    _shown_code,
    make_pack,
    split_question,
)
from scvi_skill.runtime.codelint import shown_cited_names  # noqa: E402
from scvi_skill.runtime.history import named_publics  # noqa: E402
from scvi_skill.runtime.index import load_search_index  # noqa: E402
from scvi_skill.runtime.rank import resolve  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

SETS = ("devset", "dev2", "dev3", "dev4", "dev5", "synthetic", "synthetic2", "holdout")
VERSIONS = ("1.0.4", "1.2.0", "1.3.3")


def _named(notes: list[str], finding: dict, differences: dict) -> bool:
    """Whether the notes name ``finding``'s name or keyword: its code line, or a differences
    entry (the name missing, or the keyword removed) that the text shows."""
    text = "\n".join(notes)
    if f"code at {finding['path']}:{finding['line']}: {finding['message']}" in text:
        return True
    diff = differences.get(finding["name"])
    if diff is None:
        return False
    if finding["kwarg"]:
        return finding["kwarg"] in diff["removed"] and f"-{finding['kwarg']}" in text
    return diff["missing"] and f"  {finding['name']}: not in" in text


def _names_noted(notes: list[str], names: set[str], version: str = "") -> bool:
    """Whether the notes say one of ``names`` (or a class that holds it: a method of a class
    V lacks is named by the class's line) is missing, or with ``version`` also that its
    signature differs there (``NAME in V:``)."""
    text = "\n".join(notes)
    owners = {".".join(name.split(".")[:n]) for name in names
              for n in range(2, name.count(".") + 2)}
    forms = ("  {}:", ": {}:") + (("  {} in " + version + ":",) if version else ())
    return any(form.format(name) in text for name in owners for form in forms)


_FACT_DEFAULT = re.compile(r"^(\w+\.\w+)\((\w+)=([^)]*)\)")


def _differing_facts(facts: list[dict], sidx: dict, mine, theirs) -> set[str]:
    """Public names of the methods whose default a model fact states and V writes otherwise
    (or lacks)."""
    out = set()
    for fact in facts:
        match = _FACT_DEFAULT.match(fact["fact"])
        names = named_publics(match[1], sidx) if match else []
        if not names:
            continue
        name = names[0]
        symbol = theirs.symbol(name)
        if symbol is None:
            out.add(name)
            continue
        params = {p["name"]: p.get("default") for p in theirs.params(symbol["qualname"]) or []}
        if params.get(match[2], object()) != match[3]:
            out.add(name)
    return out


def run(rows: list[dict], version: str, sidx: dict, tree, *, check: bool) -> dict:
    saved = resolve_docs.CHECK_SHOWN
    resolve_docs.CHECK_SHOWN = check
    counts = {"packs": 0, "with a fence": 0, "code V lacks": 0, "named in the notes": 0,
              "all named": 0, "cites V lacks": 0, "cited named": 0, "facts V differs on": 0,
              "facts named": 0, "name lines": 0, "not shown": 0}
    mine, theirs = _release_api(sidx["scvi_tools_version"]), _release_api(version)
    times = []
    try:
        for row in rows:
            pasted, frames, question = split_question(row["question"])
            result = resolve(question, sidx, limit=DEFAULT_TEXT_LIMIT,
                             source_limit=DEFAULT_TEXT_LIMIT)
            other = _other_version(version, sidx["scvi_tools_version"], result, question, sidx)
            start = time.perf_counter()
            pack = make_pack(pasted, frames, question, result, sidx, tree, other=other)
            times.append((time.perf_counter() - start) * 1000)
            counts["packs"] += 1
            rest = "\n".join(pack.lines[pack.notes_at + len(pack.notes):]) + "\n" + question
            for note in pack.notes[1:]:
                if note.startswith("  ") and not note.startswith(("  code at", "  (+")):
                    counts["name lines"] += 1
                    name = note.split()[0].rstrip(":")
                    counts["not shown"] += name.rsplit(".", 1)[-1] not in rest
            spans = passage_spans(pack)
            if any("```" in "\n".join(pack.reader.file(path)[first - 1:last])
                   for path, first, last in spans):
                counts["with a fence"] += 1
            lacking = {mine.public_name(name) for name in shown_cited_names(spans, pack.reader.file)
                       if mine.symbol(name) is not None and theirs.symbol(name) is None}
            if lacking:
                counts["cites V lacks"] += 1
                counts["cited named"] += _names_noted(pack.notes, lacking)
            differing = _differing_facts(pack.model_facts, sidx, mine, theirs)
            if differing:
                counts["facts V differs on"] += 1
                counts["facts named"] += _names_noted(pack.notes, differing, version)
            found = _shown_code(pack, version)  # what V lacks in the code this pack shows
            if not found:
                continue
            counts["code V lacks"] += 1
            named = [_named(pack.notes, f, other["differences"]) for f in found]
            counts["named in the notes"] += any(named)
            counts["all named"] += all(named)
    finally:
        resolve_docs.CHECK_SHOWN = saved
    counts["p50 ms"] = round(statistics.median(times), 1) if times else 0.0
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default=",".join(VERSIONS))
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args(argv)
    tree = discover_tree(None, need_docs=True)
    sidx = load_search_index()
    rows = [row for name in args.sets.split(",")
            for row in load_devset(HERE / f"{name}.jsonl")]
    print(f"{len(rows)} questions ({args.sets}); scvi-tools {sidx['scvi_tools_version']} tree\n")
    columns = ["packs", "with a fence", "code V lacks", "named in the notes", "all named",
               "cites V lacks", "cited named", "facts V differs on", "facts named", "name lines",
               "not shown", "p50 ms"]
    print("| V | notes | " + " | ".join(columns) + " |")
    print("| --- | --- |" + " ---: |" * len(columns))
    for version in args.versions.split(","):
        run(rows[:5], version, sidx, tree, check=True)  # warm-up: indexes loaded, files read
        for label, check in (("signatures only (before)", False), ("with shown code", True)):
            counts = run(rows, version, sidx, tree, check=check)
            print(f"| {version} | {label} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

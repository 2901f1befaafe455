#!/usr/bin/env python3
"""Pasted tracebacks in one call: does the pack show where the error arose?

The pastes are the real scvi-tools 1.5.1 tracebacks of tests/fixtures/messages/real_pastes.jsonl
(recorded by record_real_pastes.py, each with the file and line of its innermost scvi frame;
some are errors torch or lightning raise from inside an scvi-tools call). In the same run,
each paste goes to resolve_docs.py three ways:

- ``pack``: on stdin as pasted (line breaks kept);
- ``pack, one line``: whitespace collapsed onto one line, as an agent that squeezes a paste
  into one argument sends it (resolve_docs.py itself did this to every paste before
  frames.py; :func:`~scvi_skill.runtime.frames.unfold` now puts the line breaks back);
- ``pack, other release``: as pasted, with every scvi frame's line number moved by 7, as a
  traceback from a release whose files are longer would be;

and ``rg -n -F`` of the innermost scvi frame's code line over src/scvi is the baseline (an
agent that reads the traceback itself and greps the line; found when rg lists the site's
path:line).

Reported: the share of pastes whose output shows the innermost frame's ``path:line`` (its
1.5.1 line), the share with a ``== raised at`` site among the pastes whose message an scvi-tools
site raises (in the same run, a ``Class: message`` paste of the case finds one), the median
characters printed, and p50 ms of whole processes.

Usage:
  python benchmarks/bench_tracebacks.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from scvi_skill.runtime.frames import parse_frames  # noqa: E402
from scvi_skill.runtime.rg import find_rg  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

PASTES = ROOT / "tests" / "fixtures" / "messages" / "real_pastes.jsonl"
RESOLVE = ROOT / "scripts" / "resolve_docs.py"
SHIFT = 7


def _resolve(tree: Path, text: str, *extra: str) -> tuple[str, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(RESOLVE), "--tree", str(tree), *extra, "-"],
                          input=text, capture_output=True, text=True, check=False)
    return proc.stdout, (time.perf_counter() - start) * 1000


def _shifted(paste: str) -> str:
    """Every scvi frame's line number moved by :data:`SHIFT` (CPython format)."""
    out = []
    for line in paste.splitlines():
        head, sep, rest = line.partition('", line ')
        if sep and "/scvi/" in head:
            number, comma, tail = rest.partition(",")
            if number.isdigit():
                line = f"{head}{sep}{int(number) + SHIFT}{comma}{tail}"
        out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tree = discover_tree(None).root
    rg = find_rg()
    cases = [json.loads(line) for line in PASTES.read_text().splitlines()]
    alone = {c["case"]: c["paste"] for c in cases if c["style"] == "class"}
    tracebacks = [c for c in cases if c["style"] == "traceback"]
    modes = {"pack": lambda p: p, "pack, one line": lambda p: " ".join(p.split()),
             "pack, other release": _shifted}
    stats = {m: {"shown": 0, "raised": 0, "chars": [], "ms": []} for m in [*modes, "rg -n -F"]}
    with_site = 0
    for case in tracebacks:
        site = f"{case['path']}:{case['line']}"
        raises = "== raised at" in _resolve(tree, alone[case["case"]])[0]
        with_site += raises
        for mode, make in modes.items():
            out, ms = _resolve(tree, make(case["paste"]))
            row = stats[mode]
            row["shown"] += f"{site} " in out or f"{site}\n" in out
            row["raised"] += raises and "== raised at" in out
            row["chars"].append(len(out))
            row["ms"].append(ms)
        inner = [f for f in parse_frames(case["paste"]) if f.scvi][-1]
        start = time.perf_counter()
        proc = subprocess.run([rg, "--no-config", "-n", "-F", "-e", inner.code, "src/scvi"],
                              cwd=tree, capture_output=True, text=True, check=False)
        row = stats["rg -n -F"]
        row["ms"].append((time.perf_counter() - start) * 1000)
        row["shown"] += f"{case['path'][len('src/'):]}:{case['line']}:" in proc.stdout
        row["chars"].append(len(proc.stdout))
    n = len(tracebacks)
    report = {"pastes": n, "with_raise_site": with_site, "modes": {
        mode: {"shows_innermost_frame": round(row["shown"] / n, 2),
               "raise_site_shown": (round(row["raised"] / with_site, 2)
                                    if mode != "rg -n -F" and with_site else None),
               "median_chars": int(statistics.median(row["chars"])),
               "p50_ms": round(statistics.median(row["ms"]), 1)}
        for mode, row in stats.items()}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{n} real tracebacks ({with_site} whose message an scvi-tools site raises)")
    print(f"{'':22} {'innermost frame':>15} {'raise site':>11} {'median chars':>13} {'p50 ms':>7}")
    for mode, row in report["modes"].items():
        site = "-" if row["raise_site_shown"] is None else f"{row['raise_site_shown']:.2f}"
        print(f"{mode:22} {row['shows_innermost_frame']:>15.2f} {site:>11} "
              f"{row['median_chars']:>13} {row['p50_ms']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

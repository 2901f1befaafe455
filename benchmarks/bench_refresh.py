#!/usr/bin/env python3
"""Time a full map refresh of a scvi-tools tree (target: <= 5 s for 1.5.1 on 2 cores).

Each run is a whole process, ``python scripts/refresh_maps.py --tree PATH --out TMPDIR``:
interpreter start, reading and parsing every doc/source/test file, building index.json,
search_index.json, doc_map.md and source_map.md, and writing them. The first run writes all
four files into an empty folder; later runs find them up to date (the build is the same work).
Wall time depends on what else the machine runs, so the load average and the process CPU time
(user + sys of the child) are printed next to it.

Usage:
  python benchmarks/bench_refresh.py [--tree PATH] [--runs N] [--target SECONDS] [--json]

Exit codes: 0 median wall time within --target; 1 above it; 2 usage error; 4 no tree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))

from scvi_skill.runtime.errors import SkillPackageError, print_error  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

DEFAULT_RUNS = 5
DEFAULT_TARGET_S = 5.0


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_refresh(tree: Path, runs: int) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as out:
        command = [sys.executable, str(REPO / "scripts" / "refresh_maps.py"), "--tree",
                   str(tree), "--out", out, "--routing", str(REPO / "references" /
                                                            "routing.yaml")]
        for _ in range(runs):
            cpu_before = _child_cpu()
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"refresh failed ({done.returncode}): {done.stderr.strip()}")
            results.append({"wall_s": round(wall, 3),
                            "cpu_s": round(_child_cpu() - cpu_before, 3)})
    return results


def phase_breakdown(tree) -> dict[str, float]:
    """One in-process build, timed per phase (wall seconds)."""
    from scvi_skill.build.refresh import build_index, build_search_index, dump_json
    from scvi_skill.build.render import render_doc_map, render_source_map
    from scvi_skill.build.routing import load_routing

    phases: dict[str, float] = {}
    started = time.perf_counter()
    routing = load_routing(REPO / "references" / "routing.yaml")
    index = build_index(tree, routing)[0]
    phases["index (docs, source, tests, entries)"] = time.perf_counter() - started
    started = time.perf_counter()
    search = build_search_index(index)
    phases["search_index.build"] = time.perf_counter() - started
    started = time.perf_counter()
    dump_json(index), dump_json(search, compact=True)
    render_doc_map(index), render_source_map(index)
    phases["render and serialize"] = time.perf_counter() - started
    return {name: round(seconds, 3) for name, seconds in phases.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", help="scvi-tools tree (default: the cached pinned tree)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS,
                        help=f"number of runs (default: {DEFAULT_RUNS})")
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET_S,
                        help=f"median wall-time target in seconds (default: {DEFAULT_TARGET_S})")
    parser.add_argument("--json", action="store_true", help="print JSON (default: text)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        tree = discover_tree(args.tree)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    runs = time_refresh(tree.root, args.runs)
    walls = [r["wall_s"] for r in runs]
    report = {
        "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "median_wall_s": round(statistics.median(walls), 3), "min_wall_s": min(walls),
        "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "phases_s": phase_breakdown(tree), "runs": runs, "target_s": args.target,
        "version": tree.version,
    }
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(f"refresh of scvi-tools {tree.version}: median {report['median_wall_s']} s wall "
              f"(min {report['min_wall_s']} s), median {report['median_cpu_s']} s CPU over "
              f"{args.runs} runs; {report['cpu_count']} cores, load {report['load_avg_1m']}; "
              f"target {args.target} s")
        print("phases (one in-process run): " + ", ".join(
            f"{name} {seconds} s" for name, seconds in report["phases_s"].items()))
    return 0 if report["median_wall_s"] <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How often a pasted scvi-tools error finds its raise site: search_source.py --message vs rg -F.

The test set is built from references/messages.json: every site's template with its
placeholders filled by plausible values (a count for ``n_vars``, a column name for
``batch_key``, a shape for ``x.shape``, ...), pasted four ways:

- ``bare``: the message alone;
- ``class``: ``ValueError: message`` (a warning as Python prints it,
  ``path.py:12: UserWarning: message``; a log line as logging prints it);
- ``traceback``: the ``class`` paste under an IPython traceback;
- ``partial``: the first 60 % of the message's words (messages of 5 words or more).

A paste is found when its site, or another site whose template has the same static words,
is in the top 3. Beside it, in the same run: ``rg -F`` of the paste's longest line over
src/scvi (found when a hit is in the site's file, among the first 3 files rg lists), and the
time of whole processes (interpreter start to exit) for both.

Usage:
  python benchmarks/bench_messages.py                 # all sites, 40 timed processes each
  python benchmarks/bench_messages.py --timed 100 --json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from scvi_skill.runtime import messages  # noqa: E402
from scvi_skill.runtime.rg import find_rg  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

TOP = 3
SEED = 12
PARTIAL_SHARE = 0.6
STYLES = ("bare", "class", "traceback", "partial")
_IDENT = re.compile(r"[A-Za-z_]\w*")


def fill(hole: str) -> str:
    """A plausible value for a placeholder, from its source text."""
    low = hole.lower()
    names = _IDENT.findall(low)
    last = names[-1] if names else ""
    if "shape" in low:
        return "(1000, 2000)"
    if "type(" in low:
        return "<class 'numpy.ndarray'>"
    if low.startswith(("n_", "num", "len(")) or "n_" in last or last in {
            "size", "count", "i", "k", "idx", "index", "epoch", "dim", "max_epochs"}:
        return "16964"
    if "key" in last:
        return "cell_type"
    if "name" in last or "cls" in low or "model" in last:
        return "SCVI"
    if "path" in last or "dir" in last or "file" in last:
        return "/tmp/scvi_model/model.pt"
    if last.endswith("s") or "list" in last:
        return "['B cell', 'T cell']"
    return "zinb"


def render(template: str) -> str:
    return "".join(fill(text) if hole else text for hole, text in messages.template_parts(template))


def pastes(row) -> list[tuple[str, str]]:
    text = render(row.template).strip()
    exc = row.exception.rsplit(".", 1)[-1]
    if row.kind == "warn":
        with_class = f"/home/user/env/site-packages/scvi/{row.path[9:]}:{row.line}: {exc}: {text}"
    elif row.kind == "log":
        with_class = f"WARNING:scvi.model:{text}" if "warn" in exc else f"ERROR:scvi:{text}"
    else:
        with_class = f"{exc}: {text}"
    trace = ("-----------------------------------------------------------------------\n"
             f"{exc}                                Traceback (most recent call last)\n"
             "Cell In[7], line 3\n      1 adata = sc.read_h5ad('data.h5ad')\n"
             "----> 3 model.train()\n"
             f"File ~/env/site-packages/scvi/{row.path[9:]}:{row.line}, in fn(self)\n"
             f"--> {row.line} raise {exc}(\n\n" + with_class)
    out = [("bare", text), ("class", with_class), ("traceback", trace)]
    words = text.split()
    if len(words) >= 5:
        out.append(("partial", " ".join(words[: max(3, round(len(words) * PARTIAL_SHARE))])))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timed", type=int, default=40, help="processes timed per tool")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    index = messages.load_messages()
    tree = discover_tree(None, need_docs=False)
    rg = find_rg()
    keys = {}
    for site in index.sites:
        keys.setdefault(site.key, set()).add((site.row.path, site.row.line))

    found = {style: [0, 0] for style in STYLES}
    rg_found = [0, 0]
    cases = []
    for site in index.sites:
        row = site.row
        good = keys[site.key]
        for style, text in pastes(row):
            got = messages.match_messages(text, TOP, min_score=0.0)
            hit = any((m["path"], m["line"]) in good for m in got)
            found[style][0] += hit
            found[style][1] += 1
            if style == "bare":
                cases.append((row, text))
    for row, text in cases:
        line = max(text.splitlines() or [""], key=len)
        proc = subprocess.run([rg, "--no-config", "-l", "-F", "-e", line, "src/scvi"],
                              cwd=tree.root, capture_output=True, text=True)
        files = proc.stdout.split()[:TOP]
        rg_found[0] += row.path in files
        rg_found[1] += 1

    rng = random.Random(SEED)
    sample = rng.sample(cases, min(args.timed, len(cases)))
    script = ROOT / "scripts" / "search_source.py"
    ours, theirs = [], []
    for row, text in sample:
        line = max(text.splitlines() or [""], key=len)
        started = time.perf_counter()
        subprocess.run([sys.executable, str(script), "--message", text, "--json"],
                       capture_output=True)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([rg, "--no-config", "-l", "-F", "-e", line, "src/scvi"],
                       cwd=tree.root, capture_output=True)
        theirs.append(time.perf_counter() - started)

    def ms(values: list[float], q: float) -> float:
        return round(1000 * statistics.quantiles(values, n=100)[int(q) - 1], 1) if len(
            values) > 1 else round(1000 * values[0], 1)

    report = {
        "sites": len(index.sites),
        "distinct_messages": len(keys),
        "top3": {s: {"found": f, "n": n, "share": round(f / n, 3)} for s, (f, n) in found.items()},
        "top3_with_and_without_class": round(
            (found["bare"][0] + found["class"][0]) / (found["bare"][1] + found["class"][1]), 3),
        "rg_F_top3": {"found": rg_found[0], "n": rg_found[1],
                      "share": round(rg_found[0] / rg_found[1], 3)},
        "process_ms": {"search_source --message": {"runs": len(ours), "p50": ms(ours, 50),
                                                   "p95": ms(ours, 95)},
                       "rg -F": {"runs": len(theirs), "p50": ms(theirs, 50),
                                 "p95": ms(theirs, 95)}},
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['sites']} sites, {report['distinct_messages']} distinct messages")
    print("| paste | n | top-3 (search_source --message) |")
    print("| --- | ---: | ---: |")
    for style, entry in report["top3"].items():
        print(f"| {style} | {entry['n']} | {entry['share']:.3f} |")
    print(f"with and without the class: {report['top3_with_and_without_class']:.3f}; "
          f"rg -F of the bare paste, site's file in the first 3 files: "
          f"{report['rg_F_top3']['share']:.3f}")
    for name, entry in report["process_ms"].items():
        print(f"{name}: {entry['runs']} processes, p50 {entry['p50']} ms, p95 {entry['p95']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Docstring defaults the code contradicts, per cached release: what the pack's parameter
entries and ``search_source.py --kwarg`` would mark in each tree of the cache.

    python benchmarks/scan_doc_defaults.py            # a table, one row per cached tree
    python benchmarks/scan_doc_defaults.py --list     # and every conflict of each

Reads the trees ``fetch_tree.py`` cached (``--version V``); fetches nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from scvi_skill.runtime.pack import tree_default_conflicts  # noqa: E402
from scvi_skill.runtime.paths import trees_dir  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every conflict too")
    args = parser.parse_args(argv)
    roots = sorted(trees_dir().glob("scvi-tools-*"),
                   key=lambda p: [int(x) if x.isdigit() else x
                                  for x in p.name.split("-")[-1].replace("post", ".").split(".")])
    if not roots:
        print("no cached trees: run scripts/fetch_tree.py --version V first", file=sys.stderr)
        return 1
    print("| release | conflicts | defs | parameters |")
    print("|---|---:|---:|---|")
    listed = []
    for root in roots:
        tree = discover_tree(str(root))
        found = tree_default_conflicts(tree)
        params = sorted({f["param"] for f in found})
        print(f"| {tree.version} | {len(found)} | {len({(f['path'], f['def']) for f in found})} "
              f"| {', '.join(params) or '-'} |")
        listed += [(tree.version, f) for f in found]
    if args.list:
        for version, f in listed:
            print(f"{version} {f['path']}:{f['line']} {f['def']}({f['param']}): runs "
                  f"{f['code']}, the entry ({f['entry']}) states {f['stated']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

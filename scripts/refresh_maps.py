#!/usr/bin/env python3
"""Regenerate the skill's reference maps from a scvi-tools tree (maintainers, CI).

Reads docs/**/*.md and CHANGELOG.md with markdown-it-py tokens, src/scvi and tests/ with
``ast`` (scvi is never imported), merges the hand-curated references/routing.yaml, and writes
references/index.json, references/search_index.json, references/doc_map.md and
references/source_map.md. Output is deterministic: a rerun on the same tree is byte-identical.
Writes are atomic (all temporary files first, then renames). A non-UTF-8 file, a Markdown file
with an unclosed fence or a Python file with a syntax error is reported as path:line, skipped
and counted; --strict makes that a failure. A tree without docs/ (an installed package) gives
a source map only, with a warning.

Usage:
  python scripts/refresh_maps.py --tree ~/.cache/scvi-skill/trees/scvi-tools-1.5.1
  python scripts/refresh_maps.py --check                 # CI: do the committed maps match?
  python scripts/refresh_maps.py --diff-against OLD_TREE # release report OLD_TREE -> --tree
  python scripts/refresh_maps.py --installed             # source map from the installed scvi

The tree is found as every script finds it: --tree, else $SCVI_TOOLS_TREE, else the cached
tree of the pinned version (python scripts/fetch_tree.py puts it there).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime.errors import (  # noqa: E402
    EXIT_USAGE,
    SkillPackageError,
    os_guarded,
    print_error,
    warn,
)
from scvi_skill.runtime.paths import REFERENCES_DIR, ROUTING_PATH  # noqa: E402
from scvi_skill.runtime.schema import REGENERATE  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402

EPILOG = """\
outputs (in --out, default references/):
  index.json          docs, sections, tutorials, symbols, namespaces, tests, source_entries,
                      routing, problems (schema: ARCHITECTURE.md)
  search_index.json   precomputed ranking data for resolve_docs.py
  doc_map.md          every document with its sections and line ranges
  source_map.md       ranked entry points per topic and model family, public namespaces

--json prints {"summary": {...}, "written"|"differs": [...], "problems": [...]}.

exit codes:
  0  maps written / up to date (--check) / report printed (--diff-against)
  1  --check: the committed maps differ; --strict: problems found; routing.yaml names
     what the tree lacks
  2  usage error
  4  no scvi-tools tree at the given path
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refresh_maps.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", metavar="PATH",
                        help="scvi-tools tree (sdist, checkout or site-packages); default: "
                             "$SCVI_TOOLS_TREE, else the cached pinned tree")
    parser.add_argument("--installed", action="store_true",
                        help="use the scvi package installed in this Python (source map only; "
                             "default: off)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 and print a diff if the maps in --out differ "
                           "from what the tree produces (default: off)")
    mode.add_argument("--dry-run", action="store_true",
                      help="build everything and report what would change, write nothing "
                           "(default: off)")
    mode.add_argument("--diff-against", metavar="OLD_TREE",
                      help="print a release report from OLD_TREE to the --tree version, write "
                           "nothing")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1, write nothing) when any file was skipped "
                             "(default: off)")
    parser.add_argument("--out", metavar="DIR", type=Path, default=REFERENCES_DIR,
                        help="folder of the generated files (default: the skill's references/)")
    parser.add_argument("--routing", metavar="FILE", type=Path, default=None,
                        help="routing file (default: routing.yaml in --out if present, else "
                             "the skill's references/routing.yaml)")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary on stdout (default: text)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return os_guarded(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        print_error(f"--out {args.out} is not a folder", hint="Give the folder to write into")
        return EXIT_USAGE
    try:
        tree = discover_tree(args.tree, installed=args.installed, need_docs=False)
        if args.diff_against:
            return _diff_against(tree, args)
        return _refresh(tree, args)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code


def _routing_path(args: argparse.Namespace) -> Path:
    if args.routing is not None:
        return args.routing
    local = args.out / "routing.yaml"
    return local if local.is_file() else ROUTING_PATH


def _refresh(tree, args: argparse.Namespace) -> int:
    from scvi_skill.build.refresh import build_refresh, diff_outputs, write_outputs

    started = time.perf_counter()
    result = build_refresh(tree, _routing_path(args))
    for message in result.warnings:
        warn(message)
    for problem in result.problems:
        warn(f"skipped {problem}")
    index = result.index
    summary = {
        "docs": len(index["docs"]), "files_read": result.files_read,
        "namespaces": len(index["namespaces"]), "problems": len(result.problems),
        "seconds": round(time.perf_counter() - started, 2),
        "sections": sum(len(d["sections"]) for d in index["docs"]),
        "source_entries": len(index["source_entries"]), "symbols": len(index["symbols"]),
        "tests": len(index["tests"]), "tree": str(tree.root), "tutorials": len(index["tutorials"]),
        "version": index["scvi_tools_version"],
    }
    report: dict = {"summary": summary, "problems": index["problems"]}
    if args.strict and result.problems:
        _print(args, report, f"{len(result.problems)} problem(s) with --strict: nothing written")
        return 1
    if args.check or args.dry_run:
        differing, diff = diff_outputs(result.outputs, args.out)
        report["differs"] = differing
        if args.check and differing:
            if not args.json:
                print("\n".join(diff))
            _print(args, report, "maps are stale: " + ", ".join(differing) +
                   f" differ from what scvi-tools {summary['version']} produces; regenerate: "
                   f"{REGENERATE}", stream=sys.stderr)
            return 1
        verdict = "would change: " + ", ".join(differing) if differing else "up to date"
        _print(args, report, f"{verdict} ({_counts(summary)})")
        return 0
    written = write_outputs(result.outputs, args.out)
    report["written"] = written
    _print(args, report, ("wrote " + ", ".join(written) if written else "maps already up to date")
           + f" ({_counts(summary)})")
    return 0


def _counts(summary: dict) -> str:
    return (f"scvi-tools {summary['version']}: {summary['docs']} docs, {summary['sections']} "
            f"sections, {summary['tutorials']} tutorials, {summary['symbols']} symbols, "
            f"{summary['namespaces']} public names, {summary['tests']} test files, "
            f"{summary['problems']} problems, {summary['seconds']} s")


def _print(args, report: dict, text: str, *, stream=None) -> None:
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(text, file=stream or sys.stdout)


def _diff_against(tree, args: argparse.Namespace) -> int:
    from scvi_skill.build.release_diff import release_report, render_report
    from scvi_skill.runtime.tree import open_tree

    old = open_tree(args.diff_against, need_docs=False)
    report = release_report(old, tree, routing_path=_routing_path(args))
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(render_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

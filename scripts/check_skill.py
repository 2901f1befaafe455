#!/usr/bin/env python3
"""Check that every claim of the skill holds for the pinned scvi-tools tree.

Checks SKILL.md, commands/*.md, references/*.md and .claude-plugin/plugin.json: the
frontmatter (Agent Skills rules, block YAML only), the SKILL.md body size (lines, and tokens
estimated as the larger of characters/4 and words*4/3), every cited path (scvi-tools paths in
the tree, skill paths in the skill folder, line suffixes inside the file), every dotted scvi.*
name (in the public namespace of references/index.json), and every keyword argument of an
scvi-tools call shown in code (accepted by that callable). Nothing is imported from scvi.

Usage:
  python scripts/check_skill.py [--tree PATH] [--skill-dir DIR] [--index PATH] [--json]

Examples:
  python scripts/check_skill.py                       # the repository, the cached 1.5.1 tree
  python scripts/check_skill.py --tree ~/src/scvi-tools --json
  python scripts/check_skill.py --skill-dir ~/.claude/skills/scvi-tools-inputs-and-modeling \\
      --folder-name

Output: one "path:line: message" per problem on stdout (--json: {"summary", "files",
"problems": [{"path", "line", "check", "message"}]}); a one-line summary on stderr.

Exit codes: 0 no problems; 1 problems found; 2 usage error; 4 no or wrong tree;
6 references/index.json missing or unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime.errors import (
    os_guarded,
    EXIT_OK,
    EXIT_PROBLEMS,
    SkillPackageError,
    UsageError,
    print_error,
    refuse_blank,
)
from scvi_skill.runtime.index import load_index
from scvi_skill.runtime.paths import SKILL_ROOT
from scvi_skill.runtime.tree import discover_tree

DEFAULT_MAX = 100


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="check_skill.py",
        description=doc.split("\n\n")[0],
        epilog=doc[doc.index("Examples:"):],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--skill-dir", default=str(SKILL_ROOT),
                        help="skill folder or repository to check (default: this repository)")
    parser.add_argument("--tree", help="scvi-tools tree (default: $SCVI_TOOLS_TREE, else the "
                        "cached pinned tree)")
    parser.add_argument("--index", help="index.json to check names against (default: "
                        "SKILL_DIR/references/index.json)")
    parser.add_argument("--folder-name", action="store_true",
                        help="also require the folder name to equal the skill name, as an "
                        "installed copy must (default: off)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--max", type=int, default=DEFAULT_MAX,
                        help=f"problems to print in text mode (default: {DEFAULT_MAX})")
    return parser


def main(argv: list[str] | None = None) -> int:
    return os_guarded(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max < 1:
        parser.error(f"--max must be at least 1, got {args.max}")
    try:
        from scvi_skill.check.checks import check_skill

        refuse_blank(("--skill-dir", args.skill_dir), ("--index", args.index),
                     ("--tree", args.tree))
        skill_dir = Path(args.skill_dir).expanduser()
        if not (skill_dir / "SKILL.md").is_file():
            raise UsageError(f"no SKILL.md in {skill_dir}",
                             hint="Pass --skill-dir with the skill folder or repository root.")
        index = load_index(Path(args.index) if args.index
                           else skill_dir / "references" / "index.json")
        tree = discover_tree(args.tree, need_docs=True,
                             expected_version=index.get("scvi_tools_version"))
        report = check_skill(skill_dir, index=index, tree=tree,
                             dir_name=skill_dir.resolve().name if args.folder_name else None)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        for problem in report.problems[: max(args.max, 0)]:
            print(problem)
        left = len(report.problems) - max(args.max, 0)
        if left > 0:
            print(f"... {left} more problems (use --max or --json)")
    checked = ", ".join(f"{n} {what}" for what, n in sorted(report.counts.items()))
    print(f"{len(report.problems)} problems in {len(report.files)} files (checked {checked}; "
          f"SKILL.md body {report.body_lines} lines, ~{report.body_tokens_chars} tokens by "
          f"chars/4, ~{report.body_tokens_words} by words*4/3)", file=sys.stderr)
    return EXIT_PROBLEMS if report.problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

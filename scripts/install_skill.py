#!/usr/bin/env python3
"""Install the scvi-tools-inputs-and-modeling skill into Claude Code, or zip it for claude.ai.

Copies only what the agent needs: SKILL.md, references/, and the agent-facing scripts
(resolve_docs.py, search_source.py, fetch_tree.py) with the scvi_skill modules they import.
Installs into $CLAUDE_CONFIG_DIR/skills/scvi-tools-inputs-and-modeling/ (personal; without
CLAUDE_CONFIG_DIR: ~/.claude/skills/, ~ being $HOME) or, with --project DIR, into
DIR/.claude/skills/scvi-tools-inputs-and-modeling/. It warns when another copy (personal,
project or an installed plugin) would hide this one or list the skill twice. Running it again
updates the copy in place (idempotent). A manifest in the folder records what was installed:
a folder without one is never overwritten unless --force, and --uninstall deletes only the
files the installer wrote and that nobody edited since. Standard library only; never prompts.

Usage:
  python3 scripts/install_skill.py [--project DIR] [--force] [--dry-run] [--json]
  python3 scripts/install_skill.py --uninstall [--project DIR] [--dry-run]
  python3 scripts/install_skill.py --zip PATH

Examples:
  python3 scripts/install_skill.py                        # personal install
  python3 scripts/install_skill.py --project ~/proj/atlas # this project only
  python3 scripts/install_skill.py --uninstall
  python3 scripts/install_skill.py --zip dist/scvi-tools-inputs-and-modeling.zip

Output: one summary line (--json: {"action", "dry_run", "target", "summary": {"written",
"unchanged", "removed", "kept"}, "written", "unchanged", "removed", "kept"}).

Exit codes: 0 done; 1 refused (a folder the installer did not create, nothing installed to
remove, a symbolic link, an existing --zip file without --force, a --zip path that is not a
regular file) or a filesystem error (one line, nothing half-installed); 2 usage error (bad
or empty arguments, a --project that is not a folder, incomplete source folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill import claude_config  # noqa: E402
from scvi_skill import install as inst  # noqa: E402
from scvi_skill.runtime.errors import (  # noqa: E402
    os_guarded,
    EXIT_PROBLEMS,
    SkillPackageError,
    print_error,
    warn,
)
from scvi_skill.runtime.paths import SKILL_ROOT  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="install_skill.py",
        description=doc.split("\n\n")[0],
        epilog=doc[doc.index("Examples:"):],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--project", metavar="DIR",
                       help="install into DIR/.claude/skills/ (default: $CLAUDE_CONFIG_DIR/skills/, "
                            "else ~/.claude/skills/)")
    where.add_argument("--zip", metavar="PATH",
                       help="write an upload bundle for claude.ai instead of installing")
    parser.add_argument("--uninstall", action="store_true",
                        help="remove the files a previous install wrote (default: install)")
    parser.add_argument("--force", action="store_true",
                        help="install over a folder the installer did not create, or replace "
                             "an existing --zip file (default: off)")
    parser.add_argument("--dry-run", action="store_true",
                        help="report what would change, change nothing (default: off)")
    parser.add_argument("--source", default=str(SKILL_ROOT),
                        help="the skill's repository (default: the one holding this script)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    return os_guarded(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value in (("--zip", args.zip), ("--project", args.project)):
        if value is not None and not value.strip():
            parser.error(f"{flag} needs a path, got an empty string")
    if args.zip and args.uninstall:
        parser.error("--zip cannot be combined with --uninstall")
    if args.zip and (args.zip.endswith(("/", "\\")) or Path(args.zip).expanduser().is_dir()):
        parser.error(f"--zip takes the path of the .zip file to write, got a folder: {args.zip}")
    if args.uninstall and args.force:
        parser.error("--uninstall never forces: it removes only what the installer wrote")
    try:
        if args.zip:
            result = inst.build_zip(Path(args.source), Path(args.zip), force=args.force,
                                    dry_run=args.dry_run)
        else:
            target = (inst.project_target(args.project) if args.project
                      else inst.personal_target())
            if args.uninstall:
                result = inst.uninstall(target, dry_run=args.dry_run)
            else:
                result = inst.install(Path(args.source), target, force=args.force,
                                      dry_run=args.dry_run)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    except OSError as err:  # permissions, a full disk, a file where a folder should be
        where = f" {err.filename}" if err.filename else ""
        print_error(f"could not write{where}: {err.strerror or err}",
                    hint="Nothing half-written is left; fix the location or choose another"
                         + ("" if args.zip else " (--project DIR)"))
        return EXIT_PROBLEMS
    for rel in result.kept:
        again = " (--force replaces it)" if result.action == "update" else ""
        warn(f"kept {result.target / rel}: edited since it was installed{again}")
    if result.action in ("install", "update"):
        for message in claude_config.other_copies(inst.SKILL_NAME, result.target,
                                                  project=args.project):
            warn(message)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(_summary(result))
    return 0


def _summary(result: inst.InstallResult) -> str:
    would = "would be " if result.dry_run else ""
    if result.action == "zip":
        return f"{result.target}: {len(result.written)} files {would}zipped"
    if result.action == "uninstall":
        kept = f", {len(result.kept)} edited files kept" if result.kept else ""
        return f"{result.target}: {len(result.removed)} files {would}removed{kept}"
    parts = [f"{len(result.written)} files {would}written",
             f"{len(result.unchanged)} unchanged"]
    if result.removed:
        parts.append(f"{len(result.removed)} obsolete {would}removed")
    if result.kept:
        parts.append(f"{len(result.kept)} edited kept")
    hint = "" if result.dry_run else (
        f"\nClaude Code loads it in new sessions as /{inst.SKILL_NAME}; the scripts are in "
        f"{result.target / 'scripts'}")
    return f"{result.target}: {', '.join(parts)}{hint}"


if __name__ == "__main__":
    sys.exit(main())

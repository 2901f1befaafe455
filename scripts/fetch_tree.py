#!/usr/bin/env python3
"""Fetch a scvi-tools source tree (docs/, src/, tests/, CHANGELOG.md) and cache it.

By default it downloads the sdist of the pinned scvi-tools version from the package index
your pip is configured for, extracts it safely and atomically into the cache, and prints the
tree's path as the last line of stdout (progress and messages go to stderr). A second call
returns the cached path at once.

Usage:
  python3 scripts/fetch_tree.py                      # the pinned version
  python3 scripts/fetch_tree.py --version 1.4.2      # another release
  python3 scripts/fetch_tree.py --from ~/src/scvi-tools          # a git checkout / extracted tree
  python3 scripts/fetch_tree.py --from scvi_tools-1.5.1.tar.gz   # a local sdist archive
  python3 scripts/fetch_tree.py --list-versions

Cache: $SCVI_SKILL_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/scvi-skill/trees/, one folder
scvi-tools-VERSION per tree with a manifest (.scvi-skill-manifest.json: version, source,
sha256 of the archive, whether it matched the pinned checksum, date). The pinned version's
sdist is verified against the sha256 written in the code; other versions are recorded only.
An archive is refused unless every member is a plain file or folder inside it (an sdist has
no links). --from a different archive or folder of a cached version replaces that tree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.errors import (  # noqa: E402
    EXIT_FETCH,
    SkillPackageError,
    UsageError,
    print_error,
    refuse_blank,
)
from scvi_skill.runtime.fetch import check_version, fetch_tree, list_versions  # noqa: E402

EPILOG = """\
exit codes:
  0  the tree path was printed (last stdout line)
  2  usage error
  5  download, extraction or cache write failed (nothing half-written is left)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fetch_tree.py",
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        default=None,
        help=f"scvi-tools version to fetch (default: {PINNED_SCVI_TOOLS}, the one the maps describe)",
    )
    parser.add_argument(
        "--from",
        dest="from_path",
        metavar="PATH",
        help="use a git checkout, an extracted tree or a local sdist .tar.gz instead of downloading",
    )
    parser.add_argument(
        "--index-url",
        help="package index to download from (default: pip's own configuration)",
    )
    parser.add_argument(
        "--list-versions",
        action="store_true",
        help="print the scvi-tools versions on the package index, newest first, and exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        refuse_blank(("--from", args.from_path), ("--index-url", args.index_url),
                     ("--version", args.version))
        if args.list_versions:
            print("\n".join(list_versions(index_url=args.index_url)))
            return 0
        if args.version is not None:
            check_version(args.version, "--version", error=UsageError)
        path = fetch_tree(args.version or PINNED_SCVI_TOOLS, from_path=args.from_path,
                          index_url=args.index_url,
                          expect=args.version if args.from_path else None)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    except OSError as err:  # anything the fetch did not foresee: one line, not a traceback
        print_error(f"fetch failed: {err}", hint="Nothing half-written was cached")
        return EXIT_FETCH
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Resolve a scvi-tools question to the doc sections and source files that answer it.

Reads the skill's shipped references/search_index.json (no scvi-tools tree needed) and ranks
doc sections (BM25F over titles, headings, symbols and text, plus the curated routing
vocabulary) and source files (names, docstrings, and links from the sections that mention
their symbols).

Usage:
  resolve_docs.py QUESTION... [--json] [--limit N] [--tree PATH]
  resolve_docs.py - < question.txt          (read the question from stdin)

--json prints exactly one object:
  {"query", "scvi_tools_version",
   "docs":   [{"path", "title", "section", "lines": [start, end], "score", "url"}],
   "source": [{"path", "symbol", "line", "score"}],
   "routes": [{"skill", "why"}]}
docs: distinct documents, best first, each with its best section (1-based inclusive lines);
source: distinct files under src/ or tests/, best first; routes: sibling skills the
question belongs to instead. Paths are relative to the scvi-tools tree root.

Text mode (default) is at most 40 lines: what to read (path:start-end), which symbol to open,
and the search_source.py commands to run next. With a tree (--tree, $SCVI_TOOLS_TREE, or the
cached pinned tree that fetch_tree.py made), the top sections get a short excerpt from it.

Examples:
  python3 scripts/resolve_docs.py "should donor go in batch_key or categorical_covariate_keys?"
  python3 scripts/resolve_docs.py --json "my scVI loss is NaN after a few epochs"

Exit codes: 0 results; 1 nothing matched; 2 usage error (empty question); 4 wrong --tree;
6 the shipped search index is missing or unreadable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime.errors import (  # noqa: E402
    EXIT_OK,
    EXIT_PROBLEMS,
    IndexStale,
    SkillPackageError,
    UsageError,
    print_error,
)
from scvi_skill.runtime.index import REGENERATE, SEARCH_INDEX_PATH, load_search_index  # noqa: E402
from scvi_skill.runtime.paths import script_command  # noqa: E402
from scvi_skill.runtime.rank import MAX_QUESTION_CHARS, resolve  # noqa: E402
from scvi_skill.runtime.tokens import identifiers  # noqa: E402

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
MAX_STDIN_BYTES = 1 << 20
MAX_TEXT_LINES = 40
DEFAULT_TEXT_LIMIT = 5
TEXT_DOCS = 8
TEXT_SOURCES = 8
EXCERPT_LINES = 2
EXCERPT_DOCS = 3
TITLE_CHARS = 90
SEARCH = script_command("search_source.py")


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="resolve_docs.py",
        description=doc.split("\n\n", 1)[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("question", nargs="*", help="the question ('-' reads stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N",
        help=(
            f"docs and source files to return (default: {DEFAULT_LIMIT} with --json, "
            f"{DEFAULT_TEXT_LIMIT} in text mode, which shows at most {TEXT_DOCS}; "
            f"at most {MAX_LIMIT})"
        ),
    )
    parser.add_argument(
        "--tree", metavar="PATH",
        help="scvi-tools tree for excerpts (default: $SCVI_TOOLS_TREE, else the cached pinned "
        "tree if present; none needed)",
    )
    parser.add_argument(
        "--index", metavar="PATH", type=Path,
        help="search index to read (default: the skill's references/search_index.json)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    except BrokenPipeError:  # pragma: no cover - reader closed the pipe (| head)
        return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    question = _question(args.question)
    limit = args.limit if args.limit is not None else (
        DEFAULT_LIMIT if args.json else DEFAULT_TEXT_LIMIT
    )
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    sidx = load_search_index(args.index)
    try:
        result = resolve(question, sidx, limit=limit, source_limit=limit)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise IndexStale(
            f"search index {args.index or SEARCH_INDEX_PATH} has an unexpected layout "
            f"({type(exc).__name__}: {exc})",
            hint=f"Regenerate it: {REGENERATE}",
        ) from exc
    upstream = sidx.get("upstream") or ""
    report = {
        "query": question,
        "scvi_tools_version": sidx.get("scvi_tools_version", "unknown"),
        "docs": [
            {
                "path": d["path"],
                "title": d["title"],
                "section": d["section"],
                "lines": d["lines"],
                "score": round(d["score"] / 100, 2),
                "url": upstream + d["path"] if upstream else "",
            }
            for d in result["docs"]
        ],
        "source": [
            {"path": s["path"], "symbol": s["symbol"], "line": s["line"], "score": round(s["score"] / 100, 2)}
            for s in result["source"]
        ],
        "routes": result["routes"],
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        tree = _optional_tree(args.tree, report["scvi_tools_version"])
        print("\n".join(_text(report, question, tree)[:MAX_TEXT_LINES]))
    return EXIT_OK if report["docs"] or report["source"] else EXIT_PROBLEMS


def _question(words: list[str]) -> str:
    if words == ["-"]:
        raw = sys.stdin.buffer.read(MAX_STDIN_BYTES)
        text = raw.decode("utf-8", "replace")
    else:
        text = " ".join(words)
    text = " ".join(text.split())
    if not text:
        raise UsageError(
            "empty question: pass the user's question as an argument",
            hint='Example: python3 scripts/resolve_docs.py "my scVI loss is NaN"',
        )
    if len(text) > MAX_QUESTION_CHARS:
        print(
            f"Warning: question is {len(text)} characters; ranking (and echoing) its first "
            f"{MAX_QUESTION_CHARS}",
            file=sys.stderr,
        )
        text = text[:MAX_QUESTION_CHARS]
    return text


def _optional_tree(tree_arg: str | None, version: str):
    """A tree for excerpts: --tree, else $SCVI_TOOLS_TREE, else the cached pinned tree if it is
    there; none is needed, so only an explicit --tree that is wrong is an error."""
    from scvi_skill.runtime.errors import TreeNotFound
    from scvi_skill.runtime.tree import discover_tree, missing_parts  # only needed for excerpts

    if not tree_arg and not os.environ.get("SCVI_TOOLS_TREE"):
        from scvi_skill.runtime.paths import cached_tree_path

        cached = cached_tree_path(version)
        if not cached.is_dir() or missing_parts(cached):
            return None
        tree_arg = str(cached)
        explicit = False
    else:
        explicit = bool(tree_arg)
    try:
        return discover_tree(tree_arg, need_docs=True, expected_version=version)
    except TreeNotFound as err:
        if explicit:
            raise
        # Excerpts are optional: a stale $SCVI_TOOLS_TREE must not cost the answer.
        print(f"Warning: no excerpts: {err}", file=sys.stderr)
        return None


def _text(report: dict, question: str, tree) -> list[str]:
    short_q = question if len(question) <= 100 else question[:97] + "..."
    lines = [f"scvi-tools {report['scvi_tools_version']}: {short_q}"]
    for route in report["routes"]:
        lines.append(f"Route: this may belong to the {route['skill']} skill ({route['why']})")
    if report["docs"]:
        lines.append("Read (doc sections, best first):")
    for i, doc in enumerate(report["docs"][:TEXT_DOCS], 1):
        start, end = doc["lines"]
        section = _clip(doc["section"], TITLE_CHARS)
        where = section if section == doc["title"] else f"{section} - in {_clip(doc['title'], 50)}"
        lines.append(f"  {i}. {doc['path']}:{start}-{end}  {where}")
        if tree is not None and i <= EXCERPT_DOCS:
            lines.extend(f"       | {t}" for t in _excerpt(tree, doc["path"], start, end))
    if report["source"]:
        lines.append("Source entry points:")
    for i, src in enumerate(report["source"][:TEXT_SOURCES], 1):
        symbol = f"  {src['symbol']}" if src["symbol"] else ""
        lines.append(f"  {i}. {src['path']}:{src['line']}{symbol}")
    hidden = max(0, len(report["docs"]) - TEXT_DOCS) + max(0, len(report["source"]) - TEXT_SOURCES)
    if hidden:
        lines.append(f"  ({hidden} more results in --json output)")
    lines.append("Next:")
    lines.extend(f"  {cmd}" for cmd in _next_commands(report, question, tree))
    if not report["docs"] and not report["source"]:
        lines.insert(1, "No match in the index; rephrase with scvi-tools terms or search source.")
    return lines


def _next_commands(report: dict, question: str, tree=None) -> list[str]:
    cmds = []
    for src in report["source"][:2]:
        if src["symbol"]:
            cmds.append(f"{SEARCH} --symbol {src['symbol']}")
    named = []
    for ident in identifiers(question):
        ident = ident.strip("`()")
        if "_" in ident and "." not in ident and ident.islower() and ident not in named:
            named.append(ident)
    for ident in named[:2]:
        cmds.append(f"{SEARCH} --kwarg {ident}")
    if report["docs"]:
        doc = report["docs"][0]
        path = doc["path"] if tree is None else str(tree.to_disk(doc["path"]))
        cmds.insert(0, f"read {path} lines {doc['lines'][0]}-{doc['lines'][1]}")
    return cmds or [f"{SEARCH} --help"]


def _excerpt(tree, rel: str, start: int, end: int) -> list[str]:
    path = tree.to_disk(rel)
    if tree.to_rel(path) is None:
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read().splitlines()[start - 1 : end]
    except OSError:
        return []
    body = [t.strip() for t in text[1:] if t.strip() and not t.startswith("#")]
    return [_clip(t, 110) for t in body[:EXCERPT_LINES]]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())

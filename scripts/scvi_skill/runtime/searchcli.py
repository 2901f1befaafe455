"""Targeted ripgrep searches in the scvi-tools tree: definitions, usages, keyword arguments.

Usage:
  search_source.py --symbol NAME      class/function/method definition + signature + docstring;
                                      a NAME the index lacks gets the public names that end as
                                      it does but for case or module (scvi.model.GIMVI ->
                                      scvi.external.GIMVI) and the first one's definition
  search_source.py --usages NAME      where NAME is called, imported or referenced
  search_source.py --kwarg NAME       where a keyword argument is declared, passed and read
  search_source.py --pattern REGEX    an explicit regular expression (ripgrep syntax)
  search_source.py --message TEXT     where scvi-tools raises, warns, logs or prints a pasted error
                                      (TEXT: the message or a whole traceback; - reads
                                      stdin), with every test guarding it; from
                                      references/messages.json, no rg needed; --limit N
                                      (default 5); a placeholder matches any pasted value;
                                      for Python's own AttributeError/KeyError, the --pattern
                                      that finds the code reading the name; for a message
                                      only earlier releases raise, those releases, its site
                                      there and the release it went in (JSON: gone_message);
                                      sites raising the same words are said to be so (JSON:
                                      same_message, how many there are); --in narrows
                                      its sites as it narrows every search
  search_source.py --model NAME       the model's card (train() defaults and overrides, plan,
                                      setup, methods) from references/model_cards.json;
                                      no tree or rg needed; unknown NAME: exit 1, close matches
  search_source.py --changes WORDS    the release notes (CHANGELOG.md) that hold every word
                                      (case-insensitive, literal), newest first, each headed
                                      by its release and kind of change ("1.1.0 (2024-02-13) >
                                      Removed"): since when, what replaced it; no rg needed
  search_source.py --pitfalls WORDS   the proven pitfalls (references/pitfalls.yaml, each
                                      tested on scvi-tools) whose id, claim, fix or models
                                      hold every word (case-insensitive, literal), each with
                                      the path:line of its evidence; no tree or rg needed
  search_source.py --history NAME     the releases (1.0.0 on) that have a public name or a
                                      keyword (JaxSCVI, scvi.model.utils.mde, use_gpu): when it
                                      went, its last signature (per run of releases: its def's
                                      path:line, or the other package's name it re-exported),
                                      parameters that came or went, the replacement; for
                                      python or a package scvi-tools
                                      requires (anndata, lightning), what each release's sdist
                                      requires; from references/api/, no tree needed
  search_source.py --lines PATH:A-B   the tree's lines A to B of PATH (tree-relative),
                                      numbered and verbatim, at most 200: the numbers to
                                      cite; no rg needed
  search_source.py --since CODE       the first (or last) release whose src/scvi .py files
                                      hold CODE literally, by bisection over the releases
                                      1.0.0 on (about 7 trees read, each fetched from the
                                      package index once and cached); --in PART narrows it,
                                      --cached reads only the trees already cached; code
                                      that came and went is found through the first and
                                      last release of each minor series; exit 1 when no
                                      release read holds it
  search_source.py --compare NAME --release V
                                      how the def NAME stands for changed between release V
                                      and the tree read (--release twice: two releases),
                                      found through each release's API index
                                      (SCVI.train is UnsupervisedTrainingMixin.train);
                                      hunks of changed lines, each numbered in its own
                                      release (- older, + newer), --context N lines around
                                      (default 2), --max N hunks, 200 lines at most; V's
                                      tree fetched once and cached (--cached: no download);
                                      exit 1 when a release lacks the name
  search_source.py TEXT               literal text (never a regex, never a shell word);
                                      put -- before TEXT that starts with a dash
TEXT, NAME and REGEX are single lines of at most 1000 characters (longer: usage error).

Scope with --in AREA|PATH|GLOB (areas are scvi subpackages: model, external, train, data,
dataloaders, module, nn, ...), add tests/ with --tests. Output is capped (--max, default 20)
and says how much was left out; --json prints one object:
  {"mode", "query", "scvi_tools_version", "tree", "site"? (an installed tree: the folder
   whose scvi/... the src/scvi/... paths are), "total", "shown", "truncated",
   "results": [...], "close"?: [names], "close_results"?: [...], "next": [commands]}
--symbol results: {"symbol", "kind", "path", "line", "signature", "doc", "inherited_from"?};
--changes results: {"path", "line", "end", "release", "section", "text", "more_lines"};
--pitfalls results: {"id", "text", "cite", "applies_to"};
--since: {"mode", "query", "where", "releases", "oldest", "newest", "cached_only", "checked":
  [{"version", "present", "path", "line", "places": [[path, line]] (each file's first)}] (in
  the order read), "fetched", "result" ("added", "removed", "span", "always", "never"),
  "first", "last" (the first and last release read holding it), "before", "after" (the
  releases read next to them lacking it), "not_read_before"?, "not_read_after"? (with
  --cached: releases between those not read), "files": [{"path", "line" (in "last"),
  "result", "first", "last", "before", "after"}] (the same, file by file: a text in two files
  may change in one; the text prints them when there are several)};
--history: {"mode", "query", "names": [{"name", "spans", "present", "gone_since",
  "last_release", "replacement", "params", "param_changes", "defaults", "importable",
  "defined": {"qualname", "spans"} | null, "outside": {"bases", "spans"} | null,
  "private": {"private", "spans"} | null, "notes",
  "earlier_unknown", "signature", "path", "line", "by_span": [{"releases", "last",
  "signature", "kind", "path", "line", "from"}]}],
  "keyword": {"keyword", "replacement", "callables": [{"name", "spans", "present",
  "earlier_unknown"}]} | null, "requirement": {"package", "runs": [{"spec", "first",
  "last"}]} | null, "next"} (earlier_unknown: the spans start at the history's first release,
  so releases before it may have had the name too; params: each parameter whose releases
  differ from the name's, with its releases; param_changes: the same in words, "added in
  1.3.1", "gone since 1.1.0.post1", "in 1.1.4, 1.2.0-1.5.1 only"; spans count public names,
  and for a class member scvi-tools' own definitions: importable, the releases whose package
  imports the name though its __all__ leaves it out; defined, the def it names and the
  releases that define it, when one had it under no public name; outside, the releases
  where a base of another package may supply the member; private, the releases whose class
  had the member as a private method (_get_importance_weights); notes, these in words;
  requirement: for python or a package some release requires, spec null for not required,
  "" for any version);
--compare: {"mode", "query", "name", "old", "new": {"version", "path", "start", "end",
  "qualname"}, "identical", "removed", "added", "total_hunks", "shown_hunks", "truncated",
  "hunks": [{"old": [a, b], "new": [c, d], "cut", "lines": [{"op" (" ", "-", "+"), "old",
  "new", "text"}]}], "next"}; when a release lacks the name: {"mode", "query", "sides":
  [{"version", "found", "name"?, "path"?, "start"?, "end"?, "qualname"?, "candidates"?,
  "several"?}],
  "next"};
other results: {"path", "line", "kind", "text", "context"?}.

Names for --symbol/--usages/--kwarg accept SCVI, SCVI.setup_anndata, TrainerConfig,
scvi.external.TOTALANVI. Public dotted names resolve through the skill's
references/index.json (no import of scvi); unknown names fall back to a def/class search.

The tree is found by --tree PATH, else $SCVI_TOOLS_TREE, else the cached pinned tree
(scripts/fetch_tree.py), or --installed for the scvi package of this Python. Run in the
user's project, the source searches (--symbol, --usages, --kwarg, --pattern, TEXT, --lines
of src/scvi) read the scvi package of its $VIRTUAL_ENV, $CONDA_PREFIX, ./.venv or ./venv
when it is another release than the pinned one, said on stderr (SCVI_SKILL_NO_PROJECT=1:
not); a name only the pinned index has then points at --history. rg is found on
PATH, next to this Python, or at $SCVI_SKILL_RG.

Examples:
  python3 scripts/search_source.py --symbol SCVI.setup_anndata
  python3 scripts/search_source.py --kwarg early_stopping_patience --in train
  python3 scripts/search_source.py --usages load_query_data --tests --max 10
  python3 scripts/search_source.py "gene_likelihood" --in model --context 2
  python3 scripts/search_source.py --message "KeyError: 'celltype not found in adata.obs.'"
  python3 scripts/search_source.py --message - --json < traceback.txt
  python3 scripts/search_source.py --changes use_gpu
  python3 scripts/search_source.py --pitfalls 'query genes'
  python3 scripts/search_source.py --history scvi.model.utils.mde
  python3 scripts/search_source.py --since 'data_loader_kwargs.get("batch_size"' --in dataloaders
  python3 scripts/search_source.py --compare scvi.model.SCVI.train --release 1.0.4

Exit codes: 0 results found (for --symbol, also those of a close name); 1 no result; 2
usage error (bad name, unknown --in area, empty --message, a path the system refuses: a
loop, a name too long); 3 ripgrep (rg) missing; 4 no or wrong scvi-tools tree (for
--compare also a release with no API index, or its tree not cached with --cached); 5 a
release tree could not be fetched (--since, --compare); 6 the shipped message index is
missing (--message).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from scvi_skill.runtime import (
    changelog,
    definitions,
    messages,
    modelcards,
    source_search,  # noqa: E402
)
from scvi_skill.runtime.errors import (  # noqa: E402
    guarded,
    refuse_bad_path,
    refuse_blank,
    EXIT_OK,
    EXIT_PROBLEMS,
    IndexStale,
    SkillPackageError,
    TreeNotFound,
    UsageError,
    print_error,
    warn,
)
from scvi_skill.runtime.files import read_stdin  # noqa: E402
from scvi_skill.runtime.index import load_index  # noqa: E402
from scvi_skill.runtime.paths import script_command, shell_word  # noqa: E402
from scvi_skill.runtime.rg import find_rg  # noqa: E402
from scvi_skill.runtime.text import clip  # noqa: E402
from scvi_skill.runtime.tree import (  # noqa: E402
    TREE_ENV,
    cached_tree,
    discover_tree,
    project_release,
    read_text,
)

DEFAULT_MAX = 20
DIFF_CONTEXT = 2
"""--compare's unchanged lines around each change, unless --context says otherwise."""
MODELS_SHOWN = 5
"""--pitfalls: the models a pitfall holds for, in text, before "+N more" (--json: all)."""
MAX_CONTEXT = 10
MAX_QUERY_CHARS = 1000
SCRIPT = script_command("search_source.py")


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="search_source.py",
        description=doc.split("\n\n", 1)[0],
        epilog=doc.split("\n\n", 1)[1] if "\n\n" in doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("text", nargs="?", help="literal text to search for")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--symbol", metavar="NAME", help="show the definition of NAME")
    mode.add_argument("--usages", metavar="NAME", help="show where NAME is used")
    mode.add_argument("--kwarg", metavar="NAME", help="show where keyword NAME is declared/used")
    mode.add_argument("--pattern", metavar="REGEX", help="search a ripgrep regular expression")
    mode.add_argument("--message", metavar="TEXT",
                      help="find where scvi-tools raises, warns, logs or prints a pasted message"
                      " (- : stdin)")
    mode.add_argument("--model", metavar="NAME",
                      help="print the model card of NAME (SCVI, scvi.model.SCVI, mrvi)")
    mode.add_argument("--changes", metavar="WORDS",
                      help="the release notes that hold every word, with their release")
    mode.add_argument("--history", metavar="NAME",
                      help="the releases that have a public name or keyword, and its changes")
    mode.add_argument("--pitfalls", metavar="WORDS",
                      help="the proven pitfalls that hold every word, with their evidence")
    mode.add_argument("--lines", metavar="PATH:A-B",
                      help="the tree's lines A to B of PATH, numbered, verbatim (cite these)")
    mode.add_argument("--since", metavar="CODE",
                      help="the first release whose source holds CODE (literal), read from "
                           "the release trees (fetched as needed)")
    mode.add_argument("--compare", metavar="NAME",
                      help="how the def of NAME changed between --release V and the tree read "
                           "(or two --release), each line numbered in its own release")
    parser.add_argument("--in", dest="where", metavar="AREA|PATH|GLOB", help="limit the search")
    parser.add_argument("--tests", action="store_true", help="also search tests/ (default: off)")
    parser.add_argument("--cached", action="store_true",
                        help="--since, --compare: read only the release trees already cached "
                             "(no download)")
    parser.add_argument("--release", action="append", metavar="V",
                        help="--compare: the release to compare with (twice: two releases)")
    parser.add_argument(
        "--context", type=int, default=None, metavar="N",
        help=f"lines of context (default: 0; --compare: {DIFF_CONTEXT})"
    )
    parser.add_argument(
        "--max", type=int, default=DEFAULT_MAX, metavar="N",
        help=f"results to show (default: {DEFAULT_MAX})",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N",
        help=f"sites to show for --message (default: {messages.DEFAULT_LIMIT})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--tree", metavar="PATH", help="scvi-tools tree (default: discovered)")
    parser.add_argument(
        "--installed", action="store_true", help="search the scvi package installed in this Python"
    )
    parser.add_argument(
        "--index", metavar="PATH", type=Path,
        help="index.json to resolve public names (default: the skill's references/index.json)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.installed and args.tree:
        parser.error("--installed and --tree name two trees: give one")
    return guarded(_run, args)


def _run(args: argparse.Namespace) -> int:
    refuse_blank(("--in", args.where), ("--tree", args.tree))
    context_given = args.context is not None
    args.context = args.context if context_given else 0
    if args.compare is not None:
        return _compare(args, args.context if context_given else DIFF_CONTEXT)
    if args.release:
        raise UsageError("--release goes with --compare")
    if args.index is not None:  # a loop or a name too long: exit 2, as resolve_docs.py
        refuse_bad_path(args.index)
    if args.message is not None:
        return _message(args)
    if args.model is not None:
        return _model_card(args)
    if args.changes is not None:
        return _changes(args)
    if args.history is not None:
        return _history(args)
    if args.pitfalls is not None:
        return _pitfalls(args)
    if args.lines is not None:
        return _lines(args)
    if args.since is not None:
        return _since(args)
    if args.cached:
        raise UsageError("--cached goes with --since or --compare")
    mode, query = _mode(args)
    if not 0 <= args.context <= MAX_CONTEXT:
        raise UsageError(f"--context must be between 0 and {MAX_CONTEXT}")
    _check_max(args.max)
    if mode != "symbol":  # --symbol answers from the index; rg only for names it lacks
        find_rg()  # fail early with the install hint, before looking for a tree
    tree = _source_tree(args)
    if args.tests and not tree.has_tests:
        warn(f"{tree.root} has no tests/; searching the package only")
    scope = source_search.make_scope(
        tree, args.where, tests=args.tests, python_only=mode in ("symbol", "usages", "kwarg")
    )
    close: list[str] = []
    close_results: list[dict] = []
    index_version = None
    if mode == "symbol":
        index = _optional_index(args.index)
        index_version = (index or {}).get("scvi_tools_version")
        results = [d.as_dict() for d in definitions.find_definitions(tree, query, index, scope)]
        close = [] if results else _close_names(query, index)
        if close:  # the first close name's defs, shown below: one command, not two
            close_results = [d.as_dict() for d in
                             definitions.find_definitions(tree, close[0], index, scope)]
    elif mode == "usages":
        hits = source_search.find_usages(tree, query, scope, context=args.context)
        results = [h.as_dict() for h in hits]
    elif mode == "kwarg":
        index = _optional_index(args.index)
        hits = source_search.find_kwarg(tree, query, scope, index, context=args.context)
        results = [h.as_dict() for h in hits]
        _mark_default_conflicts(tree, results[: args.max], query)
    else:
        hits = source_search.rg_search(
            tree, scope, [query], fixed=mode == "text", context=args.context
        )
        results = [h.as_dict() for h in hits]
    shown = results[: args.max]
    report = {
        "mode": mode,
        "query": query,
        "scvi_tools_version": tree.version,
        "tree": tree.kind,
        **_site(tree),
        "total": len(results),
        "shown": len(shown),
        "truncated": len(results) > len(shown),
        "results": shown,
        **({"close": close, "close_results": close_results[: args.max]} if close else {}),
        "next": _next_steps(mode, close[0], close_results[: args.max]) if close
        else _next_steps(mode, query, shown),
    }
    if close and not close_results and index_version not in (None, tree.version):
        # The pinned index has the name, the tree read (the project's release) has no def of
        # it: when it came or went is --history's to say, not a search of the tests.
        report["index_version"] = index_version
        report["next"] = [f"{SCRIPT} --history {shell_word(close[0])}"]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(_text(report, args.max))
    return EXIT_OK if results or close_results else EXIT_PROBLEMS


def _site(tree) -> dict:
    """``{"site": folder}`` for an installed package (it has no src/: the folder whose
    scvi/... the src/scvi/... paths are), else nothing."""
    return {"site": str(tree.root)} if tree.kind == "installed" else {}


def _source_tree(args: argparse.Namespace):
    """The tree whose source a search reads: --tree, --installed or $SCVI_TOOLS_TREE when
    given, else the scvi package installed in the user's project when it is another release
    than the pinned one (or the pinned one with no tree cached: :func:`.tree.project_release`),
    said on stderr, else the cached pinned tree. The agent works in the project: a name or
    keyword is looked up in the release the user runs, at its own lines."""
    if args.tree or args.installed or os.environ.get(TREE_ENV):
        return discover_tree(args.tree, installed=args.installed)
    project = project_release()
    if project is None:
        return discover_tree(None)
    if args.tests and not project.has_tests:
        # An installed package ships no tests/: the same release's sdist tree has them.
        cached = cached_tree(project.version)
        if cached is not None:
            warn(f"searching scvi-tools {project.version}'s cached tree {cached}, the project's "
                 "release with its tests/ (--tree PATH searches another tree)")
            return discover_tree(str(cached), expected_version=project.version)
        warn(f"the project's scvi-tools {project.version} is installed without tests/: "
             f"{script_command('fetch_tree.py')} --version {project.version} caches its tree, "
             "tests included")
    warn(f"searching the project's scvi-tools {project.version}, installed in {project.root} "
         f"(--tree PATH searches another tree)")
    return project


def _mark_default_conflicts(tree, results: list[dict], name: str) -> None:
    """A declared parameter whose docstring entry states a default its signature contradicts
    gets ``default_conflict`` (``code``, ``stated``, ``entry``)."""
    from scvi_skill.runtime.pack import declared_default_conflicts

    declared = [item for item in results if item["kind"] == "declared"]
    places = [(item["path"], item["line"], name.strip("`")) for item in declared]
    for item, found in zip(declared, declared_default_conflicts(tree, places), strict=True):
        if found:
            item["default_conflict"] = found


def _model_card(args: argparse.Namespace) -> int:
    """--model: the generated card; a name without a card raises UnknownModel (exit 1)."""
    if args.text is not None:
        raise UsageError("give either TEXT or --model, not both")
    _refuse_unused(args, "--model")
    cards = modelcards.load_cards()
    try:
        card = modelcards.find_card(cards, _checked(args.model, "--model"))
    except modelcards.UnknownModel:
        if args.json:  # the object --json promises, with nothing found (the message: stderr)
            print(json.dumps({"mode": "model", "query": args.model, "card": None}))
        raise
    note = ""
    if args.tree or args.installed:
        tree = discover_tree(args.tree, installed=args.installed)
        pinned = cards.get("scvi_tools_version") or "the pinned release"
        if tree.version != pinned:
            note = (f"(the card is scvi-tools {pinned}'s; the tree given is {tree.version}, whose "
                    f"defaults and parameters may differ: --symbol {card['model']}.train "
                    f"--tree ... reads them there)")
            if not _in_release(card["model"], tree.version):
                note = (f"(the card is scvi-tools {pinned}'s: {card['model']} is not in "
                        f"scvi-tools {tree.version}, the tree given)")
    if args.json:
        print(json.dumps(dict(card, note=note) if note else card, ensure_ascii=False))
    else:
        print((note + "\n" if note else "") + modelcards.render_card(card))
    return EXIT_OK


def _check_max(value: int) -> None:
    if not 1 <= value <= MAX_RESULTS:
        raise UsageError(f"--max must be between 1 and {MAX_RESULTS}")


def _in_release(name: str, version: str) -> bool:
    """Whether the API index of ``version`` has the public ``name`` (True when that release
    has no index: nothing is known against it)."""
    from scvi_skill.runtime.apiindex import release_api

    try:
        return release_api(version).lookup(name).found
    except SkillPackageError:
        return True


MAX_RESULTS = 500
"""The most results --max may ask for (the output stays bounded)."""
MAX_LINES_SHOWN = 200
"""--lines prints at most this many lines (a longer range is cut, and says so)."""
MAX_LINE_CHARS_SHOWN = 2000
"""--lines cuts a line longer than this (the tree's own are under 200 characters; a
generated or minified file's are not)."""
_LINES_SPEC = re.compile(r"(?P<path>.+):(?P<start>\d{1,9})(?:-(?P<end>\d{1,9}))?")


def _refuse_unused(args: argparse.Namespace, mode: str) -> None:
    """A usage error for the search options ``mode`` does not read (they were ignored
    quietly: ``--model SCVI --tests`` looked as if it had searched the tests)."""
    given = [flag for flag, used in (("--tests", args.tests), ("--context", args.context),
                                     ("--max", args.max != DEFAULT_MAX),
                                     ("--limit", args.limit is not None)) if used]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise UsageError(f"{', '.join(given)} {verb} not apply to {mode}",
                         hint=f"Leave {' and '.join(given)} out, or search with --symbol, "
                              "--usages, --kwarg, --pattern or TEXT")


def _lines(args: argparse.Namespace) -> int:
    """--lines PATH:A-B: the tree's lines, numbered and verbatim, for citing them exactly.
    PATH is tree-relative (``src/scvi/model/_scvi.py``) and may not lead out of the tree."""
    if args.text is not None:
        raise UsageError("give either TEXT or --lines, not both")
    _refuse_unused(args, "--lines")
    spec = _checked(args.lines, "--lines").strip()
    match = _LINES_SPEC.fullmatch(spec)
    if not match:
        raise UsageError(f"--lines takes PATH:START-END or PATH:LINE "
                         f"(src/scvi/model/_scvi.py:220-260), got {spec!r}")
    start = int(match["start"])
    end = int(match["end"] or start)
    if start < 1 or end < start:
        raise UsageError(f"--lines: the range must run from line 1 on, start before end "
                         f"(got {start}-{end})")
    src = match["path"].replace("\\", "/").lstrip("./").startswith(("src/scvi/", "scvi/"))
    tree = _source_tree(args) if src else discover_tree(args.tree, installed=args.installed)
    rel = tree.to_rel(tree.to_disk(match["path"]))
    disk = tree.to_disk(rel) if rel else None
    if disk is None or not disk.is_file():
        raise UsageError(f"--lines: {match['path']!r} is not a file of the tree {tree.root} "
                         "(give a tree-relative path such as src/scvi/model/_scvi.py)")
    try:
        lines = read_text(disk).splitlines()
    except OSError as err:
        raise TreeNotFound(f"cannot read {rel} of {tree.root}: {err}") from err
    if start > len(lines):
        if args.json:
            print(json.dumps({"mode": "lines", "query": spec, "scvi_tools_version": tree.version,
                              "tree": tree.kind, **_site(tree), "path": rel, "start": start,
                              "end": start - 1, "total_lines": len(lines), "truncated": False,
                              "lines": []}))
        print_error(f"{rel} has {len(lines)} line(s); nothing at {start}")
        return EXIT_PROBLEMS
    last = min(end, len(lines), start + MAX_LINES_SHOWN - 1)
    shown = [{"line": n, "text": clip(lines[n - 1], MAX_LINE_CHARS_SHOWN)}
             for n in range(start, last + 1)]
    report = {"mode": "lines", "query": spec, "scvi_tools_version": tree.version,
              "tree": tree.kind, **_site(tree), "path": rel, "start": start, "end": last,
              "total_lines": len(lines), "truncated": last < min(end, len(lines)),
              "lines": shown}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return EXIT_OK
    width = len(str(last))
    where = f"; {rel} is {tree.to_disk(rel)}" if tree.kind == "installed" else ""
    out = [f"== {rel}:{start}-{last} (scvi-tools {tree.version}, {tree.kind} tree{where})"]
    out.extend(f"{row['line']:>{width}}  {row['text']}" for row in shown)
    if report["truncated"]:
        out.append(f"(cut at {MAX_LINES_SHOWN} lines: --lines {rel}:{last + 1}-{end} for more)")
    elif end > len(lines):
        out.append(f"({rel} ends at line {len(lines)})")
    print("\n".join(out))
    return EXIT_OK


def _since(args: argparse.Namespace) -> int:
    """--since CODE: the release where the source starts (or stops) holding CODE, by
    bisection over the shipped manifest's releases. No rg."""
    from scvi_skill.runtime import since
    from scvi_skill.runtime.apifiles import load_releases

    if args.text is not None:
        raise UsageError("give either TEXT or --since, not both")
    if args.tree or args.installed or args.tests:
        raise UsageError("--since reads the release trees it needs; --tree, --installed and "
                         "--tests do not apply (check one release with --tree and TEXT)")
    report = since.run(_checked(args.since, "--since"), load_releases().versions,
                       where=args.where, cached_only=args.cached, log=_progress)
    print(json.dumps(report, ensure_ascii=False) if args.json else since.render(report))
    return EXIT_PROBLEMS if report["result"] == "never" else EXIT_OK


def _compare(args: argparse.Namespace, context: int) -> int:
    """--compare NAME: the def NAME stands for in two releases (``--release V`` and the tree
    read, or two ``--release``), found through each release's API index, and the hunks that
    turn the older one into the newer (:mod:`.comparecli`). No rg."""
    from scvi_skill.runtime import comparecli

    if args.text is not None:
        raise UsageError("give either TEXT or --compare, not both")
    given = [flag for flag, used in (("--tests", args.tests), ("--in", args.where),
                                     ("--limit", args.limit is not None)) if used]
    if given:
        raise UsageError(f"{', '.join(given)}: not for --compare (it reads one def in each "
                         "release)")
    if not 0 <= context <= MAX_CONTEXT:
        raise UsageError(f"--context must be between 0 and {MAX_CONTEXT}")
    _check_max(args.max)
    report = comparecli.compare(
        _checked(args.compare, "--compare"),
        [_checked(v, "--release").strip() for v in args.release or []],
        tree_arg=args.tree, installed=args.installed, cached=args.cached, context=context,
        max_hunks=args.max, log=_progress)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print("\n".join(comparecli.render(report)))
    return EXIT_OK if "hunks" in report else EXIT_PROBLEMS


def _progress(message: str) -> None:
    """Progress of a fetch, on stderr."""
    print(message, file=sys.stderr)


def _changes(args: argparse.Namespace) -> int:
    """--changes: the notes of the tree's CHANGELOG.md holding every word. No rg."""
    if args.text is not None:
        raise UsageError("give either TEXT or --changes, not both (quote several words: "
                         "--changes 'setup_anndata removed')")
    words = _checked(args.changes, "--changes").split()
    _check_max(args.max)
    tree = discover_tree(args.tree, installed=args.installed)
    where = next((rel for rel in changelog.PLACES if tree.to_disk(rel).is_file()), None)
    if where is None:
        raise TreeNotFound(f"{tree.root} has no release notes ({' or '.join(changelog.PLACES)}); "
                           "an installed package ships none: use the sdist tree "
                           "(python3 scripts/fetch_tree.py)")
    try:
        lines = read_text(tree.to_disk(where)).splitlines()
    except OSError as err:
        raise TreeNotFound(f"cannot read {where} of {tree.root}: {err}") from err
    found = changelog.find_notes(changelog.parse_notes(lines), words)
    report = _listing("changes", words, tree.version, [n.as_dict(where) for n in found],
                      args.max, [f"{SCRIPT} --tests -- {shell_word(words[0])}"], tree=tree.kind)
    out = [f"{len(found)} release note(s) holding {report['query']!r} in {where} "
           f"(scvi-tools {tree.version}, {tree.kind} tree), newest first"]
    for note in report["results"]:
        heading = " > ".join(p for p in (note["release"], note["section"]) if p)
        out.append(f"{note['path']}:{note['line']}-{note['end']}  {heading}")
        out.extend(f"  {t}" for t in note["text"].splitlines())
        if note["more_lines"]:
            out.append(f"  ... {note['more_lines']} more line(s)")
    return _print_listing(report, out, args)


def _listing(mode: str, words: list[str], version: str, found: list[dict], most: int,
             when_none: list[str], **extra) -> dict:
    """The report of a word search (``--changes``, ``--pitfalls``): the first ``most`` of
    ``found``, how many were left out, and ``when_none`` as the next commands when nothing
    was found."""
    shown = found[:most]
    return {"mode": mode, "query": " ".join(words), "scvi_tools_version": version, **extra,
            "total": len(found), "shown": len(shown), "truncated": len(found) > len(shown),
            "results": shown, "next": [] if found else when_none}


def _print_listing(report: dict, lines: list[str], args: argparse.Namespace) -> int:
    """Print a word search's report: one JSON object, or ``lines`` with what was left out and
    the next commands; exit 0 when something was found, else 1."""
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        if report["truncated"]:
            lines.append(f"... {report['total'] - report['shown']} more not shown "
                         f"(--max {args.max}); add a word to narrow")
        lines.extend(f"next: {step}" for step in report["next"])
        print("\n".join(lines))
    return EXIT_OK if report["total"] else EXIT_PROBLEMS


def _pitfalls(args: argparse.Namespace) -> int:
    """--pitfalls: the shipped pitfalls whose id, text or models hold every word. No tree."""
    from scvi_skill.runtime.index import load_search_index

    if args.text is not None:
        raise UsageError("give either TEXT or --pitfalls, not both (quote several words: "
                         "--pitfalls 'query genes')")
    words = _checked(args.pitfalls, "--pitfalls").lower().split()
    _check_max(args.max)
    sidx = load_search_index()
    found = []
    for row in sidx.get("pitfalls") or []:
        pid, text, cite = row[:3]
        models = list(row[4]) if len(row) > 4 else ["all"]
        haystack = " ".join([pid, text, " ".join(models)]).lower()
        if all(word in haystack for word in words):
            found.append({"id": pid, "text": text, "cite": cite, "applies_to": models})
    report = _listing("pitfalls", words, sidx.get("scvi_tools_version", ""), found, args.max,
                      [f"{SCRIPT} --changes {shell_word(words[0])}"])
    out = [f"{len(found)} proven pitfall(s) holding {report['query']!r} "
           f"(scvi-tools {report['scvi_tools_version']}; each tested by running it)"]
    for pitfall in report["results"]:
        models = pitfall["applies_to"]
        models = ", ".join(models[:MODELS_SHOWN] + [f"+{len(models) - MODELS_SHOWN} more"]
                           if len(models) > MODELS_SHOWN + 1 else models)
        out.append(f"- {pitfall['id']} [{models}] {pitfall['cite']}")
        out.append(f"  {pitfall['text']}")
    return _print_listing(report, out, args)


def _history(args: argparse.Namespace) -> int:
    """--history: the shipped per-release API history of a name or keyword
    (:mod:`.historycli`). No tree, no rg."""
    from scvi_skill.runtime import historycli

    if args.text is not None:
        raise UsageError("give either TEXT or --history, not both")
    name = historycli.check_name(_checked(args.history, "--history"), args.history)
    report, extra = historycli.build(
        name, max_shown=args.max, close=lambda n: _close_names(n, _optional_index(args.index)))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print("\n".join(historycli.render(report, extra, max_shown=args.max)))
    return EXIT_OK if extra["found"] else EXIT_PROBLEMS


MAX_MESSAGE_STDIN_BYTES = 1 << 20
"""--message -: the most of stdin read (a pasted traceback is far smaller)."""


def _message(args: argparse.Namespace) -> int:
    """--message: the sites of references/messages.json that raise, warn, log or print the
    pasted text (:mod:`.messagecli`).

    No rg; the tree, when one is found, only adds the lines around each site."""
    from scvi_skill.runtime import messagecli

    if args.text is not None:
        raise UsageError("give either TEXT or --message, not both")
    if args.message == "-":
        raw, cut = read_stdin(MAX_MESSAGE_STDIN_BYTES)
        if cut:
            warn(f"stdin holds more than {MAX_MESSAGE_STDIN_BYTES} bytes; reading its first "
                 f"{MAX_MESSAGE_STDIN_BYTES}")
        text = raw.decode("utf-8", "replace").replace("\ufeff", "")
    else:
        text = args.message
    if not text.strip():
        raise UsageError("--message is empty")
    if "\x00" in text:
        raise UsageError("--message contains a NUL character")
    limit = messages.DEFAULT_LIMIT if args.limit is None else args.limit
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    cleaned = messages.clean_message(text)
    if cleaned.cut:
        warn(f"--message is {len(text)} characters: matching its first "
             f"{messages.HEAD_CHARS} and last {messages.MAX_MESSAGE_CHARS - messages.HEAD_CHARS}")
    if not cleaned.segments:
        raise UsageError("--message has no words once the exception class and traceback "
                         "lines are removed")
    index = messages.load_messages(args.index.parent / "messages.json" if args.index else None)
    report = messagecli.build(text, cleaned, index, limit, admit=_site_scope(args, index))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(messagecli.render(report, _context_tree(args)))
    return EXIT_OK if messagecli.found(report) else EXIT_PROBLEMS


def _site_scope(args: argparse.Namespace, index: messages.MessageIndex):
    """--in for --message: a test of a site's path, as every other mode scopes (an area, a
    path, a glob), against the paths of the index the sites come from (the pinned release's,
    also with --tree of another release). None: all."""
    if not args.where:
        return None
    return source_search.index_scope(args.where, [site.row.path for site in index.sites])


def _context_tree(args: argparse.Namespace):
    """The tree for context lines: the one asked for, else the discovered one, else None."""
    if args.tree or args.installed:
        return discover_tree(args.tree, installed=args.installed)
    try:
        return discover_tree(None)
    except SkillPackageError:
        return None


def _mode(args: argparse.Namespace) -> tuple[str, str]:
    for mode in ("symbol", "usages", "kwarg", "pattern"):
        value = getattr(args, mode)
        if value is not None:
            if args.text is not None:
                raise UsageError(f"give either TEXT or --{mode}, not both")
            value = _checked(value, f"--{mode}")
            if mode in ("symbol", "usages", "kwarg"):
                value = source_search.check_name(value, f"--{mode}")
            if mode == "kwarg" and "." in value:
                raise UsageError(f"--kwarg takes a bare parameter name, got {value!r}")
            return mode, value
    if args.text is None:
        raise UsageError("nothing to search: give TEXT, --symbol, --usages, --kwarg or --pattern")
    return "text", _checked(args.text, "TEXT")


def _checked(value: str, what: str) -> str:
    """``value`` without the ``\\r`` a Windows line end leaves; a usage error when it is
    empty, too long or more than one line."""
    value = value.rstrip("\r")
    if not value.strip():
        raise UsageError(f"{what} is empty")
    if len(value) > MAX_QUERY_CHARS:
        raise UsageError(f"{what} is {len(value)} characters; keep it under {MAX_QUERY_CHARS}")
    if "\x00" in value or "\n" in value or "\r" in value:
        raise UsageError(f"{what} must be a single line")
    if any("\ud800" <= c <= "\udfff" for c in value):  # bytes Python could not decode
        # (\udc80-\udcff on POSIX) or a lone UTF-16 half (a Windows command line)
        raise UsageError(f"{what} is not valid UTF-8 text")
    return value


def _optional_index(path: Path | None) -> dict | None:
    """The index for public names: an ``--index PATH`` file that is not a valid index is an
    error (exit 6, as resolve_docs.py); a missing one, or a bad shipped one, is warned about
    and searched around."""
    try:
        return load_index(path)
    except IndexStale as err:
        if path is not None and path.exists():
            raise
        warn(f"{err}; resolving names by def/class search only")
        return None


def _close_names(query: str, index: dict | None) -> list[str]:
    """The public names that end as ``query`` does but for case or the module above them
    (``CytoVI`` -> ``scvi.external.CYTOVI``, ``scvi.model.GIMVI`` -> ``scvi.external.GIMVI``),
    as ``check_code.py``'s hints find them
    (:meth:`~scvi_skill.runtime.apiindex.CheckableApi.close_names`); [] without the index."""
    if not index:
        return []
    from scvi_skill.runtime.apiindex import CheckableApi

    return CheckableApi(index).close_names(query)


def _next_steps(mode: str, query: str, results: list[dict]) -> list[str]:
    if not results:
        if mode == "symbol":
            return [f"{SCRIPT} --tests -- {shell_word(query.rsplit('.', 1)[-1])}"]
        if mode == "kwarg":  # no def takes it here: which releases' did, and what replaced it
            return [f"{SCRIPT} --history {shell_word(query)}"]
        # "--" before the words: a text that starts with "-" is not taken for an option
        return [f"{SCRIPT} --tests -- {shell_word(query)}" if mode == "text"
                else f"{SCRIPT} --help"]
    if mode == "symbol":
        first = results[0]
        short = first["symbol"].rsplit(".", 1)[-1]
        end = first["line"] + 60
        return [
            f"read {first['path']}:{first['line']}-{end}",
            f"{SCRIPT} --usages {short} --tests --max 10",
        ]
    first = results[0]
    return [f"read {first['path']}:{max(1, first['line'] - 10)}-{first['line'] + 30}"]


def _symbol_lines(item: dict) -> str:
    """A --symbol result: ``path:line  kind symbol``, its signature and its docstring."""
    origin = f" (inherited from {item['inherited_from']})" if item.get("inherited_from") else ""
    return "\n".join([f"{item['path']}:{item['line']}  {item['kind']} {item['symbol']}{origin}",
                      f"    {item['signature']}", *(f"    | {d}" for d in item["doc"])])


def _text(report: dict, limit: int) -> str:
    mode, results = report["mode"], report["results"]
    where = f"; src/scvi/... is {report['site']}/scvi/..." if report.get("site") else ""
    lines = [
        f"{report['total']} result(s) for --{mode} {report['query']!r} "
        f"(scvi-tools {report['scvi_tools_version']}, {report['tree']} tree{where})"
        if mode != "text"
        else f"{report['total']} result(s) for {report['query']!r} "
        f"(scvi-tools {report['scvi_tools_version']}, {report['tree']} tree{where})"
    ]
    for item in results:
        if mode == "symbol":
            lines.append(_symbol_lines(item))
            continue
        for ctx in item.get("context", []):
            if ctx["line"] < item["line"]:
                lines.append(f"{item['path']}-{ctx['line']}-  {ctx['text']}")
        tag = "" if item["kind"] == "match" else f"[{item['kind']}] "
        lines.append(f"{item['path']}:{item['line']}: {tag}{item['text']}")
        conflict = item.get("default_conflict")
        if conflict:
            lines.append(f"    ! runs with the signature's {conflict['code']}, not the "
                         f"{conflict['stated']} its docstring states ({conflict['entry']})")
        for ctx in item.get("context", []):
            if ctx["line"] > item["line"]:
                lines.append(f"{item['path']}-{ctx['line']}-  {ctx['text']}")
    if report["truncated"]:
        lines.append(
            f"... {report['total'] - report['shown']} more not shown (--max {limit}); "
            "raise --max or narrow with --in"
        )
    if report.get("close"):
        where = f" in scvi-tools {report['scvi_tools_version']}; the {report['index_version']}" \
            if report.get("index_version") else "; the"
        lines.append(f"no such name{where} index has {', '.join(report['close'])}"
                     + (f"; {report['close'][0]}:" if report["close_results"] else ""))
        lines.extend(_symbol_lines(item) for item in report["close_results"])
    for step in report["next"]:
        lines.append(f"next: {step}")
    return "\n".join(lines)

"""Answer a scvi-tools question in one call: the passages, source facts and pitfalls that
answer it, quoted from the scvi-tools tree, within a token budget.

Ranks doc passages (paragraphs, list items, CHANGELOG bullets, code blocks), doc sections and
source files with the skill's shipped references/search_index.json (BM25F over text, headings,
symbols and identifiers, plus the curated routing vocabulary), then quotes the best passages
verbatim from the tree (--tree, $SCVI_TOOLS_TREE, or the cached pinned tree fetch_tree.py
made). Without a tree it lists titles and upstream URLs and says so.

Usage:
  resolve_docs.py QUESTION... [--also NAMES] [--budget TOKENS] [--json] [--limit N] [--tree PATH]
  resolve_docs.py [--also NAMES] - < question.txt          (read the question from stdin)

--also NAMES: the names and words the answer likely uses, in the asker's own guess (classes,
methods, parameters, settings, callbacks: "SaveCheckpoint on_exception"). They rank the
passages and source files beside the question's words; error text, versions and model facts
come from the question alone, and so do pitfalls, but for one whose trigger a name of the
hint completes (gradient_clip_val beside a TOTALVI question), shown after the question's and
marked "(a name of your --also)". A name of the hint that only an earlier release has
(SaveBestState, use_gpu) gets a "(release history)" line, as the question's do. A user's
question rarely holds the words of the passage that answers it: hints an agent wrote from
memory put the answering line into the pack for 0.75 of the questions never tuned on,
against 0.67 without (benchmarks/bench_pack.py). A wrong guess pulls the ranking its way:
name what you expect, not everything you can think of.

A pasted traceback (keep its line breaks: pass it in quotes or on stdin) is read frame by
frame: the ranking leaves its paths and library code out, and the pack starts with its
scvi-tools frames and the tree's lines around the innermost one.

Text mode (default) is the context pack, at most --budget tokens (characters / 4; default
1200): "== path:start-end | section" headers each followed by the passage's lines as they are
in the tree; "== source" (path:line, the def/class line, and the docstring lines of a
parameter the question names); "== pitfalls"; at most two "next:" commands.

--json prints exactly one object:
  {"query", "also"?, "scvi_tools_version", "tree": bool,
   "source_tree"?: {"kind", "version", "root"},   (where source facts and frames were read
                   when not in the tree the passages come from: another release's tree, or
                   an installed package, the user's own)
   "docs":   [{"path", "title", "section", "lines": [start, end], "score", "url", "text",
               "section_lines"}],
   "passages": [{"path", "title", "section", "lines", "text", "url"}],   (the pack's)
   "ranges": [{"path", "lines": [start, end], "kind"}],   (what the pack shows, read first first;
               spans of a file a few lines apart joined)
   "source": [{"path", "symbol", "line", "score", "signature", "param", "param_path",
               "param_lines", "param_doc", "param_end"?, "param_default"?, "window",
               "window_text", "kind"}],
   "pitfalls": [{"id", "text", "cite", "token"?, "evidence_found"?, "via"?}],  (evidence_found:
     with a --tree of another release, whether its evidence token is in that tree's file;
     via: "also" when a name of the hint, not the question, matched it)
   "model_facts": [{"model", "fact", "cite"}],   (for the models the question names)
   "raise_sites": [{"path", "line", "kind", "exception", "function", "condition", "template",
                    "score", "text", "same_message"?, "also"?}],   (when the question pastes
     an scvi-tools error; same_message: sites raising one message that the text does not
     tell apart, the first listing the others under "also")
   "access_sites": [{"path", "line", "first", "name", "kind", "message", "score", "safe",
                     "text"}],   (Python's own AttributeError/KeyError: the lines reading
                                 the attribute or key; "safe": a .get with a default)
   "frames": [{"path", "line", "function", "code", "tree_path", "tree_line", "found",
               "symbol"}],
                                       (the scvi-tools frames of a pasted traceback)
   "routes": [{"skill", "why"}],
   "question_code"?: [{"name", "kwarg", "message"}],   (the code the question writes, checked
     against the release's API as check_code.py checks a file: the pinned release, or the
     one the question names or --version gives)
   "pack": {"tokens", "budget", "notes"},
   "version": {"requested", "differences": {name: {"missing", "added", "removed", "defaults",
                                                       "when"?}},
               "fetch",
               "code"?: [{"path", "line", "name", "kwarg", "message"}],
               "named"?, "tree"?}}
                                       (with --version V other than the pinned one; without
                                       it, for the newest older release the question names,
                                       "on scvi-tools 1.2.0", with "named": true, else for
                                       the release of a --tree of another release that has an
                                       API index; "tree": true when that release's tree is
                                       read, also --version V's cached tree, whose source
                                       facts the pack then shows)
docs: distinct documents, best first; lines is the document's best passage (1-based,
inclusive), section_lines its whole section, text the passage's lines (empty without a tree).
source: distinct files under src/ or tests/, best first (kind "entry"; symbol and line are
the def the pack shows for the file), then the defs the pack chose among the top files' defs
(kind "def"). param_lines are lines of param_path: the file itself, or the module holding the
docstring template the def fills in (%(param_batch_key)s -> src/scvi/utils/_docstrings.py);
param_end, the entry's own last line when it is longer than the lines shown.
Paths are relative to the tree root.
ranges: every span of the tree the text pack shows, in the order to read them: the raise
sites of the question's error text (and the access sites, also kind "raise"), the best
passage, the docstring entry of a parameter the question names, the second passage, then
source windows and the other passages alternately,
then the rest (kind "passage", "raise", "param", "window", "frame", "pitfall", "model_fact",
"def": a def's first line).
pack.notes: the lines under the text pack's title: release history of names the pinned release
lacks, differences in --version V (or in the older release the question names) of the names
the question names, the defs the pack's source facts show and the names its docs cite (at
most 4 names; a missing one with when it came or went: version.differences[name].when),
what V lacks in the Python code the passages show (version.code: names and keywords checked
as check_code.py --version V checks them, each at its shown line; at most 4 lines), and
error text no raise site of the pinned release matches.

The user's own release: run in the user's project, it reads the scvi package installed in
$VIRTUAL_ENV, $CONDA_PREFIX, ./.venv or ./venv (the first whose site-packages holds scvi and
its scvi_tools-*.dist-info; nothing is run or imported) when that is another release than
the pinned one (or the pinned one, when no tree is cached), as --tree of it would: source
facts and traceback frames at the user's own lines, passages from the cached pinned tree, a
note under the title and a line on stderr saying so. --tree, $SCVI_TOOLS_TREE or a --version
of another release read what they name instead; SCVI_SKILL_NO_PROJECT=1 turns it off.

Examples:
  python3 scripts/resolve_docs.py "should donor go in batch_key or categorical_covariate_keys?"
  python3 scripts/resolve_docs.py --budget 2000 "TypeError: train() got an unexpected keyword argument 'use_gpu'"
  python3 scripts/resolve_docs.py --json "my scVI loss is NaN after a few epochs"
  python3 scripts/resolve_docs.py --also "SaveCheckpoint on_exception" "can I keep the model from before it diverged?"

Exit codes: 0 results; 1 nothing matched; 2 usage error (empty question, an --also without
a word, --budget below 200, a path the system refuses: a loop, a name too long); 4 wrong
--tree, or a --version with no API index; 6 the shipped search index is missing or
unreadable.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from pathlib import Path

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.errors import (  # noqa: E402
    guarded,
    refuse_bad_path,
    refuse_blank,
    EXIT_OK,
    EXIT_PROBLEMS,
    IndexStale,
    SkillPackageError,
    UsageError,
    print_error,
    warn,
)
from scvi_skill.runtime.files import read_stdin  # noqa: E402
from scvi_skill.runtime.history import gone_identifiers, hint_facts, named_publics  # noqa: E402
from scvi_skill.runtime.index import REGENERATE, SEARCH_INDEX_PATH, load_search_index  # noqa: E402
from scvi_skill.runtime.pack import (  # noqa: E402
    DEFAULT_BUDGET,
    MIN_BUDGET,
    SAME_TREE,
    build_pack,
    find_raise_sites,
    unmatched_error_note,
)
from scvi_skill.runtime.paths import script_command, shell_word  # noqa: E402
from scvi_skill.runtime.questioncode import finding_lines, has_code, question_findings  # noqa: E402
from scvi_skill.runtime.rank import MAX_QUESTION_CHARS, resolve  # noqa: E402
from scvi_skill.runtime.tokens import identifiers  # noqa: E402

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
MAX_STDIN_BYTES = 1 << 20
DEFAULT_TEXT_LIMIT = 5
MAX_ALSO_CHARS = 400
"""Only the start of a longer --also is ranked: a hint is a few names, not a second question."""
SEARCH = script_command("search_source.py")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written, as wide as argparse makes it (``$COLUMNS``, else the terminal,
    else 80, less 2), without ``shutil.get_terminal_size``: importing ``shutil`` (with
    ``bz2`` and ``lzma``) was a tenth of this script's imports, paid on every call."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    """``shutil.get_terminal_size().columns``, the same way."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="resolve_docs.py",
        description=doc.split("\n\n", 1)[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=_Formatter,
    )
    parser.add_argument("question", nargs="*", help="the question ('-' reads stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--also", metavar="NAMES",
        help="names and words you expect the answer to use (classes, methods, parameters, "
        "settings: 'SaveCheckpoint on_exception'); they rank passages and source beside the "
        f"question's words (at most {MAX_ALSO_CHARS} characters)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N",
        help=(
            f"docs and source files to return (default: {DEFAULT_LIMIT} with --json, "
            f"{DEFAULT_TEXT_LIMIT} in text mode; at most {MAX_LIMIT})"
        ),
    )
    parser.add_argument(
        "--budget", type=int, default=DEFAULT_BUDGET, metavar="TOKENS",
        help=f"size of the text pack in tokens, counted as characters / 4 (default: "
        f"{DEFAULT_BUDGET}; at least {MIN_BUDGET})",
    )
    parser.add_argument(
        "--tree", metavar="PATH",
        help="scvi-tools tree to quote passages from (default: $SCVI_TOOLS_TREE, else the cached "
        "pinned tree if present; without one, titles and URLs only); also the user's installed "
        "scvi package (site-packages, as check_env.py names it): source facts and traceback "
        "frames read there, passages from the cached pinned tree",
    )
    parser.add_argument(
        "--version", metavar="V",
        help="the user's scvi-tools version (check_env.py tells it): the pack marks the cited "
        "names whose signature differs in V and gives the command that fetches V's tree "
        "(default: the pinned version; 1.0.0 to the pinned one are known)",
    )
    parser.add_argument(
        "--index", metavar="PATH", type=Path,
        help="search index to read (default: the skill's references/search_index.json)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_words_first(sys.argv[1:] if argv is None else argv))
    return guarded(_run, args)


def _words_first(argv: list[str]) -> list[str]:
    """An argument holding whitespace is question text, never an option, even when it starts
    with a dash (``'--tree=/etc why is my loss NaN'``): such arguments move behind ``--``."""
    words = [a for a in argv if a.startswith("-") and any(c.isspace() for c in a)
             and not a.startswith("--also=")]
    if not words or "--" in argv:
        return argv
    return [a for a in argv if a not in words] + ["--", *words]


def _run(args: argparse.Namespace) -> int:
    pasted, frames, question = split_question(_question(args.question))
    limit = args.limit if args.limit is not None else (
        DEFAULT_LIMIT if args.json else DEFAULT_TEXT_LIMIT
    )
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    if args.budget < MIN_BUDGET:
        raise UsageError(f"--budget must be at least {MIN_BUDGET} tokens (got {args.budget})")
    refuse_blank(("--version", args.version), ("--tree", args.tree))
    if args.index is not None:  # a loop or a name too long: exit 2, as search_source.py
        refuse_bad_path(args.index)
    also = _also(args.also)
    sidx = load_search_index(args.index)
    try:
        result = resolve(question, sidx, limit=limit, source_limit=limit, also=also)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise IndexStale(
            f"search index {args.index or SEARCH_INDEX_PATH} has an unexpected layout "
            f"({type(exc).__name__}: {exc})",
            hint=f"Regenerate it: {REGENERATE}",
        ) from exc
    version = sidx.get("scvi_tools_version", "unknown")
    if not result["docs"] and not result["source"]:
        print_error("nothing matched: the question has no word the index knows",
                    hint="Name the model, method, parameter or error text (e.g. SCVI.train, "
                    "batch_key, 'loss is NaN'), or search the source with "
                    f"{SEARCH} WORDS")
        if args.json:
            _print_json({"query": question, **({"also": also} if also else {}),
                         "scvi_tools_version": version, "tree": False,
                         "docs": [], "passages": [], "source": [], "pitfalls": [],
                         "routes": result["routes"], "pack": {"tokens": 0, "budget": args.budget}})
        return EXIT_PROBLEMS
    tree = _project_tree(args.version, version) if not args.tree \
        and not os.environ.get("SCVI_TOOLS_TREE") else None
    tree = tree or _optional_tree(args.tree, version)
    if args.version and args.version != version and not args.tree \
            and not os.environ.get("SCVI_TOOLS_TREE"):
        # The user runs V and V's tree is cached (fetch_tree.py --version V): the source facts
        # are read there, as with --tree of it; passages stay the pinned release's.
        tree = _open_cached(args.version) or tree
    # Another release's tree, or an installed package (no docs/ nor CHANGELOG.md): passages
    # and raise sites are quoted from the cached tree of the index's release (or listed).
    doc_tree = _open_cached(version, need_docs=True) if tree is not None and (
        tree.version not in (version, "unknown") or tree.kind == "installed") else SAME_TREE
    other = _other_version(args.version, version, result, question, sidx) if args.version \
        else _named_version(question, version, result, sidx)
    if doc_tree is not SAME_TREE:
        if other is None:
            other = _given_tree_version(tree.version, version, result, question, sidx)
        elif other["requested"] == tree.version:
            other["tree"] = True  # its tree is the one read: no fetch hint
    pack = make_pack(pasted, frames, question, result, sidx, tree, budget=args.budget,
                     other=other, doc_tree=doc_tree, also=also)
    if args.json:
        report = _report(question, sidx, result, pack, also)
        if other:
            report["version"] = other
        _print_json(report)
    else:
        print("\n".join(pack.lines))
    return EXIT_OK


def make_pack(pasted: str, frames: list, question: str, result: dict, sidx: dict, tree, *,
              budget: int = DEFAULT_BUDGET, other: dict | None = None, doc_tree=SAME_TREE,
              also: str = ""):
    """The pack this script prints for ``question`` (:func:`split_question`'s three parts) and
    the resolver's ``result``: raise sites, the release and error notes under the title, next
    commands. ``bench_pack.py`` calls it too, so that it scores what the agent reads."""
    version = sidx.get("scvi_tools_version", "unknown")
    sites = find_raise_sites(pasted)
    release_tree = _open_cached(other["requested"]) if other and doc_tree is SAME_TREE else None
    commands = _next_commands(result, question, sidx["terms"],
                              tree if doc_tree is not SAME_TREE else None,
                              gone_identifiers(question, sidx),
                              release=other["requested"] if other else "")
    error_note = unmatched_error_note(pasted, sites, version,
                                      traceback=any(f.scvi for f in frames), sidx=sidx,
                                      release=other["requested"] if other else "")
    checked = other["requested"] if other else version
    code = _question_code(pasted, checked)  # as written: a fence keeps its lines

    def build():
        version_notes = _version_notes(other, release_tree, question)
        # A --compare the notes under the title give is not a next command too.
        nexts = [c for c in commands if " --compare " not in c] \
            if any(" --compare " in n for n in version_notes) else commands
        return build_pack(result, sidx, question, tree, budget=budget,
                          release_tree=release_tree, next_commands=nexts, raise_sites=sites,
                          notes=version_notes + error_note
                          + finding_lines(code, checked) + hint_facts(also, question, sidx),
                          frames=frames, doc_tree=doc_tree,
                          for_release=other["requested"] if other else "", also=also)

    pack = build()
    if other and CHECK_SHOWN and not other.get("newer"):
        pack = _for_what_it_shows(pack, build, other, question, sidx)
    pack.question_code = code
    return pack


def _question_code(question: str, version: str) -> list[dict]:
    """The findings of release ``version``'s API on the code the question writes
    (:func:`~scvi_skill.runtime.questioncode.question_findings`); [] when it writes none or
    the API indexes are missing."""
    if not QUESTION_CODE or not has_code(question):
        return []
    from scvi_skill.runtime.apifiles import UnknownVersion

    history = _history()
    if history is None:
        return []
    try:
        return question_findings(question, _release_api(version), history)
    except (UnknownVersion, IndexStale):
        return []


QUESTION_CODE = True
"""Whether the pack checks the code the question writes against the release's API."""


def _for_what_it_shows(pack, build, other: dict, question: str, sidx: dict):
    """``pack`` with the lines under its title for another release (``other``) about what it
    shows: the names the question names (and the methods its model facts state defaults of),
    the defs its source facts show and the names its docs cite (not the resolver's files'
    first names), and what that release lacks in the
    code its passages show. Those lines take room, so the pack is built again (``build()``)
    with them; its source facts, sized first, stay. ``other`` gets the new ``differences``
    and ``code``."""
    from scvi_skill.runtime.codelint import shown_cited_names

    requested = other["requested"]
    defs = {(r["path"], r["lines"][0]) for r in pack.ranges if r["kind"] == "def"}
    linted: dict = {}  # each docs file is checked once, however often the pack is built
    # The methods whose defaults the pack's model facts state count as asked: a fact says
    # "SCANVI.differential_expression(mode='vanilla')", which V may not.
    facts = " ".join(fact["fact"] for fact in pack.model_facts)
    differences = _differences(
        requested, sidx.get("scvi_tools_version", "unknown"),
        named_publics(question, sidx) + (named_publics(facts, sidx) if facts else []),
        [f.symbol for f in pack.sources if f.symbol and (f.path, f.line) in defs],
        shown_cited_names(passage_spans(pack), pack.reader.file) if pack.has_tree else [])
    code = _shown_code(pack, requested, linted)
    rebuild = bool(code)
    if differences is not None and differences != other["differences"]:
        other["differences"], rebuild = differences, True
    if not rebuild:
        return pack
    other["code"] = code
    pack = build()
    shown = _shown_code(pack, requested, linted)
    if shown and not code:
        # The rebuilt pack shows code the first did not (its passages moved): once more
        # with its lines.
        other["code"] = code = shown
        pack = build()
        shown = _shown_code(pack, requested, linted)
    if shown != code:
        # The code lines become the findings of the code this pack shows (as many as fit in
        # the room the first ones took; JSON has them all).
        old = _code_lines(code, requested)
        other["code"] = shown
        for count in range(len(shown), -1, -1):
            if pack.replace_notes(old, _code_lines(shown[:count], requested)):
                break
    return pack


CHECK_SHOWN = True
"""Whether ``--version V`` checks what the pack shows: the differences of its source facts'
defs and the code of its passages (``bench_version_code.py`` turns it off for its "before"
column: the names the question names and the resolver's files define first)."""


def _differences(requested: str, pinned: str, asked: list[str], shown: list[str],
                 cited: list[str] = ()) -> dict | None:
    """What differs in ``requested`` for what a pack shows: the
    :func:`~scvi_skill.runtime.apiindex.signature_differences` of the names the question
    names (``asked``, first) and of the defs its source facts show (``shown``), and the names
    its docs cite (``cited``) when ``requested`` lacks them. After the asked names, a name the
    release lacks comes before a changed signature. None without the API indexes."""
    from scvi_skill.runtime.apifiles import UnknownVersion
    from scvi_skill.runtime.apiindex import signature_differences

    try:
        mine, other = _release_api(pinned), _release_api(requested)
    except (UnknownVersion, IndexStale):
        return None

    def publics(names) -> list[str]:
        # A class's __init__ is the class: its parameters are the class's in the API index.
        return list(dict.fromkeys(mine.public_name(name.removesuffix(".__init__"))
                                  for name in names))

    asked, shown = publics(asked), publics(shown)
    rest = [name for name in shown if name not in asked]
    mentioned = [name for name in publics(cited) if name not in asked and name not in rest]
    first = signature_differences(mine, other, asked)
    later = signature_differences(mine, other, rest)
    later.update((name, diff) for name, diff in
                 signature_differences(mine, other, mentioned).items() if diff["missing"])
    ordered = list(first.items()) + sorted(later.items(), key=lambda item: not item[1]["missing"])
    found: dict[str, dict] = {}
    for name, diff in ordered:
        owner = name.rpartition(".")[0]
        if diff["missing"] and mine.symbol(owner) is not None and other.symbol(owner) is None:
            name = owner  # a method of a class the release lacks: the class is what it lacks
        found.setdefault(name, diff)
    history = _history() if any(diff["missing"] for diff in found.values()) else None
    if history is not None:
        for name, diff in found.items():
            if diff["missing"]:
                known, spans = history.name_spans(name)
                when = history.when_text(name, spans, requested) if known == name else ""
                if when:
                    diff["when"] = when
    return found


@functools.lru_cache(maxsize=1)
def _history():
    """The API history and curated migrations (:class:`~scvi_skill.runtime.codelint.History`,
    read on first use, once per process), or None without them."""
    from scvi_skill.runtime.apifiles import load_history, load_migrations, load_releases
    from scvi_skill.runtime.codelint import History

    try:
        releases = load_releases()
    except IndexStale:
        return None
    return History.lazy(lambda: (load_history(releases), load_migrations()))


def _release_api(version: str):
    """One release's API index (:func:`scvi_skill.runtime.apiindex.release_api`, read once
    per process)."""
    from scvi_skill.runtime.apiindex import release_api

    return release_api(version)


def passage_spans(pack) -> list[tuple[str, int, int]]:
    """The passages ``pack`` shows, as ``(path, first, last)``, in reading order."""
    return [(r["path"], r["lines"][0], r["lines"][1]) for r in pack.ranges
            if r["kind"] == "passage"]


def _shown_code(pack, requested: str, linted: dict | None = None) -> list[dict]:
    """The findings of release ``requested`` on the Python code of the passages ``pack``
    shows (:func:`~scvi_skill.runtime.codelint.shown_code_findings`; ``linted`` keeps each
    file's findings between calls), as dicts; [] without a tree or an API index."""
    spans = passage_spans(pack)
    if not spans or not pack.has_tree:
        return []
    from scvi_skill.runtime.apifiles import UnknownVersion
    from scvi_skill.runtime.codelint import shown_code_findings

    history = _history()
    if history is None:
        return []
    try:
        found = shown_code_findings(spans, pack.reader.file, _release_api(requested), history,
                                    linted)
    except (UnknownVersion, IndexStale):
        return []
    return [{"path": f.path, "line": f.line, "name": f.name, "kwarg": f.kwarg or None,
             "message": f.message} for f in found]


def _print_json(obj: dict) -> None:
    import json  # only for --json: the text pack needs no JSON module (3 ms of imports)

    print(json.dumps(obj, ensure_ascii=False))


def _report(question: str, sidx: dict, result: dict, pack, also: str = "") -> dict:
    upstream = sidx.get("upstream") or ""
    facts = {f.path: f.to_dict() for f in pack.sources if f.kind == "entry"}
    docs = []
    for d in result["docs"]:
        start, end = d["lines"]
        row = {"path": d["path"], "title": d["title"], "section": d["section"],
               "lines": d["lines"], "score": round(d["score"] / 100, 2),
               "url": upstream + d["path"] if upstream else "",
               "text": "\n".join(pack_text(pack, d["path"], start, end))}
        if "section_lines" in d:
            row["section_lines"] = d["section_lines"]
        docs.append(row)
    source = []
    for s in result["source"]:
        row = {"path": s["path"], "symbol": s["symbol"], "line": s["line"],
               "score": round(s["score"] / 100, 2), "kind": "entry"}
        row.update(facts.get(s["path"], {}))  # the def the pack points at, when it moved
        source.append(row)
    # Defs the pack chose among the top files' defs, after the files (with their file's score).
    scores = {row["path"]: row["score"] for row in source}
    source.extend(dict(f.to_dict(), score=scores.get(f.path, 0.0))
                  for f in pack.sources if f.kind == "def")
    return {
        "query": question,
        **({"also": also} if also else {}),
        "scvi_tools_version": sidx.get("scvi_tools_version", "unknown"),
        "tree": pack.has_tree,
        **_source_tree(pack),
        "docs": docs,
        "passages": [p.to_dict() for p in pack.passages],
        "ranges": pack.ranges,
        "source": source,
        "pitfalls": pack.pitfalls,
        "raise_sites": pack.raise_sites,
        "access_sites": pack.access_sites,
        "frames": [f.to_dict() for f in pack.frames],
        "model_facts": pack.model_facts,
        "routes": result["routes"],
        **({"question_code": pack.question_code} if pack.question_code else {}),
        "pack": {"tokens": pack.tokens, "budget": pack.budget, "notes": pack.notes},
    }


def _source_tree(pack) -> dict:
    """``source_tree`` of --json: the tree the source facts and frames were read in, when it
    is not the one the passages are quoted from (another release's, or an installed
    package: the user's own)."""
    tree = pack.source_reader.tree if pack.source_reader is not pack.reader else None
    if tree is None:
        return {}
    return {"source_tree": {"kind": tree.kind, "version": tree.version, "root": str(tree.root)}}


def pack_text(pack, path: str, start: int, end: int) -> list[str]:
    """Lines ``start..end`` of ``path``, verbatim (uncut), through the pack's reader (empty
    without a tree)."""
    return [t.rstrip() for t in pack.reader.file(path)[start - 1 : end]]


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
"""Terminal escapes: CSI sequences (colours) and OSC ones (hyperlinks, titles)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\udc80-\udcff]")
"""C0 and C1 controls (tabs and line breaks kept), and the bytes of an argument that are not
UTF-8 (Python keeps them as lone surrogates)."""


def _question(words: list[str]) -> str:
    """The question as pasted (line breaks kept: a traceback is read line by line), at most
    :data:`MAX_STDIN_BYTES`; a usage error when it holds no word."""
    if "-" in words and words != ["-"]:
        raise UsageError("'-' reads the question from stdin: give it alone, without other words",
                         hint="Put the whole question on stdin (a heredoc), or pass it as "
                              "an argument without '-'")
    if words == ["-"]:
        raw, cut = read_stdin(MAX_STDIN_BYTES)
        if cut:
            warn(f"stdin holds more than {MAX_STDIN_BYTES} bytes; reading its first "
                 f"{MAX_STDIN_BYTES}")
        text = raw.decode("utf-8", "replace")
    else:
        text = " ".join(words)[:MAX_STDIN_BYTES]
    text = _printable(text)
    if not text.split():
        raise UsageError(
            "empty question: pass the user's question as an argument",
            hint='Example: python3 scripts/resolve_docs.py "my scVI loss is NaN"',
        )
    return text


def _printable(text: str) -> str:
    """``text`` without terminal escapes, NULs and other control bytes, or a byte-order mark:
    no part of a question or a hint (and the question is echoed in the title line). Line
    breaks and tabs are kept."""
    return _CONTROL.sub("", _ANSI.sub("", text)).replace("\ufeff", "")


def _also(text: str | None) -> str:
    """``--also`` as the ranking reads it: control bytes gone, whitespace collapsed, at most
    :data:`MAX_ALSO_CHARS`; empty when not given, a usage error when given without a word."""
    if text is None:
        return ""
    text = " ".join(_printable(text).split())
    if not any(c.isalnum() for c in text):
        raise UsageError("--also holds no word: give the names you expect the answer to use",
                         hint="Example: --also 'SaveCheckpoint on_exception', or leave it out")
    if len(text) > MAX_ALSO_CHARS:
        warn(f"--also is {len(text)} characters; ranking its first {MAX_ALSO_CHARS}")
        text = text[:MAX_ALSO_CHARS]
    return text


def split_question(pasted: str) -> tuple[str, list, str]:
    """``(pasted, frames, question)``: the question with a traceback's line breaks put back,
    the traceback's frames (:func:`~scvi_skill.runtime.frames.split_question`; that module is
    imported only for a question that may hold one), and what the resolver ranks and the pack
    echoes: the rest, whitespace collapsed, at most :data:`MAX_QUESTION_CHARS`."""
    frames: list = []
    ranked = pasted
    if "\n" in pasted or 'File "' in pasted:
        from scvi_skill.runtime.frames import split_question as split

        pasted, frames, ranked = split(pasted)
    text = " ".join(ranked.split())
    if len(text) > MAX_QUESTION_CHARS:
        warn(f"question is {len(text)} characters (whitespace collapsed, traceback lines "
             f"left out); ranking (and echoing) its first {MAX_QUESTION_CHARS}")
        text = text[:MAX_QUESTION_CHARS]
    return pasted, frames, text


def _project_tree(requested: str | None, pinned: str):
    """The scvi package installed in the user's project (:func:`.tree.project_release`:
    ``$VIRTUAL_ENV``, ``$CONDA_PREFIX``, ``./.venv``, ``./venv``) when it is another release
    than the pinned one (or the pinned one, with no cached tree to read) and ``--version``
    asks for no other: its source facts and frames are then read at the user's own lines, as
    with ``--tree`` of it. None otherwise (the cached pinned tree has the same source)."""
    from scvi_skill.runtime.tree import project_release

    found = project_release(requested, pinned)
    if found is not None:
        warn(f"reading the source of the project's scvi-tools {found.version}, installed in "
             f"{found.root} (--tree PATH reads another tree)")
    return found


def _optional_tree(tree_arg: str | None, version: str):
    """A tree for excerpts: --tree, else $SCVI_TOOLS_TREE, else the cached pinned tree if it is
    there; none is needed, so only an explicit --tree that is wrong is an error. A --tree (or
    $SCVI_TOOLS_TREE) may be an installed scvi package (site-packages, or its ``scvi``
    folder: the user's own, as check_env.py finds it): its source only, no docs."""
    from scvi_skill.runtime.errors import TreeNotFound
    from scvi_skill.runtime.tree import discover_tree  # only needed for excerpts

    if not tree_arg and not os.environ.get("SCVI_TOOLS_TREE"):
        cached = _cached(version)
        if cached is None:
            return None
        tree_arg = str(cached)
        explicit = False
    else:
        explicit = bool(tree_arg)
    try:
        return discover_tree(tree_arg, need_docs=not explicit and not os.environ.get(
            "SCVI_TOOLS_TREE"), expected_version=version)
    except TreeNotFound as err:
        if explicit:
            raise
        # Excerpts are optional: a stale $SCVI_TOOLS_TREE must not cost the answer.
        warn(f"no passages quoted: {err}")
        return None


def _cached(version: str):
    """The cached tree folder of ``version`` when it is there and whole, else None (also for
    a damaged index's version, which must not become a path)."""
    from scvi_skill.runtime.tree import cached_tree

    return cached_tree(version)


def _open_cached(version: str, *, need_docs: bool = False):
    """The cached tree of ``version`` (``fetch_tree.py [--version V]`` put it there), opened,
    when it is whole and is that release; else None. Used for the index's release (to quote
    passages from when the tree read is another release, whose line numbers are not the
    index's) and for a release the user runs (its source facts, its pitfall evidence)."""
    from scvi_skill.runtime.tree import open_tree

    cached = _cached(version)
    if cached is None:
        return None
    try:
        tree = open_tree(cached, need_docs=need_docs)
    except SkillPackageError:
        return None
    return tree if tree.version == version else None


def _other_version(requested: str | None, pinned: str, result: dict, question: str = "",
                   sidx: dict | None = None) -> dict | None:
    """For ``--version V`` other than the pinned one: ``{"requested", "differences", "fetch"}``
    where ``differences`` maps each public name the question names (``SCVI.train``) or the
    resolver's source files define first whose signature differs in V to what differs
    (``missing``, keyword parameters ``added``/``removed`` in V, changed ``defaults``);
    :func:`make_pack` then takes the defs of the pack's own source facts instead of the
    files' first names. Exit 4 for a version the shipped API indexes do not know."""
    if not requested or requested == pinned:
        return None
    from scvi_skill.runtime.apifiles import UnknownVersion, load_releases
    from scvi_skill.runtime.apiindex import signature_differences

    try:
        other = _release_api(requested)
    except UnknownVersion:
        if not load_releases().newer(requested):
            raise  # exit 4
        # A release after the newest indexed (the skill is not refreshed for it yet): the
        # pack is the pinned release's, and says so; nothing is known of what V changed.
        return {"requested": requested, "differences": {}, "newer": True, "pinned": pinned,
                "fetch": f"{script_command('fetch_tree.py')} --version {requested}"}
    mine = _release_api(pinned)
    names = named_publics(question, sidx) + [s["symbol"] for s in result["source"]
                                             if s["symbol"]]
    return {"requested": requested,
            "differences": signature_differences(mine, other, list(dict.fromkeys(names))),
            "fetch": f"{script_command('fetch_tree.py')} --version {requested}"}


def _given_tree_version(release: str, pinned: str, result: dict, question: str,
                        sidx: dict) -> dict | None:
    """:func:`_other_version` for the release of the ``--tree`` given (the user's own, as
    SKILL.md has them fetch it), with ``"tree": true``; None for a release the shipped API
    indexes do not know (before 1.0.0)."""
    from scvi_skill.runtime.apifiles import UnknownVersion

    try:
        other = _other_version(release, pinned, result, question, sidx)
    except (UnknownVersion, IndexStale):
        return None
    return dict(other, tree=True) if other else None


def _named_version(question: str, pinned: str, result: dict, sidx: dict) -> dict | None:
    """:func:`_other_version` for the newest release the question names ("on scvi-tools
    1.2.0", "in 1.4": the series' last release) that the shipped API indexes know and that
    is older than the pinned one; None when it names none (nothing is read then)."""
    from scvi_skill.runtime.rank import version_mentions

    mentions = version_mentions(question)
    if not mentions:
        return None
    from scvi_skill.runtime.apifiles import UnknownVersion, load_releases  # no dataclasses
    from scvi_skill.runtime.errors import IndexStale

    try:
        known = load_releases().versions  # oldest first
    except IndexStale:
        return None
    order = {v: n for n, v in enumerate(known)}
    named = [v if v in order else next((k for k in reversed(known)
                                        if k.startswith(v + ".")), None) for v in mentions]
    named = [v for v in named if v and pinned in order and order[v] < order[pinned]]
    if not named:
        return None
    try:
        other = _other_version(max(named, key=order.get), pinned, result, question, sidx)
    except (UnknownVersion, IndexStale):
        return None
    return dict(other, named=True) if other else None


def _version_notes(other: dict | None, cached=None, question: str | None = None) -> list[str]:
    """The lines under the title for another release (``cached``: its tree, when cached).
    With the ``question``, a class's keywords only the pinned release has (``-registry`` of
    ``SCVI``) are left out unless the question names them (:func:`_said_changes`)."""
    if not other:
        return []
    if other.get("newer"):
        new, pinned = other["requested"], other["pinned"]
        if other.get("tree"):
            return [f"(scvi-tools {new}, the tree read, is newer than the releases this skill "
                    f"indexes: the source lines below are its own, the passages {pinned}'s; "
                    f"what {new} changed is not indexed here)"]
        own = (f"its own tree is cached: --tree {shell_word(str(cached.root))}"
               if cached is not None else f"its own tree: {other['fetch']}, then --tree PATH")
        return [f"(you run scvi-tools {new}, newer than the releases this skill indexes: the "
                f"lines below are for {pinned}; what {new} changed is not indexed here; {own})"]
    if other.get("tree"):
        lines = [f"(scvi-tools {other['requested']}, the tree read, differs in what this pack "
                 f"shows:)"]
    else:
        who = "the question names" if other.get("named") else "you run"
        own = (f"{other['requested']}'s own tree is cached: --tree {shell_word(str(cached.root))}"
               if cached is not None else
               f"{other['requested']}'s own tree: {other['fetch']}, then --tree PATH")
        lines = [f"({who} scvi-tools {other['requested']}: the lines below are for the pinned "
                 f"release; {own})"]
    code = other.get("code") or []
    coded = {f["name"] for f in code if not f["kwarg"]}
    differences = [(name, diff) for name, diff in _said_changes(other["differences"], question)
                   if not (diff["missing"] and name in coded)]  # the code line says more
    for name, diff in differences[:MAX_VERSION_LINES]:
        if diff["missing"]:
            lines.append(f"  {name}: {diff.get('when') or 'not in ' + other['requested']}")
        else:
            changes = [f"+{k}" for k in diff["added"]] + [f"-{k}" for k in diff["removed"]]
            changes += [f"{k}={theirs or '(required)'} (pinned: {mine or '(required)'})"
                        for k, (theirs, mine) in list(diff["defaults"].items())[:MAX_DEFAULTS]]
            lines.append(f"  {name} in {other['requested']}: {' '.join(changes)}")
    compared = next((name for name, diff in differences[:MAX_VERSION_LINES]
                     if not diff["missing"] and _comparable(other["requested"], name)), None)
    if compared:  # the tree read is the pinned release's, or (other["tree"]) the user's
        releases = [other["requested"]] + ([PINNED_SCVI_TOOLS] if other.get("tree") else [])
        lines.append(f"  line by line: {SEARCH} --compare {compared} "
                     + " ".join(f"--release {shell_word(r)}" for r in releases))
    lines += _code_lines(code, other["requested"])
    return lines if len(lines) > 1 or not other.get("tree") else []


def _said_changes(differences: dict, question: str | None) -> list[tuple[str, dict]]:
    """``differences`` to list under the title: a class's (constructor's) keywords that only
    the pinned release has matter only to a user who passes them, so those the question does
    not name are left out, and the class with them when nothing else differs (over the
    tuning questions with --version 1.2.0, 559 lines listed 206 such, SCVI's ``-registry``
    alone 93 times; 353 were left); so is its first parameter (``adata``) being required in V
    where 1.5.1 defaults it to None, which every call passes (45 more; 308 left). A method's
    changes all stay (the user calls it), once: the same method under another class's name
    with the same differences (a mixin's, beside the model's) is not listed again.
    ``--json`` keeps every difference."""
    if question is None:
        return list(differences.items())
    words = set(re.findall(r"\w+", question))
    out = []
    for name, diff in differences.items():
        if not diff["missing"] and name.rpartition(".")[2][:1].isupper():
            removed = [k for k in diff["removed"] if k in words]
            # The first parameter (adata) required in V and optional in 1.5.1: code passes it.
            first = _first_param(name)
            defaults = {k: v for k, v in diff["defaults"].items()
                        if k in words or not (k == first and v[0] is None and v[1] == "None")}
            if not (diff["added"] or defaults or removed):
                continue
            diff = dict(diff, removed=removed, defaults=defaults)
        # A mixin's method listed beside the model's name for it (SCVI.train and
        # UnsupervisedTrainingMixin.train) with the same differences: one line says it.
        if any(seen.rpartition(".")[2] == name.rpartition(".")[2] and said == diff
               for seen, said in out):
            continue
        out.append((name, diff))
    return out


def _first_param(name: str) -> str:
    """The first parameter of the pinned release's callable ``name`` ("" when unknown)."""
    api = _release_api(PINNED_SCVI_TOOLS)
    symbol = api.symbol(name)
    params = api.params(symbol["qualname"]) if symbol else None
    return params[0].get("name", "") if params else ""


def _code_lines(code: list[dict], requested: str) -> list[str]:
    """The lines under the title for what release ``requested`` lacks in the shown code."""
    lines = [f"  code at {finding['path']}:{finding['line']}: {finding['message']}"
             for finding in code[:MAX_CODE_LINES]]
    if len(code) > MAX_CODE_LINES:
        lines.append(f"  (+{len(code) - MAX_CODE_LINES} more in the code below: "
                     f"{script_command('check_code.py')} --version {requested} FILE)")
    return lines


MAX_VERSION_LINES = 4
"""Cited names whose signature differs in the other release, listed under the title."""
MAX_CODE_LINES = 4
"""Findings of the other release on the code the pack shows, listed under the title."""
MAX_DEFAULTS = 3
"""Changed defaults shown per name (``mode='change' (pinned: 'vanilla')``); JSON has all."""


def _next_commands(result: dict, question: str, vocabulary, other_tree=None,
                   gone: list[str] | None = None, release: str = "") -> list[str]:
    """At most two targeted searches: the release notes of a name or keyword the pinned
    release lacks (``gone``: when it went and what replaced it), the definition of the top
    source file's symbol when the question names it (for a question about another
    ``release`` read against the pinned tree, how that def changed between the two:
    ``--compare``), the keyword arguments the question names (an identifier the index
    knows: not a value such as a layer's name, nor a name from the user's own code). With
    ``other_tree`` (the user's tree of another release) they search that tree."""
    from scvi_skill.runtime.paths import shell_word

    where = f" --tree {shell_word(str(other_tree.root))}" if other_tree is not None else ""
    cmds = [f"{SEARCH}{where} --changes {shell_word(name.rsplit('.', 1)[-1])}"
            for name in (gone or [])[:1]]
    words = set(question.lower().replace("`", " ").replace("(", " ").replace(".", " ").split())
    for src in result["source"][:1]:
        # A file's entry symbol is only the first it defines (scvi._settings' batch_size for a
        # question on threads): worth a search when the question names it.
        if src["symbol"] and src["symbol"].rsplit(".", 1)[-1].lower() in words:
            cmds.append(f"{SEARCH} --compare {src['symbol']} --release {shell_word(release)}"
                        if release and other_tree is None and _comparable(release, src["symbol"])
                        else f"{SEARCH}{where} --symbol {src['symbol']}")
    for ident in identifiers(question):
        ident = ident.strip("`()")
        if "_" in ident and "." not in ident and ident.islower() and ident in vocabulary:
            cmds.append(f"{SEARCH}{where} --kwarg {ident}")
            break
    return cmds[:2]


def _comparable(release: str, symbol: str) -> bool:
    """Whether ``--compare symbol --release release`` is worth a next command: the shipped
    API indexes cover ``release`` and, in the newest, ``symbol`` is a function or method (a
    whole class's diff is most of the class)."""
    from scvi_skill.runtime.apiindex import load_releases

    try:
        releases = load_releases()
        if release not in releases.files:
            return False
        found = _release_api(releases.versions[-1]).symbol(symbol)  # read once per process
    except SkillPackageError:
        return False
    return (found or {}).get("kind") in ("function", "method")


def run() -> None:
    """``resolve_docs.py`` as a command: main's status, printed output flushed, then out."""
    status = main()
    # The loaded index is a few hundred thousand objects; freeing them one by one at exit
    # costs about a sixth of the call. Nothing is left to clean up (every file was closed,
    # the cache is written atomically by other scripts), so flush and leave at once.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader left early (| head): nothing more to say
        pass
    os._exit(status)

"""The one-call answer: a context pack of the passages, source facts and pitfalls that answer
a question, within a token budget.

:func:`build_pack` takes what :func:`scvi_skill.runtime.rank.resolve` ranked and a scvi-tools
tree, and fills the budget in this order:

0. for a pasted traceback, its scvi-tools frames (outermost first) and the lines of the
   innermost one in the tree (:mod:`.frames`), where the error arose or left scvi-tools;
1. the best passages (up to 8: paragraphs, list items, CHANGELOG bullets, code blocks), quoted
   verbatim from the tree, each headed by ``path:start-end`` and its section title;
2. source facts: the best entry points as ``path:line`` with the ``def``/``class`` line, and
   for a parameter the question names, that parameter's docstring lines; after the first, the
   defs of the top source files whose lines hold most of the question (``kind="def"``), each
   with its best lines;
3. pitfalls whose triggers the question uses (``references/pitfalls.yaml``, compiled into the
   search index);
4. at most two next commands, only when the pack does not already quote a passage for each
   of the question's identifiers.

Tokens are counted as characters / 4. Without a tree, passages are listed by title and upstream
URL and the pack says so. Standard library only.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate

from .dependency_uses import named_dependency_names
from .docdefaults import conflict, defaulted, signature_default, stated_default
from .errors import IndexStale, SkillPackageError, warn
from .fences import BODY, CLOSER, OPENER, line_roles
from .formats import SLOT_SOURCE
from .history import gone_identifiers, gone_message, moved_names, present_names, release_facts
from .rank import MAX_QUESTION_CHARS, passage_idf, query_terms
from .requirements import about_versions, pyproject_lines
from .templates import ENTRY as _ENTRY
from .templates import PLACEHOLDER, Template, Templates
from .text import clip
from .tokens import identifiers, probe_key, stem, tokenize
from .tree import read_text

CHARS_PER_TOKEN = 4
DEFAULT_BUDGET = 1200
"""Tokens (characters / 4) of the text pack."""
MIN_BUDGET = 200
MIN_PASSAGES, MAX_PASSAGES = 2, 8
MAX_PER_DOC = 3
INTERLEAVE_DOCS = 3
CHANGELOG = "CHANGELOG.md"
RELEASE_NOTES = 3
RELEASE_NOTES_AT = 4
SOURCE_SHARE = 0.3
"""Share of the budget kept for source facts, pitfalls and next commands."""
LONG_SOURCE_SHARE = 0.5
LONG_QUESTION_CHARS = 250
"""A question this long (a post with the user's code, output or error text) keeps
:data:`LONG_SOURCE_SHARE` of the budget for them: such questions ask what the code does,
and are answered by source lines more than by docs (session 41, tuned on the even trial
rounds, 105 long posts of threads no set used: phrase in the pack 65 -> 70, with the
agents' own hints 73 -> 82; the 352 shorter tuning questions unchanged, 286 and 297)."""


def long_question(question: str) -> bool:
    """Whether ``question`` is a long post (:data:`LONG_QUESTION_CHARS`): it gets the long
    questions' share of the budget and reading order (:data:`READ_PRIOR_LONG`)."""
    return len(question) >= LONG_QUESTION_CHARS


def source_share(question: str) -> float:
    """The share of the budget kept for the source facts, pitfalls and next commands."""
    return LONG_SOURCE_SHARE if long_question(question) else SOURCE_SHARE


MAX_SOURCES = 3
MAX_PITFALLS = 2
HINT_PITFALLS = 1
"""Pitfalls the hint's names matched that come after the question's own even when those fill
:data:`MAX_PITFALLS`: the agent's plan is checked whatever the question matched (session 26,
tuning: the same phrase hits as without the extra room)."""
MAX_MODEL_FACTS = 3
MIN_FACT_OVERLAP = 2
"""Words besides the model's name a model fact must share with the question: one ("train" in
"a trained model") put train() defaults into packs about other methods on 84 of the 197
tuning questions, where they took the room of the source facts."""
MAX_NEXT = 2
RAISE_LINES = 3
"""Lines of a raising statement quoted from the tree (the message is often split)."""
FRAME_BEFORE, FRAME_AFTER = 4, 1
"""Lines quoted around the innermost scvi-tools frame of a pasted traceback (what computed its
values, and the rest of its statement), within its def."""
MAX_PACKAGE_FILES = 60
"""Files of a package searched for a frame whose module the tree lacks (moved since)."""
MAX_CHAIN = 6
"""The scvi-tools frames of a traceback listed: the outermost and the innermost ones."""
MAX_PARAM_DOC_LINES = 8
"""Lines of a parameter's docstring entry shown (its name's line included). At 5, 100 of the
3,731 entries of 1.5.1 were cut, among them `get_normalized_expression`'s `transform_batch`
before its "Otherwise based on string" (trial round 63's agent cited the cut range for
category names); at 8, 22 are, and the header then says where the entry ends. The tuning
packs: 249 phrase hits and 178 top-3 ranges (the ranges' order before session 35) at 5 to 10
without a hint; with the first hint
set 261 and 189 at 5, 260 and 190 at 8; with the second 253 and 194 at both."""
MAX_WANTED_PARAMS = 8
"""Parameters a question names that are looked up (a paste of thousands stays fast)."""
MAX_LINE_CHARS = 240
"""Quoted lines of code or tables longer than this are cut (minified tables, long URLs)."""
MAX_PROSE_CHARS = 800
"""A docs line of prose is often a whole paragraph (339 characters at the median of those
over 240 in 1.5.1, 728 at the 99th percentile): it is cut only past this."""
WINDOW_FILES = 2
"""Source files (best first) that get a window of the lines matching the question."""
WINDOW_LINES = 6
WINDOW_MIN_TERMS = 2
WINDOW_DECIDES = 0.15
"""Each line of a window that holds a query term and decides what happens (a condition, a
``raise``, ``return``, ``assert`` or warning) adds this to the window's weight: the lines
that answer "what happens when" are those, more than the assignments around them."""
_DECIDES = re.compile(r"^\s*(?:if|elif|raise|return|assert|warnings\.warn)\b")
WINDOW_NAME_SHARE = 0.25
"""Weight, in choosing a window, of a term the fact's own def or class name holds."""
MAX_SIGNATURE_LINES = 40
"""How far a ``def`` is read to find its parameters and docstring."""
MAX_DOCSTRING_LINES = 400
"""How far a ``def``/``class`` is read for its docstring's parameter entries."""
MATCH_PARAM_FILES = 2
"""Source files (best first) whose top ``def``/``class`` may show a parameter the question
describes without naming it."""
MAX_PARAM_DEFS = 4
TEMPLATED_DEFS = True
"""Defs filled by a docstring processor (``@setup_anndata_dsp.dedent``) compete for a described
parameter besides the fact's own def and the defs the question names."""
_DSP_DECORATOR = re.compile(r"^\s*@\w*dsp\.dedent\b")
OTHER_DEF_SHARE = 0.6
"""A parameter of another def the question's terms name counts this much of one of the
entry point's own def."""
PARAM_TEXT_SHARE = 0.3
"""How much a query term in a parameter's docstring counts, against one in its name."""
MIN_PARAM_MATCH = 4.0
"""The least query weight (idf-weighted) a described parameter must share to be shown."""
MAX_SIGNATURE_CHARS = 600
"""A header longer than this (a train() with 20 parameters) is cut; --symbol shows it all.
600, not 400: differential_expression's ``silent: bool = False`` (the progress bar) sits past
400; one tuning pack of 312 gained its phrase, none lost one, the median pack moved by 1."""
SAME_TREE = object()
"""``build_pack``'s default ``doc_tree``: passages are quoted from ``tree`` itself."""
SHORT_SIGNATURE_CHARS = 160
"""The header of a fact that also shows a parameter's signature line and docstring entry."""
PARAM_FILES = 3
"""A named parameter no top file documents is looked up in the files whose index entry holds
it, when there are at most this many."""
DEF_FACTS = 2
"""Defs shown with their best window, chosen among all defs and classes (a class: its
docstring and attributes) of the top source files (a ``loss`` that holds the question's
terms, in the third file), after the first fact."""
DEF_FILES = 5
"""Source files (best first) whose defs compete for :data:`DEF_FACTS`."""
DEF_SIGNATURE_CHARS = SHORT_SIGNATURE_CHARS
DEF_NAME_WEIGHT = 2.0
"""A query term in a def's name counts this much more than one in its lines."""
DEF_RANK_DECAY = 0.2
"""A def of the file ranked r (0 = best) counts 1 / (1 + r * this)."""
DEF_MIN_KEY = 4
"""Terms whose probe key is shorter ("d", "vi", "key") are not counted in a def's lines:
their key is in most lines."""
DEF_K1, DEF_B, DEF_AVG_LINES = 1.2, 0.5, 30
"""BM25 saturation and length normalisation of a def (term frequency counted in lines
holding the term, length in lines). Chosen on the tuning splits; 0.75 for b, 1 or 3 for the
name weight and 0.1 for the decay gave the same phrase hits."""

_HEADER_END = re.compile(r"(\)|^\s*class\s.*|^\s*def\s.*\))\s*(->.*)?:\s*(#.*)?$|^\s*class\s+\w+\s*:")
_HEADER_START = re.compile(r"^\s*(?:async\s+def|def|class)\s")
_IMPORT = re.compile(r"^\s*(?:from\s+\S+\s+import\b|import\s)")
_HEADER_NAME = re.compile(r"^\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(")


class FrameFact:
    """An scvi-tools frame of a pasted traceback: as pasted (``path`` under ``src/scvi/``,
    ``line``, ``function``, ``code``) and where it is in the tree (``tree_path``, which is
    another file of the same package when the pasted file is not in the tree; ``tree_line``;
    ``found``: ``"same"``, ``"moved"``, ``"def"`` or ``""``, see :func:`.frames.locate`;
    ``symbol``, the dotted name of the def holding it)."""

    def __init__(self, path: str, line: int, function: str, code: str) -> None:
        self.path, self.line, self.function, self.code = path, line, function, code
        self.tree_path, self.tree_line, self.found, self.symbol = path, 0, "", ""

    def to_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "function": self.function,
                "code": self.code, "tree_path": self.tree_path, "tree_line": self.tree_line,
                "found": self.found, "symbol": self.symbol}


def locate_frames(frames: list, reader: _Reader) -> list[FrameFact]:
    """The scvi-tools frames among ``frames`` (outermost first), each located in the tree: in
    its own file, else, for the outermost and innermost (the two the pack shows), in the files
    of its package (a module another release had)."""
    ours = [frame for frame in frames if frame.scvi]
    if not ours:
        return []  # no traceback: the frames module (1.4 ms of imports) is not needed
    from .frames import locate

    out = []
    for n, frame in enumerate(ours):
        fact = FrameFact(frame.scvi, frame.line, frame.function, frame.code)
        lines = reader.file(frame.scvi)
        if lines:
            fact.tree_line, fact.found = locate(frame, lines)
        elif reader.ok and n in (0, len(ours) - 1):  # the frames the pack shows
            # The pasted code in any file of the package; else the def, when only one file
            # has it (``__init__`` or ``train`` in several says nothing).
            found = [(rel, *locate(frame, reader.file(rel)))
                     for rel in _package_files(reader, frame.scvi)]
            found = [row for row in found if row[2] == "moved"] or \
                [row for row in found if row[2] == "def"]
            if len(found) == 1 or found and found[0][2] == "moved":
                fact.tree_path, fact.tree_line, fact.found = found[0]
                lines = reader.file(fact.tree_path)
        if fact.tree_line:
            chain = _enclosing_headers(lines, fact.tree_line - 1)
            if fact.found == "def":
                chain = [fact.tree_line - 1] + chain
            fact.symbol = _qualified(fact.tree_path, lines, chain[0]) if chain else ""
        out.append(fact)
    return out


def _package_files(reader: _Reader, rel: str) -> list[str]:
    """The tree's ``.py`` files in the folder of ``rel`` (a file the tree lacks), sorted."""
    folder = rel.rpartition("/")[0]
    try:
        found = sorted(p.name for p in reader.tree.to_disk(folder).iterdir()
                       if p.suffix == ".py" and p.is_file())
    except OSError:
        return []
    return [f"{folder}/{name}" for name in found[:MAX_PACKAGE_FILES]]


class PackPassage:
    """One quoted passage: ``path:start-end``, its section, and its lines (empty without a
    tree); ``read`` is the span it may grow to (its short section, or it with neighbours);
    ``after``: for a release-notes passage of a release after the user's, the user's release
    (:func:`_mark_newer`)."""

    def __init__(self, path: str, start: int, end: int, section: str, title: str,
                 text: list[str] | None = None, url: str = "",
                 read: tuple[int, int] = (0, 0)) -> None:
        self.path, self.start, self.end = path, start, end
        self.section, self.title, self.url, self.read = section, title, url, read
        self.text: list[str] = list(text or [])
        self.after = ""

    def to_dict(self) -> dict:
        return {"path": self.path, "lines": [self.start, self.end], "section": self.section,
                "title": self.title, "text": "\n".join(self.text), "url": self.url,
                **({"after_release": self.after} if self.after else {})}


class SourceFact:
    """An entry point: ``path:line``, its symbol and one-line ``def``/``class`` header; the
    docstring entry of a parameter the question names (``param``, ``param_lines``,
    ``param_doc``); the lines of the file holding most of the question's terms (``window``,
    ``[first, last]``, and ``window_text``)."""

    def __init__(self, path: str, line: int, symbol: str, kind: str = "entry") -> None:
        self.path, self.line, self.symbol = path, line, symbol
        self.kind = kind
        """"entry": a top source file's entry point; "def": a def chosen among their defs."""
        self.signature = ""
        self.param = ""
        self.param_path = ""
        """Where ``param_lines`` are: ``path``, or the module of a docstring template
        (``%(param_batch_key)s`` -> ``src/scvi/utils/_docstrings.py``)."""
        self.param_lines: list[int] = []
        self.param_doc: list[str] = []
        self.param_default: dict[str, str] = {}
        """When the entry states a default its signature line contradicts: ``code`` (what
        runs) and ``stated`` (:mod:`~scvi_skill.runtime.docdefaults`)."""
        self.param_end = 0
        """The entry's own last line when :data:`MAX_PARAM_DOC_LINES` cut it (0: shown
        whole)."""
        self.window: list[int] = []
        self.window_text: list[str] = []

    def to_dict(self) -> dict:
        out = {"path": self.path, "line": self.line, "symbol": self.symbol,
               "signature": self.signature, "kind": self.kind}
        if self.window:
            out.update(window=self.window, window_text="\n".join(self.window_text))
        if self.param:
            out.update(param=self.param, param_path=self.param_path or self.path,
                       param_lines=self.param_lines, param_doc="\n".join(self.param_doc))
            if self.param_default:
                out.update(param_default=self.param_default)
            if self.param_end:
                out.update(param_end=self.param_end)
        return out


class Pack:
    """What one call answers with, and ``lines``, its rendering within ``budget`` tokens.

    - ``raise_sites``: where scvi-tools raises or warns the question's error text
      (``search_source.py --message`` matches), each with ``text``, the statement's lines;
    - ``notes``: lines shown under the title (what differs in the user's scvi-tools version);
    - ``frames``: the scvi-tools frames of a pasted traceback, located in the tree;
    - ``model_facts``: facts from the model cards of the models the question names
      (``search_source.py --model NAME`` shows the whole card).

    Plain classes here, not dataclasses: see :class:`scvi_skill.runtime.rank._Ranking`."""

    def __init__(self, passages: list[PackPassage], sources: list[SourceFact],
                 pitfalls: list[dict], next_commands: list[str], reader: _Reader, budget: int,
                 *, raise_sites: list[dict] | None = None, notes: list[str] | None = None,
                 model_facts: list[dict] | None = None,
                 frames: list[FrameFact] | None = None, source_reader: _Reader | None = None,
                 access_sites: list[dict] | None = None) -> None:
        self.passages, self.sources, self.pitfalls = passages, sources, pitfalls
        self.next_commands, self.reader, self.budget = next_commands, reader, budget
        self.source_reader = source_reader or reader
        """Where source facts and frames were read (the user's tree of another release);
        ``reader`` is where passages are quoted from."""
        self.raise_sites = list(raise_sites or [])
        self.frames = list(frames or [])
        self.notes = list(notes or [])
        self.model_facts = list(model_facts or [])
        self.access_sites = list(access_sites or [])
        """Where the code reads the attribute or key of Python's own error message
        (:mod:`.pyerrors`), each with ``text``, its line and one either side."""
        self.lines: list[str] = []
        self.notes_at = 0
        """Where ``notes`` start in ``lines`` (after the title and a no-tree line)."""
        self.cites_release = ""
        """The pinned release, when the pack reads another release's tree: the model facts'
        and pitfalls' citations are that release's lines, and say so."""
        self.term_idf: dict[str, float] = {}
        """The ranking's weight of each query term (``resolve``'s ``term_idf``): which shown
        span holds the question's words (:func:`_reading_order`)."""
        self.ranges: list[dict] = []
        """The ``path:start-end`` spans the rendered pack shows, in reading order
        (:func:`_reading_order`): ``{"path", "lines": [start, end], "kind"}``."""
        self.question_code: list[dict] = []
        """What the release makes of the calls the question writes (``resolve_docs.py``'s
        :func:`~scvi_skill.runtime.questioncode.question_findings`; its notes say it)."""

    @property
    def has_tree(self) -> bool:
        return self.reader.ok

    def replace_notes(self, old: list[str], new: list[str]) -> bool:
        """Put ``new`` in place of the lines ``old`` under the title, when ``old`` is there
        and the pack then stays within its budget (or its size, if over); False otherwise,
        the pack unchanged."""
        at = next((n for n in range(len(self.notes) - len(old) + 1)
                   if self.notes[n:n + len(old)] == old), None) if old else None
        if at is None:
            return False
        notes = self.notes[:at] + new + self.notes[at + len(old):]
        first = self.notes_at
        lines = self.lines[:first] + notes + self.lines[first + len(self.notes):]
        if token_count("\n".join(lines)) > max(self.budget, self.tokens):
            return False
        self.lines, self.notes = lines, notes
        return True

    @property
    def tokens(self) -> int:
        return token_count("\n".join(self.lines))


def token_count(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def build_pack(result: dict, sidx: dict, question: str, tree, *, budget: int = DEFAULT_BUDGET,
               next_commands: list[str] | None = None,
               raise_sites: list[dict] | None = None, notes: list[str] | None = None,
               frames: list | None = None, doc_tree=SAME_TREE, release_tree=None,
               for_release: str = "", also: str = "") -> Pack:
    """The pack for ``result`` (from ``resolve``); ``tree`` may be ``None``; ``frames`` are
    the frames of a pasted traceback (:func:`.frames.parse_frames`).

    ``doc_tree``: when ``tree`` is another release than the index's (the user's own), the
    tree of the index's release to quote passages and raise sites from (``None``: none
    cached; they are then listed, not quoted); source facts and frames come from ``tree``,
    their defs found there by name.

    ``release_tree``: the cached tree of a release the question names or ``--version`` asks
    for; the pitfalls are checked against it as against ``tree`` of another release."""
    other = doc_tree is not SAME_TREE
    reader = _Reader(tree, other=other)
    doc_reader = _Reader(doc_tree) if other else reader
    upstream = sidx.get("upstream") or ""
    ranked = result.get("source") or []
    if other:
        ranked = [dict(src, line=at) for src in ranked
                  if (at := reader.def_line(src["path"], src.get("symbol") or "", src["line"]))]
    sources = _source_facts(ranked, question, reader, result.get("term_idf") or {}, sidx)
    # The question's own words (and the compounds the corpus writes as one), not the routing
    # synonyms the ranking adds: a trigger is a phrase a user writes, and an expansion ("GPU"
    # -> multi-GPU words) made pitfalls fire on questions they do not concern.
    own = sorted(query_terms(question, [], vocabulary=sidx.get("terms")))
    hinted = sorted(query_terms(also, [], vocabulary=sidx.get("terms"))) if also else []
    pitfalls = match_pitfalls(question, sidx, own, hinted)
    facts = match_model_facts(sidx, own, question)
    chosen = _choose_passages(_interleave(result.get("passages") or [], result.get("docs") or []))
    passages = [PackPassage(row["path"], row["lines"][0], row["lines"][1], row["section"],
                            row["title"], None, upstream + row["path"] if upstream else "",
                            read=tuple(row.get("read") or row["lines"]))
                for row in chosen]
    if other:
        notes = list(notes or []) + [_other_tree_note(tree, doc_reader, sidx)]
        pitfalls = [_checked_in(p, reader, getattr(tree, "version", ""),
                                sidx.get("scvi_tools_version", "")) for p in pitfalls]
    elif release_tree is not None and pitfalls:
        release_reader = _Reader(release_tree, other=True)  # each file read once
        pitfalls = [_checked_in(p, release_reader, release_tree.version,
                                sidx.get("scvi_tools_version", "")) for p in pitfalls]
    accessed = [] if raise_sites else _access_sites(question, ranked, reader, sidx,
                                                    result.get("term_idf") or {})
    if accessed:
        # Python's own message: the lines below say where, not a dependency.
        notes = [ACCESS_NOTE.format(what=_accessed_words(accessed)) if n.startswith(NO_SITE)
                 else n for n in notes or []]
    elif not raise_sites and (accessed := _twice_sites(question, reader, sidx, own)):
        site = accessed[0]
        notes = [TWICE_NOTE.format(keyword=site["name"], mapping=site["mapping"])
                 if n.startswith(NO_SITE) else n for n in notes or []]
    # The requirement lines are the tree's own: another release's are said to be its.
    version = getattr(tree, "version", "") if other else ""
    of_tree = f" of {version}" if version else ""
    pack = Pack(passages, sources, pitfalls, list(next_commands or []), doc_reader, budget,
                raise_sites=[_with_lines(site, doc_reader) for site in raise_sites or []],
                model_facts=facts, frames=locate_frames(frames or [], reader),
                source_reader=reader, access_sites=accessed,
                notes=list(notes or []) + [f"(release history) {line}"
                                           for line in release_facts(question, sidx)]
                + [f"({PYPROJECT}:{n}{of_tree}) {text}" for n, text
                   in (pyproject_lines(question, reader.file(PYPROJECT))
                       if about_versions(question) else [])])
    pack.term_idf = result.get("term_idf") or {}
    _mark_newer(passages, for_release or (tree.version if other and tree is not None else ""))
    if other or release_tree is not None or for_release:
        # The facts' and pitfalls' lines are the pinned release's, not the other tree's nor
        # the release the pack is for (``for_release``: --version V or a release named).
        pack.cites_release = sidx.get("scvi_tools_version", "")
    _render(pack, question, sidx.get("scvi_tools_version", "unknown"))
    return pack


_NOTES_DATE = re.compile(r" \(\d{4}-\d{2}-\d{2}\)")
_NOTES_RELEASE = re.compile(r"(?<![\w.])(\d+\.\d+\.\d+(?:\.post\d+)?)(?![\w.]*\d)")


def _mark_newer(passages: list[PackPassage], release: str) -> None:
    """Mark the release-notes passages of releases after ``release`` (the user's: the tree
    read, ``--version V`` or a release the question names): "fixed in 1.2.2" is not in the
    user's 1.2.1, and the heading alone does not say which release the user runs."""
    if not release:
        return
    from .apifiles import _release_key

    mine = _release_key(release)
    for passage in passages:
        found = _NOTES_RELEASE.search(passage.section) if passage.path == CHANGELOG else None
        theirs = _release_key(found[1]) if found else None
        if mine is not None and theirs is not None and theirs > mine:
            passage.after = release


PYPROJECT = "pyproject.toml"
"""The tree's requirements: a question about versions or installs gets the lines of it that
require what the question names (:func:`.requirements.pyproject_lines`); no other question
reads it."""
NO_SITE = "(error text) no raise or warning site"
ACCESS_NOTE = ("(error text) Python's own message, raised by no scvi-tools statement: the "
               "lines below {what}; the value there is not what the code expects")
SAFE_NOTE = "; here a .get with a default, which cannot raise it: the user's release may differ"
ACCESS_FILES = 3
"""The top source files whose packages are searched for the line Python's message names."""


def _access_sites(question: str, ranked: list[dict], reader: _Reader, sidx: dict,
                  term_idf: dict[str, float]) -> list[dict]:
    """Where the code reads the attribute or key Python's own error message in ``question``
    names (:mod:`.pyerrors`): in the top source files, then the other files of their
    packages; for a key, constants of the ``_constants.py`` files that hold it count too."""
    from .pyerrors import access_sites, named_accesses, quick_check

    if not reader.ok or not quick_check(question):
        return []
    accesses = named_accesses(question, sidx.get("names") or {})
    if not accesses:
        return []
    files: list[str] = []
    for src in ranked[:ACCESS_FILES]:
        for rel in [src["path"]] + _package_files(reader, src["path"]):
            if rel not in files:
                files.append(rel)
    constants = _constants_files(reader) if any(a.kind == "key" for a in accesses) else []
    sites = access_sites(accesses, files[:MAX_PACKAGE_FILES], reader.file, term_idf, tokenize,
                         constant_files=constants)
    for site in sites:
        site["text"] = reader.lines(site["path"], max(1, site["line"] - 1), site["line"] + 1)
        site["first"] = max(1, site["line"] - 1)
    return sites


TWICE_NOTE = ("(error text) Python's own message, raised by no scvi-tools statement: the "
              "call below passes {keyword} by name and again from **{mapping}, which the "
              "caller fills (its keyword arguments, or a dict it is given): leave {keyword} "
              "out of it (where the value passed is a parameter of the calling def, set that "
              "one instead)")


def _twice_sites(question: str, reader: _Reader, sidx: dict, terms: list[str]) -> list[dict]:
    """For Python's "f() got multiple values for keyword argument 'k'": the calls that pass
    ``k`` by name beside a ``**mapping`` the caller's keywords fill (:mod:`.pyerrors`), each
    with the call's lines (the whole call when it has at most
    :data:`.pyerrors.MAX_PASS_LINES`, else that many around ``k``). Calls in the modules of
    the models the question names (``terms``: its own) come first."""
    from .pyerrors import MAX_PASS_LINES, passed_twice, twice_sites

    twice = passed_twice(question) if reader.ok else None
    if not twice:
        return []
    from .messages import load_messages

    try:
        index = load_messages()
    except IndexStale as err:
        warn(f"no call sites for the keyword passed twice: {err}")
        return []
    models = named_models(sidx, terms, question)
    classes = {cls for model, chain in index.module_classes.items()
               if model.lower() in models for cls in chain}
    sites = twice_sites(*twice, index.passes, question, tokenize, classes=classes)
    for site in sites:
        first = site["start"]
        if site["end"] - first >= MAX_PASS_LINES:
            first = max(first, site["line"] - MAX_PASS_LINES // 2)
        last = min(site["end"], first + MAX_PASS_LINES - 1)
        site["text"] = reader.lines(site["path"], first, last)
        site["first"] = first
    return sites


def _constants_files(reader: _Reader) -> list[str]:
    """The tree's ``_constants.py`` files under ``src/scvi``, sorted: a walk that follows no
    symlink (a link loop in a user's tree cannot trap it) and keeps only files inside the
    tree."""
    import os

    root = reader.tree.to_disk("src/scvi")
    found = []
    for folder, _, names in os.walk(root):
        if "_constants.py" in names:
            rel = reader.tree.to_rel(os.path.join(folder, "_constants.py"))
            if rel:
                found.append(rel)
    return sorted(found)


def _accessed_words(sites: list[dict]) -> str:
    names = list(dict.fromkeys(
        f".{s['name']}" if s["kind"] == "attribute" else f"[{s['name']!r}]" for s in sites))
    return f"read {' and '.join(names)}"


def _checked_in(pitfall: dict, reader: _Reader, version: str, pinned: str) -> dict:
    """``pitfall`` as it stands in the user's tree of another release: its evidence token
    looked up in the evidence file there (any line: numbering differs between releases).
    ``evidence_found`` says whether it is; when it is not, the text says so, since the claim
    was proven on the pinned release only."""
    token = pitfall.get("token")
    if not token or not reader.ok:
        return pitfall
    path = pitfall["cite"].rsplit(":", 1)[0]
    if not reader.tree.holds(path):
        return pitfall  # an installed package's docs/: not known there, not absent
    found = any(token in line for line in reader.file(path))
    out = dict(pitfall, evidence_found=found)
    if not found:
        out["text"] = (f"{pitfall['text']} (proven on {pinned or 'the pinned release'} only: "
                       f"{version or 'this release'}'s {path} lacks its evidence {token!r})")
    return out


def _other_tree_note(tree, doc_reader: _Reader, sidx: dict) -> str:
    version = sidx.get("scvi_tools_version", "unknown")
    mine = getattr(tree, "version", "unknown")
    quoted = (f"passages and raise sites are quoted from the {version} tree" if doc_reader.ok
              else f"passages and raise sites are listed at their {version} lines, not quoted "
              f"(fetch_tree.py caches {version})")
    if getattr(tree, "kind", "") == "installed":
        # No src/ folder there: say where the src/scvi/... paths below are on disk.
        return (f"(installed package) source facts and traceback frames: the scvi-tools {mine} "
                f"installed in {tree.root}, whose scvi/... is src/scvi/... below (defs found by "
                f"name); {quoted}")
    return (f"(other release) the tree read is scvi-tools {mine}: {quoted}; source facts and "
            f"traceback frames are {mine}'s, their defs found there by name")


ECHOED_SITES = True
"""A question that repeats a message in its own words (not pasted) gets that site too."""


def find_raise_sites(question: str) -> list[dict]:
    """Where scvi-tools raises the error text the question pastes (at most two sites, from
    ``references/messages.json``), or the message it retells in its own words (one site,
    marked ``echoed``); nothing when the question does neither or the message index is
    missing (with a warning: the pack still answers without it)."""
    from .errortext import looks_like_error, says_it_was_told

    pasted = looks_like_error(question)
    if not pasted and not (ECHOED_SITES and says_it_was_told(question)):
        return []
    from .messages import PACK_MIN_SCORE, echoed_sites, match_messages  # read only now

    try:
        if not pasted:
            # Not pasted but told in the user's words ("it says accelerator set to cpu
            # although mps exists"): a site whose message it repeats four words in a row.
            return [dict(site, echoed=True) for site in echoed_sites(question, 1)]
        found = match_messages(question, 2 + MAX_SAME_MESSAGE, min_score=PACK_MIN_SCORE)
    except IndexStale as err:
        warn(f"no raise sites: {err}")
        return []
    sites = found[:2]
    if sites:
        # One message raised in several places that its text cannot tell apart (the fields'
        # "{key} not found in adata.{attr}", marked same_message by the matcher): the others
        # are named under the first, so that the one the user hit is in the pack.
        same = [site for site in found[2:] if site.get("same_message")]
        if same:
            sites[0] = dict(sites[0], also=same)
    return sites


MAX_SAME_MESSAGE = 6
"""Other sites of the same message named under the first raise site (one line)."""


def _python_s_own_note(question: str, version: str, sidx: dict | None,
                       release: str = "") -> str:
    """The ``(error text)`` line for Python's own messages that no scvi-tools statement
    raises and that say what went wrong by themselves: a keyword the call does not take or
    an argument it requires, a scvi-tools name looked up on another object, a key that the
    user's own call passes. "" for any other text."""
    from .pyerrors import call_error, missing_on_object, user_key_error

    head = "(error text) Python's own message"
    call = call_error(question)
    if call:
        kind, func, name = call
        owner = func.removesuffix(".__init__")
        what = (f"takes no keyword {name!r} in the release that raised it (a misspelled "
                "argument, one meant for another call, or another release's signature)"
                if kind == "keyword" else
                f"requires {name!r} in the release that raised it, and the call left it out")
        facts = ""
        if kind == "keyword" and KEYWORD_FACTS:
            from .keywordfacts import keyword_facts

            facts = "".join(f"; {fact}" for fact in keyword_facts(func, name, question, version,
                                                                  release=release))
        return (f"{head}: {func}() {what}{facts}; what {owner} takes in {version}: "
                f"search_source.py --symbol {owner}")
    unloaded = _unloaded_subpackage(question, version) or _class_lacks(question, version)
    if unloaded:
        return unloaded
    present = present_names(question, sidx) if sidx else []
    if present:
        return (f"{head}, though scvi-tools {version} has {present[0]}: the user's scvi-tools "
                "is another release (check_env.py --python PY says which), or its import "
                "failed part-way (a circular import, a local file named like the package)")
    names = (sidx or {}).get("names") or {}
    wrong = missing_on_object(question, names)
    where = names[wrong[1].lower()][1] if wrong else ""
    if wrong and where.rpartition(".")[2] == wrong[1]:  # not the class Trainer for .trainer
        kind, name = wrong
        return (f"{head}: the {kind} object has no {name}; in scvi-tools {version} {where} "
                f"has it (search_source.py --symbol {where}): call it on that")
    key = user_key_error(question)
    if key:
        return (f"{head}: KeyError {key[0]!r} is a value the user's own call passes "
                f"({key[1]}): the data lacks that key where the argument is read (adata.obs "
                "columns, adata.layers, adata.obsm)")
    return ""


def _unloaded_subpackage(question: str, version: str) -> str:
    """The ``(error text)`` line for "module 'scvi' has no attribute 'hub'" when ``import
    scvi`` does not load that subpackage in ``version`` (the release's API index, ``loads``);
    "" otherwise, or without the index."""
    from .history import missing_module_attributes

    wanted = [f"scvi.{attr}" for module, attr in missing_module_attributes(question)
              if module == "scvi"]
    if not wanted:
        return ""
    api = _release_or_none(version)
    for name in wanted if api is not None else ():
        if api.unloaded_subpackage({"scvi"}, name):
            return (f"(error text) Python's own message: `import scvi` does not load {name} "
                    f"in scvi-tools {version} (it loads {api.scvi_loads()}): `import {name}` "
                    f"(or `from {name} import ...`) before reading it")
    return ""


def _release_or_none(version: str):
    """The release's API index (:func:`~.apiindex.release_api`), or None without it."""
    from .apiindex import release_api

    try:
        return release_api(version)
    except SkillPackageError:
        return None


MAX_HOLDERS = 3
"""Classes named as having the member another class lacks."""
CLASS_LACKS = "(error text) Python's own message: in scvi-tools "
_HINT = re.compile(r"\(did you mean [^)]{1,300}\)")


def _class_lacks(question: str, version: str) -> str:
    """The ``(error text)`` line for "'HubMetadata' object has no attribute
    'data_is_minified'" when ``version``'s index knows every member of that scvi-tools class
    and it has no such member: with a close name and the public classes that have it
    (``scvi.hub.HubModelCardHelper``); for a name other code of the package sets on objects
    (``set_outside``: ``'SCVI' object has no attribute 'train_indices'``), where it does.
    "" otherwise, or without the index."""
    from .pyerrors import object_attributes

    found = [(kind, name) for kind, name in object_attributes(question)
             if kind[:1].isupper() and not name.endswith("_") and not name.startswith("_")]
    api = _release_or_none(version) if found else None
    for kind, name in found if api is not None else ():
        owners = {api.namespaces[p] for p in api.namespaces if p.rpartition(".")[2] == kind
                  and api.kind(api.namespaces[p]) == "class"}
        if len(owners) != 1:
            continue
        public = api.public_name(owners.pop())
        lookup = api.lookup(f"{public}.{name}")
        if lookup.found:
            continue
        if name in api.set_outside:  # the runner's model.trainer, train_indices
            sites = ", ".join(api.set_outside_sites[name])
            return (f"{CLASS_LACKS}{version} {public} does not define {name} itself; "
                    f"scvi-tools sets it on objects at {sites}: the object has none until "
                    "that code has run on it")
        holders = sorted({api.public_name(q) for q, s in api.symbols.items()
                          if s.get("kind") == "class" and (
                              name in (s.get("attrs") or ()) or f"{q}.{name}" in api.symbols)},
                         key=lambda p: (len(p), p))
        has = f"; {', '.join(holders[:MAX_HOLDERS])} {'has' if len(holders) == 1 else 'have'} " \
            f"it" if holders else ""
        hint = _HINT.search(lookup.message)
        hint = f" {hint.group(0)}" if hint else ""
        return (f"{CLASS_LACKS}{version} {public} has no method, property or attribute {name}"
                f"{hint}{has}: any read of it on that object fails, in the user's code, "
                "another package's or a line of scvi-tools itself (a release's bug)")
    return ""


KEYWORD_FACTS = True
"""For Python's "unexpected keyword argument": the callable the question calls whose
``**kwargs`` reach the one that raised, and its close parameter names
(:mod:`.keywordfacts`); off only for benchmarks' before column."""

_KIND_VERB = {"raise": "raised", "warn": "warned with", "log": "logged", "print": "printed"}


def gone_message_line(gone: dict, version: str, notes: str) -> str:
    """The ``(release history)`` line for :func:`.history.gone_message`'s find."""
    what = f"{gone['exception']} " if gone["exception"] else ""
    return (f"(release history) scvi-tools {gone['releases']} {_KIND_VERB[gone['kind']]} this "
            f"{what}message ({gone['path']}:{gone['line']} in {gone['last']}{gone['before']}); "
            f"{version} does not: it went in {gone['gone_since']}, whose {notes} say what "
            "changed")


def unmatched_error_note(question: str, sites: list[dict], version: str, *,
                         traceback: bool = False, sidx: dict | None = None,
                         release: str = "") -> list[str]:
    """A line for the pack's head when the question pastes error text that no raise or
    warning site of the pinned release matches closely: the text then comes from a
    dependency or from another scvi-tools release, which is worth knowing before reading
    scvi-tools' source for it. When an earlier release had the message
    (:func:`.history.gone_message`), or it is Python's own message for a scvi-tools name the
    pinned release lacks (``sidx`` given), a release-history line explains it instead."""
    from .errortext import reports_failure, traceback_without_exception

    if sites:
        return []
    gone = gone_message(question)
    if gone:
        return [gone_message_line(gone, version, "release notes")]
    if not reports_failure(question):
        return []
    if traceback_without_exception(question):
        where = "; its scvi-tools frames below say where it failed" if traceback else ""
        return ["(error text) the paste holds a traceback but not its last line (the exception "
                f"and its message, which say what went wrong): ask for the whole traceback{where}"]
    if sidx is not None and (gone_identifiers(question, sidx) or moved_names(question, sidx)):
        return [f"(error text) Python's own message for a scvi-tools name that {version} does "
                "not have there: see the (release history) line"]
    if named_dependency_names(question)[0]:
        return ["(error text) Python's own message for another package's name: see the "
                "(release history) line for the scvi-tools releases that use it"]
    own = _python_s_own_note(question, version, sidx, release)
    if own:
        return [own]
    if traceback:
        return [f"(error text) no raise or warning site of scvi-tools {version} matches it "
                "closely: it comes from a dependency or from another scvi-tools release; read "
                "the innermost scvi-tools frame below (the values it hands on) and the call "
                "the user made"]
    return [f"(error text) no raise or warning site of scvi-tools {version} matches it closely: "
            "it likely comes from a dependency (torch, lightning, pandas, anndata) or from "
            "another scvi-tools release: read the scvi-tools step that hands the data to it "
            "(the method the user called, the last scvi frame of a traceback); "
            "search_source.py --message TEXT lists the nearest sites"]


_PACKAGE = "scvi"
_MODEL_SCVI = re.compile(r"(?<![\w./-])scvi(?![\w/-]|\.\w)(?<!import scvi)"  # "train scvi on"
                         r"|(?<=_)scvi(?![A-Za-z0-9])|(?<![\w.-])scvi(?=_)",  # model_scvi
                         re.IGNORECASE)
"""``scvi`` written as the model (``scVI``, ``train scvi on``, ``model_scvi``), not as the
package (``scvi-tools``, ``import scvi``, ``scvi.model.X``) or part of another model's name
(``CondSCVI``); ``.SCVI`` in a dotted name counts too."""
_DOTTED_SCVI = re.compile(r"\.SCVI\b")


def named_models(sidx: dict, terms: list[str], question: str | None = None) -> set[str]:
    """Lowercased model names (``totalvi``) the question's terms name, from the model facts.
    With ``question``, ``scvi`` counts only where it names the model, not the package, and a
    class written with its capitals counts where the stemmer cut it inside a dotted name."""
    present = set(terms)
    names = [row[0] for row in sidx.get("model_facts") or []]
    models = {name for name in names if name in present}
    if question is None:
        return models
    text = question[:MAX_QUESTION_CHARS]
    # a name the stemmer cut inside a dotted one: SpatialStereoscope
    models |= {name for name in names if name not in models and stem(name) in present
               and _written_as_class(name, text)}
    if _PACKAGE in models and not (any(_names_the_model(text, m)
                                       for m in _MODEL_SCVI.finditer(text))
                                   or _DOTTED_SCVI.search(text)):
        models.discard(_PACKAGE)
    return models


def _written_as_class(name: str, text: str) -> bool:
    """Whether ``text`` writes the model ``name`` with two capitals at least, as its class
    is spelt (``SpatialStereoscope``; not the word "decipher")."""
    return any(sum(c.isupper() for c in m.group()) >= 2 for m in re.finditer(
        r"(?<![A-Za-z])" + re.escape(name) + r"(?![A-Za-z])", text, re.IGNORECASE))


_PACKAGE_PLACE = re.compile(r"\b(?:in|of|from|within|inside) $")


def _names_the_model(text: str, match: re.Match) -> bool:
    """False for a lowercase ``scvi`` after "in", "of", "from" ("the LDA model in scvi"):
    there it is the package; ``scVI`` and ``SCVI`` name the model wherever they stand."""
    return match.group() != "scvi" or not _PACKAGE_PLACE.search(text, 0, match.start())


def match_pitfalls(question: str, sidx: dict, terms: list[str],
                   hinted: list[str] | None = None) -> list[dict]:
    """Pitfalls (``[id, text, cite, [[trigger tokens], ...], [applies_to]]`` rows of the
    search index) one of whose triggers has all its tokens among the question's terms, the
    most specific match first: the trigger whose words are rarest in the corpus (summed
    passage idf; "savecheckpoint nan" over "checkpoint train"). When the question names
    models, only pitfalls that hold for one of them (or for all).

    ``hinted``: the terms of the agent's hint (``--also``), the names it means to use. After
    the question's own, pitfalls follow whose trigger the question and the hint complete with
    an identifier only the hint writes (``gradient_clip_val`` for a TOTALVI question about
    NaNs): warnings about the agent's own plan, marked ``"via": "also"``, to
    :data:`MAX_PITFALLS` in all and :data:`HINT_PITFALLS` beyond it. The hint's plain words
    complete none (they fired on a fifth of the tuning questions, half of them off topic)."""
    present = set(terms)
    # A CamelCase word's whole ("DataFrame": "dataframe") meets a trigger's plain word
    # ("dataframe": "datafram") by its stem.
    present |= {stem(t) for t in present if t.isalpha()}
    vocabulary = sidx.get("terms") or {}
    n_passages = max(len(sidx.get("passages") or []), 1)
    named = set(hinted or ()) - present
    found = []
    for n, row in pitfalls_for(sidx, named_models(sidx, terms, question)):
        pid, text, cite, triggers = row[:4]
        scored = []
        for tokens in triggers:
            if not tokens:
                continue
            if all(t in present for t in tokens):
                via = ""
            elif all(t in present or t in named for t in tokens) \
                    and any(t in named and ("_" in t or "." in t) for t in tokens):
                via = "also"
            else:
                continue
            scored.append((via == "also", -sum(passage_idf(vocabulary, t, n_passages)
                                               for t in tokens), via))
        if scored:
            later, best, via = min(scored)
            found.append((later, best, n, {"id": pid, "text": text, "cite": cite,
                                           **({"token": row[5]} if len(row) > 5 else {}),
                                           **({"via": via} if via else {})}))
    ranked = [row[3] for row in sorted(found, key=lambda row: row[:3])]
    own = [p for p in ranked if not p.get("via")][:MAX_PITFALLS]
    return own + [p for p in ranked if p.get("via")][:max(HINT_PITFALLS, MAX_PITFALLS - len(own))]


def pitfalls_for(sidx: dict, models: set[str]) -> list[tuple[int, list]]:
    """``(position, row)`` of the search index's pitfalls that hold for one of ``models`` (or
    for all); every pitfall when ``models`` is empty."""
    rows = []
    for n, row in enumerate(sidx.get("pitfalls") or []):
        applies = set(row[4]) if len(row) > 4 else {"all"}
        if not models or "all" in applies or models & applies:
            rows.append((n, row))
    return rows


def match_model_facts(sidx: dict, terms: list[str], question: str | None = None) -> list[dict]:
    """Facts from the model cards of the models the question names, those sharing most words
    with the question first; facts sharing fewer than :data:`MIN_FACT_OVERLAP` are left out
    (the card has them all)."""
    present = set(terms)
    models = named_models(sidx, terms, question)
    scored = []
    for n, (model, fact, cite, tokens) in enumerate(sidx.get("model_facts") or []):
        if model in models:
            # The model's name and its parts (dest, vi of DestVI) are how it was chosen: they
            # say nothing of which of its facts the question is about.
            overlap = len(present & set(tokens) - _name_terms(model, fact))
            content = len(present & _content_terms(fact))
            if overlap >= MIN_FACT_OVERLAP and content >= MIN_FACT_CONTENT:
                scored.append((-overlap, n, {"model": model, "fact": fact, "cite": cite}))
    scored.sort(key=lambda row: row[:2])
    return [row[2] for row in scored[:MAX_MODEL_FACTS]]


MIN_FACT_CONTENT = 2
"""Terms a model fact must share with the question from what it is about (the names it
states besides its model and method: ``check_val_every_n_epoch``, ``mode='vanilla'``), not
from its subject or its prose ("trained" and "value" matched "SCVI.train() has no
check_val_every_n_epoch: ... keyword value applies")."""


def _content_terms(fact: str) -> set[str]:
    """The terms of the names a model fact states besides its subject (its first name,
    ``SCVI.train``), and of the code in its first parentheses (``mode='vanilla'``)."""
    names = [name.rsplit(".", 1)[-1] for name in identifiers(fact)[1:]]
    code = re.search(r"\(([^)]*)\)", fact)
    return set(tokenize(" ".join(names) + " " + (code.group(1) if code else ""))) - _CONSTANTS


_CONSTANTS = frozenset(tokenize("True False None"))
"""Python's constants in a fact's code say nothing of what it is about."""


def _name_terms(model: str, fact: str) -> set[str]:
    """The terms of the model's name as its fact writes it (``DestVI``: destvi, dest, vi),
    and the model key itself."""
    head = re.match(r"[A-Za-z0-9_]+", fact)
    return {model} | (set(tokenize(head.group())) if head and head.group().lower() == model
                      else set())


def _interleave(passages: list[dict], docs: list[dict]) -> list[dict]:
    """Passages in pack order: the best passage overall, then by turns the best passage of
    the next best document not yet shown and the next best passage overall. Document
    ranking sees evidence a single passage does not (titles, symbols, routing), so the
    pack covers the top documents as well as the top passages."""
    best_of: dict[str, dict] = {}
    for row in passages:
        best_of.setdefault(row["path"], row)
    by_doc = [best_of[d["path"]] for d in docs[:INTERLEAVE_DOCS] if d["path"] in best_of]
    out: list[dict] = []
    seen: set[int] = set()
    for pair in zip(passages, by_doc + [None] * len(passages)):
        for row in pair:
            if row is not None and id(row) not in seen:
                seen.add(id(row))
                out.append(row)
    out.extend(row for row in passages if id(row) not in seen)
    return _with_release_notes(out)


def _with_release_notes(ordered: list[dict]) -> list[dict]:
    """The best :data:`RELEASE_NOTES` release-note bullets (CHANGELOG.md) move up to the
    places from :data:`RELEASE_NOTES_AT` on when they are further down: what changed between
    releases is documented nowhere else, and its words rarely match the question's."""
    notes = [(pos, row) for pos, row in enumerate(ordered)
             if row["path"] == CHANGELOG][:RELEASE_NOTES]
    moved = {pos for pos, _ in notes}
    out = [row for pos, row in enumerate(ordered) if pos not in moved]
    at = RELEASE_NOTES_AT
    for pos, row in notes:
        if pos < at:
            out.insert(pos, row)  # already high enough: stays where it was
        else:
            out.insert(at, row)
            at += 1
    return out


def _choose_passages(ranked: list[dict]) -> list[dict]:
    """The best passages, at most :data:`MAX_PER_DOC` per document; a passage next to one
    already chosen in the same section joins it (one span, read as one)."""
    chosen: list[dict] = []
    per_doc: dict[str, int] = {}
    for row in ranked:
        if len(chosen) >= MAX_PASSAGES:
            break
        start, end = row["lines"]
        joined = False
        for prev in chosen:
            if prev["path"] == row["path"] and prev.get("section_id") == row.get("section_id") \
                    and start <= prev["lines"][1] + 2 and end >= prev["lines"][0] - 2:
                prev["lines"] = [min(start, prev["lines"][0]), max(end, prev["lines"][1])]
                joined = True
                break
        if joined or per_doc.get(row["path"], 0) >= MAX_PER_DOC:
            continue
        per_doc[row["path"]] = per_doc.get(row["path"], 0) + 1
        chosen.append(dict(row))
    return chosen


class _Reader:
    """Lines of tree files, read once each; ``ok`` is False without a usable tree. ``other``:
    the tree is another release than the search index's, whose line numbers then do not
    apply to it (:meth:`def_line` finds a def there by name)."""

    def __init__(self, tree, other: bool = False) -> None:
        self.tree = tree
        self.ok = tree is not None
        self.other = other
        self._cache: dict[str, list[str]] = {}
        self._templates: Templates | None = None

    def def_line(self, rel: str, symbol: str, line: int) -> int:
        """``line`` (1-based), or in another release's tree the line of the def or class named
        by ``symbol``'s last part nearest to it (0 when the file or the name is not there)."""
        if not self.other:
            return line
        lines = self.file(rel)
        name = symbol.rsplit(".", 1)[-1]
        if not name:
            return 1 if lines else 0
        heads = [n + 1 for n, text in enumerate(lines)
                 if (m := _HEADER_NAME.match(text)) and m.group(1) == name]
        return min(heads, key=lambda n: (abs(n - line), n)) if heads else 0

    def file(self, rel: str) -> list[str]:
        if self.tree is None:
            return []
        if rel not in self._cache:
            path = self.tree.to_disk(rel)
            try:
                inside = self.tree.to_rel(path) is not None
                text = read_text(path) if inside else ""
            except OSError:
                text = ""
            self._cache[rel] = text.splitlines()
        return self._cache[rel]

    def template(self, rel: str, key: str) -> Template | None:
        """The parameter template ``%(key)s`` of a docstring of ``rel``
        (:mod:`.templates`)."""
        if self._templates is None:
            self._templates = Templates(self.file)
        return self._templates.resolve(rel, key)

    def lines(self, rel: str, start: int, end: int) -> list[str]:
        if rel.startswith("src/"):
            return [_cut(t) for t in self.file(rel)[start - 1 : end]]
        return [_cut_prose(t) for t in self.file(rel)[start - 1 : end]]


def _cut(text: str) -> str:
    return clip(text.rstrip(), MAX_LINE_CHARS)


def _cut_prose(text: str) -> str:
    """A docs line: table rows and indented code as :func:`_cut`, prose up to
    :data:`MAX_PROSE_CHARS`."""
    text = text.rstrip()
    if text.lstrip().startswith("|") or text.startswith("    "):
        return clip(text, MAX_LINE_CHARS)
    return clip(text, MAX_PROSE_CHARS)


def _source_facts(sources: list[dict], question: str, reader: _Reader,
                  term_idf: dict[str, float], sidx: dict | None = None) -> list[SourceFact]:
    """The top entry points with their ``def``/``class`` line, and the docstring entry of a
    parameter the question names (``early_stopping_patience``), from the first of them that
    takes it, else from the file the search index ranks first for that name (a second fact)."""
    named = [i.strip("`()").split(".")[-1] for i in identifiers(question)]
    kwargs = _kwargs_params(question, sidx)
    wanted = [n for n in dict.fromkeys(kwargs + named)
              if "_" in n and n.islower()][:MAX_WANTED_PARAMS]
    # The parts of a parameter the question names ("key" of labels_key) do not name another
    # parameter (batch_key): only the question's other words may match one.
    rest = question
    for name in wanted:
        rest = rest.replace(name, " ")
    parts = {t for name in wanted for t in tokenize(name)} - set(wanted) - set(tokenize(rest))
    facts = []
    param_found = used_shown = False
    # The <something>_kwargs the question asks about comes before any other parameter: the
    # top files before the one that has it quote none.
    kwargs_at = next((n for n, src in enumerate(sources[:MAX_SOURCES])
                      if any(k in "\n".join(reader.file(src["path"]) or []) for k in kwargs)),
                     None) if kwargs else None
    asserted = ASSERT_WINDOW and _ASSERTION.search(question) is not None
    for n, src in enumerate(sources[:MAX_SOURCES]):
        fact = SourceFact(src["path"], src["line"], src.get("symbol") or "")
        lines = reader.file(src["path"])
        if lines and 1 <= src["line"] <= len(lines):
            fact.signature = _signature(lines, src["line"] - 1)
            before_kwargs = kwargs_at is not None and n < kwargs_at
            if not param_found and wanted and not before_kwargs:
                param_found = _param_doc(fact, lines, kwargs if n == kwargs_at else wanted,
                                         question, reader, term_idf)
            if not param_found and len(facts) < MATCH_PARAM_FILES and not before_kwargs \
                    and n != kwargs_at:
                param_found = _matching_param(fact, lines, term_idf, reader, parts,
                                              question if not wanted else None)
            if len(facts) < WINDOW_FILES:
                known: list[set[str] | None] = [None] * len(lines)  # each line tokenized once
                # The def's own lines first (a named parameter's use, a short def's body).
                span = _def_span(lines, fact.line - 1) \
                    if not fact.param or fact.param in question else None
                if span:
                    _best_window(fact, lines, term_idf, span, known)
                if not fact.window and not (fact.param and fact.param in question):
                    _best_window(fact, lines, term_idf, known=known)
                    if fact.window and not fact.param and fact.symbol.rsplit(".", 1)[-1] not in named:
                        _point_at_window(fact, lines, src["path"])
                if USE_WINDOW and wanted and not param_found and not used_shown:
                    used_shown = _use_window(fact, lines, wanted)
                if asserted:
                    _assert_window(fact, lines)
        facts.append(fact)
    elsewhere = _param_elsewhere(sidx, kwargs or wanted, question, reader,
                                 {f.path for f in facts}) \
        if wanted and not param_found and sidx else None
    if CLASS_ENTRIES and wanted and not param_found and not elsewhere:
        # No def documents it: a class whose docstring documents its __init__'s parameters
        # (the models: TOTALVI's empirical_protein_background_prior), in a top file or else
        # where the index finds the name.
        elsewhere = _class_param(facts, wanted, question, reader, sidx)
    if DEF_FACTS and term_idf:
        facts = _with_def_facts(facts + [elsewhere] if elsewhere else facts, sources, reader,
                                term_idf)
    if DELEGATE_FACTS:
        facts = _with_delegates(facts, reader, term_idf)
    if NAMED_DEF_UP:
        # A top file's fact at the ``Class.method`` the question writes out comes second: the
        # def facts of other files and a parameter found elsewhere would push it under the
        # budget (``DifferentialComputation.get_bayes_factors() got an unexpected keyword``).
        for fact in [f for f in facts[1:] if f.kind == "entry" and _writes_out(question, f.symbol)]:
            facts.remove(fact)
            facts.insert(1, fact)
    if elsewhere:  # second, before the defs
        facts.remove(elsewhere)
        facts.insert(1, elsewhere)
    elif NAMED_PARAM_UP and wanted:
        # The fact that quotes a parameter the question names comes second at the latest: the
        # def facts added above would push it to where the budget cuts.
        shown = next((f for f in facts[2:] if f.param in wanted), None)
        if shown is not None:
            facts.remove(shown)
            facts.insert(1, shown)
    return facts


DELEGATE_FACTS = True
"""A source fact whose def only hands its arguments on to a function it imports
(``pbmc_dataset`` -> ``return _load_pbmc_dataset(...)``, the built-in datasets) is followed by
a fact for that function, with its best window: the wrapper's lines hold no answer."""
MAX_DELEGATE_BODY = 12
"""The most code lines (docstring aside) a def that hands on may have."""
_RETURN_CALL = re.compile(r"^\s*return\s+([A-Za-z_]\w*)\(")
_FROM_IMPORT = re.compile(r"^from\s+([.\w]+)\s+import\s+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_QUOTES = ('"""', "'''")


def _with_delegates(facts: list[SourceFact], reader: _Reader,
                    term_idf: dict[str, float]) -> list[SourceFact]:
    """``facts`` with, after each entry fact whose def hands on, a fact for the def it hands
    on to (see :data:`DELEGATE_FACTS`)."""
    out = []
    for fact in facts:
        out.append(fact)
        if fact.kind != "entry":
            continue
        lines = reader.file(fact.path)
        target = _delegate_target(fact, lines, reader) if lines else None
        if target is None or any(f.path == target[0] and f.line == target[1] + 1
                                 for f in facts + out):
            continue
        path, first = target
        lines = reader.file(path)
        out.append(_def_fact(path, lines, first, _def_span(lines, first), term_idf))
    return out


def _def_fact(path: str, lines: list[str], first: int, span: tuple[int, int] | None,
              term_idf: dict[str, float]) -> SourceFact:
    """A "def" fact for the def or class at ``first`` (0-based) of ``path``: its qualified
    name, its header cut to :data:`DEF_SIGNATURE_CHARS`, and the best window of ``span``."""
    fact = SourceFact(path, first + 1, _qualified(path, lines, first), kind="def")
    fact.signature = clip(_signature(lines, first), DEF_SIGNATURE_CHARS)
    if span:
        _best_window(fact, lines, term_idf, span)
    return fact


def _code_body(lines: list[str], span: tuple[int, int]) -> list[str]:
    """The def's body lines at ``span`` that hold code: no blank line, comment or docstring."""
    body = [t for t in lines[span[0] + _header_lines(lines, span[0]):span[1] + 1]
            if t.strip() and not t.strip().startswith("#")]
    head = body[0].strip().lstrip("rRuU") if body else ""
    if head[:3] in _QUOTES:
        quote = head[:3]
        if head.count(quote) >= 2:
            return body[1:]
        end = next((n for n in range(1, len(body)) if quote in body[n]), len(body))
        return body[end + 1:]
    return body


def _delegate_target(fact: SourceFact, lines: list[str], reader: _Reader
                     ) -> tuple[str, int] | None:
    """``(path, first)`` (0-based) of the function the def at ``fact.line`` returns the call
    of, when the def is short and the function is imported from a module of the tree or
    defined in the same file."""
    if not 1 <= fact.line <= len(lines):
        return None
    span = _def_span(lines, fact.line - 1)
    body = _code_body(lines, span) if span else []
    if not body or len(body) > MAX_DELEGATE_BODY:
        return None
    call = next((m.group(1) for t in body if (m := _RETURN_CALL.match(t))), None)
    if call is None:
        return None
    imports = "\n".join(line.strip() for line in lines)
    for m in _FROM_IMPORT.finditer(imports):
        if not re.search(r"(?<![\w.])" + re.escape(call) + r"(?![\w.])", m.group(2)):
            continue
        for rel in _module_files(fact.path, m.group(1)):
            target = reader.file(rel) or []
            first = next((n for n, t in enumerate(target)
                          if (d := _DEF.match(t)) and d.group(1) == call and not t[0].isspace()),
                         None)
            if first is not None:
                return rel, first
    # Else a def of the same file (``prepare_query_anndata`` -> ``_pad_and_sort_query_anndata``).
    first = next((n for n, t in enumerate(lines)
                  if (d := _DEF.match(t)) and d.group(1) == call and n != fact.line - 1), None)
    return (fact.path, first) if first is not None else None


def _module_files(path: str, module: str) -> list[str]:
    """The files (relative to the tree) that module ``module`` (``._built_in_data._pbmc``,
    ``scvi.data._utils``) of an import in the file ``path`` may be."""
    parts = path.split("/")
    if module.startswith("."):
        dots = len(module) - len(module.lstrip("."))
        base, rest = parts[:-dots], module.lstrip(".")
    elif module.split(".")[0] in parts[:-1]:
        base, rest = parts[:parts.index(module.split(".")[0])], module
    else:
        return []
    stem = "/".join(base + [p for p in rest.split(".") if p])
    return [stem + ".py", stem + "/__init__.py"]


KWARGS_PARAMS = True
"""A question about passing keyword arguments to something ("pass keyword arguments to the
DataSplitter from train()") wants the ``<something>_kwargs`` parameter the tree has
(``datasplitter_kwargs``, ``plan_kwargs``, ``data_loader_kwargs``), first."""
_KWARGS_WORDS = re.compile(r"\bkwargs\b|\bkeyword[ -]arg", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _kwargs_params(question: str, sidx: dict | None) -> list[str]:
    if not KWARGS_PARAMS or not sidx or not _KWARGS_WORDS.search(question):
        return []
    terms = sidx.get("terms") or {}
    found = []
    for match in _KWARGS_WORDS.finditer(question[:MAX_QUESTION_CHARS]):
        # The words just before ("plan kwargs") and after ("keyword arguments to the
        # DataSplitter"), one or two of them joined as a parameter name would be.
        before = [w.lower() for w in _WORD.findall(question[max(0, match.start() - 40):
                                                             match.start()])
                  if w.lower() not in _LINKS][-2:]
        after = [w.lower() for w in _WORD.findall(question[match.end():match.end() + 60])]
        after = after[1:] if match.group().lower().startswith("keyword") else after
        while after and after[0] in _LINKS:  # past "arguments", "to the"
            after = after[1:]
        for stems in (["_".join(before), before[-1]] if before else [],
                      ["_".join(after[:2]), after[0]] if after else []):
            for stem in stems:
                name = f"{stem}_kwargs"
                if stem and name in terms and name not in found:
                    found.append(name)
    return found


_LINKS = frozenset({"to", "the", "a", "an", "of", "for", "into", "from", "in", "on", "my"})


def _class_param(facts: list[SourceFact], wanted: list[str], question: str, reader: _Reader,
                 sidx: dict | None) -> SourceFact | None:
    """Where a class's docstring documents a wanted parameter: the first top fact whose file
    has one is moved to that class (with the lines of its ``__init__`` that first use the
    parameter) and None is returned; else a new fact from another file whose class documents
    it (:func:`_param_elsewhere`), or None."""
    for fact in facts:
        lines = reader.file(fact.path)
        if not lines or fact.param:
            continue
        # _param_doc changes the fact only when it finds an entry (then moves it there).
        if _param_doc(fact, lines, wanted, question, reader, classes=True):
            if CLASS_USE_WINDOW and not fact.window:
                _use_window(fact, lines, [fact.param])
            return None
    return _param_elsewhere(sidx, wanted, question, reader, {f.path for f in facts},
                            classes=True) if sidx else None


def _writes_out(question: str, symbol: str) -> bool:
    """Whether ``question`` writes the last two parts of the dotted ``symbol`` as one name
    (``SCVI.train`` of ``scvi.model.SCVI.train``)."""
    parts = symbol.split(".")
    return len(parts) > 1 and f"{parts[-2]}.{parts[-1]}" in question


NAMED_DEF_UP = True
"""The fact at a ``Class.method`` the question writes out comes second (one tuning pack in
312 gained its phrase, none lost one)."""


NAMED_PARAM_UP = True
"""The fact quoting a named parameter's entry comes second (it changed 9 of 282 tuning packs,
no phrase hit: a named parameter's own entry is what the question asks for)."""


USE_WINDOW = True
"""A named parameter that no docstring entry documents is shown where its def first uses it."""


ASSERT_WINDOW = True
"""For a question that says it got an ``AssertionError``, a def's window is its first
``assert`` statement and what follows (RESOLVI.setup_anndata's checks on counts and
obs_names): a bare AssertionError names no message to find, only that an assert failed."""
_ASSERTION = re.compile(r"\bAssertionError\b")
_ASSERT = re.compile(r"^\s*assert\b")


def _assert_window(fact: SourceFact, lines: list[str]) -> None:
    """Point ``fact``'s window at the first ``assert`` of its def's body, if it has one."""
    span = _def_span(lines, fact.line - 1)
    if not span:
        return
    at = next((n for n in range(span[0] + 1, span[1] + 1) if _ASSERT.match(lines[n])), None)
    if at is None:
        return
    last = min(span[1], at + WINDOW_LINES - 1)
    fact.window = [at + 1, last + 1]
    fact.window_text = [_cut(t) for t in lines[at : last + 1]]


def _use_window(fact: SourceFact, lines: list[str], wanted: list[str]) -> bool:
    """For a parameter the question names that the fact's def (or its class's ``__init__``)
    takes but its docstring does not document (RESOLVI's ``downsample_counts``), the window is
    the first lines of the def's body that use it: what the parameter does."""
    first = fact.line - 1
    if not _HEADER_START.match(lines[first]):
        return False
    headers = [first] + [n for n in range(first + 1, min(len(lines), first + MAX_DOCSTRING_LINES))
                         if _DEF.match(lines[n])]
    for header in headers:
        span = _def_span(lines, header)
        if not span:
            continue
        sig_end = header + _header_lines(lines, header)
        for name in wanted:
            if not any(_takes(lines[n], name) for n in range(header, sig_end)):
                continue
            use = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
            for n in range(sig_end, span[1] + 1):
                text = lines[n].strip()
                if use.search(text) and not text.startswith(name):
                    last = min(span[1], n + WINDOW_LINES - 1)
                    fact.window = [n + 1, last + 1]
                    fact.window_text = [_cut(t) for t in lines[n : last + 1]]
                    return True
    return False


def _param_elsewhere(sidx: dict, wanted: list[str], question: str, reader: _Reader,
                     skip: set[str], classes: bool = False) -> SourceFact | None:
    """A fact for the first wanted parameter that a def of another source file documents:
    the files whose index entry holds the name (their docstrings list it), best first."""
    terms, rows = sidx.get("terms") or {}, sidx.get("sources") or []
    for name in wanted:
        entry = terms.get(name)
        if not entry or len(entry) <= SLOT_SOURCE or not entry[SLOT_SOURCE]:
            continue
        postings = sorted(((-int(impact), int(unit)) for unit, _, impact in
                           (item.partition(":") for item in entry[SLOT_SOURCE].split())))
        if len(postings) > PARAM_FILES:
            continue  # a name many files take (early_stopping): which one is meant is unclear
        for _, unit in postings:
            path, symbol, line = rows[unit][:3]
            line = reader.def_line(path, symbol, line)
            lines = reader.file(path)
            if path in skip or not lines or not 1 <= line <= len(lines):
                continue
            fact = SourceFact(path, line, symbol, kind="def")
            fact.signature = _signature(lines, line - 1)
            if _param_doc(fact, lines, [name], question, reader, classes=classes):
                fact.symbol = _qualified(path, lines, fact.line - 1) or fact.symbol
                if CLASS_USE_WINDOW and classes:
                    _use_window(fact, lines, [name])
                return fact
    return None


def _with_def_facts(facts: list[SourceFact], sources: list[dict], reader: _Reader,
                    term_idf: dict[str, float]) -> list[SourceFact]:
    """``facts`` with the best defs of the top source files, each as a fact pointing at the
    def with the window of its lines that holds most of the question's terms, unless a fact
    already shows lines of that def."""
    added = []
    for _, path, first, last in _best_defs(sources, reader, term_idf):
        if len(added) >= DEF_FACTS:
            break
        if any(f.path == path and (f.line == first + 1
                                   or f.window and first <= f.window[0] - 1 <= last
                                   or f.param_lines and f.param_path in ("", path)
                                   and first <= f.param_lines[0] - 1 <= last)
               for f in facts + added):
            continue
        fact = _def_fact(path, reader.file(path), first, (first, last), term_idf)
        if fact.window:
            added.append(fact)
    return facts[:1] + added + facts[1:]


_PLUS_ONE = (1).__add__
_NAME_AT = re.compile(r"[ \t]*([A-Za-z_]\w*)")


def _heads(text: str, starts: list[int]) -> list[tuple[int, int, str, str]]:
    """``(line, indent, word, name)`` of each def, class and decorator that starts a line of
    ``text`` (0-based lines; ``starts`` are their offsets; ``word`` is ``"def "``,
    ``"class "`` or ``"@"``; a decorator's name is empty), in line order. Found with
    ``str.find``: a regular expression anchored at line starts is slower by half."""
    out = []
    for word in ("def ", "class ", "@"):
        at = text.find(word)
        while at >= 0:
            n = bisect_right(starts, at) - 1
            lead = text[starts[n] : at]
            if not lead.strip() or lead.strip() == "async" and word == "def ":
                name = _NAME_AT.match(text, at + len(word)) if word != "@" else None
                out.append((n, len(lead) - len(lead.lstrip()), word, name.group(1) if name else ""))
            at = text.find(word, at + 1)
    out.sort()
    return out


def _qualified(path: str, lines: list[str], first: int) -> str:
    """Dotted name of the def/class at ``first`` (0-based): module path, enclosing classes,
    its own name."""
    chain = [first] + _enclosing_headers(lines, first)
    names = [_HEADER_NAME.match(lines[n]) for n in reversed(chain)]
    if not all(names):
        return ""
    module = path[len("src/"):-len(".py")].replace("/", ".") if path.startswith("src/") else ""
    qualname = ".".join(m.group(1) for m in names)
    return f"{module}.{qualname}" if module else qualname


NESTED_INDENT = 8
"""A def this deep (or deeper) is nested in a function: its span is found by its indent."""


def _best_defs(sources: list[dict], reader: _Reader, term_idf: dict[str, float]) -> list:
    """``(score, path, first, last)`` of every def and class of the top :data:`DEF_FILES`
    source files, best first: BM25 over the lines of the def holding each query term, plus
    the terms of its name, discounted by its file's rank. A class's lines are those before
    its first def (docstring, attributes).

    Cheap enough for every call (about 3 ms for five files): a line holds a term here when
    it holds the term's probe key (:func:`probe_key`, found with ``str.find``), and a def
    ends where the next def, class or decorator no deeper than it starts. Nothing is
    tokenized but def names; the window shown is then chosen on the def's tokenized lines."""
    keys: dict[str, list[str]] = {}
    for term in term_idf:
        key = probe_key(term)
        if len(key) >= DEF_MIN_KEY:
            keys.setdefault(key, []).append(term)
    if not keys:
        return []
    out = []
    for rank, src in enumerate(sources[:DEF_FILES]):
        lines = reader.file(src["path"])
        if not lines:
            continue
        text = "\n".join(lines)
        low = text.lower()
        starts = list(accumulate(map(_PLUS_ONE, map(len, lines)), initial=0))
        held: dict[int, list[str]] = {}
        for key, terms in keys.items():
            at = low.find(key)
            while at >= 0:
                n = bisect_right(starts, at) - 1
                held.setdefault(n, []).extend(terms)
                at = low.find(key, starts[n + 1])
        marked = sorted(n for n in held if not _IMPORT.match(lines[n]))
        heads = _heads(text, starts)
        discount = 1 / (1 + DEF_RANK_DECAY * rank)
        for k, (first, indent, word, name) in enumerate(heads):
            if not name:
                continue  # a decorator: it only ends defs
            if word == "class ":  # its docstring and attributes: up to its first def
                last = heads[k + 1][0] - 1 if k + 1 < len(heads) else len(lines) - 1
            else:
                last = next((h[0] - 1 for h in heads[k + 1 :] if h[1] <= indent),
                            len(lines) - 1)
                if indent >= NESTED_INDENT:
                    # A def inside a function ends where its body does: the enclosing
                    # function's next statements are not its lines (``lfc`` of
                    # get_bayes_factors held the rest of that method).
                    span = _def_span(lines, first)
                    last = min(last, span[1]) if span else last
            counts: dict[str, int] = {}
            for n in marked[bisect_left(marked, first) : bisect_right(marked, last)]:
                for term in held[n]:
                    counts[term] = counts.get(term, 0) + 1
            norm = DEF_K1 * (1 - DEF_B + DEF_B * (last - first + 1) / DEF_AVG_LINES)
            value = sum(term_idf[t] * c * (DEF_K1 + 1) / (c + norm) for t, c in counts.items())
            value += DEF_NAME_WEIGHT * sum(term_idf[t] for t in set(tokenize(name))
                                           if t in term_idf)
            if value > 0:
                out.append((value * discount, src["path"], first, last))
    out.sort(key=lambda row: (-row[0], row[1], row[2]))
    return out


def _point_at_window(fact: SourceFact, lines: list[str], path: str) -> None:
    """When the window lies outside the def/class the fact names (the file's first class,
    say), point the fact at the def or class that holds the window instead: its line,
    header and dotted name (module path and qualname), so the header says what the lines
    belong to."""
    chain = _enclosing_headers(lines, fact.window[0] - 1)
    if not chain or fact.line - 1 in chain:
        return
    symbol = _qualified(path, lines, chain[0])
    if symbol:
        fact.symbol = symbol
        fact.line, fact.signature = chain[0] + 1, _signature(lines, chain[0])


def _enclosing_headers(lines: list[str], n: int) -> list[int]:
    """0-based lines of the def/class headers that enclose line ``n``, innermost first."""
    chain: list[int] = []
    indent = _indent(lines[n]) if lines[n].strip() else None
    for k in range(n - 1, -1, -1):
        text = lines[k]
        if not text.strip():
            continue
        if indent is None:
            indent = _indent(text) + 1
        if _indent(text) < indent and _HEADER_START.match(text):
            chain.append(k)
            indent = _indent(text)
            if indent == 0:
                break
        elif _indent(text) < indent and not text.lstrip().startswith(("@", "#", ")", '"', "'")):
            indent = _indent(text)  # a statement at a lower level (if/for): keep going up
            if indent == 0:
                break
    return chain


def _matching_param(fact: SourceFact, lines: list[str], term_idf: dict[str, float],
                    reader: _Reader | None = None, parts: set[str] | frozenset = frozenset(),
                    question: str | None = None) -> bool:
    """Fill ``fact.param*`` with the documented parameter whose name shares the most weight
    with the question ("dropout" -> ``freeze_dropout``), its docstring words counting
    :data:`PARAM_TEXT_SHARE` as much, among the ``def``/``class`` at ``fact.line`` and the
    defs of the file the question's terms name; only when the name itself shares a term the
    def's own name does not, and the total reaches :data:`MIN_PARAM_MATCH`. A templated entry
    (``%(param_layer)s``) is read where ``reader`` finds its template. ``parts``: terms that
    come only from a parameter the question names (``key`` of ``labels_key``); they match
    no other parameter's name. ``question``: the question, when it names no parameter (then
    the defs a docstring processor fills compete too, unless it names the fact's def)."""
    if not term_idf:
        return False
    firsts = [fact.line - 1] if _HEADER_START.match(lines[fact.line - 1]) else []
    firsts += [n for n, t in enumerate(lines)
               if (m := _DEF.match(t)) and m.group(1) in term_idf and n != fact.line - 1]
    if TEMPLATED_DEFS and question is not None \
            and not (fact.symbol and _names_def(question, fact.symbol)):
        # Defs whose docstrings a docstring processor fills (@setup_anndata_dsp.dedent): the
        # registration and training entry points that hold the shared parameter entries
        # (not when the question names the fact's own def: that is the one it asks about).
        firsts += [n + 1 for n, t in enumerate(lines[:-1])
                   if _DSP_DECORATOR.match(t) and n + 1 not in firsts and n + 1 != fact.line - 1]
    resolve = _resolver(reader, fact.path)
    best, best_entry = 0.0, None
    for first in firsts[:MAX_PARAM_DEFS]:
        header = _HEADER_NAME.match(lines[first])
        own_name = set(tokenize(header.group(1))) if header else set()
        for name, doc_first, doc_last, template in _doc_entries(lines, first, resolve):
            own = (set(tokenize(name)) & term_idf.keys()) - own_name - parts
            if not own:
                continue
            text = _entry_terms(lines, doc_first, doc_last, template, term_idf)
            # A name and its parts are one piece of evidence (gene_likelihood; gene and
            # likelihood): the larger counts, not both.
            named = max(term_idf[name] if name in own else 0.0,
                        sum(term_idf[t] for t in own - {name}))
            value = named + PARAM_TEXT_SHARE * sum(term_idf[t] for t in text - own - own_name)
            if first != fact.line - 1:
                value *= OTHER_DEF_SHARE
            if value > best:
                best, best_entry = value, (first, name, doc_first, doc_last, template)
    if best_entry is None or best < MIN_PARAM_MATCH:
        return False
    first, name, doc_first, doc_last, template = best_entry
    sig = [n for n in range(first, min(len(lines), first + MAX_SIGNATURE_LINES))
           if _takes(lines[n], name)]
    _set_param(fact, name, lines[sig[0]] if sig else None, lines, doc_first, doc_last, template)
    _move_to(fact, lines, first)
    return True


def _names_def(question: str, symbol: str) -> bool:
    """Whether ``question`` names the def or class ``symbol`` ends in, as a word."""
    last = symbol.rsplit(".", 1)[-1]
    return bool(re.search(r"(?<!\w)" + re.escape(last) + r"(?!\w)", question))


def _resolver(reader: _Reader | None, path: str):
    """``key -> Template | None`` for the docstring templates of the file at ``path``."""
    if reader is None:
        return None
    return lambda key: reader.template(path, key)


def _set_param(fact: SourceFact, name: str, sig: str | None, lines: list[str], doc_first: int,
               doc_last: int, template: Template | None) -> None:
    """The fact's parameter: its signature line (with the default) and its docstring entry,
    in the file (``doc_first``..``doc_last``, 0-based) or in its template's module."""
    fact.param = name
    fact.param_doc = [_cut(sig.strip())] if sig is not None else []
    if template is None:
        fact.param_path, fact.param_lines = fact.path, [doc_first + 1, doc_last + 1]
        fact.param_doc += [_cut(t) for t in lines[doc_first : doc_last + 1]]
        whole = _entry_end(lines, doc_first, _indent(lines[doc_first]), len(lines),
                           limit=len(lines))
        fact.param_end = whole + 1 if whole > doc_last else 0
    else:
        shown = template.lines[:MAX_PARAM_DOC_LINES]
        fact.param_path = template.path
        fact.param_lines = [template.first, template.first + len(shown) - 1]
        fact.param_doc += [_cut(t) for t in shown]
        fact.param_end = template.first + len(template.lines) - 1 \
            if len(template.lines) > len(shown) else 0
    fact.param_default = _default_conflict(name, sig, lines, doc_first, doc_last, template)


def _default_conflict(name: str, sig: str | None, lines: list[str], doc_first: int,
                      doc_last: int, template: Template | None) -> dict[str, str]:
    """``{"code": ..., "stated": ...}`` when the docstring entry of parameter ``name`` (its
    lines ``doc_first``..``doc_last`` of ``lines``, 0-based, or its ``template``) states a
    default that its signature line ``sig`` contradicts (``estimate_delta``'s ``min_thres``:
    "defaults to 0.3", ``min_thres=0.1``), else empty."""
    entry = template.lines if template is not None else lines[doc_first : doc_last + 1]
    code = signature_default(sig, name) if sig is not None and DEFAULT_CONFLICTS else None
    # A template's last line holds its string's closing quotes ('Default: False."""').
    text = "\n".join(t.strip() for t in entry[1:])
    text = text.removesuffix('"""').removesuffix("'''") if template is not None else text
    stated = stated_default(text) if code else None
    if stated is None or not conflict(stated, code):
        return {}
    return {"code": code, "stated": stated}


DEFAULT_CONFLICTS = True
"""A parameter entry whose stated default the signature contradicts says which one runs."""


def tree_default_conflicts(tree) -> list[dict]:
    """Every parameter of every def under the tree's ``scvi`` package whose docstring entry
    states a default its signature contradicts (:func:`declared_default_conflicts` asked for
    each parameter with a default): ``path``, ``line``, ``def``, ``param``, ``code``,
    ``stated``, ``entry``, in file order. For maintainers and the tests: what the pack and
    ``--kwarg`` would mark in that release."""
    import ast

    reader = _Reader(tree)
    found = []
    for path in sorted(tree.package_dir.rglob("*.py")):
        rel = tree.to_rel(path)
        if rel is None:
            continue
        try:
            module = ast.parse("\n".join(reader.file(rel)))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(module):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for arg, _ in defaulted(node.args):
                    hit = _declared_default_conflict(reader, rel, arg.lineno, arg.arg)
                    if hit:
                        found.append({"path": rel, "line": arg.lineno, "def": node.name,
                                      "param": arg.arg, **hit})
    return sorted(found, key=lambda f: (f["path"], f["line"]))


def declared_default_conflicts(tree, places: list[tuple[str, int, str]]) -> list[dict[str, str]]:
    """For each ``(rel, line, name)``, parameter ``name`` of the def whose signature holds line
    ``line`` (1-based) of ``rel`` (``search_source.py --kwarg``'s declared lines): its
    :func:`_default_conflict` with the docstring entry's path and line (``entry``), or empty.
    One reader serves them all: each file is read once."""
    reader = _Reader(tree)
    return [_declared_default_conflict(reader, rel, line, name) for rel, line, name in places]


def _declared_default_conflict(reader: _Reader, rel: str, line: int,
                               name: str) -> dict[str, str]:
    lines = reader.file(rel)
    first = next((n for n in range(min(line, len(lines)) - 1,
                                   max(line - 1 - MAX_SIGNATURE_LINES, -1), -1)
                  if _DEF.match(lines[n])), None)
    if first is None:
        return {}
    resolve = _resolver(reader, rel)
    found = _documented_param(lines, first, name, resolve)
    if not found and _DEF.match(lines[first]).group(1) == "__init__":
        # scvi-tools documents __init__'s parameters in the class docstring
        owner = next((n for n in range(first - 1, -1, -1) if _CLASS.match(lines[n])
                      and _indent(lines[n]) < _indent(lines[first])), None)
        found = _documented_param(lines, owner, name, resolve) if owner is not None else None
    if not found or found[0] != line - 1:
        return {}
    sig_line, doc_first, doc_last, template = found
    contradicted = _default_conflict(name, lines[sig_line], lines, doc_first, doc_last, template)
    if contradicted:
        contradicted["entry"] = f"{template.path}:{template.first}" if template is not None \
            else f"{rel}:{doc_first + 1}"
    return contradicted


def _move_to(fact: SourceFact, lines: list[str], first: int) -> None:
    """Point ``fact`` at the def at ``first`` (0-based) of the same file: its line, header
    and symbol (``scvi.model.TOTALVI.setup_mudata`` -> ``scvi.model.TOTALVI.train``; a class
    ``scvi.model.base.RNASeqMixin`` -> ``...RNASeqMixin.get_normalized_expression``)."""
    if first == fact.line - 1:
        return
    old = _HEADER_NAME.match(lines[fact.line - 1])
    new = _HEADER_NAME.match(lines[first])
    if fact.symbol and new:
        head, _, last = fact.symbol.rpartition(".")
        if old and lines[fact.line - 1].lstrip().startswith("class"):
            fact.symbol = f"{fact.symbol}.{new.group(1)}"
        elif old and last == old.group(1) and head:
            fact.symbol = f"{head}.{new.group(1)}"
    fact.line, fact.signature = first + 1, _signature(lines, first)


def _doc_entries(lines: list[str], first: int, resolve=None
                 ) -> list[tuple[str, int, int, Template | None]]:
    """(name, first line, last line, None), 0-based, of the numpy-style ``Parameters``
    entries in the docstring of the ``def``/``class`` at ``first``: a name line (``name`` or
    ``name : type``) at the section's indent, then its more-indented text; a template line
    (``%(param_layer)s``) gives (its name, its line, its line, the template) when ``resolve``
    (``key -> Template | None``) finds it."""
    out: list[tuple[str, int, int, Template | None]] = []
    indent = None
    end = min(len(lines), first + MAX_DOCSTRING_LINES)
    n = first + 1
    while n < end:
        text = lines[n]
        stripped = text.strip()
        if n > first + 1 and _HEADER_START.match(text) and _indent(text) <= _indent(lines[first]):
            break
        if indent is None:
            if stripped in ("Parameters", "Other Parameters") and n + 1 < end \
                    and lines[n + 1].strip().startswith("---"):
                indent, n = _indent(text), n + 2
                continue
            n += 1
            continue
        if stripped and _indent(text) < indent or stripped.startswith('"""'):
            break
        placeholder = PLACEHOLDER.match(text) if resolve else None
        if placeholder and _indent(text) == indent:
            template = resolve(placeholder.group(2))
            if template is not None:
                out.append((template.name, n, n, template))
            n += 1
            continue
        match = _ENTRY.match(text)
        if match and _indent(text) == indent:
            if n + 1 < end and lines[n + 1].strip().startswith("---"):
                break  # the next section (Returns, Notes)
            last = _entry_end(lines, n, indent, end)
            out.append((match.group(1), n, last, None))
            n = last + 1
            continue
        n += 1
    return out


def _entry_end(lines: list[str], n: int, indent: int, end: int,
               limit: int = 0) -> int:
    """The last line (0-based) of the docstring entry whose name is at line ``n``: its
    more-indented lines, across blank lines inside it (a list after "One of the
    following:"), at most ``limit`` (:data:`MAX_PARAM_DOC_LINES`) in all."""
    last = n
    for k in range(n + 1, min(end, n + (limit or MAX_PARAM_DOC_LINES))):
        if not lines[k].strip():
            continue
        if _indent(lines[k]) <= indent:
            break
        last = k
    return last


def _takes(line: str, name: str) -> bool:
    """Whether ``line`` of a signature declares parameter ``name`` (``name:``, ``name=``,
    ``*name``, ``**name``, or ``name`` before ``,`` or ``)``)."""
    return re.search(rf"[(,\s]\*{{0,2}}{re.escape(name)}\s*[:=,)]", line) is not None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _def_span(lines: list[str], first: int) -> tuple[int, int] | None:
    """0-based (first, last) lines of the ``def`` whose header is at ``first``: up to the
    last line before the next non-blank line indented no deeper than the header; ``None`` for
    anything but a def."""
    if not _DEF.match(lines[first]):
        return None
    indent, last = _indent(lines[first]), first
    for n in range(first + _header_lines(lines, first), len(lines)):
        text = lines[n]
        if text.strip():
            if _indent(text) <= indent:
                break
            last = n
    return first, last


def _best_window(fact: SourceFact, lines: list[str], term_idf: dict[str, float],
                 span: tuple[int, int] | None = None,
                 known: list[set[str] | None] | None = None) -> None:
    """The at most :data:`WINDOW_LINES` lines of the file (of ``span``, 0-based first and last
    line, when given) whose distinct query terms weigh most (a ``raise`` and its condition, a
    default being set), when they hold at least :data:`WINDOW_MIN_TERMS` of them. ``known``
    keeps each line's query terms across calls for the same file and question."""
    if not term_idf:
        return
    lo, hi = span or (0, len(lines) - 1)
    if known is None:
        known = [None] * len(lines)
    # Tokenizing a whole file is slow; only lines holding a query term's probe can hold it.
    probe = re.compile("|".join(sorted({re.escape(probe_key(term)) for term in term_idf})))
    for n in range(lo, hi + 1):
        if known[n] is None:
            t = lines[n]
            # Imports, and template lines (%(param_accelerator)s: a name, not its text).
            known[n] = set(tokenize(t)) & term_idf.keys() if probe.search(t.lower()) \
                and not _IMPORT.match(t) and not PLACEHOLDER.match(t) else set()
    # The header and the parameter entry the fact already shows are not a window.
    shown = set(range(fact.line - 1, fact.line - 1 + _header_lines(lines, fact.line - 1)))
    if fact.param_lines and fact.param_path in ("", fact.path):
        shown.update(range(fact.param_lines[0] - 1, fact.param_lines[1]))
    empty: set[str] = set()
    per_line = [empty if n in shown or terms is None else terms for n, terms in enumerate(known)]
    # The def's own name is in the header already: its words do not say which lines answer.
    named = set(tokenize(fact.symbol.rsplit(".", 1)[-1])) if fact.symbol else set()
    # A line that holds a query term and decides what happens lifts its windows.
    decides = {n: WINDOW_DECIDES for n in range(lo, hi + 1)
               if per_line[n] and _DECIDES.match(lines[n])}
    best, best_at = 0.0, -1
    for first in range(lo, hi + 1):
        if not per_line[first]:
            continue
        terms: set[str] = set()
        lift = 1.0
        for n in range(first, min(hi + 1, first + WINDOW_LINES)):
            terms |= per_line[n]
            lift += decides.get(n, 0.0)
        if len(terms) < WINDOW_MIN_TERMS:
            continue
        value = lift * sum(term_idf[t] * (WINDOW_NAME_SHARE if t in named else 1.0)
                           for t in terms)
        if value > best:
            best, best_at = value, first
    if best_at < 0:
        return
    last = best_at
    for n in range(best_at, min(hi + 1, best_at + WINDOW_LINES)):
        if per_line[n]:
            last = n
    fact.window = [best_at + 1, last + 1]
    fact.window_text = [_cut(t) for t in lines[best_at : last + 1]]


def _header_lines(lines: list[str], first: int) -> int:
    """How many lines the ``def``/``class`` header at ``first`` (0-based) spans (1 for
    anything else)."""
    if not _HEADER_START.match(lines[first]):
        return 1
    for n in range(first, min(len(lines), first + MAX_SIGNATURE_LINES)):
        if _HEADER_END.search(lines[n]):
            return n - first + 1
    return 1


def _signature(lines: list[str], first: int) -> str:
    """The ``def``/``class`` header starting at ``first`` (0-based) on one line: its lines up
    to the one that ends it, whitespace collapsed, cut at :data:`MAX_SIGNATURE_CHARS`. The
    parameters and their defaults answer many questions by themselves."""
    if not _HEADER_START.match(lines[first]):  # a file's first line, a variable: that line only
        return _cut(lines[first].strip())
    parts = []
    for n in range(first, min(len(lines), first + MAX_SIGNATURE_LINES)):
        parts.append(lines[n].strip())
        if _HEADER_END.search(lines[n]):
            break
    text = " ".join(parts).replace("( ", "(").replace(" )", ")").replace(",)", ")")
    return clip(text, MAX_SIGNATURE_CHARS)


def _param_doc(fact: SourceFact, lines: list[str], wanted: list[str], question: str,
               reader: _Reader | None = None, term_idf: dict[str, float] | None = None,
               classes: bool = False) -> bool:
    """Fill ``fact.param*`` with the first wanted parameter that a ``def`` of the file takes
    and documents (numpy style: ``name`` or ``name : type``, then indented text; or a
    template line, ``%(param_batch_key)s``, that ``reader`` resolves): the def at
    ``fact.line`` first, then defs the question names, then the others in file order. When
    that def documents several wanted parameters, the entry sharing most weight with the
    question's other words (``term_idf``) wins. The quoted lines are the parameter's line in
    the signature (its default) and its entry. ``classes``: the classes whose docstrings
    document their ``__init__``'s parameters instead of the defs."""
    defs = [n for n, t in enumerate(lines) if (_CLASS if classes else _DEF).match(t)]
    said = {i.strip("`()").split(".")[-1] for i in identifiers(question)}
    defs.sort(key=lambda n: (n != fact.line - 1, _HEADER_NAME.match(lines[n]).group(1) not in said,
                             n))
    resolve = _resolver(reader, fact.path)
    for name in wanted:
        for first in defs:
            found = _documented_param(lines, first, name, resolve)
            if found:
                if BEST_ENTRY_IN_FILE and term_idf and not classes \
                        and _HEADER_NAME.match(lines[first]).group(1) not in said:
                    heads = defs + [n for n, t in enumerate(lines) if _CLASS.match(t)]
                    first, found = _best_entry_in_file(lines, heads, first, name, found,
                                                       wanted, term_idf, resolve)
                if term_idf and len(wanted) > 1:
                    name, found = _best_named_entry(lines, first, name, found, wanted,
                                                    term_idf, resolve)
                sig_line, doc_first, doc_last, template = found
                if PAIRED_ENTRIES and template is None and len(wanted) > 1:
                    doc_first, doc_last = _with_named_neighbour(lines, first, name, doc_first,
                                                                doc_last, wanted, resolve)
                _set_param(fact, name, lines[sig_line], lines, doc_first, doc_last, template)
                _move_to(fact, lines, first)
                return True
    return False


PAIRED_ENTRIES = True
"""When the question names two parameters whose docstring entries are neighbours in one def
(``n_steps_kl_warmup`` and ``n_epochs_kl_warmup``: "Overrides `n_steps_kl_warmup` when both
are not `None`"), the quoted entry is both: how they relate is in one of them."""


def _with_named_neighbour(lines: list[str], first: int, name: str, doc_first: int,
                          doc_last: int, wanted: list[str], resolve) -> tuple[int, int]:
    """``doc_first``-``doc_last`` grown by the entry just before or after it when the
    question names that parameter too (the one after first)."""
    entries = _doc_entries(lines, first, resolve)
    at = next((k for k, e in enumerate(entries) if e[1] == doc_first), None)
    if at is None:
        return doc_first, doc_last
    for k in (at + 1, at - 1):
        if 0 <= k < len(entries) and entries[k][0] in wanted and entries[k][0] != name \
                and entries[k][3] is None:
            return min(doc_first, entries[k][1]), max(doc_last, entries[k][2])
    return doc_first, doc_last


CLASS_ENTRIES = True
"""A class whose docstring documents its ``__init__``'s parameters holds their entries too."""

CLASS_USE_WINDOW = True
"""A named parameter a class documents is also shown where its ``__init__`` first uses it."""

BEST_ENTRY_IN_FILE = True
"""Of the file's defs documenting a named parameter, the entry sharing clearly more weight
with the question's other words (another named parameter among them) is quoted, not the
first def's."""

ENTRY_MARGIN = 1.5
"""How much more weight another def's entry needs than the first def's to replace it."""


def _best_entry_in_file(lines: list[str], defs: list[int], first: int, name: str, found: tuple,
                        wanted: list[str], term_idf: dict[str, float], resolve
                        ) -> tuple[int, tuple]:
    """``(first, found)`` of the def documenting ``name`` whose entry shares most weight with
    the question's words other than ``name`` and its parts (``TrainingPlan``'s
    ``n_epochs_kl_warmup``: "Overrides `n_steps_kl_warmup` when both are not `None`"), when
    it beats the first def's by :data:`ENTRY_MARGIN`; else the first def's."""
    own = set(tokenize(name)) | {name}

    def weight(entry: tuple) -> float:
        return sum(term_idf[t] for t in _entry_terms(lines, *entry[1:], term_idf) - own)

    base = weight(found)
    best = (base * ENTRY_MARGIN, first, found)
    for other in defs:
        if other == first:
            continue
        entry = _documented_param(lines, other, name, resolve)
        if entry and (value := weight(entry)) > best[0]:
            best = (value, other, entry)
    return best[1], best[2]


def _best_named_entry(lines: list[str], first: int, name: str, found: tuple, wanted: list[str],
                      term_idf: dict[str, float], resolve) -> tuple[str, tuple]:
    """Of the parameters the question names that the def at ``first`` documents, the one
    whose entry shares most weight with the question's other words (``store_lfc``'s
    "memory-intensive" for a kernel killed by ``differential_expression(..., store_lfc=True)``);
    ``name`` (the first named) on a tie."""
    named = {t for w in wanted for t in tokenize(w)} | set(wanted)

    def weight(entry: tuple) -> float:
        return sum(term_idf[t] for t in _entry_terms(lines, *entry[1:], term_idf) - named)

    best = (weight(found), name, found)
    for other in wanted:
        entry = _documented_param(lines, first, other, resolve) if other != name else None
        if entry and (value := weight(entry)) > best[0]:
            best = (value, other, entry)
    return best[1], best[2]


def _entry_terms(lines: list[str], doc_first: int, doc_last: int, template: Template | None,
                 term_idf: dict[str, float]) -> set[str]:
    """The query terms of a parameter's docstring entry (its lines after the name, or its
    template's text)."""
    body = template.lines[1:] if template else lines[doc_first + 1 : doc_last + 1]
    return set(tokenize(" ".join(body))) & term_idf.keys()


def _documented_param(lines: list[str], first: int, name: str, resolve=None
                      ) -> tuple[int, int, int, Template | None] | None:
    """(signature line, first and last docstring line, None) of ``name`` in the def at
    ``first`` (0-based), or (signature line, the template's line twice, the template) when
    its entry is a template ``resolve`` finds; None when the def does not take it or its
    docstring does not describe it."""
    if _CLASS.match(lines[first]):
        return _class_documented_param(lines, first, name, resolve)
    sig_line = body = None
    for n in range(first, min(len(lines), first + MAX_SIGNATURE_LINES)):
        if sig_line is None and _takes(lines[n], name):
            sig_line = n
        if re.search(r"\)\s*(->.*)?:\s*(#.*)?$", lines[n]):
            body = n + 1
            break
    if sig_line is None or body is None:
        return None
    if DOCSTRING_ONLY:
        end = _docstring_end(lines, body)
        if end is None:
            return None  # no docstring: a line of the body is no entry
    else:
        end = min(len(lines), body + 400) - 1
    entry = re.compile(rf"^(\s*){re.escape(name)}(\s*:.*)?$")
    for n in range(body, end + 1):
        if n > body and _DEF.match(lines[n]):
            return None
        placeholder = PLACEHOLDER.match(lines[n]) if resolve else None
        if placeholder:
            template = resolve(placeholder.group(2))
            if template is not None and template.name == name:
                return sig_line, n, n, template
            continue
        match = entry.match(lines[n])
        if not match:
            continue
        return sig_line, n, _entry_end(lines, n, len(match.group(1)), len(lines)), None
    return None


DOCSTRING_ONLY = True
"""A def's parameter entry is looked for in its docstring only (a line of its body that is
the bare name, a continued expression, was taken for one)."""


def _docstring_end(lines: list[str], body: int) -> int | None:
    """The line (0-based) that closes the docstring opening at the first non-blank line from
    ``body``; None when that line opens none."""
    n = body
    while n < len(lines) and not lines[n].strip():
        n += 1
    if n >= len(lines):
        return None
    head = lines[n].strip().lstrip("rRuUbB")
    quote = head[:3]
    if quote not in ('"""', "'''"):
        return None
    if quote in head[3:]:
        return n
    for m in range(n + 1, len(lines)):
        if quote in lines[m]:
            return m
    return len(lines) - 1


_CLASS = re.compile(r"^\s*class\s+[A-Za-z_]\w*")


def _class_documented_param(lines: list[str], first: int, name: str, resolve=None
                            ) -> tuple[int, int, int, Template | None] | None:
    """As :func:`_documented_param` for the ``class`` at ``first`` (0-based) whose docstring
    documents its ``__init__`` parameters (numpy style, the scvi-tools convention): the
    signature line is where its ``__init__`` takes ``name`` (or a class attribute
    ``name: type``, a dataclass field); None when neither does or the docstring does not
    describe it."""
    entry = next((e for e in _doc_entries(lines, first, resolve) if e[0] == name), None)
    if entry is None:
        return None
    indent = _indent(lines[first])
    field = re.compile(rf"^\s*{re.escape(name)}\s*:")
    sig_line = None
    for n in range(first + _header_lines(lines, first), len(lines)):
        text = lines[n]
        if text.strip() and _indent(text) <= indent:
            break
        if _indent(text) != indent + 4:
            continue
        if field.match(text):
            sig_line = n
            break
        if re.match(r"^\s*def\s+__init__\s*\(", text):
            for m in range(n, min(len(lines), n + MAX_SIGNATURE_LINES)):
                if _takes(lines[m], name):
                    sig_line = m
                    break
                if _HEADER_END.search(lines[m]):
                    break
            break
    if sig_line is None:
        return None
    return sig_line, entry[1], entry[2], entry[3]


NOTES_SHARE = 0.5
"""The most of the budget the lines under the title may take (a small ``--budget`` with the
notes of another release: the passages' headers and the source facts need the rest)."""


def _fitting_notes(notes: list[str], room: int) -> list[str]:
    """``notes`` from the first while they fit in ``room`` characters, then one line saying
    how many were left out (all of them when they fit)."""
    if _size(notes) <= room:
        return notes
    kept: list[str] = []
    for line in notes:
        more = f"  (+{len(notes) - len(kept)} more lines: a larger --budget, or --json)"
        if _size(kept + [line, more]) > room:
            return kept + [more]
        kept.append(line)
    return kept


def _render(pack: Pack, question: str, version: str) -> None:
    """Text lines of the pack, filling the budget in rank order: the source facts, pitfalls
    and next commands are sized first, the passages get the rest (at least
    :data:`MIN_PASSAGES` headers)."""
    short_q = clip(question, 100)
    head = [f"scvi-tools {version}: {short_q}"]
    if not pack.has_tree and not pack.source_reader.ok:
        head.append("(no local scvi-tools tree: titles and upstream URLs only; "
                    "run fetch_tree.py once to get the passages themselves)")
    pack.notes_at = len(head)
    limit = pack.budget * CHARS_PER_TOKEN
    pack.notes = _fitting_notes(pack.notes, int(limit * NOTES_SHARE) - _size(head))
    head.extend(pack.notes)
    tail, marks = _render_tail(pack)
    tail_size = sum(_size(g[1:]) for g in tail) + _size(list(dict.fromkeys(g[0] for g in tail)))
    room = limit - _size(head) - min(tail_size, _tail_share(tail, question, limit))
    _grow(pack, room - sum(len(_header(p, pack.has_tree)) + 1 for p in pack.passages))
    body: list[str] = []
    kept: list[PackPassage] = []
    for passage in pack.passages:
        header = _header(passage, pack.has_tree)
        text = list(passage.text)
        need = _size([header] + text)
        if need > room - _size(body):
            if len(kept) >= MIN_PASSAGES and body:
                break
            # Cut the passage to what fits; the header always shows where it continues.
            while text and _size([header] + text) > room - _size(body):
                text.pop()
            if text:
                passage.end = passage.start + len(text) - 1
            passage.text = text
            header = _header(passage, pack.has_tree)
        body.append(header)
        body.extend(text)
        kept.append(passage)
    pack.passages = kept
    lines = head + body
    used = _size(lines)
    shown = "\n".join(body + [t for group in tail for t in group[1:]])
    # The next commands are sized first: they are what to run when the rest is not enough.
    notes = "\n".join(t for p in kept if p.path == CHANGELOG for t in p.text)
    nexts = [f"  next: {cmd}" for cmd in _needed(pack.next_commands, shown, notes)]
    if _size(lines) + _size(nexts) > limit:
        nexts = []
    room_left = limit - _size(nexts)
    headed: set[str] = set()
    spans: list[Span] = [Span("passage", p.path, p.start, p.end, n) for n, p in enumerate(kept)]
    tail_start = error_end = len(lines)
    for (heading, *group), group_marks in zip(tail, marks, strict=True):
        first = group[:1] if heading in headed else [heading] + group[:1]
        if used + _size(first) > room_left and CLIP_FIRST_LINE and group \
                and heading == SOURCE_HEADING:
            # A long header line (a def's whole signature) is cut to the room left rather
            # than leaving a better-ranked fact out for a shorter one after it.
            width = room_left - used - _size(first[:-1]) - 1
            if width >= MIN_FIRST_LINE_CHARS:
                group = [clip(group[0], width)] + group[1:]
                first = first[:-1] + group[:1]
        if used + _size(first) > room_left:
            continue  # no room for this fact's first line: leave the whole fact out
        if heading not in headed:
            headed.add(heading)
            lines.append(heading)
            used += len(heading) + 1
        shown_lines = 0
        for line in group:
            if used + len(line) + 1 > room_left:
                if lines[-1].startswith(_LABELS):  # a label whose lines do not fit: drop it
                    used -= len(lines.pop()) + 1
                    shown_lines -= 1
                else:
                    used += _cut_label(lines)  # "lines 536-541:" over the lines shown
                break
            lines.append(line)
            used += len(line) + 1
            shown_lines += 1
        spans.extend(_shown_spans(group_marks, shown_lines))
        if heading.startswith(_ERROR_PARTS):
            error_end = len(lines)
    # What the question's error text points at (its traceback's frames, the raise sites, the
    # lines Python's own message names) is read first: it goes above the passages. The
    # budget chose the same lines either way.
    lines = head + lines[tail_start:error_end] + body + lines[error_end:]
    pack.lines = lines + nexts
    priors = READ_PRIOR_LONG if LONG_PRIORS and long_question(question) else READ_PRIOR
    pack.ranges = [{"path": s.path, "lines": [s.start, s.end], "kind": s.kind}
                   for s in _merged(_reading_order(spans, _span_terms(pack), priors))]


def _tail_share(tail: list[list[str]], question: str, limit: int) -> int:
    """The characters the tail (error parts, model facts, pitfalls, source facts) may take:
    the question's share of the budget (:func:`source_share`), more when what the error
    text points at and the first pitfall need it, or the parts above the source facts and
    the first fact's first lines (:data:`SOURCE_KEPT`), up to the long questions' share."""
    # What the error text points at fills the tail's share first; the first pitfall is kept
    # room beside it (a pasted message that a pitfall explains had its raise sites and the
    # passages leave the pitfall out).
    before = [g for g in tail if g[0].startswith(_ERROR_PARTS) or g[0] == MODEL_FACTS_HEADING]
    pitfall = next((g for g in tail if g[0] == PITFALLS_HEADING), None)
    share = int(limit * source_share(question))
    if pitfall and before:
        share = max(share, _size([t for g in before for t in g]) + _size(pitfall[:2]))
    first_source = next((g for g in tail if g[0] == SOURCE_HEADING), None)
    if SOURCE_KEPT and first_source:
        # The parts above the source facts (pitfalls above all) leave room for the first
        # fact's header and its first lines, within the long questions' share.
        above = tail[:tail.index(first_source)]
        need = _size([t for g in above for t in g[1:]]) + _size(
            list(dict.fromkeys(g[0] for g in above)) + first_source[:1 + SOURCE_KEPT])
        share = max(share, min(need, int(limit * LONG_SOURCE_SHARE)))
    return share


SOURCE_KEPT = 3
"""Lines of the first source fact (its header and the lines after it) that the parts above
it in the tail (pitfalls, model facts) leave room for (0: none kept)."""

CLIP_FIRST_LINE = True
MIN_FIRST_LINE_CHARS = 120
"""A source fact's first line (path:line, name and header) is cut to the room left when at
least this many characters are left, rather than the fact left out."""

MODEL_FACTS_HEADING = "== model facts (from the source)"
SOURCE_HEADING = "== source"
PITFALLS_HEADING = "== pitfalls"
HINT_MARK = "(a name of your --also) "
"""Before a pitfall the hint's names matched, not the question's words."""
_ERROR_PARTS = ("== traceback", "== raised at", "== where Python's error arises")
"""The parts of the tail printed above the passages (they come first in the tail too)."""


def _needed(commands: list[str], shown: str, notes: str = "") -> list[str]:
    """The next commands whose target the pack does not already show: ``--kwarg X`` when
    ``X`` is nowhere in it, ``--symbol A.B`` when no ``def B(``/``class B`` is,
    ``--changes X`` when no release note it quotes (``notes``) names ``X``; ``--compare``
    always (no pack shows how a def changed)."""
    out = []
    for cmd in commands:
        if " --compare " in cmd:
            out.append(cmd)
            continue
        flag, _, target = cmd.rpartition(" ")
        name = target.strip("'\"").split(".")[-1]
        if flag.endswith("--changes"):
            if name in notes:
                continue
        elif flag.endswith("--symbol"):
            if f"def {name}(" in shown or f"class {name}" in shown:
                continue
        elif name and name in shown:
            continue
        out.append(cmd)
    return out[:MAX_NEXT]


def _header(passage: PackPassage, has_tree: bool) -> str:
    header = f"== {passage.path}:{passage.start}-{passage.end} | {passage.section}"
    if passage.after:  # the release's date gives way to what matters more: which side it is
        header = _NOTES_DATE.sub("", header, count=1) + f" (after {passage.after})"
    if not has_tree and passage.url:
        header += f" | {passage.url}#L{passage.start}-L{passage.end}"
    return header


def _grow(pack: Pack, room: int) -> None:
    """Read each passage's lines, then let passages grow, best first, towards their ``read``
    span (the next line first, then the one before) while the text fits in ``room``."""
    reader = pack.reader
    for passage in pack.passages:
        passage.text = reader.lines(passage.path, passage.start, passage.end)
    if not reader.ok:
        return
    used = sum(_size(p.text) for p in pack.passages)
    if LEAD_INS:
        for passage in pack.passages:
            used += _carry_lead_in(passage, reader, room - used)
    absorbed: set[int] = set()
    for passage in pack.passages:
        if id(passage) in absorbed:
            continue
        lo, hi = passage.read if passage.read[0] else (passage.start, passage.end)
        while True:
            grown = False
            for first, last in ((passage.start, passage.end + 1), (passage.start - 1, passage.end)):
                if not (lo <= first and last <= hi) or (first, last) == (passage.start, passage.end):
                    continue
                line_no = last if last > passage.end else first
                # A line another passage of the same file shows: that passage joins this one
                # (its lines are printed once, here, and its room is already counted).
                other = next((p for p in pack.passages if p is not passage
                              and id(p) not in absorbed and p.path == passage.path
                              and p.start <= line_no <= p.end), None)
                if other is not None:
                    absorbed.add(id(other))
                    first, last = min(first, other.start), max(last, other.end)
                    lo, hi = min(lo, first), max(hi, last)
                    passage.start, passage.end = first, last
                    passage.text = reader.lines(passage.path, first, last)
                    grown = True
                    break
                line = reader.lines(passage.path, line_no, line_no)
                if not line or used + _size(line) > room:
                    continue
                passage.start, passage.end = first, last
                passage.text = reader.lines(passage.path, first, last)
                used += _size(line)
                grown = True
                break
            if not grown:
                break
    pack.passages = [p for p in pack.passages if id(p) not in absorbed]


LEAD_INS = True
"""A passage whose last line ends with a colon ("Here's an example:") is grown, before any
other growth, over the block it introduces (a code block, a list, a paragraph)."""

LEAD_IN_LINES = 16
"""The most lines a lead-in's block may add."""

LEAD_IN_CHARS = 600
"""A lead-in's block this short is added even past the passages' room: the passages ranked
last make way for it when the pack is printed."""


def _carry_lead_in(passage: PackPassage, reader: _Reader, room: int) -> int:
    """Grow ``passage`` over the block after its closing lead-in line (within its ``read``
    span, :data:`LEAD_IN_LINES` at most, when it fits in ``room``); the characters added."""
    text = [t for t in passage.text if t.strip()]
    if not text or not text[-1].rstrip().endswith(":"):
        return 0
    hi = passage.read[1] if passage.read[0] else passage.end
    last = min(hi, passage.end + LEAD_IN_LINES)
    lines = reader.lines(passage.path, passage.end + 1, last)
    end, fenced, seen = passage.end, False, False
    # The lines start mid-document: a fence may be indented by a list item above them.
    roles = line_roles(lines, any_indent=True)
    for n, (line, role) in enumerate(zip(lines, roles), start=passage.end + 1):
        fenced = role in (OPENER, BODY)
        if role in (OPENER, CLOSER):
            end, seen = n, True
            if role == CLOSER:
                break  # the code block's closing fence
            continue
        if not line.strip():
            if seen and not fenced:
                break  # the block's end
            continue
        end, seen = n, True
    if end == passage.end or fenced:
        return 0
    added = reader.lines(passage.path, passage.end + 1, end)
    if _size(added) > max(room, LEAD_IN_CHARS):
        return 0
    passage.end = end
    passage.text = passage.text + added
    return _size(added)


def _with_lines(site: dict, reader: _Reader) -> dict:
    """``site`` with ``text``: the raising statement's first lines, as they are in the tree."""
    return dict(site, text=reader.lines(site["path"], site["line"], site["line"] + RAISE_LINES - 1))


def _render_tail(pack: Pack) -> tuple[list[list[str]], list[list[Span]]]:
    """A traceback's frames, raise sites, model facts, pitfalls (short and specific, so
    first), then source facts, as groups of lines, each led by its part's heading; a group is
    shown from its first line on while the budget lasts, and a part's heading with the first
    of its groups that is shown. With each group, the spans of the tree it shows (their
    ``at``: the group's line, heading not counted, that shows them first)."""
    parts: list[tuple[str, list[tuple[list[str], list[Span]]]]] = []
    if pack.frames:
        parts.append(("== traceback: its scvi-tools frames, outermost first",
                      _frame_groups(pack)))
    sites = []
    for number, site in enumerate(pack.raise_sites):
        group = [f"{site['path']}:{site['line']} {site.get('function') or ''} "
                 f"{site.get('kind', 'raise')} {site.get('exception') or ''}: "
                 f"{clip(str(site.get('template', '')), 200)}"]
        if site.get("condition"):
            group.append(f"  when: {clip(str(site['condition']), 240)}")
        text = site.get("text") or []
        group.extend(f"   {t}" for t in text)
        if number == 0 and site.get("same_message"):
            # Not "raised here": the text fits each site of the message alike, and the first
            # is the index's order (after its own lines, which are the evidence).
            others = [f"{s['path']}:{s['line']} {str(s.get('function') or '').rsplit('.', 2)[-2]}"
                      for s in site.get("also") or []]
            below = len(pack.raise_sites) > 1 and pack.raise_sites[1].get("same_message")
            count = max(site.get("same_sites", 0), 1 + len(others) + bool(below))
            group.append(f"  one of {count} sites with this message (the text does not say which;"
                         " a traceback's innermost frame would); also at: " + ", ".join(
                             others + ["the next site below"] * bool(below)))
        sites.append((group, [Span("raise", site["path"], site["line"],
                                   site["line"] + max(len(text), 1) - 1, 0)]))
    told = "the message the question repeats" if any(site.get("echoed")
                                                     for site in pack.raise_sites) \
        else "the question's error text"
    parts.append((f"== raised at ({told})", sites))
    reading = ("the call passing the keyword twice"
               if pack.access_sites and all(site["kind"] == "keyword"
                                            for site in pack.access_sites)
               else "the code reading what it names")
    parts.append((f"== where Python's error arises ({reading})",
                  [([f"{site['path']}:{site['line']}  ({site['message']}"
                     f"{SAFE_NOTE if site.get('safe') else ''})"]
                    + [f"   {t}" for t in site["text"]],
                    [Span("raise", site["path"], site["first"],
                          site["first"] + len(site["text"]) - 1, 0)])
                   for site in pack.access_sites]))
    at = f"{pack.cites_release} " if pack.cites_release else ""  # "[1.5.1 src/...:79]"
    parts.append((MODEL_FACTS_HEADING,
                  [([f"- {f['fact']} [{at}{f['cite']}]"], _cited("model_fact", f["cite"]))
                   for f in pack.model_facts]))
    parts.append((PITFALLS_HEADING, [([f"- {HINT_MARK * bool(p.get('via'))}{p['text']} "
                                        f"[{at}{p['cite']}]"],
                                       _cited("pitfall", p["cite"])) for p in pack.pitfalls]))
    sources = []
    for fact in pack.sources:
        # With a parameter's own lines below it, the header needs only its start.
        signature = clip(fact.signature, SHORT_SIGNATURE_CHARS) if fact.param else fact.signature
        sig = f"  {signature}" if signature else ""
        symbol = f" {fact.symbol}" if fact.symbol else ""
        group = [f"{fact.path}:{fact.line}{symbol}{sig}"]
        spans = [Span("def", fact.path, fact.line, _header_last(pack, fact), 0)]
        if fact.param:
            first, last = fact.param_lines
            # Its signature line (with the default) unless the header shows it already.
            doc = fact.param_doc[1:] if fact.param_doc[0].strip() in signature else fact.param_doc
            # The span is the entry's lines: a signature line shown above them is not in it.
            lead = max(len(doc) - (last - first + 1), 0)
            spans.append(Span("param", fact.param_path or fact.path, first, last,
                              len(group) + lead))
            goes_on = f"; the entry goes on to line {fact.param_end}" if fact.param_end else ""
            group.append(f"  param {fact.param} ({fact.param_path or fact.path}:{first}-{last}"
                         f"{goes_on}):")
            group.extend(f"   {t.strip()}" for t in doc)
            if fact.param_default:
                group.append(f"  ! runs with the signature's {fact.param_default['code']}, not "
                             f"the {fact.param_default['stated']} this entry states")
        if fact.window:
            first, last = fact.window
            spans.append(Span("window", fact.path, first, last, len(group)))
            group.append(f"  lines {first}-{last}:")
            group.extend(f"   {t}" for t in _dedented(fact.window_text))
        sources.append((group, spans))
    parts.append((SOURCE_HEADING, sources))
    # Each group carries its part's heading; _render prints a heading once, with the first
    # group of its part that fits.
    groups = [([heading] + group, spans) for heading, found in parts for group, spans in found]
    return [g for g, _ in groups], [s for _, s in groups]


class Span:
    """A span of the tree the pack shows: ``kind`` ("passage", "raise", "frame",
    "model_fact", "pitfall", "def", "param", "window"), ``path``, ``start``-``end``
    (1-based, inclusive) and ``at``: the passage's rank, or the line of its group (heading
    not counted) that introduces it."""

    def __init__(self, kind: str, path: str, start: int, end: int, at: int) -> None:
        self.kind, self.path, self.start, self.end, self.at = kind, path, start, end, at


def _cited(kind: str, cite: str) -> list[Span]:
    """The span of a ``path:line`` citation (none when it is not one)."""
    path, _, line = str(cite).rpartition(":")
    return [Span(kind, path, int(line), int(line), 0)] if path and line.isdigit() else []


def _shown_spans(marks: list[Span], shown: int) -> list[Span]:
    """The spans of a group whose first ``shown`` lines are shown: those introduced among
    them; a span of a labelled block (a window, a parameter's entry: its lines follow line
    ``at``, one each) cut short ends at its last line shown, and is left out when none is."""
    out = []
    for span in marks:
        if span.at >= shown:
            continue
        if span.kind in ("window", "param", "frame") and span.at:
            below = shown - span.at - 1
            if below < 1:
                continue
            span.end = min(span.end, span.start + below - 1)
        out.append(span)
    return out


def _header_last(pack: Pack, fact: SourceFact) -> int:
    """The last line of the header the fact's first line quotes: a signature written over
    several lines shows on one (``doublet_ratio: int = 2,`` is the header's)."""
    lines = pack.source_reader.file(fact.path) if pack.source_reader and fact.signature \
        else None
    if not lines or not 1 <= fact.line <= len(lines):
        return fact.line
    return fact.line + _header_lines(lines, fact.line - 1) - 1


MERGE_GAP = 8
"""A range (``ranges`` of ``--json``) within this many lines of an earlier one of the same
file joins it, in the earlier one's place: a parameter's entry and the window below it, two
windows of one def are one read. On the tuning splits and the even trial rounds the answering
line was in the first three ranges 11 more times in 914 (mean length of the first three 5.9
-> 8.0 lines); -1 joins none."""
MERGE_MAX = 40
"""A joined range stays under this many lines."""


def _merged(spans: list[Span]) -> list[Span]:
    """``spans`` in order, each joined to the first earlier one of its file it lies within
    :data:`MERGE_GAP` lines of (see there); the spans given are not changed."""
    if MERGE_GAP < 0:
        return spans
    out: list[Span] = []
    for span in spans:
        for prev in out:
            if prev.path == span.path and span.start <= prev.end + MERGE_GAP + 1 \
                    and span.end >= prev.start - MERGE_GAP - 1 \
                    and max(prev.end, span.end) - min(prev.start, span.start) < MERGE_MAX:
                prev.start, prev.end = min(prev.start, span.start), max(prev.end, span.end)
                break
        else:
            out.append(Span(span.kind, span.path, span.start, span.end, span.at))
    return out


def _reading_order(spans: list[Span], terms=None, priors_of: dict | None = None) -> list[Span]:
    """The spans to read first, first (``ranges`` in ``--json``): each span that may hold the
    answer weighs its kind's and rank's share of answering lines (:data:`READ_PRIOR`; a
    release note's passage is ranked among the notes, "note", when the table has them) times
    one plus :data:`READ_TERMS_WEIGHT` times the share of the question's term weight its
    lines hold (``terms(span)``, 0-1); the heaviest first, ties in the pack's order; then
    the rest (defs' header lines, model facts, frames) as the pack shows them."""
    seen: dict[str, int] = {}
    weighed = []
    table = priors_of or READ_PRIOR
    for n, span in enumerate(spans):
        kind = "note" if span.kind == "passage" and span.path == CHANGELOG and "note" in table \
            else span.kind
        rank = seen.get(kind, 0)
        seen[kind] = rank + 1
        priors = table.get(kind, ())
        prior = priors[min(rank, len(priors) - 1)] if priors else 0.0
        if prior > 0:
            share = terms(span) if terms else 0.0
            weighed.append((-prior * (1 + READ_TERMS_WEIGHT * share), n, span))
    weighed.sort(key=lambda item: item[:2])
    first = [span for _, _, span in weighed]
    taken = {id(s) for s in first}
    return first + [s for s in spans if id(s) not in taken]


READ_PRIOR = {"raise": (0.67, 0.2), "passage": (0.23, 0.11, 0.02, 0.05, 0.0),
              "note": (0.29, 0.13, 0.02), "param": (0.19, 0.05),
              "window": (0.08, 0.06, 0.02, 0.03), "pitfall": (0.06,)}
"""Of the spans of each kind, in the pack's order, the share that holds a gold answering
line, measured on the tuning splits and the even trial rounds (session 42; the last figure
for every later one): a raise site of the question's error text 0.67, the first release
note (a CHANGELOG passage, "note") 0.29, the first other passage 0.23, a parameter's entry
0.19; defs' header lines (0.03), model facts and frames are read after these."""
READ_PRIOR_LONG = {"raise": (0.65, 0.22), "passage": (0.07, 0.04, 0.03, 0.07, 0.0),
                   "note": (0.16, 0.05, 0.03), "param": (0.10,),
                   "window": (0.14, 0.14, 0.04, 0.01), "pitfall": (0.15, 0.06)}
"""The same shares for a question of :data:`LONG_QUESTION_CHARS` or more (session 42: 163
long questions of the tuning splits and the even trial rounds): the first two source
windows and the first pitfall answer more often than the first passage of the docs. Release
notes and the docs' passages counted apart: on the tuning splits and the even trial rounds,
with and without the hint, 7 more answering lines in the first three ranges of 914 (2 more
with passages counted together)."""
LONG_PRIORS = True
READ_TERMS_WEIGHT = 32.0
"""How much a span's share of the question's terms lifts it. On the tuning splits (session
35) the answering line was in the first three ranges for 178 of 312 questions in the order
before (a fixed order of kinds), 181 with the priors alone, 186 / 188 / 189 / 190 with 4 /
16 / 32 / 64; the text pack is the same either way."""


def _span_terms(pack: Pack):
    """``span -> share`` of the question's term weight (``pack.term_idf``) that the span's
    lines hold: passages and raise sites read where passages are quoted, the rest where
    source facts are read."""
    weights = pack.term_idf
    total = sum(weights.values())
    if not total:
        return None

    def share(span: Span) -> float:
        reader = pack.reader if span.kind in ("passage", "raise", "pitfall", "model_fact") \
            else pack.source_reader
        found = set(tokenize("\n".join(reader.lines(span.path, span.start, span.end))))
        return sum(w for t, w in weights.items() if t in found) / total
    return share


def _dedented(lines: list[str]) -> list[str]:
    """``lines`` without the indentation all their non-blank lines share (the text pack's
    windows; ``--json`` keeps them as in the tree)."""
    if not DEDENT:
        return lines
    indents = [len(t) - len(t.lstrip(" ")) for t in lines if t.strip()]
    cut = min(indents, default=0)
    return [t[cut:] if t.strip() else "" for t in lines]


DEDENT = True
"""The text pack prints a source window without its lines' common indentation (a method body
is 8 spaces in): 142 characters a pack at the tuning splits' mean, for 2 more phrase hits."""


def _frame_groups(pack: Pack) -> list[tuple[list[str], list[Span]]]:
    """The chain of a traceback's scvi-tools frames (module path under ``scvi/``, pasted line,
    function), then the innermost frame in the tree: its def and the lines around it, unless
    a raise site shown above is that statement; then the outermost (the method the user
    called) with its header, when it is another def. Each group with its spans."""
    shown = pack.frames if len(pack.frames) <= MAX_CHAIN else (
        pack.frames[:1] + [None] + pack.frames[1 - MAX_CHAIN:])
    chain = " > ".join("..." if f is None else
                       f"{f.path[len('src/scvi/'):]}:{f.line} {f.function.rsplit('.', 1)[-1]}"
                       for f in shown)
    groups: list[tuple[list[str], list[Span]]] = [([f"  {chain}"], [])]
    inner, outer = pack.frames[-1], pack.frames[0]
    if not pack.source_reader.ok:
        return groups
    if not inner.found:
        groups.append(([f"  {inner.path}:{inner.line} is not in this tree: the user's "
                        "scvi-tools release differs (check_env.py tells it)"], []))
        return groups
    path, at = inner.tree_path, inner.tree_line
    lines = pack.source_reader.file(path)
    elsewhere = f" in {inner.path}" if path != inner.path else ""
    moved = "" if inner.found == "same" else (
        f"; line {inner.line}{elsewhere} in the user's release" if inner.found == "moved"
        else f"; its line {inner.line}{elsewhere} is not in this release, only the def is")
    group = [f"{path}:{at} {inner.symbol} (innermost scvi-tools frame{moved})"]
    spans = [Span("frame", path, at, at, 0)]
    raised = any(site["path"] == path and abs(site["line"] - at) <= RAISE_LINES
                 for site in pack.raise_sites)
    if inner.found != "def" and not raised:
        heads = _enclosing_headers(lines, at - 1)
        first = max(at - FRAME_BEFORE, heads[0] + 2 if heads else 1)
        last = min(at + FRAME_AFTER, len(lines))
        spans = [Span("frame", path, first, last, 1)]
        group.append(f"  lines {first}-{last}:")
        group.extend(f"   {t}" for t in pack.source_reader.lines(path, first, last))
    groups.append((group, spans))
    if outer is not inner and outer.found and outer.symbol and outer.symbol != inner.symbol:
        outer_lines = pack.source_reader.file(outer.tree_path)
        head = _enclosing_headers(outer_lines, outer.tree_line - 1)
        if outer.found == "def":
            head = [outer.tree_line - 1]
        if head and any(f.path == outer.tree_path and f.line == head[0] + 1
                        for f in pack.sources):
            return groups  # a source fact below shows that def
        signature = _signature(outer_lines, head[0]) if head else ""
        line = head[0] + 1 if head else outer.tree_line
        groups.append(([f"{outer.tree_path}:{line} {outer.symbol} (outermost scvi-tools "
                        f"frame)  {clip(signature, SHORT_SIGNATURE_CHARS)}"],
                       [Span("frame", outer.tree_path, line, line, 0)]))
    return groups


_LABELS = ("  lines ", "  param ")
"""Lines of a source fact or raise site that introduce the lines below them."""
_WINDOW_LABEL = re.compile(r"  lines (\d+)-(\d+):$")


def _cut_label(lines: list[str]) -> int:
    """When the budget cuts the window under the last ``  lines a-b:`` label, that label
    made to name the lines shown (``a-c``); the change in characters."""
    for at in range(len(lines) - 1, -1, -1):
        if lines[at].startswith(_LABELS):
            label = _WINDOW_LABEL.fullmatch(lines[at])
            shown = len(lines) - at - 1
            if not label or shown < 1:
                return 0
            first, last = int(label[1]), int(label[2])
            if first + shown - 1 >= last:
                return 0
            new = f"  lines {first}-{first + shown - 1}:"
            change = len(new) - len(lines[at])
            lines[at] = new
            return change
    return 0


def _size(lines: list[str]) -> int:
    return sum(len(t) + 1 for t in lines)

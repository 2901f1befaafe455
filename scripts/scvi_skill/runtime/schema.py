"""The index contracts: what ``references/index.json`` and ``references/search_index.json`` hold.

One definition that the writer (:mod:`scvi_skill.build`) and the readers (this folder,
:mod:`scvi_skill.check`) import, so a field cannot mean one thing to the build and another to
the resolver.

- ``index.json``: :class:`Index` and its entries (:class:`Doc`, :class:`Section`,
  :class:`Tutorial`, :class:`Symbol`, :class:`Param`, :class:`TestFile`,
  :class:`SourceEntry`, :class:`ProblemEntry`). TypedDicts with ``total=False``: they name
  and type the keys for readers and type checkers and cost nothing at run time (the JSON is
  read as plain dicts). ARCHITECTURE.md describes each field.
- ``search_index.json``: rows are JSON arrays read by position; the NamedTuples
  (:class:`DocRow`, :class:`SectionRow`, :class:`SourceRow`, :class:`CardRow`,
  :class:`PassageRow`) name the positions, and :class:`Slot` names the posting slots of
  ``terms``. ``SectionRow(*row)`` or ``row[SectionRow._fields.index("doc_id")]`` read a row;
  a NamedTuple serialises to the same JSON array, so writing one changes no byte.
- :data:`INDEX_FORMAT`, :data:`SEARCH_INDEX_FORMAT`: bump when a reader of the old format
  would misread the new one; :data:`REGENERATE` is the command every "stale index" message
  gives.
- What the index's values are cut to or built from: :data:`MAX_SUMMARY_CHARS`,
  :data:`SETUP_METHODS`, :data:`TRIVIAL_BASES`, :data:`FIELD_BASES`.

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, TypedDict

from .formats import (  # noqa: F401  (re-exported: the contracts are read from here)
    INDEX_FORMAT,
    MESSAGES_FORMAT,
    REGENERATE,
    SEARCH_INDEX_FORMAT,
    SLOT_CARD,
    SLOT_DEF,
    SLOT_DOC,
    SLOT_PASSAGE,
    SLOT_SECTION,
    SLOT_SOURCE,
)

MAX_SUMMARY_CHARS = 160
"""``summary`` of docs and symbols: at most this many characters (cut ones end in ``...``)."""
SETUP_METHODS = ("setup_anndata", "setup_mudata")
"""Class methods that register AnnData/MuData fields (their symbols carry ``registers``)."""
TRIVIAL_BASES = frozenset({"object", "ABC", "Protocol", "Generic", "ABCMeta"})
"""External base classes, by last dotted part with any subscript dropped (``abc.ABC``,
``typing.Generic[T]``), that add neither ``__init__`` parameters nor members worth checking.
A class whose other bases are all in the tree still has ``params_known``."""
FIELD_BASES = frozenset({"NamedTuple", "Enum", "TypedDict"})
"""External bases whose subclasses declare their members as class-body fields: the SKILL.md
checker treats such a class as fully known (its members are the ones the index lists). They
do add ``__init__`` parameters, so the build does not count them as trivial."""


def base_name(expr: str) -> str:
    """The last dotted part of a base-class expression, subscript dropped:
    ``typing.Generic[T]`` -> ``Generic``."""
    return expr.split("[", 1)[0].rsplit(".", 1)[-1].strip()


# -- index.json --------------------------------------------------------------------------------


class Param(TypedDict, total=False):
    name: str
    kind: str
    """An ``inspect.Parameter`` kind name: ``POSITIONAL_OR_KEYWORD``, ``KEYWORD_ONLY``,
    ``VAR_KEYWORD``, ..."""
    default: str
    """Source text, cut at 40 characters; absent when the parameter has no default."""


_AsyncKey = TypedDict("_AsyncKey", {"async": bool}, total=False)
"""``async: true`` marks an ``async def`` (a keyword: only the functional form can spell it)."""


class Symbol(_AsyncKey, total=False):
    qualname: str
    """Where it is defined: ``scvi.model._scvi.SCVI.setup_anndata``."""
    public: list[str]
    """The dotted names users write for it (sorted; empty for private symbols)."""
    kind: str
    """``module``, ``class``, ``function``, ``method``, ``property`` or ``variable``."""
    path: str
    line: int
    end: int
    signature: str
    params: list[Param]
    params_known: bool
    """False when the source cannot say (do not reject a keyword for it)."""
    var_kwargs: bool
    summary: str
    templated: bool
    bases: list[str]
    """Base-class expressions as written."""
    decorators: list[str]
    registers: list[str]
    init_from: str
    mro: list[str]
    """Classes: the qualnames of their in-index bases and mixins, in method resolution
    order, the class itself excluded."""
    uses: dict[str, str]
    """Classes: ``module``/``training_plan``/``data_splitter`` -> qualname."""


class Section(TypedDict, total=False):
    title: str
    level: int
    start: int
    end: int
    """Last line including subsections."""
    body_end: int
    """Last non-blank line of the section's own text (subsections excluded)."""
    parents: list[str]
    symbols: list[str]
    text: str


class Doc(TypedDict, total=False):
    path: str
    title: str
    summary: str
    topic: str
    n_lines: int
    sections: list[Section]
    toctree: list[str]
    includes: list[str]
    autosummary: list[str]


class Tutorial(TypedDict, total=False):
    notebook: str
    title: str
    description: str
    tags: list[str]
    url: str
    notebook_url: str | None
    card_in: str
    line: int
    end: int


class TestFile(TypedDict, total=False):
    path: str
    symbols: list[str]
    n_tests: int


class SourceEntry(TypedDict, total=False):
    group: str
    topic: str
    rank: int
    path: str
    line: int
    symbol: str
    why: str


class ProblemEntry(TypedDict, total=False):
    path: str
    line: int
    message: str


_GeneratedKey = TypedDict("_GeneratedKey", {"_generated": str}, total=False)
"""The generated-file notice, the first key of both files."""


class Index(_GeneratedKey, total=False):
    format: int
    scvi_tools_version: str
    tree_sha256: str
    upstream: str
    docs: list[Doc]
    tutorials: list[Tutorial]
    symbols: list[Symbol]
    namespaces: dict[str, str]
    tests: list[TestFile]
    source_entries: list[SourceEntry]
    routing: dict
    problems: list[ProblemEntry]


# -- search_index.json ---------------------------------------------------------------------------


class DocRow(NamedTuple):
    """``docs[doc_id]``."""

    path: str
    title: str
    topic: str


class SectionRow(NamedTuple):
    """``sections[section_id]``: ``start``..``end`` are the lines of the scored text."""

    doc_id: int
    title: str
    start: int
    end: int


class SourceRow(NamedTuple):
    """``sources[source_id]``: a file under ``src/`` or ``tests/`` and its main public name."""

    path: str
    symbol: str
    line: int


class CardRow(NamedTuple):
    """``cards[card_id]``: a tutorial card in a section's own body."""

    section_id: int
    title: str
    start: int
    end: int


class PassageRow(NamedTuple):
    """``passages[passage_id]``: a part of a section's own body, ranked and quoted alone."""

    section_id: int
    start: int
    end: int


class Slot(IntEnum):
    """Positions in ``terms[term]``: which kind of unit each posting list scores."""

    SECTION = SLOT_SECTION
    SOURCE = SLOT_SOURCE
    DOC = SLOT_DOC
    CARD = SLOT_CARD
    PASSAGE = SLOT_PASSAGE
    DEF = SLOT_DEF


# -- messages.json -------------------------------------------------------------------------------

class MessageRow(NamedTuple):
    """``sites[i]`` of ``messages.json``: one raise, warning, log or print call of
    ``src/scvi``; the file's ``fields`` key lists these names in this order."""

    path: str
    """Tree-relative POSIX path of the file."""
    line: int
    """1-based line of the ``raise``, ``assert``, ``warn``, logger or ``print`` call."""
    kind: str
    """``raise`` (``assert`` included), ``warn``, ``log`` or ``print``."""
    exception: str
    """The class as written (``ValueError``, ``UserWarning``, ``AssertionError``) or the logger
    call (``logger.warning``)."""
    function: str
    """Dotted name of the enclosing module, class and function:
    ``scvi.data.fields._layer_field.LayerField.transfer_field``."""
    condition: str
    """Source text of the function's enclosing ``if`` tests, outermost first, joined by
    ``"; "`` (all hold; ``not (test)`` in an ``else``), ``except Class`` in a handler,
    ``not (test)`` for an ``assert``; ``""`` when none."""
    template: str
    """The message with each value as ``{source text}``; a literal brace is doubled."""


class MessageIndex(_GeneratedKey, total=False):
    format: int
    scvi_tools_version: str
    fields: list[str]
    sites: list[list]
    """:class:`MessageRow` rows as JSON arrays, sorted by path, line, kind, template."""

"""Precomputed ranking data for ``resolve_docs.py``: ``build(index) -> dict``.

``refresh_maps.py`` calls :func:`build` with the index it has just written and saves the result
as ``references/search_index.json``. The query side (``scvi_skill.runtime.rank``) then answers without
tokenizing the corpus: it tokenizes the question, looks up a few posting lists and adds.

Units. A *section* is one heading-delimited part of a document (the ``sections`` of
``index["docs"]``); its lines are those of the text scored for it: its heading and own body,
without its subsections. A *card* is one tutorial card (``index["tutorials"]``): when a
section holding cards is a document's best, the best-scoring card is what to read. A *source*
is one file under ``src/`` or ``tests/``: its path, the names it defines, their docstring
summaries and parameters, and (with ``read_lines``) the less common plain words of its text.
Both are scored with
BM25F: per unit and term, the field frequencies are weighted, length-normalised per field,
summed and saturated once, then multiplied by the term's idf. That whole product depends only
on (term, unit), so it is computed here and stored as an integer *impact*; a query score is the
sum of the impacts of its terms.

Format (``format`` 1, all ids are list positions)::

    docs       [[path, title, topic], ...]
    sections   [[doc_id, title, start, end], ...]   start..end: the lines of the scored
               text (the heading and its own body, subsections excluded); title is
               "parent > title" below level 2
    sources    [[path, symbol, line], ...]      symbol: the file's main public name
    cards      [[section_id, title, start, end], ...]   tutorial cards in a section's own
               body: they choose what to read of a matched section, not its score
    sec_src    [[source_id, ...], ...]          per section: files defining symbols it names
    src_doc    [[doc_id, ...], ...]             per source: docs that name its symbols
    src_uses   [[[source_id, kind, public name, line], ...], ...]   per source: the module
               (kind 0), training plan (1), data splitter (2) and mixin (3) classes its
               model classes use, in other files
    defs       [[source_id, first, last], ...]    every def and class of the src/ files
               (1-based lines, nested ones too), scored as units of their own
    terms      {term: [sec_postings, src_postings, doc_postings(, card_postings,
               passage_postings, def_postings)]}
               a posting list is a string "id:impact id:impact ..." (parsed only for
               the query's terms, which keeps json.loads fast)
    names      {lowercased name: [source_id, public name, line]}   keys: whole public
               dotted names and qualnames, their "Class.method" tail, their last part
    name_files {lowercased last part: number of files defining it}   only when > 1:
               how ambiguous a bare name is (from_scvi_model: SCANVI's and SOLO's)
    homes      {lowercased class name: [doc_id, specificity 0..1]}   the doc about that
               class (scanvi.md); specificity is low for names most sections use (scvi)
    topics     [[topic_id, [[phrase tokens, weight], ...], [doc_id...], [source_id...]], ...]
    synonyms   [[[key terms], literal phrase or "", [expansion terms]], ...]
               all key terms (and the literal phrase, if any) present -> add expansions
    overrides  [[[[phrase tokens, weight], ...], [doc_id...], [source_id...]], ...]
    routes     [[skill, why, [normalized phrases]], ...]    matched as whole phrases

Standard library only.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from scvi_skill.build.docs.passages import split_passages
from scvi_skill.build.source.defunits import def_units
from scvi_skill.runtime.codelint import CITED_NAME
from scvi_skill.runtime.schema import SEARCH_INDEX_FORMAT as FORMAT
from scvi_skill.runtime.schema import Slot
from scvi_skill.runtime.tokens import normalize_phrase, tokenize


# BM25F parameters. Field weights say how much one occurrence in that field is worth
# relative to body text; b is per field (titles are short, so little length normalisation).
K1 = 3.0
BODY_MAX_FILES = 50
"""A plain word of a source file's text counts in its ``body`` field only when at most this
many files use it ("mps", "jaxlib", "dispersion"): common words say little about which file
answers, and leaving them out keeps the index small (about 6% larger with the field)."""
REFS_WEIGHT = 1.0
"""Weight of a passage's ``refs`` field: the docstring summaries of the names it cites
(chosen on the tuning splits: 0.2-0.8 gained one question, 1.0-1.5 two, 3.0 lost one on dev)."""
SECTION_FIELDS = {
    # name: (weight, b)
    "title": (8.0, 0.3),  # the section heading
    "context": (1.5, 0.5),  # parent headings, document title and path, topic vocabulary
    "symbols": (1.25, 0.5),  # dotted names the section mentions
    "text": (1.0, 0.75),  # the section body
}
SOURCE_FIELDS = {
    "path": (3.0, 0.3),  # path components: "_training_mixin.py" -> training, mixin
    "names": (3.0, 0.5),  # class/def names and public dotted names defined in the file
    "doc": (1.0, 0.6),  # docstring summaries, parameter names, bases, decorators
    "context": (1.0, 0.6),  # topic vocabulary of topics listing the file
    "body": (0.3, 0.75),  # the file's plain words (code, comments, strings, docstrings)
}
DOC_FIELDS = {
    "title": (3.0, 0.3),
    "summary": (1.5, 0.5),
    "context": (1.5, 0.5),  # path and topic vocabulary
    "text": (1.0, 0.75),  # the whole document
}
USES_KINDS = ("module", "training_plan", "data_splitter")
"""The ``uses`` of a model class (index.json), in the order of their link kinds."""
MAX_HEADING_ONLY_LINES = 80
"""A heading without text of its own is read with its subsections up to this many lines."""
CARD_FIELDS = {
    "title": (3.0, 0.3),  # the card title (often the notebook name)
    "text": (1.0, 0.75),  # description, tags, notebook path words
}
DEF_FIELDS = {
    "name": (6.0, 0.3),  # the def's name and its parts
    "doc": (1.0, 0.6),  # its docstring
    "body": (0.5, 0.75),  # its other lines, whole identifiers included
}
PASSAGE_FIELDS = {
    "text": (1.0, 0.75),  # the passage's own raw lines
    "context": (0.3, 0.3),  # its section and document titles
    "refs": (REFS_WEIGHT, 0.5),  # docstring summaries of the names it cites
}


K1S = {Slot.DEF: 1.5}
"""Saturation per slot where it is not :data:`K1`: a def is short, and a term it repeats
(a method's own parameter) says less than the first use."""
FIELDS = {
    Slot.SECTION: SECTION_FIELDS,
    Slot.SOURCE: SOURCE_FIELDS,
    Slot.DOC: DOC_FIELDS,
    Slot.CARD: CARD_FIELDS,
    Slot.PASSAGE: PASSAGE_FIELDS,
    Slot.DEF: DEF_FIELDS,
}
SECTION_VOCABULARY = True
"""Add topic vocabulary to the context field of every section of the topic's docs."""
IMPACT_SCALE = 100
"""Impacts are stored as integers: round(score * IMPACT_SCALE)."""
MAX_SECTION_TEXT_CHARS = 20000
"""Very long sections (the changelog) are cut: the first part names the subject."""
PROSE_SUFFIXES = (".md", ".rst")
NAVIGATION_MARKERS = (".. autosummary::", "{toctree}", ".. toctree::", ".. currentmodule::")
_LINK_TARGET = re.compile(r"^\s*\[[^\]]+\]:\s*\S+")


@dataclass
class _Corpus:
    """What :func:`build` collects before scoring: the rows it writes and the token fields
    of every unit, keyed as the posting slots are."""

    index: dict
    docs: list[dict]
    doc_ids: dict[str, int]
    src_ids: dict[str, int]
    by_qualname: dict[str, dict]
    public_to_src: dict[str, tuple[int, int]]
    summaries: dict[str, str] = field(default_factory=dict)
    """Public dotted name or qualname -> the first line of its docstring."""
    doc_rows: list[list] = field(default_factory=list)
    sections: list[list] = field(default_factory=list)
    cards: list[list] = field(default_factory=list)
    passages: list[list] = field(default_factory=list)
    sec_src: list[list[int]] = field(default_factory=list)
    doc_src: list[list[int]] = field(default_factory=list)
    fields: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))
    """Slot -> token fields of each unit of that slot, in unit-id order."""


def build(index: dict, read_lines: Callable[[str], list[str]] | None = None,
          model_facts: list[list] | None = None, history: dict | None = None) -> dict:
    """Return the search index for ``index`` (an ``index.json`` object), deterministic.

    ``read_lines(path)`` gives the raw lines of a tree file; with it, every section's own
    body is also cut into passages (:mod:`scvi_skill.build.docs.passages`) that are ranked
    and quoted on their own. Without it (tests on a bare index), there are no passages.
    ``model_facts`` (``[model, fact, "path:line"]`` rows from the model cards) become
    ``model_facts`` rows ``[lowercased model, fact, cite, [fact tokens]]`` for the pack.
    ``history`` (``references/api/history.json.gz``) gives ``gone``: the lowercased last parts
    of names and the keywords that earlier releases had and the pinned one lacks, so the pack
    reads the history only for a question that uses one of them.
    """
    corpus = _collect(index)
    vocab_doc, vocab_src = _topic_vocabulary(corpus)
    _add_docs(corpus, vocab_doc, read_lines)
    sources, src_doc = _add_sources(corpus, vocab_src, read_lines)
    defs = _add_defs(corpus, read_lines)
    symbols = index.get("symbols", [])
    specificity = _section_specificity(corpus.fields[Slot.SECTION])
    names, name_files = _names(corpus.public_to_src)
    routing = index.get("routing") or {}
    out = {
        "_generated": (
            f"generated by scripts/refresh_maps.py (scvi_skill.build.search_index) from scvi-tools "
            f"{index.get('scvi_tools_version', 'unknown')}; do not edit; regenerate: "
            "python scripts/refresh_maps.py --tree PATH"
        ),
        "format": FORMAT,
        "scvi_tools_version": index.get("scvi_tools_version", "unknown"),
        "tree_sha256": index.get("tree_sha256", ""),
        "upstream": index.get("upstream", ""),
        "docs": corpus.doc_rows,
        "sections": corpus.sections,
        "sources": sources,
        "cards": corpus.cards,
        "sec_src": corpus.sec_src,
        "src_doc": src_doc,
        "src_uses": _class_links(symbols, corpus.by_qualname, corpus.src_ids),
        "defs": defs,
        "terms": _postings(corpus),
        "names": names,
        "name_files": name_files,
        "homes": _home_docs(corpus.docs, symbols, specificity),
        "topics": _topic_rows(corpus, routing.get("topics") or [], specificity),
        "synonyms": _synonyms(routing.get("synonyms") or {}),
        "overrides": [
            [
                _phrases(_as_list(o.get("query")), specificity),
                [corpus.doc_ids[p] for p in o.get("prefer") or [] if p in corpus.doc_ids],
                [corpus.src_ids[p] for p in o.get("prefer") or [] if p in corpus.src_ids],
            ]
            for o in routing.get("overrides") or []
        ],
        "routes": [
            [s.get("skill", ""), s.get("why", ""), _literal_phrases(s.get("when") or [])]
            for s in routing.get("siblings") or []
        ],
    }
    if corpus.passages:
        out["passages"] = corpus.passages
    if index.get("pitfalls"):
        out["pitfalls"] = [
            [p["id"], " ".join(str(p["text"]).split()),
             f"{p['evidence']['path']}:{p['evidence']['line']}",
             _pitfall_triggers(p),
             sorted({str(m).lower() for m in _as_list(p.get("applies_to")) or ["all"]}),
             str(p["evidence"]["token"])]
            for p in index["pitfalls"]
        ]
    if history:
        out["gone"] = _gone(history)
    if model_facts:
        out["model_facts"] = [[model.lower(), fact, cite, sorted(set(tokenize(fact)))]
                              for model, fact, cite in model_facts]
    return out


def _pitfall_triggers(pitfall: dict) -> list[list[str]]:
    """The pitfall's triggers as token lists; a trigger that names one of the models the
    pitfall applies to ("totalvi early stopping") holds for each of them ("velovi early
    stopping"), in the order written, without repeats."""
    models = [str(m).lower() for m in _as_list(pitfall.get("applies_to")) or []]
    out: list[list[str]] = []
    for trigger in pitfall["triggers"]:
        tokens = tokenize(str(trigger))
        variants = [tokens]
        named = [t for t in tokens if t in models]
        if named:
            variants += [[m if t == named[0] else t for t in tokens] for m in models]
        for variant in variants:
            if variant and variant not in out:
                out.append(variant)
    return out


def _collect(index: dict) -> _Corpus:
    """Ids of docs (by path) and source files (every file defining a symbol, every test
    file, every file a routing topic names), and where each public name is defined."""
    docs = sorted(index.get("docs", []), key=lambda d: d["path"])
    symbols = index.get("symbols", [])
    topics = (index.get("routing") or {}).get("topics") or []
    source_paths = sorted(
        {s["path"] for s in symbols}
        | {t["path"] for t in index.get("tests", [])}
        | {p for t in topics for p in t.get("source") or []}
    )
    src_ids = {p: i for i, p in enumerate(source_paths)}
    by_qualname = {s["qualname"]: s for s in symbols}
    return _Corpus(
        index=index,
        docs=docs,
        doc_ids={d["path"]: i for i, d in enumerate(docs)},
        src_ids=src_ids,
        by_qualname=by_qualname,
        public_to_src=_public_names(symbols, index.get("namespaces", {}), by_qualname, src_ids),
        summaries=_summaries(symbols),
    )


def _summaries(symbols: list[dict]) -> dict[str, str]:
    """Docstring summaries by qualname and by each public dotted name; the first symbol
    (qualname order) wins a name two of them share."""
    out: dict[str, str] = {}
    for sym in sorted(symbols, key=lambda s: s["qualname"]):
        summary = sym.get("summary") or ""
        if summary:
            for name in [sym["qualname"], *(sym.get("public") or [])]:
                out.setdefault(name, summary)
    return out


def _topic_vocabulary(corpus: _Corpus) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Topic vocabulary becomes context text of the docs and sources a topic lists."""
    doc_vocab: dict[int, list[str]] = defaultdict(list)
    src_vocab: dict[int, list[str]] = defaultdict(list)
    for topic in (corpus.index.get("routing") or {}).get("topics") or []:
        words = " ".join([topic.get("title", "")] + list(topic.get("vocabulary") or []))
        for path in topic.get("docs") or []:
            if path in corpus.doc_ids:
                doc_vocab[corpus.doc_ids[path]].append(words)
        for path in topic.get("source") or []:
            if path in corpus.src_ids:
                src_vocab[corpus.src_ids[path]].append(words)
    return doc_vocab, src_vocab


def _add_docs(corpus: _Corpus, doc_vocab: dict[int, list[str]], read_lines) -> None:
    """Rows and token fields of every doc, its sections, their cards and passages."""
    cards_in: dict[str, list[dict]] = defaultdict(list)
    for card in corpus.index.get("tutorials") or []:
        cards_in[card.get("card_in", "")].append(card)
    for doc_id, doc in enumerate(corpus.docs):
        corpus.doc_rows.append([doc["path"], doc.get("title", ""), doc.get("topic", "")])
        path_words = _path_words(doc["path"])
        vocab = " ".join(doc_vocab.get(doc_id, []))
        lines = read_lines(doc["path"]) if read_lines else None
        linked_doc: set[int] = set()
        all_text = []
        read_spans = _read_spans(doc.get("sections") or [])
        for n, (sec, sec_cards) in enumerate(_with_cards(doc, cards_in.get(doc["path"], []))):
            names = sec.get("symbols") or []
            linked = sorted({corpus.public_to_src[n][0] for n in names if n in corpus.public_to_src})
            linked_doc.update(linked)
            text = (sec.get("text") or "")[:MAX_SECTION_TEXT_CHARS]
            all_text.append(sec.get("title", ""))
            all_text.append(text)
            sec_id = len(corpus.sections)
            title = _display_title(sec)
            corpus.sections.append([doc_id, title] + read_spans[n])
            corpus.sec_src.append(linked)
            context = " ".join(list(sec.get("parents") or []) + [doc.get("title", ""), path_words])
            corpus.fields[Slot.SECTION].append(
                {
                    "title": tokenize(sec.get("title", "")),
                    "context": tokenize(context + (" " + vocab if SECTION_VOCABULARY else "")),
                    "symbols": tokenize(" ".join(names)),
                    "text": tokenize(text),
                }
            )
            _add_cards(corpus, sec_id, sec, sec_cards)
            if lines is not None:
                _add_passages(corpus, sec_id, sec, lines, f"{title} {doc.get('title', '')}")
        corpus.doc_src.append(sorted(linked_doc))
        corpus.fields[Slot.DOC].append(
            {
                "title": tokenize(doc.get("title", "")),
                "summary": tokenize(doc.get("summary", "")),
                "context": tokenize(path_words + " " + vocab),
                "text": tokenize(" ".join(all_text)[: MAX_SECTION_TEXT_CHARS * 4]),
            }
        )


def _add_cards(corpus: _Corpus, sec_id: int, sec: dict, sec_cards: list[dict]) -> None:
    for card in sec_cards:
        line = card.get("line", sec.get("start", 1))
        corpus.cards.append([sec_id, card.get("title", ""), line, card.get("end", line)])
        corpus.fields[Slot.CARD].append(
            {
                "title": tokenize(card.get("title", "")),
                "text": tokenize(" ".join([card.get("description", ""),
                                           " ".join(card.get("tags") or []),
                                           _path_words(card.get("notebook", ""))])),
            }
        )


def _add_passages(corpus: _Corpus, sec_id: int, sec: dict, lines: list[str], context: str) -> None:
    """The passages of a section's own body (heading excluded), each scored on its own
    text, with the section and document titles as a light context field."""
    start = sec.get("start", 1)
    own_end = sec.get("body_end", sec.get("end", start))
    context_tokens = tokenize(context)
    for first, last in split_passages(lines, start, own_end):
        if _is_navigation(lines[first - 1 : last]):
            continue
        text = "\n".join(lines[first - 1 : last])
        corpus.passages.append([sec_id, first, last])
        corpus.fields[Slot.PASSAGE].append(
            {"text": tokenize(text), "context": context_tokens,
             "refs": tokenize(" ".join(_cited_summaries(corpus.summaries, text)))}
        )


def _cited_summaries(summaries: dict[str, str], text: str) -> list[str]:
    """The docstring summaries of the names ``text`` cites (each once, in order): what a
    terse release note or a link means in the words of the code it names."""
    out: dict[str, None] = {}
    for match in CITED_NAME.finditer(text):
        summary = summaries.get((match.group(1) or match.group(2)).rstrip("."))
        if summary:
            out.setdefault(summary)
    return list(out)


def _is_navigation(block: list[str]) -> bool:
    """A block that lists pages or names to link to (``autosummary``, ``toctree``,
    ``currentmodule``, link targets) is navigation, never an answer: it is not a passage.
    (Its section is still ranked, so the API reference page can still be found.)"""
    text = "\n".join(block)
    if any(marker in text for marker in NAVIGATION_MARKERS):
        return True
    return all(_LINK_TARGET.match(line) or not line.strip() for line in block)


def _add_sources(corpus: _Corpus, src_vocab: dict[int, list[str]],
                 read_lines: Callable[[str], list[str]] | None = None) -> tuple[list[list], list[list[int]]]:
    """Rows (``[path, main public name, line]``) and token fields of every source file, and
    per source the docs that name its symbols."""
    src_fields = [{"path": [], "names": [], "doc": [], "context": [], "body": []} for _ in corpus.src_ids]
    main_symbol: dict[int, tuple] = {}
    for sym in corpus.index.get("symbols", []):
        sid = corpus.src_ids[sym["path"]]
        fields = src_fields[sid]
        short = sym["qualname"].rsplit(".", 1)[-1]
        fields["names"] += tokenize(" ".join([short] + list(sym.get("public") or [])))
        doc_words = [sym.get("summary") or ""]
        doc_words += [p.get("name", "") for p in sym.get("params") or []]
        doc_words += list(sym.get("bases") or []) + list(sym.get("decorators") or [])
        fields["doc"] += tokenize(" ".join(doc_words))
        if sym.get("public"):
            rank = (0 if sym.get("kind") == "class" else 1, sym.get("line", 0))
            if sid not in main_symbol or rank < main_symbol[sid][0]:
                main_symbol[sid] = (rank, sym["public"][0], sym.get("line", 1))
    for test in corpus.index.get("tests", []):
        src_fields[corpus.src_ids[test["path"]]]["names"] += tokenize(" ".join(test.get("symbols") or []))
    for path, sid in corpus.src_ids.items():
        src_fields[sid]["path"] = tokenize(_path_words(path))
        src_fields[sid]["context"] = tokenize(" ".join(src_vocab.get(sid, [])))
    if read_lines is not None:
        # Plain words only: whole identifiers (local names, "batch_index.to") would add many
        # terms that no question uses; their parts are plain words and stay.
        bodies = {sid: [t for t in tokenize("\n".join(read_lines(path))) if t.isalpha()]
                  for path, sid in corpus.src_ids.items()}
        files_using: Counter = Counter()
        for words in bodies.values():
            files_using.update(set(words))
        for sid, words in bodies.items():
            src_fields[sid]["body"] = [t for t in words if files_using[t] <= BODY_MAX_FILES]
    corpus.fields[Slot.SOURCE] = src_fields

    sources = []
    for path, sid in corpus.src_ids.items():
        _, name, line = main_symbol.get(sid, (None, "", 1))
        sources.append([path, name, line])
    src_doc: list[set[int]] = [set() for _ in corpus.src_ids]
    for doc_id, linked in enumerate(corpus.doc_src):
        for sid in linked:
            src_doc[sid].add(doc_id)
    return sources, [sorted(s) for s in src_doc]


def _add_defs(corpus: _Corpus, read_lines: Callable[[str], list[str]] | None
              ) -> list[list[int]]:
    """Rows (``[source id, first line, last line]``) and token fields of every def and class
    of the ``src/`` files (:mod:`scvi_skill.build.source.defunits`); none without the tree's
    lines."""
    if read_lines is None:
        corpus.fields[Slot.DEF] = []
        return []
    paths = [path for path in corpus.src_ids if path.startswith("src/")]
    units = def_units(paths, read_lines)
    corpus.fields[Slot.DEF] = [fields for _, _, _, fields in units]
    return [[corpus.src_ids[path], first, last] for path, first, last, _ in units]


def _postings(corpus: _Corpus) -> dict[str, list[str]]:
    """``{term: [posting list per slot]}``; trailing empty slots are left out (most terms
    are in no card and no passage). A term only defs hold is left out: a local name of some
    function's code (8,536 of them in 1.5.1, about 0.5 MB); the tuning splits' source
    figures are the same without them."""
    postings: dict[str, list[list[str]]] = defaultdict(lambda: [[] for _ in Slot])
    for slot in Slot:
        for term, unit_id, impact in _bm25f(corpus.fields[slot], FIELDS[slot], K1S.get(slot, K1)):
            postings[term][slot].append(f"{unit_id}:{impact}")
    terms = {}
    for term, lists in sorted(postings.items()):
        if not any(lists[: Slot.DEF]):
            continue
        row = [" ".join(p) for p in lists]
        while len(row) > Slot.DOC + 1 and not row[-1]:
            row.pop()
        terms[term] = row
    return terms


def _section_specificity(sec_fields: list[dict]) -> _Specificity:
    section_df: Counter = Counter()
    for fields in sec_fields:
        section_df.update(set(fields["title"]) | set(fields["text"]))
    return _Specificity(section_df, len(sec_fields))


def _names(public_to_src: dict[str, tuple[int, int]]) -> tuple[dict, dict]:
    """``names`` and ``name_files`` (see the module docstring)."""
    names: dict[str, list] = {}
    defined_in: dict[str, set[int]] = defaultdict(set)
    for public, (sid, line) in sorted(public_to_src.items()):
        parts = public.lower().split(".")
        defined_in[parts[-1]].add(sid)
        # The whole name, "Class.method" (solo.from_scvi_model) and the bare last part.
        keys = {public.lower(), parts[-1]}
        owner = public.split(".")[-2:-1]
        if owner and owner[0][:1].isupper():
            keys.add(".".join(parts[-2:]))
        for key in keys:
            if key not in names or len(public) < len(names[key][1]):
                names[key] = [sid, public, line]
    name_files = {k: len(v) for k, v in sorted(defined_in.items()) if len(v) > 1 and k in names}
    return names, name_files


def _topic_rows(corpus: _Corpus, topics: list[dict], specificity: _Specificity) -> list[list]:
    return [
        [
            t.get("id", ""),
            _phrases(t.get("vocabulary") or [], specificity),
            [corpus.doc_ids[p] for p in t.get("docs") or [] if p in corpus.doc_ids],
            [corpus.src_ids[p] for p in t.get("source") or [] if p in corpus.src_ids],
        ]
        for t in topics
    ]


def _gone(history: dict) -> dict:
    """``{"names": [...], "keywords": [...], "defaults": [...], "default_params": {...}}``: last
    name parts (lowercased) and keywords that some release had and the newest one in
    ``history`` does not, the public callables a default of which changed between releases,
    and for each of them the parameters whose default changed from one value to another."""
    newest = len(history.get("versions") or []) - 1
    names_now, names_before = set(), set()
    for name, spans in (history.get("names") or {}).items():
        last = name.rsplit(".", 1)[-1].lower()
        (names_now if spans and spans[-1][1] >= newest else names_before).add(last)
    keys_now, keys_before = set(), set()
    for params in (history.get("params") or {}).values():
        for key, spans in params.items():
            (keys_now if spans and spans[-1][1] >= newest else keys_before).add(key)
    defaults = history.get("defaults") or {}
    return {"names": sorted(names_before - names_now), "keywords": sorted(keys_before - keys_now),
            "defaults": sorted(defaults),
            # The parameters whose default went from one value to another (not only between
            # "required" and None): a question naming none of them, and no change, is answered
            # without reading the history (history.changed_defaults).
            "default_params": {name: sorted(param for param, runs in params.items()
                                            if not all(run[0] in (None, "None") for run in runs))
                               for name, params in sorted(defaults.items())}}


_RELEASE_NUMBER = re.compile(r"\d+\.\d+\.\d+")


def _display_title(sec: dict) -> str:
    """A subsection is shown with its parent ("1.5.1 (2026-09-10) > Fixed", "Inference >
    Training details"): a bare "Fixed" does not say which release. When neither names a
    release and an ancestor does, that ancestor comes first ("New in 0.9.0 (2021-03-03) >
    Important changes > Breaking change: SCANVI"): which release a note belongs to is what a
    reader of the release notes needs most."""
    parents = sec.get("parents") or []
    title = sec.get("title", "")
    if sec.get("level", 1) < 3 or not parents:
        return title
    shown = f"{parents[-1]} > {title}"
    if not _RELEASE_NUMBER.search(shown):
        release = next((p for p in reversed(parents[:-1]) if _RELEASE_NUMBER.search(p)), "")
        if release:
            shown = f"{release} > {shown}"
    return shown


def _read_spans(secs: list[dict]) -> list[list[int]]:
    """What to read for each section: its heading and own body (``start``..``body_end``).
    A heading with no text of its own ("1.5.1 (2026-09-10)", "Tasks") is read with its
    subsections when they fit in :data:`MAX_HEADING_ONLY_LINES`, else down to the end of its
    first subsection's own body (recursively)."""
    spans: list[list[int]] = []
    for sec in secs:
        start = sec.get("start", 1)
        spans.append([start, sec.get("body_end", sec.get("end", start))])
    for n in range(len(secs) - 1, -1, -1):
        start, own_end = spans[n]
        nested_end = secs[n].get("end", own_end)
        if own_end > start or nested_end <= own_end:
            continue
        if nested_end - start + 1 <= MAX_HEADING_ONLY_LINES:
            spans[n][1] = _trim_end(secs, n, nested_end)
        elif n + 1 < len(secs) and secs[n + 1].get("start", 0) <= nested_end:
            spans[n][1] = spans[n + 1][1]  # already extended if it is heading-only too
    return spans


def _trim_end(secs: list[dict], n: int, nested_end: int) -> int:
    """The last own-body line of the last subsection inside ``secs[n]`` (no trailing blanks)."""
    last = n
    for m in range(n + 1, len(secs)):
        if secs[m].get("start", 0) > nested_end:
            break
        last = m
    return secs[last].get("body_end", nested_end)


def _with_cards(doc: dict, cards: list[dict]) -> list[tuple[dict, list[dict]]]:
    """Each section of ``doc`` with the tutorial cards in its own body, in line order."""
    secs = doc.get("sections") or []
    out = []
    for n, sec in enumerate(secs):
        stop = secs[n + 1].get("start", 0) if n + 1 < len(secs) else float("inf")
        inside = [c for c in cards if sec.get("start", 1) < c.get("line", 0) < stop]
        out.append((sec, sorted(inside, key=lambda c: c.get("line", 0))))
    return out


def _bm25f(units: list[dict], spec: dict, k1: float = K1) -> list[tuple[str, int, int]]:
    """(term, unit id, integer impact) for every term present in every unit."""
    n_units = len(units)
    if not n_units:
        return []
    avg = {f: max(1.0, sum(len(u[f]) for u in units) / n_units) for f in spec}
    df: Counter = Counter()
    counted = []
    for unit in units:
        per_field = {f: Counter(unit[f]) for f in spec}
        counted.append(per_field)
        df.update(set().union(*per_field.values()))
    out = []
    for unit_id, (unit, per_field) in enumerate(zip(units, counted)):
        norm = {f: 1.0 - b + b * len(unit[f]) / avg[f] for f, (_, b) in spec.items()}
        weighted: dict[str, float] = defaultdict(float)
        for f, (weight, _) in spec.items():
            for term, tf in per_field[f].items():
                weighted[term] += weight * tf / norm[f]
        for term, wtf in weighted.items():
            idf = math.log(1.0 + (n_units - df[term] + 0.5) / (df[term] + 0.5))
            impact = round(IMPACT_SCALE * idf * wtf / (k1 + wtf))
            if impact > 0:
                out.append((term, unit_id, impact))
    return out


def _class_links(symbols: list[dict], by_qualname: dict, src_ids: dict) -> list[list[list]]:
    """Per source file: ``[[target source id, kind, public name, line], ...]``, the module
    (kind 0), training plan (1) and data splitter (2) classes its model classes use, and
    their mixins (3), each in its own file."""
    links: list[dict[int, list]] = [{} for _ in src_ids]
    for sym in symbols:
        uses = sym.get("uses") or {}
        if sym.get("kind") != "class" or "module" not in uses:
            continue  # model classes only: they name the module they build
        targets = [(uses.get(key), kind) for kind, key in enumerate(USES_KINDS)]
        targets += [(base, len(USES_KINDS)) for base in sym.get("mro") or []]
        sid = src_ids[sym["path"]]
        for qualname, kind in targets:
            target = by_qualname.get(qualname or "")
            tid = src_ids.get(target["path"]) if target else None
            if tid is None or tid == sid or kind >= links[sid].get(tid, [0, 99])[1]:
                continue
            name = (target.get("public") or [target["qualname"]])[0]
            links[sid][tid] = [tid, kind, name, target.get("line", 1)]
    return [sorted(row.values()) for row in links]


def _public_names(symbols, namespaces, by_qualname, src_ids) -> dict[str, tuple[int, int]]:
    """Every public dotted name (and qualname) -> (source id, line) of its definition."""
    out: dict[str, tuple[int, int]] = {}
    for sym in symbols:
        if sym.get("kind") == "module":
            continue  # "scvi" the package must not catch every "scVI" in a question
        where = (src_ids[sym["path"]], sym.get("line", 1))
        for name in list(sym.get("public") or []) + [sym["qualname"]]:
            out.setdefault(name, where)
    for public, qualname in namespaces.items():
        sym = by_qualname.get(qualname)
        if sym is not None and sym.get("kind") != "module":
            out.setdefault(public, (src_ids[sym["path"]], sym.get("line", 1)))
    return out


class _Specificity:
    """How specific a term is: log(N / df) / log(N) over the doc sections, in [0, 1]."""

    def __init__(self, df: Counter, n: int) -> None:
        self.df, self.n = df, max(n, 2)

    def __call__(self, term: str) -> float:
        value = math.log(self.n / max(self.df.get(term, 0), 1)) / math.log(self.n)
        return round(max(0.0, min(1.0, value)), 3)


def _home_docs(docs: list[dict], symbols: list[dict], specificity: _Specificity) -> dict:
    """Lowercased class name -> [doc id, specificity]: the doc whose file stem or title is
    the class name (``SCANVI`` -> ``docs/user_guide/models/scanvi.md``, ``LinearSCVI`` ->
    ``linearscvi.md``). Only unambiguous names are kept. A name most sections use
    ("scvi", also the package name) has a low specificity and boosts little."""
    by_key: dict[str, set[int]] = defaultdict(set)
    for doc_id, doc in enumerate(docs):
        if not doc["path"].startswith("docs/"):
            continue
        stem = doc["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
        title = "".join(c for c in (doc.get("title") or "").lower() if c.isalnum())
        for key in {stem, title} - {"index", ""}:
            by_key[key].add(doc_id)
    homes: dict[str, list] = {}
    for sym in symbols:
        if sym.get("kind") != "class" or not sym.get("public"):
            continue
        key = sym["qualname"].rsplit(".", 1)[-1].lower()
        if len(by_key.get(key, ())) == 1:
            homes[key] = [next(iter(by_key[key])), specificity(key)]
    return dict(sorted(homes.items()))


def _path_words(path: str) -> str:
    """``docs/user_guide/use_case/multi_gpu_training.md`` -> ``user_guide use_case multi_gpu_training``."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    return " ".join([p for p in parts[:-1] if p not in ("docs", "src", "scvi")] + [stem])


def _phrases(items, specificity: _Specificity) -> list[list]:
    """Vocabulary phrases as [tokens, weight]: the mean specificity of the tokens, so
    "DDP" weighs more than "train"."""
    out = []
    for item in items:
        toks = tokenize(str(item))
        if toks:
            weight = sum(specificity(t) for t in toks) / len(toks)
            out.append([toks, round(weight, 3)])
    return out


def _literal_phrases(items) -> list[str]:
    """Route triggers match as whole phrases: dropping stopwords would turn
    "does scvi have" into "scvi", which every question contains."""
    return [p for p in (normalize_phrase(str(i)) for i in items) if p]


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _synonyms(raw) -> list[list]:
    """routing.yaml ``synonyms: {words users type: [words the docs use]}`` ->
    [[key terms], literal phrase, [expansion terms]]. A key may be a phrase ("out of
    memory"); when it holds stopwords, the literal phrase must occur too, since its
    terms alone ("memory") would say less."""
    out = []
    items = raw.items() if isinstance(raw, dict) else []
    for words, expansions in sorted(items, key=lambda kv: str(kv[0])):
        keys = tokenize(str(words))
        if not keys:
            continue
        phrase = normalize_phrase(str(words))
        literal = phrase if len(phrase.split()) > len(keys) else ""
        terms: list[str] = []
        for expansion in _as_list(expansions):
            for term in tokenize(str(expansion)):
                if term not in terms and term not in keys:
                    terms.append(term)
        if terms:
            out.append([keys, literal, terms])
    return out

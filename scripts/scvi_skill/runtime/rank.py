"""Rank doc sections and source files for a question, from ``search_index.json``.

Score of a document = its best section's BM25F score and its best passage's, plus shares of
its second-best section and of the whole-document score, plus boosts: the doc about a model
the question names (``homes``, scaled by how specific the name is), curated routing topics whose
vocabulary the question uses (the largest boost per doc, phrases weighted by the specificity
of their words), overrides, and a little from the top source files whose symbols the doc
names. Contributor docs are down-weighted. Score of a source file = its own BM25F score
(names, path, docstrings), plus a share of the top sections that mention its symbols
(doc -> symbol links), plus topic boosts, plus a large boost when the question names one of
its symbols; tests/ files are down-weighted. Last, the top model files raise the module,
training plan, data splitter and mixin files their classes use (``src_uses``) to at most
just below their own score.

The agent's own hint (``also``: the names and words it expects the answer to use) adds its
terms to the question's and its named symbols to the question's; nothing else reads it.

Boosts are multiples of the best plain score, so they mean the same for short and long
questions. All weights are in :data:`PARAMS`, chosen on the dev split of
``benchmarks/devset.jsonl`` only (``benchmarks/bench_resolver.py`` reports both splits).

Standard library only.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from .formats import SLOT_CARD, SLOT_DEF, SLOT_DOC, SLOT_PASSAGE, SLOT_SECTION, SLOT_SOURCE
from .history import (
    changed_defaults,
    gone_identifiers,
    gone_message,
    gone_releases,
    moved_names,
    moved_releases,
)
from .tokens import identifiers, normalize_phrase, tokenize

MAX_QUESTION_CHARS = 4000
"""Only the start of a longer question is ranked (pasted logs are mostly noise)."""

DEVELOPER_DOCS = ("docs/developer/", "docs/api/developer.md")
MAX_PASSAGES = 40
"""Passages returned by :func:`resolve`, best first (the pack takes a few)."""

PARAMS = {
    "whole_term": 1.5,  # weight of a whole identifier term (batch_key) vs a word
    "repeat": 0.3,  # extra weight per repetition of a term in the question
    "synonym": 0.5,  # weight of a synonym expansion
    "doc_share": 0.25,  # share of the whole-document score added to the best section
    "second_section": 1.0,  # share of the second-best section
    "topic_doc": 0.6,  # topic boost for docs, times the best doc score
    "topic_src": 0.6,  # topic boost for sources, times the best source score
    "topic_rank_decay": 0.85,  # later docs/sources of a topic get a smaller boost
    "override": 1.0,  # override boost, times the best score
    "link": 0.2,  # share of a linked section's score given to a source file
    "link_sections": 15,  # how many top sections pass score to linked sources
    "link_doc": 0.15,  # share of a source's score given to docs that name its symbols
    "named_symbol": 1.5,  # boost (times best source score) for a file defining a named symbol
    "named_doc": 0.2,  # boost (times best doc score) for docs naming a named file's symbols
    "bare_after_dotted": 1,  # on (1) or off (0): a bare name the question also writes dotted
    "bare_beside_call": 0.5,  # weight of a bare name when the question writes out a dotted
    # call with arguments, its own code ("scvi.model.MULTIVI.setup_anndata(adata, ...) ... like
    # for SCVI"; session 19, tuning: phrase hits 250 -> 251, source hit@1 135 -> 139 of 239,
    # none lost, doc figures unchanged; 0.3-0.5 the same, 0.8 half of it; fires on 12 of 312.
    # Session 18's broader form, any dotted name, was dropped: an error message's
    # "X.f() got an unexpected keyword" is not the user's code, and has no arguments)
    "ambiguous_power": 0.0,  # a bare name defined in n files boosts its file by 1 / n**power
    # (4-fold CV within dev chose 0: dev has too few bare ambiguous names to support more)
    "tests_factor": 0.6,  # tests/ files are secondary entry points
    "home_doc": 3.0,  # boost (times best doc score) for the doc about a model the question names
    "home_power": 1.0,  # how strongly a model name's specificity scales its home-doc boost
    "topic_extra": 0.0,  # share of a second matching topic's boost that is added
    "phrase_length": 0.5,  # extra strength per extra word of a matched vocabulary phrase
    "phrase_power": 1.0,  # how strongly word specificity scales a phrase's strength
    "phrase_more": 0.0,  # share of further matched phrases added to the best one
    "uses": (0.3, 0.2, 0.2, 0.1),  # share of a model file's score passed to its module,
    # training plan, data splitter and mixin files
    "uses_from": 3,  # how many top model files pass score on
    "uses_cap": 0.95,  # a linked file is raised to at most this share of the model file's score
    "developer_factor": 0.6,  # contributor docs are down-weighted by this factor
    "passage_doc": 1.0,  # share of a doc's best passage score added to the doc
    "passage_pool": 300,  # passages (by own score) considered for the final passage ranking
    "passage_section": 0.5,  # weight of the passage's section score (normalised)
    "passage_in_doc": 1.0,  # weight of the passage's document score (normalised)
    "passage_lines": 20,  # a passage is read with its section or neighbours up to this many lines
    "old_release_factor": 0.8,  # a note of a release before 1.0.0, for a question naming no version
    "release_match": 0.5,  # a release note of a release the question's versions point at
    "passage_cover": 2.0,  # weight of the share of the query's terms a passage holds
    "release_doc": 0.6,  # release notes boost (times the best doc score) for a question
    # naming a version or a kind of change
    "release_gone": 1.0,  # on (1) or off (0): a name or keyword an earlier release had
    "release_error": 0.5,  # share of release_doc for a question that pastes error text
    "release_gone_match": 1.0,  # a release note holding a name the pinned release lacks, of
    # the minor series the API history says it went in
    "release_gone_parts": 0.02,  # a rarer part of a gone name (at most this share of the
    # passages hold it) counts in a note that removes or changes names; 0: off
    "release_gone_kept": 0.5,  # share of that for a note under a heading that keeps names
    # (fixes, additions): a name goes in a "Removed", "Breaking changes" or "Changed" note
    "release_place": 1,  # the release notes move up to this place among the docs (0: off)
    "release_near": 0.5,  # ... when they score at least this share of the doc there
    # (session 7: first place from half the top score, chosen on the five tuning splits by
    # their mean doc MRR, 0.744 -> 0.802: the fresh threads of dev2 and dev3 are answered by a
    # release note far more often than the old dev set's)
    "def_file": 0.1,  # a file gains this share of the best file score, times the square of
    # its best def's score relative to the best def's (session 17, tuning questions with a
    # gold file: 0.1 raised source hit@5 from 214 to 217 of 239, none lost; 0.15 and 0.2 lost
    # more than they gained)
    "def_power": 2.0,
    "also_term": 0.5,  # weight of a term of the agent's own hint (--also), times a
    # question term's (session 25, tuning: 263 phrase hits of 312 with one set of agent-written
    # hints, 257 with another, 249 without; 1.0 gave 266 and 259 but fell to 233 when half of
    # each hint's names were another question's, where 0.5 keeps 252: a guess that is half
    # wrong still helps)
    "also_named": 1.0,  # share of a named-symbol boost for a symbol the hint names
    "compound": 1.0,  # weight of two adjacent question words joined ("semi-supervised" ->
    # "semisupervised") when the corpus uses the joined word
}

_PAIR = re.compile(r"(?=(?<![A-Za-z])([A-Za-z]{2,})[\s/-]{1,2}([A-Za-z]{2,})(?![A-Za-z]))")
"""Two adjacent plain words; a lookahead, so "a b c" yields "a b" and "b c"."""


def query_terms(question: str, synonyms: list, params: dict = PARAMS,
                vocabulary: dict | None = None) -> dict[str, float]:
    """Weighted query terms: identifier wholes weigh more, repeats a little more,
    curated synonyms (routing.yaml) add their expansions at a lower weight, and two adjacent
    words the corpus (``vocabulary``) writes as one ("mini-batch", "data loader") add the
    joined word."""
    tokens = tokenize(question[:MAX_QUESTION_CHARS])
    weights: dict[str, float] = {}
    for tok in tokens:
        base = params["whole_term"] if ("_" in tok or "." in tok) else 1.0
        if tok in weights:
            weights[tok] += params["repeat"] * base
        else:
            weights[tok] = base
    present = set(weights)
    padded = ""
    for keys, literal, terms in synonyms:
        if all(k in present for k in keys):
            if literal:
                padded = padded or f" {normalize_phrase(question[:MAX_QUESTION_CHARS])} "
                if f" {literal} " not in padded:
                    continue
            for term in terms:
                weights.setdefault(term, params["synonym"])
    if vocabulary and params["compound"]:
        for first, second in _PAIR.findall(question[:MAX_QUESTION_CHARS]):
            for joined in tokenize(first + second):
                if joined in vocabulary and joined not in weights:
                    weights[joined] = params["compound"]
    return weights


def _phrase_hits(phrases: list[list], present: set[str], params: dict = PARAMS) -> float:
    """Strength of the phrases all of whose tokens occur in the question: the best one,
    plus a share of the others. A phrase's strength grows with its length and with the
    specificity of its words (built into its weight)."""
    found = []
    for tokens, weight in phrases:
        if tokens and all(t in present for t in tokens):
            length = 1.0 + params["phrase_length"] * (len(tokens) - 1)
            found.append(length * weight ** params["phrase_power"])
    if not found:
        return 0.0
    found.sort(reverse=True)
    return found[0] + params["phrase_more"] * sum(found[1:])


def _accumulate(terms: dict, weights: dict[str, float], slot: int) -> dict[int, float]:
    scores: dict[int, float] = defaultdict(float)
    for term, weight in weights.items():
        entry = terms.get(term)
        if not entry or len(entry) <= slot or not entry[slot]:
            continue
        for item in entry[slot].split():
            unit, _, impact = item.partition(":")
            scores[int(unit)] += weight * int(impact)
    return scores


class _Ranking:
    """The state :func:`resolve` passes through its steps: query terms and running scores.

    A plain class (no dataclass): the resolver runs once per process, and importing
    ``dataclasses`` costs more than the whole ranking."""

    def __init__(self, question: str, sidx: dict, params: dict, weights: dict[str, float],
                 also: str = "") -> None:
        self.question, self.sidx, self.params, self.weights = question, sidx, params, weights
        self.also = also
        self.sec_scores: dict[int, float] = {}
        self.src_scores: dict[int, float] = {}
        self.doc_scores: dict[int, float] = defaultdict(float)
        self.passage_scores: dict[int, float] = {}
        self.passage_cover: dict[int, float] = {}
        self.best_sec: dict[int, tuple[float, int]] = {}
        """Doc id -> (score, section id) of its best section."""
        self.named: dict[int, tuple] = {}
        self.used: dict[int, tuple[str, int]] = {}
        """Source id -> (public name, line) of the class a top model file uses from it."""
        self.top_doc = 100.0
        self.top_src = 100.0

    @property
    def present(self) -> set[str]:
        return set(self.weights)


def resolve(
    question: str,
    sidx: dict,
    *,
    limit: int = 5,
    source_limit: int = 5,
    params: dict = PARAMS,
    also: str = "",
) -> dict:
    """``{"docs": [...], "source": [...], "passages": [...], "routes": [...], "terms": [...]}``
    for ``question``, best first. ``passages`` are ranked over the whole corpus; each doc's
    ``lines`` are its best passage when the index has passages, else its best section.
    ``also``: the agent's hint (``resolve_docs.py --also``), ranked beside the question."""
    weights = query_terms(question, sidx.get("synonyms") or [], params, sidx["terms"])
    if also and params["also_term"]:
        for term, weight in query_terms(also, [], params, sidx["terms"]).items():
            weights[term] = weights.get(term, 0.0) + params["also_term"] * weight
    state = _Ranking(question, sidx, params, weights, also)
    _score_units(state)
    _score_docs(state)
    _link_sections_to_sources(state)
    _boost_named_symbols(state)
    _boost_home_docs(state)
    _boost_routing(state)
    _boost_release_notes(state)
    _apply_factors(state)
    _share_sources_with_docs(state)
    _raise_used_files(state)
    _boost_best_defs(state)
    passages = _rank_passages(state)
    return {
        "docs": _doc_results(state, passages, limit),
        "source": _source_results(state, source_limit),
        "passages": passages[:MAX_PASSAGES],
        "routes": _routes(question, sidx),
        "terms": sorted(state.weights),
        "term_idf": _term_idf(state),
    }


def _score_units(state: _Ranking) -> None:
    terms = state.sidx["terms"]
    state.sec_scores = _accumulate(terms, state.weights, SLOT_SECTION)
    state.src_scores = _accumulate(terms, state.weights, SLOT_SOURCE)
    state.passage_scores = _accumulate(terms, state.weights, SLOT_PASSAGE)
    if state.params["passage_cover"]:
        state.passage_cover = _coverage(terms, state.weights, SLOT_PASSAGE,
                                        len(state.sidx.get("passages") or []))


def _coverage(terms: dict, weights: dict[str, float], slot: int, n: int) -> dict[int, float]:
    """Share of the query's idf-weighted terms that each unit holds (each term once)."""
    cover: dict[int, float] = defaultdict(float)
    total = 0.0
    for term, weight in weights.items():
        entry = terms.get(term)
        if not entry or len(entry) <= slot or not entry[slot]:
            continue
        row = entry[slot]
        value = weight * posting_idf(row, n)
        total += value
        for item in row.split():
            cover[int(item.partition(":")[0])] += value
    if total:
        for unit in cover:
            cover[unit] /= total
    return cover


def _score_docs(state: _Ranking) -> None:
    """A document: its best section + a share of the second best + a share of the whole
    document + a share of its best passage."""
    sections, params = state.sidx["sections"], state.params
    second: dict[int, float] = defaultdict(float)
    for sec_id, score in state.sec_scores.items():
        doc_id = sections[sec_id][0]
        prev = state.best_sec.get(doc_id)
        if prev is None or score > prev[0] or (score == prev[0] and sec_id < prev[1]):
            if prev is not None:
                second[doc_id] = max(second[doc_id], prev[0])
            state.best_sec[doc_id] = (score, sec_id)
        else:
            second[doc_id] = max(second[doc_id], score)
    for doc_id, (score, _) in state.best_sec.items():
        state.doc_scores[doc_id] = score + params["second_section"] * second[doc_id]
    for doc_id, score in _accumulate(state.sidx["terms"], state.weights, SLOT_DOC).items():
        state.doc_scores[doc_id] += params["doc_share"] * score
    if state.passage_scores and params["passage_doc"]:
        passages = state.sidx.get("passages") or []
        best: dict[int, float] = defaultdict(float)
        for pid, score in state.passage_scores.items():
            doc_id = sections[passages[pid][0]][0]
            best[doc_id] = max(best[doc_id], score)
        for doc_id, score in best.items():
            state.doc_scores[doc_id] += params["passage_doc"] * score


def _link_sections_to_sources(state: _Ranking) -> None:
    """Source files gain a share of the top sections that name their symbols."""
    top_sections = sorted(state.sec_scores.items(), key=lambda kv: (-kv[1], kv[0]))
    sec_src = state.sidx.get("sec_src") or []
    for sec_id, score in top_sections[: state.params["link_sections"]]:
        for src_id in sec_src[sec_id] if sec_id < len(sec_src) else []:
            state.src_scores[src_id] = state.src_scores.get(src_id, 0.0) + state.params["link"] * score


def _boost_named_symbols(state: _Ranking) -> None:
    """Symbols named in the question ("SCANVI", "scvi.train.TrainerConfig") boost their
    files, and, shared out, the docs that name those files' symbols: a file few docs mention
    (SOLO's) says more about which doc answers than one many docs mention."""
    params = state.params
    state.named = _named_symbols(state.question, state.sidx, params)
    if state.also and params["also_named"]:
        for src_id, (name, line, weight) in _named_symbols(state.also, state.sidx, params).items():
            weight *= params["also_named"]
            if src_id not in state.named or weight > state.named[src_id][2]:
                state.named[src_id] = (name, line, weight)
    state.top_doc = max(state.doc_scores.values(), default=0.0) or 100.0
    state.top_src = max(state.src_scores.values(), default=0.0) or 100.0
    src_doc = state.sidx.get("src_doc") or []
    for src_id, (_, _, weight) in state.named.items():
        state.src_scores[src_id] = (state.src_scores.get(src_id, 0.0)
                                    + params["named_symbol"] * state.top_src * weight)
        linked = src_doc[src_id] if src_id < len(src_doc) else []
        for doc_id in linked:
            state.doc_scores[doc_id] += params["named_doc"] * state.top_doc * weight / len(linked) ** 0.5


def _boost_home_docs(state: _Ranking) -> None:
    """A model named in the question boosts the doc about it (docs/user_guide/models/x.md)."""
    homes = state.sidx.get("homes") or {}
    home_hits: dict[int, float] = {}
    for term in state.present:
        if term in homes:
            doc_id, spec = homes[term]
            home_hits[doc_id] = max(home_hits.get(doc_id, 0.0), spec)
    for doc_id, spec in home_hits.items():
        state.doc_scores[doc_id] += (state.params["home_doc"] * state.top_doc
                                     * spec ** state.params["home_power"])


def _boost_routing(state: _Ranking) -> None:
    """Curated routing: topics whose vocabulary the question uses, and overrides. A doc or
    file listed by several matched topics gets its largest boost, not the sum."""
    params, present = state.params, state.present
    doc_boost: dict[int, float] = defaultdict(float)
    src_boost: dict[int, float] = defaultdict(float)
    for _topic_id, phrases, doc_ids, src_ids in state.sidx.get("topics") or []:
        strength = _phrase_hits(phrases, present, params)
        if not strength:
            continue
        for rank, doc_id in enumerate(doc_ids):
            boost = params["topic_doc"] * state.top_doc * strength * params["topic_rank_decay"] ** rank
            doc_boost[doc_id] = _combine(doc_boost[doc_id], boost, params)
        for rank, src_id in enumerate(src_ids):
            boost = params["topic_src"] * state.top_src * strength * params["topic_rank_decay"] ** rank
            src_boost[src_id] = _combine(src_boost[src_id], boost, params)
    for doc_id, boost in doc_boost.items():
        state.doc_scores[doc_id] += boost
    for src_id, boost in src_boost.items():
        state.src_scores[src_id] = state.src_scores.get(src_id, 0.0) + boost
    for phrases, doc_ids, src_ids in state.sidx.get("overrides") or []:
        if _phrase_hits(phrases, present, params):
            for doc_id in doc_ids:
                state.doc_scores[doc_id] += params["override"] * state.top_doc
            for src_id in src_ids:
                state.src_scores[src_id] = (state.src_scores.get(src_id, 0.0)
                                            + params["override"] * state.top_src)


RELEASE_KIND_MIN = 9
"""A heading word of the release notes counts as a kind of change ("Fixed", "Removed", "Bug
Fixes") when at least this many release subsections use it (not a release's own title)."""


def release_kinds(sidx: dict) -> set[str]:
    """Terms of the release notes' subsection headings that name a kind of change, from the
    tree: ``{"fix", "fixed", "bug", "added", "remov", "chang", "break"}`` for 1.5.1."""
    counts: dict[str, int] = defaultdict(int)
    docs = sidx["docs"]
    for sec in sidx["sections"]:
        if docs[sec[0]][2] == "changelog" and " > " in sec[1]:
            heading = sec[1].rsplit(" > ", 1)[1]
            if not any(c.isdigit() for c in heading) and heading != "Contributors":
                counts[heading] += 1
    return {t for heading, n in counts.items() if n >= RELEASE_KIND_MIN for t in tokenize(heading)}


def _boost_release_notes(state: _Ranking) -> None:
    """The release notes (CHANGELOG.md) gain ``release_doc`` times the best doc score when
    the question names a scvi-tools version, a kind of change their headings use ("fixed",
    "removed", "bug") or a name or keyword an earlier release had and the pinned one lacks
    (``use_gpu``): their words rarely match the question's otherwise, and a question about
    what changed is answered nowhere else. A question that pastes error text gains
    ``release_error`` of that: many errors users report are bugs a later release fixed."""
    weight = state.params["release_doc"]
    if not weight:
        return
    sections = state.sidx["sections"]
    if not (question_versions(state.question, sections)
            or release_kinds(state.sidx) & state.present
            or state.params["release_gone"] and (gone_identifiers(state.question, state.sidx)
                                                 or moved_names(state.question, state.sidx))):
        from .errortext import looks_like_error  # a regular expression; no file is read

        if not (state.params["release_error"] and looks_like_error(state.question)):
            return
        weight *= state.params["release_error"]
    top = max(state.doc_scores.values(), default=0.0)
    for doc_id, doc in enumerate(state.sidx["docs"]):
        if doc[2] == "changelog":
            state.doc_scores[doc_id] = state.doc_scores.get(doc_id, 0.0) + weight * top


def _apply_factors(state: _Ranking) -> None:
    """tests/ files are secondary entry points; contributor docs (docs/developer/, the
    developer API list) rarely answer user questions."""
    sources, docs = state.sidx["sources"], state.sidx["docs"]
    for src_id in list(state.src_scores):
        if sources[src_id][0].startswith("tests/"):
            state.src_scores[src_id] *= state.params["tests_factor"]
    for doc_id in list(state.doc_scores):
        if docs[doc_id][0].startswith(DEVELOPER_DOCS):
            state.doc_scores[doc_id] *= state.params["developer_factor"]


def _share_sources_with_docs(state: _Ranking) -> None:
    """The top source files pass a little back to the docs that name their symbols."""
    src_doc = state.sidx.get("src_doc") or []
    for src_id, score in _ranked_sources(state)[:3]:
        for doc_id in src_doc[src_id] if src_id < len(src_doc) else []:
            state.doc_scores[doc_id] += state.params["link_doc"] * score


def _raise_used_files(state: _Ranking) -> None:
    """A model file passes a share of its score to the module, training plan, data splitter
    and mixins it uses (src/scvi/model/_totalvi.py -> src/scvi/module/_totalvae.py). This
    comes after the docs took their share: it is an inference about files, not evidence."""
    params, scores = state.params, state.src_scores
    src_uses = state.sidx.get("src_uses") or []
    raised: dict[int, float] = {}
    top_models = sorted(
        ((sid, sc) for sid, sc in scores.items() if sid < len(src_uses) and src_uses[sid]),
        key=lambda kv: (-kv[1], kv[0]),
    )[: params["uses_from"]]
    for src_id, score in top_models:
        for target, kind, name, line in src_uses[src_id]:
            own = scores.get(target, 0.0)
            # Up to just below the model file: it is what the question is about.
            value = max(own, min(own + params["uses"][kind] * score, params["uses_cap"] * score))
            if value > max(own, raised.get(target, 0.0)):
                raised[target] = value
                state.used[target] = (name, line)  # show the class the model uses
    scores.update(raised)


def _boost_best_defs(state: _Ranking) -> None:
    """Each file gains a share of the top file score by its best def or class, scored as a
    unit of its own (name, docstring, code: ``defs`` of the search index): a question about
    one method of a long file (``predict(soft=True)`` of ``_training_mixin.py``) matches
    that method's words more than the whole file's. Last among the file boosts, after the
    docs took their share: it reorders files, not documents."""
    weight = state.params["def_file"]
    defs = state.sidx.get("defs") or []
    if not weight or not defs:
        return
    best: dict[int, float] = {}
    for def_id, score in _accumulate(state.sidx["terms"], state.weights, SLOT_DEF).items():
        src_id = defs[def_id][0]
        if score > best.get(src_id, 0.0):
            best[src_id] = score
    if not best:
        return
    top_def = max(best.values())
    top_src = max(state.src_scores.values(), default=0.0) or 100.0
    power = state.params["def_power"]
    for src_id, score in best.items():
        state.src_scores[src_id] = (state.src_scores.get(src_id, 0.0)
                                    + weight * top_src * (score / top_def) ** power)


def _rank_passages(state: _Ranking) -> list[dict]:
    """Passages over the whole corpus: their own BM25F score, plus shares of their
    section's and their document's (normalised to the best of each), so that a passage
    holding the question's words in the right document wins over one that holds a few
    common words anywhere."""
    passages = state.sidx.get("passages") or []
    if not passages or not state.passage_scores:
        return []
    params, sections, docs = state.params, state.sidx["sections"], state.sidx["docs"]
    top_p = max(state.passage_scores.values()) or 1.0
    top_s = max(state.sec_scores.values(), default=0.0) or 1.0
    top_d = max(state.doc_scores.values(), default=0.0) or 1.0
    candidates = sorted(state.passage_scores.items(), key=lambda kv: (-kv[1], kv[0]))
    wanted = release_window(state.question, sections)
    went = _went_notes(state) if params["release_gone_match"] else {}
    said = _message_notes(state) if params["release_gone_match"] else {}
    scored = []
    old_factor = params["old_release_factor"]
    if old_factor != 1.0 and (wanted or went or said):
        old_factor = 1.0
    for pid, score in candidates[: params["passage_pool"]]:
        sec_id, start, end = passages[pid][:3]
        doc_id = sections[sec_id][0]
        value = (score / top_p
                 + params["passage_section"] * state.sec_scores.get(sec_id, 0.0) / top_s
                 + params["passage_in_doc"] * max(0.0, state.doc_scores.get(doc_id, 0.0)) / top_d
                 + params["passage_cover"] * state.passage_cover.get(pid, 0.0))
        if wanted and docs[doc_id][2] == "changelog" and wanted(_release_of(sections[sec_id][1])):
            value += params["release_match"]
        if pid in went and docs[doc_id][2] == "changelog" \
                and (_release_of(sections[sec_id][1]) or ())[:2] in went[pid]:
            value += params["release_gone_match"] * (
                params["release_gone_kept"] if _kept_kind(sections[sec_id][1]) else 1.0)
        if pid in said and docs[doc_id][2] == "changelog" \
                and (_release_of(sections[sec_id][1]) or ())[:2] == said[pid][0]:
            value += params["release_gone_match"] * said[pid][1]
        if old_factor != 1.0 and docs[doc_id][2] == "changelog" \
                and (_release_of(sections[sec_id][1]) or (1,))[0] < 1:
            value *= old_factor  # a 0.x release
        scored.append((value, pid, sec_id, doc_id, start, end))
    scored.sort(key=lambda row: (-row[0], row[1]))
    out = []
    for value, pid, sec_id, doc_id, start, end in scored:
        path, title = docs[doc_id][:2]
        # A release note is read alone: the bullets beside it are about other changes.
        wide = (start, end) if docs[doc_id][2] == "changelog" else \
            _widen(state.sidx, pid, params["passage_lines"])
        out.append({"path": path, "title": title, "section": sections[sec_id][1],
                    "lines": [start, end], "read": list(wide), "score": round(100 * value, 2),
                    "doc": doc_id, "section_id": sec_id})
    return out


_VERSION = re.compile(r"(?<![\w.=:])v?(\d+)\.(\d+)(?:\.(\d+))?(?![\w.])")
_RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
VERSION_CONTEXT = 24
"""A version number counts as scvi-tools' when "scvi" is at most this many characters before
it, or it follows "in", "on", "to", "from" or "since" (other packages' versions do not)."""


def _release_of(title: str) -> tuple[int, int, int] | None:
    match = _RELEASE.search(title)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def version_mentions(question: str) -> list[str]:
    """The version numbers in scvi-tools' context, as written ("1.2", "1.2.0"): "scvi" at most
    :data:`VERSION_CONTEXT` characters before, or "in", "on", "to", "from" or "since"."""
    found = []
    for match in _VERSION.finditer(question):
        before = question[max(0, match.start() - VERSION_CONTEXT) : match.start()].lower()
        if "scvi" in before or re.search(r"\b(?:in|on|to|from|since)\s+$", before):
            found.append(match.group(0).lstrip("v"))
    return found


def question_versions(question: str, sections: list) -> list[tuple[int, int]]:
    """(major, minor) of the scvi-tools releases the question names ("trained on 0.14, won't
    load in 0.20", "on scvi-tools 1.4"): version numbers in scvi-tools' context that are
    releases of the CHANGELOG (``sections`` titles carry them)."""
    found = [(int(parts[0]), int(parts[1])) for parts in
             (mention.split(".") for mention in version_mentions(question))]
    if not found:
        return []
    known = {r[:2] for sec in sections if (r := _release_of(sec[1]))}
    return [v for v in found if v in known]


def release_window(question: str, sections: list):
    """A test of a release (major, minor, patch) against the question's versions, or None:
    with two or more, the releases after the oldest up to the newest (what changed between
    them); with one, its own minor series and the next (what changed in or right after
    it)."""
    versions = question_versions(question, sections)
    if not versions:
        return None
    lo, hi = min(versions), max(versions)
    if lo != hi:
        return lambda r: r is not None and lo < r[:2] <= hi
    nxt = (lo[0], lo[1] + 1)
    return lambda r: r is not None and r[:2] in (lo, nxt)


_KEPT_KINDS = frozenset({"fix", "fixed", "bug", "added", "enhancement"})


def _kept_kind(title: str) -> bool:
    """A release-note heading of a kind that keeps names (fixes, additions), not one that
    removes or changes them ("Removed", "Breaking changes", "Changed")."""
    return bool(_KEPT_KINDS & set(tokenize(title.rsplit(" > ", 1)[-1])))


def _went_notes(state: _Ranking) -> dict[int, set[tuple[int, int]]]:
    """Passage id -> the minor series ((major, minor)) that the API history says a name or
    keyword the passage holds went in, for the names and keywords of the question that the
    pinned release lacks."""
    found: dict[int, set[tuple[int, int]]] = defaultdict(set)
    went = [(term, [release[:2]]) for term, version in gone_releases(state.question, state.sidx)
            if (release := _release_of(version))]
    # A default that changed: the notes of each release where it took a new value.
    went += [(param.lower(), [release[:2]])
             for _, param, runs, versions in changed_defaults(state.question, state.sidx)
             for before, (value, first, _) in zip(runs, runs[1:])
             if value != before[0] and (release := _release_of(versions[first]))]
    # A name no release since 1.0.0 had where the question looks (scvi.data.setup_anndata) went
    # in a 0.x release: any of them.
    passages, sections = state.sidx.get("passages") or [], state.sidx["sections"]
    early: list[tuple[int, int]] | None = None
    for name, version in moved_releases(state.question, state.sidx):
        term = name.rsplit(".", 1)[-1].lower()
        if version:
            if release := _release_of(version):
                went.append((term, [release[:2]]))
            continue
        if early is None:
            early = sorted({r[:2] for sec in sections if (r := _release_of(sec[1])) and r[0] == 0})
        went.append((term, early))
    rare = state.params["release_gone_parts"] * len(passages)  # 0: parts are off
    written = {i.rsplit(".", 1)[-1].lower(): i.rsplit(".", 1)[-1]
               for i in identifiers(state.question[:MAX_QUESTION_CHARS])}
    for term, series in went:
        # The name itself, and its rarer parts (the "Jax" of JaxSCVI) in a note that removes
        # or changes names ("Removed Jax support"): a class often goes with its whole family.
        parts = [(term, False)]
        if rare:
            parts += [(part, True) for part in tokenize(written.get(term, term)) if part != term]
        for word, is_part in parts:
            entry = state.sidx["terms"].get(word)
            if not entry or len(entry) <= SLOT_PASSAGE or not entry[SLOT_PASSAGE]:
                continue
            items = entry[SLOT_PASSAGE].split()
            if is_part and len(items) > rare:
                continue
            for item in items:
                pid = int(item.partition(":")[0])
                if is_part and (pid >= len(passages)
                                or _kept_kind(sections[passages[pid][0]][1])):
                    continue
                found[pid].update(series)
    return found


def _message_notes(state: _Ranking) -> dict[int, tuple[tuple[int, int], float]]:
    """Passage id -> (the minor series a pasted message went in, the share of the message's
    words the passage holds, by passage idf), when the question pastes a message that an
    earlier release raised and the pinned one does not (:func:`.history.gone_message`): the
    release notes of that series say what changed (a restriction lifted, a check reworded).
    A note adding or fixing something counts in full here: lifting a restriction is
    usually an addition."""
    gone = gone_message(state.question)
    release = _release_of(gone["gone_since"]) if gone else None
    if not release:
        return {}
    passages = state.sidx.get("passages") or []
    n = max(len(passages), 1)
    weights = {}
    for term in set(tokenize(gone["template"])):
        entry = state.sidx["terms"].get(term)
        if entry and len(entry) > SLOT_PASSAGE and entry[SLOT_PASSAGE]:
            weights[term] = (entry[SLOT_PASSAGE], posting_idf(entry[SLOT_PASSAGE], n))
    total = sum(w for _, w in weights.values()) or 1.0
    held: dict[int, float] = defaultdict(float)
    for row, weight in weights.values():
        for item in row.split():
            held[int(item.partition(":")[0])] += weight / total
    return {pid: (release[:2], share) for pid, share in held.items()}


def _widen(sidx: dict, pid: int, max_lines: int) -> tuple[int, int]:
    """What to read for passage ``pid``: its whole section (heading and own body) when that
    is at most ``max_lines`` long, else the passage grown by its neighbours in the section
    (the next one first: a lead-in line before a list, a list after its lead-in) while the
    span stays within ``max_lines``."""
    passages, sections = sidx["passages"], sidx["sections"]
    sec_id, start, end = passages[pid][:3]
    sec_start, sec_end = sections[sec_id][2:4]
    if sec_end - sec_start + 1 <= max_lines:
        return sec_start, sec_end
    before, after = pid - 1, pid + 1
    while True:
        grown = False
        if after < len(passages) and passages[after][0] == sec_id \
                and passages[after][2] - start + 1 <= max_lines:
            end, after, grown = passages[after][2], after + 1, True
        if before >= 0 and passages[before][0] == sec_id \
                and end - passages[before][1] + 1 <= max_lines:
            start, before, grown = passages[before][1], before - 1, True
        if not grown:
            return start, end


def _term_idf(state: _Ranking) -> dict[str, float]:
    """Query weight times passage-level idf of each query term the corpus knows: how much a
    term says when it turns up in a line of source (the pack's source windows)."""
    passages = state.sidx.get("passages") or []
    n = max(len(passages), 1)
    out = {}
    for term, weight in state.weights.items():
        entry = state.sidx["terms"].get(term)
        if not entry:
            continue
        row = entry[SLOT_PASSAGE] if len(entry) > SLOT_PASSAGE else ""
        out[term] = round(weight * posting_idf(row, n), 3)
    return out


def posting_idf(row: str, n: int) -> float:
    """BM25 idf of a term whose posting list (``"unit:impact ..."``) is ``row``, among ``n``
    units."""
    df = row.count(" ") + 1 if row else 0
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def passage_idf(vocabulary: dict, term: str, n: int) -> float:
    """Passage-level idf of ``term`` among ``n`` passages; a term no passage holds gets the
    highest."""
    entry = vocabulary.get(term)
    return posting_idf(entry[SLOT_PASSAGE] if entry and len(entry) > SLOT_PASSAGE else "", n)


def _ranked_sources(state: _Ranking) -> list[tuple[int, float]]:
    sources = state.sidx["sources"]
    return sorted(state.src_scores.items(), key=lambda kv: (-kv[1], sources[kv[0]][0]))


def _doc_results(state: _Ranking, passages: list[dict], limit: int) -> list[dict]:
    """Distinct documents, best first, each with what to read: its best passage, else its
    best tutorial card or section, else (ranked on boosts alone) its introduction."""
    docs, sections = state.sidx["docs"], state.sidx["sections"]
    ranked = _release_notes_near_the_top(
        state, sorted(state.doc_scores.items(), key=lambda kv: (-kv[1], docs[kv[0]][0])))[:limit]
    best_passage: dict[int, dict] = {}
    for passage in passages:
        best_passage.setdefault(passage["doc"], passage)
    best_card = _best_cards(state.sidx, state.weights,
                            {state.best_sec[d][1] for d, _ in ranked if d in state.best_sec})
    out = []
    for doc_id, score in ranked:
        path, title = docs[doc_id][:2]
        if doc_id in state.best_sec:
            sec = best_card.get(state.best_sec[doc_id][1]) or sections[state.best_sec[doc_id][1]]
            section, lines = sec[1], [sec[2], sec[3]]
        else:
            section, lines = _doc_intro(state.sidx, doc_id, title)
        row = {"path": path, "title": title, "section": section, "lines": lines, "score": score}
        if doc_id in best_passage:
            row["section"], row["lines"] = best_passage[doc_id]["section"], best_passage[doc_id]["read"]
            row["section_lines"] = lines
        out.append(row)
    return out


def _release_notes_near_the_top(state: _Ranking, ranked: list[tuple[int, float]]) -> list:
    """``ranked`` (doc id, score) with the release notes moved up to place ``release_place``
    when they score at least ``release_near`` of the document there: their words rarely
    match a question's, so a near miss of the top places is worth showing. Their score is
    raised to just above that document's, so scores stay in rank order."""
    at = state.params["release_place"] - 1
    if at < 0 or len(ranked) <= at:
        return ranked
    docs = state.sidx["docs"]
    notes = next((i for i, (d, _) in enumerate(ranked) if docs[d][2] == "changelog"), None)
    if notes is not None and notes > at \
            and ranked[notes][1] >= state.params["release_near"] * ranked[at][1]:
        doc_id, _ = ranked.pop(notes)
        below = ranked[at][1]
        above = ranked[at - 1][1] if at else below + 0.02
        ranked.insert(at, (doc_id, below + min(0.01, (above - below) / 2)))
    return ranked


def _source_results(state: _Ranking, limit: int) -> list[dict]:
    sources = state.sidx["sources"]
    out = []
    for src_id, score in _ranked_sources(state)[:limit]:
        path, symbol, line = sources[src_id]
        if src_id in state.named:
            symbol, line = state.named[src_id][:2]
        elif src_id in state.used:
            symbol, line = state.used[src_id]
        out.append({"path": path, "symbol": symbol, "line": line, "score": score})
    return out


def _routes(question: str, sidx: dict) -> list[dict]:
    routes = []
    padded = f" {normalize_phrase(question[:MAX_QUESTION_CHARS])} "
    for skill, why, phrases in sidx.get("routes") or []:
        if any(f" {phrase} " in padded for phrase in phrases):
            routes.append({"skill": skill, "why": why})
    return routes


def _named_symbols(question: str, sidx: dict, params: dict = PARAMS) -> dict[int, tuple]:
    """Source id -> (public name, line, weight) for the symbols the question names.

    A name resolves as written (``scvi.model.SCANVI``), then by its ``Class.method`` tail
    (``SOLO.from_scvi_model`` -> SOLO's file, not SCANVI's), then by its last part. A bare
    last part defined in several files (``from_scvi_model``, ``get_normalized_expression``)
    weighs ``1 / n_files ** ambiguous_power``: the more files define it, the less it says."""
    names = sidx.get("names") or {}
    name_files = sidx.get("name_files") or {}
    named: dict[int, tuple] = {}
    keys = [ident.strip("`()").lower() for ident in identifiers(question[:MAX_QUESTION_CHARS])]
    # A bare name the question also writes out in full ("RESOLVI.setup_anndata ... inside
    # `setup_anndata`") is that one, not every file's that defines it.
    written_out = {key.rsplit(".", 1)[1] for key in keys
                   if "." in key and names.get(key)} if params["bare_after_dotted"] else set()
    lowered = question[:MAX_QUESTION_CHARS].lower()
    # Written out as a call with arguments (the user's own code), not "X.f() got an
    # unexpected keyword" (an error message's).
    called = {part for key in keys if "." in key and names.get(key)
              and re.search(re.escape(key) + r"\(\s*[^)\s]", lowered)
              for part in key.removeprefix("scvi.").split(".")}
    for key in keys:
        if key in written_out:
            continue
        parts = key.split(".")
        candidates = [(key, 1.0)]
        if len(parts) > 2:
            candidates.append((".".join(parts[-2:]), 1.0))
        if len(parts) > 1:
            ambiguity = name_files.get(parts[-1], 1) ** params["ambiguous_power"]
            candidates.append((parts[-1], 1.0 / ambiguity))
        elif key in name_files:
            candidates[0] = (key, 1.0 / name_files[key] ** params["ambiguous_power"])
        if len(parts) == 1 and called and key not in called:
            candidates = [(c, w * params["bare_beside_call"]) for c, w in candidates]
        for candidate, weight in candidates:
            hit = names.get(candidate)
            if hit:
                if hit[0] not in named or weight > named[hit[0]][2]:
                    named[hit[0]] = (hit[1], hit[2], weight)
                break
    return named


def _best_cards(sidx: dict, weights: dict[str, float], sec_ids: set[int]) -> dict[int, list]:
    """Section id -> its best-matching tutorial card (``[section_id, title, start, end]``),
    for the sections in ``sec_ids``: a matched tutorial index is read card by card."""
    cards = sidx.get("cards") or []
    if not cards or not any(c[0] in sec_ids for c in cards):
        return {}
    best: dict[int, tuple[float, int]] = {}
    for card_id, score in _accumulate(sidx["terms"], weights, SLOT_CARD).items():
        sec_id = cards[card_id][0]
        if sec_id in sec_ids and (sec_id not in best or (score, -card_id) > (best[sec_id][0], -best[sec_id][1])):
            best[sec_id] = (score, card_id)
    return {sec_id: cards[card_id] for sec_id, (_, card_id) in best.items()}


def _combine(old: float, new: float, params: dict) -> float:
    """Several topics boosting one target: the largest plus a share of the rest."""
    high, low = max(old, new), min(old, new)
    return high + params["topic_extra"] * low


def _doc_intro(sidx: dict, doc_id: int, title: str) -> tuple[str, list[int]]:
    """What to read of a document ranked without a matching section (on boosts only): its
    first section's own body, the introduction, not the whole file."""
    for sec in sidx["sections"]:
        if sec[0] == doc_id:
            return sec[1], [sec[2], sec[3]]
    return title, [1, 1]

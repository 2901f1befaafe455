"""Rank doc sections and source files for a question, from ``search_index.json``.

Score of a document = its best section's BM25F score, plus shares of its second-best
section and of the whole-document score, plus boosts: the doc about a model the question
names (``homes``, scaled by how specific the name is), curated routing topics whose
vocabulary the question uses (the largest boost per doc, phrases weighted by the specificity
of their words), overrides, and a little from the top source files whose symbols the doc
names. Contributor docs are down-weighted. Score of a source file = its own BM25F score
(names, path, docstrings), plus a share of the top sections that mention its symbols
(doc -> symbol links), plus topic boosts, plus a large boost when the question names one of
its symbols; tests/ files are down-weighted. Last, the top model files raise the module,
training plan, data splitter and mixin files their classes use (``src_uses``) to at most
just below their own score.

Boosts are multiples of the best plain score, so they mean the same for short and long
questions. All weights are in :data:`PARAMS`, chosen on the dev split of
``benchmarks/devset.jsonl`` only (``benchmarks/bench_resolver.py`` reports both splits).

Standard library only.
"""

from __future__ import annotations

from collections import defaultdict

from .tokens import identifiers, normalize_phrase, tokenize

MAX_QUESTION_CHARS = 4000
"""Only the start of a longer question is ranked (pasted logs are mostly noise)."""

DEVELOPER_DOCS = ("docs/developer/", "docs/api/developer.md")

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
}


def query_terms(question: str, synonyms: list, params: dict = PARAMS) -> dict[str, float]:
    """Weighted query terms: identifier wholes weigh more, repeats a little more,
    curated synonyms (routing.yaml) add their expansions at a lower weight."""
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


def resolve(
    question: str,
    sidx: dict,
    *,
    limit: int = 5,
    source_limit: int = 5,
    params: dict = PARAMS,
) -> dict:
    """``{"docs": [...], "source": [...], "routes": [...]}`` for ``question``, best first."""
    weights = query_terms(question, sidx.get("synonyms") or [], params)
    present = set(weights)
    terms = sidx["terms"]
    sections = sidx["sections"]

    sec_scores = _accumulate(terms, weights, 0)
    src_scores = _accumulate(terms, weights, 1)
    doc_whole = _accumulate(terms, weights, 2)

    # Documents: best section + a share of the second best + a share of the whole document.
    best_sec: dict[int, tuple[float, int]] = {}
    second: dict[int, float] = defaultdict(float)
    for sec_id, score in sec_scores.items():
        doc_id = sections[sec_id][0]
        prev = best_sec.get(doc_id)
        if prev is None or score > prev[0] or (score == prev[0] and sec_id < prev[1]):
            if prev is not None:
                second[doc_id] = max(second[doc_id], prev[0])
            best_sec[doc_id] = (score, sec_id)
        else:
            second[doc_id] = max(second[doc_id], score)
    doc_scores: dict[int, float] = defaultdict(float)
    for doc_id, (score, _) in best_sec.items():
        doc_scores[doc_id] = score + params["second_section"] * second[doc_id]
    for doc_id, score in doc_whole.items():
        doc_scores[doc_id] += params["doc_share"] * score

    # Source files: doc -> symbol links from the top sections.
    top_sections = sorted(sec_scores.items(), key=lambda kv: (-kv[1], kv[0]))
    sec_src = sidx.get("sec_src") or []
    for sec_id, score in top_sections[: params["link_sections"]]:
        for src_id in sec_src[sec_id] if sec_id < len(sec_src) else []:
            src_scores[src_id] += params["link"] * score

    # Symbols named in the question ("SCANVI", "scvi.train.TrainerConfig").
    named = _named_symbols(question, sidx, params)

    top_doc = max(doc_scores.values(), default=0.0) or 100.0
    top_src = max(src_scores.values(), default=0.0) or 100.0
    src_doc = sidx.get("src_doc") or []
    for src_id, (_, _, weight) in named.items():
        src_scores[src_id] += params["named_symbol"] * top_src * weight
        # The docs that name the named file's symbols, shared out: a file few docs
        # mention (SOLO's) says more about which doc answers than one many docs mention.
        linked = src_doc[src_id] if src_id < len(src_doc) else []
        for doc_id in linked:
            doc_scores[doc_id] += params["named_doc"] * top_doc * weight / len(linked) ** 0.5

    # A model named in the question boosts the doc about it (docs/user_guide/models/x.md).
    homes = sidx.get("homes") or {}
    home_hits = {}
    for term in present:
        if term in homes:
            doc_id, spec = homes[term]
            home_hits[doc_id] = max(home_hits.get(doc_id, 0.0), spec)
    for doc_id, spec in home_hits.items():
        doc_scores[doc_id] += params["home_doc"] * top_doc * spec**params["home_power"]

    # Curated routing: topics whose vocabulary the question uses, and overrides.
    # A doc or file listed by several matched topics gets its largest boost, not the sum.
    doc_boost: dict[int, float] = defaultdict(float)
    src_boost: dict[int, float] = defaultdict(float)
    for _topic_id, phrases, doc_ids, src_ids in sidx.get("topics") or []:
        strength = _phrase_hits(phrases, present, params)
        if not strength:
            continue
        for rank, doc_id in enumerate(doc_ids):
            boost = params["topic_doc"] * top_doc * strength * params["topic_rank_decay"] ** rank
            doc_boost[doc_id] = _combine(doc_boost[doc_id], boost, params)
        for rank, src_id in enumerate(src_ids):
            boost = params["topic_src"] * top_src * strength * params["topic_rank_decay"] ** rank
            src_boost[src_id] = _combine(src_boost[src_id], boost, params)
    for doc_id, boost in doc_boost.items():
        doc_scores[doc_id] += boost
    for src_id, boost in src_boost.items():
        src_scores[src_id] += boost
    for phrases, doc_ids, src_ids in sidx.get("overrides") or []:
        if _phrase_hits(phrases, present, params):
            for doc_id in doc_ids:
                doc_scores[doc_id] += params["override"] * top_doc
            for src_id in src_ids:
                src_scores[src_id] += params["override"] * top_src

    sources = sidx["sources"]
    for src_id in list(src_scores):
        if sources[src_id][0].startswith("tests/"):
            src_scores[src_id] *= params["tests_factor"]

    # Contributor docs (docs/developer/, the developer API list) rarely answer user questions.
    for doc_id in list(doc_scores):
        if sidx["docs"][doc_id][0].startswith(DEVELOPER_DOCS):
            doc_scores[doc_id] *= params["developer_factor"]

    # Sources pass a little back to the docs that name their symbols.
    ranked_src = sorted(src_scores.items(), key=lambda kv: (-kv[1], sources[kv[0]][0]))
    for src_id, score in ranked_src[:3]:
        for doc_id in src_doc[src_id] if src_id < len(src_doc) else []:
            doc_scores[doc_id] += params["link_doc"] * score

    # A model file passes a share of its score to the module, training plan, data splitter
    # and mixins it uses (src/scvi/model/_totalvi.py -> src/scvi/module/_totalvae.py). This
    # comes after the docs took their share: it is an inference about files, not evidence.
    src_uses = sidx.get("src_uses") or []
    shares = params["uses"]
    raised: dict[int, float] = {}
    top_models = sorted(
        ((sid, sc) for sid, sc in src_scores.items() if sid < len(src_uses) and src_uses[sid]),
        key=lambda kv: (-kv[1], kv[0]),
    )[: params["uses_from"]]
    used: dict[int, tuple[str, int]] = {}
    for src_id, score in top_models:
        for target, kind, name, line in src_uses[src_id]:
            own = src_scores.get(target, 0.0)
            # Up to just below the model file: it is what the question is about.
            value = max(own, min(own + shares[kind] * score, params["uses_cap"] * score))
            if value > max(own, raised.get(target, 0.0)):
                raised[target] = value
                used[target] = (name, line)  # show the class the model uses
    src_scores.update(raised)
    ranked_src = sorted(src_scores.items(), key=lambda kv: (-kv[1], sources[kv[0]][0]))

    docs = sidx["docs"]
    ranked_docs = sorted(doc_scores.items(), key=lambda kv: (-kv[1], docs[kv[0]][0]))
    best_card = _best_cards(sidx, weights, {best_sec[d][1] for d, _ in ranked_docs[:limit] if d in best_sec})
    out_docs = []
    for doc_id, score in ranked_docs[:limit]:
        path, title, _topic = docs[doc_id][:3]
        if doc_id in best_sec:
            sec = best_card.get(best_sec[doc_id][1]) or sections[best_sec[doc_id][1]]
            section, lines = sec[1], [sec[2], sec[3]]
        else:
            section, lines = _doc_intro(sidx, doc_id, title)
        out_docs.append(
            {"path": path, "title": title, "section": section, "lines": lines, "score": score}
        )
    out_src = []
    for src_id, score in ranked_src[:source_limit]:
        path, symbol, line = sources[src_id]
        if src_id in named:
            symbol, line = named[src_id][:2]
        elif src_id in used:
            symbol, line = used[src_id]
        out_src.append({"path": path, "symbol": symbol, "line": line, "score": score})

    routes = []
    padded = f" {normalize_phrase(question[:MAX_QUESTION_CHARS])} "
    for skill, why, phrases in sidx.get("routes") or []:
        if any(f" {phrase} " in padded for phrase in phrases):
            routes.append({"skill": skill, "why": why})
    return {"docs": out_docs, "source": out_src, "routes": routes, "terms": sorted(weights)}


def _named_symbols(question: str, sidx: dict, params: dict = PARAMS) -> dict[int, tuple]:
    """Source id -> (public name, line, weight) for the symbols the question names.

    A name resolves as written (``scvi.model.SCANVI``), then by its ``Class.method`` tail
    (``SOLO.from_scvi_model`` -> SOLO's file, not SCANVI's), then by its last part. A bare
    last part defined in several files (``from_scvi_model``, ``get_normalized_expression``)
    weighs ``1 / n_files ** ambiguous_power``: the more files define it, the less it says."""
    names = sidx.get("names") or {}
    name_files = sidx.get("name_files") or {}
    named: dict[int, tuple] = {}
    for ident in identifiers(question[:MAX_QUESTION_CHARS]):
        key = ident.strip("`()").lower()
        parts = key.split(".")
        candidates = [(key, 1.0)]
        if len(parts) > 2:
            candidates.append((".".join(parts[-2:]), 1.0))
        if len(parts) > 1:
            ambiguity = name_files.get(parts[-1], 1) ** params["ambiguous_power"]
            candidates.append((parts[-1], 1.0 / ambiguity))
        elif key in name_files:
            candidates[0] = (key, 1.0 / name_files[key] ** params["ambiguous_power"])
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
    for card_id, score in _accumulate(sidx["terms"], weights, 3).items():
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

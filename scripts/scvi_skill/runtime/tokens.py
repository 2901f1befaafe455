"""Identifier-aware tokenizer shared by the search-index build and the query side.

The same function must run at build time (``search_index.build``) and at query time
(``rank``), so a query word and a corpus word meet on the same term. Rules:

- text is split on anything that is not a letter, digit, ``_`` or ``.``;
- an identifier keeps its whole lowercased form *and* its parts: ``scvi.model.SCANVI`` gives
  ``scvi.model.scanvi``, ``scvi``, ``model``, ``scanvi``; ``batch_key`` gives ``batch_key``,
  ``batch``, ``key``; ``TrainerConfig`` gives ``trainerconfig``, ``trainer``, ``config``;
- English stopwords are dropped, plain words get a light suffix stemmer (``losses`` ->
  ``loss``, ``training`` -> ``train``); whole identifiers are never stemmed, so
  ``get_normalized_expression`` stays exact while its parts still match prose.

Standard library only.
"""

from __future__ import annotations

import re

# Letters/digits/underscore/dot runs; dots are trimmed afterwards (end of sentence).
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*")
# CamelCase parts: "TOTALANVI" stays one part, "TrainerConfig" -> Trainer, Config,
# "SCVIModel" -> SCVI, Model, "scVI" -> sc, VI.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

MAX_TOKEN_CHARS = 80
"""Longer runs (base64, hashes) are not words anyone searches for."""

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either else etc even ever every few for from further get gets got had
    hadn has hasn have haven having he her here hers herself him himself his how however i if in
    into is isn it its itself just let lets like ll may me might more most much must mustn my
    myself need needs no nor not now of off on once one only or other others our ours ourselves
    out over own per please re really s same shall shan she should shouldn so some still such t
    than that thats the their theirs them themselves then there these they this those though
    through thus to too under until up upon us ve very via was wasn we were weren what whats
    when where whether which while who whom whose why will with within without won would wouldn
    yet you your yours yourself yourselves im ive id hi hello thanks thank anyone someone
    something somehow way ways want wanted trying tried try e g eg ie i.e e.g
    """.split()
)
"""English function words and chat filler ("hi", "thanks", "trying to")."""

_SUFFIXES = (
    ("ational", "ate"),
    ("izations", "ize"),
    ("isations", "ize"),
    ("ization", "ize"),
    ("isation", "ize"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("nesses", ""),
    ("ness", ""),
    ("ments", ""),
    ("ment", ""),
    ("ities", ""),
    ("ity", ""),
    ("ies", "y"),
    ("ings", ""),
    ("ing", ""),
    ("ers", "er"),
    ("ed", ""),
    ("ches", "ch"),
    ("shes", "sh"),
    ("xes", "x"),
    ("s", ""),
)
# "ing"/"ed" need a longer base so "embed", "speed", "string" stay whole. A plural meets its
# singular: "settings"/"setting" -> "set", "normalizations"/"normalization" -> "normaliz".
_VERB_SUFFIXES = ("ings", "ing", "ed")
_NO_STEM_ENDINGS = ("ss", "is", "ous")
_OWN_PLURALS = frozenset({"settings"})
"""Plurals kept apart from their singular's stem: ``scvi.settings`` is a name of its own,
which "set" (as "setting" stems) would drown."""
_US_WORDS = frozenset("bus plus thus status corpus census virus focus bonus nucleus consensus".split())
MIN_STEM_CHARS = 3


_STEMS: dict[str, str] = {}
"""Stems already computed (tokenizing source files for windows stems the same words again);
cleared when it holds :data:`MAX_STEMS`."""
MAX_STEMS = 50_000


def stem(word: str) -> str:
    """A light, deterministic suffix stripper for lowercase plain words.

    It is deliberately weaker than Porter: it only has to make "losses"/"loss",
    "normalized"/"normalize"/"normalization" and "trained"/"training"/"trainer" meet.
    """
    found = _STEMS.get(word)
    if found is None:
        if len(_STEMS) >= MAX_STEMS:
            _STEMS.clear()
        found = _STEMS[word] = _stem(word)
    return found


def _stem(word: str) -> str:
    if len(word) <= 3 or not word.isalpha() or word.endswith(_NO_STEM_ENDINGS) or word in _US_WORDS:
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix):
            base = word[: -len(suffix)] + replacement
            if len(base) < MIN_STEM_CHARS or (suffix in _VERB_SUFFIXES and len(base) < 4):
                if suffix == "ings":
                    continue  # "strings": the plural of a word kept whole ("string")
                return word
            if suffix == "ings" and word in _OWN_PLURALS:
                continue
            if suffix in _VERB_SUFFIXES and len(base) > 3 and base[-1] == base[-2] != "s":
                base = base[:-1]  # "stopping" -> "stop", "mapped" -> "map"
            if base.endswith("e") and len(base) > 4:
                base = base[:-1]  # "normalize"/"normalized"/"normalization" -> "normaliz"
            return base
    if word.endswith("e") and len(word) > 4:
        return word[:-1]
    return word


def probe_key(term: str) -> str:
    """The longest start of ``term`` that every word tokenized to ``term`` holds, lowercased.

    A term is a lowercased identifier, a part of one, or a stem. A stem is a prefix of its
    word except where the stemmer put back letters: "ies" -> "y" ("copies" -> "copy"),
    "ization"/"isation" -> "ize" ("normalisation" -> "normaliz"), "ation" -> "ate" (kept as
    "ate" on a short base: "nation" -> "nate"). Dropping those letters leaves a prefix, so a
    line whose lowercased text lacks the key cannot yield the term. Identifier wholes and
    numbers are never stemmed: their key is the whole term."""
    if not term.isalpha():
        return term
    if term.endswith("ize"):
        return term[:-2]
    if term.endswith(("iz", "y", "e")) and len(term) > 1:
        return term[:-1]
    return term


def _camel_parts(word: str) -> list[str]:
    """CamelCase pieces of a word longer than 4 characters, if all have 2+ characters
    ("NaNs" and "scVI" stay whole words)."""
    if len(word) <= 4:
        return []
    parts = _CAMEL.findall(word)
    return parts if len(parts) > 1 and min(len(p) for p in parts) > 1 else []


def _parts(identifier: str) -> list[str]:
    """Lowercased pieces of one identifier: dotted, snake_case and CamelCase splits."""
    pieces: list[str] = []
    for dotted in identifier.split("."):
        for snake in dotted.split("_"):
            if not snake:
                continue
            camel = _camel_parts(snake)
            if len(camel) > 1:
                pieces.extend(p.lower() for p in camel)
                pieces.append(snake.lower())
            else:
                pieces.append(snake.lower())
        if "_" in dotted.strip("_") and dotted != identifier:
            pieces.append(dotted.lower())
    return pieces


def tokenize(text: str) -> list[str]:
    """Terms of ``text`` in order, with identifier wholes followed by their parts."""
    out: list[str] = []
    extend = out.extend
    known = _WORD_TERMS
    for match in _WORD.finditer(text):
        raw = match.group()
        terms = known.get(raw)
        if terms is None:
            if len(known) >= MAX_STEMS:
                known.clear()
            terms = known[raw] = _word_terms(raw.strip("._"))
        extend(terms)
    return out


_WORD_TERMS: dict[str, tuple[str, ...]] = {}
"""The terms of each word already tokenized (source lines repeat ``self``, ``adata``, ...);
cleared when it holds :data:`MAX_STEMS`."""


def _word_terms(raw: str) -> tuple[str, ...]:
    """The terms of one ``_WORD`` match, stripped of outer dots and underscores."""
    if not raw or len(raw) > MAX_TOKEN_CHARS:
        return ()
    simple = raw.isalnum()
    if simple and (
        raw.islower() or raw.isupper() or raw[1:].islower() or len(_camel_parts(raw)) < 2
    ):
        word = raw.lower()
        if word in STOPWORDS:
            return ()
        return (stem(word) if word.isalpha() else word,)
    whole = raw.lower()
    if whole in STOPWORDS:
        return ()
    out = [whole]
    for part in _parts(raw):
        if len(part) < 2 or part == whole or part in STOPWORDS:
            continue
        out.append(stem(part) if part.isalpha() else part)
    return tuple(out)


def normalize_phrase(text: str) -> str:
    """Lowercase words joined by single spaces, for literal phrase matching."""
    return " ".join(m.group().strip("._").lower() for m in _WORD.finditer(text) if m.group().strip("._"))


def identifiers(text: str) -> list[str]:
    """Runs in ``text`` that look like code identifiers (``_``, ``.``, or inner capitals)."""
    found = []
    for match in _WORD.finditer(text):
        raw = match.group().strip("._")
        if not raw or len(raw) > MAX_TOKEN_CHARS:
            continue
        if "_" in raw or "." in raw or (not raw.isupper() and any(c.isupper() for c in raw[1:])):
            found.append(raw)
        elif raw.isupper() and len(raw) > 2:
            found.append(raw)
    return found

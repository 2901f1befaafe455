"""From a pasted error or warning to the scvi-tools lines that raise it, and under which condition.

Reads ``references/messages.json`` (built by :mod:`scvi_skill.build.source.messages`; fields in
:class:`~scvi_skill.runtime.schema.MessageRow`) and matches pasted text against its templates:

1. :func:`clean_message` keeps the message: traceback lines (``Traceback ...``, ``File "...",
   line N``, IPython's ``Cell In[3], line 1`` and ``----> 1 code`` lines, ``^^^^`` markers) go,
   the text after the last ``ExceptionClass:`` (or ``path.py:12: UserWarning:``) is the
   message, and backticks, quotes and extra whitespace do not matter. Text over
   :data:`MAX_MESSAGE_CHARS` keeps its head and tail (``cut`` is set). An exception class
   the text names anywhere (``I get a KeyError, saying ...``) is kept in ``exceptions``.
2. :func:`match_messages` compares words, in order: a template's static words must appear in
   the message, each ``{placeholder}`` stands for up to :data:`MAX_HOLE_WORDS` pasted words
   (values), and a partial paste scores by the longest common runs. ``score`` is in [0, 1]:
   about 1 for a whole message with its values, lower for a part of one. When the text
   prints an exception class (``KeyError: ...``), the sites raising it (or a built-in subclass
   of it) that match come before any site raising another class; a class it only retells
   ("I get a KeyError") adds a bonus to the score.
3. :func:`looks_like_error` says, cheaply (no file read), whether a question carries an error
   text worth matching.

No regular expression is built from user text. Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import builtins
import re
from collections import namedtuple
from collections.abc import Callable, Iterable
from difflib import SequenceMatcher
from functools import cached_property
from math import log
from pathlib import Path

from .errortext import EXCEPTION_NAME, looks_like_error  # noqa: F401 (re-exported)
from .index import load_json
from .paths import REFERENCES_DIR
from .formats import MESSAGE_FIELDS, MESSAGES_FORMAT

MessageRow = namedtuple("MessageRow", MESSAGE_FIELDS)
"""A site of ``messages.json`` (:class:`.schema.MessageRow` documents the fields). Plain
``namedtuple``s and classes here, not ``typing`` or ``dataclasses``: a question with error text
loads this module in the one call, and those imports cost more than the matching."""

MESSAGES_PATH = REFERENCES_DIR / "messages.json"
MAX_MESSAGE_CHARS = 2000
"""Longer pasted text keeps its first :data:`HEAD_CHARS` and last ``MAX - HEAD`` characters."""
HEAD_CHARS = 1200
MAX_SCAN_CHARS = 200_000
"""Pasted text beyond this is not even scanned for traceback lines."""
MAX_HOLE_WORDS = 12
"""A placeholder explains at most this many pasted words (a value, a short list)."""
HOLE_WEIGHT = 0.5
"""A pasted word explained by a placeholder counts half a matched word."""
CANDIDATES = 60
"""Sites sharing the most (idf-weighted) words with the message are scored in full."""
DEFAULT_LIMIT = 5
MIN_SCORE = 0.45
"""Below this a site is not reported as a match (``search_source.py --message`` exits 1)."""
PACK_MIN_SCORE = 0.7
"""What a question must reach to put a raise site into the resolver's pack (on the devset's
questions that :func:`looks_like_error` flags, 0.7 keeps every site a question quotes and
drops torch's and Python's own messages matched by shared words)."""
EXCEPTION_BONUS = 0.05
"""Added when the pasted exception class is the site's."""
MAX_SEGMENTS = 3
"""Messages of a chained traceback matched separately (the last ones)."""
FRAME_BONUS = 0.1
"""Added to a site whose file and line a pasted traceback frame names."""

_WORD = re.compile(r"[a-z0-9_]+")
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_EXCEPTION_NAME = EXCEPTION_NAME
_NAMED_EXCEPTION = re.compile(rf"(?<![\w.]){_EXCEPTION_NAME}\b")
_PRINTED = re.compile(rf"(?:^|[\s(\[]){_EXCEPTION_NAME}\s*:")
"""The class as Python prints it at a traceback's end: ``KeyError: ...``."""
"""An exception class named anywhere in a message line, prose included ("a KeyError, saying")."""
_EXCEPTION_LINE = re.compile(
    rf"(?:^|[\s:(\[])(?P<name>{_EXCEPTION_NAME})(?:\s*:\s*|\s+)(?P<rest>\S.*)?$")
_NOISE_LINE = re.compile(
    r"""^\s*(?:
        Traceback\ \(most\ recent\ call\ last\)
      | File\ ["~/\\.\w].*(?:,\ line\ \d+|:\d+)
      | Cell\ In\s*\[\d*\],\ line\ \d+
      | (?:-+>|\d+\s+[^\s\d])   # IPython code lines: "----> 12 model.train()", "     11 x = 1"
      | [\^~\s]+$
      | -{10,}
      | During\ handling\ of\ the\ above\ exception
      | The\ above\ exception\ was\ the\ direct\ cause
      | warnings\.warn\(
      | \.\.\.\s*$
    )""", re.VERBOSE)
_FILE_LINE = re.compile(r'^\s*File ["~/\\.\w]')
_FRAME = re.compile(r'[/\\]scvi[/\\]([\w/\\]+\.py)(?:", line |:)(\d+)')

class Cleaned(namedtuple("Cleaned", "text segments exceptions cut frames printed told",
                         defaults=(False, frozenset(), frozenset(), frozenset()))):
    """Pasted text reduced to what is matched:

    - ``text``: the message(s), one line each, noise removed;
    - ``segments``: the messages matched separately (a chained traceback has several);
    - ``exceptions``: exception or warning class names seen (last dotted part);
    - ``cut``: the text was longer than :data:`MAX_MESSAGE_CHARS` and was cut;
    - ``frames``: ``(path, line)`` of the scvi frames of a pasted traceback (``src/scvi/...``);
    - ``printed``: the classes of ``exceptions`` written as Python prints them,
      ``KeyError: ...`` (a retelling, "I get a KeyError", may misname the class);
    - ``told``: those named only in the text's prose, on no exception line.
    """

    __slots__ = ()


class _Site:
    """A site with its template's static ``words`` in order; ``holes[i]``: placeholders
    between ``words[i-1]`` and ``words[i]`` (index ``len(words)``: after the last word)."""

    __slots__ = ("row", "words", "holes", "key")

    def __init__(self, row: MessageRow, words: list[str], holes: list[int],
                 key: tuple[str, ...]) -> None:
        self.row, self.words, self.holes, self.key = row, words, holes, key


class MessageIndex:
    """The sites of ``messages.json`` with the word postings the matcher uses."""

    def __init__(self, data: dict) -> None:
        fields = data.get("fields") or list(MessageRow._fields)
        order = [fields.index(name) for name in MessageRow._fields]
        self.version = data.get("scvi_tools_version", "")
        self._pass_fields = data.get("pass_fields") or []
        self._pass_rows = data.get("passes") or []
        self.module_classes: dict[str, list[str]] = dict(data.get("module_classes") or {})
        """Model class -> the module class it builds and that class's bases in the package
        (``SCANVI`` -> ``SCANVAE``, ``VAE``)."""
        self.sites: list[_Site] = []
        raws = data.get("sites", [])
        # The build's words and holes of each template and its word postings and weights
        # (site_words, postings, idf; :func:`derived`), when there for every site; else made
        # here.
        split = data.get("site_words")
        if not isinstance(split, list) or len(split) != len(raws):
            split = None
        for n, raw in enumerate(raws):
            row = MessageRow(*(raw[i] for i in order))
            words, holes = split[n] if split else template_words(row.template)
            self.sites.append(_Site(row, words, holes, tuple(words)))
        postings, idf = data.get("postings"), data.get("idf")
        if split and isinstance(postings, dict) and isinstance(idf, dict) \
                and isinstance(data.get("unknown_idf"), float):
            self.postings: dict[str, list[int]] = postings
            self.idf: dict[str, float] = idf
            self.unknown_idf: float = data["unknown_idf"]
            return
        self.postings = {}
        for site_id, site in enumerate(self.sites):
            for word in set(site.words):
                self.postings.setdefault(word, []).append(site_id)
        # Word weights come from the raise, warn and log sites alone: the print lines (a few
        # dozen progress and notice lines) are found, but do not shift what every other
        # message's words weigh.
        counted = [site.row.kind != "print" for site in self.sites]
        n = max(1, sum(counted))
        self.unknown_idf = log(1 + n)
        self.idf = {}
        for word, ids in self.postings.items():
            df = sum(counted[i] for i in ids)
            self.idf[word] = log(1 + n / df) if df else self.unknown_idf

    def derived(self) -> dict:
        """What this index computed from the sites' templates (``site_words``, ``postings``,
        ``idf``, ``unknown_idf``): the build stores it in ``messages.json``, so that a call
        reads it instead."""
        return {"site_words": [[site.words, site.holes] for site in self.sites],
                "postings": self.postings, "idf": self.idf, "unknown_idf": self.unknown_idf}

    @cached_property
    def passes(self) -> list[dict]:
        """Calls that pass a keyword beside a ``**mapping`` the caller may fill with it
        (:func:`scvi_skill.build.source.messages.module_passes`), made on first use (only
        Python's "got multiple values for keyword argument" reads them)."""
        return [dict(zip(self._pass_fields, row)) for row in self._pass_rows]


_LOADED: dict[Path, MessageIndex] = {}


def load_messages(path: Path | None = None) -> MessageIndex:
    """The message index (cached per process); :class:`IndexStale` (exit 6) when missing."""
    path = Path(path or MESSAGES_PATH)
    if path not in _LOADED:
        _LOADED[path] = MessageIndex(
            load_json(path, expected_format=MESSAGES_FORMAT, what="message index"))
    return _LOADED[path]


# -- text ----------------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Lower-case words (letters, digits, ``_``): punctuation, quotes and backticks drop out."""
    return _WORD.findall(text.lower())


def template_words(template: str) -> tuple[list[str], list[int]]:
    """Static words of a template and ``holes``: ``holes[i]`` placeholders stand before
    ``words[i]`` (``holes[len(words)]``: after the last word). A word glued to a placeholder
    (``layer_{name}``, ``{n}x``) belongs to the value, not to the static text."""
    parts = list(template_parts(template))
    words: list[str] = []
    holes = [0]
    for k, (is_hole, text) in enumerate(parts):
        if is_hole:
            holes[-1] += 1
            continue
        low = text.lower()
        hole_before = k > 0 and parts[k - 1][0]
        hole_after = k + 1 < len(parts) and parts[k + 1][0]
        for match in _WORD.finditer(low):
            if hole_before and match.start() == 0 or hole_after and match.end() == len(low):
                continue
            words.append(match.group())
            holes.append(0)
    return words, holes


def template_parts(template: str) -> Iterable[tuple[bool, str]]:
    """``(is_placeholder, text)`` pieces of a template: ``{{`` and ``}}`` are literal braces,
    ``{...}`` a placeholder (the build keeps braces out of a placeholder's text)."""
    buf: list[str] = []
    pos = 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        buf.append(template[pos:match.start()])
        pos = match.end()
        token = match.group()
        if token in ("{{", "}}"):
            buf.append(token[0])
            continue
        if any(buf):
            yield False, "".join(buf)
        buf = []
        yield True, match.group(1)
    buf.append(template[pos:])
    if any(buf):
        yield False, "".join(buf)


def clean_message(text: str) -> Cleaned:
    """The message part of pasted text (see the module docstring)."""
    cut = len(text) > MAX_MESSAGE_CHARS
    lines = _without_noise(text[:MAX_SCAN_CHARS].splitlines())
    segments: list[str] = []
    names: set[str] = set()
    printed: set[str] = set()
    told: set[str] = set()
    for line in lines:
        match = _EXCEPTION_LINE.search(line)
        if match:
            names.add(match.group("name").rsplit(".", 1)[-1])
            if _PRINTED.search(line):
                printed.add(match.group("name").rsplit(".", 1)[-1])
            segments.append(match.group("rest") or "")
        elif segments:
            segments[-1] += " " + line
        told.update(name.rsplit(".", 1)[-1] for name in _NAMED_EXCEPTION.findall(line))
    whole = " ".join(" ".join(lines).split())
    segments = [" ".join(seg.split()) for seg in segments[-MAX_SEGMENTS:]]
    segments = [seg for seg in segments if len(words_of(seg)) >= 2]
    if whole and whole not in segments:
        segments.append(whole)
    if cut:
        segments = [_cut(seg) for seg in segments]
        whole = _cut(whole)
    shown = segments[-2] if len(segments) > 1 and segments[-1] == whole else whole
    frames = frozenset(("src/scvi/" + path.replace("\\", "/"), int(line))
                       for path, line in _FRAME.findall(text[:MAX_SCAN_CHARS]))
    return Cleaned(text=shown, segments=tuple(dict.fromkeys(segments)),
                   exceptions=frozenset(names | told), cut=cut, frames=frames,
                   printed=frozenset(printed), told=frozenset(told - names))


def _cut(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:HEAD_CHARS] + " ... " + text[-(MAX_MESSAGE_CHARS - HEAD_CHARS):]


def _without_noise(lines: list[str]) -> list[str]:
    kept: list[str] = []
    after_file = False
    for line in lines:
        if not line.strip():
            after_file = False
            continue
        if _NOISE_LINE.match(line):
            after_file = bool(_FILE_LINE.match(line))
            continue
        if after_file and line[:1].isspace():
            after_file = False  # the source line Python prints under a File line
            continue
        after_file = False
        kept.append(line.strip())
    return kept


# -- matching ------------------------------------------------------------------------------------


def match_messages(text: str, limit: int = DEFAULT_LIMIT, *, min_score: float = MIN_SCORE,
                   path: Path | None = None) -> list[dict]:
    """The sites whose message best matches pasted ``text``, best first: dicts with ``path``,
    ``line``, ``kind`` (``raise``/``warn``/``log``/``print``), ``exception``, ``function``,
    ``condition``, ``template`` and ``score`` (0..1, three decimals), at most ``limit``, none under
    ``min_score``; ``same_message`` (True) on each of the leading sites that raise one message
    with one score, which the text does not tell apart (:func:`same_message` counts them).
    Raises :class:`~scvi_skill.runtime.errors.IndexStale` when the message index is missing."""
    return find_sites(clean_message(text), load_messages(path), limit, min_score=min_score)


def find_sites(cleaned: Cleaned, index: MessageIndex, limit: int, *,
               min_score: float = MIN_SCORE,
               admit: Callable[[str], bool] | None = None) -> list[dict]:
    """The sites matching ``cleaned``, best first (as :func:`match_messages`); ``admit``: a
    test of a site's path (``search_source.py --in``), None for every site."""
    allowed = None if admit is None else {
        site_id for site_id, site in enumerate(index.sites) if admit(site.row.path)}
    best: dict[int, tuple[float, float, float]] = {}
    asked = set(words_of(" ".join(cleaned.segments)))
    for segment in cleaned.segments:
        query = words_of(segment)
        if not query:
            continue
        for site_id, key in _score_all(index, query, cleaned, allowed).items():
            if key > best.get(site_id, (-1.0, 0.0, 0.0)):
                best[site_id] = key

    def module_words(site_id: int) -> int:
        return len(asked.intersection(index.sites[site_id].row.function.split(".")))

    # ties (one message raised in several places) go to the site whose module the paste names
    ranked = sorted(best.items(), key=lambda item: (
        -item[1][0], -item[1][1], -module_words(item[0]), index.sites[item[0]].row[:2]))
    if cleaned.printed:
        # The class Python printed: a site raising another one cannot have raised it, so it
        # never comes first while a site raising that class matches too (the score's bonus
        # alone let better-worded sites win). A class the text only retells ("I get a
        # KeyError") gets the bonus: people misname the class of what they saw.
        named = {site_id for site_id, (_, _, base) in ranked if base >= min_score
                 and raises_named(index.sites[site_id].row.exception, cleaned.printed)}
        if named:
            ranked.sort(key=lambda item: item[0] not in named)
    out, tied, counting = [], 0, True
    for site_id, (score, _, base) in ranked:
        if base < min_score:
            continue  # a retold class's bonus orders the sites; it lifts none over min_score
        row = index.sites[site_id].row
        if not _names_its_module(row, [cleaned.text, *cleaned.segments]):
            continue
        # One message raised in several places (the fields' "{key} not found in
        # adata.{attr}"), matched whole, with nothing in the text to tell them apart (a
        # traceback's frame adds its bonus, a module the text names its tie-break): counted
        # past the limit too, so that the first says how many there are.
        key = (round(score, 9), _shape(row.template), module_words(site_id))
        if not out:
            first = key
        same = counting and first[0] >= SAME_MIN and key == first
        tied += same
        counting = same
        if len(out) >= limit and not same:
            break
        if len(out) < limit:
            out.append({**row._asdict(), "score": round(min(1.0, score), 3)})
    if tied > 1:
        for match in out[:tied]:
            match["same_message"] = True
        out[0]["same_sites"] = tied
    return out


def same_message(matches: list[dict]) -> int:
    """How many sites raise the message of the first of ``matches`` (from
    :func:`find_sites`) with the same score, so that the pasted text does not tell them
    apart, those past the limit included: 0 when the first stands alone."""
    return int(matches[0].get("same_sites", 0)) if matches else 0


def _shape(template: str) -> str:
    """A template with each placeholder as ``{}``: two sites of one message share it."""
    return _PLACEHOLDER.sub("{}", template)


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def raises_named(exception: str, named: Iterable[str]) -> bool:
    """Whether a site's ``exception`` is one of the ``named`` classes or a subclass of one.
    Subclasses are known for Python's built-in classes (``KeyError`` of ``LookupError``,
    ``FileNotFoundError`` of ``OSError``); the 1.5.1 tree defines no exception class of its
    own, so any other name counts only as itself."""
    short = exception.rsplit(".", 1)[-1]
    named = set(named)
    if short in named:
        return True
    cls = getattr(builtins, short, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return False
    for name in named:
        base = getattr(builtins, name, None)
        if isinstance(base, type) and issubclass(base, BaseException) and issubclass(cls, base):
            return True
    return False


SAME_MIN = 0.9
"""Sites are said to raise one message the text does not tell apart only when they match it
about whole (a weak match of several sites is no such claim)."""


ECHO_RUN = 4
"""Words in a row (no placeholder between them) that a question must share with a site's
message to name that site without quoting it."""
ECHO_CONTENT = 3
"""Of those words, how many must not be stopwords ("set to cpu although", not "is not in the")."""


def echoed_sites(text: str, limit: int = 1, *, path: Path | None = None) -> list[dict]:
    """The sites whose message a question repeats in its own words without quoting it or
    naming an exception ("it just says accelerator set to cpu although mps exists", "I get
    the warning that the layer does not contain unnormalized count data"), best first, at
    most ``limit``: only when the question says it was told something (warns, says, prints,
    complains), and only a site sharing :data:`ECHO_RUN` words in a row with it, at least
    :data:`ECHO_CONTENT` of them not stopwords. ``score`` is the share of the message's
    words in such runs. Raises :class:`IndexStale` when the message index is missing."""
    from .errortext import says_it_was_told
    from .tokens import STOPWORDS

    if not says_it_was_told(text):
        return []
    text = text[:MAX_SCAN_CHARS]
    words = words_of(text)
    runs = {run for run in (tuple(words[i : i + ECHO_RUN])
                            for i in range(len(words) - ECHO_RUN + 1))
            if sum(w not in STOPWORDS for w in run) >= ECHO_CONTENT}
    if not runs:
        return []
    index = load_messages(path)
    firsts = {run[0] for run in runs}
    found = []
    for site in index.sites:
        shared: set[int] = set()
        for i in range(len(site.words) - ECHO_RUN + 1):
            if site.words[i] in firsts and not any(site.holes[i + 1 : i + ECHO_RUN]) \
                    and tuple(site.words[i : i + ECHO_RUN]) in runs:
                shared.update(range(i, i + ECHO_RUN))
        if shared:
            found.append((len(shared) / len(site.words), site.row))
    found.sort(key=lambda item: (-item[0], item[1][:2]))
    return [{**row._asdict(), "score": round(score, 3)} for score, row in found[:limit]]


_MODULE_NAME_HOLE = re.compile(r"\{__name__(?:![rsa])?\}")


def _names_its_module(row: MessageRow, segments: list[str]) -> bool:
    """False for a site whose message names its own module (``module {__name__!r} has no
    attribute {name}``, a package's ``__getattr__``) when the pasted text names another
    module: Python raises the same words for any module, so only the package named is a
    match."""
    if not _MODULE_NAME_HOLE.search(row.template):
        return True
    module = row.function.rsplit(".", 1)[0]
    own = re.compile(r"(?<![\w.])" + re.escape(module) + r"(?![\w.])")
    return any(own.search(segment) for segment in segments)


def _score_all(index: MessageIndex, query: list[str], cleaned: Cleaned,
               allowed: set[int] | None = None) -> dict[int, tuple[float, float, float]]:
    """(score, matched static weight, score without the exception bonus) of the candidate
    sites (only those in ``allowed``, when given); the score may pass 1 by the exception and
    frame bonuses (the ranking keeps them, the output clips)."""
    shared: dict[int, float] = {}
    for word in set(query):
        weight = index.idf.get(word)
        if weight is None:
            continue
        for site_id in index.postings[word]:
            if allowed is None or site_id in allowed:
                shared[site_id] = shared.get(site_id, 0.0) + weight
    top = sorted(shared, key=lambda i: (-shared[i], i))[:CANDIDATES]
    if cleaned.frames:
        top += [i for i, site in enumerate(index.sites)
                if (site.row.path, site.row.line) in cleaned.frames and i not in top
                and (allowed is None or i in allowed)]
    weights = [index.idf.get(w, index.unknown_idf) for w in query]
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(query)
    scored = {}
    for site_id in top:
        site = index.sites[site_id]
        score, static = _score(site, matcher, query, weights, index)
        if (site.row.path, site.row.line) in cleaned.frames:
            score += FRAME_BONUS
        named = site.row.exception.rsplit(".", 1)[-1]
        bonus = EXCEPTION_BONUS * (named in cleaned.exceptions)
        # A class on an exception line may lift a site over min_score (a partial paste of
        # "TypeError: register_fields() got unexpected keyword arguments"); one the prose only
        # retells orders the sites and lifts none.
        scored[site_id] = (score + bonus, static,
                           score if named in cleaned.told else score + bonus)
    return scored


def _score(site: _Site, matcher: SequenceMatcher, query: list[str], weights: list[float],
           index: MessageIndex) -> tuple[float, float]:
    """(score, matched static weight) of one site against the query's words."""
    words, holes = site.words, site.holes
    matcher.set_seq1(words)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    if not blocks:
        return 0.0, 0.0
    explained = [False] * len(query)
    static = 0.0
    for a, b, size in blocks:
        for k in range(size):
            explained[b + k] = True
            static += index.idf.get(words[a + k], index.unknown_idf)
    # placeholders explain the pasted words next to the matched runs, where no static word of
    # the template is missing in between (the hole is anchored on both known sides)
    edges = [(0, 0), *((a + size, b + size) for a, b, size in blocks)]
    nexts = [(a, b) for a, b, _ in blocks] + [(len(words), len(query))]
    for k, ((a_end, b_end), (a_next, b_next)) in enumerate(zip(edges, nexts)):
        if a_end != a_next or not holes[a_end]:
            continue
        room = min(b_next - b_end, MAX_HOLE_WORDS * holes[a_end])
        span = range(b_next - room, b_next) if k == 0 else range(b_end, b_end + room)
        for pos in span:
            explained[pos] = True
    total_t = sum(index.idf.get(w, index.unknown_idf) for w in words)
    first = explained.index(True)
    last = len(explained) - explained[::-1].index(True)
    in_span = sum(weights[first:last])
    got_span = sum(w for w, e in zip(weights[first:last], explained[first:last]) if e)
    got_all = sum(w for w, e in zip(weights, explained) if e)
    ct = static / total_t
    cq_span = got_span / in_span
    cq_all = got_all / sum(weights)
    f1 = 2 * ct * cq_span / (ct + cq_span)
    return 0.8 * f1 + 0.2 * cq_all, static

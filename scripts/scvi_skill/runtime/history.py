"""Names and keywords of the question that the pinned release lacks: in which releases they
existed, and the curated replacement (``references/api/``: history and migrations).

A user pasting code from an older notebook writes ``use_gpu=True``, ``scvi.model.JaxSCVI`` or
``ModelTuner``; the pinned tree has no passage about them, but the per-release API history says
when they went. The history is read only when the question names something the pinned index
does not know. Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re

from .errors import IndexStale, warn
from .errortext import MAX_CHARS
from .formats import MESSAGE_FIELDS
from .tokens import identifiers

MAX_FACTS = 3
MAX_CALLABLES_SHOWN = 2
MAX_HOMES_SHOWN = 2
"""Public names shown for the last part of a name that is not where the question looks."""
MAX_MOVED_NAMES = 8
"""Dotted names of one question checked against the pinned release (a paste of many)."""

_MISSING_MODULE_ATTR = re.compile(r"module '([A-Za-z_][\w.]*)' has no attribute '(\w+)'")
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)' from '([A-Za-z_][\w.]*)'")
"""Python's own messages for a name a module lacks (``AttributeError``, ``ImportError``):
they name the module and the name, the two halves of the dotted name the user reached for."""


def release_facts(question: str, sidx: dict) -> list[str]:
    """One line per name or keyword of ``question`` that the pinned release lacks and an
    earlier release (1.0.0 on) had (``gone`` of the search index, from the API history: only
    then is the history read), with the migrations file's replacement; before them, which
    releases use a name of another package that the question's error text names
    (:mod:`.dependency_uses`), the releases a Python version or a required package the question names fits
    (:mod:`.requirements`), since when the names and keywords of a "since which version"
    question exist (:func:`since_facts`) and the defaults that changed of a callable it writes
    out (:func:`default_facts`); at most :data:`MAX_FACTS`."""
    from .dependency_uses import dependency_use_facts
    from .requirements import dependency_facts, python_facts

    required = (dependency_use_facts(question) + python_facts(question)
                + dependency_facts(question) + since_facts(question, sidx)
                + default_facts(question, sidx))
    return _gone_facts(gone_identifiers(question, sidx), moved_names(question, sidx), sidx,
                       required[:MAX_FACTS])


def hint_facts(also: str, question: str, sidx: dict) -> list[str]:
    """``(release history)`` lines for the names and keywords of the agent's own hint
    (``resolve_docs.py --also``) that the pinned release lacks and an earlier release had,
    as :func:`release_facts` tells the question's (which it tells there): a guess from an
    older release, with what replaces it."""
    if not also:
        return []
    told = set(gone_identifiers(question, sidx))
    gone = [i for i in gone_identifiers(also, sidx) if i not in told]
    return [f"(release history) {line}" for line in _gone_facts(gone, [], sidx, [])]


def _gone_facts(unknown: list[str], elsewhere: list[str], sidx: dict, lines: list[str]) -> list[str]:
    """``lines`` and a line per name or keyword of ``unknown`` (gone from the pinned release)
    and per name of ``elsewhere`` (another module's), from the API history; at most
    :data:`MAX_FACTS`."""
    if not unknown and not elsewhere:
        return lines
    from .apifiles import load_migrations  # only now: a few ms

    try:
        history = _shipped_history()
        migrations = load_migrations()
    except IndexStale as err:
        warn(f"no release history: {err}")
        return lines
    versions = history.get("versions") or []
    lines = list(lines)
    for ident in unknown:
        line = _name_fact(ident, history, migrations, versions) if _is_name(ident) \
            else _keyword_fact(ident, history, migrations, versions)
        if line:
            lines.append(line)
        if len(lines) >= MAX_FACTS:
            return lines
    for name in elsewhere:
        line = _moved_fact(name, sidx, history, migrations, versions)
        if line:
            lines.append(line)
        if len(lines) >= MAX_FACTS:
            break
    return lines


def named_publics(question: str, sidx: dict | None) -> list[str]:
    """The public names the question writes (``SCVI.differential_expression``, a class), as
    the search index's public names resolve them: whole, else by their last two parts."""
    names = (sidx or {}).get("names") or {}
    out = []
    for ident in identifiers(question[:MAX_CHARS]) if names else []:
        parts = ident.strip("`()").lower().split(".")
        hit = names.get(".".join(parts)) or (names.get(".".join(parts[-2:]))
                                             if len(parts) > 2 else None)
        if hit and hit[1] not in out:
            out.append(hit[1])
    return out


_CHANGE_WORDS = re.compile(
    r"\b(?:upgrad\w*|updat\w*|used to|no longer|anymore|chang(?:e|ed|es)|"
    r"differ(?:s|ed|ent|ently|ences?)?|previous(?:ly)?|older|newer)\b",
    re.IGNORECASE)
"""Words of a question about behaviour that moved between releases."""


_SINCE_WORDS = re.compile(
    r"\b(?:since (?:which|what|when)|(?:which|what) (?:scvi-tools )?(?:version|release)|"
    r"when (?:was|were|did)|"
    r"(?:was|were|been|get|got) (?:added|introduced)|added in|introduced in|"
    r"available (?:since|from|in)|first (?:appeared|added|released)|new in|"
    r"minimum version)\b", re.IGNORECASE)
"""Words of a question asking when something arrived."""


def since_facts(question: str, sidx: dict) -> list[str]:
    """For a question asking when something arrived ("since which version", "added in"):
    one line per name or keyword it writes that the pinned release has, with the release
    since which it has been there without a break (the API history; a keyword as taken by the
    callables the question writes out, else by any), when that is not the history's first
    release (which says nothing about when it came). The history is read only then."""
    text = question[:MAX_CHARS]
    if not _SINCE_WORDS.search(text):
        return []
    gone = set(gone_identifiers(text, sidx))
    named = named_publics(text, sidx)
    wanted = [i for i in _candidates(text) if i not in gone]
    # A public name the question writes in a form no candidate is (``MRVI``: all capitals).
    covered = {i.rsplit(".", 1)[-1].lower() for i in wanted}
    wanted += [n for n in named if n.rsplit(".", 1)[-1].lower() not in covered]
    if not wanted:
        return []
    history, versions = _history_quietly()
    if not versions:
        return []
    # A plain word the question writes that a callable it names takes (``datamodule``).
    params = history.get("params") or {}
    words = set(re.findall(r"[a-z][a-z0-9_]*", text))
    wanted += sorted({p for name in named for p in params.get(name) or {}} & words - set(wanted))
    if any(not _is_name(i) for i in wanted):  # a keyword asked about: not its callable's age
        wanted = [i for i in wanted if not _is_name(i)]
    wanted = wanted[:MAX_FACTS]
    last = len(versions) - 1
    named = set(named)
    lines = []
    for ident in wanted:
        if _is_name(ident):
            row = next(iter(name_history(ident, history, {})), None)
            spans = (history.get("names") or {}).get(row["name"]) if row else None
            if spans and spans[-1][1] == last and spans[-1][0] > 0:
                # The notes may reach back to the history's first release (a private def).
                before = f"; releases before {versions[0]} are not in the history" \
                    if row["earlier_unknown"] else ""
                # It came and went before (MRVI: 1.1.4, gone in 1.1.5-1.1.6.post2).
                also = f"; before that in {span_text(spans[:-1], versions)} only" \
                    if len(spans) > 1 else ""
                lines.append(f"{row['name']}: {presence_text(row)} since {versions[spans[-1][0]]}"
                             + also + "".join(f"; {note}" for note in row["notes"]) + before)
            continue
        runs = [(name, table[ident][-1][0]) for name, table in params.items()
                if table.get(ident) and table[ident][-1][1] == last]
        mine = [run for run in runs if run[0] in named] or runs  # the named callables first
        if mine:
            name, first = min(mine, key=lambda run: (run[1], len(run[0])))
            if first > 0:  # since the history's first release says nothing about arrival
                short = ".".join(name.split(".")[-2:])
                lines.append(f"{short}({ident}=...): taken since {versions[first]}")
    return lines


def default_facts(question: str, sidx: dict) -> list[str]:
    """One line per default of a callable the question writes out that changed between
    releases (:func:`changed_defaults`): the defaults as the source of each release writes
    them."""
    lines = []
    for name, param, runs, versions in changed_defaults(question, sidx):
        short = ".".join(name.split(".")[-2:])
        lines.append(f"{short}({param}=...) default: {default_runs_text(runs, versions)} (as "
                     "each release's source writes it)")
    return lines


def default_runs_text(runs: list, versions: list[str]) -> str:
    """``"'change' in 1.0.0-1.3.0; 'vanilla' in 1.3.1-1.5.1"`` for the history's default
    ``runs`` (``[default or None, first, last]``); a value kept across a gap is one entry."""
    grouped: list[tuple[str | None, list[list[int]]]] = []
    for value, a, b in runs:
        if grouped and grouped[-1][0] == value:
            grouped[-1][1].append([a, b])
        else:
            grouped.append((value, [[a, b]]))
    return "; ".join(f"{value if value is not None else '(required)'} in "
                     f"{span_text(spans, versions)}" for value, spans in grouped)


def changed_defaults(question: str, sidx: dict) -> list[tuple[str, str, list, list[str]]]:
    """``(public name, parameter, runs, versions)`` for each default of a callable the
    question writes out that changed between releases (the API history's ``defaults``;
    ``runs``: ``[default or None, first, last]`` as indexes into ``versions``), when the
    question names the parameter or speaks of a change (upgrade, used to, differs, older),
    and one of the defaults is a value (:data:`_NO_VALUE`). The history is read
    only then. Memoised per process and index (the ranking and the pack both ask)."""
    key = (id(sidx), question[:MAX_CHARS])
    if key not in _DEFAULTS_SEEN:
        _DEFAULTS_SEEN.clear()
        _DEFAULTS_SEEN[key] = _changed_defaults(key[1], sidx)
    return _DEFAULTS_SEEN[key]


_DEFAULTS_SEEN: dict[tuple[int, str], list] = {}
_NO_VALUE = (None, "None")
"""Defaults that say "not given" (required, or None): a change between them alone is plumbing
(an ``adata`` made optional), not behaviour, and is left out."""


def _changed_defaults(text: str, sidx: dict) -> list[tuple[str, str, list, list[str]]]:
    gone = sidx.get("gone") or {}
    changed = set(gone.get("defaults") or ())
    named = [name for name in named_publics(text, sidx) if name in changed] if changed else []
    if not named:
        return []
    talks_of_change = bool(_CHANGE_WORDS.search(text))
    params_of = gone.get("default_params")
    if not talks_of_change and isinstance(params_of, dict) and not any(
            re.search(rf"(?<![\w.]){re.escape(param)}\b", text)
            for name in named for param in params_of.get(name) or ()):
        return []  # no parameter whose default changed is named: the history is not read
    history, versions = _history_quietly()
    out = []
    for name in named:
        for param, runs in ((history.get("defaults") or {}).get(name) or {}).items():
            if all(run[0] in _NO_VALUE for run in runs):
                continue
            if talks_of_change or re.search(rf"(?<![\w.]){re.escape(param)}\b", text):
                out.append((name, param, runs, versions))
    return out


def moved_names(question: str, sidx: dict) -> list[str]:
    """Dotted ``scvi.`` names the question reaches for (as written, or as Python's
    "module 'scvi.data' has no attribute 'setup_anndata'" and "cannot import name ... from ..."
    put them) that the pinned release does not have where the question looks, though their
    module is there: ``scvi.data.setup_anndata`` (a class method of each model since 0.15).
    Names whose last part the pinned release lacks altogether are :func:`gone_identifiers`'."""
    found = [i for i in _candidates(question) if "." in i] + _message_names(question)
    names = sidx.get("names") or {}
    gone = set((sidx.get("gone") or {}).get("names") or ())
    # The package as Python spells it ("SCVI.__init__" is the class's constructor, not a
    # name of the package), and no dunder (a method every class has).
    found = [i for i in dict.fromkeys(found) if i.startswith("scvi.") and ".__" not in i
             and i.lower() not in names and i.lower().rsplit(".", 1)[-1] not in gone]
    if not found:
        return []
    holders = _holders(names)
    out: list[str] = []
    for ident in found[:MAX_MOVED_NAMES]:
        low = ident.lower()
        # Its module is there and it is not a module or class itself (scvi.criticism), as
        # Python spells it: scvi._CONSTANTS (0.x's registry keys) is not the module
        # scvi._constants.
        if low.rsplit(".", 1)[0] in holders and not (
                low in holders and any(row[1].startswith(ident + ".") for row in names.values())):
            out.append(ident)
    return out


def present_names(question: str, sidx: dict) -> list[str]:
    """The dotted ``scvi.`` names Python's "module 'M' has no attribute 'X'" or "cannot import
    name 'X' from 'M'" in ``question`` reach for that the pinned release has, as its public
    name (``scvi.data.AnnDataManager``): the user's release differs, or the import failed."""
    names = sidx.get("names") or {}
    return [names[i.lower()][1] for i in dict.fromkeys(_message_names(question[:MAX_CHARS]))
            if i.startswith("scvi") and i.lower() in names]


def missing_module_attributes(text: str) -> list[tuple[str, str]]:
    """``(module, attribute)`` of each Python "module 'M' has no attribute 'X'" in ``text``."""
    return [(m.group(1), m.group(2)) for m in _MISSING_MODULE_ATTR.finditer(text[:MAX_CHARS])]


def _message_names(text: str) -> list[str]:
    """The dotted names Python's "module 'M' has no attribute 'X'" (``M.X``) and "cannot
    import name 'X' from 'M'" (``M.X``) in ``text`` reach for."""
    found = [f"{m.group(1)}.{m.group(2)}" for m in _MISSING_MODULE_ATTR.finditer(text)]
    return found + [f"{m.group(2)}.{m.group(1)}" for m in _CANNOT_IMPORT.finditer(text)]


_HOLDERS: list = []


def _holders(names) -> set[str]:
    """Every module and class that holds a public name (each proper prefix of a dotted key of
    ``names``, lowercased), built once per names table (the ranking and the pack both ask;
    9 ms)."""
    if not _HOLDERS or _HOLDERS[0] is not names:
        _HOLDERS[:] = [names, {key[:n] for key in names for n, c in enumerate(key) if c == "."}]
    return _HOLDERS[1]


def moved_releases(question: str, sidx: dict) -> list[tuple[str, str]]:
    """(name, the first release without it) for each of :func:`moved_names`; the release is
    "" when no release since 1.0.0 had the name as written (it went in a 0.x release)."""
    moved = moved_names(question, sidx)
    history, versions = _history_quietly() if moved else ({}, [])
    out = []
    for name in moved if history else []:
        spans = (history.get("names") or {}).get(name)
        if not spans:
            out.append((name, ""))
        elif spans[-1][1] + 1 < len(versions):
            out.append((name, versions[spans[-1][1] + 1]))
    return out


def _moved_fact(ident: str, sidx: dict, history: dict, migrations: dict,
                versions: list[str]) -> str:
    """``scvi.data.setup_anndata: not in scvi-tools 1.5.1 nor in any release since 1.0.0;
    setup_anndata is at scvi.model.SCVI.setup_anndata, ... and 31 more`` (the releases that
    had it when the history knows the name as written)."""
    pinned = sidx.get("scvi_tools_version", "unknown")
    spans = (history.get("names") or {}).get(ident)
    if spans:
        if spans[-1][1] >= len(versions) - 1:
            return ""  # the history has it in the pinned release: the index missed it
        outside = (history.get("outside") or {}).get(ident)
        if outside and outside["spans"][-1][1] >= len(versions) - 1:
            # Its own definition went, but a base of another package may supply it (torch's
            # Module.train for a module): not a name the pinned release lacks.
            return ""
        text = (f"{ident}: in scvi-tools {span_text(spans, versions)}, not in {pinned} "
                f"(gone since {versions[spans[-1][1] + 1]}{earlier_unknown(spans, versions)})")
    else:
        text = f"{ident}: not in scvi-tools {pinned} nor in any release since {versions[0]}" \
            if versions else f"{ident}: not in scvi-tools {pinned}"
    last = ident.rsplit(".", 1)[-1]
    shortest: dict[tuple, str] = {}  # a def re-exported under several names: its shortest
    for row in (sidx.get("names") or {}).values():
        name = row[1]
        if name.rsplit(".", 1)[-1] == last and not any(p.startswith("_") for p in name.split(".")):
            where = (row[0], row[2])
            if where not in shortest or (len(name), name) < (len(shortest[where]), shortest[where]):
                shortest[where] = name
    homes = sorted(set(shortest.values()), key=lambda name: (len(name), name))
    if homes:
        shown = ", ".join(homes[:MAX_HOMES_SHOWN])
        more = f" and {len(homes) - MAX_HOMES_SHOWN} more" if len(homes) > MAX_HOMES_SHOWN else ""
        text += f"; {last} is at {shown}{more}"
    replacement = next((v for k, v in (migrations.get("names") or {}).items() if k == ident), "")
    return f"{text}; {replacement}" if replacement else text


def gone_releases(question: str, sidx: dict) -> list[tuple[str, str]]:
    """(the identifier's last part, lowercased; the first release without it) for each name or
    keyword of ``question`` that the pinned release lacks and the API history places: where
    the release notes say it went. Empty (and nothing read) when the question names none."""
    unknown = gone_identifiers(question, sidx)
    history, versions = _history_quietly() if unknown else ({}, [])
    out = []
    for ident in unknown if history else []:
        if _is_name(ident):
            last = ident.rsplit(".", 1)[-1]
            spans = [spans for name, spans in (history.get("names") or {}).items()
                     if name == ident or name.rsplit(".", 1)[-1] == last]
            end = max((s[-1][1] for s in spans if s), default=None)
        else:
            ends = [params[ident][-1][1] for params in (history.get("params") or {}).values()
                    if params.get(ident)]
            end = max(ends, default=None)
        if end is not None and end + 1 < len(versions):
            out.append((ident.rsplit(".", 1)[-1].lower(), versions[end + 1]))
    return out


_GONE_SEEN: dict[str, dict | None] = {}
_GONE_LOADED: list[tuple] = []


def gone_message(text: str, *, is_message: bool = False) -> dict | None:
    """For pasted error text that no raise, warning or log site of the pinned release matches
    (``PACK_MIN_SCORE``) but a message an earlier release had does (``gone_messages.json``
    beside the API history): that site (as :func:`.messages.find_sites` gives it) with
    ``releases`` (the releases that had it, as text), ``last`` (the last of them),
    ``gone_since`` (the release after that one) and ``before`` (:func:`earlier_unknown`'s
    note, or ``""``). None otherwise, and nothing is read unless the text looks like a pasted
    error or ``is_message`` says it is one (``search_source.py --message``). Memoised per
    process: the ranking and the pack both ask."""
    key = f"{is_message:d}{text}"
    if key in _GONE_SEEN:
        return _GONE_SEEN[key]
    _GONE_SEEN.clear()  # one question per process; keep the memo small all the same
    _GONE_SEEN[key] = found = _find_gone_message(text, is_message)
    return found


def _find_gone_message(text: str, is_message: bool) -> dict | None:
    from .errortext import looks_like_error

    if not is_message and not looks_like_error(text):
        return None
    from .messages import PACK_MIN_SCORE, clean_message, find_sites, load_messages

    cleaned = clean_message(text)
    try:
        if find_sites(cleaned, load_messages(), 1, min_score=PACK_MIN_SCORE):
            return None
    except IndexStale:
        return None
    loaded = _gone_index()
    if loaded is None:
        return None
    gone, versions, index = loaded
    found = find_sites(cleaned, index, 1, min_score=PACK_MIN_SCORE)
    if not found:
        return None
    spans = gone[found[0]["template"]]["spans"]
    end = spans[-1][1]
    return dict(found[0], releases=span_text(spans, versions), last=versions[end],
                gone_since=versions[end + 1], before=earlier_unknown(spans, versions))


def _gone_index() -> tuple[dict, list[str], object] | None:
    """``gone_messages.json``'s messages and releases with a message index over them, read
    once per process; None when the file is missing or lists no message."""
    if not _GONE_LOADED:
        from .apifiles import load_gone_messages
        from .messages import MessageIndex

        try:
            shipped = load_gone_messages()
        except IndexStale:
            return None
        gone = shipped.get("messages") or {}
        # Rows in MESSAGE_FIELDS order; the file keeps no function or condition.
        rows = [[*entry["site"], "", "", template] for template, entry in gone.items()]
        _GONE_LOADED.append((gone, shipped.get("versions") or [],
                             MessageIndex({"fields": list(MESSAGE_FIELDS), "sites": rows})))
    return _GONE_LOADED[0] if _GONE_LOADED[0][0] else None


def _history_quietly() -> tuple[dict, list[str]]:
    """The shipped API history and its releases, or ``({}, [])`` when it is missing (the
    ranking then goes without it; the pack's release facts warn)."""
    try:
        history = _shipped_history()
    except IndexStale:
        return {}, []
    return history, history.get("versions") or []


_LOADED: dict[tuple, dict] = {}


def _shipped_history() -> dict:
    """The shipped API history, decoded once per process while its file is unchanged: the
    ranking (:func:`gone_releases`) and the pack (:func:`release_facts`) both read it."""
    from .apifiles import load_history, load_releases

    releases = load_releases()
    path = releases.folder / "history.json.gz"
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None
    if key is None or key not in _LOADED:
        history = load_history(releases)
        if key is None:
            return history
        _LOADED.clear()
        _LOADED[key] = history
    return _LOADED[key]


def gone_identifiers(question: str, sidx: dict) -> list[str]:
    """The names and keywords of ``question`` that the pinned release lacks and an earlier
    release (1.0.0 on) had (``gone`` of the search index; nothing else is read)."""
    gone = sidx.get("gone") or {}
    gone_names, gone_keywords = set(gone.get("names") or ()), set(gone.get("keywords") or ())
    return [i for i in _candidates(question)
            if (i.rsplit(".", 1)[-1].lower() in gone_names if _is_name(i) else i in gone_keywords)]


def _candidates(question: str) -> list[str]:
    """Identifiers worth a look-up: dotted names, CamelCase class names, snake_case keywords."""
    out = []
    for raw in identifiers(question):
        ident = raw.strip("`()'\"=,:")
        if not ident or ident in out:
            continue
        if "." in ident or "_" in ident or (ident[:1].isupper() and any(c.islower() for c in ident)):
            out.append(ident)
    return out


def _is_name(ident: str) -> bool:
    return "." in ident or ident[:1].isupper()


def index_spans(indexes: list[int]) -> list[list[int]]:
    """``[[first, last], ...]``: the runs of consecutive numbers in sorted ``indexes`` (release
    positions in the history's ``versions``)."""
    spans: list[list[int]] = []
    for n in indexes:
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return spans


def span_text(spans: list[list[int]], versions: list[str]) -> str:
    """``"1.0.0-1.0.4, 1.2.0"``: the releases of ``spans`` (see :func:`index_spans`)."""
    return ", ".join(versions[a] if a == b else f"{versions[a]}-{versions[b]}" for a, b in spans)


def earlier_unknown(spans: list[list[int]], versions: list[str]) -> str:
    """``"; releases before 1.0.0 are not in the history"`` when ``spans`` start at the first
    release the history holds (``1.0.0-1.0.4`` does not say that 0.9 lacked it: a trial's
    agent read it as "exists only in 1.0.0-1.0.4"), else ``""``."""
    return f"; releases before {versions[0]} are not in the history" \
        if versions and any(a == 0 for a, _ in spans) else ""


def _name_fact(ident: str, history: dict, migrations: dict, versions: list[str]) -> str:
    names = history.get("names") or {}
    last = ident.rsplit(".", 1)[-1]
    matches = [n for n in names if n == ident or n.endswith("." + ident) or n.rsplit(".", 1)[-1] == last]
    replacement = next((v for k, v in (migrations.get("names") or {}).items()
                        if k == ident or k.rsplit(".", 1)[-1] == last), "")
    if not matches:
        return f"{ident}: not in any release since 1.0.0; {replacement}" if replacement else ""
    name = min(matches, key=len)
    spans = names[name]
    if spans and spans[-1][1] >= len(versions) - 1:
        return ""  # still there: the index missed it for another reason
    gone = versions[spans[-1][1] + 1] if spans and spans[-1][1] + 1 < len(versions) else "?"
    notes = origin_clauses(name, name_origins(name, history), versions)
    text = f"{name}: in scvi-tools {span_text(spans, versions)}, gone since {gone}" \
        f"{earlier_unknown(spans, versions)}" + "".join(f"; {note}" for note in notes)
    return f"{text}; {replacement}" if replacement else text


def name_origins(name: str, history: dict) -> dict:
    """What the history knows of public ``name`` beyond the releases it was public in, each
    key only when it has something (spans index the history's ``versions``):
    ``importable``, the releases whose package binds it while its ``__all__`` leaves it out;
    ``defined``, ``{"qualname", "spans"}``: the def it names and the releases whose source
    defines that, when some release had it under no public name; ``outside``, ``{"bases",
    "spans"}``: for a class member, the releases whose scvi-tools source did not define it
    while a base of another package (``bases``) may supply it (the API indexes read
    scvi-tools' own source only); ``private``, ``{"private", "spans"}``: for a class member,
    the releases whose class had it as a private method (``_get_importance_weights`` before
    ``get_importance_weights`` was public)."""
    found = {"importable": (history.get("bound") or {}).get(name),
             "defined": (history.get("defined") or {}).get(name),
             "outside": (history.get("outside") or {}).get(name),
             "private": (history.get("private") or {}).get(name)}
    return {key: value for key, value in found.items() if value}


def origin_clauses(name: str, origins: dict, versions: list[str]) -> list[str]:
    """:func:`name_origins` in words, one clause each: ``importable from scvi.model, though
    not public ..., in 1.1.0.post1-1.3.3``, ``defined in scvi-tools' source as
    scvi.model._utils.get_max_epochs_heuristic in 1.0.0-1.5.1``, ``in 1.2.0-1.5.0.post1
    scvi-tools' source did not define sample in scvi.distributions.BetaBinomial, whose base
    pyro.distributions.BetaBinomial (another package's) may supply it``."""
    owner, _, last = name.rpartition(".")
    out = []
    if origins.get("importable"):
        out.append(f"importable from {owner}, though not public (its __init__ binds {last}, "
                   f"its __all__ leaves it out), in {span_text(origins['importable'], versions)}")
    if origins.get("defined"):
        defined = origins["defined"]
        out.append(f"defined in scvi-tools' source as {defined['qualname']} in "
                   f"{span_text(defined['spans'], versions)}")
    if origins.get("outside"):
        outside = origins["outside"]
        bases = ", ".join(outside["bases"])
        whose = f"base {bases} (another package's)" if len(outside["bases"]) == 1 \
            else f"bases {bases} (other packages')"
        out.append(f"in {span_text(outside['spans'], versions)} scvi-tools' source did not "
                   f"define {last} in {owner}, whose {whose} may supply it")
    if origins.get("private"):
        private = origins["private"]
        out.append(f"a private method, {owner}.{private['private']}, in "
                   f"{span_text(private['spans'], versions)}")
    return out


def presence_text(row: dict) -> str:
    """What a :func:`name_history` row's ``spans`` count: scvi-tools' own definitions of a
    member a base of another package may supply elsewhere, public names where the name
    existed otherwise too, else plainly the releases that have it."""
    if row.get("outside"):
        return "in scvi-tools' own source"
    return "public in scvi-tools" if row.get("importable") or row.get("defined") \
        or row.get("private") else "in scvi-tools"


def _keyword_fact(ident: str, history: dict, migrations: dict, versions: list[str]) -> str:
    had = []
    for callable_name, params in (history.get("params") or {}).items():
        spans = params.get(ident)
        if spans:
            had.append((spans[-1][1], callable_name, spans))
    keywords = migrations.get("keywords") or {}
    replacement = keywords.get(ident, "")
    if not had:
        return f"keyword {ident}: {replacement}" if replacement else ""
    last = max(end for end, _, _ in had)
    if last >= len(versions) - 1:
        return ""
    shown = sorted(had, key=lambda row: (-row[0], len(row[1]), row[1]))[:MAX_CALLABLES_SHOWN]
    where = ", ".join(f"{name} ({span_text(spans, versions)})" for _, name, spans in shown)
    more = f" and {len(had) - len(shown)} more" if len(had) > len(shown) else ""
    text = (f"keyword {ident}: taken by {where}{more}; by no callable since {versions[last + 1]}"
            f"{earlier_unknown([span for _, _, spans in shown for span in spans], versions)}")
    return f"{text}; {replacement}" if replacement else text


MAX_HISTORY_NAMES = 5
"""Public names a bare ``--history`` name may stand for (``train``: too many to list)."""


def name_history(ident: str, history: dict, migrations: dict) -> list[dict]:
    """The public names ``ident`` may stand for (as written, by its dotted tail, or by its
    last part), each as ``{"name", "spans", "not_in", "present", "gone_since", "replacement",
    "params", "defaults", "earlier_unknown"}``: ``spans`` the release ranges that have it
    ("1.0.0-1.2.1"; ``earlier_unknown`` when they start where the history starts), ``not_in``
    the releases between two of its ranges ("" when it has one), ``params``
    each parameter whose releases differ from the name's own (added later, removed earlier),
    ``defaults`` each parameter whose default changed, with each release's default;
    ``importable``, ``defined`` and ``outside`` (:func:`name_origins`, spans as text; ``""``
    or None when the history has none) and ``notes``, the same in words
    (:func:`origin_clauses`)."""
    versions = history.get("versions") or []
    names = history.get("names") or {}
    last = ident.rsplit(".", 1)[-1]
    exact = [n for n in names if n == ident]
    tail = [n for n in names if n.endswith("." + ident) and n not in exact]
    # The last part alone only when nothing matches as written: SCVI.train is not scvi.train.
    bare = [] if exact or tail else [n for n in names if n.rsplit(".", 1)[-1] == last]
    found = (exact + sorted(tail, key=len) + sorted(bare, key=len))[:MAX_HISTORY_NAMES]
    replacements = migrations.get("names") or {}
    out = []
    for name in found:
        spans = names[name]
        present = bool(spans) and spans[-1][1] >= len(versions) - 1
        gone = "" if present or not spans or spans[-1][1] + 1 >= len(versions) \
            else versions[spans[-1][1] + 1]
        own = {(a, b) for a, b in spans}
        changed, how = {}, {}
        for param, pspans in sorted(((history.get("params") or {}).get(name) or {}).items()):
            if {(a, b) for a, b in pspans} != own:
                changed[param] = span_text(pspans, versions)
                how[param] = param_change(pspans, spans, versions)
        replacement = next((v for k, v in replacements.items()
                            if k == name or k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]), "")
        defaults = {param: default_runs_text(runs, versions) for param, runs in
                    ((history.get("defaults") or {}).get(name) or {}).items()}
        origins = name_origins(name, history)
        defined, outside = origins.get("defined"), origins.get("outside")
        every = [*spans, *origins.get("importable", ()), *(defined or {}).get("spans", ()),
                 *(outside or {}).get("spans", ()),
                 *(origins.get("private") or {}).get("spans", ())]
        # The releases between its runs: "1.1.4, 1.2.0-1.5.1" was read as one run (round 94).
        gaps = [[a[1] + 1, b[0] - 1] for a, b in zip(spans, spans[1:]) if b[0] > a[1] + 1]
        out.append({"name": name, "spans": span_text(spans, versions), "present": present,
                    "not_in": span_text(gaps, versions),
                    "gone_since": gone, "last_release": versions[spans[-1][1]] if spans else "",
                    "replacement": replacement, "params": changed, "param_changes": how,
                    "defaults": defaults,
                    "importable": span_text(origins.get("importable", []), versions),
                    "defined": dict(defined, spans=span_text(defined["spans"], versions))
                    if defined else None,
                    "outside": dict(outside, spans=span_text(outside["spans"], versions))
                    if outside else None,
                    "private": dict(origins["private"],
                                    spans=span_text(origins["private"]["spans"], versions))
                    if origins.get("private") else None,
                    "notes": origin_clauses(name, origins, versions),
                    "earlier_unknown": bool(earlier_unknown(every, versions))})
    return out


def param_change(pspans: list[list[int]], spans: list[list[int]], versions: list[str]) -> str:
    """How a parameter's releases differ from its callable's, in words: ``"added in 1.3.1"``,
    ``"gone since 1.1.0"``, both, or, for gaps, ``"in 1.0.0-1.0.4, 1.2.0"``. A trial's agent
    read ``parameter registry: 1.3.1-1.5.1`` under ``from_scvi_model: in 1.0.0-1.5.1`` as
    "the signature has been the same since 1.0.0"."""
    if not pspans or not spans:
        return f"in {span_text(pspans, versions)}" if pspans else "in no release"
    if len(pspans) > 1:
        return f"in {span_text(pspans, versions)} only"
    (first, last), = pspans
    parts = []
    if first > spans[0][0]:
        parts.append(f"added in {versions[first]}")
    if last < spans[-1][1]:
        parts.append(f"gone since {versions[last + 1]}")
    return ", ".join(parts) or f"in {span_text(pspans, versions)} only"


def keyword_history(ident: str, history: dict, migrations: dict) -> dict | None:
    """Which public callables take keyword ``ident``, in which releases, newest first:
    ``{"keyword", "callables": [{"name", "spans", "present", "earlier_unknown"}],
    "replacement"}`` (``earlier_unknown``: the spans start at the first release the history
    holds, so releases before it may have had it too); None when no
    release since 1.0.0 has it and no migration names it."""
    versions = history.get("versions") or []
    rows = []
    for callable_name, params in (history.get("params") or {}).items():
        spans = params.get(ident)
        if spans:
            rows.append((-spans[-1][1], len(callable_name), callable_name, spans))
    replacement = (migrations.get("keywords") or {}).get(ident, "")
    if not rows and not replacement:
        return None
    rows.sort()
    return {"keyword": ident, "replacement": replacement,
            "callables": [{"name": name, "spans": span_text(spans, versions),
                           "present": spans[-1][1] >= len(versions) - 1,
                           "earlier_unknown": bool(earlier_unknown(spans, versions))}
                          for _, _, name, spans in rows]}

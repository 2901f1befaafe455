"""How one definition changed between two releases (``search_source.py --compare NAME``).

A user on an older release asks why a call behaves as it does, or what an upgrade changed in
it. The release notes do not list every change to a def's body; the two trees do. This module
finds the def a public name stands for in each release (through that release's shipped API
index, ``references/api/``: ``scvi.model.SCVI.train`` is ``UnsupervisedTrainingMixin.train``
in both 1.0.4 and 1.5.1, at other lines), reads it from each tree and gives the changed lines
as hunks, each line with its own line number in its own release, so both sides can be cited.

The older release is always the first side, whichever way round the trees were given. Lines
are compared without the def's own indentation (a def that moved into a class is not all
changed) and without trailing whitespace. Standard library only.
"""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path
from collections import namedtuple

from .errors import UsageError
from .tree import read_text

MAX_HUNKS = 20
"""Hunks shown by default (``--max`` sets it): a rewritten def's diff is the whole def."""
MAX_LINES = 200
"""Diff lines shown at most, whatever ``--max`` says: the output stays bounded."""
MAX_LINE_CHARS = 300

_NAME = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*")
_UNION = re.compile(r"\b(?:typing\.)?(Optional|Union)\[")
_GENERIC = re.compile(r"\b(?:typing\.)?(List|Dict|Tuple|Type|Set|FrozenSet)\[")
_HEADER = re.compile(r"^\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)")


Side = namedtuple("Side", "version path start end qualname lines")
"""One release's def: ``version``; ``path``, tree-relative (``src/scvi/...``); ``start``,
1-based, the first decorator's line when there is one; ``end``, inclusive; ``qualname``;
``lines``, the def's lines as in the tree. (A namedtuple: ``typing`` costs the agent's
one-shot processes about 3 ms.)"""


def check_name(name: str) -> str:
    """``name`` as a dotted name (``scvi.model.SCVI.train``, ``SCVI.train``), or a usage
    error."""
    text = (name or "").strip().strip("`'\"()")
    if not _NAME.fullmatch(text):
        raise UsageError(f"--compare takes one dotted name (scvi.model.SCVI.train, "
                         f"scvi.model.SCVI.load_query_data), got {name!r}")
    return text


def resolve(api, name: str) -> tuple[str, dict] | None:
    """``(public name, symbol)`` of ``name`` in one release's index (an ``apiindex.ReleaseApi``):
    the name itself, else the one public name ending in ``.name`` (``SCVI.train`` ->
    ``scvi.model.SCVI.train``), else the one qualname ending so (``parse_device_args``).
    ``None`` when there is none, or several."""
    symbol = api.symbol(name)
    if symbol is not None and symbol.get("path"):
        return name, symbol
    suffix = "." + name
    found = {public: api.symbol(public) for public in api.namespaces
             if public.endswith(suffix)}
    found = {p: s for p, s in found.items() if s is not None and s.get("path")}
    if len({s["qualname"] for s in found.values()}) == 1:
        public = min(found, key=len)
        return public, found[public]
    if found:
        return None
    # A def no public name reaches (scvi.model._utils.parse_device_args): by its qualname.
    named = [q for q in api.symbols if q.endswith(suffix) and api.symbols[q].get("path")]
    return (named[0], api.symbols[named[0]]) if len(named) == 1 else None


def ambiguous(api, name: str) -> list[str]:
    """One public name (the shortest) for each def the public names ending in ``.name``
    stand for, at most 8: the defs a short name left open (``view_registry``: the models'
    ``BaseModelClass.view_registry`` and ``AnnDataManager.view_registry``)."""
    suffix = "." + name
    shortest: dict[str, str] = {}
    for public in sorted(api.namespaces, key=lambda p: (len(p), p)):
        if public.endswith(suffix):
            shortest.setdefault(api.namespaces[public], public)
    return sorted(shortest.values())[:8]


def tree_path(symbol_path: str) -> str:
    """A symbol's path as the tree has it: indexes of the flat sdists (before 1.2) say
    ``scvi/...``, the fetched trees are all ``src/scvi/...``."""
    return symbol_path if symbol_path.startswith("src/") else "src/" + symbol_path


def read_side(version: str, file: Path, rel: str, line: int, qualname: str) -> Side | None:
    """The def of ``qualname`` whose header the index puts at ``line`` of ``file``: found by
    its name at that line, else at the nearest line that defines that name (a tree that is
    not exactly the release the index describes). ``None`` when the file has no such def."""
    try:
        lines = read_text(file).splitlines()
    except OSError:
        return None
    short = qualname.rsplit(".", 1)[-1]
    heads = [n for n, text in enumerate(lines, 1)
             if (m := _HEADER.match(text)) and m.group(1) == short]
    if not heads:
        return None
    first = min(heads, key=lambda n: (abs(n - line), n))
    start, end = _extent(lines, first)
    return Side(version, rel, start, end, qualname, lines[start - 1:end])


def _extent(lines: list[str], first: int) -> tuple[int, int]:
    """1-based (start, end) of the def or class whose header is at line ``first``: with its
    decorators, to its last line. Read with ``ast`` when the file parses here, else by
    indentation (a release's syntax newer than this Python)."""
    start = first
    while start > 1 and lines[start - 2].lstrip().startswith("@"):
        start -= 1
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return start, _indented_end(lines, first)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.lineno == first:
            return start, node.end_lineno or first
    return start, _indented_end(lines, first)


def _indented_end(lines: list[str], first: int) -> int:
    """The last line of the block whose header is at ``first``: its header runs to the line
    whose brackets close; its body to the last line indented deeper than the header."""
    indent = _indent(lines[first - 1])
    depth, n = 0, first - 1
    while n < len(lines):
        depth += sum(lines[n].count(c) for c in "([{") - sum(lines[n].count(c) for c in ")]}")
        if depth <= 0 and lines[n].rstrip().endswith(":"):
            break
        n += 1
    last = min(n, len(lines) - 1)
    for k in range(last + 1, len(lines)):
        if lines[k].strip():
            if _indent(lines[k]) <= indent:
                break
            last = k
    return last + 1


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _normalized(side: Side) -> list[str]:
    """The def's lines without the indentation of its header (and decorators) and without
    trailing whitespace; a line indented less (a string's text) keeps its own."""
    cut = _indent(side.lines[0])
    return [t[cut:].rstrip() if t[:cut].strip() == "" else t.rstrip() for t in side.lines]


def spelling_key(text: str) -> str:
    """``text`` with the typing module's spellings as the releases since 1.1 write them:
    ``Optional[X]`` as ``X | None``, ``Union[A, B]`` as ``A | B``, ``List[int]`` as
    ``list[int]`` (1.0.x wrote the first, later releases the second: a signature respelled is
    not a change). A bracket the line does not close is left as it is."""
    text = _GENERIC.sub(lambda m: m.group(1).lower() + "[", text)
    while (m := _UNION.search(text)) is not None:
        depth, parts, last, i = 1, [], m.end(), m.end()
        while i < len(text) and depth:
            if text[i] in "([{":
                depth += 1
            elif text[i] in ")]}":
                depth -= 1
            elif text[i] == "," and depth == 1:
                parts.append(text[last:i].strip())
                last = i + 1
            i += 1
        if depth:
            return text
        parts = [part for part in parts + [text[last:i - 1].strip()] if part]
        if m.group(1) == "Optional":
            parts.append("None")
        text = text[:m.start()] + " | ".join(parts) + text[i:]
    return text


def diff(old: Side, new: Side, *, context: int) -> list[dict]:
    """The hunks that turn ``old``'s def into ``new``'s: each ``{"old": [a, b], "new": [c, d],
    "lines": [{"op": " "|"-"|"+", "old": n|None, "new": n|None, "text": str}]}`` with the
    lines' own numbers (a side with no line in the hunk has ``[a, a - 1]``)."""
    a, b = _normalized(old), _normalized(new)
    matcher = _matcher(a, b)
    hunks = []
    for group in matcher.get_grouped_opcodes(context):
        rows = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":  # the newer release's text (the spelling it uses)
                rows += [{"op": " ", "old": old.start + i, "new": new.start + j, "text": b[j]}
                         for i, j in zip(range(i1, i2), range(j1, j2))]
                continue
            if tag in ("replace", "delete"):
                rows += [{"op": "-", "old": old.start + i, "new": None, "text": a[i]}
                         for i in range(i1, i2)]
            if tag in ("replace", "insert"):
                rows += [{"op": "+", "old": None, "new": new.start + j, "text": b[j]}
                         for j in range(j1, j2)]
        i_lo, i_hi, j_lo, j_hi = group[0][1], group[-1][2], group[0][3], group[-1][4]
        hunks.append({"old": [old.start + i_lo, old.start + i_hi - 1],
                      "new": [new.start + j_lo, new.start + j_hi - 1], "lines": rows})
    return hunks


def report(name: str, public: str, old: Side, new: Side, hunks: list[dict], *,
           max_hunks: int = MAX_HUNKS) -> dict:
    """The ``--compare`` report (``--json`` prints it as is): both sides' ``path``,
    ``start``-``end`` and ``qualname``, the counts of removed and added lines (and of lines
    taken as unchanged that differ only in annotation spelling, ``respelled``), the hunks
    shown (at most ``max_hunks`` and :data:`MAX_LINES` lines in all), and what was cut."""
    shown, size = [], 0
    for hunk in hunks[:max_hunks]:
        if shown and size + len(hunk["lines"]) > MAX_LINES:
            break
        rows = hunk["lines"][: MAX_LINES - size]
        shown.append(dict(hunk, lines=[dict(r, text=r["text"][:MAX_LINE_CHARS]) for r in rows],
                          cut=len(rows) < len(hunk["lines"])))
        size += len(rows)
    a, b = _normalized(old), _normalized(new)
    respelled = sum(a[i] != b[j] for i, j in _equal_pairs(a, b))
    removed = sum(r["op"] == "-" for h in hunks for r in h["lines"])
    added = sum(r["op"] == "+" for h in hunks for r in h["lines"])

    def side(s: Side) -> dict:
        return {"version": s.version, "path": s.path, "start": s.start, "end": s.end,
                "qualname": s.qualname}

    return {"mode": "compare", "query": name, "name": public, "old": side(old),
            "new": side(new), "identical": not hunks, "removed": removed, "added": added,
            "respelled": respelled,
            "total_hunks": len(hunks), "shown_hunks": len(shown),
            "truncated": len(shown) < len(hunks) or any(h["cut"] for h in shown),
            "hunks": shown}


def _matcher(a: list[str], b: list[str]) -> difflib.SequenceMatcher:
    """Lines matched by their :func:`spelling_key` (``autojunk`` off: a def's blank and
    ``)`` lines are not noise to skip)."""
    return difflib.SequenceMatcher(None, [spelling_key(t) for t in a],
                                   [spelling_key(t) for t in b], autojunk=False)


def _equal_pairs(a: list[str], b: list[str]):
    """The (old, new) line index pairs the diff takes as unchanged."""
    for i, j, size in _matcher(a, b).get_matching_blocks():
        yield from zip(range(i, i + size), range(j, j + size))


def render(rep: dict) -> list[str]:
    """The text of a ``--compare`` report: a head line, both sides' ranges, then each hunk
    (``-`` the older release's line, ``+`` the newer's, each with its own line number; an
    unchanged line carries the newer release's)."""
    old, new = rep["old"], rep["new"]
    quals = [old["qualname"]] + ([new["qualname"]] if new["qualname"] != old["qualname"] else [])
    qual = "" if quals == [rep["name"]] else f" ({' -> '.join(quals)})"
    if rep["identical"]:
        head = f"{rep['name']}{qual}: the same in scvi-tools {old['version']} and " \
               f"{new['version']} ({new['end'] - new['start'] + 1} lines, indentation and " \
               "trailing spaces aside)"
    else:
        head = (f"{rep['name']}{qual}, scvi-tools {old['version']} -> {new['version']}: "
                f"{rep['removed']} line(s) removed, {rep['added']} added, "
                f"{rep['total_hunks']} hunk(s)")
    if rep["respelled"]:
        head += (f"; {rep['respelled']} line(s) more differ only in annotation spelling "
                 "(Optional[X] written X | None), not counted")
    out = [head]
    for s in (old, new):
        out.append(f"  {s['version']} {s['path']}:{s['start']}-{s['end']}")
    width = len(str(max(old["end"], new["end"])))
    for hunk in rep["hunks"]:
        out.append(f"@@ {old['version']}:{_span(hunk['old'])} -> "
                   f"{new['version']}:{_span(hunk['new'])} @@")
        for row in hunk["lines"]:
            number = row["old"] if row["op"] == "-" else row["new"]
            out.append(f"{row['op']}{number:>{width}}  {row['text']}")
        if hunk["cut"]:
            out.append("  ... (hunk cut)")
    if rep["shown_hunks"] < rep["total_hunks"]:
        out.append(f"({rep['total_hunks'] - rep['shown_hunks']} more hunk(s): --max N shows "
                   f"up to {MAX_LINES} lines)")
    return out


def _span(pair: list[int]) -> str:
    a, b = pair
    return f"{a}-{b}" if b > a else (str(a) if b == a else f"none, before {a}")

"""Which scvi-tools releases use a name of another package (``references/api/
dependency_uses.json.gz``, built by :mod:`scvi_skill.build.dependency_uses` from each
release's sdist).

An error after upgrading a dependency (``AttributeError: module 'jax.random' has no attribute
'KeyArray'``) comes from code that uses a name the new dependency dropped. Whether scvi-tools
is that code, and from which release on it no longer is, is what the fix depends on: upgrade
scvi-tools past the last release that uses the name, or pin the dependency when even the
pinned release still does, or look elsewhere when no release uses it. The file is read only
for a question that pastes such an error or writes a dotted name of another package in a
question about an upgrade. Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re

from .errors import IndexStale, warn
from .errortext import MAX_CHARS
from .history import _CANNOT_IMPORT, _CHANGE_WORDS, _MISSING_MODULE_ATTR, index_spans, span_text

MAX_USE_FACTS = 2
MAX_LISTED = 2
"""Names of a module shown when the question names the module (``No module named 'X'``)."""
_NO_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
"""A dotted name as code writes it (``np.float_``: a trailing ``_`` is part of it)."""
OWN = "scvi"
READ_NOTE = "from each release's imports and attribute chains"
ANOTHER_PACKAGE = "the failing call is likely another package's"
"""Said when no release uses the name where a missing name raises."""


def named_dependency_names(question: str) -> tuple[list[str], list[str]]:
    """``(errors, written)``: the dotted names of other packages that Python's own messages
    in ``question`` name (``module 'X' has no attribute 'Y'`` -> ``X.Y``; ``cannot import name
    'Y' from 'X'``; ``No module named 'X'``), and the dotted names it writes out (``np.float_``)
    when it is about an upgrade. Aliases are resolved later, against the file."""
    text = question[:MAX_CHARS]
    errors: list[str] = []
    for match in _MISSING_MODULE_ATTR.finditer(text):
        errors.append(f"{match.group(1)}.{match.group(2)}")
    for match in _CANNOT_IMPORT.finditer(text):
        errors.append(f"{match.group(2)}.{match.group(1)}")
    errors += [m.group(1) for m in _NO_MODULE.finditer(text)]
    errors = [n for n in dict.fromkeys(errors) if not own(n)]
    written: list[str] = []
    if _CHANGE_WORDS.search(text):
        written = [m.group() for m in _DOTTED.finditer(text) if not own(m.group())]
    # The module an error quotes is written out too: it is part of that name, not another.
    written = [n for n in dict.fromkeys(written)
               if not any(e == n or e.startswith(n + ".") for e in errors)]
    return errors, written


def own(name: str) -> bool:
    return name.split(".")[0] == OWN


def find(name: str, data: dict) -> dict | None:
    """:func:`lookup` of ``name`` as written (``sparse.GCXS``: the ``sparse`` package), else
    with its root resolved as the releases' imports bind it (``np.float_``)."""
    found = lookup(name, data)
    if found is None:
        resolved = canonical(name, data.get("aliases") or {})
        found = lookup(resolved, data) if resolved != name else None
    return found


def canonical(name: str, aliases: dict[str, str]) -> str:
    """``np.float_`` -> ``numpy.float_``: the root as the releases' imports bind it."""
    root, dot, rest = name.partition(".")
    target = aliases.get(root)
    return f"{target}{dot}{rest}" if target else name


def lookup(name: str, data: dict) -> dict | None:
    """``{"name", "spans", "live", "site", "module_names"}`` for ``name`` (canonical): its own
    entry, else the uses of names under it (a module the question names: their releases
    merged, ``module_names`` a few of them); ``None`` when no release uses it. ``live``: the
    releases where a use is unguarded (it raises when the name is missing); ``site``:
    ``[path, line, guarded]``."""
    uses = data.get("uses") or {}
    entry = uses.get(name)
    if entry is not None:
        return {"name": name, "spans": entry["spans"], "live": entry.get("live", entry["spans"]),
                "site": entry["site"], "module_names": []}
    prefix = name + "."
    under = sorted(n for n in uses if n.startswith(prefix))
    if not under:
        return None

    def releases(key: str) -> list[int]:
        return sorted({i for n in under for a, b in uses[n].get(key, uses[n]["spans"])
                       for i in range(a, b + 1)})

    live = releases("live")
    # The site of the last release with an unguarded use, else of the last use; by name.
    latest = min(under, key=lambda n: (-_last(uses[n].get("live", uses[n]["spans"])),
                                       -uses[n]["spans"][-1][1], n))
    return {"name": name, "spans": index_spans(releases("spans")), "live": index_spans(live),
            "site": uses[latest]["site"],
            "module_names": under[:MAX_LISTED] + (["..."] if len(under) > MAX_LISTED else [])}


def _last(spans: list[list[int]]) -> int:
    return spans[-1][1] if spans else -1


GUARDED = ("only guarded (try/except, TYPE_CHECKING or an annotation never evaluated), "
           "where a missing name raises nothing")


def instead(name: str, data: dict) -> tuple[str, list] | None:
    """``(other name, site)``: the name of the same package and the same last part that the
    newest release uses where it no longer uses ``name`` (``anndata.io.read_elem`` for
    ``anndata.experimental.read_elem``), the first by name; ``None`` when there is none or
    the newest release still uses ``name``."""
    uses = data.get("uses") or {}
    last = len(data.get("versions") or []) - 1
    own_entry = uses.get(name)
    if own_entry is not None and _last(own_entry["spans"]) == last:
        return None
    root, _, _ = name.partition(".")
    tail = name.rsplit(".", 1)[-1]
    if tail == root:
        return None
    for other in sorted(uses):
        entry = uses[other]
        if other != name and other.partition(".")[0] == root \
                and other.rsplit(".", 1)[-1] == tail and _last(entry["spans"]) == last:
            return other, entry["site"]
    return None


def use_line(found: dict, versions: list[str], *, missing: bool = True,
             replaced: tuple[str, list] | None = None) -> str:
    """One line: which releases use the name where a missing name raises (and where the
    last of them does), which only guarded, which not at all; ``missing``: the user's error
    says the dependency lacks it (then a pinned release that still uses it unguarded means
    pinning the dependency, and only guarded uses mean the error is another code's)."""
    spans, live, name = found["spans"], found["live"], found["name"]
    n = len(versions)
    site = found["site"]
    owner = name.split(".")[0]
    text = f"{name} ({owner}'s, not scvi-tools')"
    listed = f" ({', '.join(found['module_names'])})" if found["module_names"] else ""
    guarded_only = _minus(spans, live)
    if live:
        text += f": used by scvi-tools {span_text(live, versions)}{listed}; in " \
                f"{versions[live[-1][1]]} at {site[0]}:{site[1]}"
        if guarded_only:
            text += f"; only guarded, raising nothing, in {span_text(guarded_only, versions)}"
    else:
        text += f": scvi-tools {span_text(spans, versions)} use it{listed} {GUARDED}; in " \
                f"{versions[spans[-1][1]]} at {site[0]}:{site[1]}"
        if missing:
            text += f"; {ANOTHER_PACKAGE} or another release's"
    if _last(live) == n - 1:
        text += f"; still used by {versions[-1]}"
        if missing:
            text += f": pin {owner} to a release that has it"
    unused = span_text(_minus([[0, n - 1]], spans), versions)
    if unused:
        text += f"; not used by {unused}"
    return text + _replaced(replaced, versions) + f" ({READ_NOTE})"


def _replaced(replaced: tuple[str, list] | None, versions: list[str]) -> str:
    """``"; 1.5.1 uses X instead, at path:line"``, or ``""`` without a replacement."""
    if not replaced:
        return ""
    return f"; {versions[-1]} uses {replaced[0]} instead, at {replaced[1][0]}:{replaced[1][1]}"


def _minus(spans: list[list[int]], other: list[list[int]]) -> list[list[int]]:
    """The releases of ``spans`` that ``other`` lacks, as spans."""
    held = {i for a, b in other for i in range(a, b + 1)}
    return index_spans([i for a, b in spans for i in range(a, b + 1) if i not in held])


def unused_line(name: str, versions: list[str], replaced: tuple[str, list] | None = None) -> str:
    return (f"{name}: no scvi-tools release {versions[0]}-{versions[-1]} uses it "
            f"({READ_NOTE}): {ANOTHER_PACKAGE}; check the traceback's frames"
            + _replaced(replaced, versions))


def dependency_use_facts(question: str, *, data: dict | None = None) -> list[str]:
    """Lines for the release history of the pack: for each dependency name the question's
    error text names (and, in a question about an upgrade, each one it writes out that a
    release stopped using), which releases use it; at most :data:`MAX_USE_FACTS`. Reads the
    file only when the question names such a name."""
    errors, written = named_dependency_names(question)
    if not errors and not written:
        return []
    if data is None:
        from .apifiles import load_dependency_uses

        try:
            data = load_dependency_uses()
        except IndexStale as err:
            warn(f"no dependency history: {err}")
            return []
    versions = data.get("versions") or []
    aliases = data.get("aliases") or {}
    if not versions:
        return []
    lines = []
    # A written name whose root no release imports (a file name, a variable) is not looked up.
    roots = {name.partition(".")[0] for name in data.get("uses") or {}} | set(aliases)
    written = [name for name in written if name.partition(".")[0] in roots]
    for name in errors + written:
        found = find(name, data)
        if name in errors:
            replaced = instead(found["name"] if found else canonical(name, aliases), data)
            lines.append(use_line(found, versions, replaced=replaced) if found
                         else unused_line(canonical(name, aliases), versions, replaced))
        elif found is not None and found["spans"][-1][1] < len(versions) - 1:
            # A written name the pinned release still uses says nothing about an upgrade
            # (one a new release started using, like scanpy's in 1.5.1's VIVS, neither).
            lines.append(use_line(found, versions, missing=False))
        if len(lines) >= MAX_USE_FACTS:
            break
    return lines

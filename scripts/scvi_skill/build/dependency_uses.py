"""Which releases use which names of their dependencies: ``references/api/dependency_uses.json.gz``.

An error after a dependency's upgrade (``module 'jax.random' has no attribute 'KeyArray'``,
``cannot import name 'X' from 'anndata...'``) is raised by scvi-tools code that uses a name the
new dependency dropped; the fix is a scvi-tools release that no longer uses it, or the older
dependency. Neither the pinned tree nor the API history (scvi-tools' own public names) says
which releases use a name of another package. This module reads each release's ``scvi/``
with ``ast`` (never importing it) and records every dotted name of a third-party package it
uses:

- ``import a.b`` and ``import a.b as x`` use ``a.b``; ``from a.b import c`` uses ``a.b.c``
  (relative imports and ``scvi`` itself are left out, as are standard-library modules:
  ``sys.stdlib_module_names``);
- an attribute chain rooted at a name such an import binds uses the chain with the root
  resolved (``jax.random.KeyArray``; ``np.float_`` as ``numpy.float_``; ``nn.Linear`` after
  ``from torch import nn`` as ``torch.nn.Linear``), annotations included; only the longest
  chain is kept (``torch.nn.functional.softplus``, not also ``torch.nn``).

A use is marked guarded when a missing name cannot raise there (:class:`_Uses`: a ``try``
that catches ImportError or AttributeError, ``if TYPE_CHECKING:``, a postponed annotation).
:func:`build_dependency_uses` turns the releases into spans of consecutive releases that use
each name and of those where a use is unguarded, with a site (path and line, as in that
sdist) in the last release with an unguarded use, else in the last that uses it, and the
aliases most files write (``np`` -> ``numpy``), so that a question can write a name the way
scvi-tools code does.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter

from scvi_skill.runtime.apifiles import API_FORMAT, REGENERATE_API
from scvi_skill.runtime.dependency_uses import OWN
from scvi_skill.runtime.history import index_spans
from scvi_skill.runtime.tree import Tree

DEPENDENCY_USES = "dependency_uses"
"""Key of a release's uses in the dict :func:`~.api_releases.build_release` returns; only
:func:`build_dependency_uses` reads it (the per-release index files leave it out)."""
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
DEPENDENCY_ALIASES = "dependency_aliases"
"""Key of a release's alias counts (alias -> module -> files) beside its uses."""


def read_dependency_uses(tree: Tree) -> tuple[dict[str, list], Counter]:
    """``(uses, aliases)`` of one release: dotted name -> ``[path, line, guarded]`` of its
    first use that runs unguarded (files in path order), else of its first guarded use
    (``guarded`` 1: see :class:`_Uses`); and a count of ``(alias, module)`` pairs that bind a
    root other than the module's own first part (``np`` -> ``numpy``, ``nn`` -> ``torch.nn``)."""
    uses: dict[str, list] = {}
    aliases: Counter = Counter()
    for path in sorted(tree.package_dir.rglob("*.py")):
        if not path.is_file():  # a FIFO would block the read
            continue
        rel = path.relative_to(tree.root).as_posix()
        try:
            module = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            continue
        bound, found = _file_uses(module)
        for name, line, guarded in found:
            site = uses.get(name)
            if site is None or site[2] and not guarded:
                uses[name] = [rel, line, guarded]
        for alias, target in bound.items():
            if alias != target.split(".")[0]:
                aliases[(alias, target)] += 1
    return dict(sorted(uses.items())), aliases


def _external(module: str) -> bool:
    root = module.split(".")[0]
    return bool(root) and root != OWN and root not in STDLIB


def _file_uses(module: ast.Module) -> tuple[dict[str, str], list[tuple[str, int, int]]]:
    """The names one file binds to a third-party module or object, and the dotted names it
    uses: ``(name, line, guarded)`` in source order."""
    bound: dict[str, str] = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            for item in node.names:
                if _external(item.name):
                    if item.asname:
                        bound[item.asname] = item.name
                    else:
                        root = item.name.split(".")[0]
                        bound.setdefault(root, root)
        elif isinstance(node, ast.ImportFrom) and _external_from(node):
            for item in node.names:
                if item.name != "*":
                    bound[item.asname or item.name] = f"{node.module}.{item.name}"
    found: list[tuple[str, int, int]] = []
    if bound:
        postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                        and any(a.name == "annotations" for a in node.names)
                        for node in module.body)
        _Uses(bound, found, postponed).visit(module)
    found.sort(key=lambda row: (row[1], row[2]))
    return bound, found


def _external_from(node: ast.ImportFrom) -> bool:
    return not node.level and bool(node.module) and _external(node.module)


GUARDING = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError", "Exception",
                      "BaseException"})
"""Handlers under whose ``try`` (and in whose own body: the fallback) a use cannot raise
the error a missing name gives."""


class _Uses(ast.NodeVisitor):
    """The uses of one file, each marked guarded when it cannot raise for a missing name:
    inside a ``try`` (or its handler) that catches ImportError or AttributeError (or any
    exception), under ``if TYPE_CHECKING:``, or in an annotation of a file with ``from
    __future__ import annotations`` (never evaluated). Of attribute chains rooted at a bound
    name, only the longest of each nest is kept."""

    def __init__(self, bound: dict[str, str], found: list, postponed: bool) -> None:
        self.bound, self.found, self.postponed = bound, found, postponed
        self.guard = 0

    def _guarded(self, nodes, guarded: bool) -> None:
        self.guard += guarded
        for node in nodes:
            self.visit(node)
        self.guard -= guarded

    def visit_Try(self, node) -> None:
        catches = any(_catches(handler.type) for handler in node.handlers)
        self._guarded(node.body, catches)
        for handler in node.handlers:
            self._guarded(handler.body, catches)
        self._guarded(node.orelse + node.finalbody, False)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        self._guarded(node.body, _is_type_checking(node.test))
        self._guarded(node.orelse, False)

    def _annotation(self, node: ast.expr | None) -> None:
        if node is not None:
            self._guarded([node], self.postponed)

    def visit_FunctionDef(self, node) -> None:
        self._guarded(node.decorator_list, False)
        args = node.args
        for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if arg is not None:
                self._annotation(arg.annotation)
        self._guarded([d for d in args.defaults + args.kw_defaults if d is not None], False)
        self._annotation(node.returns)
        self._guarded(node.body, False)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self._guarded([node.target] + ([node.value] if node.value else []), False)

    def visit_Import(self, node: ast.Import) -> None:
        for item in node.names:
            if _external(item.name):
                self.found.append((item.name, item.lineno, int(self.guard > 0)))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if _external_from(node):
            for item in node.names:
                if item.name != "*":
                    self.found.append((f"{node.module}.{item.name}", item.lineno,
                                       int(self.guard > 0)))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            parts.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in self.bound:
            self.found.append((".".join([self.bound[value.id], *reversed(parts)]), node.lineno,
                               int(self.guard > 0)))
            return
        self.generic_visit(node)


def _catches(kind: ast.expr | None) -> bool:
    if kind is None:  # a bare except
        return True
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any((k.id if isinstance(k, ast.Name) else getattr(k, "attr", "")) in GUARDING
               for k in kinds)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def build_dependency_uses(releases: list[dict]) -> dict:
    """The ``dependency_uses.json.gz`` object from the releases :func:`~.api_releases.build_release`
    returned (oldest first): ``versions``; ``uses``, dotted name -> ``{"spans": ..., "live":
    ..., "site": [path, line, guarded]}`` (runs of indexes into ``versions``: the releases
    that use it, and, when not the same, those where a use is unguarded; the site in the last
    release with an unguarded use, else in the last that uses it); ``aliases``, alias ->
    module, the binding most files of all releases write (at least two)."""
    versions = [r["version"] for r in releases]
    seen: dict[str, list[int]] = {}
    live: dict[str, list[int]] = {}
    sites: dict[str, list] = {}
    for i, release in enumerate(releases):
        for name, site in (release.get(DEPENDENCY_USES) or {}).items():
            site = list(site) + [0] * (3 - len(site))
            seen.setdefault(name, []).append(i)
            if not site[2]:
                live.setdefault(name, []).append(i)
            if not site[2] or name not in live:  # the last unguarded site wins
                sites[name] = site
    counts: Counter = Counter()
    for release in releases:
        for alias, targets in (release.get(DEPENDENCY_ALIASES) or {}).items():
            for target, count in targets.items():
                counts[(alias, target)] += count
    aliases: dict[str, str] = {}
    for (alias, target), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count >= 2 and alias not in aliases:
            aliases[alias] = target
    return {
        "_generated": ("generated by scripts/build_api_index.py from each release's sdist; "
                       f"do not edit; regenerate: {REGENERATE_API}"),
        "aliases": dict(sorted(aliases.items())),
        "format": API_FORMAT,
        "uses": {name: _entry(seen[name], live.get(name, []), sites[name])
                 for name in sorted(seen)},
        "versions": versions,
    }


def _entry(seen: list[int], live: list[int], site: list) -> dict:
    """``spans`` (releases that use it), ``live`` (those where some use is unguarded; left out
    when the same) and ``site`` (``[path, line, guarded]``)."""
    entry = {"spans": index_spans(seen), "site": site}
    if live != seen:
        entry["live"] = index_spans(live)
    return entry


def release_uses(tree: Tree) -> dict:
    """The two keys :func:`~.api_releases.build_release` adds for one release."""
    uses, aliases = read_dependency_uses(tree)
    nested: dict[str, dict[str, int]] = {}
    for (alias, target), count in sorted(aliases.items()):
        nested.setdefault(alias, {})[target] = count
    return {DEPENDENCY_USES: uses, DEPENDENCY_ALIASES: nested}

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

:func:`build_dependency_uses` turns the releases into spans of consecutive releases that use
each name, with its first site (path and line, as in that sdist) in the last release that
uses it, and the aliases the pinned release writes (``np`` -> ``numpy``), so that a question
can write a name the way scvi-tools code does.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter

from scvi_skill.runtime.apifiles import API_FORMAT, REGENERATE_API
from scvi_skill.runtime.history import index_spans
from scvi_skill.runtime.tree import Tree

DEPENDENCY_USES = "dependency_uses"
"""Key of a release's uses in the dict :func:`~.api_releases.build_release` returns; only
:func:`build_dependency_uses` reads it (the per-release index files leave it out)."""
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
OWN = "scvi"
DEPENDENCY_ALIASES = "dependency_aliases"
"""Key of a release's alias counts (alias -> module -> files) beside its uses."""


def read_dependency_uses(tree: Tree) -> tuple[dict[str, list], Counter]:
    """``(uses, aliases)`` of one release: dotted name -> ``[path, line]`` of its first use
    (files in path order), and a count of ``(alias, module)`` pairs that bind a root other
    than the module's own first part (``np`` -> ``numpy``, ``nn`` -> ``torch.nn``)."""
    uses: dict[str, list] = {}
    aliases: Counter = Counter()
    for path in sorted(tree.package_dir.rglob("*.py")):
        rel = path.relative_to(tree.root).as_posix()
        try:
            module = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            continue
        bound, found = _file_uses(module)
        for name, line in found:
            uses.setdefault(name, [rel, line])
        for alias, target in bound.items():
            if alias != target.split(".")[0]:
                aliases[(alias, target)] += 1
    return dict(sorted(uses.items())), aliases


def _external(module: str) -> bool:
    root = module.split(".")[0]
    return bool(root) and root != OWN and root not in STDLIB


def _file_uses(module: ast.Module) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """The names one file binds to a third-party module or object, and the dotted names it
    uses with their lines, in source order."""
    bound: dict[str, str] = {}
    found: list[tuple[str, int]] = []
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            for item in node.names:
                if not _external(item.name):
                    continue
                found.append((item.name, item.lineno))
                if item.asname:
                    bound[item.asname] = item.name
                else:
                    root = item.name.split(".")[0]
                    bound.setdefault(root, root)
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module or not _external(node.module):
                continue
            for item in node.names:
                if item.name == "*":
                    continue
                dotted = f"{node.module}.{item.name}"
                found.append((dotted, item.lineno))
                bound[item.asname or item.name] = dotted
    if bound:
        _Chains(bound, found).visit(module)
    found.sort(key=lambda row: row[1])
    return bound, found


class _Chains(ast.NodeVisitor):
    """Attribute chains rooted at a bound name: the longest one of each nest."""

    def __init__(self, bound: dict[str, str], found: list[tuple[str, int]]) -> None:
        self.bound, self.found = bound, found

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            parts.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in self.bound:
            self.found.append((".".join([self.bound[value.id], *reversed(parts)]), node.lineno))
            return
        self.generic_visit(node)


def build_dependency_uses(releases: list[dict]) -> dict:
    """The ``dependency_uses.json.gz`` object from the releases :func:`~.api_releases.build_release`
    returned (oldest first): ``versions``; ``uses``, dotted name -> ``{"spans": ...,
    "site": [path, line]}`` (indexes into ``versions``; the site in the last release that
    uses it); ``aliases``, alias -> module, the binding most files of all releases write
    (at least two)."""
    versions = [r["version"] for r in releases]
    seen: dict[str, list[int]] = {}
    sites: dict[str, list] = {}
    for i, release in enumerate(releases):
        for name, site in (release.get(DEPENDENCY_USES) or {}).items():
            seen.setdefault(name, []).append(i)
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
        "uses": {name: {"spans": index_spans(seen[name]), "site": sites[name]}
                 for name in sorted(seen)},
        "versions": versions,
    }


def release_uses(tree: Tree) -> dict:
    """The two keys :func:`~.api_releases.build_release` adds for one release."""
    uses, aliases = read_dependency_uses(tree)
    nested: dict[str, dict[str, int]] = {}
    for (alias, target), count in sorted(aliases.items()):
        nested.setdefault(alias, {})[target] = count
    return {DEPENDENCY_USES: uses, DEPENDENCY_ALIASES: nested}

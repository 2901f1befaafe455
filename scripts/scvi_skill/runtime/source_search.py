"""The searches behind ``search_source.py``: usages, keyword arguments, text, and the
scope and rg plumbing that ``scvi_skill.runtime.definitions`` (``--symbol``) shares.

Every search runs ``rg`` (``scvi_skill.runtime.rg``) over the tree with an argument list. User text is
either searched literally (``--fixed-strings``) or, for names, checked to be a Python
identifier (dots allowed) before it is put into a pattern, so it never becomes a regex by
accident. ``--pattern`` is the one way to pass a regular expression.

Results are tree-relative paths (``src/scvi/...``, ``tests/...``); a file whose resolved path
leaves the tree (a symlink pointing out) is dropped.

Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from .errors import UsageError, warn
from .indexview import IndexView
from .rg import RgLine, run_rg
from .text import clip
from .tree import Tree

MAX_LINE_CHARS = 200
RG_MAX_COUNT = 2000
"""Per-file cap on matches passed to rg, so a pathological pattern stays bounded."""
IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_GLOB_CHARS = set("*?[{")
USER_FACING_AREAS = ("model", "train", "data", "dataloaders", "autotune", "external", "hub")
"""Areas whose hits come first within a kind: user-facing API before modules and internals."""
NOT_AREAS = {"__pycache__"}


@dataclass
class Hit:
    """One result line of a search."""

    path: str
    """Tree-relative POSIX path."""
    line: int
    text: str
    kind: str = "match"
    """``match``; for ``--kwarg``: ``declared``, ``passed`` or ``used``; for ``--usages``:
    ``call``, ``import`` or ``reference``."""
    context: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {"path": self.path, "line": self.line, "kind": self.kind, "text": self.text}
        if self.context:
            out["context"] = [{"line": n, "text": t} for n, t in self.context]
        return out


_NAME_EXAMPLES = {"--kwarg": "batch_key or early_stopping_patience"}
"""Examples of a valid value per option, for the usage error (default: class and method names)."""


def check_name(name: str, what: str) -> str:
    """``name`` stripped, if it is a (dotted) Python identifier; else a usage error that
    quotes the value as given."""
    given = name
    name = name.strip().strip("`").rstrip("()")
    if not IDENTIFIER_RE.fullmatch(name):
        examples = _NAME_EXAMPLES.get(what, "SCVI, SCVI.setup_anndata or scvi.external.TOTALANVI")
        msg = (
            f"{what} must be a Python name such as {examples}, got {given[:60]!r}; use "
            "--pattern for a regular expression or a plain query for literal text"
        )
        raise UsageError(msg)
    return name


def areas(tree: Tree) -> list[str]:
    """Subpackages of ``scvi`` (the source map's areas): model, external, train, ..."""
    pkg = tree.package_dir
    if not pkg.is_dir():
        return []
    return sorted(
        p.name
        for p in pkg.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in NOT_AREAS
    )


@dataclass
class SearchScope:
    """Where a search looks: folders on disk plus optional rg globs, and the ``--in`` glob a
    hit's path must match (``pattern``)."""

    roots: list[Path]
    globs: list[str]
    pattern: str = ""
    """``--in`` as a glob, matched against each hit's tree path, its path under ``src/`` or
    ``src/scvi/``, and its file name (``*_model.py``, ``model/*.py``, ``src/scvi/model/*``); a
    filter after rg, not an rg ``--glob``, which rg would OR with the ``*.py`` of the Python
    modes and anchor differently."""

    def admits(self, rel: str) -> bool:
        """Whether the hit at tree path ``rel`` matches the ``--in`` glob (any, without one)."""
        if not self.pattern:
            return True
        forms = {rel, rel.rsplit("/", 1)[-1]}
        for prefix in ("src/", "src/scvi/"):
            if rel.startswith(prefix):
                forms.add(rel[len(prefix):])
        return any(fnmatchcase(form, self.pattern) for form in forms)

    def holds(self, tree: Tree, rel: str) -> bool:
        """:meth:`admits` and under one of the roots (for hits not found by rg)."""
        if not self.admits(rel):
            return False
        path = tree.to_disk(rel)
        return any(path == root or root in path.parents for root in self.roots)


def make_scope(tree: Tree, where: str | None, *, tests: bool, python_only: bool) -> SearchScope:
    """Roots and globs for ``--in`` (an area, a path in the tree, or a glob) and ``--tests``."""
    globs = ["*.py"] if python_only else []
    roots = [tree.package_dir]
    if tests and tree.has_tests:
        roots.append(tree.root / "tests")
    if not where:
        return SearchScope(roots, globs)
    where = where.strip()
    known = areas(tree)
    if where in known:
        area_roots = [tree.package_dir / where]
        if tests and tree.has_tests and (tree.root / "tests" / where).is_dir():
            area_roots.append(tree.root / "tests" / where)
        return SearchScope(area_roots, globs)
    if _GLOB_CHARS & set(where):
        scope = SearchScope(roots, globs, pattern=where)
        if not _any_admitted(tree, scope):
            raise UsageError(f"--in {where[:80]!r} matches no file of the tree "
                             f"({', '.join(tree.to_rel(r) or str(r) for r in roots)})",
                             hint="A glob is matched against tree paths, paths under src/scvi/ "
                                  "and file names: '*_model.py', 'model/*.py'")
        return scope
    for base in (tree.package_dir, tree.root):
        candidate = base / where.removeprefix("scvi/") if base == tree.package_dir else base / where
        if (candidate.is_dir() or candidate.is_file()) and tree.to_rel(candidate) is not None:
            return SearchScope([candidate.resolve()], globs)
    msg = f"unknown --in {where[:80]!r}; areas: {', '.join(known) or '(none found)'}"
    raise UsageError(msg, hint="Or pass a path inside the tree (model/base) or a glob ('*_model.py').")


def _any_admitted(tree: Tree, scope: SearchScope) -> bool:
    """Whether some file under the scope's roots matches its ``--in`` glob (a glob that
    matches none, ``'['``, gave "0 results" as if the search had found nothing)."""
    import os

    for root in scope.roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for name in files:
                rel = tree.to_rel(Path(folder) / name)
                if rel is not None and scope.admits(rel):
                    return True
    return False


def index_scope(where: str, paths: list[str]):
    """``--in`` without a tree (``--message`` reads its sites from an index): a test of a
    tree path, as :func:`make_scope` scopes, with the index's ``paths`` standing in for the
    tree's folders: a glob as :meth:`SearchScope.admits` matches it, else an area or a path
    (under ``src/scvi/`` or the tree's root) that holds at least one of ``paths``."""
    where = where.strip()
    if _GLOB_CHARS & set(where):
        return SearchScope([], [], pattern=where).admits
    part = where.strip("/").removeprefix("./").strip("/")
    if part in ("", "."):
        return lambda rel: True  # the tree's root: every site
    bases = ("src/scvi/" + part.removeprefix("src/scvi/").removeprefix("scvi/"), part)

    def admits(rel: str) -> bool:
        return any(rel == base or rel.startswith(base + "/") for base in bases)

    if not any(admits(path) for path in paths):
        known = sorted({p.split("/")[2] for p in paths if p.startswith("src/scvi/")
                        and p.count("/") > 2})
        raise UsageError(f"unknown --in {where[:80]!r}; areas: {', '.join(known)}",
                         hint="Or pass a path inside the tree (model/base) or a glob "
                              "('*_model.py').")
    return admits


def rg_search(
    tree: Tree,
    scope: SearchScope,
    patterns: list[str],
    *,
    fixed: bool = False,
    context: int = 0,
    word: bool = False,
) -> list[Hit]:
    """Run rg for ``patterns`` over ``scope`` and return hits inside the tree, sorted by path."""
    args = ["--sort", "path", "--max-count", str(RG_MAX_COUNT), "--max-filesize", "5M"]
    if fixed:
        args.append("--fixed-strings")
    if word:
        args.append("--word-regexp")
    if context:
        args += ["--context", str(context)]
    for glob in scope.globs:
        args += ["--glob", glob]
    for pattern in patterns:
        args += ["-e", pattern]
    args.append("--")
    args += [str(r) for r in scope.roots]
    lines, _ = run_rg(args)
    return [hit for hit in _group(tree, lines, context) if scope.admits(hit.path)]


def _group(tree: Tree, lines: list[RgLine], context: int) -> list[Hit]:
    """Hits in rg order; a context line goes to the match it follows (within ``context``
    lines), else to the next match in the same file."""
    hits: list[Hit] = []
    pending: list[tuple[str, int, str]] = []
    rel_cache: dict[str, str | None] = {}
    for item in lines:
        if item.path not in rel_cache:
            rel_cache[item.path] = tree.to_rel(item.path)
        rel = rel_cache[item.path]
        if rel is None:
            continue
        text = clip(item.text.rstrip(), MAX_LINE_CHARS)
        if item.kind == "context":
            if hits and hits[-1].path == rel and 0 < item.line - hits[-1].line <= context:
                hits[-1].context.append((item.line, text))
            else:
                pending.append((rel, item.line, text))
            continue
        hit = Hit(rel, item.line, text)
        hit.context = [(n, t) for p, n, t in pending if p == rel]
        pending = []
        hits.append(hit)
    return hits


def def_pattern(short: str) -> str:
    """Regex of a ``def``/``class`` line for identifier ``short`` (checked by check_name)."""
    return rf"^\s*(?:async\s+def|def|class)\s+{short}\b"


def find_usages(tree: Tree, name: str, scope: SearchScope, *, context: int = 0) -> list[Hit]:
    """Lines that reference the last part of ``name``, minus its definitions."""
    name = check_name(name, "--usages")
    short = name.rsplit(".", 1)[-1]
    if short != name:
        warn(f"--usages searches the last part of {name!r}: every {short!r} in the source")
    hits = rg_search(tree, scope, [rf"\b{short}\b"], context=context)
    definition = re.compile(def_pattern(short))
    out = []
    for hit in hits:
        if definition.match(hit.text):
            continue
        stripped = hit.text.lstrip()
        if stripped.startswith(("import ", "from ")):
            hit.kind = "import"
        elif re.search(rf"\b{short}\s*\(", hit.text):
            hit.kind = "call"
        else:
            hit.kind = "reference"
        out.append(hit)
    return out


def find_kwarg(
    tree: Tree, name: str, scope: SearchScope, index: dict | None, *, context: int = 0
) -> list[Hit]:
    """Where keyword ``name`` is declared (parameters, config fields), passed (``name=``)
    and read; declarations first."""
    name = check_name(name, "--kwarg")
    if "." in name:
        raise UsageError(f"--kwarg takes a bare parameter name, got {name!r}")
    hits = rg_search(tree, scope, [rf"\b{name}\b"], context=context)
    declared_at = _declared_lines(index, name)
    annotated = re.compile(rf"^\s*(?:\*{{0,2}}){name}\s*:\s*[^=\s]")
    in_def = re.compile(rf"^\s*(?:async\s+)?def\s+\w+\s*\(.*\b{name}\b")
    passed = re.compile(rf"\b{name}\s*=(?!=)")
    for hit in hits:
        if (hit.path, hit.line) in declared_at or annotated.match(hit.text) or in_def.match(hit.text):
            hit.kind = "declared"
        elif passed.search(hit.text) or re.search(rf"[\"']{name}[\"']", hit.text):
            hit.kind = "passed"
        else:
            hit.kind = "used"
    order = {"declared": 0, "passed": 1, "used": 2}
    hits.sort(key=lambda h: (order[h.kind], h.path.startswith("tests/"), _area_rank(h.path), h.path, h.line))
    return hits


def _area_rank(path: str) -> int:
    """Position of a ``src/scvi/<area>/...`` path's area in USER_FACING_AREAS (others last)."""
    parts = path.split("/")
    area = parts[2] if len(parts) > 3 and parts[:2] == ["src", "scvi"] else ""
    return USER_FACING_AREAS.index(area) if area in USER_FACING_AREAS else len(USER_FACING_AREAS)


def _declared_lines(index: dict | None, name: str) -> set[tuple[str, int]]:
    """(path, def line) of functions whose parameters include ``name``, from the index."""
    if not index:
        return set()
    return {(sym["path"], sym.get("line", 0)) for sym in IndexView(index).declaring(name)}

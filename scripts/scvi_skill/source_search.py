"""The searches behind ``search_source.py``: symbols, usages, keyword arguments, text.

Every search runs ``rg`` (``scvi_skill.rg``) over the tree with an argument list. User text is
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
from pathlib import Path

from .errors import UsageError
from .rg import RgLine, run_rg
from .tree import Tree

MAX_LINE_CHARS = 200
MAX_SIGNATURE_LINES = 40
MAX_SIGNATURE_CHARS = 400
DOC_LINES = 3
RG_MAX_COUNT = 2000
"""Per-file cap on matches passed to rg, so a pathological pattern stays bounded."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_GLOB_CHARS = set("*?[{")
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


@dataclass
class Definition:
    """Where a class or function is defined, with its signature and docstring start."""

    name: str
    """The public dotted name when known (``scvi.model.SCVI.setup_anndata``), else the
    qualified name found in the file."""
    kind: str
    path: str
    line: int
    signature: str
    doc: list[str]
    inherited_from: str | None = None

    def as_dict(self) -> dict:
        out = {
            "symbol": self.name,
            "kind": self.kind,
            "path": self.path,
            "line": self.line,
            "signature": self.signature,
            "doc": self.doc,
        }
        if self.inherited_from:
            out["inherited_from"] = self.inherited_from
        return out


def check_name(name: str, what: str) -> str:
    """``name`` stripped, if it is a (dotted) Python identifier; else a usage error."""
    name = name.strip().strip("`").rstrip("()")
    if not _IDENTIFIER.fullmatch(name):
        msg = (
            f"{what} must be a Python name such as SCVI, SCVI.setup_anndata or "
            f"scvi.external.TOTALANVI, got {name[:60]!r}; use --pattern for a regular expression "
            "or a plain query for literal text"
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
class Scope:
    """Where a search looks: folders on disk plus optional rg globs."""

    roots: list[Path]
    globs: list[str]


def make_scope(tree: Tree, where: str | None, *, tests: bool, python_only: bool) -> Scope:
    """Roots and globs for ``--in`` (an area, a path in the tree, or a glob) and ``--tests``."""
    globs = ["*.py"] if python_only else []
    roots = [tree.package_dir]
    if tests and tree.has_tests:
        roots.append(tree.root / "tests")
    if not where:
        return Scope(roots, globs)
    where = where.strip()
    known = areas(tree)
    if where in known:
        area_roots = [tree.package_dir / where]
        if tests and tree.has_tests and (tree.root / "tests" / where).is_dir():
            area_roots.append(tree.root / "tests" / where)
        return Scope(area_roots, globs)
    if _GLOB_CHARS & set(where):
        return Scope(roots, globs + [where])
    for base in (tree.package_dir, tree.root):
        candidate = base / where.removeprefix("scvi/") if base == tree.package_dir else base / where
        if (candidate.is_dir() or candidate.is_file()) and tree.to_rel(candidate) is not None:
            return Scope([candidate.resolve()], globs)
    msg = f"unknown --in {where[:80]!r}; areas: {', '.join(known) or '(none found)'}"
    raise UsageError(msg, hint="Or pass a path inside the tree (model/base) or a glob ('*_model.py').")


def rg_search(
    tree: Tree,
    scope: Scope,
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
    return _group(tree, lines, context)


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
        text = clip(item.text)
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


def clip(text: str, width: int = MAX_LINE_CHARS) -> str:
    text = text.rstrip()
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------- definitions


def _def_pattern(short: str) -> str:
    return rf"^\s*(?:async\s+def|def|class)\s+{short}\b"


def find_definitions(tree: Tree, name: str, index: dict | None, scope: Scope) -> list[Definition]:
    """Definitions of ``name`` (dotted allowed): from the index when it knows the name,
    else by searching ``def``/``class`` lines with rg."""
    name = check_name(name, "--symbol")
    found = _from_index(tree, name, index) if index else []
    if found:
        return found
    return _from_rg(tree, name, scope)


def _from_index(tree: Tree, name: str, index: dict) -> list[Definition]:
    symbols = index.get("symbols") or []
    by_qual = {s["qualname"]: s for s in symbols}
    namespaces = index.get("namespaces") or {}
    matches = _match_symbols(name, symbols, namespaces, by_qual)
    inherited = None
    if not matches and "." in name:
        owner, _, member = name.rpartition(".")
        for cls in _match_symbols(owner, symbols, namespaces, by_qual):
            base_hit = _inherited(cls, member, symbols, namespaces, by_qual, set())
            if base_hit:
                owner_qual = base_hit["qualname"].rsplit(".", 1)[0]
                owner_sym = by_qual.get(owner_qual) or {}
                inherited = (owner_sym.get("public") or [owner_qual])[0]
                matches = [base_hit]
                break
    out = []
    for sym in matches:
        public = sym.get("public") or []
        shown = _shown_name(name, public, sym["qualname"])
        definition = _read_definition(tree, sym["path"], sym.get("line", 1), shown, sym.get("kind"))
        if definition is not None:
            definition.inherited_from = inherited
            out.append(definition)
    return out


def _match_symbols(name, symbols, namespaces, by_qual) -> list[dict]:
    """Symbols whose qualname or public names equal ``name`` or end with ``.name``."""
    exact = namespaces.get(name)
    if exact and exact in by_qual:
        return [by_qual[exact]]
    if name in by_qual:
        return [by_qual[name]]
    suffix = "." + name
    scored = []
    for sym in symbols:
        names = list(sym.get("public") or []) + [sym["qualname"]]
        if any(n == name or n.endswith(suffix) for n in names):
            private_file = 0 if sym.get("public") else 1
            scored.append((private_file, len(sym["qualname"]), sym["path"], sym.get("line", 0), sym))
    scored.sort(key=lambda t: t[:4])
    # One definition per file/line; public ones first.
    seen, out = set(), []
    for *_, sym in scored:
        key = (sym["path"], sym.get("line"))
        if key not in seen:
            seen.add(key)
            out.append(sym)
    return out


def _inherited(cls, member, symbols, namespaces, by_qual, seen) -> dict | None:
    """``member`` defined on a base class of ``cls`` (depth-first, in base order)."""
    for base in cls.get("bases") or []:
        base_name = base.split("[", 1)[0].strip()
        if not _IDENTIFIER.fullmatch(base_name) or base_name in seen:
            continue
        seen.add(base_name)
        for base_sym in _match_symbols(base_name, symbols, namespaces, by_qual)[:1]:
            target = base_sym["qualname"] + "." + member
            if target in by_qual:
                return by_qual[target]
            deeper = _inherited(base_sym, member, symbols, namespaces, by_qual, seen)
            if deeper:
                return deeper
    return None


def _shown_name(query: str, public: list[str], qualname: str) -> str:
    for name in public:
        if name == query or name.endswith("." + query):
            return name
    return public[0] if public else qualname


def _from_rg(tree: Tree, name: str, scope: Scope) -> list[Definition]:
    parts = [p for p in name.split(".") if p != "scvi"]
    short = parts[-1]
    owner = parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() else None
    module_dirs = [p for p in parts[:-1] if p[:1].islower()]
    hits = rg_search(tree, scope, [_def_pattern(short)])
    out = _rg_definitions(tree, hits, name, short, owner, module_dirs)
    if not out and owner:
        base = _rg_inherited(tree, scope, owner, short, module_dirs, depth=0, seen=set())
        if base is not None:
            definition, base_name = base
            definition.inherited_from = base_name
            out = [definition]
    # Top-level definitions and non-test files first.
    out.sort(key=lambda d: (d.path.startswith("tests/"), d.signature.startswith(" "), d.path))
    return out


MAX_BASE_DEPTH = 6


def _rg_inherited(tree, scope, owner, member, module_dirs, *, depth, seen):
    """``member`` found on a base class of ``owner``, by reading class headers (no index)."""
    if depth > MAX_BASE_DEPTH or owner in seen:
        return None
    seen.add(owner)
    classes = _rg_definitions(
        tree, rg_search(tree, scope, [_def_pattern(owner)]), owner, owner, None,
        module_dirs if depth == 0 else [],
    )
    for cls in classes:
        if cls.kind != "class":
            continue
        header = cls.signature.split("(", 1)[1].rsplit(")", 1)[0] if "(" in cls.signature else ""
        bases = [b.strip().split("[", 1)[0].rsplit(".", 1)[-1] for b in header.split(",")]
        for base in bases:
            if not base or not _IDENTIFIER.fullmatch(base) or "=" in base:
                continue
            hits = rg_search(tree, scope, [_def_pattern(member)])
            found = _rg_definitions(tree, hits, f"{base}.{member}", member, base, [])
            if found:
                return found[0], base
            deeper = _rg_inherited(tree, scope, base, member, [], depth=depth + 1, seen=seen)
            if deeper is not None:
                return deeper
    return None


def _rg_definitions(tree, hits, name, short, owner, module_dirs) -> list[Definition]:
    out = []
    for hit in hits:
        if module_dirs and not all(f"/{d}/" in "/" + hit.path for d in module_dirs):
            continue
        if owner and _enclosing_class(tree, hit) != owner:
            continue
        kind = "class" if hit.text.lstrip().startswith("class") else "function"
        definition = _read_definition(tree, hit.path, hit.line, name, kind)
        if definition is not None:
            out.append(definition)
    return out


def _enclosing_class(tree: Tree, hit: Hit) -> str | None:
    lines = _read_lines(tree, hit.path)
    if not lines or hit.line > len(lines):
        return None
    indent = len(lines[hit.line - 1]) - len(lines[hit.line - 1].lstrip())
    for text in reversed(lines[: hit.line - 1]):
        stripped = text.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        level = len(text) - len(stripped)
        if level < indent and not stripped.startswith(("@", ")", "]", "}")):
            if stripped.startswith("class "):
                return re.split(r"[\s(:]", stripped[6:], maxsplit=1)[0]
            if level == 0:
                return None
            indent = level
    return None


_FILE_CACHE: dict[str, list[str]] = {}


def _read_lines(tree: Tree, rel: str) -> list[str]:
    if rel not in _FILE_CACHE:
        disk = tree.to_disk(rel)
        if tree.to_rel(disk) is None:
            _FILE_CACHE[rel] = []
        else:
            try:
                _FILE_CACHE[rel] = disk.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                _FILE_CACHE[rel] = []
    return _FILE_CACHE[rel]


def _read_definition(tree: Tree, rel: str, line: int, name: str, kind) -> Definition | None:
    """Signature and docstring start read from the file; the line is re-found if the tree
    differs from the one the index describes."""
    lines = _read_lines(tree, rel)
    if not lines:
        return None
    short = name.rsplit(".", 1)[-1]
    start = _locate_def(lines, line, short)
    if start is None:
        return None
    sig_lines, depth, end = [], 0, start
    for end in range(start, min(len(lines), start + MAX_SIGNATURE_LINES)):
        text = lines[end]
        sig_lines.append(text.strip())
        depth += text.count("(") + text.count("[") - text.count(")") - text.count("]")
        if depth <= 0 and text.rstrip().endswith(":"):
            break
    signature = " ".join(sig_lines).replace("( ", "(").replace(", )", ")")
    signature = clip(re.sub(r",\s*\)", ")", signature), MAX_SIGNATURE_CHARS)
    return Definition(
        name=name,
        kind=kind or ("class" if lines[start].lstrip().startswith("class") else "function"),
        path=rel,
        line=start + 1,
        signature=signature,
        doc=_docstring_start(lines, end + 1),
    )


def _locate_def(lines: list[str], line: int, short: str) -> int | None:
    """0-based index of the ``def``/``class short`` line nearest to 1-based ``line``."""
    pattern = re.compile(_def_pattern(re.escape(short)))
    best = None
    for i, text in enumerate(lines):
        if pattern.match(text) and (best is None or abs(i + 1 - line) < abs(best + 1 - line)):
            best = i
    return best


def _docstring_start(lines: list[str], i: int) -> list[str]:
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return []
    first = lines[i].strip()
    quote = next((q for q in ('"""', "'''") if first.lstrip("rbuRBU").startswith(q)), None)
    if quote is None:
        return []
    body = first.lstrip("rbuRBU")[3:]
    out: list[str] = []
    while True:
        closed = quote in body
        text = body.split(quote, 1)[0].strip()
        if text:
            out.append(clip(text))
        elif out:
            break
        if closed or len(out) >= DOC_LINES:
            break
        i += 1
        if i >= len(lines):
            break
        body = lines[i]
    return out


# ---------------------------------------------------------------- usages and kwargs


def find_usages(tree: Tree, name: str, scope: Scope, *, context: int = 0) -> list[Hit]:
    """Lines that reference the last part of ``name``, minus its definitions."""
    name = check_name(name, "--usages")
    short = name.rsplit(".", 1)[-1]
    hits = rg_search(tree, scope, [rf"\b{short}\b"], context=context)
    definition = re.compile(_def_pattern(short))
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
    tree: Tree, name: str, scope: Scope, index: dict | None, *, context: int = 0
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
    hits.sort(key=lambda h: (order[h.kind], h.path.startswith("tests/"), h.path, h.line))
    return hits


def _declared_lines(index: dict | None, name: str) -> set[tuple[str, int]]:
    """(path, def line) of functions whose parameters include ``name``, from the index."""
    out = set()
    for sym in (index or {}).get("symbols") or []:
        if any(p.get("name") == name for p in sym.get("params") or []):
            out.add((sym["path"], sym.get("line", 0)))
    return out

"""``search_source.py --symbol``: where a class, function or method is defined.

Public dotted names resolve through the shipped index (``namespaces`` and ``symbols``), so
``scvi.external.TOTALANVI`` or ``SCVI.setup_anndata`` lead to the defining file without
importing scvi; members a class inherits are found along the method resolution order the
index stores for it (:class:`~scvi_skill.runtime.indexview.IndexView`). That needs no rg, so
``--symbol`` works where ripgrep is missing. Without an index (or for names it does not know)
``def``/``class`` lines are searched with rg and base classes are read from the class header. Either way the signature and the start of the docstring
are read from the file itself, so a tree that differs from the index still shows the truth.

Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RgMissing
from .indexview import IndexView
from .source_search import (
    IDENTIFIER_RE,
    MAX_LINE_CHARS,
    Hit,
    SearchScope,
    check_name,
    def_pattern,
    rg_search,
)
from .text import clip
from .tree import Tree, read_text

MAX_SIGNATURE_LINES = 40
MAX_SIGNATURE_CHARS = 400
DOC_LINES = 3


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


def find_definitions(tree: Tree, name: str, index: dict | None, scope: SearchScope) -> list[Definition]:
    """Definitions of ``name`` (dotted allowed): from the index when it knows the name,
    else by searching ``def``/``class`` lines with rg."""
    name = check_name(name, "--symbol")
    found = [d for d in _from_index(tree, name, index) if scope.holds(tree, d.path)] \
        if index else []
    if found:
        return found
    try:
        return _from_rg(tree, name, scope)
    except RgMissing as err:
        where = "the shipped index does not know it" if index else "no index was loaded"
        raise RgMissing(
            f"{name}: {where}, and searching def/class lines needs ripgrep (rg)",
            hint=f"{err.hint} Without rg, search `(def|class) {name.rsplit('.', 1)[-1]}\\b` "
                 f"with your own Grep tool over {tree.to_disk('src/scvi')}.") from err


def _from_index(tree: Tree, name: str, index: dict) -> list[Definition]:
    view = IndexView(index)
    matches = _match_symbols(name, view)
    inherited = None
    if not matches and "." in name:
        owner, _, member = name.rpartition(".")
        for cls in _match_symbols(owner, view):
            base_hit = view.inherited(cls["qualname"], member)
            if base_hit:
                owner_qual = base_hit["qualname"].rsplit(".", 1)[0]
                owner_sym = view.symbols.get(owner_qual) or {}
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


def _match_symbols(name: str, view: IndexView) -> list[dict]:
    """Symbols whose qualname or public names equal ``name`` or end with ``.name``."""
    exact = view.symbol(name)
    if exact is not None:
        return [exact]
    suffix = "." + name
    scored = []
    for sym in view.symbols.values():
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


def _shown_name(query: str, public: list[str], qualname: str) -> str:
    for name in public:
        if name == query or name.endswith("." + query):
            return name
    return public[0] if public else qualname


def _from_rg(tree: Tree, name: str, scope: SearchScope) -> list[Definition]:
    parts = [p for p in name.split(".") if p != "scvi"]
    short = parts[-1]
    owner = parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() else None
    module_dirs = [p for p in parts[:-1] if p[:1].islower()]
    hits = rg_search(tree, scope, [def_pattern(short)])
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
        tree, rg_search(tree, scope, [def_pattern(owner)]), owner, owner, None,
        module_dirs if depth == 0 else [],
    )
    for cls in classes:
        if cls.kind != "class":
            continue
        header = cls.signature.split("(", 1)[1].rsplit(")", 1)[0] if "(" in cls.signature else ""
        bases = [b.strip().split("[", 1)[0].rsplit(".", 1)[-1] for b in header.split(",")]
        for base in bases:
            if not base or not IDENTIFIER_RE.fullmatch(base) or "=" in base:
                continue
            hits = rg_search(tree, scope, [def_pattern(member)])
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


_FILE_CACHE: dict[tuple[str, str], list[str]] = {}
"""A file's lines by (tree root, tree path): one process may read two trees (a test, the
project's package beside the pinned tree), whose files of one path differ."""


def _read_lines(tree: Tree, rel: str) -> list[str]:
    key = (str(tree.root), rel)
    if key not in _FILE_CACHE:
        disk = tree.to_disk(rel)
        if tree.to_rel(disk) is None:
            _FILE_CACHE[key] = []
        else:
            try:
                _FILE_CACHE[key] = read_text(disk).splitlines()
            except OSError:
                _FILE_CACHE[key] = []
    return _FILE_CACHE[key]


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
    pattern = re.compile(def_pattern(re.escape(short)))
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
            out.append(clip(text, MAX_LINE_CHARS))
        elif out:
            break
        if closed or len(out) >= DOC_LINES:
            break
        i += 1
        if i >= len(lines):
            break
        body = lines[i]
    return out

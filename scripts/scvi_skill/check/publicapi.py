"""Answer "does this scvi-tools name exist, and what does it accept?" from the shipped index.

Reads ``references/index.json`` (``namespaces``: public dotted name -> defining qualname;
``symbols``: qualname, kind, path, line, params, var_kwargs, bases, decorators), and from the
pinned release's API index where a class's or method's ``**kwargs`` go on to one callable (a
model's module, DE's ``get_bayes_factors``); never imports scvi. Names, members (along the MRO the index stores) and parameters come from
:class:`~scvi_skill.runtime.indexview.IndexView`, which this class extends. With a tree at hand it also reads a class's source with ``ast`` to find attributes the
index does not list (``self.history_ = ...``, class-level annotations), so a real attribute is
not reported as missing.

Used by ``check_skill.py`` (maintainers); standard library only.
"""

from __future__ import annotations

import ast
from pathlib import Path

from scvi_skill.runtime.apiindex import (
    CLASS_ROUTE_FIELDS,
    CheckableApi,
    KwargVerdict,
    Lookup,
    takes_keyword,
)
from scvi_skill.runtime.schema import (
    FIELD_BASES,
    SETUP_METHODS,
    TRIVIAL_BASES,
    base_name,
)

CLOSED_BASES = TRIVIAL_BASES | FIELD_BASES
"""External bases a class may have and still be closed (every member known from the index)."""


class PublicApi(CheckableApi):
    """Lookups over one loaded index (``dict`` as read from index.json)."""

    def __init__(self, index: dict, *, tree_root: Path | None = None,
                 release: dict | None = None) -> None:
        super().__init__(index)
        self.tree_root = tree_root
        for qualname, symbol in ((release or {}).get("symbols") or {}).items():
            if symbol.get("kwargs_to") in ("class", "call") and qualname in self.symbols:
                # where the **kwargs go, read from the same release's sdist
                self.symbols[qualname] = {**self.symbols[qualname], **{
                    k: symbol[k] for k in CLASS_ROUTE_FIELDS if k in symbol}}
        self._classes_by_last: dict[str, list[str]] = {}
        for qualname, symbol in self.symbols.items():
            if symbol.get("kind") == "class":
                self._classes_by_last.setdefault(qualname.rsplit(".", 1)[-1], []).append(qualname)
        self._closed: dict[str, bool] = {}
        self._attrs: dict[str, set[str]] = {}

    # -- names ---------------------------------------------------------------------------------

    def lookup(self, dotted: str) -> Lookup:
        """Resolve ``scvi.model.SCVI.train`` (public name, member or defining qualname)."""
        if dotted in self.namespaces:
            return Lookup(True, self.namespaces[dotted])
        if dotted in self.symbols:
            return Lookup(True, dotted)
        if self._is_module_in_tree(dotted):
            return Lookup(True, dotted)
        found = self._lookup_from_prefix(dotted)
        if found is not None:
            return found
        return Lookup(False, message=f"{dotted} is not a public scvi-tools name{self._hint(dotted)}")

    def _lookup_below(self, dotted: str, prefix: str, target: str, rest: list[str]) -> Lookup:
        symbol = self.symbols.get(target)
        if symbol is None and target != prefix and not target.startswith("scvi"):
            return Lookup(True, certain=False)  # a re-export from another package
        kind = symbol.get("kind") if symbol else ("module" if target == prefix else None)
        if kind == "module":
            return Lookup(False, message=f"{dotted} is not a public scvi-tools name: "
                          f"{prefix} has no {rest[0]}{self._hint(dotted)}")
        if kind == "class":
            member = rest[0]
            if len(rest) == 1:
                defined = self._member_symbol(target, member)
                if defined is not None:
                    return Lookup(True, defined)
            if not self.class_is_closed(target) or self._has_attribute(target, member):
                return Lookup(True, certain=False)
            return Lookup(False, message=f"{dotted} does not exist: class {prefix} has no "
                          f"method, property or attribute {member}{self._hint(dotted)}")
        return Lookup(True, certain=False)  # attribute of a function or variable: not checked

    def _is_module_in_tree(self, dotted: str) -> bool:
        """A private module such as ``scvi._settings`` (not in namespaces, but real)."""
        if self.tree_root is None:
            return False
        base = self.tree_root.joinpath("src", *dotted.split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()

    # -- classes -------------------------------------------------------------------------------

    def resolve_base(self, expr: str, owner: str) -> str | None:
        """An in-index class for a base expression, preferring the owner's package."""
        last = expr.split("[", 1)[0].rsplit(".", 1)[-1]
        candidates = self._classes_by_last.get(last, [])
        if not candidates:
            return None
        package = owner.split(".")[:2]
        candidates = sorted(candidates, key=lambda q: (q.split(".")[:2] != package, q))
        return candidates[0]

    def class_is_closed(self, qualname: str, _stack: frozenset = frozenset()) -> bool:
        """True when every base class is in the index (so all members are known)."""
        if qualname in self._closed:
            return self._closed[qualname]
        if qualname in _stack:
            return True
        closed = True
        for expr in self.symbols.get(qualname, {}).get("bases") or []:
            if base_name(expr) in CLOSED_BASES:
                continue
            base = self.resolve_base(expr, qualname)
            if base is None or not self.class_is_closed(base, _stack | {qualname}):
                closed = False
                break
        self._closed[qualname] = closed
        return closed

    def _member_symbol(self, cls: str, name: str) -> str | None:
        member = self.member(cls, name)
        return member["qualname"] if member is not None else None

    def _has_attribute(self, cls: str, name: str) -> bool:
        for base in self.mro(cls):
            if f"{base}.{name}" in self.symbols:
                return True
            if name in self._source_attributes(base):
                return True
        return False

    def _source_attributes(self, cls: str) -> set[str]:
        """Attribute names a class body sets (``self.x = ``, ``x: int``, ``x = ``), via ast."""
        if cls in self._attrs:
            return self._attrs[cls]
        names: set[str] = set()
        symbol = self.symbols.get(cls)
        if symbol and self.tree_root is not None:
            names = _class_attributes(self.tree_root / symbol["path"], cls.rsplit(".", 1)[-1],
                                      symbol.get("line", 1))
        self._attrs[cls] = names
        return names

    # -- callables -----------------------------------------------------------------------------

    def accepts(self, qualname: str, keyword: str, _seen: tuple = ()) -> KwargVerdict:
        """Whether the callable (function, method, or class constructor) takes ``keyword``."""
        params = self.params(qualname)
        if params is None:
            return KwargVerdict(True, known=False)
        symbol = self.symbols[qualname]
        if takes_keyword(params, keyword):
            return KwargVerdict(True)
        if symbol.get("var_kwargs"):
            var = next((p["name"] for p in symbol["params"] if p.get("kind") == "VAR_KEYWORD"),
                       "kwargs")
            if self._forwards_to_register_fields(symbol, var):
                return self.register_fields_verdict(keyword, var)
            if symbol.get("kwargs_to") in ("class", "call"):
                if keyword in symbol.get("kwargs_fixed", ()):
                    return KwargVerdict(False, reason=f"its **{var} go to a call that already "
                                                      f"passes {keyword}: TypeError, multiple values")
                return self._passed_on(symbol, keyword, var, (*_seen, qualname))
            return KwargVerdict(True, via=f"**{var}", known=False)  # where they go is unknown
        return KwargVerdict(False)

    def _forwards_to_register_fields(self, symbol: dict, var: str) -> bool:
        """A ``setup_anndata``/``setup_mudata`` whose ``**kwargs`` only reach
        ``register_fields`` (read from the tree; False without one)."""
        name = symbol["qualname"].rsplit(".", 1)[-1]
        if name not in SETUP_METHODS or self.tree_root is None:
            return False
        node = _function_node(self.tree_root / symbol["path"], name, symbol.get("line", 1))
        if node is None:
            return False
        targets = set()
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and any(
                    k.arg is None and isinstance(k.value, ast.Name) and k.value.id == var
                    for k in call.keywords):
                func = call.func
                targets.add(func.attr if isinstance(func, ast.Attribute) else ast.unparse(func))
        return targets == {"register_fields"}


def _function_node(path: Path, name: str, line: int) -> ast.FunctionDef | None:
    tree = _parse(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if start <= line <= (node.end_lineno or node.lineno):
                return node
    return None


_PARSED: dict[Path, ast.Module | None] = {}


def _parse(path: Path) -> ast.Module | None:
    if path not in _PARSED:
        try:
            _PARSED[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            _PARSED[path] = None
    return _PARSED[path]


def _class_attributes(path: Path, class_name: str, line: int) -> set[str]:
    tree = _parse(path)
    if tree is None:
        return set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name and node.lineno == line:
            return _attributes_of(node)
    return set()


def _attributes_of(node: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    for sub in ast.walk(node):
        targets = []
        if isinstance(sub, ast.Assign):
            targets = sub.targets
        elif isinstance(sub, ast.AnnAssign | ast.AugAssign):
            targets = [sub.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == "self":
                names.add(target.attr)
    return names

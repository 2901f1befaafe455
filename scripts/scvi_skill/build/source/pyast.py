"""Read one Python module of the scvi-tools tree with ``ast`` (never importing it).

:func:`read_module` returns a :class:`ModuleInfo`: the module's symbols (public classes,
functions, methods, properties; line numbers are 1-based, ``end`` inclusive), its name
bindings (definitions and imports, for namespace resolution) and its ``__all__``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from scvi_skill.runtime.schema import MAX_SUMMARY_CHARS, SETUP_METHODS
from scvi_skill.runtime.text import clip

MAX_DEFAULT_CHARS = 40
CLASS_HOOK_SUFFIX = "_cls"
"""Class attributes such as ``_module_cls = VAE`` name the module/plan/splitter a model uses."""
MODULE_HOOK = "_module_cls"
"""The hook an ``__init__`` that builds its module by name (``self.module = SysVAE(...)``, no
``_module_cls``) is given, as if it had set it."""


@dataclass
class Binding:
    """What a module-level name is bound to."""

    kind: str
    """``"def"`` (class, function or variable defined here), ``"import"`` (``from M import n``)
    or ``"module"`` (``import M`` / ``import M as n``)."""
    target: str
    """``def``: the qualname; ``import``: the absolute source module; ``module``: module name."""
    name: str = ""
    """``import`` only: the name imported from ``target``."""


@dataclass
class ModuleInfo:
    name: str
    """Dotted module name, ``scvi.model._scvi`` (a package is its ``__init__``)."""
    path: str
    is_package: bool
    n_lines: int
    doc: str
    symbols: list[dict] = field(default_factory=list)
    bindings: dict[str, Binding] = field(default_factory=dict)
    all_names: list[str] | None = None
    variables: dict[str, dict] = field(default_factory=dict)
    """Public module-level variables, emitted as symbols only when a namespace names them."""
    lazy: dict[str, Binding] = field(default_factory=dict)
    """Names served by a module ``__getattr__`` (``if name == "X": from .m import X``)."""
    classes: dict[str, dict] = field(default_factory=dict)
    """qualname -> {"bases": [expr], "members": {name: qualname}, "hooks": {attr: expr}
    (``_module_cls = VAE`` in the class body, or ``self._module_cls = VAE`` in ``__init__``,
    which wins),
    "init": symbol or None, "new": symbol or None (a ``__new__``, which takes the call's
    arguments too), "fields": [params] or None}."""


def summary_line(doc: str | None) -> str:
    if not doc:
        return ""
    for line in doc.splitlines():
        line = line.strip()
        if line:
            return clip(line, MAX_SUMMARY_CHARS)
    return ""


def _short(expr: ast.AST) -> str:
    return clip(ast.unparse(expr), MAX_DEFAULT_CHARS)


def _decorator_name(node: ast.expr) -> str:
    return ast.unparse(node.func if isinstance(node, ast.Call) else node)


def signature_of(args: ast.arguments) -> tuple[str, list[dict], bool]:
    """``(signature text, params, var_kwargs)``; params keep every name, with its kind."""
    params: list[dict] = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "POSITIONAL_ONLY" if i < len(args.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        params.append(_param(arg.arg, kind, default))
    if args.vararg:
        params.append(_param(args.vararg.arg, "VAR_POSITIONAL", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(_param(arg.arg, "KEYWORD_ONLY", default))
    if args.kwarg:
        params.append(_param(args.kwarg.arg, "VAR_KEYWORD", None))
    return render_signature(params), params, args.kwarg is not None


def _param(name: str, kind: str, default: ast.expr | None) -> dict:
    entry = {"kind": kind, "name": name}
    if default is not None:
        entry["default"] = _short(default)
    return entry


def render_signature(params: list[dict]) -> str:
    parts: list[str] = []
    star_done = False
    for i, p in enumerate(params):
        kind = p["kind"]
        if kind == "VAR_POSITIONAL":
            parts.append("*" + p["name"])
            star_done = True
            continue
        if kind == "VAR_KEYWORD":
            parts.append("**" + p["name"])
            continue
        if kind == "KEYWORD_ONLY" and not star_done:
            parts.append("*")
            star_done = True
        text = p["name"] + ("=" + p["default"] if "default" in p else "")
        parts.append(text)
        is_last_posonly = kind == "POSITIONAL_ONLY" and (
            i + 1 == len(params) or params[i + 1]["kind"] != "POSITIONAL_ONLY"
        )
        if is_last_posonly:
            parts.append("/")
    return "(" + ", ".join(parts) + ")"


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any(_decorator_name(d).split(".")[-1] == "dataclass" for d in node.decorator_list)


def _dataclass_fields(node: ast.ClassDef) -> list[dict]:
    kw_only = any(
        isinstance(d, ast.Call)
        and any(k.arg == "kw_only" and ast.unparse(k.value) == "True" for k in d.keywords)
        for d in node.decorator_list
    )
    fields = []
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        if "ClassVar" in ast.unparse(stmt.annotation):
            continue
        kind = "KEYWORD_ONLY" if kw_only else "POSITIONAL_OR_KEYWORD"
        default = stmt.value
        if isinstance(default, ast.Call) and _decorator_name(default).split(".")[-1] == "field":
            for kw in default.keywords:
                if kw.arg in ("default", "default_factory"):
                    default = kw.value if kw.arg == "default" else ast.Call(kw.value, [], [])
                    break
            else:
                default = None
        fields.append(_param(stmt.target.id, kind, default))
    return fields


class _Walker(ast.NodeVisitor):
    """Collect symbols with a stack of enclosing classes (functions are not entered)."""

    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.stack: list[str] = []
        self.seen: set[str] = set()

    def _qualname(self, name: str) -> str:
        return ".".join([self.info.name, *self.stack, name])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        qualname = self._qualname(node.name)
        cls = {"bases": [ast.unparse(b) for b in node.bases], "members": {}, "hooks": {},
               "init": None, "new": None,
               "fields": _dataclass_fields(node) if _is_dataclass(node) else None}
        if qualname in self.info.classes:
            return  # a second definition (an else/except branch): the first one wins
        self.info.classes[qualname] = cls
        if self.stack and node.name.startswith("_"):
            return
        symbol = self._symbol(node, qualname, "class")
        symbol["bases"] = cls["bases"]
        self.info.symbols.append(symbol)
        if self.stack:
            self.info.classes[".".join([self.info.name, *self.stack])]["members"][
                node.name
            ] = qualname
        self.stack.append(node.name)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._method(stmt, cls)
            elif isinstance(stmt, ast.ClassDef):
                self.visit_ClassDef(stmt)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name) and target.id.endswith(CLASS_HOOK_SUFFIX):
                    cls["hooks"].setdefault(target.id, ast.unparse(stmt.value))
        self.stack.pop()

    def _method(self, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: dict) -> None:
        qualname = self._qualname(node.name)
        decorators = [_decorator_name(d) for d in node.decorator_list]
        if node.name == "__new__":  # MRVI of 1.4: a factory taking backend=
            cls["new"] = self._symbol(node, qualname, "method", bound=True)
            return
        if node.name == "__init__":
            cls["init"] = self._symbol(node, qualname, "method", bound=True)
            built: set[str] = set()
            for stmt in ast.walk(node):  # ``self._module_cls = VAE`` (PoissonVI)
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                    target = stmt.targets[0]
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == "self" and target.attr.endswith(CLASS_HOOK_SUFFIX):
                        cls["hooks"][target.attr] = ast.unparse(stmt.value)  # wins at run time
                    elif is_self_attr(target, "module") and isinstance(stmt.value, ast.Call) \
                            and not ast.unparse(stmt.value.func).startswith("self."):
                        built.add(ast.unparse(stmt.value.func))
            if len(built) == 1:  # ``self.module = SysVAE(...)``: the one module it builds
                cls["hooks"][MODULE_HOOK] = built.pop()
            return
        if node.name.startswith("_") or node.name in cls["members"]:
            return  # private, or a property setter/overload after the first definition
        kind = "property" if any(d.split(".")[-1] in ("property", "cached_property") for d in
                                 decorators) else "method"
        bound = "staticmethod" not in decorators
        symbol = self._symbol(node, qualname, kind, bound=bound)
        if node.name in SETUP_METHODS:
            symbol["_field_calls"] = sorted({
                ast.unparse(call.func) for call in ast.walk(node)
                if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("Field")
            })
        cls["members"][node.name] = qualname
        self.info.symbols.append(symbol)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name == "__getattr__":
            self._lazy_getattr(node)
        if node.name.startswith("__"):
            return
        qualname = self._qualname(node.name)
        if qualname in self.seen:
            return  # redefined in an else/except branch: the first definition wins
        self.seen.add(qualname)
        self.info.symbols.append(self._symbol(node, qualname, "function"))

    visit_AsyncFunctionDef = visit_FunctionDef

    def _symbol(self, node, qualname: str, kind: str, *, bound: bool = False) -> dict:
        doc = ast.get_docstring(node, clean=True) or ""
        symbol = {"kind": kind, "line": node.lineno, "end": node.end_lineno or node.lineno,
                  "path": self.info.path, "qualname": qualname, "summary": summary_line(doc),
                  "templated": "%(" in doc,
                  "decorators": [_decorator_name(d) for d in node.decorator_list]}
        if isinstance(node, ast.AsyncFunctionDef):
            symbol["async"] = True
        if any(part.startswith("_") for part in [*self.stack, node.name]):
            symbol["_private"] = True  # kept only where a public namespace reaches it
        if not isinstance(node, ast.ClassDef):
            signature, params, var_kwargs = signature_of(node.args)
            if bound and params and params[0]["kind"] != "VAR_POSITIONAL":
                params = params[1:]  # self / cls: never passed by the caller
            symbol.update(signature=signature, params=params, var_kwargs=var_kwargs)
        return symbol

    def _lazy_getattr(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for test_node in ast.walk(node):
            if not (isinstance(test_node, ast.If) and isinstance(test_node.test, ast.Compare)):
                continue
            compare = test_node.test
            names = [c.value for c in [compare.left, *compare.comparators]
                     if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            imports = [s for b in test_node.body for s in ast.walk(b)
                       if isinstance(s, ast.ImportFrom)]
            if len(names) == 1 and imports:
                imp = imports[0]
                module = _absolute(self.info, imp.module, imp.level)
                for alias in imp.names:
                    if alias.name == names[0]:
                        self.info.lazy[names[0]] = Binding("import", module, alias.name)


def _absolute(info: ModuleInfo, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = info.name.split(".")
    if not info.is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


def _bind_statements(info: ModuleInfo, body: list[ast.stmt], *, fallback: bool = False) -> None:
    """Bind module-level names, walking into ``if``/``try`` blocks.

    Names bound in ``except`` handlers (``fallback``) never replace an earlier binding: in
    ``scvi.autotune`` the real import comes first and a stub class stands in when optional
    dependencies are missing.
    """
    for stmt in body:
        new: dict[str, Binding] = {}
        if isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            new[stmt.name] = Binding("def", f"{info.name}.{stmt.name}")
        elif isinstance(stmt, ast.ImportFrom):
            module = _absolute(info, stmt.module, stmt.level)
            for alias in stmt.names:
                if alias.name != "*":
                    new[alias.asname or alias.name] = Binding("import", module, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    new[alias.asname] = Binding("module", alias.name)
                else:
                    top = alias.name.split(".")[0]
                    new[top] = Binding("module", top)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            _bind_assignment(info, stmt, new)
        elif isinstance(stmt, ast.AugAssign):
            _extend_all(info, stmt)
        elif isinstance(stmt, ast.If):
            _bind_statements(info, stmt.body, fallback=fallback)
            _bind_statements(info, stmt.orelse, fallback=fallback)
        elif isinstance(stmt, ast.Try):
            _bind_statements(info, stmt.body, fallback=fallback)
            for handler in stmt.handlers:
                _bind_statements(info, handler.body, fallback=True)
            _bind_statements(info, stmt.orelse, fallback=fallback)
            _bind_statements(info, stmt.finalbody, fallback=fallback)
        for name, binding in new.items():
            if fallback and name in info.bindings:
                continue
            info.bindings[name] = binding


def _bind_assignment(info: ModuleInfo, stmt: ast.Assign | ast.AnnAssign, new: dict) -> None:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    for target in targets:
        if not isinstance(target, ast.Name):
            continue
        if target.id == "__all__":
            info.all_names = _string_list(stmt.value)
            continue
        if stmt.value is None:
            continue
        qualname = f"{info.name}.{target.id}"
        new[target.id] = Binding("def", qualname)
        if not target.id.startswith("_"):
            value = ast.unparse(stmt.value)
            info.variables[target.id] = {
                "kind": "variable", "line": stmt.lineno, "end": stmt.end_lineno or stmt.lineno,
                "path": info.path, "qualname": qualname,
                "summary": clip(value, MAX_SUMMARY_CHARS),
                "params_known": False,
                "_value_call": ast.unparse(stmt.value.func)
                if isinstance(stmt.value, ast.Call) else None,
            }


def _extend_all(info: ModuleInfo, stmt: ast.AugAssign) -> None:
    if isinstance(stmt.target, ast.Name) and stmt.target.id == "__all__":
        info.all_names = (info.all_names or []) + (_string_list(stmt.value) or [])


def _string_list(node: ast.expr | None) -> list[str] | None:
    if isinstance(node, ast.List | ast.Tuple):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and
                isinstance(e.value, str)]
    return None


def parse_python(source: str, path: str) -> ast.Module:
    """``ast.parse``, with ``RecursionError`` and ``MemoryError`` (deeply nested or huge
    expressions) turned into ``SyntaxError`` so one such file is skipped like a broken one."""
    try:
        return ast.parse(source, filename=path)
    except (RecursionError, MemoryError) as err:
        raise SyntaxError(f"too deeply nested or too large to parse ({type(err).__name__})",
                          (path, 1, 0, "")) from None


def read_module(name: str, path: str, source: str, *, is_package: bool) -> ModuleInfo:
    """Parse one module; raises ``SyntaxError`` (the caller records it and goes on), also
    for code nested too deeply to parse (a 200,000-term expression)."""
    tree = parse_python(source, path)
    info = ModuleInfo(name=name, path=path, is_package=is_package,
                      n_lines=len(source.splitlines()),
                      doc=summary_line(ast.get_docstring(tree, clean=True)))
    _bind_statements(info, tree.body)
    walker = _Walker(info)
    for stmt in _module_level(tree.body):
        walker.visit(stmt)
    return info


def _module_level(body: list[ast.stmt]):
    """Module-level statements, including those inside ``if``/``try`` blocks."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _module_level(stmt.body)
            yield from _module_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _module_level(stmt.body)
            for handler in stmt.handlers:
                yield from _module_level(handler.body)
            yield from _module_level(stmt.orelse)
            yield from _module_level(stmt.finalbody)
        elif isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield stmt


def is_self_attr(node: ast.expr, attr: str) -> bool:
    """``self.<attr>`` (an assignment's target, a call's function)."""
    return isinstance(node, ast.Attribute) and node.attr == attr \
        and isinstance(node.value, ast.Name) and node.value.id == "self"

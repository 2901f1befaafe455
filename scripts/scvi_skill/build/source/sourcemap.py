"""Walk ``src/scvi`` with ``ast`` into symbols and public namespaces (maintainer module).

``namespaces`` maps every public dotted name to the ``qualname`` of its definition: what each
public package or module exports through its imports and ``__all__`` (followed across
re-exports and a module ``__getattr__``), every public package itself, and the public members
of exported classes (``scvi.model.SCVI.train`` -> the mixin that defines it, by method
resolution order). A value that is not a symbol's qualname is a re-export from another
package (``scvi.data.read_h5ad`` -> ``anndata.read_h5ad``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scvi_skill.build.mapfiles import ReadLog, ReadProblem, read_utf8
from scvi_skill.runtime.schema import TRIVIAL_BASES, base_name
from scvi_skill.runtime.tree import Tree

from .pyast import ModuleInfo, read_module, render_signature

MAX_RESOLVE_DEPTH = 30
CLASS_HOOKS = ("_module_cls", "_training_plan_cls", "_data_splitter_cls")
"""Class attributes naming the module, training plan and data splitter a model uses."""
SYMBOL_DEFAULTS = {"bases": [], "decorators": [], "params": [], "params_known": True,
                   "public": [], "signature": "", "summary": "", "templated": False,
                   "var_kwargs": False}
"""Every symbol entry has these keys. ``params_known`` is false where the parameters cannot be
read from the source: modules, variables (``MuDataLayerField = MuDataWrapper(LayerField)``)
and classes whose ``__init__`` comes from a package outside the tree."""


@dataclass
class SourceMap:
    symbols: list[dict]
    namespaces: dict[str, str]
    modules: dict[str, ModuleInfo]
    mro: dict[str, list[str]]
    """Class qualname -> its in-tree method resolution order, itself first."""
    problems: list[ReadProblem] = field(default_factory=list)
    by_qualname: dict[str, dict] = field(default_factory=dict)
    resolver: _Resolver | None = None

    def member(self, class_qualname: str, name: str) -> str | None:
        """Qualname of ``name`` as seen from a class, following its MRO."""
        return self.resolver.member(class_qualname, name) if self.resolver else None


def module_name(rel: str) -> tuple[str, bool]:
    """``src/scvi/model/_scvi.py`` -> ``("scvi.model._scvi", False)``; packages -> True."""
    parts = rel.removeprefix("src/").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def package_sources(tree: Tree, log: ReadLog):
    """``(rel, text, problem)`` for every ``.py`` file of the tree's package, in path order;
    ``text`` is ``None`` and ``problem`` says why when a file is not UTF-8."""
    files = sorted(
        (rel, path) for path in tree.package_dir.rglob("*.py")
        if "__pycache__" not in path.parts and path.is_file()  # a FIFO would block the read
        and (rel := tree.to_rel(path)) is not None
    )
    for rel, path in files:
        text, problem = read_utf8(log, rel, path)
        yield rel, text, problem


def read_sources(tree: Tree, log: ReadLog) -> tuple[dict[str, ModuleInfo], list[ReadProblem]]:
    modules: dict[str, ModuleInfo] = {}
    problems: list[ReadProblem] = []
    for rel, text, problem in package_sources(tree, log):
        if problem is None:
            name, is_package = module_name(rel)
            try:
                modules[name] = read_module(name, rel, text, is_package=is_package)
            except SyntaxError as err:
                problem = ReadProblem(rel, err.lineno or 1, f"syntax error: {err.msg}; file skipped")
        if problem is not None:
            problems.append(problem)
    return modules, problems


class _Resolver:
    def __init__(self, modules: dict[str, ModuleInfo]) -> None:
        self.modules = modules
        self.classes = {q: c for m in modules.values() for q, c in m.classes.items()}
        self.class_module = {q: m.name for m in modules.values() for q in m.classes}
        self.mro: dict[str, list[str]] = {}

    def target(self, module: str, name: str, depth: int = 0) -> str | None:
        """What ``module.name`` is: a qualname, an in-tree module, or an external name."""
        info = self.modules.get(module)
        if info is None:
            return f"{module}.{name}" if module else name
        if depth > MAX_RESOLVE_DEPTH:
            return None
        binding = info.bindings.get(name) or info.lazy.get(name)
        if binding is None:
            sub = f"{module}.{name}"
            return sub if sub in self.modules else None
        if binding.kind in ("def", "module"):
            return binding.target
        sub = f"{binding.target}.{binding.name}"
        if sub in self.modules:
            return sub
        if binding.target in self.modules:
            return self.target(binding.target, binding.name, depth + 1)
        return sub

    def dotted(self, module: str, expr: str) -> str | None:
        """Resolve an expression such as ``fields.LayerField`` as seen from ``module``."""
        first, *rest = expr.split("[")[0].split(".")
        current = self.target(module, first)
        for part in rest:
            if current is None:
                return None
            if current in self.modules:
                current = self.target(current, part)
            elif current in self.classes:
                current = self.member(current, part)
            else:
                current = f"{current}.{part}"
        return current

    def member(self, cls: str, name: str) -> str | None:
        if cls not in self.classes:
            return None
        for base in self.linearize(cls):
            if name in self.classes[base]["members"]:
                return self.classes[base]["members"][name]
        return None

    def bases(self, cls: str) -> list[str]:
        module = self.class_module[cls]
        resolved = []
        for expr in self.classes[cls]["bases"]:
            target = self.dotted(module, expr)
            if target in self.classes and target != cls:
                resolved.append(target)
        return resolved

    def external_bases(self, cls: str) -> list[str]:
        module = self.class_module[cls]
        return [expr for expr in self.classes[cls]["bases"]
                if self.dotted(module, expr) not in self.classes
                and base_name(expr) not in TRIVIAL_BASES]

    def linearize(self, cls: str, stack: frozenset = frozenset()) -> list[str]:
        """C3 linearization over in-tree classes; depth-first order if C3 fails."""
        if cls in self.mro:
            return self.mro[cls]
        if cls in stack:
            return [cls]
        stack = stack | {cls}
        bases = self.bases(cls)
        sequences = [list(self.linearize(b, stack)) for b in bases] + [list(bases)]
        result = [cls]
        while any(sequences):
            for seq in sequences:
                if seq and not any(seq[0] in s[1:] for s in sequences):
                    head = seq[0]
                    break
            else:  # inconsistent hierarchy: fall back to depth-first, first seen wins
                for seq in sequences:
                    result.extend(c for c in seq if c not in result)
                break
            result.append(head)
            for seq in sequences:
                if seq and seq[0] == head:
                    seq.pop(0)
        self.mro[cls] = result
        return result


def _public_module(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def _exported_names(info: ModuleInfo, resolver: _Resolver) -> list[str]:
    if info.all_names is not None:
        names = list(info.all_names)
    else:
        names = [n for n, b in info.bindings.items() if not n.startswith("_") and (
            b.kind == "def" or b.target.split(".")[0] in resolver.modules)]
    return sorted(set(names) | set(info.lazy))


def build_namespaces(resolver: _Resolver) -> dict[str, str]:
    namespaces: dict[str, str] = {}
    for name in sorted(resolver.modules):
        if not _public_module(name):
            continue
        namespaces[name] = name
        info = resolver.modules[name]
        for export in _exported_names(info, resolver):
            target = resolver.target(name, export)
            if target is not None:
                namespaces[f"{name}.{export}"] = target
    instance_classes = _instance_classes(resolver)
    for public, target in list(namespaces.items()):
        cls = target if target in resolver.classes else instance_classes.get(target)
        if cls is None:
            continue
        seen: set[str] = set()
        for base in resolver.linearize(cls):
            for member, qualname in resolver.classes[base]["members"].items():
                if member not in seen:
                    seen.add(member)
                    namespaces.setdefault(f"{public}.{member}", qualname)
    return namespaces


def _instance_classes(resolver: _Resolver) -> dict[str, str]:
    """Module variables bound to an instance of an in-tree class (``settings = ScviConfig()``)."""
    out = {}
    for info in resolver.modules.values():
        for variable in info.variables.values():
            call = variable["_value_call"]
            if call and (cls := resolver.dotted(info.name, call)) in resolver.classes:
                out[variable["qualname"]] = cls
    return out


def _class_params(resolver: _Resolver, symbols: dict[str, dict]) -> None:
    """Give each class entry the parameters of the ``__init__`` it gets (or its dataclass
    fields), and where they come from."""
    for cls, info in resolver.classes.items():
        symbol = symbols.get(cls)
        if symbol is None:
            continue
        params, var_kwargs, init_from, known = [], False, None, True
        mro = resolver.linearize(cls)
        for base in mro:
            init = resolver.classes[base]["init"]
            if init is not None:
                params, var_kwargs, init_from = init["params"], init["var_kwargs"], base
                break
            if resolver.external_bases(base):
                known = False
                break
        else:
            fields: dict[str, dict] = {}
            for base in reversed(mro):
                for param in resolver.classes[base]["fields"] or []:
                    fields.pop(param["name"], None)
                    fields[param["name"]] = param
            if fields:
                params, init_from = list(fields.values()), cls
        new = _own_new(resolver, mro)
        if known and new is not None:
            # Calling the class passes its arguments to __new__ as well (and __init__ runs
            # only when __new__ returns an instance of it): either one taking a keyword is
            # enough, so the two lists are merged and a **kwargs of either one is kept.
            names = {p["name"] for p in params}
            extra = [p for p in new["params"] if p["name"] not in names
                     and p["kind"] not in ("VAR_POSITIONAL", "VAR_KEYWORD")]
            tail = [p for p in params if p["kind"] == "VAR_KEYWORD"] or \
                [p for p in new["params"] if p["kind"] == "VAR_KEYWORD"]
            params = [p for p in params if p["kind"] != "VAR_KEYWORD"] + extra + tail
            var_kwargs = var_kwargs or new["var_kwargs"]
        symbol.update(params=params, var_kwargs=var_kwargs, init_from=init_from,
                      params_known=known,
                      signature=render_signature(params) if known else "(...)")


def _own_new(resolver, mro: list[str]) -> dict | None:
    """The ``__new__`` an scvi-tools class of ``mro`` defines (the first), else None."""
    for base in mro:
        new = resolver.classes[base].get("new")
        if new is not None:
            return new
        if resolver.external_bases(base):
            return None
    return None


def build_source_map(tree: Tree, log: ReadLog) -> SourceMap:
    modules, problems = read_sources(tree, log)
    resolver = _Resolver(modules)
    namespaces = build_namespaces(resolver)
    by_qualname: dict[str, dict] = {}
    for info in modules.values():
        for symbol in info.symbols:
            by_qualname.setdefault(symbol["qualname"], symbol)
    referenced = set(namespaces.values())
    for info in modules.values():
        if _public_module(info.name):
            by_qualname[info.name] = {
                "kind": "module", "line": 1, "end": max(info.n_lines, 1), "path": info.path,
                "qualname": info.name, "summary": info.doc, "params_known": False}
        for variable in info.variables.values():
            if variable["qualname"] in referenced:
                by_qualname.setdefault(variable["qualname"], variable)
    by_qualname = {q: s for q, s in by_qualname.items()
                   if not s.get("_private") or q in referenced}
    _class_params(resolver, by_qualname)
    _add_public_names(namespaces, by_qualname)
    _add_registered_fields(resolver, by_qualname)
    _add_class_links(resolver, by_qualname)
    symbols = sorted(
        ({**SYMBOL_DEFAULTS, **{k: v for k, v in s.items() if not k.startswith("_")}}
         for s in by_qualname.values()),
        key=lambda s: (s["path"], s["line"], s["qualname"]))
    for cls in resolver.classes:
        resolver.linearize(cls)
    result = SourceMap(symbols=symbols, namespaces=dict(sorted(namespaces.items())),
                       modules=modules, mro=resolver.mro, problems=problems)
    result.by_qualname = {s["qualname"]: s for s in symbols}
    result.resolver = resolver
    return result


def _add_public_names(namespaces: dict[str, str], by_qualname: dict[str, dict]) -> None:
    """``public``: the dotted names users write for a symbol (inherited members excluded)."""
    for public, qualname in namespaces.items():
        symbol = by_qualname.get(qualname)
        if symbol is None:
            continue
        parent, _, last = public.rpartition(".")
        owner = by_qualname.get(namespaces.get(parent, ""))
        if owner is not None and owner["kind"] == "class" and \
                qualname != f"{owner['qualname']}.{last}":
            continue  # an inherited member: public under the class that defines it
        symbol.setdefault("public", []).append(public)
    for symbol in by_qualname.values():
        symbol["public"] = sorted(set(symbol.get("public", [])))


def _add_class_links(resolver: _Resolver, by_qualname: dict[str, dict]) -> None:
    """``mro``: the in-tree base classes and mixins of a class, in method resolution order;
    ``uses``: the module, training plan and data splitter its ``_module_cls``-style
    attributes name (``TOTALVI`` -> ``TOTALVAE``, ``AdversarialTrainingPlan``), found along
    the MRO. Only classes of this index are named."""
    for cls in resolver.classes:
        symbol = by_qualname.get(cls)
        if symbol is None or symbol["kind"] != "class":
            continue
        mro = resolver.linearize(cls)
        symbol["mro"] = [base for base in mro[1:] if base in by_qualname]
        uses: dict[str, str] = {}
        for hook in CLASS_HOOKS:
            for base in mro:
                expr = resolver.classes[base]["hooks"].get(hook)
                if expr:
                    target = resolver.dotted(resolver.class_module[base], expr)
                    if target in by_qualname:
                        uses[hook.strip("_").removesuffix("_cls")] = target
                    break
        symbol["uses"] = uses


def _add_registered_fields(resolver: _Resolver, by_qualname: dict[str, dict]) -> None:
    for symbol in by_qualname.values():
        calls = symbol.get("_field_calls")
        if not calls:
            continue
        module = resolver.class_module[symbol["qualname"].rpartition(".")[0]]
        registers = set()
        for call in calls:
            target = resolver.dotted(module, call)
            resolved = by_qualname.get(target or "")
            registers.add(resolved["public"][0] if resolved and resolved.get("public")
                          else target or call)
        symbol["registers"] = sorted(registers)


"""Check the scvi-tools calls in Python snippets: names exist, keyword arguments are accepted.

A snippet is a fenced Python block or an inline code span of a Markdown file. Snippets of one
file share a :class:`SnippetScope`, so a block can use what an earlier block imported or built
(``from scvi.train import TrainerConfig``; ``model = scvi.model.SCVI(adata)``).

A call is checked when its callee is clearly an scvi-tools callable:

- a dotted name starting with an ``scvi`` import (``scvi.model.SCVI.setup_anndata``);
- a name imported from scvi (``TrainerConfig``) or a variable built by an scvi class or by its
  ``load``/``from_*`` classmethod (``model.train``);
- in an inline span without imports: a bare public name (``TrainerConfig(...)``,
  ``setup_anndata(...)``) or a method on a receiver that is evidently a model (``model.train``,
  ``scanvi_model.predict``): accepted when any public callable of that name takes the keyword.

Anything else (``adata.obs.copy()``, ``np.allclose``) is not scvi-tools and is left alone.

One checker, two front ends: ``check_skill.py`` runs it over SKILL.md's snippets against the
pinned index (``check.publicapi.PublicApi``), ``check_code.py`` over a user's ``.py`` files
and notebook cells against one release's API index (:class:`~.apiindex.ReleaseApi`). Both
APIs answer the same questions: ``lookup``, ``accepts``, ``kind``, ``returns_instance``,
``candidates``, ``public_name`` and ``symbols``.

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import ast
import warnings
from collections import namedtuple

PublicApi = object
"""Either API (see the module docstring); duck-typed so this module imports nothing (not
even ``typing``: about 2 ms of each check of a question's code)."""
_ACCEPTING = ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
"""Parameter kinds a keyword argument binds to (apiindex.ACCEPTING_KINDS; not imported:
this module imports no API)."""

MODEL_RECEIVER_HINTS = ("model", "vae", "scvi", "scanvi", "totalvi", "multivi", "peakvi",
                        "mrvi", "sysvi", "reference", "ref_", "query_")
"""Receiver variable names treated as an scvi-tools model in inline spans without context."""


COLUMN_LISTS = {"categorical_covariate_keys": "_scvi_extra_categorical_covs",
                "continuous_covariate_keys": "_scvi_extra_continuous_covs"}
"""Keywords of ``setup_anndata`` and ``setup_mudata`` that a joint obs field registers as a
list of columns, each with its obsm key: every model's setup passes them to the field (the
MuData fields wrap the same one) unchanged, whose ``_combine_fields`` is the same in
1.0.0-1.5.1 (a test reads the pinned tree for both; the failure is run on SCVI, SCANVI,
TOTALVI and PEAKVI's ``setup_anndata`` and on MULTIVI's and TOTALVI's ``setup_mudata``)."""


FAILING_VALUES = {
    ("scvi.external.stereoscope._model.SpatialStereoscope.get_proportions", "keep_noise", True):
        ("raises AttributeError: it appends 'noise_term' to the cell type mapping, a numpy "
         "array (src/scvi/external/stereoscope/_model.py; pitfall stereoscope-keep-noise-fails)"
         "; build the frame from model.module.get_proportions(True)"),
}
"""(defining qualname, keyword, literal value) -> why the call fails: calls a test runs and
sees fail (``tests/test_pitfall_proofs.py``) whose code is the same in every release (the
same line in each tree cached here, 1.0.0-1.5.1; a test reads the pinned one)."""


MANUAL_OPTIMIZATION_REFUSES = {"gradient_clip_val": (None, 0, 0.0),
                               "accumulate_grad_batches": (1,)}
"""Trainer keywords Lightning refuses under manual optimization, each with the literal values
it lets through (``configuration_validator``: a clip value above 0, accumulation other than
1)."""


class Finding(namedtuple("_Finding", "line message check col name kwarg owner",
                         defaults=("name", 1, "", "", ""))):
    """One finding of a snippet. ``line``: 1-based line inside the snippet; ``col``: 1-based
    column of the name or keyword; ``name``: the dotted scvi name (for ``"kwarg"``: the
    callable's); ``kwarg``: the keyword, for ``"kwarg"`` findings; ``owner``: for a
    ``"kwarg"`` finding on a callable whose ``**kwargs`` go on to another (a model's
    module, DE's ``get_bayes_factors``), the public name of the one asked last.

    ``check``: ``"name"`` (a missing scvi name), ``"kwarg"``, ``"plan_key"`` (a key of
    ``train(plan_kwargs=...)`` nothing takes), ``"splat_key"`` (a key of a dict keyword such
    as ``datasplitter_kwargs`` that the callee already passes on itself),
    ``"overwritten_key"`` (a key of such a dict the callee then sets itself),
    ``"dropped_key"`` (a keyword a method's ``**kwargs`` lose before they go on),
    ``"manual_optimization"`` (a Trainer keyword Lightning refuses for a model whose training
    plans optimize by hand), ``"unread_kwarg"`` (a keyword the model's module never reads:
    SysVI's ``transform_batch`` and ``n_samples``), ``"str_for_list"`` (a string literal for
    a keyword that takes a list of columns: ``categorical_covariate_keys="donor"``),
    ``"failing_value"`` (a literal value that makes the call fail: :data:`FAILING_VALUES`),
    ``"positional"`` (more positional arguments than an instance's method takes),
    ``"setting"`` (a member a public instance such as ``scvi.settings`` lacks, read or
    assigned), ``"member"`` (a member read that an instance's class lacks: ``model.n_latent``),
    ``"unloaded"`` (``scvi.hub`` read after ``import scvi`` alone, which does not load it) or
    ``"python"`` (a block that does not parse)."""

    __slots__ = ()


class SnippetScope:
    """Names a Markdown file's snippets have bound so far."""

    __slots__ = ("aliases", "instances", "plans_replaced", "dicts", "implicit", "site_of",
                 "data", "calls", "stored", "imported")

    def __init__(self, aliases: dict[str, str] | None = None,
                 instances: dict[str, str] | None = None, plans_replaced: bool = False,
                 dicts: dict[str, ast.expr] | None = None, implicit: frozenset[str] = frozenset(),
                 site_of: dict[str, int] | None = None, data: dict[str, str] | None = None,
                 calls: list[CallSite] | None = None) -> None:
        self.aliases = {} if aliases is None else aliases
        """Local name -> dotted scvi name (``TrainerConfig`` -> ``scvi.train.TrainerConfig``)."""
        self.instances = {} if instances is None else instances
        """Variable -> class qualname it holds an instance of."""
        self.plans_replaced = plans_replaced
        """The code assigns a ``_training_plan_cls`` or ``_module_cls`` (its own plan or
        module): ``plan_kwargs`` keys are no longer checked against scvi-tools' classes."""
        self.dicts = {} if dicts is None else dicts
        """Variable -> the dict literal (or ``dict(...)`` call) last assigned to it, for
        ``train(plan_kwargs=plan_kwargs)``."""
        self.implicit = implicit
        """Aliases no import made (a Markdown fence's bare model class name): a fence that
        binds the name itself uses its own."""
        self.site_of = {} if site_of is None else site_of
        """Variable -> the place in :attr:`calls` of the call last assigned to it."""
        self.data = {} if data is None else data
        """Instance variable -> the variable holding the AnnData (or MuData) it was built
        with (``SCVI(adata)``, ``SCANVI.from_scvi_model(vae, ...)``: ``vae``'s)."""
        self.calls = calls
        """When a list: every resolved scvi-tools call is appended to it (:class:`CallSite`),
        for the pitfalls of the calls a draft makes (``runtime.callpitfalls``)."""
        self.stored: set[str] = set()
        """Attribute names the snippets so far set on any object (``model.note = ...``,
        ``setattr(model, "note", ...)``): a read of one is never called missing."""
        self.imported: set[str] = set()
        """The scvi modules the snippets so far import (``import scvi``: ``scvi``; ``from
        scvi.hub import HubModel``: ``scvi.hub``), for the subpackages ``import scvi``
        alone does not load."""


class CallSite(namedtuple("_CallSite", "line name qualname keywords literals positional data "
                                       "model_data kind within",
                           defaults=((), (), 0, "", "", "", ""))):
    """One resolved scvi-tools call of a snippet: ``name``, the public dotted name as
    resolved (``scvi.model.SCANVI.predict``; a constructor is the class's name);
    ``qualname``, where it is defined (``scvi.model._scanvi.SCANVI.predict``); ``keywords``,
    its keyword arguments, then the literal keys of the dicts they pass (``plan_kwargs={"lr":
    ...}``: ``plan_kwargs``, ``lr``); ``literals``, ``(keyword or key, value)`` of those whose
    value is a string, ``True``, ``False``, ``None`` or number literal (all but strings as
    Python writes them); ``positional``, how many positional arguments it is given;
    ``data``, the variable it is given as data (its first positional argument or its
    ``adata=`` (``mdata=``) keyword, when a plain name); ``model_data``, for a method of an
    instance, the variable holding the data that instance was built with
    (:attr:`SnippetScope.data`), when known; ``kind``, the API's kind of ``qualname``
    (``"class"`` for a constructor call); ``within``, for a call whose result goes to another
    scvi-tools call, directly or through a variable
    (``train(trainer_config=TrainerConfig(...))``), that call's resolved name."""

    __slots__ = ()


def check_snippet(source: str, api: PublicApi, scope: SnippetScope, *, inline: bool,
                  guess: bool = True) -> list[Finding]:
    """Findings for one snippet; a syntax error is a finding for blocks, ignored for spans.
    ``guess``: a span's call on a bare name or an unbound model-like receiver is checked
    against every public callable of that name (SKILL.md's spans); ``check_code.py`` binds
    an answer's receivers from its words instead (:mod:`.prosecode`) and guesses nothing."""
    try:
        with warnings.catch_warnings():  # the user's code: not ours to warn about
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source)
    except SyntaxError as err:
        if inline:
            return []
        return [Finding(err.lineno or 1, f"Python block does not parse: {err.msg}", "python",
                        col=err.offset or 1)]
    except (RecursionError, MemoryError) as err:  # a 200,000-term expression
        return [] if inline else [Finding(1, "Python block is too deeply nested to parse "
                                          f"({type(err).__name__})", "python")]
    checker = _CallChecker(api, scope, inline=inline)
    checker.guess = guess
    checker.rebound = _rebound_names(tree)
    scope.stored.update(_stored_attributes(tree))
    scope.imported.update(_imported_modules(tree))
    try:
        checker.visit(tree)
    except RecursionError:  # parses, but too deep to walk (a 900-part attribute chain)
        return [] if inline else [Finding(1, "Python block is too deeply nested to check "
                                          "(RecursionError)", "python")]
    return checker.findings


_GUARDS = frozenset({"AttributeError", "ImportError", "ModuleNotFoundError", "Exception",
                     "BaseException"})


def _rebound_names(tree: ast.AST) -> frozenset[str]:
    """Names bound other than by an import: assignment, parameter, loop, ``with``, ``except``
    targets, function and class names."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names
                         if a.name.split(".")[0] != "scvi")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] != "scvi":
            names.update(a.asname or a.name for a in node.names)
    return frozenset(names)


def _imported_modules(tree: ast.AST) -> set[str]:
    """The scvi modules a snippet imports anywhere in it (``from scvi import hub`` imports
    ``scvi.hub``; ``from scvi import settings``, ``scvi.settings``, which names no module and
    loads nothing more)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "scvi")
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] == "scvi":
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _stored_attributes(tree: ast.AST) -> set[str]:
    """The attribute names a snippet sets: assignment targets and ``setattr`` with a
    literal name."""
    names = {node.attr for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)}
    names.update(node.args[1].value for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                 and node.func.id == "setattr" and len(node.args) > 1
                 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))
    return names


class _CallChecker(ast.NodeVisitor):
    def __init__(self, api: PublicApi, scope: SnippetScope, *, inline: bool) -> None:
        self.api = api
        self.scope = scope
        self.inline = inline
        self.guess = True
        self.findings: list[Finding] = []
        self._callees: set[int] = set()
        self._read_first: set[int] = set()
        self._inner: set[int] = set()  # attributes inside a longer chain (a.b of a.b.c)
        self.rebound: frozenset[str] = frozenset()
        """Names the snippet binds other than by importing them (assigned, a parameter, a
        loop or ``with`` target): such a name may not be the scvi module it was imported as."""
        self._guarded = 0  # inside a try that catches AttributeError, or a hasattr() test
        self._sites: dict[int, int] = {}  # id of a recorded call node -> its place in calls

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(handler.type is None or any(
            isinstance(n, ast.Name) and n.id in _GUARDS for n in ast.walk(handler.type))
            for handler in node.handlers)
        self._guarded += guarded
        for stmt in node.body:
            self.visit(stmt)
        self._guarded -= guarded
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_If(self, node: ast.If) -> None:
        self._visit_tested(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._visit_tested(node)

    def _visit_tested(self, node) -> None:
        """``if hasattr(scvi.model, "JaxSCVI"): ...``: what the test guards is not checked."""
        guarded = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                      and n.func.id in ("hasattr", "getattr") for n in ast.walk(node.test))
        self._guarded += guarded
        self.generic_visit(node)
        self._guarded -= guarded

    # -- bindings ------------------------------------------------------------------------------

    def _held(self) -> tuple[dict, ...]:
        """The scope's tables of what a variable holds (instance, its data, dict, call)."""
        return (self.scope.instances, self.scope.data, self.scope.dicts, self.scope.site_of)

    def _forget(self, target: ast.AST | None) -> None:
        """The names ``target`` binds no longer hold what an earlier assignment built
        (``for model in models:``, ``with ... as model``, ``except E as model``)."""
        for node in ast.walk(target) if target is not None else ():
            if isinstance(node, ast.Name):
                for table in self._held():
                    table.pop(node.id, None)

    def _scoped(self, node: ast.AST, names: list[ast.AST]) -> None:
        """Visit a def, lambda or comprehension whose own names (parameters, comprehension
        targets) hide the outer ones inside it; what its body binds stays inside it."""
        saved = [dict(table) for table in self._held()]
        for name in names:
            self._forget(name)
        self.generic_visit(node)
        for table, kept in zip(self._held(), saved):
            table.clear()
            table.update(kept)

    def _visit_function(self, node) -> None:
        for decorator in getattr(node, "decorator_list", ()):
            self.visit(decorator)
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                self.visit(default)
        params = [ast.Name(a.arg, ast.Store()) for a in (
            *node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
            *filter(None, (node.args.vararg, node.args.kwarg)))]
        self._scoped(ast.Module(body=node.body, type_ignores=[])
                     if not isinstance(node, ast.Lambda) else ast.Expr(node.body), params)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def _visit_comprehension(self, node) -> None:
        self._scoped(node, [g.target for g in node.generators])

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._forget(node.target)
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            self._forget(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._forget(ast.Name(node.name, ast.Store()))
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.generic_visit(node)
        self._forget(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.generic_visit(node)
        self._forget(node.target)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] != "scvi":
                self._forget(ast.Name(alias.asname or alias.name.split(".")[0], ast.Store()))
                continue
            if alias.asname:
                self._bind(alias.asname, alias.name)
            else:
                self._bind("scvi", "scvi")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or module.split(".")[0] != "scvi":
            return
        for alias in node.names:
            dotted = f"{module}.{alias.name}"
            self._bind(alias.asname or alias.name, dotted)
            lookup = self.api.lookup(dotted)
            if not lookup.found:
                self.findings.append(Finding(node.lineno, lookup.message, col=node.col_offset + 1,
                                             name=dotted))

    def _check_positional(self, node: ast.Call, dotted: str, resolved: tuple[str, str]) -> None:
        """A method called on an instance with more positional arguments than its signature
        takes after ``self`` (``model.predict(adata)`` for CellAssign's ``predict(self)``):
        TypeError. Only an instance's call: through the class, a plain method's first
        parameter takes the first argument (SCAR's ``get_ambient_profile(self_or_adata,
        ...)``), and the index lists parameters without ``self``. An ``...`` argument
        (``model.predict(...)``) stands for arguments left out, as prose writes a call: not
        checked."""
        head = dotted.partition(".")[0]
        if head not in self.scope.instances or head in self.scope.aliases \
                or any(isinstance(arg, ast.Starred) or _elided(arg) for arg in node.args):
            return
        symbol = self.api.symbols.get(resolved[1]) or {}
        params = self.api.params(resolved[1]) if symbol.get("kind") == "method" else None
        if params is None or any(p.get("kind") == "VAR_POSITIONAL" for p in params):
            return
        takes = sum(p.get("kind") in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
                    for p in params)
        if len(node.args) > takes:
            what = "no argument" if not params else (
                f"{takes} positional argument{'s' if takes != 1 else ''}")
            self.findings.append(Finding(
                node.lineno, f"{resolved[0]}() takes {what} after self ({len(node.args)} "
                "passed positionally: TypeError)", "positional", col=node.col_offset + 1,
                name=resolved[0]))

    def _bind(self, name: str, dotted: str) -> None:
        """``name`` is bound to the scvi name ``dotted`` by the code itself (an import, or an
        assignment that keeps an alias): no longer an implicit alias a later binding hides."""
        self.scope.aliases[name] = dotted
        if name in self.scope.implicit:
            self.scope.implicit = self.scope.implicit - {name}

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        cls = self._instance_of(node.value)
        literal = node.value if _dict_keys(node.value) is not None else None
        if any(isinstance(t, ast.Attribute) and t.attr in ("_training_plan_cls", "_module_cls")
               for t in node.targets):
            self.scope.plans_replaced = True
        value = _dotted(node.value)
        kept = value is not None and value.partition(".")[0] in self.scope.aliases
        for target in node.targets:
            if isinstance(target, ast.Name):
                if kept and target.id in self.scope.implicit:
                    self._bind(target.id, self.scope.aliases[target.id])  # now the code's own
                if target.id in self.scope.aliases and not kept:
                    # `scvi = load_something()`: from here on (and in later fences) the name
                    # is no longer the scvi-tools module or class it was imported as
                    del self.scope.aliases[target.id]
                site = self._sites.get(id(node.value))
                if site is not None:
                    self.scope.site_of[target.id] = site
                else:
                    self.scope.site_of.pop(target.id, None)
                if cls:
                    self.scope.instances[target.id] = cls
                    data = _data_name(node.value)
                    data = self.scope.data.get(data, data)  # from_scvi_model(vae): vae's
                    if data:
                        self.scope.data[target.id] = data
                    else:
                        self.scope.data.pop(target.id, None)
                else:
                    self.scope.instances.pop(target.id, None)
                    self.scope.data.pop(target.id, None)
                if literal is not None:
                    self.scope.dicts[target.id] = literal
                else:
                    self.scope.dicts.pop(target.id, None)

    def _instance_of(self, value: ast.expr) -> str | None:
        """Public dotted name of the class a call builds (constructor or load/from_*)."""
        if not isinstance(value, ast.Call):
            return None
        resolved = self._resolve(value.func, report=False)
        if resolved is None:
            return None
        full, qualname = resolved
        if self.api.kind(qualname) == "class":
            return full
        if self.api.returns_instance(qualname):
            return full.rsplit(".", 1)[0]
        returned = getattr(self.api, "returned_class", None)
        return returned(qualname) if returned is not None else None

    def visit_Delete(self, node: ast.Delete) -> None:
        self.generic_visit(node)
        for target in node.targets:  # del plan_kwargs["x"]: its keys are no longer known
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                self.scope.dicts.pop(target.value.id, None)

    # -- calls ---------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """A member of a public instance (``scvi.settings.num_workers``) that its class does
        not have: reading it raises AttributeError, and assigning it raises nothing and sets
        no setting (the instance just gains an attribute nothing reads)."""
        self._inner.add(id(node.value))
        self.generic_visit(node)
        if id(node) in self._callees:
            return  # a call's callee is checked as a call
        if id(node) not in self._inner and isinstance(node.ctx, ast.Load) and not self._guarded:
            self._check_module_member(node)
            self._check_instance_member(node)
        if isinstance(node.value, ast.Name) and not self._guarded:
            self._check_loaded(node)
        if getattr(self.api, "instance_class", None) is None:
            return
        dotted = _dotted(node)
        head, _, rest = (dotted or "").partition(".")
        if not rest or head not in self.scope.aliases:
            return
        full = f"{self.scope.aliases[head]}.{rest}"
        if self.api.instance_class(full.rpartition(".")[0]) is None:
            return
        lookup = self.api.lookup(full)
        if lookup.found:
            return
        stored = isinstance(node.ctx, ast.Store) and id(node) not in self._read_first
        effect = ("assigning it raises no error and changes no setting" if stored
                  else "reading it raises AttributeError")
        self.findings.append(Finding(node.lineno, f"{lookup.message}; {effect}", "setting",
                                     col=node.col_offset + 1, name=full))

    def _check_module_member(self, node: ast.Attribute) -> None:
        """A name read from a scvi-tools module without a call (``x = scvi.model.mlxSCVI``,
        ``scvi.model.utils.mde`` passed as a function): a finding when the module lacks it in
        the release checked. Only a module's missing member: a class's members are looked
        up by calls and by :meth:`_check_instance_member`."""
        dotted = _dotted(node)
        head, _, rest = (dotted or "").partition(".")
        if not rest or head not in self.scope.aliases or head in self.rebound:
            return
        parts = f"{self.scope.aliases[head]}.{rest}".split(".")
        if parts[0] != "scvi":
            return
        for end in range(2, len(parts) + 1):
            prefix = ".".join(parts[:end])
            lookup = self.api.lookup(prefix)
            if lookup.found:
                if not lookup.certain:
                    return
                continue
            parent = ".".join(parts[:end - 1])
            instance_of = getattr(self.api, "instance_class", None)
            if instance_of is not None and instance_of(parent) is not None:
                return  # scvi.settings' members: the settings check says more
            if parent in getattr(self.api, "namespaces", {}):
                self.findings.append(Finding(node.lineno, lookup.message, col=node.col_offset + 1,
                                             name=prefix))
            return

    def _check_loaded(self, node: ast.Attribute) -> None:
        """``scvi.hub.HubModel`` after ``import scvi`` alone: ``scvi/__init__.py`` does not
        import ``scvi.hub`` (1.5.1), so ``scvi`` has no attribute ``hub`` until some import
        loads it. Only where the snippets import ``scvi`` itself and no import of theirs
        loads the subpackage (``loads`` of the release's index)."""
        unloaded = getattr(self.api, "unloaded_subpackage", None)
        if unloaded is None or "scvi" not in self.scope.imported \
                or self.scope.aliases.get(node.value.id) != "scvi" or node.value.id in self.rebound:
            return
        top = unloaded(self.scope.imported, f"scvi.{node.attr}")
        if top is None:
            return
        version = getattr(self.api, "version", "")
        self.findings.append(Finding(
            node.lineno, f"{top}: `import scvi` does not load {top} in {version} (it loads "
            f"{self.api.scvi_loads()}); reading it raises AttributeError: module 'scvi' has no "
            f"attribute '{node.attr}'; add `import {top}`", "unloaded", col=node.col_offset + 1,
            name=top))

    def _check_instance_member(self, node: ast.Attribute) -> None:
        """A read of what an instance's class does not have (``model.n_latent``;
        ``hub_model.metadata.data_is_minified``, through a property's annotated class):
        reading it raises AttributeError. The instance is a variable bound to a call that
        builds one, or such a call itself; only classes whose every member and attribute the
        index knows (``closed``), and never a name the snippets set themselves."""
        dotted = _dotted(node)
        head, _, rest = (dotted or "").partition(".")
        if dotted is not None and head in self.scope.instances and rest \
                and head not in self.scope.aliases:
            full = f"{self.scope.instances[head]}.{rest}"
        elif isinstance(node.value, ast.Call) and (built := self._instance_of(node.value)):
            full = f"{built}.{node.attr}"
        else:
            return
        outside = getattr(self.api, "set_outside", frozenset())
        if any(part in self.scope.stored or part in outside or part.endswith("_")
               for part in full.split(".")[-rest.count(".") - 1:]):
            # set by the snippet itself or by other code of the package (the runner's
            # model.trainer); a trailing "_": load() restores whatever such attributes a
            # model was saved with, in any release
            return
        lookup = self.api.lookup(full)
        if not lookup.found:
            self.findings.append(Finding(node.lineno, f"{lookup.message}; reading it raises "
                                         "AttributeError", "member", col=node.col_offset + 1,
                                         name=full))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._read_first.add(id(node.target))  # x.y += 1 reads x.y first
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        self._callees.add(id(node.func))
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and func.attr in ("pop", "popitem", "clear"):
            self.scope.dicts.pop(func.value.id, None)  # keys taken out: no longer known
        keywords = [k for k in node.keywords if k.arg is not None]
        dotted = _dotted(node.func)
        if dotted is None:
            dotted = self._chained(node.func)  # SCVI(adata).train(...)
            if dotted is None:
                return
        resolved = self._resolve(node.func)
        if resolved is not None:
            qualname = resolved[1]
            if self.scope.calls is not None:
                self._record(node, resolved, keywords)
            if resolved[0].endswith(".train"):
                self._check_plan_keys(resolved[0], keywords)
                self._check_manual_optimization(resolved[0], qualname, keywords)
            self._check_positional(node, dotted, resolved)
            self._check_splat_keys(resolved[0], qualname, keywords)
            self._check_overwritten_keys(resolved[0], qualname, keywords)
            self._check_unread_keywords(resolved[0], keywords)
            self._check_dropped_keywords(dotted, qualname, keywords)
            self._check_column_lists(resolved[0], qualname, keywords)
            self._check_failing_values(qualname, keywords)
            unread = (self.api.symbols.get(qualname) or {}).get("unread") or ()
            for keyword in keywords:
                verdict = self.api.accepts(qualname, keyword.arg)
                quoted_none = self.inline and isinstance(keyword.value, ast.Constant) \
                    and keyword.value.value is None  # a span quoting a signature's default
                if verdict.accepted and keyword.arg in unread and not quoted_none:
                    self.findings.append(Finding(
                        keyword.lineno, f"{dotted}() takes {keyword.arg!r} and never reads it "
                        f"(defined at {self._where(qualname)}): the value changes nothing",
                        "unread_kwarg", col=keyword.col_offset + 1, name=resolved[0],
                        kwarg=keyword.arg))
                elif not quoted_none and verdict.accepted \
                        and verdict.owner not in (None, qualname) and keyword.arg \
                        in ((self.api.symbols.get(verdict.owner) or {}).get("unread") or ()):
                    # handed on through **kwargs to a class whose __init__ never reads it
                    self.findings.append(Finding(
                        keyword.lineno, f"{dotted}() hands {keyword.arg!r} on to "
                        f"{self.api.public_name(verdict.owner)}, which takes it and never reads "
                        f"it (defined at {self._where(verdict.owner)}): the value changes "
                        "nothing", "unread_kwarg", col=keyword.col_offset + 1,
                        name=resolved[0], kwarg=keyword.arg))
                if not verdict.accepted and keyword.arg in self.api.transfer_keywords() \
                        and any(k.arg == "source_registry" for k in keywords):
                    continue  # handed on with the source registry, as load_query_data does
                if not verdict.accepted:
                    why = f"; {verdict.reason}" if verdict.reason else ""
                    self.findings.append(Finding(
                        keyword.lineno,
                        f"{dotted}() does not accept keyword {keyword.arg!r} "
                        f"(defined at {self._where(qualname)}{why})", "kwarg",
                        col=keyword.col_offset + 1, name=resolved[0], kwarg=keyword.arg,
                        owner=self.api.public_name(verdict.owner) if verdict.owner else ""))
            return
        if self.inline and self.guess and keywords:
            self._check_by_candidates(node, dotted, keywords)

    def _record(self, node: ast.Call, resolved: tuple[str, str], keywords: list) -> None:
        """Append the call's :class:`CallSite`, and mark the calls whose results it is given
        (an argument that is such a call, or a variable one was assigned to) as within it."""
        calls = self.scope.calls
        for value in [*node.args, *(k.value for k in node.keywords)]:
            at = self._sites.get(id(value)) if isinstance(value, ast.Call) else \
                self.scope.site_of.get(value.id) if isinstance(value, ast.Name) else None
            if at is not None and at < len(calls) and not calls[at].within:
                calls[at] = calls[at]._replace(within=resolved[0])
        self._sites[id(node)] = len(calls)
        calls.append(self._call_site(node, resolved, keywords))

    def _call_site(self, node: ast.Call, resolved: tuple[str, str], keywords: list) -> CallSite:
        names = [k.arg for k in keywords]
        pairs = [(k.arg, k.value) for k in keywords]
        for keyword in keywords:
            literal = keyword.value
            if isinstance(literal, ast.Name):
                literal = self.scope.dicts.get(literal.id)
            if isinstance(literal, ast.Dict):
                keyed = [(k.value, v) for k, v in zip(literal.keys, literal.values)
                         if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            elif _dict_keys(literal) is not None:  # dict(k=...)
                keyed = [(k.arg, k.value) for k in literal.keywords if k.arg is not None]
            else:
                keyed = []
            names.extend(key for key, _value in keyed)
            pairs.extend(keyed)
        literals = tuple((key, value.value if isinstance(value.value, str) else repr(value.value))
                         for key, value in pairs if isinstance(value, ast.Constant)
                         and (isinstance(value.value, (str, bool, int, float))
                              or value.value is None))
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        model_data = self.scope.data.get(receiver.id, "") \
            if isinstance(receiver, ast.Name) else ""
        return CallSite(node.lineno, resolved[0], resolved[1], tuple(dict.fromkeys(names)),
                        literals, len(node.args), _data_name(node), model_data,
                        self.api.kind(resolved[1]) or "")

    def _check_failing_values(self, qualname: str, keywords: list) -> None:
        """A literal value of :data:`FAILING_VALUES` for the callable: a finding."""
        for given in keywords:
            if not isinstance(given.value, ast.Constant):
                continue
            why = FAILING_VALUES.get((qualname, given.arg, given.value.value))
            if why:
                name = self.api.public_name(qualname)
                self.findings.append(Finding(
                    given.lineno, f"{name}({given.arg}={given.value.value!r}) {why}",
                    "failing_value", col=given.col_offset + 1, name=name, kwarg=given.arg))

    def _check_column_lists(self, name: str, qualname: str, keywords: list) -> None:
        """A string literal for a keyword that registers a list of obs columns
        (:data:`COLUMN_LISTS`): the field indexes obs with it and gets a Series, which
        anndata refuses as the obsm entry (pitfall ``covariate-keys-need-a-list``)."""
        for given in keywords:
            field = COLUMN_LISTS.get(given.arg)
            if field is None or not name.endswith((".setup_anndata", ".setup_mudata")) \
                    or not (isinstance(given.value, ast.Constant)
                                     and isinstance(given.value.value, str)):
                continue
            if not self.api.accepts(qualname, given.arg).accepted or given.arg in (
                    (self.api.symbols.get(qualname) or {}).get("unread") or ()):
                continue  # a keyword it lacks, or never reads (MULTIVI's stub since 1.4)
            column = given.value.value
            self.findings.append(Finding(
                given.lineno, f"{name}({given.arg}={column!r}) takes a list of obs columns: "
                f"a string raises ValueError at setup (obsm[{field!r}] is given a pandas "
                f"Series; anndata: \"needs to be of one of ...\"); pass [{column!r}] "
                "(src/scvi/data/fields/_arraylike_field.py, _combine_fields)", "str_for_list",
                col=given.col_offset + 1, name=name, kwarg=given.arg))

    def _check_plan_keys(self, train: str, keywords: list) -> None:
        """The literal keys of ``plan_kwargs={...}`` (or ``dict(...)``) of a model's train():
        its training plan's parameters, or its module's ``loss()``'s through the plan's
        ``**loss_kwargs``; anything else raises TypeError when training starts."""
        value = next((k.value for k in keywords if k.arg == "plan_kwargs"), None)
        if self.scope.plans_replaced or value is None:
            return
        keys = self._literal_keys(value)  # plan_kwargs=pk, a literal assigned before
        model = self.api.lookup(train.rsplit(".", 1)[0])
        if not keys or not model.found or model.qualname is None:
            return
        for key, node in keys:
            verdict = self.api.plan_key(model.qualname, key)
            if not verdict.accepted:
                self.findings.append(Finding(
                    node.lineno, f"{train}(plan_kwargs={{{key!r}: ...}}): {verdict.reason}",
                    "plan_key", col=node.col_offset + 1, name=train, kwarg=key))

    def _check_manual_optimization(self, train: str, qualname: str, keywords: list) -> None:
        """``gradient_clip_val`` (above 0) or ``accumulate_grad_batches`` (not 1) given to the
        Trainer of a model that trains only with plans that optimize by hand (each sets
        ``self.automatic_optimization = False`` in its ``__init__``: TOTALVI's and MULTIVI's
        AdversarialTrainingPlan, the Pyro plans): Lightning refuses them when training
        starts. As ``train()`` keywords (when its ``**kwargs`` go to a Trainer) or keys of a
        ``trainer_config`` dict (when ``train()`` takes one), each with a literal value: a
        variable may hold None."""
        if self.scope.plans_replaced:
            return
        plans = self._manual_plans(train)
        if not plans:
            return
        symbol = self.api.symbols.get(qualname) or {}
        given = []
        if symbol.get("kwargs_to") == "trainer" or (  # GIMVI's go to scvi.train.Trainer
                symbol.get("kwargs_target") and self.api.public_name(
                    symbol["kwargs_target"]) == "scvi.train.Trainer"):
            given += [(k.arg, k.value, k) for k in keywords]
        config = next((k.value for k in keywords if k.arg == "trainer_config"), None)
        if isinstance(config, ast.Name):
            config = self.scope.dicts.get(config.id)
        if isinstance(config, ast.Dict) and any(p.get("name") == "trainer_config"
                                                for p in self.api.params(qualname) or []):
            given += [(key.value, value, key) for key, value in zip(config.keys, config.values)
                      if isinstance(key, ast.Constant) and isinstance(key.value, str)]
        for key, value, node in given:
            if key not in MANUAL_OPTIMIZATION_REFUSES or not isinstance(value, ast.Constant) \
                    or value.value in MANUAL_OPTIMIZATION_REFUSES[key]:
                continue
            said, line = plans[0][1]
            where = f"{self.api.symbols[said].get('path', said)}:{line}"
            names = ", ".join(self.api.public_name(p).rsplit(".", 1)[-1] for p, _ in plans)
            self.findings.append(Finding(
                node.lineno, f"{train}({key}=...): Lightning raises MisconfigurationException "
                f"when training starts, \"not supported for manual optimization\"; leave {key} "
                f"out, and for unstable training lower the learning rate: the model trains "
                f"with {names}, which sets automatic_optimization = False ({where})",
                "manual_optimization", col=node.col_offset + 1, name=train, kwarg=key))

    def _check_unread_keywords(self, name: str, keywords: list) -> None:
        """A keyword the model's method hands to its module's ``generative()`` or
        ``inference()``, which takes it and never reads it (the API index's
        ``unread_keywords``: SysVI's ``transform_batch`` and ``n_samples``): a
        ``transform_batch`` other than None is accepted and changes nothing; an ``n_samples``
        above 1 draws no sample axis, so RNASeqMixin averages over the cells and fails."""
        owner, _, method = name.rpartition(".")
        model = self.api.lookup(owner)
        if not model.found or model.qualname is None:
            return
        table = (self.api.symbols.get(model.qualname) or {}).get("unread_keywords") or {}
        unread = dict(table.get(method) or ())
        for given in keywords:
            target = unread.get(given.arg)
            value = given.value.value if isinstance(given.value, ast.Constant) else ...
            if target is None or value is None or (
                    given.arg == "n_samples" and not (isinstance(value, int) and value > 1)):
                continue
            module = self.api.public_name(target.rsplit(".", 1)[0]).rsplit(".", 1)[-1]
            step = target.rsplit(".", 1)[-1]
            why = (f"{module}.{step} takes {given.arg} and never reads it, "
                   f"{self._where(target)}")
            if given.arg == "n_samples":
                text = (f"{name}(n_samples={value}) draws no sample axis, so nothing is "
                        f"averaged over {value} draws (get_normalized_expression then averages "
                        f"over the cells: ValueError, or one value per gene); keep n_samples=1 "
                        f"and average several calls ({why})")
            else:
                text = (f"{name}({given.arg}=...) is accepted and changes nothing: every cell is "
                        f"decoded with its own batch, the same values as {given.arg}=None; "
                        f"leave it out, or use a model whose decoder reads it (SCVI, SCANVI) "
                        f"({why})")
            self.findings.append(Finding(given.lineno, text, "unread_kwarg",
                                         col=given.col_offset + 1, name=name, kwarg=given.arg))

    def _manual_plans(self, train: str) -> list[tuple[str, tuple[str, int]]]:
        """``(plan, (class, line))`` for each training plan the model of ``train`` may use (its
        ``uses``: the plan and any plan a method swaps in), when every one of them optimizes
        by hand: the class that says so (the plan or the first base that sets it) and the
        line; ``[]`` otherwise."""
        model = self.api.lookup(train.rsplit(".", 1)[0])
        if not model.found or model.qualname is None:
            return []
        uses = (self.api.symbols.get(model.qualname) or {}).get("uses") or {}
        plans = [uses["training_plan"]] if uses.get("training_plan") else []
        plans += [p for p in uses.get("training_plans") or [] if p not in plans]
        found = []
        for plan in plans:
            said = next((c for c in self.api.mro(plan)
                         if (self.api.symbols.get(c) or {}).get("automatic_optimization")), None)
            line, value = self.api.symbols[said]["automatic_optimization"] if said else (0, True)
            if value is not False:
                return []
            found.append((plan, (said, line)))
        return found

    def _literal_keys(self, value: ast.expr) -> list[tuple[str, ast.AST]]:
        """The string keys of a dict literal, or of the literal a variable was last assigned
        (until a key is popped or deleted); none for anything else."""
        if isinstance(value, ast.Name):
            value = self.scope.dicts.get(value.id)
        return _dict_keys(value) or []

    def _check_dict_keys(self, name: str, qualname: str, keywords: list, field: str,
                         check: str, describe) -> None:
        """The literal keys of a dict keyword that the API index's ``field`` of the callee
        lists for it (``{keyword: [line, ..., keys]}``): a finding each, worded by ``describe(
        keyword, key, keys, where)``."""
        symbol = self.api.symbols.get(qualname) or {}
        table = symbol.get(field) or {}
        for keyword in keywords:
            if keyword.arg not in table:
                continue
            line, known = table[keyword.arg][0], table[keyword.arg][-1]
            where = f"{symbol.get('path', qualname)}:{line}"
            for key, node in self._literal_keys(keyword.value):
                if key in known:
                    self.findings.append(Finding(
                        node.lineno, f"{name}({keyword.arg}={{{key!r}: ...}}): "
                        + describe(keyword.arg, key, known, where), check,
                        col=node.col_offset + 1, name=name, kwarg=key))

    def _check_splat_keys(self, name: str, qualname: str, keywords: list) -> None:
        """Keys of a dict keyword (``datasplitter_kwargs={...}``) that the callable passes on
        as ``**`` to a call that already passes that keyword itself (``splat_fixed``): Python
        raises TypeError, "got multiple values for keyword argument"."""
        method = name.rsplit(".", 1)[-1]
        own = {p.get("name") for p in self.api.params(qualname) or []
               if p.get("kind") in _ACCEPTING}

        def describe(keyword: str, key: str, _keys, where: str) -> str:
            instead = f"; pass {key}= to {method}() itself" if key in own else ""
            return (f"TypeError, got multiple values for keyword argument {key!r}: {method}() "
                    f"passes **{keyword} on to a call that sets {key}= itself ({where}{instead})")

        self._check_dict_keys(name, qualname, keywords, "splat_fixed", "splat_key", describe)
        self._check_setup_arg_keys(name, qualname, keywords)
        self._check_stored_keys(name, qualname, keywords)

    def _check_setup_arg_keys(self, name: str, qualname: str, keywords: list) -> None:
        """Keys of a dict keyword passed on as ``**`` beside another model's saved setup
        arguments (``splat_setup_args``: DestVI.from_rna_model's ``anndata_setup_kwargs``
        with ``**registry[_SETUP_ARGS_KEY]`` of the CondSCVI): every parameter of that
        model's ``setup_anndata`` is among them, so such a key raises TypeError."""
        table = (self.api.symbols.get(qualname) or {}).get("splat_setup_args") or {}
        method = name.rsplit(".", 1)[-1]

        def describe(keyword: str, key: str, _keys, where: str) -> str:
            owner = self.api.public_name(table[keyword][1]).rsplit(".", 1)[-1]
            return (f"TypeError, got multiple values for keyword argument {key!r}: {method}() "
                    f"passes **{keyword} on together with the {owner} model's own setup "
                    f"arguments, {key} among them ({where}); the {owner}'s setup decides {key}")

        self._check_dict_keys(name, qualname, keywords, "splat_setup_args", "splat_key",
                              describe)

    def _check_stored_keys(self, name: str, qualname: str, keywords: list) -> None:
        """One step further: a dict keyword passed on as ``**`` to a class (``splat_to``;
        ``uses:data_splitter``: the model's data splitter) that keeps those keys for calls
        which set some of them themselves (``stored_kwargs_fixed``: DataSplitter's loaders
        set ``shuffle``): TypeError when the class makes that call, at training's start."""
        symbol = self.api.symbols.get(qualname) or {}
        first = symbol.get("splat_fixed") or {}
        for keyword in keywords:
            target = (symbol.get("splat_to") or {}).get(keyword.arg)
            if target == "uses:data_splitter":
                model = self.api.lookup(name.rpartition(".")[0])
                target = ((self.api.symbols.get(model.qualname or "") or {}).get("uses") or {}
                          ).get("data_splitter")
            stored = (self.api.symbols.get(target or "") or {}).get("stored_kwargs_fixed")
            if not stored:
                continue
            line, keys = stored
            already = set((first.get(keyword.arg) or [0, []])[1])
            where = f"{self.api.symbols[target].get('path', target)}:{line}"
            owner = self.api.public_name(target).rsplit(".", 1)[-1]
            for key, node in self._literal_keys(keyword.value):
                if key in keys and key not in already:
                    self.findings.append(Finding(
                        node.lineno, f"{name}({keyword.arg}={{{key!r}: ...}}): TypeError when "
                        f"training starts, got multiple values for keyword argument {key!r}: "
                        f"{owner} keeps **{keyword.arg} for its data loaders and sets {key}= "
                        f"there itself ({where})", "splat_key", col=node.col_offset + 1,
                        name=name, kwarg=key))

    def _check_overwritten_keys(self, name: str, qualname: str, keywords: list) -> None:
        """Keys of a dict keyword that the method then sets itself, unconditionally
        (``kwargs_overwritten``: TOTALVI's ``train()`` puts its own ``lr`` into
        ``plan_kwargs``): the value given is replaced, without an error."""
        method = name.rsplit(".", 1)[-1]
        defaults = {p.get("name"): p.get("default")
                    for p in (self.api.symbols.get(qualname) or {}).get("params") or ()}

        def describe(keyword: str, key: str, keys: dict, where: str) -> str:
            own = keys[key]
            default = f", default {defaults[own]}" if defaults.get(own) is not None else ""
            how = (f"from its own {own}={default}; pass {method}({own}=...) instead" if own
                   else f"to a value of its own; {keyword} cannot change it")
            return (f"the value is replaced, without an error: {method}() sets "
                    f"{keyword}[{key!r}] itself ({where}; {how})")

        self._check_dict_keys(name, qualname, keywords, "kwargs_overwritten", "overwritten_key",
                              describe)

    def _check_dropped_keywords(self, dotted: str, qualname: str, keywords: list) -> None:
        """Keywords a method's ``**kwargs`` lose before they go on (``kwargs_drops``:
        ``SCANVI.from_scvi_model`` deletes, with a UserWarning, every key its ``scvi_model``'s
        ``init_params_`` hold, and those hold every parameter of the source class's
        ``__init__``): ``from_scvi_model(vae, ..., n_latent=30)`` runs, and the model keeps
        the source model's value."""
        drops = (self.api.symbols.get(qualname) or {}).get("kwargs_drops")
        if not drops:
            return
        param, made = drops
        own = {p.get("name") for p in self.api.params(qualname) or ()}
        held = [p.get("name") for p in self.api.params(made) or ()
                if p.get("kind") in _ACCEPTING
                and p.get("name") not in ("adata", "registry")]  # AnnData is not kept
        for keyword in keywords:
            if keyword.arg in held and keyword.arg not in own:
                source = self.api.public_name(made)
                self.findings.append(Finding(
                    keyword.lineno,
                    f"{dotted}() drops keyword {keyword.arg!r} with a UserWarning ({param}'s "
                    f"init_params_ hold every {source} parameter, {keyword.arg} among them: "
                    f"the new model keeps {param}'s value; choose it when building the "
                    f"{source.rsplit('.', 1)[-1]} model)", "dropped_key",
                    col=keyword.col_offset + 1, name=dotted, kwarg=keyword.arg))

    def _check_by_candidates(self, node: ast.Call, dotted: str, keywords: list) -> None:
        parts = dotted.split(".")
        if len(parts) == 1:
            candidates = self.api.candidates(parts[0])
        elif len(parts) == 2 and _looks_like_model(parts[0]):
            candidates = self.api.candidates(parts[1], methods_only=True)
        else:
            return
        if not candidates:
            return
        for keyword in keywords:
            if not any(self.api.accepts(q, keyword.arg).accepted for q in candidates):
                names = [self.api.public_name(q) for q in candidates]
                shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
                self.findings.append(Finding(
                    keyword.lineno,
                    f"{dotted}() does not accept keyword {keyword.arg!r} (no public "
                    f"scvi-tools callable of that name does: {shown})", "kwarg",
                    col=keyword.col_offset + 1, name=dotted, kwarg=keyword.arg))

    def _resolve(self, func: ast.expr, *, report: bool = True) -> tuple[str, str] | None:
        """``(dotted name, qualname)`` of a callee that is clearly scvi-tools and checkable;
        a name that does not exist is a finding."""
        dotted = _dotted(func)
        if dotted is not None:
            head, _, rest = dotted.partition(".")
            if head in self.scope.aliases and not (head in self.rebound and (
                    head in self.scope.instances or head in self.scope.implicit)):
                full = self.scope.aliases[head] + (f".{rest}" if rest else "")
            elif head in self.scope.instances and rest:
                full = f"{self.scope.instances[head]}.{rest}"
            else:
                return None
        else:
            built = self._built(func)  # a method called on the object a call builds
            if built is None:
                return None
            full = f"{built}.{func.attr}"
        lookup = self.api.lookup(full)
        if not lookup.found:
            if report:
                self.findings.append(Finding(func.lineno, lookup.message,
                                             col=func.col_offset + 1, name=full))
            return None
        if not lookup.certain or lookup.qualname is None:
            return None
        return full, lookup.qualname

    def _built(self, func: ast.expr) -> str | None:
        """The class whose method ``func`` is when it is ``<call building one>.method``."""
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
            return self._instance_of(func.value)
        return None

    def _chained(self, func: ast.expr) -> str | None:
        """How a method called on a built object is shown: ``SCVI(...).train``."""
        built = self._built(func)
        if built is None:
            return None
        inner = _dotted(func.value.func) or built.rsplit(".", 1)[-1]
        return f"{inner}(...).{func.attr}"

    def _where(self, qualname: str) -> str:
        symbol = self.api.symbols.get(qualname) or {}
        if "path" in symbol:
            return f"{symbol['path']}:{symbol.get('line', 1)}"
        return qualname


def _dict_keys(value: ast.expr | None) -> list[tuple[str, ast.AST]] | None:
    """``(key, node)`` of the string keys of a dict literal or a ``dict(k=...)`` call; None
    for anything else."""
    if isinstance(value, ast.Dict):
        return [(k.value, k) for k in value.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
            and value.func.id == "dict" and not value.args:
        return [(k.arg, k) for k in value.keywords if k.arg is not None]
    return None


def _elided(arg: ast.expr) -> bool:
    """``...`` written for arguments left out (``predict(...)``, ``setup_anndata(..., layer=...)``)."""
    return isinstance(arg, ast.Constant) and arg.value is Ellipsis


def _data_name(call: ast.expr) -> str:
    """The plain variable a call is given as data: its ``adata=``/``mdata=`` keyword, else
    its first positional argument; "" for anything else."""
    if not isinstance(call, ast.Call):
        return ""
    given = [k.value for k in call.keywords if k.arg in ("adata", "mdata")] or call.args[:1]
    return given[0].id if given and isinstance(given[0], ast.Name) else ""


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _looks_like_model(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in MODEL_RECEIVER_HINTS)

"""Keywords a model's methods hand to its module, which takes them and never reads them.

SysVI's module (SysVAE) takes ``transform_batch`` in ``generative()`` and ``n_samples`` in
``inference()`` and reads neither: RNASeqMixin's methods accept both (its check that the
module supports ``transform_batch`` only asks whether ``generative()`` has the parameter), and
nothing changes, or no sample axis is drawn. The API indexes (``unread_keywords``) and the
model cards both come from :func:`unread_module_keywords`.
"""

from __future__ import annotations

import ast

MODULE_KEYWORDS = (("generative", "transform_batch", "_get_transform_batch_gen_kwargs"),
                   ("inference", "n_samples", None))
"""``(module method, keyword, how a model's method hands it on)``: ``transform_batch`` through
RNASeqMixin's helper, ``n_samples`` as the ``"n_samples"`` key of a dict
(``inference_kwargs``)."""


def reads(node: ast.AST, name: str) -> bool:
    """Whether a def reads its parameter ``name`` (or all its locals, through ``locals()``)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and (
                sub.id == name or sub.id in ("locals", "vars")):
            return True
    return False


def takes(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    return name in {a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}


def hands_on(node: ast.AST, keyword: str, helper: str | None, passing: set[str]) -> bool:
    """Whether a method taking ``keyword`` calls ``self.<helper>(...)`` (without a helper: puts
    it in a dict as ``{"keyword": keyword}``), or passes it to one of ``passing``
    (``self.<method>(..., keyword=...)``: a value taken from it, ``transform_batch=b`` in a loop
    over the batches given)."""
    if not takes(node, keyword):
        return False
    for sub in ast.walk(node):
        if helper is None and isinstance(sub, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == keyword and isinstance(v, ast.Name)
                and v.id == keyword for k, v in zip(sub.keys, sub.values)):
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "self" and (
                    sub.func.attr == helper or (sub.func.attr in passing and any(
                        k.arg == keyword for k in sub.keywords))):
            return True
    return False


def unread_args(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    """The parameters a def takes and never reads (not ``self``/``cls`` when ``method``, not
    ``*args`` or ``**kwargs``): a keyword given there changes nothing. None for a def whose
    body only raises, passes or returns a constant (a stub or abstract method), and for one
    that reads ``locals()``."""
    body = [stmt for stmt in node.body if not (isinstance(stmt, ast.Expr)
                                               and isinstance(stmt.value, ast.Constant))]
    if all(isinstance(stmt, ast.Pass | ast.Raise) or (
            isinstance(stmt, ast.Return) and (stmt.value is None
                                              or isinstance(stmt.value, ast.Constant)))
           for stmt in body):
        return []
    bound = node.args.posonlyargs + node.args.args
    if method and bound:
        bound = bound[1:]
    names = [a.arg for a in bound + node.args.kwonlyargs]
    return [name for name in names if not reads(node, name)]


def init_of(cls: ast.ClassDef | None) -> ast.FunctionDef | None:
    """The class's own ``__init__`` (not a base's), or None."""
    return next((sub for sub in (cls.body if cls is not None else ())
                 if isinstance(sub, ast.FunctionDef) and sub.name == "__init__"), None)


def unread_init(cls: ast.ClassDef | None) -> list[str]:
    """:func:`unread_args` of the class's own ``__init__``: what a keyword given to the class
    (or handed to it through a model's ``**model_kwargs``) never changes."""
    init = init_of(cls)
    return unread_args(init, True) if init is not None else []


def unread_module_keywords(module_methods: dict[str, tuple[str, ast.AST | None]],
                           model_classes: list[ast.ClassDef | None]) -> dict[str, list[list[str]]]:
    """``{method: [[keyword, module method], ...]}``: the public methods of a model (its class
    and bases, ``model_classes`` in MRO order) that hand a keyword of :data:`MODULE_KEYWORDS`
    on, themselves or through another such method (``get_feature_correlation_matrix`` ->
    ``_get_denoised_samples``), when the module method it goes to (``module_methods``:
    ``{"generative": (qualname, def)}``) takes it and never reads it."""
    unread = []
    for method, keyword, helper in MODULE_KEYWORDS:
        qualname, node = module_methods.get(method) or (None, None)
        if node is not None and takes(node, keyword) and not reads(node, keyword):
            unread.append((keyword, helper, qualname))
    if not unread:
        return {}
    defs: dict[str, ast.AST] = {}  # each method the model resolves to, private ones too
    for cls in model_classes:
        for sub in cls.body if cls is not None else ():
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                defs.setdefault(sub.name, sub)
    found: dict[str, list[list[str]]] = {}
    for keyword, helper, target in unread:
        passing: set[str] = set()
        while True:
            more = {name for name, node in defs.items()
                    if name not in passing and hands_on(node, keyword, helper, passing)}
            if not more:
                break
            passing |= more
        for name in sorted(passing):
            if not name.startswith("_"):  # what a user calls
                found.setdefault(name, []).append([keyword, target])
    return found

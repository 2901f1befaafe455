"""Every message scvi-tools raises, warns or logs, with where and under which condition.

:func:`build_messages` walks ``src/scvi`` with ``ast`` (scvi is never imported) and records
one :class:`~scvi_skill.runtime.schema.MessageRow` per site:

- ``raise X(msg, ...)`` (kind ``raise``) and ``assert test, msg`` (kind ``raise``, exception
  ``AssertionError``);
- ``warnings.warn(msg, Category)`` / ``warn(msg)`` (kind ``warn``; ``UserWarning`` when no
  category is given);
- ``logger.warning(msg)``, ``logger.error(msg)``, ``logging.warning(msg)`` and the like (kind
  ``log``; exception ``logger.warning``...); ``logger.info(msg)`` too when its template has at
  least :data:`MIN_INFO_WORDS` static words ("Found {ratio * 100}% reference vars in query
  data.", "Input AnnData not setup with scvi-tools. attempting to transfer AnnData setup"):
  users paste these lines of their logs, while shorter progress lines ("Training for
  {max_epochs} epochs.", "Loading dataset from {path}") match any question sharing two words.
- ``print(a, b, ...)`` (kind ``print``, exception ``stdout``; the arguments joined by spaces,
  as print joins them) when its template has at least :data:`MIN_PRINT_WORDS` static words:
  ``TrainRunner`` prints "Exception raised during training. {NameError} {e}" before any
  training error propagates, a line users paste with the class name ``NameError`` in it.

The message may be a literal, an f-string, a ``+`` concatenation, ``str.format``, ``%``
formatting, ``" ".join([...])``, ``textwrap.dedent(...)``, or a local variable assigned one of
these earlier in the same function (``msg = f"..."; msg += "..."; raise ValueError(msg)``).
The template keeps the static text; each value becomes ``{source text}`` (an f-string's
convention: a literal brace is doubled), so ``{`` starts a placeholder the runtime matcher
treats as a wildcard. A site whose message has no static text is left out.

The condition is the source text of the enclosing ``if`` tests of the function, outermost
first and joined by ``"; "`` (``not (test)`` in an ``else`` branch, ``test`` for ``not (not
test)``, an ``elif``'s own test only), ``except Class`` for an exception handler, or ``not
(test)`` for an ``assert``; empty when there is none. A warning under ``if batch_size is not
None:``, ``if n_small and not drop_last:`` and ``else:`` of ``if not train_size_is_none:``
fires when all three hold.
"""

from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass, field

from scvi_skill.build.mapfiles import ReadLog, ReadProblem
from scvi_skill.runtime.messages import MessageIndex, template_words
from scvi_skill.runtime.schema import MESSAGES_FORMAT, MessageRow
from scvi_skill.runtime.text import clip
from scvi_skill.runtime.tree import Tree

from .pyast import parse_python
from .sourcemap import package_sources

MAX_CONDITION_CHARS = 240
"""A guarding condition longer than this is cut (``...``); the outer tests of a nested one go
first."""
MAX_PLACEHOLDER_CHARS = 40
"""The source text shown inside a placeholder is cut to this many characters."""
MAX_NAME_DEPTH = 4
"""How many ``msg = ...`` hops are followed to find a message's text."""
LOG_METHODS = frozenset({"info", "warning", "warn", "error", "critical", "exception"})
"""``logger.<method>`` calls that are indexed (``debug`` is not shown to users by default)."""
MIN_INFO_WORDS = 5
"""A ``logger.info`` site is indexed only with this many static words in its template."""
MIN_PRINT_WORDS = 4
"""A ``print`` site is indexed only with this many static words in its template (so
"Exception raised during training." and "Error logged to MLflow: {e}", not "Computing
DE...")."""
LOGGER_NAMES = frozenset({"logger", "logging", "log", "_logger", "LOGGER"})
TEXT_METHODS = frozenset({"strip", "rstrip", "lstrip"})
"""String methods that keep the message's text (``"...".strip()``)."""
PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


@dataclass(frozen=True)
class _Hole:
    """A value in a message: its source text."""

    text: str


@dataclass
class MessageResult:
    rows: list[MessageRow] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)
    skipped: int = 0
    """Sites whose message has no static text (``raise ValueError(msg)`` with ``msg`` a
    parameter, ``raise err``) and were left out."""
    passes: list[list] = field(default_factory=list)
    """:func:`module_passes` rows of every module, in path and line order."""
    module_classes: dict[str, list[str]] = field(default_factory=dict)
    """Model class -> the module class it builds (:func:`module_classes`) and that class's
    bases defined in the package, breadth first (``SCANVI`` -> ``SCANVAE``,
    ``SupervisedModuleClass``, ``VAE``, ...)."""
    bases: dict[str, list[str]] = field(default_factory=dict)
    """Each class of the package -> its bases written as plain names (first definition)."""


def build_messages(tree: Tree, notice: str, log: ReadLog | None = None) -> tuple[dict, MessageResult]:
    """The ``messages.json`` object of ``tree`` (first key ``_generated`` = ``notice``) and the
    build result (rows, problems, skipped count)."""
    result = read_messages(tree, log or ReadLog())
    data = {
        "_generated": notice,
        "format": MESSAGES_FORMAT,
        "scvi_tools_version": tree.version,
        "fields": list(MessageRow._fields),
        "sites": [list(row) for row in result.rows],
        "pass_fields": list(PASS_FIELDS),
        "passes": result.passes,
        "module_classes": dict(sorted(result.module_classes.items())),
    }
    # Each template's words and holes and the word postings and weights, as the runtime's
    # index makes them: a call that matches messages reads them (about 12 ms less).
    data.update(MessageIndex(data).derived())
    return data, result


def read_messages(tree: Tree, log: ReadLog) -> MessageResult:
    result = MessageResult()
    for rel, text, problem in package_sources(tree, log):
        if problem is None:
            try:
                rows, skipped = module_messages(rel, text)
            except SyntaxError as err:
                problem = ReadProblem(rel, err.lineno or 1, f"syntax error: {err.msg}; file skipped")
            else:
                result.rows.extend(rows)
                result.skipped += skipped
                parsed = parse_python(text, rel)
                result.passes.extend(module_passes(rel, text, parsed))
                for model, module in module_classes(parsed).items():
                    result.module_classes.setdefault(model, [module])
                for name, bases in class_bases(parsed).items():
                    result.bases.setdefault(name, bases)
        if problem is not None:
            result.problems.append(problem)
    result.rows.sort(key=lambda r: (r.path, r.line, r.kind, r.template))
    result.passes.sort(key=lambda r: (r[0], r[1], r[3]))
    for chain in result.module_classes.values():
        for name in chain:  # breadth first over every base the package defines
            chain.extend(b for b in result.bases.get(name, []) if b in result.bases
                         and b not in chain)
    return result


def module_messages(rel: str, source: str) -> tuple[list[MessageRow], int]:
    """The message sites of one module (``rel`` is its tree-relative path) and the number of
    sites left out for lack of static text."""
    walker = _Walker(rel, source, _module_name(rel))
    try:
        walker.walk_body(parse_python(source, rel).body)
    except RecursionError:
        raise SyntaxError("too deeply nested to read its messages", (rel, 1, 0, "")) from None
    return walker.rows, walker.skipped


PASS_FIELDS = ("path", "line", "end", "keyword_line", "callee", "keyword", "value", "mapping",
               "own", "function")
"""The fields of a ``passes`` row of ``messages.json``."""
MAX_CALLEE_CHARS = 60


def module_passes(rel: str, source: str, tree: ast.Module | None = None) -> list[list]:
    """The calls of one module, inside a def, that pass a keyword by name beside a
    ``**mapping`` the caller can fill with the same keyword, so that the call raises Python's
    own TypeError "f() got multiple values for keyword argument 'k'":

    - the def's own ``**kwargs``, when the def has no parameter of that name (a caller's
      keyword of that name lands there: PyroSviTrainMixin.train passes ``devices=device``
      with ``**trainer_kwargs``);
    - any other mapping (a dict parameter such as ``extra_encoder_kwargs``, or one built
      from it), whatever the def's parameters: a key of it collides with each keyword the
      call passes by name (``n_layers`` into the encoder).

    One row per keyword (:data:`PASS_FIELDS`): the call's first and last line, the keyword's
    line, the callee as written, the keyword and its value as written (``device``: the def's
    own parameter for it), the mapping that can bring it again and whether it is the def's
    own ``**kwargs``, the def's qualified name."""
    rows: list[list] = []

    def visit(node: ast.AST, scope: list[str], params: set[str] | None, var: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = child.args
                visit(child, scope + [child.name],
                      {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs},
                      args.kwarg.arg if args.kwarg else "")
                continue
            if isinstance(child, ast.ClassDef):
                visit(child, scope + [child.name], None, "")
                continue
            if isinstance(child, ast.Call) and params is not None:
                spread = [_one_line(ast.unparse(k.value)) for k in child.keywords
                          if k.arg is None]
                other = [m for m in spread if m != var]
                callee = clip(_one_line(ast.unparse(child.func)), MAX_CALLEE_CHARS)
                for keyword in child.keywords if spread else ():
                    if not keyword.arg:
                        continue
                    if other:
                        mapping = other[-1]
                    elif keyword.arg not in params:
                        mapping = var
                    else:
                        continue
                    value = clip(_one_line(ast.unparse(keyword.value)), MAX_CALLEE_CHARS)
                    rows.append([rel, child.lineno, child.end_lineno or child.lineno,
                                 keyword.lineno, callee, keyword.arg, value,
                                 clip(mapping, MAX_CALLEE_CHARS), mapping == var,
                                 ".".join(scope)])
            visit(child, scope, params, var)

    try:
        visit(tree or parse_python(source, rel), [], None, "")
    except RecursionError:
        return []  # too deeply nested to walk (module_messages reports the file)
    return rows


def module_classes(tree: ast.Module) -> dict[str, str]:
    """``{model class: module class}`` of one parsed module: a class body's
    ``_module_cls = X``, or its methods' ``self.module = X(...)`` (SysVI builds its module
    by name)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in ast.walk(node):
            if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                continue
            target, value = stmt.targets[0], stmt.value
            if isinstance(value, ast.Call):
                value = value.func
                own = (isinstance(target, ast.Attribute) and target.attr == "module"
                       and isinstance(target.value, ast.Name) and target.value.id == "self")
            else:
                own = isinstance(target, ast.Name) and target.id == "_module_cls"
            if own and isinstance(value, ast.Name) and node.name not in out:
                out[node.name] = value.id
    return out


def class_bases(tree: ast.Module) -> dict[str, list[str]]:
    """``{class: [bases written as plain names]}`` of one parsed module."""
    return {node.name: [b.id for b in node.bases if isinstance(b, ast.Name)]
            for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


_NOT_NOT = re.compile(r"^not \(not ([^()]*)\)$")


def _plain(test: str) -> str:
    """``x`` for ``not (not x)`` (an ``else`` of ``if not x:``), else ``test``."""
    match = _NOT_NOT.match(test)
    return match[1] if match else test


def _module_name(rel: str) -> str:
    parts = rel.removeprefix("src/").removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _Walker:
    """Statements in source order with the enclosing names, guards and local assignments."""

    def __init__(self, rel: str, source: str, module: str) -> None:
        self.rel = rel
        self.lines = source.encode("utf-8").splitlines(keepends=True)
        self.scope = [module]
        self.guards: list[str] = []
        self.assigns: list[dict[str, list[tuple[int, ast.expr, bool]]]] = [{}]
        self.rows: list[MessageRow] = []
        self.skipped = 0

    # -- traversal -------------------------------------------------------------------------

    def walk_body(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.walk_stmt(stmt)

    def walk_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.scope.append(stmt.name)
            saved_guards, self.guards = self.guards, []
            if not isinstance(stmt, ast.ClassDef):
                self.assigns.append({})
            self.walk_body(stmt.body)
            if not isinstance(stmt, ast.ClassDef):
                self.assigns.pop()
            self.guards = saved_guards
            self.scope.pop()
            return
        if isinstance(stmt, ast.If):
            self._walk_if(stmt, [])
            return
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self._record_assign(stmt)
        if isinstance(stmt, ast.Raise):
            self._raise(stmt)
        elif isinstance(stmt, ast.Assert):
            self._assert(stmt)
        elif isinstance(stmt, ast.Expr):
            # warnings.warn(...) and logger.warning(...) are statements (once wrapped in a
            # tuple: `(warnings.warn(...),)`); walking every expression would double the build
            # time and find no other site in scvi-tools 1.5.1
            for value in getattr(stmt.value, "elts", [stmt.value]):
                if isinstance(value, ast.Call):
                    self._call(value)
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(stmt, name, ()):
                if isinstance(child, ast.stmt):
                    self.walk_stmt(child)
                else:  # an except handler or a match case
                    self._guarded(self._case_condition(child), child.body)

    def _walk_if(self, stmt: ast.If, earlier: list[str]) -> None:
        """An ``if`` and its ``elif`` chain; the final ``else`` is guarded by none of the tests
        holding (``not (a or b)``)."""
        test = self._segment(stmt.test)
        self._guarded(test, stmt.body)
        tests = [*earlier, test]
        if len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If):
            self._walk_if(stmt.orelse[0], tests)
        elif stmt.orelse:
            self._guarded(f"not ({' or '.join(tests)})", stmt.orelse)

    def _guarded(self, condition: str, body: list[ast.stmt]) -> None:
        self.guards.append(condition)
        self.walk_body(body)
        self.guards.pop()

    def _case_condition(self, node: ast.AST) -> str:
        if isinstance(node, ast.ExceptHandler):
            return f"except {self._segment(node.type)}".rstrip()
        return f"case {self._segment(node.pattern)}"  # ast.match_case

    # -- sites -----------------------------------------------------------------------------

    def _raise(self, stmt: ast.Raise) -> None:
        exc = stmt.exc
        if not isinstance(exc, ast.Call):
            if exc is not None:
                self.skipped += 1
            return
        message = _message_arg(exc, ("msg", "message"))
        self._add(stmt, "raise", self._segment(exc.func), message, self._condition())

    def _assert(self, stmt: ast.Assert) -> None:
        if stmt.msg is None:
            return
        self._add(stmt, "raise", "AssertionError", stmt.msg, f"not ({self._segment(stmt.test)})")

    def _call(self, call: ast.Call) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "warn" and _name_of(func.value) == "warnings" \
                or isinstance(func, ast.Name) and func.id == "warn":
            category = call.args[1] if len(call.args) > 1 else _keyword(call, "category")
            exception = self._segment(category) if category is not None else "UserWarning"
            self._add(call, "warn", exception, _message_arg(call, ("message",)), self._condition())
        elif isinstance(func, ast.Attribute) and func.attr in LOG_METHODS \
                and _name_of(func.value) in LOGGER_NAMES:
            kind = f"{_name_of(func.value)}.{func.attr}"
            message = _message_arg(call, ("msg",))
            if len(call.args) > 1 and isinstance(message, ast.Constant) \
                    and isinstance(message.value, str):
                # logging's lazy %-formatting: logger.warning("... %s", value)
                message = ast.BinOp(message, ast.Mod(), ast.Tuple(call.args[1:], ast.Load()))
            self._add(call, "log", kind, message, self._condition())
        elif isinstance(func, ast.Name) and func.id == "print" and call.args \
                and not any(isinstance(a, ast.Starred) for a in call.args):
            sep = _keyword(call, "sep")
            if sep is not None and not (isinstance(sep, ast.Constant)
                                        and isinstance(sep.value, str)):
                return  # a separator only known at run time
            joiner = ast.Constant(" " if sep is None else sep.value)
            message = call.args[0]
            for arg in call.args[1:]:  # print's own join: a + sep + b + sep + c
                message = ast.BinOp(ast.BinOp(message, ast.Add(), joiner), ast.Add(), arg)
            self._add(call, "print", "stdout", message, self._condition())

    def _condition(self) -> str:
        """The function's enclosing tests, outermost first, joined by ``"; "`` (all hold);
        those before the innermost are dropped, from the outermost, past
        :data:`MAX_CONDITION_CHARS`."""
        tests = [_plain(test) for test in self.guards]
        kept = tests[-1:]
        for test in reversed(tests[:-1]):
            if len("; ".join([test, *kept])) > MAX_CONDITION_CHARS:
                break
            kept.insert(0, test)
        return "; ".join(kept)

    def _add(self, node: ast.AST, kind: str, exception: str, message: ast.expr | None,
             condition: str) -> None:
        parts = self._parts(message, depth=0, before=node.lineno) if message is not None else []
        template = _template(parts)
        words = len(template_words(template)[0])
        too_short = exception.endswith(".info") and words < MIN_INFO_WORDS \
            or kind == "print" and words < MIN_PRINT_WORDS
        if too_short or not any(c.isalnum() for p in parts if isinstance(p, str) for c in p):
            self.skipped += 1
            return
        self.rows.append(MessageRow(
            path=self.rel, line=node.lineno, kind=kind, exception=exception,
            function=".".join(self.scope), condition=clip(_one_line(condition), MAX_CONDITION_CHARS),
            template=template))

    # -- message text ----------------------------------------------------------------------

    def _record_assign(self, stmt: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        if stmt.value is None:
            return
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        augmented = isinstance(stmt, ast.AugAssign)
        if augmented and not isinstance(stmt.op, ast.Add):
            return
        for target in targets:
            if isinstance(target, ast.Name):
                self.assigns[-1].setdefault(target.id, []).append(
                    (stmt.lineno, stmt.value, augmented))

    def _parts(self, expr: ast.expr, *, depth: int, before: int) -> list[str | _Hole]:
        if isinstance(expr, ast.Constant):
            return [expr.value] if isinstance(expr.value, str) else [_Hole(self._segment(expr))]
        if isinstance(expr, ast.JoinedStr):
            out: list[str | _Hole] = []
            for value in expr.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    out.append(value.value)
                elif isinstance(value, ast.FormattedValue):
                    out.append(_Hole(self._segment(value.value)))
            return out
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return (self._parts(expr.left, depth=depth, before=before)
                    + self._parts(expr.right, depth=depth, before=before))
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod) \
                and isinstance(expr.left, ast.Constant) and isinstance(expr.left.value, str):
            return self._percent(expr.left.value, expr.right)
        if isinstance(expr, ast.Call):
            return self._call_parts(expr, depth=depth, before=before)
        if isinstance(expr, ast.Name) and depth < MAX_NAME_DEPTH:
            resolved = self._resolve(expr.id, depth=depth, before=before)
            if resolved is not None:
                return resolved
        return [_Hole(self._segment(expr))]

    def _call_parts(self, call: ast.Call, *, depth: int, before: int) -> list[str | _Hole]:
        func = call.func
        if isinstance(func, ast.Attribute):
            owner = func.value
            if func.attr == "format" and isinstance(owner, ast.Constant) and isinstance(owner.value, str):
                return self._format(owner.value, call)
            if func.attr in TEXT_METHODS and not call.args:
                return self._parts(owner, depth=depth, before=before)
            if func.attr == "join" and isinstance(owner, ast.Constant) and isinstance(owner.value, str) \
                    and len(call.args) == 1 and isinstance(call.args[0], (ast.List, ast.Tuple)):
                out: list[str | _Hole] = []
                for i, item in enumerate(call.args[0].elts):
                    if i:
                        out.append(owner.value)
                    out.extend(self._parts(item, depth=depth, before=before))
                return out
        if _name_of(func) in ("dedent", "textwrap.dedent", "cleandoc", "inspect.cleandoc") \
                and len(call.args) == 1:
            return [p if isinstance(p, _Hole) else _dedent_text(p)
                    for p in self._parts(call.args[0], depth=depth, before=before)]
        return [_Hole(self._segment(call))]

    def _resolve(self, name: str, *, depth: int, before: int) -> list[str | _Hole] | None:
        """The text of ``name`` from its last plain assignment before line ``before`` in the
        enclosing function (else in the module), with the ``+=`` that follow it."""
        history = [a for a in self.assigns[-1].get(name, []) if a[0] < before]
        start = max((i for i, a in enumerate(history) if not a[2]), default=None)
        if start is None and len(self.assigns) > 1:
            # a module constant: assigned before any function runs, wherever its line is
            history = self.assigns[0].get(name, [])
            start = max((i for i, a in enumerate(history) if not a[2]), default=None)
        if start is None:
            return None
        out: list[str | _Hole] = []
        for line, value, _ in history[start:]:
            out.extend(self._parts(value, depth=depth + 1, before=line))
        return out

    def _percent(self, text: str, right: ast.expr) -> list[str | _Hole]:
        args = list(right.elts) if isinstance(right, ast.Tuple) else [right]
        out: list[str | _Hole] = []
        pos = 0
        for match in PERCENT_SPEC.finditer(text):
            out.append(text[pos:match.start()])
            if match.group() == "%%":
                out.append("%")
            else:
                out.append(_Hole(self._segment(args.pop(0)) if args else match.group()))
            pos = match.end()
        out.append(text[pos:])
        return out

    def _format(self, text: str, call: ast.Call) -> list[str | _Hole]:
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        auto = 0
        out: list[str | _Hole] = []
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError:
            return [_Hole(self._segment(call))]
        for literal, name, _spec, _conv in fields:
            out.append(literal)
            if name is None:
                continue
            head = re.split(r"[.\[]", name, maxsplit=1)[0]
            if head == "":
                value = call.args[auto] if auto < len(call.args) else None
                auto += 1
            elif head.isdigit():
                value = call.args[int(head)] if int(head) < len(call.args) else None
            else:
                value = keywords.get(head)
            out.append(_Hole(self._segment(value) if value is not None else name))
        return out

    def _segment(self, node: ast.AST | None) -> str:
        if node is None:
            return ""
        end_line = getattr(node, "end_lineno", None)
        if end_line is None or end_line > len(self.lines):
            return _one_line(ast.unparse(node))
        # ast.get_source_segment splits the whole file on every call; columns are UTF-8 bytes
        first, last = node.lineno - 1, end_line - 1
        if first == last:
            raw = self.lines[first][node.col_offset:node.end_col_offset]
        else:
            raw = (self.lines[first][node.col_offset:] + b"".join(self.lines[first + 1:last])
                   + self.lines[last][:node.end_col_offset])
        return _one_line(raw.decode("utf-8", errors="replace"))


def _message_arg(call: ast.Call, names: tuple[str, ...]) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    for name in names:
        value = _keyword(call, name)
        if value is not None:
            return value
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _name_of(node.value)
        return f"{owner}.{node.attr}" if owner else ""
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _dedent_text(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines())


def _template(parts: list[str | _Hole]) -> str:
    """Static text with literal braces doubled and each value as ``{source text}``."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, _Hole):
            inner = clip(part.text.replace("{", "(").replace("}", ")"), MAX_PLACEHOLDER_CHARS)
            out.append("{" + (inner or "?") + "}")
        else:
            out.append(part.replace("{", "{{").replace("}", "}}"))
    return "".join(out)

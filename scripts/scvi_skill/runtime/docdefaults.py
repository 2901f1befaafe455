"""A docstring's stated default against the default its signature sets.

A numpy-style parameter entry often says what the parameter defaults to ("Defaults to
`scvi.settings.batch_size`", "min_thres ... defaults to 0.3"). When the code's signature sets
another value (``batch_size: int = 128``, ``min_thres=0.1``), the entry is wrong and the code
decides. :func:`stated_default` reads the entry's claim; :func:`conflict` says whether the
signature's default contradicts it. Both are conservative: a claim under a condition ("If
`None`, defaults to ...", "Otherwise, it defaults to ..."), an entry that states two
defaults, and a signature default of ``None`` (resolved at run time, which is what the entry
then describes) are never a conflict. Standard library only.
"""

from __future__ import annotations

import re

_CLAIM = re.compile(
    r"(?<![\w`])(?:[Dd]efaults?(?:\s+value)?(?:\s+(?:is|to|of))?\s*[:=]?"
    r"|[Bb]y\s+default,?(?:\s+is)?)"
    r"\s+(?P<value>``[^`]+``|`[^`]+`|\([^()]*\)|[-+\w.'\"]+)")
"""A default stated in prose and the value after it: a backticked span, a parenthesised tuple,
or a bare token (a number, ``True``, a quoted string). ``(default)`` alone states nothing."""
_CONDITION = re.compile(r"(?i)(?<!\w)(?:if|otherwise|unless|when|whether|else)(?!\w)")
_SENTENCE_END = re.compile(r"[.;]\s+(?=[A-Z`])|\n\s*\n")
_VALUE_WORDS = frozenset({"true", "false", "none"})


def stated_default(text: str) -> str | None:
    """The one default a parameter entry's ``text`` states, as written (without backticks
    and a trailing full stop), or None: no claim, a conditional one, or two that differ."""
    claims = []
    for match in _CLAIM.finditer(text):
        value = _clean(match.group("value"))
        if not value or not _is_value(value):
            continue
        ends = _SENTENCE_END.finditer(text, 0, match.start() + 1)
        start = max((m.end() for m in ends), default=0)
        if _CONDITION.search(text, start, match.start()):
            return None
        claims.append(value)
    distinct = set(claims)
    return claims[0] if len(distinct) == 1 else None


def conflict(stated: str, code: str) -> bool:
    """Whether the signature's default ``code`` (its source text, ``128``, ``"uniform"``)
    contradicts the entry's ``stated`` one. Only a literal code default other than ``None``
    can: two literals that differ in value (``0.3`` against ``0.1``; ``1e-3`` is ``0.001``),
    or an expression stated where the code sets a constant (`scvi.settings.batch_size`
    against ``128``)."""
    code_value = _literal(code)
    if code_value is _NOT or code_value is None:
        return False
    stated_value = _literal(stated)
    if stated_value is _NOT:
        return _is_expression(stated)
    if isinstance(code_value, bool) or isinstance(stated_value, bool):
        return type(code_value) is not type(stated_value) or code_value != stated_value
    return stated_value != code_value


def signature_default(line: str, name: str) -> str | None:
    """The default of parameter ``name`` as written on one line of a def's signature
    (``        batch_size: int | None = 128,`` -> ``128``; ``def f(x, eps=1e-6):`` ->
    ``1e-6``), or None: no default on that line, or a line that does not parse."""
    text = line.strip()
    head = re.match(r"(?:async\s+)?def\s+\w+\s*\(|class\s+\w+\s*\(", text)
    if head:
        text = text[head.end():]
    text = re.sub(r"\)\s*(?:->.*)?:\s*(?:#.*)?$", "", text).rstrip().rstrip(",")
    text = re.sub(r"\s+#.*$", "", text)
    import ast  # here: most calls never read a signature's default (about 3 ms of imports)

    try:
        args = ast.parse(f"def _({text}): pass").body[0].args
    except _UNPARSABLE:
        return None
    source = f"def _({text}): pass"
    for arg, default in defaulted(args):
        if arg.arg == name:
            return ast.get_source_segment(source, default)
    return None


def defaulted(args: ast.arguments) -> list[tuple[ast.arg, ast.expr]]:
    """The parameters of a def that have a default, each with its default's node."""
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    return pairs + [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]


_NOT = object()
_UNPARSABLE = (SyntaxError, ValueError, MemoryError, RecursionError)
"""What ``ast`` raises on text that is no Python: a syntax error, a null byte (ValueError), a
nesting too deep for the parser."""


def _literal(text: str):
    import ast

    try:
        return ast.literal_eval(text.strip())
    except (*_UNPARSABLE, TypeError):
        return _NOT


def _clean(value: str) -> str:
    value = value.strip()
    if value.startswith("`"):
        return value.strip("`").strip()
    return value.rstrip(".,;:")


def _is_value(value: str) -> bool:
    """A literal, or a backticked expression such as `scvi.settings.batch_size` (stated as
    ``_clean`` left it); not an English word ("the", "all", "this")."""
    if _literal(value) is not _NOT:
        return True
    return value.lower() in _VALUE_WORDS or _is_expression(value)


def _is_expression(value: str) -> bool:
    """A dotted name or a call (``scvi.settings.batch_size``, ``np.min([...])``): a value the
    code would compute, not prose."""
    if " " in value and "(" not in value:
        return False
    import ast

    try:
        node = ast.parse(value, mode="eval").body
    except _UNPARSABLE:
        return False
    return isinstance(node, ast.Attribute | ast.Call | ast.BinOp | ast.Subscript)

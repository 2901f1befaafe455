"""Every ``def`` and ``class`` of the tree's ``src/`` files as a ranking unit of its own.

A source file is scored as a whole (``Slot.SOURCE``): a question about one method of a long
file (``predict(soft=True)`` in ``_training_mixin.py``) shares its words with the file's
other thirty methods, and the file can rank below shorter ones that merely mention them. A
*def unit* holds one definition's words, in three fields:

- ``name``: its name and the name's parts (``get_likelihood_parameters``, ``likelihood``);
- ``doc``: its docstring;
- ``body``: its other lines (for a class: the statements of its body that are not defs,
  its attributes and hooks), with whole identifiers (``drop_last``, ``px_rate``): a
  question often names the variable or keyword the answering code reads.

Nested definitions are units too (a method's inner function); their lines also count in the
enclosing def's body, as they are part of it. The query side (``rank._boost_best_defs``)
gives each file a share of its best def's score.

Standard library only.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from scvi_skill.runtime.tokens import tokenize

MAX_DOC_CHARS = 3000
"""A docstring's first characters (its summary, parameters and notes); the rest are
examples and references."""
MAX_BODY_CHARS = 6000
"""A def's first characters of code: a few very long functions would otherwise dominate
the body field's average length."""

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def def_units(paths: list[str], read_lines: Callable[[str], list[str]]
              ) -> list[tuple[str, int, int, dict[str, list[str]]]]:
    """``(path, first line, last line, fields)`` of every def and class of ``paths`` (1-based,
    inclusive), in path order and then source order. Files that do not parse are left out."""
    out = []
    for path in paths:
        lines = read_lines(path)
        text = "\n".join(lines)
        try:
            module = ast.parse(text, filename=path)
        except (SyntaxError, ValueError):
            continue  # a file the build cannot read is not a unit; the file-level ranking keeps it
        out.extend((path, first, last, fields) for first, last, fields in _walk(module, text, lines))
    return out


def _walk(node: ast.AST, text: str, lines: list[str]):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _DEFS):
            yield child.lineno, child.end_lineno or child.lineno, _fields(child, text, lines)
            yield from _walk(child, text, lines)
        elif not isinstance(child, ast.expr):
            yield from _walk(child, text, lines)  # defs under if/try at module or class level


def _fields(node: ast.AST, text: str, lines: list[str]) -> dict[str, list[str]]:
    doc = ast.get_docstring(node, clean=False) or ""
    if isinstance(node, ast.ClassDef):
        body = "\n".join(ast.get_source_segment(text, stmt) or "" for stmt in node.body
                         if not isinstance(stmt, _DEFS) and not _is_docstring(stmt))
    else:
        body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        if doc:
            body = body.replace(doc, " ", 1)
    return {
        "name": tokenize(node.name) + tokenize(node.name.replace("_", " ")),
        "doc": tokenize(doc[:MAX_DOC_CHARS]),
        "body": tokenize(body[:MAX_BODY_CHARS]),
    }


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))

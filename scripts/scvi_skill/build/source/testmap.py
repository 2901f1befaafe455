"""Find which public scvi-tools names each file under ``tests/`` exercises (``ast``, no import).

A test file refers to ``scvi.model.SCVI`` when it imports it (``from scvi.model import SCVI``)
or spells it through an imported module (``scvi.model.SCVI``), and to
``scvi.model.SCVI.setup_anndata`` when it uses that attribute of an imported name.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

from scvi_skill.build.docs.docsymbols import SymbolFinder
from scvi_skill.build.mapfiles import ReadLog, ReadProblem, read_utf8
from scvi_skill.build.source.pyast import parse_python
from scvi_skill.runtime.tree import Tree


@dataclass
class TestRefs:
    path: str
    counts: Counter = field(default_factory=Counter)
    """Public name -> number of references in the file."""
    n_tests: int = 0
    """Number of ``test_*`` functions."""

    def to_dict(self) -> dict:
        return {"n_tests": self.n_tests, "path": self.path, "symbols": sorted(self.counts)}


def _aliases(nodes: list[ast.AST]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "scvi":
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases["scvi"] = "scvi"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "scvi":
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _chain(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def references(source: str, path: str, finder: SymbolFinder) -> TestRefs:
    """Public names a test module refers to; raises ``SyntaxError``."""
    nodes = list(ast.walk(parse_python(source, path)))
    aliases = _aliases(nodes)
    refs = TestRefs(path=path)
    inner: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                node.name.startswith("test"):
            refs.n_tests += 1
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "scvi":
            for alias in node.names:
                resolved = finder.resolve(f"{node.module}.{alias.name}")
                if resolved:
                    refs.counts[resolved] += 1
        if not isinstance(node, ast.Attribute | ast.Name) or id(node) in inner:
            continue
        if isinstance(node, ast.Attribute):
            inner.add(id(node.value))  # only the outermost attribute chain is resolved
        chain = _chain(node)
        if not chain or chain[0] not in aliases or (len(chain) == 1 and
                                                    isinstance(node, ast.Name) and
                                                    isinstance(node.ctx, ast.Store)):
            continue
        resolved = finder.resolve(".".join([aliases[chain[0]], *chain[1:]]))
        if resolved:
            refs.counts[resolved] += 1
    return refs


def read_tests(tree: Tree, log: ReadLog, finder: SymbolFinder
               ) -> tuple[list[TestRefs], list[ReadProblem]]:
    results: list[TestRefs] = []
    problems: list[ReadProblem] = []
    tests_dir = tree.root / "tests"
    if not tests_dir.is_dir() or tree.kind == "installed":
        return results, problems
    files = sorted(
        (rel, path) for path in tests_dir.rglob("*.py")
        if "__pycache__" not in path.parts and path.is_file()  # a FIFO would block the read
        and (rel := tree.to_rel(path)) is not None
    )
    for rel, path in files:
        text, problem = read_utf8(log, rel, path)
        if problem is None:
            try:
                refs = references(text, rel, finder)
            except SyntaxError as err:
                problem = ReadProblem(rel, err.lineno or 1, f"syntax error: {err.msg}; file skipped")
            else:
                if refs.counts:
                    results.append(refs)
        if problem is not None:
            problems.append(problem)
    return results, problems

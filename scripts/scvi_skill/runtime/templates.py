"""Docstring templates: the text behind a ``%(param_batch_key)s`` line of a docstring.

scvi-tools writes the parameter entries many methods share (``batch_key``, ``layer``,
``accelerator``, ``batch_correction``) once, as module-level strings of
``scvi/utils/_docstrings.py``, and fills them into docstrings with docrep
(``@setup_anndata_dsp.dedent``). The docstring in the tree holds ``%(param_batch_key)s``
where the entry would be, so a reader of the source sees no ``batch_key`` entry at all.

:class:`Templates` finds the text in the modules the file imports its docstring processors
from (a name ending in ``dsp``, or a module named ``_docstrings``), following one re-export
(``from scvi.utils import setup_anndata_dsp`` -> ``scvi/utils/__init__.py`` ->
``from ._docstrings import ...``). Nothing is hard-coded about where the templates live, so
the same code reads the flat 1.0.x sdists and the ``src/`` layout. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PLACEHOLDER = re.compile(r"^(\s*)%\((\w+)\)s\s*$")
"""A docstring line that is a template and nothing else: its indent and the template's name."""
_FROM_IMPORT = re.compile(r"^\s*from\s+(\.*[\w.]*)\s+import\s+\(?([\w\s,]+)\)?\s*(?:#.*)?$")
ENTRY = re.compile(r"^\s*\**([A-Za-z_]\w*)\s*(?::.*)?$")
"""A numpy-style docstring entry's name line: ``name``, ``name : type``, ``**kwargs``."""
MAX_TEMPLATE_LINES = 30
"""A template longer than this is cut (the shared ones are 2-15 lines)."""


class Template:
    """One parameter template: the parameter's ``name``, the ``path`` of the module that
    defines it and its ``first``..``last`` lines there (1-based, the entry's own text: its name
    line, then the description)."""

    def __init__(self, name: str, path: str, first: int, last: int, lines: list[str]) -> None:
        self.name, self.path, self.first, self.last = name, path, first, last
        self.lines = lines

    def __repr__(self) -> str:  # for test failures
        return f"Template({self.name!r}, {self.path}:{self.first}-{self.last})"


class Templates:
    """Templates resolved through the tree's files, read with ``read(rel) -> lines`` (empty
    for a file that is not there); each module and each name is looked up once."""

    def __init__(self, read: Callable[[str], list[str]]) -> None:
        self._read = read
        self._modules: dict[str, list[str]] = {}
        self._found: dict[tuple[str, str], Template | None] = {}

    def resolve(self, path: str, key: str) -> Template | None:
        """The parameter template ``key`` as the file at ``path`` would fill it in, or None
        (not a parameter entry, such as ``%(summary)s``, or not found)."""
        modules = self._modules.get(path)
        if modules is None:
            modules = self._modules[path] = _processor_modules(path, self._read)
        for module in modules:
            if (module, key) not in self._found:
                self._found[(module, key)] = _template(module, self._read(module), key)
            found = self._found[(module, key)]
            if found is not None:
                return found
        return None


def _processor_modules(path: str, read: Callable[[str], list[str]]) -> list[str]:
    """Files the module at ``path`` imports docstring processors from, then the files those
    re-export them from (one step)."""
    out: list[str] = []
    for target in _imports(path, read(path), read):
        out.append(target)
        if target.endswith("__init__.py"):
            out.extend(_imports(target, read(target), read))
    return list(dict.fromkeys(out))


def _imports(path: str, lines: list[str], read: Callable[[str], list[str]]) -> list[str]:
    found = []
    for text in lines:
        match = _FROM_IMPORT.match(text)
        if not match:
            continue
        module, names = match.group(1), [n.strip() for n in match.group(2).split(",")]
        if not (module.endswith("_docstrings") or any(n.endswith("dsp") for n in names)):
            continue
        target = _module_file(path, module, read)
        if target:
            found.append(target)
    return found


def _module_file(path: str, module: str, read: Callable[[str], list[str]]) -> str:
    """The tree path of ``module`` imported from the file at ``path`` (absolute, such as
    ``scvi.utils._docstrings``, or relative, such as ``._docstrings``), or ""."""
    if module.startswith("."):
        dots = len(module) - len(module.lstrip("."))
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        for _ in range(dots - 1):
            folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
        rest = module[dots:].replace(".", "/")
        base = f"{folder}/{rest}" if folder and rest else folder or rest
    else:
        top = module.split(".", 1)[0] + "/"
        at = path.find("/" + top)
        prefix = path[: at + 1] if at >= 0 else ("" if path.startswith(top) else None)
        if prefix is None:
            return ""
        base = prefix + module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if read(candidate):
            return candidate
    return ""


def _template(path: str, lines: list[str], key: str) -> Template | None:
    """``key = \"\"\"...\"\"\"`` at the top level of ``lines``, as a parameter entry."""
    start = re.compile(rf"^{re.escape(key)}\s*=\s*[rRuU]?(\"\"\"|''')(.*)$")
    for n, text in enumerate(lines):
        match = start.match(text)
        if not match:
            continue
        quote, rest = match.group(1), match.group(2)
        if rest.strip() in ("", "\\"):
            first = n + 1
        elif quote in rest:
            return None  # a one-line string: no entry
        else:
            first = n
        last = first
        while last < len(lines) and last - first < MAX_TEMPLATE_LINES - 1:
            body = lines[last] if last > n else rest
            if quote in body:
                break
            last += 1
        if last >= len(lines):
            return None
        head = rest if first == n else lines[first]
        entry = ENTRY.match(head)
        if not entry:
            return None  # a summary or a returns block, not a parameter
        return Template(entry.group(1), path, first + 1, last + 1, lines[first : last + 1])
    return None

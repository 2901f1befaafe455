"""Lint scvi-tools usage in ``.py`` files and notebook code cells against one release.

The calls are checked by the same checker as SKILL.md's snippets
(:func:`~scvi_skill.runtime.codecheck.check_snippet`), over the release's API index
(:class:`~scvi_skill.runtime.apiindex.ReleaseApi`). Each finding's message is then rewritten
from the release history and the curated migrations: when the name or keyword went or came,
and what replaces it ("scvi.model.JaxSCVI: removed in 1.5.0 (last in 1.4.3); use
scvi.model.SCVI, or scvi.model.mlxSCVI on Apple silicon").

A Markdown file (an answer, a README) is checked by its Python code fences (```python,
``py``, ``pycon``, and an unlabelled fence that opens with a ``>>>`` prompt; a ``>>>`` block
loses its prompts and its output lines), each padded with
blank lines so that line numbers are the file's; fences are read as CommonMark reads them
(:mod:`.fences`: a four-backtick Python block may hold three-backtick lines). Its blocks
share names like cells, up to the next ``#`` or ``##`` heading (a new answer). Text on stdin
is Markdown when it has a fence, else Python.

The cells of one notebook share names, as a notebook's kernel does. Lines that are IPython
magics or shell escapes (``%``, ``!``, ``?``) are blanked before parsing, so line numbers stay
true; a cell or file that still does not parse gives one finding with its line.

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import namedtuple
from pathlib import Path

from .apiindex import ReleaseApi
from .codecheck import CallSite, Finding, SnippetScope, check_snippet
from . import prosecode
from .fences import find_fences

MAGIC_LINE = re.compile(r"^\s*(?:[%!?]|\w+\s*=\s*[!%])|^\s*[\w.]+\?{1,2}\s*$")
"""IPython lines that are not Python: ``%magic``, ``!shell``, ``x = !ls``, ``obj?``."""


class CodeFinding(namedtuple("_CodeFinding", "path line col name kwarg message exists_in cell "
                                             "check", defaults=(None, "code"))):
    """A finding of ``check_code.py``: ``exists_in``, the release spans that have the name
    (or the callable's keyword), ``["1.0.0-1.4.3"]``; ``cell``, the 1-based code cell of a
    notebook (``line`` counts within the cell); ``check``, ``"code"``, or ``"citation"``: a
    Markdown ``path:line`` that does not show what it cites (``name``: the citation as
    written). A namedtuple, not a dataclass: see :mod:`.apiindex`."""

    __slots__ = ()

    def to_dict(self) -> dict:
        data = {"path": self.path, "line": self.line, "col": self.col, "name": self.name,
                "kwarg": self.kwarg or None, "message": self.message,
                "exists_in": self.exists_in}
        if self.cell is not None:
            data["cell"] = self.cell
        if self.check != "code":
            data["check"] = self.check
        return data

    def location(self) -> str:
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}:{self.col}"


class History:
    """First and last releases of names and keywords, and their curated replacements."""

    @classmethod
    def lazy(cls, load) -> History:
        """A History whose files ``load()`` reads on first use (only a file with findings
        needs them)."""
        self = cls.__new__(cls)
        self._load = load
        return self

    def __getattr__(self, name: str):
        load = self.__dict__.pop("_load", None)
        if load is None:
            raise AttributeError(name)
        self.__init__(*load())
        return getattr(self, name)

    def __init__(self, history: dict, migrations: dict) -> None:
        self.versions: list[str] = history.get("versions") or []
        self.names: dict[str, list[list[int]]] = _importable(history)
        self.params: dict[str, dict[str, list[list[int]]]] = history.get("params") or {}
        self.name_moves: dict[str, str] = migrations.get("names") or {}
        self.keyword_moves: dict[str, str] = migrations.get("keywords") or {}
        self.private: dict[str, dict] = history.get("private") or {}

    def spans_text(self, spans: list[list[int]]) -> list[str]:
        return [self.versions[a] if a == b else f"{self.versions[a]}-{self.versions[b]}"
                for a, b in spans]

    def when(self, spans: list[list[int]], version: str) -> str:
        """``removed in 1.5.0 (last in 1.4.3)``, ``added in 1.3.0``, or ``""``."""
        if not spans or version not in self.versions:
            return ""
        at = self.versions.index(version)
        before = [b for _, b in spans if b < at]
        after = [a for a, _ in spans if a > at]
        if before:
            last = max(before)
            text = f"removed in {self.versions[last + 1]} (last in {self.versions[last]})"
            return text + (f"; back in {self.versions[min(after)]}" if after else "")
        if after:
            return f"added in {self.versions[min(after)]}"
        return ""

    def private_as(self, name: str, version: str) -> str:
        """The private method (``_get_importance_weights``) that release ``version``'s class
        defines where later releases have the public member ``name``; ``""`` when none."""
        row = self.private.get(name)
        if not row or version not in self.versions:
            return ""
        at = self.versions.index(version)
        return row["private"] if any(a <= at <= b for a, b in row["spans"]) else ""

    def when_text(self, name: str, spans: list[list[int]], version: str) -> str:
        """:meth:`when`, and for a member ``version`` has as a private method, that too
        (``added in 1.4.0; 1.3.3 has it as the private _get_importance_weights``)."""
        when = self.when(spans, version)
        private = self.private_as(name, version) if when.startswith("added") else ""
        return f"{when}; {version} has it as the private {private}" if private else when

    def name_spans(self, name: str) -> tuple[str, list[list[int]]]:
        """The longest known prefix of ``name`` with its spans (``("", [])`` if none)."""
        parts = name.split(".")
        for cut in range(len(parts), 1, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self.names:
                return prefix, self.names[prefix]
        return "", []

    def name_move(self, name: str) -> str:
        parts = name.split(".")
        for cut in range(len(parts), 1, -1):
            move = self.name_moves.get(".".join(parts[:cut]))
            if move:
                return move
        return ""


def _importable(history: dict) -> dict[str, list[list[int]]]:
    """Each public name's spans with the releases whose package imports it though its
    ``__all__`` leaves it out (``bound``): ``scvi.model.get_max_epochs_heuristic`` is
    "removed in 1.4.0 (last in 1.3.3); back in 1.4.3" for 1.4.0, not "added in 1.4.3"."""
    from .history import index_spans

    names = history.get("names") or {}
    bound = history.get("bound") or {}
    return {name: index_spans(sorted({i for a, b in spans + bound[name] for i in range(a, b + 1)}))
            if name in bound else spans for name, spans in names.items()}


MARKDOWN_SUFFIXES = (".md", ".markdown")
PYTHON_FENCES = frozenset({"python", "py", "python3", "ipython", "ipython3", "pycon"})
_PROMPT = re.compile(r"^(\s*)(?:>>>|\.\.\.)(?: |$)")
_SESSION = re.compile(r"^\s*>>>(?: |$)")
"""A console session's first prompt (``...`` alone is also Python's Ellipsis)."""


def _console(body: list[str]) -> bool:
    """Whether an unlabelled fence's body is a Python console session: its first line that is
    not blank opens with a ``>>>`` prompt (the model guides' examples are written so)."""
    first = next((line for line in body if line.strip()), "")
    return bool(_SESSION.match(first))


def read_cells(path: Path, text: str | None = None) -> list[tuple[int | None, str | None]]:
    """``[(cell, source)]``: one ``(None, text)`` for a .py file; the code cells of a
    notebook (1-based cell numbers among all cells), magics blanked; the Python fences of a
    Markdown file, each as ``(None, source)`` with its lines at the file's line numbers.
    ``text``: the file's contents already read (stdin)."""
    if text is None:
        text = _read_source(path)
    if path.suffix in MARKDOWN_SUFFIXES:
        return markdown_blocks(text)
    if path.suffix != ".ipynb":
        return [(None, text)]
    try:
        notebook = json.loads(text)
    except ValueError as err:
        raise ValueError(f"not a notebook (invalid JSON: {err})") from err
    raw = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(raw, list) or not all(isinstance(cell, dict) for cell in raw):
        raise ValueError("not a notebook (no list of cells)")
    cells = []
    for number, cell in enumerate(raw, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source") or ""
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise ValueError(f"not a notebook (cell {number}'s source is not text)")
        # JSON may escape half a surrogate pair ("\\ud83d": a cut emoji), which no parser of
        # the cell can encode: it becomes U+FFFD, as undecodable bytes of a .py file do.
        cells.append((number, _blank_magics(_LONE_SURROGATE.sub("\ufffd", source))))
    return cells


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def is_markdown(text: str) -> bool:
    """Whether pasted text is Markdown: it holds a code fence, or it is not Python and cites
    a ``path:line`` (an answer without code)."""
    if find_fences(text.splitlines(), any_indent=True):
        return True
    if not _CITED.search(text):
        return False
    try:
        compile(text, "<stdin>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return True
    return False


_CITED = re.compile(r"[\w-]\.(?:py|md|toml|ipynb|rst)[:#]L?\d")


_SECTION = prosecode.SECTION
"""A top-level Markdown heading (``#``, ``##``): a new answer, whose names start afresh."""
NEW_SCOPE = (None, None)
"""Between the blocks of two sections: what the first bound does not carry over."""


def markdown_blocks(text: str) -> list[tuple[int | None, str | None]]:
    """The Python fences of ``text``, each padded with blank lines to its first line, with
    :data:`NEW_SCOPE` between sections (an answers file's ``## id`` headings: a ``model`` of
    one answer is not the next answer's)."""
    lines = text.splitlines()
    fences = {fence.first: fence for fence in find_fences(lines, any_indent=True)}
    blocks: list[tuple[int | None, str | None]] = []
    n = 0
    while n < len(lines):
        fence = fences.get(n)
        if not fence:
            if _SECTION.match(lines[n]) and blocks and blocks[-1] != NEW_SCOPE:
                blocks.append(NEW_SCOPE)
            n += 1
            continue
        end = fence.end
        body = lines[n + 1 : end]
        if fence.lang in PYTHON_FENCES or (not fence.info and _console(body)):
            lead = "\n" * (n + 1)
            if any(_SESSION.match(line) for line in body):
                # A console session: the prompted lines are the code (prompts as spaces), the
                # rest is output.
                body = [" " * m.end() + line[m.end():] if (m := _PROMPT.match(line)) else ""
                        for line in body]
            first = next((line for line in body if line.strip()), "")
            if first[:1].isspace():
                # Indented code (a fence in a list item, a console session) keeps its columns
                # under an `if 1:` on the fence's own line: line and column numbers stay the
                # file's.
                lead = "\n" * n + "if 1:\n"
            blocks.append((None, lead + _blank_magics("\n".join(body))))
        n = end + 1
    return blocks


PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit",
                                "python", "python3", "pypy"})
"""Cell magics whose body is Python (``%%time``): the body is checked, the magic line not."""
_CELL_MAGIC = re.compile(r"\s*%%(\w+)")


def _blank_magics(source: str) -> str:
    """``source`` with its IPython lines blanked: a cell magic's whole cell unless its body is
    Python (:data:`PYTHON_CELL_MAGICS`: then its first line only), and each line magic or
    shell escape as ``pass`` at its indentation (a block whose only statement it is stays a
    block)."""
    lines = source.split("\n")
    magic = _CELL_MAGIC.match(lines[0]) if lines else None
    if magic:
        if magic.group(1) not in PYTHON_CELL_MAGICS:
            return "\n" * (len(lines) - 1)  # a cell magic: the whole cell is not Python
        lines[0] = ""
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if MAGIC_LINE.match(line)
                     else line for line in lines)


def _read_source(path: Path) -> str:
    """A Python or Markdown file's text: a .py file in the encoding its PEP 263 line
    declares (as Python reads it), anything else UTF-8; a byte-order mark is not code."""
    if path.suffix != ".py":
        return path.read_text(encoding="utf-8-sig")
    import io
    import tokenize

    raw = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as err:  # an unknown coding name: say so as Python would
        raise ValueError(str(err)) from None
    return raw.decode(encoding)


def lint_file(path: Path, shown: str, api: ReleaseApi, history: History,
              text: str | None = None, *, prose: bool = False,
              calls: list[tuple[int | None, CallSite]] | None = None) -> list[CodeFinding]:
    """Findings for one file (``text``: its contents, when already read); a file that
    cannot be read or parsed is one finding. ``prose``: a Markdown file's inline code spans
    are checked too, after the fences before them (:mod:`.prosecode`: an answer's draft).
    ``calls``: when a list, the ``(cell, call)`` of every scvi-tools call the code blocks and
    cells make (not the prose spans) are appended to it."""
    try:
        cells = read_cells(path, text)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return [CodeFinding(shown, 1, 1, "", "", f"cannot read: {err}", [])]
    except RecursionError:  # JSON nested past the parser's depth
        return [CodeFinding(shown, 1, 1, "", "", "cannot read: nested too deeply to parse", [])]
    markdown = path.suffix in MARKDOWN_SUFFIXES

    names = prosecode.model_names(api) if markdown else {}

    def fresh() -> SnippetScope:
        scope = markdown_scope(api, names) if markdown else SnippetScope()
        scope.calls = [] if calls is not None else None
        return scope

    recorded: list[tuple[int | None, SnippetScope, int]] = []  # (cell, scope, place in calls)

    scope = fresh()
    found: list[CodeFinding] = []
    models = names if prose else {}
    if models:
        cells = _with_spans(cells, text if text is not None else _read_source(path), api,
                            models)
    for cell, source in cells:
        if source is None:  # NEW_SCOPE
            scope = fresh()
            continue
        if cell is _SPAN:
            found.extend(_explain(finding, shown, None, api, history)
                         for finding in _check_span(source, api, scope, models))
            continue
        start = len(scope.calls) if scope.calls is not None else 0
        for finding in check_snippet(source, api, scope, inline=False):
            found.append(_explain(finding, shown, cell, api, history))
        if scope.calls is not None:
            recorded.extend((cell, scope, n) for n in range(start, len(scope.calls)))
    if calls is not None:  # read at the end: a later call marks an earlier one as within it
        calls.extend((cell, scope.calls[n]) for cell, scope, n in recorded)
    return found


def markdown_scope(api: ReleaseApi, names: dict[str, str] | None = None) -> SnippetScope:
    """The names a Markdown file's fences start with. An answer's or a doc's fences about
    scvi-tools often leave out their imports: there `scvi.model.SCVI(...)` can only mean the
    package, and a model class's bare name (`CellAssign(adata, markers)`, as the model guides
    write it) that class (a .py file or a notebook without the import would not run). A name
    a fence binds itself stays the fence's. ``names``: the release's model names, when the
    caller has them."""
    names = prosecode.model_names(api) if names is None else names
    return SnippetScope(aliases={"scvi": "scvi", **names}, implicit=frozenset(names))


_SPAN = object()
"""The cell of a prose span in :func:`_with_spans`' list (its source: a ProseSpan)."""


def _with_spans(cells: list, text: str, api: ReleaseApi, models: dict[str, str]) -> list:
    """``cells`` (a Markdown file's fences and NEW_SCOPE marks) with its prose spans
    (``(_SPAN, ProseSpan)``) placed in file order, each after the fences above it."""
    lines = text.splitlines()
    fences = find_fences(lines, any_indent=True)
    code_lines = {n for fence in fences for n in range(fence.first, fence.end + 1)}
    spans = prosecode.prose_spans(lines, code_lines, models, api.version)
    if not spans:
        return cells
    sections = [n for n, line in enumerate(lines) if _SECTION.match(line) and n not in code_lines]
    merged, k = [], 0
    starts = iter([fence.first for fence in fences if fence.lang in PYTHON_FENCES])
    for cell, source in cells:
        if source is None:  # NEW_SCOPE: the next section's first line
            place = bisect.bisect_left(sections, _line_of(merged))
            at = sections[place] if place < len(sections) else len(lines)
        else:
            at = next(starts, len(lines))
        while k < len(spans) and spans[k].line - 1 < at:
            merged.append((_SPAN, spans[k]))
            k += 1
        merged.append((cell, source))
    merged.extend((_SPAN, span) for span in spans[k:])
    return merged


def _line_of(merged: list) -> int:
    """The 0-based line the last placed fence or span starts at (0 when none)."""
    for cell, source in reversed(merged):
        if cell is _SPAN:
            return source.line - 1
        if source is not None:
            return len(source) - len(source.lstrip("\n"))
    return 0


def _check_span(span: prosecode.ProseSpan, api: ReleaseApi, scope: SnippetScope,
                models: dict[str, str]) -> list[Finding]:
    """Findings for one prose span, at the file's line and column: the file's scope, plus
    the names its words bind (a copy: a span binds nothing for later snippets)."""
    code, shift = span.code, 0
    method = prosecode.bare_method(span, scope.aliases, scope.instances)
    if method and api.lookup(f"{span.model}.{method}").found:
        # `differential_expression(gene_list=...)` in an answer about SCVI: SCVI's method
        short = span.model.rsplit(".", 1)[-1]
        code, shift = f"{short}.{code}", len(short) + 1
    elif not prosecode.may_bind(code, models, scope.aliases, scope.instances):
        return []  # no scvi name, model or model-like variable: nothing to resolve
    aliases, instances = prosecode.bindings(code, span.model, models, scope.aliases,
                                            scope.instances, span.assigned)
    local = SnippetScope(aliases={**scope.aliases, **aliases},
                         instances={**scope.instances, **instances},
                         plans_replaced=scope.plans_replaced, dicts=dict(scope.dicts),
                         implicit=scope.implicit)
    guessed = tuple(f"{cls}." for cls in instances.values())
    encoded = code.encode("utf-8")
    found = []
    for finding in check_snippet(code, api, local, inline=True, guess=False):
        if finding.check == "name" and finding.name.startswith(guessed):
            continue  # a member missing from a receiver the words only suggest: not proof
        # ast's columns count UTF-8 bytes; the file's count characters
        chars = len(encoded[:max(finding.col - 1, 0)].decode("utf-8", errors="ignore"))
        found.append(finding._replace(line=span.line, col=span.col + max(chars - shift, 0)))
    return found


def _explain(finding: Finding, path: str, cell: int | None, api: ReleaseApi,
             history: History) -> CodeFinding:
    version = api.version
    if finding.check == "python":
        message = finding.message.replace("Python block", "code", 1)
        return CodeFinding(path, finding.line, finding.col, "", "", message, [], cell)
    if finding.check == "setting":  # the name's history, then what the statement does
        head, _, effect = finding.message.rpartition("; ")
        named = _explain(finding._replace(check="name", message=head), path, cell, api, history)
        hint = _hint(head)
        text = named.message if not hint or hint in named.message else f"{named.message} ({hint})"
        return named._replace(message=f"{text}; {effect}")
    if finding.check == "member":  # the member's history in the class that lacks it
        head, _, effect = finding.message.rpartition("; ")
        member = head.split(" ", 1)[0]  # HubModel.metadata.x is HubMetadata's x
        named = _explain(finding._replace(check="name", name=member, message=head), path, cell,
                         api, history)
        text = named.message if member == finding.name else \
            named.message.replace(member, f"{finding.name} ({member})", 1)
        return named._replace(name=finding.name, message=f"{text}; {effect}")
    if finding.check in ("str_for_list", "failing_value", "unloaded"):
        return CodeFinding(path, finding.line, finding.col, finding.name, finding.kwarg,
                           finding.message, [], cell)
    if finding.check in ("plan_key", "splat_key", "overwritten_key", "dropped_key",
                         "manual_optimization", "unread_kwarg", "positional"):
        head, _, tail = finding.message.rpartition(" (")
        return CodeFinding(path, finding.line, finding.col, finding.name, finding.kwarg,
                           f"{head} in {version} ({tail}", [], cell)
    if finding.check == "kwarg":
        spans = (history.params.get(finding.name) or {}).get(finding.kwarg) or []
        passed_on = ""
        if not spans and finding.owner:  # a model's keyword that its module takes, elsewhere
            spans = (history.params.get(finding.owner) or {}).get(finding.kwarg) or []
            passed_on = f" (passed on to {finding.owner})" if spans else ""
        when = history.when(spans, version)
        move = (history.keyword_moves.get(f"{finding.name}:{finding.kwarg}")
                or history.keyword_moves.get(finding.kwarg, ""))
        if when:
            head = f"{finding.name}(): keyword {finding.kwarg!r}{passed_on} {when}"
        else:
            head = f"{finding.name}() does not take keyword {finding.kwarg!r} in {version}"
            reason = _reason(finding.message)
            if reason:
                head += f" ({reason})"
        message = head + (f"; {move}" if move else "")
        return CodeFinding(path, finding.line, finding.col, finding.name, finding.kwarg,
                           message, history.spans_text(spans), cell)
    known, spans = history.name_spans(finding.name)
    when = history.when_text(known, spans, version) if known == finding.name else ""
    move = history.name_move(finding.name)
    if when:
        head = f"{finding.name}: {when}"
    elif known and known != finding.name and history.when(spans, version):
        head = f"{finding.name}: {known} {history.when(spans, version)}"
    else:
        head = f"{finding.name}: not in scvi-tools {version}"
        if not (spans or known):
            head += f" (nor any release {history.versions[0]}-{history.versions[-1]})"
        # The checker's "did you mean", unless the history knows the name itself (or only a
        # prefix of it: scvi.model.GIMVI, where the history knows scvi.model).
        hint = _hint(finding.message) if known != finding.name and not move else ""
        if hint:
            head += f" ({hint})"
    message = head + (f"; {move}" if move else "")
    return CodeFinding(path, finding.line, finding.col, finding.name, "", message,
                       history.spans_text(spans if known == finding.name else []), cell)


def _reason(message: str) -> str:
    """The ``its **kwargs go to ...`` part of a checker message."""
    match = re.search(r"; (its \*\*.*)\)$", message)
    return match.group(1) if match else ""


def _hint(message: str) -> str:
    match = re.search(r"\((did you mean [^)]*)\)", message)
    return match.group(1) if match else ""


def shown_code_findings(spans: list[tuple[str, int, int]], file_lines, api: ReleaseApi,
                        history: History, linted: dict | None = None) -> list[CodeFinding]:
    """For ``resolve_docs.py --version V``: the findings of V (``api``) on the Python fences
    the pack shows. ``spans``: the shown passages as ``(path, first, last)`` (1-based,
    inclusive); ``file_lines(path)``: the file's lines. Each Markdown file is checked whole
    (a fence may use what an earlier one imported), then a finding is kept when its line is
    shown; one finding per message, in the order shown. ``linted``: a file's findings by
    path, kept across calls on the same release (a pack built again shows the same files)."""
    linted = {} if linted is None else linted
    by_path: dict[str, list[tuple[int, int]]] = {}
    for path, first, last in spans:
        if path.endswith(MARKDOWN_SUFFIXES) and path != "CHANGELOG.md":
            by_path.setdefault(path, []).append((first, last))
    found: list[CodeFinding] = []
    seen: set[str] = set()
    for path, shown in by_path.items():
        if path not in linted:
            text = "\n".join(file_lines(path))
            linted[path] = lint_file(Path(path), path, api, history, text) \
                if "```" in text or "~~~" in text else []
        for finding in linted[path]:
            if finding.check != "code" or not finding.name or finding.message in seen:
                continue
            if any(first <= finding.line <= last for first, last in shown):
                seen.add(finding.message)
                found.append(finding)
    order = {path: n for n, (path, _, _) in enumerate(spans)}
    return sorted(found, key=lambda f: (order.get(f.path, 0), f.line, f.col))


CITED_NAME = re.compile(r"\{(?:meth|class|func|attr|obj|mod)\}`~?([A-Za-z_][\w.]*)`|`(scvi\.[\w.]+)`")
"""A name a docs line or release note cites: a MyST role's target or a backticked ``scvi.``
name (also what the search index scores a passage's ``refs`` by)."""


def shown_cited_names(spans: list[tuple[str, int, int]], file_lines) -> list[str]:
    """The dotted scvi names the shown lines of Markdown docs cite (``{class}`~scvi.train.
    TrainerConfig```, ```scvi.model.SCVI```), in the order shown; release notes are left out
    (a note names what its own release changed)."""
    names: dict[str, None] = {}
    for path, first, last in spans:
        if not path.endswith(MARKDOWN_SUFFIXES) or path == "CHANGELOG.md":
            continue
        for line in file_lines(path)[max(first - 1, 0):last]:
            for match in CITED_NAME.finditer(line):
                name = (match.group(1) or match.group(2)).rstrip(".")
                if name.startswith("scvi."):
                    names[name] = None
    return list(names)

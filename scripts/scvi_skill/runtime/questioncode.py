"""The user's own code in a question, checked against a release's API (``resolve_docs.py``).

A user who asks "can I pass ``labels_key`` to ``MULTIVI.setup_anndata``?" or pastes the call
that fails has written the answer's subject as code. The pack checks that code as
``check_code.py`` checks a file (:func:`~.codelint.lint_file`): the calls the question writes
outside fences, backticked or not, and the ``scvi.`` names it writes without calling them
(``scvi.model.utils.mde``), as one fence, then the question as Markdown (its fences, and its
backticked spans with the models the sentence names). A finding (a keyword the method does
not take, a name or keyword that a release removed or renamed, a value never read) is the
release's API index's, not a guess.

The reads of a member of an instance that a call of the question builds (``vae.n_latent``
after ``vae = scvi.model.SCVI(adata)``) are checked too. Standard library only; nothing is
read unless the question holds a call (``name(``) or an ``scvi.`` name.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

MAX_FINDINGS = 3
"""Findings shown under the pack's title; ``--json`` lists up to :data:`MAX_JSON_FINDINGS`."""
MAX_JSON_FINDINGS = 20
MAX_CALL_CHARS = 600
"""A call written in plain text longer than this is not looked for (a pasted log, not code)."""
MAX_TEXT_CHARS = 20_000
"""Only this much of a question is checked (a pasted log can be long)."""
MAX_STARTS = 400
"""At most this many ``name(`` are tried as calls (20,000 characters of ``a.b(`` took 0.17 s
before this bound)."""

_CALL_START = re.compile(r"(?<![\w.])(?:([A-Za-z_]\w*)\s*=\s*)?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\(")
"""A call's start in plain text: ``scvi.model.SCVI(``, ``model.train(``, with the name it is
assigned to (``vae = scvi.model.SCVI(``: later calls on ``vae`` are the model's)."""
_QUOTES = "'\""
_REFERENCE = re.compile(r"(?<![\w./-])(scvi(?:\.[A-Za-z_]\w*)+)(?![\w.(/])")
"""A dotted name under ``scvi`` that no ``(`` follows (``from scvi.models import VAE``). Not
a class's member in prose: "fails inside ``SCANVI.loss``" names the module's loss loosely."""
_ASSIGNED = re.compile(r"\s*=(?!=)")
"""What follows a name that is assigned (``scvi.settings.num_workers = 8``), not compared."""
_FILE_ENDINGS = (".html", ".py", ".md", ".rst", ".ipynb", ".txt", ".json")
"""A name that ends so is a file or a page (``.../api/reference/scvi.model.SCVI.html``)."""
_BINDS = re.compile(r"([A-Za-z_]\w*)\s*=\s*[A-Za-z_]")
"""A statement of :func:`plain_calls` that binds a name (``vae = scvi.model.SCVI(adata)``)."""


def plain_calls(text: str) -> list[str]:
    """The calls written in ``text`` outside code fences (in backticks or not), each as the
    source of one statement (``vae = scvi.model.SCVI(adata, n_latent=10)``), in order, once
    each; a candidate that is not a Python expression (prose in parentheses) is dropped."""
    import ast  # only for a question with a call: about 2 ms

    prose = _outside_fences(text)
    calls: list[str] = []
    n = tried = 0
    while tried < MAX_STARTS and (match := _CALL_START.search(prose, n)) is not None:
        tried += 1
        end = _closing(prose, match.end() - 1)
        n = match.end()
        if end is None:
            continue
        call = prose[match.start(2) : end + 1]
        target = match.group(1)
        statement = f"{target} = {call}" if target else call
        try:
            ast.parse(statement, mode="exec")
        except (SyntaxError, ValueError):
            continue
        if "." in match.group(2) or target:  # ``print(x)``, ``len(y)``: not scvi-tools'
            calls.append(statement)
        n = end + 1
    return list(dict.fromkeys(calls))


def plain_references(text: str) -> list[str]:
    """The dotted names under ``scvi`` written in ``text`` outside code fences and not
    called (``scvi.model.utils.mde``, ``from scvi.dataset import ...``), in order, once each,
    an assigned one as its assignment (``scvi.settings.num_workers = None``): a name the
    release lacks is a finding as in code."""
    prose = _outside_fences(text)[:MAX_TEXT_CHARS]
    found = []
    for match in _REFERENCE.finditer(prose):
        if match[1].endswith(_FILE_ENDINGS):
            continue
        # ``scvi.settings.num_workers = 8``: assigned, not read (an unknown setting is then
        # taken silently, where reading it raises).
        assigned = _ASSIGNED.match(prose, match.end())
        found.append(f"{match[1]} = None" if assigned else match[1])
    return list(dict.fromkeys(found))


_MEMBER = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)+(?!\w|\.\w|\(|/)")
"""A dotted read such as ``hub_model.metadata.data_is_minified`` (a sentence's full stop may
follow it)."""


def member_reads(text: str, bound: set[str]) -> list[str]:
    """The member reads written in ``text`` outside code fences and not called or assigned
    (``vae.n_latent``) whose first name a call of the question binds (``vae =
    scvi.model.SCVI(adata)``), in order, once each: a member the instance's class lacks is
    a finding as in code."""
    if not bound:
        return []
    prose = _outside_fences(text)[:MAX_TEXT_CHARS]
    return list(dict.fromkeys(
        m[0] for m in _MEMBER.finditer(prose)
        if m[1] in bound and not m[0].endswith(_FILE_ENDINGS)
        and not _ASSIGNED.match(prose, m.end())))


@functools.lru_cache(maxsize=1)  # the calls, the references and the member reads read one text
def _outside_fences(text: str) -> str:
    """``text`` with its fenced blocks blanked (they are checked as Markdown) and its
    backticks as spaces (a span's call is a statement like any other)."""
    out = []
    fenced = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else line.replace("`", " "))
    return "\n".join(out)


def _closing(text: str, start: int) -> int | None:
    """Index of the ``)`` that closes the ``(`` at ``start``, skipping quoted strings; None
    past :data:`MAX_CALL_CHARS` or at the end of the text."""
    depth, quote = 0, ""
    for n in range(start, min(len(text), start + MAX_CALL_CHARS)):
        char = text[n]
        if quote:
            if char == quote and text[n - 1] != "\\":
                quote = ""
        elif char in _QUOTES:
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return n
    return None


def has_code(question: str) -> bool:
    """Whether the question may hold a call or an ``scvi.`` name to check (cheap: before any
    index is read)."""
    return ("(" in question and _CALL_START.search(question) is not None) or (
        "scvi." in question and _REFERENCE.search(question) is not None)


def question_findings(question: str, api, history) -> list[dict]:
    """The findings of release ``api`` (a :class:`~.apiindex.ReleaseApi`) on the question's
    code: ``{"name", "kwarg", "message"}``, one per message, in the order written."""
    from .codelint import lint_file

    question = question[:MAX_TEXT_CHARS]
    # The calls come first, as one fence: those that bind a name, then the others, each in
    # the order written. ``vae = scvi.model.SCVI(...)`` binds ``vae.train(...)``, backticked
    # or not, written before it ("vae.train(use_gpu=True) after vae = scvi.model.SCVI(adata)")
    # or after.
    written = plain_calls(question)
    calls = [c for c in written if _BINDS.match(c)] + [c for c in written if not _BINDS.match(c)]
    calls += plain_references(question)  # after the calls: a name, not a statement to bind
    calls += member_reads(question, {m[1] for c in calls if (m := _BINDS.match(c))})
    text = ("```python\n" + "\n".join(calls) + "\n```\n\n" if calls else "") + question
    found, seen = [], set()
    for finding in lint_file(Path("question.md"), "question", api, history, text, prose=True):
        if finding.check != "code" or not finding.name or finding.message in seen:
            continue
        seen.add(finding.message)
        found.append({"name": finding.name, "kwarg": finding.kwarg or None,
                      "message": finding.message})
    return found[:MAX_JSON_FINDINGS]


def finding_lines(found: list[dict], version: str) -> list[str]:
    """The pack's lines under its title for the question's code (at most
    :data:`MAX_FINDINGS`)."""
    return [f"(your code, scvi-tools {version}) {f['message']}" for f in found[:MAX_FINDINGS]]

"""Outline the Markdown documents of an scvi-tools tree with markdown-it-py tokens.

One parser (CommonMark + tables, front matter, MyST roles and blocks, colon fences, dollar
math) reads every ``docs/**/*.md`` and ``CHANGELOG.md``. Headings come from ``heading_open``
tokens and their ``token.map``; MyST directives come back as ``fence``/``colon_fence`` tokens
with the directive in ``token.info``: ``{toctree}`` entries, ``{customcard}`` tutorial cards,
``{include}`` targets and ``{eval-rst}`` autosummary lists are read from them; admonitions
and other directives are parsed again for their text.

Sections run from their heading to the line before the next heading of the same or a higher
level (1-based, inclusive), so they contain their subsections; a section's ``text`` is its own
plain text only, up to the next heading of any level, and ``body_end`` is the last non-blank
line of that own text (the span ``start``..``body_end`` is what the resolver returns).
Tutorial cards are text of their section and ``tutorials`` entries (``line``..``end``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin
from mdit_py_plugins.myst_role import myst_role_plugin

from scvi_skill.build.mapfiles import ReadLog, ReadProblem, read_utf8
from scvi_skill.runtime.schema import MAX_SUMMARY_CHARS
from scvi_skill.runtime.tree import Tree

from .directives import (
    TITLED_TARGET,
    Bucket,
    DocState,
    customcard,
    directive_options,
    eval_rst,
    normalize,
    toctree,
)
from .docsymbols import SymbolFinder

TOPICS = (
    ("docs/user_guide/models/", "models"),
    ("docs/user_guide/use_case/", "use_case"),
    ("docs/user_guide/background/", "background"),
    ("docs/user_guide/", "start"),
    ("docs/tutorials/", "tutorials"),
    ("docs/api/", "api"),
    ("docs/developer/", "developer"),
    ("docs/", "start"),
    ("CHANGELOG.md", "changelog"),
)
"""Topic of a document by path prefix, first match wins."""
SILENT_DIRECTIVES = frozenset({"math", "bibliography", "customlist", "raw", "image"})
"""Directives whose content is not prose (formulas, generated lists, raw HTML)."""
CITATION_ROLES = ("cite", "footcite")
"""Roles whose target is a bibliography key, not words an agent would search for."""


@dataclass
class DocResult:
    docs: list[dict] = field(default_factory=list)
    tutorials: list[dict] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """The one Markdown parser, configured like the MyST extensions docs/conf.py enables."""
    return (
        MarkdownIt("commonmark", {"html": True})
        .enable("table")
        .use(front_matter_plugin)
        .use(myst_block_plugin)
        .use(myst_role_plugin)
        .use(colon_fence_plugin)
        .use(dollarmath_plugin)
        .use(amsmath_plugin)
        .use(deflist_plugin)
    )


def doc_topic(rel: str) -> str:
    for prefix, topic in TOPICS:
        if rel.startswith(prefix):
            return topic
    return "other"


def list_documents(tree: Tree) -> list[str]:
    docs_dir = tree.root / "docs"
    rels = [
        rel for path in docs_dir.rglob("*.md")
        if path.is_file() and (rel := tree.to_rel(path)) is not None
        and not any(part.startswith(("_", ".")) for part in PurePosixPath(rel).parts[1:])
        and "/notebooks/" not in rel
    ]
    if (tree.root / "CHANGELOG.md").is_file():
        rels.append("CHANGELOG.md")
    return sorted(rels)


def parse_docs(tree: Tree, log: ReadLog, finder: SymbolFinder) -> DocResult:
    result = DocResult()
    rels = list_documents(tree)
    known = frozenset(rels)
    for rel in rels:
        text, problem = read_utf8(log, rel, tree.to_disk(rel))
        if problem is None:
            doc, tutorials, problem = parse_document(rel, text, finder, tree.version, known)
        if problem is not None:
            result.problems.append(problem)
            continue
        result.docs.append(doc)
        result.tutorials.extend(tutorials)
    result.tutorials.sort(key=lambda t: (t["card_in"], t["line"]))
    return result


def parse_document(rel: str, text: str, finder: SymbolFinder, version: str,
                   known_docs: frozenset[str] = frozenset()
                   ) -> tuple[dict | None, list[dict], ReadProblem | None]:
    """Outline one document; an unclosed code fence is a problem (the file is skipped)."""
    tokens = markdown_parser().parse(text)
    lines = text.splitlines()
    for token in tokens:
        if token.type in ("fence", "colon_fence") and token.map and not _closed(token, lines):
            return None, [], ReadProblem(rel, token.map[0] + 1,
                                     f"unclosed {token.markup} fence; file skipped")
    state = DocState(rel=rel, version=version, finder=finder,
                      doc_dir=PurePosixPath(rel).parent, known_docs=known_docs)
    preamble = Bucket()
    headings: list[tuple[int, int, str, Bucket]] = []
    bucket = preamble
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            title, symbols = _inline_title(tokens[i + 1], finder)
            bucket = Bucket(symbols=set(symbols))
            headings.append((int(token.tag[1:]), token.map[0], title, bucket))
        elif token.type == "inline" and i and tokens[i - 1].type == "heading_open":
            continue
        else:
            _collect(token, bucket, state, line_offset=0)
            if token.type == "inline" and not state.first_paragraph and i and \
                    tokens[i - 1].type == "paragraph_open" and \
                    not bucket.text[-1].rstrip().endswith(":"):
                state.first_paragraph = bucket.text[-1]
    for tutorial in state.tutorials:
        tutorial["title"] = tutorial["title"] or state.toc_titles.get(tutorial["notebook"]) or \
            PurePosixPath(tutorial["notebook"]).stem.replace("_", " ")
    doc = _document(rel, text, lines, tokens, headings, preamble, state)
    return doc, state.tutorials, None


def _closed(token: Token, lines: list[str]) -> bool:
    """Whether a fence's last line is a closing marker (markdown-it runs an unclosed fence to
    the end of its container instead of failing)."""
    start, end = token.map
    if end - start < 2 or end > len(lines):
        return False
    last = lines[end - 1].lstrip(" \t>").rstrip()
    marker = token.markup[0]
    return len(last) >= len(token.markup) and set(last) == {marker}


def _document(rel, text, lines, tokens, headings, preamble, state) -> dict:
    sections = []
    stack: list[tuple[int, str]] = []
    for n, (level, start0, title, bucket) in enumerate(headings):
        end0 = len(lines)
        for later_level, later_start, _, _ in headings[n + 1:]:
            if later_level <= level:
                end0 = later_start
                break
        next0 = headings[n + 1][1] if n + 1 < len(headings) else len(lines)
        while stack and stack[-1][0] >= level:
            stack.pop()
        sections.append({
            "body_end": _last_text_line(lines, start0, next0),
            "end": max(end0, start0 + 1), "level": level, "parents": [t for _, t in stack],
            "start": start0 + 1, "symbols": sorted(bucket.symbols),
            "text": _join(bucket.text), "title": title,
        })
        stack.append((level, title))
    front_title = ""
    if tokens and tokens[0].type == "front_matter":
        for line in tokens[0].content.splitlines():
            if line.startswith("title:"):
                front_title = line.split(":", 1)[1].strip().strip("\"'")
    h1 = next((s["title"] for s in sections if s["level"] == 1), "")
    title = h1 or (sections[0]["title"] if sections else "") or front_title or \
        PurePosixPath(rel).stem.replace("_", " ")
    return {
        "autosummary": state.autosummary, "includes": state.includes,
        "n_lines": len(lines), "path": rel, "sections": sections,
        "summary": _summary(state, preamble), "title": title, "toctree": state.toctree,
        "topic": doc_topic(rel),
    }


def _last_text_line(lines: list[str], start0: int, next0: int) -> int:
    """1-based last non-blank line of a section's own body (its heading up to the line before
    the next heading of any level): the span its ``text`` comes from."""
    end0 = next0
    while end0 > start0 + 1 and not lines[end0 - 1].strip():
        end0 -= 1
    return max(end0, start0 + 1)


def _summary(state: DocState, preamble: Bucket) -> str:
    text = state.first_paragraph
    if state.autosummary:
        modules = sorted({n.rsplit(".", 1)[0] for n in state.autosummary})
        text = f"API reference, {len(state.autosummary)} entries: " + ", ".join(modules) + "."
    if not text and state.tutorials:
        text = f"{len(state.tutorials)} tutorial cards: " + ", ".join(
            t["title"] for t in state.tutorials[:6]) + ("..." if len(state.tutorials) > 6 else ".")
    if not text and state.includes:
        text = "Includes " + ", ".join(state.includes) + "."
    if not text and state.toctree:
        text = "Index of " + ", ".join(PurePosixPath(p).stem for p in state.toctree[:8]) + "."
    if not text and state.autosummary:
        text = "API: " + ", ".join(state.autosummary[:6]) + "."
    text = " ".join(text.split())
    sentence_end = re.search(r"[.!?](\s|$)", text)
    if sentence_end and sentence_end.end() <= MAX_SUMMARY_CHARS:
        return text[: sentence_end.end()].strip()
    if len(text) <= MAX_SUMMARY_CHARS:
        return text
    return text[: MAX_SUMMARY_CHARS - 3].rsplit(" ", 1)[0] + "..."


def _join(pieces: list[str]) -> str:
    return "\n".join(p for p in (p.strip() for p in pieces) if p)


def _inline_title(inline: Token, finder: SymbolFinder) -> tuple[str, set[str]]:
    parts, symbols = [], set()
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
            if child.type == "code_inline":
                symbols |= finder.in_inline(child.content)
        elif child.type == "myst_role":
            target = child.content
            symbols |= finder.in_inline(_role_target(target))
            shown = _role_target(target)
            parts.append(shown.rsplit(".", 1)[-1] if target.startswith("~") else shown)
    return " ".join("".join(parts).split()), symbols


def _role_target(content: str) -> str:
    """``Title <scvi.model.SCVI>`` -> the target; ``~scvi.model.SCVI`` -> the dotted name."""
    match = TITLED_TARGET.match(content.strip())
    return (match.group(2) if match else content).strip().lstrip("~!")


def _inline_text(token: Token, finder: SymbolFinder, bucket: Bucket) -> str:
    parts = []
    for child in token.children or []:
        if child.type == "text":
            parts.append(child.content)
        elif child.type == "code_inline":
            parts.append(child.content)
            bucket.symbols |= finder.in_inline(child.content)
        elif child.type == "myst_role":
            if child.meta.get("name", "").startswith(CITATION_ROLES):
                continue
            target = _role_target(child.content)
            parts.append(target)
            bucket.symbols |= finder.in_inline(target)
        elif child.type == "math_inline":
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())


def _collect(token: Token, bucket: Bucket, state: DocState, *, line_offset: int) -> None:
    if token.type == "inline":
        bucket.text.append(_inline_text(token, state.finder, bucket))
    elif token.type in ("fence", "colon_fence"):
        _directive_or_code(token, bucket, state, line_offset)
    elif token.type == "code_block":
        bucket.text.append(token.content)
        bucket.symbols |= state.finder.in_code(token.content)


def _directive_or_code(token: Token, bucket: Bucket, state: DocState, offset: int) -> None:
    info = token.info.strip()
    if not info.startswith("{") or "}" not in info:
        bucket.text.append(token.content)
        bucket.symbols |= state.finder.in_code(token.content)
        return
    name, argument = info[1:].split("}", 1)
    name, argument = name.strip(), argument.strip()
    options, body = directive_options(token.content)
    line = offset + token.map[0] + 1
    if name == "toctree":
        toctree(body, bucket, state)
    elif name == "customcard":
        customcard(options, body, (line, offset + token.map[1]), bucket, state)
    elif name == "include":
        target = normalize(state.doc_dir / argument)
        if target is not None:
            state.includes.append(target)
    elif name == "eval-rst":
        eval_rst(token.content, bucket, state)
    elif name not in SILENT_DIRECTIVES:
        if argument:
            bucket.text.append(argument)
        body_offset = offset + token.map[0] + 1 + (len(token.content.splitlines()) -
                                                   len(body.splitlines()))
        for inner in markdown_parser().parse(body):
            _collect(inner, bucket, state, line_offset=body_offset)



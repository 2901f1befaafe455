"""Outline the Markdown documents of an scvi-tools tree with markdown-it-py tokens.

One parser (CommonMark + tables, front matter, MyST roles and blocks, colon fences, dollar
math) reads every ``docs/**/*.md`` and ``CHANGELOG.md``. Headings come from ``heading_open``
tokens and their ``token.map``; MyST directives come back as ``fence``/``colon_fence`` tokens
with the directive in ``token.info``: ``{toctree}`` entries, ``{customcard}`` tutorial cards,
``{include}`` targets and ``{eval-rst}`` autosummary lists are read from them; admonitions
and other directives are parsed again for their text.

Sections run from their heading to the line before the next heading of the same or a higher
level (1-based, inclusive), so they contain their subsections; a section's ``text`` is its own
plain text only, up to the next heading of any level.
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

from .mapfiles import Problem, ReadLog, decode_utf8
from .tree import Tree

MAX_SUMMARY_CHARS = 160
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
DOCS_URL = "https://docs.scvi-tools.org/en/{version}/{page}.html"
TUTORIALS_REPO_URL = "https://github.com/scverse/scvi-tutorials/blob/{version}/{path}.ipynb"

_SCVI_NAME = re.compile(r"(?<![\w.])~?(scvi(?:\.[A-Za-z_]\w*)+)")
_FROM_IMPORT = re.compile(r"\bfrom\s+(scvi(?:\.\w+)*)\s+import\s+\(?\s*([\w\s,]+)")
_IDENTIFIER = re.compile(r"~?[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_TOCTREE_TITLED = re.compile(r"^(.*\S)\s*<([^<>]+)>$")


@dataclass
class DocResult:
    docs: list[dict] = field(default_factory=list)
    tutorials: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@lru_cache(maxsize=1)
def build_parser() -> MarkdownIt:
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


class SymbolFinder:
    """Turn names seen in docs into public dotted names known to the namespaces."""

    def __init__(self, namespaces: dict[str, str], kinds: dict[str, str]) -> None:
        self.namespaces = namespaces
        self.kinds = kinds
        self.by_qualname: dict[str, str] = {}
        for public in sorted(namespaces, key=lambda n: (len(n), n)):
            self.by_qualname.setdefault(namespaces[public], public)
        short: dict[str, set[str]] = {}
        for public, target in namespaces.items():
            if self.kinds.get(public) in ("class", "function"):
                short.setdefault(public.rsplit(".", 1)[1], set()).add(target)
        self.short = {name: self.by_qualname[next(iter(targets))]
                      for name, targets in short.items()
                      if len(targets) == 1 and len(name) >= 4 and (
                          "_" in name or any(c.isupper() for c in name))}

    def resolve(self, name: str) -> str | None:
        """Longest known prefix of a dotted name (``scvi.settings.seed`` -> a member or
        ``scvi.settings``); modules are not returned."""
        name = name.lstrip("~")
        if not name.startswith("scvi."):
            first, _, rest = name.partition(".")
            if first not in self.short:
                return None
            name = self.short[first] + ("." + rest if rest else "")
        parts = name.split(".")
        while len(parts) > 1:
            candidate = ".".join(parts)
            public = candidate if candidate in self.namespaces else self.by_qualname.get(candidate)
            if public is not None:
                return None if self.namespaces[public] == public else public
            parts.pop()
        return None

    def in_code(self, code: str) -> set[str]:
        found = {self.resolve(m.group(1)) for m in _SCVI_NAME.finditer(code)}
        for match in _FROM_IMPORT.finditer(code):
            for name in match.group(2).replace("\n", " ").split(","):
                name = name.strip().split(" ")[0]
                if name:
                    found.add(self.resolve(f"{match.group(1)}.{name}"))
        found.discard(None)
        return found

    def in_inline(self, text: str) -> set[str]:
        text = text.strip().rstrip("()")
        if _IDENTIFIER.fullmatch(text):
            resolved = self.resolve(text)
            return {resolved} if resolved else set()
        return self.in_code(text)


@dataclass
class _Bucket:
    """Text and symbols gathered for one section (or the preamble before the first heading)."""

    text: list[str] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)


@dataclass
class _DocState:
    rel: str
    version: str
    finder: SymbolFinder
    doc_dir: PurePosixPath
    known_docs: frozenset[str]
    currentmodule: str = ""
    toctree: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    autosummary: list[str] = field(default_factory=list)
    tutorials: list[dict] = field(default_factory=list)
    toc_titles: dict[str, str] = field(default_factory=dict)
    first_paragraph: str = ""


def parse_docs(tree: Tree, log: ReadLog, finder: SymbolFinder) -> DocResult:
    result = DocResult()
    rels = list_documents(tree)
    known = frozenset(rels)
    for rel in rels:
        text, problem = decode_utf8(rel, log.read(rel, tree.to_disk(rel)))
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
                   ) -> tuple[dict | None, list[dict], Problem | None]:
    """Outline one document; an unclosed code fence is a problem (the file is skipped)."""
    tokens = build_parser().parse(text)
    lines = text.splitlines()
    for token in tokens:
        if token.type in ("fence", "colon_fence") and token.map and not _closed(token, lines):
            return None, [], Problem(rel, token.map[0] + 1,
                                     f"unclosed {token.markup} fence; file skipped")
    state = _DocState(rel=rel, version=version, finder=finder,
                      doc_dir=PurePosixPath(rel).parent, known_docs=known_docs)
    preamble = _Bucket()
    headings: list[tuple[int, int, str, _Bucket]] = []
    bucket = preamble
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            title, symbols = _inline_title(tokens[i + 1], finder)
            bucket = _Bucket(symbols=set(symbols))
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
        while stack and stack[-1][0] >= level:
            stack.pop()
        sections.append({
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


def _summary(state: _DocState, preamble: _Bucket) -> str:
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
    match = _TOCTREE_TITLED.match(content.strip())
    return (match.group(2) if match else content).strip().lstrip("~!")


def _inline_text(token: Token, finder: SymbolFinder, bucket: _Bucket) -> str:
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


def _collect(token: Token, bucket: _Bucket, state: _DocState, *, line_offset: int) -> None:
    if token.type == "inline":
        bucket.text.append(_inline_text(token, state.finder, bucket))
    elif token.type in ("fence", "colon_fence"):
        _directive_or_code(token, bucket, state, line_offset)
    elif token.type == "code_block":
        bucket.text.append(token.content)
        bucket.symbols |= state.finder.in_code(token.content)


def _directive_or_code(token: Token, bucket: _Bucket, state: _DocState, offset: int) -> None:
    info = token.info.strip()
    if not info.startswith("{") or "}" not in info:
        bucket.text.append(token.content)
        bucket.symbols |= state.finder.in_code(token.content)
        return
    name, argument = info[1:].split("}", 1)
    name, argument = name.strip(), argument.strip()
    options, body = _directive_options(token.content)
    line = offset + token.map[0] + 1
    if name == "toctree":
        _toctree(body, bucket, state)
    elif name == "customcard":
        _customcard(options, body, line, bucket, state)
    elif name == "include":
        target = _normalize(state.doc_dir / argument)
        if target is not None:
            state.includes.append(target)
    elif name == "eval-rst":
        _eval_rst(token.content, bucket, state)
    elif name not in SILENT_DIRECTIVES:
        if argument:
            bucket.text.append(argument)
        body_offset = offset + token.map[0] + 1 + (len(token.content.splitlines()) -
                                                   len(body.splitlines()))
        for inner in build_parser().parse(body):
            _collect(inner, bucket, state, line_offset=body_offset)


def _directive_options(content: str) -> tuple[dict[str, str], str]:
    """Split MyST ``:key: value`` option lines (or a ``---`` YAML block) from the body."""
    lines = content.splitlines()
    options: dict[str, str] = {}
    i = 0
    if lines and lines[0].strip() == "---":
        for j in range(1, len(lines)):
            if lines[j].strip() == "---":
                for opt in lines[1:j]:
                    key, _, value = opt.partition(":")
                    options[key.strip()] = value.strip()
                i = j + 1
                break
    while i < len(lines) and lines[i].startswith(":") and lines[i].count(":") >= 2:
        key, _, value = lines[i][1:].partition(":")
        options[key.strip()] = value.strip()
        i += 1
    return options, "\n".join(lines[i:])


def _normalize(path: PurePosixPath) -> str | None:
    """Collapse ``..`` in a tree-relative path; ``None`` if it leaves the tree."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts) if parts else None


def _toctree(body: str, bucket: _Bucket, state: _DocState) -> None:
    for raw in body.splitlines():
        entry = raw.strip()
        if not entry or entry.startswith(":"):
            continue
        match = _TOCTREE_TITLED.match(entry)
        title, target = (match.group(1), match.group(2)) if match else ("", entry)
        bucket.text.append(title or PurePosixPath(target).name.replace("_", " "))
        if target.startswith(("http://", "https://")):
            continue
        base = PurePosixPath("docs") if target.startswith("/") else state.doc_dir
        resolved = _normalize(base / target.lstrip("/"))
        if resolved is None:
            continue
        doc = resolved if resolved.endswith(".md") else resolved + ".md"
        if doc in state.known_docs:
            state.toctree.append(doc)
        elif "notebooks/" in target and title:
            state.toc_titles[target + ".ipynb"] = title


def _customcard(options: dict[str, str], body: str, line: int, bucket: _Bucket,
                state: _DocState) -> None:
    path = options.get("path", "").strip()
    description = " ".join(body.split())
    tags = [t.strip() for t in options.get("tags", "").split(",") if t.strip()]
    bucket.text.append(" ".join([options.get("title", ""), description, " ".join(tags)]))
    if not path:
        return
    external = path.startswith(("http://", "https://"))
    page = _normalize(state.doc_dir / path)
    notebook = path if external else path + ".ipynb"
    url = path if external else DOCS_URL.format(
        version=state.version, page=(page or path).removeprefix("docs/"))
    tutorial = {
        "card_in": state.rel, "description": description, "line": line,
        "notebook": notebook, "notebook_url": None, "tags": tags,
        "title": options.get("title", ""), "url": url,
    }
    if not external and "notebooks/" in path:
        repo_path = path.split("notebooks/", 1)[1]
        tutorial["notebook_url"] = TUTORIALS_REPO_URL.format(version=state.version,
                                                             path=repo_path)
    state.tutorials.append(tutorial)


def _eval_rst(content: str, bucket: _Bucket, state: _DocState) -> None:
    """Read ``currentmodule``, ``autosummary`` entries and ``auto*::`` targets."""
    in_autosummary = False
    for raw in content.splitlines():
        line = raw.strip()
        if line.startswith((".. currentmodule::", ".. module::")):
            state.currentmodule = line.split("::", 1)[1].strip()
            in_autosummary = False
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif line.startswith(".. auto") and "::" in line:
            _api_name(line.split("::", 1)[1].strip(), bucket, state)
        elif line.startswith(".. "):
            in_autosummary = False
        elif in_autosummary and line and not line.startswith(":"):
            if not raw[:1].isspace():
                in_autosummary = False
                bucket.text.append(line)
            else:
                _api_name(line, bucket, state)
        elif line and not line.startswith(":"):
            bucket.text.append(line)


def _api_name(name: str, bucket: _Bucket, state: _DocState) -> None:
    name = name.lstrip("~").split()[0]
    current = state.currentmodule
    if current and name != current and not name.startswith(current + "."):
        name = f"{current}.{name}"
    state.autosummary.append(name)
    bucket.text.append(name)
    resolved = state.finder.resolve(name)
    if resolved:
        bucket.symbols.add(resolved)

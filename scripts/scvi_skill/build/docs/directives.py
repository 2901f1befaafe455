"""MyST directives of the scvi-tools docs, read from markdown-it ``fence`` tokens.

``{toctree}`` entries, ``{customcard}`` tutorial cards, ``{include}`` targets and
``{eval-rst}`` blocks (``currentmodule``, ``autosummary`` entries, ``auto*::`` targets). Each
handler adds plain text and symbols to the section being read (:class:`Bucket`) and records
document-level facts in :class:`DocState`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .docsymbols import SymbolFinder

DOCS_URL = "https://docs.scvi-tools.org/en/{version}/{page}.html"
TUTORIALS_REPO_URL = "https://github.com/scverse/scvi-tutorials/blob/{version}/{path}.ipynb"
TITLED_TARGET = re.compile(r"^(.*\S)\s*<([^<>]+)>$")
"""``Title <target>``: toctree entries and role targets."""


@dataclass
class Bucket:
    """Text and symbols gathered for one section (or the preamble before the first heading)."""

    text: list[str] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)


@dataclass
class DocState:
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


def directive_options(content: str) -> tuple[dict[str, str], str]:
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


def normalize(path: PurePosixPath) -> str | None:
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


def toctree(body: str, bucket: Bucket, state: DocState) -> None:
    for raw in body.splitlines():
        entry = raw.strip()
        if not entry or entry.startswith(":"):
            continue
        match = TITLED_TARGET.match(entry)
        title, target = (match.group(1), match.group(2)) if match else ("", entry)
        bucket.text.append(title or PurePosixPath(target).name.replace("_", " "))
        if target.startswith(("http://", "https://")):
            continue
        base = PurePosixPath("docs") if target.startswith("/") else state.doc_dir
        resolved = normalize(base / target.lstrip("/"))
        if resolved is None:
            continue
        doc = resolved if resolved.endswith(".md") else resolved + ".md"
        if doc in state.known_docs:
            state.toctree.append(doc)
        elif "notebooks/" in target and title:
            state.toc_titles[target + ".ipynb"] = title


def customcard(options: dict[str, str], body: str, span: tuple[int, int], bucket: Bucket,
                state: DocState) -> None:
    """A tutorial card (``span``: its first and last line, 1-based): text of the section,
    and a ``tutorials`` entry when it has a path."""
    path = options.get("path", "").strip()
    description = " ".join(body.split())
    tags = [t.strip() for t in options.get("tags", "").split(",") if t.strip()]
    bucket.text.append(" ".join([options.get("title", ""), description, " ".join(tags)]))
    if not path:
        return
    external = path.startswith(("http://", "https://"))
    page = normalize(state.doc_dir / path)
    notebook = path if external else path + ".ipynb"
    url = path if external else DOCS_URL.format(
        version=state.version, page=(page or path).removeprefix("docs/"))
    tutorial = {
        "card_in": state.rel, "description": description, "end": span[1], "line": span[0],
        "notebook": notebook, "notebook_url": None, "tags": tags,
        "title": options.get("title", ""), "url": url,
    }
    if not external and "notebooks/" in path:
        repo_path = path.split("notebooks/", 1)[1]
        tutorial["notebook_url"] = TUTORIALS_REPO_URL.format(version=state.version,
                                                             path=repo_path)
    state.tutorials.append(tutorial)


def eval_rst(content: str, bucket: Bucket, state: DocState) -> None:
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


def _api_name(name: str, bucket: Bucket, state: DocState) -> None:
    name = name.lstrip("~").split()[0]
    current = state.currentmodule
    if current and name != current and not name.startswith(current + "."):
        name = f"{current}.{name}"
    state.autosummary.append(name)
    bucket.text.append(name)
    resolved = state.finder.resolve(name)
    if resolved:
        bucket.symbols.add(resolved)

"""Render ``references/doc_map.md`` and ``references/source_map.md`` from the index.

Both are read by an agent on demand: compact one-line entries, tree-relative paths with line
ranges, and a table of contents when a map is longer than ``TOC_MIN_LINES``. Anchors follow
GitHub's heading slugs (lowercase, punctuation dropped, spaces to hyphens, ``-1`` suffixes for
repeats).
"""

from __future__ import annotations

import re

TOC_MIN_LINES = 300
MAX_DOC_MAP_LEVEL = 3
"""Deeper headings are listed in index.json only."""
DOC_GROUPS = (
    ("start", "Getting started, install and FAQ"),
    ("models", "Models"),
    ("use_case", "Use cases"),
    ("background", "Background"),
    ("api", "API reference"),
    ("tutorials", "Tutorial indexes"),
    ("developer", "Developer guide"),
    ("changelog", "Changelog"),
    ("other", "Other documents"),
)
_SLUG_DROP = re.compile(r"[^\w\- ]")


class _Slugger:
    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, heading: str) -> str:
        slug = _SLUG_DROP.sub("", heading.strip().lower()).replace(" ", "-")
        count = self.seen.get(slug, 0)
        self.seen[slug] = count + 1
        return slug if count == 0 else f"{slug}-{count}"


def _with_toc(header: list[str], sections: list[tuple[str, list[str], list[str]]]) -> str:
    """Join the header and ``(heading, toc entries, body lines)`` sections; add a table of
    contents after the header when the whole map is long."""
    body: list[str] = []
    toc: list[str] = []
    slug = _Slugger()
    for heading, entries, lines in sections:
        toc.append(f"- [{heading}](#{slug(heading)})")
        toc.extend(f"  - {e}" for e in entries)
        body += ["", f"## {heading}", *lines]
    if len(header) + len(body) > TOC_MIN_LINES:
        header = [*header, "", "## Contents", "", *toc]
    return "\n".join(header + body) + "\n"


def _notice(index: dict) -> str:
    return f"<!-- {index['_generated']} -->"


def render_doc_map(index: dict) -> str:
    version = index["scvi_tools_version"]
    header = [
        _notice(index),
        f"# scvi-tools {version} documentation map",
        "",
        "Every Markdown document of the tree (docs/ and CHANGELOG.md), grouped by topic. Each "
        "entry gives the path, title, line count and a one-line summary, then its sections as "
        "`start-end` line ranges (1-based, inclusive; a range includes its subsections): read "
        f"only the lines you need. Headings deeper than level {MAX_DOC_MAP_LEVEL} are in "
        "references/index.json. Paths are relative to the scvi-tools tree root.",
    ]
    docs_by_group: dict[str, list[dict]] = {}
    for doc in index["docs"]:
        docs_by_group.setdefault(doc["topic"], []).append(doc)
    sections = []
    for group, heading in DOC_GROUPS:
        docs = docs_by_group.get(group)
        if not docs:
            continue
        lines: list[str] = []
        for doc in docs:
            lines += _doc_lines(doc)
        sections.append((f"{heading} ({len(docs)})", [], lines))
    tutorials = index.get("tutorials") or []
    if tutorials:
        lines = ["", "Notebooks are not part of the sdist (a submodule upstream): links go to "
                 "the rendered page; `card` names the index page and line of the card.", ""]
        lines += [_tutorial_line(t) for t in tutorials]
        sections.append((f"Tutorial notebooks ({len(tutorials)})", [], lines))
    return _with_toc(header, sections)


def _doc_lines(doc: dict) -> list[str]:
    lines = ["", f"### {doc['path']}", "",
             f"{doc['title']} ({doc['n_lines']} lines, topic {doc['topic']}). {doc['summary']}"
             .rstrip()]
    extras = []
    if doc.get("includes") and not doc["summary"].startswith("Includes"):
        extras.append("includes " + ", ".join(doc["includes"]))
    if doc.get("toctree"):
        extras.append("toctree " + ", ".join(doc["toctree"]))
    if doc.get("autosummary"):
        extras.append(f"autosummary: {len(doc['autosummary'])} API entries")
    if extras:
        text = "; ".join(extras)
        lines.append(text[0].upper() + text[1:] + ".")
    if doc["sections"]:
        lines.append("")
    for section in doc["sections"]:
        if section["level"] > MAX_DOC_MAP_LEVEL:
            continue
        indent = "  " * (section["level"] - 1)
        lines.append(f"{indent}- {section['start']}-{section['end']} {section['title']}")
    return lines


def _tutorial_line(tutorial: dict) -> str:
    tags = ", ".join(tutorial["tags"])
    text = f"- [{tutorial['title']}]({tutorial['url']}) `{tutorial['notebook']}`"
    text += f" (card {tutorial['card_in']}:{tutorial['line']})"
    if tags:
        text += f" [{tags}]"
    if tutorial["description"]:
        text += f": {tutorial['description']}"
    return text


def render_source_map(index: dict) -> str:
    version = index["scvi_tools_version"]
    header = [
        _notice(index),
        f"# scvi-tools {version} source map",
        "",
        "Ranked source entry points per topic and per model family, as `path:line` in the "
        "tree, the public name, and why it matters: the user-facing class first, then its "
        "setup/train/downstream methods, then mixins, modules, training plans and data fields, "
        "then tests that exercise it. The last part lists the public namespaces (dotted name "
        "-> defining file). Paths are relative to the scvi-tools tree root.",
    ]
    entries_by_topic: dict[str, list[dict]] = {}
    for entry in index["source_entries"]:
        entries_by_topic.setdefault(entry["topic"], []).append(entry)
    topics = {t["id"]: t for t in (index.get("routing") or {}).get("topics") or []}
    sections = []
    topic_lines, topic_toc = [], []
    for topic_id in topics:
        entries = entries_by_topic.get(topic_id, [])
        topic_lines += ["", f"### {topic_id}: {topics[topic_id].get('title', '')}", ""]
        topic_lines += [_entry_line(e) for e in entries]
        topic_toc.append(topic_id)
    if topic_lines:
        sections.append(("Topics", [", ".join(topic_toc)], topic_lines))
    family_lines, family_names = [], []
    for topic_id, entries in entries_by_topic.items():
        if topic_id in topics:
            continue
        family_lines += ["", f"### {topic_id}", ""]
        family_lines += [_entry_line(e) for e in entries]
        family_names.append(topic_id.rsplit(".", 1)[-1])
    if family_lines:
        sections.append(("Model families", [", ".join(family_names)], family_lines))
    namespace_lines, packages = _namespace_lines(index)
    if namespace_lines:
        sections.append(("Public namespaces", [", ".join(packages)], namespace_lines))
    return _with_toc(header, sections)


def _entry_line(entry: dict) -> str:
    symbol = f" `{entry['symbol']}`" if entry["symbol"] else ""
    return f"{entry['rank']}. `{entry['path']}:{entry['line']}`{symbol}: {entry['why']}"


def _namespace_lines(index: dict) -> tuple[list[str], list[str]]:
    """Public names other than class members, grouped by package, with their file:line."""
    by_qualname = {s["qualname"]: s for s in index["symbols"]}
    namespaces = index["namespaces"]
    packages = sorted(name for name, target in namespaces.items() if name == target)
    lines: list[str] = []
    for package in packages:
        names = [n for n in namespaces if n.rpartition(".")[0] == package and n != package]
        if not names:
            continue
        lines += ["", f"### {package}", ""]
        for name in sorted(names):
            target = namespaces[name]
            symbol = by_qualname.get(target)
            if target == name:
                lines.append(f"- `{name}` (package)")
            elif symbol is None:
                lines.append(f"- `{name}` -> `{target}` (re-exported from another package)")
            else:
                lines.append(f"- `{name}` -> `{symbol['path']}:{symbol['line']}` "
                             f"({symbol['kind']})")
    return lines, packages

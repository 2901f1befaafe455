"""Validate every claim the skill makes, against the index and the pinned scvi-tools tree.

:func:`check_skill` returns a :class:`Report` whose problems each name ``path:line``:

- ``frontmatter``: SKILL.md and commands/*.md frontmatter (see :mod:`scvi_skill.check.frontmatter`),
  and the pinned version recorded in ``metadata``;
- ``plugin``: ``.claude-plugin/plugin.json`` fields, and its version equal to the skill's;
- ``size``: SKILL.md body under :data:`MAX_BODY_LINES` lines and :data:`MAX_BODY_TOKENS`
  estimated tokens (the larger of characters / 4 and words * 4 / 3);
- ``path``: every cited path exists: scvi-tools paths (``docs/``, ``src/``, ``tests/``,
  ``CHANGELOG.md``) in the tree, skill paths (``scripts/``, ``references/``, ``examples/``,
  ``commands/``, ``benchmarks/``, also after ``${CLAUDE_SKILL_DIR}/``) in the skill folder; a
  ``:LINE`` or ``:START-END`` suffix must lie inside the file;
- ``name``: every dotted ``scvi.*`` name exists in the public namespace (or as a qualname);
- ``kwarg``: every keyword argument of an scvi-tools call in a Python block or inline code span
  is accepted by that callable (see :mod:`scvi_skill.check.codecheck`);
- ``pitfall``: every pitfall's evidence token is still on its cited line of the tree, and its
  proof test exists (see :mod:`scvi_skill.check.pitfallcheck`).

Files checked: SKILL.md, commands/*.md and references/*.md. Maintainer module (pyyaml,
markdown-it-py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from scvi_skill.runtime import PINNED_SCVI_TOOLS
from scvi_skill.runtime.apiindex import load_release, load_releases
from scvi_skill.runtime.tree import Tree

from . import frontmatter
from .codecheck import SnippetScope, check_snippet
from .pitfallcheck import PITFALLS_FILE, pitfall_problems
from .publicapi import PublicApi

SKILL_FILE = "SKILL.md"
PLUGIN_FILE = ".claude-plugin/plugin.json"
MAX_BODY_LINES = 500
MAX_BODY_TOKENS = 5000
VERSION_METADATA_KEY = "scvi-tools-version"
TREE_ROOTS = ("docs", "src", "tests")
TREE_FILES = ("CHANGELOG.md",)
SKILL_ROOTS = ("scripts", "references", "examples", "commands", "benchmarks")
PYTHON_FENCES = ("python", "py", "python3")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_PATH = re.compile(
    r"(?<![\w.$/}{-])(?:\$\{CLAUDE_(?:SKILL_DIR|PLUGIN_ROOT)\}/)?"
    r"(?P<path>(?:" + "|".join(TREE_ROOTS + SKILL_ROOTS) + r")/[\w./-]*[\w/]|CHANGELOG\.md)"
    r"(?::(?P<start>\d+)(?:-(?P<end>\d+))?)?")
_DOTTED = re.compile(r"(?<![\w./-])scvi(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
FILE_SUFFIXES = frozenset({"md", "py", "json", "yaml", "yml", "toml", "txt", "h5ad", "h5mu",
                           "ipynb", "pt", "csv", "zip"})
"""A dotted ``scvi.*`` word ending in one of these is a file name (``scvi.md``), not an API."""


@dataclass(frozen=True, order=True)
class CheckProblem:
    path: str
    """Skill-relative POSIX path of the file."""
    line: int
    """1-based line."""
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def to_dict(self) -> dict:
        return {"check": self.check, "line": self.line, "message": self.message,
                "path": self.path}


@dataclass
class Report:
    problems: list[CheckProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    body_lines: int = 0
    body_tokens_chars: int = 0
    """SKILL.md body tokens estimated as characters / 4."""
    body_tokens_words: int = 0
    """SKILL.md body tokens estimated as words * 4 / 3."""
    counts: dict[str, int] = field(default_factory=dict)
    """How many paths, names and keyword arguments were checked."""

    def to_dict(self) -> dict:
        return {
            "summary": {"problems": len(self.problems), "files": len(self.files),
                        "body_lines": self.body_lines,
                        "body_tokens_chars_div_4": self.body_tokens_chars,
                        "body_tokens_words_x_4_3": self.body_tokens_words,
                        "checked": dict(sorted(self.counts.items()))},
            "files": self.files,
            "problems": [p.to_dict() for p in self.problems],
        }


def check_skill(skill_root: Path, *, index: dict, tree: Tree,
                dir_name: str | None = None) -> Report:
    """Check the skill folder (or repository) at ``skill_root``."""
    skill_root = Path(skill_root)
    api = PublicApi(index, tree_root=tree.root if tree.kind != "installed" else None,
                    release=_pinned_release())
    checker = _Checker(skill_root, api, tree)
    report = checker.report
    files = [SKILL_FILE] + sorted(_rel(skill_root, p) for p in
                                  (skill_root / "commands").glob("*.md")) + sorted(
        _rel(skill_root, p) for p in (skill_root / "references").glob("*.md"))
    skill_text = None
    for rel in files:
        path = skill_root / rel
        if not path.is_file():
            report.problems.append(CheckProblem(rel, 1, "file", f"{rel} is missing"))
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            line = path.read_bytes()[: err.start].count(b"\n") + 1
            report.problems.append(CheckProblem(rel, line, "file", f"{rel} is not UTF-8 "
                                                f"(byte 0x{err.object[err.start]:02x})"))
            continue
        report.files.append(rel)
        if rel == SKILL_FILE:
            skill_text = text
            checker.frontmatter(rel, text, dir_name=dir_name, skill=True)
        elif rel.startswith("commands/"):
            checker.frontmatter(rel, text, skill=False)
        checker.markdown(rel, text)
    if skill_text is not None:
        checker.plugin(skill_text)
    for line, message in pitfall_problems(skill_root, tree):
        checker.add(PITFALLS_FILE, line, "pitfall", message)
    report.problems = sorted(set(report.problems))
    return report


class _Checker:
    def __init__(self, root: Path, api: PublicApi, tree: Tree) -> None:
        self.root = root
        self.api = api
        self.tree = tree
        self.report = Report()
        self.skill_front: frontmatter.Frontmatter | None = None
        self._line_counts: dict[Path, int] = {}
        self._md = MarkdownIt("commonmark").use(front_matter_plugin)

    def add(self, rel: str, line: int, check: str, message: str) -> None:
        self.report.problems.append(CheckProblem(rel, line, check, message))

    def count(self, what: str) -> None:
        self.report.counts[what] = self.report.counts.get(what, 0) + 1

    # -- frontmatter, plugin, size ---------------------------------------------------------------

    def frontmatter(self, rel: str, text: str, *, skill: bool, dir_name: str | None = None) -> None:
        front = frontmatter.parse(text)
        if skill:
            self.skill_front = front
            found = frontmatter.check_skill(front, dir_name=dir_name)
            metadata = front.data.get("metadata") if front.data else None
            pinned = metadata.get(VERSION_METADATA_KEY) if isinstance(metadata, dict) else None
            if front.data and pinned != PINNED_SCVI_TOOLS:
                found.append((front.key_lines.get("metadata", 2),
                              f"metadata.{VERSION_METADATA_KEY} must be \"{PINNED_SCVI_TOOLS}\" "
                              f"(the pinned scvi-tools), found {pinned!r}"))
            self.size(rel, front)
        else:
            found = frontmatter.check_command(front)
        for line, message in found:
            self.add(rel, line, "frontmatter", message)

    def size(self, rel: str, front: frontmatter.Frontmatter) -> None:
        body = front.body
        report = self.report
        report.body_lines = len(body.splitlines())
        report.body_tokens_chars = round(len(body) / 4)
        report.body_tokens_words = round(len(body.split()) * 4 / 3)
        if report.body_lines >= MAX_BODY_LINES:
            self.add(rel, front.body_start, "size", f"body has {report.body_lines} lines; keep it "
                     f"under {MAX_BODY_LINES} and move detail to references/")
        tokens = max(report.body_tokens_chars, report.body_tokens_words)
        if tokens >= MAX_BODY_TOKENS:
            self.add(rel, front.body_start, "size", f"body is about {tokens} tokens; keep it "
                     f"under {MAX_BODY_TOKENS} and move detail to references/")

    def plugin(self, skill_text: str) -> None:
        path = self.root / PLUGIN_FILE
        if not path.is_file():
            self.add(PLUGIN_FILE, 1, "plugin", f"{PLUGIN_FILE} is missing")
            return
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            self.add(PLUGIN_FILE, getattr(err, "lineno", 1), "plugin", f"not valid JSON: {err}")
            return
        if not isinstance(manifest, dict):
            self.add(PLUGIN_FILE, 1, "plugin", "the manifest must be a JSON object")
            return
        for key in ("name", "version", "description", "author", "license", "repository"):
            if not manifest.get(key):
                self.add(PLUGIN_FILE, 1, "plugin", f"field '{key}' is missing or empty")
        data = self.skill_front.data if self.skill_front else {}
        if manifest.get("name") and data.get("name") and manifest["name"] != data["name"]:
            self.add(PLUGIN_FILE, 1, "plugin", f"name {manifest['name']!r} differs from the "
                     f"skill name {data['name']!r}")
        version = manifest.get("version")
        if version and not _SEMVER.match(str(version)):
            self.add(PLUGIN_FILE, 1, "plugin", f"version {version!r} is not semantic (X.Y.Z)")
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        if version and metadata.get("version") and metadata["version"] != version:
            self.add(PLUGIN_FILE, 1, "plugin", f"version {version!r} differs from SKILL.md "
                     f"metadata.version {metadata['version']!r}")

    # -- markdown content ------------------------------------------------------------------------

    def markdown(self, rel: str, text: str) -> None:
        lines = text.splitlines()
        for number, line in enumerate(lines, start=1):
            for match in _PATH.finditer(line):
                self.cited_path(rel, number, match)
            for match in _DOTTED.finditer(line):
                name = match.group(0)
                if line.startswith(("...", "\u2026"), match.end()):
                    continue  # a name cut short in a generated summary
                if name.rsplit(".", 1)[-1] not in FILE_SUFFIXES:
                    self.dotted_name(rel, number, name)
        scope = SnippetScope()
        for token in self._md.parse(text):
            if token.type == "fence" and token.map:
                language = (token.info.split() or [""])[0].lower()
                if language in PYTHON_FENCES:
                    self.snippet(rel, token.map[0] + 1, token.content, scope, inline=False)
            elif token.type == "inline" and token.map and token.children:
                self.inline_code(rel, token, lines, scope)

    def inline_code(self, rel: str, token, lines: list[str], scope: SnippetScope) -> None:
        start, end = token.map
        cursor = start
        for child in token.children:
            if child.type != "code_inline" or "(" not in child.content:
                continue
            head = child.content.split()[0][:20] if child.content.split() else child.content
            line = next((i for i in range(cursor, end) if head in lines[i]), cursor)
            cursor = line
            self.snippet(rel, line, child.content, scope, inline=True)

    def snippet(self, rel: str, offset: int, source: str, scope: SnippetScope, *, inline: bool) -> None:
        """``offset``: 0-based file line of the snippet's first line, minus one for blocks."""
        self.count("code snippets")
        for finding in check_snippet(source, self.api, scope, inline=inline):
            line = offset + finding.line if not inline else offset + 1
            self.add(rel, line, finding.check, finding.message)

    def cited_path(self, rel: str, number: int, match: re.Match) -> None:
        cited = match.group("path")
        self.count("paths")
        top = cited.split("/", 1)[0]
        if top in TREE_ROOTS or cited in TREE_FILES:
            disk = self.tree.to_disk(cited)
            where = f"the scvi-tools {self.tree.version} tree"
        else:
            disk = self.root / cited
            where = "the skill folder"
        if not (disk.is_dir() if cited.endswith("/") else disk.exists()):
            self.add(rel, number, "path", f"cited path {cited} does not exist in {where}")
            return
        if match.group("start") and disk.is_file():
            last = int(match.group("end") or match.group("start"))
            n_lines = self._n_lines(disk)
            if last > n_lines:
                self.add(rel, number, "path", f"{match.group(0)}: {cited} has only "
                         f"{n_lines} lines")

    def dotted_name(self, rel: str, number: int, name: str) -> None:
        self.count("names")
        lookup = self.api.lookup(name)
        if not lookup.found:
            self.add(rel, number, "name", lookup.message)

    def _n_lines(self, path: Path) -> int:
        if path not in self._line_counts:
            with path.open("rb") as handle:
                self._line_counts[path] = sum(1 for _ in handle)
        return self._line_counts[path]


def _pinned_release() -> dict:
    """The pinned release's API index (where ``**kwargs`` go on to one callable)."""
    return load_release(load_releases(), PINNED_SCVI_TOOLS)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()

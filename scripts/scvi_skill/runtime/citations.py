"""Check the ``path:line`` citations of an answer's Markdown against the scvi-tools tree.

A citation is ``src/scvi/train/_trainingplans.py:175``, a range (``docs/faq.md:39-53``), a list
(``_base_components.py:307, 333``), GitHub's ``#L175``, or ``(line 362)`` after a path cited on
the same or the line before. A path that is not the tree's own (``src/``, ``docs/``, ``tests/``,
a top-level file) is matched by its tail (``_trainer.py``, ``train/_trainer.py``) when one file
of the tree ends so.

What a citation claims is the code the sentence names beside it: the backquoted spans and long
quotes between the previous citation on the line (or the sentence's start) and this one, else
those just after it. The cited lines stand for more than themselves: a ``def`` line for its
signature, a statement's first line for the statement, a Markdown line for its list item. The
citation is **shown** when one of the names is on them (or they lie inside the def or list it
names and its other names are not on a line near by), and **off** when none is but one is within :data:`NEAR` lines, the finding naming the
line that holds it: a line number counted by hand is off by a few. Places of one claim side by
side (``(a.py:12; b.md:40)``) count as one, unless a place is a slip of at most
:data:`INHERITED_NEAR` lines. **Unverified** (nothing said): no code beside the citation, code
nowhere near, cited lines that say the sentence's longer words, a range of prose or wider than
:data:`WIDE`, a heading, another release's lines (``1.3.3 src/...``, or a list under a
lead-in such as "Facts from the 1.1.5 tree:" or "Where it comes from (1.4.2):", or a release
closing the citation's parentheses: ``(`src/...:65`, 1.0.4)``), a traceback's ``scvi/``
frame. A line past the file's end, or a ``src/scvi``/``docs`` path the tree lacks, is a
finding too. A finding is judged again in the cached tree of the release the answer is for
(``check_code.py --version V``) and of each release whose tree its part of the answer names
(``scvi-tools-1.2.0``, "the 1.1.5 tree"): where it shows what it cites there, it is that
release's citation and not a finding. A line that dates a change to one release ("removed in
1.2.1") and cites the release notes only under other releases' headings is off too
(:func:`_judge_release_notes`), as is a citation whose lines hold a plainer part of the
sentence's one expression while the expression itself is a line or few beyond them
(:func:`_judge_specific`).

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .fences import BODY, LIST_ITEM, OUTSIDE, line_roles
from .requirements import of_other_package
from .tree import Tree, read_text

NEAR = 15
"""How far from the cited lines the cited code may be for the citation to count as off by a
few lines (beyond this, the code is another passage's, and the citation is unverified)."""
VETO_WORDS = 1
"""A cited line holding this many of the sentence's longer words says what the sentence says
in words: the citation is not judged off by its code. A word counts where one of the line's
words (split at underscores) starts with it: "labels" and ``n_labels`` hold "label", but
``datasplitter_kwargs`` does not hold "split"."""
INHERITED_NEAR = 3
"""The second place of one claim (``(a.py:12; docs/b.md:40)``) may show another side of it:
it is judged off only when a distinctive name of the claim is at most this far away."""
_DISTINCT = re.compile(r"[A-Za-z]\w*(?:_\w+|[a-z][A-Z]\w*)")
"""A name unlikely to be on a line by chance: with an underscore or in CamelCase."""
WIDE = 12
"""A range of more lines than this points at a region, not a line: it is not judged off."""
SIGNATURE_LINES = 60
"""How far a cited ``def``/``class`` line is followed to the end of its signature."""
FINDINGS = ("off", "past_end", "no_file", "bad_range")
"""The verdicts that are findings."""

_SPEC = r"\d+(?:\s*[-\u2013]\s*L?\d+)?(?:\s*,\s*\d+(?:\s*[-\u2013]\s*\d+)?)*"
CITATION = re.compile(
    r"(?<![\w/.\-])(?P<path>(?:[\w.\-]+/)*[\w\-]+(?:\.[\w\-]+)*"
    r"\.(?:py|pyi|md|ipynb|rst|toml|ya?ml|txt|cfg|json))"
    r"(?::L?|#L)(?P<spec>" + _SPEC + r")(?!\.?\w)")
"""``path:12``, ``path:12-20``, ``path:12, 30``, ``path#L12``."""
CONTINUATION = re.compile(r"`?\s*[,;]\s*(?:and\s+)?`?:L?(?P<spec>" + _SPEC + r")(?!\.?\w)`?")
"""``, :30`` after a citation: more lines of its file."""
BARE_LINES = re.compile(r"\b[Ll]ines?\s+(?P<spec>" + _SPEC + r")(?!\.?\w)")
"""``line 362``, ``lines 90-93, 154-156``: of the path cited last, on this or the line before."""
_NUMBERS = re.compile(r"(\d+)(?:\s*[-\u2013]\s*L?(\d+))?")
QUOTED = "\x00"
"""Marks a quote among the code spans (its needle is the whole text)."""
_CODE_SPAN = re.compile(r"(`+)(?P<code>[^`\n]+?)\1")
_QUOTE = re.compile(r"[\"\u201c](?P<text>[^\"\u201d\n]{12,200})[\"\u201d]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KWARG_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
_SITE_PACKAGES = re.compile(r"(?:^|/)(?:site|dist)-packages/(scvi/.+)$")
"""A path into an installed scvi package (the user's own release, as an answer read it)."""
TREE_TOPS = ("src/", "docs/", "tests/")
"""Citations under these (or a top-level file of the tree) are the tree's own paths."""
OWN_TOPS = ("src/scvi/", "scvi/", "docs/")
"""A cited path under these that the tree lacks is a finding (elsewhere: another package's)."""
COMMON = frozenset({
    "None", "True", "False", "self", "cls", "def", "class", "return", "import", "from", "and",
    "not", "for", "the", "adata", "model", "scvi", "kwargs", "args", "int", "str", "float",
    "bool", "list", "dict", "tuple", "Optional", "Any", "torch", "np", "pd", "nn", "data",
    "python", "train", "module", "tests", "src", "docs", "md", "py",
})
"""Words too common in the tree to show that a line is the one meant."""
PROSE = (".md", ".rst", ".txt")
"""Documents: a range of their lines cites a passage's sense, so only a single line is judged
off (a list item or paragraph: the whole of it)."""
LOOSE_IDENT = 8
"""An identifier this long is found inside a longer one too (``train_size`` in
``train_size_is_none``); a shorter one (``lr``) only as a whole word."""
SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", ".ipynb_checkpoints"})


@dataclass
class Citation:
    line: int
    """1-based line of the Markdown that cites."""
    col: int
    text: str
    """The citation as written (``src/scvi/x.py:12``)."""
    path: str
    """Tree-relative path ("" when the tree has no such file, or several end so)."""
    start: int
    end: int
    verdict: str = "unverified"
    """``shown``, ``off``, ``past_end``, ``no_file``, ``bad_range`` (line 0) or
    ``unverified``. A range that ends before it starts (``12-4``) is read as its first line."""
    message: str = ""
    away: int = 0
    """For ``off``: how many lines from the cited ones the code is."""
    release: str = ""
    """The other release whose tree the citation was judged in (its lines are not this
    tree's: its part of the answer names that release's tree, and there they show what they
    cite)."""


@dataclass
class Claim:
    """What the text beside a citation names: each code span's or quote's needles (nearest
    the citation first), the claim's longer words, and whether the needles are another
    citation's (``(a.py:12; b.md:40)``: they may show there only)."""

    needles: list[list[str]] = field(default_factory=list)
    words: set[str] = field(default_factory=set)
    inherited: bool = False
    settings: list[str] = field(default_factory=list)
    """The parameters the sentence states a value of (``deeply_inject_covariates=False``):
    each is looked for on the cited lines, not just one of them."""


@dataclass
class CitationReport:
    tree_version: str
    citations: list[Citation]

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for c in self.citations)

    @property
    def findings(self) -> list[Citation]:
        return [c for c in self.citations if c.verdict in FINDINGS]

    def summary(self) -> dict:
        return {"tree": self.tree_version, "cited": len(self.citations),
                "shown": self.count("shown"), "unverified": self.count("unverified"),
                "findings": len(self.findings),
                "other_release": sum(bool(c.release) for c in self.citations)}


class TreeLines:
    """The tree's files read once each, and its paths by tail for short citations."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self._files: dict[str, list[str] | None] = {}
        self._tails: dict[str, list[str]] | None = None
        self._releases: dict[str, set[str]] = {}
        self.unreadable: dict[str, str] = {}
        """Tree paths that are there but could not be read (a named pipe, a file too large,
        one the account may not read) -> why: their citations are not judged."""

    def lines(self, rel: str) -> list[str] | None:
        if rel not in self._files:
            path = self.tree.to_disk(rel)
            self._files[rel] = None
            try:
                if os.path.lexists(path) and self.tree.to_rel(path) is not None \
                        and not path.is_dir():
                    self._files[rel] = read_text(path).splitlines()
            except FileNotFoundError:  # a link to nothing
                pass
            except OSError as err:
                self.unreadable[rel] = err.strerror or type(err).__name__
        return self._files[rel]

    def notes_releases(self, rel: str) -> set[str]:
        """Every release the release notes at ``rel`` have a heading for (read once)."""
        if rel not in self._releases:
            self._releases[rel] = {m[1] for line in self.lines(rel) or ()
                                   if (m := _NOTES_HEADING.match(line))}
        return self._releases[rel]

    def resolve(self, written: str) -> tuple[list[str], str]:
        """``([tree paths], why none)`` for a cited path: the tree's own path, else the files
        whose paths end with it (``_scanvi.py``: the model's and the field's)."""
        rel = written[2:] if written.startswith("./") else written
        if (site := _SITE_PACKAGES.search(rel)) is not None:
            rel = "src/" + site[1]  # .venv/lib/.../site-packages/scvi/X: src/scvi/X of a tree
        if rel.startswith("scvi/") and self.tree.kind != "installed":
            rel = "src/" + rel
        if ".." in rel.split("/"):
            return [], "outside the tree"
        own = rel.startswith(TREE_TOPS) or "/" not in rel
        if own and self.lines(rel) is not None:
            return [rel], ""
        if own and not self.tree.holds(rel):
            return [], "not_installed"  # docs/, tests/, CHANGELOG.md: an sdist's, not judged
        if rel in self.unreadable:
            return [], "unreadable"
        if rel.startswith(OWN_TOPS):
            return [], "no_file"
        matches = [p for p in self._tail_index().get(rel.rsplit("/", 1)[-1], [])
                   if p == rel or p.endswith("/" + rel)]
        return matches, "" if matches else "elsewhere"

    def _tail_index(self) -> dict[str, list[str]]:
        if self._tails is None:
            self._tails = {}
            root = self.tree.root
            for top in ("src", "docs", "tests", "scvi"):
                base = root / top
                if not base.is_dir():
                    continue
                for folder, dirs, files in os.walk(base):
                    dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                    for name in files:
                        rel = self.tree.to_rel(Path(folder) / name)
                        if rel:
                            self._tails.setdefault(name, []).append(rel)
        return self._tails


def cached_releases(installed=None):
    """``version -> TreeLines | None``: the trees of other releases that ``fetch_tree.py
    --version V`` cached, opened once each (nothing is fetched); for a release none is cached
    for, the scvi package installed in the project (:func:`.tree.project_installed`) or
    ``installed`` (a :class:`.tree.Tree`: the interpreter ``--python`` names) when it is that
    release: the user's own files, which an answer for them cites."""
    from .errors import SkillPackageError
    from .tree import cached_tree, open_tree, project_installed

    memo: dict[str, TreeLines | None] = {}
    packages: list | None = None  # the installed packages, looked for once

    def lines_of(version: str) -> TreeLines | None:
        nonlocal packages
        if version not in memo:
            root, tree = cached_tree(version), None
            try:
                tree = open_tree(root) if root is not None else None
            except SkillPackageError:
                pass
            if tree is None or tree.version != version:
                if packages is None:
                    packages = [t for t in (installed, project_installed()) if t is not None]
                tree = next((t for t in packages if t.version == version), None)
            memo[version] = TreeLines(tree) if tree else None
        return memo[version]

    return lines_of


def check_citations(text: str, tree_lines: TreeLines, releases=None,
                    also: tuple[str, ...] = ()) -> CitationReport:
    """Every citation in the Markdown ``text``, each with its verdict.

    ``releases``: ``version -> TreeLines | None``, the local trees of other releases (see
    :func:`cached_releases`). A finding is then judged again in the tree of each release
    whose tree its part of the text names (``scvi-tools-1.2.0``, "the 1.1.5 tree"; from one
    ``#``/``##`` heading to the next), and of each of ``also`` (the release the answer is
    for), ``also`` first: where its lines show what it cites there, or its file or line is
    there and not in this tree, it is that release's citation (``release``), not a finding.
    An answer for a user of 1.2.0 cites 1.2.0's lines without naming the release beside
    each."""
    out: list[Citation] = []
    judged: list[tuple[int, Citation, Claim, str, bool]] = []  # (group, ...)
    last_path, last_line = "", -9
    last_judged = True  # the last written path was this tree's (not scvi/..., not 1.2.0's)
    block_other = False  # under a lead-in naming another release's tree ("From the 1.1.5 tree:")
    lines = text.splitlines()
    for number, (line, role) in enumerate(zip(lines, line_roles(lines)), start=1):
        if role not in (OUTSIDE, BODY):
            continue  # a fence's own line
        fenced = role == BODY
        trees = {m[1] for m in OTHER_TREE.finditer(line)}
        if not fenced:
            if LIST_ITEM.match(line) or not line.strip():
                pass  # a list under a lead-in keeps its release, blank lines between items too
            else:
                named = trees | {v for m in _PARENS.finditer(line) for v in VERSION.findall(m[0])}
                block_other = bool(named - {tree_lines.tree.version}) and \
                    line.rstrip().endswith(":") and not line.lstrip().startswith("#")
        found = [_continued(line, m) for m in CITATION.finditer(line)]
        for match in BARE_LINES.finditer(line):
            if not any(a <= match.start() < b for a, b, _, _ in found) and last_path and \
                    number - last_line <= 1:
                found.append((match.start(), match.end(), "", match["spec"]))
        found.sort()
        spans = [] if fenced else _code_spans(line, found)
        other_tree = bool(trees - {tree_lines.tree.version}) or (
            block_other and tree_lines.tree.version not in trees)
        versions = {m[0] for m in VERSION.finditer(line)} - {tree_lines.tree.version}
        previous, chain = Claim(), []
        for index, (start, end, written, spec) in enumerate(found):
            if written:
                paths, why = tree_lines.resolve(written)
                if len(paths) == 1:
                    last_path, last_line = paths[0], number
            else:
                paths, why, written = [last_path], "", last_path
            if index and not line[found[index - 1][1]:start].strip(" `;,"):
                claim = Claim(previous.needles, previous.words, inherited=True)
            else:
                claim = _claim(line, found, index, spans)
            previous = claim
            shown = line[start:end] if found[index][2] else f"{last_path} {line[start:end]}"
            before = _VERSION_BEFORE.search(line, max(0, start - VERSION_REACH), start)
            after = _VERSION_AFTER.match(line, end)
            this_tree = not other_tree and not written.startswith("scvi/") and not (
                before and before[1] in versions) and not (after and after[1] in versions)
            if found[index][2]:
                last_judged = this_tree
            else:  # "line 356" after a citation of another release's file is of that file
                this_tree = this_tree and last_judged
            group = []
            for n, (first, last) in enumerate(_ranges(spec)):
                cite = Citation(number, start + 1, shown, paths[0] if len(paths) == 1 else "",
                                first, last)
                exact = this_tree and len(paths) == 1 and bool(found[index][2]) and n == 0
                _judge(cite, claim, paths,
                       "" if (versions or other_tree) and why == "no_file" else why,
                       written, tree_lines, this_tree=this_tree, exact=exact)
                group.append(cite)
                judged.append((len(out), cite, claim, written, exact))
            # A list of lines cites one thing, as do places of one claim side by side
            # ((a.py:12, b.py:40)): one line showing it is enough (the others are where it is
            # used, as 307 and 333 of a variable's def and use, or another side of it).
            # A slip of a few lines beside the code stays a finding.
            chain = chain + group if claim.inherited else group
            if any(cite.verdict == "shown" for cite in chain):
                for cite in chain:
                    if cite.verdict == "off" and (cite in group and not claim.inherited
                                                  or cite.away > INHERITED_NEAR):
                        cite.verdict, cite.message = "shown", ""
            out.extend(group)
    _judge_release_notes(lines, judged, tree_lines)
    if releases is not None and any(row[1].verdict in FINDINGS for row in judged):
        _judge_in_named(text, tree_lines.tree.version, judged, releases, also)
    return CitationReport(tree_lines.tree.version, out)


CHANGE_RELEASE = re.compile(
    r"(?i)\b(?:added|introduced|removed|deprecated|renamed|changed|fixed|dropped|arrived|"
    r"appeared|since|as of)\s+(?:in\s+)?(?:scvi-tools\s+|version\s+|v)?"
    r"(\d+\.\d+(?:\.\d+)?)(?![\w.]*\d)"
    r"|(?<![\w.])(\d+\.\d+(?:\.\d+)?)\s+(?:added|introduced|removed|deprecated|renamed|"
    r"changed|fixed|dropped|made|moved)\b")
"""A release a sentence dates a change to: "removed in 1.2.1", "since 1.4", "1.2.0 added"."""
_NOTES_HEADING = re.compile(r"^#+\s.*?(?<![\w.])(\d+\.\d+\.\d+)")


def _judge_release_notes(lines: list[str], judged: list, tree_lines: TreeLines) -> None:
    """Off: a line of the answer that dates a change to one release (:data:`CHANGE_RELEASE`,
    outside quotes, not another package's "anndata 0.10") and cites this tree's release notes
    only at lines under other releases' headings, none of which the line names ("it was
    removed in 1.2.1 (CHANGELOG.md:376)", where 376 is in 1.2.2's notes)."""
    by_line: dict[int, list[Citation]] = {}
    for _, cite, _, _, _ in judged:
        if cite.path.endswith("CHANGELOG.md"):
            by_line.setdefault(cite.line, []).append(cite)
    for number, cites in by_line.items():
        line = lines[number - 1]
        if any(c.verdict in FINDINGS or c.release for c in cites) \
                or OTHER_TREE.search(line) or TREE_NAMED.search(line):
            continue
        notes = tree_lines.lines(cites[0].path) or []
        known = tree_lines.notes_releases(cites[0].path)
        said = _QUOTED_TEXT.sub(" ", line)
        named = {v for m in CHANGE_RELEASE.finditer(said)
                 if _same_release({v := m[1] or m[2]}, known)  # not Python's "3.12"
                 and not of_other_package(said[max(0, m.start() - 40):m.start(m.lastindex)])}
        if len(named) != 1:
            continue
        sections = [_releases_of(notes, c.start, c.end) for c in cites]
        mentioned = set(_MENTIONED.findall(line))
        if any(not section or _same_release(named | mentioned, {r for r, _ in section})
               for section in sections):
            continue
        for cite, section in zip(cites, sections):
            release, heading = section[0]
            cite.verdict = "off"
            span = f"{cite.start}" if cite.start == cite.end else f"{cite.start}-{cite.end}"
            cite.message = (f"{cite.path}:{span} lies in {release}'s notes (heading at "
                            f"{heading}), not {next(iter(named))}'s")


_QUOTED_TEXT = re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d')
_MENTIONED = re.compile(r"(?<![\w.])(\d+\.\d+\.\d+)(?![\w.]*\d)")


def _releases_of(notes: list[str], start: int, end: int) -> list[tuple[str, int]]:
    """``(release, heading line)`` of the notes lines ``start``-``end`` cover: the release of
    the first and of each heading inside the range."""
    out = [found] if (found := _release_of(notes, start)) else []
    for n in range(start + 1, min(end, len(notes)) + 1):
        if (match := _NOTES_HEADING.match(notes[n - 1])):
            out.append((match[1], n))
    return out


def _release_of(notes: list[str], at: int) -> tuple[str, int] | None:
    """The release whose notes hold line ``at``: the nearest heading above it naming one."""
    for n in range(min(at, len(notes)), 0, -1):
        if (match := _NOTES_HEADING.match(notes[n - 1])):
            return match[1], n
    return None


def _same_release(named: set[str], releases: set[str]) -> bool:
    """Whether one of ``releases`` (1.2.1) is one of ``named`` ("1.2.1", or "1.2" for its
    series)."""
    return any(release == v or release.startswith(v + ".") for release in releases
               for v in named)


TREE_NAMED = re.compile(r"(?<![\w.])scvi-tools-(\d+\.\d+\.\d+(?:\.post\d+)?)(?![\w.]*\d)"
                        r"|\b(\d+\.\d+\.\d+(?:\.post\d+)?)(?:'s)?\s+(?:tree|sdist|source)\b")
"""A release whose tree the text says it read: ``scvi-tools-1.2.0`` (the tree's folder), "the
1.1.5 tree"."""
_PART = re.compile(r"#{1,2}\s")
"""A heading that starts a part of the answer (one question's, in a file of several)."""


def _trees_named(text: str, also: tuple) -> list[list[str]]:
    """For each line of ``text``, the releases whose trees its part of the answer (from one
    ``#``/``##`` heading to the next) names, ``also`` first."""
    out: list[list[str]] = []
    part: list[str] = []
    lines = text.splitlines()
    for line, role in zip(lines + ["# end"], line_roles(lines) + [OUTSIDE]):
        if role == OUTSIDE and _PART.match(line):  # not a comment in a code block
            named = [m[1] or m[2] for said in part for m in TREE_NAMED.finditer(said)]
            out.extend([list(dict.fromkeys([*also, *named]))] * len(part))
            part = []
        part.append(line)
    return out


def _judge_in_named(text: str, version: str, judged: list, releases, also: tuple) -> None:
    """The findings of ``judged`` judged again in the trees of the releases their part of the
    text names as read (``also`` first): see :func:`check_citations`. The lines of a list
    (``_manager.py:179, 419-422``) cite one thing there too: one showing it is enough."""
    named = _trees_named(text, also)
    known: frozenset | None = None  # the manifest's releases, read when a note needs them
    groups: dict[int, list] = {}
    for group, *row in judged:
        groups.setdefault(group, []).append(row)
    for rows in groups.values():
        if not any(cite.verdict in FINDINGS for cite, *_ in rows):
            continue
        line = rows[0][0].line
        missing = []
        for release in named[line - 1] if line <= len(named) else also:
            lines = releases(release) if release != version else None
            if lines is None:
                missing += [release] if release != version else []
                continue
            probes = [_probe(cite, claim, written, exact, lines) for cite, claim, written, exact
                      in rows]
            shown = any(verdict == "shown" for verdict, _ in probes)
            if shown or all(cite.verdict in ("no_file", "past_end") and there
                            and verdict not in FINDINGS
                            for (cite, *_), (verdict, there) in zip(rows, probes)
                            if cite.verdict in FINDINGS):
                for cite, *_ in rows:
                    if cite.verdict in FINDINGS:
                        cite.verdict = "shown" if shown else "unverified"
                        cite.message, cite.release = "", release
                break
        else:
            if missing and known is None:
                known = _known_releases()
            missing = [v for v in missing if v in (known or ())][:MAX_MISSING_NAMED]
            for cite, *_ in rows:
                if missing and cite.verdict in FINDINGS:
                    cite.message += (f" (not judged in {', '.join(missing)}: no cached tree; "
                                     f"fetch_tree.py --version {missing[0]} fetches it)")


MAX_MISSING_NAMED = 3
"""Releases without a cached tree a finding's note names (an answer may name many)."""


def _known_releases() -> frozenset:
    """The releases the shipped API manifest knows (a note suggests fetching only those)."""
    from .apifiles import load_releases
    from .errors import SkillPackageError

    try:
        return frozenset(load_releases().versions)
    except (SkillPackageError, OSError, ValueError):
        return frozenset()


def _probe(cite: Citation, claim: Claim, written: str, exact: bool,
           lines: TreeLines) -> tuple[str, bool]:
    """``(verdict, whether the cited file and line are there)`` of ``cite`` judged in the
    tree of ``lines``."""
    paths, why = lines.resolve(written)
    probe = Citation(cite.line, cite.col, cite.text, paths[0] if len(paths) == 1 else "",
                     cite.start, cite.end)
    _judge(probe, claim, paths, why, written, lines, this_tree=True, exact=exact)
    return probe.verdict, len(paths) == 1 and cite.start <= len(lines.lines(paths[0]) or [])


def _continued(line: str, match: re.Match) -> tuple[int, int, str, str]:
    """``(start, end, path, spec)`` of a citation with the numbers that continue it
    (``x.py:12`, `:30``, ``x.py:12; :40``)."""
    end, spec = match.end(), match["spec"]
    while more := CONTINUATION.match(line, end):
        end, spec = more.end(), f"{spec}, {more['spec']}"
    return match.start(), end, match["path"], spec


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for match in _NUMBERS.finditer(spec):
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        out.append((first, last) if last >= first else (first, first))
    return out


_SENTENCE_END = re.compile(r"[.!?]\s+(?=[A-Z`*(\[])")
VERSION = re.compile(r"(?<![\w.])\d+\.\d+\.\d+(?![\w.]*\d)")
_VERSION_BEFORE = re.compile(r"(?<![\w.])(\d+\.\d+\.\d+)[\s:`(,]*\Z")
"""``1.3.3 `src/...:145``: the citation is of that release's lines."""
_VERSION_AFTER = re.compile(r"[`\s]*[,;]\s*(?:in\s+)?(\d+\.\d+\.\d+)(?![\w.]*\d)[^()]{0,12}\)")
"""``(`src/...:65`, 1.0.4)``: the release that closes the citation's parentheses."""
_PARENS = re.compile(r"\([^()]*\)")
VERSION_REACH = 40
"""How far before a citation that release number is looked for."""
OTHER_TREE = re.compile(r"\b(\d+\.\d+\.\d+)(?:'s)?\s+(?:tree|sdist|source)\b")
"""``1.2.2 tree``: the line cites another release's lines, which this tree cannot judge; a
line that names one (or a release in parentheses) and ends with ``:`` ("Facts from the 1.1.5
tree:", "Where it comes from (1.4.2):") says so of the list below it (up to the next line
that is not a list item, unless an item names this tree)."""
_WORD = re.compile(r"[A-Za-z]{5,}")
_WORD_ON_LINE = re.compile(r"[A-Za-z]+")
"""The words of a cited line, for the sentence's words to start."""
PLAIN_WORDS = frozenset({
    "which", "their", "there", "about", "other", "these", "those", "where", "while", "would",
    "could", "should", "because", "since", "after", "before", "every", "without", "within",
    "defaults", "default", "returns", "passes", "passed", "calls", "called", "method",
    "function", "class", "parameter", "argument", "value", "values", "line", "lines", "source",
})


def _code_spans(line: str, found: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str]]:
    """``(start, end, code)`` of the line's code spans and long quotes, less those that hold a
    citation (a backquoted path)."""
    spans = []
    for match in _CODE_SPAN.finditer(line):
        if not any(match.start() <= a and b <= match.end() for a, b, _, _ in found):
            spans.append((match.start(), match.end(), match["code"].strip()))
    for match in _QUOTE.finditer(line):
        if not any(a <= match.start() < b for a, b, _ in spans):
            spans.append((match.start(), match.end(), QUOTED + " ".join(match["text"].split())))
    return sorted(spans)


def _claim(line: str, found: list[tuple[int, int, str, str]], index: int,
           spans: list[tuple[int, int, str]]) -> Claim:
    """The text before the citation back to the previous one or the sentence's start; when
    nothing but punctuation is there (``- (x.py:12): `code```), the text after it up to the
    next citation."""
    begin = found[index - 1][1] if index else 0
    start, end = found[index][0], found[index][1]
    code = [(a, b) for a, b, _ in spans]
    covered = _covered(len(line), code)
    cuts = [m.end() for m in _SENTENCE_END.finditer(line, begin, start) if not covered[m.start()]]
    begin = cuts[-1] if cuts else begin
    if _says_something(line, begin, start, code, covered):
        inside = [s for s in spans if begin <= s[0] and s[1] <= start][::-1]
        return _make_claim(inside, _outside(line, begin, start, covered))
    stop = found[index + 1][0] if index + 1 < len(found) else len(line)
    inside = [s for s in spans if end <= s[0] and s[1] <= stop]
    return _make_claim(inside, _outside(line, end, stop, covered))


def _covered(length: int, code: list[tuple[int, int]]) -> bytearray:
    """1 at each position of a line that a code span covers (one pass, not one per
    character and span: a line of thousands of spans)."""
    covered = bytearray(length + 1)
    for a, b in code:
        b = min(b, length)
        if b > a:
            covered[a:b] = b"\x01" * (b - a)
    return covered


def _says_something(line: str, begin: int, end: int, code: list[tuple[int, int]],
                    covered: bytearray) -> bool:
    return any(begin <= a and b <= end for a, b in code) or \
        sum(ch.isalnum() for ch in _outside(line, begin, end, covered)) > 2


def _outside(line: str, begin: int, end: int, covered: bytearray) -> str:
    return "".join(ch for at, ch in enumerate(line[begin:end], start=begin) if not covered[at])


_SETTING = re.compile(r"([A-Za-z_]\w*)\s*=\s*[^=\s(),][^(),]*")


def _make_claim(spans: list[tuple[int, int, str]], prose: str) -> Claim:
    needles = [found for found in (_span_needles(code) for _, _, code in spans) if found]
    words = {w.lower() for w in _WORD.findall(prose)} - PLAIN_WORDS
    settings = [m[1] for _, _, code in spans if (m := _SETTING.fullmatch(code.strip()))
                and _DISTINCT.fullmatch(m[1])]
    return Claim(needles, words, settings=settings)


def _span_needles(span: str) -> list[str]:
    if span.startswith(QUOTED):
        return [span[len(QUOTED):]]  # a quote is found whole, not by its words
    if CITATION.fullmatch(span) or "/" in span and " " not in span:
        return []  # a path, not code
    if not span.isascii():
        return []  # a formula (``log[(1-δ)·ZINB + δ·NB]``), not code
    words = _IDENT.findall(span)
    if len(words) == 1 and words[0] == span.strip("()"):
        return [] if span in COMMON or len(span) < 2 else [words[0]]
    out = []
    if len(span) >= 6:
        out.append(span)
    if "." in span and len(words) >= 2 and "(" not in span:
        out.append(words[-1])  # scvi.model.SCVI.train -> train's own line
    out.extend(m[1] for m in _KWARG_KEY.finditer(span) if len(m[1]) >= 2)
    out.extend(w for w in words if len(w) >= 4 and w not in COMMON)
    return [w for w in dict.fromkeys(out) if w not in COMMON]


def _judge(cite: Citation, claim: Claim, paths: list[str], why: str, written: str,
           tree_lines: TreeLines, *, this_tree: bool, exact: bool) -> None:
    """The citation's verdict. ``this_tree``: the line cites this tree's lines (not a
    traceback's ``scvi/...`` frame, not "the 1.2.2 tree"); ``exact``: besides, the path was
    written and the line is the first of its list (a number past the end then is a wrong
    line, not another file or a count)."""
    if not paths:
        if why == "no_file":
            cite.verdict = "no_file"
            cite.message = f"{written}: no such file in the scvi-tools {tree_lines.tree.version} tree"
        elif why == "unreadable":  # there, but not judged: it may be right
            cite.message = f"{written}: the tree's file cannot be read; not judged"
        return
    if len(paths) > 1:  # a tail several files end with: shown in one of them, else unjudged
        if any(_shows(path, tree_lines.lines(path) or [], cite, claim) for path in paths):
            cite.verdict = "shown"
        return
    lines = tree_lines.lines(paths[0]) or []
    if exact and cite.start < 1:
        cite.verdict = "bad_range"
        cite.message = f"{cite.text}: there is no line 0 (lines count from 1)"
        return
    if not 1 <= cite.start <= len(lines):
        if exact:
            cite.verdict = "past_end"
            cite.message = f"{cite.path}:{cite.start} is past the file's end ({len(lines)} lines)"
        return
    if exact and cite.end - len(lines) > len(lines) - cite.start + 1:
        # a range mostly past the file's end: lines never read (a few past it, as a section
        # cited to its next heading, are a loose end, not a wrong place)
        cite.verdict = "past_end"
        cite.message = (f"{cite.path}:{cite.start}-{cite.end} ends past the file's end "
                        f"({len(lines)} lines)")
        return
    if cite.path.endswith(PROSE) and this_tree and _judge_blank(cite, claim, lines):
        return
    if not claim.needles:
        return
    if _shows(paths[0], lines, cite, claim):
        cite.verdict = "shown"
        if this_tree and not claim.inherited and cite.end - cite.start < WIDE:
            _judge_settings(cite, claim, paths[0], lines)
            if cite.verdict == "shown":
                _judge_specific(cite, claim, paths[0], lines)
        return
    prose = cite.path.endswith(PROSE)
    if not this_tree or cite.end - cite.start >= WIDE or cite.end > cite.start and prose:
        return  # a frame's path, or a region rather than a line
    if prose and lines[cite.start - 1].lstrip().startswith("#"):
        return  # a heading cites its section (a CHANGELOG release)
    first, last = _extent(cite.path, lines, cite.start, min(cite.end, len(lines)))
    text = {w.lower() for w in _WORD_ON_LINE.findall(" ".join(lines[first - 1:last]))}
    if sum(any(t.startswith(word) for t in text) for word in claim.words) >= VETO_WORDS:
        return  # the cited lines say what the sentence says, in words: no code to check
    enclosing = _enclosing_names(lines, first) if not prose else set()
    for needles in claim.needles:
        if claim.inherited:  # another place's code: only a distinctive name just beside it
            needles = [n for n in needles if _DISTINCT.fullmatch(n)]
        needles = [n for n in needles if n not in enclosing]  # the def the line lies in
        near = [(at, needle) for needle in needles
                if (at := _nearest(needle, lines, first, last,
                                   INHERITED_NEAR if claim.inherited else NEAR))]
        if near:
            at, needle = min(near, key=lambda item: abs(item[0] - cite.start))
            cite.verdict, cite.away = "off", max(first - at, at - last)
            span = f"{cite.start}" if cite.start == cite.end else f"{cite.start}-{cite.end}"
            cite.message = f"{cite.path}:{span} does not show `{needle}`; line {at} does"
            return


BLANK_NEAR = 3
"""How far past cited lines that hold no text the sentence's words may be for the citation to
be judged off by them (:func:`_judge_blank`)."""
BLANK_WORDS = 2
"""How many of the sentence's longer words that line must hold."""
_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})")


def _judge_blank(cite: Citation, claim: Claim, lines: list[str]) -> bool:
    """Off when a Markdown citation's lines hold no text, only blank lines and the end of a
    code block (```` ``` ```` after the block's code), and a line at most :data:`BLANK_NEAR`
    beyond them holds :data:`BLANK_WORDS` of the sentence's longer words: the sentence's
    text just past a fence, cited a line or two early. An opening fence cites the block it
    opens, so it is never judged here. True when judged."""
    last = min(cite.end, len(lines))
    cited = [n for n in range(cite.start, last + 1) if lines[n - 1].strip()]
    if any(not _FENCE.match(lines[n - 1]) for n in cited):
        return False  # text on a cited line (nearly every citation: no fence count needed)
    fences = [n for n in range(1, last + 1) if _FENCE.match(lines[n - 1])]
    if any(fences.index(n) % 2 == 0 for n in cited):
        return False  # an opening fence: it cites its block
    best = None
    for at in range(max(1, cite.start - BLANK_NEAR), min(len(lines), last + BLANK_NEAR) + 1):
        if cite.start <= at <= last:
            continue
        held = {w.lower() for w in _WORD.findall(lines[at - 1])}
        if len(claim.words & held) >= BLANK_WORDS and (
                best is None or abs(at - cite.start) < abs(best - cite.start)):
            best = at
    if best is None:
        return False
    cite.verdict, cite.away = "off", max(cite.start - best, best - last)
    span = f"{cite.start}" if cite.start == cite.end else f"{cite.start}-{cite.end}"
    cite.message = (f"{cite.path}:{span} holds no text (blank lines, a code block's end); "
                    f"line {best} says it")
    return True


SPECIFIC_NEAR = 5
"""How far beyond the cited lines the sentence's one expression may be for the citation to be
judged off by it (:func:`_judge_specific`)."""


def _judge_specific(cite: Citation, claim: Claim, path: str, lines: list[str]) -> None:
    """Off when the sentence names one piece of code beside the citation, an expression
    rather than a name (``adata.obs[self.attr_keys]``, ``exp(library)``), that is on none of
    the cited lines but a line or few beyond them, though a plainer part of it is on them
    (``_combine_fields``'s def line, cited for the expression four lines below). Not: a
    string literal, a quote, a keyword whose name the lines hold with another value, code
    the lines hold but for quotes, or a def's decorator just above it."""
    if len(claim.needles) != 1:
        return  # several pieces of code: the shown one may be what is cited
    specific = [n for n in claim.needles[0] if len(n) >= 10 and not _IDENT.fullmatch(n)
                and not n.startswith((QUOTED, '"', "'"))]
    if not specific:
        return
    first, last = _extent(path, lines, cite.start, min(cite.end, len(lines)))
    while first > 1 and lines[first - 2].lstrip().startswith("@"):
        first -= 1  # a def cited with its decorators
    held = [line.replace('"', "").replace("'", "") for line in lines[first - 1:last]]
    for needle in specific:
        key = _KWARG_KEY.match(needle)
        if _on(needle.replace('"', "").replace("'", ""), held) or key and _on(key[1], held):
            return
    near = [(at, n) for n in specific if (at := _nearest(n, lines, first, last, SPECIFIC_NEAR))]
    if near:
        at, needle = min(near, key=lambda item: abs(item[0] - cite.start))
        cite.verdict, cite.away = "off", max(first - at, at - last)
        span = f"{cite.start}" if cite.start == cite.end else f"{cite.start}-{cite.end}"
        cite.message = f"{cite.path}:{span} does not show `{needle}`; line {at} does"


SETTING_NEAR = 3
"""How far from the cited lines a stated parameter may be for the citation to be judged off
by it (a signature's neighbouring line)."""


def _judge_settings(cite: Citation, claim: Claim, path: str, lines: list[str]) -> None:
    """Off when the sentence states several parameters' values (``a=False``, ``b=False``)
    and one of them is not on the cited lines but is declared a line or two away (a line
    that starts with it: ``a: bool = False,`` of a signature, ``a = ...``), as a range of
    a signature's lines one short of its parameters."""
    if len(claim.settings) < 2:
        return
    first, last = _extent(path, lines, cite.start, min(cite.end, len(lines)))
    for name in claim.settings:
        if _on(name, lines[first - 1:last], loose=False):
            continue
        at = _nearest(name, lines, first, last, SETTING_NEAR)
        if at and re.match(r"\s*" + re.escape(name) + r"\s*(?::\s*\S|=)", lines[at - 1]):
            cite.verdict, cite.away = "off", max(first - at, at - last)
            span = f"{cite.start}" if cite.start == cite.end else f"{cite.start}-{cite.end}"
            cite.message = f"{cite.path}:{span} does not show `{name}`; line {at} does"
            return


def _shows(path: str, lines: list[str], cite: Citation, claim: Claim) -> bool:
    """Whether the cited lines of ``path`` (``lines``: its text; a def's whole signature, a
    list item's whole text) hold one of the claim's needles, or lie inside the def or class
    it names (looked up only when no needle is on them)."""
    if not claim.needles or not 1 <= cite.start <= len(lines):
        return False
    first, last = _extent(path, lines, cite.start, min(cite.end, len(lines)))
    needles = [needle for found in claim.needles for needle in found]
    if any(_on(needle, lines[first - 1:last]) for needle in needles):
        return True
    if path.endswith(PROSE):
        return False
    opener = _statement_start(lines, first)
    if opener < first and not _HEADER.match(lines[opener - 1]) \
            and any(_on(needle, lines[opener - 1:opener]) for needle in needles):
        return True  # a call's arguments, whose first line names the call the sentence quotes
    enclosing = _enclosing_names(lines, first)
    if not set(needles) & enclosing:
        return False
    # Inside the def the sentence names: shown, unless the sentence's other code is on a line
    # near by (`train()` with `early_stopping: bool = False` cited two lines off).
    return not any(_nearest(needle, lines, first, last) for needle in needles
                   if needle not in enclosing)


_HEADER = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")
_OPENER = re.compile(r"^(\s*)([A-Za-z_]\w*)\s*(?::[^=]*)?=\s*[\[({]\s*$")
"""``__all__ = [``: a line inside the bracket is the name's (one of ``__all__``'s entries)."""


def _enclosing_names(lines: list[str], at: int) -> set[str]:
    """The names of the defs and classes whose bodies hold line ``at``."""
    names: set[str] = set()
    indent = None
    for n in range(at - 1, -1, -1):
        text = lines[n]
        if not text.strip():
            continue
        width = len(text) - len(text.lstrip())
        if indent is None:  # a signature's closing line is inside its def
            indent = width + text.lstrip().startswith((")", "]", "}"))
            continue
        if width < indent and not text.lstrip().startswith((")", "]", "}")):
            header = _HEADER.match(text) or _OPENER.match(text)
            if header:
                names.add(header[2])
            indent = width
            if width == 0:
                break
    return names


_ITEM_START = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|#{1,6}\s|\|)")


def _extent(path: str, lines: list[str], first: int, last: int) -> tuple[int, int]:
    """The lines a citation stands for: a decorator's or a ``def``/``class`` line's whole
    signature; in Markdown, the whole list item or paragraph of the first and last line."""
    if path.endswith(PROSE):
        while first > 1 and lines[first - 2].strip() and not _ITEM_START.match(lines[first - 1]):
            first -= 1
        while last < len(lines) and lines[last].strip() and not _ITEM_START.match(lines[last]):
            last += 1
        return first, last
    at = first
    while at < len(lines) and lines[at - 1].lstrip().startswith("@"):
        at += 1
    last = max(last, at)
    if lines[at - 1].lstrip().startswith(("def ", "async def ", "class ")):
        at = last  # a def line cites its whole signature, to the colon
    depth = sum(_depth(t) for t in lines[first - 1:at - 1])
    for end in range(at, min(len(lines), at + SIGNATURE_LINES) + 1):
        depth += _depth(lines[end - 1])
        if end >= last and depth <= 0:
            return first, end  # a statement's first line cites all of it (``raise X(`` ...)
    return first, last


def _statement_start(lines: list[str], first: int) -> int:
    """The first line of the bracketed statement that line ``first`` continues (the call
    ``l_encoder = Encoder(`` above its arguments), or ``first`` when no bracket above it is
    open there."""
    depth = 0
    for above in range(first - 1, max(0, first - 1 - SIGNATURE_LINES), -1):
        depth += _depth(lines[above - 1])
        if depth > 0:
            return above
    return first


def _depth(line: str) -> int:
    code = line.split("#", 1)[0]
    return sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")


def _on(needle: str, lines: list[str], *, loose: bool = True) -> bool:
    """Whether ``needle`` is on ``lines``: an identifier as a whole word (``loose``: a long one
    inside a longer one too), other code or a quote anywhere, spaces aside."""
    if _IDENT.fullmatch(needle) and (len(needle) < LOOSE_IDENT or not loose):
        pattern = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(needle) + r"(?![A-Za-z0-9_])",
                             re.IGNORECASE if loose else 0)  # "Modalities cannot be None."
        return any(pattern.search(line) for line in lines)
    if loose and _IDENT.fullmatch(needle):
        return any(needle.lower() in line.lower() for line in lines)
    flat = " ".join(" ".join(lines).split())
    return " ".join(needle.split()) in flat


def _nearest(needle: str, lines: list[str], start: int, end: int, reach: int = NEAR) -> int:
    """The line within :data:`NEAR` of ``start``-``end`` that holds ``needle``, nearest first
    (0: none)."""
    for distance in range(1, reach + 1):
        for at in (start - distance, end + distance):
            if 1 <= at <= len(lines) and _on(needle, [lines[at - 1]], loose=False):
                return at
    return 0

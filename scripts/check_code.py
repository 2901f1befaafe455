#!/usr/bin/env python3
"""Check the scvi-tools names and keywords in .py files, notebooks and Markdown against one release.

Reads each file with ``ast`` (notebooks: the code cells, magics and shell lines skipped; the
cells share names; Markdown, such as an answer's draft: its Python code fences; ``-``: the
code or Markdown on stdin) and checks every call that is clearly scvi-tools against the
shipped API index of the chosen release (1.0.0 onwards; without --version or --python, run
in the user's project, the release installed there, else the pinned one): unknown names, and
keywords the callable does not take (its **kwargs followed only where they are known to be
rejected: setup_anndata's go to register_fields, train's to the Lightning Trainer), and the
keys of a literal
plan_kwargs (the training plan's or its module's loss()'s) or of a dict keyword the method
passes on beside keywords it sets itself (datasplitter_kwargs={"batch_size": ...}: TypeError,
multiple values). Each message says when the name or keyword went or came, and what replaces
it. Nothing is imported or run.

In Markdown it also checks the calls an answer's sentences recommend in inline code
(`model.train(..., gradient_clip_val=...)`), each bound to the model its sentence, paragraph
or section names; a span shown as wrong, old or replaced, or in a paragraph naming another
release, is not checked (``scvi_skill.runtime.prosecode``).

In Markdown (an answer's draft) it also checks the ``path:line`` citations against the tree
(``--tree``, else the discovered one): a cited line that does not show the code the sentence
names beside it while a line a few away does ("src/scvi/train/_trainingplans.py:174 does not
show `lr`; line 175 does"), a line past the file's end, a src/scvi or docs path the tree lacks.
A citation with no code beside it is not judged (``citations`` in ``--json`` counts them); a
finding is judged again in the cached tree of ``--version V`` and of the releases whose trees
the answer names, and in the user's installed scvi package for its release: that of
``--python PY``, or, run in the user's project, the one in $VIRTUAL_ENV, $CONDA_PREFIX,
./.venv or ./venv (SCVI_SKILL_NO_PROJECT=1: not). A release newer than the newest one
indexed is checked against the newest, with a warning (``requested`` in ``--json``).

After the findings it notes the proven pitfalls (``references/pitfalls.yaml``, each with a test
that runs scvi-tools 1.5.1) of the calls the code makes: a call with the keyword or literal a
pitfall is about (``TrainerConfig(early_stopping=True)`` beside ``SCVI``), or a model's method
given data other than the model's own (``scanvi.predict(query)``); at most three a file in
text, up to 2,000 in ``--json`` (``scvi_skill.runtime.callpitfalls``). Notes never change the exit
code.

Usage:
  python3 scripts/check_code.py analysis.py                      # against the pinned release
  python3 scripts/check_code.py --version 1.3.2 notebook.ipynb
  python3 scripts/check_code.py --python .venv/bin/python src/   # the release that Python runs
  python3 scripts/check_code.py answer.md                        # its fences, spans, citations
  python3 scripts/check_code.py - < snippet.py                   # code (or Markdown) on stdin
  python3 scripts/check_code.py --list-versions

JSON: {"version" (the release checked against), "requested" (a newer release asked for),
       "files", "findings": [{"path", "line", "col", "name", "kwarg", "message",
       "exists_in", "cell" (notebooks), "check": "citation" (citations only)}],
       "citations": {"tree", "cited", "shown", "unverified", "findings", "other_release"}
       (Markdown only),
       "pitfalls": [{"path", "line", "call", "id", "claim", "fix", "cite", "cell",
                     "evidence_found"?}]}   (checked against another release whose source is at
       hand, the user's installed package or its cached tree: whether that release's evidence
       file holds the pitfall's evidence token; the text says so when it does not)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.apiindex import (  # noqa: E402
    ReleaseApi,
    load_history,
    load_migrations,
    load_release,
    load_releases,
)
from scvi_skill.runtime.codelint import (  # noqa: E402
    MARKDOWN_SUFFIXES,
    CodeFinding,
    History,
    is_markdown,
    lint_file,
)
from scvi_skill.runtime.callpitfalls import MAX_NOTES, notes_for_calls, usable_pitfall  # noqa: E402
from scvi_skill.runtime.files import read_stdin  # noqa: E402
from scvi_skill.runtime.errors import (  # noqa: E402
    bad_path,
    refuse_blank,
    SkillPackageError,
    TreeNotFound,
    UsageError,
    print_error,
    warn,
    warn_unreadable,
)

MAX_SHOWN = 200
"""The text output lists at most this many findings."""
MAX_JSON_FINDINGS = 2000
"""--json lists at most this many findings and pitfall notes (``findings_omitted``,
``pitfalls_omitted``: how many more), so that a generated file cannot flood the agent."""
MAX_STDIN_BYTES = 16 << 20
"""The most of stdin (``-``) read: a notebook with outputs fits; an endless pipe does not."""
SUFFIXES = (".py", ".ipynb")
"""What a folder is searched for; a Markdown file is checked when named (its fences)."""
STDIN = "-"
SKIP_DIRS = frozenset({".git", ".venv", "venv", "__pycache__", ".ipynb_checkpoints",
                       "node_modules", "site-packages", ".tox"})
EPILOG = """\
exit codes:
  0  no findings
  1  findings printed
  2  usage error (no such file, no .py/.ipynb under a folder, an unusable --python,
     empty stdin)
  4  no API index for that version and it is not newer than the newest one (the known
     releases are listed)
  6  the shipped API index is missing or unreadable
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="check_code.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=".py, .ipynb or .md files, folders to search for .py and .ipynb, "
                             "or - for code or Markdown on stdin")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--version", metavar="V",
                        help=f"scvi-tools release to check against (default: {PINNED_SCVI_TOOLS})")
    source.add_argument("--python", metavar="PY",
                        help="check against the scvi-tools this interpreter (or venv/conda "
                             "folder) has installed (default: off)")
    parser.add_argument("--list-versions", action="store_true",
                        help="print the releases with an API index and exit")
    parser.add_argument("--tree", metavar="PATH",
                        help="scvi-tools tree that Markdown's path:line citations cite "
                             "(default: discovered, as for the other scripts)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: text)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        releases = load_releases()
        if args.list_versions:
            print(json.dumps({"versions": releases.versions}) if args.json
                  else "\n".join(releases.versions))
            return 0
        if not args.paths:
            raise UsageError("no PATH given", hint="Name the .py or .ipynb files to check")
        refuse_blank(("--version", args.version), ("--tree", args.tree))
        installed = None  # the --python interpreter's scvi package, for its citations
        if args.version:
            version = args.version
        elif args.python is not None:
            version, installed = _python_version(args.python)
        else:
            version, installed = _project_version(releases)
        checked = version
        if version not in releases.files and releases.newer(version):
            checked = releases.newest
            warn(f"scvi-tools {version} is newer than the newest release this skill indexes "
                 f"({checked}): checked against {checked}, so a name or keyword {version} "
                 f"added is reported unknown and one it removed is not caught; a skill "
                 f"refreshed for {version} checks it exactly")
        api = ReleaseApi(load_release(releases, checked))
        history = History.lazy(lambda: (load_history(releases), load_migrations()))
        files = collect_files(args.paths)
        findings, citations, notes = [], Citations(args.tree, version, installed), []
        for path, shown, text in files:
            if text is None and path.suffix in MARKDOWN_SUFFIXES:
                try:  # read once for both checks
                    text = path.read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError):
                    pass  # lint_file reports it
            markdown = text if path.suffix in MARKDOWN_SUFFIXES else None
            calls: list = []
            found = lint_file(path, shown, api, history, text, prose=True, calls=calls) \
                + citations.check(shown, markdown)
            findings.extend(sorted(found, key=lambda f: (f.cell or 0, f.line, f.col)))
            if calls:
                notes.append(notes_for_calls(shown, calls, _pitfalls()))
        absent = _evidence_absent(notes, version, installed)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    except OSError as err:  # a path the user gave that the system refuses (too long, a loop)
        code = bad_path(err)
        if code is None:
            raise
        return code
    if args.json:
        data = {"version": checked, "files": len(files),
                "findings": [f.to_dict() for f in findings[:MAX_JSON_FINDINGS]]}
        if len(findings) > MAX_JSON_FINDINGS:
            data["findings_omitted"] = len(findings) - MAX_JSON_FINDINGS
        if checked != version:
            data["requested"] = version
        if citations.summary:
            data["citations"] = citations.summary
        pitfalls = [dict(note.to_dict(), **({"evidence_found": absent[note.id] is None}
                                            if absent and note.id in absent else {}))
                    for file_notes in notes for note in file_notes]
        data["pitfalls"] = pitfalls[:MAX_JSON_FINDINGS]
        if len(pitfalls) > MAX_JSON_FINDINGS:
            data["pitfalls_omitted"] = len(pitfalls) - MAX_JSON_FINDINGS
        print(json.dumps(data, indent=1))
    else:
        for finding in findings[:MAX_SHOWN]:
            print(f"{finding.location()}: {finding.message}")
        if len(findings) > MAX_SHOWN:
            print(f"(+{len(findings) - MAX_SHOWN} more findings: --json lists up to "
                  f"{MAX_JSON_FINDINGS})")
        shown_notes = [n for file_notes in notes for n in file_notes[:MAX_NOTES]]
        noted = sum(len(file_notes) for file_notes in notes)
        if shown_notes:
            print(f"proven pitfalls of these calls (scvi-tools {PINNED_SCVI_TOOLS}; advice, "
                  "not findings):")
            for note in shown_notes:
                lacks = (absent or {}).get(note.id)
                print(f"  {note.text()}" + (f" (proven on {PINNED_SCVI_TOOLS} only: {checked}'s "
                                            f"{lacks[0]} lacks its evidence {lacks[1]!r})"
                                            if lacks else ""))
        hidden = noted - len(shown_notes)
        if hidden:
            print(f"  (+{hidden} more pitfall notes: --json lists up to {MAX_JSON_FINDINGS})")
        cited = citations.summary
        tail = (f"; citations: {cited['cited']} against the {cited['tree']} tree, "
                f"{cited['shown']} show what they cite"
                + (f" ({cited['other_release']} in another release's tree)"
                   if cited.get("other_release") else "")
                + f", {cited['unverified']} not judged"
                if cited else "")
        tail += f"; {noted} pitfall note(s)" if noted else ""
        print(f"{len(findings)} finding(s) in {len(files)} file(s), scvi-tools {checked}{tail}",
              file=sys.stderr)
    warn_unreadable()  # tree files a citation needed and the account could not read
    return 1 if findings else 0


class Citations:
    """The path:line citations of the Markdown files, checked against the tree (found once,
    when the first Markdown file is read; without one, a note on stderr and no check). A
    finding is judged again in the cached tree of ``version`` (the release the answer is
    for) and of the releases whose trees its part of the answer names
    (:func:`~scvi_skill.runtime.citations.check_citations`)."""

    def __init__(self, tree_arg: str | None, version: str = "", installed=None) -> None:
        self.tree_arg = tree_arg
        self.also = tuple(dict.fromkeys([v for v in (version, getattr(installed, "version", ""))
                                         if v]))
        self.installed = installed
        self.releases = None
        self.lines = None
        self.missing = False
        self.summary: dict = {}
        if tree_arg:  # a --tree that is not a tree is an error even with no Markdown to check
            self._open()

    def _open(self) -> None:
        from scvi_skill.runtime.citations import TreeLines
        from scvi_skill.runtime.tree import discover_tree

        try:
            self.lines = TreeLines(discover_tree(self.tree_arg))
        except TreeNotFound as err:
            if self.tree_arg:
                raise
            if self.installed is not None:
                # No tree fetched: the user's installed package still shows its src/scvi.
                warn(f"{err}: citations of src/scvi checked in the scvi-tools "
                     f"{self.installed.version} installed in {self.installed.root}; those of "
                     f"docs/, tests/ and CHANGELOG.md not judged")
                self.lines = TreeLines(self.installed)
                return
            self.missing = True
            warn(f"citations not checked: {err}")

    def check(self, shown: str, text: str | None) -> list[CodeFinding]:
        """The citation findings of a Markdown file's ``text`` (None: not Markdown, or
        unreadable)."""
        if text is None or self.missing:
            return []
        from scvi_skill.runtime.citations import cached_releases, check_citations

        if self.lines is None:
            self._open()
            if self.lines is None:
                return []
        if self.releases is None:
            self.releases = cached_releases(self.installed)
        report = check_citations(text, self.lines, self.releases, self.also)
        for key, value in report.summary().items():
            self.summary[key] = value if key == "tree" else self.summary.get(key, 0) + value
        return [CodeFinding(shown, c.line, c.col, c.text, "", c.message, [], check="citation")
                for c in report.findings]


_PITFALLS: list[dict] | None = None


def _pitfalls() -> list[dict]:
    """The shipped index's pitfalls (read once); none, with a warning, when the index cannot
    be read: the findings do not depend on it."""
    global _PITFALLS
    if _PITFALLS is None:
        from scvi_skill.runtime.index import load_index

        try:
            entries = load_index().get("pitfalls")
        except SkillPackageError as err:
            warn(f"pitfalls not noted: {err}")
            entries = []
        _PITFALLS = [e for e in entries if usable_pitfall(e)] \
            if isinstance(entries, list) else []
    return _PITFALLS


def _evidence_absent(notes: list, version: str, installed) -> dict | None:
    """For code checked against another release than the pinned one, whose source is at
    hand (the user's installed package, else that release's cached tree): the pitfalls
    noted whose evidence could be looked up there, ``id -> (path, token)`` when that
    release's evidence file lacks the token, ``id -> None`` when it has it (the pitfalls are
    proven on the pinned release). None when there is no such source."""
    if version == PINNED_SCVI_TOOLS or not any(notes):
        return None
    from scvi_skill.runtime.tree import cached_tree, open_tree, read_text

    tree = installed if installed is not None and installed.version == version else None
    if tree is None and (cached := cached_tree(version)) is not None:
        try:
            tree = open_tree(cached)
        except SkillPackageError:
            tree = None
    if tree is None:
        return None
    evidence = {e["id"]: e.get("evidence") or {} for e in _pitfalls()}
    absent = {}
    for note in {n.id: n for file_notes in notes for n in file_notes}.values():
        path, token = evidence.get(note.id, {}).get("path"), evidence.get(note.id, {}).get("token")
        if not path or not token or not tree.holds(path):
            continue  # an installed package has no docs/ to look in: not known, not absent
        try:
            text = read_text(tree.to_disk(path))
        except OSError:
            text = ""
        absent[note.id] = None if token in text else (path, token)
    return absent


def _project_version(releases):
    """``(version, tree)`` with neither --version nor --python: run in the user's project
    (:func:`.tree.project_release`), the release installed there, whose names are checked
    and whose own files judge the citations (the pinned release's too when no tree of it is
    cached); else the pinned release and None. A project
    release the skill has no API index of, and none after, is checked against the pinned
    release (its citations still in its own files); each is said on stderr."""
    from scvi_skill.runtime.tree import project_release

    project = project_release()  # the pinned release only when no tree of it is cached
    if project is None:
        return PINNED_SCVI_TOOLS, None
    if project.version == PINNED_SCVI_TOOLS:  # its files judge citations with no tree cached
        return PINNED_SCVI_TOOLS, project
    if project.version in releases.files or releases.newer(project.version):
        warn(f"checking against the project's scvi-tools {project.version}, installed in "
             f"{project.root} (--version V checks another release)")
        return project.version, project
    warn(f"the project's scvi-tools {project.version} (installed in {project.root}) has no API "
         f"index here ({releases.versions[0]}-{releases.newest}): its names are checked "
         f"against {PINNED_SCVI_TOOLS}, its citations in its own files")
    return PINNED_SCVI_TOOLS, project


def _python_version(python: str):
    """``(version, tree)``: the scvi-tools release the interpreter has installed, and its
    installed package as a tree (None when it cannot be opened): the user's own files, in
    which an answer's citations for that release are judged."""
    from scvi_skill.runtime.envprobe import probe  # only here: it costs imports
    from scvi_skill.runtime.tree import open_tree

    report = probe(python)
    version = report["packages"].get("scvi-tools")
    if version is None:
        raise UsageError(f"scvi-tools is not installed in {report['python']['path']}",
                         hint="Pass --version V for the release the code is meant for")
    try:
        tree = open_tree(report["scvi_site"]) if report.get("scvi_site") else None
    except SkillPackageError:
        tree = None
    return version, tree if tree is not None and tree.version == version else None


def collect_files(paths: list[str]) -> list[tuple[Path, str, str | None]]:
    """``(path, shown, text)`` for every file named (.py, .ipynb, .md) or .py/.ipynb found
    under a folder, sorted (``text`` None: read it later); ``-`` (stdin, once) read now, as
    ``stdin.md`` or ``stdin.py`` by its contents."""
    found: list[tuple[Path, str, str | None]] = []
    if paths.count(STDIN) > 1:
        raise UsageError("stdin (-) given more than once")
    for text in paths:
        if text == STDIN:
            raw, cut = read_stdin(MAX_STDIN_BYTES)
            if cut:
                raise UsageError(f"stdin holds more than {MAX_STDIN_BYTES >> 20} MiB",
                                 hint="Save it to a file and pass the file's path")
            try:  # strict UTF-8: a text stream would pass undecodable bytes on as surrogates
                content = raw.decode("utf-8-sig")
            except UnicodeDecodeError as err:
                raise UsageError(f"stdin is not text: {err}") from None
            if not content.strip():
                raise UsageError("nothing on stdin to check",
                                 hint="Pipe the code or Markdown in: check_code.py - < answer.md")
            name = "stdin.ipynb" if _is_notebook(content) else \
                "stdin.md" if is_markdown(content) else "stdin.py"
            found.append((Path(name), "<stdin>", content))
            continue
        path = Path(text).expanduser()
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as err:  # a name too long for the filesystem, say
            raise UsageError(f"cannot read {text[:80]!r}: {err.strerror or err}") from None
        if is_dir:
            for sub in sorted(path.rglob("*")):
                if sub.suffix in SUFFIXES and sub.is_file() and \
                        not SKIP_DIRS & set(sub.relative_to(path).parts):
                    found.append((sub, str(sub), None))
        elif is_file:
            found.append((path, text, None))
        elif path.exists():  # a device, a named pipe: reading it may never end
            raise UsageError(f"not a regular file or folder: {text}")
        else:
            raise UsageError(f"no such file or folder: {text}")
    if not found:
        raise UsageError(f"no .py or .ipynb files in {', '.join(paths)}")
    seen: set = set()
    unique = []
    for entry in found:  # a file named twice (a.py ./a.py, or inside a folder named too) once
        key = entry[0].resolve() if entry[1] != "<stdin>" else "<stdin>"
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def _is_notebook(text: str) -> bool:
    """Whether text on stdin is a notebook's JSON (an object with a list of cells)."""
    if not text.lstrip().startswith("{"):
        return False
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("cells"), list)


if __name__ == "__main__":
    sys.exit(main())

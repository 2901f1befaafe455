"""search_source.py --changes: release notes as entries, each with its release and heading."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import resolve_docs
import search_source
from scvi_skill.runtime.changelog import find_notes, parse_notes

SAMPLE = """# Release notes

Intro paragraph about the format.

## Version 1.5

### 1.5.1 (2026-09-10)

#### Fixed

- Fix `foo` in {class}`scvi.model.SCVI`, which
    failed with `use_gpu`.
- Second fix.

#### Removed

- Removed `bar`,
    see the nested list:

    - nested one
    - nested two
- After nested.

```python
model.train(use_gpu=True)
```

## Version 0.9

### New in 0.9.0 (2021-03-03)

#### Important changes

##### Breaking change: GPU handling

- `use_cuda` was removed.

Prose note about `use_gpu`
spanning two lines.

[#1001]: https://github.com/YosefLab/scvi-tools/pull/1001
[poetry]: https://python-poetry.org/
"""


def _notes():
    return parse_notes(SAMPLE.splitlines())


def _at(line: int):
    return next(n for n in _notes() if n.line == line)


def test_each_note_carries_its_release_and_heading():
    lines = SAMPLE.splitlines()
    first = _at(11)
    assert (first.end, first.release, first.section) == (12, "1.5.1 (2026-09-10)", "Fixed")
    assert first.lines == lines[10:12]
    assert _at(13).lines == ["- Second fix."]
    old = _at(36)
    assert old.release == "New in 0.9.0 (2021-03-03)"
    assert old.section == "Important changes > Breaking change: GPU handling"
    assert old.heading == "New in 0.9.0 (2021-03-03) > Important changes > Breaking change: GPU handling"


def test_a_list_item_keeps_its_nested_list_and_a_paragraph_is_one_note():
    nested = _at(17)
    assert nested.end == 21 and nested.lines[-1].strip() == "- nested two"
    assert _at(22).lines == ["- After nested."]
    prose = _at(38)
    assert prose.end == 39 and prose.section.endswith("GPU handling")


def test_code_blocks_are_notes_and_link_definitions_are_not():
    code = _at(24)
    assert code.end == 26 and code.lines[1] == "model.train(use_gpu=True)"
    assert not any(n.line >= 40 for n in _notes())
    intro = _at(3)
    assert intro.release == "" and intro.section == ""


def test_a_code_block_closes_only_at_a_fence_of_its_own_kind():
    """A four-backtick block may hold a three-backtick line and a heading; neither ends it."""
    text = ["### 1.5.1", "", "#### Fixed", "", "````markdown", "```python", "# not a heading",
            "```", "````", "", "- After the block."]
    notes = parse_notes(text)
    assert [(n.line, n.end, n.section) for n in notes] == [(5, 9, "Fixed"), (11, 11, "Fixed")]


def test_every_word_must_be_held_newest_first():
    found = find_notes(_notes(), ["USE_GPU"])
    assert [n.line for n in found] == [11, 24, 38]
    assert [n.line for n in find_notes(_notes(), ["use_gpu", "removed"])] == [24]
    # The release and heading count as the note's words.
    assert [n.line for n in find_notes(_notes(), ["0.9.0", "use_cuda"])] == [36]
    assert find_notes(_notes(), ["nothing-like-this"]) == []


def run(capsys, *argv):
    code = search_source.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_changes_on_the_real_tree_names_the_release_that_removed_it(capsys, pinned_tree):
    code, out, _ = run(capsys, "--changes", "use_gpu", "--json", "--tree", str(pinned_tree.root))
    report = json.loads(out)
    assert code == 0 and report["mode"] == "changes" and report["total"] >= 2
    first = report["results"][0]
    assert first["release"].startswith("1.1.0") and first["section"] == "Removed"
    lines = (pinned_tree.root / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    assert first["text"].splitlines() == lines[first["line"] - 1 : first["end"]]
    assert "use_gpu" in first["text"]
    # Newest first: file order.
    assert [r["line"] for r in report["results"]] == sorted(r["line"] for r in report["results"])


def test_changes_text_output_is_bounded(capsys, pinned_tree):
    code, out, _ = run(capsys, "--changes", "scanvi", "--max", "3", "--tree", str(pinned_tree.root))
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("CHANGELOG.md:")]
    assert len(headers) == 3
    assert "more not shown (--max 3)" in out


@pytest.mark.parametrize("argv, code, message", [
    (["--changes", "  "], 2, "--changes is empty"),
    (["--changes", "a\nb"], 2, "single line"),
    (["--changes", "use_gpu", "extra"], 2, "either TEXT or --changes"),
    (["--changes", "no-such-words-anywhere"], 1, ""),
])
def test_changes_bad_input(capsys, pinned_tree, argv, code, message):
    got, out, err = run(capsys, *argv, "--tree", str(pinned_tree.root))
    assert got == code
    assert message in err


def test_changes_needs_a_tree_with_release_notes(capsys, tmp_path, pinned_tree):
    # A tree without release notes (as an installed package): a clear exit 4, no traceback.
    import shutil

    root = tmp_path / "scvi-tools-1.5.1"
    root.mkdir()
    shutil.copy(pinned_tree.root / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(pinned_tree.root / "src", root / "src")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# scvi-tools\n", encoding="utf-8")
    code, out, err = run(capsys, "--changes", "use_gpu", "--tree", str(root))
    assert code == 4 and out == "" and "has no release notes" in err
    assert err.startswith("Error: ") and "Traceback" not in err


def test_changes_reads_an_older_tree_s_release_notes_in_the_docs(capsys, tmp_path, pinned_tree):
    # Before 1.2 the sdist kept them at docs/release_notes/index.md.
    import shutil

    root = tmp_path / "scvi-tools-1.1.5"
    (root / "docs" / "release_notes").mkdir(parents=True)
    shutil.copy(pinned_tree.root / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(pinned_tree.root / "src", root / "src")
    (root / "docs" / "release_notes" / "index.md").write_text(SAMPLE, encoding="utf-8")
    code, out, _ = run(capsys, "--changes", "use_cuda", "--tree", str(root), "--json")
    report = json.loads(out)
    assert code == 0 and report["results"][0]["path"] == "docs/release_notes/index.md"
    assert report["results"][0]["line"] == 36


# ---------------------------------------------------------------- --history (references/api)


def test_history_of_a_removed_function_names_its_last_release_and_signature(capsys):
    code, out, _ = run(capsys, "--history", "scvi.model.utils.mde", "--json")
    report = json.loads(out)
    assert code == 0 and report["mode"] == "history"
    (row,) = report["names"]
    assert row["name"] == "scvi.model.utils.mde" and not row["present"]
    assert row["gone_since"] == "1.2.2" and row["last_release"] == "1.2.1"
    assert row["signature"].startswith("mde(data, ") and row["signature"].endswith("**kwargs)")
    assert row["path"] == "src/scvi/model/utils/_mde.py" and row["line"] > 0
    assert [span["releases"] for span in row["by_span"]] == ["1.0.0-1.2.1"]
    # Its body is in the tree of the last release that had it.
    assert report["next"][0].endswith("--changes mde")
    assert report["next"][1].endswith("fetch_tree.py --version 1.2.1")


def test_history_says_which_runs_of_releases_defined_a_name_and_which_re_export_another_package_s(
        capsys):
    """scvi.nn.one_hot was scvi-tools' own def until 1.3.1.post1, absent in 1.3.2-1.4.2, and
    from 1.4.3 PyTorch's one_hot re-exported (``from torch.nn.functional import one_hot``): a
    trial's agent answered "never removed" from the span list alone. Each run says what the
    name was in its last release; the next step fetches the tree of the last release that
    defined it."""
    code, out, _ = run(capsys, "--history", "scvi.nn.one_hot", "--json")
    (row,) = json.loads(out)["names"]
    assert code == 0 and row["spans"] == "1.0.0-1.3.1.post1, 1.4.3-1.5.1" and row["present"]
    old, new = row["by_span"]
    assert (old["last"], old["signature"], old["path"]) == \
        ("1.3.1.post1", "one_hot(index, n_cat)", "src/scvi/nn/_utils.py")
    assert old["line"] > 0 and not old["from"]
    assert (new["releases"], new["from"], new["signature"]) == \
        ("1.4.3-1.5.1", "torch.nn.functional.one_hot", "")
    assert json.loads(out)["next"][-1].endswith("fetch_tree.py --version 1.3.1.post1")
    code, out, _ = run(capsys, "--history", "scvi.nn.one_hot")
    assert f"  in 1.0.0-1.3.1.post1: one_hot(index, n_cat) (1.3.1.post1: src/scvi/nn/_utils.py:" \
        f"{old['line']})" in out
    assert "  in 1.4.3-1.5.1: torch.nn.functional.one_hot, another package's name re-exported" \
        in out
    # A run whose last release holds the name as a variable (no signature) says what it is.
    _, out, _ = run(capsys, "--history", "scvi.METRIC_KEYS")
    assert "  in 1.0.0-1.1.3: a variable of scvi-tools (1.1.3: " in out
    # A name scvi-tools has defined all along keeps its one signature line and no fetch step.
    code, out, _ = run(capsys, "--history", "SCVI", "--json")
    row = json.loads(out)["names"][0]
    assert len(row["by_span"]) == 1 and not row["by_span"][0]["from"]
    assert not any("fetch_tree" in step for step in json.loads(out)["next"])
    _, out, _ = run(capsys, "--history", "SCVI")
    assert "  signature in 1.5.1 (src/scvi/model/_scvi.py:" in out


def test_history_of_a_keyword_lists_the_callables_that_took_it(capsys):
    code, out, _ = run(capsys, "--history", "use_gpu", "--max", "3")
    assert code == 0
    assert "keyword use_gpu: taken by" in out
    assert "scvi.model.SCVI.train (1.0.0-1.0.4)" in out or "more (--max 3)" in out
    assert "accelerator" in out  # the curated replacement
    code, out, _ = run(capsys, "--history", "use_gpu", "--json", "--max", "500")
    callables = {c["name"]: c for c in json.loads(out)["keyword"]["callables"]}
    assert callables["scvi.model.SCVI.train"]["spans"] == "1.0.0-1.0.4"
    assert not any(c["present"] for c in callables.values())


def test_a_range_from_the_first_release_the_history_holds_says_earlier_ones_are_unknown(capsys):
    """use_gpu's "1.0.0-1.0.4" starts where the history starts (a trial's agent read it as
    "exists only in 1.0.0-1.0.4"; 0.9 had it too): the text says releases before 1.0.0 are not
    in the history; SysVI's "1.3.0-1.5.1" starts later and says nothing of the kind."""
    from scvi_skill.runtime.history import earlier_unknown

    note = "releases before 1.0.0 are not in the history"
    _, out, _ = run(capsys, "--history", "use_gpu", "--max", "3")
    assert note in out
    _, out, _ = run(capsys, "--history", "scvi.external.SysVI")
    assert "SysVI: in scvi-tools 1.3.0-" in out and note not in out
    assert earlier_unknown([[0, 4]], ["1.0.0", "1.0.1"]) == "; " + note
    _, out, _ = run(capsys, "--history", "use_gpu", "--json", "--max", "500")
    assert all(c["earlier_unknown"] for c in json.loads(out)["keyword"]["callables"])
    _, out, _ = run(capsys, "--history", "scvi.external.SysVI", "--json")
    assert [row["earlier_unknown"] for row in json.loads(out)["names"]] == [False]
    assert earlier_unknown([[2, 4], [6, 7]], ["1.0.0"] * 8) == ""
    out = resolve_docs_pack(capsys, "model.train(use_gpu=True) gives TypeError: unexpected "
                                    "keyword argument 'use_gpu'")
    line = next(t for t in out.splitlines() if t.startswith("(release history) keyword use_gpu"))
    assert note in line


def resolve_docs_pack(capsys, question: str) -> str:
    assert resolve_docs.main([question]) == 0
    return capsys.readouterr().out


def test_history_of_a_method_shows_parameters_that_came_and_went(capsys):
    code, out, _ = run(capsys, "--history", "SCVI.train", "--json")
    names = [row["name"] for row in json.loads(out)["names"]]
    assert names[0] == "scvi.model.SCVI.train" and "scvi.train" not in names
    row = json.loads(out)["names"][0]
    assert row["present"] and row["params"]["use_gpu"] == "1.0.0-1.0.4"
    assert "plan_config" in row["params"]  # added later than train() itself


def test_history_says_when_a_parameter_came_so_a_signature_is_not_read_as_unchanged(capsys):
    """Trial round 16's agent read "parameter registry: 1.3.1-1.5.1" under "in scvi-tools
    1.0.0-1.5.1" as "the signature has been the same since 1.0.0"."""
    code, out, _ = run(capsys, "--history", "SCANVI.from_scvi_model")
    assert code == 0
    assert "the signature was not the same in every release" in out
    assert "    registry: added in 1.3.1 (1.3.1-1.5.1)" in out.splitlines()
    code, out, _ = run(capsys, "--history", "SCVI.train", "--json")
    changes = json.loads(out)["names"][0]["param_changes"]
    assert changes["use_gpu"] == "gone since 1.1.0.post1"
    assert changes["plan_config"] == "added in 1.4.2"


@pytest.mark.parametrize("pspans, spans, said", [
    ([[3, 9]], [[0, 9]], "added in v3"),
    ([[0, 4]], [[0, 9]], "gone since v5"),
    ([[2, 6]], [[0, 9]], "added in v2, gone since v7"),
    ([[1, 2], [5, 9]], [[0, 9]], "in v1-v2, v5-v9 only"),
    ([[0, 9]], [[0, 4], [6, 9]], "in v0-v9 only"),
])
def test_param_change_in_words(pspans, spans, said):
    from scvi_skill.runtime.history import param_change

    assert param_change(pspans, spans, [f"v{n}" for n in range(10)]) == said


@pytest.mark.parametrize("spec, python, allowed", [
    (">=3.9", "3.9", True), (">=3.10", "3.9", False), (">=3.9,<3.13", "3.13", False),
    (">=3.9,<3.13", "3.12", True), (">=3.9.1", "3.9", True), ("<3.9", "3.9", False),
    ("==3.9.*", "3.10", False), ("~=3.9", "3.8", False), ("<=3.9", "3.10", False),
    ("!=3.9.*", "3.9", False), ("", "3.9", True),
])
def test_python_allowed(spec, python, allowed):
    from scvi_skill.runtime.requirements import python_allowed

    assert python_allowed(spec, python) is allowed


def test_a_python_version_the_question_names_gets_the_releases_that_declare_it(capsys):
    """Every release named as declaring Python 3.9 does by its manifest entry, the release
    named next requires more, and the pinned release's own requirement is in the tree
    (test_check_code checks the manifest against the pinned tree's PKG-INFO)."""
    from scvi_skill.runtime.apifiles import load_releases
    from scvi_skill.runtime.requirements import python_allowed, python_facts

    releases = load_releases()
    specs = releases.requires_python
    [line] = python_facts("`import scvi` in a python=3.9 env throws a TypeError")
    m = re.match(r"Python 3\.9: scvi-tools (\S+)-(\S+) declare it; (.*) \(requires-python", line)
    assert m, line
    first, last, later = m.groups()
    versions = releases.versions
    ok = versions[versions.index(first): versions.index(last) + 1]
    assert ok and all(python_allowed(specs[v], "3.9") for v in ok)
    # every later release in a run, each run with its own requirement, up to the newest
    # (round 65's agent took "1.2.0 on require >=3.10" for 1.5.1's requirement)
    runs = [re.fullmatch(r"(\S+?)(?:-(\S+))? require (\S+)", part).groups()
            for part in later.split(", ")]
    assert len(runs) >= 2 and versions[versions.index(last) + 1] == runs[0][0]
    assert (runs[-1][1] or runs[-1][0]) == versions[-1]
    for start, end, required in runs:
        span = versions[versions.index(start): versions.index(end or start) + 1]
        assert {specs[v] for v in span} == {required} and not python_allowed(required, "3.9")
    # The manifest starts at 1.0.0: a range from there may go back further.
    assert line.endswith(f"releases before {releases.versions[0]} are not in the manifest)")
    assert python_facts("numpy 3.9 and scvi") == []
    [line] = python_facts("can I run scvi-tools on Python 3.8?")
    assert line.startswith("Python 3.8: no scvi-tools release") or " declare it" in line
    out = resolve_docs_pack(capsys, "import scvi fails on Python 3.9 with a TypeError")
    assert any(t.startswith("(release history) Python 3.9: scvi-tools ") for t in out.splitlines())


def test_a_requirement_the_question_names_gets_what_each_release_requires(capsys):
    """The line lists, oldest first, each run of releases with one specifier for that
    package, exactly as the manifest (each sdist's Requires-Dist) has them."""
    from scvi_skill.runtime.apifiles import load_releases
    from scvi_skill.runtime.requirements import dependency_facts

    releases = load_releases()
    question = "import scarches fails deep in scvi with No module named 'anndata.io'"
    [line] = dependency_facts(question)
    assert line.startswith("anndata: ") and line.endswith("(Requires-Dist of each release's sdist)")
    body = line[len("anndata: "): -len(" (Requires-Dist of each release's sdist)")]
    body = body.replace(" in scvi-tools ", " in ", 1)
    shown = []
    for part in body.split("; "):
        spec, _, span = part.rpartition(" in ")
        first, _, last = span.partition("-") if span.count("-") == 1 else (span, "", span)
        for v in releases.versions[releases.versions.index(first):
                                   releases.versions.index(last or first) + 1]:
            shown.append(v)
            want = releases.requires[v].get("anndata")
            assert spec == ("not required" if want is None else want or "any"), (v, spec)
    assert shown == releases.versions
    # The object, not the package; no version talk; a package no release pins differently.
    assert dependency_facts("my AnnData object fails to install") == []
    assert dependency_facts("anndata objects with many layers") == []
    out = resolve_docs_pack(capsys, question)
    assert "(release history) anndata: " in out


def test_the_pyproject_lines_of_a_named_requirement_are_quoted_as_the_file_has_them():
    from scvi_skill.runtime.requirements import MAX_PYPROJECT_LINES, pyproject_lines

    lines = [
        "[project]",
        'requires-python = ">=3.12"',
        "dependencies = [",
        '  "anndata",',
        '  "lightning>=2",',
        '  "requests-cache",',
        "]",
        'optional-dependencies.hub = [ "boto3", "huggingface-hub", "requests" ]',
        'optional-dependencies.autotune = [',
        "  \"ray[tune]; sys_platform!='win32'\",",
        "]",
        '[tool.ruff]',
        'lightning = "not a requirement"',
    ]
    got = pyproject_lines("which lightning version, and does Python 3.11 work?", lines)
    assert got == [(2, 'requires-python = ">=3.12"'), (5, '"lightning>=2",')]
    # an extra's one-line list and a multi-line one; the table after the lists is not read
    assert pyproject_lines("install huggingface-hub and ray for autotune", lines) == [
        (8, lines[7]), (10, "\"ray[tune]; sys_platform!='win32'\",")]
    # no version talk, an everyday word, the object rather than the package: nothing
    assert pyproject_lines("my lightning module", lines) == []
    assert pyproject_lines("pip install failed on requests", lines) == []
    assert pyproject_lines("AnnData install fails", lines) == []
    assert pyproject_lines("anndata install fails", lines) == [(4, '"anndata",')]
    many = "install " + " ".join(f"pkg{n}" for n in range(9))
    listed = ["dependencies = ["] + [f'  "pkg{n}",' for n in range(9)] + ["]"]
    assert len(pyproject_lines(many, listed)) == MAX_PYPROJECT_LINES
    assert pyproject_lines("anndata version", []) == []


def test_the_pack_quotes_the_trees_requirement_lines(capsys, pinned_tree):
    """Each quoted line is the tree's pyproject.toml line it cites, verbatim; another
    release's tree is named with its lines."""
    out = resolve_docs_pack(capsys, "import scvi fails on Python 3.10 after upgrading "
                                    "anndata; is mudata required?")
    lines = (pinned_tree.root / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    quoted = [re.fullmatch(r"\(pyproject\.toml:(\d+)\) (.*)", t) for t in out.splitlines()]
    quoted = [(int(m.group(1)), m.group(2)) for m in quoted if m]
    assert [text for _, text in quoted] == [
        'requires-python = ">=3.12"', '"anndata",', '"mudata",']
    assert all(lines[n - 1].strip() == text for n, text in quoted)
    assert not any(t.startswith("(pyproject") for t in
                   resolve_docs_pack(capsys, "anndata objects with many layers").splitlines())


def test_history_of_a_requirement_lists_what_each_release_requires(capsys):
    from scvi_skill.runtime.apifiles import load_releases

    releases = load_releases()
    code, out, _ = run(capsys, "--history", "anndata", "--json")
    assert code == 0
    runs = json.loads(out)["requirement"]["runs"]
    covered = []
    for r in runs:
        span = releases.versions[releases.versions.index(r["first"]):
                                 releases.versions.index(r["last"]) + 1]
        assert all(releases.requires[v].get("anndata") == r["spec"] for v in span)
        covered += span
    assert covered == releases.versions and len(runs) >= 2
    code, out, _ = run(capsys, "--history", "python")
    assert code == 0 and out.startswith("requirement Python (the Requires-Python")
    assert f"in {releases.versions[0]}-" in out.splitlines()[1]
    code, out, _ = run(capsys, "--history", "pyro-ppl")
    assert code == 0 and "requirement pyro-ppl" in out
    code, out, _ = run(capsys, "--history", "JaxSCVI", "--json")
    assert json.loads(out)["requirement"] is None


@pytest.mark.parametrize("argv, code", [
    (["--history", "zz_no_such_name"], 1),
    (["--history", "two words"], 2),
    (["--history", "scvi.model."], 2),
    (["--history", "JaxSCVI", "extra"], 2),
    (["--history", "pyro-"], 2),
    (["--history", "no-such-package"], 1),
])
def test_history_bad_input(capsys, argv, code):
    got, _, err = run(capsys, *argv)
    assert got == code
    if code == 2:
        assert err.startswith("Error: ")


# ------------------------------------------- the pack: the note of the release a name went in


def test_a_gone_keyword_brings_the_note_of_the_release_it_went_in(capsys, pinned_tree):
    from scvi_skill.runtime.history import gone_releases
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import resolve

    sidx = load_search_index()
    question = "my old script passes use_gpu=True to model.train() and now it fails: why?"
    assert gone_releases(question, sidx) == [("use_gpu", "1.1.0.post1")]
    notes = [p for p in resolve(question, sidx)["passages"] if p["path"] == "CHANGELOG.md"]
    lines = (pinned_tree.root / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    first = "\n".join(lines[notes[0]["lines"][0] - 1 : notes[0]["lines"][1]])
    assert notes[0]["section"].startswith("1.1.0 ") and "use_gpu" in first, notes[0]
    assert gone_releases("how do I set batch_key?", sidx) == []


def test_the_history_is_decoded_once_for_the_ranking_and_the_pack(monkeypatch):
    from scvi_skill.runtime import apifiles, history
    from scvi_skill.runtime.index import load_search_index

    calls = []
    real = apifiles.load_history
    monkeypatch.setattr(apifiles, "load_history", lambda r: calls.append(1) or real(r))
    monkeypatch.setattr(history, "_LOADED", {})
    sidx = load_search_index()
    question = "train() got an unexpected keyword argument 'use_gpu'"
    assert history.gone_releases(question, sidx) == [("use_gpu", "1.1.0.post1")]
    assert any("use_gpu" in line for line in history.release_facts(question, sidx))
    assert len(calls) == 1


# ------------------------------------- the release a question names, marked like --version V


def test_version_mentions_need_scvi_tools_context():
    from scvi_skill.runtime.rank import version_mentions

    assert version_mentions("on scvi-tools 1.2.0 it fails; after upgrading to 1.3 too") == ["1.2.0", "1.3"]
    assert version_mentions("anndata 0.10.1 and torch 2.1") == []
    assert version_mentions("scvi v1.1.5 here") == ["1.1.5"]


def _pack(capsys, *argv):
    code = resolve_docs.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out


def test_an_older_release_the_question_names_is_marked_like_version(capsys, pinned_tree):
    question = ("following the SysVI tutorial on scvi-tools 1.2.0, "
                "model.get_normalized_expression(adata, transform_batch='mouse') fails")
    code, out = _pack(capsys, "--tree", str(pinned_tree.root), question)
    assert code == 0
    assert "(the question names scvi-tools 1.2.0: the lines below are for the pinned" in out
    assert "  scvi.external.SysVI: added in 1.3.0" in out  # --history SysVI: 1.3.0 on
    code, out = _pack(capsys, "--tree", str(pinned_tree.root), "--json", question)
    assert json.loads(out)["version"]["named"] is True
    # --version wins and says whose version it is.
    code, out = _pack(capsys, "--tree", str(pinned_tree.root), "--version", "1.3.3", question)
    assert "(you run scvi-tools 1.3.3:" in out and "names scvi-tools" not in out


@pytest.mark.parametrize("question, named", [
    ("the hub model fails on scvi-tools 1.4", "1.4.3"),  # a series: its last release
    ("trained on scvi-tools 0.14, won't load in 0.20", None),  # no API index before 1.0.0
    ("how do I set batch_key on scvi-tools 1.5.1", None),  # the pinned release
    ("how do I set batch_key with anndata 0.10.1", None),  # not scvi-tools' version
])
def test_which_release_a_question_names(question, named):
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import resolve

    sidx = load_search_index()
    other = resolve_docs._named_version(question, sidx["scvi_tools_version"],
                                        resolve(question, sidx), sidx)
    assert (other or {}).get("requested") == named


# ------------------------------------------- a name that is not where the question looks for it


@pytest.mark.parametrize("question, want", [
    # Python's message names the module and the name; the name is a class method since 0.15.
    ("AttributeError: module 'scvi.data' has no attribute 'setup_anndata'",
     "scvi.data.setup_anndata: not in scvi-tools 1.5.1 nor in any release since 1.0.0; "
     "setup_anndata is at scvi.model.SCVI.setup_anndata, "),
    ("scvi.data.view_anndata_setup(adata) prints nothing useful",
     "scvi.data.view_anndata_setup: not in scvi-tools 1.5.1 nor in any release since 1.0.0; "
     "view_anndata_setup is at scvi.model.SCVI.view_anndata_setup"),
])
def test_a_name_the_pinned_module_lacks_is_placed_where_it_is(question, want):
    from scvi_skill.runtime import history
    from scvi_skill.runtime.index import load_search_index

    facts = history.release_facts(question, load_search_index())
    assert any(line.startswith(want) for line in facts), facts


@pytest.mark.parametrize("question", [
    "AttributeError: module 'scvi' has no attribute 'criticism'",  # a module of 1.5.1
    "scvi.model.SCVI.setup_anndata(adata, batch_key='batch')",  # there
    "sc.pp.highly_variable_genes(adata) then scvi.model.SCVI",  # not scvi's
])
def test_names_the_pinned_release_has_get_no_moved_fact(question):
    from scvi_skill.runtime import history
    from scvi_skill.runtime.index import load_search_index

    sidx = load_search_index()
    assert history.moved_names(question, sidx) == []
    assert history.release_facts(question, sidx) == []


def test_a_name_gone_altogether_is_stated_once():
    from scvi_skill.runtime import history
    from scvi_skill.runtime.index import load_search_index

    facts = history.release_facts("AttributeError: module 'scvi.model' has no attribute 'JaxSCVI'",
                                  load_search_index())
    assert len([line for line in facts if "JaxSCVI" in line]) == 1


def test_a_name_that_went_before_1_0_brings_the_0_x_notes_that_hold_it(pinned_tree):
    """scvi.data.setup_anndata is in no release since 1.0.0 (the API history), so the release
    notes of 0.x releases that hold setup_anndata are where it went; without the bonus the top
    three passages are 1.2 notes about other models' setup_anndata."""
    from scvi_skill.runtime.history import moved_releases
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import resolve

    sidx = load_search_index()
    question = ("scvi.data.setup_anndata(adata, batch_key='batch') gives AttributeError: "
                "module 'scvi.data' has no attribute 'setup_anndata'")
    assert moved_releases(question, sidx) == [("scvi.data.setup_anndata", "")]
    top = resolve(question, sidx)["passages"][:3]
    assert any(p["section"].startswith("New in 0.15.0 ") and "Breaking" in p["section"]
               for p in top), top


def test_a_gone_name_that_differs_from_a_module_only_in_case_is_still_gone(pinned_tree):
    """0.x's ``scvi._CONSTANTS`` is not 1.5.1's module ``scvi._constants``: Python names are
    case-sensitive, so the name is placed among the releases (gone before 1.0.0) and the
    0.15.0 note that renamed it to ``scvi.REGISTRY_KEYS`` comes up; the module written as
    it is stays a module of the pinned release."""
    from scvi_skill.runtime.history import moved_names, release_facts
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import resolve

    sidx = load_search_index()
    question = ("import cell2location fails with ImportError: cannot import name '_CONSTANTS' "
                "from 'scvi'. What happened to scvi._CONSTANTS?")
    assert moved_names(question, sidx) == ["scvi._CONSTANTS"]
    assert any(line.startswith("scvi._CONSTANTS: not in scvi-tools 1.5.1")
               for line in release_facts(question, sidx))
    assert moved_names("from scvi._constants import REGISTRY_KEYS; scvi._constants", sidx) == []
    top = resolve(question, sidx)["passages"][:3]
    assert any(p["path"] == "CHANGELOG.md" and p["lines"][0] <= 1455 <= p["lines"][1]
               for p in top), top


def test_a_rarer_part_of_a_gone_name_finds_the_note_that_removed_its_family(pinned_tree):
    """JaxSCVI went in 1.5.0 with the note "Removed Jax support from SCVI-Tools": the note does
    not name the class, but it holds "Jax", a rare part of the name, under "Removed" in the
    series the history says the name went in."""
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import PARAMS, resolve

    sidx = load_search_index()
    question = "after upgrading, `from scvi.model import JaxSCVI` fails. What happened to it?"
    top = resolve(question, sidx)["passages"][0]
    lines = (pinned_tree.root / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    assert top["section"].startswith("1.5.0 ") and top["section"].endswith("Removed"), top
    assert "Removed Jax support" in lines[top["lines"][0] - 1]
    off = dict(PARAMS, release_gone_parts=0.0)
    assert resolve(question, sidx, params=off)["passages"][0]["lines"] != top["lines"]


def test_a_paste_of_many_dotted_names_checks_a_bounded_few():
    from scvi_skill.runtime import history
    from scvi_skill.runtime.index import load_search_index

    sidx = load_search_index()
    question = " ".join(f"scvi.model.fake_name_{i}" for i in range(200))
    moved = history.moved_names(question, sidx)
    assert moved == [f"scvi.model.fake_name_{i}" for i in range(history.MAX_MOVED_NAMES)]
    facts = history.release_facts(question, sidx)
    assert len(facts) == history.MAX_FACTS
    assert facts[0] == ("scvi.model.fake_name_0: not in scvi-tools 1.5.1 nor in any release "
                        "since 1.0.0")


def test_python_s_own_message_for_a_moved_name_points_at_the_release_history(capsys,
                                                                              pinned_tree):
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "ImportError: cannot import name 'setup_anndata' from 'scvi.data'")
    assert code == 0
    head = out.splitlines()[:3]
    assert any(line.startswith("(error text) Python's own message") for line in head), head
    assert any(line.startswith("(release history) scvi.data.setup_anndata:") for line in head)
    assert "dependency (torch, lightning" not in out
    # An error whose names the pinned release has keeps the dependency note.
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "RuntimeError: CUDA out of memory while training scvi.model.SCVI")
    assert "(error text) no raise or warning site" in out


def test_a_how_to_question_quoting_a_call_gets_no_error_text_note(capsys, pinned_tree):
    """A quoted call in a how-to question is not error text: no "(error text)" line (it said
    that no raise site matched and sent the agent to a dependency's errors)."""
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "`model.differential_expression(idx1=a, idx2=b, weights='importance')` on "
                      "my scVI model runs for hours. Is there a faster setting?")
    assert code == 0
    assert "(error text)" not in out
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "When I try CondSCVI.setup_anndata(sc_adata, labels_key='celltype', "
                      "batch_key='donor') on my old install I get 'got an unexpected keyword "
                      "argument banana_key'")
    assert code == 0
    assert "(error text)" in out


def test_the_pack_benchmark_scores_what_resolve_docs_prints(capsys, pinned_tree):
    """benchmarks/bench_pack.py scores the same text the agent reads: error-text notes, the
    release-history and version lines and the next commands take their share of the budget
    there too (before, its own pack left them out: 111 of 312 tuning packs differed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from bench_pack import Pack
    finally:
        sys.path.pop(0)
    bench = Pack(pinned_tree, 1200)
    for question in (
            "RuntimeError: CUDA out of memory while training scvi.model.SCVI",
            "following the SysVI tutorial on scvi-tools 1.2.0, "
            "model.get_normalized_expression(adata, transform_batch='mouse') fails",
            "how do I pass early_stopping_patience to SCANVI.train?"):
        text, ranges, _ = bench.run(question)
        code, out = _pack(capsys, "--tree", str(pinned_tree.root), question)
        assert code == 0
        assert text == out.rstrip("\n"), question
        assert ranges


def test_an_unexpected_keyword_gets_python_s_own_message_note(capsys, pinned_tree):
    """Python's TypeError for a keyword a scvi-tools call does not take is not a dependency's
    error, and ``SCVI.__init__`` is the class's constructor, not a name missing from the
    ``scvi`` package (it had been read as ``scvi.__init``, "in no release since 1.0.0")."""
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "model = scvi.model.SCVI(adata, n_hidden_layers=2) gives TypeError: "
                      "SCVI.__init__() got an unexpected keyword argument 'n_hidden_layers'")
    assert code == 0
    head = out.splitlines()[:4]
    assert any(line.startswith("(error text) Python's own message: SCVI.__init__() takes no "
                               "keyword 'n_hidden_layers'") for line in head), head
    assert "search_source.py --symbol SCVI" in out
    assert "(release history)" not in out and "dependency (torch" not in out
    # A keyword an older release had still gets its release history.
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "TypeError: Trainer.__init__() got an unexpected keyword argument 'use_gpu'")
    assert "(release history) keyword use_gpu:" in out


@pytest.mark.parametrize("question, expected", [
    ("TypeError: SCANVI.from_scvi_model() missing 1 required positional argument: "
     "'unlabeled_category'",
     "(error text) Python's own message: SCANVI.from_scvi_model() requires "
     "'unlabeled_category'"),
    ("AttributeError: 'AnnData' object has no attribute 'setup_anndata' when I run "
     "adata.setup_anndata(batch_key='batch')",
     "(error text) Python's own message: the AnnData object has no setup_anndata; in "
     "scvi-tools 1.5.1 scvi.model.SCVI.setup_anndata has it"),
    ("KeyError: 'donor' when calling scvi.model.SCVI.setup_anndata(adata, batch_key='donor')",
     "(error text) Python's own message: KeyError 'donor' is a value the user's own call "
     "passes (batch_key='donor')"),
    ("ImportError: cannot import name 'AnnDataManager' from 'scvi.data'",
     "(error text) Python's own message, though scvi-tools 1.5.1 has "
     "scvi.data.AnnDataManager: the user's scvi-tools is another release"),
    ("AttributeError: module 'scvi' has no attribute 'hub' at "
     "scvi.hub.HubModel.pull_from_huggingface_hub('scvi-tools/x')",
     "(error text) Python's own message: `import scvi` does not load scvi.hub in scvi-tools "
     "1.5.1 (it loads criticism, data,"),
    ("AttributeError: 'HubMetadata' object has no attribute 'data_is_minified' after "
     "hmo.metadata.data_is_minified",
     "(error text) Python's own message: in scvi-tools 1.5.1 scvi.hub.HubMetadata has no "
     "method, property or attribute data_is_minified; scvi.hub.HubModelCardHelper has it: "
     "any read of it on that object fails"),
    ("AttributeError: 'SCVI' object has no attribute 'trainer' right after SCVI.load",
     "(error text) Python's own message: in scvi-tools 1.5.1 scvi.model.SCVI does not define "
     "trainer itself; scvi-tools sets it on objects at src/scvi/train/_callbacks.py:113, "
     "src/scvi/train/_trainrunner.py:169: the object has none until that code has run on it"),
])
def test_python_s_own_messages_that_say_what_went_wrong(capsys, pinned_tree, question,
                                                        expected):
    """Sanity questions written for this test: Python's own TypeError, AttributeError and
    KeyError name the call, the object or the user's own key; the note says so instead of
    blaming a dependency, and no line of scvi-tools' code is shown for the user's own key."""
    code, out = _pack(capsys, "--tree", str(pinned_tree.root), question)
    assert code == 0
    assert any(line.startswith(expected) for line in out.splitlines()[:4]), out[:600]
    assert "dependency (torch" not in out
    assert "== where Python's error arises" not in out or "HubMetadata" in question


def test_a_member_the_class_lacks_keeps_the_lines_of_scvi_tools_that_read_it(capsys,
                                                                             pinned_tree):
    """TOTALVI has no n_genes in 1.5.1, and its own get_feature_correlation_matrix reads
    self.n_genes: the note says the class lacks it (and which models have one), and the
    line of scvi-tools that reads it follows (the release's bug); a misspelled method gets
    the close name."""
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "vae.get_feature_correlation_matrix(log_transform=True) fails with "
                      "AttributeError: 'TOTALVI' object has no attribute 'n_genes'")
    assert code == 0
    assert "in scvi-tools 1.5.1 scvi.model.TOTALVI has no method, property or attribute " \
           "n_genes; scvi.model.MULTIVI" in out
    assert "src/scvi/model/_totalvi.py:1117" in out.split("== where Python's error arises")[1]
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "AttributeError: 'AUTOZI' object has no attribute 'get_alpha_betas'")
    assert "(did you mean scvi.model.AUTOZI.get_alphas_betas?)" in out


def test_the_error_s_own_lines_come_before_the_passages(capsys, pinned_tree):
    """What the pasted error points at (its raise site here) is printed right under the
    title, above the passages: the budget picks the same lines, only their order changes."""
    code, out = _pack(capsys, "--tree", str(pinned_tree.root),
                      "ValueError: Number of vars in `adata_target` not the same as source. "
                      "Expected: 2000 Received: 1995")
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith("== ")]
    assert heads[0] == "== raised at (the question's error text)", heads
    assert any(h.startswith("== CHANGELOG.md:") or h.startswith("== docs/") for h in heads[1:])
    assert "src/scvi/data/fields/_layer_field.py:" in out.split("\n== ", 2)[1]


@pytest.mark.parametrize("question, expected", [
    # the model's **kwargs went on to its module, which takes a close name
    ("scvi.model.SCVI(adata, n_latent=30, use_batchnorm='none') fails: TypeError: "
     "VAE.__init__() got an unexpected keyword argument 'use_batchnorm'",
     ["scvi.model.SCVI passes its **kwargs on to scvi.module.VAE",
      "scvi.module.VAE takes 'use_batch_norm' in 1.5.1, the closest name"]),
    # DE's **kwargs reach get_bayes_factors; PEAKVI's method took the keyword itself before
    ("PeakVI: model.differential_accessibility(groupby='labels', two_sided=False) gives "
     "TypeError: DifferentialComputation.get_bayes_factors() got an unexpected keyword "
     "argument 'two_sided'",
     ["scvi.model.PEAKVI.differential_accessibility passes its **kwargs on to "
      "scvi.model.base.DifferentialComputation.get_bayes_factors; it took 'two_sided' itself "
      "in 1.0.0-1.2.2.post2"]),
    # the callable that raised takes **kwargs in 1.5.1: no close name (it named
    # 'early_stopping', while the Trainer takes early_stopping_patience through them)
    ("TypeError: TOTALVI.train() got an unexpected keyword argument 'early_stopping_patience'",
     ["scvi.model.TOTALVI.train takes **kwargs in 1.5.1: it does not raise this there"]),
])
def test_an_unexpected_keyword_names_the_call_that_passed_it_on(capsys, pinned_tree, question,
                                                               expected):
    """Sanity questions written for this test: the callable that raised is not the one the
    user called; the (error text) line names the route from the API index and, from the
    history, when the user's callable took the keyword itself."""
    code, out = _pack(capsys, "--tree", str(pinned_tree.root), question)
    assert code == 0
    line = next(line for line in out.splitlines()[:4] if line.startswith("(error text)"))
    for part in expected:
        assert part in line, line
    assert "'early_stopping' in 1.5.1, the closest" not in line
    import scvi_skill.runtime.pack as pack

    pack.KEYWORD_FACTS = False  # the line as before: none of it
    try:
        code, out = _pack(capsys, "--tree", str(pinned_tree.root), question)
    finally:
        pack.KEYWORD_FACTS = True
    assert not any(part in out for part in expected)


def test_an_unexpected_keyword_the_users_release_takes_says_so(capsys, pinned_tree):
    """--version V where V's method takes the keyword the message says it does not: the
    message came from another release (or call), which the (error text) line says; for a
    release without the keyword, nothing of the kind (an inherited method: a mixin's)."""
    question = ("TypeError: SCANVI.predict() got an unexpected keyword argument "
                "'use_posterior_mean'")
    tree = ["--tree", str(pinned_tree.root)]
    code, out = _pack(capsys, *tree, "--version", "1.4.2", question)
    line = next(line for line in out.splitlines()[:4] if line.startswith("(error text)"))
    assert "SCANVI.predict takes 'use_posterior_mean' in 1.4.2 too" in line
    code, out = _pack(capsys, *tree, "--version", "1.0.4", question)
    assert "in 1.0.4 too" not in out


def test_the_packs_release_notes_of_later_releases_say_so(capsys, cache_with_pinned):
    """For a user on 1.3.0 (--version, or the project's release), a quoted bullet of 1.3.1 or
    later is marked "(after 1.3.0)": "fixed in 1.3.1" is not in the user's release; bullets
    of 1.3.0 and before are not marked, and without a release none is."""
    from scvi_skill.runtime.apifiles import _release_key

    question = "which release added SysVI and fixed its get_normalized_expression"
    marked = {}
    for version in ("1.3.0", None):
        argv = ["--json", question] + (["--version", version] if version else [])
        assert resolve_docs.main(argv) == 0
        notes = [p for p in json.loads(capsys.readouterr().out)["passages"]
                 if p["path"] == "CHANGELOG.md"]
        assert len(notes) >= 2
        for passage in notes:
            release = re.search(r"\d+\.\d+\.\d+", passage["section"])[0]
            later = version is not None and _release_key(release) > _release_key(version)
            assert passage.get("after_release") == (version if later else None)
            if version:
                marked[release] = later
    assert True in marked.values() and False in marked.values()
    assert resolve_docs.main(["--version", "1.3.0", question]) == 0
    headers = [t for t in capsys.readouterr().out.splitlines() if t.startswith("== CHANGELOG")]
    assert any(t.endswith("(after 1.3.0)") for t in headers)
    assert not all(t.endswith("(after 1.3.0)") for t in headers)

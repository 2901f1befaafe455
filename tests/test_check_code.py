"""check_code.py and the per-release API indexes: findings, messages, bad input, exit codes."""

from __future__ import annotations

import gzip
import io
import json
import re

import check_code
import pytest
from fence_blocks import FENCE, FENCE_BLOCKS

from scvi_skill.build.api_releases import (
    build_history,
    build_release,
    dump_gz,
    open_release_tree,
    release_outputs,
)
from scvi_skill.runtime import PINNED_SCVI_TOOLS
from scvi_skill.runtime.apiindex import API_DIR, ReleaseApi, load_release, load_releases
from scvi_skill.runtime.codecheck import SnippetScope, check_snippet

OLD_CODE = """\
import scvi
from scvi.model import JaxSCVI
from scvi.autotune import ModelTuner

scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch", labels="x")
model = scvi.model.SCVI(adata, n_latent=10)
model.train(max_epochs=10, use_gpu=True, early_stopping_patience=5, foo=1)
other = scvi.model.SCVI.load("dir", adata, use_gpu=True)
"""


def run(capsys, argv):
    code = check_code.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def findings_of(capsys, argv):
    code, out, err = run(capsys, [*argv, "--json"])
    return code, json.loads(out)


def checked_on_pinned(capsys, tmp_path, source: str) -> tuple[int, list[tuple], list[str]]:
    """Exit code, ``(line, name, kwarg)`` of each finding and the messages, for ``source``
    checked against 1.5.1's index."""
    path = tmp_path / "snippet.py"
    path.write_text(source, encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.5.1"])
    findings = report["findings"]
    return code, [(f["line"], f["name"], f["kwarg"]) for f in findings], \
        [f["message"] for f in findings]


def answer_findings(capsys, tmp_path, text: str) -> list[tuple[int, str]]:
    """``(line, keyword)`` of the named findings in a Markdown answer ``text``, checked against
    1.5.1 (the exit code must say there are findings)."""
    answer = tmp_path / "answer.md"
    answer.write_text(text, encoding="utf-8")
    code, report = findings_of(capsys, [str(answer), "--version", "1.5.1"])
    assert code == 1, report
    return [(f["line"], f["kwarg"]) for f in report["findings"] if f["name"]]


@pytest.fixture
def old_code(tmp_path):
    path = tmp_path / "analysis.py"
    path.write_text(OLD_CODE, encoding="utf-8")
    return path


def test_pinned_release_flags_removed_names_and_keywords(capsys, old_code):
    code, report = findings_of(capsys, [str(old_code)])
    assert code == 1 and report["version"] == PINNED_SCVI_TOOLS
    by = {(f["name"], f["kwarg"]): f for f in report["findings"]}
    jax = by[("scvi.model.JaxSCVI", None)]
    assert (jax["line"], jax["col"]) == (2, 1)
    assert "removed in 1.5.0 (last in 1.4.3)" in jax["message"]
    assert "scvi.model.mlxSCVI" in jax["message"] and jax["exists_in"] == ["1.0.0-1.4.3"]
    assert "run_autotune" in by[("scvi.autotune.ModelTuner", None)]["message"]
    assert "register_fields" in by[("scvi.model.SCVI.setup_anndata", "labels")]["message"]
    use_gpu = by[("scvi.model.SCVI.train", "use_gpu")]
    assert "last in 1.0.4" in use_gpu["message"] and "accelerator" in use_gpu["message"]
    assert "Lightning" in by[("scvi.model.SCVI.train", "foo")]["message"]
    assert ("scvi.model.SCVI.load", "use_gpu") in by
    # taken by scvi.train.Trainer through train(**trainer_kwargs): not a finding
    assert ("scvi.model.SCVI.train", "early_stopping_patience") not in by


def test_same_code_against_the_release_it_was_written_for(capsys, old_code):
    code, report = findings_of(capsys, [str(old_code), "--version", "1.0.0"])
    names = {(f["name"], f["kwarg"]) for f in report["findings"]}
    assert ("scvi.model.JaxSCVI", None) not in names
    assert ("scvi.model.SCVI.train", "use_gpu") not in names
    assert ("scvi.model.SCVI.train", "foo") in names  # wrong in every release


def test_added_name_says_when_it_came(capsys, tmp_path):
    path = tmp_path / "new.py"
    path.write_text("import scvi\nscvi.model.mlxSCVI(adata)\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.2.0"])
    assert code == 1
    assert "added in 1.4.2" in report["findings"][0]["message"]


def test_clean_file_exits_0(capsys, tmp_path):
    path = tmp_path / "ok.py"
    path.write_text("import scvi\nscvi.model.SCVI.setup_anndata(adata, layer='counts')\n"
                    "m = scvi.model.SCVI(adata)\nm.train(max_epochs=1, accelerator='cpu')\n",
                    encoding="utf-8")
    assert run(capsys, [str(path)])[0] == 0


def test_notebook_cells_share_names_and_skip_magics(capsys, tmp_path):
    cells = [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "!pip install scvi-tools\n",
                                         "import scvi\n"]},
        {"cell_type": "markdown", "source": "scvi.model.JaxSCVI(adata)"},
        {"cell_type": "code", "source": "%%bash\nls -la\n"},
        {"cell_type": "code", "source": "files = !ls\nscvi.model.SCVI?\n"
                                        "m = scvi.model.SCVI(adata)\nm.train(use_gpu=True)\n"},
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4}), encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1
    [finding] = report["findings"]
    assert (finding["cell"], finding["line"], finding["kwarg"]) == (4, 4, "use_gpu")


def test_python_cell_magics_and_indented_line_magics_are_checked(capsys, tmp_path):
    """A %%time (%%capture, %%timeit) cell's body is Python and is checked; a line magic that
    is a block's only statement leaves a block; the cell of %%bash is still skipped. The same
    notebook on stdin is read as a notebook."""
    cells = [
        {"cell_type": "code", "source": "%%time\nimport scvi\nscvi.model.SCVI(a).train(use_gpu=True)\n"},
        {"cell_type": "code", "source": "%%capture\nif True:\n    %time x = 1\nscvi.model.JaxSCVI(a)\n"},
        {"cell_type": "code", "source": "%%bash\nscvi.model.JaxSCVI(a)\n"},
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4}), encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1
    assert [(f["cell"], f["line"]) for f in report["findings"]] == [(1, 3), (2, 4)]
    assert not any("parse" in f["message"] for f in report["findings"])
    stdin = io.TextIOWrapper(io.BytesIO(path.read_bytes()), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", stdin)
        code, report = findings_of(capsys, ["-"])
    assert [(f["cell"], f["line"]) for f in report["findings"]] == [(1, 3), (2, 4)]


def test_half_a_surrogate_pair_in_a_notebook_cell_is_read_not_a_traceback(capsys, tmp_path):
    """JSON may escape a lone surrogate (a cut emoji: "\\ud83d"); json.loads keeps it and
    ast.parse could not encode it (UnicodeEncodeError, found by fuzzing check_code.py)."""
    path = tmp_path / "nb.ipynb"
    path.write_text('{"cells": [{"cell_type": "code", "source": ["import scvi  # \\ud83d\\n", '
                    '"scvi.model.SCVI(a).train(use_gpu=True)\\n"]}], "nbformat": 4}',
                    encoding="ascii")
    assert "\ud83d" in json.loads(path.read_text())["cells"][0]["source"][0]
    code, report = findings_of(capsys, [str(path)])
    assert code == 1
    [finding] = report["findings"]
    assert (finding["cell"], finding["line"], finding["kwarg"]) == (1, 2, "use_gpu")


def test_a_pep_263_coding_line_is_read_as_python_reads_it(capsys, tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\nimport scvi\n"
                     b"scvi.model.SCVI(a).train(use_gpu=True)\n")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1 and [f["kwarg"] for f in report["findings"]] == ["use_gpu"]


def test_a_file_named_twice_is_checked_once_and_odd_inputs_are_one_message(
        capsys, tmp_path, monkeypatch, old_code):
    monkeypatch.chdir(old_code.parent)
    code, report = findings_of(capsys, [str(old_code), f"./{old_code.name}"])
    assert report["files"] == 1
    deep = tmp_path / "deep.ipynb"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    code, out, err = run(capsys, [str(deep)])
    assert code == 1 and "nested too deeply" in out and "Traceback" not in err
    code, out, err = run(capsys, ["a" * 300 + ".py"])
    assert code == 2 and err.count("Error:") == 1 and "Traceback" not in err


def test_file_that_does_not_parse_is_a_finding_with_its_line(capsys, tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import scvi\n\ndef f(:\n    pass\n", encoding="utf-8")
    code, out, err = run(capsys, [str(path)])
    assert code == 1 and "Traceback" not in err
    assert re.search(r"broken\.py:3:\d+: .*does not parse", out)


def test_unknown_version_exits_4_and_lists_releases(capsys, old_code):
    code, out, err = run(capsys, [str(old_code), "--version", "0.20.3"])
    assert code == 4 and out == ""
    assert "1.0.0" in err and PINNED_SCVI_TOOLS in err and err.count("Error:") == 1


def test_a_release_newer_than_the_indexed_ones_is_checked_against_the_newest(capsys, old_code):
    """A release after the newest index (the skill not yet refreshed for it) is checked
    against the newest, with a warning that says what that misses; --json names both."""
    code, report = findings_of(capsys, [str(old_code), "--version", "9.9.9"])
    assert code == 1 and report["version"] == PINNED_SCVI_TOOLS
    assert report["requested"] == "9.9.9"
    assert any("use_gpu" in f["message"] for f in report["findings"])
    code, out, err = run(capsys, [str(old_code), "--version", "9.9.9"])
    assert code == 1 and err.count("Warning:") == 1
    assert f"9.9.9 is newer than the newest release this skill indexes ({PINNED_SCVI_TOOLS})" \
        in err
    code, report = findings_of(capsys, [str(old_code), "--version", PINNED_SCVI_TOOLS])
    assert "requested" not in report


def test_usage_errors_exit_2(capsys, tmp_path):
    assert run(capsys, [str(tmp_path / "missing.py")])[0] == 2
    assert run(capsys, [str(tmp_path)])[0] == 2  # a folder without .py/.ipynb
    assert run(capsys, [])[0] == 2


def test_folder_is_searched(capsys, tmp_path, old_code):
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x.py").write_text("import scvi\nscvi.nothere()\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(tmp_path)])
    assert report["files"] == 1 and code == 1


def test_every_release_from_1_0_0_to_pinned_is_shipped_within_4_mb():
    releases = load_releases()
    assert releases.versions[0] == "1.0.0" and releases.versions[-1] == PINNED_SCVI_TOOLS
    assert {"1.0.4", "1.1.0.post1", "1.2.2.post2", "1.4.3", "1.5.0"} <= set(releases.versions)
    for version in releases.versions:
        assert (API_DIR / releases.files[version]).is_file(), version
    assert sum(p.stat().st_size for p in API_DIR.iterdir() if p.is_file()) <= 4_000_000


def test_flat_layout_release_records_its_own_paths():
    api = ReleaseApi(load_release(load_releases(), "1.0.0"))
    assert api.symbol("scvi.model.SCVI")["path"] == "scvi/model/_scvi.py"
    assert ReleaseApi(load_release(load_releases(), "1.5.1")).symbol(
        "scvi.model.SCVI")["path"] == "src/scvi/model/_scvi.py"


def test_migration_targets_exist_in_the_pinned_release():
    migrations = json.loads((API_DIR / "migrations.json").read_text(encoding="utf-8"))
    api = ReleaseApi(load_release(load_releases(), PINNED_SCVI_TOOLS))
    texts = list(migrations["names"].values()) + list(migrations["keywords"].values())
    named = {m for text in texts for m in re.findall(r"\bscvi(?:\.\w+)+", text)}
    assert named and sorted(n for n in named if not api.lookup(n).found) == []


MIGRATION_RELEASE_EVIDENCE = {
    # release a migration text names -> words of that release's CHANGELOG section proving it
    "0.7.0": ["`GeneExpressionDataset` and associated classes have been removed",
              "`scvi.inference` has been split"],
    "1.5.0": ["Removed Jax support from SCVI-Tools"],
}


def test_every_release_a_migration_names_is_proven_by_its_changelog_section(pinned_tree):
    """A migration that dates a change ("went in 0.7.0") names a release whose CHANGELOG
    section says so. "The dataset module went in 0.8" had no such bullet: 0.7.0 removed it,
    and a trial's agent repeated the wrong release."""
    migrations = json.loads((API_DIR / "migrations.json").read_text(encoding="utf-8"))
    texts = list(migrations["names"].values()) + list(migrations["keywords"].values())
    named = {v for text in texts for v in re.findall(r"\b(\d+\.\d+(?:\.\d+)?)\b", text)}
    assert named and sorted(named) == sorted(MIGRATION_RELEASE_EVIDENCE)
    changelog = (pinned_tree.root / "CHANGELOG.md").read_text(encoding="utf-8")
    for release, phrases in MIGRATION_RELEASE_EVIDENCE.items():
        heading = re.search(rf"^###+ (?:New in )?{re.escape(release)} \(", changelog, re.M)
        assert heading, release
        following = re.compile(r"^###+ (?:New in )?\d+\.\d+", re.M).search(changelog, heading.end())
        section = changelog[heading.end(): following.start() if following else None]
        for phrase in phrases:
            assert phrase in section, (release, phrase)


def test_build_on_mini_tree_is_deterministic_and_routes_kwargs(repo_root):
    tree = open_release_tree(repo_root / "tests/fixtures/mini_tree", "0.0.1")
    first, second = build_release(tree), build_release(tree)
    assert dump_gz(first) == dump_gz(second)
    assert first["layout"] == "src" and "scvi.model.SCVI" in first["namespaces"]
    setup = first["symbols"][first["namespaces"]["scvi.model.SCVI.setup_anndata"]]
    assert setup.get("kwargs_to") in (None, "register_fields")
    outputs = release_outputs([first, {**second, "version": "0.0.1.post1"}])
    manifest = json.loads(outputs["releases.json"])
    assert [r["file"] for r in manifest["releases"]] == ["scvi-tools-0.0.1.json.gz"] * 2


def test_requires_python_is_read_from_pkg_info_else_pyproject(tmp_path):
    from scvi_skill.build.api_releases import requires_python

    assert requires_python(tmp_path) == ""
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.9,<3.12"\n')
    assert requires_python(tmp_path) == ">=3.9,<3.12"
    (tmp_path / "PKG-INFO").write_text("Metadata-Version: 2.1\nRequires-Python: >=3.10\n")
    assert requires_python(tmp_path) == ">=3.10"


def test_the_manifest_carries_each_releases_python_and_the_index_files_do_not(repo_root):
    """Two releases with one API share an index file, even when they declare other Python
    versions: those go in the manifest only."""
    tree = open_release_tree(repo_root / "tests/fixtures/mini_tree", "0.0.1")
    first = dict(build_release(tree), requires_python=">=3.9", requires={"torch": ">=1.8"})
    second = dict(build_release(tree), version="0.0.2", requires_python=">=3.10",
                  requires={"torch": ""})
    outputs = release_outputs([first, second])
    manifest = json.loads(outputs["releases.json"])
    assert [(r["file"], r["requires_python"], r["requires"]) for r in manifest["releases"]] == [
        ("scvi-tools-0.0.1.json.gz", ">=3.9", {"torch": ">=1.8"}),
        ("scvi-tools-0.0.1.json.gz", ">=3.10", {"torch": ""})]
    index = json.loads(gzip.decompress(outputs["scvi-tools-0.0.1.json.gz"]))
    assert "requires_python" not in index and "requires" not in index


def test_the_shipped_manifest_declares_the_pinned_trees_python(pinned_tree):
    from scvi_skill.build.api_releases import requires_dist, requires_python

    releases = load_releases()
    assert releases.requires_python[PINNED_SCVI_TOOLS] == requires_python(pinned_tree.root) != ""
    assert all(releases.requires_python[v] for v in releases.versions)
    assert releases.requires[PINNED_SCVI_TOOLS] == requires_dist(pinned_tree.root)
    assert "torch" in releases.requires[PINNED_SCVI_TOOLS] and all(
        releases.requires[v] for v in releases.versions)


def test_requires_dist_keeps_what_a_release_needs_to_run(tmp_path):
    from scvi_skill.build.api_releases import requires_dist

    assert requires_dist(tmp_path) == {}
    (tmp_path / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\n"
        "Requires-Dist: anndata (>=0.7.5)\n"
        "Requires-Dist: lightning<2.1,>=2.0\n"
        "Requires-Dist: scanpy[skmisc]>=1.10\n"
        "Requires-Dist: ml_collections\n"
        "Requires-Dist: importlib-metadata; python_version < '3.10'\n"
        "Requires-Dist: ray[tune]>=2.5.0; extra == 'autotune'\n")
    assert requires_dist(tmp_path) == {
        "anndata": ">=0.7.5", "importlib-metadata": "; python_version < '3.10'",
        "lightning": "<2.1,>=2.0", "ml-collections": "", "scanpy": ">=1.10"}


def test_history_spans():
    def release(version, names):
        return {"version": version, "namespaces": dict.fromkeys(names, "q"), "symbols": {}}

    history = build_history([release("1", ["a", "b"]), release("2", ["a"]), release("3", ["a", "b"])])
    assert history["names"] == {"a": [[0, 2]], "b": [[0, 0], [2, 2]]}


def test_signature_differences_for_resolve_docs():
    from scvi_skill.runtime.apiindex import signature_differences

    releases = load_releases()
    pinned = ReleaseApi(load_release(releases, PINNED_SCVI_TOOLS))
    old = ReleaseApi(load_release(releases, "1.0.0"))
    diff = signature_differences(pinned, old, ["scvi.model.SCVI.train", "scvi.model.mlxSCVI",
                                               "scvi.model.SCVI.get_latent_representation"])
    assert diff["scvi.model.mlxSCVI"]["missing"] is True
    assert "use_gpu" in diff["scvi.model.SCVI.train"]["added"]
    assert "datamodule" in diff["scvi.model.SCVI.train"]["removed"]


def test_signature_differences_leave_out_keywords_a_route_takes():
    """SCVI of 1.2.0 has no use_observed_lib_size parameter, but its **kwargs go to VAE,
    which takes it: the user's SCVI(adata, use_observed_lib_size=False) works there, so it is
    no difference; registry, which that VAE lacks too, is. The same for DE's pseudocounts,
    which MULTIVI's differential_expression of 1.2.0 passes on to get_bayes_factors; a
    keyword that only goes into **kwargs of unknown destination is no proof (AUTOZI's
    registry of 1.0.4 stays)."""
    from scvi_skill.runtime.apiindex import signature_differences

    releases = load_releases()
    pinned = ReleaseApi(load_release(releases, PINNED_SCVI_TOOLS))
    old = ReleaseApi(load_release(releases, "1.2.0"))
    names = ["scvi.model.SCVI", "scvi.model.MULTIVI.differential_expression"]
    diff = signature_differences(pinned, old, names)
    assert diff["scvi.model.SCVI"]["removed"] == ["registry"]
    assert "pseudocounts" not in (diff.get(names[1]) or {}).get("removed", [])
    older = ReleaseApi(load_release(releases, "1.0.4"))
    assert "registry" in signature_differences(pinned, older, ["scvi.model.AUTOZI"])[
        "scvi.model.AUTOZI"]["removed"]


def test_signature_differences_name_changed_defaults():
    """differential_expression's mode went from 'change' (1.3.0) to 'vanilla' (1.5.1): a
    result that differs after an upgrade with no keyword added or removed."""
    from scvi_skill.runtime.apiindex import signature_differences

    releases = load_releases()
    pinned = ReleaseApi(load_release(releases, PINNED_SCVI_TOOLS))
    old = ReleaseApi(load_release(releases, "1.3.0"))
    name = "scvi.model.SCVI.differential_expression"
    diff = signature_differences(pinned, old, [name])[name]
    assert diff["defaults"]["mode"] == ["'change'", "'vanilla'"]
    assert "delta" not in diff["defaults"]
    assert signature_differences(pinned, pinned, [name]) == {}


ANSWER_MD = '''## n06

Use MuData:

```python
import scvi
scvi.model.MULTIVI.setup_mudata(mdata, batch_key="batch", labels_key="cell_type")
```

- In a list item:

  ```py
  model = scvi.model.MULTIVI(mdata)
  model.train(max_epochs=10, use_gpu=True)
  ```

```pycon
>>> vae = scvi.model.SCVI(adata)
>>> vae.train(use_gpu=True)
Epoch 1/400: scvi.nothere(use_gpu=True)
```

```python
def placeholder():
    ...
scvi.model.SCVI.setup_anndata(adata, batch="b")
```

```bash
scvi.model.JaxSCVI  # not Python: not checked
```
'''


def test_markdown_fences_are_checked_at_the_file_s_lines_and_columns(capsys, tmp_path):
    """An answer's draft: its Python fences share names like notebook cells; a fence in a
    list item and a console session keep the file's columns; output lines and other fences
    are not code; `...` alone is Python's Ellipsis, not a prompt."""
    path = tmp_path / "answer.md"
    path.write_text(ANSWER_MD, encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1
    got = [(f["line"], f["col"], f["name"], f["kwarg"]) for f in report["findings"]]
    lines = ANSWER_MD.splitlines()
    assert got == [
        (7, lines[6].index("labels_key") + 1, "scvi.model.MULTIVI.setup_mudata", "labels_key"),
        (14, lines[13].index("use_gpu") + 1, "scvi.model.MULTIVI.train", "use_gpu"),
        (19, lines[18].index("use_gpu") + 1, "scvi.model.SCVI.train", "use_gpu"),
        (26, lines[25].index("batch=") + 1, "scvi.model.SCVI.setup_anndata", "batch"),
    ]


def test_a_fence_that_does_not_parse_is_one_finding_at_its_line(capsys, tmp_path):
    path = tmp_path / "answer.md"
    path.write_text("text\n\n```python\nimport scvi\ndef f(:\n```\n", encoding="utf-8")
    code, out, _ = run(capsys, [str(path)])
    assert code == 1 and re.search(r"answer\.md:5:\d+: .*does not parse", out)


FLAGGED = f"{FENCE}python\nimport scvi\nscvi.model.SCVI(adata).train(use_gpu=True)\n{FENCE}\n"
"""A fence with one finding (``use_gpu``), on its third line."""


@pytest.mark.parametrize("block", [pytest.param(block, id=name)
                                   for name, block in FENCE_BLOCKS])
def test_markdown_fences_open_and_close_by_commonmark_s_rules(capsys, tmp_path, block):
    """A fence closes only at one of its own character, at least as long, with no info
    string, indented at most 3 spaces beyond its list item; a backtick fence's info string
    holds no backtick. The block before parses, and the fence after it is checked."""
    path = tmp_path / "answer.md"
    path.write_text(f"{block}\n\n{FLAGGED}", encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    line = len(block.splitlines()) + 4
    assert [(f["line"], f["name"], f["kwarg"]) for f in report["findings"]] == [
        (line, "scvi.model.SCVI.train", "use_gpu")]


def test_a_fence_never_closed_runs_to_the_end(capsys, tmp_path):
    path = tmp_path / "answer.md"
    path.write_text(f"Text.\n\n{FLAGGED[:-len(FENCE) - 1]}model = 1\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert [f["line"] for f in report["findings"]] == [5]


@pytest.mark.parametrize("indent", ["\t", "    ", "        "])
def test_an_indented_fence_is_still_checked(capsys, tmp_path, indent):
    """Pasted answers are often indented: a fence indented 4 columns or more (an indented
    code block to CommonMark) is still read as a Python fence, not as prose or broken code
    (a review's find: a tab-indented paste gave "does not parse")."""
    path = tmp_path / "answer.md"
    path.write_text(f"{indent}```python\nimport scvi\nscvi.model.SCVI.train(use_gpu=1)\n"
                    f"{indent}```\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1 and [f["line"] for f in report["findings"]] == [3], report


def test_stdin_is_python_or_markdown_by_its_contents(capsys, monkeypatch):
    import io

    def stdin(data: bytes):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))

    stdin(b"\xef\xbb\xbfimport scvi\nm = scvi.model.SCVI(adata)\nm.train(use_gpu=1)\n")
    code, report = findings_of(capsys, ["-"])
    assert code == 1 and [(f["path"], f["line"]) for f in report["findings"]] == [("<stdin>", 3)]
    stdin(ANSWER_MD.encode())
    code, report = findings_of(capsys, ["-"])
    assert [f["line"] for f in report["findings"]] == [7, 14, 19, 26]
    stdin(b"\n  \n")
    code, out, err = run(capsys, ["-"])
    assert code == 2 and "nothing on stdin" in err and "Traceback" not in err
    stdin(b"import scvi\n\xff\xfe\n")
    code, out, err = run(capsys, ["-"])
    assert code == 2 and "not text" in err and err.count("Error:") == 1
    stdin(b"import scvi\n")
    assert run(capsys, ["-", "-"])[0] == 2


def test_a_folder_is_not_searched_for_markdown(capsys, tmp_path):
    (tmp_path / "README.md").write_text("```python\nscvi.nothere()\n```\n", encoding="utf-8")
    assert run(capsys, [str(tmp_path)])[0] == 2  # no .py or .ipynb there


def test_a_method_called_on_the_object_a_call_builds_is_checked(capsys, tmp_path):
    text = ("import scvi\nfrom scvi.model import SCVI\n"
            "SCVI(adata, n_latent=10).train(use_gpu=True)\n"
            "scvi.model.SCANVI.load('dir', adata).train(max_epochs=1, plan_lr=1)\n"
            "SCVI(adata).trainn()\n"
            "print(len(adata)).train(use_gpu=True)\n")
    path = tmp_path / "chained.py"
    path.write_text(text, encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    got = [(f["line"], f["col"], f["name"], f["kwarg"]) for f in report["findings"]]
    lines = text.splitlines()
    assert code == 1 and got == [
        (3, lines[2].index("use_gpu") + 1, "scvi.model.SCVI.train", "use_gpu"),
        (4, lines[3].index("plan_lr") + 1, "scvi.model.SCANVI.train", "plan_lr"),
        (5, 1, "scvi.model.SCVI.trainn", None),
    ]  # print(...) builds nothing scvi-tools knows: not checked


def _mini_tree_copy(repo_root, tmp_path):
    """A copy of the mini tree to edit, and its training mixin's path."""
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(repo_root / "tests/fixtures/mini_tree", root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root, root / "src/scvi/model/base/_training_mixin.py"


def _mini_train(repo_root, tmp_path, params: str, body: str):
    """The mini tree's ``SCVI.train`` with ``params`` before its ``**trainer_kwargs`` and
    ``body`` as its code, built: ``(its symbol in the release index, the mixin's lines)``."""
    root, mixin = _mini_tree_copy(repo_root, tmp_path)
    mixin.write_text(mixin.read_text(encoding="utf-8").replace(
        "              **trainer_kwargs):\n", f"              {params}**trainer_kwargs):\n").replace(
        '        """Train the model."""', '        """Train the model."""\n' + body),
        encoding="utf-8")
    release = build_release(open_release_tree(root, "0.0.2"))
    symbol = release["symbols"][release["namespaces"]["scvi.model.SCVI.train"]]
    return symbol, mixin.read_text(encoding="utf-8").splitlines()


def test_a_keyword_train_passes_on_itself_is_kwargs_fixed(repo_root, tmp_path):
    """A keyword the runner call sets beside ``**trainer_kwargs`` (``devices=device``) is
    recorded, unless it is one of train()'s own parameters or popped or deleted first; the
    checker then rejects it with the reason."""
    root, mixin = _mini_tree_copy(repo_root, tmp_path)
    mixin.write_text(mixin.read_text(encoding="utf-8").replace(
        '        """Train the model."""',
        '        """Train the model."""\n'
        '        trainer_kwargs.pop("plan", None)\n'
        '        del trainer_kwargs["splitter"]\n'
        '        device = "auto"\n'
        '        runner = self._train_runner_cls(self, max_epochs=max_epochs, devices=device,\n'
        '                                        plan=None, splitter=None,\n'
        '                                        early_stopping_patience=50, **trainer_kwargs)\n'
        '        return runner()'), encoding="utf-8")
    release = build_release(open_release_tree(root, "0.0.2"))
    train = release["symbols"][release["namespaces"]["scvi.model.SCVI.train"]]
    assert train["kwargs_to"] == "trainer"
    assert train["kwargs_fixed"] == ["devices", "early_stopping_patience"]
    api = ReleaseApi(release)
    qualname = release["namespaces"]["scvi.model.SCVI.train"]
    verdict = api.accepts(qualname, "devices")
    assert not verdict.accepted and "already passes devices: TypeError" in verdict.reason
    assert api.accepts(qualname, "max_epochs").accepted  # its own parameter
    assert api.accepts(qualname, "gradient_clip_val").accepted  # a Lightning Trainer keyword


def test_a_dict_keyword_passed_on_beside_its_own_keywords_is_splat_fixed(repo_root, tmp_path):
    """``train(datasplitter_kwargs=...)`` passed on as ``**`` to calls that set keywords
    themselves records the keywords every such call sets, less keys popped or deleted first;
    a parameter reassigned other than keeping its keys (``P or {}`` keeps them) is left out.
    The index keeps the line of the first such call."""
    symbol, lines = _mini_train(
        repo_root, tmp_path,
        "datasplitter_kwargs: dict | None = None, plan_kwargs: dict | None = None,\n"
        "              loader_kwargs: dict | None = None, ",
        '        datasplitter_kwargs = datasplitter_kwargs or {}\n'
        '        datasplitter_kwargs.pop("shuffle", None)\n'
        '        plan_kwargs = {k: v for k, v in (plan_kwargs or {}).items() if k != "lr"}\n'
        '        if max_epochs:\n'
        '            splitter = Splitter(batch_size=1, train_size=0.9, shuffle=True,\n'
        '                                **datasplitter_kwargs)\n'
        '        else:\n'
        '            splitter = Splitter(batch_size=2, **datasplitter_kwargs)\n'
        '        plan = Plan(lr=1e-3, **plan_kwargs)\n'
        '        loader = Loader(**loader_kwargs)\n'
        '        return splitter, plan, loader')
    fixed = symbol["splat_fixed"]
    # batch_size in both calls; train_size in one only; shuffle popped; plan_kwargs rebuilt;
    # loader_kwargs passed on alone.
    assert list(fixed) == ["datasplitter_kwargs"] and fixed["datasplitter_kwargs"][1] == [
        "batch_size"]
    assert "Splitter(batch_size=1" in lines[fixed["datasplitter_kwargs"][0] - 1]


def test_a_dict_emptied_under_if_none_keeps_its_keys(repo_root, tmp_path):
    """``if P is None: P = {}`` keeps every key the caller gave, as ``P = P or {}`` does
    (DestVI.from_rna_model's ``anndata_setup_kwargs``, RESOLVI's ``prepare_data_kwargs``):
    the keywords beside ``**P`` are recorded. An ``if P is None: P = {"a": 1}`` (a literal
    with keys) or an ``if P:`` guard is a rebuild, and the parameter is left out."""
    symbol, _ = _mini_train(
        repo_root, tmp_path,
        "datasplitter_kwargs: dict | None = None, plan_kwargs: dict | None = None,\n"
        "              loader_kwargs: dict | None = None, ",
        '        if datasplitter_kwargs is None:\n'
        '            datasplitter_kwargs = {}\n'
        '        if plan_kwargs is None:\n'
        '            plan_kwargs = {"lr": 1}\n'
        '        if loader_kwargs:\n'
        '            loader_kwargs = dict()\n'
        '        return (Splitter(batch_size=1, **datasplitter_kwargs), Plan(eps=1, **plan_kwargs),\n'
        '                Loader(eps=1, **loader_kwargs))')
    assert symbol["splat_fixed"] == {"datasplitter_kwargs": [symbol["splat_fixed"][
        "datasplitter_kwargs"][0], ["batch_size"]]}


def test_a_dict_passed_on_beside_another_model_s_setup_args_is_splat_setup_args(repo_root,
                                                                                tmp_path):
    """A classmethod with a parameter annotated by a model class (``ref: SCVI``) that calls
    ``cls.setup_anndata(adata, **P, **registry[_SETUP_ARGS_KEY])`` records, for ``P``, the
    reference model's setup parameters (SCVI's ``layer`` and ``batch_key``; not ``adata``
    nor ``**kwargs``), less a key popped from P first; the checker flags such a key with the
    TypeError Python raises. Without the second splat, or with two model annotations,
    nothing is recorded."""
    root, _ = _mini_tree_copy(repo_root, tmp_path)
    model = root / "src/scvi/model/_scvi.py"
    model.write_text(model.read_text(encoding="utf-8").replace(
        "    async def fetch_remote(",
        "    @classmethod\n"
        "    def from_reference(cls, adata, ref: SCVI, setup_kwargs: dict | None = None):\n"
        "        registry = ref.registry\n"
        "        if setup_kwargs is None:\n"
        "            setup_kwargs = {}\n"
        "        setup_kwargs.pop('batch_key', None)\n"
        "        cls.setup_anndata(adata, **setup_kwargs, **registry[_SETUP_ARGS_KEY])\n"
        "        return cls(adata)\n"
        "\n"
        "    @classmethod\n"
        "    def from_two(cls, adata, ref: SCVI, other: Other, kw: dict | None = None):\n"
        "        cls.setup_anndata(adata, **(kw or {}), **ref.registry[_SETUP_ARGS_KEY])\n"
        "\n"
        "    @classmethod\n"
        "    def from_plain(cls, adata, ref: SCVI, kw: dict | None = None):\n"
        "        kw = kw or {}\n"
        "        cls.setup_anndata(adata, **kw, **ref.setup_args)\n"
        "\n"
        "    async def fetch_remote(") + "\n\nclass Other(SCVI):\n    pass\n",
        encoding="utf-8")
    release = build_release(open_release_tree(root, "0.0.2"))
    by_name = {q.rsplit(".", 1)[-1]: s for q, s in release["symbols"].items()}
    line, owner, keys = by_name["from_reference"]["splat_setup_args"]["setup_kwargs"]
    assert owner == release["namespaces"]["scvi.model.SCVI"] and keys == ["layer"]
    assert "**registry[_SETUP_ARGS_KEY]" in model.read_text(encoding="utf-8").splitlines()[
        line - 1]
    assert "splat_setup_args" not in by_name["from_two"]
    assert "splat_setup_args" not in by_name["from_plain"]
    api = ReleaseApi(release)
    scope = SnippetScope()
    findings = check_snippet(
        "import scvi\nscvi.model.SCVI.from_reference(a, m, setup_kwargs={'layer': 'c', "
        "'labels_key': 'x'})\n", api, scope, inline=False)
    assert [(f.line, f.check, f.kwarg) for f in findings] == [(2, "splat_key", "layer")]
    assert "got multiple values for keyword argument 'layer'" in findings[0].message
    assert "together with the SCVI model's own setup arguments" in findings[0].message


def test_check_code_flags_a_destvi_setup_key_the_condscvi_already_sets(capsys, tmp_path):
    """On 1.5.1's index: DestVI.from_rna_model passes anndata_setup_kwargs on together with
    the CondSCVI's saved setup arguments, so ``layer`` (or ``batch_key``) in them raises
    TypeError (pitfall ``destvi-from-rna-model-takes-the-reference-layer``, proven in
    test_pitfall_proofs.py); ``smoothed_layer`` is DestVI's own and goes through."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nst = scvi.model.DestVI.from_rna_model(\n"
        "    st_adata, sc_model, anndata_setup_kwargs={'layer': 'counts',\n"
        "                                              'smoothed_layer': 'smooth'})\n")
    assert code == 1 and got == [(3, "scvi.model.DestVI.from_rna_model", "layer")], got
    assert "src/scvi/model/_destvi.py:188" in messages[0]
    assert "the CondSCVI model's own setup arguments, layer among them" in messages[0]


def test_a_plan_that_optimizes_by_hand_is_recorded(repo_root, tmp_path):
    """A class whose ``__init__`` sets ``self.automatic_optimization = False`` as a statement
    of its body records ``[line, False]``; one that sets it under an ``if`` records nothing."""
    root, _ = _mini_tree_copy(repo_root, tmp_path)
    plans = root / "src/scvi/train/_trainingplans.py"
    plans.write_text(plans.read_text(encoding="utf-8") + (
        "\n\nclass ByHand:\n"
        "    def __init__(self, module):\n"
        "        self.module = module\n"
        "        self.automatic_optimization = False\n"
        "\n\nclass Sometimes:\n"
        "    def __init__(self, module, manual=False):\n"
        "        if manual:\n"
        "            self.automatic_optimization = False\n"), encoding="utf-8")
    release = build_release(open_release_tree(root, "0.0.2"))
    by_name = {q.rsplit(".", 1)[-1]: s for q, s in release["symbols"].items()}
    line, value = by_name["ByHand"]["automatic_optimization"]
    assert value is False and "automatic_optimization = False" in plans.read_text(
        encoding="utf-8").splitlines()[line - 1]
    assert "automatic_optimization" not in by_name["Sometimes"]


def test_check_code_flags_trainer_keywords_lightning_refuses_under_manual_optimization(
        capsys, tmp_path):
    """On 1.5.1's index: TOTALVI and MULTIVI train with AdversarialTrainingPlan, AmortizedLDA
    and RESOLVI with PyroTrainingPlan, all optimizing by hand, so gradient_clip_val above 0
    and accumulate_grad_batches other than 1 are flagged (as keywords, or keys of a
    trainer_config dict where train() takes one). Not flagged: SCVI (automatic), SCANVI (its
    plans differ: only TOTALANVI's train() swaps in the adversarial one), values Lightning lets
    through, and a variable (it may hold None)."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nt = scvi.model.TOTALVI(mdata)\nt.train(gradient_clip_val=1.0)\n"
        "t.train(gradient_clip_val=0, accumulate_grad_batches=1)\n"
        "t.train(accumulate_grad_batches=4)\n"
        "m = scvi.model.MULTIVI(mdata)\nm.train(gradient_clip_val=0.5)\n"
        "m.train(gradient_clip_val=clip)\n"
        "lda = scvi.model.AmortizedLDA(adata)\n"
        "lda.train(trainer_config={'gradient_clip_val': 1.0})\n"
        "r = scvi.external.RESOLVI(adata)\nr.train(gradient_clip_val=1.0)\n"
        "s = scvi.model.SCVI(adata)\ns.train(gradient_clip_val=1.0)\n"
        "a = scvi.model.SCANVI(adata)\na.train(gradient_clip_val=1.0)\n")
    assert code == 1 and got == [
        (3, "scvi.model.TOTALVI.train", "gradient_clip_val"),
        (5, "scvi.model.TOTALVI.train", "accumulate_grad_batches"),
        (7, "scvi.model.MULTIVI.train", "gradient_clip_val"),
        (10, "scvi.model.AmortizedLDA.train", "gradient_clip_val"),
        (12, "scvi.external.RESOLVI.train", "gradient_clip_val")], got
    assert "not supported for manual optimization" in messages[0]
    assert "AdversarialTrainingPlan, which sets automatic_optimization = False in 1.5.1 " \
           "(src/scvi/train/_trainingplans.py:711)" in messages[0]
    assert "PyroTrainingPlan" in messages[3]


def test_keys_a_method_then_sets_itself_are_kwargs_overwritten(repo_root, tmp_path):
    """``P.update({...})`` (or of a literal assigned before) and ``P["k"] = ...`` as statements
    of the function's own block record the keys, each with the parameter its value comes
    from; an update under an ``if`` does not count, and neither does a parameter rebuilt from
    a literal (VELOVI's ``plan_kwargs = {...}; plan_kwargs.update(user's)``: the user wins),
    nor a key the function reads from P (``P.get("weight_decay", 0)``: the caller's value may
    stay). ``merge_kwargs(None, P, ...)`` keeps the caller's keys."""
    symbol, lines = _mini_train(
        repo_root, tmp_path,
        "lr: float = 4e-3, plan_kwargs: dict | None = None,\n"
        "              other_kwargs: dict | None = None, ",
        '        plan_kwargs = merge_kwargs(None, plan_kwargs, name="plan")\n'
        '        update_dict = {"lr": lr, "optimizer": "AdamW"}\n'
        '        plan_kwargs.update(update_dict)\n'
        '        plan_kwargs["n_epochs_kl_warmup"] = lr if lr else 0\n'
        '        plan_kwargs.update({"weight_decay": plan_kwargs.get("weight_decay", 0)})\n'
        '        if max_epochs:\n'
        '            plan_kwargs.update({"eps": 0.1})\n'
        '        user = other_kwargs or {}\n'
        '        other_kwargs = {"lr": lr}\n'
        '        other_kwargs.update(user)\n'
        '        return Plan(**plan_kwargs), Plan(**other_kwargs)')
    line, keys = symbol["kwargs_overwritten"]["plan_kwargs"]
    assert keys == {"lr": "lr", "n_epochs_kl_warmup": "lr", "optimizer": ""}
    assert list(symbol["kwargs_overwritten"]) == ["plan_kwargs"]
    assert "plan_kwargs.update(update_dict)" in lines[line - 1]


def test_check_code_flags_a_plan_kwargs_key_train_then_sets_itself(capsys, tmp_path):
    """On 1.5.1's index: TOTALVI's and PEAKVI's train() set lr (and PEAKVI's weight_decay)
    in plan_kwargs from their own parameters, CellAssign's weight_decay to a constant; SCVI's
    keeps them. A dict held by a variable is followed."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nt = scvi.model.TOTALVI(adata)\nt.train(plan_kwargs={'lr': 1e-3})\n"
        "pk = {'weight_decay': 0.0, 'lr': 1e-3}\np = scvi.model.PEAKVI(adata)\n"
        "p.train(plan_kwargs=pk)\nm = scvi.model.SCVI(adata)\nm.train(plan_kwargs=pk)\n"
        "c = scvi.external.CellAssign(adata, markers)\n"
        "c.train(plan_kwargs={'weight_decay': 0.0})\n")
    assert code == 1 and got == [
        (3, "scvi.model.TOTALVI.train", "lr"), (4, "scvi.model.PEAKVI.train", "weight_decay"),
        (4, "scvi.model.PEAKVI.train", "lr"),
        (10, "scvi.external.CellAssign.train", "weight_decay")], got
    assert "from its own lr=, default 0.004; pass train(lr=...) instead" in messages[0]
    assert "src/scvi/model/_totalvi.py:329" in messages[0]
    assert "plan_kwargs cannot change it" in messages[3]


def test_a_class_that_keeps_its_kwargs_for_later_calls_is_stored_kwargs_fixed(repo_root,
                                                                              tmp_path):
    """A class whose __init__ stores **kwargs as self.kw (after popping drop_last) and whose
    methods call Loader(indices=..., shuffle=..., **self.kw): indices and shuffle collide
    later; a subclass whose __init__ takes shuffle itself and passes the rest up collides on
    indices only. train()'s **datasplitter_kwargs to self._data_splitter_cls is recorded as
    going to the model's data splitter."""
    symbol, _ = _mini_train(
        repo_root, tmp_path, "datasplitter_kwargs: dict | None = None, ",
        '        return self._data_splitter_cls(1, batch_size=2, **datasplitter_kwargs)\n'
        '\n\n'
        'class Splitter:\n'
        '    def __init__(self, a, pin=False, **kwargs):\n'
        '        self.drop = kwargs.pop("drop_last", False)\n'
        '        self.kw = kwargs\n'
        '\n'
        '    def train_dataloader(self):\n'
        '        return Loader(indices=1, shuffle=True, drop_last=self.drop, **self.kw)\n'
        '\n'
        '    def val_dataloader(self):\n'
        '        return Loader(indices=2, shuffle=False, pin=1, **self.kw)\n'
        '\n\n'
        'class Sub(Splitter):\n'
        '    def __init__(self, a, shuffle=False, **kwargs):\n'
        '        super().__init__(a, **kwargs)\n'
        '\n\n'
        'def _unused():\n'
        '    pass')
    assert symbol["splat_to"] == {"datasplitter_kwargs": "uses:data_splitter"}
    release = build_release(open_release_tree(tmp_path / "tree", "0.0.2"))
    by_name = {q.rsplit(".", 1)[-1]: s for q, s in release["symbols"].items()}
    assert by_name["Splitter"]["stored_kwargs_fixed"][1] == ["indices", "shuffle"]
    assert by_name["Sub"]["stored_kwargs_fixed"][1] == ["indices"]


def test_check_code_follows_datasplitter_kwargs_into_the_model_s_data_splitter(capsys,
                                                                               tmp_path):
    """On 1.5.1's index: shuffle in datasplitter_kwargs collides in SCVI's DataSplitter and
    SCANVI's SemiSupervisedDataSplitter (through the model's data splitter) and GIMVI's
    DataSplitter (named in its train()); a Pyro model's train() calls two splitters, so
    nothing is said; num_workers goes through."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nm = scvi.model.SCVI(adata)\n"
        "m.train(datasplitter_kwargs={'shuffle': False, 'num_workers': 2})\n"
        "s = scvi.model.SCANVI(adata)\ns.train(datasplitter_kwargs={'shuffle': False})\n"
        "g = scvi.external.GIMVI(a, b)\ng.train(datasplitter_kwargs={'shuffle': False})\n"
        "l = scvi.model.AmortizedLDA(adata)\nl.train(datasplitter_kwargs={'shuffle': False})\n")
    assert code == 1 and got == [
        (3, "scvi.model.SCVI.train", "shuffle"), (5, "scvi.model.SCANVI.train", "shuffle"),
        (7, "scvi.external.GIMVI.train", "shuffle")], got
    assert "SemiSupervisedDataSplitter keeps **datasplitter_kwargs" in messages[1]
    assert "src/scvi/dataloaders/_data_splitting.py:" in messages[0]
    # The index keeps a **P callee only where a later collision is known: GIMVI's
    # plan_kwargs go to its training plan, which keeps nothing for later.
    gimvi = load_release(load_releases(), "1.5.1")["symbols"][
        "scvi.external.gimvi._model.GIMVI.train"]
    assert gimvi["splat_to"] == {
        "datasplitter_kwargs": "scvi.dataloaders._data_splitting.DataSplitter"}


def test_check_code_flags_a_dict_key_the_callee_sets_itself(capsys, tmp_path):
    """On 1.5.1's index: SCVI.train sets batch_size= on its data splitter, TOTALVI.train sets
    external_indexing=, get_elbo sets batch_size= on its loader; num_workers and drop_last
    go through. The message says what Python raises and where, and the way to pass it."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nm = scvi.model.SCVI(adata)\n"
        "m.train(datasplitter_kwargs={'batch_size': 64, 'num_workers': 2, 'drop_last': True})\n"
        "kw = dict(external_indexing=idx)\nt = scvi.model.TOTALVI(adata)\n"
        "t.train(datasplitter_kwargs=kw)\n"
        "m.train(datasplitter_kwargs=kw)\n"
        "m.get_elbo(data_loader_kwargs={'batch_size': 8})\n")
    assert code == 1 and got == [
        (3, "scvi.model.SCVI.train", "batch_size"),
        (4, "scvi.model.TOTALVI.train", "external_indexing"),
        (8, "scvi.model.SCVI.get_elbo", "batch_size")], got
    first = messages[0]
    assert "got multiple values for keyword argument 'batch_size'" in first
    assert "src/scvi/model/base/_training_mixin.py:157" in first
    assert "pass batch_size= to train() itself" in first


def test_a_member_scvi_settings_lacks_is_flagged_read_or_assigned(capsys, tmp_path):
    """scvi.settings is a ScviConfig: a member the class lacks is flagged where it is read
    (AttributeError) or assigned (nothing happens), with the close setting it likely meant
    and the release that removed it; a call is reported once; the settings that exist,
    and a name imported from scvi, are fine."""
    source = ("import scvi\nfrom scvi import settings\n"
              "scvi.settings.seed = 0\nscvi.settings.num_workers = 4\nsettings.dl_num_workers = 2\n"
              "print(settings.sed)\nscvi.settings.batchsize += 1\n"
              "scvi.settings.reset_logging_handler()\n"
              "scvi.settings.jax_preallocate_gpu_memory = False\nscvi.settings.no_such_method()\n")
    code, got, texts = checked_on_pinned(capsys, tmp_path, source)
    assert code == 1 and [(line, name) for line, name, _ in got] == [
        (4, "scvi.settings.num_workers"), (6, "scvi.settings.sed"),
        (7, "scvi.settings.batchsize"), (9, "scvi.settings.jax_preallocate_gpu_memory"),
        (10, "scvi.settings.no_such_method")], got
    messages = {line: text for (line, _, _), text in zip(got, texts)}
    assert "did you mean scvi.settings.dl_num_workers?" in messages[4]
    assert messages[4].endswith("assigning it raises no error and changes no setting")
    assert messages[6].endswith("reading it raises AttributeError")
    assert messages[7].endswith("reading it raises AttributeError")  # += reads it first
    assert "removed in 1.5.0 (last in 1.4.3)" in messages[9]
    code, report = findings_of(capsys, [str(tmp_path / "snippet.py"), "--version", "1.4.3"])
    assert "scvi.settings.jax_preallocate_gpu_memory" not in {f["name"] for f in
                                                             report["findings"]}


def test_a_name_a_package_binds_outside_its_all_exists(capsys, tmp_path):
    """scvi.external.cytovi imports transform_arcsinh but its __all__ leaves it out: it exists
    (not a finding), while a name the package never binds is one."""
    path = tmp_path / "cyto.py"
    path.write_text("import scvi\nscvi.external.cytovi.transform_arcsinh(adata)\n"
                    "scvi.external.cytovi.not_there(adata)\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.5.1"])
    assert code == 1 and [(f["line"], f["name"]) for f in report["findings"]] == [
        (3, "scvi.external.cytovi.not_there")]
    release = load_release(load_releases(), "1.5.1")
    assert "transform_arcsinh" in release["bound"]["scvi.external.cytovi"]


def test_the_pinned_tree_s_own_tests_raise_no_false_alarm(capsys, pinned_tree):
    """scvi-tools' test suite runs green on 1.5.1, so every call in it that the checker
    flags must be one that test expects to fail or to be overridden: a setup_anndata(batch=...)
    under pytest.raises(TypeError), two SysVI plan_kwargs KL warmups under
    pytest.warns(..., match="The use of KL weight warmup"), which SysVI resets to 0, three
    TOTALVI keywords that from_totalvi_model drops, and SysVI's transform_batch, which the test
    only runs (its module never reads it: a keyword without effect, proven in
    test_pitfall_proofs.py::test_sysvi_ignores_transform_batch), and SCANVI.from_scvi_model's
    registry, which its body never reads."""
    code, report = findings_of(capsys, [str(pinned_tree.root / "tests"), "--version",
                                        PINNED_SCVI_TOOLS])
    assert report["files"] > 50
    got = [(f["path"].split("/tests/", 1)[1], f["name"], f["kwarg"]) for f in report["findings"]]
    unread = ("external/sysvi/test_sysvi.py", "scvi.external.SysVI.get_normalized_expression",
              "transform_batch")
    assert unread in got and ["changes nothing" in f["message"] for f in report["findings"]
                              if f["kwarg"] == "transform_batch"] == [True]
    report["findings"] = [f for f in report["findings"] if f["kwarg"] != "transform_batch"]
    got.remove(unread)
    # Two calls pass a datamodule's registry to SCANVI.from_scvi_model, whose body never reads
    # that parameter (it takes the SCVI model's registry): a keyword without effect.
    registry = [f for f in report["findings"] if f["kwarg"] == "registry"]
    assert [(f["name"], "never reads it" in f["message"]) for f in registry] == [
        ("scvi.model.SCANVI.from_scvi_model", True)] * 2
    report["findings"] = [f for f in report["findings"] if f["kwarg"] != "registry"]
    got = [g for g in got if g[2] != "registry"]
    assert got == [("data/test_anndata.py", "scvi.model.SCVI.setup_anndata", "batch"),
                   ("external/sysvi/test_sysvi.py", "scvi.external.SysVI.train",
                    "n_steps_kl_warmup"),
                   ("external/sysvi/test_sysvi.py", "scvi.external.SysVI.train",
                    "n_epochs_kl_warmup")] + [
        # Three calls pass TOTALVI's own empirical_protein_background_prior to
        # from_totalvi_model, which drops it with a UserWarning (the TOTALVI model's value
        # stays): a keyword without effect, not an error, said as such.
        (path, "TOTALANVI.from_totalvi_model", "empirical_protein_background_prior")
        for path in ("external/totalanvi/test_totalanvi.py",) * 2
        + ("model/test_models_with_mudata_minified_data.py",)], got
    assert all("drops keyword" in f["message"] for f in report["findings"][3:])
    lines = (pinned_tree.root / "tests/data/test_anndata.py").read_text().splitlines()
    line = report["findings"][0]["line"]
    assert "pytest.raises(TypeError)" in lines[line - 2]
    lines = (pinned_tree.root / "tests/external/sysvi/test_sysvi.py").read_text().splitlines()
    for finding in report["findings"][1:3]:
        assert 'pytest.warns(Warning, match="The use of KL weight warmup")' in \
            lines[finding["line"] - 5]


def test_an_answers_file_starts_names_afresh_at_each_top_heading(capsys, tmp_path):
    """In an answers file each ``## id`` is another answer: its ``model`` is not the last
    answer's (a SCANVI there, an SCVI before); within one answer the fences share names."""
    text = ("## q1\n\n```python\nimport scvi\nmodel = scvi.model.SCVI(adata)\n```\n\n"
            "### more\n\n```python\nmodel.predict(soft=True)\n```\n\n"
            "## q2\n\n```python\nimport scvi\nmodel.predict(soft=True)\n```\n")
    path = tmp_path / "answers.md"
    path.write_text(text, encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert [(f["line"], f["name"]) for f in report["findings"]] == [
        (11, "scvi.model.SCVI.predict")]  # the ### section is still q1's: SCVI has no predict


def test_plan_kwargs_written_as_a_variable_are_checked_until_keys_are_taken_out(capsys,
                                                                                 tmp_path):
    """``plan_kwargs=pk`` with ``pk`` a dict literal assigned before: its keys are checked
    (the finding is where the key is written); after ``pk.pop(...)`` or ``del pk[...]`` they
    are no longer known, so nothing is said."""
    text = ("import scvi\nm = scvi.model.SCVI(adata)\n"
            "pk = {'lr': 1e-3, 'gradient_clip_val': 1.0}\nm.train(plan_kwargs=pk)\n"
            "pk.pop('gradient_clip_val')\nm.train(plan_kwargs=pk)\n"
            "q = dict(foo=1)\ndel q['foo']\nm.train(plan_kwargs=q)\n"
            "m.train(plan_kwargs={'n_epochs_kl_warmup': 5, 'weight_decay': 0.0})\n")
    path = tmp_path / "pk.py"
    path.write_text(text, encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.5.1"])
    got = [(f["line"], f["col"], f["kwarg"]) for f in report["findings"]]
    lines = text.splitlines()
    assert code == 1 and got == [(3, lines[2].index("'gradient_clip_val'") + 1,
                                  "gradient_clip_val")]
    assert "VAE.loss()" in report["findings"][0]["message"]


def test_code_that_sets_its_own_training_plan_class_gets_no_plan_kwargs_finding(capsys,
                                                                               tmp_path):
    """scvi-tools' own test suite swaps SCANVI._training_plan_cls for a test plan that takes
    n_samples_per_label: the stock plan's parameters then say nothing about the keys."""
    text = ("import scvi\nfrom scvi.model import SCANVI\n"
            "m = SCANVI(adata)\nm.train(plan_kwargs={'n_samples_per_label': 10})\n")
    path = tmp_path / "stock.py"
    path.write_text(text, encoding="utf-8")
    assert [f["kwarg"] for f in findings_of(capsys, [str(path)])[1]["findings"]] == [
        "n_samples_per_label"]
    path.write_text(text.replace("m = SCANVI", "SCANVI._training_plan_cls = MyPlan\nm = SCANVI"),
                    encoding="utf-8")
    assert findings_of(capsys, [str(path)])[1]["findings"] == []


@pytest.mark.parametrize("version", ["1.4.0", "1.4.0.post1", "1.4.3"])
def test_mrvi_s_backend_keyword_is_taken_where_its_new_takes_it(capsys, tmp_path, version):
    """MRVI of 1.4.0-1.4.3 takes ``backend`` in its ``__new__`` (a factory over an inherited
    ``__init__(adata, registry)``). A trial agent (round 47) saw check_code.py reject it on
    1.4.0 before the indexes merged ``__new__``'s parameters into the class's."""
    path = tmp_path / "mrvi.py"
    path.write_text('import scvi\nmodel = scvi.external.MRVI(adata, backend="jax")\n',
                    encoding="utf-8")
    got, report = findings_of(capsys, [str(path), "--version", version])
    assert (got, report["findings"]) == (0, [])
    symbol = ReleaseApi(load_release(load_releases(), version)).symbol("scvi.external.MRVI")
    assert "backend" in [p["name"] for p in symbol["params"]]


def test_shown_code_findings_keep_the_shown_lines_of_markdown_fences_only():
    """resolve_docs.py --version V checks the code its passages show: a finding counts when its
    line is shown, a fence may use an earlier fence's import, one line per message, and
    release notes and other files are not code to check."""
    from scvi_skill.runtime.apifiles import load_history, load_migrations
    from scvi_skill.runtime.codelint import History, shown_code_findings

    releases = load_releases()
    api = ReleaseApi(load_release(releases, "1.2.0"))
    history = History(load_history(releases), load_migrations())
    doc = ["# Title", "", "```python", "from scvi.train import TrainerConfig", "```", "",
           "```python", "config = TrainerConfig(early_stopping=True)",
           "config2 = TrainerConfig()", "model.train(plan_config=1)", "```", "",
           "```python", "import scvi", "scvi.model.SCVI.setup_anndata(adata, layer='counts')",
           "```"]
    files = {"docs/a.md": doc, "CHANGELOG.md": doc, "src/scvi/a.py": doc}
    found = shown_code_findings([("docs/a.md", 7, 11)], files.__getitem__, api, history)
    assert [(f.line, f.message) for f in found] == [
        (8, "scvi.train.TrainerConfig: added in 1.4.2")], found  # line 9: same message
    assert shown_code_findings([("docs/a.md", 13, 16)], files.__getitem__, api, history) == []
    for other in ("CHANGELOG.md", "src/scvi/a.py"):
        assert shown_code_findings([(other, 1, 16)], files.__getitem__, api, history) == []
    newer = ReleaseApi(load_release(releases, "1.4.2"))
    assert shown_code_findings([("docs/a.md", 1, 16)], files.__getitem__, newer, history) == []


# -- a class's **kwargs handed on to one class (a model's module): kwargs_to "class"


def _mini_model(repo_root, tmp_path, init: str, extra: str = ""):
    """The mini tree with SCVI's ``__init__`` replaced by ``init`` (and ``extra`` code after
    the class), built: ``(release index, ReleaseApi)``."""
    root, _ = _mini_tree_copy(repo_root, tmp_path)
    model = root / "src/scvi/model/_scvi.py"
    text = model.read_text(encoding="utf-8")
    old = ("    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
           "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n")
    assert old in text
    model.write_text(text.replace(old, init) + extra, encoding="utf-8")
    release = build_release(open_release_tree(root, "0.0.2"))
    return release, ReleaseApi(release)


def test_a_model_whose_kwargs_go_to_its_module_checks_them_against_the_module(repo_root, tmp_path):
    """SCVI(adata, **kwargs) -> self._module_cls(n_input=..., **kwargs): the module's
    keywords pass, a keyword the module lacks is rejected with where the **kwargs go, and a
    keyword the call sets itself (n_input) is 'multiple values'."""
    release, api = _mini_model(repo_root, tmp_path, (
        "    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
        "        self._module_kwargs = {'n_latent': n_latent, **kwargs}\n"
        "        self.module = self._module_cls(n_input=3, n_latent=n_latent, **kwargs)\n"))
    model = release["namespaces"]["scvi.model.SCVI"]
    symbol = release["symbols"][model]
    assert symbol["kwargs_to"] == "class"
    assert symbol["kwargs_target"] == release["namespaces"]["scvi.module.VAE"]
    assert symbol["kwargs_fixed"] == ["n_input"]  # n_latent is SCVI's own parameter
    assert api.accepts(model, "dispersion").accepted  # VAE's keyword-only parameter
    assert api.accepts(model, "n_latent").accepted
    bogus = api.accepts(model, "use_batchnorm")
    assert not bogus.accepted and bogus.owner == symbol["kwargs_target"]
    assert bogus.reason == "its **kwargs go to scvi.module.VAE, which does not take it"
    fixed = api.accepts(model, "n_input")
    assert not fixed.accepted and "multiple values" in fixed.reason


@pytest.mark.parametrize("init", [
    # the **kwargs are read, popped or kept besides the call: where they end is not proven
    "    def __init__(self, adata=None, **kwargs):\n"
    "        kwargs.pop('extra', None)\n"
    "        self.module = self._module_cls(**kwargs)\n",
    "    def __init__(self, adata=None, **kwargs):\n"
    "        self.kept = kwargs\n"
    "        self.module = self._module_cls(**kwargs)\n",
    "    def __init__(self, adata=None, **kwargs):\n"
    "        module_kwargs = dict(kwargs)\n"
    "        if module_kwargs.get('extra'):\n"
    "            del module_kwargs['extra']\n"
    "        self.module = self._module_cls(**module_kwargs)\n",
    # two callees
    "    def __init__(self, adata=None, **kwargs):\n"
    "        if adata is None:\n"
    "            self.module = self._module_cls(**kwargs)\n"
    "        else:\n"
    "            self.module = dict(**kwargs)\n",
], ids=["popped", "stored", "copy-read", "two-callees"])
def test_kwargs_not_provably_handed_to_one_class_are_not_routed(repo_root, tmp_path, init):
    release, api = _mini_model(repo_root, tmp_path, init)
    model = release["namespaces"]["scvi.model.SCVI"]
    assert "kwargs_to" not in release["symbols"][model]
    verdict = api.accepts(model, "use_batchnorm")
    assert verdict.accepted and verdict.via == "**kwargs"


@pytest.mark.parametrize("init", [
    # SCANVI: a copy splatted; CondSCVI: keys added with update(); a key set by subscript
    "    def __init__(self, adata=None, **kwargs):\n"
    "        module_kwargs = dict(kwargs)\n"
    "        self.module = self._module_cls(**module_kwargs)\n",
    "    def __init__(self, adata=None, **kwargs):\n"
    "        copied = kwargs.copy()\n"
    "        copied['n_latent'] = 3\n"
    "        self.module = self._module_cls(**copied)\n",
    "    def __init__(self, adata=None, **kwargs):\n"
    "        kwargs.update({'n_latent': 3})\n"
    "        kwargs.setdefault('dispersion', 'gene')\n"
    "        self.module = self._module_cls(**kwargs)\n",
], ids=["dict-copy", "copy-method", "update"])
def test_kwargs_copied_or_added_to_still_go_to_the_module(repo_root, tmp_path, init):
    release, api = _mini_model(repo_root, tmp_path, init)
    model = release["namespaces"]["scvi.model.SCVI"]
    assert release["symbols"][model]["kwargs_target"] == "scvi.module._vae.VAE"
    assert api.accepts(model, "dispersion").accepted
    assert not api.accepts(model, "use_batchnorm").accepted


def test_super_init_is_followed_with_the_subclass_own_module(repo_root, tmp_path):
    """A subclass's super().__init__(**kwargs) reaches SCVI's self._module_cls(**kwargs),
    which for the subclass is its own module; the keywords SCVI's __init__ takes on the way
    are accepted; a base with a non-trivial external base ends the route."""
    extra = (
        "\n\nclass OtherVAE:\n"
        "    def __init__(self, n_latent: int = 10, other: int = 1):\n"
        "        self.other = other\n"
        "\n\nclass SubSCVI(SCVI):\n"
        "    _module_cls = OtherVAE\n"
        "\n"
        "    def __init__(self, adata=None, **kwargs):\n"
        "        super().__init__(adata, **kwargs)\n"
        "\n\nclass Torchy(nn.Module, SCVI):  # super() is nn.Module's: not SCVI's route\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n")
    release, api = _mini_model(repo_root, tmp_path, (
        "    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
        "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n"),
        "import torch.nn as nn\n" + extra)
    symbols = release["symbols"]
    sub = "scvi.model._scvi.SubSCVI"
    assert symbols[sub]["kwargs_target"] == "scvi.model._scvi.OtherVAE"
    assert symbols["scvi.model._scvi.SCVI"]["kwargs_target"] == "scvi.module._vae.VAE"
    assert symbols[sub]["kwargs_keys"] == ["n_latent"]  # SCVI's own, taken on the way
    assert api.accepts(sub, "other").accepted and api.accepts(sub, "n_latent").accepted
    assert not api.accepts(sub, "dispersion").accepted  # VAE's, not OtherVAE's
    assert "kwargs_to" not in symbols["scvi.model._scvi.Torchy"]


def test_a_module_keyword_an_older_release_lacks_says_when_it_came(capsys, tmp_path):
    """On the shipped indexes: SCVI's **kwargs go to VAE, whose batch_representation 1.1.5
    lacks (1.1.4 had it, 1.2.0 brought it back); 1.5.1 takes it. MULTIVI's n_proteins is
    no keyword of MULTIVAE in 1.1.6 (nor 1.5.1), and SCVI sets n_batch itself."""
    path = tmp_path / "draft.py"
    path.write_text("import scvi\n"
                    "a = scvi.model.SCVI(adata, batch_representation='embedding')\n"
                    "b = scvi.model.MULTIVI(adata, n_genes=10, n_regions=20, n_proteins=3)\n"
                    "c = scvi.model.SCVI(adata, n_batch=2, encode_covariates=True)\n",
                    encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.1.6"])
    assert code == 1
    old = {(f["line"], f["kwarg"]): f["message"] for f in report["findings"]}
    assert old[(2, "batch_representation")] == (
        "scvi.model.SCVI(): keyword 'batch_representation' (passed on to scvi.module.VAE) "
        "removed in 1.1.5 (last in 1.1.4); back in 1.2.0")
    assert "go to scvi.module.MULTIVAE, which does not take it" in old[(3, "n_proteins")]
    assert "multiple values" in old[(4, "n_batch")]
    assert set(old) == {(2, "batch_representation"), (3, "n_proteins"), (4, "n_batch")}
    _, report = findings_of(capsys, [str(path), "--version", PINNED_SCVI_TOOLS])
    assert {(f["line"], f["kwarg"]) for f in report["findings"]} == {(3, "n_proteins"),
                                                                    (4, "n_batch")}


# -- a class whose __new__ returns instances of other classes (MRVI of 1.4.x)


def test_a_class_whose_new_returns_other_classes_has_their_members(repo_root, tmp_path):
    """``__new__`` returning ``model`` (assigned from one class) or a lazily imported class:
    ``new_returns`` lists both in source order; their members are the instance's, for the
    lookup, ``symbol()`` and the history; a member neither has is still a finding."""
    extra = (
        "\n\nclass TorchModel:\n"
        "    def get_latent(self, batch_size: int = 1):\n"
        "        return None\n"
        "\n"
        "    def train(self, epochs: int = 1):\n"
        "        return None\n"
        "\n\nclass Dispatch(SCVI):\n"
        "    def __new__(cls, adata=None, **kwargs):\n"
        "        if adata is not None:\n"
        "            model = TorchModel()\n"
        "            return model\n"
        "        from scvi.module import VAE\n"
        "\n"
        "        return VAE(**kwargs)\n")
    release, api = _mini_model(repo_root, tmp_path, (
        "    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
        "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n"), extra)
    release["namespaces"]["scvi.model.Dispatch"] = "scvi.model._scvi.Dispatch"
    release["namespaces"]["scvi.model.TorchModel"] = "scvi.model._scvi.TorchModel"
    release["namespaces"]["scvi.model.TorchModel.get_latent"] = "scvi.model._scvi.TorchModel.get_latent"
    symbols = release["symbols"]
    assert symbols["scvi.model._scvi.Dispatch"]["new_returns"] == [
        "scvi.model._scvi.TorchModel", "scvi.module._vae.VAE"]
    api = ReleaseApi(release)
    found = api.lookup("scvi.model.Dispatch.get_latent")
    assert found.found and found.qualname == "scvi.model._scvi.TorchModel.get_latent"
    assert not api.lookup("scvi.model.Dispatch.no_such_method").found
    # an instance method the class has too is the instance's; a classmethod stays the class's
    assert api.lookup("scvi.model.Dispatch.train").qualname == "scvi.model._scvi.TorchModel.train"
    assert api.lookup("scvi.model.Dispatch.setup_anndata").qualname == \
        "scvi.model._scvi.SCVI.setup_anndata"
    assert api.symbol("scvi.model.Dispatch.get_latent")["qualname"] == \
        "scvi.model._scvi.TorchModel.get_latent"
    history = build_history([release])
    assert "scvi.model.Dispatch.get_latent" in history["names"]
    assert history["params"]["scvi.model.Dispatch.get_latent"] == {"batch_size": [[0, 0]]}


def test_mrvi_of_1_4_has_the_members_of_the_model_it_builds(capsys, tmp_path):
    """On the shipped indexes: MRVI of 1.4.2 builds a TorchMRVI (or a JaxMRVI), whose methods
    its users call; the checker no longer reports them as missing, and the history dates
    them by what the instance has."""
    path = tmp_path / "mrvi.py"
    path.write_text("import scvi\nmodel = scvi.external.MRVI(adata)\n"
                    "z = model.get_latent_representation()\n"
                    "d = model.get_local_sample_distances()\n"
                    "x = model.no_such_method()\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.4.2"])
    assert code == 1
    assert [(f["line"], f["name"]) for f in report["findings"]] == [
        (5, "scvi.external.MRVI.no_such_method")]
    history = json.loads(gzip.decompress((API_DIR / "history.json.gz").read_bytes()))
    at = history["versions"].index("1.4.2")
    spans = history["names"]["scvi.external.MRVI.get_latent_representation"]
    assert any(a <= at <= b for a, b in spans)


# -- a method's **kwargs followed through private helpers: kwargs_to "call"

DE_CODE = '''

class Comp:
    def __init__(self, fn=None):
        self.fn = fn

    def bayes(self, idx1=None, mode: str = "change", delta: float = 0.5):
        return None


def _core(manager, fn, fdr, **kwargs):
    dc = Comp(fn)
    return dc.bayes(idx1=None, **kwargs)


def _reader(fn, **kwargs):
    n = kwargs.get("delta", 0.5)
    return n


class DE(SCVI):
    def de(self, groupby=None, fdr_target: float = 0.05, loader=None, **kwargs):
        if loader is not None:
            return _reader(None, **kwargs)
        return _core(None, None, fdr_target, **kwargs)
'''


def test_a_method_whose_kwargs_reach_a_public_method_through_helpers(repo_root, tmp_path):
    """DE(...).de(**kwargs) -> _core(manager, fn, fdr_target, **kwargs) -> dc.bayes(**kwargs)
    with dc = Comp(...): bayes's keywords pass; manager, fn and fdr, bound by position in
    _core, and idx1, passed by _core, collide on that branch; a keyword neither bayes nor a helper takes is
    rejected; the branch that only reads 'delta' ignores the rest without an error."""
    release, api = _mini_model(repo_root, tmp_path, (
        "    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
        "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n"), DE_CODE)
    method = "scvi.model._scvi.DE.de"
    symbol = release["symbols"][method]
    assert symbol["kwargs_to"] == "call"
    assert symbol["kwargs_target"] == "scvi.model._scvi.Comp.bayes"
    assert symbol["kwargs_fixed"] == ["fdr", "fn", "idx1", "manager"]  # bound by _core's call
    assert symbol["kwargs_keys"] == ["delta"]  # what the reading branch reads
    assert api.accepts(method, "mode").accepted and api.accepts(method, "delta").accepted
    fdr = api.accepts(method, "fdr")
    assert not fdr.accepted and "already passes fdr: TypeError, multiple values" in fdr.reason
    bogus = api.accepts(method, "lfc_threshold")
    assert not bogus.accepted and bogus.reason == (
        "its **kwargs go to scvi.model._scvi.Comp.bayes, which does not take it")


def test_a_method_whose_kwargs_reach_different_callables_is_not_routed(repo_root, tmp_path):
    code = DE_CODE.replace("            return _reader(None, **kwargs)",
                           "            return Comp(**kwargs)")
    release, api = _mini_model(repo_root, tmp_path, (
        "    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
        "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n"), code)
    assert "kwargs_to" not in release["symbols"]["scvi.model._scvi.DE.de"]
    assert api.accepts("scvi.model._scvi.DE.de", "lfc_threshold").accepted


def test_self_method_a_subclass_overrides_is_not_a_route(repo_root, tmp_path):
    """run(**kwargs) -> self.helper(**kwargs): routed to Base.helper, unless a subclass in the
    tree defines its own helper (then self.helper may be that one, which takes more)."""
    code = ('\n\nclass Base:\n'
            '    def run(self, **kwargs):\n'
            '        return self.helper(**kwargs)\n'
            '\n'
            '    def helper(self, a: int = 1):\n'
            '        return a\n')
    init = ("    def __init__(self, adata=None, n_latent: int = 10, **kwargs):\n"
            "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n")
    release, api = _mini_model(repo_root, tmp_path, init, code)
    run_ = release["symbols"]["scvi.model._scvi.Base.run"]
    assert run_["kwargs_to"] == "call" and run_["kwargs_target"] == "scvi.model._scvi.Base.helper"
    assert not api.accepts("scvi.model._scvi.Base.run", "b").accepted
    sub = ('\n\nclass Sub(Base):\n'
           '    def helper(self, a: int = 1, b: int = 2):\n'
           '        return a + b\n')
    release, api = _mini_model(repo_root, tmp_path / "sub", init, code + sub)
    assert "kwargs_to" not in release["symbols"]["scvi.model._scvi.Base.run"]
    assert api.accepts("scvi.model._scvi.Base.run", "b").accepted


# -- a classmethod that drops the keys a fitted model's init params hold, then calls cls
# (SCANVI.from_scvi_model): kwargs_to "call" with kwargs_drops

ANVI_INIT = ("    def __init__(self, adata=None, n_latent: int = 10, gene_only: bool = False,\n"
             "                 **kwargs):\n"
             "        self.module = self._module_cls(n_latent=n_latent, **kwargs)\n"
             "        self.init_params_ = self._get_init_params(locals())\n")
ANVI_CODE = '''


class ANVI(SCVI):
    def __init__(self, adata=None, registry=None, linear_classifier: bool = False,
                 **model_kwargs):
        self.module = self._module_cls(**model_kwargs)

    @classmethod
    def from_scvi_model(cls, scvi_model: SCVI, unlabeled_category: str, adata=None,
                        **anvi_kwargs):
        anvi_kwargs = dict(anvi_kwargs)
        init_params = scvi_model.init_params_
        non_kwargs = init_params["non_kwargs"]
        kwargs = init_params["kwargs"]
        kwargs = {k: v for (i, j) in kwargs.items() for (k, v) in j.items()}
        for k, v in {**non_kwargs, **kwargs}.items():
            if k in anvi_kwargs.keys():
                warnings.warn(f"Ignoring param '{k}'", UserWarning)
                del anvi_kwargs[k]
        return cls(adata, scvi_model.registry, **non_kwargs, **kwargs, **anvi_kwargs)
'''


def test_from_a_model_route_drops_only_what_the_model_was_built_with(repo_root, tmp_path):
    """ANVI.from_scvi_model(scvi_model: SCVI, ..., **anvi_kwargs) deletes the keys
    scvi_model.init_params_ hold and calls cls(...): a keyword neither ANVI (nor its module)
    nor SCVI takes is never deleted and raises TypeError; one only SCVI takes (gene_only)
    may be dropped with a warning: not rejected; ANVI's own and its module's keywords pass."""
    release, api = _mini_model(repo_root, tmp_path, ANVI_INIT, ANVI_CODE)
    method = "scvi.model._scvi.ANVI.from_scvi_model"
    symbol = release["symbols"][method]
    assert symbol["kwargs_to"] == "call" and symbol["kwargs_target"] == "scvi.model._scvi.ANVI"
    assert symbol["kwargs_drops"] == ["scvi_model", "scvi.model._scvi.SCVI"]
    # cls(adata, scvi_model.registry, ...) binds registry by position; adata is its own
    assert symbol["kwargs_fixed"] == ["registry"]
    for keyword in ("linear_classifier", "dispersion", "n_latent"):
        assert api.accepts(method, keyword).accepted, keyword
    only_scvi = api.accepts(method, "gene_only")
    assert only_scvi.accepted and not only_scvi.known
    bogus = api.accepts(method, "n_latnet")
    assert not bogus.accepted
    assert "go to scvi.model._scvi.ANVI" in bogus.reason
    assert "scvi.model.SCVI does not take it either: TypeError" in bogus.reason


@pytest.mark.parametrize("old, new", [
    pytest.param("                del anvi_kwargs[k]", "                del anvi_kwargs['x']",
                 id="deletes_another_key"),
    pytest.param("        init_params = scvi_model.init_params_",
                 "        init_params = other_params()", id="not_init_params"),
    pytest.param("            if k in anvi_kwargs.keys():",
                 "            k = 'x'\n            if k in anvi_kwargs.keys():",
                 id="key_rebound"),
    pytest.param("        return cls(", "        anvi_kwargs.pop('a', None)\n        return cls(",
                 id="popped_elsewhere"),
])
def test_a_deletion_that_is_not_the_model_s_init_params_is_no_route(repo_root, tmp_path,
                                                                    old, new):
    code = ANVI_CODE.replace(old, new)
    assert code != ANVI_CODE
    release, api = _mini_model(repo_root, tmp_path, ANVI_INIT, code)
    assert "kwargs_to" not in release["symbols"]["scvi.model._scvi.ANVI.from_scvi_model"]
    assert api.accepts("scvi.model._scvi.ANVI.from_scvi_model", "n_latnet").accepted


def test_scanvi_from_scvi_model_keywords_on_the_pinned_release(capsys, tmp_path):
    """1.5.1's SCANVI.from_scvi_model: a keyword neither SCANVI (with SCANVAE) nor SCVI
    takes is flagged; so is a parameter of SCVI.__init__ (n_latent), which every SCVI
    model's init params hold, so it is always dropped with a warning; SCANVI's own
    (linear_classifier) and a module keyword the SCVI model may or may not have been built
    with (encode_covariates: dropped only then) are not."""
    code, found, messages = checked_on_pinned(capsys, tmp_path, (
        "import scvi\n"
        "m = scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category='Unknown', n_latnet=12)\n"
        "m = scvi.model.SCANVI.from_scvi_model(vae, 'Unknown', linear_classifier=True,\n"
        "                                      n_latent=12, encode_covariates=True)\n"))
    assert code == 1
    assert found == [(2, "scvi.model.SCANVI.from_scvi_model", "n_latnet"),
                     (4, "scvi.model.SCANVI.from_scvi_model", "n_latent")]
    assert "scvi.model.SCVI does not take it either: TypeError" in messages[0]
    assert "drops keyword 'n_latent' with a UserWarning in 1.5.1" in messages[1]


def test_python_s_own_syntax_warnings_about_the_checked_code_stay_quiet(capsys, tmp_path):
    """Code with an invalid escape sequence ("\\d") parses with a SyntaxWarning on Python >=
    3.12: the user's code, not a diagnostic of the checker; stderr has no warning."""
    path = tmp_path / "esc.py"
    path.write_text('import scvi\npattern = "\\d+"\nm = scvi.model.SCVI(adata)\n', encoding="utf-8")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run(capsys, [str(path)])
    assert code == 0 and "Warning" not in err
    assert not [w for w in caught if issubclass(w.category, SyntaxWarning)]


def test_scvi_de_keywords_reach_get_bayes_factors_on_the_shipped_index(capsys, tmp_path):
    """SCVI's differential_expression calls _de_core or, on a dataloader, the lazily served
    _de_core_for_annbatch (scvi.model.utils' module __getattr__): both branches are followed,
    so fdr (bound by position in _de_core) collides and lfc_threshold reaches
    get_bayes_factors, which lacks it; test_mode, which get_bayes_factors takes, passes."""
    path = tmp_path / "de.py"
    path.write_text("import scvi\nmodel = scvi.model.SCVI(adata)\n"
                    "a = model.differential_expression(groupby='labels', fdr=0.05)\n"
                    "b = model.differential_expression(groupby='labels', lfc_threshold=1.0)\n"
                    "c = model.differential_expression(groupby='labels', test_mode='two')\n",
                    encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", PINNED_SCVI_TOOLS])
    found = {(f["line"], f["kwarg"]): f["message"] for f in report["findings"]}
    assert code == 1 and set(found) == {(3, "fdr"), (4, "lfc_threshold")}
    assert "already passes fdr: TypeError, multiple values" in found[(3, "fdr")]
    assert "get_bayes_factors, which does not take it" in found[(4, "lfc_threshold")]


@pytest.mark.parametrize("version, newer", [
    ("1.6.0", True), ("2.0", True), ("1.5.2rc1", True), ("1.5.1.post1", True),
    ("1.5.1", False), ("1.5.1rc1", False), ("1.5.0.post2", False), ("0.20.3", False),
    ("1.6.0; rm -rf /", False), ("", False),
])
def test_which_releases_are_newer_than_the_indexed_ones(version, newer, tmp_path):
    from scvi_skill.runtime.apifiles import Releases

    releases = Releases(["1.0.0", "1.5.0.post1", "1.5.1"], {}, tmp_path)
    assert releases.newer(version) is newer


def test_a_module_member_read_without_a_call_is_checked(capsys, tmp_path):
    """``x = scvi.model.mlxSCVI`` and ``scvi.model.utils.mde`` passed as a function were not
    checked (only calls and imports were); a class's members read this way still are not."""
    path = tmp_path / "bare.py"
    path.write_text("import scvi\nx = scvi.model.mlxSCVI\nprint(scvi.external.MRVI)\n"
                    "scvi.model.mlxSCVI.train\ny = scvi.model.SCVI\nz = scvi.model.SCVI._module_cls\n"
                    "scvi.settings.seed\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.0.4"])
    assert code == 1
    assert [(f["line"], f["name"]) for f in report["findings"]] == [
        (2, "scvi.model.mlxSCVI"), (3, "scvi.external.MRVI"), (4, "scvi.model.mlxSCVI")]
    code, report = findings_of(capsys, [str(path), "--version", "1.5.1"])
    assert code == 0 and report["findings"] == []


def test_a_direct_trainer_call_is_checked_against_the_lightning_trainer(capsys, tmp_path):
    """scvi.train.Trainer(...) hands its **kwargs to the Lightning Trainer: a keyword neither
    takes is a finding (it was accepted unchecked), one either takes is not."""
    path = tmp_path / "trainer.py"
    path.write_text("import scvi\nt = scvi.train.Trainer(max_epochs=2, accelerator='cpu', "
                    "early_stopping_patience=3, totally_bogus=2)\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1 and [f["kwarg"] for f in report["findings"]] == ["totally_bogus"]
    assert "Lightning Trainer" in report["findings"][0]["message"]


@pytest.mark.parametrize("source", [
    "from scvi import model\nmodel = model.SCVI(adata)\nprint(model.history)\n",
    "import scvi\ndef f(scvi):\n    return scvi.foo_bar\n",
    "import scvi\ntry:\n    M = scvi.model.JaxSCVI\nexcept AttributeError:\n    M = scvi.model.SCVI\n",
    "import scvi\nN = scvi.model.JaxSCVI if hasattr(scvi.model, 'JaxSCVI') else scvi.model.SCVI\n",
    "import numpy as scvi\nx = scvi.float_\n",
])
def test_a_rebound_or_guarded_name_is_not_a_missing_scvi_member(capsys, tmp_path, source):
    """The module-member check (a name read without a call) leaves a name the snippet binds
    otherwise, and an access a try/except AttributeError or a hasattr() test guards."""
    path = tmp_path / "guarded.py"
    path.write_text(source, encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 0 and report["findings"] == []


def test_a_name_rebound_to_a_model_is_checked_as_that_model(capsys, tmp_path):
    path = tmp_path / "rebound.py"
    path.write_text("from scvi import model\nmodel = model.SCVI(adata)\n"
                    "model.train(max_epochs=1, use_gpu=True)\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert [(f["name"], f["kwarg"]) for f in report["findings"]] == [
        ("scvi.model.SCVI.train", "use_gpu")]


def test_a_markdown_fence_without_import_scvi_is_checked(capsys, tmp_path):
    """An answer's fence often leaves out ``import scvi``: in a Markdown file ``scvi.`` is the
    package all the same (its call is checked), in a new section too; a .py file without the
    import is not scvi-tools code (it would not run)."""
    assert answer_findings(capsys, tmp_path, (
        "## q1\n\n```python\nmodel = scvi.model.TOTALVI(adata)\n"
        "model.train(use_gpu=True)\n```\n\n## q2\n\n```python\n"
        "scvi.model.SCVI.setup_anndata(adata, batch='b')\n```\n")) == [
        (5, "use_gpu"), (11, "batch")]
    script = tmp_path / "script.py"
    script.write_text("model = scvi.model.TOTALVI(adata)\nmodel.train(use_gpu=True)\n",
                      encoding="utf-8")
    code, report = findings_of(capsys, [str(script), "--version", "1.5.1"])
    assert code == 0 and report["findings"] == []


def test_a_name_assigned_over_an_import_is_no_longer_scvi(capsys, tmp_path):
    """``scvi = something()`` (or ``SCVI = other``) makes the name another object from that
    line on, in later fences of the section too; before it, and after an alias kept by
    assignment (``SCVI = scvi.model.SCVI``), calls are still checked."""
    assert answer_findings(capsys, tmp_path, (
        "## q1\n\n```python\nscvi.model.SCVI.setup_anndata(adata, batch='b')\n"
        "scvi = load_wrapper()\nscvi.model.SCVI.setup_anndata(adata, batch='b')\n```\n\n"
        "```python\nscvi.model.SCVI.setup_anndata(adata, batch='b')\n```\n\n"
        "## q2\n\n```python\nfrom scvi.model import SCVI\nSCVI = scvi.model.SCVI\n"
        "SCVI.setup_anndata(adata, batch='b')\n```\n")) == [(4, "batch"), (18, "batch")]


def test_check_code_flags_a_keyword_the_model_s_module_never_reads(capsys, tmp_path):
    """On 1.5.1's index: SysVI's module, built in its __init__ by name (``self.module =
    SysVAE(...)``, no ``_module_cls``), takes transform_batch in generative() and never reads
    it, so SysVI's get_normalized_expression and the methods that hand the keyword on accept it
    and change nothing (pitfall ``sysvi-ignores-transform-batch``); its inference() ignores
    n_samples, so n_samples above 1 draws no sample axis (``sysvi-sampling-methods-fail``;
    both proven in test_pitfall_proofs.py). Not flagged: None, n_samples=1, and SCVI, whose
    VAE reads both."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nm = scvi.external.SysVI(adata)\n"
        "a = m.get_normalized_expression(transform_batch='mouse')\n"
        "b = m.get_normalized_expression(transform_batch=None)\n"
        "c = m.get_feature_correlation_matrix(transform_batch=['mouse'])\n"
        "s = scvi.model.SCVI(adata)\nd = s.get_normalized_expression(transform_batch='mouse')\n"
        "e = m.get_normalized_expression(n_samples=25)\nf = m.get_normalized_expression(n_samples=1)\n"
        "g = s.get_normalized_expression(n_samples=25)\n")
    assert code == 1 and got == [
        (3, "scvi.external.SysVI.get_normalized_expression", "transform_batch"),
        (5, "scvi.external.SysVI.get_feature_correlation_matrix", "transform_batch"),
        (8, "scvi.external.SysVI.get_normalized_expression", "n_samples")], got
    assert all("changes nothing" in m and "src/scvi/external/sysvi/_module.py:304" in m
               for m in messages[:2]), messages
    assert "draws no sample axis" in messages[2] and "_module.py:287" in messages[2]


def test_the_index_knows_a_module_built_by_name_and_the_keyword_it_never_reads(repo_root):
    """A model whose __init__ builds its module by name gets it as ``uses["module"]`` (SysVI's
    SysVAE, SCAR's SCAR_VAE); of all 1.5.1 classes only SysVI has ``unread_keywords``."""
    index = json.loads(gzip.decompress(
        (repo_root / "references/api/scvi-tools-1.5.1.json.gz").read_bytes()))
    symbols = index["symbols"]
    assert symbols["scvi.external.sysvi._model.SysVI"]["uses"]["module"] == \
        "scvi.external.sysvi._module.SysVAE"
    assert symbols["scvi.external.scar._model.SCAR"]["uses"]["module"] == \
        "scvi.external.scar._module.SCAR_VAE"
    unread = {q: s["unread_keywords"] for q, s in symbols.items() if s.get("unread_keywords")}
    assert list(unread) == ["scvi.external.sysvi._model.SysVI"]
    assert unread["scvi.external.sysvi._model.SysVI"]["get_normalized_expression"] == [
        ["transform_batch", "scvi.external.sysvi._module.SysVAE.generative"],
        ["n_samples", "scvi.external.sysvi._module.SysVAE.inference"]]


def test_check_code_flags_a_keyword_the_def_never_reads(capsys, tmp_path):
    """A public def's parameter its body never reads (the index's ``unread``, per release):
    MULTIVI.setup_anndata has registered nothing since 1.4.0 (it only warns), mlxSCVI's
    train() ignores accelerator, SCANVI.from_scvi_model its registry; 1.3.3's MULTIVI
    setup still reads its keywords. SCVI's train(accelerator=...) is read."""
    source = ("import scvi\nscvi.model.MULTIVI.setup_anndata(adata, batch_key='b')\n"
              "x = scvi.model.mlxSCVI(adata)\nx.train(accelerator='gpu')\n"
              "m = scvi.model.SCANVI.from_scvi_model(vae, 'u', registry=None)\n"
              "s = scvi.model.SCVI(adata)\ns.train(accelerator='gpu')\n")
    code, got, messages = checked_on_pinned(capsys, tmp_path, source)
    assert code == 1 and got == [(2, "scvi.model.MULTIVI.setup_anndata", "batch_key"),
                                 (4, "scvi.model.mlxSCVI.train", "accelerator"),
                                 (5, "scvi.model.SCANVI.from_scvi_model", "registry")], got
    assert "never reads it" in messages[0] and "src/scvi/model/_multivi.py:1083" in messages[0]
    path = tmp_path / "old.py"
    path.write_text("import scvi\nscvi.model.MULTIVI.setup_anndata(adata, batch_key='b')\n",
                    encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.3.3"])
    assert code == 0 and report["findings"] == [], report


def test_check_code_flags_a_keyword_a_model_hands_to_an_init_that_never_reads_it(
        capsys, tmp_path):
    """A class's own ``__init__`` parameters never read (the index's ``unread`` of a class,
    public or the target of a model's ``**model_kwargs``): RESOLVI hands latent_distribution
    to RESOLVAE, whose ``__init__`` marks it a placeholder; SemiSupervisedDataSplitter takes a
    datamodule it never reads. SCVI's VAE reads latent_distribution. A private mixin's def
    under a model's public name too: RESOLVI's get_latent_representation takes mc_samples
    "for consistency" and never reads it (SCVI's does). Per release: CondSCVI's
    VAEC took extra_encoder_kwargs and built its encoder from an empty dict up to 1.1.5,
    and reads it from 1.2.0."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nfrom scvi.dataloaders import SemiSupervisedDataSplitter\n"
        "r = scvi.external.RESOLVI(adata, latent_distribution='ln')\n"
        "s = scvi.model.SCVI(adata, latent_distribution='ln')\n"
        "d = SemiSupervisedDataSplitter(manager, datamodule=dm)\n"
        "z = r.get_latent_representation(mc_samples=50)\n"
        "y = s.get_latent_representation(mc_samples=50)\n")
    assert code == 1 and got == [(3, "scvi.external.RESOLVI", "latent_distribution"),
                                 (5, "scvi.dataloaders.SemiSupervisedDataSplitter",
                                  "datamodule"),
                                 (6, "scvi.external.RESOLVI.get_latent_representation",
                                  "mc_samples")], got
    assert "hands 'latent_distribution' on to scvi.external.resolvi.RESOLVAE" in messages[0]
    assert "src/scvi/external/resolvi/_module.py:" in messages[0]
    path = tmp_path / "condscvi.py"
    path.write_text("import scvi\nm = scvi.model.CondSCVI(adata, extra_encoder_kwargs={})\n",
                    encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", "1.1.5"])
    assert code == 1 and [f["kwarg"] for f in report["findings"]] == [
        "extra_encoder_kwargs"], report
    assert "on to scvi.module.VAEC, which takes it and never reads it in 1.1.5" in \
        report["findings"][0]["message"]
    code, report = findings_of(capsys, [str(path), "--version", "1.2.0"])
    assert code == 0 and report["findings"] == [], report


def test_a_string_for_a_column_list_keyword_is_flagged(capsys, tmp_path):
    """`categorical_covariate_keys="b"` (scvi-tools #3022): the joint field indexes obs with
    the string and anndata refuses the Series (pitfall covariate-keys-need-a-list, run on four
    models in test_pitfall_proofs.py). A list, a variable, and another keyword pass."""
    code, found, messages = checked_on_pinned(capsys, tmp_path, (
        "import scvi\n"
        "scvi.model.SCVI.setup_anndata(adata, batch_key='a', categorical_covariate_keys='b')\n"
        "scvi.external.SysVI.setup_anndata(adata, batch_key='a', continuous_covariate_keys='c')\n"
        "scvi.model.SCVI.setup_anndata(adata, categorical_covariate_keys=['b'])\n"
        "scvi.model.SCVI.setup_anndata(adata, categorical_covariate_keys=keys, layer='b')\n"
        "scvi.model.MULTIVI.setup_mudata(mdata, categorical_covariate_keys='b')\n"
        "scvi.model.TOTALVI.setup_mudata(mdata, continuous_covariate_keys=['c'])\n"))
    assert code == 1
    assert found == [(2, "scvi.model.SCVI.setup_anndata", "categorical_covariate_keys"),
                     (3, "scvi.external.SysVI.setup_anndata", "continuous_covariate_keys"),
                     (6, "scvi.model.MULTIVI.setup_mudata", "categorical_covariate_keys")]
    assert "pass ['b']" in messages[0] and "_scvi_extra_continuous_covs" in messages[1]


def test_every_setup_hands_its_column_lists_to_a_joint_field(pinned_tree):
    """What the check above rests on, read from the pinned tree: each setup_anndata and
    setup_mudata taking a COLUMN_LISTS keyword passes the name itself to a *JointObsField
    (MuDataCategoricalJointObsField wraps CategoricalJointObsField) and never tests it for a
    string."""
    import ast

    from scvi_skill.runtime.codecheck import COLUMN_LISTS

    seen, stubs, mudata = 0, [], 0
    for path in sorted((pinned_tree.root / "src" / "scvi").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.FunctionDef)
                    and node.name in ("setup_anndata", "setup_mudata")):
                continue
            mudata += node.name == "setup_mudata"
            params = {a.arg for a in node.args.args + node.args.kwonlyargs}
            for keyword in COLUMN_LISTS.keys() & params:
                seen += 1
                fields = [call for call in ast.walk(node) if isinstance(call, ast.Call)
                          and ast.unparse(call.func).endswith("JointObsField")
                          and any(isinstance(a, ast.Name) and a.id == keyword
                                  for a in call.args + [k.value for k in call.keywords])]
                tested = [call for call in ast.walk(node) if isinstance(call, ast.Call)
                          and ast.unparse(call.func) == "isinstance"
                          and ast.unparse(call.args[0]) == keyword]
                read = [n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == keyword]
                if not read:
                    stubs.append(path.name)  # registers nothing: the unread check's
                    continue
                assert fields and not tested, (path, keyword)
    assert seen >= 33 and mudata >= 5 and stubs == ["_multivi.py", "_multivi.py"]
    wraps = (pinned_tree.root / "src/scvi/data/fields/_arraylike_field.py").read_text("utf-8")
    assert "MuDataCategoricalJointObsField = MuDataWrapper(CategoricalJointObsField)" in wraps
    assert "MuDataNumericalJointObsField = MuDataWrapper(NumericalJointObsField)" in wraps


def test_a_stub_s_column_list_is_unread_not_a_string_error(capsys, tmp_path):
    code, found, messages = checked_on_pinned(capsys, tmp_path, (
        "import scvi\n"
        "scvi.model.MULTIVI.setup_anndata(adata, categorical_covariate_keys='b')\n"))
    assert code == 1 and len(messages) == 1 and "never reads it" in messages[0]


def test_setup_anndata_takes_register_fields_own_keywords(capsys, tmp_path):
    """setup_anndata's **kwargs go to AnnDataManager.register_fields, which takes
    source_registry and hands the fields' transfer keywords on with it (load_query_data's
    own call, `_archesmixin.py`); any other keyword is a TypeError there. Round 65's rg answer
    quoted that call and was flagged before."""
    code, found, _ = checked_on_pinned(capsys, tmp_path, (
        "import scvi\n"
        "scvi.model.SCANVI.setup_anndata(q, source_registry=reg, extend_categories=True,\n"
        "                                allow_missing_labels=True)\n"
        "scvi.model.SCVI.setup_anndata(q, labels='x')\n"
        "scvi.model.SCVI.setup_anndata(q, batch_key='b', extend_categories=True)\n"))
    # without a source_registry, register_fields raises TypeError on a transfer keyword
    assert code == 1 and found == [(4, "scvi.model.SCVI.setup_anndata", "labels"),
                                   (5, "scvi.model.SCVI.setup_anndata", "extend_categories")]


def test_a_value_that_makes_the_call_fail_is_flagged(capsys, tmp_path, pinned_tree):
    """SpatialStereoscope.get_proportions(keep_noise=True) raises AttributeError (pitfall
    stereoscope-keep-noise-fails, run in test_pitfall_proofs.py); False or no keyword pass.
    What the finding rests on is read from the pinned tree: the method appends to the cell
    type mapping, which from_rna_model takes from the reference's categorical mapping."""
    code, found, messages = checked_on_pinned(capsys, tmp_path, (
        "import scvi\n"
        "st = scvi.external.SpatialStereoscope.from_rna_model(st_adata, sc_model)\n"
        "st.get_proportions(keep_noise=True)\n"
        "st.get_proportions(keep_noise=False)\n"
        "st.get_proportions()\n"))
    assert code == 1 and found == [
        (3, "scvi.external.SpatialStereoscope.get_proportions", "keep_noise")]
    assert "AttributeError" in messages[0] and "module.get_proportions(True)" in messages[0]
    source = (pinned_tree.root / "src/scvi/external/stereoscope/_model.py").read_text("utf-8")
    assert 'column_names = column_names.append("noise_term")' in source
    assert ").categorical_mapping," in source


def test_a_method_without_parameters_takes_no_keyword(capsys, tmp_path):
    """A release's index leaves ``params`` out of a callable that has none but ``self``:
    POISSONVI.differential_expression(self) takes no keyword (pitfall
    poissonvi-differential-expression-takes-nothing). A parameterless method a subclass
    overrides stays unknown: BaseModelClass.train(self) is an abstract stub, and before this
    reading 1.4.x's MRVI resolved `model.train(...)` to it in the releases' own tests."""
    code, found, messages = checked_on_pinned(capsys, tmp_path, (
        "import scvi\n"
        "model = scvi.external.POISSONVI(adata)\n"
        "model.differential_expression(groupby='leiden', group1='3')\n"
        "model.differential_expression()\n"
        "base = scvi.model.base.BaseModelClass\n"
        "base.train(model, max_epochs=5)\n"))
    assert code == 1 and found == [
        (3, "scvi.external.POISSONVI.differential_expression", "groupby"),
        (3, "scvi.external.POISSONVI.differential_expression", "group1")]
    from scvi_skill.runtime.apiindex import _parameterless

    symbols = load_release(load_releases(), "1.5.1")["symbols"]
    bare = _parameterless(symbols)
    assert "scvi.external.poissonvi._model.POISSONVI.differential_expression" in bare
    assert "scvi.model.base._base_model.BaseModelClass.train" not in bare


def test_an_unlabelled_console_fence_and_a_bare_model_name_are_checked(capsys, tmp_path):
    """The model guides write their examples as unlabelled fences of ``>>>`` lines, with the
    model class's bare name and no import (CellAssign's guide: ``CellAssign(adata, markers,
    size_factor_key=...)``, a TypeError in 1.5.1). Such a fence is Python, and a model class's
    bare name in a Markdown fence is that class; a fence without prompts stays text, and a
    name the fence binds itself (an import from another package, a parameter) is its own."""
    text = ("## a\n\n```\n>>> model = CellAssign(adata, markers, size_factor_key='sf')\n"
            ">>> model.train()\n<output line>\n```\n\n"
            "```\nSCVI.setup_anndata(adata, batch='b')\n```\n\n"
            "```python\nfrom mylib import SCVI\nSCVI.setup_anndata(adata, batch='b')\n"
            "def fit(TOTALVI):\n    TOTALVI.setup_anndata(adata, batch='b')\n```\n\n"
            "```python\nSCANVI.setup_anndata(adata, batch='b')\n```\n")
    assert answer_findings(capsys, tmp_path, text) == [(4, "size_factor_key"), (21, "batch")]
    script = tmp_path / "analysis.py"  # a .py file without the import would not run
    script.write_text("SCANVI.setup_anndata(adata, batch='b')\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(script), "--version", "1.5.1"])
    assert code == 0 and report["findings"] == [], report


def test_each_doc_error_the_benchmark_sets_apart_names_its_proof(repo_root, monkeypatch):
    """bench_check_code.py counts a doc finding as the doc's own error only with a proof: a
    test of the pitfall proofs that exists, or the release indexes' own signatures."""
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import bench_check_code as bench

    proofs = (repo_root / "tests" / "test_pitfall_proofs.py").read_text(encoding="utf-8")
    assert len(bench.DOC_ERRORS) >= 4
    for (path, part), proof in bench.DOC_ERRORS.items():
        assert path.startswith("docs/") and part
        if proof.startswith("tests/test_pitfall_proofs.py::"):
            assert f"def {proof.split('::')[1]}(" in proofs, proof
        else:
            assert proof.startswith("references/api/"), proof
    assert bench.doc_error("docs/user_guide/models/scar.md", "scvi.external.SCAR."
                           "get_ambient_profile(): keyword 'adata' removed in 1.5.0")
    assert bench.doc_error("docs/user_guide/models/scvi.md", "SCAR.get_ambient_profile(): "
                           "keyword 'adata' removed in 1.5.0") is None


def test_a_method_called_on_an_instance_with_too_many_positional_arguments(capsys, tmp_path):
    """CellAssign's user guide calls ``model.predict(adata)``; ``predict(self)`` takes nothing
    (TypeError, pitfall cellassign-predict-rows-are-numbered). Only a call on an instance is
    counted: through the class a plain method's first parameter takes the first argument
    (SCAR's ``get_ambient_profile(self_or_adata, ...)``, listed without it), and a call with
    ``*args`` or within the signature is not a finding; nor is one with ``...`` for the
    arguments left out (``model.predict(...)``, as prose and questions write calls)."""
    text = ("```python\nfrom scvi.external import CellAssign, SCAR\n"
            "model = CellAssign(adata, markers)\nmodel.predict(adata)\nmodel.predict()\n"
            "model.predict(*extra)\nSCAR.get_ambient_profile(adata, raw)\n"
            "vae = scvi.model.SCVI(adata)\nvae.train(10)\nvae.get_latent_representation(adata)\n"
            "vae.get_latent_representation(adata, None, True, None, 128, False, 'z', 'zz')\n"
            "model.predict(...)\n```\n")
    answer = tmp_path / "answer.md"
    answer.write_text(text, encoding="utf-8")
    code, report = findings_of(capsys, [str(answer), "--version", "1.5.1"])
    got = [(f["line"], f["name"]) for f in report["findings"]]
    assert code == 1 and got[0] == (4, "scvi.external.CellAssign.predict"), got
    assert "takes no argument after self in 1.5.1" in report["findings"][0]["message"]
    assert got[1:] == [(11, "scvi.model.SCVI.get_latent_representation")], got


@pytest.mark.parametrize("version", ["1.4.3", "1.5.1"])  # before 1.4, no **data_loader_kwargs
def test_a_keyword_named_like_the_callees_own_kwargs_is_flagged(capsys, tmp_path, version):
    """get_latent_representation(data_loader_kwargs={...}) hands the dict to the data loader
    as one entry named data_loader_kwargs (TypeError; proven in
    test_kwargs_fixed_proofs.py): the finding says to pass the entries themselves."""
    path = tmp_path / "dl.py"
    path.write_text("import scvi\nm = scvi.model.SCVI(adata)\n"
                    "m.get_latent_representation(data_loader_kwargs={'num_workers': 0})\n"
                    "m.get_latent_representation(num_workers=0)\n"
                    "m.get_latent_representation(**{'num_workers': 0})\n", encoding="utf-8")
    code, report = findings_of(capsys, [str(path), "--version", version])
    assert code == 1
    [finding] = report["findings"]
    assert (finding["line"], finding["kwarg"]) == (3, "data_loader_kwargs")
    assert "its **data_loader_kwargs are the entries themselves" in finding["message"]


def test_a_model_under_the_wrong_subpackage_gets_its_public_path(capsys, tmp_path):
    """``scvi.model.GIMVI`` (an external model): the history knows ``scvi.model`` only, and
    the finding said "not in scvi-tools 1.5.1" with no way out. It names the public path, the
    shortest one (not also the ``scvi.external.gimvi.GIMVI`` its subpackage exports)."""
    path = tmp_path / "wrong.py"
    path.write_text("import scvi\nm = scvi.model.GIMVI(a, b)\n"
                    "scvi.model.POISSONVI.setup_anndata(adata)\n"
                    "scvi.external.CytoVI.setup_anndata(adata)\nm = scvi.model.TotalVI(adata)\n",
                    encoding="utf-8")
    code, report = findings_of(capsys, [str(path)])
    assert code == 1
    assert [f["message"] for f in report["findings"]] == [
        "scvi.model.GIMVI: not in scvi-tools 1.5.1 (did you mean scvi.external.GIMVI?)",
        "scvi.model.POISSONVI.setup_anndata: not in scvi-tools 1.5.1 (did you mean "
        "scvi.external.POISSONVI.setup_anndata?)",
        # in another case than the class's (CYTOVI, TOTALVI)
        "scvi.external.CytoVI.setup_anndata: not in scvi-tools 1.5.1 (did you mean "
        "scvi.external.CYTOVI.setup_anndata?)",
        "scvi.model.TotalVI: not in scvi-tools 1.5.1 (did you mean scvi.model.TOTALVI?)"]


def test_a_member_an_instances_class_lacks_is_flagged_where_it_is_read(capsys, tmp_path):
    """On 1.5.1's index: SCVI has no n_latent (its module has), HubMetadata no
    data_is_minified (reached through HubModel.metadata's annotation, from the instance
    pull_from_huggingface_hub's `return cls(...)` builds). What other code sets on a model
    (trainer), a trailing-underscore attribute load() may restore, a name the snippet sets
    itself, an open class's member (the torch module's) and a read under hasattr() are not
    findings."""
    source = (
        "import scvi\nimport scvi.hub\nmodel = scvi.model.SCVI(adata)\n"
        "print(model.n_latent)\n"
        "model.train()\n"
        "print(model.trainer, model.history_, model.is_trained, model.module.n_latent)\n"
        "model.note = 'x'\nprint(model.note)\n"
        "hub = scvi.hub.HubModel.pull_from_huggingface_hub('scvi-tools/x')\n"
        "print(hub.metadata.data_is_minified, hub.metadata.scvi_version)\n"
        "if hasattr(model, 'latent'):\n    print(model.latent)\n"
        "print(scvi.model.SCVI(adata).n_latent)\n")
    code, got, messages = checked_on_pinned(capsys, tmp_path, source)
    assert code == 1 and [(line, name) for line, name, _ in got] == [
        (4, "scvi.model.SCVI.n_latent"),
        (10, "scvi.hub.HubModel.metadata.data_is_minified"),
        (13, "scvi.model.SCVI.n_latent")], got
    assert all(m.endswith("reading it raises AttributeError") for m in messages), messages
    assert messages[1].startswith("scvi.hub.HubModel.metadata.data_is_minified "
                                  "(scvi.hub.HubMetadata.data_is_minified): not in scvi-tools")
    assert "(did you mean scvi.model.SCVI.is_trained" in check_code_text(
        capsys, tmp_path, "import scvi\nm = scvi.model.SCVI(adata)\nm.is_trainedd\n")


def check_code_text(capsys, tmp_path, source: str) -> str:
    path = tmp_path / "text.py"
    path.write_text(source, encoding="utf-8")
    return run(capsys, [str(path), "--version", "1.5.1"])[1]


def test_the_index_records_what_other_code_sets_and_annotated_returns():
    """1.5.1's index, as build_api_index.py writes it: the training runner sets `trainer` on
    the model (set_outside); HubModel.metadata returns a HubMetadata; a def annotated with a
    base class other classes derive from is not trusted (lookups of its result stay
    unchecked)."""
    api = ReleaseApi(load_release(load_releases(), "1.5.1"))
    assert {"trainer", "train_indices", "is_trained_"} <= api.set_outside
    assert "src/scvi/train/_trainrunner.py:169" in api.set_outside_sites["trainer"]
    assert api.returned_class("scvi.hub._model.HubModel.metadata") == "scvi.hub.HubMetadata"
    assert api.returns_instance("scvi.hub._model.HubModel.pull_from_huggingface_hub")
    assert api.symbols["scvi.module._vae.VAE.loss"]["returns"] == \
        "scvi.module.base._base_module.LossOutput"
    based = [q for q, s in api.symbols.items() if s.get("returns") in api._subclassed]
    assert all(api.returned_class(q) is None for q in based)


_RETURNS_TREE = {
    "src/scvi/__init__.py": 'from ._m import Base, Meta, Model, make\n\n'
                            '__all__ = ["Base", "Meta", "Model", "make"]\n',
    "src/scvi/_m.py": (
        "from __future__ import annotations\n\n\nclass Meta:\n    version: str\n\n\n"
        "class Base:\n    pass\n\n\nclass Child(Base):\n    pass\n\n\n"
        "class Model:\n    def __init__(self):\n        self.x = 1\n\n"
        "    @property\n    def meta(self) -> Meta:\n        return Meta()\n\n"
        "    @property\n    def maybe(self) -> 'Meta | None':\n        return None\n\n"
        "    def base(self) -> Base:\n        return Child()\n\n"
        "    @classmethod\n    def pull(cls, name):\n        model = cls()\n        return model\n\n"
        "    @classmethod\n    def other(cls, name):\n        if name:\n            return None\n"
        "        return cls()\n\n\n"
        "def make(other) -> Model:\n    other.attached = 2\n    setattr(other, 'named', 3)\n"
        "    return Model()\n"),
}


def test_the_build_records_annotated_returns_and_what_other_code_sets(tmp_path):
    """A def's return annotation (a string or `X | None` too) names the class whose members
    a read of its result is checked against; a classmethod that only returns `cls(...)`
    builds its class, one that may return None does not; a base class other classes derive
    from is not trusted; attributes set on other objects (or by setattr) are never called
    missing."""
    for rel, text in _RETURNS_TREE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    release = build_release(open_release_tree(tmp_path, "0.0.1"))
    symbols = release["symbols"]
    assert release["set_outside"] == {"attached": ["src/scvi/_m.py:44"],
                                      "named": ["src/scvi/_m.py:45"]}
    assert {q.rsplit(".", 1)[-1]: s.get("returns") for q, s in symbols.items()
            if s["kind"] != "class" and q.count(".") > 1} == {
        "meta": "scvi._m.Meta", "maybe": "scvi._m.Meta", "base": "scvi._m.Base",
        "pull": "cls", "other": None, "make": "scvi._m.Model"}
    api = ReleaseApi({**release, "version": "0.0.1"})
    source = ("import scvi\nm = scvi.Model.pull('x')\nm.meta.version\nm.meta.nope\n"
              "m.maybe.nope\nm.base().nope\nscvi.make(1).nope\nm.x\nm.attached\nm.named\n"
              "scvi.Model.other('x').nope\n")
    got = [(f.line, f.name) for f in check_snippet(source, api, SnippetScope(), inline=False)]
    assert got == [(4, "scvi.Model.meta.nope"), (5, "scvi.Model.maybe.nope"),
                   (7, "scvi.Model.nope")], got


def test_a_subpackage_import_scvi_does_not_load_is_flagged_where_it_is_read(capsys, tmp_path):
    """1.5.1's scvi/__init__.py loads model, data, train... but not hub or autotune: after
    `import scvi` alone, `scvi.hub.X` raises AttributeError. An import of the subpackage
    anywhere in the code (`import scvi.hub`, `from scvi.hub import ...`, `from scvi import
    hub`) loads it; code that never imports scvi itself is not judged; loaded subpackages
    and scvi.settings are fine."""
    code, got, messages = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nscvi.settings.seed = 0\nm = scvi.model.SCVI(adata)\n"
        "hub = scvi.hub.HubModel.pull_from_huggingface_hub('x')\n"
        "scvi.autotune.run_autotune\n")
    assert code == 1 and [(line, name) for line, name, _ in got] == [
        (4, "scvi.hub"), (5, "scvi.autotune")], got
    assert messages[0].startswith("scvi.hub: `import scvi` does not load scvi.hub in 1.5.1 "
                                  "(it loads criticism, data, dataloaders")
    assert messages[0].endswith("module 'scvi' has no attribute 'hub'; add `import scvi.hub`")
    for imported in ("import scvi.hub", "from scvi.hub import HubModel", "from scvi import hub"):
        code, got, _ = checked_on_pinned(
            capsys, tmp_path, f"import scvi\nx = scvi.hub.HubModel\n{imported}\n")
        assert code == 0 and got == [], (imported, got)
    code, got, _ = checked_on_pinned(capsys, tmp_path, "x = scvi.hub.HubModel\n")
    assert code == 0 and got == [], got


def test_a_name_rebound_by_a_loop_with_def_or_comprehension_is_no_longer_the_instance(
        capsys, tmp_path):
    """`model = SCVI(adata)`, then `for model in ...`, `with ... as model`, a parameter or a
    comprehension named `model`: there `model` is something else, and neither its calls nor
    its reads are checked as SCVI's; a default argument is evaluated outside the def, and
    what a def binds stays inside it."""
    code, got, _ = checked_on_pinned(
        capsys, tmp_path,
        "import scvi\nmodel = scvi.model.SCVI(adata)\n"
        "for model in others:\n    model.n_latent\n    model.foo()\n"
        "model = scvi.model.SCVI(adata)\nwith open('x') as model:\n    model.n_latent\n"
        "model = scvi.model.SCVI(adata)\n"
        "def f(model=model.n_latent):\n    inner = scvi.model.SCVI(a)\n    inner.bar()\n"
        "    return model.n_latent\n"
        "inner.bar()\nsizes = [model.n_latent for model in models]\nmodel.foo()\n")
    assert code == 1 and [(line, name) for line, name, _ in got] == [
        (10, "scvi.model.SCVI.n_latent"), (12, "scvi.model.SCVI.bar"),
        (16, "scvi.model.SCVI.foo")], got

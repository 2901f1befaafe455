"""resolve_docs.py --tree pointed at an installed scvi package (the user's own site-packages,
which check_env.py names): its source facts and traceback frames are read there, at the
user's own line numbers; passages and raise sites come from the cached pinned tree (quoted),
or are listed at their pinned lines when that tree is not cached. Before, such a --tree was
refused ("it has no docs/") and the user's own files could not be read without a download.

The installed packages here are made from the pinned tree's ``src/scvi`` (no download): one
of "scvi-tools 1.4.9" with seven lines more at the top of two files, one of the pinned
release itself."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import resolve_docs
from scvi_skill.runtime import PINNED_SCVI_TOOLS

SHIFTED = ("src/scvi/train/_trainer.py", "src/scvi/model/base/_rnamixin.py")
QUESTION = "how do I set early stopping patience for SCVI"


def _site_packages(root: Path, pinned_tree, version: str, shift: bool) -> Path:
    shutil.copytree(pinned_tree.root / "src" / "scvi", root / "scvi")
    dist = root / f"scvi_tools-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n")
    if shift:
        for rel in SHIFTED:
            path = root / rel.removeprefix("src/")
            path.write_text("# an older release\n" * 7 + path.read_text(encoding="utf-8"))
    return root


@pytest.fixture
def older_site(tmp_path, pinned_tree, cache_with_pinned) -> Path:
    return _site_packages(tmp_path / "site-packages", pinned_tree, "1.4.9", shift=True)


def _def_at(site: Path, fact: dict) -> bool:
    """Whether the installed file has the fact's def or class at the fact's line."""
    lines = (site / fact["path"].removeprefix("src/")).read_text(encoding="utf-8").splitlines()
    name = fact["symbol"].rsplit(".", 1)[-1]
    return bool(re.match(rf"\s*(?:async\s+)?(?:def|class)\s+{name}\b", lines[fact["line"] - 1]))


def run(capsys, *argv):
    code = resolve_docs.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_quoted_from_pinned(report: dict, pinned_tree) -> None:
    assert report["docs"]
    for doc in report["docs"]:
        lines = (pinned_tree.root / doc["path"]).read_text(encoding="utf-8").splitlines()
        start, end = doc["lines"]
        assert doc["text"].splitlines() == [t.rstrip() for t in lines[start - 1 : end]]


def test_an_installed_older_release_gives_its_own_source_and_the_pinned_passages(
        capsys, pinned_tree, older_site):
    for given in (older_site, older_site / "scvi"):
        code, out, err = run(capsys, "--json", "--tree", str(given), QUESTION)
        assert code == 0 and "1.4.9" in err  # the version warning, as for any other tree
        report = json.loads(out)
        note = next(n for n in report["pack"]["notes"] if n.startswith("(installed package)"))
        assert f"the scvi-tools 1.4.9 installed in {older_site.resolve()}, whose scvi/... is " \
               "src/scvi/... below" in note
        assert "quoted from the 1.5.1 tree" in note
        assert report["source_tree"] == {"kind": "installed", "version": "1.4.9",
                                         "root": str(older_site.resolve())}
        _assert_quoted_from_pinned(report, pinned_tree)
        facts = [s for s in report["source"] if s.get("signature")]
        shifted = [f for f in facts if f["path"] in SHIFTED]
        assert facts and shifted
        assert all(_def_at(older_site, f) for f in facts)  # read in the installed files
        for fact in shifted:  # seven lines below the index's line for that def
            pinned = (pinned_tree.root / fact["path"]).read_text(encoding="utf-8").splitlines()
            mine = (older_site / fact["path"].removeprefix("src/")).read_text(
                encoding="utf-8").splitlines()
            assert mine[fact["line"] - 1] == pinned[fact["line"] - 8]


def test_an_installed_pinned_release_still_quotes_the_passages(
        capsys, tmp_path, pinned_tree, cache_with_pinned):
    """The pinned release installed: same line numbers, but no docs/ nor CHANGELOG.md there;
    the passages come from the cached pinned tree, and no version lines are added."""
    site = _site_packages(tmp_path / "site", pinned_tree, PINNED_SCVI_TOOLS, shift=False)
    code, out, err = run(capsys, "--json", "--tree", str(site), QUESTION)
    assert code == 0 and "line numbers may be off" not in err
    report = json.loads(out)
    _assert_quoted_from_pinned(report, pinned_tree)
    assert "version" not in report and report["source_tree"]["version"] == PINNED_SCVI_TOOLS
    assert any(n.startswith("(installed package)") and f"scvi-tools {PINNED_SCVI_TOOLS} " in n
               for n in report["pack"]["notes"])
    facts = [s for s in report["source"] if s.get("signature")]
    assert facts and all(_def_at(site, f) for f in facts)
    _, text, _ = run(capsys, "--tree", str(site), QUESTION)
    assert "== source" in text and "\n== docs/" in text
    assert not text.split("\n== ", 1)[0].count("differs in what this pack shows")


def test_an_installed_package_without_the_pinned_tree_lists_passages_unquoted(
        capsys, tmp_path, pinned_tree, older_site, monkeypatch):
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty-cache"))
    code, out, _ = run(capsys, "--tree", str(older_site), QUESTION)
    assert code == 0
    lines = out.splitlines()
    assert any(t.startswith("(installed package)") and "not quoted" in t for t in lines)
    heads = [n for n, t in enumerate(lines) if t.startswith("== docs/")]
    assert heads and all(lines[n + 1].startswith("== ") for n in heads)  # headers only
    at = lines.index("== source")
    assert re.match(r"src/scvi/\S+:\d+ scvi\.", lines[at + 1])  # read in the installed files


def test_a_pasted_traceback_is_located_in_the_installed_files(capsys, pinned_tree, older_site,
                                                              monkeypatch):
    """A frame under site-packages is read in the user's own file at the user's line: the
    older release's line, seven below the pinned one, is found where it was pasted."""
    import io

    rel = "src/scvi/model/base/_rnamixin.py"
    mine = (older_site / rel.removeprefix("src/")).read_text(encoding="utf-8").splitlines()
    at = next(n for n, t in enumerate(mine, 1) if "def get_normalized_expression" in t)
    call = next(n for n in range(at + 1, len(mine)) if mine[n - 1].strip().startswith("for "))
    paste = "\n".join([
        "Traceback (most recent call last):",
        '  File "/home/me/run.py", line 3, in <module>',
        "    model.get_normalized_expression()",
        f'  File "/opt/conda/lib/python3.12/site-packages/scvi/model/base/_rnamixin.py", '
        f"line {call}, in get_normalized_expression",
        f"    {mine[call - 1].strip()}",
        "RuntimeError: boom",
    ])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(paste.encode())))
    code, out, _ = run(capsys, "--json", "--tree", str(older_site), "-")
    assert code == 0
    (frame,) = json.loads(out)["frames"]
    assert (frame["tree_path"], frame["tree_line"], frame["found"]) == (rel, call, "same")


def test_a_wrong_tree_is_still_refused(capsys, tmp_path, cache_with_pinned):
    (tmp_path / "not-scvi").mkdir()
    code, _, err = run(capsys, "--tree", str(tmp_path / "not-scvi"), QUESTION)
    assert code == 4 and "not an scvi-tools tree" in err


def test_search_source_says_where_an_installed_trees_paths_are(capsys, older_site):
    """search_source.py prints tree paths (src/scvi/...); for an installed package the header
    and ``site`` in --json say where they are on disk, and the path given is readable there."""
    import search_source

    assert search_source.main(["--tree", str(older_site), "--json", "--symbol",
                               "SCVI.train"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tree"] == "installed" and report["site"] == str(older_site.resolve())
    first = report["results"][0]
    on_disk = Path(report["site"]) / first["path"].removeprefix("src/")
    assert "def train" in on_disk.read_text(encoding="utf-8").splitlines()[first["line"] - 1]
    assert search_source.main(["--tree", str(older_site), "--symbol", "SCVI.train"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith(f"(scvi-tools 1.4.9, installed tree; src/scvi/... is "
                         f"{older_site.resolve()}/scvi/...)")


@pytest.fixture
def project(tmp_path, pinned_tree, cache_with_pinned, monkeypatch) -> Path:
    """A user's project: ``.venv`` holding a "1.4.2" package (1.5.1's files, two of them
    shifted), the working folder; the project detection on (the suite turns it off), no
    active environment."""
    folder = tmp_path / "myproject"
    site = folder / ".venv" / "lib" / "python3.12" / "site-packages"
    _site_packages(site, pinned_tree, "1.4.2", shift=True)
    monkeypatch.delenv("SCVI_SKILL_NO_PROJECT")
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(folder)
    return folder


def _reads_project(report: dict, site: Path) -> bool:
    return any(n.startswith("(installed package) source facts and traceback frames: the ")
               and f" installed in {site.resolve()}, " in n for n in report["pack"]["notes"])


def test_the_projects_installed_release_is_read_unasked(capsys, pinned_tree, project):
    """The agent works in the user's project: the pack reads its .venv's scvi-tools 1.4.2
    (said on stderr and in a note), as --tree of it would, with no flag."""
    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    code, out, err = run(capsys, "--json", QUESTION)
    assert code == 0 and f"project's scvi-tools 1.4.2, installed in {site.resolve()}" in err
    report = json.loads(out)
    assert _reads_project(report, site)
    _assert_quoted_from_pinned(report, pinned_tree)
    shifted = [f for f in report["source"] if f.get("signature") and f["path"] in SHIFTED]
    assert shifted and all(_def_at(site, f) for f in shifted)
    # an explicit tree, or --version of another release, is read instead
    _, out, _ = run(capsys, "--json", "--tree", str(pinned_tree.root), QUESTION)
    assert not _reads_project(json.loads(out), site)
    _, out, _ = run(capsys, "--json", "--version", "1.2.0", QUESTION)
    assert not _reads_project(json.loads(out), site)
    _, out, _ = run(capsys, "--json", "--version", "1.4.2", QUESTION)
    assert _reads_project(json.loads(out), site)


def test_an_active_environment_is_found_before_the_working_folder(
        capsys, tmp_path, pinned_tree, project, monkeypatch):
    other = tmp_path / "conda-env"
    site = other / "lib" / "python3.11" / "site-packages"
    _site_packages(site, pinned_tree, "1.4.8", shift=False)
    monkeypatch.setenv("CONDA_PREFIX", str(other))
    _, out, err = run(capsys, "--json", QUESTION)
    assert "scvi-tools 1.4.8" in err and _reads_project(json.loads(out), site)


def test_the_project_is_not_read_when_it_adds_nothing_or_is_turned_off(
        capsys, tmp_path, pinned_tree, project, monkeypatch):
    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    monkeypatch.setenv("SCVI_SKILL_NO_PROJECT", "1")
    _, out, err = run(capsys, "--json", QUESTION)
    assert "project's" not in err and not _reads_project(json.loads(out), site)
    monkeypatch.delenv("SCVI_SKILL_NO_PROJECT")
    # the pinned release installed and its tree cached: the cached tree (same source, docs)
    shutil.rmtree(site)
    _site_packages(site, pinned_tree, PINNED_SCVI_TOOLS, shift=False)
    _, out, err = run(capsys, "--json", QUESTION)
    assert "project's" not in err and not _reads_project(json.loads(out), site)
    # ... and with no tree cached, its source rather than no source at all
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty-cache"))
    _, out, err = run(capsys, "--json", QUESTION)
    report = json.loads(out)
    assert _reads_project(report, site) and all(_def_at(site, f) for f in report["source"]
                                                if f.get("signature"))
    # a bare scvi folder without its dist-info is not taken for an install
    for dist in site.glob("scvi_tools-*.dist-info"):
        shutil.rmtree(dist)
    _, out, err = run(capsys, "--json", QUESTION)
    assert "project's" not in err and not _reads_project(json.loads(out), site)


def _draft_citing_the_shifted_def(pinned_tree, tmp_path) -> Path:
    """A draft for a user on 1.4.2 citing a line of get_normalized_expression at 1.4.2's
    number (the project's copy: seven lines below 1.5.1's)."""
    rel = "src/scvi/model/base/_rnamixin.py"
    code = 'if library_size == "latent":'
    lines = (pinned_tree.root / rel).read_text(encoding="utf-8").splitlines()
    at = next(n for n, t in enumerate(lines, 1) if code in t)
    draft = tmp_path / "draft.md"
    draft.write_text(f"## a\nIn your scvi-tools 1.4.2, the latent library size is chosen by "
                     f"`{code}` (`{rel}:{at + 7}`).\n", encoding="utf-8")
    return draft


def test_check_code_judges_a_citation_in_the_projects_installed_release(
        capsys, tmp_path, pinned_tree, project, monkeypatch):
    """Rounds 103-104's answers cited the user's 1.0.4 as installed; with no 1.0.4 tree cached
    such a citation was a finding against 1.5.1. Now the project's installed package is that
    release's tree for the check."""
    import check_code

    draft = _draft_citing_the_shifted_def(pinned_tree, tmp_path)
    monkeypatch.setenv("SCVI_SKILL_NO_PROJECT", "1")
    assert check_code.main(["--json", str(draft)]) == 1
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert "does not show `library_size`" in finding["message"]
    monkeypatch.delenv("SCVI_SKILL_NO_PROJECT")
    assert check_code.main(["--json", str(draft)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["findings"] == [] and report["citations"]["other_release"] == 1


@pytest.mark.skipif(__import__("os").name != "posix", reason="a shell-script interpreter")
def test_check_code_python_judges_citations_in_that_interpreters_package(
        capsys, tmp_path, pinned_tree, cache_with_pinned, monkeypatch):
    import stat
    import sys

    import check_code

    site = _site_packages(tmp_path / "env-site", pinned_tree, "1.4.2", shift=True)
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S -I -c "import sys; '
                    f"sys.path[:0] = ['{site}']; exec(sys.argv[2])\" \"$@\"\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    draft = _draft_citing_the_shifted_def(pinned_tree, tmp_path)
    assert check_code.main(["--json", "--python", str(fake), str(draft)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == "1.4.2" and report["findings"] == []
    assert report["citations"]["other_release"] == 1


def test_search_source_searches_the_projects_installed_release_unasked(
        capsys, pinned_tree, project, monkeypatch):
    """Run in the project, search_source.py's source modes read its .venv's 1.4.2 (at the
    user's own lines, said on stderr), as resolve_docs.py does; --lines of a docs/ path, which
    an installed package has none of, still reads the pinned tree."""
    import search_source

    site = (project / ".venv" / "lib" / "python3.12" / "site-packages").resolve()
    assert search_source.main(["--json", "--symbol", "SCVI.train"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert f"searching the project's scvi-tools 1.4.2, installed in {site}" in err
    assert report["scvi_tools_version"] == "1.4.2" and report["site"] == str(site)
    assert search_source.main(["--json", "--lines", "src/scvi/train/_trainer.py:1-7"]) == 0
    lines = json.loads(capsys.readouterr().out)
    assert {row["text"] for row in lines["lines"]} == {"# an older release"}  # the shifted copy
    assert search_source.main(["--lines", "src/scvi/train/_trainer.py:1"]) == 0
    assert f"src/scvi/train/_trainer.py is {site}/scvi/train/_trainer.py" in \
        capsys.readouterr().out.splitlines()[0]
    assert search_source.main(["--json", "--lines", "docs/faq.md:1-2"]) == 0
    assert json.loads(capsys.readouterr().out)["scvi_tools_version"] == PINNED_SCVI_TOOLS
    # --tree, $SCVI_TOOLS_TREE and the off switch choose the pinned tree
    for argv, env in (((["--tree", str(pinned_tree.root)]), None),
                      ([], ("SCVI_TOOLS_TREE", str(pinned_tree.root))),
                      ([], ("SCVI_SKILL_NO_PROJECT", "1"))):
        if env:
            monkeypatch.setenv(*env)
        assert search_source.main([*argv, "--json", "--kwarg", "early_stopping_patience"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out)["scvi_tools_version"] == PINNED_SCVI_TOOLS and "project" not in err
        if env:
            monkeypatch.delenv(env[0])


def test_a_name_the_projects_release_lacks_points_at_its_history(capsys, project):
    """The pinned index has the name; the project's release defines it nowhere: the miss says
    so, with --history (when it came) as the next command, not a search of tests/."""
    import search_source

    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    (site / "scvi" / "train" / "_config.py").unlink()
    assert search_source.main(["--symbol", "TrainerConfig"]) == 1
    out = capsys.readouterr().out
    assert "no such name in scvi-tools 1.4.2; the 1.5.1 index has scvi.train.TrainerConfig" in out
    assert out.splitlines()[-1].endswith("search_source.py --history scvi.train.TrainerConfig")


def test_check_code_checks_names_against_the_projects_release(capsys, tmp_path, project,
                                                              monkeypatch):
    """Code for a user on 1.4.2 naming DIAGVI (added in 1.4.3) is a finding run in the
    project, none against 1.5.1; --version chooses, and a project release the skill has no API
    index of is checked against the pinned one, said on stderr."""
    import check_code

    code = tmp_path / "analysis.py"
    code.write_text("import scvi\nmodel = scvi.external.DIAGVI(adata)\n", encoding="utf-8")
    assert check_code.main(["--json", str(code)]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["version"] == "1.4.2" and "checking against the project's scvi-tools 1.4.2" in err
    assert "added in 1.4.3" in report["findings"][0]["message"]
    assert check_code.main(["--json", "--version", PINNED_SCVI_TOOLS, str(code)]) == 0
    capsys.readouterr()
    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    for dist in site.glob("scvi_tools-*.dist-info"):
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scvi-tools\nVersion: 0.20.3\n")
    assert check_code.main(["--json", str(code)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["version"] == PINNED_SCVI_TOOLS
    assert "the project's scvi-tools 0.20.3" in err and "has no API index here" in err


def test_with_no_tree_cached_citations_are_checked_in_the_projects_package(
        capsys, tmp_path, pinned_tree, project, monkeypatch):
    """No tree fetched: check_code.py judged no citation at all. Run in the project, the
    installed package judges those of src/scvi (a right one at 1.4.2's line passes, one two
    lines off is a finding); a docs/ citation, which a package has none of, is not judged."""
    import check_code

    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty-cache"))
    draft = _draft_citing_the_shifted_def(pinned_tree, tmp_path)
    text = draft.read_text(encoding="utf-8")
    rel, at = re.search(r"`(src/scvi/model/base/_rnamixin\.py):(\d+)`", text).groups()
    code = 'if library_size == "latent":'
    draft.write_text(text + f"\nThe choice is made by `{code}` (`{rel}:{int(at) + 2}`); see the "
                     f"FAQ (`docs/faq.md:9999`).\n", encoding="utf-8")
    assert check_code.main(["--json", str(draft)]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert "citations of src/scvi checked in the scvi-tools 1.4.2 installed in" in err
    [finding] = report["findings"]
    assert finding["message"] == f"{rel}:{int(at) + 2} does not show `{code}`; line {at} does"
    monkeypatch.setenv("SCVI_SKILL_NO_PROJECT", "1")
    assert check_code.main(["--json", str(draft)]) == 0
    assert "citations not checked" in capsys.readouterr().err


def test_an_editable_install_reads_its_checkout(capsys, tmp_path, pinned_tree, cache_with_pinned,
                                                monkeypatch):
    """A scvi-tools developer's project: ``pip install -e CHECKOUT`` leaves only a dist-info
    in site-packages, whose direct_url.json names the checkout. The scripts read that checkout
    (a whole tree) as the project's, at the installed version; a direct_url.json of a plain
    install, or naming no tree, is not taken for one."""
    import check_code
    import search_source

    folder = tmp_path / "dev project"
    site = folder / ".venv" / "lib" / "python3.12" / "site-packages"
    dist = site / "scvi_tools-1.6.0.dev3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scvi-tools\nVersion: 1.6.0.dev3\n")
    url = pinned_tree.root.as_uri()
    (dist / "direct_url.json").write_text(json.dumps({"url": url, "dir_info": {"editable": True}}))
    monkeypatch.delenv("SCVI_SKILL_NO_PROJECT")
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(folder)
    code, out, err = run(capsys, "--json", QUESTION)
    assert code == 0 and f"project's scvi-tools 1.6.0.dev3, installed in {pinned_tree.root}" in err
    assert search_source.main(["--json", "--symbol", "SCVI.train"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["scvi_tools_version"], report["tree"]) == ("1.6.0.dev3", "sdist")
    draft = tmp_path / "a.py"
    draft.write_text("import scvi\nscvi.model.SCVI(adata).train(use_gpu=True)\n")
    assert check_code.main(["--json", str(draft)]) == 1
    assert "newer than the newest release this skill indexes" in capsys.readouterr().err
    nothing = (tmp_path / "nothing").as_uri()
    for info in ({"url": url, "dir_info": {}}, {"url": nothing, "dir_info": {"editable": True}},
                 ["not", "a", "dict"]):
        (dist / "direct_url.json").write_text(json.dumps(info))
        _, _, err = run(capsys, "--json", QUESTION)
        assert "project's" not in err


def test_the_project_is_found_from_a_folder_inside_it(capsys, tmp_path, pinned_tree, project,
                                                      monkeypatch):
    """An agent that went into the project's notebooks/analysis folder still works in the
    project: its .venv at the project's root (the first folder up with pyproject.toml or
    .git) is read; a .venv above the project's root is not."""
    import search_source

    inner = project / "notebooks" / "analysis"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert search_source.main(["--json", "--symbol", "SCVI.train"]) == 0
    assert json.loads(capsys.readouterr().out)["scvi_tools_version"] == "1.4.2"
    (project / "notebooks" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert search_source.main(["--json", "--symbol", "SCVI.train"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["scvi_tools_version"] == PINNED_SCVI_TOOLS and "project's" not in err


def test_tests_of_the_projects_release_come_from_its_cached_tree(capsys, pinned_tree, project,
                                                                 cache_with_pinned):
    """An installed package ships no tests/: --tests in the project says how to get them
    (fetch_tree.py --version V) and searches the package; with V's tree cached, it searches
    that tree, tests included."""
    import search_source

    assert search_source.main(["--json", "--tests", "--usages", "load_query_data"]) == 0
    out, err = capsys.readouterr()
    assert "fetch_tree.py --version 1.4.2 caches its tree, tests included" in err
    assert not any(r["path"].startswith("tests/") for r in json.loads(out)["results"])
    (cache_with_pinned / "scvi-tools-1.4.2").symlink_to(pinned_tree.root)  # stands for 1.4.2's
    assert search_source.main(["--json", "--tests", "--max", "500", "--usages",
                               "load_query_data"]) == 0
    out, err = capsys.readouterr()
    assert "scvi-tools 1.4.2's cached tree" in err
    assert any(r["path"].startswith("tests/") for r in json.loads(out)["results"])


def test_a_folder_that_cannot_be_looked_into_ends_the_search_upwards(capsys, project,
                                                                     monkeypatch):
    """Path.exists raises PermissionError (not False) for a folder the account may not
    search: the walk up stops there instead of ending the call in a traceback."""
    from scvi_skill.runtime import tree as tree_module

    inner = project / "notebooks"
    inner.mkdir()
    monkeypatch.chdir(inner)
    real = Path.exists

    def exists(self, *args, **kwargs):
        if self.parent == inner:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    assert tree_module._project_folders(None) == [inner]
    assert tree_module.project_installed() is None


def test_check_code_says_which_pitfall_notes_lack_their_evidence_in_the_users_release(
        capsys, tmp_path, project):
    """The pitfalls are proven on 1.5.1; checked against the project's release, a note whose
    evidence token that release's file lacks says so (evidence_found in --json), as the pack's
    pitfalls do; one whose evidence is there is unchanged."""
    import check_code

    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    field = site / "scvi" / "data" / "fields" / "_dataframe_field.py"
    field.write_text(field.read_text(encoding="utf-8").replace("not found in adata.",
                                                               "missing from adata."))
    code = tmp_path / "analysis.py"
    code.write_text("import scvi\nm = scvi.model.SCVI(adata)\n"
                    "q = scvi.model.SCANVI.from_scvi_model(m, 'Unknown')\nq.predict(query)\n"
                    "scvi.train.TrainerConfig(early_stopping=True)\n", encoding="utf-8")
    assert check_code.main(["--json", str(code)]) == 0
    found = {p["id"]: p.get("evidence_found")
             for p in json.loads(capsys.readouterr().out)["pitfalls"]}
    assert found["new-anndata-needs-the-labels-column"] is False
    assert found["scvi-train-overrides-early-stopping"] is True
    assert found["doc-training-configuration-early-stopping"] is None  # docs/: not installed
    assert check_code.main([str(code)]) == 0
    out = capsys.readouterr().out
    line = next(t for t in out.splitlines() if "new-anndata-needs-the-labels-column" in t)
    assert line.endswith("(proven on 1.5.1 only: 1.4.2's src/scvi/data/fields/_dataframe_field.py "
                         "lacks its evidence 'raise KeyError(f\"{self._original_attr_key} not "
                         "found in adata.{self.attr_name}.\")')")
    assert not any("lacks its evidence" in t for t in out.splitlines()
                   if "new-anndata-needs-the-labels-column" not in t)
    assert check_code.main(["--json", "--version", "1.5.1", str(code)]) == 0
    assert all("evidence_found" not in p for p in json.loads(capsys.readouterr().out)["pitfalls"])


def test_a_citation_of_the_installed_files_path_is_judged_in_that_release(
        capsys, tmp_path, pinned_tree, project):
    """Answers cite the user's installed files as they read them
    (``.venv/lib/python3.12/site-packages/scvi/...:N``, rounds 104 and 106); such a path was
    no tree's and never judged. It is the install's scvi/...: right at 1.4.2's line, it shows
    there (another release's citation); two lines off, it is a finding."""
    import check_code

    rel = "src/scvi/model/base/_rnamixin.py"
    code = 'if library_size == "latent":'
    lines = (pinned_tree.root / rel).read_text(encoding="utf-8").splitlines()
    at = next(n for n, t in enumerate(lines, 1) if code in t) + 7  # 1.4.2's copy: 7 lines down
    cited = ".venv/lib/python3.12/site-packages/scvi/model/base/_rnamixin.py"
    draft = tmp_path / "draft.md"
    for line, findings in ((at, 0), (at + 2, 1)):
        draft.write_text(f"## a\nIn your scvi-tools 1.4.2 the latent library size is chosen by "
                         f"`{code}` (`{cited}:{line}`).\n", encoding="utf-8")
        rc = check_code.main(["--json", str(draft)])
        report = json.loads(capsys.readouterr().out)
        assert rc == (1 if findings else 0)
        assert report["citations"]["cited"] == 1 and len(report["findings"]) == findings
        if not findings:
            assert report["citations"]["other_release"] == 1


def test_a_docs_pitfall_is_not_said_to_lack_its_evidence_in_an_installed_package(
        capsys, project):
    """An installed package has no docs/: the pack's pitfall whose evidence is a docs page is
    not judged there (it said "1.4.2's docs/... lacks its evidence"); one whose evidence is
    in src/scvi is."""
    code, out, _ = run(capsys, "--json", "TrainerConfig(early_stopping=True) from the training "
                                         "configuration docs does not stop early")
    pitfalls = {p["id"]: p for p in json.loads(out)["pitfalls"]}
    docs = pitfalls["doc-training-configuration-early-stopping"]
    assert "evidence_found" not in docs and "lacks its evidence" not in docs["text"]
    assert pitfalls["scvi-train-overrides-early-stopping"]["evidence_found"] is True

"""search_source.py --since: the release where the source starts or stops holding a text,
by bisection over the manifest's releases (runtime/since.py). Fake trees in a temporary
cache stand in for downloads; one test reads the pinned tree."""

from __future__ import annotations

import json
import math

import pytest

import search_source
from scvi_skill.runtime import fetch, since
from scvi_skill.runtime.apifiles import load_releases
from scvi_skill.runtime.errors import FetchError, UsageError

VERSIONS = load_releases().versions
CODE = 'data_loader_kwargs.get("batch_size"'


def _tree(cache, version, lines):
    """A complete cached tree of ``version`` whose one source file holds ``lines``."""
    root = cache / f"scvi-tools-{version}"
    (root / "docs").mkdir(parents=True)
    pkg = root / "src" / "scvi"
    (pkg / "dataloaders").mkdir(parents=True)
    (pkg / "__init__.py").write_text(f'__version__ = "{version}"\n')
    (pkg / "dataloaders" / "_data_splitting.py").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "trees"
    folder.mkdir()
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(folder))
    return folder


@pytest.mark.parametrize("where, expected", [
    (None, "src/scvi"), ("dataloaders", "src/scvi/dataloaders"),
    ("scvi/train/_trainer.py", "src/scvi/train/_trainer.py"),
    ("src/scvi/model", "src/scvi/model"), ("model/", "src/scvi/model"),
])
def test_in_names_a_part_of_the_package(where, expected):
    assert since.check_where(where) == expected


@pytest.mark.parametrize("where", ["../etc", "/etc/passwd", "model/../../..", "C:/x", "  "])
def test_in_never_leads_out_of_the_tree(where):
    with pytest.raises(UsageError):
        since.check_where(where)


@pytest.mark.parametrize("k", range(1, len(VERSIONS)))
def test_bisection_finds_the_first_release_with_the_code_in_few_reads(k):
    reads = []

    def probe(version):
        reads.append(version)
        return since.Place("src/scvi/x.py", 1) if VERSIONS.index(version) >= k else None

    checks = since.bisect(VERSIONS, probe)
    report = since.summary(VERSIONS, checks)
    assert report == {"result": "added", "first": VERSIONS[k], "last": VERSIONS[k - 1]}
    assert len(reads) == len(set(reads)) == len(checks)
    assert len(reads) <= 2 + math.ceil(math.log2(len(VERSIONS) - 1))


@pytest.mark.parametrize("k", [1, 7, len(VERSIONS) - 1])
def test_bisection_finds_the_last_release_with_removed_code(k):
    checks = since.bisect(VERSIONS, lambda v: None if VERSIONS.index(v) >= k
                          else since.Place("src/scvi/x.py", 3))
    assert since.summary(VERSIONS, checks) == {"result": "removed", "first": VERSIONS[k],
                                               "last": VERSIONS[k - 1]}


@pytest.mark.parametrize("held, result", [(True, "always"), (False, "never")])
def test_the_same_answer_at_both_ends_reads_two_releases(held, result):
    checks = since.bisect(VERSIONS, lambda v: since.Place("a.py", 1) if held else None)
    assert [c.version for c in checks] == [VERSIONS[-1], VERSIONS[0]]
    assert since.summary(VERSIONS, checks)["result"] == result


def test_the_text_is_found_literally_and_a_link_out_of_the_tree_is_not_read(tmp_path):
    root = _tree(tmp_path, "1.0.0", ["a = 1", "x = kwargs.get('batch_size', 128)", "b = 2"])
    outside = tmp_path / "outside.py"
    outside.write_text("secret = 'needle'\n")
    (root / "src" / "scvi" / "link.py").symlink_to(outside)
    assert since.find_text(root, "kwargs.get('batch_size'") == since.Place(
        "src/scvi/dataloaders/_data_splitting.py", 2)
    assert since.find_text(root, "kwargs.get(.batch_size") is None  # not a regex
    assert since.find_text(root, "needle") is None
    assert since.find_text(root, "a = 1", "src/scvi/model") is None  # --in elsewhere
    assert since.find_text(root, "b = 2", "src/scvi/dataloaders/_data_splitting.py").line == 3


def test_cached_trees_only_say_which_releases_between_were_not_read(cache, capsys):
    for version, held in (("1.0.0", False), ("1.2.1", False), ("1.3.0", True), ("1.5.1", True)):
        _tree(cache, version, ["x = 1", CODE + ", 128)" if held else "y = 2"])
    assert search_source.main(["--since", CODE, "--cached"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("4 releases 1.0.0-1.5.1, cached trees only")
    assert out[1] == "first in 1.3.0: src/scvi/dataloaders/_data_splitting.py:2"
    assert out[2] == ("absent in 1.2.1; not read between them (not cached): 1.2.2, "
                      "1.2.2.post1, 1.2.2.post2")
    assert search_source.main(["--since", CODE, "--cached", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["result"], report["first"], report["last"], report["fetched"]) == (
        "added", "1.3.0", "1.2.1", [])
    assert [row["version"] for row in report["checked"]] == ["1.5.1", "1.0.0", "1.2.1", "1.3.0"]
    assert search_source.main(["--since", "not_in_any_release", "--cached"]) == 1
    assert "in neither 1.0.0 nor 1.5.1" in capsys.readouterr().out


def test_missing_trees_are_fetched_quietly_and_neighbours_are_named(cache, monkeypatch, capsys):
    """Without --cached a release the bisection reads is fetched (here by a stand-in for the
    download that writes a fake tree), without pip's output; the boundary is two
    neighbouring releases."""
    boundary = VERSIONS.index("1.2.2.post2")
    calls = []

    def fake_fetch(version, *, log=None, echo=True, **_):
        calls.append((version, echo))
        held = VERSIONS.index(version) >= boundary
        return _tree(cache, version, [CODE + ")" if held else "pass"])

    monkeypatch.setattr(fetch, "fetch_tree", fake_fetch)
    _tree(cache, VERSIONS[-1], [CODE + ")"])  # the pinned tree is usually cached already
    assert search_source.main(["--since", CODE]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:3] == [
        "first in 1.2.2.post2: src/scvi/dataloaders/_data_splitting.py:1",
        "absent in 1.2.2.post1, the release before it"]
    assert calls and all(echo is False for _, echo in calls)
    assert VERSIONS[-1] not in [v for v, _ in calls]
    assert captured.err.count("fetching the scvi-tools") == len(calls)


def test_no_cached_tree_and_bad_input_are_one_clear_error(cache, capsys):
    assert search_source.main(["--since", CODE, "--cached"]) == FetchError.exit_code
    assert "no release tree is cached" in capsys.readouterr().err
    for argv in (["--since", ""], ["--since", "a\nb"], ["--since", "x" * 400],
                 ["--since", CODE, "--tree", "."], ["--since", CODE, "--in", "../.."],
                 ["--cached", "text"], ["--since", CODE, "text"]):
        assert search_source.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("Error: ") and len(err.splitlines()) <= 2, argv


def test_the_pinned_tree_holds_sysvi_where_its_model_is(pinned_tree):
    place = since.find_text(pinned_tree.root, "class SysVI(")
    assert place is not None and place.path == "src/scvi/external/sysvi/_model.py"
    text = (pinned_tree.root / place.path).read_text(encoding="utf-8").splitlines()
    assert "class SysVI(" in text[place.line - 1]

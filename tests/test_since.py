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
def cache(tree_cache):
    return tree_cache


@pytest.mark.parametrize("where, expected", [
    (None, "src/scvi"), ("dataloaders", "src/scvi/dataloaders"),
    ("scvi/train/_trainer.py", "src/scvi/train/_trainer.py"),
    ("src/scvi/model", "src/scvi/model"), ("model/", "src/scvi/model"),
])
def test_in_names_a_part_of_the_package(where, expected):
    assert since.check_where(where) == expected


@pytest.mark.parametrize("where", ["../etc", "/etc/passwd", "model/../../..", "C:/x", "  ", "*",
                                   "model/*.py"])
def test_in_never_leads_out_of_the_tree(where):
    with pytest.raises(UsageError):
        since.check_where(where)


def _probe(held, reads=None):
    def probe(version):
        if reads is not None:
            reads.append(version)
        return (since.Place("src/scvi/x.py", 1),) if held(VERSIONS.index(version)) else ()
    return probe


def _report(checks):
    return since.summary(VERSIONS, checks)


@pytest.mark.parametrize("k", range(1, len(VERSIONS)))
def test_bisection_finds_the_first_release_with_the_code_in_few_reads(k):
    reads = []
    checks = since.bisect(VERSIONS, _probe(lambda i: i >= k, reads))
    assert _report(checks) == {"result": "added", "first": VERSIONS[k], "last": VERSIONS[-1],
                               "before": VERSIONS[k - 1], "after": None}
    assert len(reads) == len(set(reads)) == len(checks)
    assert len(reads) <= 2 + math.ceil(math.log2(len(VERSIONS) - 1))


@pytest.mark.parametrize("k", [1, 7, len(VERSIONS) - 1])
def test_bisection_finds_the_last_release_with_removed_code(k):
    checks = since.bisect(VERSIONS, _probe(lambda i: i < k))
    assert _report(checks) == {"result": "removed", "first": VERSIONS[0],
                               "last": VERSIONS[k - 1], "before": None, "after": VERSIONS[k]}


def test_series_ends_are_the_first_and_last_release_of_each_minor_series():
    ends = [VERSIONS[i] for i in since.series_ends(VERSIONS)]
    assert ends[:6] == ["1.0.0", "1.0.4", "1.1.0.post1", "1.1.6.post2", "1.2.0", "1.2.2.post2"]
    assert ends[-2:] == ["1.5.0", "1.5.1"]


@pytest.mark.parametrize("first, last", [("1.2.2.post2", "1.2.2.post2"), ("1.1.4", "1.1.4"),
                                         ("1.2.2.post2", "1.4.3"), ("1.0.1", "1.3.0")])
def test_code_that_came_and_went_is_found_with_both_of_its_changes(first, last):
    """The batch_size fix of 1.2.2.post2, rewritten in a later release, is in neither end;
    MRVI was in the 1.1.4 wheel alone. A series end holds it, and both changes are bisected."""
    a, b = VERSIONS.index(first), VERSIONS.index(last)
    held = lambda i: a <= i <= b  # noqa: E731
    if not any(held(i) for i in since.series_ends(VERSIONS)):
        checks = since.bisect(VERSIONS, _probe(held))
        assert _report(checks)["result"] == "never"  # between series ends: not seen (1.1.4)
        return
    checks = since.bisect(VERSIONS, _probe(held))
    assert _report(checks) == {"result": "span", "first": first, "last": last,
                               "before": VERSIONS[a - 1], "after": VERSIONS[b + 1]}


def test_a_change_in_one_of_two_files_is_found_and_reported_per_file(tmp_path):
    """1.2.2.post2 made DataSplitter's batch_size a get and left contrastiveVI's splitter's
    pop until 1.4.1: the text anywhere spans 1.2.1-1.4.0.post1, and "fixed in 1.2.2" (the
    release notes' word) is read as the text's first change. Each file's changes are found
    (both bisected) and said per file."""
    fix, gone = VERSIONS.index("1.2.2.post2"), VERSIONS.index("1.4.1")
    came = VERSIONS.index("1.2.1")

    def probe(version):
        i = VERSIONS.index(version)
        return tuple(place for place, held in (
            (since.Place("src/scvi/dataloaders/_data_splitting.py", 254), came <= i < fix),
            (since.Place("src/scvi/external/contrastivevi/_splitting.py", 84), came <= i < gone))
            if held)
    checks = since.bisect(VERSIONS, probe)
    assert _report(checks) == {"result": "span", "first": "1.2.1", "last": "1.4.0.post1",
                               "before": "1.2.0", "after": "1.4.1"}
    rows = since.by_file(VERSIONS, checks)
    assert [(r["path"].rsplit("/", 1)[1], r["first"], r["last"], r["before"], r["after"])
            for r in rows] == [
        ("_data_splitting.py", "1.2.1", "1.2.2.post1", "1.2.0", "1.2.2.post2"),
        ("_splitting.py", "1.2.1", "1.4.0.post1", "1.2.0", "1.4.1")]
    assert len(checks) <= 25
    report = {"query": "x", "where": "src/scvi", "releases": len(VERSIONS), "oldest": VERSIONS[0],
              "newest": VERSIONS[-1], "cached_only": False, "fetched": [],
              "checked": [{"version": c.version, "present": bool(c.places),
                           "path": c.place and c.place.path, "line": c.place and c.place.line}
                          for c in checks], **_report(checks), "files": rows}
    text = since.render(report)
    assert "src/scvi/dataloaders/_data_splitting.py:254 (in 1.2.2.post1): first in 1.2.1 " \
           "(absent in 1.2.0), last in 1.2.2.post1 (gone in 1.2.2.post2)" in text
    report["files"] = rows[:1]
    assert "by file" not in since.render(report)


def test_code_in_both_ends_reads_two_releases_and_in_none_the_series_ends():
    checks = since.bisect(VERSIONS, _probe(lambda i: True))
    assert [c.version for c in checks] == [VERSIONS[-1], VERSIONS[0]]
    assert _report(checks)["result"] == "always"
    checks = since.bisect(VERSIONS, _probe(lambda i: False))
    assert {c.version for c in checks} == {VERSIONS[i] for i in since.series_ends(VERSIONS)}
    assert _report(checks)["result"] == "never"


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
    assert out[2] == ("absent in 1.2.1; not read between (not cached): 1.2.2, "
                      "1.2.2.post1, 1.2.2.post2")
    assert search_source.main(["--since", CODE, "--cached", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["result"], report["first"], report["before"], report["fetched"]) == (
        "added", "1.3.0", "1.2.1", [])
    assert [row["version"] for row in report["checked"]] == ["1.5.1", "1.0.0", "1.2.1", "1.3.0"]
    # the series ends a came-and-went search would read, uncached here, are named
    assert "1.1.6.post2" in report["ends_not_read"] and "1.0.0" not in report["ends_not_read"]
    assert search_source.main(["--since", CODE, "--cached"]) == 0
    assert any(line.startswith("series ends not cached, so not read (")
               for line in capsys.readouterr().out.splitlines())
    assert search_source.main(["--since", "not_in_any_release", "--cached"]) == 1
    assert "in none of the 4 releases read" in capsys.readouterr().out


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


def test_a_failed_fetch_names_the_release_and_offers_the_cached_trees(cache, monkeypatch, capsys):
    def offline(version, **_):
        raise FetchError(f"could not reach the package index to download scvi-tools {version}",
                         hint="Check your network")

    monkeypatch.setattr(fetch, "fetch_tree", offline)
    _tree(cache, VERSIONS[-1], [CODE + ")"])
    assert search_source.main(["--since", CODE]) == FetchError.exit_code
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"fetching the scvi-tools {VERSIONS[0]} tree (sdist from the package index) ..."
    assert err[1].startswith(f"Error: could not reach the package index to download "
                             f"scvi-tools {VERSIONS[0]}")
    assert "--cached" in err[2] and "1 release tree" in err[2] and len(err) == 3


@pytest.mark.network
@pytest.mark.slow
def test_the_batch_size_fix_the_notes_date_1_2_2_first_ships_in_1_2_2_post2(pinned_tree):
    """SKILL.md's example of a release-notes heading ahead of the release that shipped the
    change (and round 105's error, both agents'): CHANGELOG.md:365 lists the batch_size fix
    under 1.2.2, yet DataSplitter's pop is in the 1.2.2 and 1.2.2.post1 sdists and gone in
    1.2.2.post2 (trees fetched as a user's --since would)."""
    import os

    notes = (pinned_tree.root / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    assert "Fixed batch_size pop to get" in notes[364]
    assert next(t for t in reversed(notes[:364]) if t.startswith("### ")).startswith("### 1.2.2 ")
    where, pop = "src/scvi/dataloaders/_data_splitting.py", 'data_loader_kwargs.pop("batch_size"'
    held = {}
    for version in ("1.2.2", "1.2.2.post1", "1.2.2.post2"):
        try:
            root = since.tree_root(version, cached_only=False)
        except FetchError as err:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"scvi-tools {version} could not be fetched: {err}")
        held[version] = since.find_text(root, pop, where) is not None
    assert held == {"1.2.2": True, "1.2.2.post1": True, "1.2.2.post2": False}

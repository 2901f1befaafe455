"""search_source.py --compare NAME --release V: the def NAME stands for in two releases, found
through each release's shipped API index, and its changed lines, each numbered in its own
release (runtime/defdiff.py). Older releases' trees are fakes made from the pinned tree's
files in a temporary cache (no download); the pinned tree is the real one."""

from __future__ import annotations

import json

import pytest

import search_source
from scvi_skill.runtime import defdiff

TRAINING = "src/scvi/model/base/_training_mixin.py"
EARLY = "        early_stopping: bool = False,"


@pytest.fixture
def cache(tree_cache):
    return tree_cache


def _fake_release(cache, pinned_tree, version, files: dict[str, str]):
    """A complete cached tree of ``version`` holding ``files`` (tree path -> text)."""
    root = cache / f"scvi-tools-{version}"
    (root / "docs").mkdir(parents=True)
    (root / "src" / "scvi").mkdir(parents=True)
    (root / "src" / "scvi" / "__init__.py").write_text(f'__version__ = "{version}"\n')
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _pinned_text(pinned_tree, rel):
    return pinned_tree.to_disk(rel).read_text(encoding="utf-8")


def _run(capsys, *argv):
    code = search_source.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_changed_line_is_one_hunk_numbered_in_each_release(cache, pinned_tree, capsys):
    text = _pinned_text(pinned_tree, TRAINING)
    assert text.count(EARLY) >= 1
    old_text = "# an older header line\n" + text.replace(EARLY, EARLY.replace("False", "True"), 1)
    old_root = _fake_release(cache, pinned_tree, "1.0.4", {TRAINING: old_text})
    code, out, _ = _run(capsys, "--compare", "scvi.model.SCVI.train", "--release", "1.0.4",
                        "--json", "--tree", str(pinned_tree.root))
    assert code == 0
    rep = json.loads(out)
    assert (rep["old"]["version"], rep["new"]["version"]) == ("1.0.4", pinned_tree.version)
    assert rep["old"]["qualname"].endswith("UnsupervisedTrainingMixin.train")
    assert (rep["removed"], rep["added"], rep["total_hunks"]) == (1, 1, 1)
    old_lines = old_text.splitlines()
    new_lines = text.splitlines()
    (minus,) = [r for r in rep["hunks"][0]["lines"] if r["op"] == "-"]
    (plus,) = [r for r in rep["hunks"][0]["lines"] if r["op"] == "+"]
    # Each side's number is that line in that release's file (the older file is one longer).
    assert old_lines[minus["old"] - 1] == EARLY.replace("False", "True")
    assert new_lines[plus["new"] - 1] == EARLY
    assert minus["old"] == plus["new"] + 1
    # The def's range in the pinned tree is the index's def line with its decorator.
    new = rep["new"]
    assert new_lines[new["start"] - 1].lstrip().startswith("@")
    assert new_lines[new["start"]].lstrip().startswith("def train(")
    assert old_root.is_dir()


def test_text_marks_removed_and_added_lines_with_their_own_numbers(cache, pinned_tree, capsys):
    text = _pinned_text(pinned_tree, TRAINING)
    _fake_release(cache, pinned_tree, "1.2.0",
                  {TRAINING: text.replace(EARLY, EARLY.replace("False", "True"), 1)})
    code, out, _ = _run(capsys, "--compare", "SCVI.train", "--release", "1.2.0",
                        "--tree", str(pinned_tree.root))
    assert code == 0
    at = text.splitlines().index(EARLY) + 1
    lines = out.splitlines()
    assert lines[0].startswith("scvi.model.SCVI.train (")
    assert f"1 line(s) removed, 1 added, 1 hunk(s)" in lines[0]
    assert f"-{at:>3}  {EARLY[4:].replace('False', 'True')}" in lines
    assert f"+{at:>3}  {EARLY[4:]}" in lines
    assert any(line.startswith("next: ") and "--history scvi.model.SCVI.train" in line
               for line in lines)


def test_two_releases_compare_older_first_in_either_order(cache, pinned_tree, capsys):
    text = _pinned_text(pinned_tree, TRAINING)
    _fake_release(cache, pinned_tree, "1.1.5", {TRAINING: text})
    _fake_release(cache, pinned_tree, "1.0.4", {TRAINING: text})
    code, out, _ = _run(capsys, "--compare", "scvi.model.SCVI.train", "--release", "1.1.5",
                        "--release", "1.0.4", "--json")
    assert code == 0
    rep = json.loads(out)
    assert (rep["old"]["version"], rep["new"]["version"]) == ("1.0.4", "1.1.5")
    assert rep["identical"] and rep["hunks"] == []
    code, out, _ = _run(capsys, "--compare", "scvi.model.SCVI.train", "--release", "1.0.4",
                        "--release", "1.1.5")
    assert code == 0 and ": the same in scvi-tools 1.0.4 and 1.1.5" in out


def test_a_name_one_release_lacks_says_where_the_other_has_it(cache, pinned_tree, capsys):
    _fake_release(cache, pinned_tree, "1.0.4", {
        "src/scvi/model/_jaxscvi.py": "import x\n\n\nclass JaxSCVI:\n    a = 1\n\n    def f(self):\n"
                                      "        return 2\n"})
    code, out, _ = _run(capsys, "--compare", "scvi.model.JaxSCVI", "--release", "1.0.4",
                        "--json", "--tree", str(pinned_tree.root))
    assert code == 1
    rep = json.loads(out)
    old, new = rep["sides"]
    assert old == {"version": "1.0.4", "found": True, "name": "scvi.model.JaxSCVI",
                   "path": "src/scvi/model/_jaxscvi.py", "start": 4, "end": 8,
                   "qualname": "scvi.model._jaxscvi.JaxSCVI"}
    assert new["found"] is False and new["version"] == pinned_tree.version
    assert "--history scvi.model.JaxSCVI" in rep["next"][0]


def test_a_short_name_many_classes_share_lists_them(cache, pinned_tree, capsys):
    _fake_release(cache, pinned_tree, "1.0.4", {})
    code, out, _ = _run(capsys, "--compare", "train", "--release", "1.0.4",
                        "--tree", str(pinned_tree.root))
    assert code == 1
    assert "1.0.4: train ends the names of several defs; give one: scvi.external." in out
    code, out, _ = _run(capsys, "--compare", "view_registry", "--release", "1.0.4", "--json",
                        "--tree", str(pinned_tree.root))
    sides = json.loads(out)["sides"]
    # One public name for each def: every model's view_registry is BaseModelClass's.
    assert sides[1]["candidates"] == ["scvi.data.AnnDataManager.view_registry",
                                      "scvi.model.SCVI.view_registry"]
    assert sides[1]["several"] is True


@pytest.mark.parametrize("argv, message", [
    (["--compare", "SCVI.train"], "--compare needs --release V"),
    (["--compare", "SCVI.train", "--release", "1.0.4", "--release", "1.1.5", "--release",
      "1.2.0"], "--compare needs --release V"),
    (["--compare", "SCVI.train", "--release", "1.5.1", "--release", "1.5.1"],
     "both sides are scvi-tools 1.5.1"),
    (["--compare", "a b", "--release", "1.0.4"], "--compare takes one dotted name"),
    (["--compare", "SCVI.train", "--release", "1.0.4;rm"], "is not a release number"),
    (["--compare", "SCVI.train", "--release", "../../etc"], "releases 1.0.0 to"),
    (["--symbol", "SCVI", "--release", "1.0.4"], "--release goes with --compare"),
    (["--compare", "SCVI.train", "--release", "1.0.4", "--tests"], "not for --compare"),
    (["--compare", "SCVI.train", "--release", "1.0.4", "--context", "99"], "--context must"),
    (["--compare", "SCVI.train", "--release", "1.0.4", "text"], "either TEXT or --compare"),
    (["--compare", "SCVI.train", "--release", "1.0.4", "--release", "1.1.5", "--installed"],
     "two --release name both trees"),
])
def test_usage_errors_exit_2_with_one_message(cache, argv, message, capsys):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err


def test_an_unknown_release_names_the_known_ones(cache, capsys):
    code, out, err = _run(capsys, "--compare", "SCVI.train", "--release", "9.9.9")
    assert code == 4 and out == ""
    assert "known releases: 1.0.0" in err and "with --release" in err


def test_cached_only_does_not_fetch_a_missing_release(cache, pinned_tree, capsys, monkeypatch):
    from scvi_skill.runtime import fetch

    def no_download(*args, **kwargs):
        raise AssertionError("--cached must not download")

    monkeypatch.setattr(fetch, "download_sdist", no_download)
    code, out, err = _run(capsys, "--compare", "SCVI.train", "--release", "1.0.1", "--cached",
                          "--tree", str(pinned_tree.root))
    assert code == 4 and out == ""
    assert "the scvi-tools 1.0.1 tree is not cached" in err and "fetch_tree.py --version 1.0.1" in err


# -- the diff itself ---------------------------------------------------------------------------


def _side(version, lines, start=10, qualname="m.f"):
    return defdiff.Side(version, "src/scvi/m.py", start, start + len(lines) - 1, qualname, lines)


def test_indentation_of_the_whole_def_is_not_a_change():
    old = _side("1.0.0", ["def f(a):", "    return a"])
    new = _side("1.1.0", ["    def f(a):", "        return a   "], start=40)
    assert defdiff.diff(old, new, context=2) == []


def test_hunk_lines_carry_each_sides_numbers_and_a_pure_insertion_says_where():
    old = _side("1.0.0", ["def f(a):", "    x = 1", "    return a"], start=10)
    new = _side("1.1.0", ["def f(a):", "    x = 1", "    y = 2", "    return a"], start=20)
    (hunk,) = defdiff.diff(old, new, context=0)
    assert hunk["lines"] == [{"op": "+", "old": None, "new": 22, "text": "    y = 2"}]
    assert hunk["old"] == [12, 11] and hunk["new"] == [22, 22]
    rep = defdiff.report("f", "m.f", old, new, [hunk])
    assert "@@ 1.0.0:none, before 12 -> 1.1.0:22 @@" in defdiff.render(rep)
    (hunk,) = defdiff.diff(old, new, context=1)
    assert [(r["op"], r["old"], r["new"]) for r in hunk["lines"]] == [
        (" ", 11, 21), ("+", None, 22), (" ", 12, 23)]


def test_the_report_is_bounded_and_says_what_it_cut():
    old = _side("1.0.0", ["def f():"] + [f"    a{i} = {i}" for i in range(400)], start=1)
    new = _side("1.1.0", ["def f():"] + [f"    a{i} = {i + 1}" for i in range(400)], start=1)
    hunks = defdiff.diff(old, new, context=0)
    rep = defdiff.report("f", "m.f", old, new, hunks)
    assert sum(len(h["lines"]) for h in rep["hunks"]) == defdiff.MAX_LINES
    assert rep["truncated"] and rep["removed"] == rep["added"] == 400
    assert "  ... (hunk cut)" in defdiff.render(rep)


def test_a_def_is_read_with_its_decorators_to_its_last_line(tmp_path):
    file = tmp_path / "m.py"
    file.write_text("class A:\n    @property\n    @other\n    def f(\n        self,\n    ):\n"
                    "        return 1\n\n    def g(self):\n        pass\n")
    side = defdiff.read_side("1.0.0", file, "src/scvi/m.py", 4, "m.A.f")
    assert (side.start, side.end) == (2, 7)
    # A release's file this Python cannot parse is read by indentation, the header's
    # brackets closed first.
    file.write_text("class A:\n    def f(\n        self,\n    ):\n        match x:\n"
                    "            case 1: pass\n        type T = int\n\n    def g(self):\n"
                    "        pass\n  bad indent\n")
    side = defdiff.read_side("1.0.0", file, "src/scvi/m.py", 2, "m.A.f")
    assert (side.start, side.end) == (2, 7)
    assert defdiff.read_side("1.0.0", file, "src/scvi/m.py", 2, "m.A.nothing") is None


def test_the_same_release_twice_is_refused_before_any_fetch(cache, pinned_tree, capsys,
                                                           monkeypatch):
    from scvi_skill.runtime import fetch

    def no_download(*args, **kwargs):
        raise AssertionError("nothing to fetch for a refused comparison")

    monkeypatch.setattr(fetch, "download_sdist", no_download)
    for argv in (["--release", "1.0.4", "--release", "1.0.4"],
                 ["--release", pinned_tree.version, "--tree", str(pinned_tree.root)]):
        code, out, err = _run(capsys, "--compare", "SCVI.train", *argv)
        assert code == 2 and "both sides are scvi-tools" in err


# -- the pack's next command -------------------------------------------------------------------


def _pack(capsys, pinned_tree, question):
    import resolve_docs

    assert resolve_docs.main(["--tree", str(pinned_tree.root), question]) == 0
    return capsys.readouterr().out


def test_a_question_on_an_older_release_naming_a_method_gets_its_compare(pinned_tree, capsys,
                                                                          cache):
    out = _pack(capsys, pinned_tree, "On scvi-tools 1.5.0, calling model.view_registry() on "
                                     "my trained model throws an error. Is this a bug?")
    nexts = [line.strip() for line in out.splitlines() if line.strip().startswith("next: ")]
    assert any(n.endswith("--compare scvi.model.SCVI.view_registry --release 1.5.0")
               for n in nexts), nexts
    # The same question without a release keeps the definition's search.
    out = _pack(capsys, pinned_tree, "Calling model.view_registry() on my trained model "
                                     "throws an error. Is this a bug?")
    assert "--compare" not in out


def test_a_class_is_not_offered_for_comparison(pinned_tree, capsys, cache):
    out = _pack(capsys, pinned_tree, "Why does a benchmark pipeline require scvi-tools >= 1.1 "
                                     "for scANVI? Was there a scANVI bug in older versions?")
    assert "--compare" not in out


@pytest.mark.parametrize("old, new", [
    ("    use_gpu: Optional[Union[str, int, bool]] = None,",
     "    use_gpu: str | int | bool | None = None,"),
    ("idx1: Optional[Union[Sequence[int], Sequence[bool], str]] = None,",
     "idx1: Sequence[int] | Sequence[bool] | str | None = None,"),
    ("devices: Union[int, List[int], str] = 'auto',", "devices: int | list[int] | str = 'auto',"),
    ("x: typing.Dict[str, Tuple[int, ...]]", "x: dict[str, tuple[int, ...]]"),
    ("def f(a: Optional[int]) -> Optional[List[int]]:", "def f(a: int | None) -> list[int] | None:"),
])
def test_old_typing_spellings_read_as_the_new(old, new):
    assert defdiff.spelling_key(old) == defdiff.spelling_key(new) == new


@pytest.mark.parametrize("text", ["x: Optional[", "MyOptional[int]", "Union = 3", ""])
def test_spellings_it_cannot_read_are_left_alone(text):
    assert defdiff.spelling_key(text) == text


def test_a_respelled_signature_is_not_a_change_but_is_counted():
    old = _side("1.0.0", ["def f(", "    a: Optional[int] = None,", "    b: int = 1,", "):",
                          "    return a"])
    new = _side("1.1.0", ["def f(", "    a: int | None = None,", "    b: int = 2,", "):",
                          "    return a"], start=30)
    hunks = defdiff.diff(old, new, context=1)
    rep = defdiff.report("f", "m.f", old, new, hunks)
    assert (rep["removed"], rep["added"], rep["respelled"]) == (1, 1, 1)
    # An unchanged line is shown as the newer release writes it.
    assert {"op": " ", "old": 11, "new": 31, "text": "    a: int | None = None,"} \
        in hunks[0]["lines"]
    assert "1 line(s) more differ only in annotation spelling" in defdiff.render(rep)[0]


def test_a_private_def_is_found_by_the_end_of_its_qualname(cache, pinned_tree, capsys):
    rel = "src/scvi/model/_utils.py"
    _fake_release(cache, pinned_tree, "1.0.4", {rel: _pinned_text(pinned_tree, rel)})
    code, out, _ = _run(capsys, "--compare", "parse_device_args", "--release", "1.0.4",
                        "--json", "--tree", str(pinned_tree.root))
    assert code == 0
    rep = json.loads(out)
    assert rep["name"] == rep["new"]["qualname"] == "scvi.model._utils.parse_device_args"
    assert rep["identical"]


def test_the_version_lines_name_the_compare_of_a_method_that_differs(pinned_tree, capsys, cache):
    out = _pack(capsys, pinned_tree, "`model.differential_expression(idx1=a, idx2=b)` on my scVI "
                                     "model (scvi-tools 1.0.4) gives other genes than before")
    head = out.split("\n== ", 1)[0].splitlines()
    assert any(line.startswith("  scvi.model.SCVI.differential_expression in 1.0.4:")
               for line in head)
    line = next(line for line in head if line.startswith("  line by line: "))
    assert line.endswith("--compare scvi.model.SCVI.differential_expression --release 1.0.4")
    assert out.count("--compare") == 1  # not a next command as well


def test_with_the_users_tree_read_the_compare_names_both_releases():
    from scvi_skill.runtime import PINNED_SCVI_TOOLS, resolvecli

    diff = {"missing": False, "added": ["use_gpu"], "removed": [], "defaults": {}}
    other = {"requested": "1.0.4", "tree": True, "code": [],
             "differences": {"scvi.model.SCVI": diff, "scvi.model.SCVI.train": diff}}
    lines = resolvecli._version_notes(other)
    # The class is not offered (a whole class's diff is most of it); its method is.
    assert lines[-1].endswith(f"--compare scvi.model.SCVI.train --release 1.0.4 --release "
                              f"{PINNED_SCVI_TOOLS}")
    assert sum("--compare" in line for line in lines) == 1

"""Pasted tracebacks: their scvi-tools frames are read (frames.py), found in the tree, ranked
without the traceback's noise, and shown first in the pack (resolve_docs.py)."""

from __future__ import annotations

import io
import os
import re
import json
from pathlib import Path

import pytest
import resolve_docs
from scvi_skill.runtime import frames

REAL_PASTES = Path(__file__).parent / "fixtures" / "messages" / "real_pastes.jsonl"
CASES = [json.loads(line) for line in REAL_PASTES.read_text().splitlines()]
TRACEBACKS = [c for c in CASES if c["style"] == "traceback"]

# Written for these tests in the formats IPython prints (8.x: "File path:N, in f(...)";
# 7.x: "path in f(...)", the line only on the "---->" arrow). The scvi lines are 1.5.1's.
IPYTHON_8 = """\
---------------------------------------------------------------------------
MisconfigurationException                 Traceback (most recent call last)
Cell In[12], line 3
      1 scvi.model.SCVI.setup_anndata(adata, layer="counts")
      2 model = scvi.model.SCVI(adata)
----> 3 model.train(accelerator="gpu")

File ~/miniconda3/envs/sc/lib/python3.12/site-packages/scvi/model/_utils.py:103, in parse_device_args(accelerator, devices, return_device, validate_single_device)
    101 _validate_single_device = validate_single_device and devices != "auto"
--> 103 connector = _AcceleratorConnector(accelerator=accelerator, devices=devices)

File ~/miniconda3/envs/sc/lib/python3.12/site-packages/lightning/pytorch/trainer/connectors/accelerator_connector.py:400, in _AcceleratorConnector.__init__(self)
--> 400     raise MisconfigurationException(

MisconfigurationException: No supported gpu backend found!
"""

IPYTHON_7 = """\
<ipython-input-5-1a2b3c> in <module>
----> 1 model.train(use_gpu=True)

C:\\Users\\me\\anaconda3\\lib\\site-packages\\scvi\\model\\_utils.py in parse_device_args(accelerator, devices)
    101
--> 103     connector = _AcceleratorConnector(accelerator=accelerator, devices=devices)

TypeError: something went wrong
"""


def _frame_line(case: dict) -> tuple[str, int]:
    inner = [f for f in frames.parse_frames(case["paste"]) if f.scvi][-1]
    return inner.scvi, inner.line


@pytest.mark.parametrize("case", TRACEBACKS, ids=[c["case"] for c in TRACEBACKS])
def test_the_innermost_scvi_frame_of_a_real_traceback_is_the_recorded_one(case):
    """record_real_pastes.py wrote each case's innermost scvi frame from the live traceback
    object; the parser finds the same file and line in the printed text."""
    assert _frame_line(case) == (case["path"], case["line"])


def test_real_tracebacks_locate_at_their_own_line_in_the_pinned_tree(pinned_tree):
    """The fixture was recorded with 1.5.1, so every scvi frame with code is found "same"."""
    checked = 0
    for case in TRACEBACKS:
        for frame in frames.parse_frames(case["paste"]):
            if not frame.scvi or not frame.code:
                continue
            lines = (pinned_tree.root / frame.scvi).read_text(encoding="utf-8").splitlines()
            assert frames.locate(frame, lines) == (frame.line, "same"), frame
            checked += 1
    assert checked >= 40


def test_a_frame_from_another_release_is_found_by_its_code_then_by_its_def():
    lines = ["class A:", "    def train(self, x):", "        y = x + 1", "        return f(y)",
             "", "    def other(self):", "        return f(y)"]
    moved = frames.Frame("p", "src/scvi/a.py", 9, "A.train", "return f(y)", False)
    # Two lines hold the code: the nearest to the pasted line wins.
    assert frames.locate(moved, lines) == (7, "moved")
    assert frames.locate(moved._replace(line=3), lines) == (4, "moved")
    gone = moved._replace(code="return g(y)  # not in this release")
    assert frames.locate(gone, lines) == (2, "def")
    assert frames.locate(gone._replace(function="vanished"), lines) == (0, "")
    assert frames.locate(gone._replace(function="<module>"), lines) == (0, "")


def test_ipython_tracebacks_give_their_frames_lines_and_code():
    parsed = frames.parse_frames(IPYTHON_8)
    assert [(f.scvi, f.line, f.user) for f in parsed] == [
        ("", 3, True), ("src/scvi/model/_utils.py", 103, False), ("", 400, False)]
    assert parsed[0].code == 'model.train(accelerator="gpu")'
    assert parsed[1].function == "parse_device_args"
    assert parsed[1].code.startswith("connector = _AcceleratorConnector(")
    old = frames.parse_frames(IPYTHON_7)
    assert [(f.scvi, f.line, f.function) for f in old] == [
        ("", 1, "<module>"), ("src/scvi/model/_utils.py", 103, "parse_device_args")]
    assert old[0].user and not old[1].user


def test_ranking_text_keeps_the_question_and_drops_the_traceback():
    text = "Why does training fail on my laptop?\n" + IPYTHON_8
    kept = frames.ranking_text(text)
    assert "Why does training fail on my laptop?" in kept
    assert "MisconfigurationException: No supported gpu backend found!" in kept
    assert 'model.train(accelerator="gpu")' in kept  # the user's own call
    assert "parse_device_args" in kept  # the innermost scvi frame's function
    for noise in ("site-packages", "Traceback", "accelerator_connector", "----", "_validate_single"):
        assert noise not in kept, noise
    plain = "how do I set batch_key?\nand covariates?"
    assert frames.ranking_text(plain) == plain


def test_hostile_paths_and_names_never_leave_the_scvi_tree():
    text = "\n".join([
        'File "/x/site-packages/scvi/../../etc/passwd.py", line 3, in f',
        "    code()",
        'File "/x/scvi/", line 3, in f',
        'File "/x/scvi/model/(.*)+[.py", line 2, in g(.*)+',
        "    h()",
        "ValueError: x",
    ])
    parsed = frames.parse_frames(text)
    assert [f.scvi for f in parsed] == ["", "", "src/scvi/model/(.*)+[.py"]
    # A regular-expression-like name is matched as text, not compiled.
    assert frames.locate(parsed[2], ["def g(.*)+(x):", "    h()"]) == (2, "same")
    assert frames.locate(parsed[2], ["    h()", "def g(.*)+(x):"]) == (1, "moved")
    huge = 'File "/x/scvi/a.py", line 1, in f\n    x\n' * 100_000
    assert len(frames.parse_frames(huge)) == frames.MAX_FRAMES


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = resolve_docs.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_of(capsys, tree, paste: str, monkeypatch) -> dict:
    """resolve_docs.py --json for ``paste`` on stdin, against ``tree``."""
    _, out, _ = run(capsys, "--json", "--tree", str(tree), "-", stdin=paste,
                    monkeypatch=monkeypatch)
    return json.loads(out)


def test_the_pack_shows_a_dependency_errors_innermost_scvi_frame(capsys, pinned_tree, monkeypatch):
    """NaN counts make torch raise in Normal(); no scvi site has that message, so the pack says
    so and quotes the encoder lines that built the distribution, from the tree."""
    case = next(c for c in TRACEBACKS if c["case"] == "case_dep_nan_in_counts")
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "-", stdin=case["paste"],
                       monkeypatch=monkeypatch)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("scvi-tools ") and "site-packages" not in lines[0]
    assert "innermost scvi-tools frame below" in out
    at = lines.index("== traceback: its scvi-tools frames, outermost first")
    assert lines[at + 1].lstrip().startswith("model/base/_training_mixin.py:")
    assert lines[at + 2].startswith(f"{case['path']}:{case['line']} ")
    assert "Encoder.forward" in lines[at + 2]
    tree_lines = (pinned_tree.root / case["path"]).read_text(encoding="utf-8").splitlines()
    assert lines[at + 3].startswith("  lines ")
    first, last = map(int, lines[at + 3].split()[1].rstrip(":").split("-"))
    assert first <= case["line"] <= last
    assert [t[3:] for t in lines[at + 4 : at + 5 + last - first]] == tree_lines[first - 1 : last]


@pytest.mark.parametrize("case", [c for c in TRACEBACKS if "dep_" not in c["case"]][:6],
                         ids=lambda c: c["case"])
def test_a_pasted_traceback_finds_the_raise_site_its_message_alone_finds(
        capsys, pinned_tree, monkeypatch, case):
    """Before frames.py, the whole paste was collapsed onto one line, so the message matcher
    saw a traceback it could not take apart and the pack had no raise site for any of them.
    The first six cases; all fourteen are in test_every_real_traceback_pack_names_its_site."""
    alone = next(c for c in CASES if c["case"] == case["case"] and c["style"] == "class")
    _, out, _ = run(capsys, "--json", "--tree", str(pinned_tree.root), alone["paste"])
    want = [(s["path"], s["line"]) for s in json.loads(out)["raise_sites"]]
    report = report_of(capsys, pinned_tree.root, case["paste"], monkeypatch)
    sites = [(s["path"], s["line"]) for s in report["raise_sites"]]
    assert bool(sites) == bool(want)
    # The traceback's frames may lift the site the error came from above the message's best.
    assert not want or sites[0] == (case["path"], case["line"]) or sites == want
    inner = report["frames"][-1]
    assert (inner["path"], inner["line"], inner["found"]) == (case["path"], case["line"], "same")
    assert inner["tree_line"] == case["line"] and inner["symbol"].startswith("scvi.")
    assert "/home/user" not in report["query"] and "Traceback" not in report["query"]


def test_a_traceback_from_another_release_says_where_its_line_is_now(capsys, pinned_tree,
                                                                      monkeypatch):
    case = next(c for c in TRACEBACKS if c["case"] == "case_de_unknown_group")
    shifted = case["paste"].replace(f'_rnamixin.py", line {case["line"]},',
                                    f'_rnamixin.py", line {case["line"] + 9},')
    assert shifted != case["paste"]
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "-", stdin=shifted,
                    monkeypatch=monkeypatch)
    want = (f"{case['path']}:{case['line']} scvi.model.base._rnamixin.RNASeqMixin."
            f"get_normalized_expression (innermost scvi-tools frame; line {case['line'] + 9} "
            "in the user's release)")
    assert want in out.splitlines()


def test_no_part_heading_is_left_without_its_lines(capsys, pinned_tree, monkeypatch):
    """At small budgets a part whose first group does not fit must not leave its heading."""
    headings = ("== traceback", "== raised at", "== model facts", "== pitfalls", "== source")
    for case in TRACEBACKS[:8]:
        for budget in ("200", "400", "700"):
            _, out, _ = run(capsys, "--budget", budget, "--tree", str(pinned_tree.root), "-",
                            stdin=case["paste"], monkeypatch=monkeypatch)
            lines = out.splitlines()
            for n, line in enumerate(lines):
                if line.startswith(headings):
                    assert n + 1 < len(lines) and not lines[n + 1].startswith("== "), (
                        case["case"], budget, line)
            seen = [h for h in headings if any(t.startswith(h) for t in lines)]
            assert all(sum(t.startswith(h) for t in lines) == 1 for h in seen)
            assert len(out) <= int(budget) * 4 + 200


def test_every_real_traceback_pack_names_its_site_and_a_raise_site_where_one_exists(
        capsys, pinned_tree, monkeypatch):
    """All recorded tracebacks: the pack shows the innermost scvi frame's path:line, and a
    raise site exactly for the cases whose message an scvi-tools site raises."""
    raised = 0
    for case in TRACEBACKS:
        _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "-", stdin=case["paste"],
                        monkeypatch=monkeypatch)
        assert f"{case['path']}:{case['line']} " in out, case["case"]
        raised += "== raised at" in out
    dependency = [c for c in TRACEBACKS if "dep_" in c["case"]]
    assert len(dependency) >= 3 and raised >= len(TRACEBACKS) - len(dependency) - 2


def test_a_frame_in_a_module_the_tree_lacks_is_found_in_its_package(capsys, pinned_tree,
                                                                    monkeypatch):
    """1.2.0 moved _de_core from scvi/model/base/_utils.py to _de_core.py (CHANGELOG.md): a
    traceback from before names the old module; the pack finds the code in the new one."""
    paste = "\n".join([
        "DE fails after I upgraded from scvi-tools 1.0",
        "Traceback (most recent call last):",
        '  File "/home/user/env/site-packages/scvi/model/base/_utils.py", line 240, in _de_core',
        "    all_info = dc.get_bayes_factors(",
        "ZeroDivisionError: integer division or modulo by zero",
    ])
    (frame,) = report_of(capsys, pinned_tree.root, paste, monkeypatch)["frames"]
    assert frame["path"] == "src/scvi/model/base/_utils.py"
    assert (frame["tree_path"], frame["found"]) == ("src/scvi/model/base/_de_core.py", "moved")
    lines = (pinned_tree.root / frame["tree_path"]).read_text(encoding="utf-8").splitlines()
    assert lines[frame["tree_line"] - 1].strip() == "all_info = dc.get_bayes_factors("
    assert frame["symbol"] == "scvi.model.base._de_core._de_core"
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "-", stdin=paste,
                    monkeypatch=monkeypatch)
    assert (f"src/scvi/model/base/_de_core.py:{frame['tree_line']} scvi.model.base._de_core."
            "_de_core (innermost scvi-tools frame; line 240 in src/scvi/model/base/_utils.py "
            "in the user's release)") in out.splitlines()
    gone = paste.replace("_de_core", "_gone_helper").replace("dc.get_bayes_factors(", "zz()")
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "-", stdin=gone,
                    monkeypatch=monkeypatch)
    assert ("  src/scvi/model/base/_utils.py:240 is not in this tree: the user's scvi-tools "
            "release differs (check_env.py tells it)") in out.splitlines()


@pytest.mark.parametrize("case", TRACEBACKS, ids=[c["case"] for c in TRACEBACKS])
def test_a_traceback_collapsed_onto_one_line_gives_the_same_frames(case):
    """An agent may squeeze a paste into one argument: unfold() puts the breaks back, so the
    frames (file, line, function, code) and the exception line are those of the paste."""
    collapsed = " ".join(case["paste"].split())
    unfolded = frames.unfold(collapsed)
    want = [(f.scvi, f.line, f.function, " ".join(f.code.split()))
            for f in frames.parse_frames(case["paste"])]
    assert [(f.scvi, f.line, f.function, f.code)
            for f in frames.parse_frames(unfolded)] == want
    last = [t for t in case["paste"].splitlines() if t.strip()][-1]
    if ": " in last and not last.startswith(" "):  # a one-line message ends the paste
        assert unfolded.splitlines()[-1] == " ".join(last.split())


def test_unfold_leaves_other_text_alone():
    for text in ("how do I set batch_key?", 'the File "x" menu', "a\nFile \"x.py\", line 1",
                 "File x.py:3, in f looks odd", "I run train.py in conda --> it fails"):
        assert frames.unfold(text) == text


@pytest.mark.parametrize("paste", [IPYTHON_8, IPYTHON_7], ids=["ipython8", "ipython7"])
def test_an_ipython_traceback_collapsed_onto_one_line_gives_the_same_frames(paste):
    """IPython's tracebacks (8.x "File path:N, in f(...)" and 7.x "path in f(...)" headers,
    numbered context lines, "---> N code") collapsed into one argument: the same frames (file,
    line, function, code, whether the user's) and the exception line last."""
    unfolded = frames.unfold(" ".join(paste.split()))
    assert [tuple(f) for f in frames.parse_frames(unfolded)] == \
        [tuple(f) for f in frames.parse_frames(paste)]
    assert unfolded.splitlines()[-1] == paste.strip().splitlines()[-1]
    inner = [f for f in frames.parse_frames(unfolded) if f.scvi][-1]
    assert (inner.scvi, inner.line) == ("src/scvi/model/_utils.py", 103)


@pytest.fixture
def other_release(tmp_path, pinned_tree, cache_with_pinned):
    """A tree of "scvi-tools 1.4.9": 1.5.1's src/ with seven lines more at the top of
    _trainer.py and _rnamixin.py (so every 1.5.1 line number there is off), no CHANGELOG, and
    a docs/ that lacks 1.5.1's pages; 1.5.1 itself is the cached pinned tree."""
    import shutil

    root = tmp_path / "scvi-tools-1.4.9"
    shutil.copytree(pinned_tree.root / "src", root / "src")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# scvi-tools\n")
    (root / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: scvi-tools\nVersion: 1.4.9\n")
    for rel in ("src/scvi/train/_trainer.py", "src/scvi/model/base/_rnamixin.py"):
        path = root / rel
        path.write_text("# an older release\n" * 7 + path.read_text(encoding="utf-8"))
    return root


def test_another_releases_tree_gets_its_own_defs_and_the_pinned_passages(
        capsys, pinned_tree, other_release, monkeypatch):
    """Before, a --tree of another release was read at 1.5.1's line numbers: source facts and
    passages quoted whatever those lines held there."""
    question = "how do I set early stopping patience for SCVI"
    _, out, err = run(capsys, "--json", "--tree", str(other_release), question)
    report = json.loads(out)
    assert "1.4.9" in err and report["tree"]
    assert report["source_tree"] == {"kind": "sdist", "version": "1.4.9",
                                     "root": str(other_release.resolve())}
    assert any("(other release) the tree read is scvi-tools 1.4.9: passages and raise sites "
               "are quoted from the 1.5.1 tree" in n for n in report["pack"]["notes"])
    for doc in report["docs"]:  # quoted from 1.5.1, at the index's lines
        lines = (pinned_tree.root / doc["path"]).read_text(encoding="utf-8").splitlines()
        start, end = doc["lines"]
        assert doc["text"].splitlines() == [t.rstrip() for t in lines[start - 1 : end]]
    facts = [s for s in report["source"] if s.get("signature")]
    assert facts
    for fact in facts:  # the def line in the other release's file
        lines = (other_release / fact["path"]).read_text(encoding="utf-8").splitlines()
        name = fact["symbol"].rsplit(".", 1)[-1]
        assert re.match(rf"\s*(?:async\s+)?(?:def|class)\s+{name}\b", lines[fact["line"] - 1])
    shifted = [f for f in facts if f["path"] in ("src/scvi/train/_trainer.py",
                                                 "src/scvi/model/base/_rnamixin.py")]
    assert shifted
    for fact in shifted:  # seven lines below where the index has that def
        pinned = (pinned_tree.root / fact["path"]).read_text(encoding="utf-8").splitlines()
        mine = (other_release / fact["path"]).read_text(encoding="utf-8").splitlines()
        assert mine[fact["line"] - 1] == pinned[fact["line"] - 8]


def test_another_releases_tree_without_the_pinned_one_lists_passages_unquoted(
        capsys, pinned_tree, other_release, monkeypatch, tmp_path):
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty-cache"))
    _, out, _ = run(capsys, "--tree", str(other_release), "how do I set early stopping patience")
    lines = out.splitlines()
    assert any(t.startswith("(other release)") and "not quoted" in t for t in lines)
    assert not any(t.startswith("(no local scvi-tools tree") for t in lines)
    heads = [n for n, t in enumerate(lines) if t.startswith("== docs/")]
    assert heads and all(lines[n + 1].startswith("== ") for n in heads)  # headers only
    assert "== source" in lines


def test_a_moved_frame_is_not_placed_by_a_def_name_many_files_have(capsys, pinned_tree,
                                                                    monkeypatch):
    """Without its code, a frame of a missing module is placed by its def only when one file of
    the package has that def: ``__init__`` is in most of them."""
    paste = "\n".join([
        "Traceback (most recent call last):",
        '  File "/x/site-packages/scvi/model/_gone_module.py", line 10, in __init__',
        "    zz_not_in_any_release()",
        "ValueError: boom",
    ])
    (frame,) = report_of(capsys, pinned_tree.root, paste, monkeypatch)["frames"]
    assert (frame["found"], frame["tree_line"]) == ("", 0)
    assert frame["tree_path"] == "src/scvi/model/_gone_module.py"


def test_a_pitfall_says_when_the_users_release_lacks_its_evidence(
        capsys, pinned_tree, other_release):
    """Pitfalls are proven on the pinned release; with the user's tree of another release each
    matched pitfall's evidence token is looked up in that tree's file (at any line)."""
    arches = other_release / "src/scvi/model/base/_archesmixin.py"
    arches.write_text(arches.read_text(encoding="utf-8").replace(
        "if isinstance(reference_model, str):", "if isinstance(reference_model, (str, Path)):"),
        encoding="utf-8")
    question = ("load_query_data with a pathlib Path fails: AttributeError: 'PosixPath' object "
                "has no attribute '_get_user_attributes'; and TOTALVI proteins are NaN in a batch")
    _, out, _ = run(capsys, "--json", "--tree", str(other_release), question)
    pitfalls = {p["id"]: p for p in json.loads(out)["pitfalls"]}
    path_one = pitfalls["query-reference-path-must-be-str"]
    assert path_one["evidence_found"] is False
    assert path_one["text"].endswith("(proven on 1.5.1 only: 1.4.9's "
                                     "src/scvi/model/base/_archesmixin.py lacks its evidence "
                                     "'if isinstance(reference_model, str):')")
    proteins = pitfalls["totalvi-missing-proteins-as-zeros"]
    assert proteins["evidence_found"] is True and "proven on" not in proteins["text"]
    _, text, _ = run(capsys, "--tree", str(other_release), question)
    assert "lacks its evidence 'if isinstance(reference_model, str):'" in text
    _, out, _ = run(capsys, "--json", "--tree", str(pinned_tree.root), question)
    assert all("evidence_found" not in p for p in json.loads(out)["pitfalls"])  # the pinned tree


def test_a_named_release_whose_tree_is_cached_checks_the_pitfalls_there(
        capsys, tmp_path, pinned_tree, monkeypatch):
    """A release the question names with its tree cached: the version line gives that tree's
    path instead of the fetch command, and the pitfalls are checked against it (here a "1.2.0"
    whose DE default is written as 1.2.0 wrote it); ``--version V`` reads that tree itself."""
    import shutil

    cache = tmp_path / "cache"
    root = cache / "scvi-tools-1.2.0"
    shutil.copytree(pinned_tree.root / "src", root / "src")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# scvi-tools\n")
    (root / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: scvi-tools\nVersion: 1.2.0\n")
    rna = root / "src/scvi/model/base/_rnamixin.py"
    rna.write_text(rna.read_text(encoding="utf-8").replace('= "vanilla"', '= "change"'),
                   encoding="utf-8")
    (cache / pinned_tree.root.name).symlink_to(pinned_tree.root)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(cache))
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    question = "which mode does SCVI.differential_expression use by default, vanilla or change?"
    _, out, _ = run(capsys, "--json", question + " I am on scvi-tools 1.2.0")
    report = json.loads(out)
    assert any(f"1.2.0's own tree is cached: --tree {root}" in n for n in report["pack"]["notes"])
    mode = next(p for p in report["pitfalls"] if p["id"] == "de-mode-default")
    assert mode["evidence_found"] is False and "proven on 1.5.1 only" in mode["text"]
    # --version V says the user runs V: its cached tree is read as with --tree of it
    _, out, _ = run(capsys, "--json", "--version", "1.2.0", question)
    report = json.loads(out)
    assert any(n.startswith("(other release) the tree read is scvi-tools 1.2.0")
               for n in report["pack"]["notes"])
    mode = next(p for p in report["pitfalls"] if p["id"] == "de-mode-default")
    assert mode["evidence_found"] is False and "proven on 1.5.1 only" in mode["text"]
    _, out, _ = run(capsys, "--json", "--version", "1.2.1", question)  # not cached
    report = json.loads(out)
    assert any("1.2.1's own tree: " in n and "fetch_tree.py --version 1.2.1" in n
               for n in report["pack"]["notes"])
    assert all("evidence_found" not in p for p in report["pitfalls"])


def test_a_tree_of_a_known_older_release_marks_what_it_lacks_in_the_pack(
        capsys, pinned_tree, other_release, monkeypatch):
    """The user's own tree (SKILL.md has them fetch it and pass --tree) stands for
    --version of its release: the pack's 1.5.1 code is checked against it, under one header
    and with no fetch hint; a release without an API index (1.4.9 here) gets no such lines."""
    question = "how do I set early stopping patience with TrainerConfig for SCVI"
    _, out, _ = run(capsys, "--json", "--tree", str(other_release), question)
    assert "version" not in json.loads(out)
    info = other_release / "PKG-INFO"
    info.write_text(info.read_text().replace("1.4.9", "1.2.0"))
    _, out, _ = run(capsys, "--json", "--tree", str(other_release), question)
    version = json.loads(out)["version"]
    assert version["requested"] == "1.2.0" and version["tree"] is True
    assert any(f["message"].endswith("added in 1.4.2") for f in version["code"]), version
    _, out, _ = run(capsys, "--tree", str(other_release), question)
    head = out.split("\n== ", 1)[0]
    assert "(scvi-tools 1.2.0, the tree read, differs in what this pack shows:)" in head
    assert "fetch_tree.py" not in head and "added in 1.4.2" in head
    _, out, _ = run(capsys, "--tree", str(other_release), "--version", "1.2.0", question)
    assert "(scvi-tools 1.2.0, the tree read," in out and "fetch_tree.py" not in out.split("\n== ", 1)[0]


def test_version_reads_the_users_cached_tree_for_the_source_facts(
        capsys, pinned_tree, other_release, monkeypatch):
    """--version V with V's tree cached (fetch_tree.py --version V) reads the source facts
    there, as --tree of it would, with no fetch hint; passages stay 1.5.1's. Without V's tree
    cached, the source facts are 1.5.1's and the note says how to fetch it."""
    import shutil

    question = "how do I set early stopping patience for SCVI"
    _, out, _ = run(capsys, "--json", "--version", "1.2.0", question)
    report = json.loads(out)
    assert "fetch_tree.py --version 1.2.0" in report["pack"]["notes"][0]
    assert not any(n.startswith("(other release)") for n in report["pack"]["notes"])
    cache = Path(os.environ["SCVI_SKILL_CACHE"])
    own = cache / "scvi-tools-1.2.0"
    shutil.copytree(other_release, own)
    info = own / "PKG-INFO"
    info.write_text(info.read_text().replace("1.4.9", "1.2.0"))
    _, out, err = run(capsys, "--json", "--version", "1.2.0", question)
    report = json.loads(out)
    assert report["version"]["tree"] is True and "line numbers may be off" not in err
    assert any(n.startswith("(other release) the tree read is scvi-tools 1.2.0")
               for n in report["pack"]["notes"])
    assert not any("fetch_tree.py" in n for n in report["pack"]["notes"])
    shifted = [s for s in report["source"] if s.get("signature")
               and s["path"] in ("src/scvi/train/_trainer.py", "src/scvi/model/base/_rnamixin.py")]
    assert shifted
    for fact in shifted:  # read in the cached 1.2.0 tree: seven lines below 1.5.1's
        pinned = (pinned_tree.root / fact["path"]).read_text(encoding="utf-8").splitlines()
        mine = (own / fact["path"]).read_text(encoding="utf-8").splitlines()
        assert mine[fact["line"] - 1] == pinned[fact["line"] - 8]
    # an explicit --tree still wins
    _, out, _ = run(capsys, "--json", "--tree", str(pinned_tree.root), "--version", "1.2.0",
                    question)
    assert not json.loads(out)["version"].get("tree")

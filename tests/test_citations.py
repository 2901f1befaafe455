"""check_code.py's citation check: an answer's path:line against the tree's lines."""

from __future__ import annotations

import io
import os
import json
import sys
from pathlib import Path

import check_code
import pytest
from fence_blocks import FENCE, FENCE_BLOCKS

from scvi_skill.runtime.citations import TreeLines, check_citations
from scvi_skill.runtime.tree import open_tree

PLAN = '''\
"""Training plans."""

__all__ = [
    "TrainingPlan",
    "other",
]


class TrainingPlan:
    """A plan."""

    @property
    def n_obs(self):
        return 1

    def __init__(
        self,
        module,
        *,
        fused_optimizer: bool = True,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
    ) -> None:
        self.lr = lr
        if lr < 0:
            raise ValueError(
                "The learning rate must be positive."
            )
        self.module = module
'''

FAQ = """\
# FAQ

## Which key?

Intro line one names `batch_key`.

- Used to specify the main technical effect,
    such as the sequencing lab.
- Support for `dispersion="gene-batch"`.

### 1.2.0 (2024-09-26)

- Add `SaveCheckpoint` to the callbacks.
"""


NOTES = """\
# Release notes

## Version 1.2

### 1.2.2 (2024-12-31)

#### Removed

- Removed the local mde function {pr}`2842`.

### 1.2.1 (2024-12-04)

#### Added

- New argument `update_only_decoder`.

### 1.2.0 (2024-09-26)

- Deprecate `one_hot`, to be removed in v1.3.
"""


@pytest.fixture()
def tree(tmp_path) -> Path:
    root = tmp_path / "tree"
    pkg = root / "src" / "scvi"
    (pkg / "train").mkdir(parents=True)
    (pkg / "module").mkdir()
    (root / "docs").mkdir()
    (pkg / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[project]\nname = "scvi-tools"\nversion = "1.5.1"\n')
    (pkg / "train" / "_trainingplans.py").write_text(PLAN)
    (pkg / "train" / "_model.py").write_text("def fit(max_epochs=1):\n    return max_epochs\n")
    (pkg / "module" / "_model.py").write_text("def fit(n_steps=2):\n    return n_steps\n")
    (root / "docs" / "faq.md").write_text(FAQ)
    (root / "CHANGELOG.md").write_text(NOTES)
    return root


def verdicts(tree: Path, text: str) -> list[tuple[str, int, str]]:
    report = check_citations(text, TreeLines(open_tree(tree)))
    return [(c.path, c.start, c.verdict) for c in report.citations]


def findings(tree: Path, text: str) -> list[str]:
    report = check_citations(text, TreeLines(open_tree(tree)))
    return [c.message for c in report.findings]


P = "src/scvi/train/_trainingplans.py"


def test_a_line_off_by_one_names_the_line_that_shows_the_code(tree):
    assert findings(tree, f"The default is `lr=1e-3` ({P}:20).") == [
        f"{P}:20 does not show `lr`; line 21 does"]
    assert verdicts(tree, f"The default is `lr=1e-3` ({P}:21).") == [(P, 21, "shown")]


def test_a_def_or_decorator_or_statement_line_cites_all_of_it(tree):
    # the def line cites its signature; a decorator its def; raise X( its message
    assert verdicts(tree, f"`__init__` takes `weight_decay=1e-6` ({P}:16).") == [(P, 16, "shown")]
    assert verdicts(tree, f"`n_obs` is a property ({P}:12).") == [(P, 12, "shown")]
    assert verdicts(tree, f'It raises "The learning rate must be positive." ({P}:26).') == [
        (P, 26, "shown")]


def test_a_line_inside_the_def_or_list_the_sentence_names_is_shown(tree):
    assert verdicts(tree, f"`TrainingPlan.__init__` stores it ({P}:28).") == [(P, 28, "shown")]
    assert verdicts(tree, f"It is listed in `__all__` ({P}:4).") == [(P, 4, "shown")]


def test_inside_the_named_def_but_off_from_the_sentence_s_other_code_is_a_finding(tree):
    """`__init__` and `weight_decay=1e-6` cited at the `lr` line: the line lies in the def the
    sentence names, but the code it quotes is two lines down (an audit's find: this passed)."""
    assert findings(tree, f"`__init__` takes `weight_decay=1e-6` ({P}:20).") == [
        f"{P}:20 does not show `weight_decay`; line 22 does"]
    # Its other code nowhere near: the def still stands for the line.
    assert verdicts(tree, f"`__init__` sets `optimizer_state` ({P}:25).") == [(P, 25, "shown")]
    assert findings(tree, f"`__init__` keeps `self.module` ({P}:27).") == [
        f"{P}:27 does not show `self.module`; line 29 does"]


def test_a_call_s_arguments_are_shown_by_the_call_s_first_line(tree):
    """The lines inside a call cite the call its first line names (`raise ValueError(` and its
    message; round 51's `l_encoder = Encoder(` and its arguments); a def's signature is not
    such a call, and code the first line does not name stays a finding."""
    assert verdicts(tree, f"It raises a `ValueError` ({P}:27).") == [(P, 27, "shown")]
    assert findings(tree, f"It raises a `ValueError` ({P}:29).") == [
        f"{P}:29 does not show `ValueError`; line 26 does"]
    assert findings(tree, f"`__init__` takes `weight_decay=1e-6` ({P}:20).") == [
        f"{P}:20 does not show `weight_decay`; line 22 does"]


def test_a_list_of_lines_is_one_claim_and_continued_numbers_belong_to_it(tree):
    assert {v for *_, v in verdicts(tree, f"`self.lr = lr` ({P}:10, 24)")} == {"shown"}
    assert {v for *_, v in verdicts(tree, f"`self.lr = lr` (`{P}:10`, `:24`)")} == {"shown"}
    assert findings(tree, f"`self.lr = lr` ({P}:22, 26)") == [
        f"{P}:22 does not show `lr`; line 21 does",
        f"{P}:26 does not show `lr`; line 25 does"]


def test_bare_line_numbers_take_the_path_cited_just_before(tree):
    text = f"In {P}:21 the default is set.\n- and `weight_decay` (line 21)."
    assert findings(tree, text) == [f"{P}:21 does not show `weight_decay`; line 22 does"]
    # a bare number far past the end may be another file's: not judged
    assert findings(tree, f"See {P}:21 and `lr` (line 900).") == []
    assert findings(tree, f"See {P}:21.\n\n\nLater `lr` (line 20).") == []  # too far back
    # after a citation this tree does not judge (an installed package's scvi/..., another
    # release's lines), its bare numbers are of that file too: not judged (trial round 48)
    wheel = P.replace("src/scvi/", "scvi/", 1)
    assert findings(tree, f"In 1.2.0 (`{wheel}:20-22`, 1.2.0):\n- `weight_decay` (line 21).") == []
    assert findings(tree, f"1.2.0 `{P}:20`:\n- `weight_decay` (line 21).") == []


@pytest.mark.parametrize("text, finding", [
    ("`mde` was removed in 1.2.1 (CHANGELOG.md:9).", "CHANGELOG.md:9 lies in 1.2.2's notes "
     "(heading at 5), not 1.2.1's"),
    ("1.2.0 added `update_only_decoder` (CHANGELOG.md:15).", "CHANGELOG.md:15 lies in 1.2.1's "
     "notes (heading at 11), not 1.2.0's"),
    ("`mde` was removed in 1.2.2 (CHANGELOG.md:9).", ""),
    ("`mde` was removed in 1.2 (CHANGELOG.md:9).", ""),  # the series
    ("`mde` was removed in 1.2.1 (CHANGELOG.md:9-15).", ""),  # the range reaches 1.2.1's notes
    ("`mde` was removed in 1.2.1, as the 1.2.2 notes say (CHANGELOG.md:9).", ""),
    ('In 1.2.0: `one_hot` is "to be removed in v1.3" (CHANGELOG.md:19).', ""),  # a quote
    ("`mde` went when numpy 1.2.1 made it slow (CHANGELOG.md:9).", ""),  # another package's
    ("`mde` went when Python 3.12 added it (CHANGELOG.md:9).", ""),  # no release of the notes
    ("`mde` was removed in 1.2.1 and added in 1.2.0 (CHANGELOG.md:9).", ""),  # two releases
])
def test_release_notes_cited_for_a_change_lie_under_its_release(tree, text, finding):
    """A line that dates a change to one release and cites the release notes only under
    other releases' headings (trial rounds 5 and 18: "removed in 1.2.1", cited in 1.2.2's)."""
    assert findings(tree, text) == ([finding] if finding else [])


FIELDS = """\
def _combine_fields(self, adata):
    \"\"\"Combine the fields.\"\"\"
    attr = getattr(adata, self.attr_name)
    source = getattr(adata, self.source_attr_name)
    attr[self.attr_key] = source[self.attr_keys].copy()
"""


@pytest.mark.parametrize("text, verdict", [
    ("It indexes `source[self.attr_keys].copy()` (F:3-4).", "off"),
    ("It indexes `source[self.attr_keys].copy()` (F:5).", "shown"),
    ("It indexes `source[self.attr_keys].copy()` (F:4-5).", "shown"),
    # two pieces of code: the one on the lines may be what is cited
    ("`_combine_fields` indexes `source[self.attr_keys].copy()` (F:1-4).", "shown"),
    # a bare name is no expression
    ("It reads `source` (F:3-4).", "shown"),
])
def test_an_expression_a_line_beyond_a_shown_part_of_it_is_off(tree, text, verdict):
    """The sentence's one piece of code, an expression, a line or few beyond the cited lines
    that hold only a plainer part of it (`source`): off (trial rounds 6 and 30)."""
    (tree / "src" / "scvi" / "data").mkdir(parents=True)
    (tree / "src" / "scvi" / "data" / "_fields.py").write_text(FIELDS)
    text = text.replace("F:", "src/scvi/data/_fields.py:")
    assert [v for _, _, v in verdicts(tree, text)] == [verdict]
    if verdict == "off":
        assert findings(tree, text) == ["src/scvi/data/_fields.py:3-4 does not show "
                                        "`source[self.attr_keys].copy()`; line 5 does"]


def test_past_the_end_and_missing_files(tree):
    assert findings(tree, f"`lr` ({P}:900)") == [f"{P}:900 is past the file's end (29 lines)"]
    # A range mostly past the end (6 lines in, 20 out) is lines never read; one that runs a
    # little past it (a section cited to the next heading) is a loose end, not flagged.
    assert findings(tree, f"`lr` ({P}:24-49)") == [
        f"{P}:24-49 ends past the file's end (29 lines)"]
    assert findings(tree, f"`lr` ({P}:15-31)") == []
    assert findings(tree, "`x` (src/scvi/train/_gone.py:3)") == [
        "src/scvi/train/_gone.py: no such file in the scvi-tools 1.5.1 tree"]
    assert findings(tree, "`x` (torch/nn/functional.py:3)") == []  # another package's file
    # another release's file or lines are not this tree's to judge
    assert findings(tree, "1.0.4 raised it from `src/scvi/_compat.py:4`.") == []
    assert findings(tree, f"1.3.3 `{P}:20` has `lr`.") == []
    assert findings(tree, f"The 1.2.2 tree has `lr` ({P}:20).") == []
    assert findings(tree, f"A frame: `scvi/train/_trainingplans.py:20` in `lr`") == []


def test_a_lead_in_naming_another_release_s_tree_covers_its_list(tree):
    """Trial round 49's answers name the user's release once, in a lead-in ("Facts from the
    1.1.5 tree:"), and cite that tree in the list below it: not this tree's to judge. An item
    naming this tree, or a paragraph after the list, is judged again."""
    off = f"- `lr` ({P}:20)"
    assert findings(tree, off) == [f"{P}:20 does not show `lr`; line 21 does"]
    assert findings(tree, f"Facts from the 1.1.5 tree:\n{off}\n\n{off}") == []
    assert findings(tree, "Facts from the 1.1.5 tree:\n- `x` (src/scvi/train/_gone.py:3)") == []
    assert findings(tree, f"Facts from the 1.1.5 tree:\n{off} (the 1.5.1 tree)") == [
        f"{P}:20 does not show `lr`; line 21 does"]
    assert findings(tree, f"Facts from the 1.1.5 tree:\n{off}\nThen `lr` ({P}:20).") == [
        f"{P}:20 does not show `lr`; line 21 does"]
    # a release in the lead-in's parentheses, or closing the citation's own
    assert findings(tree, f"Where it comes from (1.4.2):\n{off}") == []
    assert findings(tree, f"`lr` (`{P}:20`, 1.0.4)") == []
    assert findings(tree, f"`lr` (`{P}:20`, 1.5.1)") == [f"{P}:20 does not show `lr`; line 21 does"]
    # a lead-in without its colon, or a heading, opens no such list
    assert findings(tree, f"The 1.1.5 tree differs.\n{off}") == [
        f"{P}:20 does not show `lr`; line 21 does"]
    assert findings(tree, f"## In the 1.1.5 tree:\n{off}") == [
        f"{P}:20 does not show `lr`; line 21 does"]


def test_markdown_cites_its_list_item_and_a_heading_its_section(tree):
    assert verdicts(tree, "- the lab is the `batch_key` effect (docs/faq.md:8)") == [
        ("docs/faq.md", 8, "unverified")]  # the item's words say it: no code to judge
    assert findings(tree, "`dispersion` per batch (docs/faq.md:8)") == [
        "docs/faq.md:8 does not show `dispersion`; line 9 does"]
    assert verdicts(tree, "`dispersion` (docs/faq.md:9)") == [("docs/faq.md", 9, "shown")]
    assert findings(tree, "`SaveCheckpoint` came in 1.2.0 (docs/faq.md:11)") == []  # heading
    assert findings(tree, "`batch_key` (docs/faq.md:7-9)") == []  # a range of prose: not judged


def test_no_code_beside_it_or_another_citations_code_is_not_judged(tree):
    assert verdicts(tree, f"The plan sets the rate ({P}:1).") == [(P, 1, "unverified")]
    # (a.py:N; docs/b.md:M): the second place may show another side of the claim
    assert findings(tree, f"`weight_decay` is set ({P}:22; docs/faq.md:13)") == []
    # ... unless a distinctive name of the claim is just beside it (a slip, not another side)
    assert findings(tree, f"`weight_decay` ({P}:22; {P}:24)") == [
        f"{P}:24 does not show `weight_decay`; line 22 does"]
    assert findings(tree, f"`weight_decay` ({P}:22; {P}:26)") == []
    # places of one claim side by side: one showing the code covers a far one, not a slip
    assert findings(tree, f"`weight_decay` ({P}:29; {P}:22)") == []
    assert findings(tree, f"`weight_decay` ({P}:24; {P}:22)") == [
        f"{P}:24 does not show `weight_decay`; line 22 does"]
    # the code is nowhere near the cited line: not evidence of a wrong line
    assert findings(tree, f"`module` ({P}:4)") == []


def test_a_short_path_is_found_by_its_tail(tree):
    assert verdicts(tree, "`weight_decay` (_trainingplans.py:22)") == [(P, 22, "shown")]
    assert findings(tree, "`weight_decay` (_trainingplans.py:21)") == [
        f"{P}:21 does not show `weight_decay`; line 22 does"]
    # two files end with _model.py: shown in one is enough, else not judged
    assert verdicts(tree, "`n_steps` (_model.py:1)") == [("", 1, "shown")]
    assert findings(tree, "`nothing_here` (_model.py:1)") == []


def test_a_link_out_of_the_tree_is_never_read(tree, tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("lr = 1\n")
    (tree / "src" / "scvi" / "train" / "_linked.py").symlink_to(outside)
    assert findings(tree, "`lr` (src/scvi/train/_linked.py:1)") == [
        "src/scvi/train/_linked.py: no such file in the scvi-tools 1.5.1 tree"]
    assert findings(tree, "`lr` (src/scvi/../../outside.py:1)") == []


# ------------------------------------------------------------------ check_code.py


def test_check_code_reports_citations_of_a_markdown_answer(tree, tmp_path, capsys):
    answer = tmp_path / "answer.md"
    answer.write_text(f"# a01\n\nThe default is `lr=1e-3` ({P}:20).\n\n```python\nimport scvi\n```\n")
    assert check_code.main(["--tree", str(tree), "--json", str(answer)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["citations"] == {"tree": "1.5.1", "cited": 1, "shown": 0, "unverified": 0,
                                   "findings": 1, "other_release": 0}
    assert report["findings"] == [{
        "path": str(answer), "line": 3, "col": 27, "name": f"{P}:20", "kwarg": None,
        "message": f"{P}:20 does not show `lr`; line 21 does", "exists_in": [],
        "check": "citation"}]
    answer.write_text(f"The default is `lr=1e-3` ({P}:21).\n")
    assert check_code.main(["--tree", str(tree), str(answer)]) == 0
    err = capsys.readouterr().err
    assert "citations: 1 against the 1.5.1 tree, 1 show what they cite, 0 not judged" in err


def test_check_code_reads_an_answer_without_fences_on_stdin(tree, monkeypatch, capsys):
    text = f"The default is `lr=1e-3` ({P}:20).\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert check_code.main(["--tree", str(tree), "-"]) == 1
    assert capsys.readouterr().out == f"<stdin>:1:27: {P}:20 does not show `lr`; line 21 does\n"


def test_check_code_without_a_tree_checks_the_code_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    answer = tmp_path / "answer.md"
    answer.write_text(f"`lr` ({P}:20)\n\n```python\nfrom scvi.model import JaxSCVI\n```\n")
    assert check_code.main([str(answer)]) == 1  # the code finding still counts
    captured = capsys.readouterr()
    assert "JaxSCVI" in captured.out and "does not show" not in captured.out
    assert "citations not checked" in captured.err
    # a --tree that is not a tree is an error, as in the other scripts
    assert check_code.main(["--tree", str(tmp_path / "nope"), str(answer)]) == 4
    script = tmp_path / "analysis.py"
    script.write_text("import scvi\n")
    assert check_code.main(["--tree", str(tmp_path / "nope"), str(script)]) == 4
    assert "nope" in capsys.readouterr().err


def test_trial_answers_of_round_41_on_the_pinned_tree(pinned_tree, repo_root):
    """The two lines the blind grader of round 41 found off and that name their code."""
    lines = TreeLines(pinned_tree)
    found = []
    for name in ("answers_rg.md", "answers_skill.md"):
        text = (repo_root / "benchmarks" / "trials" / "round41" / name).read_text()
        found += [c.message for c in check_citations(text, lines).findings]
    assert found == [
        "src/scvi/train/_trainingplans.py:174 does not show `lr: float = 1e-3`; line 175 does",
        "src/scvi/model/base/_vaemixin.py:362 does not show `loc`; line 353 does"]


def test_every_finding_on_the_stored_answers_is_read_by_hand(pinned_tree, repo_root):
    """benchmarks/citation_labels.jsonl labels each finding on the stored answers (the trial
    rounds' and cited_answers/; the precision bench_citations.py reports): a change to the
    check that finds another citation or drops one shows here, and new answers' findings
    must be read and labelled."""
    sys.path.insert(0, str(repo_root / "benchmarks"))
    import bench_citations

    lines = TreeLines(pinned_tree)
    found = set()
    for files in bench_citations.corpora().values():
        for path in files:
            for cite in check_citations(path.read_text(encoding="utf-8"), lines).findings:
                found.add(bench_citations.label_key(path, cite.line, cite.message))
    labels = [json.loads(row) for row in
              (repo_root / "benchmarks" / "citation_labels.jsonl").read_text().splitlines()]
    assert found == {(row["file"], row["line"], row["cited"]) for row in labels}
    assert all(isinstance(row["error"], bool) and row["why"] for row in labels)
    assert len(bench_citations.corpora()["trials"]) >= 77


@pytest.mark.parametrize("line, cited", [
    ("`" * 5000, 0), ("`a" * 3000, 0), ('"' * 5000, 0), ("a/" * 3000 + "x.py:1", 1),
    (f"{P}:21 " * 2000, 2000), ("line 1, " * 3000, 0), ("x.py:" + "1, " * 3000, 3000),
])
def test_hostile_lines_are_read_without_error(tree, line, cited):
    report = check_citations(line, TreeLines(open_tree(tree)))
    assert len(report.citations) == cited
    assert all(c.verdict in ("shown", "unverified", "past_end") for c in report.citations)


def test_python_code_is_not_checked_for_citations(tree, tmp_path, capsys):
    script = tmp_path / "analysis.py"
    script.write_text(f"lr = 1e-3  # `lr` ({P}:20)\n")
    assert check_code.main(["--tree", str(tree), "--json", str(script)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["findings"] == [] and "citations" not in report


@pytest.fixture()
def old_tree(tmp_path) -> Path:
    """A 1.2.0 tree whose plan has one line more above ``lr`` than the 1.5.1 fixture's."""
    root = tmp_path / "cache" / "scvi-tools-1.2.0"
    pkg = root / "src" / "scvi"
    (pkg / "train").mkdir(parents=True)
    (root / "docs").mkdir()
    (pkg / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[project]\nname = "scvi-tools"\nversion = "1.2.0"\n')
    (pkg / "train" / "_trainingplans.py").write_text(PLAN.replace(
        "        fused_optimizer: bool = True,\n",
        "        fused_optimizer: bool = True,\n        n_steps: int = 2,\n"))
    (pkg / "train" / "_old.py").write_text("def fit(use_gpu=True):\n    return use_gpu\n")
    return root


def releases_of(*roots: Path):
    trees = {open_tree(root).version: TreeLines(open_tree(root)) for root in roots}
    return trees.get


def test_a_finding_that_shows_its_code_in_the_release_its_part_names_is_that_release_s(
        tree, old_tree):
    # lr is on line 21 of 1.5.1's plan and on 22 of 1.2.0's
    said = f"## q1\n\nWe read the scvi-tools-1.2.0 tree.\n\n- The default is `lr=1e-3` ({P}:22).\n"
    report = check_citations(said, TreeLines(open_tree(tree)), releases_of(old_tree))
    (cite,) = report.citations
    assert (cite.verdict, cite.release, cite.message) == ("shown", "1.2.0", "")
    assert report.summary()["other_release"] == 1 and report.summary()["findings"] == 0
    # without the other release's tree, or in a part that names no tree, it stays a finding
    assert findings(tree, said) == [f"{P}:22 does not show `lr`; line 21 does"]
    other_part = said.replace("- The default", "## q2\n\n- The default")
    report = check_citations(other_part, TreeLines(open_tree(tree)), releases_of(old_tree))
    assert [c.verdict for c in report.citations] == ["off"]
    # a release named only as a version (not as the tree read) is not taken as the tree's
    plain = said.replace("We read the scvi-tools-1.2.0 tree.", "It changed in 1.2.0.")
    report = check_citations(plain, TreeLines(open_tree(tree)), releases_of(old_tree))
    assert [c.verdict for c in report.citations] == ["off"]
    # the release the answer is for (check_code.py --version) counts without being named
    report = check_citations(plain, TreeLines(open_tree(tree)), releases_of(old_tree),
                             also=("1.2.0",))
    assert [(c.verdict, c.release) for c in report.citations] == [("shown", "1.2.0")]


def test_a_citation_wrong_in_the_named_release_too_stays_a_finding(tree, old_tree):
    said = f"We read the scvi-tools-1.2.0 tree.\n\nThe default is `lr=1e-3` ({P}:19).\n"
    report = check_citations(said, TreeLines(open_tree(tree)), releases_of(old_tree))
    assert [c.message for c in report.findings] == [f"{P}:19 does not show `lr`; line 21 does"]
    # a named release with no cached tree: the finding says how to judge it there
    report = check_citations(said.replace("1.2.0", "1.1.3"), TreeLines(open_tree(tree)),
                             releases_of(old_tree))
    assert [c.message for c in report.findings] == [
        f"{P}:19 does not show `lr`; line 21 does (not judged in 1.1.3: no cached tree; "
        "fetch_tree.py --version 1.1.3 fetches it)"]


def test_a_file_only_the_named_release_has_is_not_a_finding(tree, old_tree):
    said = "We read the 1.2.0 tree.\n\n`fit` takes `use_gpu` (src/scvi/train/_old.py:1, 2).\n"
    assert findings(tree, said) == [
        "src/scvi/train/_old.py: no such file in the scvi-tools 1.5.1 tree"] * 2
    report = check_citations(said, TreeLines(open_tree(tree)), releases_of(old_tree))
    assert [(c.verdict, c.release) for c in report.citations] == [("shown", "1.2.0")] * 2
    # a comment line in a code block does not start a new part of the answer
    fenced = said.replace("tree.\n\n", "tree.\n\n```python\n# a comment\n```\n\n")
    report = check_citations(fenced, TreeLines(open_tree(tree)), releases_of(old_tree))
    assert [c.release for c in report.citations] == ["1.2.0"] * 2


def test_check_code_judges_citations_in_the_cached_tree_of_its_version(
        tree, old_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(old_tree.parent))
    answer = tmp_path / "answer.md"
    answer.write_text(f"The default is `lr=1e-3` ({P}:22).\n")
    assert check_code.main(["--tree", str(tree), "--version", "1.5.1", str(answer)]) == 1
    capsys.readouterr()
    assert check_code.main(["--tree", str(tree), "--version", "1.2.0", "--json",
                            str(answer)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["citations"]["other_release"] == 1 and report["findings"] == []
    assert check_code.main(["--tree", str(tree), "--version", "1.2.0", str(answer)]) == 0
    assert "1 show what they cite (1 in another release's tree)" in capsys.readouterr().err


@pytest.mark.slow
def test_the_named_releases_clear_only_the_labelled_false_alarms(pinned_tree, repo_root):
    """With the trees of the releases the stored answers name cached (fetched here from the
    package index, once), the findings are the labelled ones less those judged in another
    release: four false alarms of rounds 49 and 51, which cite the user's release tree, and
    not one labelled error."""
    from scvi_skill.runtime.citations import cached_releases
    from scvi_skill.runtime.errors import SkillPackageError
    from scvi_skill.runtime.fetch import fetch_tree

    sys.path.insert(0, str(repo_root / "benchmarks"))
    import bench_citations

    try:
        for version in ("1.1.5", "1.2.0", "1.4.2"):
            fetch_tree(version, echo=False)
    except SkillPackageError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"release trees could not be fetched: {err}")
    lines, releases = TreeLines(pinned_tree), cached_releases()
    cleared = set()
    for path in bench_citations.corpora()["trials"]:
        text = path.read_text(encoding="utf-8")
        before = {bench_citations.label_key(path, c.line, c.message)
                  for c in check_citations(text, lines).findings}
        after = {bench_citations.label_key(path, c.line, c.message)
                 for c in check_citations(text, lines, releases).findings}
        assert after <= before
        cleared |= before - after
    labels = {(row["file"], row["line"], row["cited"]): row["error"] for row in
              map(json.loads, (repo_root / "benchmarks" / "citation_labels.jsonl")
                  .read_text().splitlines())}
    assert sorted(cleared) == [
        ("trials/round49/answers_skill.md", 102, "src/scvi/autotune/_manager.py"),
        ("trials/round51/answers_skill.md", 19, "src/scvi/module/_vae.py:212-215"),
        ("trials/round51/answers_skill.md", 163, "tests/model/test_destvi.py:115")]
    assert not any(labels[key] for key in cleared)


def test_a_post_release_tree_is_recognised_as_named():
    from scvi_skill.runtime.citations import _trees_named

    text = "# q\n\nFrom scvi-tools-1.2.2.post1: x.\nAnd the 1.3.1.post1 tree.\n"
    assert _trees_named(text, ())[2] == ["1.2.2.post1", "1.3.1.post1"]


OFF_BY_ONE = f"The default is `lr=1e-3` ({P}:20)."
"""A citation one line off: a finding when read as prose, not judged when read as code."""


@pytest.mark.parametrize("block", [pytest.param(block, id=name)
                                   for name, block in FENCE_BLOCKS])
def test_a_citation_after_a_code_block_is_prose_by_commonmark_s_fences(tree, block):
    """A block closes only at a fence of its own character, at least as long, indented at
    most 3 spaces (beyond its list item): the citation after it is judged."""
    assert findings(tree, f"{block}\n\n{OFF_BY_ONE}\n") == [
        f"{P}:20 does not show `lr`; line 21 does"]


def test_a_fence_s_lines_and_a_never_closed_block_are_code(tree):
    """A line of three backticks and text is a code span, and its citation is read; a block
    never closed runs to the end (its citation is code, not judged)."""
    text = f"{FENCE}lr=1e-3{FENCE} is the default ({P}:20).\n"
    assert findings(tree, text) == [f"{P}:20 does not show `lr`; line 21 does"]
    assert [v for *_, v in verdicts(tree, f"{FENCE}python\n\n{OFF_BY_ONE}\n")] == ["unverified"]


def test_a_heading_inside_a_four_backtick_block_starts_no_part(tree, old_tree):
    said = "We read the 1.2.0 tree.\n\n`fit` takes `use_gpu` (src/scvi/train/_old.py:1, 2).\n"
    fenced = said.replace("tree.\n\n", f"tree.\n\n`{FENCE}python\nNOTE = '''\n{FENCE}\n'''\n"
                                       f"# a comment\n`{FENCE}\n\n")
    report = check_citations(fenced, TreeLines(open_tree(tree)), releases_of(old_tree))
    assert [(c.verdict, c.release) for c in report.citations] == [("shown", "1.2.0")] * 2


def test_check_code_judges_a_citation_after_a_four_backtick_block(tree, tmp_path, capsys):
    answer = tmp_path / "answer.md"
    answer.write_text(f"`{FENCE}python\nimport scvi\nNOTE = '''\n{FENCE}\n'''\n`{FENCE}\n\n"
                      f"{OFF_BY_ONE}\n")
    assert check_code.main(["--tree", str(tree), "--json", str(answer)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(f["line"], f["check"]) for f in report["findings"]] == [(8, "citation")]


def test_a_sentence_word_vetoes_only_as_the_start_of_a_line_s_word(tree):
    """A cited line holding one of the sentence's longer words is not judged by its code; the
    word must start one of the line's words (split at underscores): "split" inside
    ``datasplitter_kwargs`` is not the line saying so (round 28's DDP citation, two lines off,
    had passed), while "label" starts ``n_labels``'s "labels"."""
    split = "src/scvi/train/_split.py"
    (tree / split).write_text(
        "def make(\n    datasplitter_kwargs=None,\n    n_labels=2,\n):\n    shuffle = True\n")
    assert findings(tree, f"Cells are shuffled before the split (`shuffle=True`, {split}:2).") \
        == [f"{split}:2 does not show `shuffle`; line 5 does"]
    assert findings(tree, f"Each label is one column (`shuffle=True`, {split}:3).") == []


def test_each_parameter_value_a_sentence_states_is_on_the_cited_lines(tree):
    """A sentence stating several parameters' values cites a signature's range one short:
    the range shows one of them, and the other is declared a line away (trial round 63,
    `deeply_inject_covariates=False`, `encode_covariates=False` cited at the second's lines)."""
    two = "The defaults are `fused_optimizer=True` and `weight_decay=1e-6`"
    assert findings(tree, f"{two} ({P}:21-22).") == [
        f"{P}:21-22 does not show `fused_optimizer`; line 20 does"]
    assert findings(tree, f"{two} ({P}:20).") == [
        f"{P}:20 does not show `weight_decay`; line 22 does"]
    assert verdicts(tree, f"{two} ({P}:20-22).") == [(P, 20, "shown")]
    # names without an underscore (`lr`) are too plain to be looked for one by one
    assert verdicts(tree, f"`lr=1e-3` and `weight_decay=1e-6` ({P}:21).") == [(P, 21, "shown")]
    # one stated value: any of the claim's code on the lines shows it, as before
    assert verdicts(tree, f"`lr=1e-3` is set by `fused_optimizer` ({P}:21).") == [
        (P, 21, "shown")]


def test_a_condition_near_the_cited_branch_is_not_a_parameter_s_declaration(tree):
    """Round 11: "With `downsample_counts=False`, `downsample_counts_mean=None` and ... are
    set" cites the else branch; the `if downsample_counts:` above it declares nothing."""
    path = "src/scvi/train/_branch.py"
    (tree / path).write_text("def f(flag_on, mean_val=None):\n    if flag_on:\n"
                             "        mean_val = 1\n    else:\n        mean_val = None\n"
                             "        std_val = 1.0\n")
    text = f"With `flag_on=False`, `mean_val=None` and `std_val=1.0` are set ({path}:4-6)."
    assert verdicts(tree, text) == [(path, 4, "shown")]


def test_the_graders_citation_errors_point_at_their_citations(repo_root):
    """benchmarks/trials/grader_citation_errors.jsonl (bench_citations.py's recall): each row's
    citation is written on its line of the stored answers, inside the answer to its question,
    and names a round and an agent whose answers are stored."""
    rows = [json.loads(row) for row in (repo_root / "benchmarks" / "trials" /
                                        "grader_citation_errors.jsonl").read_text().splitlines()]
    assert len(rows) >= 168
    for row in rows:
        path = (repo_root / "benchmarks" / "trials" / f"round{row['round']}" /
                f"answers_{row['agent']}.md")
        lines = path.read_text(encoding="utf-8").splitlines()
        assert row["citation"] in lines[row["answer_line"] - 1], row
        heading = next(line for line in reversed(lines[:row["answer_line"]])
                       if line.startswith("## "))
        assert heading.split()[1].strip("`*:") == row["id"], (row, heading)
        assert row["grader_says"]


GUIDE = """\
# Mapping

```
>>> mapper = model.get_mapper_matrix()
```

Each row contains a probability distribution over spatial observations for one
single-cell observation.
"""


@pytest.mark.parametrize(("cited", "verdict"), [
    ("5-6", "off"),  # the block's closing fence and a blank line: the text is on 7
    ("6", "off"),  # a blank line
    ("3", "unverified"),  # the opening fence cites the block it opens
    ("3-5", "unverified"),  # the block itself: its code, not the sentence's words
])
def test_a_citation_of_blank_lines_or_a_block_s_end_just_before_the_text(tree, cited, verdict):
    """A Markdown citation whose lines hold no text (blank lines, a code block's closing
    fence) is off when a line at most BLANK_NEAR past them holds the sentence's words."""
    (tree / "docs" / "guide.md").write_text(GUIDE)
    text = ("Each row is one cell's probability distribution over spots "
            f"(docs/user_guide.md:{cited}).").replace("user_guide", "guide")
    report = check_citations(text, TreeLines(open_tree(tree)))
    assert [c.verdict for c in report.citations] == [verdict]
    if verdict == "off":
        assert report.citations[0].message.endswith("holds no text (blank lines, a code "
                                                    "block's end); line 7 says it")


def test_blank_lines_far_from_the_sentence_s_words_are_not_judged(tree):
    (tree / "docs" / "guide.md").write_text(GUIDE + "\n" * 8 + "Unrelated closing words.\n")
    text = "Each row is a probability distribution (docs/guide.md:15-16)."
    report = check_citations(text, TreeLines(open_tree(tree)))
    assert [c.verdict for c in report.citations] == ["unverified"]

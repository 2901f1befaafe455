"""Def units: every def and class of the src/ files scored on its own (name, docstring, code),
and the file boost the resolver gives each file from its best def."""

from __future__ import annotations

from scvi_skill.build import search_index
from scvi_skill.build.source.defunits import def_units
from scvi_skill.runtime import rank
from scvi_skill.runtime.formats import SLOT_DEF

MODULE = '''"""Module docstring."""
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    def only_for_types(x): ...


class LabelMixin:
    """Mixin docstring names soft assignments."""

    _data_splitter_cls = "DataSplitter"

    def predict(self, soft=False):
        """Return per-class probabilities when soft is True."""
        probs = self.module.classify(soft_flag=soft)

        def helper(y):
            return y.drop_last

        return probs

    @property
    def history(self):
        return self._history
'''


def _units(files: dict[str, str]):
    return def_units(sorted(files), lambda path: files[path].splitlines())


def test_every_def_and_class_is_a_unit_with_its_own_lines():
    units = _units({"src/scvi/a.py": MODULE, "src/scvi/broken.py": "def f(:\n"})
    found = {(path, first, last): fields for path, first, last, fields in units}
    lines = MODULE.splitlines()
    starts = {lines[first - 1].strip().split("(")[0].split(":")[0] for _, first, _ in found}
    # Nested and guarded defs too; the file that does not parse gives none (and no error).
    assert starts == {"def only_for_types", "class LabelMixin", "def predict", "def helper",
                      "def history"}
    assert all(path == "src/scvi/a.py" for path, _, _ in found)
    for (_, first, last), _ in found.items():
        assert 1 <= first <= last <= len(lines)
    predict = next(f for (_, first, _), f in found.items() if "def predict" in lines[first - 1])
    assert {"predict"} <= set(predict["name"])
    assert {"probabil", "soft"} <= set(predict["doc"])  # the docstring, stemmed words
    # Its code, whole identifiers included (a nested def's lines are part of it), but not
    # its docstring a second time.
    assert {"soft_flag", "drop_last", "classify"} <= set(predict["body"])
    assert "probabil" not in predict["body"]


def test_a_class_unit_holds_its_attributes_not_its_methods():
    units = _units({"src/scvi/a.py": MODULE})
    lines = MODULE.splitlines()
    cls = next(f for _, first, _, f in units if lines[first - 1].startswith("class LabelMixin"))
    assert {"labelmixin", "label", "mixin"} <= set(cls["name"])
    assert "data_splitter_cls" in cls["body"] and "soft" in cls["doc"]
    assert "predict" not in cls["body"] and "soft_flag" not in cls["body"]


def test_the_search_index_scores_defs_and_keeps_only_shared_terms():
    """With the tree's lines, ``defs`` rows point at each def of the src/ files, the def slot
    scores them, and a term only some def's code holds (a local name) adds no term."""
    from test_resolve_index import tiny_index

    text = {"src/scvi/model/_scanvi.py": MODULE.splitlines(),
            "src/scvi/model/_scvi.py": ["class SCVI:", "    n_latent = 10", "    local_only_name = 1"]}
    built = search_index.build(tiny_index(), lambda path: text.get(path, [""]))
    sources = [row[0] for row in built["sources"]]
    rows = [(sources[sid], first, last) for sid, first, last in built["defs"]]
    assert ("src/scvi/model/_scvi.py", 1, 3) in rows
    assert ("src/scvi/model/_scanvi.py", 13, 20) in rows  # predict, its nested helper inside
    assert all(path.startswith("src/") for path, _, _ in rows)
    entry = built["terms"]["soft"]
    hits = {int(item.split(":")[0]) for item in entry[SLOT_DEF].split()}
    assert {rows[d][1] for d in hits} == {8, 13}  # the class (its docstring) and predict
    assert "local_only_name" not in built["terms"] and "soft_flag" not in built["terms"]
    # Without the tree's lines there are no defs and rows keep their old length.
    bare = search_index.build(tiny_index())
    assert bare["defs"] == [] and all(len(row) <= SLOT_DEF for row in bare["terms"].values())


def _state(src_scores: dict[int, float], defs: list[list[int]], postings: str, weight=0.1):
    sidx = {"defs": defs, "terms": {"soft": ["", "", "", "", "", postings]}}
    state = rank._Ranking("soft", sidx, dict(rank.PARAMS, def_file=weight), {"soft": 1.0})
    state.src_scores = dict(src_scores)
    return state


def test_a_file_gains_by_its_best_def_relative_to_the_best_def():
    # File 0 holds the best def (impact 90; its weaker def 30 does not add); file 1 a def of 30.
    state = _state({0: 10.0, 1: 50.0}, [[0, 1, 5], [0, 6, 9], [1, 1, 3]], "0:90 1:30 2:30")
    rank._boost_best_defs(state)
    assert state.src_scores[0] == 10.0 + 0.1 * 50.0
    assert abs(state.src_scores[1] - (50.0 + 0.1 * 50.0 * (30 / 90) ** 2)) < 1e-9
    # A file no other step scored is raised by its def alone.
    state = _state({1: 50.0}, [[0, 1, 5], [1, 1, 3]], "0:90")
    rank._boost_best_defs(state)
    assert state.src_scores == {1: 50.0, 0: 5.0}


def test_no_defs_or_weight_leaves_the_file_scores_alone():
    for state in (_state({0: 10.0}, [], "0:90"),  # an index built before def units
                  _state({0: 10.0}, [[0, 1, 5]], "0:90", weight=0.0),
                  _state({0: 10.0}, [[0, 1, 5]], "")):
        rank._boost_best_defs(state)
        assert state.src_scores == {0: 10.0}


def test_the_shipped_defs_point_at_def_and_class_lines_of_the_pinned_tree(pinned_tree):
    from scvi_skill.runtime.index import load_search_index

    sidx = load_search_index()
    sources = [row[0] for row in sidx["sources"]]
    assert len(sidx["defs"]) > 1000
    read: dict[str, list[str]] = {}
    for sid, first, last in sidx["defs"]:
        path = sources[sid]
        lines = read.setdefault(path, (pinned_tree.root / path).read_text(encoding="utf-8").splitlines())
        assert first <= last <= len(lines), (path, first)
        assert lines[first - 1].lstrip().startswith(("def ", "class ", "async def ")), (path, first)

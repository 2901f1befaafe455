"""check_code.py's pitfall notes: the proven pitfalls of the calls a draft makes
(runtime/callpitfalls.py), from the call patterns the refresh writes for each pitfall
(build/pitfalls.py call_patterns)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import check_code
import pytest
import refresh_maps
from scvi_skill.build.pitfalls import (
    PitfallsError,
    call_patterns,
    fix_literals,
    load_pitfalls,
    parse_call,
)
from scvi_skill.runtime.callpitfalls import MAX_NOTES

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini_tree"

DRAFT = '''# Label the query

```python
import scvi
scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch", labels_key="cell_type")
vae = scvi.model.SCVI(adata)
vae.train(trainer_config=scvi.train.TrainerConfig(early_stopping=True))
scanvi = scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category="Unknown")
scanvi.train(max_epochs=20)
del query.obs["cell_type"]
query.obs["pred"] = scanvi.predict(query)
```
'''


def notes(capsys, tmp_path, text: str, name: str = "answer.md") -> tuple[int, list[dict]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = check_code.main([str(path), "--json"])
    return code, json.loads(capsys.readouterr().out)["pitfalls"]


def test_parse_call_reads_keywords_literals_keys_and_data_arguments():
    assert parse_call("TrainerConfig(max_epochs=)") == {
        "callee": "TrainerConfig", "keywords": {"max_epochs": None}, "keys": [],
        "new_data": False}
    assert parse_call('SCVI.differential_expression(mode="change")')["keywords"] == \
        {"mode": "change"}
    assert parse_call("load(dir, adata=False)")["keywords"] == {"adata": "False"}
    assert parse_call('train(plan_kwargs={"kl_weight": 1.0, "lr": 1e-3})')["keys"] == \
        ["kl_weight", "lr"]
    assert parse_call("predict(new)")["new_data"] is True
    assert parse_call("train()") is None and parse_call("no call here") is None
    assert parse_call("train(...)") is None


def test_call_patterns_come_from_the_claim_unless_the_entry_writes_its_own():
    entry = {"claim": "X.train(lr=...) and predict(new) do it; adata.obs.fillna(0) too; "
                      "train() alone not.", "fix": "f"}
    assert [(p["callee"], p["new_data"]) for p in call_patterns(entry)] == \
        [("train", False), ("predict", True), ("fillna", True)]
    assert call_patterns(dict(entry, calls=[])) == []
    assert [p["callee"] for p in call_patterns(dict(entry, calls=["SCANVI.predict(new)"]))] \
        == ["predict"]


def test_a_calls_entry_that_is_not_a_call_is_one_clear_error(tmp_path):
    path = tmp_path / "pitfalls.yaml"
    path.write_text("pitfalls:\n  - id: x\n    applies_to: [SCVI]\n    triggers: [a b]\n"
                    "    claim: c\n    fix: f\n"
                    "    evidence: {path: src/scvi/model/_scvi.py, line: 1, token: t}\n"
                    "    proof: tests/test_pitfall_proofs.py::test_x\n"
                    "    calls: [train()]\n")
    with pytest.raises(PitfallsError, match="calls must be a list of calls"):
        load_pitfalls(path)


def test_refresh_keeps_the_tree_s_callees_and_refuses_a_written_one_it_lacks(tmp_path, capsys):
    first_line = (MINI / "src/scvi/model/_scvi.py").read_text().splitlines()[0].strip()[:12]
    refs = tmp_path / "refs"
    refs.mkdir()
    shutil.copyfile(MINI / "routing.yaml", refs / "routing.yaml")
    entry = ("pitfalls:\n  - id: demo\n    applies_to: [SCVI]\n"
             "    claim: SCVI.train(max_epochs=3) and obs.fillna(0) do it\n    fix: f\n"
             f"    evidence: {{path: src/scvi/model/_scvi.py, line: 1, token: {json.dumps(first_line)}}}\n"
             "    triggers: [demo words]\n"
             "    proof: tests/test_pitfall_proofs.py::test_mlx_extra_is_called_metal\n")
    (refs / "pitfalls.yaml").write_text(entry)
    argv = ["--tree", str(MINI), "--out", str(tmp_path / "out"), "--routing",
            str(refs / "routing.yaml")]
    assert refresh_maps.main(argv) == 0
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [c["callee"] for c in index["pitfalls"][0]["calls"]] == ["train"]  # not fillna
    (refs / "pitfalls.yaml").write_text(entry + "    calls: [\"no_such_method(x=)\"]\n")
    capsys.readouterr()
    assert refresh_maps.main(argv) == 1
    assert "no_such_method, which the tree does not define" in capsys.readouterr().err


def test_every_shipped_call_pattern_names_a_callable_of_the_pinned_index():
    index = json.loads((REPO / "references" / "index.json").read_text())
    callables = {s["qualname"].rsplit(".", 1)[-1] for s in index["symbols"]
                 if s["kind"] in ("function", "method", "class")}
    patterns = [c for p in index["pitfalls"] for c in p["calls"]]
    assert len(patterns) >= 100
    assert all(c["callee"] in callables for c in patterns)
    written = {p["id"]: p for p in load_pitfalls(REPO / "references" / "pitfalls.yaml")}
    for pitfall in index["pitfalls"]:  # the index holds what the yaml (or its claim) gives
        expected = [c for c in call_patterns(written[pitfall["id"]]) if c["callee"] in callables]
        assert pitfall["calls"] == expected, pitfall["id"]
        assert pitfall["fix_literals"] == (fix_literals(written[pitfall["id"]]) if expected
                                           else []), pitfall["id"]
    stale = next(p for p in index["pitfalls"] if p["id"] == "save-overwrite-keeps-a-stale-adata")
    assert ["save_anndata", "True"] in stale["fix_literals"]


def test_a_draft_gets_the_pitfalls_of_its_calls_for_its_own_models(capsys, tmp_path):
    code, found = notes(capsys, tmp_path, DRAFT)
    assert code == 0  # notes are advice: no finding, exit 0
    by_id = {n["id"]: n for n in found}
    # predict on other cells than the model's own: the dropped labels column bites
    assert by_id["new-anndata-needs-the-labels-column"]["line"] == 11
    assert by_id["new-anndata-needs-the-labels-column"]["call"] == "SCANVI.predict"
    # the TrainerConfig goes to SCVI's train(): SCVI's pitfall, not SCANVI's
    assert by_id["scvi-train-overrides-early-stopping"]["line"] == 7
    assert "to SCVI.train" in by_id["scvi-train-overrides-early-stopping"]["call"]
    assert "scanvi-early-stopping-from-trainer-config" not in by_id
    assert all(n["cite"].count(":") == 1 and n["claim"] and n["fix"] for n in found)


def test_a_model_s_own_data_and_a_harmless_keyword_bring_no_note(capsys, tmp_path):
    own = DRAFT.replace("scanvi.predict(query)", "scanvi.predict(adata)") \
        .replace("TrainerConfig(early_stopping=True)", "TrainerConfig(early_stopping=False)")
    _code, found = notes(capsys, tmp_path, own)
    ids = {n["id"] for n in found}
    assert "new-anndata-needs-the-labels-column" not in ids
    assert "scvi-train-overrides-early-stopping" not in ids  # the claim writes =True
    _code, found = notes(capsys, tmp_path, "import scvi\nscvi.model.SCVI.setup_anndata(adata)\n"
                         "m = scvi.model.SCVI(adata)\nm.train(max_epochs=5)\n", "plain.py")
    assert found == []


def test_a_variable_carries_the_config_to_the_model_across_notebook_cells(capsys, tmp_path):
    cells = ["import scvi\ncfg = scvi.train.TrainerConfig(max_epochs=1)\n",
             "scvi.model.SCVI.setup_anndata(adata)\n"
             "m = scvi.model.SCVI(adata)\nm.train(trainer_config=cfg, max_epochs=1)\n"]
    book = {"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []}
                      for c in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    _code, found = notes(capsys, tmp_path, json.dumps(book), "analysis.ipynb")
    note = next(n for n in found if n["id"] == "trainer-config-max-epochs-and-accelerator-are-dropped")
    assert (note["cell"], note["line"]) == (1, 2) and "to SCVI.train" in note["call"]
    book["cells"][1]["source"] = book["cells"][1]["source"].replace("SCVI", "TOTALVI")
    _code, found = notes(capsys, tmp_path, json.dumps(book), "analysis.ipynb")
    assert note["id"] not in {n["id"] for n in found}  # the pitfall holds for SCVI only


def test_text_shows_at_most_three_notes_a_file_and_says_how_many_more(capsys, tmp_path):
    path = tmp_path / "answer.md"
    path.write_text(DRAFT + '''
```python
scvi.model.SCVI.setup_anndata(adata, continuous_covariate_keys=["pct"])
vae.save("out", overwrite=True)
vae.train(callbacks=my_callbacks)
```
''', encoding="utf-8")
    code = check_code.main([str(path)])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if ": pitfall " in line]
    assert code == 0 and len(lines) == MAX_NOTES
    assert out.splitlines()[0].startswith("proven pitfalls of these calls (scvi-tools 1.5.1")
    assert "more pitfall notes: --json lists up to" in out
    assert "pitfall note(s)" in err


def test_a_keyword_given_as_none_or_the_fix_s_value_brings_no_note(capsys, tmp_path):
    setup = "import scvi\nscvi.model.SCVI.setup_anndata(adata, continuous_covariate_keys={})\n"
    _code, found = notes(capsys, tmp_path, setup.format('["pct"]'), "a.py")
    assert "nan-in-continuous-covariate-passes-setup" in {n["id"] for n in found}
    _code, found = notes(capsys, tmp_path, setup.format("None"), "a.py")
    assert "nan-in-continuous-covariate-passes-setup" not in {n["id"] for n in found}
    save = "import scvi\nm = scvi.model.SCVI(adata)\nm.save('out', overwrite=True{})\n"
    _code, found = notes(capsys, tmp_path, save.format(""), "b.py")
    assert "save-overwrite-keeps-a-stale-adata" in {n["id"] for n in found}
    _code, found = notes(capsys, tmp_path, save.format(", save_anndata=True"), "b.py")
    assert "save-overwrite-keeps-a-stale-adata" not in {n["id"] for n in found}  # the fix


def test_a_number_the_entry_writes_itself_must_be_the_call_s(capsys, tmp_path):
    ppc = ("import scvi\nfrom scvi.criticism import PosteriorPredictiveCheck\n"
           "m = scvi.model.SCVI(adata)\nppc = PosteriorPredictiveCheck(adata, {{'m': m}}, "
           "n_samples={})\n")
    _code, found = notes(capsys, tmp_path, ppc.format(1), "c.py")
    assert "ppc-needs-more-than-one-sample" in {n["id"] for n in found}
    _code, found = notes(capsys, tmp_path, ppc.format(10), "c.py")
    assert "ppc-needs-more-than-one-sample" not in {n["id"] for n in found}
    # a claim's own numbers are examples: TrainerConfig(max_epochs=1) stands for any value
    assert parse_call("TrainerConfig(max_epochs=1)")["keywords"] == {"max_epochs": None}
    assert parse_call("TrainerConfig(max_epochs=1)", numbers=True)["keywords"] == \
        {"max_epochs": "1"}


def test_the_judged_notes_name_real_answer_lines_pitfalls_and_splits(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import bench_call_pitfalls as bench

    ids = {p["id"] for p in load_pitfalls(REPO / "references" / "pitfalls.yaml")}
    rows = [json.loads(line) for line in bench.LABELS.read_text().splitlines()]
    assert len(rows) >= 80
    for row in rows:
        path = bench.TRIALS / row["path"]
        assert path.is_file() and 1 <= row["line"] <= len(path.read_text().splitlines()), row
        assert row["id"] in ids and row["label"] in ("applies", "related", "off"), row
        number = int(row["path"].split("/")[0].removeprefix("round"))
        assert row["split"] == bench.split_of(number), row
    assert {row["split"] for row in rows} == {"dev", "test"}


def test_a_pattern_written_with_a_star_matches_every_call_of_its_model(capsys, tmp_path):
    """POISSONVI.get_library_size_factors() always fails (pitfall
    poissonvi-library-size-factors-fail, calls: ["get_library_size_factors(*)"]); PEAKVI's
    own works, so a PEAKVI draft gets no note."""
    assert parse_call("get_library_size_factors(*)") == {
        "callee": "get_library_size_factors", "keywords": {}, "keys": [], "new_data": False,
        "any": True}
    code = "import scvi\nm = scvi.external.POISSONVI(adata)\nsizes = m.get_library_size_factors()\n"
    _code, found = notes(capsys, tmp_path, code, "p.py")
    assert [(n["id"], n["line"]) for n in found] == [("poissonvi-library-size-factors-fail", 3)]
    _code, found = notes(capsys, tmp_path, code.replace("external.POISSONVI", "model.PEAKVI"),
                         "p.py")
    assert found == []


def test_a_long_claim_is_cut_at_a_sentence_end_outside_a_quoted_message():
    from scvi_skill.runtime.callpitfalls import _clip

    claim = ('It fails with "Number of proteins differs. Rerun setup." and ' + "x" * 50 + ". "
             + "More words follow here. " * 20)
    cut = _clip(claim, 200)
    assert len(cut) <= 200 and cut.count('"') % 2 == 0
    assert cut.endswith(".") and "Rerun setup." in cut
    assert _clip("short. text", 200) == "short. text"
    assert _clip("word " * 100, 40).endswith(" …")

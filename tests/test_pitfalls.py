"""references/pitfalls.yaml: every claim cites a line of the tree that holds its token and names
a proof test that exists, a stale citation fails the refresh and check_skill, and the pack adds
a pitfall only when a trigger matches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import refresh_maps
import resolve_docs
from scvi_skill.build.pitfalls import PitfallsError, check_pitfalls, check_proofs, load_pitfalls
from scvi_skill.check.checks import check_skill
from scvi_skill.check.pitfallcheck import pitfall_problems
from scvi_skill.runtime.index import load_index
from scvi_skill.runtime.tokens import tokenize

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini_tree"
SHIPPED = REPO / "references" / "pitfalls.yaml"


def test_shipped_pitfalls_cite_real_lines(pinned_tree):
    entries = load_pitfalls(SHIPPED)
    assert len(entries) >= 15
    assert all(e["applies_to"] and e["triggers"] and e["claim"] and e["fix"] for e in entries)
    assert all(e["text"].startswith(" ".join(e["claim"].split())) for e in entries)

    def read_lines(rel):
        path = pinned_tree.root / rel
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else None

    assert check_pitfalls(entries, read_lines) == []
    moved = [dict(entries[0], evidence=dict(entries[0]["evidence"], line=1))]
    assert check_pitfalls(moved, read_lines) and "does not hold" in check_pitfalls(moved, read_lines)[0]


def test_applies_to_names_model_cards(repo_root):
    cards = json.loads((repo_root / "references" / "model_cards.json").read_text())
    models = {public.rsplit(".", 1)[-1] for public in cards["models"]}
    for entry in load_pitfalls(SHIPPED):
        assert entry["applies_to"] == ["all"] or set(entry["applies_to"]) <= models, entry["id"]


def test_every_pitfall_is_proven_by_an_existing_test():
    entries = load_pitfalls(SHIPPED)
    assert check_proofs(entries, REPO) == []
    assert all(e["proof"].startswith("tests/test_pitfall_proofs.py::") for e in entries)
    wrong = [dict(entries[0], proof="tests/test_pitfall_proofs.py::test_no_such_proof")]
    assert "is not a test" in check_proofs(wrong, REPO)[0]


def _pitfall(token: str, proof: str = "tests/test_pitfall_proofs.py::test_mlx_extra_is_called_metal"
             ) -> str:
    return ("pitfalls:\n  - id: demo\n    applies_to: [SCVI]\n    claim: a demo claim\n"
            "    fix: a demo fix\n"
            f"    evidence: {{path: src/scvi/model/_scvi.py, line: 1, token: {json.dumps(token)}}}\n"
            f"    triggers: [demo words]\n    proof: {proof}\n")


def test_refresh_checks_and_ships_pitfalls(tmp_path, capsys):
    first_line = (MINI / "src/scvi/model/_scvi.py").read_text().splitlines()[0]
    refs = tmp_path / "refs"
    refs.mkdir()
    shutil.copyfile(MINI / "routing.yaml", refs / "routing.yaml")
    (refs / "pitfalls.yaml").write_text(_pitfall(first_line.strip()[:12]))
    argv = ["--tree", str(MINI), "--out", str(tmp_path / "out"), "--routing", str(refs / "routing.yaml")]
    assert refresh_maps.main(argv) == 0
    search = json.loads((tmp_path / "out" / "search_index.json").read_text())
    assert search["pitfalls"][0][0] == "demo" and search["pitfalls"][0][3] == [["demo", "word"]]
    capsys.readouterr()
    (refs / "pitfalls.yaml").write_text(_pitfall("no such token on that line"))
    assert refresh_maps.main(argv) == 1
    err = capsys.readouterr().err
    assert "demo" in err and "does not hold" in err


def test_malformed_pitfalls_file_is_one_clear_error(tmp_path):
    path = tmp_path / "pitfalls.yaml"
    path.write_text("pitfalls:\n  - id: x\n    text: missing keys\n")
    with pytest.raises(PitfallsError, match="keys must be"):
        load_pitfalls(path)
    path.write_text("pitfalls: [unclosed\n")
    with pytest.raises(PitfallsError, match="unreadable"):
        load_pitfalls(path)
    path.write_text(_pitfall("x", proof="test_somewhere"))
    with pytest.raises(PitfallsError, match="pytest node id"):
        load_pitfalls(path)


def test_check_skill_fails_when_an_evidence_token_is_gone(tmp_path, pinned_tree):
    refs = tmp_path / "references"
    refs.mkdir()
    shipped = SHIPPED.read_text(encoding="utf-8")
    (refs / "pitfalls.yaml").write_text(shipped, encoding="utf-8")
    assert pitfall_problems(tmp_path, pinned_tree) == []
    stale = shipped.replace("token: optional-dependencies.metal", "token: optional-dependencies.mlx")
    assert stale != shipped
    (refs / "pitfalls.yaml").write_text(stale, encoding="utf-8")
    problems = pitfall_problems(tmp_path, pinned_tree)
    assert len(problems) == 1 and "mlx-extra-is-metal" in problems[0][1]
    assert stale.splitlines()[problems[0][0] - 1].strip() == "- id: mlx-extra-is-metal"
    report = check_skill(tmp_path, index=load_index(), tree=pinned_tree)
    assert any(p.check == "pitfall" and p.path == "references/pitfalls.yaml"
               and "does not hold" in p.message for p in report.problems)


def test_pack_adds_matching_pitfalls_only(capsys, pinned_tree):
    assert resolve_docs.main(["--json", "--tree", str(pinned_tree.root),
                              "TOTALVI early stopping ignores my TrainerConfig"]) == 0
    report = json.loads(capsys.readouterr().out)
    ids = [p["id"] for p in report["pitfalls"]]
    assert "early-stopping-on-by-default" in ids
    assert all(":" in p["cite"] for p in report["pitfalls"])
    assert resolve_docs.main(["--json", "--tree", str(pinned_tree.root),
                              "how do I plot the latent space UMAP"]) == 0
    assert json.loads(capsys.readouterr().out)["pitfalls"] == []


def test_a_pasted_error_keeps_room_for_the_pitfall_that_explains_it(capsys, pinned_tree):
    """The raise sites of a pasted message fill the tail's share of the budget first; the
    first pitfall still gets its line (before, the sites and passages left it out)."""
    question = ("scANVI load_query_data fails: ValueError: Category Tcell_new not found in "
                "source registry. Cannot transfer setup without extend_categories = True")
    assert resolve_docs.main(["--tree", str(pinned_tree.root), question]) == 0
    text = capsys.readouterr().out
    assert "== raised at" in text and "== pitfalls" in text
    assert "load_query_data extends the batch categories but never the label" in text
    assert len(text) <= 1200 * 4 + 200


def test_pitfalls_with_the_longest_matching_trigger_come_first():
    from scvi_skill.runtime.pack import MAX_PITFALLS, match_pitfalls

    rows = [["broad", "Broad.", "a.py:1", [["lr"]], ["all"]],
            ["other", "Other.", "b.py:1", [["epoch"]], ["all"]],
            ["specific", "Specific.", "c.py:1", [["adversarial", "classifier", "lr"]], ["all"]]]
    sidx = {"pitfalls": rows, "model_facts": []}
    terms = ["adversarial", "classifier", "lr", "epoch"]
    ids = [p["id"] for p in match_pitfalls("", sidx, terms)]
    assert ids == ["specific", "broad", "other"][:MAX_PITFALLS]  # ties keep the file's order
    assert [p["id"] for p in match_pitfalls("", sidx, ["lr"])] == ["broad"]


def test_a_camelcase_word_of_the_question_meets_a_trigger_s_plain_word():
    """"DataFrame" tokenizes to its whole "dataframe" (and its parts), "dataframe" written
    plain to the stem "datafram": a trigger written in lower case still matches a question
    that writes the class's name."""
    from scvi_skill.runtime.pack import match_pitfalls
    from scvi_skill.runtime.rank import query_terms
    from scvi_skill.runtime.tokens import tokenize

    trigger = tokenize("scar ambient_profile dataframe")
    assert "datafram" in trigger and "dataframe" not in trigger
    sidx = {"pitfalls": [["frame", "F.", "a.py:1", [trigger], ["all"]]], "model_facts": []}
    question = "I pass my own gene-indexed DataFrame as SCAR's ambient_profile"
    terms = list(query_terms(question, []))
    assert "datafram" not in terms  # the question alone holds "dataframe", "data", "fram"
    assert [p["id"] for p in match_pitfalls(question, sidx, terms)] == ["frame"]
    assert match_pitfalls("", sidx, ["scar", "ambient_profile", "ambient", "profil"]) == []


def test_a_name_of_the_hint_completes_a_trigger_after_the_question_s_own_matches():
    """The hint (--also) is the names the agent means to use: a trigger the question and an
    identifier of the hint complete adds its pitfall after the question's own, marked
    via "also"; the hint's plain words complete none, and alone it matches nothing."""
    from scvi_skill.runtime.pack import HINT_PITFALLS, MAX_PITFALLS, match_pitfalls

    rows = [["clip", "Clip.", "a.py:1", [["gradient_clip_val"]], ["all"]],
            ["nan", "NaN.", "b.py:1", [["nan", "loss"]], ["all"]],
            ["lr", "Lr.", "c.py:1", [["plan_kwargs", "lr"]], ["all"]],
            ["words", "Words.", "d.py:1", [["gradient", "clipping"]], ["all"]]]
    sidx = {"pitfalls": rows, "model_facts": []}
    question = ["nan", "loss", "lr"]
    assert [p["id"] for p in match_pitfalls("", sidx, question)] == ["nan"]
    found = match_pitfalls("", sidx, question, ["gradient_clip_val", "gradient", "clipping"])
    assert [(p["id"], p.get("via")) for p in found] == \
        [("nan", None), ("clip", "also")][:MAX_PITFALLS]
    found = match_pitfalls("", sidx, ["lr"], ["plan_kwargs"])  # the question's lr, the hint's
    assert [(p["id"], p.get("via")) for p in found] == [("lr", "also")]
    assert match_pitfalls("", sidx, [], ["gradient", "clipping"]) == []  # plain words only
    assert [p["id"] for p in match_pitfalls("", sidx, [], ["gradient_clip_val"])] == ["clip"]
    # The question's own pitfalls fill the room: the hint's still gets one place after them.
    sidx["pitfalls"].append(["cuda", "Cuda.", "e.py:1", [["nan", "cuda"]], ["all"]])
    found = match_pitfalls("", sidx, question + ["cuda"], ["gradient_clip_val"])
    assert [p["id"] for p in found] == ["nan", "cuda", "clip"][:MAX_PITFALLS + HINT_PITFALLS]


def test_the_pack_marks_a_pitfall_the_hint_matched(capsys, pinned_tree):
    question = "totalVI training gives NaN loss after a few epochs, how do I stabilise it?"
    assert resolve_docs.main([question]) == 0
    assert "== pitfalls" not in capsys.readouterr().out
    assert resolve_docs.main(["--also", "TOTALVI gradient_clip_val lr", question]) == 0
    out = capsys.readouterr().out
    line = next(t for t in out.splitlines() if "gradient_clip_val raises" in t)
    assert line.startswith("- (a name of your --also) TOTALVI, MULTIVI and CYTOVI")
    assert resolve_docs.main(["--json", "--also", "TOTALVI gradient_clip_val", question]) == 0
    pitfalls = json.loads(capsys.readouterr().out)["pitfalls"]
    assert [(p["id"], p.get("via")) for p in pitfalls] == [("manual-optimization-clip", "also")]


def test_a_trigger_of_rarer_words_comes_first():
    """Of two triggers of two words, the one whose words fewer passages hold says more:
    "savecheckpoint nan" before "checkpoint train", though it comes later in the file."""
    from scvi_skill.runtime.formats import SLOT_PASSAGE
    from scvi_skill.runtime.pack import match_pitfalls

    def posting(n: int) -> list[str]:
        entry = [""] * (SLOT_PASSAGE + 1)
        entry[SLOT_PASSAGE] = " ".join(f"{unit}:9" for unit in range(n))
        return entry

    sidx = {"pitfalls": [["removes", "R.", "a.py:1", [["checkpoint", "train"]], ["all"]],
                         ["hook", "H.", "b.py:1", [["savecheckpoint", "nan"]], ["all"]]],
            "model_facts": [], "passages": [[]] * 100,
            "terms": {"checkpoint": posting(40), "train": posting(90),
                      "savecheckpoint": posting(3), "nan": posting(20)}}
    terms = ["checkpoint", "train", "savecheckpoint", "nan"]
    assert [p["id"] for p in match_pitfalls("", sidx, terms)] == ["hook", "removes"]
    del sidx["terms"]["nan"]  # a word no passage holds is the rarest of all
    assert [p["id"] for p in match_pitfalls("", sidx, terms)][0] == "hook"


def test_scvi_names_the_model_only_where_it_is_not_the_package():
    """"scvi-tools", "import scvi" and "CondSCVI" do not name the SCVI model; before, they
    did, and the pitfalls of the model a question was about (AmortizedLDA, DestVI) gave way
    to SCVI's."""
    from scvi_skill.runtime.pack import named_models

    sidx = {"model_facts": [["scvi", "f", "a.py:1", []], ["amortizedlda", "f", "b.py:1", []],
                            ["condscvi", "f", "c.py:1", []]]}

    def models(question: str) -> set[str]:
        return named_models(sidx, tokenize(question), question)

    assert models("I use scvi-tools 1.3 with AmortizedLDA") == {"amortizedlda"}
    assert models("import scvi\nCondSCVI.setup_anndata fails") == {"condscvi"}
    assert models("scvi.model.SCANVI.load_query_data") == set()
    for question in ("I train scVI on my data", "model_scvi.train(max_epochs=5)",
                     "scvi.model.SCVI.setup_anndata(adata)", "Is this a bug in scVI?"):
        assert models(question) == {"scvi"}, question
    assert models("the LDA topic model in scvi trains longer than documented") == set()
    assert models("using scvi for integration") == {"scvi"}
    assert named_models(sidx, tokenize("I use scvi-tools")) == {"scvi"}  # no question: terms only


def test_a_model_named_inside_a_dotted_call_is_named():
    """The stemmer cuts "spatialstereoscope" to "spatialstereoscop" among a dotted call's
    parts; the class name written with its capitals still names the model (the lowercase
    word, which the stemmer cuts the same way, does not). A path's ``/scvi/`` is the package,
    not the SCVI model."""
    from scvi_skill.runtime.pack import named_models

    sidx = {"model_facts": [["scvi", "f", "a.py:1", []], ["spatialstereoscope", "f", "b.py:1", []]]}

    def models(question: str) -> set[str]:
        return named_models(sidx, tokenize(question), question)

    assert models("st = scvi.external.SpatialStereoscope.from_rna_model(st, sc)") == {
        "spatialstereoscope"}
    assert models("SpatialStereoscope.get_proportions fails") == {"spatialstereoscope"}
    assert models("my spatialstereoscope run fails") == set()
    assert models('File ".../scvi/external/stereoscope/_model.py", line 284') == set()
    assert models("train scvi on it") == {"scvi"}


def test_a_trigger_naming_a_model_holds_for_each_model_the_pitfall_applies_to():
    from scvi_skill.build.search_index import _pitfall_triggers

    pitfall = {"applies_to": ["TOTALVI", "VELOVI"],
               "triggers": ["totalvi early stopping", "stops early", "velovi early stopping"]}
    assert _pitfall_triggers(pitfall) == [["totalvi", "early", "stop"], ["velovi", "early", "stop"],
                                          ["stop", "early"]]
    assert _pitfall_triggers({"applies_to": ["all"], "triggers": ["scvi early stopping"]}) == [
        ["scvi", "early", "stop"]]


def test_shipped_model_triggers_reach_the_other_models(capsys, pinned_tree):
    """"totalvi stops" was written for TOTALVI; veloVI, which the pitfall also applies to,
    gets it too."""
    assert resolve_docs.main(["--json", "--tree", str(pinned_tree.root),
                              "VELOVI stops at epoch 180 though I set max_epochs=500"]) == 0
    ids = [p["id"] for p in json.loads(capsys.readouterr().out)["pitfalls"]]
    assert "early-stopping-on-by-default" in ids

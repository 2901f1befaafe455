"""benchmarks/pitfall_questions.jsonl (questions written per pitfall by a helper that never saw
the triggers) names real pitfalls, keeps its frozen split, and the pack shows the pitfall for
nearly every question of the split the triggers were tuned on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from scvi_skill.build.pitfalls import load_pitfalls
from scvi_skill.runtime.index import load_search_index
from scvi_skill.runtime.pack import match_pitfalls
from scvi_skill.runtime.rank import query_terms

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "benchmarks" / "pitfall_questions.jsonl"


def rows() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]


def test_every_question_names_a_shipped_pitfall_two_per_split_and_pitfall():
    ids = {p["id"] for p in load_pitfalls(REPO / "references" / "pitfalls.yaml")}
    questions = rows()
    assert len({r["id"] for r in questions}) == len(questions)
    per = Counter((r["pitfall"], r["split"]) for r in questions)
    assert {pid for pid, _ in per} == ids
    assert set(per.values()) == {2} and {split for _, split in per} == {"pdev", "pdev2", "ptest"}


def test_the_pack_shows_the_pitfall_for_the_tuning_questions():
    sidx = load_search_index()
    dev = [r for r in rows() if r["split"] == "pdev"]
    shown = [r["id"] for r in dev
             if r["pitfall"] in [p["id"] for p in match_pitfalls(
                 r["question"], sidx, sorted(query_terms(r["question"], [],
                                                         vocabulary=sidx["terms"])))]]
    assert len(shown) >= 0.95 * len(dev), sorted({r["id"] for r in dev} - set(shown))


def test_benchmark_prints_the_pack_beside_its_baselines(capsys):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_pitfalls

    sidx = load_search_index()
    question = "the LDA in scvi-tools trains for more epochs than the docs say is the default"
    terms = bench_pitfalls.own_terms(question, sidx)
    assert "doc-amortizedlda-max-epochs" in [p["id"] for p in match_pitfalls(question, sidx, terms)]
    assert "doc-amortizedlda-max-epochs" not in bench_pitfalls.previous_match(question, sidx, terms)
    assert bench_pitfalls.main([]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == (
        ["| pack"] * 3 + ["| previous matching"] * 3 + ["| claim BM25, top 1"] * 3)

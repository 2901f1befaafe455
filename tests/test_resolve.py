"""resolve_docs.py on the shipped search index: output shape, sanity questions, bad input."""

from __future__ import annotations

import io
import json
import time

import pytest

import resolve_docs
from scvi_skill import PINNED_SCVI_TOOLS
from scvi_skill.index import SEARCH_INDEX_PATH

DOC_KEYS = {"path", "title", "section", "lines", "score", "url"}
SOURCE_KEYS = {"path", "symbol", "line", "score"}

# Sanity questions written for these tests (not taken from benchmarks/devset.jsonl).
SANITY = [
    pytest.param(
        "what is the difference between batch_key and categorical_covariate_keys for my donors",
        "docs/faq.md", "src/scvi/model/_scvi.py", id="covariates",
    ),
    pytest.param(
        "how do I train on 4 GPUs with the DDP strategy",
        "docs/user_guide/use_case/multi_gpu_training.md", "src/scvi/train/_trainer.py", id="multi-gpu",
    ),
    pytest.param(
        "set early_stopping_patience through TrainerConfig",
        "docs/user_guide/use_case/training_configuration.md", "src/scvi/train/_config.py", id="config",
    ),
    pytest.param(
        "map my query dataset onto a SCANVI reference with load_query_data",
        "docs/user_guide/background/transfer_learning.md", "src/scvi/model/base/_archesmixin.py",
        id="query-mapping",
    ),
    pytest.param(
        "hyperparameter search for scvi with ray tune",
        "docs/user_guide/use_case/hyper_parameters_tuning.md", "src/scvi/autotune/_tune.py", id="autotune",
    ),
]


def run(capsys, *argv):
    code = resolve_docs.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, "--json", *argv)
    return code, json.loads(out) if out.strip() else None, err


@pytest.mark.parametrize(("question", "doc", "source"), SANITY)
def test_sanity_questions(capsys, question, doc, source):
    code, report, _ = run_json(capsys, question)
    assert code == 0
    assert doc in [d["path"] for d in report["docs"][:3]]
    assert source in [s["path"] for s in report["source"][:5]]


def test_json_shape_is_exact(capsys):
    code, report, _ = run_json(capsys, "--limit", "4", "my scVI loss is NaN after a few epochs")
    assert code == 0
    assert set(report) == {"query", "scvi_tools_version", "docs", "source", "routes"}
    assert report["query"] == "my scVI loss is NaN after a few epochs"
    assert 1 <= len(report["docs"]) <= 4 and 1 <= len(report["source"]) <= 4
    for doc in report["docs"]:
        assert set(doc) == DOC_KEYS
        start, end = doc["lines"]
        assert 1 <= start <= end
        assert doc["url"].endswith("/" + doc["path"]) and report["scvi_tools_version"] in doc["url"]
    for src in report["source"]:
        assert set(src) == SOURCE_KEYS
        assert src["path"].startswith(("src/", "tests/"))
    paths = [d["path"] for d in report["docs"]]
    assert len(paths) == len(set(paths)), "docs are distinct documents"
    scores = [d["score"] for d in report["docs"]]
    assert scores == sorted(scores, reverse=True)
    assert report["docs"][0]["path"] == "docs/faq.md"
    assert "NaN" in report["docs"][0]["section"]


def test_section_lines_point_at_headings(capsys, pinned_tree):
    for question in ("scvi-hub pull a pretrained model", "transform_batch counterfactual", "minify adata"):
        _, report, _ = run_json(capsys, question)
        for doc in report["docs"]:
            lines = (pinned_tree.root / doc["path"]).read_text(encoding="utf-8").splitlines()
            start, end = doc["lines"]
            assert end <= len(lines)
            first = lines[start - 1]
            assert first.startswith("#") or lines[start].startswith(("==", "--")), (doc, first)


def test_routes_to_sibling_skill(capsys):
    _, report, _ = run_json(capsys, "what is the ELBO derivation in scVI")
    assert [r["skill"] for r in report["routes"]] == ["scvi-tools-user-guide"]
    _, report, _ = run_json(capsys, "does scvi support my loss being NaN")
    assert report["routes"] == []


def test_text_mode_is_short_and_actionable(capsys):
    code, out, _ = run(capsys, "--limit", "50", "SCVI.setup_anndata layer for raw counts")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) <= 40
    assert any(":" in l and l.strip()[0].isdigit() for l in lines)
    assert "search_source.py --symbol" in out
    assert "Next:" in out


def test_text_mode_with_tree_adds_excerpts(capsys, pinned_tree):
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "batch_key categorical_covariate_keys")
    assert code == 0
    assert "| " in out and "batch_key" in out


@pytest.mark.parametrize(
    "question",
    [
        pytest.param("$(rm -rf ~) `id` && echo pwned", id="shell"),
        pytest.param(r"batch_key.*?(\d+)[a-z]{2,}\\", id="regex"),
        pytest.param("\"quoted\" 'single' ; | > <", id="quotes"),
        pytest.param("Zellen 細胞 λ-NaN ümlaut", id="unicode"),
        pytest.param("--batch_key", id="dash"),
    ],
)
def test_metacharacters_are_plain_text(capsys, question):
    code, report, err = run_json(capsys, "--", question)
    assert code in (0, 1), err
    assert report["query"] == question


def test_100kb_question_is_bounded(capsys):
    question = ("my scVI model NaN loss with batch_key and layer counts " * 2000)[:100_000]
    start = time.monotonic()
    code, report, err = run_json(capsys, question)
    assert time.monotonic() - start < 10
    assert code == 0 and report["docs"]
    assert "characters" in err
    assert len(report["query"]) <= 4000, "the echoed query is bounded too"


def test_stdin_question(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("how to save and load a model\n".encode())))
    code, report, _ = run_json(capsys, "-")
    assert code == 0
    assert report["query"] == "how to save and load a model"
    assert "docs/user_guide/use_case/saving_and_loading_models.md" in [d["path"] for d in report["docs"][:3]]


@pytest.mark.parametrize("argv", [[""], ["   ", "\t"], [], ["x", "--limit", "0"], ["x", "--limit", "999"]])
def test_usage_errors(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("Error: ")


def test_nothing_matches_exits_1(capsys):
    code, report, _ = run_json(capsys, "zzqx qqzv")
    assert code == 1 and report["docs"] == [] and report["source"] == []


@pytest.mark.parametrize(
    ("content", "word"),
    [
        pytest.param(None, "missing", id="missing"),
        pytest.param(b"{not json", "not valid JSON", id="corrupt"),
        pytest.param(b'{"format": 99}', "format", id="format"),
        pytest.param(b"[1, 2]", "format", id="not-an-object"),
    ],
)
def test_bad_index_exits_6(capsys, tmp_path, content, word):
    path = tmp_path / "search_index.json"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(capsys, "--index", str(path), "some question")
    assert code == 6 and out == ""
    assert word in err and "refresh_maps.py" in err


def test_shipped_index_matches_pinned_version():
    data = json.loads(SEARCH_INDEX_PATH.read_text(encoding="utf-8"))
    assert data["_generated"].startswith("generated by scripts/refresh_maps.py")
    assert data["scvi_tools_version"] == PINNED_SCVI_TOOLS
    assert data["upstream"].endswith(f"/{PINNED_SCVI_TOOLS}/")


def test_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        resolve_docs.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out and '"routes"' in out


def test_wrong_tree_exits_4_but_env_tree_only_warns(capsys, tmp_path, monkeypatch):
    code, out, err = run(capsys, "--tree", str(tmp_path), "batch_key")
    assert code == 4 and out == "" and "not an scvi-tools tree" in err
    monkeypatch.setenv("SCVI_TOOLS_TREE", str(tmp_path))
    code, out, err = run(capsys, "batch_key")
    assert code == 0 and "docs/faq.md" in out
    assert "no excerpts" in err

"""resolve_docs.py on the shipped search index: output shape, sanity questions, bad input."""

from __future__ import annotations

import io
import json
import time

import pytest
import resolve_docs
from scvi_skill.runtime import PINNED_SCVI_TOOLS
from scvi_skill.runtime.index import SEARCH_INDEX_PATH

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


RANGE_QUESTIONS = (
    "scvi-hub pull a pretrained model",
    "transform_batch counterfactual",
    "minify adata",
    "how does scANVI use the unlabeled cells",  # the H1 of a page with H2/H3 children
    "what changed in 1.5.1",  # CHANGELOG version sections
    "is there a tutorial for AnnCollection disk-backed training",  # tutorial cards
    "where is scvi.model.SCVI in the API reference",  # autosummary pages
)


@pytest.fixture(scope="module")
def shipped_index():
    return json.loads(resolve_docs.SEARCH_INDEX_PATH.parent.joinpath("index.json").read_text("utf-8"))


def test_returned_lines_are_the_scored_span(capsys, pinned_tree, shipped_index):
    """Every returned range is one scored unit: a section's heading and its own body (no
    subsection, trailing blank lines dropped), or one tutorial card."""
    docs = {d["path"]: d for d in shipped_index["docs"]}
    cards = {(t["card_in"], t["line"]): t["end"] for t in shipped_index["tutorials"]}
    seen = set()
    for question in RANGE_QUESTIONS:
        _, report, _ = run_json(capsys, question)
        for doc in report["docs"]:
            lines = (pinned_tree.root / doc["path"]).read_text(encoding="utf-8").splitlines()
            start, end = doc["lines"]
            assert 1 <= start <= end <= len(lines)
            by_start = {s["start"]: s for s in docs[doc["path"]]["sections"]}
            starts = sorted(by_start)
            if (doc["path"], start) in cards:
                assert end == cards[(doc["path"], start)]
                assert "customcard" in lines[start - 1]
                seen.add("card")
                continue
            first = lines[start - 1]
            assert first.startswith("#") or lines[start].startswith(("==", "--")), (doc, first)
            section = by_start[start]
            if section["body_end"] == start:  # a bare heading is read with its subsections
                assert start < end <= section["end"]
                seen.add("heading only")
                continue
            nxt = next((s for s in starts if s > start), len(lines) + 1)
            assert end < nxt, (question, doc, "a subsection is inside the range")
            assert all(not t.strip() for t in lines[end:nxt - 1]), (question, doc, "range stops early")
            assert lines[end - 1].strip() or end == start
            if section["end"] > end:
                seen.add("parent")
            if doc["path"].startswith("docs/api/"):
                seen.add("api")
    assert seen == {"card", "heading only", "parent", "api"}


def test_parent_section_range_is_its_own_body(capsys, pinned_tree, shipped_index):
    """A hit on a model page's H1 returns the introduction, not the whole page."""
    _, report, _ = run_json(capsys, "how does scANVI use the unlabeled cells")
    doc = next(d for d in report["docs"] if d["path"] == "docs/user_guide/models/scanvi.md")
    page = next(d for d in shipped_index["docs"] if d["path"] == doc["path"])
    h1 = page["sections"][0]
    child = page["sections"][1]
    assert h1["level"] == 1 and h1["end"] == page["n_lines"] and child["start"] > h1["start"]
    if doc["section"] == h1["title"]:
        assert doc["lines"] == [1, h1["body_end"]]
        assert h1["body_end"] < child["start"] and doc["lines"][1] - doc["lines"][0] < h1["end"] / 4
    lines = (pinned_tree.root / doc["path"]).read_text(encoding="utf-8").splitlines()
    text = "\n".join(lines[h1["start"] - 1 : h1["body_end"]])
    assert h1["text"].split()[0] in text and child["title"] not in text


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


def test_text_mode_uses_the_cached_pinned_tree(capsys, pinned_tree, tmp_path, monkeypatch):
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty"))
    _, without, _ = run(capsys, "batch_key categorical_covariate_keys")
    assert "| " not in without and "read docs/" in without
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"scvi-tools-{PINNED_SCVI_TOOLS}").symlink_to(pinned_tree.root)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(cache))
    code, out, _ = run(capsys, "batch_key categorical_covariate_keys")
    assert code == 0
    assert "| " in out
    read = next(l for l in out.splitlines() if l.strip().startswith("read "))
    assert str(pinned_tree.root) in read  # a path the agent can open from any folder


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

"""resolve_docs.py on the shipped search index: output shape, sanity questions, bad input."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
import resolve_docs
from scvi_skill.runtime import PINNED_SCVI_TOOLS, pack
from scvi_skill.runtime.index import SEARCH_INDEX_PATH

DOC_KEYS = {"path", "title", "section", "lines", "score", "url", "text"}
SOURCE_KEYS = {"path", "symbol", "line", "score"}
REPORT_KEYS = {"query", "scvi_tools_version", "tree", "docs", "passages", "ranges", "source",
               "pitfalls", "raise_sites", "access_sites", "frames", "model_facts", "routes",
               "pack"}

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
    assert set(report) == REPORT_KEYS
    assert report["query"] == "my scVI loss is NaN after a few epochs"
    entries = [s for s in report["source"] if s["kind"] == "entry"]
    defs = [s for s in report["source"] if s["kind"] == "def"]
    assert 1 <= len(report["docs"]) <= 4 and 1 <= len(entries) <= 4
    assert len(defs) <= pack.DEF_FACTS and report["source"] == entries + defs
    assert len({s["path"] for s in entries}) == len(entries), "entries are distinct files"
    for doc in report["docs"]:
        assert DOC_KEYS <= set(doc) <= DOC_KEYS | {"section_lines"}
        start, end = doc["lines"]
        assert 1 <= start <= end
        assert doc["url"].endswith("/" + doc["path"]) and report["scvi_tools_version"] in doc["url"]
    for src in report["source"]:
        assert SOURCE_KEYS <= set(src)
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


def test_returned_lines_are_passages_inside_their_section(capsys, pinned_tree, shipped_index):
    """Every returned range is what to read, never a whole file: a passage (with its short
    section or its neighbours, at most 20 lines) inside its section's own body, or, for a doc
    ranked without a passage, one section or tutorial card. ``text`` is those lines verbatim."""
    docs = {d["path"]: d for d in shipped_index["docs"]}
    seen = set()
    for question in RANGE_QUESTIONS:
        _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
        assert report["tree"] is True
        for doc in report["docs"]:
            lines = (pinned_tree.root / doc["path"]).read_text(encoding="utf-8").splitlines()
            start, end = doc["lines"]
            assert 1 <= start <= end <= len(lines)
            if "section_lines" in doc:  # a passage of that section
                sec_start, sec_end = doc["section_lines"]
                owner = next(s for s in docs[doc["path"]]["sections"] if s["start"] <= start <= s["end"])
                assert end - start < 20 or end <= owner["body_end"]
                assert lines[start - 1].strip() and lines[end - 1].strip()
                assert doc["text"] == "\n".join(t.rstrip() for t in lines[start - 1 : end])
                seen.add("passage")
            else:
                seen.add("section")
            if doc["path"] == "CHANGELOG.md":
                seen.add("changelog")
    assert {"passage", "changelog"} <= seen


def test_pack_passages_are_verbatim_and_within_budget(capsys, pinned_tree):
    for budget in (200, 600, 1200, 3000):
        code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", str(budget),
                           "how does scANVI use the unlabeled cells")
        assert code == 0
        lines = out.splitlines()
        headers = [l for l in lines if l.startswith("== docs/") or l.startswith("== CHANGELOG")]
        assert headers, out
        # Never over budget by more than one passage header (chars / 4).
        assert len(out) / 4 <= budget + max(len(h) for h in headers) / 4 + 1
        path, span = headers[0][3:].split(" | ")[0].rsplit(":", 1)
        start, end = map(int, span.split("-"))
        body = lines[lines.index(headers[0]) + 1 :]
        source = (pinned_tree.root / path).read_text(encoding="utf-8").splitlines()
        quoted = [t for t in source[start - 1 : end]]
        assert body[: min(len(body), len(quoted))][0].rstrip() == quoted[0].rstrip()


def test_routes_to_sibling_skill(capsys):
    _, report, _ = run_json(capsys, "what is the ELBO derivation in scVI")
    assert [r["skill"] for r in report["routes"]] == ["scvi-tools-user-guide"]
    _, report, _ = run_json(capsys, "does scvi support my loss being NaN")
    assert report["routes"] == []


def test_text_mode_is_the_pack(capsys, pinned_tree):
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--limit", "50",
                       "SCVI.setup_anndata layer for raw counts")
    assert code == 0
    assert len(out) / 4 <= 1200 + 40
    assert out.splitlines()[0].startswith("scvi-tools ")
    assert any(l.startswith("== docs/") for l in out.splitlines())
    assert "== source" in out and "src/scvi/model/_scvi.py:" in out
    assert "def setup_anndata(" in out or "class SCVI(" in out


def test_pack_names_the_parameter_the_question_asks_about(capsys, pinned_tree):
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", "2000",
                    "what does load_sparse_tensor do in SCVI.train")
    assert "param load_sparse_tensor (src/scvi/model/base/_training_mixin.py:" in out
    assert "load_sparse_tensor: bool = False," in out


def test_pack_finds_the_parameter_the_question_describes_without_naming_it(capsys, pinned_tree):
    # "dropout" is a word of the question, freeze_dropout the parameter of load_query_data.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", "2000",
                    "after load_query_data the query model keeps dropout on while it trains, "
                    "can I turn that off?")
    assert "param freeze_dropout (src/scvi/model/base/_archesmixin.py:" in out
    assert "Whether to freeze dropout during training" in out


def test_param_entries_are_read_from_the_numpy_docstring(pinned_tree):
    from scvi_skill.runtime.pack import _doc_entries

    lines = (pinned_tree.root / "src/scvi/model/base/_archesmixin.py").read_text(
        encoding="utf-8").splitlines()
    first = next(n for n, t in enumerate(lines) if "def load_query_data(" in t)
    entries = {name: (a, b) for name, a, b, template in _doc_entries(lines, first)
               if template is None}
    assert {"adata", "reference_model", "freeze_dropout", "datamodule"} <= set(entries)
    assert "Returns" not in entries and "cls" not in entries
    a, b = entries["freeze_dropout"]
    assert lines[a].strip() == "freeze_dropout" and "freeze dropout" in lines[b]


def test_a_templated_parameter_entry_is_quoted_from_its_template(capsys, pinned_tree):
    # RNASeqMixin.differential_expression documents batch_correction as
    # %(de_batch_correction)s: the text is in scvi/utils/_docstrings.py.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--json",
                    "marker genes per cluster with model.differential_expression(groupby="
                    "'leiden'): should I set batch_correction=True?")
    facts = [s for s in json.loads(out)["source"] if s.get("param") == "batch_correction"]
    assert facts, out
    fact = facts[0]
    assert fact["param_path"] == "src/scvi/utils/_docstrings.py"
    lines = (pinned_tree.root / fact["param_path"]).read_text(encoding="utf-8").splitlines()
    first, last = fact["param_lines"]
    assert lines[first - 1].strip() == "batch_correction"
    assert "correct for batch effects" in " ".join(lines[first - 1 : last])
    # Quoted verbatim, after the parameter's signature line.
    assert fact["param_doc"].splitlines()[1:] == lines[first - 1 : last]
    assert fact["param_doc"].splitlines()[0] == "batch_correction: bool = False,"
    # The def's own docstring holds only the template's name.
    own = (pinned_tree.root / fact["path"]).read_text(encoding="utf-8")
    assert "%(de_batch_correction)s" in own


def test_a_parameter_the_question_describes_can_be_a_templated_one(capsys, pinned_tree):
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", "2000",
                    "TOTALVI.train(accelerator='cpu', devices=1) still uses the GPU")
    assert re.search(r"param (devices|accelerator) \(src/scvi/utils/_docstrings\.py:\d+-\d+\):",
                     out), out
    # A template line names an entry; it is not a window of the question's terms.
    assert "%(param_" not in out, out


def test_a_parameter_entry_continues_across_a_blank_line(pinned_tree):
    from scvi_skill.runtime.pack import _doc_entries

    lines = (pinned_tree.root / "src/scvi/external/scviva/_model.py").read_text(
        encoding="utf-8").splitlines()
    first = next(n for n, t in enumerate(lines) if t.startswith("class SCVIVA("))
    entries = {name: (a, b) for name, a, b, _ in _doc_entries(lines, first)}
    a, b = entries["dispersion"]
    assert lines[a + 1].strip() == "One of the following:" and not lines[a + 2].strip()
    assert "'gene-batch'" in "\n".join(lines[a : b + 1])
    assert b < entries["gene_likelihood"][0]


def test_a_parameter_name_and_its_parts_count_once(capsys, pinned_tree):
    # "gene" three times and gene_likelihood (a routing synonym of dispersion) must not
    # outweigh the parameter the question is about.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "which dispersion options does SCVIVA accept: gene, gene-batch, gene-label "
                    "or gene-cell?")
    assert "param dispersion (src/scvi/external/scviva/_model.py:" in out, out
    assert "dispersion can differ between different batches" in out


def test_the_parts_of_a_named_parameter_match_no_other_parameter(capsys, pinned_tree):
    # MULTIVI.setup_anndata takes no labels_key; batch_key shares only "key" with it.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "MULTIVI.setup_anndata: can I pass a labels_key like in scvi?")
    assert "param batch_key" not in out, out


def test_source_windows_skip_imports(capsys, pinned_tree):
    from scvi_skill.runtime.pack import SourceFact, _best_window

    lines = ["from scvi.data._constants import _SETUP_METHOD_NAME, _SETUP_ARGS_KEY",
             "import numpy as np", "", "def f(registry):", "    x = 1",
             "    setup_method_name = registry.get(_SETUP_METHOD_NAME)", "    return x"]
    fact = SourceFact("src/x.py", 4, "f")
    _best_window(fact, lines, {"setup_method_name": 9.0, "setup": 3.0, "method": 2.0,
                               "name": 2.0, "registry": 1.0})
    assert fact.window and fact.window[0] >= 5, fact.window


def test_a_window_is_chosen_for_what_the_def_name_does_not_say():
    """The header shows the def's name already: a docstring line repeating its words must not
    win over the body line that holds the question's other terms."""
    from scvi_skill.runtime.pack import SourceFact, _best_window

    lines = ["def predict_niche_activation(self, adata):", '    """', "    Predict the",
             "    niche activation of each cell.", '    """', "    out = []", "    x = 1",
             "    y = 2", "    z = 3", "    w = 4", "    v = 5", "    u = 6",
             "    p = decoder(z, batch_index)  # no batch correction here", "    return p"]
    fact = SourceFact("src/x.py", 1, "scvi.x.Model.predict_niche_activation")
    idf = {"predict": 4.0, "nich": 5.0, "activat": 6.0, "batch": 3.0, "correction": 4.0}
    _best_window(fact, lines, idf)
    assert fact.window and fact.window[0] <= 13 <= fact.window[1], fact.window
    assert any("no batch correction" in t for t in fact.window_text)
    # Without the name in the header the docstring's three rare words would win (15 vs 7).
    anonymous = SourceFact("src/x.py", 1, "")
    _best_window(anonymous, lines, idf)
    assert anonymous.window and anonymous.window[1] < 13, anonymous.window



def test_a_window_whose_lines_decide_wins_over_one_that_only_assigns(monkeypatch):
    """Two windows hold the same query terms: the one whose matching lines are a condition and
    a raise (what happens when) wins over assignments, by WINDOW_DECIDES a line; without the
    lift the earlier one would (trial round 72: resolVI's `if weights == "importance"`)."""
    from scvi_skill.runtime import pack as pk

    lines = ["def de(self, weights='uniform'):", "    importance = weights", "    n = 1",
             "    sampling = importance", *["    pass"] * 8,
             "    if weights == 'importance':", "        raise ValueError('sampling')",
             "    return n"]
    idf = {"importanc": 5.0, "weight": 3.0, "sampl": 4.0}
    fact = pk.SourceFact("src/x.py", 1, "scvi.x.Model.de")
    pk._best_window(fact, lines, idf)
    assert fact.window and fact.window[0] <= 13 <= fact.window[1], fact.window
    assert any("raise ValueError" in t for t in fact.window_text)
    monkeypatch.setattr(pk, "WINDOW_DECIDES", 0.0)
    flat = pk.SourceFact("src/x.py", 1, "scvi.x.Model.de")
    pk._best_window(flat, lines, idf)
    assert flat.window and flat.window[1] < 13, flat.window

def test_a_source_window_names_the_def_that_holds_it():
    from scvi_skill.runtime.pack import SourceFact, _enclosing_headers, _point_at_window

    lines = ["class First:", "    pass", "", "", "class Second:", "    def run(self, x):",
             "        if x:", "            y = x", "        return y"]
    assert _enclosing_headers(lines, 7) == [5, 4]
    fact = SourceFact("src/scvi/pkg/_mod.py", 1, "scvi.pkg.First")
    fact.window = [8, 9]
    _point_at_window(fact, lines, fact.path)
    assert (fact.line, fact.symbol) == (6, "scvi.pkg._mod.Second.run")
    assert fact.signature.startswith("def run(")
    inside = SourceFact("src/scvi/pkg/_mod.py", 5, "scvi.pkg.Second")
    inside.window = [8, 9]
    _point_at_window(inside, lines, inside.path)  # already the class holding it: unchanged
    assert (inside.line, inside.symbol) == (5, "scvi.pkg.Second")


def test_a_def_span_ends_where_its_indentation_does():
    from scvi_skill.runtime.pack import _def_span

    lines = ["class A:", "    def kl(self, qz,", "           prior=None):", '        """Doc."""',
             "", "        return qz.sum(dim=1)", "", "    def other(self):", "        pass"]
    assert _def_span(lines, 1) == (1, 5)
    assert _def_span(lines, 7) == (7, 8)
    assert _def_span(lines, 0) is None  # a class: no own-def window


def test_a_named_parameter_gets_a_window_inside_its_own_def(pinned_tree):
    """The def the question names and whose parameter it names: the window comes from that
    def's own body (where the parameter is used), not from elsewhere in the file."""
    from scvi_skill.runtime.pack import _Reader, _source_facts

    path = "src/scvi/module/base/_priors.py"
    lines = pinned_tree.to_disk(path).read_text(encoding="utf-8").splitlines()
    line = next(n for n, t in enumerate(lines, 1) if "def kl(self, qz" in t)
    question = "what shape does GaussianPrior.kl(qz) return, summed over latent dims?"
    facts = _source_facts([{"path": path, "line": line, "symbol": "GaussianPrior.kl"}], question,
                          _Reader(pinned_tree), {"kl": 6.0, "qz": 5.0, "sum": 3.0, "dim": 3.0,
                                                 "latent": 2.0, "shape": 2.0, "return": 1.0})
    fact = facts[0]
    assert fact.param == "qz" and fact.window, (fact.param, fact.window)
    assert line < fact.window[0] and any("kl_divergence(qz" in t for t in fact.window_text)


class _Lines:
    """A reader over in-memory files (what ``_best_defs`` reads through)."""

    def __init__(self, files: dict[str, list[str]]) -> None:
        self.files = files

    def file(self, rel: str) -> list[str]:
        return self.files.get(rel, [])


class _DocLines(_Lines):
    def lines(self, rel: str, start: int, end: int) -> list[str]:
        return self.files.get(rel, [])[start - 1 : end]


def test_a_passage_ending_in_a_lead_in_carries_the_block_it_introduces():
    from scvi_skill.runtime.pack import PackPassage, _carry_lead_in

    doc = ["# Saving", "", "Save and load it like this:", "", "```python", "model.save(path)",
           "", "model = SCVI.load(path)", "```", "", "Another paragraph.", "More."]
    reader = _DocLines({"docs/a.md": doc})
    passage = PackPassage("docs/a.md", 3, 3, "Saving", "Saving", doc[2:3], read=(1, 12))
    added = _carry_lead_in(passage, reader, room=10_000)
    # The code block, blank line inside it included, up to its closing fence; no further.
    assert (passage.start, passage.end) == (3, 9) and passage.text[-1] == "```"
    assert added == sum(len(t) + 1 for t in doc[3:9])
    listed = PackPassage("docs/a.md", 11, 11, "Saving", "Saving", doc[10:11], read=(1, 12))
    assert _carry_lead_in(listed, reader, room=10_000) == 0  # no colon: nothing added
    capped = PackPassage("docs/a.md", 3, 3, "Saving", "Saving", doc[2:3], read=(1, 4))
    assert _carry_lead_in(capped, reader, room=10_000) == 0  # the block lies past its span
    assert (capped.start, capped.end) == (3, 3)


def test_a_lead_in_carries_a_four_backtick_block_whole():
    """The block ends at its own closing fence, not at a three-backtick line inside it."""
    from scvi_skill.runtime.pack import PackPassage, _carry_lead_in

    doc = ["Write it like this:", "", "````markdown", "```python", "model.train()", "```",
           "````", "", "After."]
    reader = _DocLines({"docs/a.md": doc})
    passage = PackPassage("docs/a.md", 1, 1, "Save", "Save", doc[:1], read=(1, 9))
    _carry_lead_in(passage, reader, room=10_000)
    assert (passage.start, passage.end) == (1, 7) and passage.text[-1] == "````"


def test_heads_are_defs_classes_and_decorators_that_start_a_line():
    from itertools import accumulate

    from scvi_skill.runtime.pack import _heads

    lines = ["class A:", "    @staticmethod", "    def kl(x):", '        s = "def not_a_head(": 1',
             "        async def inner():", "            pass", "", "def top(y):  # class in a comment",
             "    return y @ y"]
    text = "\n".join(lines)
    starts = list(accumulate((len(t) + 1 for t in lines), initial=0))
    assert _heads(text, starts) == [(0, 0, "class ", "A"), (1, 4, "@", ""), (2, 4, "def ", "kl"),
                                     (4, 8, "def ", "inner"), (7, 0, "def ", "top")]


def test_best_defs_rank_the_def_whose_lines_and_name_hold_the_question():
    from scvi_skill.runtime.pack import _best_defs

    model = ["class Model:", "    def train(self, lr):", "        self.lr = lr", "",
             "    def cycle_loss(self, z):", '        """Standardise z before the MSE."""',
             "        z = (z - z.mean()) / z.std()", "        return mse(z, z)",
             "", "    def other(self):", "        return 0"]
    helper = ["def cycle_loss(z):", "    return mse(z, z)"]
    idf = {"cycl": 6.0, "mse": 5.0, "standardis": 5.0, "loss": 2.0}
    files = {"src/a.py": model, "src/b.py": helper}
    ranked = _best_defs([{"path": "src/a.py"}, {"path": "src/b.py"}], _Lines(files), idf)
    # The method first: its name and its lines hold the terms; its span stops before `other`.
    assert ranked[0][1:] == ("src/a.py", 4, 8)
    assert ranked[1][1:] == ("src/b.py", 0, 1)  # same name, fewer terms, second file
    assert all(row[2] not in (0, 1, 9) for row in ranked if row[1] == "src/a.py")  # no terms
    documented = ["class Encoder:", '    """Distribution: ``ln`` is logistic normal."""', "",
                  "    def forward(self, x):", "        return x"]
    ranked = _best_defs([{"path": "src/c.py"}], _Lines({"src/c.py": documented}),
                        {"logistic": 6.0, "encod": 3.0})
    assert [row[1:] for row in ranked] == [("src/c.py", 0, 2)]  # the class, up to its def
    assert _best_defs([{"path": "src/a.py"}], _Lines(files), {"z": 9.0}) == []  # short keys


def test_a_def_nested_in_a_function_ends_where_its_body_does():
    from scvi_skill.runtime.pack import _best_defs

    method = ["class Computation:", "    def get_factors(self, mode):", "        offset = 1",
              "        def lfc(x, y):", "            return log2(x + offset) - log2(y + offset)",
              "", "        if mode == 'change':", "            area = pseudocount(mode)",
              "        return area", "", "    def other(self):", "        return 0"]
    ranked = _best_defs([{"path": "src/d.py"}], _Lines({"src/d.py": method}),
                        {"pseudocount": 6.0, "change": 4.0, "lfc": 3.0})
    spans = {row[2]: row[3] for row in ranked}
    # lfc's lines are its two; the method's statements after it are the method's own.
    assert spans[3] == 4, ranked
    assert spans[1] == 9 and ranked[0][2] == 1, ranked


def test_the_pack_shows_the_def_that_answers_in_a_lower_ranked_file(capsys, pinned_tree):
    """SysVI's cycle-consistency MSE is computed in SysVAE.latent_cycle_consistency, in the
    module file, which the resolver ranks below the model file: the pack shows that def."""
    question = ("In SysVI, what stops the model from making the cycle-consistency term "
                "(z_distance_cycle_weight) small just by shrinking the latent space? Is the "
                "MSE on the raw latent means?")
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    source = out[out.index("== source"):]
    assert "SysVAE.latent_cycle_consistency  def latent_cycle_consistency(" in source, source
    # the lines that standardise the means before the MSE (the comment above them, or the
    # return that calls standardize on qz.loc)
    assert re.search(r"[Ss]tandardi[sz]e.*(MSE|qz\.loc)", source), source
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
    defs = [s for s in report["source"] if s["kind"] == "def"]
    assert any(s["symbol"].endswith("SysVAE.latent_cycle_consistency") and s["window"]
               for s in defs), defs


def test_a_named_parameter_no_top_file_takes_is_found_in_the_file_that_documents_it(
        capsys, pinned_tree):
    # n_samples_per_label is a parameter of SemisupervisedTrainingMixin.train, in a mixin file
    # the resolver does not rank among the question's top files.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "scANVI from a pretrained scVI: how do I set n_samples_per_label?")
    assert "param n_samples_per_label (src/scvi/model/base/_training_mixin.py:" in out, out
    assert "SemisupervisedTrainingMixin.train  def train(" in out
    assert "Number of subsamples for each label class to sample per epoch" in out


def test_a_parameter_many_files_take_is_not_looked_up_elsewhere(pinned_tree):
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.pack import _param_elsewhere, _Reader

    sidx = load_search_index()
    question = "with early_stopping=True training stops too soon"
    assert _param_elsewhere(sidx, ["early_stopping"], question, _Reader(pinned_tree), set()) is None
    found = _param_elsewhere(sidx, ["n_samples_per_label"], "n_samples_per_label?",
                             _Reader(pinned_tree), set())
    assert found and found.param == "n_samples_per_label" and found.kind == "def"


@pytest.mark.parametrize("budget", ["400", "800", "1200"])
def test_a_source_label_always_has_its_lines_below_it(capsys, pinned_tree, budget):
    """A "lines a-b:" or "param NAME (...):" label is shown only with at least one of the
    lines it introduces: the budget cuts before the label, not right after it."""
    question = ("I have latent vectors of my own and want to run them through a trained scVI "
                "decoder to get expression values; calling the decoder myself gives "
                "library-size mismatch errors. Is there a function to decode latents?")
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", budget, question)
    lines = out.splitlines()
    for n, line in enumerate(lines):
        if line.startswith(("  lines ", "  param ")):
            assert n + 1 < len(lines) and lines[n + 1].startswith("   "), (n, line, out)


def test_a_def_an_entry_already_shows_is_not_added_again(pinned_tree):
    from scvi_skill.runtime.pack import _Reader, _source_facts

    path = "src/scvi/module/base/_priors.py"
    lines = pinned_tree.to_disk(path).read_text(encoding="utf-8").splitlines()
    line = next(n for n, t in enumerate(lines, 1) if "def kl(self, qz" in t)
    facts = _source_facts([{"path": path, "line": line, "symbol": "GaussianPrior.kl"}],
                          "what shape does GaussianPrior.kl(qz) return, summed over latent dims?",
                          _Reader(pinned_tree), {"kl": 6.0, "qz": 5.0, "sum": 3.0, "dim": 3.0,
                                                 "latent": 2.0, "shape": 2.0, "return": 1.0})
    shown = [(f.path, f.line) for f in facts]
    assert len(shown) == len(set(shown))
    windows = [tuple(f.window) for f in facts if f.window]
    assert len(windows) == len(set(windows)), windows


def test_a_parameter_line_the_header_shows_is_not_repeated(capsys, pinned_tree):
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "what does GaussianPrior.kl return for qz, do I pass z?")
    header = next(t for t in out.splitlines() if t.startswith("src/scvi/module/base/_priors.py:"))
    signature = header.split("  ", 1)[1]
    assert out.count(signature) == 1, out


def test_prose_lines_are_quoted_whole(capsys, pinned_tree):
    # The saving guide's first paragraph is one line of about 580 characters.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "how do I save a trained scvi model and load it later")
    assert "You can then load the saved model using the load() method" in out


def test_text_mode_uses_the_cached_pinned_tree(capsys, pinned_tree, tmp_path, monkeypatch):
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "empty"))
    _, without, _ = run(capsys, "batch_key categorical_covariate_keys")
    assert "no local scvi-tools tree" in without and "https://github.com/scverse/scvi-tools/blob/" in without
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"scvi-tools-{PINNED_SCVI_TOOLS}").symlink_to(pinned_tree.root)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(cache))
    code, out, _ = run(capsys, "batch_key categorical_covariate_keys")
    assert code == 0
    assert "no local scvi-tools tree" not in out
    assert "categorical_covariate_keys" in out.split("== source")[0]


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
    code, report, err = run_json(capsys, f"--also={question}", "why is my loss NaN")
    assert code == 0, err
    assert report["also"] == question and report["query"] == "why is my loss NaN"


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


@pytest.mark.parametrize("argv", [[""], ["   ", "\t"], [], ["x", "--limit", "0"], ["x", "--limit", "999"],
                                  ["x", "--budget", "199"], ["x", "--budget", "-5"]])
def test_usage_errors(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("Error: ")


def test_nothing_matches_exits_1(capsys):
    code, report, err = run_json(capsys, "zzqx qqzv")
    assert code == 1 and report["docs"] == [] and report["source"] == []
    assert "nothing matched" in err
    code, out, err = run(capsys, "what is the and of it")  # stopwords only
    assert code == 1 and out == "" and "nothing matched" in err and "search_source.py" in err


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
    assert "no passages quoted" in err


def test_an_argument_with_spaces_is_question_text_not_an_option(capsys, pinned_tree):
    """Issue 13, D14: '--tree=/etc why ...' is a question, not --tree."""
    code, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "--tree=/etc why is my loss NaN")
    assert code == 0 and report["query"] == "--tree=/etc why is my loss NaN"


def test_wrong_tree_exits_4_in_json_mode_too(capsys, tmp_path):
    """Issue 13, D14: --json --tree /nonexistent exits 4 like text mode."""
    for argv in (["--json"], []):
        code, out, err = run(capsys, *argv, "--tree", str(tmp_path / "nonexistent"), "loss NaN")
        assert code == 4 and out == "" and err.startswith("Error: ")


def test_next_commands_only_for_what_the_pack_does_not_show(capsys, pinned_tree):
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "SCVI.train with zz_unknown_option set")
    assert "--kwarg zz_unknown_option" not in out  # no 1.5.1 file has it: nothing to search
    # The keyword searched is one the index knows, not a value or a name from the user's code.
    result = {"source": [{"symbol": ""}]}
    question = "layer='raw_counts' fails in case_missing_layer(); early_stopping_patience?"
    assert resolve_docs._next_commands(result, question, {"early_stopping_patience": 1}) == [
        f"{resolve_docs.SEARCH} --kwarg early_stopping_patience"]
    assert resolve_docs._next_commands(result, question, {}) == []
    # With the user's tree of another release, the searches are of that tree.
    tree = type("T", (), {"root": "/trees/scvi tools-1.1.5"})()
    assert resolve_docs._next_commands(result, question, {"early_stopping_patience": 1}, tree) == [
        f"{resolve_docs.SEARCH} --tree '/trees/scvi tools-1.1.5' --kwarg early_stopping_patience"]
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", "2000",
                    "what does load_sparse_tensor do in SCVI.train")
    assert "--kwarg load_sparse_tensor" not in out  # its docstring is in the pack already
    # The top file's symbol is searched for only when the question names it: a file's entry
    # symbol is just the first it defines (scvi.settings.batch_size for _settings.py).
    top = {"source": [{"symbol": "scvi.settings.batch_size"}]}
    assert resolve_docs._next_commands(top, "how do I use 4 cpu threads?", {}) == []
    assert resolve_docs._next_commands(top, "is settings.batch_size global?", {}) == [
        f"{resolve_docs.SEARCH} --symbol scvi.settings.batch_size"]


def test_a_name_the_pinned_release_lacks_gets_its_release_notes_search():
    from scvi_skill.runtime.pack import _needed

    result = {"source": [{"symbol": ""}]}
    question = "train() got an unexpected keyword argument 'use_gpu'"
    cmds = resolve_docs._next_commands(result, question, {}, gone=["use_gpu"])
    assert cmds == [f"{resolve_docs.SEARCH} --changes use_gpu"]
    dotted = resolve_docs._next_commands(result, "scvi.model.JaxSCVI?", {},
                                         gone=["scvi.model.JaxSCVI"])
    assert dotted == [f"{resolve_docs.SEARCH} --changes JaxSCVI"]
    # Shown unless a release note the pack quotes names it (the pack's other text may).
    assert _needed(cmds, shown="use_gpu is in the title", notes="") == cmds
    assert _needed(cmds, shown="", notes="- Remove deprecated `use_gpu` argument") == []


def test_stdin_over_1_mib_is_cut_with_a_warning(capsys, monkeypatch):
    """Issue 13, D16: the cut is said, with the size read."""
    data = ("scvi loss NaN " * 100_000).encode()[: (1 << 20) + 5000]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, report, err = run_json(capsys, "-")
    assert code == 0 and "more than 1048576 bytes" in err


def test_an_index_version_that_is_not_a_version_never_becomes_a_path(capsys, tmp_path, monkeypatch):
    sidx = json.loads(SEARCH_INDEX_PATH.read_text(encoding="utf-8"))
    sidx["scvi_tools_version"] = "../../etc"
    bad = tmp_path / "search_index.json"
    bad.write_text(json.dumps(sidx))
    monkeypatch.delenv("SCVI_TOOLS_TREE", raising=False)
    code, out, err = run(capsys, "--index", str(bad), "loss NaN")
    assert code == 0 and "no local scvi-tools tree" in out


def _shown_blocks(out: str) -> list[tuple[str, str, int, int]]:
    """(kind, path, start, end) of each passage header and source label of a text pack, the
    end being the last line shown under it."""
    lines = out.splitlines()
    blocks, fact_path = [], ""
    for n, line in enumerate(lines):
        if m := re.match(r"== (\S+):(\d+)-(\d+) \| ", line):
            blocks.append(("passage", m[1], int(m[2]), int(m[3])))
        elif m := re.match(r"((?:src|tests)/\S+?):(\d+) ", line):
            fact_path = m[1]
        elif m := re.match(r"  lines (\d+)-(\d+):$", line):
            shown = 0
            while n + 1 + shown < len(lines) and lines[n + 1 + shown].startswith("   "):
                shown += 1
            blocks.append(("window", fact_path, int(m[1]), int(m[1]) + shown - 1))
        elif m := re.match(r"  param \S+ \((\S+):(\d+)-(\d+)\):$", line):
            shown = 0
            while n + 1 + shown < len(lines) and lines[n + 1 + shown].startswith("   "):
                shown += 1
            # The label's range, and the last entry line shown (its text, stripped).
            blocks.append(("param", m[1], int(m[2]), int(m[3]), lines[n + shown].strip()))
    return blocks


@pytest.mark.parametrize("budget", ["400", "800", "1200"])
@pytest.mark.parametrize("question", [
    "I have latent vectors of my own and want to run them through a trained scVI decoder to "
    "get expression values; is there a function to decode latents?",
    "what does load_sparse_tensor do in SCVI.train",
])
def test_json_ranges_are_the_spans_the_text_pack_shows(capsys, pinned_tree, budget, question,
                                                      monkeypatch):
    """Every passage and source window of the text pack is one of ``ranges``, a window cut by
    the budget ending at its last line shown; every range lies in its file. With spans a few
    lines apart joined (MERGE_GAP), every one lies inside a range of its file."""
    tree = ["--tree", str(pinned_tree.root), "--budget", budget]
    _, joined, _ = run_json(capsys, *tree, question)
    _, out, _ = run(capsys, *tree, question)
    for kind, path, start, end, *_ in _shown_blocks(out):
        assert any(r["path"] == path and r["lines"][0] <= start and
                   (kind == "param" or end <= r["lines"][1]) for r in joined["ranges"])
    monkeypatch.setattr(pack, "MERGE_GAP", -1)
    _, report, _ = run_json(capsys, *tree, question)
    ranges = [(r["kind"], r["path"], *r["lines"]) for r in report["ranges"]]
    blocks = _shown_blocks(out)
    assert blocks
    for kind, path, start, end, *last_shown in blocks:
        if kind == "param":  # the entry's lines, as far as the budget let them show
            span = next(r for r in ranges if r[:3] == (kind, path, start))
            assert start <= span[3] <= end
            tree_line = (pinned_tree.root / path).read_text(encoding="utf-8").splitlines()[
                span[3] - 1].strip()
            assert last_shown[0][:60] == tree_line[:60], (span, last_shown, tree_line)
        else:
            assert (kind, path, start, end) in ranges, (kind, path, start, end, ranges)
    for _, path, start, end in ranges:
        lines = (pinned_tree.root / path).read_text(encoding="utf-8").splitlines()
        assert 1 <= start <= end <= len(lines)
    assert len(ranges) == len(set(ranges))


def test_json_ranges_put_the_raise_site_first_then_the_best_passage(capsys, pinned_tree):
    tree = ["--tree", str(pinned_tree.root)]
    question = ("ValueError: Number of vars in adata_target not the same as source. "
                "Expected: 16964 Received: 5000 when I load my reference model")
    _, report, _ = run_json(capsys, *tree, question)
    first, second = report["ranges"][:2]
    site = report["raise_sites"][0]
    assert first == {"path": site["path"], "kind": "raise",
                     "lines": [site["line"], site["line"] + len(site["text"]) - 1]}
    assert second["kind"] == "passage" and second["path"] == report["passages"][0]["path"]
    # Without an error, the entry of the parameter the question names comes in the first two,
    # and defs' header lines after every span that may hold the answer.
    _, report, _ = run_json(capsys, *tree, "what does load_sparse_tensor do in SCVI.train")
    kinds = [r["kind"] for r in report["ranges"]]
    assert "param" in kinds[:2] and "raise" not in kinds, kinds
    param = report["ranges"][kinds.index("param")]
    lines = (pinned_tree.root / param["path"]).read_text(encoding="utf-8").splitlines()
    assert "load_sparse_tensor" in "\n".join(lines[param["lines"][0] - 1 : param["lines"][1]])
    assert "def" in kinds and kinds.index("def") > max(
        n for n, kind in enumerate(kinds) if kind in ("passage", "param", "window"))


def test_reading_order_weighs_kind_rank_and_the_question_s_terms():
    """ranges: each span's kind-and-rank prior times one plus the weighted share of the
    question's terms its lines hold; spans no prior covers keep the pack's order after."""
    from scvi_skill.runtime.pack import READ_PRIOR, Span, _reading_order

    spans = [Span("passage", "a.md", 1, 2, 0), Span("def", "x.py", 5, 5, 0),
             Span("passage", "b.md", 3, 4, 1), Span("window", "x.py", 7, 9, 1),
             Span("param", "x.py", 20, 22, 2), Span("model_fact", "y.py", 1, 1, 0)]
    order = [(s.kind, s.path) for s in _reading_order(spans)]
    assert order == [("passage", "a.md"), ("param", "x.py"), ("passage", "b.md"),
                     ("window", "x.py"), ("def", "x.py"), ("model_fact", "y.py")]
    assert READ_PRIOR["passage"][0] > READ_PRIOR["param"][0] > READ_PRIOR["passage"][1]
    # The second passage holds the question's words, the first none: the second comes first.
    order = _reading_order(spans, lambda s: 1.0 if s.path == "b.md" else 0.0)
    assert [(s.kind, s.path) for s in order][:2] == [("passage", "b.md"), ("passage", "a.md")]
    # Equal shares: the priors decide, ties in the pack's order.
    assert _reading_order(spans, lambda s: 0.5) == _reading_order(spans)


def test_pasted_error_text_brings_its_raise_site_and_condition(capsys, pinned_tree):
    question = ("ValueError: Number of vars in adata_target not the same as source. "
                "Expected: 16964 Received: 5000 when I load my reference model")
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    assert code == 0
    assert "== raised at" in out and "src/scvi/data/fields/_layer_field.py:" in out
    assert "when: target_n_vars != n_vars" in out
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
    site = report["raise_sites"][0]
    assert site["path"] == "src/scvi/data/fields/_layer_field.py" and site["exception"] == "ValueError"
    lines = (pinned_tree.root / site["path"]).read_text(encoding="utf-8").splitlines()
    assert "raise ValueError" in lines[site["line"] - 1]
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "how do I choose n_latent")
    assert report["raise_sites"] == []


def test_a_named_model_brings_its_card_facts(capsys, pinned_tree):
    """Issue 11: "is early stopping on by default for TOTALVI?" gets TOTALVI's default with
    its path:line, and that line of the tree holds it."""
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "is early stopping on by default for TOTALVI?")
    facts = [f for f in report["model_facts"] if f["model"] == "totalvi"]
    assert facts and "early_stopping=True" in facts[0]["fact"]
    path, line = facts[0]["cite"].rsplit(":", 1)
    assert "early_stopping: bool = True" in (pinned_tree.root / path).read_text().splitlines()[int(line) - 1]
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "how do I choose n_latent")
    assert report["model_facts"] == []


def test_a_model_fact_needs_more_than_one_shared_word(capsys, pinned_tree):
    """"trained" alone shares "train" with SCVI's train() facts; before, those facts took the
    room of the source facts in packs about other methods."""
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "with a trained SCVI model how do I embed new cells in the latent space?")
    assert not any("train" in f["fact"] for f in report["model_facts"])
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "does SCVI train with early stopping by default?")
    assert any("early_stopping" in f["fact"] for f in report["model_facts"])


def test_pitfalls_for_other_models_stay_out(capsys, pinned_tree):
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "SCVI early stopping: TrainerConfig(early_stopping=True) is ignored")
    ids = [p["id"] for p in report["pitfalls"]]
    assert ids and all("totalvi" not in i for i in ids)


def test_pitfalls_fire_on_the_questions_own_words_not_on_synonyms(capsys, pinned_tree):
    """The ranking expands "GPU" with the multi-GPU vocabulary of routing.yaml; before, that
    expansion alone fired the DDP pitfall on single-GPU questions."""
    def ids(question: str) -> list[str]:
        return [p["id"] for p in run_json(capsys, "--tree", str(pinned_tree.root), question)[1]["pitfalls"]]

    assert "ddp-disables-early-stopping" not in ids(
        "my laptop GPU is not used when I call model.train(accelerator='gpu'), why?")
    assert "ddp-disables-early-stopping" in ids(
        "with model.train(devices=2) early stopping never stops training, why?")
    assert "elbo-validation-logged-when" in ids(
        "where is the validation loss in model.history after SCANVI training?")


def test_a_named_release_shows_the_changed_defaults_of_the_method_the_question_names(
        capsys, pinned_tree):
    question = ("On scvi-tools 1.3.0 my SCVI.differential_expression results looked different; "
                "what changed since?")
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    assert code == 0
    line = next(l for l in out.splitlines() if "scvi.model.SCVI.differential_expression in 1.3.0" in l)
    assert "mode='change' (pinned: 'vanilla')" in line
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
    diff = report["version"]["differences"]["scvi.model.SCVI.differential_expression"]
    assert diff["defaults"]["mode"] == ["'change'", "'vanilla'"]


def test_version_marks_what_differs_in_the_users_release(capsys, pinned_tree):
    """Issue 15: --version V names the cited names whose signature differs in V and the
    command that fetches V's tree; an unknown version exits 4 with the known ones."""
    code, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "--version", "1.2.0",
                               "SCVI.train early stopping")
    assert code == 0
    diff = report["version"]["differences"]["scvi.model.SCVI.train"]
    assert "plan_config" in diff["removed"] and not diff["missing"]
    assert report["version"]["fetch"].endswith("fetch_tree.py --version 1.2.0")
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--version", "1.2.0", "SCVI.train early stopping")
    assert "you run scvi-tools 1.2.0" in out and "-plan_config" in out
    code, report, _ = run_json(capsys, "--version", PINNED_SCVI_TOOLS, "SCVI.train early stopping")
    assert "version" not in report
    code, out, err = run(capsys, "--version", "0.20.3", "SCVI.train")
    assert code == 4 and out == "" and "known releases" in err


def test_a_class_keyword_only_the_pinned_release_has_is_listed_when_the_question_uses_it(
        capsys, pinned_tree):
    """SCVI(...)'s ``registry`` came after 1.2.0: a user who does not pass it loses nothing,
    so the text leaves ``scvi.model.SCVI in 1.2.0: -registry`` out (it was most of the
    version lines of the tuning questions), unless the question passes ``registry``; --json
    keeps the difference either way."""
    tree = ["--tree", str(pinned_tree.root), "--version", "1.2.0"]
    question = "How do I set n_latent when I create my SCVI model?"
    _, out, _ = run(capsys, *tree, question)
    assert "scvi.model.SCVI in 1.2.0" not in out.split("\n== ", 1)[0]
    _, report, _ = run_json(capsys, *tree, question)
    assert report["version"]["differences"]["scvi.model.SCVI"]["removed"] == ["registry"]
    _, out, _ = run(capsys, *tree, "Can I create my SCVI model from a registry instead of adata?")
    assert "  scvi.model.SCVI in 1.2.0: -registry" in out.split("\n== ", 1)[0].splitlines()
    # SCANVI's first parameter, adata, is required in 1.2.0 and defaults to None in 1.5.1:
    # every call passes it, so the text leaves it out; a second one (MULTIVI's n_genes) stays.
    question = "How do I create a SCANVI model and set n_latent?"
    _, out, _ = run(capsys, *tree, question)
    assert "scvi.model.SCANVI in 1.2.0" not in out.split("\n== ", 1)[0]
    _, report, _ = run_json(capsys, *tree, question)
    assert report["version"]["differences"]["scvi.model.SCANVI"]["defaults"]["adata"] == [
        None, "None"]
    _, out, _ = run(capsys, *tree, "How do I create a MULTIVI model for my multiome data?")
    line = next(t for t in out.split("\n== ", 1)[0].splitlines()
                if t.startswith("  scvi.model.MULTIVI in 1.2.0:"))
    assert "n_genes=(required) (pinned: None)" in line and "adata=" not in line


def test_a_mixins_method_with_the_models_differences_is_listed_once():
    """SCVI.train is UnsupervisedTrainingMixin.train: with the same differences the text
    lists it once (the name met first); another method of that name with other differences,
    or the same differences under another method name, stays."""
    from scvi_skill.runtime.resolvecli import _said_changes

    diff = {"missing": False, "added": [], "removed": ["plan_config", "trainer_config"],
            "defaults": {"train_size": [0.9, "None"]}}
    other = dict(diff, removed=["plan_config"])
    differences = {"scvi.model.SCVI.train": diff,
                   "scvi.model.base.UnsupervisedTrainingMixin.train": dict(diff),
                   "scvi.model.base.SemisupervisedTrainingMixin.train": other,
                   "scvi.model.SCVI.load_query_data": dict(diff)}
    said = [name for name, _ in _said_changes(differences, "how do I train scVI")]
    assert said == ["scvi.model.SCVI.train", "scvi.model.base.SemisupervisedTrainingMixin.train",
                    "scvi.model.SCVI.load_query_data"]
    assert len(_said_changes(differences, None)) == 4  # --json: every difference


def test_a_release_newer_than_the_indexed_ones_gets_the_pinned_pack_and_says_so(
        capsys, pinned_tree):
    """A user on a release after the skill's newest index (the skill not yet refreshed for
    it) gets the pinned release's pack, told so, with the command that fetches their tree;
    not exit 4 with a maintainer's command."""
    code, out, err = run(capsys, "--tree", str(pinned_tree.root), "--version", "9.9.9",
                         "SCVI.train early stopping")
    assert code == 0 and "Error" not in err
    note = out.splitlines()[1]
    assert note.startswith("(you run scvi-tools 9.9.9, newer than the releases this skill "
                           f"indexes: the lines below are for {PINNED_SCVI_TOOLS};")
    assert "fetch_tree.py --version 9.9.9, then --tree PATH)" in note
    _, plain, _ = run(capsys, "--tree", str(pinned_tree.root), "SCVI.train early stopping")
    assert out.splitlines()[2:6] == plain.splitlines()[1:5]  # the same passages
    code, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "--version",
                               f"{PINNED_SCVI_TOOLS}.post1", "SCVI.train early stopping")
    assert code == 0 and report["version"]["newer"] is True
    assert report["version"]["differences"] == {}


def test_the_process_delivers_all_output_and_its_exit_code(pinned_tree):
    """resolve_docs.py leaves with os._exit after flushing (freeing the index costs time):
    the whole pack still arrives through a pipe, and the exit codes are the documented ones."""
    import subprocess
    import sys

    script = str(SEARCH_INDEX_PATH.parent.parent / "scripts" / "resolve_docs.py")
    env_tree = ["--tree", str(pinned_tree.root)]
    done = subprocess.run([sys.executable, script, *env_tree, "--json", "loss is NaN"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["docs"]
    assert subprocess.run([sys.executable, script, "--budget", "5", "x"],
                          capture_output=True).returncode == 2
    assert subprocess.run([sys.executable, script, "zzqx qqzv"], capture_output=True).returncode == 1
    # A reader that leaves after the first line (like `| head -1`) gets no traceback.
    proc = subprocess.Popen([sys.executable, script, *env_tree, "--budget", "3000", "loss NaN"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait()
    assert first.startswith("scvi-tools ") and "Traceback" not in err


def test_names_and_keywords_gone_from_the_pinned_release_get_their_history(capsys, pinned_tree):
    """Code from an older release: the pack says when a name or keyword went and what
    replaces it (references/api history and migrations), and only then reads the history."""
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "model.train(use_gpu=True) gives TypeError unexpected keyword argument")
    line = next(l for l in out.splitlines() if l.startswith("(release history) keyword use_gpu"))
    assert "1.0.4" in line and "accelerator" in line
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "from scvi.model import JaxSCVI fails")
    assert "(release history) scvi.model.JaxSCVI: in scvi-tools 1.0.0-1.4.3, gone since 1.5.0" in out
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "what does early_stopping_patience do")
    assert "(release history)" not in out


def test_error_text_no_raise_site_matches_is_said(capsys, pinned_tree):
    """A pasted error that scvi-tools 1.5.1 does not raise (torch's BatchNorm here) gets a
    note; one it does raise gets its raise site and no note."""
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "ValueError: Expected more than 1 value per channel when training")
    assert not report["raise_sites"]
    note = next(n for n in report["pack"]["notes"]
                if n.startswith("(error text) no raise or warning site"))
    assert "read the scvi-tools step that hands the data to it" in note  # not a guess
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "SCANVI.load_query_data raises KeyError: 'celltype not found in adata.obs'")
    assert report["raise_sites"]
    assert not any(n.startswith("(error text)") for n in report["pack"]["notes"])
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "how do I set the seed")
    assert report["pack"]["notes"] == []


def test_a_traceback_without_its_last_line_is_said(capsys, pinned_tree):
    """A traceback pasted without its exception line gets a note asking for it (not the
    dependency guess, which it gives no ground for); with the line, that note is gone."""
    frames = ('Traceback (most recent call last):\n'
              '  File "/env/lib/python3.12/site-packages/scvi/model/base/_training_mixin.py", '
              'line 145, in train\n    return runner()\n')
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), frames)
    notes = [n for n in report["pack"]["notes"] if n.startswith("(error text)")]
    assert len(notes) == 1 and "not its last line" in notes[0]
    assert "scvi-tools frames below" in notes[0] and report["frames"]
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            frames + "RuntimeError: CUDA error: device-side assert triggered\n")
    assert not any("not its last line" in n for n in report["pack"]["notes"])


def test_question_versions_are_scvi_tools_releases_in_context():
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import question_versions, release_window

    sections = load_search_index()["sections"]
    assert question_versions("MULTIVI trained on scvi-tools 0.14 won't load in 0.20", sections) \
        == [(0, 14), (0, 20)]
    assert question_versions("fails on scvi-tools 1.4 with a KeyError", sections) == [(1, 4)]
    # Other packages' versions, parameter values and sizes are not releases.
    assert question_versions("jaxlib version 0.6.2 is newer than jax version 0.4.21", sections) == []
    assert question_versions("train_size=0.9 and dropout_rate=0.1 on 6.6M cells", sections) == []
    between = release_window("trained on scvi-tools 0.14, now on 0.20", sections)
    assert between((0, 15, 0)) and between((0, 20, 1)) and not between((0, 14, 0))
    one = release_window("on scvi-tools 1.4", sections)
    assert one((1, 4, 1)) and one((1, 5, 0)) and not one((1, 3, 3))
    assert release_window("how do I set the seed", sections) is None


def test_release_kinds_come_from_the_release_notes_headings():
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import release_kinds

    kinds = release_kinds(load_search_index())
    assert {"fix", "bug", "remov", "added", "break"} <= kinds
    assert not kinds & {"contributor", "minor", "major", "2026"}  # rare or not a kind of change


@pytest.mark.parametrize("question, off", [
    ("is the bug with totalVI protein background fixed?", {"release_doc": 0.0}),
    ("on scvi-tools 1.1 my SCANVI reference fails to load, what changed", {"release_doc": 0.0}),
    # Pasted error text lifts them by a share (release_error) of the same boost.
    ("IndexError: index out of range in self when I run differential_expression with groupby",
     {"release_error": 0.0}),
    # A name an earlier release had and 1.5.1 lacks (the index's "gone" names) does too.
    ("how do I use the SaveBestState callback with my scvi model", {"release_gone": 0.0}),
    ("can I still pass use_gpu to SCVI.train", {"release_gone": 0.0}),
])
def test_a_question_about_a_change_lifts_the_release_notes(question, off):
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import PARAMS, resolve

    sidx = load_search_index()

    def place(params):
        docs = [d["path"] for d in resolve(question, sidx, limit=10, params=params)["docs"]]
        return docs.index("CHANGELOG.md") if "CHANGELOG.md" in docs else 99

    # The boost alone (without the move up to release_place, which can hide it).
    alone = dict(PARAMS, release_place=0)
    assert place(alone) < place(dict(alone, **off))
    plain = "how do I set the random seed"
    assert resolve(plain, sidx, params=PARAMS)["docs"] == \
        resolve(plain, sidx, params=dict(PARAMS, release_doc=0.0))["docs"]


def test_the_best_release_notes_move_up_the_pack():
    from scvi_skill.runtime.pack import RELEASE_NOTES, RELEASE_NOTES_AT, _with_release_notes

    rows = [{"path": "CHANGELOG.md" if i in (1, 6, 9, 11, 12) else f"docs/{i}.md", "n": i}
            for i in range(14)]
    out = [r["n"] for r in _with_release_notes(rows)]
    assert sorted(out) == list(range(14))
    notes = [n for n in out if n in (1, 6, 9, 11, 12)]
    assert out.index(1) == 1  # already above the place it would move to: stays
    # The next best notes take the places from RELEASE_NOTES_AT on, in their order.
    assert out[RELEASE_NOTES_AT : RELEASE_NOTES_AT + RELEASE_NOTES - 1] == notes[1:RELEASE_NOTES]
    assert out.index(11) > out.index(9)  # beyond the best RELEASE_NOTES: not moved


@pytest.mark.parametrize("columns", ["60", "120", ""])
def test_help_is_as_wide_as_argparse_makes_it_without_shutil(monkeypatch, columns):
    import argparse
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("COLUMNS", columns)
    ours = resolve_docs.build_parser()
    stock = resolve_docs.build_parser()
    stock.formatter_class = argparse.RawDescriptionHelpFormatter
    assert ours.format_help() == stock.format_help()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import resolve_docs; "
            "resolve_docs.build_parser().parse_args(['q']); print('shutil' in sys.modules)")
    scripts = Path(__file__).resolve().parent.parent / "scripts"
    done = subprocess.run([sys.executable, "-c", code, str(scripts)],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_two_words_the_corpus_writes_as_one_add_the_joined_word():
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import PARAMS, query_terms, resolve
    from scvi_skill.runtime.tokens import stem

    sidx = load_search_index()
    vocab = sidx["terms"]
    weights = query_terms("a semi-supervised mini batch data loader", [], PARAMS, vocab)
    assert {stem("semisupervised"), "minibatch", "dataloader"} <= weights.keys()
    assert weights[stem("semisupervised")] == PARAMS["compound"]
    # Only words the corpus knows joined, and none without a vocabulary.
    assert "batchdata" not in weights and "loaderx" not in query_terms("loader x", [], PARAMS, vocab)
    assert stem("semisupervised") not in query_terms("semi-supervised", [], PARAMS)

    # "Add semisupervised training mixin class" (CHANGELOG.md:322 in 1.5.1) rises.
    question = "is there a mixin that gives my model the semi-supervised train() method?"

    def place(params):
        rows = resolve(question, sidx, params=params)["passages"]
        return next((i for i, p in enumerate(rows)
                     if p["path"] == "CHANGELOG.md" and p["lines"][0] == 322), 99)

    assert place(PARAMS) < place(dict(PARAMS, compound=0.0))


@pytest.mark.parametrize("question", [
    "why does scVI set the default max epochs to min(round(20000/n_cells*400), 400)? is there "
    "a reason or is it just a rule of thumb",
    "atlas of 23 datasets from 6 chemistries: chemistry as batch_key under-corrects, dataset as "
    "batch_key over-corrects. which key should be the batch and what goes in covariates?",
    "I want validation loss logged while training scANVI but validation_step never runs",
])
def test_no_tree_line_is_quoted_twice(capsys, pinned_tree, question):
    """A passage that grows into the lines of another passage of the same file takes it in:
    each line is printed once (before, 91 of 304 benchmark packs printed some lines twice)."""
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    assert code == 0
    shown: dict[str, set[int]] = {}
    headers = re.findall(r"^== (\S+?):(\d+)-(\d+) \|", out, re.M)
    assert len(headers) >= 2
    for path, start, end in headers:
        lines = set(range(int(start), int(end) + 1))
        assert not lines & shown.get(path, set()), (path, start, end)
        shown.setdefault(path, set()).update(lines)


def test_release_notes_near_the_top_move_up_to_their_place():
    from scvi_skill.runtime.rank import PARAMS, _release_notes_near_the_top

    class State:
        params = dict(PARAMS, release_place=3, release_near=0.85)
        sidx = {"docs": [["docs/a.md", "A", "guide"], ["docs/b.md", "B", "guide"],
                         ["docs/c.md", "C", "guide"], ["docs/d.md", "D", "guide"],
                         ["CHANGELOG.md", "Release notes", "changelog"]]}

    near = [(0, 10.0), (1, 9.0), (2, 8.0), (3, 7.5), (4, 7.0)]  # 7.0 >= 0.85 * 8.0
    assert [d for d, _ in _release_notes_near_the_top(State, list(near))] == [0, 1, 4, 2, 3]
    far = [(0, 10.0), (1, 9.0), (2, 8.0), (3, 7.5), (4, 6.0)]  # 6.0 < 0.85 * 8.0
    assert [d for d, _ in _release_notes_near_the_top(State, list(far))] == [0, 1, 2, 3, 4]
    moved = _release_notes_near_the_top(State, [(0, 10.0), (1, 8.004), (2, 8.0), (4, 7.0)])
    assert [d for d, _ in moved] == [0, 1, 4, 2]
    assert [s for _, s in moved] == sorted((s for _, s in moved), reverse=True)  # rank order
    high = [(4, 11.0), (0, 10.0), (1, 9.0)]  # already above its place: stays
    assert [d for d, _ in _release_notes_near_the_top(State, list(high))] == [4, 0, 1]
    State.params = dict(State.params, release_place=0)
    assert [d for d, _ in _release_notes_near_the_top(State, list(near))] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("templated_defs", [True, False])
def test_a_described_parameter_of_a_templated_setup_def_is_shown(capsys, pinned_tree,
                                                                 monkeypatch, templated_defs):
    """A question that describes continuous_covariate_keys without naming it: the entry is in
    SCVI.setup_anndata, a def its docstring processor fills (@setup_anndata_dsp.dedent), not
    in the SCVI class the ranking points at; without those defs competing, it is not shown."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "TEMPLATED_DEFS", templated_defs)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--json",
                    "When integrating with scVI, how can I also correct for a continuous "
                    "confounder such as the cell cycle score?")
    shown = [s.get("param") for s in json.loads(out)["source"]]
    assert ("continuous_covariate_keys" in shown) is templated_defs, shown


@pytest.mark.parametrize("use_window", [True, False])
def test_an_undocumented_named_parameter_is_shown_where_its_def_uses_it(capsys, pinned_tree,
                                                                       monkeypatch, use_window):
    """RESOLVI's __init__ takes downsample_counts with no docstring entry for it: the pack
    shows the first body lines that use it (``if downsample_counts:``)."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "USE_WINDOW", use_window)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--json",
                    "What does downsample_counts=False change when I build a RESOLVI model?")
    windows = [s.get("window_text", "") for s in json.loads(out)["source"]]
    assert any(t.lstrip().startswith("if downsample_counts:") for t in windows) is use_window, windows


def test_text_windows_lose_their_common_indentation_and_json_keeps_the_tree_s(capsys,
                                                                            pinned_tree):
    question = "What does downsample_counts=False change when I build a RESOLVI model?"
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--json", question)
    fact = next(s for s in json.loads(out)["source"]
                if s.get("window_text", "").lstrip().startswith("if downsample_counts:"))
    tree_lines = (pinned_tree.root / fact["path"]).read_text(encoding="utf-8").splitlines()
    first, last = fact["window"]
    assert fact["window_text"].splitlines() == tree_lines[first - 1 : last]
    _, text, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    body = text.splitlines()
    at = body.index(f"  lines {first}-{last}:")
    shown = body[at + 1 : at + 1 + last - first + 1]
    cut = min(len(t) - len(t.lstrip()) for t in tree_lines[first - 1 : last] if t.strip())
    assert cut > 0
    assert shown == [f"   {t[cut:]}" if t.strip() else "   " for t in tree_lines[first - 1 : last]]


@pytest.mark.parametrize("named_param_up", [True, False])
def test_a_named_parameter_s_entry_is_printed_before_the_def_facts(capsys, pinned_tree,
                                                                  monkeypatch, named_param_up):
    """transform_batch is documented in RNASeqMixin.get_normalized_expression, the fourth fact
    after the def facts; moved to second, its entry is printed within the budget."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "NAMED_PARAM_UP", named_param_up)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "how do I get the normalized expression for one batch with transform_batch "
                    "in scVI?")
    assert ("param transform_batch (src/scvi/model/base/_rnamixin.py:" in out) is named_param_up


@pytest.mark.parametrize("named_def_up", [True, False])
def test_the_class_method_a_question_writes_out_is_printed_before_other_files_defs(
        capsys, pinned_tree, monkeypatch, named_def_up):
    """DifferentialComputation.get_bayes_factors is the ranking's second file; the def facts
    of other files and a two_sided entry found elsewhere pushed it under the budget. As the
    name the question writes out, it now comes before the other files' defs (right after the
    entry found elsewhere); without that it comes after them (and, since a long header is cut
    to the room left, is still printed)."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "NAMED_DEF_UP", named_def_up)
    # the room this test was written with: without the route line of the (error text),
    # which takes about 250 characters (tests/test_changelog.py checks that line)
    monkeypatch.setattr(pack, "KEYWORD_FACTS", False)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "PeakVI: model.differential_accessibility(..., two_sided=False) gives TypeError: "
                    "DifferentialComputation.get_bayes_factors() got an unexpected keyword "
                    "argument 'two_sided'. What replaced it?")
    facts = [t for t in out[out.index("== source"):].splitlines() if t.startswith("src/")]
    at = next(n for n, t in enumerate(facts)
              if t.startswith("src/scvi/model/base/_differential.py:69 "))
    assert (at <= 2) is named_def_up, facts


@pytest.mark.parametrize("max_chars", [600, 400])
def test_a_long_signature_shows_the_parameters_past_its_first_400_characters(
        capsys, pinned_tree, monkeypatch, max_chars):
    """differential_expression's ``silent`` (the progress bar) is past the first 400
    characters of its header; at 600 the pack's signature shows it with its default."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "MAX_SIGNATURE_CHARS", max_chars)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "how do I stop differential_expression of my SCVI model from printing a "
                    "progress bar?")
    assert ("silent: bool = False" in out) is (max_chars == 600)


@pytest.mark.parametrize("echoed", [True, False])
def test_a_warning_told_in_the_users_words_brings_its_site(capsys, pinned_tree, monkeypatch,
                                                           echoed):
    """No paste, no exception name: "says accelerator set to cpu although mps exists" repeats
    parse_device_args' warning; the pack shows that site, headed as a repeated message."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "ECHOED_SITES", echoed)
    question = ("On my M2 Mac training says accelerator set to cpu although mps exists. How do "
                "I use the GPU?")
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    assert ("== raised at (the message the question repeats)" in out) is echoed
    if echoed:
        assert "use explicitly accelerator='mps' in train function" in out
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
    assert [(s["path"], s.get("echoed")) for s in report["raise_sites"]] == (
        [("src/scvi/model/_utils.py", True)] if echoed else [])
    assert not any(n.startswith("(error text)") for n in report["pack"]["notes"])


def test_of_several_named_parameters_the_entry_matching_the_question_is_shown(capsys,
                                                                              pinned_tree):
    """The question names sample_cov_keys first and store_lfc second; the symptom (memory)
    is in store_lfc's entry ("memory-intensive"), so that entry is the one shown."""
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "Calling MRVI differential_expression(sample_cov_keys=['donor'], "
                    "store_lfc=True) on 20 samples runs out of memory and the notebook dies. "
                    "Why?")
    shown = [line for line in out.splitlines() if line.startswith("  param ")]
    assert shown and shown[0].startswith("  param store_lfc (src/scvi/external/mrvi/_model.py:")
    assert "memory-intensive" in out


@pytest.mark.parametrize("paired", [True, False])
def test_two_named_parameters_with_neighbouring_entries_are_quoted_together(capsys, pinned_tree,
                                                                             monkeypatch, paired):
    """Both warmups named: TrainingPlan documents n_steps_kl_warmup and, next to it,
    n_epochs_kl_warmup, whose entry says which wins; both entries are quoted. Sanity question
    written for this test."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "PAIRED_ENTRIES", paired)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "I set n_steps_kl_warmup=1000 and n_epochs_kl_warmup=50 together in "
                    "plan_kwargs for SCVI. Which one does the training plan use?")
    assert ("Overrides `n_steps_kl_warmup` when both are not `None`." in out) is paired
    assert "Only activated when `n_epochs_kl_warmup` is" in out


@pytest.mark.parametrize("asserts", [True, False])
def test_an_assertion_error_points_the_window_at_the_def_s_asserts(capsys, pinned_tree,
                                                                    monkeypatch, asserts):
    """A bare AssertionError names no message to look up: the named def's window is its first
    assert (RESOLVI.setup_anndata checks counts and unique obs_names). Sanity question
    written for this test."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(pack, "ASSERT_WINDOW", asserts)
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "scvi.external.RESOLVI.setup_anndata(adata, layer='raw', prepare_data=True) "
                    "ends in an AssertionError on my MERFISH panel. What conditions does it "
                    "assert?")
    assert "src/scvi/external/resolvi/_model.py:298 scvi.external.RESOLVI.setup_anndata" in out
    assert ("assert np.min(x.sum(axis=1)) > 0, (" in out) is asserts


@pytest.mark.parametrize("weight, first", [(0.5, "scvi.model.MULTIVI.setup_anndata"),
                                           (1.0, "scvi.model.SCVI.setup_anndata")])
def test_a_bare_model_name_beside_a_written_out_call_weighs_less(capsys, pinned_tree,
                                                                 monkeypatch, weight, first):
    """The user's own call, written out with arguments, names the def; "like for SCVI" is an
    aside. An error message's "X.f() got an unexpected keyword" (no arguments) is not the
    user's call and changes nothing. Sanity questions written for this test."""
    from scvi_skill.runtime import rank

    monkeypatch.setitem(rank.PARAMS, "bare_beside_call", weight)
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "scvi.model.MULTIVI.setup_anndata(adata, batch_key='sample', "
                            "labels_key='ct') fails although the same call works for SCVI. "
                            "Which arguments does it take?")
    assert report["source"][0]["symbol"] == first
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "PEAKVI.get_bayes_factors() got an unexpected keyword argument "
                            "'fdr' when I run SCVI DE")
    assert report["source"][0]["symbol"] == "scvi.model.base.DifferentialComputation.get_bayes_factors"


def test_torch_s_invalid_values_message_finds_the_nan_answer(capsys, pinned_tree):
    """torch.distributions says "found invalid values" when a parameter went NaN; a paste of
    it without the word NaN gets the FAQ's NaN section first (a routing synonym), not the
    section a pasted "loc" or "scale" happens to match. Sanity question written for this test."""
    question = ("scvi model.train() crashes at epoch 40: ValueError: Expected parameter loc "
                "(Tensor of shape (128, 10)) of distribution Normal(loc: torch.Size([128, 10]), "
                "scale: torch.Size([128, 10])) to satisfy the constraint Real(), but found "
                "invalid values")
    code = resolve_docs.main(["--tree", str(pinned_tree.root), question])
    out = capsys.readouterr().out
    assert code == 0
    first = next(line for line in out.splitlines() if line.startswith("== "))
    assert first.startswith("== docs/faq.md:") and "NaNs" in first, first


def test_a_parameter_a_model_class_documents_is_quoted_from_the_class_docstring(
        capsys, pinned_tree):
    # TOTALVI documents its __init__'s parameters in the class docstring; __init__ has none.
    # A body line that is the bare name (a continued expression) is no docstring entry.
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "TOTALVI empirical_protein_background_prior meaning")
    facts = [s for s in report["source"] if s.get("param") == "empirical_protein_background_prior"]
    assert facts, report["source"]
    assert "Set the initialization of protein background prior empirically" in facts[0]["param_doc"]
    assert facts[0]["param_path"] == "src/scvi/model/_totalvi.py"
    lines = (pinned_tree.root / facts[0]["param_path"]).read_text().splitlines()
    first = facts[0]["param_lines"][0]
    assert lines[first - 1].strip() == "empirical_protein_background_prior"
    assert '"""' not in "".join(lines[first - 1 : facts[0]["param_lines"][1]])


def test_of_a_files_entries_for_a_named_parameter_the_one_matching_the_question_is_quoted(
        capsys, pinned_tree):
    # _compute_kl_weight's entry comes first in the file; TrainingPlan's (a class docstring)
    # says which of the two warmups wins, what the question asks.
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                    "If I set n_epochs_kl_warmup, does it override n_steps_kl_warmup when both "
                    "are given?")
    assert "Overrides `n_steps_kl_warmup` when both are not `None`." in out, out


def test_a_model_fact_must_share_what_it_is_about_not_its_subject_or_prose(capsys, pinned_tree):
    # The parts of the model's name (dest, vi), its method (train) and the fact's prose
    # ("value") chose DestVI's and SCVI's train() facts for questions about other things.
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "How do I get cell type proportions out of a DestVI model?")
    assert not [f for f in report["model_facts"] if f["model"] == "destvi"], report["model_facts"]
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "With a trained SCVI model, what value does the decoder give for "
                            "each gene?")
    assert report["model_facts"] == [], report["model_facts"]
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root),
                            "Can I set check_val_every_n_epoch when I train SCVI?")
    assert any("check_val_every_n_epoch" in f["fact"] for f in report["model_facts"])


def test_notes_of_releases_before_1_0_weigh_less_unless_the_question_names_a_version():
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import PARAMS, resolve

    sidx = load_search_index()
    flat = dict(PARAMS, old_release_factor=1.0)

    def old_notes(question: str, params: dict) -> dict[tuple, float]:
        return {(p["path"], *p["lines"]): p["score"] for p in resolve(question, sidx,
                                                                      params=params)["passages"]
                if p["path"] == "CHANGELOG.md" and re.search(r"\b0\.\d+\.\d+", p["section"])}

    question = "how do I choose the number of epochs to train for?"
    weighed, plain = old_notes(question, PARAMS), old_notes(question, flat)
    both = weighed.keys() & plain.keys()
    assert both, "no note of a 0.x release among the passages"
    assert all(weighed[k] < plain[k] for k in both)
    named = question + " I am on 0.9.0"
    assert old_notes(named, PARAMS) == old_notes(named, flat)  # a version named: no weight


def test_a_bare_name_the_question_also_writes_dotted_is_that_one(capsys, pinned_tree):
    """"RESOLVI.setup_anndata ... inside `setup_anndata`": the bare name is RESOLVI's, so it no
    longer boosts SCVI's file (the file every bare setup_anndata resolves to), and RESOLVI's
    def is the first source fact, its header cut to the room left when it is long."""
    from scvi_skill.runtime.index import load_search_index
    from scvi_skill.runtime.rank import PARAMS, _named_symbols

    sidx = load_search_index()
    question = ("scvi.external.RESOLVI.setup_anndata(adata, layer='counts', batch_key='sample') "
                "fails with a bare AssertionError inside `setup_anndata`. What does it check?")
    named = {name for name, _, _ in _named_symbols(question, sidx).values()}
    assert named == {"scvi.external.RESOLVI.setup_anndata"}, named
    off = {name for name, _, _ in _named_symbols(question, sidx,
                                                 dict(PARAMS, bare_after_dotted=0)).values()}
    assert "scvi.model.SCVI.setup_anndata" in off
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
    assert report["source"][0]["path"] == "src/scvi/external/resolvi/_model.py", report["source"]


def test_a_long_first_line_of_a_source_fact_is_cut_to_the_room_not_left_out(pinned_tree):
    from scvi_skill.runtime.pack import (
        MIN_BUDGET, SOURCE_HEADING, Pack, SourceFact, _Reader, _render)

    reader = _Reader(pinned_tree)
    best = SourceFact("src/scvi/model/_scvi.py", 220, "scvi.model.SCVI.setup_anndata")
    best.signature = "def setup_anndata(" + ", ".join(f"arg{i}: int = {i}" for i in range(90)) + ")"
    other = SourceFact("src/scvi/model/_scanvi.py", 299, "scvi.model.SCANVI.setup_anndata",
                       kind="def")
    other.signature = "def setup_anndata(cls, adata)"
    pack = Pack([], [best, other], [], [], reader, MIN_BUDGET)
    _render(pack, "setup_anndata arguments", "1.5.1")
    text = "\n".join(pack.lines)
    assert len(text) <= MIN_BUDGET * 4, len(text)
    shown = pack.lines[pack.lines.index(SOURCE_HEADING) + 1]
    # The better fact comes first, its header cut ("..."), rather than the other alone.
    assert shown.startswith("src/scvi/model/_scvi.py:220 ") and shown.endswith("..."), shown


def test_keyword_arguments_to_something_want_its_kwargs_parameter_first(capsys, pinned_tree):
    """"Pass keyword arguments to the DataSplitter from train()" asks for train()'s
    datasplitter_kwargs, even when the question names another parameter as an example
    (drop_last) and the DataSplitter's own file ranks first."""
    terms = {"datasplitter_kwargs": [], "plan_kwargs": [], "to_kwargs": [], "train_kwargs": []}
    find = pack._kwargs_params
    assert find("pass keyword arguments to the DataSplitter from train()", {"terms": terms}) \
        == ["datasplitter_kwargs"]
    assert find("my plan kwargs are ignored", {"terms": terms}) == ["plan_kwargs"]
    assert find("how do I pass drop_last to the DataSplitter?", {"terms": terms}) == []
    question = ("I'd like to control how the train/validation split and the data loaders are "
                "built when calling `model.train()` (e.g. `drop_last`, shuffling). Is there a "
                "way to pass keyword arguments to the DataSplitter from `train()`?")
    assert resolve_docs.main(["--tree", str(pinned_tree.root), question]) == 0
    out = capsys.readouterr().out
    assert "param datasplitter_kwargs (src/scvi/model/base/_training_mixin.py:" in out
    assert "param drop_last" not in out


def test_version_checks_the_code_the_pack_shows(capsys, pinned_tree):
    """The pack's passages are 1.5.1's: with --version V (or a release the question names),
    the code they show is checked against V, each finding under the title with the shown line
    that has it; a release that has the names gets none."""
    question = "How do I set early stopping patience with TrainerConfig when training SCVI?"
    tree = ["--tree", str(pinned_tree.root)]
    code, report, _ = run_json(capsys, *tree, "--version", "1.2.0", question)
    assert code == 0
    found = report["version"]["code"]
    assert any(f["message"].endswith("added in 1.4.2") and "rainer" in f["message"]
               for f in found), found  # TrainerConfig or SCVI.train(trainer_config=...)
    shown = [r for r in report["ranges"] if r["kind"] == "passage"]
    for f in found:
        assert any(r["path"] == f["path"] and r["lines"][0] <= f["line"] <= r["lines"][1]
                   for r in shown), f
        line = (pinned_tree.root / f["path"]).read_text(encoding="utf-8").splitlines()[f["line"] - 1]
        assert (f["kwarg"] or f["name"].rsplit(".", 1)[-1]) in line, (f, line)
    code, out, _ = run(capsys, *tree, "--version", "1.2.0", question)
    notes = out.split("\n== ", 1)[0]
    _, again, _ = run_json(capsys, *tree, "--version", "1.2.0", question)
    for f in again["version"]["code"][:4]:
        assert f"code at {f['path']}:{f['line']}: {f['message']}" in notes
        assert f"{f['name']}: not in 1.2.0" not in notes  # the code line says it
    assert len(out) <= 1200 * 4 + 200
    _, report, _ = run_json(capsys, *tree, "--version", "1.4.2", question)
    assert report["version"].get("code", []) == []
    _, report, _ = run_json(capsys, *tree, question + " I am on scvi-tools 1.2.0")
    assert report["version"]["named"] and report["version"]["code"]


def test_replace_notes_keeps_the_pack_within_its_budget(pinned_tree):
    """The code lines of --version V are swapped for those of the code the rebuilt pack shows
    only when the pack stays within its budget; the lines under the title are its notes."""
    sidx = resolve_docs.load_search_index(None)
    question = "SCVI.train early stopping patience"
    result = resolve_docs.resolve(question, sidx, limit=5, source_limit=5)
    built = resolve_docs.make_pack("", [], question, result, sidx, pinned_tree, budget=600,
                                   other={"requested": "1.2.0", "differences": {},
                                          "fetch": "fetch"})
    notes = list(built.notes)
    assert built.lines[1:1 + len(notes)] == notes and notes
    assert not built.replace_notes(["not a note"], ["x"])
    assert not built.replace_notes([], ["x"]) and built.notes == notes  # where would it go?
    too_long = ["  code at " + "x" * (built.budget * 4)]
    assert not built.replace_notes(notes[-1:], too_long) and built.notes == notes
    assert built.replace_notes(notes[-1:], ["  code at a.md:1: short"])
    assert built.notes == notes[:-1] + ["  code at a.md:1: short"]
    assert built.lines[len(notes)] == "  code at a.md:1: short"
    assert built.tokens <= max(built.budget, 600)


def test_version_differences_are_of_what_the_pack_shows(capsys, pinned_tree):
    """The differences in V are those of the names the question names and of the defs the
    pack's source facts show, by public name, a missing method folded into its missing class,
    and a missing name says when it came or went."""
    tree = ["--tree", str(pinned_tree.root)]
    question = "How do I set early stopping patience when training SCVI?"
    _, report, _ = run_json(capsys, *tree, "--version", "1.2.0", question)
    diffs = report["version"]["differences"]
    shown = {s["symbol"] for s in report["source"] if s.get("symbol")}
    assert "scvi.train.KwargsConfig" not in diffs  # _config.py's first name, not shown
    assert "scvi.train.TrainerConfig" in diffs and diffs["scvi.train.TrainerConfig"]["missing"]
    assert diffs["scvi.train.TrainerConfig"]["when"] == "added in 1.4.2"
    assert not any("._" in name for name in diffs), diffs  # public names
    assert not any(name.rpartition(".")[0] in diffs and diffs[name.rpartition(".")[0]]["missing"]
                   for name in diffs)
    assert any("TrainerConfig" in name for name in shown)
    _, out, _ = run(capsys, *tree, "--version", "1.2.0", "TrainerConfig early_stopping_patience")
    head = out.split("\n== ", 1)[0]
    assert "TrainerConfig: added in 1.4.2" in head and "not in 1.2.0" not in head


def test_differences_order_asked_then_missing_then_changed():
    """The names the question names come first; then a name the release lacks (a shown def or
    a name the shown docs cite) before a changed signature; a cited name counts only when the
    release lacks it, and a class's __init__ is the class."""
    found = resolve_docs._differences(
        "1.2.0", PINNED_SCVI_TOOLS, ["scvi.model.SCVI.train"],
        ["scvi.train._trainer.Trainer.__init__"], ["scvi.train.TrainerConfig", "scvi.model.SCVI"])
    assert list(found) == ["scvi.model.SCVI.train", "scvi.train.TrainerConfig",
                           "scvi.train.Trainer"], found
    assert found["scvi.train.TrainerConfig"]["when"] == "added in 1.4.2"
    assert "early_stopping_warmup_epochs" in found["scvi.train.Trainer"]["removed"]
    assert resolve_docs._differences("9.9.9", PINNED_SCVI_TOOLS, [], [], []) is None


def test_shown_cited_names_are_the_docs_roles_and_scvi_names_of_shown_lines():
    from scvi_skill.runtime.codelint import shown_cited_names

    doc = ["Use {class}`~scvi.train.TrainerConfig` or `scvi.model.SCVI.train`.",
           "Not shown: {meth}`scvi.model.SCANVI.predict`.", "{func}`numpy.log1p` is not scvi"]
    files = {"docs/a.md": doc, "CHANGELOG.md": doc, "src/scvi/a.py": doc}
    assert shown_cited_names([("docs/a.md", 1, 1), ("docs/a.md", 3, 3)], files.__getitem__) == [
        "scvi.train.TrainerConfig", "scvi.model.SCVI.train"]
    assert shown_cited_names([("CHANGELOG.md", 1, 3), ("src/scvi/a.py", 1, 3)],
                             files.__getitem__) == []


def test_version_names_the_defaults_the_model_facts_state(capsys, pinned_tree):
    """A model fact states a 1.5.1 default ("SCANVI.differential_expression(mode='vanilla')");
    with --version 1.2.0 the notes give that method's line, whose default differs there."""
    question = "scANVI differential expression: default mode vanilla or change, and delta?"
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "--version", "1.2.0", question)
    assert any(f["fact"].startswith("SCANVI.differential_expression(mode=")
               for f in report["model_facts"])
    diff = report["version"]["differences"]["scvi.model.SCANVI.differential_expression"]
    assert diff["defaults"]["mode"] == ["'change'", "'vanilla'"]
    assert "scvi.model.SCANVI.differential_expression in 1.2.0:" in "\n".join(report["pack"]["notes"])


def test_the_lines_under_the_title_take_at_most_half_a_small_budget(capsys, pinned_tree):
    """--version V with --budget 200 (the least): V's notes are cut to half the budget with a
    line saying how many were left out, so the pack stays within its budget by no more than
    one passage header (it went to 338 tokens before)."""
    question = ("model.train(max_epochs=100, plan_config=TrainingPlanConfig(lr=1e-3), "
                "trainer_config=TrainerConfig(early_stopping=True)) gives no early stopping "
                "on SCVI")
    tree = ["--tree", str(pinned_tree.root)]
    code, report, _ = run_json(capsys, *tree, "--version", "1.0.0", "--budget", "200", question)
    assert code == 0 and report["pack"]["tokens"] <= 200 + 25
    code, out, _ = run(capsys, *tree, "--version", "1.0.0", "--budget", "200", question)
    notes = [line for line in out.splitlines()[1:] if not line.startswith("==")][:12]
    assert any(re.fullmatch(r"  \(\+\d+ more lines: a larger --budget, or --json\)", line)
               for line in notes)
    code, out, _ = run(capsys, *tree, "--version", "1.0.0", question)  # the default budget
    assert "more lines: a larger --budget" not in out


def test_stdin_with_more_words_is_a_usage_error_and_control_bytes_are_dropped(
        capsys, pinned_tree):
    code, out, err = run(capsys, "-", "extra", "words")
    assert code == 2 and out == "" and "give it alone" in err
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                       "batch_key \x1b[31mversus\x1b[0m categorical\x00 covariates")
    assert code == 0 and "\x1b" not in out and "\x00" not in out
    assert out.splitlines()[0].endswith("batch_key versus categorical covariates")
    code, out, err = run(capsys, "the and of a")
    assert code == 1 and "--text" not in err and "search_source.py WORDS" in err


def test_facts_and_pitfalls_of_a_pack_for_another_release_cite_the_pinned_lines_as_such(
        capsys, pinned_tree):
    """--version V: the model facts' and pitfalls' path:line are the pinned release's lines,
    and their citations say so ([1.5.1 path:line]); without --version they are plain."""
    question = "How do I enable early stopping when training SCVI and what metric does it monitor?"
    tree = ["--tree", str(pinned_tree.root)]
    _, out, _ = run(capsys, *tree, "--version", "1.2.0", question)
    facts = [line for line in out.splitlines() if line.startswith("- SCVI.train(")]
    assert facts and all(f"[{PINNED_SCVI_TOOLS} src/" in line for line in facts)
    _, out, _ = run(capsys, *tree, question)
    facts = [line for line in out.splitlines() if line.startswith("- SCVI.train(")]
    assert facts and all("[src/" in line for line in facts)


def test_a_message_raised_at_several_sites_names_them_all(capsys, pinned_tree):
    """Five fields raise "{key} not found in adata.{attr}." with the same words: the text alone
    cannot tell which one the user hit, so the others are named under the first site (the
    categorical obs field that batch_key registers had been left out), after its own lines,
    and it is not said to be the one that raised it."""
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                       "KeyError: 'batch not found in adata.obs.'")
    lines = out.splitlines()
    also = [at for at, line in enumerate(lines)
            if line.startswith("  one of 5 sites with this message (the text does not say "
                               "which")]
    assert code == 0 and len(also) == 1
    first = max(at for at in range(also[0]) if lines[at].startswith("src/"))
    assert lines[first].startswith("src/scvi/data/fields/_arraylike_field.py:108 ")
    assert all(line.startswith("   ") or line.startswith("  when:")
               for line in lines[first + 1:also[0]])  # its own lines, then the note
    assert "src/scvi/data/fields/_dataframe_field.py:179 CategoricalDataFrameField" \
        in lines[also[0]] and lines[also[0]].endswith(", the next site below")


def test_a_traceback_frame_that_decides_between_sites_of_one_message_lists_no_others(
        capsys, pinned_tree):
    """With the raising frame pasted, the frame decides: the pack named the other sites of the
    message under it all the same (their scores, clipped to 1, looked equal)."""
    from pathlib import Path

    pastes = Path(__file__).parent / "fixtures" / "messages" / "real_pastes.jsonl"
    paste = next(c["paste"] for c in map(json.loads, pastes.read_text().splitlines())
                 if c["case"] == "case_scanvi_missing_labels" and c["style"] == "traceback")
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), paste)
    raised = out.split("== raised at", 1)[1].splitlines()
    assert code == 0 and raised[1].startswith("src/scvi/data/fields/_dataframe_field.py:179 ")
    assert not any("sites with this message" in line or "also at:" in line
                   for line in raised[:8])


@pytest.mark.parametrize("budget", [300, 450, 700])
def test_a_window_label_names_the_lines_shown_when_the_budget_cuts_it(capsys, pinned_tree,
                                                                      budget):
    """A source window cut at the budget's end had kept its full range ("lines 536-541:" over
    one line); now each label names as many lines as follow it."""
    labels = 0
    for question in ("How do I set early stopping patience when training SCVI?",
                     "SCANVI predict soft probabilities for query cells",
                     "TOTALVI protein_expression_obsm_key setup_anndata",
                     "get_normalized_expression library_size transform_batch"):
        _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--budget", str(budget),
                        question)
        lines = out.splitlines()
        for at, line in enumerate(lines):
            label = re.fullmatch(r"  lines (\d+)-(\d+):", line)
            if not label:
                continue
            labels += 1
            shown = 0
            for below in lines[at + 1:]:
                if not below.startswith("   ") and below != "":
                    break
                shown += 1
            want = int(label[2]) - int(label[1]) + 1
            assert shown >= want, (question, line, shown)
    assert labels


def test_c1_controls_hyperlinks_and_undecodable_bytes_leave_the_question(capsys, pinned_tree):
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root),
                       "batch_key \x9b31m \x1b]8;;http://x\x07link\x1b]8;;\x07 \udc9b categorical")
    title = out.splitlines()[0]
    assert code == 0 and title.endswith("batch_key 31m link categorical")


# Written for these tests: the user's words ("identical", "rerun") are not the answer's
# (``scvi.settings.seed``); the agent's own guess of the names, --also, brings it.
UNSEEDED = "every time I rerun my notebook the embedding comes out a bit different, how do I make it identical?"


def test_also_ranks_the_names_the_agent_expects_beside_the_question(capsys, pinned_tree):
    code, plain, _ = run_json(capsys, UNSEEDED)
    assert code == 0 and "also" not in plain and set(plain) == REPORT_KEYS
    assert "src/scvi/_settings.py" not in [s["path"] for s in plain["source"][:3]]
    code, hinted, _ = run_json(capsys, "--tree", str(pinned_tree.root), "--also",
                               "scvi.settings.seed", UNSEEDED)
    assert code == 0 and hinted["query"] == UNSEEDED and hinted["also"] == "scvi.settings.seed"
    assert list(hinted)[:2] == ["query", "also"] and set(hinted) == REPORT_KEYS | {"also"}
    assert hinted["source"][0]["path"] == "src/scvi/_settings.py"
    seed_note = ("CHANGELOG.md", [760, 760])  # "Disable default seed, run scvi.settings.seed ..."
    assert seed_note not in [(p["path"], p["lines"]) for p in plain["passages"]]
    assert seed_note in [(p["path"], p["lines"]) for p in hinted["passages"][:2]]
    assert "scvi.settings.seed" in next(p["text"] for p in hinted["passages"]
                                        if (p["path"], p["lines"]) == seed_note)


def test_also_is_not_the_question(capsys, pinned_tree):
    """The hint ranks; error text, pitfalls and the title come from the question alone."""
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--also",
                       "ValueError: Expected parameter loc", "which layer holds raw counts?")
    assert code == 0 and "== raised at" not in out
    assert out.splitlines()[0].endswith(": which layer holds raw counts?")


@pytest.mark.parametrize("also", ["", "   ", "\x1b[31m\x00"])
def test_an_also_without_a_word_is_a_usage_error(capsys, also):
    code, out, err = run(capsys, "--also", also, "why is my loss NaN")
    assert code == 2 and out == ""
    assert err.startswith("Error: --also holds no word")


def test_also_with_equals_and_spaces_stays_the_option(capsys):
    code, report, _ = run_json(capsys, "--also=SCVI batch_key", "why is my loss NaN")
    assert code == 0 and report["query"] == "why is my loss NaN"
    assert report["also"] == "SCVI batch_key"


def test_a_long_also_is_cut_with_a_warning(capsys):
    words = " ".join(f"name{i}" for i in range(200))
    code, report, err = run_json(capsys, "--also", f"batch_key\x07 {words}", "why is my loss NaN")
    assert code == 0 and len(report["also"]) == resolve_docs.MAX_ALSO_CHARS
    assert report["also"].startswith("batch_key name0 ")
    assert f"ranking its first {resolve_docs.MAX_ALSO_CHARS}" in err


def test_a_hint_name_an_older_release_had_gets_its_release_history_once(capsys, pinned_tree):
    """A guess from the agent's memory of an older release (SaveBestState went in 1.3.3) is
    told under the title with what replaces it; a name the question writes is told once."""
    question = "can I get the model from before my run crashed?"
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--also", "SaveBestState", question)
    notes = [line for line in out.splitlines() if line.startswith("(release history)")]
    assert code == 0 and len(notes) == 1
    assert "SaveBestState" in notes[0] and "gone since 1.3.3" in notes[0]
    assert "SaveCheckpoint" in notes[0]
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--also", "SaveBestState on_exception",
                       f"{question} I used SaveBestState")
    assert code == 0 and out.count("SaveBestState: in scvi-tools") == 1
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--also", "SaveCheckpoint", question)
    assert code == 0 and "(release history)" not in out


def test_a_parameter_entry_is_shown_whole_or_says_where_it_ends(capsys, pinned_tree):
    """Trial round 63: the pack cut `transform_batch`'s entry after five lines, before
    "- Otherwise based on string", and the agent cited the cut range for category names.
    Entries of up to MAX_PARAM_DOC_LINES lines are shown whole; a longer one's header says
    where it ends (AUTOZI's zero_inflation, eleven lines)."""
    from scvi_skill.runtime.pack import MAX_PARAM_DOC_LINES

    question = ("Can I get batch-corrected expression from get_normalized_expression with "
                "transform_batch for genes the model was not trained on?")
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--json", question)
    fact = next(s for s in json.loads(out)["source"] if s.get("param") == "transform_batch")
    assert "Otherwise based on string" in fact["param_doc"] and "param_end" not in fact
    first, last = fact["param_lines"]
    lines = (pinned_tree.root / fact["param_path"]).read_text(encoding="utf-8").splitlines()
    assert "Otherwise based on string" in lines[last - 1]
    question = "What values can zero_inflation take in scvi.model.AUTOZI?"
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--json", question)
    fact = next(s for s in json.loads(out)["source"] if s.get("param") == "zero_inflation")
    first, last = fact["param_lines"]
    assert last - first + 1 == MAX_PARAM_DOC_LINES and fact["param_end"] == first + 10
    _, out, _ = run(capsys, "--tree", str(pinned_tree.root), question)
    assert (f"param zero_inflation (src/scvi/model/_autozi.py:{first}-{last}; the entry goes "
            f"on to line {first + 10}):") in out


def test_pitfalls_leave_room_for_the_first_source_fact(capsys, pinned_tree, monkeypatch):
    """Two long pitfalls (one of them the hint's) filled the tail's share and the pack showed
    no source fact at all (trial round 80's question with its agent's hint); the first fact's
    header and lines now keep their room, and the pack stays within its budget."""
    question = ("get_latent_representation() gives me only the posterior mean of z for each "
                "cell. How can I also get the variance of the latent posterior q(z|x) per cell "
                "from an SCVI model, without writing my own loop over the module?")
    also = ("get_latent_representation return_dist give_mean mc_samples qz scale loc "
            "variance Normal dist")
    tree = ["--tree", str(pinned_tree.root)]
    monkeypatch.setattr(pack, "SOURCE_KEPT", 0)
    code, out, _ = run(capsys, *tree, "--also", also, question)
    assert code == 0 and "== pitfalls" in out and "== source" not in out
    monkeypatch.setattr(pack, "SOURCE_KEPT", 3)
    code, out, _ = run(capsys, *tree, "--also", also, question)
    lines = out.splitlines()
    assert code == 0 and "== pitfalls" in lines and "== source" in lines
    first = lines[lines.index("== source") + 1]
    assert first.startswith("src/scvi/model/base/_vaemixin.py:") and len(lines) > lines.index(
        "== source") + 2
    code, report, _ = run_json(capsys, *tree, "--also", also, question)
    assert report["pack"]["tokens"] <= report["pack"]["budget"] + 25


def test_a_def_that_hands_on_is_followed_by_the_def_it_hands_on_to(capsys, pinned_tree,
                                                                   monkeypatch):
    """Trial round 74: `scvi.data.heart_cell_atlas_subsampled()` only returns
    `_load_heart_cell_atlas_subsampled(...)`, imported from `_built_in_data`; the download URL
    is in the latter, which the pack never showed. The function handed on to now comes right
    after the wrapper's fact, with its own best window."""
    question = ("Where does scvi.data.heart_cell_atlas_subsampled() download its file from in "
                "1.5.1? Our cluster only reaches whitelisted domains.")
    tree = ["--tree", str(pinned_tree.root)]
    monkeypatch.setattr(pack, "DELEGATE_FACTS", False)
    _, out, _ = run(capsys, *tree, question)
    assert "_heartcellatlas.py" not in out
    monkeypatch.setattr(pack, "DELEGATE_FACTS", True)
    _, out, _ = run(capsys, *tree, question)
    lines = out.splitlines()
    heads = [t for t in lines[lines.index("== source") + 1:] if t.startswith("src/")]
    assert heads[0].startswith("src/scvi/data/_datasets.py:601 ")
    assert heads[1].startswith("src/scvi/data/_built_in_data/_heartcellatlas.py:8 ")
    assert "exampledata.scverse.org" in out
    _, report, _ = run_json(capsys, *tree, question)
    url = next(n for n, t in enumerate((pinned_tree.root / "src/scvi/data/_built_in_data/"
                                         "_heartcellatlas.py").read_text("utf-8").splitlines(), 1)
               if "exampledata.scverse.org" in t)
    assert any(r["path"].endswith("_heartcellatlas.py") and r["lines"][0] <= url <= r["lines"][1]
               for r in report["ranges"])


def test_what_a_def_hands_on_to_is_found_by_its_import_or_in_its_file():
    """Relative and absolute imports name the callee's file; a def of the same file is found
    too; a def with more than MAX_DELEGATE_BODY code lines, or one that returns no call of a
    plain name, hands on nothing."""
    files = {
        "src/pkg/data/_api.py": [
            "from ._impl._load import _load_x",
            "from pkg.data._other import (",
            "    helper,",
            "    _load_y,",
            ")",
            "def load_x(path):",
            '    """Load x.',
            "",
            '    Returns it."""',
            "    return _load_x(path)",
            "def load_y(path):",
            "    return _load_y(path)",
            "def local(path):",
            "    return _local(path)",
            "def _local(path):",
            "    return path",
            "def long(path):",
            *["    a = 1"] * pack.MAX_DELEGATE_BODY,
            "    return _load_x(path)",
            "def method_call(self):",
            "    return self.module.run()",
        ],
        "src/pkg/data/_impl/_load.py": ["import os", "def _load_x(path):", "    return os.sep"],
        "src/pkg/data/_other.py": ["def helper():", "    pass", "def _load_y(path):", "    pass"],
    }

    class Reader:
        def file(self, rel):
            return files.get(rel)

    lines = files["src/pkg/data/_api.py"]

    def target(name):
        line = next(n for n, t in enumerate(lines) if t.startswith(f"def {name}(")) + 1
        return pack._delegate_target(pack.SourceFact("src/pkg/data/_api.py", line, name),
                                     lines, Reader())

    assert target("load_x") == ("src/pkg/data/_impl/_load.py", 1)
    assert target("load_y") == ("src/pkg/data/_other.py", 2)
    assert target("local") == ("src/pkg/data/_api.py", 14)
    assert target("long") is None and target("method_call") is None
    assert pack._module_files("src/scvi/data/_datasets.py", "..utils") == [
        "src/scvi/utils.py", "src/scvi/utils/__init__.py"]
    assert pack._module_files("src/scvi/data/_datasets.py", "numpy") == []


def test_a_def_range_covers_the_whole_header_the_fact_quotes(capsys, pinned_tree):
    """A fact's first line quotes its def's whole signature on one line; its `def` range
    covered only the def's first line, so a default written further down
    (`doublet_ratio: int = 2,` of SOLO.from_scvi_model) was quoted by the pack but in no
    range. The range now ends with the header."""
    question = "What does doublet_ratio do in SOLO.from_scvi_model?"
    _, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), question)
    heads = [r for r in report["ranges"] if r["kind"] == "def"]
    assert heads
    for row in heads:
        lines = (pinned_tree.root / row["path"]).read_text(encoding="utf-8").splitlines()
        first, last = row["lines"]
        assert re.match(r"\s*(async\s+def|def|class)\s", lines[first - 1])
        assert re.search(r":\s*(#.*)?$", lines[last - 1])  # the header's last line
        assert not any(re.search(r"\)\s*(->.*)?:\s*$", t) for t in lines[first - 1:last - 1])
    solo = next(r for r in heads if r["path"].endswith("solo/_model.py")
                and "from_scvi_model" in (pinned_tree.root / r["path"]).read_text(
                    encoding="utf-8").splitlines()[r["lines"][0] - 1])
    first, last = solo["lines"]
    text = (pinned_tree.root / solo["path"]).read_text(encoding="utf-8").splitlines()
    assert last > first and any("doublet_ratio: int = 2," in t for t in text[first - 1:last])


def test_ranges_a_few_lines_apart_in_one_file_are_one_range(monkeypatch):
    """A parameter's entry and a window eight lines below it are one read: the later span
    joins the earlier one in its place; a span further off, of another file, or one that would
    make the range MERGE_MAX lines or longer stays apart. The spans given are not changed."""
    Span = pack.Span
    spans = [Span("param", "a.py", 10, 12, 0), Span("passage", "b.md", 1, 3, 0),
             Span("window", "a.py", 20, 24, 1), Span("window", "a.py", 34, 36, 2),
             Span("window", "a.py", 5, 8, 3), Span("def", "c.py", 100, 100, 0),
             Span("window", "c.py", 102, 140, 1)]
    merged = pack._merged(spans)
    assert [(s.path, s.start, s.end) for s in merged] == [
        ("a.py", 5, 24), ("b.md", 1, 3), ("a.py", 34, 36), ("c.py", 100, 100),
        ("c.py", 102, 140)]
    assert merged[0].kind == "param" and (spans[0].start, spans[0].end) == (10, 12)
    monkeypatch.setattr(pack, "MERGE_GAP", -1)
    assert pack._merged(spans) == spans


def test_release_notes_are_ranked_among_themselves_for_the_reading_order():
    """A CHANGELOG passage takes the "note" shares of the reading order (the first release
    note answered more often than the first docs passage on the tuning splits); without a
    "note" entry it counts among the passages, as before."""
    Span = pack.Span
    spans = [Span("passage", "docs/faq.md", 1, 3, 0), Span("passage", "CHANGELOG.md", 9, 9, 1),
             Span("window", "src/a.py", 5, 8, 0)]
    with_notes = {"passage": (0.2, 0.1), "note": (0.3,), "window": (0.05,)}
    order = pack._reading_order(spans, None, with_notes)
    assert [s.path for s in order] == ["CHANGELOG.md", "docs/faq.md", "src/a.py"]
    order = pack._reading_order(spans, None, {"passage": (0.2, 0.1), "window": (0.05,)})
    assert [s.path for s in order] == ["docs/faq.md", "CHANGELOG.md", "src/a.py"]

"""check_code.py on an answer's prose: the calls its inline code spans recommend, each bound
to the model the answer's words name (scvi_skill.runtime.prosecode)."""

from __future__ import annotations

import json
from pathlib import Path

import check_code
import pytest

from scvi_skill.runtime import prosecode
from scvi_skill.runtime.apiindex import (
    ReleaseApi,
    load_history,
    load_migrations,
    load_release,
    load_releases,
)
from scvi_skill.runtime.codelint import History, lint_file


def prose_findings(capsys, tmp_path, text: str, *, suffix: str = ".md") -> list[tuple]:
    """``(line, col, name, kwarg)`` of each finding check_code.py gives ``text`` on 1.5.1."""
    answer = tmp_path / f"answer{suffix}"
    answer.write_text(text, encoding="utf-8")
    code = check_code.main([str(answer), "--version", "1.5.1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (1 if report["findings"] else 0)
    return [(f["line"], f["col"], f["name"], f["kwarg"]) for f in report["findings"]]


CLIP = "Clip the gradients with `model.train(max_epochs=50, gradient_clip_val=1.0)`.\n"


def test_a_span_s_receiver_is_the_model_its_section_names(capsys, tmp_path):
    """MULTIVI and TOTALVI train with a plan that optimizes by hand, where Lightning refuses
    gradient_clip_val; SCVI does not. The same sentence is flagged under the first two."""
    for model, flagged in (("MultiVI", True), ("totalVI", True), ("scVI", False)):
        text = f"## q1\n\nYour {model} run diverges.\n\n- {CLIP}"
        found = prose_findings(capsys, tmp_path, text)
        assert bool(found) is flagged, (model, found)
        if flagged:
            assert found[0][0] == 5 and found[0][3] == "gradient_clip_val"
            assert found[0][1] == text.splitlines()[4].index("gradient_clip_val") + 1


def test_the_sentence_decides_before_the_paragraph_and_the_section(capsys, tmp_path):
    # the section names two models: the span is bound only when its sentence names one
    both = "## q1\n\nscVI and totalVI differ here.\n\n"
    assert prose_findings(capsys, tmp_path, both + CLIP) == []
    found = prose_findings(capsys, tmp_path, both + "For totalVI: " + CLIP)
    assert [f[3] for f in found] == ["gradient_clip_val"]
    # a sentence naming SCVI wins over a section naming TOTALVI
    assert prose_findings(capsys, tmp_path, "## q1\n\ntotalVI.\n\nIn scVI, " + CLIP) == []


def test_a_span_shown_as_wrong_old_or_replaced_is_not_checked(capsys, tmp_path):
    head = "## q1\n\nYour scVI model.\n\n"
    assert prose_findings(capsys, tmp_path, head + "Call `model.train(pin_memory=True)`.\n")
    for sentence in ("`model.train(pin_memory=True)` does not work.",
                     "The old `model.train(pin_memory=True)` became `datasplitter_kwargs`.",
                     "Use datasplitter_kwargs instead of `model.train(pin_memory=True)`.",
                     "`model.train(pin_memory=True)` -> `datasplitter_kwargs`.",
                     # trial round 91: a call the answer warns about
                     "`model.train(pin_memory=True)` is meant to do it but crashes in 1.5.1.",
                     # trial round 90: a docstring's example quoted against the signature
                     "The class docstring shows `model.train(pin_memory=True)` (:65), but "
                     "the signature is `train(self)`."):
        assert prose_findings(capsys, tmp_path, head + sentence + "\n") == [], sentence
    # a cue word inside another code span of the sentence is code, not a cue
    assert prose_findings(capsys, tmp_path, head + "Set `raise_error` and call "
                          "`model.train(pin_memory=True)`.\n")


def test_a_paragraph_naming_another_release_is_not_checked(capsys, tmp_path):
    head = "## q1\n\nYour scVI model.\n\n"
    span = "pass your data module as `model.train(data_module=dm)`.\n"
    assert prose_findings(capsys, tmp_path, head + "Then " + span)
    for release in ("In 1.1.5 ", "On scvi-tools 1.1 ", "Since 0.7 - 0.14 "):
        assert prose_findings(capsys, tmp_path, head + release + span) == [], release
    # the release checked is not another release
    assert prose_findings(capsys, tmp_path, head + "In 1.5.1 " + span)


def test_another_package_s_version_is_not_another_release(capsys, tmp_path):
    """A version of a package scvi-tools requires (from the API manifest), of Python or of
    CUDA does not make the paragraph another release's: its spans are checked."""
    head = "## q1\n\nYour scVI model.\n\n"
    span = "pass your data module as `model.train(data_module=dm)`.\n"
    for other in ("With anndata 0.10.9 ", "With torch>=2.1.0 ", "On Python 3.12.1 ",
                  "With PyTorch 2.3.1 ", "With numpy version 1.26.4 "):
        assert prose_findings(capsys, tmp_path, head + other + span), other
    for release in ("With scvi-tools 1.1.5 ", "With scvi 1.1.5 ", "After upgrading to 1.1.5 "):
        assert prose_findings(capsys, tmp_path, head + release + span) == [], release


def test_names_that_bind_and_names_that_do_not(capsys, tmp_path):
    head = "## q1\n\nAn scVI question.\n\n"
    # a variable naming a model among other parts is that model, whatever the words say
    found = prose_findings(capsys, tmp_path, head + "Run "
                           "`totalvi_model.train(gradient_clip_val=1.0)`.\n")
    assert [f[3] for f in found] == ["gradient_clip_val"]
    # a model's class, called bare, and a keyword its module does not take
    found = prose_findings(capsys, tmp_path, head + "Build "
                           "`PEAKVI(adata, adversarial_mixing=True)`.\n")
    assert [(f[2], f[3]) for f in found] == [("scvi.model.PEAKVI", "adversarial_mixing")]
    # torch's names are not guessed; a bare lowercase model name is its subpackage
    for span in ("`load_state_dict(state, strict=False)`", "`Normal(loc=0.0, scale=1.0)`",
                 "`cytovi.subsample(adata, groupby='x')`", "`adata.obs.copy(deep=True)`"):
        assert prose_findings(capsys, tmp_path, head + f"Call {span}.\n") == [], span


def test_a_fence_s_model_carries_to_the_spans_of_its_section_only(capsys, tmp_path):
    fence = "```python\nmodel = scvi.model.TOTALVI(adata)\n```\n\n"
    prose = "Then `model.train(gradient_clip_val=1.0)` helps.\n"
    found = prose_findings(capsys, tmp_path, "## q1\n\n" + fence + prose)
    assert [(f[0], f[2], f[3]) for f in found] == [
        (7, "scvi.model.TOTALVI.train", "gradient_clip_val")]
    # above the fence, and in the next answer, `model` is not yet (or no longer) TOTALVI
    assert prose_findings(capsys, tmp_path, "## q1\n\n" + prose + "\n" + fence) == []
    assert prose_findings(capsys, tmp_path, "## q1\n\n" + fence + "## q2\n\n" + prose) == []


def test_a_model_the_section_s_code_assigns_overrules_the_words_guess(capsys, tmp_path):
    """Round 88: an answer about SOLO wrote `vae.train(plan_kwargs={"lr": ...})` in its
    prose, and its code below made `vae` an SCVI model, whose train() keeps plan_kwargs'
    lr: the words' guess (SOLO, whose train() puts its own lr over it) was a false alarm."""
    table = ("## q1\n\nThe classifier of SOLO is set in from_scvi_model.\n\n"
             '- Learning rate: `vae.train(plan_kwargs={"lr": 5e-4})`.\n\n')
    fence = "```python\nvae = scvi.model.SCVI(adata)\n```\n"
    assert [f[2] for f in prose_findings(capsys, tmp_path, table)] == [
        "scvi.external.SOLO.train"]
    assert prose_findings(capsys, tmp_path, table + fence) == []
    # the same model assigned, or an assignment in another answer: the guess stands
    solo = "```python\nvae = scvi.external.SOLO.from_scvi_model(scvi_model)\n```\n"
    assert [f[2] for f in prose_findings(capsys, tmp_path, table + solo)] == [
        "scvi.external.SOLO.train"]
    assert [f[2] for f in prose_findings(capsys, tmp_path, table + "## q2\n\n" + fence)] == [
        "scvi.external.SOLO.train"]


def test_fence_assignments_name_the_model_a_call_returns():
    models = {"SCVI": "scvi.model.SCVI", "SOLO": "scvi.external.SOLO"}
    lines = ["## q1", "```python", "vae = scvi.model.SCVI(adata)", "vae = SOLO.load(d)",
             "solo = scvi.external.SOLO.from_scvi_model(vae)", "x = np.zeros(3)",
             "m = SCVI.setup_anndata(adata)", "```", "## q2", "```python",
             "other = SCVI(adata)", "```"]
    code = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11}
    assert prosecode.fence_assignments(lines, 0, code, models) == {
        "vae": "scvi.model.SCVI", "solo": "scvi.external.SOLO", "m": "scvi.model.SCVI"}
    assert prosecode.fence_assignments(lines, 8, code, models) == {"other": "scvi.model.SCVI"}


def test_unread_parameters_in_spans(capsys, tmp_path):
    """MULTIVI.setup_anndata is a stub that reads none of its keywords (1.4 on); a quoted
    signature giving an unread parameter None is not a call to flag."""
    found = prose_findings(capsys, tmp_path, "## q1\n\nCall "
                           "`MULTIVI.setup_anndata(adata, batch_key=\"modality\")`.\n")
    assert [f[3] for f in found] == ["batch_key"]
    signature = ("## q1\n\nIts signature is `SCANVI.from_scvi_model(scvi_model, "
                 "unlabeled_category, labels_key=None, adata=None, registry=None)`.\n")
    assert prose_findings(capsys, tmp_path, signature) == []


def test_fences_and_code_spans_of_code_are_not_prose(capsys, tmp_path):
    # a span-like text inside a fence is code the fence check reads; a span of a .py file
    # is a string
    text = "## q1\n\nscVI.\n\n```text\n`model.train(pin_memory=True)`\n```\n"
    assert prose_findings(capsys, tmp_path, text) == []
    source = "x = 'In scVI call `model.train(pin_memory=True)`'\n"
    assert prose_findings(capsys, tmp_path, source, suffix=".py") == []
    # a double-backtick span holding a backtick
    found = prose_findings(capsys, tmp_path, "## q1\n\nscVI: "
                           "``model.train(pin_memory=True, plan_kwargs={'x': '`'})``.\n")
    assert [f[3] for f in found][:1] == ["pin_memory"]


def test_lint_file_checks_prose_only_when_asked():
    """The pack lints the docs' fences it shows (prose=False): their prose is not its
    concern."""
    releases = load_releases()
    api = ReleaseApi(load_release(releases, "1.5.1"))
    history = History.lazy(lambda: (load_history(releases), load_migrations()))
    text = "## q1\n\nFor MultiVI, " + CLIP
    path = Path("answer.md")
    assert lint_file(path, "answer.md", api, history, text) == []
    assert [f.kwarg for f in lint_file(path, "answer.md", api, history, text, prose=True)] \
        == ["gradient_clip_val"]


@pytest.mark.parametrize("text, expected", [
    ("scVI and SCANVI", {"scvi.model.SCVI", "scvi.model.SCANVI"}),
    ("the scvi package, scvi-tools and a solo run", set()),
    # a dotted path names the class as an aside ("or for sample-level effects
    # `scvi.external.MRVI`"); the class written alone names it; "Tangram" (one capital) is
    # as often an English word at a sentence's start as the model
    ("`scvi.external.MRVI`, `MULTIVI.setup_mudata` and Tangram", {"scvi.model.MULTIVI"}),
])
def test_words_that_name_a_model(text, expected):
    api = ReleaseApi(load_release(load_releases(), "1.5.1"))
    assert prosecode.named_models(text, prosecode.model_names(api)) == expected


def test_the_pinned_docs_prose_gives_no_finding(pinned_tree):
    """The false-alarm corpus: every inline span of the 1.5.1 docs and release notes (93
    hold a call) is checked, and none is flagged."""
    releases = load_releases()
    api = ReleaseApi(load_release(releases, "1.5.1"))
    history = History.lazy(lambda: (load_history(releases), load_migrations()))
    root = pinned_tree.root
    pages = sorted((root / "docs").rglob("*.md")) + [root / "CHANGELOG.md"]
    spans = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        lines = text.splitlines()
        spans += sum("(" in m.group(2) for line in lines
                     for m in prosecode.SPAN.finditer(line))
        assert lint_file(page, page.name, api, history, text, prose=True) \
            == lint_file(page, page.name, api, history, text), page
    assert spans > 80


def test_a_file_s_spans_are_checked_up_to_the_cap():
    """Each paragraph's names are read once and a sentence only near its span, so a long
    answer stays linear; past MAX_SPANS a generated file's spans are not checked."""
    releases = load_releases()
    api = ReleaseApi(load_release(releases, "1.5.1"))
    history = History.lazy(lambda: (load_history(releases), load_migrations()))
    count = prosecode.MAX_SPANS + 100
    text = "## q1\n\n" + "".join(f"MultiVI: `model.train(gradient_clip_val={n + 1})`\n\n"
                                 for n in range(count))
    found = lint_file(Path("answer.md"), "answer.md", api, history, text, prose=True)
    assert len(found) == prosecode.MAX_SPANS
    assert found[-1].line == 3 + 2 * (prosecode.MAX_SPANS - 1)
    # a cue word further than SENTENCE_REACH before the span is another sentence's
    far = "## q1\n\nscVI never " + "x" * (prosecode.SENTENCE_REACH + 10) + \
        " `model.train(pin_memory=True)`\n"
    near = "## q1\n\nscVI never `model.train(pin_memory=True)`\n"
    assert lint_file(Path("a.md"), "a.md", api, history, far, prose=True)
    assert not lint_file(Path("a.md"), "a.md", api, history, near, prose=True)


def test_a_bare_method_call_is_the_named_model_s_when_it_has_it(capsys, tmp_path):
    """Trial round 64: "`differential_expression(gene_list=...)` only subsets the genes" in an
    answer about scVI; differential_expression takes no gene_list (its **kwargs go to
    get_bayes_factors, which does not either)."""
    head = "## q1\n\nYour scVI model.\n\n"
    found = prose_findings(capsys, tmp_path, head + "Call "
                           "`differential_expression(gene_list=genes)` on it.\n")
    assert [(f[2], f[3]) for f in found] == [
        ("scvi.model.SCVI.differential_expression", "gene_list")]
    assert found[0][1] == len("Call `differential_expression(") + 1
    # a name the model lacks is not its method; a dotted pointer to another model in the
    # sentence makes the bare call that model's, unchecked
    assert prose_findings(capsys, tmp_path, head + "Call "
                          "`load_state_dict(state, strict=False)`.\n") == []
    assert prose_findings(capsys, tmp_path, head + "For samples see `scvi.external.MRVI` "
                          "(`setup_anndata(adata, sample_key=\"donor\")`).\n") == []


def test_a_lead_in_naming_a_release_covers_its_list(capsys, tmp_path):
    """Round 46: "Details (1.0.3):" over a list quoting 1.0.3's `load(..., use_gpu=None)`."""
    item = "- Call `model.train(pin_memory=True)`.\n"
    assert prose_findings(capsys, tmp_path, "## q1\n\nscVI details:\n\n" + item)
    assert prose_findings(capsys, tmp_path, "## q1\n\nscVI details (1.0.3):\n\n" + item) == []
    # a lead-in without a release, or a paragraph between, leaves the list checked
    assert prose_findings(capsys, tmp_path, "## q1\n\nscVI 1.0.3 notes.\n\nDetails:\n\n"
                          + item)


def test_code_quoted_after_its_path_line_is_the_tree_s(capsys, tmp_path):
    """Round 10: "tests/external/sysvi/test_sysvi.py:245-247 — `get_normalized_expression(...,
    transform_batch="a")`" quotes a test; the same call recommended is flagged."""
    head = "## q1\n\nSysVI expression.\n\n"
    call = "`get_normalized_expression(transform_batch=\"a\")`"
    assert prose_findings(capsys, tmp_path, f"{head}- tests/external/sysvi/test_sysvi.py:"
                          f"245-247 \u2014 {call}.\n") == []
    assert prose_findings(capsys, tmp_path, f"{head}- Then call {call}.\n")


@pytest.mark.parametrize("text, flagged", [
    # a sentence pointing at another model by dotted path binds no model for the span
    ("MULTIVI optimizes by hand. For plain RNA use `scvi.model.SCVI`, clipping with "
     "`model.train(gradient_clip_val=1.0)`.\n", False),
    # variables with a part that is no model word are not models
    ("For SCVI `adata_scvi.write('x.h5ad')`, `model_dir.mkdir(parents=True)`, "
     "`torch_model.load_state_dict(sd)`, `vae_kwargs.update(x=1)`.\n", False),
    # a member missing from a receiver the words only suggest is not a finding
    ("For MULTIVI call `model.get_accessibility_estimates(x=1)`.\n", False),
    # "Decipher the log" is a verb, not scvi.external.Decipher
    ("Your SCVI run.\n\nDecipher the log, then call `model.train(gradient_clip_val=1.0)`.\n",
     False),
    # an item's indented continuation keeps its list's lead-in release
    ("For MULTIVI users on 1.0.3:\n\n- Setup.\n\n  Then `model.train(gradient_clip_val=1.0)`\n"
     "- and `model.train(gradient_clip_val=2.0)`\n", False),
    # the top heading's own words name the section's model
    ("", True),
])
def test_what_the_words_bind_and_what_they_do_not(capsys, tmp_path, text, flagged):
    """The review's cases (session 32): each would have bound a span to the wrong model, or
    kept a release's lead-in from the list it heads."""
    if not text:
        found = prose_findings(capsys, tmp_path, "## MULTIVI training\n\nClip with "
                               "`model.train(gradient_clip_val=1.0)`.\n")
    else:
        found = prose_findings(capsys, tmp_path, "## q\n\n" + text)
    assert bool(found) is flagged, found


def test_a_lead_in_release_ends_with_its_answer(capsys, tmp_path):
    text = ("## q1\n\nDetails (1.0.3):\n\n- old\n\n## q2\n\n"
            "- For MULTIVI: `model.train(gradient_clip_val=1.0)`\n")
    assert [f[0] for f in prose_findings(capsys, tmp_path, text)] == [9]


def test_columns_count_characters_not_utf8_bytes(capsys, tmp_path):
    line = "For MULTIVI: `model.train(plan_kwargs={'n': 'é€'}, gradient_clip_val=1.0)`"
    found = prose_findings(capsys, tmp_path, "## q\n\n" + line + "\n")
    assert (3, line.index("gradient_clip_val") + 1) in [(f[0], f[1]) for f in found]

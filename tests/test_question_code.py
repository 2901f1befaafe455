"""The code a question writes, checked against a release's API by the pack (resolve_docs.py):
``scvi_skill.runtime.questioncode``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scvi_skill.runtime import questioncode
from scvi_skill.runtime.questioncode import finding_lines, has_code, plain_calls

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "resolve_docs.py"


def test_plain_calls_are_the_statements_written_in_order():
    text = ("I ran vae = scvi.model.SCVI(adata, n_latent=10) (on my laptop) and then "
            "`vae.train(max_epochs=5, plan_kwargs={'lr': (1e-3)})`, print(x) and "
            "vae.get_normalized_expression(library_size=\"(1e4)\").\n"
            "```python\nmodel.train(use_gpu=True)\n```\n"
            "Again: vae.train(max_epochs=5, plan_kwargs={'lr': (1e-3)}) and a prose (aside.")
    assert plain_calls(text) == [
        "vae = scvi.model.SCVI(adata, n_latent=10)",
        "vae.train(max_epochs=5, plan_kwargs={'lr': (1e-3)})",  # once, backticked or not
        'vae.get_normalized_expression(library_size="(1e4)")',  # a parenthesis in a string
    ]  # not print(x) (no dot, no name bound), not the fence's (Markdown), not "(on my laptop)"


def test_a_question_without_a_call_reads_nothing(monkeypatch):
    assert not has_code("how do I set the seed (for reproducibility)?")
    assert has_code("what does model.train() default to?")

    def refuse(*_args, **_kwargs):
        raise AssertionError("the API index was read for a question without code")

    from scvi_skill.runtime import resolvecli
    monkeypatch.setattr(resolvecli, "_release_api", refuse)
    assert resolvecli._question_code("how do I set the seed (for reproducibility)?", "1.5.1") == []


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.usefixtures("pinned_tree")
def test_the_pack_says_what_the_release_makes_of_the_questions_call():
    question = ("PEAKVI: model = scvi.model.PEAKVI(adata); "
                "model.differential_accessibility(groupby='leiden', two_sided=False) raises "
                "TypeError. Also I ran `vae.train(use_gpu=True)` after vae = scvi.model.SCVI(adata)")
    done = _run(question)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    ours = [line for line in lines if line.startswith("(your code, scvi-tools 1.5.1) ")]
    assert ours == [
        "(your code, scvi-tools 1.5.1) scvi.model.PEAKVI.differential_accessibility(): keyword "
        "'two_sided' removed in 1.3.0 (last in 1.2.2.post2)",
        "(your code, scvi-tools 1.5.1) scvi.model.SCVI.train(): keyword 'use_gpu' removed in "
        "1.1.0.post1 (last in 1.0.4); use accelerator=\"gpu\" with devices= (train) or device= "
        "(load)"]
    assert lines.index(ours[0]) < next(n for n, line in enumerate(lines) if line.startswith("=="))
    data = json.loads(_run("--json", question).stdout)
    assert [(f["name"], f["kwarg"]) for f in data["question_code"]] == [
        ("scvi.model.PEAKVI.differential_accessibility", "two_sided"),
        ("scvi.model.SCVI.train", "use_gpu")]


@pytest.mark.usefixtures("pinned_tree")
def test_a_release_the_question_names_is_the_one_checked():
    call = "scvi.model.MULTIVI.setup_anndata(adata, batch_key='batch', labels_key='cell_type')"
    named = json.loads(_run("--json", f"On scvi-tools 1.2.0 can I call {call}?").stdout)
    assert [(f["kwarg"], "in 1.2.0" in f["message"]) for f in named["question_code"]] == [
        ("labels_key", True)]  # 1.2.0 registers with **kwargs, which rejects it
    pinned = json.loads(_run("--json", f"Can I call {call}?").stdout)
    assert [f["kwarg"] for f in pinned["question_code"]] == ["batch_key"]  # read by nothing
    assert "never reads it in 1.5.1" in pinned["question_code"][0]["message"]


@pytest.mark.usefixtures("pinned_tree")
def test_right_code_adds_nothing():
    data = json.loads(_run("--json", "vae = scvi.model.SCVI(adata, n_latent=10); "
                           "vae.train(max_epochs=20): is 20 epochs enough?").stdout)
    assert "question_code" not in data
    assert not any(n.startswith("(your code") for n in data["pack"]["notes"])


def test_at_most_three_lines_under_the_title():
    found = [{"name": "n", "kwarg": None, "message": f"m{n}"} for n in range(5)]
    assert finding_lines(found, "1.5.1") == [f"(your code, scvi-tools 1.5.1) m{n}"
                                            for n in range(questioncode.MAX_FINDINGS)]


@pytest.mark.usefixtures("pinned_tree")
def test_a_fence_and_a_traceback_are_read_as_written_and_said_once():
    """The ranked question has its line breaks collapsed; the check reads the text as pasted,
    so a fence keeps its lines (its binding of ``vae``) and the frame that repeats the call
    adds nothing."""
    text = ("Training fails right away:\n\n```python\nimport scvi\n"
            "vae = scvi.model.SCVI(adata, n_latent=10)\nvae.train(max_epochs=10, use_gpu=True)\n"
            "```\n\nTraceback (most recent call last):\n"
            '  File "/home/me/run.py", line 3, in <module>\n'
            "    vae.train(max_epochs=10, use_gpu=True)\n"
            '  File "/opt/conda/lib/python3.12/site-packages/scvi/model/base/_training_mixin.py",'
            " line 120, in train\n    runner = self._train_runner_cls(\n"
            "TypeError: UnsupervisedTrainingMixin.train() got an unexpected keyword argument "
            "'use_gpu'\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--json", "-"], input=text,
                          capture_output=True, text=True, timeout=120)
    data = json.loads(done.stdout)
    assert [(f["name"], f["kwarg"]) for f in data["question_code"]] == [
        ("scvi.model.SCVI.train", "use_gpu")]


def test_a_long_paste_of_open_calls_is_bounded():
    """20,000 characters of ``a.b(`` never closed: each start scans up to MAX_CALL_CHARS, so
    the starts tried are bounded (MAX_STARTS)."""
    text = "a.b(" * questioncode.MAX_STARTS + " vae = scvi.model.SCVI(adata)"
    assert plain_calls(text) == []  # the call after the bound is not looked for
    assert plain_calls("a.b(" * 10 + " vae = scvi.model.SCVI(adata)") == [
        "vae = scvi.model.SCVI(adata)"]


@pytest.mark.usefixtures("pinned_tree")
def test_a_call_written_before_the_line_that_binds_its_name_is_checked():
    """"vae.train(use_gpu=True) after vae = scvi.model.SCVI(adata)": bindings go first."""
    data = json.loads(_run("--json", "vae.train(use_gpu=True) fails after "
                           "vae = scvi.model.SCVI(adata); why?").stdout)
    assert [(f["name"], f["kwarg"]) for f in data["question_code"]] == [
        ("scvi.model.SCVI.train", "use_gpu")]


def test_scvi_names_written_without_a_call_are_references():
    """``from scvi.models import VAE`` and a setting assigned in prose are checked as names;
    a docs URL that ends in one is not."""
    from scvi_skill.runtime.questioncode import plain_references

    text = ("It does `from scvi.models import VAE` and I set scvi.settings.num_workers = 8; "
            "the page https://docs.scvi-tools.org/en/1.5.1/api/reference/scvi.model.SCVI.html "
            "says scvi.model.SCVI(adata) works, and scvi.settings.seed == 0 holds.")
    assert plain_references(text) == ["scvi.models", "scvi.settings.num_workers = None",
                                      "scvi.settings.seed"]


@pytest.mark.usefixtures("pinned_tree")
def test_a_named_setting_and_an_old_module_get_their_findings():
    data = json.loads(_run("--json", "I set scvi.settings.num_workers = 8 and the old "
                           "`from scvi.dataset import PbmcDataset` fails").stdout)
    messages = [f["message"] for f in data["question_code"]]
    assert messages[0].startswith("scvi.settings.num_workers: not in scvi-tools 1.5.1 (did "
                                  "you mean scvi.settings.dl_num_workers?); assigning it")
    assert messages[1].startswith("scvi.dataset: not in scvi-tools 1.5.1")


def test_a_member_read_of_an_instance_the_question_builds_is_checked():
    """``vae.n_latent`` after ``vae = scvi.model.SCVI(adata)``: SCVI has no n_latent (its
    module has); a read at a sentence's end counts, an assigned one and a name nothing binds
    do not; the hub model's metadata is looked up through the property's annotated class."""
    from scvi_skill.runtime.questioncode import member_reads

    text = ("After vae = scvi.model.SCVI(adata), reading vae.n_latent fails, vae.history is "
            "fine and I set vae.note = 1; other.thing too. It also fails at vae.n_latent.")
    assert member_reads(text, {"vae"}) == ["vae.n_latent", "vae.history"]
    assert member_reads(text, set()) == []
    assert member_reads("It fails at vae.n_latent.", {"vae"}) == ["vae.n_latent"]
    data = json.loads(_run("--json", "hmo = scvi.hub.HubModel.pull_from_huggingface_hub("
                           "'scvi-tools/x') works but `hmo.metadata.data_is_minified` raises; "
                           "and vae = scvi.model.SCVI(adata) has no vae.n_latent?").stdout)
    assert [f["name"] for f in data["question_code"]] == [
        "scvi.hub.HubModel.metadata.data_is_minified", "scvi.model.SCVI.n_latent"]

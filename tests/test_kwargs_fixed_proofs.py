"""Keywords a ``train()`` passes on itself beside its ``**kwargs`` (``kwargs_fixed`` of the API
indexes, read from the source by ``build_api_index.py``): passing one again raises TypeError.
Each case runs scvi-tools on synthetic data and checks that ``check_code.py`` flags the same
call; marker ``examples`` (needs the ``examples`` extra)."""

from __future__ import annotations

import json

import check_code
import pytest

pytestmark = pytest.mark.examples

scvi = pytest.importorskip("scvi")
from scvi.model.base import PyroSviTrainMixin, UnsupervisedTrainingMixin  # noqa: E402
from scvi.model import MULTIVI, PEAKVI  # noqa: E402
from test_pitfall_proofs import _adata, _multivi_mudata, _peakvi, _scvi  # noqa: E402

FAST = {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False}


def _amortized_lda():
    adata = _adata()
    scvi.model.AmortizedLDA.setup_anndata(adata)
    return scvi.model.AmortizedLDA(adata, n_topics=3)


CASES = [
    # (owner of the train() the index lists, model builder, keyword, value, code the checker reads)
    (MULTIVI, lambda: scvi.model.MULTIVI(_multivi_mudata(), n_latent=4),
     "early_stopping_patience", 5,
     "m = scvi.model.MULTIVI(mdata)\nm.train(early_stopping_patience=5)\n"),
    (PEAKVI, _peakvi, "early_stopping_monitor", "elbo_validation",
     "m = scvi.model.PEAKVI(adata)\nm.train(early_stopping_monitor='elbo_validation')\n"),
    (PyroSviTrainMixin, _amortized_lda, "devices", 1,
     "m = scvi.model.AmortizedLDA(adata)\nm.train(devices=1)\n"),
    (UnsupervisedTrainingMixin, _scvi, "training_plan", None,
     "m = scvi.model.SCVI(adata)\nm.train(training_plan=None)\n"),
]


def _fixed(owner) -> list[str]:
    from scvi_skill.runtime.apiindex import load_release, load_releases

    release = load_release(load_releases(), scvi.__version__)
    qualname = f"{owner.__module__}.{owner.__qualname__}.train"
    return release["symbols"][qualname].get("kwargs_fixed", [])


@pytest.mark.parametrize("owner, build, keyword, value, code", CASES,
                         ids=[c[2] for c in CASES])
def test_a_keyword_train_passes_itself_raises_and_is_flagged(owner, build, keyword, value, code,
                                                             tmp_path, capsys):
    assert keyword in _fixed(owner)  # what the index read from this release's source
    model = build()
    with pytest.raises(TypeError, match=f"multiple values for keyword argument '{keyword}'"):
        model.train(**{keyword: value}, **FAST)
    path = tmp_path / "snippet.py"
    path.write_text("import scvi\n" + code, encoding="utf-8")
    capsys.readouterr()  # what training printed
    assert check_code.main([str(path), "--json", "--version", scvi.__version__]) == 1
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert finding["kwarg"] == keyword and "multiple values" in finding["message"]


def test_a_train_keyword_that_is_its_own_parameter_is_not_flagged(tmp_path, capsys):
    """SCVI's train() takes devices itself: the same keyword a Pyro model rejects is fine."""
    path = tmp_path / "ok.py"
    path.write_text("import scvi\nm = scvi.model.SCVI(adata)\nm.train(devices=1)\n",
                    encoding="utf-8")
    assert check_code.main([str(path), "--version", scvi.__version__]) == 0


# -- train(plan_kwargs={...}) keys: the training plan's parameters, or the module's loss()'s
#    through the plan's **loss_kwargs; anything else raises TypeError (proven here by training).


def _condscvi():
    adata = _adata()
    scvi.model.CondSCVI.setup_anndata(adata, labels_key="labels")
    return scvi.model.CondSCVI(adata, n_latent=4)


def _mrvi():
    adata = _adata()
    adata.obs["sample"] = adata.obs["batch"]
    scvi.external.MRVI.setup_anndata(adata, sample_key="sample", batch_key="batch")
    return scvi.external.MRVI(adata)


from test_pitfall_proofs import _scanvi, _totalanvi  # noqa: E402

PLAN_CASES = [
    # (model name as written in code, builder, a key nothing takes, where TypeError names it,
    #  keys that train)
    ("scvi.model.CondSCVI", _condscvi, "gradient_clip_val", "VAEC.loss()", {"weight_decay": 0.0}),
    ("scvi.model.SCVI", _scvi, "gradient_clip_val", "VAE.loss()",
     {"lr": 1e-3, "n_epochs_kl_warmup": 2, "reduce_lr_on_plateau": True, "kl_weight": 2.0}),
    ("scvi.model.SCANVI", _scanvi, "foo", "SCANVAE.loss()", {"classification_ratio": 10}),
    ("scvi.model.AmortizedLDA", _amortized_lda, "lr", "PyroTrainingPlan.__init__()",
     {"optim_kwargs": {"lr": 1e-3}}),
    ("scvi.external.MRVI", _mrvi, "foo", "MRVAE.loss()", {"lr": 1e-3}),
    # TOTALANVI's train() swaps in SemiSupervisedAdversarialTrainingPlan: its keys count too.
    ("scvi.external.TOTALANVI", _totalanvi, "foo", "TOTALANVAE.loss()",
     {"scale_adversarial_loss": 0.5, "lr": 1e-3}),
]


def _flagged(tmp_path, capsys, model: str, keys: dict) -> list[str]:
    path = tmp_path / "snippet.py"
    path.write_text(f"import scvi\nm = {model}(adata)\nm.train(plan_kwargs={keys!r})\n",
                    encoding="utf-8")
    capsys.readouterr()  # what training printed
    check_code.main([str(path), "--json", "--version", scvi.__version__])
    return [f["kwarg"] for f in json.loads(capsys.readouterr().out)["findings"]]


@pytest.mark.parametrize("model, build, bad, raiser, good", PLAN_CASES,
                         ids=[c[0].rsplit(".", 1)[-1] for c in PLAN_CASES])
def test_a_plan_kwargs_key_nothing_takes_raises_and_is_flagged(model, build, bad, raiser, good,
                                                                tmp_path, capsys):
    with pytest.raises(TypeError, match=rf"{raiser.replace('(', '[(]').replace(')', '[)]')} "
                                        f"got an unexpected keyword argument '{bad}'"):
        build().train(plan_kwargs={bad: 1.0}, **FAST)
    build().train(plan_kwargs=dict(good), **FAST)  # the keys the plan or loss() take: trains
    assert _flagged(tmp_path, capsys, model, {bad: 1.0, **good}) == [bad]


def test_a_train_that_hands_its_kwargs_to_super_takes_the_parent_s_parameters(tmp_path,
                                                                               capsys):
    """SysVI's train(**train_kwargs) calls UnsupervisedTrainingMixin.train(**train_kwargs):
    batch_size and train_size are the parent's parameters, not Trainer keywords."""
    adata = _adata()
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch")
    scvi.external.SysVI(adata).train(batch_size=32, train_size=0.8, **FAST)
    path = tmp_path / "sysvi.py"
    path.write_text("import scvi\nm = scvi.external.SysVI(adata)\n"
                    "m.train(batch_size=32, train_size=0.8, max_epochs=1)\nm.train(foo=1)\n",
                    encoding="utf-8")
    capsys.readouterr()  # what training printed
    check_code.main([str(path), "--json", "--version", scvi.__version__])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["line"], f["kwarg"]) for f in findings] == [(4, "foo")]

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


# -- a keyword named like the **kwargs it was meant to fill: the dict arrives as one entry of
#    that name (apiindex.ReleaseApi.accepts).


def _flagged_messages(tmp_path, capsys, code: str) -> list[tuple[str, str]]:
    path = tmp_path / "named_like_kwargs.py"
    path.write_text("import scvi\n" + code, encoding="utf-8")
    capsys.readouterr()  # what training printed
    check_code.main([str(path), "--json", "--version", scvi.__version__])
    return [(f["kwarg"], f["message"]) for f in json.loads(capsys.readouterr().out)["findings"]]


def test_a_keyword_named_like_the_methods_own_kwargs_raises_and_is_flagged(tmp_path, capsys):
    """get_latent_representation(data_loader_kwargs={...}), SCVI(adata, model_kwargs={...})
    and get_normalized_expression(importance_weighting_kwargs={...}) (whose docstring lists
    importance_weighting_kwargs as "Keyword arguments passed into get_importance_weights")
    each hand the dict on as one entry of that name, and what takes the **kwargs raises
    TypeError (the last in the data loader get_importance_weights builds). The entries
    themselves (num_workers=0, dropout_rate=0.2, n_mc_samples=10) are taken, and not flagged."""
    import torch

    model = _scvi()
    model.train(**FAST)
    with pytest.raises(TypeError, match="unexpected keyword argument 'data_loader_kwargs'"):
        model.get_latent_representation(data_loader_kwargs={"num_workers": 0})
    model.get_latent_representation(num_workers=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'model_kwargs'"):
        scvi.model.SCVI(model.adata, model_kwargs={"dropout_rate": 0.2})
    rates = {m.p for m in scvi.model.SCVI(model.adata, dropout_rate=0.2).module.z_encoder
             .modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {0.2}
    importance = {"n_samples_overall": 4, "weights": "importance", "return_numpy": True}
    with pytest.raises(TypeError,
                       match="unexpected keyword argument 'importance_weighting_kwargs'"):
        model.get_normalized_expression(importance_weighting_kwargs={"n_mc_samples": 10},
                                        **importance)
    assert model.get_normalized_expression(n_mc_samples=10, **importance).shape[0] == 4
    found = _flagged_messages(tmp_path, capsys, (
        "m = scvi.model.SCVI(adata, model_kwargs={'dropout_rate': 0.2})\n"
        "m.get_latent_representation(data_loader_kwargs={'num_workers': 0})\n"
        "m.get_normalized_expression(importance_weighting_kwargs={'n_mc_samples': 10})\n"
        "m = scvi.model.SCVI(adata, dropout_rate=0.2)\n"
        "m.get_latent_representation(num_workers=0)\n"
        "m.get_normalized_expression(n_mc_samples=10)\n"))
    assert [k for k, _ in found] == ["model_kwargs", "data_loader_kwargs",
                                     "importance_weighting_kwargs"]
    # the constructor's through the model's route to its module; the methods' by their name
    assert "which does not take it" in found[0][1]
    assert all("are the entries themselves" in message for _, message in found[1:])

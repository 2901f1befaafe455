"""Keys of a dict keyword that a method passes on as ``**`` to a call which sets the same
keyword itself (``splat_fixed`` of the API indexes, read from each release's source by
``build_api_index.py``): ``train(datasplitter_kwargs={"batch_size": 64})`` raises TypeError
"got multiple values for keyword argument". Each case runs scvi-tools on synthetic data and
checks that ``check_code.py`` flags the same call and leaves the working one alone. Also keys
that a method then sets itself (``kwargs_overwritten``), whose given value is replaced; marker
``examples`` (needs the ``examples`` extra)."""

from __future__ import annotations

import json

import check_code
import numpy as np
import pytest

pytestmark = pytest.mark.examples

scvi = pytest.importorskip("scvi")
from test_pitfall_proofs import _scvi, _totalvi  # noqa: E402

FAST = {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False}


def _symbols() -> dict:
    """The symbols of the installed release's API index."""
    from scvi_skill.runtime.apiindex import load_release, load_releases

    return load_release(load_releases(), scvi.__version__)["symbols"]


def _splat_fixed(qualname: str) -> dict:
    return _symbols()[qualname].get("splat_fixed", {})


def _flagged(tmp_path, capsys, code: str) -> list[dict]:
    path = tmp_path / "snippet.py"
    path.write_text("import numpy as np\nimport scvi\n" + code, encoding="utf-8")
    capsys.readouterr()  # what training printed
    check_code.main([str(path), "--json", "--version", scvi.__version__])
    return json.loads(capsys.readouterr().out)["findings"]


def _flagged_at(tmp_path, capsys, code: str) -> list[tuple[int, str]]:
    """``(line, keyword)`` of each finding on ``code`` (its lines start at 3)."""
    return [(f["line"], f["kwarg"]) for f in _flagged(tmp_path, capsys, code)]


def _split():
    return [np.arange(0, 60), np.arange(60, 80)]


CASES = [
    # (qualname the index lists, model builder, method, dict keyword, bad key, its value, code)
    ("scvi.model.base._training_mixin.UnsupervisedTrainingMixin.train", _scvi, "train",
     "datasplitter_kwargs", "batch_size", 64,
     "m = scvi.model.SCVI(adata)\nm.train(datasplitter_kwargs={'batch_size': 64})\n"),
    ("scvi.model.base._training_mixin.UnsupervisedTrainingMixin.train", _scvi, "train",
     "datasplitter_kwargs", "train_size", 0.8,
     "m = scvi.model.SCVI(adata)\nkw = {'train_size': 0.8}\nm.train(datasplitter_kwargs=kw)\n"),
    # TOTALVI's train() takes external_indexing itself and passes it on: the way every other
    # model takes it (through datasplitter_kwargs) fails for TOTALVI.
    ("scvi.model._totalvi.TOTALVI.train", _totalvi, "train", "datasplitter_kwargs",
     "external_indexing", _split(),
     "m = scvi.model.TOTALVI(adata)\n"
     "m.train(datasplitter_kwargs={'external_indexing': [np.arange(60), np.arange(60, 80)]})\n"),
    ("scvi.model.base._vaemixin.VAEMixin.get_elbo", _scvi, "get_elbo", "data_loader_kwargs",
     "batch_size", 32,
     "m = scvi.model.SCVI(adata)\nm.get_elbo(data_loader_kwargs=dict(batch_size=32))\n"),
]


@pytest.mark.parametrize("qualname, build, method, keyword, key, value, code", CASES,
                         ids=[f"{c[0].rsplit('.', 2)[-2]}.{c[2]}-{c[4]}" for c in CASES])
def test_a_key_the_callee_sets_itself_raises_and_is_flagged(qualname, build, method, keyword,
                                                            key, value, code, tmp_path, capsys):
    assert key in _splat_fixed(qualname)[keyword][1]  # read from this release's source
    model = build()
    extra = FAST if method == "train" else {}
    if method != "train":
        model.train(**FAST)
    with pytest.raises(TypeError, match=f"multiple values for keyword argument '{key}'"):
        getattr(model, method)(**{keyword: {key: value}}, **extra)
    [finding] = _flagged(tmp_path, capsys, code)
    assert finding["kwarg"] == key and "multiple values" in finding["message"]
    assert keyword in finding["message"]


def test_the_same_keys_given_the_way_the_method_takes_them_train(tmp_path, capsys):
    """The fixes the findings name work, and keys the data splitter takes for itself or hands
    to its loaders (num_workers, drop_last) are not flagged."""
    model = _scvi()
    model.train(batch_size=64, train_size=0.8,
                datasplitter_kwargs={"num_workers": 0, "drop_last": True}, **FAST)
    model.get_elbo(batch_size=32)
    totalvi = _totalvi()
    totalvi.train(external_indexing=_split(), **FAST)
    assert _flagged(tmp_path, capsys,
                    "m = scvi.model.SCVI(adata)\n"
                    "m.train(batch_size=64, datasplitter_kwargs={'num_workers': 0, "
                    "'drop_last': True})\nm.get_elbo(batch_size=32)\n"
                    "t = scvi.model.TOTALVI(adata)\n"
                    "t.train(external_indexing=[np.arange(60), np.arange(60, 80)])\n") == []


def test_a_plan_kwargs_key_train_sets_itself_is_replaced_and_flagged(tmp_path, capsys):
    """TOTALVI's train() writes its own lr (its default too) into plan_kwargs, so
    plan_kwargs={"lr": ...} trains at 4e-3 (``kwargs_overwritten`` of the index, read from the
    source); SCVI's keeps it. check_code flags the first only; the fix, train(lr=...), works."""
    qualname = "scvi.model._totalvi.TOTALVI.train"
    from scvi_skill.runtime.apiindex import load_release, load_releases

    release = load_release(load_releases(), scvi.__version__)
    assert release["symbols"][qualname]["kwargs_overwritten"]["plan_kwargs"][1]["lr"] == "lr"
    totalvi = _totalvi()
    totalvi.train(plan_kwargs={"lr": 0.03}, **FAST)
    assert totalvi.trainer.lightning_module.lr == 4e-3
    totalvi.train(lr=0.03, **FAST)
    assert totalvi.trainer.lightning_module.lr == 0.03
    model = _scvi()
    model.train(plan_kwargs={"lr": 0.03}, **FAST)
    assert model.trainer.lightning_module.lr == 0.03
    [finding] = _flagged(tmp_path, capsys,
                         "t = scvi.model.TOTALVI(adata)\nt.train(plan_kwargs={'lr': 0.03})\n"
                         "t.train(lr=0.03)\n"
                         "m = scvi.model.SCVI(adata)\nm.train(plan_kwargs={'lr': 0.03})\n")
    assert (finding["line"], finding["kwarg"]) == (4, "lr")
    assert "pass train(lr=...) instead" in finding["message"]


@pytest.mark.parametrize("model, splitter", [
    ("SCVI", "scvi.dataloaders._data_splitting.DataSplitter"),
    ("SCANVI", "scvi.dataloaders._data_splitting.SemiSupervisedDataSplitter"),
])
def test_a_key_the_data_splitter_sets_for_its_loaders_raises_and_is_flagged(
        model, splitter, tmp_path, capsys):
    """One step further: train() hands datasplitter_kwargs to the model's data splitter,
    which keeps them for its loaders and sets shuffle= there itself
    (``stored_kwargs_fixed``, read from the source), so {"shuffle": False} raises TypeError
    when training starts; check_code flags it from the model's ``uses["data_splitter"]``."""
    from scvi_skill.runtime.apiindex import load_release, load_releases
    from test_pitfall_proofs import _scanvi

    release = load_release(load_releases(), scvi.__version__)
    assert "shuffle" in release["symbols"][splitter]["stored_kwargs_fixed"][1]
    built = _scvi() if model == "SCVI" else _scanvi()
    with pytest.raises(TypeError, match="multiple values for keyword argument 'shuffle'"):
        built.train(datasplitter_kwargs={"shuffle": False}, **FAST)
    [finding] = _flagged(tmp_path, capsys, f"m = scvi.model.{model}(adata)\n"
                                           "m.train(datasplitter_kwargs={'shuffle': False})\n")
    assert finding["kwarg"] == "shuffle" and "when training starts" in finding["message"]


def test_every_setup_argument_of_the_reference_collides_in_destvi_from_rna_model(tmp_path,
                                                                                capsys):
    """``splat_setup_args``: DestVI.from_rna_model passes anndata_setup_kwargs on together
    with the CondSCVI's saved setup arguments, so each key the index lists for it (every
    parameter of CondSCVI.setup_anndata) raises TypeError, and check_code flags it;
    smoothed_layer (DestVI's own) goes through and is not flagged."""
    from test_pitfall_proofs import _condscvi_reference

    symbol = _symbols()["scvi.model._destvi.DestVI.from_rna_model"]
    _, owner, keys = symbol["splat_setup_args"]["anndata_setup_kwargs"]
    assert owner == "scvi.model._condscvi.CondSCVI" and {"layer", "batch_key"} <= set(keys)
    sc, sc_model = _condscvi_reference("counts", prior="mog", num_classes_mog=10)
    for key in keys:
        with pytest.raises(TypeError, match=f"multiple values for keyword argument '{key}'"):
            scvi.model.DestVI.from_rna_model(sc.copy(), sc_model,
                                             anndata_setup_kwargs={key: None})
    scvi.model.DestVI.from_rna_model(sc.copy(), sc_model,
                                     anndata_setup_kwargs={"smoothed_layer": None})
    findings = _flagged(tmp_path, capsys,
                        "st = scvi.model.DestVI.from_rna_model(\n"
                        "    st_adata, sc_model,\n"
                        "    anndata_setup_kwargs={" + ", ".join(f"'{k}': None" for k in keys)
                        + ", 'smoothed_layer': None})\n")
    assert sorted(f["kwarg"] for f in findings) == sorted(keys)
    assert all("multiple values" in f["message"] for f in findings)


def test_trainer_keywords_refused_under_manual_optimization_raise_and_are_flagged(tmp_path,
                                                                                  capsys):
    """``automatic_optimization`` of the API index: TOTALVI's plan optimizes by hand, so
    Lightning refuses accumulate_grad_batches=2 as it does gradient_clip_val (the
    ``manual-optimization-clip`` pitfall), AmortizedLDA's Pyro plan refuses a clip value given
    in a trainer_config dict; check_code flags each call and neither of the values Lightning
    lets through, which train."""
    totalvi = _totalvi()
    with pytest.raises(Exception, match="not supported for manual optimization"):
        totalvi.train(accumulate_grad_batches=2, **FAST)
    totalvi.train(accumulate_grad_batches=1, gradient_clip_val=0, **FAST)
    lda_data = scvi.data.synthetic_iid(batch_size=40, n_genes=30, n_batches=1)
    scvi.model.AmortizedLDA.setup_anndata(lda_data)
    lda = scvi.model.AmortizedLDA(lda_data, n_topics=3)
    with pytest.raises(Exception, match="not supported for manual optimization"):
        lda.train(trainer_config={"gradient_clip_val": 1.0}, **FAST)
    assert _flagged_at(tmp_path, capsys,
                       "t = scvi.model.TOTALVI(adata)\n"
                       "t.train(accumulate_grad_batches=2)\n"
                       "t.train(accumulate_grad_batches=1, gradient_clip_val=0)\n"
                       "lda = scvi.model.AmortizedLDA(adata)\n"
                       "lda.train(trainer_config={'gradient_clip_val': 1.0})\n") == [
        (4, "accumulate_grad_batches"), (7, "gradient_clip_val")]


def test_a_plan_swapped_in_for_one_model_is_that_model_s_plan_only(tmp_path, capsys):
    """SemisupervisedTrainingMixin.train swaps SemiSupervisedAdversarialTrainingPlan in under
    ``if type(self).__name__ == "TOTALANVI"``: the index gives TOTALANVI that plan (so its
    clip value is flagged, and it raises) and SCANVI only SemiSupervisedTrainingPlan, so an
    adversarial plan key in SCANVI's plan_kwargs is flagged, and it raises too."""
    from test_pitfall_proofs import _scanvi, _totalanvi

    symbols = _symbols()
    assert symbols["scvi.external.totalanvi._model.TOTALANVI"]["uses"]["training_plan"] \
        == "scvi.train._trainingplans.SemiSupervisedAdversarialTrainingPlan"
    scanvi_uses = symbols["scvi.model._scanvi.SCANVI"]["uses"]
    assert scanvi_uses["training_plan"] == "scvi.train._trainingplans.SemiSupervisedTrainingPlan"
    assert "training_plans" not in scanvi_uses
    with pytest.raises(Exception, match="not supported for manual optimization"):
        _totalanvi().train(gradient_clip_val=1.0, **FAST)
    with pytest.raises(TypeError, match="scale_adversarial_loss"):
        _scanvi().train(plan_kwargs={"scale_adversarial_loss": 1.0}, **FAST)
    assert _flagged_at(tmp_path, capsys,
                       "a = scvi.external.TOTALANVI(adata)\n"
                       "a.train(gradient_clip_val=1.0)\n"
                       "s = scvi.model.SCANVI(adata)\n"
                       "s.train(plan_kwargs={'scale_adversarial_loss': 1.0})\n"
                       "s.train(plan_kwargs={'n_epochs_kl_warmup': 1})\n") == [
        (4, "gradient_clip_val"), (6, "scale_adversarial_loss")]


def test_a_plan_train_builds_itself_is_the_model_s_plan(tmp_path, capsys):
    """GIMVI's and SOLO's train() build their plan themselves (no ``_training_plan_cls``):
    the index reads it from the call (GIMVITrainingPlan, ClassifierTrainingPlan), so GIMVI's
    clip value (its **kwargs go to scvi.train.Trainer) and a key SOLO's plan does not take
    are flagged, and each raises."""
    from scvi.external import GIMVI, SOLO

    from test_pitfall_proofs import _adata

    symbols = _symbols()
    assert symbols["scvi.external.gimvi._model.GIMVI"]["uses"]["training_plan"] \
        == "scvi.external.gimvi._task.GIMVITrainingPlan"
    assert symbols["scvi.external.solo._model.SOLO"]["uses"]["training_plan"] \
        == "scvi.train._trainingplans.ClassifierTrainingPlan"
    pair = []
    for _ in range(2):
        adata = _adata()
        GIMVI.setup_anndata(adata, batch_key="batch", labels_key="labels")
        pair.append(adata)
    with pytest.raises(Exception, match="not supported for manual optimization"):
        GIMVI(*pair, n_latent=4).train(gradient_clip_val=1.0, **FAST)
    reference = _scvi()
    reference.train(**FAST)
    with pytest.raises(TypeError, match="bogus"):
        SOLO.from_scvi_model(reference).train(plan_kwargs={"bogus": 1}, **FAST)
    assert _flagged_at(tmp_path, capsys,
                       "g = scvi.external.GIMVI(a, b)\n"
                       "g.train(gradient_clip_val=1.0)\n"
                       "solo = scvi.external.SOLO.from_scvi_model(m)\n"
                       "solo.train(plan_kwargs={'bogus': 1})\n") == [
        (4, "gradient_clip_val"), (6, "bogus")]

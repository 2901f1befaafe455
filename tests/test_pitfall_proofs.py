"""Proofs of references/pitfalls.yaml: each test runs scvi-tools (the ``examples`` extra) on tiny
synthetic data and asserts the behaviour one pitfall claims; the pitfall names it as ``proof``.

Trainings are one or two epochs on a few dozen cells, so the whole file stays well under two
minutes on two CPU cores. tests/test_pitfalls.py checks that every pitfall names a test here.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
import json
import logging
import os
import pickle
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.examples

scvi = pytest.importorskip("scvi")
import anndata  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402
from scvi.data import poisson_gene_selection, synthetic_iid  # noqa: E402
from scvi.train import SaveCheckpoint, TrainerConfig  # noqa: E402

FAST = {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False}
"""One epoch on the CPU, no progress bar: enough to build the trainer the claim is about."""
DEFAULT_EPOCHS = {k: v for k, v in FAST.items() if k != "max_epochs"}
"""FAST without max_epochs: the model's own default, which the data size sets."""


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scvi.settings.verbosity = 40  # errors only: no Lightning banners per training
        yield


def _adata(n_cells_per_batch: int = 40, **kwargs):
    args = {"batch_size": n_cells_per_batch, "n_genes": 20, "n_proteins": 4, "n_regions": 0,
            "n_batches": 2, "n_labels": 2}
    args.update(kwargs)
    return synthetic_iid(**args)


def _scvi(**setup):
    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, **setup)
    return scvi.model.SCVI(adata, n_hidden=16, n_latent=4)


def _trained_scvi():
    """_scvi(batch_key="batch") trained for one epoch."""
    model = _scvi(batch_key="batch")
    model.train(**FAST)
    return model


def _scanvi():
    adata = _adata()
    scvi.model.SCANVI.setup_anndata(adata, labels_key="labels", unlabeled_category="unknown",
                                    batch_key="batch")
    return scvi.model.SCANVI(adata, n_hidden=16, n_latent=4)


def _totalvi():
    adata = _adata()
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    return scvi.model.TOTALVI(adata, n_latent=4)


def _peakvi():
    adata = _adata()
    adata.X = (adata.X > 0).astype("float32")
    scvi.model.PEAKVI.setup_anndata(adata)
    return scvi.model.PEAKVI(adata, n_hidden=16, n_latent=4)


def _model_class(name: str):
    return getattr(scvi.model, name, None) or getattr(scvi.external, name)


def _model(name: str, adata=None, **setup):
    """A model of the class so named, set up on a fresh synthetic AnnData unless one is given."""
    cls = _model_class(name)
    adata = _adata() if adata is None else adata
    cls.setup_anndata(adata, **setup)
    return cls(adata, n_latent=4)


def _cellassign():
    adata = _adata()
    adata.obs["size_factor"] = np.asarray(adata.X.sum(1)).ravel() / 100 + 0.1
    scvi.external.CellAssign.setup_anndata(adata, size_factor_key="size_factor")
    markers = pd.DataFrame(np.eye(20, 2), index=adata.var_names, columns=["a", "b"])
    return scvi.external.CellAssign(adata, markers)


def _totalanvi():
    return _model("TOTALANVI", batch_key="batch", protein_expression_obsm_key="protein_expression",
                  labels_key="labels", unlabeled_category="unknown")


def _cytovi():
    adata = _adata()
    adata.X = np.log1p(adata.X.astype("float32"))  # cytometry-like: transformed intensities
    return _model("CYTOVI", adata, batch_key="batch")


def _poissonvi(**setup):
    return _model("POISSONVI", _adata(50), **setup)  # its fragment-count check wants 100 cells


def _velovi():
    adata = _adata()
    adata.layers["spliced"], adata.layers["unspliced"] = adata.X.copy(), adata.X.copy()
    return _model("VELOVI", adata, spliced_layer="spliced", unspliced_layer="unspliced")


def _mrvi():
    adata = _adata()
    adata.obs["sample"] = [f"sample_{i % 4}" for i in range(adata.n_obs)]
    return _model("MRVI", adata, sample_key="sample", batch_key="batch")


def _methylation(cls, platform: bool = False, **setup):
    """METHYLVI or METHYLANVI on a MuData of two methylation contexts (mc and cov layers);
    with platform, a 'platform' column of the first context as a categorical covariate."""
    from mudata import MuData

    contexts = {}
    for name in ("mod1", "mod2"):
        adata = _adata(n_proteins=0)
        adata.layers["mc"], adata.layers["cov"] = adata.X, adata.X + 10
        adata.obs["platform"] = np.where(np.arange(adata.n_obs) % 2, "p1", "p2")
        contexts[name] = adata
    mdata = MuData(contexts)
    modalities = {"batch_key": "mod1"} | ({"labels_key": "mod1"} if "labels_key" in setup else {})
    if platform:
        modalities["categorical_covariate_keys"] = "mod1"
        setup["categorical_covariate_keys"] = ["platform"]
    cls.setup_mudata(mdata, mc_layer="mc", cov_layer="cov", methylation_contexts=list(contexts),
                     batch_key="batch", modalities=modalities, **setup)
    return cls(mdata, n_hidden=16, n_latent=4)


def _methylanvi():
    return _methylation(scvi.external.METHYLANVI, labels_key="labels",
                        unlabeled_category="unknown")


def _scviva(adata=None):
    """SCVIVA on cells with coordinates (synthetic ones unless given), after its own
    neighbourhood preprocessing."""
    adata = _adata(n_proteins=0, generate_coordinates=True) if adata is None else adata
    adata.obsm["qz1_m"] = np.random.default_rng(0).normal(size=(adata.n_obs, 4))
    keys = {"sample_key": "batch", "labels_key": "labels", "cell_coordinates_key": "coordinates",
            "expression_embedding_key": "qz1_m",
            "expression_embedding_niche_key": "qz1_m_niche_ct",
            "niche_composition_key": "neighborhood_composition",
            "niche_indexes_key": "niche_indexes", "niche_distances_key": "niche_distances"}
    scvi.external.SCVIVA.preprocessing_anndata(adata, k_nn=5, **keys)
    return _model("SCVIVA", adata, batch_key="batch", **keys)


def _contrastivevi():
    """ContrastiveVI and the background and target cells its train() needs."""
    adata = _adata()
    scvi.external.ContrastiveVI.setup_anndata(adata, batch_key="batch")
    return _contrastivevi_on(adata)


def _contrastivevi_on(adata):
    """A small ContrastiveVI on ``adata`` (set up already) and its train()'s cells: label_0
    the background, label_1 the target."""
    model = scvi.external.ContrastiveVI(adata, n_hidden=16, n_background_latent=4,
                                        n_salient_latent=4)
    labels = adata.obs["labels"].to_numpy()
    return model, {"background_indices": np.flatnonzero(labels == "label_0"),
                   "target_indices": np.flatnonzero(labels == "label_1")}


def test_scvi_train_overrides_trainer_config_early_stopping():
    model = _scvi()
    model.train(trainer_config=TrainerConfig(early_stopping=True), **FAST)
    assert model.trainer.early_stopping_callback is None
    model.train(early_stopping=True, early_stopping_patience=3, **FAST)  # the fix
    assert model.trainer.early_stopping_callback.patience == 3
    # The others the pitfall names: the same train(), or ContrastiveVI's own.
    from scvi.model.base import UnsupervisedTrainingMixin

    others = [(_model(name), {}) for name in ("LinearSCVI", "AUTOZI", "DRVI", "SCAR")]
    others += [(_model("JointEmbeddingSCVI", labels_key="labels"), {}),
               (_methylation(scvi.external.METHYLVI), {}), (_scviva(), {}), _contrastivevi(),
               (_mrvi(), {})]
    for model, cells in others:
        name = type(model).__name__
        # ContrastiveVI's own train() does the same; MRVI's writes its early_stopping (False
        # unless given, over its DEFAULT_TRAIN_KWARGS' True) and calls the shared one.
        shared = type(model).train is UnsupervisedTrainingMixin.train
        assert shared is (name not in ("ContrastiveVI", "MRVI")), name
        model.train(trainer_config=TrainerConfig(early_stopping=True), **cells, **FAST)
        assert model.trainer.early_stopping_callback is None, name
        model.train(early_stopping=True, early_stopping_patience=3, **cells, **FAST)  # the fix
        assert model.trainer.early_stopping_callback.patience == 3, name


def test_scanvi_early_stopping_comes_from_trainer_config():
    from scvi.model.base import SemisupervisedTrainingMixin

    for model in (_scanvi(), _methylanvi(), _totalanvi()):  # SCANVI's train() for all three
        name = type(model).__name__
        assert type(model).train is SemisupervisedTrainingMixin.train, name
        assert "early_stopping" not in inspect.signature(model.train).parameters
        model.train(**FAST)
        assert model.trainer.early_stopping_callback is None, name  # the Trainer default: off
        model.train(trainer_config=TrainerConfig(early_stopping=True), **FAST)
        assert model.trainer.early_stopping_callback is not None, name
        model.train(early_stopping=True, **FAST)
        assert model.trainer.early_stopping_callback is not None, name


def test_totalvi_early_stopping_on_by_default_ignores_trainer_config():
    model = _totalvi()
    model.train(trainer_config=TrainerConfig(early_stopping=False), **FAST)
    assert model.trainer.early_stopping_callback is not None
    model.train(early_stopping=False, **FAST)  # the fix
    assert model.trainer.early_stopping_callback is None
    for model in (scvi.model.MULTIVI(_multivi_mudata(), n_latent=4), _peakvi(), _poissonvi(),
                  _cytovi(), _velovi()):
        name = type(model).__name__
        assert inspect.signature(model.train).parameters["early_stopping"].default is True
        model.train(trainer_config=TrainerConfig(early_stopping=False), **FAST)
        assert model.trainer.early_stopping_callback is not None, name
        model.train(early_stopping=False, **FAST)  # the fix for them too
        assert model.trainer.early_stopping_callback is None, name


def test_check_val_every_n_epoch_is_set_by_train():
    scanvi = _scanvi()
    scanvi.train(trainer_config=TrainerConfig(check_val_every_n_epoch=7), **FAST)
    assert scanvi.trainer.check_val_every_n_epoch != 7
    scanvi.train(check_val_every_n_epoch=7, **FAST)
    assert scanvi.trainer.check_val_every_n_epoch == 7
    model = _scvi()
    model.train(trainer_config=TrainerConfig(check_val_every_n_epoch=7), **FAST)
    assert model.trainer.check_val_every_n_epoch == 7
    # TOTALVI resets it to 1 while reduce_lr_on_plateau (its default) is on.
    totalvi = _totalvi()
    totalvi.train(check_val_every_n_epoch=7, **FAST)
    assert totalvi.trainer.check_val_every_n_epoch == 1
    totalvi.train(check_val_every_n_epoch=7, reduce_lr_on_plateau=False, **FAST)
    assert totalvi.trainer.check_val_every_n_epoch == 7
    # The fix for MULTIVI and PEAKVI: train()'s value holds (early stopping, on, keeps it).
    multivi = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    multivi.train(check_val_every_n_epoch=7, **FAST)
    assert multivi.trainer.check_val_every_n_epoch == 7
    peakvi = _peakvi()
    peakvi.train(check_val_every_n_epoch=7, **FAST)
    assert peakvi.trainer.check_val_every_n_epoch == 7
    # The others: TOTALANVI and METHYLANVI (SCANVI's train(); TOTALANVI's does not reset it to 1
    # as TOTALVI's does), CYTOVI (None, then 1 for its early stopping) and MRVI (1 by default).
    mrvi = _mrvi()
    for model in (_totalanvi(), _methylanvi(), _cytovi(), mrvi):
        name = type(model).__name__
        model.train(trainer_config=TrainerConfig(check_val_every_n_epoch=7), **FAST)
        assert model.trainer.check_val_every_n_epoch != 7, name
        model.train(check_val_every_n_epoch=7, **FAST)  # the fix
        assert model.trainer.check_val_every_n_epoch == 7, name
    mrvi.train(**FAST)  # 1 by default, not for early stopping (off)
    trainer = mrvi.trainer
    assert (trainer.check_val_every_n_epoch, trainer.early_stopping_callback) == (1, None)


def test_no_plan_config_on_totalvi():
    model = _totalvi()
    assert "plan_config" not in inspect.signature(model.train).parameters
    with pytest.raises(TypeError, match="plan_config"):
        model.train(plan_config={"lr": 1e-3}, **FAST)
    # The fix: lr and KL warmup as train() arguments; TOTALVI's train() takes no weight_decay
    # or eps, so they and the other plan arguments go in plan_kwargs, where they are kept.
    assert not {"weight_decay", "eps"} & set(inspect.signature(model.train).parameters)
    model.train(lr=0.03, n_epochs_kl_warmup=7, **FAST,
                plan_kwargs={"weight_decay": 0.25, "eps": 0.5, "max_kl_weight": 0.5})
    plan = model.trainer.lightning_module
    assert (plan.lr, plan.n_epochs_kl_warmup) == (0.03, 7)
    assert (plan.weight_decay, plan.eps, plan.max_kl_weight) == (0.25, 0.5, 0.5)
    multivi = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    assert "plan_config" not in inspect.signature(multivi.train).parameters
    with pytest.raises(TypeError, match="plan_config"):
        multivi.train(plan_config={"lr": 1e-3}, **FAST)
    multivi.train(lr=0.03, weight_decay=0.25, eps=0.125, n_epochs_kl_warmup=7, **FAST,
                  plan_kwargs={"max_kl_weight": 0.5})  # the fix; other plan arguments kept
    plan = multivi.trainer.lightning_module
    assert (plan.lr, plan.weight_decay, plan.eps, plan.n_epochs_kl_warmup, plan.max_kl_weight) \
        == (0.03, 0.25, 0.125, 7, 0.5)
    peakvi = _peakvi()
    assert "plan_config" not in inspect.signature(peakvi.train).parameters
    peakvi.train(plan_config={"lr": 0.5}, **FAST)  # accepted by the parent train()
    assert peakvi.trainer.lightning_module.lr != 0.5  # PEAKVI's own lr wins
    peakvi.train(lr=0.03, weight_decay=0.25, eps=0.125, n_epochs_kl_warmup=7, **FAST)  # the fix
    plan = peakvi.trainer.lightning_module
    assert (plan.lr, plan.weight_decay, plan.eps, plan.n_epochs_kl_warmup) == (0.03, 0.25, 0.125, 7)


def test_elbo_validation_logged_only_when_validation_runs():
    # A fresh model each time: a further train() only extends the keys of the first history.
    model = _scvi()
    model.train(**FAST)
    assert "elbo_validation" not in model.history
    model.train(check_val_every_n_epoch=1, **FAST)  # too late: not a key of the first history
    assert "elbo_validation" not in model.history
    for kwargs in ({"plan_kwargs": {"reduce_lr_on_plateau": True}},
                   {"learning_rate_monitor": True}, {"check_val_every_n_epoch": 1},
                   {"early_stopping": True}):
        model = _scvi()
        model.train(**kwargs, **FAST)
        assert "elbo_validation" in model.history, kwargs
    for model in (_totalvi(), scvi.model.MULTIVI(_multivi_mudata(), n_latent=4), _peakvi()):
        model.train(**FAST)  # their early stopping, on by default, runs validation
        assert "elbo_validation" in model.history, type(model).__name__


def test_de_mode_defaults_per_model():
    model = _trained_scvi()
    kwargs = {"groupby": "labels", "group1": "label_0", "batch_size": 64}
    vanilla = model.differential_expression(**kwargs)
    change = model.differential_expression(mode="change", **kwargs)
    assert "bayes_factor" in vanilla and "proba_m1" in vanilla and "proba_de" not in vanilla
    assert "proba_de" in change
    wide = model.differential_expression(mode="change", delta=2.0, **kwargs)  # the threshold
    assert set(change["delta"]) == {0.25} and set(wide["delta"]) == {2.0}
    assert wide["proba_de"].mean() < change["proba_de"].mean()

    def mode(method):
        return inspect.signature(method).parameters["mode"].default

    for name in ("SCVI", "SCANVI", "LinearSCVI", "AUTOZI"):
        assert mode(_model_class(name).differential_expression) == "vanilla", name
    assert mode(scvi.model.TOTALVI.differential_expression) == "change"
    assert mode(scvi.model.MULTIVI.differential_expression) == "change"
    assert mode(scvi.model.PEAKVI.differential_accessibility) == "change"
    assert mode(scvi.model.PEAKVI.differential_expression) == "vanilla"


def test_gradient_clip_raises_under_manual_optimization():
    model = _totalvi()
    with pytest.raises(Exception, match="(?i)clip"):
        model.train(gradient_clip_val=1.0, **FAST)
    model.train(lr=1e-4, **FAST)  # the fix: a lower lr instead
    assert model.trainer.lightning_module.lr == 1e-4
    from scvi.train import AdversarialTrainingPlan

    assert AdversarialTrainingPlan(model.module).automatic_optimization is False
    # MULTIVI and CYTOVI train with it too, also with the adversarial classifier off, and
    # TOTALANVI with SemiSupervisedAdversarialTrainingPlan (SCANVI's train() swaps it in).
    for model, off in ((scvi.model.MULTIVI(_multivi_mudata(), n_latent=4),
                        {"adversarial_mixing": False}),
                       (_cytovi(), {"adversarial_classifier": False}), (_totalanvi(), {})):
        name = type(model).__name__
        with pytest.raises(Exception, match="(?i)clip"):
            model.train(gradient_clip_val=1.0, **off, **FAST)
        # The fix: a lower lr (TOTALANVI's train() takes none: through plan_kwargs).
        lower = {"plan_kwargs": {"lr": 1e-4}} if name == "TOTALANVI" else {"lr": 1e-4}
        model.train(**lower, **FAST)
        plan = model.trainer.lightning_module
        assert plan.lr == 1e-4 and plan.automatic_optimization is False, name
        assert isinstance(plan, AdversarialTrainingPlan) is (name != "TOTALANVI"), name
    scvi_model = _scvi()
    scvi_model.train(gradient_clip_val=1.0, **FAST)  # automatic optimization: accepted
    assert scvi_model.trainer.gradient_clip_val == 1.0
    # GIMVI's own plan and the Pyro plans (AmortizedLDA) optimize by hand too (session 26,
    # from trial round 55): the same refusal, and they train without the clipping.
    from scvi.external import GIMVI

    pair = []
    for _ in range(2):
        adata = _adata()
        GIMVI.setup_anndata(adata, batch_key="batch", labels_key="labels")
        pair.append(adata)
    lda = _adata()
    scvi.model.AmortizedLDA.setup_anndata(lda)
    for model in (GIMVI(*pair, n_latent=4), scvi.model.AmortizedLDA(lda, n_topics=3)):
        name = type(model).__name__
        with pytest.raises(Exception, match="(?i)not supported for manual optimization"):
            model.train(gradient_clip_val=1.0, **FAST)
        model.train(**FAST)
        assert model.trainer.lightning_module.automatic_optimization is False, name


def test_load_without_adata_then_calls_fail(tmp_path):
    model = _scvi()
    model.train(**FAST)
    model.save(tmp_path / "model", save_anndata=False)
    with pytest.warns(UserWarning, match="no saved anndata and no adata was passed"):
        loaded = scvi.model.SCVI.load(tmp_path / "model", accelerator="cpu")
    assert loaded.adata is None
    with pytest.raises(AttributeError, match="is_view"):
        loaded.get_latent_representation()
    assert loaded.get_latent_representation(_adata()).shape[1] == 4
    # The fix: load with the adata (the same genes).
    reloaded = scvi.model.SCVI.load(tmp_path / "model", adata=_adata(), accelerator="cpu")
    assert reloaded.get_latent_representation().shape == (80, 4)
    with pytest.raises(ValueError, match="Number of vars in `adata_target` not the same"):
        scvi.model.SCVI.load(tmp_path / "model", adata=_adata()[:, :10].copy(), accelerator="cpu")


def test_scanvi_callbacks_drop_the_label_subsampler():
    from lightning.pytorch.callbacks import Callback
    from scvi.train._callbacks import SubSampleLabels

    class Drawn(Callback):
        """Records the labelled cells each epoch trains on."""

        def __init__(self):
            self.cells = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.cells.append(sorted(trainer.train_dataloader.dataloaders[1].indices))

    assert not hasattr(scvi.train, "SubSampleLabels")  # why the fix imports it from _callbacks
    for model in (_scanvi(), _methylanvi(), _totalanvi()):  # SCANVI's train() for all three
        name = type(model).__name__
        model.train(n_samples_per_label=5, **FAST)
        assert any(isinstance(c, SubSampleLabels) for c in model.trainer.callbacks), name
        drawn = Drawn()
        model.train(n_samples_per_label=5, callbacks=[drawn], **dict(FAST, max_epochs=2))
        assert not any(isinstance(c, SubSampleLabels) for c in model.trainer.callbacks), name
        assert drawn.cells[0] == drawn.cells[1], name  # drawn once
        drawn = Drawn()  # the fix: add the subsampler yourself
        model.train(n_samples_per_label=5, callbacks=[SubSampleLabels(), drawn],
                    **dict(FAST, max_epochs=2))
        assert len(drawn.cells[0]) == 10 and drawn.cells[0] != drawn.cells[1], name  # each epoch


def test_doc_erratum_autozi_get_alphas_betas():
    adata = _adata()
    scvi.model.AUTOZI.setup_anndata(adata)
    model = scvi.model.AUTOZI(adata, n_latent=4)
    model.train(**FAST)
    assert not hasattr(model, "get_alpha_betas")
    assert set(model.get_alphas_betas()) >= {"alpha_posterior", "beta_posterior"}


def test_doc_erratum_totalvi_sample_protein_mixing():
    model = _totalvi()
    model.train(**FAST)
    params = inspect.signature(model.get_normalized_expression).parameters
    assert "sample_protein_mixing" in params and "sampling_protein_mixing" not in params
    rna, protein = model.get_normalized_expression(n_samples=1, sample_protein_mixing=True)
    assert rna.shape[0] == protein.shape[0] == model.adata.n_obs
    with pytest.raises(TypeError):
        model.get_normalized_expression(sampling_protein_mixing=True)


NOT_COUNTS = {"SysVI": {"batch_key": "batch"}, "CYTOVI": {}, "SOLO": {},
              "VELOVI": {"spliced_layer": "spliced", "unspliced_layer": "unspliced"}}
"""The models the pitfalls name as registering X with is_count_data=False, and their setup."""


def test_counts_not_in_x_raw_is_never_read():
    adata = _adata()
    adata.raw = adata.copy()
    adata.X = np.log1p(adata.X / adata.X.sum(1, keepdims=True) * 1e4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.model.SCVI.setup_anndata(adata)
    assert any("does not contain unnormalized count data" in str(w.message) for w in caught)
    model = scvi.model.SCVI(adata)
    assert model.adata_manager.registry["setup_args"]["layer"] is None  # .X, not .raw
    # The fix: the raw counts in a layer, named in setup_anndata and in the gene selection.
    import scanpy as sc

    adata.layers["counts"] = adata.raw.to_adata().X
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.model.SCVI.setup_anndata(adata, layer="counts")
        sc.pp.highly_variable_genes(adata, flavor="seurat_v3", layer="counts", n_top_genes=10)
    assert not any("count data" in str(w.message) for w in caught)
    assert np.array_equal(scvi.model.SCVI(adata).adata_manager.get_from_registry("X"), adata.raw.X)
    assert adata.var["highly_variable"].sum() == 10
    with pytest.warns(UserWarning, match="expects raw count data"):  # what the layer avoids
        sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=10)
    floats = _adata()
    floats.X = floats.X * 0.37  # SCTransform / Seurat-converted values: not integers
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.model.SCVI.setup_anndata(floats)
    assert any("unnormalized count data" in str(w.message) for w in caught)
    for name, setup in NOT_COUNTS.items():  # no count check: no warning
        logged = _adata()
        logged.X = np.log1p(logged.X / logged.X.sum(1, keepdims=True) * 1e4)
        logged.layers["spliced"] = logged.layers["unspliced"] = logged.X
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _model_class(name).setup_anndata(logged, **setup)
        assert not any("count data" in str(w.message) for w in caught), name


def test_setup_anndata_on_a_view_raises():
    adata = _adata()
    with pytest.raises(ValueError, match="adata = adata.copy()"):
        scvi.model.SCVI.setup_anndata(adata[:50])
    scvi.model.SCVI.setup_anndata(adata[:50].copy())


def test_nan_in_batch_column_fails_categorical():
    adata = _adata()
    batch = adata.obs["batch"].astype(object)
    batch.iloc[0] = np.nan
    adata.obs["batch"] = batch
    with pytest.raises(ValueError, match="categorical failed"):
        scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    adata.obs["batch"] = adata.obs["batch"].astype("category")  # as read from a file
    with pytest.raises(TypeError, match="new category"):  # why the fix goes through object
        adata.obs["batch"].fillna("unknown")
    adata.obs["batch"] = adata.obs["batch"].astype("object").fillna("unknown")  # the fix
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    assert scvi.model.SCVI(adata).summary_stats.n_batch == 3  # batch_0, batch_1, unknown


def test_csr_array_gives_type_error():
    adata = _adata()
    adata.X = sp.csr_array(adata.X)
    with pytest.raises(TypeError):
        scvi.model.SCVI.setup_anndata(adata)
        scvi.model.SCVI(adata).train(**FAST)
    adata.X = sp.csr_matrix(adata.X)  # the fix
    scvi.model.SCVI.setup_anndata(adata)
    scvi.model.SCVI(adata, n_hidden=16, n_latent=4).train(**FAST)
    adata.layers["counts"] = sp.csr_array(adata.X)  # the same in a layer
    with pytest.raises(TypeError):
        scvi.model.SCVI.setup_anndata(adata, layer="counts")
    adata.layers["counts"] = sp.csr_matrix(adata.layers["counts"])
    scvi.model.SCVI.setup_anndata(adata, layer="counts")
    for name, setup in NOT_COUNTS.items():  # no count check: a csr_array passes their setup
        arrays = _adata()
        arrays.X = sp.csr_array(arrays.X.astype("float32"))
        arrays.layers["spliced"] = arrays.layers["unspliced"] = arrays.X
        _model_class(name).setup_anndata(arrays, **setup)


def test_transform_batch_takes_categories():
    model = _trained_scvi()
    with pytest.raises(ValueError, match="not a valid batch category"):
        model.get_normalized_expression(transform_batch=0)
    assert model.get_normalized_expression(transform_batch="batch_0").shape == (80, 20)
    assert model.get_normalized_expression(transform_batch=["batch_0", "batch_1"]).shape == (80, 20)


def test_categorical_covariates_are_not_batches():
    scanvi = {"labels_key": "labels", "unlabeled_category": "unknown"}
    proteins = {"protein_expression_obsm_key": "protein_expression"}
    for name, setup, dispersion in (("SCVI", {}, "dispersion"), ("SCANVI", scanvi, "dispersion"),
                                    ("TOTALVI", proteins, "gene_dispersion")):
        cls = _model_class(name)
        model = _model(name, categorical_covariate_keys=["batch"], **setup)
        assert model.summary_stats.n_batch == 1, name
        model.train(**FAST)
        with pytest.raises(ValueError, match="not a valid batch category"):
            model.get_normalized_expression(transform_batch="batch_0")
        gene_batch = cls(model.adata, n_latent=4, **{dispersion: "gene-batch"})
        assert gene_batch.module.px_r.shape == (20, 1), name  # one column: not per batch
        # The fix: the main effect as batch_key, the others as covariates.
        model = _model(name, batch_key="batch", categorical_covariate_keys=["labels"], **setup)
        stats = model.summary_stats
        assert (stats.n_batch, stats.n_extra_categorical_covs) == (2, 1), name
        gene_batch = cls(model.adata, n_latent=4, **{dispersion: "gene-batch"})
        assert gene_batch.module.px_r.shape == (20, 2), name
        model.train(**FAST)
        expression = model.get_normalized_expression(transform_batch="batch_0")
        assert (expression[0] if name == "TOTALVI" else expression).shape == (80, 20), name
    # Embeddings for very many batches (SCVI).
    adata = _scvi(batch_key="batch", categorical_covariate_keys=["labels"]).adata
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4, batch_representation="embedding")
    assert model.module.batch_representation == "embedding"
    model.train(**FAST)
    assert model.get_normalized_expression(transform_batch="batch_0").shape == (80, 20)


def test_ddp_switches_early_stopping_off(monkeypatch, tmp_path):
    from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
    from scvi.external.cellassign import _model as cellassign_module
    from scvi.external.solo import _model as solo_module
    from scvi.train import LoudEarlyStopping, Trainer, TrainRunner

    monkeypatch.chdir(tmp_path)  # Lightning's DDP set-up makes lightning_logs/ in the cwd

    # The fix's strategies are Lightning's, and scvi-tools takes them for DDP as well.
    for strategy in ("ddp", "ddp_find_unused_parameters_true", "ddp_notebook",
                     "ddp_notebook_find_unused_parameters_true"):
        assert strategy in StrategyRegistry.available_strategies()
        with pytest.warns(UserWarning, match="early_stopping was automatically disabled"):
            trainer = Trainer(max_epochs=1, accelerator="cpu", devices=1, strategy=strategy,
                              early_stopping=True, enable_progress_bar=False)
        assert trainer.early_stopping_callback is None
        assert trainer.strategy._ddp_kwargs.get("find_unused_parameters", False) \
            is strategy.endswith("_true")
    built = []

    class BuildOnly(TrainRunner):
        """scvi-tools' own runner, building each model's real Trainer; only fit is skipped
        (a stand-in: DDP training spawns processes this CPU test cannot run)."""

        def __call__(self):
            built.append(self.trainer)

    for module in (solo_module, cellassign_module):  # they call TrainRunner by name
        monkeypatch.setattr(module, "TrainRunner", BuildOnly)
    totalvi = _totalvi()
    totalvi._train_runner_cls = BuildOnly
    ddp = dict(FAST, strategy="ddp", devices=1)
    totalvi.train(**ddp)  # early stopping on by default: switched off
    reference = _scvi()
    reference.train(**FAST)
    scvi.external.SOLO.from_scvi_model(reference).train(**ddp)
    _cellassign().train(**ddp)
    assert len(built) == 3 and all(isinstance(t.strategy, DDPStrategy) for t in built)
    assert built[0].early_stopping_callback is None
    assert all(isinstance(trainer.early_stopping_callback, LoudEarlyStopping)
               for trainer in built[1:])  # SOLO's and CellAssign's own callback stays


def test_savecheckpoint_removes_its_ckpt(tmp_path, monkeypatch):
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    model = _scvi()
    callback = SaveCheckpoint(dirpath=str(tmp_path), monitor="elbo_validation")
    model.train(callbacks=[callback], check_val_every_n_epoch=1,
                **dict(FAST, max_epochs=2))
    assert not list(Path(tmp_path).rglob("*.ckpt"))
    assert not callback.best_model_path.endswith(".ckpt")
    assert Path(callback.best_model_path).is_dir()
    assert (Path(callback.best_model_path) / "model.pt").is_file()
    best = scvi.model.SCVI.load(callback.best_model_path, adata=model.adata, accelerator="cpu")
    assert best.get_latent_representation().shape == (80, 4)  # the fix, to load it
    # The fix, to resume: Lightning's ModelCheckpoint, allowed only with enable_checkpointing
    # (which also adds a SaveCheckpoint under scvi.settings.logging_dir), then ckpt_path.
    monkeypatch.setattr(scvi.settings, "logging_dir", str(tmp_path / "logs"))
    with pytest.raises(MisconfigurationException, match="enable_checkpointing=False"):
        _scvi().train(callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt")], **FAST)
    _scvi().train(callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt")],
                  enable_checkpointing=True, **FAST)
    (ckpt,) = (tmp_path / "ckpt").glob("*.ckpt")
    resumed = _scvi()
    resumed.train(ckpt_path=str(ckpt), **dict(FAST, max_epochs=3))
    assert resumed.trainer.current_epoch == 3
    assert len(resumed.history["elbo_train"]) == 2  # epochs 2 and 3: epoch 1 came from the .ckpt


def test_savecheckpoint_on_exception_is_a_hook_switched_by_check_nan_gradients(tmp_path):
    """docs/faq.md speaks of SaveCheckpoint's "on_exception option": as a keyword it reaches
    Lightning's ModelCheckpoint and fails; it is the callback's hook, which does nothing
    unless check_nan_gradients=True (here it would reload the best model: none is saved yet)."""
    with pytest.raises(TypeError, match="on_exception"):
        SaveCheckpoint(dirpath=str(tmp_path), on_exception=True)
    assert "check_nan_gradients" in inspect.signature(SaveCheckpoint.__init__).parameters
    off = SaveCheckpoint(dirpath=str(tmp_path), check_nan_gradients=False)
    assert off.on_exception(None, None, RuntimeError("nan")) is None  # skipped: no trainer used
    on = SaveCheckpoint(dirpath=str(tmp_path), check_nan_gradients=True)
    with pytest.raises(AttributeError):  # it acts: stops the trainer (None here) and reloads
        on.on_exception(None, None, RuntimeError("nan"))
    # The fix in training: an exception in epoch 2 (after a save) leaves the best save's weights.
    import torch
    from lightning.pytorch.callbacks import Callback

    class Fail(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                with torch.no_grad():
                    for param in pl_module.module.parameters():
                        param.add_(1.0)  # weights unlike any save
                raise RuntimeError("nan")

    model = _scvi()
    callback = SaveCheckpoint(dirpath=str(tmp_path / "fix"), monitor="elbo_validation",
                              check_nan_gradients=True)
    with pytest.raises(RuntimeError, match="nan"):  # train() still raises
        model.train(callbacks=[callback, Fail()], **dict(FAST, max_epochs=3))
    best = torch.load(Path(callback.best_model_path) / "model.pt", weights_only=False)
    assert all(torch.equal(best["model_state_dict"][name], value)
               for name, value in model.module.state_dict().items())


def test_mlx_extra_is_called_metal():
    metadata = importlib.metadata.metadata("scvi-tools")
    extras = metadata.get_all("Provides-Extra") or []
    assert "metal" in extras and "mlx" not in extras
    requires = [r.replace(" ", "").replace('"', "'") for r in metadata.get_all("Requires-Dist")]
    assert "mlx;extra=='metal'" in requires  # the fix, scvi-tools[metal], brings mlx


def test_last_minibatch_of_one_cell_breaks_batchnorm_unless_dropped():
    """With train_size set, a training set of k * batch_size + 1 cells only warns, then the
    encoder's BatchNorm fails on the one-cell minibatch; drop_last=True in
    datasplitter_kwargs trains. With train_size=None (the default) the odd cell moves to the
    validation set instead."""
    adata = _adata(n_cells_per_batch=40)[:41].copy()  # train_size=1.0, batch_size 8: 8 * 5 + 1
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        model.train(train_size=1.0, batch_size=8, **FAST)
    model.train(train_size=1.0, batch_size=8, datasplitter_kwargs={"drop_last": True}, **FAST)
    assert model.is_trained
    model.train(train_size=1.0, batch_size=16, **FAST)  # or another batch_size: 2 * 16 + 9
    adata = _adata(n_cells_per_batch=40)[:45].copy()  # default split: ceil(0.9 * 45) = 8 * 5 + 1
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    with pytest.warns(UserWarning, match="1 cells moved from training set to validation set"):
        model.train(batch_size=8, **FAST)
    assert model.is_trained


def test_nan_in_counts_passes_setup_and_fails_in_the_encoder():
    """One NaN in 80 cells: setup_anndata's sampled count check (20 rows) lets it through
    without an error, and the first training step fails in torch's check of the encoder's
    Normal(); the traceback's innermost scvi frame is Encoder.forward. Without the NaN the
    same model trains. torch's argument checks are set to their default (on) for the test:
    torch.compile, which an example test runs earlier in the process, turns them off."""
    with _torch_argument_checks():
        _nan_in_counts_case()


@contextlib.contextmanager
def _torch_argument_checks():
    """torch's distribution argument checks on (their default) for the block, then as before."""
    import torch

    checks = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(True)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(checks)


def _nan_in_counts_case():
    import traceback

    adata = _adata()
    adata.X = adata.X.astype(np.float32)  # counts read as floats, as from a converted file
    adata.X[0, 0] = np.nan
    np.random.seed(0)  # the count check's sample of rows
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    # train_size=1.0: the NaN cell is in the training set whatever the random split.
    with pytest.raises(ValueError, match=r"Expected parameter loc .* Normal.* constraint Real") as err:
        model.train(train_size=1.0, **FAST)
    frames = [f for f in traceback.extract_tb(err.value.__traceback__) if "/scvi/" in f.filename]
    assert frames[-1].filename.endswith("scvi/nn/_base_components.py") and frames[-1].name == "forward"
    assert "Normal(q_m, q_v.sqrt())" in frames[-1].line
    assert np.isnan(adata.X).any() and np.isnan(sp.csr_matrix(adata.X).data).any()  # the check
    adata.X = np.nan_to_num(adata.X)  # the fix: repair (or drop) what holds NaN
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    model.train(train_size=1.0, **FAST)
    assert model.is_trained


def _multiome():
    """RNA and accessibility of synthetic cells as a MuData (batch and labels in its obs)."""
    return synthetic_iid(batch_size=40, n_genes=20, n_proteins=0, n_regions=20, n_batches=2,
                         n_labels=2, return_mudata=True)


def _multivi_mudata():
    mdata = _multiome()
    scvi.model.MULTIVI.setup_mudata(mdata, batch_key="batch",
                                    modalities={"rna_layer": "rna", "atac_layer": "accessibility"})
    return mdata


def test_multivi_setup_anndata_registers_nothing():
    adata = _adata(n_regions=20)
    with pytest.warns(DeprecationWarning, match="Please use setup_mudata"):
        scvi.model.MULTIVI.setup_anndata(adata, batch_key="batch")
    with pytest.raises(ValueError, match=r"Please set up your AnnData with MULTIVI.setup_anndata"):
        scvi.model.MULTIVI(adata, n_genes=20, n_regions=20)
    model = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)  # the fix
    assert model.module.n_input_genes == 20 and model.module.n_input_regions == 20


def test_doc_erratum_multivi_gene_likelihood_zeroes_expression_loss():
    import torch

    losses = {}
    for likelihood in ("nb", "negative_binomial"):
        model = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4, gene_likelihood=likelihood)
        model.train(**FAST)  # no error for the name the docs give
        x = torch.ones(5, model.module.n_input_genes)
        losses[likelihood] = model.module.get_reconstruction_loss_expression(
            x, torch.ones_like(x), torch.ones(model.module.n_input_genes), torch.zeros_like(x))
    assert torch.is_tensor(losses["nb"]) and bool((losses["nb"] > 0).all())
    assert losses["negative_binomial"] == 0.0


def test_gimvi_gene_label_dispersion_fails_in_training():
    from scvi.external import GIMVI

    def data():
        adata = _adata()
        GIMVI.setup_anndata(adata, batch_key="batch", labels_key="labels")
        return adata

    GIMVI(data(), data(), dispersion="gene-batch", n_latent=4).train(**FAST)  # the fix
    assert GIMVI(data(), data(), n_latent=4).module.dispersion == "gene-batch"  # the default
    GIMVI(data(), data(), dispersion="gene", n_latent=4).train(**FAST)
    model = GIMVI(data(), data(), dispersion="gene-label", n_latent=4)
    with pytest.raises(AttributeError, match="has no attribute 'squeeze'"):
        model.train(**FAST)


def test_dropout_reaches_the_encoders_only():
    import torch

    from scvi.nn import DecoderSCVI, FCLayers

    def rates(module):
        return {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)}

    model = scvi.model.SCVI(_scvi().adata, n_hidden=16, n_latent=4, dropout_rate=0.3)
    assert rates(model.module.z_encoder) == {0.3}
    assert rates(model.module.decoder) <= {0.0}
    adata = _adata()
    scvi.model.SCANVI.setup_anndata(adata, labels_key="labels", unlabeled_category="unknown",
                                    batch_key="batch")
    scanvi = scvi.model.SCANVI(adata, n_hidden=16, n_latent=4, dropout_rate=0.3)
    assert rates(scanvi.module.z_encoder) == {0.3} and rates(scanvi.module.decoder) <= {0.0}
    with pytest.raises(TypeError, match="multiple values for keyword argument 'dropout_rate'"):
        DecoderSCVI(4, 20, dropout_rate=0.1)
    assert rates(FCLayers(4, 20, dropout_rate=0.1)) == {0.1}  # the fix: an own FCLayers decoder


def test_doc_erratum_amortizedlda_default_max_epochs():
    """The runner is replaced by a stub that records its arguments: no 1000-epoch training."""
    from scvi.model._utils import get_max_epochs_heuristic

    adata = _adata()
    scvi.model.AmortizedLDA.setup_anndata(adata)
    model = scvi.model.AmortizedLDA(adata, n_topics=3)
    seen = {}

    class Recorder:
        def __init__(self, _model, **kwargs):
            seen.update(kwargs)

        def __call__(self):
            return None

    model._train_runner_cls = Recorder
    model.train(accelerator="cpu")
    documented = min(round(20000 / adata.n_obs * 400), 400)
    assert documented == 400 and seen["max_epochs"] == 1000
    model.train(max_epochs=5, accelerator="cpu")  # the fix
    assert seen["max_epochs"] == 5
    assert get_max_epochs_heuristic(40_000, epochs_cap=1000) == 500  # the decay above 20,000


def test_scvi_history_keys_are_per_epoch_names():
    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.SCVI(adata)
    model.train(**dict(FAST, max_epochs=2))
    assert set(model.history) == {"train_loss", "elbo_train", "reconstruction_loss_train",
                                  "kl_local_train", "kl_global_train"}
    assert all(len(frame) == 2 for frame in model.history.values())  # one row per epoch
    adata = _adata()
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    model = scvi.model.TOTALVI(adata)
    model.train(**dict(FAST, max_epochs=2))
    assert set(model.history) == {
        "train_loss", "elbo_train", "reconstruction_loss_train", "kl_local_train",
        "kl_global_train", "validation_loss", "elbo_validation",
        "reconstruction_loss_validation", "kl_local_validation", "kl_global_validation",
        "lr-Adam"}


def test_doc_erratum_save_keeps_the_history(tmp_path):
    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.SCVI(adata)
    model.train(**dict(FAST, max_epochs=2))
    doc = inspect.getdoc(scvi.model.SCVI.save)
    assert "trainer history are saved" in doc and "Neither" in doc
    model.save(tmp_path / "model", overwrite=True)
    reloaded = scvi.model.SCVI.load(tmp_path / "model", adata=adata)
    assert set(reloaded.history) == set(model.history)
    assert all(reloaded.history[k].equals(model.history[k]) for k in model.history)


def test_train_arguments_overwrite_plan_kwargs():
    """train() of these models writes its own lr (its default too) into plan_kwargs; the fix,
    train(lr=...), sets it. DestVI's case is in test_destvi_from_rna_model_needs_a_mog_condscvi."""

    def plan_of(model, **train):
        model.train(**FAST, **train)
        return model.trainer.lightning_module

    def default(model, name="lr"):
        return inspect.signature(model.train).parameters[name].default

    warmup = {"n_epochs_kl_warmup": 7}
    totalvi = _totalvi()
    plan = plan_of(totalvi, plan_kwargs={"lr": 0.03, **warmup})
    assert plan.lr == default(totalvi) == 4e-3
    assert plan.n_epochs_kl_warmup == default(totalvi, "n_epochs_kl_warmup")
    plan = plan_of(totalvi, lr=0.03, **warmup)  # the fix
    assert (plan.lr, plan.n_epochs_kl_warmup) == (0.03, 7)
    wd_eps = {"weight_decay": 0.5, "eps": 0.5}
    multivi = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    peakvi = _peakvi()
    for model in (multivi, peakvi):
        plan = plan_of(model, plan_kwargs={"lr": 0.03, **wd_eps, **warmup})
        assert (plan.lr, plan.weight_decay, plan.eps, plan.n_epochs_kl_warmup) == \
            (default(model), 1e-3, 1e-8, 50), model
        plan = plan_of(model, lr=0.03, **wd_eps, **warmup)  # the fix
        assert (plan.lr, plan.weight_decay, plan.eps, plan.n_epochs_kl_warmup) == \
            (0.03, 0.5, 0.5, 7), model
    adata = _adata()
    scvi.model.CondSCVI.setup_anndata(adata, labels_key="labels")
    condscvi = scvi.model.CondSCVI(adata, n_hidden=16, n_latent=4)
    assert plan_of(condscvi, plan_kwargs={"lr": 0.03}).lr == default(condscvi)
    cellassign = _cellassign()
    plan = plan_of(cellassign, plan_kwargs={"lr": 0.03, "weight_decay": 0.5})
    assert (plan.lr, plan.weight_decay) == (default(cellassign), 1e-10)
    model = _scvi()
    model.train(**FAST)
    solo = scvi.external.SOLO.from_scvi_model(model)
    assert plan_of(solo, plan_kwargs={"lr": 0.03}).lr == default(solo)
    adata = _adata()
    scvi.external.RNAStereoscope.setup_anndata(adata, labels_key="labels")
    rna = scvi.external.RNAStereoscope(adata)
    assert plan_of(rna, plan_kwargs={"lr": 0.03}).lr == default(rna) == 0.01
    spatial_adata = _adata()
    scvi.external.SpatialStereoscope.setup_anndata(spatial_adata)
    spatial = scvi.external.SpatialStereoscope.from_rna_model(spatial_adata, rna)
    assert plan_of(spatial, plan_kwargs={"lr": 0.03}).lr == default(spatial) == 0.01
    cytovi = _cytovi()
    plan = plan_of(cytovi, plan_kwargs={"lr": 0.03, "weight_decay": 0.5, **warmup})
    assert (plan.lr, plan.weight_decay) == (default(cytovi), 0.5)  # weight_decay is kept
    assert plan.n_epochs_kl_warmup == default(cytovi, "n_epochs_kl_warmup") == 400
    plan = plan_of(cytovi, lr=0.03, **warmup)  # the fix
    assert (plan.lr, plan.n_epochs_kl_warmup) == (0.03, 7)
    # The fix for the others: train(lr=...); their train() takes no weight_decay or eps.
    for model in (condscvi, cellassign, solo, rna, spatial):
        assert plan_of(model, lr=0.03).lr == 0.03, model
    for model in (totalvi, condscvi, cellassign, solo, rna, spatial, cytovi):
        assert not {"weight_decay", "eps"} & set(inspect.signature(model.train).parameters)
    # The shared UnsupervisedTrainingMixin.train() (SCVI) keeps plan_kwargs' lr.
    assert plan_of(_scvi(), plan_kwargs={"lr": 0.03}).lr == 0.03


def test_the_adversarial_classifier_trains_at_a_fixed_rate():
    def optimizers(model, **train):
        model.train(**FAST, **train)
        return [group for opt in model.trainer.optimizers for group in opt.param_groups]

    main, classifier = optimizers(scvi.model.MULTIVI(_multivi_mudata(), n_latent=4), lr=0.03,
                                  weight_decay=1e-4)
    assert (main["lr"], main["eps"]) == (0.03, 1e-8)
    assert (classifier["lr"], classifier["eps"], classifier["weight_decay"]) == (1e-3, 0.01, 1e-4)
    main, classifier = optimizers(_totalvi(), lr=0.03, adversarial_classifier=True)
    assert (main["lr"], classifier["lr"], classifier["eps"]) == (0.03, 1e-3, 0.01)
    # The fix, off: one optimizer only. TOTALVI's classifier is on by default when a protein
    # is all 0 in a batch.
    assert len(optimizers(scvi.model.MULTIVI(_multivi_mudata(), n_latent=4), lr=0.03,
                          adversarial_mixing=False)) == 1
    adata = _adata()
    adata.obsm["protein_expression"][adata.obs["batch"].to_numpy() == "batch_1", 0] = 0
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    totalvi = scvi.model.TOTALVI(adata, n_latent=4)
    assert len(optimizers(totalvi)) == 2
    assert len(optimizers(totalvi, adversarial_classifier=False)) == 1

    # The fix, another rate: a subclass of AdversarialTrainingPlan as the model's plan.
    class SlowerClassifier(scvi.train.AdversarialTrainingPlan):
        def configure_optimizers(self):
            config = super().configure_optimizers()
            opts = config[0] if isinstance(config, tuple) else config  # with a scheduler
            opts[1].param_groups[0]["lr"] = 5e-4
            return config

    totalvi._training_plan_cls = SlowerClassifier
    main, classifier = optimizers(totalvi, lr=0.03)
    assert (main["lr"], classifier["lr"]) == (0.03, 5e-4)


def _condscvi_reference(layer: str | None = None, **condscvi):
    """DestVI's reference: a CondSCVI trained one epoch on one batch of synthetic cells (their
    counts also under ``layer`` when one is named), with its AnnData."""
    sc = _adata(n_batches=1)
    if layer:
        sc.layers[layer] = sc.X.copy()
    scvi.model.CondSCVI.setup_anndata(sc, labels_key="labels", layer=layer)
    sc_model = scvi.model.CondSCVI(sc, n_hidden=16, n_latent=4, **condscvi)
    sc_model.train(**FAST)
    return sc, sc_model


def _destvi_inputs():
    """A mixture-prior CondSCVI reference (10 components per cell type), its AnnData, and a
    copy of those cells set up for DestVI as the spatial data."""
    sc, sc_model = _condscvi_reference(prior="mog", num_classes_mog=10)
    st = sc.copy()
    scvi.model.DestVI.setup_anndata(st)
    return sc, sc_model, st


def test_destvi_from_rna_model_needs_a_mog_condscvi():
    def from_rna(**condscvi):
        sc, sc_model = _condscvi_reference(**condscvi)
        st = sc.copy()
        scvi.model.DestVI.setup_anndata(st)
        return st, sc_model

    with pytest.raises(KeyError, match="prior"):
        scvi.model.DestVI.from_rna_model(*from_rna())  # CondSCVI's default prior, not named
    with pytest.raises(TypeError, match="mean_vprior"):
        scvi.model.DestVI.from_rna_model(*from_rna(prior="normal"))
    with pytest.raises(UnboundLocalError):
        scvi.model.DestVI.from_rna_model(*from_rna(), vamp_prior_p=None)
    model = scvi.model.DestVI.from_rna_model(*from_rna(prior="mog", num_classes_mog=10))  # the fix
    # DestVI's case of test_train_arguments_overwrite_plan_kwargs: train()'s own lr and KL
    # warmup win over plan_kwargs, so the fix passes them to train().
    model.train(**FAST, plan_kwargs={"lr": 0.03, "n_epochs_kl_warmup": 7})
    plan = model.trainer.lightning_module
    assert (plan.lr, plan.n_epochs_kl_warmup) == \
        (3e-3, inspect.signature(model.train).parameters["n_epochs_kl_warmup"].default)
    model.train(**FAST, lr=0.03, n_epochs_kl_warmup=7)
    plan = model.trainer.lightning_module
    assert (plan.lr, plan.n_epochs_kl_warmup) == (0.03, 7)


def test_doc_erratum_destvi_l1_reg():
    """destvi.md says the proportions' sparsity weight is `l1_reg` in code; 1.5.1's DestVI has
    none (from_rna_model hands it to MRDeconv, which raises), and the weight is
    MRDeconv.loss()'s ct_sparsity_weight, reached through train(plan_kwargs=...)."""
    sc, sc_model, st = _destvi_inputs()
    for name in ("l1_reg", "eta_reg", "beta_reg"):
        assert name not in inspect.signature(scvi.module.MRDeconv).parameters
    with pytest.raises(TypeError, match="l1_reg"):
        scvi.model.DestVI.from_rna_model(st, sc_model, l1_reg=50.0)
    model = scvi.model.DestVI.from_rna_model(st, sc_model)
    seen = []
    loss = model.module.loss

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return loss(*args, **kwargs)

    model.module.loss = spy  # the fix: the weight reaches the module's loss
    model.train(**FAST, plan_kwargs={"ct_sparsity_weight": 50.0, "eta_reg": 2.0})
    assert seen and all(k["ct_sparsity_weight"] == 50.0 and k["eta_reg"] == 2.0 for k in seen)


def test_doc_erratum_multivi_gene_dispersion():
    """MULTIVI's docstring lists gene_dispersion; the constructor's parameter is dispersion,
    which it passes on as gene_dispersion itself: gene_dispersion= raises TypeError (multiple
    values), dispersion= reaches the module."""
    assert "    gene_dispersion\n" in scvi.model.MULTIVI.__doc__
    assert "gene_dispersion" not in inspect.signature(scvi.model.MULTIVI).parameters
    with pytest.raises(TypeError, match="multiple values for keyword argument 'gene_dispersion'"):
        scvi.model.MULTIVI(_multivi_mudata(), gene_dispersion="gene-batch")
    model = scvi.model.MULTIVI(_multivi_mudata(), dispersion="gene-batch")
    assert model.module.gene_dispersion == "gene-batch"
    assert model.module.px_r.shape[1] == 2  # one column per batch


QUERY_MODELS = ["SCVI", "SCANVI", "TOTALVI", "TOTALANVI", "PEAKVI", "POISSONVI", "CYTOVI", "DRVI",
                "JointEmbeddingSCVI", "METHYLVI", "METHYLANVI", "MRVI", "RESOLVI", "SCVIVA"]
"""The models the query-mapping pitfalls name: each maps a query with ArchesMixin's own
``load_query_data`` and ``prepare_query_anndata``. The two methylation models (MuData) are
named only by the pitfalls on the reference's path and on new batches."""


def _query_models_use_archesmixin_s_own_query_methods():
    from scvi.model.base import ArchesMixin

    for name in QUERY_MODELS:
        cls = _model_class(name)
        assert issubclass(cls, ArchesMixin), name
        assert cls.load_query_data.__func__ is ArchesMixin.load_query_data.__func__, name
        assert cls.prepare_query_anndata is ArchesMixin.prepare_query_anndata, name


@functools.cache
def _query_references() -> dict:
    """Each of QUERY_MODELS trained for an epoch, as a reference model object; the tests map
    copies of its data and never change the model, so they share one set."""
    resolvi = _adata(n_genes=50, generate_coordinates=True)  # 20 genes: NaN in its priors
    resolvi.obsm["X_spatial"] = resolvi.obsm["coordinates"]
    built = [_scvi(batch_key="batch"), _scanvi(), _totalvi(), _totalanvi(),
             _model("PEAKVI", batch_key="batch"), _poissonvi(batch_key="batch"),
             _cytovi(), _model("DRVI", batch_key="batch"),
             _model("JointEmbeddingSCVI", batch_key="batch", labels_key="labels"),
             _methylation(scvi.external.METHYLVI), _methylanvi(), _mrvi(),
             _model("RESOLVI", resolvi, batch_key="batch"), _scviva()]
    for model in built:
        model.train(**FAST)
    assert [type(model).__name__ for model in built] == QUERY_MODELS
    return {type(model).__name__: model for model in built}


def _anndata_query_references() -> dict:
    return {name: model for name, model in _query_references().items()
            if name not in ("METHYLVI", "METHYLANVI")}


def _obs(data):
    """The obs with the batch and labels: an AnnData's own, or a MuData's first modality's."""
    return data["mod1"].obs if hasattr(data, "mod") else data.obs


def _copy_with(data, key: str, value: str, n_cells: int | None = None):
    """A copy of the data with obs[key] set to value in its first n_cells cells (or all)."""
    data = data.copy()
    column = _obs(data)[key].astype(str).to_numpy()
    column[:n_cells] = value
    _obs(data)[key] = column
    return data


def _reference_model(cls=None, n_proteins: int = 0, setup: dict | None = None, **model):
    """A reference model of cls on 80 synthetic cells (batches batch_0, batch_1), one epoch."""
    cls = cls or scvi.model.SCVI
    adata = _adata(n_proteins=n_proteins)
    cls.setup_anndata(adata, batch_key="batch", **(setup or {}))
    kwargs = {"n_hidden": 16} if cls is not scvi.model.TOTALVI else {}
    reference = cls(adata, n_latent=4, **kwargs, **model)
    reference.train(**FAST)
    return reference


def _reference(tmp_path, cls=None, **setup):
    """_reference_model() saved under tmp_path: its AnnData and the folder."""
    model = _reference_model(cls, setup=setup)
    model.save(tmp_path / "reference", overwrite=True)
    return model.adata, str(tmp_path / "reference")  # a str: a Path is taken for a model object


def _query(n_labels: int = 2, batch: str = "query", n_proteins: int = 0, **kwargs):
    """30 new cells, all in one batch named `batch`."""
    query = _adata(n_cells_per_batch=30, n_batches=1, n_labels=n_labels, n_proteins=n_proteins,
                   **kwargs)
    query.obs["batch"] = batch
    return query


def test_load_query_data_reads_query_genes_by_position(tmp_path):
    _query_models_use_archesmixin_s_own_query_methods()
    reference, path = _reference(tmp_path)
    for names in (list(reference.var_names[::-1]),  # the same genes in another order
                  [f"ENSG{i:011d}" for i in range(reference.n_vars)]):  # other names, same count
        query = _query()
        query.var_names = names
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = scvi.model.SCVI.load_query_data(query, path, accelerator="cpu")
        assert any("does not match those used to train the model" in str(w.message)
                   for w in caught)
        assert list(model.adata.var_names) == names  # neither sorted nor padded
        model.train(**FAST)  # and it trains on them as they stand
    query = _query()
    query.var_names = list(reference.var_names[::-1])
    scvi.model.SCVI.prepare_query_anndata(query, path)  # the fix
    assert list(query.var_names) == list(reference.var_names)
    more = _adata(n_cells_per_batch=30, n_batches=1, n_genes=25, n_proteins=0)  # every gene, +5
    more.obs["batch"] = "query"
    more = more[:, list(more.var_names[::-1])].copy()
    for query, kwargs in ((query, {}), (more, {"inplace_subset_query_vars": True})):  # the fixes
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = scvi.model.SCVI.load_query_data(query, path, accelerator="cpu", **kwargs)
        assert not any("does not match" in str(w.message) for w in caught)
        assert list(model.adata.var_names) == list(reference.var_names)
    for name, reference_model in _anndata_query_references().items():  # each model it names
        cls, genes = type(reference_model), list(reference_model.adata.var_names)
        query = reference_model.adata[:, genes[::-1]].copy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = cls.load_query_data(query, reference_model, accelerator="cpu")
        assert any("does not match those used to train the model" in str(w.message)
                   for w in caught), name
        assert list(model.adata.var_names) == genes[::-1], name
        query = reference_model.adata[:, genes[::-1]].copy()
        cls.prepare_query_anndata(query, reference_model)  # the fix
        assert list(query.var_names) == genes, name


def test_prepare_query_anndata_pads_missing_genes_with_zeros(tmp_path):
    _query_models_use_archesmixin_s_own_query_methods()
    reference, path = _reference(tmp_path)
    query = _query()
    kept = list(reference.var_names[12:])  # 8 of the 20 reference genes: 40%
    query.var_names = [f"ENSG{i:011d}" for i in range(12)] + kept
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.model.SCVI.prepare_query_anndata(query, path)
    assert any("less than 80% of reference var names" in str(w.message) for w in caught)
    assert list(query.var_names) == list(reference.var_names)
    padded = query[:, list(reference.var_names[:12])].X
    assert (padded.toarray() if hasattr(padded, "toarray") else np.asarray(padded)).sum() == 0
    none_shared = _query()
    none_shared.var_names = [f"ENSG{i:011d}" for i in range(reference.n_vars)]
    with pytest.raises(ValueError, match="No reference var names found in query data"):
        scvi.model.SCVI.prepare_query_anndata(none_shared, path)
    checked = _query()  # the fix: the overlap first, with nothing padded
    checked.var_names = [f"ENSG{i:011d}" for i in range(12)] + kept
    names = scvi.model.SCVI.prepare_query_anndata(checked, path, return_reference_var_names=True)
    assert list(names) == list(reference.var_names) and checked.n_vars == 20
    assert checked.var_names.isin(names).sum() == 8 and checked.var_names[0].startswith("ENSG")
    for name, reference_model in _anndata_query_references().items():  # each model it names
        cls, genes = type(reference_model), list(reference_model.adata.var_names)
        cut = int(0.6 * len(genes))  # 40% of the reference genes kept
        query = reference_model.adata.copy()
        query.var_names = [f"ENSG{i:011d}" for i in range(cut)] + genes[cut:]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cls.prepare_query_anndata(query, reference_model)
        assert any("less than 80% of reference var names" in str(w.message)
                   for w in caught), name
        assert list(query.var_names) == genes, name
        padded = query[:, genes[:cut]].X
        padded = padded.toarray() if hasattr(padded, "toarray") else np.asarray(padded)
        assert padded.sum() == 0, name
        none_shared = reference_model.adata.copy()
        none_shared.var_names = [f"ENSG{i:011d}" for i in range(len(genes))]
        with pytest.raises(ValueError, match="No reference var names found in query data"):
            cls.prepare_query_anndata(none_shared, reference_model)
        names = cls.prepare_query_anndata(none_shared, reference_model,
                                          return_reference_var_names=True)  # the fix
        assert list(names) == genes and none_shared.var_names[0].startswith("ENSG"), name


def test_query_labels_are_never_extended(tmp_path):
    _, path = _reference(tmp_path, scvi.model.SCANVI, labels_key="labels",
                         unlabeled_category="unknown")
    query = _query(n_labels=3)  # label_2 is not in the reference
    assert "label_2" in set(query.obs["labels"])
    with pytest.raises(ValueError, match="Category label_2 not found in source registry"):
        scvi.model.SCANVI.load_query_data(query, path, accelerator="cpu")
    unlabeled = _query(n_labels=3)
    unlabeled.obs["labels"] = unlabeled.obs["labels"].astype(str).replace("label_2", "unknown")
    model = scvi.model.SCANVI.load_query_data(unlabeled, path, accelerator="cpu")  # the fix
    assert "label_2" not in set(model.adata_manager.get_state_registry("labels")[
        "categorical_mapping"])
    without = _query(n_labels=3).copy()
    del without.obs["labels"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = scvi.model.SCANVI.load_query_data(without, path, accelerator="cpu")
    assert any("Missing labels key labels" in str(w.message) for w in caught)
    assert set(without.obs["labels"]) == {"unknown"}
    for name in ("TOTALANVI", "METHYLANVI"):  # the others the pitfall names
        reference_model = _query_references()[name]
        cls, data = type(reference_model), reference_model.adata
        with pytest.raises(ValueError, match="Category label_2 not found in source registry"):
            cls.load_query_data(_copy_with(data, "labels", "label_2", 5), reference_model,
                                accelerator="cpu")
        model = cls.load_query_data(_copy_with(data, "labels", "unknown", 5), reference_model,
                                    accelerator="cpu")  # the fix
        mapping = model.adata_manager.get_state_registry("labels")["categorical_mapping"]
        assert "label_2" not in set(mapping), name
        without = reference_model.adata.copy()
        del _obs(without)["labels"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cls.load_query_data(without, reference_model, accelerator="cpu")
        assert any("Missing labels key labels" in str(w.message) for w in caught), name
        assert set(_obs(without)["labels"]) == {"unknown"}, name


def test_a_reference_path_must_be_a_str(tmp_path):
    _query_models_use_archesmixin_s_own_query_methods()
    reference, path = _reference(tmp_path)
    for call in (scvi.model.SCVI.load_query_data, scvi.model.SCVI.prepare_query_anndata):
        with pytest.raises(AttributeError, match="has no attribute '_get_user_attributes'"):
            call(_query(), Path(path))
        call(_query(), str(Path(path)))  # the fix
    for name, reference_model in _query_references().items():  # each model it names
        cls = type(reference_model)
        for call in (cls.load_query_data, cls.prepare_query_anndata):
            with pytest.raises(AttributeError, match="has no attribute '_get_user_attributes'"):
                call(reference_model.adata.copy(), Path(path))
        query = reference_model.adata.copy()  # the fix: the model object itself
        assert cls.load_query_data(query, reference_model, accelerator="cpu").adata is query
    trained = scvi.model.SCVI.load(path, adata=reference, accelerator="cpu")
    query = _query()
    query.var_names = list(query.var_names[::-1])
    scvi.model.SCVI.prepare_query_anndata(query, trained)  # or the model object itself
    assert list(query.var_names) == list(trained.adata.var_names)
    assert scvi.model.SCVI.load_query_data(query, trained).adata is query


def test_a_new_batch_needs_query_mapping(tmp_path):
    reference, path = _reference(tmp_path)
    model = scvi.model.SCVI.load(path, adata=reference, accelerator="cpu")
    new = _query()  # batch "query", not a training batch
    with pytest.raises(ValueError, match="Category query not found in source registry"):
        model.get_latent_representation(new)
    known = _query()
    known.obs["batch"] = "batch_0"  # a training batch: embedded as that batch
    assert model.get_latent_representation(known).shape == (known.n_obs, 4)
    query = scvi.model.SCVI.load_query_data(_query(), path, accelerator="cpu")  # the fix
    assert "query" in set(query.adata_manager.get_state_registry("batch")["categorical_mapping"])
    query.train(**FAST, plan_kwargs={"weight_decay": 0.0})
    assert query.get_latent_representation().shape == (query.adata.n_obs, 4)
    for name, trained in _query_references().items():  # each model it names
        with pytest.raises(ValueError, match="Category query not found in source registry"):
            trained.get_latent_representation(_copy_with(trained.adata, "batch", "query"))
        known = _copy_with(trained.adata, "batch", "batch_0")
        assert len(trained.get_latent_representation(known)) == trained.adata.n_obs, name
        query = type(trained).load_query_data(_copy_with(trained.adata, "batch", "query"), trained,
                                              accelerator="cpu")  # the fix
        mapping = query.adata_manager.get_state_registry("batch")["categorical_mapping"]
        assert "query" in set(mapping), name


def test_totalvi_masks_all_zero_proteins_and_fails_on_nan():
    """torch's argument checks are set to their default (on), as in
    test_nan_in_counts_passes_setup_and_fails_in_the_encoder: an earlier example test's
    torch.compile turns them off in the process."""
    with _torch_argument_checks():
        _totalvi_missing_proteins_case()


def _totalvi_missing_proteins_case():
    for cls in (scvi.model.TOTALVI, scvi.external.TOTALANVI):
        zero = _adata()
        proteins = zero.obsm["protein_expression"].astype(float)
        proteins[zero.obs["batch"].to_numpy() == "batch_1", 0] = 0  # not measured in batch_1
        zero.obsm["protein_expression"] = proteins
        setup = {"batch_key": "batch", "protein_expression_obsm_key": "protein_expression"}
        if cls is scvi.external.TOTALANVI:
            setup.update(labels_key="labels", unlabeled_category="unknown")
        cls.setup_anndata(zero, **setup)
        model = cls(zero, n_latent=4)
        assert not model.module.protein_batch_mask["1"][0]  # masked in batch_1 only
        assert model.module.protein_batch_mask["0"][0]
        model.train(**FAST)  # the fix trains
        unbatched = zero.copy()
        cls.setup_anndata(unbatched, **dict(setup, batch_key=None))
        assert cls(unbatched, n_latent=4).module.protein_batch_mask is None  # no batch: no mask
        nan = _adata()
        proteins = nan.obsm["protein_expression"].astype(float)
        proteins[nan.obs["batch"].to_numpy() == "batch_1", 0] = np.nan
        nan.obsm["protein_expression"] = proteins
        cls.setup_anndata(nan, **setup)  # setup accepts the NaN
        with pytest.raises(ValueError, match="Expected parameter loc"):
            cls(nan, n_latent=4).train(**FAST)


def test_the_seed_must_come_before_the_model():
    from scvi.model.base import RNASeqMixin  # noqa: F401 (the models below build torch modules)

    data = _adata(n_proteins=4)

    def weights(cls, seed_first: bool, **setup):
        adata = data.copy()
        if seed_first:
            scvi.settings.seed = 0
        cls.setup_anndata(adata, batch_key="batch", **setup)
        return [p.detach().clone() for p in cls(adata, n_latent=4).module.parameters()]

    for cls, setup in ((scvi.model.SCVI, {}), (scvi.model.PEAKVI, {}),
                       (scvi.model.SCANVI, {"labels_key": "labels", "unlabeled_category": "u"}),
                       (scvi.model.TOTALVI, {"protein_expression_obsm_key": "protein_expression"})):
        first, again = weights(cls, True, **setup), weights(cls, True, **setup)
        assert all(torch_equal(a, b) for a, b in zip(first, again, strict=True)), cls
        other = weights(cls, False, **setup)  # built without assigning the seed again
        assert not all(torch_equal(a, b) for a, b in zip(first, other, strict=True)), cls

    def latent(seed_before_model: bool):
        adata = data.copy()
        if seed_before_model:
            scvi.settings.seed = 0
        scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
        model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
        if not seed_before_model:
            scvi.settings.seed = 0  # after the model: its weights are drawn already
        model.train(**FAST)
        return model.get_latent_representation()

    assert np.allclose(latent(True), latent(True))
    assert not np.allclose(latent(False), latent(False))
    draws = []
    for _ in range(2):  # the fix: random subsampling after the seed repeats too (numpy)
        scvi.settings.seed = 0
        draws.append(np.random.choice(data.n_obs, size=10, replace=False))
    assert np.array_equal(*draws)


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def test_normalized_expression_sums_to_one_per_cell():
    from scvi.model.base import RNASeqMixin

    models = [_scvi(batch_key="batch"), _scanvi(), _scviva()]
    models += [_model(name) for name in ("LinearSCVI", "AUTOZI", "DRVI")]
    models += [_model(name, labels_key="labels") for name in ("JointEmbeddingSCVI", "CondSCVI")]
    models.append(_poissonvi(batch_key="batch"))
    for model in models:  # the models the pitfall names, which share this method
        name = type(model).__name__
        assert type(model).get_normalized_expression is RNASeqMixin.get_normalized_expression
        model.train(**FAST)
        default = model.get_normalized_expression()
        assert np.allclose(default.sum(axis=1), 1.0, atol=1e-4), name
        assert default.to_numpy().max() < 1, name
        per_10k = model.get_normalized_expression(library_size=1e4)  # the fix
        assert np.allclose(per_10k.sum(axis=1), 1e4, rtol=1e-4), name
        latent = model.get_normalized_expression(library_size="latent")
        assert latent.sum(axis=1).std() > 0, name  # each cell's own library size
        if name == "CondSCVI":  # its module's sample() takes no generative_kwargs
            with pytest.raises(TypeError, match="generative_kwargs"):
                model.posterior_predictive_sample()
            continue
        counts = model.posterior_predictive_sample()
        values = counts.todense() if hasattr(counts, "todense") else np.asarray(counts)
        assert np.array_equal(np.asarray(values), np.round(np.asarray(values))), name


def test_the_default_max_epochs_shrinks_with_the_data(monkeypatch, caplog):
    from scvi.model import _totalvi as totalvi_module
    from scvi.model._utils import get_max_epochs_heuristic
    from scvi.model.base import _training_mixin

    assert [get_max_epochs_heuristic(n) for n in (80, 20_000, 100_000, 1_000_000)] == \
        [400, 400, 80, 8]
    assert scvi.model.get_max_epochs_heuristic is get_max_epochs_heuristic  # public, as the fix
    with pytest.warns(UserWarning, match="maximum epochs has been set to 1"):
        assert get_max_epochs_heuristic(10_000_000) == 1
    asked = []

    def shrunk(n_obs, *args, **kwargs):  # what the default would give for 300,000 cells
        asked.append(n_obs)
        return get_max_epochs_heuristic(300_000)  # 27

    for module in (_training_mixin, totalvi_module):
        monkeypatch.setattr(module, "get_max_epochs_heuristic", shrunk)
    said = "Training for"
    scvi_model = _scvi(batch_key="batch")
    with caplog.at_level(logging.INFO, logger="scvi"):
        scvi_model.train(**DEFAULT_EPOCHS, limit_train_batches=1, limit_val_batches=0)
    assert scvi_model.trainer.max_epochs == 27 and asked[-1] == scvi_model.adata.n_obs
    assert said not in caplog.text  # SCVI's train() does not log the epochs it chose
    totalvi = _totalvi()
    with caplog.at_level(logging.INFO, logger="scvi"):
        totalvi.train(**DEFAULT_EPOCHS, early_stopping=False, limit_train_batches=1,
                      limit_val_batches=0)
    assert totalvi.trainer.max_epochs == 27 and said not in caplog.text
    scanvi = scvi.model.SCANVI.from_scvi_model(scvi_model, unlabeled_category="unknown",
                                               labels_key="labels")
    with caplog.at_level(logging.INFO, logger="scvi"):
        scanvi.train(**DEFAULT_EPOCHS, limit_train_batches=1, limit_val_batches=0)
    assert scanvi.trainer.max_epochs == 9  # round(27 / 3), kept between 2 and 10
    assert "Training for 9 epochs." in caplog.text  # SCANVI's train() logs it


def test_an_unlabeled_category_no_cell_holds_makes_every_cell_labeled():
    """setup with an unlabeled_category that no cell of labels_key holds (the column writes
    "unknown", the call passes "Unknown") warns nothing: the value is appended as an empty
    last category, no cell is unlabeled, and the column's own placeholder is a cell type the
    classifier learns and predict() returns. Passed as the column writes it, those cells are
    the unlabeled ones. RESOLVI (semisupervised=True) the same."""
    adata = _adata(n_proteins=0)
    adata.obs["labels"] = adata.obs["labels"].astype(str).to_numpy()
    adata.obs.loc[adata.obs_names[:30], "labels"] = "unknown"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.model.SCANVI.setup_anndata(adata, labels_key="labels", unlabeled_category="Unknown",
                                        batch_key="batch")
        model = scvi.model.SCANVI(adata, n_hidden=16, n_latent=4)
    assert not [w for w in caught if "nlabeled" in str(w.message)]
    mapping = list(model.adata_manager.get_state_registry("labels")["categorical_mapping"])
    assert mapping == ["label_0", "label_1", "unknown", "Unknown"]
    assert len(model._unlabeled_indices) == 0 and len(model._labeled_indices) == adata.n_obs
    assert model.module.n_labels == 3  # "unknown" is a class
    model.train(**FAST)
    assert "unknown" in set(model.predict(soft=True).columns)
    # from_scvi_model sets it up the same way
    adata_scvi = adata.copy()
    scvi.model.SCVI.setup_anndata(adata_scvi, batch_key="batch")
    reference = scvi.model.SCVI(adata_scvi, n_hidden=16, n_latent=4)
    reference.train(**FAST)
    from_scvi = scvi.model.SCANVI.from_scvi_model(reference, unlabeled_category="Unknown",
                                                  labels_key="labels")
    assert len(from_scvi._unlabeled_indices) == 0
    # the fix: pass the value the column holds
    fixed = adata.copy()
    scvi.model.SCANVI.setup_anndata(fixed, labels_key="labels", unlabeled_category="unknown",
                                    batch_key="batch")
    fixed_model = scvi.model.SCANVI(fixed, n_hidden=16, n_latent=4)
    assert len(fixed_model._unlabeled_indices) == 30 and fixed_model.module.n_labels == 2
    # the others the pitfall names: their fixtures pass "unknown", which no synthetic cell holds
    for model in (_totalanvi(), _methylanvi()):
        mapping = list(model.adata_manager.get_state_registry("labels")["categorical_mapping"])
        assert mapping[-1] == "unknown" and len(model._unlabeled_indices) == 0, type(model)
    # RESOLVI, semi-supervised: the same field, the same empty category, the placeholder a class
    spatial = _adata(n_genes=50, n_proteins=0, generate_coordinates=True)
    spatial.obsm["X_spatial"] = spatial.obsm["coordinates"]
    spatial.obs["labels"] = spatial.obs["labels"].astype(str).to_numpy()
    spatial.obs.loc[spatial.obs_names[:30], "labels"] = "unknown"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.external.RESOLVI.setup_anndata(spatial, labels_key="labels",
                                            unlabeled_category="Unknown", batch_key="batch")
        resolvi = scvi.external.RESOLVI(spatial, n_latent=4, semisupervised=True)
    assert not [w for w in caught if "nlabeled" in str(w.message)]
    mapping = list(resolvi.adata_manager.get_state_registry("labels")["categorical_mapping"])
    assert mapping == ["label_0", "label_1", "unknown", "Unknown"]
    assert len(resolvi._unlabeled_indices) == 0
    resolvi.train(**FAST)
    assert "unknown" in set(resolvi.predict(soft=True).columns)


def test_scvi_trains_the_same_with_or_without_labels_key():
    """SCVI and LinearSCVI: labels_key changes nothing the model learns (same seed, same data:
    the same ELBO history and latent) unless SCVI's dispersion="gene-label" (LinearSCVI's
    raises); SCANVI.from_scvi_model takes the labels the SCVI model registered."""

    def trained(cls, labels: bool, **model):
        scvi.settings.seed = 0
        adata = _adata(n_proteins=0, n_labels=3)
        cls.setup_anndata(adata, batch_key="batch", **({"labels_key": "labels"} if labels else {}))
        fitted = cls(adata, n_hidden=16, n_latent=4, **model)
        fitted.train(**dict(FAST, max_epochs=2))
        return fitted

    for cls in (scvi.model.SCVI, scvi.model.LinearSCVI):
        without, with_labels = trained(cls, False), trained(cls, True)
        if cls is scvi.model.SCVI:  # LinearSCVI's module does not take n_labels
            assert (without.module.n_labels, with_labels.module.n_labels) == (1, 3)
        np.testing.assert_array_equal(without.history["elbo_train"].to_numpy(),
                                      with_labels.history["elbo_train"].to_numpy())
        np.testing.assert_allclose(without.get_latent_representation(),
                                   with_labels.get_latent_representation())
        if cls is scvi.model.SCVI:
            scvi_without, scvi_with = without, with_labels
    gene_label = trained(scvi.model.SCVI, True, dispersion="gene-label")
    assert not np.allclose(gene_label.get_latent_representation(),
                           scvi_without.get_latent_representation())
    scanvi = scvi.model.SCANVI.from_scvi_model(scvi_with, unlabeled_category="label_0")
    assert len(scanvi._unlabeled_indices) > 0  # the labels_key the SCVI model registered
    # LinearSCVI passes no n_labels to its module: dispersion="gene-label" fails there.
    with pytest.raises(RuntimeError, match="num_classes"):
        trained(scvi.model.LinearSCVI, True, dispersion="gene-label")


def test_from_scvi_model_keeps_the_pretrained_architecture():
    """SCANVI.from_scvi_model drops, with only a UserWarning, every keyword the SCVI model's
    init_params_ hold: every SCVI.__init__ parameter (n_latent, n_layers, dropout_rate,
    gene_likelihood, ...) is among them, so the SCANVI model keeps the SCVI architecture;
    SCANVI's own keywords (linear_classifier) still apply. TOTALANVI.from_totalvi_model the
    same with TOTALVI's."""
    vae = _scvi(batch_key="batch", labels_key="labels")  # n_hidden=16, n_latent=4
    vae.train(**FAST)
    assert {"n_latent", "n_layers", "n_hidden", "dropout_rate", "gene_likelihood",
            "dispersion", "latent_distribution"} <= set(vae.init_params_["non_kwargs"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lvae = scvi.model.SCANVI.from_scvi_model(
            vae, "unknown", n_latent=8, n_layers=3, dropout_rate=0.5, linear_classifier=True)
    said = " ".join(str(w.message) for w in caught)
    for name in ("n_latent", "n_layers", "dropout_rate"):
        assert f"Ignoring param '{name}'" in said, (name, said)
    assert lvae.module.n_latent == 4 and lvae.init_params_["non_kwargs"]["n_latent"] == 4
    assert lvae.init_params_["non_kwargs"]["dropout_rate"] == 0.1  # SCVI's default, not 0.5
    assert {m.p for m in lvae.module.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    assert isinstance(lvae.module.classifier.classifier[0], torch.nn.Linear)  # its own keyword
    lvae.train(**FAST)  # and it trains as built

    totalvi = _totalvi()  # n_latent=4
    totalvi.train(**FAST)
    adata = totalvi.adata
    adata.obs["labels"] = adata.obs["labels"].astype(str)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tanvi = scvi.external.TOTALANVI.from_totalvi_model(
            totalvi, "unknown", labels_key="labels", n_latent=8)
    assert "Ignoring param 'n_latent'" in " ".join(str(w.message) for w in caught)
    assert tanvi.module.n_latent == 4

    # A module keyword the SCVI model was not given is not in its init params: it passes on
    # without a warning and changes the module (its new layers keep their initial weights:
    # the SCVI weights load with strict=False).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        normed = scvi.model.SCANVI.from_scvi_model(vae, "unknown", use_layer_norm="both")
    assert not any("Ignoring param" in str(w.message) for w in caught)
    assert any(isinstance(m, torch.nn.LayerNorm) for m in normed.module.modules())
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in vae.module.modules())


def test_solo_from_a_multi_batch_scvi_files_all_doublets_under_the_first_batch(monkeypatch):
    """SOLO.from_scvi_model without restrict_to_batch on an SCVI model of two batches: the
    doublets are drawn from the cells of every batch and all of them are encoded as the first
    batch. Only the "one lane" warning says anything; the warning written for this case
    ("Doublets will be simulated using the first batch") never fires (a bool compared with
    > 1), and it would misstate what happens."""
    model = _trained_scvi()
    first = model.adata_manager.get_state_registry("batch").categorical_mapping[0]
    drawn, encoded = [], []
    create = scvi.external.SOLO.create_doublets.__func__

    def recorded(cls, adata_manager, *args, indices=None, **kwargs):
        drawn.append(indices)
        return create(cls, adata_manager, *args, indices=indices, **kwargs)

    monkeypatch.setattr(scvi.external.SOLO, "create_doublets", classmethod(recorded))
    latent = type(model).get_latent_representation

    def seen(self, adata=None, *args, **kwargs):
        if adata is not None and "batch" in adata.obs:
            encoded.append(set(adata.obs["batch"]))
        return latent(self, adata, *args, **kwargs)

    monkeypatch.setattr(type(model), "get_latent_representation", seen)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scvi.external.SOLO.from_scvi_model(model)
    said = [str(w.message) for w in caught if "restrict_to_batch" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("Solo should only be trained on one lane")
    assert not [w for w in caught if "first batch" in str(w.message)]
    assert drawn == [None]  # every cell, of both batches
    assert set(model.adata.obs["batch"]) == {"batch_0", "batch_1"} and first == "batch_0"
    assert encoded[-1] == {first}  # the doublets, all as the first batch
    drawn.clear()
    encoded.clear()
    scvi.external.SOLO.from_scvi_model(model, restrict_to_batch="batch_1")  # the fix, per batch
    assert len(drawn[0]) == (model.adata.obs["batch"] == "batch_1").sum()
    assert encoded[-1] == {"batch_1"}


def test_condscvi_transform_batch_changes_nothing(monkeypatch):
    """CondSCVI's generative() embeds each cell's own batch before it reads transform_batch
    (_vaec.py:265-271) and its decoder takes only the label as a category, so every
    transform_batch gives the same expression, while SCVI's differs. The fix: decode a copy
    whose batch column is the wanted batch."""
    adata = _adata(n_labels=3)
    scvi.model.CondSCVI.setup_anndata(adata, labels_key="labels", batch_key="batch")
    model = scvi.model.CondSCVI(adata, n_hidden=16, n_latent=4)
    model.train(**FAST)
    assert model.module.n_batch == 2 and model.module.decoder.n_cat_list == [3]

    def expression(m, data=None, transform_batch=None):
        scvi.settings.seed = 0  # the same posterior draw for each call
        return np.asarray(m.get_normalized_expression(data, transform_batch=transform_batch,
                                                      n_samples=1))

    own = expression(model)
    for batch in ("batch_0", "batch_1"):
        np.testing.assert_array_equal(expression(model, transform_batch=batch), own)
    # differential_expression(batch_correction=True) reaches the decoder through
    # transform_batch alone: one call per batch, each of which changes nothing.
    seen = []
    normalized = type(model).get_normalized_expression

    def recorded(self, *args, transform_batch=None, **kwargs):
        seen.append(transform_batch)
        return normalized(self, *args, transform_batch=transform_batch, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(type(model), "get_normalized_expression", recorded)
        model.differential_expression(groupby="labels", group1="label_0", batch_correction=True)
    assert set(seen) == {"batch_0", "batch_1"}
    reference = adata.copy()
    scvi.model.SCVI.setup_anndata(reference, batch_key="batch")
    vae = scvi.model.SCVI(reference, n_hidden=16, n_latent=4)
    vae.train(**FAST)
    assert not np.allclose(expression(vae, transform_batch="batch_0"),
                           expression(vae, transform_batch="batch_1"))
    # The fix: every cell decoded as batch_1 through a copy whose batch column says so.
    as_one = adata.copy()
    as_one.obs["batch"] = pd.Categorical(["batch_1"] * as_one.n_obs,
                                         categories=adata.obs["batch"].cat.categories)
    moved = expression(model, as_one)
    in_one = (adata.obs["batch"] == "batch_1").to_numpy()
    np.testing.assert_allclose(moved[in_one], own[in_one], rtol=1e-5, atol=1e-7)
    assert not np.allclose(moved[~in_one], own[~in_one])


def _curves(model, *keys: str) -> tuple[np.ndarray, ...]:
    """Per epoch, each history key's values as one float array."""
    return tuple(model.history[k].to_numpy(dtype=float).ravel() for k in keys)


def _loss_parts(model) -> tuple[np.ndarray, ...]:
    """Per epoch: train_loss, reconstruction_loss_train, kl_local_train, elbo_train."""
    return _curves(model, "train_loss", "reconstruction_loss_train", "kl_local_train",
                   "elbo_train")


def test_kl_warmup_weighs_train_loss_and_outlasts_the_default_epochs(monkeypatch):
    """SCVI, LinearSCVI and SCANVI train with kl_weight = epoch / 400: SCVI's train_loss is
    the reconstruction loss plus that weight times the latent's KL, elbo_train and
    elbo_validation the whole KL; a default run on more than 20,000 cells (max_epochs under
    400) ends with the weight below 1 and warns nothing. The fix,
    plan_kwargs={"n_epochs_kl_warmup": k}, reaches weight 1 at epoch k."""
    from scvi.model._utils import get_max_epochs_heuristic
    from scvi.model.base import _training_mixin
    from scvi.train._trainingplans import _compute_kl_weight

    one_batch = {**FAST, "max_epochs": 3, "batch_size": 128}  # one minibatch per epoch
    vae = _scvi(batch_key="batch")
    vae.train(**one_batch, check_val_every_n_epoch=1)
    plan = vae.trainer.lightning_module
    assert (plan.n_epochs_kl_warmup, plan.n_steps_kl_warmup) == (400, None)
    assert (plan.min_kl_weight, plan.max_kl_weight) == (0.0, 1.0)
    loss, rec, kl, elbo = _loss_parts(vae)
    assert loss[0] == pytest.approx(rec[0], rel=1e-6)  # weight 0 at epoch 0: no KL at all
    np.testing.assert_allclose(elbo, rec + kl, rtol=1e-5)  # the ELBO counts the whole KL
    assert (kl > 0.01).all() and (elbo - loss > 0.9 * kl).all()
    elbo_val, rec_val, kl_val = _curves(vae, "elbo_validation", "reconstruction_loss_validation",
                                        "kl_local_validation")  # on the validation cells too
    assert len(elbo_val) == 3
    np.testing.assert_allclose(elbo_val, rec_val + kl_val, rtol=1e-5)
    # The schedule the plan computes: epoch / 400; the last epoch of a default run on
    # 100,000 cells (80 epochs) has weight 0.1975.
    assert get_max_epochs_heuristic(100_000) == 80
    assert [_compute_kl_weight(e, 0, 400, None, 1.0, 0.0) for e in (0, 79, 399, 400)] == \
        pytest.approx([0.0, 0.1975, 0.9975, 1.0])
    # A default run where the data make max_epochs 5 (as 1.6 million cells would): the plan
    # keeps its 400-epoch warmup and nothing warns about the weight.
    monkeypatch.setattr(_training_mixin, "get_max_epochs_heuristic", lambda n_obs, **k: 5)
    for model in (_scvi(batch_key="batch"), _scanvi(), _model("LinearSCVI")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.train(**DEFAULT_EPOCHS, batch_size=128)
        plan = model.trainer.lightning_module
        assert model.trainer.max_epochs == 5 and plan.n_epochs_kl_warmup == 400
        assert "kl_weight" in plan.loss_kwargs  # the module's loss takes the weight
        assert _compute_kl_weight(4, 0, plan.n_epochs_kl_warmup, None, 1.0, 0.0) == 0.01
        assert not [w for w in caught if "kl" in str(w.message).lower()]
        if type(model) is scvi.model.SCVI:  # SCANVI's adds the classifier's loss, and
            # LinearSCVI's learned library size has a KL of its own that is never warmed up
            loss, rec, kl, _ = _loss_parts(model)
            weights = (loss - rec) / kl
            assert weights[0] == pytest.approx(0.0, abs=1e-3) and (weights < 0.02).all()
    # The fix: a warmup of 4 epochs reaches the full ELBO at epoch 4; weights 0, 1/4, ... 1.
    fixed = _scvi(batch_key="batch")
    fixed.train(**{**one_batch, "max_epochs": 6}, plan_kwargs={"n_epochs_kl_warmup": 4})
    loss, rec, kl, elbo = _loss_parts(fixed)
    np.testing.assert_allclose((loss - rec) / kl, [0, 0.25, 0.5, 0.75, 1, 1], atol=0.01)
    np.testing.assert_allclose(loss[4:], elbo[4:], rtol=1e-5)


def test_prepare_query_anndata_pads_in_place_and_returns_none(tmp_path):
    """prepare_query_anndata pads and sorts the query in place (inplace=True, the default)
    and returns None, though its docstring's Returns says the query; load_query_data given
    that None raises "Please provide either an AnnData or a registry dictionary". The fix:
    go on with the same object, or pass inplace=False for a padded copy."""
    _query_models_use_archesmixin_s_own_query_methods()
    reference, path = _reference(tmp_path)
    query = _query()[:, 2:].copy()  # 18 of the 20 reference genes
    returned = scvi.model.SCVI.prepare_query_anndata(query, path)
    assert returned is None
    assert list(query.var_names) == list(reference.var_names)  # the object itself was padded
    doc = scvi.model.SCVI.prepare_query_anndata.__doc__
    assert "Query adata ready to use in `load_query_data`" in doc
    with pytest.raises(ValueError, match="Please provide either an AnnData or a registry "
                                         "dictionary"):
        scvi.model.SCVI.load_query_data(returned, path)
    model = scvi.model.SCVI.load_query_data(query, path)  # the fix: the same object
    assert model.adata.n_vars == reference.n_vars
    untouched = _query()[:, 2:].copy()
    padded = scvi.model.SCVI.prepare_query_anndata(untouched, path, inplace=False)
    assert padded.n_vars == reference.n_vars and untouched.n_vars == reference.n_vars - 2
    for name, reference_model in _anndata_query_references().items():  # each model it names
        cls = type(reference_model)
        query = reference_model.adata[:, 1:].copy()
        assert cls.prepare_query_anndata(query, reference_model) is None, name
        assert list(query.var_names) == list(reference_model.adata.var_names), name
        with pytest.raises(ValueError, match="Please provide either an AnnData"):
            cls.load_query_data(None, reference_model)


def test_reconstruction_error_is_a_loss_beside_log_scale_elbo_and_marginal_ll():
    """get_reconstruction_error() returns the reconstruction loss, the negative
    log-likelihood: positive, lower is better, though its docstring says "This is not the
    negative reconstruction error, so higher is better". get_elbo() negates its loss
    (-(reconstruction + KL)) and get_marginal_ll() is the log-likelihood: both negative,
    higher is better. So per cell get_elbo = -(get_reconstruction_error + KL).
    AmortizedLDA's own get_elbo returns Pyro's Trace_ELBO loss: positive, lower is better,
    beside the words "this is not the negative ELBO, higher is better"."""
    from scvi.model.base import VAEMixin

    assert "This is not the negative reconstruction error, so higher is better." in \
        VAEMixin.get_reconstruction_error.__doc__
    for model in (_scvi(batch_key="batch"), _scanvi(), _model("LinearSCVI"), _totalvi(),
                  _peakvi()):
        name = type(model).__name__
        model.train(**FAST)
        errors = {k: float(v) for k, v in model.get_reconstruction_error().items()}
        assert errors and all(v > 0 for v in errors.values()), (name, errors)
        assert float(model.get_elbo()) < 0, name
        if name != "PEAKVI":  # PEAKVAE has no marginal_ll
            assert model.get_marginal_ll(n_mc_samples=5) < 0, name
        # Per cell and on the same draws: get_elbo = -(reconstruction error + KL).
        torch.manual_seed(0)
        cells = model.get_elbo(return_mean=False)
        torch.manual_seed(0)
        rec = sum(model.get_reconstruction_error(return_mean=False).values())
        kl = -cells - rec
        assert (kl >= -1e-4).all() and float(kl.mean()) > 0, name
    # Training lowers the error and raises the ELBO: the error is lower-is-better.
    model = _trained_scvi()
    early = (model.get_reconstruction_error()["reconstruction_loss"], model.get_elbo())
    model.train(**{**FAST, "max_epochs": 30})
    assert model.get_reconstruction_error()["reconstruction_loss"] < early[0]
    assert model.get_elbo() > early[1]
    lda = _adata()
    scvi.model.AmortizedLDA.setup_anndata(lda)
    lda_model = scvi.model.AmortizedLDA(lda, n_topics=3)
    lda_model.train(**FAST)
    assert "this is not the negative ELBO, higher is better" in \
        scvi.model.AmortizedLDA.get_elbo.__doc__
    assert lda_model.get_elbo() > 0


def test_differential_expression_is_sampled_and_repeats_under_a_seed():
    """differential_expression estimates from random posterior samples (n_samples_overall,
    5000 by default) and random cell pairs: two calls on the same trained model differ;
    scvi.settings.seed assigned just before each call repeats it exactly; a larger
    n_samples_overall shrinks the spread between calls."""
    group = {"groupby": "labels", "group1": "label_0"}

    def spread(model, **kwargs) -> float:
        first = model.differential_expression(**group, **kwargs)
        again = model.differential_expression(**group, **kwargs)
        return float((first.bayes_factor - again.bayes_factor.loc[first.index]).abs().max())

    for model in (_scvi(batch_key="batch"), _scanvi(), _model("LinearSCVI"), _totalvi()):
        name = type(model).__name__
        model.train(**FAST)
        assert spread(model) > 0, name
        runs = []
        for _ in range(2):
            scvi.settings.seed = 0
            runs.append(model.differential_expression(**group))
        pd.testing.assert_frame_equal(runs[0], runs[1].loc[runs[0].index], obj=name)
    model = _trained_scvi()
    first, again = (model.differential_expression(**group, mode="change") for _ in range(2))
    for column in ("proba_de", "lfc_mean"):  # the change mode's estimates differ too
        assert (first[column] - again[column].loc[first.index]).abs().max() > 0, column
    few = max(spread(model, n_samples_overall=200) for _ in range(2))
    many = max(spread(model, n_samples_overall=50_000) for _ in range(2))
    assert many < few / 3, (few, many)
    assert inspect.signature(scvi.model.base.DifferentialComputation.get_bayes_factors
                             ).parameters["n_samples_overall"].default == 5000


def test_scanvi_predict_classifies_the_labeled_cells_too():
    """SCANVI's (and TOTALANVI's) predict() runs the classifier on every cell, the labeled
    ones too, and never hands back a cell's given label: after a short training some labeled
    cells come back with another label. The fix keeps the given labels where known."""
    for name, setup in (("SCANVI", {}), ("TOTALANVI",
                        {"protein_expression_obsm_key": "protein_expression"})):
        adata = _adata()
        labels = adata.obs["labels"].astype(str).to_numpy().copy()
        labels[::4] = "unknown"  # a quarter of the cells unlabeled
        adata.obs["labels"] = pd.Categorical(labels)
        model = _model(name, adata, batch_key="batch", labels_key="labels",
                       unlabeled_category="unknown", **setup)
        labeled = labels != "unknown"
        model.train(**FAST)
        predicted = np.asarray(model.predict())
        assert len(predicted) == adata.n_obs and "unknown" not in set(predicted), name
        assert (predicted[labeled] != labels[labeled]).any(), name
        # The fix: predict only the unlabeled cells (the posterior mean, so the same labels
        # as the whole call gave them) and keep the given labels elsewhere.
        unlabeled = np.flatnonzero(~labeled)
        only = np.asarray(model.predict(indices=unlabeled))
        assert list(only) == list(predicted[unlabeled]), name


def test_destvi_from_rna_model_sets_the_spatial_data_up_with_the_reference_s_layer():
    """DestVI.from_rna_model sets st_adata up with the CondSCVI's own setup arguments (its
    layer and batch_key) plus anndata_setup_kwargs: naming layer there raises a TypeError for
    a keyword given twice, and the spatial counts are read from the reference's layer, which
    the spatial AnnData must hold under the same name. smoothed_layer may be passed."""
    sc, sc_model = _condscvi_reference("counts", prior="mog", num_classes_mog=10)
    for key in ("layer", "batch_key"):
        with pytest.raises(TypeError, match=f"multiple values for keyword argument '{key}'"):
            scvi.model.DestVI.from_rna_model(sc.copy(), sc_model,
                                             anndata_setup_kwargs={key: "counts"})
    model = scvi.model.DestVI.from_rna_model(sc.copy(), sc_model)
    assert model.registry_["setup_args"]["layer"] == "counts"
    bare = sc.copy()
    del bare.layers["counts"]
    with pytest.raises(ValueError, match="counts is not a valid key in adata.layers"):
        scvi.model.DestVI.from_rna_model(bare, sc_model)
    # The fix: the spatial counts under the reference's layer name, no layer in the kwargs.
    bare.layers["counts"] = bare.X.copy()
    model = scvi.model.DestVI.from_rna_model(bare, sc_model,
                                             anndata_setup_kwargs={"smoothed_layer": None})
    model.train(**FAST)
    assert model.registry_["setup_args"]["layer"] == "counts"


def test_sysvi_ignores_transform_batch():
    """SysVI's module takes transform_batch in generative() (so RNASeqMixin's check that the
    module supports it passes) and never reads it: get_normalized_expression decodes every
    cell with its own batch, the same values for every transform_batch as for None, with no
    warning. SCVI, on the same data and seed, gives different values per batch."""
    adata = _adata(n_proteins=0)
    adata.X = np.log1p(adata.X)  # SysVI models normalized, log1p data
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch")
    model = scvi.external.SysVI(adata, n_hidden=16, n_latent=4)
    model.train(max_epochs=2, **DEFAULT_EPOCHS)
    assert "transform_batch" in inspect.signature(model.module.generative).parameters

    def decoded(trained, batch):
        scvi.settings.seed = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = np.asarray(trained.get_normalized_expression(transform_batch=batch))
        assert not [w for w in caught if "transform_batch" in str(w.message)]
        return values

    own = decoded(model, None)
    for batch in ("batch_0", "batch_1"):
        np.testing.assert_array_equal(decoded(model, batch), own)
    reference = _scvi(batch_key="batch")
    reference.train(max_epochs=2, **DEFAULT_EPOCHS)
    assert not np.allclose(decoded(reference, "batch_0"), decoded(reference, "batch_1"))


def test_sysvi_sampling_methods_of_rnaseqmixin_fail():
    """SysVAE.inference takes n_samples and never reads it, so SysVI's
    get_normalized_expression(n_samples > 1) gets no sample axis: RNASeqMixin averages over
    the cells instead (one value per gene with return_numpy=True on one minibatch) and the
    DataFrame (the default) or several minibatches raise ValueError. Its decoder is a Normal,
    so get_likelihood_parameters and get_feature_correlation_matrix raise AttributeError
    reading NB's theta. n_samples=1 (the default) works; repeated calls average draws."""
    adata = _adata(n_cells_per_batch=100, n_proteins=0)
    adata.X = np.log1p(adata.X)
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch")
    model = scvi.external.SysVI(adata, n_hidden=16, n_latent=4)
    model.train(max_epochs=1, **DEFAULT_EPOCHS)
    assert "n_samples" in inspect.signature(model.module.inference).parameters
    with pytest.raises(ValueError, match="input array dimensions"):  # 200 cells, 2 minibatches
        model.get_normalized_expression(n_samples=5)
    with pytest.raises(ValueError, match="Shape of passed values"):  # one minibatch
        model.get_normalized_expression(n_samples=5, batch_size=400)
    collapsed = model.get_normalized_expression(n_samples=5, batch_size=400, return_numpy=True)
    assert collapsed.shape == (adata.n_vars,)  # averaged over the cells, not over samples
    for method, kwargs in (("get_likelihood_parameters", {"n_samples": 3}),
                           ("get_feature_correlation_matrix", {})):
        with pytest.raises(AttributeError, match="theta"):
            getattr(model, method)(**kwargs)
    # The fix: one draw per call (the default), averaged over calls.
    draws = [np.asarray(model.get_normalized_expression()) for _ in range(3)]
    assert all(d.shape == (adata.n_obs, adata.n_vars) for d in draws)
    assert np.mean(draws, axis=0).shape == (adata.n_obs, adata.n_vars)


def test_progress_bar_style_does_not_reach_the_training_bar(capsys):
    """scvi.settings.progress_bar_style = "rich" styles scvi.utils.track's loops, not the
    training bar: the Trainer's simple ProgressBar (the default) builds it with style "tqdm".
    A rich training bar takes Lightning's RichProgressBar with simple_progress_bar=False."""
    from lightning.pytorch.callbacks import RichProgressBar
    from tqdm.auto import tqdm

    before = scvi.settings.progress_bar_style
    scvi.settings.progress_bar_style = "rich"
    try:
        assert not isinstance(scvi.utils.track([1, 2]), tqdm)  # the setting's own reach
        model = _scvi()
        model.train(max_epochs=1, accelerator="cpu")
        bar = model.trainer.progress_bar_callback
        assert type(bar).__module__ == "scvi.train._progress"
        assert isinstance(bar.main_progress_bar, tqdm)
        model = _scvi()
        model.train(max_epochs=1, accelerator="cpu", simple_progress_bar=False,
                    callbacks=[RichProgressBar()])
        assert isinstance(model.trainer.progress_bar_callback, RichProgressBar)
        model = _scvi()
        model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
        assert model.trainer.progress_bar_callback is None
    finally:
        scvi.settings.progress_bar_style = before
    capsys.readouterr()


def test_resolvi_squares_the_neighbor_graph_with_a_matrix_power():
    """RESOLVI.setup_anndata (prepare_data=True, the default) squares scanpy's spatial distance
    graph with ``** 2``; scanpy's ``obsp["distances"]`` is a scipy ``csr_matrix``, for which
    ``**`` is the matrix power: ``distance_neighbor`` holds the k smallest entries of D @ D
    (sums over two-hop paths), not squared distances, and ``index_neighbor`` follows them,
    other cells than the nearest for most. Neighbours computed beforehand with
    ``prepare_data=False`` are what the model reads."""
    sc = pytest.importorskip("scanpy")
    from scipy import sparse
    from sklearn.neighbors import NearestNeighbors
    from sklearn.neighbors._base import _kneighbors_from_graph

    # 100 genes: RESOLVI's background prior averages the n_genes // 50 lowest genes
    adata = _adata(n_cells_per_batch=40, n_batches=1, n_proteins=0, n_genes=100)
    adata.X = adata.X + 1  # every cell with counts (RESOLVI asserts it)
    coords = np.random.default_rng(0).uniform(0, 100, size=(adata.n_obs, 2))
    adata.obsm["X_spatial"] = coords
    fresh = adata.copy()
    scvi.external.RESOLVI.setup_anndata(adata)
    got, got_index = adata.obsm["distance_neighbor"], adata.obsm["index_neighbor"]

    graph = adata.copy()
    sc.pp.neighbors(graph, n_neighbors=15, use_rep="X_spatial")  # RESOLVI's n_neighbors + 5
    distances = graph.obsp["distances"]
    assert isinstance(distances, sparse.spmatrix) and not isinstance(distances, sparse.sparray)
    power, _ = _kneighbors_from_graph(distances @ distances, 10, return_distance=True)
    np.testing.assert_allclose(got, power)
    nearest = NearestNeighbors(n_neighbors=11).fit(coords)
    true_distance, true_index = nearest.kneighbors(coords)
    squared, index = true_distance[:, 1:] ** 2, true_index[:, 1:]
    assert not np.allclose(got, squared)
    differ = [set(a) != set(b) for a, b in zip(got_index.tolist(), index.tolist(), strict=True)]
    assert sum(differ) > adata.n_obs // 2  # most cells get other neighbours than their nearest

    fresh.obsm["index_neighbor"], fresh.obsm["distance_neighbor"] = index, squared
    scvi.external.RESOLVI.setup_anndata(fresh, prepare_data=False)
    model = scvi.external.RESOLVI(fresh)
    model.train(max_epochs=1, **DEFAULT_EPOCHS)
    np.testing.assert_allclose(model.adata_manager.get_from_registry("distance_neighbor"),
                               squared)


@pytest.mark.parametrize("name", ["SCVI", "SCANVI"])
def test_continuous_covariates_enter_the_decoder_as_given(name):
    """continuous_covariate_keys are registered as the obs values themselves (one column each:
    no one-hot, no centring or scaling) and concatenated to z as the decoder's input; with
    encode_covariates=True also to the encoder's. A covariate in the thousands enters at that
    size; scaled beforehand, it enters scaled."""
    adata = _adata()
    raw = 1000.0 + np.arange(adata.n_obs, dtype=np.float32)
    adata.obs["total"] = raw
    adata.obs["scaled"] = (raw - raw.mean()) / raw.std()
    cls = getattr(scvi.model, name)
    setup = {"labels_key": "labels", "unlabeled_category": "unknown"} if name == "SCANVI" else {}
    cls.setup_anndata(adata, batch_key="batch", continuous_covariate_keys=["total", "scaled"],
                      **setup)
    model = cls(adata, n_hidden=16, n_latent=4, encode_covariates=True)
    model.train(**FAST)
    registered = np.asarray(model.adata_manager.get_from_registry("extra_continuous_covs"))
    assert registered.shape == (adata.n_obs, 2)
    np.testing.assert_array_equal(registered[:, 0], raw)
    np.testing.assert_allclose(registered[:, 1], adata.obs["scaled"].to_numpy(), rtol=1e-6)
    seen = {}

    def keep(name, at):
        def hook(module, args, out):
            seen.setdefault(name, args[at])  # returns None: the output stays the module's
        return hook

    model.module.decoder.register_forward_hook(keep("decoder", 1))
    model.module.z_encoder.register_forward_hook(keep("encoder", 0))
    model.get_latent_representation()
    model.get_normalized_expression()
    n_latent, n_genes = 4, adata.n_vars
    assert seen["decoder"].shape[-1] == n_latent + 2
    assert seen["encoder"].shape[-1] == n_genes + 2
    for given in (seen["decoder"], seen["encoder"]):
        total = given[..., -2].detach().numpy().ravel()
        assert set(total.tolist()) <= set(raw.tolist()) and total.min() >= 1000.0


def test_max_epochs_none_is_lightnings_1000_in_gimvi_and_velovi():
    """GIMVI.train and VELOVI.train document max_epochs=None as the heuristic
    min(round(20000 / n_cells * 400), 400), but neither computes it: the None goes on to
    scvi's Trainer and Lightning, whose own default for it is 1000 epochs. SCVI's train
    (UnsupervisedTrainingMixin) does apply the heuristic: 400 epochs for 80 cells."""
    import lightning.pytorch as pl
    from scvi.external import GIMVI

    class Stop(pl.Callback):
        """Records the epoch limit the fit runs under, then ends it after one batch."""

        def __init__(self):
            self.max_epochs = "unset"

        def on_train_start(self, trainer, pl_module):
            self.max_epochs = trainer.max_epochs

        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = True

    pair = []
    for _ in range(2):
        adata = _adata()
        GIMVI.setup_anndata(adata, batch_key="batch", labels_key="labels")
        pair.append(adata)
    heuristic = int(min(round(20000 / pair[0].n_obs * 400), 400))
    models = {"GIMVI": GIMVI(*pair, n_latent=4), "VELOVI": _velovi()}
    for name, model in models.items():
        stop = Stop()
        model.train(max_epochs=None, callbacks=[stop], **DEFAULT_EPOCHS)
        assert stop.max_epochs == 1000 != heuristic, name
    stop = Stop()
    _scvi().train(max_epochs=None, callbacks=[stop], **DEFAULT_EPOCHS)
    assert stop.max_epochs == heuristic == 400


MUDATA_SETUPS = {
    "MULTIVI": ({"n_proteins": 0, "n_regions": 20},
                {"rna_layer": "rna", "atac_layer": "accessibility"}),
    "TOTALVI": ({"n_proteins": 5}, {"rna_layer": "rna", "protein_layer": "protein_expression"}),
}


@pytest.mark.parametrize("name, setup", [
    ("SCVI", {}),
    ("SCANVI", {"labels_key": "labels", "unlabeled_category": "unknown"}),
    ("TOTALVI", {"protein_expression_obsm_key": "protein_expression"}),
    ("PEAKVI", {}),
    ("MULTIVI", "setup_mudata"),
    ("TOTALVI", "setup_mudata"),
])
def test_covariate_keys_given_as_a_string_fail_at_setup(name, setup):
    """categorical_covariate_keys and continuous_covariate_keys take a list of obs columns.
    A bare string passes the field's check that the column exists, then `obs["donor"]` is a
    Series, which anndata refuses as obsm["_scvi_extra_categorical_covs"] (ValueError,
    "needs to be of one of ..."); the same column in a list registers one covariate. The
    same through setup_mudata, whose MuData joint fields wrap the AnnData ones."""
    cls = _model_class(name)
    if setup == "setup_mudata":
        data, modalities = MUDATA_SETUPS[name]
        adata = synthetic_iid(batch_size=40, n_genes=20, n_batches=2, n_labels=2,
                              return_mudata=True, **data)

        def run(target, **covariates):
            cls.setup_mudata(target, batch_key="batch", modalities=modalities, **covariates)
    else:
        adata = _adata()

        def run(target, **covariates):
            cls.setup_anndata(target, **setup, **covariates)
    adata.obs["donor"] = adata.obs["batch"].astype(str)
    adata.obs["age"] = np.linspace(20.0, 80.0, adata.n_obs)
    for key, column, field in (("categorical_covariate_keys", "donor", "categorical"),
                               ("continuous_covariate_keys", "age", "continuous")):
        with pytest.raises(ValueError, match=f"_scvi_extra_{field}_covs"):
            run(adata.copy(), **{key: column})
        listed = adata.copy()
        run(listed, **{key: [column]})
        assert listed.obsm[f"_scvi_extra_{field}_covs"].shape == (adata.n_obs, 1)


def test_amortizedlda_perplexity_is_inverted_since_1_3_2():
    """Since 1.3.2 (CHANGELOG: "Fix bug in perplexity calculation", PR 3373) get_perplexity
    returns exp(-get_elbo() / total counts), and get_elbo is Pyro's ELBO loss (positive): the
    value is 1 / perplexity, below 1, and it rises as the fit improves. A perplexity of count
    data is at least 1 and falls as the fit improves; 1 / get_perplexity() is one."""
    source = inspect.getsource(scvi.model.AmortizedLDA.get_perplexity)
    assert "-self.get_elbo(" in source and "Perplexity is defined as exp(-1 *" in source
    adata = _adata()
    scvi.model.AmortizedLDA.setup_anndata(adata)
    model = scvi.model.AmortizedLDA(adata, n_topics=3)
    total = float(adata.X.sum())

    def draws():
        """get_perplexity() and, on the same random draws, get_elbo(): get_perplexity first
        reads the counts through a data loader, which takes a seed from torch's generator."""
        scvi.settings.seed = 0
        perplexity = model.get_perplexity()
        scvi.settings.seed = 0
        for _ in model._make_data_loader(adata=adata):
            pass
        return perplexity, model.get_elbo()

    model.train(**FAST)
    early, loss = draws()
    assert loss > 0 and 0 < early < 1
    assert early == pytest.approx(np.exp(-loss / total), rel=1e-6)
    assert 1 / early == pytest.approx(np.exp(loss / total), rel=1e-6)
    model.train(**{**FAST, "max_epochs": 100})
    late, later_loss = draws()
    assert later_loss < loss and early < late < 1  # a better fit: the returned value goes up


def test_scanvi_without_labelled_cells_and_both_covariate_kinds_fails_to_train():
    """1.5.1's SemiSupervisedTrainingPlan takes a single minibatch that holds both the
    categorical and the continuous covariates for a labelled one (`_split_semisupervised_batch`
    returns it twice). A SCANVI with no labelled cell (a query from load_query_data without a
    labels column) gets single minibatches, so the unlabelled category's index reaches the
    classifier's loss: IndexError "Target 2 is out of bounds". One covariate kind, or a few
    labelled cells (the data splitter then pairs each minibatch with a labelled one), trains."""
    from scvi.train import SemiSupervisedTrainingPlan

    assert "return batch, batch" in inspect.getsource(
        SemiSupervisedTrainingPlan._split_semisupervised_batch)

    def query(covariates: dict, labelled: int):
        reference = _adata()
        reference.obs["site"] = np.tile(["x", "y"], reference.n_obs // 2)
        reference.obs["age"] = np.linspace(0.0, 1.0, reference.n_obs)
        scvi.model.SCANVI.setup_anndata(reference, labels_key="labels",
                                        unlabeled_category="unknown", batch_key="batch",
                                        **covariates)
        model = scvi.model.SCANVI(reference, n_hidden=16, n_latent=4)
        model.train(**FAST)
        new = _adata(n_cells_per_batch=30, n_batches=1)
        new.obs["batch"] = "query"
        new.obs["site"] = np.tile(["x", "z"], new.n_obs // 2)  # a new category too
        new.obs["age"] = np.linspace(0.0, 1.0, new.n_obs)
        if labelled:
            labels = new.obs["labels"].astype(str).to_numpy().copy()
            labels[labelled:] = "unknown"
            new.obs["labels"] = labels
        else:
            del new.obs["labels"]  # load_query_data fills in the unlabelled category
        return scvi.model.SCANVI.load_query_data(new, model)

    both = {"categorical_covariate_keys": ["site"], "continuous_covariate_keys": ["age"]}
    with pytest.raises(IndexError, match="out of bounds"):
        query(both, labelled=0).train(**FAST)
    for covariates, labelled in ((both, 10), ({"categorical_covariate_keys": ["site"]}, 0),
                                 ({"continuous_covariate_keys": ["age"]}, 0)):
        model = query(covariates, labelled)
        model.train(**FAST)
        assert len(model.predict()) == 30


def test_spatial_stereoscope_proportions_with_the_noise_term_fail():
    """SpatialStereoscope.get_proportions(keep_noise=True) calls .append on the cell type
    mapping, a numpy array: AttributeError. The module's own proportions hold the extra noise
    column; a DataFrame built from them is the fix."""
    adata = _adata()
    scvi.external.RNAStereoscope.setup_anndata(adata, labels_key="labels")
    rna = scvi.external.RNAStereoscope(adata)
    rna.train(**FAST)
    spots = _adata(n_batches=1)
    scvi.external.SpatialStereoscope.setup_anndata(spots)
    spatial = scvi.external.SpatialStereoscope.from_rna_model(spots, rna)
    spatial.train(**FAST)
    assert isinstance(spatial.cell_type_mapping, np.ndarray)
    with pytest.raises(AttributeError, match="append"):
        spatial.get_proportions(keep_noise=True)
    assert spatial.get_proportions().shape == (spots.n_obs, 2)
    fixed = pd.DataFrame(spatial.module.get_proportions(True),  # the fix
                         columns=[*spatial.cell_type_mapping, "noise_term"],
                         index=spatial.adata.obs_names)
    assert fixed.shape == (spots.n_obs, 3)
    assert np.allclose(fixed.sum(axis=1), 1, atol=1e-5)  # the noise term shares the spot
    cell_types = fixed.iloc[:, :2].to_numpy()
    assert np.allclose(cell_types / cell_types.sum(axis=1, keepdims=True),
                       spatial.get_proportions().to_numpy(), atol=1e-5)


def test_ppc_calibration_error_reads_only_model1():
    """PosteriorPredictiveCheck.calibration_error compares the raw counts with the quantiles
    of the model named "model1", whatever model it reports: another name raises
    AttributeError, and with several models every row is model1's. One check per model,
    each named "model1", gives each its own value."""
    from scvi.criticism import PosteriorPredictiveCheck

    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    early = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    early.train(**FAST)
    late = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    late.train(**{**FAST, "max_epochs": 30})

    def calibration(models: dict) -> dict:
        scvi.settings.seed = 0
        check = PosteriorPredictiveCheck(adata, models, n_samples=5)
        check.calibration_error()
        return check.metrics["calibration"].loc["features"].to_dict()

    with pytest.raises(AttributeError, match="model1"):
        calibration({"scvi": early})
    both = calibration({"model1": early, "other": late})
    assert both["model1"] == both["other"]  # the other model's row is model1's value
    apart = {name: calibration({"model1": model})["model1"]  # the fix
             for name, model in (("early", early), ("late", late))}
    assert apart["early"] != apart["late"]
    assert apart["early"] == pytest.approx(both["model1"])


def test_destvi_proportions_of_a_numpy_subset_fail():
    """DestVI.get_proportions(indices=...) tests `if indices:` to name the rows: a numpy array
    of several spots (np.where(mask)[0]) raises ValueError "The truth value of an array ... is
    ambiguous"; a list of the same positions gives their rows."""
    sc, sc_model, st = _destvi_inputs()
    model = scvi.model.DestVI.from_rna_model(st, sc_model)
    model.train(**FAST)
    assert model.module.amortization in ("both", "proportion")  # the default amortizes them
    spots = np.arange(5)
    with pytest.raises(ValueError, match="ambiguous"):
        model.get_proportions(indices=spots)
    subset = model.get_proportions(indices=spots.tolist())  # the fix
    assert list(subset.index) == list(st.obs_names[:5])
    assert np.allclose(subset.to_numpy(), model.get_proportions().to_numpy()[:5], atol=1e-5)


def test_scbasset_tf_activity_needs_dataframe_applymap(monkeypatch):
    """SCBASSET.get_tf_activity turns the motif library's sequences into codes with
    DataFrame.applymap, which pandas 3 removed (1.5.1 requires pandas without a bound): with
    pandas >= 3 it raises AttributeError after loading the motifs. The motif library itself
    (a download, read with Biopython) is replaced here by random sequences of the model's
    length: only that loading is stubbed. The alias pd.DataFrame.applymap = pd.DataFrame.map
    restores it."""
    from scvi.external import SCBASSET

    regions = synthetic_iid(batch_size=50, n_genes=20, n_proteins=0, n_batches=1).transpose()
    regions.X = (regions.X > 0).astype(float)
    rng = np.random.default_rng(0)
    regions.obsm["code"] = rng.integers(0, 3, size=(regions.n_obs, 1344))
    SCBASSET.setup_anndata(regions, dna_code_key="code")
    model = SCBASSET(regions)
    model.train(**FAST)

    def library(tf, genome="human", motif_dir=None):
        seqs = ["".join(rng.choice(list("ACGT"), 1344)) for _ in range(4)]
        return seqs, seqs[::-1]

    monkeypatch.setattr(model, "_get_motif_library", library)
    if int(pd.__version__.split(".")[0]) >= 3:
        assert not hasattr(pd.DataFrame, "applymap")
        with pytest.raises(AttributeError, match="applymap"):
            model.get_tf_activity("PAX5")
        monkeypatch.setattr(pd.DataFrame, "applymap", pd.DataFrame.map, raising=False)  # fix
    scores = model.get_tf_activity("PAX5")
    assert scores.shape == (regions.n_vars,)


def test_poissonvi_differential_expression_takes_no_arguments():
    """POISSONVI.differential_expression(self) only raises NotImplementedError pointing to
    differential_accessibility; it takes no arguments, so a DE call written as for SCVI
    (groupby=...) raises TypeError about the keyword and never shows that message."""
    model = _poissonvi(batch_key="batch")
    model.train(**FAST)
    with pytest.raises(TypeError, match="groupby"):
        model.differential_expression(groupby="labels", group1="label_0")
    with pytest.raises(NotImplementedError, match="differential_accessibility"):
        model.differential_expression()
    result = model.differential_accessibility(groupby="labels", group1="label_0")  # the fix
    assert len(result) == model.adata.n_vars


def test_mrvi_normalized_expression_with_return_mean_fails():
    """1.5.1's MRVI.get_normalized_expression(return_mean=True) raises ValueError for any
    n_samples: return_mean also makes the inference use the latent mean (no sample axis),
    and each minibatch's expression is then averaged over its cells, a vector per minibatch
    (one minibatch: the frame's shape is wrong; several: np.concatenate's). With
    return_mean=False (the default) and n_samples=k it returns the k draws, whose mean over
    the first axis is the fix."""
    model = _mrvi()
    model.train(**FAST)
    shape = (model.adata.n_obs, model.adata.n_vars)
    for batch_size in (None, 32):  # one minibatch of 80 cells, or three
        for n_samples in (1, 3):
            with pytest.raises(ValueError):
                model.get_normalized_expression(n_samples=n_samples, return_mean=True,
                                                batch_size=batch_size)
        draws = model.get_normalized_expression(n_samples=3, batch_size=batch_size)
        assert draws.shape == (3, *shape) and draws.mean(0).shape == shape  # the fix
        assert model.get_normalized_expression(batch_size=batch_size).shape == shape


def test_poissonvi_proba_de_is_at_least_one_half():
    """POISSONVI.differential_accessibility's region function returns P(|lfc| >= delta) and
    its complement as the two sides, and the DE core's default test_mode "three" takes their
    maximum: proba_de = max(p, 1 - p) >= 0.5 for every region. With a delta no sampled
    log-fold change reaches (the true probability is 0) every region gets proba_de 1.0 and
    is_de_fdr True; test_mode="two" sums the sides to 1.0. mode="vanilla" (the fix) gives
    proba_m1 = P(accessibility 1 > accessibility 2), a probability on both sides of 0.5."""
    model = _poissonvi(batch_key="batch")
    model.train(**FAST)
    de = functools.partial(model.differential_accessibility, groupby="labels", group1="label_0")
    default = de()
    assert (default["proba_de"] >= 0.5).all()
    unreachable = de(delta=100.0)
    assert max(unreachable["lfc_max"].abs().max(), unreachable["lfc_min"].abs().max()) < 100
    assert (unreachable["proba_de"] == 1.0).all()
    assert unreachable["is_de_fdr_0.05"].all()
    assert (de(test_mode="two")["proba_de"] == 1.0).all()
    vanilla = de(mode="vanilla")  # the fix
    assert "proba_de" not in vanilla.columns
    assert ((vanilla["proba_m1"] >= 0) & (vanilla["proba_m1"] <= 1)).all()
    assert (vanilla["proba_m1"] < 0.5).any() and (vanilla["proba_m1"] > 0.5).any()


def test_cellassign_size_factor_key_belongs_to_setup_anndata():
    """CellAssign.setup_anndata requires size_factor_key (nothing computes size factors when
    it is left out); the user guide's CellAssign(adata, markers, size_factor_key=...) hands
    it to CellAssignModule through **model_kwargs, which raises TypeError."""
    adata = _adata()
    markers = pd.DataFrame(np.eye(20, 2), index=adata.var_names, columns=["a", "b"])
    with pytest.raises(TypeError, match="size_factor_key"):
        scvi.external.CellAssign.setup_anndata(adata)
    library = np.asarray(adata.X.sum(1)).ravel()
    adata.obs["size_factor"] = library / library.mean()
    scvi.external.CellAssign.setup_anndata(adata, size_factor_key="size_factor")
    with pytest.raises(TypeError, match="CellAssignModule.*unexpected keyword.*size_factor_key"):
        scvi.external.CellAssign(adata, markers, size_factor_key="size_factor")
    model = scvi.external.CellAssign(adata, markers)  # the fix
    model.train(**FAST)
    assert model.predict().shape == (adata.n_obs, 2)


def test_scar_ambient_profile_takes_the_anndata_positionally():
    """Since 1.5.0 SCAR.get_ambient_profile's first parameter is ``self_or_adata`` (a model or
    the filtered AnnData), while its docstring and the SCAR user guide still name it
    ``adata``: the guide's ``get_ambient_profile(adata=adata, raw_adata=...)`` raises
    TypeError. Passed positionally (the fix) it writes adata.varm["ambient_profile"]."""
    adata = _adata(n_proteins=0)
    rng = np.random.default_rng(0)
    empty = rng.multinomial(6, np.full(adata.n_vars, 1 / adata.n_vars), size=600)
    cells = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    raw = anndata.AnnData(np.vstack([cells, empty]).astype(np.float32))
    raw.var_names = adata.var_names
    scvi.external.SCAR.setup_anndata(adata, batch_key="batch")
    with pytest.raises(TypeError, match="unexpected keyword argument 'adata'"):
        scvi.external.SCAR.get_ambient_profile(adata=adata, raw_adata=raw, prob=0.995)
    # prob is lowered only so that synthetic droplets count as cell-free
    scvi.external.SCAR.get_ambient_profile(adata, raw_adata=raw, prob=1e-6, sample=600)
    profile = adata.varm["ambient_profile"]
    assert profile.shape == (adata.n_vars, 1) and np.isclose(profile.sum(), 1.0)


def test_cytovi_merge_batches_is_a_module_function():
    """The CYTOVI user guide calls scvi.external.CytoVI.merge_batches(adata_list): scvi.external
    has no CytoVI (the class is CYTOVI, which has no merge_batches either), so it raises
    AttributeError. merge_batches is a function of scvi.external.cytovi (the fix), which
    concatenates the batches and marks the markers a batch lacks in a mask layer."""
    with pytest.raises(AttributeError, match="CytoVI"):
        scvi.external.CytoVI  # noqa: B018
    assert not hasattr(scvi.external.CYTOVI, "merge_batches")
    from scvi.external.cytovi import merge_batches

    first, second = _adata(n_proteins=0), _adata(n_proteins=0)
    for part in (first, second):
        part.layers["scaled"] = np.asarray(part.X.toarray() if hasattr(part.X, "toarray")
                                           else part.X, dtype=np.float32)
    second = second[:, 5:].copy()  # the second batch lacks five markers
    merged = merge_batches([first, second])
    assert merged.n_obs == first.n_obs + second.n_obs and merged.n_vars == first.n_vars
    assert "_nan_mask" in merged.layers


def test_cellassign_predict_takes_no_adata_and_numbers_its_rows():
    """CellAssign.predict() takes no argument (the docstring's and the user guide's
    predict(adata) raise TypeError) and predicts for the AnnData the model was set up with,
    as a frame of per-type probabilities whose index is 0..n-1, not adata.obs_names: assigned
    to adata.obs it aligns on the index and leaves every cell NaN. Its values (the fix) keep
    the cells' order."""
    model = _cellassign()
    model.train(**FAST)
    adata = model.adata
    with pytest.raises(TypeError, match="positional argument"):
        model.predict(adata)
    probabilities = model.predict()
    assert list(probabilities.index) == list(range(adata.n_obs))  # numbers, not obs_names
    assert all(isinstance(name, str) for name in adata.obs_names)
    adata.obs["cell_type"] = probabilities.idxmax(axis=1)
    assert adata.obs["cell_type"].isna().all()
    adata.obs["cell_type"] = probabilities.idxmax(axis=1).to_numpy()  # the fix
    assert adata.obs["cell_type"].notna().all()
    assert (adata.obs["cell_type"].to_numpy() == probabilities.idxmax(axis=1).to_numpy()).all()


def _keep_latent_posterior(model):
    """The latent posterior's means and variances in obsm, where minify_adata and
    minify_mudata read them (``X_latent_qzm``, ``X_latent_qzv``)."""
    qzm, qzv = model.get_latent_representation(give_mean=False, return_dist=True)
    model.adata.obsm["X_latent_qzm"], model.adata.obsm["X_latent_qzv"] = qzm, qzv


def _cite_seq():
    """RNA and protein of synthetic cells as a MuData (batch and labels in its obs)."""
    return synthetic_iid(batch_size=40, n_genes=30, n_proteins=6, n_regions=0,
                         return_mudata=True)


def _cite_mudata():
    """_cite_seq() rebuilt as a MuData of its two modalities with the joint obs copied."""
    from mudata import MuData

    full = _cite_seq()
    mdata = MuData({"rna": full["rna"], "protein_expression": full["protein_expression"]})
    mdata.obs = full.obs.copy()
    return mdata


def _totalvi_mudata():
    """RNA and protein of synthetic cells as a MuData, set up for TOTALVI by setup_mudata."""
    mdata = _cite_mudata()
    scvi.model.TOTALVI.setup_mudata(
        mdata, batch_key="batch",
        modalities={"rna_layer": "rna", "protein_layer": "protein_expression"})
    return mdata


def test_minified_totalvi_trains_on_zero_counts():
    """SCVI refuses to train on a minified AnnData (VAE.loss: "does not support minified
    data"); TOTALVI's loss has no such guard, so train() on a minified MuData runs without a
    word: the counts minify_mudata left are all zeros (the latent comes from the stored
    posterior), and the reconstruction loss falls to a fraction of what the real counts gave.
    The fix trains before minifying, on the full data."""
    mdata = _totalvi_mudata()
    model = scvi.model.TOTALVI(mdata, n_latent=4)
    model.train(**{**FAST, "max_epochs": 3})  # the fix: all training on the full counts
    before = model.history["reconstruction_loss_train"].iloc[-1].item()
    _keep_latent_posterior(model)
    model.minify_mudata()
    assert model.adata["rna"].X.sum() == 0 and model.adata["protein_expression"].X.sum() == 0
    model.train(**{**FAST, "max_epochs": 3})  # no error, no warning of its own
    after = model.history["reconstruction_loss_train"].iloc[-1].item()
    assert after < before / 4

    scvi_model = _trained_scvi()
    _keep_latent_posterior(scvi_model)
    scvi_model.minify_adata()
    with pytest.raises(ValueError, match="does not support minified data"):
        scvi_model.train(**FAST)


def test_minified_scvi_adata_into_a_model_saved_before_minifying(tmp_path):
    """SCVI.load(dir, adata=minified) of a model saved before it was minified raises
    ValueError "non-minified model with minified adata": load accepts the zero counts only
    when obsm holds _scvi_latent_qzm/_scvi_latent_qzv, while SCVI's minify_adata writes
    scvi_latent_qzm/scvi_latent_qzv. Saving the model after minifying, or copying the two
    keys to the underscored names (the fixes), loads it as minified."""
    model = _trained_scvi()
    model.save(tmp_path / "full")
    _keep_latent_posterior(model)
    model.minify_adata()
    minified = model.adata.copy()
    assert {"scvi_latent_qzm", "scvi_latent_qzv"} <= set(minified.obsm)
    assert "_scvi_latent_qzm" not in minified.obsm
    with pytest.raises(ValueError, match="non-minified model with minified adata"):
        scvi.model.SCVI.load(tmp_path / "full", adata=minified.copy())
    aliased = minified.copy()  # a fix: the names load() looks for
    for part in ("qzm", "qzv"):
        aliased.obsm[f"_scvi_latent_{part}"] = aliased.obsm[f"scvi_latent_{part}"]
    loaded = scvi.model.SCVI.load(tmp_path / "full", adata=aliased)
    assert loaded.minified_data_type == "latent_posterior_parameters"
    model.save(tmp_path / "minified")  # the other fix: save after minifying
    loaded = scvi.model.SCVI.load(tmp_path / "minified", adata=minified.copy())
    assert loaded.get_latent_representation().shape == (minified.n_obs, 4)


def test_early_stopping_needs_validation_cells():
    """early_stopping=True with train_size=1.0 fails whatever the monitor: early stopping
    makes the trainer validate every epoch, and the splitter has no validation cells. SCVI's
    DataSplitter gives a clear ValueError for a validation monitor; with elbo_train as the
    monitor, and in SCANVI (SemiSupervisedDataSplitter) for any monitor, Lightning raises a
    TypeError about a val_dataloader that returned None. A validation share, or training on
    every cell without early stopping (the fixes), trains."""
    model = _scvi(batch_key="batch")
    with pytest.raises(ValueError, match="no validation set"):
        model.train(**FAST, train_size=1.0, early_stopping=True)
    with pytest.raises(TypeError, match="val_dataloader"):
        model.train(**FAST, train_size=1.0, early_stopping=True,
                    early_stopping_monitor="elbo_train")
    scanvi = _scanvi()
    for monitor in ("elbo_validation", "elbo_train"):
        with pytest.raises(TypeError, match="SemiSupervisedDataSplitter.val_dataloader"):
            scanvi.train(**FAST, train_size=1.0, early_stopping=True,
                         early_stopping_monitor=monitor)
    scanvi.train(**FAST, train_size=0.9, early_stopping=True)  # the fixes
    scanvi.train(**FAST, train_size=1.0)
    model.train(**FAST, train_size=0.9, early_stopping=True)
    assert "elbo_validation" in model.history


def test_totalvi_minify_method_must_match_its_setup():
    """A TOTALVI set up with setup_mudata is minified by minify_mudata(); its minify_adata()
    raises TypeError ('NoneType' object is not iterable). One set up with setup_anndata is
    minified by minify_adata(); minify_mudata() means to raise ValueError "MuData must be
    registered with ...setup_mudata" but formats it with self.__name__, which the instance
    lacks: AttributeError. The matching method (the fix) minifies."""

    def trained(model):
        model.train(**FAST)
        _keep_latent_posterior(model)
        return model

    mdata = _totalvi_mudata()
    on_mudata = trained(scvi.model.TOTALVI(mdata, n_latent=4))
    with pytest.raises(TypeError, match="'NoneType' object is not iterable"):
        on_mudata.minify_adata()
    on_mudata.minify_mudata()  # the fix
    assert on_mudata.minified_data_type == "latent_posterior_parameters"

    adata = _adata(n_genes=30, n_proteins=6)
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    on_anndata = trained(scvi.model.TOTALVI(adata, n_latent=4))
    with pytest.raises(AttributeError, match="__name__"):
        on_anndata.minify_mudata()
    on_anndata.minify_adata()  # the fix
    assert on_anndata.minified_data_type == "latent_posterior_parameters"


def test_multivi_setup_mudata_docstring_registers_atac_as_protein():
    """MULTIVI.setup_mudata's docstring example passes modalities={"rna_layer": "rna",
    "protein_layer": "atac"}: as written it registers the accessibility modality as protein
    counts, and MULTIVI builds and trains a model with the peaks as its proteins and no
    accessibility part, without a warning. atac_layer (the fix) gives the peaks their part."""
    mdata = synthetic_iid(batch_size=50, n_genes=30, n_proteins=0, n_regions=20,
                          return_mudata=True)
    as_written = mdata.copy()
    scvi.model.MULTIVI.setup_mudata(
        as_written, modalities={"rna_layer": "rna", "protein_layer": "accessibility"})
    model = scvi.model.MULTIVI(as_written)
    model.train(**FAST)
    assert (model.module.n_input_genes, model.module.n_input_regions,
            model.module.n_input_proteins) == (30, 0, 20)
    fixed = mdata.copy()
    scvi.model.MULTIVI.setup_mudata(
        fixed, modalities={"rna_layer": "rna", "atac_layer": "accessibility"})
    model = scvi.model.MULTIVI(fixed)
    assert (model.module.n_input_genes, model.module.n_input_regions,
            model.module.n_input_proteins) == (30, 20, 0)


def test_multivi_protein_foreground_with_a_protein_list_fails():
    """MULTIVI.get_protein_foreground_probability(protein_list=[...]) raises AttributeError:
    it reads the protein names from scvi_setup_dict_, an attribute of models before 0.15
    that no model has now. Without protein_list it returns every protein, one column each,
    and selecting the columns afterwards (the fix) gives the list."""
    mdata = synthetic_iid(batch_size=50, n_genes=30, n_proteins=5, n_regions=20,
                          return_mudata=True)
    scvi.model.MULTIVI.setup_mudata(mdata, modalities={
        "rna_layer": "rna", "atac_layer": "accessibility", "protein_layer": "protein_expression"})
    model = scvi.model.MULTIVI(mdata)
    model.train(**FAST)
    everything = model.get_protein_foreground_probability()
    assert everything.shape == (mdata.n_obs, 5)
    wanted = list(everything.columns[:2])
    with pytest.raises(AttributeError, match="scvi_setup_dict_"):
        model.get_protein_foreground_probability(protein_list=wanted)
    assert everything[wanted].shape == (mdata.n_obs, 2)  # the fix


def test_totalvi_marginal_ll_per_cell_fails():
    """TOTALVI.get_marginal_ll(return_mean=False) raises UnboundLocalError ('log_lkl'):
    TOTALVAE.marginal_ll sets its result only when return_mean is true. SCVI's gives one
    value per cell; for TOTALVI the per-cell ELBO, get_elbo(return_mean=False), does (the
    fix), and the mean marginal likelihood still works."""
    adata = _adata(n_genes=30, n_proteins=5)
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    model = scvi.model.TOTALVI(adata, n_latent=4)
    model.train(**FAST)
    with pytest.raises(UnboundLocalError, match="log_lkl"):
        model.get_marginal_ll(n_mc_samples=5, return_mean=False)
    assert np.isfinite(model.get_marginal_ll(n_mc_samples=5))
    assert tuple(model.get_elbo(return_mean=False).shape) == (adata.n_obs,)  # the fix
    scvi_model = _trained_scvi()
    assert tuple(scvi_model.get_marginal_ll(n_mc_samples=5, return_mean=False).shape) == \
        (scvi_model.adata.n_obs,)


def _scar(**model):
    adata = _adata(n_proteins=0)
    scvi.external.SCAR.setup_anndata(adata, batch_key="batch")
    scar = scvi.external.SCAR(adata, **model)
    scar.train(**FAST)
    return scar


def test_scar_registers_batch_key_and_never_uses_it():
    """SCAR.setup_anndata registers batch_key, but SCAR builds its module without n_batch
    (0): the encoder and decoder never see the batch, so the latent is the same whatever
    the cells' batches and transform_batch changes nothing; SCAR removes ambient RNA, not
    batch effects. The fix runs SCAR per batch (channel) and integrates afterwards."""
    scar = _scar(gene_likelihood="nb")
    assert scar.summary_stats.n_batch == 2 and scar.module.n_batch == 0
    relabelled = scar.adata.copy()
    relabelled.obs["batch"] = pd.Categorical(["batch_0"] * relabelled.n_obs,
                                             categories=scar.adata.obs["batch"].cat.categories)
    np.testing.assert_allclose(scar.get_latent_representation(),
                               scar.get_latent_representation(relabelled))
    expression = []
    for batch in ("batch_0", "batch_1"):
        scvi.settings.seed = 0
        expression.append(np.asarray(scar.get_normalized_expression(transform_batch=batch)))
    np.testing.assert_array_equal(*expression)


def test_scar_binomial_normalized_expression_fails():
    """With SCAR's default gene_likelihood "b" (binomial), get_normalized_expression raises
    AttributeError ("'Binomial' object has no attribute 'get_normalized'");
    get_denoised_counts works (the fix), and so does get_normalized_expression for a SCAR
    built with gene_likelihood "nb"."""
    scar = _scar()
    with pytest.raises(AttributeError, match="get_normalized"):
        scar.get_normalized_expression()
    counts = scar.get_denoised_counts()
    assert counts.shape == (scar.adata.n_obs, scar.adata.n_vars)
    assert _scar(gene_likelihood="nb").get_normalized_expression().shape == counts.shape


def test_resolvi_reuses_stale_neighbors_after_cells_are_reordered():
    """RESOLVI.setup_anndata reuses obsm["index_neighbor"] and ["distance_neighbor"] when
    uns["_resolvi_prepare_data_config"] matches the call and the largest stored index is
    below n_obs; the indices are positions, so on a copy whose cells were reordered (obsm and
    uns travel with it) they point at other cells, without a word: the kept neighbours lie as
    far away as random cells. Dropping the stored config first (the fix) recomputes them."""
    pytest.importorskip("scanpy")
    adata = synthetic_iid(batch_size=100, n_genes=20, n_proteins=0, n_regions=0,
                          n_batches=2, generate_coordinates=True)
    adata.obsm["X_spatial"] = np.asarray(adata.obsm["coordinates"])
    scvi.external.RESOLVI.setup_anndata(adata, batch_key="batch")

    def neighbor_distance(data):
        xy, index = data.obsm["X_spatial"], np.asarray(data.obsm["index_neighbor"])
        return float(np.linalg.norm(xy[:, None, :] - xy[index], axis=-1).mean())

    fresh = neighbor_distance(adata)
    order = np.random.default_rng(0).permutation(adata.n_obs)
    shuffled = adata[order].copy()
    scvi.external.RESOLVI.setup_anndata(shuffled, batch_key="batch")  # reuses them
    np.testing.assert_array_equal(shuffled.obsm["index_neighbor"],
                                  adata.obsm["index_neighbor"][order])
    stale = neighbor_distance(shuffled)
    del shuffled.uns["_resolvi_prepare_data_config"]  # the fix
    scvi.external.RESOLVI.setup_anndata(shuffled, batch_key="batch")
    assert stale > 1.2 * fresh and neighbor_distance(shuffled) == pytest.approx(fresh, rel=0.05)


def test_log_save_dir_overwrites_earlier_runs(tmp_path):
    """train(log_save_dir=d) writes the history to d/lightning_logs/version_1/history.pkl:
    SimpleLogger's version is always 1, so a second run (another model, or the same one
    trained again) into the same folder replaces the first run's file without a word. A
    folder per run (the fix) keeps both."""
    import pickle

    first, second = _scvi(batch_key="batch"), _scvi(batch_key="batch")
    first.train(**{**FAST, "max_epochs": 3}, log_save_dir=str(tmp_path / "shared"))
    second.train(**{**FAST, "max_epochs": 1}, log_save_dir=str(tmp_path / "shared"))
    files = sorted((tmp_path / "shared").rglob("history.pkl"))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == \
        ["shared/lightning_logs/version_1/history.pkl"]
    with open(files[0], "rb") as handle:
        assert len(pickle.load(handle)["train_loss"]) == 1  # the second run's only
    for name, model in (("one", first), ("two", second)):  # the fix
        model.train(**FAST, log_save_dir=str(tmp_path / name))
    assert len(list(tmp_path.glob("[ot]*/lightning_logs/version_1/history.pkl"))) == 2


def test_scanvi_labels_groups_is_taken_and_ignored():
    """Since 1.4.3 (grouped-label classification removed) SCANVI's module still takes and
    documents labels_groups, stores it and never reads it: with the same seed a model built
    with it gives the same latent and predictions as one without; use_labels_groups raises
    TypeError. Summing the soft predictions per group (the fix) gives group probabilities."""
    def trained(**model):
        scvi.settings.seed = 0
        adata = _adata(n_labels=3)
        scvi.model.SCANVI.setup_anndata(adata, labels_key="labels",
                                        unlabeled_category="unknown", batch_key="batch")
        scanvi = scvi.model.SCANVI(adata, n_hidden=16, n_latent=4, **model)
        scanvi.train(**FAST)
        scvi.settings.seed = 0
        return scanvi, scanvi.get_latent_representation(), scanvi.predict(soft=True)

    _, plain_latent, plain_soft = trained()
    grouped, latent, soft = trained(labels_groups=[0, 0, 1])
    np.testing.assert_allclose(latent, plain_latent)
    np.testing.assert_allclose(soft.to_numpy(), plain_soft.to_numpy())
    with pytest.raises(TypeError, match="use_labels_groups"):
        trained(use_labels_groups=True)
    groups = {"label_0": "g0", "label_1": "g0", "label_2": "g1"}  # the fix
    by_group = soft.T.groupby(lambda label: groups[label]).sum().T
    np.testing.assert_allclose(by_group.sum(axis=1), 1.0, rtol=1e-5)


def test_cytovi_subsample_replace_does_not_upsample_small_groups():
    """scvi.external.cytovi.subsample(groupby=..., replace=True) samples only the groups larger
    than n_obs // n_groups, with replacement (duplicate cells), and keeps a smaller group as
    it is: replace=True does not bring it up to size, although the warning for replace=False
    says to set it for that. It returns a copy either way (the docstring says None with
    replace=True). Drawing each group's positions with replacement (the fix) balances them."""
    from scvi.external.cytovi import subsample

    adata = _adata(n_proteins=0)  # 80 cells
    adata.obs["sample"] = ["big"] * 70 + ["small"] * 10
    out = subsample(adata, n_obs=60, groupby="sample", replace=True)
    assert out is not None
    counts = out.obs["sample"].value_counts()
    assert counts["small"] == 10 and counts["big"] == 30
    assert out.obs_names.duplicated().any()
    rng = np.random.default_rng(0)  # the fix
    picks = np.concatenate([rng.choice(np.flatnonzero(adata.obs["sample"] == group), 30)
                            for group in ("big", "small")])
    balanced = adata[picks].copy()
    balanced.obs_names_make_unique()
    assert balanced.obs["sample"].value_counts().to_dict() == {"big": 30, "small": 30}


def test_resolvi_needs_fifty_genes_for_its_background_prior():
    """RESOLVI estimates its background ratio from the n_genes // 50 lowest-count genes: with
    fewer than 50 genes that is none, the ratio is NaN, and training fails at its first step
    with a ValueError about a Gamma whose rate is nan. Passing background_ratio, computed
    from a few genes (the fix), trains."""
    adata = synthetic_iid(batch_size=150, n_batches=1, n_genes=30, n_proteins=0, n_regions=0)
    adata.obsm["X_spatial"] = np.random.default_rng(0).uniform(0, 100, size=(adata.n_obs, 2))
    scvi.external.RESOLVI.setup_anndata(adata, labels_key="labels")
    model = scvi.external.RESOLVI(adata)
    assert np.isnan(model.compute_dataset_dependent_priors()["background_ratio"])
    with _torch_argument_checks(), pytest.raises(ValueError, match="Gamma"):
        model.train(**FAST)  # with torch's argument checks on (their default; Pyro's
        # training elsewhere in this file turns them off)
    ratio = model.compute_dataset_dependent_priors(n_small_genes=1)["background_ratio"]
    fixed = scvi.external.RESOLVI(adata, background_ratio=ratio)  # the fix
    fixed.train(**FAST)
    assert np.isfinite(fixed.get_latent_representation()).all()


def test_totalvi_reduce_lr_on_plateau_overrides_check_val_every_n_epoch():
    """TOTALVI.train's reduce_lr_on_plateau is True by default and then sets
    check_val_every_n_epoch to 1 whatever the call passed: train(check_val_every_n_epoch=5)
    validates every epoch. SCVI's Trainer keeps a value given; reduce_lr_on_plateau=False
    (the fix) keeps TOTALVI's too."""
    assert inspect.signature(scvi.model.TOTALVI.train).parameters[
        "reduce_lr_on_plateau"].default is True
    model = _totalvi()
    model.train(max_epochs=3, check_val_every_n_epoch=5, **DEFAULT_EPOCHS)
    assert model.trainer.check_val_every_n_epoch == 1
    assert len(model.history["validation_loss"]) == 3
    reference = _scvi()
    reference.train(max_epochs=3, check_val_every_n_epoch=5, **DEFAULT_EPOCHS)
    assert reference.trainer.check_val_every_n_epoch == 5
    fixed = _totalvi()
    fixed.train(max_epochs=3, check_val_every_n_epoch=5, reduce_lr_on_plateau=False,
                **DEFAULT_EPOCHS)
    assert fixed.trainer.check_val_every_n_epoch == 5
    assert "validation_loss" not in fixed.history or len(fixed.history["validation_loss"]) == 0


def test_sysvi_differential_expression_fails_past_one_minibatch_per_group():
    """SysVI inherits RNASeqMixin.differential_expression, which asks for several samples per
    cell; SysVAE.inference ignores n_samples, so each minibatch gives a cells x genes array
    that is joined along the cell axis the samples should be on: a group of more cells than
    batch_size raises ValueError ("input array dimensions" with a short last minibatch,
    "could not be broadcast" with equal ones). A batch_size above every group's size (the
    workaround) runs, each cell one draw."""
    adata = _adata(n_cells_per_batch=150, n_genes=30, n_proteins=0)
    adata.X = np.log1p(adata.X).astype(np.float32)
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch")
    model = scvi.external.SysVI(adata, n_hidden=16, n_latent=4)
    model.train(max_epochs=1, **DEFAULT_EPOCHS)
    adata.obs["group"] = ["a"] * 96 + ["b"] * 112 + ["c"] * 92  # DE reads the column as is
    with pytest.raises(ValueError, match="input array dimensions"):  # the rest: 128 + 76
        model.differential_expression(groupby="group", group1="a")
    with pytest.raises(ValueError, match="could not be broadcast"):  # 12 and 14 minibatches
        model.differential_expression(groupby="group", group1="a", group2="b", batch_size=8)
    result = model.differential_expression(groupby="group", group1="a",
                                           batch_size=adata.n_obs)  # the workaround
    assert len(result) == adata.n_vars and np.isfinite(result["bayes_factor"]).all()


def test_vivs_importance_without_validation_cells_gives_the_smallest_p_values():
    """VIVS.get_importance() with neither adata nor indices tests the validation cells; after
    train(train_size=1.0) there are none: the statistics are NaN and every p-value (and padj)
    is 1 / (1 + n_mc_samples), the smallest possible, without a warning. indices= (or a
    validation split, the default) gives finite statistics and p-values that differ."""
    adata = _adata(n_cells_per_batch=60, n_proteins=0)
    adata.obsm["niche"] = np.random.default_rng(0).random((adata.n_obs, 3)).astype(np.float32)
    scvi.external.VIVS.setup_anndata(adata, y_obsm_key="niche", batch_key="batch")
    model = scvi.external.VIVS(adata)
    model.train(max_epochs=1, train_size=1.0, **DEFAULT_EPOCHS)
    assert len(model.validation_indices) == 0
    result = model.get_importance(n_mc_samples=5)
    assert np.isnan(result["obs_ts"]).all()
    assert np.allclose(result["pvalues"], 1 / 6) and np.allclose(result["padj"], 1 / 6)
    fixed = model.get_importance(n_mc_samples=5, indices=np.arange(adata.n_obs))  # the fix
    assert np.isfinite(fixed["obs_ts"]).all() and len(np.unique(fixed["pvalues"])) > 1


def test_a_custom_sampler_makes_anndataloader_batches_of_one_cell():
    """AnnDataLoader builds its BatchSampler of batch_size cells only without a sampler; with
    one (sampler=WeightedRandomSampler(...), directly or via datasplitter_kwargs) batch_size is
    dropped and PyTorch's DataLoader yields one cell per batch, so SCVI's training stops on
    BatchNorm's "Expected more than 1 value per channel"; a BatchSampler instead adds a
    leading axis of 1. Oversampling the AnnData's rows (the fix) trains."""
    from torch.utils.data import BatchSampler, WeightedRandomSampler

    from scvi.dataloaders import AnnDataLoader

    model = _scvi()
    n = model.adata.n_obs
    loader = AnnDataLoader(model.adata_manager, batch_size=64,
                           sampler=WeightedRandomSampler(np.ones(n), num_samples=n))
    assert loader.batch_size == 1 and next(iter(loader))["X"].shape[0] == 1
    batched = AnnDataLoader(model.adata_manager, sampler=BatchSampler(
        WeightedRandomSampler(np.ones(n), num_samples=n), batch_size=64, drop_last=False))
    assert tuple(next(iter(batched))["X"].shape[:2]) == (1, 64)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        model.train(**FAST, datasplitter_kwargs={
            "sampler": WeightedRandomSampler(np.ones(n), num_samples=n)})
    weights = np.where(model.adata.obs["labels"] == "label_0", 3.0, 1.0)
    rows = np.random.default_rng(0).choice(n, size=n, p=weights / weights.sum())
    resampled = model.adata[rows].copy()  # the fix: oversample the rows themselves
    resampled.obs_names_make_unique()
    scvi.model.SCVI.setup_anndata(resampled, batch_key="batch")
    fixed = scvi.model.SCVI(resampled, n_hidden=16, n_latent=4)
    fixed.train(**FAST)
    assert fixed.is_trained_


def test_scvi_extra_encoder_kwargs_cannot_repeat_what_vae_passes():
    """SCVI's extra_encoder_kwargs reach both of VAE's encoders (the latent one and the
    library one), beside the n_layers, n_hidden and dropout_rate VAE passes itself: a key of
    those raises TypeError "Encoder() got multiple values for keyword argument", so the
    encoder cannot be deeper than the decoder this way. A key VAE does not pass
    (activation_fn) goes to both encoders and not to the decoder."""
    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata)
    for key, value in (("n_layers", 3), ("n_hidden", 64), ("dropout_rate", 0.2)):
        with pytest.raises(TypeError, match=f"got multiple values for keyword argument '{key}'"):
            scvi.model.SCVI(adata, extra_encoder_kwargs={key: value})
    model = scvi.model.SCVI(adata, n_hidden=16,
                            extra_encoder_kwargs={"activation_fn": torch.nn.Softplus})
    module = model.module

    def softplus(part):
        return any(isinstance(m, torch.nn.Softplus) for m in part.modules())

    assert softplus(module.z_encoder) and softplus(module.l_encoder)
    assert not softplus(module.decoder)


def test_the_model_keeps_each_anndata_it_was_asked_about():
    """An AnnData not set up that an inference method gets (get_latent_representation(b)) is
    set up for this model instance only, and the instance keeps it: deleting the user's
    name leaves it alive. deregister_manager(b) looks in the class's store and raises
    ValueError; deregister_manager() with no argument (the fix) frees it, the model's own
    AnnData kept."""
    import gc
    import weakref

    model = _trained_scvi()
    other = _adata(n_proteins=0)
    model.get_latent_representation(other)
    alive = weakref.ref(other)
    assert len(model._per_instance_manager_store[model.id]) == 2
    with pytest.raises(ValueError, match="Please set up your AnnData"):
        model.deregister_manager(other)
    del other
    gc.collect()
    assert alive() is not None
    model.deregister_manager()  # the fix
    gc.collect()
    assert alive() is None and len(model._per_instance_manager_store[model.id]) == 1
    assert model.get_latent_representation().shape == (model.adata.n_obs, 4)


def test_a_training_error_is_printed_as_a_nameerror(capsys):
    """TrainRunner prints every exception raised in training as "Exception raised during
    training. <class 'NameError'> ..." (the builtin NameError, not the exception's class),
    then re-raises the real one: a ValueError here; its class is the traceback's last line."""
    from torch.utils.data import WeightedRandomSampler

    model = _scvi()
    n = model.adata.n_obs
    capsys.readouterr()
    with pytest.raises(ValueError) as raised:
        model.train(**FAST, datasplitter_kwargs={
            "sampler": WeightedRandomSampler(np.ones(n), num_samples=n)})
    printed = capsys.readouterr().out
    assert "Exception raised during training. <class 'NameError'>" in printed
    assert type(raised.value) is ValueError and str(raised.value) in printed


def test_add_dna_sequence_installs_the_genome_into_a_folder_it_then_deletes(tmp_path,
                                                                            monkeypatch):
    """add_dna_sequence(genome_dir=None) installs the genome into a TemporaryDirectory that
    is gone when the call returns, so every call downloads it again; a genome_dir of one's
    own (the fix) keeps it. genomepy (a multi-GB download) is a stand-in module here: it
    records where the genome goes and serves a sequence."""
    installs = []

    class Genome:
        def get_seq(self, chrom, start, end):
            return "ACGT" * ((end - start) // 4 + 1)

    def install_genome(name, provider, genomes_dir=None):
        os.makedirs(os.path.join(genomes_dir, name), exist_ok=True)
        installs.append(genomes_dir)
        return Genome()

    monkeypatch.setitem(sys.modules, "genomepy", types.SimpleNamespace(
        install_genome=install_genome, Genome=lambda *a, **k: Genome()))
    adata = anndata.AnnData(np.ones((3, 2), dtype=np.float32))
    adata.var["chr"] = ["chr1", "chr2"]
    adata.var["start"] = [100, 200]
    adata.var["end"] = [116, 216]
    for _ in range(2):
        scvi.data.add_dna_sequence(adata, seq_len=8)
    assert len(installs) == 2 and installs[0] != installs[1]
    assert not any(os.path.exists(folder) for folder in installs)
    assert adata.varm["dna_code"].shape == (2, 8)
    scvi.data.add_dna_sequence(adata, seq_len=8, genome_dir=str(tmp_path))  # the fix
    assert installs[-1] == str(tmp_path) and (tmp_path / "hg38").is_dir()


def test_minified_multivi_gives_every_cell_one_latent():
    """MULTIVI's minify_mudata() (default type latent_posterior_parameters) zeroes the counts
    and stores the posterior, but MULTIVAE's own inference never reads the stored qzm/qzv:
    the encoder runs on the zeros and every cell gets the same latent, without an error. The
    type that keeps the counts (the fix) gives the stored means back."""
    def latents(minified_data_type):
        mdata = _multivi_mudata()
        model = scvi.model.MULTIVI(mdata)
        model.train(**{**FAST, "max_epochs": 2})
        _keep_latent_posterior(model)
        qzm = model.adata.obsm["X_latent_qzm"]
        model.minify_mudata(minified_data_type=minified_data_type)
        return qzm, model.get_latent_representation()

    qzm, latent = latents("latent_posterior_parameters")
    assert qzm.std(axis=0).max() > 1e-3 and latent.std(axis=0).max() < 1e-4
    qzm, latent = latents("latent_posterior_parameters_with_counts")  # the fix
    assert np.allclose(latent, qzm, atol=1e-5)


def test_linear_scvi_minification(tmp_path):
    """LinearSCVI.minify_adata() refuses the default use_observed_lib_size=False ("not
    supported for models that do not use observed library size"); with True it minifies,
    but LinearSCVI.__init__ never hands minified_data_type to its module, so a minified model
    saved and loaded encodes the zeroed counts: one latent for every cell. SCVI's loads the
    stored posterior; setting module.minified_data_type after load (the fix) does too."""
    adata = _adata(n_proteins=0)
    scvi.model.LinearSCVI.setup_anndata(adata, batch_key="batch")
    with pytest.raises(ValueError, match="do not use observed library size"):
        default = scvi.model.LinearSCVI(adata, n_latent=4)
        default.train(**FAST)
        _keep_latent_posterior(default)
        default.minify_adata()
    model = scvi.model.LinearSCVI(adata, n_latent=4, use_observed_lib_size=True)
    model.train(**{**FAST, "max_epochs": 2})
    _keep_latent_posterior(model)
    qzm = model.adata.obsm["X_latent_qzm"]
    model.minify_adata()
    model.save(tmp_path / "linear", save_anndata=True)
    loaded = scvi.model.LinearSCVI.load(tmp_path / "linear", accelerator="cpu")
    assert loaded.minified_data_type == "latent_posterior_parameters"
    assert loaded.module.minified_data_type is None
    assert loaded.get_latent_representation().std(axis=0).max() < 1e-4
    loaded.module.minified_data_type = loaded.minified_data_type  # the fix
    assert np.allclose(loaded.get_latent_representation(), qzm, atol=1e-5)


def test_condscvi_predict_needs_fine_labels_and_adds_an_unlabeled_class():
    """CondSCVI.predict() predicts fine labels: on a model set up without fine_labels_key it
    raises AttributeError "'VAEC' object has no attribute 'linear_mapping'". With it, the
    field adds an "unlabeled" category (LabelsWithUnlabeledObsField) although every cell has
    a subtype: n_fine_labels is one more, and predict(soft=True) gives "unlabeled" a column
    and a share of each cell's probability; its code is n_fine_labels - 1, which the loss's
    mask (!= n_fine_labels) does not leave out. Dropping that column and renormalising (the
    fix) leaves the subtypes' probabilities."""
    adata = _adata(n_cells_per_batch=60, n_proteins=0)
    adata.obs["fine"] = [f"{label}_{n % 3}" for n, label in enumerate(adata.obs["labels"])]
    coarse = adata.copy()
    scvi.model.CondSCVI.setup_anndata(coarse, labels_key="labels")
    model = scvi.model.CondSCVI(coarse, n_latent=4, n_hidden=16)
    model.train(**FAST)
    with pytest.raises(AttributeError, match="linear_mapping"):
        model.predict()
    scvi.model.CondSCVI.setup_anndata(adata, labels_key="labels", fine_labels_key="fine")
    fine = scvi.model.CondSCVI(adata, n_latent=4, n_hidden=16)
    fine.train(**FAST)
    assert fine.n_fine_labels == adata.obs["fine"].nunique() + 1
    # "unlabeled" is the last code, n_fine_labels - 1: VAEC.loss's mask (fine_labels !=
    # n_fine_labels) keeps every cell, cells the user left unlabeled too.
    mapping = list(fine.adata_manager.get_state_registry("fine_labels").categorical_mapping)
    assert mapping[-1] == "unlabeled" and len(mapping) == fine.module.n_fine_labels
    soft = fine.predict(soft=True)
    assert "unlabeled" in soft.columns and (soft["unlabeled"] > 0.01).all()
    kept = soft.drop(columns="unlabeled")  # the fix
    kept = kept.div(kept.sum(axis=1), axis=0)
    assert np.allclose(kept.sum(axis=1), 1.0) and len(kept.columns) == adata.obs["fine"].nunique()


def test_ppc_differential_expression_needs_leidenalg_with_its_own_groups():
    """PosteriorPredictiveCheck.differential_expression is decorated to need leidenalg
    whatever its arguments: with de_groupby given (no Leiden clustering to run) it still
    raises ModuleNotFoundError "Please install ['leidenalg']" where leidenalg is missing
    (as in this project's environment: scvi-tools lists it in its "optional" extra only)."""
    import importlib.util

    if importlib.util.find_spec("leidenalg") is not None:
        pytest.skip("leidenalg is installed here: the decorator passes")
    from scvi.criticism import PosteriorPredictiveCheck

    model = _scvi()
    model.train(**FAST)
    ppc = PosteriorPredictiveCheck(model.adata, {"scvi": model}, n_samples=2)
    with pytest.raises(ModuleNotFoundError, match="leidenalg"):
        ppc.differential_expression(de_groupby="labels")


def test_mrvi_outlier_pairs_need_more_cells_than_batch_size():
    """MRVI.get_outlier_cell_sample_pairs splits the cells into adata.n_obs // batch_size
    parts with no floor of one (differential_abundance has max(..., 1)): with fewer cells
    than batch_size (256 by default) numpy raises ValueError "number sections must be larger
    than 0". A batch_size at most the number of cells (the fix) runs."""
    model = _mrvi()  # 80 cells
    model.train(**FAST)
    with pytest.raises(ValueError, match="number sections must be larger than 0"):
        model.get_outlier_cell_sample_pairs()
    pairs = model.get_outlier_cell_sample_pairs(batch_size=32)  # the fix
    assert pairs["is_admissible"].shape == (model.adata.n_obs, 4)


def test_methylvi_normalized_methylation_ignores_transform_batch_and_weights():
    """METHYLVI's get_specific_normalized_methylation hands transform_batch and weights to
    get_normalized_methylation, which takes neither: they land in its
    **importance_weighting_kwargs and are never read. Any batch, a batch that does not
    exist, or weights="bogus" give the same values as none, without an error; so
    differential_methylation(batch_correction=True) decodes every cell in its own batch."""
    model = _methylation(scvi.external.METHYLVI)
    model.train(**FAST)
    values = []
    for kwargs in ({}, {"transform_batch": "batch_1"},
                   {"transform_batch": "no_such_batch", "weights": "bogus"}):
        torch.manual_seed(1)
        values.append(np.asarray(model.get_specific_normalized_methylation(context="mod1",
                                                                            **kwargs)))
    assert np.allclose(values[0], values[1]) and np.allclose(values[0], values[2])
    params = inspect.signature(model.get_normalized_methylation).parameters
    assert "transform_batch" not in params and "weights" not in params


def _tangram_modality(rng, n: int, prefix: str = "g"):
    """An AnnData of ``n`` cells and 15 genes named ``{prefix}0``..., uniform values drawn
    from ``rng``: one modality of a Tangram MuData."""
    adata = anndata.AnnData(rng.random((n, 15)).astype(np.float32))
    adata.var_names = [f"{prefix}{i}" for i in range(15)]
    return adata

def test_tangram_setup_and_train_traps(monkeypatch):
    """Tangram.setup_mudata's default density_prior_key="rna_count_based" is looked up as an
    obs column (KeyError "rna_count_based not found in adata.obs."); its check that both
    modalities have the same genes is written `if not (x,)`, a one-element tuple, so it never
    fires (other gene names are accepted); and train() puts its own lr, eps and
    weight_decay=0 over plan_kwargs (weight_decay=0.5 never reaches the plan).
    density_prior_key=None or a column of one's own (the fix) sets up."""
    from mudata import MuData

    import scvi.external.tangram._model as tangram_model

    rng = np.random.default_rng(0)

    modalities = {"density_prior_key": "sp", "sc_layer": "sc", "sp_layer": "sp"}
    mdata = MuData({"sc": _tangram_modality(rng, 40), "sp": _tangram_modality(rng, 20)})
    with pytest.raises(KeyError, match="rna_count_based not found in adata.obs"):
        scvi.external.Tangram.setup_mudata(mdata, modalities=modalities)
    other = MuData({"sc": _tangram_modality(rng, 40), "sp": _tangram_modality(rng, 20, "x")})
    scvi.external.Tangram.setup_mudata(other, density_prior_key=None, modalities=modalities)
    scvi.external.Tangram.setup_mudata(mdata, density_prior_key=None, modalities=modalities)
    seen = {}

    class Plan(tangram_model.TrainingPlan):
        def __init__(self, module, **kwargs):
            seen.update(kwargs)
            super().__init__(module, **kwargs)

    monkeypatch.setattr(tangram_model, "TrainingPlan", Plan)
    model = scvi.external.Tangram(mdata)
    model.train(max_epochs=1, accelerator="cpu", plan_kwargs={"lr": 0.001, "weight_decay": 0.5})
    assert seen["weight_decay"] == 0 and seen["lr"] != 0.001


def test_poissonvi_setup_needs_a_hundred_cells():
    """POISSONVI.setup_anndata checks that the counts look like fragment counts on 100 cells
    drawn from the data, and raises ValueError "adata.obs must have at least 100
    observations" on fewer, with no setup argument to lower it: a small test subset cannot
    be set up. A subset of at least 100 cells (the fix) sets up and trains."""
    adata = _adata(n_cells_per_batch=60, n_proteins=0)
    with pytest.raises(ValueError, match="at least 100 observations"):
        scvi.external.POISSONVI.setup_anndata(adata[:50].copy())
    subset = adata[:100].copy()  # the fix
    scvi.external.POISSONVI.setup_anndata(subset)
    model = scvi.external.POISSONVI(subset)
    model.train(**FAST)
    assert model.is_trained_


def test_autozi_priors():
    """AUTOZI(zero_inflation="gene") stores a fixed beta prior as logit(alpha_prior): a
    beta_prior of 0.9 beside alpha_prior 0.5 becomes logit(0.5) = 0 (the default 0.5 / 0.5
    is unaffected). With zero_inflation "gene-batch" (or "gene-label") and the prior to learn
    (both None), the module calls torch.nn.parameter, a module, and construction raises
    TypeError "'module' object is not callable". Setting the buffer after construction
    (the fix) gives the prior asked for."""
    adata = _adata()
    scvi.model.AUTOZI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.AUTOZI(adata, alpha_prior=0.5, beta_prior=0.9)
    assert torch.allclose(model.module.beta_prior_logit, torch.zeros(1))
    with pytest.raises(TypeError, match="not callable"):
        scvi.model.AUTOZI(adata, zero_inflation="gene-batch", alpha_prior=None,
                          beta_prior=None)
    model.module.beta_prior_logit.fill_(torch.logit(torch.tensor(0.9)).item())  # the fix
    assert torch.allclose(torch.sigmoid(model.module.beta_prior_logit), torch.tensor([0.9]))
    model.train(**FAST)
    assert model.is_trained_


def test_normalize_regions_needs_region_factors():
    """PEAKVI and MULTIVI built with region_factors=False have no region factors
    (module.region_factors is None); get_normalized_accessibility(normalize_regions=True)
    still multiplies by torch.sigmoid of it and fails with a bare TypeError about
    sigmoid() and NoneType, while get_region_factors() says so in words. Without
    normalize_regions (the default) both models give accessibilities."""
    adata = _adata()
    adata.X = (adata.X > 0).astype("float32")
    scvi.model.PEAKVI.setup_anndata(adata)
    models = [scvi.model.PEAKVI(adata, n_hidden=16, n_latent=4, region_factors=False),
              scvi.model.MULTIVI(_multivi_mudata(), n_latent=4, region_factors=False)]
    for model in models:
        model.train(**FAST)
        assert model.module.region_factors is None
        with pytest.raises(TypeError, match=r"sigmoid\(\).*NoneType"):
            model.get_normalized_accessibility(normalize_regions=True)
        with pytest.raises(RuntimeError, match="region factors were not included"):
            model.get_region_factors()
        assert np.asarray(model.get_normalized_accessibility()).shape[0] == model.adata.n_obs


def test_loss_output_needs_a_reconstruction_loss_per_cell():
    """LossOutput infers the minibatch size from the first dimension of the reconstruction
    loss: a custom module's loss() that returns it summed (a 0-d tensor) fails with
    IndexError "tuple index out of range", a message that names neither. Per-cell values
    (shape (n_cells,)), or n_obs_minibatch given, are accepted."""
    from scvi.module.base import LossOutput

    per_cell = torch.ones(8)
    with pytest.raises(IndexError, match="tuple index out of range"):
        LossOutput(loss=per_cell.sum(), reconstruction_loss=per_cell.sum())
    assert LossOutput(loss=per_cell.sum(), reconstruction_loss=per_cell).n_obs_minibatch == 8
    given = LossOutput(loss=per_cell.sum(), reconstruction_loss=per_cell.sum(), n_obs_minibatch=8)
    assert given.n_obs_minibatch == 8


def test_methylation_docstring_examples_do_not_run():
    """The class examples of METHYLVI and METHYLANVI call setup_mudata without mc_layer,
    cov_layer and methylation_contexts, which it requires (TypeError); METHYLVI.setup_mudata's
    own example passes methylation_modalities, a name it does not take in place of
    methylation_contexts (TypeError again). _methylation() here, with the three named, sets up."""
    from mudata import MuData

    def mdata():
        contexts = {}
        for name in ("mCG", "mCH"):
            adata = _adata(n_proteins=0)
            adata.layers["mc"], adata.layers["cov"] = adata.X, adata.X + 10
            contexts[name] = adata
        return MuData(contexts)

    missing = r"missing 3 required positional arguments: 'mc_layer', 'cov_layer', and " \
              r"'methylation_contexts'"
    with pytest.raises(TypeError, match=missing):
        scvi.external.METHYLVI.setup_mudata(mdata(), batch_key="batch")
    with pytest.raises(TypeError, match=missing):
        scvi.external.METHYLANVI.setup_mudata(mdata(), labels_key="labels",
                                              unlabeled_category="Unknown")
    with pytest.raises(TypeError, match="methylation_contexts"):
        scvi.external.METHYLVI.setup_mudata(mdata(), mc_layer="mc", cov_layer="cov",
                                            batch_key="batch",
                                            methylation_modalities=["mCG", "mCH"],
                                            modalities={"batch_key": "mCG"})
    assert _methylation(scvi.external.METHYLVI) is not None  # the three named: it sets up


def test_diagvi_normal_likelihood_normalizes_library_by_default():
    """DIAGVI.setup_anndata(likelihood="normal") keeps normalize_lib=True, and for "normal" the
    module takes the decoder's normalization from it (softmax times the library,
    log(x.sum(1))), while the user guide says continuous modalities get none. z-scored protein
    data, whose rows can sum below zero, then fails in the first epoch with ValueError
    "Expected parameter loc ... Normal" (with torch's argument checks off, "arange: cannot
    compute length" in the Sinkhorn loss); normalize_lib=False (the fix) trains, and so does
    the default on non-negative (min-max scaled) values."""
    pytest.importorskip("torch_geometric")  # DIAGVI's graph layers (the examples extra has it)
    from scvi.external import DIAGVI

    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(40)] + ["CD3E", "MS4A1", "CD14", "NCAM1"]
    proteins = ["CD3", "CD20", "CD14", "CD56", "PanCK"]
    mapping = pd.DataFrame({"rna": genes[-4:], "protein": proteins[:4]})
    intensity = np.arcsinh(rng.gamma(2, 5, (250, 5)) / 5)
    zscored = (intensity - intensity.mean(0)) / intensity.std(0)
    scaled = (intensity - intensity.min(0)) / (intensity.max(0) - intensity.min(0))
    assert (zscored.sum(1) < 0).any()

    def model(values, **setup):
        rna = anndata.AnnData(rng.poisson(2, (300, len(genes))).astype(np.float32))
        rna.var_names = genes
        protein = anndata.AnnData(values.astype(np.float32))
        protein.var_names = proteins
        DIAGVI.setup_anndata(rna, likelihood="nb")
        DIAGVI.setup_anndata(protein, likelihood="normal", **setup)
        return DIAGVI({"rna": rna, "protein": protein}, mapping_df=mapping, n_latent=4,
                      n_hidden=16)

    default = model(zscored)
    assert default.module.decoder_1.normalize is True
    # torch's argument checks on (their default): torch.compile, which an example test runs
    # earlier in the process, turns them off, and the NaN then surfaces elsewhere.
    with _torch_argument_checks(), \
            pytest.raises(ValueError, match=r"Expected parameter loc .* Normal"):
        default.train(max_epochs=1, batch_size=64, accelerator="cpu")
    checks = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:  # with the checks off, the NaN reaches the Sinkhorn loss first
        with pytest.raises(ValueError, match="arange: cannot compute length"):
            model(zscored).train(max_epochs=1, batch_size=64, accelerator="cpu")
    finally:
        torch.distributions.Distribution.set_default_validate_args(checks)
    for fixed in (model(zscored, normalize_lib=False), model(scaled)):
        fixed.train(max_epochs=1, batch_size=64, accelerator="cpu")
        latent = fixed.get_latent_representation()
        assert not any(np.isnan(v).any() for v in latent.values())
    assert model(zscored, normalize_lib=False).module.decoder_1.normalize is False


def test_backed_anndata_differential_expression_needs_all_stats_off(tmp_path):
    """A model set up on a backed AnnData (read_h5ad(backed="r"), sparse X) trains and gives
    latents, but differential_expression with its default all_stats=True sums the whole
    backed matrix for the raw-count statistics and fails with AttributeError
    "'_CSRDataset' object has no attribute 'sum'"; all_stats=False (the fix) runs."""
    adata = _adata(sparse_format="csr_matrix", n_proteins=0)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    backed = anndata.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    scvi.model.SCVI.setup_anndata(backed, batch_key="batch")
    model = scvi.model.SCVI(backed, n_hidden=16, n_latent=4)
    model.train(**FAST)
    assert model.get_latent_representation().shape == (backed.n_obs, 4)
    groups = {"groupby": "labels", "group1": "label_0", "group2": "label_1"}
    with pytest.raises(AttributeError, match="'_CSRDataset' object has no attribute 'sum'"):
        model.differential_expression(**groups)
    result = model.differential_expression(**groups, all_stats=False)
    assert len(result) == backed.n_vars and "raw_mean1" not in result.columns


def test_criticism_report_skip_metrics_and_save_folder(tmp_path, monkeypatch):
    """create_criticism_report reads every metric after computing them, so skip_metrics
    cannot skip one: skipping "diff_exp" raises KeyError 'diff_exp'. Its default
    save_folder=None raises TypeError only after all metrics are computed, and it returns
    None, not the dict its annotation says (it writes save_folder/metrics.json). leidenalg
    (which its DE requires, pitfall ppc-differential-expression-needs-leidenalg, and which a
    label key leaves unused) is a stand-in module here."""
    from scvi.criticism import create_criticism_report

    monkeypatch.setitem(sys.modules, "leidenalg", types.ModuleType("leidenalg"))
    model = _scvi(labels_key="labels")
    model.train(**FAST)
    with pytest.raises(KeyError, match="diff_exp"):
        create_criticism_report(model, skip_metrics=["diff_exp"], n_samples=2,
                                save_folder=str(tmp_path))
    with pytest.raises(TypeError):
        create_criticism_report(model, n_samples=2)
    assert create_criticism_report(model, n_samples=2, save_folder=str(tmp_path)) is None
    assert (tmp_path / "metrics.json").is_file()


def test_update_only_decoder_needs_a_minified_model_with_counts():
    """update_only_decoder=True (a TrainingPlan keyword: plan_kwargs or TrainingPlanConfig)
    only turns off the encoder's full forward pass; a model whose data are not minified to
    latent posterior parameters with counts runs its encoder all the same, so the encoder
    keeps training. Minified with counts, the encoder stays as it was."""
    model = _trained_scvi()

    def encoder():
        return {k: v.detach().clone() for k, v in model.module.z_encoder.named_parameters()}

    def moved(before):
        return max((v - before[k]).abs().max().item() for k, v in encoder().items())

    before = encoder()
    model.train(**FAST, plan_kwargs={"update_only_decoder": True})
    assert moved(before) > 0
    qzm, qzv = model.get_latent_representation(return_dist=True)
    model.adata.obsm["X_latent_qzm"], model.adata.obsm["X_latent_qzv"] = qzm, qzv
    model.minify_adata(minified_data_type="latent_posterior_parameters_with_counts")
    before = encoder()
    model.train(**FAST, plan_kwargs={"update_only_decoder": True})
    assert moved(before) == 0


def test_give_mean_false_returns_one_draw_per_cell():
    """VAEMixin.get_latent_representation's docstring says give_mean=False "returns an
    estimate of the mean using mc_samples Monte Carlo samples" and that mc_samples is not
    used when give_mean is True; the code does the opposite. give_mean=False returns one
    draw of z per cell (another on each call, whatever mc_samples), and mc_samples is read
    only with give_mean=True and the logistic-normal latent."""
    model = _scvi()
    model.train(**FAST)
    mean = model.get_latent_representation()
    torch.manual_seed(0)
    one = model.get_latent_representation(give_mean=False, mc_samples=1)
    torch.manual_seed(1)
    many = model.get_latent_representation(give_mean=False, mc_samples=5000)
    qzm, qzv = model.get_latent_representation(return_dist=True)
    assert np.allclose(mean, qzm)
    # A mean of 5000 draws would sit within about 2% of a standard deviation of qzm; one
    # draw is a whole standard deviation away on average, as is each of the two calls.
    for draw in (one, many):
        z = (draw - qzm) / np.sqrt(qzv)
        assert 0.7 < z.std() < 1.3
    assert not np.allclose(one, many)
    doc = inspect.getdoc(scvi.model.SCVI.get_latent_representation)
    assert "estimate of the mean using ``mc_samples``" in doc.replace("\n", " ")


def test_scviva_preprocessing_needs_a_sample_key():
    """SCVIVA.preprocessing_anndata documents sample_key as optional (default None), but the
    neighbourhoods are built per sample with adata.obs[sample_key]: without it, KeyError
    None. A sample key (one sample for all cells when there is one) builds them."""
    adata = _adata(n_proteins=0, generate_coordinates=True)
    adata.obsm["qz1_m"] = np.random.default_rng(0).normal(size=(adata.n_obs, 4))
    keys = {"labels_key": "labels", "cell_coordinates_key": "coordinates",
            "expression_embedding_key": "qz1_m"}
    params = inspect.signature(scvi.external.SCVIVA.preprocessing_anndata).parameters
    assert params["sample_key"].default is None
    with pytest.raises(KeyError) as raised:
        scvi.external.SCVIVA.preprocessing_anndata(adata, k_nn=5, **keys)
    assert raised.value.args == (None,)
    adata.obs["sample"] = "one"
    scvi.external.SCVIVA.preprocessing_anndata(adata, k_nn=5, sample_key="sample", **keys)
    assert adata.obsm["niche_indexes"].shape == (adata.n_obs, 5)


def test_marginal_ll_mean_weighs_every_minibatch_alike():
    """get_marginal_ll(return_mean=True) averages the minibatches' own means (numpy's mean
    of one value per minibatch), so a short last minibatch counts as much as a full one: on
    80 cells in minibatches of 32, 32 and 16 it is not the mean over cells, and it moves with
    batch_size. return_mean=False gives one value per cell, whose mean is the per-cell one."""
    model = _scvi()
    model.train(**FAST)
    torch.manual_seed(0)
    per_cell = np.asarray(model.get_marginal_ll(return_mean=False, n_mc_samples=5,
                                                batch_size=32))
    torch.manual_seed(0)
    reported = float(model.get_marginal_ll(n_mc_samples=5, batch_size=32))
    assert per_cell.shape == (model.adata.n_obs,) == (80,)
    by_batch = np.mean([per_cell[:32].mean(), per_cell[32:64].mean(), per_cell[64:].mean()])
    assert reported == pytest.approx(by_batch, rel=1e-5)
    assert reported != pytest.approx(per_cell.mean(), rel=1e-5)


def test_settings_take_unknown_names_silently():
    """scvi.settings is one ScviConfig, a plain class: assigning a name it does not define
    (num_workers, persistent_workers, device) raises nothing and warns nothing, the real
    settings keep their values, and the data loader a model makes reads dl_num_workers and
    dl_persistent_workers, which do take effect."""
    settings = scvi.settings
    stray = {"num_workers": 1, "persistent_workers": True, "device": "cuda"}
    before = (settings.dl_num_workers, settings.dl_persistent_workers)
    model = _scvi()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for name, value in stray.items():
                setattr(settings, name, value)
        assert all(not hasattr(type(settings), name) for name in stray)
        assert (settings.dl_num_workers, settings.dl_persistent_workers) == before == (0, False)
        loader = model._make_data_loader(adata=model.adata)
        assert (loader.num_workers, loader.persistent_workers) == (0, False)
        settings.dl_num_workers, settings.dl_persistent_workers = 1, True
        loader = model._make_data_loader(adata=model.adata)
        assert (loader.num_workers, loader.persistent_workers) == (1, True)
    finally:
        for name in stray:
            settings.__dict__.pop(name, None)
        settings.dl_num_workers, settings.dl_persistent_workers = before


def test_mrvi_differential_abundance_scores_every_sample():
    """MRVI.differential_abundance builds the aggregated posterior of every sample in the
    AnnData it is given and scores every cell under each (log_probs: cells x samples), then
    averages them per covariate value: sample_subset only picks the samples of those averages
    (and is not read without sample_cov_keys), so it never shrinks the work. Passing a
    subset AnnData (the fix) does: its log_probs hold only its samples."""
    adata = _adata()  # 80 cells in samples sample_0..sample_3; cond a or b per sample
    adata.obs["sample"] = [f"sample_{i % 4}" for i in range(adata.n_obs)]
    adata.obs["cond"] = ["a" if i % 2 else "b" for i in range(adata.n_obs)]
    model = _model("MRVI", adata, sample_key="sample", batch_key="batch")
    model.train(**FAST)
    subset = ["sample_0", "sample_1"]
    full = model.differential_abundance(sample_cov_keys=["cond"], sample_subset=subset,
                                        batch_size=32)
    assert sorted(full["sample"].values) == [f"sample_{i}" for i in range(4)]
    assert full["log_probs"].shape == (80, 4)
    plain = model.differential_abundance(sample_subset=subset, batch_size=32)
    assert plain["log_probs"].shape == (80, 4)
    cells = model.adata[model.adata.obs["sample"].isin(subset)].copy()
    small = model.differential_abundance(adata=cells, batch_size=32)  # the fix
    assert small["log_probs"].shape == (cells.n_obs, 2) == (40, 2)


def test_scvi_nn_one_hot_is_torchs():
    """scvi.nn.one_hot in 1.5.1 is PyTorch's torch.nn.functional.one_hot: for an (N, 1) index
    of categories it returns int64 of shape (N, 1, n_cat), not float (N, n_cat); squeezing
    the index's last dimension and casting (the fix) gives float (N, n_cat)."""
    from scvi.nn import one_hot

    assert one_hot is torch.nn.functional.one_hot
    index = torch.tensor([[0], [2], [1]])
    out = one_hot(index, 3)
    assert out.shape == (3, 1, 3) and out.dtype == torch.int64
    fixed = one_hot(index.squeeze(-1), 3).float()
    assert fixed.shape == (3, 3) and fixed.dtype == torch.float32
    assert fixed.argmax(1).tolist() == [0, 2, 1]


def test_default_split_leaves_no_validation_cell_below_ten_cells():
    """train()'s default split puts ceil(0.9 * n) cells in training: below 10 cells none is
    left for validation, and CellAssign, PEAKVI and TOTALVI, whose train() turns early
    stopping on by default, raise ValueError before training. A train_size leaving a
    validation cell trains (the fix); so does early_stopping=False with train_size=1.0, except
    TOTALVI, whose plan validates anyway (pitfall
    totalvi-reduce-lr-forces-validation-every-epoch)."""
    def tiny(name):
        adata = _adata(6, n_batches=1)
        if name == "CellAssign":
            adata.obs["size_factor"] = np.asarray(adata.X.sum(1)).ravel() / 100 + 0.1
            scvi.external.CellAssign.setup_anndata(adata, size_factor_key="size_factor")
            markers = pd.DataFrame(np.eye(20, 2), index=adata.var_names, columns=["a", "b"])
            return scvi.external.CellAssign(adata, markers)
        if name == "PEAKVI":
            adata.X = (adata.X > 0).astype("float32")
            return _model("PEAKVI", adata)
        return _model("TOTALVI", adata, protein_expression_obsm_key="protein_expression")

    for name in ("CellAssign", "PEAKVI", "TOTALVI"):
        with pytest.raises(ValueError, match="Early Stopping with validation monitor with no "
                                             "validation set"):
            tiny(name).train(**FAST)
        tiny(name).train(train_size=0.5, **FAST)
        if name != "TOTALVI":  # its plan validates for its LR scheduler whatever the stopping
            tiny(name).train(train_size=1.0, early_stopping=False, **FAST)
    small = _adata(6, n_batches=1)  # SCVI: early stopping off by default, nothing to validate
    scvi.model.SCVI.setup_anndata(small)
    scvi.model.SCVI(small).train(**FAST)


def test_tangram_constrained_mapper_leaves_out_the_filter():
    """With constrained=True, Tangram learns a per-cell filter (sigmoid of
    module.filter_unconstrained) that picks about target_count cells, and its loss reads the
    mapping times that filter; get_mapper_matrix() returns the softmax alone, so every cell's
    row still sums to 1, filtered-out cells included, and no public method returns the
    filter. Multiplying the rows by the filter (the fix) gives the constrained mapping."""
    from mudata import MuData

    rng = np.random.default_rng(0)
    mdata = MuData({"sc": _tangram_modality(rng, 40), "sp": _tangram_modality(rng, 20)})
    scvi.external.Tangram.setup_mudata(mdata, density_prior_key=None,
                                       modalities={"density_prior_key": "sp",
                                                   "sc_layer": "sc", "sp_layer": "sp"})
    model = scvi.external.Tangram(mdata, constrained=True, target_count=10)
    model.train(max_epochs=5, accelerator="cpu")
    mapper = model.get_mapper_matrix()
    assert mapper.shape == (40, 20)
    np.testing.assert_allclose(mapper.sum(axis=1), 1.0, rtol=1e-5)
    filter_ = torch.sigmoid(model.module.filter_unconstrained).detach().cpu().numpy()
    assert filter_.shape == (40, 1) and not np.allclose(filter_, 1.0)
    public = [name for name in dir(model) if not name.startswith("_") and "filter" in name]
    assert public == []
    constrained = mapper * filter_  # the fix
    assert constrained.sum() == pytest.approx(float(filter_.sum()), rel=1e-4)
    assert constrained.sum() < mapper.sum()


def test_scanvi_from_scvi_model_keeps_the_scvi_labels_key():
    """SCANVI.from_scvi_model(scvi_model, labels_key=X) uses X only when the SCVI model was
    set up without a labels_key: otherwise it registers the SCVI's labels column, silently,
    so a masked column (half "Unknown") given to SCANVI is dropped and no cell is
    unlabeled. An SCVI set up without labels_key (the fix) takes X."""
    adata = _adata()
    adata.obs["cell_type"] = adata.obs["labels"].astype(str)
    masked = adata.obs["cell_type"].to_numpy().copy()
    masked[::2] = "Unknown"
    adata.obs["cell_type_masked"] = masked
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch", labels_key="cell_type")
    vae = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    vae.train(**FAST)  # from_scvi_model warns about an untrained model
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        scanvi = scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category="Unknown",
                                                   labels_key="cell_type_masked")
    assert scanvi.adata_manager.registry["setup_args"]["labels_key"] == "cell_type"
    assert len(scanvi._unlabeled_indices) == 0
    fresh = _adata()
    fresh.obs["cell_type_masked"] = masked
    scvi.model.SCVI.setup_anndata(fresh, batch_key="batch")  # the fix: no labels_key
    fresh_vae = scvi.model.SCVI(fresh, n_hidden=16, n_latent=4)
    fresh_vae.train(**FAST)
    fixed = scvi.model.SCANVI.from_scvi_model(fresh_vae, unlabeled_category="Unknown",
                                              labels_key="cell_type_masked")
    assert fixed.adata_manager.registry["setup_args"]["labels_key"] == "cell_type_masked"
    assert len(fixed._unlabeled_indices) == fresh.n_obs // 2


def test_totalvi_library_size_compounds_over_transform_batches():
    """TOTALVI.get_normalized_expression multiplies the running sum by library_size inside
    its loop over transform_batch: with two batches and library_size=1e4 each cell's RNA sums
    to about (1e4 * 1e4 + 1e4) / 2, not 1e4; with one batch it is 1e4, and SCVI's is 1e4
    with two. library_size=1, then times 1e4 (the fix), gives 1e4."""
    model = _totalvi()
    model.train(**FAST)
    batches = list(model.adata.obs["batch"].cat.categories)
    assert len(batches) == 2

    def rna_sums(**kwargs):
        rna, _ = model.get_normalized_expression(return_numpy=True, **kwargs)
        return np.asarray(rna).sum(axis=1)

    np.testing.assert_allclose(rna_sums(transform_batch=batches[:1], library_size=1e4), 1e4,
                               rtol=1e-3)
    both = rna_sums(transform_batch=batches, library_size=1e4)
    assert both.min() > 1e6  # far off the counts-per-10k scale
    np.testing.assert_allclose(rna_sums(transform_batch=batches, library_size=1) * 1e4, 1e4,
                               rtol=1e-3)  # the fix
    vae = _trained_scvi()
    scvi_sums = np.asarray(vae.get_normalized_expression(transform_batch=batches,
                                                          library_size=1e4)).sum(axis=1)
    np.testing.assert_allclose(scvi_sums, 1e4, rtol=1e-3)


def test_totalvi_samples_come_last():
    """With n_samples > 1 and return_mean=False, TOTALVI's get_normalized_expression and
    get_protein_foreground_probability return (cells, features, samples), while their
    docstrings and SCVI's get_normalized_expression put the samples first; np.moveaxis(a,
    -1, 0) (the fix) gives (samples, cells, features)."""
    model = _totalvi()
    model.train(**FAST)
    n_cells, n_genes = model.adata.shape
    n_proteins = model.adata.obsm["protein_expression"].shape[1]
    rna, protein = model.get_normalized_expression(n_samples=5, return_mean=False,
                                                   return_numpy=True)
    assert rna.shape == (n_cells, n_genes, 5) and protein.shape == (n_cells, n_proteins, 5)
    foreground = model.get_protein_foreground_probability(n_samples=5, return_mean=False,
                                                          return_numpy=True)
    assert foreground.shape == (n_cells, n_proteins, 5)
    assert np.moveaxis(rna, -1, 0).shape == (5, n_cells, n_genes)  # the fix
    vae = _scvi()
    vae.train(**FAST)
    assert vae.get_normalized_expression(n_samples=5, return_mean=False).shape == \
        (5, n_cells, n_genes)


def test_multivi_normalized_expression_has_no_sample_axis():
    """MULTIVI.get_normalized_expression(n_samples=k) never returns k draws: by default
    (use_z_mean=True) it decodes the latent mean, and with use_z_mean=False MULTIVAE draws z
    once, so the result is (cells, genes) either way; adding return_mean=True then averages
    over the cells. k calls with use_z_mean=False (the fix) give k different draws."""
    model = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    model.train(**FAST)
    n_cells, n_genes = model.adata.n_obs, model.adata["rna"].n_vars
    assert model.get_normalized_expression(n_samples=5, return_numpy=True).shape == \
        (n_cells, n_genes)
    assert model.get_normalized_expression(n_samples=5, use_z_mean=False,
                                           return_numpy=True).shape == (n_cells, n_genes)
    assert model.get_normalized_expression(n_samples=5, use_z_mean=False, return_mean=True,
                                           return_numpy=True).shape == (n_genes,)
    with pytest.raises(ValueError, match="Shape of passed values"):  # as a DataFrame
        model.get_normalized_expression(n_samples=5, use_z_mean=False, return_mean=True)
    draws = np.stack([model.get_normalized_expression(use_z_mean=False, return_numpy=True)
                      for _ in range(3)])  # the fix
    assert draws.shape == (3, n_cells, n_genes) and not np.allclose(draws[0], draws[1])


def test_de_batchid_needs_batch_correction():
    """differential_expression's batchid1/batchid2 are documented as "Only used if
    batch_correction is True", but with the default batch_correction=False they raise a bare
    ValueError "Inconsistent batch policy" naming neither; with batch_correction=True (the
    fix) the call runs. The same for SCVI, SCANVI and TOTALVI (one DE core)."""
    kwargs = {"groupby": "labels", "group1": "label_0", "batchid1": ["batch_0"],
              "batchid2": ["batch_0"]}
    for model in (_scvi(batch_key="batch"), _scanvi(), _totalvi()):
        model.train(**FAST)
        with pytest.raises(ValueError, match="^Inconsistent batch policy$"):
            model.differential_expression(**kwargs)
        result = model.differential_expression(batch_correction=True, **kwargs)  # the fix
        assert len(result) >= model.adata.n_vars, type(model).__name__


def _trained_contrastivevi(**setup):
    """A ContrastiveVI on 80 synthetic cells (label_0 background, label_1 target), trained;
    the same cells and the same seed on every call."""
    scvi.settings.seed = 0
    adata = _adata()
    rng = np.random.default_rng(0)
    adata.obs["donor"] = rng.choice(["d1", "d2", "d3"], adata.n_obs)
    adata.obs["pct_mito"] = rng.normal(size=adata.n_obs)
    adata.obs["sf"] = rng.uniform(0.5, 2.0, adata.n_obs)
    scvi.external.ContrastiveVI.setup_anndata(adata, **setup)
    scvi.settings.seed = 0
    model, cells = _contrastivevi_on(adata)
    model.train(**cells, **FAST)
    return model


def test_contrastivevi_reads_no_covariates():
    """ContrastiveVI.setup_anndata registers categorical_covariate_keys,
    continuous_covariate_keys and size_factor_key, but the model hands ContrastiveVAE only
    n_batch, which reads X and the batch alone: with the same seed a model set up with all
    three has the same parameters and the same latents as one set up without them. A
    batch_key (the one covariate it reads) changes both."""
    plain = _trained_contrastivevi()
    covariates = _trained_contrastivevi(size_factor_key="sf", categorical_covariate_keys=["donor"],
                                continuous_covariate_keys=["pct_mito"])
    registry = covariates.adata_manager.data_registry
    assert {"extra_categorical_covs", "extra_continuous_covs", "size_factor"} <= set(registry)

    def n_params(model):
        return sum(p.numel() for p in model.module.parameters())

    assert n_params(plain) == n_params(covariates)
    for kind in ("salient", "background"):
        np.testing.assert_array_equal(plain.get_latent_representation(representation_kind=kind),
                                      covariates.get_latent_representation(
                                          representation_kind=kind))
    batched = _trained_contrastivevi(batch_key="batch")
    assert n_params(batched) > n_params(plain)


def test_contrastivevi_samples_repeat_one_draw():
    """ContrastiveVAE draws z and s once and expands that draw to n_samples, so
    get_normalized_expression(n_samples=5, return_mean=False) returns five identical
    "samples", while two calls with n_samples=1 differ. Separate calls (the fix) give
    independent draws."""
    model = _trained_contrastivevi()
    salient = model.get_normalized_expression(n_samples=5, return_mean=False)["salient"]
    assert salient.shape == (5, model.adata.n_obs, model.adata.n_vars)
    assert np.abs(salient - salient[:1]).max() == 0
    draws = np.stack([model.get_normalized_expression(n_samples=1, return_numpy=True)["salient"]
                      for _ in range(3)])  # the fix
    assert np.abs(draws - draws[:1]).max() > 0


def _module_state(model) -> dict:
    """A copy of every tensor of ``model.module``'s state."""
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


def _moved_since(before: dict, model) -> set[str]:
    """The state keys whose tensors differ from ``before`` (:func:`_module_state`)."""
    after = _module_state(model)
    return {k for k in before if not torch.equal(before[k], after[k])}

def test_pyro_models_share_the_param_store():
    """Decipher and RESOLVI clear Pyro's global param store when a model is built and then
    register their weights there under fixed names: of two models built before either
    trains, the second one's network weights do not move in its own train() (it trains the
    tensors the first registered). Clearing the store right before each train() (the fix)
    trains both."""
    import pyro

    decipher_data = _adata(100)  # 200 cells: more than one minibatch of 128
    scvi.external.Decipher.setup_anndata(decipher_data)
    resolvi_data = _adata(100, n_batches=1, n_genes=60)
    resolvi_data.obsm["X_spatial"] = np.random.default_rng(0).random((resolvi_data.n_obs, 2))
    scvi.external.RESOLVI.setup_anndata(resolvi_data)
    for cls, adata in ((scvi.external.Decipher, decipher_data),
                       (scvi.external.RESOLVI, resolvi_data)):
        first, second = cls(adata), cls(adata)
        first_0, second_0 = _module_state(first), _module_state(second)
        first.train(**FAST)
        second.train(**FAST)
        assert any(k.endswith("weight") for k in _moved_since(first_0, first)), cls.__name__
        assert not any(k.endswith("weight") and "norm" not in k
                       for k in _moved_since(second_0, second)), cls.__name__
        third, fourth = cls(adata), cls(adata)  # the fix
        third_0, fourth_0 = _module_state(third), _module_state(fourth)
        pyro.clear_param_store()
        third.train(**FAST)
        pyro.clear_param_store()
        fourth.train(**FAST)
        for model, before in ((third, third_0), (fourth, fourth_0)):
            assert any(k.endswith("weight") for k in _moved_since(before, model)), cls.__name__


def test_decipher_trains_nothing_below_one_minibatch():
    """Decipher.train sets drop_last=True with batch_size=128, so a training set smaller than
    one minibatch (here 90 of 100 cells) yields no minibatch: train() returns without error,
    the model is marked trained, and no weight has moved. A batch_size below the training
    cells (the fix) trains."""
    adata = _adata(50)  # 100 cells, 90 of them for training
    scvi.external.Decipher.setup_anndata(adata)
    runs = {"default": {}, "batch_size": {"batch_size": 32},  # the fix
            "drop_last": {"datasplitter_kwargs": {"drop_last": False}}}  # or this
    for name, kwargs in runs.items():
        model = scvi.external.Decipher(adata)
        before = _module_state(model)
        model.train(max_epochs=2, accelerator="cpu", enable_progress_bar=False, **kwargs)
        assert model.is_trained
        assert bool(_moved_since(before, model)) is (name != "default"), name


def test_velovi_velocity_clips_with_the_training_spliced():
    """VELOVI.get_velocity(clip=True), the default, clips to minus the spliced counts of the
    model's own AnnData, every gene, whatever adata and gene_list ask for: gene_list raises
    ValueError "operands could not be broadcast together", and another AnnData is clipped
    with the training cells' rows. All genes then a column subset, or clip=False with one's
    own clip (the fixes), work."""
    model = _velovi()
    model.train(**FAST)
    genes = list(model.adata.var_names[:3])
    with pytest.raises(ValueError, match="operands could not be broadcast together"):
        model.get_velocity(gene_list=genes)
    assert model.get_velocity()[genes].shape == (model.adata.n_obs, 3)  # the fix
    assert model.get_velocity(gene_list=genes, clip=False).shape == (model.adata.n_obs, 3)
    other = model.adata.copy()
    other.layers["spliced"] = np.zeros_like(other.layers["spliced"])
    clipped = np.asarray(model.get_velocity(adata=other))
    floor = -np.asarray(other.layers["spliced"])  # zero: a clip to it leaves no negative value
    assert (clipped < floor).any()
    fixed = np.clip(np.asarray(model.get_velocity(adata=other, clip=False)), floor, None)  # fix
    assert (fixed >= floor).all()


def test_gimvi_docstring_and_inherited_methods_fail():
    """GIMVI's class docstring documents n_hidden, which JVAE does not take (TypeError
    "unexpected keyword argument 'n_hidden'"; its widths are dim_hidden_encoder and
    dim_hidden_decoder_*), and shows scvi.model.GIMVI, which does not exist. Methods it
    inherits from RNASeqMixin and VAEMixin fail without an adata (AttributeError: no
    _adata). Its own get_latent_representation and get_imputed_values (the fix) work."""
    from scvi.external import GIMVI

    seq = _adata()
    spatial = seq[:, :10].copy()
    spatial.obs_names = [f"s{i}" for i in range(spatial.n_obs)]
    GIMVI.setup_anndata(seq, batch_key="batch")
    GIMVI.setup_anndata(spatial, batch_key="batch")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_hidden'"):
        GIMVI(seq, spatial, n_hidden=32)
    assert not hasattr(scvi.model, "GIMVI")
    model = GIMVI(seq, spatial, n_latent=4, dim_hidden_encoder=32)  # the documented widths' names
    model.train(**FAST)
    for method in ("get_normalized_expression", "get_elbo", "get_latent_library_size"):
        with pytest.raises(AttributeError, match="_adata"):
            getattr(model, method)()
    latent_seq, latent_spatial = model.get_latent_representation()  # the fix
    imputed_seq, imputed_spatial = model.get_imputed_values()
    assert latent_seq.shape == (seq.n_obs, 4) and imputed_spatial.shape == (spatial.n_obs, 20)


def test_save_overwrite_keeps_a_stale_adata(tmp_path):
    """save(dir, overwrite=True) writes over the folder's files but removes none: an
    adata.h5ad from an earlier save(save_anndata=True) stays when the new model is saved
    without its data (the default), and load(dir) then pairs the new weights with the old
    cells, without a warning. An emptied folder (the fix) loads with the usual "no saved
    anndata" warning, and load(dir, adata=...) takes the right cells."""
    import shutil

    folder = tmp_path / "model"
    old = _scvi(batch_key="batch")  # 80 cells
    old.adata.obs["tag"] = "old"
    old.train(**FAST)
    old.save(str(folder), save_anndata=True)
    new = _scvi(batch_key="batch")
    new.adata.obs["tag"] = "new"
    new.train(**FAST)
    new.save(str(folder), overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["adata.h5ad", "model.pt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loaded = scvi.model.SCVI.load(str(folder))
    assert loaded.adata.obs["tag"].unique().tolist() == ["old"]
    state = new.module.state_dict()
    assert all(torch.equal(loaded.module.state_dict()[k], state[k]) for k in state)
    shutil.rmtree(folder)  # the fix
    new.save(str(folder))
    with pytest.warns(UserWarning, match="no saved anndata"):
        scvi.model.SCVI.load(str(folder))
    assert scvi.model.SCVI.load(str(folder), adata=new.adata).adata.obs["tag"].unique()[0] == "new"


def _ppc(models, adata=None, n_samples=2):
    from scvi.criticism import PosteriorPredictiveCheck

    first = next(iter(models.values()))
    return PosteriorPredictiveCheck(first.adata if adata is None else adata, models,
                                    n_samples=n_samples)


def test_ppc_zero_fraction_counts_nonzeros():
    """PosteriorPredictiveCheck.zero_fraction is documented as the fraction of zeros per
    gene, but computes (samples != 0).mean: for the raw counts its "Raw" column equals the
    fraction of non-zero counts. One minus it (the fix) is the fraction of zeros."""
    model = _trained_scvi()
    ppc = _ppc({"model1": model})
    ppc.zero_fraction()
    raw = np.asarray(ppc.metrics["zero_fraction"]["Raw"].values, dtype=float)
    counts = np.asarray(model.adata.X.toarray() if hasattr(model.adata.X, "toarray")
                        else model.adata.X)
    zeros = (counts == 0).mean(axis=0)
    assert 0 < zeros.mean() < 1
    np.testing.assert_allclose(raw, 1 - zeros, atol=1e-6)
    np.testing.assert_allclose(1 - raw, zeros, atol=1e-6)  # the fix


def test_ppc_differential_expression_summary_keeps_the_last_model(monkeypatch):
    """With several models, PosteriorPredictiveCheck.differential_expression sizes its
    summary for groups x models but writes each model's rows at the group's index, so each
    model overwrites the one before: the summary holds the last model's rows and empty ones.
    One check per model (the fix) gives each model's rows. leidenalg is a stand-in module
    (a label key leaves it unused)."""
    monkeypatch.setitem(sys.modules, "leidenalg", types.ModuleType("leidenalg"))
    first = _trained_scvi()
    second = scvi.model.SCVI(first.adata, n_latent=2)
    second.train(**FAST)
    ppc = _ppc({"model1": first, "model2": second})
    ppc.differential_expression(de_groupby="labels", n_top_genes_fallback=5)
    summary = ppc.metrics["diff_exp"]["summary"]
    assert len(summary) == 4  # 2 groups x 2 models
    assert summary["model"].dropna().unique().tolist() == ["model2"]
    assert summary["model"].isna().sum() == 2
    alone = _ppc({"model1": first})  # the fix
    alone.differential_expression(de_groupby="labels", n_top_genes_fallback=5)
    assert alone.metrics["diff_exp"]["summary"]["model"].tolist() == ["model1", "model1"]


def test_ppc_samples_come_from_the_models_own_adata():
    """PosteriorPredictiveCheck draws each model's samples from model.adata; its adata
    argument only gives the raw counts and the cell names. Cells of another number fail with
    an xarray size conflict on 'cells'; the same cells in another order are compared with
    other cells' samples, silently. The model's own AnnData in its order (the fix) fits."""
    model = _trained_scvi()
    held_out = model.adata[:50].copy()
    with pytest.raises(Exception, match="conflicting sizes for dimension 'cells'") as raised:
        _ppc({"model1": model}, adata=held_out)
    assert type(raised.value).__name__ == "CoordinateValidationError"  # xarray's
    reordered = model.adata[::-1].copy()
    torch.manual_seed(0)
    samples = _ppc({"model1": model}, adata=reordered).samples_dataset["model1"]
    torch.manual_seed(0)
    own = _ppc({"model1": model}).samples_dataset["model1"]  # the fix: the model's own order
    assert list(samples["cells"].values) == list(reordered.obs_names)
    # the reordered check labels the model's first cell's samples with its last cell's name
    np.testing.assert_array_equal(samples.data.todense(), own.data.todense())
    assert samples["cells"].values[0] != own["cells"].values[0]


def test_minified_differential_expression_raw_stats_are_zero():
    """After minify_adata() (the default latent_posterior_parameters), the Bayes factors
    come from the stored posterior, but differential_expression's raw-count columns read the
    minified counts, all zero: raw_mean1 and non_zeros_proportion1 are 0 for every gene,
    without a warning. Minifying with latent_posterior_parameters_with_counts (the fix)
    keeps them."""
    for kind, zero in (("latent_posterior_parameters", True),
                       ("latent_posterior_parameters_with_counts", False)):
        model = _scvi(batch_key="batch", labels_key="labels")
        model.train(**FAST)
        qzm, qzv = model.get_latent_representation(return_dist=True)
        model.adata.obsm["X_latent_qzm"], model.adata.obsm["X_latent_qzv"] = qzm, qzv
        model.minify_adata(minified_data_type=kind)
        de = model.differential_expression(groupby="labels", group1="label_0")
        assert bool((de["raw_mean1"] == 0).all()
                    and (de["non_zeros_proportion1"] == 0).all()) is zero, kind
        assert de["bayes_factor"].abs().sum() > 0, kind


def test_ppc_needs_more_than_one_sample():
    """PosteriorPredictiveCheck(adata, models, n_samples=1) fails while it builds its
    dataset (xarray CoordinateValidationError: "coordinate cells ... not a subset of the
    DataArray dimensions"): one posterior predictive sample comes back without its samples
    axis. n_samples=2 (the fix) builds it."""
    model = _trained_scvi()
    with pytest.raises(Exception, match="not a subset of the DataArray dimensions") as raised:
        _ppc({"model1": model}, n_samples=1)
    assert type(raised.value).__name__ == "CoordinateValidationError"
    ppc = _ppc({"model1": model}, n_samples=2)  # the fix
    assert ppc.samples_dataset["model1"].dims == ("cells", "features", "samples")


def test_organize_multiome_anndatas_needs_anndata_concatenate():
    """scvi.data.organize_multiome_anndatas joins the RNA-only and ATAC-only cells with
    AnnData.concatenate, which the anndata installed here (the lock's) no longer has: with
    rna_anndata or atac_anndata it raises AttributeError. anndata.concat with
    label="modality" (the fix) builds the same object."""
    rng = np.random.default_rng(0)
    names = [f"g{i}" for i in range(5)] + [f"p{i}" for i in range(5)]

    def data(n, var, prefix):
        adata = anndata.AnnData(rng.poisson(1, (n, len(var))).astype(np.float32))
        adata.var_names, adata.obs_names = var, [f"{prefix}{i}" for i in range(n)]
        return adata

    multi, rna, atac = data(6, names, "m"), data(4, names[:5], "r"), data(3, names[5:], "a")
    if hasattr(anndata.AnnData, "concatenate"):
        pytest.skip("this anndata still has AnnData.concatenate")
    with pytest.raises(AttributeError, match="concatenate"):
        scvi.data.organize_multiome_anndatas(multi, rna, atac)
    out = anndata.concat([multi, rna, atac], join="outer", label="modality",
                         keys=["paired", "expression", "accessibility"], index_unique="_",
                         fill_value=0)[:, multi.var_names].copy()  # the fix
    assert out.shape == (13, 10)
    assert out.obs["modality"].value_counts().to_dict() == {"paired": 6, "expression": 4,
                                                            "accessibility": 3}


def test_second_setup_on_one_anndata_rewrites_the_first_models_codes():
    """setup_anndata stores a categorical field as codes in adata.obs["_scvi_batch"], and
    training reads those codes without checking that the AnnData was last set up for this
    model: after a second setup_anndata (no batch_key) on the same AnnData, the first model
    (n_batch=2) trains with every cell in batch 0, silently. One copy per setup (the fix)
    keeps its codes."""
    seen = []

    def spy_on(model):
        inference = model.module.inference

        def spy(*args, **kwargs):
            seen.append(set(torch.unique(kwargs["batch_index"]).tolist()))
            return inference(*args, **kwargs)
        model.module.inference = spy

    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    with_batch = scvi.model.SCVI(adata, n_latent=4)
    scvi.model.SCVI.setup_anndata(adata)  # a second model's setup, on the same object
    scvi.model.SCVI(adata, n_latent=4)
    spy_on(with_batch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with_batch.train(**FAST)
    assert not [w for w in caught if "batch" in str(w.message).lower()
                and "log_every_n_steps" not in str(w.message)]  # nothing tells
    assert with_batch.summary_stats.n_batch == 2 and set().union(*seen) == {0}
    seen.clear()
    own = adata.copy()  # the fix
    scvi.model.SCVI.setup_anndata(own, batch_key="batch")
    fixed = scvi.model.SCVI(own, n_latent=4)
    spy_on(fixed)
    fixed.train(**FAST)
    assert set().union(*seen) == {0, 1}


def test_trainer_config_max_epochs_and_accelerator_are_dropped():
    """TrainerConfig has max_epochs, accelerator and devices fields, but the train runner
    pops them from the merged trainer kwargs and uses train()'s own: TrainerConfig(
    max_epochs=1) under train(max_epochs=3) trains 3 epochs, and TrainerConfig(
    accelerator="gpu") trains on the CPU here without an error, where train(accelerator=
    "gpu") raises. train()'s own arguments (the fix) apply."""
    model = _scvi()
    model.train(max_epochs=3, accelerator="cpu", enable_progress_bar=False,
                trainer_config=TrainerConfig(max_epochs=1))
    assert model.trainer.max_epochs == 3 and len(model.history["elbo_train"]) == 3
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: accelerator='gpu' would work either way")
    model.train(max_epochs=1, enable_progress_bar=False,
                trainer_config=TrainerConfig(accelerator="gpu", devices=1))
    assert type(model.trainer.accelerator).__name__ == "CPUAccelerator"
    with pytest.raises(Exception, match="gpu"):
        model.train(max_epochs=1, accelerator="gpu", enable_progress_bar=False)


def test_retraining_redraws_the_split_and_restarts_the_kl_warmup():
    """Each train() builds a new data splitter and training plan: with scvi.settings.seed
    unset, a second train() draws a new split, so earlier training cells sit in the new
    validation set, and the KL warm-up starts again from 0. A seed set before training and
    plan_kwargs={"n_epochs_kl_warmup": None} (the fix) keep the split and the full weight."""
    from lightning.pytorch.callbacks import Callback

    class Weights(Callback):
        def __init__(self):
            self.seen = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.seen.append(round(float(pl_module.kl_weight), 3))

    before = scvi.settings.seed
    try:
        scvi.settings.seed = None  # unset, as after import
        model = _scvi()
        kwargs = {"max_epochs": 4, "accelerator": "cpu", "enable_progress_bar": False,
                  "plan_kwargs": {"n_epochs_kl_warmup": 4}}
        first, second = Weights(), Weights()
        model.train(callbacks=[first], **kwargs)
        trained = set(model.train_indices)
        model.train(callbacks=[second], **kwargs)
        assert first.seen == second.seen == [0.0, 0.25, 0.5, 0.75]
        assert set(model.validation_indices) & trained
        scvi.settings.seed = 0  # the fix
        model = _scvi()
        model.train(**kwargs)
        trained = set(model.train_indices)
        scvi.settings.seed = 0
        third = Weights()
        model.train(callbacks=[third], **{**kwargs, "plan_kwargs": {"n_epochs_kl_warmup": None}})
        assert set(model.train_indices) == trained and third.seen == [1.0] * 4
    finally:
        scvi.settings.seed = before


def test_spatial_models_take_the_reference_genes_by_position():
    """DestVI.from_rna_model and SpatialStereoscope.from_rna_model never compare the spatial
    AnnData's var_names with the reference model's: spatial data holding the same genes in
    another order builds, without an error or a warning, a model whose per-gene parameters
    are the reference's in the reference's order, so each spatial gene is read with another
    gene's parameters. Reordering the spatial data to the reference's genes (the fix) lines
    them up."""
    sc, sc_model = _condscvi_reference(prior="mog", num_classes_mog=10)
    st = sc[:, sc.var_names[::-1]].copy()  # the same genes, reversed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        destvi = scvi.model.DestVI.from_rna_model(st, sc_model)
    assert not [w for w in caught if "gene" in str(w.message).lower()
                or "var_names" in str(w.message)]
    assert list(destvi.adata.var_names) == list(sc.var_names[::-1])
    torch.testing.assert_close(destvi.module.px_r.detach(), sc_model.module.px_r.detach())
    fixed = scvi.model.DestVI.from_rna_model(st[:, sc.var_names].copy(), sc_model)  # the fix
    assert list(fixed.adata.var_names) == list(sc.var_names)

    adata = _adata()
    scvi.external.RNAStereoscope.setup_anndata(adata, labels_key="labels")
    rna = scvi.external.RNAStereoscope(adata)
    rna.train(**FAST)
    spatial_adata = adata[:, adata.var_names[::-1]].copy()
    scvi.external.SpatialStereoscope.setup_anndata(spatial_adata)
    spatial = scvi.external.SpatialStereoscope.from_rna_model(spatial_adata, rna)
    rna_params = rna.module.get_params()
    assert list(spatial.adata.var_names) == list(adata.var_names[::-1])
    np.testing.assert_allclose(spatial.module.W.detach().cpu().numpy(),
                               np.asarray(rna_params[0]), rtol=1e-6)


def test_train_appends_its_callbacks_to_the_callers_list():
    """Trainer appends its own callbacks (the progress bar, early stopping, ...) to the list
    object passed as train(callbacks=...): the list changes under the caller, and passing it
    to a second train() fails ("multiple progress bar callbacks"). A fresh list for each
    train() (the fix) trains both."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    callbacks = [LearningRateMonitor()]
    _scvi().train(max_epochs=1, accelerator="cpu", callbacks=callbacks)
    assert [type(c).__name__ for c in callbacks] == ["LearningRateMonitor", "ProgressBar"]
    with pytest.raises(Exception, match="multiple progress bar callbacks"):
        _scvi().train(max_epochs=1, accelerator="cpu", callbacks=callbacks)
    for _ in range(2):  # the fix
        model = _scvi()
        model.train(max_epochs=1, accelerator="cpu", callbacks=[LearningRateMonitor()])
        assert model.is_trained


def test_optimizer_creator_needs_the_custom_optimizer():
    """plan_kwargs={"optimizer_creator": f} is read only when optimizer="Custom"; with the
    default optimizer="Adam" it is ignored without a warning and Adam trains.
    optimizer="Custom" with the creator (the fix) uses it."""
    def sgd(params):
        return torch.optim.SGD(params, lr=0.05)

    model = _scvi()
    model.train(**FAST, plan_kwargs={"optimizer_creator": sgd})
    optimizer = model.trainer.optimizers[0]
    assert type(optimizer).__name__ == "Adam"
    model.train(**FAST, plan_kwargs={"optimizer": "Custom", "optimizer_creator": sgd})
    optimizer = model.trainer.optimizers[0]
    assert type(optimizer).__name__ == "SGD" and optimizer.param_groups[0]["lr"] == 0.05


def test_validation_size_alone_keeps_train_size_at_ninety_percent():
    """With train_size unset, the splitter takes train_size=0.9 even when validation_size is
    given: validation_size=0.2 raises ValueError "train_size + validation_size must be between
    0 and 1", and validation_size=0.05 leaves 5% of the cells in an unused test set. Both
    sizes given (the fix) split as asked."""
    model = _scvi()
    with pytest.raises(ValueError, match="train_size \\+ validation_size must be between"):
        model.train(**FAST, validation_size=0.2)
    model.train(**FAST, validation_size=0.05)
    n = model.adata.n_obs
    assert (len(model.train_indices), len(model.validation_indices),
            len(model.test_indices)) == (72, 4, 4) and n == 80
    model.train(**FAST, train_size=0.8, validation_size=0.2)  # the fix
    assert (len(model.train_indices), len(model.validation_indices),
            len(model.test_indices)) == (64, 16, 0)


def test_poissonvi_failed_accessibility_call_leaves_region_factors_zero():
    """POISSONVI.get_normalized_accessibility (normalize_regions=False, the default) sets the
    decoder bias, the region factors, to zero, calls get_normalized_expression and only then
    puts it back: a call that raises in between (a transform_batch that is not a batch)
    leaves the region factors at zero for the rest of the session, silently. Restoring a
    copy of the bias taken before (the fix) brings them back."""
    model = _poissonvi(batch_key="batch")
    model.train(**FAST)
    before = np.asarray(model.get_region_factors()).copy()
    assert np.abs(before).max() > 0
    saved = model.module.decoder.px_scale_decoder[-2].bias.detach().clone()
    with pytest.raises(ValueError, match="not a valid batch category"):
        model.get_normalized_accessibility(transform_batch="no_such_batch")
    assert np.abs(np.asarray(model.get_region_factors())).max() == 0
    model.module.decoder.px_scale_decoder[-2].bias = torch.nn.Parameter(saved.clone())  # fix
    np.testing.assert_allclose(np.asarray(model.get_region_factors()), before, rtol=1e-6)


def test_linear_scvi_takes_vae_keywords_it_ignores():
    """LinearSCVI (LDVAE) builds its encoders with batch norm, no layer norm and no
    covariates whatever model_kwargs say: encode_covariates=True and use_layer_norm="both"
    are taken and change no layer; its use_batch_norm is a bool, so SCVI's string "none" is
    true: the decoder keeps its BatchNorm and get_loadings, which tests `is True`, returns
    the raw weights without the BatchNorm scaling. use_batch_norm=False (the fix) builds the
    decoder without BatchNorm."""
    adata = _adata()
    scvi.model.LinearSCVI.setup_anndata(adata, batch_key="batch")

    def n_norms(module, kind):
        return sum(type(m).__name__ == kind for m in module.modules())

    plain = scvi.model.LinearSCVI(adata, n_latent=4)
    extra = scvi.model.LinearSCVI(adata, n_latent=4, encode_covariates=True,
                                  use_layer_norm="both")
    assert n_norms(extra.module.z_encoder, "LayerNorm") == 0
    assert [p.shape for p in extra.module.z_encoder.parameters()] == \
        [p.shape for p in plain.module.z_encoder.parameters()]
    none = scvi.model.LinearSCVI(adata, n_latent=4, use_batch_norm="none")
    none.train(**FAST)
    layer = none.module.decoder.factor_regressor.fc_layers[0]
    assert type(layer[1]).__name__ == "BatchNorm1d"  # kept
    weights = layer[0].weight.detach().cpu().numpy()[:, :-2]  # the two batch columns dropped
    np.testing.assert_allclose(none.get_loadings().to_numpy(), weights, rtol=1e-6)
    batch_norm = layer[1]
    scaled = (batch_norm.weight / torch.sqrt(batch_norm.running_var + batch_norm.eps)
              ).detach().cpu().numpy()[:, None] * weights
    assert not np.allclose(scaled, weights)  # what the loadings leave out
    fixed = scvi.model.LinearSCVI(adata, n_latent=4, use_batch_norm=False)  # the fix
    assert n_norms(fixed.module.decoder.factor_regressor, "BatchNorm1d") == 0


def test_cytovi_rna_imputation_needs_a_dense_layer():
    """CYTOVI.impute_rna_from_reference indexes the reference RNA layer with a 2-D array of
    neighbour indices, which a scipy sparse layer (how RNA layers are usually stored) does
    not allow: IndexError "Indexing that leads to >2D is not supported by csr format". A
    dense layer (the fix) imputes."""

    rng = np.random.default_rng(0)
    protein = anndata.AnnData(rng.normal(size=(200, 8)).astype(np.float32))
    protein.obs_names = [f"c{i}" for i in range(200)]
    protein.obs["batch"] = np.where(np.arange(200) < 100, "CITE_seq", "flow")
    scvi.external.CYTOVI.setup_anndata(protein, batch_key="batch")
    model = scvi.external.CYTOVI(protein)
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    rna = anndata.AnnData(sp.csr_matrix(rng.poisson(1, size=(100, 15)).astype(np.float32)))
    rna.obs_names = protein.obs_names[:100]
    rna.layers["normalized"] = rna.X.copy()
    kwargs = {"reference_batch": "CITE_seq", "adata_rna": rna, "layer_key": "normalized",
              "return_query_only": True}
    with pytest.raises(IndexError, match="not supported by csr format"):
        model.impute_rna_from_reference(**kwargs)
    rna.layers["normalized"] = rna.X.toarray()  # the fix
    assert model.impute_rna_from_reference(**kwargs).shape == (100, 15)


def test_mudata_query_inplace_subset_fails_after_changing_the_query():
    """TOTALVI.load_query_data(mdata, reference, inplace_subset_query_vars=True) subsets each
    modality, then runs the AnnData path on the MuData itself: AttributeError "'MuData'
    object has no attribute '_inplace_subset_var'", after the query's RNA has lost its extra
    genes. Subsetting each modality to the reference's genes yourself, then the default
    inplace_subset_query_vars=False (the fix), maps the query."""
    import anndata as ad
    import mudata

    def cite(batch_prefix):
        data = synthetic_iid(batch_size=40, n_genes=20, n_proteins=5, n_batches=2,
                             return_mudata=True)
        out = mudata.MuData({"rna": data.mod["rna"].copy(),
                             "protein_expression": data.mod["protein_expression"].copy()})
        out.obs["batch"] = [batch_prefix + str(b) for b in data.obs["batch"]]
        return out

    reference = cite("")
    scvi.model.TOTALVI.setup_mudata(reference, batch_key="batch",
                                    modalities={"rna_layer": "rna",
                                                "protein_layer": "protein_expression"})
    model = scvi.model.TOTALVI(reference, n_latent=4)
    model.train(**FAST)

    def query():
        source = cite("q_")
        rna = source.mod["rna"]
        extra = ad.AnnData(np.ones((rna.n_obs, 3), dtype=np.float32))
        extra.obs_names, extra.var_names = rna.obs_names, ["x1", "x2", "x3"]
        out = mudata.MuData({"rna": ad.concat([rna, extra], axis=1),
                             "protein_expression": source.mod["protein_expression"]})
        out.obs["batch"] = source.obs["batch"].to_numpy()
        return out

    mdata = query()
    assert mdata.mod["rna"].n_vars == 23
    with pytest.raises(AttributeError, match="_inplace_subset_var"):
        scvi.model.TOTALVI.load_query_data(mdata, model, inplace_subset_query_vars=True)
    assert mdata.mod["rna"].n_vars == 20  # changed before the failure
    fixed = query()
    for name in fixed.mod:  # the fix
        fixed.mod[name]._inplace_subset_var(model.get_var_names()[name])
    mapped = scvi.model.TOTALVI.load_query_data(fixed, model)
    mapped.train(**FAST)
    assert mapped.get_latent_representation().shape == (fixed.n_obs, 4)


def test_minify_adata_reads_a_stored_latent_posterior():
    """minify_adata() does not compute the latent posterior: it reads
    adata.obsm["X_latent_qzm"] and ["X_latent_qzv"] (its use_latent_qz*_key, documented as
    the keys "for storing"), so on a model whose AnnData lacks them it raises KeyError
    'X_latent_qzm', and whatever they hold (another model's posterior) becomes the minified
    model's latent, silently. Storing the model's own posterior first (the fix) minifies
    it."""
    model = _scvi()
    model.train(**FAST)
    with pytest.raises(KeyError, match="X_latent_qzm"):
        model.minify_adata()
    stale = np.full((model.adata.n_obs, 4), 7.0, dtype=np.float32)
    model.adata.obsm["X_latent_qzm"], model.adata.obsm["X_latent_qzv"] = stale, stale
    model.minify_adata()
    np.testing.assert_array_equal(model.get_latent_representation(), stale)
    fixed = _scvi()  # the fix
    fixed.train(**FAST)
    qzm, qzv = fixed.get_latent_representation(return_dist=True)
    fixed.adata.obsm["X_latent_qzm"], fixed.adata.obsm["X_latent_qzv"] = qzm, qzv
    fixed.minify_adata()
    np.testing.assert_allclose(fixed.get_latent_representation(), qzm, rtol=1e-6)


def test_condscvi_confusion_coarse_celltypes_raises_keyerror_y():
    """CondSCVI.confusion_coarse_celltypes() swaps each minibatch's labels under the key "y",
    which its data loaders do not carry (they carry "labels"): every call raises KeyError
    'y'. The computation it documents (the reconstruction loss with every cell's label
    set to each cell type in turn) runs with the key "labels" (the fix)."""
    import torch

    sc, model = _condscvi_reference()
    with pytest.raises(KeyError, match="'y'"):
        model.confusion_coarse_celltypes()
    tensors = next(iter(model._make_data_loader(sc, batch_size=sc.n_obs)))  # the fix
    loss = {}
    with torch.inference_mode():
        for code, label in enumerate(model._label_mapping):
            swapped = dict(tensors, labels=torch.full_like(tensors["labels"], code))
            per_term = model.module(swapped, loss_kwargs={"kl_weight": 1})[2].reconstruction_loss
            loss[label] = sum(per_term.values())
    assert set(loss) == {"label_0", "label_1"} and loss["label_0"].shape == (sc.n_obs,)
    assert not torch.equal(loss["label_0"], loss["label_1"])


def test_gimvi_methods_take_only_the_training_anndatas(tmp_path):
    """GIMVI's get_latent_representation(adatas) and get_imputed_values(adatas) take a list
    of AnnDatas but build loaders without registering them: two new AnnDatas, set up with
    GIMVI.setup_anndata or copied from the training ones, fail (AttributeError
    '_adata_manager' for copies, AssertionError "AnnDataManager not found" for AnnDatas set
    up anew). A GIMVI built on the
    new AnnDatas with the trained weights loaded (the fix; same genes and batches) returns
    the trained model's latents."""
    import anndata as ad
    from scvi.external import GIMVI

    seq = _adata()
    spatial = seq[:, :10].copy()
    spatial.obs_names = [f"s{i}" for i in range(spatial.n_obs)]
    GIMVI.setup_anndata(seq, batch_key="batch")
    GIMVI.setup_anndata(spatial, batch_key="batch")
    model = GIMVI(seq, spatial, n_latent=4)
    model.train(**FAST)

    def reversed_copy(adata):
        new = ad.AnnData(adata.X[::-1].copy(), obs=adata.obs.iloc[::-1].copy(),
                         var=adata.var.copy())
        GIMVI.setup_anndata(new, batch_key="batch")
        return new

    new_seq, new_spatial = reversed_copy(seq), reversed_copy(spatial)
    with pytest.raises(AssertionError, match="AnnDataManager not found"):
        model.get_latent_representation([new_seq, new_spatial])
    with pytest.raises(AssertionError, match="AnnDataManager not found"):
        model.get_imputed_values([new_seq, new_spatial])
    with pytest.raises(AttributeError, match="_adata_manager"):
        model.get_latent_representation([seq[:30].copy(), spatial[:30].copy()])
    fixed = GIMVI(new_seq, new_spatial, n_latent=4)  # the fix
    fixed.module.load_state_dict(model.module.state_dict())
    fixed.is_trained_ = True
    np.testing.assert_allclose(fixed.get_latent_representation()[0],
                               model.get_latent_representation()[0][::-1], rtol=1e-5)


def test_totalvi_feature_correlation_ignores_adata(tmp_path):
    """TOTALVI.get_feature_correlation_matrix(adata=...) validates the AnnData but samples
    from the training AnnData (its _get_denoised_samples call gets no adata; SCVI's passes
    it): with the same seed, another AnnData gives the training data's matrix exactly. Its
    log_transform=True raises AttributeError (no attribute 'n_genes'). indices= (cells of
    the training AnnData) and a model loaded with the other AnnData (the fix) do change it."""
    model = _totalvi()
    model.train(**FAST)
    other = model.adata[:40].copy()
    other.X = other.X * 0 + 1
    other.obsm["protein_expression"] = other.obsm["protein_expression"] * 0 + 5

    def matrix(m, **kwargs):
        scvi.settings.seed = 1
        return m.get_feature_correlation_matrix(n_samples=2, **kwargs).to_numpy()

    training = matrix(model)
    np.testing.assert_array_equal(matrix(model, adata=other), training)
    with pytest.raises(AttributeError, match="n_genes"):
        model.get_feature_correlation_matrix(n_samples=2, log_transform=True)
    assert not np.array_equal(matrix(model, indices=np.arange(40)), training, equal_nan=True)
    model.save(str(tmp_path / "model"))
    loaded = scvi.model.TOTALVI.load(str(tmp_path / "model"), adata=other)  # the fix
    assert not np.array_equal(matrix(loaded), training, equal_nan=True)


def test_velovi_hard_assignment_fails_on_a_subset():
    """VELOVI.get_state_assignment(hard_assignment=True) labels its argmax with every gene
    and cell of the AnnData, so with gene_list or indices it raises ValueError ("Shape of
    passed values is (80, 3), indices imply (80, 20)"); with return_mean=False it returns the
    per-state probabilities (samples, cells, genes, 4) and no hard assignment, silently.
    The probabilities of the subset (hard_assignment=False) and their argmax (the fix)
    work."""
    model = _velovi()
    model.train(**FAST)
    genes = list(model.adata.var_names[:3])
    with pytest.raises(ValueError, match=r"Shape of passed values is \(80, 3\)"):
        model.get_state_assignment(gene_list=genes, hard_assignment=True)
    with pytest.raises(ValueError, match=r"Shape of passed values is \(10, 20\)"):
        model.get_state_assignment(indices=np.arange(10), hard_assignment=True)
    probabilities, _ = model.get_state_assignment(hard_assignment=True, return_mean=False)
    assert np.asarray(probabilities).shape == (20, 80, 20, 4)  # n_samples=20 by default
    states, names = model.get_state_assignment(gene_list=genes)  # the fix
    hard = np.asarray(names)[states.argmax(-1)]
    assert hard.shape == (80, 3) and set(hard.ravel()) <= set(names)


def test_contrastivevi_latent_library_size_needs_give_mean_false():
    """ContrastiveVI.get_latent_library_size() with its default give_mean=True raises a
    ValueError about torch argument types ("Input arguments must all be instances of Number,
    torch.Tensor ...") on a default model: it observes the library size (no ql_m / ql_v to
    average) and the check meant to say so tests a tuple against None. give_mean=False (the
    fix) returns each cell's observed total count."""
    adata = _adata()
    scvi.external.ContrastiveVI.setup_anndata(adata)
    model, cells = _contrastivevi_on(adata)
    model.train(**FAST, **cells)
    with pytest.raises(ValueError, match="Input arguments must all be instances of Number"):
        model.get_latent_library_size()
    library = model.get_latent_library_size(give_mean=False).ravel()  # the fix
    np.testing.assert_allclose(library, np.asarray(adata.X.sum(1)).ravel(), rtol=1e-4)


def test_backed_anndata_returns_indices_sorted(tmp_path):
    """On an AnnData opened with backed="r", the dataset sorts each request's indices (h5py
    reads them in order), so get_latent_representation(indices=...) returns the cells in
    ascending order whatever order was asked, and get_normalized_expression labels those
    rows with obs_names[indices] as given: the labels sit on other cells, silently. In
    memory the order is kept. Sorted indices, the result put back in the asked order (the
    fix), match."""
    import anndata as ad
    from scipy import sparse

    adata = _adata()
    adata.X = sparse.csr_matrix(adata.X)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    backed = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    scvi.model.SCVI.setup_anndata(backed, batch_key="batch")
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    model.train(**FAST)
    every = model.get_latent_representation(adata)
    order = np.array([50, 3, 70, 7])
    np.testing.assert_allclose(model.get_latent_representation(adata, indices=order),
                               every[order], rtol=1e-5, atol=1e-6)
    got = model.get_latent_representation(backed, indices=order)
    np.testing.assert_allclose(got, every[np.sort(order)], rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, every[order])
    scvi.settings.seed = 0
    labelled = model.get_normalized_expression(backed, indices=order)
    scvi.settings.seed = 0
    truth = model.get_normalized_expression(adata, indices=np.sort(order))
    assert list(labelled.index) == list(adata.obs_names[order])
    np.testing.assert_allclose(labelled.to_numpy(), truth.to_numpy(), rtol=1e-5)
    asked = np.sort(order)  # the fix
    fixed = model.get_latent_representation(backed, indices=asked)[np.searchsorted(asked, order)]
    np.testing.assert_allclose(fixed, every[order], rtol=1e-5, atol=1e-6)


def test_indices_take_numpy_masks_only():
    """get_* methods read indices= as a boolean mask only when it has a numpy bool dtype: a
    Python list of booleans is indexed minibatch by minibatch, so it works while every cell
    fits in one minibatch and raises IndexError ("boolean index did not match ... boolean
    axis is 16", the batch size) once they do not; a numpy mask shorter than the AnnData is
    taken for its first cells without a word (AnnData itself refuses it). Positions from
    np.flatnonzero(mask) (the fix) select the cells at any batch size."""
    model = _trained_scvi()
    every = model.get_latent_representation()
    mask = (model.adata.obs["labels"] == "label_1").to_numpy()
    np.testing.assert_allclose(model.get_latent_representation(indices=mask.tolist()),
                               every[mask], rtol=1e-5, atol=1e-6)  # one minibatch of 80
    with pytest.raises(IndexError, match="boolean axis is 16"):
        model.get_latent_representation(indices=mask.tolist(), batch_size=16)
    short = mask[:40]
    np.testing.assert_allclose(model.get_latent_representation(indices=short),
                               every[:40][short], rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError):
        model.adata[short]
    positions = np.flatnonzero(mask)  # the fix
    np.testing.assert_allclose(model.get_latent_representation(indices=positions, batch_size=16),
                               every[mask], rtol=1e-5, atol=1e-6)


def _scanvi_labelled(n_labelled: int, n_cells_per_batch: int = 40):
    """SCANVI on synthetic cells of which the first ``n_labelled`` keep their label."""
    adata = _adata(n_cells_per_batch)
    labels = np.array(["unknown"] * adata.n_obs, dtype=object)
    labels[:n_labelled] = adata.obs["labels"].astype(str).to_numpy()[:n_labelled]
    adata.obs["some_labels"] = labels
    scvi.model.SCANVI.setup_anndata(adata, labels_key="some_labels",
                                    unlabeled_category="unknown", batch_key="batch")
    return scvi.model.SCANVI(adata, n_hidden=16, n_latent=4)


def test_scanvi_validation_fails_below_ten_labelled_cells():
    """With fewer than 10 labelled cells SCANVI's validation split gets none (it splits
    labelled and unlabelled cells 0.9 / 0.1 apart), and any validation (early_stopping=True,
    check_val_every_n_epoch) fails with ValueError "zip() argument 2 is shorter than
    argument 1"; training without validation runs. Ten labelled cells (the fix) validate."""
    model = _scanvi_labelled(9)
    model.train(**FAST)
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is shorter than argument 1"):
        model.train(check_val_every_n_epoch=1, **FAST)
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is shorter than argument 1"):
        _scanvi_labelled(9).train(early_stopping=True, **FAST)
    fixed = _scanvi_labelled(10)
    fixed.train(check_val_every_n_epoch=1, **FAST)
    assert "validation_loss" in fixed.history


def test_scanvi_default_split_can_leave_one_cell_minibatch():
    """SCANVI.train defaults to train_size=0.9 and splits labelled and unlabelled cells
    apart, so 105 labelled + 37 unlabelled cells give 95 + 34 = 129 training cells, a
    one-cell last minibatch at batch_size 128, and BatchNorm fails ("Expected more than 1
    value per channel") without the small-batch warning; SCVI on the same 142 cells trains.
    datasplitter_kwargs={"drop_last": True} does not help SCANVI (its labelled loader of 95
    cells then yields no minibatch: "zip() argument 2 is shorter"); another batch_size (the
    fix) trains."""
    model = _scanvi_labelled(105, n_cells_per_batch=71)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        model.train(**FAST)
    scvi.model.SCVI.setup_anndata(model.adata, batch_key="batch")
    scvi.model.SCVI(model.adata, n_hidden=16, n_latent=4).train(**FAST)
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is shorter"):
        _scanvi_labelled(105, n_cells_per_batch=71).train(datasplitter_kwargs={"drop_last": True},
                                                          **FAST)
    fixed = _scanvi_labelled(105, n_cells_per_batch=71)
    fixed.train(batch_size=100, **FAST)
    assert len(fixed.train_indices) == 129


def test_scanvi_has_no_load_sparse_tensor():
    """SCVI.train(load_sparse_tensor=True) trains from a sparse X; SCANVI.train has no such
    parameter: train(load_sparse_tensor=True) reaches Lightning's Trainer (TypeError
    "unexpected keyword argument 'load_sparse_tensor'"), and
    datasplitter_kwargs={"load_sparse_tensor": True} reaches torch's DataLoader (the same
    TypeError). Leaving it off (the fix) trains."""
    from scipy import sparse

    model = _scanvi()
    model.adata.X = sparse.csr_matrix(model.adata.X)
    with pytest.raises(TypeError, match="unexpected keyword argument 'load_sparse_tensor'"):
        model.train(load_sparse_tensor=True, **FAST)
    with pytest.raises(TypeError, match=r"DataLoader.__init__\(\) got an unexpected keyword"):
        model.train(datasplitter_kwargs={"load_sparse_tensor": True}, **FAST)
    reference = _scvi(batch_key="batch")
    reference.adata.X = sparse.csr_matrix(reference.adata.X)
    reference.train(load_sparse_tensor=True, **FAST)
    model.train(**FAST)  # the fix
    assert model.is_trained


def test_external_indexing_wants_every_cell_in_numpy_positions():
    """datasplitter_kwargs={"external_indexing": [train, validation]} takes numpy position
    arrays that together hold every cell: a pair that leaves cells out raises an exception
    of class Warning ("There are missing indices"), boolean masks raise "There are duplicate
    indexing in train set" though no cell repeats, and the caller's two-item list gets a
    third item appended. Three position arrays, train, validation and the rest (the fix),
    split as given."""
    model = _scvi(batch_key="batch")
    with pytest.raises(Warning, match="There are missing indices"):
        model.train(datasplitter_kwargs={"external_indexing": [np.arange(60),
                                                               np.arange(60, 72)]}, **FAST)
    mask = np.arange(model.adata.n_obs) < 70
    with pytest.raises(Warning, match="There are duplicate indexing in train set"):
        model.train(datasplitter_kwargs={"external_indexing": [mask, ~mask]}, **FAST)
    mine = [np.arange(70), np.arange(70, 80)]
    model.train(datasplitter_kwargs={"external_indexing": mine}, **FAST)
    assert len(mine) == 3
    split = [np.arange(60), np.arange(60, 72), np.arange(72, 80)]  # the fix
    model.train(datasplitter_kwargs={"external_indexing": split}, **FAST)
    assert len(model.train_indices) == 60 and len(model.validation_indices) == 12


def test_datasplitter_kwargs_cannot_repeat_train_arguments():
    """SCVI.train's docstring says its own arguments overwrite values in datasplitter_kwargs,
    but a key train() also passes (train_size, batch_size, shuffle_set_split) raises
    TypeError "got multiple values for keyword argument"; keys train() does not pass
    (drop_last) work. The setting given to train() itself (the fix) applies."""
    model = _scvi(batch_key="batch")
    for key, value in (("train_size", 0.8), ("batch_size", 64), ("shuffle_set_split", False)):
        with pytest.raises(TypeError, match=f"multiple values for keyword argument '{key}'"):
            model.train(datasplitter_kwargs={key: value}, **FAST)
    model.train(datasplitter_kwargs={"drop_last": True}, **FAST)
    model.train(train_size=0.8, batch_size=64, **FAST)  # the fix
    assert len(model.train_indices) == 64


def test_mudata_modalities_are_paired_by_position():
    """TOTALVI.setup_mudata checks only that every modality holds every cell, then reads
    each modality's rows by position: a protein modality with the same cells in another row
    order is paired row by row with other cells' RNA, and the model trains without an error
    or warning. Every modality put in one row order before setup (the fix) pairs them."""
    from mudata import MuData
    from scvi import REGISTRY_KEYS

    full = _cite_seq()
    rna, protein = full["rna"].copy(), full["protein_expression"].copy()
    protein.X = np.tile(np.arange(rna.n_obs, dtype=np.float32)[:, None], (1, protein.n_vars))
    shuffled = protein[np.random.default_rng(0).permutation(protein.n_obs)].copy()

    def registered(prot):
        mdata = MuData({"rna": rna.copy(), "protein_expression": prot})
        scvi.model.TOTALVI.setup_mudata(
            mdata, modalities={"rna_layer": "rna", "protein_layer": "protein_expression"})
        model = scvi.model.TOTALVI(mdata, n_latent=4)
        return model, np.asarray(model.adata_manager.get_from_registry(
            REGISTRY_KEYS.PROTEIN_EXP_KEY))[:, 0]

    model, cell_of_protein = registered(shuffled)
    assert set(shuffled.obs_names) == set(rna.obs_names)
    assert (cell_of_protein != np.arange(rna.n_obs)).mean() > 0.9  # another cell's proteins
    model.train(**FAST)
    _, fixed = registered(shuffled[rna.obs_names].copy())  # the fix
    np.testing.assert_array_equal(fixed, np.arange(rna.n_obs))


def test_mudata_batch_key_is_read_from_the_joint_obs():
    """setup_mudata(batch_key=...) of TOTALVI and MULTIVI reads the column from mdata.obs
    unless modalities maps "batch_key" to a modality: a column only in the RNA modality's
    obs raises KeyError "batch not found in adata.obs." (mudata does not copy modality
    columns up). modalities={..., "batch_key": "rna"} (the fix) finds it."""
    from mudata import MuData

    full = _cite_seq()
    rna = full["rna"].copy()
    rna.obs["batch"] = full.obs["batch"].to_numpy()

    def fresh():
        return MuData({"rna": rna.copy(), "protein_expression": full["protein_expression"].copy()})

    layers = {"rna_layer": "rna", "protein_layer": "protein_expression"}
    mdata = fresh()
    assert "batch" in mdata["rna"].obs and "batch" not in mdata.obs
    with pytest.raises(KeyError, match="batch not found in adata.obs"):
        scvi.model.TOTALVI.setup_mudata(mdata, batch_key="batch", modalities=layers)
    fixed = fresh()
    scvi.model.TOTALVI.setup_mudata(fixed, batch_key="batch",
                                    modalities={**layers, "batch_key": "rna"})
    assert scvi.model.TOTALVI(fixed, n_latent=4).summary_stats.n_batch == 2


def test_multivi_new_mudata_needs_an_indices_column():
    """MULTIVI.setup_mudata writes mdata.obs["_indices"] itself and registers it; a new
    MuData given to get_latent_representation is set up by transfer without that column and
    fails with KeyError "_indices not found in adata.obs.". A new MuData with its modalities
    in another order (ATAC first) is not reordered: get_normalized_expression labels the
    genes with the first modality's (peak) names. Adding the column and keeping RNA first
    (the fix) works."""
    from mudata import MuData

    mdata = _multivi_mudata()
    model = scvi.model.MULTIVI(mdata, n_latent=4)
    model.train(**FAST)

    def new(order):
        out = MuData({name: mdata[name].copy() for name in order})
        out.obs["batch"] = mdata.obs["batch"].to_numpy()
        return out

    with pytest.raises(KeyError, match="_indices not found in adata.obs"):
        model.get_latent_representation(new(["rna", "accessibility"]))
    atac_first = new(["accessibility", "rna"])
    atac_first.obs["_indices"] = np.arange(atac_first.n_obs)
    labels = model.get_normalized_expression(atac_first).columns
    assert list(labels) == list(mdata["accessibility"].var_names[:20])
    fixed = new(["rna", "accessibility"])  # the fix
    fixed.obs["_indices"] = np.arange(fixed.n_obs)
    assert model.get_latent_representation(fixed).shape == (fixed.n_obs, 4)
    assert list(model.get_normalized_expression(fixed).columns) == list(mdata["rna"].var_names)


def test_multivi_size_factor_key_is_two_obs_columns():
    """MULTIVI.setup_mudata documents size_factor_key as a key in mdata.obsm (first column
    RNA, second ATAC), but it joins mdata.obs columns: an obsm key raises KeyError "not
    found in adata.obs", one obs column named as a string fails in setup (ValueError "Obsm
    '_scvi_size_factor' needs to be of one of ..."), and a one-column list passes setup and
    fails in training (IndexError "index 1 is out of bounds"). A list of two mdata.obs
    columns (the fix) trains with the size factors."""
    from mudata import MuData

    def fresh():
        full = _multiome()
        out = MuData({"rna": full["rna"], "accessibility": full["accessibility"]})
        out.obs["batch"] = full.obs["batch"].to_numpy()
        out.obs["sf_rna"] = np.asarray(full["rna"].X.sum(1)).ravel() / 100 + 0.1
        out.obs["sf_atac"] = 0.5
        out.obsm["size_factors"] = out.obs[["sf_rna", "sf_atac"]].to_numpy()
        return out

    modalities = {"rna_layer": "rna", "atac_layer": "accessibility"}
    with pytest.raises(KeyError, match="size_factors not found in adata.obs"):
        scvi.model.MULTIVI.setup_mudata(fresh(), batch_key="batch", modalities=modalities,
                                        size_factor_key="size_factors")
    with pytest.raises(ValueError, match="Obsm '_scvi_size_factor' needs to be of one of"):
        scvi.model.MULTIVI.setup_mudata(fresh(), batch_key="batch", modalities=modalities,
                                        size_factor_key="sf_rna")
    one = fresh()
    scvi.model.MULTIVI.setup_mudata(one, batch_key="batch", modalities=modalities,
                                    size_factor_key=["sf_rna"])
    with pytest.raises(IndexError, match="index 1 is out of bounds"):
        scvi.model.MULTIVI(one, n_latent=4).train(**FAST)
    fixed = fresh()  # the fix
    scvi.model.MULTIVI.setup_mudata(fixed, batch_key="batch", modalities=modalities,
                                    size_factor_key=["sf_rna", "sf_atac"])
    model = scvi.model.MULTIVI(fixed, n_latent=4)
    model.train(**FAST)
    assert model.module.use_size_factor_key


def test_anndata_models_on_a_mudata_fail_with_data_type_not_understood():
    """SCVI, PEAKVI and POISSONVI have no setup_mudata; setup_anndata(mdata) reads mdata.X,
    which is None, and the count check raises TypeError "data type not understood", a
    message that names neither MuData nor modalities. The modality's AnnData (the fix) sets
    up."""
    mdata = _multiome()
    for cls in (scvi.model.SCVI, scvi.model.PEAKVI, scvi.external.POISSONVI):
        assert not hasattr(cls, "setup_mudata")
        with pytest.raises(TypeError, match="data type not understood"):
            cls.setup_anndata(mdata)
    rna = mdata["rna"].copy()  # the fix
    scvi.model.SCVI.setup_anndata(rna)
    assert scvi.model.SCVI(rna, n_latent=4).summary_stats.n_vars == 20


def test_read_10x_multiome_drops_the_barcode_suffix(tmp_path):
    """read_10x_multiome splits barcodes.tsv on "-": the suffix of an aggregated run ("-1",
    "-2") goes to obs["batch_id"], so cells of two GEM groups share one name, and
    obs_names_make_unique() then gives the "-1" name to a GEM group 2 cell. Gene symbols
    are the var_names, duplicates kept. Joining the suffix back (the fix) restores the
    10x names."""
    from scipy import io, sparse

    barcodes = ["AAACAGCCAAACAACA-1", "AAACAGCCAAACATAG-1", "AAACAGCCAAACAACA-2",
                "AAACAGCCAAACATAG-2"]
    features = [("ENSG01", "GENE1", "Gene Expression", "chr1", 100, 900),
                ("ENSG02", "GENE2", "Gene Expression", "chr1", 2000, 2900),
                ("ENSG03", "GENE2", "Gene Expression", "chr2", 500, 900),
                ("chr1:10-510", "chr1:10-510", "Peaks", "chr1", 10, 510)]
    counts = np.arange(1, 1 + len(features) * len(barcodes)).reshape(len(features), -1)
    io.mmwrite(tmp_path / "matrix.mtx", sparse.coo_matrix(counts))
    (tmp_path / "features.tsv").write_text(
        "".join("\t".join(map(str, row)) + "\n" for row in features))
    (tmp_path / "barcodes.tsv").write_text("".join(b + "\n" for b in barcodes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = scvi.data.read_10x_multiome(str(tmp_path))
    assert list(adata.obs_names) == [b.split("-")[0] for b in barcodes]
    assert not adata.obs_names.is_unique and not adata.var_names.is_unique
    unique = adata.copy()
    unique.obs_names_make_unique()
    assert unique.obs_names[3] == "AAACAGCCAAACATAG-1" and unique.obs["batch_id"].iloc[3] == 2
    adata.obs_names = adata.obs_names + "-" + adata.obs["batch_id"].astype(str)  # the fix
    assert list(adata.obs_names) == barcodes




def test_de_group_without_cells_raises_zero_division():
    """differential_expression(groupby=..., group1=g) builds group1's cells as
    obs[groupby] == g and never checks that any matched: a value the column does not hold
    (group1=0 for leiden's string clusters "0", "1"; a typo) raises ZeroDivisionError
    ("integer division or modulo by zero"), and so does an unused category when group1 is
    left out (every category is compared). Labels written as stored and unused categories
    removed (the fix) run."""
    model = _trained_scvi()
    obs = model.adata.obs
    obs["leiden"] = obs["labels"].cat.rename_categories({"label_0": "0", "label_1": "1"})
    with pytest.raises(ZeroDivisionError):
        model.differential_expression(groupby="leiden", group1=0)
    obs["cluster"] = pd.Categorical(obs["leiden"].astype(str), categories=["0", "1", "2"])
    with pytest.raises(ZeroDivisionError):
        model.differential_expression(groupby="cluster")
    assert len(model.differential_expression(groupby="leiden", group1="0")) == 20  # the fix
    obs["cluster"] = obs["cluster"].cat.remove_unused_categories()
    assert set(model.differential_expression(groupby="cluster")["group1"]) == {"0", "1"}


def test_de_overlapping_idx_cells_count_for_group2_only():
    """differential_expression(idx1=..., idx2=...) labels idx1's cells, then idx2's over
    them: cells in both masks are compared as group 2 only, without a warning (raw_mean1 is
    the mean over idx1 without them). Disjoint masks (the fix) keep group 1 whole."""
    model = _trained_scvi()
    x = np.asarray(model.adata.X)
    idx1 = (model.adata.obs["labels"] == "label_0").to_numpy()
    idx2 = (model.adata.obs["batch"] == "batch_0").to_numpy()
    assert (idx1 & idx2).sum() > 0
    result = model.differential_expression(idx1=idx1, idx2=idx2)
    means = result["raw_mean1"].reindex(model.adata.var_names).to_numpy()
    np.testing.assert_allclose(means, x[idx1 & ~idx2].mean(0), rtol=1e-5)
    assert not np.allclose(means, x[idx1].mean(0), rtol=1e-3)
    fixed = model.differential_expression(idx1=idx1, idx2=idx2 & ~idx1)  # the fix
    np.testing.assert_allclose(fixed["raw_mean1"].reindex(model.adata.var_names).to_numpy(),
                               x[idx1].mean(0), rtol=1e-5)


def test_de_idx_series_is_read_by_position():
    """differential_expression(idx1=series) reads a pandas boolean Series by position, not
    by its index: a Series in another cell order selects other cells, silently; a list of
    obs_names raises IndexError ("arrays used as indices must be of integer (or boolean)
    type"). The Series aligned to adata.obs_names, as a numpy array (the fix), selects the
    right cells."""
    model = _trained_scvi()
    x = np.asarray(model.adata.X)
    mask = model.adata.obs["labels"] == "label_0"
    shuffled = mask.sample(frac=1, random_state=0)
    result = model.differential_expression(idx1=shuffled)
    means = result["raw_mean1"].reindex(model.adata.var_names).to_numpy()
    np.testing.assert_allclose(means, x[shuffled.to_numpy()].mean(0), rtol=1e-5)
    assert not np.allclose(means, x[mask.to_numpy()].mean(0), rtol=1e-3)
    with pytest.raises(IndexError, match="arrays used as indices must be of integer"):
        model.differential_expression(idx1=list(model.adata.obs_names[mask.to_numpy()]))
    aligned = shuffled.reindex(model.adata.obs_names).to_numpy()  # the fix
    fixed = model.differential_expression(idx1=aligned)
    np.testing.assert_allclose(fixed["raw_mean1"].reindex(model.adata.var_names).to_numpy(),
                               x[mask.to_numpy()].mean(0), rtol=1e-5)


def test_de_filter_outlier_cells_drops_a_tenth():
    """filter_outlier_cells=True fits sklearn's EllipticEnvelope with its default
    contamination=0.1 on the latent representation, so each group loses a tenth of its
    cells whether or not any is an outlier, and no argument sets the share; the raw-count
    columns still use every cell. Leaving it off (the default) keeps every cell."""
    from scvi.model.base._differential import DifferentialComputation

    model = _trained_scvi()
    computation = DifferentialComputation(model.get_normalized_expression,
                                          model.get_latent_representation, model.adata_manager)
    for label in ("label_0", "label_1"):
        cells = (model.adata.obs["labels"] == label).to_numpy()
        kept = computation.filter_outlier_cells(cells)
        assert len(kept) == cells.sum() - int(np.ceil(0.1 * cells.sum()))
    x = np.asarray(model.adata.X)
    result = model.differential_expression(groupby="labels", group1="label_0",
                                           filter_outlier_cells=True)
    cells = (model.adata.obs["labels"] == "label_0").to_numpy()
    np.testing.assert_allclose(result["raw_mean1"].reindex(model.adata.var_names).to_numpy(),
                               x[cells].mean(0), rtol=1e-5)


def test_de_change_mode_fails_on_duplicate_gene_names():
    """With duplicate var_names, differential_expression(mode="change") raises ValueError
    "cannot reindex on an axis with duplicate labels"; the default vanilla mode runs.
    var_names_make_unique() before setup (the fix) lets change mode run."""
    def model_with(names):
        adata = _adata()
        adata.var_names = names
        scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
        model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
        model.train(**FAST)
        return model

    names = [f"g{i % 19}" for i in range(20)]  # g0 twice
    model = model_with(names)
    assert len(model.differential_expression(groupby="labels", group1="label_0")) == 20
    with pytest.raises(ValueError, match="cannot reindex on an axis with duplicate labels"):
        model.differential_expression(groupby="labels", group1="label_0", mode="change")
    unique = pd.Index(names)
    fixed = model_with(anndata.utils.make_index_unique(unique))  # the fix
    assert len(fixed.differential_expression(groupby="labels", group1="label_0",
                                             mode="change")) == 20


def test_de_raw_normalized_means_reuse_cached_library_sizes():
    """The raw-count columns' raw_normalized_mean1/2 scale each cell by totals cached in
    adata.obs["_scvi_raw_norm_scaling"] on the first DE call and reused by every later one:
    a gene subset copied from that AnnData (another model, other totals) reports means
    scaled by the old totals. Deleting the column before DE (the fix) recomputes them."""
    model = _trained_scvi()
    model.differential_expression(groupby="labels", group1="label_0")
    assert "_scvi_raw_norm_scaling" in model.adata.obs
    subset = model.adata[:, :10].copy()
    scvi.model.SCVI.setup_anndata(subset, batch_key="batch")
    small = scvi.model.SCVI(subset, n_hidden=16, n_latent=4)
    small.train(**FAST)
    x = np.asarray(subset.X)
    cells = (subset.obs["labels"] == "label_0").to_numpy()
    own = (x / x.sum(1, keepdims=True) * 1e4)[cells].mean(0)
    stale = small.differential_expression(groupby="labels", group1="label_0")
    got = stale["raw_normalized_mean1"].reindex(subset.var_names).to_numpy()
    assert not np.allclose(got, own, rtol=1e-3)
    del subset.obs["_scvi_raw_norm_scaling"]  # the fix
    fixed = small.differential_expression(groupby="labels", group1="label_0")
    np.testing.assert_allclose(fixed["raw_normalized_mean1"].reindex(subset.var_names)
                               .to_numpy(), own, rtol=1e-4)


def test_multivi_differential_expression_uses_the_latent_mean():
    """MULTIVI.differential_expression decodes each cell's latent mean (its model_fn is
    get_normalized_expression, whose use_z_mean=True), so repeated draws of a cell are
    identical: one cell against another gives lfc_std ~0 and proba_de only 0 or 1, where
    SCVI's DE samples the posterior. Its differential_accessibility passes use_z_mean=False.
    Setting get_normalized_expression to a partial with use_z_mean=False (the fix) brings
    the posterior spread back."""
    model = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    model.train(**FAST)
    labels = model.adata.obs["labels"].to_numpy()
    one, other = [int(np.flatnonzero(labels == label)[0]) for label in ("label_0", "label_1")]
    result = model.differential_expression(idx1=[one], idx2=[other], delta=0.01)
    assert result["lfc_std"].max() < 1e-3
    assert set(result["proba_de"].round(6)) <= {0.0, 1.0}
    model.get_normalized_expression = functools.partial(  # the fix
        type(model).get_normalized_expression, model, use_z_mean=False)
    sampled = model.differential_expression(idx1=[one], idx2=[other], delta=0.01)
    assert sampled["lfc_std"].min() > 1e-2
    assert sampled["proba_de"].nunique() > 2


def test_peakvi_differential_accessibility_all_groups_loses_the_comparison():
    """PEAKVI.differential_accessibility(groupby=...) without group1 compares every group to
    the rest but rebuilds the frame from chosen columns: one row per region per group under
    a repeated region index, with no comparison, group1 or group2 column (which row is which
    group is lost). MULTIVI's raises ValueError "cannot reindex on an axis with duplicate
    labels". One call per group1 (the fix) keeps them apart."""
    peakvi = _peakvi()
    peakvi.train(**FAST)
    every = peakvi.differential_accessibility(groupby="labels")
    assert len(every) == 2 * peakvi.adata.n_vars and not every.index.is_unique
    assert not {"comparison", "group1", "group2"} & set(every.columns)
    multivi = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    multivi.train(**FAST)
    with pytest.raises(ValueError, match="cannot reindex on an axis with duplicate labels"):
        multivi.differential_accessibility(groupby="labels")
    per_group = {g: peakvi.differential_accessibility(groupby="labels", group1=g)  # the fix
                 for g in ("label_0", "label_1")}
    assert all(frame.index.is_unique for frame in per_group.values())


def test_mrvi_differential_expression_needs_categorical_covariates():
    """MRVI.differential_expression(sample_cov_keys=...) reads covariates from the sample
    table built with the model: a column added to obs later raises KeyError; after
    update_sample_info a string column (pandas' str dtype, as obs.map makes it) raises
    ValueError "could not convert string to float", since only the category dtype is taken
    as categories. The column as a category, then update_sample_info (the fix), runs."""
    model = _mrvi()
    model.train(**FAST)
    adata = model.adata
    adata.obs["status"] = adata.obs["sample"].map(
        {"sample_0": "healthy", "sample_1": "healthy", "sample_2": "ill", "sample_3": "ill"})
    with pytest.raises(KeyError, match="status"):
        model.differential_expression(sample_cov_keys=["status"], batch_size=adata.n_obs)
    adata.obs["status"] = adata.obs["status"].astype(str)
    model.update_sample_info(adata)
    with pytest.raises(ValueError, match="could not convert string to float"):
        model.differential_expression(sample_cov_keys=["status"], batch_size=adata.n_obs)
    adata.obs["status"] = adata.obs["status"].astype("category")  # the fix
    model.update_sample_info(adata)
    result = model.differential_expression(sample_cov_keys=["status"], batch_size=adata.n_obs)
    assert list(result.covariate.values) == ["status_ill"]


def _autotune():
    """ray[tune], hyperopt and scib-metrics (scvi-tools' autotune extra), or a skip: the
    skill's environment does not install them, so these proofs run where they are present."""
    for module in ("ray.tune", "hyperopt", "scib_metrics"):
        pytest.importorskip(module)
    from ray import tune
    from scvi.autotune import run_autotune

    adata = _adata(75)
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch", labels_key="labels")
    return tune, functools.partial(run_autotune, scvi.model.SCVI, adata, num_samples=2,
                                   resources={"cpu": 1}, ignore_reinit_error=True)


def test_autotune_training_metric_reported_once_and_best_result_needs_the_metric(tmp_path):
    """run_autotune reports each trial's metrics at every validation end only when the first
    metric's name holds "validation"; otherwise once, at the end of training, so ASHA and
    the other early-stopping schedulers get one result per trial (nothing to stop early).
    Its Tuner has no metric or mode, so result_grid.get_best_result() raises ValueError "No
    metric is provided". A "..._validation" metric first, and get_best_result(metric=...,
    mode=...) (the fix), give per-epoch reports and the best trial."""
    tune, sweep = _autotune()
    space = {"model_params": {"n_hidden": tune.choice([8, 16])}, "train_params": {"max_epochs": 3}}
    reports = {}
    for metric in ("elbo_train", "elbo_validation"):
        experiment = sweep(metrics=metric, mode="min", search_space=space, scheduler="asha",
                           logging_dir=str(tmp_path / metric))
        reports[metric] = experiment.result_grid.get_dataframe()["training_iteration"].tolist()
    assert reports == {"elbo_train": [1, 1], "elbo_validation": [3, 3]}
    with pytest.raises(ValueError, match="No metric is provided"):
        experiment.result_grid.get_best_result()
    best = experiment.result_grid.get_best_result(metric=experiment.metrics[0],
                                                  mode=experiment.mode)  # the fix
    assert best.config["model_params"]["n_hidden"] in (8, 16)


def test_autotune_unlogged_metric_blames_tune_report(tmp_path):
    """A metric name the model does not log ("val_loss"; the user guide's "Leiden") trains
    every trial and reports nothing, and run_autotune raises Ray's TuneError around a
    ValueError "Trial returned a result which did not include the specified metric(s) ...
    Make sure your calls to `tune.report()` include the metric", about code the user never
    wrote. A logged name (the fix), elbo_validation, runs."""
    tune, sweep = _autotune()
    space = {"train_params": {"max_epochs": 1}, "model_params": {"n_latent": tune.choice([4, 8])}}
    with pytest.raises(Exception, match="did not include the specified metric"):
        sweep(metrics="val_loss", mode="min", search_space=space,
              logging_dir=str(tmp_path / "wrong"))
    experiment = sweep(metrics="elbo_validation", mode="min", search_space=space,
                       logging_dir=str(tmp_path / "right"))  # the fix
    assert not experiment.result_grid.errors


def test_autotune_returns_when_every_trial_failed(tmp_path):
    """run_autotune collects the trials' exceptions and returns: with lr in train_params
    (SCVI.train has none) every trial fails (TypeError "unexpected keyword argument 'lr'"),
    the call returns normally, and get_best_result(...) then raises RuntimeError "No best
    trial found". lr under train_params' plan_kwargs (the fix) trains."""
    tune, sweep = _autotune()
    experiment = sweep(metrics="elbo_validation", mode="min", logging_dir=str(tmp_path / "lr"),
                       search_space={"train_params": {"max_epochs": 1,
                                                      "lr": tune.loguniform(1e-4, 1e-2)}})
    grid = experiment.result_grid
    assert len(grid.errors) == len(grid) == 2
    assert "unexpected keyword argument 'lr'" in str(grid.errors[0])
    with pytest.raises(RuntimeError, match="No best trial found"):
        grid.get_best_result(metric="elbo_validation", mode="min")
    fixed = sweep(metrics="elbo_validation", mode="min", logging_dir=str(tmp_path / "plan"),
                  search_space={"train_params": {"max_epochs": 1, "plan_kwargs": {
                      "lr": tune.loguniform(1e-4, 1e-2)}}})  # the fix
    assert not fixed.result_grid.errors


def test_autotune_scib_metrics_fail_with_the_default_solver(tmp_path):
    """With a scib-metrics metric ("KMeans NMI", "Total", ...) run_autotune's default
    solver="arpack" fails every trial (ArpackError "Starting vector is zero": the PCA is
    run on an all-zero matrix); solver="randomized" (the fix) scores them."""
    tune, sweep = _autotune()
    space = {"model_params": {"n_hidden": tune.choice([8, 16])}, "train_params": {"max_epochs": 2}}
    failed = sweep(metrics="KMeans NMI", mode="max", search_space=space,
                   logging_dir=str(tmp_path / "arpack"))
    assert len(failed.result_grid.errors) == 2
    assert "Starting vector is zero" in str(failed.result_grid.errors[0])
    fixed = sweep(metrics="KMeans NMI", mode="max", search_space=space, solver="randomized",
                  logging_dir=str(tmp_path / "randomized"))  # the fix
    assert not fixed.result_grid.errors
    assert all(result.metrics.get("KMeans NMI") is not None for result in fixed.result_grid)


def test_autotune_relative_logging_dir_fails(tmp_path, monkeypatch):
    """run_autotune hands logging_dir to Ray's storage_path as given: a relative folder
    ("logs") fails with pyarrow's ArrowInvalid "URI has empty scheme"; an absolute path
    (the fix) runs."""
    tune, sweep = _autotune()
    monkeypatch.chdir(tmp_path)
    space = {"model_params": {"n_hidden": tune.choice([8, 16])}, "train_params": {"max_epochs": 1}}
    with pytest.raises(Exception, match="URI has empty scheme"):
        sweep(metrics="elbo_validation", mode="min", search_space=space, logging_dir="logs")
    experiment = sweep(metrics="elbo_validation", mode="min", search_space=space,
                       logging_dir=str(Path("logs").resolve()))  # the fix
    assert not experiment.result_grid.errors


def test_scanvi_load_on_a_subset_without_a_label_or_unlabelled_cells(tmp_path):
    """SCANVI works out its number of classes from the AnnData it is built on: loaded onto
    a subset that holds no unlabelled cell and lacks one cell type, it is rebuilt with one
    class too many and load fails (RuntimeError "size mismatch for y_prior"). Loaded onto
    the training data and predicting on the subset (the fix), it gives the trained model's
    labels."""
    adata = _adata(n_labels=3)
    adata.obs["cell_type"] = adata.obs["labels"].astype(str)
    adata.obs.loc[adata.obs_names[::4], "cell_type"] = "Unknown"
    scvi.model.SCANVI.setup_anndata(adata, labels_key="cell_type", unlabeled_category="Unknown",
                                    batch_key="batch")
    model = scvi.model.SCANVI(adata, n_hidden=16, n_latent=4)
    model.train(**FAST)
    model.save(str(tmp_path / "model"))
    two = adata[adata.obs["cell_type"].isin(["label_0", "label_1"])].copy()
    with pytest.raises(RuntimeError, match="size mismatch for y_prior"):
        scvi.model.SCANVI.load(str(tmp_path / "model"), adata=two)
    loaded = scvi.model.SCANVI.load(str(tmp_path / "model"), adata=adata.copy())  # the fix
    np.testing.assert_array_equal(loaded.predict(two), model.predict(two))


def test_new_anndata_needs_the_labels_column():
    """A model set up with labels_key reads that obs column from any new AnnData: SCANVI's
    predict(new) on cells without the column (the ones to label) raises KeyError "labels
    not found in adata.obs.", and so does SCVI's get_latent_representation(new), which never
    uses the labels. The column filled with the unlabelled category (the fix) predicts."""
    def unannotated(model):
        return anndata.AnnData(model.adata.X.copy(), obs=model.adata.obs[["batch"]].copy(),
                               var=model.adata.var.copy())

    model = _scanvi()
    model.train(**FAST)
    with pytest.raises(KeyError, match="labels not found in adata.obs"):
        model.predict(unannotated(model))
    reference = _scvi(batch_key="batch", labels_key="labels")
    reference.train(**FAST)
    with pytest.raises(KeyError, match="labels not found in adata.obs"):
        reference.get_latent_representation(unannotated(reference))
    new = unannotated(model)
    new.obs["labels"] = "unknown"  # the fix
    assert len(model.predict(new)) == new.n_obs


def test_scanvi_load_without_data_fails(tmp_path):
    """SCANVI.load(dir) of a save without its data (save_anndata=False, the default), and
    load(dir, adata=False), fail in load() with AttributeError "'NoneType' object has no
    attribute '_source_registry'", where SCVI saved the same way loads. load(dir,
    adata=...) with a compatible AnnData (the fix) loads."""
    model = _scanvi()
    model.train(**FAST)
    model.save(str(tmp_path / "scanvi"))
    for kwargs in ({}, {"adata": False}):
        with pytest.raises(AttributeError, match="_source_registry"):
            scvi.model.SCANVI.load(str(tmp_path / "scanvi"), **kwargs)
    reference = _trained_scvi()
    reference.save(str(tmp_path / "scvi"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scvi.model.SCVI.load(str(tmp_path / "scvi")).is_trained
    loaded = scvi.model.SCANVI.load(str(tmp_path / "scanvi"), adata=model.adata)  # the fix
    assert loaded.is_trained


def test_load_device_cpu_fails(tmp_path):
    """load(dir, adata, device="cpu") hands "cpu" to Lightning as a device count: TypeError
    "`devices` selected with `CPUAccelerator` should be an int > 0."; to_device("cpu") on
    a loaded model works, and load(dir, adata, accelerator="cpu") (the fix) loads on the
    CPU."""
    model = _trained_scvi()
    model.save(str(tmp_path / "model"))
    with pytest.raises(TypeError, match="should be an int > 0"):
        scvi.model.SCVI.load(str(tmp_path / "model"), adata=model.adata, device="cpu")
    loaded = scvi.model.SCVI.load(str(tmp_path / "model"), adata=model.adata,
                                  accelerator="cpu")  # the fix
    assert loaded.device.type == "cpu"


def test_transfer_fields_extend_categories_does_not_reach_the_model():
    """The new-batch error ends "Cannot transfer setup without `extend_categories = True`",
    but model.transfer_fields(new, extend_categories=True) returns an AnnDataManager the
    model does not keep: the next get_latent_representation(new) raises the same error.
    load_query_data(new, model) and training the query model (the fix) embed the cells."""
    model = _trained_scvi()
    new = anndata.AnnData(model.adata.X.copy(), var=model.adata.var.copy())
    new.obs["batch"] = "batch_7"
    with pytest.raises(ValueError, match="extend_categories"):
        model.get_latent_representation(new)
    model.transfer_fields(new, extend_categories=True)
    with pytest.raises(ValueError, match="extend_categories"):
        model.get_latent_representation(new)
    query = scvi.model.SCVI.load_query_data(new, model)  # the fix
    query.train(**FAST)
    assert query.get_latent_representation().shape == (new.n_obs, 4)


def test_load_with_a_prefix_missing_reports_a_legacy_save(tmp_path):
    """load(dir) of a model saved with save(dir, prefix="pbmc_") (or of a folder with no
    model.pt) raises ValueError "Failed to load model file at .../model.pt. If attempting to
    load a saved model from <v0.15.0, please use ... convert_legacy_save": the message
    points to an old format. The same prefix given to load (the fix) loads."""
    model = _trained_scvi()
    model.save(str(tmp_path / "model"), prefix="pbmc_")
    with pytest.raises(ValueError, match="convert_legacy_save"):
        scvi.model.SCVI.load(str(tmp_path / "model"), adata=model.adata)
    loaded = scvi.model.SCVI.load(str(tmp_path / "model"), adata=model.adata,
                                  prefix="pbmc_")  # the fix
    assert loaded.is_trained


def _scar_with_droplets(n_cells: int = 200):
    """Filtered cells (their own profile plus ambient counts) and a raw AnnData with empty
    droplets of the ambient profile alone, genes in one order; and the true ambient profile."""
    rng = np.random.default_rng(0)
    genes = [f"gene{j}" for j in range(40)]
    ambient = np.exp(np.linspace(-3, 3, len(genes)))
    ambient /= ambient.sum()
    cells = (rng.multinomial(800, rng.dirichlet(np.ones(len(genes))), size=n_cells)
             + rng.multinomial(100, ambient, size=n_cells))
    empty = rng.multinomial(5, ambient, size=2000)
    raw = anndata.AnnData(np.vstack([cells, empty]).astype(np.float32))
    raw.var_names = genes
    raw.obs_names = [f"c{i}" for i in range(raw.n_obs)]
    return raw[:n_cells].copy(), raw, ambient


def test_scar_default_profile_is_the_mean_of_x():
    """SCAR(adata) with ambient_profile=None (the default, as in the class docstring) takes
    the mean of the filtered cells' adata.X as the ambient profile: it ignores the
    adata.varm["ambient_profile"] that get_ambient_profile has just written (and the layer
    registered in setup). SCAR(adata, ambient_profile="ambient_profile") (the fix) uses the
    empty droplets' profile."""
    adata, raw, ambient = _scar_with_droplets()
    scvi.external.SCAR.setup_anndata(adata)
    scvi.external.SCAR.get_ambient_profile(adata, raw, prob=0.5)
    stored = adata.varm["ambient_profile"].ravel()
    assert np.corrcoef(stored, ambient)[0, 1] > 0.99
    default = scvi.external.SCAR(adata).module.ambient_profile.numpy().ravel()
    x = np.asarray(adata.X)
    np.testing.assert_allclose(default, x.sum(0) / x.sum(), rtol=1e-5)
    assert not np.allclose(default, stored, rtol=1e-2)
    fixed = scvi.external.SCAR(adata, ambient_profile="ambient_profile")  # the fix
    np.testing.assert_allclose(fixed.module.ambient_profile.numpy().ravel(), stored, rtol=1e-5)


def test_scar_ambient_profile_is_stored_in_the_raw_gene_order():
    """SCAR.get_ambient_profile(adata, raw_adata) keeps raw_adata's gene order and stores the
    profile in adata.varm by position: a filtered AnnData with its genes in another order
    (an HVG subset sorted by rank) gets each gene's value from another gene, silently.
    raw_adata[:, adata.var_names] (the fix) aligns them."""
    adata, raw, ambient = _scar_with_droplets()
    order = np.random.default_rng(1).permutation(adata.n_vars)
    shuffled = adata[:, order].copy()
    scvi.external.SCAR.setup_anndata(shuffled)
    scvi.external.SCAR.get_ambient_profile(shuffled, raw, prob=0.5)
    truth = ambient[order]  # the ambient share of each of shuffled's genes
    assert np.corrcoef(shuffled.varm["ambient_profile"].ravel(), truth)[0, 1] < 0.5
    scvi.external.SCAR.get_ambient_profile(shuffled, raw[:, shuffled.var_names].copy(),
                                           prob=0.5)  # the fix
    assert np.corrcoef(shuffled.varm["ambient_profile"].ravel(), truth)[0, 1] > 0.99


def test_scar_size_factors_with_the_binomial_likelihood_fail():
    """SCAR's default gene_likelihood="b" takes int(size factor) as the binomial total count:
    normalised size factors (mean 1) become 0 or 1, and training fails at the first step
    (with torch's argument checks on, their default: ValueError "Expected value argument ...
    to be within the support (IntegerInterval..."). gene_likelihood="nb" (the fix), or the
    raw totals as size factors, train."""
    adata, _, _ = _scar_with_droplets()
    totals = adata.X.sum(1)
    adata.obs["size_factor"] = totals / totals.mean()
    scvi.external.SCAR.setup_anndata(adata, size_factor_key="size_factor")
    with _torch_argument_checks(), pytest.raises(ValueError, match="within the support"):
        scvi.external.SCAR(adata, ambient_profile=None).train(**FAST)
    fixed = scvi.external.SCAR(adata, gene_likelihood="nb")  # the fix
    fixed.train(**FAST)
    assert fixed.is_trained


def test_solo_from_scvi_model_with_size_factors_fails():
    """SOLO.from_scvi_model(vae) refuses covariates with clear messages but not
    size_factor_key: the simulated doublets get only batch and label columns, and encoding
    them raises KeyError "size_factor not found in adata.obs." for a column the user's
    AnnData has. An SCVI without size_factor_key (the fix) gives a SOLO."""
    adata = _adata()
    adata.obs["size_factor"] = np.asarray(adata.X.sum(1)).ravel() / 100 + 0.1
    scvi.model.SCVI.setup_anndata(adata, size_factor_key="size_factor")
    vae = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    vae.train(**FAST)
    with pytest.raises(KeyError, match="size_factor not found in adata.obs"):
        scvi.external.SOLO.from_scvi_model(vae)
    plain = _scvi()  # the fix
    plain.train(**FAST)
    assert isinstance(scvi.external.SOLO.from_scvi_model(plain), scvi.external.SOLO)


def test_cellassign_inherited_expression_methods_mislead():
    """CellAssign inherits RNASeqMixin: get_normalized_expression runs but returns a softmax
    over genes of the NB log-likelihood (row sums are the library size, and it correlates
    negatively with the counts), and get_likelihood_parameters raises AttributeError (no
    'theta'). predict() (the fix) is the model's output."""
    from scipy.stats import spearmanr

    model = _cellassign()
    model.train(**FAST)
    expression = model.get_normalized_expression(library_size=1e4)
    np.testing.assert_allclose(expression.sum(1), 1e4, rtol=1e-3)
    counts = np.asarray(model.adata.X)
    rho = np.median([spearmanr(expression.to_numpy()[i], counts[i])[0] for i in range(20)])
    assert rho < 0
    with pytest.raises(AttributeError, match="theta"):
        model.get_likelihood_parameters()
    assert model.predict().shape == (model.adata.n_obs, 2)  # the fix


def test_amortized_lda_train_takes_device_not_devices():
    """AmortizedLDA.train (PyroSviTrainMixin) takes device, not SCVI's devices: the usual
    train(accelerator="cpu", devices=1) raises TypeError "TrainRunner() got multiple values
    for keyword argument 'devices'". train(device=1) (the fix) trains."""
    adata = _adata()
    scvi.model.AmortizedLDA.setup_anndata(adata)
    model = scvi.model.AmortizedLDA(adata, n_topics=3)
    assert "devices" not in inspect.signature(model.train).parameters
    with pytest.raises(TypeError, match="multiple values for keyword argument 'devices'"):
        model.train(max_epochs=1, accelerator="cpu", devices=1)
    model.train(max_epochs=1, accelerator="cpu", device=1)  # the fix
    assert model.is_trained


def test_sysvi_needs_two_batches():
    """SysVI draws a cycle batch other than each cell's own before it reads the cycle loss's
    weight: with one category in batch_key, training fails at the first step (RuntimeError
    "random_ expects 'from' to be less than 'to'"), also with
    plan_kwargs={"z_distance_cycle_weight": 0}. Two or more systems (the fix) train."""
    from scvi.external import SysVI

    adata = _adata(n_batches=1)
    SysVI.setup_anndata(adata, batch_key="batch")
    for plan in ({}, {"z_distance_cycle_weight": 0}):
        with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to'"):
            SysVI(adata, n_latent=4).train(plan_kwargs=plan, **FAST)
    fixed = _adata(n_batches=2)  # the fix
    SysVI.setup_anndata(fixed, batch_key="batch")
    model = SysVI(fixed, n_latent=4)
    model.train(**FAST)
    assert model.is_trained


def test_diagvi_latent_representation_is_a_draw():
    """DIAGVI.get_latent_representation() returns a sample of z (its inference gets no
    deterministic=True), with no argument to change it, while the DIAGVI user guide says the
    posterior mean is returned: two calls differ. The module's inference with
    deterministic=True (the fix) gives the same latent every time."""
    model = _diagvi()
    rna = model.adatas["rna"]
    model.train(max_epochs=1, accelerator="cpu")  # its train() passes enable_progress_bar itself
    first, second = model.get_latent_representation(), model.get_latent_representation()
    assert not np.allclose(first["rna"], second["rna"])

    def latent_mean():  # the fix
        with torch.inference_mode():
            return np.concatenate([model.module.inference(
                **model.module._get_inference_input(tensors), mode="rna",
                deterministic=True)["z"].numpy() for tensors in model._make_data_loader(rna)])

    np.testing.assert_array_equal(latent_mean(), latent_mean())


def test_drvi_normal_likelihood_still_logs_its_input():
    """DRVI(gene_likelihood="normal") keeps the VAE's log_variational=True, so the encoder
    applies log1p to the input: z-scored data (values below -1) turns to NaN and training
    fails (with torch's argument checks on, their default: ValueError "Expected parameter
    loc ..."), and log-normalised data is logged twice without a warning.
    log_variational=False (the fix) trains."""
    from scvi.external import DRVI

    adata = _adata()
    x = np.log1p(np.asarray(adata.X, dtype=np.float32))
    adata.X = ((x - x.mean(0)) / (x.std(0) + 1e-6)).astype(np.float32)
    assert (adata.X < -1).any()
    DRVI.setup_anndata(adata, batch_key="batch")
    model = DRVI(adata, n_latent=4, gene_likelihood="normal")
    assert model.module.log_variational
    with _torch_argument_checks(), pytest.raises(ValueError, match="Expected parameter loc"):
        model.train(**FAST)
    fixed = DRVI(adata, n_latent=4, gene_likelihood="normal", log_variational=False)  # the fix
    fixed.train(**FAST)
    assert np.isfinite(fixed.get_latent_representation()).all()


def test_totalanvi_setup_needs_unlabeled_category():
    """TOTALANVI.setup_anndata defaults unlabeled_category=None (SCANVI requires it): with
    labels_key given and no unlabeled_category, setup fails with pandas' ValueError
    "Categorical categories cannot be null", which names no argument. Any
    unlabeled_category (the fix), even one no cell holds, sets up."""
    adata = _adata()
    with pytest.raises(ValueError, match="Categorical categories cannot be null"):
        scvi.external.TOTALANVI.setup_anndata(
            adata, batch_key="batch", protein_expression_obsm_key="protein_expression",
            labels_key="labels")
    fixed = _adata()
    scvi.external.TOTALANVI.setup_anndata(  # the fix
        fixed, batch_key="batch", protein_expression_obsm_key="protein_expression",
        labels_key="labels", unlabeled_category="Unknown")
    assert scvi.external.TOTALANVI(fixed, n_latent=4).summary_stats.n_labels == 3


def _trained_cytovi_with_samples():
    """A CYTOVI trained one epoch on intensities scaled to [0, 1], with four samples
    (sample_key) in two groups (obs["group"]: case, control)."""
    adata = _adata(n_proteins=0)
    adata.obs["sample"] = [f"s{i % 4}" for i in range(adata.n_obs)]
    adata.obs["group"] = np.where(adata.obs["sample"].isin(["s0", "s1"]), "case", "control")
    adata.layers["scaled"] = np.clip(np.asarray(adata.X, dtype=np.float32) / 10, 0, 1)
    scvi.external.CYTOVI.setup_anndata(adata, layer="scaled", batch_key="batch",
                                       sample_key="sample")
    model = scvi.external.CYTOVI(adata, n_latent=4)
    model.train(**FAST)
    return model


def test_cytovi_differential_abundance_rows_are_numbered():
    """CYTOVI.differential_abundance(groupby=...) returns a frame indexed 0..n-1, not by
    obs_names, so adata.obs["DA"] = da[column] aligns on the index and leaves every cell
    NaN. Assigning .to_numpy() (the fix) fills the column."""
    model = _trained_cytovi_with_samples()
    adata = model.adata
    da = model.differential_abundance(groupby="group")
    assert list(da.index[:3]) == [0, 1, 2]
    column = da.columns[0]
    adata.obs["DA"] = da[column]
    assert adata.obs["DA"].isna().all()
    adata.obs["DA"] = da[column].to_numpy()  # the fix
    assert not adata.obs["DA"].isna().any()


def test_destvi_starts_from_a_new_batch_embedding():
    """DestVI.from_rna_model copies CondSCVI's decoder, px_decoder, px_r and per_ct_bias, but
    not its learned batch embedding, which the decoder reads beside z: DestVI starts from a
    fresh random embedding, so the frozen decoder gives other cell-type profiles than the
    reference for the same latent point, even with one batch. Copying the reference's
    embedding (the fix) gives the reference's profiles."""
    sc, sc_model, st = _destvi_inputs()
    model = scvi.model.DestVI.from_rna_model(st, sc_model)
    reference = sc_model.module._embeddings_dict["batch"].weight.detach()
    spatial = model.module._embeddings_dict["batch"].weight

    def profiles(module, embedding):
        with torch.no_grad():
            z = sc_model.module.prior_means[:, 0, :]
            labels = torch.arange(z.shape[0]).view(-1, 1)
            hidden = module.decoder(torch.cat([z, embedding[:1].expand(z.shape[0], -1)], -1),
                                    labels)
            return torch.softmax(module.px_decoder(hidden) + module.per_ct_bias[labels.ravel()],
                                 -1)

    sc_model.module.eval()
    model.module.eval()
    assert not torch.allclose(reference, spatial[: reference.shape[0]])
    assert not torch.allclose(profiles(sc_model.module, reference),
                              profiles(model.module, spatial), rtol=1e-2)
    with torch.no_grad():  # the fix
        spatial[: reference.shape[0]] = reference
    torch.testing.assert_close(profiles(model.module, spatial),
                               profiles(sc_model.module, reference))


def test_destvi_docstring_passes_the_anndata_as_keep_additional():
    """DestVI's class docstring calls get_proportions(st_adata) and get_gamma(st_adata): the
    AnnData lands in keep_additional (truthy: a dummy "additional_0" column is added to the
    proportions) and in indices (get_gamma raises ValueError "setting an array element with
    a sequence"). Both take the model's own spots: called with no AnnData (the fix) they
    give one column per cell type."""
    sc, sc_model, st = _destvi_inputs()
    model = scvi.model.DestVI.from_rna_model(st, sc_model)
    model.train(**FAST)
    assert list(model.get_proportions(st).columns) == ["label_0", "label_1", "additional_0"]
    with pytest.raises(ValueError, match="setting an array element with a sequence"):
        model.get_gamma(st)
    assert list(model.get_proportions().columns) == ["label_0", "label_1"]  # the fix
    assert set(model.get_gamma()) == {"label_0", "label_1"}


def test_condscvi_ignores_size_factor_key():
    """CondSCVI.setup_anndata(size_factor_key=...) registers the column, but its module
    always takes the observed library x.sum(1): with the same seed, training with and without
    the size factors gives the same latent representation."""
    cells = _adata(n_batches=1)
    cells.obs["size_factor"] = np.linspace(0.2, 5.0, cells.n_obs)

    def trained(**setup):
        adata = cells.copy()
        scvi.model.CondSCVI.setup_anndata(adata, labels_key="labels", **setup)
        scvi.settings.seed = 0
        model = scvi.model.CondSCVI(adata, n_hidden=16, n_latent=4)
        model.train(**FAST)
        return model

    plain, scaled = trained(), trained(size_factor_key="size_factor")
    assert "size_factor" in scaled.adata_manager.data_registry
    np.testing.assert_array_equal(scaled.get_latent_representation(),
                                  plain.get_latent_representation())


def test_scviva_niche_composition_columns_follow_first_appearance():
    """SCVIVA.preprocessing_anndata orders obsm["niche_composition"]'s columns by the order
    in which each cell type first appears in obs, not by the label categories, and
    predict_neighborhood returns a bare array fitted to those columns: labelled with
    .cat.categories it names the wrong cell types. The composition's own columns (the fix)
    name them."""
    cells = _adata(n_proteins=0, generate_coordinates=True)
    label_1_first = np.argsort((cells.obs["labels"] != "label_1").to_numpy(), kind="stable")
    model = _scviva(cells[label_1_first].copy())
    adata = model.adata
    columns = list(adata.obsm["neighborhood_composition"].columns)
    assert columns == ["label_1", "label_0"]
    assert list(adata.obs["labels"].cat.categories) == ["label_0", "label_1"]
    model.train(**FAST)
    predicted = model.predict_neighborhood()
    assert isinstance(predicted, np.ndarray) and predicted.shape == (adata.n_obs, 2)
    named = pd.DataFrame(predicted, columns=columns, index=adata.obs_names)  # the fix
    assert list(named.columns) == ["label_1", "label_0"]


def test_logger_false_fails_with_reduce_lr_on_plateau():
    """A training plan with reduce_lr_on_plateau=True (TOTALVI's default; SCVI's with
    plan_kwargs) makes the train runner add Lightning's LearningRateMonitor, which needs a
    logger: train(logger=False) fails with MisconfigurationException "Cannot use
    `LearningRateMonitor` callback with `Trainer` that has no logger". TOTALVI's
    plan_kwargs={"reduce_lr_on_plateau": False} does not help (train()'s own argument wins);
    train(logger=False, reduce_lr_on_plateau=False) (the fix) trains."""
    with pytest.raises(Exception, match="Cannot use `LearningRateMonitor` callback"):
        _totalvi().train(logger=False, **FAST)
    with pytest.raises(Exception, match="Cannot use `LearningRateMonitor` callback"):
        _totalvi().train(logger=False, plan_kwargs={"reduce_lr_on_plateau": False}, **FAST)
    with pytest.raises(Exception, match="Cannot use `LearningRateMonitor` callback"):
        _scvi().train(logger=False, plan_kwargs={"reduce_lr_on_plateau": True}, **FAST)
    model = _totalvi()
    model.train(logger=False, reduce_lr_on_plateau=False, **FAST)  # the fix
    assert model.is_trained


def test_doc_differential_expression_importance_sampling_is_weights():
    """The DE background guide lists an importance_sampling parameter; passed to
    differential_expression it raises TypeError "get_bayes_factors() got an unexpected
    keyword argument 'importance_sampling'". Importance weighting is weights="importance"
    (the fix)."""
    model = _trained_scvi()
    with pytest.raises(TypeError, match="unexpected keyword argument 'importance_sampling'"):
        model.differential_expression(groupby="labels", group1="label_0",
                                      importance_sampling=True)
    result = model.differential_expression(groupby="labels", group1="label_0",
                                           weights="importance")  # the fix
    assert len(result) == model.adata.n_vars


def test_resolvi_ignores_labels_without_semisupervised():
    """RESOLVI(adata) with the default semisupervised=False reads no labels: set up with
    labels_key it trains as without (same seed: same ELBO history), and predict() raises
    KeyError 'probs_prediction', which does not name the switch. semisupervised=True (the
    fix) predicts labels."""
    cells = _adata(n_genes=50, n_proteins=0, generate_coordinates=True)
    cells.obsm["X_spatial"] = cells.obsm["coordinates"]

    def trained(semisupervised=False, **setup):
        adata = cells.copy()
        scvi.external.RESOLVI.setup_anndata(adata, batch_key="batch", **setup)
        scvi.settings.seed = 0
        model = scvi.external.RESOLVI(adata, n_latent=4, semisupervised=semisupervised)
        model.train(**FAST)
        return model

    plain, labelled = trained(), trained(labels_key="labels")
    np.testing.assert_allclose(labelled.history["elbo_train"].to_numpy(dtype=float),
                               plain.history["elbo_train"].to_numpy(dtype=float))
    with pytest.raises(KeyError, match="probs_prediction"):
        labelled.predict()
    fixed = trained(semisupervised=True, labels_key="labels",
                    unlabeled_category="unknown")  # the fix
    assert len(fixed.predict()) == cells.n_obs


def test_cytovi_sample_logprobs_ignore_adata():
    """CYTOVI.get_sample_logprobs(adata=other), and differential_abundance(adata=other), which
    calls it, embed the model's training cells, not other's: the per-sample aggregated
    posteriors come from other, but the cells scored are the training ones, labelled with
    other's obs_names. The same cells in another order get another cell's values silently; a
    subset raises pandas' ValueError "Shape of passed values is (80, 4), indices imply (40, 4)".
    Scoring other's own latents against get_aggregated_posterior(other, ...) (the fix) gives each
    cell its own values."""
    model = _trained_cytovi_with_samples()
    adata = model.adata
    own = model.get_sample_logprobs()  # the training AnnData: one row per cell, by obs_names

    shuffled = adata[np.random.default_rng(0).permutation(adata.n_obs)].copy()
    got = model.get_sample_logprobs(shuffled)[own.columns]
    # Row i holds training cell i's values, whatever cell shuffled's row i is.
    np.testing.assert_allclose(got.to_numpy(), own.to_numpy(), rtol=1e-4)
    assert not np.allclose(got.loc[own.index].to_numpy(), own.to_numpy(), rtol=1e-4)

    subset = adata[:40].copy()
    with pytest.raises(ValueError, match=r"Shape of passed values is \(80, 4\), indices imply"):
        model.get_sample_logprobs(subset)
    with pytest.raises(ValueError, match=r"Shape of passed values is \(80, 4\), indices imply"):
        model.differential_abundance(subset, groupby="group")

    def logprobs(other):  # the fix: other's own latents against other's aggregated posteriors
        z = torch.tensor(model.get_latent_representation(other, give_mean=True))
        columns = {}
        for sample in other.obs["sample"].unique():
            cells = np.where(other.obs["sample"] == sample)[0]
            posterior = model.get_aggregated_posterior(other, indices=cells, dof=None)
            with torch.no_grad():
                columns[sample] = posterior.log_prob(z).sum(-1).numpy()
        return pd.DataFrame(columns, index=other.obs_names)

    fixed = logprobs(shuffled)[own.columns]
    np.testing.assert_allclose(fixed.loc[own.index].to_numpy(), own.to_numpy(), rtol=1e-4)


def test_methylvi_region_list_fails_with_several_contexts():
    """METHYLVI.get_normalized_methylation(region_list=[...]) (and
    get_specific_normalized_methylation, which calls it) builds its region mask from the
    MuData's var_names, all contexts' regions together, and applies it to each context's own
    regions: with two methylation contexts it raises IndexError "The shape of the mask [40] at
    index 0 does not match the shape of the indexed tensor". With one context it works.
    Calling without region_list and selecting the columns of each context's frame (the fix)
    gives the regions asked for."""
    model = _methylation(scvi.external.METHYLVI)  # two contexts, mod1 and mod2, 20 regions each
    model.train(**FAST)
    regions = ["gene_1", "gene_5"]
    with pytest.raises(IndexError, match=r"shape of the mask \[40\] at index 0 does not match"):
        model.get_normalized_methylation(region_list=regions)
    with pytest.raises(IndexError, match=r"shape of the mask \[40\]"):
        model.get_specific_normalized_methylation(context="mod1", region_list=regions)
    full = model.get_normalized_methylation()  # the fix
    picked = {context: frame[regions] for context, frame in full.items()}
    assert all(list(frame.columns) == regions and frame.shape == (model.adata.n_obs, 2)
               for frame in picked.values())


def _diagvi(batches=False):
    """A DIAGVI on RNA (batches rna_A, rna_B) and spatial counts (batches rna_B, sp_C): the
    same name "rna_B" has code 1 in the RNA modality and code 0 in the spatial one."""
    pytest.importorskip("torch_geometric")  # DIAGVI's graph layers
    from scvi.external import DIAGVI

    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(30)]
    rna = anndata.AnnData(rng.poisson(2, (120, 30)).astype(np.float32))
    rna.var_names = genes
    spatial = anndata.AnnData(rng.poisson(3, (80, 10)).astype(np.float32))
    spatial.var_names = genes[:10]
    setup = {}
    if batches:
        rna.obs["batch"] = np.where(np.arange(rna.n_obs) % 2, "rna_B", "rna_A")
        spatial.obs["batch"] = np.where(np.arange(spatial.n_obs) % 2, "rna_B", "sp_C")
        setup = {"batch_key": "batch"}
    DIAGVI.setup_anndata(rna, **setup)
    DIAGVI.setup_anndata(spatial, **setup)
    return DIAGVI({"rna": rna, "spatial": spatial}, n_latent=4, n_hidden=16)


def test_diagvi_reference_libsize_is_a_log():
    """DIAGVI.get_imputed_values(reference_libsize=...) replaces the module's log library
    (log(x.sum(1))), so the decoder multiplies by exp(reference_libsize): the user guide's
    reference_libsize=10000 returns inf for every value, and 1 scales each cell's imputed
    profile to e (2.718). np.log(10000) (the fix) gives profiles summing to 10,000."""
    model = _diagvi()
    model.train(max_epochs=1, accelerator="cpu")
    assert np.isinf(model.get_imputed_values("spatial", reference_libsize=10000)).all()
    one = model.get_imputed_values("spatial", reference_libsize=1)
    np.testing.assert_allclose(one.sum(1), np.e, rtol=1e-4)
    fixed = model.get_imputed_values("spatial", reference_libsize=np.log(10000))
    np.testing.assert_allclose(fixed.sum(1), 10000, rtol=1e-4)


def test_diagvi_reference_batch_is_looked_up_in_the_query_modality():
    """DIAGVI.get_imputed_values(query_name, reference_batch="<name>") turns the name into a
    code with the query modality's batch categories, but decodes with the other (imputed)
    modality's batches: imputing RNA for spatial cells with reference_batch="rna_B" decodes RNA
    batch "rna_A" (code 0, the code of "rna_B" among the spatial batches), silently, and an RNA
    batch name the spatial modality lacks raises IndexError "index 0 is out of bounds for axis
    0 with size 0". The integer code from the RNA modality's categories (the fix) decodes
    "rna_B"."""
    model = _diagvi(batches=True)
    model.train(max_epochs=1, accelerator="cpu")
    rna_batches = list(model.adata_managers["rna"].get_state_registry("batch")
                       ["categorical_mapping"])
    assert rna_batches == ["rna_A", "rna_B"]
    code_a, code_b = (model.get_imputed_values("spatial", reference_batch=i) for i in (0, 1))
    assert not np.allclose(code_a, code_b)
    by_name = model.get_imputed_values("spatial", reference_batch="rna_B")
    np.testing.assert_allclose(by_name, code_a)  # rna_A's decoding
    assert not np.allclose(by_name, code_b)
    with pytest.raises(IndexError, match="index 0 is out of bounds for axis 0 with size 0"):
        model.get_imputed_values("spatial", reference_batch="rna_A")
    fixed = model.get_imputed_values("spatial", reference_batch=rna_batches.index("rna_B"))
    np.testing.assert_allclose(fixed, code_b)


def test_diagvi_train_takes_no_enable_progress_bar():
    """DIAGVI.train builds its Trainer with enable_progress_bar=True and passes **kwargs beside
    it, so train(enable_progress_bar=False), as for other models, raises TypeError "Trainer()
    got multiple values for keyword argument 'enable_progress_bar'". Leaving it out (the fix)
    trains, always with a progress bar."""
    model = _diagvi()
    with pytest.raises(TypeError, match="multiple values for keyword argument "
                                        "'enable_progress_bar'"):
        model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    model.train(max_epochs=1, accelerator="cpu")
    assert model.is_trained_


def test_scar_ambient_profile_dataframe_is_read_by_position():
    """SCAR(adata, ambient_profile=df) takes a pandas DataFrame's values in row order
    (df.fillna(0).values) and never reads its index: a profile indexed by gene in another
    order than adata.var_names gives each gene another gene's ambient fraction, silently. A
    pandas Series is refused with TypeError "Expecting str / np.array / None / pd.DataFrame".
    df.reindex(adata.var_names) (the fix) lines the profile up with the genes."""
    adata = _adata(n_proteins=0)
    scvi.external.SCAR.setup_anndata(adata)
    profile = pd.DataFrame({"ambient": np.arange(1.0, 21.0)}, index=adata.var_names)
    profile /= profile.sum()
    ranked = profile.sort_values("ambient", ascending=False)  # same genes, another order
    model = scvi.external.SCAR(adata, ambient_profile=ranked)
    used = model.module.ambient_profile.numpy().ravel()
    np.testing.assert_allclose(used, ranked["ambient"].to_numpy(), rtol=1e-6)  # by position
    assert not np.allclose(used, profile["ambient"].to_numpy())  # not by gene
    with pytest.raises(TypeError, match="Expecting str / np.array / None / pd.DataFrame"):
        scvi.external.SCAR(adata, ambient_profile=profile["ambient"])
    fixed = scvi.external.SCAR(adata, ambient_profile=ranked.reindex(adata.var_names))
    np.testing.assert_allclose(fixed.module.ambient_profile.numpy().ravel(),
                               profile["ambient"].to_numpy(), rtol=1e-6)


def test_amortized_lda_priors_refuse_numpy():
    """AmortizedLDA's cell_topic_prior and topic_feature_prior accept a Python float or a
    collections.abc.Sequence (list, tuple): a numpy array, a numpy float32 scalar or a Python
    int raise ValueError "cell_topic_prior, ..., must be None, a float or a Sequence of length
    n_topics" (topic_feature_prior likewise, of length n_input). array.tolist() (the fix) is
    accepted and trains."""
    adata = _adata(n_proteins=0)
    scvi.model.AmortizedLDA.setup_anndata(adata)
    lda = scvi.model.AmortizedLDA
    for bad in (np.full(5, 0.2), np.float32(0.2), 1):
        with pytest.raises(ValueError, match="must be None, a float or a Sequence of length "
                                             "n_topics"):
            lda(adata, n_topics=5, n_hidden=16, cell_topic_prior=bad)
    with pytest.raises(ValueError, match="must be None, a float or a Sequence of length n_input"):
        lda(adata, n_topics=5, n_hidden=16, topic_feature_prior=np.full(adata.n_vars, 0.2))
    model = lda(adata, n_topics=5, n_hidden=16, cell_topic_prior=np.full(5, 0.2).tolist(),
                topic_feature_prior=np.full(adata.n_vars, 0.2).tolist())  # the fix
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    assert model.is_trained_


def test_linear_scvi_docstring_example_fails():
    """LinearSCVI's class example ends with adata.var["loadings"] = vae.get_loadings(), but
    get_loadings returns a genes x n_latent DataFrame (10 columns by default): pandas raises
    ValueError "Cannot set a DataFrame with multiple columns to the single column loadings".
    Storing it in adata.varm (the fix) works."""
    adata = _adata(n_proteins=0)
    scvi.model.LinearSCVI.setup_anndata(adata, batch_key="batch")
    vae = scvi.model.LinearSCVI(adata)
    vae.train(**FAST)
    loadings = vae.get_loadings()
    assert loadings.shape == (adata.n_vars, 10)
    with pytest.raises(ValueError, match="Cannot set a DataFrame with multiple columns to the "
                                         "single column loadings"):
        adata.var["loadings"] = vae.get_loadings()
    adata.varm["loadings"] = loadings.loc[adata.var_names].to_numpy()  # the fix
    assert adata.varm["loadings"].shape == (adata.n_vars, 10)


def test_autozi_docstring_example_fails():
    """AUTOZI's class example trains with vae.train(n_epochs=400): train() has no n_epochs, so it
    reaches Lightning's Trainer and raises TypeError "Trainer.__init__() got an unexpected
    keyword argument 'n_epochs'", and so does SCVI's train(n_epochs=...). train(max_epochs=...)
    (the fix) trains."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_epochs'"):
        _scvi().train(n_epochs=1, accelerator="cpu", enable_progress_bar=False)
    adata = _adata(n_proteins=0)
    scvi.model.AUTOZI.setup_anndata(adata, batch_key="batch")
    vae = scvi.model.AUTOZI(adata)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_epochs'"):
        vae.train(n_epochs=1, accelerator="cpu", enable_progress_bar=False)
    vae.train(**FAST)  # the fix: max_epochs
    assert vae.is_trained


def _last(model, key: str) -> float:
    """The last epoch's value of one history key."""
    return float(_curves(model, key)[0][-1])


def test_plan_kwargs_kl_weight_is_overwritten():
    """plan_kwargs={"kl_weight": 0.5} reaches the TrainingPlan's loss keywords, but the plan
    writes its own KL weight (from max_kl_weight, min_kl_weight and the warm-up) over it
    before every training step: SCVI (and SysVI) train exactly as without it, with no warning.
    plan_kwargs={"max_kl_weight": 0.5} (the fix) does weigh the KL by 0.5."""

    def scvi_run(**plan):
        scvi.settings.seed = 0
        model = _scvi(batch_key="batch")
        # n_epochs_kl_warmup=None: no warm-up, so the weight is max_kl_weight from step one
        model.train(**FAST, plan_kwargs={"n_epochs_kl_warmup": None, **plan})
        return model

    base = scvi_run()
    ignored = scvi_run(kl_weight=0.5)
    fixed = scvi_run(max_kl_weight=0.5)
    rec, kl = _last(base, "reconstruction_loss_train"), _last(base, "kl_local_train")
    assert _last(ignored, "train_loss") == _last(base, "train_loss")
    assert _last(ignored, "train_loss") == pytest.approx(rec + 1.0 * kl, rel=1e-5)
    assert _last(fixed, "train_loss") == pytest.approx(rec + 0.5 * kl, rel=1e-5)  # the fix
    assert "kl_weight" not in base.history  # logged per step only: history does not show it

    def sysvi_run(**plan):
        scvi.settings.seed = 0
        adata = _adata()
        adata.X = np.log1p(adata.X.astype("float32"))  # SysVI wants normalized, log1p data
        scvi.external.SysVI.setup_anndata(adata, batch_key="batch")
        model = scvi.external.SysVI(adata, n_latent=4, n_hidden=16)
        model.train(**FAST, plan_kwargs=plan)  # SysVI sets the warm-up to 0 itself
        return _last(model, "train_loss")

    sys_base = sysvi_run()
    assert sysvi_run(kl_weight=0.5) == sys_base
    assert sysvi_run(max_kl_weight=0.5) != sys_base


def test_repr_returns_an_empty_string(capsys):
    """repr(model) and str(model) (BaseModelClass.__repr__) print the model summary to stdout
    with rich and return "": f"{model}", "%s" % model, a logged message or a printed list of
    models show nothing of it. model.summary_string (the fix) returns the summary text."""
    model = _trained_scvi()
    capsys.readouterr()
    assert repr(model) == ""
    assert str(model) == ""
    assert f"model: {model}" == "model: "
    assert str([model, model]) == "[, ]"
    printed = capsys.readouterr().out
    assert printed.count("SCVI model with the following parameters") == 5  # side effect
    assert "Training status: Trained" in model.summary_string  # the fix
    assert capsys.readouterr().out == ""  # summary_string prints nothing


def _legacy_save(model, folder):
    """The pre-0.15 layout, as scvi-tools' own tests/model/test_scvi.py writes it."""
    os.makedirs(folder)
    model.adata.write(os.path.join(folder, "adata.h5ad"))
    torch.save(model.module.state_dict(), os.path.join(folder, "model_params.pt"))
    np.savetxt(os.path.join(folder, "var_names.csv"),
               model.adata.var_names.astype(str).to_numpy(), fmt="%s")
    attrs = {name: value for name, value in model._get_user_attributes() if name[-1] == "_"}
    with open(os.path.join(folder, "attr.pkl"), "wb") as f:
        pickle.dump(attrs, f)


def test_convert_legacy_save_drops_the_data(tmp_path):
    """SCVI.convert_legacy_save(dir, output_dir) writes only model.pt to output_dir: the
    legacy save's adata.h5ad is not copied, so SCVI.load(output_dir) only warns "Save path
    contains no saved anndata" and the model has no data (get_latent_representation() fails).
    Converting in place (output_dir = dir, overwrite=True, as scvi-tools' own tests do), or
    load(output_dir, adata=read_h5ad(dir/adata.h5ad)), keeps the data (the fix)."""
    model = _trained_scvi()
    z = model.get_latent_representation()
    legacy, converted = str(tmp_path / "legacy"), str(tmp_path / "converted")
    _legacy_save(model, legacy)
    scvi.model.SCVI.convert_legacy_save(legacy, converted)
    assert sorted(os.listdir(legacy)) == ["adata.h5ad", "attr.pkl", "model_params.pt",
                                          "var_names.csv"]
    assert os.listdir(converted) == ["model.pt"]
    with pytest.warns(UserWarning, match="Save path contains no saved anndata"):
        loaded = scvi.model.SCVI.load(converted)
    assert loaded.adata is None
    with pytest.raises(AttributeError, match="is_view"):
        loaded.get_latent_representation()
    scvi.model.SCVI.convert_legacy_save(legacy, legacy, overwrite=True)  # the fix: in place
    in_place = scvi.model.SCVI.load(legacy)
    assert np.allclose(in_place.get_latent_representation(), z)
    with_data = scvi.model.SCVI.load(converted,
                                     adata=anndata.read_h5ad(os.path.join(legacy, "adata.h5ad")))
    assert np.allclose(with_data.get_latent_representation(), z)


def _totalanvi_labels(mdata, key, **modalities):
    """Codes of the labels TOTALANVI trains on, decoded, after setup_mudata."""
    mods = {"rna_layer": "rna", "protein_layer": "protein_expression", **modalities}
    scvi.external.TOTALANVI.setup_mudata(mdata, batch_key="batch", labels_key=key,
                                         unlabeled_category="unknown", modalities=mods)
    manager = scvi.external.TOTALANVI(mdata, n_latent=4).adata_manager
    mapping = manager.get_state_registry("labels").categorical_mapping
    return set(mapping[manager.get_from_registry("labels").ravel()])


def test_totalanvi_setup_mudata_reads_a_stale_copy_of_the_labels():
    """TOTALANVI.setup_mudata copies the labels column between mdata.obs and the RNA
    modality's obs: with labels only in mdata["rna"].obs it writes a copy into mdata.obs
    (and reads the modality), with labels only in mdata.obs and modalities={"labels_key":
    "rna"} it writes a copy into the modality. A later setup_mudata after the user edits the
    column where it lives reads the stale copy: the model trains on the old labels, silently.
    Pointing setup at the copy that was edited (modalities["labels_key"] naming the modality
    for labels in its obs, no labels_key modality for labels in mdata.obs) reads the edit."""
    # labels in the RNA modality, no labels_key modality named (as in the docstring example)
    mdata = _cite_mudata()
    mdata["rna"].obs["ct"] = np.where(np.arange(mdata.n_obs) % 2, "T", "B")
    assert _totalanvi_labels(mdata, "ct") == {"B", "T"}
    assert "ct" in mdata.obs  # the copy setup_mudata wrote
    mdata["rna"].obs["ct"] = "NK"  # the user's edit, where the labels live
    assert _totalanvi_labels(mdata, "ct") == {"B", "T"}  # stale: the edit is lost
    assert _totalanvi_labels(mdata, "ct", labels_key="rna") == {"NK"}  # the fix

    # labels in mdata.obs, modalities={"labels_key": "rna"}
    mdata = _cite_mudata()
    original = set(mdata.obs["labels"])  # label_0, label_1, label_2
    assert _totalanvi_labels(mdata, "labels", labels_key="rna") == original
    assert "labels" in mdata["rna"].obs  # the copy setup_mudata wrote
    mdata.obs["labels"] = "label_0"  # the user's edit, where the labels live
    assert _totalanvi_labels(mdata, "labels", labels_key="rna") == original  # stale
    assert _totalanvi_labels(mdata, "labels") == {"label_0"}  # the fix


def test_obs_edits_after_setup_are_not_seen():
    """setup_anndata stores a categorical column (batch_key, labels_key, ...) as codes in
    adata.obs["_scvi_batch"] etc.; the model built after it, and train() and the get_*
    methods on that AnnData, read those codes, never the column again. Editing
    adata.obs["batch"] after setup_anndata (here: one batch for every cell) leaves the model
    with the old two batches, without a warning, while a copy of the AnnData given to a
    get_* method is set up anew and gets the edit. Calling setup_anndata again after the
    edit, before building the model (the fix), takes it."""
    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    adata.obs["batch"] = "batch_0"  # edit after setup
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    assert model.summary_stats.n_batch == 2
    assert set(np.unique(model.adata_manager.get_from_registry("batch"))) == {0, 1}
    model.train(**FAST)
    model.get_latent_representation(adata)
    assert set(adata.obs["_scvi_batch"]) == {0, 1}  # still the pre-edit codes
    copy = adata.copy()
    model.get_latent_representation(copy)  # "appears to be a copy": set up again
    assert set(copy.obs["_scvi_batch"]) == {0}
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")  # the fix
    assert scvi.model.SCVI(adata, n_hidden=16, n_latent=4).summary_stats.n_batch == 1


def test_n_steps_kl_warmup_needs_n_epochs_kl_warmup_none():
    """plan_kwargs={"n_steps_kl_warmup": k} alone changes nothing: n_epochs_kl_warmup keeps
    its default 400 and wins whenever it is set, so the KL weight still ramps per epoch
    (epoch / 400), without a warning. With n_epochs_kl_warmup=None as well (the fix) the
    weight follows the steps."""

    def run(**plan):
        scvi.settings.seed = 0
        model = _scvi(batch_key="batch")  # 72 training cells: one step per epoch
        model.train(**{**FAST, "max_epochs": 2}, plan_kwargs=plan)
        h = model.history
        return [float(v) for v in h["train_loss"].iloc[:, 0]], h

    default, _ = run()
    steps_only, h = run(n_steps_kl_warmup=1)
    assert steps_only == default
    rec, kl = (float(h[k].iloc[1, 0]) for k in ("reconstruction_loss_train", "kl_local_train"))
    assert steps_only[1] == pytest.approx(rec + kl / 400, rel=1e-5)  # epoch 1: weight 1/400
    fixed, h = run(n_steps_kl_warmup=1, n_epochs_kl_warmup=None)
    rec, kl = (float(h[k].iloc[1, 0]) for k in ("reconstruction_loss_train", "kl_local_train"))
    assert fixed[1] == pytest.approx(rec + kl, rel=1e-5)  # step 1 of 1: weight 1


def test_new_anndata_genes_are_read_by_position(tmp_path):
    """A trained model's get_* methods given a new AnnData with as many genes as the
    training data, in another order or under other names, neither reorder nor check them:
    get_latent_representation(new) reads it column by column, without a warning, and
    Model.load(dir, adata=new) only warns "`var_names` for the loaded `model` does not match".
    Subsetting the new AnnData to the model's genes in the model's order (the fix) gives the
    training latent back."""
    model = _trained_scvi()
    z = model.get_latent_representation()
    new = model.adata.copy()
    for key in [k for k in new.uns if k.startswith("_scvi")]:
        del new.uns[key]  # an AnnData never set up, as one read from disk
    reversed_genes = new[:, new.var_names[::-1]].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z_reversed = model.get_latent_representation(reversed_genes)
        renamed = reversed_genes.copy()
        renamed.var_names = [f"other_{i}" for i in range(renamed.n_vars)]
        model.get_latent_representation(renamed)
    assert not np.allclose(z_reversed, z)
    model.save(str(tmp_path / "m"))
    with pytest.warns(UserWarning, match="`var_names` for the loaded `model` does not match"):
        loaded = scvi.model.SCVI.load(str(tmp_path / "m"), adata=new[:, new.var_names[::-1]].copy())
    assert not np.allclose(loaded.get_latent_representation(), z)
    fixed = reversed_genes[:, model.adata.var_names].copy()  # the fix
    assert np.allclose(model.get_latent_representation(fixed), z)


def test_scviva_niche_de_reuses_the_first_neighbour_graph():
    """SCVIVA.differential_expression (niche_mode=True, the default) builds the niche graph
    from radius or k_nn on its first call and stores it in adata.uns["adjusted_A"]; every later
    call finds that key and reuses the graph, so another k_nn (or radius) changes nothing and
    nothing says so. Deleting adata.uns["adjusted_A"] before the call (the fix) builds the
    graph the new value asks for."""
    from scvi.external.scviva.differential_expression._de_utils import (
        adjusted_nearest_neighbors,
    )

    scvi.settings.seed = 0  # synthetic data and DE draws alike: one class in the GPC fails
    model = _scviva()
    model.train(**FAST)
    adata = model.adata
    de = {"groupby": "labels", "group1": "label_0", "silent": True,
          "n_restarts_optimizer_gpc": 0, "fdr_target": 1.0}  # tiny data: let every gene pass
    first = model.differential_expression(k_nn=2, **de)
    graph = adata.uns["adjusted_A"]
    second = model.differential_expression(k_nn=20, **de)
    assert adata.uns["adjusted_A"] is graph  # the k_nn=2 graph, reused
    assert np.array_equal(first.n1_index, second.n1_index)
    from scvi.external.scviva import SCVIVA_REGISTRY_KEYS as KEYS

    manager = model.adata_manager
    wanted = adjusted_nearest_neighbors(
        cell_samples=manager.get_from_registry(KEYS.SAMPLE_KEY),
        cell_coordinates=manager.get_from_registry(KEYS.CELL_COORDINATES_KEY),
        cell_labels=manager.get_from_registry("labels"), k_nn=20, return_sparse=True)
    assert wanted.nnz > graph.nnz  # k_nn=20 would have given far more neighbours
    del adata.uns["adjusted_A"]  # the fix
    third = model.differential_expression(k_nn=20, **de)
    assert adata.uns["adjusted_A"].nnz == wanted.nnz
    assert len(third.n1_index) > len(first.n1_index)


def test_rnastereoscope_ct_weight_reads_ct_prop():
    """RNAStereoscope(sc_adata, ct_weight=w) (the class weights that CondSCVI also takes)
    fails with KeyError 'ct_prop': RNADeconv tests for "ct_weight" but reads the weights from
    model_kwargs["ct_prop"]. With both given the ct_prop values are the weights and ct_weight's
    own value is never read; ct_prop alone is ignored. Passing the same weights as both
    ct_weight and ct_prop (the fix) weighs each cell type's loss."""
    sc = _adata(n_batches=1)
    scvi.external.RNAStereoscope.setup_anndata(sc, labels_key="labels")
    weights = np.array([0.2, 5.0])
    with pytest.raises(KeyError, match="ct_prop"):
        scvi.external.RNAStereoscope(sc, ct_weight=weights)
    ignored = scvi.external.RNAStereoscope(sc, ct_prop=weights)
    assert torch.equal(ignored.module.ct_weight, torch.ones(2))
    swapped = scvi.external.RNAStereoscope(sc, ct_weight=[9.0, 9.0], ct_prop=weights)
    assert torch.allclose(swapped.module.ct_weight, torch.tensor([0.2, 5.0]))
    model = scvi.external.RNAStereoscope(sc, ct_weight=weights, ct_prop=weights)  # the fix
    assert torch.allclose(model.module.ct_weight, torch.tensor([0.2, 5.0]))
    model.train(**FAST)
    assert model.is_trained_


def test_tangram_lambda_d_is_fixed_by_the_density_prior():
    """Tangram sets TangramMapper's density weight itself, lambda_d=1.0 when setup_mudata
    registered a density prior and 0.0 when it did not (density_prior_key=None); Tangram(mdata,
    lambda_d=...) raises TypeError "got multiple values for keyword argument 'lambda_d'", and no
    docstring names lambda_d. Without a density prior there is no density term at all. Setting
    model.module.lambda_d after construction (the fix, with a prior registered) changes the
    weight of the density term in the loss."""
    from mudata import MuData

    rng = np.random.default_rng(0)
    modalities = {"density_prior_key": "sp", "sc_layer": "sc", "sp_layer": "sp"}
    mdata = MuData({"sc": _tangram_modality(rng, 40), "sp": _tangram_modality(rng, 20)})
    mdata.mod["sp"].obs["density"] = np.full(20, 1 / 20)
    mdata.update()
    scvi.external.Tangram.setup_mudata(mdata, density_prior_key="density",
                                       modalities=modalities)
    with pytest.raises(TypeError, match="multiple values for keyword argument 'lambda_d'"):
        scvi.external.Tangram(mdata, lambda_d=0.5)
    model = scvi.external.Tangram(mdata)
    assert model.module.lambda_d == 1.0
    assert "lambda_d" not in (scvi.external.Tangram.__doc__ or "")
    assert "lambda_d" not in (scvi.external.tangram.TangramMapper.__doc__ or "")
    tensors = model._get_tensor_dict(device=torch.device("cpu"))

    def loss():
        return float(model.module.loss(tensors, {}, {}).loss)

    base = loss()
    model.module.lambda_d = 0.0
    without = loss()
    model.module.lambda_d = 3.0  # the fix: the weight read by the loss
    assert np.isclose(loss() - without, 3 * (base - without), rtol=1e-4)
    no_prior = MuData({"sc": _tangram_modality(rng, 40), "sp": _tangram_modality(rng, 20)})
    scvi.external.Tangram.setup_mudata(no_prior, density_prior_key=None,
                                       modalities=modalities)
    assert scvi.external.Tangram(no_prior).module.lambda_d == 0.0


def test_destvi_vamp_prior_p_has_no_effect():
    """DestVI.from_rna_model(st_adata, sc_model, vamp_prior_p=...) documents vamp_prior_p as
    the number of mixture components of the VampPrior, but with the CondSCVI it works with
    (prior="mog") the prior is copied from that model: vamp_prior_p=2, 15 (the default) or 100
    build the same module, with num_classes_mog components per cell type. The number is set by
    CondSCVI(num_classes_mog=...) (the fix)."""
    sc, sc_model, st = _destvi_inputs()
    states = {}
    for p in (2, 15, 100):
        scvi.settings.seed = 0
        model = scvi.model.DestVI.from_rna_model(st.copy(), sc_model, vamp_prior_p=p)
        assert model.module.mean_vprior.shape == (2, 10, 4)  # n_labels, num_classes_mog, n_latent
        states[p] = model.module.state_dict()
    for p in (2, 100):
        assert states[p].keys() == states[15].keys()
        assert all(torch.equal(states[p][k], states[15][k]) for k in states[15])
    _, five = _condscvi_reference(prior="mog", num_classes_mog=5)  # the fix
    st5 = sc.copy()
    scvi.model.DestVI.setup_anndata(st5)
    assert scvi.model.DestVI.from_rna_model(st5, five).module.mean_vprior.shape == (2, 5, 4)


def test_destvi_add_celltypes_zero_fails():
    """DestVI.from_rna_model(..., add_celltypes=0) (MRDeconv: "Number of additional cell
    types") builds a model, but MRDeconv slices the proportions with [:-add_celltypes], which is
    [:-0], an empty slice: train() fails at the first step with RuntimeError "The size of
    tensor a (2) must match the size of tensor b (0)". Keep add_celltypes >= 1 (the default 1,
    the fix): get_proportions() leaves the extra column out unless keep_additional=True."""
    sc, sc_model, st = _destvi_inputs()
    zero = scvi.model.DestVI.from_rna_model(st.copy(), sc_model, add_celltypes=0)
    assert zero.module.add_celltypes == 0
    with pytest.raises(RuntimeError, match=r"size of tensor b \(0\)"):
        zero.train(**FAST)
    model = scvi.model.DestVI.from_rna_model(st.copy(), sc_model)  # the fix: default 1
    model.train(**FAST)
    assert list(model.get_proportions().columns) == ["label_0", "label_1"]
    assert model.get_proportions(keep_additional=True).shape[1] == 3


def test_spatialstereoscope_get_scale_for_ct_needs_a_numpy_array():
    """SpatialStereoscope.get_scale_for_ct(y) needs a numpy array of cell-type names: a name
    as a str (as DestVI.get_scale_for_ct takes it) is iterated letter by letter and fails with
    IndexError "index 0 is out of bounds", and a list fails with AttributeError "'list' object
    has no attribute 'shape'". It returns a bare array with one row per name (genes in columns),
    the same for every spot. np.array([name]) (the fix) works."""
    sc = _adata(n_batches=1)
    scvi.external.RNAStereoscope.setup_anndata(sc, labels_key="labels")
    rna = scvi.external.RNAStereoscope(sc)
    rna.train(**FAST)
    st = sc.copy()
    scvi.external.SpatialStereoscope.setup_anndata(st)
    model = scvi.external.SpatialStereoscope.from_rna_model(st, rna)
    model.train(**FAST)
    with pytest.raises(IndexError, match="out of bounds"):
        model.get_scale_for_ct("label_0")
    with pytest.raises(AttributeError, match="'list' object has no attribute 'shape'"):
        model.get_scale_for_ct(["label_0"])
    scale = model.get_scale_for_ct(np.array(["label_0", "label_1", "label_0"]))  # the fix
    assert isinstance(scale, np.ndarray) and scale.shape == (3, sc.n_vars)
    assert np.allclose(scale[0], scale[2])
    assert "label" in inspect.signature(scvi.model.DestVI.get_scale_for_ct).parameters


def _resolvi(adata=None, **setup):
    """Synthetic cells with coordinates in obsm["X_spatial"], set up for RESOLVI."""
    adata = _adata(n_genes=50, generate_coordinates=True) if adata is None else adata
    adata.obsm["X_spatial"] = adata.obsm["coordinates"]
    scvi.external.RESOLVI.setup_anndata(adata, batch_key="batch", **setup)
    return adata


def test_resolvi_size_scaling_divides_by_one_harmonic_mean():
    """RESOLVI.get_normalized_expression(size_scaling=True) should divide each cell's
    expression by its own size factor (size_factor_key, e.g. cell area), but px_rate / sf
    .reshape(-1, 1, 1) broadcasts over the sample axis: every cell is divided by the harmonic
    mean of the size factors of its minibatch. With n_samples > 1 it fails (RuntimeError "The
    size of tensor a (3) must match the size of tensor b (80)"), as does
    differential_expression(size_scaling=True) (n_samples=5), and minibatches of unequal size
    fail with ValueError "all the input array dimensions". Dividing
    get_normalized_expression(library_size=None) by the size factors (the fix) is per cell."""
    adata = _adata(n_genes=50, generate_coordinates=True)
    size = np.random.default_rng(0).uniform(0.5, 4, adata.n_obs)
    adata.obs["area"] = size
    _resolvi(adata, size_factor_key="area")
    model = scvi.external.RESOLVI(adata, n_latent=4)
    model.train(**FAST)
    torch.manual_seed(0)
    rate = model.get_normalized_expression(library_size=None, return_numpy=True)
    torch.manual_seed(0)
    scaled = model.get_normalized_expression(size_scaling=True, return_numpy=True)
    assert scaled.shape == rate.shape == (80, 50)
    harmonic = 1 / np.mean(1 / size)  # the 80 cells are one minibatch
    assert np.allclose(rate / scaled, harmonic, rtol=1e-4)
    assert not np.allclose(scaled, rate / size[:, None], rtol=1e-2)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match"):
        model.get_normalized_expression(size_scaling=True, n_samples=3)
    with pytest.raises(ValueError, match="all the input array dimensions"):
        model.get_normalized_expression(size_scaling=True, batch_size=32)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(5\) must match"):
        model.differential_expression(groupby="labels", size_scaling=True, silent=True)
    per_cell = rate / size[:, None]  # the fix
    assert np.allclose(per_cell * size[:, None], rate)


def test_resolvi_differential_niche_abundance_needs_neighbor_key():
    """RESOLVI.differential_niche_abundance(groupby=...) documents neighbor_key as optional
    (default None), but the DE machinery hands the AnnData to get_neighbor_abundance, which
    asserts "Must provide `neighbor_key` if `adata` is provided.": without it every call fails,
    on the model's own data too. neighbor_key="index_neighbor" (the obsm key setup_anndata
    writes; the fix) runs; on a small dataset also give a batch_size divisible by the number of
    neighbours and at most n_obs, or Pyro fails with "subsample_size does not match"."""
    adata = _resolvi(labels_key="labels")
    model = scvi.external.RESOLVI(adata, n_latent=4, semisupervised=True)
    model.train(**FAST)
    assert inspect.signature(model.differential_niche_abundance).parameters[
        "neighbor_key"].default is None
    with pytest.raises(AssertionError, match="Must provide `neighbor_key`"):
        model.differential_niche_abundance(groupby="labels", group1="label_0", silent=True)
    result = model.differential_niche_abundance(  # the fix
        groupby="labels", group1="label_0", neighbor_key="index_neighbor", batch_size=80,
        silent=True)
    assert set(result.index) == {"label_0", "label_1"}


def test_resolvi_coordinates_must_be_in_x_spatial():
    """RESOLVI.setup_anndata (prepare_data=True, the default) builds the spatial neighbours
    from adata.obsm["X_spatial"]; coordinates under obsm["spatial"] (the scanpy / squidpy
    default) fail with scanpy's ValueError "Did not find X_spatial in `.obsm.keys()`. You
    need to compute it first.". No documented argument names the key: it is
    prepare_data_kwargs={"spatial_rep": "spatial"} (the fix), which also copies the coordinates
    to obsm["X_spatial"]."""
    adata = _adata(n_genes=50, generate_coordinates=True)
    adata.obsm["spatial"] = adata.obsm.pop("coordinates")
    with pytest.raises(ValueError, match="Did not find X_spatial"):
        scvi.external.RESOLVI.setup_anndata(adata, batch_key="batch")
    assert "spatial_rep" not in inspect.signature(scvi.external.RESOLVI.setup_anndata).parameters
    scvi.external.RESOLVI.setup_anndata(adata, batch_key="batch",  # the fix
                                        prepare_data_kwargs={"spatial_rep": "spatial"})
    assert np.array_equal(adata.obsm["X_spatial"], adata.obsm["spatial"])
    assert adata.obsm["index_neighbor"].shape == (adata.n_obs, 10)


def test_velovi_directional_uncertainty_ignores_adata():
    """VELOVI.get_directional_uncertainty(adata=other) samples velocities from the model's own
    AnnData (its get_velocity call gets no adata), keeps the first other.n_obs cells of it and
    labels them with other's obs_names: for a subset, every row holds the statistics of
    another training cell, silently. Computing on the model's AnnData and selecting the rows
    by name (the fix) gives the subset's own cells."""
    model = _velovi()
    model.train(**FAST)
    subset = model.adata[40:].copy()  # the last 40 of 80 cells

    scvi.settings.seed = 0
    wrong, _ = model.get_directional_uncertainty(adata=subset, n_samples=5, n_jobs=1)
    scvi.settings.seed = 0
    full, _ = model.get_directional_uncertainty(n_samples=5, n_jobs=1)

    assert list(wrong.index) == list(subset.obs_names)
    # the values are those of the training AnnData's first 40 cells ...
    np.testing.assert_array_equal(wrong.to_numpy(), full.to_numpy()[:40])
    # ... not those of the subset's cells (the fix: select them from the full result)
    fixed = full.loc[subset.obs_names]
    assert not np.allclose(wrong.to_numpy(), fixed.to_numpy())


def test_poissonvi_differential_accessibility_columns_are_de_columns():
    """POISSONVI.differential_accessibility documents PEAKVI's result columns (prob_da,
    is_da_fdr, effect_size, est_prob1/2, emp_prob1/2), but returns the DE core's frame with
    only emp_mean1/2 renamed: proba_de, is_de_fdr_<fdr_target>, lfc_mean, scale1/2. Code
    written for PEAKVI (da[da.is_da_fdr], da["prob_da"]) raises KeyError. The fix is to read
    proba_de and is_de_fdr_0.05."""
    doc = scvi.external.POISSONVI.differential_accessibility.__doc__
    assert "prob_da" in doc and "is_da_fdr" in doc and "effect_size" in doc

    model = _poissonvi()
    model.train(**FAST)
    da = model.differential_accessibility(groupby="labels", group1="label_0", silent=True)
    for documented in ("prob_da", "is_da_fdr", "effect_size", "est_prob1"):
        assert documented not in da.columns
    with pytest.raises(KeyError, match="is_da_fdr"):
        da["is_da_fdr"]
    assert {"proba_de", "is_de_fdr_0.05", "lfc_mean", "emp_prob1"} <= set(da.columns)  # fix

    peakvi = _peakvi()  # PEAKVI's own method returns the documented columns
    peakvi.train(**FAST)
    peak_da = peakvi.differential_accessibility(groupby="labels", group1="label_0", silent=True)
    assert {"prob_da", "is_da_fdr", "effect_size"} <= set(peak_da.columns)


def test_mrvi_aggregated_posterior_takes_the_sample_name_only():
    """MRVI.get_aggregated_posterior(sample=...) documents "Name or index of the sample", but
    compares the value with the sample column of obs: an index (sample=1) matches no cell, and
    the call fails with ValueError "torch.cat(): expected a non-empty list of Tensors", which
    names neither the sample nor the argument. The sample's name (model.sample_order[1], the
    fix) works."""
    model = _mrvi()
    model.train(**FAST)
    assert "Name or index of the sample" in model.get_aggregated_posterior.__doc__
    with pytest.raises(ValueError, match="expected a non-empty list of Tensors"):
        model.get_aggregated_posterior(sample=1)
    name = model.sample_order[1]
    posterior = model.get_aggregated_posterior(sample=name)  # the fix
    assert posterior.mixture_distribution.probs.shape[0] == (model.adata.obs["sample"] == name).sum()


def test_sysvi_weight_batches_are_inverse_counts():
    """SysVI.setup_anndata(weight_batches=True) (the "inverse batch proportion weights")
    stores 1 / n_cells_of_the_batch in obs["batch_weights"], not an inverse proportion, and
    SysVAE multiplies each cell's cycle-consistency loss by it: even with balanced batches
    the cycle loss, the integration term, shrinks by the batch size (1/40 here, 1/5000 for
    5000-cell batches), without a warning beyond "experimental". Rescaling the column to mean 1
    after setup (the fix) restores the unweighted loss for balanced batches."""
    adata = _adata(n_proteins=0)
    adata.X = np.log1p(adata.X)
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch", weight_batches=True)
    np.testing.assert_allclose(adata.obs["batch_weights"].unique(), [1 / 40])  # 40 per batch
    model = scvi.external.SysVI(adata, n_hidden=16, n_latent=4)
    model.module.eval()
    tensors = next(iter(model._make_data_loader(adata, batch_size=adata.n_obs)))
    assert "batch_weights" in tensors

    def cycle_loss(batch):
        torch.manual_seed(0)
        return float(model.module(batch)[2].extra_metrics["cycle_loss"])

    unweighted = cycle_loss({k: v for k, v in tensors.items() if k != "batch_weights"})
    weighted = cycle_loss(tensors)
    np.testing.assert_allclose(weighted * 40, unweighted, rtol=1e-5)

    adata.obs["batch_weights"] *= adata.n_obs / adata.obs["batch"].nunique()  # the fix
    rescaled = next(iter(model._make_data_loader(adata, batch_size=adata.n_obs)))
    np.testing.assert_allclose(cycle_loss(rescaled), unweighted, rtol=1e-5)


def test_scbasset_plan_kwargs_optimizer_settings_are_ignored():
    """SCBASSET.train builds its optimizer with a Custom optimizer_creator, Adam at train()'s
    lr with betas (0.95, 0.9995), so plan_kwargs={"lr": ..., "weight_decay": ...} are taken
    and never read (Adam trains at 0.01 with weight decay 0), without a warning; and
    plan_kwargs={"optimizer": "AdamW"} replaces that optimizer and with it train()'s lr (the
    TrainingPlan's default 1e-3 applies). train(lr=...) (the fix) sets the rate."""
    rng = np.random.default_rng(0)
    adata = anndata.AnnData((rng.random((64, 30)) < 0.3).astype("float32"))  # regions x cells
    adata.obsm["dna_code"] = rng.integers(0, 4, size=(64, 1344))
    scvi.external.SCBASSET.setup_anndata(adata, dna_code_key="dna_code")
    model = scvi.external.SCBASSET(adata)

    def optimizer():
        opt = model.trainer.optimizers[0]
        return type(opt).__name__, opt.param_groups[0]["lr"], opt.param_groups[0]["weight_decay"]

    model.train(plan_kwargs={"lr": 1e-5, "weight_decay": 0.1}, **FAST)
    assert optimizer() == ("Adam", 0.01, 0)
    model.train(lr=0.05, plan_kwargs={"optimizer": "AdamW"}, **FAST)
    assert optimizer()[:2] == ("AdamW", 1e-3)
    model.train(lr=1e-5, **FAST)  # the fix
    assert optimizer()[:2] == ("Adam", 1e-5)


def test_mrvi_local_sample_distances_groupby_unused_category_fails():
    """MRVI.get_local_sample_distances(groupby=key) averages each group's sum by
    obs[key].value_counts(), which lists a categorical column's unused categories too (a
    subset of an AnnData keeps them): for such a category there is no sum, and the call
    fails after computing every distance with a bare KeyError naming the category. Removing
    the unused categories first (the fix) works."""
    model = _mrvi()
    model.train(**FAST)
    obs = model.adata.obs
    obs["cell_type"] = pd.Categorical(
        obs["labels"].astype(str), categories=["label_0", "label_1", "label_2"]
    )
    with pytest.raises(KeyError, match="label_2"):
        model.get_local_sample_distances(groupby="cell_type", keep_cell=False)
    obs["cell_type"] = obs["cell_type"].cat.remove_unused_categories()  # the fix
    dists = model.get_local_sample_distances(groupby="cell_type", keep_cell=False)
    assert set(dists["cell_type_name"].values) == {"label_0", "label_1"}


def test_scanvi_predict_does_not_check_training():
    """SCANVI.predict() (SemisupervisedTrainingMixin's, shared by TOTALANVI and METHYLANVI)
    never checks that the model was trained: on a SCANVI just made by from_scvi_model (or
    built and not trained) it returns the untrained classifier's labels without an error or
    a warning, while get_latent_representation() on the same model raises "Trying to query
    inferred values from an untrained model". model.is_trained tells; train() first (the fix)."""
    vae = _trained_scvi()
    model = scvi.model.SCANVI.from_scvi_model(vae, "unknown", labels_key="labels")
    assert not model.is_trained
    with pytest.raises(RuntimeError, match="untrained model"):
        model.get_latent_representation()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = model.predict()
        soft = model.predict(soft=True)
    assert not [w for w in caught if "train" in str(w.message).lower()]
    assert len(labels) == model.adata.n_obs
    np.testing.assert_allclose(soft.sum(1), 1, rtol=1e-5)
    fresh = _scanvi()  # built, never trained
    assert len(fresh.predict()) == fresh.adata.n_obs
    model.train(**FAST)  # the fix
    assert model.is_trained and model.get_latent_representation().shape[0] == len(labels)


def test_contrastivevi_train_takes_positions_not_masks():
    """ContrastiveVI.train(background_indices=mask, target_indices=mask) with boolean masks
    (adata.obs["condition"] == "control") fails in the first epoch with IndexError "boolean
    index did not match indexed array along axis 0; size of axis is 80 but size of
    corresponding boolean axis is 72", which names neither argument: the splitter permutes and
    slices the mask as if it held cell positions. np.flatnonzero(mask) (the fix) trains."""
    model, cells = _contrastivevi()
    labels = model.adata.obs["labels"].to_numpy()
    masks = {"background_indices": labels == "label_0", "target_indices": labels == "label_1"}
    with pytest.raises(IndexError, match="boolean index did not match"):
        model.train(**masks, **FAST)
    model, cells = _contrastivevi()
    fixed = {key: np.flatnonzero(mask) for key, mask in masks.items()}  # the fix
    model.train(**fixed, **FAST)
    assert model.is_trained


def test_normalized_expression_is_one_posterior_draw():
    """get_normalized_expression() with its defaults (n_samples=1) decodes one random draw of
    z per cell (the encoder's rsample), not the posterior mean: two calls on the same trained
    model return different values, and there is no argument for a deterministic answer. Setting
    scvi.settings.seed right before each call repeats a call exactly; n_samples=k with
    return_mean=True averages k draws and shrinks the spread."""
    model = _trained_scvi()
    first, second = model.get_normalized_expression(), model.get_normalized_expression()
    spread_one = np.abs(first.values - second.values).max()
    assert spread_one > 1e-3  # same model, same cells, other values

    scvi.settings.seed = 0
    seeded = model.get_normalized_expression()
    scvi.settings.seed = 0
    np.testing.assert_array_equal(seeded.values, model.get_normalized_expression().values)

    many = [model.get_normalized_expression(n_samples=200).values for _ in range(2)]
    assert np.abs(many[0] - many[1]).max() < spread_one / 3  # the fix: average many draws


def test_n_samples_overall_needs_return_numpy_and_weights_need_it():
    """get_normalized_expression(weights="importance") is read only when n_samples_overall is
    given: with n_samples alone the result is the plain (uniform) average, without a warning.
    And n_samples_overall, which the docstring says returns (n_samples_overall, n_genes), fails
    with the default return_numpy: pandas raises ValueError "Shape of passed values is
    (100, 20), indices imply (80, 20)" (the samples get the cells' names). Importance
    weighting works with n_samples_overall=... and return_numpy=True."""
    model = _trained_scvi()
    with pytest.raises(ValueError, match=r"Shape of passed values is \(100, 20\), indices "
                                         r"imply \(80, 20\)"):
        model.get_normalized_expression(n_samples_overall=100)

    scvi.settings.seed = 0
    importance = model.get_normalized_expression(n_samples=5, weights="importance")
    scvi.settings.seed = 0
    uniform = model.get_normalized_expression(n_samples=5, weights="uniform")
    np.testing.assert_array_equal(importance.values, uniform.values)

    draws = model.get_normalized_expression(n_samples_overall=100, weights="importance",
                                            return_numpy=True)  # the fix
    assert draws.shape == (100, model.adata.n_vars)


def test_gene_list_drops_unknown_names_and_keeps_adata_order():
    """get_normalized_expression(gene_list=...) keeps the genes of adata.var_names that are in
    the list (var_names.isin): names it does not know are dropped without a word, and the
    columns come in the AnnData's order, not the list's (with return_numpy=True column 0 is not
    the list's first gene). A list of which no name matches returns a frame with no column,
    where posterior_predictive_sample raises "None of the provided genes". Indexing the result
    by the list (frame[genes]) gives its order and a KeyError for a missing name."""
    model = _trained_scvi()
    asked = ["gene_5", "gene_1", "GENE_2"]  # a typo for gene_2
    expr = model.get_normalized_expression(gene_list=asked)
    assert list(expr.columns) == ["gene_1", "gene_5"]

    none = model.get_normalized_expression(gene_list=["GENE_1", "GENE_5"])
    assert none.shape == (model.adata.n_obs, 0)
    with pytest.raises(ValueError, match="None of the provided genes"):
        model.posterior_predictive_sample(gene_list=["GENE_1", "GENE_5"])

    wanted = ["gene_5", "gene_1"]
    assert list(model.get_normalized_expression(gene_list=wanted)[wanted].columns) == wanted
    with pytest.raises(KeyError):  # the fix also names the typo
        model.get_normalized_expression(gene_list=asked)[asked]


def test_custom_dataloader_ignores_transform_batch_and_gene_list():
    """get_normalized_expression(dataloader=...) (the route for a model trained on a custom
    data module) sets transform_batch to None and gene_list to every gene: the values are each
    cell's own batch, all genes, a numpy array, as without those arguments. Its only warning is
    "Using 1 after custom Dataloader was initialize is redundant" about n_samples, which it
    does use. With adata (no dataloader) transform_batch changes the values."""
    from scvi.dataloaders import AnnDataLoader

    model = _trained_scvi()
    loader = AnnDataLoader(model.adata_manager, batch_size=128)
    scvi.settings.seed = 0
    own = model.get_normalized_expression(dataloader=loader)
    scvi.settings.seed = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        swapped = model.get_normalized_expression(dataloader=loader, transform_batch="batch_1",
                                                  gene_list=["gene_1"])
    assert isinstance(swapped, np.ndarray) and swapped.shape == (80, model.adata.n_vars)
    np.testing.assert_array_equal(swapped, own)
    messages = [str(w.message) for w in caught]
    assert any("Using 1 after custom Dataloader" in m for m in messages)
    assert not any("transform_batch" in m or "gene_1" in m for m in messages)

    scvi.settings.seed = 0
    as_is = model.get_normalized_expression()
    scvi.settings.seed = 0
    as_batch_1 = model.get_normalized_expression(transform_batch="batch_1")  # the fix: adata
    assert not np.allclose(as_is.values, as_batch_1.values)


def test_minified_model_cannot_encode_full_counts(tmp_path):
    """After model.minify_adata(), the model's module reads the stored latent posterior for
    every AnnData: get_latent_representation / get_normalized_expression on the full AnnData
    the model was trained on fail with KeyError 'latent_qzm', and on new cells with KeyError
    "scvi_latent_qzm not found in adata.obsm.", neither of which says the model is minified.
    Saving the minified model and loading it with the full AnnData (SCVI.load(dir, adata=full))
    gives a model that encodes counts again, with the same latent as before."""
    model = _trained_scvi()
    adata = model.adata
    before = model.get_latent_representation()
    _keep_latent_posterior(model)
    full = adata.copy()
    model.minify_adata()
    with pytest.raises(KeyError, match="latent_qzm"):
        model.get_latent_representation(adata)
    with pytest.raises(KeyError, match="latent_qzm"):
        model.get_normalized_expression(adata)
    new = _adata()  # new cells, counts in X
    with pytest.raises(KeyError, match="scvi_latent_qzm not found in adata.obsm"):
        model.get_latent_representation(new)

    model.save(tmp_path / "minified")
    reloaded = scvi.model.SCVI.load(tmp_path / "minified", adata=full)  # the fix
    assert reloaded.minified_data_type is None
    np.testing.assert_allclose(reloaded.get_latent_representation(), before, atol=1e-5)


def test_lightning_logger_leaves_history_empty(tmp_path):
    """train(logger=...) with a Lightning logger (CSVLogger, TensorBoardLogger, WandbLogger, or
    logger=True) replaces scvi's SimpleLogger, and model.history is read from the logger's
    `history` attribute, which only SimpleLogger has: training runs, the logger gets the
    metrics, and model.history is {} without a warning (model.history["elbo_train"] raises
    KeyError). The default logger (logger left out) fills model.history."""
    from lightning.pytorch.loggers import CSVLogger

    model = _scvi(batch_key="batch")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.train(logger=CSVLogger(save_dir=tmp_path), **FAST)
    assert model.is_trained and model.history == {}
    assert not any("history" in str(w.message).lower() for w in caught)
    assert list(tmp_path.rglob("metrics.csv"))  # the metrics went to the logger's folder
    with pytest.raises(KeyError):
        model.history["elbo_train"]

    model = _scvi(batch_key="batch")
    model.train(**FAST)  # the fix: scvi's own logger
    assert len(model.history["elbo_train"]) == 1


def test_early_stopping_callback_never_checks_without_validation():
    """The Trainer docstring says a custom early-stopping instance "can be passed by using the
    callbacks argument": train(callbacks=[EarlyStopping(monitor="elbo_validation", ...)]) (or
    scvi's LoudEarlyStopping, which also needs warmup_epochs: KeyError otherwise) never stops
    training, silently: the Trainer turns validation on (check_val_every_n_epoch=1) only for
    early_stopping=True, checkpointing (SaveCheckpoint) or a learning-rate monitor, so no
    validation runs and the callback never checks. Adding check_val_every_n_epoch=1 makes it
    stop."""
    from lightning.pytorch.callbacks import EarlyStopping
    from scvi.train import LoudEarlyStopping

    with pytest.raises(KeyError, match="warmup_epochs"):
        LoudEarlyStopping(monitor="elbo_validation")
    stop_at_once = {"monitor": "elbo_validation", "patience": 1, "min_delta": 1e9}
    for make in (lambda: EarlyStopping(**stop_at_once),
                 lambda: LoudEarlyStopping(warmup_epochs=0, **stop_at_once)):
        model = _scvi(batch_key="batch")
        model.train(callbacks=[make()], **{**FAST, "max_epochs": 5})
        assert len(model.history["elbo_train"]) == 5  # never stopped
        assert "elbo_validation" not in model.history

        model = _scvi(batch_key="batch")
        model.train(callbacks=[make()], check_val_every_n_epoch=1,
                    **{**FAST, "max_epochs": 5})  # the fix
        assert len(model.history["elbo_train"]) == 2


def test_criticism_report_is_t_test_and_r2_is_not_squared_pearson(tmp_path, monkeypatch):
    """create_criticism_report runs its differential-expression metric with scanpy's t-test
    (PosteriorPredictiveCheck.differential_expression's default de_method, which the report
    does not let one change), while the scvi_criticism guide says Wilcoxon rank-sum. Its
    "R² (R-Squared)" row is sklearn's r2_score(model CV, raw CV) (the model's CV taken as the
    truth), not the squared Pearson correlation the guide's "below 0.4" advice is about: it
    can be far below zero. Squaring the report's Pearson row gives the guide's number.
    (leidenalg, which its DE requires and a label key leaves unused, is a stand-in module.)"""
    import scanpy as sc
    from scipy.stats import pearsonr
    from sklearn.metrics import r2_score

    import scvi.criticism._create_criticism_report as report_module

    monkeypatch.setitem(sys.modules, "leidenalg", types.ModuleType("leidenalg"))
    methods = []
    rank_genes_groups = sc.tl.rank_genes_groups

    def spy(*args, **kwargs):
        methods.append(kwargs.get("method"))
        return rank_genes_groups(*args, **kwargs)

    monkeypatch.setattr(sc.tl, "rank_genes_groups", spy)
    checks = []

    class Recorded(report_module.PPC):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            checks.append(self)

    monkeypatch.setattr(report_module, "PPC", Recorded)
    scvi.settings.seed = 0
    model = _scvi(labels_key="labels")
    model.train(**FAST)
    report_module.create_criticism_report(model, n_samples=2, save_folder=str(tmp_path))
    assert set(methods) == {"t-test"}
    table = json.loads((tmp_path / "metrics.json").read_text())["gene_wise_cv"]
    reported_r2 = float(re.search(r"R² \(R-Squared\) \| (-?[\d.]+)", table).group(1))
    reported_pearson = float(re.search(r"Pearson Correlation \| (-?[\d.]+)", table).group(1))
    cv = checks[0].metrics["cv_gene"]
    model_cv, raw_cv = cv["model"].values, cv["Raw"].values
    assert reported_r2 == pytest.approx(r2_score(model_cv, raw_cv), abs=0.006)
    squared_pearson = pearsonr(model_cv, raw_cv)[0] ** 2  # the guide's number (the fix)
    assert abs(reported_r2 - squared_pearson) > 0.05
    assert reported_pearson ** 2 == pytest.approx(squared_pearson, abs=0.02)


def _query_cells(batch: str = "query", n_proteins: int = 0, **kwargs):
    """_query()'s 30 new cells, labels set to the unlabeled category."""
    query = _query(batch=batch, n_proteins=n_proteins, **kwargs)
    query.obs["labels"] = "unknown"
    return query


def _training_modes(model, **train):
    """Train and return the set of module.training values the encoder saw during training."""
    seen = []
    hook = model.module.z_encoder.encoder.register_forward_pre_hook(
        lambda module, args: seen.append(module.training))
    try:
        model.train(**train)
    finally:
        hook.remove()
    return set(seen)


def test_query_training_leaves_a_default_encoder_untouched():
    """With SCVI's and SCANVI's default encode_covariates=False the encoder takes no batch input,
    so load_query_data's freezing leaves no encoder weight trainable: training the query model
    does not change its latent representation, which stays what the reference model gives for
    the same cells (and SCANVI's predictions with it). Only a reference built with
    encode_covariates=True gets query-specific encoder weights that training moves."""
    scvi.settings.seed = 0
    scanvi_setup = {"labels_key": "labels", "unlabeled_category": "unknown"}
    for cls, setup in ((scvi.model.SCVI, {}), (scvi.model.SCANVI, scanvi_setup)):
        for encode_covariates in (False, True):
            reference = _reference_model(cls, setup=setup, encode_covariates=encode_covariates)
            query = _query_cells()
            as_reference_batch = query.copy()
            as_reference_batch.obs["batch"] = "batch_0"
            before = reference.get_latent_representation(as_reference_batch)
            model = cls.load_query_data(query, reference, accelerator="cpu")
            assert (model.module.z_encoder.encoder.n_cat_list == []) is not encode_covariates
            model.train(**{**FAST, "max_epochs": 2})
            after = model.get_latent_representation()
            if not encode_covariates:  # the trap: two epochs of query training changed nothing
                np.testing.assert_allclose(after, before, atol=1e-5)
                if cls is scvi.model.SCANVI:
                    np.testing.assert_allclose(model.predict(soft=True).to_numpy(),
                                               reference.predict(as_reference_batch,
                                                                 soft=True).to_numpy(),
                                               atol=1e-2)
            else:  # the fix: encode_covariates=True in the reference
                assert np.abs(after - before).max() > 1e-2


def test_query_and_further_training_run_in_eval_mode(tmp_path):
    """load_query_data (and load) leave the module in eval mode, as does the end of every
    train(); Lightning 2.2+ no longer switches it back, so training a query model, a loaded model
    or a model trained before runs without dropout and with BatchNorm on its running statistics
    (Lightning only warns "Found N module(s) in eval mode"). freeze_dropout=True and False then
    train identically. Calling model.module.train() before model.train() restores training mode."""
    fresh = _adata(n_proteins=0)
    scvi.model.SCVI.setup_anndata(fresh, batch_key="batch")
    model = scvi.model.SCVI(fresh, n_hidden=16, n_latent=4)
    assert _training_modes(model, **FAST) == {True}  # a new model trains in training mode
    assert _training_modes(model, **FAST) == {False}  # a second train() on it does not
    model.save(str(tmp_path / "model"), overwrite=True)
    loaded = scvi.model.SCVI.load(str(tmp_path / "model"), adata=fresh, accelerator="cpu")
    assert _training_modes(loaded, **FAST) == {False}  # nor a loaded model
    reference = _reference_model(dropout_rate=0.5)

    def query_elbo(freeze_dropout: bool, fix: bool) -> tuple[set, float]:
        scvi.settings.seed = 0
        model = scvi.model.SCVI.load_query_data(_query_cells(), reference, accelerator="cpu",
                                                freeze_dropout=freeze_dropout)
        assert not model.module.training
        if fix:
            model.module.train()
        modes = _training_modes(model, **{**FAST, "max_epochs": 2})
        return modes, float(model.history["elbo_train"].iloc[-1, 0])

    (modes_on, elbo_on), (modes_off, elbo_off) = query_elbo(False, False), query_elbo(True, False)
    assert modes_on == modes_off == {False}
    assert elbo_on == elbo_off  # freeze_dropout changes nothing
    (modes_on, elbo_on), (_, elbo_off) = query_elbo(False, True), query_elbo(True, True)
    assert modes_on == {True}  # the fix
    assert elbo_on != elbo_off  # and freeze_dropout matters again


def test_query_batch_dispersion_is_never_learned():
    """With dispersion="gene-batch" (TOTALVI: gene_dispersion="gene-batch",
    protein_dispersion="protein-batch") load_query_data adds a dispersion column for each query
    batch but freezes px_r (py_r) whole: the query batches keep their random initial dispersions
    however long the query trains. Setting model.module.px_r.requires_grad_(True) after
    load_query_data trains them (with weight_decay=0 the reference columns stay exact)."""
    scvi.settings.seed = 0
    reference = _reference_model(dispersion="gene-batch")
    model = scvi.model.SCVI.load_query_data(_query_cells(), reference, accelerator="cpu")
    assert tuple(model.module.px_r.shape) == (20, 3) and not model.module.px_r.requires_grad
    before = model.module.px_r.detach().clone()
    model.train(**{**FAST, "max_epochs": 2})
    assert torch.equal(model.module.px_r.detach(), before)  # query column still its random init

    model = scvi.model.SCVI.load_query_data(_query_cells(), reference, accelerator="cpu")
    model.module.px_r.requires_grad_(True)  # the fix
    before = model.module.px_r.detach().clone()
    model.train(**{**FAST, "max_epochs": 2}, plan_kwargs={"weight_decay": 0.0})
    after = model.module.px_r.detach()
    assert not torch.equal(after[:, 2], before[:, 2])
    assert torch.equal(after[:, :2], before[:, :2])

    totalvi = _reference_model(scvi.model.TOTALVI, n_proteins=4,
                         setup={"protein_expression_obsm_key": "protein_expression"},
                         gene_dispersion="gene-batch", protein_dispersion="protein-batch")
    query = _query_cells(n_proteins=4)
    model = scvi.model.TOTALVI.load_query_data(query, totalvi, accelerator="cpu")
    assert model.module.px_r.shape[1] == model.module.py_r.shape[1] == 3
    assert not model.module.px_r.requires_grad and not model.module.py_r.requires_grad


def test_prepare_query_anndata_inplace_false_still_changes_the_query():
    """prepare_query_anndata(query, reference, inplace=False) returns a new AnnData only when it
    pads missing genes; when the query holds every reference gene (extra genes, another order) it
    subsets and reorders the user's own query in place and returns that same object. Pass
    query.copy() to keep the original."""
    reference = _reference_model()
    query = _query_cells(n_genes=25)  # every reference gene and 5 more, reversed
    query = query[:, list(query.var_names[::-1])].copy()
    original = list(query.var_names)
    out = scvi.model.SCVI.prepare_query_anndata(query, reference, inplace=False)
    assert out is query
    assert query.n_vars == 20 and list(query.var_names) == list(reference.adata.var_names)
    assert list(query.var_names) != original

    query = _query_cells(n_genes=25)
    query = query[:, list(query.var_names[::-1])].copy()
    out = scvi.model.SCVI.prepare_query_anndata(query.copy(), reference, inplace=False)  # the fix
    assert query.n_vars == 25 and list(out.var_names) == list(reference.adata.var_names)
    missing = _query_cells(n_genes=18)  # with padding it does return a new object
    out = scvi.model.SCVI.prepare_query_anndata(missing, reference, inplace=False)
    assert out is not missing and missing.n_vars == 18 and out.n_vars == 20


def test_query_batch_named_like_a_reference_batch_is_merged_into_it():
    """load_query_data extends the batch categories only with names the reference lacks: a query
    whose batch has a reference batch's name (batch ids "0", "1", a shared technology or sample
    name) gets no new batch and no warning; query training then rewrites that reference batch's
    decoder weights. Renaming the query batches (e.g. "query_" + name) gives them their own."""
    scvi.settings.seed = 0
    reference = _reference_model()
    first_layer = reference.module.decoder.px_decoder.fc_layers[0][0].weight.detach().clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = scvi.model.SCVI.load_query_data(_query_cells(batch="batch_0"), reference,
                                                accelerator="cpu")
    assert not [w for w in caught if "batch" in str(w.message).lower()]
    assert model.summary_stats.n_batch == 2
    model.train(**{**FAST, "max_epochs": 2}, plan_kwargs={"weight_decay": 0.0})
    changed = (model.module.decoder.px_decoder.fc_layers[0][0].weight.detach()
               != first_layer).any(0)
    assert changed.tolist() == [False] * 4 + [True, False]  # z (4), then batch_0's column

    model = scvi.model.SCVI.load_query_data(_query_cells(batch="query_batch_0"), reference,
                                            accelerator="cpu")  # the fix
    assert model.summary_stats.n_batch == 3


def test_multivi_train_forces_full_adversarial_loss():
    """MULTIVI.train writes scale_adversarial_loss=1 into plan_kwargs after the user's, so
    plan_kwargs={"scale_adversarial_loss": 0.0} (as the TOTALVI reference-mapping tutorial
    passes) or "auto" (the plan's default, which ramps it down with the KL warm-up) is replaced
    without a warning. Only train(adversarial_mixing=False) turns the adversarial term off;
    TOTALVI keeps the plan_kwargs value."""
    model = scvi.model.MULTIVI(_multivi_mudata(), n_latent=4)
    model.train(**FAST, plan_kwargs={"scale_adversarial_loss": 0.0})
    assert model.trainer.lightning_module.scale_adversarial_loss == 1
    assert model.trainer.lightning_module.adversarial_classifier is not False
    model.train(**FAST, adversarial_mixing=False)  # the fix
    assert model.trainer.lightning_module.adversarial_classifier is False
    totalvi = _adata()
    scvi.model.TOTALVI.setup_anndata(totalvi, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    totalvi = scvi.model.TOTALVI(totalvi, n_latent=4)
    totalvi.train(**FAST, plan_kwargs={"scale_adversarial_loss": 0.0})
    assert totalvi.trainer.lightning_module.scale_adversarial_loss == 0.0


def test_a_reloaded_query_model_is_no_longer_frozen(tmp_path):
    """The freezing load_query_data applies (requires_grad=False, gradient hooks) lives only on the
    in-memory module: a query model saved and loaded again with Model.load trains every weight,
    the reference's decoder and encoder included, without a warning. Loading the saved query
    through load_query_data(query, saved_dir) applies the freezing again."""
    reference = _reference_model()
    query = _query_cells()
    model = scvi.model.SCVI.load_query_data(query, reference, accelerator="cpu")
    model.train(**FAST)
    assert not model.module.decoder.px_scale_decoder[0].weight.requires_grad
    model.save(str(tmp_path / "query"), overwrite=True, save_anndata=True)

    loaded = scvi.model.SCVI.load(str(tmp_path / "query"), accelerator="cpu")
    assert all(p.requires_grad for p in loaded.module.parameters())
    before = loaded.module.decoder.px_scale_decoder[0].weight.detach().clone()
    loaded.train(**FAST)
    assert not torch.equal(loaded.module.decoder.px_scale_decoder[0].weight.detach(), before)

    again = scvi.model.SCVI.load_query_data(query, str(tmp_path / "query"), accelerator="cpu")
    assert not again.module.decoder.px_scale_decoder[0].weight.requires_grad  # the fix
    torch.testing.assert_close(again.module.decoder.px_scale_decoder[0].weight.detach(), before)


def test_peakvi_vanilla_prob_da_is_directional():
    """PEAKVI.differential_accessibility(mode="vanilla") fills prob_da, documented as the
    probability that the region is differentially accessible, with proba_m1, the probability that
    it is more accessible in group1: swapping group1 and group2 turns it into 1 - prob_da, a
    region far more accessible in group2 scores near 0, and is_da_fdr is None. mode="change" (the
    default) gives a DA probability that does not depend on the order of the groups."""
    model = _peakvi()
    model.train(**FAST)
    kwargs = {"groupby": "labels", "silent": True}
    swapped = {}
    for mode in ("vanilla", "change"):
        results = []
        for group1, group2 in (("label_0", "label_1"), ("label_1", "label_0")):
            scvi.settings.seed = 0
            results.append(model.differential_accessibility(group1=group1, group2=group2,
                                                             mode=mode, **kwargs))
        first, second = (result.sort_index() for result in results)
        swapped[mode] = (first, second)
    first, second = swapped["vanilla"]
    np.testing.assert_allclose(first.prob_da + second.prob_da, 1.0, atol=0.05)
    assert first.is_da_fdr.isna().all()
    first, second = swapped["change"]  # the fix
    np.testing.assert_allclose(first.prob_da, second.prob_da, atol=0.05)
    assert first.is_da_fdr.dtype == bool


def _zero_test_adata():
    """200 cells, 50 filler genes (fix the library sizes) and three test genes: one with zeros
    exactly as a Poisson model expects, one zero-inflated (more zeros than expected), one with
    fewer zeros than expected."""
    rng = np.random.default_rng(0)
    n = 200
    filler = rng.poisson(20, size=(n, 50))
    poisson_gene = rng.poisson(0.51, size=n)
    zi_gene = np.where(rng.random(n) < 0.1, rng.poisson(1.05, size=n), 0)
    under_gene = (rng.random(n) < 0.55).astype(int)
    X = np.column_stack([filler, poisson_gene, zi_gene, under_gene]).astype(np.float32)
    adata = anndata.AnnData(sp.csr_matrix(X))
    adata.var_names = [f"f{i}" for i in range(50)] + ["poisson", "zero_inflated", "under"]
    return adata


def test_poisson_gene_selection_probability_is_a_bernoulli_product():
    """poisson_gene_selection documents prob_zero_enrichment as a posterior probability of zero
    enrichment from a binomial model, but it samples Binomial(probs=...) with total_count=1:
    the value is P(Bernoulli(observed) > Bernoulli(expected)) = observed * (1 - expected).
    A zero-inflated gene ranks below a gene whose zeros are exactly Poisson, and even below one
    with fewer zeros than Poisson expects; highly_variable (n_top_genes) follows that rank."""
    adata = _zero_test_adata()
    torch.manual_seed(0)
    df = poisson_gene_selection(adata, n_top_genes=1, accelerator="cpu", inplace=False,
                                silent=True)
    obs, exp, prob = (df["observed_fraction_zeros"], df["expected_fraction_zeros"],
                      df["prob_zero_enrichment"])
    # the statistic is the product of two fractions, not a probability of enrichment
    assert np.abs(prob - obs * (1 - exp)).max() < 0.02
    t = df.loc[["poisson", "zero_inflated", "under"]]
    assert t.loc["zero_inflated", "observed_fraction_zeros"] > t.loc["zero_inflated",
                                                                    "expected_fraction_zeros"]
    assert t.loc["under", "observed_fraction_zeros"] < t.loc["under", "expected_fraction_zeros"]
    assert t.loc["zero_inflated", "prob_zero_enrichment"] < t.loc["under", "prob_zero_enrichment"]
    assert t.loc["zero_inflated", "prob_zero_enrichment"] < t.loc["poisson", "prob_zero_enrichment"]
    assert df.index[df["highly_variable"]].tolist() == ["poisson"]
    # what the user meant: rank by the excess of observed over expected zeros
    excess = obs - exp
    assert excess.idxmax() == "zero_inflated"


def test_poisson_gene_selection_subset_ignores_inplace_false():
    """poisson_gene_selection(adata, inplace=False, subset=True) does not return the metrics
    DataFrame that inplace=False documents: subset=True writes the columns into adata.var,
    subsets adata to the n_top_genes genes in place and returns None. With subset=False,
    inplace=False returns the DataFrame and leaves adata alone."""
    adata = _zero_test_adata()
    ret = poisson_gene_selection(adata, n_top_genes=5, accelerator="cpu", inplace=False,
                                 subset=False, silent=True, n_samples=200)
    assert isinstance(ret, pd.DataFrame) and adata.n_vars == 53
    assert "highly_variable" not in adata.var
    ret = poisson_gene_selection(adata, n_top_genes=5, accelerator="cpu", inplace=False,
                                 subset=True, silent=True, n_samples=200)
    assert ret is None
    assert adata.n_vars == 5 and "prob_zero_enrichment" in adata.var


def test_synthetic_iid_dropout_ratio_is_a_keep_rate():
    """synthetic_iid's dropout_ratio is documented as the expected percentage of zeros added to
    the RNA (and accessibility) data, but the mask keeps each value with probability
    dropout_ratio: dropout_ratio=0.0 returns an all-zero count matrix (on which SCVI trains
    without an error), 1.0 adds no zeros, and the default 0.7 adds 30%."""
    np.random.seed(0)
    none = synthetic_iid(batch_size=50, n_genes=30, n_proteins=0, n_regions=30, dropout_ratio=0.0)
    assert (none.X == 0).all() and (none.obsm["accessibility"] == 0).all()
    full = synthetic_iid(batch_size=50, n_genes=30, n_proteins=0, n_regions=0, dropout_ratio=1.0)
    assert (full.X == 0).mean() < 0.01  # only the negative binomial's own zeros (0.3**5)
    nine = synthetic_iid(batch_size=50, n_genes=30, n_proteins=0, n_regions=0, dropout_ratio=0.1)
    assert 0.85 < (nine.X == 0).mean() < 0.95
    # the fix: pass 1 - wanted fraction of zeros
    want = synthetic_iid(batch_size=50, n_genes=30, n_proteins=0, n_regions=0,
                         dropout_ratio=1 - 0.1)
    assert 0.05 < (want.X == 0).mean() < 0.15
    scvi.model.SCVI.setup_anndata(none)
    model = scvi.model.SCVI(none, n_hidden=8, n_latent=2)
    model.train(**FAST)  # all-zero data trains silently
    assert np.isfinite(model.history["elbo_train"].values.astype(float)).all()


def test_totalvi_sparse_proteins_fail_with_over_ten_proteins():
    """TOTALVI with a sparse protein matrix (a CSR/CSC protein modality in a MuData, as
    muon.read_10x_h5 gives, or a sparse obsm) and more than 10 proteins fails in TOTALVI(...)
    with scikit-learn's TypeError "Sparse data was passed for X, but dense data is required":
    the empirical protein background prior, on by default above 10 proteins, fits a
    GaussianMixture to each sparse row. With 10 proteins or
    empirical_protein_background_prior=False the sparse data trains; densifying the protein
    matrix is the fix."""
    mdata = synthetic_iid(batch_size=40, n_genes=20, n_proteins=12, n_regions=0,
                          return_mudata=True, sparse_format="csr_matrix")
    assert sp.issparse(mdata["protein_expression"].X)
    scvi.model.TOTALVI.setup_mudata(mdata, batch_key="batch",
                                    modalities={"rna_layer": "rna",
                                                "protein_layer": "protein_expression"})
    with pytest.raises(TypeError, match="Sparse data was passed"):
        scvi.model.TOTALVI(mdata, n_latent=4)
    # the sparse data itself is fine for training: only the prior fails
    model = scvi.model.TOTALVI(mdata, n_latent=4, empirical_protein_background_prior=False)
    model.train(**FAST)
    assert model.is_trained
    # AnnData route: the same with a sparse obsm
    adata = _adata(n_proteins=12)
    adata.obsm["protein_expression"] = sp.csr_matrix(adata.obsm["protein_expression"])
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    with pytest.raises(TypeError, match="Sparse data was passed"):
        scvi.model.TOTALVI(adata, n_latent=4)
    # the fix: a dense protein matrix
    mdata["protein_expression"].X = mdata["protein_expression"].X.toarray()
    scvi.model.TOTALVI.setup_mudata(mdata, batch_key="batch",
                                    modalities={"rna_layer": "rna",
                                                "protein_layer": "protein_expression"})
    scvi.model.TOTALVI(mdata, n_latent=4)


def test_totalvi_protein_names_uns_key_sets_the_protein_count():
    """TOTALVI.setup_anndata(protein_names_uns_key=...) takes the number of proteins from the
    length of that uns list, not from the obsm matrix (even when the obsm is a DataFrame with
    its own columns), and checks nothing: after dropping proteins from obsm (isotype controls)
    with the old uns["protein_names"] left in place, setup succeeds, and TOTALVI(...) fails with
    "Number of proteins in anndata different from when setup_anndata was run. Please rerun
    setup_anndata" (rerunning changes nothing); with 10 proteins or fewer train() fails with
    "mat1 and mat2 shapes cannot be multiplied"."""
    adata = _adata(n_proteins=12)
    pro = adata.obsm["protein_expression"][:, 2:]
    adata.obsm["protein_expression"] = pd.DataFrame(pro, index=adata.obs_names,
                                                    columns=adata.uns["protein_names"][2:])
    for _ in range(2):  # "Please rerun setup_anndata": rerunning gives the same
        scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                         protein_expression_obsm_key="protein_expression",
                                         protein_names_uns_key="protein_names")
        with pytest.raises(ValueError, match="Number of proteins in anndata different"):
            scvi.model.TOTALVI(adata, n_latent=4)

    small = _adata(n_proteins=4)
    small.obsm["protein_expression"] = small.obsm["protein_expression"][:, 1:]
    scvi.model.TOTALVI.setup_anndata(small, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression",
                                     protein_names_uns_key="protein_names")
    model = scvi.model.TOTALVI(small, n_latent=4)
    assert model.summary_stats.n_proteins == 4  # the uns list, not the 3 columns of obsm
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        model.train(**FAST)

    # the fix: keep the names in step with the matrix (or pass no protein_names_uns_key with a
    # DataFrame, whose columns are then the names)
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    model = scvi.model.TOTALVI(adata, n_latent=4)
    assert model.summary_stats.n_proteins == 10


def test_nan_in_continuous_covariate_passes_setup():
    """setup_anndata(continuous_covariate_keys=[...]) copies the obs columns into obsm without
    checking them: a NaN (or pandas NA in a nullable Int64/Float64 column) in one cell passes
    setup without a warning; the first epoch logs elbo_train NaN and turns every weight NaN, and
    the next step fails in torch's check of the encoder's Normal ("Expected parameter loc ...
    constraint Real()"), which names neither the covariate nor the cell."""
    with _torch_argument_checks():
        adata = _adata()
        pct = np.linspace(0.01, 0.2, adata.n_obs)
        adata.obs["pct_mito"] = pct
        adata.obs.loc[adata.obs_names[0], "pct_mito"] = np.nan
        scvi.model.SCVI.setup_anndata(adata, batch_key="batch",
                                      continuous_covariate_keys=["pct_mito"])
        assert adata.obsm["_scvi_extra_continuous_covs"]["pct_mito"].isna().sum() == 1
        model = scvi.model.SCVI(adata, n_hidden=8, n_latent=2)
        model.train(train_size=1.0, **FAST)  # one minibatch: the step completes
        assert np.isnan(model.history["elbo_train"].values.astype(float)).all()
        with pytest.raises(ValueError, match=r"Expected parameter loc .* constraint Real"):
            model.train(train_size=1.0, **FAST)

        # the fix: fill the missing values before setup
        adata.obs["pct_mito"] = adata.obs["pct_mito"].fillna(adata.obs["pct_mito"].median())
        scvi.model.SCVI.setup_anndata(adata, batch_key="batch",
                                      continuous_covariate_keys=["pct_mito"])
        model = scvi.model.SCVI(adata, n_hidden=8, n_latent=2)
        model.train(train_size=1.0, max_epochs=2, accelerator="cpu", enable_progress_bar=False)
        assert np.isfinite(model.history["elbo_train"].values.astype(float)).all()


def test_string_continuous_covariate_fails_in_training():
    """continuous_covariate_keys takes any obs column: a string column (sex as "female"/"male")
    passes setup_anndata and SCVI(...) without a word and fails only when the first minibatch
    is loaded, with ValueError "could not convert string to float: 'female'" from the data
    loader, which names neither the argument nor the column. Numeric strings ("1", "2") are
    silently converted. Categorical covariates belong in categorical_covariate_keys."""
    adata = _adata()
    adata.obs["sex"] = np.where(np.arange(adata.n_obs) % 2, "male", "female")
    scvi.model.SCVI.setup_anndata(adata, continuous_covariate_keys=["sex"])
    model = scvi.model.SCVI(adata, n_hidden=8, n_latent=2)
    assert model.summary_stats.n_extra_continuous_covs == 1
    with pytest.raises(ValueError, match="could not convert string to float: '(fe)?male'"):
        model.train(**FAST)
    # the fix: register it as a categorical covariate
    scvi.model.SCVI.setup_anndata(adata, categorical_covariate_keys=["sex"])
    model = scvi.model.SCVI(adata, n_hidden=8, n_latent=2)
    model.train(**FAST)
    assert model.is_trained


def test_nb_total_count_probs_is_not_torchs():
    """scvi.distributions.NegativeBinomial(total_count=r, probs=p) (and the zero-inflated one)
    documents torch's parameterization (failures, success probability) but turns probs into
    logits with the categorical log(p), not logit(p): its mean is r * p, not r * p / (1 - p),
    and its log_prob differs from torch.distributions.NegativeBinomial(r, p) for the same
    arguments. Passing logits=torch.logit(p) (or mu, theta) gives torch's distribution."""
    from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial

    r, p = torch.tensor([5.0]), torch.tensor([0.3])
    x = torch.tensor([2.0])
    ref = torch.distributions.NegativeBinomial(total_count=r, probs=p)
    nb = NegativeBinomial(total_count=r, probs=p)
    assert torch.allclose(nb.mean, r * p)  # 1.5, not torch's 2.14
    assert not torch.allclose(nb.mean, ref.mean, atol=0.1)
    assert not torch.allclose(nb.log_prob(x), ref.log_prob(x), atol=1e-2)
    zinb = ZeroInflatedNegativeBinomial(total_count=r, probs=p, zi_logits=torch.tensor([-20.0]))
    assert torch.allclose(zinb.mu, r * p)
    # the same distribution given by its logits is torch's: probs and logits disagree
    fixed = NegativeBinomial(total_count=r, logits=torch.logit(p))
    assert torch.allclose(fixed.mean, ref.mean)
    assert torch.allclose(fixed.log_prob(x), ref.log_prob(x), atol=1e-5)
    by_mean = NegativeBinomial(mu=r * p / (1 - p), theta=r)
    assert torch.allclose(by_mean.log_prob(x), ref.log_prob(x), atol=1e-5)


def test_nb_mixture_theta2_fails():
    """scvi.distributions.NegativeBinomialMixture documents theta2 (a second inverse
    dispersion), but stores broadcast_all(mu1, theta2), a tuple: log_prob raises TypeError
    "can only concatenate tuple (not "Tensor") to tuple" and sample() another TypeError.
    Its get_normalized() reads self.rate, which it never sets (AttributeError), so
    RNASeqMixin.get_normalized_expression fails on a module whose px is this mixture. Without
    theta2 (one theta for both components) log_prob and sample work."""
    from scvi.distributions import NegativeBinomialMixture

    args = {"mu1": torch.ones(4), "mu2": torch.full((4,), 100.0),
            "theta1": torch.full((4,), 50.0), "mixture_logits": torch.zeros(4)}
    mix = NegativeBinomialMixture(**args, theta2=torch.full((4,), 10.0))
    assert isinstance(mix.theta2, tuple)
    with pytest.raises(TypeError, match="can only concatenate tuple"):
        mix.log_prob(torch.ones(4))
    with pytest.raises(TypeError):
        mix.sample()
    shared = NegativeBinomialMixture(**args)  # theta2 left out: theta1 for both components
    assert torch.isfinite(shared.log_prob(torch.ones(4))).all()
    assert shared.sample().shape == (4,)
    with pytest.raises(AttributeError, match="'rate'"):
        shared.get_normalized("mu")


def test_nb_mixture_sample_shape_reuses_one_component_draw():
    """NegativeBinomialMixture.sample(sample_shape) draws each entry's component (Bernoulli of
    the mixture probability) once, before the sample axis: all n samples of an entry come from
    the same component, so with mixture_logits=0 every entry's samples are all background or
    all foreground instead of half and half. Calling sample() n times (and stacking) draws
    the component anew each time."""
    from scvi.distributions import NegativeBinomialMixture

    torch.manual_seed(0)
    mix = NegativeBinomialMixture(mu1=torch.ones(20), mu2=torch.full((20,), 100.0),
                                  theta1=torch.full((20,), 1000.0),
                                  mixture_logits=torch.zeros(20))  # P(component 1) = 0.5
    from_second = (mix.sample((400,)) > 30).float().mean(0)  # share from the mu2=100 part
    assert set(from_second.tolist()) <= {0.0, 1.0}  # each entry: one component for all 400
    looped = (torch.stack([mix.sample() for _ in range(400)]) > 30).float().mean(0)
    assert ((looped > 0.3) & (looped < 0.7)).all()  # the fix: about half from each


def test_encoder_n_cont_has_no_input():
    """scvi.nn.Encoder and DecoderSCVI pass **kwargs to FCLayers, whose n_cont widens the first
    layer for continuous covariates, but their forward() takes only x (z) and the categories,
    no cont: Encoder(n_in, n_out, n_cont=2) builds, then fails with RuntimeError "mat1 and mat2
    shapes cannot be multiplied" (and forward(x, cont=c) with TypeError). Concatenating the
    covariates to x and counting them in n_input, as VAE does, works; FCLayers itself takes
    cont=."""
    from scvi.nn import DecoderSCVI, Encoder, FCLayers

    x, cont = torch.rand(5, 10), torch.rand(5, 2)
    enc = Encoder(10, 3, n_hidden=8, n_cont=2)
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        enc(x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'cont'"):
        enc(x, cont=cont)
    dec = DecoderSCVI(3, 10, n_hidden=8, n_cont=2)
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        dec("gene", torch.rand(5, 3), torch.zeros(5, 1))
    q_m, q_v, z = Encoder(12, 3, n_hidden=8)(torch.cat([x, cont], dim=-1))  # the fix
    assert z.shape == (5, 3)
    assert FCLayers(10, 4, n_cont=2)(x, cont=cont).shape == (5, 4)


def test_vae_norm_flags_take_strings_only():
    """SCVI's (and SCANVI's, TOTALVI's: the module keyword) use_batch_norm and use_layer_norm
    are compared with "encoder", "decoder" and "both": use_batch_norm=True (a bool, as FCLayers
    and LinearSCVI take it) builds a model with no BatchNorm at all, and use_layer_norm=True
    one with no LayerNorm, without a warning. The strings ("both") give the layers."""

    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.module.modules())

    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    assert count(scvi.model.SCVI(adata, n_hidden=16), torch.nn.BatchNorm1d) == 3  # default
    assert count(scvi.model.SCVI(adata, n_hidden=16, use_batch_norm=True),
                 torch.nn.BatchNorm1d) == 0
    assert count(scvi.model.SCVI(adata, n_hidden=16, use_layer_norm=True),
                 torch.nn.LayerNorm) == 0
    assert count(scvi.model.SCVI(adata, n_hidden=16, use_layer_norm="both"),
                 torch.nn.LayerNorm) == 3  # the fix: a string
    scanvi_data = _adata()
    scvi.model.SCANVI.setup_anndata(scanvi_data, labels_key="labels",
                                    unlabeled_category="unknown", batch_key="batch")
    assert count(scvi.model.SCANVI(scanvi_data, n_hidden=16), torch.nn.BatchNorm1d) > 0
    assert count(scvi.model.SCANVI(scanvi_data, n_hidden=16, use_batch_norm=True),
                 torch.nn.BatchNorm1d) == 0
    totalvi_data = _adata()
    scvi.model.TOTALVI.setup_anndata(totalvi_data, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    assert count(scvi.model.TOTALVI(totalvi_data, n_latent=4), torch.nn.BatchNorm1d) > 0
    assert count(scvi.model.TOTALVI(totalvi_data, n_latent=4, use_batch_norm=True),
                 torch.nn.BatchNorm1d) == 0


def test_vae_unknown_gene_likelihood_fails_in_training():
    """SCVI (VAE, also SCANVI and LinearSCVI) does not check gene_likelihood: an unknown name
    such as "negative_binomial" builds the model, and train() fails at the first step with
    UnboundLocalError "cannot access local variable 'px'", which names neither the argument
    nor its values ("zinb", "nb", "poisson", "normal"). An unknown latent_distribution
    ("logistic_normal") is taken as "normal" silently."""
    adata = _adata()
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4, gene_likelihood="negative_binomial")
    with pytest.raises(UnboundLocalError, match="local variable 'px'"):
        model.train(**FAST)
    model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4, latent_distribution="logistic_normal")
    assert model.module.z_encoder.z_transformation.__name__ == "_identity"  # plain normal
    fixed = scvi.model.SCVI(adata, n_hidden=16, n_latent=4, gene_likelihood="nb")
    fixed.train(**FAST)
    assert fixed.is_trained


def test_field_attr_key_none_does_not_read_the_registry_key():
    """The data fields document attr_key "If None, defaults to `registry_key`", but
    CategoricalObsField("batch", None) never reads adata.obs["batch"]: it writes a one-category
    dummy column (_scvi_batch all 0), so a custom setup_anndata leaves n_batch=1 on data with
    two batches; NumericalObsField("size_factor", None) raises ValueError "`attr_key` cannot be
    `None` if `required=True`". Naming the column (attr_key="batch") registers its batches."""
    from scvi.data import AnnDataManager
    from scvi.data.fields import CategoricalObsField, LayerField, NumericalObsField

    adata = _adata()
    adata.obs["size_factor"] = 1.0
    assert adata.obs["batch"].nunique() == 2
    manager = AnnDataManager(fields=[LayerField("X", None), CategoricalObsField("batch", None)])
    manager.register_fields(adata)
    assert manager.summary_stats.n_batch == 1
    assert (adata.obs["_scvi_batch"] == 0).all()
    with pytest.raises(ValueError, match="`attr_key` cannot be `None` if `required=True`"):
        NumericalObsField("size_factor", None)
    fixed = AnnDataManager(fields=[LayerField("X", None), CategoricalObsField("batch", "batch")])
    fixed.register_fields(_adata())
    assert fixed.summary_stats.n_batch == 2


def test_loss_output_extra_metrics_only_scalars_are_logged():
    """LossOutput documents extra_metrics as "arrays/tensors or dictionaries of arrays/tensors",
    but the training plan logs only 0-d tensors and scalars: a per-cell tensor is dropped with
    the warning "should be 0-d tensors. It will not be logged", and a dict or numpy array stops
    train() with Lightning's ValueError "... values cannot be logged". A 0-d tensor (the mean)
    reaches model.history as <key>_train."""
    from scvi.module import VAE

    extra = {}

    class MetricVAE(VAE):
        def loss(self, tensors, inference_outputs, generative_outputs, kl_weight=1.0):
            out = super().loss(tensors, inference_outputs, generative_outputs, kl_weight)
            z = inference_outputs["z"]
            out.extra_metrics.update({k: f(z) for k, f in extra.items()})
            return out

    class MetricSCVI(scvi.model.SCVI):
        _module_cls = MetricVAE

    adata = _adata()
    MetricSCVI.setup_anndata(adata)

    def train_with(**metrics):
        extra.clear()
        extra.update(metrics)
        model = MetricSCVI(adata, n_hidden=16, n_latent=4)
        model.train(**FAST)
        return model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = train_with(z_norm=lambda z: z.norm(dim=-1))  # one value per cell
    assert "z_norm_train" not in model.history
    assert any("should be 0-d tensors" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="`dict` values cannot be logged"):
        train_with(z_parts=lambda z: {"first": z[:, 0].mean()})
    with pytest.raises(ValueError, match="`ndarray` values cannot be logged"):
        train_with(z_np=lambda z: z.detach().norm(dim=-1).mean().numpy())
    fixed = train_with(z_norm=lambda z: z.norm(dim=-1).mean())  # the fix: a 0-d tensor
    assert "z_norm_train" in fixed.history


def _gimvi():
    """GIMVI on a 80-cell scRNA-seq AnnData (20 genes, 2 batches) and a 80-cell spatial one
    holding the first 10 of those genes."""
    from scvi.external import GIMVI

    seq, spatial = _adata(), _adata()[:, :10].copy()
    GIMVI.setup_anndata(seq, batch_key="batch")
    GIMVI.setup_anndata(spatial)
    return GIMVI(seq, spatial, n_latent=4)


def test_gimvi_history_has_no_training_metrics():
    """GIMVI.train() logs no training metric: its training plan returns the loss, the
    reconstruction loss and the KL from training_step instead of logging them, so after a
    default train() model.history is {} (no train_loss, no elbo_train), and with validation
    switched on it holds only the *_validation keys. SCVI logs elbo_train and the rest by
    default. The only curve to follow is the validation one: check_val_every_n_epoch=1."""
    model = _gimvi()
    model.train(**{**FAST, "max_epochs": 2})
    assert model.history == {}
    with pytest.raises(KeyError):
        model.history["elbo_train"]
    # SCVI's plan logs its training metrics whatever the validation settings.
    vae = _scvi(batch_key="batch")
    vae.train(**{**FAST, "max_epochs": 2})
    assert {"train_loss", "elbo_train"} <= set(vae.history)
    # The fix (a workaround): validate every epoch and follow elbo_validation.
    model = _gimvi()
    model.train(**{**FAST, "max_epochs": 2}, check_val_every_n_epoch=1)
    assert set(model.history) == {"elbo_validation", "reconstruction_loss_validation",
                                  "kl_local_validation", "kl_global_validation"}
    assert len(model.history["elbo_validation"]) == 2
    assert np.isfinite(model.history["elbo_validation"].to_numpy(dtype=float)).all()


def test_gimvi_default_training_ends_at_half_kl_weight():
    """GIMVI.train() defaults to max_epochs=200 while its training plan keeps
    AdversarialTrainingPlan's default n_epochs_kl_warmup=400 and scales the latent KL by
    epoch / 400: every default run, whatever the number of cells, ends with the KL weighed
    0.4975, never the full ELBO, and nothing warns. The fix:
    plan_kwargs={"n_epochs_kl_warmup": k} with k <= max_epochs."""
    import lightning.pytorch as pl
    from scvi.external import GIMVI
    from scvi.train._trainingplans import _compute_kl_weight

    assert inspect.signature(GIMVI.train).parameters["max_epochs"].default == 200

    class Weights(pl.Callback):
        def __init__(self):
            self.seen = []

        def on_train_batch_start(self, trainer, pl_module, *args):
            self.seen.append((trainer.current_epoch, float(pl_module.kl_weight)))

    weights = Weights()
    model = _gimvi()
    model.train(**{**FAST, "max_epochs": 2}, callbacks=[weights])
    plan = model._training_plan
    assert (plan.n_epochs_kl_warmup, plan.n_steps_kl_warmup) == (400, None)
    epoch_1 = [w for e, w in weights.seen if e == 1]
    assert epoch_1 and epoch_1 == pytest.approx([1 / 400] * len(epoch_1))
    # The last epoch of a default (200-epoch) run: weight 199 / 400.
    assert _compute_kl_weight(199, 0, 400, None, 1.0, 0.0) == pytest.approx(0.4975)
    # The fix: a 1-epoch warmup gives the whole KL from the second epoch on.
    weights = Weights()
    fixed = _gimvi()
    fixed.train(**{**FAST, "max_epochs": 2}, callbacks=[weights], plan_kwargs={"n_epochs_kl_warmup": 1})
    epoch_1 = [w for e, w in weights.seen if e == 1]
    assert epoch_1 and set(epoch_1) == {1.0}


def test_methylanvi_categorical_covariates_fail():
    """METHYLANVI.setup_mudata takes categorical_covariate_keys (its docstring example passes
    categorical_covariate_keys=["Platform"]), but METHYLANVI's module has no encode_covariates
    attribute, which the shared classifier path reads as soon as categorical covariates are
    registered: train() (and predict()) fail on the first step with AttributeError
    "'METHYLANVAE' object has no attribute 'encode_covariates'", naming neither the covariate
    nor the argument. METHYLVI trains with the same setup."""
    methylvi = _methylation(scvi.external.METHYLVI, platform=True)
    methylvi.train(**FAST)  # the unsupervised model takes the covariate
    model = _methylation(scvi.external.METHYLANVI, platform=True, labels_key="labels",
                         unlabeled_category="unknown")
    assert not hasattr(model.module, "encode_covariates")
    with pytest.raises(AttributeError, match="'METHYLANVAE' object has no attribute "
                                             "'encode_covariates'"):
        model.train(**FAST)
    with pytest.raises(AttributeError, match="encode_covariates"):
        model.predict()
    # The fix (a workaround): give the module the attribute, True, so the classifier encodes
    # the covariates as the VAE's own inference always does; training and predict() then run,
    # and predict() classifies the same latent get_latent_representation() returns.
    model = _methylation(scvi.external.METHYLANVI, platform=True, labels_key="labels",
                         unlabeled_category="unknown")
    model.module.encode_covariates = True
    model.train(**FAST)
    soft = model.predict(soft=True)
    latent = torch.as_tensor(model.get_latent_representation())
    with torch.no_grad():
        from_latent = torch.softmax(model.module.classifier(latent), dim=-1).numpy()
    np.testing.assert_allclose(soft.to_numpy(), from_latent, atol=1e-5)


@pytest.mark.parametrize("dispersion", [{"gene_dispersion": "gene-label"},
                                        {"protein_dispersion": "protein-label"}])
def test_totalvi_label_dispersions_fail_in_training(dispersion):
    """TOTALVI and TOTALANVI list gene_dispersion="gene-label" and
    protein_dispersion="protein-label" (TOTALANVI's labels are set up with labels_key), and
    the model builds, but TOTALVAE's inference is never given the labels: the first training
    step fails with AttributeError "'NoneType' object has no attribute 'squeeze'", which names
    neither the dispersion nor the labels. The fix: "gene"/"gene-batch" and
    "protein"/"protein-batch" train."""
    def totalanvi(**dispersions):
        adata = _adata(n_labels=3)
        scvi.external.TOTALANVI.setup_anndata(adata, batch_key="batch", labels_key="labels",
                                              protein_expression_obsm_key="protein_expression",
                                              unlabeled_category="label_0")
        return scvi.external.TOTALANVI(adata, n_latent=4, **dispersions)

    adata = _adata(n_labels=3)
    scvi.model.TOTALVI.setup_anndata(adata, batch_key="batch",
                                     protein_expression_obsm_key="protein_expression")
    for model in (scvi.model.TOTALVI(adata, n_latent=4, **dispersion), totalanvi(**dispersion)):
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'squeeze'"):
            model.train(**FAST)
    # The fix: the batch-wise dispersions train.
    batchwise = {key: value.replace("label", "batch") for key, value in dispersion.items()}
    fixed = totalanvi(**batchwise)
    fixed.train(**FAST)
    assert fixed.is_trained


def test_mrvi_linf_sample_distances_fail():
    """MRVI.get_local_sample_distances(norm=...) accepts "l2", "l1" and "linf" (any other
    value raises "`norm` ... not supported"), but norm="linf" fails after the model has
    encoded the cells, with AttributeError "'torch.return_types.max' object has no attribute
    'detach'": the distance takes torch's max(-1), a (values, indices) pair. "l1" and "l2" work;
    the fix for L-infinity: compute it from get_local_sample_representation()."""
    model = _mrvi()
    model.train(**FAST)
    with pytest.raises(ValueError, match="`norm` l3 not supported"):
        model.get_local_sample_distances(norm="l3")
    with pytest.raises(AttributeError, match="'torch.return_types.max' object has no "
                                             "attribute 'detach'"):
        model.get_local_sample_distances(norm="linf")
    l1 = model.get_local_sample_distances(norm="l1")["cell"]
    n_sample = model.summary_stats.n_sample
    assert l1.shape == (model.adata.n_obs, n_sample, n_sample)
    # The fix: L-infinity distances from the local sample representations.
    reps = model.get_local_sample_representation().values  # (cells, samples, latent)
    linf = np.abs(reps[:, :, None, :] - reps[:, None, :, :]).max(-1)
    l1_by_hand = np.abs(reps[:, :, None, :] - reps[:, None, :, :]).sum(-1)
    np.testing.assert_allclose(l1.values, l1_by_hand, rtol=1e-4, atol=1e-5)
    assert linf.shape == l1.shape and (linf <= l1_by_hand + 1e-6).all()


def test_autozi_samples_ignore_the_zero_inflation_selection():
    """AUTOZI's likelihood mixes, per gene, a negative binomial (weight delta_g) and a ZINB
    (weight 1 - delta_g), but the px its generative step hands to posterior_predictive_sample
    and get_likelihood_parameters is the plain ZINB: samples and the 'dropout' values are
    zero-inflated for every gene, also the genes the model calls not zero-inflated. With
    delta near 1 for all genes (beta.cdf(0.5, alpha, beta) = 0: no gene zero-inflated) and the
    ZINB's zero-inflation pushed to 1, get_reconstruction_error does not move (the NB alone is
    fitted) while posterior_predictive_sample returns only zeros. The fix: sample the genes
    AUTOZI calls not zero-inflated from NB(mean, dispersions)."""
    from scipy.stats import beta

    adata = _adata()
    scvi.model.AUTOZI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.AUTOZI(adata, n_latent=4)
    model.train(**FAST)
    with torch.no_grad():
        model.module.alpha_posterior_logit.fill_(20.0)  # alpha ~ 1
        model.module.beta_posterior_logit.fill_(-20.0)  # beta ~ 2e-9: delta ~ 1, all NB
    ab = model.get_alphas_betas()
    zi_probs = beta.cdf(0.5, ab["alpha_posterior"], ab["beta_posterior"])
    assert (zi_probs < 1e-6).all()  # the user guide's test: no gene is zero-inflated
    scvi.settings.seed = 0
    error_nb = float(model.get_reconstruction_error()["reconstruction_loss"])
    with torch.no_grad():
        model.module.decoder.px_dropout_decoder.bias.fill_(30.0)  # the ZINB: zeros only
    scvi.settings.seed = 0
    error = float(model.get_reconstruction_error()["reconstruction_loss"])
    assert error == pytest.approx(error_nb, rel=1e-6)  # the likelihood: NB, ZINB unused
    params = model.get_likelihood_parameters()
    assert (params["dropout"] > 0.999).all()  # still the ZINB's zero-inflation
    samples = model.posterior_predictive_sample().todense()
    assert (samples == 0).mean() > 0.999 > (adata.X == 0).mean()
    # The fix: NB samples from the same means and dispersions.
    rng = np.random.default_rng(0)
    mean, theta = params["mean"], params["dispersions"]
    nb = rng.negative_binomial(theta, theta / (theta + mean))
    assert (nb == 0).mean() < 0.9


def test_joint_embedding_validation_loss_omits_the_joint_embedding_term():
    """JointEmbeddingSCVI's train_loss is the ELBO plus joint_embedding_weight (100) times the
    cross-correlation (CCO) loss, but the CCO term is computed only in training mode:
    validation_loss (and elbo_validation) are the ELBO alone and no cco_loss_validation is
    logged, so train_loss sits several times above validation_loss with no overfitting at all.
    The fix: compare elbo_train with elbo_validation (both without the CCO term)."""
    adata = _adata()
    scvi.external.JointEmbeddingSCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.external.JointEmbeddingSCVI(adata, n_latent=4)
    model.train(**{**FAST, "max_epochs": 2}, check_val_every_n_epoch=1)
    h = {k: v.to_numpy(dtype=float).ravel() for k, v in model.history.items()}
    assert "cco_loss_train" in h and "cco_loss_validation" not in h
    # Epoch 0 has KL weight 0: train_loss = reconstruction + 100 * CCO (+ the library KL,
    # 0 with the observed library size); validation_loss = reconstruction alone.
    np.testing.assert_allclose(h["train_loss"][0], h["reconstruction_loss_train"][0]
                               + 100 * h["cco_loss_train"][0], rtol=0.05)
    np.testing.assert_allclose(h["validation_loss"][0], h["reconstruction_loss_validation"][0],
                               rtol=1e-5)
    assert (h["train_loss"] > 2 * h["validation_loss"]).all()
    # The fix: the ELBO curves are on one scale.
    assert (np.abs(h["elbo_train"] / h["elbo_validation"] - 1) < 0.5).all()


def test_scanvi_gene_label_dispersion_fails():
    """SCANVI lists dispersion="gene-label", but SCANVAE builds its parent VAE without
    n_labels, so the label-wise dispersion has zero columns: SCANVI(adata,
    dispersion="gene-label") builds and then fails on the first training step, with
    "Class values must be smaller than num_classes" when some cells are unlabelled and with
    "mat1 and mat2 shapes cannot be multiplied (... and 0x20)" when none is; and
    SCANVI.from_scvi_model on an SCVI trained with dispersion="gene-label" fails with
    "size mismatch for px_r". None names the dispersion. The fix: "gene" or "gene-batch"."""

    def scanvi(unlabeled_category, dispersion):
        adata = _adata(n_labels=3)
        scvi.model.SCANVI.setup_anndata(adata, batch_key="batch", labels_key="labels",
                                        unlabeled_category=unlabeled_category)
        return scvi.model.SCANVI(adata, n_latent=4, dispersion=dispersion)

    model = scanvi("label_0", "gene-label")  # the label_0 cells are the unlabelled ones
    assert tuple(model.module.px_r.shape) == (20, 0)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        model.train(**FAST)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied.*0x20"):
        scanvi("unknown", "gene-label").train(**FAST)  # no cell unlabelled
    # SCVI trains with it; SCANVI.from_scvi_model then cannot take its weights.
    adata = _adata(n_labels=3)
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch", labels_key="labels")
    vae = scvi.model.SCVI(adata, n_latent=4, dispersion="gene-label")
    vae.train(**FAST)
    assert tuple(vae.module.px_r.shape) == (20, 3)
    with pytest.raises(RuntimeError, match="size mismatch for px_r"):
        scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category="label_0")
    # The fix: a gene-wise or batch-wise dispersion.
    for dispersion in ("gene", "gene-batch"):
        fixed = scanvi("label_0", dispersion)
        fixed.train(**FAST)
        assert fixed.is_trained


def test_poissonvi_library_size_factors_fail():
    """POISSONVI.get_library_size_factors() is PEAKVI's, which reads the inference output "d":
    POISSONVI's module is a VAE, whose output has "library" (the observed log library size)
    instead, so the call raises KeyError 'd'."""
    model = _poissonvi(batch_key="batch")
    model.train(**FAST)
    assert type(model).get_library_size_factors is scvi.model.PEAKVI.get_library_size_factors
    with pytest.raises(KeyError, match="'d'"):
        model.get_library_size_factors()
    loader = model._make_data_loader(adata=model.adata, batch_size=model.adata.n_obs)
    outputs = model.module.inference(**model.module._get_inference_input(next(iter(loader))))
    counts = np.asarray(model.adata.X.sum(1)).ravel()
    assert np.allclose(outputs["library"].numpy().ravel(), np.log(counts), rtol=1e-5)  # the fix


def test_prepare_query_anndata_padding_drops_uns_and_builds_a_dense_block(tmp_path):
    """When genes are missing, prepare_query_anndata pads with anndata.concat, which keeps
    obsm and obsp but not .uns: the query's uns comes back empty (inplace too). The padding
    is built as a dense float64 zeros array of cells x missing genes before it becomes
    sparse."""
    import tracemalloc

    reference, path = _reference(tmp_path)
    query = _adata(n_cells_per_batch=3000, n_batches=1)
    query.var_names = [f"ENSG{i:011d}" for i in range(10)] + list(reference.var_names[10:])
    query.uns["colors"] = ["red"]
    query.obsm["X_pca"] = np.ones((query.n_obs, 2))
    uns = dict(query.uns)
    tracemalloc.start()
    try:
        scvi.model.SCVI.prepare_query_anndata(query, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(query.var_names) == list(reference.var_names)
    assert "X_pca" in query.obsm and dict(query.uns) == {}
    assert peak >= query.n_obs * 10 * 8  # 3000 cells x 10 missing genes as float64 zeros
    kept = _query()  # not padded: nothing is lost
    kept.var_names = list(reference.var_names)
    kept.uns["colors"] = ["red"]
    scvi.model.SCVI.prepare_query_anndata(kept, path)
    assert list(kept.uns["colors"]) == ["red"]
    restored = _query()  # the fix: keep a copy and put it back
    restored.var_names = [f"ENSG{i:011d}" for i in range(10)] + list(reference.var_names[10:])
    restored.uns["colors"] = ["red"]
    saved = dict(restored.uns)
    scvi.model.SCVI.prepare_query_anndata(restored, path)
    restored.uns.update(saved)
    assert list(restored.uns["colors"]) == ["red"] and set(restored.uns) == set(saved)
    assert set(uns) == {"colors", "protein_names"}  # what the padded query had before


def test_data_loader_kwargs_is_a_dict_for_some_methods_and_keywords_for_others():
    """get_elbo, get_marginal_ll, get_reconstruction_error and get_normalized_expression take
    data_loader_kwargs as a dict; get_latent_representation, posterior_predictive_sample,
    get_likelihood_parameters and get_latent_library_size take **data_loader_kwargs, where
    the same data_loader_kwargs={...} reaches the data loader as one keyword and raises
    TypeError. get_normalized_expression's importance_weighting_kwargs is **-form too."""
    model = _trained_scvi()
    options = {"num_workers": 0}
    for method in ("get_elbo", "get_reconstruction_error", "get_normalized_expression"):
        kind = inspect.signature(getattr(scvi.model.SCVI, method)).parameters[
            "data_loader_kwargs"].kind
        assert kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, method
        getattr(model, method)(data_loader_kwargs=options)
    for method, own in (("get_latent_representation", {}), ("posterior_predictive_sample", {}),
                        ("get_likelihood_parameters", {}),
                        ("get_latent_library_size", {"give_mean": False})):
        kind = inspect.signature(getattr(scvi.model.SCVI, method)).parameters[
            "data_loader_kwargs"].kind
        assert kind is inspect.Parameter.VAR_KEYWORD, method
        with pytest.raises(TypeError, match="unexpected keyword argument 'data_loader_kwargs'"):
            getattr(model, method)(data_loader_kwargs=options, **own)
        getattr(model, method)(**options, **own)  # the fix: the entries as keywords
    assert inspect.signature(scvi.model.SCVI.get_normalized_expression).parameters[
        "importance_weighting_kwargs"].kind is inspect.Parameter.VAR_KEYWORD


def test_diagvi_imputation_is_on_the_query_cells_library_scale():
    """DIAGVI.get_imputed_values(query) without reference_libsize decodes with the query
    cell's own log library, log(x.sum(1)) of the query modality: with a count likelihood each
    imputed row sums exactly to that cell's total counts in the query modality (a 10-gene
    panel), not to anything on the imputed modality's scale."""
    model = _diagvi()
    model.train(max_epochs=1, accelerator="cpu")
    spatial, rna = model.adatas["spatial"], model.adatas["rna"]
    imputed = model.get_imputed_values("spatial")
    assert imputed.shape == (spatial.n_obs, rna.n_vars)
    np.testing.assert_allclose(imputed.sum(1), np.asarray(spatial.X.sum(1)).ravel(), rtol=1e-4)
    assert imputed.sum(1).mean() < 0.6 * np.asarray(rna.X.sum(1)).mean()  # 30 vs 60 counts
    depth = float(np.asarray(rna.X.sum(1)).mean())  # the fix: the target depth, as a log
    fixed = model.get_imputed_values("spatial", reference_libsize=np.log(depth))
    np.testing.assert_allclose(fixed.sum(1), depth, rtol=1e-4)


def test_diagvi_imputation_decodes_every_cell_in_the_first_batch():
    """DIAGVI.get_imputed_values without reference_batch decodes every cell with batch code 0
    of the imputed modality ("Use batch index zero if no reference batch is provided"), not
    the cell's own batch; the docstring states no default."""
    model = _diagvi(batches=True)
    model.train(max_epochs=1, accelerator="cpu")
    default = model.get_imputed_values("spatial")
    np.testing.assert_allclose(default, model.get_imputed_values("spatial", reference_batch=0))
    assert not np.allclose(default, model.get_imputed_values("spatial", reference_batch=1))


def test_decipher_imputed_covariances_with_indices_fail():
    """Decipher.compute_imputed_gene_expression(indices=..., compute_covariances=True) pairs
    the len(indices) imputed rows with the whole adata.obsm[v_obsm_key] in np.cov: ValueError
    "all the input array dimensions except for the concatenation axis must match exactly".
    Without compute_covariances, indices work; a subset AnnData works with them."""
    adata = _adata(n_cells_per_batch=100)  # over 143 cells: Decipher trains a minibatch
    scvi.external.Decipher.setup_anndata(adata)
    model = scvi.external.Decipher(adata)
    model.train(**FAST)
    adata.obsm["v"] = model.get_latent_representation()
    adata.obsm["z"] = model.get_latent_representation(give_z=True)
    idx = np.arange(50)
    assert model.compute_imputed_gene_expression(indices=idx).shape == (50, adata.n_vars)
    with pytest.raises(ValueError, match="input array dimensions except for the concatenation"):
        model.compute_imputed_gene_expression(indices=idx, compute_covariances=True,
                                              v_obsm_key="v", z_obsm_key="z")
    expr, v_cov, _z_cov = model.compute_imputed_gene_expression(  # the fix
        adata=adata[idx].copy(), compute_covariances=True, v_obsm_key="v", z_obsm_key="z")
    assert expr.shape == (50, adata.n_vars) and v_cov.shape[0] == adata.n_vars


def test_cellassign_discards_its_data_driven_base_expression():
    """CellAssign computes b_g_0 from the data (standardized gene means) and passes it to its
    module, whose default random_b_g_0=True replaces it with torch.randn: under one seed the
    start is the same whatever the data. random_b_g_0=False uses the computed one."""
    starts = []
    for scale in (1.0, 10.0):
        model = _cellassign()
        adata = model.adata
        adata.X = np.asarray(adata.X, dtype=np.float32)
        adata.X[:, :5] *= scale
        torch.manual_seed(0)
        model = scvi.external.CellAssign(adata, model.cell_type_markers)
        starts.append(model.module.b_g_0.detach().numpy().copy())
    np.testing.assert_allclose(starts[0], starts[1])  # data-independent
    means = np.asarray(adata.X.mean(0)).ravel()
    computed = (means - means.mean()) / means.std()
    assert not np.allclose(starts[1], computed, atol=1e-4)
    fixed = scvi.external.CellAssign(adata, model.cell_type_markers, random_b_g_0=False)
    np.testing.assert_allclose(fixed.module.b_g_0.detach().numpy(), computed, atol=1e-5)


def _da(model, **kwargs):
    """label_0 against label_1 of a trained model's differential_accessibility, seed 0."""
    scvi.settings.seed = 0  # the same posterior draws for every call
    return model.differential_accessibility(groupby="labels", group1="label_0",
                                            group2="label_1", silent=True, **kwargs).sort_index()


def _difference(scale1, scale2, pseudocounts):
    return scale1 - scale2


def test_accessibility_delta_thresholds_a_log2_fold_change():
    """PEAKVI.differential_accessibility (mode="change", delta=0.05) passes no change_fn to the
    DE core, so delta thresholds |log2((p1 + pc) / (p2 + pc))| of the accessibility
    probabilities, not the difference the DE guide says accessibility uses (and the
    effect_size column reports); POISSONVI's own m1_domain_fn reads the log2 fold change too.
    As |log2 ratio| >= |difference| for probabilities, prob_da is never lower."""
    model = _peakvi()
    model.train(**FAST)
    default = _da(model)
    np.testing.assert_array_equal(default.prob_da, _da(model, change_fn="log-fold").prob_da)
    difference = _da(model, change_fn=_difference)  # the fix, for probability differences
    assert (default.prob_da >= difference.prob_da - 1e-12).all()
    assert default.prob_da.mean() > difference.prob_da.mean() + 0.05
    assert "lfc_mean" not in default.columns  # PEAKVI's frame shows no log fold change
    poisson = _poissonvi(batch_key="batch")
    poisson.train(**FAST)
    default = _da(poisson)
    np.testing.assert_array_equal(default.proba_de, _da(poisson, change_fn="log-fold").proba_de)
    assert not np.allclose(default.proba_de, _da(poisson, change_fn=_difference).proba_de)


def test_poissonvi_delta_none_fails():
    """POISSONVI.differential_accessibility(delta=None) raises TypeError "change_fn or
    m1_domain_fn have has wrong properties": its own m1_domain_fn compares the samples with
    delta. PEAKVI's (and SCVI's differential_expression) estimate delta instead."""
    poisson = _poissonvi(batch_key="batch")
    poisson.train(**FAST)
    with pytest.raises(TypeError, match="change_fn or m1_domain_fn have has wrong properties"):
        _da(poisson, delta=None)
    assert len(_da(poisson, delta=0.05)) == poisson.adata.n_vars  # the fix: a number
    peakvi = _peakvi()
    peakvi.train(**FAST)
    assert len(_da(peakvi, delta=None)) == peakvi.adata.n_vars


def test_query_weight_decay_moves_frozen_reference_weights():
    """load_query_data "freezes" the reference part of the first layers by zeroing their
    gradients with hooks, leaving requires_grad=True; the optimizer's weight decay (1e-6 by
    default) applies after the hooks, so those weights still change in query training: a
    little with the default, about 1e-4 or more in two epochs with weight_decay=0.01. With
    plan_kwargs={"weight_decay": 0.0} they stay exact."""
    reference = _reference_model()
    changes = {}
    for weight_decay in (None, 0.01, 0.0):
        scvi.settings.seed = 0
        model = scvi.model.SCVI.load_query_data(_query(), reference, accelerator="cpu")
        layer = model.module.z_encoder.encoder.fc_layers[0][0]
        assert layer.weight.requires_grad
        n_ref = layer.weight.shape[1] - sum(model.module.z_encoder.encoder.n_cat_list)
        before = layer.weight.detach()[:, :n_ref].clone(), layer.bias.detach().clone()
        plan = {} if weight_decay is None else {"weight_decay": weight_decay}
        model.train(**{**FAST, "max_epochs": 2}, plan_kwargs=plan)
        after = layer.weight.detach()[:, :n_ref], layer.bias.detach()
        changes[weight_decay] = max((a - b).abs().max().item() for a, b in zip(after, before))
    assert changes[None] > 0 and changes[0.01] > 1e-4
    assert changes[0.0] == 0.0  # the fix


def test_hub_model_card_metrics_report_path_is_ignored(tmp_path, monkeypatch):
    """HubModelCardHelper.from_dir(local_dir, ..., metrics_report=path) never opens path: it
    reads local_dir/metrics.json instead (FileNotFoundError naming it when absent; the given
    file ignored when present). Building the card itself needs huggingface_hub, absent here:
    that step is stubbed."""
    from scvi.hub import HubModelCardHelper

    monkeypatch.setattr(HubModelCardHelper, "_to_model_card", lambda self: None)
    model = _trained_scvi()
    local_dir = str(tmp_path / "model")
    model.save(local_dir, overwrite=True)
    mine = tmp_path / "my_metrics.json"
    mine.write_text(json.dumps({"diff_exp": "mine"}))
    kwargs = {"license_info": "cc-by-4.0", "anndata_version": anndata.__version__}
    with pytest.raises(FileNotFoundError, match="model/metrics.json"):
        HubModelCardHelper.from_dir(local_dir, metrics_report=str(mine), **kwargs)
    (tmp_path / "model" / "metrics.json").write_text(json.dumps({"diff_exp": "local"}))
    card = HubModelCardHelper.from_dir(local_dir, metrics_report=str(mine), **kwargs)
    assert card.metrics_report == {"diff_exp": "local"}
    (tmp_path / "model" / "metrics.json").write_text(mine.read_text())  # the fix
    assert HubModelCardHelper.from_dir(local_dir, **kwargs).metrics_report == {"diff_exp": "mine"}


def test_contrastivevi_de_target_idx_mixes_salient_and_background():
    """ContrastiveVI.differential_expression(target_idx=...) decides salient vs background
    decoding per group (get_specific_normalized_expression tests each group's cells alone):
    group1 inside the target set is decoded with z and s, group2 outside it with s = 0, so
    the two groups are compared on different decodings. The docstring says background
    expression is used unless {group1, group2} is a subset of the target group."""
    model, cells = _contrastivevi()
    model.train(**cells, **FAST)
    n_vars = model.adata.n_vars

    # The decoder outputs replaced by constants: salient = 2 / G, background = 1 / G for
    # every cell, so any lfc comes from which decoding each group was given.
    def constant(adata=None, indices=None, n_samples_overall=None, **kwargs):
        n = len(indices) if n_samples_overall is None else n_samples_overall
        return {"salient": np.full((n, n_vars), 2.0 / n_vars),
                "background": np.full((n, n_vars), 1.0 / n_vars)}

    model.get_normalized_expression = constant
    de = dict(groupby="labels", group1="label_1", group2="label_0", silent=True)
    res = model.differential_expression(target_idx=cells["target_indices"], **de)
    # group1 (the target cells) got the salient decoding, group2 the background one.
    np.testing.assert_allclose(res["scale1"], 2.0 / n_vars)
    np.testing.assert_allclose(res["scale2"], 1.0 / n_vars)
    np.testing.assert_allclose(res["lfc_mean"], 1.0, atol=1e-6)  # every gene "DE"
    assert (res["proba_de"] > 0.99).all()
    # Fix: without target_idx both groups use the same (salient) decoding: no spurious lfc.
    res = model.differential_expression(**de)
    np.testing.assert_allclose(res["lfc_mean"], 0.0, atol=1e-6)


def test_contrastivevi_latent_library_size_uses_variance_as_scale():
    """With use_observed_lib_size=False, ContrastiveVI.get_latent_library_size(give_mean=True)
    returns LogNormal(ql_m, ql_v).mean, but ql_v is the variance of the log library
    (the encoder's q_v; training samples Normal(ql_m, ql_v.sqrt())): the value is
    exp(m + v**2 / 2) instead of exp(m + v / 2)."""
    adata = _adata()
    scvi.external.ContrastiveVI.setup_anndata(adata, batch_key="batch")
    model = scvi.external.ContrastiveVI(adata, n_hidden=16, n_background_latent=4,
                                        n_salient_latent=4, use_observed_lib_size=False)
    labels = adata.obs["labels"].to_numpy()
    model.train(background_indices=np.flatnonzero(labels == "label_0"),
                target_indices=np.flatnonzero(labels == "label_1"), **FAST)
    lib = model.get_latent_library_size(give_mean=True).ravel()

    x = torch.tensor(adata.X, dtype=torch.float32)
    b = torch.tensor(model.adata_manager.get_from_registry(scvi.REGISTRY_KEYS.BATCH_KEY)).long()
    with torch.no_grad():
        out = model.module._generic_inference(x=x, batch_index=b)
    m, v = out["ql_m"].ravel(), out["ql_v"].ravel()
    np.testing.assert_allclose(lib, torch.exp(m + v**2 / 2).numpy(), rtol=1e-4)  # what it does
    right = torch.exp(m + v / 2).numpy()  # the fix: LogNormal(ql_m, ql_v.sqrt()).mean
    assert not np.allclose(lib, right, rtol=1e-2)
    np.testing.assert_allclose(
        torch.distributions.LogNormal(m, v.sqrt()).mean.numpy(), right, rtol=1e-5)


def test_contrastivevi_specific_normalized_expression_needs_adata():
    """ContrastiveVI.get_specific_normalized_expression(indices_to_return_salient=...) with its
    default adata=None and indices=None raises AttributeError "'NoneType' object has no
    attribute 'n_obs'": it builds the default indices from the adata argument, not the
    model's AnnData."""
    model, cells = _contrastivevi()
    model.train(**cells, **FAST)
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'n_obs'"):
        model.get_specific_normalized_expression(
            indices_to_return_salient=cells["target_indices"])
    # Fix: pass the AnnData (or indices) explicitly.
    out = model.get_specific_normalized_expression(
        model.adata, indices_to_return_salient=cells["target_indices"])
    assert out.shape == (model.adata.n_obs, model.adata.n_vars)


def test_contrastivevi_minibatches_truncated_to_smaller_set():
    """ContrastiveVI cuts each background and target minibatch to the smaller of the two
    (ContrastiveVAE._reduce_tensors_to_min_batch_size), and an epoch runs over the larger
    set while the smaller one cycles: with 20 target cells and batch_size=128, each step
    trains on 20 background cells, so 40 of the 180 background cells are used per epoch and
    the other 140 are dropped without a warning."""
    adata = _adata(n_cells_per_batch=100)
    scvi.external.ContrastiveVI.setup_anndata(adata, batch_key="batch")
    model, _ = _contrastivevi_on(adata)
    background, target = np.arange(0, 180), np.arange(180, 200)
    seen = []
    loss = model.module.loss

    def spy(concat_tensors, inference_outputs, generative_outputs, **kwargs):
        out = loss(concat_tensors, inference_outputs, generative_outputs, **kwargs)
        seen.append(concat_tensors["background"][scvi.REGISTRY_KEYS.X_KEY].shape[0])
        return out

    model.module.loss = spy
    model.train(background_indices=background, target_indices=target, train_size=1.0,
                batch_size=128, **FAST)
    assert seen == [20, 20]  # two steps, 20 background cells each: 40 of 180
    # Fix: a batch_size no larger than the smaller set uses every background cell.
    seen.clear()
    model.train(background_indices=background, target_indices=target, train_size=1.0,
                batch_size=20, **FAST)
    assert sum(seen) == 180



def _scbasset_adata(binary=True, n_regions=48, n_cells=12):
    rng = np.random.default_rng(0)
    x = rng.poisson(0.7, size=(n_regions, n_cells)).astype(np.float32)
    if binary:
        x = (x > 0).astype(np.float32)
    bdata = anndata.AnnData(x)  # regions x cells
    bdata.obsm["dna_code"] = rng.integers(0, 4, size=(n_regions, 1344))
    return bdata


SCB_FAST = {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False,
            "batch_size": 32}


def test_scbasset_tf_activity_lib_size_norm_has_no_effect(monkeypatch):
    """SCBASSET.get_tf_activity(lib_size_norm=True) subtracts the cell bias from the motif and
    the background logits alike, then takes their difference: the bias cancels, so
    lib_size_norm=True and False return the same scores (the docstring says it normalizes
    the scores for library size)."""
    if not hasattr(pd.DataFrame, "applymap"):  # pandas >= 3 (a known, separate pitfall)
        monkeypatch.setattr(pd.DataFrame, "applymap", pd.DataFrame.map, raising=False)
    bdata = _scbasset_adata()
    scvi.external.SCBASSET.setup_anndata(bdata, dna_code_key="dna_code")
    model = scvi.external.SCBASSET(bdata)
    model.train(**SCB_FAST)
    rng = np.random.default_rng(1)
    motif = ["".join(rng.choice(list("ACGT"), 1344)) for _ in range(8)]
    bg = ["".join(rng.choice(list("ACGT"), 1344)) for _ in range(8)]
    # A local motif library instead of the download (needs Bio and the network).
    model._get_motif_library = lambda tf, genome="human", motif_dir=None: (motif, bg)
    with_norm = model.get_tf_activity("TF", lib_size_norm=True)
    without = model.get_tf_activity("TF", lib_size_norm=False)
    np.testing.assert_allclose(with_norm, without, atol=1e-5)
    # Fix: the bias only matters before a nonlinearity, e.g. on the probability scale.
    from scvi.data._preprocessing import _dna_to_code

    def codes(seqs):
        return torch.tensor([[_dna_to_code(c) for c in s] for s in seqs]).long()

    with torch.no_grad():
        acc_m = model.module._get_accessibility(codes(motif), batch_size=8)
        acc_b = model.module._get_accessibility(codes(bg), batch_size=8)
    bias = model.module.cell_bias.detach()

    def score(remove_bias):
        shift = bias if remove_bias else 0
        return (torch.sigmoid(acc_m - shift).mean(0) - torch.sigmoid(acc_b - shift).mean(0))

    assert not torch.allclose(score(True), score(False), atol=1e-5)


def test_scbasset_counts_fail_in_training_not_setup():
    """SCBASSET needs a binary accessibility matrix, but setup_anndata checks only that it
    holds integers: counts above 1 pass setup and the model, then the first training step
    fails in torchmetrics' AUROC with RuntimeError "Detected the following values in
    `target`: tensor([0, 1, 2, ...]) but expected only the following values [0, 1]"
    (BCEWithLogitsLoss itself takes the counts as targets silently)."""
    bdata = _scbasset_adata(binary=False)
    assert bdata.X.max() > 1
    scvi.external.SCBASSET.setup_anndata(bdata, dna_code_key="dna_code")  # no complaint
    model = scvi.external.SCBASSET(bdata)
    with pytest.raises(RuntimeError, match="expected only the following values \\[0, 1\\]"):
        model.train(**SCB_FAST)
    # Fix: binarize before setup.
    bdata.X = (bdata.X > 0).astype(np.float32)
    scvi.external.SCBASSET.setup_anndata(bdata, dna_code_key="dna_code")
    model = scvi.external.SCBASSET(bdata)
    model.train(**SCB_FAST)
    assert model.is_trained



def _vivs_adata():
    adata = _adata()
    adata.obsm["y"] = np.asarray(adata.obsm["protein_expression"], dtype=np.float32)[:, :2]
    scvi.external.VIVS.setup_anndata(adata, y_obsm_key="y", batch_key="batch")
    return adata


def test_vivs_get_elbo_is_importance_net_loss():
    """After VIVS.train(), the module stays in phase "xy", whose loss() is the importance-score
    net's negative log-likelihood of Y: get_elbo() (VAEMixin, "the evidence lower bound for
    the data") returns minus that loss, not the generative VAE's ELBO, and
    history["elbo_train"] holds the VAE's ELBO epochs followed by the importance net's loss
    epochs in one column."""
    adata = _vivs_adata()
    model = scvi.external.VIVS(adata, n_hidden=16, n_latent=4)
    model.train(**FAST)
    assert model.module._phase == "xy"
    assert len(model.history["elbo_train"]) == 2  # one epoch of each phase, one column
    elbo = float(model.get_elbo())
    xy_loss = float(model.get_reconstruction_error()["reconstruction_loss"])
    assert elbo == pytest.approx(-xy_loss)
    assert xy_loss == pytest.approx(float(model.predict_t().mean()), rel=1e-4)
    # Fix: switch the module to phase "x" to score the generative VAE.
    model.module._phase = "x"
    vae_elbo = float(model.get_elbo())
    model.module._phase = "xy"
    assert vae_elbo != pytest.approx(elbo, rel=1e-3)


def test_vivs_generative_vae_kwargs_cannot_be_passed():
    """VIVS builds its generative VAE from n_hidden, n_latent and x_likelihood only: it passes
    x_model_kwargs to VIVSModule itself, so VIVS(adata, x_model_kwargs={...}) (through
    **module_kwargs, "keyword arguments passed to VIVSModule") raises TypeError "got multiple
    values for keyword argument 'x_model_kwargs'", and the user guide's x_module_kwargs
    raises "unexpected keyword argument 'x_module_kwargs'"."""
    adata = _vivs_adata()
    with pytest.raises(TypeError, match="multiple values for keyword argument 'x_model_kwargs'"):
        scvi.external.VIVS(adata, x_model_kwargs={"n_layers": 2})
    with pytest.raises(TypeError, match="unexpected keyword argument 'x_module_kwargs'"):
        scvi.external.VIVS(adata, x_module_kwargs={"n_layers": 2})
    # Fix: train an SCVI with the wanted architecture and pass it as x_model.
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    x_model = scvi.model.SCVI(adata, n_hidden=16, n_latent=4, n_layers=2)
    x_model.train(**FAST)
    model = scvi.external.VIVS(adata, x_model=x_model)
    assert len(model.module.x_module.z_encoder.encoder.fc_layers) == 2



def _lda():
    adata = _adata()
    scvi.model.AmortizedLDA.setup_anndata(adata)
    model = scvi.model.AmortizedLDA(adata, n_topics=3, n_hidden=16)
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    return model, adata


def test_amortizedlda_latent_representation_indices_fail():
    """AmortizedLDA.get_latent_representation(indices=...) raises ValueError "Shape of passed
    values is (3, 3), indices imply (80, 3)": it computes the rows of the chosen cells but
    labels the frame with all of adata.obs_names."""
    model, adata = _lda()
    with pytest.raises(ValueError, match=r"Shape of passed values is \(3, 3\), indices imply"):
        model.get_latent_representation(indices=[0, 1, 2], n_samples=10)
    # Fix: pass the subset as its own AnnData.
    out = model.get_latent_representation(adata[[0, 1, 2]].copy(), n_samples=10)
    assert list(out.index) == list(adata.obs_names[:3])


def test_amortizedlda_feature_by_topic_takes_no_adata():
    """AmortizedLDA.get_feature_by_topic's docstring lists an adata parameter ("AnnData to
    transform"), but the method takes only n_samples: get_feature_by_topic(adata=adata)
    raises TypeError, and get_feature_by_topic(adata) takes the AnnData as n_samples."""
    model, adata = _lda()
    assert "adata" in model.get_feature_by_topic.__doc__
    with pytest.raises(TypeError, match="unexpected keyword argument 'adata'"):
        model.get_feature_by_topic(adata=adata)
    with pytest.raises(TypeError):
        model.get_feature_by_topic(adata)
    assert model.get_feature_by_topic(n_samples=10).shape == (adata.n_vars, 3)  # the fix


def _sysvi(**model):
    adata = _adata()
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch")
    return scvi.external.SysVI(adata, n_hidden=16, n_latent=4, **model)


def _first_minibatch(model, n: int = 80):
    return next(iter(model._make_data_loader(model.adata, batch_size=n)))




def test_sysvi_cycle_encodes_the_own_batch_reconstruction():
    """SysVAE.forward decodes each cell with a switched batch (generative_outputs["px_cycle"])
    but never uses it: the cycle pass encodes px.loc, the reconstruction decoded with the
    cell's OWN batch, labelled with the switched batch. The cycle-consistency loss so does not
    compare a cell with its switched-batch version, as sysvi.md (and the original sysVI code,
    which encodes the switched decoding "y_m") describe."""
    model = _sysvi(prior="standard_normal")
    module = model.module.eval()
    tensors = _first_minibatch(model)

    captured = []
    inference = module.inference

    def spy(**kwargs):
        captured.append(kwargs["x"])
        return inference(**kwargs)

    module.inference = spy
    with torch.no_grad():
        _, gen, losses = module(tensors)
    assert len(captured) == 2  # first pass, cycle pass
    assert "px_cycle" in gen  # the switched-batch decoding is computed ...
    assert torch.equal(captured[1], gen["px"].loc)  # ... but the cycle encodes the own-batch one
    assert not torch.allclose(captured[1], gen["px_cycle"].loc)
    assert losses.extra_metrics["cycle_loss"] > 0

    # Fix: feed the switched-batch decoding to the cycle encoder.
    captured.clear()
    original = module._get_inference_cycle_input

    def fixed(tensors, generative_outputs, cycle_batch, **kw):
        out = original(tensors, generative_outputs, cycle_batch, **kw)
        out["x"] = generative_outputs["px_cycle"].loc
        return out

    module._get_inference_cycle_input = fixed
    with torch.no_grad():
        _, gen, _ = module(tensors)
    assert torch.equal(captured[1], gen["px_cycle"].loc)


def test_sysvi_vampprior_components_use_the_square_root_of_the_std():
    """VampPrior.get_params returns the pseudoinput posteriors' loc and SCALE (standard
    deviation), though its docstring says mean and variance, and log_prob takes .sqrt() of it
    again: every prior component of SysVI's default prior="vamp" has standard deviation
    sqrt(std) instead of std (the original sysVI returned the variance here)."""
    model = _sysvi()  # default prior="vamp"
    prior = model.module.prior
    model.module.eval()
    torch.manual_seed(0)
    z = torch.randn(30, 4)
    with torch.no_grad():
        loc, second = prior.get_params()
        batch_index = prior.u_cat[0].argmax(-1, keepdim=True)  # one-hot: multinomial is exact
        q = prior.encoder(x=prior.u, batch_index=batch_index, cat_list=[], cont=prior.u_cont)
        std = q["q_dist"].scale
        assert torch.allclose(second, std)  # the "variance" returned is the std
        assert torch.allclose(second, q["q_dist"].variance.sqrt())
        assert not torch.allclose(second, q["q_dist"].variance)

        logw = torch.log_softmax(prior.w, dim=0)

        def mixture(scale):
            comp = torch.distributions.Normal(loc[:, None], scale[:, None]).log_prob(z[None])
            return torch.logsumexp(comp + logw, dim=0)

        used = prior.log_prob(z)
        assert torch.allclose(used, mixture(std.sqrt()), atol=1e-5)  # std ** 0.5
        assert not torch.allclose(used, mixture(std), atol=1e-3)

        # Fix: use the std itself (or return the variance from get_params).
        assert torch.allclose(mixture(q["q_dist"].variance.sqrt()), mixture(std))


def test_sysvi_embed_categorical_covariates_does_not_embed_the_batch():
    """SysVAE documents embed_categorical_covariates=True as embedding "categorical covariates
    and batches" into continuous vectors; only the categorical_covariate_keys get an embedding:
    the batch stays one-hot in the encoder's (and decoder's) first layer."""
    adata = _adata()
    adata.obs["cov"] = np.random.RandomState(0).choice(["a", "b", "c"], adata.n_obs)
    scvi.external.SysVI.setup_anndata(adata, batch_key="batch", categorical_covariate_keys=["cov"])
    model = scvi.external.SysVI(adata, n_hidden=16, n_latent=4, embed_categorical_covariates=True)
    module = model.module
    emb_dim = module.get_embedding("cov0").embedding_dim
    assert list(module.embeddings_dict.keys()) == ["cov0"]  # no batch embedding
    fc = module.encoder.decoder_y
    assert fc.n_cat_list == [2]  # the batch, one-hot
    assert fc.fc_layers[0][0].in_features == adata.n_vars + 2 + emb_dim
    # The fix is in the docstring: only the categorical covariates are embedded.
    assert module.decoder.decoder_y.n_cat_list == [2]




@pytest.fixture(scope="module")
def trained_velovi():
    model = _velovi()
    model.train(**FAST)
    return model


@pytest.mark.parametrize("method", ["get_velocity", "get_latent_time", "get_expression_fit"])
def test_velovi_return_mean_false_with_one_sample_fails(trained_velovi, method):
    """VELOVI.get_velocity, get_latent_time and get_expression_fit document a (cells, genes)
    DataFrame unless n_samples > 1 and return_mean=False; with return_mean=False and the
    default n_samples=1 they keep a sample axis of 1 and fail building the DataFrame: ValueError
    "Must pass 2-d input. shape=(1, 80, 20)" (several minibatches: "all the input array
    dimensions except for the concatenation axis must match exactly"). get_velocity with
    n_samples_overall (which sets n_samples=1) and return_mean=False fails the same way."""
    f = getattr(trained_velovi, method)
    with pytest.raises(ValueError, match=r"Must pass 2-d input. shape=\(1, 80, 20\)"):
        f(return_mean=False)
    with pytest.raises(ValueError, match="concatenation axis must match exactly"):
        f(return_mean=False, batch_size=32)
    if method == "get_velocity":
        with pytest.raises(ValueError, match=r"Must pass 2-d input. shape=\(1, 5, 20\)"):
            f(n_samples=3, n_samples_overall=5, return_mean=False)
    # Fix: return_mean=True (the default) gives the (cells, genes) frame.
    out = f(return_mean=True)
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape == (80, 20)


def test_velovi_gene_likelihood_samples_mixed_across_minibatches(trained_velovi):
    """VELOVI.get_gene_likelihood(n_samples > 1, return_mean=False) joins the minibatches along
    axis 0, the SAMPLES axis: with two minibatches of 40 cells it silently returns
    (2 * n_samples, 40, genes) instead of (n_samples, 80, genes), rows of different cells
    stacked as extra samples; with unequal minibatches it raises ValueError. It also ignores
    return_numpy (always an ndarray; the docstring promises a DataFrame) and documents
    transform_batch and library_size, which it does not take."""
    m = trained_velovi
    out = m.get_gene_likelihood(n_samples=3, return_mean=False, batch_size=40)
    assert out.shape == (6, 40, 20)  # documented: (samples, cells, genes) = (3, 80, 20)
    with pytest.raises(ValueError, match="concatenation axis must match exactly"):
        m.get_gene_likelihood(n_samples=3, return_mean=False, batch_size=32)
    assert isinstance(m.get_gene_likelihood(return_numpy=False), np.ndarray)
    with pytest.raises(TypeError):
        m.get_gene_likelihood(transform_batch=None)
    # Fix: one minibatch holding every cell gives the documented shape.
    assert m.get_gene_likelihood(n_samples=3, return_mean=False, batch_size=80).shape == (3, 80, 20)


def test_velovi_sparse_layers_fail_in_the_constructor():
    """VELOVI.setup_anndata accepts scipy sparse spliced/unspliced layers (registered with
    is_count_data=False, no check), but VELOVI(adata) then fails in its initialisation of the
    switch state (np.argsort on a sparse matrix) with IndexError "too many indices for array:
    array is 1-dimensional, but 2 were indexed", a message naming neither sparsity nor layers."""
    adata = _adata()
    X = adata.X.astype(np.float32)
    adata.layers["spliced"], adata.layers["unspliced"] = sp.csr_matrix(X), sp.csr_matrix(X)
    scvi.external.VELOVI.setup_anndata(adata, spliced_layer="spliced", unspliced_layer="unspliced")
    with pytest.raises(IndexError, match="too many indices for array"):
        scvi.external.VELOVI(adata)
    # Fix: densify the layers first.
    for k in ("spliced", "unspliced"):
        adata.layers[k] = adata.layers[k].toarray()
    scvi.external.VELOVI.setup_anndata(adata, spliced_layer="spliced", unspliced_layer="unspliced")
    scvi.external.VELOVI(adata)


def test_velovi_gamma_init_data_with_a_silent_unspliced_gene_fails():
    """VELOVI(gamma_init_data=True) initialises gamma as softplus^-1(us_upper / ms_upper): a
    gene whose unspliced values are 0 in the top 1% of cells gives softplus^-1(0) = -inf (the
    clip has no lower bound), gamma = 0, alpha / gamma = nan, and training fails at the first
    step with ValueError "Expected parameter loc ... of distribution Normal ... found invalid
    values" (torch's distribution argument checks on, their default, which the proof sets:
    one clean-clone CI run, after the other proofs, trained through without the error). The
    default gamma_init_data=False trains."""
    adata = _adata()
    X = adata.X.astype(np.float32)
    U = X.copy()
    U[:, 0] = 0
    adata.layers["spliced"], adata.layers["unspliced"] = X, U
    scvi.external.VELOVI.setup_anndata(adata, spliced_layer="spliced", unspliced_layer="unspliced")
    model = scvi.external.VELOVI(adata, n_latent=4, gamma_init_data=True)
    assert not torch.isfinite(model.module.gamma_mean_unconstr[0])  # -inf, or nan when 0 / 0
    with _torch_argument_checks(), pytest.raises(ValueError, match="Expected parameter loc"):
        model.train(**FAST)
    # Fix: gamma_init_data=False (or a lower clip bound on the init) trains.
    model = scvi.external.VELOVI(adata, n_latent=4, gamma_init_data=False)
    model.train(**FAST)
    assert np.isfinite(model.get_rates()["gamma"]).all()


def test_solo_doublet_ratio_must_be_an_int():
    """SOLO.from_scvi_model documents doublet_ratio as the "ratio of generated doublets to
    produce relative to the number of cells", but it is used as a count multiplier
    (doublet_ratio * n_obs passed to np.random.choice's size): any float, even 2.0, fails with
    TypeError "'float' object cannot be interpreted as an integer", naming no argument;
    fractional ratios (fewer doublets than cells) are impossible."""
    vae = _trained_scvi()
    for ratio in (2.0, 0.5, 1.5):
        with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
            scvi.external.SOLO.from_scvi_model(vae, restrict_to_batch="batch_0",
                                               doublet_ratio=ratio)
    # Fix: pass an int.
    solo = scvi.external.SOLO.from_scvi_model(vae, restrict_to_batch="batch_0", doublet_ratio=2)
    counts = solo.adata.obs["_solo_doub_sim"].value_counts()
    assert counts["singlet"] == 40 and counts["doublet"] == 80


def test_solo_simulated_doublets_lose_their_names():
    """SOLO.create_doublets names the simulated doublets "sim_doublet_<i>", but from_scvi_model
    rebuilds the doublets' AnnData from their latent values (AnnData(np.concatenate(...))), which
    names them "0", "1", ...: the SOLO AnnData has duplicate obs_names (anndata only warns
    "Observation names are not unique"), and predict(include_simulated_doublets=True) returns
    simulated doublets under the real cells' barcodes ("40" twice), with no "sim_doublet" row."""
    vae = _trained_scvi()
    # the real cells of batch_1 are named "40".."79"
    solo = scvi.external.SOLO.from_scvi_model(vae, restrict_to_batch="batch_1")
    solo.train(**FAST)
    preds = solo.predict(include_simulated_doublets=True)
    assert len(preds) == 40 + 80
    assert not preds.index.is_unique
    assert not preds.index.str.startswith("sim_doublet").any()
    assert preds.loc["40"].shape[0] == 2  # the real cell and a simulated doublet
    assert solo.predict().index.is_unique  # real cells only: unaffected
    # Fix: keep the names create_doublets gives (or set them again after rebuilding).
    sim = scvi.external.SOLO.create_doublets(vae.adata_manager, doublet_ratio=2)
    assert sim.obs_names[0] == "sim_doublet_0" and sim.obs_names.is_unique


def test_velovi_plan_kwargs_win_over_train_s_own_arguments():
    """VELOVI.train's docstring says its own keywords overwrite plan_kwargs, but it builds
    {"lr": lr, "weight_decay": ..., "optimizer": "AdamW"} and then updates it with
    plan_kwargs: train(lr=1e-3, plan_kwargs={"lr": 0.5}) trains at 0.5."""
    model = _velovi()
    doc = " ".join(inspect.getdoc(scvi.external.VELOVI.train).split())
    assert "Keyword arguments passed to this method will overwrite values present in" in doc
    model.train(lr=1e-3, plan_kwargs={"lr": 0.5}, **FAST)
    assert model.trainer.optimizers[0].param_groups[0]["lr"] == 0.5
    fixed = _velovi()  # the fix: give the rate in one place
    fixed.train(lr=1e-3, **FAST)
    assert fixed.trainer.optimizers[0].param_groups[0]["lr"] == 1e-3


def test_velovi_get_velocity_reads_any_other_mode_as_unspliced():
    """VELOVI.get_velocity tests velo_mode == "spliced" and treats every other value as
    "unspliced" (and any velo_statistic but "mean" as the maximum a posteriori), without a
    check: velo_mode="Spliced" returns the unspliced velocity."""
    model = _velovi()
    model.train(**FAST)

    def velocity(**kw):
        scvi.settings.seed = 0
        return model.get_velocity(**kw).to_numpy()

    unspliced = velocity(velo_mode="unspliced")
    np.testing.assert_allclose(velocity(velo_mode="Spliced"), unspliced)
    assert not np.allclose(velocity(velo_mode="spliced"), unspliced)  # the fix: lower case
    np.testing.assert_allclose(velocity(velo_statistic="median"), velocity(velo_statistic="max"))


def test_solo_simulates_the_same_doublets_whatever_the_seed():
    """SOLO.from_scvi_model calls create_doublets without a seed, whose default is 1: the
    simulated doublets are the same whatever scvi.settings.seed is, and from_scvi_model has no
    seed argument to change them."""
    vae = _trained_scvi()
    sims = []
    for seed in (0, 7):
        scvi.settings.seed = seed
        solo = scvi.external.SOLO.from_scvi_model(vae, restrict_to_batch="batch_0")
        is_sim = solo.adata.obs["_solo_doub_sim"].to_numpy() == "doublet"
        sims.append(np.asarray(solo.adata.X)[is_sim])
    np.testing.assert_allclose(sims[0], sims[1])
    one = scvi.external.SOLO.create_doublets(vae.adata_manager, doublet_ratio=2, seed=1)
    other = scvi.external.SOLO.create_doublets(vae.adata_manager, doublet_ratio=2, seed=7)
    dense = [x.toarray() if hasattr(x, "toarray") else np.asarray(x) for x in (one.X, other.X)]
    assert not np.allclose(*dense)  # create_doublets itself takes a seed


def test_import_scvi_does_not_load_hub_or_autotune():
    """In a fresh interpreter, ``import scvi`` loads exactly the public subpackages the
    release's API index lists under ``loads["scvi"]`` (the build follows the import-time
    imports statically), not scvi.hub or scvi.autotune: ``scvi.hub`` raises AttributeError
    until ``import scvi.hub`` runs."""
    import subprocess

    from scvi_skill.runtime.apiindex import release_api

    probe = ("import json, sys, scvi\n"
             "loaded = sorted(m for m in sys.modules if m.count('.') == 1 and m.startswith('scvi.')"
             " and not m.split('.')[1].startswith('_'))\n"
             "try:\n    scvi.hub\n    hub = 'loaded'\nexcept AttributeError as err:\n"
             "    hub = str(err)\nimport scvi.hub\n"
             "print(json.dumps([loaded, hub, scvi.hub.HubModel.__name__]))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True)
    loaded, hub, name = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == release_api(scvi.__version__).loads["scvi"]
    assert "scvi.hub" not in loaded and "scvi.autotune" not in loaded and "scvi.model" in loaded
    assert (hub, name) == ("module 'scvi' has no attribute 'hub'", "HubModel")

"""A model's ``**kwargs`` that go on to its module (``kwargs_to: "class"`` of the API indexes,
read from the source by ``build_api_index.py``): a keyword the module does not take raises
TypeError when the model is built, as does one the model's module call sets itself. Each
case builds the model with scvi-tools on synthetic data and checks that ``check_code.py``
says the same of the same call; marker ``examples`` (needs the ``examples`` extra)."""

from __future__ import annotations

import json

import check_code
import pytest

pytestmark = pytest.mark.examples

scvi = pytest.importorskip("scvi")
from test_pitfall_proofs import _adata, _multivi_mudata  # noqa: E402


def _setup(cls, **setup):
    adata = _adata()
    cls.setup_anndata(adata, **setup)
    return adata


def _poissonvi_adata():
    adata = _adata(60)  # its setup checks the counts of at least 100 cells
    adata.X = (adata.X > 0).astype("float32")
    scvi.external.POISSONVI.setup_anndata(adata)
    return adata


CASES = [
    # (builder taking the keywords, keyword, value, the error's words, the checker's words)
    (lambda **kw: scvi.model.SCVI(_setup(scvi.model.SCVI), **kw), "use_batchnorm", "none",
     "unexpected keyword argument 'use_batchnorm'",
     "its **kwargs go to scvi.module.VAE, which does not take it"),
    (lambda **kw: scvi.model.SCVI(_setup(scvi.model.SCVI, batch_key="batch"), **kw),
     "n_batch", 2, "multiple values for keyword argument 'n_batch'", "multiple values"),
    (lambda **kw: scvi.model.LinearSCVI(_setup(scvi.model.LinearSCVI), **kw), "bogus", 1,
     "unexpected keyword argument 'bogus'", "go to scvi.module.VAE, which does not take it"),
    (lambda **kw: scvi.model.SCANVI(_setup(scvi.model.SCANVI, labels_key="labels",
                                           unlabeled_category="unknown"), **kw),
     "use_layernorm", "both", "unexpected keyword argument 'use_layernorm'",
     "its **model_kwargs go to scvi.module.SCANVAE, and its **vae_kwargs go to "
     "scvi.module.VAE, which does not take it"),
    (lambda **kw: scvi.model.MULTIVI(_multivi_mudata(), **kw), "n_proteins", 3,
     "unexpected keyword argument 'n_proteins'",
     "go to scvi.module.MULTIVAE, which does not take it"),
    (lambda **kw: scvi.external.POISSONVI(_poissonvi_adata(), **kw), "use_batch_norm", "both",
     "multiple values for keyword argument 'use_batch_norm'", "multiple values"),
]
CODE = {
    "use_batchnorm": "scvi.model.SCVI(adata, use_batchnorm='none')",
    "n_batch": "scvi.model.SCVI(adata, n_batch=2)",
    "bogus": "scvi.model.LinearSCVI(adata, bogus=1)",
    "use_layernorm": "scvi.model.SCANVI(adata, use_layernorm='both')",
    "n_proteins": "scvi.model.MULTIVI(mdata, n_proteins=3)",
    "use_batch_norm": "scvi.external.POISSONVI(adata, use_batch_norm='both')",
}


def _check(tmp_path, capsys, line: str) -> tuple[int, list[dict]]:
    path = tmp_path / "snippet.py"
    path.write_text(f"import scvi\nm = {line}\n", encoding="utf-8")
    capsys.readouterr()
    code = check_code.main([str(path), "--json", "--version", scvi.__version__])
    return code, json.loads(capsys.readouterr().out)["findings"]


@pytest.mark.parametrize("build, keyword, value, raised, said", CASES, ids=[c[1] for c in CASES])
def test_a_keyword_the_module_rejects_raises_and_is_flagged(build, keyword, value, raised, said,
                                                            tmp_path, capsys):
    with pytest.raises(TypeError, match=raised):
        build(**{keyword: value})
    code, findings = _check(tmp_path, capsys, CODE[keyword])
    assert code == 1
    [finding] = findings
    assert finding["kwarg"] == keyword and said in finding["message"]


def test_module_keywords_passed_through_the_model_build_and_are_not_flagged(tmp_path, capsys):
    """The same route's keywords that the module takes: the model builds with them, and
    the checker accepts them."""
    keywords = {"encode_covariates": True, "use_layer_norm": "both", "use_batch_norm": "none",
                "deeply_inject_covariates": False}
    model = scvi.model.SCVI(_setup(scvi.model.SCVI, batch_key="batch"), **keywords)
    assert model.module.z_encoder.encoder.inject_covariates is False
    args = ", ".join(f"{k}={v!r}" for k, v in keywords.items())
    code, findings = _check(tmp_path, capsys, f"scvi.model.SCVI(adata, {args})")
    assert (code, findings) == (0, [])


# -- a method's **kwargs that reach a callable through private helpers (kwargs_to "call")


def _de(**kw):
    adata = _setup(scvi.model.SCVI)
    return scvi.model.SCVI(adata, n_hidden=16, n_latent=4).differential_expression(
        groupby="labels", **kw)


def _destvi(**kw):
    sc_adata = _setup(scvi.model.CondSCVI, labels_key="labels")
    sc_model = scvi.model.CondSCVI(sc_adata, n_hidden=16, n_latent=4, prior="normal")
    sc_model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    st_adata = _adata()
    scvi.model.DestVI.setup_anndata(st_adata)
    return scvi.model.DestVI.from_rna_model(st_adata, sc_model, **kw)


CALL_CASES = [
    # (call taking the keywords, keyword, value, the error's words, the checker's words, code)
    (_de, "fdr", 0.05, "multiple values for argument 'fdr'", "already passes fdr",
     "scvi.model.SCVI(adata).differential_expression(groupby='labels', fdr=0.05)"),
    (_de, "lfc_threshold", 1.0, "unexpected keyword argument 'lfc_threshold'",
     "go to scvi.model.base.DifferentialComputation.get_bayes_factors, which does not take it",
     "scvi.model.SCVI(adata).differential_expression(groupby='labels', lfc_threshold=1.0)"),
    (_destvi, "l1_reg", 10.0, "unexpected keyword argument 'l1_reg'",
     "keyword 'l1_reg' removed in 1.4.1",  # from_rna_model took it until then
     "scvi.model.DestVI.from_rna_model(st_adata, sc_model, l1_reg=10.0)"),
]


@pytest.mark.parametrize("call, keyword, value, raised, said, code", CALL_CASES,
                         ids=[c[1] for c in CALL_CASES])
def test_a_keyword_a_method_passes_on_to_a_callable_that_rejects_it(call, keyword, value, raised,
                                                                    said, code, tmp_path, capsys):
    with pytest.raises(TypeError, match=raised):
        call(**{keyword: value})
    found, findings = _check(tmp_path, capsys, code)
    assert found == 1
    [finding] = findings
    assert finding["kwarg"] == keyword and said in finding["message"]


def test_de_keywords_that_reach_get_bayes_factors_run_and_are_not_flagged(tmp_path, capsys):
    result = _de(fdr_target=0.1, test_mode="two", n_samples_overall=50, pseudocounts=0.1)
    assert len(result) > 0
    found, findings = _check(tmp_path, capsys, (
        "scvi.model.SCVI(adata).differential_expression(groupby='labels', fdr_target=0.1, "
        "test_mode='two', n_samples_overall=50, pseudocounts=0.1)"))
    assert (found, findings) == (0, [])


# -- SCANVI.from_scvi_model(scvi_model, ..., **scanvi_kwargs): kwargs_to "call" to SCANVI,
# after dropping the keys scvi_model's init params hold (kwargs_drops)


def _from_scvi(**kw):
    adata = _setup(scvi.model.SCVI, labels_key="labels")
    vae = scvi.model.SCVI(adata, n_hidden=16, n_latent=4)
    vae.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    return scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category="Unknown", **kw)


def test_a_keyword_neither_scanvi_nor_scvi_takes_raises_in_from_scvi_model(tmp_path, capsys):
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_latnet'"):
        _from_scvi(n_latnet=12)
    found, findings = _check(tmp_path, capsys, "scvi.model.SCANVI.from_scvi_model("
                             "vae, unlabeled_category='Unknown', n_latnet=12)")
    assert found == 1
    [finding] = findings
    assert finding["kwarg"] == "n_latnet" and "SCVI does not take it either" in finding["message"]


def test_from_scvi_model_flags_the_dropped_keyword_and_not_scanvi_s_own(tmp_path, capsys):
    """linear_classifier (SCANVI's own) builds; n_latent, a parameter of SCVI.__init__ and so
    held in every SCVI model's init params, is dropped with a warning and the model keeps 4:
    the checker says it is dropped, and leaves linear_classifier alone."""
    with pytest.warns(UserWarning, match="Ignoring param 'n_latent'"):
        model = _from_scvi(linear_classifier=True, n_latent=12)
    assert model.module.n_latent == 4
    found, findings = _check(tmp_path, capsys, "scvi.model.SCANVI.from_scvi_model("
                             "vae, 'Unknown', linear_classifier=True, n_latent=12)")
    assert found == 1
    [finding] = findings
    assert finding["kwarg"] == "n_latent" and "drops keyword 'n_latent'" in finding["message"]
    assert "keeps scvi_model's value" in finding["message"]

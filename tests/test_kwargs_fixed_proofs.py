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
    assert check_code.main([str(path), "--json", "--version", scvi.__version__]) == 1
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert finding["kwarg"] == keyword and "multiple values" in finding["message"]


def test_a_train_keyword_that_is_its_own_parameter_is_not_flagged(tmp_path, capsys):
    """SCVI's train() takes devices itself: the same keyword a Pyro model rejects is fine."""
    path = tmp_path / "ok.py"
    path.write_text("import scvi\nm = scvi.model.SCVI(adata)\nm.train(devices=1)\n",
                    encoding="utf-8")
    assert check_code.main([str(path), "--version", scvi.__version__]) == 0

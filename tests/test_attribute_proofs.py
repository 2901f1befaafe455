"""What ``check_code.py`` says of attribute reads on an instance, proven on scvi-tools: a
member the class lacks raises AttributeError when read (SCVI's ``n_latent``, which its
module has; a HubMetadata's ``data_is_minified``), and what other code sets on a model (the
training runner's ``trainer``) is there after training, which is why the index's
``set_outside`` keeps it from being a finding. What ``import scvi`` loads is proven with
pitfall ``import-scvi-does-not-load-hub`` (``tests/test_pitfall_proofs.py``). Runs
scvi-tools; marker ``examples``."""

from __future__ import annotations

import json

import check_code
import pytest

pytestmark = pytest.mark.examples

scvi = pytest.importorskip("scvi")
pytest.importorskip("scvi.hub")


def test_reads_the_checker_flags_raise_and_the_ones_it_keeps_work(tmp_path, capsys):
    adata = scvi.data.synthetic_iid(batch_size=40, n_genes=30, n_batches=2, n_labels=2)
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.SCVI(adata, n_latent=4)
    with pytest.raises(AttributeError, match="n_latent"):
        _ = model.n_latent
    assert model.module.n_latent == 4
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    assert model.trainer is not None and model.is_trained_
    metadata = scvi.hub.HubMetadata(scvi.__version__, "0.10", "SCVI")
    with pytest.raises(AttributeError, match="data_is_minified"):
        _ = metadata.data_is_minified

    path = tmp_path / "reads.py"
    path.write_text(
        "import scvi\nmodel = scvi.model.SCVI(adata, n_latent=4)\nprint(model.n_latent)\n"
        "print(model.module.n_latent)\nmodel.train(max_epochs=1)\nprint(model.trainer)\n"
        "metadata = scvi.hub.HubMetadata('1.5.1', '0.10', 'SCVI')\n"
        "print(metadata.data_is_minified)\nimport scvi.hub\n", encoding="utf-8")
    assert check_code.main([str(path), "--json", "--version", scvi.__version__]) == 1
    got = [(f["line"], f["name"]) for f in json.loads(capsys.readouterr().out)["findings"]]
    assert got == [(3, "scvi.model.SCVI.n_latent"),
                   (8, "scvi.hub.HubMetadata.data_is_minified")], got


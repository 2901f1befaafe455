"""The examples run end to end on CPU at tiny size, and refuse bad input before training.

Every example is called in-process through ``main([...])`` (one scvi import for the module);
the DDP example runs as a real script in a subprocess because Lightning re-launches the
command line for its second process.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("scvi")
anndata = pytest.importorskip("anndata")
np = pytest.importorskip("numpy")

pytestmark = [pytest.mark.examples, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

_common = importlib.import_module("_common")
_data = importlib.import_module("_data")
EXAMPLE_NAMES = ["scvi_integration", "scanvi_label_transfer", "totalvi_citeseq",
                 "training_control", "downstream_de", "multi_gpu_ddp", "bench_training"]
QUICK = ["--accelerator", "cpu", "--no-progress-bar", "--seed", "0"]


def example(name: str):
    return importlib.import_module(name)


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def counts_h5ad(tmp_path_factory) -> Path:
    """Synthetic raw counts in layers['counts'], log-normalized X, batch/type/covariates."""
    path = tmp_path_factory.mktemp("data") / "counts.h5ad"
    _data.make_synthetic_adata(n_cells=300, n_genes=200, seed=1).write_h5ad(path)
    return path


def write_variant(tmp_path: Path, name: str, change) -> Path:
    adata = _data.make_synthetic_adata(n_cells=60, n_genes=40, n_de_per_group=3, seed=2)
    adata = change(adata) or adata
    path = tmp_path / f"{name}.h5ad"
    adata.write_h5ad(path)
    return path


# --------------------------------------------------------------------------- CLI surface


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_help_exits_zero_and_lists_exit_codes(name, capsys):
    with pytest.raises(SystemExit) as exc:
        example(name).main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--max-epochs", "--n-cells", "--accelerator", "--devices", "--seed",
                 "--out", "--overwrite"):
        assert flag in text, (name, flag)
    assert "Exit codes" in text


# --------------------------------------------------------------------------- bad input


def run_main(name: str, args: list[str], capsys) -> tuple[int, str]:
    code = example(name).main(args + QUICK)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "extra", "words"),
    [
        pytest.param(lambda a: None, [], ["non-integer", "--layer", "counts"],
                     id="log_normalized_X"),
        pytest.param(lambda a: a.layers.__setitem__("counts", a.layers["counts"] - 3.0),
                     ["--layer", "counts"], ["negative", "--layer"], id="scaled_layer"),
    ],
)
def test_non_count_data_is_refused_naming_the_layer_option(tmp_path, capsys, change, extra,
                                                           words):
    data = write_variant(tmp_path, "bad", change)
    out = tmp_path / "out"
    code, err = run_main("scvi_integration", ["--data", str(data), "--out", str(out), *extra],
                         capsys)
    assert code == _common.EXIT_DATA
    assert err.startswith("Error: ")
    for word in words:
        assert word in err
    assert not (out / "model").exists()


@pytest.mark.parametrize("bad_value", [np.nan, np.inf], ids=["nan", "inf"])
def test_nan_or_inf_counts_are_refused(tmp_path, capsys, bad_value):
    def poison(adata):
        adata.layers["counts"][3, 5] = bad_value

    data = write_variant(tmp_path, "nan", poison)
    code, err = run_main("scvi_integration", ["--data", str(data), "--layer", "counts",
                                              "--out", str(tmp_path / "o")], capsys)
    assert code == _common.EXIT_DATA
    assert "NaN or inf" in err


def test_empty_anndata_is_refused(tmp_path, capsys):
    path = tmp_path / "empty.h5ad"
    anndata.AnnData(np.zeros((0, 5), dtype=np.float32)).write_h5ad(path)
    code, err = run_main("scvi_integration", ["--data", str(path), "--out", str(tmp_path / "o")],
                         capsys)
    assert code == _common.EXIT_DATA
    assert "empty" in err


@pytest.mark.parametrize(
    ("name", "option"),
    [("scvi_integration", "--batch-key"), ("downstream_de", "--labels-key"),
     ("scvi_integration", "--categorical-covariate-keys")],
)
def test_missing_obs_key_lists_available_columns(counts_h5ad, tmp_path, capsys, name, option):
    args = ["--data", str(counts_h5ad), "--layer", "counts", "--out", str(tmp_path / "o"),
            option, "no_such_column"]
    code, err = run_main(name, args, capsys)
    assert code == _common.EXIT_USAGE
    assert "no_such_column" in err and option in err
    assert "Available .obs columns" in err and "cell_type" in err and "batch" in err


def test_missing_layer_lists_layers(counts_h5ad, tmp_path, capsys):
    code, err = run_main("scvi_integration", ["--data", str(counts_h5ad), "--layer", "raw",
                                              "--out", str(tmp_path / "o")], capsys)
    assert code == _common.EXIT_USAGE
    assert "'raw'" in err and "counts" in err


def test_missing_data_file_is_a_usage_error(tmp_path, capsys):
    code, err = run_main("downstream_de", ["--data", str(tmp_path / "nope.h5ad"),
                                           "--out", str(tmp_path / "o")], capsys)
    assert code == _common.EXIT_USAGE
    assert "no such file" in err


def test_non_integer_counts_pass_with_allow_non_integer(tmp_path):
    matrix = np.array([[0.5, 1.0], [2.25, 0.0]], dtype=np.float32)
    with pytest.raises(_common.DataError, match="non-integer"):
        _data.check_count_matrix(matrix, "X")
    _data.check_count_matrix(matrix, "X", allow_non_integer=True)
    from scipy import sparse

    with pytest.raises(_common.DataError, match="non-integer"):
        _data.check_count_matrix(sparse.csr_matrix(matrix), "X")
    with pytest.raises(_common.DataError, match="negative"):
        _data.check_count_matrix(-sparse.csr_matrix(matrix), "X", allow_non_integer=True)
    _data.check_count_matrix(np.array([[1, 0], [3, 7]], dtype=np.int64), "X")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_gpu_request_without_cuda_fails_before_work(tmp_path, capsys):
    # Not through run_main: QUICK's later --accelerator cpu would win.
    code = example("downstream_de").main(["--out", str(tmp_path / "o"), "--accelerator", "gpu"])
    assert code == _common.EXIT_USAGE
    assert "no CUDA GPU" in capsys.readouterr().err


def test_ddp_example_refuses_in_process_call(tmp_path, capsys):
    code, err = run_main("multi_gpu_ddp", ["--out", str(tmp_path / "o")], capsys)
    assert code == _common.EXIT_USAGE
    assert "run this example as a script" in err


# --------------------------------------------------------------------------- workflows


def test_scvi_integration_saves_reloads_and_refuses_to_overwrite(counts_h5ad, tmp_path, capsys):
    out = tmp_path / "nested" / "missing" / "out"
    args = ["--data", str(counts_h5ad), "--layer", "counts", "--batch-key", "batch",
            "--categorical-covariate-keys", "donor", "--continuous-covariate-keys", "pct_mito",
            "--max-epochs", "2", "--out", str(out)]
    assert example("scvi_integration").main(args + QUICK) == 0
    captured = capsys.readouterr()
    result = summary(out)
    assert result["reload_ok"] and result["reload_max_abs_diff"] <= 1e-5
    assert result["early_stopping_active"], "TrainerConfig(early_stopping=True) did not apply"
    assert result["latent_shape"] == [300, 10]
    assert result["throughput"]["epochs"] == 2 and result["throughput"]["cells_per_second"] > 0
    last_line = captured.out.strip().splitlines()[-1]
    assert last_line.startswith("device: cpu") and "cells/s" in last_line
    integrated = anndata.read_h5ad(out / "integrated.h5ad")
    assert integrated.obsm["X_scVI"].shape == (300, 10)
    assert integrated.layers["scvi_normalized"].shape == (300, 200)

    before = sorted(p.name for p in (out / "model").iterdir())
    stamp = (out / "model" / "model.pt").stat().st_mtime_ns
    code = example("scvi_integration").main(args + QUICK)
    assert code == _common.EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "model").iterdir()) == before
    assert (out / "model" / "model.pt").stat().st_mtime_ns == stamp


def test_all_zero_genes_and_cells_are_dropped_with_a_warning(tmp_path, capsys):
    def zero(adata):
        adata.layers["counts"][:, 7] = 0
        adata.layers["counts"][11, :] = 0

    data = write_variant(tmp_path, "zeros", zero)
    out = tmp_path / "out"
    code = example("scvi_integration").main(
        ["--data", str(data), "--layer", "counts", "--batch-key", "batch", "--max-epochs", "1",
         "--out", str(out), *QUICK])
    assert code == 0
    err = capsys.readouterr().err
    assert "dropping 1 genes" in err and "dropping 1 cells" in err
    result = summary(out)
    assert result["dropped"] == {"genes": 1, "cells": 1}
    assert (result["n_cells"], result["n_genes"]) == (59, 39)


def test_downstream_de_recovers_planted_genes(tmp_path, capsys):
    out = tmp_path / "de"
    code = example("downstream_de").main(["--n-cells", "400", "--n-genes", "300",
                                          "--max-epochs", "40", "--out", str(out), *QUICK])
    result = summary(out)
    assert code == 0, result["checks"]
    checks = result["checks"]
    assert result["passed"] and result["planted_truth"]
    assert checks["mean_precision_at_k"] >= 0.7 and checks["mean_auroc"] >= 0.9
    assert set(checks["counterfactual"]) == {"batch_0", "batch_1"}
    assert (out / "de_one_vs_all.csv").is_file() and (out / "de_pairwise.csv").is_file()
    assert "DE recovery" in capsys.readouterr().out


def test_downstream_de_check_fails_when_the_model_is_untrained(tmp_path):
    out = tmp_path / "de1"
    code = example("downstream_de").main(["--n-cells", "300", "--n-genes", "200",
                                          "--max-epochs", "1", "--out", str(out), *QUICK])
    assert code == _common.EXIT_CHECK_FAILED
    assert summary(out)["passed"] is False


def test_scanvi_label_transfer_maps_the_query(tmp_path):
    out = tmp_path / "scanvi"
    code = example("scanvi_label_transfer").main(["--n-cells", "400", "--n-genes", "300",
                                                  "--max-epochs", "30", "--out", str(out),
                                                  *QUICK])
    result = summary(out)
    assert code == 0, result
    assert result["query_accuracy"] >= 0.8
    assert result["n_reference_cells"] + result["n_query_cells"] == 400
    assert (out / "reference_scanvi" / "model.pt").is_file()
    assert (out / "query_scanvi" / "model.pt").is_file()
    predictions = (out / "query_predictions.csv").read_text().splitlines()
    assert len(predictions) == result["n_query_cells"] + 1


def test_totalvi_citeseq_denoises_planted_protein_markers(tmp_path):
    out = tmp_path / "totalvi"
    code = example("totalvi_citeseq").main(["--n-cells", "300", "--n-genes", "200",
                                            "--max-epochs", "20", "--out", str(out), *QUICK])
    result = summary(out)
    assert code == 0, result
    assert result["protein_marker_agreement"] >= 0.8
    assert result["protein_normalized_shape"] == [300, 12]
    assert result["rna_normalized_shape"] == [300, 200]


def test_totalvi_missing_protein_key_lists_obsm(counts_h5ad, tmp_path, capsys):
    code, err = run_main("totalvi_citeseq", ["--data", str(counts_h5ad), "--layer", "counts",
                                             "--out", str(tmp_path / "o")], capsys)
    assert code == _common.EXIT_USAGE
    assert "--protein-obsm-key" in err and "Available .obsm keys" in err


def test_training_control_resumes_stops_early_reduces_lr_and_rescues_nan(tmp_path):
    out = tmp_path / "tc"
    code = example("training_control").main([
        "--n-cells", "300", "--n-genes", "200", "--max-epochs", "4", "--out", str(out),
        "--early-stopping-patience", "2", "--early-stopping-min-delta", "1e9",
        "--lr-patience", "0", "--lr-threshold", "1e9", "--simulate-nan-epoch", "2", *QUICK])
    result = summary(out)
    assert code == 0, result
    resume = result["resume"]
    assert resume["ok"] and resume["resumed_epochs"] == 4 and resume["final_epoch"] == 8
    control = result["early_stopping_and_lr"]
    # min_delta 1e9: only the first validation counts as an improvement, so patience 2 stops
    # after the third epoch; lr_threshold 1e9 likewise makes the LR drop after each epoch.
    assert control["epochs_run"] == 3 and control["stopped_epoch"] == 2
    lrs = control["lr_values"]
    assert len(lrs) >= 2 and all(b < a for a, b in zip(lrs, lrs[1:]))
    assert control["best_loads"]
    nan = result["nan_rescue"]
    assert nan["ok"] and nan["failed_at_epoch"] == 2 and "ValueError" in nan["error"]
    assert nan["weights_finite_after_restore"]
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert Path(control["metrics_csv"]).is_file()


def test_bench_training_writes_table_and_plot(tmp_path):
    out = tmp_path / "bench"
    code = example("bench_training").main(["--n-cells", "400", "--n-genes", "200",
                                           "--max-epochs", "1", "--batch-sizes", "64,128",
                                           "--num-workers", "1", "--out", str(out), *QUICK])
    assert code == 0
    rows = (out / "bench_training.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 2 + 5
    table = (out / "bench_training.md").read_text()
    assert table.startswith("<!-- generated by examples/bench_training.py")
    for loading in ("sparse_csr", "sparse_tensor", "pin_memory", "workers_1"):
        assert f"| {loading} |" in table
    png = (out / "bench_training.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    import matplotlib.image

    height, width = matplotlib.image.imread(out / "bench_training.png").shape[:2]
    assert width > height > 300


def test_multi_gpu_ddp_runs_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "multi_gpu_ddp.py"), "--accelerator", "cpu",
         "--devices", "2", "--max-epochs", "2", "--n-cells", "300", "--n-genes", "200",
         "--no-progress-bar", "--out", str(out)],
        capture_output=True, text=True, timeout=540, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = summary(out)
    assert result["world_size"] == 2 and result["passed"]
    assert result["strategy"] == "ddp_find_unused_parameters_true"
    assert "GLOBAL_RANK: 1" in proc.stderr + proc.stdout
    assert "DDP x2" in proc.stdout.strip().splitlines()[-1]
    assert (out / "model" / "model.pt").is_file()
    assert not (tmp_path / "lightning_logs").exists(), "DDP history must go under --out"


# --------------------------------------------------------------------------- GPU (when lent one)

needs_cuda = pytest.mark.skipif(not __import__("torch").cuda.is_available(),
                                reason="needs a CUDA GPU")


@pytest.mark.cuda
@needs_cuda
def test_scvi_integration_and_benchmark_on_gpu(tmp_path):
    out = tmp_path / "gpu"
    gpu = ["--accelerator", "gpu", "--devices", "1", "--no-progress-bar"]
    assert example("scvi_integration").main(["--n-cells", "400", "--max-epochs", "2",
                                             "--out", str(out / "integration"), *gpu]) == 0
    assert summary(out / "integration")["device"].startswith("cuda")
    assert example("bench_training").main(["--n-cells", "800", "--n-genes", "200",
                                           "--max-epochs", "2", "--batch-sizes", "128,512",
                                           "--out", str(out / "bench"), *gpu]) == 0
    assert "(GPU)" in (out / "bench" / "bench_training.md").read_text()


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available()
                    or __import__("torch").cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_multi_gpu_ddp_on_two_gpus(tmp_path):
    out = tmp_path / "ddp_gpu"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "multi_gpu_ddp.py"), "--accelerator", "gpu",
         "--devices", "2", "--max-epochs", "2", "--n-cells", "400", "--no-progress-bar",
         "--out", str(out)],
        capture_output=True, text=True, timeout=540, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary(out)["world_size"] == 2

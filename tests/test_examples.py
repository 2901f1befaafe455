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
SINGLE_DEVICE = ["scvi_integration", "scanvi_label_transfer", "totalvi_citeseq",
                 "training_control", "downstream_de", "bench_training"]
EXAMPLE_NAMES = [*SINGLE_DEVICE, "multi_gpu_ddp"]
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


@pytest.mark.parametrize("devices", ["2", "-1", "0,1"])
@pytest.mark.parametrize("name", SINGLE_DEVICE)
def test_more_than_one_device_is_refused_naming_the_ddp_example(name, devices, capsys):
    with pytest.raises(SystemExit) as exc:
        example(name).main(["--devices", devices, "--accelerator", "cpu"])
    assert exc.value.code == _common.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--devices" in err and "multi_gpu_ddp.py" in err


def test_one_device_is_accepted():
    parser = example("scvi_integration").build_parser()
    for text, value in (("1", 1), ("auto", "auto"), ("3,", [3])):
        assert parser.parse_args(["--devices", text]).devices == value
    assert example("multi_gpu_ddp").build_parser().parse_args(["--devices", "-1"]).devices == -1


# --------------------------------------------------------------------------- make_data


@pytest.fixture(scope="module")
def made_h5ad(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("made") / "made.h5ad"
    assert example("make_data").main(["--n-cells", "3000", "--n-genes", "400", "--n-markers", "8",
                                      "--n-proteins", "12", "--seed", "3", "--out",
                                      str(path)]) == 0
    return path


def test_make_data_is_sparse_and_structured(made_h5ad):
    from scipy import sparse

    adata = anndata.read_h5ad(made_h5ad)
    assert sparse.isspmatrix_csr(adata.X) or isinstance(adata.X, sparse.csr_array)
    assert adata.X.dtype == np.float32 and adata.shape == (3000, 400)
    density = adata.X.nnz / (3000 * 400)
    assert 0.05 <= density <= 0.20, density
    values = adata.X.data
    assert (values > 0).all() and (values == np.round(values)).all()
    made = adata.uns["make_data"]
    assert (made["batch_key"], made["labels_key"]) == ("batch", "cell_type")
    assert adata.obs["batch"].nunique() == 3 and adata.obs["cell_type"].nunique() == 6
    assert adata.obsm["protein_expression"].shape == (3000, 12)
    planted = adata.uns["planted_de_genes"]
    types = adata.obs["cell_type"].to_numpy()
    dense = adata.X.toarray()
    for group, genes in planted.items():
        columns = adata.var_names.get_indexer(genes)
        inside = dense[types == group][:, columns].mean(axis=0)
        outside = dense[types != group][:, columns].mean(axis=0)
        assert (inside > 2 * outside).mean() >= 0.9, group  # planted 4-fold


def test_make_data_negative_binomial_moments():
    make_data = example("make_data")
    rng = np.random.default_rng(0)
    for mu in (0.05, 2.0, 40.0):  # the CDF walk and, over 10, gamma-Poisson
        mean = np.full((400, 500), mu, dtype=np.float32)
        rows, cols, values = make_data.negative_binomial_nonzero(rng, mean, 2.0)
        assert (np.diff(rows) >= 0).all()
        full = np.zeros(mean.shape)
        full[rows, cols] = values
        assert abs(full.mean() - mu) < 0.05 * mu + 0.01
        assert abs(full.var() - (mu + mu * mu / 2)) < 0.1 * (mu + mu * mu / 2)
        assert abs((full == 0).mean() - (2 / (2 + mu)) ** 2) < 0.01


def test_make_data_same_seed_same_counts_and_refuses_overwrite(made_h5ad, tmp_path, capsys):
    again = tmp_path / "again.h5ad"
    args = ["--n-cells", "3000", "--n-genes", "400", "--n-markers", "8", "--n-proteins", "12",
            "--seed", "3", "--out", str(again)]
    assert example("make_data").main(args) == 0
    a, b = anndata.read_h5ad(made_h5ad), anndata.read_h5ad(again)
    assert (a.X != b.X).nnz == 0 and a.obs.equals(b.obs)
    assert example("make_data").main(args) == _common.EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--fold-change", "-1"], ["--fold-change"]),
     (["--fold-change", "nan"], ["--fold-change"]),
     (["--n-proteins", "-2"], ["--n-proteins"])],
)
def test_make_data_refuses_bad_numbers(args, words, tmp_path, capsys):
    out = tmp_path / "x.h5ad"
    try:
        code = example("make_data").main(["--n-cells", "20", "--n-genes", "200", *args,
                                          "--out", str(out)])
    except SystemExit as exc:  # argparse's own check
        code = exc.code
    assert code == _common.EXIT_USAGE
    assert all(w in capsys.readouterr().err for w in words)
    assert not out.exists()


def test_make_data_refuses_a_folder_or_an_unwritable_place(tmp_path, capsys):
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "keep").write_text("x")
    args = ["--n-cells", "20", "--n-genes", "200"]
    assert example("make_data").main([*args, "--overwrite", "--out", str(folder)]) == 2
    assert "is a folder" in capsys.readouterr().err and (folder / "keep").is_file()
    if Path("/proc/self").is_dir():
        assert example("make_data").main([*args, "--out", "/proc/self/x.h5ad"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("Error: --out") and "cannot write" in err


def test_examples_take_keys_from_a_make_data_file(made_h5ad, tmp_path):
    out = tmp_path / "i"
    assert example("scvi_integration").main(["--data", str(made_h5ad), "--max-epochs", "1",
                                             "--out", str(out), *QUICK]) == 0
    result = summary(out)
    assert result["batch_key"] == "batch" and result["layer"] is None


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


@pytest.mark.parametrize(
    ("name", "column", "option", "extra"),
    [("scvi_integration", "batch", "--batch-key", []),
     ("scanvi_label_transfer", "cell_type", "--labels-key", []),
     ("scvi_integration", "donor", "--categorical-covariate-keys", ["donor"])],
)
def test_missing_values_in_an_obs_column_are_refused_before_training(tmp_path, capsys, name,
                                                                      column, option, extra):
    def blank(adata):
        values = adata.obs[column].astype(object)
        values.iloc[[1, 4, 9]] = np.nan
        adata.obs[column] = values.astype("category")

    data = write_variant(tmp_path, "nan_obs", blank)
    out = tmp_path / "fresh" / "out"
    args = ["--data", str(data), "--layer", "counts", "--batch-key", "batch", "--out", str(out)]
    if name == "scanvi_label_transfer":
        args += ["--labels-key", "cell_type"]
    if extra:
        args += [option, *extra]
    code, err = run_main(name, args, capsys)
    assert code == _common.EXIT_DATA, err
    assert err.startswith("Error: ") and "Traceback" not in err
    assert option in err and repr(column) in err and "3 missing values" in err
    assert not (tmp_path / "fresh").exists(), "the empty --out it created must go"


def test_input_error_removes_only_the_empty_folders_the_run_created(tmp_path, capsys):
    created = tmp_path / "new" / "deeper"
    code, err = run_main("downstream_de", ["--data", str(tmp_path / "nope.h5ad"),
                                           "--out", str(created)], capsys)
    assert code == _common.EXIT_USAGE and "no such file" in err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    code, _ = run_main("downstream_de", ["--data", str(tmp_path / "nope.h5ad"),
                                         "--out", str(existing)], capsys)
    assert code == _common.EXIT_USAGE and existing.is_dir()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_unwritable_out_is_refused_before_training(capsys):
    code, err = run_main("scvi_integration", ["--out", "/proc/self", "--max-epochs", "1"], capsys)
    assert code == _common.EXIT_USAGE
    assert "--out /proc/self" in err and "cannot write" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "args"),
    [("scanvi_label_transfer", ["--scanvi-epochs", "-1"]),
     ("scanvi_label_transfer", ["--scanvi-epochs", "0"]),
     ("scanvi_label_transfer", ["--query-epochs", "0"]),
     ("training_control", ["--resume-epochs", "0"]),
     ("training_control", ["--early-stopping-patience", "-1"]),
     ("scvi_integration", ["--n-epochs-kl-warmup", "-1"]),
     ("scvi_integration", ["--early-stopping-patience", "-2"]),
     ("totalvi_citeseq", ["--n-samples", "0"]),
     ("bench_training", ["--lr-base-batch", "0"]),
     ("bench_training", ["--threads", "-1"]),
     ("bench_training", ["--num-workers", "-1"])],
)
def test_count_options_out_of_range_are_usage_errors(name, args, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        example(name).main([*args, "--out", str(tmp_path / "o"), *QUICK])
    assert exc.value.code == _common.EXIT_USAGE
    assert args[0] in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args", [["--lr", "0"], ["--max-time", "-1"], ["--quality-at", "0"]])
def test_bench_refuses_non_positive_times_and_lr(args, tmp_path, capsys):
    code = example("bench_training").main([*args, "--out", str(tmp_path / "o"), *QUICK])
    assert code == _common.EXIT_USAGE
    assert args[0] in capsys.readouterr().err


@pytest.mark.parametrize("devices", ["0,", "1,"])
@pytest.mark.parametrize("name", ["scvi_integration", "bench_training"])
def test_gpu_index_list_on_cpu_is_a_usage_error(name, devices, tmp_path, capsys):
    code = example(name).main(["--devices", devices, "--out", str(tmp_path / "o"), *QUICK])
    assert code == _common.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--devices" in err and "CPU" in err and "Traceback" not in err


def test_ddp_gpu_index_list_on_cpu_is_a_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "multi_gpu_ddp.py"), "--accelerator", "cpu",
         "--devices", "0,1", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == _common.EXIT_USAGE, proc.stderr[-2000:]
    assert proc.stderr.startswith("Error: --devices 0,1") and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("devices", ["0,0", ",", "-1,2"])
def test_bad_device_lists_are_refused(devices, capsys):
    with pytest.raises(SystemExit) as exc:
        example("multi_gpu_ddp").build_parser().parse_args([f"--devices={devices}"])
    assert exc.value.code == _common.EXIT_USAGE


def test_nan_rescue_summary_says_what_happened():
    tc = example("training_control")
    nan = {"failed_at_epoch": 2, "error": "ValueError: x", "weights_finite_after_restore": True,
           "retrain_lr": 1e-4, "final_elbo_validation": 500.0}
    assert "best weights restored" in tc.nan_rescue_text(nan)
    bad = tc.nan_rescue_text({**nan, "weights_finite_after_restore": False, "error": None})
    assert "restored;" not in bad and "NOT FINITE" in bad and "did NOT fail" in bad


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


def test_totalvi_check_fails_when_the_model_is_untrained(tmp_path):
    out = tmp_path / "totalvi1"
    code = example("totalvi_citeseq").main(["--n-cells", "300", "--n-genes", "200",
                                            "--max-epochs", "1", "--out", str(out), *QUICK])
    result = summary(out)
    assert code == _common.EXIT_CHECK_FAILED, result["protein_marker_agreement"]
    assert result["passed"] is False


def test_totalvi_missing_protein_key_lists_obsm(counts_h5ad, tmp_path, capsys):
    code, err = run_main("totalvi_citeseq", ["--data", str(counts_h5ad), "--layer", "counts",
                                             "--out", str(tmp_path / "o")], capsys)
    assert code == _common.EXIT_USAGE
    assert "--protein-obsm-key" in err and "Available .obsm keys" in err


def test_scanvi_check_fails_when_the_models_are_untrained(tmp_path):
    out = tmp_path / "scanvi1"
    code = example("scanvi_label_transfer").main(["--n-cells", "400", "--n-genes", "300",
                                                  "--max-epochs", "1", "--out", str(out),
                                                  *QUICK])
    result = summary(out)
    assert code == _common.EXIT_CHECK_FAILED, result["query_accuracy"]
    assert result["passed"] is False and result["query_accuracy"] < 0.8


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


def bench_rows(out: Path) -> list[dict]:
    import csv

    with (out / "bench_training.csv").open() as handle:
        return list(csv.DictReader(handle))


def assert_figures_finite_and_positive(rows: list[dict]) -> None:
    import math

    for row in rows:
        for key in ("cells_per_second", "seconds_per_step", "seconds_per_epoch",
                    "host_rss_peak_mib"):
            value = float(row[key])
            assert math.isfinite(value) and value > 0, (row["run_id"], key, value)
        for key in ("elbo_validation_final", "elbo_at_quality_time"):
            assert math.isfinite(float(row[key])), (row["run_id"], key)


def assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes().startswith(b"\x89PNG")
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width > height > 300


def test_bench_training_levers_on_cpu_write_finite_figures(made_h5ad, tmp_path, capsys):
    out = tmp_path / "bench"
    base = ["--data", str(made_h5ad), "--sizes", "1200", "--max-epochs", "2", "--out", str(out),
            *QUICK]
    code = example("bench_training").main([
        *base, "--batch-sizes", "64,256", "--precision", "32-true,bf16-mixed",
        "--lr-scaling", "sqrt", "--num-workers", "1", "--persistent-workers"])
    assert code == 0
    code = example("bench_training").main([*base, "--batch-sizes", "256", "--data-on-device",
                                           "--matmul-precision", "high", "--append"])
    assert code == 0
    assert example("bench_training").main([*base, "--batch-sizes", "256", "--load-sparse-tensor",
                                           "--append", "--label", "sparse"]) == 0
    rows = bench_rows(out)
    assert [r["run_id"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert_figures_finite_and_positive(rows)
    assert {r["precision"] for r in rows} == {"32-true", "bf16-mixed"}
    assert {r["data_path"] for r in rows} == {"csr+1wp", "device-backed", "sparse-tensor"}
    lrs = {int(r["batch_size"]): float(r["lr"]) for r in rows[:4]}
    assert lrs[256] == pytest.approx(1e-3 * 2 ** 0.5) and lrs[64] == pytest.approx(1e-3 / 2 ** 0.5)
    curves = (out / "bench_curves.csv").read_text().splitlines()
    assert len(curves) == 1 + 6 * 2
    table = (out / "bench_training.md").read_text()
    assert table.startswith("<!-- generated by examples/bench_training.py")
    assert "| device-data matmul-high |" in table and "| sparse |" in table
    assert_png(out / "bench_throughput.png")
    assert_png(out / "bench_elbo_time.png")
    assert "| run | settings |" in capsys.readouterr().out


def test_bench_compile_runs_compiled_on_cpu(made_h5ad, tmp_path):
    # aot_eager: dynamo traces the module and AOT autograd builds the graphs (what can fall
    # back to eager), without inductor's C++ code generation, which takes minutes on 2 cores.
    out = tmp_path / "compiled"
    code = example("bench_training").main([
        "--data", str(made_h5ad), "--sizes", "600", "--max-epochs", "2", "--batch-sizes",
        "256,512", "--compile", "--compile-backend", "aot_eager", "--out", str(out), *QUICK])
    assert code == 0
    first, second = bench_rows(out)
    assert first["compile"].startswith("compiled ("), first["compile"]
    assert second["compile"].startswith("compiled"), second["compile"]


def test_bench_check_fails_on_a_non_finite_figure():
    bench = example("bench_training")
    good = {"run_id": 1, "cells_per_second": 10.0, "seconds_per_step": 0.1,
            "seconds_per_epoch": 1.0, "host_rss_peak_mib": 100.0, "elbo_validation_final": 500.0}
    assert bench.figure_problems([good]) == []
    for key, value in (("cells_per_second", float("nan")), ("seconds_per_step", 0.0),
                       ("elbo_validation_final", float("inf"))):
        assert key in bench.figure_problems([{**good, key: value}])[0]


def test_bench_compile_fallback_is_reported():
    _bench = importlib.import_module("_bench")
    assert _bench._compile_state(True, (4, 2), (6, 2)) == "FELL BACK to eager"
    assert _bench._compile_state(True, (0, 0), (3, 1)).startswith("compiled")
    assert _bench._compile_state(False, (0, 0), (0, 0)) == "eager"
    assert _bench._compile_state(True, (3, 1), (3, 1)) == "compiled (cached)"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["--persistent-workers"], ["--persistent-workers", "--num-workers"],
                     id="persistent_without_workers"),
        pytest.param(["--batch-sizes", "32768"], ["16384"], id="batch_too_big"),
        pytest.param(["--data-on-device", "--num-workers", "2"], ["--data-on-device"],
                     id="device_data_with_workers"),
        pytest.param(["--precision", "16-mixed"], ["16-mixed", "CUDA"], id="fp16_on_cpu"),
    ],
)
def test_bench_refuses_levers_that_would_mislabel(args, words, tmp_path, capsys):
    code = example("bench_training").main([*args, "--out", str(tmp_path / "o"), *QUICK])
    assert code == _common.EXIT_USAGE
    err = capsys.readouterr().err
    assert all(w in err for w in words), err


def test_ddp_check_can_fail():
    ddp = example("multi_gpu_ddp")
    halves = {"cells_per_rank": [list(range(0, 540, 2)), list(range(1, 540, 2))],
              "train_indices": list(range(540))}
    assert ddp.ddp_problems(2, 2, [270, 270], 540, [1.5, 1.5], **halves) == []
    assert "asked for" in ddp.ddp_problems(1, 2, [540], 540, [1.5])[0]
    unsharded = ddp.ddp_problems(2, 2, [540, 540], 540, [1.5, 1.5])
    assert any("not sharded" in p for p in unsharded)
    assert "different weights" in ddp.ddp_problems(2, 2, [270, 270], 540, [1.5, 1.6],
                                                   **halves)[0]


def test_ddp_check_compares_the_cells_each_process_drew():
    ddp = example("multi_gpu_ddp")
    train = list(range(10))

    def problems(cells, world=2):
        return ddp.ddp_problems(world, world, [len(c) for c in cells], 10, [1.0] * world,
                                cells_per_rank=cells, train_indices=train)

    assert problems([[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]) == []
    # 3 processes, 10 cells: the sampler repeats up to 2 cells as padding.
    assert problems([[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]], world=3) == []
    # Same counts as a good run, but both processes drew the same half: the old count-only
    # check passed this.
    same = problems([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
    assert any("overlap" in p for p in same) and any("drawn by no process" in p for p in same)
    outside = problems([[0, 2, 4, 6, 8], [1, 3, 5, 7, 42]])
    assert any("not training cells" in p for p in outside)
    unrecorded = ddp.ddp_problems(2, 2, [5, 5], 10, [1.0, 1.0])
    assert any("not recorded" in p for p in unrecorded)


def test_multi_gpu_ddp_runs_two_cpu_processes_on_backed_data(made_h5ad, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "multi_gpu_ddp.py"), "--accelerator", "cpu",
         "--devices", "2", "--max-epochs", "2", "--data", str(made_h5ad),
         "--no-progress-bar", "--out", str(out)],
        capture_output=True, text=True, timeout=540, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = summary(out)
    assert result["world_size"] == 2 and result["passed"], result["problems"]
    assert result["input"].endswith("(backed)")
    seen = result["cells_seen_per_rank_epoch_1"]
    assert len(seen) == 2 and max(seen) < result["n_train_cells"] <= sum(seen)
    shards = result["shards_epoch_1"]
    assert shards["training_cells_missed"] == 0 and shards["cells_outside_training_set"] == 0
    assert shards["distinct_cells_in_two_processes"] <= 1
    assert result["effective_batch_size"] == 256
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
def test_scvi_integration_trains_on_cuda(tmp_path):
    out = tmp_path / "integration"
    assert example("scvi_integration").main(["--n-cells", "400", "--max-epochs", "2",
                                             "--out", str(out), "--accelerator", "gpu",
                                             "--devices", "1", "--no-progress-bar"]) == 0
    assert summary(out)["device"].startswith("cuda")


@pytest.mark.cuda
@needs_cuda
def test_gpu_levers_run_on_cuda_and_the_gpu_beats_the_cpu(tmp_path):
    # 20,000 x 2,000: big enough that a step is GPU work, not Python overhead, on any CPU.
    data = tmp_path / "20k.h5ad"
    assert example("make_data").main(["--n-cells", "20000", "--n-genes", "2000", "--jobs", "4",
                                      "--out", str(data)]) == 0
    base = ["--data", str(data), "--max-epochs", "3", "--batch-sizes", "1024",
            "--no-progress-bar", "--seed", "0"]
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    assert example("bench_training").main([*base, "--accelerator", "cpu", "--out", str(cpu)]) == 0
    assert example("bench_training").main([*base, "--accelerator", "gpu", "--devices", "1",
                                           "--out", str(gpu)]) == 0
    assert example("bench_training").main([
        *base, "--accelerator", "gpu", "--devices", "1", "--out", str(gpu), "--append",
        "--data-on-device", "--precision", "bf16-mixed,16-mixed", "--matmul-precision",
        "high"]) == 0
    (cpu_row,) = bench_rows(cpu)
    gpu_rows = bench_rows(gpu)
    assert_figures_finite_and_positive([cpu_row, *gpu_rows])
    for row in gpu_rows:
        assert row["device"].startswith("cuda") and row["params_on_cuda"] == "True", row
        assert float(row["gpu_peak_allocated_mib"]) > 0
    assert cpu_row["params_on_cuda"] == "False"
    assert float(gpu_rows[0]["cells_per_second"]) > float(cpu_row["cells_per_second"])


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

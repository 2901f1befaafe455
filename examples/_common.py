"""Shared plumbing for the scvi-tools examples (not an example itself).

Every example imports this module for the same command-line flags, the same input checks and
the same summary line, so that each script can stay about its workflow:

- ``build_parser``: ``--data --layer --batch-key --max-epochs --n-cells --n-genes --accelerator
  --devices --seed --out --overwrite --no-progress-bar`` (plus the example's own flags);
- ``load_input``: read the user's h5ad (or build synthetic data when ``--data`` is not given)
  and check it *before* training: raw counts, finite, not empty, the requested ``.obs`` keys;
- ``prepare_out`` / ``save_model`` / ``write_json`` / ``write_h5ad``: an output folder that is
  created when missing, model folders that are never overwritten without ``--overwrite``, and
  files written atomically (temp file + ``os.replace``);
- ``EpochTimer`` and ``throughput``: seconds per epoch and cells per second from Lightning hooks,
  so process start-up (DDP) and data set-up are not counted as training;
- ``run``: the one place that turns an ``ExampleError`` into ``Error: ...`` and an exit code.

Exit codes shared by all examples: 0 success; 1 the run finished but its check failed (for
example DE did not recover the planted genes); 2 usage error (bad flag, missing file, a key not in
``.obs``, an output that exists without ``--overwrite``); 3 the data cannot be used (not raw
counts, NaN/inf, empty).

Input handling, documented once here:

- X (or ``--layer``) must hold raw counts: non-negative integers. Normalized or log-transformed
  values stop the run with an error naming ``--layer``; ``--allow-non-integer`` accepts
  non-negative non-integer "counts" (e.g. from pseudo-alignment) on purpose.
- NaN or inf anywhere in the counts is an error (scvi-tools would fail later with a NaN loss).
- Genes with zero counts in every cell, and cells with zero total counts, are dropped with a
  warning: a cell with zero counts has log library size -inf and makes the loss NaN.
- Synthetic data (no ``--data``): counts in ``layers["counts"]``, log1p-normalized values in X
  (the usual layout of a processed file), so ``--layer`` defaults to ``counts`` there and to X
  for ``--data``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DATA = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 the run finished but its check failed; 2 usage error (bad flag, "
    "missing file or key, output exists without --overwrite); 3 unusable data (not raw counts, "
    "NaN/inf, empty)."
)
SYNTHETIC_COUNTS_LAYER = "counts"
SYNTHETIC_BATCH_KEY = "batch"
SYNTHETIC_LABELS_KEY = "cell_type"
SYNTHETIC_CATEGORICAL_KEY = "donor"
SYNTHETIC_CONTINUOUS_KEY = "pct_mito"
PROTEIN_OBSM_KEY = "protein_expression"
PROTEIN_NAMES_UNS_KEY = "protein_names"
PLANTED_GENES_UNS_KEY = "planted_de_genes"
PLANTED_PROTEINS_UNS_KEY = "planted_protein_markers"
# Rows checked at a time when scanning a dense matrix, to bound the temporary copies.
SCAN_CHUNK_ROWS = 4096
MAX_LISTED = 12


class ExampleError(Exception):
    """An input or usage problem: ``str(err)`` is the message, ``exit_code`` the exit status."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(ExampleError):
    exit_code = EXIT_USAGE


class DataError(ExampleError):
    exit_code = EXIT_DATA


def warn(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def run(main_body, argv: list[str] | None) -> int:
    """Call ``main_body(argv)`` and turn an :class:`ExampleError` into one ``Error:`` message."""
    try:
        return main_body(argv)
    except ExampleError as err:
        print(f"Error: {err}", file=sys.stderr)
        if err.hint:
            print(f"  {err.hint}", file=sys.stderr)
        return err.exit_code


# --------------------------------------------------------------------------- command line


def build_parser(prog: str, doc: str, *, labels: bool = False) -> argparse.ArgumentParser:
    """The flags every example shares; ``doc`` (the module docstring) becomes the help text."""
    summary, _, rest = doc.strip().partition("\n")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=summary,
        epilog=rest.strip() + "\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("input")
    data.add_argument("--data", type=Path, default=None,
                      help="an .h5ad file with raw counts; without it, synthetic data of "
                      "--n-cells cells is built in-process (default: synthetic)")
    data.add_argument("--layer", default=None,
                      help="the .layers entry holding raw counts (default: X for --data, "
                      f"'{SYNTHETIC_COUNTS_LAYER}' for synthetic data)")
    data.add_argument("--batch-key", default=None,
                      help=f"the .obs column with the batch (default: none for --data, "
                      f"'{SYNTHETIC_BATCH_KEY}' for synthetic data)")
    if labels:
        data.add_argument("--labels-key", default=None,
                          help=f"the .obs column with cell labels (required with --data; "
                          f"'{SYNTHETIC_LABELS_KEY}' for synthetic data)")
    data.add_argument("--allow-non-integer", action="store_true",
                      help="accept non-negative non-integer counts (default: error)")
    data.add_argument("--n-cells", type=_positive_int, default=2000,
                      help="cells of synthetic data (default: 2000)")
    data.add_argument("--n-genes", type=_positive_int, default=500,
                      help="genes of synthetic data (default: 500)")
    train = parser.add_argument_group("training")
    train.add_argument("--max-epochs", type=_positive_int, default=None,
                       help="maximum epochs (default: the model's own heuristic)")
    train.add_argument("--batch-size", type=_positive_int, default=128,
                       help="minibatch size (default: 128)")
    train.add_argument("--accelerator", choices=["auto", "cpu", "gpu"], default="auto",
                       help="where to train (default: auto = a GPU when present)")
    train.add_argument("--devices", type=parse_devices, default="auto",
                       help="number of devices, a comma list of indices, -1 for all, or auto "
                       "(default: auto)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--no-progress-bar", action="store_true",
                       help="turn Lightning's progress bar off (default: on)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("example_outputs") / prog.removesuffix(".py"),
                     help="output folder, created when missing (default: "
                     "example_outputs/<example>)")
    out.add_argument("--overwrite", action="store_true",
                     help="replace model folders already in --out (default: refuse)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_devices(text: str) -> int | str | list[int]:
    """``auto``, ``-1``, ``2`` or ``0,1`` in the forms Lightning accepts."""
    text = text.strip()
    if text == "auto":
        return text
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--devices takes auto, -1, a count or a comma list of indices, got {text!r}"
        ) from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"--devices must be -1 or at least 1, got {value}")
    return value


def check_accelerator(accelerator: str) -> None:
    """Fail before any work when a GPU is requested and torch sees none."""
    if accelerator != "gpu":
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "--accelerator gpu was given but torch sees no CUDA GPU",
            hint="Use --accelerator cpu (or auto), or install a CUDA build of torch "
            "(pip install 'scvi-tools[cuda]').",
        )


def train_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``model.train`` that come straight from the common flags."""
    return {
        "max_epochs": args.max_epochs,
        "accelerator": args.accelerator,
        "devices": args.devices,
        "batch_size": args.batch_size,
    }


# --------------------------------------------------------------------------- input


@dataclass
class Input:
    """The AnnData to train on and the keys resolved from flags or synthetic defaults."""

    adata: object
    layer: str | None
    batch_key: str | None
    labels_key: str | None = None
    synthetic: bool = False
    source: str = ""
    dropped: dict = field(default_factory=dict)
    """Counts of all-zero genes and cells removed before training."""


def load_input(
    args: argparse.Namespace,
    *,
    need_labels: bool = False,
    need_batch: bool = False,
    extra_obs: dict[str, str] | None = None,
    n_proteins: int = 0,
) -> Input:
    """Read ``--data`` (or build synthetic data), check it and return it ready for setup.

    ``extra_obs`` maps an option name (``--categorical-covariate-keys``) to the ``.obs`` keys
    it named, so a missing one is reported with the option that asked for it.
    """
    labels_key = getattr(args, "labels_key", None)
    if args.data is None:
        adata = make_synthetic_adata(
            n_cells=args.n_cells, n_genes=args.n_genes, n_proteins=n_proteins, seed=args.seed
        )
        layer = args.layer or SYNTHETIC_COUNTS_LAYER
        batch_key = args.batch_key or SYNTHETIC_BATCH_KEY
        labels_key = labels_key or SYNTHETIC_LABELS_KEY
        source = f"synthetic ({adata.n_obs} cells x {adata.n_vars} genes, seed {args.seed})"
        synthetic = True
    else:
        adata = read_h5ad(args.data)
        layer, batch_key, synthetic = args.layer, args.batch_key, False
        source = str(args.data)
    if need_batch and batch_key is None:
        raise UsageError("this example needs a batch column: pass --batch-key COLUMN",
                         hint=_obs_hint(adata))
    if need_labels and labels_key is None:
        raise UsageError("this example needs cell labels: pass --labels-key COLUMN",
                         hint=_obs_hint(adata))
    require_obs_key(adata, batch_key, "--batch-key")
    require_obs_key(adata, labels_key, "--labels-key")
    for option, keys in (extra_obs or {}).items():
        for key in keys or []:
            require_obs_key(adata, key, option)
    adata, dropped = check_counts(adata, layer, allow_non_integer=args.allow_non_integer)
    return Input(adata, layer, batch_key, labels_key, synthetic, source, dropped)


def read_h5ad(path: Path):
    import anndata

    if not path.is_file():
        raise UsageError(f"--data {path}: no such file")
    try:
        return anndata.read_h5ad(path)
    except Exception as err:  # h5py and anndata raise many types for a bad file
        raise DataError(f"--data {path}: cannot be read as .h5ad ({type(err).__name__}: {err})")


def _obs_hint(adata) -> str:
    columns = [str(c) for c in adata.obs.columns]
    shown = ", ".join(columns[:MAX_LISTED]) + (" ..." if len(columns) > MAX_LISTED else "")
    return f"Available .obs columns: {shown or '(none)'}"


def require_obs_key(adata, key: str | None, option: str) -> None:
    if key is None or key in adata.obs.columns:
        return
    raise UsageError(f"{option} {key!r} is not a column of .obs", hint=_obs_hint(adata))


def check_counts(adata, layer: str | None, *, allow_non_integer: bool = False):
    """Stop on data scvi-tools cannot model; drop all-zero genes and cells with a warning.

    Returns the (possibly subset) AnnData and ``{"genes": n, "cells": n}`` dropped.
    """
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise DataError(f"the AnnData is empty ({adata.n_obs} cells x {adata.n_vars} genes)")
    if layer is not None and layer not in adata.layers:
        layers = ", ".join(map(str, adata.layers.keys())) or "(none)"
        raise UsageError(f"--layer {layer!r} is not in .layers", hint=f"Available layers: {layers}")
    where = f"layer {layer!r}" if layer else "X"
    matrix = adata.layers[layer] if layer else adata.X
    if matrix is None:
        raise DataError("X is empty (None)", hint="Pass the raw counts layer with --layer NAME.")
    check_count_matrix(matrix, where, allow_non_integer=allow_non_integer,
                       hint=_layer_hint(adata, layer))
    gene_totals = np.asarray(matrix.sum(axis=0)).ravel()
    cell_totals = np.asarray(matrix.sum(axis=1)).ravel()
    zero_genes, zero_cells = gene_totals == 0, cell_totals == 0
    if zero_genes.all() or zero_cells.all():
        raise DataError(f"{where} holds no counts at all (every value is 0)")
    dropped = {"genes": int(zero_genes.sum()), "cells": int(zero_cells.sum())}
    if dropped["genes"]:
        names = ", ".join(map(str, adata.var_names[zero_genes][:5]))
        warn(f"dropping {dropped['genes']} genes with zero counts in every cell ({names}"
             f"{' ...' if dropped['genes'] > 5 else ''})")
    if dropped["cells"]:
        warn(f"dropping {dropped['cells']} cells with zero total counts (their log library "
             "size is -inf)")
    if dropped["genes"] or dropped["cells"]:
        adata = adata[~zero_cells, ~zero_genes].copy()
    return adata, dropped


def _layer_hint(adata, layer: str | None) -> str:
    others = [str(k) for k in adata.layers.keys() if k != layer]
    if others:
        return f"Pass the raw counts with --layer NAME (layers in this file: {', '.join(others)})."
    return ("Pass the raw counts with --layer NAME; this file has no layers, so store the raw "
            "counts (e.g. adata.layers['counts'] = adata.raw.X) before normalizing.")


def check_count_matrix(matrix, where: str, *, allow_non_integer: bool = False,
                       hint: str | None = None) -> None:
    """Raise :class:`DataError` unless ``matrix`` holds finite non-negative (integer) counts."""
    from scipy import sparse

    if sparse.issparse(matrix):
        chunks = [np.asarray(matrix.data)]
    else:
        matrix = np.asarray(matrix)
        chunks = (matrix[i : i + SCAN_CHUNK_ROWS] for i in range(0, matrix.shape[0],
                                                                 SCAN_CHUNK_ROWS))
    n_bad = n_negative = n_fraction = 0
    example = None
    for chunk in chunks:
        if not np.issubdtype(chunk.dtype, np.number) or np.issubdtype(chunk.dtype, np.bool_):
            raise DataError(f"{where} has dtype {chunk.dtype}, not numeric counts", hint=hint)
        if np.issubdtype(chunk.dtype, np.integer):
            n_negative += int((chunk < 0).sum())
            continue
        finite = np.isfinite(chunk)
        n_bad += int((~finite).sum())
        values = chunk[finite]
        n_negative += int((values < 0).sum())
        fractional = values != np.round(values)
        n_fraction += int(fractional.sum())
        if example is None and fractional.any():
            example = float(values[fractional][0])
    if n_bad:
        raise DataError(
            f"{where} has {n_bad} NaN or inf values; scvi-tools needs finite raw counts",
            hint="Fix or drop those cells/genes first (e.g. recompute counts from the source).",
        )
    if n_negative:
        raise DataError(
            f"{where} has {n_negative} negative values: it looks scaled or log-transformed, "
            "not raw counts", hint=hint,
        )
    if n_fraction and not allow_non_integer:
        raise DataError(
            f"{where} has {n_fraction} non-integer values (e.g. {example:.4g}): it looks "
            "normalized or log-transformed, not raw counts",
            hint=(hint or "") + " Use --allow-non-integer only for counts that are "
            "fractional on purpose.",
        )


# --------------------------------------------------------------------------- synthetic data


def make_synthetic_adata(
    *,
    n_cells: int = 400,
    n_genes: int = 200,
    n_batches: int = 2,
    n_groups: int = 3,
    n_de_per_group: int = 10,
    fold_change: float = 4.0,
    n_proteins: int = 0,
    seed: int = 0,
    sparse: bool = False,
):
    """Negative binomial counts with planted marker genes, batch effects and covariates.

    Each cell type (``obs["cell_type"]``) has ``n_de_per_group`` genes up by ``fold_change``;
    each batch multiplies every gene by its own log-normal factor and scales library size.
    ``uns["planted_de_genes"]`` records the markers of each type, ``uns["planted_protein_
    markers"]`` those of the proteins (``obsm["protein_expression"]``, when ``n_proteins``).
    """
    import anndata
    import pandas as pd
    from scipy import sparse as sp

    if n_de_per_group * n_groups > n_genes:
        raise UsageError(f"--n-genes {n_genes} is too small for {n_groups} cell types with "
                         f"{n_de_per_group} marker genes each")
    rng = np.random.default_rng(seed)
    groups = np.arange(n_cells) % n_groups
    rng.shuffle(groups)
    batches = rng.integers(0, n_batches, size=n_cells)
    gene_names = np.array([f"gene_{i:05d}" for i in range(n_genes)])
    marker_idx = rng.permutation(n_genes)[: n_groups * n_de_per_group].reshape(n_groups, -1)

    log_rate = rng.normal(0.0, 1.0, size=n_genes)
    log_rate = np.tile(log_rate, (n_cells, 1))
    for g in range(n_groups):
        log_rate[np.ix_(groups == g, marker_idx[g])] += np.log(fold_change)
    batch_gene_effect = rng.normal(0.0, 0.3, size=(n_batches, n_genes))
    log_rate += batch_gene_effect[batches]
    rate = np.exp(log_rate)
    rate /= rate.sum(axis=1, keepdims=True)
    batch_depth = np.linspace(1.0, 1.6, n_batches)[batches]
    library = rng.lognormal(np.log(1500.0), 0.35, size=n_cells) * batch_depth
    counts = _negative_binomial(rng, rate * library[:, None], theta=8.0)

    names = [f"type_{g}" for g in range(n_groups)]
    obs = pd.DataFrame(
        {
            SYNTHETIC_BATCH_KEY: pd.Categorical([f"batch_{b}" for b in batches]),
            SYNTHETIC_LABELS_KEY: pd.Categorical([names[g] for g in groups]),
            SYNTHETIC_CATEGORICAL_KEY: pd.Categorical(
                [f"donor_{d}" for d in rng.integers(0, 3, size=n_cells)]),
            SYNTHETIC_CONTINUOUS_KEY: rng.uniform(0.5, 8.0, size=n_cells),
        },
        index=[f"cell_{i:06d}" for i in range(n_cells)],
    )
    counts = counts.astype(np.float32)
    norm = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    to_matrix = sp.csr_matrix if sparse else np.asarray
    adata = anndata.AnnData(
        X=to_matrix(norm), obs=obs, var=pd.DataFrame(index=gene_names),
        layers={SYNTHETIC_COUNTS_LAYER: to_matrix(counts)},
    )
    adata.uns[PLANTED_GENES_UNS_KEY] = {
        names[g]: gene_names[marker_idx[g]].tolist() for g in range(n_groups)
    }
    if n_proteins:
        _add_proteins(adata, rng, groups, names, n_proteins)
    return adata


def _negative_binomial(rng, mean: np.ndarray, theta: float) -> np.ndarray:
    """Gamma-Poisson draws with the given mean and inverse dispersion ``theta``."""
    return rng.poisson(rng.gamma(theta, mean / theta))


def _add_proteins(adata, rng, groups: np.ndarray, names: list[str], n_proteins: int) -> None:
    """CITE-seq-like antibody counts: a background for every protein, a foreground marker each.

    Protein ``p`` is the marker of cell type ``p % n_groups``: 10x its background there.
    """
    n_groups = len(names)
    background = rng.lognormal(np.log(20.0), 0.4, size=n_proteins)
    mean = np.tile(background, (adata.n_obs, 1))
    owner = np.arange(n_proteins) % n_groups
    for p in range(n_proteins):
        mean[groups == owner[p], p] *= 10.0
    protein_names = [f"prot_{p:03d}" for p in range(n_proteins)]
    adata.obsm[PROTEIN_OBSM_KEY] = _negative_binomial(rng, mean, theta=5.0).astype(np.float32)
    adata.uns[PROTEIN_NAMES_UNS_KEY] = np.array(protein_names)
    adata.uns[PLANTED_PROTEINS_UNS_KEY] = {
        names[g]: [protein_names[p] for p in range(n_proteins) if owner[p] == g]
        for g in range(n_groups)
    }


# --------------------------------------------------------------------------- output


def prepare_out(out: Path, *, model_dirs: list[str], overwrite: bool) -> Path:
    """Create ``out``; refuse (before any training) to replace a model folder in it."""
    for name in model_dirs:
        target = out / name
        if target.exists() and not overwrite:
            raise UsageError(f"{target} already exists; pass --overwrite to replace it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    if not out.is_dir():
        raise UsageError(f"--out {out} is not a folder")
    return out


def save_model(model, path: Path, *, overwrite: bool) -> None:
    """Save into a temporary sibling folder, then move it into place."""
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists; pass --overwrite to replace it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
    try:
        model.save(str(tmp), overwrite=True, save_anndata=False)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(
        json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"))


def write_h5ad(adata, path: Path) -> None:
    _write_atomic(path, lambda tmp: adata.write_h5ad(tmp))


def write_csv(frame, path: Path) -> None:
    _write_atomic(path, lambda tmp: frame.to_csv(tmp))


def _write_atomic(path: Path, write) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes it private; the result should not be
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# --------------------------------------------------------------------------- timing and summary


def make_epoch_timer():
    """A Lightning callback recording the wall time of every training epoch (validation included).

    Built lazily so that ``--help`` and input errors never import Lightning.
    """
    from lightning.pytorch.callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.epoch_seconds: list[float] = []
            self._start = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if pl_module.device.type == "cuda":
                import torch

                torch.cuda.synchronize(pl_module.device)  # count queued GPU work in this epoch
            self.epoch_seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def throughput(model, timer, *, n_processes: int = 1) -> dict:
    """Cells per second and seconds per epoch of the last ``model.train`` call.

    The training set is split across DDP processes, so the global rate is the number of
    training cells per epoch over rank 0's epoch time (the processes step in lock-step).
    """
    n_train = len(model.train_indices) if model.train_indices is not None else model.adata.n_obs
    seconds = timer.epoch_seconds
    # The first epoch carries one-off costs (allocator warm-up, DDP buckets); leave it out
    # of the steady-state figure when there is more than one. The median resists the odd
    # epoch slowed by other work on the machine.
    steady = seconds[1:] if len(seconds) > 1 else seconds
    per_epoch = float(np.median(steady)) if steady else float("nan")
    return {
        "epochs": len(seconds),
        "n_train_cells": int(n_train),
        "seconds_per_epoch": per_epoch,
        "cells_per_second": n_train / per_epoch if steady and per_epoch > 0 else float("nan"),
        "train_seconds_total": float(sum(seconds)),
        "n_processes": n_processes,
    }


def device_description(model, *, n_processes: int = 1) -> str:
    import torch

    device = getattr(model, "device", None)
    text = str(device) if device is not None else "unknown"
    if isinstance(device, torch.device) and device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    if n_processes > 1:
        text += f", DDP x{n_processes} processes"
    return text


def print_summary(title: str, rows: list[tuple[str, object]], *, device: str, rate: dict) -> None:
    """A short block on stdout ending with the device and the training throughput."""
    print(f"\n== {title} ==")
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"{key:<{width}} : {value}")
    print(f"device: {device}; training throughput: {rate['cells_per_second']:,.0f} cells/s "
          f"({rate['seconds_per_epoch']:.3f} s/epoch over {rate['epochs']} epochs)")

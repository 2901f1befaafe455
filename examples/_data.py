"""Input for the examples: read and check the user's h5ad, or build synthetic data.

Part of the examples' shared plumbing (see ``_common.py`` for the input rules and exit codes):
``load_input`` resolves ``--data``/``--layer``/keys into an :class:`Input`, ``check_counts`` and
``check_count_matrix`` refuse what scvi-tools cannot model, and ``make_synthetic_adata`` builds
negative binomial counts with planted marker genes, batch effects, covariates and (optionally)
CITE-seq proteins, recording the planted truth in ``.uns`` so the examples can check recovery.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DataError,
    PLANTED_GENES_UNS_KEY,
    PLANTED_PROTEINS_UNS_KEY,
    PROTEIN_NAMES_UNS_KEY,
    PROTEIN_OBSM_KEY,
    SYNTHETIC_BATCH_KEY,
    SYNTHETIC_CATEGORICAL_KEY,
    SYNTHETIC_CONTINUOUS_KEY,
    SYNTHETIC_COUNTS_LAYER,
    SYNTHETIC_LABELS_KEY,
    UsageError,
    warn,
)

MAKE_DATA_UNS_KEY = "make_data"
# Rows checked at a time when scanning a dense matrix, to bound the temporary copies.
SCAN_CHUNK_ROWS = 4096
MAX_LISTED = 12


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
    synthetic=None,
    backed: bool = False,
) -> Input:
    """Read ``--data`` (or build synthetic data), check it and return it ready for setup.

    ``extra_obs`` maps an option name (``--categorical-covariate-keys``) to the ``.obs`` keys
    it named, so a missing one is reported with the option that asked for it. ``synthetic``
    (``make_data.build_adata``) builds the in-memory data instead of ``make_synthetic_adata``.
    ``backed`` opens ``--data`` read-only on disk (X stays in the file; see
    :func:`check_counts_backed`). A file written by ``make_data.py`` names its batch and label
    columns in ``uns["make_data"]``; they are the defaults for ``--batch-key``/``--labels-key``.
    """
    labels_key = getattr(args, "labels_key", None)
    if args.data is None and synthetic is not None:
        adata = synthetic(n_cells=args.n_cells, n_genes=args.n_genes, n_proteins=n_proteins,
                          seed=args.seed)
        layer = args.layer
        batch_key = args.batch_key or SYNTHETIC_BATCH_KEY
        labels_key = labels_key or SYNTHETIC_LABELS_KEY
        source = (f"make_data in memory ({adata.n_obs} cells x {adata.n_vars} genes, seed "
                  f"{args.seed})")
        synthetic = True
    elif args.data is None:
        adata = make_synthetic_adata(
            n_cells=args.n_cells, n_genes=args.n_genes, n_proteins=n_proteins, seed=args.seed
        )
        layer = args.layer or SYNTHETIC_COUNTS_LAYER
        batch_key = args.batch_key or SYNTHETIC_BATCH_KEY
        labels_key = labels_key or SYNTHETIC_LABELS_KEY
        source = f"synthetic ({adata.n_obs} cells x {adata.n_vars} genes, seed {args.seed})"
        synthetic = True
    else:
        adata = read_h5ad(args.data, backed=backed)
        layer, batch_key, synthetic = args.layer, args.batch_key, False
        made = adata.uns.get(MAKE_DATA_UNS_KEY)
        if made is not None:
            batch_key = batch_key or str(made.get("batch_key"))
            labels_key = labels_key or str(made.get("labels_key"))
        source = str(args.data) + (" (backed)" if backed else "")
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
    if backed:
        dropped = check_counts_backed(adata, layer, allow_non_integer=args.allow_non_integer)
    else:
        adata, dropped = check_counts(adata, layer, allow_non_integer=args.allow_non_integer)
    return Input(adata, layer, batch_key, labels_key, synthetic, source, dropped)


def read_h5ad(path: Path, *, backed: bool = False):
    import anndata

    if not path.is_file():
        raise UsageError(f"--data {path}: no such file")
    try:
        return anndata.read_h5ad(path, backed="r" if backed else None)
    except Exception as err:  # h5py and anndata raise many types for a bad file
        raise DataError(f"--data {path}: cannot be read as .h5ad ({type(err).__name__}: {err})")


def _obs_hint(adata) -> str:
    columns = [str(c) for c in adata.obs.columns]
    shown = ", ".join(columns[:MAX_LISTED]) + (" ..." if len(columns) > MAX_LISTED else "")
    return f"Available .obs columns: {shown or '(none)'}"


def require_obs_key(adata, key: str | None, option: str) -> None:
    """The column must exist and have a value in every cell (scvi-tools' category mapping
    fails on a missing value, after the data is loaded and before any useful message)."""
    if key is None:
        return
    if key not in adata.obs.columns:
        raise UsageError(f"{option} {key!r} is not a column of .obs", hint=_obs_hint(adata))
    n_missing = int(adata.obs[key].isna().sum())
    if n_missing:
        raise DataError(
            f"{option} {key!r}: .obs[{key!r}] has {n_missing} missing values (NaN) of "
            f"{adata.n_obs}", hint="Fill them (e.g. with an 'unknown' category) or drop those "
            "cells, and write the file again.")


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


def check_counts_backed(adata, layer: str | None, *, allow_non_integer: bool = False) -> dict:
    """:func:`check_counts` for a backed AnnData, reading X in row blocks; nothing is dropped.

    A backed file cannot be subset in place, so all-zero cells (NaN loss) are an error here,
    and all-zero genes a warning.
    """
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise DataError(f"the AnnData is empty ({adata.n_obs} cells x {adata.n_vars} genes)")
    if layer is not None:
        if layer not in adata.layers:
            layers = ", ".join(map(str, adata.layers.keys())) or "(none)"
            raise UsageError(f"--layer {layer!r} is not in .layers",
                             hint=f"Available layers: {layers}")
        warn(f"--layer {layer!r}: layers are read in full by every process; store the counts "
             "in X to keep them on disk")
        adata.layers[layer]  # noqa: B018 - resolve it now so a bad layer fails here
    where = f"layer {layer!r}" if layer else "X"
    gene_totals = np.zeros(adata.n_vars)
    n_zero_cells = 0
    for lo in range(0, adata.n_obs, SCAN_CHUNK_ROWS):
        block = (adata.layers[layer] if layer else adata.X)[lo : lo + SCAN_CHUNK_ROWS]
        check_count_matrix(block, where, allow_non_integer=allow_non_integer,
                           hint=_layer_hint(adata, layer))
        gene_totals += np.asarray(block.sum(axis=0)).ravel()
        n_zero_cells += int((np.asarray(block.sum(axis=1)).ravel() == 0).sum())
    if n_zero_cells:
        raise DataError(f"{where} has {n_zero_cells} cells with zero total counts (their log "
                        "library size is -inf)", hint="Filter them out and write the file "
                        "again, or run without backed reading.")
    n_zero_genes = int((gene_totals == 0).sum())
    if n_zero_genes:
        warn(f"{n_zero_genes} genes have zero counts in every cell (kept: the file is backed)")
    return {"genes": 0, "cells": 0}


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

"""Write synthetic single-cell counts to an .h5ad, chunk by chunk, as float32 CSR.

The data the examples and the benchmark read with ``--data`` (build it once, train many times):

- raw counts in X (float32 CSR): gamma-Poisson (negative binomial) draws with a log-normal
  gene profile and log-normal library sizes, so that 5-20% of the entries are non-zero, as
  in real droplet data (the default settings give about 10% at 2,000 genes);
- ``obs``: ``cell_type`` (each type has ``--n-markers`` genes up by ``--fold-change``),
  ``batch`` (every gene scaled by a per-batch log-normal factor, deeper sequencing in later
  batches), ``donor`` (categorical covariate) and ``pct_mito`` (continuous covariate);
- ``uns["planted_de_genes"]``: the marker genes of each type (the truth the DE check uses);
  ``uns["make_data"]``: the settings, so the examples pick ``batch``/``cell_type`` by default;
- with ``--n-proteins``: CITE-seq-like antibody counts in ``obsm["protein_expression"]``.

Memory stays bounded by one chunk (``--chunk-cells`` rows, dense while drawn) plus obs: the
CSR rows are appended to the file as they are made. The same ``--seed`` (and chunk size) gives
the same data, whatever ``--jobs`` (processes drawing chunks in parallel). The file is
written under a temporary name and moved into place.

Measured on a shared 2-core machine, one process: 200,000 x 2,000 in 45 s with a 267 MiB peak
RSS; 1,000,000 x 2,000 (13% non-zero, 2.1 GB file) in 127 s with a 295 MiB peak.

Examples:
  python examples/make_data.py --n-cells 200000 --n-genes 2000 --seed 0 --out data/200k.h5ad
  python examples/make_data.py --n-cells 1000 --n-genes 300 --n-proteins 12 --out /tmp/small.h5ad
  python examples/scvi_integration.py --data data/200k.h5ad --out results/scvi

Exit codes: 0 written; 2 usage error (bad flag, output exists without --overwrite or is a
folder, folder missing or not writable).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
from _data import MAKE_DATA_UNS_KEY  # noqa: E402

# Entries drawn at a time: 16 MiB float32 arrays stay under glibc's mmap threshold, so
# each chunk reuses the last one's memory instead of faulting in fresh pages.
CHUNK_ENTRIES = 4_000_000
# The gene profile and library size that give 10-20% non-zero entries (measured:
# see tests/test_examples.py::test_make_data_is_sparse_and_structured).
GENE_LOG_SD = 2.0
# Median counts per cell = LIBRARY_PER_GENE x genes (600 at 2,000 genes), so that the
# fraction of non-zero entries does not depend on --n-genes.
LIBRARY_PER_GENE = 0.3
LIBRARY_LOG_SD = 0.45
THETA = 2.0
# Entries with a larger mean are drawn gamma-Poisson instead of by CDF inversion.
INVERSION_MAX_MEAN = 10.0
MIN_STEP_PROBABILITY = 1e-15
BATCH_GENE_SD = 0.3


def build_parser() -> argparse.ArgumentParser:
    summary, _, rest = __doc__.strip().partition("\n")
    parser = argparse.ArgumentParser(prog="make_data.py", description=summary, epilog=rest,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-cells", type=_common._positive_int, default=100_000,
                        help="cells (default: 100000)")
    parser.add_argument("--n-genes", type=_common._positive_int, default=2000,
                        help="genes (default: 2000)")
    parser.add_argument("--n-types", type=_common._positive_int, default=6,
                        help="cell types (default: 6)")
    parser.add_argument("--n-batches", type=_common._positive_int, default=3,
                        help="batches (default: 3)")
    parser.add_argument("--n-markers", type=_common._positive_int, default=20,
                        help="marker genes per cell type (default: 20)")
    parser.add_argument("--fold-change", type=float, default=4.0,
                        help="marker fold change in its own type, above 1 (default: 4.0)")
    parser.add_argument("--n-proteins", type=_common._non_negative_int, default=0,
                        help="CITE-seq proteins in obsm (default: 0, none)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--chunk-cells", type=_common._positive_int, default=None,
                        help=f"rows drawn at a time (default: {CHUNK_ENTRIES:,} entries / "
                        "--n-genes)")
    parser.add_argument("--jobs", type=_common._positive_int, default=1,
                        help="processes drawing chunks in parallel; the data does not depend "
                        "on it (default: 1)")
    parser.add_argument("--out", type=Path, required=True, help="the .h5ad file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out when it exists (default: refuse)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.n_types * args.n_markers > args.n_genes:
        raise _common.UsageError(f"--n-genes {args.n_genes} is too small for {args.n_types} "
                                 f"types x {args.n_markers} markers")
    if not (np.isfinite(args.fold_change) and args.fold_change > 1):
        raise _common.UsageError(f"--fold-change must be a number above 1 (markers are planted "
                                 f"up by it), got {args.fold_change}")
    if args.out.is_dir():
        raise _common.UsageError(f"--out {args.out} is a folder; give the .h5ad file to write")
    if args.out.exists() and not args.overwrite:
        raise _common.UsageError(f"{args.out} already exists; pass --overwrite to replace it")
    if not args.out.parent.is_dir():
        raise _common.UsageError(f"--out {args.out}: folder {args.out.parent} does not exist")
    _check_writable(args.out.parent)
    start = time.perf_counter()
    stats = write_h5ad(args.out, n_cells=args.n_cells, n_genes=args.n_genes,
                       n_types=args.n_types, n_batches=args.n_batches, n_markers=args.n_markers,
                       fold_change=args.fold_change, n_proteins=args.n_proteins, seed=args.seed,
                       chunk_cells=args.chunk_cells, jobs=args.jobs)
    seconds = time.perf_counter() - start
    print(f"wrote {args.out}: {args.n_cells} cells x {args.n_genes} genes, "
          f"{stats['density']:.1%} non-zero, {stats['nnz']:,} counts entries, "
          f"{args.out.stat().st_size / 2**20:,.0f} MiB, {seconds:.1f} s, peak RSS "
          f"{_common.peak_rss_mib():,.0f} MiB" + (f" (largest worker {_worker_peak_mib():,.0f} "
                                                  "MiB)" if args.jobs > 1 else ""))
    return _common.EXIT_OK


def _check_writable(folder: Path) -> None:
    """Create and remove a temporary file in ``folder`` (root passes os.access everywhere)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise _common.UsageError(f"--out: cannot write files in {folder} ({err.strerror})",
                                 hint="Pick a folder you can write to.") from None


def _worker_peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class Design:
    """The fixed structure: types, batches, markers and the per-(type, batch) gene profiles."""

    def __init__(self, rng, *, n_cells, n_genes, n_types, n_batches, n_markers, fold_change):
        self.types = rng.integers(0, n_types, size=n_cells)
        self.batches = rng.integers(0, n_batches, size=n_cells)
        base = rng.normal(0.0, GENE_LOG_SD, size=n_genes)
        # Markers come from the better-expressed half of the genes: a 4-fold change on a gene
        # seen once in 10,000 cells is truth no model (and no DE check) can recover.
        expressed = np.flatnonzero(base >= np.median(base))
        if expressed.size < n_types * n_markers:
            expressed = np.arange(n_genes)
        chosen = rng.permutation(expressed)[: n_types * n_markers]
        self.markers = chosen.reshape(n_types, n_markers)
        batch_effect = rng.normal(0.0, BATCH_GENE_SD, size=(n_batches, n_genes))
        log_profile = np.tile(base, (n_types, n_batches, 1)) + batch_effect[None]
        for t in range(n_types):
            log_profile[t, :, self.markers[t]] += np.log(fold_change)
        profile = np.exp(log_profile)
        self.profile = (profile / profile.sum(axis=2, keepdims=True)).astype(np.float32)
        depth = np.linspace(1.0, 1.6, n_batches)[self.batches]
        median = LIBRARY_PER_GENE * n_genes
        self.library = (rng.lognormal(np.log(median), LIBRARY_LOG_SD, size=n_cells)
                        * depth).astype(np.float32)


def count_chunks(design: Design, seed: int, chunk_cells: int, jobs: int = 1):
    """Yield float32 CSR row blocks of negative binomial counts, in cell order.

    Chunk ``i`` draws from its own generator (``SeedSequence(seed).spawn``), so ``jobs``
    processes give the same data as one.
    """
    n_cells = design.types.shape[0]
    starts = list(range(0, n_cells, chunk_cells))
    seeds = np.random.SeedSequence([seed, 1]).spawn(len(starts))
    tasks = [(lo, min(lo + chunk_cells, n_cells), s) for lo, s in zip(starts, seeds)]
    if jobs <= 1 or len(tasks) == 1:
        for task in tasks:
            yield _draw_chunk(design, *task)
        return
    import multiprocessing

    global _WORKER_DESIGN
    _WORKER_DESIGN = design  # inherited by the forked workers, not pickled per task
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_draw_chunk_in_worker, tasks, chunksize=1)


_WORKER_DESIGN = None


def _draw_chunk_in_worker(task):
    return _draw_chunk(_WORKER_DESIGN, *task)


def _draw_chunk(design: Design, lo: int, hi: int, seed_sequence):
    from scipy import sparse

    rng = np.random.default_rng(seed_sequence)
    mean = design.profile[design.types[lo:hi], design.batches[lo:hi]]
    mean *= design.library[lo:hi, None]
    rows, cols, values = negative_binomial_nonzero(rng, mean, THETA)
    indptr = np.zeros(hi - lo + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=hi - lo), out=indptr[1:])
    return sparse.csr_matrix((values, cols.astype(np.int32), indptr),
                             shape=(hi - lo, design.profile.shape[2]))


def negative_binomial_nonzero(rng, mean: np.ndarray, theta: float):
    """Negative binomial draws (mean ``mean``, inverse dispersion ``theta``) by CDF inversion.

    One uniform per entry decides the value, so the ~85% of entries that are 0 cost a
    comparison, and only the non-zero ones walk up the CDF (P(k+1) = P(k) (k + theta) / (k + 1)
    q, q = mean / (mean + theta)). Returns the non-zero entries as (rows, cols, float32 values)
    in row-major (CSR) order. A gamma-Poisson draw of every entry is the same distribution at
    several times the cost; it is used for the few entries with a mean over
    ``INVERSION_MAX_MEAN``, whose CDF walk would be long.
    """
    u = rng.random(mean.shape, dtype=np.float32)
    q = mean / (mean + np.float32(theta))
    p_zero = np.exp(np.float32(theta) * np.log1p(-q))
    high = mean > INVERSION_MAX_MEAN
    high_values = None
    if high.any():
        high_mean = mean[high]
        high_values = rng.poisson(rng.gamma(theta, high_mean / theta)).astype(np.float32)
        u[high] = 0.0  # decided below, not by the walk
        high_values_dense = np.zeros(mean.shape, dtype=np.float32)
        high_values_dense[high] = high_values
        del high_mean
    rows, cols = np.nonzero(u > p_zero)
    u = u[rows, cols].astype(np.float64)
    q = q[rows, cols].astype(np.float64)
    # P(0) again in float64 from the same q, so that the walked CDF sums to 1 closely.
    p0 = np.exp(theta * np.log1p(-q))
    prob = p0 * theta * q  # P(1)
    cdf = p0 + prob
    k = np.ones(rows.size, dtype=np.float64)  # every entry here is at least 1
    # Walk the entries still under their u, on compacted copies (gathers shrink each step).
    idx = np.flatnonzero(u > cdf)
    u, q, prob, cdf, kk = u[idx], q[idx], prob[idx], cdf[idx], k[idx]
    while idx.size:
        prob *= (kk + theta) / (kk + 1.0) * q
        cdf += prob
        kk += 1.0
        # Where rounding keeps the cdf just under a u near 1, the walk ends once the next
        # probabilities are negligible (a subnormal prob would otherwise never reach 0).
        more = (u > cdf) & (prob > MIN_STEP_PROBABILITY)
        k[idx[~more]] = kk[~more]
        idx, u, q, prob, cdf, kk = idx[more], u[more], q[more], prob[more], cdf[more], kk[more]
    values = k.astype(np.float32)
    if high_values is None:
        return rows, cols, values
    # Merge the gamma-Poisson entries back in row-major order.
    dense_rows, dense_cols = np.nonzero(high_values_dense)
    rows = np.concatenate([rows, dense_rows])
    cols = np.concatenate([cols, dense_cols])
    values = np.concatenate([values, high_values_dense[dense_rows, dense_cols]])
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], values[order]


def build_obs(design: Design, rng):
    import pandas as pd

    n_cells = design.types.shape[0]
    n_types = design.markers.shape[0]
    return pd.DataFrame(
        {
            _common.SYNTHETIC_BATCH_KEY: pd.Categorical.from_codes(
                design.batches, [f"batch_{b}" for b in range(design.profile.shape[1])]),
            _common.SYNTHETIC_LABELS_KEY: pd.Categorical.from_codes(
                design.types, [f"type_{t}" for t in range(n_types)]),
            _common.SYNTHETIC_CATEGORICAL_KEY: pd.Categorical.from_codes(
                rng.integers(0, 3, size=n_cells), ["donor_0", "donor_1", "donor_2"]),
            _common.SYNTHETIC_CONTINUOUS_KEY: rng.uniform(0.5, 8.0, size=n_cells)
            .astype(np.float32),
        },
        index=[f"cell_{i:07d}" for i in range(n_cells)],
    )


def _skeleton(*, n_cells, n_genes, n_types, n_batches, n_markers, fold_change, n_proteins,
              seed, chunk_cells):
    """The AnnData without X (obs, var, uns, proteins), the design and the generator."""
    import anndata
    import pandas as pd

    rng = np.random.default_rng(seed)
    design = Design(rng, n_cells=n_cells, n_genes=n_genes, n_types=n_types,
                    n_batches=n_batches, n_markers=n_markers, fold_change=fold_change)
    gene_names = np.array([f"gene_{i:05d}" for i in range(n_genes)])
    adata = anndata.AnnData(obs=build_obs(design, rng), var=pd.DataFrame(index=gene_names))
    adata.uns[MAKE_DATA_UNS_KEY] = {
        "n_cells": n_cells, "n_genes": n_genes, "n_types": n_types, "n_batches": n_batches,
        "n_markers": n_markers, "fold_change": fold_change, "n_proteins": n_proteins,
        "seed": seed, "chunk_cells": chunk_cells, "batch_key": _common.SYNTHETIC_BATCH_KEY,
        "labels_key": _common.SYNTHETIC_LABELS_KEY, "counts": "X",
        "generator": "examples/make_data.py"}
    adata.uns[_common.PLANTED_GENES_UNS_KEY] = {
        f"type_{t}": gene_names[design.markers[t]].tolist() for t in range(n_types)}
    if n_proteins:
        _add_proteins(adata, rng, design.types, n_types, n_proteins)
    return adata, design


def build_adata(*, n_cells: int, n_genes: int, n_types: int = 6, n_batches: int = 3,
                n_markers: int = 20, fold_change: float = 4.0, n_proteins: int = 0,
                seed: int = 0, chunk_cells: int | None = None):
    """The same data as :func:`write_h5ad`, in memory (for runs too small to need a file)."""
    from scipy import sparse

    chunk_cells = chunk_cells or max(1, CHUNK_ENTRIES // n_genes)
    adata, design = _skeleton(
        n_cells=n_cells, n_genes=n_genes, n_types=n_types, n_batches=n_batches,
        n_markers=n_markers, fold_change=fold_change, n_proteins=n_proteins, seed=seed,
        chunk_cells=chunk_cells)
    adata.X = sparse.vstack(list(count_chunks(design, seed, chunk_cells)), format="csr")
    return adata


def write_h5ad(path: Path, *, n_cells: int, n_genes: int, n_types: int = 6, n_batches: int = 3,
               n_markers: int = 20, fold_change: float = 4.0, n_proteins: int = 0,
               seed: int = 0, chunk_cells: int | None = None, jobs: int = 1) -> dict:
    """Write the data to ``path`` atomically; return ``{"nnz": ..., "density": ...}``."""
    import h5py
    from anndata.io import sparse_dataset, write_elem

    chunk_cells = chunk_cells or max(1, CHUNK_ENTRIES // n_genes)
    skeleton, design = _skeleton(
        n_cells=n_cells, n_genes=n_genes, n_types=n_types, n_batches=n_batches,
        n_markers=n_markers, fold_change=fold_change, n_proteins=n_proteins, seed=seed,
        chunk_cells=chunk_cells)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".h5ad", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    nnz = 0
    try:
        skeleton.write_h5ad(tmp)
        del skeleton
        with h5py.File(tmp, "a") as handle:
            for i, chunk in enumerate(count_chunks(design, seed, chunk_cells, jobs)):
                nnz += chunk.nnz
                if i == 0:
                    write_elem(handle, "X", chunk)
                    matrix = sparse_dataset(handle["X"])
                else:
                    matrix.append(chunk)
        tmp.chmod(0o666 & ~_common._umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"nnz": nnz, "density": nnz / (n_cells * n_genes)}


def _add_proteins(adata, rng, types, n_types: int, n_proteins: int) -> None:
    """Antibody counts: a background per protein, 10x in the type it marks (p % n_types)."""
    background = rng.lognormal(np.log(20.0), 0.4, size=n_proteins).astype(np.float32)
    owner = np.arange(n_proteins) % n_types
    mean = np.where(types[:, None] == owner[None, :], 10.0, 1.0).astype(np.float32) * background
    names = [f"prot_{p:03d}" for p in range(n_proteins)]
    adata.obsm[_common.PROTEIN_OBSM_KEY] = rng.poisson(
        rng.gamma(5.0, mean / 5.0)).astype(np.float32)
    adata.uns[_common.PROTEIN_NAMES_UNS_KEY] = np.array(names)
    adata.uns[_common.PLANTED_PROTEINS_UNS_KEY] = {
        f"type_{t}": [names[p] for p in range(n_proteins) if owner[p] == t]
        for t in range(n_types)}


if __name__ == "__main__":
    sys.exit(main())

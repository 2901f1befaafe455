"""Benchmark SCVI training throughput over data sizes, batch sizes and data-loading settings.

Two sweeps, each a fresh ``SCVI`` trained for ``--max-epochs`` on all cells (``train_size=1``,
no validation), timed per epoch by a Lightning callback:

1. sizes x batch sizes: ``--sizes`` cells (default: n/4, n/2, n of ``--n-cells``) times
   ``--batch-sizes``, with the default loading (dense X, ``pin_memory=False``, ``num_workers=0``);
2. loading settings, at the largest size and ``--loading-batch-size``: dense X; sparse CSR X;
   sparse X with ``load_sparse_tensor=True`` (CSR tensors moved to the device, then densified);
   ``pin_memory=True``; ``num_workers=--num-workers``. These go through
   ``model.train(load_sparse_tensor=..., datasplitter_kwargs={"pin_memory": ..., "num_workers":
   ...})``.

Reported per run: cells/s and s/epoch (steady state: the median epoch after the first), and
peak memory: on GPU ``torch.cuda.max_memory_allocated``; on CPU the peak resident set
size sampled during training minus the size before it. The machine's load average is recorded,
because other processes on the same cores change CPU figures a lot.

Writes OUT/bench_training.csv, OUT/bench_training.md (table), OUT/bench_training.png (plot).

Examples:
  python examples/bench_training.py --accelerator cpu --out benchmarks/results/cpu
  python examples/bench_training.py --accelerator gpu --n-cells 100000 \\
      --batch-sizes 256,1024,4096 \\
      --out benchmarks/results/gpu
  python examples/bench_training.py --max-epochs 1 --n-cells 400 --accelerator cpu --out /tmp/b
"""

from __future__ import annotations

import os
import platform
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import _data  # noqa: E402

RSS_SAMPLE_SECONDS = 0.02
MIN_SIZE = 100


@dataclass
class Run:
    sweep: str
    loading: str
    n_cells: int
    n_genes: int
    batch_size: int
    epochs: int
    seconds_per_epoch: float
    cells_per_second: float
    peak_memory_mib: float
    memory_kind: str
    load_average: float


def build_parser():
    parser = _common.build_parser("bench_training.py", __doc__)
    parser.set_defaults(n_cells=16000, n_genes=2000, max_epochs=4)
    group = parser.add_argument_group("benchmark")
    group.add_argument("--sizes", type=_int_list, default=None,
                       help="cell counts of the size sweep (default: n/4,n/2,n of --n-cells)")
    group.add_argument("--batch-sizes", type=_int_list, default=[128, 512, 1024],
                       help="minibatch sizes of the size sweep (default: 128,512,1024)")
    group.add_argument("--loading-batch-size", type=int, default=512,
                       help="minibatch size of the loading sweep (default: 512)")
    group.add_argument("--num-workers", type=int, default=2,
                       help="DataLoader workers in the loading sweep's worker run (default: 2)")
    group.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads (torch.set_num_threads; default: torch's choice). "
                       "On a shared machine 1 avoids threads waiting on a busy core")
    group.add_argument("--no-loading-sweep", action="store_true",
                       help="skip the data-loading sweep (default: run it)")
    return parser


def _int_list(text: str) -> list[int]:
    import argparse

    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _common.check_accelerator(args.accelerator)
    out = _common.prepare_out(args.out, model_dirs=[], overwrite=args.overwrite)
    data = _data.load_input(args)
    sizes = sorted(set(args.sizes or [max(MIN_SIZE, args.n_cells // d) for d in (4, 2, 1)]))
    if sizes[-1] > data.adata.n_obs:
        raise _common.UsageError(f"--sizes up to {sizes[-1]} but the data has "
                                 f"{data.adata.n_obs} cells")

    import scvi
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    scvi.settings.seed = args.seed
    runs: list[Run] = []
    # One untimed run first: lazy imports and one-off initialisation would otherwise land in
    # the first configuration's figures.
    _, device = _bench(data, args, "warmup", "dense", sizes[0], args.batch_sizes[0], epochs=1)
    for n_cells in sizes:
        for batch_size in args.batch_sizes:
            run, device = _bench(data, args, "size", "dense", n_cells, batch_size)
            runs.append(run)
    if not args.no_loading_sweep:
        for loading in ("dense", "sparse_csr", "sparse_tensor", "pin_memory",
                        f"workers_{args.num_workers}"):
            run, device = _bench(data, args, "loading", loading, sizes[-1],
                                 args.loading_batch_size)
            runs.append(run)

    _write_table(runs, out, device, args)
    _plot(runs, out / "bench_training.png", device)
    best = max(runs, key=lambda r: r.cells_per_second)
    _common.print_summary(
        "SCVI training benchmark",
        [
            ("runs", f"{len(runs)} ({data.source}; {args.max_epochs} epochs each)"),
            ("table", f"{out / 'bench_training.md'} and .csv"),
            ("plot", out / "bench_training.png"),
            ("fastest", f"{best.loading}, {best.n_cells} cells, batch {best.batch_size}"),
        ],
        device=device,
        rate={"cells_per_second": best.cells_per_second, "seconds_per_epoch":
              best.seconds_per_epoch, "epochs": best.epochs},
    )
    return _common.EXIT_OK


def _bench(data, args, sweep: str, loading: str, n_cells: int, batch_size: int,
           epochs: int | None = None):
    import gc

    import scvi
    import torch
    from scipy import sparse

    adata = data.adata[:n_cells].copy()
    counts = adata.layers[data.layer] if data.layer else adata.X
    is_sparse = loading.startswith("sparse")
    counts = sparse.csr_matrix(counts) if is_sparse else _dense(counts)
    adata.layers["bench_counts"] = counts
    scvi.model.SCVI.setup_anndata(adata, layer="bench_counts", batch_key=data.batch_key)
    model = scvi.model.SCVI(adata)
    timer = _common.make_epoch_timer()
    loader_kwargs = {}
    if loading == "pin_memory":
        loader_kwargs["pin_memory"] = True
    if loading.startswith("workers_"):
        loader_kwargs["num_workers"] = args.num_workers
    on_gpu = _uses_gpu(args.accelerator)
    gc.collect()
    _release_free_memory()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with PeakRSS() as rss:
        model.train(
            max_epochs=epochs or args.max_epochs, accelerator=args.accelerator,
            devices=args.devices,
            batch_size=batch_size, train_size=1.0, early_stopping=False,
            load_sparse_tensor=loading == "sparse_tensor", datasplitter_kwargs=loader_kwargs,
            callbacks=[timer], enable_progress_bar=not args.no_progress_bar,
        )
    rate = _common.throughput(model, timer)
    if on_gpu:
        peak, kind = torch.cuda.max_memory_allocated() / 2**20, "gpu_allocated"
    else:
        peak, kind = rss.peak_increase_mib, "cpu_rss_increase"
    run = Run(sweep, loading, n_cells, adata.n_vars, batch_size, rate["epochs"],
              rate["seconds_per_epoch"], rate["cells_per_second"], peak, kind, load_average)
    print(f"[bench] {sweep:<7} {loading:<13} cells={n_cells:<7} batch={batch_size:<5} "
          f"{run.cells_per_second:>10,.0f} cells/s {run.seconds_per_epoch:.3f} s/epoch "
          f"peak {peak:.0f} MiB", file=sys.stderr)
    return run, _common.device_description(model)


def _dense(matrix):
    import numpy as np

    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def _uses_gpu(accelerator: str) -> bool:
    import torch

    return accelerator in ("gpu", "auto") and torch.cuda.is_available()


def _release_free_memory() -> None:
    """Hand freed heap back to the OS (glibc), so the next run's RSS baseline is honest."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak resident set size while the block runs, sampled by a thread (Linux /proc)."""

    def __enter__(self) -> PeakRSS:
        self.baseline = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def peak_increase_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        # Not Linux: ru_maxrss is the lifetime peak (KiB on Linux, bytes on macOS).
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _write_table(runs: list[Run], out: Path, device: str, args) -> None:
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in runs])
    _common.write_csv(frame.set_index("sweep"), out / "bench_training.csv")
    header = [
        "<!-- generated by examples/bench_training.py; rerun it to regenerate (figures are "
        "measurements and change between runs) -->",
        f"SCVI training throughput on {device}; {platform.platform()}, "
        f"{os.cpu_count()} CPU cores, {_torch_threads()} torch threads; {args.max_epochs} epochs "
        "per run (s/epoch: median after the first), "
        f"{runs[0].n_genes} genes, seed {args.seed}.",
        "",
        "| sweep | loading | cells | batch size | cells/s | s/epoch | peak memory (MiB) | "
        "load avg |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [
        f"| {r.sweep} | {r.loading} | {r.n_cells} | {r.batch_size} | {r.cells_per_second:,.0f} "
        f"| {r.seconds_per_epoch:.3f} | {r.peak_memory_mib:.0f} ({_memory_label(r)}) "
        f"| {r.load_average:.1f} |"
        for r in runs
    ]
    text = "\n".join(header + rows) + "\n"
    _common._write_atomic(out / "bench_training.md", lambda tmp: tmp.write_text(text))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _memory_label(run: Run) -> str:
    return "GPU" if run.memory_kind == "gpu_allocated" else "CPU RSS"


def _plot(runs: list[Run], path: Path, device: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size_runs = [r for r in runs if r.sweep == "size"]
    loading_runs = [r for r in runs if r.sweep == "loading"]
    n_panels = 2 if loading_runs else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(6 * n_panels, 4.5), squeeze=False)
    ax = axes[0, 0]
    for batch_size in sorted({r.batch_size for r in size_runs}):
        points = sorted((r.n_cells, r.cells_per_second) for r in size_runs
                        if r.batch_size == batch_size)
        ax.plot(*zip(*points), marker="o", label=f"batch size {batch_size}")
    ax.set_xscale("log")
    ticks = sorted({r.n_cells for r in size_runs})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("cells in the AnnData")
    ax.set_ylabel("training throughput (cells/s)")
    ax.set_ylim(bottom=0)
    ax.set_title("SCVI: data size x batch size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if loading_runs:
        ax = axes[0, 1]
        labels = [r.loading for r in loading_runs]
        ax.bar(labels, [r.cells_per_second for r in loading_runs], color="tab:gray")
        ax.set_ylabel("training throughput (cells/s)")
        ax.set_title(f"data loading ({loading_runs[0].n_cells} cells, batch "
                     f"{loading_runs[0].batch_size})")
        ax.tick_params(axis="x", rotation=20)
        ax.grid(True, axis="y", alpha=0.3)
    threads = f" ({_torch_threads()} torch threads)" if device.startswith("cpu") else ""
    fig.suptitle(f"scvi-tools {_scvi_version()} SCVI training on {device}{threads}")
    fig.tight_layout()
    _common._write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def _scvi_version() -> str:
    from importlib.metadata import version

    return version("scvi-tools")


if __name__ == "__main__":
    sys.exit(main())

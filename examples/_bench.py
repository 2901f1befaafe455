"""The measuring half of ``bench_training.py`` (not an example itself).

``train_once`` trains one fresh SCVI with the levers of the command line and returns a
:class:`Run` (one row of the table) and its ELBO curve; ``Probe`` is the Lightning callback that
times steps, epochs and validation and reads the validation ELBO; ``GpuSampler`` and ``PeakRSS``
sample GPU utilisation and host memory while a run trains; the rest writes the tables and plots.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

import _common

RSS_SAMPLE_SECONDS = 0.02
GPU_SAMPLE_MS = 200
ELBO_KEY = "elbo_validation"


@dataclass
class Run:
    run_id: int
    label: str
    device: str
    n_cells: int
    n_genes: int
    batch_size: int
    lr: float
    precision: str
    matmul_precision: str
    compile: str
    data_path: str
    epochs: int
    steps: int
    cells_per_second: float
    seconds_per_step: float
    seconds_per_epoch: float
    train_seconds: float
    elbo_validation_final: float
    elbo_at_quality_time: float
    gpu_peak_allocated_mib: float
    host_rss_peak_mib: float
    gpu_utilisation_mean: float
    params_on_cuda: bool
    load_average: float


def lever_label(args) -> str:
    parts = ["device-data" if args.data_on_device else
             "sparse-tensor" if args.load_sparse_tensor else
             "dense-x" if args.dense_x else "csr"]
    if args.num_workers:
        parts.append(f"{args.num_workers}w" + ("-persistent" if args.persistent_workers else ""))
    if args.compile:
        parts.append("compile")
    if args.matmul_precision != "highest":
        parts.append(f"matmul-{args.matmul_precision}")
    if args.lr_scaling != "none":
        parts.append(f"lr-{args.lr_scaling}")
    return " ".join(parts)


def make_probe():
    """A Lightning callback timing training (validation excluded) and reading the ELBO."""
    from lightning.pytorch.callbacks import Callback

    class Probe(Callback):
        def __init__(self) -> None:
            self.step_ends: list[float] = []
            self.epoch_train_seconds: list[float] = []
            self.curve: list[tuple[int, float, float]] = []  # epoch, train seconds, ELBO
            self.params_on_cuda = False
            self._validation = 0.0
            self._train_total = 0.0

        def _sync(self, pl_module) -> float:
            if pl_module.device.type == "cuda":
                import torch

                torch.cuda.synchronize(pl_module.device)
            return time.perf_counter()

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._validation = 0.0
            self._epoch_start = self._sync(pl_module)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 0 and trainer.current_epoch == 0:
                self.params_on_cuda = all(p.device.type == "cuda"
                                          for p in pl_module.module.parameters())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.step_ends.append((trainer.current_epoch, self._sync(pl_module)))

        def on_validation_start(self, trainer, pl_module) -> None:
            self._validation_start = self._sync(pl_module)

        def on_validation_end(self, trainer, pl_module) -> None:
            self._validation += self._sync(pl_module) - self._validation_start

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            seconds = self._sync(pl_module) - self._epoch_start - self._validation
            self.epoch_train_seconds.append(seconds)
            self._train_total += seconds
            elbo = trainer.callback_metrics.get(ELBO_KEY)
            self.curve.append((trainer.current_epoch + 1, self._train_total,
                               float(elbo) if elbo is not None else float("nan")))

        def step_seconds(self) -> float:
            """Median time between step ends after the first epoch (one epoch: after 1/4)."""
            ends = [t for epoch, t in self.step_ends if epoch > 0]
            if len(ends) < 2:
                ends = [t for _, t in self.step_ends][len(self.step_ends) // 4:]
            gaps = np.diff(ends)
            return float(np.median(gaps)) if gaps.size else float("nan")

    return Probe()


def train_once(data, args, *, n_cells: int, batch_size: int, precision: str, lr: float,
               epochs: int, run_id: int, label: str, compile_: bool | None = None):
    """Train one fresh SCVI; ``compile_`` overrides ``args.compile`` (the warm-up is eager)."""
    compile_ = args.compile if compile_ is None else compile_
    import gc

    import scvi
    import torch
    from scipy import sparse
    from scvi.train import TrainingPlanConfig

    adata = data.adata[:n_cells].copy()
    counts = adata.layers[data.layer] if data.layer else adata.X
    counts = _dense(counts) if args.dense_x else sparse.csr_matrix(counts, dtype=np.float32)
    adata.layers["bench_counts"] = counts
    scvi.model.SCVI.setup_anndata(adata, layer="bench_counts", batch_key=data.batch_key)
    model = scvi.model.SCVI(adata)
    probe = make_probe()
    train_size = 1.0 - args.validation_size
    split = {"train_size": train_size, "validation_size": args.validation_size}
    extra: dict = {}
    if args.data_on_device:
        from scvi.dataloaders import DeviceBackedDataSplitter

        extra["datamodule"] = DeviceBackedDataSplitter(
            model.adata_manager, accelerator=args.accelerator, device=args.devices,
            shuffle=True, batch_size=batch_size, **split)
    else:
        loader = {"num_workers": args.num_workers}
        if args.persistent_workers:
            loader["persistent_workers"] = True
        extra.update(split, datasplitter_kwargs=loader, batch_size=batch_size,
                     load_sparse_tensor=args.load_sparse_tensor)
    if args.max_time:
        extra["max_time"] = {"seconds": args.max_time}
    on_gpu = _uses_gpu(args.accelerator)
    gc.collect()
    _release_free_memory()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    frames_before = _dynamo_frames()
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with PeakRSS() as rss, GpuSampler(on_gpu) as gpu:
        model.train(
            max_epochs=epochs, accelerator=args.accelerator, devices=args.devices,
            precision=precision, early_stopping=False, check_val_every_n_epoch=1,
            plan_config=TrainingPlanConfig(
                lr=lr, compile=compile_,
                compile_kwargs={"backend": args.compile_backend} if compile_ else None),
            callbacks=[probe], enable_progress_bar=not args.no_progress_bar, **extra,
        )
    n_train = len(model.train_indices)
    steady = probe.epoch_train_seconds[1:] or probe.epoch_train_seconds
    per_epoch = float(np.median(steady)) if steady else float("nan")
    elbo = [e for _, _, e in probe.curve]
    run = Run(
        run_id=run_id, label=label, device=_common.device_description(model),
        n_cells=n_cells, n_genes=adata.n_vars, batch_size=batch_size, lr=lr,
        precision=precision, matmul_precision=args.matmul_precision,
        compile=_compile_state(compile_, frames_before, _dynamo_frames()),
        data_path=_data_path(args), epochs=len(probe.epoch_train_seconds),
        steps=len(probe.step_ends),
        cells_per_second=n_train / per_epoch if per_epoch > 0 else float("nan"),
        seconds_per_step=probe.step_seconds(), seconds_per_epoch=per_epoch,
        train_seconds=float(sum(probe.epoch_train_seconds)),
        elbo_validation_final=elbo[-1] if elbo else float("nan"),
        elbo_at_quality_time=float("nan"),
        gpu_peak_allocated_mib=torch.cuda.max_memory_allocated() / 2**20 if on_gpu
        else float("nan"),
        host_rss_peak_mib=rss.peak / 2**20, gpu_utilisation_mean=gpu.mean(),
        params_on_cuda=probe.params_on_cuda, load_average=load_average,
    )
    print(f"[bench] {label:<24} {precision:<10} cells={n_cells:<8} batch={batch_size:<6} "
          f"{run.cells_per_second:>10,.0f} cells/s {run.seconds_per_step * 1e3:8.2f} ms/step "
          f"ELBO {run.elbo_validation_final:,.1f} ({run.compile})", file=sys.stderr)
    curve = [{"run_id": run_id, "epoch": e, "train_seconds": s, ELBO_KEY: v}
             for e, s, v in probe.curve]
    return run, curve


def _data_path(args) -> str:
    if args.data_on_device:
        return "device-backed"
    path = "sparse-tensor" if args.load_sparse_tensor else "dense" if args.dense_x else "csr"
    if args.num_workers:
        path += f"+{args.num_workers}w" + ("p" if args.persistent_workers else "")
    return path


def _dynamo_frames() -> tuple[int, int]:
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return (0, 0)
    frames = counters.get("frames", {})
    return frames.get("total", 0), frames.get("ok", 0)


_compiled_frames_in_process = 0


def _compile_state(requested: bool, before: tuple[int, int], after: tuple[int, int]) -> str:
    """``eager``, ``compiled (N frames)``, ``compiled (cached)``, or a fallback to eager.

    Dynamo's counters are process-wide and a second model of the same class reuses the graphs
    compiled for the first one (no new frames), so "nothing attempted" means cached when this
    process compiled frames before, and a silent fallback otherwise.
    """
    global _compiled_frames_in_process
    if not requested:
        return "eager"
    attempted, compiled = after[0] - before[0], after[1] - before[1]
    if compiled > 0:
        _compiled_frames_in_process += compiled
        return f"compiled ({compiled} frames)"
    if attempted:
        return "FELL BACK to eager"
    return "compiled (cached)" if _compiled_frames_in_process else "FELL BACK: nothing compiled"


def _dense(matrix):
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def _uses_gpu(accelerator: str) -> bool:
    import torch

    return accelerator in ("gpu", "auto") and torch.cuda.is_available()


def _release_free_memory() -> None:
    """Hand freed heap back to the OS (glibc), so the next run's RSS peak is its own."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak resident set size while the block runs, sampled by a thread (Linux /proc)."""

    def __enter__(self) -> PeakRSS:
        self.peak = _rss_bytes()
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


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(_common.peak_rss_mib() * 2**20)


class GpuSampler:
    """GPU utilisation (%) sampled by ``nvidia-smi -lms`` while the block runs; NaN without."""

    def __init__(self, active: bool) -> None:
        self.active = active and shutil.which("nvidia-smi") is not None
        self.samples: list[float] = []

    def __enter__(self) -> GpuSampler:
        if self.active:
            index = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 f"-lms={GPU_SAMPLE_MS}", f"--id={index}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc) -> None:
        if not self.active:
            return
        self._proc.terminate()
        text, _ = self._proc.communicate(timeout=10)
        self.samples = [float(x) for x in text.split() if x.strip().isdigit()]

    def mean(self) -> float:
        return float(np.mean(self.samples)) if self.samples else float("nan")


# --------------------------------------------------------------------------- tables and plots


def read_tables(out: Path) -> tuple[list[dict], list[dict]]:
    import pandas as pd

    runs_csv, curves_csv = out / "bench_training.csv", out / "bench_curves.csv"
    if not runs_csv.is_file():
        return [], []
    names = [f.name for f in fields(Run)]
    runs = pd.read_csv(runs_csv)
    missing = [n for n in names if n not in runs.columns]
    if missing:
        raise _common.UsageError(f"--append: {runs_csv} was written by another version "
                                 f"(no {missing[0]} column)", hint="Use a new --out folder.")
    curves = pd.read_csv(curves_csv).to_dict("records") if curves_csv.is_file() else []
    return runs[names].to_dict("records"), curves


def default_quality_time(runs: list[dict], curves: list[dict]) -> float:
    """The shortest run's training time, or the slowest first epoch when that ended later."""
    first = [min((c["train_seconds"] for c in curves if c["run_id"] == r["run_id"]),
                 default=0.0) for r in runs]
    return max(min(r["train_seconds"] for r in runs), max(first, default=0.0))


def add_quality(runs: list[dict], curves: list[dict], quality_at: float) -> None:
    """Each run's validation ELBO at the last epoch that ended within ``quality_at`` seconds."""
    for run in runs:
        points = [c for c in curves if c["run_id"] == run["run_id"]
                  and c["train_seconds"] <= quality_at * (1 + 1e-9)]
        run["elbo_at_quality_time"] = points[-1][ELBO_KEY] if points else float("nan")


def write_tables(out: Path, runs, curves, quality_at: float, source: str, args) -> None:
    import pandas as pd

    _common.write_csv(pd.DataFrame(runs).set_index("run_id"), out / "bench_training.csv")
    _common.write_csv(pd.DataFrame(curves, columns=["run_id", "epoch", "train_seconds",
                                                    ELBO_KEY]).set_index("run_id"),
                      out / "bench_curves.csv")
    header = [
        "<!-- generated by examples/bench_training.py; rerun it to regenerate (figures are "
        "measurements and change between runs) -->",
        f"SCVI training, scvi-tools {_scvi_version()}; data: {_file_name(source)}; "
        f"{platform.platform()}, "
        f"{os.cpu_count()} CPU cores; {args.max_epochs} epochs per run, cells/s and s/step "
        "after the first epoch, validation excluded; ELBO at quality time = validation ELBO "
        f"of the last epoch ended within {quality_at:.1f} s of training.",
        "",
    ]
    text = "\n".join(header) + "\n" + markdown_table(runs) + "\n"
    _common._write_atomic(out / "bench_training.md", lambda tmp: tmp.write_text(text))


def _file_name(source: str) -> str:
    """The data file's name without its folder: the table is committed, the folder is local."""
    path, _, rest = source.partition(" (")
    return Path(path).name + (f" ({rest}" if rest else "") if "/" in path else source


def markdown_table(runs: list[dict]) -> str:
    lines = [
        "| run | settings | device | precision | compile | cells | batch | lr | cells/s | "
        "ms/step | ELBO final | ELBO at quality time | GPU peak MiB | host RSS MiB | GPU util % "
        "| params on CUDA |",
        "| ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r['run_id']} | {r['label']} | {r['device']} | {r['precision']} | "
            f"{r['compile']} | {r['n_cells']:,} | {r['batch_size']:,} | {r['lr']:.2g} | "
            f"{r['cells_per_second']:,.0f} | {r['seconds_per_step'] * 1e3:.2f} | "
            f"{r['elbo_validation_final']:,.1f} | {r['elbo_at_quality_time']:,.1f} | "
            f"{_num(r['gpu_peak_allocated_mib'])} | {r['host_rss_peak_mib']:,.0f} | "
            f"{_num(r['gpu_utilisation_mean'])} | {bool(r['params_on_cuda'])} |")
    return "\n".join(lines)


def _num(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.0f}"


def _series(runs: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in runs:
        key = f"{r['label']}, {r['precision']}" + (f", {r['n_cells']:,} cells"
                                                    if len({x['n_cells'] for x in runs}) > 1
                                                    else "")
        groups.setdefault(key, []).append(r)
    return groups


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_throughput(runs: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, group in sorted(_series(runs).items()):
        points = sorted((r["batch_size"], r["cells_per_second"]) for r in group)
        ax.plot(*zip(*points), marker="o", label=name)
    ax.set_xscale("log", base=2)
    ticks = sorted({r["batch_size"] for r in runs})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("minibatch size")
    ax.set_ylabel("training throughput (cells/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"scvi-tools {_scvi_version()} SCVI on {runs[-1]['device']}", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_elbo_time(runs: list[dict], curves: list[dict], path: Path, quality_at: float) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in runs:
        points = [(c["train_seconds"], c[ELBO_KEY]) for c in curves
                  if c["run_id"] == r["run_id"] and math.isfinite(c[ELBO_KEY])]
        if points:
            ax.plot(*zip(*points), marker=".", label=f"{r['run_id']}: {r['label']}, "
                    f"{r['precision']}, batch {r['batch_size']:,}")
    ax.axvline(quality_at, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("training seconds (validation excluded)")
    ax.set_ylabel("validation ELBO (per cell, lower is better)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("time to quality", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    _common._write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def _scvi_version() -> str:
    from importlib.metadata import version

    return version("scvi-tools")


"""Benchmark SCVI training: throughput and time to quality, over batch sizes and GPU levers.

Each run trains a fresh ``SCVI`` on the first ``--sizes`` cells of the data (a file from
``examples/make_data.py``, or one built in memory by the same generator), holds out
``--validation-size`` of them, and validates every epoch. One run per size x batch size x
``--precision``; the other levers apply to every run of the call, and ``--append`` adds the
call's runs to the tables already in ``--out``, so one folder can compare several settings.

The levers (each a flag; the CUDA-only ones are refused with exit 2 on a machine without CUDA):

- ``--data-on-device``: the whole data set is moved to the device once
  (``DeviceBackedDataSplitter(shuffle=True)`` passed as ``datamodule``), no per-step copy;
- ``--precision 32-true,bf16-mixed,16-mixed`` (Lightning's; 16-mixed needs CUDA: on CPU
  Lightning runs bfloat16 instead, with a warning, so the script refuses it there);
- ``--matmul-precision highest|high|medium`` (``torch.set_float32_matmul_precision``; high
  allows TF32 on CUDA);
- ``--compile``: ``TrainingPlanConfig(compile=True)``; a silent fallback to eager (every frame
  dynamo attempted failed) is detected from dynamo's counters and reported per run;
- ``--num-workers N`` and ``--persistent-workers`` (DataLoader workers kept between epochs);
- ``--load-sparse-tensor``: CSR minibatches go to the device and are densified there;
- ``--batch-sizes`` up to 16,384 with ``--lr-scaling none|linear|sqrt`` against
  ``--lr`` at ``--lr-base-batch`` (a bigger batch takes fewer steps per epoch; without a larger
  learning rate it learns less per epoch, which the time-to-quality figure shows).

Recorded per run: cells/s and median seconds per step (after the first epoch, validation not
counted), the final validation ELBO and the ELBO reached within ``--quality-at`` seconds of
training (default: the shortest run's training time, or the slowest first epoch if later, so
every run has a value; a run that finished sooner counts with its final ELBO), peak GPU
memory (``torch.cuda.max_memory_allocated``), peak host RSS, GPU utilisation sampled with
nvidia-smi (when present), and whether the parameters were on CUDA during training.

Writes OUT/bench_training.csv (one row per run), OUT/bench_curves.csv (ELBO per epoch against
training seconds), OUT/bench_training.md (table), OUT/bench_throughput.png (cells/s against
batch size) and OUT/bench_elbo_time.png (validation ELBO against training seconds); prints the
table. Exit 1 when a figure is not finite and positive (a run that diverged or measured
nothing).

Examples:
  python examples/make_data.py --n-cells 100000 --out data/100k.h5ad
  python examples/bench_training.py --data data/100k.h5ad --accelerator gpu \\
      --batch-sizes 128,1024,4096,16384 --lr-scaling sqrt --precision 32-true,bf16-mixed \\
      --data-on-device --matmul-precision high --out results/bench_gpu
  python examples/bench_training.py --data data/100k.h5ad --accelerator gpu --compile \\
      --append --out results/bench_gpu
  python examples/bench_training.py --n-cells 2000 --max-epochs 2 --accelerator cpu --out /tmp/b
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench  # noqa: E402
import _common  # noqa: E402
import _data  # noqa: E402
import make_data  # noqa: E402

PRECISIONS = ["32-true", "bf16-mixed", "16-mixed"]
CUDA_ONLY_PRECISIONS = {"16-mixed"}
MATMUL_PRECISIONS = ["highest", "high", "medium"]
LR_SCALINGS = ["none", "linear", "sqrt"]
MAX_BATCH_SIZE = 16384
# The untimed warm-up run trains one epoch on at most this many cells.
WARMUP_CELLS = 5000


def build_parser():
    parser = _common.build_parser("bench_training.py", __doc__)
    parser.set_defaults(n_cells=4000, n_genes=2000, max_epochs=4)
    group = parser.add_argument_group("benchmark")
    group.add_argument("--sizes", type=_int_list, default=None,
                       help="cell counts to train on, the first N cells (default: all)")
    group.add_argument("--batch-sizes", type=_int_list, default=[128, 1024, 4096],
                       help=f"minibatch sizes, each <= {MAX_BATCH_SIZE} (default: 128,1024,4096)")
    group.add_argument("--lr", type=float, default=1e-3,
                       help="learning rate at --lr-base-batch (default: 1e-3)")
    group.add_argument("--lr-base-batch", type=_common._positive_int, default=128,
                       help="batch size --lr is meant for (default: 128)")
    group.add_argument("--lr-scaling", choices=LR_SCALINGS, default="none",
                       help="learning rate for other batch sizes: lr x (b/base) for linear, "
                       "x sqrt(b/base) for sqrt (default: none)")
    group.add_argument("--validation-size", type=float, default=0.05,
                       help="fraction of cells held out for the validation ELBO (default: 0.05)")
    group.add_argument("--max-time", type=float, default=None,
                       help="stop a run after this many seconds (Lightning max_time; default: "
                       "only --max-epochs)")
    group.add_argument("--quality-at", type=float, default=None,
                       help="training seconds at which the ELBO is compared (default: the "
                       "shortest run's training time, or later if a run's first epoch ended "
                       "later, so every run has a value)")
    levers = parser.add_argument_group("levers")
    levers.add_argument("--precision", type=_choice_list(PRECISIONS), default=["32-true"],
                        help="comma list of Lightning precisions (default: 32-true)")
    levers.add_argument("--matmul-precision", choices=MATMUL_PRECISIONS, default="highest",
                        help="torch.set_float32_matmul_precision (default: highest)")
    levers.add_argument("--compile", action="store_true",
                        help="TrainingPlanConfig(compile=True) (default: eager)")
    levers.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend with --compile (default: inductor; "
                        "aot_eager traces without generating code, for quick checks)")
    levers.add_argument("--data-on-device", action="store_true",
                        help="DeviceBackedDataSplitter(shuffle=True): data moved to the device "
                        "once (default: minibatches copied from host memory)")
    levers.add_argument("--load-sparse-tensor", action="store_true",
                        help="send CSR minibatches and densify on the device (default: dense "
                        "minibatches)")
    levers.add_argument("--dense-x", action="store_true",
                        help="densify X in host memory before training (default: keep CSR)")
    levers.add_argument("--num-workers", type=_common._non_negative_int, default=0,
                        help="DataLoader worker processes (default: 0, the main process)")
    levers.add_argument("--persistent-workers", action="store_true",
                        help="keep DataLoader workers between epochs (needs --num-workers >= 1)")
    levers.add_argument("--threads", type=_common._positive_int, default=None,
                        help="torch CPU threads (torch.set_num_threads; default: torch's choice)")
    out = parser.add_argument_group("tables")
    out.add_argument("--append", action="store_true",
                     help="add this call's runs to the tables already in --out (default: "
                     "replace them)")
    out.add_argument("--label", default=None,
                     help="name of this call's settings in tables and plots (default: built "
                     "from the levers)")
    return parser


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _choice_list(choices: list[str]):
    def parse(text: str) -> list[str]:
        values = [x.strip() for x in text.split(",") if x.strip()]
        bad = [v for v in values if v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(choices)}; "
                                             f"got {text!r}")
        return values
    return parse


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def check_levers(args, cuda: bool) -> None:
    """Refuse combinations that would measure something else than they say."""
    if max(args.batch_sizes) > MAX_BATCH_SIZE:
        raise _common.UsageError(f"--batch-sizes up to {MAX_BATCH_SIZE}, got "
                                 f"{max(args.batch_sizes)}")
    if args.persistent_workers and args.num_workers < 1:
        raise _common.UsageError("--persistent-workers needs --num-workers 1 or more")
    if args.data_on_device and (args.num_workers or args.load_sparse_tensor):
        raise _common.UsageError("--data-on-device serves minibatches from device memory: "
                                 "--num-workers and --load-sparse-tensor do not apply to it")
    if args.load_sparse_tensor and args.dense_x:
        raise _common.UsageError("--load-sparse-tensor needs CSR X; drop --dense-x")
    for option, value in (("--lr", args.lr), ("--max-time", args.max_time),
                          ("--quality-at", args.quality_at)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise _common.UsageError(f"{option} must be a positive number, got {value}")
    if not 0 < args.validation_size < 0.5:
        raise _common.UsageError("--validation-size must be in (0, 0.5)")
    on_cpu = args.accelerator == "cpu" or not cuda
    cuda_only = sorted(set(args.precision) & CUDA_ONLY_PRECISIONS)
    if on_cpu and cuda_only:
        raise _common.UsageError(
            f"--precision {cuda_only[0]} needs a CUDA GPU (on CPU Lightning would run bfloat16 "
            "and label it 16-mixed)", hint="Use --precision bf16-mixed on CPU.")


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _common.check_accelerator(args.accelerator, args.devices)
    import torch

    cuda = torch.cuda.is_available()
    check_levers(args, cuda)
    out = _common.prepare_out(args.out, model_dirs=[], overwrite=args.overwrite)
    data = _data.load_input(args, synthetic=make_data.build_adata)
    sizes = sorted(set(args.sizes or [data.adata.n_obs]))
    if sizes[-1] > data.adata.n_obs:
        raise _common.UsageError(f"--sizes up to {sizes[-1]} but the data has "
                                 f"{data.adata.n_obs} cells")
    import scvi

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision(args.matmul_precision)
    scvi.settings.seed = args.seed
    label = args.label or _bench.lever_label(args)
    previous = _bench.read_tables(out) if args.append else ([], [])
    first_id = 1 + max((r["run_id"] for r in previous[0]), default=0)
    # One untimed run first: lazy imports, CUDA context and allocator warm-up would otherwise
    # land in the first configuration's figures.
    # Eager even with --compile: the first compiled run then pays the compilation in its first
    # epoch (left out of cells/s, counted in time to quality, as it would be for a user).
    _bench.train_once(data, args, n_cells=min(sizes[0], WARMUP_CELLS),
                      batch_size=args.batch_sizes[0],
                      precision=args.precision[0], lr=args.lr, epochs=1, run_id=0,
                      label="warmup", compile_=False)
    runs, curves = [], []
    for n_cells in sizes:
        for batch_size in args.batch_sizes:
            for precision in args.precision:
                run, curve = _bench.train_once(
                    data, args, n_cells=n_cells, batch_size=batch_size, precision=precision,
                    lr=scaled_lr(args.lr, batch_size, args.lr_base_batch, args.lr_scaling),
                    epochs=args.max_epochs, run_id=first_id + len(runs), label=label)
                runs.append(asdict(run))
                curves += curve
    runs, curves = previous[0] + runs, previous[1] + curves
    quality_at = args.quality_at or _bench.default_quality_time(runs, curves)
    _bench.add_quality(runs, curves, quality_at)
    _bench.write_tables(out, runs, curves, quality_at, data.source, args)
    _bench.plot_throughput(runs, out / "bench_throughput.png")
    _bench.plot_elbo_time(runs, curves, out / "bench_elbo_time.png", quality_at)
    print(_bench.markdown_table(runs))
    problems = figure_problems(runs)
    best = max(runs, key=lambda r: r["cells_per_second"] if math.isfinite(
        r["cells_per_second"]) else -1)
    _common.print_summary(
        "SCVI training benchmark",
        [
            ("runs", f"{len(runs)} in {out / 'bench_training.csv'} ({data.source})"),
            ("plots", f"{out / 'bench_throughput.png'}, {out / 'bench_elbo_time.png'}"),
            ("fastest", f"{best['label']}, {best['precision']}, {best['n_cells']} cells, "
                        f"batch {best['batch_size']}"),
            ("check", "PASSED: every figure finite and positive" if not problems else
                      "FAILED: " + "; ".join(problems[:3])),
        ],
        device=best["device"],
        rate={"cells_per_second": best["cells_per_second"],
              "seconds_per_epoch": best["seconds_per_epoch"], "epochs": best["epochs"]},
    )
    return _common.EXIT_OK if not problems else _common.EXIT_CHECK_FAILED


def scaled_lr(lr: float, batch_size: int, base: int, scaling: str) -> float:
    ratio = batch_size / base
    return {"none": lr, "linear": lr * ratio, "sqrt": lr * math.sqrt(ratio)}[scaling]


def figure_problems(runs: list[dict]) -> list[str]:
    """Every run's measured figures must be finite and positive (the ELBO finite)."""
    problems = []
    for run in runs:
        for key in ("cells_per_second", "seconds_per_step", "seconds_per_epoch",
                    "host_rss_peak_mib"):
            value = run[key]
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                problems.append(f"run {run['run_id']} {key}={value}")
        if not math.isfinite(run["elbo_validation_final"]):
            problems.append(f"run {run['run_id']} elbo_validation_final="
                            f"{run['elbo_validation_final']}")
    return problems


if __name__ == "__main__":
    sys.exit(main())

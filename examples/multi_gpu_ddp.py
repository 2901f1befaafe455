"""Multi-GPU scVI training with DDP; with --accelerator cpu it runs DDP over CPU processes.

What scvi-tools 1.5.1 asks for (docs/user_guide/use_case/multi_gpu_training.md):

- ``model.train(accelerator="gpu", devices=-1, strategy="ddp_find_unused_parameters_true")``
  from a script; in a notebook the strategy is ``ddp_notebook_find_unused_parameters_true`` and
  only one model can be trained with DDP per session.
- Early stopping does not work under DDP: scvi-tools turns it off (with a warning); this script
  passes ``early_stopping=False`` so the run does what it says.
- Supported models: SCVI, SCANVI, CondSCVI, LinearSCVI, TOTALVI, MULTIVI, PEAKVI.

How the processes start: Lightning's DDP launcher re-runs this script's command line once per
extra device (with LOCAL_RANK set), so every process builds the same data (same --seed) and
reaches ``model.train``, where they join one process group (NCCL on GPUs, gloo on CPU). That is
why it must be launched as ``python examples/multi_gpu_ddp.py ...`` and not called from another
program or a notebook. After training only rank 0 computes the latent, saves and reports.

``--devices auto`` means every visible GPU with ``--accelerator gpu``/``auto`` on a GPU machine,
and 2 processes on CPU (``-1`` on CPU is refused: give a count). The effective batch is
``--batch-size`` x devices: each process draws its own minibatch of ``--batch-size`` cells
from its shard of the training cells (scvi-tools' distributed sampler), and the gradients are
averaged. Scale the learning rate with care when comparing against one device.

``--data`` is opened backed (``anndata.read_h5ad(path, backed="r")``) in every process, so N
processes do not hold N copies of X in memory; minibatches are read from the file. Keep the
counts in X (``make_data.py`` does): layers are read in full.

The check (exit 1 when it fails): the world size is the number of processes asked for; in the
first epoch the processes saw disjoint shards that together cover the training cells (each
shard smaller than the whole when there are 2 or more, which is what the distributed sampler
does and a plain ``devices=2`` without a DDP strategy would not); and after training every
process holds the same weights.

Writes OUT/model/, OUT/summary.json (rank 0), OUT/logs/ (scvi-tools history under DDP).

Examples:
  python examples/multi_gpu_ddp.py --max-epochs 1 --n-cells 400 --accelerator cpu --out /tmp/ddp
  python examples/multi_gpu_ddp.py --data big.h5ad --layer counts --batch-key sample \\
      --accelerator gpu --devices -1 --batch-size 1024 --out results/ddp
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import _data  # noqa: E402

STRATEGIES = ["ddp_find_unused_parameters_true", "ddp"]
CPU_PROCESSES = 2
DEFAULT_BATCH_SIZE = 128


def build_parser():
    parser = _common.build_parser("multi_gpu_ddp.py", __doc__, multi_device=True)
    parser.add_argument("--strategy", choices=STRATEGIES, default=STRATEGIES[0],
                        help=f"Lightning DDP strategy (default: {STRATEGIES[0]}, as the docs say)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _require_script_launch()
    _common.check_accelerator(args.accelerator)
    accelerator, devices = _resolve_devices(args.accelerator, args.devices)
    out = _common.prepare_out(args.out, model_dirs=["model"], overwrite=args.overwrite)
    data = _data.load_input(args, backed=args.data is not None)

    import scvi

    scvi.settings.seed = args.seed
    scvi.model.SCVI.setup_anndata(data.adata, layer=data.layer, batch_key=data.batch_key)
    model = scvi.model.SCVI(data.adata)
    timer = _common.make_epoch_timer()
    probe = _make_ddp_probe()
    model.train(
        max_epochs=args.max_epochs,
        accelerator=accelerator,
        devices=devices,
        strategy=args.strategy,
        early_stopping=False,
        batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
        callbacks=[timer, probe],
        enable_progress_bar=not args.no_progress_bar,
        # Under DDP scvi-tools' logger writes rank 0's history to disk for the other ranks,
        # by default under the current directory; keep it in OUT.
        log_save_dir=str(out / "logs"),
    )
    trainer = model.trainer
    if not trainer.is_global_zero:
        return _common.EXIT_OK
    world = int(trainer.world_size)
    rate = _common.throughput(model, timer, n_processes=world)
    latent = model.get_latent_representation()
    model_dir = out / "model"
    _common.save_model(model, model_dir, overwrite=args.overwrite)
    expected = _expected_world(accelerator, devices)
    n_train = len(model.train_indices)
    problems = ddp_problems(world, expected, probe.seen_per_rank, n_train, probe.checksums)
    ok = not problems
    summary = {
        "example": "multi_gpu_ddp",
        "input": data.source,
        "n_cells": data.adata.n_obs,
        "strategy": args.strategy,
        "accelerator": accelerator,
        "devices": devices,
        "world_size": world,
        "expected_world_size": expected,
        "n_train_cells": n_train,
        "cells_seen_per_rank_epoch_1": probe.seen_per_rank,
        "parameter_checksums": probe.checksums,
        "effective_batch_size": (args.batch_size or DEFAULT_BATCH_SIZE) * world,
        "problems": problems,
        "latent_shape": list(latent.shape),
        "passed": ok,
        "device": _common.device_description(model, n_processes=world),
        "throughput": rate,
        "outputs": {"model": model_dir},
    }
    _common.write_json(out / "summary.json", summary)
    _common.print_summary(
        "scVI with DDP",
        [
            ("input", data.source),
            ("strategy", f"{args.strategy}, {world} processes (expected {expected})"),
            ("shards", f"cells seen per process in epoch 1: {probe.seen_per_rank} of "
                       f"{n_train} training cells"),
            ("check", "PASSED" if ok else "FAILED: " + "; ".join(problems)),
            ("early stopping", "off (not supported under DDP)"),
            ("latent", f"{latent.shape[0]} x {latent.shape[1]} (rank 0)"),
            ("saved", model_dir),
        ],
        device=summary["device"],
        rate=rate,
    )
    return _common.EXIT_OK if ok else _common.EXIT_CHECK_FAILED


def _require_script_launch() -> None:
    """Lightning re-runs ``sys.argv`` for the other ranks: that must be this script."""
    interactive = hasattr(sys, "ps1") or "ipykernel" in sys.modules
    argv0 = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if interactive or argv0 != Path(__file__).resolve():
        raise _common.UsageError(
            "run this example as a script: python examples/multi_gpu_ddp.py ...",
            hint="Lightning's DDP launcher starts the other processes by re-running the command "
            "line; in a notebook use strategy='ddp_notebook_find_unused_parameters_true'.",
        )


def _resolve_devices(accelerator: str, devices):
    import torch

    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if devices == "auto":
        devices = -1 if accelerator == "gpu" else CPU_PROCESSES
    if devices == -1 and accelerator == "cpu":
        raise _common.UsageError("--devices -1 on CPU does not say how many processes to start",
                                 hint=f"Give a count, e.g. --devices {CPU_PROCESSES}.")
    return accelerator, devices


def _expected_world(accelerator: str, devices) -> int:
    """How many processes the flags ask for."""
    if isinstance(devices, list):
        return len(devices)
    if devices == -1:
        import torch

        return torch.cuda.device_count()
    return int(devices)


def ddp_problems(world: int, expected: int, seen_per_rank: list[int], n_train: int,
                 checksums: list[float]) -> list[str]:
    """What is wrong with a DDP run (empty when it did what DDP should)."""
    problems = []
    if world != expected:
        problems.append(f"{world} processes ran, {expected} were asked for")
    total = sum(seen_per_rank)
    # The distributed sampler pads the last shard so every process takes the same steps.
    if not n_train <= total < n_train + max(world, 1):
        problems.append(f"the processes saw {total} cells in epoch 1, not the {n_train} "
                        "training cells once (no distributed sampler?)")
    if world > 1 and seen_per_rank and max(seen_per_rank) >= n_train:
        problems.append("a process saw every training cell: the data was not sharded")
    if checksums and max(checksums) - min(checksums) > 1e-6 * max(1.0, abs(checksums[0])):
        problems.append(f"the processes ended with different weights ({checksums})")
    return problems


def _make_ddp_probe():
    """Counts the cells each process trains on in epoch 1 and gathers a weight checksum."""
    import torch
    from lightning.pytorch.callbacks import Callback

    class DDPProbe(Callback):
        def __init__(self) -> None:
            self._seen = 0
            self.seen_per_rank: list[int] = []
            self.checksums: list[float] = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.current_epoch == 0:
                self._seen += int(next(iter(batch.values())).shape[0])

        def on_train_end(self, trainer, pl_module) -> None:
            checksum = sum(float(p.detach().double().sum()) for p in pl_module.parameters())
            local = torch.tensor([float(self._seen), checksum], dtype=torch.float64,
                                 device=pl_module.device)
            gathered = pl_module.all_gather(local).reshape(-1, 2).cpu()
            self.seen_per_rank = [int(x) for x in gathered[:, 0].tolist()]
            self.checksums = [float(x) for x in gathered[:, 1].tolist()]

    return DDPProbe()


if __name__ == "__main__":
    sys.exit(main())

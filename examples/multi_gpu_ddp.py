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
first epoch each process records the ``.obs`` positions of the cells its sampler drew (and
counts the cells in the batches it trained on), and the sets must be disjoint shards that
together cover the training cells, apart from the at most (processes - 1) cells the
distributed sampler repeats as padding (a plain ``devices=2`` without a DDP strategy would give
every process all cells). After training every process must hold the same weights: DDP's
gradient averaging guarantees that, so this part is a consistency check, not a test of the
sharding.

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
    _common.check_accelerator(args.accelerator, args.devices)
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
    problems = ddp_problems(world, expected, probe.seen_per_rank, n_train, probe.checksums,
                            cells_per_rank=probe.cells_per_rank,
                            train_indices=model.train_indices)
    shards = (shard_figures(probe.cells_per_rank, model.train_indices)
              if probe.cells_per_rank is not None else None)
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
        "shards_epoch_1": shards,
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
                       f"{n_train} training cells; " + (
                           f"{shards['distinct_cells_in_two_processes']} drawn by two processes "
                           f"(padding), {shards['training_cells_missed']} missed" if shards
                           else "which cells: not recorded")),
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
                 checksums: list[float], *, cells_per_rank: list | None = None,
                 train_indices=None) -> list[str]:
    """What is wrong with a DDP run (empty when it did what DDP should).

    ``cells_per_rank`` holds the ``.obs`` positions each process drew in epoch 1 (from its
    sampler); with ``train_indices`` they must be disjoint shards of the training cells that
    cover them all, apart from the at most ``world - 1`` cells the distributed sampler repeats
    to give every process the same number of steps. The weight checksums agree under any
    working DDP (it averages the gradients): that part checks consistency, not sharding.
    """
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
    if cells_per_rank is not None and train_indices is not None:
        if [len(c) for c in cells_per_rank] != list(seen_per_rank):
            problems.append(f"the samplers planned {[len(c) for c in cells_per_rank]} cells per "
                            f"process but the processes trained on {seen_per_rank}")
        figures = shard_figures(cells_per_rank, train_indices)
        if figures["cells_outside_training_set"]:
            problems.append(f"{figures['cells_outside_training_set']} cells drawn in epoch 1 "
                            "are not training cells")
        if figures["training_cells_missed"]:
            problems.append(f"{figures['training_cells_missed']} training cells were drawn by "
                            "no process in epoch 1")
        if figures["distinct_cells_in_two_processes"] > max(world - 1, 0):
            problems.append(f"{figures['distinct_cells_in_two_processes']} cells were drawn by "
                            f"more than one process (padding explains at most {world - 1}): "
                            "the shards overlap")
    elif world > 1:
        problems.append("the cells each process drew were not recorded")
    if checksums and max(checksums) - min(checksums) > 1e-6 * max(1.0, abs(checksums[0])):
        problems.append(f"the processes ended with different weights ({checksums})")
    return problems


def shard_figures(cells_per_rank: list, train_indices) -> dict:
    """Overlap and coverage of the per-process cell sets against the training cells."""
    import numpy as np

    train = np.unique(np.asarray(train_indices))
    sets = [np.unique(np.asarray(c)) for c in cells_per_rank]
    drawn = np.concatenate(sets) if sets else np.array([], dtype=int)
    values, in_ranks = np.unique(drawn, return_counts=True)
    return {
        "distinct_cells_per_rank": [int(len(c)) for c in sets],
        "distinct_cells_in_two_processes": int((in_ranks > 1).sum()),
        "training_cells_missed": int(len(np.setdiff1d(train, values))),
        "cells_outside_training_set": int(len(np.setdiff1d(values, train))),
    }


def _make_ddp_probe():
    """Records the cells each process draws in epoch 1 and gathers a weight checksum.

    The cells come from replaying the process's own train sampler (a DistributedSampler:
    deterministic for a seed and epoch, so the replay yields what the loader fetches), mapped
    through the loader's ``indices`` to ``.obs`` positions; the count of cells in the batches
    actually trained on is kept beside it as a cross-check. Both are gathered to every process
    at the end of training.
    """
    import numpy as np
    import torch
    from lightning.pytorch.callbacks import Callback

    class DDPProbe(Callback):
        def __init__(self) -> None:
            self._seen = 0
            self._cells = None
            self.seen_per_rank: list[int] = []
            self.cells_per_rank: list | None = None
            self.checksums: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            if trainer.current_epoch != 0:
                return
            loader = trainer.train_dataloader
            sampler, indices = getattr(loader, "sampler", None), getattr(loader, "indices", None)
            if sampler is None or indices is None:
                return
            positions = [int(i) for batch in sampler for i in batch]
            self._cells = np.asarray(indices)[positions]

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
            # Every process draws the same number of cells (the sampler pads), so the lists
            # gather as one [world, n] tensor; -1 marks a process that recorded none.
            n = max(self.seen_per_rank) if self.seen_per_rank else 0
            cells = np.full(n, -1, dtype=np.int64)
            if self._cells is not None:
                cells[: min(n, len(self._cells))] = self._cells[:n]
            all_cells = pl_module.all_gather(
                torch.as_tensor(cells, device=pl_module.device)).reshape(-1, n).cpu().numpy()
            if (all_cells < 0).any() or self._cells is None:
                self.cells_per_rank = None
            else:
                self.cells_per_rank = [row.tolist() for row in all_cells]

    return DDPProbe()


if __name__ == "__main__":
    sys.exit(main())

"""Training control for scVI: checkpoints and resuming, early stopping, LR on plateau, NaN rescue.

Three phases on the same data (scvi-tools 1.5.1, Lightning callbacks):

1. Checkpoint and resume. Train ``--max-epochs`` with Lightning's ``ModelCheckpoint(
   save_last=True)`` (a full Lightning checkpoint: weights, optimizer, epoch counter) and a
   ``CSVLogger``; then build a *new* model, as a new process would, and continue with
   ``model.train(max_epochs=TOTAL, ckpt_path=".../last.ckpt")``. Checked: the resumed run
   trains exactly ``--resume-epochs`` more epochs and ends at epoch TOTAL.
2. Early stopping and LR reduction. ``TrainerConfig(early_stopping=True,
   early_stopping_monitor=--monitor, early_stopping_patience=..., early_stopping_min_delta=...)``
   with ``TrainingPlanConfig(reduce_lr_on_plateau=True, lr_scheduler_metric=--monitor, ...)``
   (scvi-tools then adds a ``LearningRateMonitor``), and scvi-tools' ``SaveCheckpoint(
   monitor=..., load_best_on_end=True, check_nan_gradients=True)`` which keeps the best model as
   a loadable model folder. Checked: the best checkpoint loads with ``SCVI.load``.
3. NaN rescue (``--simulate-nan-epoch N``): a callback poisons one encoder weight at epoch N,
   which makes training fail the way real NaN losses do ("Expected parameter loc ... to satisfy
   the constraint Real()"). ``SaveCheckpoint(check_nan_gradients=True)`` restores the best
   weights on the exception; training then resumes with a lower learning rate (docs/faq.md
   says to adjust it; this example takes 10x lower, its own choice) and gradient clipping. Other
   fixes when it is your data: raw counts in the right ``layer``, filter low-count cells, a
   smaller batch size. Checked: the retrained
   model's validation ELBO is finite.

Writes OUT/checkpoints/ (Lightning .ckpt), OUT/best/ (SaveCheckpoint model folders),
OUT/logs/ (CSVLogger metrics.csv per phase), OUT/model/, OUT/summary.json.

Examples:
  python examples/training_control.py --max-epochs 2 --n-cells 400 --accelerator cpu --out /tmp/tc
  python examples/training_control.py --max-epochs 4 --n-cells 400 --accelerator cpu \\
      --out /tmp/tc2 --early-stopping-patience 2 --early-stopping-min-delta 1e9 \\
      --lr-patience 0 --lr-threshold 1e9 --simulate-nan-epoch 2
  (min-delta and lr-threshold 1e9 make every epoch after the first "no improvement", so early
  stopping and the LR reduction both fire within four epochs)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import _data  # noqa: E402

MONITORS = ["elbo_validation", "reconstruction_loss_validation", "kl_local_validation"]
DEFAULT_EPOCHS = 20


def build_parser():
    parser = _common.build_parser("training_control.py", __doc__)
    group = parser.add_argument_group("training control")
    group.add_argument("--resume-epochs", type=_common._positive_int, default=None,
                       help="epochs trained after resuming from the checkpoint (default: "
                       "--max-epochs)")
    group.add_argument("--monitor", choices=MONITORS, default="elbo_validation",
                       help="validation metric for early stopping, LR reduction and the best "
                       "checkpoint (default: elbo_validation)")
    group.add_argument("--early-stopping-patience", type=_common._non_negative_int, default=5,
                       help="validation epochs without improvement before stopping (default: 5)")
    group.add_argument("--early-stopping-min-delta", type=float, default=0.0,
                       help="smallest change counted as an improvement (default: 0.0)")
    group.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    group.add_argument("--lr-patience", type=_common._non_negative_int, default=3,
                       help="epochs without improvement before the LR is reduced (default: 3)")
    group.add_argument("--lr-factor", type=float, default=0.6,
                       help="LR multiplier on plateau (default: 0.6)")
    group.add_argument("--lr-threshold", type=float, default=0.0,
                       help="smallest absolute improvement for the LR scheduler (default: 0.0)")
    group.add_argument("--simulate-nan-epoch", type=_common._positive_int, default=None,
                       help="poison the weights at this epoch (>= 1) to show the NaN rescue "
                       "(default: off)")
    group.add_argument("--gradient-clip-val", type=float, default=5.0,
                       help="gradient clipping used when retraining after a NaN (default: 5.0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _common.check_accelerator(args.accelerator, args.devices)
    if args.simulate_nan_epoch is not None and args.simulate_nan_epoch < 1:
        raise _common.UsageError("--simulate-nan-epoch must be >= 1: the best checkpoint needs "
                                 "one finished validation epoch to restore")
    epochs = args.max_epochs or DEFAULT_EPOCHS
    resume_epochs = args.resume_epochs if args.resume_epochs is not None else epochs
    out = _common.prepare_out(args.out, model_dirs=["model", "checkpoints", "best", "logs"],
                              overwrite=args.overwrite)
    data = _data.load_input(args)

    import scvi

    scvi.settings.seed = args.seed
    scvi.model.SCVI.setup_anndata(data.adata, layer=data.layer, batch_key=data.batch_key)
    common = {"accelerator": args.accelerator, "devices": args.devices,
              "enable_progress_bar": not args.no_progress_bar}
    if args.batch_size is not None:
        common["batch_size"] = args.batch_size
    for name in ("checkpoints", "best", "logs"):
        _remove_tree(out / name)

    resume = _checkpoint_and_resume(data.adata, out, epochs, resume_epochs, common)
    control, model, rate = _early_stopping_and_lr(data.adata, out, epochs, args, common)
    nan = None
    if args.simulate_nan_epoch is not None:
        nan, model, rate = _nan_rescue(data.adata, out, epochs, args, common)

    model_dir = out / "model"
    _common.save_model(model, model_dir, overwrite=args.overwrite)
    passed = resume["ok"] and control["best_loads"] and (nan is None or nan["ok"])
    summary = {
        "example": "training_control",
        "input": data.source,
        "n_cells": data.adata.n_obs,
        "resume": resume,
        "early_stopping_and_lr": control,
        "nan_rescue": nan,
        "passed": passed,
        "device": _common.device_description(model),
        "throughput": rate,
        "outputs": {"model": model_dir, "checkpoints": out / "checkpoints", "best": out / "best",
                    "logs": out / "logs"},
    }
    _common.write_json(out / "summary.json", summary)
    rows = [
        ("input", data.source),
        ("resume", f"{resume['first_run_epochs']} epochs, then a new model resumed from "
                   f"{Path(resume['checkpoint']).name} for {resume['resumed_epochs']} more (ends "
                   f"at epoch {resume['final_epoch']}) -> {'ok' if resume['ok'] else 'FAILED'}"),
        ("early stopping", f"{control['monitor']}: {control['epochs_run']} of {epochs} epochs"
                           + (f", stopped at epoch {control['stopped_epoch']}"
                              if control["stopped_epoch"] else ", did not trigger")),
        ("learning rate", " -> ".join(f"{lr:.2e}" for lr in control["lr_values"]) or "n/a"),
        ("best checkpoint", f"{control['best_model_path']} "
                            f"({'loads' if control['best_loads'] else 'DOES NOT LOAD'})"),
        ("metrics", control["metrics_csv"]),
    ]
    if nan is not None:
        rows.append(("NaN rescue", nan_rescue_text(nan)))
    rows.append(("checks", "PASSED" if passed else "FAILED"))
    _common.print_summary("training control", rows, device=summary["device"], rate=rate)
    return _common.EXIT_OK if passed else _common.EXIT_CHECK_FAILED


def nan_rescue_text(nan: dict) -> str:
    """The summary line of the NaN rescue, saying what happened (not what should have)."""
    failed = (f"failed at epoch {nan['failed_at_epoch']} ({nan['error']})" if nan["error"]
              else f"did NOT fail after the poisoning at epoch {nan['failed_at_epoch']}")
    restored = ("best weights restored" if nan["weights_finite_after_restore"] else
                "weights NOT FINITE after the restore")
    return (f"{failed}; {restored}; retrained with lr {nan['retrain_lr']:.1e} and gradient "
            f"clipping -> elbo_validation {nan['final_elbo_validation']:.1f}")


def _checkpoint_and_resume(adata, out: Path, epochs: int, resume_epochs: int, common) -> dict:
    import scvi
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from scvi.train import SaveCheckpoint

    ckpt_dir = out / "checkpoints"

    def checkpoint():
        # Lightning refuses a ModelCheckpoint unless checkpointing is enabled, and scvi-tools'
        # Trainer enables it by itself only when a SaveCheckpoint is among the callbacks (with
        # enable_checkpointing=True alone it would add one writing under scvi.settings.logging_dir).
        # So each run gets both: the Lightning .ckpt to resume from, and the scvi-tools model
        # folder of the best epoch.
        return [
            ModelCheckpoint(dirpath=str(ckpt_dir), filename="{epoch}", monitor="elbo_validation",
                            mode="min", save_top_k=1, save_last=True),
            SaveCheckpoint(dirpath=str(out / "best" / "phase1"), monitor="elbo_validation"),
        ]

    first = scvi.model.SCVI(adata)
    first_timer = _common.make_epoch_timer()
    first.train(max_epochs=epochs, check_val_every_n_epoch=1,
                callbacks=[*checkpoint(), first_timer],
                logger=CSVLogger(str(out / "logs"), name="phase1_checkpoint"), **common)
    last = ckpt_dir / "last.ckpt"

    # A fresh model, as after a crash: Lightning restores weights, optimizer and epoch counter.
    resumed = scvi.model.SCVI(adata)
    timer = _common.make_epoch_timer()
    total = epochs + resume_epochs
    resumed.train(max_epochs=total, check_val_every_n_epoch=1, ckpt_path=str(last),
                  callbacks=[*checkpoint(), timer],
                  logger=CSVLogger(str(out / "logs"), name="phase1_resumed"), **common)
    final_epoch = int(resumed.trainer.current_epoch)
    return {
        "checkpoint": str(last),
        "first_run_epochs": len(first_timer.epoch_seconds),
        "resumed_epochs": len(timer.epoch_seconds),
        "final_epoch": final_epoch,
        "ok": last.is_file() and len(timer.epoch_seconds) == resume_epochs and final_epoch == total,
    }


def _early_stopping_and_lr(adata, out: Path, epochs: int, args, common):
    import scvi
    from lightning.pytorch.loggers import CSVLogger
    from scvi.train import SaveCheckpoint, TrainerConfig, TrainingPlanConfig

    logger = CSVLogger(str(out / "logs"), name="phase2_control")
    model = scvi.model.SCVI(adata)
    timer = _common.make_epoch_timer()
    best = SaveCheckpoint(dirpath=str(out / "best"), monitor=args.monitor, load_best_on_end=True,
                          check_nan_gradients=True)
    model.train(
        max_epochs=epochs,
        plan_config=TrainingPlanConfig(
            lr=args.lr, reduce_lr_on_plateau=True, lr_scheduler_metric=args.monitor,
            lr_patience=args.lr_patience, lr_factor=args.lr_factor, lr_threshold=args.lr_threshold,
        ),
        trainer_config=TrainerConfig(
            early_stopping=True, early_stopping_monitor=args.monitor,
            early_stopping_patience=args.early_stopping_patience,
            early_stopping_min_delta=args.early_stopping_min_delta,
            check_val_every_n_epoch=1, logger=logger,
        ),
        # train()'s own early_stopping=False would override the config's True (scvi-tools
        # 1.5.1: explicit arguments win over trainer_config), so it is passed here too.
        early_stopping=True,
        callbacks=[best, timer],
        **common,
    )
    stopper = model.trainer.early_stopping_callback
    metrics_csv = Path(logger.log_dir) / "metrics.csv"
    try:
        scvi.model.SCVI.load(best.best_model_path, adata=adata, accelerator=args.accelerator)
        best_loads = True
    except Exception as err:  # any failure to load is what this check reports
        _common.warn(f"best checkpoint {best.best_model_path} did not load: {err}")
        best_loads = False
    control = {
        "monitor": args.monitor,
        "epochs_run": len(timer.epoch_seconds),
        "stopped_epoch": int(stopper.stopped_epoch) if stopper is not None else 0,
        "lr_values": _lr_values(metrics_csv),
        "best_model_path": best.best_model_path,
        "best_model_score": float(best.best_model_score) if best.best_model_score is not None
        else None,
        "best_loads": best_loads,
        "metrics_csv": str(metrics_csv),
    }
    return control, model, _common.throughput(model, timer)


def _lr_values(metrics_csv: Path) -> list[float]:
    """The distinct learning rates LearningRateMonitor logged, in order."""
    import pandas as pd

    if not metrics_csv.is_file():
        return []
    frame = pd.read_csv(metrics_csv)
    columns = [c for c in frame.columns if c.startswith("lr")]
    if not columns:
        return []
    values = frame[columns[0]].dropna().tolist()
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def _nan_rescue(adata, out: Path, epochs: int, args, common):
    import numpy as np
    import scvi
    from scvi.train import SaveCheckpoint, TrainingPlanConfig

    model = scvi.model.SCVI(adata)
    best = SaveCheckpoint(dirpath=str(out / "best" / "nan_run"), monitor="elbo_validation",
                          check_nan_gradients=True)
    poison = _make_poison_callback(args.simulate_nan_epoch)
    error = None
    try:
        model.train(max_epochs=max(epochs, args.simulate_nan_epoch + 1), check_val_every_n_epoch=1,
                    callbacks=[best, poison], **common)
    except (ValueError, RuntimeError) as err:
        error = f"{type(err).__name__}: {str(err).splitlines()[0][:140]}"
    restored = all(bool(np.isfinite(p.detach().cpu().numpy()).all())
                   for p in model.module.parameters())
    retrain_lr = args.lr / 10
    timer = _common.make_epoch_timer()
    model.train(max_epochs=epochs, check_val_every_n_epoch=1, callbacks=[timer],
                plan_config=TrainingPlanConfig(lr=retrain_lr),
                gradient_clip_val=args.gradient_clip_val, **common)
    final = float(model.history["elbo_validation"].iloc[-1, 0])
    nan = {
        "failed_at_epoch": poison.fired_at,
        "error": error,
        "best_checkpoint": best.best_model_path,
        "weights_finite_after_restore": restored,
        "retrain_lr": retrain_lr,
        "final_elbo_validation": final,
        "ok": error is not None and restored and bool(np.isfinite(final)),
    }
    return nan, model, _common.throughput(model, timer)


def _make_poison_callback(epoch: int):
    import torch
    from lightning.pytorch.callbacks import Callback

    class PoisonWeights(Callback):
        """Fill the first encoder weight with NaN at the start of ``epoch`` (a stand-in for a
        numerical blow-up)."""

        fired_at = None

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            if trainer.current_epoch == epoch and self.fired_at is None:
                with torch.no_grad():
                    next(pl_module.module.z_encoder.parameters()).fill_(float("nan"))
                self.fired_at = epoch

    return PoisonWeights()


def _remove_tree(path: Path) -> None:
    """Old checkpoints would confuse "last.ckpt" and the best-model bookkeeping, and old logs
    would shift CSVLogger's version folders: start clean (``prepare_out`` already refused to get
    here without --overwrite)."""
    import shutil

    if path.exists():
        shutil.rmtree(path)


if __name__ == "__main__":
    sys.exit(main())

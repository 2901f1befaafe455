"""scVI integration: register counts and covariates, train with configs, save, reload, compare.

Steps, each the scvi-tools 1.5.1 call a user would write:

1. ``SCVI.setup_anndata(adata, layer=..., batch_key=..., categorical_covariate_keys=...,
   continuous_covariate_keys=...)`` on the raw counts layer (checked first: raw counts, finite).
2. ``SCVI(adata, n_latent=...)`` and ``model.train(plan_config=TrainingPlanConfig(lr=...,
   weight_decay=..., n_epochs_kl_warmup=...), trainer_config=TrainerConfig(early_stopping=True,
   early_stopping_patience=..., check_val_every_n_epoch=1))``.
3. ``obsm["X_scVI"] = model.get_latent_representation()`` and a normalized expression layer
   (``get_normalized_expression(library_size=1e4)``, batch-corrected when a batch is set).
4. ``model.save(OUT/model)``, ``SCVI.load(OUT/model, adata=adata)``, and a check that the
   reloaded model gives the same latent (exit 1 if not).

Writes OUT/model/, OUT/integrated.h5ad, OUT/summary.json.

Examples:
  python examples/scvi_integration.py --max-epochs 1 --n-cells 400 --accelerator cpu --out /tmp/i
  python examples/scvi_integration.py --data my.h5ad --layer counts --batch-key sample \\
      --categorical-covariate-keys donor --continuous-covariate-keys pct_mito --out results/scvi
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import _data  # noqa: E402

LATENT_KEY = "X_scVI"
NORMALIZED_LAYER = "scvi_normalized"
# Reloading restores the same float32 weights, so latents agree to float32 rounding.
RELOAD_ATOL = 1e-5


def build_parser():
    parser = _common.build_parser("scvi_integration.py", __doc__)
    group = parser.add_argument_group("scVI")
    group.add_argument("--categorical-covariate-keys", nargs="*", default=None, metavar="KEY",
                       help="extra categorical nuisance columns of .obs (default: none for "
                       f"--data, '{_common.SYNTHETIC_CATEGORICAL_KEY}' for synthetic data)")
    group.add_argument("--continuous-covariate-keys", nargs="*", default=None, metavar="KEY",
                       help="continuous nuisance columns of .obs (default: none for --data, "
                       f"'{_common.SYNTHETIC_CONTINUOUS_KEY}' for synthetic data)")
    group.add_argument("--n-latent", type=_common._positive_int, default=10, help="latent dimensions (default: 10)")
    group.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    group.add_argument("--weight-decay", type=float, default=1e-6,
                       help="Adam weight decay (default: 1e-6)")
    group.add_argument("--n-epochs-kl-warmup", type=_common._non_negative_int, default=400,
                       help="epochs of KL warm-up (default: 400, scvi-tools' default)")
    group.add_argument("--early-stopping-patience", type=_common._non_negative_int, default=45,
                       help="validation epochs without improvement before stopping (default: 45)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _common.check_accelerator(args.accelerator, args.devices)
    out = _common.prepare_out(args.out, model_dirs=["model"], overwrite=args.overwrite)
    if args.data is None:
        cat_keys = args.categorical_covariate_keys or [_common.SYNTHETIC_CATEGORICAL_KEY]
        cont_keys = args.continuous_covariate_keys or [_common.SYNTHETIC_CONTINUOUS_KEY]
    else:
        cat_keys = args.categorical_covariate_keys or None
        cont_keys = args.continuous_covariate_keys or None
    data = _data.load_input(args, extra_obs={"--categorical-covariate-keys": cat_keys,
                                               "--continuous-covariate-keys": cont_keys})
    _check_continuous(data.adata, cont_keys)

    import numpy as np
    import scvi
    from scvi.train import TrainerConfig, TrainingPlanConfig

    scvi.settings.seed = args.seed
    adata = data.adata
    scvi.model.SCVI.setup_anndata(
        adata,
        layer=data.layer,
        batch_key=data.batch_key,
        categorical_covariate_keys=cat_keys,
        continuous_covariate_keys=cont_keys,
    )
    model = scvi.model.SCVI(adata, n_latent=args.n_latent)
    timer = _common.make_epoch_timer()
    plan_config = TrainingPlanConfig(
        lr=args.lr, weight_decay=args.weight_decay, n_epochs_kl_warmup=args.n_epochs_kl_warmup
    )
    trainer_config = TrainerConfig(
        early_stopping=True,
        early_stopping_monitor="elbo_validation",
        early_stopping_patience=args.early_stopping_patience,
        check_val_every_n_epoch=1,
        enable_progress_bar=not args.no_progress_bar,
    )
    model.train(
        **_common.train_kwargs(args),
        # In scvi-tools 1.5.1 train()'s own early_stopping=False argument overrides
        # TrainerConfig(early_stopping=True) (explicit arguments win over trainer_config), so it
        # is repeated here; the patience and monitor in the config do apply.
        early_stopping=True,
        plan_config=plan_config,
        trainer_config=trainer_config,
        callbacks=[timer],
    )
    rate = _common.throughput(model, timer)

    adata.obsm[LATENT_KEY] = latent = model.get_latent_representation()
    # With a batch, decode every cell as if from the first batch: a batch-corrected layer.
    transform_batch = None
    if data.batch_key is not None:
        transform_batch = [str(adata.obs[data.batch_key].astype("category").cat.categories[0])]
    adata.layers[NORMALIZED_LAYER] = model.get_normalized_expression(
        library_size=1e4, transform_batch=transform_batch, return_numpy=True
    )

    model_dir = out / "model"
    _common.save_model(model, model_dir, overwrite=args.overwrite)
    reloaded = scvi.model.SCVI.load(str(model_dir), adata=adata, accelerator=args.accelerator)
    max_diff = float(np.max(np.abs(reloaded.get_latent_representation() - latent)))
    reload_ok = max_diff <= RELOAD_ATOL
    _common.write_h5ad(adata, out / "integrated.h5ad")

    history = model.history.get("elbo_validation")
    summary = {
        "example": "scvi_integration",
        "input": data.source,
        "n_cells": adata.n_obs,
        "n_genes": adata.n_vars,
        "dropped": data.dropped,
        "layer": data.layer,
        "batch_key": data.batch_key,
        "categorical_covariate_keys": cat_keys,
        "continuous_covariate_keys": cont_keys,
        "latent_shape": list(latent.shape),
        "early_stopping_active": model.trainer.early_stopping_callback is not None,
        "elbo_validation_last": float(history.iloc[-1, 0]) if history is not None else None,
        "reload_max_abs_diff": max_diff,
        "reload_ok": reload_ok,
        "device": _common.device_description(model),
        "throughput": rate,
        "outputs": {"model": model_dir, "adata": out / "integrated.h5ad"},
    }
    _common.write_json(out / "summary.json", summary)
    _common.print_summary(
        "scVI integration",
        [
            ("input", data.source),
            ("epochs", f"{rate['epochs']} (early stopping, patience "
                       f"{args.early_stopping_patience})"),
            ("latent", f"obsm['{LATENT_KEY}'] {latent.shape[0]} x {latent.shape[1]}"),
            ("normalized", f"layers['{NORMALIZED_LAYER}'] (transform_batch={transform_batch})"),
            ("saved", f"{model_dir} and {out / 'integrated.h5ad'}"),
            ("reload check", f"max |latent diff| = {max_diff:.2e} -> "
                             f"{'ok' if reload_ok else 'FAILED'}"),
        ],
        device=summary["device"],
        rate=rate,
    )
    return _common.EXIT_OK if reload_ok else _common.EXIT_CHECK_FAILED


def _check_continuous(adata, keys: list[str] | None) -> None:
    import pandas as pd

    for key in keys or []:
        column = adata.obs[key]
        if not pd.api.types.is_numeric_dtype(column):
            raise _common.UsageError(
                f"--continuous-covariate-keys {key!r} is not numeric (dtype {column.dtype})",
                hint="Pass it with --categorical-covariate-keys instead.",
            )
        if not column.notna().all() or not (column.abs() != float("inf")).all():
            raise _common.DataError(f".obs[{key!r}] has NaN or inf values")


if __name__ == "__main__":
    sys.exit(main())

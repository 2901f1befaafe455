"""totalVI on CITE-seq: RNA counts plus antibody (protein) counts in .obsm, jointly modelled.

Steps (scvi-tools 1.5.1):

1. Check the RNA counts (X or ``--layer``) and the protein counts in
   ``obsm[--protein-obsm-key]`` (an array with names in ``uns[--protein-names-uns-key]``, or a
   DataFrame whose columns are the names): raw, finite, non-negative.
2. ``TOTALVI.setup_anndata(adata, protein_expression_obsm_key=..., protein_names_uns_key=...,
   layer=..., batch_key=...)``, ``TOTALVI(adata)``, ``model.train(...)``. totalVI trains with
   early stopping and LR reduction on plateau by default; both stay on here.
3. ``get_latent_representation()`` into ``obsm["X_totalVI"]``, and
   ``rna, protein = get_normalized_expression(n_samples=..., return_mean=True)``: denoised RNA
   into ``layers["totalvi_rna"]`` and background-removed protein into
   ``obsm["totalvi_protein"]``.
4. The check (synthetic data, or a file with ``uns["planted_protein_markers"]``): the denoised
   protein of each planted marker must be higher in its own cell type than elsewhere for at
   least ``--min-marker-agreement`` of the markers (exit 1 otherwise).

For partially labelled CITE-seq, ``scvi.external.TOTALANVI`` is the semi-supervised variant
(``TOTALANVI.from_totalvi_model``; see docs/user_guide/models/totalanvi.md); it is not run here.

Writes OUT/model/, OUT/totalvi.h5ad, OUT/summary.json.

Examples:
  python examples/totalvi_citeseq.py --max-epochs 1 --n-cells 400 --accelerator cpu --out /tmp/tv \\
      --min-marker-agreement 0
  python examples/totalvi_citeseq.py --data cite.h5ad --layer counts --batch-key sample \\
      --protein-obsm-key protein_expression --out results/totalvi
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import _data  # noqa: E402

LATENT_KEY = "X_totalVI"
N_SYNTHETIC_PROTEINS = 12


def build_parser():
    parser = _common.build_parser("totalvi_citeseq.py", __doc__, labels=True)
    group = parser.add_argument_group("totalVI")
    group.add_argument("--protein-obsm-key", default=_common.PROTEIN_OBSM_KEY,
                       help=f"the .obsm entry with protein counts (default: "
                       f"{_common.PROTEIN_OBSM_KEY})")
    group.add_argument("--protein-names-uns-key", default=None,
                       help="the .uns entry with protein names when .obsm holds an array "
                       f"(default: '{_common.PROTEIN_NAMES_UNS_KEY}' if present)")
    group.add_argument("--n-samples", type=_common._positive_int, default=25,
                       help="posterior samples averaged for normalized expression (default: 25)")
    group.add_argument("--min-marker-agreement", type=float, default=0.8,
                       help="fraction of planted protein markers that must be highest in their "
                       "own type (default: 0.8; 0 turns the check off)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _common.check_accelerator(args.accelerator, args.devices)
    out = _common.prepare_out(args.out, model_dirs=["model"], overwrite=args.overwrite)
    data = _data.load_input(args, n_proteins=N_SYNTHETIC_PROTEINS)
    adata = data.adata
    protein_names, names_key = _check_protein(adata, args)

    import numpy as np
    import scvi

    scvi.settings.seed = args.seed
    scvi.model.TOTALVI.setup_anndata(
        adata,
        protein_expression_obsm_key=args.protein_obsm_key,
        protein_names_uns_key=names_key,
        layer=data.layer,
        batch_key=data.batch_key,
    )
    model = scvi.model.TOTALVI(adata)
    timer = _common.make_epoch_timer()
    model.train(**_common.train_kwargs(args), callbacks=[timer],
                enable_progress_bar=not args.no_progress_bar)
    rate = _common.throughput(model, timer)

    adata.obsm[LATENT_KEY] = latent = model.get_latent_representation()
    rna, protein = model.get_normalized_expression(
        n_samples=args.n_samples, return_mean=True, return_numpy=True
    )
    adata.layers["totalvi_rna"] = rna
    adata.obsm["totalvi_protein"] = protein

    agreement = None
    planted = adata.uns.get(_common.PLANTED_PROTEINS_UNS_KEY)
    if planted is not None and data.labels_key in adata.obs.columns:
        agreement = _marker_agreement(protein, protein_names, planted,
                                      adata.obs[data.labels_key].astype(str).to_numpy())
    passed = agreement is None or agreement >= args.min_marker_agreement

    model_dir = out / "model"
    _common.save_model(model, model_dir, overwrite=args.overwrite)
    _common.write_h5ad(adata, out / "totalvi.h5ad")
    summary = {
        "example": "totalvi_citeseq",
        "input": data.source,
        "n_cells": adata.n_obs,
        "n_genes": adata.n_vars,
        "n_proteins": len(protein_names),
        "dropped": data.dropped,
        "latent_shape": list(latent.shape),
        "rna_normalized_shape": list(np.shape(rna)),
        "protein_normalized_shape": list(np.shape(protein)),
        "protein_marker_agreement": agreement,
        "min_marker_agreement": args.min_marker_agreement,
        "passed": passed,
        "device": _common.device_description(model),
        "throughput": rate,
        "outputs": {"model": model_dir, "adata": out / "totalvi.h5ad"},
    }
    _common.write_json(out / "summary.json", summary)
    check = ("skipped: no planted protein markers" if agreement is None else
             f"{agreement:.2f} of planted markers highest in their type "
             f"(min {args.min_marker_agreement}) -> {'PASSED' if passed else 'FAILED'}")
    _common.print_summary(
        "totalVI CITE-seq",
        [
            ("input", f"{data.source}; {len(protein_names)} proteins"),
            ("epochs", rate["epochs"]),
            ("latent", f"obsm['{LATENT_KEY}'] {latent.shape[0]} x {latent.shape[1]}"),
            ("normalized", "layers['totalvi_rna'], obsm['totalvi_protein'] "
                           "(protein without background)"),
            ("protein check", check),
            ("partial labels", "see scvi.external.TOTALANVI"),
        ],
        device=summary["device"],
        rate=rate,
    )
    return _common.EXIT_OK if passed else _common.EXIT_CHECK_FAILED


def _check_protein(adata, args) -> tuple[list[str], str | None]:
    """Validate the protein counts; return their names and the .uns key to register (or None)."""
    import pandas as pd

    key = args.protein_obsm_key
    if key not in adata.obsm:
        available = ", ".join(map(str, adata.obsm.keys())) or "(none)"
        raise _common.UsageError(f"--protein-obsm-key {key!r} is not in .obsm",
                                 hint=f"Available .obsm keys: {available}")
    values = adata.obsm[key]
    if isinstance(values, pd.DataFrame):
        names, names_key = [str(c) for c in values.columns], None
        matrix = values.to_numpy()
    else:
        names_key = args.protein_names_uns_key
        if names_key is None and _common.PROTEIN_NAMES_UNS_KEY in adata.uns:
            names_key = _common.PROTEIN_NAMES_UNS_KEY
        if names_key is not None and names_key not in adata.uns:
            raise _common.UsageError(f"--protein-names-uns-key {names_key!r} is not in .uns")
        matrix = values
        n = matrix.shape[1]
        names = ([str(x) for x in adata.uns[names_key]] if names_key
                 else [f"protein_{i}" for i in range(n)])
        if len(names) != n:
            raise _common.DataError(f".uns[{names_key!r}] has {len(names)} names for {n} "
                                    "proteins")
    _data.check_count_matrix(matrix, f"obsm[{key!r}]",
                               allow_non_integer=args.allow_non_integer,
                               hint="totalVI needs raw antibody counts (not CLR-normalized).")
    return names, names_key


def _marker_agreement(protein, names: list[str], planted: dict, labels) -> float:
    import numpy as np

    protein = np.asarray(protein)
    column = {n: i for i, n in enumerate(names)}
    right = total = 0
    for group, markers in planted.items():
        inside = labels == str(group)
        if not inside.any() or inside.all():
            continue
        for marker in markers:
            if str(marker) not in column:
                continue
            values = protein[:, column[str(marker)]]
            right += int(values[inside].mean() > values[~inside].mean())
            total += 1
    return right / total if total else float("nan")


if __name__ == "__main__":
    sys.exit(main())

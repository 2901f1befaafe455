"""Downstream analysis with scVI: differential expression and normalized expression, checked.

Steps (scvi-tools 1.5.1):

1. Train ``SCVI`` with a batch and cell-type labels (``setup_anndata(labels_key=...)``).
2. One-vs-all DE by a groupby: ``model.differential_expression(groupby=LABELS,
   batch_correction=True, mode="change", delta=...)``: each group against the rest, the
   posterior of expression integrated over batches.
3. Pairwise DE: ``differential_expression(groupby=LABELS, group1=[A], group2=B)``.
4. Counterfactual normalized expression: ``get_normalized_expression(transform_batch=B)``
   decodes every cell as if it came from batch B (and from each batch in turn when compared).
5. The check (synthetic data, or any file whose ``uns["planted_de_genes"]`` maps each group to
   its truly up-regulated genes): for every group, precision of the top-k genes ranked by
   ``lfc_mean`` (k = number of planted genes) and the AUROC of ``lfc_mean`` separating planted
   from other genes; the pairwise test and the counterfactual expression must also put the
   planted genes up in their own group. Exit 1 when any figure is under its threshold.

On user data without planted genes the DE tables are written and the check is skipped (exit 0).

Writes OUT/de_one_vs_all.csv, OUT/de_pairwise.csv, OUT/summary.json.

Examples:
  python examples/downstream_de.py --max-epochs 30 --n-cells 400 --accelerator cpu --out /tmp/de
  python examples/downstream_de.py --data my.h5ad --layer counts --batch-key sample \\
      --labels-key cell_type --out results/de
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import _data  # noqa: E402


def build_parser():
    parser = _common.build_parser("downstream_de.py", __doc__, labels=True)
    group = parser.add_argument_group("differential expression")
    group.add_argument("--delta", type=float, default=0.25,
                       help="LFC region of practical equivalence for mode='change' (default: "
                       "0.25)")
    group.add_argument("--min-precision", type=float, default=0.7,
                       help="lowest acceptable mean top-k precision over groups (default: 0.7)")
    group.add_argument("--min-auroc", type=float, default=0.9,
                       help="lowest acceptable mean AUROC over groups (default: 0.9)")
    group.add_argument("--group1", default=None,
                       help="first group of the pairwise test (default: the first label)")
    group.add_argument("--group2", default=None,
                       help="second group of the pairwise test (default: the second label)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return _common.run(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _common.check_accelerator(args.accelerator, args.devices)
    out = _common.prepare_out(args.out, model_dirs=[], overwrite=args.overwrite)
    data = _data.load_input(args, need_labels=True)
    adata = data.adata
    groups = [str(g) for g in adata.obs[data.labels_key].astype("category").cat.categories]
    if len(groups) < 2:
        raise _common.DataError(f".obs[{data.labels_key!r}] has {len(groups)} group; DE needs 2")
    group1 = args.group1 or groups[0]
    group2 = args.group2 or groups[1]
    for option, value in (("--group1", group1), ("--group2", group2)):
        if value not in groups:
            raise _common.UsageError(f"{option} {value!r} is not a value of "
                                     f".obs[{data.labels_key!r}]", hint=f"Groups: {groups}")
    truth = _planted_truth(adata, groups)

    import numpy as np
    import scvi

    scvi.settings.seed = args.seed
    scvi.model.SCVI.setup_anndata(
        adata, layer=data.layer, batch_key=data.batch_key, labels_key=data.labels_key
    )
    model = scvi.model.SCVI(adata)
    timer = _common.make_epoch_timer()
    model.train(**_common.train_kwargs(args), callbacks=[timer],
                enable_progress_bar=not args.no_progress_bar)
    rate = _common.throughput(model, timer)

    batch_correction = data.batch_key is not None
    de_all = model.differential_expression(
        groupby=data.labels_key, batch_correction=batch_correction, mode="change",
        delta=args.delta, silent=True,
    )
    de_pair = model.differential_expression(
        groupby=data.labels_key, group1=[group1], group2=group2,
        batch_correction=batch_correction, mode="change", delta=args.delta, silent=True,
    )
    _common.write_csv(de_all, out / "de_one_vs_all.csv")
    _common.write_csv(de_pair, out / "de_pairwise.csv")

    counterfactual = None
    if data.batch_key is not None:
        batches = [str(b) for b in adata.obs[data.batch_key].astype("category").cat.categories]
        counterfactual = {
            b: model.get_normalized_expression(transform_batch=[b], library_size=1e4,
                                               return_numpy=True)
            for b in batches
        }

    checks: dict = {}
    ok = True
    if truth is not None:
        checks["one_vs_all"] = per_group = {
            g: recovery(de_all[de_all["group1"] == g], truth[g]) for g in groups
        }
        precision = float(np.mean([r["precision_at_k"] for r in per_group.values()]))
        auroc = float(np.mean([r["auroc"] for r in per_group.values()]))
        pair = _pairwise_signs(de_pair, truth[group1], truth[group2])
        checks.update(mean_precision_at_k=precision, mean_auroc=auroc, pairwise=pair)
        ok = (precision >= args.min_precision and auroc >= args.min_auroc
              and pair["fraction_correct_sign"] >= args.min_precision)
        if counterfactual is not None:
            checks["counterfactual"] = cf = _counterfactual_up(
                counterfactual, adata.obs[data.labels_key].astype(str).to_numpy(),
                adata.var_names, truth)
            ok = ok and all(v >= args.min_precision for v in cf.values())
    summary = {
        "example": "downstream_de",
        "input": data.source,
        "n_cells": adata.n_obs,
        "n_genes": adata.n_vars,
        "dropped": data.dropped,
        "labels_key": data.labels_key,
        "batch_key": data.batch_key,
        "batch_correction": batch_correction,
        "pairwise": [group1, group2],
        "planted_truth": truth is not None,
        "checks": checks,
        "thresholds": {"min_precision": args.min_precision, "min_auroc": args.min_auroc},
        "passed": ok if truth is not None else None,
        "device": _common.device_description(model),
        "throughput": rate,
    }
    _common.write_json(out / "summary.json", summary)
    rows = [
        ("input", data.source),
        ("one-vs-all", f"{len(de_all)} rows -> {out / 'de_one_vs_all.csv'}"),
        ("pairwise", f"{group1} vs {group2} -> {out / 'de_pairwise.csv'}"),
    ]
    if truth is None:
        rows.append(("check", "skipped: no uns['planted_de_genes'] in the input"))
    else:
        rows += [
            ("top-k precision", f"{checks['mean_precision_at_k']:.2f} (min {args.min_precision})"),
            ("AUROC", f"{checks['mean_auroc']:.3f} (min {args.min_auroc})"),
            ("pairwise signs", f"{checks['pairwise']['fraction_correct_sign']:.2f} correct"),
        ]
        for batch, frac in (checks.get("counterfactual") or {}).items():
            rows.append((f"transform_batch={batch}",
                         f"{frac:.2f} of planted genes up in their group"))
        rows.append(("DE recovery", "PASSED" if ok else "FAILED (train longer: --max-epochs)"))
    _common.print_summary("scVI downstream DE", rows, device=summary["device"], rate=rate)
    return _common.EXIT_OK if ok else _common.EXIT_CHECK_FAILED


def _planted_truth(adata, groups: list[str]) -> dict[str, list[str]] | None:
    planted = adata.uns.get(_common.PLANTED_GENES_UNS_KEY)
    if planted is None:
        return None
    truth = {g: [str(x) for x in planted.get(g, [])] for g in groups}
    known = set(map(str, adata.var_names))
    truth = {g: [x for x in genes if x in known] for g, genes in truth.items()}
    return truth if all(truth.values()) else None


def recovery(table, planted: list[str]) -> dict:
    """Top-k precision and AUROC of ``lfc_mean`` for one group's planted (up) genes."""
    import numpy as np

    lfc = table["lfc_mean"]
    is_planted = lfc.index.isin(planted)
    k = int(is_planted.sum())
    top = lfc.sort_values(ascending=False).index[:k]
    return {
        "k": k,
        "precision_at_k": float(np.isin(top, planted).mean()),
        "auroc": auroc(lfc.to_numpy(), is_planted),
        "called_de_fdr_0.05": int((table.loc[is_planted, "is_de_fdr_0.05"]
                                   & (table.loc[is_planted, "lfc_mean"] > 0)).sum()),
    }


def auroc(scores, positives) -> float:
    """Mann-Whitney AUROC (ties count half), without scikit-learn."""
    import numpy as np
    from scipy.stats import rankdata

    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _pairwise_signs(table, up_in_1: list[str], up_in_2: list[str]) -> dict:
    lfc = table["lfc_mean"]
    right = int((lfc.reindex(up_in_1) > 0).sum() + (lfc.reindex(up_in_2) < 0).sum())
    total = len(up_in_1) + len(up_in_2)
    return {"n_planted": total, "fraction_correct_sign": right / total}


def _counterfactual_up(expression: dict, labels, var_names, truth) -> dict[str, float]:
    """Per transform_batch: the fraction of planted genes higher in their group than elsewhere."""
    columns = {name: i for i, name in enumerate(map(str, var_names))}
    result = {}
    for batch, matrix in expression.items():
        right = total = 0
        for group, genes in truth.items():
            idx = [columns[g] for g in genes]
            inside = matrix[labels == group][:, idx].mean(axis=0)
            outside = matrix[labels != group][:, idx].mean(axis=0)
            right += int((inside > outside).sum())
            total += len(idx)
        result[batch] = right / total
    return result


if __name__ == "__main__":
    sys.exit(main())

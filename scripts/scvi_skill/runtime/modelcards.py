"""Model cards for ``search_source.py --model NAME``: read ``references/model_cards.json``.

The cards are generated from the scvi-tools source by ``scripts/refresh_maps.py``
(:mod:`scvi_skill.build.source.cards`): per model class, its ``train()`` defaults, the trainer
keyword arguments ``train()`` sets itself (``trainer_config`` cannot change them), the training
plan and whether it optimizes manually, the setup method and the downstream methods.

Standard library only.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import SkillPackageError
from .index import load_json
from .paths import REFERENCES_DIR

CARDS_PATH = REFERENCES_DIR / "model_cards.json"
CARDS_FORMAT = 1
MAX_CARD_LINES = 60
MAX_CLOSE = 5
RUNNER_SETS = ("accelerator", "devices", "max_epochs")


class UnknownModel(SkillPackageError):
    """No model card for the name (exit 1)."""

    exit_code = 1


def load_cards(path: Path | None = None) -> dict:
    return load_json(path or CARDS_PATH, expected_format=CARDS_FORMAT, what="model cards")


def find_card(cards: dict, name: str) -> dict:
    """The card of ``name``: ``SCVI``, ``scvi.model.SCVI`` or ``mrvi`` (any case)."""
    models = cards.get("models") or {}
    wanted = name.strip().lower()
    by_key: dict[str, str] = {}
    for public in models:
        by_key.setdefault(public.lower(), public)
        by_key.setdefault(public.rsplit(".", 1)[-1].lower(), public)
    if wanted in by_key:
        return models[by_key[wanted]]
    short = [public.rsplit(".", 1)[-1] for public in sorted(models)]
    close = difflib.get_close_matches(wanted, [s.lower() for s in short], n=MAX_CLOSE,
                                      cutoff=0.5)
    names = [s for s in short if s.lower() in close]
    hint = ("close matches: " + ", ".join(names)) if names else \
        "models: " + ", ".join(short)
    raise UnknownModel(f"no model card for {name!r}", hint=hint)


def _params(entry: dict, *, skip: tuple[str, ...] = ()) -> str:
    """An entry's parameters in signature order (``order``); a card without it (an older
    format) gives required parameters first, then those with defaults, then ``*args`` and
    ``**kwargs``."""
    params = entry["params"]
    names = [k for k in entry.get("order") or () if k in params and k not in skip]
    if not names:
        names = [k for k in params if k not in skip]
        names.sort(key=lambda k: (k.startswith("*"), params[k] is not None))
    return ", ".join(k if params[k] is None else f"{k}={params[k]}" for k in names)


def render_card(card: dict) -> str:
    """A compact text card, at most :data:`MAX_CARD_LINES` lines."""
    lines = [f"{card['model']}  ({card['path']}:{card['line']})"]
    if card.get("mixins"):
        lines.append("mixins: " + ", ".join(card["mixins"]))
    if card.get("training_plan"):
        lines.append(f"training plan: {card['training_plan']}"
                     + (f"  (train() sets it: {card['training_plan_set_at']})"
                        if card.get("training_plan_set_at") else ""))
    for name, setup in card.get("setup", {}).items():
        lines.append(f"{name}({_params(setup)})  [{setup['path']}:{setup['line']}]"
                     + (f"  only {setup['only']}: registers nothing" if setup.get("only")
                        else ""))
    for keyword, target, where in card.get("module_init_ignores") or ():
        lines.append(f"model keyword {keyword}: its module's {target} never reads it  [{where}]")
    train = card.get("train")
    if train:
        lines.append(f"train() from {train['defined_in']}  [{train['path']}:{train['line']}]")
        lines.append(f"  params: {_params(train)}")
        own = [o for o in train["overrides"] if o not in RUNNER_SETS]
        lines.append("  sets itself (trainer_config ignored for these): "
                     + (", ".join(own) if own else "-")
                     + (" (+ " + ", ".join(RUNNER_SETS) + " from the runner)"
                        if train.get("uses_train_runner") else ""))
        opt = train.get("automatic_optimization")
        if opt is not None:
            lines.append("  automatic_optimization: " + str(opt)
                         + ("" if opt else " (manual: gradient_clip_val raises)"))
        for key in ("plan_config", "trainer_config"):
            if key not in train["params"]:
                lines.append(f"  no {key} parameter")
    methods = card.get("methods") or {}
    if methods:
        lines.append("methods (their keywords and defaults, not in signature order; adata and "
                     "mdata left out: --symbol gives the signature):")
    for name, method in methods.items():
        ignores = "".join(f"; {keyword}: {target} never reads it [{where}]"
                          for keyword, target, where in method.get("module_ignores") or ())
        lines.append(f"  {name}({_params(method, skip=('adata', 'mdata'))})"
                     f"  [{method['path']}:{method['line']}]{ignores}")
    if len(lines) > MAX_CARD_LINES:
        cut = len(lines) - MAX_CARD_LINES + 1
        lines = lines[:MAX_CARD_LINES - 1] + [f"... {cut} more lines (--json for all)"]
    return "\n".join(lines)

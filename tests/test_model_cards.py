"""Model cards (build/source/cards.py, references/model_cards.json, search_source.py --model):
the per-model facts the issue names, read from the 1.5.1 source with ast, and the CLI."""

from __future__ import annotations

import json

import pytest
import search_source
from scvi_skill.build.source.cards import (
    build_model_cards,
    card_facts,
    render_models_md,
)
from scvi_skill.runtime import modelcards
from scvi_skill.runtime.index import load_index


@pytest.fixture(scope="module")
def cards(pinned_tree):
    def read_text(rel):
        path = pinned_tree.to_disk(rel)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return build_model_cards(load_index(), read_text)


def _card(cards, name):
    return cards["models"][name]


def test_every_model_family_has_a_card(cards):
    names = set(cards["models"])
    for name in ("scvi.model.SCVI", "scvi.model.SCANVI", "scvi.model.TOTALVI",
                 "scvi.model.MULTIVI", "scvi.model.PEAKVI", "scvi.model.LinearSCVI",
                 "scvi.model.CondSCVI", "scvi.model.DestVI", "scvi.model.mlxSCVI",
                 "scvi.external.MRVI", "scvi.external.SysVI", "scvi.external.SOLO",
                 "scvi.external.TOTALANVI", "scvi.external.DRVI"):
        assert name in names, name
    assert "scvi.model.base.BaseModelClass" not in names


def test_early_stopping_and_check_val_per_model(cards):
    scvi = _card(cards, "scvi.model.SCVI")["train"]
    assert scvi["params"]["early_stopping"] == "False"
    assert "early_stopping" in scvi["overrides"]
    assert "check_val_every_n_epoch" not in scvi["overrides"]
    assert scvi["defined_in"] == "UnsupervisedTrainingMixin"
    scanvi = _card(cards, "scvi.model.SCANVI")["train"]
    assert "early_stopping" not in scanvi["params"]
    assert "early_stopping" not in scanvi["overrides"]
    assert {"check_val_every_n_epoch", "callbacks"} <= set(scanvi["overrides"])
    for name in ("TOTALVI", "MULTIVI", "PEAKVI"):
        train = _card(cards, f"scvi.model.{name}")["train"]
        assert train["params"]["early_stopping"] == "True", name
        assert {"early_stopping", "check_val_every_n_epoch"} <= set(train["overrides"]), name
        assert "plan_config" not in train["params"], name
    assert {"accelerator", "devices", "max_epochs"} <= set(scvi["overrides"])


def test_manual_optimization_and_plans(cards):
    for name in ("TOTALVI", "MULTIVI"):
        card = _card(cards, f"scvi.model.{name}")
        assert card["train"]["automatic_optimization"] is False, name
        assert card["training_plan"].endswith("AdversarialTrainingPlan")
    for name in ("SCVI", "SCANVI", "PEAKVI"):
        assert _card(cards, f"scvi.model.{name}")["train"]["automatic_optimization"] is True


def test_a_plan_train_swaps_in_for_one_model(cards):
    """SemisupervisedTrainingMixin.train sets SemiSupervisedAdversarialTrainingPlan under
    ``if type(self).__name__ == "TOTALANVI"``: TOTALANVI's card has that plan (manual
    optimization, as tests/test_pitfall_proofs.py proves), SCANVI's, with the same train(),
    keeps its class attribute's."""
    totalanvi = _card(cards, "scvi.external.TOTALANVI")
    assert totalanvi["training_plan"].endswith(".SemiSupervisedAdversarialTrainingPlan")
    assert totalanvi["training_plan_set_at"].startswith("src/scvi/model/base/_training_mixin.py:")
    assert totalanvi["train"]["automatic_optimization"] is False
    scanvi = _card(cards, "scvi.model.SCANVI")
    assert scanvi["training_plan"].endswith(".SemiSupervisedTrainingPlan")
    assert "training_plan_set_at" not in scanvi
    assert scanvi["train"]["automatic_optimization"] is True
    facts = {text: cite for _, text, cite in card_facts(cards)}
    said = [t for t in facts if t.startswith("scvi.external.TOTALANVI training plan:")
            or t.startswith("TOTALANVI training plan:")]
    assert said and "its train() sets it" in said[0], said
    row = next(line for line in render_models_md(cards).splitlines()
               if line.startswith("| `scvi.external.TOTALANVI`"))
    assert row.split(" | ")[6] == "yes", row  # manual optim.


def test_a_setup_method_that_only_warns_or_raises_is_marked(cards):
    """MULTIVI.setup_anndata in 1.5.1 only warns (use setup_mudata); Tangram's only raises."""
    multivi = _card(cards, "scvi.model.MULTIVI")["setup"]
    assert multivi["setup_anndata"]["only"] == "warns"
    assert "only" not in multivi["setup_mudata"]
    assert _card(cards, "scvi.external.Tangram")["setup"]["setup_anndata"]["only"] == "raises"
    assert "only" not in _card(cards, "scvi.model.SCVI")["setup"]["setup_anndata"]
    md = render_models_md(cards)
    assert "| setup_mudata (setup_anndata only warns) |" in md
    text = modelcards.render_card(_card(cards, "scvi.model.MULTIVI"))
    assert "only warns: registers nothing" in text


def test_cards_keep_signature_order(cards):
    """The JSON sorts a card's keys; ``order`` keeps the signature's, which --model prints."""
    train = _card(cards, "scvi.model.SCVI")["train"]
    assert train["order"][:3] == ["max_epochs", "accelerator", "devices"]
    assert train["order"][-1] == "**trainer_kwargs"
    text = modelcards.render_card(_card(cards, "scvi.model.SCVI"))
    params = next(line for line in text.splitlines() if line.startswith("  params: "))
    assert params.startswith("  params: max_epochs=None, accelerator='auto', devices='auto', "
                             "train_size=None,"), params
    setup = next(line for line in text.splitlines() if line.startswith("setup_anndata("))
    assert setup.startswith("setup_anndata(adata, layer=None, batch_key=None, labels_key=None,")


def test_de_mode_defaults(cards):
    def mode(name, method="differential_expression"):
        return _card(cards, name)["methods"][method]["params"]["mode"]

    assert mode("scvi.model.SCVI") == mode("scvi.model.SCANVI") == "'vanilla'"
    assert mode("scvi.model.TOTALVI") == mode("scvi.model.MULTIVI") == "'change'"
    assert mode("scvi.model.PEAKVI", "differential_accessibility") == "'change'"


def test_setup_methods_and_methods(cards):
    totalvi = _card(cards, "scvi.model.TOTALVI")
    assert set(totalvi["setup"]) == {"setup_anndata", "setup_mudata"}
    assert totalvi["setup"]["setup_anndata"]["params"]["batch_key"] == "None"
    scvi = _card(cards, "scvi.model.SCVI")
    for method in ("get_latent_representation", "get_normalized_expression",
                   "differential_expression", "load_query_data", "save", "load",
                   "minify_adata"):
        assert method in scvi["methods"], method
        assert scvi["methods"][method]["path"].startswith("src/scvi/")


def test_shipped_cards_match_the_tree(cards, repo_root):
    shipped = json.loads((repo_root / "references" / "model_cards.json").read_text())
    assert shipped["models"] == cards["models"]


def test_facts_and_table(cards):
    facts = card_facts(cards)
    assert ["TOTALVI", "TOTALVI.train(early_stopping=True); trainer_config cannot change it",
            "src/scvi/model/_totalvi.py:251"] in facts
    assert ["SCVI", "SCVI.differential_expression(mode='vanilla')",
            "src/scvi/model/base/_rnamixin.py:374"] in facts
    assert any(m == "SCANVI" and "has no early_stopping" in f for m, f, _ in facts)
    table = render_models_md(cards)
    assert table.startswith("<!-- generated by scripts/refresh_maps.py")
    row = next(line for line in table.splitlines() if line.startswith("| `scvi.model.TOTALVI`"))
    assert "`True`" in row and "expression `'change'`" in row


@pytest.mark.parametrize("name", ["TOTALVI", "scvi.model.TOTALVI", "totalvi"])
def test_search_source_model_json(capsys, name):
    assert search_source.main(["--model", name, "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["model"] == "scvi.model.TOTALVI"
    assert card["train"]["params"]["early_stopping"] == "True"


def test_search_source_model_text_and_unknown(capsys):
    assert search_source.main(["--model", "mrvi"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scvi.external.MRVI") and len(out.splitlines()) <= 60
    assert "trainer_config ignored" in out
    assert search_source.main(["--model", "scvii"]) == 1
    err = capsys.readouterr().err
    assert "no model card" in err and "SCVI" in err
    assert search_source.main(["--model", "SCVI", "some text"]) == 2


def test_render_card_is_capped():
    card = {"model": "m", "path": "p", "line": 1,
            "methods": {f"get_{i}": {"params": {}, "path": "p", "line": i} for i in range(99)}}
    assert len(modelcards.render_card(card).splitlines()) == modelcards.MAX_CARD_LINES


@pytest.mark.examples
def test_every_card_agrees_with_the_imported_package(repo_root):
    """Every shipped card against scvi-tools 1.5.1 itself, imported: the train() and setup
    parameters and their literal defaults, the downstream methods, the DE mode, and the
    training plan (the class attribute, or for a plan train() swaps in, the class it names)."""
    import ast
    import importlib
    import inspect

    scvi = pytest.importorskip("scvi")
    shipped = json.loads((repo_root / "references" / "model_cards.json").read_text())
    assert shipped["scvi_tools_version"] == scvi.__version__
    checked = 0
    for public, card in shipped["models"].items():
        module, _, name = public.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except ImportError:  # an optional dependency (jax, mlx) this environment lacks
            continue
        methods = {**card["setup"], **card["methods"]}
        if card.get("train"):
            methods["train"] = card["train"]
        for method, entry in methods.items():
            signature = inspect.signature(getattr(cls, method))
            got = {("**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL
                    else "") + p.name: p.default for p in signature.parameters.values()
                   if p.name not in ("self", "cls")}
            assert set(got) == set(entry["params"]), (public, method)
            assert entry["order"] == list(got), (public, method)  # signature order
            for param, text in entry["params"].items():
                if text is None:
                    assert got[param] is inspect.Parameter.empty, (public, method, param)
                    continue
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    continue  # a name (settings.batch_size, REGISTRY_KEYS...): not a literal
                assert got[param] == value, (public, method, param, text)
                checked += 1
        plan = card.get("training_plan")
        if plan and not card.get("training_plan_set_at"):
            own = cls._training_plan_cls
            assert f"{own.__module__}.{own.__qualname__}" == plan, public
        elif plan:
            path, _, line = card["training_plan_set_at"].partition(":")
            source = inspect.getsource(importlib.import_module(
                path.removeprefix("src/").removesuffix(".py").replace("/", ".")))
            assert plan.rpartition(".")[2] in source.splitlines()[int(line) - 1], public
    assert checked > 500, checked


def test_a_keyword_the_module_never_reads_is_on_the_card(cards):
    """SysVI's module takes transform_batch (generative) and n_samples (inference) and never
    reads them (pitfalls sysvi-ignores-transform-batch, sysvi-sampling-methods-fail): the card
    says so on each method that hands them on; SCVI's VAE reads both, and DE hands neither on."""
    methods = _card(cards, "scvi.external.SysVI")["methods"]
    assert methods["get_normalized_expression"]["module_ignores"] == [
        ["transform_batch", "SysVAE.generative", "src/scvi/external/sysvi/_module.py:304"],
        ["n_samples", "SysVAE.inference", "src/scvi/external/sysvi/_module.py:287"]]
    assert "module_ignores" not in methods["differential_expression"]
    assert not any("module_ignores" in m
                   for m in _card(cards, "scvi.model.SCVI")["methods"].values())
    text = modelcards.render_card(_card(cards, "scvi.external.SysVI"))
    assert "transform_batch: SysVAE.generative never reads it" in text


def test_a_model_keyword_the_module_s_init_never_reads_is_on_the_card(cards, pinned_tree):
    """RESOLVI hands its **model_kwargs to RESOLVAE, whose __init__ takes latent_distribution
    (marked a placeholder upstream) and never reads it: the card and the pack's model facts
    say so, cited where the parameter is declared. Of the 1.5.1 models only RESOLVI has one."""
    having = {name for name, card in cards["models"].items() if card.get("module_init_ignores")}
    assert having == {"scvi.external.RESOLVI"}
    (keyword, target, where), = _card(cards, "scvi.external.RESOLVI")["module_init_ignores"]
    assert (keyword, target) == ("latent_distribution", "RESOLVAE.__init__")
    path, _, line = where.partition(":")
    declared = (pinned_tree.root / path).read_text(encoding="utf-8").splitlines()[int(line) - 1]
    assert declared.strip().startswith("latent_distribution:") and "placeholder" in declared
    text = modelcards.render_card(_card(cards, "scvi.external.RESOLVI"))
    assert f"model keyword latent_distribution: its module's RESOLVAE.__init__ never reads it  " \
           f"[{where}]" in text
    facts = {text: cite for model, text, cite in card_facts(cards) if model == "RESOLVI"}
    assert facts["RESOLVI(latent_distribution=...) changes nothing: its module's "
                 "RESOLVAE.__init__ takes latent_distribution and never reads it"] == where

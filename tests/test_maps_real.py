"""The maps of the pinned scvi-tools tree: what the committed references must hold."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from scvi_skill.build.refresh import build_refresh, diff_outputs
from scvi_skill.runtime.paths import REFERENCES_DIR, ROUTING_PATH

REPO = Path(__file__).resolve().parent.parent
SEED = REPO.parent / "shared" / "seed" / "scvi-tools-inputs-and-modeling.SKILL.seed.md"
SEED_SOURCE_PATHS = (
    "src/scvi/data/_manager.py", "src/scvi/data/fields/_layer_field.py",
    "src/scvi/model/_scvi.py", "src/scvi/model/_scanvi.py", "src/scvi/model/_totalvi.py",
    "src/scvi/model/_autozi.py", "src/scvi/model/_multivi.py",
    "src/scvi/model/base/_training_mixin.py", "src/scvi/model/base/_differential.py",
    "src/scvi/dataloaders/_custom_dataloaders.py", "src/scvi/train/_config.py",
    "src/scvi/train/_callbacks.py", "src/scvi/external/totalanvi/_model.py",
    "src/scvi/external/sysvi/_model.py",
)
"""Every source path the seed playbook names (it is not shipped, so it is listed here)."""
PACKAGES = ("scvi.model", "scvi.external", "scvi.train", "scvi.data", "scvi.dataloaders",
            "scvi.module", "scvi.nn", "scvi.autotune", "scvi.criticism", "scvi.hub",
            "scvi.utils", "scvi.model.base", "scvi.data.fields", "scvi.distributions")


@pytest.fixture(scope="module")
def result(pinned_tree):
    return build_refresh(pinned_tree, ROUTING_PATH)


@pytest.fixture(scope="module")
def index(result):
    return result.index


def test_committed_maps_are_up_to_date(result):
    """What ``refresh_maps.py --check`` runs in CI (the CLI itself is tested on the mini tree);
    a stale map after a routing.yaml edit means: run python scripts/refresh_maps.py."""
    differing, diff = diff_outputs(result.outputs, REFERENCES_DIR)
    assert differing == [], "\n".join(diff[:60])


def test_refresh_of_the_pinned_tree_is_clean(result, pinned_tree):
    assert result.problems == []
    assert result.warnings == []
    assert result.index["scvi_tools_version"] == pinned_tree.version


def test_every_document_and_the_changelog_are_in_the_doc_map(result, pinned_tree):
    doc_map = result.outputs["doc_map.md"].decode()
    docs = sorted(p.relative_to(pinned_tree.root).as_posix()
                  for p in (pinned_tree.root / "docs").rglob("*.md"))
    assert len(docs) >= 70
    for rel in [*docs, "CHANGELOG.md"]:
        assert f"### {rel}\n" in doc_map, rel
    assert "## Contents" in doc_map  # over 300 lines: a table of contents


def test_sections_start_at_headings(index, pinned_tree):
    for doc in index["docs"]:
        lines = pinned_tree.to_disk(doc["path"]).read_text(encoding="utf-8").splitlines()
        assert doc["n_lines"] == len(lines)
        for section in doc["sections"]:
            heading = lines[section["start"] - 1]
            underline = lines[section["start"]] if section["start"] < len(lines) else ""
            assert heading.lstrip().startswith("#") or set(underline.strip()) in ({"="},
                                                                                 {"-"})
            assert section["start"] <= section["end"] <= doc["n_lines"]


def test_every_customcard_is_a_tutorial(index, pinned_tree):
    cards = sum(pinned_tree.to_disk(d["path"]).read_text(encoding="utf-8").count(
        "```{customcard}") for d in index["docs"])
    assert cards > 50 and len(index["tutorials"]) == cards
    for tutorial in index["tutorials"]:
        assert tutorial["url"].startswith("https://")


def test_api_pages_list_their_autosummary(index):
    user = next(d for d in index["docs"] if d["path"] == "docs/api/user.md")
    assert "scvi.model.SCVI" in user["autosummary"]
    assert "scvi.external.TOTALANVI" in user["autosummary"]
    changelog = next(d for d in index["docs"] if d["path"] == "docs/changelog.md")
    assert changelog["includes"] == ["CHANGELOG.md"]


def test_seed_source_paths_are_in_the_source_map(result):
    source_map = result.outputs["source_map.md"].decode()
    paths = set(SEED_SOURCE_PATHS)
    if SEED.is_file():
        paths |= set(re.findall(r"src/scvi/[\w/]+\.py", SEED.read_text()))
    for path in sorted(paths):
        assert f"`{path}:" in source_map, path


@pytest.mark.parametrize("name, target", [
    ("scvi.model.SCVI", "scvi.model._scvi.SCVI"),
    ("scvi.external.TOTALANVI", "scvi.external.totalanvi._model.TOTALANVI"),
    ("scvi.train.TrainerConfig", "scvi.train._config.TrainerConfig"),
    ("scvi.data.synthetic_iid", "scvi.data._datasets.synthetic_iid"),
    ("scvi.settings", "scvi._settings.settings"),
    ("scvi.dataloaders.MappedCollectionDataModule",
     "scvi.dataloaders._custom_dataloaders.MappedCollectionDataModule"),
    ("scvi.autotune.run_autotune", "scvi.autotune._tune.run_autotune"),
    ("scvi.model.SCANVI.load_query_data",
     "scvi.model.base._archesmixin.ArchesMixin.load_query_data"),
    ("scvi.model.base.BaseModelClass.convert_legacy_save",
     "scvi.model.base._base_model.BaseModelClass.convert_legacy_save"),
])
def test_required_namespaces(index, name, target):
    assert index["namespaces"][name] == target
    assert any(s["qualname"] == target for s in index["symbols"])


def test_config_dataclasses_record_fields_as_params(index):
    by = {s["qualname"]: s for s in index["symbols"]}
    trainer = by["scvi.train._config.TrainerConfig"]
    names = [p["name"] for p in trainer["params"]]
    assert {"max_epochs", "early_stopping", "early_stopping_patience"} <= set(names)
    plan = by["scvi.train._config.TrainingPlanConfig"]
    assert {"lr", "weight_decay", "n_epochs_kl_warmup"} <= {p["name"] for p in plan["params"]}


def test_routing_targets_are_in_the_index(index):
    doc_paths = {d["path"] for d in index["docs"]}
    for topic in index["routing"]["topics"]:
        assert set(topic.get("docs") or []) <= doc_paths, topic["id"]
        for name in topic.get("symbols") or []:
            assert name in index["namespaces"], name


def test_committed_index_matches_format(pinned_tree):
    index = json.loads((REFERENCES_DIR / "index.json").read_text(encoding="utf-8"))
    assert next(iter(index)) == "_generated" and index["format"] == 1
    assert index["scvi_tools_version"] == pinned_tree.version


@pytest.mark.slow
def test_namespaces_and_params_agree_with_the_imported_package(index, pinned_tree):
    """Oracle: the installed scvi-tools (same version) imported for real."""
    scvi = pytest.importorskip("scvi")
    if scvi.__version__ != pinned_tree.version:
        pytest.skip(f"installed scvi-tools {scvi.__version__} is not the pinned tree")
    import importlib

    namespaces = index["namespaces"]
    by = {s["qualname"]: s for s in index["symbols"]}
    wrong: list[str] = []
    checked = 0
    for package in PACKAGES:
        module = importlib.import_module(package)
        if hasattr(module, "_AUTOTUNE_IMPORT_ERROR"):
            continue  # optional dependencies missing: the package serves stand-in stubs
        for name in module.__all__:
            obj = getattr(module, name)
            public = f"{package}.{name}"
            if public not in namespaces:
                wrong.append(f"{public}: missing")
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if obj.__module__.startswith("scvi"):
                checked += 1
                if namespaces[public] != f"{obj.__module__}.{obj.__qualname__}":
                    wrong.append(f"{public}: {namespaces[public]}")
            symbol = by.get(namespaces[public])
            if symbol is not None and not getattr(obj, "_is_protocol", False):
                wrong += _param_mismatch(symbol, obj.__init__ if inspect.isclass(obj) else obj,
                                         public)
    for name in ("setup_anndata", "train", "get_latent_representation",
                 "differential_expression", "load_query_data"):
        method = getattr(scvi.model.SCANVI, name)
        wrong += _param_mismatch(by[namespaces[f"scvi.model.SCANVI.{name}"]], method, name)
    assert checked > 150
    assert wrong == []


def _param_mismatch(symbol: dict, func, label: str) -> list[str]:
    if not symbol.get("params_known", True) or func is object.__init__:
        return []
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    expected = [p for p in signature.parameters if p not in ("self", "cls")]
    found = [p["name"] for p in symbol["params"]]
    return [] if found == expected else [f"{label}: {found} != {expected}"]


@pytest.mark.network
@pytest.mark.slow
def test_release_report_from_1_4_2(pinned_tree):
    """The README's release-report example: 1.4.2 (fetched like a user would) -> pinned."""
    from scvi_skill.build.release_diff import release_report, render_report
    from scvi_skill.runtime.fetch import fetch_tree
    from scvi_skill.runtime.tree import open_tree

    old = open_tree(fetch_tree("1.4.2", log=lambda *_: None))
    report = release_report(old, pinned_tree, routing_path=ROUTING_PATH)
    assert (report["from"], report["to"]) == ("1.4.2", pinned_tree.version)
    assert "docs/user_guide/models/drvi.md" in report["docs"]["added"]
    assert "scvi.external.DRVI" in {n["name"] for n in report["names"]["added"]}
    assert "scvi.model.JaxSCVI" in {n["name"] for n in report["names"]["removed"]}
    autotune = next(c for c in report["signatures"] if c["name"] == "scvi.autotune.run_autotune")
    assert "local_mode" in autotune["removed"]
    assert report["citations"] == []  # SKILL.md and routing.yaml cite only what 1.5.1 has
    assert "scvi-tools 1.4.2 -> " in render_report(report)

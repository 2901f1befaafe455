"""Symbols and namespaces from ``ast`` (scvi_skill.build.source.sourcemap, pyast, testmap) on small trees."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from scvi_skill.build.docs.docsymbols import SymbolFinder
from scvi_skill.build.mapfiles import ReadLog
from scvi_skill.build.source.pyast import read_module
from scvi_skill.build.source.sourcemap import build_source_map
from scvi_skill.build.source.testmap import references
from scvi_skill.runtime.tree import open_tree

MINI = Path(__file__).parent / "fixtures" / "mini_tree"


@pytest.fixture(scope="module")
def mini():
    return build_source_map(open_tree(MINI), ReadLog())


def test_namespaces_follow_reexports_all_and_lazy_getattr(mini):
    ns = mini.namespaces
    assert ns["scvi.model.SCVI"] == "scvi.model._scvi.SCVI"
    assert ns["scvi.train.TrainerConfig"] == "scvi.train._config.TrainerConfig"
    assert ns["scvi.data.synthetic_iid"] == "scvi.data._datasets.synthetic_iid"
    assert ns["scvi.model.mlxSCVI"] == "scvi.model._mlxscvi.mlxSCVI"  # module __getattr__
    assert ns["scvi.settings"] == "scvi._settings.settings"
    assert ns["scvi.data.read_h5ad"] == "anndata.read_h5ad"  # a re-export from elsewhere
    assert ns["scvi.data.fields"] == "scvi.data.fields"  # packages are names too


def test_except_branch_never_replaces_the_real_import(mini):
    assert mini.namespaces["scvi.autotune.run_autotune"] == "scvi.autotune._tune.run_autotune"


def test_members_resolve_through_the_mro_and_instances(mini):
    ns = mini.namespaces
    assert ns["scvi.model.SCVI.train"] == \
        "scvi.model.base._training_mixin.UnsupervisedTrainingMixin.train"
    assert ns["scvi.model.SCVI.setup_anndata"] == "scvi.model._scvi.SCVI.setup_anndata"
    assert ns["scvi.settings.seed"] == "scvi._settings.ScviConfig.seed"
    assert "scvi.model.SCVI._private_helper" not in ns


def test_class_params_come_from_init_or_dataclass_fields(mini):
    by = mini.by_qualname
    scvi_cls = by["scvi.model._scvi.SCVI"]
    assert [p["name"] for p in scvi_cls["params"]] == ["adata", "n_latent", "kwargs"]
    assert scvi_cls["var_kwargs"] is True and scvi_cls["params_known"] is True
    config = by["scvi.train._config.TrainerConfig"]
    assert [p["name"] for p in config["params"]] == ["max_epochs", "early_stopping",
                                                     "extra_kwargs"]
    assert config["params"][0]["default"] == "400"
    assert config["var_kwargs"] is False
    plan = by["scvi.train._trainingplans.TrainingPlan"]
    assert plan["params_known"] is False and plan["params"] == []


def test_method_entries(mini):
    by = mini.by_qualname
    setup = by["scvi.model._scvi.SCVI.setup_anndata"]
    assert setup["templated"] is True and setup["summary"] == "%(summary)s."
    assert setup["decorators"] == ["classmethod", "setup_anndata_dsp.dedent"]
    assert setup["signature"].startswith("(cls, adata, layer=None")
    assert [p["name"] for p in setup["params"]] == ["adata", "layer", "batch_key", "kwargs"]
    assert setup["params"][-1]["kind"] == "VAR_KEYWORD" and setup["var_kwargs"] is True
    assert setup["registers"] == ["scvi.data.fields.LayerField"]
    fetch = by["scvi.model._scvi.SCVI.fetch_remote"]
    assert fetch["async"] is True
    assert [(p["name"], p["kind"]) for p in fetch["params"]] == [
        ("url", "POSITIONAL_OR_KEYWORD"), ("timeout", "KEYWORD_ONLY")]
    load = by["scvi.model.base._base_model.BaseModelClass.load"]
    assert load["signature"] == "(cls, dir_path, adata=None, /, accelerator='auto')"
    assert load["params"][0]["kind"] == "POSITIONAL_ONLY"
    assert by["scvi._settings.ScviConfig.seed"]["kind"] == "property"


def test_private_symbols_only_when_a_public_name_reaches_them(mini):
    qualnames = set(mini.by_qualname)
    assert "scvi.model._scvi.SCVI._private_helper" not in qualnames
    assert "scvi.model.base._base_model._Registry" not in qualnames
    assert "scvi.utils._docstrings._Processor.dedent" in qualnames  # via setup_anndata_dsp


def test_symbol_lines_and_public_names(mini):
    symbol = mini.by_qualname["scvi.model._scvi.SCVI"]
    source = (MINI / symbol["path"]).read_text().splitlines()
    assert source[symbol["line"] - 1].startswith("class SCVI(")
    assert symbol["end"] >= symbol["line"]
    assert symbol["public"] == ["scvi.model.SCVI"]
    train = mini.by_qualname["scvi.model.base._training_mixin.UnsupervisedTrainingMixin.train"]
    assert train["public"] == ["scvi.model.base.UnsupervisedTrainingMixin.train"]


def test_every_namespace_value_is_a_symbol_package_or_reexport(mini):
    for name, target in mini.namespaces.items():
        assert target in mini.by_qualname or target == name or not target.startswith("scvi"), \
            name


def test_syntax_error_and_non_utf8_are_problems(tmp_path):
    tree_dir = tmp_path / "tree"
    shutil.copytree(MINI, tree_dir)
    (tree_dir / "src/scvi/model/_broken.py").write_text("def broken(:\n    pass\n")
    (tree_dir / "src/scvi/model/_latin1.py").write_bytes(b"x = 1\n# caf\xe9\n")
    result = build_source_map(open_tree(tree_dir), ReadLog())
    found = {(p.path, p.line): p.message for p in result.problems}
    assert "syntax error" in found[("src/scvi/model/_broken.py", 1)]
    assert "not UTF-8" in found[("src/scvi/model/_latin1.py", 2)]
    assert "scvi.model.SCVI" in result.namespaces  # the other files are still mapped


def test_read_module_relative_imports_and_all_extension():
    info = read_module("scvi.pkg", "src/scvi/pkg/__init__.py", textwrap.dedent("""\
        from . import sub
        from ..other import thing as alias
        import numpy as np
        __all__ = ["sub"]
        __all__ += ["alias"]
        """), is_package=True)
    assert info.all_names == ["sub", "alias"]
    assert (info.bindings["alias"].target, info.bindings["alias"].name) == ("scvi.other",
                                                                            "thing")
    assert info.bindings["sub"].target == "scvi.pkg"
    assert info.bindings["np"].kind == "module"


def test_test_references_resolve_imports_and_attribute_chains(mini):
    finder = SymbolFinder(mini.namespaces, {
        p: mini.by_qualname[q]["kind"] for p, q in mini.namespaces.items()
        if q in mini.by_qualname})
    refs = references(textwrap.dedent("""\
        import scvi
        from scvi.model import SCVI as Model

        def test_one():
            Model.setup_anndata(adata)
            scvi.train.TrainerConfig(max_epochs=1).unknown_attr

        def helper():
            return scvi.model.SCVI.not_a_member
        """), "tests/test_x.py", finder)
    assert refs.n_tests == 1
    assert set(refs.counts) == {"scvi.model.SCVI", "scvi.model.SCVI.setup_anndata",
                                "scvi.train.TrainerConfig"}


def test_model_classes_record_module_plan_and_mixins(mini):
    scvi = mini.by_qualname["scvi.model._scvi.SCVI"]
    assert scvi["uses"] == {
        "module": "scvi.module._vae.VAE",  # its own _module_cls
        "training_plan": "scvi.train._trainingplans.TrainingPlan",  # from its training mixin
    }
    assert scvi["mro"] == ["scvi.model.base._training_mixin.UnsupervisedTrainingMixin",
                           "scvi.model.base._base_model.BaseModelClass"]
    assert mini.by_qualname["scvi.module._vae.VAE"]["uses"] == {}


def test_hook_assigned_in_init_is_read():
    info = read_module("scvi.model._p", "src/scvi/model/_p.py", textwrap.dedent("""\
        class P(Base):
            _module_cls = A

            def __init__(self, adata):
                self._module_cls = B
                self._training_plan_cls = Plan
                self.other = C
        """), is_package=False)
    # What __init__ assigns replaces the class attribute at run time.
    assert info.classes["scvi.model._p.P"]["hooks"] == {"_module_cls": "B",
                                                         "_training_plan_cls": "Plan"}


def test_a_class_with_its_own_new_takes_the_keywords_of_new_too(tmp_path):
    """MRVI of 1.4.0-1.4.3 is a factory: ``__new__(cls, adata=None, *, backend="jax",
    registry=None, **model_kwargs)`` over an inherited ``__init__(adata)``. Calling the class
    passes the keywords to both, so its parameters are the two merged (a false alarm of
    check_code.py on MRVI(adata, backend="jax") before)."""
    tree_dir = tmp_path / "tree"
    shutil.copytree(MINI, tree_dir)
    (tree_dir / "src/scvi/model/_factory.py").write_text(textwrap.dedent("""\
        class Base:
            def __init__(self, adata=None):
                self.adata = adata


        class Factory(Base):
            def __new__(cls, adata=None, *, backend="jax", registry=None, **model_kwargs):
                return Base(adata)


        class Plain(Base):
            pass
        """))
    by = build_source_map(open_tree(tree_dir), ReadLog()).by_qualname
    factory = by["scvi.model._factory.Factory"]
    assert [p["name"] for p in factory["params"]] == ["adata", "backend", "registry",
                                                      "model_kwargs"]
    assert factory["var_kwargs"] is True
    assert factory["signature"] == "(adata=None, *, backend='jax', registry=None, " \
        "**model_kwargs)"
    plain = by["scvi.model._factory.Plain"]
    assert [p["name"] for p in plain["params"]] == ["adata"] and plain["var_kwargs"] is False

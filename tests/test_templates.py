"""Docstring templates (``%(param_batch_key)s``) resolved through a tree's imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from scvi_skill.runtime.templates import Templates

DOCSTRINGS = '''from docrep import DocstringProcessor

summary = """\\
Sets up the AnnData object for this model."""

param_batch_key = """\\
batch_key
    key in `adata.obs` for batch information."""

param_layer = """layer
    if not `None`, uses this as the key in `adata.layers` for raw count data."""

one_line = """no entry here"""

setup_anndata_dsp = DocstringProcessor(summary=summary, param_batch_key=param_batch_key)
'''


def _tree(root: Path, prefix: str) -> Templates:
    pkg = root / prefix / "scvi"
    (pkg / "utils").mkdir(parents=True)
    (pkg / "model").mkdir()
    (pkg / "utils" / "_docstrings.py").write_text(DOCSTRINGS, encoding="utf-8")
    (pkg / "utils" / "__init__.py").write_text(
        "from ._docstrings import setup_anndata_dsp\n", encoding="utf-8")
    (pkg / "model" / "_direct.py").write_text(
        "from scvi.utils._docstrings import setup_anndata_dsp\n", encoding="utf-8")
    (pkg / "model" / "_reexport.py").write_text(
        "from scvi.utils import setup_anndata_dsp, track\n", encoding="utf-8")
    (pkg / "model" / "_none.py").write_text("import numpy as np\n", encoding="utf-8")
    (pkg / "utils" / "_relative.py").write_text(
        "from ._docstrings import setup_anndata_dsp\n", encoding="utf-8")

    def read(rel: str) -> list[str]:
        path = root / rel
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    return Templates(read)


@pytest.mark.parametrize("prefix", ["src", ""], ids=["src-layout", "flat-sdist"])
@pytest.mark.parametrize("module", ["model/_direct.py", "model/_reexport.py", "utils/_relative.py"])
def test_a_template_is_found_through_the_files_imports(tmp_path, prefix, module):
    templates = _tree(tmp_path, prefix)
    base = f"{prefix}/scvi" if prefix else "scvi"
    found = templates.resolve(f"{base}/{module}", "param_batch_key")
    assert found is not None
    assert found.name == "batch_key"
    assert found.path == f"{base}/utils/_docstrings.py"
    assert (found.first, found.last) == (7, 8)
    assert found.lines == ["batch_key", '    key in `adata.obs` for batch information."""']


def test_a_template_opening_on_its_own_line_starts_there(tmp_path):
    templates = _tree(tmp_path, "src")
    found = templates.resolve("src/scvi/model/_direct.py", "param_layer")
    assert found is not None and found.name == "layer"
    assert (found.first, found.last) == (10, 11)


@pytest.mark.parametrize("key", ["summary", "one_line", "setup_anndata_dsp", "param_missing"])
def test_what_is_not_a_parameter_entry_resolves_to_nothing(tmp_path, key):
    assert _tree(tmp_path, "src").resolve("src/scvi/model/_direct.py", key) is None


def test_a_file_that_imports_no_processor_has_no_templates(tmp_path):
    templates = _tree(tmp_path, "src")
    assert templates.resolve("src/scvi/model/_none.py", "param_batch_key") is None
    assert templates.resolve("src/scvi/model/_absent.py", "param_batch_key") is None


def test_the_real_tree_resolves_its_shared_entries(pinned_tree):
    root = pinned_tree.root

    def read(rel: str) -> list[str]:
        path = root / rel
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    templates = Templates(read)
    for path, key, name in [("src/scvi/model/_totalvi.py", "param_accelerator", "accelerator"),
                            ("src/scvi/model/_scvi.py", "param_batch_key", "batch_key"),
                            ("src/scvi/model/base/_rnamixin.py", "de_batch_correction",
                             "batch_correction")]:
        found = templates.resolve(path, key)
        assert found is not None and found.name == name, (path, key)
        lines = read(found.path)
        assert lines[found.first - 1].strip() == name
        assert f"%({key})s" in "\n".join(read(path))

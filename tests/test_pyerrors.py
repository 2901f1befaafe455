"""Python's own error messages (no scvi-tools raise holds them): the lines that read what they
name (scvi_skill.runtime.pyerrors), and the pack's part that shows them."""

from __future__ import annotations

import resolve_docs
from scvi_skill.runtime.pyerrors import (access_sites, missing_on_object, named_accesses,
                                         own_values, quick_check, user_key_error)
from scvi_skill.runtime.tokens import tokenize

FILES = {
    "src/scvi/m/_module.py": [
        "def generative(self, y):",
        "    if self.dispersion == 'gene-label':",
        "        px_r = one_hot(y.type.squeeze(-1), self.n_labels)",
        "    return px_r",
        "def other(self, x):",
        "    return x.squeeze()",
    ],
    "src/scvi/m/_model.py": [
        "from ._constants import _SETUP_METHOD_NAME",
        "def load_query_data(cls, registry):",
        "    name = registry.get(_SETUP_METHOD_NAME, 'setup_anndata')",
        "def train(self, registry):",
        "    if registry[_SETUP_METHOD_NAME] == 'setup_mudata':",
        "        pass",
    ],
    "src/scvi/_constants.py": ['_SETUP_METHOD_NAME = "setup_method_name"'],
}


def _lines(rel):
    return FILES.get(rel, [])


def test_named_accesses_reads_attributes_and_keys_but_not_scvi_names_or_messages():
    question = ("train fails: AttributeError: 'builtin_function_or_method' object has no "
                "attribute 'squeeze'; before: AttributeError: module 'scvi' has no attribute "
                "'setup_anndata'; and KeyError: 'setup_method_name' and KeyError: \"Values "
                "['TMSB4Y'] are not valid obs names\"")
    accesses = named_accesses(question, {"scvi", "setup_anndata", "model"})
    assert [(a.kind, a.name) for a in accesses] == [("attribute", "squeeze"),
                                                     ("key", "setup_method_name")]
    assert quick_check(question) and not quick_check("my loss is NaN")
    # On None, a name scvi-tools defines is one its own code reads from a value never set.
    accesses = named_accesses("AttributeError: 'NoneType' object has no attribute "
                              "'get_state_registry'", {"get_state_registry"})
    assert [(a.kind, a.name) for a in accesses] == [("attribute", "get_state_registry")]
    assert not named_accesses("AttributeError: 'AnnData' object has no attribute "
                              "'get_state_registry'", {"get_state_registry"})
    # A key the user's own call passes is about their data, not a line of scvi-tools.
    assert not named_accesses("setup_anndata(adata, labels_key=\"cell_type\") raises "
                              "KeyError: 'cell_type'", set())
    assert user_key_error("labels_key = 'cell_type' ... KeyError: 'cell_type'") == (
        "cell_type", "labels_key = 'cell_type'")
    assert own_values("f(a='x', b = \"y\", a='z')") == {"x": "a='x'", "y": 'b = "y"', "z": "a='z'"}
    assert missing_on_object("'AnnData' object has no attribute 'Setup_AnnData'",
                             {"setup_anndata"}) == ("AnnData", "Setup_AnnData")
    assert missing_on_object("'NoneType' object has no attribute 'setup_anndata'",
                             {"setup_anndata"}) is None


def test_access_sites_ranks_by_the_question_s_words_and_follows_constants():
    weights = {"dispersion": 3.0, "gene": 1.0, "label": 1.0, "labels": 1.0, "squeeze": 0.5}
    sites = access_sites(named_accesses("has no attribute 'squeeze'", set()),
                         ["src/scvi/m/_module.py"], _lines, weights, tokenize)
    assert [(s["path"], s["line"]) for s in sites] == [("src/scvi/m/_module.py", 3)]
    # A key held by a constant of a _constants.py file; the .get with a default is marked.
    sites = access_sites(named_accesses("KeyError: 'setup_method_name'", set()),
                         ["src/scvi/m/_model.py"], _lines, {"query": 2.0, "load": 2.0},
                         tokenize, constant_files=["src/scvi/_constants.py"])
    assert [(s["line"], s["safe"]) for s in sites] == [(3, True), (5, False)]


def test_the_pack_shows_the_line_python_s_message_names(capsys, pinned_tree):
    """Sanity question written for this test: GIMVI's gene-label dispersion reads
    ``y.type.squeeze`` (a method, not the tensor), the line Python's message names."""
    question = ("GIMVI with dispersion='gene-label' stops in training with AttributeError: "
                "'builtin_function_or_method' object has no attribute 'squeeze'. Why?")
    code = resolve_docs.main(["--tree", str(pinned_tree.root), question])
    out = capsys.readouterr().out
    assert code == 0
    assert "(error text) Python's own message" in out
    assert "dependency (torch, lightning" not in out
    part = out.split("== where Python's error arises", 1)[1]
    assert "src/scvi/external/gimvi/_module.py:" in part.splitlines()[1]
    assert "y.type.squeeze(-1)" in part
    code = resolve_docs.main(["--json", "--tree", str(pinned_tree.root), question])
    import json

    report = json.loads(capsys.readouterr().out)
    site = report["access_sites"][0]
    assert site["path"] == "src/scvi/external/gimvi/_module.py" and site["name"] == "squeeze"
    assert any("y.type.squeeze(-1)" in line for line in site["text"])
    first = report["ranges"][0]
    assert first["path"] == "src/scvi/external/gimvi/_module.py" and first["kind"] == "raise"


def test_constants_files_follow_no_symlink(tmp_path):
    """A link loop inside a user's tree does not trap the search, and a link that leads out of
    the tree is not read."""
    import os

    from scvi_skill.runtime.pack import _constants_files, _Reader
    from scvi_skill.runtime.tree import open_tree

    root = tmp_path / "tree"
    (root / "src" / "scvi" / "data").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "src" / "scvi" / "__init__.py").write_text("")
    (root / "src" / "scvi" / "data" / "_constants.py").write_text('_KEY = "key"\n')
    (root / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: scvi-tools\nVersion: 9.9.9\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "_constants.py").write_text('_OTHER = "key"\n')
    os.symlink(root / "src" / "scvi", root / "src" / "scvi" / "data" / "loop")
    os.symlink(outside, root / "src" / "scvi" / "elsewhere")
    assert _constants_files(_Reader(open_tree(root))) == ["src/scvi/data/_constants.py"]


def test_a_paste_of_many_python_errors_is_read_only_at_its_start():
    """Hundreds of KeyErrors and AttributeErrors in one paste: only the first few are looked
    up, and only the question's first MAX_CHARS characters are read (such a paste had taken
    3.7 s: every key was matched against the whole paste)."""
    from scvi_skill.runtime import pyerrors

    attrs = " ".join(f"'NoneType' object has no attribute 'attr{i}'" for i in range(2000))
    assert [a.name for a in named_accesses(attrs, set())] == ["attr0", "attr1", "attr2"]
    late = "x" * pyerrors.MAX_CHARS + " f(k='late') KeyError: 'late'"
    assert user_key_error(late) is None and own_values(late) == {}
    assert missing_on_object("x" * pyerrors.MAX_CHARS + " 'AnnData' object has no attribute "
                             "'train'", {"train"}) is None


def test_python_s_message_patterns_are_linear_on_long_runs():
    """The patterns for Python's own messages once scanned a long run of letters from every
    letter (50,000 letters after "TypeError: " took 9 s). Run in a child with a timeout far
    above the linear time, on a million characters each."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.path.insert(0, 'scripts');"
            "from scvi_skill.runtime import pyerrors;"
            "runs = ['TypeError: ' + 'a' * 10**6, chr(39) + 'a' * 10**6,"
            "        'has no attribute ' + chr(39) + 'a' * 10**6, 'x' * 10**6 + '='];"
            "[(pyerrors._UNEXPECTED_KEYWORD.search(q), pyerrors._MISSING_ARGUMENT.search(q),"
            "  pyerrors._ATTRIBUTE.search(q), pyerrors._PASSED.search(q)) for q in runs];"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "ok", done.stderr


def test_a_docstring_example_is_not_where_the_error_arises():
    files = {"src/scvi/m/_doc.py": [
        "class Model:",
        '    """A model.',
        "",
        "    >>> adata.obsm['protein_expression']",
        '    """',
        "    def setup(self, adata):",
        "        return adata.obsm['protein_expression']",
    ]}
    [access] = named_accesses("AttributeError: 'AnnData' object has no attribute 'obsm'", set())
    sites = access_sites([access], list(files), files.get, {"protein": 1.0}, tokenize)
    assert [site["line"] for site in sites] == [7]

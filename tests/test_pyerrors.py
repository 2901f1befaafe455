"""Python's own error messages (no scvi-tools raise holds them): the lines that read what they
name (scvi_skill.runtime.pyerrors), and the pack's part that shows them."""

from __future__ import annotations

import pytest
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


PASSING = '''
import torch


class Model:
    def train(self, max_epochs=1, device="auto", **trainer_kwargs):
        runner = Runner(self, max_epochs=max_epochs, devices=device,
                        **trainer_kwargs)
        return runner

    def fit(self, devices=1, **kwargs):
        return Runner(self, devices=devices, **kwargs)

    def plain(self, **kwargs):
        return Runner(self, devices=1)

    def build(self, n_layers=1, extra_kwargs=None, **kwargs):
        return Encoder(n_layers=n_layers, **(extra_kwargs or {}))

    built = Runner(devices=1, **{})


def helper(x, **kwargs):
    def inner(**more):
        return make(layer=x, **more)
    return inner
'''


def test_module_passes_records_keywords_a_caller_s_mapping_can_bring_again():
    """A keyword passed by name beside **mapping inside a def without a parameter of that
    name is a row (train's devices, inner's layer); not where the def takes the keyword
    (fit), not without a mapping (plain), not outside a def (a class body)."""
    from scvi_skill.build.source.messages import PASS_FIELDS, module_passes

    rows = [dict(zip(PASS_FIELDS, row)) for row in module_passes("src/scvi/m.py", PASSING)]
    assert [(r["function"], r["keyword"], r["own"]) for r in rows] == [
        ("Model.train", "devices", True), ("Model.build", "n_layers", False),
        ("helper.inner", "layer", True)]  # max_epochs: train's own
    train = rows[0]
    assert (train["line"], train["end"], train["keyword_line"]) == (7, 8, 7)
    assert (train["callee"], train["value"], train["mapping"]) == (
        "Runner", "device", "trainer_kwargs")
    # A dict the def is given collides with every keyword passed by name, its own too.
    assert (rows[1]["value"], rows[1]["mapping"]) == ("n_layers", "extra_kwargs or {}")


def test_a_keyword_passed_twice_finds_the_call_that_passes_it(capsys, pinned_tree):
    """Python's "f() got multiple values for keyword argument 'k'" (no scvi-tools raise holds
    it): the pack shows the call that passes k by name beside the caller's **mapping (the
    Pyro train's devices=device), first in the JSON ranges; the callee named like f ranks
    first among several (FCLayers' dropout_rate)."""
    from scvi_skill.runtime.messages import load_messages
    from scvi_skill.runtime.pyerrors import passed_twice, twice_sites

    question = ("AmortizedLDA.train(accelerator='gpu', devices=1) fails with TypeError: "
                "TrainRunner.__init__() got multiple values for keyword argument 'devices'")
    assert passed_twice(question) == ("TrainRunner.__init__", "devices")
    assert passed_twice("got an unexpected keyword argument 'devices'") is None
    code = resolve_docs.main(["--tree", str(pinned_tree.root), question])
    out = capsys.readouterr().out
    assert code == 0 and "passes devices by name and again from **trainer_kwargs" in out
    part = out.split("== where Python's error arises", 1)[1]
    assert part.startswith(" (the call passing the keyword twice)")
    assert part.splitlines()[1].startswith("src/scvi/model/base/_pyromixin.py:")
    assert "devices=device," in part and "**trainer_kwargs," in part
    code = resolve_docs.main(["--json", "--tree", str(pinned_tree.root), question])
    import json

    report = json.loads(capsys.readouterr().out)
    first = report["ranges"][0]
    lines = (pinned_tree.root / first["path"]).read_text(encoding="utf-8").splitlines()
    assert first["path"] == "src/scvi/model/base/_pyromixin.py"
    assert "devices=device," in "\n".join(lines[first["lines"][0] - 1 : first["lines"][1]])
    passes = load_messages().passes
    sites = twice_sites("scvi.nn.FCLayers", "dropout_rate", passes,
                        "my DecoderSCVI dropout", tokenize)
    assert len([p for p in passes if p["keyword"] == "dropout_rate"]) > 2
    assert sites[0]["callee"] == "FCLayers" and sites[0]["function"] == "DecoderSCVI.__init__"


@pytest.mark.examples
def test_a_keyword_the_index_says_is_passed_twice_raises_python_s_typeerror():
    """The index's row is the error scvi-tools gives: AmortizedLDA's train (the Pyro mixin)
    takes ``device``, passes ``devices=device`` beside ``**trainer_kwargs``, so ``devices=1``
    raises "got multiple values for keyword argument 'devices'"; ``device=`` trains."""
    import warnings

    scvi = pytest.importorskip("scvi")
    from scvi.data import synthetic_iid

    from scvi_skill.runtime.messages import load_messages

    row = next(p for p in load_messages().passes
               if p["function"] == "PyroSviTrainMixin.train" and p["keyword"] == "devices")
    assert row["value"] == "device" and row["mapping"] == "trainer_kwargs"
    adata = synthetic_iid(batch_size=20, n_genes=10, n_proteins=0, n_regions=0)
    scvi.model.AmortizedLDA.setup_anndata(adata)
    model = scvi.model.AmortizedLDA(adata, n_topics=2, n_hidden=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match="got multiple values for keyword argument 'devices'"):
            model.train(max_epochs=1, accelerator="cpu", devices=1)
        model.train(max_epochs=1, accelerator="cpu", device=1, enable_progress_bar=False)
    assert model.is_trained_


def test_twice_sites_rank_the_callee_named_like_the_function_then_the_question_s_words():
    """Among calls passing the keyword, a callee named like the function that raised (a
    class hook ``_train_runner_cls`` for ``TrainRunner``, underscores aside) comes first, then
    the one whose def the question's words name; other keywords never."""
    from scvi_skill.runtime.pyerrors import twice_sites

    def row(callee, function, keyword="devices"):
        return {"path": "src/scvi/x.py", "line": 1, "end": 3, "keyword_line": 2,
                "callee": callee, "keyword": keyword, "value": "device",
                "mapping": "kwargs", "own": True, "function": function}

    passes = [row("Other", "Model.fit"), row("Other", "Model.train"),
              row("self._train_runner_cls", "Mixin.setup"), row("TrainRunner", "A.b", "seed")]
    sites = twice_sites("TrainRunner.__init__", "devices", passes, "when I train", tokenize)
    assert [s["function"] for s in sites] == ["Mixin.setup", "Model.train"]
    assert sites[0]["message"] == ("Mixin.setup passes devices=device to "
                                   "self._train_runner_cls() beside **kwargs, and takes no "
                                   "devices itself")


def test_the_message_index_knows_each_model_s_module_and_its_bases():
    """module_classes: a class's ``_module_cls = X`` or its ``self.module = X(...)``, with
    X's bases defined in the package (the chain a keyword passed twice is searched along)."""
    import ast

    from scvi_skill.build.source.messages import class_bases, module_classes
    from scvi_skill.runtime.messages import load_messages

    tree = ast.parse("class M:\n    _module_cls = VAE\nclass S:\n    def __init__(self):\n"
                     "        self.module = SysVAE(1)\nclass VAE(Base, mixins.X):\n    pass\n")
    assert module_classes(tree) == {"M": "VAE", "S": "SysVAE"}
    assert class_bases(tree)["VAE"] == ["Base"]
    classes = load_messages().module_classes
    assert classes["SCVI"][0] == "VAE" and classes["SysVI"][:2] == ["SysVAE", "BaseModuleClass"]
    assert classes["SCANVI"][:3] == ["SCANVAE", "SupervisedModuleClass", "VAE"]


def test_a_dict_of_extra_keywords_that_repeats_one_finds_the_named_model_s_call(capsys,
                                                                                 pinned_tree):
    """extra_encoder_kwargs={"n_layers": 3} meets the encoder's own n_layers: among the many
    Encoder calls that spread such a dict, the pack shows SCVI's module's (VAE), as a dict
    that may hold the keyword (VAE takes n_layers itself)."""
    question = ("scvi.model.SCVI(adata, extra_encoder_kwargs={'n_layers': 3}) raises TypeError: "
                "scvi.nn._base_components.Encoder() got multiple values for keyword argument "
                "'n_layers'")
    code = resolve_docs.main(["--tree", str(pinned_tree.root), question])
    out = capsys.readouterr().out
    assert code == 0
    part = out.split("== where Python's error arises", 1)[1]
    assert part.splitlines()[1].startswith("src/scvi/module/_vae.py:")
    assert "beside **_extra_encoder_kwargs, which may hold n_layers too" in part
    assert "n_layers=n_layers," in part

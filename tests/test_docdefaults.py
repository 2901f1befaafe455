"""A docstring's stated default against its signature's: the reader, and what the pack and
``search_source.py --kwarg`` say on the pinned tree."""

from __future__ import annotations

import json
import subprocess

import pytest
import resolve_docs
import search_source
from scvi_skill.runtime import pack
from scvi_skill.runtime.docdefaults import conflict, signature_default, stated_default


@pytest.mark.parametrize(("text", "stated"), [
    ("Minibatch size. Defaults to `scvi.settings.batch_size`.", "scvi.settings.batch_size"),
    ("Minimum returned threshold value, defaults to 0.3", "0.3"),
    ("Range for clipping log fold change values, by default (0, 1)", "(0, 1)"),
    ("Number of samples, by default\n500", "500"),
    ("If True, disables the progress bar. Default: False.", "False"),
    ("Likelihood (``\"normal\"`` or ``\"beta\"``). Default: ``\"normal\"``.", '"normal"'),
    # a condition, two defaults, or a word after "default": no claim
    ("If `None`, defaults to `\"uniform\"`.", None),
    ("If `n_samples=1`, defaults to `False`. Otherwise, it defaults to `True`.", None),
    ("defaults to 0.3 here and defaults to 0.5 there", None),
    ("Reduce learning rate on plateau of validation metric (default is ELBO).", None),
    ("By default, all cells are used.", None),
    ("Defaults to `a\x00b`.", None),  # not a value
    ("Whether to use the default latent (default case).", None),
])
def test_stated_default(text, stated):
    assert stated_default(text) == stated


@pytest.mark.parametrize(("stated", "code", "expected"), [
    ("0.3", "0.1", True),
    ("1e-8", "1e-6", True),
    ("False", "True", True),
    ("scvi.settings.batch_size", "128", True),
    ("np.min([round((20000 / n_cells) * 400), 400])", "200", True),
    ("1e-3", "0.001", False),
    ("10", "10.0", False),
    ("(0, 1)", "(0, 1)", False),
    ('"normal"', "'normal'", False),
    ("False", "0", True),  # a bool is not the number it equals
    # a None default is resolved at run time, as the entry then says
    ("scvi.settings.batch_size", "None", False),
    ("1", "None", False),
    # a default the code computes is no literal to contradict
    ("0.3", "DEFAULT_THRES", False),
])
def test_conflict(stated, code, expected):
    assert conflict(stated, code) is expected


@pytest.mark.parametrize(("line", "name", "default"), [
    ("        batch_size: int | None = 128,", "batch_size", "128"),
    ("def estimate_delta(lfc_means: list[np.ndarray], coef=0.6, min_thres=0.1):",
     "min_thres", "0.1"),
    ("    def f(self, a, *, eps: float = 1e-6) -> None:  # note", "eps", "1e-6"),
    ('        weights: Literal["uniform", "importance"] | None = "uniform",', "weights",
     '"uniform"'),
    ("        batch_size: int | None = None,", "batch_size", "None"),
    ("        adata: AnnData,", "adata", None),
    ("        batch_size: int = 128,", "n_samples", None),
    ("        x = (1,", "x", None),  # not a signature
    ("        eps: float = 1e-6\x00,", "eps", None),  # a null byte: no Python
    ("        eps=" + "(" * 5000 + "1" + ")" * 5000 + ",", "eps", None),  # too deep to parse
])
def test_signature_default(line, name, default):
    assert signature_default(line, name) == default


def test_text_that_is_no_python_is_no_default_on_an_older_python(older_python, repo_root):
    """Python 3.10 and 3.11's ``ast`` raise ValueError on a null byte (3.12 a SyntaxError):
    a tree line or docstring holding one states no default there either."""
    probe = ("import sys; sys.path.insert(0, sys.argv[1])\n"
             "from scvi_skill.runtime.docdefaults import conflict, signature_default, "
             "stated_default\n"
             "print(signature_default('  eps: float = 1e-6\\x00,', 'eps'),"
             " stated_default('Defaults to `a\\x00b`.'), conflict('a\\x00', '1'))\n")
    result = subprocess.run([older_python, "-I", "-c", probe, str(repo_root / "scripts")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["None", "None", "False"]


REVIEWED_1_5_1 = {
    # (path, parameter): each read by hand against its entry and signature
    ("src/scvi/external/cytovi/_module.py", "inject_covariates"),  # False vs True
    ("src/scvi/external/cytovi/_module.py", "decoder_param_eps"),  # 1e-8 vs 1e-6
    ("src/scvi/external/poissonvi/_model.py", "batch_size"),  # settings vs 128
    ("src/scvi/external/resolvi/_model.py", "batch_size"),  # settings vs 500
    ("src/scvi/model/_multivi.py", "batch_size"),  # settings vs 128
    ("src/scvi/model/_peakvi.py", "batch_size"),  # settings vs 128
    ("src/scvi/model/_totalvi.py", "batch_size"),  # settings vs 64, two defs
    ("src/scvi/model/base/_differential.py", "min_thres"),  # 0.3 vs 0.1
    ("src/scvi/model/base/_rnamixin.py", "batch_size"),  # settings vs 64, two defs
    # silent=True against the shared de_silent template's "Default: False" (utils/_docstrings.py
    # :68), its closing quotes on that line (read since session 35): ten defs in six files
    ("src/scvi/external/contrastivevi/_model.py", "silent"),
    ("src/scvi/external/mrvi/_model.py", "silent"),
    ("src/scvi/external/resolvi/_utils.py", "silent"),
    ("src/scvi/model/_multivi.py", "silent"),  # two defs
    ("src/scvi/model/_totalvi.py", "silent"),  # three defs
    ("src/scvi/model/base/_rnamixin.py", "silent"),  # two defs
}


def test_every_conflict_in_the_pinned_tree_is_a_reviewed_one(pinned_tree):
    """Each parameter with a default of every def of the pinned release, asked as
    ``--kwarg`` asks: the conflicts found are exactly the ones read by hand."""
    found = pack.tree_default_conflicts(pinned_tree)
    assert {(f["path"], f["param"]) for f in found} == REVIEWED_1_5_1
    assert len(found) == 21
    silent = [f for f in found if f["param"] == "silent"]
    assert len(silent) == 10 and {(f["code"], f["stated"], f["entry"]) for f in silent} == {
        ("True", "False", "src/scvi/utils/_docstrings.py:68")}
    delta = next(f for f in found if f["param"] == "min_thres")
    assert (delta["def"], delta["code"], delta["stated"]) == ("estimate_delta", "0.1", "0.3")
    lines = (pinned_tree.root / delta["path"]).read_text(encoding="utf-8").splitlines()
    assert "min_thres=0.1" in lines[delta["line"] - 1]
    entry = int(delta["entry"].rsplit(":", 1)[1])
    assert "defaults to 0.3" in lines[entry]  # the line below the entry's name


def test_the_pack_says_which_default_runs(capsys, pinned_tree):
    question = "what is the default min_thres of estimate_delta in differential expression"
    argv = ["--tree", str(pinned_tree.root), question]
    assert resolve_docs.main(argv) == 0
    out = capsys.readouterr().out
    entry = out.index("Minimum returned threshold value, defaults to 0.3")
    assert out.index("  ! runs with the signature's 0.1, not the 0.3 this entry states") > entry
    assert resolve_docs.main(["--json", *argv]) == 0
    facts = [s for s in json.loads(capsys.readouterr().out)["source"] if s.get("param") == "min_thres"]
    assert facts[0]["param_default"] == {"code": "0.1", "stated": "0.3"}


def test_an_entry_that_agrees_with_its_signature_says_nothing(capsys, pinned_tree):
    argv = ["--json", "--tree", str(pinned_tree.root),
            "what does n_samples do in SCVI get_normalized_expression"]
    assert resolve_docs.main(argv) == 0
    facts = [s for s in json.loads(capsys.readouterr().out)["source"] if s.get("param")]
    assert facts and not any("param_default" in s for s in facts)


def test_kwarg_marks_the_declaration_whose_docstring_states_another_default(
        capsys, pinned_tree, rg_binary):
    argv = ["--kwarg", "decoder_param_eps", "--tree", str(pinned_tree.root)]
    assert search_source.main(["--json", *argv]) == 0
    report = json.loads(capsys.readouterr().out)
    marked = [r for r in report["results"] if "default_conflict" in r]
    assert [(r["kind"], r["text"].strip()) for r in marked] == [
        ("declared", "decoder_param_eps: float = 1e-6,")]
    path, line = marked[0]["default_conflict"]["entry"].rsplit(":", 1)
    entry = (pinned_tree.root / path).read_text(encoding="utf-8").splitlines()[int(line) - 1]
    assert entry.strip() == "decoder_param_eps"  # the class docstring's entry
    assert search_source.main(argv) == 0
    out = capsys.readouterr().out
    assert "! runs with the signature's 1e-6, not the 1e-8 its docstring states" in out
    assert search_source.main(["--json", "--kwarg", "n_latent", "--tree",
                               str(pinned_tree.root)]) == 0
    assert not any("default_conflict" in r
                   for r in json.loads(capsys.readouterr().out)["results"])

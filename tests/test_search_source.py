"""search_source.py on the pinned tree and on small trees built in tmp_path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import search_source
from scvi_skill.runtime import rg as rg_module


def run(capsys, *argv):
    code = search_source.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv) if "--json" in argv else run(capsys, *argv, "--json")
    return code, (json.loads(out) if out.strip() else None), err


# ------------------------------------------------------------------ pinned tree


@pytest.mark.parametrize(
    ("name", "path", "signature_start"),
    [
        pytest.param("SCVI", "src/scvi/model/_scvi.py", "class SCVI(", id="class"),
        pytest.param(
            "SCVI.setup_anndata", "src/scvi/model/_scvi.py", "def setup_anndata(", id="method"
        ),
        pytest.param("TrainerConfig", "src/scvi/train/_config.py", "class TrainerConfig", id="config"),
        pytest.param(
            "scvi.external.TOTALANVI",
            "src/scvi/external/totalanvi/_model.py",
            "class TOTALANVI(",
            id="dotted-public",
        ),
    ],
)
def test_symbol_definitions(capsys, pinned_tree, rg_binary, name, path, signature_start):
    code, report, _ = run_json(capsys, "--symbol", name, "--tree", str(pinned_tree.root))
    assert code == 0
    first = report["results"][0]
    assert first["path"] == path
    assert first["signature"].startswith(signature_start)
    lines = (pinned_tree.root / path).read_text(encoding="utf-8").splitlines()
    assert signature_start.split("(")[0] in lines[first["line"] - 1]
    assert first["doc"], "docstring start is shown"


def test_symbol_inherited_method(capsys, pinned_tree, rg_binary, tmp_path):
    # Without an index the base classes are read from the class header.
    code, report, _ = run_json(
        capsys, "--symbol", "SCVI.get_latent_representation",
        "--tree", str(pinned_tree.root), "--index", str(tmp_path / "none.json"),
    )
    assert code == 0
    first = report["results"][0]
    assert first["path"] == "src/scvi/model/base/_vaemixin.py"
    assert first["inherited_from"] == "VAEMixin"


def test_symbol_text_mode_is_bounded_and_says_what_next(capsys, pinned_tree, rg_binary):
    code, out, _ = run(capsys, "--symbol", "setup_anndata", "--max", "2", "--tree", str(pinned_tree.root))
    assert code == 0
    assert "more not shown" in out
    assert "next:" in out and "--usages setup_anndata" in out
    assert len(out.splitlines()) < 20


@pytest.mark.parametrize(("name", "close", "path"), [
    ("scvi.model.GIMVI", "scvi.external.GIMVI", "src/scvi/external/gimvi/_model.py"),
    ("CytoVI", "scvi.external.CYTOVI", "src/scvi/external/cytovi/_model.py"),
    ("TotalVI.train", "scvi.model.TOTALVI.train", "src/scvi/model/_totalvi.py"),
])
def test_a_symbol_under_another_module_or_case_gets_the_public_one(capsys, pinned_tree,
                                                                    name, close, path):
    """``scvi.model.GIMVI`` (an external model) or ``CytoVI`` (the class is CYTOVI) found
    nothing and offered ``--tests -- GIMVI``: the agent's next command was a guess. It names
    the public name and shows its definition in the same call (exit 0); the results stay
    empty, for the name asked has none."""
    code, report, _ = run_json(capsys, "--symbol", name, "--tree", str(pinned_tree.root))
    assert code == 0 and report["total"] == 0 and report["results"] == []
    assert report["close"][0] == close
    assert report["close_results"][0]["path"] == path
    code, out, _ = run(capsys, "--symbol", name, "--tree", str(pinned_tree.root))
    assert f"no such name; the index has {close}" in out and path in out
    code, report, _ = run_json(capsys, "--symbol", "NoSuchThingAnywhere", "--tree",
                               str(pinned_tree.root))
    assert code == 1 and "close" not in report


def test_kwarg_declared_first(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(
        capsys, "--kwarg", "early_stopping_patience", "--in", "train", "--tree", str(pinned_tree.root)
    )
    assert code == 0
    kinds = [r["kind"] for r in report["results"]]
    assert kinds[0] == "declared"
    assert kinds == sorted(kinds, key=["declared", "passed", "used"].index)
    assert any(r["path"] == "src/scvi/train/_config.py" for r in report["results"])
    assert all(r["path"].startswith("src/scvi/train/") for r in report["results"])


def test_a_keyword_no_def_takes_points_at_its_history(capsys, pinned_tree, rg_binary):
    """use_gpu went in 1.1: no def of 1.5.1 takes it, and the next command is --history,
    which says the releases that took it (not --help)."""
    code, report, _ = run_json(capsys, "--kwarg", "use_gpu", "--tree", str(pinned_tree.root))
    assert code == 1 and report["results"] == []
    assert report["next"] == [f"{search_source.SCRIPT} --history use_gpu"]


def test_kwarg_user_facing_declarations_first(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(
        capsys, "--kwarg", "transform_batch", "--max", "500", "--tree", str(pinned_tree.root)
    )
    assert code == 0
    declared = [r["path"] for r in report["results"] if r["kind"] == "declared"]
    assert declared[0].startswith("src/scvi/model/")
    first_module = next(i for i, p in enumerate(declared) if p.startswith("src/scvi/module/"))
    assert not any(p.startswith("src/scvi/model/") for p in declared[first_module:])


def test_usages_with_tests_and_cap(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(
        capsys, "--usages", "load_query_data", "--tests", "--max", "5", "--tree", str(pinned_tree.root)
    )
    assert code == 0
    assert report["shown"] == 5 and report["truncated"] and report["total"] > 5
    assert not any("def load_query_data" in r["text"] for r in report["results"])
    code, report, _ = run_json(
        capsys, "--usages", "load_query_data", "--tests", "--max", "500", "--tree", str(pinned_tree.root)
    )
    assert any(r["path"].startswith("tests/") for r in report["results"])


def test_literal_text_with_context(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(
        capsys, "gene_likelihood", "--in", "model", "--context", "1", "--max", "3",
        "--tree", str(pinned_tree.root),
    )
    assert code == 0
    assert all("gene_likelihood" in r["text"] for r in report["results"])
    assert all(r["context"] for r in report["results"])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("$(touch pwned)", id="subshell"),
        pytest.param("`id`; rm -rf /", id="backticks"),
        pytest.param("adata.X[:, 0] (raw)*+?", id="regex-chars"),
        pytest.param("--max-count", id="leading-dash"),
        pytest.param('"quoted" \'single\'', id="quotes"),
        pytest.param("λ-ü 細胞", id="unicode"),
    ],
)
def test_metacharacters_are_literal(capsys, pinned_tree, rg_binary, tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    code, report, err = run_json(capsys, "--tree", str(pinned_tree.root), "--json", "--", text)
    assert time.monotonic() - start < 30
    assert code in (0, 1) and report is not None, err
    assert all(text in r["text"] for r in report["results"])
    assert not (tmp_path / "pwned").exists()


def test_explicit_pattern_is_a_regex(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(
        capsys, "--pattern", r"^class \w+Config\b", "--in", "train", "--tree", str(pinned_tree.root)
    )
    assert code == 0
    assert {"TrainerConfig", "TrainingPlanConfig"} <= {
        r["text"].split()[1].split("(")[0].rstrip(":") for r in report["results"]
    }


@pytest.mark.parametrize("mode", [["--usages", "SCVI"], ["--kwarg", "n_latent"],
                                  ["--symbol", "SCVI"], ["n_latent"], ["--pattern", "n_latent"]])
def test_an_in_glob_narrows_every_mode(capsys, pinned_tree, rg_binary, mode):
    """--in GLOB filters each mode's hits by their path (it had been OR-ed with the Python
    modes' *.py, so a glob that matches nothing changed nothing); a glob with a slash matches
    the path under src/scvi/ or the tree's own path. A glob that matches no file of the tree
    is a usage error (session 43: it read as "0 results")."""
    tree = ["--tree", str(pinned_tree.root)]
    code, report, err = run_json(capsys, *mode, "--in", "*zzznomatch*.py", *tree)
    assert code == 2 and "matches no file of the tree" in err
    for glob in ("model/*.py", "src/scvi/model/*.py", "*/model/_*.py"):
        code, report, err = run_json(capsys, *mode, "--in", glob, *tree)
        assert report is not None, err
        paths = {r["path"] for r in report["results"]}
        assert code == 0 and paths and all(p.startswith("src/scvi/model/") for p in paths), glob
    code, report, _ = run_json(capsys, "--symbol", "SCVI", "--in", "train", *tree)
    assert code == 1  # the index's SCVI is in model/, outside the area


# ------------------------------------------------------------------ bad input


def test_unknown_area_lists_areas(capsys, pinned_tree, rg_binary):
    code, out, err = run(capsys, "--symbol", "SCVI", "--in", "nonsense", "--tree", str(pinned_tree.root))
    assert code == 2 and out == ""
    assert "unknown --in" in err and "model" in err and "train" in err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["   "], id="blank-text"),
        pytest.param([], id="nothing"),
        pytest.param(["--symbol", "SCVI(); rm"], id="symbol-not-a-name"),
        pytest.param(["--kwarg", "a.b"], id="dotted-kwarg"),
        pytest.param(["x" * 100_000], id="100KB"),
        pytest.param(["--usages", "SCVI", "--context", "99"], id="context"),
        pytest.param(["text", "--symbol", "SCVI"], id="two-modes"),
    ],
)
def test_usage_errors_exit_2(capsys, pinned_tree, rg_binary, argv):
    code, out, err = run(capsys, *argv, "--tree", str(pinned_tree.root))
    assert code == 2
    assert out == ""
    assert err.startswith("Error: ") and err.count("Error:") == 1


def test_no_rg_exits_3(capsys, pinned_tree, monkeypatch, tmp_path):
    monkeypatch.delenv(rg_module.RG_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rg_module.sys, "executable", str(tmp_path / "python"))
    code, out, err = run(capsys, "--usages", "SCVI", "--tree", str(pinned_tree.root))
    assert code == 3 and out == ""
    assert "rg" in err and "install" in err.lower()


def test_no_rg_via_env_override_exits_3(capsys, pinned_tree, monkeypatch, tmp_path):
    monkeypatch.setenv(rg_module.RG_ENV, str(tmp_path / "missing"))
    code, _, err = run(capsys, "SCVI", "--tree", str(pinned_tree.root))
    assert code == 3 and "ripgrep" in err


def test_wrong_tree_exits_4(capsys, rg_binary, tmp_path):
    code, out, err = run(capsys, "--symbol", "SCVI", "--tree", str(tmp_path))
    assert code == 4 and out == ""
    assert "not an scvi-tools tree" in err


def test_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        search_source.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out and "3 ripgrep" in out


# ------------------------------------------------------------------ tiny trees


def make_tree(root: Path) -> Path:
    pkg = root / "src" / "scvi"
    (pkg / "model").mkdir(parents=True)
    (root / "docs").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model" / "__init__.py").write_text("from ._base import Base, Child\n")
    (pkg / "model" / "_base.py").write_text(
        "class Base:\n"
        '    """Base model."""\n\n'
        "    def fit(self, n_epochs: int = 3):\n"
        '        """Fit it.\n\n        More text.\n        """\n'
        "        return n_epochs\n\n\n"
        "class Child(\n    Base,\n):\n"
        '    r"""Child model.\n    second line\n    third line\n    fourth line\n    """\n'
    )
    return root


def test_symlink_out_of_tree_is_never_reported(capsys, rg_binary, tmp_path):
    tree = make_tree(tmp_path / "tree")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("class Child:\n    n_epochs = 1\n")
    (tree / "src" / "scvi" / "model" / "linked.py").symlink_to(outside / "secret.py")
    (tree / "src" / "scvi" / "linkdir").symlink_to(outside, target_is_directory=True)
    for argv in (["n_epochs"], ["--symbol", "Child"], ["--kwarg", "n_epochs"], ["--usages", "Child"]):
        code, report, _ = run_json(capsys, *argv, "--tree", str(tree), "--index", str(tmp_path / "no.json"))
        assert report["results"], argv
        for result in report["results"]:
            assert result["path"].startswith("src/scvi/model/"), (argv, result)
            assert "link" not in result["path"], (argv, result)
            assert "secret" not in json.dumps(result)


def test_tiny_tree_inherited_and_docstring(capsys, rg_binary, tmp_path):
    tree = make_tree(tmp_path / "tree")
    code, report, _ = run_json(
        capsys, "--symbol", "scvi.model.Child.fit", "--tree", str(tree), "--index", str(tmp_path / "no.json")
    )
    assert code == 0
    first = report["results"][0]
    assert first["line"] == 4 and first["inherited_from"] == "Base"
    assert first["signature"] == "def fit(self, n_epochs: int = 3):"
    assert first["doc"] == ["Fit it."]
    code, report, _ = run_json(capsys, "--symbol", "Child", "--tree", str(tree), "--index", str(tmp_path / "no.json"))
    assert report["results"][0]["signature"] == "class Child(Base):"
    assert report["results"][0]["doc"] == ["Child model.", "second line", "third line"]


def test_no_result_exits_1(capsys, rg_binary, tmp_path):
    tree = make_tree(tmp_path / "tree")
    code, report, _ = run_json(capsys, "--symbol", "Nope", "--tree", str(tree), "--index", str(tmp_path / "no.json"))
    assert code == 1 and report["total"] == 0 and report["next"]


def test_symbol_inherited_through_the_index(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(capsys, "--symbol", "SCVI.train", "--tree", str(pinned_tree.root))
    assert code == 0
    first = report["results"][0]
    assert first["path"] == "src/scvi/model/base/_training_mixin.py"
    assert first["inherited_from"] == "scvi.model.base.UnsupervisedTrainingMixin"
    assert first["signature"].startswith("def train(")


def test_pitfalls_lists_the_shipped_pitfalls_holding_every_word(capsys):
    """--pitfalls answers from the shipped index (no tree, no rg): each pitfall whose id,
    text or models hold every word, with its evidence's path:line; none is exit 1."""
    import yaml

    shipped = {p["id"]: p for p in yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "references" / "pitfalls.yaml")
        .read_text(encoding="utf-8"))["pitfalls"]}
    code, report, _ = run_json(capsys, "--pitfalls", "Query GENES")
    assert code == 0 and report["mode"] == "pitfalls" and report["query"] == "query genes"
    ids = [r["id"] for r in report["results"]]
    assert "query-genes-read-by-position" in ids
    for row in report["results"]:
        pitfall = shipped[row["id"]]
        assert row["cite"] == f"{pitfall['evidence']['path']}:{pitfall['evidence']['line']}"
        text = " ".join([row["id"], row["text"], " ".join(row["applies_to"])]).lower()
        assert "query" in text and "genes" in text
    expected = [pid for pid, p in shipped.items()
                if all(w in " ".join([pid, p["claim"], p["fix"], " ".join(p["applies_to"])])
                       .lower() for w in ("query", "genes"))]
    assert sorted(ids) == sorted(expected)
    code, out, _ = run(capsys, "--pitfalls", "query genes", "--max", "1")
    assert code == 0 and sum(line.startswith("- ") for line in out.splitlines()) == 1
    assert "more not shown (--max 1)" in out and "proven pitfall(s)" in out
    code, out, _ = run(capsys, "--pitfalls", "no-such-word-anywhere")
    assert code == 1 and out.startswith("0 proven pitfall(s)")
    code, _, err = run(capsys, "--pitfalls", "   ")
    assert code == 2 and "--pitfalls is empty" in err


# ------------------------------------------------------------------ --lines


def test_lines_prints_the_tree_s_lines_numbered_and_verbatim(capsys, pinned_tree):
    """The numbers to cite come with the text: each printed line is the file's line of that
    number, as it is (indentation kept); JSON carries the same lines."""
    rel = "src/scvi/model/_scvi.py"
    file_lines = (pinned_tree.root / rel).read_text(encoding="utf-8").splitlines()
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--lines", f"{rel}:220-224")
    assert code == 0
    head, *body = out.splitlines()
    assert head.startswith(f"== {rel}:220-224 (scvi-tools ")
    assert body == [f"{n}  {file_lines[n - 1]}" for n in range(220, 225)]
    code, report, _ = run_json(capsys, "--tree", str(pinned_tree.root), "--lines", f"{rel}:222")
    assert report["lines"] == [{"line": 222, "text": file_lines[221]}]
    assert (report["path"], report["start"], report["end"], report["truncated"]) == \
        (rel, 222, 222, False)


def test_lines_cuts_a_long_range_and_says_how_to_go_on(capsys, pinned_tree):
    rel = "CHANGELOG.md"
    code, out, _ = run(capsys, "--tree", str(pinned_tree.root), "--lines", f"{rel}:1-1000")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + search_source.MAX_LINES_SHOWN + 1
    assert lines[-1] == f"(cut at {search_source.MAX_LINES_SHOWN} lines: --lines " \
        f"{rel}:{search_source.MAX_LINES_SHOWN + 1}-1000 for more)"


@pytest.mark.parametrize("spec, code, message", [
    ("src/scvi/model/_scvi.py", 2, "takes PATH:START-END"),
    ("src/scvi/model/_scvi.py:9-3", 2, "start before end"),
    ("src/scvi/model/_scvi.py:0", 2, "from line 1 on"),
    ("../../../../etc/passwd:1", 2, "is not a file of the tree"),
    ("src/scvi/model:1", 2, "is not a file of the tree"),
    ("src/scvi/model/_scvi.py:99999", 1, "line(s); nothing at 99999"),
])
def test_lines_bad_input(capsys, pinned_tree, spec, code, message):
    got, out, err = run(capsys, "--tree", str(pinned_tree.root), "--lines", spec)
    assert got == code and out == "" and message in err and "Traceback" not in err


def test_lines_does_not_follow_a_link_out_of_the_tree(capsys, pinned_tree, tmp_path):
    """A tree whose file is a symlink to a file outside it: --lines refuses it."""
    import shutil

    tree = tmp_path / "tree"
    (tree / "src" / "scvi").mkdir(parents=True)
    (tree / "docs").mkdir()
    shutil.copy(pinned_tree.root / "src" / "scvi" / "__init__.py", tree / "src/scvi/__init__.py")
    shutil.copy(pinned_tree.root / "pyproject.toml", tree / "pyproject.toml")
    secret = tmp_path / "secret.txt"
    secret.write_text("not the tree's\n", encoding="utf-8")
    (tree / "src" / "scvi" / "leak.py").symlink_to(secret)
    code, out, err = run(capsys, "--tree", str(tree), "--lines", "src/scvi/leak.py:1")
    assert code == 2 and "not the tree's" not in out and "is not a file of the tree" in err
    code, out, _ = run(capsys, "--tree", str(tree), "--lines", "src/scvi/__init__.py:1")
    assert code == 0 and out.startswith("== src/scvi/__init__.py:1-1 ")


def test_json_modes_that_find_nothing_still_print_one_object(capsys, pinned_tree, rg_binary):
    code, report, err = run_json(capsys, "--model", "zzz")
    assert code == 1 and report == {"mode": "model", "query": "zzz", "card": None}
    assert err.count("Error:") == 1
    code, report, err = run_json(capsys, "--lines", "src/scvi/model/_scvi.py:99999",
                                 "--tree", str(pinned_tree.root))
    assert code == 1 and report["lines"] == [] and report["total_lines"] > 100
    assert err.startswith("Error:")


def test_next_commands_keep_a_dash_text_an_argument(capsys, pinned_tree, rg_binary):
    code, report, _ = run_json(capsys, "--json", "--tree", str(pinned_tree.root), "--", "-zzqqxx")
    assert code == 1 and report["next"][0].endswith("--tests -- -zzqqxx")
    argv = report["next"][0].split(" ", 2)[2].split()  # what the suggestion runs
    assert run(capsys, "--tree", str(pinned_tree.root), *argv)[0] == 1  # not a usage error


def test_max_is_bounded(capsys, pinned_tree, rg_binary):
    code, _, err = run(capsys, "--pattern", ".", "--max", "100000", "--tree", str(pinned_tree.root))
    assert code == 2 and "--max must be between 1 and" in err


@pytest.mark.parametrize("argv", [
    ["--in", "a" * 300, "x"], ["--lines", "a" * 300 + ".py:1-2"], ["--tree", "a" * 300, "x"],
])
def test_a_path_the_system_refuses_is_one_message(capsys, pinned_tree, rg_binary, argv):
    if argv[0] != "--tree":
        argv = ["--tree", str(pinned_tree.root), *argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("Error:") == 1 and "Traceback" not in err


def test_resolve_docs_and_check_code_refuse_a_too_long_tree_in_one_message(capsys, tmp_path):
    import check_code
    import resolve_docs

    assert resolve_docs.main(["--tree", "a" * 300, "batch_key"]) == 2
    answer = tmp_path / "a.md"
    answer.write_text("`lr` (src/scvi/train/_trainingplans.py:175)\n", encoding="utf-8")
    assert check_code.main(["--tree", "a" * 300, str(answer)]) == 2
    err = capsys.readouterr().err
    assert err.count("Error:") == 2 and "Traceback" not in err


def test_usages_of_a_dotted_name_say_they_search_its_last_part(capsys, pinned_tree, rg_binary):
    code, _, err = run(capsys, "--usages", "SCVI.train", "--max", "1", "--tree",
                       str(pinned_tree.root))
    assert code == 0 and "searches the last part of 'SCVI.train'" in err
    code, _, err = run(capsys, "--usages", "SCVI", "--max", "1", "--tree", str(pinned_tree.root))
    assert "last part" not in err


def test_history_of_a_name_no_release_has_says_so_first(capsys):
    code, out, _ = run(capsys, "--history", "scvi.data.setup_anndata")
    assert code == 0
    assert out.splitlines()[0].startswith("scvi.data.setup_anndata: in none of scvi-tools 1.0.0")
    code, report, _ = run_json(capsys, "--history", "scvi.data.setup_anndata")
    assert report["exact"] is False and report["names"]
    code, report, _ = run_json(capsys, "--history", "SCVI.train")
    assert report["exact"] is True


def test_history_of_a_name_in_another_case_names_the_public_one(capsys):
    """``--history scvi.model.TotalVI`` found nothing and offered ``--changes TotalVI``; the
    class is TOTALVI: its name is said, and the next command asks for its history."""
    code, out, _ = run(capsys, "--history", "scvi.model.TotalVI")
    assert code == 1 and "the pinned index has scvi.model.TOTALVI" in out
    assert "--history scvi.model.TOTALVI" in out
    code, report, _ = run_json(capsys, "--history", "scvi.model.TotalVI")
    assert report["close"] == ["scvi.model.TOTALVI"]
    code, report, _ = run_json(capsys, "--history", "scvi.model.NoSuchModelAnywhere")
    assert code == 1 and "close" not in report


def test_a_model_card_read_with_another_release_s_tree_says_whose_it_is(capsys):
    import os

    old = os.path.expanduser("~/.cache/scvi-skill/trees/scvi-tools-1.0.4")
    if not os.path.isdir(old):
        pytest.skip("no cached 1.0.4 tree")
    code, out, _ = run(capsys, "--model", "SCVI", "--tree", old)
    assert code == 0 and out.startswith("(the card is scvi-tools 1.5.1's; the tree given is 1.0.4")
    code, out, _ = run(capsys, "--model", "SCVI")
    assert out.startswith("scvi.model.SCVI") and "not in signature order" in out
    code, out, _ = run(capsys, "--model", "mlxSCVI", "--tree", old)  # a later model
    assert out.startswith("(the card is scvi-tools 1.5.1's: scvi.model.mlxSCVI is not in "
                          "scvi-tools 1.0.4")


def test_a_pasted_unexpected_keyword_message_is_said_to_be_python_s_own(capsys):
    code, out, _ = run(capsys, "--message",
                       "TypeError: SCVI.train() got an unexpected keyword argument 'use_gpu'")
    assert code == 0
    assert "Python's own message: SCVI.train() takes no keyword 'use_gpu'" in out.splitlines()[1]
    code, report, _ = run_json(capsys, "--message",
                               "SCVI.train() got an unexpected keyword argument 'use_gpu'")
    assert report["python_keyword"] == {"callable": "SCVI.train", "keyword": "use_gpu"}
    assert report["next"][0].endswith("--history use_gpu")


@pytest.mark.parametrize("message", [
    "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
    "TypeError: 'NoneType' object is not subscriptable",
    "TypeError: SCVI.__init__() missing 1 required positional argument: 'adata'",
])
def test_python_s_own_type_errors_are_said_to_be_python_s(capsys, message):
    code, out, _ = run(capsys, "--message", message)
    assert "Python's own message (a TypeError Python raises" in out


MISSING_OBS_KEY = "KeyError: 'celltype not found in adata.obs.'"
"""Raised by five fields in two files of src/scvi/data/fields (1.5.1)."""


@pytest.mark.parametrize(("where", "files"), [
    ("*_dataframe_field.py", {"src/scvi/data/fields/_dataframe_field.py"}),
    ("data/fields", {"src/scvi/data/fields/_arraylike_field.py",
                     "src/scvi/data/fields/_dataframe_field.py"}),
    ("src/scvi/data/fields/_arraylike_field.py", {"src/scvi/data/fields/_arraylike_field.py"}),
    ("train", set()),
])
@pytest.mark.parametrize("tree", [True, False], ids=["tree", "no-tree"])
def test_in_narrows_the_sites_of_message_as_it_narrows_every_search(
        capsys, pinned_tree, monkeypatch, where, files, tree):
    """--in (an area, a path, a glob) was ignored by --message; without a tree the index's
    own paths stand in for the tree's folders."""
    argv = ["--message", MISSING_OBS_KEY, "--in", where]
    if tree:
        argv += ["--tree", str(pinned_tree.root)]
    else:
        monkeypatch.setattr(search_source, "_context_tree", lambda args: None)
    code, report, _ = run_json(capsys, *argv)
    assert {m["path"] for m in report["matches"]} == files
    assert code == (0 if files else 1)


def test_message_in_reads_the_index_s_paths_whatever_the_tree(capsys, tmp_path):
    """--message's sites come from the pinned release's index: --in is read against its
    paths, also with --tree of an older release that lacks the folder (external/cytovi is
    not in 1.2.0), and --in ./ is every site, with a tree or without."""
    old = tmp_path / "scvi-tools-1.2.0"
    (old / "src" / "scvi" / "model").mkdir(parents=True)
    (old / "src" / "scvi" / "__init__.py").write_text("")
    (old / "pyproject.toml").write_text('[project]\nname = "scvi-tools"\nversion = "1.2.0"\n')
    text = "'x' not found in adata.obs"
    code, report, _ = run_json(capsys, "--message", text, "--in", "external/cytovi",
                               "--tree", str(old))
    assert code == 0 and report["matches"]
    assert all(m["path"].startswith("src/scvi/external/cytovi/") for m in report["matches"])
    code, everything, _ = run_json(capsys, "--message", text)
    code, rooted, _ = run_json(capsys, "--message", text, "--in", "./")
    assert rooted["matches"] == everything["matches"]


@pytest.mark.parametrize("tree", [True, False], ids=["tree", "no-tree"])
def test_message_with_an_unknown_in_area_is_a_usage_error(capsys, pinned_tree, monkeypatch, tree):
    argv = ["--message", MISSING_OBS_KEY, "--in", "nosuchplace"]
    if tree:
        argv += ["--tree", str(pinned_tree.root)]
    else:
        monkeypatch.setattr(search_source, "_context_tree", lambda args: None)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "unknown --in 'nosuchplace'; areas: " in err

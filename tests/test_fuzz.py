"""Random input for the agent-facing commands, from fixed seeds: every call ends in one of the
documented exit codes with a message, never in a Python traceback, and ``--json`` output is
one JSON object.

The inputs mix question words with shell and regex metacharacters, control characters,
lone surrogates (a Windows command line can hold one; JSON can escape one), paths that
climb out of the tree, huge numbers and options in any combination; pasted tracebacks are
cut and spliced. Session 47's first runs of these found two tracebacks (a lone surrogate
in ``search_source.py TEXT``, and in a notebook cell for ``check_code.py``), fixed then.
The main functions run in this process (about 15 s in all); the seeds make every failure
reproducible."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import check_code
import pytest
import resolve_docs
import search_source

REPO = Path(__file__).resolve().parent.parent
WORDS = (REPO / "benchmarks" / "devset.jsonl").read_text(encoding="utf-8").split()[:4000]
PASTES = [json.loads(line)["paste"] for line in (Path(__file__).parent / "fixtures" / "messages"
                                                 / "real_pastes.jsonl").read_text().splitlines()]
ODD = ["(", ")", "[", "]", "*", "+", "?", "\\", "$", "`", "'", '"', "|", ";", "&&", "\x00",
       "\x1b[31m", "\u202e", "\ud83d", "\udcff", "é", "\t", "\n", "\r", "{", "}", "%(x)s",
       "{0}", "--tree", "-", "--", "::", "scvi.", "..", "/etc/passwd", "../../",
       'File "/x/site-packages/scvi/model/_scvi.py", line 99999999, in f',
       "Traceback (most recent call last):", "1.2.0", "9.9.9", "SCVI.", "_" * 300, "a" * 3000]
VALUES = ["", " ", "-", "--", "0", "-1", "999999999999", "nan", "SCVI", "SCVI.train",
          "scvi.model.SCVI.train", "..", "../../etc", "/etc/passwd", "src/scvi/model/_scvi.py:1-5",
          "src/scvi/model/_scvi.py:5-1", "src/scvi/model/_scvi.py:0", "CHANGELOG.md:1-99999",
          "src/scvi/../../../etc/passwd:1", "*", "**/*.py", "[", "(?P<", "(a+)+$", "model",
          "external", "1.2.0", "9.9.9", "TOTALVI", "use_gpu", "anndata", "\x00", "a\nb",
          "\ud83d", "batch_key", "_private", "scvi.", "SCVI..train", "a" * 2000]
MODES = ["--symbol", "--usages", "--kwarg", "--pattern", "--message", "--model", "--changes",
         "--pitfalls", "--history", "--lines", "--compare"]
OPTIONS = ["--in", "--max", "--context", "--limit", "--release"]
TRACEBACK = "Traceback (most recent call last)"


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) if rng.random() < 0.6 else rng.choice(ODD)
                    for _ in range(rng.randint(1, 30)))


def _spliced(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 20)):
        at = rng.randrange(len(chars) + 1)
        if rng.random() < 0.4 and chars:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[at:at] = list(rng.choice(["\n", "\x00", "\r", "\x1b[0m", "\ufeff", ":", ",",
                                            " line ", 'File "', "9" * 12, "^", rng.choice(WORDS)]))
    return "".join(chars)


def _call(main, argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured; a traceback fails the test with the
    arguments that caused it."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        if stdin is not None:
            patch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(
                stdin.encode("utf-8", "surrogatepass")), encoding="utf-8"))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
        except Exception as exc:  # noqa: BLE001 - the failure to report
            raise AssertionError(f"{main.__module__}.main({argv!r}) raised {exc!r}"
                                 + (f" on stdin {stdin[:200]!r}" if stdin else "")) from exc
    said = err.getvalue()
    assert TRACEBACK not in said or TRACEBACK in repr(argv) + repr(stdin), (argv, said[-500:])
    return code, out.getvalue(), said


def _json_if_any(out: str, argv: list[str]) -> None:
    if out.strip():
        assert isinstance(json.loads(out), dict), argv


@pytest.mark.parametrize("seed", [1, 2])
def test_resolve_docs_survives_random_questions_and_options(pinned_tree, seed):
    rng = random.Random(seed)
    for _ in range(15):
        question = _text(rng)
        for argv in ([question], ["--json", "--also", _text(rng), question],
                     ["--version", rng.choice(["1.2.0", "1.0.4", "9.9", "x", ""]), question],
                     ["--budget", rng.choice(["100", "200", "5000", "-3", "x"]), question]):
            code, out, said = _call(resolve_docs.main, argv)
            assert code in (0, 1, 2, 4), (argv, code, said[-300:])
            if code != 0:
                assert said.strip(), argv  # one message says why
            if "--json" in argv and code == 0:
                _json_if_any(out, argv)


def test_resolve_docs_and_message_search_survive_spliced_tracebacks(pinned_tree):
    rng = random.Random(3)
    for _ in range(25):
        paste = _spliced(rng, rng.choice(PASTES))
        for main, argv in ((resolve_docs.main, ["--json", "-"]),
                           (search_source.main, ["--message", "-"])):
            code, out, said = _call(main, argv, stdin=paste)
            assert code in (0, 1, 2), (argv, code, said[-300:])
            if main is resolve_docs.main and code == 0:
                _json_if_any(out, argv)


@pytest.mark.parametrize("seed", [1, 2])
def test_search_source_survives_random_modes_and_options(pinned_tree, seed):
    rng = random.Random(seed)
    for _ in range(150):
        argv: list[str] = []
        if rng.random() < 0.7:
            argv += [rng.choice(MODES), rng.choice(VALUES)]
        else:  # a literal text search
            argv += ["--", _text(rng)[:200].replace("\n", " ")]
        for _ in range(rng.randint(0, 3)):
            argv += [rng.choice(OPTIONS), rng.choice(VALUES)]
        if rng.random() < 0.3:
            argv.append("--json")
        if rng.random() < 0.2:
            argv.append("--tests")
        if "--compare" in argv:
            argv.append("--cached")  # never a download here
        if rng.random() < 0.2:
            argv += ["--", rng.choice(VALUES)]
        code, out, said = _call(search_source.main, argv)
        assert code in (0, 1, 2, 3, 4, 6), (argv, code, said[-300:])
        if "--json" in argv and code in (0, 1):
            _json_if_any(out, argv)


def test_check_code_survives_random_files(pinned_tree, tmp_path):
    rng = random.Random(4)
    source = (pinned_tree.root / "src/scvi/model/base/_rnamixin.py").read_text().splitlines()
    answers = (REPO / "benchmarks/trials/round99/answers_skill.md").read_text().splitlines()
    junk = ["```python", "```", "scvi.model.SCVI(adata, use_gpu=True)", "def f(:", "\udcff",
            "\ud83d", "src/scvi/model/_scvi.py:99999", "`src/scvi/x.py:1-0`", "%%time",
            "!pip install x", "{", "\t", "../../etc/passwd:1", "src/scvi/model/_scvi.py:0"]
    for n in range(30):
        lines = [rng.choice(source if rng.random() < 0.3 else answers if rng.random() < 0.6
                            else junk) for _ in range(rng.randint(1, 40))]
        suffix = rng.choice([".md", ".py", ".ipynb"])
        text = "\n".join(lines)
        if suffix == ".ipynb" and rng.random() < 0.7:
            text = json.dumps({"cells": [{"cell_type": rng.choice(["code", "markdown"]),
                                          "source": lines}], "nbformat": 4})
        path = tmp_path / f"f{n}{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for argv in ([str(path)], ["--json", "--version", rng.choice(["1.0.4", "1.2.0"]),
                                   str(path)]):
            code, out, said = _call(check_code.main, argv)
            assert code in (0, 1, 2, 4), (argv, code, said[-300:])
            if "--json" in argv and code in (0, 1):
                _json_if_any(out, argv)


@pytest.fixture
def damaged_project(tmp_path, pinned_tree, cache_with_pinned, monkeypatch) -> Path:
    """The user's project, working folder of the calls, its .venv holding "scvi-tools 1.2.0":
    1.5.1's package with files the user's disk may hold (binary bytes, a line of 200k
    characters, a link to itself, an empty file, a folder where a module was): the scripts
    read the project unasked (the suite turns that off), so its files are input too."""
    import shutil

    folder = tmp_path / "project"
    site = folder / ".venv" / "lib" / "python3.12" / "site-packages"
    shutil.copytree(pinned_tree.root / "src" / "scvi", site / "scvi")
    dist = site / "scvi_tools-1.2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scvi-tools\nVersion: 1.2.0\n")
    pkg = site / "scvi"
    (pkg / "model" / "_scvi.py").write_bytes(bytes(range(256)) * 50)
    (pkg / "train" / "_trainer.py").write_text("x = 1  # " + "a" * 200_000 + "\n")
    (pkg / "dataloaders" / "_data_splitting.py").unlink()
    (pkg / "dataloaders" / "_data_splitting.py").symlink_to("_data_splitting.py")
    (pkg / "model" / "base" / "_training_mixin.py").write_text("")
    (pkg / "model" / "_totalvi.py").unlink()
    (pkg / "model" / "_totalvi.py").mkdir()
    monkeypatch.delenv("SCVI_SKILL_NO_PROJECT")
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(folder)
    return folder


def test_the_scripts_survive_a_damaged_project_package(damaged_project, tmp_path):
    """Every script run in a project whose installed package is damaged ends in a documented
    exit code, never a traceback; the project is read (said on stderr) where it can be."""
    rng = random.Random(5)
    questions = ["how do I set early stopping patience for SCVI", "totalVI protein background",
                 "batch_size datasplitter_kwargs slower", _text(rng), _text(rng)]
    read = False
    for question in questions:
        for argv in ([question], ["--json", question]):
            code, out, said = _call(resolve_docs.main, argv)
            assert code in (0, 1, 2, 4), (argv, code, said[-300:])
            read |= "project's scvi-tools 1.2.0" in said
            if "--json" in argv and code == 0:
                _json_if_any(out, argv)
    assert read
    for _ in range(60):
        argv = [rng.choice(["--symbol", "--usages", "--kwarg", "--pattern", "--lines"]),
                rng.choice(VALUES + ["SCVI", "TOTALVI", "DataSplitter", "batch_size", "train",
                                     "src/scvi/model/_scvi.py:1-9", "src/scvi/train/_trainer.py:1"])]
        if rng.random() < 0.3:
            argv.append("--json")
        code, out, said = _call(search_source.main, argv)
        assert code in (0, 1, 2, 3, 4), (argv, code, said[-300:])
        if "--json" in argv and code in (0, 1):
            _json_if_any(out, argv)
    draft = tmp_path / "draft.md"
    draft.write_text("## a\nSee `library_size` (`src/scvi/model/base/_rnamixin.py:10`) and "
                     "`max_epochs` (`src/scvi/train/_trainer.py:1`), `SCVI` "
                     "(`src/scvi/model/_scvi.py:3`).\n```python\nimport scvi\n"
                     "scvi.model.SCVI(adata).train(use_gpu=True)\n```\n", encoding="utf-8")
    for argv in ([str(draft)], ["--json", str(draft)]):
        code, out, said = _call(check_code.main, argv)
        assert code in (0, 1, 2, 4) and "project's scvi-tools 1.2.0" in said, (argv, said[-300:])

"""The agent-facing scripts on hostile input and surroundings (session 43's adversarial pass):
an empty or relative HOME, endless stdin, devices and named pipes where files are expected,
a project folder whose json.py would run, an interpreter that floods its output, Windows line
ends, line 0, blank options. Each case hung, wrote outside the cache, ran foreign code, or
fell over with a traceback before."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import check_code
import check_env
import pytest
import resolve_docs
import search_source

from scvi_skill.runtime import index as index_mod
from scvi_skill.runtime import loadcache, paths
from scvi_skill.runtime.errors import EXIT_INDEX, EXIT_USAGE

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
POSIX = pytest.mark.skipif(os.name == "nt", reason="named pipes and shell scripts")


class _Stdin(io.TextIOWrapper):
    """A stdin whose bytes never end (``yes | script -``): reading all of it never returns."""

    def __init__(self, line: bytes) -> None:
        class Endless(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer) -> int:
                chunk = (line * (len(buffer) // len(line) + 1))[:len(buffer)]
                buffer[:len(chunk)] = chunk
                return len(chunk)

        super().__init__(io.BufferedReader(Endless()), encoding="utf-8")


# --- the cache folder -------------------------------------------------------------------------

@pytest.mark.parametrize("home", ["", "relative_home"])
def test_an_empty_or_relative_home_keeps_the_cache_in_the_accounts_home(monkeypatch, home):
    """``HOME=`` put the cache under the working folder (or ``/.cache``): the user's project."""
    monkeypatch.delenv("SCVI_SKILL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", home)
    folder = paths.trees_dir()
    assert folder.is_absolute()
    assert folder.parts[-3:] == (".cache", "scvi-skill", "trees")


def test_relative_cache_variables_are_passed_over(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "xdg_relative")
    monkeypatch.setenv("SCVI_SKILL_CACHE", "cache_relative")
    paths._WARNED.clear()
    assert paths.trees_dir() == tmp_path / ".cache" / "scvi-skill" / "trees"
    assert "SCVI_SKILL_CACHE='cache_relative' is not an absolute folder" in capsys.readouterr().err
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.trees_dir() == tmp_path / "xdg" / "scvi-skill" / "trees"
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "own"))
    assert paths.trees_dir() == tmp_path / "own"


# --- stdin ------------------------------------------------------------------------------------

def test_message_from_an_endless_stdin_reads_a_bounded_head(pinned_tree, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", _Stdin(b"KeyError: celltype not found\n"))
    code = search_source.main(["--message", "-", "--tree", str(pinned_tree.root)])
    out, err = capsys.readouterr()
    assert code == 0 and "site(s) for --message" in out
    assert "stdin holds more than" in err and "Traceback" not in err


def test_check_code_refuses_an_endless_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", _Stdin(b"import scvi\n"))
    monkeypatch.setattr(check_code, "MAX_STDIN_BYTES", 1 << 16)
    assert check_code.main(["-"]) == EXIT_USAGE
    assert "stdin holds more than" in capsys.readouterr().err


# --- reference files --------------------------------------------------------------------------

@POSIX
@pytest.mark.parametrize("script", ["resolve_docs", "search_source"])
def test_an_index_that_is_a_pipe_or_a_device_exits_6_at_once(tmp_path, script):
    """A named pipe blocked the read forever; /dev/zero filled the memory."""
    fifo = tmp_path / "index.json"
    os.mkfifo(fifo)
    args = ["scvi batch"] if script == "resolve_docs" else ["--symbol", "SCVI"]
    for index in (str(fifo), "/dev/zero"):
        proc = subprocess.run([sys.executable, str(SCRIPTS / f"{script}.py"), "--index", index,
                               *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == EXIT_INDEX, proc.stderr
        assert "is not a regular file" in proc.stderr and "Traceback" not in proc.stderr


def test_an_index_outside_the_references_is_read_but_not_cached(tmp_path, monkeypatch):
    """Each --index copy used to leave a multi-megabyte cache file behind, without bound."""
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "trees"))
    monkeypatch.delenv(loadcache.DISABLE_ENV, raising=False)
    monkeypatch.setattr(index_mod, "_CACHE", {})
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps({"format": 3, "value": 1}))
    assert index_mod.load_json(copy, expected_format=3, what="test index")["value"] == 1
    assert not loadcache.cache_dir().exists()
    monkeypatch.setattr(index_mod, "REFERENCES_DIR", tmp_path)
    index_mod._CACHE.clear()
    index_mod.load_json(copy, expected_format=3, what="test index")
    assert len(list(loadcache.cache_dir().iterdir())) == 1


@POSIX
def test_a_named_pipe_in_the_tree_is_skipped_not_waited_on(pinned_tree, tmp_path):
    tree = tmp_path / "tree"
    (tree / "src" / "scvi" / "model").mkdir(parents=True)
    (tree / "docs").mkdir()
    (tree / "src" / "scvi" / "__init__.py").write_text(
        (pinned_tree.root / "src" / "scvi" / "__init__.py").read_text())
    os.mkfifo(tree / "src" / "scvi" / "model" / "_scvi.py")
    os.mkfifo(tree / "docs" / "faq.md")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for argv in (["search_source.py", "--symbol", "SCVI"],
                 ["resolve_docs.py", "should donor go in batch_key or categorical_covariate_keys?"]):
        proc = subprocess.run([sys.executable, str(SCRIPTS / argv[0]), "--tree", str(tree),
                               *argv[1:]], capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode in (0, 1), proc.stderr
        assert "Traceback" not in proc.stderr
        # Passed over, and said: not read as absent without a word.
        assert "could not be read and were passed over" in proc.stderr, proc.stderr
        assert "_scvi.py (not a regular file)" in proc.stderr
    # A citation of the file is not judged: "no such file" would be wrong.
    answer = tmp_path / "answer.md"
    answer.write_text("The model class is defined at `class SCVI(` (src/scvi/model/_scvi.py:40).\n")
    proc = subprocess.run([sys.executable, str(SCRIPTS / "check_code.py"), "--tree", str(tree),
                           "--json", str(answer)], capture_output=True, text=True, timeout=60,
                          env=env)
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["findings"] == [], proc.stdout
    assert data["citations"]["unverified"] == 1
    assert "_scvi.py (not a regular file)" in proc.stderr


# --- the user's interpreter -------------------------------------------------------------------

def test_the_probe_does_not_run_a_json_py_of_the_working_folder(tmp_path, monkeypatch, capsys):
    """``python -c`` imports from its working folder first: a project's json.py ran."""
    marker = tmp_path / "ran"
    (tmp_path / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    check_env.main(["--python", sys.executable, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert not marker.exists()
    assert report["python"]["version"].startswith(f"{sys.version_info[0]}.")


@POSIX
def test_an_interpreter_that_floods_its_output_is_stopped(tmp_path, capsys):
    flood = tmp_path / "python"
    flood.write_text("#!/bin/sh\nexec yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
    flood.chmod(0o755)
    assert check_env.main(["--python", str(flood)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "printed more than" in err and "Traceback" not in err


# --- words and options ------------------------------------------------------------------------

def test_a_windows_line_end_is_not_part_of_the_search(pinned_tree, rg_binary, monkeypatch,
                                                      capsys):
    monkeypatch.setenv("SCVI_SKILL_RG", rg_binary)
    root = ["--tree", str(pinned_tree.root)]
    assert search_source.main(["batch_key\r", *root, "--max", "1"]) == 0
    assert "for 'batch_key'" in capsys.readouterr().out
    assert search_source.main(["line\rbreak", *root]) == EXIT_USAGE
    assert "single line" in capsys.readouterr().err


def test_since_in_a_path_no_release_has_is_a_usage_error(capsys):
    trees = paths.trees_dir()
    if not any(trees.glob("scvi-tools-*")):
        pytest.skip("no release tree cached")
    assert search_source.main(["--since", "use_gpu", "--cached", "--in", "no_such_dir"]) == EXIT_USAGE
    assert "no such folder or file" in capsys.readouterr().err


def test_line_0_is_a_finding(pinned_tree, tmp_path, capsys):
    answer = tmp_path / "answer.md"
    answer.write_text("SCVI is at `src/scvi/model/_scvi.py:0`, `class SCVI`.\n")
    assert check_code.main(["--tree", str(pinned_tree.root), str(answer)]) == 1
    assert "there is no line 0" in capsys.readouterr().out


def test_check_code_json_is_bounded(tmp_path, monkeypatch, capsys):
    code = tmp_path / "many.py"
    code.write_text("import scvi\n" + "scvi.model.SCVI(a).train(use_gpu=True)\n" * 30)
    monkeypatch.setattr(check_code, "MAX_JSON_FINDINGS", 5)
    assert check_code.main(["--json", str(code)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert len(data["findings"]) == 5 and data["findings_omitted"] >= 25


@pytest.mark.parametrize(("main", "argv", "says"), [
    (resolve_docs.main, ["--tree", "", "scvi batch"], "--tree is empty"),
    (resolve_docs.main, ["--version", " ", "scvi batch"], "--version is empty"),
    (resolve_docs.main, ["--also", "...", "scvi batch"], "--also holds no word"),
    (search_source.main, ["--in", "", "--symbol", "SCVI"], "--in is empty"),
    (search_source.main, ["--tree", "", "--symbol", "SCVI"], "--tree is empty"),
    (search_source.main, ["x\udcff"], "not valid UTF-8"),
    (search_source.main, ["--", "x \ud83d y"], "not valid UTF-8"),  # a lone UTF-16 half
    (check_code.main, ["--version", "", "x.py"], "--version is empty"),
    (check_code.main, ["--tree", "", "x.py"], "--tree is empty"),
], ids=["resolve-tree", "resolve-version", "resolve-also", "search-in", "search-tree",
        "search-bytes", "search-surrogate", "check-version", "check-tree"])
def test_blank_or_undecodable_options_are_usage_errors(capsys, main, argv, says):
    """They quietly meant the default (an unset shell variable), or reached rg as bytes."""
    assert main(argv) == EXIT_USAGE
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--model", "SCVI", "--tests"],
                                  ["--model", "SCVI", "--max", "3", "--context", "2"],
                                  ["--lines", "src/scvi/model/_scvi.py:1-3", "--limit", "2"]])
def test_options_a_mode_does_not_read_are_usage_errors(pinned_tree, capsys, argv):
    """``--model SCVI --tests`` printed the card as if the tests had been searched."""
    assert search_source.main([*argv, "--tree", str(pinned_tree.root)]) == EXIT_USAGE
    assert "not apply to" in capsys.readouterr().err


def test_a_long_version_is_clipped_in_the_message(capsys):
    assert resolve_docs.main(["--version", "x" * 100_000, "scvi batch"]) == 4
    assert len(capsys.readouterr().err) < 2_000


@POSIX
def test_check_code_names_a_device_for_what_it_is(capsys):
    assert check_code.main(["/dev/zero"]) == EXIT_USAGE
    assert "not a regular file or folder" in capsys.readouterr().err

"""The maintainer scripts on hostile input (session 43's adversarial pass): a path the
system refuses, a folder where a file is written, a named pipe or a device as an input file,
and blank options are one message and an exit code, never a traceback or a hang."""

from __future__ import annotations

import os

import build_api_index
import check_skill
import fetch_tree
import install_skill
import pytest
import refresh_maps

from scvi_skill.runtime.errors import EXIT_USAGE

LONG = "x" * 300


def _one_error(err: str) -> None:
    assert "Traceback" not in err
    assert sum(line.startswith("Error:") for line in err.splitlines()) == 1, err


@pytest.mark.parametrize(("main", "argv"), [
    (install_skill.main, ["--zip", f"/tmp/{LONG}.zip"]),
    (refresh_maps.main, ["--tree", f"/tmp/{LONG}", "--out", "OUT"]),
    (check_skill.main, ["--skill-dir", f"/tmp/{LONG}"]),
    (build_api_index.main, ["--sdists", f"/tmp/{LONG}", "--versions", "1.5.1", "--out", "OUT"]),
], ids=["install-zip", "refresh-tree", "check-skill-dir", "api-sdists"])
def test_a_name_too_long_is_one_message(tmp_path, capsys, main, argv):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main(argv) == EXIT_USAGE
    _one_error(capsys.readouterr().err)


def test_a_folder_where_refresh_writes_a_file_is_one_message(pinned_tree, tmp_path, capsys):
    """``--out`` whose index.json is a folder: IsADirectoryError's traceback before."""
    out = tmp_path / "out"
    (out / "index.json").mkdir(parents=True)
    assert refresh_maps.main(["--tree", str(pinned_tree.root), "--out", str(out)]) == 1
    _one_error(capsys.readouterr().err)
    assert (out / "index.json").is_dir()


@pytest.mark.skipif(os.name == "nt", reason="named pipes")
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_routing_file_that_is_not_a_regular_file_is_refused(pinned_tree, tmp_path, capsys,
                                                              special):
    """A named pipe blocked the refresh forever; /dev/zero never ended."""
    routing = tmp_path / "routing.yaml"
    if special == "fifo":
        os.mkfifo(routing)
    else:
        routing = special
    assert refresh_maps.main(["--tree", str(pinned_tree.root), "--out", str(tmp_path / "out"),
                              "--routing", str(routing), "--dry-run"]) == 1
    err = capsys.readouterr().err
    _one_error(err)
    assert "not a regular file" in err


@pytest.mark.parametrize(("main", "argv", "flag"), [
    (fetch_tree.main, ["--from", ""], "--from"),
    (fetch_tree.main, ["--index-url", " ", "--list-versions"], "--index-url"),
    (check_skill.main, ["--index", ""], "--index"),
    (check_skill.main, ["--skill-dir", ""], "--skill-dir"),
], ids=["fetch-from", "fetch-index-url", "check-index", "check-skill-dir"])
def test_blank_options_are_usage_errors(tmp_path, monkeypatch, capsys, main, argv, flag):
    """``--from ''`` cached the working folder; ``--index-url ''`` started a download from
    the default index; ``--index ''`` and ``--skill-dir ''`` meant the defaults."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "cache"))
    assert main(argv) == EXIT_USAGE
    assert f"{flag} is empty" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()

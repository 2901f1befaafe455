"""build_api_index.py as a maintainer runs it: bad input is one message, and a rebuild removes
only the index files its own manifest listed."""

from __future__ import annotations

import gzip
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_api_index  # noqa: E402

MINI = Path(__file__).resolve().parent / "fixtures" / "mini_tree"


def _sdists(folder: Path, *versions: str) -> Path:
    """sdists of the mini tree fixture, one per version (what the builder reads: .py files)."""
    folder.mkdir(parents=True, exist_ok=True)
    for version in versions:
        with tarfile.open(folder / f"scvi_tools-{version}.tar.gz", "w:gz") as tar:
            tar.add(MINI, arcname=f"scvi_tools-{version}")
    return folder


def test_a_rebuild_removes_only_the_index_files_its_manifest_listed(tmp_path, capsys):
    sdists, out = _sdists(tmp_path / "sd", "0.0.1", "0.0.2"), tmp_path / "out"
    out.mkdir()
    mine = out / "scvi-tools-mynotes.json.gz"
    notes = gzip.compress(b"my notes")  # once: the gzip header holds the time it was made
    mine.write_bytes(notes)
    assert build_api_index.main(["--versions", "0.0.1,0.0.2", "--sdists", str(sdists),
                                 "--out", str(out)]) == 0
    assert (out / "scvi-tools-0.0.1.json.gz").is_file()
    assert build_api_index.main(["--versions", "0.0.2", "--sdists", str(sdists),
                                 "--out", str(out)]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert not (out / "scvi-tools-0.0.1.json.gz").exists()  # ours, listed, no longer built
    assert mine.read_bytes() == notes  # not ours: kept


@pytest.mark.parametrize("argv, said", [
    (["--versions", "abc", "--check"], "final releases"),
    (["--versions", "1.5.1rc1", "--check"], "final releases"),
    # pip reads these loosely (1.5.0, 1.5.1): it downloaded and overwrote another release.
    (["--versions", "1.5", "--check"], "final releases"),
    (["--versions", "01.5.1", "--check"], "final releases"),
    (["--versions", "1.5.1"], "drop the others"),  # the shipped folder with a subset
])
def test_bad_arguments_are_one_message(capsys, argv, said):
    assert build_api_index.main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("Error:") == 1 and "Traceback" not in err


def test_a_broken_sdist_or_a_file_for_the_folder_is_one_message(tmp_path, capsys):
    sdists = tmp_path / "sd"
    sdists.mkdir()
    (sdists / "scvi_tools-0.0.1.tar.gz").write_bytes(b"garbage")
    argv = ["--versions", "0.0.1", "--check", "--out", str(tmp_path / "out")]
    assert build_api_index.main(argv + ["--sdists", str(sdists)]) == 5
    (tmp_path / "file").write_text("x")
    assert build_api_index.main(argv + ["--sdists", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.count("Error:") == 2 and "Traceback" not in err


def test_the_default_sdist_cache_stays_inside_scvi_skill_cache(tmp_path, monkeypatch):
    """With SCVI_SKILL_CACHE set, the sdists went beside that folder, outside what the user
    named (session 43's review)."""
    named = tmp_path / "mine" / "trees"
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(named))
    assert build_api_index._default_sdists() == named / "sdists"
    monkeypatch.delenv("SCVI_SKILL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build_api_index._default_sdists() == tmp_path / "xdg" / "scvi-skill" / "sdists"

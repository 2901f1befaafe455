"""fetch_tree.py: safe, atomic, idempotent trees; every bad input gives one clear error."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import fetch_tree
import pytest
from scvi_skill.runtime import fetch as fetch_mod
from scvi_skill.runtime.errors import EXIT_FETCH

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(folder))
    return folder


def _tree_members(top: str = "scvi_tools-9.9.9", version: str = "9.9.9") -> dict[str, bytes]:
    return {
        f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n".encode(),
        f"{top}/src/scvi/__init__.py": b'"""scvi-tools."""\n',
        f"{top}/src/scvi/model/_scvi.py": b"class SCVI:\n    pass\n",
        f"{top}/docs/index.md": b"# scvi-tools\n",
        f"{top}/CHANGELOG.md": b"# Release notes\n",
    }


def _write_archive(path: Path, files: dict[str, bytes], extra=None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return path


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_local_archive_is_extracted_with_manifest(tmp_path, cache, capsys):
    archive = _write_archive(tmp_path / "scvi_tools-9.9.9.tar.gz", _tree_members())
    assert fetch_tree.main(["--from", str(archive)]) == 0
    out, err = capsys.readouterr()
    path = Path(out.strip().splitlines()[-1])
    assert path == cache / "scvi-tools-9.9.9"
    assert (path / "src" / "scvi" / "model" / "_scvi.py").read_text().startswith("class SCVI")
    manifest = fetch_mod.read_cache_manifest(path)
    assert manifest["version"] == "9.9.9"
    assert len(manifest["sha256"]) == 64
    assert "Cached" in err
    assert _leftovers(cache) == ["scvi-tools-9.9.9"]


def test_second_call_returns_cached_path_without_downloading(tmp_path, cache, monkeypatch, capsys):
    archive = _write_archive(tmp_path / "a.tar.gz", _tree_members(version="9.9.9"))
    assert fetch_tree.main(["--from", str(archive)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]

    def no_download(*args, **kwargs):
        raise AssertionError("a cached tree must not be downloaded again")

    monkeypatch.setattr(fetch_mod, "download_sdist", no_download)
    assert fetch_tree.main(["--version", "9.9.9"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == [first]  # the path is the only stdout line


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize(
    ("extra_files", "extra_members"),
    [
        pytest.param({"scvi_tools-9.9.9/../../escaped.txt": b"x"}, [], id="dotdot"),
        pytest.param({"/tmp/absolute-escape.txt": b"x"}, [], id="absolute"),
        pytest.param({}, [_link("scvi_tools-9.9.9/docs/evil", "/etc/passwd")], id="symlink-abs"),
        pytest.param({}, [_link("scvi_tools-9.9.9/docs/evil", "../../../../x")], id="symlink-up"),
        pytest.param(
            {}, [_link("scvi_tools-9.9.9/docs/hard", "/etc/passwd", tarfile.LNKTYPE)], id="hardlink"
        ),
        pytest.param({}, [_device("scvi_tools-9.9.9/docs/null")], id="device"),
    ],
)
def test_unsafe_archive_is_refused_and_nothing_cached(
    tmp_path, cache, capsys, extra_files, extra_members
):
    files = _tree_members() | extra_files
    archive = _write_archive(tmp_path / "evil.tar.gz", files, extra_members)
    assert fetch_tree.main(["--from", str(archive)]) == EXIT_FETCH
    out, err = capsys.readouterr()
    assert out == ""
    assert "unsafe" in err and "Error:" in err
    assert _leftovers(cache) == []
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_corrupted_archive(tmp_path, cache, capsys):
    bad = tmp_path / "scvi_tools-9.9.9.tar.gz"
    bad.write_bytes(os.urandom(4096))
    assert fetch_tree.main(["--from", str(bad)]) == EXIT_FETCH
    assert "corrupted or truncated" in capsys.readouterr().err
    assert _leftovers(cache) == []


def test_truncated_archive(tmp_path, cache, capsys):
    files = _tree_members() | {"scvi_tools-9.9.9/docs/big.md": os.urandom(200_000)}
    good = _write_archive(tmp_path / "good.tar.gz", files)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert fetch_tree.main(["--from", str(cut)]) == EXIT_FETCH
    assert "corrupted or truncated" in capsys.readouterr().err
    assert _leftovers(cache) == []


def test_archive_that_is_not_an_sdist(tmp_path, cache, capsys):
    files = {k: v for k, v in _tree_members().items() if "/docs/" not in k}
    archive = _write_archive(tmp_path / "nodocs.tar.gz", files)
    assert fetch_tree.main(["--from", str(archive)]) == EXIT_FETCH
    assert "missing docs/" in capsys.readouterr().err
    assert _leftovers(cache) == []


def test_from_folder_that_is_not_a_tree(tmp_path, cache, capsys):
    folder = tmp_path / "notatree"
    (folder / "src").mkdir(parents=True)
    assert fetch_tree.main(["--from", str(folder)]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "not an scvi-tools tree" in err
    assert "src/scvi/__init__.py" in err and "docs/" in err


def test_from_missing_path(tmp_path, cache, capsys):
    assert fetch_tree.main(["--from", str(tmp_path / "nope")]) == EXIT_FETCH
    assert "no such file or folder" in capsys.readouterr().err


def test_from_checkout_copies_tree_parts_only(tmp_path, cache, capsys):
    checkout = tmp_path / "scvi-tools"
    for name, data in _tree_members(top="scvi-tools", version="9.9.8").items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (checkout / "PKG-INFO").unlink()
    (checkout / "pyproject.toml").write_text('[project]\nname = "scvi-tools"\nversion = "9.9.8"\n')
    (checkout / ".git").mkdir()
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout / "docs" / "outside").symlink_to("/etc")
    assert fetch_tree.main(["--from", str(checkout)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "scvi-tools-9.9.8"
    assert not (path / ".git").exists()
    assert not (path / "docs" / "outside").exists()
    assert (path / "docs" / "index.md").is_file()


def test_cache_that_cannot_be_written(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(blocker / "cache"))
    archive = _write_archive(tmp_path / "a.tar.gz", _tree_members())
    assert fetch_tree.main(["--from", str(archive)]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "cannot write to the tree cache" in err and "SCVI_SKILL_CACHE" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_cache(tmp_path, cache, capsys):
    cache.mkdir()
    cache.chmod(0o500)
    archive = _write_archive(tmp_path / "a.tar.gz", _tree_members())
    try:
        assert fetch_tree.main(["--from", str(archive)]) == EXIT_FETCH
    finally:
        cache.chmod(0o700)
    assert "cannot write to the tree cache" in capsys.readouterr().err


def test_full_disk_mid_extraction_leaves_nothing(tmp_path, cache, monkeypatch, capsys):
    # A full disk cannot be produced here without privileges, so the extraction is made to
    # fail with ENOSPC after it has written part of the tree.
    real = tarfile.TarFile.extractall

    def extract_then_fail(self, path=".", *args, **kwargs):
        real(self, path, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", extract_then_fail)
    archive = _write_archive(tmp_path / "a.tar.gz", _tree_members())
    assert fetch_tree.main(["--from", str(archive)]) == EXIT_FETCH
    assert "No space left on device" in capsys.readouterr().err
    assert _leftovers(cache) == []


def test_version_text_never_reaches_a_shell(cache, capsys):
    assert fetch_tree.main(["--version", "1.5; touch pwned"]) == EXIT_FETCH
    assert "not a version number" in capsys.readouterr().err
    assert not Path("pwned").exists()


def test_index_failure_is_reported(cache, monkeypatch, capsys):
    # Nothing listens on the discard port of loopback: the index is unreachable.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    code = fetch_tree.main(["--version", "1.5.1", "--index-url", "http://127.0.0.1:9/simple"])
    assert code == EXIT_FETCH
    err = capsys.readouterr().err
    assert "Error:" in err
    assert "could not download" in err or "not on the package index" in err
    assert _leftovers(cache) == []


@pytest.mark.network
def test_unknown_version_lists_real_versions(cache, capsys):
    assert fetch_tree.main(["--version", "0.0.999"]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "0.0.999 is not on the package index" in err
    assert "1.5.1" in err and "--list-versions" in err
    assert _leftovers(cache) == []


@pytest.mark.network
@pytest.mark.slow
def test_real_download_of_pinned_sdist(cache):
    """The happy path for real: the 1.5.1 sdist from the package index, then the cache."""
    script = REPO / "scripts" / "fetch_tree.py"
    env = dict(os.environ, SCVI_SKILL_CACHE=str(cache))
    first = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert first.returncode == 0, first.stderr[-2000:]
    path = Path(first.stdout.strip().splitlines()[-1])
    assert first.stdout.strip() == str(path)
    for part in ("docs/faq.md", "src/scvi/model/_scvi.py", "tests", "CHANGELOG.md"):
        assert (path / part).exists(), part
    assert fetch_mod.read_cache_manifest(path)["version"] == "1.5.1"
    assert len(list((path / "docs").rglob("*.md"))) == 76
    second = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert second.returncode == 0
    assert second.stdout == first.stdout
    assert "Downloading" not in second.stderr
    assert _leftovers(cache) == ["scvi-tools-1.5.1"]

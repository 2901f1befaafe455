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
    assert fetch_tree.main(["--from", str(tmp_path / "nope")]) == 2  # a usage error
    assert "no such file or folder" in capsys.readouterr().err


def test_from_with_another_version_or_a_fifo(tmp_path, cache, capsys):
    """--version V with --from a tree of another release is a usage error, before anything is
    cached (session 43: it was cached first); a FIFO in the folder is skipped with a warning,
    not a blocked copy."""
    for name, data in _tree_members(top="checkout", version="9.9.1").items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    tree = tmp_path / "checkout"
    os.mkfifo(tree / "docs" / "pipe")
    assert fetch_tree.main(["--version", "1.0.4", "--from", str(tree)]) == 2
    err = capsys.readouterr().err
    assert "--from holds scvi-tools 9.9.1, not the --version 1.0.4" in err
    assert "nothing was cached" in err and not (cache / "scvi-tools-9.9.1").exists()
    assert fetch_tree.main(["--from", str(tree)]) == 0
    assert "not a file or folder" in capsys.readouterr().err
    assert not (cache / "scvi-tools-9.9.1" / "docs" / "pipe").exists()


def test_an_archive_whose_top_folder_is_named_old_replaces_a_cached_tree(tmp_path, cache):
    """The old tree is moved aside under a name no archive folder has (``old`` had been)."""
    first = _write_archive(tmp_path / "a.tar.gz", _tree_members(top="old", version="9.9.1"))
    assert fetch_tree.main(["--from", str(first)]) == 0
    members = _tree_members(top="old", version="9.9.1")
    members["old/docs/index.md"] = b"# changed\n"
    second = _write_archive(tmp_path / "b.tar.gz", members)
    assert fetch_tree.main(["--from", str(second)]) == 0
    assert (cache / "scvi-tools-9.9.1" / "docs" / "index.md").read_bytes() == b"# changed\n"


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
    assert fetch_tree.main(["--version", "1.5; touch pwned"]) == 2  # a usage error
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
    assert "could not reach the package index" in err  # D12: not "not on the index (none)"
    assert "not on the package index" not in err
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


# -- issue 13: hostile inputs and misleading messages ------------------------------------------


def test_version_with_trailing_newline_is_refused_before_downloading(cache, monkeypatch, capsys):
    """D15: ``$`` let ``1.5.1\\n`` through; the whole text must be a version."""
    monkeypatch.setattr(fetch_mod, "download_sdist", _no_download)
    for bad in ("1.5.1\n", "1.5.1/../../x", "..", "1.5.1/sub", "v1.5.1 ", "1.5.1+local"):
        assert fetch_tree.main(["--version", bad]) == 2  # a usage error
        assert "not a version number" in capsys.readouterr().err
    assert _leftovers(cache) == []


def _no_download(*args, **kwargs):
    raise AssertionError("must not download")


def test_stale_sweep_removes_only_marked_work_folders(tmp_path, monkeypatch):
    """D3: with the cache set to a folder of the user's own, only our marked, old work folders
    go; ``.vscode-server`` and an unmarked folder with our prefix stay."""
    home = tmp_path / "home"
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(home))
    old = 1_000_000_000
    theirs = [home / ".vscode-server" / "data", home / ".cache-old" / "x",
              home / f"{fetch_mod.TMP_PREFIX}unmarked" / "x"]
    for folder in theirs:
        folder.mkdir(parents=True)
        os.utime(folder.parent, (old, old))
    ours = home / f"{fetch_mod.TMP_PREFIX}extract-abc"
    (ours / "work").mkdir(parents=True)
    (ours / fetch_mod.TMP_MARKER).write_text(fetch_mod.TMP_NOTE)
    os.utime(ours, (old, old))
    fresh = home / f"{fetch_mod.TMP_PREFIX}extract-new"
    fresh.mkdir()
    (fresh / fetch_mod.TMP_MARKER).write_text(fetch_mod.TMP_NOTE)
    archive = _write_archive(tmp_path / "a.tar.gz", _tree_members())
    assert fetch_tree.main(["--from", str(archive)]) == 0
    assert all(folder.is_dir() for folder in theirs)
    assert not ours.exists()
    assert fresh.is_dir()  # a fetch running now


def test_incomplete_target_folder_gets_a_clear_message(tmp_path, cache, capsys):
    """D13: not "Directory not empty ... Free space there"."""
    target = cache / "scvi-tools-9.9.9"
    (target / "docs").mkdir(parents=True)
    (target / "docs" / "mine.md").write_text("user's notes\n")
    archive = _write_archive(tmp_path / "a.tar.gz", _tree_members())
    assert fetch_tree.main(["--from", str(archive)]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "not a complete scvi-tools tree" in err and "Free space" not in err
    assert (target / "docs" / "mine.md").read_text() == "user's notes\n"
    assert _leftovers(cache) == ["scvi-tools-9.9.9"]


def test_from_a_new_archive_of_a_cached_version_replaces_it(tmp_path, cache, capsys):
    """D13: a different archive of a cached version is not silently ignored."""
    first = _write_archive(tmp_path / "a.tar.gz", _tree_members())
    assert fetch_tree.main(["--from", str(first)]) == 0
    capsys.readouterr()
    assert fetch_tree.main(["--from", str(first)]) == 0
    assert "same content" in capsys.readouterr().err
    files = _tree_members() | {"scvi_tools-9.9.9/docs/new.md": b"# new\n"}
    second = _write_archive(tmp_path / "b.tar.gz", files)
    assert fetch_tree.main(["--from", str(second)]) == 0
    out, err = capsys.readouterr()
    tree = Path(out.strip().splitlines()[-1])
    assert "Replaced the cached scvi-tools 9.9.9" in err
    assert (tree / "docs" / "new.md").is_file()
    assert fetch_mod.read_cache_manifest(tree)["source"] == "archive b.tar.gz"
    assert _leftovers(cache) == ["scvi-tools-9.9.9"]


def test_unreadable_or_corrupt_user_file_is_not_to_be_deleted(tmp_path, cache, capsys):
    """D16: "Delete it and fetch again" was printed for the user's own file."""
    bad = tmp_path / "mine.tar.gz"
    bad.write_bytes(b"not gzip at all")
    assert fetch_tree.main(["--from", str(bad)]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "corrupted or truncated" in err and "Delete" not in err


def test_from_folder_does_not_follow_links_out_of_it(tmp_path, cache, capsys):
    """D17: top-level docs/ or CHANGELOG.md that are links out of the folder are not copied."""
    outside = tmp_path / "outside"
    (outside / "docs").mkdir(parents=True)
    (outside / "docs" / "private.md").write_text("# not part of the checkout\n")
    (outside / "secret.md").write_text("secret\n")
    checkout = tmp_path / "checkout"
    (checkout / "src" / "scvi").mkdir(parents=True)
    (checkout / "src" / "scvi" / "__init__.py").write_text("")
    (checkout / "pyproject.toml").write_text('[project]\nversion = "9.9.9"\n')
    (checkout / "CHANGELOG.md").symlink_to(outside / "secret.md")
    (checkout / "docs").symlink_to(outside / "docs")
    assert fetch_tree.main(["--from", str(checkout)]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "link out of" in err and "nothing cached" in err
    assert _leftovers(cache) == []
    (checkout / "docs").unlink()
    (checkout / "docs").mkdir()
    (checkout / "docs" / "index.md").write_text("# docs\n")
    (checkout / "docs" / "abs.md").symlink_to(checkout / "docs" / "index.md")
    assert fetch_tree.main(["--from", str(checkout)]) == 0
    tree = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert not (tree / "CHANGELOG.md").exists()
    assert not (tree / "docs" / "abs.md").exists()  # absolute: it would point at the source
    assert (tree / "docs" / "index.md").is_file()


def test_pinned_sdist_checksum_is_verified(tmp_path, cache, monkeypatch, capsys):
    """A download of the pinned version must have the published sha256; others are recorded
    as unverified."""
    from scvi_skill.runtime import PINNED_SCVI_TOOLS

    assert len(fetch_mod.SDIST_SHA256[PINNED_SCVI_TOOLS]) == 64
    fake = _write_archive(tmp_path / f"scvi_tools-{PINNED_SCVI_TOOLS}.tar.gz",
                          _tree_members(version=PINNED_SCVI_TOOLS))

    def served(version, dest, **kwargs):
        return fake

    monkeypatch.setattr(fetch_mod, "download_sdist", served)
    assert fetch_tree.main([]) == EXIT_FETCH
    err = capsys.readouterr().err
    assert "sha256" in err and "nothing was cached" in err
    assert _leftovers(cache) == []
    other = _write_archive(tmp_path / "scvi_tools-9.9.9.tar.gz", _tree_members())
    monkeypatch.setattr(fetch_mod, "download_sdist", lambda version, dest, **kw: other)
    assert fetch_tree.main(["--version", "9.9.9"]) == 0
    out, err = capsys.readouterr()
    assert "not verified" in err
    manifest = fetch_mod.read_cache_manifest(Path(out.strip().splitlines()[-1]))
    assert manifest["sha256_verified"] is False


def test_local_archive_of_the_pinned_version_that_differs_is_unverified(tmp_path, cache, capsys):
    from scvi_skill.runtime import PINNED_SCVI_TOOLS

    archive = _write_archive(tmp_path / "mine.tar.gz", _tree_members(version=PINNED_SCVI_TOOLS))
    assert fetch_tree.main(["--from", str(archive)]) == 0
    out, err = capsys.readouterr()
    assert "not the published" in err
    assert fetch_mod.read_cache_manifest(Path(out.strip().splitlines()[-1]))[
        "sha256_verified"] is False


def _flat(members: dict[str, bytes]) -> dict[str, bytes]:
    """The same sdist with its package at the top (``scvi/``), as most sdists before 1.2."""
    return {name.replace("/src/scvi/", "/scvi/"): data for name, data in members.items()}


def test_a_flat_sdist_is_cached_with_its_package_under_src(tmp_path, cache, capsys):
    """scvi-tools 1.1.5's sdist has scvi/ at its top; before, fetch_tree.py --version 1.1.5
    exited 5 ("not an scvi-tools sdist: missing src/scvi/__init__.py")."""
    archive = _write_archive(tmp_path / "scvi_tools-9.9.9.tar.gz", _flat(_tree_members()))
    assert fetch_tree.main(["--from", str(archive)]) == 0
    out, err = capsys.readouterr()
    path = Path(out.strip().splitlines()[-1])
    assert (path / "src" / "scvi" / "model" / "_scvi.py").read_text().startswith("class SCVI")
    assert not (path / "scvi").exists() and "cached as src/scvi/" in err
    assert _leftovers(cache) == ["scvi-tools-9.9.9"]


def test_a_flat_checkout_folder_is_copied_under_src(tmp_path, cache, capsys):
    folder = tmp_path / "old-checkout"
    for name, data in _flat(_tree_members(top="old-checkout")).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    assert fetch_tree.main(["--from", str(folder)]) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (path / "src" / "scvi" / "__init__.py").is_file() and not (path / "scvi").exists()


def test_a_tree_with_both_layouts_is_not_rearranged(tmp_path, cache, capsys):
    """src/ present: the flat scvi/ is not moved over it (nothing is overwritten)."""
    members = _tree_members()
    members["scvi_tools-9.9.9/scvi/__init__.py"] = b"# stray\n"
    archive = _write_archive(tmp_path / "scvi_tools-9.9.9.tar.gz", members)
    assert fetch_tree.main(["--from", str(archive)]) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (path / "src" / "scvi" / "__init__.py").read_bytes() == b'"""scvi-tools."""\n'


def test_download_returns_the_archive_of_the_version_asked_for(tmp_path, monkeypatch):
    """With other releases' sdists in the folder (build_api_index.py's cache), the archive
    returned is the one pip saved for this version: before, it was the first in name order,
    so a cold cache built every release's API index from 1.0.0's sdist."""
    (tmp_path / "scvi_tools-1.0.0.tar.gz").write_bytes(b"old")

    def pip_saves(cmd, echo=True):
        version = cmd[-1].split("==")[1]
        (tmp_path / f"scvi_tools-{version}.tar.gz").write_bytes(version.encode())
        tail = fetch_mod._Tail()
        tail.returncode, tail.lines = 0, ["Successfully downloaded scvi-tools"]
        return tail

    monkeypatch.setattr(fetch_mod, "_run_streaming", pip_saves)
    got = fetch_mod.download_sdist("1.5.1", tmp_path, log=lambda _: None)
    assert got == tmp_path / "scvi_tools-1.5.1.tar.gz" and got.read_bytes() == b"1.5.1"


def test_a_download_that_saves_no_archive_of_that_version_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "scvi_tools-1.0.0.tar.gz").write_bytes(b"old")

    def pip_saves_nothing(cmd, echo=True):
        tail = fetch_mod._Tail()
        tail.returncode, tail.lines = 0, ["Successfully downloaded scvi-tools"]
        return tail

    monkeypatch.setattr(fetch_mod, "_run_streaming", pip_saves_nothing)
    # pip succeeded without this version's archive (it read 1.5 as 1.5.0): said as such,
    # not as pip's "Successfully downloaded" (session 43).
    with pytest.raises(fetch_mod.FetchError, match="pip downloaded another name than "
                                                   "scvi-tools 1.5.1"):
        fetch_mod.download_sdist("1.5.1", tmp_path, log=lambda _: None)


def test_a_quiet_download_keeps_pip_output_off_stderr_but_in_the_error(capsys):
    """echo=False (search_source.py --since, which may fetch several releases) passes
    nothing of pip's output to stderr; its last lines still make the error message."""
    script = "import sys; print('Collecting scvi-tools'); print('ERROR: no such version'); sys.exit(1)"
    tail = fetch_mod._run_streaming([sys.executable, "-c", script], echo=False)
    assert tail.returncode == 1 and tail.lines[-1] == "ERROR: no such version"
    assert capsys.readouterr().err == ""
    fetch_mod._run_streaming([sys.executable, "-c", script])
    assert "ERROR: no such version" in capsys.readouterr().err


def test_from_skips_a_link_whose_text_climbs_out_even_if_it_lands_inside(tmp_path, cache,
                                                                          capsys):
    """``docs/x -> ../../../../src3/a/b/src`` resolves inside the source, but its copy in the
    cache resolved outside the cached tree (session 43's review); ``docs/ok -> ../src`` is
    copied as a link."""
    tree = tmp_path / "src3" / "a" / "b"
    for name, data in _tree_members(top=".", version="9.9.7").items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    (tree / "docs" / "x").symlink_to(Path("../../../../src3/a/b/src"))
    (tree / "docs" / "ok").symlink_to(Path("../src"))
    assert fetch_tree.main(["--from", str(tree)]) == 0
    assert "docs/x is a link out of" in capsys.readouterr().err
    cached = cache / "scvi-tools-9.9.7" / "docs"
    assert not (cached / "x").is_symlink() and (cached / "ok").is_symlink()
    assert (cached / "ok").resolve() == (cache / "scvi-tools-9.9.7" / "src").resolve()

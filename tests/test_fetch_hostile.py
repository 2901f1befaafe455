"""Crafted archives and hostile inputs for fetch_tree.py, under every Python on the machine.

Each archive is one reproduction from the adversarial review (issue 13: D1, D2, D5): it must
end with exit 5 and one ``Error:`` line, write nothing outside the cache, and leave nothing in
the cache. The same driver runs under this interpreter and under any other CPython found
(``/usr/bin/python3`` is 3.11.2 here, without tarfile filters), so the defence does not
depend on the ``data`` filter.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOP = "scvi_tools-9.9.9"
SECRET = b"the user's own file\n"


def _tree(version: str = "9.9.9") -> dict[str, bytes]:
    return {
        f"{TOP}/PKG-INFO": f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n".encode(),
        f"{TOP}/src/scvi/__init__.py": b'"""scvi-tools."""\n',
        f"{TOP}/docs/index.md": b"# scvi-tools\n",
    }


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _write(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = (),
           after: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = _info(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
        for name, data in (after or {}).items():
            info = _info(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _chain(levels: int, ups: int, leaf: str) -> str:
    """A name that stays inside lexically but, once ``deep -> .`` exists, climbs ``ups``
    folders above ``TOP`` on disk."""
    return f"{TOP}/" + "deep/" * levels + "../" * ups + leaf


def crafted_archives(folder: Path) -> dict[str, Path]:
    """name -> archive: the review's reproductions, plus the other member kinds an sdist
    never holds."""
    folder.mkdir(parents=True, exist_ok=True)
    long = "d" * 200
    cases: dict[str, Path] = {}

    def add(name, files, extra=(), after=None):
        cases[name] = _write(folder / f"{name}.tar.gz", files, list(extra), after)

    add("version-escape", _tree("1.5.1/../../../../evil"))
    add("version-nested", _tree("1.5.1/injected_subdir"))
    add("version-dotdot", _tree(".."))
    add("version-shell", _tree("1.5.1; touch pwned"))
    # D2: ``deep -> .`` then a file and a hard link whose names pass a text-only check.
    add("link-chain-file", _tree(), [_info(f"{TOP}/deep", tarfile.SYMTYPE, ".")],
        {_chain(12, 6, "secret.txt"): b"overwritten\n"})
    chain_link = _info(_chain(12, 6, "secret.txt"), tarfile.LNKTYPE, f"{TOP}/PKG-INFO")
    add("link-chain-hardlink", _tree(), [_info(f"{TOP}/deep", tarfile.SYMTYPE, "."), chain_link])
    # CVE-2025-4517 shape: nested long-named folders and symlinks so realpath gives up.
    nested = [_info(f"{TOP}/{long}", tarfile.DIRTYPE)]
    nested += [_info(f"{TOP}/{long}/{'l' * 200}", tarfile.SYMTYPE, "../" * 30 + "tmp")]
    nested += [_info(f"{TOP}/escape", tarfile.SYMTYPE, f"{long}/{'l' * 200}/../../..")]
    add("nested-symlinks", _tree(), nested, {f"{TOP}/escape/secret.txt": b"x\n"})
    add("symlink-inside", _tree(), [_info(f"{TOP}/docs/link", tarfile.SYMTYPE, "index.md")])
    add("hardlink-inside", _tree(), [_info(f"{TOP}/docs/hard", tarfile.LNKTYPE,
                                           f"{TOP}/docs/index.md")])
    add("dotdot", _tree() | {f"{TOP}/../../escaped.txt": b"x"})
    add("absolute", _tree() | {"/tmp/scvi-skill-absolute-escape.txt": b"x"})
    add("device", _tree(), [_info(f"{TOP}/docs/null", tarfile.CHRTYPE)])
    add("fifo", _tree(), [_info(f"{TOP}/docs/pipe", tarfile.FIFOTYPE)])
    add("duplicate", _tree(), after={f"{TOP}/docs/index.md": b"# again\n"})
    truncated = folder / "truncated.tar.gz"
    truncated.write_bytes(cases["dotdot"].read_bytes()[:200])
    cases["truncated"] = truncated
    text = folder / "README.md"
    text.write_text("# not an archive\n")
    cases["not-an-archive"] = text
    return cases


DRIVER = r"""
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])
import fetch_tree
out = {}
for name, path in json.loads(sys.argv[2]).items():
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            code = fetch_tree.main(["--from", path])
        except BaseException as exc:  # a traceback is a failure the test reports
            code = f"{type(exc).__name__}: {exc}"
    out[name] = {"code": code, "stderr": err.getvalue(), "stdout": std.getvalue()}
print(json.dumps(out))
"""


def _pythons() -> list[str]:
    """This interpreter and every other CPython 3.10+ on the machine (deduplicated)."""
    found, seen = [], set()
    candidates = [sys.executable, "/usr/bin/python3"]
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(10, 15)]
    for exe in candidates:
        if not exe or not os.access(exe, os.X_OK):
            continue
        probe = subprocess.run([exe, "-c", "import sys; print(sys.version_info >= (3, 10), "
                                "sys.version.split()[0])"], capture_output=True, text=True)
        ok, _, version = probe.stdout.strip().partition(" ")
        if ok == "True" and version not in seen:
            seen.add(version)
            found.append(exe)
    return found


def _files_outside(root: Path, cache: Path) -> dict[str, bytes]:
    out = {}
    for path in root.rglob("*"):
        if cache in path.parents or path == cache or path.is_dir():
            continue
        out[str(path.relative_to(root))] = path.read_bytes() if path.is_file() else b"<special>"
    return out


@pytest.mark.parametrize("python", _pythons(), ids=lambda exe: Path(exe).name)
def test_crafted_archives_write_nothing_outside_the_cache(tmp_path, python):
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.txt").write_bytes(SECRET)
    archives = crafted_archives(tmp_path / "archives")
    cache = home / ".cache" / "scvi-skill" / "trees"
    before = _files_outside(tmp_path, cache)
    env = {k: v for k, v in os.environ.items()
           if k not in ("SCVI_SKILL_CACHE", "XDG_CACHE_HOME", "SCVI_TOOLS_TREE")}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [python, "-I", "-c", DRIVER, str(REPO / "scripts"),
         json.dumps({k: str(v) for k, v in archives.items()})],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    for name, result in results.items():
        lines = result["stderr"].splitlines()
        assert result["code"] == 5, (name, result)
        assert result["stdout"] == "", (name, result)
        assert sum(line.startswith("Error:") for line in lines) == 1, (name, lines)
        assert "Traceback" not in result["stderr"], (name, lines)
    assert _files_outside(tmp_path, cache) == before
    assert (home / "secret.txt").read_bytes() == SECRET
    assert not Path("/tmp/scvi-skill-absolute-escape.txt").exists()
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert left == []
    assert "symbolic link" in results["link-chain-file"]["stderr"]
    assert "hard link" in results["hardlink-inside"]["stderr"]
    assert "not a version number" in results["version-escape"]["stderr"]
    assert "corrupted or truncated" in results["not-an-archive"]["stderr"]
    assert "Delete it" not in results["not-an-archive"]["stderr"]


def test_every_python_on_the_machine_is_tried():
    """The old-Python run is the point: say so when only one interpreter is there."""
    pythons = _pythons()
    assert pythons, "no Python >= 3.10 found"
    if len(pythons) == 1:
        pytest.skip("only one Python >= 3.10 on this machine; the old-Python run did not happen")


@pytest.mark.parametrize("case", ["link-chain-file", "link-chain-hardlink", "nested-symlinks",
                                  "hardlink-inside", "dotdot", "absolute", "device"])
def test_build_api_index_refuses_the_crafted_archives(tmp_path, monkeypatch, capsys, case):
    """build_api_index.py unpacked with tarfile's ``data`` filter alone, which the nested
    symlinks bypass on Python 3.12.1 (CVE-2025-4517: a file outside the folder overwritten);
    it now checks every member as fetch_tree.py does, and extracts nothing on a refusal."""
    sys.path.insert(0, str(REPO / "scripts"))
    import build_api_index

    archive = crafted_archives(tmp_path / "archives")[case]
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    shutil.copy(archive, sdists / "scvi_tools-9.9.9.tar.gz")
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.setattr("tempfile.tempdir", None)
    (work / "secret.txt").write_bytes(SECRET)
    out = tmp_path / "out"
    code = build_api_index.main(["--versions", "9.9.9", "--sdists", str(sdists),
                                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "unsafe member" in err and "Traceback" not in err
    assert sorted(p.name for p in work.iterdir()) == ["secret.txt"]
    assert (work / "secret.txt").read_bytes() == SECRET
    assert not out.exists() or not any(out.iterdir())


def test_members_or_totals_beyond_an_sdists_size_are_refused(tmp_path, monkeypatch, capsys):
    """A small .tar.gz can unpack to gigabytes of zeros (3 GiB cached before session 43)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import fetch_tree
    from scvi_skill.runtime import archive as archive_mod

    monkeypatch.setenv("SCVI_SKILL_CACHE", str(tmp_path / "cache"))
    big = _write(tmp_path / "big.tar.gz", _tree() | {f"{TOP}/docs/zeros.md": b"\0" * 4096})
    monkeypatch.setattr(archive_mod, "MAX_MEMBER_BYTES", 1024)
    assert fetch_tree.main(["--from", str(big)]) == 5
    assert "4096 bytes" in capsys.readouterr().err
    monkeypatch.setattr(archive_mod, "MAX_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(archive_mod, "MAX_TOTAL_BYTES", 2048)
    assert fetch_tree.main(["--from", str(big)]) == 5
    assert "hold more than" in capsys.readouterr().err
    cache = tmp_path / "cache"
    assert not cache.exists() or not [p for p in cache.iterdir() if p.name.startswith("scvi")]


def test_from_never_replaces_a_tree_fetch_tree_did_not_write(tmp_path, monkeypatch, capsys):
    """A complete tree without the manifest (a checkout the user put there, with notes and
    .git) was swapped out and deleted by --from; now it is refused and kept."""
    sys.path.insert(0, str(REPO / "scripts"))
    import fetch_tree

    cache = tmp_path / "cache"
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(cache))
    theirs = cache / "scvi-tools-9.9.9"
    for name in ("src/scvi/__init__.py", "docs/index.md", ".git/HEAD"):
        (theirs / name).parent.mkdir(parents=True, exist_ok=True)
        (theirs / name).write_text("x\n")
    (theirs / "MY_NOTES.md").write_bytes(SECRET)
    archive = _write(tmp_path / "ok.tar.gz", _tree())
    assert fetch_tree.main(["--from", str(archive)]) == 5
    assert "did not write" in capsys.readouterr().err
    assert (theirs / "MY_NOTES.md").read_bytes() == SECRET and (theirs / ".git").is_dir()

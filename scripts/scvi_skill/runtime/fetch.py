"""Obtain a scvi-tools source tree and cache it: download, verify, extract safely, atomically.

The default source is the scvi-tools sdist on whatever package index the user's pip is
configured for (no host name is written here): it holds docs/, src/, tests/ and CHANGELOG.md.
``--from PATH`` takes a git checkout, an extracted tree or a local sdist archive instead.

A cached tree lives in ``<trees_dir>/scvi-tools-<version>/`` with a small manifest. It is built
in a temporary folder next to it and renamed into place, so a folder of that name is always
complete: a failed or interrupted fetch leaves nothing a later call would trust.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from .errors import FetchError
from .files import lexically_inside, read_json_file, sha256_file
from .paths import cached_tree_path, trees_dir
from .tree import missing_parts, read_version

PACKAGE = "scvi-tools"
MANIFEST_NAME = ".scvi-skill-manifest.json"
# What a tree needs for the skill; a checkout's other folders (.git, build outputs) are not copied.
TREE_PARTS = ("docs", "src", "tests", "CHANGELOG.md", "pyproject.toml", "PKG-INFO", "LICENSE")
STALE_TMP_SECONDS = 3600  # temporary folders older than this belong to a killed fetch
DOWNLOAD_TIMEOUT_S = 900
_VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+!-]*$")
_FROM_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")


def fetch_tree(
    version: str,
    *,
    from_path: str | None = None,
    index_url: str | None = None,
    log=None,
) -> Path:
    """Return the path of a complete cached tree of ``version``, fetching it if needed."""
    log = log or _stderr
    if from_path is None:
        _check_version_text(version)
        target = cached_tree_path(version)
        if _is_complete(target):
            return target
        cache = _ensure_cache_dir()
        _remove_stale_tmp(cache)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as download_dir:
            archive = download_sdist(version, Path(download_dir), index_url=index_url, log=log)
            return install_archive(archive, version, source="package index", log=log)
    source = Path(from_path).expanduser()
    if source.is_file():
        return install_archive(source, None, source=f"archive {source.name}", log=log)
    if source.is_dir():
        return install_folder(source, log=log)
    msg = f"--from {source}: no such file or folder"
    raise FetchError(msg, hint="Give a git checkout, an extracted tree or an sdist .tar.gz")


def download_sdist(version: str, dest: Path, *, index_url: str | None = None, log=None) -> Path:
    """Download the sdist of ``scvi-tools==version`` into ``dest`` with pip; return the archive."""
    log = log or _stderr
    args = ["download", "--no-deps", "--no-binary", ":all:", "--ignore-requires-python"]
    if index_url:
        args += ["--index-url", index_url]
    args += ["--progress-bar", "on", "--dest", str(dest), f"{PACKAGE}=={version}"]
    cmd = _pip_command() + args
    log(f"Downloading the {PACKAGE} {version} sdist with {' '.join(cmd[:-len(args)])} ...")
    tail = _run_streaming(cmd)
    archives = sorted(dest.glob("scvi_tools-*.tar.gz")) + sorted(dest.glob("scvi-tools-*.tar.gz"))
    if tail.returncode == 0 and archives:
        return archives[0]
    text = "\n".join(tail.lines)
    found = _FROM_VERSIONS.search(text)
    if found is not None:
        versions = [v.strip() for v in found.group(1).split(",") if v.strip()]
        recent = ", ".join(versions[-8:]) if versions else "none"
        msg = f"{PACKAGE} {version} is not on the package index (newest there: {recent})"
        raise FetchError(
            msg,
            hint="List every version with: python3 scripts/fetch_tree.py --list-versions",
        )
    last = next((line for line in reversed(tail.lines) if line.strip()), "no output")
    msg = f"could not download {PACKAGE} {version} from the package index: {last.strip()}"
    raise FetchError(msg, hint="Check your network and pip's index settings (pip config list)")


def list_versions(*, index_url: str | None = None) -> list[str]:
    """Versions of scvi-tools on the configured index, newest first."""
    cmd = _pip_command() + ["index", "versions", "--ignore-requires-python", PACKAGE]
    if index_url:
        cmd += ["--index-url", index_url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("Available versions:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise FetchError(f"could not list {PACKAGE} versions: {last}")


def install_archive(archive: Path, version: str | None, *, source: str, log=None) -> Path:
    """Verify and safely extract an sdist archive into the cache; return the tree path."""
    log = log or _stderr
    sha256 = sha256_file(archive)
    cache = _ensure_cache_dir()
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
    try:
        _extract_safely(archive, tmp)
        root = _single_top_folder(tmp, archive)
        missing = missing_parts(root)
        if missing:
            msg = f"{archive.name} is not an scvi-tools sdist: missing {', '.join(missing)}"
            raise FetchError(msg)
        found = read_version(root)
        if version is not None and found != version:
            msg = f"{archive.name} holds scvi-tools {found}, not {version}"
            raise FetchError(msg)
        _write_manifest(root, found, source, sha256)
        return _move_into_place(root, found, log)
    except OSError as err:
        raise _cache_write_error(cache, err) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def install_folder(folder: Path, *, log=None) -> Path:
    """Copy the parts of a checkout/extracted tree the skill needs into the cache."""
    log = log or _stderr
    folder = folder.resolve()
    missing = missing_parts(folder)
    if missing:
        msg = f"--from {folder} is not an scvi-tools tree: missing {', '.join(missing)}"
        raise FetchError(msg, hint="Give the root of a scvi-tools git checkout or extracted sdist")
    version = read_version(folder)
    target = cached_tree_path(version)
    if _is_complete(target):
        return target
    cache = _ensure_cache_dir()
    tmp = Path(tempfile.mkdtemp(prefix=".copy-", dir=cache))
    try:
        root = tmp / f"scvi-tools-{version}"
        root.mkdir()
        for part in TREE_PARTS:
            src = folder / part
            if src.is_dir():
                shutil.copytree(src, root / part, symlinks=True, ignore=_ignore_outside(folder))
            elif src.is_file():
                shutil.copy2(src, root / part)
        _write_manifest(root, version, f"folder {folder.name}", None)
        return _move_into_place(root, version, log)
    except OSError as err:
        raise _cache_write_error(cache, err) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_cache_manifest(tree: Path) -> dict | None:
    """The manifest a cached tree was written with; ``None`` when absent or unreadable."""
    data = read_json_file(tree / MANIFEST_NAME)
    return data if isinstance(data, dict) else None


# -- helpers ---------------------------------------------------------------------------------


class _Tail:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.returncode = 0


def _run_streaming(cmd: list[str]) -> _Tail:
    """Run ``cmd``, pass its output to stderr as it comes (progress bars included), and keep
    the last lines for the error message."""
    tail = _Tail()
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError as err:
        raise FetchError(f"could not run {cmd[0]}: {err}") from err
    assert proc.stdout is not None
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT_S
    kept = bytearray()
    while True:
        chunk = proc.stdout.read1(8192) if hasattr(proc.stdout, "read1") else proc.stdout.read(8192)
        if not chunk:
            break
        _echo(chunk)
        kept += chunk
        del kept[:-16384]
        if time.monotonic() > deadline:
            proc.kill()
            raise FetchError(f"download took longer than {DOWNLOAD_TIMEOUT_S} s")
    tail.returncode = proc.wait()
    text = kept.decode("utf-8", "replace").replace("\r", "\n")
    tail.lines = text.splitlines()[-40:]
    return tail


def _echo(chunk: bytes) -> None:
    out = getattr(sys.stderr, "buffer", None)
    if out is not None:
        out.write(chunk)
    else:  # a text-only stderr (tests capture it so)
        sys.stderr.write(chunk.decode("utf-8", "replace"))
    sys.stderr.flush()


def _pip_command() -> list[str]:
    """pip of this interpreter, else a pip on PATH, else pip run through uv."""
    try:
        import importlib.util

        if importlib.util.find_spec("pip") is not None:
            return [sys.executable, "-m", "pip"]
    except (ImportError, ValueError):
        pass
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    uv = shutil.which("uv")
    if uv:
        return [uv, "tool", "run", "pip"]
    raise FetchError(
        "neither pip nor uv is available to download the scvi-tools sdist",
        hint="Install pip (python3 -m ensurepip) or uv, or use --from PATH with a local tree",
    )


def _check_version_text(version: str) -> None:
    if not _VERSION_RE.match(version):
        raise FetchError(
            f"{version!r} is not a version number",
            hint="Example: --version 1.5.1; list them with --list-versions",
        )


def _is_complete(target: Path) -> bool:
    return target.is_dir() and not missing_parts(target)


def _ensure_cache_dir() -> Path:
    cache = trees_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=cache, prefix=".probe-", delete=True)
        probe.close()
    except OSError as err:
        raise _cache_write_error(cache, err) from err
    return cache


def _cache_write_error(cache: Path, err: OSError) -> FetchError:
    reason = err.strerror or str(err)
    return FetchError(
        f"cannot write to the tree cache {cache}: {reason}",
        hint="Free space there, or set SCVI_SKILL_CACHE to a writable folder",
    )


def _remove_stale_tmp(cache: Path) -> None:
    now = time.time()
    for entry in cache.glob(".*-*"):
        try:
            if entry.is_dir() and now - entry.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def _extract_safely(archive: Path, dest: Path) -> None:
    """Extract only if every member is safe; any bad member aborts before anything is written.

    Members are checked first (no absolute path, no ``..`` that leaves ``dest``, no link that
    points outside, no device or fifo: an sdist has none of these), then extracted with
    tarfile's ``data`` filter where this Python has it, as a second line of defence.
    """
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, dest)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # Python < 3.10.12 / 3.11.4: the checks above are the whole defence
                tar.extractall(dest, members=members)
    except tarfile.FilterError as err:
        member = getattr(err, "tarinfo", None)
        name = member.name if member is not None else "?"
        raise _unsafe(archive, name, str(err)) from err
    except (tarfile.ReadError, EOFError, zlib.error) as err:
        msg = f"{archive.name} is corrupted or truncated ({err})"
        raise FetchError(msg, hint="Delete it and fetch again") from err
    except _UnsafeMember as err:
        raise _unsafe(archive, err.name, err.why) from None
    except OSError as err:
        raise _cache_write_error(dest.parent, err) from err


class _UnsafeMember(Exception):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(name)
        self.name, self.why = name, why


def _unsafe(archive: Path, name: str, why: str) -> FetchError:
    msg = f"{archive.name} has an unsafe member {name!r}: {why}"
    return FetchError(msg, hint="The archive was not extracted; nothing was cached")


def _check_member(member: tarfile.TarInfo, dest: Path) -> None:
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        raise _UnsafeMember(name, "absolute path")
    target = dest / name
    if not lexically_inside(dest, Path(os.path.normpath(target))):
        raise _UnsafeMember(name, "path leaves the target folder")
    if member.isdev() or member.isfifo():
        raise _UnsafeMember(name, "device or fifo")
    if member.issym() or member.islnk():
        link = member.linkname
        base = target.parent if member.issym() else dest
        if os.path.isabs(link) or not lexically_inside(dest, Path(os.path.normpath(base / link))):
            raise _UnsafeMember(name, f"link to {link!r} outside the target folder")


def _single_top_folder(tmp: Path, archive: Path) -> Path:
    entries = [p for p in tmp.iterdir()]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    msg = f"{archive.name} is not an sdist: expected one top-level folder"
    raise FetchError(msg)


def _write_manifest(root: Path, version: str, source: str, sha256: str | None) -> None:
    manifest = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package": PACKAGE,
        "sha256": sha256,
        "source": source,
        "version": version,
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _move_into_place(root: Path, version: str, log) -> Path:
    target = cached_tree_path(version)
    try:
        os.rename(root, target)
    except OSError as err:
        if _is_complete(target):  # another process won the race: theirs is as good
            return target
        raise _cache_write_error(target.parent, err) from err
    log(f"Cached scvi-tools {version} at {target}")
    return target


def _ignore_outside(base: Path):
    """copytree ignore function: skip symlinks whose target leaves ``base``."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        skipped = []
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                try:
                    path.resolve().relative_to(base)
                except ValueError:
                    skipped.append(name)
        return skipped

    return ignore


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)

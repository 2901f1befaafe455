"""Obtain a scvi-tools source tree and cache it: download, verify, extract safely, atomically.

The default source is the scvi-tools sdist on whatever package index the user's pip is
configured for (no host name is written here): it holds docs/, src/, tests/ and CHANGELOG.md.
``--from PATH`` takes a git checkout, an extracted tree or a local sdist archive instead.

A cached tree lives in ``<trees_dir>/scvi-tools-<version>/`` with a small manifest. It is built
in a temporary folder next to it and renamed into place, so a folder of that name is always
complete: a failed or interrupted fetch leaves nothing a later call would trust. Work folders
are named ``.scvi-skill-tmp-*`` and hold a marker file; only those are ever swept.

Versions become paths only after :func:`check_version` (a PEP 440 public version, matched
whole). Archives are extracted by :mod:`.archive` (regular files and folders only). The pinned
version's sdist is checked against :data:`SDIST_SHA256`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .archive import CacheWriteError, extract_sdist
from .errors import FetchError, UsageError, warn
from .files import read_json_file, resolves_inside, sha256_file
from .paths import cached_tree_path, is_public_version, trees_dir
from .tree import is_flat, missing_parts, read_version

PACKAGE = "scvi-tools"
MANIFEST_NAME = ".scvi-skill-manifest.json"
# What a tree needs for the skill; a checkout's other folders (.git, build outputs) are not copied.
TREE_PARTS = ("docs", "src", "tests", "CHANGELOG.md", "pyproject.toml", "PKG-INFO", "LICENSE")
SDIST_SHA256 = {
    "1.5.1": "413cab3a8b8865bb42712c1239ab3b1e78960e0739df844128d3577c1556fb18",
}
"""Published sha256 of the pinned version's sdist (checked on download; update it with
``PINNED_SCVI_TOOLS``). Other versions are recorded in the manifest, not verified."""
TMP_PREFIX = ".scvi-skill-tmp-"
TMP_MARKER = ".scvi-skill-tmp"
TMP_NOTE = "work folder of scripts/fetch_tree.py; removed when the fetch ends\n"
"""Work folders are named with ``TMP_PREFIX`` and hold ``TMP_MARKER``: the stale-folder sweep
deletes nothing else, even when the cache is a folder of the user's own."""
STALE_TMP_SECONDS = 3600  # work folders older than this belong to a killed fetch
DOWNLOAD_TIMEOUT_S = 900
_NETWORK_TROUBLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Max retries exceeded|"
    r"ConnectionError|ConnectTimeout|ReadTimeout|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|Connection refused|ProxyError|SSLError|"
    r"Could not fetch URL"
)
"""pip output that means the index was not reached (rather than lacking the version)."""
_NETWORK_DETAIL = re.compile(
    r"(?:Failed to establish a new connection: )?\[Errno[^\]]*\][^'\")]*|"
    r"Temporary failure in name resolution|Name or service not known|"
    r"(?:Connect|Read)Timeout[^'\")]*|ProxyError[^'\")]*|SSLError[^'\")]*"
)
PIP_LOG_NAME = "pip.log"
_FROM_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")


def fetch_tree(
    version: str,
    *,
    from_path: str | None = None,
    index_url: str | None = None,
    log=None,
    echo: bool = True,
    expect: str | None = None,
) -> Path:
    """Return the path of a complete cached tree of ``version``, fetching it if needed.

    With ``from_path``, the tree of that archive or folder replaces a cached tree of the same
    version whose content differs (the user asked for this one), and says so; ``expect``: the
    release it must hold (a usage error before anything is cached otherwise). ``echo=False``
    keeps pip's own output off stderr (its last lines still make the error message).
    """
    log = log or _stderr
    if from_path is None:
        check_version(version, "--version")
        target = cached_tree_path(version)
        if _is_complete(target):
            return target
        cache = _ensure_cache_dir()
        with _work_folder(cache, "download") as download_dir:
            archive = download_sdist(version, download_dir, index_url=index_url, log=log,
                                     echo=echo)
            return install_archive(archive, version, source="package index", log=log)
    source = Path(from_path).expanduser()
    if source.is_file():
        return install_archive(source, None, source=f"archive {source.name}", log=log,
                               expect=expect)
    if source.is_dir():
        return install_folder(source, log=log, expect=expect)
    msg = f"--from {source}: no such file or folder"
    raise UsageError(msg, hint="Give a git checkout, an extracted tree or an sdist .tar.gz")


def check_version(version: str, what: str = "version", error: type = FetchError) -> str:
    """``version`` if it is a PEP 440 public version (it becomes part of a cache path);
    otherwise ``error`` (:class:`FetchError` for a version read from an archive, a usage
    error for one the user typed)."""
    if not is_public_version(version):
        shown = version if len(version) <= 60 else version[:60] + "..."
        raise error(
            f"{what} {shown!r} is not a version number (PEP 440, such as 1.5.1 or 1.6.0rc1)",
            hint="Example: --version 1.5.1; list them with --list-versions",
        )
    return version


def download_sdist(version: str, dest: Path, *, index_url: str | None = None, log=None,
                   echo: bool = True) -> Path:
    """Download the sdist of ``scvi-tools==version`` into ``dest`` with pip; return the archive
    (``echo``: pass pip's output to stderr as it comes)."""
    log = log or _stderr
    args = ["download", "--no-deps", "--no-binary", ":all:", "--ignore-requires-python"]
    if index_url:
        args += ["--index-url", index_url]
    pip_log = dest / PIP_LOG_NAME  # pip's debug log: the only place it names network errors
    args += ["--progress-bar", "on", "--log", str(pip_log), "--dest", str(dest),
             f"{PACKAGE}=={version}"]
    cmd = _pip_command() + args
    log(f"Downloading the {PACKAGE} {version} sdist with {' '.join(cmd[:-len(args)])} ...")
    tail = _run_streaming(cmd, echo=echo)
    # This version's archive, by name: ``dest`` may hold other releases' sdists (the API index
    # builder's cache), and the first of them is not the one asked for.
    archives = [dest / f"{stem}-{version}.tar.gz" for stem in ("scvi_tools", "scvi-tools")]
    archives = [a for a in archives if a.is_file()]
    if tail.returncode == 0 and archives:
        return archives[0]
    if tail.returncode == 0:  # pip took ``1.5`` for 1.5.0: another name than the one asked for
        raise FetchError(f"pip downloaded another name than {PACKAGE} {version} (it reads a "
                         "version loosely: 1.5 as 1.5.0)",
                         hint="Give the release as the package index names it (see "
                              "fetch_tree.py --list-versions)")
    text = "\n".join(tail.lines)
    found = _FROM_VERSIONS.search(text)
    versions = [v.strip() for v in found.group(1).split(",")
                if v.strip() and v.strip() != "none"] if found else []
    network = _network_trouble(tail.lines, pip_log)
    if network is not None and not versions:
        msg = f"could not reach the package index to download {PACKAGE} {version}: {network}"
        raise FetchError(msg, hint="Check your network and pip's index settings (pip config "
                         "list), or use --from PATH with a local sdist or checkout")
    if found is not None:
        recent = ", ".join(versions[-8:]) if versions else "none"
        msg = f"{PACKAGE} {version} is not on the package index (newest there: {recent})"
        raise FetchError(
            msg,
            hint="List every version with: python3 scripts/fetch_tree.py --list-versions",
        )
    last = next((line for line in reversed(tail.lines) if line.strip()), "no output")
    msg = f"could not download {PACKAGE} {version} from the package index: {last.strip()}"
    raise FetchError(msg, hint="Check your network and pip's index settings (pip config list)")


def _network_trouble(lines: list[str], pip_log: Path) -> str | None:
    """The first line of pip's output or log that says the index was not reached."""
    try:
        logged = pip_log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        logged = []
    for line in [*lines, *logged]:
        found = _NETWORK_TROUBLE.search(line)
        if found:
            detail = _NETWORK_DETAIL.search(line)
            return (detail.group(0) if detail else found.group(0)).strip()[:200]
    return None


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


def _expected(found: str, expect: str | None) -> None:
    """A usage error when ``--from`` holds another release than the ``--version`` given."""
    if expect is not None and found != expect:
        raise UsageError(f"--from holds scvi-tools {found}, not the --version {expect} given; "
                         "nothing was cached", hint="Leave --version out with --from")


def install_archive(archive: Path, version: str | None, *, source: str, log=None,
                    expect: str | None = None) -> Path:
    """Verify and safely extract an sdist archive into the cache; return the tree path.

    ``version`` is given for a download (the archive must hold it, and the pinned version's
    sha256 must match :data:`PINNED_SDIST_SHA256`); ``None`` for ``--from ARCHIVE``.
    """
    log = log or _stderr
    downloaded = version is not None
    try:
        sha256 = sha256_file(archive)
    except OSError as err:
        raise FetchError(f"cannot read {archive}: {err.strerror or err}") from err
    verified = _verify_sha256(archive, version, sha256, log) if downloaded else None
    cache = _ensure_cache_dir()
    with _work_folder(cache, "extract") as tmp:
        try:
            extract_sdist(archive, tmp, downloaded=downloaded)
        except CacheWriteError as err:
            raise _cache_write_error(cache, err.__cause__ or OSError(str(err))) from err
        root = _single_top_folder(tmp, archive)
        if is_flat(root):
            _to_src_layout(root, log)
        missing = missing_parts(root)
        if missing:
            msg = f"{archive.name} is not an scvi-tools sdist: missing {', '.join(missing)}"
            raise FetchError(msg)
        found = check_version(read_version(root), f"the version in {archive.name}")
        if version is not None and found != version:
            msg = f"{archive.name} holds scvi-tools {found}, not {version}"
            raise FetchError(msg)
        _expected(found, expect)
        if verified is None:
            verified = _verify_sha256(archive, None, sha256, log, pinned_for=found)
        try:
            _write_manifest(root, found, source, sha256, verified)
            return _move_into_place(root, found, log, replace=not downloaded, sha256=sha256)
        except OSError as err:
            raise _cache_write_error(cache, err) from err


def install_folder(folder: Path, *, log=None, expect: str | None = None) -> Path:
    """Copy the parts of a checkout/extracted tree the skill needs into the cache.

    A symbolic link whose target leaves ``folder`` is not copied (with a warning), at the top
    (``docs`` -> elsewhere) or deeper; links that stay inside are copied as links.
    """
    log = log or _stderr
    folder = folder.resolve()
    missing = missing_parts(folder, flat=True)
    if missing:
        msg = f"--from {folder} is not an scvi-tools tree: missing {', '.join(missing)}"
        raise FetchError(msg, hint="Give the root of a scvi-tools git checkout or extracted sdist")
    version = check_version(read_version(folder), f"the version of {folder}")
    _expected(version, expect)
    cache = _ensure_cache_dir()
    with _work_folder(cache, "copy") as tmp:
        root = tmp / f"scvi-tools-{version}"
        try:
            root.mkdir()
            flat = is_flat(folder)
            for part in TREE_PARTS:
                src = folder / ("scvi" if flat and part == "src" else part)
                if flat and part == "src":
                    (root / "src").mkdir()
                    part = "src/scvi"
                if src.is_symlink() and not resolves_inside(folder, src):
                    warn(f"not copied: {src} is a link out of {folder}")
                    continue
                if src.is_dir():
                    shutil.copytree(src, root / part, symlinks=True,
                                    ignore=_ignore_outside(folder))
                elif src.is_file():
                    shutil.copy2(src, root / part)
        except OSError as err:
            raise _cache_write_error(cache, err) from err
        missing = missing_parts(root)
        if missing:
            msg = f"--from {folder}: {', '.join(missing)} lead out of the folder; nothing cached"
            raise FetchError(msg, hint="Copy the real files into the checkout, or use an sdist")
        try:
            _write_manifest(root, version, f"folder {folder.name}", None, None)
            return _move_into_place(root, version, log, replace=True, sha256=None)
        except OSError as err:
            raise _cache_write_error(cache, err) from err


def read_cache_manifest(tree: Path) -> dict | None:
    """The manifest a cached tree was written with; ``None`` when absent or unreadable."""
    data = read_json_file(tree / MANIFEST_NAME)
    return data if isinstance(data, dict) else None


# -- helpers ---------------------------------------------------------------------------------


class _Tail:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.returncode = 0


def _run_streaming(cmd: list[str], echo: bool = True) -> _Tail:
    """Run ``cmd``, pass its output to stderr as it comes (progress bars included) when
    ``echo``, and keep the last lines for the error message."""
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
        if echo:
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


def _is_complete(target: Path) -> bool:
    return target.is_dir() and not missing_parts(target)


def _ensure_cache_dir() -> Path:
    cache = trees_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=cache, prefix=f"{TMP_PREFIX}probe-", delete=True)
        probe.close()
    except OSError as err:
        raise _cache_write_error(cache, err) from err
    _remove_stale_tmp(cache)
    return cache


def _cache_write_error(cache: Path, err: OSError) -> FetchError:
    reason = err.strerror or str(err)
    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    return FetchError(
        f"cannot write to the tree cache {cache}: {reason}",
        hint=("Free space there" if full else "Make it writable")
        + ", or set SCVI_SKILL_CACHE to a writable folder",
    )


def _remove_stale_tmp(cache: Path) -> None:
    """Delete work folders of killed fetches: only folders named with :data:`TMP_PREFIX` that
    hold our :data:`TMP_MARKER` file and are older than :data:`STALE_TMP_SECONDS`."""
    now = time.time()
    try:
        entries = list(cache.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            marker = entry / TMP_MARKER
            if entry.is_symlink() or not entry.is_dir() or marker.is_symlink() \
                    or not marker.is_file():
                continue
            if now - entry.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


@contextlib.contextmanager
def _work_folder(cache: Path, kind: str):
    """A marked temporary folder in the cache, removed on exit; yields its ``work/``."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{kind}-", dir=cache))
    except OSError as err:
        raise _cache_write_error(cache, err) from err
    try:
        try:
            (tmp / TMP_MARKER).write_text(TMP_NOTE, encoding="utf-8")
            work = tmp / "work"
            work.mkdir()
        except OSError as err:
            raise _cache_write_error(cache, err) from err
        yield work
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _verify_sha256(archive: Path, version: str | None, sha256: str, log, *,
                   pinned_for: str | None = None) -> bool:
    """Check ``sha256`` against :data:`SDIST_SHA256`: a download of a pinned version must
    match (else :class:`FetchError`); a local archive that differs is cached with a warning.
    Returns whether the archive was verified."""
    checked = version or pinned_for or ""
    expected = SDIST_SHA256.get(checked)
    if expected is None:
        log(f"sha256 of {archive.name}: {sha256} (recorded in the manifest; not verified: only "
            f"{', '.join(sorted(SDIST_SHA256))} has a pinned checksum)")
        return False
    if sha256 == expected:
        return True
    if version is not None:
        msg = (f"the downloaded {archive.name} has sha256 {sha256}, but the published "
               f"scvi-tools {version} sdist has {expected}; nothing was cached")
        raise FetchError(msg, hint="Your package index served another file; check its "
                         "settings (pip config list) or use --from with a trusted sdist")
    warn(f"{archive.name} is not the published scvi-tools {checked} sdist (sha256 {sha256}, "
         f"published {expected}); caching it, recorded as unverified")
    return False


def _to_src_layout(root: Path, log) -> None:
    """Move a flat sdist's ``scvi/`` (releases before 1.2) to ``src/scvi/`` in the extraction
    folder, so every cached tree has the paths ``src/scvi/...`` that the skill and 1.5.1 use."""
    (root / "src").mkdir()
    (root / "scvi").rename(root / "src" / "scvi")
    log(f"note: {root.name} has scvi/ at its top (as most sdists before 1.2 do); cached as "
        "src/scvi/ so its paths read like the other releases'")


def _single_top_folder(tmp: Path, archive: Path) -> Path:
    entries = [p for p in tmp.iterdir()]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    msg = f"{archive.name} is not an sdist: expected one top-level folder"
    raise FetchError(msg)


def _write_manifest(root: Path, version: str, source: str, sha256: str | None,
                    verified: bool | None) -> None:
    manifest = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package": PACKAGE,
        "sha256": sha256,
        "sha256_verified": verified,
        "source": source,
        "version": version,
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _move_into_place(root: Path, version: str, log, *, replace: bool, sha256: str | None
                     ) -> Path:
    """Rename ``root`` to the cached tree path. When a complete tree is already there: keep
    it for a download (another process won the race: theirs is as good); for ``--from``, keep
    it if it has the same content, else swap the new one in and say so."""
    target = cached_tree_path(version)
    try:
        os.rename(root, target)
    except OSError as err:
        if not (target.exists() or target.is_symlink()):
            raise _cache_write_error(target.parent, err) from err
        if not _is_complete(target):
            raise FetchError(
                f"{target} already exists but is not a complete scvi-tools tree (not written "
                "by fetch_tree.py, or damaged); nothing was changed",
                hint="Move it away or delete it yourself, then run the same command again",
            ) from err
        if not replace:
            return target
        if _same_content(target, root, sha256):
            log(f"scvi-tools {version} is already cached at {target} with the same content")
            return target
        if target.is_symlink():
            raise FetchError(f"{target} is a symbolic link; not replacing what it points to",
                             hint="Remove the link, then run the same command again") from err
        manifest = read_cache_manifest(target)
        if manifest is None:  # a tree someone put there (a checkout, notes): not ours to drop
            raise FetchError(
                f"{target} holds a scvi-tools tree that fetch_tree.py did not write (no "
                f"{MANIFEST_NAME}); nothing was changed",
                hint="Move it away or delete it yourself, then run the same command again",
            ) from err
        previous = manifest.get("source", "unknown source")
        _swap_in(root, target)
        log(f"Replaced the cached scvi-tools {version} (from {previous}) at {target}")
        return target
    log(f"Cached scvi-tools {version} at {target}")
    return target


def _swap_in(root: Path, target: Path) -> None:
    """Replace the tree at ``target`` by ``root``: the old one moves beside ``root`` (into the
    same marked work folder, removed with it) and is put back if the second rename fails."""
    old = root.parent / ".old-tree"  # not a name an archive's top folder has (``old/``)
    while old.exists():
        old = old.with_name(old.name + "-")
    os.rename(target, old)
    try:
        os.rename(root, target)
    except OSError:
        os.rename(old, target)
        raise


def _same_content(cached: Path, new: Path, sha256: str | None) -> bool:
    if sha256 is not None:
        return (read_cache_manifest(cached) or {}).get("sha256") == sha256
    return _tree_digest(cached) == _tree_digest(new)


def _tree_digest(root: Path) -> str:
    """SHA-256 over the sorted (path, content) of a tree's files and links, manifest left out."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in sorted(files + links):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST_NAME:
                continue
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            digest.update(f"{rel}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def _ignore_outside(base: Path):
    """copytree ignore function: skip symlinks that are absolute (a copy would point back at
    the source), whose target leaves ``base``, or whose text climbs above ``base`` on its
    way (``../../../a/b/src``: inside the source, but the copy's would resolve outside the
    cached tree), and anything neither a file nor a folder (a FIFO would block the copy),
    with a warning."""

    def climbs_out(path: Path) -> bool:
        inside = os.path.relpath(path.parent, base)
        steps = Path(inside, os.readlink(path)).parts if inside != "." else \
            Path(os.readlink(path)).parts
        depth = 0
        for step in steps:
            depth += -1 if step == ".." else 0 if step == "." else 1
            if depth < 0:
                return True
        return False

    def ignore(folder: str, names: list[str]) -> list[str]:
        skipped = []
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() and (os.path.isabs(os.readlink(path))
                                      or not resolves_inside(base, path) or climbs_out(path)):
                warn(f"not copied: {path} is a link out of {base}")
                skipped.append(name)
            elif not path.is_symlink() and not path.is_dir() and not path.is_file():
                warn(f"not copied: {path} is not a file or folder (a FIFO, socket or device)")
                skipped.append(name)
        return skipped

    return ignore


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)

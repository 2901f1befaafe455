#!/usr/bin/env python3
"""Build the per-release API indexes in references/api/ from scvi-tools sdists (maintainers).

Downloads each release's sdist with pip (0.x ones straight from the index's simple page, with
their sha256 checked; into a cache outside the repository, reused on rerun), unpacks it,
reads scvi/ with ``ast`` (never imports it) and writes one compressed index per release, the
release history, the messages earlier releases (0.x ones too, read for their messages only)
raise and the last one does not, and the manifest (references/api/; the hand-curated
migrations.json beside them is read, never written). Output is deterministic: a rerun on the
same sdists is byte-identical. Writes are atomic.

Usage:
  python scripts/build_api_index.py                        # every release 1.0.0 .. pinned
  python scripts/build_api_index.py --versions 1.4.3,1.5.1 # only these (a partial manifest)
  python scripts/build_api_index.py --check                # exit 1 when references/api/ is stale
  python scripts/build_api_index.py --sdists DIR           # use (and fill) this sdist cache
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.apiindex import API_DIR  # noqa: E402
from scvi_skill.runtime.errors import SkillPackageError, UsageError, os_guarded, print_error  # noqa: E402
from scvi_skill.runtime.files import temp_beside  # noqa: E402
from scvi_skill.runtime.paths import trees_dir  # noqa: E402

FIRST_RELEASE = "1.0.0"
FIRST_MESSAGE_RELEASE = "0.7.0"
"""The first release (the scvi-tools name on the package index starts at 0.7.0 there) read
for the messages earlier releases raise; its API is not indexed."""
EPILOG = """\
outputs (in --out, default references/api/):
  releases.json                 the known releases, each with its index file and what its
                                sdist declares it needs: Requires-Python, Requires-Dist
  scvi-tools-<V>.json.gz        one release: namespaces, symbols, parameters, kwargs routes
  history.json.gz               first/last release of every public name and parameter, and
                                the defaults that changed
  gone_messages.json            the messages earlier releases (0.7.0 on) raise, warn or log
                                and the last one does not: their releases and sites
  dependency_uses.json.gz       the names of other packages each release uses (jax.random.
                                KeyArray, numpy.float_): their releases and a site

exit codes:
  0  written / up to date (--check)
  1  --check: the files differ
  2  usage error
  5  a download failed
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build_api_index.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", metavar="V,V",
                        help=f"comma-separated releases (default: every release from "
                             f"{FIRST_RELEASE} to the pinned {PINNED_SCVI_TOOLS} on the index)")
    parser.add_argument("--sdists", metavar="DIR", type=Path, default=None,
                        help="sdist cache (default: the scvi-skill cache folder's sdists/; "
                             "inside $SCVI_SKILL_CACHE when that is set)")
    parser.add_argument("--out", metavar="DIR", type=Path, default=API_DIR,
                        help="output folder (default: the skill's references/api/)")
    parser.add_argument("--check", action="store_true",
                        help="write no output; exit 1 when --out differs (a missing sdist is "
                             "still downloaded into the sdist cache) (default: off)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return os_guarded(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code


def _run(args: argparse.Namespace) -> int:
    from scvi_skill.build.api_releases import (
        build_release,
        open_release_tree,
        release_messages,
        release_outputs,
    )

    sdists = args.sdists or _default_sdists()
    versions = _versions(args.versions)
    if args.versions and args.out.resolve() == API_DIR.resolve() and not args.check:
        raise UsageError("--versions builds some releases only: writing them into the skill's "
                         "references/api/ would drop the others from its manifest",
                         hint="Give --out DIR for a subset, or leave --versions out")
    if sdists.exists() and not sdists.is_dir():
        raise UsageError(f"--sdists {sdists} is not a folder")
    sdists.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    releases = []
    for version in versions:
        archive = _sdist(version, sdists)
        with tempfile.TemporaryDirectory(prefix="scvi-api-") as tmp:
            root = _unpack(archive, Path(tmp))
            releases.append(build_release(open_release_tree(root, version)))
        print(f"{version}: {len(releases[-1]['namespaces'])} public names", file=sys.stderr)
    early = []
    for version in _early_versions(args.versions):
        archive = _sdist(version, sdists, messages_only=True)
        with tempfile.TemporaryDirectory(prefix="scvi-api-") as tmp, \
                warnings.catch_warnings():
            # Old sources hold escapes Python now warns about; their messages read the same.
            warnings.simplefilter("ignore", SyntaxWarning)
            root = _unpack(archive, Path(tmp))
            early.append(release_messages(open_release_tree(root, version)))
        print(f"{version}: {len(early[-1]['messages'])} messages", file=sys.stderr)
    outputs = release_outputs(releases, early)
    stale = sorted(name for name, data in outputs.items() if _current(args.out / name) != data)
    # Only index files this tool wrote before (the old manifest names them) go when they are
    # no longer built; any other file in --out is not ours.
    extra = sorted({name for name in _manifest_files(args.out) if name not in outputs
                    and (args.out / name).is_file()})  # releases with equal APIs share one
    size = sum(len(data) for data in outputs.values())
    indexes = sum(name.startswith("scvi-tools-") for name in outputs)
    summary = (f"{len(versions)} releases, {indexes} index files, {size / 1e6:.2f} MB, "
               f"{time.perf_counter() - started:.1f} s")
    if args.check:
        if stale or extra:
            print(f"references/api is stale: {', '.join(stale + extra)} differ ({summary})",
                  file=sys.stderr)
            return 1
        print(f"up to date ({summary})")
        return 0
    _write(outputs, args.out)
    for name in extra:
        (args.out / name).unlink()
    print(f"wrote {len(stale)} file(s), removed {len(extra)} ({summary})")
    return 0


def _manifest_files(out: Path) -> list[str]:
    """The index files the ``releases.json`` in ``out`` lists (none without a readable one)."""
    import json

    try:
        rows = json.loads((out / "releases.json").read_text(encoding="utf-8")).get("releases")
    except (OSError, ValueError, AttributeError):
        return []
    return [row["file"] for row in rows or [] if isinstance(row, dict)
            and isinstance(row.get("file"), str) and "/" not in row["file"]
            and row["file"].startswith("scvi-tools-") and row["file"].endswith(".json.gz")]


_RELEASE = re.compile(r"(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*)){2,}(?:\.post(?:0|[1-9]\d*))?")
"""A final release as the package index names its sdist: three or more parts and no leading
zero (pip reads ``1.5`` as ``1.5.0`` and ``01.5.1`` as ``1.5.1``, and would download and
overwrite a release that was not asked for)."""


def _default_sdists() -> Path:
    """``sdists/`` beside the tree cache (``~/.cache/scvi-skill/sdists``), or inside the
    folder ``SCVI_SKILL_CACHE`` names: never beside a folder the user chose."""
    explicit = os.environ.get("SCVI_SKILL_CACHE")
    if explicit and trees_dir() == Path(explicit).expanduser():
        return trees_dir() / "sdists"
    return trees_dir().parent / "sdists"


def _versions(text: str | None) -> list[str]:
    if text:
        versions = [v.strip() for v in text.split(",") if v.strip()]
        if not versions:
            raise UsageError("--versions names no release")
        bad = [v for v in versions if not _RELEASE.fullmatch(v)]
        if bad:
            raise UsageError(f"--versions takes final releases as the index names them, such as "
                             f"1.2.2 or 1.2.2.post1, "
                             f"got {', '.join(repr(v[:40]) for v in bad[:3])}")
        return sorted(set(versions), key=_key)
    from scvi_skill.runtime.fetch import list_versions

    return sorted((v for v in list_versions() if _key(FIRST_RELEASE) <= _key(v)
                   <= _key(PINNED_SCVI_TOOLS)), key=_key)


def _early_versions(text: str | None) -> list[str]:
    """Releases before the indexed ones whose messages only are read (0.7.0 up to the first
    indexed release), oldest first; none when --versions names the releases."""
    if text:
        return []
    from scvi_skill.runtime.fetch import list_versions

    return sorted((v for v in list_versions()
                   if _key(FIRST_MESSAGE_RELEASE) <= _key(v) < _key(FIRST_RELEASE)), key=_key)


def _key(version: str) -> tuple:
    """Sort key for ``1.2.2.post1``-style versions (release numbers, then post number)."""
    main, _, post = version.partition(".post")
    return (*(int(p) for p in main.split(".")), int(post) if post else -1)


def _sdist(version: str, cache: Path, *, messages_only: bool = False) -> Path:
    for stem in ("scvi_tools", "scvi-tools"):  # releases before 0.20 name it with a hyphen
        archive = cache / f"{stem}-{version}.tar.gz"
        if archive.is_file():
            return archive
    if messages_only:
        # pip prepares an sdist's metadata, and the build backends that many 0.x releases pin
        # no longer install; for their messages the archive alone is enough.
        return _download_archive(version, cache)
    from scvi_skill.runtime.fetch import download_sdist

    return download_sdist(version, cache)


SIMPLE_INDEX = "https://pypi.org/simple/scvi-tools/"


def _download_archive(version: str, cache: Path) -> Path:
    """The sdist of ``version`` from the package index's simple page, checked against the
    sha256 the page gives, written atomically into ``cache``."""
    import hashlib
    import re
    import urllib.request

    from scvi_skill.runtime.errors import FetchError

    try:
        with urllib.request.urlopen(SIMPLE_INDEX, timeout=60) as page:
            html = page.read().decode("utf-8", "replace")
    except OSError as err:
        raise FetchError(f"could not read {SIMPLE_INDEX}: {err}") from None
    pattern = (r'href="([^"#]*/(scvi[-_]tools-' + re.escape(version) +
               r'\.tar\.gz))#sha256=([0-9a-f]{64})"')
    found = re.search(pattern, html)
    if not found:
        raise FetchError(f"{SIMPLE_INDEX} lists no sdist of scvi-tools {version}")
    url, name, digest = found.groups()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except OSError as err:
        raise FetchError(f"could not download {url}: {err}") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise FetchError(f"{name}: sha256 differs from the index's {digest}")
    archive = cache / name
    part = archive.with_name(archive.name + ".part")
    try:
        part.write_bytes(data)
        os.replace(part, archive)
    finally:
        part.unlink(missing_ok=True)  # a failed write leaves nothing behind
    return archive


def _unpack(archive: Path, dest: Path) -> Path:
    try:
        return _unpacked(archive, dest)
    except (tarfile.TarError, EOFError, OSError) as err:
        from scvi_skill.runtime.errors import FetchError

        raise FetchError(f"{archive} is not a readable sdist: {str(err).splitlines()[0]}",
                         hint="Delete it from the sdist cache; the next run downloads it "
                              "again") from None


def _unpacked(archive: Path, dest: Path) -> Path:
    """The sdist's .py files and PKG-INFO extracted into ``dest``: its top folder. Every
    member is checked first as ``fetch_tree.py`` checks them (no link, device, absolute or
    ``..`` name, bounded sizes), so nothing is written outside ``dest`` on any Python
    (tarfile's ``data`` filter had a realpath bypass, CVE-2025-4517, until 3.12.11)."""
    from scvi_skill.runtime.archive import UnsafeMember, check_members

    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        try:
            check_members(members)
        except UnsafeMember as err:
            raise UsageError(f"{archive} has an unsafe member {err.name!r}: {err.why}; "
                             "nothing was extracted") from None
        members = [m for m in members if m.isreg() and m.name.endswith((".py", "PKG-INFO"))]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # the checks above are the whole defence, and they are enough
            tar.extractall(dest, members=members)
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise UsageError(f"{archive} does not unpack to one folder")
    return tops[0]


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write(outputs: dict[str, bytes], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, data in outputs.items():
            if _current(out / name) == data:
                continue
            fd, tmp = temp_beside(out / name, ".tmp")
            staged.append((name, Path(tmp)))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)
        for name, tmp in staged:
            os.replace(tmp, out / name)
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

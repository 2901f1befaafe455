"""Since which release the scvi-tools source holds a piece of code (``search_source.py --since``).

Release notes date most changes, but not all of them, and not always to the release that
shipped them: a fix listed under 1.2.2 may first ship in 1.2.2.post2. The code itself settles
it. This module looks for a literal text in the ``.py`` files under ``src/scvi`` (or a part of
it) of the releases the shipped manifest lists (``references/api/releases.json``), and finds
where its presence changes by bisection: the oldest and the newest release first, then the
middle of the span whose ends differ, until two neighbouring releases differ. Code in neither
end (it came and went) is looked for in the first and last release of each minor series, and
both of its changes are then bisected the same way. Trees come from the cache :mod:`.fetch`
fills (downloading a missing one), or, with ``cached_only``, only from the trees already
cached.

Releases between two checked ones that agree are taken to agree with them: code that changed
back and forth between two releases read is not seen, and the report says which releases
were read. Standard library only.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple

from .errors import FetchError, UsageError
from .tree import read_text

PACKAGE_ROOT = "src/scvi"
MAX_TEXT_CHARS = 300
"""A longer text is a paste of more than the code that changed."""
MAX_FILE_BYTES = 2_000_000
"""A larger file under src/scvi is not source (none is near this)."""


class Place(NamedTuple):
    path: str  # tree-relative, src/scvi/...
    line: int  # 1-based


class Check(NamedTuple):
    version: str
    places: tuple[Place, ...]  # the first line of each file holding it; () if none does

    @property
    def place(self) -> Place | None:
        """The first place (files in sorted order); None: the release's source lacks it."""
        return self.places[0] if self.places else None

    @property
    def key(self) -> frozenset[str]:
        """The files holding it: two releases differ when these do (a fix in one file,
        the same code left in another, is a change)."""
        return frozenset(place.path for place in self.places)


def check_where(where: str | None) -> str:
    """``where`` as a tree-relative POSIX path under ``src/scvi`` (a folder or a file):
    ``dataloaders`` and ``scvi/dataloaders`` mean ``src/scvi/dataloaders``. A path that is
    absolute or climbs out (``..``) is a usage error."""
    if not where:
        return PACKAGE_ROOT
    text = where.strip().replace("\\", "/").strip("/")
    parts = PurePosixPath(text).parts
    if set("*?[") & set(text):
        raise UsageError(f"--since --in takes a path (a folder or a file), not a glob: got "
                         f"{where!r}", hint="For example --in dataloaders or --in model/_scvi.py")
    if not text or where.strip().startswith(("/", "\\")) or ".." in parts or ":" in text:
        raise UsageError(f"--in takes a path inside the package, such as dataloaders or "
                         f"src/scvi/train/_trainer.py, got {where!r}")
    if parts[:2] == ("src", "scvi"):
        return "/".join(parts)
    if parts[:1] == ("scvi",):
        parts = parts[1:]
    return "/".join((PACKAGE_ROOT, *parts))


def find_places(root: Path, text: str, where: str = PACKAGE_ROOT) -> tuple[Place, ...]:
    """The first place in each ``.py`` file of ``where`` (tree-relative) of the tree at
    ``root`` where ``text`` occurs literally, files in sorted order; () if none holds it."""
    base = root / where
    resolved_root = root.resolve()
    if base.is_file():
        files = [base]
    elif base.is_dir():
        files = sorted(base.rglob("*.py"))
    else:
        return ()
    found = []
    for path in files:
        try:
            # A link that leads out of the tree is not the tree's source.
            path.resolve().relative_to(resolved_root)
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            content = read_text(path)
        except (OSError, ValueError):
            continue
        at = content.find(text)
        if at >= 0:
            found.append(Place(path.relative_to(root).as_posix(), content.count("\n", 0, at) + 1))
    return tuple(found)


def find_text(root: Path, text: str, where: str = PACKAGE_ROOT) -> Place | None:
    """The first place (files in sorted order, then lines) where ``text`` occurs literally in
    the ``.py`` files of ``where`` of the tree at ``root``; ``None`` if none."""
    places = find_places(root, text, where)
    return places[0] if places else None


def series_ends(versions: list[str]) -> list[int]:
    """The first and the last release of each minor series (1.2.0 and 1.2.2.post2 of 1.2),
    as indexes into ``versions``: where code that came in one series and went in a later one
    is looked for when neither the oldest nor the newest release holds it."""
    ends: dict[str, list[int]] = {}
    for i, version in enumerate(versions):
        ends.setdefault(".".join(version.split(".")[:2]), []).append(i)
    return sorted({i for found in ends.values() for i in (found[0], found[-1])})


def bisect(versions: list[str], probe: Callable[[str], tuple[Place, ...]]) -> list[Check]:
    """The releases read to find where presence changes, in the order they were read.
    ``versions`` is oldest first; ``probe`` reads one release (its places, one a file). The
    oldest and the newest first; when they differ (in the files holding the code), each
    change between them is found by halving the spans whose ends differ; when neither holds
    it, the ends of each minor series are read, and the spans between read releases that
    differ are halved the same way (code that came and went again)."""
    checks: dict[int, Check] = {}

    def read(i: int) -> frozenset[str]:
        if i not in checks:
            checks[i] = Check(versions[i], tuple(probe(versions[i]) or ()))
        return checks[i].key

    def narrow(lo: int, hi: int) -> None:
        """Read between ``lo`` and ``hi`` until every two neighbours that differ are found;
        a span whose ends agree is taken to agree throughout."""
        spans = [(lo, hi)]
        while spans:
            lo, hi = spans.pop()
            if hi - lo > 1 and read(lo) != read(hi):
                mid = (lo + hi) // 2
                read(mid)
                spans += [(mid, hi), (lo, mid)]  # the older half first

    last = len(versions) - 1
    read(last)  # the newest first: the question is usually about the present code
    if last == 0:
        return list(checks.values())
    if read(0) != read(last):
        narrow(0, last)
    elif not read(0):
        held = [i for i in series_ends(versions) if read(i)]  # every end is read
        if held:
            done = sorted(checks)
            for lo, hi in zip(done, done[1:]):
                narrow(lo, hi)
    return list(checks.values())


def summary(versions: list[str], checks: list[Check], path: str | None = None) -> dict:
    """What the checks say (of the file ``path`` alone, when given). ``result``: ``"added"``
    (absent in the oldest, present in the newest), ``"removed"`` (the other way), ``"span"``
    (in neither end, in releases between), ``"always"`` (in both ends) or ``"never"`` (in no
    release read). ``first``/``last``: the first and the last release read that hold it
    (``None`` for never); ``before``/``after``: the release read just before ``first`` and
    just after ``last`` that lack it (neighbours when it was bisected), else ``None``."""
    held = sorted(versions.index(c.version) for c in checks
                  if (path in c.key if path is not None else c.places))
    if not held:
        return {"result": "never", "first": None, "last": None, "before": None, "after": None}
    read = sorted(versions.index(c.version) for c in checks)
    lacking = [i for i in read if i not in held]
    before = max((i for i in lacking if i < held[0]), default=None)
    after = min((i for i in lacking if i > held[-1]), default=None)
    result = {(True, True): "span", (True, False): "added", (False, True): "removed",
              (False, False): "always"}[(before is not None, after is not None)]
    return {"result": result, "first": versions[held[0]], "last": versions[held[-1]],
            "before": versions[before] if before is not None else None,
            "after": versions[after] if after is not None else None}


def by_file(versions: list[str], checks: list[Check]) -> list[dict]:
    """One summary per file that holds the code in a release read (``path``, and ``line``
    in the newest release read holding it), in path order: a literal in several files (a
    fix made in one, the same code left in another) has a history per file."""
    paths = sorted({place.path for check in checks for place in check.places})
    out = []
    for path in paths:
        row = {"path": path, **summary(versions, checks, path)}
        newest = max((c for c in checks if path in c.key), key=lambda c: versions.index(c.version))
        row["line"] = next(p.line for p in newest.places if p.path == path)
        out.append(row)
    return out


def tree_root(version: str, *, cached_only: bool, log=None) -> Path | None:
    """The cached tree of ``version``, fetched if missing (``None`` with ``cached_only`` when
    it is not cached)."""
    from .tree import cached_tree

    target = cached_tree(version)
    if target is not None or cached_only:
        return target
    from .fetch import fetch_tree

    if log is not None:
        log(f"fetching the scvi-tools {version} tree (sdist from the package index) ...")
    return fetch_tree(version, log=lambda _message: None, echo=False)


def check_text(text: str) -> str:
    if not text or not text.strip():
        raise UsageError("--since needs the code to look for, such as "
                         "'data_loader_kwargs.get(\"batch_size\"'")
    if "\n" in text.strip():
        raise UsageError("--since takes one line of code (the part that changed), not several")
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(f"--since takes at most {MAX_TEXT_CHARS} characters of code (the part "
                         "that changed)")
    return text


def run(text: str, versions: list[str], *, where: str | None = None, cached_only: bool = False,
        log=None) -> dict:
    """The report of ``search_source.py --since``: the releases read and what they say.
    With ``cached_only``, only the releases whose tree is cached take part."""
    text = check_text(text)
    where = check_where(where)
    listed = list(versions)
    roots: dict[str, Path] = {}
    if cached_only:
        for version in versions:
            root = tree_root(version, cached_only=True)
            if root is not None:
                roots[version] = root
        versions = [v for v in versions if v in roots]
        if not versions:
            raise FetchError("no release tree is cached",
                             hint="Fetch one with fetch_tree.py --version V, or leave out "
                                  "--cached to let --since fetch the releases it reads")
    fetched: list[str] = []

    def probe(version: str) -> Place | None:
        root = roots.get(version) or tree_root(version, cached_only=True)
        if root is None:
            fetched.append(version)
            try:
                root = tree_root(version, cached_only=False, log=log)
            except FetchError as err:
                cached = [v for v in listed if tree_root(v, cached_only=True) is not None]
                raise FetchError(f"{err} (--since reads that release's tree)",
                                 hint=f"Add --cached to read only the {len(cached)} release "
                                      f"tree(s) already cached" if cached else err.hint) from err
        roots[version] = root
        return find_places(root, text, where)

    checks = bisect(versions, probe)
    if where != PACKAGE_ROOT and not any((roots[c.version] / where).exists() for c in checks):
        raise UsageError(f"--in {where}: no such folder or file in the {len(checks)} release "
                         "tree(s) read", hint="Give a path under src/scvi, e.g. --in "
                                              "dataloaders or --in model/_scvi.py")
    report = {"mode": "since", "query": text, "where": where, "releases": len(versions),
              "oldest": versions[0], "newest": versions[-1], "cached_only": cached_only,
              "checked": [{"version": c.version, "present": c.place is not None,
                           "path": c.place.path if c.place else None,
                           "line": c.place.line if c.place else None,
                           "places": [list(p) for p in c.places]} for c in checks],
              "fetched": fetched}
    report.update(summary(versions, checks))
    report["files"] = by_file(versions, checks)
    # Releases of the manifest that lie between a change's two sides (only with cached_only).
    for side, near, far in (("not_read_before", "before", "first"),
                            ("not_read_after", "last", "after")):
        if report[near] and report[far]:
            a, b = listed.index(report[near]), listed.index(report[far])
            report[side] = listed[a + 1:b]
    if cached_only:
        # The series ends that code which came and went is looked for in, and that could not
        # be read: such code between two releases read that lack it is not seen.
        report["ends_not_read"] = [listed[i] for i in series_ends(listed)
                                   if listed[i] not in roots]
    return report


def _side(verb: str, version: str, neighbour: str, unread: list[str] | None) -> str:
    if not unread:
        return f"{verb} {version}, {neighbour}"
    return f"{verb} {version}; not read between (not cached): {', '.join(unread)}"


MAX_ENDS_SHOWN = 6


def _file_span(row: dict) -> str:
    """One file's history in a few words."""
    said = []
    if row["before"]:
        said.append(f"first in {row['first']} (absent in {row['before']})")
    if row["after"]:
        said.append(f"last in {row['last']} (gone in {row['after']})")
    return ", ".join(said) or "in every release read"


def render(report: dict) -> str:
    """The report in a few lines."""
    text, where = report["query"], report["where"]
    span = f"{report['oldest']}-{report['newest']}"
    among = f"{report['releases']} releases {span}" + (", cached trees only"
                                                     if report["cached_only"] else "")
    head = f"since: {text!r} in {where} (literal, .py files), {among}"
    by_version = {row["version"]: row for row in report["checked"]}

    def at(version: str) -> str:
        row = by_version[version]
        return f"{row['path']}:{row['line']}" if row["present"] else "absent"

    result = report["result"]
    lines = []
    if result in ("added", "span", "removed") and report["before"]:
        lines.append(f"first in {report['first']}: {at(report['first'])}")
        lines.append(_side("absent in", report["before"], "the release before it",
                           report.get("not_read_before")))
    if result in ("span", "removed") and report["after"]:
        lines.append(f"last in {report['last']}: {at(report['last'])}")
        lines.append(_side("gone in", report["after"], "the release after it",
                           report.get("not_read_after")))
    if result == "always":
        lines = [f"in {report['oldest']} ({at(report['oldest'])}) and {report['newest']} "
                 f"({at(report['newest'])}): in every release read"]
    elif result == "never":
        lines = [f"in none of the {len(report['checked'])} releases read: check the spelling "
                 "(literal text, as in the source), or --in another part"]
    files = report.get("files") or []
    if len(files) > 1:
        lines.append(f"by file (in {len(files)} files; a change in one is a change):")
        lines.extend(f"  {row['path']}:{row['line']} (in {row['last']}): {_file_span(row)}"
                     for row in files)
    read = ", ".join(f"{row['version']} {'yes' if row['present'] else 'no'}"
                     for row in report["checked"])
    lines.append(f"read ({len(report['checked'])} trees): {read}")
    if report["fetched"]:
        lines.append(f"fetched: {', '.join(report['fetched'])}")
    if report.get("ends_not_read"):
        shown = report["ends_not_read"]
        lines.append(f"series ends not cached, so not read ({len(shown)}): "
                     f"{', '.join(shown[:MAX_ENDS_SHOWN])}"
                     + (" ..." if len(shown) > MAX_ENDS_SHOWN else "")
                     + "; code that came and went in those series is not seen (leave out "
                       "--cached to read them)")
    lines.append("releases between two read ones that agree are taken to agree with them; "
                 "read one with --tree and --in")
    return "\n".join([head, *lines])

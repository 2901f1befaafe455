"""``search_source.py --compare NAME --release V``: the trees, the two sides and the report.

:mod:`.defdiff` reads one def and diffs two; this module picks the trees (each ``--release``'s
from the cache, fetched when missing unless ``cached``; with one ``--release``, the tree read),
finds the def NAME stands for in each release through that release's shipped API index, and
returns the report ``--json`` prints (``hunks`` in it when both sides have the def; ``sides``
instead, with where each release has it and the names like it, when one lacks it).
:mod:`.searchcli` checks the arguments and prints. Standard library only.
"""

from __future__ import annotations

from . import defdiff
from .apiindex import UnknownVersion, load_releases, release_api
from .errors import TreeNotFound, UsageError
from .paths import is_public_version, script_command, shell_word
from .text import clip
from .tree import discover_tree

SCRIPT = script_command("search_source.py")


def compare(name: str, releases: list[str], *, tree_arg: str | None, installed: bool,
            cached: bool, context: int, max_hunks: int, log=None) -> dict:
    """The ``--compare`` report of ``name`` between the two sides :func:`trees` gives."""
    name = defdiff.check_name(name)
    sides = trees([release_version(v) for v in releases], tree_arg=tree_arg,
                  installed=installed, cached=cached, log=log)
    found = [side(name, version, tree) for version, tree in sides]
    if not all(found):
        return missing(name, sides, found)
    (public, old), (_, new) = found
    report = defdiff.report(name, public, old, new, defdiff.diff(old, new, context=context),
                            max_hunks=max_hunks)
    report["next"] = [f"{SCRIPT} --history {shell_word(public)}",
                      f"{SCRIPT} --changes {shell_word(public.rsplit('.', 1)[-1])}"]
    return report


def release_version(version: str) -> str:
    """A ``--release`` value as a release number (it becomes part of a cache path), or a
    usage error."""
    if not is_public_version(version):
        known = load_releases().versions
        raise UsageError(f"--release {clip(version, 60)!r} is not a release number",
                         hint=f"For example --release 1.0.4 (releases {known[0]} to "
                              f"{known[-1]} have an API index)")
    return version


def trees(asked: list[str], *, tree_arg: str | None, installed: bool, cached: bool,
          log=None) -> list[tuple[str, object]]:
    """``[(version, tree), (version, tree)]``, the older release first: each release's tree
    from the cache (fetched when missing, unless ``cached``), and with one release asked the
    tree read (``tree_arg``, ``installed`` or the discovered one)."""
    from .since import tree_root

    releases = load_releases()
    if not asked or len(asked) > 2:
        raise UsageError("--compare needs --release V: the release to compare the tree read "
                         "with (give --release twice to compare two releases)")
    for version in asked:
        try:
            releases.check(version)
        except UnknownVersion as err:
            raise UnknownVersion(str(err), hint="Pass one of these with --release") from err
    sides = []
    if len(asked) == 1:
        tree = discover_tree(tree_arg, installed=installed)
        if tree.version not in releases.files:
            raise UsageError(f"the tree read is scvi-tools {tree.version}, which the shipped "
                             "API indexes do not cover", hint="Compare two releases: "
                             "--release A --release B")
        sides.append((tree.version, tree))
    elif tree_arg or installed:
        raise UsageError("two --release name both trees; --tree and --installed do not apply")
    if len({version for version, _ in sides} | set(asked)) < 2:
        raise UsageError(f"both sides are scvi-tools {asked[0]}: give another --release")
    for version in asked:
        root = tree_root(version, cached_only=cached, log=log)
        if root is None:
            raise TreeNotFound(f"the scvi-tools {version} tree is not cached",
                               hint=f"Fetch it: {script_command('fetch_tree.py')} --version "
                                    f"{version}, or leave out --cached")
        sides.append((version, discover_tree(str(root), expected_version=version)))
    order = releases.versions
    return sorted(sides, key=lambda pair: order.index(pair[0]))


def side(name: str, version: str, tree):
    """``(public name, defdiff.Side)`` of ``name`` in ``version``'s tree; ``None`` when the
    release's index has no such name or its tree no such def."""
    resolved = defdiff.resolve(release_api(version), name)
    if resolved is None:
        return None
    public, symbol = resolved
    rel = defdiff.tree_path(symbol["path"])
    found = defdiff.read_side(version, tree.to_disk(rel), rel, symbol["line"],
                              symbol["qualname"])
    return (public, found) if found is not None else None


def missing(name: str, sides: list, found: list) -> dict:
    """The report when a release lacks the name (or its tree the def): what each side has
    (``found``, and where) or the names like it (``candidates``; ``several`` when the name
    ends several defs' public names), and where to look next."""
    rows = []
    for (version, _), hit in zip(sides, found):
        row = {"version": version, "found": hit is not None}
        if hit is not None:
            public, found_side = hit
            row.update(name=public, path=found_side.path, start=found_side.start,
                       end=found_side.end, qualname=found_side.qualname)
        else:
            api = release_api(version)  # read once per process
            several = defdiff.ambiguous(api, name)
            row["several"] = len(several) > 1
            row["candidates"] = several or api.close_names(name)[:8]
        rows.append(row)
    return {"mode": "compare", "query": name, "sides": rows,
            "next": [f"{SCRIPT} --history {shell_word(name)}"]}


def render(report: dict) -> list[str]:
    """The text of either report, with its next commands."""
    nexts = [f"next: {n}" for n in report["next"]]
    if "hunks" in report:
        return defdiff.render(report) + nexts
    out = []
    for row in report["sides"]:
        if row["found"]:
            out.append(f"{row['version']}: {row['name']} at {row['path']}:{row['start']}-"
                       f"{row['end']} ({row['qualname']})")
        elif row["several"]:
            out.append(f"{row['version']}: {report['query']} ends the names of several defs; "
                       f"give one: {', '.join(row['candidates'])}")
        else:
            more = f"; names like it: {', '.join(row['candidates'])}" if row["candidates"] \
                else ""
            out.append(f"{row['version']}: no def for {report['query']}{more}")
    return out + nexts

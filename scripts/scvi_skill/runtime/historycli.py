"""``search_source.py --history NAME``: the report and its text.

The releases (1.0.0 on) that had a public name or keyword, read from the shipped API history
(``references/api/history.json.gz``) with the last release's signature from its API index;
what each release requires of Python or a package a name is; which releases use a name of
another package (``jax.random.KeyArray``). :mod:`.searchcli` checks the arguments and
prints. No tree, no rg. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .apiindex import ReleaseApi, load_history, load_migrations, load_release, load_releases
from .errors import UsageError
from .paths import script_command, shell_word

SCRIPT = script_command("search_source.py")

_IDENT = re.compile(r"[A-Za-z_][\w.]*(?:-[A-Za-z0-9_]+)*")
"""A dotted name or keyword, or a package name with hyphens (``pyro-ppl``)."""


def check_name(value: str, given: str) -> str:
    """A --history value (already one checked line) as a name, keyword or package, or a
    usage error (``given``: as typed, for the message)."""
    name = value.strip().strip("`'\"()=")
    if not _IDENT.fullmatch(name) or name.endswith("."):
        raise UsageError(f"--history takes one name, keyword or package (scvi.model.JaxSCVI, "
                         f"use_gpu, anndata, python), got {given!r}")
    return name


def build(name: str, *, max_shown: int, close: Callable[[str], list[str]]) -> tuple[dict, dict]:
    """The --history report of ``name`` (``--json`` prints it as is) and what its text needs
    besides (``found``, ``read_from``: the first release the dependency history reads,
    ``dependency_text``). ``close`` gives the public names close to a name found nowhere."""
    from . import history as api_history

    releases = load_releases()
    history, migrations = load_history(releases), load_migrations()
    history_versions = history.get("versions") or []
    names = api_history.name_history(name, history, migrations)
    apis: dict[str, ReleaseApi] = {}  # several names often end in the same release

    def api(release: str) -> ReleaseApi:
        if release not in apis:
            apis[release] = ReleaseApi(load_release(releases, release))
        return apis[release]

    for row in names:
        release = row["last_release"]
        symbol = api(release).symbol(row["name"]) if release else None
        row["signature"] = _signature_of(row["name"], symbol) if symbol else ""
        row["path"], row["line"] = (symbol or {}).get("path", ""), (symbol or {}).get("line", 0)
        row["by_span"] = [_span_origin(row["name"], api(history_versions[end]),
                                       history_versions, start, end)
                          for start, end in (history.get("names") or {}).get(row["name"]) or []
                          if end < len(history_versions)]
    keyword = None if "." in name or "-" in name \
        else api_history.keyword_history(name, history, migrations)
    requirement = _requirement(name, releases)
    dependency, read_from = _dependency_use(name) \
        if "." in name or not (names or keyword or requirement) else (None, "")
    shown_callables = keyword["callables"][:max_shown] if keyword else []
    report = {"mode": "history", "query": name, "versions": [releases.versions[0],
                                                              releases.versions[-1]],
              "exact": any(row["name"] == name or row["name"].endswith("." + name)
                           for row in names),
              "names": names, "keyword": dict(keyword, callables=shown_callables,
                                              total=len(keyword["callables"])) if keyword else None,
              "requirement": requirement,
              "dependency_use": {k: v for k, v in dependency.items() if k != "text"}
              if dependency else None,
              "next": [f"{SCRIPT} --changes {shell_word(name.rsplit('.', 1)[-1])}"]}
    # The body of a def the pinned release no longer has (gone, or now another package's) is
    # in the tree of the last release that defined it.
    older = [span for span in (names[0]["by_span"] if names else []) if span["signature"]]
    if older and older[-1]["last"] != report["versions"][1]:
        report["next"].append(f"{script_command('fetch_tree.py')} --version {older[-1]['last']}")
    found = bool(names or keyword or requirement or dependency)
    if not found:
        _offer_close(report, name, close)
    return report, {"found": found, "read_from": read_from,
                    "dependency_text": dependency["text"] if dependency else ""}


def render(report: dict, extra: dict, *, max_shown: int) -> list[str]:
    """The text of a --history report (:func:`build`'s two parts)."""
    name, names, keyword = report["query"], report["names"], report["keyword"]
    shown_callables = keyword["callables"] if keyword else []
    first, last = report["versions"]
    out = []
    if names and "." in name and not report["exact"]:
        # Nothing is called that: say so before the names that end the same way.
        out.append(f"{name}: in none of scvi-tools {first} to {last}; names ending in "
                   f".{name.rsplit('.', 1)[-1]}:")
    for row in names:
        out.extend(_history_name_lines(row, last))
    if keyword:
        out.append(f"keyword {name}: taken by {keyword['total']} public callable(s), "
                   "newest first")
        out.extend(f"  {c['name']} ({c['spans']})" for c in shown_callables)
        if keyword["total"] > len(shown_callables):
            out.append(f"  ... {keyword['total'] - len(shown_callables)} more "
                       f"(--max {max_shown})")
        if keyword["replacement"]:
            out.append(f"  replacement: {keyword['replacement']}")
    requirement = report["requirement"]
    if requirement:
        from .requirements import run_text

        what = "Python" if requirement["package"] == "python" else requirement["package"]
        field = "Requires-Python" if what == "Python" else "Requires-Dist"
        out.append(f"requirement {what} (the {field} of each release's sdist), oldest first:")
        out.extend(f"  {run_text([r['spec'], r['first'], r['last']])}"
                   for r in requirement["runs"])
    if extra["dependency_text"]:
        out.append(extra["dependency_text"])
    if not extra["found"]:
        out.append(_not_found_line(report, extra["read_from"]))
    if any(row["earlier_unknown"] for row in [*names, *shown_callables]):
        out.append(f"(releases before {first} are not in the history: a range from {first} "
                   "may go back further)")
    out.extend(f"next: {step}" for step in report["next"])
    return out


def _offer_close(report: dict, name: str, close: Callable[[str], list[str]]) -> None:
    """For a --history NAME found nowhere: the public names that end as it does but for case
    or module (``scvi.model.TotalVI`` -> ``scvi.model.TOTALVI``), as ``close``, and the
    first one's --history as the next command."""
    names = close(name)
    if names:
        report["close"] = names
        report["next"] = [f"{SCRIPT} --history {shell_word(names[0])}"]


def _not_found_line(report: dict, read_from: str) -> str:
    """--history's line for a name, keyword or package no release has."""
    name, (first, last) = report["query"], report["versions"]
    return (f"no public name, keyword or requirement {name!r} in scvi-tools {first} to {last}"
            + (f", and no release {read_from} to {last} uses it as another package's name"
               if read_from else "")
            + (f"; the pinned index has {', '.join(report['close'])}"
               if report.get("close") else ""))


def _history_name_lines(row: dict, last: str) -> list[str]:
    """--history's text for one public name (a row of ``names``)."""
    from .history import presence_text

    out = []
    when = "still in " + last if row["present"] else f"gone since {row['gone_since']}"
    if not row["present"] and row.get("outside") and row["outside"]["spans"].endswith(last):
        # Its own definition went; a base of another package may supply it (torch's
        # Module.train): not gone from the class.
        when = (f"its own definition gone since {row['gone_since']}; in {last} a base of "
                "another package may supply it")
    gaps = f" (not in {row['not_in']})" if row.get("not_in") else ""
    out.append(f"{row['name']}: {presence_text(row)} {row['spans']}{gaps}; {when}")
    # Where else it was: importable though not public, a private def, a base's member.
    out.extend(f"  {note}" for note in row["notes"])
    runs = row["by_span"]
    if len(runs) > 1 or (runs and runs[-1]["from"]):
        # Each run of releases as its last one defined it: the name may have been
        # scvi-tools' own def in one run and another package's, re-exported, in the next.
        out.extend(f"  {_span_origin_text(run)}" for run in runs)
    elif row["signature"]:
        out.append(f"  signature in {row['last_release']} ({row['path']}:{row['line']}): "
                   f"{row['signature']}")
    if row["params"]:
        out.append("  parameters that came or went (the signature was not the same in "
                   "every release):")
    for param, spans in row["params"].items():
        change = row["param_changes"][param]
        out.append(f"    {param}: {change}" + ("" if change.endswith(" only")
                                                else f" ({spans})"))
    if row["defaults"]:
        out.append("  defaults that changed (as each release's source writes them):")
    out.extend(f"    {param}: {text}" for param, text in row["defaults"].items())
    if row["replacement"]:
        out.append(f"  replacement: {row['replacement']}")
    return out


def _span_origin(name: str, api, versions: list[str], start: int, end: int) -> dict:
    """``{"releases", "last", "signature", "kind", "path", "line", "from"}`` for one run of releases
    that have ``name``, read from the run's last release: scvi-tools' own def there (its
    signature and path:line), or ``from``, the other package's name that the release
    re-exports under it (``torch.nn.functional.one_hot``)."""
    from .history import span_text

    symbol = api.symbol(name)
    target = api.namespaces.get(name, "")
    outside = target if target and not symbol and target.split(".", 1)[0] != "scvi" else ""
    return {"releases": span_text([[start, end]], versions), "last": versions[end],
            "signature": _signature_of(name, symbol) if symbol else "",
            "kind": (symbol or {}).get("kind", ""),
            "path": (symbol or {}).get("path", ""), "line": (symbol or {}).get("line", 0),
            "from": outside}


def _span_origin_text(span: dict) -> str:
    head = f"in {span['releases']}"
    if span["from"]:
        return (f"{head}: {span['from']}, another package's name re-exported (not a def of "
                "scvi-tools; its parameters are that package's)")
    where = f"({span['last']}: {span['path']}:{span['line']})"
    if span["signature"]:
        return f"{head}: {span['signature']} {where}"
    if span["path"]:
        return f"{head}: a {span['kind'] or 'name'} of scvi-tools {where}"
    return f"{head}: a name the index does not place"


def _dependency_use(name: str) -> tuple[dict | None, str]:
    """``({"name", "releases", "unguarded_releases", "last_release", "site", "still_used",
    "still_unguarded", "module_names", "text"}, first release read)``, the dict when some
    release uses ``name`` as a name of another package (``jax.random.KeyArray``,
    ``np.float_``; a module: the names under it; unguarded: where a missing name raises),
    else ``None``."""
    from . import dependency_uses as uses
    from .apifiles import load_dependency_uses
    from .errors import IndexStale, warn
    from .history import span_text

    try:
        data = load_dependency_uses()
    except IndexStale as err:  # the rest of the history still answers
        warn(f"no dependency history: {err}")
        return None, ""
    versions = data.get("versions") or []
    found = uses.find(name, data) if versions and not uses.own(name) else None
    if found is None:
        return None, versions[0] if versions else ""
    last = found["spans"][-1][1]
    return {"name": found["name"], "releases": span_text(found["spans"], versions),
            "unguarded_releases": span_text(found["live"], versions),
            "last_release": versions[last], "site": f"{found['site'][0]}:{found['site'][1]}",
            "still_used": last == len(versions) - 1,
            "still_unguarded": bool(found["live"]) and found["live"][-1][1] == len(versions) - 1,
            "module_names": found["module_names"],
            "text": uses.use_line(found, versions, missing=False)}, versions[0]


def _requirement(name: str, releases) -> dict | None:
    """``{"package", "runs": [{"spec", "first", "last"}]}`` when ``name`` is Python or a
    package some release requires (``spec``: ``null`` not required, ``""`` any version)."""
    from .requirements import required_names, requirement_name, requirement_runs

    if "." in name:
        return None
    package = requirement_name(name)
    if package != "python" and package not in required_names(releases):
        return None
    runs = requirement_runs(package, releases)
    return {"package": package, "runs": [{"spec": s, "first": a, "last": b}
                                          for s, a, b in runs]} if runs else None


def _signature_of(name: str, symbol: dict) -> str:
    """``mde(data, accelerator='auto', **kwargs)`` from an API index symbol's parameters."""
    parts, star = [], False
    for param in symbol.get("params") or []:
        kind, pname = param.get("kind", ""), param.get("name", "")
        if kind == "VAR_POSITIONAL":
            parts.append(f"*{pname}")
            star = True
        elif kind == "VAR_KEYWORD":
            parts.append(f"**{pname}")
        else:
            if kind == "KEYWORD_ONLY" and not star:
                parts.append("*")
                star = True
            parts.append(f"{pname}={param['default']}" if "default" in param else pname)
    if not symbol.get("params") and not symbol.get("params_known", True):
        return ""
    return f"{name.rsplit('.', 1)[-1]}({', '.join(parts)})"

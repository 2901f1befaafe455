"""Load and check ``references/routing.yaml``, the one hand-curated input of the maps.

:func:`check_routing` lists every problem at once: a wrong type, a duplicate topic id, and any
path or symbol that does not exist in the tree (``refresh_maps.py`` refuses to write maps that
route to nothing). Unknown keys are kept, so the resolver's extensions pass through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from scvi_skill.runtime.errors import SkillPackageError

TOPIC_LISTS = ("vocabulary", "docs", "source", "symbols")
PATH_KEYS = ("docs", "source", "prefer")
SYMBOL_KEYS = ("symbols",)


class RoutingError(SkillPackageError):
    """routing.yaml is unreadable, malformed, or names what the tree lacks (exit 1)."""


def load_routing(path: Path) -> dict:
    try:
        # A named pipe or a device would block or never end: only a regular file is read.
        if Path(path).exists() and not Path(path).is_file():
            raise RoutingError(f"routing file {path} is not a regular file")
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise RoutingError(f"routing file missing: {path}",
                           hint="references/routing.yaml is hand-curated; restore it from git") \
            from err
    except (OSError, UnicodeDecodeError) as err:
        raise RoutingError(f"routing file unreadable: {path}: {err}") from err
    try:
        data = yaml.safe_load(raw)
    except RecursionError:
        raise RoutingError(f"routing file {path} is nested too deeply to read") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RoutingError(f"routing file is not valid YAML: {path}{where}: "
                           f"{getattr(err, 'problem', err)}") from err
    if not isinstance(data, dict):
        raise RoutingError(f"routing file {path} must be a mapping with topics, siblings, "
                           "overrides")
    return data


def _string_list(value, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where} must be a list of strings")
        return []
    return value


def check_routing(routing: dict, *, path_exists: Callable[[str], bool],
                  symbol_exists: Callable[[str], bool], skip_prefixes: tuple[str, ...] = ()
                  ) -> list[str]:
    """Problems of a loaded routing file, as readable one-line messages (empty when fine).

    Paths under ``skip_prefixes`` are not checked: an installed package has no ``docs/`` or
    ``tests/`` to confirm them against.
    """
    problems: list[str] = []
    topics = routing.get("topics") or []
    if not isinstance(topics, list):
        return ["topics must be a list"]
    seen: set[str] = set()
    for n, topic in enumerate(topics):
        where = f"topics[{n}]"
        if not isinstance(topic, dict) or not isinstance(topic.get("id"), str):
            problems.append(f"{where} must be a mapping with a string id")
            continue
        where = f"topic {topic['id']}"
        if topic["id"] in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(topic["id"])
        if not isinstance(topic.get("title", ""), str):
            problems.append(f"{where}: title must be a string")
        for key in TOPIC_LISTS:
            _string_list(topic.get(key), f"{where}: {key}", problems)
        _check_targets(topic, where, problems, path_exists, symbol_exists, skip_prefixes)
    siblings = routing.get("siblings") or []
    if not isinstance(siblings, list):
        problems.append("siblings must be a list")
        siblings = []
    for n, sibling in enumerate(siblings):
        if not isinstance(sibling, dict) or not isinstance(sibling.get("skill"), str):
            problems.append(f"siblings[{n}] must be a mapping with a string skill")
            continue
        if not isinstance(sibling.get("why", ""), str):
            problems.append(f"sibling {sibling['skill']}: why must be a string")
        _string_list(sibling.get("when"), f"sibling {sibling['skill']}: when", problems)
    overrides = routing.get("overrides") or []
    if not isinstance(overrides, list):
        problems.append("overrides must be a list")
        overrides = []
    for n, override in enumerate(overrides):
        if not isinstance(override, dict):
            problems.append(f"overrides[{n}] must be a mapping")
            continue
        if not isinstance(override.get("query"), str) or not override["query"].strip():
            problems.append(f"overrides[{n}]: query must be a non-empty string")
        _check_targets(override, f"overrides[{n}]", problems, path_exists, symbol_exists,
                       skip_prefixes)
    return list(dict.fromkeys(problems))  # a topic's lists are checked twice


def _check_targets(entry: dict, where: str, problems: list[str], path_exists, symbol_exists,
                   skip_prefixes: tuple[str, ...]) -> None:
    for key in PATH_KEYS:
        for rel in _string_list(entry.get(key), f"{where}: {key}", problems):
            if skip_prefixes and rel.startswith(skip_prefixes):
                continue
            if rel.startswith("/") or ".." in rel.split("/") or not path_exists(rel):
                problems.append(f"{where}: {key} path not in the tree: {rel}")
    for key in SYMBOL_KEYS:
        for name in _string_list(entry.get(key), f"{where}: {key}", problems):
            if not symbol_exists(name):
                problems.append(f"{where}: {key} name not found in the tree's namespaces: "
                                f"{name}")

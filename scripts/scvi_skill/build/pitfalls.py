"""Load and check ``references/pitfalls.yaml``: the hand-curated pitfalls the pack adds.

Every pitfall cites its evidence as a path, a line and a token that must be on that line of
the tree; :func:`check_pitfalls` lists every entry whose token is not there, so a release
that moves or changes the code fails the refresh instead of shipping a stale claim.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from scvi_skill.runtime.errors import SkillPackageError

KEYS = {"id", "models", "text", "evidence", "triggers"}


class PitfallsError(SkillPackageError):
    """pitfalls.yaml is unreadable, malformed, or cites what the tree lacks (exit 1)."""


def load_pitfalls(path: Path) -> list[dict]:
    """The entries of ``path`` (an empty list when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise PitfallsError(f"pitfalls file unreadable: {path}: {err}") from err
    entries = data.get("pitfalls") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PitfallsError(f"{path} must be a mapping with a 'pitfalls' list")
    problems = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) != KEYS:
            problems.append(f"entry {n}: keys must be exactly {sorted(KEYS)}")
            continue
        evidence = entry["evidence"]
        if not (isinstance(evidence, dict) and set(evidence) == {"path", "line", "token"}
                and isinstance(evidence["line"], int)):
            problems.append(f"{entry['id']}: evidence must be {{path, line, token}}")
        if not isinstance(entry["triggers"], list) or not entry["triggers"]:
            problems.append(f"{entry['id']}: triggers must be a non-empty list")
        if entry["id"] in seen:
            problems.append(f"{entry['id']}: duplicate id")
        seen.add(entry["id"])
    if problems:
        raise PitfallsError(f"{len(problems)} problem(s) in {path}:\n  " + "\n  ".join(problems))
    return entries


def check_pitfalls(entries: list[dict], read_lines: Callable[[str], list[str] | None]) -> list[str]:
    """One message per entry whose evidence token is not on its cited line."""
    problems = []
    for entry in entries:
        ev = entry["evidence"]
        lines = read_lines(ev["path"])
        if lines is None:
            problems.append(f"{entry['id']}: {ev['path']} is not in the tree")
        elif not 1 <= ev["line"] <= len(lines) or str(ev["token"]) not in lines[ev["line"] - 1]:
            problems.append(f"{entry['id']}: {ev['path']}:{ev['line']} does not hold {ev['token']!r}")
    return problems

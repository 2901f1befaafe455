"""Load and check ``references/pitfalls.yaml``: the hand-curated pitfalls the pack adds.

Each entry has :data:`KEYS`: ``id``, ``applies_to`` (model class names or ``[all]``),
``triggers``, ``claim``, ``fix``, ``evidence`` (``{path, line, token}``) and ``proof`` (a pytest
node id under ``tests/``). :func:`load_pitfalls` also derives ``text`` (claim, then fix), the
one line the pack shows.

Every pitfall cites its evidence as a path, a line and a token that must be on that line of
the tree; :func:`check_pitfalls` lists every entry whose token is not there, so a release
that moves or changes the code fails the refresh (and check_skill) instead of shipping a stale
claim. :func:`check_proofs` lists every entry whose proof test does not exist.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import yaml

from scvi_skill.runtime.errors import SkillPackageError

KEYS = {"id", "applies_to", "triggers", "claim", "fix", "evidence", "proof"}
PROOF_PREFIX = "tests/"


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
        for key in ("triggers", "applies_to"):
            if not isinstance(entry[key], list) or not entry[key]:
                problems.append(f"{entry['id']}: {key} must be a non-empty list")
        for key in ("claim", "fix"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                problems.append(f"{entry['id']}: {key} must be a non-empty string")
        proof = entry["proof"]
        if not (isinstance(proof, str) and proof.startswith(PROOF_PREFIX) and "::" in proof):
            problems.append(f"{entry['id']}: proof must be a pytest node id "
                            f"'{PROOF_PREFIX}FILE.py::test_name'")
        if entry["id"] in seen:
            problems.append(f"{entry['id']}: duplicate id")
        seen.add(entry["id"])
    if problems:
        raise PitfallsError(f"{len(problems)} problem(s) in {path}:\n  " + "\n  ".join(problems))
    for entry in entries:
        entry["text"] = pitfall_text(entry)
    return entries


def pitfall_text(entry: dict) -> str:
    """The one line the pack shows: the claim, then the fix, whitespace collapsed."""
    return " ".join(f"{entry['claim']} Fix: {entry['fix']}".split())


def check_proofs(entries: list[dict], repo_root: Path) -> list[str]:
    """One message per entry whose proof (``tests/FILE.py::test_name``) names a file or a
    test function that does not exist (read with ``ast``, never imported)."""
    problems = []
    defined: dict[str, set[str] | None] = {}
    for entry in entries:
        rel, _, name = entry["proof"].partition("::")
        if rel not in defined:
            path = Path(repo_root) / rel
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            except (OSError, SyntaxError):
                defined[rel] = None
            else:
                defined[rel] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if defined[rel] is None:
            problems.append(f"{entry['id']}: proof file {rel} is missing or unparsable")
        elif name.split("[", 1)[0] not in defined[rel]:
            problems.append(f"{entry['id']}: proof {entry['proof']} is not a test in {rel}")
    return problems


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

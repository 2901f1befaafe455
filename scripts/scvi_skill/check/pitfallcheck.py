"""check_skill's ``pitfall`` check: ``references/pitfalls.yaml`` against the tree and the tests.

Each pitfall's evidence token must still be on its cited line of the tree (docs/ evidence only
where the tree has docs), and, where the skill folder has ``tests/`` (the repository, not an
installed copy), its proof must name an existing test. A problem is reported at the pitfall's
``- id:`` line of the YAML file.
"""

from __future__ import annotations

import re
from pathlib import Path

from scvi_skill.build.pitfalls import PitfallsError, check_pitfalls, check_proofs, load_pitfalls
from scvi_skill.runtime.tree import Tree

PITFALLS_FILE = "references/pitfalls.yaml"
_ID_LINE = re.compile(r"^\s*-\s+id:\s*(\S+)\s*$")


def pitfall_problems(skill_root: Path, tree: Tree) -> list[tuple[int, str]]:
    """``(line in pitfalls.yaml, message)`` for every stale or unproven pitfall; an empty
    list when the skill has no pitfalls file."""
    path = Path(skill_root) / PITFALLS_FILE
    if not path.is_file():
        return []
    try:
        entries = load_pitfalls(path)
    except PitfallsError as err:
        return [(1, str(err))]
    id_lines = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _ID_LINE.match(line)
        if match:
            id_lines.setdefault(match.group(1), number)
    has_docs = tree.has_docs and tree.kind != "installed"
    checkable = [e for e in entries if has_docs or not e["evidence"]["path"].startswith("docs/")]

    def read_lines(rel: str) -> list[str] | None:
        disk = tree.to_disk(rel)
        if not disk.is_file():
            return None
        return disk.read_text(encoding="utf-8", errors="replace").splitlines()

    messages = check_pitfalls(checkable, read_lines)
    if (Path(skill_root) / "tests").is_dir():
        messages += check_proofs(entries, skill_root)
    return [(id_lines.get(m.split(":", 1)[0], 1), m) for m in messages]

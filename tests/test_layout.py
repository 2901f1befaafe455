"""The layout shows the architecture (issue 9): three rooms, and short functions."""

from __future__ import annotations

import ast
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
MAX_FUNCTION_LINES = 100


def test_rooms_follow_the_data_flow():
    package = SCRIPTS / "scvi_skill"
    rooms = sorted(p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert rooms == ["build", "check", "runtime"]
    # Beside the rooms: only the installer's own modules (run by users, never shipped).
    assert "install.py" in {p.name for p in package.glob("*.py")}
    assert (package / "runtime" / "schema.py").is_file()


def test_no_function_is_longer_than_a_screenful_or_two():
    long = []
    for path in sorted(SCRIPTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SCRIPTS)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long

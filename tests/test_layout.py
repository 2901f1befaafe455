"""The layout shows the architecture (issue 9): three rooms, and short functions."""

from __future__ import annotations

import ast
import subprocess
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


_COMPILE_ALL = ("import sys\n"
                "for path in sys.argv[1:]:\n"
                "    compile(open(path, encoding='utf-8').read(), path, 'exec')\n")


def test_every_script_parses_on_an_older_python_than_the_tests_run_on(older_python):
    """The scripts run on Python 3.10 and newer; the tests run on 3.12, which also parses what
    3.10 and 3.11 reject (an f-string nesting its own quotes). An older interpreter on the
    machine (Debian's 3.11) parses every file under scripts/."""
    files = sorted(str(p) for p in SCRIPTS.rglob("*.py"))
    result = subprocess.run([older_python, "-I", "-c", _COMPILE_ALL, *files],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]

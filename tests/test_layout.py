"""The layout shows the architecture (issue 9): three rooms, and short functions."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_every_script_parses_on_an_older_python_than_the_tests_run_on():
    """The scripts run on Python 3.10 and newer; the tests run on 3.12, which also parses what
    3.10 and 3.11 reject (an f-string nesting its own quotes). An older interpreter on the
    machine (Debian's 3.11) parses every file under scripts/."""
    older = next((c for c in ("/usr/bin/python3", shutil.which("python3.11"),
                              shutil.which("python3.10"))
                  if c and Path(c).is_file() and subprocess.run(
                      [c, "-c", "import sys; raise SystemExit(not (3, 10) <= sys.version_info "
                       f"< {tuple(sys.version_info[:2])})"]).returncode == 0), None)
    if older is None:
        pytest.skip("no Python from 3.10 up to, not including, the tests' own on this machine")
    files = sorted(str(p) for p in SCRIPTS.rglob("*.py"))
    result = subprocess.run([older, "-I", "-c", _COMPILE_ALL, *files], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]

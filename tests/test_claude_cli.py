"""The real client: Claude Code's own validator and component inventory accept the plugin.

The CLI is found through $CLAUDE_BIN, else on PATH. Without it the tests skip locally and fail
under CI=true (CI installs the pinned version from npm). Each call runs with a temporary HOME
so no user configuration or installed plugin changes the result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PLUGIN = "scvi-tools-inputs-and-modeling"
COMMAND = "scvi-inputs"
MAX_ALWAYS_ON_TOKENS = 150
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def claude() -> str:
    found = os.environ.get("CLAUDE_BIN") or shutil.which("claude")
    if found and Path(found).is_file():
        return str(Path(found).resolve())
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Claude Code CLI not found: set CLAUDE_BIN or put claude on PATH")
    pytest.skip("Claude Code CLI not installed (set CLAUDE_BIN)")


def _run(claude: str, args: list[str], repo: Path, home: Path) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "CLAUDE_CONFIG_DIR": str(home / ".claude"), "DISABLE_AUTOUPDATER": "1",
           "NO_COLOR": "1", "CI": "true"}
    return subprocess.run([claude, *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def test_plugin_validate_strict(claude, repo_root, tmp_path):
    run = _run(claude, ["plugin", "validate", "--strict", "--json", "."], repo_root, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["success"] is True and report["strict"] is True
    assert report["manifest"]["errors"] == [] and report["manifest"]["warnings"] == []
    assert f"{PLUGIN}:{PLUGIN}" in report["provides"]["skills"]
    assert f"{PLUGIN}:{COMMAND}" in report["provides"]["commands"]


def test_plugin_details_inventory_and_token_cost(claude, repo_root, tmp_path):
    run = _run(claude, ["--plugin-dir", ".", "plugin", "details", PLUGIN], repo_root, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    inventory = re.search(r"^\s*Skills \((\d+)\)\s+(.+)$", out, re.MULTILINE)
    assert inventory, out
    names = {n.strip() for n in inventory.group(2).split(",")}
    assert {PLUGIN, COMMAND} <= names
    always_on = re.search(r"Always-on:\s+~?(\d+(?:\.\d+)?)(k?)\s*tok", out)
    assert always_on, out
    tokens = float(always_on.group(1)) * (1000 if always_on.group(2) else 1)
    assert 0 < tokens <= MAX_ALWAYS_ON_TOKENS, out

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
import sys
from pathlib import Path

import pytest
from scvi_skill.runtime.errors import SkillPackageError
from scvi_skill.runtime.tree import discover_tree

PLUGIN = "scvi-tools-inputs-and-modeling"
COMMAND = "scvi-inputs"
MAX_ALWAYS_ON_TOKENS = 150
TIMEOUT_S = 120
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def claude() -> str:
    found = os.environ.get("CLAUDE_BIN") or shutil.which("claude")
    if found and Path(found).is_file():
        return str(Path(found).resolve())
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Claude Code CLI not found: set CLAUDE_BIN or put claude on PATH")
    pytest.skip("Claude Code CLI not installed (set CLAUDE_BIN)")


def _run(claude: str, args: list[str], repo: Path, home: Path, *, config: Path | None = None,
         extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "CLAUDE_CONFIG_DIR": str(config or home / ".claude"), "DISABLE_AUTOUPDATER": "1",
           "NO_COLOR": "1", "CI": "true", **(extra_env or {})}
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


# -- install from a marketplace, the way users install plugins ---------------------------------

MARKETPLACE = "scvi-tools-skills"
STUB_QUESTION = "my scVI loss is NaN"


def _clone(dest: Path) -> Path:
    """The files a clone of this working tree holds (tracked and new, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / rel, dest / rel)
    return dest


def test_marketplace_add_and_install_from_a_clone(claude, tmp_path):
    clone = _clone(tmp_path / "clone")
    home = tmp_path / "home"
    validate = _run(claude, ["plugin", "validate", "--strict", "--json",
                             ".claude-plugin/marketplace.json"], clone, home)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert json.loads(validate.stdout)["manifest"]["errors"] == []
    added = _run(claude, ["plugin", "marketplace", "add", "--json", str(clone)], clone, home)
    assert added.returncode == 0, added.stdout + added.stderr
    assert json.loads(added.stdout.strip().splitlines()[-1])["marketplace"] == MARKETPLACE
    plugin_id = f"{PLUGIN}@{MARKETPLACE}"
    installed = _run(claude, ["plugin", "install", "--json", plugin_id], tmp_path, home)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listing = _run(claude, ["plugin", "list", "--json"], tmp_path, home)
    entry = next(p for p in json.loads(listing.stdout) if p["id"] == plugin_id)
    assert entry["enabled"] is True
    install_path = Path(entry["installPath"])
    assert (install_path / "SKILL.md").read_bytes() == (REPO / "SKILL.md").read_bytes()
    details = _run(claude, ["plugin", "details", plugin_id], tmp_path, home)
    inventory = re.search(r"^\s*Skills \((\d+)\)\s+(.+)$", details.stdout, re.MULTILINE)
    assert inventory, details.stdout
    assert {PLUGIN, COMMAND} <= {n.strip() for n in inventory.group(2).split(",")}


# -- what a session pays, and where the installer puts the skill ---------------------------------


def _context_rows(output: str) -> dict[str, tuple[str, float]]:
    """``/context``'s Skills table: name -> (source, tokens)."""
    rows = {}
    for match in re.finditer(r"^\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*~?(\d+(?:\.\d+)?)(k?)\s*\|$",
                             output, re.MULTILINE):
        tokens = float(match.group(3)) * (1000 if match.group(4) else 1)
        rows[match.group(1)] = (match.group(2), tokens)
    return rows


def test_always_on_cost_of_a_plugin_session(claude, repo_root, tmp_path):
    """``/context`` in a session with the plugin: the skill's listing is all it adds; the
    command is user-invoked only (``disable-model-invocation``), so it adds nothing."""
    run = _run(claude, ["--plugin-dir", ".", "-p", "/context"], repo_root, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = _context_rows(run.stdout)
    ours = {name: tokens for name, (source, tokens) in rows.items() if PLUGIN in source}
    assert f"{PLUGIN}:{PLUGIN}" in ours, run.stdout
    assert f"{PLUGIN}:{COMMAND}" not in ours
    assert 0 < sum(ours.values()) <= MAX_ALWAYS_ON_TOKENS, ours


def test_personal_install_is_loaded_from_claude_config_dir(claude, tmp_path):
    config = tmp_path / "config"
    env = dict(os.environ, HOME=str(tmp_path / "home"), CLAUDE_CONFIG_DIR=str(config))
    (tmp_path / "home").mkdir()
    install = subprocess.run([sys.executable, str(REPO / "scripts" / "install_skill.py")],
                             env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert install.returncode == 0, install.stderr
    run = _run(claude, ["-p", "/context"], tmp_path, tmp_path / "home", config=config)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _context_rows(run.stdout).get(PLUGIN, ("", 0))[0] == "User", run.stdout


# -- allowed-tools: what the skill and the command pre-approve, checked by Claude Code itself -----


def _stub_session(claude, cwd: Path, home: Path, steps, *, prompt: str, extra: list[str],
                  config: Path | None = None):
    from claude_api_stub import ScriptedApi

    cache = discover_tree(None).root.parent if _tree_cached() else None
    with ScriptedApi(steps) as api:
        env = {"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": "stub-key",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        if cache is not None:
            env["SCVI_SKILL_CACHE"] = str(cache)
        run = _run(claude, [*extra, "-p", prompt, "--permission-prompts", "none",
                            "--allowed-tools", "Skill"], cwd, home, config=config, extra_env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return api


def _tree_cached() -> bool:
    try:
        discover_tree(None)
    except SkillPackageError:
        return False
    return True


def _grant_script():
    from claude_api_stub import Step

    allowed = [
        f"python3 \"{{skill_dir}}/scripts/resolve_docs.py\" '{STUB_QUESTION}' --budget 300",
        "python3 \"{skill_dir}/scripts/search_source.py\" --symbol SCVI.setup_anndata",
        "python3 {skill_dir}/scripts/search_source.py --symbol TrainerConfig",  # a next: line
        "python3 \"{skill_dir}/scripts/fetch_tree.py\" --help",
        f"python3 \"{{skill_dir}}/scripts/resolve_docs.py\" - --budget 300 <<'EOF'\n"
        f"why isn't {STUB_QUESTION}?\nEOF",  # SKILL.md's heredoc form
    ]
    denied = [
        "python3 -c 'print(1)'",
        f"python3 \"{{skill_dir}}/scripts/resolve_docs.py\" '{STUB_QUESTION}' && python3 -c 'print(2)'",
        "python3 \"{skill_dir}/scripts/resolve_docs.py\" \"$(id)\"",
        "python3 \"{skill_dir}/scripts/../scripts/resolve_docs.py\" 'x'",
        "python3 \"{skill_dir}/scripts/resolve_docs.py\" - <<'EOF'\nx\nEOF\npython3 -c 'print(3)'",
    ]
    return allowed, denied, [Step("Bash", {"command": c, "description": "run"})
                             for c in allowed + denied]


def _check_grants(api, allowed, denied) -> None:
    assert api.skill_dir and "${" not in api.skill_dir, "the expanded folder was not seen"
    results = [(use["command"], text, error) for use, text, error in api.results()
               if "command" in use]
    assert len(results) == len(allowed) + len(denied), results
    for command, text, _ in results[:len(allowed)]:
        assert DENIED_TEXT not in text, f"not pre-approved: {command}\n{text[:300]}"
    for command, text, _ in results[len(allowed):]:
        assert DENIED_TEXT in text, f"pre-approved but should not be: {command}\n{text[:300]}"


DENIED_TEXT = "Permission for this tool use was denied"


@pytest.mark.slow
def test_plugin_skill_pre_approves_only_its_scripts(claude, tmp_path):
    from claude_api_stub import Step

    allowed, denied, steps = _grant_script()
    steps = [Step("Skill", {"skill": f"{PLUGIN}:{PLUGIN}"}), *steps]
    work = tmp_path / "work"
    work.mkdir()
    api = _stub_session(claude, work, tmp_path / "home", steps, prompt="help",
                        extra=["--plugin-dir", str(REPO)])
    assert Path(api.skill_dir).resolve() == REPO
    _check_grants(api, allowed, denied)


@pytest.mark.slow
def test_personal_skill_pre_approves_only_its_scripts(claude, tmp_path):
    from claude_api_stub import Step

    config, home = tmp_path / "config", tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), CLAUDE_CONFIG_DIR=str(config))
    install = subprocess.run([sys.executable, str(REPO / "scripts" / "install_skill.py")],
                             env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert install.returncode == 0, install.stderr
    allowed, denied, steps = _grant_script()
    steps = [Step("Skill", {"skill": PLUGIN}), *steps]
    api = _stub_session(claude, tmp_path, home, steps, prompt="help", extra=[], config=config)
    assert Path(api.skill_dir) == config / "skills" / PLUGIN
    _check_grants(api, allowed, denied)


@pytest.mark.slow
def test_command_pre_approves_only_the_plugin_scripts(claude, tmp_path):
    allowed, denied, steps = _grant_script()
    allowed = allowed[:2] + allowed[3:]  # the command lists the quoted forms
    steps = steps[:2] + steps[3:]
    work = tmp_path / "work"
    work.mkdir()
    api = _stub_session(claude, work, tmp_path / "home", steps,
                        prompt=f"/{PLUGIN}:{COMMAND} {STUB_QUESTION}",
                        extra=["--plugin-dir", str(REPO)])
    assert Path(api.skill_dir).resolve() == REPO
    _check_grants(api, allowed, denied)

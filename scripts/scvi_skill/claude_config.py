"""Where Claude Code looks for skills and plugins, and which other copies of this skill it sees.

Claude Code reads personal skills from ``$CLAUDE_CONFIG_DIR/skills/`` (``~/.claude/skills/``
when the variable is unset), project skills from ``<project>/.claude/skills/``, and installed
plugins from ``$CLAUDE_CONFIG_DIR/plugins/installed_plugins.json``. Measured with Claude Code
2.1.332: when a personal and a project copy have the same name, only the personal one loads
(the project copy is hidden); a plugin copy loads beside a personal or project copy, so the
skill is listed twice (``NAME`` and ``PLUGIN:NAME``).

:func:`other_copies` turns that into warnings for ``install_skill.py``. Standard library only;
run by users (never shipped to agents).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CONFIG_ENV = "CLAUDE_CONFIG_DIR"
INSTALLED_PLUGINS = Path("plugins") / "installed_plugins.json"


def config_dir() -> Path:
    """Claude Code's configuration folder: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        folder = Path(explicit).expanduser()
        if not folder.is_absolute():  # it would be read against whichever folder runs us
            from scvi_skill.runtime.errors import UsageError

            raise UsageError(f"{CONFIG_ENV}={explicit!r} is not an absolute folder",
                             hint=f"Set {CONFIG_ENV} to an absolute path, or unset it")
        return folder
    from scvi_skill.runtime.paths import home_dir

    return home_dir() / ".claude"


def personal_skills_dir() -> Path:
    return config_dir() / "skills"


def project_skills_dir(project: Path | str) -> Path:
    return Path(project).expanduser() / ".claude" / "skills"


def installed_plugin_copies(plugin: str) -> list[tuple[str, Path | None]]:
    """``(plugin@marketplace, install path)`` of every installed plugin named ``plugin``.

    An unreadable or malformed ``installed_plugins.json`` counts as no plugins: this only
    feeds warnings.
    """
    path = config_dir() / INSTALLED_PLUGINS
    if not path.is_file():  # missing, or a named pipe that would block the read
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    plugins = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(plugins, dict):
        return []
    found = []
    for plugin_id, entries in sorted(plugins.items()):
        if not isinstance(plugin_id, str) or plugin_id.split("@", 1)[0] != plugin:
            continue
        install_paths = [e.get("installPath") for e in entries if isinstance(e, dict)] \
            if isinstance(entries, list) else []
        where = next((Path(p) for p in install_paths if isinstance(p, str) and p), None)
        found.append((plugin_id, where))
    return found


def other_copies(skill: str, target: Path, *, project: Path | str | None) -> list[str]:
    """Warnings about copies of ``skill`` that would hide, or be listed beside, ``target``.

    ``project`` is the project folder for a ``--project`` install, ``None`` for a personal
    one (then the current folder's project copy, if any, is the one that gets hidden).
    """
    target = Path(target).expanduser().absolute()
    personal = (personal_skills_dir() / skill).absolute()
    messages = []
    if project is not None:
        if (personal / "SKILL.md").is_file() and personal != target:
            messages.append(
                f"a personal copy at {personal} hides this project copy: Claude Code loads only "
                f"the personal one (remove it with: python3 scripts/install_skill.py --uninstall)")
    else:
        local = (project_skills_dir(Path.cwd()) / skill).absolute()
        if (local / "SKILL.md").is_file() and local != target:
            messages.append(
                f"the project copy at {local} is hidden by this personal copy in sessions "
                "started in that project")
    for plugin_id, where in installed_plugin_copies(skill):
        shown = f" ({where})" if where else ""
        messages.append(
            f"the plugin {plugin_id}{shown} also provides this skill, so Claude Code lists it "
            f"twice; keep one: `claude plugin uninstall {plugin_id}` or --uninstall this copy")
    return messages

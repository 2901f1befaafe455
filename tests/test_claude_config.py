"""install_skill.py lands where Claude Code looks ($CLAUDE_CONFIG_DIR/skills) and warns about
copies that would hide the one it installs or list the skill twice."""

from __future__ import annotations

import json
from pathlib import Path

import install_skill
import pytest
from scvi_skill import claude_config
from scvi_skill import install as inst

NAME = inst.SKILL_NAME


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.chdir(tmp_path)
    return path


def test_personal_install_honours_claude_config_dir(home, tmp_path, monkeypatch, capsys):
    config = tmp_path / "config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    assert install_skill.main([]) == 0
    assert (config / "skills" / NAME / "SKILL.md").is_file()
    assert not (home / ".claude").exists()
    assert str(config / "skills" / NAME) in capsys.readouterr().out
    assert install_skill.main(["--uninstall"]) == 0
    assert not (config / "skills" / NAME).exists()


def test_without_claude_config_dir_it_is_home_dot_claude(home):
    assert inst.personal_target() == home / ".claude" / "skills" / NAME


def test_project_install_warns_when_a_personal_copy_hides_it(home, tmp_path, capsys):
    assert install_skill.main([]) == 0
    capsys.readouterr()
    (tmp_path / "proj").mkdir()
    assert install_skill.main(["--project", str(tmp_path / "proj")]) == 0
    err = capsys.readouterr().err
    assert err.count("Warning:") == 1 and "hides this project copy" in err
    assert str(home / ".claude" / "skills" / NAME) in err


def test_personal_install_warns_about_the_project_copy_it_hides(home, tmp_path, capsys):
    assert install_skill.main(["--project", str(tmp_path)]) == 0
    assert "Warning" not in capsys.readouterr().err
    assert install_skill.main([]) == 0
    err = capsys.readouterr().err
    assert "project copy" in err and "hidden" in err


def _installed_plugins(config: Path, body: str) -> None:
    path = config / "plugins" / "installed_plugins.json"
    path.parent.mkdir(parents=True)
    path.write_text(body, encoding="utf-8")


def test_install_warns_when_the_plugin_is_installed_too(home, capsys):
    plugin_id = f"{NAME}@scvi-tools-skills"
    _installed_plugins(home / ".claude", json.dumps({"version": 2, "plugins": {
        plugin_id: [{"scope": "user", "installPath": "/x/cache/p/0.1.0"}],
        "other@m": [{"scope": "user", "installPath": "/y"}]}}))
    assert install_skill.main([]) == 0
    err = capsys.readouterr().err
    assert err.count("Warning:") == 1
    assert plugin_id in err and "twice" in err and "other@m" not in err


@pytest.mark.parametrize("body", ["not json", "[]", '{"plugins": []}', '{"plugins": {"x": 3}}'])
def test_a_malformed_plugin_list_gives_no_warning(home, capsys, body):
    _installed_plugins(home / ".claude", body)
    assert claude_config.installed_plugin_copies(NAME) == []
    assert install_skill.main([]) == 0
    assert "Warning" not in capsys.readouterr().err


def test_a_clean_install_warns_about_nothing(home, capsys):
    assert install_skill.main([]) == 0
    assert install_skill.main([]) == 0
    assert "Warning" not in capsys.readouterr().err

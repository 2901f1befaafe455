"""install_skill.py against hostile or broken locations (issue 13: D4, D8, D9, D16): never
replace what is not a regular file, never a traceback, the same modes on update as on a
fresh install, and concurrent installs that all succeed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import install_skill
import pytest
from scvi_skill import install as inst
from scvi_skill.runtime import files

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install_skill.py"


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return path


def _one_error(err: str) -> None:
    assert "Traceback" not in err
    assert sum(line.startswith("Error:") for line in err.splitlines()) == 1, err


@pytest.mark.parametrize("flag", ["--zip", "--project"])
def test_empty_path_is_a_usage_error(home, flag, capsys):
    """D9: ``--zip ''`` and ``--project ''`` silently did a personal install."""
    with pytest.raises(SystemExit) as exc:
        install_skill.main([flag, ""])
    assert exc.value.code == 2
    assert "empty" in capsys.readouterr().err
    assert not (home / ".claude").exists()


def test_zip_refuses_links_devices_and_existing_files(tmp_path, home, capsys):
    """D4: ``--zip PATH`` replaced whatever was at PATH."""
    precious = tmp_path / "precious.txt"
    precious.write_text("mine\n")
    link = tmp_path / "link.zip"
    link.symlink_to(precious)
    assert install_skill.main(["--zip", str(link)]) == 1
    _one_error(capsys.readouterr().err)
    assert link.is_symlink() and precious.read_text() == "mine\n"
    assert install_skill.main(["--zip", str(link), "--force"]) == 1  # never through a link
    assert precious.read_text() == "mine\n"
    capsys.readouterr()
    assert install_skill.main(["--zip", "/dev/null", "--force"]) == 1
    assert "not a regular file" in capsys.readouterr().err
    existing = tmp_path / "old.zip"
    existing.write_bytes(b"old")
    assert install_skill.main(["--zip", str(existing)]) == 1
    assert "--force" in capsys.readouterr().err and existing.read_bytes() == b"old"
    assert install_skill.main(["--zip", str(existing), "--force"]) == 0
    assert existing.read_bytes().startswith(b"PK")


def test_filesystem_errors_are_one_line(tmp_path, home, monkeypatch, capsys):
    """D8: a --project that is a file, a HOME or zip folder that cannot be written."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert install_skill.main(["--project", str(a_file)]) == 2
    _one_error(capsys.readouterr().err)
    assert install_skill.main(["--project", str(tmp_path / "missing")]) == 2
    _one_error(capsys.readouterr().err)
    assert install_skill.main(["--zip", str(a_file / "sub" / "skill.zip")]) == 1
    _one_error(capsys.readouterr().err)
    monkeypatch.setenv("HOME", str(a_file))  # HOME is a file: nothing can be created under it
    assert install_skill.main([]) == 1
    err = capsys.readouterr().err
    _one_error(err)
    assert "could not write" in err


def test_project_that_is_a_file_exits_2(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert install_skill.main(["--project", str(a_file)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_update_keeps_the_modes_of_a_fresh_install(home, repo_root):
    """D16: updated files, the zip and the manifest got 0600 and the folder 0700."""
    old = os.umask(0o022)
    try:
        assert install_skill.main([]) == 0
        target = inst.personal_target()
        skill_md = target / "SKILL.md"
        skill_md.write_text("edited by an older version\n")
        manifest = inst.read_install_manifest(target)
        manifest["files"]["SKILL.md"] = inst.sha256_file(skill_md)
        (target / inst.MANIFEST_NAME).write_text(__import__("json").dumps(manifest))
        assert install_skill.main([]) == 0
        zip_path = home / "skill.zip"
        assert install_skill.main(["--zip", str(zip_path)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    for path in (skill_md, target / inst.MANIFEST_NAME, zip_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_loser_of_a_race_updates_the_winners_copy(home, repo_root, monkeypatch):
    """D8: concurrent installs: the rename of the second one failed with ENOTEMPTY."""
    real_rename = os.rename
    target = inst.personal_target()

    def winner_first(src, dst):
        if Path(dst) == target and not target.exists():
            real_rename(src, dst)  # stands for the other process: its copy lands first
            raise OSError(39, "Directory not empty", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", winner_first)
    result = inst.install(repo_root, target)
    assert result.action == "update" and not result.written
    assert inst.read_install_manifest(target) is not None
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.slow
def test_concurrent_installs_all_succeed(home):
    env = dict(os.environ, HOME=str(home))
    env.pop("CLAUDE_CONFIG_DIR", None)
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for code, err in results:
        assert code == 0 and "Traceback" not in err, err
    target = inst.personal_target()
    assert inst.read_install_manifest(target) is not None
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_zip_of_a_folder_path_is_a_usage_error(tmp_path, home, capsys):
    import install_skill as cli

    for given in (str(tmp_path / "new") + "/", str(tmp_path)):
        with pytest.raises(SystemExit) as exc:
            cli.main(["--zip", given])
        assert exc.value.code == 2
    assert not (tmp_path / "new").exists()
    assert "got a folder" in capsys.readouterr().err


# Session 43's adversarial pass over the maintainer scripts.

def test_a_file_where_the_skill_needs_a_folder_leaves_the_copy_as_it_was(tmp_path, home, capsys):
    """``references`` as a file: SKILL.md was written, then the update failed, and the
    message said nothing half-written was left."""
    project = tmp_path / "p"
    target = project / ".claude" / "skills" / inst.SKILL_NAME
    target.mkdir(parents=True)
    (target / "references").write_text("x\n")
    assert install_skill.main(["--project", str(project), "--force"]) == 1
    err = capsys.readouterr().err
    _one_error(err)
    assert "is a file where the skill installs a folder" in err
    assert sorted(p.name for p in target.iterdir()) == ["references"]


@pytest.mark.parametrize("link", [".claude", ".claude/skills"])
def test_a_project_link_out_of_the_project_is_not_written_through(tmp_path, home, capsys, link):
    project, elsewhere = tmp_path / "p", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    (project / link).symlink_to(elsewhere)
    assert install_skill.main(["--project", str(project)]) == 1
    _one_error(capsys.readouterr().err)
    assert list(elsewhere.iterdir()) == []


def test_uninstall_keeps_an_empty_folder_the_user_made(tmp_path, home):
    """The user's empty folder stays; a folder the installer made goes."""
    project = tmp_path / "p"
    target = project / ".claude" / "skills" / inst.SKILL_NAME
    target.mkdir(parents=True)
    assert install_skill.main(["--project", str(project)]) == 0
    assert install_skill.main(["--project", str(project), "--uninstall"]) == 0
    assert target.is_dir() and not any(target.iterdir())
    other = tmp_path / "q"
    other.mkdir()
    assert install_skill.main(["--project", str(other)]) == 0
    assert install_skill.main(["--project", str(other), "--uninstall"]) == 0
    assert not (other / ".claude" / "skills" / inst.SKILL_NAME).exists()


def test_a_killed_installs_staging_folder_is_swept_once_stale(tmp_path, home):
    project = tmp_path / "p"
    skills = project / ".claude" / "skills"
    stale = skills / f".{inst.SKILL_NAME}.tmp-killed"
    fresh = skills / f".{inst.SKILL_NAME}.tmp-running"
    for folder in (stale, fresh):
        (folder / "references").mkdir(parents=True)
    old = os.stat(stale).st_mtime - files.STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    assert install_skill.main(["--project", str(project)]) == 0
    assert not stale.exists() and fresh.is_dir()


@pytest.mark.parametrize(("variable", "value"), [("HOME", ""), ("HOME", "relhome"),
                                                 ("CLAUDE_CONFIG_DIR", "relcfg")])
def test_no_personal_install_into_the_working_folder(tmp_path, monkeypatch, capsys, variable,
                                                     value):
    """``HOME=`` targeted /.claude, a relative HOME or CLAUDE_CONFIG_DIR the working folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.setenv(variable, value)
    code = install_skill.main(["--dry-run"])
    out, err = capsys.readouterr()
    assert not any(tmp_path.iterdir())
    if variable == "CLAUDE_CONFIG_DIR":
        assert code == 2 and "not an absolute folder" in err
    else:
        where = Path(out.split(":")[0])
        assert code == 0 and where.is_absolute() and where.parts[1] != ".claude"


def test_a_plugins_file_that_is_a_pipe_is_not_read(tmp_path, monkeypatch):
    """installed_plugins.json as a named pipe hung the install after it was done."""
    from scvi_skill import claude_config

    config = tmp_path / "claude"
    (config / "plugins").mkdir(parents=True)
    os.mkfifo(config / "plugins" / "installed_plugins.json")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    assert claude_config.installed_plugin_copies(inst.SKILL_NAME) == []


def test_a_killed_writes_temporary_files_are_swept_on_the_next_write(tmp_path, home):
    """A killed ``--zip`` left ``.skill.zip.<random>`` beside the zip for good: the names were
    too plain to delete in a user's folder. Temporary files are marked now, and the next
    write of the same file removes the ones over an hour old, nothing else."""
    out = tmp_path / "skill.zip"
    old = time.time() - files.STALE_TEMP_S - 60
    stale = tmp_path / f".skill.zip{files.TEMP_MARK}k3j9"
    young = tmp_path / f".skill.zip{files.TEMP_MARK}a1b2"
    users = tmp_path / ".skill.zip.notes"  # the user's, named like the old temporary files
    other = tmp_path / f".other.zip{files.TEMP_MARK}zz00"  # another file's
    link = tmp_path / f".skill.zip{files.TEMP_MARK}link"
    for path in (stale, young, users, other):
        path.write_text("x")
    link.symlink_to(users)
    for path in (stale, users, other):
        os.utime(path, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    assert install_skill.main(["--zip", str(out)]) == 0
    assert not stale.exists()
    assert young.exists() and users.exists() and other.exists() and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir() if files.TEMP_MARK in p.name) == sorted(
        [young.name, other.name, link.name])


def test_refresh_temporary_files_carry_the_mark(tmp_path):
    """What a refresh stages beside references/ is named so that a later one can sweep it."""
    seen = []
    real = files.temp_beside

    def spy(path, suffix=""):
        fd, name = real(path, suffix)
        seen.append(Path(name).name)
        return fd, name

    import scvi_skill.build.refresh as refresh
    refresh.temp_beside, saved = spy, refresh.temp_beside
    try:
        refresh.write_outputs({refresh.OUTPUTS[0]: b"x\n"}, tmp_path)
    finally:
        refresh.temp_beside = saved
    assert seen and all(name.startswith(f".{refresh.OUTPUTS[0]}{files.TEMP_MARK}")
                        for name in seen)
    assert (tmp_path / refresh.OUTPUTS[0]).read_bytes() == b"x\n"
    assert [p.name for p in tmp_path.iterdir()] == [refresh.OUTPUTS[0]]

"""install_skill.py: what it copies, that it is idempotent, and that it never deletes what it
did not install. The installed copy is validated by skills-ref and its scripts run with a bare
Python (no packages)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import install_skill
import pytest
from scvi_skill import install as inst
from scvi_skill.runtime.errors import UsageError

NAME = inst.SKILL_NAME
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _bare_python() -> list[str]:
    """A Python >= 3.10 that sees no installed packages: the system one, else -I -S."""
    for candidate in ("/usr/bin/python3", shutil.which("python3", path="/usr/local/bin:/bin")):
        if candidate and Path(candidate).is_file():
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= "
                                    "(3, 10), sys.prefix)"], capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.startswith("True") \
                    and ".venv" not in probe.stdout:
                return [candidate, "-I"]
    return [sys.executable, "-I", "-S"]


def test_personal_install_copies_only_what_the_agent_needs(home, repo_root, capsys):
    assert install_skill.main([]) == 0
    target = home / ".claude" / "skills" / NAME
    assert str(target) in capsys.readouterr().out
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert "SKILL.md" in files and inst.MANIFEST_NAME in files
    for script in inst.AGENT_SCRIPTS:
        assert f"scripts/{script}" in files
    expected_refs = sorted(p.relative_to(repo_root).as_posix()
                           for p in (repo_root / "references").rglob("*") if p.is_file())
    assert [f for f in files if f.startswith("references/")] == expected_refs
    assert not any(f.startswith(("scripts/scvi_skill/build/", "scripts/scvi_skill/check/"))
                   or f.endswith("install.py") for f in files)
    assert "scripts/scvi_skill/runtime/rank.py" in files
    assert not any(f.startswith(("examples/", "tests/", "commands/", ".claude-plugin/"))
                   for f in files)
    assert "scripts/check_skill.py" not in files and "scripts/install_skill.py" not in files
    manifest = json.loads((target / inst.MANIFEST_NAME).read_text())
    assert sorted(manifest["files"]) == [f for f in files if f != inst.MANIFEST_NAME]
    assert (target / "SKILL.md").read_bytes() == (repo_root / "SKILL.md").read_bytes()


def test_second_install_is_a_no_op(home, capsys):
    assert install_skill.main([]) == 0
    target = home / ".claude" / "skills" / NAME
    before = _tree_bytes(target)
    capsys.readouterr()
    assert install_skill.main(["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["summary"]["written"] == 0 and result["summary"]["unchanged"] > 10
    assert _tree_bytes(target) == before


def _imports(path: Path, scripts: Path = SCRIPTS) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved
    against the file's package under ``scripts``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(scripts).parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.append((node.lineno, module))
            # "from scvi_skill.runtime import errors" imports the submodule errors
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names
                    if (scripts / Path(*module.split("."), f"{alias.name}.py")).is_file()]
    return out


def _is_stdlib(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == "__future__"


def test_runtime_imports_only_the_standard_library_and_itself():
    runtime = SCRIPTS / "scvi_skill" / "runtime"
    files = sorted(runtime.rglob("*.py"))
    assert len(files) > 8
    for path in files:
        for line, module in _imports(path):
            assert _is_stdlib(module) or module.startswith("scvi_skill.runtime"), \
                f"{path.relative_to(SCRIPTS)}:{line} imports {module}"


def test_agent_scripts_import_only_runtime():
    for name in inst.AGENT_SCRIPTS:
        modules = [m for _, m in _imports(SCRIPTS / name)]
        assert any(m.startswith("scvi_skill.runtime") for m in modules), name
        for module in modules:
            assert _is_stdlib(module) or module.startswith("scvi_skill.runtime"), \
                f"{name} imports {module}"


def test_import_walk_sees_a_third_party_import(tmp_path):
    """The walk above would catch a runtime module that imports yaml, relative or not."""
    package = tmp_path / "scripts" / "scvi_skill" / "runtime"
    package.mkdir(parents=True)
    (package / "deep.py").write_text("from .helper import x\nfrom .. import install\nimport yaml\n")
    mods = [m for _, m in _imports(package / "deep.py", tmp_path / "scripts")]
    assert mods[:2] == ["scvi_skill.runtime.helper", "scvi_skill"]
    assert not _is_stdlib("yaml") and _is_stdlib("json")


def test_closure_is_the_agent_scripts_and_the_runtime_folder(repo_root):
    closure = inst.script_closure(repo_root / "scripts")
    runtime = sorted(p.relative_to(SCRIPTS).as_posix()
                     for p in (SCRIPTS / "scvi_skill" / "runtime").rglob("*.py")
                     if "__pycache__" not in p.parts)
    assert closure == sorted([*inst.AGENT_SCRIPTS, "scvi_skill/__init__.py", *runtime])
    assert not any("/build/" in rel or "/check/" in rel or rel.endswith("install.py")
                   for rel in closure)


def test_closure_refuses_a_tree_without_runtime(tmp_path):
    scripts = tmp_path / "scripts"
    (scripts / "scvi_skill").mkdir(parents=True)
    for name in inst.AGENT_SCRIPTS:
        (scripts / name).write_text("")
    (scripts / "scvi_skill" / "__init__.py").write_text("")
    with pytest.raises(UsageError, match="runtime"):
        inst.script_closure(scripts)


def test_refuses_a_folder_it_did_not_install(home, capsys):
    target = home / ".claude" / "skills" / NAME
    target.mkdir(parents=True)
    (target / "SKILL.md").write_text("my own skill\n")
    assert install_skill.main([]) == 1
    assert "was not installed by install_skill.py" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["SKILL.md"]
    assert (target / "SKILL.md").read_text() == "my own skill\n"


def test_force_then_uninstall_leaves_foreign_files(home, capsys):
    target = home / ".claude" / "skills" / NAME
    (target / "notes").mkdir(parents=True)
    (target / "notes" / "mine.txt").write_text("keep me\n")
    assert install_skill.main(["--force"]) == 0
    assert (target / "SKILL.md").is_file() and (target / inst.MANIFEST_NAME).is_file()
    assert install_skill.main(["--uninstall"]) == 0
    assert _tree_bytes(target) == {"notes/mine.txt": b"keep me\n"}


def test_uninstall_keeps_edited_files(home, capsys):
    assert install_skill.main([]) == 0
    target = home / ".claude" / "skills" / NAME
    (target / "SKILL.md").write_text("edited by the user\n")
    capsys.readouterr()
    assert install_skill.main(["--uninstall", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["kept"] == ["SKILL.md"] and result["summary"]["removed"] > 10
    assert "edited since it was installed" in captured.err
    assert _tree_bytes(target) == {"SKILL.md": b"edited by the user\n"}


def test_uninstall_removes_the_folder_and_refuses_foreign_ones(home, capsys):
    target = home / ".claude" / "skills" / NAME
    assert install_skill.main([]) == 0
    assert install_skill.main(["--uninstall"]) == 0
    assert not target.exists() and (home / ".claude" / "skills").is_dir()
    assert install_skill.main(["--uninstall"]) == 1
    target.mkdir()
    (target / "SKILL.md").write_text("x\n")
    assert install_skill.main(["--uninstall"]) == 1
    assert (target / "SKILL.md").read_text() == "x\n"
    assert capsys.readouterr().err.count("Error:") == 2


def test_update_removes_only_obsolete_files_it_installed(tmp_path, home, repo_root):
    source = tmp_path / "source"
    shutil.copytree(repo_root / "references", source / "references")
    shutil.copytree(repo_root / "scripts", source / "scripts",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "SKILL.md", source / "SKILL.md")
    (source / "references" / "extra.md").write_text("old\n")
    assert install_skill.main(["--source", str(source)]) == 0
    target = home / ".claude" / "skills" / NAME
    (target / "references" / "user.md").write_text("mine\n")
    (source / "references" / "extra.md").unlink()
    (source / "SKILL.md").write_text((source / "SKILL.md").read_text() + "\nnew line\n")
    result = inst.install(source, target)
    assert result.removed == ["references/extra.md"] and result.written == ["SKILL.md"]
    assert not (target / "references" / "extra.md").exists()
    assert (target / "references" / "user.md").read_text() == "mine\n"
    assert (target / "SKILL.md").read_text().endswith("new line\n")


def test_project_install_and_dry_run(tmp_path, home, capsys):
    project = tmp_path / "project"
    project.mkdir()
    assert install_skill.main(["--project", str(project), "--dry-run"]) == 0
    assert "would be written" in capsys.readouterr().out
    assert not (project / ".claude").exists()
    assert install_skill.main(["--project", str(project)]) == 0
    assert (project / ".claude" / "skills" / NAME / "SKILL.md").is_file()
    assert not (home / ".claude").exists()


def test_symlinked_target_is_refused(tmp_path, home, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    skills = home / ".claude" / "skills"
    skills.mkdir(parents=True)
    (skills / NAME).symlink_to(elsewhere, target_is_directory=True)
    assert install_skill.main([]) == 1
    assert list(elsewhere.iterdir()) == []
    assert "symbolic link" in capsys.readouterr().err


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        install_skill.main(["--uninstall", "--force"])
    assert exc.value.code == 2
    assert install_skill.main(["--source", str(tmp_path), "--zip", str(tmp_path / "a.zip")]) == 2
    assert "no SKILL.md" in capsys.readouterr().err


def test_zip_is_deterministic_and_matches_install(tmp_path, home, repo_root):
    first, second = tmp_path / "a" / "skill.zip", tmp_path / "b" / "skill.zip"
    assert install_skill.main(["--zip", str(first)]) == 0
    assert install_skill.main(["--zip", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as bundle:
        names = bundle.namelist()
        assert bundle.read(f"{NAME}/SKILL.md") == (repo_root / "SKILL.md").read_bytes()
    assert all(n.startswith(f"{NAME}/") for n in names)
    assert [n.removeprefix(f"{NAME}/") for n in names] == inst.skill_files(repo_root)


def test_installed_copy_passes_skills_ref(home):
    from skills_ref.validator import validate

    assert install_skill.main([]) == 0
    target = home / ".claude" / "skills" / NAME
    assert validate(target) == []
    cli = Path(sys.executable).parent / "skills-ref"
    if cli.is_file():
        run = subprocess.run([str(cli), "validate", str(target)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_installed_scripts_run_with_a_bare_python(home, tmp_path):
    assert install_skill.main([]) == 0
    scripts = home / ".claude" / "skills" / NAME / "scripts"
    python = _bare_python()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SCVI_SKILL_CACHE": str(tmp_path / "cache")}
    for script in inst.AGENT_SCRIPTS:
        run = subprocess.run([*python, str(scripts / script), "--help"], capture_output=True,
                             text=True, cwd=tmp_path, env=env, timeout=60)
        assert run.returncode == 0, f"{script}: {run.stderr}"
        assert "usage:" in run.stdout.lower()
    run = subprocess.run([*python, str(scripts / "resolve_docs.py"),
                          "my scVI training loss becomes NaN, how do I fix it?", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["scvi_tools_version"] == "1.5.1"
    assert "docs/faq.md" in [d["path"] for d in answer["docs"][:3]]


def test_installer_itself_runs_with_a_bare_python(tmp_path, repo_root):
    home = tmp_path / "bare-home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    run = subprocess.run([*_bare_python(), str(repo_root / "scripts" / "install_skill.py"),
                          "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["target"] == str(home / ".claude" / "skills" / NAME)
    assert (home / ".claude" / "skills" / NAME / "SKILL.md").is_file()


def test_update_keeps_a_file_the_user_edited_unless_forced(home, capsys):
    assert install_skill.main([]) == 0
    target = home / ".claude" / "skills" / NAME
    skill = target / "SKILL.md"
    original = skill.read_bytes()
    manifest = json.loads((target / inst.MANIFEST_NAME).read_text())
    manifest["files"]["SKILL.md"] = "0" * 64  # an older release wrote another SKILL.md
    (target / inst.MANIFEST_NAME).write_text(json.dumps(manifest))
    skill.write_text("my own notes\n")  # and the user edited it since
    capsys.readouterr()
    assert install_skill.main(["--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["kept"] == ["SKILL.md"]
    assert "--force replaces it" in captured.err and skill.read_text() == "my own notes\n"
    assert install_skill.main(["--force"]) == 0
    assert skill.read_bytes() == original


def test_a_refused_update_changes_nothing(home, tmp_path, capsys):
    assert install_skill.main([]) == 0
    target = home / ".claude" / "skills" / NAME
    (target / "SKILL.md").write_bytes(b"stale\n")
    manifest = json.loads((target / inst.MANIFEST_NAME).read_text())
    manifest["files"]["SKILL.md"] = inst.sha256_file(target / "SKILL.md")  # ours, outdated
    (target / inst.MANIFEST_NAME).write_text(json.dumps(manifest))
    runtime = target / "scripts" / "scvi_skill" / "runtime"
    shutil.move(runtime, tmp_path / "runtime")
    runtime.symlink_to(tmp_path / "runtime", target_is_directory=True)  # leads outside
    assert install_skill.main([]) == 1
    assert "nothing changed" in capsys.readouterr().err
    assert (target / "SKILL.md").read_bytes() == b"stale\n"  # not written before the refusal

"""Install, update, uninstall and zip the skill folder an agent needs.

What an installed copy holds: ``SKILL.md``, every file under ``references/``, the agent-facing
scripts (:data:`AGENT_SCRIPTS`) with ``scvi_skill/__init__.py`` and the whole
``scvi_skill/runtime/`` folder they import from, and a manifest
(:data:`MANIFEST_NAME`) listing each installed file with its SHA-256.

The manifest is what makes the installer safe: it refuses a folder without one unless forced,
updates only the files it lists, and ``uninstall`` deletes only listed files whose content is
still what it wrote (a file edited since is kept and reported). A fresh install is staged in a
temporary sibling folder and renamed into place; updates replace one file at a time with
``os.replace``, the manifest last.

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from scvi_skill import claude_config
from scvi_skill.runtime.errors import SkillPackageError, UsageError
from scvi_skill.runtime.files import (
    default_mode,
    read_json_file,
    resolves_inside,
    sha256_file,
    sweep_stale_temps,
    temp_beside,
)

SKILL_NAME = "scvi-tools-inputs-and-modeling"
AGENT_SCRIPTS = ("resolve_docs.py", "search_source.py", "fetch_tree.py", "check_env.py", "check_code.py")
"""Scripts SKILL.md tells the agent to run; maintainer scripts are never installed."""
PACKAGE = "scvi_skill"
RUNTIME = "runtime"
"""The folder of ``PACKAGE`` shipped to agents (standard library only)."""
MANIFEST_NAME = ".scvi-skill-install.json"
MANIFEST_NOTE = ("written by scripts/install_skill.py: the files it installed here; "
                 "--uninstall removes exactly these; do not edit")
SKIP_PARTS = frozenset({"__pycache__", ".pytest_cache"})
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Fixed member timestamp, so the same files always give the same zip bytes."""


class InstallRefused(SkillPackageError):
    """The target is not ours to change (exit 1)."""


@dataclass
class InstallResult:
    action: str
    """``install``, ``update``, ``uninstall`` or ``zip``."""
    target: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Uninstall/update: files edited since install, left in place."""
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {
            "action": self.action, "dry_run": self.dry_run, "target": str(self.target),
            "summary": {"written": len(self.written), "unchanged": len(self.unchanged),
                        "removed": len(self.removed), "kept": len(self.kept)},
            "written": self.written, "unchanged": self.unchanged, "removed": self.removed,
            "kept": self.kept,
        }


def personal_target() -> Path:
    """``$CLAUDE_CONFIG_DIR/skills/<name>``, else ``~/.claude/skills/<name>`` (``~`` is
    ``$HOME``): where Claude Code loads personal skills from."""
    return claude_config.personal_skills_dir() / SKILL_NAME


def project_target(project: Path | str) -> Path:
    """``DIR/.claude/skills/<name>``; ``DIR`` must be an existing folder."""
    if not str(project).strip():
        raise UsageError("--project needs a folder, got an empty string")
    folder = Path(project).expanduser()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise UsageError(f"--project {folder} {what}",
                         hint="Give the root folder of an existing project.")
    skills = claude_config.project_skills_dir(project)
    for folder in (skills.parent, skills):
        if folder.is_symlink() and not resolves_inside(folder.parent, folder):
            raise InstallRefused(f"{folder} is a link to {folder.resolve()}, outside the "
                                 "project; refusing to write through it",
                                 hint="Install into the folder it points to (run from there), "
                                      "or remove the link.")
    return skills / SKILL_NAME


# -- what to copy ------------------------------------------------------------------------------


def skill_files(source: Path) -> list[str]:
    """Skill-relative POSIX paths to install, sorted."""
    source = Path(source)
    if not (source / "SKILL.md").is_file():
        raise UsageError(f"no SKILL.md in {source}: not the skill's repository")
    files = {"SKILL.md"}
    references = source / "references"
    if references.is_dir():
        for path in references.rglob("*"):
            rel = path.relative_to(source)
            if path.is_file() and not path.is_symlink() and not SKIP_PARTS & set(rel.parts) \
                    and not path.name.startswith("."):
                files.add(rel.as_posix())
    files.update(f"scripts/{rel}" for rel in script_closure(source / "scripts"))
    return sorted(files)


def script_closure(scripts_dir: Path) -> list[str]:
    """The agent scripts, ``scvi_skill/__init__.py`` and the whole ``scvi_skill/runtime/``
    folder, as ``scripts/``-relative POSIX paths, sorted.

    ``runtime/`` is everything the agent scripts import (``tests/test_install_skill.py``
    proves it by walking their imports), so it is copied whole rather than module by module.
    """
    for name in AGENT_SCRIPTS:
        if not (scripts_dir / name).is_file():
            raise UsageError(f"agent script {scripts_dir / name} is missing")
    package_init = scripts_dir / PACKAGE / "__init__.py"
    runtime = scripts_dir / PACKAGE / RUNTIME
    if not package_init.is_file() or not (runtime / "__init__.py").is_file():
        raise UsageError(f"{runtime} is missing: not the skill's repository")
    found = set(AGENT_SCRIPTS) | {f"{PACKAGE}/__init__.py"}
    for path in runtime.rglob("*.py"):
        rel = path.relative_to(scripts_dir)
        if not path.is_symlink() and not SKIP_PARTS & set(rel.parts):
            found.add(rel.as_posix())
    return sorted(found)


# -- install / update ---------------------------------------------------------------------------


def install(source: Path, target: Path, *, force: bool = False,
            dry_run: bool = False) -> InstallResult:
    source, target = Path(source).resolve(), Path(target).expanduser()
    files = skill_files(source)
    if target.is_symlink():
        raise InstallRefused(f"{target} is a symbolic link; refusing to write through it",
                             hint="Remove the link or choose another location.")
    if target.exists() and not target.is_dir():
        raise InstallRefused(f"{target} exists and is not a folder")
    if target.exists() and target.resolve() == source:
        raise UsageError(f"{target} is the source folder itself")
    manifest = read_install_manifest(target) if target.is_dir() else None
    if target.is_dir() and manifest is None and any(target.iterdir()) and not force:
        raise InstallRefused(
            f"{target} exists and was not installed by install_skill.py; nothing changed",
            hint="Pass --force to install over it (files that are not part of the skill are "
                 "left alone), or choose another location.")
    version = read_skill_version(source)
    if not target.exists():
        result = InstallResult("install", target, written=list(files), dry_run=dry_run)
        if dry_run or _fresh_install(source, target, files, version):
            return result
        # Another install created the folder first: update it like any installed copy.
        manifest = read_install_manifest(target)
        if manifest is None:
            raise InstallRefused(f"{target} appeared during the install and was not installed "
                                 "by install_skill.py; nothing changed")
    return _update(source, target, files, version, manifest or {}, dry_run=dry_run,
                   force=force)


def _fresh_install(source: Path, target: Path, files: list[str], version: str) -> bool:
    """Stage the copy beside ``target`` and rename it into place; ``False`` when another
    process created ``target`` first (the staged copy is dropped)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(staging, default_mode(folder=True))  # mkdtemp gives 0700
        hashes = {}
        for rel in files:
            destination = staging / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, destination)
            hashes[rel] = sha256_file(destination)
        _write_json(staging / MANIFEST_NAME, _manifest(hashes, version))
        try:
            os.rename(staging, target)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST) and target.is_dir():
                shutil.rmtree(staging, ignore_errors=True)
                return False
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def _sweep_staging(target: Path) -> None:
    """Remove the staging folders (``.<name>.tmp-*`` beside ``target``, made by
    :func:`_fresh_install`) that a killed install left, once they are an hour old; a
    younger one may be another install's, at work."""
    sweep_stale_temps(target, f".{target.name}.tmp-", folders=True)


def _update(source: Path, target: Path, files: list[str], version: str, manifest: dict, *,
            dry_run: bool, force: bool = False) -> InstallResult:
    """Bring an installed copy up to date. Every destination is checked before anything is
    written (a refusal leaves the copy as it was); a file the user edited since it was
    installed (its content is neither what the manifest recorded nor the new one) is kept
    and reported, unless ``force``."""
    result = InstallResult("update", target, dry_run=dry_run)
    old = manifest.get("files", {})
    hashes = {}
    for rel in files:
        destination = target / rel
        if not resolves_inside(target, destination.parent) or (
                destination.is_symlink() and not resolves_inside(target, destination)):
            raise InstallRefused(f"{destination} leads outside {target} (a symbolic "
                                 "link?); refusing to write through it; nothing changed")
        if destination.is_dir() and not destination.is_symlink():
            raise InstallRefused(f"{destination} is a folder where the skill installs a file; "
                                 "nothing changed", hint="Move it away and run the install again.")
        for folder in destination.relative_to(target).parents:
            if folder != Path(".") and (target / folder).exists() \
                    and not (target / folder).is_dir():
                raise InstallRefused(f"{target / folder} is a file where the skill installs a "
                                     "folder; nothing changed",
                                     hint="Move it away and run the install again.")
    for rel in files:
        wanted = sha256_file(source / rel)
        hashes[rel] = wanted
        destination = target / rel
        present = destination.is_file() and not destination.is_symlink()
        current = sha256_file(destination) if present else None
        if current == wanted:
            result.unchanged.append(rel)
            continue
        if current is not None and rel in old and current != old[rel] and not force:
            result.kept.append(rel)  # edited since it was installed: the user's now
            hashes[rel] = old[rel]  # still ours to update once it is back to what we wrote
            continue
        result.written.append(rel)
        if not dry_run:
            _atomic_copy(source / rel, destination)
    for rel in sorted(set(old) - set(files)):
        _remove_if_ours(target, rel, old[rel], result, dry_run=dry_run)
    if not dry_run:
        made = manifest.get("made_folder", bool(manifest))  # no manifest: the folder was there
        _write_json(target / MANIFEST_NAME, _manifest(hashes, version, made_folder=made))
        _prune_dirs(target, set(old) - set(files))
    return result


# -- uninstall ----------------------------------------------------------------------------------


def uninstall(target: Path, *, dry_run: bool = False) -> InstallResult:
    target = Path(target).expanduser()
    if target.is_symlink() or not target.is_dir():
        raise InstallRefused(f"nothing installed at {target}")
    manifest = read_install_manifest(target)
    if manifest is None:
        raise InstallRefused(
            f"{target} was not installed by install_skill.py (no {MANIFEST_NAME}); "
            "nothing removed", hint="Delete it yourself if it is yours to delete.")
    result = InstallResult("uninstall", target, dry_run=dry_run)
    recorded = manifest.get("files", {})
    for rel in sorted(recorded):
        _remove_if_ours(target, rel, recorded[rel], result, dry_run=dry_run)
    if not dry_run:
        (target / MANIFEST_NAME).unlink(missing_ok=True)
        _prune_dirs(target, set(recorded))
        if manifest.get("made_folder", True) and not any(target.iterdir()):
            target.rmdir()  # only a folder the installer made (a user's empty one stays)
    return result


def _remove_if_ours(target: Path, rel: str, digest: str, result: InstallResult, *,
                    dry_run: bool) -> None:
    path = target / rel
    if not resolves_inside(target, path) or path.is_symlink() or not path.is_file():
        return
    if sha256_file(path) != digest:
        result.kept.append(rel)
        return
    result.removed.append(rel)
    if not dry_run:
        path.unlink()


def _prune_dirs(target: Path, rels: set[str]) -> None:
    """Remove folders of the given files that are now empty, deepest first (never target)."""
    folders = {parent for rel in rels for parent in (target / rel).parents
               if parent != target and resolves_inside(target, parent)}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()


# -- zip ----------------------------------------------------------------------------------------


def build_zip(source: Path, zip_path: Path, *, force: bool = False,
              dry_run: bool = False) -> InstallResult:
    """An upload bundle for claude.ai: the same files in a top folder named like the skill.

    Writes only a new regular file, or replaces an existing regular file with ``force``;
    a link, folder, device or other special file at ``zip_path`` is refused."""
    if not str(zip_path).strip():
        raise UsageError("--zip needs a file path, got an empty string")
    source, zip_path = Path(source).resolve(), Path(zip_path).expanduser()
    files = skill_files(source)
    if zip_path.is_dir() and not zip_path.is_symlink():
        raise UsageError(f"{zip_path} is a folder; give the path of the .zip to write")
    if zip_path.is_symlink() or (zip_path.exists() and not zip_path.is_file()):
        raise InstallRefused(f"{zip_path} is not a regular file (a link, device or other "
                             "special file); refusing to replace it")
    if zip_path.exists() and not force:
        raise InstallRefused(f"{zip_path} exists; nothing written",
                             hint="Pass --force to replace it, or choose another path.")
    result = InstallResult("zip", zip_path, written=list(files), dry_run=dry_run)
    if dry_run:
        return result
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = temp_beside(zip_path)
    os.close(handle)
    os.chmod(tmp, default_mode())  # mkstemp gives 0600
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for rel in files:
                info = zipfile.ZipInfo(f"{SKILL_NAME}/{rel}", date_time=ZIP_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, (source / rel).read_bytes())
        os.replace(tmp, zip_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


# -- helpers ------------------------------------------------------------------------------------


def read_install_manifest(target: Path) -> dict | None:
    """The manifest of an installed copy; ``None`` when absent or not ours."""
    path = Path(target) / MANIFEST_NAME
    if not path.is_file() or path.is_symlink():
        return None
    data = read_json_file(path)
    if not isinstance(data, dict) or data.get("skill") != SKILL_NAME \
            or not isinstance(data.get("files"), dict):
        return None
    return data


def read_skill_version(source: Path) -> str:
    """The skill package's version, from ``.claude-plugin/plugin.json``."""
    plugin = read_json_file(source / ".claude-plugin" / "plugin.json")
    return str(plugin.get("version", "unknown")) if isinstance(plugin, dict) else "unknown"


def _manifest(hashes: dict[str, str], version: str, *, made_folder: bool = True) -> dict:
    """``made_folder``: the installer created the target folder (uninstall may remove it);
    False when it installed into a folder that was there before."""
    return {"_generated": MANIFEST_NOTE, "files": dict(sorted(hashes.items())),
            "made_folder": made_folder, "skill": SKILL_NAME, "version": version}


def _atomic_copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.is_symlink():
        destination.unlink()
    handle, tmp = temp_beside(destination)
    os.close(handle)
    try:
        os.chmod(tmp, default_mode())  # mkstemp gives 0600; an update keeps fresh-install modes
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: dict) -> None:
    handle, tmp = temp_beside(path)
    try:
        os.chmod(tmp, default_mode())
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

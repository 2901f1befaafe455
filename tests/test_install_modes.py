"""Every skill-relative path that SKILL.md (and the plugin's command) cites exists in the
installed copy, in each install mode: personal, project, the claude.ai zip, and the plugin
(a clone of the repository, which is what `claude plugin install` copies)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import install_skill
import pytest
from scvi_skill import install as inst

REPO = Path(__file__).resolve().parent.parent
NAME = inst.SKILL_NAME
SKILL_RELATIVE = re.compile(
    r"(?:\$\{CLAUDE_(?:SKILL_DIR|PLUGIN_ROOT)\}/)?"
    r"\b((?:scripts|references|examples|commands|evals|benchmarks)/[A-Za-z0-9_./-]*[A-Za-z0-9_])")
"""A path under one of the skill's own folders, with or without the folder variable."""
VARIABLE_PATH = re.compile(r"\$\{CLAUDE_(?:SKILL_DIR|PLUGIN_ROOT)\}/([^\s\"'`)]+)")


def cited_paths(text: str) -> set[str]:
    """Skill-relative paths in ``text``: each ``${CLAUDE_SKILL_DIR}/X`` and each bare
    ``scripts/...``, ``references/...`` (placeholders such as ``scripts/...`` excluded)."""
    found = {m.group(1) for m in SKILL_RELATIVE.finditer(text)}
    found |= {m.group(1).rstrip(".,;:") for m in VARIABLE_PATH.finditer(text)}
    return {p for p in found if "..." not in p and "*" not in p and not p.endswith("/")}


def test_cited_paths_sees_the_commands():
    paths = cited_paths((REPO / "SKILL.md").read_text(encoding="utf-8"))
    assert {"scripts/resolve_docs.py", "scripts/search_source.py", "scripts/fetch_tree.py",
            "references/doc_map.md"} <= paths
    assert cited_paths("`${CLAUDE_SKILL_DIR}/examples/x.py` and scripts/... and src/scvi/a.py") \
        == {"examples/x.py"}


def _personal(tmp_path: Path) -> Path:
    assert install_skill.main([]) == 0
    return tmp_path / "home" / ".claude" / "skills" / NAME


def _project(tmp_path: Path) -> Path:
    (tmp_path / "proj").mkdir()
    assert install_skill.main(["--project", str(tmp_path / "proj")]) == 0
    return tmp_path / "proj" / ".claude" / "skills" / NAME


def _zip(tmp_path: Path) -> Path:
    bundle = tmp_path / "skill.zip"
    assert install_skill.main(["--zip", str(bundle)]) == 0
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "unzipped")
    return tmp_path / "unzipped" / NAME


def _plugin(tmp_path: Path) -> Path:
    """The files a clone of this working tree holds (tracked and new, not ignored)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode()
    clone = tmp_path / "clone"
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / rel, clone / rel)
    return clone


MODES = {"personal": _personal, "project": _project, "zip": _zip, "plugin": _plugin}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_cited_path_exists_in_the_installed_copy(mode, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    root = MODES[mode](tmp_path)
    skill = (root / "SKILL.md").read_text(encoding="utf-8")
    assert skill == (REPO / "SKILL.md").read_text(encoding="utf-8")
    texts = [skill]
    if mode == "plugin":
        texts += [p.read_text(encoding="utf-8") for p in sorted((root / "commands").glob("*.md"))]
    cited = set().union(*(cited_paths(t) for t in texts))
    missing = sorted(p for p in cited if not (root / p).exists())
    assert missing == [], f"{mode} install lacks {missing}"

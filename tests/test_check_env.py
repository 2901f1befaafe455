"""check_env.py: the user's interpreter is probed in a subprocess, never imported here."""

from __future__ import annotations

import json
import os
import stat
import sys

import check_env
import pytest

from scvi_skill.runtime import PINNED_SCVI_TOOLS
from scvi_skill.runtime.envprobe import PACKAGES


def run(capsys, argv):
    code = check_env.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # imports torch in the probed interpreter (several seconds)
def test_reports_this_venv(capsys):
    code, out, err = run(capsys, ["--python", sys.executable, "--json"])
    report = json.loads(out)
    assert set(report) >= {"python", "packages", "cuda"}
    assert set(report["packages"]) == set(PACKAGES)
    assert report["python"]["version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert set(report["cuda"]) >= {"available", "devices", "version"}
    version = report["packages"]["scvi-tools"]
    assert code == (0 if version else 1)
    if version == PINNED_SCVI_TOOLS:
        assert report["next"] == []


def test_other_version_gives_next_commands():
    steps = check_env.next_steps("1.3.2", "python3")
    assert any("fetch_tree.py" in s and "--version 1.3.2" in s for s in steps)
    assert any("check_code.py" in s and "--version 1.3.2" in s for s in steps)


@pytest.mark.skipif(os.name != "posix", reason="a shell-script interpreter wrapper")
def test_python_without_scvi_tools_names_the_interpreter(capsys, tmp_path):
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S -I "$@"\n', encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    code, out, err = run(capsys, ["--python", str(fake)])
    assert code == 1 and "scvi-tools" in out and "not installed" in err


def test_missing_or_broken_interpreter_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, ["--python", "no-such-python-3.99"])
    assert code == 2 and "no-such-python-3.99" in err and "Traceback" not in err
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    code, out, err = run(capsys, ["--python", str(broken)])
    assert code == 2 and str(broken) in err
    code, out, err = run(capsys, ["--python", str(tmp_path)])  # a folder without bin/python
    assert code == 2 and "bin/python" in err

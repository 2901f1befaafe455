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


@pytest.mark.skipif(os.name != "posix", reason="shell-script interpreter wrappers")
@pytest.mark.parametrize("script, said", [
    ('printf "Pr\\374fung\\n" >&2\necho "{}"\n', "failed to run the probe"),  # not UTF-8
    ('echo "{}"\n', "failed to run the probe"),  # JSON of another shape
    ("echo '{\"python\": {}, \"packages\": [1], \"cuda\": {}}'\n", "failed to run the probe"),
])
def test_an_interpreter_that_answers_something_else_exits_2(capsys, tmp_path, script, said):
    wrapper = tmp_path / "python"
    wrapper.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    code, out, err = run(capsys, ["--python", str(wrapper)])
    assert code == 2 and said in err and "Traceback" not in err and err.count("Error:") == 1


def test_an_empty_or_too_long_python_is_a_usage_error(capsys):
    code, out, err = run(capsys, ["--python", ""])
    assert code == 2 and "empty" in err
    code, out, err = run(capsys, ["--python", "a" * 300])
    assert code == 2 and "Traceback" not in err and err.count("Error:") == 1


def _report(python: str, packages: dict) -> dict:
    return {"python": {"path": "/env/bin/python", "version": python},
            "packages": dict.fromkeys(PACKAGES) | packages, "cuda": {}, "mps": False,
            "pinned": PINNED_SCVI_TOOLS, "next": []}


def test_installed_packages_a_release_rules_out_are_reported(capsys):
    """scvi-tools 1.3.3's sdist requires anndata>=0.11 (its PKG-INFO, in the manifest)."""
    from scvi_skill.runtime.apifiles import load_releases

    wanted = load_releases().requires["1.3.3"]["anndata"]
    report = _report("3.10.4", {"scvi-tools": "1.3.3", "anndata": "0.10.9", "torch": "2.5.1"})
    check_env._add_requirements(report, "1.3.3")
    assert report["requirements"]["known"] is True
    assert report["requirements"]["packages"] == [
        {"package": "anndata", "installed": "0.10.9", "required": wanted}]
    assert report["requirements"]["python"] == ""
    text = check_env._text(report)
    assert f"scvi-tools 1.3.3 requires anndata{wanted}; installed: 0.10.9" in text


def test_a_python_the_release_does_not_declare_is_reported():
    from scvi_skill.runtime.apifiles import load_releases

    spec = load_releases().requires_python[PINNED_SCVI_TOOLS]
    report = _report("3.9.18", {"scvi-tools": PINNED_SCVI_TOOLS})
    check_env._add_requirements(report, PINNED_SCVI_TOOLS)
    assert report["requirements"]["python"] == spec
    assert f"declares Python {spec}; this is 3.9.18" in check_env._text(report)
    report = _report("3.12.1", {"scvi-tools": PINNED_SCVI_TOOLS, "anndata": "0.12.0"})
    check_env._add_requirements(report, PINNED_SCVI_TOOLS)
    assert report["requirements"] == {"python": "", "packages": [], "known": True}


def test_without_scvi_tools_the_releases_that_declare_that_python_are_named():
    report = _report("3.9.18", {})
    check_env._add_requirements(report, None)
    assert report["python_fits"].startswith("Python 3.9: scvi-tools 1.0.0-")
    assert report["python_fits"] in check_env._text(report)


@pytest.mark.parametrize("spec, version, ok", [
    (">=0.11", "0.10.9", False), (">=0.11", "0.11.0", True), ("<2.1,>=2.0", "2.1.0", False),
    ("<2.1,>=2.0", "2.0.9", True), ("<2.0", "2.0.0+cu121", False), ("==1.2.*", "1.2.5", True),
    ("!=1.2.*", "1.2.5", False), ("~=1.2.0", "1.3.0", False), ("~=1.2", "1.3", True),
    ("", "9", True), (">=1.0; python_version < '3.10'", "0.1", True), (">=1", "dev", True),
])
def test_meets(spec, version, ok):
    from scvi_skill.runtime.requirements import meets

    assert meets(spec, version) is ok


def _python_seeing(tmp_path, *folders) -> str:
    """An interpreter wrapper whose import path starts with ``folders`` (the probe strips
    PYTHONPATH, so the wrapper puts them there itself)."""
    fake = tmp_path / "python"
    paths = ", ".join(repr(str(f)) for f in folders)
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S -I -c "import sys; '
                    f'sys.path[:0] = [{paths}]; exec(sys.argv[2])" "$@"\n', encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return str(fake)


def _dist_info(site, version: str) -> None:
    dist = site / f"scvi_tools-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: scvi-tools\nVersion: {version}\n")


@pytest.mark.skipif(os.name != "posix", reason="a shell-script interpreter wrapper")
def test_the_installed_package_folder_is_reported_and_resolve_docs_reads_it(
        capsys, tmp_path, pinned_tree, monkeypatch):
    """check_env.py names the folder holding the user's scvi package (found without importing
    it) and, for another release, the resolve_docs.py --tree command that reads it; that
    command reads the source facts there."""
    import shlex
    import shutil

    import resolve_docs

    site = tmp_path / "site-packages"
    shutil.copytree(pinned_tree.root / "src" / "scvi", site / "scvi")
    (site / "scvi" / "__init__.py").write_text("raise SystemExit('scvi was imported')\n")
    _dist_info(site, "1.2.0")
    code, out, err = run(capsys, ["--python", _python_seeing(tmp_path, site), "--json"])
    report = json.loads(out)
    assert code == 0 and report["packages"]["scvi-tools"] == "1.2.0"
    assert report["scvi_site"] == str(site.resolve())
    first = report["next"][0]
    assert f"resolve_docs.py --tree {site.resolve()} QUESTION" in first
    assert any("fetch_tree.py --version 1.2.0" in s for s in report["next"][1:])
    code, text, _ = run(capsys, ["--python", _python_seeing(tmp_path, site)])
    assert f"            in {site.resolve()}" in text.splitlines()
    (site / "scvi" / "__init__.py").write_text("")
    argv = shlex.split(first.split("   (", 1)[0])
    tree = argv[argv.index("--tree") + 1]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / pinned_tree.root.name).symlink_to(pinned_tree.root)
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(cache))
    assert resolve_docs.main(["--json", "--tree", tree, "how do I set early stopping patience"]) == 0
    notes = json.loads(capsys.readouterr().out)["pack"]["notes"]
    assert any(n.startswith(f"(installed package) source facts and traceback frames: the "
                            f"scvi-tools 1.2.0 installed in {site.resolve()}, ") for n in notes)


@pytest.mark.skipif(os.name != "posix", reason="a shell-script interpreter wrapper")
def test_an_editable_install_of_a_checkout_reports_the_checkout(capsys, tmp_path):
    checkout = tmp_path / "scvi-tools"
    (checkout / "src" / "scvi").mkdir(parents=True)
    (checkout / "src" / "scvi" / "__init__.py").write_text("")
    (checkout / "docs").mkdir()
    site = tmp_path / "site-packages"
    _dist_info(site, PINNED_SCVI_TOOLS)
    code, out, _ = run(capsys, ["--python", _python_seeing(tmp_path, site, checkout / "src"),
                                "--json"])
    report = json.loads(out)
    assert code == 0 and report["scvi_site"] == str(checkout.resolve())
    assert report["next"] == []  # the pinned release: its cached tree has the same lines


@pytest.mark.skipif(os.name != "posix", reason="a shell-script interpreter wrapper")
def test_it_says_when_the_scripts_read_the_projects_package_by_themselves(
        capsys, tmp_path, pinned_tree, cache_with_pinned, monkeypatch):
    """Run in the project whose .venv holds the interpreter's scvi-tools 1.2.0, the report
    says the scripts read it unasked (read_unasked, and a line over the commands); from
    another folder, or with the project detection off, it does not."""
    import shutil

    project = tmp_path / "proj"
    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    shutil.copytree(pinned_tree.root / "src" / "scvi", site / "scvi")
    _dist_info(site, "1.2.0")
    python = _python_seeing(tmp_path, site)
    monkeypatch.delenv("SCVI_SKILL_NO_PROJECT")
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(project)
    code, out, _ = run(capsys, ["--python", python, "--json"])
    assert code == 0 and json.loads(out)["read_unasked"] is True
    _, text, _ = run(capsys, ["--python", python])
    assert "(run in this folder, resolve_docs.py, search_source.py and check_code.py read it " \
           "unasked;" in text
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, ["--python", python, "--json"])
    assert json.loads(out)["read_unasked"] is False
    monkeypatch.chdir(project)
    monkeypatch.setenv("SCVI_SKILL_NO_PROJECT", "1")
    _, out, _ = run(capsys, ["--python", python, "--json"])
    assert json.loads(out)["read_unasked"] is False

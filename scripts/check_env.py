#!/usr/bin/env python3
"""Report which scvi-tools, torch, lightning, anndata, mudata and jax a Python runs, and CUDA.

Runs the given interpreter (the user's project venv or conda env, not this one) in a
subprocess that reads installed versions with importlib.metadata (scvi is never imported)
and asks torch about CUDA. When its scvi-tools differs from the version the skill's maps
describe, it prints the commands for that version's source tree and API check. It compares
the Python and the installed packages with what that scvi-tools release's sdist declares it
needs (Requires-Python, Requires-Dist; the skill's API manifest, 1.0.0 on), and without
scvi-tools says which releases declare that Python.

Usage:
  python3 scripts/check_env.py                              # python3 on PATH
  python3 scripts/check_env.py --python .venv/bin/python    # the project's interpreter
  python3 scripts/check_env.py --python "$CONDA_PREFIX" --json

JSON: {"python": {"path", "version"}, "packages": {name: version or null},
       "cuda": {"available", "devices", "version"}, "mps", "pinned", "next": [commands],
       "scvi_site": the folder holding the installed scvi package (a --tree), or null,
       "read_unasked": whether the scripts run in this folder read that package by themselves
       (the project's .venv, venv, $VIRTUAL_ENV or $CONDA_PREFIX; another release than pinned),
       "requirements": {"known", "python": unmet Requires-Python or "",
                        "packages": [{"package", "installed", "required"}]}   (with scvi-tools)
       "python_fits": line or ""}   (without scvi-tools: the releases declaring that Python)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime import PINNED_SCVI_TOOLS  # noqa: E402
from scvi_skill.runtime.envprobe import probe  # noqa: E402
from scvi_skill.runtime.errors import SkillPackageError, print_error  # noqa: E402
from scvi_skill.runtime.paths import script_command, shell_word  # noqa: E402

EPILOG = """\
exit codes:
  0  report printed; scvi-tools is installed in that Python
  1  report printed; scvi-tools is not installed in that Python
  2  usage error, or the interpreter cannot be found or started
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="check_env.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="python3", metavar="PY",
                        help="the user's interpreter: a path, a command on PATH, or a venv/"
                             "conda folder (default: python3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: text)")
    return parser


def next_steps(version: str | None, python: str, site: str | None = None) -> list[str]:
    """Commands for the agent when the user's scvi-tools is not the pinned one; ``site``, the
    folder of the installed package (its source, read where it is: no download)."""
    if version is None:
        return [f"{shell_word(python)} -m pip install scvi-tools   (or the project's own "
                "installer), then rerun check_env.py"]
    if version == PINNED_SCVI_TOOLS:
        return []
    word = shell_word(version)
    own = [f"{script_command('resolve_docs.py')} --tree {shell_word(site)} QUESTION   (its own "
           "source as installed; search_source.py takes the same --tree)"] if site else []
    return own + [f"{script_command('fetch_tree.py')} --version {word}" + (
                      "   (docs, CHANGELOG and tests too)" if site else ""),
                  f"{script_command('check_code.py')} --version {word} FILE.py"]


def _read_unasked(version: str | None, site: str | None) -> bool:
    """Whether the scripts, run in the working folder, read this interpreter's scvi package
    unasked (:func:`.tree.project_release`: the project's .venv, $VIRTUAL_ENV, ...)."""
    if not version or not site or version == PINNED_SCVI_TOOLS:
        return False
    from scvi_skill.runtime.tree import project_release

    found = project_release()
    try:
        return found is not None and Path(found.root).resolve() == Path(site).resolve()
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = probe(args.python)
    except SkillPackageError as err:
        print_error(err)
        return err.exit_code
    version = report["packages"].get("scvi-tools")
    report["pinned"] = PINNED_SCVI_TOOLS
    report["next"] = next_steps(version, report["python"]["path"], report.get("scvi_site"))
    report["read_unasked"] = _read_unasked(version, report.get("scvi_site"))
    _add_requirements(report, version)
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(_text(report))
    if version is None:
        print(f"Error: scvi-tools is not installed in {report['python']['path']}",
              file=sys.stderr)
        return 1
    return 0


def _add_requirements(report: dict, version: str | None) -> None:
    """``requirements`` (what the installed scvi-tools release declares it needs that this
    environment lacks) or, without scvi-tools, ``python_fits``."""
    from scvi_skill.runtime.apifiles import load_releases
    from scvi_skill.runtime.errors import IndexStale
    from scvi_skill.runtime.requirements import python_fit, unmet

    python = str(report["python"].get("version") or "")
    if version:
        others = {k: v for k, v in report["packages"].items() if k != "scvi-tools"}
        report["requirements"] = unmet(version, python, others)
        return
    minor = ".".join(python.split(".")[:2])
    try:
        report["python_fits"] = python_fit(minor, load_releases()) if minor else ""
    except IndexStale:
        report["python_fits"] = ""


def _text(report: dict) -> str:
    python = report["python"]
    lines = [f"python      {python['version']}  ({python['path']})"]
    for name, version in report["packages"].items():
        lines.append(f"{name:<11} {version or 'not installed'}")
        if name == "scvi-tools" and version and report.get("scvi_site"):
            lines.append(f"{'':<11} in {report['scvi_site']}")
    cuda = report["cuda"]
    if cuda.get("available"):
        lines.append(f"cuda        {cuda.get('version')}: {', '.join(cuda['devices'])}")
    else:
        lines.append(f"cuda        not available (torch built for CUDA {cuda.get('version')})"
                     if cuda.get("version") else "cuda        not available")
    if report.get("mps"):
        lines.append("mps         available (Apple silicon)")
    version = report["packages"].get("scvi-tools")
    needs = report.get("requirements") or {}
    unmet = [f"scvi-tools {version} declares Python {needs['python']}; this is "
             f"{python['version']} (its sdist's Requires-Python)"] if needs.get("python") else []
    unmet += [f"scvi-tools {version} requires {row['package']}{row['required']}; installed: "
              f"{row['installed']} (its sdist's Requires-Dist)"
              for row in needs.get("packages") or []]
    if report.get("python_fits"):
        unmet.append(report["python_fits"])
    if unmet:
        lines.extend(["", *unmet])
    if version and version != report["pinned"]:
        lines.append(f"\nscvi-tools {version} is not {report['pinned']}, the version the maps "
                     "describe: answer from its own tree and check code against its API:")
        if report.get("read_unasked"):
            lines.append("  (run in this folder, resolve_docs.py, search_source.py and "
                         "check_code.py read it unasked; the commands below name it anywhere)")
    lines.extend(f"  {command}" for command in report["next"])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

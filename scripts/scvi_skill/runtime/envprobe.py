"""Which scvi-tools (and torch, lightning, anndata, mudata, jax, CUDA) a user's Python runs.

The user's interpreter (a path, a command on PATH, or a venv/conda folder) runs a small probe
in a subprocess: package versions come from ``importlib.metadata`` (scvi is never imported);
CUDA facts from ``torch`` when it is installed; ``scvi_site``, the folder that holds the
installed ``scvi`` package (``importlib.util.find_spec``, which finds it without running
it; an editable install of a checkout gives the checkout), a tree the other scripts'
``--tree`` reads. This process imports nothing of theirs.

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from .errors import SkillPackageError, UsageError

PACKAGES = ("scvi-tools", "torch", "lightning", "anndata", "mudata", "jax")
PROBE_TIMEOUT_S = 120
"""Importing torch to ask about CUDA can take tens of seconds on a cold disk."""
PROBE = r"""
import json, sys
from importlib import metadata
packages = {}
for name in %(packages)r:
    try:
        packages[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        packages[name] = None
cuda = {"available": False, "devices": [], "version": None}
mps = False
if packages["torch"]:
    try:
        import torch
        cuda["version"] = torch.version.cuda
        if torch.cuda.is_available():
            cuda["available"] = True
            cuda["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        backend = getattr(torch.backends, "mps", None)
        mps = bool(backend and backend.is_available())
    except Exception as err:
        cuda["error"] = f"{type(err).__name__}: {err}"[:300]
scvi_site = None
if packages["scvi-tools"]:
    try:  # where the scvi package is, without importing it
        import importlib.util, os
        spec = importlib.util.find_spec("scvi")
        places = list(spec.submodule_search_locations or []) if spec else []
        if places:
            scvi_site = os.path.dirname(os.path.realpath(places[0]))
            top = os.path.dirname(scvi_site)
            if os.path.basename(scvi_site) == "src" and os.path.isdir(os.path.join(top, "docs")):
                scvi_site = top  # an editable install of a checkout: the whole tree
    except Exception:
        scvi_site = None
print(json.dumps({"python": {"path": sys.executable, "version": sys.version.split()[0]},
                  "packages": packages, "cuda": cuda, "mps": mps, "scvi_site": scvi_site}))
"""


MAX_PROBE_OUTPUT = 1 << 20
"""The most the probe may print on stdout and stderr together (its answer is one line)."""


class _Flood(Exception):
    """The interpreter printed more than :data:`MAX_PROBE_OUTPUT`."""


def _run_bounded(cmd: list[str], cwd: str, env: dict) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``cmd``, killed after :data:`PROBE_TIMEOUT_S`
    (``TimeoutExpired``) or once it has printed :data:`MAX_PROBE_OUTPUT` bytes
    (:class:`_Flood`): ``capture_output`` would keep all of an endless output in memory."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    total = [0]
    lock = threading.Lock()

    def drain(stream, name: str) -> None:
        for block in iter(lambda: stream.read1(1 << 16), b""):
            with lock:
                total[0] += len(block)
                if total[0] > MAX_PROBE_OUTPUT:
                    proc.kill()
                    return
                chunks[name].append(block)

    readers = [threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    if total[0] > MAX_PROBE_OUTPUT:
        raise _Flood()
    text = {k: b"".join(v).decode("utf-8", "replace") for k, v in chunks.items()}
    return proc.returncode, text["out"], text["err"]


class PythonUnusable(SkillPackageError):
    """The interpreter given cannot be run (exit 2: fix the --python argument)."""

    exit_code = 2


def resolve_python(python: str) -> str:
    """An executable path for ``python``: a file, a command on PATH, or a venv/conda folder
    (``bin/python``, or ``python.exe`` / ``Scripts/python.exe`` on Windows)."""
    if not python.strip():
        raise UsageError("--python needs an interpreter, got an empty string",
                         hint="Pass the project's Python, e.g. --python .venv/bin/python")
    candidate = Path(python).expanduser()
    try:
        is_dir, is_file = candidate.is_dir(), candidate.is_file()
    except OSError as err:  # a name too long for the filesystem, say
        raise PythonUnusable(f"cannot use {python[:80]!r} as a Python interpreter: "
                             f"{err.strerror or err}") from err
    if is_dir:
        for rel in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe"):
            if (candidate / rel).is_file():
                return str(candidate / rel)
        raise UsageError(f"{candidate} is a folder without bin/python: not a virtual "
                         "environment or conda environment",
                         hint="Pass the interpreter itself, e.g. --python .venv/bin/python")
    if is_file:
        return str(candidate)
    found = shutil.which(python)
    if found is None:
        raise PythonUnusable(f"Python interpreter {python!r} not found",
                             hint="Pass the path of the project's Python, e.g. "
                                  "--python .venv/bin/python or --python $CONDA_PREFIX")
    return found


def probe(python: str) -> dict:
    """The environment report of one interpreter (see the module docstring)."""
    exe = resolve_python(python)
    code = PROBE % {"packages": PACKAGES}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        # In an empty folder: ``python -c`` puts its working folder first on the import path,
        # where a json.py of the user's project would run instead of the standard module.
        with tempfile.TemporaryDirectory(prefix="scvi-skill-probe-") as empty:
            returncode, stdout, stderr = _run_bounded([os.path.abspath(exe), "-c", code],
                                                      empty, env)
    except OSError as err:
        raise PythonUnusable(f"cannot start Python interpreter {exe}: {err.strerror or err}",
                             hint="Pass a working interpreter with --python") from err
    except subprocess.TimeoutExpired as err:
        raise PythonUnusable(f"Python interpreter {exe} did not answer within "
                             f"{PROBE_TIMEOUT_S} s") from err
    except _Flood as err:
        raise PythonUnusable(f"Python interpreter {exe} printed more than {MAX_PROBE_OUTPUT} "
                             "bytes instead of the probe's one line: not a Python interpreter?",
                             hint="Pass the project's Python, e.g. --python .venv/bin/python"
                             ) from err
    lines = stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if returncode != 0 or not _well_formed(report):
        detail = (stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise PythonUnusable(f"Python interpreter {exe} failed to run the probe "
                             f"(exit {returncode}): {detail}",
                             hint="scripts need Python >= 3.8 in the user's environment")
    return report


def _well_formed(report) -> bool:
    """Whether the probe's answer has the shape it prints (a wrapper may print other JSON)."""
    return isinstance(report, dict) and isinstance(report.get("python"), dict) \
        and isinstance(report.get("packages"), dict) and isinstance(report.get("cuda"), dict) \
        and all(v is None or isinstance(v, str) for v in report["packages"].values()) \
        and (report.get("scvi_site") is None or isinstance(report["scvi_site"], str))

"""What each scvi-tools release needs to run, as its sdist declares it (the API manifest's
``requires_python`` and ``requires``: ``Requires-Python`` and ``Requires-Dist``), and the
checks on it: which releases a Python version or a package version the question names fits
(the pack's release-history lines), and which installed packages a release's requirements
rule out (``check_env.py``). Version specifiers are read for the comparisons sdists use
(``>=``, ``<``, ``==3.9.*``, ``~=``, ``!=``); a clause this module cannot read rules nothing
out. Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import functools
import re

from .errors import IndexStale
from .history import index_spans, span_text
from .text import clip


_PYTHON_VERSION = re.compile(r"\bpython\s*(?:version\s*)?(?:[=v]=?\s*)?(3\.\d{1,2})(?:\.\d+)?(?![\d.])",
                             re.I)
"""A Python version the question names: "Python 3.9", "python=3.9", "python3.10.4"."""
MAX_PYTHONS = 2


def python_facts(question: str) -> list[str]:
    """For each Python version the question names (at most :data:`MAX_PYTHONS`), the releases
    whose sdist declares that they run on it (``Requires-Python``, in the API manifest), and
    what each later run of releases requires: "Python 3.9: scvi-tools 1.0.0-1.1.6.post2
    declare it; 1.2.0-1.3.3 require >=3.10, 1.4.0-1.4.2 require >=3.11, 1.4.3-1.5.1 require
    >=3.12". The manifest is read only for such a question."""
    wanted = list(dict.fromkeys(m.group(1) for m in _PYTHON_VERSION.finditer(question)))
    if not wanted:
        return []
    from .apifiles import load_releases

    try:
        releases = load_releases()
    except IndexStale:
        return []
    lines = [python_fit(python, releases) for python in wanted[:MAX_PYTHONS]]
    return [line for line in lines if line]


def python_fit(python: str, releases) -> str:
    """The line of :func:`python_facts` for one Python version ("3.9"): the releases whose
    sdist declares it, what each later run of releases requires; ``""`` when the manifest
    has no ``requires_python``."""
    versions, specs = releases.versions, releases.requires_python
    known = [n for n, v in enumerate(versions) if specs.get(v)]
    if not known:
        return ""
    ok = [n for n in known if python_allowed(specs[versions[n]], python)]
    first, last = versions[known[0]], versions[known[-1]]
    if not ok:
        return (f"Python {python}: no scvi-tools release {first}-{last} declares it "
                f"(requires-python: {first} {specs[first]}, {last} {specs[last]}; "
                f"releases before {first} are not in the manifest)")
    text = f"Python {python}: scvi-tools {span_text(index_spans(ok), versions)} declare it"
    later = [(spec, start, end) for spec, start, end in requirement_runs("python", releases)
             if versions.index(start) > ok[-1]]
    if later:
        # every later requirement, not the next alone: "1.2.0 on require >=3.10" read as
        # 1.5.1's requirement sent an agent to Python 3.10 for 1.5.1 (trial round 65)
        text += "; " + ", ".join(f"{start if start == end else f'{start}-{end}'} require {spec}"
                                 for spec, start, end in later)
    before = next((n for n in reversed(known) if n < ok[0]), None)
    if before is not None:
        text += f"; {versions[before]} required {specs[versions[before]]}"
    earlier = f"; releases before {first} are not in the manifest" if ok[0] == known[0] else ""
    return text + f" (requires-python of each release's sdist{earlier})"


DEPENDENCY_ALIASES = {"pytorch": "torch", "PyTorch": "torch", "JAX": "jax", "NumPy": "numpy",
                      "pytorch-lightning": "lightning", "pytorch_lightning": "lightning",
                      "sklearn": "scikit-learn", "pyro": "pyro-ppl"}
"""Other spellings of a requirement; otherwise a name counts only as written, in lower case
(``anndata`` the package, not ``AnnData`` the object)."""
_VERSION_CONTEXT = re.compile(
    r"\b\d+\.\d+|version|upgrad|downgrad|install|compatib|requir|\bpin|No module named|"
    r"ImportError|ModuleNotFoundError|cannot import|has no attribute", re.I)
"""What makes a dependency's name in the question a question about its version."""
_NOT_NAMES = frozenset({"scvi-tools", "rich", "sparse"})
"""Requirements whose name is an everyday word of questions ("a sparse matrix")."""
MAX_DEPENDENCIES = 2
MAX_DEPENDENCY_CHARS = 240


def about_versions(question: str) -> bool:
    """Whether ``question`` is about versions, installs or imports (:data:`_VERSION_CONTEXT`):
    only then does a package it names ask for that package's requirement."""
    return _VERSION_CONTEXT.search(question) is not None


def named_requirements(question: str) -> list[str]:
    """The words of ``question`` that may name a requirement, as the manifest and
    ``pyproject.toml`` spell them (:func:`requirement_name`), in order, once each: a word
    written in lower case (``anndata`` the package, not ``AnnData`` the object) or another
    spelling of one (:data:`DEPENDENCY_ALIASES`); never an everyday word (:data:`_NOT_NAMES`)."""
    words = re.findall(r"(?<![\w-])[A-Za-z][\w-]*", question)
    named = (requirement_name(DEPENDENCY_ALIASES.get(w, w)) for w in words
             if w == w.lower() or w in DEPENDENCY_ALIASES)
    return [n for n in dict.fromkeys(named) if n not in _NOT_NAMES]


def dependency_facts(question: str) -> list[str]:
    """For each package scvi-tools needs that the question names (at most
    :data:`MAX_DEPENDENCIES`, only in a question about versions, installs or imports), the
    version each release requires, when releases differ: "anndata: >=0.7.5 in scvi-tools
    1.0.0-1.1.6.post2; >=0.11 in 1.2.0-1.3.3; any in 1.4.0-1.5.1". From each sdist's
    ``Requires-Dist`` (the API manifest, read only for such a question)."""
    if not about_versions(question):
        return []
    named = named_requirements(question)
    if not named:
        return []
    from .apifiles import load_releases

    try:
        releases = load_releases()
    except IndexStale:
        return []
    known = required_names(releases)
    lines = []
    for name in (n for n in named if n in known):
        runs = requirement_runs(name, releases)
        if len(runs) < 2:
            continue  # the same in every release: nothing to date
        parts = [run_text(run) for run in runs]
        text = f"{name}: " + "; ".join(parts).replace(" in ", " in scvi-tools ", 1)
        if len(text) > MAX_DEPENDENCY_CHARS:  # the latest releases matter most
            text = f"{name}: ...; " + "; ".join(parts[-3:])
        lines.append(text + " (Requires-Dist of each release's sdist)")
        if len(lines) >= MAX_DEPENDENCIES:
            break
    return lines


MAX_PYPROJECT_LINES = 3
MAX_PYPROJECT_CHARS = 160
_REQUIREMENT = re.compile(r"""["']([A-Za-z0-9][A-Za-z0-9._-]*)""")
_TABLE_KEY = re.compile(r"^\s*((?:optional-)?dependencies(?:\.[\w-]+)?)\s*=\s*\[")
_NOT_PYPROJECT_NAMES = frozenset({"requests"})
"""Requirements of the file's lists that are everyday words of questions too."""
_PYPROJECT_PYTHON = re.compile(r"^\s*requires-python\s*=")


def pyproject_lines(question: str, lines: list[str]) -> list[tuple[int, str]]:
    """``(line, text)`` of the tree's ``pyproject.toml`` (``lines``) that answer a question
    about versions, installs or imports: its ``requires-python`` line when the question names
    a Python version, and the requirement line of each package the question names that the
    file lists (``"mudata",`` of ``dependencies``, an extra's one-line list), at most
    :data:`MAX_PYPROJECT_LINES`, in file order. The text is the line as written, stripped
    and cut to :data:`MAX_PYPROJECT_CHARS`."""
    if not lines or not about_versions(question):
        return []
    named = set(named_requirements(question)) - _NOT_PYPROJECT_NAMES
    wants_python = _PYTHON_VERSION.search(question) is not None
    found: list[tuple[int, str]] = []
    in_list = False
    for n, text in enumerate(lines, 1):
        table = _TABLE_KEY.match(text)
        if table:
            in_list = "]" not in text[table.end():]
        if wants_python and _PYPROJECT_PYTHON.match(text):
            found.append((n, text))
            continue
        if table or in_list:
            body = text[table.end():] if table else text
            if any(requirement_name(m) in named for m in _REQUIREMENT.findall(body)):
                found.append((n, text))
            if in_list and not table and "]" in text:
                in_list = False
    return [(n, clip(text.strip(), MAX_PYPROJECT_CHARS)) for n, text in found[:MAX_PYPROJECT_LINES]]


def requirement_name(name: str) -> str:
    """A package name as the manifest keeps it (PEP 503: lower case, ``-`` for runs of
    ``-_.``): ``pyro_ppl`` -> ``pyro-ppl``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def required_names(releases) -> set[str]:
    """The packages any release of the manifest requires."""
    return {name for row in releases.requires.values() for name in row}


def requirement_runs(name: str, releases) -> list[list]:
    """``[[spec, first, last], ...]``: the runs of releases (oldest first) that require
    package ``name`` (``"python"``: Python itself) with one specifier (``None``: not
    required, ``""``: any version)."""
    table = {v: {"python": s} for v, s in releases.requires_python.items() if s} \
        if name == "python" else releases.requires
    runs: list[list] = []
    for version in (v for v in releases.versions if table.get(v)):
        spec = table[version].get(name)
        if runs and runs[-1][0] == spec:
            runs[-1][2] = version
        else:
            runs.append([spec, version, version])
    return runs


def run_text(run: list) -> str:
    """``">=0.11 in 1.2.2-1.4.1"`` of a run of :func:`requirement_runs`."""
    spec, first, last = run
    return ("not required" if spec is None else spec or "any") + " in " \
        + (first if first == last else f"{first}-{last}")


_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*([\d.*]+)\s*$")


def python_allowed(spec: str, python: str) -> bool:
    """Whether some Python ``python`` ("3.9": any 3.9.x) meets ``spec`` (">=3.9,<3.13"), for the
    comparisons sdists use; an unreadable clause rules nothing out."""
    minor = tuple(int(x) for x in python.split("."))
    return _range_meets(spec, minor + (0,), minor + (10**6,), fixed=len(minor))


def _release_tuple(version: str) -> tuple[int, ...] | None:
    """``(2, 1, 0)`` of ``"2.1.0+cu121"`` or ``"0.11.0rc1"`` (local and pre-release parts
    dropped); ``None`` when it does not start with a number."""
    m = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(x) for x in m.group(0).split(".")) if m else None


def meets(spec: str, version: str) -> bool:
    """Whether an installed ``version`` ("0.10.9") meets ``spec`` (">=0.11", "<2.1,>=2.0");
    a specifier with an environment marker (``; python_version < '3.10'``), an unreadable
    clause or an unreadable version rules nothing out."""
    have = _release_tuple(version)
    if have is None or ";" in spec:
        return True
    return _range_meets(spec, have, have, fixed=len(have))


def _range_meets(spec: str, low: tuple, high: tuple, *, fixed: int) -> bool:
    """Whether the versions from ``low`` to ``high`` (equal for one version; for "Python 3.9",
    3.9.0 to the last 3.9.x, whose first ``fixed`` parts are fixed) are not ruled out by any
    clause of ``spec``, each clause checked alone."""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = _CLAUSE.match(clause)
        if not m:
            continue
        op, raw = m.groups()
        if raw.endswith(".*"):
            prefix = tuple(int(x) for x in raw[:-2].split("."))
            n = min(len(prefix), fixed)
            inside = low[:n] == prefix[:n]
            if op == "==" and not inside or op == "!=" and inside and len(prefix) <= fixed:
                return False
            continue
        bound = _release_tuple(raw)
        if bound is None:
            continue
        width = max(len(low), len(bound))
        lo, hi, b = (x + (0,) * (width - len(x)) for x in (low, high, bound))
        if op in (">=", "~=") and hi < b or op == ">" and hi <= b or op == "<=" and lo > b \
                or op == "<" and lo >= b or op in ("==", "===") and not lo <= b <= hi \
                or op == "!=" and lo == hi == b:
            return False
        n = min(len(bound) - 1, fixed)
        if op == "~=" and low[:n] != bound[:n]:
            return False
    return True


def unmet(scvi_version: str, python: str, installed: dict[str, str | None]) -> dict:
    """What release ``scvi_version`` declares it needs that this environment does not have:
    ``{"python": spec or "", "packages": [{"package", "installed", "required"}],
    "known": bool}`` (``known``: the manifest has that release's requirements). Only
    installed packages are compared: a missing one is the installer's business."""
    from .apifiles import load_releases

    try:
        releases = load_releases()
    except IndexStale:
        return {"python": "", "packages": [], "known": False}
    requires = releases.requires.get(scvi_version)
    spec = releases.requires_python.get(scvi_version, "")
    minor = ".".join(python.split(".")[:2])
    out = {"python": spec if spec and minor and not python_allowed(spec, minor) else "",
           "packages": [], "known": requires is not None}
    for name, version in installed.items():
        wanted = (requires or {}).get(name)
        if version and wanted and not meets(wanted, version):
            out["packages"].append({"package": name, "installed": version, "required": wanted})
    return out


_PACKAGE_BEFORE = re.compile(r"([A-Za-z][\w.-]*)\s*(?:[=<>!~]=?=?)?\s*v?$")


@functools.cache
def _other_packages() -> frozenset[str]:
    """The packages some release requires (the API manifest's ``Requires-Dist`` names),
    Python and CUDA; read once, on first use."""
    from .apifiles import load_releases

    try:
        names = required_names(load_releases())
    except (IndexStale, OSError, ValueError):
        names = set()
    return frozenset((names | {"python", "cuda", "cudnn"}) - {"scvi-tools"})


def of_other_package(before: str) -> bool:
    """Whether the text just before a version number is a package scvi-tools requires in any
    release (the API manifest's ``Requires-Dist`` names), Python or CUDA."""
    match = _PACKAGE_BEFORE.search(before)
    if not match:
        return False
    word = match.group(1)
    return requirement_name(DEPENDENCY_ALIASES.get(word, word)) in _other_packages()

"""Load and check ``references/pitfalls.yaml``: the hand-curated pitfalls the pack adds.

Each entry has :data:`KEYS`: ``id``, ``applies_to`` (model class names or ``[all]``),
``triggers``, ``claim``, ``fix``, ``evidence`` (``{path, line, token}``) and ``proof`` (a pytest
node id under ``tests/``), and may have ``calls``. :func:`load_pitfalls` also derives ``text``
(claim, then fix), the one line the pack shows. :func:`call_patterns` gives the calls that bring
the pitfall to code making one (``check_code.py``), which the refresh writes to the index.

Every pitfall cites its evidence as a path, a line and a token that must be on that line of
the tree; :func:`check_pitfalls` lists every entry whose token is not there, so a release
that moves or changes the code fails the refresh (and check_skill) instead of shipping a stale
claim. :func:`check_proofs` lists every entry whose proof test does not exist.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from scvi_skill.runtime.errors import SkillPackageError

KEYS = {"id", "applies_to", "triggers", "claim", "fix", "evidence", "proof"}
OPTIONAL_KEYS = {"calls"}
"""``calls``: call patterns written as the claim writes calls (``TrainerConfig(max_epochs=)``,
``predict(new)``), in place of those read from the claim; ``[]`` for none."""

CALL = re.compile(r"([A-Za-z_][\w.]*)\(([^()]*)\)")
"""A call as a claim writes it: ``TrainerConfig(early_stopping=True)``, ``predict(new)``,
``train(plan_kwargs={"kl_weight": ...})`` (no nested parentheses)."""
_KEYWORD = re.compile(r"""(\w+)\s*=\s*("[^"]*"|'[^']*'|[^,]*)""")
_DICT_KEY = re.compile(r"""[{,]\s*["'](\w+)["']\s*[:,}]""")
_TOP_COMMA = re.compile(r",(?![^{\[]*[}\]])")
_LITERALS = ("True", "False", "None")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_FIX_LITERAL = re.compile(r"""\b(\w+)=(True|False|None|"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?(?:e-?\d+)?)""")
_ELLIPSES = ("...", "\u2026")
PROOF_PREFIX = "tests/"


class PitfallsError(SkillPackageError):
    """pitfalls.yaml is unreadable, malformed, or cites what the tree lacks (exit 1)."""


def load_pitfalls(path: Path) -> list[dict]:
    """The entries of ``path`` (an empty list when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise PitfallsError(f"pitfalls file unreadable: {path}: {err}") from err
    entries = data.get("pitfalls") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PitfallsError(f"{path} must be a mapping with a 'pitfalls' list")
    problems = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not KEYS <= set(entry) <= KEYS | OPTIONAL_KEYS:
            problems.append(f"entry {n}: keys must be {sorted(KEYS)}, and may be "
                            f"{sorted(OPTIONAL_KEYS)}")
            continue
        calls = entry.get("calls", [])
        if not (isinstance(calls, list) and all(
                isinstance(c, str) and CALL.fullmatch(c.strip()) and parse_call(c) for c in calls)):
            problems.append(f"{entry['id']}: calls must be a list of calls such as "
                            "'TrainerConfig(max_epochs=)' or 'predict(new)', each with a "
                            "keyword or an argument")
        evidence = entry["evidence"]
        if not (isinstance(evidence, dict) and set(evidence) == {"path", "line", "token"}
                and isinstance(evidence["line"], int)):
            problems.append(f"{entry['id']}: evidence must be {{path, line, token}}")
        for key in ("triggers", "applies_to"):
            if not isinstance(entry[key], list) or not entry[key]:
                problems.append(f"{entry['id']}: {key} must be a non-empty list")
        for key in ("claim", "fix"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                problems.append(f"{entry['id']}: {key} must be a non-empty string")
        proof = entry["proof"]
        if not (isinstance(proof, str) and proof.startswith(PROOF_PREFIX) and "::" in proof):
            problems.append(f"{entry['id']}: proof must be a pytest node id "
                            f"'{PROOF_PREFIX}FILE.py::test_name'")
        if entry["id"] in seen:
            problems.append(f"{entry['id']}: duplicate id")
        seen.add(entry["id"])
    if problems:
        raise PitfallsError(f"{len(problems)} problem(s) in {path}:\n  " + "\n  ".join(problems))
    for entry in entries:
        entry["text"] = pitfall_text(entry)
    return entries


def call_patterns(entry: dict) -> list[dict]:
    """The calls that bring the pitfall to code: those of its ``calls`` when it has the key,
    else every call its claim writes with a keyword or an argument. Each is ``{"callee":
    name, "keywords": {keyword: literal or None}, "keys": [dict keys], "new_data": bool}``:
    code matches when it calls ``callee`` (a method, class or function of that name) with
    every keyword (with that ``True``/``False``/``None`` or string literal, where one is
    written; a number too, in the entry's own ``calls``: a claim's numbers are examples) and
    every key in a dict it passes; a call written with arguments only (``predict(new)``)
    matches a model's method given data other than the model's own, and one written
    ``callee(*)`` (``"any": true``) every call of it."""
    own = "calls" in entry
    written = entry["calls"] if own else [m.group(0) for m in CALL.finditer(entry["claim"])]
    patterns, seen = [], set()
    for text in written:
        pattern = parse_call(text, numbers=own)
        key = repr(pattern)
        if pattern and key not in seen:
            seen.add(key)
            patterns.append(pattern)
    return patterns


def fix_literals(entry: dict) -> list[list[str]]:
    """``[keyword, literal]`` of each ``keyword=literal`` the fix writes (``save_anndata=True``,
    ``n_samples=2``): code that already passes one, for a keyword other than those its call
    pattern matched on, follows the fix and gets no note."""
    pairs = []
    for name, value in _FIX_LITERAL.findall(entry["fix"]):
        if value[:1] in "\"'":
            value = value[1:-1]
        if [name, value] not in pairs:
            pairs.append([name, value])
    return pairs


def parse_call(text: str, *, numbers: bool = False) -> dict | None:
    """One call pattern from a call as a claim writes it (:func:`call_patterns`); None when it
    has neither a keyword nor an argument (``train()``) or is not a call. ``numbers``: a
    keyword's number (``n_samples=1``) is a literal the call must pass too."""
    match = CALL.search(text)
    if match is None:
        return None
    callee, args = match.group(1).rsplit(".", 1)[-1], match.group(2)
    if args.strip() == "*":  # the entry's own: every call of it
        return {"callee": callee, "keywords": {}, "keys": [], "new_data": False, "any": True}
    keywords = {}
    for name, value in _KEYWORD.findall(args):
        value = value.strip()
        if value[:1] in "\"'" and len(value) >= 2 and value[-1] == value[0]:
            keywords[name] = value[1:-1]
        else:
            keywords[name] = value if value in _LITERALS or (numbers and _NUMBER.fullmatch(
                value)) else None
    keys = sorted(set(_DICT_KEY.findall(args)))
    positional = [a for a in _TOP_COMMA.split(args)
                  if a.strip() and "=" not in a and a.strip() not in _ELLIPSES
                  and not a.strip().startswith(("{", "[", "'", '"'))]
    if not keywords and not positional:
        return None
    return {"callee": callee, "keywords": keywords, "keys": keys,
            "new_data": not keywords and bool(positional)}


def pitfall_text(entry: dict) -> str:
    """The one line the pack shows: the claim, then the fix, whitespace collapsed."""
    return " ".join(f"{entry['claim']} Fix: {entry['fix']}".split())


def check_proofs(entries: list[dict], repo_root: Path) -> list[str]:
    """One message per entry whose proof (``tests/FILE.py::test_name``) names a file or a
    test function that does not exist (read with ``ast``, never imported)."""
    problems = []
    defined: dict[str, set[str] | None] = {}
    for entry in entries:
        rel, _, name = entry["proof"].partition("::")
        if rel not in defined:
            path = Path(repo_root) / rel
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            except (OSError, SyntaxError):
                defined[rel] = None
            else:
                defined[rel] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if defined[rel] is None:
            problems.append(f"{entry['id']}: proof file {rel} is missing or unparsable")
        elif name.split("[", 1)[0] not in defined[rel]:
            problems.append(f"{entry['id']}: proof {entry['proof']} is not a test in {rel}")
    return problems


def check_pitfalls(entries: list[dict], read_lines: Callable[[str], list[str] | None]) -> list[str]:
    """One message per entry whose evidence token is not on its cited line."""
    problems = []
    for entry in entries:
        ev = entry["evidence"]
        lines = read_lines(ev["path"])
        if lines is None:
            problems.append(f"{entry['id']}: {ev['path']} is not in the tree")
        elif not 1 <= ev["line"] <= len(lines) or str(ev["token"]) not in lines[ev["line"] - 1]:
            problems.append(f"{entry['id']}: {ev['path']}:{ev['line']} does not hold {ev['token']!r}")
    return problems

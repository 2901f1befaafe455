"""Python's own error messages, which no ``raise`` of scvi-tools holds: where the code does
what the message names.

``AttributeError: 'builtin_function_or_method' object has no attribute 'squeeze'`` and
``KeyError: 'setup_method_name'`` come from Python itself, at a line that reads an attribute
(``.squeeze``) or looks a key up (``registry[_SETUP_METHOD_NAME]``, the constant holding
``"setup_method_name"``). :func:`access_sites` finds such lines in the files the search ranks
first and the other files of their packages, and keeps those nearest the question's other
words. Names scvi-tools itself defines (``setup_anndata``, ``get_normalized_expression``) are
left out: Python's message about them concerns the user's own call, which the release
history explains (``history.moved_names``).

Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re

from .errortext import MAX_CHARS

_ATTRIBUTE = re.compile(
    r"""(?:['"]([\w.]{1,120})['"] object )?\bhas no attribute ['"]([A-Za-z_]\w{0,120})['"]""")
_KEY = re.compile(r"""\bKeyError:\s*(['"])([^'"\n]{1,60})\1""")
MAX_KEY_WORDS = 2
"""A ``KeyError`` whose text has more words is a message (pandas' "Values [...] are not
valid"), not a key."""
_PASSED = re.compile(r"""\b([A-Za-z_]\w{0,120})\s*=\s*(['"])([^'"\n]{1,60})\2""")
"""A string passed as a keyword argument: ``batch_key='batch'``."""
_UNEXPECTED_KEYWORD = re.compile(
    r"\b([A-Za-z_][\w.]{0,120})\(\) got an unexpected keyword argument "
    r"['\"]([A-Za-z_]\w{0,120})['\"]")
"""Python's own TypeError for a keyword the called function does not take (names bounded and
anchored at a word's start: a long run of letters is scanned once, not once per letter)."""
_MISSING_ARGUMENT = re.compile(
    r"\b([A-Za-z_][\w.]{0,120})\(\) missing \d{1,3} required "
    r"(?:positional |keyword-only )?arguments?: ['\"]([A-Za-z_]\w{0,120})['\"]")
"""Python's own TypeError for an argument the called function requires."""
_MULTIPLE_VALUES = re.compile(
    r"\b([A-Za-z_][\w.]{0,120})\(\) got multiple values for (?:keyword )?argument "
    r"['\"]([A-Za-z_]\w{0,120})['\"]")
"""Python's own TypeError for a keyword a call passes twice: by name, and in a ``**mapping``."""
MAX_PASS_LINES = 12
"""Lines of a call passing a keyword twice shown: the whole call when it fits, else the lines
around the keyword's."""
MAX_SITES = 2
MAX_ACCESSES = 3
"""Attributes and keys looked up, the first a question names (a paste of hundreds of
KeyErrors would otherwise cost seconds)."""
CONTEXT = 3
"""Lines either side of a site whose words count for it (and the site is shown with one
line either side)."""
MIN_SHARE = 0.5
"""A second site is shown only when its words weigh at least this share of the first's."""
_CONSTANT = r"\b([A-Z_][A-Z0-9_]*)\s*(?::\s*\w+\s*)?=\s*['\"]{key}['\"]"


class Access:
    """What Python's message names: ``kind`` ("attribute" or "key"), ``name``, and
    ``message``, the words as the question pastes them."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        self.kind, self.name, self.message = kind, name, message


def named_accesses(question: str, defined) -> list[Access]:
    """The attributes and keys Python's messages in ``question`` name, except the public
    names ``defined`` by scvi-tools (lower-cased; its defs, classes and modules: the user's
    own call is wrong) unless the object is ``None`` (``'NoneType' object has no attribute
    'registry_'``: a value scvi-tools' code reads was never set), and the keys the user's own
    call passes (``batch_key='batch'``: :func:`own_values`)."""
    question = question[:MAX_CHARS]
    passed = own_values(question)
    out = []
    for m in _ATTRIBUTE.finditer(question):
        name = m.group(2)
        if (name.lower() not in defined or m.group(1) == "NoneType") \
                and all(a.name != name for a in out):
            out.append(Access("attribute", name, m.group(0)))
    for m in _KEY.finditer(question):
        key = m.group(2).strip()
        if key and len(key.split()) <= MAX_KEY_WORDS and key not in passed \
                and all(a.name != key for a in out):
            out.append(Access("key", key, m.group(0)))
    return out[:MAX_ACCESSES]


def call_error(question: str) -> tuple[str, str, str] | None:
    """``(kind, function, name)`` for Python's TypeError about a call: kind "keyword" for a
    keyword the function does not take, "required" for an argument the call left out."""
    text = question[:MAX_CHARS]
    for kind, pattern in (("keyword", _UNEXPECTED_KEYWORD), ("required", _MISSING_ARGUMENT)):
        m = pattern.search(text)
        if m:
            return kind, m.group(1), m.group(2)
    return None


def passed_twice(question: str) -> tuple[str, str] | None:
    """``(function, keyword)`` of Python's "f() got multiple values for keyword argument
    'k'" in ``question``."""
    m = _MULTIPLE_VALUES.search(question[:MAX_CHARS])
    return (m.group(1), m.group(2)) if m else None


def twice_sites(function: str, keyword: str, passes: list[dict], question: str, tokenize,
                limit: int = MAX_SITES, classes: set[str] = frozenset()) -> list[dict]:
    """The calls of ``passes`` (the message index's) that pass ``keyword`` by name beside a
    ``**mapping`` a caller can fill with it, best first: the callee named like ``function``
    (``FCLayers``; ``MULTIVAE.__init__`` is the class; ``TrainRunner`` is also the class
    hook ``self._train_runner_cls``, underscores aside); then a call in one of ``classes``
    (the modules of the models the question names: ``SCVI`` -> ``VAE``); then one whose
    mapping the question names (``extra_encoder_kwargs`` for ``_extra_encoder_kwargs``);
    then by how many of the question's words name the calling def (``RegressionModel
    train`` -> ``PyroSviTrainMixin.train`` shares "train"); in the tree's order on ties.
    Each ``{"path", "line", "name", "kind", "message", "callee", "mapping", "function",
    "start", "end"}``, at most ``limit``."""
    wanted = function.removesuffix(".__init__").rsplit(".", 1)[-1].lower().replace("_", "")
    words = set(tokenize(question))
    text = question.lower()
    found = []
    for order, row in enumerate(passes):
        if row["keyword"] != keyword:
            continue
        callee = row["callee"].rsplit(".", 1)[-1].lower().replace("_", "")
        named = callee in (wanted, f"{wanted}cls")  # FCLayers; a hook: _train_runner_cls
        owner = row["function"].split(".", 1)[0] in classes
        mapping = max(_MAPPING_NAME.findall(row["mapping"]), key=len, default="")
        asked = len(mapping.strip("_")) > 2 and mapping.strip("_").lower() in text
        near = len(words & set(tokenize(row["function"].replace(".", " "))))
        found.append((-named, -owner, -asked, -near, order, row))
    found.sort(key=lambda item: item[:5])
    out = []
    for *_, row in found[:limit]:
        out.append({"path": row["path"], "line": row["keyword_line"], "name": keyword,
                    "kind": "keyword", "callee": row["callee"], "mapping": row["mapping"],
                    "function": row["function"], "start": row["line"], "end": row["end"],
                    "message": f"{row['function']} passes {keyword}={row['value']} to "
                               f"{row['callee']}() beside **{row['mapping']}, "
                               + (f"and takes no {keyword} itself" if row["own"] else
                                  f"which may hold {keyword} too")})
    return out


_MAPPING_NAME = re.compile(r"[A-Za-z_]\w*")
"""The names in a mapping as written (``self._extra_encoder_kwargs``, ``kw or {}``)."""


def own_values(question: str) -> dict[str, str]:
    """``{value: argument}`` for each string the user's own calls pass as a keyword argument
    (``batch_key='batch'`` -> ``{"batch": "batch_key='batch'"}``), the first of each."""
    out: dict[str, str] = {}
    for m in _PASSED.finditer(question[:MAX_CHARS]):
        out.setdefault(m.group(3), m.group(0))
    return out


def object_attributes(question: str) -> list[tuple[str, str]]:
    """``(object type, name)`` of each "'T' object has no attribute 'X'" in ``question``."""
    return [(m.group(1), m.group(2)) for m in _ATTRIBUTE.finditer(question[:MAX_CHARS])
            if m.group(1)]


def missing_on_object(question: str, defined) -> tuple[str, str] | None:
    """``(object type, name)`` when Python says an object that is not ``None`` has no
    attribute that scvi-tools defines (``'AnnData' object has no attribute
    'setup_anndata'``): the user called it on the wrong object."""
    for m in _ATTRIBUTE.finditer(question[:MAX_CHARS]):
        if m.group(1) and m.group(1) != "NoneType" and m.group(2).lower() in defined:
            return m.group(1), m.group(2)
    return None


def user_key_error(question: str) -> tuple[str, str] | None:
    """``(key, argument)`` when a ``KeyError``'s key is a value the user's own call passes."""
    passed = own_values(question)
    for m in _KEY.finditer(question[:MAX_CHARS]):
        key = m.group(2).strip()
        if key in passed:
            return key, passed[key]
    return None


def quick_check(question: str) -> bool:
    """Whether ``question`` may hold such a message (a cheap test before the rest)."""
    return "has no attribute" in question or "KeyError" in question


def access_sites(accesses: list[Access], files: list[str], file_lines, term_idf: dict[str, float],
                 tokenize, limit: int = MAX_SITES, constant_files: list[str] = ()
                 ) -> list[dict]:
    """The lines of ``files`` (read with ``file_lines(rel) -> list[str]``; earlier files rank
    first on ties) that do what ``accesses`` name, best first: ``{"path", "line", "name",
    "kind", "message", "score"}``, at most ``limit``, one per def. A line scores the weights
    (``term_idf``) of the question's terms on it and :data:`CONTEXT` lines either side."""
    found = []
    for access in accesses:
        needles, patterns = _patterns(access, list(files) + list(constant_files), file_lines)
        for rank, rel in enumerate(files):
            lines = file_lines(rel)
            tokens: dict[int, set[str]] = {}  # each line tokenized once per file
            prose: set[int] | None = None
            for n, text in enumerate(lines):
                if not any(needle in text for needle in needles):
                    continue  # a plain substring test first: the patterns are slower
                if prose is None:
                    prose = _in_docstrings(lines)
                if n in prose:
                    continue  # a docstring's example (``>>> adata.obsm[...]``) is not code
                code = text.split("#", 1)[0]
                hits = [safe for p, safe in patterns if p.search(code)]
                if not hits:
                    continue
                stripped = code.strip()
                if stripped.startswith(("def ", "import ", "from ", "class ")):
                    continue
                near: set[str] = set()
                for m in range(max(0, n - CONTEXT), min(len(lines), n + CONTEXT + 1)):
                    if m not in tokens:
                        tokens[m] = set(tokenize(lines[m]))
                    near |= tokens[m]
                score = sum(term_idf.get(t, 0.0) for t in near)
                found.append((-score, rank, n, rel, access, all(hits)))
    # By the question's words near them (a ``.get`` with a default, which cannot raise, may
    # be the line the user's own release raised at: the pack marks it).
    found.sort(key=lambda row: row[:3])
    out, taken = [], set()
    best = -found[0][0] if found else 0.0
    for neg, _, n, rel, access, safe in found:
        if out and -neg < MIN_SHARE * best:
            break
        place = (rel, _def_of(file_lines(rel), n))
        if place in taken:
            continue
        taken.add(place)
        out.append({"path": rel, "line": n + 1, "name": access.name, "kind": access.kind,
                    "message": access.message, "score": round(-neg, 2), "safe": safe})
        if len(out) >= limit:
            break
    return out


_TRIPLE = re.compile(r'"""|\'\'\'')


def _in_docstrings(lines: list[str]) -> set[int]:
    """The (0-based) lines inside triple-quoted strings, their quote lines included: a
    scan of the quotes, line by line (a quote in a comment is rare in the tree)."""
    inside: set[int] = set()
    open_quote = ""
    for n, text in enumerate(lines):
        marks = [m.group() for m in _TRIPLE.finditer(text)]
        if open_quote or marks:
            inside.add(n)
        for mark in marks:
            if not open_quote:
                open_quote = mark
            elif mark == open_quote:
                open_quote = ""
    return inside


def _patterns(access: Access, files: list[str], file_lines
              ) -> tuple[list[str], list[tuple[re.Pattern, bool]]]:
    """Substrings one of which a line that does ``access`` holds, and what it holds, each
    with whether it cannot raise: ``.name`` for an attribute; for a key, the key as a string
    in ``[...]``, ``.get(...)`` or ``.pop(...)`` (with a default: it cannot raise), or a
    constant that holds it (``_SETUP_METHOD_NAME = "setup_method_name"`` in one of
    ``files``) used the same way."""
    if access.kind == "attribute":
        return [f".{access.name}"], [(re.compile(rf"\.{re.escape(access.name)}\b"), False)]
    key = re.escape(access.name)
    needles, names = [access.name], [rf"['\"]{key}['\"]"]
    assign = re.compile(_CONSTANT.format(key=key))
    for rel in files:
        for text in file_lines(rel):
            m = assign.search(text) if access.name in text else None
            if m and m.group(1) not in needles:
                needles.append(m.group(1))
                names.append(rf"(?:\w+\.)?\b{m.group(1)}\b")
    either = "|".join(names)
    return needles, [(re.compile(rf"\[\s*(?:{either})\s*\]"), False),
            (re.compile(rf"\.pop\(\s*(?:{either})\s*\)"), False),
            (re.compile(rf"\.(?:get|pop)\(\s*(?:{either})\s*[,)]"), True)]


def _def_of(lines: list[str], n: int) -> int:
    """The line of the nearest ``def`` at or above ``n`` (0-based), -1 when none."""
    for m in range(n, -1, -1):
        if lines[m].lstrip().startswith(("def ", "async def ")):
            return m
    return -1

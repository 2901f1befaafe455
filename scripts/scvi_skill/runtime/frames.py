"""The scvi-tools frames of a pasted traceback, and where they are in the tree.

A pasted traceback names the files, lines and functions an error passed through. Its innermost
scvi-tools frame is where scvi-tools raised, or where it handed the data that failed to a
dependency (torch, lightning, pandas): the first place to read, and the one a bare error
message cannot point at. This module:

1. :func:`unfold` puts back the line breaks of a CPython or IPython traceback pasted onto one
   line;
   :func:`parse_frames` reads the frames of CPython tracebacks (``File "path", line N, in f``
   with the code line under it) and of IPython's (``File path:N, in f(...)``, or the older
   ``path in f(...)``, each followed by numbered lines of which ``---> N code`` is the frame's),
   outermost first as they are printed;
2. :func:`locate` finds an scvi-tools frame in the tree: at its line when the tree has the pasted
   code there, else at that code nearest the line (the user's release differs), else at the
   ``def`` of its function;
3. :func:`ranking_text` is the question without its traceback: the prose, the exception lines,
   the code of the user's own frames and the names of the outermost and innermost scvi-tools
   frames' functions. Paths, library code and carets are no words of the question.

No regular expression is built from user text. Standard library only; Python >= 3.10.
"""

from __future__ import annotations

import re
from collections import namedtuple

from .errortext import EXCEPTION_NAME

MAX_SCAN_CHARS = 200_000
"""Pasted text beyond this is not read for frames (as :mod:`.messages` scans no further)."""
MAX_FRAMES = 200
ARROW_LOOKAHEAD = 40
"""An IPython frame's ``---> N`` line is looked for this many lines below its header."""

Frame = namedtuple("Frame", "path scvi line function code user")
"""A frame as pasted: ``path``; ``scvi`` its tree path (``src/scvi/...``) when it is an
scvi-tools file, else ""; ``line`` (0 when not given); ``function`` (``""`` when not given);
``code`` its first code line, stripped (``""`` when not shown); ``user``: the user's own code (a
script or notebook cell, not an installed library)."""

_CPYTHON = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
_IPYTHON = re.compile(r"^\s*File (?P<path>\S+?):(?P<line>\d+)(?:, in (?P<func>[^\s(]+))?")
_CELL = re.compile(r"^\s*(?:Cell|Input) In\s*\[\d*\], line (?P<line>\d+)(?:, in (?P<func>[^\s(]+))?")
_IPYTHON_OLD = re.compile(r"^(?P<path>\S+\.py|<ipython-input-[^>]*>) in (?P<func>[^\s(]+)")
_ARROW = re.compile(r"^\s*-+>\s*(?P<line>\d+)(?: (?P<code>.*))?$")
_NUMBERED = re.compile(r"^\s*\d+(?:\s|$)")
_NOISE = re.compile(
    r"^\s*(?:(?:\w[\w.]*\s+)?Traceback \(most recent call last\)|[\^~\s]+$|-{10,}|During handling of the above"
    r"|The above exception was the direct cause|\.\.\.\s*$)")
_INLINE_HEAD = re.compile(r'File "[^"]+", line \d+(?:, in [^\s(]+)?')
_INLINE_EXCEPTION = re.compile(rf"(?<![\w.]){EXCEPTION_NAME}: ")
_INLINE_IPYTHON_HEAD = re.compile(
    r"(?:File \S+?\.py:\d+(?:, in [^\s(]+(?:\([^()]*\))?)?|(?:Cell|Input) In\s*\[\d*\], line \d+"
    r"(?:, in [^\s(]+(?:\([^()]*\))?)?"
    r"|(?:\S+\.py|<ipython-input-[^>]*>) in [^\s(]+(?:\([^()]*\))?)")
_INLINE_ARROW = re.compile(r"-+>\s*\d+")
_INLINE_NUMBER = re.compile(r"\s\d+\s")
_INLINE_CHAIN = re.compile(
    r"(?=During handling of the above exception|The above exception was the direct cause"
    r"|Traceback \(most recent call last\))")
_LIBRARY = ("site-packages", "dist-packages", "/lib/python", "\\lib\\", "<frozen", "/usr/lib/")
_DEF = ("def ", "async def ")


def split_question(pasted: str) -> tuple[str, list[Frame], str]:
    """``(pasted, frames, ranked)`` for a question as pasted: the text with a one-line
    traceback's line breaks put back (:func:`unfold`), its frames, and the text to rank
    (:func:`ranking_text`). The one call and the benchmarks prepare a question this way."""
    pasted = unfold(pasted)
    frames, dropped, lines = _scan(pasted)
    return pasted, frames, _without(frames, dropped, lines) if frames else pasted


def unfold(text: str) -> str:
    """A CPython traceback collapsed onto one line (an agent's one-line argument) with its line
    breaks back: before each ``File "...", line N, in f``, after its header, before the first
    ``SomeError:`` after a frame's code (caret runs dropped), and before the sentences that
    chain tracebacks. Text with a line break, or without such a frame, is returned as it
    is."""
    if "\n" in text:
        return text
    if 'File "' not in text:
        return _unfold_ipython(text)
    heads = list(_INLINE_HEAD.finditer(text[:MAX_SCAN_CHARS]))
    if not heads:
        return text
    out = [text[: heads[0].start()].rstrip()]
    for n, head in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        body = text[head.end() : end]
        # The frame's code runs to the exception line that ends a traceback (of a chain).
        cut = _INLINE_EXCEPTION.search(body)
        code, rest = (body[: cut.start()], body[cut.start() :]) if cut else (body, "")
        code = " ".join(part for part in code.split() if part.strip("^~"))
        out.extend([head.group(0).strip(), f"    {code}" if code else ""])
        for chained in _INLINE_CHAIN.split(rest):
            out.append(chained.strip())
    return "\n".join(line for line in out if line)


def _unfold_ipython(text: str) -> str:
    """An IPython traceback collapsed onto one line with its frames' line breaks back: each
    ``File path:N, in f(...)`` header (``Cell In[k], line N``, IPython 7's ``path in f(...)``)
    on its own line, then its numbered context lines as one line, then its ``---> N code``
    line (the code up to the next line number), the exception line that ends the paste and
    the sentences that chain tracebacks on lines of their own. Without such a header and a
    ``---> N`` line (IPython prints one in every frame) the text is returned as it is."""
    scan = text[:MAX_SCAN_CHARS]
    # Headers alone read like prose ("File x.py:3 is odd"); IPython prints a "---> N" line
    # in every frame.
    heads = list(_INLINE_IPYTHON_HEAD.finditer(scan)) if _INLINE_ARROW.search(scan) else []
    if not heads:
        return text
    out = [part.strip(" -") for part in _INLINE_CHAIN.split(text[: heads[0].start()])]
    for n, head in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        body = text[head.end() : end]
        cut = _INLINE_EXCEPTION.search(body)
        body, rest = (body[: cut.start()], body[cut.start() :]) if cut else (body, "")
        out.append(head.group(0))
        arrow = _INLINE_ARROW.search(body)
        if arrow:
            out.append(f"    {body[: arrow.start()].strip()}")
            code = body[arrow.end() :]
            more = _INLINE_NUMBER.search(code, 1)
            code, after = (code[: more.start()], code[more.start() :]) if more else (code, "")
            out.extend([f"{arrow.group(0)} {code.strip()}", f"    {after.strip()}"])
        else:
            out.append(f"    {body.strip()}")
        out.extend(part.strip(" -") for part in _INLINE_CHAIN.split(rest))
    return "\n".join(line for line in out if line.strip())


def parse_frames(text: str) -> list[Frame]:
    """The frames of the tracebacks pasted in ``text``, in the order printed (outermost first;
    a chained traceback's frames follow the first's)."""
    return _scan(text)[0]


def ranking_text(text: str) -> str:
    """``text`` without its traceback lines (see the module docstring); ``text`` itself when it
    holds no frame."""
    frames, dropped, lines = _scan(text)
    return _without(frames, dropped, lines) if frames else text


def _without(frames: list[Frame], dropped: set[int], lines: list[str]) -> str:
    """The lines not ``dropped``, the user's code of the frames and the outermost and innermost
    scvi-tools frames' function names (:func:`ranking_text`)."""
    kept = [line for n, line in enumerate(lines) if n not in dropped]
    kept.extend(f.code for f in frames if f.user and f.code)
    ours = [f for f in frames if f.scvi and f.function and not f.function.startswith("<")]
    if ours:
        kept.extend(dict.fromkeys(f.function.rsplit(".", 1)[-1] for f in (ours[0], ours[-1])))
    return "\n".join(kept)


def locate(frame: Frame, lines: list[str]) -> tuple[int, str]:
    """``(line, how)`` of ``frame`` in a tree file's ``lines`` (1-based): how is ``"same"`` (the
    pasted code at the pasted line), ``"moved"`` (the pasted code elsewhere, nearest the pasted
    line: another release), ``"def"`` (only its function's ``def``) or ``""`` (``(0, "")``:
    not found)."""
    code, n = frame.code, frame.line
    if code:
        if 1 <= n <= len(lines) and lines[n - 1].strip() == code:
            return n, "same"
        hits = [k + 1 for k, text in enumerate(lines) if text.strip() == code]
        if hits:
            return min(hits, key=lambda k: (abs(k - n), k)), "moved"
    name = frame.function.rsplit(".", 1)[-1]
    if name and not name.startswith("<"):
        heads = [k + 1 for k, text in enumerate(lines)
                 if text.lstrip().startswith(_DEF) and _defines(text.lstrip(), name)]
        if heads:
            return min(heads, key=lambda k: (abs(k - n), k)), "def"
    return 0, ""


def _defines(header: str, name: str) -> bool:
    rest = header[len("async "):] if header.startswith("async ") else header
    return rest.startswith(f"def {name}(")


def _scan(text: str) -> tuple[list[Frame], set[int], list[str]]:
    """Frames, the indices of the lines that belong to the traceback, and the lines."""
    lines = text[:MAX_SCAN_CHARS].splitlines()
    frames: list[Frame] = []
    dropped: set[int] = set()
    for n, line in enumerate(lines):
        if n in dropped:
            continue
        head = _frame_head(line)
        if head is None:
            if _NOISE.match(line):
                dropped.add(n)
            continue
        dropped.add(n)
        if len(frames) >= MAX_FRAMES:
            continue
        path, number, func, ipython = head
        code = ""
        if ipython:
            number, code = _arrow_line(lines, n, number, dropped)
        elif n + 1 < len(lines) and _frame_head(lines[n + 1]) is None \
                and lines[n + 1].strip() and not _NOISE.match(lines[n + 1]):
            code = lines[n + 1].strip()
            dropped.add(n + 1)
        frames.append(Frame(path, _tree_path(path), number, func, code, _is_user(path)))
    return frames, dropped, lines


def _frame_head(line: str) -> tuple[str, int, str, bool] | None:
    """``(path, line, function, ipython)`` of a frame's header line, else None."""
    if "File" in line:
        match = _CPYTHON.match(line)
        if match:
            return match["path"], int(match["line"]), match["func"] or "", False
        match = _IPYTHON.match(line)
        if match:
            return match["path"], int(match["line"]), match["func"] or "", True
    if "In" in line:
        match = _CELL.match(line)
        if match:
            return "<cell>", int(match["line"]), match["func"] or "", True
    if " in " in line:
        match = _IPYTHON_OLD.match(line)
        if match:
            return match["path"], 0, match["func"], True
    return None


def _arrow_line(lines: list[str], head: int, number: int, dropped: set[int]) -> tuple[int, str]:
    """The line number and code of an IPython frame: its ``---> N code`` line (the one numbered
    ``number`` when the header gave one), its numbered context lines marked as traceback."""
    found = (number, "")
    for k in range(head + 1, min(len(lines), head + 1 + ARROW_LOOKAHEAD)):
        text = lines[k]
        if _frame_head(text) is not None:
            break
        arrow = _ARROW.match(text)
        if arrow:
            dropped.add(k)
            if not number or int(arrow["line"]) == number:
                found = (int(arrow["line"]), (arrow["code"] or "").strip())
        elif _NUMBERED.match(text) or _NOISE.match(text):
            dropped.add(k)
        elif text.strip():
            break
    return found


def _tree_path(path: str) -> str:
    """``src/scvi/...`` for a pasted path inside an ``scvi`` package, else ""."""
    norm = path.replace("\\", "/")
    at = norm.rfind("/scvi/")
    if at < 0 or not norm.endswith(".py"):
        return ""
    rest = norm[at + len("/scvi/"):]
    if not rest or any(part in ("", ".", "..") for part in rest.split("/")):
        return ""
    return "src/scvi/" + rest


def _is_user(path: str) -> bool:
    if path in ("<cell>", "<stdin>", "<string>") or path.startswith("<ipython-input"):
        return True
    if _tree_path(path):
        return False
    return not any(mark in path for mark in _LIBRARY) and not path.startswith("<")

"""``search_source.py --message TEXT``: the report and its text.

The sites of ``references/messages.json`` that raise, warn, log or print a pasted message,
best first (:mod:`.messages` matches them); an earlier release's message (where it stood and
when it went); Python's own messages, which no scvi-tools statement holds (an unexpected
keyword at the call, a TypeError of an operation, an attribute or key it could not find),
said to be Python's, with the command that finds the code reading what they name.
:mod:`.searchcli` reads and checks the arguments and prints. No rg; the tree, when one is
found, only adds the lines around each site. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import messages
from .paths import script_command, shell_word
from .tree import read_text

SCRIPT = script_command("search_source.py")


def build(text: str, cleaned: messages.Cleaned, index: messages.MessageIndex,
          limit: int, admit: Callable | None = None) -> dict:
    """The --message report of ``text`` (``cleaned``: :func:`messages.clean_message` of it)
    over ``index``, at most ``limit`` sites, those ``admit`` lets through (None: all);
    ``--json`` prints it as is."""
    matches = messages.find_sites(cleaned, index, limit, admit=admit)
    report = {"query": cleaned.text, "scvi_tools_version": index.version, "matches": matches,
              "same_message": messages.same_message(matches),
              "next": [f"read {m['path']}:{max(1, m['line'] - 15)}-{m['line'] + 5}"
                       for m in matches[:1]]}
    from .history import gone_message

    gone = gone_message(text, is_message=True)
    if gone:
        # An earlier release's message: where it stood there, and when it went.
        report["gone_message"] = gone
        report["next"].insert(0, f"{script_command('fetch_tree.py')} --version {gone['last']}"
                                 f"  (then read {gone['path']}:{gone['line']} there)")
    from .pyerrors import call_error

    call = call_error(text)
    unexpected = call if call and call[0] == "keyword" else None
    if unexpected:
        # Python raises it at the call: no scvi-tools statement holds the text, and any
        # site listed only shares words with it.
        report["python_keyword"] = {"callable": unexpected[1], "keyword": unexpected[2]}
        report["next"].insert(0, f"{SCRIPT} --history {unexpected[2]}")
    if not unexpected and _PYTHON_TYPE_ERRORS.search(text):
        report["python_type_error"] = True
    own = _python_s_own(text)
    if own:
        # Python's own AttributeError/KeyError: no scvi-tools statement holds its text; the
        # lines that read what it names do.
        report["python_message"] = own
        report["next"] += [f"{SCRIPT} --pattern {shell_word(a['pattern'])}" for a in own]
    return report


def found(report: dict) -> bool:
    """Whether the report says where the message comes from: a site, an earlier release's
    message, or Python's unexpected keyword (exit 0; else 1)."""
    return bool(report["matches"] or report.get("gone_message")
                or report.get("python_keyword"))


_PYTHON_TYPE_ERRORS = re.compile(
    r"unsupported operand type\(s\) for|object is not (?:subscriptable|callable|iterable)"
    r"|missing \d+ required (?:positional|keyword-only) arguments?"
    r"|takes \d+ positional arguments? but \d+ (?:were|was) given"
    r"|got multiple values for (?:keyword )?argument|can only concatenate \w+ \(not")
"""Messages Python itself raises (a TypeError at the call or the operation), which no
scvi-tools statement holds: sites that share words with them are not where they arise."""


def _python_s_own(text: str) -> list[dict]:
    """The attributes and keys Python's own messages in ``text`` name, each with the
    ``--pattern`` that finds the code reading it (a key also as the constant holding it,
    ``_SETUP_METHOD_NAME``: the pattern ignores case)."""
    from .pyerrors import named_accesses

    out = []
    for access in named_accesses(text, set()):
        name = re.escape(access.name)
        pattern = rf"\.{name}\b" if access.kind == "attribute" else f"(?i){name}"
        out.append({"kind": access.kind, "name": access.name, "pattern": pattern})
    return out


def render(report: dict, tree) -> str:
    """The report as text; ``tree`` (or None) gives the lines around each site."""
    matches = report["matches"]
    lines = [f"{len(matches)} site(s) for --message {report['query'][:120]!r} "
             f"(scvi-tools {report['scvi_tools_version']})"]
    gone = report.get("gone_message")
    if gone:  # it matches better than any site of the pinned release: first
        from .pack import gone_message_line

        lines.append(gone_message_line(gone, report["scvi_tools_version"], "CHANGELOG entries")
                     + f" (score {gone['score']})")
        lines.append(f"    message: {' '.join(gone['template'].split())}")
    same = report.get("same_message", 0)
    if same > 1:
        # One message raised in several places (the fields' "{key} not found in adata.{attr}"):
        # the first listed is the index's order, not the one that raised it.
        shown = sum(1 for m in matches if m.get("same_message"))
        lines.append(f"{same} sites raise the same message and the text does not tell which of "
                     "them raised it (the innermost scvi-tools frame of the traceback does); "
                     + (f"the first {shown} are listed" if shown < same else "they are listed")
                     + " in the index's order")
    for m in matches:
        lines.append(f"{m['path']}:{m['line']}  {m['kind']} {m['exception']} in {m['function']}"
                     f"  (score {m['score']})")
        lines.append(f"    when: {m['condition'] or '(no enclosing if)'}")
        lines.append(f"    message: {' '.join(m['template'].split())}")
        for number, text in _around(tree, m["path"], m["line"]):
            lines.append(f"    {number:>5} | {text}")
    lines[1:1] = _python_notes(report)
    for own in report.get("python_message") or []:
        what = f".{own['name']}" if own["kind"] == "attribute" else f"the key {own['name']!r}"
        lines.append(f"Python's own message (no scvi-tools statement raises it): the code "
                     f"reading {what} is where it arises (next: --pattern below)")
    if not matches and not report.get("python_message") and not gone:
        lines.append(f"no raise, warning, log or print message of scvi-tools matches; try: {SCRIPT} "
                     f"--tests -- {shell_word(report['query'][:80])}")
    elif tree is None:
        lines.append("(source lines left out: no tree; python3 scripts/fetch_tree.py gets it)")
    lines.extend(f"next: {step}" for step in report["next"])
    return "\n".join(lines)


def _python_notes(report: dict) -> list[str]:
    """The lines under the title for a message Python raises at the call (an unexpected
    keyword first, then a TypeError of an operation)."""
    notes = []
    said = report.get("python_keyword")
    if said:
        notes.append(f"Python's own message: {said['callable']}() takes no keyword "
                     f"{said['keyword']!r} in the release that raised it; no scvi-tools "
                     "statement raises it, so a site below only shares words with it "
                     f"(--history {said['keyword']} says which releases took it)")
    if report.get("python_type_error"):
        notes.append("Python's own message (a TypeError Python raises at the call or the "
                     "operation): no scvi-tools statement raises it, so a site below only "
                     "shares words with it; the traceback's innermost scvi-tools frame is "
                     "where it arises")
    return notes


def _around(tree, rel: str, line: int) -> list[tuple[int, str]]:
    """The site's line and one line either side (empty without a tree or the file)."""
    if tree is None:
        return []
    try:
        text = read_text(tree.to_disk(rel)).splitlines()
    except OSError:
        return []
    return [(n, text[n - 1].rstrip()) for n in range(max(1, line - 1), min(len(text), line + 1) + 1)]

"""The proven pitfalls of the calls a draft makes: ``check_code.py``'s notes.

The pack brings pitfalls by the question's words; an agent's draft can still walk into one
the question never named (a recipe that calls ``SCANVI.predict`` on cells whose labels column
it dropped). Each pitfall of the index carries call patterns (``calls``, written by the
refresh from the calls its claim writes, or from the entry's own ``calls``;
:func:`scvi_skill.build.pitfalls.call_patterns`). A call of the draft brings a pitfall when

- the pitfall holds for the call's model class (or for all; a call that is not a model's, such
  as ``TrainerConfig(...)``, for a model the same file calls), and
- one of its patterns names the method (or class, or function) called, and the call passes
  every keyword the pattern writes (with the same literal where the pattern writes
  ``True``/``False``/``None`` or a string) and every key of a dict it writes; a pattern with
  arguments only (``predict(new)``) matches a model's method given data other than the data
  the model was built with (``scanvi.predict(query)`` after ``SCANVI(adata)``); a pattern
  written ``callee(*)`` matches every call of it (a method that always fails).

Notes are advice, not findings: they never change the exit code. Standard library only.
"""

from __future__ import annotations

from collections import namedtuple

from .codecheck import CallSite

MAX_NOTES = 3
"""Notes the text output shows per file (``--json`` has them all)."""
CLAIM_CHARS = 400
FIX_CHARS = 200


class PitfallNote(namedtuple("_PitfallNote", "path line call id claim fix cite score cell",
                             defaults=(None,))):
    """A pitfall's note at a call: ``call`` is the class and method (or function) the note
    is for (``SCANVI.predict``); ``cell`` the notebook's code cell, when in one."""

    __slots__ = ()

    def to_dict(self) -> dict:
        data = {"path": self.path, "line": self.line, "call": self.call, "id": self.id,
                "claim": self.claim, "fix": self.fix, "cite": self.cite}
        if self.cell is not None:
            data["cell"] = self.cell
        return data

    def location(self) -> str:
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}"

    def text(self) -> str:
        return (f"{self.location()}: {self.call}: pitfall {self.id}: {_clip(self.claim, CLAIM_CHARS)}"
                f" Fix: {_clip(self.fix, FIX_CHARS)} ({self.cite})")


def usable_pitfall(entry) -> bool:
    """Whether an index entry has what a note shows and matches on (an index edited by hand
    may not)."""
    evidence = entry.get("evidence") if isinstance(entry, dict) else None
    return isinstance(evidence, dict) and isinstance(evidence.get("path"), str) \
        and isinstance(evidence.get("line"), int) \
        and all(isinstance(entry.get(k), str) for k in ("id", "claim", "fix")) \
        and isinstance(entry.get("calls", []), list) \
        and all(isinstance(c, dict) for c in entry.get("calls", [])) \
        and isinstance(entry.get("applies_to", []), list)


def _owner(name: str, kind: str = "") -> tuple[str | None, str, bool]:
    """``(class, callee, builds)`` of a resolved call's public name and API kind:
    ``scvi.model.SCANVI.predict`` -> ``("SCANVI", "predict", False)``; a constructor
    ``("TrainerConfig", "TrainerConfig", True)``; a function ``(None,
    "poisson_gene_selection", False)``."""
    parts = name.split(".")
    if kind == "class":
        return parts[-1], parts[-1], True
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2], parts[-1], False
    return None, parts[-1], False


def notes_for_calls(path: str, calls: list[tuple[int | None, CallSite]],
                    pitfalls: list[dict]) -> list[PitfallNote]:
    """The notes of one file's calls, best first: each pitfall once, at its best call."""
    applies_of = [{m.lower() for m in p.get("applies_to") or ["all"]} for p in pitfalls]
    models = set().union(*applies_of) - {"all"}
    by_callee: dict[str, list[int]] = {}  # callee -> the pitfalls with a pattern for it
    for n, pitfall in enumerate(pitfalls):
        for callee in dict.fromkeys(c.get("callee") for c in pitfall.get("calls") or []):
            by_callee.setdefault(callee, []).append(n)
    owners = [(cell, site, *_owner(site.name, site.kind)) for cell, site in calls]
    used = {owner.lower() for _cell, _site, owner, _callee, _builds in owners
            if owner and owner.lower() in models}
    best: dict[str, PitfallNote] = {}
    for cell, site, owner, callee, builds in owners:
        low = owner.lower() if owner else None
        if low not in models and site.within:  # TrainerConfig(...) given to SCVI's train()
            outer = _owner(site.within)[0]
            low = outer.lower() if outer else low
        literals = dict(site.literals)
        for n in by_callee.get(callee, ()):
            pitfall, applies = pitfalls[n], applies_of[n]
            explicit = low in applies
            if not (explicit or "all" in applies
                    or (low not in models and applies & used)):
                continue
            score = _best_score(pitfall.get("calls") or [], site, callee, builds, literals,
                                pitfall.get("fix_literals") or [])
            if score is None:
                continue
            score += 1 if explicit else 0
            label = f"{owner}.{callee}" if owner and not builds else callee
            if site.within and low != (owner or "").lower():
                label += f" (to {'.'.join(site.within.split('.')[-2:])})"
            note = PitfallNote(path, site.line, label, pitfall["id"],
                               " ".join(pitfall["claim"].split()),
                               " ".join(pitfall["fix"].split()),
                               f"{pitfall['evidence']['path']}:{pitfall['evidence']['line']}",
                               score, cell)
            known = best.get(pitfall["id"])
            if known is None or score > known.score:
                best[pitfall["id"]] = note
    return sorted(best.values(), key=lambda n: (-n.score, n.cell or 0, n.line, n.id))


def _best_score(patterns: list[dict], site: CallSite, callee: str, builds: bool,
                literals: dict[str, str], fixed: list) -> int | None:
    """The best score of the patterns ``site`` matches (None: none): two per keyword, one per
    dict key and per literal value it agrees on; one for a call given other data. A keyword
    given as ``None`` counts as not given (unless the pattern writes ``None``); a call that
    passes a ``keyword=literal`` of the fix (``fixed``) for another keyword follows the fix."""
    best = None
    for pattern in patterns:
        if pattern.get("callee") != callee:
            continue
        keywords = pattern.get("keywords") or {}
        keys = pattern.get("keys") or []
        if keywords or keys:
            if not all(k in site.keywords for k in [*keywords, *keys]):
                continue
            if any(literals.get(k) != value if value is not None else literals.get(k) == "None"
                   for k, value in keywords.items()):
                continue
            if any(len(pair) == 2 and pair[0] not in keywords and literals.get(pair[0]) == pair[1]
                   for pair in fixed):
                continue
            score = 2 * len(keywords) + len(keys) + sum(
                1 for value in keywords.values() if value is not None)
        elif pattern.get("any"):
            score = 1
        elif pattern.get("new_data"):
            if builds or not (site.data and site.model_data and site.data != site.model_data):
                continue
            score = 1
        else:
            continue
        best = score if best is None else max(best, score)
    return best


def _clip(text: str, limit: int) -> str:
    """``text`` to ``limit`` characters: at the last sentence end before it that comes after
    a third of the limit and outside a quoted message, else at a word, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", limit // 3, limit)
    while cut > 0 and text[:cut + 1].count('"') % 2:  # the end of a quoted error's sentence
        cut = text.rfind(". ", limit // 3, cut)
    if cut > 0:
        return text[:cut + 1]
    return text[:limit].rsplit(" ", 1)[0] + " …"

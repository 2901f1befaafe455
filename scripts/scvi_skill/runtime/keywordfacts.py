"""What the pinned release's API index and the release history say about Python's own
"f() got an unexpected keyword argument 'x'" when f is a scvi-tools callable.

The message names the callable that raised, which is often not the one the user called: a
model's ``**kwargs`` go on to its module (``SCVI(adata, use_batchnorm=...)`` raises in
``VAE.__init__``), DE's to ``DifferentialComputation.get_bayes_factors``. The index's routes
(``kwargs_to`` "class" or "call", :mod:`scvi_skill.build.api_releases`) say which public
callables hand their ``**kwargs`` on to the one that raised; of those, the one the question
calls (a class written ``Name(``, a method written ``.name(`` with its model named) is the
user's, and the history says whether it took the keyword itself in other releases (PEAKVI's
``differential_accessibility(two_sided=...)``, 1.0.0-1.2.2.post2). The raising callable's own
close parameter names are the likely misspelling.

Read only for such a message (about 40 ms of a whole process: the pinned index and the
history). Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import difflib
import re

from .apifiles import UnknownVersion
from .apiindex import ACCEPTING_KINDS, ReleaseApi, release_api
from .errors import IndexStale

MAX_CALLERS = 2
CLOSE_CUTOFF = 0.75
ROUTES = ("class", "call")
MAX_CHAIN = 6


def keyword_facts(func: str, name: str, question: str, version: str,
                  release: str = "") -> list[str]:
    """Short clauses for the ``(error text)`` line: the public callable(s) of the question
    whose ``**kwargs`` reach ``func`` (with when they took ``name`` themselves), and the
    parameters of ``func`` closest to ``name``; [] when the index does not know ``func``.
    ``release``: the one the user runs (``--version``), when ``func`` takes ``name`` there
    (the message then came from another release, or from another call)."""
    try:
        api = release_api(version)
    except (IndexStale, UnknownVersion, OSError, ValueError):
        return []
    facts = _taken_in(func, name, release) if release and release != version else []
    target = _qualname(api, func.removesuffix(".__init__"))
    if target is None:
        return facts
    callers = _callers(api, target, question)
    if callers:
        facts.append(_callers_fact(api, callers, target, name))
    params = [p["name"] for p in api.params(target) or [] if p.get("kind") in ACCEPTING_KINDS]
    symbol = api.symbol(target) or {}
    if name in params:
        facts.append(f"{api.public_name(target)} takes {name!r} in {version}: the user's "
                     "release is another (check_env.py --python PY says which)")
    elif symbol.get("var_kwargs") and symbol.get("kwargs_to"):
        # It cannot raise this in the pinned release: its **kwargs provably take the keyword
        # on to another callable (a train()'s to the Trainer); a close parameter name would
        # mislead. (Without a route they may go to a base of the same name, as
        # scvi.train.Trainer's to Lightning's Trainer, which does raise it.)
        onward = symbol.get("kwargs_target")
        facts.append(f"{api.public_name(target)} takes **kwargs in {version}"
                     + (f" (passed on to {api.public_name(onward)})" if onward else "")
                     + ": it does not raise this there; the user's release is another "
                       "(check_env.py --python PY says which)")
    else:
        close = difflib.get_close_matches(name, params, n=2, cutoff=CLOSE_CUTOFF)
        if close:
            facts.append(f"{api.public_name(target)} takes "
                         f"{' or '.join(repr(c) for c in close)} in {version}, the closest "
                         f"name{'s' if len(close) > 1 else ''}")
    return facts


def _taken_in(func: str, name: str, release: str) -> list[str]:
    """``["X takes 'name' in V: ..."]`` when ``func`` of release ``V`` takes ``name``."""
    try:
        api = release_api(release)
    except (IndexStale, UnknownVersion, OSError, ValueError):
        return []
    func = func.removesuffix(".__init__")
    target = _qualname(api, func)
    if target is None and "." in func:  # an inherited method: SCANVI.predict is a mixin's
        owner, _, member = func.rpartition(".")
        cls = _qualname(api, owner)
        found = api.member(cls, member) if cls else None
        target = found.get("qualname") if found else None
    params = [p["name"] for p in (api.params(target) or []) if p.get("kind") in ACCEPTING_KINDS] \
        if target else []
    if name not in params:
        return []
    return [f"{func} takes {name!r} in {release} too: the release that raised it is not "
            f"{release}, or another call did"]


def _qualname(api: ReleaseApi, func: str) -> str | None:
    """The one symbol whose qualname ends with ``func`` (``VAE``,
    ``DifferentialComputation.get_bayes_factors``), public ones first."""
    found = sorted((q for q in api.symbols if q == func or q.endswith(f".{func}")),
                   key=lambda q: (not api.symbols[q].get("public"), q))
    return found[0] if found else None


TRAINER = "scvi.train._trainer.Trainer"
"""Where a ``train()`` whose route is ``trainer`` hands its ``**kwargs``."""


def _reaches(api: ReleaseApi, qualname: str, target: str) -> bool:
    for _ in range(MAX_CHAIN):
        symbol = api.symbols.get(qualname) or {}
        if symbol.get("kwargs_to") == "trainer":
            return target == TRAINER
        if symbol.get("kwargs_to") not in ROUTES:
            return False
        qualname = symbol.get("kwargs_target") or ""
        if qualname == target:
            return True
    return False


def _callers(api: ReleaseApi, target: str, question: str) -> list[str]:
    """Public callables whose ``**kwargs`` reach ``target`` and that the question calls: a
    class written ``Name(``, or a method written ``.name(`` whose model the question names
    (``train(`` alone would fit every model)."""
    lowered = question.lower()
    found = []
    for qualname, symbol in api.symbols.items():
        if not symbol.get("public") or not _reaches(api, qualname, target):
            continue
        last = qualname.rsplit(".", 1)[-1]
        if not re.search(rf"\b{re.escape(last)}\s*\(", question):
            continue
        public = api.public_name(qualname)
        owner = public.rsplit(".", 2)[-2] if symbol.get("kind") != "class" else last
        if owner.lower() in lowered:  # a method counts only with its model named too
            found.append((public, qualname))
    return [q for _, q in sorted(found)][:MAX_CALLERS]


def _callers_fact(api: ReleaseApi, callers: list[str], target: str, name: str) -> str:
    from .history import _shipped_history, span_text

    names = [api.public_name(q) for q in callers]
    head = f"{names[0]} passes its **kwargs on to {api.public_name(target)}" \
        if len(names) == 1 else \
        f"{' and '.join(names)} pass their **kwargs on to {api.public_name(target)}"
    try:
        history = _shipped_history()
    except (IndexStale, OSError, ValueError):
        return head
    versions = history.get("versions") or []
    for public in names:
        spans = (history.get("params", {}).get(public) or {}).get(name) or []
        if spans and versions:
            who = "it" if len(names) == 1 else public
            return f"{head}; {who} took {name!r} itself in {span_text(spans, versions)}"
    return head

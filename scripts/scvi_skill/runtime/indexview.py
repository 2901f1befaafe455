"""Read-only lookups over a loaded ``index.json``: symbols by name, members through the MRO.

The build resolves each class's bases once, with the import graph, and stores the result as
``mro`` (:class:`~scvi_skill.runtime.schema.Symbol`); :class:`IndexView` follows that list
instead of guessing bases from their spelling, so ``search_source.py --symbol`` and the
SKILL.md checker see the same inheritance as the maps.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing and the schema costs
if TYPE_CHECKING:      # about 6 ms of each check of a question's code; only annotations use it
    from .schema import Index, Param, Symbol


class IndexView:
    """Lookups over one index object (a ``dict`` as read from index.json)."""

    def __init__(self, index: Index | Mapping) -> None:
        self.namespaces: dict[str, str] = dict(index.get("namespaces") or {})
        """Public dotted name -> defining qualname (or an external dotted name)."""
        self.symbols: dict[str, Symbol] = {}
        """Qualname -> symbol; the first entry wins if the index repeats a qualname."""
        for symbol in index.get("symbols") or []:
            self.symbols.setdefault(symbol["qualname"], symbol)

    def symbol(self, name: str) -> Symbol | None:
        """The symbol a public dotted name or a qualname stands for."""
        target = self.namespaces.get(name)
        if target is not None and target in self.symbols:
            return self.symbols[target]
        return self.symbols.get(name)

    def kind(self, qualname: str) -> str | None:
        return (self.symbols.get(qualname) or {}).get("kind")

    def mro(self, qualname: str) -> list[str]:
        """The class itself, then its in-index bases in method resolution order (as stored
        by the build); ``[qualname]`` for a class without bases or a non-class."""
        symbol = self.symbols.get(qualname) or {}
        return [qualname] + [base for base in symbol.get("mro") or [] if base != qualname]

    def member(self, class_qualname: str, name: str) -> Symbol | None:
        """The symbol ``name`` refers to on a class: its own or the first base's along the
        MRO; ``None`` when no in-index class defines it."""
        for base in self.mro(class_qualname):
            found = self.symbols.get(f"{base}.{name}")
            if found is not None:
                return found
        return None

    def inherited(self, class_qualname: str, name: str) -> Symbol | None:
        """Like :meth:`member`, but only what a base class defines (the class's own
        members skipped)."""
        for base in self.mro(class_qualname)[1:]:
            found = self.symbols.get(f"{base}.{name}")
            if found is not None:
                return found
        return None

    def owner(self, qualname: str) -> Symbol | None:
        """The class (or module) a member is defined in."""
        return self.symbols.get(qualname.rpartition(".")[0])

    def params(self, qualname: str) -> list[Param] | None:
        """The parameters of a callable; ``None`` when the index cannot say (unknown name,
        ``params_known: false``)."""
        symbol = self.symbols.get(qualname)
        if symbol is None or "params" not in symbol or symbol.get("params_known") is False:
            return None
        return symbol["params"]

    def declaring(self, param: str) -> list[Symbol]:
        """Symbols whose ``params`` list a parameter called ``param``, in index order."""
        return [symbol for symbol in self.symbols.values()
                if any(p.get("name") == param for p in symbol.get("params") or [])]

    def public_name(self, qualname: str) -> str:
        """The shortest public dotted name of a qualname (the qualname when it has none)."""
        public = (self.symbols.get(qualname) or {}).get("public") or []
        return min(public, key=lambda p: (len(p), p)) if public else qualname

"""Recognise scvi-tools dotted names in documentation and test text (maintainer module).

:class:`SymbolFinder` maps what a doc or test spells (``scvi.model.SCVI.setup_anndata``,
``~scvi.train.TrainerConfig``, a unique short class name such as ``TrainerConfig``, or
``from scvi.train import TrainerConfig``) to the public dotted names of ``namespaces``.
"""

from __future__ import annotations

import re

_SCVI_NAME = re.compile(r"(?<![\w.])~?(scvi(?:\.[A-Za-z_]\w*)+)")
_FROM_IMPORT = re.compile(r"\bfrom\s+(scvi(?:\.\w+)*)\s+import\s+\(?\s*([\w\s,]+)")
_IDENTIFIER = re.compile(r"~?[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
MIN_SHORT_NAME = 4
"""Shorter bare names (``VAE`` aside, they are mostly words) are not matched by short name."""


class SymbolFinder:
    """Turn names seen in docs into public dotted names known to the namespaces."""

    def __init__(self, namespaces: dict[str, str], kinds: dict[str, str]) -> None:
        self.namespaces = namespaces
        self.kinds = kinds
        self.by_qualname: dict[str, str] = {}
        for public in sorted(namespaces, key=lambda n: (len(n), n)):
            self.by_qualname.setdefault(namespaces[public], public)
        short: dict[str, set[str]] = {}
        for public, target in namespaces.items():
            if self.kinds.get(public) in ("class", "function"):
                short.setdefault(public.rsplit(".", 1)[1], set()).add(target)
        self.short = {name: self.by_qualname[next(iter(targets))]
                      for name, targets in short.items()
                      if len(targets) == 1 and len(name) >= MIN_SHORT_NAME and (
                          "_" in name or any(c.isupper() for c in name))}

    def resolve(self, name: str) -> str | None:
        """Longest known prefix of a dotted name (``scvi.settings.seed`` -> a member or
        ``scvi.settings``); modules are not returned."""
        name = name.lstrip("~")
        if not name.startswith("scvi."):
            first, _, rest = name.partition(".")
            if first not in self.short:
                return None
            name = self.short[first] + ("." + rest if rest else "")
        parts = name.split(".")
        while len(parts) > 1:
            candidate = ".".join(parts)
            public = candidate if candidate in self.namespaces else self.by_qualname.get(candidate)
            if public is not None:
                return None if self.namespaces[public] == public else public
            parts.pop()
        return None

    def in_code(self, code: str) -> set[str]:
        found = {self.resolve(m.group(1)) for m in _SCVI_NAME.finditer(code)}
        for match in _FROM_IMPORT.finditer(code):
            for name in match.group(2).replace("\n", " ").split(","):
                name = name.strip().split(" ")[0]
                if name:
                    found.add(self.resolve(f"{match.group(1)}.{name}"))
        found.discard(None)
        return found

    def in_inline(self, text: str) -> set[str]:
        text = text.strip().rstrip("()")
        if _IDENTIFIER.fullmatch(text):
            resolved = self.resolve(text)
            return {resolved} if resolved else set()
        return self.in_code(text)

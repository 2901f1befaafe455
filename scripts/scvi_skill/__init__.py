"""Shared modules behind the scripts of the scvi-tools-inputs-and-modeling skill.

Agent-facing modules (``errors``, ``paths``, ``tree``, ``fetch``, ``index``, ``rank``,
``rg``) use the Python standard library only and must run on Python >= 3.10 from a copied
skill folder. Maintainer modules (map generation, skill checking) may import pyyaml and
markdown-it-py.
"""

PINNED_SCVI_TOOLS = "1.5.1"
"""The scvi-tools version the committed maps describe; the default tree to fetch."""

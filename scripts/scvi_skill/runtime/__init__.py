"""What the agent-facing scripts run: shipped whole into users' skill folders.

Standard library only; runs on Python >= 3.10 from a copied skill folder. Imports nothing
outside this folder (``tests/test_install_skill.py`` walks the imports to prove it); the
maintainer rooms (:mod:`scvi_skill.build`, :mod:`scvi_skill.check`) and the installer import
from here, never the other way.

- Every script: ``errors`` (exit codes, ``warn``), ``paths``, ``tree`` (find the scvi-tools
  tree), ``text`` (``clip``), ``files`` (digests, JSON records, containment).
- The index contracts: ``schema`` (TypedDicts, search-index rows, ``Slot``, formats,
  ``REGENERATE``), ``index`` (load the shipped files), ``indexview`` (``IndexView``: names,
  members along the stored MRO, parameters).
- ``fetch_tree.py``: ``fetch``. ``resolve_docs.py``: ``tokens``, ``rank``.
  ``search_source.py``: ``rg``, ``source_search``, ``definitions``.
"""

PINNED_SCVI_TOOLS = "1.5.1"
"""The scvi-tools version the committed maps describe; the default tree to fetch."""

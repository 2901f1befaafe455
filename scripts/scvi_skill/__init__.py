"""The scvi-tools-inputs-and-modeling skill's code, in three rooms that follow the data flow.

- :mod:`scvi_skill.build`: maintainers. Reads a scvi-tools tree and writes ``references/``
  (``refresh_maps.py``); may import pyyaml and markdown-it-py.
- :mod:`scvi_skill.runtime`: the agent. Everything ``resolve_docs.py``, ``search_source.py`` and
  ``fetch_tree.py`` import; the installer copies this folder whole into users' skill folders.
  Standard library only, Python >= 3.10.
- :mod:`scvi_skill.check`: maintainers and CI. Checks SKILL.md against a tree
  (``check_skill.py``).

``install`` (``install_skill.py``) stands beside them: standard library, run by users, never
shipped to agents. The index contracts the rooms share are in :mod:`scvi_skill.runtime.schema`.
"""

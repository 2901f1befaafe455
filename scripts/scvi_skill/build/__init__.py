"""What ``refresh_maps.py`` runs: a scvi-tools tree in, ``references/`` out.

Grouped by input: :mod:`.docs` reads Markdown and MyST (markdown-it-py), :mod:`.source` walks
the Python source and tests with ``ast``; the modules here join them (``refresh``), add the
hand-curated ``routing.yaml`` (``routing``, pyyaml), rank entry points (``entries``), and write
the maps (``render``), the resolver's ranking data (``search_index``) and release reports
(``release_diff``). Maintainers only; never shipped to agents. What the outputs hold is defined
in :mod:`scvi_skill.runtime.schema`, which the writers here and the agent's readers share.
"""

"""What the agent-facing scripts run: shipped whole into users' skill folders.

Standard library only; runs on Python >= 3.10 from a copied skill folder. Imports nothing
outside this folder (``tests/test_install_skill.py`` walks the imports to prove it).
"""

PINNED_SCVI_TOOLS = "1.5.1"
"""The scvi-tools version the committed maps describe; the default tree to fetch."""

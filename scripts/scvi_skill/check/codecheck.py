"""The snippet checker of check_skill.py: the one checker in :mod:`scvi_skill.runtime.codecheck`
(shared with check_code.py), run here against the pinned index's :class:`.publicapi.PublicApi`."""

from scvi_skill.runtime.codecheck import Finding, SnippetScope, check_snippet

__all__ = ["Finding", "SnippetScope", "check_snippet"]

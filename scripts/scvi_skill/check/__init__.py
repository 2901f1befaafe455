"""What ``check_skill.py`` runs: SKILL.md's frontmatter, citations, names and code blocks
checked against a scvi-tools tree and the index. Maintainers and CI; never shipped to agents.

Names and parameters are looked up with :class:`scvi_skill.runtime.indexview.IndexView`
(``publicapi.PublicApi`` extends it); problems are ``checks.CheckProblem`` records.
"""

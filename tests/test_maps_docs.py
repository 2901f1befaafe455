"""Markdown outlines from markdown-it-py tokens (scvi_skill.build.docs.docmap), on hand-written inputs."""

from __future__ import annotations

import textwrap

import pytest
from scvi_skill.build.docs.docmap import markdown_parser, parse_document
from scvi_skill.build.docs.docsymbols import SymbolFinder

NAMESPACES = {
    "scvi.model": "scvi.model",
    "scvi.model.SCVI": "scvi.model._scvi.SCVI",
    "scvi.model.SCVI.train": "scvi.model.base._training_mixin.UnsupervisedTrainingMixin.train",
    "scvi.model.SCVI.setup_anndata": "scvi.model._scvi.SCVI.setup_anndata",
    "scvi.train": "scvi.train",
    "scvi.train.TrainerConfig": "scvi.train._config.TrainerConfig",
    "scvi.settings": "scvi._settings.settings",
}
KINDS = {"scvi.model.SCVI": "class", "scvi.train.TrainerConfig": "class",
         "scvi.model.SCVI.train": "method", "scvi.model.SCVI.setup_anndata": "method",
         "scvi.settings": "variable"}


@pytest.fixture(scope="module")
def finder() -> SymbolFinder:
    return SymbolFinder(NAMESPACES, KINDS)


def outline(text: str, finder: SymbolFinder, rel: str = "docs/user_guide/models/x.md",
            known: frozenset[str] = frozenset()):
    return parse_document(rel, textwrap.dedent(text), finder, "1.5.1", known)


def test_headings_come_from_tokens_not_from_hash_lines(finder):
    doc, _, problem = outline("""\
        # Title

        ```python
        # a comment, not a heading
        x = 1
        ```

        ```{math}
        # not a heading either
        ```

        ## Real section
        text
        """, finder)
    assert problem is None
    assert [(s["title"], s["level"]) for s in doc["sections"]] == [("Title", 1),
                                                                   ("Real section", 2)]


def test_section_ranges_are_one_based_inclusive_and_nest(finder):
    doc, _, _ = outline("""\
        # Top
        intro
        ## First
        one
        ### Deeper
        deep
        ## Second
        two
        """, finder)
    ranges = {s["title"]: (s["start"], s["end"], s["parents"]) for s in doc["sections"]}
    assert ranges["Top"] == (1, 8, [])
    assert ranges["First"] == (3, 6, ["Top"])
    assert ranges["Deeper"] == (5, 6, ["Top", "First"])
    assert ranges["Second"] == (7, 8, ["Top"])
    assert doc["n_lines"] == 8


def test_section_text_is_own_text_only(finder):
    doc, _, _ = outline("""\
        # Top
        intro words
        ## Child
        child words
        """, finder)
    top, child = doc["sections"]
    assert "intro words" in top["text"] and "child words" not in top["text"]
    assert child["text"] == "child words"


def test_body_end_is_the_own_text_span(finder):
    doc, _, _ = outline("""\
        # Top
        intro words

        ## First
        one
        ### Deeper
        deep


        ## Second
        two
        """, finder)
    spans = {s["title"]: (s["start"], s["body_end"], s["end"]) for s in doc["sections"]}
    assert spans["Top"] == (1, 2, 11)  # own body only; trailing blank line dropped
    assert spans["First"] == (4, 5, 9)
    assert spans["Deeper"] == (6, 7, 9)  # blank lines dropped from the own span only
    assert spans["Second"] == (10, 11, 11)


def test_body_end_of_an_empty_section_is_its_heading(finder):
    doc, _, _ = outline("""\
        # Version 1.5

        ## 1.5.1
        fixed
        """, finder)
    assert [(s["start"], s["body_end"]) for s in doc["sections"]] == [(1, 1), (3, 4)]


def test_setext_heading_and_front_matter(finder):
    doc, _, _ = outline("""\
        ---
        title: Front
        ---

        Setext title
        ============

        Body.
        """, finder)
    assert doc["title"] == "Setext title"
    assert doc["sections"][0]["start"] == 5
    assert doc["summary"] == "Body."


def test_role_in_heading_keeps_class_name_and_symbol(finder):
    doc, _, _ = outline("# Using {class}`~scvi.model.SCVI`\n\ntext\n", finder)
    section = doc["sections"][0]
    assert section["title"] == "Using SCVI"
    assert section["symbols"] == ["scvi.model.SCVI"]


def test_symbols_from_roles_code_and_short_names(finder):
    doc, _, _ = outline("""\
        # Title

        Call {meth}`~scvi.model.SCVI.train` with a `TrainerConfig`.
        See `scvi.settings.seed` and {cite:p}`Lopez18`.

        ```python
        from scvi.train import TrainerConfig
        scvi.model.SCVI.setup_anndata(adata, layer="counts")
        ```
        """, finder)
    section = doc["sections"][0]
    assert section["symbols"] == ["scvi.model.SCVI.setup_anndata", "scvi.model.SCVI.train",
                                  "scvi.settings", "scvi.train.TrainerConfig"]
    assert "Lopez18" not in section["text"]
    assert 'scvi.model.SCVI.setup_anndata(adata, layer="counts")' in section["text"]


def test_directives_toctree_include_and_autosummary(finder):
    known = frozenset({"docs/api/user.md", "docs/faq.md"})
    doc, _, _ = outline("""\
        ```{include} ../CHANGELOG.md
        ```

        ```{toctree}
        :maxdepth: 1

        api/user
        FAQ <faq>
        https://example.org/elsewhere
        ```

        ```{eval-rst}
        .. currentmodule:: scvi

        .. autosummary::
           :toctree: reference/

           model.SCVI
           train.TrainerConfig
        ```
        """, finder, rel="docs/index.md", known=known)
    assert doc["includes"] == ["CHANGELOG.md"]
    assert doc["toctree"] == ["docs/api/user.md", "docs/faq.md"]
    assert doc["autosummary"] == ["scvi.model.SCVI", "scvi.train.TrainerConfig"]
    assert doc["sections"] == []
    assert doc["summary"].startswith("API reference, 2 entries")


def test_customcard_becomes_tutorial_with_urls(finder):
    doc, tutorials, _ = outline("""\
        # scRNA-seq

        ```{toctree}
        Harmonizing data <notebooks/scrna/harmonization>
        ```

        ```{customcard}
        :path: notebooks/scrna/harmonization
        :tags: Analysis, Integration

        Integrate several datasets
        ```
        """, finder, rel="docs/tutorials/index_scrna.md")
    assert tutorials == [{
        "card_in": "docs/tutorials/index_scrna.md",
        "description": "Integrate several datasets", "end": 12, "line": 7,
        "notebook": "notebooks/scrna/harmonization.ipynb",
        "notebook_url": "https://github.com/scverse/scvi-tutorials/blob/1.5.1/scrna/"
                        "harmonization.ipynb",
        "tags": ["Analysis", "Integration"], "title": "Harmonizing data",
        "url": "https://docs.scvi-tools.org/en/1.5.1/tutorials/notebooks/scrna/"
               "harmonization.html",
    }]
    assert "Integrate several datasets" in doc["sections"][0]["text"]


def test_admonitions_in_colon_and_backtick_fences_keep_their_text(finder):
    doc, _, _ = outline("""\
        # Title

        :::{note}
        Use the `counts` layer for {class}`scvi.model.SCVI`.
        :::

        ```{warning}
        :class: dropdown
        Early stopping with DDP is unsupported.
        ```
        """, finder)
    text = doc["sections"][0]["text"]
    assert "Use the counts layer for scvi.model.SCVI." in text
    assert "Early stopping with DDP is unsupported." in text
    assert ":class:" not in text
    assert doc["sections"][0]["symbols"] == ["scvi.model.SCVI"]


@pytest.mark.parametrize("fence", [
    pytest.param("```python\nx = 1\n", id="backticks"),
    pytest.param(":::{note}\nunclosed\n", id="colons"),
    pytest.param("````\n```\ninner\n```\n", id="longer-opening"),
])
def test_unclosed_fence_is_a_problem_with_its_line(finder, fence):
    doc, tutorials, problem = outline("# Title\n\ntext\n\n" + fence, finder)
    assert doc is None and tutorials == []
    assert problem is not None and problem.line == 5
    assert "unclosed" in problem.message


def test_closed_fences_in_lists_and_quotes_are_fine(finder):
    doc, _, problem = outline("""\
        # Title

        - item

          ```python
          x = 1
          ```

        > ```
        > quoted
        > ```
        """, finder)
    assert problem is None and doc["sections"][0]["title"] == "Title"


def test_token_nesting_sums_to_zero():
    tokens = markdown_parser().parse("# A\n\n:::{note}\n*x*\n:::\n\n- a\n- b\n\n| a |\n|---|\n| 1 |\n")
    assert sum(t.nesting for t in tokens) == 0
    assert any(t.type == "colon_fence" for t in tokens)
    assert any(t.type == "table_open" for t in tokens)

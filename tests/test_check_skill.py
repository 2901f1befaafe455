"""check_skill.py: passes on the repository, reports each broken claim as file:line.

Broken copies are built in tmp_path around a tiny scvi-tools-shaped tree and an index that
follows ARCHITECTURE.md's schema, so every expected problem is known exactly.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import check_skill
import pytest
from scvi_skill.check.checks import check_skill as run_check
from scvi_skill.runtime.tree import open_tree

GOOD_SKILL = textwrap.dedent('''\
    ---
    name: scvi-tools-inputs-and-modeling
    description: >-
      Answers scvi-tools questions about setup_anndata, batch_key and training.
      Use when a user works with scvi-tools.
    license: BSD-3-Clause
    metadata:
      scvi-tools-version: "1.5.1"
      version: "0.1.0"
    allowed-tools: Bash(python3:*) Read
    ---

    # Fixture skill

    Run `python3 "${CLAUDE_SKILL_DIR}/scripts/resolve_docs.py" 'QUESTION' --json` first.
    Read `docs/faq.md:1-8` and `src/scvi/model/_scvi.py`. Models: `scvi.model.SCVI`,
    `scvi.external.MRVI`, `scvi.model.SCVI.train`. Use `TrainerConfig(early_stopping_patience=5)`
    and `model.train(max_epochs=10, early_stopping=True)`.

    ```python
    import scvi
    from scvi.train import TrainerConfig

    adata = scvi.data.synthetic_iid()
    scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch")
    model = scvi.model.SCVI(adata, n_latent=10)
    model.train(max_epochs=5, trainer_config=TrainerConfig(early_stopping_patience=5))
    latent = model.get_latent_representation(give_mean=True)
    ```
    ''')

COMMAND = textwrap.dedent('''\
    ---
    description: Answer an scvi-tools question
    argument-hint: QUESTION
    ---

    Run `python3 "${CLAUDE_PLUGIN_ROOT}/scripts/resolve_docs.py" 'QUESTION' --json`.
    ''')

PLUGIN = {"name": "scvi-tools-inputs-and-modeling", "version": "0.1.0",
          "description": "fixture", "author": {"name": "tests"}, "license": "BSD-3-Clause",
          "repository": "https://example.org/repo"}

TREE_FILES = {
    "src/scvi/__init__.py": "from . import data, external, model, train\n",
    "src/scvi/model/__init__.py": "from ._scvi import SCVI\n\n__all__ = ['SCVI']\n",
    "src/scvi/model/_scvi.py": textwrap.dedent('''\
        class SCVI(BaseModelClass):
            def __init__(self, adata=None, n_latent=10, **kwargs):
                self.adata = adata

            @classmethod
            def setup_anndata(cls, adata, layer=None, batch_key=None, **kwargs):
                manager = AnnDataManager()
                manager.register_fields(adata, **kwargs)
        '''),
    "src/scvi/model/base/_base_model.py": textwrap.dedent('''\
        class BaseModelClass:
            def train(self, max_epochs=None, early_stopping=False, trainer_config=None,
                      **trainer_kwargs):
                self.history_ = {}

            def get_latent_representation(self, adata=None, give_mean=True):
                return None
        '''),
    "src/scvi/train/__init__.py": "from ._config import TrainerConfig\n",
    "src/scvi/train/_config.py": textwrap.dedent('''\
        from dataclasses import dataclass


        @dataclass
        class TrainerConfig:
            max_epochs: int = 400
            early_stopping: bool = False
            early_stopping_patience: int = 45
        '''),
    "src/scvi/data/__init__.py": "from ._datasets import synthetic_iid\n",
    "src/scvi/data/_datasets.py": "def synthetic_iid(batch_size=200, **kwargs):\n    pass\n",
    "src/scvi/external/__init__.py": "from .mrvi import MRVI\n",
    "src/scvi/external/mrvi/__init__.py": "from ._model import MRVI\n",
    "src/scvi/external/mrvi/_model.py": "class MRVI:\n    pass\n",
    "docs/faq.md": "# FAQ\n\n## batch_key\n\nText.\n\n## NaN\n\nText.\n",
    "PKG-INFO": "Metadata-Version: 2.1\nName: scvi-tools\nVersion: 1.5.1\n",
}


def _param(name: str, kind: str = "POSITIONAL_OR_KEYWORD") -> dict:
    return {"default": "None", "kind": kind, "name": name}


def _symbol(qualname, kind, path, line, params=None, var_kwargs=False, **extra) -> dict:
    symbol = {"qualname": qualname, "kind": kind, "path": path, "line": line, "end": line + 5,
              "params": params or [], "var_kwargs": var_kwargs, "public": [],
              "decorators": [], "bases": [], "summary": "", "templated": False}
    symbol.update(extra)
    return symbol


FIXTURE_INDEX = {
    "format": 1,
    "scvi_tools_version": "1.5.1",
    "namespaces": {
        "scvi": "scvi", "scvi.model": "scvi.model", "scvi.train": "scvi.train",
        "scvi.data": "scvi.data", "scvi.external": "scvi.external",
        "scvi.model.SCVI": "scvi.model._scvi.SCVI",
        "scvi.model.SCVI.setup_anndata": "scvi.model._scvi.SCVI.setup_anndata",
        "scvi.model.SCVI.train": "scvi.model.base._base_model.BaseModelClass.train",
        "scvi.model.SCVI.get_latent_representation":
            "scvi.model.base._base_model.BaseModelClass.get_latent_representation",
        "scvi.train.TrainerConfig": "scvi.train._config.TrainerConfig",
        "scvi.data.synthetic_iid": "scvi.data._datasets.synthetic_iid",
        "scvi.external.MRVI": "scvi.external.mrvi._model.MRVI",
    },
    "symbols": [
        _symbol("scvi.model._scvi.SCVI", "class", "src/scvi/model/_scvi.py", 1,
                [_param("adata"), _param("n_latent"), _param("kwargs", "VAR_KEYWORD")], True,
                bases=["BaseModelClass"], public=["scvi.model.SCVI"]),
        _symbol("scvi.model._scvi.SCVI.setup_anndata", "method", "src/scvi/model/_scvi.py", 5,
                [_param("adata"), _param("layer"), _param("batch_key"),
                 _param("kwargs", "VAR_KEYWORD")], True, decorators=["classmethod"]),
        _symbol("scvi.model.base._base_model.BaseModelClass", "class",
                "src/scvi/model/base/_base_model.py", 1),
        _symbol("scvi.model.base._base_model.BaseModelClass.train", "method",
                "src/scvi/model/base/_base_model.py", 2,
                [_param("max_epochs"), _param("early_stopping"), _param("trainer_config"),
                 _param("trainer_kwargs", "VAR_KEYWORD")], True),
        _symbol("scvi.model.base._base_model.BaseModelClass.get_latent_representation",
                "method", "src/scvi/model/base/_base_model.py", 6,
                [_param("adata"), _param("give_mean")]),
        _symbol("scvi.train._config.TrainerConfig", "class", "src/scvi/train/_config.py", 4,
                [_param("max_epochs"), _param("early_stopping"),
                 _param("early_stopping_patience")], decorators=["dataclass"],
                public=["scvi.train.TrainerConfig"]),
        _symbol("scvi.data._datasets.synthetic_iid", "function", "src/scvi/data/_datasets.py",
                1, [_param("batch_size"), _param("kwargs", "VAR_KEYWORD")], True),
        _symbol("scvi.external.mrvi._model.MRVI", "class", "src/scvi/external/mrvi/_model.py",
                1, public=["scvi.external.MRVI"]),
        _symbol("scvi.data.fields._layer_field.LayerField.transfer_field", "method",
                "src/scvi/data/fields/_layer_field.py", 1,
                [_param("self"), _param("state_registry"), _param("adata_target"),
                 _param("extend_categories", "KEYWORD_ONLY")]),
    ],
}


@pytest.fixture()
def fixture_tree(tmp_path: Path):
    root = tmp_path / "tree"
    for rel, text in TREE_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return open_tree(root, need_docs=True)


@pytest.fixture()
def make_skill(tmp_path: Path):
    """Write a skill folder; returns a function taking SKILL.md text (and overrides)."""

    def make(skill_text: str = GOOD_SKILL, *, command: str = COMMAND,
             plugin: dict | None = None, name: str = "skill") -> Path:
        root = tmp_path / name
        (root / "commands").mkdir(parents=True)
        (root / "scripts").mkdir()
        (root / "references").mkdir()
        (root / ".claude-plugin").mkdir()
        (root / "SKILL.md").write_text(skill_text, encoding="utf-8")
        (root / "commands" / "scvi-inputs.md").write_text(command, encoding="utf-8")
        (root / "scripts" / "resolve_docs.py").write_text("", encoding="utf-8")
        (root / ".claude-plugin" / "plugin.json").write_text(
            json.dumps(plugin or PLUGIN), encoding="utf-8")
        (root / "references" / "index.json").write_text(json.dumps(FIXTURE_INDEX),
                                                       encoding="utf-8")
        return root

    return make


def _problems(root: Path, tree) -> list[tuple[str, int, str, str]]:
    report = run_check(root, index=FIXTURE_INDEX, tree=tree)
    return [(p.path, p.line, p.check, p.message) for p in report.problems]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_good_fixture_has_no_problems(make_skill, fixture_tree):
    assert _problems(make_skill(), fixture_tree) == []


def test_counts_every_kind_of_claim(make_skill, fixture_tree):
    report = run_check(make_skill(), index=FIXTURE_INDEX, tree=fixture_tree)
    assert report.counts["paths"] >= 4 and report.counts["names"] >= 3
    assert report.counts["code snippets"] >= 3
    assert report.body_lines == len(GOOD_SKILL.split("---\n", 2)[2].splitlines())


@pytest.mark.parametrize("bad, good", [
    pytest.param("`scvi.external.MRVI`", "`scvi.model.MRVI`", id="mrvi_in_model"),
    pytest.param("`scvi.model.SCVI.train`", "`scvi.model.VELOVI`", id="velovi_in_model"),
])
def test_public_skills_mistakes_are_caught(make_skill, fixture_tree, bad, good):
    text = GOOD_SKILL.replace(bad, good)
    problems = _problems(make_skill(text), fixture_tree)
    assert len(problems) == 1
    path, line, check, message = problems[0]
    assert (path, line, check) == ("SKILL.md", _line_of(text, good.strip("`")), "name")
    assert good.strip("`") in message and "scvi.model has no" in message


def test_mrvi_and_velovi_exactly(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("# Fixture skill", "# Fixture skill\n\nUse scvi.model.MRVI or "
                              "scvi.model.VELOVI.")
    problems = _problems(make_skill(text), fixture_tree)
    assert [(p[1], p[3].split()[0]) for p in problems] == [
        (15, "scvi.model.MRVI"), (15, "scvi.model.VELOVI")]
    assert "did you mean scvi.external.MRVI" in problems[0][3]


def test_misspelled_class_in_code(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("model = scvi.model.SCVI(adata", "model = scvi.model.SCVII(adata")
    problems = _problems(make_skill(text), fixture_tree)
    assert [(p[0], p[1], p[2]) for p in problems] == [
        ("SKILL.md", _line_of(text, "SCVII"), "name")]
    assert "scvi.model.SCVII" in problems[0][3]


@pytest.mark.parametrize("old, new, keyword", [
    pytest.param("TrainerConfig(early_stopping_patience=5))",
                 "TrainerConfig(early_stopping_patiance=5))", "early_stopping_patiance",
                 id="dataclass_field"),
    pytest.param('layer="counts", batch_key', 'layers="counts", batch_key', "layers",
                 id="setup_anndata_kwargs_reach_register_fields"),
    pytest.param("give_mean=True", "give_means=True", "give_means", id="inherited_method"),
    pytest.param("`TrainerConfig(early_stopping_patience=5)`",
                 "`TrainerConfig(patience=5)`", "patience", id="inline_bare_name"),
])
def test_wrong_keyword(make_skill, fixture_tree, old, new, keyword):
    assert old in GOOD_SKILL
    text = GOOD_SKILL.replace(old, new)
    problems = _problems(make_skill(text), fixture_tree)
    assert [(p[0], p[1], p[2]) for p in problems] == [
        ("SKILL.md", _line_of(text, new.strip("`")), "kwarg")]
    assert repr(keyword) in problems[0][3]


@pytest.mark.parametrize("keywords, flagged", [
    pytest.param("source_registry=r, extend_categories=True, ", False, id="beside_the_registry"),
    pytest.param("extend_categories=True, ", True, id="alone"),
])
def test_setup_anndata_takes_register_fields_own_keywords(make_skill, fixture_tree, keywords,
                                                          flagged):
    """The SKILL.md checker reads setup_anndata's **kwargs as the snippet checker does:
    register_fields takes source_registry, and a field's transfer keyword only beside it."""
    call = 'scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key'
    assert call in GOOD_SKILL
    text = GOOD_SKILL.replace(call, call.replace("adata, ", "adata, " + keywords))
    problems = _problems(make_skill(text), fixture_tree)
    if not flagged:
        assert problems == []
        return
    assert [(p[1], p[2]) for p in problems] == [(_line_of(text, "extend_categories"), "kwarg")]
    assert "only with a source_registry" in problems[0][3]


def test_keywords_taken_by_var_kwargs_are_accepted(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("model.train(max_epochs=5,",
                              "model.train(max_epochs=5, gradient_clip_val=1.0,")
    assert _problems(make_skill(text), fixture_tree) == []


def test_non_scvi_calls_are_left_alone(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("```\n", "import numpy as np\nnp.allclose(latent, latent, "
                              "atl=1)\nadata.obs.copy(deeep=True)\n```\n", 1)
    assert _problems(make_skill(text), fixture_tree) == []


def test_python_block_that_does_not_parse(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("latent = model", "latent = = model")
    problems = _problems(make_skill(text), fixture_tree)
    assert [(p[1], p[2]) for p in problems] == [(_line_of(text, "= = model"), "python")]


@pytest.mark.parametrize("old, new, message", [
    pytest.param("`docs/faq.md:1-8`", "`docs/faq.md:1-80`", "has only 9 lines",
                 id="line_range_past_end"),
    pytest.param("`src/scvi/model/_scvi.py`", "`src/scvi/model/_scvii.py`",
                 "src/scvi/model/_scvii.py does not exist in the scvi-tools 1.5.1 tree",
                 id="tree_path"),
    pytest.param("/scripts/resolve_docs.py", "/scripts/resolve_doc.py",
                 "scripts/resolve_doc.py does not exist in the skill folder", id="skill_path"),
])
def test_cited_path_that_does_not_exist(make_skill, fixture_tree, old, new, message):
    text = GOOD_SKILL.replace(old, new)
    problems = _problems(make_skill(text), fixture_tree)
    assert [(p[0], p[1], p[2]) for p in problems] == [("SKILL.md", _line_of(text, new), "path")]
    assert message in problems[0][3]


def test_urls_and_file_names_are_not_paths_or_names(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("# Fixture skill", "# Fixture skill\n\nSee https://github.com/"
                              "scverse/scvi-tools/blob/1.5.1/docs/missing.md and "
                              "docs/user_guide/models/scvi.md's sibling scvi.md, "
                              "`scvi_model.pt`.")
    problems = _problems(make_skill(text), fixture_tree)
    assert [p[3] for p in problems] == [
        "cited path docs/user_guide/models/scvi.md does not exist in the scvi-tools 1.5.1 tree"]


def test_broken_yaml_is_reported_at_its_line(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("license: BSD-3-Clause", "license: [BSD-3-Clause")
    problems = _problems(make_skill(text), fixture_tree)
    assert problems and all(p[2] == "frontmatter" for p in problems)
    assert any("not valid YAML" in p[3] for p in problems)
    assert problems[0][1] >= _line_of(text, "license:")


def test_flow_list_is_reported(make_skill, fixture_tree):
    text = GOOD_SKILL.replace("license: BSD-3-Clause", "license: BSD-3-Clause\n"
                              "compatibility: [python, rg]")
    problems = _problems(make_skill(text), fixture_tree)
    line = _line_of(text, "compatibility:")
    assert (line, "frontmatter") in [(p[1], p[2]) for p in problems]
    assert any("flow-style" in p[3] for p in problems)


def test_missing_description(make_skill, fixture_tree):
    lines = GOOD_SKILL.splitlines(keepends=True)
    text = "".join(lines[:2] + lines[5:])
    problems = _problems(make_skill(text), fixture_tree)
    assert [(p[0], p[1], p[2]) for p in problems] == [("SKILL.md", 2, "frontmatter")]
    assert "missing required frontmatter field 'description'" in problems[0][3]


def test_long_description_angle_brackets_and_person(make_skill, fixture_tree):
    long = "Answers scvi-tools questions. " * 70  # 2,100 characters
    text = GOOD_SKILL.replace("Use when a user works with scvi-tools.",
                              long + "You can ask <anything>.")
    problems = _problems(make_skill(text), fixture_tree)
    line = _line_of(text, "description:")
    assert {(p[1], p[2]) for p in problems} == {(line, "frontmatter")}
    messages = " | ".join(p[3] for p in problems)
    assert "at most 1024 are allowed" in messages
    assert "angle brackets" in messages and "third person" in messages


def test_unknown_field_and_pinned_version(make_skill, fixture_tree):
    text = GOOD_SKILL.replace('scvi-tools-version: "1.5.1"', 'scvi-tools-version: "1.4.2"')
    text = text.replace("license:", "argument-hint: Q\nlicense:")
    problems = _problems(make_skill(text), fixture_tree)
    messages = {p[1]: p[3] for p in problems}
    assert "unexpected frontmatter field 'argument-hint'" in messages[_line_of(text, "argument-")]
    assert "must be \"1.5.1\"" in messages[_line_of(text, "metadata:")]


def test_body_over_budget(make_skill, fixture_tree):
    text = GOOD_SKILL + "word " * 4000 + "\n" + "line\n" * 500
    problems = _problems(make_skill(text), fixture_tree)
    assert [p[2] for p in problems] == ["size", "size"]
    assert {p[1] for p in problems} == {_line_of(text, "---") + 11}


def test_command_and_plugin_checks(make_skill, fixture_tree):
    plugin = dict(PLUGIN, version="one", name="other")
    root = make_skill(command="---\nargument-hint: Q\n---\nbody\n", plugin=plugin)
    problems = _problems(root, fixture_tree)
    assert ("commands/scvi-inputs.md", 2, "frontmatter") in [p[:3] for p in problems]
    plugin_messages = [p[3] for p in problems if p[0] == ".claude-plugin/plugin.json"]
    assert any("is not semantic" in m for m in plugin_messages)
    assert any("differs from the skill name" in m for m in plugin_messages)


def test_cli_exit_codes_and_json(make_skill, fixture_tree, capsys):
    root = make_skill(GOOD_SKILL.replace("`scvi.external.MRVI`", "`scvi.model.MRVI`"))
    args = ["--skill-dir", str(root), "--tree", str(fixture_tree.root)]
    assert check_skill.main([*args, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["problems"] == 1
    assert out["problems"][0]["path"] == "SKILL.md" and out["problems"][0]["check"] == "name"
    assert check_skill.main(args) == 1
    assert capsys.readouterr().out.startswith("SKILL.md:")
    assert check_skill.main(["--skill-dir", str(make_skill(name="ok")), "--tree",
                             str(fixture_tree.root)]) == 0


def test_cli_bad_inputs(tmp_path, make_skill, fixture_tree, capsys):
    assert check_skill.main(["--skill-dir", str(tmp_path / "none")]) == 2
    assert "Error: no SKILL.md" in capsys.readouterr().err
    root = make_skill()
    assert check_skill.main(["--skill-dir", str(root), "--tree", str(tmp_path / "nowhere")]) == 4
    assert check_skill.main(["--skill-dir", str(root), "--index", str(tmp_path / "x.json"),
                             "--tree", str(fixture_tree.root)]) == 6
    assert capsys.readouterr().err.count("Error:") == 2


def test_folder_name_must_match_when_asked(make_skill, fixture_tree, capsys):
    root = make_skill(name="wrong-name")
    args = ["--skill-dir", str(root), "--tree", str(fixture_tree.root), "--json"]
    assert check_skill.main(args) == 0
    assert check_skill.main([*args, "--folder-name"]) == 1
    assert "must equal the skill folder name" in capsys.readouterr().out


def test_repository_passes(repo_root, pinned_tree, capsys):
    """The real SKILL.md, commands/ and references/ against the real index and 1.5.1 tree."""
    assert check_skill.main(["--tree", str(pinned_tree.root), "--json"]) == 0, \
        capsys.readouterr().out
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["body_lines"] < 500
    assert max(summary["body_tokens_chars_div_4"], summary["body_tokens_words_x_4_3"]) < 5000


def test_a_module_keyword_in_the_skill_is_checked_against_the_module(tmp_path, pinned_tree):
    """The skill's own code is checked with the pinned release's routes: SCVI's **kwargs go
    to VAE, so VAE's keywords pass and a misspelt one is a problem."""
    from scvi_skill.runtime.index import load_index

    (tmp_path / "references").mkdir()
    skill = tmp_path / "SKILL.md"
    code = ("```python\nimport scvi\n"
            "model = scvi.model.SCVI(adata, encode_covariates=True, use_batchnorm='none')\n```\n")
    skill.write_text("---\nname: x\ndescription: y\n---\n\n" + code, encoding="utf-8")
    report = run_check(tmp_path, index=load_index(), tree=pinned_tree)
    kwargs = [p for p in report.problems if p.check == "kwarg"]
    assert [(p.path, p.line) for p in kwargs] == [("SKILL.md", 8)]
    assert "'use_batchnorm'" in kwargs[0].message
    assert "go to scvi.module.VAE, which does not take it" in kwargs[0].message


def test_max_below_one_is_a_usage_error(capsys):
    import check_skill

    with pytest.raises(SystemExit) as exc:
        check_skill.main(["--max", "-5"])
    assert exc.value.code == 2 and "--max must be at least 1" in capsys.readouterr().err

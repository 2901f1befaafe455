"""What the API history says of a name beyond the releases it was public in: a class member
a base of another package may supply (``BetaBinomial.sample`` before 1.5.1, pyro's), a
name its package imported without listing it in ``__all__``, and the private def a public
name points to (``scvi.model._utils.get_max_epochs_heuristic``)."""

from __future__ import annotations

import importlib
import json

import check_code
import pytest
import search_source

from scvi_skill.build.api_releases import (
    CALLBACK_MEMBERS,
    DATAMODULE_MEMBERS,
    DISTRIBUTION_MEMBERS,
    EXTERNAL_BASES,
    LIGHTNING_MODULE_MEMBERS,
    TORCH_MODULE_MEMBERS,
    _absent_members,
    base_supplies,
    build_history,
)
from scvi_skill.runtime.apiindex import ReleaseApi, load_history, load_release, load_releases
from scvi_skill.runtime.codelint import History
from scvi_skill.runtime.history import name_history, since_facts


def _release(version: str, namespaces: dict, symbols: dict, **extra) -> dict:
    return {"version": version, "namespaces": namespaces, "symbols": symbols, **extra}


def _with_absent(releases: list[dict]) -> list[dict]:
    """The releases as ``release_outputs`` hands them to ``build_history``."""
    everywhere = set().union(*(r["namespaces"] for r in releases))
    for release in releases:
        release["absent_members"] = _absent_members(release, everywhere)
    return releases


# -- the build -----------------------------------------------------------------------------


def test_a_member_a_known_base_supplies_is_not_absent_and_may_come_from_outside():
    """Release 1's class subclasses pyro's BetaBinomial and defines neither member; release 2
    defines both. sample is a Distribution's: release 1 may have it from pyro. get_normalized
    is no Distribution's: release 1 lacks it."""
    cls = {"kind": "class", "closed": False}
    old = _release("1", {"p.C": "p._m.C"}, {"p._m.C": cls},
                   **{EXTERNAL_BASES: {"p._m.C": ["pyro.distributions.BetaBinomial"]}})
    new = _release("2", {"p.C": "p._m.C", "p.C.sample": "p._m.C.sample",
                         "p.C.get_normalized": "p._m.C.get_normalized"},
                   {"p._m.C": cls, "p._m.C.sample": {"kind": "method"},
                    "p._m.C.get_normalized": {"kind": "method"}},
                   **{EXTERNAL_BASES: {"p._m.C": ["pyro.distributions.BetaBinomial"]}})
    history = build_history(_with_absent([old, new]))
    assert old["absent_members"] == ["p.C.get_normalized"]
    assert history["outside"] == {
        "p.C.sample": {"bases": ["pyro.distributions.BetaBinomial"], "spans": [[0, 0]]}}
    assert history["names"]["p.C.sample"] == [[1, 1]]


def test_a_member_no_known_base_has_gets_no_outside_note():
    """torch.nn.Module has no ``params`` (flax's Module does): no 'may supply it' for a torch
    module, while an unknown base may supply any member the build does not call absent."""
    assert base_supplies("torch.nn.Module", "params") is False
    assert base_supplies("torch.nn.Module", "state_dict") is True
    assert base_supplies("lightning.pytorch.callbacks.ModelCheckpoint", "on_exception") is True
    assert base_supplies("ml_collections.config_dict.FrozenConfigDict", "x") is None
    cls = {"kind": "class", "closed": False}
    torch_old = _release("1", {"p.M": "p.M"}, {"p.M": cls}, **{EXTERNAL_BASES: {
        "p.M": ["torch.nn.Module"]}})
    torch_new = _release("2", {"p.M": "p.M", "p.M.params": "p.M.params"},
                         {"p.M": cls, "p.M.params": {"kind": "method"}},
                         **{EXTERNAL_BASES: {"p.M": ["torch.nn.Module"]}})
    assert build_history(_with_absent([torch_old, torch_new]))["outside"] == {}


def test_history_records_importable_and_private_defs():
    """p._u.f: a private def in 1 and 2, bound by p's __init__ in 2, public as p.f in 3."""
    def f(public=None):
        return {"kind": "function", **({"public": public} if public else {})}

    releases = [
        _release("1", {"p": "p"}, {"p._u.f": f()}),
        _release("2", {"p": "p"}, {"p._u.f": f()}, bound={"p": ["f"]}),
        _release("3", {"p": "p", "p.f": "p._u.f"}, {"p._u.f": f(["p.f"])}),
    ]
    history = build_history(releases)
    assert history["names"]["p.f"] == [[2, 2]]
    assert history["bound"] == {"p.f": [[1, 1]]}
    assert history["defined"] == {"p.f": {"qualname": "p._u.f", "spans": [[0, 2]]}}
    row, = name_history("p.f", history, {})
    assert row["importable"] == "2" and row["defined"] == {"qualname": "p._u.f", "spans": "1-3"}
    assert any("not public" in note for note in row["notes"])
    # The checker: p.f of release 1 is "added in 2", not "added in 3".
    assert History(history, {}).when(History(history, {}).name_spans("p.f")[1], "1") == \
        "added in 2"


@pytest.mark.parametrize(("module", "attr", "members", "hooks"), [
    pytest.param("torch.nn", "Module", TORCH_MODULE_MEMBERS, False, id="torch-module"),
    pytest.param("torch.distributions", "Distribution", DISTRIBUTION_MEMBERS - {
        "conjugate_update", "event_dim", "expand_by", "independent", "infer_shapes", "mask",
        "reshape", "rv", "score_parts", "shape", "to_event"}, False, id="distribution"),
    pytest.param("pyro.distributions", "BetaBinomial", DISTRIBUTION_MEMBERS, False, id="pyro"),
    pytest.param("lightning.pytorch", "LightningModule", LIGHTNING_MODULE_MEMBERS, True,
                 id="lightning-module"),
    pytest.param("lightning.pytorch", "LightningDataModule", DATAMODULE_MEMBERS, True,
                 id="datamodule"),
])
def test_the_members_the_build_knows_are_the_installed_packages(module, attr, members, hooks):
    """Each known base's members are that class's (a wrong one would hide a real absence)."""
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError:
        pytest.skip(f"{module} is not installed")
    assert members <= set(dir(cls))


def test_callback_members_are_lightning_s():
    try:
        from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    except ImportError:
        pytest.skip("lightning is not installed")
    assert CALLBACK_MEMBERS <= set(dir(ModelCheckpoint)) | set(dir(EarlyStopping))


# -- the shipped indexes and what the scripts say -------------------------------------------


def _history_run(capsys, name: str, *extra: str) -> tuple[int, str]:
    code = search_source.main(["--history", name, *extra])
    return code, capsys.readouterr().out


def test_history_of_betabinomial_sample_says_pyro_may_have_supplied_it(capsys):
    """BetaBinomial subclasses pyro.distributions.BetaBinomial in every release that has it
    (src/scvi/distributions/_beta_binomial.py:2 and :9 of 1.2.0); only 1.5.1 defines sample
    in scvi-tools' own source. It was there before, inherited: "in scvi-tools 1.5.1" alone
    said it was not."""
    code, out = _history_run(capsys, "BetaBinomial.sample")
    head, note = out.splitlines()[:2]
    assert code == 0
    assert head.startswith("scvi.distributions.BetaBinomial.sample: in scvi-tools' own source 1.5.1")
    assert "1.2.0-1.5.0.post1" in note and "pyro.distributions.BetaBinomial" in note
    assert "may supply it" in note
    code, out = _history_run(capsys, "BetaBinomial.sample", "--json")
    row = json.loads(out)["names"][0]
    assert row["outside"]["bases"] == ["pyro.distributions.BetaBinomial"]


def test_history_of_get_max_epochs_heuristic_tells_public_from_defined(capsys):
    """scvi/model/_utils.py defines it in every release from 1.0.0 (line 23 of 1.0.0);
    scvi/model/__init__.py imports it in 1.1.0.post1-1.3.3 (line 13 of 1.3.3, not in
    __all__), not in 1.4.0-1.4.2, and lists it in __all__ from 1.4.3 (line 31 of 1.5.1)."""
    code, out = _history_run(capsys, "get_max_epochs_heuristic")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("scvi.model.get_max_epochs_heuristic: public in scvi-tools "
                               "1.4.3-1.5.1")
    assert "importable from scvi.model" in lines[1] and "1.1.0.post1-1.3.3" in lines[1]
    assert "scvi.model._utils.get_max_epochs_heuristic in 1.0.0-1.5.1" in lines[2]
    assert any(line.startswith("(releases before 1.0.0") for line in lines)


def test_the_pack_s_since_line_says_public_since_and_defined_since():
    lines = since_facts("Since which version is scvi.model.get_max_epochs_heuristic "
                        "available?", {})
    assert lines and lines[0].startswith("scvi.model.get_max_epochs_heuristic: public in "
                                         "scvi-tools since 1.4.3")
    assert "scvi.model._utils.get_max_epochs_heuristic in 1.0.0-1.5.1" in lines[0]
    lines = since_facts("Since which version does scvi.distributions.BetaBinomial.sample "
                        "exist?", {})
    assert lines and "in scvi-tools' own source since 1.5.1" in lines[0]
    assert "pyro.distributions.BetaBinomial" in lines[0]


@pytest.mark.parametrize(("member", "version"), [
    pytest.param("scvi.distributions.BetaBinomial.sample", "1.4.2", id="pyro-sample"),
    pytest.param("scvi.dataloaders.DataSplitter.transfer_batch_to_device", "1.0.0",
                 id="lightning-hook"),
])
def test_a_member_a_base_of_another_package_supplies_is_not_called_missing(member, version):
    found = ReleaseApi(load_release(load_releases(), version)).lookup(member)
    assert found.found and not found.certain


def test_check_code_says_get_max_epochs_heuristic_left_and_came_back(capsys, tmp_path):
    path = tmp_path / "a.py"
    path.write_text("from scvi.model import get_max_epochs_heuristic\n"
                    "import scvi\n"
                    "d = scvi.distributions.BetaBinomial(total_count=n, alpha=a, beta=b)\n"
                    "x = d.sample()\n", encoding="utf-8")
    assert check_code.main([str(path), "--version", "1.4.0", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [f["message"] for f in findings] == [
        "scvi.model.get_max_epochs_heuristic: removed in 1.4.0 (last in 1.3.3); back in 1.4.3"]
    assert check_code.main([str(path), "--version", "1.2.0", "--json"]) == 0
    capsys.readouterr()


def test_the_shipped_history_notes_only_what_it_can_back():
    """Every outside note is a member whose class had a base of another package then, and
    every private def is one some release had under no public name."""
    history = load_history(load_releases())
    assert "scvi.distributions.BetaBinomial.sample" in history["outside"]
    assert "scvi.module.VAE.get_embedding" not in history["outside"]  # nn.Module has none
    assert "scvi.external.mrvi.MRVAE.params" not in history["outside"]
    assert history["bound"] == {"scvi.model.get_max_epochs_heuristic": [[5, 24]]}
    assert history["versions"][5] == "1.1.0.post1" and history["versions"][24] == "1.3.3"


def test_a_member_whose_own_def_went_but_a_base_supplies_is_not_called_gone(capsys):
    """TangramMapper.train: scvi-tools' own def went in 1.5.0, torch.nn.Module's stays (a
    review's find: --history said "gone since 1.5.0" and the pack "not in 1.5.1")."""
    code, out = _history_run(capsys, "scvi.external.tangram.TangramMapper.train")
    first = out.splitlines()[0]
    assert "its own definition gone since 1.5.0; in 1.5.1 a base of another package may " \
        "supply it" in first, first
    assert not first.endswith("gone since 1.5.0")
    import resolve_docs

    assert resolve_docs.main(["scvi.external.mrvi.MRVAE.train removed?"]) == 0
    assert "not in 1.5.1" not in capsys.readouterr().out


# -- a private method made public -----------------------------------------------------------


def test_history_records_a_private_method_a_later_release_made_public():
    """Release 1's class C (through its base B) has the private _get_w; release 2 makes
    get_w public on C; release 3's C has neither. Only release 1 has it as the private."""
    old = _release("1", {"p.C": "p._m.C"},
                   {"p._m.C": {"kind": "class", "mro": ["p._m.C", "p._m.B"]},
                    "p._m.B": {"kind": "class", "private": ["_get_w", "_other"]}})
    new = _release("2", {"p.C": "p._m.C", "p.C.get_w": "p._m.C.get_w"},
                   {"p._m.C": {"kind": "class"}, "p._m.C.get_w": {"kind": "method"}})
    gone = _release("3", {"p.C": "p._m.C"}, {"p._m.C": {"kind": "class"}})
    history = build_history(_with_absent([old, new, gone]))
    assert history["private"] == {"p.C.get_w": {"private": "_get_w", "spans": [[0, 0]]}}


def test_get_importance_weights_was_private_before_1_4_0(capsys, tmp_path):
    releases = load_releases()
    history = load_history(releases)
    versions = history["versions"]
    row = history["private"]["scvi.model.SCVI.get_importance_weights"]
    assert row["private"] == "_get_importance_weights"
    assert [versions[a] + "-" + versions[b] for a, b in row["spans"]] == ["1.0.0-1.3.3"]
    # The per-release indexes leave the private methods out (the history alone uses them).
    assert not any("private" in s for s in load_release(releases, "1.3.3")["symbols"].values())
    lines = History(history, {}).when_text("scvi.model.SCVI.get_importance_weights",
                                           history["names"]["scvi.model.SCVI.get_importance_weights"],
                                           "1.2.0")
    assert lines == "added in 1.4.0; 1.2.0 has it as the private _get_importance_weights"
    path = tmp_path / "a.py"
    path.write_text("import scvi\nm = scvi.model.SCVI(adata)\nw = m.get_importance_weights(adata)\n",
                    encoding="utf-8")
    assert check_code.main([str(path), "--version", "1.2.0", "--json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert finding["message"].endswith("1.2.0 has it as the private _get_importance_weights")
    code, out = _history_run(capsys, "scvi.model.SCVI.get_importance_weights")
    assert code == 0
    assert out.splitlines()[:2] == [
        "scvi.model.SCVI.get_importance_weights: public in scvi-tools 1.4.0-1.5.1; still in "
        "1.5.1",
        "  a private method, scvi.model.SCVI._get_importance_weights, in 1.0.0-1.3.3"]

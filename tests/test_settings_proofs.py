"""``scvi.settings`` is a plain ``ScviConfig`` instance: assigning a setting it does not have
raises nothing and changes no setting (the instance only gains an attribute that nothing
reads), and reading one raises AttributeError. ``check_code.py`` flags both, from the
release's API index. Runs scvi-tools; marker ``examples`` (needs the ``examples`` extra)."""

from __future__ import annotations

import json

import check_code
import pytest

pytestmark = pytest.mark.examples

scvi = pytest.importorskip("scvi")


@pytest.fixture
def settings():
    before = dict(vars(scvi.settings))
    yield scvi.settings
    for name in set(vars(scvi.settings)) - set(before):
        delattr(scvi.settings, name)  # what a test added
    for name, value in before.items():
        if name.startswith("_"):  # the backing fields of the properties
            setattr(scvi.settings, name, value)


def test_a_setting_scvi_does_not_have_is_silently_kept_and_changes_nothing(settings, tmp_path,
                                                                          capsys):
    workers = settings.dl_num_workers
    settings.num_workers = workers + 3  # meant: dl_num_workers
    assert settings.dl_num_workers == workers
    settings.jax_preallocate_gpu_memory = False  # a setting 1.4.3 had and 1.5.0 removed
    assert "jax_preallocate_gpu_memory" not in {
        name for name, value in vars(type(settings)).items() if isinstance(value, property)}
    with pytest.raises(AttributeError, match="sed"):
        _ = settings.sed
    settings.dl_num_workers = workers + 1  # the setting that exists does change
    assert settings.dl_num_workers == workers + 1

    path = tmp_path / "settings.py"
    path.write_text("import scvi\nscvi.settings.num_workers = 4\n"
                    "scvi.settings.jax_preallocate_gpu_memory = False\nprint(scvi.settings.sed)\n"
                    "scvi.settings.dl_num_workers = 2\nscvi.settings.seed = 0\n",
                    encoding="utf-8")
    assert check_code.main([str(path), "--json", "--version", scvi.__version__]) == 1
    got = [(f["line"], f["name"].rsplit(".", 1)[-1], f["message"].rsplit("; ", 1)[-1])
           for f in json.loads(capsys.readouterr().out)["findings"]]
    assert got == [
        (2, "num_workers", "assigning it raises no error and changes no setting"),
        (3, "jax_preallocate_gpu_memory", "assigning it raises no error and changes no setting"),
        (4, "sed", "reading it raises AttributeError")], got

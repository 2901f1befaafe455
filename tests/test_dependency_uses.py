"""Which releases use which names of other packages: read from each release's imports and
attribute chains, shipped as references/api/dependency_uses.json.gz, and said in the pack's
release history and by search_source.py --history when an error (or an upgrade question)
names one (``module 'jax.random' has no attribute 'KeyArray'``)."""

from __future__ import annotations

import gzip
import json
import shutil
import textwrap

import pytest
import resolve_docs
import search_source
from scvi_skill.build.api_releases import DEPENDENCY_USES_FILE, release_outputs
from scvi_skill.build.dependency_uses import (
    DEPENDENCY_ALIASES,
    DEPENDENCY_USES,
    build_dependency_uses,
    read_dependency_uses,
)
from scvi_skill.runtime.apifiles import API_DIR, load_dependency_uses
from scvi_skill.runtime.dependency_uses import (
    canonical,
    dependency_use_facts,
    find,
    instead,
    lookup,
    named_dependency_names,
)
from scvi_skill.runtime.tree import Tree

KEYARRAY = ("After upgrading jax, `import scvi` fails with AttributeError: module 'jax.random' "
            "has no attribute 'KeyArray'. Which scvi-tools release fixes it?")


def _tree(tmp_path, files: dict[str, str]) -> Tree:
    for rel, text in files.items():
        path = tmp_path / "src" / "scvi" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Tree(root=tmp_path.resolve(), kind="sdist", version="9.9.9")


def test_uses_are_read_from_imports_and_the_longest_attribute_chains(tmp_path):
    tree = _tree(tmp_path, {
        "a.py": """\
            from __future__ import annotations
            import os
            import numpy as np
            import jax
            from torch import nn
            from scipy.sparse import (
                csr_matrix,
            )
            from . import b
            from scvi.data import x

            def f(key: jax.random.KeyArray) -> np.ndarray:
                layer = nn.functional.softplus(os.path.join("a", "b"))
                return np.float_(b.value) + x.y
            """,
        "sub/c.py": "import numpy as np\nimport torch.nn.functional as F\nF.relu\n",
    })
    uses, aliases = read_dependency_uses(tree)
    assert uses == {
        "jax": ["src/scvi/a.py", 4, 0],
        "jax.random.KeyArray": ["src/scvi/a.py", 12, 1],  # an annotation never evaluated
        "numpy": ["src/scvi/a.py", 3, 0],
        "numpy.float_": ["src/scvi/a.py", 14, 0],
        "numpy.ndarray": ["src/scvi/a.py", 12, 1],
        "scipy.sparse.csr_matrix": ["src/scvi/a.py", 7, 0],  # the imported name's own line
        "torch.nn": ["src/scvi/a.py", 5, 0],
        "torch.nn.functional": ["src/scvi/sub/c.py", 2, 0],
        "torch.nn.functional.relu": ["src/scvi/sub/c.py", 3, 0],
        "torch.nn.functional.softplus": ["src/scvi/a.py", 13, 0],  # not also torch.nn.functional
    }
    # The standard library, relative imports and scvi itself are not dependencies.
    assert not any(name.split(".")[0] in ("os", "scvi", "b", "x", "__future__") for name in uses)
    assert aliases[("np", "numpy")] == 2 and aliases[("nn", "torch.nn")] == 1
    assert ("jax", "jax") not in aliases


def test_uses_that_cannot_raise_are_marked_guarded(tmp_path):
    tree = _tree(tmp_path, {
        "a.py": """\
            from typing import TYPE_CHECKING
            import jax
            try:
                from anndata.experimental import CSRDataset
            except ImportError:
                from anndata._core.sparse_dataset import SparseDataset
            try:
                import mlx.core
            except ValueError:
                pass
            if TYPE_CHECKING:
                from mudata import MuData

            def f(key: jax.random.KeyArray):  # evaluated at def time: no postponed annotations
                try:
                    return jax.random.old_name(key)
                except AttributeError:
                    return jax.random.new_name(key)

            class C:
                field: jax.Array = None
            """,
        "b.py": "import anndata\nfrom anndata._core.sparse_dataset import SparseDataset\n",
    })
    uses, _ = read_dependency_uses(tree)
    assert uses["anndata.experimental.CSRDataset"][2] == 1
    assert uses["mudata.MuData"][2] == 1
    assert uses["jax.random.old_name"][2] == 1 and uses["jax.random.new_name"][2] == 1
    assert uses["mlx.core"][2] == 0  # a ValueError handler does not guard an import
    assert uses["jax.random.KeyArray"] == ["src/scvi/a.py", 14, 0]
    assert uses["jax.Array"][2] == 0
    # The site is the first unguarded use, even in a later file.
    assert uses["anndata._core.sparse_dataset.SparseDataset"] == ["src/scvi/b.py", 2, 0]


def _release(version: str, uses: dict, aliases: dict | None = None) -> dict:
    return {"version": version, "namespaces": {}, "symbols": {}, DEPENDENCY_USES: uses,
            DEPENDENCY_ALIASES: aliases or {}}


def test_releases_become_spans_with_the_last_users_site_and_a_file_of_their_own():
    releases = [
        _release("1.0.0", {"jax.random.KeyArray": ["src/scvi/m.py", 3, 0],
                           "numpy": ["a.py", 1, 0]},
                 {"np": {"numpy": 3}, "F": {"torch.nn.functional": 1}}),
        _release("1.1.0", {"jax.random.KeyArray": ["src/scvi/m.py", 9, 1],
                           "numpy": ["a.py", 1, 0]},
                 {"np": {"numpy": 2}}),
        _release("1.2.0", {"numpy": ["a.py", 2, 0]}),
    ]
    built = build_dependency_uses(releases)
    assert built["versions"] == ["1.0.0", "1.1.0", "1.2.0"]
    # Used in 1.0.0-1.1.0, unguarded only in 1.0.0: the site is the last unguarded one.
    assert built["uses"]["jax.random.KeyArray"] == {
        "spans": [[0, 1]], "live": [[0, 0]], "site": ["src/scvi/m.py", 3, 0]}
    assert built["uses"]["numpy"] == {"spans": [[0, 2]], "site": ["a.py", 2, 0]}
    assert built["aliases"] == {"np": "numpy"}  # F: one file only
    assert "regenerate" in built["_generated"]
    outputs = release_outputs(releases)
    assert json.loads(gzip.decompress(outputs[DEPENDENCY_USES_FILE])) == built
    # The 0.x releases read for their messages count too: an old release's user hits them.
    early = [{"version": "0.9.0", DEPENDENCY_USES: {"pytorch_lightning": ["scvi/t.py", 1, 0]}}]
    with_early = json.loads(gzip.decompress(release_outputs(releases, early)[DEPENDENCY_USES_FILE]))
    assert with_early["versions"][0] == "0.9.0"
    assert with_early["uses"]["pytorch_lightning"] == {"spans": [[0, 0]],
                                                       "site": ["scvi/t.py", 1, 0]}
    assert with_early["uses"]["numpy"]["spans"] == [[1, 3]]
    assert outputs[DEPENDENCY_USES_FILE] == release_outputs(releases)[DEPENDENCY_USES_FILE]
    assert all(DEPENDENCY_USES not in json.loads(gzip.decompress(data))
               for name, data in outputs.items() if name.startswith("scvi-tools-"))


DATA = {"versions": ["1.0.0", "1.1.0", "1.2.0"], "aliases": {"np": "numpy"},
        "uses": {"jax.random.KeyArray": {"spans": [[0, 1]], "site": ["src/scvi/m.py", 9, 0]},
                 "numpy.float_": {"spans": [[0, 2]], "site": ["src/scvi/a.py", 5, 0]},
                 "lightning.pytorch.Trainer": {"spans": [[1, 2]],
                                               "site": ["src/scvi/t.py", 2, 0]},
                 "lightning.pytorch.LightningModule": {"spans": [[2, 2]],
                                                       "site": ["src/scvi/t.py", 3, 0]},
                 "anndata.SparseDataset": {"spans": [[0, 2]], "live": [[0, 0]],
                                           "site": ["src/scvi/d.py", 4, 0]},
                 "anndata.experimental.CSRDataset": {"spans": [[1, 2]], "live": [],
                                                     "site": ["src/scvi/d.py", 2, 1]}}}


def test_error_text_and_written_names_are_found_and_resolved():
    errors, written = named_dependency_names(KEYARRAY)
    assert errors == ["jax.random.KeyArray"] and written == []
    errors, _ = named_dependency_names(
        "ImportError: cannot import name 'SparseDataset' from 'anndata._core.sparse_dataset' "
        "and ModuleNotFoundError: No module named 'pytorch_lightning'")
    assert errors == ["anndata._core.sparse_dataset.SparseDataset", "pytorch_lightning"]
    # scvi-tools' own names are the API history's, not this file's.
    assert named_dependency_names("module 'scvi.nn' has no attribute 'one_hot'") == ([], [])
    # A written name counts in a question about an upgrade or an error, not in a how-to.
    assert named_dependency_names("after upgrading numpy, np.float_ fails")[1] == ["np.float_"]
    assert named_dependency_names("how do I pass np.float_ values")[1] == []
    assert canonical("np.float_", DATA["aliases"]) == "numpy.float_"
    assert canonical("numpy.float_", DATA["aliases"]) == "numpy.float_"


def test_a_name_gets_its_releases_and_a_module_the_names_under_it():
    found = lookup("jax.random.KeyArray", DATA)
    assert found["spans"] == found["live"] == [[0, 1]]
    assert found["site"] == ["src/scvi/m.py", 9, 0]
    module = lookup("lightning.pytorch", DATA)
    assert module["spans"] == [[1, 2]] and module["site"] == ["src/scvi/t.py", 3, 0]
    merged = lookup("anndata", DATA)  # unguarded in 1.0.0 only, guarded after
    assert merged["spans"] == [[0, 2]] and merged["live"] == [[0, 0]]
    assert merged["site"] == ["src/scvi/d.py", 4, 0]
    assert module["module_names"] == ["lightning.pytorch.LightningModule",
                                      "lightning.pytorch.Trainer"]
    assert lookup("lightning.pyt", DATA) is None  # a prefix of a part is not a module
    # A name as written wins over its alias: ``sparse`` is a package too (``sparse.GCXS``).
    data = dict(DATA, aliases={"np": "numpy", "sparse": "scipy.sparse"},
                uses=dict(DATA["uses"], **{"sparse.GCXS": {"spans": [[2, 2]], "site": ["g.py", 1]},
                                           "scipy.sparse.issparse": {"spans": [[0, 2]],
                                                                     "site": ["s.py", 1]}}))
    assert find("sparse.GCXS", data)["name"] == "sparse.GCXS"
    assert find("sparse.issparse", data)["name"] == "scipy.sparse.issparse"
    assert find("np.float_", data)["name"] == "numpy.float_"


def test_the_facts_say_which_releases_use_it_and_which_do_not():
    [line] = dependency_use_facts(KEYARRAY, data=DATA)
    assert line.startswith("jax.random.KeyArray (jax's, not scvi-tools'): used by scvi-tools "
                           "1.0.0-1.1.0; in 1.1.0 at src/scvi/m.py:9; not used by 1.2.0")
    # The pinned release still uses it: pin the dependency.
    [line] = dependency_use_facts("AttributeError: module 'numpy' has no attribute 'float_'",
                                  data=DATA)
    assert "still used by 1.2.0: pin numpy" in line
    # No release uses it: the call is another package's.
    [line] = dependency_use_facts("AttributeError: module 'numpy' has no attribute 'NaN'",
                                  data=DATA)
    assert line.startswith("numpy.NaN: no scvi-tools release 1.0.0-1.2.0 uses it")
    # A written name the pinned release still uses says nothing about an upgrade (one that
    # came in a later release neither); one that went does.
    assert dependency_use_facts("after upgrading, np.float_ fails", data=DATA) == []
    assert dependency_use_facts("after upgrading, lightning.pytorch.Trainer fails",
                                data=DATA) == []
    [line] = dependency_use_facts("after upgrading jax, jax.random.KeyArray fails", data=DATA)
    assert "used by scvi-tools 1.0.0-1.1.0" in line and "pin" not in line
    assert dependency_use_facts("how many epochs should I train?", data=DATA) == []
    # A use that cannot raise (a try/except fallback, TYPE_CHECKING, a postponed annotation)
    # is told apart: only the unguarded releases break when the name goes.
    [line] = dependency_use_facts(
        "ImportError: cannot import name 'SparseDataset' from 'anndata'", data=DATA)
    assert "used by scvi-tools 1.0.0; in 1.0.0 at src/scvi/d.py:4" in line
    assert "only guarded, raising nothing, in 1.1.0-1.2.0" in line and "pin" not in line
    [line] = dependency_use_facts(
        "ImportError: cannot import name 'CSRDataset' from 'anndata.experimental'", data=DATA)
    assert "scvi-tools 1.1.0-1.2.0 use it only guarded" in line
    assert "the failing call is likely another package's or another release's" in line


def test_a_name_the_newest_release_dropped_gets_the_name_it_uses_instead():
    data = dict(DATA, uses=dict(DATA["uses"], **{
        "anndata.io.read_elem": {"spans": [[2, 2]], "site": ["src/scvi/d.py", 14, 0]},
        "anndata.experimental.read_elem": {"spans": [[0, 1]], "site": ["src/scvi/d.py", 23, 0]},
        "h5py.read_elem": {"spans": [[0, 2]], "site": ["src/scvi/h.py", 1, 0]}}))
    assert instead("anndata.experimental.read_elem", data) == (
        "anndata.io.read_elem", ["src/scvi/d.py", 14, 0])
    [line] = dependency_use_facts(
        "ImportError: cannot import name 'read_elem' from 'anndata.experimental'", data=data)
    assert line.endswith("; 1.2.0 uses anndata.io.read_elem instead, at src/scvi/d.py:14 "
                         "(from each release's imports and attribute chains)")
    # Never used: the newest release's name of the same package and last part is still said.
    [line] = dependency_use_facts(
        "ImportError: cannot import name 'read_elem' from 'anndata._io.specs'", data=data)
    assert line.startswith("anndata._io.specs.read_elem: no scvi-tools release")
    assert line.endswith("; 1.2.0 uses anndata.io.read_elem instead, at src/scvi/d.py:14")
    # Still used by the newest release, another package's name, or no such name: nothing.
    assert instead("anndata.io.read_elem", data) is None
    assert instead("jax.random.KeyArray", data) is None
    assert instead("anndata", data) is None
    [line] = dependency_use_facts(KEYARRAY, data=data)
    assert " instead, at " not in line


def test_the_shipped_file_names_what_the_pinned_release_reads_elements_with(pinned_tree):
    """anndata.experimental.read_elem went (1.2.2's deprecation fix); the pinned release's
    replacement is a line of the pinned tree that imports it."""
    data = load_dependency_uses()
    other, site = instead("anndata.experimental.read_elem", data)
    assert other.rsplit(".", 1)[-1] == "read_elem" and other.startswith("anndata.")
    line = (pinned_tree.root / site[0]).read_text(encoding="utf-8").splitlines()[site[1] - 1]
    assert "read_elem" in line and "import" in line


def test_the_shipped_file_dates_the_keyarray_annotation_and_matches_the_pinned_tree(pinned_tree):
    data = load_dependency_uses()
    versions = data["versions"]
    assert versions[-1] == pinned_tree.version
    key = data["uses"]["jax.random.KeyArray"]
    used = {versions[i] for a, b in key["spans"] for i in range(a, b + 1)}
    assert {"1.2.0", "1.4.3"} <= used and not used & {"1.5.0", "1.5.1"}
    # Only in annotations of files with postponed annotations: it never raised there.
    assert key["live"] == [] and key["site"][2] == 1
    # The private SparseDataset import became a try/except fallback in 1.0.4, the release
    # whose notes add AnnData 0.10 support: from then on it raises nothing.
    sparse = data["uses"]["anndata._core.sparse_dataset.SparseDataset"]
    live = {versions[i] for a, b in sparse["live"] for i in range(a, b + 1)}
    used = {versions[i] for a, b in sparse["spans"] for i in range(a, b + 1)}
    assert {"1.0.0", "1.0.3"} <= live and "1.0.4" not in live and {"1.0.4", "1.2.1"} <= used
    # 0.x releases are read too: they imported pytorch_lightning, 1.x imports lightning.
    assert versions[0] == "0.7.0"
    old = data["uses"]["pytorch_lightning"]["spans"]
    assert versions[old[-1][1]].startswith("0.")
    assert data["aliases"]["np"] == "numpy"
    # Every name the pinned release still uses is on its cited line of the pinned tree.
    last = len(versions) - 1
    def site_release(entry: dict) -> int:  # the last unguarded use's, else the last use's
        live = entry.get("live", entry["spans"])
        return live[-1][1] if live else entry["spans"][-1][1]

    current = {n: e for n, e in data["uses"].items() if site_release(e) == last}
    assert len(current) > 300
    wrong = []
    for name, entry in current.items():
        path, line = entry["site"][:2]
        text = pinned_tree.to_disk(path).read_text(encoding="utf-8").splitlines()[line - 1]
        if name.rsplit(".", 1)[-1] not in text:
            wrong.append((name, path, line))
    assert wrong == []


def test_the_pack_and_history_say_when_scvi_tools_stopped_using_it(capsys, pinned_tree):
    assert resolve_docs.main(["--tree", str(pinned_tree.root), KEYARRAY]) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if "jax.random.KeyArray (jax's" in line)
    assert note.startswith("(release history)") and "1.5.0-1.5.1" in note
    # The error-text line points at it instead of the generic "likely a dependency" advice.
    assert "(error text) Python's own message for another package's name" in out
    assert "likely comes from a dependency" not in out
    assert search_source.main(["--history", "jax.random.KeyArray"]) == 0
    assert "not used by" in capsys.readouterr().out
    assert search_source.main(["--json", "--history", "jax.random.KeyArray"]) == 0
    report = json.loads(capsys.readouterr().out)
    use = report["dependency_use"]
    assert use["still_used"] is False and use["last_release"] == "1.4.3"
    assert use["unguarded_releases"] == "" and use["still_unguarded"] is False
    assert use["site"].startswith("src/scvi/external/mrvi_jax/")
    # An alias resolves as the releases' imports bind it; nothing found exits 1.
    assert search_source.main(["--json", "--history", "np.ndarray"]) == 0
    assert json.loads(capsys.readouterr().out)["dependency_use"]["name"] == "numpy.ndarray"
    assert search_source.main(["--history", "pkg_resources.packaging"]) == 1
    assert "and no release 0.7.0 to 1.5.1 uses it as another package's name" in \
        capsys.readouterr().out


@pytest.mark.parametrize("damage", [b"not gzip", gzip.compress(b'{"format": 99}')])
def test_a_damaged_file_leaves_the_pack_without_the_line(tmp_path, monkeypatch, capsys, damage):
    import scvi_skill.runtime.apifiles as apifiles

    folder = tmp_path / "api"
    shutil.copytree(API_DIR, folder)  # the rest of the API files as shipped
    (folder / DEPENDENCY_USES_FILE).write_bytes(damage)
    monkeypatch.setattr(apifiles, "API_DIR", folder)
    monkeypatch.setenv("SCVI_SKILL_NO_LOAD_CACHE", "1")
    assert dependency_use_facts(KEYARRAY) == []
    assert "no dependency history" in capsys.readouterr().err
    # --history still answers from the API history, with one warning on stderr.
    assert search_source.main(["--history", "scvi.model.SCVI.train"]) == 0
    out, err = capsys.readouterr()
    assert "scvi.model.SCVI.train: in scvi-tools" in out and "no dependency history" in err
    assert search_source.main(["--history", "jax.random.KeyArray"]) == 1
    assert "no public name, keyword or requirement" in capsys.readouterr().out
    assert (API_DIR / DEPENDENCY_USES_FILE).is_file()

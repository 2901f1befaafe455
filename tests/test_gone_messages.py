"""Messages earlier releases raised and the pinned one does not: built into the API history
from each release's raise/warn/log sites, matched when a paste matches no pinned site, and
turned into a release-history line, a search_source.py --message find and a ranking boost
for the release notes of the release where the message went."""

from __future__ import annotations

import gzip
import json

import resolve_docs
import search_source
from scvi_skill.build.api_releases import (
    GONE_MESSAGES,
    MESSAGES,
    build_gone_messages,
    build_history,
    release_outputs,
)
from scvi_skill.runtime.history import gone_message

LIFTED = "scArches currently does not support models with extra categorical covariates."


def release(version: str, messages: dict) -> dict:
    return {"version": version, "namespaces": {}, "symbols": {}, MESSAGES: messages}


def test_the_messages_the_last_release_lacks_get_their_own_file():
    site = ["src/scvi/a.py", 3, "raise", "ValueError"]
    releases = [
        release("1.0.0", {"Old check no longer made here.": site, "kept message stays on": site,
                          "too short": site}),
        release("1.1.0", {"Old check no longer made here.": [*site[:1], 9, *site[2:]],
                          "kept message stays on": site}),
        release("1.2.0", {"kept message stays on": site})]
    early = [{"version": "0.9.0", MESSAGES: {"Old check no longer made here.": site}}]
    gone = build_gone_messages(early + releases)
    assert gone["versions"] == ["0.9.0", "1.0.0", "1.1.0", "1.2.0"]
    assert gone["messages"] == {"Old check no longer made here.": {
        "spans": [[0, 2]], "site": ["src/scvi/a.py", 9, "raise", "ValueError"]}}
    # The per-release index files and the history leave the messages out; their file has them.
    outputs = release_outputs(releases, early)
    assert all(MESSAGES not in json.loads(gzip.decompress(data))
               for name, data in outputs.items() if name.endswith(".gz"))
    assert json.loads(outputs[GONE_MESSAGES]) == gone
    assert build_history(releases)["versions"] == ["1.0.0", "1.1.0", "1.2.0"]


def test_a_paste_of_a_message_that_went_is_placed_in_its_releases():
    gone = gone_message(f"load_query_data fails: NotImplementedError: {LIFTED}")
    assert gone["template"] == LIFTED and gone["exception"] == "NotImplementedError"
    # 0.15.3 added the check (its CHANGELOG says so); 1.2.0 lifted it.
    assert gone["releases"] == "0.15.3-1.1.6.post2" and gone["gone_since"] == "1.2.0"
    assert gone["before"] == ""  # not from the history's first release (0.7.0) on
    # A message of 0.x releases only: the messages' history reaches back before the API's.
    old = gone_message("ValueError: Latent mode not supported when use_size_factor_key is False")
    assert (old["releases"], old["gone_since"]) == ("0.18.0-0.19.0", "0.20.0")
    # A message the pinned release raises, and text that is no error, get nothing.
    assert gone_message("ValueError: Progress bar style must be in ['rich', 'tqdm']") is None
    assert gone_message(f"how do I map a query? {LIFTED.lower()}") is None


def test_the_pack_says_when_the_message_went_and_brings_that_releases_note(capsys, pinned_tree):
    question = (f"Mapping my query onto an scVI reference with SCVI.load_query_data stops with "
                f"NotImplementedError: {LIFTED} Is that still so?")
    assert resolve_docs.main(["--tree", str(pinned_tree.root), question]) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("(release history)"))
    assert "NotImplementedError" in note and "went in 1.2.0" in note
    assert "no raise or warning site" not in out
    assert "Add support for categorial covariates in scArches" in out  # 1.2.0's note


def test_search_source_message_reports_the_earlier_releases_site(capsys):
    assert search_source.main(["--json", "--message", LIFTED]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gone_message"]["gone_since"] == "1.2.0"
    assert f"fetch_tree.py --version {report['gone_message']['last']}" in report["next"][0]
    assert search_source.main(["--message", LIFTED]) == 0
    assert "(release history)" in capsys.readouterr().out.splitlines()[1]


def test_history_keeps_the_defaults_that_changed():
    def with_param(version: str, default) -> dict:
        param = {"name": "mode", "kind": "KEYWORD_ONLY"}
        if default is not None:
            param["default"] = default
        return {"version": version, "namespaces": {"scvi.model.M.de": "M.de"},
                "symbols": {"M.de": {"kind": "method", "params": [param]}}, MESSAGES: {}}

    history = build_history([with_param("1", "'change'"), with_param("2", "'change'"),
                             with_param("3", "'vanilla'")])
    assert history["defaults"] == {"scvi.model.M.de": {"mode": [["'change'", 0, 1],
                                                                ["'vanilla'", 2, 2]]}}
    same = build_history([with_param("1", "'x'"), with_param("2", "'x'")])
    assert same["defaults"] == {}


def test_a_changed_default_of_a_written_out_method_is_a_release_history_line(capsys, pinned_tree):
    from scvi_skill.runtime.history import default_facts
    from scvi_skill.runtime.index import load_search_index

    sidx = load_search_index()
    upgrade = "after upgrading scvi-tools my SCVI.differential_expression results changed"
    assert default_facts(upgrade, sidx) == [
        "SCVI.differential_expression(mode=...) default: 'change' in 1.0.0-1.3.0; 'vanilla' "
        "in 1.3.1-" + sidx["scvi_tools_version"] + " (as each release's source writes it)"]
    assert default_facts("SCVI.differential_expression(groupby='cell_type') for two groups",
                         sidx) == []  # neither the parameter nor a change
    assert default_facts("what does mode do in SCVI.differential_expression?", sidx)
    # required -> None is plumbing, not behaviour: nothing for scvi.model.SCVI(adata)
    assert default_facts("after upgrading, scvi.model.SCVI(adata) behaves differently", sidx) == []
    assert resolve_docs.main(["--tree", str(pinned_tree.root), upgrade]) == 0
    assert "(release history) SCVI.differential_expression(mode=...)" in capsys.readouterr().out


def test_the_history_is_read_only_when_a_changed_default_may_be_meant(monkeypatch):
    """The search index lists each callable's parameters whose default changed: a question
    that writes out SCVI.differential_expression but names none of them and no change gets
    its (empty) answer without decoding the API history (about 11 ms, 44 of the first 120
    dev questions); naming one, or a change, still reads it."""
    from scvi_skill.runtime import history
    from scvi_skill.runtime.index import load_search_index

    sidx = load_search_index()
    assert "mode" in sidx["gone"]["default_params"]["scvi.model.SCVI.differential_expression"]
    read = []
    real = history._history_quietly
    monkeypatch.setattr(history, "_history_quietly", lambda: read.append(1) or real())
    history._DEFAULTS_SEEN.clear()
    assert history.default_facts("SCVI.differential_expression(groupby='cell_type') here",
                                 sidx) == [] and read == []
    assert history.default_facts("what does mode do in SCVI.differential_expression?", sidx)
    assert read == [1]
    assert history.default_facts("after upgrading, SCVI.differential_expression changed", sidx)
    assert read == [1, 1]


def test_history_lists_the_defaults_that_changed(capsys):
    assert search_source.main(["--history", "scvi.model.SCVI.differential_expression"]) == 0
    out = capsys.readouterr().out
    assert "defaults that changed" in out and "mode: 'change' in 1.0.0-1.3.0; 'vanilla' in" in out
    assert search_source.main(["--json", "--history", "scvi.model.SCVI.differential_expression"]) == 0
    row = json.loads(capsys.readouterr().out)["names"][0]
    assert row["defaults"]["mode"].startswith("'change' in 1.0.0-1.3.0")


def test_an_early_release_archive_is_checked_and_written_whole(tmp_path, monkeypatch):
    """0.x sdists come straight from the index's simple page (pip cannot prepare their
    metadata any more): the page's sha256 is checked and a mismatch leaves no file."""
    import hashlib
    import io
    import sys
    import urllib.request
    from pathlib import Path

    import pytest

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import build_api_index
    from scvi_skill.runtime.errors import FetchError

    data = b"an sdist"
    good = hashlib.sha256(data).hexdigest()

    def serve(digest):
        page = (f'<a href="https://files.example/p/scvi-tools-0.9.0.tar.gz#sha256={digest}">'
                "scvi-tools-0.9.0.tar.gz</a>").encode()
        answers = iter([page, data])
        monkeypatch.setattr(urllib.request, "urlopen",
                            lambda url, timeout=None: io.BytesIO(next(answers)))

    serve(good)
    archive = build_api_index._download_archive("0.9.0", tmp_path)
    assert archive.name == "scvi-tools-0.9.0.tar.gz" and archive.read_bytes() == data
    archive.unlink()
    serve("0" * 64)
    with pytest.raises(FetchError, match="sha256"):
        build_api_index._download_archive("0.9.0", tmp_path)
    assert list(tmp_path.iterdir()) == []
    serve(good)
    with pytest.raises(FetchError, match="no sdist"):
        build_api_index._download_archive("0.9.1", tmp_path)


def test_a_since_when_question_gets_the_release_its_name_or_keyword_came_in():
    from scvi_skill.runtime.history import since_facts
    from scvi_skill.runtime.index import load_search_index

    sidx = load_search_index()
    # 1.1.x called it data_module: the keyword as written came in 1.2.0.
    assert since_facts("Since which version does SCVI.train accept datamodule?", sidx) == [
        "SCVI.train(datamodule=...): taken since 1.2.0"]
    assert since_facts("when was scvi.external.SysVI added?", sidx) == [
        "scvi.external.SysVI: in scvi-tools since 1.3.0"]
    # A name in capitals is no identifier candidate, only a public name the index resolves
    # (session 43: nothing was said); one that came and went says so.
    assert since_facts("Since which version does scvi-tools have MRVI?", sidx) == [
        "scvi.external.MRVI: in scvi-tools since 1.2.0; before that in 1.1.4 only"]

    # Not a since-when question; and a name the history's first release already had says
    # nothing about when it came.
    assert since_facts("how do I use datamodule with SCVI.train?", sidx) == []
    assert since_facts("which version added SCVI.setup_anndata?", sidx) == []


def test_history_names_the_releases_between_a_names_runs(capsys):
    """Round 94's skill agent read ``in scvi-tools 1.1.4, 1.2.0-1.5.1`` as one run and wrote
    that MRVI was there "from 1.1.4 to 1.3.3"; the gap is now written out."""
    import search_source

    assert search_source.main(["--history", "MRVI"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("scvi.external.MRVI: in scvi-tools 1.1.4, 1.2.0-1.5.1 "
                            "(not in 1.1.5-1.1.6.post2); still in 1.5.1")

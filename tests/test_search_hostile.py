"""search_source.py on bad regular expressions and bad index files (issue 13: D10, D11)."""

from __future__ import annotations

import json

import pytest
import search_source
from scvi_skill.runtime.errors import EXIT_INDEX, EXIT_USAGE


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        pytest.param("(", "unclosed group", id="unclosed"),
        pytest.param("(?<=x)a", "look-around", id="lookbehind"),
        pytest.param("(?=x)", "look-around", id="lookahead"),
        pytest.param(r"(a)\1", "backreferences", id="backreference"),
    ],
)
def test_bad_regex_is_a_usage_error_with_rgs_whole_reason(pinned_tree, rg_binary, monkeypatch,
                                                           capsys, pattern, reason):
    """D10: exit 1 ("no result") with the reason cut off; now exit 2 and rg's explanation."""
    monkeypatch.setenv("SCVI_SKILL_RG", rg_binary)
    code = search_source.main(["--pattern", pattern, "--tree", str(pinned_tree.root)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "regex parse error" in err and reason in err
    assert sum(line.startswith("Error:") for line in err.splitlines()) == 1


@pytest.mark.parametrize(
    "index",
    [
        pytest.param({"format": 1, "symbols": "x"}, id="symbols-str"),
        pytest.param({"format": 1, "symbols": [1]}, id="symbol-int"),
        pytest.param({"format": 1, "symbols": [{"qualname": "a", "params": [1]}]}, id="param-int"),
        pytest.param({"format": 1, "symbols": [], "namespaces": ["x"]}, id="namespaces-list"),
    ],
)
@pytest.mark.parametrize("mode", ["--symbol", "--kwarg"])
def test_malformed_index_exits_6(pinned_tree, rg_binary, monkeypatch, tmp_path, capsys, index,
                                 mode):
    """D11: ``--index BAD.json`` gave a TypeError; resolve_docs.py exits 6 on it, so must this."""
    monkeypatch.setenv("SCVI_SKILL_RG", rg_binary)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(index))
    name = "SCVI" if mode == "--symbol" else "n_latent"
    code = search_source.main([mode, name, "--index", str(bad), "--tree", str(pinned_tree.root)])
    err = capsys.readouterr().err
    assert code == EXIT_INDEX
    assert "unexpected layout" in err and "Traceback" not in err


@pytest.mark.parametrize(("option", "value", "example"), [
    ("--symbol", "(((", "SCVI.setup_anndata"),
    ("--kwarg", "a|b", "early_stopping_patience"),
    ("--usages", "`x y`", "SCVI.setup_anndata"),
])
def test_a_name_option_that_is_no_python_name_quotes_the_value_as_given(
        capsys, option, value, example):
    """The usage error quoted the value after stripping backticks and parentheses ("got ''"
    for "((("), and gave class names as the example of a parameter name."""
    assert search_source.main([option, value]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert repr(value) in err and example in err and err.count("\n") == 1


def test_rg_lines_with_thousands_of_submatches_are_parsed_in_linear_time():
    """A generated line with 100,000 matches (a minified file): the spans kept are bounded and
    an ASCII line's byte offsets are its character offsets (a decode per span was quadratic:
    minutes for a 4 MB line)."""
    import json as _json

    from scvi_skill.runtime.rg import MAX_SPANS, parse_rg_json

    line = "n_latent" * 100_000
    subs = [{"start": 8 * n, "end": 8 * n + 8} for n in range(100_000)]
    record = {"type": "match", "data": {"path": {"text": "a.py"}, "lines": {"text": line},
                                        "line_number": 1, "submatches": subs}}
    [parsed] = parse_rg_json(_json.dumps(record))
    assert len(parsed.spans) == MAX_SPANS and parsed.spans[1] == (8, 16)
    accented = {"type": "match", "data": {"path": {"text": "a.py"}, "lines": {"text": "é x"},
                                          "line_number": 1,
                                          "submatches": [{"start": 3, "end": 4}]}}
    assert parse_rg_json(_json.dumps(accented))[0].spans == [(2, 3)]


def test_a_line_break_in_a_pattern_is_a_usage_error(capsys, pinned_tree, rg_binary):
    import search_source

    code = search_source.main(["--pattern", "a\\nb", "--tree", str(pinned_tree.root)])
    err = capsys.readouterr().err
    assert code == 2 and "within one line" in err and "multiline" not in err


@pytest.mark.parametrize("script", ["search_source --symbol", "search_source --message",
                                    "resolve_docs"])
def test_an_index_path_the_system_refuses_is_one_message_exit_2_in_both_scripts(
        pinned_tree, rg_binary, monkeypatch, tmp_path, capsys, script):
    """``--index`` given a symlink loop: search_source.py warned and searched on (exit 0),
    resolve_docs.py called it an unreadable shipped index (exit 6); both now treat it as any
    path the system refuses (errors.bad_path): one Error line, exit 2."""
    import resolve_docs

    monkeypatch.setenv("SCVI_SKILL_RG", rg_binary)
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    if script == "resolve_docs":
        code = resolve_docs.main(["--index", str(loop), "batch_key"])
    else:
        mode = script.split()[1]
        code = search_source.main([mode, "SCVI", "--index", str(loop),
                                   "--tree", str(pinned_tree.root)])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE and out == ""
    assert err.count("Error:") == 1 and "Warning" not in err and "Traceback" not in err
    assert f"cannot use the path {str(loop)!r}" in err

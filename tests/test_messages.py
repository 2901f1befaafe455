"""The message index (build/source/messages.py), its matcher (runtime/messages.py) and
search_source.py --message: templates from every way scvi-tools builds a message, tolerant
matching of pasted text, bad input, and the shipped index against real 1.5.1 pastes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import search_source
from scvi_skill.build.refresh import dump_json
from scvi_skill.build.source.messages import build_messages, module_messages
from scvi_skill.runtime import messages
from scvi_skill.runtime.paths import REFERENCES_DIR
from scvi_skill.runtime.schema import MESSAGES_FORMAT, MessageRow
from scvi_skill.runtime.tree import open_tree

FIXTURES = Path(__file__).parent / "fixtures"
REAL_PASTES = FIXTURES / "messages" / "real_pastes.jsonl"

SOURCE = textwrap.dedent('''
    import logging
    import warnings

    logger = logging.getLogger(__name__)
    IMPORT_MSG = "Please install jax with `pip install scvi-tools[jax]`."


    class LayerField:
        def transfer_field(self, adata_target, n_vars):
            target_n_vars = adata_target.n_vars
            if target_n_vars != n_vars:
                raise ValueError(
                    "Number of vars in `adata_target` not the same as source. "
                    + f"Expected: {n_vars} Received: {target_n_vars}"
                )

        def check(self, key, mode):
            if mode == "a":
                pass
            elif mode == "b":
                raise KeyError("{} not found in adata.{}.".format(key, "obs"))
            else:
                raise ValueError("mode must be %s or %s, got %r" % ("a", "b", mode))


    def load(path, strict):
        msg = f"Could not load {path}."
        if strict:
            msg += " Set strict=False to skip."
        if not path:
            raise RuntimeError(msg)
        try:
            import jax
        except ImportError:
            raise ImportError(IMPORT_MSG) from None
        assert path.endswith(".pt"), f"{path} is not a model file"
        warnings.warn("dispersion is ignored for {{braces}}", FutureWarning, stacklevel=2)
        logger.warning("Found %d cells with zero counts", 12)
        logger.info(f"Found {ratio * 100}% reference vars in query data.")
        logger.info(f"Training for {max_epochs} epochs.")
        raise ValueError(path)
''')


def _sites(source: str = SOURCE) -> dict[int, MessageRow]:
    rows, _ = module_messages("src/scvi/data/fields/_layer_field.py", source)
    return {row.line: row for row in rows}


def _line(text: str) -> int:
    return next(i for i, line in enumerate(SOURCE.splitlines(), 1) if text in line)


# ------------------------------------------------------------------ build


def test_concatenation_and_fstring_keep_static_text_with_named_placeholders():
    row = _sites()[_line("raise ValueError(")]
    assert row.kind == "raise" and row.exception == "ValueError"
    assert row.template == ("Number of vars in `adata_target` not the same as source. "
                            "Expected: {n_vars} Received: {target_n_vars}")
    assert row.function == "scvi.data.fields._layer_field.LayerField.transfer_field"
    assert row.condition == "target_n_vars != n_vars"


def test_format_percent_and_elif_else_conditions():
    sites = _sites()
    key = sites[_line("raise KeyError")]
    assert key.template == '{key} not found in adata.{"obs"}.'
    assert key.condition == 'mode == "b"'
    bad = sites[_line("mode must be")]
    assert bad.template == 'mode must be {"a"} or {"b"}, got {mode}'
    assert bad.condition == 'not (mode == "a" or mode == "b")'


def test_message_variable_with_augmented_text_and_module_constant():
    sites = _sites()
    runtime = sites[_line("raise RuntimeError(msg)")]
    assert runtime.template == "Could not load {path}. Set strict=False to skip."
    assert runtime.condition == "not path"
    imported = sites[_line("raise ImportError(IMPORT_MSG)")]
    assert imported.template == "Please install jax with `pip install scvi-tools[jax]`."
    assert imported.condition == "except ImportError"


def test_assert_warning_and_lazy_log_formatting():
    sites = _sites()
    check = sites[_line("assert path.endswith")]
    assert (check.exception, check.condition) == ("AssertionError", 'not (path.endswith(".pt"))')
    warn = sites[_line("warnings.warn")]
    assert (warn.kind, warn.exception) == ("warn", "FutureWarning")
    assert warn.template == "dispersion is ignored for {{{{braces}}}}"  # literal braces doubled
    log = sites[_line("logger.warning")]
    assert (log.kind, log.exception, log.template) == (
        "log", "logger.warning", "Found {12} cells with zero counts")


def test_info_lines_are_indexed_only_with_enough_static_words():
    """Users paste the INFO lines of their logs ("Found 0.0% reference vars"); a short
    progress line ("Training for 400 epochs.") would match any question sharing two words."""
    sites = _sites()
    found = sites[_line("reference vars")]
    assert (found.kind, found.exception, found.template) == (
        "log", "logger.info", "Found {ratio * 100}% reference vars in query data.")
    assert _line("Training for") not in sites


def test_print_lines_are_indexed_with_enough_static_words_and_their_arguments_joined():
    """TrainRunner prints "Exception raised during training." with the class NameError and the
    real error before any training error propagates; users paste that line."""
    source = textwrap.dedent('''
        def fit(self, e, sep_value):
            try:
                self.trainer.fit()
            except BaseException as e:
                print("Exception raised during training.", NameError, e)
            print("Computing DE...")
            print("a", "b", sep=sep_value)
            print(*parts)
    ''')
    rows, _ = module_messages("src/scvi/train/_trainrunner.py", source)
    assert [(r.kind, r.exception, r.template, r.condition) for r in rows] == [
        ("print", "stdout", "Exception raised during training. {NameError} {e}",
         "except BaseException")]


def test_print_sites_are_found_but_do_not_change_other_messages_word_weights(tmp_path):
    row = ["src/scvi/a.py", 3, "raise", "ValueError", "f", "", "Key batch not found in adata.obs."]
    printed = ["src/scvi/b.py", 9, "print", "stdout", "g", "except BaseException",
               "Exception raised during training. {NameError} {e}"]
    fields = list(MessageRow._fields)
    alone = messages.MessageIndex({"fields": fields, "sites": [row]})
    both = messages.MessageIndex({"fields": fields, "sites": [row, printed]})
    assert both.idf["batch"] == alone.idf["batch"] and both.unknown_idf == alone.unknown_idf
    assert both.idf["training"] == both.unknown_idf
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({"format": MESSAGES_FORMAT, "fields": fields,
                                "sites": [row, printed]}), encoding="utf-8")
    found = messages.match_messages(
        "Exception raised during training. <class 'NameError'> CUDA out of memory", 3,
        min_score=0.0, path=path)
    assert found and (found[0]["path"], found[0]["line"]) == ("src/scvi/b.py", 9)


def test_sites_without_static_text_are_left_out():
    rows, skipped = module_messages("src/scvi/x.py", SOURCE)
    assert _line("raise ValueError(path)") not in {r.line for r in rows}
    assert skipped >= 1


def test_build_on_a_tree_is_deterministic_and_says_it_is_generated(tmp_path):
    src = tmp_path / "tree" / "src" / "scvi" / "data" / "fields"
    src.mkdir(parents=True)
    (src / "_layer_field.py").write_text(SOURCE)
    (tmp_path / "tree" / "src" / "scvi" / "__init__.py").write_text("")
    (tmp_path / "tree" / "src" / "scvi" / "_bad.py").write_text("def (:\n")
    (tmp_path / "tree" / "PKG-INFO").write_text("Name: scvi-tools\nVersion: 9.9.9\n")
    (tmp_path / "tree" / "docs").mkdir()
    tree = open_tree(tmp_path / "tree", need_docs=False)
    first, result = build_messages(tree, "generated by test")
    second, _ = build_messages(tree, "generated by test")
    assert dump_json(first, compact=True) == dump_json(second, compact=True)
    assert next(iter(json.loads(dump_json(first)))) == "_generated"
    assert first["format"] == MESSAGES_FORMAT and first["fields"] == list(MessageRow._fields)
    assert [p.path for p in result.problems] == ["src/scvi/_bad.py"]
    assert all(s[0] == "src/scvi/data/fields/_layer_field.py" for s in first["sites"])


# ------------------------------------------------------------------ matching


@pytest.fixture()
def index_dir(tmp_path) -> Path:
    rows, _ = module_messages("src/scvi/data/fields/_layer_field.py", SOURCE)
    data = {"_generated": "generated by test", "format": MESSAGES_FORMAT,
            "scvi_tools_version": "9.9.9", "fields": list(MessageRow._fields),
            "sites": [list(r) for r in rows]}
    (tmp_path / "messages.json").write_bytes(dump_json(data, compact=True))
    (tmp_path / "index.json").write_text("{}")
    return tmp_path


def _top(text: str, folder: Path, limit: int = 3) -> list[dict]:
    return messages.match_messages(text, limit, path=folder / "messages.json")


@pytest.mark.parametrize("paste", [
    pytest.param("Number of vars in adata_target not the same as source. Expected: 16964 "
                 "Received: 5000", id="values-no-backticks"),
    pytest.param("ValueError: Number of vars in `adata_target` not the same as source. "
                 "Expected: 2000 Received: 1999", id="with-class"),
    pytest.param('Traceback (most recent call last):\n  File "x.py", line 3, in <module>\n'
                 "    model = SCVI.load('m', adata)\n  File \"/env/scvi/_layer_field.py\", "
                 'line 12, in transfer_field\n    raise ValueError(\nValueError: Number of vars '
                 "in `adata_target` not the same\nas source. Expected: 3 Received: 4\n",
                 id="traceback-wrapped"),
    pytest.param("not the same as source. Expected: 3", id="partial"),
    pytest.param("I load my model and get ValueError: Number of vars in adata_target not the "
                 "same as source. What should I do?", id="inside-a-question"),
])
def test_pasted_text_finds_the_raise_site(index_dir, paste):
    top = _top(paste, index_dir)
    assert top and top[0]["template"].startswith("Number of vars")
    assert top[0]["condition"] == "target_n_vars != n_vars"
    assert set(top[0]) == {"path", "line", "kind", "exception", "function", "condition",
                           "template", "score"}


def test_values_in_placeholders_score_a_whole_paste_near_one(index_dir):
    whole = _top("mode must be a or b, got 'c'", index_dir)[0]
    part = _top("mode must be a or", index_dir)[0]
    assert whole["template"].startswith("mode must be") and whole["score"] >= 0.95
    assert part["template"].startswith("mode must be") and part["score"] < whole["score"]


def test_regex_characters_in_the_paste_are_plain_text(index_dir):
    assert _top("(.*[ ?+ {0} \\d ^$", index_dir, 5) == []
    assert _top("Could not load (.*). Set strict=False to skip.", index_dir)[0]["kind"] == "raise"


def test_clean_message_drops_class_traceback_quotes():
    cleaned = messages.clean_message(
        "---------\nKeyError    Traceback (most recent call last)\nCell In[3], line 1\n"
        "----> 1 model.train()\nKeyError: \"'celltype' not found in adata.obs.\"")
    assert cleaned.exceptions == {"KeyError"}
    assert "Traceback" not in cleaned.text and "model.train" not in cleaned.text
    assert messages.words_of(cleaned.text) == ["celltype", "not", "found", "in", "adata", "obs"]


def test_looks_like_error():
    assert messages.looks_like_error("get TypeError: register_fields() got unexpected keyword")
    assert messages.looks_like_error("it says 'Number of vars in adata_target not the same'")
    assert messages.looks_like_error("Traceback (most recent call last):\n  File ...")
    assert not messages.looks_like_error("Should donor go in batch_key or covariates?")
    assert not messages.looks_like_error("how do I compute the reconstruction error")
    assert not messages.looks_like_error("it says 'three words here' only")
    assert messages.looks_like_error("it says `four words are here`, then")
    # log lines as scvi-tools' rich handler and Python's default logging print them
    assert messages.looks_like_error("INFO     Found 0.0% reference vars in query data.")
    assert messages.looks_like_error("then INFO:scvi.model.base._archesmixin:Found 0.0%")
    assert messages.looks_like_error("WARNING  Found batches with missing protein")
    assert not messages.looks_like_error("how do I set the INFO level of the logger")


def test_an_info_line_pasted_as_context_reports_no_failure(capsys, pinned_tree):
    """An INFO line is looked up as a message, but by itself it says nothing went wrong: no
    note may call it an error from a dependency (scvi-tools logs "Training for 8 epochs."
    itself, a line too short to index)."""
    from scvi_skill.runtime.errortext import reports_failure

    info = "INFO     Training for 8 epochs. why so few on my 1M cell atlas?"
    assert messages.looks_like_error(info) and not reports_failure(info)
    assert reports_failure("WARNING  Found batches with missing protein expression")
    assert reports_failure("INFO     Training for 8 epochs. then it crashed")
    import resolve_docs

    assert resolve_docs.main(["--tree", str(pinned_tree.root), info]) == 0
    assert "(error text)" not in capsys.readouterr().out


def test_reports_failure_tells_a_message_from_quoted_code():
    """Quoted text is a message only when the question says something failed or showed it:
    a how-to question that quotes a call or an option is not one."""
    from scvi_skill.runtime.errortext import reports_failure

    assert reports_failure("TypeError: register_fields() got unexpected keyword 'x'")
    assert reports_failure("on my old install I get 'unexpected keyword argument batch_key'")
    assert reports_failure("Training MrVI prints 'Jax module moved to cuda:0 now'")
    assert reports_failure("training blew up with 'The parameter loc has invalid values'")
    assert reports_failure("it fails with `missing argument unlabeled_category here`")
    assert not reports_failure("`model.differential_expression(idx1=a, idx2=b, weights='importance')`"
                               " runs for hours; is there a faster way?")
    assert not reports_failure("how do I tell from the 'negative ELBO over epochs' plot whether "
                               "the model has trained enough?")
    assert not reports_failure("I get rho easily with `model.get_normalized_expression(adata, "
                               "n_samples=10)`, but how do I get the mean?")
    assert not reports_failure("Say I add `distributed_sampler=True` to the make_data_loader "
                               "arguments, does it work?")
    assert not reports_failure("the training failed")  # nothing quoted: nothing to match


def test_looks_like_error_is_linear_on_an_unclosed_quote():
    """The old test (nested repeats after a quote) backtracked exponentially: 60 words after
    an apostrophe took hours. Run in a child with a timeout far above the linear time."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'scripts');"
            "from scvi_skill.runtime.errortext import looks_like_error;"
            "print(looks_like_error(\"it's \" + 'word ' * 60 + 'end'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "False", done.stderr


# ------------------------------------------------------------------ CLI


def run(capsys, *argv):
    code = search_source.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_shape(capsys, index_dir):
    code, out, _ = run(capsys, "--message", "ValueError: Number of vars in adata_target not "
                       "the same as source. Expected: 1 Received: 2", "--json",
                       "--index", str(index_dir / "index.json"), "--limit", "2")
    report = json.loads(out)
    assert code == 0 and set(report) >= {"query", "matches"}
    assert report["query"].startswith("Number of vars")  # the class is stripped
    assert len(report["matches"]) <= 2 and report["matches"][0]["kind"] == "raise"


def test_cli_text_shows_condition(capsys, index_dir):
    code, out, _ = run(capsys, "--message", "Could not load model.pt. Set strict=False to skip.",
                       "--index", str(index_dir / "index.json"), "--tree", str(index_dir))
    assert code == 4  # an explicit --tree that is no scvi-tools tree is an error
    code, out, _ = run(capsys, "--message", "Could not load model.pt. Set strict=False to skip.",
                       "--index", str(index_dir / "index.json"))
    assert code == 0 and "when: not path" in out and "RuntimeError" in out


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_cli_empty_message_is_a_usage_error(capsys, index_dir, text):
    code, out, err = run(capsys, "--message", text, "--index", str(index_dir / "index.json"))
    assert code == 2 and "empty" in err and err.startswith("Error:") and out == ""


def test_cli_nothing_matches_exits_1(capsys, index_dir):
    code, out, _ = run(capsys, "--message", "CUDA error: initialization error", "--json",
                       "--index", str(index_dir / "index.json"))
    assert code == 1 and json.loads(out)["matches"] == []


def test_cli_python_s_own_message_points_at_the_code_reading_its_name(capsys, index_dir):
    """Python's own AttributeError/KeyError: no scvi-tools statement raises it, so --message
    says so and gives the --pattern that finds the code reading the attribute or the key (a
    key also as the constant holding it: the pattern ignores case)."""
    code, out, _ = run(capsys, "--message", "AttributeError: 'builtin_function_or_method' "
                       "object has no attribute 'squeeze'", "--json",
                       "--index", str(index_dir / "index.json"))
    report = json.loads(out)
    assert report["python_message"] == [{"kind": "attribute", "name": "squeeze",
                                         "pattern": r"\.squeeze\b"}]
    assert report["next"][-1].endswith("--pattern '\\.squeeze\\b'")
    code, out, _ = run(capsys, "--message", "KeyError: 'setup_method_name'",
                       "--index", str(index_dir / "index.json"))
    assert "Python's own message (no scvi-tools statement raises it)" in out
    assert "--pattern '(?i)setup_method_name'" in out
    code, out, _ = run(capsys, "--message", "CUDA error: initialization error", "--json",
                       "--index", str(index_dir / "index.json"))
    assert "python_message" not in json.loads(out)


def test_cli_long_message_is_cut_with_a_warning_and_still_matched(capsys, index_dir):
    values = " ".join(f"gene{i}" for i in range(2000))  # 10,000+ characters
    paste = f"ValueError: mode must be a or b, got {values}"
    assert len(paste) > 10_000
    code, out, err = run(capsys, "--message", paste, "--json",
                         "--index", str(index_dir / "index.json"))
    assert code == 0 and "Warning:" in err and "characters" in err
    assert json.loads(out)["matches"][0]["template"].startswith("mode must be")


def test_cli_missing_message_index_exits_6(capsys, tmp_path):
    code, _, err = run(capsys, "--message", "anything at all", "--index",
                       str(tmp_path / "index.json"))
    assert code == 6 and "message index" in err


# ------------------------------------------------------------------ shipped index (1.5.1)


def test_shipped_index_finds_the_issue_example():
    top = messages.match_messages("ValueError: Number of vars in adata_target not the same as "
                                  "source. Expected: 16964 Received: 5000", 3)
    assert top[0]["path"] == "src/scvi/data/fields/_layer_field.py"
    assert top[0]["score"] >= 0.95


def test_shipped_index_finds_real_pastes_of_1_5_1():
    """Errors recorded from real scvi-tools 1.5.1 calls (record_real_pastes.py), with and
    without the traceback: where the innermost scvi frame raises a message, that site (or one
    raising the same words) is in the top 3; a bare ``KeyError(key)`` or a Python error inside
    scvi matches nothing well enough for the pack."""
    index = messages.load_messages()
    words = {(s.row.path, s.row.line): s.key for s in index.sites}
    cases = [json.loads(line) for line in REAL_PASTES.read_text().splitlines()]
    with_site = [c for c in cases if (c["path"], c["line"]) in words]
    assert len(with_site) >= 12 and len(cases) > len(with_site)
    for case in cases:
        top = messages.match_messages(case["paste"], 3)
        want = words.get((case["path"], case["line"]))
        if want is None:
            assert all(m["score"] < messages.PACK_MIN_SCORE for m in top), case["case"]
        else:
            assert want in [words[m["path"], m["line"]] for m in top], case["case"]


def test_shipped_index_finds_a_pasted_info_line_of_a_log():
    top = messages.match_messages("INFO     Found 0.0% reference vars in query data.", 3)
    assert "src/scvi/model/base/_archesmixin.py" in [m["path"] for m in top]
    assert top[0]["score"] >= messages.PACK_MIN_SCORE


def test_shipped_index_states_every_test_a_nested_warning_needs(pinned_tree):
    """1.5.1's "cells moved from training set to validation set" (validate_data_split): its
    condition is the four tests around it, not ``n_val > 0`` alone, and the tree's lines hold
    each of them."""
    top = messages.match_messages("UserWarning: 2 cells moved from training set to validation "
                                  "set. if you want to avoid it please use train_size "
                                  "parameter during train.", 1)
    site = top[0]
    assert (site["path"], site["function"]) == (
        "src/scvi/dataloaders/_data_splitting.py",
        "scvi.dataloaders._data_splitting.validate_data_split")
    tests = site["condition"].split("; ")
    assert tests == ["batch_size is not None",
                     "(num_of_cells < 3 and num_of_cells > 0) and drop_last is False",
                     "train_size_is_none", "n_val > 0"]
    lines = (pinned_tree.root / site["path"]).read_text().splitlines()[: site["line"]]
    source = "\n".join(lines)
    for test in tests[:2] + tests[3:]:
        assert f"if {test}:" in source, test
    assert "if not train_size_is_none:" in source  # the else of it holds the warning


def test_shipped_index_is_current_format():
    data = json.loads((REFERENCES_DIR / "messages.json").read_text())
    assert data["format"] == MESSAGES_FORMAT and len(data["sites"]) > 500


def test_the_runtime_row_has_the_documented_fields_and_no_heavy_imports():
    """messages.py reads rows as a plain namedtuple of formats.MESSAGE_FIELDS; the documented
    contract (schema.MessageRow) must name the same fields in the same order, and the module
    must load without typing's or dataclasses' import cost."""
    import subprocess
    import sys

    from scvi_skill.runtime import messages
    from scvi_skill.runtime.schema import MessageRow

    assert messages.MessageRow._fields == MessageRow._fields
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import scvi_skill.runtime.messages; "
            "print(sorted({'dataclasses', 'typing', 'inspect'} & set(sys.modules)))")
    scripts = str(Path(messages.__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", code, scripts], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_package_getattr_site_matches_only_a_paste_that_names_its_package():
    """``module {__name__!r} has no attribute {name}`` is raised by the ``__getattr__`` of
    scvi.model, scvi.model.base, scvi.model.utils and scvi.module; Python raises the same words
    for any other module, so a paste about scvi.data matches none of them."""
    named = messages.match_messages("AttributeError: module 'scvi.model' has no attribute 'JaxSCVI'", 3)
    assert named and named[0]["function"] == "scvi.model.__getattr__"
    assert all(m["function"] != "scvi.model.base.__getattr__" for m in named)
    other = messages.match_messages(
        "AttributeError: module 'scvi.data' has no attribute 'setup_anndata'", 3)
    assert all(not m["function"].endswith(".__getattr__") for m in other)


# ------------------------------------------------------------------ echoed messages


def test_a_message_told_in_the_users_words_finds_its_site():
    """Not pasted, no exception named: the question repeats four words of the MPS warning in a
    row after "says"; the site is the warning in parse_device_args."""
    question = ("Can I train scVI on my M1 Mac GPU? When I train it just says accelerator set "
                "to cpu although mps exists.")
    assert not messages.looks_like_error(question)
    sites = messages.echoed_sites(question, 1)
    assert [(s["path"], s["kind"]) for s in sites] == [("src/scvi/model/_utils.py", "warn")]
    assert "although 'mps' exists" in sites[0]["template"] and 0 < sites[0]["score"] <= 1
    # Without a word saying it was told something, the same words are not a message.
    assert messages.echoed_sites(question.replace("it just says", "and the log shows"), 1) == []


def test_an_echo_needs_content_words_in_a_row_within_the_static_text(index_dir):
    """Four words in a row of which three are not stopwords, none across a placeholder
    ("Expected: {n_vars} Received: ..." has a hole between expected and received)."""
    path = index_dir / "messages.json"
    hit = messages.echoed_sites("it warns about 40 cells with zero counts", 1, path=path)
    assert [(s["kind"], s["template"]) for s in hit] == [("log", "Found {12} cells with zero counts")]
    assert messages.echoed_sites("it says it is not in the same as before", 1, path=path) == []
    assert messages.echoed_sites("it says as source expected received 3", 1, path=path) == []


@pytest.mark.parametrize("question", [
    "training says accelerator set to cpu although mps exists",  # retold: the echo path
    "ValueError: accelerator set to cpu although mps exists",  # pasted: the matcher
])
def test_a_missing_message_index_leaves_the_pack_without_sites_and_says_so(
        tmp_path, monkeypatch, capsys, question):
    """Both ways to a raise site read the message index; without it the pack gets no site and
    one warning on stderr, and nothing is raised."""
    from scvi_skill.runtime import pack

    monkeypatch.setattr(messages, "MESSAGES_PATH", tmp_path / "missing.json")
    assert pack.find_raise_sites(question) == []
    err = capsys.readouterr().err
    assert err.count("no raise sites") == 1 and "message index" in err


# ------------------------------------------------------------------ the class the text names


@pytest.mark.parametrize(("paste", "named"), [
    # Retold with a period after the class: the class was not taken from the text, and the
    # ValueError sites saying "{x} not found" ranked first at score 1.0.
    pytest.param("I get a KeyError. It says cell_type not found in adata.obs", "KeyError",
                 id="keyerror-prose"),
    # Named as the exception line, with the words of ValueError sites ("... is not in ..."):
    # its 0.05 bonus did not lift the KeyError sites over them.
    pytest.param("KeyError: celltype is not in adata.obs", "KeyError", id="keyerror-line"),
    pytest.param("it throws TypeError, saying `search_space` must be", "TypeError",
                 id="typeerror-prose"),
])
def test_a_site_of_the_class_the_text_names_comes_before_other_classes(paste, named):
    """A real 1.5.1 message retold with its class: no site raising another class comes first
    while a site raising the named one matches too."""
    top = messages.match_messages(paste, 5)
    assert top and top[0]["exception"] == named, [(m["exception"], m["path"]) for m in top]


def test_a_retold_class_weighs_less_than_the_words_a_printed_one_decides():
    """Retold ("I get a KeyError, saying ..."), the class is a bonus: the ValueError site whose
    message the words are wholly (data/_utils.py:113) stays first. Printed as Python prints
    it ("KeyError: ..."), no ValueError site can have raised it: the KeyError sites lead."""
    retold = messages.match_messages(
        "I get a KeyError, saying cell_type is not a valid key in adata.obs.", 5)
    assert (retold[0]["path"], retold[0]["line"], retold[0]["exception"]) == (
        "src/scvi/data/_utils.py", 113, "ValueError"), retold[0]
    printed = messages.match_messages("KeyError: cell_type is not a valid key in adata.obs.", 5)
    assert printed[0]["exception"] == "KeyError", printed[0]
    assert messages.clean_message("KeyError: x y").printed == {"KeyError"}
    assert messages.clean_message("I get a KeyError, saying x y").printed == frozenset()


def test_a_printed_class_may_lift_a_partial_paste_and_a_retold_one_lifts_nothing():
    """A class on an exception line adds its bonus to the score that must reach the pack's
    threshold (a partial paste of register_fields' TypeError finds its site); a class named
    only in prose, or in backticks mid-sentence, orders the sites and lifts none (a retold
    0.x UserWarning does not bring TOTALVI's protein warning, whose words differ)."""
    partial = messages.match_messages(
        "I call setup_anndata and get TypeError: register_fields() got unexpected keyword "
        "arguments. Where do I set nb?", 3, min_score=messages.PACK_MIN_SCORE)
    assert [(m["path"], m["line"]) for m in partial][:1] == [("src/scvi/data/_manager.py", 178)]
    retold = messages.match_messages(
        "Every run I get `UserWarning: Make sure the registered X field in anndata contains "
        "unnormalized count data.` Is it always printed?", 3, min_score=messages.PACK_MIN_SCORE)
    assert not any(m["path"] == "src/scvi/model/_totalvi.py" for m in retold), retold
    assert messages.clean_message("I get a KeyError, saying x y").told == {"KeyError"}
    assert messages.clean_message("KeyError: x y").told == frozenset()


def test_a_named_class_admits_its_built_in_subclasses_only():
    assert messages.raises_named("KeyError", {"LookupError"})
    assert messages.raises_named("ModuleNotFoundError", {"ImportError"})
    assert messages.raises_named("builtins.KeyError", {"KeyError"})
    assert not messages.raises_named("ValueError", {"KeyError"})
    assert not messages.raises_named("logger.info", {"KeyError"})
    assert not messages.raises_named("KeyError", {"MyOwnError"})


def test_the_class_is_taken_from_prose_but_not_from_a_traceback_s_code_lines():
    assert messages.clean_message("setup_anndata throws a KeyError, saying x").exceptions \
        == {"KeyError"}
    pasted = ('Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
              "    except KeyError:\nValueError: bad value\n")
    assert messages.clean_message(pasted).exceptions == {"ValueError"}


# ------------------------------------------------------------------ one message, several sites


def test_sites_of_one_message_the_text_does_not_tell_apart_are_marked_as_such():
    """Five fields raise "{key} not found in adata.{attr}."; the bare message fits each alike,
    so each is marked same_message and --message says the first is not known to be the one
    that raised it. A traceback's frame decides: then nothing is marked."""
    bare = messages.match_messages("KeyError: 'celltype not found in adata.obs.'", 8)
    assert messages.same_message(bare) == 5
    assert all(m.get("same_message") for m in bare[:5]) and "same_message" not in bare[5]
    case = next(c for c in map(json.loads, REAL_PASTES.read_text().splitlines())
                if c["case"] == "case_scanvi_missing_labels" and c["style"] == "traceback")
    framed = messages.match_messages(case["paste"], 8)
    assert (framed[0]["path"], framed[0]["line"]) == (case["path"], case["line"])
    assert messages.same_message(framed) == 0


def test_cli_says_when_the_first_site_is_only_one_of_several(capsys):
    code, out, _ = run(capsys, "--message", "KeyError: 'celltype not found in adata.obs.'")
    assert code == 0
    assert out.splitlines()[1].startswith("5 sites raise the same message and the "
                                          "text does not tell which of them raised it")
    # Counted past --limit; a module the text names breaks the tie; a weak match claims none.
    code, out, _ = run(capsys, "--message", "KeyError: 'celltype not found in adata.obs.'",
                       "--limit", "1", "--json")
    assert json.loads(out)["same_message"] == 5 and len(json.loads(out)["matches"]) == 1
    code, out, _ = run(capsys, "--message", "_dataframe_field validate_field KeyError: batch "
                       "not found in adata.obs.", "--json")
    report = json.loads(out)
    assert report["matches"][0]["path"].endswith("_dataframe_field.py")
    assert report["same_message"] == 2, report["same_message"]  # the two of _dataframe_field
    code, out, _ = run(capsys, "--message", "KeyError: 'celltype not found in adata.obs.'",
                       "--json")
    assert json.loads(out)["same_message"] == 5
    code, out, _ = run(capsys, "--message", "ValueError: Number of vars in adata_target not the "
                       "same as source. Expected: 16964 Received: 5000", "--json")
    assert json.loads(out)["same_message"] == 0


def test_the_shipped_index_carries_what_the_runtime_would_derive():
    """messages.json holds each template's words and holes and the word postings and weights
    (the build's MessageIndex.derived()); the index read with them equals the index made
    from the sites alone, and a call builds it without splitting any template."""
    from scvi_skill.runtime.index import load_json
    from scvi_skill.runtime.schema import MESSAGES_FORMAT

    data = load_json(messages.MESSAGES_PATH, expected_format=MESSAGES_FORMAT, what="messages")
    assert {"site_words", "postings", "idf", "unknown_idf"} <= data.keys()
    bare = {k: v for k, v in data.items()
            if k not in ("site_words", "postings", "idf", "unknown_idf")}
    made, read = messages.MessageIndex(bare), messages.MessageIndex(data)
    assert read.derived() == made.derived()
    assert [s.row for s in read.sites] == [s.row for s in made.sites]
    assert read.passes == made.passes and len(read.passes) > 900
    stale = dict(data, site_words=data["site_words"][:-1])  # not one per site: made again
    assert messages.MessageIndex(stale).derived() == made.derived()


def test_a_nested_site_carries_every_enclosing_test_outermost_first():
    """"when: n_val > 0" told the agent nothing of why the warning fires: the tests above it
    (a last batch of one or two cells, no drop_last, no train_size) are the answer."""
    source = textwrap.dedent('''
        def split(n_train, n_val, batch_size, drop_last, train_size_is_none):
            if batch_size is not None:
                small = n_train % batch_size
                if small < 3 and drop_last is False:
                    if not train_size_is_none:
                        warnings.warn("Last batch will have a small size.", UserWarning)
                    else:
                        n_train -= small
                        if n_val > 0:
                            warnings.warn("cells moved from training set to validation set.")
            def inner():
                raise ValueError("inner function raises on its own terms")
            if n_val < 0:
                raise ValueError("a negative validation set size")
    ''')
    rows, _ = module_messages("src/scvi/dataloaders/_data_splitting.py", source)
    conditions = {r.template: r.condition for r in rows}
    assert conditions == {
        "Last batch will have a small size.":
            "batch_size is not None; small < 3 and drop_last is False; not train_size_is_none",
        "cells moved from training set to validation set.":
            "batch_size is not None; small < 3 and drop_last is False; train_size_is_none; "
            "n_val > 0",
        "inner function raises on its own terms": "",  # a nested def starts afresh
        "a negative validation set size": "n_val < 0",
    }


def test_a_long_chain_drops_its_outer_tests_first():
    from scvi_skill.build.source.messages import MAX_CONDITION_CHARS

    outer = " and ".join(f"flag_{n}" for n in range(30))  # longer than the bound alone
    source = (f"def f(x):\n    if {outer}:\n        if x > 1:\n            if x < 9:\n"
              "                raise ValueError('x is out of its range here')\n")
    rows, _ = module_messages("src/scvi/m.py", source)
    assert rows[0].condition == "x > 1; x < 9"
    assert len(outer) > MAX_CONDITION_CHARS

"""scvi_skill.runtime.rg: finding ripgrep, and parsing recorded and live ``rg --json`` output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scvi_skill.runtime import rg
from scvi_skill.runtime.errors import RgMissing

FIXTURES = Path(__file__).parent / "fixtures" / "rg"


@pytest.fixture()
def recorded() -> bytes:
    return (FIXTURES / "train_context.jsonl").read_bytes()


def test_parse_recorded_matches_and_context(recorded):
    lines = rg.parse_rg_json(recorded)
    assert [(x.path, x.line, x.kind) for x in lines] == [
        ("pkg/a.py", 1, "match"),
        ("pkg/a.py", 2, "context"),
        ("pkg/a.py", 3, "context"),
        ("pkg/a.py", 4, "match"),
        ("pkg/latin.py", 1, "match"),
        ("pkg/u.py", 1, "match"),
    ]
    first = lines[0]
    assert first.text == "def train(max_epochs=10):"
    assert first.text[slice(*first.spans[0])] == "train"


def test_byte_offsets_become_character_offsets(recorded):
    utf8 = [x for x in rg.parse_rg_json(recorded) if x.path == "pkg/u.py"][0]
    # "café" and "λ" are multi-byte: rg's byte offsets 8 and 22 are characters 7 and 20.
    assert utf8.spans == [(7, 12), (20, 25)]
    assert all(utf8.text[a:b] == "train" for a, b in utf8.spans)


def test_base64_bytes_lines_are_decoded(recorded):
    latin = [x for x in rg.parse_rg_json(recorded) if x.path == "pkg/latin.py"][0]
    assert "train" in latin.text
    assert "\ufffd" in latin.text  # the invalid bytes are replaced, not fatal
    start, end = latin.spans[0]
    assert latin.text[start:end] == "train"


def test_unknown_records_and_garbage_are_skipped(recorded):
    extra = b"\n".join(
        [
            b'{"type":"future_kind","data":{}}',
            b"not json at all",
            b'{"type":"match","data":{"path":{"text":"x.py"}}}',  # no lines/line_number
            b'["a list"]',
            b'{"type":"match","data":{"path":{"text":"pkg/z.py"},"lines":{"text":"tr',  # cut
        ]
    )
    lines = rg.parse_rg_json(recorded + b"\n" + extra)
    assert len(lines) == 6
    assert rg.parse_rg_json(b"") == []


def test_str_input_is_accepted(recorded):
    assert len(rg.parse_rg_json(recorded.decode("utf-8"))) == 6


def test_env_override_missing_binary_raises_rg_missing(monkeypatch, tmp_path):
    monkeypatch.setenv(rg.RG_ENV, str(tmp_path / "no-such-rg"))
    with pytest.raises(RgMissing) as info:
        rg.find_rg()
    assert "not found" in str(info.value)
    assert "pip install ripgrep" in info.value.hint


def test_no_rg_anywhere(monkeypatch, tmp_path):
    monkeypatch.delenv(rg.RG_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rg.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(RgMissing):
        rg.find_rg()


def test_rg_next_to_interpreter_is_found(monkeypatch, tmp_path):
    fake = tmp_path / "rg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.delenv(rg.RG_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(rg.sys, "executable", str(tmp_path / "python"))
    assert rg.find_rg() == str(fake)


def test_live_rg_dash_pattern_and_no_match(rg_binary, tmp_path):
    (tmp_path / "f.py").write_text("x = f(--n_latent)\n$(rm -rf /) `tick`\n", encoding="utf-8")
    lines, status = rg.run_rg(
        ["--fixed-strings", "-e", "--n_latent", "--", str(tmp_path)], rg=rg_binary
    )
    assert status == 0 and [x.line for x in lines] == [1]
    lines, status = rg.run_rg(["--fixed-strings", "-e", "$(rm -rf /)", str(tmp_path)], rg=rg_binary)
    assert status == 0 and lines[0].line == 2
    lines, status = rg.run_rg(["-e", "absent_word", str(tmp_path)], rg=rg_binary)
    assert status == 1 and lines == []


def test_live_rg_ignores_user_config(rg_binary, tmp_path, monkeypatch):
    config = tmp_path / "rgrc"
    config.write_text("--fixed-strings\n--ignore-case\n")
    monkeypatch.setenv("RIPGREP_CONFIG_PATH", str(config))
    (tmp_path / "f.py").write_text("ABC\n")
    lines, _ = rg.run_rg(["-e", "abc", str(tmp_path)], rg=rg_binary)
    assert lines == []  # --ignore-case from the config was not applied


def test_live_output_parses_like_recorded(rg_binary, tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        'def train(max_epochs=10):\n    """Train the model."""\n    lr = 1e-3\n    return train_size\n'
    )
    monkeypatch.chdir(tmp_path)
    lines, _ = rg.run_rg(["--sort", "path", "-C", "1", "-e", "train", "pkg"], rg=rg_binary)
    recorded = [x for x in rg.parse_rg_json((FIXTURES / "train_context.jsonl").read_bytes())]
    assert [(x.path, x.line, x.kind, x.text) for x in lines] == [
        (x.path, x.line, x.kind, x.text) for x in recorded if x.path == "pkg/a.py"
    ]
    assert json.dumps([x.spans for x in lines])

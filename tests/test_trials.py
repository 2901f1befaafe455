"""The agent-trial tools (benchmarks/trials/): the logging wrapper and the log summary, and the
figures the rounds' READMEs quote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TRIALS = Path(__file__).resolve().parents[1] / "benchmarks" / "trials"
sys.path.insert(0, str(TRIALS))

import summarize  # noqa: E402


def test_the_wrapper_prints_the_output_and_logs_its_size(tmp_path):
    log = tmp_path / "log.jsonl"
    done = subprocess.run(["bash", str(TRIALS / "run_logged.sh"), str(log), "printf 'ab\\ncd'"],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "ab\ncd\n"
    subprocess.run(["bash", str(TRIALS / "run_logged.sh"), str(log), "echo oops >&2; false"],
                   capture_output=True, text=True, timeout=30, cwd=tmp_path)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows == [{"cmd": "printf 'ab\\ncd'", "chars": 6}, {"cmd": "echo oops >&2; false", "chars": 5}]
    assert summarize.summarize(log) == {"log": str(log), "commands": 2, "characters": 11}
    usage = subprocess.run(["bash", str(TRIALS / "run_logged.sh"), str(log)],
                           capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_the_wrapper_puts_the_trial_s_bin_folder_first_on_path(tmp_path):
    """A trial's ``bin/`` beside its log (its ``rg``) is what the agent's commands find."""
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "trialtool"
    tool.write_text("#!/bin/sh\necho from-the-trial-bin\n")
    tool.chmod(0o755)
    log = tmp_path / "log.jsonl"
    done = subprocess.run(["bash", str(TRIALS / "run_logged.sh"), str(log), "trialtool"],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.stdout == "from-the-trial-bin\n"


@pytest.mark.parametrize("round_, skill_figures, rg_figures", [
    ("round5", (46, 119_906), (46, 91_070)),
    ("round6", (57, 151_396), (59, 134_473)),
    ("round7", (15, 97_265), (15, 63_225)),
    ("round8", (26, 106_735), (30, 63_699)),
    ("round9", (97, 262_493), (107, 248_588)),
    ("round10", (50, 140_167), (46, 129_841)),
    ("round11", (12, 122_560), (32, 61_798)),
    ("round12", (14, 106_915), (26, 64_159)),
    ("round13", (16, 100_665), (29, 88_811)),
    ("round14", (42, 149_548), (38, 135_301)),
    ("round15", (24, 122_306), (42, 192_538)),
    ("round16", (21, 115_551), (34, 108_634)),
    ("round17", (32, 141_180), (39, 118_642)),
    ("round18", (23, 117_099), (53, 156_885)),
    ("round19", (31, 143_388), (53, 148_195)),
    ("round20", (47, 187_597), (52, 201_857)),
    ("round21", (30, 146_210), (45, 132_797)),
    ("round22", (21, 138_521), (42, 123_360)),
    ("round23", (51, 199_831), (62, 225_017)),
    ("round24", (44, 137_915), (47, 239_709)),
    ("round25", (25, 116_758), (49, 152_328)),
    ("round26", (53, 206_878), (59, 219_017)),
    ("round27", (40, 168_147), (54, 199_316)),
    ("round28", (32, 135_653), (46, 165_251)),
    ("round29", (15, 114_566), (27, 113_602)),
    ("round30", (37, 151_141), (60, 170_554)),
    ("round31", (25, 130_713), (38, 93_732)),
    ("round32", (28, 120_920), (49, 141_551)),
    ("round33", (55, 225_840), (75, 240_431)),
    ("round34", (26, 123_016), (49, 148_417)),
    ("round35", (31, 146_756), (48, 156_485)),
    ("round36", (30, 123_817), (36, 109_230)),
    ("round37", (46, 190_751), (62, 197_697)),
    ("round38", (51, 221_053), (54, 160_722)),
    ("round39", (40, 168_697), (63, 159_880)),
    ("round40", (38, 169_312), (40, 151_903)),
    ("round41", (45, 195_057), (56, 184_232)),
    ("round45", (42, 183_261), (40, 162_603)),
    ("round46", (61, 196_318), (39, 120_592)),
    ("round48", (27, 107_039), (41, 86_481)),
    ("round49", (71, 229_805), (47, 262_434)),
    ("round50", (60, 171_255), (56, 190_099)),
    ("round51", (43, 150_835), (34, 170_977)),
    ("round52", (67, 205_509), (87, 238_871)),
    ("round53", (60, 185_792), (61, 201_912)),
    ("round54", (50, 185_555), (56, 203_461)),
    ("round55", (67, 191_864), (66, 229_795)),
    ("round56", (40, 144_007), (43, 145_732)),
    ("round57", (54, 179_908), (53, 150_508)),
    ("round58", (51, 167_259), (48, 162_742)),
    ("round59", (27, 97_958), (29, 123_581)),
    ("round60", (5, 36_119), (10, 34_215)),
    ("round61", (10, 29_206), (12, 32_390)),
    ("round62", (29, 117_335), (41, 128_736)),
    ("round63", (31, 118_281), (30, 91_381)),
    ("round64", (35, 112_065), (48, 179_461)),
    ("round65", (43, 140_393), (41, 142_337)),
    ("round66", (51, 164_105), (52, 162_757)),
    ("round67", (56, 186_652), (53, 213_811)),
    ("round68", (53, 213_670), (61, 214_644)),
    ("round69", (42, 136_030), (41, 120_755)),
    ("round70", (61, 263_817), (72, 226_193)),
    ("round71", (56, 187_003), (47, 168_484)),
    ("round72", (24, 99_965), (22, 78_430)),
    ("round73", (40, 156_770), (36, 159_796)),
    ("round74", (41, 138_270), (40, 130_317)),
    ("round75", (47, 199_470), (53, 166_733)),
    ("round76", (32, 133_284), (38, 117_310)),
    ("round77", (45, 174_368), (55, 177_268)),
    ("round78", (40, 187_601), (44, 180_164)),
    ("round79", (51, 192_298), (59, 228_053)),
    ("round80", (25, 112_713), (26, 208_715)),
    ("round81", (59, 219_631), (52, 163_542)),
    ("round82", (37, 118_376), (32, 117_236)),
    ("round83", (34, 114_087), (27, 130_402)),
    ("round84", (35, 91_881), (30, 68_518)),
    ("round85", (25, 94_442), (25, 101_464)),
    ("round86", (31, 128_068), (26, 158_888)),
    ("round87", (44, 173_593), (47, 182_659)),
    ("round88", (32, 157_247), (30, 125_305)),
    ("round89", (37, 135_407), (38, 143_556)),
    ("round90", (38, 159_248), (32, 191_859)),
    ("round91", (55, 216_488), (50, 264_952)),
    ("round92", (45, 177_633), (48, 176_095)),
    ("round93", (32, 124_029), (39, 144_274)),
    ("round94", (36, 116_754), (45, 101_631)),
    ("round95", (40, 155_721), (42, 115_876)),
    ("round96", (49, 205_471), (41, 189_725)),
    ("round97", (29, 91_701), (30, 123_449)),
    ("round99", (33, 96_119), (25, 73_435)),
    ("round101", (37, 125_156), (49, 161_934)),
    ("round103", (48, 118_748), (33, 120_180)),
    ("round105", (23, 86_149), (20, 63_023)),
])
def test_trial_logs_give_the_figures_the_readmes_quote(round_, skill_figures, rg_figures):
    skill = summarize.summarize(TRIALS / round_ / "log_skill.jsonl")
    rg = summarize.summarize(TRIALS / round_ / "log_rg.jsonl")
    assert (skill["commands"], skill["characters"]) == skill_figures
    assert (rg["commands"], rg["characters"]) == rg_figures
    readme = (TRIALS / round_ / "README.md").read_text(encoding="utf-8")
    for commands, characters in (skill_figures, rg_figures):
        assert f"| {commands} | {characters:,} |" in readme


@pytest.mark.parametrize("round_", ["round42", "round43", "round44"])
def test_skill_md_variant_rounds_reran_round41s_questions_with_the_skill_agent_alone(round_):
    """Rounds 42 to 44 (skill variants) asked round 41's questions with round 41's key;
    each README quotes its skill log's figures and round 41's skill figures."""
    for name in ("questions.jsonl", "key.jsonl"):
        assert (TRIALS / round_ / name).read_bytes() == (TRIALS / "round41" / name).read_bytes()
    assert not (TRIALS / round_ / "log_rg.jsonl").exists()
    skill = summarize.summarize(TRIALS / round_ / "log_skill.jsonl")
    old = summarize.summarize(TRIALS / "round41" / "log_skill.jsonl")
    readme = (TRIALS / round_ / "README.md").read_text(encoding="utf-8")
    for figures in (skill, old):
        assert f"| {figures['commands']} | {figures['characters']:,} |" in readme


@pytest.mark.parametrize(("round_", "asked"), [("round47", "round46"), ("round98", "round97"),
                                             ("round100", "round99"), ("round102", "round101"),
                                             ("round104", "round103"), ("round106", "round105")])
def test_a_skill_alone_round_reran_an_earlier_rounds_questions(round_, asked):
    """Rounds 47, 98, 100, 102, 104 and 106 asked an earlier round's questions with its key again,
    the skill agent alone; each README quotes its own log's figures and the earlier skill
    log's."""
    for name in ("questions.jsonl", "key.jsonl"):
        assert (TRIALS / round_ / name).read_bytes() == (TRIALS / asked / name).read_bytes()
    assert not (TRIALS / round_ / "log_rg.jsonl").exists()
    readme = (TRIALS / round_ / "README.md").read_text(encoding="utf-8")
    for logged in (round_, asked):
        figures = summarize.summarize(TRIALS / logged / "log_skill.jsonl")
        assert f"| {figures['commands']} | {figures['characters']:,} |" in readme


@pytest.mark.parametrize("line", ['not json', '{"cmd": "ls"}', '["ls", 3]', '{"cmd": "ls", "chars": -1}'])
def test_a_broken_log_line_is_an_error_not_a_skipped_command(tmp_path, capsys, line):
    log = tmp_path / "log.jsonl"
    log.write_text('{"cmd": "ls", "chars": 3}\n' + line + "\n")
    assert summarize.main([str(log)]) == 1
    assert f"{log}:2" in capsys.readouterr().err


def test_round7_key_is_fresh_and_its_evidence_is_in_the_tree(pinned_tree):
    """Round 7's threads are in no benchmark split and no earlier round's key, and every
    evidence phrase of its key is on the cited lines of the 1.5.1 tree."""
    key = [json.loads(line) for line in (TRIALS / "round7" / "key.jsonl").read_text().splitlines()]
    questions = [json.loads(line)
                 for line in (TRIALS / "round7" / "questions.jsonl").read_text().splitlines()]
    assert [k["id"] for k in key] == [q["id"] for q in questions] == [f"h0{i}" for i in range(1, 9)]
    earlier = set()
    sets = [p for p in TRIALS.parent.glob("*.jsonl") if p.name != "holdout4.jsonl"]  # round 7's
    for path in [*sets, TRIALS / "round5" / "key.jsonl", TRIALS / "round6" / "key.jsonl"]:
        earlier |= {json.loads(line).get("url") for line in path.read_text().splitlines() if line}
    assert not {k["url"] for k in key} & earlier
    from scvi_skill.runtime.frames import parse_frames

    assert sum(any(f.scvi for f in parse_frames(q["question"])) for q in questions) >= 5
    for row in key:
        for ev in row["evidence"]:
            lines = (pinned_tree.root / ev["path"]).read_text(encoding="utf-8").splitlines()
            span = " ".join(" ".join(lines[ev["start"] - 1 : ev["end"]]).split())
            assert " ".join(ev["phrase"].split()) in span, (row["id"], ev["path"], ev["start"])


def test_round8_questions_are_holdout5s_every_third_and_its_key_its_gold(pinned_tree):
    """Round 8 asked every third question of holdout5.jsonl (chosen by rule, not by content),
    and its key's evidence is that set's gold, on its lines of the 1.5.1 tree."""
    holdout5 = [json.loads(line) for line in
                (TRIALS.parent / "holdout5.jsonl").read_text(encoding="utf-8").splitlines() if line]
    picked = [r for r in holdout5 if int(r["id"][1:]) % 3 == 0]
    questions = [json.loads(line) for line in
                 (TRIALS / "round8" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    key = [json.loads(line) for line in
           (TRIALS / "round8" / "key.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(q["id"], q["question"]) for q in questions] == [(r["id"], r["question"]) for r in picked]
    assert [k["url"] for k in key] == [r["url"] for r in picked] and len(key) == 10
    for row in key:
        for ev in row["evidence"]:
            lines = (pinned_tree.root / ev["path"]).read_text(encoding="utf-8").splitlines()
            assert any(ev["phrase"] in t for t in lines[ev["start"] - 1 : ev["end"]]), row["id"]


@pytest.mark.parametrize("round_, frozen, ids", [
    ("round29", "holdout9", [f"w{i:02d}" for i in range(1, 13)]),
    ("round30", "holdout7", [f"m{i:02d}" for i in range(1, 25, 2)]),
    ("round31", "holdout7", [f"m{i:02d}" for i in range(2, 25, 2)]),
    ("round32", "holdout6", [f"h{i:02d}" for i in range(1, 13)]),
    ("round33", "holdout2", [f"n{i:02d}" for i in range(1, 13)]),
    ("round34", "holdout15", [f"a{i:02d}" for i in range(1, 13)]),
    ("round35", "holdout8", [f"u{i:02d}" for i in range(1, 13)]),
    ("round36", "holdout6", [f"h{i:02d}" for i in range(13, 22)]),
    ("round37", "holdout8", [f"u{i:02d}" for i in range(13, 25)]),
    ("round38", "holdout2", [f"n{i:02d}" for i in range(13, 24)]),
    ("round39", "holdout", [f"h{i:03d}" for i in range(1, 13)]),
    ("round40", "holdout", [f"h{i:03d}" for i in range(13, 25)]),
    ("round41", "holdout", [f"h{i:03d}" for i in range(25, 38)]),
    ("round55", "holdout16", ["b02", "b03", "b05", "b06", "b07", "b08", "b09", "b10", "b12",
                              "b16", "b18", "b20"]),
    ("round56", "holdout16", ["b01", "b04", "b11", "b13", "b14", "b15", "b17", "b19"]),
    ("round57", "holdout5", ["p01", "p02", "p04", "p07", "p10", "p11", "p16", "p17", "p19",
                             "p23", "p25", "p26"]),
    ("round58", "holdout5", ["p05", "p08", "p13", "p14", "p20", "p22", "p28", "p29"]),
    ("round60", "holdout15", ["a13", "a14"]),
])
def test_frozen_set_rounds_ask_its_questions_and_their_keys_are_its_gold(round_, frozen, ids):
    """Rounds 29 to 41 asked questions of a frozen set, picked by id rule (all, odd, even, the
    first twelve, the rest), and rounds 55-57 questions drawn by seed (and holdout16's other
    eight, holdout5's last eight in round 58, holdout15's last two in round 60), verbatim; each
    key is that set's url, notes and gold lines."""
    rows = {r["id"]: r for r in (json.loads(line) for line in
            (TRIALS.parent / f"{frozen}.jsonl").read_text(encoding="utf-8").splitlines() if line)}
    questions = [json.loads(line) for line in
                 (TRIALS / round_ / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    key = [json.loads(line) for line in
           (TRIALS / round_ / "key.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(q["id"], q["question"]) for q in questions] == [(i, rows[i]["question"]) for i in ids]
    assert [(k["id"], k["url"], k["gold_lines"]) for k in key] == \
        [(i, rows[i]["url"], rows[i]["gold_lines"]) for i in ids]


@pytest.mark.parametrize("dev_set, round_, rest", [
    ("dev4", "round11", 2), ("dev4", "round12", 0), ("dev4", "round15", 0),
    ("dev4", "round16", 1), ("dev5", "round13", 2), ("dev5", "round14", 1),
    ("dev5", "round17", 0), ("dev3", "round9", 0), ("dev3", "round18", 2),
])
def test_dev_set_rounds_ask_its_every_third_and_their_keys_are_its_gold(pinned_tree, dev_set,
                                                                        round_, rest):
    """Rounds 11, 12, 15 and 16 asked every third question of dev4.jsonl (k02, ...; k03, ...,
    twice; k01, ...), rounds 13, 14 and 17 every third of dev5.jsonl (v02, ...; v01, ...;
    v03, ...), rounds 9 and 18 every third of dev3.jsonl (e03, ...; e02, ...), each chosen by
    that rule; each key is their notes and gold lines, on their
    lines of the 1.5.1 tree."""
    rows = [json.loads(line) for line in
            (TRIALS.parent / f"{dev_set}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    picked = [r for r in rows if int(r["id"][1:]) % 3 == rest][:10]
    questions = [json.loads(line) for line in
                 (TRIALS / round_ / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    key = [json.loads(line) for line in
           (TRIALS / round_ / "key.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(q["id"], q["question"]) for q in questions] == [(r["id"], r["question"]) for r in picked]
    assert [(k["id"], k["url"], k["gold_lines"]) for k in key] == \
        [(r["id"], r["url"], r["gold_lines"]) for r in picked]
    for row in key:
        for gold in row["gold_lines"]:
            lines = (pinned_tree.root / gold["path"]).read_text(encoding="utf-8").splitlines()
            assert any(gold["phrase"] in t for t in lines[gold["start"] - 1 : gold["end"]]), row["id"]


def test_trial_setup_grade_and_store(tmp_path, pinned_tree):
    """trial.py makes a round's folder (questions without gold, the key, the installed skill,
    the three briefs), refuses an answer set that names the skill's tools, and stores the
    records with this machine's paths shortened, never over a stored round."""
    import trial

    question_set = tmp_path / "set.jsonl"
    question_set.write_text("".join(json.dumps(
        {"id": f"z{i}", "question": f"question {i}?", "url": f"https://example.org/{i}",
         "notes": "n", "gold_lines": [{"path": "docs/faq.md", "start": 1, "end": 2,
                                       "phrase": "gold phrase"}]}) + "\n" for i in (1, 2, 3)))
    folder = tmp_path / "trial99"
    with pytest.raises(trial.TrialError) as err:
        trial.setup(99, question_set, ["z1", "nope"], folder)
    assert err.value.code == 2 and not folder.exists()
    trial.setup(99, question_set, ["z3", "z1"], folder)
    asked = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    assert asked == [{"id": "z3", "question": "question 3?"}, {"id": "z1", "question": "question 1?"}]
    assert "gold phrase" in (folder / "grade" / "key.jsonl").read_text()
    assert (folder / "skillproj" / ".claude" / "skills" / trial.SKILL_NAME / "SKILL.md").is_file()
    assert (folder / "bin" / "rg").exists() and (folder / "run_logged.sh").is_file()
    skill_brief = (folder / "prompt_skill.md").read_text()
    assert "Answer the 2 user questions" in skill_brief and f"{folder}/log_skill.jsonl" in skill_brief
    assert "out of 7" in (folder / "grade" / "prompt.md").read_text()
    assert "x/14" in (folder / "grade" / "prompt.md").read_text()
    with pytest.raises(trial.TrialError):
        trial.setup(99, question_set, [], folder)  # the folder exists

    (folder / "answers_skill.md").write_text("## z3\nsee resolve_docs output\n")
    (folder / "answers_rg.md").write_text("## z3\nan answer\n")
    with pytest.raises(trial.TrialError) as err:
        trial.grade(folder, "A")
    assert err.value.code == 1 and not (folder / "grade" / "A.md").exists()
    (folder / "answers_skill.md").write_text(f"## z3\nsee {pinned_tree.root}/docs/faq.md:1\n")
    trial.grade(folder, "B")
    assert (folder / "grade" / "B.md").read_text().startswith("## z3\nsee ")
    assert (folder / "grade" / "A.md").read_text() == "## z3\nan answer\n"

    skill = folder / "skillproj" / ".claude" / "skills" / trial.SKILL_NAME
    (folder / "log_skill.jsonl").write_text(json.dumps(
        {"cmd": f"cat {skill}/SKILL.md; sed -n 1,2p {pinned_tree.root}/docs/faq.md", "chars": 9}) + "\n")
    (folder / "log_rg.jsonl").write_text(json.dumps({"cmd": f"ls {folder}", "chars": 3}) + "\n")
    (folder / "grade" / "grades.md").write_text("| id |\n")
    rounds = tmp_path / "rounds"
    rounds.mkdir()
    stored = trial.store(99, folder, rounds)
    log = json.loads((stored / "log_skill.jsonl").read_text())
    assert log == {"cmd": "cat SKILL/SKILL.md; sed -n 1,2p TREE/docs/faq.md", "chars": 9}
    assert json.loads((stored / "log_rg.jsonl").read_text())["cmd"] == "ls TRIAL"
    assert "TREE/docs/faq.md:1" in (stored / "answers_skill.md").read_text()
    assert sorted(p.name for p in stored.iterdir()) == sorted(trial.STORED.values())
    with pytest.raises(trial.TrialError) as err:
        trial.store(99, folder, rounds)
    assert err.value.code == 2 and [p.name for p in rounds.iterdir()] == ["round99"]


def test_trial_cli_usage_errors(tmp_path, capsys):
    import trial

    question_set = tmp_path / "set.jsonl"
    question_set.write_text(json.dumps({"id": "z1", "question": "q?"}) + "\n")
    code = trial.main(["setup", "5", "--set", str(question_set), "--ids", "z9",
                       "--dir", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("Error: not in set.jsonl: z9") and not (tmp_path / "t").exists()
    code = trial.main(["grade", "5", "--skill-as", "A", "--dir", str(tmp_path)])
    assert code == 1 and "missing" in capsys.readouterr().err


@pytest.mark.parametrize("round_, drawn", [
    (52, 12), (53, 12), (54, 12), (59, ["q029", "q035", "q038", "q089", "q108"]),
])
def test_test_split_rounds_asked_questions_no_earlier_round_asked(round_, drawn):
    """Rounds 52 to 54 each drew twelve questions of the dev set's test split by seed (the
    round's number) from those no stored round before it had asked, and round 59 asked all
    that were left (the five listed), in id order; its questions are theirs verbatim and its key their
    gold lines."""
    import random

    rows = [json.loads(line) for line in
            (TRIALS.parent / "devset.jsonl").read_text(encoding="utf-8").splitlines() if line]
    asked = {json.loads(line)["question"]
             for path in TRIALS.glob("round*/questions.jsonl")
             if int(path.parent.name.removeprefix("round")) < round_
             for line in path.read_text(encoding="utf-8").splitlines() if line}
    fresh = sorted(r["id"] for r in rows if r["split"] == "test" and r["question"] not in asked)
    if isinstance(drawn, list):  # all that were left: these
        assert fresh == drawn
        ids = fresh
    else:
        random.seed(round_)
        ids = sorted(random.sample(fresh, drawn))
    by_id = {r["id"]: r for r in rows}
    questions = [json.loads(line) for line in
                 (TRIALS / f"round{round_}" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    key = [json.loads(line) for line in
           (TRIALS / f"round{round_}" / "key.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(q["id"], q["question"]) for q in questions] == [(i, by_id[i]["question"]) for i in ids]
    assert [(k["id"], k["gold_lines"]) for k in key] == [(i, by_id[i]["gold_lines"]) for i in ids]



def test_rounds_62_to_70_give_bench_pack_its_fresh_split(pinned_tree, monkeypatch):
    """bench_pack.py --rounds 62-70 scores the 84 questions of trial rounds 62-70 (threads no
    question set uses) with their keys' gold lines: each gold phrase is on its lines of the
    pinned tree, so the split measures what it says; a round without a key is skipped."""
    monkeypatch.syspath_prepend(str(TRIALS.parent))
    import bench_pack

    rows = bench_pack.trial_rows(62, 70)
    assert len(rows) == 84 and {r["split"] for r in rows} == {"trials"}
    assert len({r["id"] for r in rows}) == 84
    for row in rows:
        assert row["question"].strip()
        for gold in row["gold_lines"]:
            lines = (pinned_tree.root / gold["path"]).read_text(encoding="utf-8").splitlines()
            assert any(gold["phrase"] in line
                       for line in lines[gold["start"] - 1:gold["end"]]), (row["id"], gold)
    assert bench_pack.trial_rows(1, 1) == []  # no round 1 folder: nothing
    with pytest.raises(Exception, match="comes after"):
        bench_pack._round_span("70-62")


def test_the_trial_questions_split_in_two_halves_and_carry_their_agents_hints(monkeypatch):
    """Session 41 split rounds 62-87 by round parity (DEVSET.md): the even rounds a tuning
    half, the odd rounds frozen; together they are all the rounds' questions. Each hint is
    the --also its round's skill agent passed with that question, as its log has it."""
    monkeypatch.syspath_prepend(str(TRIALS.parent))
    import bench_pack

    every = bench_pack.trial_rows(62, 87)
    even = bench_pack.trial_rows(62, 87, half="even")
    odd = bench_pack.trial_rows(62, 87, half="odd")
    assert (len(even), len(odd), len(every)) == (105, 109, 214)
    assert {r["split"] for r in even} == {"trials-even"} and {r["split"] for r in odd} == {
        "trials-odd"}
    assert all(int(r["id"].split("/")[0][len("round"):]) % 2 == 0 for r in even)
    assert sorted(r["id"] for r in even + odd) == sorted(r["id"] for r in every)
    hints = bench_pack.agent_hints(62, 87)
    assert len(hints) >= 200 and set(hints) <= {r["id"] for r in every}
    assert hints["round87/q01"].startswith("BaseModelClass save load save_anndata")
    for key, also in hints.items():
        log = (TRIALS / key.split("/")[0] / "log_skill.jsonl").read_text(encoding="utf-8")
        assert also and also.split()[0] in log

"""Checks on the resolver's dev set of real user questions (benchmarks/devset.jsonl).

The set is hand-curated (see benchmarks/DEVSET.md); these tests keep it well-formed and keep
every gold path pointing at a real file of the pinned scvi-tools tree.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from scvi_skill.runtime.errors import TreeNotFound
from scvi_skill.runtime.tree import discover_tree

DEVSET = Path(__file__).resolve().parent.parent / "benchmarks" / "devset.jsonl"

MIN_QUESTIONS = 60
"""Floor set by issue 4 ("at least 60 real user questions")."""
MAX_PER_TOPIC = 15
MAX_GOLD_LINE_SPAN = 21
"""A gold passage is a paragraph, list item or statement, never a section: at most this many lines."""
MAX_GOLD_PATHS = 3
REQUIRED_KEYS = {"id", "question", "url", "topic", "split", "gold_docs", "gold_source", "gold_lines",
                 "notes"}
SPLITS = {"dev", "test"}
REQUIRED_TOPICS = {
    # Issue 4, "Quality, measured": the areas the dev set must cover.
    "registration",  # AnnData registration and count layers
    "batch_covariates",  # batch_key vs categorical/continuous covariates
    "training",  # training configs
    "callbacks",  # callbacks and early stopping
    "nan",  # NaN losses
    "multi_gpu",
    "dataloaders",  # custom dataloaders
    "autotune",
    "de",  # differential expression
    "normalized_expression",  # normalized expression and transform_batch
    "latent",  # latent extraction
    "save_load",
    "scanvi_query",  # SCANVI and query mapping
    "totalvi",  # TOTALVI / TOTALANVI
    "multivi",  # MultiVI / PeakVI
    "model_selection",
}
URL_PATTERNS = (
    re.compile(r"^https://github\.com/scverse/scvi-tools/(issues|discussions)/\d+$"),
    # issue 10: "threads of scvi-tools and related repositories" (a scvi-tools API question)
    re.compile(r"^https://github\.com/(scverse|YosefLab)/[A-Za-z0-9_.-]+/issues/\d+$"),
    re.compile(r"^https://github\.com/calico/solo/issues/\d+$"),  # SOLO's first repository
    re.compile(r"^https://discourse\.scverse\.org/t/[a-z0-9-]+/\d+$"),
)
ID_PATTERN = re.compile(r"^q\d{3}$")


def _load() -> list[dict]:
    records = []
    for number, line in enumerate(DEVSET.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"line {number} is blank"
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            pytest.fail(f"line {number} is not JSON: {err}")
    return records


RECORDS = _load()


def test_enough_questions():
    assert len(RECORDS) >= MIN_QUESTIONS


def test_every_record_has_exactly_the_schema_keys():
    for record in RECORDS:
        assert set(record) == REQUIRED_KEYS, record.get("id")


def test_ids_are_unique_and_well_formed():
    ids = [record["id"] for record in RECORDS]
    assert len(ids) == len(set(ids))
    assert all(ID_PATTERN.match(i) for i in ids), [i for i in ids if not ID_PATTERN.match(i)]


def test_text_fields_are_non_empty_strings():
    for record in RECORDS:
        for key in ("question", "topic", "notes"):
            assert isinstance(record[key], str) and record[key].strip(), (record["id"], key)


def test_urls_point_at_scvi_tools_threads_once_each():
    urls = [record["url"] for record in RECORDS]
    bad = [u for u in urls if not any(p.match(u) for p in URL_PATTERNS)]
    assert not bad
    duplicated = [u for u, n in Counter(urls).items() if n > 1]
    assert not duplicated, "one question per thread"


def test_split_values_are_valid():
    assert {record["split"] for record in RECORDS} <= SPLITS


def test_required_topics_present_and_capped():
    counts = Counter(record["topic"] for record in RECORDS)
    missing = REQUIRED_TOPICS - set(counts)
    assert not missing, f"topics without questions: {sorted(missing)}"
    crowded = {t: n for t, n in counts.items() if n > MAX_PER_TOPIC}
    assert not crowded


def test_splits_are_round_robin_within_each_topic():
    """In file order the 2nd, 5th, 8th ... question of a topic is "test", the others "dev"."""
    by_topic = defaultdict(list)
    for record in RECORDS:
        by_topic[record["topic"]].append(record["split"])
    for topic, splits in by_topic.items():
        expected = ["test" if i % 3 == 1 else "dev" for i in range(len(splits))]
        assert splits == expected, topic
        assert set(splits) == SPLITS, f"{topic} needs at least 2 questions to reach both splits"


def test_gold_lists_are_short_and_well_shaped():
    for record in RECORDS:
        docs, source = record["gold_docs"], record["gold_source"]
        # No gold doc only where no doc answers (the answer is in source alone).
        assert isinstance(docs, list) and len(docs) <= MAX_GOLD_PATHS, record["id"]
        assert isinstance(source, list) and 1 <= len(source) <= MAX_GOLD_PATHS, record["id"]
        assert len(set(docs)) == len(docs) and len(set(source)) == len(source), record["id"]
        for path in docs:
            assert path == "CHANGELOG.md" or (path.startswith("docs/") and path.endswith(".md")), path
        for path in source:
            assert path.startswith(("src/scvi/", "tests/")) and path.endswith(".py"), path


def test_every_gold_path_exists_in_the_pinned_tree():
    try:
        tree = discover_tree(need_docs=True)
    except TreeNotFound as err:
        pytest.skip(f"no scvi-tools tree to check gold paths against ({err}); run scripts/fetch_tree.py")
    missing = [
        (record["id"], path)
        for record in RECORDS
        for path in record["gold_docs"] + record["gold_source"]
        if not tree.to_disk(path).is_file()
    ]
    assert not missing


def test_gold_lines_are_well_shaped():
    for record in RECORDS:
        lines = record["gold_lines"]
        assert isinstance(lines, list) and 1 <= len(lines) <= MAX_GOLD_PATHS, record["id"]
        for gold in lines:
            assert set(gold) == {"path", "start", "end", "phrase"}, record["id"]
            assert 1 <= gold["start"] <= gold["end"] < gold["start"] + MAX_GOLD_LINE_SPAN, record["id"]
            assert gold["path"] == "CHANGELOG.md" or gold["path"].startswith(("docs/", "src/scvi/"))
            assert len(gold["phrase"].strip()) >= 8, (record["id"], gold["phrase"])


@pytest.mark.parametrize("which", ["devset", "holdout", "holdout2", "holdout3", "holdout4",
                                   "holdout5", "holdout6", "holdout7", "holdout8", "holdout9",
                                   "holdout10", "holdout11", "holdout12", "holdout13", "holdout14",
                                   "holdout15", "holdout16", "dev3", "dev4", "dev5",
                                   "dev6", "dev2", "synthetic", "synthetic2"])
def test_gold_line_phrases_are_on_their_lines_in_the_pinned_tree(which):
    """Each gold phrase is copied from one line inside its passage, verbatim."""
    try:
        tree = discover_tree(need_docs=True)
    except TreeNotFound as err:
        pytest.skip(f"no scvi-tools tree to check gold lines against ({err}); run scripts/fetch_tree.py")
    records = {"devset": RECORDS, "holdout": HOLDOUT_RECORDS, "synthetic": SYNTHETIC_RECORDS,
               "synthetic2": SYNTHETIC2_RECORDS, "holdout2": _records("holdout2.jsonl"),
               "holdout3": _records("holdout3.jsonl"), "holdout4": _records("holdout4.jsonl"),
               "holdout5": _records("holdout5.jsonl"), "dev3": _records("dev3.jsonl"),
               "holdout6": _records("holdout6.jsonl"), "dev4": _records("dev4.jsonl"),
               "holdout7": _records("holdout7.jsonl"), "holdout8": _records("holdout8.jsonl"),
               "holdout9": _records("holdout9.jsonl"),
               "holdout10": _records("holdout10.jsonl"),
               "holdout11": _records("holdout11.jsonl"),
               "holdout12": _records("holdout12.jsonl"),
               "holdout13": _records("holdout13.jsonl"),
               "holdout14": _records("holdout14.jsonl"),
               "holdout15": _records("holdout15.jsonl"),
               "holdout16": _records("holdout16.jsonl"),
               "dev5": _records("dev5.jsonl"), "dev6": _records("dev6.jsonl"),
               "dev2": _records("dev2.jsonl")}
    assert not _misplaced_phrases(records[which], tree)


def _misplaced_phrases(records: list[dict], tree) -> list[tuple]:
    """Gold lines whose phrase is not on a line of their passage in ``tree``."""
    wrong = []
    for record in records:
        for gold in record["gold_lines"]:
            path = tree.to_disk(gold["path"])
            lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
            passage = lines[gold["start"] - 1 : gold["end"]]
            if gold["end"] > len(lines) or not any(gold["phrase"] in line for line in passage):
                wrong.append((record["id"], gold["path"], gold["start"], gold["phrase"]))
    return wrong


# The holdout set (benchmarks/holdout.jsonl): frozen before any measurement, read only in
# aggregate. Same record format; its own ids and split, and threads the dev set does not use.
HOLDOUT = DEVSET.with_name("holdout.jsonl")
HOLDOUT_RECORDS = [json.loads(line) for line in HOLDOUT.read_text(encoding="utf-8").splitlines()
                   if line.strip()]


@pytest.mark.parametrize("which", ["holdout", "holdout2", "holdout3", "holdout4"])
def test_holdout_records_are_well_formed_and_apart_from_the_sets_before_them(which):
    """holdout.jsonl uses no dev thread; holdout2.jsonl (curated 2026-12-02) uses no thread of
    the dev set, the holdout set or agent-trial round 5 (benchmarks/trials/round5/key.jsonl);
    holdout3.jsonl (the questions of trial rounds 5 and 6, by their trial ids) none of the dev
    set, the holdout set or holdout2, and its threads are those of the trials' keys; so for
    holdout4.jsonl (trial round 7, questions with pasted tracebacks) and the earlier sets."""
    records, pattern, least = {"holdout": (HOLDOUT_RECORDS, r"^h\d{3}$", 30),
                               "holdout2": (_records("holdout2.jsonl"), r"^n\d{2}$", 20),
                               "holdout3": (_records("holdout3.jsonl"), r"^[fg]\d{2}$", 20),
                               "holdout4": (_records("holdout4.jsonl"), r"^h\d{2}$", 8)}[which]
    ids = [r["id"] for r in records]
    assert len(records) >= least
    assert len(ids) == len(set(ids)) and all(re.match(pattern, i) for i in ids)
    earlier = {r["url"] for r in RECORDS}
    trials = DEVSET.parent / "trials"
    keys = {round_: {json.loads(line)["id"]: json.loads(line)["url"] for line in
                     (trials / round_ / "key.jsonl").read_text(encoding="utf-8").splitlines()
                     if line.strip()} for round_ in ("round5", "round6", "round7")}
    if which == "holdout2":
        earlier |= {r["url"] for r in HOLDOUT_RECORDS} | set(keys["round5"].values())
    if which == "holdout3":
        earlier |= {r["url"] for r in HOLDOUT_RECORDS + _records("holdout2.jsonl")}
        trial_urls = {**{i: u for i, u in keys["round5"].items()}, **keys["round6"]}
        assert all(trial_urls[r["id"]] == r["url"] for r in records)
    if which == "holdout4":
        earlier |= {r["url"] for r in HOLDOUT_RECORDS + _records("holdout2.jsonl")
                    + _records("holdout3.jsonl")}
        assert [(r["id"], r["url"]) for r in records] == list(keys["round7"].items())
    for record in records:
        assert set(record) == REQUIRED_KEYS, record["id"]
        assert record["split"] == which, record["id"]
        assert any(p.match(record["url"]) for p in URL_PATTERNS), record["url"]
        assert record["url"] not in earlier, record["id"]
        assert 1 <= len(record["gold_lines"]) <= MAX_GOLD_PATHS, record["id"]
        for gold in record["gold_lines"]:
            assert set(gold) == {"path", "start", "end", "phrase"}, record["id"]
            assert 1 <= gold["start"] <= gold["end"] < gold["start"] + MAX_GOLD_LINE_SPAN
    assert len({r["url"] for r in records}) == len(records)


# The synthetic set (benchmarks/synthetic.jsonl): questions written from passages drawn at random
# by benchmarks/sample_passages.py; dev-like (read question by question), never mixed into "all".
def _records(name: str) -> list[dict]:
    return [json.loads(line) for line in
            DEVSET.with_name(name).read_text(encoding="utf-8").splitlines() if line.strip()]


SYNTHETIC_RECORDS = _records("synthetic.jsonl")


def test_synthetic_records_are_well_formed():
    assert len(SYNTHETIC_RECORDS) >= 30
    ids = [r["id"] for r in SYNTHETIC_RECORDS]
    assert len(ids) == len(set(ids)) and all(re.match(r"^s\d{3}$", i) for i in ids)
    for record in SYNTHETIC_RECORDS:
        assert set(record) == REQUIRED_KEYS and record["split"] == "synthetic", record["id"]
        assert 1 <= len(record["gold_lines"]) <= MAX_GOLD_PATHS, record["id"]


# The second synthetic set (benchmarks/synthetic2.jsonl): 80 seeds drawn with another seed,
# written by two helpers; split in halves by CRC-32 of the id before any tuning. synthetic2 is
# dev-like, synthetic2-test is read only in aggregate.
SYNTHETIC2_RECORDS = _records("synthetic2.jsonl")


def test_synthetic2_records_are_well_formed_and_split_by_their_ids():
    assert len(SYNTHETIC2_RECORDS) >= 60
    ids = [r["id"] for r in SYNTHETIC2_RECORDS]
    assert len(ids) == len(set(ids)) and all(re.match(r"^t\d{3}$", i) for i in ids)
    assert not set(ids) & {r["id"] for r in SYNTHETIC_RECORDS + RECORDS + HOLDOUT_RECORDS}
    for record in SYNTHETIC2_RECORDS:
        assert set(record) == REQUIRED_KEYS, record["id"]
        want = "synthetic2-test" if zlib.crc32(record["id"].encode()) % 2 else "synthetic2"
        assert record["split"] == want, record["id"]
        assert 1 <= len(record["gold_lines"]) <= MAX_GOLD_PATHS, record["id"]
        for gold in record["gold_lines"]:
            assert set(gold) == {"path", "start", "end", "phrase"}, record["id"]
            assert 1 <= gold["start"] <= gold["end"] < gold["start"] + MAX_GOLD_LINE_SPAN
            assert gold["path"] == "CHANGELOG.md" or gold["path"].startswith(("docs/", "src/scvi/"))


_OLD_SETS = ("devset.jsonl", "holdout.jsonl", "holdout2.jsonl", "holdout3.jsonl", "holdout4.jsonl",
             "synthetic.jsonl", "synthetic2.jsonl")


RELATED_REPOS = re.compile(
    r"^https://github\.com/(satijalab/seurat-wrappers|lueckenlab/patpy|suinleelab/contrastiveVI|"
    r"Irrationone/cellassign|QuKunLab/SpatialBenchmarking|omicverse/omicverse|"
    r"theislab/(scarches|DRVI|single-cell-best-practices)|openproblems-bio/openproblems|"
    r"LungCellAtlas/mapping_data_to_the_HLCA|BayraktarLab/cell2location|satijalab/seurat|"
    r"MarioniLab/oor_design_reproducibility|pmelsted/AM_2024|"
    r"theislab/(scgen|scib-pipeline|scvelo|scib|cross_system_integration)|CSOgroup/cellcharter|"
    r"DendrouLab/panpipes|openpipelines-bio/openpipeline|ShaokunAn/scCausalVI|"
    r"theislab/(cpa|multigrate)|nf-core/scdownstream|openproblems-bio/openproblems-v2|"
    r"cellgeni/sceasy|chenlingantelope/HarmonizationSCANVI|earmingol/cell2cell|"
    r"bowang-lab/scGPT|laminlabs/lamindb|chanzuckerberg/cellxgene|"
    r"LungCellAtlas/HLCA_reproducibility"
    r")/(issues|pull)/\d+$")
"""holdout6 (session 8), dev4 and holdout7 (session 9), dev5 (session 10), holdout11 (session
12): threads of projects built on scvi-tools
whose answer is scvi-tools' own behaviour; the search no longer returned unused scvi-tools
threads."""


@pytest.mark.parametrize("name, prefix, count, earlier, rounds, patterns", [
    # dev2.jsonl (session 6): for tuning, from threads no other set or trial key uses.
    ("dev2", "d", 40, _OLD_SETS, ("round5", "round6", "round7"), URL_PATTERNS),
    # holdout5.jsonl (session 7): frozen, read only in aggregate; nor dev2's threads.
    ("holdout5", "p", 30, _OLD_SETS + ("dev2.jsonl",), ("round5", "round6", "round7"),
     URL_PATTERNS),
    # dev3.jsonl (session 7): for tuning; nor holdout5's or trial round 8's threads.
    ("dev3", "e", 30, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl"),
     ("round5", "round6", "round7", "round8"), URL_PATTERNS),
    # holdout6.jsonl (session 8): frozen at once, read only in aggregate; nor any set before it.
    ("holdout6", "h", 21, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl"),
     ("round5", "round6", "round7", "round8", "round9", "round10"),
     URL_PATTERNS + (RELATED_REPOS,)),
    # dev4.jsonl (session 9): for tuning, read in aggregate first; nor holdout6's threads or
    # any stored trial round's.
    ("dev4", "k", 35, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                   "holdout6.jsonl"),
     ("round5", "round6", "round7", "round8", "round9", "round10"),
     URL_PATTERNS + (RELATED_REPOS,)),
    # holdout7.jsonl (session 9): frozen at once, read only in aggregate; nor dev4's threads
    # or trial round 11's.
    ("holdout7", "m", 24, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                       "holdout6.jsonl", "dev4.jsonl"),
     ("round5", "round6", "round7", "round8", "round9", "round10", "round11"),
     URL_PATTERNS + (RELATED_REPOS, re.compile(r"^https://github\.com/scverse/scvi-tools/pull/\d+$"))),
    # dev5.jsonl (session 10): for tuning, read in aggregate first; nor holdout7's threads or
    # trial round 12's. Its helper took odd-numbered threads, holdout8's even ones.
    ("dev5", "v", 30, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                   "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl"),
     ("round5", "round6", "round7", "round8", "round9", "round10", "round11", "round12"),
     URL_PATTERNS + (RELATED_REPOS,)),
    # holdout8.jsonl (session 10): frozen at once, read only in aggregate; nor holdout7's
    # threads or trial round 12's. Its helper took even-numbered threads, dev5's odd ones.
    ("holdout8", "u", 24, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                       "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                       "dev5.jsonl"),
     ("round5", "round6", "round7", "round8", "round9", "round10", "round11", "round12"),
     URL_PATTERNS + (RELATED_REPOS, re.compile(r"^https://github\.com/scverse/[\w.-]+/pull/\d+$"))),
    # holdout9.jsonl (session 10, at its end): frozen at once and not read; nor any set or
    # stored trial round before it.
    ("holdout9", "w", 12, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                       "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                       "dev5.jsonl", "holdout8.jsonl"),
     ("round5", "round6", "round7", "round8", "round9", "round10", "round11", "round12",
      "round13", "round14"),
     URL_PATTERNS + (RELATED_REPOS,)),
    # holdout10.jsonl (session 12, at its start): frozen at once, read only in aggregate; nor
    # any set or stored trial round before it.
    ("holdout10", "x", 20, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                        "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                        "dev5.jsonl", "holdout8.jsonl", "holdout9.jsonl"),
     tuple(f"round{n}" for n in range(5, 22)),
     URL_PATTERNS + (RELATED_REPOS, re.compile(r"^https://github\.com/scverse/scvi-tools/pull/\d+$"))),
    # holdout11.jsonl (session 12, later): frozen at once, read only in aggregate; nor any set
    # or stored trial round before it.
    ("holdout11", "y", 12, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                        "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                        "dev5.jsonl", "holdout8.jsonl", "holdout9.jsonl",
                                        "holdout10.jsonl"),
     tuple(f"round{n}" for n in range(5, 24)),
     URL_PATTERNS + (RELATED_REPOS,)),
    # holdout12.jsonl (session 13): frozen at once, read only in aggregate; nor any set or
    # stored trial round before it.
    ("holdout12", "z", 12, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                        "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                        "dev5.jsonl", "holdout8.jsonl", "holdout9.jsonl",
                                        "holdout10.jsonl", "holdout11.jsonl"),
     tuple(f"round{n}" for n in range(5, 25)),
     URL_PATTERNS + (RELATED_REPOS,)),
    # holdout13.jsonl (session 14): frozen at once, asked in trial round 26 before any read
    # (as w01-w12); nor any set or stored trial round before it. 7 of 12 on query mapping.
    ("holdout13", "r", 12, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                        "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                        "dev5.jsonl", "holdout8.jsonl", "holdout9.jsonl",
                                        "holdout10.jsonl", "holdout11.jsonl", "holdout12.jsonl"),
     tuple(f"round{n}" for n in range(5, 26)),
     URL_PATTERNS + (RELATED_REPOS, re.compile(
         r"^https://github\.com/(single-cell-data/TileDB-SOMA-ML|"
         r"theislab/scArches-reproducibility)/issues/\d+$"))),
    # holdout14.jsonl (session 15): frozen at once, asked in trial round 27 before any read;
    # nor any set or stored trial round before it.
    ("holdout14", "c", 12, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                        "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                        "dev5.jsonl", "holdout8.jsonl", "holdout9.jsonl",
                                        "holdout10.jsonl", "holdout11.jsonl", "holdout12.jsonl",
                                        "holdout13.jsonl"),
     tuple(f"round{n}" for n in range(5, 27)),
     URL_PATTERNS + (RELATED_REPOS, re.compile(
         r"^https://github\.com/(bdsc-tds/xenium_analysis_pipeline|zhanghao-njmu/SCP)"
         r"/issues/\d+$"))),
    # holdout15.jsonl (session 17): frozen at once, read only in aggregate; nor any set or
    # stored trial round before it.
    ("holdout15", "a", 14, _OLD_SETS + ("dev2.jsonl", "holdout5.jsonl", "dev3.jsonl",
                                        "holdout6.jsonl", "dev4.jsonl", "holdout7.jsonl",
                                        "dev5.jsonl", "holdout8.jsonl", "holdout9.jsonl",
                                        "holdout10.jsonl", "holdout11.jsonl", "holdout12.jsonl",
                                        "holdout13.jsonl", "holdout14.jsonl", "synthetic2.jsonl"),
     tuple(f"round{n}" for n in range(5, 33)),
     URL_PATTERNS + (RELATED_REPOS,)),
    # holdout16.jsonl (session 26): frozen at once, read only in aggregate; no other set
    # (all were there before it) and no stored trial round before it.
    ("holdout16", "b", 20, tuple(sorted(
        p.name for p in DEVSET.parent.glob("*.jsonl")
        if p.name not in ("holdout16.jsonl", "citation_labels.jsonl", "pitfall_questions.jsonl"))),
     tuple(f"round{n}" for n in range(5, 55)),
     URL_PATTERNS),
    # dev6.jsonl (session 35): for tuning, read in aggregate first; no other set and no stored
    # trial round before it. 34 of its 40 threads are scvi-tools pull requests.
    ("dev6", "w", 40, tuple(sorted(
        p.name for p in DEVSET.parent.glob("*.jsonl")
        if p.name not in ("dev6.jsonl", "citation_labels.jsonl", "pitfall_questions.jsonl"))),
     tuple(f"round{n}" for n in range(5, 73)),
     URL_PATTERNS + (RELATED_REPOS,
                     re.compile(r"^https://github\.com/scverse/scvi-tools/pull/\d+$"))),
])
def test_a_fresh_set_uses_threads_no_earlier_set_uses(name, prefix, count, earlier, rounds,
                                                       patterns):
    """Sets a helper curated from fresh threads without running the skill: ids in order, the
    split named after the file, URLs that no earlier set or trial key holds, short gold."""
    records = _records(f"{name}.jsonl")
    assert [r["id"] for r in records] == [f"{prefix}{i:02d}" for i in range(1, count + 1)]
    trials = DEVSET.parent / "trials"
    used = {r["url"] for set_name in earlier for r in _records(set_name)}
    for round_ in rounds:
        used |= {json.loads(line)["url"] for line in
                 (trials / round_ / "key.jsonl").read_text(encoding="utf-8").splitlines() if line}
    assert len({r["url"] for r in records}) == len(records)
    for record in records:
        assert set(record) == REQUIRED_KEYS and record["split"] == name, record["id"]
        assert any(p.match(record["url"]) for p in patterns), record["url"]
        assert record["url"] not in used, record["id"]
        assert 1 <= len(record["gold_lines"]) <= MAX_GOLD_PATHS, record["id"]
        assert record["gold_docs"] or record["gold_source"], record["id"]
        for gold in record["gold_lines"]:
            assert set(gold) == {"path", "start", "end", "phrase"}, record["id"]
            assert 1 <= gold["start"] <= gold["end"] < gold["start"] + MAX_GOLD_LINE_SPAN
            assert gold["path"] == "CHANGELOG.md" or gold["path"].startswith(("docs/", "src/scvi/"))


HINTS = DEVSET.parent / "hints"


@pytest.mark.parametrize("hints", ["first.jsonl", "second.jsonl"])
def test_the_agents_hints_are_one_per_question_and_what_also_takes(hints):
    """benchmarks/hints/: what an agent wrote from memory for each question (--also), two
    independent sets, each covering every question of every set. Each hint is words the
    option takes whole (at most MAX_ALSO_CHARS, no control bytes)."""
    from resolve_docs import MAX_ALSO_CHARS, _also

    sets = sorted(p.name for p in DEVSET.parent.glob("*.jsonl")
                  if p.name not in ("citation_labels.jsonl", "pitfall_questions.jsonl"))
    wanted = {(r["split"], r["id"]) for name in sets for r in _records(name)}
    rows = [json.loads(line) for line in (HINTS / hints).read_text(encoding="utf-8").splitlines()]
    keys = [(r["split"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys)) and set(keys) == wanted
    assert len(wanted) >= 686
    for row in rows:
        assert set(row) == {"split", "id", "also"}
        assert _also(row["also"]) == row["also"] and len(row["also"]) <= MAX_ALSO_CHARS

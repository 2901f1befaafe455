"""The resolver's building blocks: tokenizer, search-index build, ranking on a tiny index."""

from __future__ import annotations

import json

import pytest
from scvi_skill.build import search_index
from scvi_skill.runtime import rank
from scvi_skill.runtime.schema import SEARCH_INDEX_FORMAT
from scvi_skill.runtime import tokens
from scvi_skill.runtime.index import SEARCH_INDEX_PATH
from scvi_skill.runtime.tokens import identifiers, normalize_phrase, probe_key, stem, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("batch_key", ["batch_key", "batch", "key"], id="snake"),
        pytest.param("TrainerConfig", ["trainerconfig", "trainer", "config"], id="camel"),
        pytest.param(
            "scvi.model.SCANVI", ["scvi.model.scanvi", "scvi", "model", "scanvi"], id="dotted"
        ),
        pytest.param("my scVI loss is NaN", ["scvi", "loss", "nan"], id="words"),
        pytest.param("NaNs", ["nan"], id="short-mixed-case-is-a-word"),
        pytest.param("e.g. the", [], id="stopwords"),
    ],
)
def test_tokenize(text, expected):
    assert tokenize(text) == expected


def test_whole_identifiers_are_not_stemmed_but_parts_are():
    toks = tokenize("get_normalized_expression")
    assert toks[0] == "get_normalized_expression"
    assert stem("normalized") in toks


@pytest.mark.parametrize(
    "group",
    [
        ["loss", "losses"],
        ["normalize", "normalized", "normalization", "normalizing"],
        ["train", "trained", "training"],
        ["gene", "genes"],
        ["layer", "layers"],
        ["category", "categories"],
        ["batch", "batches"],
        ["map", "mapped", "mapping", "mappings"],
        # a plural meets its singular where the singular loses "ing" or "ization"
        ["embedding", "embeddings", "embed"],
        ["warning", "warnings"],
        ["docstring", "docstrings"],
        ["normalization", "normalizations"],
        ["string", "strings"],
    ],
)
def test_stemmer_conflates_forms(group):
    assert len({stem(w) for w in group}) == 1, {w: stem(w) for w in group}


@pytest.mark.parametrize("pair", [["layer", "lay"], ["embed", "emb"], ["string", "str"], ["class", "clas"]])
def test_stemmer_keeps_distinct_words(pair):
    assert stem(pair[0]) != pair[1]


def test_settings_keeps_a_stem_of_its_own():
    """``scvi.settings`` names an object: its plural is not merged into "set"."""
    assert stem("settings") == "setting" != stem("setting") == stem("set")


_PROBE_WORDS = (
    "copies libraries nation nations relational normalisation normalization organisation "
    "batches stopping mapped trainers sizes size categories SCVI.setup_anndata TrainerConfig "
    "use_gpu NaNs scVI dataloaders 0.05 binarize binarized emphasize"
)


def test_every_term_of_a_line_has_its_probe_key_in_the_line(pinned_tree):
    """The pack tokenizes only the lines that hold a query term's probe key: a line whose
    term's key is missing would drop a window line unseen."""
    texts = _PROBE_WORDS.split() + pinned_tree.to_disk("CHANGELOG.md").read_text(
        encoding="utf-8").splitlines()
    texts += pinned_tree.to_disk("src/scvi/model/base/_base_model.py").read_text(
        encoding="utf-8").splitlines()
    checked = 0
    for text in texts:
        low = text.lower()
        for term in tokenize(text):
            assert probe_key(term) in low, (term, probe_key(term), text)
            checked += 1
    assert checked > 10_000
    # The stemmer's put-back letters are what the key drops.
    assert (probe_key(stem("copies")), probe_key(stem("normalisation")), probe_key(stem("nation"))) \
        == ("cop", "normali", "nat")
    assert probe_key("batch_key") == "batch_key"


def test_stems_are_remembered_and_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(tokens, "MAX_STEMS", 3)
    monkeypatch.setattr(tokens, "_STEMS", {})
    assert [stem(w) for w in ("losses", "trained", "losses")] == ["loss", "train", "loss"]
    assert tokens._STEMS == {"losses": "loss", "trained": "train"}
    stem("normalized"), stem("batches")
    assert len(tokens._STEMS) <= 3 and tokens._STEMS["batches"] == "batch"


def test_identifiers_and_phrases():
    assert identifiers("use SCVI.setup_anndata with batch_key, not ELBO stuff") == [
        "SCVI.setup_anndata", "batch_key", "ELBO",
    ]
    assert normalize_phrase("Where is X  defined?") == "where is x defined"


def test_tokenize_is_bounded_on_junk():
    junk = "A" * 10_000 + " " + "x_" * 5000 + " λ细胞 $(rm) `id`"
    toks = tokenize(junk)
    assert all(len(t) <= 80 for t in toks)


# ------------------------------------------------------------------ tiny index


def tiny_index() -> dict:
    def section(title, start, end, text, symbols=(), parents=("Guide",)):
        return {"title": title, "level": 2, "start": start, "end": end, "parents": list(parents),
                "symbols": list(symbols), "text": text}

    return {
        "format": 1,
        "scvi_tools_version": "9.9.9",
        "tree_sha256": "abc",
        "upstream": "https://example.org/blob/9.9.9/",
        "docs": [
            {"path": "docs/faq.md", "title": "FAQ", "summary": "answers", "topic": "start", "n_lines": 60,
             "sections": [
                 section("FAQ", 1, 5, "Questions people ask.", parents=()),
                 section("batch_key or categorical_covariate_keys?", 6, 30,
                         "batch_key supports more features than categorical covariates.",
                         ["scvi.model.SCVI"]),
                 section("My loss is NaN", 31, 60, "Lower the learning rate; check raw counts."),
             ]},
            {"path": "docs/user_guide/models/scanvi.md", "title": "scANVI", "summary": "label transfer",
             "topic": "models", "n_lines": 40,
             "sections": [section("scANVI", 1, 40, "Semi-supervised label transfer with labels_key.",
                                  ["scvi.model.SCANVI"], parents=())]},
            {"path": "docs/user_guide/use_case/multi_gpu_training.md", "title": "Multi GPU",
             "summary": "DDP", "topic": "use_case", "n_lines": 20,
             "sections": [section("Multi GPU", 1, 20, "Use strategy ddp and several devices.",
                                  ["scvi.train.Trainer"], parents=())]},
        ],
        "symbols": [
            {"qualname": "scvi.model._scvi.SCVI", "public": ["scvi.model.SCVI"], "kind": "class",
             "path": "src/scvi/model/_scvi.py", "line": 30, "summary": "single-cell VI",
             "params": [{"name": "n_latent"}], "bases": ["VAEMixin"], "decorators": []},
            {"qualname": "scvi.model._scanvi.SCANVI", "public": ["scvi.model.SCANVI"], "kind": "class",
             "path": "src/scvi/model/_scanvi.py", "line": 40, "summary": "Single-cell annotation",
             "params": [{"name": "unlabeled_category"}], "bases": [], "decorators": []},
            {"qualname": "scvi.train._trainer.Trainer", "public": ["scvi.train.Trainer"], "kind": "class",
             "path": "src/scvi/train/_trainer.py", "line": 12, "summary": "Lightning trainer",
             "params": [{"name": "devices"}, {"name": "strategy"}], "bases": [], "decorators": []},
            {"qualname": "scvi", "public": [], "kind": "module", "path": "src/scvi/__init__.py",
             "line": 1, "summary": "", "params": []},
        ],
        "namespaces": {"scvi.model.SCVI": "scvi.model._scvi.SCVI", "scvi.model.SCANVI": "scvi.model._scanvi.SCANVI",
                       "scvi.train.Trainer": "scvi.train._trainer.Trainer"},
        "tests": [{"path": "tests/model/test_scanvi.py", "symbols": ["scvi.model.SCANVI"]}],
        "routing": {
            "topics": [{"id": "multi_gpu", "title": "Multi-GPU", "vocabulary": ["DDP", "multi GPU"],
                        "docs": ["docs/user_guide/use_case/multi_gpu_training.md"],
                        "source": ["src/scvi/train/_trainer.py"]}],
            "siblings": [{"skill": "theory-skill", "why": "maths", "when": ["ELBO", "does scvi have"]}],
            "overrides": [{"query": "NaN", "prefer": ["docs/faq.md"]}],
            "synonyms": {"GPUs": ["devices", "strategy"], "out of memory": ["backed"]},
        },
    }


@pytest.fixture(scope="module")
def sidx() -> dict:
    return search_index.build(tiny_index())


def test_build_is_deterministic_and_json_clean(sidx):
    again = search_index.build(json.loads(json.dumps(tiny_index())))
    dump = lambda d: json.dumps(d, sort_keys=True, separators=(",", ":"))  # noqa: E731
    assert dump(sidx) == dump(again)
    assert sidx["format"] == SEARCH_INDEX_FORMAT
    assert "regenerate" in sidx["_generated"]
    assert [d[0] for d in sidx["docs"]] == sorted(d[0] for d in sidx["docs"])


def test_postings_are_integer_impacts(sidx):
    for term, lists in sidx["terms"].items():
        assert len(lists) in (3, 4)  # the fourth, tutorial cards, only when a card has the term
        for postings in lists:
            for item in postings.split():
                unit, impact = item.split(":")
                assert int(unit) >= 0 and int(impact) > 0


def test_names_links_and_homes(sidx):
    sources = [s[0] for s in sidx["sources"]]
    assert "src/scvi/__init__.py" not in [sources[v[0]] for v in sidx["names"].values()]
    scanvi = sidx["names"]["scanvi"]
    assert sources[scanvi[0]] == "src/scvi/model/_scanvi.py" and scanvi[1] == "scvi.model.SCANVI"
    assert sidx["names"]["scvi.model.scanvi"] == scanvi
    docs = [d[0] for d in sidx["docs"]]
    assert docs[sidx["homes"]["scanvi"][0]] == "docs/user_guide/models/scanvi.md"
    faq_batch = next(i for i, s in enumerate(sidx["sections"]) if s[1].startswith("batch_key"))
    assert [sources[i] for i in sidx["sec_src"][faq_batch]] == ["src/scvi/model/_scvi.py"]
    assert "tests/model/test_scanvi.py" in sources


def test_resolve_on_tiny_index(sidx):
    out = rank.resolve("should donors go in batch_key?", sidx)
    assert out["docs"][0]["path"] == "docs/faq.md"
    assert out["docs"][0]["lines"] == [6, 30]
    assert out["source"][0]["path"] == "src/scvi/model/_scvi.py"  # linked from the section

    out = rank.resolve("training with DDP", sidx)
    assert out["docs"][0]["path"] == "docs/user_guide/use_case/multi_gpu_training.md"
    assert out["source"][0]["path"] == "src/scvi/train/_trainer.py"


def test_a_source_file_is_found_by_the_less_common_words_of_its_text():
    """With the tree's lines, a source file's plain words count (its ``body`` field): one only
    the trainer's code uses ("mps") finds that file; a word more than BODY_MAX_FILES files use
    gets no body posting; whole local identifiers add no terms."""
    from scvi_skill.runtime.formats import SLOT_SOURCE

    index = tiny_index()
    many = [f"src/scvi/x/_f{i}.py" for i in range(search_index.BODY_MAX_FILES + 1)]
    index["symbols"] += [{"qualname": f"scvi.x._f{i}.f", "public": [], "kind": "function",
                          "path": p, "line": 1, "summary": "", "params": []}
                         for i, p in enumerate(many)]
    text = {"src/scvi/train/_trainer.py": ["if accelerator == 'mps':", "    local_thing = 1"]}
    text.update({p: ["common_word = 'everywhere'"] for p in many})
    built = search_index.build(index, lambda path: text.get(path, [""]))
    sources = [row[0] for row in built["sources"]]

    def files(term):
        entry = built["terms"].get(term) or []
        row = entry[SLOT_SOURCE] if len(entry) > SLOT_SOURCE else ""
        return {sources[int(item.split(":")[0])] for item in row.split()}

    assert files("mps") == {"src/scvi/train/_trainer.py"}
    assert rank.resolve("training on mps", built)["source"][0]["path"] == "src/scvi/train/_trainer.py"
    assert files("everywher") == set() and "local_thing" not in built["terms"]
    assert "mps" not in search_index.build(tiny_index())["terms"]  # no lines, no body


def test_named_symbol_and_home_doc(sidx):
    out = rank.resolve("how does scvi.model.SCANVI work", sidx)
    assert out["docs"][0]["path"] == "docs/user_guide/models/scanvi.md"
    assert out["source"][0] == {
        "path": "src/scvi/model/_scanvi.py", "symbol": "scvi.model.SCANVI", "line": 40,
        "score": out["source"][0]["score"],
    }


def test_synonyms_and_routes(sidx):
    weights = rank.query_terms("train on 4 GPUs", sidx["synonyms"])
    assert weights[stem("devices")] == rank.PARAMS["synonym"] < weights[stem("gpus")]
    # A phrase key fires only when all its words are there.
    assert stem("backed") in rank.query_terms("I ran out of memory", sidx["synonyms"])
    assert stem("backed") not in rank.query_terms("memory of the model", sidx["synonyms"])
    out = rank.resolve("what is the ELBO", sidx)
    assert out["routes"] == [{"skill": "theory-skill", "why": "maths"}]
    # Route triggers match whole phrases: "does scvi have" must not fire on "scvi" alone.
    assert rank.resolve("scvi loss", sidx)["routes"] == []
    assert rank.resolve("does scvi have a GPU mode", sidx)["routes"][0]["skill"] == "theory-skill"


def test_override_prefers_doc(sidx):
    out = rank.resolve("NaN", sidx)
    assert out["docs"][0]["path"] == "docs/faq.md"
    assert out["docs"][0]["section"] == "My loss is NaN"


def test_empty_and_unknown_queries(sidx):
    assert rank.resolve("zzzz qqqq", sidx)["docs"] == []
    assert rank.resolve("", sidx)["docs"] == []


def test_returned_lines_are_the_scored_unit():
    """A parent section returns its own body, a bare heading its subsections, a tutorial
    index the matching card."""
    def section(title, level, start, body_end, end, text, parents=()):
        return {"title": title, "level": level, "start": start, "body_end": body_end, "end": end,
                "parents": list(parents), "symbols": [], "text": text}

    index = tiny_index()
    index["docs"] = [
        {"path": "docs/user_guide/models/totalvi.md", "title": "totalVI", "summary": "", "topic": "models",
         "n_lines": 200, "sections": [
             section("totalVI", 1, 1, 12, 200, "totalVI models CITE-seq RNA and protein jointly."),
             section("Generative process", 2, 14, 80, 120, "Protein background and foreground.",
                     ["totalVI"]),
             section("Priors", 3, 81, 120, 120, "Background prior per batch.", ["totalVI", "Generative process"]),
             section("Release 9.9", 2, 121, 121, 140, "", ["totalVI"]),
             section("Fixed", 3, 123, 139, 140, "Crash in protein normalisation.", ["totalVI", "Release 9.9"]),
         ]},
        {"path": "docs/tutorials/index_multimodal.md", "title": "Multimodal", "summary": "", "topic": "tutorials",
         "n_lines": 30, "sections": [
             section("Multimodal", 1, 1, 30, 30, "cite-seq totalvi peakvi ATAC chromatin"),
         ]},
    ]
    index["tutorials"] = [
        {"card_in": "docs/tutorials/index_multimodal.md", "line": 10, "end": 15, "title": "totalVI",
         "description": "CITE-seq analysis with totalVI", "tags": [], "notebook": "notebooks/multimodal/totalVI.ipynb"},
        {"card_in": "docs/tutorials/index_multimodal.md", "line": 17, "end": 22, "title": "PeakVI",
         "description": "chromatin accessibility ATAC with PeakVI", "tags": [], "notebook": "notebooks/atac/PeakVI.ipynb"},
    ]
    built = search_index.build(index)
    out = rank.resolve("totalVI CITE-seq RNA protein jointly", built)["docs"]
    page = next(d for d in out if d["path"] == "docs/user_guide/models/totalvi.md")
    assert (page["section"], page["lines"]) == ("totalVI", [1, 12])  # not [1, 200]
    out = rank.resolve("ATAC chromatin accessibility tutorial", built)["docs"]
    tutorial = next(d for d in out if d["path"] == "docs/tutorials/index_multimodal.md")
    assert (tutorial["section"], tutorial["lines"]) == ("PeakVI", [17, 22])
    release = next(s for s in built["sections"] if s[1] == "Release 9.9")
    assert release[2:] == [121, 139]  # a bare heading: with its subsection, no trailing blank
    fixed = next(s for s in built["sections"] if s[1].endswith("Fixed"))
    assert fixed[1] == "Release 9.9 > Fixed"


def test_model_file_surfaces_its_module_below_itself():
    index = tiny_index()
    scvi = next(s for s in index["symbols"] if s["qualname"] == "scvi.model._scvi.SCVI")
    scvi["uses"] = {"module": "scvi.module._vae.VAE", "training_plan": "scvi.train._trainer.Trainer"}
    scvi["mro"] = []
    index["symbols"].append(
        {"qualname": "scvi.module._vae.VAE", "public": ["scvi.module.VAE"], "kind": "class",
         "path": "src/scvi/module/_vae.py", "line": 20, "summary": "Variational auto-encoder",
         "params": [{"name": "n_hidden"}], "bases": [], "decorators": [], "uses": {}, "mro": []})
    index["namespaces"]["scvi.module.VAE"] = "scvi.module._vae.VAE"
    built = search_index.build(index)
    sources = [s[0] for s in built["sources"]]
    links = {sources[t]: (kind, name) for t, kind, name, _ in
             built["src_uses"][sources.index("src/scvi/model/_scvi.py")]}
    assert links == {"src/scvi/module/_vae.py": (0, "scvi.module.VAE"),
                     "src/scvi/train/_trainer.py": (1, "scvi.train.Trainer")}

    question = "how does SCVI use n_latent"
    out = rank.resolve(question, built)["source"]
    with_links = [s["path"] for s in out]
    assert with_links[:2] == ["src/scvi/model/_scvi.py", "src/scvi/module/_vae.py"]
    assert (out[1]["symbol"], out[1]["line"]) == ("scvi.module.VAE", 20)
    off = dict(rank.PARAMS, uses=(0.0, 0.0, 0.0, 0.0))
    without = [s["path"] for s in rank.resolve(question, built, params=off)["source"]]
    assert without[0] == "src/scvi/model/_scvi.py"
    assert "src/scvi/module/_vae.py" not in without[:2]  # the link is what brings it up


def test_class_method_names_resolve_to_their_own_file():
    """"SOLO.from_scvi_model" names SOLO's method, not SCANVI's same-named one."""
    index = tiny_index()
    for cls, path in (("SCANVI", "src/scvi/model/_scanvi.py"), ("SOLO", "src/scvi/external/solo/_model.py")):
        module = "scvi.model._scanvi" if cls == "SCANVI" else "scvi.external.solo._model"
        public = "scvi.model" if cls == "SCANVI" else "scvi.external"
        if cls == "SOLO":
            index["symbols"].append({"qualname": f"{module}.SOLO", "public": ["scvi.external.SOLO"],
                                     "kind": "class", "path": path, "line": 20, "summary": "doublets",
                                     "params": [], "bases": [], "decorators": []})
        index["symbols"].append({"qualname": f"{module}.{cls}.from_scvi_model",
                                 "public": [f"{public}.{cls}.from_scvi_model"], "kind": "method",
                                 "path": path, "line": 90, "summary": "init from scvi", "params": []})
    built = search_index.build(index)
    sources = [s[0] for s in built["sources"]]
    assert built["name_files"]["from_scvi_model"] == 2
    assert "external.solo" not in built["names"]  # module paths are no Class.method tails
    named = rank._named_symbols("SOLO.from_scvi_model says unsupported", built)
    assert [sources[sid] for sid in named] == ["src/scvi/external/solo/_model.py"]
    assert named[sources.index("src/scvi/external/solo/_model.py")][:2] == ("scvi.external.SOLO.from_scvi_model", 90)
    out = rank.resolve("SOLO.from_scvi_model says unsupported", built)
    assert out["source"][0]["path"] == "src/scvi/external/solo/_model.py"
    # A bare name defined in two files weighs 1 / 2 ** ambiguous_power.
    params = dict(rank.PARAMS, ambiguous_power=1.0)
    (weight,) = [w for _, _, w in rank._named_symbols("call from_scvi_model() first", built, params).values()]
    assert weight == 0.5


def test_a_passage_is_found_by_the_summaries_of_the_names_it_cites():
    """A terse release note or docs line that cites a name ({class}`~scvi.train.Trainer`)
    is also indexed under that name's docstring summary ("Lightning trainer")."""
    from scvi_skill.runtime.formats import SLOT_PASSAGE

    faq = [f"line {n}" for n in range(1, 61)]
    faq[40] = "- Pass a custom {class}`~scvi.train.Trainer` to fix it."
    faq[44] = "- Lower the learning rate."
    built = search_index.build(tiny_index(), read_lines=lambda path: faq if path == "docs/faq.md"
                               else [f"line {n}" for n in range(1, 61)])
    cites = next(i for i, p in enumerate(built["passages"]) if p[1] <= 41 <= p[2])
    plain = next(i for i, p in enumerate(built["passages"]) if p[1] <= 45 <= p[2])
    assert cites != plain

    def units(term):
        row = built["terms"].get(stem(term)) or []
        postings = row[SLOT_PASSAGE] if len(row) > SLOT_PASSAGE else ""
        return {int(item.split(":")[0]) for item in postings.split()}

    assert cites in units("lightning") and plain not in units("lightning")
    assert "lightning" not in faq[40].lower()


@pytest.mark.parametrize("sec, shown", [
    ({"title": "Fixed", "level": 4, "parents": ["Release notes", "Version 1.5", "1.5.1 (2026-09-10)"]},
     "1.5.1 (2026-09-10) > Fixed"),
    ({"title": "Breaking change: SCANVI", "level": 5,
      "parents": ["Release notes", "Version 0.9", "New in 0.9.0 (2021-03-03)", "Important changes"]},
     "New in 0.9.0 (2021-03-03) > Important changes > Breaking change: SCANVI"),
    ({"title": "Training details", "level": 3, "parents": ["scANVI", "Inference"]},
     "Inference > Training details"),
    ({"title": "Version 1.5", "level": 2, "parents": ["Release notes"]}, "Version 1.5"),
])
def test_a_subsection_title_names_its_parent_and_release(sec, shown):
    assert search_index._display_title(sec) == shown


def test_every_release_note_section_below_a_release_names_it():
    shipped = json.loads(SEARCH_INDEX_PATH.read_text(encoding="utf-8"))
    docs = shipped["docs"]
    titles = [sec[1] for sec in shipped["sections"] if docs[sec[0]][2] == "changelog"]
    assert any(t.startswith("New in 0.9.0 (2021-03-03) > Important changes > ") for t in titles)
    # Only the release series headings and the file's own sections lack a release number.
    bare = [t for t in titles if not rank._RELEASE.search(t)]
    assert bare and all(t.startswith(("Release notes", "Version ", "Pre-Version ", "scvi History"))
                        for t in bare), bare

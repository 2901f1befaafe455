"""Rank source entry points per routing topic and per model family (maintainer module).

A model family is every public class of ``scvi.model`` / ``scvi.external`` that has a
``setup_anndata`` (or ``setup_mudata``). Its entries, in rank order: the user-facing class;
its setup method (with the AnnData fields it registers); ``train``; downstream methods;
save/load where the class overrides them (the inherited ones are in the save_load topic); its
base classes and mixins; the module, training plan and data splitter it uses
(``_module_cls``-style class attributes); the tests that exercise it.
A routing topic lists its curated symbols, then its curated files, then the tests that use
those symbols most.
"""

from __future__ import annotations

import re
from collections import Counter

from scvi_skill.build.source.sourcemap import SourceMap
from scvi_skill.build.source.testmap import TestRefs
from scvi_skill.runtime.schema import SETUP_METHODS
from scvi_skill.runtime.text import clip

MODEL_PACKAGES = ("scvi.model", "scvi.external")
DOWNSTREAM_METHODS = (
    "get_latent_representation", "get_normalized_expression", "differential_expression",
    "predict", "get_likelihood_parameters", "posterior_predictive_sample",
    "load_query_data", "prepare_query_anndata", "minify_adata",
)
PERSISTENCE_METHODS = ("save", "load", "convert_legacy_save")
HOOKS = (
    ("_module_cls", "module (the torch network) the model builds"),
    ("_training_plan_cls", "training plan (losses, optimizers) train() uses"),
    ("_data_splitter_cls", "data splitter (train/validation loaders) train() uses"),
)
MAX_TESTS_PER_FAMILY = 3
MAX_TESTS_PER_TOPIC = 4
MAX_WHY_CHARS = 140


_CITATION = re.compile(r"\s*:(?:foot)?cite(?::\w+)?:`[^`]*`")
_ROLE = re.compile(r":[\w:]+:`~?([^`]*)`")
_PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _clip(text: str) -> str:
    """A ``why`` on one line, cut to MAX_WHY_CHARS."""
    return clip(" ".join(text.split()), MAX_WHY_CHARS)


def _tests_label(refs: TestRefs) -> str:
    if not refs.n_tests:
        return "test helpers using "
    return f"{refs.n_tests} test{'s' if refs.n_tests != 1 else ''} using "


def plain_summary(summary: str) -> str:
    """A docstring summary without citations, role markup or docrep placeholders."""
    text = _ROLE.sub(lambda m: m.group(1), _CITATION.sub("", summary))
    text = _PLACEHOLDER.sub("", text).strip()
    return "" if not text.strip(" .") else text


class _Ranker:
    def __init__(self, source: SourceMap, tests: list[TestRefs]) -> None:
        self.source = source
        self.tests = tests
        self.entries: list[dict] = []
        self.ranks: Counter = Counter()

    def public(self, qualname: str) -> str:
        symbol = self.source.by_qualname.get(qualname)
        return symbol["public"][0] if symbol and symbol.get("public") else qualname

    def add(self, group: str, topic: str, qualname: str, why: str, seen: set[str]) -> None:
        symbol = self.source.by_qualname.get(qualname)
        if symbol is None or qualname in seen:
            return
        seen.add(qualname)
        self.entries.append({
            "group": group, "line": symbol["line"], "path": symbol["path"],
            "rank": self._next_rank(topic), "symbol": self.public(qualname), "topic": topic,
            "why": _clip(why),
        })

    def add_file(self, group: str, topic: str, path: str, why: str, seen: set[str]) -> None:
        if path in seen:
            return
        seen.add(path)
        self.entries.append({
            "group": group, "line": 1, "path": path,
            "rank": self._next_rank(topic), "symbol": "", "topic": topic, "why": _clip(why),
        })

    def _next_rank(self, topic: str) -> int:
        self.ranks[topic] += 1
        return self.ranks[topic]

    def tests_for(self, names: list[str], stem_hint: str, limit: int) -> list[TestRefs]:
        scored = []
        for refs in self.tests:
            count = sum(refs.counts.get(n, 0) for n in names)
            if count:
                hinted = stem_hint and stem_hint in refs.path.rsplit("/", 1)[-1].lower()
                scored.append((not hinted, -count, refs.path, refs))
        return [refs for *_, refs in sorted(scored)[:limit]]

    def family(self, public: str, cls: str) -> None:
        topic, group, seen = public, "model", set()
        symbol = self.source.by_qualname[cls]
        self.add(group, topic, cls, "user-facing model class: " +
                 plain_summary(symbol["summary"]), seen)
        resolver = self.source.resolver
        setup_fields: list[str] = []
        for name in SETUP_METHODS:
            method = self.source.member(cls, name)
            if method:
                registers = self.source.by_qualname.get(method, {}).get("registers", [])
                setup_fields += registers
                shown = ", ".join(r.rsplit(".", 1)[-1] for r in registers) or "see source"
                self.add(group, topic, method, f"{name}: registers AnnData fields ({shown})",
                         seen)
        for name in ("train", *DOWNSTREAM_METHODS, *PERSISTENCE_METHODS):
            method = self.source.member(cls, name)
            own = bool(method) and method.startswith(cls + ".")
            if not method or (name in PERSISTENCE_METHODS and not own):
                continue  # inherited save/load: see the save_load topic
            where = "" if own else f" (inherited from {method.rsplit('.', 2)[-2]})"
            summary = plain_summary(self.source.by_qualname.get(method, {}).get("summary", ""))
            self.add(group, topic, method, f"{name}{where}: {summary or name}", seen)
        for base in resolver.bases(cls):
            summary = plain_summary(self.source.by_qualname.get(base, {}).get("summary", ""))
            self.add(group, topic, base, f"base class / mixin: {summary}", seen)
        for hook, role in HOOKS:
            target = self._hook(cls, hook)
            if target:
                self.add(group, topic, target, role, seen)
        for field_name in setup_fields:
            target = self.source.namespaces.get(field_name, field_name)
            self.add(group, topic, target, "AnnData field class registered by setup", seen)
        stem = public.rsplit(".", 1)[-1].lower()
        for refs in self.tests_for([public], stem, MAX_TESTS_PER_FAMILY):
            self.add_file(group, topic, refs.path, _tests_label(refs) + public, seen)

    def _hook(self, cls: str, hook: str) -> str | None:
        resolver = self.source.resolver
        for base in resolver.linearize(cls):
            expr = resolver.classes[base]["hooks"].get(hook)
            if expr:
                target = resolver.dotted(resolver.class_module[base], expr)
                return target if target in self.source.by_qualname else None
        return None

    def topic(self, topic: dict) -> None:
        topic_id, group, seen = topic["id"], "topic", set()
        title = topic.get("title", topic_id)
        for name in topic.get("symbols") or []:
            qualname = self.source.namespaces.get(name, name)
            symbol = self.source.by_qualname.get(qualname, {})
            summary = plain_summary(symbol.get("summary", ""))
            if symbol.get("registers"):
                summary = "registers AnnData fields (" + ", ".join(
                    r.rsplit(".", 1)[-1] for r in symbol["registers"]) + ")"
            self.add(group, topic_id, qualname, f"{symbol.get('kind', '')}: {summary or title}",
                     seen)
        covered = {e["path"] for e in self.entries if e["topic"] == topic_id}
        for path in topic.get("source") or []:
            if path in covered:
                continue
            self.add_file(group, topic_id, path, self._file_summary(path), seen)
        names = list(topic.get("symbols") or [])
        for refs in self.tests_for(names, "", MAX_TESTS_PER_TOPIC):
            if refs.path not in seen:
                used = [n for n in names if refs.counts.get(n)]
                self.add_file(group, topic_id, refs.path, _tests_label(refs) + ", ".join(used),
                              seen)

    def _file_summary(self, path: str) -> str:
        """What a curated file holds: the tests' subjects, a package's exports, or the
        module's own definitions."""
        if path.startswith("tests/"):
            refs = next((t for t in self.tests if t.path == path), None)
            if refs is None:
                return "tests"
            top = [n for n, _ in sorted(refs.counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            return _tests_label(refs) + ", ".join(top[:4])
        module = next((m for m in self.source.modules.values() if m.path == path), None)
        if module is None:
            return "source file"
        if module.is_package:
            exports = [n for n in self.source.namespaces
                       if n.rpartition(".")[0] == module.name]
            return f"exports {len(exports)} names: " + ", ".join(
                n.rsplit(".", 1)[1] for n in exports[:6]) + (" ..." if len(exports) > 6 else "")
        callables = {s["qualname"] for s in module.symbols}
        defined = [n for n, b in module.bindings.items()
                   if b.kind == "def" and b.target == f"{module.name}.{n}" and b.target in callables]
        text = plain_summary(module.doc)
        return (text + "; " if text else "") + "defines " + ", ".join(defined[:6]) + (
            " ..." if len(defined) > 6 else "")


def model_families(source: SourceMap) -> list[tuple[str, str]]:
    """(public name, qualname) of each model class, sorted by public name."""
    families = []
    for public, qualname in source.namespaces.items():
        package, _, name = public.rpartition(".")
        if package not in MODEL_PACKAGES or qualname not in source.by_qualname:
            continue
        if source.by_qualname[qualname]["kind"] != "class":
            continue
        if any(source.member(qualname, m) for m in SETUP_METHODS):
            families.append((public, qualname))
    return sorted(families)


def rank_entries(source: SourceMap, tests: list[TestRefs], routing: dict) -> list[dict]:
    ranker = _Ranker(source, tests)
    for topic in routing.get("topics") or []:
        ranker.topic(topic)
    for public, qualname in model_families(source):
        ranker.family(public, qualname)
    return ranker.entries

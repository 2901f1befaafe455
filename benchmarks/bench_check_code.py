#!/usr/bin/env python3
"""Measure check_code.py: false alarms on real docs, recall on removals, speed, index size.

- **No false alarms**: every Python code block in docs/ (Markdown fences ``python``,
  ``ipython``, ``{code-block} python``, and an unlabelled fence that opens with a ``>>>``
  prompt, as the model guides write their examples) of each release's own sdist, checked
  against that release as ``check_code.py`` reads a Markdown file (the blocks of one file
  share names; ``scvi`` and the release's model class names need no import).
  ``precision`` = 1 - flagged / checked, where ``checked`` counts the scvi names resolved
  and the keywords checked; each flagged item is printed for review. A finding that running
  the doc's code shows to be the doc's own error (:data:`DOC_ERRORS`, each with its proof)
  is counted apart.
- **No false alarms in prose**: every inline code span holding a call in the same docs
  (Markdown prose, outside the fences), checked as ``check_code.py`` checks an answer's
  sentences (:mod:`scvi_skill.runtime.prosecode`: bound to the model the words name), against
  the docs' own release; each flagged span is printed.
- **Recall**: for each pair of consecutive releases A -> B, every public name of A that B
  lacks (``from M import N`` for module-level names, a call for class members) and every
  keyword a callable of both loses (``C(kw=1)``), as one small snippet each, checked
  against B; ``recall`` = caught / generated. Keywords B takes through plain ``**kwargs``
  (where they still work) are reported apart.
- **A model's keywords for its module** (``kwargs_to: "class"``): for each pair of
  consecutive releases and each model class of both, every parameter of one release's module
  class (``uses["module"]``) that the other release's model and module both lack, its module
  taking no plain ``**kwargs``: ``Model(adata, kw=1)`` checked against the release that lacks
  it, in both directions (went: A's keyword against B; came: B's against A), beside the
  same check with the routes left out of the index (before).
- **No false alarms on the routes**: each release's own ``tests/`` (1.1.0 on), every keyword
  the checker checks through a route (a class's to its module, a method's to the callable its
  ``**kwargs`` reach: DE to ``get_bayes_factors``), and the flagged ones printed for review; and the count
  of all findings there (a few are tests that expect the error).
- **Speed**: ``python3 scripts/check_code.py FILE`` on a generated 200-line file, whole
  process (interpreter start to exit), median of --runs.
- **Size** of references/api/.

Needs the release sdists unpacked (``--trees``, default the scvi-skill cache's
``release-trees/``; ``scripts/build_api_index.py`` fills ``sdists/``) and markdown-it-py.

Usage:
  uv run --extra maintainer python benchmarks/bench_check_code.py [--trees DIR] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))

from markdown_it import MarkdownIt  # noqa: E402

from scvi_skill.build.api_releases import _with_returned_members  # noqa: E402
from scvi_skill.runtime.apiindex import (  # noqa: E402
    API_DIR,
    ReleaseApi,
    load_history,
    load_migrations,
    load_release,
    load_releases,
)
from scvi_skill.runtime.codecheck import SnippetScope, check_snippet  # noqa: E402
from scvi_skill.runtime.codelint import (  # noqa: E402
    History, _console, _explain, lint_file, markdown_scope)
from scvi_skill.runtime.paths import trees_dir  # noqa: E402
from scvi_skill.runtime.prosecode import SPAN  # noqa: E402

PY_INFOS = ("python", "py", "ipython", "ipython3", "{code-block} python", "{code-cell} python",
            "{code-block} ipython", "{code-cell} ipython3")


DOC_ERRORS = {
    # A finding in a release's own docs that running that code shows to be an error: (the
    # doc file, a part of the finding's message) -> the test that runs it. Each is counted
    # apart from the false alarms.
    ("docs/user_guide/models/cellassign.md", "CellAssign() does not take keyword "
     "'size_factor_key'"): "tests/test_pitfall_proofs.py::"
                           "test_cellassign_size_factor_key_belongs_to_setup_anndata",
    ("docs/user_guide/models/cellassign.md", "CellAssign.predict() takes no argument"):
        "tests/test_pitfall_proofs.py::test_cellassign_predict_takes_no_adata_and_numbers_its_rows",
    ("docs/user_guide/models/scar.md", "SCAR.get_ambient_profile(): keyword 'adata' removed"):
        "tests/test_pitfall_proofs.py::test_scar_ambient_profile_takes_the_anndata_positionally",
    ("docs/user_guide/models/cytovi.md", "scvi.external.CytoVI.merge_batches: not in"):
        "tests/test_pitfall_proofs.py::test_cytovi_merge_batches_is_a_module_function",
    # 1.3.0's guide shows SCVI(adata=None, registry=...), which that release's SCVI lacks
    # (its __init__ takes adata and **kwargs for the module; registry came in 1.3.1)
    ("docs/user_guide/use_case/custom_dataloaders.md", "SCVI(): keyword 'registry' added in"):
        "references/api/ (1.3.0's SCVI.__init__ has no registry; 1.3.1's has)",
}
"""The doc findings known to be errors in the docs, not in the checker."""


def doc_error(rel: str, message: str) -> str | None:
    """Where a doc finding is shown to be the doc's error, else None (a false alarm)."""
    return next((proof for (path, part), proof in DOC_ERRORS.items()
                 if rel == path and part in message), None)


class CountingApi:
    """Wraps a ReleaseApi and counts the names and keywords the checker asks about."""

    def __init__(self, api: ReleaseApi) -> None:
        self._api = api
        self.names = 0
        self.keywords = 0

    def __getattr__(self, name):
        return getattr(self._api, name)

    def lookup(self, dotted):
        self.names += 1
        return self._api.lookup(dotted)

    def accepts(self, qualname, keyword):
        self.keywords += 1
        return self._api.accepts(qualname, keyword)


def release_tree(trees: Path, version: str) -> Path:
    root = trees / f"scvi_tools-{version}"
    if not root.is_dir():
        archive = trees_dir().parent / "sdists" / f"scvi_tools-{version}.tar.gz"
        with tarfile.open(archive) as tar:
            tar.extractall(trees, filter="data")
    return root


def doc_blocks(root: Path) -> dict[str, list[str]]:
    parser = MarkdownIt("commonmark")
    blocks: dict[str, list[str]] = {}
    for path in sorted((root / "docs").rglob("*.md")):
        tokens = parser.parse(path.read_text(encoding="utf-8", errors="replace"))
        found = [t.content for t in tokens if t.type == "fence" and (
            t.info.strip() in PY_INFOS or not t.info.strip() and _console(t.content.splitlines()))]
        if found:
            blocks[path.relative_to(root).as_posix()] = found
    return blocks


def _clean(block: str) -> str:
    lines = []
    for line in block.splitlines():
        stripped = line.lstrip()
        if stripped.startswith((">>> ", "... ")):
            line = stripped[4:]
        elif stripped.startswith(("%", "!", ":")):  # magics, shell, MyST directive options
            line = ""
        lines.append(line)
    return "\n".join(lines)


def false_alarms(trees: Path, releases, history: History) -> dict:
    rows, flagged, errors = [], [], []
    for version in releases.versions:
        api = CountingApi(ReleaseApi(load_release(releases, version)))
        n_blocks = n_found = n_errors = 0
        for rel, blocks in doc_blocks(release_tree(trees, version)).items():
            scope = markdown_scope(api._api)  # as check_code.py reads a Markdown file
            for block in blocks:
                n_blocks += 1
                for finding in check_snippet(_clean(block), api, scope, inline=False):
                    if finding.check == "python":
                        continue  # a block that is not plain Python (output, pseudo-code)
                    message = _explain(finding, rel, None, api._api, history).message
                    if proof := doc_error(rel, message):
                        n_errors += 1
                        errors.append(f"{version} {rel}: {message} [the doc's error: {proof}]")
                        continue
                    n_found += 1
                    flagged.append(f"{version} {rel}: {message}")
        checked = api.names + api.keywords
        rows.append({"version": version, "blocks": n_blocks, "checked": checked,
                     "flagged": n_found, "doc_errors": n_errors})
    checked = sum(r["checked"] for r in rows)
    n_flagged = sum(r["flagged"] for r in rows)
    return {"releases": len(rows), "blocks": sum(r["blocks"] for r in rows), "checked": checked,
            "flagged": n_flagged, "precision": round(1 - n_flagged / max(checked, 1), 4),
            "doc_errors": sum(r["doc_errors"] for r in rows),
            "flagged_items": sorted(set(flagged)), "doc_error_items": sorted(set(errors))}


def prose_false_alarms(trees: Path, releases, history: History) -> dict:
    """Findings from the docs' prose spans of each release (``lint_file(prose=True)`` less
    the same file's fence findings)."""
    n_spans = n_files = 0
    flagged = []
    for version in releases.versions:
        api = ReleaseApi(load_release(releases, version))
        root = release_tree(trees, version)
        for path in sorted((root / "docs").rglob("*.md")):
            text = path.read_text(encoding="utf-8", errors="replace")
            lines = text.splitlines()
            spans = sum("(" in m.group(2) for line in lines for m in SPAN.finditer(line))
            if not spans:
                continue
            n_files += 1
            n_spans += spans
            rel = path.relative_to(root).as_posix()
            fences = {(f.line, f.col, f.message) for f in lint_file(path, rel, api, history, text)}
            flagged += [f"{version} {rel}:{f.line}: {f.message}"
                        for f in lint_file(path, rel, api, history, text, prose=True)
                        if (f.line, f.col, f.message) not in fences]
    return {"releases": len(releases.versions), "files": n_files, "spans": n_spans,
            "flagged": len(flagged), "flagged_items": flagged}


def recall(releases, history: History, outside: dict | None = None) -> dict:
    """Removals between consecutive releases, generated from their indexes, that the checker
    catches. A member whose own definition went while a base of another package still
    supplies it (``outside``: the history's spans of such members, torch's ``Module.train``
    for TangramMapper from 1.5.0) is no removal a user meets: counted apart."""
    generated = caught = via_kwargs = supplied = 0
    missed: list[str] = []
    loaded = {v: load_release(releases, v) for v in releases.versions}
    versions = history.versions
    for old, new in zip(releases.versions, releases.versions[1:]):
        a, b = loaded[old], loaded[new]
        api = ReleaseApi(b)
        # what users reach: MRVI of 1.4.x builds a TorchMRVI, whose members its instances have
        a = {**a, "namespaces": _with_returned_members(a)}
        b = {**b, "namespaces": _with_returned_members(b)}
        for name in sorted(set(a["namespaces"]) - set(b["namespaces"])):
            snippet = _name_snippet(name, a)
            if snippet is None:
                continue
            at = versions.index(new) if new in versions else -1
            if any(lo <= at <= hi for lo, hi in (outside or {}).get(name, {}).get("spans", [])):
                supplied += 1
                continue
            generated += 1
            if any(f.check == "name" for f in check_snippet(snippet, api, SnippetScope(), inline=False)):
                caught += 1
            else:
                missed.append(f"{old}->{new} {name}")
        for name in sorted(set(a["namespaces"]) & set(b["namespaces"])):
            old_kw, new_kw = _keywords(a, name), _keywords(b, name)
            if old_kw is None or new_kw is None:
                continue
            for keyword in sorted(old_kw - new_kw):
                qualname = b["namespaces"][name]
                verdict = api.accepts(qualname, keyword)
                if verdict.accepted and verdict.via:
                    via_kwargs += 1
                    continue
                generated += 1
                snippet = f"import scvi\n{name}({keyword}=1)\n"
                if any(f.kwarg == keyword for f in check_snippet(snippet, api, SnippetScope(), inline=False)):
                    caught += 1
                else:
                    missed.append(f"{old}->{new} {name}({keyword}=)")
    return {"generated": generated, "caught": caught, "recall": round(caught / max(generated, 1), 4),
            "kept_by_kwargs": via_kwargs, "supplied_by_a_base": supplied, "missed": missed}


def _module_params(release: dict, symbol: dict) -> tuple[set[str], bool] | None:
    """The keyword parameters of a model symbol's module class and whether that class takes
    plain ``**kwargs``; None when the model names no module or its parameters are unknown."""
    module = release["symbols"].get((symbol.get("uses") or {}).get("module", ""))
    if not module or module.get("params_known") is False or module["kind"] != "class":
        return None
    return ({p["name"] for p in module.get("params") or []
             if p.get("kind") in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")},
            bool(module.get("var_kwargs")))


def _unrouted(release: dict) -> dict:
    """The release's index as before the routes: no class's ``**kwargs`` followed."""
    symbols = {q: {k: v for k, v in s.items()
                   if not (s.get("kwargs_to") == "class"
                           and k in ("kwargs_to", "kwargs_target", "kwargs_keys", "kwargs_fixed"))}
               for q, s in release["symbols"].items()}
    return {**release, "symbols": symbols}


def passed_on(releases) -> dict:
    loaded = {v: load_release(releases, v) for v in releases.versions}
    counts = {d: {"generated": 0, "caught": 0, "caught_before": 0} for d in ("went", "came")}
    missed: list[str] = []
    pairs = list(zip(releases.versions, releases.versions[1:]))
    for direction, ordered in (("went", pairs), ("came", [(b, a) for a, b in pairs])):
        for has, lacks in ordered:
            a, b = loaded[has], loaded[lacks]
            now, before = ReleaseApi(b), ReleaseApi(_unrouted(b))
            for name in sorted(set(a["namespaces"]) & set(b["namespaces"])):
                sa = a["symbols"].get(a["namespaces"][name]) or {}
                sb = b["symbols"].get(b["namespaces"][name]) or {}
                ma, mb = _module_params(a, sa), _module_params(b, sb)
                own_b = _keywords(b, name)
                if sa.get("kind") != "class" or ma is None or mb is None or own_b is None \
                        or mb[1] or not sb.get("var_kwargs"):
                    continue
                own_a = _keywords(a, name) or set()
                for keyword in sorted(ma[0] - mb[0] - own_b - own_a):
                    counts[direction]["generated"] += 1
                    snippet = f"import scvi\nm = {name}(adata, {keyword}=1)\n"
                    for api, key in ((now, "caught"), (before, "caught_before")):
                        if any(f.kwarg == keyword for f in
                               check_snippet(snippet, api, SnippetScope(), inline=False)):
                            counts[direction][key] += 1
                        elif key == "caught":
                            missed.append(f"{direction} {has}->{lacks} {name}({keyword}=)")
    return {**counts, "missed": missed}


def route_false_alarms(trees: Path, releases) -> dict:
    """Each release's tests/: keywords checked through a class's **kwargs route, flagged."""
    checked = flagged = files = found = 0
    items: list[str] = []
    dropped: list[str] = []  # keywords a method's **kwargs lose: no error, no effect
    for version in releases.versions:
        tests = release_tree(trees, version) / "tests"
        if not tests.is_dir():
            continue
        api = RouteCountingApi(ReleaseApi(load_release(releases, version)))
        for path in sorted(tests.rglob("*.py")):
            files += 1
            text = path.read_text(encoding="utf-8", errors="replace")
            for finding in check_snippet(text, api, SnippetScope(), inline=False):
                if finding.check != "python":
                    found += 1
                if finding.check == "dropped_key":
                    dropped.append(f"{version} {path.relative_to(tests.parent).as_posix()}:"
                                   f"{finding.line}: {finding.name} {finding.kwarg}")
                routed = api.symbols.get(api.namespaces.get(finding.name, "")) or {}
                if finding.check == "kwarg" and routed.get("kwargs_to") in ROUTES:
                    flagged += 1
                    items.append(f"{version} {path.relative_to(tests.parent).as_posix()}:"
                                 f"{finding.line}: {finding.message}")
        checked += api.routed
    return {"files": files, "checked": checked, "flagged": flagged, "flagged_items": items,
            "findings": found, "dropped": len(dropped), "dropped_items": dropped}


ROUTES = ("class", "call")
"""The ``kwargs_to`` of a class or callable whose ``**kwargs`` go on to one callable."""


class RouteCountingApi(CountingApi):
    """Counts the keywords checked through a class's ``**kwargs`` route."""

    def __init__(self, api: ReleaseApi) -> None:
        super().__init__(api)
        self.routed = 0

    def accepts(self, qualname, keyword):
        verdict = super().accepts(qualname, keyword)
        symbol = self._api.symbols.get(qualname) or {}
        if symbol.get("kwargs_to") in ROUTES and (verdict.via or not verdict.accepted):
            self.routed += 1
        return verdict


def _name_snippet(name: str, release: dict) -> str | None:
    parts = name.split(".")
    if any(p.startswith("_") for p in parts[1:]):
        return None
    parent = ".".join(parts[:-1])
    owner = release["symbols"].get(release["namespaces"].get(parent, ""), {})
    if owner.get("kind") == "class":
        return f"import scvi\n{name}()\n"
    if len(parts) < 2:
        return None
    return f"from {parent} import {parts[-1]}\n"


def _keywords(release: dict, name: str) -> set[str] | None:
    symbol = release["symbols"].get(release["namespaces"].get(name, ""))
    if not symbol or symbol.get("params_known") is False or \
            symbol["kind"] not in ("function", "method", "class"):
        return None
    return {p["name"] for p in symbol.get("params") or []
            if p.get("kind") in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")}


def speed(runs: int) -> dict:
    body = ["import scvi", "import numpy as np", "adata = None"]
    while len(body) < 200:
        i = len(body)
        body += [f"scvi.model.SCVI.setup_anndata(adata, layer='counts', batch_key='b{i}')",
                 f"model_{i} = scvi.model.SCVI(adata, n_latent=10, n_layers=2)",
                 f"model_{i}.train(max_epochs=5, accelerator='cpu', early_stopping=True)",
                 f"z_{i} = model_{i}.get_latent_representation()",
                 f"x_{i} = np.log1p(np.arange({i}))"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "analysis.py"
        path.write_text("\n".join(body[:200]) + "\n", encoding="utf-8")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, str(REPO / "scripts" / "check_code.py"), str(path)],
                           capture_output=True, check=False)
            times.append((time.perf_counter() - started) * 1000)
        floor = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=False)
            floor.append((time.perf_counter() - started) * 1000)
    return {"lines": 200, "runs": runs, "p50_ms": round(statistics.median(times)),
            "max_ms": round(max(times)), "python_floor_p50_ms": round(statistics.median(floor))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=Path, default=trees_dir().parent / "release-trees")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    releases = load_releases()
    history = History(load_history(releases), load_migrations())
    report = {
        "no_false_alarms": false_alarms(args.trees, releases, history),
        "prose_false_alarms": prose_false_alarms(args.trees, releases, history),
        "recall": recall(releases, history, load_history(releases).get("outside")),
        "passed_on": passed_on(releases),
        "route_false_alarms": route_false_alarms(args.trees, releases),
        "speed": speed(args.runs),
        "size_bytes": sum(p.stat().st_size for p in API_DIR.iterdir() if p.is_file()),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        fa, rc, sp = report["no_false_alarms"], report["recall"], report["speed"]
        for item in fa["flagged_items"]:
            print("flagged:", item)
        for item in rc["missed"]:
            print("missed:", item)
        for item in fa["doc_error_items"]:
            print("the doc's error:", item)
        print(f"no false alarms: {fa['releases']} releases, {fa['blocks']} doc code blocks, "
              f"{fa['checked']} names+keywords checked, {fa['flagged']} flagged, "
              f"precision {fa['precision']}; {fa['doc_errors']} findings the docs' own "
              "errors (each shown by a test that runs it, or by the release's own signature)")
        pr = report["prose_false_alarms"]
        for item in pr["flagged_items"]:
            print("flagged (prose):", item)
        print(f"no false alarms in prose: {pr['releases']} releases, {pr['files']} doc pages, "
              f"{pr['spans']} inline code spans holding a call, {pr['flagged']} flagged")
        print(f"recall: {rc['caught']}/{rc['generated']} removals caught = {rc['recall']} "
              f"({rc['kept_by_kwargs']} removed keywords still taken by **kwargs, "
              f"{rc['supplied_by_a_base']} members a base of another package still supplies: "
              "not counted)")
        po, rf = report["passed_on"], report["route_false_alarms"]
        for item in po["missed"]:
            print("missed (module keyword):", item)
        for item in rf["flagged_items"]:
            print("flagged (route, tests/):", item)
        for direction in ("went", "came"):
            row = po[direction]
            print(f"module keywords a model passes on, {direction}: {row['caught']}/"
                  f"{row['generated']} caught (before the routes: {row['caught_before']})")
        print(f"routes over each release's tests/: {rf['files']} files, {rf['checked']} "
              f"keywords checked through a route, {rf['flagged']} flagged; all findings "
              f"there: {rf['findings']} (tests that expect an error among them; "
              f"{rf['dropped']} a keyword a method drops with a warning)")
        for item in rf["dropped_items"]:
            print("dropped (tests/):", item)
        print(f"speed: 200-line file, p50 {sp['p50_ms']} ms, max {sp['max_ms']} ms "
              f"(python -c pass: {sp['python_floor_p50_ms']} ms)")
        print(f"size: references/api/ {report['size_bytes'] / 1e6:.2f} MB")
    ok = (report["no_false_alarms"]["precision"] >= 0.98
          and report["prose_false_alarms"]["flagged"] == 0 and report["recall"]["recall"] >= 0.95
          and report["speed"]["p50_ms"] <= 300 and report["size_bytes"] <= 4_000_000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Release report between two scvi-tools trees: what the maps and the skill would see change.

Docs added, removed and renamed; public names added, removed and moved to another file;
signatures whose parameters changed; and the tree paths and dotted names cited in SKILL.md and
the hand-written references (routing.yaml, non-generated ``references/*.md``) that the new
tree no longer has.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from scvi_skill.runtime.paths import SKILL_ROOT
from scvi_skill.runtime.tree import Tree

from .refresh import GENERATOR, build_index
from .routing import load_routing

MAX_LISTED = 25
_CITED_PATH = re.compile(r"(?<![\w/.-])((?:docs|src|tests)/[\w./-]*[\w/]|CHANGELOG\.md)")
_CITED_NAME = re.compile(r"(?<![\w./-])(scvi(?:\.[A-Za-z_]\w*)+)")
FILE_SUFFIXES = frozenset({"md", "py", "ipynb", "yaml", "yml", "json", "txt", "toml"})


def release_report(old: Tree, new: Tree, *, routing_path: Path,
                   skill_root: Path = SKILL_ROOT) -> dict:
    routing = load_routing(routing_path)
    old_index = build_index(old, routing, validate_routing=False)[0]
    new_index = build_index(new, routing, validate_routing=False)[0]
    report = compare(old_index, new_index)
    report["citations"] = broken_citations(cited_files(skill_root), old, new, new_index)
    return report


def _top_level_names(index: dict) -> dict[str, dict | None]:
    """Public names that are not class members -> their symbol (None for re-exports)."""
    by_qualname = {s["qualname"]: s for s in index["symbols"]}
    namespaces = index["namespaces"]
    out = {}
    for name, target in namespaces.items():
        owner = by_qualname.get(namespaces.get(name.rpartition(".")[0], ""))
        if owner is not None and owner["kind"] in ("class", "variable"):
            continue
        out[name] = by_qualname.get(target)
    return out


def _direct_signatures(index: dict) -> dict[str, dict]:
    """Shortest public name -> symbol, one per callable (aliases such as
    ``scvi.external.mrvi.MRVI`` of ``scvi.external.MRVI`` are not repeated)."""
    out = {}
    for symbol in index["symbols"]:
        if symbol["public"] and symbol["kind"] in ("class", "function", "method"):
            name = min(symbol["public"], key=lambda n: (n.count("."), n))
            out[name] = symbol
    return out


def compare(old: dict, new: dict) -> dict:
    old_docs = {d["path"]: d for d in old["docs"]}
    new_docs = {d["path"]: d for d in new["docs"]}
    added = sorted(set(new_docs) - set(old_docs))
    removed = sorted(set(old_docs) - set(new_docs))
    renamed = []
    for path in list(removed):
        match = next((a for a in added if new_docs[a]["title"].lower() ==
                      old_docs[path]["title"].lower() or
                      PurePosixPath(a).name == PurePosixPath(path).name), None)
        if match:
            renamed.append({"from": path, "to": match})
            removed.remove(path)
            added.remove(match)
    old_names, new_names = _top_level_names(old), _top_level_names(new)
    moved = []
    for name in sorted(set(old_names) & set(new_names)):
        before, after = old_names[name], new_names[name]
        if before and after and before["path"] != after["path"]:
            moved.append({"name": name, "from": before["path"], "to": after["path"]})
    return {
        "from": old["scvi_tools_version"], "to": new["scvi_tools_version"],
        "docs": {"added": added, "removed": removed, "renamed": renamed},
        "names": {
            "added": _grouped(sorted(set(new_names) - set(old_names)), new_names,
                              new["namespaces"]),
            "removed": _grouped(sorted(set(old_names) - set(new_names)), old_names,
                                old["namespaces"]),
            "moved": moved,
        },
        "signatures": _signature_changes(old, new),
    }


def _grouped(names: list[str], symbols: dict[str, dict | None], namespaces: dict[str, str]
             ) -> list[dict]:
    """One entry per definition: its shortest public name, the other names as aliases."""
    by_target: dict[str, list[str]] = {}
    for name in names:
        by_target.setdefault(namespaces[name], []).append(name)
    entries = []
    for aliases in by_target.values():
        aliases.sort(key=lambda n: (n.count("."), n))
        symbol = symbols[aliases[0]]
        entries.append({"name": aliases[0], "aliases": aliases[1:],
                        "path": symbol["path"] if symbol else None,
                        "line": symbol["line"] if symbol else None})
    return sorted(entries, key=lambda e: e["name"])


def _signature_changes(old: dict, new: dict) -> list[dict]:
    before, after = _direct_signatures(old), _direct_signatures(new)
    changes = []
    for name in sorted(set(before) & set(after)):
        old_params = {p["name"]: p for p in before[name]["params"]}
        new_params = {p["name"]: p for p in after[name]["params"]}
        change = {
            "name": name,
            "added": [p for p in new_params if p not in old_params],
            "removed": [p for p in old_params if p not in new_params],
            "default_changed": [p for p in new_params if p in old_params and
                                new_params[p].get("default") != old_params[p].get("default")],
        }
        if change["added"] or change["removed"] or change["default_changed"]:
            change["path"], change["line"] = after[name]["path"], after[name]["line"]
            changes.append(change)
    return changes


def cited_files(skill_root: Path) -> list[Path]:
    """SKILL.md and the hand-written references (generated maps are rebuilt, not broken)."""
    files = [skill_root / "SKILL.md", skill_root / "references" / "routing.yaml"]
    references = skill_root / "references"
    if references.is_dir():
        for path in sorted(references.glob("*.md")):
            head = path.read_text(encoding="utf-8", errors="replace")[:300]
            if GENERATOR not in head:
                files.append(path)
    return [f for f in files if f.is_file()]


def broken_citations(files: list[Path], old: Tree, new: Tree, new_index: dict) -> list[dict]:
    namespaces = new_index["namespaces"]
    qualnames = {s["qualname"] for s in new_index["symbols"]}
    broken = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        label = _label(path)
        seen: set[str] = set()
        for number, line in enumerate(text.splitlines(), 1):
            for match in _CITED_PATH.finditer(line):
                rel = match.group(1).rstrip("/.")
                if rel not in seen and not new.to_disk(rel).exists():
                    seen.add(rel)
                    broken.append({"file": label, "line": number, "cited": rel, "kind": "path",
                                   "in_old_tree": old.to_disk(rel).exists()})
            for match in _CITED_NAME.finditer(line):
                name = match.group(1)
                if name.rsplit(".", 1)[-1] in FILE_SUFFIXES:
                    continue  # a file name such as scvi.md, not a dotted name
                if name not in seen and name not in namespaces and name not in qualnames:
                    seen.add(name)
                    broken.append({"file": label, "line": number, "cited": name, "kind": "name",
                                   "in_old_tree": None})
    return broken


def _label(path: Path) -> str:
    try:
        return path.resolve().relative_to(SKILL_ROOT).as_posix()
    except ValueError:
        return path.name


def _listed(items: list[str]) -> list[str]:
    shown = [f"  {item}" for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        shown.append(f"  ... {len(items) - MAX_LISTED} more (--json lists all)")
    return shown


def _aliases(entry: dict) -> str:
    return f" (also {', '.join(entry['aliases'])})" if entry["aliases"] else ""


def render_report(report: dict) -> str:
    docs, names = report["docs"], report["names"]
    lines = [f"scvi-tools {report['from']} -> {report['to']}", "",
             f"Docs: {len(docs['added'])} added, {len(docs['removed'])} removed, "
             f"{len(docs['renamed'])} renamed"]
    lines += _listed([f"+ {p}" for p in docs["added"]] + [f"- {p}" for p in docs["removed"]] +
                     [f"~ {r['from']} -> {r['to']}" for r in docs["renamed"]])
    lines += ["", f"Public names (one line per definition): {len(names['removed'])} removed, "
              f"{len(names['moved'])} moved, {len(names['added'])} added"]
    lines += _listed([f"- {n['name']}" + _aliases(n) for n in names["removed"]] +
                     [f"~ {m['name']}: {m['from']} -> {m['to']}" for m in names["moved"]] +
                     [f"+ {n['name']}" + (f" ({n['path']}:{n['line']})" if n["path"] else "") +
                      _aliases(n) for n in names["added"]])
    changes = report["signatures"]
    lines += ["", f"Signatures changed: {len(changes)}"]
    lines += _listed([f"{c['name']}: " + ", ".join(
        [f"+{p}" for p in c["added"]] + [f"-{p}" for p in c["removed"]] +
        [f"default {p}" for p in c["default_changed"]]) for c in changes])
    citations = report.get("citations", [])
    lines += ["", f"Citations in SKILL.md and hand-written references that would break: "
              f"{len(citations)}"]
    lines += _listed([f"{c['file']}:{c['line']}: {c['cited']} ({c['kind']})"
                      for c in citations])
    return "\n".join(lines)


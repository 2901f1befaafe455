"""The calls an answer writes in its sentences: inline code spans of Markdown prose.

``check_code.py`` checks a Markdown draft's Python fences; an answer also recommends calls
in its sentences ("clip gradients with `model.train(..., gradient_clip_val=...)`"). This
module finds those spans and what they call on:

- **the span:** a CommonMark code span (a run of backticks, the same run closing it) outside
  the fences, on one line, holding a call (``(``). Fences and headings are not prose.
- **its receiver** (:func:`bindings`): a name an earlier fence of the section bound stays
  bound (the caller's scope). Otherwise a name spelt as a model class (``MULTIVI``) is that
  class; a lowercase variable whose parts name one model among others (``scanvi_model``; a
  bare ``cytovi`` is the subpackage ``scvi.external.cytovi``) is that model;
  and a variable that looks like a model (``model``, ``vae``) is the model the span's words
  name (:func:`span_model`): its sentence's, else its paragraph's or list item's, else its
  section's, when that names exactly one model class (``MultiVI``, ``scANVI``, ``TOTALVI``).
- **what is not a recommendation** (:data:`CUES`, :func:`names_other_release`): a span
  whose sentence says the call is wrong, gone or replaced ("does not work", "was",
  "became", "instead of", ``->``), or whose paragraph (or, for a list item, the lead-in
  line ending in ":" above the list, "Details (1.0.3):") names another release than the
  one checked (``1.1.5``, "in 1.2", "0.7 - 0.14"; "anndata 0.10.9" is another package's),
  is the answer describing or warning against the call, and a span right after a
  ``path:line`` quotes the tree's code there: none of them is checked.

A bare lowercase call (``differential_expression(gene_list=...)``) is the method of the one
model the span's words name, when that model has the method (:func:`bare_method`); other
bare names (``load_state_dict(...)``, ``Normal(loc=...)``) are not guessed: torch and
Lightning share them.

Measured on the stored answers (``benchmarks/trials``, rounds 5-64, and the helpers' cited
answers; 120 files) against 1.5.1: 10 spans flagged. Five are errors the blind graders
charged (``gradient_clip_val`` for MULTIVI and TOTALVI, whose plans optimize by hand;
``MULTIVI.setup_anndata(batch_key=...)``, a stub; ``differential_expression(gene_list=...)``),
two one sentence giving 1.5.1's MRVI a ``dof`` it lacks, and three answers for users of an
older release checked here against 1.5.1. The docs' prose of all 33 releases: none
(``bench_check_code.py``).

Standard library only; runs on Python >= 3.10.
"""

from __future__ import annotations

import ast
import re
from collections import namedtuple

from .fences import LIST_ITEM
from .requirements import of_other_package

SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
"""An inline code span on one line: a backtick run, the code, the same run (CommonMark 6.1)."""
HEADING = re.compile(r"^ {0,3}#{1,6}(?:\s|$)")
SECTION = re.compile(r"^#{1,2} \S")
"""A top-level heading (``#``, ``##``): a new answer, whose names start afresh (the fences'
scopes of ``codelint`` end there too)."""
WORD = re.compile(r"(?<![\w.-])([A-Za-z][A-Za-z0-9]*)(?![\w-])")
MIN_CAPITALS = 2
"""A word names a model class when, ignoring case, it is the class's name and has at least
this many capitals (``scVI``, ``MultiVI``, ``SOLO``): ``scvi`` alone is the package,
``solo`` a word, and "Decipher the log" or "Tangram" at a sentence's start an English word
as often as a model (so those two are never named by words). A dotted path's last part is
not a word: an answer writes ``scvi.external.MRVI`` for a model it points to beside the one
it is about."""

CUES = re.compile(
    r"(?i)\b(?:not|no longer|doesn't|don't|isn't|wasn't|won't|cannot|can't|never|old|older|"
    r"was|were|removed|deprecated|renamed|instead of|rather than|wrong|fails?|raises?|"
    r"crash(?:es)?|error|writes|says|shows|replaced?|became|formerly|legacy|before)\b|→|->")
"""Words of a sentence that describes or warns against the call it shows, rather than
recommending it ("`model.train(pin_memory=True)` does not work", "the old
`scvi.data.setup_anndata(...)`", "`X` became `Y`")."""
RELEASE = re.compile(
    r"\b\d+\.\d+\.\d+\b"
    r"|(?i:\b(?:in|since|before|until|after|release|version|scvi-tools|v)\s+v?)\d+\.\d+\b"
    r"|\b\d+\.\d+\s*[-\u2013]\s*\d+\.\d+\b")
"""A release a paragraph names: ``1.1.5``, "in 1.2", "scvi-tools 1.4", "0.7 - 0.14"."""
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?")

MAX_SPANS = 2000
"""Spans checked in one file, at most (about 0.3 ms each; an answer writes tens): a
generated file of a hundred thousand spans is checked in its first 2,000."""

ProseSpan = namedtuple("ProseSpan", "line col code model assigned", defaults=(None,))
"""A span: its 1-based line and column (of the code, after the backticks), the code, the
public name of the one model class its words name (None when none or several, or when its
sentence points to another model by a dotted path: ``scvi.external.MRVI``), and the model
classes its section's fences assign to names, above or below it (``vae =
scvi.model.SCVI(adata)`` -> ``{"vae": "scvi.model.SCVI"}``)."""
QUOTE_REACH = 300
"""Characters before a span searched for the ``path:line`` it would quote."""
QUOTED_TREE = re.compile(
    r"[\w./-]+\.(?:py|md|toml|ipynb):L?\d+(?:[-\u2013]\d+)?[`\s:,)\u2014-]{0,6}$")
"""A path:line just before a span (``tests/.../test_sysvi.py:245-247 — `call(...)```): the
span quotes the tree's code there, whatever it does."""
DOTTED_MODEL = re.compile(r"\bscvi\.(?:model|external)\.([A-Za-z]\w*)")


class ModelNames(dict):
    """Short name -> public name of each model class; ``lowered`` keys the same by the name
    in lower case (``scanvi``), made once for all the spans of a file."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(names)
        self.lowered = {short.lower(): public for short, public in names.items()}


def _lowered(models: dict[str, str]) -> dict[str, str]:
    return getattr(models, "lowered", None) or {k.lower(): v for k, v in models.items()}


def model_names(api) -> ModelNames:
    """Short name -> public name of each model class of the release (``scvi.model.X`` and
    ``scvi.external.X`` classes with a training plan)."""
    names: dict[str, str] = {}
    for qualname in sorted(api.symbols):
        symbol = api.symbols[qualname]
        if symbol.get("kind") != "class" or not (symbol.get("uses") or {}).get("training_plan"):
            continue
        for public in symbol.get("public") or ():
            parts = public.split(".")
            if len(parts) == 3 and parts[1] in ("model", "external"):
                names.setdefault(parts[2], public)
    return ModelNames(names)


def named_models(text: str, models: dict[str, str]) -> set[str]:
    """Public names of the model classes ``text``'s words name (code spans included)."""
    lowered = _lowered(models)
    found = set()
    for match in WORD.finditer(text.replace("`", " ")):
        word = match.group(1)
        if (public := lowered.get(word.lower())) \
                and sum(c.isupper() for c in word) >= MIN_CAPITALS:
            found.add(public)
    return found


def prose_spans(lines: list[str], code_lines: set[int], models: dict[str, str],
                version: str) -> list[ProseSpan]:
    """The spans of ``lines`` (0-based ``code_lines`` are fences) that hold a call and that
    the answer recommends (see the module docstring), each with its model. Linear in the
    text: each paragraph's and section's names and releases are read once, a sentence at
    most :data:`SENTENCE_REACH` characters either side of its span."""
    out = []
    section_models: dict[int, set[str]] = {}
    section_assigned: dict[int, dict[str, str]] = {}
    lead_in_release, in_section = False, None
    for first, last, section in _paragraphs(lines, code_lines):
        if section != in_section:  # a new answer: no lead-in yet
            lead_in_release, in_section = False, section
        item = bool(LIST_ITEM.match(lines[first]))
        text = "\n".join(lines[first:last])
        if not item and not lines[first][:1].isspace():  # an item's own indented text
            # keeps the lead-in
            lead_in_release = text.rstrip().endswith(":") and names_other_release(text, version)
        if "`" not in text:
            continue
        # "Details (1.0.3):" over a list: its items are that release's
        other_release = (item or lines[first][:1].isspace()) and lead_in_release or \
            names_other_release(text, version)
        para_models = None
        offset = 0
        for n in range(first, last):
            for match in SPAN.finditer(lines[n]):
                code = match.group(2).strip()
                if "(" not in code or other_release or len(out) >= MAX_SPANS:
                    continue
                if QUOTED_TREE.search(lines[n], max(match.start() - QUOTE_REACH, 0),
                                      match.start()):
                    continue  # the tree's own code after its path:line, not advice
                at, to = offset + match.start(2), offset + match.end(2)
                sentence = _sentence(text, at, to)
                if CUES.search(SPAN.sub(" ", sentence)):
                    continue
                if para_models is None:
                    para_models = named_models(text, models)
                if section not in section_models:
                    section_models[section] = named_models("\n".join(
                        lines[k] for k in _section_lines(lines, section, code_lines)), models)
                model = span_model([named_models(sentence, models), para_models,
                                    section_models[section]])
                lead = len(match.group(2)) - len(match.group(2).lstrip())
                others = sentence.replace(match.group(2), " ", 1)  # less the span itself
                aside = any(models.get(m) not in (None, model)
                            for m in DOTTED_MODEL.findall(others))
                if section not in section_assigned:
                    section_assigned[section] = fence_assignments(
                        lines, section, code_lines, models)
                out.append(ProseSpan(n + 1, match.start(2) + 1 + lead, code,
                                     None if aside else model, section_assigned[section]))
            offset += len(lines[n]) + 1
    return out


def _paragraphs(lines: list[str], code_lines: set[int]):
    """``(first, end, section)`` of each paragraph or list item (0-based lines, ``end``
    excluded; ``section``: the line of its top-level heading, or -1)."""
    section, first = -1, None
    for n, line in enumerate(lines):
        breaks = n in code_lines or HEADING.match(line) or not line.strip()
        if first is not None and (breaks or LIST_ITEM.match(line)):
            yield first, n, section
            first = None
        if n in code_lines:
            continue
        if HEADING.match(line):
            section = n if SECTION.match(line) else section
            continue
        if line.strip() and first is None:
            first = n
    if first is not None:
        yield first, len(lines), section


_ASSIGNED = re.compile(r"^\s*([a-z_]\w*)\s*=\s*([A-Za-z_][\w.]*)\(")
"""``name = dotted.Call(`` on a fence's line."""


def fence_assignments(lines: list[str], section: int, code_lines: set[int],
                      models: dict[str, str]) -> dict[str, str]:
    """Name -> model class of the first ``name = ...Model(...)`` or ``name =
    ...Model.method(...)`` (``SCVI.load``, ``SOLO.from_scvi_model``) on the fence lines of the
    top-level section whose heading is line ``section``: the answer's own code says what its
    sentences' ``vae`` is, even when the code comes after them."""
    found: dict[str, str] = {}
    for k in range(max(section, 0), len(lines)):
        if k > section and k not in code_lines and SECTION.match(lines[k]):
            break
        if k not in code_lines:
            continue
        match = _ASSIGNED.match(lines[k])
        if not match or match.group(1) in found:
            continue
        parts = match.group(2).split(".")
        cls = next((part for part in reversed(parts[-2:]) if part in models), None)
        if cls and (cls == parts[-1] or parts[-1][:1].islower()):
            found[match.group(1)] = models[cls]
    return found


def _section_lines(lines: list[str], section: int, code_lines: set[int]):
    """The prose lines of the top-level section whose heading is line ``section``, the
    heading included ("## MULTIVI training"; -1: the text above the first heading)."""
    for k in range(max(section, 0), len(lines)):
        if k in code_lines:
            continue
        if k > section and SECTION.match(lines[k]):
            return
        yield k


def names_other_release(text: str, version: str) -> bool:
    """Whether ``text`` names a release other than ``version`` (:data:`RELEASE`); a version
    of another package ("anndata 0.10.9", "torch>=2.1.0", "Python 3.12.1") is none."""
    for match in RELEASE.finditer(text):
        named = _VERSION.search(match.group()).group()
        if not (version == named or version.startswith(named + ".")) \
                and not of_other_package(text[max(0, match.start() - 40):match.start()]):
            return True
    return False


def span_model(found_in: list[set[str]]) -> str | None:
    """The one model the first of the sets (the sentence's, paragraph's and section's
    :func:`named_models`) that is not empty names; None when it names several."""
    for found in found_in:
        if found:
            return next(iter(found)) if len(found) == 1 else None
    return None


def bindings(code: str, model: str | None, models: dict[str, str], aliases: dict,
             instances: dict, assigned: dict[str, str] | None = None
             ) -> tuple[dict[str, str], dict[str, str]]:
    """``(aliases, instances)`` to add for the span ``code``: names not yet bound that are a
    model class, or a variable that names or looks like a model (see the module docstring);
    a variable the section's fences assign another model to (``assigned``, even below the
    span: ``vae = scvi.model.SCVI(...)`` under a table that names SOLO) is not the words'
    model, and stays unbound."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}, {}
    lowered = _lowered(models)
    new_aliases, new_instances = {}, {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id in aliases or node.id in instances:
            continue
        name = node.id
        if name in models:
            new_aliases[name] = models[name]
            continue
        if not name[:1].islower():
            continue
        parts = _parts(name)
        if not parts or not all(p in lowered or p in MODEL_VARIABLES or p in QUALIFIERS
                                for p in parts):
            continue  # adata_scvi, scvi_latent, model_dir, torch_model, vae_kwargs
        own = {lowered[part] for part in parts if part in lowered}
        if len(own) == 1 and len(parts) > 1:  # scanvi_model; a bare `cytovi` is the module
            new_instances[name] = next(iter(own))
        elif not own and model and any(p in MODEL_VARIABLES for p in parts) \
                and (assigned or {}).get(name, model) == model:
            # the words' guess, unless the section's own code makes it another model
            new_instances[name] = model
    return new_aliases, new_instances


_NAME = re.compile(r"[A-Za-z_]\w*")
_BARE_CALL = re.compile(r"([a-z_]\w*)\(")


def bare_method(span: ProseSpan, aliases: dict, instances: dict) -> str | None:
    """The name of a span that is a bare lowercase call (``differential_expression(...)``,
    not ``adata.copy()``), unbound in the answer, when the span's words name one model and
    its sentence points to no other (``look at `scvi.external.MRVI` (`setup_anndata(...)`)``):
    the method it then means, if that model has it (the caller looks it up; torch's
    ``load_state_dict(...)`` is no SCVI method and stays unchecked)."""
    match = _BARE_CALL.match(span.code)
    if not span.model or not match or match.group(1) in aliases \
            or match.group(1) in instances:
        return None
    return match.group(1)


def may_bind(code: str, models: dict[str, str], aliases: dict, instances: dict) -> bool:
    """Whether ``code`` names anything a call could resolve through (a bound name, a model
    class, a variable naming or looking like a model): the spans of plain Python
    (``adata.obs.copy()``) are not parsed at all."""
    lowered = _lowered(models)
    for name in set(_NAME.findall(code)):
        if name in aliases or name in instances or name in models \
                or any(p in lowered or p in MODEL_VARIABLES for p in _parts(name)):
            return True
    return False


MODEL_VARIABLES = ("model", "vae")
"""Parts of a variable name that make it a model when the span's words name one."""
QUALIFIERS = frozenset({"ref", "reference", "query", "trained", "loaded", "my", "new", "old",
                        "full", "base", "final", "best", "lvae", "m"})
"""Other parts a model variable's name may have (``ref_model``, ``trained_vae``): a variable
with any other part (``adata_scvi``, ``model_dir``, ``torch_model``, ``vae_kwargs``) is not
bound."""


def _parts(name: str) -> list[str]:
    """A variable name's lowercase parts, split at underscores and digits
    (``scanvi_model2`` -> ``scanvi``, ``model``)."""
    return [part for part in re.split(r"[_\d]+", name.lower()) if part]


_SENTENCE_END = re.compile(r"[.!?;](?=\s)|\n\s*\n")


SENTENCE_REACH = 400
"""Characters a sentence is looked for on either side of its span (answers write sentences
far shorter; a paragraph of thousands of spans stays linear)."""


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` holding ``text[start:end]`` (ends: ``. ! ? ;`` before a blank,
    outside the span itself), within :data:`SENTENCE_REACH` of it."""
    low = max(start - SENTENCE_REACH, 0)
    first = low
    for match in _SENTENCE_END.finditer(text, low, start):
        first = match.end()
    last = _SENTENCE_END.search(text, end, end + SENTENCE_REACH)
    return text[first:last.start() if last else min(len(text), end + SENTENCE_REACH)]

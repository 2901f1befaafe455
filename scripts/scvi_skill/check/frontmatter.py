"""Parse and check the YAML frontmatter of SKILL.md and of slash-command files.

Rules for SKILL.md follow the Agent Skills specification (the ``skills-ref`` validator is the
reference implementation; the tests run it too) plus what Claude Code needs to load the skill:

- only ``name``, ``description``, ``license``, ``compatibility``, ``metadata``,
  ``allowed-tools``;
- ``name``: 1-64 characters, lowercase letters, digits and single hyphens, not at either end,
  equal to the folder name when one is given;
- ``description``: 1-1024 characters, no angle brackets, third person (no I/we/you);
- ``compatibility`` at most 500 characters; ``metadata`` a mapping of strings to strings;
  ``allowed-tools`` a space-separated string;
- block YAML only: a flow list or mapping (``[a, b]``, ``{a: b}``) is reported, because a
  YAML error makes Claude Code load the skill with no fields at all.

Every problem carries the 1-based line in the Markdown file. Maintainer module (pyyaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

ALLOWED_SKILL_FIELDS = ("name", "description", "license", "compatibility", "metadata",
                        "allowed-tools")
REQUIRED_SKILL_FIELDS = ("name", "description")
ALLOWED_COMMAND_FIELDS = ("description", "argument-hint", "allowed-tools", "model",
                          "disable-model-invocation")
REQUIRED_COMMAND_FIELDS = ("description",)
MAX_NAME_CHARS = 64
MAX_DESCRIPTION_CHARS = 1024
MAX_COMPATIBILITY_CHARS = 500
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PERSONAL = re.compile(r"\bI\b|\b(?i:me|my|we|our|you|your)\b")
"""First and second person words (``I`` only as a capital, so ``i.e.`` passes)."""
_FLOW_TOKENS = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)


@dataclass
class Frontmatter:
    data: dict = field(default_factory=dict)
    """The parsed mapping (empty when it could not be parsed)."""
    key_lines: dict[str, int] = field(default_factory=dict)
    """Top-level key -> 1-based line in the Markdown file."""
    body: str = ""
    body_start: int = 1
    """1-based line where the body starts."""
    problems: list[tuple[int, str]] = field(default_factory=list)


def parse(text: str) -> Frontmatter:
    """Split and parse the frontmatter; syntax problems go to ``problems``."""
    lines = text.splitlines(keepends=True)
    result = Frontmatter(body=text)
    if not lines or lines[0].rstrip("\r\n") != "---":
        result.problems.append((1, "no YAML frontmatter: the file must start with a '---' line"))
        return result
    closing = next((i for i in range(1, len(lines)) if lines[i].rstrip("\r\n") == "---"), None)
    if closing is None:
        result.problems.append((1, "frontmatter is not closed: no second '---' line"))
        return result
    yaml_text = "".join(lines[1:closing])
    result.body = "".join(lines[closing + 1:])
    result.body_start = closing + 2
    try:
        for token in yaml.scan(yaml_text):
            if isinstance(token, _FLOW_TOKENS):
                result.problems.append((token.start_mark.line + 2,
                                        "flow-style YAML ([...] or {...}) in frontmatter: "
                                        "use block style (one '- item' per line)"))
        node = yaml.compose(yaml_text)
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        result.problems.append((line, f"frontmatter is not valid YAML: {problem}"))
        return result
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        result.problems.append((2, "frontmatter must be a YAML mapping of fields"))
        return result
    result.data = data
    for key_node, _value in node.value:
        result.key_lines.setdefault(str(key_node.value), key_node.start_mark.line + 2)
    return result


def check_skill(front: Frontmatter, *, dir_name: str | None = None) -> list[tuple[int, str]]:
    """Agent Skills rules for a SKILL.md frontmatter (after :func:`parse`)."""
    problems = list(front.problems)
    if not front.data:
        return problems
    data, at = front.data, front.key_lines
    problems += _fields(data, at, ALLOWED_SKILL_FIELDS, REQUIRED_SKILL_FIELDS)
    if "name" in data:
        problems += [(at["name"], m) for m in _name_problems(data["name"], dir_name)]
    if "description" in data:
        problems += [(at["description"], m) for m in _description_problems(data["description"])]
    for key in ("license", "compatibility", "allowed-tools"):
        if key in data and not isinstance(data[key], str):
            problems.append((at[key], f"field '{key}' must be a string"))
    compatibility = data.get("compatibility")
    if isinstance(compatibility, str) and len(compatibility) > MAX_COMPATIBILITY_CHARS:
        problems.append((at["compatibility"], f"compatibility has {len(compatibility)} "
                         f"characters; at most {MAX_COMPATIBILITY_CHARS} are allowed"))
    if "metadata" in data:
        metadata = data["metadata"]
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            problems.append((at["metadata"], "field 'metadata' must map strings to strings "
                             "(quote values such as \"1.5.1\")"))
    return sorted(problems)


def check_command(front: Frontmatter) -> list[tuple[int, str]]:
    """Claude Code slash-command frontmatter: a description, known fields only."""
    problems = list(front.problems)
    if not front.data:
        return problems
    problems += _fields(front.data, front.key_lines, ALLOWED_COMMAND_FIELDS,
                        REQUIRED_COMMAND_FIELDS)
    description = front.data.get("description")
    if "description" in front.data and (not isinstance(description, str)
                                        or not description.strip()):
        problems.append((front.key_lines["description"], "description must be a non-empty string"))
    return sorted(problems)


def _fields(data: dict, at: dict[str, int], allowed, required) -> list[tuple[int, str]]:
    problems = []
    for key in data:
        if key not in allowed:
            problems.append((at.get(str(key), 2), f"unexpected frontmatter field '{key}'; "
                             f"allowed: {', '.join(allowed)}"))
    for key in required:
        if key not in data:
            problems.append((2, f"missing required frontmatter field '{key}'"))
    return problems


def _name_problems(name: object, dir_name: str | None) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        return ["field 'name' must be a non-empty string"]
    problems = []
    if len(name) > MAX_NAME_CHARS:
        problems.append(f"name has {len(name)} characters; at most {MAX_NAME_CHARS} are allowed")
    if not _NAME.match(name):
        problems.append(f"name {name!r} must be lowercase letters, digits and single hyphens, "
                        "not starting or ending with a hyphen")
    if dir_name is not None and dir_name != name:
        problems.append(f"name {name!r} must equal the skill folder name {dir_name!r}")
    return problems


def _description_problems(description: object) -> list[str]:
    if not isinstance(description, str) or not description.strip():
        return ["field 'description' must be a non-empty string"]
    problems = []
    if len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(f"description has {len(description)} characters; at most "
                        f"{MAX_DESCRIPTION_CHARS} are allowed")
    if "<" in description or ">" in description:
        problems.append("description must not contain angle brackets (< or >)")
    personal = sorted({m.group(0).lower() for m in _PERSONAL.finditer(description)})
    if personal:
        problems.append("description must be written in the third person; found "
                        + ", ".join(repr(w) for w in personal))
    return problems

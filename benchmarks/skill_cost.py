#!/usr/bin/env python3
"""Report what the skill costs in context tokens: always-on, on invoke, and on demand.

Estimates (no tokenizer is downloadable here): tokens = characters / 4, and words * 4 / 3 as a
second opinion. With the Claude Code CLI available ($CLAUDE_BIN or claude on PATH) it also
prints the CLI's own projection (`claude --plugin-dir . plugin details NAME`), run with a
temporary HOME.

Usage:
  python benchmarks/skill_cost.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "scvi-tools-inputs-and-modeling"


def estimate(text: str) -> dict:
    return {"chars": len(text), "words": len(text.split()), "lines": len(text.splitlines()),
            "tokens_chars_div_4": round(len(text) / 4),
            "tokens_words_x_4_3": round(len(text.split()) * 4 / 3)}


def frontmatter_and_body(text: str) -> tuple[str, str]:
    _, front, body = text.split("---\n", 2)
    return front, body


def description_of(front: str) -> str:
    """The folded ``description: >-`` value (joined lines), without a YAML parser."""
    match = re.search(r"^description:\s*>-?\n((?:[ \t]+.*\n)+)", front, re.MULTILINE)
    if match:
        return " ".join(line.strip() for line in match.group(1).splitlines())
    match = re.search(r"^description:\s*(.+)$", front, re.MULTILINE)
    return match.group(1).strip() if match else ""


def cli_projection() -> str | None:
    claude = os.environ.get("CLAUDE_BIN") or shutil.which("claude")
    if not claude:
        return None
    with tempfile.TemporaryDirectory() as home:
        run = subprocess.run([claude, "--plugin-dir", ".", "plugin", "details", NAME],
                             cwd=REPO, capture_output=True, text=True, timeout=120,
                             env={"HOME": home, "PATH": os.environ.get("PATH", ""),
                                  "NO_COLOR": "1"})
    if run.returncode != 0:
        return f"claude plugin details failed: {run.stderr.strip()}"
    return run.stdout[run.stdout.find("Projected"):].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    front, body = frontmatter_and_body((REPO / "SKILL.md").read_text(encoding="utf-8"))
    command = (REPO / "commands" / "scvi-inputs.md").read_text(encoding="utf-8")
    rows = {
        "always-on: skill description": estimate(description_of(front)),
        "always-on: command description": estimate(description_of(frontmatter_and_body(command)[0])),
        "on invoke: SKILL.md body": estimate(body),
        "on invoke: /scvi-inputs body": estimate(frontmatter_and_body(command)[1]),
    }
    for path in sorted((REPO / "references").glob("*.md")):
        rows[f"on demand: references/{path.name}"] = estimate(path.read_text(encoding="utf-8"))
    projection = cli_projection()
    if args.json:
        print(json.dumps({"estimates": rows, "claude_cli": projection}, indent=2))
        return 0
    print(f"{'part':45} {'chars':>8} {'lines':>6} {'tok c/4':>8} {'tok w*4/3':>9}")
    for part, row in rows.items():
        print(f"{part:45} {row['chars']:8d} {row['lines']:6d} {row['tokens_chars_div_4']:8d} "
              f"{row['tokens_words_x_4_3']:9d}")
    print()
    print(projection or "Claude Code CLI not found (set CLAUDE_BIN) - no CLI projection")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Commands and characters of agent-trial logs (run_logged.sh writes them), one line per log.

Usage:
  python benchmarks/trials/summarize.py LOG [LOG ...] [--json]

Each log line is {"cmd": ..., "chars": ...}. A line that is not such an object is an error
(exit 1, with the file and line number on stderr): a trial's figures must not silently skip
commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def summarize(path: Path) -> dict:
    commands = chars = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
        if not (isinstance(row, dict) and isinstance(row.get("cmd"), str)
                and isinstance(row.get("chars"), int) and row["chars"] >= 0):
            raise ValueError(f"{path}:{number}: not a {{cmd, chars}} record")
        commands += 1
        chars += row["chars"]
    return {"log": str(path), "commands": commands, "characters": chars}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        rows = [summarize(path) for path in args.logs]
    except (OSError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"logs": rows}))
    else:
        for row in rows:
            print(f"{row['log']}: {row['commands']} commands, {row['characters']:,} characters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

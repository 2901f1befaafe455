#!/usr/bin/env bash
# Agent-trial wrapper: run one shell command an agent chose, print its output, and append
# {"cmd", "chars"} (the characters the agent reads) to LOG as one JSON line.
#
#   benchmarks/trials/run_logged.sh LOG 'COMMAND'
#
# The command is the agent's own shell line, so it is run by bash on purpose: this is a
# measuring tool for trials, not part of the skill. It runs in $RUN_CWD (default: the current
# folder). Summarize a log with benchmarks/trials/summarize.py.
set -uo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: run_logged.sh LOG 'COMMAND'" >&2
  exit 2
fi
log="$1"
shift
cmd="$*"
# A bin/ folder beside the log (the trial's rg) comes first on PATH.
bin_dir="$(cd "$(dirname "$log")" && pwd)/bin"
if [ -d "$bin_dir" ]; then
  PATH="$bin_dir:$PATH"
fi
out=$(cd "${RUN_CWD:-.}" && bash -c "$cmd" 2>&1)
printf '%s\n' "$out"
python3 -c 'import json, sys; print(json.dumps({"cmd": sys.argv[1], "chars": len(sys.argv[2]) + 1}))' \
  "$cmd" "$out" >> "$log"

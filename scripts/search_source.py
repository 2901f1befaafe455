#!/usr/bin/env python3
"""Search the scvi-tools source (``--help`` for the options): the command of
:mod:`scvi_skill.runtime.searchcli`, kept in the package so that Python reads its compiled
bytecode instead of compiling about 1,000 lines on every call (about 13 ms of each)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime import searchcli  # noqa: E402

if __name__ == "__main__":
    sys.exit(searchcli.main())
else:  # ``import search_source`` (tests, benchmarks) gets the module itself
    sys.modules[__name__] = searchcli

#!/usr/bin/env python3
"""Answer a scvi-tools question in one call (``--help`` for the options): the command of
:mod:`scvi_skill.runtime.resolvecli`, kept in the package so that Python reads its compiled
bytecode instead of compiling about 800 lines on every call (about 10 ms of each)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scvi_skill.runtime import resolvecli  # noqa: E402

if __name__ == "__main__":
    resolvecli.run()
else:  # ``import resolve_docs`` (tests, benchmarks) gets the module itself
    sys.modules[__name__] = resolvecli

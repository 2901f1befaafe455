"""The two baselines ``bench_resolver.py`` compares the resolver with.

Both read the scvi-tools tree directly (no shipped index) and rank whole files:

- :class:`WholeFileBM25`: Okapi BM25 (k1=1.2, b=0.75) over whole files with a plain
  lowercase word tokenizer (``[a-z0-9_]+``, English stopwords dropped, no stemming, no
  identifier splitting). Documents: ``docs/**/*.md`` and ``CHANGELOG.md``; source:
  ``src/**/*.py`` and ``tests/**/*.py``.
- :class:`NaiveRg`: one ``rg --json --ignore-case --fixed-strings`` call with every query
  keyword as a pattern; a file scores the number of distinct keywords it contains, ties
  broken by the number of matching lines, then by path.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from scvi_skill.runtime.rg import run_rg  # noqa: E402
from scvi_skill.runtime.tokens import STOPWORDS  # noqa: E402

_WORD = re.compile(r"[a-z0-9_]+")
K1, B = 1.2, 0.75


def plain_tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def corpus_files(root: Path) -> tuple[list[str], list[str]]:
    """(doc paths, source paths), tree-relative, sorted."""
    docs = sorted(p.relative_to(root).as_posix() for p in (root / "docs").rglob("*.md"))
    if (root / "CHANGELOG.md").is_file():
        docs.append("CHANGELOG.md")
    source = sorted(
        p.relative_to(root).as_posix()
        for base in ("src", "tests")
        if (root / base).is_dir()
        for p in (root / base).rglob("*.py")
    )
    return docs, source


class _BM25:
    def __init__(self, root: Path, paths: list[str]) -> None:
        self.paths = paths
        self.tfs = []
        df: Counter = Counter()
        for rel in paths:
            tf = Counter(plain_tokens((root / rel).read_text(encoding="utf-8", errors="replace")))
            self.tfs.append(tf)
            df.update(tf.keys())
        self.lengths = [sum(tf.values()) for tf in self.tfs]
        self.avg = sum(self.lengths) / max(1, len(self.lengths))
        n = len(paths)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def rank(self, query: str, limit: int) -> list[str]:
        terms = set(plain_tokens(query))
        scored = []
        for i, tf in enumerate(self.tfs):
            norm = K1 * (1 - B + B * self.lengths[i] / self.avg)
            score = sum(
                self.idf[t] * tf[t] * (K1 + 1) / (tf[t] + norm) for t in terms if tf.get(t)
            )
            if score > 0:
                scored.append((-score, self.paths[i]))
        return [p for _, p in sorted(scored)[:limit]]


class WholeFileBM25:
    name = "whole-file BM25"

    def __init__(self, root: Path) -> None:
        docs, source = corpus_files(root)
        self.docs = _BM25(root, docs)
        self.source = _BM25(root, source)

    def query(self, question: str, limit: int = 10) -> tuple[list[str], list[str]]:
        return self.docs.rank(question, limit), self.source.rank(question, limit)


class NaiveRg:
    name = "naive rg keywords"
    MAX_KEYWORDS = 12

    def __init__(self, root: Path) -> None:
        self.root = root

    def query(self, question: str, limit: int = 10) -> tuple[list[str], list[str]]:
        words = []
        for w in plain_tokens(question):
            if len(w) > 2 and w not in words:
                words.append(w)
        words = words[: self.MAX_KEYWORDS]
        if not words:
            return [], []
        args = ["--ignore-case", "--fixed-strings", "--glob", "*.md", "--glob", "*.py"]
        for w in words:
            args += ["-e", w]
        args += ["--", str(self.root / "docs"), str(self.root / "src"), str(self.root / "tests")]
        if (self.root / "CHANGELOG.md").is_file():
            args.append(str(self.root / "CHANGELOG.md"))
        lines, _ = run_rg(args)
        found: dict[str, set[str]] = {}
        counts: Counter = Counter()
        for line in lines:
            rel = Path(line.path).relative_to(self.root).as_posix()
            lowered = line.text.lower()
            found.setdefault(rel, set()).update(w for w in words if w in lowered)
            counts[rel] += 1
        ranked = sorted(found, key=lambda p: (-len(found[p]), -counts[p], p))
        docs = [p for p in ranked if p.endswith(".md")][:limit]
        source = [p for p in ranked if p.endswith(".py")][:limit]
        return docs, source

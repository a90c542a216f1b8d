"""ROUGE-L (LCS-based F-measure) and an index that finds near-duplicates without comparing against everything.

Self-Instruct keeps a new instruction only if its ROUGE-L against every kept instruction is below a
threshold (0.7). Done naively that is quadratic in the pool. :class:`RougeLIndex` answers the same
question exactly, but only computes LCS for entries that *can* reach the threshold:

* F = 2·LCS/(|a|+|b|) (the F-measure with β = 1), and LCS ≤ the multiset overlap of the two token
  lists, so an entry needs an overlap of at least ⌈t·|c|/(2-t)⌉ tokens with the candidate c;
* hence it must share one of the candidate's (|c| - that + 1) rarest tokens (prefix filtering), so only
  those tokens' posting lists are read;
* the overlap bound and the length bound prune again before any LCS is computed.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens (the tokenisation of the reference ROUGE scorer, without stemming)."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (O(|a|·|b|) time, O(min) memory)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(a: Sequence[str] | str, b: Sequence[str] | str) -> float:
    """ROUGE-L F-measure of two texts or token lists."""
    ta = tokenize(a) if isinstance(a, str) else a
    tb = tokenize(b) if isinstance(b, str) else b
    if not ta or not tb:
        return 0.0
    return 2 * lcs_length(ta, tb) / (len(ta) + len(tb))


class RougeLIndex:
    """A growing pool of texts answering "what is the highest ROUGE-L of this text against the pool?"."""

    def __init__(self, threshold: float = 0.7, texts: Iterable[str] = ()) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.texts: list[str] = []
        self._tokens: list[list[str]] = []
        self._counts: list[Counter[str]] = []
        self._postings: defaultdict[str, list[int]] = defaultdict(list)
        self.lcs_computed = 0
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str) -> int:
        """Add ``text`` to the pool; returns its index."""
        tokens = tokenize(text)
        index = len(self.texts)
        self.texts.append(text)
        self._tokens.append(tokens)
        counts = Counter(tokens)
        self._counts.append(counts)
        for token in counts:
            self._postings[token].append(index)
        return index

    def best_match(self, text: str) -> tuple[float, int | None]:
        """The highest ROUGE-L of ``text`` against any pool entry that could reach the threshold, and its
        index; ``(0.0, None)`` when none can. Scores below the threshold are only a lower bound."""
        tokens = tokenize(text)
        if not tokens:
            return 0.0, None
        t, n = self.threshold, len(tokens)
        need = max(1, math.ceil(t * n / (2 - t) - 1e-9))
        if need > n:
            return 0.0, None
        counts = Counter(tokens)
        by_rarity = sorted(tokens, key=lambda tok: (len(self._postings.get(tok, ())), tok))
        prefix = set(by_rarity[: n - need + 1])
        candidates: set[int] = set()
        for token in prefix:
            candidates.update(self._postings.get(token, ()))
        best, best_index = 0.0, None
        for i in candidates:
            other = self._tokens[i]
            m = len(other)
            if 2 * min(n, m) / (n + m) < t:
                continue
            overlap = sum((counts & self._counts[i]).values())
            if 2 * overlap / (n + m) < max(t, best):
                continue
            self.lcs_computed += 1
            score = 2 * lcs_length(tokens, other) / (n + m)
            if score > best:
                best, best_index = score, i
        return best, best_index

    def max_score(self, text: str) -> tuple[float, int | None]:
        """The exact highest ROUGE-L of ``text`` against the whole pool, and its index (``(0.0, None)`` for
        an empty pool or no shared word). Entries are tried by their overlap bound, so most are skipped."""
        tokens = tokenize(text)
        if not tokens:
            return 0.0, None
        counts, n = Counter(tokens), len(tokens)
        candidates: set[int] = set()
        for token in counts:
            candidates.update(self._postings.get(token, ()))
        bounds = sorted(
            (
                (2 * sum((counts & self._counts[i]).values()) / (n + len(self._tokens[i])), i)
                for i in candidates
            ),
            reverse=True,
        )
        best, best_index = 0.0, None
        for bound, i in bounds:
            if bound <= best:
                break
            self.lcs_computed += 1
            score = 2 * lcs_length(tokens, self._tokens[i]) / (n + len(self._tokens[i]))
            if score > best:
                best, best_index = score, i
        return best, best_index

    def is_novel(self, text: str) -> bool:
        """Whether ``text`` scores below the threshold against every entry."""
        return self.best_match(text)[0] < self.threshold

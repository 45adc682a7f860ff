"""Titles for synthetic catalogue items: a word-bigram model of each category's real titles.

A title is text, not a category, so the tabular generator does not model it. This small
generative model does: for each category it counts which word follows which in the real
titles (with start and end marks) and walks those counts at random. A synthetic title thus
only uses words, and word pairs, that real titles of its category use, yet it can join them in
combinations no real title has. Categories without titles get none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Start and end marks of a title (never words: titles are split on whitespace).
START, END = "\x02", "\x03"
#: Longest synthetic title, in words.
MAX_WORDS = 16


@dataclass(frozen=True)
class TitleModel:
    """Per category, each word's followers and their counts; and the real titles."""

    followers: dict[str, dict[str, tuple[tuple[str, ...], np.ndarray]]]
    real_titles: dict[str, frozenset[str]]

    @classmethod
    def fit(cls, items: pd.DataFrame) -> TitleModel:
        """Count word pairs in the ``title`` of each ``category`` of ``items``."""
        pairs: dict[str, defaultdict[str, Counter[str]]] = {}
        titles: dict[str, set[str]] = {}
        known = items["category"].notna() & items["title"].notna()
        for category, title in zip(
            items.loc[known, "category"], items.loc[known, "title"], strict=True
        ):
            words = str(title).split()
            if not words:
                continue
            category = str(category)
            titles.setdefault(category, set()).add(" ".join(words))
            counts = pairs.setdefault(category, defaultdict(Counter))
            for word, follower in zip([START, *words], [*words, END], strict=True):
                counts[word][follower] += 1
        followers = {
            category: {
                word: (tuple(sorted(after)), np.array([after[w] for w in sorted(after)], float))
                for word, after in counts.items()
            }
            for category, counts in pairs.items()
        }
        return cls(followers, {c: frozenset(t) for c, t in titles.items()})

    def sample(self, category: str, rng: np.random.Generator) -> str | None:
        """One title for ``category``, or ``None`` when its real items have no title."""
        chain = self.followers.get(category)
        if chain is None:
            return None
        words: list[str] = []
        word = START
        while len(words) < MAX_WORDS:
            options, counts = chain[word]
            word = options[int(rng.choice(len(options), p=counts / counts.sum()))]
            if word == END:
                break
            words.append(word)
        return " ".join(words)

    def copies(self, category: str, title: str | None) -> bool:
        """Whether ``title`` is, word for word, a real title of ``category``."""
        return title is not None and title in self.real_titles.get(category, frozenset())

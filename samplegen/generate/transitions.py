"""What the sequence strategies share: the transition estimate and the items they must not draw.

``prepend``, ``insert`` and ``substitute_seq`` (:mod:`samplegen.generate.prepend`,
:mod:`samplegen.generate.seq_edit`) place items drawn from the VAE's posterior inside a
time-ordered sequence. Where an item goes is decided by one first-order item-to-item
transition estimate from the real train sequences (stage 1's ``sequences`` table),
``P(next = b | a) = (count(a -> b) + s * pop(b)) / (out(a) + s)``: additive smoothing toward
the next-item popularity ``pop``, strength :data:`SMOOTHING`. It needs no extra model and is
exact on the train split (no valid/test item is read).

No sequence strategy may draw, for a user (or a new user's seed user), an item the user has in
any split: owned train items would repeat the history, and a valid or test item would put the
very item stage 4 asks the user's model to predict into its training data
(:func:`excluded_items`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import sparse

from samplegen.generate.udf import item_mask

#: Pseudo-counts of the transition estimate's smoothing toward next-item popularity.
SMOOTHING = 1.0
#: The ``sequences`` columns of the held-out splits (never drawn for their user).
HELD_OUT = ("valid_items", "test_items")


class Transitions:
    """Smoothed first-order estimate ``P(next = b | current = a)`` from time-ordered sequences."""

    def __init__(self, counts: sparse.csr_matrix, smoothing: float = SMOOTHING) -> None:
        """``counts[a, b]``: how often ``b`` directly follows ``a`` in a train sequence."""
        self.counts = sparse.csr_matrix(counts, dtype=np.float64)
        self.out = np.asarray(self.counts.sum(axis=1)).ravel()
        into = np.asarray(self.counts.sum(axis=0)).ravel()
        total = into.sum()
        self.popularity = into / total if total > 0 else np.full(len(into), 1.0 / len(into))
        self.smoothing = smoothing

    @classmethod
    def from_pairs(
        cls, prev: np.ndarray, nxt: np.ndarray, count: np.ndarray, n_items: int
    ) -> Transitions:
        """From ``(prev, next, count)`` triples over a vocabulary of ``n_items``."""
        matrix = sparse.coo_matrix(
            (np.asarray(count, dtype=np.float64), (np.asarray(prev), np.asarray(nxt))),
            shape=(n_items, n_items),
        )
        return cls(matrix.tocsr())

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], n_items: int) -> Transitions:
        """From item sequences in time order (consecutive pairs are transitions)."""
        prev = [int(a) for s in sequences for a in s[:-1]]
        nxt = [int(b) for s in sequences for b in s[1:]]
        return cls.from_pairs(
            np.array(prev, np.int64), np.array(nxt, np.int64), np.ones(len(prev)), n_items
        )

    def prob(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """``P(next = nxt[j] | current = prev[i])`` as a ``(len(prev), len(nxt))`` array."""
        prev = np.asarray(prev, dtype=np.int64)
        nxt = np.asarray(nxt, dtype=np.int64)
        counts = self.counts[prev][:, nxt].toarray()
        s = self.smoothing
        return (counts + s * self.popularity[nxt][None, :]) / (self.out[prev][:, None] + s)

    def leads_to(self, candidates: np.ndarray, target: int) -> np.ndarray:
        """``P(next = target | current = c)`` for every ``c`` in ``candidates``."""
        return self.prob(candidates, np.array([target]))[:, 0]

    def sized(self, n_items: int) -> Transitions:
        """The estimate over at least ``n_items`` items (a generator's vocabulary)."""
        if self.counts.shape[0] >= n_items:
            return self
        grown = sparse.csr_matrix(self.counts.copy())
        grown.resize((n_items, n_items))
        return Transitions(grown, self.smoothing)


def transition_pairs(sequences: DataFrame) -> DataFrame:
    """``(prev, next, count)`` of consecutive items in the ``train_items`` sequences."""
    steps = sequences.select(F.posexplode("train_items").alias("pos", "item"), "user_idx")
    following = steps.select(
        "user_idx", (F.col("pos") - 1).alias("pos"), F.col("item").alias("next")
    )
    return (
        steps.join(following, ["user_idx", "pos"])
        .groupBy(F.col("item").alias("prev"), "next")
        .agg(F.count("*").alias("count"))
    )


def train_transitions(sequences: DataFrame, n_items: int) -> Transitions:
    """The estimate from the ``sequences`` table's train sequences, over ``n_items`` items."""
    pairs = transition_pairs(sequences).toPandas()
    return Transitions.from_pairs(
        pairs["prev"].to_numpy(), pairs["next"].to_numpy(), pairs["count"].to_numpy(), n_items
    )


def excluded_items(batch: pd.DataFrame, owned: torch.Tensor) -> torch.Tensor:
    """``owned`` or'ed with each row's held-out items (``valid_items``, ``test_items``).

    ``batch`` has one row per user with the :data:`HELD_OUT` columns (item arrays, may be
    null); items outside ``owned``'s vocabulary are ignored (they can never be drawn).
    """
    n_items = owned.shape[1]
    held_out = [
        [int(i) for column in HELD_OUT for i in _items(row[column]) if 0 <= int(i) < n_items]
        for _, row in batch.iterrows()
    ]
    return owned | item_mask(held_out, n_items)


def _items(value: object) -> np.ndarray:
    """An item array cell as a numpy array (null: empty)."""
    return np.asarray([] if value is None else value, dtype=np.int64)

"""``category_popularity``: new items by their category's popularity among the user's tastes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np

from samplegen.evaluate.recommenders import (
    NOT_NEW_SCORE,
    AttributeBaseline,
    check_interactions,
    fitted,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class CategoryPopularityRecommender(AttributeBaseline):
    """``score(u, i) = popularity(c_i) * share_u(c_i)`` for new items ``i`` of category ``c_i``.

    ``popularity(c)`` counts the train (user, item) pairs in category ``c`` and ``share_u(c)``
    is the share of the user's own items in it: the popular categories the user buys from.
    New items without a category score 0; the vocabulary scores :data:`NOT_NEW_SCORE`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.popularity: np.ndarray | None = None

    def _by_category(self, rows: np.ndarray) -> np.ndarray:
        """``(n_rows, n_categories)`` counts of each row's items per category."""
        assert self.items is not None
        known = self.items.category >= 0
        n_categories = int(self.items.category.max(initial=-1)) + 1
        onehot = np.zeros((len(known), n_categories))
        onehot[np.flatnonzero(known), self.items.category[known]] = 1.0
        return (np.asarray(rows) > 0).astype(np.float64) @ onehot

    def fit(self, interactions: np.ndarray) -> Self:
        """Count the train pairs per category."""
        check_interactions(interactions)
        self.checked(interactions.shape[1])
        self.popularity = self._by_category(interactions).sum(axis=0)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Category popularity times the user's share of it, for every new item."""
        assert self.items is not None
        fitted(None if self.popularity is None else self.items.category, user_rows, "category")
        counts = self._by_category(user_rows)
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        per_category = shares * self.popularity[None, :]
        category = self.items.category
        scores = np.zeros((len(user_rows), len(category)))
        known = np.flatnonzero(category >= 0)
        scores[:, known] = per_category[:, category[known]]
        return np.where(self.items.is_new[None, :], scores, NOT_NEW_SCORE).astype(np.float32)


def make(
    cfg: EvaluateConfig, spark: SparkSession | None, seed: int
) -> CategoryPopularityRecommender:
    """The registry's factory: no settings, no seed."""
    return CategoryPopularityRecommender()

"""``content_knn``: new items by attribute similarity to the user's own items (no rows needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np

from samplegen.evaluate.recommenders import (
    NOT_NEW_SCORE,
    AttributeBaseline,
    check_interactions,
    fitted,
    unit_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class ContentKNNRecommender(AttributeBaseline):
    """A new item scores the mean cosine of its attributes to the user's train items.

    Items are unit-normalised one-hot vectors (category, department, brand; with
    ``aggregate.text_embeddings`` also the embedding of their catalogue text, each part of
    equal weight: :func:`~samplegen.evaluate.item_cold.item_info`), so
    ``score(u, i) = sum_j r_uj cos(j, i) / sum_j r_uj``: what a team ships for items nobody
    has touched. Only new items are ranked; the vocabulary scores :data:`NOT_NEW_SCORE`,
    below them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.unit: np.ndarray | None = None

    def fit(self, interactions: np.ndarray) -> Self:
        """Normalise the item vectors; the interactions only fix the number of columns."""
        check_interactions(interactions)
        items = self.checked(interactions.shape[1])
        self.unit = unit_rows(np.asarray(items.attributes, dtype=np.float64))
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Mean cosine of each new item to the rows' items; :data:`NOT_NEW_SCORE` elsewhere."""
        unit = fitted(None if self.unit is None else self.unit.T, user_rows, type(self).__name__)
        rows = np.asarray(user_rows, dtype=np.float64)
        totals = rows.sum(axis=1, keepdims=True)
        profile = np.divide(
            rows @ unit.T, totals, out=np.zeros((len(rows), unit.shape[0])), where=totals > 0
        )
        scores = profile @ unit
        assert self.items is not None
        return np.where(self.items.is_new[None, :], scores, NOT_NEW_SCORE).astype(np.float32)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> ContentKNNRecommender:
    """The registry's factory: no settings, no seed."""
    return ContentKNNRecommender()

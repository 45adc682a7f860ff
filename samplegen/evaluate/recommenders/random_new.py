"""``random_new``: new items in a seeded random order, the floor of the item-cold slices."""

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


class RandomNewRecommender(AttributeBaseline):
    """Uniform random scores for new items (one seeded draw per call); the vocabulary last."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self.is_new: np.ndarray | None = None

    def fit(self, interactions: np.ndarray) -> Self:
        """Keep the new-item mask; nothing is learnt."""
        check_interactions(interactions)
        self.is_new = self.checked(interactions.shape[1]).is_new
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Scores in ``[0, 1)`` for new items from ``seed``; :data:`NOT_NEW_SCORE` elsewhere."""
        is_new = fitted(self.is_new, user_rows, type(self).__name__)
        draws = np.random.default_rng(self.seed).random(user_rows.shape)
        return np.where(is_new[None, :], draws, NOT_NEW_SCORE).astype(np.float32)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> RandomNewRecommender:
    """The registry's factory: seeded by ``seed``."""
    return RandomNewRecommender(seed)

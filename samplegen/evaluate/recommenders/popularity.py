"""Popularity: the same most-interacted items for every user, the floor to beat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np

from samplegen.evaluate.recommenders import check_interactions, fitted

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class PopularityRecommender:
    """Recommend the items most users interacted with, identically for every user.

    Popularity counts users, not interaction strength, so a few heavy users cannot push an
    item up; it is the floor any personalised model must beat.
    """

    def __init__(self) -> None:
        self.item_scores: np.ndarray | None = None

    def fit(self, interactions: np.ndarray) -> Self:
        """Count, per item, the users with a non-zero entry.

        Args:
            interactions: ``(n_users, n_items)`` non-negative interaction strengths.

        Returns:
            ``self``, fitted.
        """
        check_interactions(interactions)
        return self.fit_counts(np.count_nonzero(interactions > 0, axis=0))

    def fit_counts(self, users_per_item: np.ndarray) -> Self:
        """Take the per-item user counts as they are (Spark scoring counts a sparse matrix)."""
        self.item_scores = np.asarray(users_per_item).astype(np.float32)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Return the item popularity counts repeated for each given user.

        Args:
            user_rows: ``(n_rows, n_items)`` interaction rows; only their count is used.

        Returns:
            ``(n_rows, n_items)`` float32 scores.
        """
        item_scores = fitted(self.item_scores, user_rows, type(self).__name__)
        return np.tile(item_scores, (user_rows.shape[0], 1))


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> PopularityRecommender:
    """The registry's factory: popularity has no settings and no seed."""
    return PopularityRecommender()

"""Downstream recommenders used to judge whether augmented data helps.

They share one tiny surface, ``fit(interactions) -> self`` and ``score(user_rows) -> scores``,
on dense ``(n_users, n_items)`` matrices. Scoring takes interaction rows rather than user ids
(fold-in), so the same fitted model scores users it never saw, e.g. the evaluation users of a
model fitted on augmented data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, Self

import numpy as np

#: Largest catalogue EASE accepts: its dense item-item inverse is O(n_items^2) memory
#: (20,000 items is 3.2 GB in float64) and O(n_items^3) time.
EASE_MAX_ITEMS = 20_000

#: Users folded into the Gram matrix per step, bounding the float64 copy of the input.
_GRAM_CHUNK_ROWS = 4096


class Recommender(Protocol):
    """What stage 4 needs from a recommender."""

    def fit(self, interactions: np.ndarray) -> Self:
        """Learn from a dense ``(n_users, n_items)`` non-negative interaction matrix."""
        ...

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Return ``(n_rows, n_items)`` float32 scores for the given interaction rows."""
        ...


def _check_interactions(interactions: np.ndarray) -> None:
    """Reject inputs that are not a 2-D non-negative matrix, naming the problem."""
    if interactions.ndim != 2:
        raise ValueError(
            f"interactions must be 2-D (n_users, n_items), got shape {interactions.shape}"
        )
    if interactions.size and np.nanmin(interactions) < 0:
        raise ValueError("interactions must be non-negative (0 means no interaction)")


def _fitted(state: np.ndarray | None, user_rows: np.ndarray, name: str) -> np.ndarray:
    """Return the fitted state after checking that the rows use the fitted catalogue.

    Raises:
        RuntimeError: If ``fit`` has not run.
        ValueError: If ``user_rows`` is not ``(n_rows, n_items)`` for the fitted items.
    """
    if state is None:
        raise RuntimeError(f"{name}.score called before fit")
    n_items = state.shape[-1]
    if user_rows.ndim != 2 or user_rows.shape[1] != n_items:
        raise ValueError(
            f"user_rows must have shape (n_rows, {n_items}) to match the fitted items, "
            f"got {user_rows.shape}"
        )
    return state


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
        _check_interactions(interactions)
        self.item_scores = np.count_nonzero(interactions > 0, axis=0).astype(np.float32)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Return the item popularity counts repeated for each given user.

        Args:
            user_rows: ``(n_rows, n_items)`` interaction rows; only their count is used.

        Returns:
            ``(n_rows, n_items)`` float32 scores.
        """
        item_scores = _fitted(self.item_scores, user_rows, type(self).__name__)
        return np.tile(item_scores, (user_rows.shape[0], 1))


class EASERecommender:
    """EASE (Steck 2019): a closed-form item-item linear autoencoder with zero self-weight.

    ``B = argmin ||X - XB||^2 + l2 ||B||^2`` subject to ``diag(B) = 0`` has the solution
    ``P = (X^T X + l2 I)^-1``, ``B_ij = -P_ij / P_jj`` (``i != j``). It is a strong, cheap
    baseline for catalogues of a few thousand items.
    """

    def __init__(self, l2: float = 250.0) -> None:
        if l2 <= 0:
            raise ValueError(f"EASE l2 must be positive so X^T X + l2*I is invertible, got {l2}")
        self.l2 = float(l2)
        self.weights: np.ndarray | None = None

    def fit(self, interactions: np.ndarray) -> Self:
        """Solve for the item-item weight matrix ``B``.

        The Gram matrix is accumulated in float64 over row chunks so precision is kept without
        a float64 copy of the whole input.

        Args:
            interactions: ``(n_users, n_items)`` non-negative interaction strengths.

        Returns:
            ``self``, fitted; ``self.weights`` holds ``B`` as float32.

        Raises:
            ValueError: If there are more than :data:`EASE_MAX_ITEMS` items.
        """
        _check_interactions(interactions)
        n_users, n_items = interactions.shape
        if n_items > EASE_MAX_ITEMS:
            raise ValueError(
                f"EASE needs a dense {n_items} x {n_items} inverse, above the limit of "
                f"{EASE_MAX_ITEMS:,} items; lower the aggregate.top_n_items config key"
            )
        gram = np.zeros((n_items, n_items), dtype=np.float64)
        for start in range(0, n_users, _GRAM_CHUNK_ROWS):
            chunk = np.asarray(interactions[start : start + _GRAM_CHUNK_ROWS], dtype=np.float64)
            gram += chunk.T @ chunk
        gram[np.diag_indices(n_items)] += self.l2
        precision = np.linalg.inv(gram)
        weights = precision / -np.diag(precision)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights = weights.astype(np.float32)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Score items as ``user_rows @ B``.

        Args:
            user_rows: ``(n_rows, n_items)`` interaction rows of the users to score.

        Returns:
            ``(n_rows, n_items)`` float32 scores.
        """
        weights = _fitted(self.weights, user_rows, type(self).__name__)
        return np.asarray(user_rows, dtype=np.float32) @ weights


#: Recommender name (as used in config and reports) -> factory taking keyword parameters.
RECOMMENDERS: dict[str, Callable[..., Recommender]] = {
    "popularity": PopularityRecommender,
    "ease": EASERecommender,
}


def make_recommender(name: str, **params: object) -> Recommender:
    """Build a registered recommender by name.

    Args:
        name: A key of :data:`RECOMMENDERS`.
        **params: Keyword arguments for that recommender's constructor.

    Returns:
        A new, unfitted recommender.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the known names.
    """
    try:
        factory = RECOMMENDERS[name]
    except KeyError:
        known = ", ".join(sorted(RECOMMENDERS))
        raise ValueError(f"unknown recommender {name!r}; known recommenders: {known}") from None
    return factory(**params)

"""Downstream recommenders used to judge whether augmented data helps.

They share one tiny surface, ``fit(interactions) -> self`` and ``score(user_rows) -> scores``,
on dense ``(n_users, n_items)`` matrices. Scoring takes interaction rows rather than user ids
(fold-in), so the same fitted model scores users it never saw, e.g. the evaluation users of a
model fitted on augmented data.

Each recommender lives in its own module of this package, registered in
:data:`samplegen.registry.RECOMMENDERS`; the module defines one factory,
``make(cfg: EvaluateConfig, spark: SparkSession, seed: int) -> Recommender``, that builds it
with the run's settings. Adding a recommender is one module plus one registry line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Self

import numpy as np

from samplegen.registry import recommender

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class Recommender(Protocol):
    """What stage 4 needs from a recommender."""

    def fit(self, interactions: np.ndarray) -> Self:
        """Learn from a dense ``(n_users, n_items)`` non-negative interaction matrix."""
        ...

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Return ``(n_rows, n_items)`` float32 scores for the given interaction rows."""
        ...


def make_recommender(
    name: str, cfg: EvaluateConfig, spark: SparkSession | None, seed: int
) -> Recommender:
    """Build the registered recommender ``name`` with the run's settings and ``seed``.

    Args:
        name: A key of :data:`samplegen.registry.RECOMMENDERS`.
        cfg: The ``evaluate`` settings (each recommender reads its own keys).
        spark: The session (only Spark ALS uses it).
        seed: The seed of a stochastic recommender (the others ignore it).

    Returns:
        A new, unfitted recommender.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the known names.
    """
    return recommender(name).load().make(cfg, spark, seed)


def check_interactions(interactions: np.ndarray) -> None:
    """Reject inputs that are not a 2-D non-negative matrix, naming the problem."""
    if interactions.ndim != 2:
        raise ValueError(
            f"interactions must be 2-D (n_users, n_items), got shape {interactions.shape}"
        )
    if interactions.size and np.nanmin(interactions) < 0:
        raise ValueError("interactions must be non-negative (0 means no interaction)")


def fitted(state: np.ndarray | None, user_rows: np.ndarray, name: str) -> np.ndarray:
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

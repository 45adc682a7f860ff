"""Downstream recommenders used to judge whether augmented data helps.

They share one tiny surface, ``fit(interactions) -> self`` and ``score(user_rows) -> scores``,
on dense ``(n_users, n_items)`` matrices. Scoring takes interaction rows rather than user ids
(fold-in), so the same fitted model scores users it never saw, e.g. the evaluation users of a
model fitted on augmented data.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

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


class SparkALSRecommender:
    """Spark ML's implicit-feedback ALS (Hu, Koren, Volinsky 2008): the distributed baseline.

    ``fit`` sends the non-zero entries to Spark and keeps the item factors ``Y``. ``score``
    folds each row in with the same user step Spark runs, so rows it never saw are scored
    like training rows: ``x_u = (Y'Y + Y_u' diag(alpha r_u) Y_u + reg n_u I)^-1 Y_u' (1 +
    alpha r_u)`` over the user's items ``u``, then ``scores = x_u Y'``.
    """

    def __init__(
        self,
        spark: SparkSession,
        rank: int = 32,
        iterations: int = 10,
        reg: float = 0.05,
        alpha: float = 10.0,
        seed: int = 0,
    ) -> None:
        if rank <= 0 or iterations <= 0 or reg <= 0 or alpha <= 0:
            raise ValueError(
                f"ALS needs positive rank, iterations, reg and alpha; got {rank}, {iterations}, "
                f"{reg}, {alpha}"
            )
        self.spark = spark
        self.rank, self.iterations, self.reg, self.alpha = rank, iterations, reg, alpha
        self.seed = seed
        self.item_factors: np.ndarray | None = None

    def fit(self, interactions: np.ndarray) -> Self:
        """Run Spark ALS on the non-zero entries and keep the item factors (zero if unseen)."""
        from pyspark.ml.recommendation import ALS

        _check_interactions(interactions)
        users, items = np.nonzero(interactions)
        frame = pd.DataFrame(
            {
                "user": users.astype(np.int32),
                "item": items.astype(np.int32),
                "rating": interactions[users, items].astype(np.float32),
            }
        )
        als = ALS(
            rank=self.rank,
            maxIter=self.iterations,
            regParam=self.reg,
            alpha=self.alpha,
            implicitPrefs=True,
            seed=self.seed,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
        )
        model = als.fit(self.spark.createDataFrame(frame))
        factors = model.itemFactors.toPandas()
        self.item_factors = np.zeros((interactions.shape[1], self.rank), dtype=np.float64)
        self.item_factors[factors["id"].to_numpy()] = np.stack(factors["features"].to_numpy())
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Fold every row in against the item factors and score all items."""
        _fitted(
            None if self.item_factors is None else self.item_factors[:, 0],
            user_rows,
            type(self).__name__,
        )
        factors = self.item_factors
        gram = factors.T @ factors
        identity = np.eye(self.rank)
        users = np.zeros((user_rows.shape[0], self.rank), dtype=np.float64)
        for row, values in enumerate(user_rows):
            items = np.flatnonzero(values)
            if items.size == 0:
                continue
            confidence = self.alpha * np.abs(values[items].astype(np.float64))
            own = factors[items]
            system = gram + (own * confidence[:, None]).T @ own + self.reg * items.size * identity
            users[row] = np.linalg.solve(system, own.T @ (1.0 + confidence))
        return (users @ factors.T).astype(np.float32)


class MultVAERecommender:
    """Mult-VAE (Liang et al. 2018) trained in-process on the given matrix.

    The same network as the generator (``samplegen.models.multvae``), used as a recommender:
    scores are the decoder's logits at the posterior mean of each row.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int] = (200,),
        epochs: int = 30,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        if epochs <= 0 or batch_size <= 0:
            raise ValueError(f"Mult-VAE needs positive epochs and batch_size, got {epochs}")
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.model: Any = None
        self.n_items = 0

    def fit(self, interactions: np.ndarray) -> Self:
        """Train for ``epochs`` passes over the rows, in a seeded order."""
        import torch

        from samplegen.models.multvae import MultVAE
        from samplegen.train.loop import train_loop

        _check_interactions(interactions)
        n_users, self.n_items = interactions.shape
        torch.manual_seed(self.seed)
        steps = max(1, -(-n_users // self.batch_size))
        self.model = MultVAE(
            {
                "n_items": self.n_items,
                "hidden_dims": self.hidden_dims,
                "anneal_steps": steps * self.epochs,
            }
        )
        rows = torch.from_numpy(np.asarray(interactions, dtype=np.float32))
        generator = torch.Generator().manual_seed(self.seed)

        def batches() -> Iterator[torch.Tensor]:
            while True:
                order = torch.randperm(n_users, generator=generator)
                for start in range(0, n_users, self.batch_size):
                    yield rows[order[start : start + self.batch_size]]

        with contextlib.redirect_stdout(io.StringIO()):  # the training loop's epoch lines
            train_loop(self.model, batches(), epochs=self.epochs, steps_per_epoch=steps)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Decoder logits at each row's posterior mean."""
        import torch

        _fitted(
            None if self.model is None else np.zeros(self.n_items), user_rows, type(self).__name__
        )
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(user_rows, dtype=np.float32))
            return self.model.scores(x).numpy().astype(np.float32)


#: Recommender name (as used in config and reports) -> factory taking keyword parameters.
RECOMMENDERS: dict[str, Callable[..., Recommender]] = {
    "popularity": PopularityRecommender,
    "ease": EASERecommender,
    "als": SparkALSRecommender,
    "multvae": MultVAERecommender,
}

#: Recommenders whose fit depends on a seed (run once per seed); the others are deterministic.
STOCHASTIC = ("als", "multvae")


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

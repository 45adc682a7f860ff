"""Spark ML's implicit-feedback ALS, with fold-in scoring of unseen rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from samplegen.evaluate.recommenders import check_interactions, fitted
from samplegen.spark import default_parallelism, from_pandas

if TYPE_CHECKING:
    from samplegen.config import EvaluateConfig


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
        check_interactions(interactions)
        users, items = np.nonzero(interactions)
        return self.fit_entries(users, items, interactions[users, items], interactions.shape[1])

    def fit_entries(
        self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_items: int
    ) -> Self:
        """Run Spark ALS on the non-zero entries ``(users[i], items[i], ratings[i])``.

        The entries are sent to Spark from the driver (the dense path's data is there); in
        row-major order (as ``np.nonzero`` lists them) they are the frame that
        :func:`samplegen.evaluate.spark_training.training_entries` builds in Spark.
        """
        frame = pd.DataFrame(
            {
                "user": users.astype(np.int32),
                "item": items.astype(np.int32),
                "rating": np.asarray(ratings).astype(np.float32),
            }
        )
        blocks = default_parallelism(self.spark)
        return self.fit_frame(from_pandas(self.spark, frame, partitions=blocks), n_items)

    def fit_frame(self, entries: DataFrame, n_items: int) -> Self:
        """Run Spark ALS on ``entries`` (columns ``user``, ``item``, ``rating``).

        Keeps the item factors of columns ``0 .. n_items - 1``, zero for a column without
        entries.
        """
        from pyspark.ml.recommendation import ALS

        # One block per task slot: Spark's default of 10 made a 2-core fit about 1.5x slower.
        blocks = default_parallelism(self.spark)
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
            numUserBlocks=blocks,
            numItemBlocks=blocks,
        )
        model = als.fit(entries)
        factors = model.itemFactors.toPandas()
        self.item_factors = np.zeros((n_items, self.rank), dtype=np.float64)
        self.item_factors[factors["id"].to_numpy()] = np.stack(factors["features"].to_numpy())
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Fold every row in against the item factors and score all items."""
        fitted(
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


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> SparkALSRecommender:
    """The registry's factory: ALS with the ``evaluate.als_*`` settings and ``seed``."""
    if spark is None:
        raise ValueError("the als recommender needs a SparkSession")
    return SparkALSRecommender(
        spark,
        rank=cfg.als_rank,
        iterations=cfg.als_iterations,
        reg=cfg.als_reg,
        alpha=cfg.als_alpha,
        seed=seed,
    )

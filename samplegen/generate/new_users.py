"""What every strategy that creates new users shares: ids, seeds and the seed users.

A new user ``n`` of a run gets the id ``syn:<run_id>:<n>`` and the index
``first_user_idx + n`` (after every real index), and its random stream depends only on
``(run seed, strategy tag, n)``. It starts from one real "seed user" of a segment, chosen by
a hash of the same triple, so rows never depend on partitioning and a retried task writes
the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

SCHEMA = "user_id string, user_idx int, item_idx array<int>, weight array<float>"


def new_user_rng(seed: int, tag: int, n: int) -> np.random.Generator:
    """The random stream of new user ``n`` of a strategy (``tag``) in a run."""
    return np.random.default_rng(np.random.SeedSequence([seed, tag, n]))


def thin_segment(train: DataFrame, segment_max_items: int) -> DataFrame:
    """The thin segment: train users with fewer than ``segment_max_items`` items.

    When no user is that thin, every train user.
    """
    segment = train.where(F.col("n_items") < segment_max_items)
    return train if segment.isEmpty() else segment


def basket_sizes(users: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The basket-size distribution of ``users``: sizes and their probabilities."""
    counts = users.groupBy("n_items").count().toPandas().sort_values("n_items")
    sizes = counts["n_items"].to_numpy(dtype=np.int64)
    return sizes, counts["count"].to_numpy(dtype=np.float64) / counts["count"].sum()


def seed_users(segment: DataFrame, n_users: int, seed: int, tag: int) -> DataFrame:
    """Rows ``(n, item_idx)``: for each new user ``n``, the items of its seed user.

    The seed user is a user of ``segment`` (see :func:`thin_segment`) picked by a hash of
    ``(seed, tag, n)``.
    """
    numbered = segment.select(
        (F.row_number().over(Window.orderBy("user_idx")) - 1).alias("slot"), "item_idx"
    ).localCheckpoint()
    slot = F.pmod(F.xxhash64(F.lit(seed), F.lit(tag), F.col("id")), F.lit(numbered.count()))
    wanted = segment.sparkSession.range(n_users).select(F.col("id").alias("n"), slot.alias("slot"))
    return wanted.join(numbered, "slot").select("n", "item_idx")


def new_user_rows(
    ns: list[int],
    baskets: list[np.ndarray],
    run_id: str,
    first_user_idx: int,
    weight: float,
) -> pd.DataFrame:
    """The :data:`SCHEMA` rows of new users ``ns`` with their item ``baskets``."""
    return pd.DataFrame(
        {
            "user_id": [f"syn:{run_id}:{n}" for n in ns],
            "user_idx": [first_user_idx + n for n in ns],
            "item_idx": [np.asarray(b, dtype=np.int32) for b in baskets],
            "weight": [np.full(len(b), weight, dtype=np.float32) for b in baskets],
        }
    )

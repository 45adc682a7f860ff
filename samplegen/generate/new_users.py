"""What every strategy that creates new users shares: ids, seeds and the seed users.

A new user ``n`` of a run gets the id ``syn:<run_id>:<n>`` and the index
``first_user_idx + n`` (after every real index), and its random stream depends only on
``(run seed, strategy's stream tag, n)`` (:func:`samplegen.generate.udf.row_rng`). It starts
from one real "seed user" of a segment, chosen by a hash of the same triple, so rows never
depend on partitioning and a retried task writes the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext
from samplegen.registry import Stream
from samplegen.spark import pinned

SCHEMA = "user_id string, user_idx int, item_idx array<int>, weight array<float>"


@dataclass(frozen=True)
class NewUserPlan:
    """What every new-user strategy is asked for: how many, seeded from whom, numbered how.

    ``segment_max_items`` picks the thin seed segment (:func:`thin_segment`); new user ``n``
    gets index ``first_user_idx + n``, id ``syn:<run_id>:<n>`` and ``weight`` per item.
    """

    n_users: int
    segment_max_items: int
    first_user_idx: int
    weight: float
    seed: int
    run_id: str

    @classmethod
    def of(cls, ctx: DrawContext) -> NewUserPlan:
        """The plan of the run's ``generate`` settings."""
        gen = ctx.gen
        return cls(
            gen.synthetic_users,
            gen.max_user_items,
            ctx.first_user_idx,
            gen.synthetic_weight,
            gen.seed,
            ctx.run_id,
        )

    def rows(self, ns: list[int], baskets: list[np.ndarray]) -> pd.DataFrame:
        """The :data:`SCHEMA` rows of new users ``ns`` with their item ``baskets``."""
        return new_user_rows(ns, baskets, self.run_id, self.first_user_idx, self.weight)


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


def seed_users(segment: DataFrame, n_users: int, seed: int, tag: Stream) -> DataFrame:
    """Rows ``(n, user_idx, item_idx)``: for each new user ``n``, its seed user and their items.

    The seed user is a user of ``segment`` (see :func:`thin_segment`) picked by a hash of
    ``(seed, tag, n)``.
    """
    numbered = pinned(
        segment.select(
            (F.row_number().over(Window.orderBy("user_idx")) - 1).alias("slot"),
            "user_idx",
            "item_idx",
        )
    )
    slot = F.pmod(F.xxhash64(F.lit(seed), F.lit(int(tag)), F.col("id")), F.lit(numbered.count()))
    wanted = segment.sparkSession.range(n_users).select(F.col("id").alias("n"), slot.alias("slot"))
    return wanted.join(numbered, "slot").select("n", "user_idx", "item_idx")


def in_time_order(
    seeds: DataFrame, events: DataFrame, user_index: DataFrame, item_index: DataFrame
) -> DataFrame:
    """``seeds`` with each seed user's ``item_idx`` put in time order.

    An item's time is the user's first clean event with it, ties broken by index. Only the
    seed users' events are read. The items stay the seed's train items: an item the user met
    only later is left out, and one with no clean event (none expected) goes last.

    Args:
        seeds: rows ``(n, user_idx, item_idx)`` from :func:`seed_users`.
        events: ``events_clean``.
        user_index: ``user_index`` (``user_id`` -> ``user_idx``).
        item_index: ``item_index`` (``item_id`` -> ``item_idx``).
    """
    seed_ids = seeds.select("user_idx").distinct().join(user_index, "user_idx")
    first_seen = (
        events.join(seed_ids.select("user_id", "user_idx"), "user_id")
        .join(item_index.select("item_id", "item_idx"), "item_id")
        .groupBy("user_idx", "item_idx")
        .agg(F.min("event_time").alias("first_time"))
    )
    visits = first_seen.groupBy("user_idx").agg(
        F.array_sort(F.collect_list(F.struct("first_time", "item_idx"))).alias("visits")
    )
    train_items = F.col("item_idx")
    ordered = F.filter(F.col("visits.item_idx"), lambda item: F.array_contains(train_items, item))
    return seeds.join(visits, "user_idx", "left").select(
        "n",
        "user_idx",
        F.array_union(F.coalesce(ordered, train_items), train_items).alias("item_idx"),
    )


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

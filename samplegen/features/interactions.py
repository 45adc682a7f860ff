"""Event weights, the temporal split, dense indices and per-user interaction rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.config import AggregateConfig
from samplegen.tables import TRAINING_VIEW


def weighted_events(events: DataFrame, event_weights: dict[str, float]) -> DataFrame:
    """Add ``w``, the configured weight of each event's type."""
    mapping = F.create_map(*[F.lit(x) for pair in event_weights.items() for x in pair])
    return events.withColumn("w", mapping[F.col("event_type")].cast("double"))


def split_by_time(
    events: DataFrame, valid_fraction: float, test_fraction: float
) -> tuple[DataFrame, dict[str, str]]:
    """Global temporal split: ``train < t1 <= valid < t2 <= test``.

    The cuts are the event-time quantiles that leave ``valid_fraction`` and ``test_fraction``
    of the events after them. Returns the events with a ``split`` column, and the cuts.
    """
    seconds = F.col("event_time").cast("long")
    t1, t2 = events.select(
        F.percentile_approx(
            seconds, [1.0 - valid_fraction - test_fraction, 1.0 - test_fraction], 100_000
        )
    ).first()[0]
    split = (
        F.when(seconds < t1, F.lit("train")).when(seconds < t2, F.lit("valid")).otherwise("test")
    )
    cuts = {
        "valid_from": pd.Timestamp(t1, unit="s").isoformat(),
        "test_from": pd.Timestamp(t2, unit="s").isoformat(),
    }
    return events.withColumn("split", split), cuts


def build_indices(
    events: DataFrame, catalogue: DataFrame, cfg: AggregateConfig
) -> tuple[DataFrame, DataFrame]:
    """Item vocabulary and user index, both learnt from the train split only.

    Items: at least ``min_item_users`` distinct train users, the ``top_n_items`` most popular
    (ties by id). Users: at least ``min_user_items`` distinct vocabulary items in train.
    Indices are dense, 0-based and ordered by id, so the same input gives the same indices.
    """
    train = events.where(F.col("split") == "train")
    item_counts = (
        train.groupBy("item_id")
        .agg(F.countDistinct("user_id").alias("n_users"))
        .where(F.col("n_users") >= cfg.min_item_users)
        .orderBy(F.col("n_users").desc(), F.col("item_id"))
        .limit(cfg.top_n_items)
    )
    items = (
        item_counts.join(catalogue.select("item_id", "category"), "item_id", "left")
        .withColumn("item_idx", F.row_number().over(Window.orderBy("item_id")) - 1)
        .select("item_id", "item_idx", "n_users", "category")
    )
    user_counts = (
        train.join(items.select("item_id"), "item_id")
        .groupBy("user_id")
        .agg(F.countDistinct("item_id").alias("n_items"), F.count(F.lit(1)).alias("n_events"))
        .where(F.col("n_items") >= cfg.min_user_items)
    )
    users = user_counts.withColumn(
        "user_idx", F.row_number().over(Window.orderBy("user_id")) - 1
    ).select("user_id", "user_idx", "n_items", "n_events")
    return users, items


def interaction_rows(
    events: DataFrame, users: DataFrame, items: DataFrame, split: str, max_weight: float
) -> DataFrame:
    """One row per indexed user of ``split``: sorted ``item_idx`` and matching ``weight``.

    The weight of a (user, item) pair is the sum of its event weights, capped at
    ``max_weight`` so that one heavy user-item pair cannot dominate.
    """
    pairs = (
        events.where(F.col("split") == split)
        .join(F.broadcast(users.select("user_id", "user_idx")), "user_id")
        .join(F.broadcast(items.select("item_id", "item_idx")), "item_id")
        .groupBy("user_idx", "item_idx")
        .agg(F.least(F.sum("w"), F.lit(max_weight)).cast("float").alias("weight"))
    )
    sorted_pairs = F.array_sort(F.collect_list(F.struct("item_idx", "weight")))
    return (
        pairs.groupBy("user_idx")
        .agg(sorted_pairs.alias("pairs"))
        .select(
            "user_idx",
            F.col("pairs.item_idx").alias("item_idx"),
            F.col("pairs.weight").alias("weight"),
            F.size("pairs").cast("int").alias("n_items"),
        )
    )


def pack_rows(batch: pd.DataFrame, max_items: int) -> pd.DataFrame:
    """Pack each user's items as little-endian int32 bytes and weights as float32 bytes.

    petastorm's batch reader cannot read variable-length list columns but reads binary ones,
    so the training view stores each user's items as bytes. A user with more than
    ``max_items`` items keeps the ``max_items`` heaviest (ties: lower item index).
    """
    item_bytes, weight_bytes, counts = [], [], []
    for items, weights in zip(batch["item_idx"], batch["weight"], strict=True):
        items = np.asarray(items, dtype="<i4")
        weights = np.asarray(weights, dtype="<f4")
        if len(items) > max_items:
            keep = np.sort(np.lexsort((items, -weights))[:max_items])
            items, weights = items[keep], weights[keep]
        item_bytes.append(items.tobytes())
        weight_bytes.append(weights.tobytes())
        counts.append(len(items))
    return pd.DataFrame(
        {
            "user_idx": batch["user_idx"].astype("int32"),
            "n_items": np.asarray(counts, dtype="int32"),
            "item_bytes": item_bytes,
            "weight_bytes": weight_bytes,
        }
    )


def unpack_items(item_bytes: bytes) -> np.ndarray:
    """Inverse of :func:`pack_rows` for one user's items."""
    return np.frombuffer(item_bytes, dtype="<i4")


def unpack_weights(weight_bytes: bytes) -> np.ndarray:
    """Inverse of :func:`pack_rows` for one user's weights."""
    return np.frombuffer(weight_bytes, dtype="<f4")


def training_view(train: DataFrame, max_items: int, n_files: int) -> DataFrame:
    """The table the training loaders read: packed rows spread over ``n_files`` files.

    Rows are spread round-robin by ``user_idx`` so each file (one row group at this size) holds
    a similar number of users and every rank of a ``n_files``-way sharded reader gets data.
    """
    return (
        train.repartition(n_files, F.col("user_idx") % n_files)
        .mapInPandas(
            lambda batches: (pack_rows(b, max_items) for b in batches),
            schema=TRAINING_VIEW.schema,
        )
        .sortWithinPartitions("user_idx")
    )

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
    of the events after them. Returns the events with a ``split`` column, and the cuts;
    ``train_until`` (= ``valid_from``) is the end of the train period.
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
        "train_until": pd.Timestamp(t1, unit="s").isoformat(),
    }
    return events.withColumn("split", split), cuts


def split_leave_last(events: DataFrame, n: int) -> tuple[DataFrame, dict[str, str]]:
    """Per-user leave-last-n: each user's ``n`` latest items go to test, the ``n`` before to valid.

    Items are ranked by the time of the user's last event on them (ties: the larger id first).
    All events of a held-out (user, item) pair go to its split, so a test item never also
    appears in the user's train events. Users with ``2 n`` items or fewer keep everything in
    train. The ranking runs over (user, item) pairs, so a user with a million events is ranked
    over at most their distinct items. ``train_until`` is the second after the last train event.

    The split comes before the vocabulary: a held-out item outside the final vocabulary is
    dropped with it, so such a user has fewer (or no) valid/test targets.
    """
    pairs = events.groupBy("user_id", "item_id").agg(F.max("event_time").alias("last_time"))
    by_user = Window.partitionBy("user_id")
    rank = F.row_number().over(by_user.orderBy(F.desc("last_time"), F.desc("item_id")))
    n_pairs = F.count(F.lit(1)).over(by_user)
    pairs = pairs.select(
        "user_id",
        "item_id",
        F.when(n_pairs <= 2 * n, F.lit("train"))
        .when(rank <= n, F.lit("test"))
        .when(rank <= 2 * n, F.lit("valid"))
        .otherwise(F.lit("train"))
        .alias("split"),
    )
    events = events.join(pairs, ["user_id", "item_id"])
    train_seconds = F.col("event_time").cast("long")  # UTC seconds, whatever the host's zone
    last_train = events.where(F.col("split") == "train").agg(F.max(train_seconds)).first()[0]
    return events, {"train_until": pd.Timestamp(last_train + 1, unit="s").isoformat()}


def split_events(events: DataFrame, cfg: AggregateConfig) -> tuple[DataFrame, dict[str, str]]:
    """Add ``split`` as configured by ``aggregate.split``; returns the events and the cuts."""
    if cfg.split == "leave_last":
        return split_leave_last(events, cfg.leave_last_n)
    return split_by_time(events, cfg.valid_fraction, cfg.test_fraction)


def decay_weights(events: DataFrame, half_life_days: float, train_until: str) -> DataFrame:
    """Halve the weight ``w`` of train events every ``half_life_days`` before ``train_until``.

    Valid and test events keep their weights: they are targets, not evidence. A half-life of 0
    leaves the events as they are.
    """
    if half_life_days <= 0:
        return events
    age_days = (
        F.lit(pd.Timestamp(train_until).timestamp()) - F.col("event_time").cast("double")
    ) / 86_400.0
    decayed = F.col("w") * F.pow(F.lit(0.5), F.greatest(age_days, F.lit(0.0)) / half_life_days)
    return events.withColumn("w", F.when(F.col("split") == "train", decayed).otherwise(F.col("w")))


def extend_index(
    qualified: DataFrame, previous: DataFrame | None, id_col: str, idx_col: str
) -> DataFrame:
    """Dense 0-based indices for the ids of ``qualified`` plus those already in ``previous``.

    An id of ``previous`` keeps its index; ids new to it are numbered after the largest index,
    in id order. So reruns on the same input give the same indices, and a model or table keyed
    by an old index still points at the same id after new data arrives. Without ``previous``
    the indices are simply 0.. in id order.

    Returns:
        ``id_col`` and ``idx_col`` for every id of either input.
    """
    ids = qualified.select(id_col).distinct()
    offset = 0
    if previous is not None:
        previous = previous.select(id_col, F.col(idx_col).cast("int").alias(idx_col))
        ids = ids.join(previous.select(id_col), id_col, "left_anti")
        largest = previous.agg(F.max(idx_col)).first()[0]
        offset = 0 if largest is None else largest + 1
    numbered = ids.withColumn(
        idx_col, (F.row_number().over(Window.orderBy(id_col)) - 1 + offset).cast("int")
    )
    return numbered if previous is None else previous.unionByName(numbered)


def user_item_pairs(events: DataFrame) -> DataFrame:
    """One row per (user, item, split): the summed weight ``w`` and the ``n_events``.

    Indices and interaction rows are computed from these pairs rather than from the events:
    a log has several events per pair, and the aggregation is combined inside each input
    partition before the shuffle, so a user with a million events ships at most one row per
    (item, partition) instead of a million rows to one task.
    """
    return events.groupBy("user_id", "item_id", "split").agg(
        F.sum("w").alias("w"), F.count(F.lit(1)).alias("n_events")
    )


def build_indices(
    pairs: DataFrame,
    catalogue: DataFrame,
    cfg: AggregateConfig,
    previous: tuple[DataFrame, DataFrame] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Item vocabulary and user index, both learnt from the train split only.

    Items: at least ``min_item_users`` distinct train users, the ``top_n_items`` most popular
    (ties by id). Users: at least ``min_user_items`` distinct vocabulary items in train.
    With ``previous`` (the ``user_index`` and ``item_index`` of an earlier load) every id there
    keeps its index and stays in the index, and the vocabulary is the earlier one plus this
    load's qualifying items (see :func:`extend_index`); counts are this load's (0 when absent).

    Args:
        pairs: :func:`user_item_pairs` of the split events.
        catalogue: ``item_id`` and ``category`` of the catalogue.
        cfg: the ``aggregate`` config (filters and vocabulary size).
        previous: ``(user_index, item_index)`` to keep, or None to number from scratch.

    Returns:
        ``(users, items)``. Only users with ``n_items >= min_user_items`` (this load's
        qualifying users) are given interaction rows.
    """
    old_users, old_items = previous if previous is not None else (None, None)
    train = pairs.where(F.col("split") == "train")
    # Both counts are read twice below; they are as small as the id sets, so keep them.
    item_counts = train.groupBy("item_id").agg(F.count(F.lit(1)).alias("n_users")).localCheckpoint()
    qualified_items = (
        item_counts.where(F.col("n_users") >= cfg.min_item_users)
        .orderBy(F.col("n_users").desc(), F.col("item_id"))
        .limit(cfg.top_n_items)
    )
    items = (
        extend_index(qualified_items, old_items, "item_id", "item_idx")
        .join(item_counts, "item_id", "left")
        .join(catalogue.select("item_id", "category"), "item_id", "left")
        .select("item_id", "item_idx", F.coalesce("n_users", F.lit(0)).alias("n_users"), "category")
        .localCheckpoint()
    )
    user_counts = (
        train.join(F.broadcast(items.select("item_id")), "item_id")
        .groupBy("user_id")
        .agg(F.count(F.lit(1)).alias("n_items"), F.sum("n_events").alias("n_events"))
        .localCheckpoint()
    )
    active = user_counts.where(F.col("n_items") >= cfg.min_user_items)
    users = (
        extend_index(active, old_users, "user_id", "user_idx")
        .join(user_counts, "user_id", "left")
        .select(
            "user_id",
            "user_idx",
            F.coalesce("n_items", F.lit(0)).cast("long").alias("n_items"),
            F.coalesce("n_events", F.lit(0)).cast("long").alias("n_events"),
        )
    )
    return users, items


def interaction_rows(
    pairs: DataFrame, users: DataFrame, items: DataFrame, split: str, max_weight: float
) -> DataFrame:
    """One row per user of ``users`` with pairs in ``split``: sorted ``item_idx`` and ``weight``.

    ``users`` are the users to give rows; ``run_aggregate`` passes this load's qualifying ones
    (``n_items >= min_user_items``), not every id the index keeps.

    The weight of a (user, item) pair is the sum of its event weights (``pairs.w``, see
    :func:`user_item_pairs`), capped at ``max_weight`` so that one heavy user-item pair cannot
    dominate.
    """
    weighted = (
        pairs.where(F.col("split") == split)
        .join(users.select("user_id", "user_idx"), "user_id")
        .join(F.broadcast(items.select("item_id", "item_idx")), "item_id")
        .select(
            "user_idx",
            "item_idx",
            F.least(F.col("w"), F.lit(max_weight)).cast("float").alias("weight"),
        )
    )
    sorted_pairs = F.array_sort(F.collect_list(F.struct("item_idx", "weight")))
    return (
        weighted.groupBy("user_idx")
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

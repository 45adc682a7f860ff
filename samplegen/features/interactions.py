"""Event weights, the split (temporal, leave-last or chosen), indices and interaction rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from samplegen.config import AggregateConfig
from samplegen.features.heavy_users import SPREAD, heavy_users, spread_key
from samplegen.runinfo import LOG
from samplegen.spark import pinned
from samplegen.tables import TRAINING_VIEW


def weighted_events(events: DataFrame, event_weights: dict[str, float]) -> DataFrame:
    """Add ``w``, the configured weight of each event's type, and its ``event_rank``.

    ``event_rank`` is the type's position in ``event_weights`` (the funnel order: view, click,
    cart, purchase by default); it orders events that share a timestamp in the ``sequences``
    table (:mod:`samplegen.features.sequences`).
    """
    mapping = F.create_map(*[F.lit(x) for pair in event_weights.items() for x in pair])
    ranks = F.create_map(*[F.lit(x) for i, t in enumerate(event_weights) for x in (t, i)])
    return events.withColumn("w", mapping[F.col("event_type")].cast("double")).withColumn(
        "event_rank", ranks[F.col("event_type")].cast("int")
    )


def split_by_time(
    events: DataFrame,
    valid_fraction: float,
    test_fraction: float,
    seconds_cuts: tuple[int, int] | None = None,
) -> tuple[DataFrame, dict[str, str]]:
    """Global temporal split: ``train < t1 <= valid < t2 <= test``.

    The cuts are the event-time quantiles that leave ``valid_fraction`` and ``test_fraction``
    of the events after them (see :func:`time_quantiles`), or ``seconds_cuts`` when the caller
    has them already (:func:`temporal_cuts`). Returns the events with a ``split`` column, and
    the cuts; ``train_until`` (= ``valid_from``) is the end of the train period.
    """
    seconds = F.col("event_time").cast("long")
    t1, t2 = seconds_cuts or time_quantiles(
        events, [1.0 - valid_fraction - test_fraction, 1.0 - test_fraction]
    )
    split = (
        F.when(seconds < t1, F.lit("train")).when(seconds < t2, F.lit("valid")).otherwise("test")
    )
    cuts = {
        "valid_from": pd.Timestamp(t1, unit="s").isoformat(),
        "test_from": pd.Timestamp(t2, unit="s").isoformat(),
        "train_until": pd.Timestamp(t1, unit="s").isoformat(),
    }
    return events.withColumn("split", split), cuts


def time_quantiles(events: DataFrame, probabilities: list[float]) -> list[int]:
    """Exact event-time quantiles, in UTC seconds.

    For each ``p``, the first second ``s`` such that at least a share ``p`` of the events
    happen at or before ``s``.

    Two counting passes instead of a quantile sketch: an hourly histogram finds the hour that
    holds each quantile, then a per-second count of only those hours finds the second. Both
    are hash aggregations combined inside each task before the shuffle, and the driver sees
    one row per hour of the log plus at most 3,600 rows per quantile.

    Raises:
        ValueError: when there are no events to split.
    """
    seconds = F.col("event_time").cast("long")
    hour = F.floor(seconds / 3600)
    hours = events.groupBy(hour.alias("hour")).count().toPandas().sort_values("hour")
    total = int(hours["count"].sum())
    if total == 0:
        raise ValueError("no events with an event_time to split")
    ends = hours["count"].cumsum().to_numpy()
    # 1e-9: 0.7 * 1000 is 700.0000000000001 in floats, which must not round up to 701.
    ranks = [min(total, max(1, int(np.ceil(p * total - 1e-9)))) for p in probabilities]
    slots = [int(np.searchsorted(ends, rank)) for rank in ranks]
    wanted = sorted({int(hours["hour"].iloc[slot]) for slot in slots})
    per_second = (
        events.where(hour.isin(wanted))
        .groupBy(seconds.alias("second"))
        .count()
        .toPandas()
        .sort_values("second")
    )
    quantiles = []
    for rank, slot in zip(ranks, slots, strict=True):
        in_hour = per_second[per_second["second"] // 3600 == hours["hour"].iloc[slot]]
        before = int(ends[slot - 1]) if slot else 0
        position = int(np.searchsorted(in_hour["count"].cumsum().to_numpy(), rank - before))
        quantiles.append(int(in_hour["second"].iloc[position]))
    return quantiles


def split_leave_last(events: DataFrame, n: int, by: str) -> tuple[DataFrame, dict[str, str]]:
    """Per-user leave-last-n: each user's ``n`` latest items go to test, the ``n`` before to valid.

    ``by`` (``aggregate.leave_last_by``) says which time makes an item latest: ``first``, the
    user's first event on it, so the held-out items are the ones first had latest, the
    user's next *new* items in the first-event order of the ``sequences`` table and of
    SASRec's training sequences, and no held-out item was had before a train item; ``last``,
    the user's last event on it, so a staple bought since the first week and again in the
    last basket is held out although it precedes every train item (a time leak for every
    stage-4 model: the target is already in the user's past). Ties: the larger id first.
    All events of a held-out (user, item) pair go to its split, so a test item never also
    appears in the user's train events. Users with ``2 n`` items or fewer keep everything in
    train. The ranking runs over (user, item) pairs, so a user with a million events is ranked
    over at most their distinct items. ``train_until`` is the second after the last train event.

    The split comes before the vocabulary: a held-out item outside the final vocabulary is
    dropped with it, so such a user has fewer (or no) valid/test targets.

    Raises:
        ValueError: ``by`` is neither ``first`` nor ``last``.
    """
    if by not in ("first", "last"):
        raise ValueError(f"aggregate.leave_last_by must be first or last, got {by!r}")
    when = F.min("event_time") if by == "first" else F.max("event_time")
    pairs = events.groupBy("user_id", "item_id").agg(when.alias("ranked_time"))
    by_user = Window.partitionBy("user_id")
    rank = F.row_number().over(by_user.orderBy(F.desc("ranked_time"), F.desc("item_id")))
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


@dataclass(frozen=True)
class SplitChoice:
    """The split stage 1 uses, and the figure ``aggregate.split=auto`` chose it on.

    Attributes:
        split: ``temporal`` or ``leave_last``.
        temporal_test_share: Under ``auto``, the temporal split's :func:`temporal_test_share`;
            ``None`` when the split was set explicitly (nothing was measured).
    """

    split: str
    temporal_test_share: float | None = None


def temporal_cuts(events: DataFrame, cfg: AggregateConfig) -> tuple[int, int]:
    """The valid and test cuts of the temporal split, in UTC seconds (:func:`time_quantiles`)."""
    t1, t2 = time_quantiles(
        events, [1.0 - cfg.valid_fraction - cfg.test_fraction, 1.0 - cfg.test_fraction]
    )
    return t1, t2


def temporal_test_share(pairs: DataFrame, min_user_items: int) -> float:
    """Share of active users that the temporal split gives an event in its test period.

    Active users have at least ``min_user_items`` distinct items before the valid cut, the
    users stage 1 indexes (before the vocabulary filter, which this estimate skips). A log
    whose users are active in bursts (ratings) leaves few of them in the last weeks; a shop's
    regular customers mostly come back. 0 when no user is active.

    Args:
        pairs: :func:`user_item_pairs` of the events split by time (one row per user, item
            and split, so a user's train rows are their distinct train items).
        min_user_items: ``aggregate.min_user_items``.
    """
    per_user = pairs.groupBy("user_id").agg(
        F.sum((F.col("split") == "train").cast("int")).alias("train_items"),
        F.max((F.col("split") == "test").cast("int")).alias("in_test"),
    )
    active, in_test = (
        per_user.where(F.col("train_items") >= min_user_items)
        .agg(F.count(F.lit(1)), F.coalesce(F.sum("in_test"), F.lit(0)))
        .first()
    )
    return in_test / active if active else 0.0


def split_and_sum(
    events: DataFrame, cfg: AggregateConfig, heavy_user_events: int = 0
) -> tuple[SplitChoice, DataFrame, dict[str, str], DataFrame]:
    """Split the events as ``aggregate.split`` says, decay their weights, sum their pairs.

    ``auto`` keeps the temporal split (no future leaks into train, the honest default) unless
    its test period would hold under ``auto_min_test_share`` of the active users
    (:func:`temporal_test_share`); then each user's last items are held out instead
    (``leave_last``), so that every active user can be evaluated. The share is read from the
    temporal split's pairs, which are kept when it is chosen, so the usual case sums the
    events once; a log that goes leave-last is summed twice. The choice is logged.

    Args:
        events: :func:`weighted_events` (read by the cuts, the heavy-user sample and the sums).
        cfg: the ``aggregate`` config.
        heavy_user_events: see :func:`user_item_pairs`.

    Returns:
        The choice, the split events (cached under ``leave_last``, whose split is a window;
        unpersist them after use), the cuts (always ``train_until``) and the pairs
        (:func:`user_item_pairs`, cached).
    """
    if cfg.split in ("temporal", "auto"):
        split, cuts = split_by_time(
            events, cfg.valid_fraction, cfg.test_fraction, temporal_cuts(events, cfg)
        )
        split = decay_weights(split, cfg.decay_half_life_days, cuts["train_until"])
        pairs = user_item_pairs(split, heavy_user_events).cache()
        if cfg.split == "temporal":
            return SplitChoice("temporal"), split, cuts, pairs
        share = temporal_test_share(pairs, cfg.min_user_items)
        choice = SplitChoice(
            "temporal" if share >= cfg.auto_min_test_share else "leave_last", share
        )
        LOG.info(
            "stage=aggregate split=auto chose %s: the temporal test period holds %.1f%% of active "
            "users (aggregate.auto_min_test_share=%.1f%%)",
            choice.split,
            100 * share,
            100 * cfg.auto_min_test_share,
        )
        if choice.split == "temporal":
            return choice, split, cuts, pairs
        pairs.unpersist()
    else:
        choice = SplitChoice("leave_last")
    split, cuts = split_leave_last(events, cfg.leave_last_n, cfg.leave_last_by)
    split = decay_weights(split, cfg.decay_half_life_days, cuts["train_until"]).cache()
    return choice, split, cuts, user_item_pairs(split, heavy_user_events).cache()


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

    Args:
        qualified: one row per id to index; its other columns are carried along.
        previous: ``id_col`` and ``idx_col`` of an earlier index, or None.
        id_col: the id column.
        idx_col: the index column to add.

    Returns:
        ``id_col``, ``idx_col`` and ``qualified``'s other columns (null for ids only in
        ``previous``), for every id of either input.
    """
    offset = 0
    if previous is not None:
        previous = previous.select(id_col, F.col(idx_col).cast("int").alias(idx_col))
        qualified = qualified.join(previous.select(id_col), id_col, "left_anti")
        largest = previous.agg(F.max(idx_col)).first()[0]
        offset = 0 if largest is None else largest + 1
    numbered = number_in_order(qualified, id_col, idx_col, offset)
    if previous is None:
        return numbered
    return previous.unionByName(numbered, allowMissingColumns=True)


#: Bits of ``monotonically_increasing_id`` below the partition id (Spark documents the layout:
#: the partition id in the upper 31 bits, the row's position in its partition in the lower 33).
_ROW_BITS = 33


def ranked_rows(rows: DataFrame, order_col: str) -> DataFrame:
    """``rows`` range-partitioned and sorted by ``order_col``, with ``_part`` and ``_row``.

    ``_part`` is the row's partition and ``_row`` its ``monotonically_increasing_id``
    (see :func:`number_in_order`).
    """
    return (
        rows.orderBy(order_col)
        .withColumn("_part", F.spark_partition_id())
        .withColumn("_row", F.monotonically_increasing_id())
    )


def number_in_order(rows: DataFrame, order_col: str, idx_col: str, offset: int = 0) -> DataFrame:
    """``rows`` with ``idx_col`` = ``offset``, ``offset + 1``, ... in ``order_col`` order.

    The same numbers as ``row_number()`` over a window ordered by ``order_col`` (unique
    values), but without that window's single partition, which would move every id through one
    task (10^8 users do not fit one). The rows are range-partitioned and sorted by
    ``order_col`` and kept (:func:`~samplegen.spark.pinned`); each row's number is the row count
    of the partitions before its own (a driver-side sum over one count per partition) plus its
    position in its partition.
    """
    ordered = pinned(ranked_rows(rows, order_col))
    counts = sorted(tuple(r) for r in ordered.groupBy("_part").count().collect())
    starts, total = [], offset
    for part, n in counts:
        starts.append((part, total))
        total += n
    start = rows.sparkSession.createDataFrame(starts, "_part int, _start long")
    position = F.col("_row") - F.col("_part").cast("long") * (1 << _ROW_BITS)
    return (
        ordered.join(F.broadcast(start), "_part")
        .withColumn(idx_col, (F.col("_start") + position).cast("int"))
        .drop("_part", "_row", "_start")
    )


def user_item_pairs(events: DataFrame, heavy_user_events: int = 0) -> DataFrame:
    """One row per (user, item, split): the summed weight ``w``, ``n_events``, ``first`` and more.

    ``first`` is the pair's earliest ``(event_time, event_rank)`` (:func:`weighted_events`), by
    which :func:`samplegen.features.sequences.user_sequences` orders each user's items.

    Indices, interaction rows, sequences, new-item pairs, the user and item features and the CTR
    rows are computed from these pairs (with the other sums of :func:`_sums`) rather than from
    the events. The events are shuffled once, by user, and sorted by (user, item, split) inside
    each partition. Under :data:`~samplegen.spark.SORTED_AGGREGATION` (``run_aggregate`` applies
    it) the sums are then one streaming pass over sorted rows, where Spark would otherwise build
    a hash map of every pair twice, once for partial and once for final sums. The pairs come out
    partitioned by user, so :func:`user_item_lists` needs no second shuffle.

    With ``heavy_user_events`` (``aggregate.heavy_user_events``; 0: never), users with at
    least that many events (:func:`~samplegen.features.heavy_users.heavy_users`, on a sample)
    are spread over tasks by item (:func:`~samplegen.features.heavy_users.spread_key`) so
    that no task holds one user's every event; the pairs are then shuffled by user once more.
    A run without such users keeps the plan above.
    """
    keys = ["user_id", "item_id", "split"]
    heavy = heavy_users(events, heavy_user_events)
    if not heavy:
        return (
            events.repartition("user_id").sortWithinPartitions(*keys).groupBy(*keys).agg(*_sums())
        )
    LOG.info(
        "stage=aggregate event=heavy_users users=%d min_events=%d: their events are spread over "
        "tasks by item",
        len(heavy),
        heavy_user_events,
    )
    partitions = int(events.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    spread = [keys[0], SPREAD, *keys[1:]]
    return (
        events.withColumn(SPREAD, spread_key(heavy, partitions))
        .repartition("user_id", SPREAD)
        .sortWithinPartitions(*spread)
        .groupBy(*spread)
        .agg(*_sums())
        .drop(SPREAD)
        .repartition("user_id")
    )


def _is_purchase() -> Column:
    """1 for a purchase event, 0 for any other type."""
    return (F.col("event_type") == "purchase").cast("int")


def _sums() -> list[Column]:
    """A pair's sums: what the interaction rows, sequences, features and CTR rows need.

    The summed weight, event count and first ``(event_time, event_rank)``; the purchases and
    last event time (the CTR row's label and time); the sum, count, least and largest of the
    events' prices (null prices skipped, as ``avg`` skips them), so that the per-user and
    per-item features of :mod:`samplegen.features.tabular` are sums over pairs rather than
    a second pass over the events.
    """
    return [
        F.sum("w").alias("w"),
        F.count(F.lit(1)).alias("n_events"),
        F.min(F.struct("event_time", "event_rank")).alias("first"),
        F.sum(_is_purchase()).cast("long").alias("n_purchases"),
        F.max("event_time").alias("last"),
        F.sum("price").alias("price_sum"),
        F.count("price").alias("price_n"),
        F.min("price").alias("price_min"),
        F.max("price").alias("price_max"),
    ]


def build_item_index(
    pairs: DataFrame, catalogue: DataFrame, cfg: AggregateConfig, previous: DataFrame | None = None
) -> DataFrame:
    """The item vocabulary, learnt from the train split only.

    Items with at least ``min_item_users`` distinct train users, the ``top_n_items`` most
    popular (ties by id). With ``previous`` (the ``item_index`` of an earlier load) every item
    there keeps its index, and the vocabulary is the earlier one plus this load's qualifying
    items (see :func:`extend_index`).

    Args:
        pairs: :func:`user_item_pairs` of the split events.
        catalogue: ``item_id`` and ``category`` of the catalogue.
        cfg: the ``aggregate`` config (filters and vocabulary size).
        previous: the ``item_index`` to keep, or None to number from scratch.

    Returns:
        ``item_id, item_idx, n_users, category``; ``n_users`` is this load's (0 when absent).
    """
    train = pairs.where(F.col("split") == "train")
    # Read twice below; it is as small as the item set, so keep it.
    item_counts = pinned(train.groupBy("item_id").agg(F.count(F.lit(1)).alias("n_users")))
    qualified = (
        item_counts.where(F.col("n_users") >= cfg.min_item_users)
        .orderBy(F.col("n_users").desc(), F.col("item_id"))
        .limit(cfg.top_n_items)
    )
    return (
        extend_index(qualified.select("item_id"), previous, "item_id", "item_idx")
        .join(item_counts, "item_id", "left")
        .join(catalogue.select("item_id", "category"), "item_id", "left")
        .select("item_id", "item_idx", F.coalesce("n_users", F.lit(0)).alias("n_users"), "category")
    )


def user_item_lists(pairs: DataFrame, items: DataFrame, split: str, max_weight: float) -> DataFrame:
    """Per user with vocabulary items in ``split``: the items sorted by index, and their weights.

    The weight of a (user, item) pair is the sum of its event weights (``pairs.w``, see
    :func:`user_item_pairs`), capped at ``max_weight`` so that one heavy pair cannot dominate.
    The lists are keyed by ``user_id``, so the train lists give the user index its counts as
    well as the rows. The pairs of :func:`user_item_pairs` are already partitioned by user,
    so building the lists shuffles nothing.

    Returns:
        ``user_id, item_idx array<int>, weight array<float>, n_items, n_events``.
    """
    pair = F.struct(
        "item_idx", F.least(F.col("w"), F.lit(max_weight)).cast("float").alias("weight")
    )
    return (
        pairs.where(F.col("split") == split)
        .join(F.broadcast(items.select("item_id", "item_idx")), "item_id")
        .groupBy("user_id")
        .agg(
            F.array_sort(F.collect_list(pair)).alias("pairs"),
            F.sum("n_events").alias("n_events"),
        )
        .select(
            "user_id",
            F.col("pairs.item_idx").alias("item_idx"),
            F.col("pairs.weight").alias("weight"),
            F.size("pairs").cast("long").alias("n_items"),
            F.col("n_events").cast("long").alias("n_events"),
        )
    )


def build_user_index(
    train_lists: DataFrame, cfg: AggregateConfig, previous: DataFrame | None = None
) -> DataFrame:
    """The user index: users with at least ``min_user_items`` vocabulary items in train.

    With ``previous`` (the ``user_index`` of an earlier load) every user there keeps its index
    and stays in the index (see :func:`extend_index`), with this load's counts (0 when absent).

    Args:
        train_lists: :func:`user_item_lists` of the train split.
        cfg: the ``aggregate`` config (``min_user_items``).
        previous: the ``user_index`` to keep, or None to number from scratch.

    Returns:
        ``user_id, user_idx, n_items, n_events``. Only users with ``n_items >=
        min_user_items`` (this load's qualifying users) are given interaction rows.
    """
    counts = train_lists.select("user_id", "n_items", "n_events")
    active = counts.where(F.col("n_items") >= cfg.min_user_items)
    index = extend_index(active, previous, "user_id", "user_idx")
    if previous is not None:  # earlier users may have fewer items now, or none
        index = index.select("user_id", "user_idx").join(counts, "user_id", "left")
    return index.select(
        "user_id",
        "user_idx",
        F.coalesce("n_items", F.lit(0)).cast("long").alias("n_items"),
        F.coalesce("n_events", F.lit(0)).cast("long").alias("n_events"),
    )


def interaction_rows(lists: DataFrame, users: DataFrame) -> DataFrame:
    """One row per user of ``users`` that has a list in ``lists`` (:func:`user_item_lists`).

    ``users`` are the users to give rows; ``run_aggregate`` passes this load's qualifying ones
    (``n_items >= min_user_items``), not every id the index keeps.
    """
    return lists.join(users.select("user_id", "user_idx"), "user_id").select(
        "user_idx", "item_idx", "weight", F.col("n_items").cast("int").alias("n_items")
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


def new_item_pairs(
    pairs: DataFrame, catalogue: DataFrame, users: DataFrame, split: str = "test"
) -> DataFrame:
    """``split``-period (valid or test) ``(user_idx, item_id)`` pairs on items new to the catalogue.

    A new item is a catalogue item with no event at all in the train split (of any user,
    active or not): first seen after the train cut. Items seen in train but left out of the
    top-N vocabulary are not new, and their valid and test events still drop with the
    vocabulary. Only users of ``users`` (the active ones, which have interaction rows) are kept.
    The test pairs are what stage 4's item-cold slices score against, the valid pairs what it
    chooses the compared models on; no stage that trains or generates reads either.

    Args:
        pairs: :func:`user_item_pairs` of the split events.
        catalogue: the ``catalogue`` table.
        users: ``user_index`` rows of the users to keep.
        split: ``valid`` or ``test``.
    """
    seen = pairs.where(F.col("split") == "train").select("item_id").distinct()
    return (  # one pair per (user, item, split): no distinct needed
        pairs.where(F.col("split") == split)
        .join(catalogue.select("item_id"), "item_id", "left_semi")
        .join(seen, "item_id", "left_anti")
        .join(users.select("user_id", "user_idx"), "user_id")
        .select("user_idx", "item_id")
    )

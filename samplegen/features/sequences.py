"""Stage 1's ``sequences`` table: each active user's items of every split, in time order.

Sequential recommenders (:mod:`samplegen.evaluate.sequences`) need what the interaction
tables drop: the order. Those keep their items sorted by index (their weights, the training
view and every reader rely on that), so the order is a separate, narrow table rather than a
reordered column: one row per active user (the users of the interaction tables, with the same
``user_idx`` and vocabulary ``item_idx``) holding ``train_items``, ``valid_items`` and
``test_items``, each the split's distinct items in the order of the user's first event on them
in that split.

Ties (two items whose first events share a timestamp, e.g. one basket) are broken by event
order, then item index. The events carry no row order of their own (Spark and Delta keep
none), so the event order is the funnel order of the event types: their position in
``aggregate.event_weights`` (a view before the cart before the purchase of the same second).
``n_ties`` counts the items a user's sequences place by that rule; stage 1 logs how many users
have any.

The table is built from the (user, item, split) pairs stage 1 already aggregates (their
``first`` event, :func:`samplegen.features.interactions.user_item_pairs`), which come
partitioned by user: it costs one pass over the pairs and one narrow write, not another
shuffle of the events.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.tables import SEQUENCES, Where, read_table

#: The splits, in the order of the ``sequences`` columns.
SPLITS = ("train", "valid", "test")


def _ties(entries: str) -> Column:
    """Items of the sorted ``entries`` whose first event shares the time of the one before."""
    return F.expr(
        f"CASE WHEN size({entries}) < 2 THEN 0 ELSE size(filter(sequence(2, size({entries})), "
        f"i -> element_at({entries}, i).t = element_at({entries}, i - 1).t)) END"
    )


def _in_split(split: str):
    """The predicate of :func:`pyspark.sql.functions.filter` keeping ``split``'s entries."""
    return lambda entry: entry["split"] == split


def user_sequences(pairs: DataFrame, items: DataFrame, users: DataFrame) -> DataFrame:
    """The ``sequences`` rows: each user's vocabulary items per split, in time order.

    Args:
        pairs: :func:`~samplegen.features.interactions.user_item_pairs` (with ``first``).
        items: the item index (``item_id``, ``item_idx``).
        users: the users to give rows (``user_id``, ``user_idx``); stage 1 passes the same
            active users as the interaction tables.

    Returns:
        ``user_idx``, ``train_items``, ``valid_items``, ``test_items`` (int arrays in time
        order; ties by event rank, then item index) and ``n_ties``.
    """
    entry = F.struct(
        F.col("first.event_time").alias("t"),
        F.col("first.event_rank").alias("r"),
        F.col("item_idx"),
        F.col("split"),
    )
    grouped = (
        pairs.join(F.broadcast(items.select("item_id", "item_idx")), "item_id")
        .groupBy("user_id")
        .agg(F.array_sort(F.collect_list(entry)).alias("entries"))
    )
    per_split = grouped.select(
        "user_id",
        *[F.filter("entries", _in_split(s)).alias(s) for s in SPLITS],
    )
    return per_split.join(users.select("user_id", "user_idx"), "user_id").select(
        "user_idx",
        *[F.col(s).getField("item_idx").alias(f"{s}_items") for s in SPLITS],
        sum((_ties(s) for s in SPLITS), F.lit(0)).cast("int").alias("n_ties"),
    )


def tie_counts(spark: SparkSession, where: Where) -> dict[str, int]:
    """Users of the written ``sequences`` table with ties, and the items placed by the rule."""
    row = (
        read_table(spark, where, SEQUENCES)
        .agg(
            F.count(F.when(F.col("n_ties") > 0, 1)).alias("users"),
            F.coalesce(F.sum("n_ties"), F.lit(0)).alias("items"),
        )
        .first()
    )
    return {"sequence_users_with_ties": int(row["users"]), "sequence_tied_items": int(row["items"])}

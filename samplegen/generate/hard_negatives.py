"""``hard_negatives``: unbought items of the same category as each bought one, as negatives.

For CTR / ranking models trained on ``samples_ctr``: every positive train row (a purchase)
gets :data:`NEGATIVES_PER_POSITIVE` synthetic negative rows that keep the row's user side
(``user_events``, ``user_days_since_last``) and swap its item for another item of the same
category that the user never bought in train. Such a negative is harder than a
popularity-sampled one: it differs from a real purchase only in the item, within the same
need. This is the model-free variant of the hard negatives the literature finds most
promising for CTR augmentation; the item side of the new row is the swapped item's (its
department, brand, mean price, users and purchase rate over the train rows).

A row's swap is chosen by a hash of ``(run seed, stream, user, item, attempt)``; up to
:data:`ATTEMPTS` attempts skip items the user bought. A positive whose category holds no
other unbought item gets no negative; the manifest counts them.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext, Metrics
from samplegen.registry import Stream
from samplegen.spark import pinned
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR

#: Synthetic negatives drawn for each positive train row.
NEGATIVES_PER_POSITIVE = 1
#: Draws per negative before a positive counts as having no candidate.
ATTEMPTS = 4
#: Item-side columns of a ``samples_ctr`` row.
ITEM_SIDE = ("department", "brand", "price", "item_users", "item_purchase_rate")


def _item_side_summary() -> list:
    """How one item's train rows give its item side: first label, mean price, largest counts."""
    return [
        F.first("department", ignorenulls=True).alias("department"),
        F.first("brand", ignorenulls=True).alias("brand"),
        F.avg("price").alias("price"),
        F.max("item_users").alias("item_users"),
        F.max("item_purchase_rate").alias("item_purchase_rate"),
    ]


def item_side(train: DataFrame) -> DataFrame:
    """``(category, slot, item_idx, item-side columns)``: items numbered within category."""
    items = (
        train.where(F.col("category").isNotNull())
        .groupBy("item_idx")
        .agg(
            F.first("category", ignorenulls=True).alias("category"),
            *_item_side_summary(),
        )
    )
    slot = F.row_number().over(Window.partitionBy("category").orderBy("item_idx")) - 1
    return items.withColumn("slot", slot)


def hard_negatives(samples: DataFrame, seed: int) -> tuple[DataFrame, Metrics]:
    """Negative rows (``synthetic_ctr`` columns after provenance) and their figures."""
    train = samples.where(F.col("split") == "train")
    positives = (
        train.where((F.col("label") == 1) & F.col("category").isNotNull())
        .select("user_idx", "item_idx", "category", "user_events", "user_days_since_last")
        .dropDuplicates(["user_idx", "item_idx"])
    )
    bought = train.where(F.col("label") == 1).select("user_idx", F.col("item_idx").alias("cand"))
    items = pinned(item_side(train))
    sizes = items.groupBy("category").agg(F.count("*").alias("n_category"))
    draws = (
        positives.join(sizes, "category")
        .crossJoin(
            positives.sparkSession.range(NEGATIVES_PER_POSITIVE * ATTEMPTS).select(
                (F.col("id") % NEGATIVES_PER_POSITIVE).alias("negative"),
                (F.col("id") / NEGATIVES_PER_POSITIVE).cast("int").alias("attempt"),
            )
        )
        .withColumn(
            "slot",
            F.pmod(
                F.xxhash64(
                    F.lit(seed),
                    F.lit(int(Stream.HARD_NEGATIVES)),
                    "user_idx",
                    "item_idx",
                    "negative",
                    "attempt",
                ),
                F.col("n_category"),
            ),
        )
        .join(
            items.select("category", "slot", F.col("item_idx").alias("cand")),
            ["category", "slot"],
        )
        .join(bought, ["user_idx", "cand"], "left_anti")
    )
    first = Window.partitionBy("user_idx", "item_idx", "negative").orderBy("attempt")
    chosen = draws.withColumn("pick", F.row_number().over(first)).where(F.col("pick") == 1)
    rows = chosen.join(
        items.drop("slot", "category").withColumnRenamed("item_idx", "cand"), "cand"
    ).select(
        # One id per (user, bought item, negative): never collides, needs no global numbering.
        (
            (F.col("user_idx").cast("long") * (1 << 32) + F.col("item_idx"))
            * NEGATIVES_PER_POSITIVE
            + F.col("negative")
        ).alias("row"),
        F.lit(0).alias("label"),
        "category",
        *ITEM_SIDE,
        "user_events",
        "user_days_since_last",
    )
    rows = rows.select(*[F.col(f.name).cast(f.dataType) for f in SYNTHETIC_CTR.schema.fields[5:]])
    rows = pinned(rows)
    n_positives, n_rows = positives.count(), rows.count()
    wanted = n_positives * NEGATIVES_PER_POSITIVE
    return rows, {
        "positives": n_positives,
        "hard_negatives": n_rows,
        "hard_negatives/without_candidate": wanted - n_rows,
    }


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """Hard negative ``samples_ctr`` rows for ``synthetic_ctr``."""
    return hard_negatives(ctx.table(SAMPLES_CTR), ctx.gen.seed)

"""``augmented_train``: the real train rows plus the synthetic rows of this run and chosen others.

Each run numbers its new users from the first index after ``user_index`` and its new items
from the first after ``item_index``, so two runs' new indices collide. When runs are combined
(``generate.augment_runs``), this run keeps its indices; every other run's new users are shifted
past the indices already taken, and a new item keeps the index it has in an earlier run of the
list (the same catalogue item is one column) or gets the next free one.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

COLUMNS = ["user_idx", "item_idx", "weight"]


def augmented(real: DataFrame, synthetic: DataFrame, run_id: str) -> DataFrame:
    """Real train rows and synthetic rows, told apart by ``is_synthetic``, keyed by ``run_id``."""
    return (
        real.select(*COLUMNS)
        .withColumn("is_synthetic", F.lit(False))
        .unionByName(synthetic.select(*COLUMNS).withColumn("is_synthetic", F.lit(True)))
        .withColumn("run_id", F.lit(run_id))
    )


def _user_offsets(synthetic: DataFrame, runs: list[str], first_user_idx: int) -> dict[str, int]:
    """Per run, what to add to its new users' indices so runs follow each other."""
    extents = (
        synthetic.where(F.col("user_id").isNotNull())
        .groupBy("run_id")
        .agg(F.min("user_idx").alias("low"), F.max("user_idx").alias("high"))
        .toPandas()
        .set_index("run_id")
    )
    offsets, next_free = {}, first_user_idx
    for position, run in enumerate(runs):
        if run not in extents.index:
            offsets[run] = 0
            continue
        low, high = int(extents.at[run, "low"]), int(extents.at[run, "high"])
        offsets[run] = 0 if position == 0 else next_free - low
        next_free = max(next_free, high + offsets[run] + 1)
    return offsets


def _item_mapping(synthetic: DataFrame, runs: list[str], first_item_idx: int) -> pd.DataFrame:
    """``run_id, item_idx -> new_item_idx`` for every new item (catalogue id) of ``runs``."""
    items = (
        synthetic.where(F.col("item_ids").isNotNull())
        .select("run_id", F.explode(F.arrays_zip("item_idx", "item_ids")).alias("pair"))
        .select("run_id", F.col("pair.item_idx").alias("item_idx"), F.col("pair.item_ids"))
        .distinct()
        .toPandas()
        .rename(columns={"item_ids": "item_id"})
    )
    items["order"] = items["run_id"].map({run: i for i, run in enumerate(runs)})
    items = items.sort_values(["order", "item_idx"], kind="stable")
    index_of: dict[str, int] = {}
    taken = set(items.loc[items["order"] == 0, "item_idx"])
    next_free = first_item_idx
    for row in items.itertuples():
        if row.item_id in index_of:
            continue
        if row.order == 0:
            index_of[row.item_id] = int(row.item_idx)
            continue
        while next_free in taken:
            next_free += 1
        index_of[row.item_id] = next_free
        taken.add(next_free)
    items["new_item_idx"] = items["item_id"].map(index_of).astype("int32")
    return items[["run_id", "item_idx", "new_item_idx"]]


def combined_synthetic(
    synthetic: DataFrame, runs: list[str], first_user_idx: int, first_item_idx: int
) -> DataFrame:
    """Synthetic rows ``(user_idx, item_idx, weight)`` of ``runs`` with new indices made unique.

    Args:
        synthetic: the ``synthetic_interactions`` table.
        runs: this run first, then the other runs to combine with it.
        first_user_idx: the first index after ``user_index``.
        first_item_idx: the first index after ``item_index``.

    Raises:
        ValueError: when a run of ``runs`` has no synthetic rows.
    """
    rows = synthetic.where(F.col("run_id").isin(runs))
    found = {r.run_id for r in rows.select("run_id").distinct().collect()}
    missing = [run for run in runs[1:] if run not in found]
    if missing:
        raise ValueError(
            f"generate.augment_runs: no synthetic_interactions rows for run(s) {missing}; "
            "generate them first"
        )
    if len(runs) == 1:
        return rows.select(*COLUMNS)
    offsets = _user_offsets(rows, runs, first_user_idx)
    shift = F.coalesce(
        F.create_map(*[F.lit(v) for run, off in offsets.items() for v in (run, off)])[
            F.col("run_id")
        ],
        F.lit(0),
    )
    rows = rows.withColumn(
        "user_idx",
        F.when(F.col("user_id").isNotNull(), F.col("user_idx") + shift).otherwise(
            F.col("user_idx")
        ),
    )
    mapping = _item_mapping(rows, runs, first_item_idx)
    if mapping.empty:
        return rows.select(*COLUMNS)
    spark = synthetic.sparkSession
    lookup = spark.createDataFrame(mapping, "run_id string, item_idx int, new_item_idx int")
    plain = rows.where(F.col("item_ids").isNull()).select(*COLUMNS)
    renamed = (
        rows.where(F.col("item_ids").isNotNull())
        .select(
            "run_id",
            "user_idx",
            F.posexplode(F.arrays_zip("item_idx", "weight")).alias("slot", "pair"),
        )
        .select(
            "run_id",
            "user_idx",
            "slot",
            F.col("pair.item_idx").alias("item_idx"),
            F.col("pair.weight").alias("weight"),
        )
        .join(F.broadcast(lookup), ["run_id", "item_idx"])
        .groupBy("run_id", "user_idx")
        .agg(F.array_sort(F.collect_list(F.struct("slot", "new_item_idx", "weight"))).alias("s"))
        .select(
            "user_idx",
            F.col("s.new_item_idx").alias("item_idx"),
            F.col("s.weight").alias("weight"),
        )
    )
    return plain.unionByName(renamed)

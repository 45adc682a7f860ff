"""Privacy filter cost: prefix-filtered candidates vs a join on every shared item.

Real users: ``--real`` baskets of 3-60 items drawn from ``--items`` items with Zipf(1.0)
popularity; synthetic users: ``--synthetic`` baskets drawn the same way, plus 20 planted copies
of real users. Both methods run on ``local[2]`` against the same checkpointed inputs:

* ``all_shared`` (the filter before prefix filtering): every (synthetic, real) pair sharing any
  item is counted through an item join, then Jaccard is computed per pair;
* ``prefix``: :func:`samplegen.generate.privacy.privacy_filter` (candidates share a rare
  prefix item and have compatible sizes; Jaccard from the full sets).

Prints wall seconds, candidate pairs of each, whether the kept users agree, and the speed-up.
Usage::

    python bench/privacy_filter.py --real 200000 --synthetic 5000 --items 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.config import SparkConfig
from samplegen.generate.privacy import privacy_filter
from samplegen.spark import get_spark

THRESHOLD = 0.8


def baskets(n: int, n_items: int, seed: int) -> list[list[int]]:
    """``n`` baskets of 3-60 distinct items with Zipf(1.0) item popularity."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1)
    weights /= weights.sum()
    sizes = np.minimum(rng.pareto(1.5, size=n).astype(int) + 3, 60)
    return [sorted(map(int, rng.choice(n_items, s, replace=False, p=weights))) for s in sizes]


def all_shared(synthetic: DataFrame, real: DataFrame, threshold: float) -> tuple[set, int]:
    """Kept synthetic ids and candidate pairs of the join on every shared item."""
    syn_items = synthetic.select("user_id", F.explode("item_idx").alias("item"))
    real_items = real.select("user_idx", F.explode("item_idx").alias("item"))
    shared = syn_items.join(real_items, "item").groupBy("user_id", "user_idx").count().cache()
    pairs = shared.count()
    sizes_s = synthetic.select("user_id", F.size("item_idx").alias("a"))
    sizes_r = real.select("user_idx", F.size("item_idx").alias("b"))
    jac = (
        shared.join(sizes_s, "user_id")
        .join(sizes_r, "user_idx")
        .select("user_id", (F.col("count") / (F.col("a") + F.col("b") - F.col("count"))).alias("j"))
        .groupBy("user_id")
        .agg(F.max("j").alias("j"))
    )
    dropped = {r.user_id for r in jac.where(F.col("j") > threshold).collect()}
    everyone = {r.user_id for r in synthetic.select("user_id").collect()}
    shared.unpersist()
    return everyone - dropped, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=int, default=200_000)
    parser.add_argument("--synthetic", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=20_000)
    args = parser.parse_args()
    spark = get_spark(SparkConfig(master="local[2]", driver_memory="8g", shuffle_partitions=8))
    real_rows = baskets(args.real, args.items, seed=1)
    syn_rows = [(f"s{n}", b) for n, b in enumerate(baskets(args.synthetic, args.items, seed=2))]
    syn_rows += [(f"copy{n}", real_rows[n * 97]) for n in range(20)]
    real = spark.createDataFrame(
        list(enumerate(real_rows)), "user_idx int, item_idx array<int>"
    ).localCheckpoint()
    synthetic = spark.createDataFrame(syn_rows, "user_id string, item_idx array<int>")
    synthetic = synthetic.localCheckpoint()

    start = time.perf_counter()
    kept_join, join_pairs = all_shared(synthetic, real, THRESHOLD)
    join_seconds = time.perf_counter() - start

    start = time.perf_counter()
    kept, counts = privacy_filter(synthetic, real, THRESHOLD)
    kept_prefix = {r.user_id for r in kept.select("user_id").collect()}
    prefix_seconds = time.perf_counter() - start

    print(f"real users {args.real:,}, synthetic {len(syn_rows):,}, items {args.items:,}")
    print(f"all_shared: {join_seconds:7.1f} s, {join_pairs:,} candidate pairs")
    print(f"prefix:     {prefix_seconds:7.1f} s, dropped {counts.dropped_copies} copies and "
          f"{counts.dropped_similar} near copies")  # fmt: skip
    print(f"same users kept: {kept_join == kept_prefix} ({len(kept_prefix):,})")
    print(f"speed-up: {join_seconds / prefix_seconds:.2f}x")


if __name__ == "__main__":
    main()

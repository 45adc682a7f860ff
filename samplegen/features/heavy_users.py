"""Heavy users: one user's events spread over the tasks that sum (user, item) pairs.

:func:`samplegen.features.interactions.user_item_pairs` shuffles events by user, so a user
with 10^8 events (a crawler, a shared kiosk account, a bot that slipped through) would be one
task holding 10^8 rows. Users at or above ``aggregate.heavy_user_events`` are found on a small
sample of the events, and only their events get a second partitioning key, a hash of the item:
each (user, item, split) still lands in exactly one task, so the sums are exact, and the
heavy user's rows are spread over up to ``spark.sql.shuffle.partitions`` tasks. Users under the
threshold keep key 0, so their pairs stay together as before.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: Events of a heavy user expected in the detection sample: the sampling fraction is this over
#: the threshold, and a user is flagged at half of it (a user at the threshold falls below half
#: with probability about e^-250).
SAMPLED_EVENTS_PER_HEAVY_USER = 2000
#: The extra partitioning column (dropped from the pairs).
SPREAD = "_spread"


def heavy_users(events: DataFrame, min_events: int, seed: int = 0) -> list[str]:
    """Ids of users estimated to have at least ``min_events`` events (none when it is 0).

    The estimate counts a seeded Bernoulli sample of ``SAMPLED_EVENTS_PER_HEAVY_USER /
    min_events`` of the rows, so the pass aggregates a small share of them; a user is flagged
    at half the expected sample count, so users somewhat under the threshold may be flagged
    too, which only spreads their rows.
    """
    if min_events <= 0:
        return []
    fraction = min(1.0, SAMPLED_EVENTS_PER_HEAVY_USER / min_events)
    flagged = max(1, round(min_events * fraction / 2))
    counts = events.select("user_id").sample(fraction=fraction, seed=seed).groupBy("user_id")
    rows = counts.count().where(F.col("count") >= flagged).select("user_id").collect()
    return sorted(r.user_id for r in rows)


def spread_key(heavy: list[str], partitions: int) -> Column:
    """0 for most users; for a heavy user's event, its item's hash modulo ``partitions``."""
    by_item = F.pmod(F.xxhash64("item_id"), F.lit(partitions)).cast("int")
    return F.when(F.col("user_id").isin(heavy), by_item).otherwise(F.lit(0)).alias(SPREAD)

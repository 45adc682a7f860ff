"""CPU of Delta commits on tiny tables: Delta's defaults vs the test suite's settings.

The test suite runs stage 1 on a few hundred to ~90,000 rows about twenty times; there a Delta
commit's fixed work (the checksum file, replaying the snapshot in two partitions) outweighs
the rows. ``tests/conftest.py`` turns those off for its sessions
(``TINY_DELTA``); production sessions keep the local session's settings
(:func:`samplegen.spark.local_settings`: checksum files, two snapshot partitions). This
prints, from one Spark session that alternates the two, the CPU seconds (driver, JVM and
Python workers) of:

* ``write_table`` of a 100-row ``user_index`` (``--writes`` commits per repeat);
* one stage-1 load (``run_aggregate``) of the test suite's small configuration (150
  completejourney households), after one untimed load that warms the JVM.

A third side, ``tiny_history``, is ``tiny_delta`` with each write's row count asked of
``DESCRIBE HISTORY`` (what ``write_table`` did before it read the local commit file,
:func:`samplegen.locations.local_commit_metrics`; URIs and catalog tables still do).

Usage::

    PYTHONPATH=$PWD python bench/small_delta_commits.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psutil


def tree_cpu() -> float:
    """CPU seconds of this process and its descendants, reaped children included."""
    total = 0.0
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def measure(spark, settings: dict[str, str], step, history: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``step()`` under ``settings`` (the old values come back).

    ``history``: row counts from ``DESCRIBE HISTORY`` only (the local commit file unread).
    """
    import samplegen.tables as tables
    from samplegen.spark import sql_settings

    local = tables.local_commit_metrics
    if history:
        tables.local_commit_metrics = lambda *args: None
    try:
        with sql_settings(spark, settings):
            cpu, wall = tree_cpu(), time.perf_counter()
            step()
            return tree_cpu() - cpu, time.perf_counter() - wall
    finally:
        tables.local_commit_metrics = local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--writes", type=int, default=10)
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from samplegen.features import run_aggregate
    from samplegen.spark import get_spark
    from samplegen.tables import USER_INDEX, write_table
    from tests.conftest import TINY_DELTA, small_config

    root = Path(tempfile.mkdtemp(prefix="small-delta-"))
    # The suite's configuration, less the settings measured here.
    cfg = small_config(root)
    cfg.spark.conf = {k: v for k, v in cfg.spark.conf.items() if k not in TINY_DELTA}
    spark = get_spark(cfg.spark)
    tiny = spark.range(100).select(
        F.col("id").cast("string").alias("user_id"),
        F.col("id").cast("int").alias("user_idx"),
        F.lit(3).cast("long").alias("n_items"),
        F.lit(5).cast("long").alias("n_events"),
    )
    run_aggregate(spark, cfg, "warm-up")
    sides = {"local_session": {}, "tiny_delta": TINY_DELTA, "tiny_history": TINY_DELTA}
    results: dict[str, dict[str, list[float]]] = {s: {"write": [], "load": []} for s in sides}
    for repeat in range(args.repeats):
        for side, settings in sides.items():

            def writes(side: str = side) -> None:
                for _ in range(args.writes):
                    write_table(tiny, str(root / f"tiny-{side}"), USER_INDEX)

            history = side == "tiny_history"
            cpu, _ = measure(spark, settings, writes, history)
            results[side]["write"].append(cpu / args.writes)
            cpu, wall = measure(
                spark,
                settings,
                lambda s=side, r=repeat: run_aggregate(spark, cfg, f"{s}-{r}"),
                history,
            )
            results[side]["load"].append(cpu)
            print(
                f"repeat {repeat} {side:15s} write_table {results[side]['write'][-1]:.2f} CPU-s"
                f"/commit, stage-1 load {cpu:.1f} CPU-s ({wall:.0f} s wall)",
                flush=True,
            )
    print(json.dumps(results))
    spark.stop()


if __name__ == "__main__":
    main()

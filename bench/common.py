"""What the benchmarks share: the one-machine Spark settings, the simulated log with a skewed
user, and running a step in its own process while sampling that process tree's memory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import psutil

#: Throughput settings for one local machine, as a user would put them in ``spark.conf``:
#: the parallel (throughput) collector, no compression of cached tables (it only costs CPU
#: when they stay in memory), and the sort-based aggregate for ``collect_list`` (the
#: hash-based one falls back to sorting after 128 keys anyway). Shuffle files stay compressed
#: (Spark's default): at 10^8 events they are 6.5 GB raw, 1.1 GB with lz4.
SPARK_CONF = {
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    "spark.sql.execution.useObjectHashAggregateExec": "false",
}


def simulate_child(out: str, n: int, whale: int) -> dict:
    """Simulate ``n`` events, then append one user ("whale") with ``whale`` views."""
    from pyspark.sql import functions as F

    from samplegen.config import SparkConfig
    from samplegen.data.simulate import SimulationSpec, write_simulation
    from samplegen.spark import get_spark
    from samplegen.tables import RAW_EVENTS_SCHEMA

    spark = get_spark(SparkConfig(master="local[2]", driver_memory="8g"))
    start = time.perf_counter()
    spec = SimulationSpec(n_events=n)
    counts = write_simulation(spark, spec, out)
    if whale:
        origin = int(datetime.fromisoformat(spec.start).replace(tzinfo=UTC).timestamp())
        rows = spark.range(whale).select(
            F.lit("whale").alias("user_id"),
            F.concat(F.lit("i"), (F.col("id") % 5000).cast("string")).alias("item_id"),
            F.lit("view").alias("event_type"),
            F.timestamp_seconds(F.lit(origin) + F.col("id") * 10).alias("event_time"),
            F.concat(F.lit("whale-"), F.floor(F.col("id") / 50).cast("string")).alias("session_id"),
            F.lit(1.0).alias("quantity"),
            F.lit(1.0).alias("price"),
            F.lit("web").alias("store_id"),
        )
        rows.select([F.col(f.name).cast(f.dataType) for f in RAW_EVENTS_SCHEMA.fields]).write.mode(
            "append"
        ).parquet(f"{out}/events")
        counts["events"] += whale
        counts["whale_events"] = whale
    seconds = time.perf_counter() - start
    spark.stop()
    return {"seconds": seconds, **counts}


#: Seconds between samples of the summed RSS (cheap) and of the summed PSS (not cheap).
RSS_EVERY, PSS_EVERY = 0.2, 5.0


def tree_memory(root: psutil.Process, proportional: bool) -> int:
    """Resident memory of ``root`` and its descendants in bytes: summed PSS or summed RSS.

    RSS counts a page shared by several processes (Spark's forked Python workers and the
    libraries they map) once per process, so its sum can exceed the machine's memory; PSS
    splits each shared page between its processes, so its sum is what the tree really holds.
    PSS is read from ``smaps``, which walks the page tables: for a JVM with a 14 GiB heap that
    costs real CPU, hence the slower :data:`PSS_EVERY`.
    """
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            info = process.memory_full_info() if proportional else process.memory_info()
        except psutil.Error:
            continue
        total += getattr(info, "pss", info.rss)
    return total


def measured(script: str, args: list[str]) -> dict:
    """Run ``script --child ARGS``; return its last JSON line plus the tree's peak memory.

    ``peak_gib`` is the peak of the tree's summed PSS (sampled every :data:`PSS_EVERY` s and
    whenever the RSS sum grew 5% since the last PSS sample), ``peak_rss_gib`` the peak of its
    summed RSS (every :data:`RSS_EVERY` s; see :func:`tree_memory`), ``process_s`` the
    child's wall time from start to exit (JVM start included).
    """
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, script, "--child", *args], stdout=subprocess.PIPE)
    peaks = {"pss": 0, "rss": 0}
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        last_time, last_rss = -PSS_EVERY, 0
        while not done.is_set():
            try:
                rss = tree_memory(root, proportional=False)
                peaks["rss"] = max(peaks["rss"], rss)
                # PSS every PSS_EVERY seconds, and whenever RSS grew 5% since the last PSS.
                if time.perf_counter() - last_time >= PSS_EVERY or rss > 1.05 * last_rss:
                    last_time, last_rss = time.perf_counter(), rss
                    peaks["pss"] = max(peaks["pss"], tree_memory(root, proportional=True))
            except psutil.Error:
                pass
            time.sleep(RSS_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed with exit code {proc.returncode}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    return result | {
        "peak_gib": peaks["pss"] / 2**30,
        "peak_rss_gib": peaks["rss"] / 2**30,
        "process_s": time.perf_counter() - started,
    }

"""Stage-1 aggregation throughput: samplegen on Spark vs DuckDB, on the same simulated Parquet.

For each size, ``samplegen simulate`` writes an event log once (kept under ``--work``); then, in
separate processes so each one's memory is measured alone, both engines compute the same
per-user interaction rows of the train split from those Parquet files and write them as Parquet:

* event-type weights; global temporal cut at the 80% time quantile (train before it);
* vocabulary: items with >= 10 distinct train users, the 5,000 most popular, indexed by id;
* users with >= 3 vocabulary items, indexed by id;
* per (user, item) the summed weight capped at 50; per user the item indices sorted, weights.

samplegen runs its own stage-1 functions (``weighted_events``, ``split_by_time``,
``user_item_pairs``, ``build_item_index``, ``user_item_lists``, ``build_user_index``,
``interaction_rows``) on ``local[2]`` under ``SORTED_AGGREGATION``, as ``run_aggregate`` does;
DuckDB runs one SQL statement with 2 threads. Peak memory is the peak summed PSS of each
engine's process tree (see ``common.measured``). Usage::

    python bench/aggregate_vs_duckdb.py --sizes 1e6 1e7 1e8
    python bench/aggregate_vs_duckdb.py --sizes 1e8 --heavy-user-events 0 --out results/x.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from common import SPARK_CONF, measured, simulate_child

HERE = Path(__file__).resolve().parent
WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0}
MIN_ITEM_USERS, MIN_USER_ITEMS, TOP_N, MAX_WEIGHT, TRAIN_SHARE = 10, 3, 5000, 50.0, 0.8


def spark_child(
    events: str, catalogue: str, out: str, n: int, conf: dict[str, str], heavy: int | None
) -> dict:
    from pyspark.sql import functions as F

    from samplegen.config import AggregateConfig, SparkConfig
    from samplegen.features.interactions import (
        build_item_index,
        build_user_index,
        interaction_rows,
        split_by_time,
        user_item_lists,
        user_item_pairs,
        weighted_events,
    )
    from samplegen.spark import SORTED_AGGREGATION, get_spark

    partitions = max(8, n // 2_000_000)
    spark = get_spark(
        SparkConfig(
            master="local[2]",
            driver_memory="14g",
            shuffle_partitions=partitions,
            conf=conf | SORTED_AGGREGATION,  # as run_aggregate
        )
    )
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    start = clock
    agg = AggregateConfig(
        min_item_users=MIN_ITEM_USERS,
        min_user_items=MIN_USER_ITEMS,
        top_n_items=TOP_N,
        max_weight=MAX_WEIGHT,
    )
    if heavy is not None:
        agg = dataclasses.replace(agg, heavy_user_events=heavy)
    raw = spark.read.parquet(events).where(F.col("event_type").isin(list(WEIGHTS)))
    weighted, _ = split_by_time(weighted_events(raw, WEIGHTS), 0.1, 0.1)  # train: first 80%
    phase("time_cut")
    pairs = user_item_pairs(weighted, agg.heavy_user_events).cache()  # as run_aggregate
    pairs.count()
    phase("pairs")
    items = build_item_index(pairs, spark.read.parquet(catalogue), agg).localCheckpoint()
    lists = user_item_lists(pairs, items, "train", MAX_WEIGHT).cache()
    users = build_user_index(lists, agg)
    users = users.where(F.col("n_items") >= MIN_USER_ITEMS).localCheckpoint()
    phase("indices")
    rows = interaction_rows(lists, users)
    rows.write.mode("overwrite").parquet(out)
    phase("rows")
    seconds = time.perf_counter() - start
    written = spark.read.parquet(out)
    counts = written.agg(F.count("*"), F.sum("n_items")).first()
    spark.stop()
    return {"seconds": seconds, "users": counts[0], "pairs": int(counts[1]), "phases": phases}


DUCKDB_SQL = """
COPY (
  WITH ev AS (
    SELECT user_id, item_id, event_time,
           CASE event_type {cases} END AS w
    FROM read_parquet('{events}/*.parquet')
    WHERE event_type IN ({types})
  ),
  cut AS (SELECT quantile_disc(epoch(event_time), {train_share}) AS t1 FROM ev),
  train AS (SELECT ev.* FROM ev, cut WHERE epoch(event_time) < cut.t1),
  vocab AS (
    SELECT item_id FROM train GROUP BY item_id
    HAVING count(DISTINCT user_id) >= {min_item_users}
    ORDER BY count(DISTINCT user_id) DESC, item_id LIMIT {top_n}
  ),
  items AS (SELECT item_id, row_number() OVER (ORDER BY item_id) - 1 AS item_idx FROM vocab),
  pairs AS (
    SELECT user_id, item_idx, least(sum(w), {max_weight}) AS weight
    FROM train JOIN items USING (item_id) GROUP BY user_id, item_idx
  ),
  users AS (
    SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS user_idx
    FROM pairs GROUP BY user_id HAVING count(*) >= {min_user_items}
  )
  SELECT user_idx, list(item_idx ORDER BY item_idx) AS item_idx,
         list(weight ORDER BY item_idx) AS weight, count(*) AS n_items
  FROM pairs JOIN users USING (user_id) GROUP BY user_idx
) TO '{out}' (FORMAT PARQUET)
"""


def duckdb_child(
    events: str, catalogue: str, out: str, n: int, conf: dict[str, str], heavy: int | None
) -> dict:
    """DuckDB's side; ``conf`` and ``heavy`` are samplegen's settings, unused here."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '14GB'")
    con.execute("SET preserve_insertion_order = false")
    sql = DUCKDB_SQL.format(
        cases=" ".join(f"WHEN '{t}' THEN {w}" for t, w in WEIGHTS.items()),
        types=", ".join(f"'{t}'" for t in WEIGHTS),
        events=events,
        train_share=TRAIN_SHARE,
        min_item_users=MIN_ITEM_USERS,
        top_n=TOP_N,
        max_weight=MAX_WEIGHT,
        min_user_items=MIN_USER_ITEMS,
        out=out,
    )
    start = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - start
    users, pairs = con.execute(
        f"SELECT count(*), sum(n_items) FROM read_parquet('{out}')"
    ).fetchone()
    return {"seconds": seconds, "users": users, "pairs": int(pairs)}


CHILDREN = {"spark": spark_child, "duckdb": duckdb_child, "simulate": simulate_child}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 1e8])
    parser.add_argument("--work", default=str(HERE / "work"), help="simulated data and outputs")
    parser.add_argument(
        "--whale",
        type=int,
        default=1_000_000,
        help="views of one extra user added to logs of >= 1e7 events (skew check)",
    )
    parser.add_argument(
        "--spark-conf",
        nargs="*",
        default=[f"{k}={v}" for k, v in SPARK_CONF.items()],
        metavar="KEY=VALUE",
        help="Spark settings of the samplegen run (spark.conf of the config); "
        "default: %(default)s",
    )
    parser.add_argument(
        "--heavy-user-events",
        type=int,
        default=None,
        help="samplegen's aggregate.heavy_user_events (0: never spread a user; default: its own)",
    )
    parser.add_argument("--out", help="results file (default: results/aggregate_vs_duckdb.json)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        fn = CHILDREN[name]
        if name == "simulate":
            result = fn(rest[0], int(rest[1]), int(rest[2]))
        else:
            result = fn(*rest[:3], int(rest[3]), json.loads(rest[4]), json.loads(rest[5]))
        print(json.dumps(result))
        return

    results = []
    for size in args.sizes:
        n = int(size)
        data = Path(args.work) / f"sim_{n}"
        if not (data / "_counts.json").exists():
            whale = args.whale if n >= 10**7 else 0
            sim = measured(__file__, ["simulate", str(data), str(n), str(whale)])
            (data / "_counts.json").write_text(json.dumps(sim))
            print(
                f"{n:>12,} simulate {sim['seconds']:7.1f} s  {sim['events']:,} events", flush=True
            )
        sim = json.loads((data / "_counts.json").read_text())
        events, catalogue = str(data / "events"), str(data / "catalogue")
        row = {
            "target_events": n,
            "events": sim["events"],
            "whale_events": sim.get("whale_events", 0),
            "simulate_s": sim["seconds"],
            "simulate_peak_gib": sim["peak_gib"],
        }
        for engine in ("duckdb", "spark"):
            out = str(Path(args.work) / f"out_{engine}_{n}")
            conf = dict(item.split("=", 1) for item in args.spark_conf)
            child = [engine, events, catalogue, out, str(n), json.dumps(conf)]
            got = measured(__file__, [*child, json.dumps(args.heavy_user_events)])
            row[engine] = got
            print(f"{n:>12,} {engine:<7} {got['seconds']:8.1f} s  {got['peak_gib']:5.2f} GiB  "
                  f"users {got['users']:,} pairs {got['pairs']:,}", flush=True)  # fmt: skip
        row["ratio"] = row["spark"]["seconds"] / row["duckdb"]["seconds"]
        results.append(row)

    print(f"\n{'events':>12} {'samplegen s':>11} {'ev/s':>10} {'GiB':>5} "
          f"{'duckdb s':>9} {'ev/s':>10} {'GiB':>5} {'ratio':>6}")  # fmt: skip
    for r in results:
        s, d = r["spark"], r["duckdb"]
        print(
            f"{r['events']:>12,} {s['seconds']:>11.1f} {r['events'] / s['seconds']:>10,.0f} "
            f"{s['peak_gib']:>5.1f} {d['seconds']:>9.1f} {r['events'] / d['seconds']:>10,.0f} "
            f"{d['peak_gib']:>5.1f} {r['ratio']:>6.2f}"
        )
    by_size = {r["target_events"]: r for r in results}
    if 10**7 in by_size and 10**8 in by_size:
        scaling = by_size[10**8]["spark"]["seconds"] / by_size[10**7]["spark"]["seconds"]
        print(f"samplegen scaling 1e8/1e7: {scaling:.2f} (issue 25: <= 10)")
    out = Path(args.out) if args.out else HERE / "results" / "aggregate_vs_duckdb.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""The whole aggregate stage (stage 1): samplegen on Spark vs a DuckDB script doing the same work.

For each size, ``samplegen simulate`` writes an event log once (Parquet, under ``--work``; one
user "whale" with a million views is added from 10^7 events on), and a share ``--dirty`` of
damaged copies of its rows is added beside it (duplicates, near duplicates, blank ids, an
unweighted event type, missing or future times, bad quantities and prices: one rule each), so
that validation and the quarantine have work to do. Then, each in its own process so that its
peak memory (summed PSS of the process tree, ``common.measured``) is its own:

* samplegen runs its real stage 1, ``samplegen.features.run_aggregate(spark, cfg, run_id)``,
  on ``local[2]`` with ``data.source=files`` pointed at that Parquet, a fresh lakehouse under
  ``--work`` and the benchmarks' ``spark.conf``; timed from after the Spark session is up;
* DuckDB (2 threads, 14 GB memory limit) runs the SQL of :func:`duckdb_child` over the same
  Parquet and writes its outputs as Parquet; timed from after the connection is open.

Both read the same ``aggregate`` settings (samplegen's defaults plus ``--set``). The report
puts both engines' seconds, peak GiB, the ratio samplegen / DuckDB (goal: <= 2.5 at 10^8) and
the row counts of every output side by side.

What the DuckDB script mirrors of ``run_aggregate``:

Mirrored exactly (same rule, same rows):
  * ``raw_events`` (a copy of the input, when ``aggregate.raw_events``), ``catalogue`` and its
    checks (blank or repeated ids, overlap with the events);
  * every validation rule of ``samplegen.data.validate`` in its order (the first rule broken
    is the reason), duplicates and near duplicates (< 1 s) among rows equal in every other
    column and rule outcome; ``events_clean`` and ``events_quarantine`` written once each from
    one tagged table, the reconciliation ``raw = clean + quarantine``, the counts of
    ``event_type_not_weighted`` and of clean events on items the catalogue lacks;
  * event weights and funnel ranks; ``aggregate.split=auto``'s temporal test share and
    choice; the exact temporal cuts (first second with a share p of the events at or before
    it); the time decay of train weights (off by default);
  * the (user, item, split) pairs (summed weight, events, first event and rank), the item
    vocabulary (``min_item_users``, ``top_n_items``, ties by id, indices in id order), the
    user index (``min_user_items``, indices in id order), the interaction rows of each split
    (items sorted by index, weights capped at ``max_weight``), ``sequences`` with its tie
    counts, ``valid_new_items`` and ``test_new_items``, ``user_features``, ``item_features``
    (``text_embedding`` null, as with ``aggregate.text_embeddings`` off).

Mirrored approximately:
  * ``samples_ctr``: the real rows exactly; the negatives follow the same rule (popularity
    tickets in item-index order, draws per positive from the same negative-binomial bound,
    rejection of the user's items in the split, the first ``ctr_negatives_per_positive``
    accepted draws) but tickets come from DuckDB's ``hash`` rather than Spark's ``xxhash64``,
    so the items drawn differ (the counts agree up to the rare positive that runs short);
    the bound is computed in pure Python (:func:`draws_needed`), not with scipy, and checked
    against samplegen's before any run (:func:`check_copies_of_samplegen`);
  * ``training_view``: the train rows with each user capped at ``max_items_per_user``
    heaviest items (ties: lower index), but kept as lists in one file, not packed as int32 and
    float32 bytes in ``aggregate.training_files`` files;
  * Unicode white space around ids: RE2's ``\\s`` and ``\\p{Z}`` instead of Java's ``(?U)\\s``.

Not mirrored:
  * Delta: the transaction log, the aggregate lock, schema enforcement on write and reading
    each table back after writing it (DuckDB keeps its intermediate tables in its database
    file and writes plain Parquet);
  * ``aggregate.keep_indices`` with an earlier load (both start from an empty output, so
    there are no earlier indices to keep), ``aggregate.split=leave_last`` (the script stops if
    ``auto`` would choose it), the heavy-user spreading (a Spark-only skew fix), the
    ``data_profile`` table and the run's log lines and metrics.

Usage::

    python bench/stage1_vs_duckdb.py --sizes 1e6 1e7 1e8   # writes results/stage1_vs_duckdb.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import SPARK_CONF, measured, simulate_child

HERE = Path(__file__).resolve().parent
#: Columns of the raw event log, in the order of ``samplegen.tables.RAW_EVENTS_SCHEMA`` (checked).
RAW_COLUMNS = (
    "user_id",
    "item_id",
    "event_type",
    "event_time",
    "session_id",
    "quantity",
    "price",
    "store_id",
)
#: The outputs whose row counts the report compares, as ``run_aggregate``'s ``rows`` name them.
COMPARED = (
    "raw_events",
    "events_clean",
    "events_quarantine",
    "events_type_not_weighted",
    "events_item_not_in_catalogue",
    "item_index",
    "user_index",
    "active_users",
    "interactions_train",
    "interactions_valid",
    "interactions_test",
    "sequences",
    "sequence_users_with_ties",
    "valid_new_items",
    "test_new_items",
    "user_features",
    "item_features",
    "samples_ctr",
    "training_view",
)
#: Damage of the ``--dirty`` rows: the column changed and the reason validation should give.
DAMAGE = (
    "duplicate",
    "near_duplicate",
    "null_or_empty_user_id",
    "null_or_empty_item_id",
    "event_type_not_weighted",
    "null_event_time",
    "event_time_out_of_range",
    "negative_quantity",
    "zero_quantity",
    "nan_price",
)
# The validation and negative-sampling constants of samplegen.data.validate and
# samplegen.features.tabular, repeated so that the DuckDB process imports neither (importing
# the latter loads pyspark and scipy: about 130 MB that would count in DuckDB's peak).
MAX_ID_LENGTH, NEAR_DUPLICATE_SECONDS, EARLIEST_EVENT_TIME = 256, 1.0, "1990-01-01 00:00:00"
MISSING_ID_TEXTS = ("null", "none", "nan", "n/a")
SHORTFALL_PROBABILITY, DRAW_GRID, MAX_DRAWS_PER_NEGATIVE = 1e-8, 1000, 1000


# --- The input: the simulated log plus damaged rows ---------------------------------------------


def dirty_child(events: str, out: str, share: float) -> dict:
    """Write damaged copies of a ``share`` of ``events`` to ``out`` (Spark, as the log was).

    Rows are picked and damaged by hashes of their columns, so the same log gives the same
    rows; each gets one kind of :data:`DAMAGE`. Written by Spark so that the column types
    (INT96 times) are those of the simulated files beside them.
    """
    from pyspark.sql import functions as F

    from samplegen.config import SparkConfig
    from samplegen.spark import get_spark

    spark = get_spark(SparkConfig(master="local[2]", driver_memory="4g"))
    key = [F.col(c) for c in ("user_id", "item_id", "event_time", "session_id")]
    picked = spark.read.parquet(events).where(
        F.pmod(F.xxhash64(F.lit(1), *key), F.lit(1_000_000)) < int(share * 1_000_000)
    )
    kind = F.pmod(F.xxhash64(F.lit(2), *key), F.lit(len(DAMAGE)))

    def damaged(column: str, changes: dict[str, object]) -> object:
        value = F.col(column)
        for name, new in changes.items():
            value = F.when(kind == DAMAGE.index(name), new).otherwise(value)
        return value.cast(picked.schema[column].dataType).alias(column)

    later = F.col("event_time") + F.expr("INTERVAL 500 MILLISECONDS")
    rows = picked.select(
        damaged("user_id", {"null_or_empty_user_id": F.lit(None)}),
        damaged("item_id", {"null_or_empty_item_id": F.lit("NULL")}),
        damaged("event_type", {"event_type_not_weighted": F.lit("wishlist")}),
        damaged(
            "event_time",
            {
                "near_duplicate": later,
                "null_event_time": F.lit(None),
                "event_time_out_of_range": F.col("event_time") + F.expr("INTERVAL 10 YEARS"),
            },
        ),
        damaged("session_id", {}),
        damaged("quantity", {"negative_quantity": F.lit(-1.0), "zero_quantity": F.lit(0.0)}),
        damaged("price", {"nan_price": F.lit(float("nan"))}),
        damaged("store_id", {}),
    )
    rows.coalesce(1).write.mode("overwrite").parquet(out)
    n = spark.read.parquet(out).count()
    spark.stop()
    return {"dirty_rows": n}


def link_files(source: Path, target: Path) -> None:
    """Hard-link the Parquet files of ``source`` into ``target`` (no copy; same disk)."""
    for path in sorted(source.glob("*.parquet")):
        os.link(path, target / f"log-{path.name}")


def prepared_log(work: Path, n: int, whale: int, dirty: float) -> tuple[Path, Path, dict]:
    """The events and catalogue paths for ``n`` simulated events, made once and then reused.

    The simulated log lies in ``sim_<n>_whale_<whale>`` (as ``pipeline_load.py`` names it, so
    that both benchmarks share it); with ``dirty`` the events read are a folder of hard links
    to its files plus one file of damaged rows.
    """
    sim_dir = work / f"sim_{n}_whale_{whale}"
    if not (sim_dir / "_counts.json").exists():
        got = measured(__file__, ["simulate", str(sim_dir), str(n), str(whale)])
        (sim_dir / "_counts.json").write_text(json.dumps(got))
    sim = json.loads((sim_dir / "_counts.json").read_text())
    if not dirty:
        return sim_dir / "events", sim_dir / "catalogue", sim | {"dirty_rows": 0}
    log_dir = work / f"stage1_{n}_whale_{whale}_dirty_{dirty:g}"
    if not (log_dir / "_counts.json").exists():
        events = log_dir / "events"
        got = measured(__file__, ["dirty", str(sim_dir / "events"), str(events), str(dirty)])
        link_files(sim_dir / "events", events)
        (log_dir / "_counts.json").write_text(json.dumps(got))
    dirty_rows = json.loads((log_dir / "_counts.json").read_text())["dirty_rows"]
    return log_dir / "events", sim_dir / "catalogue", sim | {"dirty_rows": dirty_rows}


# --- samplegen: the real stage 1 -----------------------------------------------------------------


def stage_overrides(work: Path, events: Path, catalogue: Path, n: int) -> list[str]:
    """``--set`` overrides of the samplegen run: the files source, one machine, a new lakehouse."""
    lake = work / f"stage1_lake_{n}"
    return [
        f"lakehouse={lake}",
        f"models_root={lake}/models",
        f"reports_root={work}/stage1_reports_{n}",
        "spark.master=local[2]",
        "spark.driver_memory=14g",
        f"spark.shuffle_partitions={max(8, n // 2_000_000)}",
        f"spark.conf={json.dumps(SPARK_CONF)}",
        "data.source=files",
        f"data.events_path={events}",
        f"data.catalogue_path={catalogue}",
    ]


def samplegen_child(run_id: str, sets: list[str]) -> dict:
    """Run ``run_aggregate`` once; return its seconds and rows, and some output breakdowns.

    The breakdowns (quarantine reasons, ``samples_ctr`` rows by source) are read after the
    clock stops.
    """
    from pyspark.sql import functions as F

    from samplegen.config import load_config
    from samplegen.features import run_aggregate
    from samplegen.runinfo import configure_logging
    from samplegen.spark import get_spark
    from samplegen.tables import EVENTS_QUARANTINE, SAMPLES_CTR, read_table, table_store

    configure_logging()
    cfg = load_config(None, sets)
    spark = get_spark(cfg.spark)
    start = time.perf_counter()
    result = run_aggregate(spark, cfg, run_id)
    seconds = time.perf_counter() - start
    lake = table_store(cfg)
    reasons = read_table(spark, lake, EVENTS_QUARANTINE).groupBy("reason").count().collect()
    sources = read_table(spark, lake, SAMPLES_CTR).groupBy("source").agg(F.count(F.lit(1)))
    breakdown = {"quarantine_reasons": {r["reason"]: r["count"] for r in reasons}}
    breakdown["samples_ctr_sources"] = {r[0]: r[1] for r in sources.collect()}
    spark.stop()
    return {"seconds": seconds, "stage_seconds": result.seconds, "rows": result.rows} | breakdown


# --- DuckDB: the same work in SQL ----------------------------------------------------------------


def draws_needed(per_positive: int, accepted: float, max_share: float) -> int:
    """``samplegen.features.tabular.draws_needed`` without scipy: the same bound.

    ``per_positive`` plus the ``1 - SHORTFALL_PROBABILITY`` quantile of the negative-binomial
    failures before ``per_positive`` successes of probability ``accepted - (k - 1) max_share``,
    summed term by term; capped at ``MAX_DRAWS_PER_NEGATIVE * per_positive``.
    """
    cap = MAX_DRAWS_PER_NEGATIVE * per_positive
    if accepted <= 0:
        return 0
    success = min(accepted - (per_positive - 1) * max_share, 1.0)
    if success <= 0:
        return cap
    pmf = success**per_positive  # no failure
    cdf, failures = pmf, 0
    while cdf < 1 - SHORTFALL_PROBABILITY and per_positive + failures < cap:
        pmf *= (failures + per_positive) / (failures + 1) * (1 - success)
        cdf += pmf
        failures += 1
    return min(per_positive + failures, cap)


def check_copies_of_samplegen() -> None:
    """Stop unless :data:`RAW_COLUMNS`, :func:`draws_needed` and its constants equal samplegen's.

    Runs in the parent process (the measured DuckDB process never imports pyspark, scipy or
    samplegen), so a change to ``samplegen.tables`` or ``samplegen.features.tabular`` cannot
    leave these copies behind unnoticed. The bound is compared on a grid.
    """
    from samplegen.features import tabular
    from samplegen.tables import RAW_EVENTS_SCHEMA

    if list(RAW_COLUMNS) != RAW_EVENTS_SCHEMA.fieldNames():
        raise SystemExit(f"RAW_COLUMNS {RAW_COLUMNS} differ from RAW_EVENTS_SCHEMA's columns")
    constants = (SHORTFALL_PROBABILITY, DRAW_GRID, MAX_DRAWS_PER_NEGATIVE)
    theirs = (tabular.SHORTFALL_PROBABILITY, tabular.DRAW_GRID, tabular.MAX_DRAWS_PER_NEGATIVE)
    if constants != theirs:
        raise SystemExit(f"draw constants {constants} differ from samplegen's {theirs}")
    for k in (1, 2, 3, 5):
        for max_share in (0.0, 0.001, 0.01, 0.05, 0.2):
            for j in range(0, DRAW_GRID + 1, 7):
                ours = draws_needed(k, j / DRAW_GRID, max_share)
                expected = tabular.draws_needed(k, j / DRAW_GRID, max_share)
                if ours != expected:
                    raise SystemExit(
                        f"draws_needed({k}, {j / DRAW_GRID}, {max_share}) = {ours} here, "
                        f"{expected} in samplegen"
                    )


def blank(column: str) -> str:
    """SQL for a null, empty, white-space or missing-value id (``validate._blank``)."""
    texts = ", ".join(f"'{t}'" for t in ("", *MISSING_ID_TEXTS))
    trimmed = rf"regexp_replace({column}, '^[\s\p{{Z}}]+|[\s\p{{Z}}]+$', '', 'g')"
    return f"({column} IS NULL OR lower({trimmed}) IN ({texts}))"


def reason_sql(event_types: list[str], latest: str) -> str:
    """SQL for the first validation rule a row breaks, in ``validate.REASONS`` order."""
    types = ", ".join(f"'{t}'" for t in event_types)
    rules = [
        (blank("user_id"), "null_or_empty_user_id"),
        (blank("item_id"), "null_or_empty_item_id"),
        (f"length(user_id) > {MAX_ID_LENGTH}", "user_id_too_long"),
        (f"length(item_id) > {MAX_ID_LENGTH}", "item_id_too_long"),
        ("event_type IS NULL OR trim(event_type) = ''", "unknown_event_type"),
        (f"event_type NOT IN ({types})", "event_type_not_weighted"),
        ("event_time IS NULL", "null_event_time"),
        (
            f"event_time < TIMESTAMP '{EARLIEST_EVENT_TIME}' OR event_time > TIMESTAMP '{latest}'",
            "event_time_out_of_range",
        ),
        ("isnan(quantity)", "nan_quantity"),
        ("isinf(quantity)", "infinite_quantity"),
        ("quantity < 0", "negative_quantity"),
        ("quantity = 0", "zero_quantity"),
        ("isnan(price)", "nan_price"),
        ("isinf(price)", "infinite_price"),
        ("price < 0", "negative_price"),
    ]
    return "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in rules) + " END"


class Duck:
    """A DuckDB connection that writes tables as Parquet under ``out`` and counts the rows."""

    def __init__(self, out: Path) -> None:
        import duckdb

        out.mkdir(parents=True)
        self.out = out
        self.con = duckdb.connect(str(out / "work.duckdb"))
        self.con.execute("SET threads = 2")
        self.con.execute("SET memory_limit = '14GB'")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute(f"SET temp_directory = '{out / 'tmp'}'")
        self.rows: dict[str, int] = {}

    def run(self, sql: str) -> None:
        """Execute one statement."""
        self.con.execute(sql)

    def value(self, sql: str) -> tuple:
        """The first row of a query."""
        return self.con.execute(sql).fetchone()

    def write(self, name: str, query: str) -> int:
        """Write ``query`` to ``<out>/<name>.parquet``; record and return its rows."""
        path = self.out / f"{name}.parquet"
        self.rows[name] = self.value(f"COPY ({query}) TO '{path}' (FORMAT PARQUET)")[0]
        return self.rows[name]

    def path(self, name: str) -> str:
        """A written table, for ``read_parquet``."""
        return str(self.out / f"{name}.parquet")


def duck_ingest(db: Duck, events: str, catalogue: str, agg: dict) -> None:
    """``ingest_events``: raw copy, catalogue, the tagged rows, clean and quarantine."""
    columns = ", ".join(RAW_COLUMNS)
    source = f"SELECT {columns} FROM read_parquet('{events}/*.parquet')"
    if agg["raw_events"]:
        db.write("raw_events", source)
        source = f"SELECT {columns} FROM read_parquet('{db.path('raw_events')}')"
    else:
        db.rows["raw_events"] = db.value(f"SELECT count(*) FROM ({source})")[0]
    db.run(
        "CREATE TABLE catalogue AS SELECT item_id, category, department, brand, title "
        f"FROM read_parquet('{catalogue}/*.parquet')"
    )
    n, n_blank, n_distinct = db.value(
        f"SELECT count(*), count(*) FILTER (WHERE {blank('item_id')}), count(DISTINCT item_id) "
        "FROM catalogue"
    )
    if n_blank or n != n_distinct:
        raise ValueError(f"catalogue: {n_blank} blank and {n - n_distinct} repeated item ids")
    db.write("catalogue", "SELECT * FROM catalogue")

    latest = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat(sep=" ")
    same = ", ".join(c for c in RAW_COLUMNS if c != "event_time")
    micros = int(NEAR_DUPLICATE_SECONDS * 1_000_000)
    db.run(f"""
        CREATE TABLE tagged AS
        WITH ruled AS (
          SELECT *, {reason_sql(list(agg["event_weights"]), latest)} AS reason FROM ({source})
        ), gaps AS (
          SELECT *, epoch_us(event_time) - epoch_us(lag(event_time) OVER (
            PARTITION BY {same}, reason ORDER BY event_time)) AS gap
          FROM ruled
        )
        SELECT {columns}, coalesce(reason, CASE WHEN gap = 0 THEN 'duplicate'
                                      WHEN gap < {micros} THEN 'near_duplicate' END) AS reason
        FROM gaps
    """)
    overlap = f"SELECT 1 FROM ({source}) WHERE item_id IN (SELECT item_id FROM catalogue)"
    if not db.value(f"SELECT EXISTS ({overlap})")[0]:
        raise ValueError("no event's item_id is in the catalogue")
    db.write("events_clean", f"SELECT {columns} FROM tagged WHERE reason IS NULL")
    db.write("events_quarantine", "SELECT * FROM tagged WHERE reason IS NOT NULL")
    if db.rows["events_clean"] + db.rows["events_quarantine"] != db.rows["raw_events"]:
        raise RuntimeError(f"row reconciliation failed: {db.rows}")
    if db.rows["events_clean"] == 0:
        raise ValueError("every event was quarantined")
    not_weighted = db.value("SELECT count(*) FROM tagged WHERE reason = 'event_type_not_weighted'")[
        0
    ]
    if not_weighted:
        db.rows["events_type_not_weighted"] = not_weighted
    db.rows["events_item_not_in_catalogue"] = db.value(
        "SELECT count(*) FROM tagged WHERE reason IS NULL "
        "AND item_id NOT IN (SELECT item_id FROM catalogue)"
    )[0]


def time_cuts(db: Duck, agg: dict) -> tuple[int, int]:
    """``temporal_cuts``: for each p, the first second with a share p of the events by then."""
    total = db.value("SELECT count(*) FROM clean")[0]
    shares = (1.0 - agg["valid_fraction"] - agg["test_fraction"], 1.0 - agg["test_fraction"])
    r1, r2 = (min(total, max(1, math.ceil(p * total - 1e-9))) for p in shares)
    return db.value(f"""
        WITH per AS (SELECT sec, count(*) AS c FROM clean GROUP BY sec),
        ends AS (SELECT sec, sum(c) OVER (ORDER BY sec) AS upto FROM per)
        SELECT min(sec) FILTER (WHERE upto >= {r1}), min(sec) FILTER (WHERE upto >= {r2}) FROM ends
    """)


def duck_split(db: Duck, agg: dict) -> dict:
    """``split_and_sum``'s split and ``decay_weights``: the ``events`` table."""
    weights = agg["event_weights"]
    w = " ".join(f"WHEN '{t}' THEN {float(v)}" for t, v in weights.items())
    rank = " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(weights))
    db.run(f"""
        CREATE VIEW clean AS
        SELECT user_id, item_id, event_type, event_time, session_id, price,
               CASE event_type {w} END AS w, CASE event_type {rank} END AS event_rank,
               epoch_us(event_time) // 1000000 AS sec
        FROM tagged WHERE reason IS NULL
    """)
    if agg["split"] != "temporal" and agg["split"] != "auto":
        raise NotImplementedError(f"aggregate.split={agg['split']} is not mirrored")
    t1, t2 = time_cuts(db, agg)
    choice = {"split": "temporal"}
    if agg["split"] == "auto":
        active, in_test = db.value(f"""
            WITH per_user AS (
              SELECT count(DISTINCT item_id) FILTER (WHERE sec < {t1}) AS train_items,
                     max((sec >= {t2})::INT) AS in_test
              FROM clean GROUP BY user_id)
            SELECT count(*), coalesce(sum(in_test), 0) FROM per_user
            WHERE train_items >= {agg["min_user_items"]}
        """)
        choice["temporal_test_share"] = in_test / active if active else 0.0
        if choice["temporal_test_share"] < agg["auto_min_test_share"]:
            raise NotImplementedError("split=auto would choose leave_last, which is not mirrored")
    half_life = agg["decay_half_life_days"]
    decayed = "w"
    if half_life > 0:
        age = f"({t1} - epoch_us(event_time) / 1e6) / 86400.0"
        decayed = f"w * pow(0.5, greatest({age}, 0.0) / {half_life})"
    db.run(f"""
        CREATE TABLE events AS
        SELECT * EXCLUDE (w, split), CASE WHEN split = 'train' THEN {decayed} ELSE w END AS w,
               split
        FROM (SELECT *, CASE WHEN sec < {t1} THEN 'train' WHEN sec < {t2} THEN 'valid'
                             ELSE 'test' END AS split FROM clean)
    """)
    return choice | {"train_until": t1}


def duck_indices(db: Duck, agg: dict) -> None:
    """Pairs, ``item_index``, per-split lists, ``user_index`` and the interaction rows."""
    db.run("""
        CREATE TABLE pairs AS
        SELECT user_id, item_id, split, sum(w) AS w, count(*) AS n_events,
               min({'t': event_time, 'r': event_rank}) AS first_event
        FROM events GROUP BY user_id, item_id, split
    """)
    db.run("""
        CREATE TABLE item_counts AS
        SELECT item_id, count(*) AS n_users FROM pairs WHERE split = 'train' GROUP BY item_id
    """)
    db.run(f"""
        CREATE TABLE items AS
        WITH vocab AS (
          SELECT item_id FROM item_counts WHERE n_users >= {agg["min_item_users"]}
          ORDER BY n_users DESC, item_id LIMIT {agg["top_n_items"]})
        SELECT item_id, (row_number() OVER (ORDER BY item_id) - 1)::INT AS item_idx,
               n_users, category
        FROM vocab JOIN item_counts USING (item_id) LEFT JOIN catalogue USING (item_id)
    """)
    db.write("item_index", "SELECT * FROM items")
    db.run(f"""
        CREATE TABLE lists AS
        SELECT user_id, split, list(item_idx ORDER BY item_idx) AS item_idx,
               list(least(w, {agg["max_weight"]})::FLOAT ORDER BY item_idx) AS weight,
               count(*) AS n_items, sum(n_events)::BIGINT AS n_events
        FROM pairs JOIN items USING (item_id) GROUP BY user_id, split
    """)
    db.run(f"""
        CREATE TABLE users AS
        SELECT user_id, (row_number() OVER (ORDER BY user_id) - 1)::INT AS user_idx,
               n_items, n_events
        FROM lists WHERE split = 'train' AND n_items >= {agg["min_user_items"]}
    """)
    db.write("user_index", "SELECT * FROM users")
    db.rows["active_users"] = db.rows["user_index"]
    if not db.rows["active_users"]:
        raise ValueError("no user survives aggregate.min_user_items / min_item_users")
    db.run("""
        CREATE TABLE inter AS
        SELECT l.split, u.user_idx, l.item_idx, l.weight, l.n_items::INT AS n_items
        FROM lists l JOIN users u USING (user_id)
    """)
    for split in ("train", "valid", "test"):
        db.write(f"interactions_{split}", f"SELECT * EXCLUDE (split) FROM inter "
                                          f"WHERE split = '{split}'")  # fmt: skip


def duck_sequences(db: Duck) -> None:
    """``sequences`` (items per split by first event, rank, index) and its tie counts."""
    empty = "[]::INT[]"
    per_split = ", ".join(
        f"coalesce(list(item_idx ORDER BY t, r, item_idx) FILTER (WHERE split = '{s}'), {empty}) "
        f"AS {s}_items"
        for s in ("train", "valid", "test")
    )
    db.write(
        "sequences",
        f"""
        WITH entries AS (
          SELECT user_id, split, item_idx, first_event.t AS t, first_event.r AS r
          FROM pairs JOIN items USING (item_id)
        ), tied AS (
          SELECT *, coalesce(t = lag(t) OVER (PARTITION BY user_id, split
                                              ORDER BY t, r, item_idx), false) AS tie
          FROM entries
        ), per_user AS (
          SELECT user_id, {per_split}, count(*) FILTER (WHERE tie)::INT AS n_ties
          FROM tied GROUP BY user_id
        )
        SELECT user_idx, train_items, valid_items, test_items, n_ties
        FROM per_user JOIN users USING (user_id)
        """,
    )
    users, items = db.value(
        f"SELECT count(*) FILTER (WHERE n_ties > 0), coalesce(sum(n_ties), 0) "
        f"FROM read_parquet('{db.path('sequences')}')"
    )
    db.rows["sequence_users_with_ties"], db.rows["sequence_tied_items"] = users, int(items)


def duck_new_items(db: Duck) -> None:
    """``valid_new_items`` and ``test_new_items``: pairs on catalogue items unseen in train."""
    db.run("CREATE TABLE seen AS SELECT DISTINCT item_id FROM events WHERE split = 'train'")
    for split in ("valid", "test"):
        db.write(
            f"{split}_new_items",
            f"""
            SELECT DISTINCT user_idx, item_id FROM events JOIN users USING (user_id)
            WHERE split = '{split}' AND item_id IN (SELECT item_id FROM catalogue)
              AND item_id NOT IN (SELECT item_id FROM seen)
            """,
        )


def duck_features(db: Duck, train_until: int) -> None:
    """``user_features`` and ``item_features`` from the train events of indexed ids."""
    db.run("""
        CREATE TABLE indexed AS
        SELECT user_id, item_id, user_idx, item_idx, category, split, event_type, event_time,
               session_id, price, (event_type = 'purchase')::INT AS purchase
        FROM events JOIN users USING (user_id) JOIN items USING (item_id)
    """)
    db.run(f"""
        CREATE TABLE user_feats AS
        WITH train AS (SELECT * FROM indexed WHERE split = 'train'),
        totals AS (
          SELECT user_id, user_idx, count(*) AS n_events, count(DISTINCT item_idx) AS n_items,
                 sum(purchase)::BIGINT AS n_purchases, count(DISTINCT session_id) AS n_sessions,
                 min(event_time) AS first_event_time, max(event_time) AS last_event_time,
                 avg(price) AS mean_price, count(DISTINCT category)::INT AS category_count
          FROM train GROUP BY user_id, user_idx
        ), per_category AS (
          SELECT user_idx, category, count(*) AS n FROM train WHERE category IS NOT NULL
          GROUP BY user_idx, category
        ), top AS (
          SELECT user_idx, first(category ORDER BY n DESC, category) AS top_category
          FROM per_category GROUP BY user_idx
        )
        SELECT user_id, user_idx, n_events, n_items, n_purchases, n_sessions, first_event_time,
               last_event_time,
               ({train_until} - epoch_us(last_event_time) / 1e6) / 86400.0 AS days_since_last,
               mean_price, top_category, category_count
        FROM totals LEFT JOIN top USING (user_idx)
    """)
    db.write("user_features", "SELECT * FROM user_feats")
    db.run("""
        CREATE TABLE item_feats AS
        WITH stats AS (
          SELECT item_id, count(DISTINCT user_id) AS n_users, count(*) AS n_events,
                 sum((event_type = 'purchase')::INT)::BIGINT AS n_purchases,
                 avg(price) AS mean_price, min(price) AS min_price, max(price) AS max_price,
                 min(event_time) AS first_event_time
          FROM events WHERE split = 'train' AND item_id IN (SELECT item_id FROM items)
          GROUP BY item_id
        )
        SELECT i.item_id, i.item_idx, coalesce(s.n_users, 0) AS n_users,
               coalesce(s.n_events, 0) AS n_events, coalesce(s.n_purchases, 0) AS n_purchases,
               CASE WHEN s.n_events > 0 THEN s.n_purchases / s.n_events END AS purchase_rate,
               s.mean_price, s.min_price, s.max_price, s.first_event_time,
               c.category, c.department, c.brand, c.title, NULL::FLOAT[] AS text_embedding
        FROM items i LEFT JOIN stats s USING (item_id) LEFT JOIN catalogue c USING (item_id)
    """)
    db.write("item_features", "SELECT * FROM item_feats")


def duck_negatives(db: Duck, per_positive: int, seed: int) -> None:
    """``sample_negatives``: the ``negatives`` table (see the module docstring)."""
    db.run("""
        CREATE TABLE tickets AS
        SELECT item_id, item_idx, n_users,
               sum(n_users) OVER (ORDER BY item_idx ROWS UNBOUNDED PRECEDING)::BIGINT AS hi
        FROM item_feats WHERE n_users > 0
    """)
    total, n_items, most = db.value("SELECT sum(n_users), count(*), max(n_users) FROM tickets")
    total = int(total or 0)
    columns = "user_id, item_id, user_idx, item_idx, split, event_time"
    if per_positive == 0 or total == 0:
        db.run(f"CREATE TABLE negatives AS SELECT {columns} FROM real WHERE false")
        return
    width = max(1, -(-total // max(int(n_items), 1)))
    max_share = int(most) / total
    table = [draws_needed(per_positive, j / DRAW_GRID, max_share) for j in range(DRAW_GRID + 1)]
    db.run(f"""
        CREATE TABLE buckets AS
        SELECT unnest(range((hi - n_users) // {width}, (hi - 1) // {width} + 1)) AS bucket,
               hi - n_users AS lo, hi, item_id, item_idx
        FROM tickets
    """)
    db.run(f"""
        CREATE TABLE negatives AS
        WITH blocked AS (
          SELECT user_idx, split, sum(n_users) AS blocked
          FROM real JOIN tickets USING (item_idx) GROUP BY user_idx, split
        ), per_user AS (
          SELECT user_idx, split,
                 {table}[floor(({total} - blocked) * {DRAW_GRID} / {total})::INT + 1] AS draws
          FROM blocked
        ), draws AS (
          SELECT user_id, user_idx, split, event_time, item_idx AS positive_idx,
                 unnest(range(draws::BIGINT)) AS draw
          FROM real JOIN per_user USING (user_idx, split) WHERE label = 1 AND draws > 0
        ), drawn AS (
          SELECT *, (hash({seed}, user_idx, split, positive_idx, draw)
                     % {total}::UBIGINT)::BIGINT AS ticket
          FROM draws
        ), candidates AS (
          SELECT d.user_idx, d.split, d.positive_idx, d.user_id, d.event_time, b.item_id,
                 b.item_idx, min(d.draw) AS draw
          FROM drawn d JOIN buckets b
            ON b.bucket = d.ticket // {width} AND d.ticket >= b.lo AND d.ticket < b.hi
          WHERE NOT EXISTS (SELECT 1 FROM real r WHERE r.user_idx = d.user_idx
                            AND r.split = d.split AND r.item_idx = b.item_idx)
          GROUP BY ALL
        )
        SELECT {columns} FROM candidates
        QUALIFY row_number() OVER (PARTITION BY user_idx, split, positive_idx
                                   ORDER BY draw) <= {per_positive}
    """)


def duck_samples_ctr(db: Duck, agg: dict) -> None:
    """``samples_ctr``: real rows plus sampled negatives, with item and user features."""
    db.run("""
        CREATE TABLE real AS
        SELECT user_id, item_id, user_idx, item_idx, split, max(purchase) AS label,
               max(event_time) AS event_time
        FROM indexed GROUP BY user_id, item_id, user_idx, item_idx, split
    """)
    duck_negatives(db, agg["ctr_negatives_per_positive"], agg["ctr_seed"])
    db.write(
        "samples_ctr",
        """
        WITH all_rows AS (
          SELECT user_id, item_id, user_idx, item_idx, split, event_time, label,
                 'interaction' AS source FROM real
          UNION ALL
          SELECT user_id, item_id, user_idx, item_idx, split, event_time, 0,
                 'sampled_negative' FROM negatives
        )
        SELECT a.user_id, a.item_id, a.user_idx, a.item_idx, a.split, a.event_time, a.label,
               a.source, NULL::VARCHAR AS query, f.category, f.department, f.brand,
               f.mean_price AS price, u.n_events AS user_events,
               u.days_since_last AS user_days_since_last, f.n_users AS item_users,
               f.purchase_rate AS item_purchase_rate
        FROM all_rows a LEFT JOIN item_feats f ON f.item_idx = a.item_idx
        LEFT JOIN user_feats u ON u.user_idx = a.user_idx
        """,
    )


def duck_training_view(db: Duck, max_items: int) -> None:
    """``training_view``, approximately: train rows capped at the ``max_items`` heaviest."""
    db.write(
        "training_view",
        f"""
        SELECT user_idx, n_items, item_idx, weight FROM inter
        WHERE split = 'train' AND n_items <= {max_items}
        UNION ALL
        SELECT user_idx, count(*)::INT, list(item ORDER BY item), list(w ORDER BY item)
        FROM (
          SELECT *, row_number() OVER (PARTITION BY user_idx ORDER BY w DESC, item) AS rank
          FROM (SELECT user_idx, unnest(item_idx) AS item, unnest(weight) AS w FROM inter
                WHERE split = 'train' AND n_items > {max_items})
        ) WHERE rank <= {max_items} GROUP BY user_idx
        """,
    )


def duckdb_child(events: str, catalogue: str, out: str, agg: dict) -> dict:
    """Run the whole stage in DuckDB; return its seconds, rows and output breakdowns."""
    shutil.rmtree(out, ignore_errors=True)
    db = Duck(Path(out))
    phases: dict[str, float] = {}
    split: dict = {}
    start = clock = time.perf_counter()
    steps = {
        "ingest": lambda: duck_ingest(db, events, catalogue, agg),
        "split": lambda: split.update(duck_split(db, agg)),
        "indices": lambda: duck_indices(db, agg),
        "sequences": lambda: duck_sequences(db),
        "new_items": lambda: duck_new_items(db),
        "features": lambda: duck_features(db, split["train_until"]),
        "samples_ctr": lambda: duck_samples_ctr(db, agg),
        "training_view": lambda: duck_training_view(db, agg["max_items_per_user"]),
    }
    for name, step in steps.items():
        step()
        now = time.perf_counter()
        phases[f"{name}_s"], clock = now - clock, now
    seconds = time.perf_counter() - start
    reasons = db.con.execute(
        f"SELECT reason, count(*) FROM read_parquet('{db.path('events_quarantine')}') GROUP BY 1"
    ).fetchall()
    sources = db.con.execute(
        f"SELECT source, count(*) FROM read_parquet('{db.path('samples_ctr')}') GROUP BY 1"
    ).fetchall()
    db.con.close()
    os.remove(Path(out) / "work.duckdb")
    return {
        "seconds": seconds,
        "rows": db.rows,
        "phases": phases,
        "split": split,
        "quarantine_reasons": dict(reasons),
        "samples_ctr_sources": dict(sources),
    }


# --- The report ----------------------------------------------------------------------------------


def side_by_side(spark: dict, duck: dict) -> dict:
    """Row counts of both engines per output (``COMPARED``), and of the breakdowns."""
    rows = {k: [spark["rows"].get(k), duck["rows"].get(k)] for k in COMPARED}
    for key in ("quarantine_reasons", "samples_ctr_sources"):
        for name in sorted(set(spark[key]) | set(duck[key])):
            rows[f"{key.removesuffix('s')}/{name}"] = [spark[key].get(name), duck[key].get(name)]
    return rows


def print_summary(results: list[dict]) -> None:
    """The per-size table of seconds, peaks and ratio, then the row counts."""
    print(f"\n{'events':>12} {'samplegen s':>11} {'GiB':>5} {'duckdb s':>9} {'GiB':>5} "
          f"{'ratio':>6}")  # fmt: skip
    for r in results:
        s, d = r["samplegen"], r["duckdb"]
        print(
            f"{r['events']:>12,} {s['seconds']:>11.1f} {s['peak_gib']:>5.2f} "
            f"{d['seconds']:>9.1f} {d['peak_gib']:>5.2f} {r['ratio']:>6.2f}"
        )
    for r in results:
        print(f"\nrows at {r['events']:,} events: {'samplegen':>12} {'duckdb':>12}")
        for name, (a, b) in r["rows"].items():
            print(
                f"  {name:<40} {a if a is not None else '-':>12} {b if b is not None else '-':>12}"
            )


def run_size(args: argparse.Namespace, n: int) -> dict:
    """Prepare the log of ``n`` events, run both engines, and return the size's report row."""
    from samplegen.config import load_config

    work = Path(args.work)
    whale = args.whale if n >= 10**7 else 0
    events, catalogue, sim = prepared_log(work, n, whale, args.dirty)
    sets = stage_overrides(work, events, catalogue, n) + args.set
    agg = asdict(load_config(None, sets).aggregate)
    row = {
        "target_events": n,
        "events": sim["events"] + sim["dirty_rows"],
        "whale_events": sim.get("whale_events", 0),
        "dirty_rows": sim["dirty_rows"],
        "overrides": sets,
    }
    for path in (work / f"stage1_lake_{n}", work / f"stage1_reports_{n}"):
        shutil.rmtree(path, ignore_errors=True)  # a new lakehouse: no earlier indices to keep
    row["samplegen"] = measured(__file__, ["samplegen", f"stage1-{n}", json.dumps(sets)])
    out = str(work / f"stage1_duckdb_{n}")
    row["duckdb"] = measured(__file__, ["duckdb", str(events), str(catalogue), out,
                                        json.dumps(agg)])  # fmt: skip
    row["ratio"] = row["samplegen"]["seconds"] / row["duckdb"]["seconds"]
    row["rows"] = side_by_side(row["samplegen"], row["duckdb"])
    for engine in ("samplegen", "duckdb"):
        got = row[engine]
        print(f"{n:>12,} {engine:<9} {got['seconds']:8.1f} s  {got['peak_gib']:5.2f} GiB",
              flush=True)  # fmt: skip
    return row


def child(rest: list[str]) -> dict:
    """Dispatch ``--child NAME ARGS`` to the function that runs in the measured process."""
    name, *args = rest
    if name == "simulate":
        return simulate_child(args[0], int(args[1]), int(args[2]))
    if name == "dirty":
        return dirty_child(args[0], args[1], float(args[2]))
    if name == "samplegen":
        return samplegen_child(args[0], json.loads(args[1]))
    return duckdb_child(args[0], args[1], args[2], json.loads(args[3]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 1e8])
    parser.add_argument("--work", default=str(HERE / "work"), help="logs, lakehouse, outputs")
    parser.add_argument(
        "--whale", type=int, default=1_000_000, help="views of one user added from 1e7 events on"
    )
    parser.add_argument(
        "--dirty", type=float, default=0.001, help="share of damaged rows added (0: none)"
    )
    parser.add_argument("--set", action="append", default=[], help="extra config override")
    parser.add_argument("--out", default=str(HERE / "results" / "stage1_vs_duckdb.json"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child), default=str))
        return
    check_copies_of_samplegen()
    results = []
    for size in args.sizes:
        results.append(run_size(args, int(size)))
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    print_summary(results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

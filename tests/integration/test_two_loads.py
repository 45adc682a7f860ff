"""Index stability through the whole aggregate stage: two loads of a growing log.

A simulated log is loaded twice into one lakehouse by :func:`run_aggregate`, first its first
60% (by time), then all of it, as a scheduled job sees a log that keeps growing. Ids of the
first load must keep their indices, new ids must be numbered after them, and the second
load's interaction rows must decode, through the kept indices, to the users' own train items.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from samplegen.data.simulate import SimulationSpec, write_simulation
from samplegen.features import run_aggregate
from samplegen.tables import (
    EVENTS_CLEAN,
    INTERACTIONS,
    ITEM_INDEX,
    SAMPLES_CTR,
    USER_INDEX,
    read_table,
)
from tests.conftest import small_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SPEC = SimulationSpec(n_events=20_000, n_items=400, n_categories=8)
WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0}


def _index(spark, lake: str, table, id_col: str, idx_col: str) -> dict[str, int]:
    return {r[id_col]: r[idx_col] for r in read_table(spark, lake, table).collect()}


@pytest.fixture(scope="module")
def loads(spark, tmp_path_factory) -> dict:
    """Indices after each load, and the second load's lakehouse and cuts."""
    root = tmp_path_factory.mktemp("two_loads")
    write_simulation(spark, SPEC, str(root / "log"))
    events = spark.read.parquet(str(root / "log" / "events"))
    first_until = events.select(F.percentile_approx("event_time", 0.6)).first()[0]
    events.where(F.col("event_time") < first_until).write.parquet(str(root / "first"))

    def aggregate(events_path: Path, run_id: str, extra: list[str]) -> dict:
        cfg = small_config(
            root,
            [
                "data.source=files",
                "data.max_users=null",
                f"data.events_path={events_path}",
                f"data.catalogue_path={root / 'log' / 'catalogue'}",
                "data.catalogue_format=parquet",
                f"aggregate.event_weights={json.dumps(WEIGHTS)}",
                "aggregate.min_item_users=3",
                "aggregate.top_n_items=300",
                "aggregate.ctr_negatives_per_positive=0",
                *extra,
            ],
        )
        result = run_aggregate(spark, cfg, run_id)
        lake = cfg.lakehouse
        return {
            "users": _index(spark, lake, USER_INDEX, "user_id", "user_idx"),
            "items": _index(spark, lake, ITEM_INDEX, "item_id", "item_idx"),
            "lake": lake,
            "train_until": result.metrics["train_until"],
            "samples_ctr": (result.rows[SAMPLES_CTR.name], read_table(spark, lake, SAMPLES_CTR)),
        }

    first = aggregate(root / "first", "load-1", [])
    # the second load skips samples_ctr: the first load's rows must not outlive its indices
    second = aggregate(root / "log" / "events", "load-2", ["aggregate.samples_ctr=false"])
    return {"first": first, "second": second}


@pytest.mark.parametrize("kind", ["users", "items"])
def test_known_ids_keep_their_index_and_new_ids_follow(loads, kind):
    before, after = loads["first"][kind], loads["second"][kind]
    assert {i: after.get(i) for i in before} == before
    new = sorted(set(after) - set(before))
    assert new, f"the second load brought no new {kind}; the test would prove nothing"
    assert sorted(after[i] for i in new) == list(range(len(before), len(after)))
    assert [after[i] for i in new] == sorted(after[i] for i in new)  # numbered in id order


def test_second_loads_rows_decode_to_the_users_own_train_items(spark, loads):
    second = loads["second"]
    lake, users, items = second["lake"], second["users"], second["items"]
    id_of_user = {idx: uid for uid, idx in users.items()}
    id_of_item = {idx: iid for iid, idx in items.items()}
    rows = read_table(spark, lake, INTERACTIONS["train"]).toPandas()
    decoded = {
        (id_of_user[u], id_of_item[int(i)])
        for u, item_idx in zip(rows["user_idx"], rows["item_idx"], strict=True)
        for i in item_idx
    }
    active = {id_of_user[u] for u in rows["user_idx"]}
    train_until = pd.Timestamp(second["train_until"]).to_pydatetime()
    clean = read_table(spark, lake, EVENTS_CLEAN).where(F.col("event_time") < train_until)
    own = {
        (r.user_id, r.item_id)
        for r in clean.select("user_id", "item_id").distinct().collect()
        if r.user_id in active and r.item_id in items
    }
    assert len(rows) > 100
    assert decoded == own


def test_a_load_without_samples_ctr_empties_the_previous_loads_rows(loads):
    first_written, _ = loads["first"]["samples_ctr"]
    second_written, table = loads["second"]["samples_ctr"]
    assert first_written > 0
    assert second_written == 0 and table.isEmpty()

"""``data.source: files``: a user's own log and catalogue in CSV, Parquet or Delta."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from samplegen.config import ConfigError, DataConfig, load_config
from samplegen.data import sources
from samplegen.data.validate import check_columns, split_clean_quarantine
from samplegen.tables import CATALOGUE, RAW_EVENTS_SCHEMA

pytestmark = pytest.mark.spark

EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0}
COLUMNS = {
    "user_id": "customer",
    "item_id": "sku",
    "event_type": "action",
    "event_time": "ts",
    "quantity": "qty",
}
EVENT_TYPES = {"add_to_cart": "cart", "order": "purchase"}
ACTIONS = ["view", "click", "add_to_cart", "order"]
# 20 rows in the user's own vocabulary, plus an extra column ("channel") the schema drops.
ROWS = [
    (f"c{i % 5}", f"sku{i % 7}", ACTIONS[i % 4], f"2024-03-01 10:{i:02d}:00", "1", "web")
    for i in range(18)
] + [
    ("c9", "sku1", "view", "not a time", "1", "app"),  # unparseable timestamp
    ("c9", "sku2", "refund", "2024-03-02 09:00:00", "1", "app"),  # unknown event type
]
THEIR_SCHEMA = "customer string, sku string, action string, ts string, qty string, channel string"


def data_config(**data) -> DataConfig:
    """A validated ``data`` section built through ``load_config`` overrides."""
    overrides = [f"data.{key}={json.dumps(value)}" for key, value in data.items()]
    return load_config(None, overrides).data


def write_events(spark, root: Path, fmt: str) -> str:
    df = spark.createDataFrame(ROWS, THEIR_SCHEMA)
    if fmt == "delta":  # typed columns: unix seconds and a double quantity
        df = df.withColumn("ts", F.unix_timestamp(F.try_to_timestamp("ts"))).withColumn(
            "qty", F.col("qty").cast("double")
        )
    elif fmt == "parquet":  # a real timestamp type, quantity stays a string
        df = df.withColumn("ts", F.try_to_timestamp("ts"))
    path = str(root / f"events_{fmt}")
    writer = df.coalesce(1).write.format(fmt).mode("overwrite")
    if fmt == "csv":
        writer = writer.option("header", "true")
    writer.save(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "delta"])
def test_own_log_is_mapped_cast_and_reconciled(spark, tmp_path, fmt):
    path = write_events(spark, tmp_path, fmt)
    data_cfg = data_config(
        source="files",
        events_path=path,
        events_format=fmt,
        columns=COLUMNS,
        event_types=EVENT_TYPES,
    )
    raw = sources.load_events(spark, data_cfg)
    check_columns(raw, source="files")
    assert [(f.name, f.dataType) for f in raw.schema.fields] == [
        (f.name, f.dataType) for f in RAW_EVENTS_SCHEMA.fields
    ]
    rows = raw.withColumn("t", F.date_format("event_time", "yyyy-MM-dd HH:mm:ss")).collect()
    assert len(rows) == len(ROWS)
    assert {r.event_type for r in rows} == {"view", "click", "cart", "purchase", "refund"}
    first = next(r for r in rows if r.user_id == "c0" and r.item_id == "sku0")
    assert (first.event_type, first.t, first.quantity) == ("view", "2024-03-01 10:00:00", 1.0)
    assert all(r.session_id is None and r.price is None and r.store_id is None for r in rows)
    assert [r.event_time for r in rows if r.user_id == "c9" and r.event_type == "view"] == [None]

    clean, quarantine = split_clean_quarantine(raw, EVENT_WEIGHTS)
    # One job for both outputs (Spark reuses the shared shuffle): reason -> rows.
    both = clean.withColumn("reason", F.lit(None).cast("string")).unionByName(quarantine)
    counts = {r.reason: r["count"] for r in both.groupBy("reason").count().collect()}
    assert counts == {None: len(ROWS) - 2, "null_event_time": 1, "event_type_not_weighted": 1}


def test_unparseable_quantity_is_quarantined_not_lost(spark, tmp_path):
    path = str(tmp_path / "qty.csv")
    rows = [("u1", "i1", "view", "2024-01-01 00:00:00", q) for q in ["2", "", "lots"]]
    spark.createDataFrame(
        rows,
        "user_id string, item_id string, event_type string, " "event_time string, quantity string",
    ).write.csv(path, header=True)
    raw = sources.load_events(
        spark, data_config(source="files", events_path=path, events_format="csv")
    )
    clean, quarantine = split_clean_quarantine(raw, EVENT_WEIGHTS)
    assert sorted(str(r.quantity) for r in clean.collect()) == ["2.0", "None"]
    assert [r.reason for r in quarantine.collect()] == ["nan_quantity"]


def test_max_users_keeps_the_first_users_by_id(spark, tmp_path):
    path = write_events(spark, tmp_path, "parquet")
    data_cfg = data_config(source="files", events_path=path, columns=COLUMNS, max_users=2)
    users = {r.user_id for r in sources.load_events(spark, data_cfg).collect()}
    assert users == {"c0", "c1"}


def test_missing_required_column_names_the_config_key(spark, tmp_path):
    path = write_events(spark, tmp_path, "parquet")
    data_cfg = data_config(source="files", events_path=path, columns={"item_id": "sku"})
    with pytest.raises(ValueError, match=r"data\.columns\.user_id") as err:
        sources.load_events(spark, data_cfg)
    assert "customer, sku, action" in str(err.value)


def test_uncastable_type_names_the_column_and_type(spark, tmp_path):
    path = str(tmp_path / "nested")
    spark.sql(
        "SELECT 'u' AS user_id, 'i' AS item_id, 'view' AS event_type, "
        "named_struct('at', current_timestamp()) AS event_time"
    ).write.parquet(path)
    with pytest.raises(ValueError, match=r"'event_time'.*struct<at:timestamp>"):
        sources.load_events(spark, data_config(source="files", events_path=path))


def test_catalogue_is_mapped_and_optional(spark, tmp_path):
    path = str(tmp_path / "catalogue.csv")
    spark.createDataFrame(
        [("sku1", "Dairy", "Milk 1l", "0.99"), ("sku2", "Bakery", "Bread", "2.10")],
        "sku string, aisle string, name string, price string",
    ).coalesce(1).write.csv(path, header=True)
    data_cfg = data_config(
        source="files",
        events_path="unused",
        catalogue_path=path,
        catalogue_format="csv",
        catalogue_columns={"item_id": "sku", "category": "aisle", "title": "name"},
    )
    catalogue = sources.load_catalogue(spark, data_cfg)
    assert catalogue.columns == CATALOGUE.schema.fieldNames()
    rows = sorted(catalogue.collect())
    assert [(r.item_id, r.category, r.title, r.brand) for r in rows] == [
        ("sku1", "Dairy", "Milk 1l", None),
        ("sku2", "Bakery", "Bread", None),
    ]
    empty = sources.load_catalogue(spark, data_config(source="files", events_path="unused"))
    assert empty.schema == CATALOGUE.schema
    assert empty.count() == 0


def test_files_source_needs_an_events_path():
    with pytest.raises(ConfigError, match=r"data\.events_path"):
        load_config(None, ["data.source=files"])


def test_unknown_format_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.events_format.*delta, parquet, csv"):
        load_config(None, ["data.source=files", "data.events_path=x", "data.events_format=json"])

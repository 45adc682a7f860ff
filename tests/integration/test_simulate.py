"""The Spark event-log simulator: its distributions, schema, determinism and writers.

One moderate log (200k events, 5k items) is simulated once and summarised into small pandas
frames; every distribution test asserts on those summaries with a stated tolerance.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import yaml
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.cli import main
from samplegen.data.simulate import (
    SimulationSpec,
    item_release_times,
    simulate_catalogue,
    simulate_events,
    write_simulation,
)
from samplegen.tables import CATALOGUE, RAW_EVENTS_SCHEMA

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SPEC = SimulationSpec(n_events=200_000, n_items=5_000)
SMALL = SimulationSpec(n_events=5_000, n_items=500, n_categories=10)


def _micros(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) * 1_000_000


def _funnel_out_of_order(events: DataFrame) -> int:
    """Events not strictly after the previous one of their session, and carts (purchases) not
    right after a view (cart) of the same item."""
    window = Window.partitionBy("session_id").orderBy("event_time")
    cols = ("event_type", "item_id", "event_time")
    prev = events.select("*", *[F.lag(c).over(window).alias(f"prev_{c}") for c in cols])
    wrong_step = F.lit(False)
    for later, earlier in {"cart": "view", "purchase": "cart"}.items():
        after = F.col("prev_event_type").eqNullSafe(earlier) & F.col("prev_item_id").eqNullSafe(
            F.col("item_id")
        )
        wrong_step = wrong_step | ((F.col("event_type") == later) & ~after)
    return prev.where(wrong_step | (F.col("prev_event_time") >= F.col("event_time"))).count()


@pytest.fixture(scope="module")
def summary(spark) -> dict:
    """Per-user, per-item and per-(user, category) counts plus whole-log checks, collected once."""
    events = simulate_events(spark, SPEC).cache()
    catalogue = simulate_catalogue(spark, SPEC)
    releases = item_release_times(spark, SPEC)
    per_user = (
        events.groupBy("user_id")
        .agg(
            F.count("*").alias("events"),
            F.countDistinct("session_id").alias("sessions"),
        )
        .toPandas()
    )
    views = events.where("event_type = 'view'")
    per_item = (
        views.groupBy("item_id")
        .count()
        .join(releases.drop("release_time"), "item_id", "right")
        .toPandas()
        .fillna(0)
    )
    per_item["rank"] = per_item["item_id"].str[1:].astype(int) + 1
    user_category = (
        views.join(catalogue.select("item_id", "category"), "item_id")
        .groupBy("user_id", "category")
        .count()
        .toPandas()
    )
    items = catalogue.join(releases, "item_id")
    checks = (
        events.join(items, "item_id", "left")
        .agg(
            F.count("*").alias("n"),
            F.count_if(F.col("category").isNull()).alias("orphans"),
            F.count_if(F.col("event_time") < F.col("release_time")).alias("before_release"),
            F.countDistinct(F.when(F.col("is_new"), F.col("item_id"))).alias("new_items_seen"),
            F.min(F.unix_micros("event_time")).alias("first_us"),
            F.max(F.unix_micros("event_time")).alias("last_us"),
            F.min("price").alias("min_price"),
            *[F.count_if(F.col("event_type") == t).alias(t) for t in ("view", "cart", "purchase")],
        )
        .first()
        .asDict()
    )
    checks["funnel_out_of_order"] = _funnel_out_of_order(events)
    events.unpersist()
    return {
        "per_user": per_user,
        "per_item": per_item,
        "user_category": user_category,
        "checks": checks,
        "schema": events.schema,
        "catalogue_schema": catalogue.schema,
    }


def test_event_count_near_target(summary):
    n = summary["checks"]["n"]
    print(f"events: {n} for a target of {SPEC.n_events} ({n / SPEC.n_events - 1:+.1%})")
    assert abs(n / SPEC.n_events - 1) < 0.10


def test_schema_times_prices_and_catalogue(summary):
    assert summary["schema"] == RAW_EVENTS_SCHEMA
    assert summary["catalogue_schema"] == CATALOGUE.schema
    checks = summary["checks"]
    start = datetime.fromisoformat(SPEC.start)
    assert checks["first_us"] >= _micros(start)
    assert checks["last_us"] < _micros(start + timedelta(days=SPEC.days))
    assert checks["min_price"] > 0
    assert checks["funnel_out_of_order"] == 0
    assert checks["view"] + checks["cart"] + checks["purchase"] == checks["n"]
    assert checks["orphans"] == 0


def test_item_popularity_is_zipf(summary):
    # Items that exist from the start: new items lose the views drawn before their release.
    head = summary["per_item"].query("rank <= 500 and not is_new")
    slope = np.polyfit(np.log(head["rank"]), np.log(head["count"]), 1)[0]
    print(f"popularity slope over ranks 1..500: {slope:.3f}")
    assert abs(slope + SPEC.item_zipf_exponent) < 0.25


def test_activity_is_heavy_tailed_with_cold_users(summary):
    per_user = summary["per_user"]
    p50, p99 = np.percentile(per_user["events"], [50, 99])
    cold = (per_user["sessions"] == 1).mean()
    print(
        f"users {len(per_user)}, events per user p50 {p50:.0f} p99 {p99:.0f} "
        f"max {per_user['events'].max()}, single-session share {cold:.3f}"
    )
    assert p99 / p50 > 10
    assert per_user["events"].max() > 50 * p50
    assert abs(cold - SPEC.cold_user_share) < 0.03


def test_funnel_rates(summary):
    types = summary["checks"]
    cart_rate = types["cart"] / types["view"]
    purchase_rate = types["purchase"] / types["cart"]
    print(f"carts/views {cart_rate:.4f}, purchases/carts {purchase_rate:.4f}")
    assert abs(cart_rate - SPEC.cart_rate) < 0.02
    assert abs(purchase_rate - SPEC.purchase_rate) < 0.04


def test_users_stick_to_a_home_category(summary):
    counts = summary["user_category"]
    by_user = counts.groupby("user_id")["count"]
    shares = (by_user.max() / by_user.sum())[by_user.sum() >= 20]
    print(f"modal-category share of users with >= 20 views: {shares.mean():.3f} ({len(shares)})")
    assert len(shares) > 100
    assert abs(shares.mean() - SPEC.home_category_prob) < 0.1


def test_new_items_appear_only_after_release(summary):
    checks = summary["checks"]
    assert checks["before_release"] == 0
    new_items = summary["per_item"]["is_new"].sum()
    print(f"new items with events: {checks['new_items_seen']} of {new_items}")
    assert checks["new_items_seen"] > new_items / 4


def test_same_spec_same_rows_whatever_the_partitions(spark):
    def rows(**changes) -> list:
        return sorted(simulate_events(spark, replace(SMALL, **changes)).collect())

    one = rows(partitions=1)
    assert len(one) > 0
    assert one == rows(partitions=4)
    assert one != rows(partitions=4, seed=SMALL.seed + 1)


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_write_simulation_counts_match_files(spark, tmp_path, fmt):
    counts = write_simulation(spark, SMALL, str(tmp_path), fmt=fmt)
    assert counts == {"events": simulate_events(spark, SMALL).count(), "catalogue": SMALL.n_items}
    for name, n in counts.items():
        assert spark.read.format(fmt).load(str(tmp_path / name)).count() == n
    events = spark.read.format(fmt).load(str(tmp_path / "events"))
    assert events.schema.names == RAW_EVENTS_SCHEMA.names


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_events", 0),
        ("cart_rate", 1.5),
        ("purchase_rate", -0.1),
        ("item_zipf_exponent", 0.0),
        ("activity_pareto_shape", -1.0),
        ("mean_session_views", 0.5),
        ("days", 0),
        ("partitions", 0),
        ("start", "yesterday"),
    ],
)
def test_spec_rejects_impossible_values(field, value):
    with pytest.raises(ValueError, match=field):
        SimulationSpec(**{field: value})


def test_write_simulation_rejects_unknown_format(spark, tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        write_simulation(spark, SMALL, str(tmp_path), fmt="csv")


def test_simulate_command_writes_events_a_run_can_read(spark, cfg, tmp_path, capsys):
    conf = tmp_path / "active.yaml"
    conf.write_text(yaml.safe_dump(cfg.to_dict() | {"spark": {"master": "active"}}))
    out = tmp_path / "sim"
    args = ["--events", "3000", "--items", "300", "--categories", "6", "--seed", "3"]
    assert main(["simulate", "--conf", str(conf), "--out", str(out), *args]) == 0
    assert f"wrote {out}: events " in capsys.readouterr().out
    spec = SimulationSpec(n_events=3000, n_items=300, n_categories=6, seed=3)
    written = sorted(spark.read.parquet(str(out / "events")).collect())
    assert written == sorted(simulate_events(spark, spec).collect())

import numpy as np
import pytest
import yaml
from pyspark.sql import functions as F

from samplegen.cli import main
from samplegen.features.interactions import split_by_time, unpack_items
from samplegen.tables import (
    DATA_PROFILE,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    INTERACTIONS,
    ITEM_INDEX,
    RAW_EVENTS,
    TRAINING_VIEW,
    USER_INDEX,
    read_table,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def count(spark, cfg, table):
    return read_table(spark, cfg.lakehouse, table).count()


def test_rows_reconcile(spark, cfg, pipeline_run):
    raw = count(spark, cfg, RAW_EVENTS)
    assert raw > 10_000
    assert raw == count(spark, cfg, EVENTS_CLEAN) + count(spark, cfg, EVENTS_QUARANTINE)
    reasons = {r.reason for r in read_table(spark, cfg.lakehouse, EVENTS_QUARANTINE).collect()}
    assert "zero_quantity" in reasons  # completejourney has zero-quantity lines


def test_indices_are_dense_and_unique(spark, cfg, pipeline_run):
    for table, column in ((USER_INDEX, "user_idx"), (ITEM_INDEX, "item_idx")):
        values = sorted(
            r[0] for r in read_table(spark, cfg.lakehouse, table).select(column).collect()
        )
        assert values == list(range(len(values)))
    assert count(spark, cfg, ITEM_INDEX) <= cfg.aggregate.top_n_items


def test_split_is_temporal(spark, cfg, pipeline_run):
    events = read_table(spark, cfg.lakehouse, EVENTS_CLEAN)
    split, cuts = split_by_time(events, cfg.aggregate.valid_fraction, cfg.aggregate.test_fraction)
    bounds = {
        r.split: (r.lo, r.hi)
        for r in split.groupBy("split")
        .agg(F.min("event_time").alias("lo"), F.max("event_time").alias("hi"))
        .collect()
    }
    assert bounds["train"][1] < bounds["valid"][0]
    assert bounds["valid"][1] < bounds["test"][0]
    assert cuts["valid_from"] < cuts["test_from"]


def test_interaction_rows_are_sorted_and_within_vocabulary(spark, cfg, pipeline_run):
    n_items = count(spark, cfg, ITEM_INDEX)
    for table in INTERACTIONS.values():
        for row in read_table(spark, cfg.lakehouse, table).collect():
            items = np.asarray(row.item_idx)
            assert len(items) == len(row.weight) == row.n_items > 0
            assert np.all(np.diff(items) > 0)
            assert items.min() >= 0 and items.max() < n_items
            assert all(0 < w <= cfg.aggregate.max_weight for w in row.weight)


def test_training_view_matches_train_rows(spark, cfg, pipeline_run):
    train = {
        r.user_idx: list(r.item_idx)
        for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    }
    view = read_table(spark, cfg.lakehouse, TRAINING_VIEW)
    assert len(view.inputFiles()) >= cfg.train.num_processes
    for row in view.collect():
        assert unpack_items(row.item_bytes).tolist() == train[row.user_idx]


def test_profile_has_the_headline_figures(spark, cfg, pipeline_run):
    figures = {r.metric: r.value for r in read_table(spark, cfg.lakehouse, DATA_PROFILE).collect()}
    for name in ("users", "items", "density", "item_popularity_gini", "items_per_user_p50"):
        assert name in figures
    assert 0 < figures["density"] < 1
    assert 0 < figures["item_popularity_gini"] < 1
    shares = {k: v for k, v in figures.items() if k.startswith("category_share/")}
    assert sum(shares.values()) == pytest.approx(1.0)
    reasons = {k: v for k, v in figures.items() if k.startswith("quarantined/")}
    assert sum(reasons.values()) == count(spark, cfg, EVENTS_QUARANTINE)


def test_profile_command_prints_a_readable_summary(spark, cfg, pipeline_run, tmp_path, capsys):
    conf = tmp_path / "active.yaml"
    conf.write_text(yaml.safe_dump(cfg.to_dict() | {"spark": {"master": "active"}}))
    assert main(["profile", "--conf", str(conf)]) == 0
    out = capsys.readouterr().out
    for heading in ("Size", "Items per user (train)", "Item popularity", "Categories", "Labels"):
        assert f"\n{heading}" in out
    users = count(spark, cfg, USER_INDEX)
    assert any(line.split() == ["users", f"{users:,}"] for line in out.splitlines())
    assert "zero_quantity" in out


def test_profile_command_without_a_profile_says_what_to_run(spark, cfg, tmp_path, capsys):
    raw = cfg.to_dict() | {"spark": {"master": "active"}, "lakehouse": str(tmp_path / "empty")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["profile", "--conf", str(tmp_path / "c.yaml")]) == 1
    assert "data_profile" in capsys.readouterr().err


def test_auto_split_keeps_completejourney_temporal(spark, cfg, pipeline_run):
    # The default split=auto must not change the main pipeline: shoppers come back, so the
    # temporal test period holds most active users and no warning is due.
    assert cfg.aggregate.split == "auto"
    assert pipeline_run["aggregate"].metrics["split"] == "temporal"
    figures = {r.metric: r.value for r in read_table(spark, cfg.lakehouse, DATA_PROFILE).collect()}
    assert figures["split_leave_last"] == 0.0
    assert figures["temporal_test_user_share"] >= cfg.aggregate.auto_min_test_share
    assert figures["test_user_share"] >= cfg.aggregate.auto_min_test_share

"""Sequences on the small run: stage 1's time order against pandas, stage 4's next-item rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from samplegen.evaluate.data import load_eval_data
from samplegen.evaluate.rows import DIFF_VARIANT, frame, p_value_metric
from samplegen.evaluate.sequences import HISTORY_SLICES
from samplegen.evaluate.sequential import (
    SEQUENCE_METRICS,
    load_sequences,
    matrix_only,
    sequence_rows,
)
from samplegen.evaluate.utility import VARIANTS
from samplegen.tables import EVENTS_CLEAN, ITEM_INDEX, SEQUENCES, USER_INDEX, read_table
from tests.conftest import RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _expected_sequences(spark, cfg, cuts) -> dict[str, pd.Series]:
    """Per split, each active user's vocabulary items by (first event, event rank, item index)."""
    lake = cfg.lakehouse
    events = read_table(spark, lake, EVENTS_CLEAN).toPandas()
    users = read_table(spark, lake, USER_INDEX).toPandas()
    active = users[users["n_items"] >= cfg.aggregate.min_user_items]
    items = read_table(spark, lake, ITEM_INDEX).toPandas()
    user_idx = dict(zip(active.user_id, active.user_idx, strict=True))
    events["user_idx"] = events["user_id"].map(user_idx)
    events["item_idx"] = events["item_id"].map(
        dict(zip(items.item_id, items.item_idx, strict=True))
    )
    events = events.dropna(subset=["user_idx", "item_idx"]).astype({"item_idx": int})
    events["rank"] = events["event_type"].map(
        {t: i for i, t in enumerate(cfg.aggregate.event_weights)}
    )
    time = pd.to_datetime(events["event_time"])
    valid_from, test_from = pd.Timestamp(cuts["valid_from"]), pd.Timestamp(cuts["test_from"])
    events["split"] = np.where(
        time < valid_from, "train", np.where(time < test_from, "valid", "test")
    )
    ordered = events.sort_values(["user_idx", "split", "event_time", "rank", "item_idx"])
    firsts = ordered.drop_duplicates(["user_idx", "split", "item_idx"], keep="first")
    return {
        split: firsts[firsts["split"] == split].groupby("user_idx")["item_idx"].apply(list)
        for split in ("train", "valid", "test")
    }


def test_sequences_follow_events_clean_in_time_order_ties_by_item_index(spark, cfg, pipeline_run):
    aggregate = pipeline_run["aggregate"]
    assert aggregate.metrics["split"] == "temporal"  # the cuts below assume it
    expected = _expected_sequences(spark, cfg, aggregate.metrics)
    table = read_table(spark, cfg.lakehouse, SEQUENCES).toPandas().set_index("user_idx")
    assert len(table) == aggregate.rows["interactions_train"]
    for split, want in expected.items():
        got = table[f"{split}_items"].map(list)
        assert got[got.map(len) > 0].to_dict() == {int(u): v for u, v in want.items()}, split
    # Baskets share a timestamp: many users have ties, placed by item index (checked above).
    tied = table[table["n_ties"] > 0]
    assert len(tied) == aggregate.rows["sequence_users_with_ties"] > 0
    assert aggregate.rows["sequence_tied_items"] == int(table["n_ties"].sum())


def test_sasrec_next_item_rows_cover_every_slice_k_and_variant(spark, cfg, pipeline_run):
    settings = dataclasses.replace(
        cfg.evaluate,
        recommenders=["ease", "sasrec"],
        sasrec_epochs=2,
        sasrec_patience=1,
        sasrec_hidden=16,
        sasrec_layers=1,
        repeats=1,
    )
    run_cfg = dataclasses.replace(cfg, evaluate=settings)
    assert matrix_only(run_cfg).evaluate.recommenders == ["ease"]
    data = load_eval_data(spark, run_cfg, RUN_ID)
    split = load_sequences(spark, run_cfg, data).split
    rows, facts = sequence_rows(spark, run_cfg, data)
    metrics = frame(rows)
    assert set(metrics["recommender"]) == {"sasrec"} and set(metrics["seed"]) == {settings.seed}
    slices = {"all", *split.slice_of()}
    assert slices - {"all"} <= {name for name, _, _ in HISTORY_SLICES} and len(slices) >= 3
    assert set(metrics["slice"]) == slices
    columns = ("variant", "slice", "metric", "k")
    keys = set(zip(*(metrics[c] for c in columns), strict=True))
    for slice_name in slices:
        for k in settings.cutoffs():
            for metric in SEQUENCE_METRICS:
                for variant in (*VARIANTS, DIFF_VARIANT):
                    assert (variant, slice_name, metric, k) in keys
                assert (DIFF_VARIANT, slice_name, p_value_metric(metric), k) in keys
    values = metrics[metrics["variant"].isin(VARIANTS)]
    assert values["value"].between(0, 1).all()
    ranked = metrics[metrics["metric"].isin(SEQUENCE_METRICS)]
    assert (ranked["ci_low"] <= ranked["value"] + 1e-12).all()
    assert (ranked["value"] <= ranked["ci_high"] + 1e-12).all()
    real = values[values["variant"] == "real"].set_index(["slice", "metric", "k"])["value"]
    for slice_name in slices:
        assert real[(slice_name, "hr", 10)] >= real[(slice_name, "ndcg", 10)]
    everyone = metrics[(metrics["slice"] == "all") & (metrics["variant"] == "real")]
    assert set(everyone["n_users"]) == {facts["sequence users"]} == {len(split.users)}
    per_slice = metrics[
        (metrics["slice"] != "all") & (metrics["variant"] == "real") & (metrics["metric"] == "hr")
    ]
    assert per_slice.groupby("k")["n_users"].sum().eq(len(split.users)).all()
    chosen = [v for name, v in facts.items() if name.startswith("sasrec epoch chosen")]
    assert len(chosen) == 2 and all(v in (0, 1) for v in chosen)

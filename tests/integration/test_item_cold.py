"""The item-cold protocol end to end on the small run: its targets, its rows, and no leak."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from samplegen.evaluate import run_evaluate
from samplegen.evaluate.data import load_eval_data
from samplegen.evaluate.item_cold import load_item_cold, skip_reason
from samplegen.evaluate.item_cold_choice import BEST_BASELINE_DIFF, CHOSEN_VARIANT
from samplegen.evaluate.rows import ITEM_COLD_SLICES, ITEMS_NEW, ITEMS_NEW_VALID
from samplegen.generate import run_generate
from samplegen.models.store import model_dir
from samplegen.tables import (
    AUGMENTED_TRAIN,
    CATALOGUE,
    DATA_PROFILE,
    EVAL_METRICS,
    EVENTS_CLEAN,
    INTERACTIONS,
    ITEM_FEATURES,
    ITEM_INDEX,
    RAW_EVENTS,
    SYNTHETIC_INTERACTIONS,
    TEST_NEW_ITEMS,
    USER_INDEX,
    VALID_NEW_ITEMS,
    read_table,
    write_table,
)
from tests.conftest import RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RUN = "item-cold-run"


def _expected_pairs(spark, cfg, pipeline_run, split: str = "test") -> pd.DataFrame:
    """``split`` (valid or test) pairs on catalogue items with no event before the train cut,
    from events_clean."""
    cuts = pipeline_run["aggregate"].metrics
    assert cuts["split"] == "temporal"  # the small run's auto split; the cuts below assume it
    events = read_table(spark, cfg.lakehouse, EVENTS_CLEAN).toPandas()
    time = pd.to_datetime(events["event_time"])
    seen = set(events.loc[time < pd.Timestamp(cuts["train_until"]), "item_id"])
    catalogue = set(read_table(spark, cfg.lakehouse, CATALOGUE).toPandas()["item_id"])
    users = read_table(spark, cfg.lakehouse, USER_INDEX).toPandas()
    active = users[users["n_items"] >= cfg.aggregate.min_user_items]
    user_idx = dict(zip(active["user_id"], active["user_idx"], strict=True))
    after_cut = time >= pd.Timestamp(cuts["test_from"])
    if split == "valid":
        after_cut = (time >= pd.Timestamp(cuts["valid_from"])) & ~after_cut
    test = events[
        after_cut & events["item_id"].isin(catalogue - seen) & events["user_id"].isin(user_idx)
    ]
    out = pd.DataFrame({"user_idx": test["user_id"].map(user_idx), "item_id": test["item_id"]})
    return out.drop_duplicates().astype({"user_idx": "int64"})


def ndcg_rows(rows: pd.DataFrame, k: int, slice_name: str) -> pd.DataFrame:
    """The NDCG@k rows of one slice."""
    return rows[(rows["metric"] == "ndcg") & (rows["k"] == k) & (rows["slice"] == slice_name)]


def _pairs(frame: pd.DataFrame) -> set[tuple[int, str]]:
    return set(zip(frame["user_idx"].astype(int), frame["item_id"], strict=True))


def _write_new_item_run(spark, cfg, targets: list[str], others: list[str]) -> dict[str, int]:
    """A new_items-style run giving ``targets`` and ``others`` columns after the vocabulary.

    Each new item goes to 12 seeded train users at weight 0.5, as the strategy writes them.
    """
    n_items = read_table(spark, cfg.lakehouse, ITEM_INDEX).count()
    users = sorted(
        r.user_idx for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    )
    rng = np.random.default_rng(5)
    column = {item: n_items + j for j, item in enumerate(targets + others)}
    given: dict[int, list[str]] = {}
    for item in column:
        for user in rng.choice(users, size=12, replace=False):
            given.setdefault(int(user), []).append(item)
    rows = [
        (
            RUN,
            "multvae",
            RUN_ID,
            "new_items",
            7,
            None,
            user,
            [column[i] for i in items],
            [0.5] * len(items),
            items,
        )
        for user, items in sorted(given.items())
    ]
    schema = SYNTHETIC_INTERACTIONS.schema
    write_table(spark.createDataFrame(rows, schema), cfg.lakehouse, SYNTHETIC_INTERACTIONS, RUN)
    augmented = spark.createDataFrame(
        [(RUN, r[6], r[7], r[8], True) for r in rows], AUGMENTED_TRAIN.schema
    )
    write_table(augmented, cfg.lakehouse, AUGMENTED_TRAIN, RUN)
    return column


def _eval_cfg(cfg, **changes):
    settings = dataclasses.replace(
        cfg.evaluate,
        recommenders=["popularity", "ease"],
        repeats=1,
        dose_ratios=[],
        bootstrap_samples=50,
        min_users=1,
        **changes,
    )
    return dataclasses.replace(cfg, evaluate=settings)


def test_item_cold_targets_rows_and_verdict(spark, cfg, pipeline_run):
    expected = _expected_pairs(spark, cfg, pipeline_run)
    table = read_table(spark, cfg.lakehouse, TEST_NEW_ITEMS).toPandas()
    assert len(expected) > 0 and _pairs(table) == _pairs(expected)
    valid_pairs = _expected_pairs(spark, cfg, pipeline_run, "valid")
    table = read_table(spark, cfg.lakehouse, VALID_NEW_ITEMS).toPandas()
    assert len(valid_pairs) > 0 and _pairs(table) == _pairs(valid_pairs)
    assert skip_reason(spark, _eval_cfg(cfg), RUN_ID).startswith("the run has no new items")
    assert skip_reason(spark, _eval_cfg(cfg, item_cold=False), RUN_ID) == "evaluate.item_cold=false"

    popular = expected["item_id"].value_counts()
    valid_popular = valid_pairs["item_id"].value_counts()  # gives the valid slice users
    targets = sorted({*popular.index[:4], *valid_popular.index[:3]})
    indexed = {r.item_id for r in read_table(spark, cfg.lakehouse, ITEM_FEATURES).collect()}
    catalogue = read_table(spark, cfg.lakehouse, CATALOGUE).orderBy("item_id").limit(500)
    others = [i for i in (r.item_id for r in catalogue.collect()) if i not in indexed]
    targets_anywhere = set(expected["item_id"]) | set(valid_pairs["item_id"])
    others = [i for i in others if i not in targets_anywhere][:2]
    column = _write_new_item_run(spark, cfg, targets, others)

    run_cfg = _eval_cfg(cfg)
    data = load_eval_data(spark, run_cfg, RUN)
    cold = load_item_cold(spark, run_cfg, RUN, data)
    assert cold is not None and cold.items.is_new.sum() == len(column)
    n_columns = data.real.shape[1]
    unreachable = sorted(set(expected["item_id"]) - set(column))
    column |= {item: n_columns + j for j, item in enumerate(unreachable)}
    position = {int(u): i for i, u in enumerate(data.user_idx)}
    want = {
        position[int(u)]: sorted(column[i] for i in g["item_id"])
        for u, g in expected.groupby("user_idx")
        if int(u) in position
    }
    got = {int(r): t.tolist() for r, t in zip(cold.rows, cold.targets_new, strict=True) if len(t)}
    assert got == want
    assert cold.facts["of them given a column by the run"] == len(set(targets) & set(popular.index))
    valid_users = {position[int(u)] for u in valid_pairs["user_idx"] if int(u) in position}
    assert set(cold.valid_rows.tolist()) == valid_users and len(valid_users) > 0
    assert cold.candidates.tolist() == cold.items.is_new.tolist()  # run: every new item
    period = load_item_cold(spark, _eval_cfg(cfg, item_cold_candidates="period"), RUN, data)
    sold = {column[i] for i in targets if i in popular.index}  # new items the test period sold
    assert period is not None and set(np.flatnonzero(period.candidates).tolist()) == sold
    valid_sold = {column[i] for i in targets if i in valid_popular.index}
    assert set(np.flatnonzero(period.candidates_valid).tolist()) == valid_sold

    result = run_evaluate(spark, run_cfg, RUN)
    metrics = read_table(spark, cfg.lakehouse, EVAL_METRICS).where(F.col("run_id") == RUN)
    rows = metrics.toPandas()
    cold_rows = rows[rows["slice"] == ITEMS_NEW]
    ranking = cold_rows[cold_rows["metric"].isin(["recall", "ndcg"])]
    recommenders = {"popularity", "ease", "content_knn", "category_popularity", "random_new"}
    assert set(ranking["recommender"]) == recommenders
    assert set(ranking["k"]) == set(run_cfg.evaluate.cutoffs())
    values = ranking[ranking["variant"] != BEST_BASELINE_DIFF]
    assert values["ci_low"].notna().all() and (values["ci_low"] <= values["value"] + 1e-12).all()
    best = cold_rows[cold_rows["variant"] == BEST_BASELINE_DIFF]
    best_values = best[best["metric"].isin(["recall", "ndcg"])]
    assert len(best_values) == 2 * len(run_cfg.evaluate.cutoffs())
    assert best_values["ci_high"].notna().all() and (best_values["n_users"] > 0).all()
    assert set(rows["slice"]) >= set(ITEM_COLD_SLICES)
    coverage = rows[rows["metric"] == "coverage_new"]
    assert ((coverage["value"] >= 0) & (coverage["value"] <= 1)).all()
    # The pair is the best augmented recommender and the best baseline on valid.
    on_valid = ndcg_rows(rows, run_cfg.evaluate.k, ITEMS_NEW_VALID)
    chosen = on_valid[on_valid["variant"] == CHOSEN_VARIANT].set_index("recommender")["value"]
    augmented = on_valid[on_valid["variant"] == "augmented"]
    baselines = on_valid[on_valid["recommender"].isin(run_cfg.evaluate.item_cold_baselines)]
    assert len(chosen) == 2 and set(best_values["recommender"]) <= set(chosen.index)
    generated = chosen[chosen.index.isin(run_cfg.evaluate.recommenders)]
    assert np.isclose(generated.iloc[0], augmented["value"].max())
    assert np.isclose(chosen.drop(generated.index).iloc[0], baselines["value"].max())
    lines = result.metrics["verdict"]
    assert lines[-1].split(" ")[1] == f"slice={ITEMS_NEW}" and "best baseline" in lines[-1]
    assert "chosen on valid" in lines[-1]
    assert "items-new-table" in Path(result.outputs["report"]).read_text(encoding="utf-8")

    # The warm slices and their verdicts are what they were without the item-cold protocol.
    off = run_evaluate(spark, _eval_cfg(cfg, item_cold=False), RUN)
    rows_off = read_table(spark, cfg.lakehouse, EVAL_METRICS).where(F.col("run_id") == RUN)
    warm = rows[~rows["slice"].isin(ITEM_COLD_SLICES)]
    keys = ["recommender", "variant", "slice", "metric", "k", "seed"]
    pd.testing.assert_frame_equal(
        warm.sort_values(keys).reset_index(drop=True),
        rows_off.toPandas().sort_values(keys).reset_index(drop=True),
    )
    assert off.metrics["verdict"] == lines[:-1]


def _poison_after(events, cut: pd.Timestamp, catalogue):
    """``events`` (Spark) with everything from ``cut`` on poisoned: what generation must never read.

    Events from the cut on (the valid and test periods) move to other items (a hash of the event
    picks a catalogue item), and every catalogue item gets one extra event at ``cut``: were
    generation to read after the cut, every catalogue item would look seen and ``new_items``
    would draw other items (or none).
    """
    after = F.col("event_time").cast("long") >= F.lit(int(cut.timestamp()))
    ids = catalogue.select("item_id").orderBy("item_id")
    numbered = ids.withColumn("n", F.row_number().over(Window.orderBy("item_id")) - 1)
    size = numbered.count()
    moved = (
        events.where(after)
        .withColumn("n", F.pmod(F.xxhash64(*events.columns), F.lit(size)))
        .drop("item_id")
        .join(F.broadcast(numbered), "n")
        .select(*events.columns)
        .withColumn("quantity", F.lit(99.0))
    )
    template = events.where(after).limit(1).drop("item_id")
    seen_late = template.crossJoin(ids).select(*events.columns)
    return events.where(~after).unionByName(moved).unionByName(seen_late)


def test_new_items_test_interactions_never_reach_generation(spark, cfg, pipeline_run, tmp_path):
    """Poison the valid and test periods of ``events_clean``; new_items draws the same rows.

    A copy of the small run's lakehouse gets a poisoned ``events_clean`` and ``raw_events``
    (events after the train cut change items and every catalogue item gains an event at the
    cut) and empty ``valid_new_items`` and ``test_new_items``. The same model then draws the
    same items, users and rows from both lakehouses. A control shows the check can fail: one
    event before the cut on a drawn item makes it seen.
    """
    from samplegen.generate.new_items import seen_before_cut, train_cut

    cut = train_cut(read_table(spark, cfg.lakehouse, DATA_PROFILE))
    cuts = pipeline_run["aggregate"].metrics
    assert cut == pd.Timestamp(cuts["train_until"]).timestamp()
    events = read_table(spark, cfg.lakehouse, EVENTS_CLEAN)
    catalogue = read_table(spark, cfg.lakehouse, CATALOGUE)
    other = dataclasses.replace(cfg, lakehouse=str(tmp_path / "lakehouse"))
    shutil.copytree(cfg.lakehouse, other.lakehouse)
    poisoned = _poison_after(events, pd.Timestamp(cuts["train_until"]), catalogue)
    write_table(poisoned, other.lakehouse, EVENTS_CLEAN)
    write_table(read_table(spark, other.lakehouse, EVENTS_CLEAN), other.lakehouse, RAW_EVENTS)
    for table in (VALID_NEW_ITEMS, TEST_NEW_ITEMS):
        write_table(spark.createDataFrame([], table.schema), other.lakehouse, table)
    frame = read_table(spark, other.lakehouse, EVENTS_CLEAN)
    assert frame.count() == events.count() + catalogue.count()
    assert not frame.exceptAll(events).isEmpty()

    generate = dataclasses.replace(cfg.generate, strategy="new_items", new_items=6)
    drawn = []
    for run_cfg, run in ((cfg, "leak-clean"), (other, "leak-poisoned")):
        shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
        result = run_generate(spark, dataclasses.replace(run_cfg, generate=generate), run)
        rows = read_table(spark, run_cfg.lakehouse, SYNTHETIC_INTERACTIONS).where(
            F.col("run_id") == run
        )
        drawn.append(
            sorted((r.user_idx, tuple(r.item_idx), tuple(r.item_ids)) for r in rows.collect())
        )
    assert drawn[0] and drawn[0] == drawn[1]
    assert result.metrics["new_items/candidates"] > 0

    # Drawn items have no event before the cut; one such event would make an item seen.
    items = {i for _, _, ids in drawn[0] for i in ids}
    seen = {r.item_id for r in seen_before_cut(frame, cut).collect()}
    assert not items & seen
    early = frame.limit(1).select(
        *(
            F.lit(sorted(items)[0]).alias(c)
            if c == "item_id"
            else F.timestamp_seconds(F.lit(int(cut) - 60)).alias(c)
            if c == "event_time"
            else F.col(c)
            for c in frame.columns
        )
    )
    control = seen_before_cut(frame.unionByName(early), cut)
    assert sorted(items)[0] in {r.item_id for r in control.collect()}

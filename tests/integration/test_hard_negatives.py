"""The ``hard_negatives`` strategy, added as one module plus one registry line (issue 19)."""

from dataclasses import replace

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.generate import run_generate
from samplegen.generate.hard_negatives import NEGATIVES_PER_POSITIVE
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR, SYNTHETIC_INTERACTIONS, read_table

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RUN = "hard-negatives-run"
ITEM_COLUMNS = ["department", "brand", "price", "item_users", "item_purchase_rate"]


@pytest.fixture(scope="module")
def negatives_run(spark, cfg, pipeline_run):
    run_cfg = replace(cfg, generate=replace(cfg.generate, strategy="hard_negatives"))
    result = run_generate(spark, run_cfg, RUN)
    rows = read_table(spark, cfg.lakehouse, SYNTHETIC_CTR).where(F.col("run_id") == RUN)
    return run_cfg, result, rows.toPandas()


def test_each_negative_swaps_a_bought_item_for_an_unbought_one_of_its_category(
    spark, cfg, negatives_run
):
    _, result, rows = negatives_run
    samples = read_table(spark, cfg.lakehouse, SAMPLES_CTR).toPandas()
    train = samples[samples["split"] == "train"]
    positives = train[(train["label"] == 1) & train["category"].notna()]
    bought = positives.groupby("user_idx")["item_idx"].agg(set)
    items = train.groupby("item_idx").agg(
        category=("category", "first"),
        department=("department", "first"),
        brand=("brand", "first"),
        price=("price", "mean"),
        item_users=("item_users", "max"),
        item_purchase_rate=("item_purchase_rate", "max"),
    )
    assert len(rows) > 0 and (rows["label"] == 0).all()
    assert set(rows["strategy"]) == {"hard_negatives"} and set(rows["model"]) == {"none"}
    assert rows["row"].is_unique
    # The row privacy filter saw every negative; what it kept was written (copies counted).
    assert result.metrics["privacy_filter"] == "on"
    assert result.metrics["privacy_drawn"] == result.metrics["hard_negatives"]
    assert result.metrics["privacy_kept"] == len(rows)
    assert result.metrics["privacy_dropped_copies"] == result.metrics["hard_negatives"] - len(rows)
    assert (
        result.metrics["hard_negatives"] + result.metrics["hard_negatives/without_candidate"]
        == len(positives.drop_duplicates(["user_idx", "item_idx"])) * NEGATIVES_PER_POSITIVE
    )
    for row in rows.itertuples():
        user = int(row.row) // NEGATIVES_PER_POSITIVE >> 32
        source_item = int(row.row) // NEGATIVES_PER_POSITIVE & 0xFFFFFFFF
        source = positives[(positives["user_idx"] == user) & (positives["item_idx"] == source_item)]
        assert len(source) == 1, "the row id names a bought (user, item) pair"
        source = source.iloc[0]
        assert row.category == source["category"]
        assert row.user_events == source["user_events"]
        same_category = items[items["category"] == row.category].drop(
            index=list(bought.get(user, set())), errors="ignore"
        )
        matches = np.ones(len(same_category), dtype=bool)
        for column in ITEM_COLUMNS:
            mine = getattr(row, column)
            theirs = same_category[column].to_numpy()
            matches &= (
                np.isclose(theirs.astype(float), float(mine), equal_nan=True)
                if column
                in (
                    "price",
                    "item_users",
                    "item_purchase_rate",
                )
                else (theirs == mine)
            )
        assert matches.any(), "the item side is an unbought item of the same category"


def test_rerun_writes_the_same_rows_and_no_interactions(spark, cfg, negatives_run):
    run_cfg, _, rows = negatives_run
    run_generate(spark, run_cfg, RUN)
    again = read_table(spark, cfg.lakehouse, SYNTHETIC_CTR).where(F.col("run_id") == RUN)
    again = again.toPandas().sort_values("row").reset_index(drop=True)
    before = rows.sort_values("row").reset_index(drop=True)
    assert again.equals(before)
    interactions = read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS)
    assert interactions.where(F.col("run_id") == RUN).count() == 0

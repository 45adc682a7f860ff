"""CTR classifiers on ``samples_ctr`` and the evaluate path of ``synthetic_ctr`` runs (issue 22).

Tiny tables built here with a planted signal (category ``hot`` and a low price make a
purchase likely); no whole-pipeline fixture.
"""

from datetime import datetime

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.evaluate import run_evaluate
from samplegen.evaluate.classifiers import LABEL, SCORE, feature_columns, with_class_weights
from samplegen.evaluate.classifiers.logreg import LogisticCTR
from samplegen.evaluate.ctr import CTR_SLICES, VARIANTS, ctr_splits
from samplegen.evaluate.ctr_metrics import roc_auc
from samplegen.tables import EVAL_METRICS, SAMPLES_CTR, SYNTHETIC_CTR, read_table, write_table
from tests.conftest import small_config

pytestmark = [pytest.mark.spark]

RUN = "ctr-run"
#: Users per split (rows per user: 8).
USERS = {"train": 60, "valid": 25, "test": 40}
SYNTHETIC_PRICE = 777.0  # no real row has this price


def _samples(seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    user = 0
    for split, n_users in USERS.items():
        for _ in range(n_users):
            events = int(rng.integers(1, 200))
            for j in range(8):
                item = int(rng.integers(0, 40))
                hot = item % 4 == 0
                price = float(rng.uniform(1, 10))
                p = 0.05 + 0.75 * hot + 0.15 * (price < 4)
                label = int(rng.random() < p)
                rows.append(
                    (f"u{user}", f"i{item}", user, item, split, datetime(2024, 1, 1 + j), label,
                     "purchase", None, "hot" if hot else f"c{item % 3}", f"d{item % 2}",
                     None if j == 0 else f"b{item % 5}", price, events, float(j),
                     int(5 + item), 0.1)
                )  # fmt: skip
            user += 1
    return rows


def _synthetic(n: int = 120) -> list[tuple]:
    rng = np.random.default_rng(1)
    return [
        (RUN, "tabular", "1", "label_balance", 7, r, 1, "hot", "d0", "b1", SYNTHETIC_PRICE,
         int(rng.integers(1, 200)), 1.0, 9, 0.1)
        for r in range(n)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def ctr_lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("ctr")
    cfg = small_config(
        root,
        [
            "evaluate.bootstrap_samples=40",
            "evaluate.logreg_reg_grid=[0.0, 0.1]",
            "evaluate.min_users=30",
        ],
    )
    write_table(spark.createDataFrame(_samples(), SAMPLES_CTR.schema), cfg.lakehouse, SAMPLES_CTR)
    synthetic = spark.createDataFrame(_synthetic(), SYNTHETIC_CTR.schema)
    write_table(synthetic, cfg.lakehouse, SYNTHETIC_CTR, RUN)
    return cfg


def test_synthetic_rows_only_ever_train(spark, ctr_lake):
    splits = ctr_splits(spark, ctr_lake, RUN)
    samples = read_table(spark, ctr_lake.lakehouse, SAMPLES_CTR)
    assert splits.n_synthetic == 120
    assert splits.real_train.count() == USERS["train"] * 8
    assert splits.augmented_train.count() == USERS["train"] * 8 + 120
    for name, rows in (("valid", splits.valid), ("test", splits.test)):
        assert rows.count() == samples.where(F.col("split") == name).count()
        assert rows.where(F.col("price") == SYNTHETIC_PRICE).isEmpty()
    assert splits.augmented_train.where(F.col("price") == SYNTHETIC_PRICE).count() == 120
    assert splits.test.where(F.col("user_idx").isNull()).isEmpty()


def test_logreg_learns_the_planted_signal_and_tunes_on_valid(spark, ctr_lake):
    splits = ctr_splits(spark, ctr_lake, RUN)
    model = LogisticCTR([0.0, 0.01, 0.1]).fit(splits.real_train, splits.valid)
    assert set(model.valid_auc) == {0.0, 0.01, 0.1}
    assert model.chosen == max(model.valid_auc, key=lambda reg: (model.valid_auc[reg], -reg))
    scored = model.score(splits.test).toPandas()
    assert len(scored) == USERS["test"] * 8 and scored[SCORE].between(0, 1).all()
    assert roc_auc(scored[LABEL].astype(int), scored[SCORE]) > 0.8
    # Class weights balance the labels: each label's weights sum to half the rows.
    weighted = with_class_weights(splits.real_train).groupBy(LABEL).agg(F.sum("class_weight"))
    for row in weighted.collect():
        assert row[1] == pytest.approx(USERS["train"] * 8 / 2)
    categorical, numeric = feature_columns()
    assert categorical == ["category", "department", "brand"]
    assert "item_purchase_rate" in numeric and "query" not in categorical + numeric


def test_evaluate_scores_a_synthetic_ctr_run(spark, ctr_lake):
    result = run_evaluate(spark, ctr_lake, RUN)
    rows = read_table(spark, ctr_lake.lakehouse, EVAL_METRICS).where(F.col("run_id") == RUN)
    rows = rows.toPandas()
    assert set(rows["recommender"]) == {"logreg"}
    assert set(rows["slice"]) == set(CTR_SLICES)
    values = rows[rows["variant"].isin(VARIANTS)]
    assert set(values["metric"]) == {"auc", "pr_auc", "logloss", "ece"}
    # Every variant x slice x metric once, with a CI.
    assert len(values) == len(VARIANTS) * len(CTR_SLICES) * 4
    assert values["ci_low"].notna().all() and (values["ci_low"] <= values["ci_high"]).all()
    diffs = rows[rows["variant"] == "augmented_minus_real"]
    assert set(diffs["metric"]) == {
        "auc", "pr_auc", "logloss", "ece",
        "auc_p_value", "pr_auc_p_value", "logloss_p_value", "ece_p_value",
    }  # fmt: skip
    real_auc = values[(values["slice"] == "all") & (values["metric"] == "auc")]
    assert (real_auc["value"] > 0.75).all()
    all_users = diffs[(diffs["slice"] == "all") & (diffs["metric"] == "auc")].iloc[0]
    assert all_users["n_users"] == USERS["test"]
    auc = values.set_index(["variant", "slice", "metric"])["value"]
    assert all_users["value"] == pytest.approx(
        auc[("augmented", "all", "auc")] - auc[("real", "all", "auc")]
    )
    lines = result.metrics["verdict"]
    assert len(lines) == len(CTR_SLICES) and lines[0].startswith("logreg slice=all AUC real=")
    assert "[" in lines[0]  # 40 users >= min_users: a CI and an outcome
    cold = [line for line in lines if "slice=cold_users" in line]
    assert cold and "too few users" in cold[0]  # about a quarter of 40 users
    assert result.rows["eval_metrics"] == len(rows)
    assert ctr_lake.reports_root and result.outputs["report"].endswith("index.html")

"""CTR classifiers on ``samples_ctr`` and the evaluate path of ``synthetic_ctr`` runs (issue 22).

Tiny tables built here with a planted signal (category ``hot`` and a low price make a
purchase likely); no whole-pipeline fixture.
"""

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pyspark.sql import functions as F

from samplegen.evaluate import run_evaluate
from samplegen.evaluate.classifiers import LABEL, SCORE, feature_columns, with_class_weights
from samplegen.evaluate.classifiers.deepfm import DeepFMCTR
from samplegen.evaluate.classifiers.gbt import GbtCTR
from samplegen.evaluate.classifiers.logreg import LogisticCTR
from samplegen.evaluate.compare import compare_runs, headline
from samplegen.evaluate.ctr import (
    SMOTE_NC,
    VARIANTS,
    ScoringRows,
    ctr_rows,
    ctr_splits,
)
from samplegen.evaluate.ctr_dose import dose_sample
from samplegen.evaluate.ctr_metrics import roc_auc
from samplegen.evaluate.ctr_slices import CTR_SLICES, top_categories
from samplegen.registry import RECOMMENDERS, RecommenderSpec
from samplegen.runinfo import LOG
from samplegen.tables import EVAL_METRICS, SAMPLES_CTR, SYNTHETIC_CTR, read_table, write_table
from tests.conftest import small_config

pytestmark = [pytest.mark.spark]

RUN = "ctr-run"
#: Users per split (rows per user: 8).
USERS = {"train": 60, "valid": 25, "test": 40}
SYNTHETIC_PRICE = 777.0  # no real row has this price


def _samples(seed: int = 0, xor: bool = False, users: dict[str, int] = USERS) -> list[tuple]:
    """8 rows per user; a purchase is likely for ``hot`` items and cheap ones (``xor``: for
    exactly one of the two, an interaction no sum of one-feature terms ranks well: its best
    order has AUC 0.72 where the cells' own order has 0.83)."""
    rng = np.random.default_rng(seed)
    rows = []
    user = 0
    for split, n_users in users.items():
        for _ in range(n_users):
            events = int(rng.integers(1, 200))
            for j in range(8):
                item = int(rng.integers(0, 40))
                hot = item % 4 == 0
                price = float(rng.uniform(1, 10))
                p = 0.05 + 0.75 * hot + 0.15 * (price < 4)
                if xor:
                    p = 0.9 if hot != (price < 4) else 0.1
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


def _lake(spark, root, samples: list[tuple]):
    cfg = small_config(
        root,
        [
            "evaluate.bootstrap_samples=40",
            "evaluate.logreg_reg_grid=[0.0, 0.1]",
            "evaluate.gbt_max_depth_grid=[2]",
            "evaluate.gbt_max_iter_grid=[8]",
            "evaluate.min_users=30",
            "evaluate.deepfm_embedding_dims=[4]",
            "evaluate.deepfm_hidden_dims=[16]",
            "evaluate.deepfm_batch_size=64",
            "evaluate.deepfm_epochs=8",
        ],
    )
    write_table(spark.createDataFrame(samples, SAMPLES_CTR.schema), cfg.lakehouse, SAMPLES_CTR)
    synthetic = spark.createDataFrame(_synthetic(), SYNTHETIC_CTR.schema)
    write_table(synthetic, cfg.lakehouse, SYNTHETIC_CTR, RUN)
    return cfg


@pytest.fixture(scope="module")
def ctr_lake(spark, tmp_path_factory):
    return _lake(spark, tmp_path_factory.mktemp("ctr"), _samples())


def test_synthetic_oversampled_and_smote_rows_only_ever_train(spark, ctr_lake):
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
    # Random oversampling: as many copies of real train positives as synthetic rows (all
    # positives here), every one a real train row; valid and test are untouched.
    assert splits.synthetic_labels == {1: 120}
    over = splits.oversampled_train(seed=3)
    real = splits.real_train.toPandas()
    over_rows = over.toPandas()
    assert len(over_rows) == len(real) + 120
    assert (over_rows[LABEL] == 1).sum() == (real[LABEL] == 1).sum() + 120
    key = list(real.columns)
    assert len(over_rows.merge(real.drop_duplicates(), on=key, how="left", indicator=True)
               .query("_merge != 'both'")) == 0  # fmt: skip
    assert over.where(F.col("price") == SYNTHETIC_PRICE).isEmpty()
    over.unpersist()
    # SMOTE-NC: as many new rows of each label as synthetic rows, interpolated between real
    # train rows of at most 100 per label (both labels are sampled: about 150 and 330 rows).
    assert min(real[LABEL].value_counts()) > 100
    train, new = splits.smote_train(seed=3, max_rows=100, k_neighbors=5)
    rows = new.toPandas()
    assert rows[LABEL].tolist() == [1] * 120
    assert train.columns == splits.real_train.columns
    categorical, numeric = feature_columns()
    assert rows[numeric].notna().all().all()
    for column in numeric:  # between real rows' values (integers rounded)
        assert rows[column].between(real[column].min(), real[column].max()).all(), column
    assert not rows["price"].isin(real["price"]).all()  # new values, not copies
    for column in categorical:  # levels of real rows; the null brand stays null
        assert set(rows[column].dropna()) <= set(real[column].dropna()), column
    assert rows["brand"].isna().any()  # a positive's first row has no brand
    test = splits.test.toPandas()
    for held_out in (splits.valid.toPandas(), test):  # real prices only (counts: above)
        assert not held_out["price"].isin(rows["price"]).any()
    new.unpersist()
    # A label with fewer rows than SMOTE-NC's 5 neighbours + 1: the baseline is skipped with a
    # warning naming the label; every other variant still trains.
    thin = pd.concat([real[real[LABEL] == 0].head(20), real[real[LABEL] == 1].head(4)])
    small = dataclasses.replace(
        splits,
        real_train=spark.createDataFrame(thin, splits.real_train.schema),
        test=spark.createDataFrame(test.head(16), splits.test.schema),
    )
    settings = dataclasses.replace(
        ctr_lake.evaluate, seed=3, smote_max_rows=100, smote_k_neighbors=5, dose_ratios=[0.5, 1]
    )
    with _warnings() as logged:
        scoring = ScoringRows.of(small, settings)
    # The dose sweep: dose 0.5 trains on the 24 real rows and 60 of the 120 synthetic ones;
    # dose 1 is the augmented variant, not trained again.
    assert set(scoring.train) == {*VARIANTS, "dose=0.5"} - {SMOTE_NC}
    assert [(d.variant, d.n_rows, d.synthetic_to_real, d.scores) for d in scoring.doses] == [
        ("dose=0.5", 60, 2.5, "dose=0.5"),
        ("dose=1", 120, 5.0, "augmented"),
    ]
    half = scoring.train["dose=0.5"][0].toPandas()
    assert len(half) == 24 + 60 and (half["price"] == SYNTHETIC_PRICE).sum() == 60
    assert list(half.columns) == list(splits.real_train.columns)
    assert len(scoring.frame) == 16  # the real test rows alone
    scoring.release()
    assert "label=1 has 4 CTR train rows" in scoring.skipped[SMOTE_NC]
    assert any("baseline smote_nc is skipped: smote_nc: label=1 has 4" in m for m in logged)


def test_a_dose_keeps_a_seeded_share_of_the_runs_synthetic_rows(spark, ctr_lake):
    splits = ctr_splits(spark, ctr_lake, RUN)

    def drawn(n_rows: int, seed: int) -> list[int]:
        return sorted(r["row"] for r in dose_sample(splits.synthetic, n_rows, seed).collect())

    half = drawn(60, seed=3)
    assert len(half) == len(set(half)) == 60 and set(half) <= set(range(120))
    assert drawn(60, seed=3) == half  # seeded
    assert drawn(60, seed=4) != half
    assert set(drawn(30, seed=3)) < set(half)  # a smaller dose keeps part of a larger one
    assert drawn(120, seed=3) == list(range(120))


def test_logreg_learns_the_planted_signal_and_tunes_on_valid(spark, ctr_lake):
    splits = ctr_splits(spark, ctr_lake, RUN)
    model = LogisticCTR([0.0, 0.01, 0.1]).fit(splits.real_train, splits.valid)
    aucs = {float(k.split("=")[1]): v for k, v in model.valid_auc.items()}
    assert set(aucs) == {0.0, 0.01, 0.1}
    assert model.chosen == max(aucs, key=lambda reg: (aucs[reg], -reg))
    assert model.tuned == {"regParam": model.chosen}
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


@pytest.mark.slow  # the whole evaluate stage: 35 s of the fast tier on 2026-12-07
def test_evaluate_scores_a_synthetic_ctr_run(spark, ctr_lake, monkeypatch):
    # A classifier that fails is skipped, named in the log and the report; logreg still scores.
    _register_broken(monkeypatch)
    evaluate = dataclasses.replace(ctr_lake.evaluate, ctr_models=["broken", "logreg"])
    with _warnings() as logged:
        result = run_evaluate(spark, dataclasses.replace(ctr_lake, evaluate=evaluate), RUN)
    assert any("classifier broken failed and is skipped" in m for m in logged)
    report = Path(result.outputs["report"]).read_text()
    assert "broken: broken did not converge" in report and "regParam=" in report
    # The ranking-models section: verdict lines, the table and the curves of the scores.
    # The slices: all, cold users, cold items and the top categories of the test rows.
    test = read_table(spark, ctr_lake.lakehouse, SAMPLES_CTR).where(F.col("split") == "test")
    test = test.toPandas()
    categories = top_categories(test["category"], ctr_lake.evaluate.top_categories)
    assert categories == ["c0", "c2", "c1"]  # 86, 84, 78 test rows (hot: 72)
    slices = [*CTR_SLICES, *(f"category:{c}" for c in categories)]
    ranking = report.split('<section id="ranking-models">')[1].split("</section>")[0]
    assert ranking.count('<li class="') == 4 * len(slices) and 'id="ranking-table"' in ranking
    for figure in ("plot-ctr-diff", "plot-ctr-roc-pr", "plot-ctr-calibration"):
        assert f'<figure id="{figure}">' in ranking, figure
    rows = read_table(spark, ctr_lake.lakehouse, EVAL_METRICS).where(F.col("run_id") == RUN)
    rows = rows.toPandas()
    assert result.rows["eval_metrics"] == len(rows)
    assert set(rows["recommender"]) == {"logreg", "fidelity", "privacy"}
    _check_quality_rows(rows, result, report)
    rows_of_quality = rows[rows["recommender"] != "logreg"]
    rows = rows[rows["recommender"] == "logreg"]
    assert set(rows["slice"]) == set(slices)
    values = rows[rows["variant"].isin(VARIANTS)]
    assert set(values["metric"]) == {"auc", "pr_auc", "logloss", "ece"}
    # Every variant x slice x metric once, with a CI.
    assert len(values) == len(VARIANTS) * len(slices) * 4
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
    # One paired difference per baseline, each with its p-value row; the doses
    # (evaluate.dose_ratios=[0.5, 1.0]) and each slice's label share.
    assert set(rows["variant"]) == {
        *VARIANTS, "augmented_minus_real", "augmented_minus_class_weight",
        "augmented_minus_random_oversampling", "augmented_minus_smote_nc",
        "dose=0.5", "dose=1", "test_rows",
    }  # fmt: skip
    _check_dose_and_share_rows(rows, test, slices, report)
    vs_over = rows[rows["variant"] == "augmented_minus_random_oversampling"]
    assert len(vs_over) == len(slices) * 8
    over_auc = vs_over[(vs_over["slice"] == "all") & (vs_over["metric"] == "auc")].iloc[0]
    assert over_auc["value"] == pytest.approx(
        auc[("augmented", "all", "auc")] - auc[("random_oversampling", "all", "auc")]
    )
    lines = result.metrics["verdict"]
    assert len(lines) == 4 * len(slices) and lines[0].startswith("logreg slice=all AUC real=")
    assert lines[1].startswith("logreg slice=all AUC class_weight=")
    assert lines[2].startswith("logreg slice=all AUC random_oversampling=")
    assert lines[3].startswith("logreg slice=all AUC smote_nc=")
    vs_smote = rows[(rows["variant"] == "augmented_minus_smote_nc") & (rows["slice"] == "all")]
    assert vs_smote[vs_smote["metric"] == "auc"].iloc[0]["value"] == pytest.approx(
        auc[("augmented", "all", "auc")] - auc[("smote_nc", "all", "auc")]
    )
    assert "[" in lines[0]  # 40 users >= min_users: a CI and an outcome
    cold = [line for line in lines if "slice=cold_users" in line]
    assert cold and "too few users" in cold[0]  # about a quarter of 40 users
    # The hyperparameters each variant chose on valid are in the run's metrics.
    tuning = result.metrics["tuning"]
    assert set(tuning) == {f"tuning logreg/{v}" for v in (*VARIANTS, "dose=0.5")}
    assert tuning["tuning logreg/real"].startswith("regParam=")
    assert ctr_lake.reports_root and result.outputs["report"].endswith("index.html")
    # samplegen compare: the CTR paired differences are in its headline, and the fidelity and
    # privacy rows of the synthetic rows.
    shown = headline(compare_runs(spark, ctr_lake.lakehouse, RUN, RUN, k=ctr_lake.evaluate.k))
    assert (shown["b_minus_a"].fillna(0) == 0).all()
    quality = shown["recommender"].isin(["fidelity", "privacy"])
    assert quality.sum() == len(rows_of_quality) and "detection_auc" in set(shown["metric"])
    shown = shown[~quality]
    assert set(shown["metric"]) == {"auc", "logloss"} and len(shown) == 4 * len(slices) * 2
    every = compare_runs(spark, ctr_lake.lakehouse, RUN, RUN)  # --all: the doses too
    assert len(every[every["variant"] == "dose=0.5"]) == len(slices) * 4 + 1


def _check_dose_and_share_rows(
    rows: pd.DataFrame, test: pd.DataFrame, slices: list[str], report: str
) -> None:
    """Each dose's paired difference to real per slice and metric with a CI, its synthetic :
    real train row ratio (480 real train rows), each slice's share of positive test rows, and
    the report's dose plot of AUC."""
    dose = rows[rows["variant"].isin(["dose=0.5", "dose=1"])]
    ratios = dose[dose["metric"] == "synthetic_to_real"].set_index("variant")["value"]
    assert ratios.to_dict() == {"dose=0.5": 60 / 480, "dose=1": 120 / 480}
    differences = dose[dose["metric"] != "synthetic_to_real"]
    assert len(differences) == 2 * len(slices) * 4 and differences["ci_low"].notna().all()
    at = rows.set_index(["variant", "slice", "metric"])
    for slice_ in slices:  # dose 1 is the whole run: augmented - real
        full, paired = (
            at.loc[("dose=1", slice_, "auc")],
            at.loc[("augmented_minus_real", slice_, "auc")],
        )
        assert (
            full[["value", "ci_low", "ci_high"]].tolist()
            == paired[["value", "ci_low", "ci_high"]].tolist()
        )
    shares = rows[rows["metric"] == "label_share"].set_index("slice")
    assert set(shares.index) == set(slices) and set(shares["variant"]) == {"test_rows"}
    assert shares.loc["all", "value"] == pytest.approx(test["label"].mean())
    c0 = test[test["category"] == "c0"]
    assert shares.loc["category:c0", "value"] == pytest.approx(c0["label"].mean())  # 7 of 86
    assert shares.loc["category:c0", "n_users"] == c0["user_idx"].nunique()
    assert at.loc[("real", "category:c0", "auc"), "n_users"] == c0["user_idx"].nunique()
    section = report.split('<section id="dose-response">')[1].split("</section>")[0]
    assert 'id="plot-dose-response"' in section and "AUC difference versus" in section
    assert "positive share" in report and "dose=0.5 - real" in report


def _check_quality_rows(rows: pd.DataFrame, result, report: str) -> None:
    """The fidelity and privacy rows of the run's 120 synthetic rows (all label 1, category
    hot, price 777 that no real row has, department d0, brand b1)."""
    quality = rows[rows["recommender"].isin(["fidelity", "privacy"])]
    assert set(quality["variant"]) == {"label_balance"} and set(quality["slice"]) == {"all"}
    assert (quality["n_users"] == 120).all()
    fidelity = quality[quality["recommender"] == "fidelity"].set_index("metric")["value"]
    privacy = quality[quality["recommender"] == "privacy"].set_index("metric")["value"]
    categorical, numeric = feature_columns()
    assert set(fidelity.index) == {
        *(f"tvd:{c}" for c in categorical), *(f"ks:{c}" for c in numeric),
        *(f"null_share_diff:{c}" for c in numeric), "corr_diff", "detection_auc",
    }  # fmt: skip
    assert fidelity["ks:price"] == 1.0  # every synthetic price lies above every real one
    # Compared with real positives (label-matched): about 3 in 4 are hot, every synthetic
    # row is (against every real row, about 1 in 4 is: a TVD near 0.75).
    assert 0.1 < fidelity["tvd:category"] < 0.4
    assert fidelity["detection_auc"] > 0.95  # the price alone gives them away
    assert privacy["exact_copies"] == 0 and privacy["exact_copy_share"] == 0
    assert privacy["dcr_synthetic_median"] > privacy["dcr_holdout_median"]  # price 777: far
    assert {"dcr_closer_share", "n_holdout", "n_reference"} <= set(privacy.index)
    assert result.metrics["fidelity"]["ks:price"] == 1.0
    assert result.metrics["privacy"]["exact_copy_share"] == 0.0
    assert "detection_auc" in report and "dcr_closer_share" in report
    assert 'id="plot-dcr"' in report


def test_gbt_learns_the_planted_signal(spark, ctr_lake):
    splits = ctr_splits(spark, ctr_lake, RUN)
    model = GbtCTR([2], [10], seed=5).fit(splits.real_train, splits.valid)
    assert model.tuned == {"maxDepth": 2, "maxIter": 10}
    scored = model.score(splits.test).toPandas()
    assert len(scored) == USERS["test"] * 8 and scored[SCORE].between(0, 1).all()
    assert roc_auc(scored[LABEL].astype(int), scored[SCORE]) > 0.8


def test_gbt_tuning_chooses_depth_on_valid(spark):
    """Label = hot XOR cheap: additive stumps (depth 1) cannot rank it, depth 2 can."""
    users = {"train": 150, "valid": 60, "test": 30}
    rows = spark.createDataFrame(_samples(seed=4, xor=True, users=users), SAMPLES_CTR.schema)
    by_split = {name: rows.where(F.col("split") == name) for name in ("train", "valid", "test")}
    model = GbtCTR([1, 2], [10], seed=5).fit(by_split["train"], by_split["valid"])
    assert model.tuned == {"maxDepth": 2, "maxIter": 10}
    aucs = model.valid_auc
    assert aucs["maxDepth=2,maxIter=10"] > max(0.75, aucs["maxDepth=1,maxIter=10"] + 0.05)
    scored = model.score(by_split["test"]).toPandas()
    assert roc_auc(scored[LABEL].astype(int), scored[SCORE]) > 0.75


@pytest.mark.slow  # 16-28 s on a loaded 2-core machine (torch in the Python workers)
def test_deepfm_learns_the_planted_signal_is_seeded_and_scores_unseen_levels(spark, ctr_lake):
    splits = ctr_splits(spark, ctr_lake, RUN)

    def fitted() -> DeepFMCTR:
        return DeepFMCTR([2, 4], [16], epochs=8, patience=2, batch_size=64, seed=3).fit(
            splits.real_train, splits.valid
        )

    model = fitted()
    assert set(model.valid_auc) == {"embedding_dim=2", "embedding_dim=4"}
    chosen = model.tuned["embedding_dim"]
    assert model.valid_auc[f"embedding_dim={chosen}"] == max(model.valid_auc.values())
    assert 1 <= model.tuned["epochs"] <= 8 and min(model.valid_auc.values()) > 0.75
    # The same seed gives the same weights (hence the same scores) and the same choice.
    again = fitted()
    assert (again.tuned, again.valid_auc) == (model.tuned, model.valid_auc)
    for key, weights in model._scorer.state.items():
        assert torch.equal(weights, again._scorer.state[key]), key
    # Levels never seen in train (and nulls) fall into the unseen bucket: scored, not failed.
    unseen = splits.test.withColumn("category", F.lit("never-seen")).withColumn(
        "brand", F.lit(None).cast("string")
    )
    both = splits.test.withColumn("_unseen", F.lit(False)).unionByName(
        unseen.withColumn("_unseen", F.lit(True))
    )
    scored = model.score(both).toPandas()
    assert list(scored.columns) == [*both.columns, SCORE] and scored[SCORE].between(0, 1).all()
    seen, odd = scored[~scored["_unseen"]], scored[scored["_unseen"]]
    assert len(seen) == len(odd) == USERS["test"] * 8
    assert roc_auc(seen[LABEL].astype(int), seen[SCORE]) > 0.8
    assert not np.allclose(odd[SCORE], seen[SCORE])  # the hot category no longer counts


def test_evaluate_scores_deepfm_in_every_variant(spark, ctr_lake):
    # No dose sweep (evaluate.dose_ratios=[]): no dose variant trains, no dose row.
    evaluate = dataclasses.replace(ctr_lake.evaluate, ctr_models=["deepfm"], dose_ratios=[])
    cfg = dataclasses.replace(ctr_lake, evaluate=evaluate)
    rows, summary, curves = ctr_rows(spark, cfg, RUN)
    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows])
    assert set(frame["recommender"]) == {"deepfm"}
    assert not frame["variant"].str.startswith("dose=").any()
    assert not any(key.startswith("tuning deepfm/dose") for key in summary)
    assert set(frame["variant"]) >= set(VARIANTS)
    auc = frame[(frame["metric"] == "auc") & (frame["slice"] == "all")].set_index("variant")
    assert (auc.loc[list(VARIANTS), "value"] > 0.75).all()
    for variant in VARIANTS:  # class_weight trains on weighted BCE
        assert summary[f"tuning deepfm/{variant}"].startswith("embedding_dim=4, epochs=")
    # The report's curves: real and augmented on every test row.
    assert set(curves) == {("deepfm", "real"), ("deepfm", "augmented")}
    shares = {c.positive_share for c in curves.values()}
    assert len(shares) == 1 and 0 < shares.pop() < 1
    assert all(c.score_counts.sum() == USERS["test"] * 8 for c in curves.values())


@contextmanager
def _warnings() -> Iterator[list[str]]:
    """The messages of the ``samplegen`` logger (which does not propagate) while inside."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    LOG.addHandler(handler)
    try:
        yield messages
    finally:
        LOG.removeHandler(handler)


class _Broken:
    """A classifier whose fit fails, as a non-converging one would."""

    tuned: dict[str, float] = {}
    valid_auc: dict[str, float] = {}

    def fit(self, train, valid, weight_col=None):
        raise RuntimeError("broken did not converge")

    def score(self, rows):
        raise AssertionError("never scored")


def make(cfg, spark, seed):
    """The factory of the ``broken`` classifier (:func:`_register_broken`)."""
    return _Broken()


def _register_broken(monkeypatch) -> None:
    monkeypatch.setitem(
        RECOMMENDERS, "broken", RecommenderSpec("broken", __name__, "fails", kind="classifier")
    )


def test_every_classifier_failing_is_an_error_naming_them(spark, ctr_lake, monkeypatch):
    _register_broken(monkeypatch)
    only_broken = dataclasses.replace(
        ctr_lake, evaluate=dataclasses.replace(ctr_lake.evaluate, ctr_models=["broken"])
    )
    with pytest.raises(ValueError, match="every CTR classifier failed: broken: broken did not"):
        ctr_rows(spark, only_broken, RUN)


@pytest.mark.slow  # three small lakehouses: about 25 s
def test_bad_samples_ctr_is_named(spark, tmp_path_factory):
    """A single label, an all-null feature column, a missing feature column."""
    single = [r[:6] + (1,) + r[7:] if r[4] == "train" else r for r in _samples()]
    cfg = _lake(spark, tmp_path_factory.mktemp("single"), single)
    with pytest.raises(ValueError, match="samples_ctr train rows have a single label"):
        ctr_splits(spark, cfg, RUN)
    # brand (index 11) null everywhere: skipped with a warning naming it; logreg still learns.
    no_brand = [r[:11] + (None,) + r[12:] for r in _samples()]
    cfg = _lake(spark, tmp_path_factory.mktemp("nobrand"), no_brand)
    splits = ctr_splits(spark, cfg, RUN)
    with _warnings() as logged:
        model = LogisticCTR([0.0]).fit(splits.real_train, splits.valid)
    assert any("skipping all-null feature column(s) brand" in m for m in logged)
    scored = model.score(splits.test).toPandas()
    assert roc_auc(scored[LABEL].astype(int), scored[SCORE]) > 0.8
    # A samples_ctr written without the price column.
    samples = read_table(spark, cfg.lakehouse, SAMPLES_CTR).drop("price")
    samples.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        str(cfg.lakehouse) + "/samples_ctr"
    )
    with pytest.raises(ValueError, match="samples_ctr lacks the CTR feature column.s. price"):
        ctr_splits(spark, cfg, RUN)

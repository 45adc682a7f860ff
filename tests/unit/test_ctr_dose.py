"""The CTR dose sweep's doses and rows, the category slices and the label share (issue 22),
on hand-built scored test rows (the Spark draw of a dose's rows: test_ctr_evaluate.py)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from samplegen.config import EvaluateConfig
from samplegen.evaluate.ctr import classifier_rows
from samplegen.evaluate.ctr_dose import Dose, doses
from samplegen.evaluate.ctr_metrics import roc_auc
from samplegen.evaluate.ctr_slices import LABEL_SHARE, TEST_ROWS, slice_masks, top_categories

SETTINGS = EvaluateConfig(bootstrap_samples=60, seed=4, top_categories=2)


def test_doses_keep_a_share_of_the_synthetic_rows_and_reuse_the_full_run():
    found = doses([1.0, 0.25, 0.5, 0.25], n_synthetic=10, n_real=40, full="augmented")
    assert [d.variant for d in found] == ["dose=0.25", "dose=0.5", "dose=1"]
    assert [d.n_rows for d in found] == [2, 5, 10]  # round(2.5) = 2 (half to even)
    assert [d.synthetic_to_real for d in found] == [2 / 40, 5 / 40, 10 / 40]
    assert [d.scores for d in found] == ["dose=0.25", "dose=0.5", "augmented"]
    # A dose always keeps a row; one that rounds to every row is the full run.
    tiny = doses([0.01, 0.98], n_synthetic=20, n_real=5, full="augmented")
    assert [(d.n_rows, d.scores) for d in tiny] == [(1, "dose=0.01"), (20, "augmented")]
    assert doses([], n_synthetic=20, n_real=5, full="augmented") == []


def _test_rows(n_users: int = 60, seed: int = 0) -> pd.DataFrame:
    """4 rows per user; the label follows a hidden signal the scores see to varying degrees."""
    rng = np.random.default_rng(seed)
    n = n_users * 4
    signal = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "user_idx": np.repeat(np.arange(n_users), 4),
            "item_idx": rng.integers(0, 30, n),
            "label": (signal + rng.normal(scale=0.8, size=n) > 0.8).astype(np.int64),
            "user_events": np.repeat(rng.integers(1, 100, n_users), 4),
            "item_users": rng.integers(1, 50, n),
            "category": rng.choice(["a", "b", "c", None], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    for variant, noise in (("real", 1.5), ("augmented", 1.0), ("dose=0.5", 1.2)):
        raw = signal + rng.normal(scale=noise, size=n)
        frame[variant] = 1 / (1 + np.exp(-raw))
    return frame


def test_category_slices_hold_the_rows_of_the_top_categories():
    test = pd.DataFrame(
        {
            "user_idx": [1, 1, 2, 2, 3, 3, 4],
            "item_idx": [1, 2, 3, 4, 5, 6, 7],
            "user_events": [5, 5, 9, 9, 2, 2, None],
            "item_users": [1, 2, 3, 4, 5, 6, 7],
            "category": ["b", "a", "b", "c", "a", None, "c"],
        }
    )
    assert top_categories(test["category"], 2) == ["a", "b"]  # 2 rows each; c: 2, by name
    assert top_categories(test["category"], 0) == []
    masks = slice_masks(test, 2)
    assert list(masks) == ["all", "cold_users", "cold_items", "category:a", "category:b"]
    assert masks["category:a"].tolist() == [False, True, False, False, True, False, False]
    assert masks["category:b"].tolist() == [True, False, True, False, False, False, False]
    assert masks["cold_users"].tolist() == [False, False, False, False, True, True, False]
    test.loc[0, "category"] = "c"  # c now has the most rows
    assert list(slice_masks(test, 1)) == ["all", "cold_users", "cold_items", "category:c"]
    assert list(slice_masks(test.assign(category=None), 3)) == ["all", "cold_users", "cold_items"]


def test_dose_rows_are_paired_differences_to_real_on_every_slice():
    test = _test_rows()
    sweep = [
        Dose("dose=0.5", 0.5, 30, 0.1, "dose=0.5"),
        Dose("dose=1", 1.0, 60, 0.2, "augmented"),
    ]
    rows = pd.DataFrame(
        [dataclasses.asdict(r) for r in classifier_rows("logreg", test, SETTINGS, sweep)]
    )
    slices = ["all", "cold_users", "cold_items", "category:a", "category:b"]
    assert list(dict.fromkeys(rows["slice"])) == slices
    dose = rows[rows["variant"].str.startswith("dose=")]
    metrics = dose[dose["metric"] != "synthetic_to_real"]
    assert len(metrics) == 2 * len(slices) * 4  # doses x slices x (auc, pr_auc, logloss, ece)
    assert (metrics["ci_low"] <= metrics["ci_high"]).all()
    ratios = dose[dose["metric"] == "synthetic_to_real"].set_index("variant")["value"]
    assert ratios.to_dict() == {"dose=0.5": 0.1, "dose=1": 0.2}
    at = rows.set_index(["variant", "slice", "metric"])
    category = (test["category"] == "a").to_numpy()
    half = at.loc[("dose=0.5", "category:a", "auc")]
    expected = roc_auc(test["label"][category], test["dose=0.5"][category]) - roc_auc(
        test["label"][category], test["real"][category]
    )
    assert half["value"] == pytest.approx(expected)
    assert half["n_users"] == test.loc[category, "user_idx"].nunique()
    # The full dose is the augmented variant: the same difference, CI and users.
    for slice_ in slices:
        full = at.loc[("dose=1", slice_, "auc")]
        paired = at.loc[("augmented_minus_real", slice_, "auc")]
        columns = ["value", "ci_low", "ci_high", "n_users"]
        assert full[columns].tolist() == pytest.approx(paired[columns].tolist())
    # The dose variant trains but is not a variant of its own rows or a baseline.
    assert not (rows["variant"] == "augmented_minus_dose=0.5").any()
    # No sweep: no dose rows.
    plain = classifier_rows("logreg", test, SETTINGS)
    assert not any(r.variant.startswith("dose=") for r in plain)


def test_each_slice_reports_its_share_of_positive_rows():
    test = _test_rows()
    rows = [r for r in classifier_rows("gbt", test, SETTINGS) if r.metric == LABEL_SHARE]
    shares = {r.slice: r for r in rows}
    assert set(shares) == {"all", "cold_users", "cold_items", "category:a", "category:b"}
    assert {r.variant for r in rows} == {TEST_ROWS}
    assert shares["all"].value == pytest.approx(test["label"].mean())
    cold = slice_masks(test, 0)["cold_items"]
    assert shares["cold_items"].value == pytest.approx(test["label"][cold].mean())
    assert shares["category:b"].n_users == test.loc[test["category"] == "b", "user_idx"].nunique()
    assert 0 < shares["all"].value < 0.5  # the positives are the minority label here

"""Fidelity and privacy figures of CTR rows (samplegen/evaluate/ctr_fidelity.py) against
independent computations, and their place in the report (issue 22)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import pairwise_distances

from samplegen.evaluate.ctr_fidelity import (
    column_fidelity,
    correlation_difference,
    ctr_disclosure,
    ctr_fidelity_metrics,
    detection_auc_rows,
    gower_dcr,
)
from samplegen.evaluate.report import ReportData, render_report
from samplegen.evaluate.rows import FIDELITY, PRIVACY, EvalRow, frame

CATEGORICAL, NUMERIC = ["category", "brand"], ["price", "events"]


def _rows(n: int, seed: int, price_shift: float = 0.0, nulls: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    levels = ["a", "b", None] if nulls else ["a", "b", "c"]
    frame = pd.DataFrame(
        {
            "category": rng.choice(np.array(levels, dtype=object), n),
            "brand": rng.choice(["x", "y"], n),
            "price": rng.normal(5 + price_shift, 1, n),
            "events": rng.integers(1, 50, n).astype(float),
        }
    )
    if nulls:
        frame.loc[rng.random(n) < 0.1, "price"] = np.nan
    return frame


def test_column_figures_match_a_hand_count_and_scipy():
    real = pd.DataFrame(
        {
            "category": ["a", "a", "b", None],
            "brand": ["x", "x", "x", "x"],
            "price": [1.0, 2.0, np.nan, 4.0],
            "events": [1.0, 2.0, 3.0, 4.0],
        }
    )
    synthetic = pd.DataFrame(
        {
            "category": ["a", "b", "b", "b"],
            "brand": ["x", "y", "x", "x"],
            "price": [np.nan, np.nan, 2.5, 9.0],
            "events": [1.0, 1.0, 1.0, 7.0],
        }
    )
    got = column_fidelity(real, synthetic, CATEGORICAL, NUMERIC)
    # Shares real a/b/null 0.5/0.25/0.25, synthetic 0.25/0.75/0: TVD (0.25 + 0.5 + 0.25) / 2.
    assert got["tvd:category"] == pytest.approx(0.5)
    assert got["tvd:brand"] == pytest.approx(0.25)
    assert got["ks:price"] == pytest.approx(stats.ks_2samp([1.0, 2.0, 4.0], [2.5, 9.0]).statistic)
    assert got["ks:events"] == pytest.approx(
        stats.ks_2samp([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 7.0]).statistic
    )
    assert got["null_share_diff:price"] == pytest.approx(0.5 - 0.25)
    assert got["null_share_diff:events"] == 0.0
    # A numeric column null on one side: no KS (NaN), not an error.
    empty = synthetic.assign(price=np.nan)
    assert math.isnan(column_fidelity(real, empty, CATEGORICAL, NUMERIC)["ks:price"])


def test_correlation_difference_matches_numpy_on_frequency_encoded_columns():
    real, synthetic = _rows(400, 1, nulls=False), _rows(300, 2, nulls=False)
    synthetic["events"] = synthetic["price"] * 3 + synthetic["events"] * 0.1  # a new dependence

    def encoded(rows: pd.DataFrame) -> np.ndarray:
        columns = []
        for column in CATEGORICAL:
            shares = real[column].value_counts(normalize=True)
            columns.append(rows[column].map(shares).fillna(0.0).to_numpy(float))
        columns += [rows[c].to_numpy(float) for c in NUMERIC]
        return np.corrcoef(np.vstack(columns))

    a, b = encoded(real), encoded(synthetic)
    upper = np.triu_indices(4, k=1)
    expected = np.abs(a[upper] - b[upper]).mean()
    got = correlation_difference(real, synthetic, CATEGORICAL, NUMERIC)
    assert got == pytest.approx(expected)
    assert got > 0.1  # the planted price-events correlation shows
    assert correlation_difference(real, real, CATEGORICAL, NUMERIC) == pytest.approx(0.0)


def test_detection_tells_a_shifted_column_apart_and_not_a_same_distribution():
    real = _rows(3000, 1)
    same = detection_auc_rows(real, _rows(2000, 2), CATEGORICAL, NUMERIC, seed=3)
    shifted = detection_auc_rows(real, _rows(2000, 2, 1.5), CATEGORICAL, NUMERIC, seed=3)
    assert abs(same - 0.5) < 0.06
    assert shifted > 0.8
    # Seeded, and NaN with fewer than 10 rows a side.
    assert detection_auc_rows(real, _rows(2000, 2), CATEGORICAL, NUMERIC, seed=3) == same
    assert math.isnan(detection_auc_rows(real, _rows(9, 2), CATEGORICAL, NUMERIC, seed=3))
    # The full figure set has every column figure, corr_diff and detection_auc.
    figures = ctr_fidelity_metrics(real, _rows(500, 2), CATEGORICAL, NUMERIC, seed=3)
    assert set(figures) == {
        "tvd:category", "tvd:brand", "ks:price", "ks:events", "null_share_diff:price",
        "null_share_diff:events", "corr_diff", "detection_auc",
    }  # fmt: skip


def test_gower_dcr_matches_sklearn_manhattan_without_nulls():
    """Gower without nulls = Manhattan over (value / range, one-hot / 2), over the columns."""
    references, queries = _rows(300, 1, nulls=False), _rows(50, 2, nulls=False)
    queries.loc[0] = references.loc[7]  # a planted copy

    def embedded(rows: pd.DataFrame) -> np.ndarray:
        parts = [
            (rows[c].to_numpy()[:, None] == np.array(["a", "b", "c", "x", "y"])[None, :]) * 0.5
            for c in CATEGORICAL
        ]
        for c in NUMERIC:
            span = references[c].max() - references[c].min()
            parts.append(rows[[c]].to_numpy(float) / span)
        return np.hstack(parts)

    expected = pairwise_distances(embedded(queries), embedded(references), metric="manhattan")
    expected = expected.min(axis=1) / 4
    inside = (queries[NUMERIC] >= references[NUMERIC].min()).all(axis=1) & (
        queries[NUMERIC] <= references[NUMERIC].max()
    ).all(axis=1)  # beyond the range, Gower's numeric term is capped at 1
    got = gower_dcr(queries, references, CATEGORICAL, NUMERIC, chunk_rows=7)
    np.testing.assert_allclose(got[inside.to_numpy()], expected[inside.to_numpy()], atol=1e-12)
    assert got[0] == 0.0
    np.testing.assert_array_equal(got, gower_dcr(queries, references, CATEGORICAL, NUMERIC))


def test_gower_dcr_nulls_and_range_by_hand():
    references = pd.DataFrame(
        {"category": ["a", None], "brand": ["x", "x"], "price": [0.0, 10.0], "events": [1.0, 1.0]}
    )
    queries = pd.DataFrame(
        {
            "category": [None, "a", "b"],
            "brand": ["x", "x", "y"],
            "price": [10.0, np.nan, 50.0],
            "events": [1.0, 1.0, 3.0],
        }
    )
    got = gower_dcr(queries, references, CATEGORICAL, NUMERIC)
    # Query 0 equals reference 1 (null category matches null). Query 1: against reference 0,
    # a null price against a value counts 1: (0 + 0 + 1 + 0) / 4. Query 2 against reference
    # 1: category 1, brand 1, price |50 - 10| / 10 capped at 1, events |3 - 1| / 1 (range 0
    # divides by 1) capped at 1: 4 / 4.
    np.testing.assert_allclose(got, [0.0, 0.25, 1.0])
    assert np.isnan(gower_dcr(queries, references.iloc[:0], CATEGORICAL, NUMERIC)).all()


def test_disclosure_finds_planted_copies_closer_than_holdout_rows():
    train = _rows(2000, 1)
    holdout = _rows(300, 2)
    copies = train.iloc[:300].reset_index(drop=True)
    result = ctr_disclosure(train, holdout, copies, CATEGORICAL, NUMERIC)
    assert (result.dcr_synthetic == 0).all()
    assert result.metrics["dcr_synthetic_median"] == 0.0
    assert result.metrics["dcr_holdout_p05"] > 0.0
    assert result.metrics["dcr_closer_share"] == 1.0
    assert result.metrics["n_reference"] == 2000.0
    fresh = ctr_disclosure(train, holdout, _rows(300, 3), CATEGORICAL, NUMERIC)
    assert fresh.metrics["dcr_closer_share"] < 0.15  # about 0.05: no closer than new real rows
    assert fresh.metrics["dcr_holdout_p05"] == pytest.approx(np.percentile(fresh.dcr_holdout, 5))


def test_report_shows_ctr_fidelity_and_privacy_rows_and_the_dcr_plot():
    rows = [
        EvalRow(FIDELITY, "hard_negatives", "all", "ks:price", None, 0.31, n_users=100),
        EvalRow(FIDELITY, "hard_negatives", "all", "detection_auc", None, 0.74, n_users=100),
        EvalRow(PRIVACY, "hard_negatives", "all", "dcr_closer_share", None, 0.06, n_users=100),
        EvalRow(PRIVACY, "hard_negatives", "all", "exact_copy_share", None, 0.0, n_users=100),
        EvalRow("logreg", "real", "all", "auc", None, 0.55, n_users=100),
    ]
    rng = np.random.default_rng(0)
    data = ReportData(dcr_synthetic=rng.random(50), dcr_holdout=rng.random(50))
    page = render_report("ctr-run", frame(rows), {"strategy": "hard_negatives"}, 20, data)
    fidelity = page[page.index('<section id="fidelity">') : page.index('<section id="privacy">')]
    privacy = page[page.index('<section id="privacy">') : page.index('<section id="explain">')]
    assert "ks:price" in fidelity and "detection_auc" in fidelity and "0.31" in fidelity
    assert "dcr_closer_share" in privacy and "exact_copy_share" in privacy
    assert 'id="plot-dcr"' in privacy
    assert "No privacy rows" not in page and "No fidelity rows" not in page

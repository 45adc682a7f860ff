"""CTR metric functions against scikit-learn and a hand computation; the user bootstrap."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from samplegen.evaluate import ctr_metrics as cm


def _case(seed: int, n: int = 400, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.2).astype(int)
    scores = np.clip(0.2 + 0.3 * labels + rng.normal(0, 0.2, n), 0.01, 0.99)
    if ties:
        scores = np.round(scores, 1)
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_metrics_match_scikit_learn(seed, ties):
    labels, scores = _case(seed, ties=ties)
    assert cm.roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert cm.pr_auc(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert cm.log_loss(labels, scores) == pytest.approx(log_loss(labels, scores), abs=1e-12)


def test_expected_calibration_error_by_hand():
    labels = np.array([0, 1, 0, 1, 1, 0])
    scores = np.array([0.05, 0.08, 0.55, 0.58, 0.95, 1.0])
    # Bins: [0, .1) holds rows 0-1 (mean label .5, mean score .065); [.5, .6) rows 2-3
    # (.5 vs .565); [.9, 1] rows 4-5 (.5 vs .975).
    expected = (2 * abs(0.5 - 0.065) + 2 * abs(0.5 - 0.565) + 2 * abs(0.5 - 0.975)) / 6
    assert cm.expected_calibration_error(labels, scores) == pytest.approx(expected)
    perfect = np.array([0.25] * 4)
    assert cm.expected_calibration_error(np.array([1, 0, 0, 0]), perfect) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="probabilities"):
        cm.expected_calibration_error(labels, scores * 2)


def test_undefined_metrics_are_nan_and_bad_input_is_an_error():
    assert np.isnan(cm.roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))
    assert np.isnan(cm.pr_auc(np.array([0, 0]), np.array([0.2, 0.3])))
    assert np.isnan(cm.log_loss(np.array([], dtype=int), np.array([])))
    with pytest.raises(ValueError, match="0 or 1"):
        cm.roc_auc(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="length"):
        cm.roc_auc(np.array([0, 1]), np.array([0.1]))
    assert set(cm.CTR_METRICS) == {"auc", "pr_auc", "logloss", "ece"}


def test_user_bootstrap_resamples_whole_users_and_is_seeded():
    labels, good = _case(3, n=600)
    users = np.arange(600) // 6  # 100 users, 6 rows each
    noisy = good + np.random.default_rng(9).normal(0, 0.3, 600)
    scores = {"real": noisy, "augmented": good}
    draws = cm.user_bootstrap(cm.roc_auc, labels, scores, users, 200, seed=4)
    again = cm.user_bootstrap(cm.roc_auc, labels, scores, users, 200, seed=4)
    np.testing.assert_array_equal(draws["real"], again["real"])
    assert draws["real"].shape == (200,)
    diff = draws["augmented"] - draws["real"]
    assert np.quantile(diff, 0.025) > 0  # the better scores win on (nearly) every resample
    low, high = np.quantile(draws["augmented"], [0.025, 0.975])
    assert low < cm.roc_auc(labels, good) < high
    # One user holding every row: every resample is the full data.
    single = cm.user_bootstrap(cm.roc_auc, labels, scores, np.zeros(600), 5, seed=1)
    np.testing.assert_allclose(single["augmented"], cm.roc_auc(labels, good))


def test_score_curves_are_scikit_learns_thinned_and_agree_with_the_metrics():
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    from samplegen.evaluate.ctr_curves import MAX_CURVE_POINTS, score_curves

    labels, scores = _case(3, n=6000)
    curves = score_curves(labels, scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    assert fpr.size > MAX_CURVE_POINTS and recall.size > MAX_CURVE_POINTS  # thinning is tested
    for (x, y), (full_x, full_y) in (
        ((curves.fpr, curves.tpr), (fpr, tpr)),
        ((curves.recall, curves.precision), (recall, precision)),
    ):
        assert 2 < x.size <= MAX_CURVE_POINTS and x.shape == y.shape
        # Every kept point is one of scikit-learn's, in order, both ends kept.
        full = {(a, b) for a, b in zip(full_x, full_y, strict=True)}
        assert all((a, b) in full for a, b in zip(x, y, strict=True))
        assert (x[0], y[0], x[-1], y[-1]) == (full_x[0], full_y[0], full_x[-1], full_y[-1])
    assert np.all(np.diff(curves.fpr) >= 0) and np.all(np.diff(curves.recall) <= 0)
    # The thinned ROC curve still has the rows' AUC (trapezoids over 200 points).
    assert auc(curves.fpr, curves.tpr) == pytest.approx(cm.roc_auc(labels, scores), abs=2e-3)
    # The reliability bins are ECE's: weighted by their rows, their gaps sum to it.
    counts = curves.score_counts
    assert counts.sum() == labels.size and counts.size == cm.ECE_BINS
    gaps = np.abs(curves.observed - curves.predicted)
    assert np.sum(counts[counts > 0] * gaps) / labels.size == pytest.approx(
        cm.expected_calibration_error(labels, scores), abs=1e-12
    )
    assert curves.positive_share == pytest.approx(labels.mean())


def test_score_curves_need_both_labels_and_keep_short_curves_whole():
    from sklearn.metrics import roc_curve

    from samplegen.evaluate.ctr_curves import score_curves, thinned

    assert score_curves(np.zeros(5, dtype=int), np.linspace(0.1, 0.5, 5)) is None
    assert score_curves(np.array([], dtype=int), np.array([])) is None
    labels, scores = _case(1, n=40)
    fpr, _, _ = roc_curve(labels, scores)
    assert np.array_equal(score_curves(labels, scores).fpr, fpr)
    assert thinned(7, 10).tolist() == list(range(7))
    assert thinned(1001, 5).tolist() == [0, 250, 500, 750, 1000]

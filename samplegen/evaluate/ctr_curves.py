"""ROC, precision-recall and reliability curves of a CTR classifier's test scores, for the report.

``eval_metrics`` holds one number per classifier x variant x slice x metric, which is all a
curve cannot be rebuilt from: the curves need every test row's score. Stage 4 computes them
here while the scores are at hand (scikit-learn's ``roc_curve``, ``precision_recall_curve`` and
``calibration_curve``), thins each to at most :data:`MAX_CURVE_POINTS` points and passes them
to the report in its :class:`~samplegen.evaluate.report.ReportData`, like the other arrays
behind its figures; nothing is stored (the report is written once, by ``samplegen evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from samplegen.evaluate.ctr_metrics import ECE_BINS

#: The most points a curve keeps; enough for a smooth line in a figure a few inches wide.
MAX_CURVE_POINTS = 200


@dataclass(frozen=True)
class ScoreCurves:
    """The curves of one classifier variant's scores on the test rows.

    Attributes:
        fpr: False-positive rate of each ROC point, increasing from 0 to 1.
        tpr: True-positive rate of each ROC point.
        recall: Recall of each precision-recall point, decreasing to 0.
        precision: Precision of each precision-recall point.
        predicted: Mean score of each non-empty reliability bin (:data:`ECE_BINS`
            equal-width bins over [0, 1], the bins of the expected calibration error).
        observed: Share of positive labels in the same bin.
        score_counts: Rows per bin, empty bins included (:data:`ECE_BINS` values).
        positive_share: Share of positive labels among the rows (a random ranking's
            precision).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray
    score_counts: np.ndarray
    positive_share: float


def thinned(n: int, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` of ``n`` curve points, evenly spaced, ends kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.int64))


def score_curves(
    labels: np.ndarray, scores: np.ndarray, max_points: int = MAX_CURVE_POINTS
) -> ScoreCurves | None:
    """The ROC, precision-recall and reliability curves of ``scores``; ``None`` without both labels.

    ``scores`` are probabilities of label 1 (as every classifier of
    :mod:`samplegen.evaluate.classifiers` scores). The ROC curve drops the points that do not
    change its shape (scikit-learn's ``drop_intermediate``); both it and the precision-recall
    curve are then thinned to at most ``max_points`` points (:func:`thinned`).
    """
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.size == 0 or y.min() == y.max():
        return None
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    precision, recall, _ = precision_recall_curve(y, s)
    observed, predicted = calibration_curve(y, s, n_bins=ECE_BINS, strategy="uniform")
    counts, _ = np.histogram(s, bins=ECE_BINS, range=(0.0, 1.0))
    roc_at, pr_at = thinned(fpr.size, max_points), thinned(recall.size, max_points)
    return ScoreCurves(
        fpr=fpr[roc_at],
        tpr=tpr[roc_at],
        recall=recall[pr_at],
        precision=precision[pr_at],
        predicted=predicted,
        observed=observed,
        score_counts=counts,
        positive_share=float(y.mean()),
    )

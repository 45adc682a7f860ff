"""The few statistics stage 4 reports, on top of scikit-learn and SciPy.

Each function checks its input and names the problem (the libraries' own errors do not say
which metric failed), then lets the library compute.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (:func:`sklearn.metrics.roc_auc_score`).

    The AUC is the probability that a random positive scores above a random negative, ties
    counting one half (the Mann-Whitney statistic).

    Args:
        scores: 1-D float scores; higher means "more likely positive". Must not contain NaN.
        labels: 1-D 0/1 labels of the same length.

    Returns:
        AUC in ``[0, 1]``; 0.5 means the scores carry no information about the labels.

    Raises:
        ValueError: If shapes differ, labels are not 0/1, scores contain NaN, or one class is
            missing.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must be 1-D of the same length, got {scores.shape} and "
            f"{labels.shape}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if np.isnan(scores).any():
        raise ValueError("scores must not contain NaN")
    n_pos = int((labels == 1).sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"both classes are needed, got {n_pos} positives and {n_neg} negatives")
    return float(roc_auc_score(labels, scores))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``max |ECDF_a(x) - ECDF_b(x)|`` (SciPy's).

    Both ECDFs are evaluated right-continuously at every pooled value, so tied values (common
    here: sizes and ranks are integers) jump together and do not inflate the statistic.

    Args:
        a: 1-D sample.
        b: 1-D sample.

    Returns:
        The statistic in ``[0, 1]``; 0 means identical empirical distributions.

    Raises:
        ValueError: If either sample is empty or contains NaN.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both samples must be non-empty, got sizes {a.size} and {b.size}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("samples must not contain NaN")
    # The statistic does not depend on the p-value method; "asymp" skips the exact one's cost.
    return float(stats.ks_2samp(a, b, method="asymp").statistic)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance ``0.5 * sum |p/sum(p) - q/sum(q)|`` between two count vectors.

    Counts are normalised first, so two record sets of different sizes are compared on shares.

    Args:
        p: 1-D non-negative counts.
        q: 1-D non-negative counts of the same length.

    Returns:
        The distance in ``[0, 1]`` (0 = same shares, 1 = disjoint support), or NaN if either
        vector sums to zero (no distribution to compare).

    Raises:
        ValueError: If the shapes differ, or a count is negative or NaN.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"p and q must be 1-D of the same length, got {p.shape} and {q.shape}")
    if not ((p >= 0).all() and (q >= 0).all()):  # also rejects NaN
        raise ValueError("counts must be non-negative numbers")
    p_total, q_total = p.sum(), q.sum()
    if p_total == 0 or q_total == 0:
        return math.nan
    return float(0.5 * np.abs(p / p_total - q / q_total).sum())


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation (:func:`scipy.stats.pearsonr`), NaN when either side is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.pearsonr(x, y).statistic)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (:func:`scipy.stats.false_discovery_control`).

    Rejecting every hypothesis whose adjusted value is at most ``q`` keeps the expected share
    of false discoveries among the rejections at most ``q`` (for independent or positively
    dependent tests). NaN entries (comparisons without a p-value) stay NaN and do not count
    towards the family.

    Args:
        p_values: 1-D p-values in ``[0, 1]``, NaN where there is none.

    Returns:
        The adjusted values, same shape and order.

    Raises:
        ValueError: If a p-value lies outside ``[0, 1]``.
    """
    p_values = np.asarray(p_values, dtype=np.float64).ravel()
    known = ~np.isnan(p_values)
    if ((p_values[known] < 0) | (p_values[known] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    adjusted = np.full(p_values.shape, math.nan)
    if known.any():
        adjusted[known] = stats.false_discovery_control(p_values[known], method="bh")
    return adjusted

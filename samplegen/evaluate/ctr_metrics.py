"""Metrics of click/purchase classifiers, and a bootstrap over users that recomputes them.

Each metric is a flat ``f(labels, scores) -> float`` in plain numpy (no scikit-learn call, so
the unit tests compare against scikit-learn as an independent computation, and the bootstrap
does not pay scikit-learn's input checks hundreds of times). A metric that is undefined on
its input (AUC or PR-AUC without both labels, anything on no rows) is NaN rather than an
error, so a bootstrap resample or a thin slice that lacks a label is skipped, not fatal.

AUC and PR-AUC are not means over rows, so their confidence intervals come from
:func:`user_bootstrap`: resample users with replacement, take all their rows, recompute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.stats import rankdata

#: Equal-width probability bins of :func:`expected_calibration_error`.
ECE_BINS = 10

#: Smallest distance of a probability from 0 or 1 in :func:`log_loss` (float64 epsilon, as
#: scikit-learn clips).
_LOG_LOSS_EPS = float(np.finfo(np.float64).eps)

Metric = Callable[[np.ndarray, np.ndarray], float]


def _arrays(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0/1 integers and scores as floats, checked to be 1-D of the same length."""
    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if np.isnan(s).any():
        raise ValueError("scores must not contain NaN")
    return y.astype(np.int64), s


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: P(a random positive scores above a random negative).

    Computed as the Mann-Whitney statistic on average ranks, so ties count one half. NaN
    unless both labels are present.
    """
    y, s = _arrays(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: the step-wise area under the precision-recall curve.

    The precision at each distinct score threshold, weighted by the recall it adds (no
    interpolation); tied scores form one threshold. NaN unless both labels are present
    (without positives recall is undefined; with only positives every precision is 1 and the
    figure says nothing).
    """
    y, s = _arrays(labels, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y_sorted, s_sorted = y[order], s[order]
    # The last row of each run of equal scores closes one threshold.
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    true_pos = np.cumsum(y_sorted)[ends]
    precision = true_pos / (ends + 1.0)
    recall_gain = np.diff(np.r_[0, true_pos]) / n_pos
    return float(np.sum(recall_gain * precision))


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels under the predicted probabilities.

    Probabilities are clipped to ``[eps, 1 - eps]`` so a confident mistake costs a large but
    finite amount. NaN on no rows.
    """
    y, s = _arrays(labels, scores)
    if y.size == 0:
        return float("nan")
    p = np.clip(s, _LOG_LOSS_EPS, 1.0 - _LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def expected_calibration_error(
    labels: np.ndarray, scores: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Expected calibration error over ``n_bins`` equal-width probability bins.

    ``sum_b (n_b / n) * |mean label in b - mean score in b|``; bin ``b`` holds scores in
    ``[b / n_bins, (b + 1) / n_bins)``, the last bin also 1.0. Scores must be probabilities.
    NaN on no rows.
    """
    y, s = _arrays(labels, scores)
    if y.size == 0:
        return float("nan")
    if s.min() < 0.0 or s.max() > 1.0:
        raise ValueError("expected calibration error needs probabilities in [0, 1]")
    bins = np.minimum((s * n_bins).astype(np.int64), n_bins - 1)
    label_sums = np.bincount(bins, weights=y, minlength=n_bins)
    score_sums = np.bincount(bins, weights=s, minlength=n_bins)
    return float(np.sum(np.abs(label_sums - score_sums)) / y.size)


#: The metrics of ``eval_metrics`` rows of CTR classifiers, by their ``metric`` name.
CTR_METRICS: dict[str, Metric] = {
    "auc": roc_auc,
    "pr_auc": pr_auc,
    "logloss": log_loss,
    "ece": expected_calibration_error,
}

#: The metrics read first: in the run's manifest headline and ``samplegen compare``'s default
#: table (ranking quality and probability quality; ``--all`` shows the others).
HEADLINE_CTR_METRICS = ("auc", "logloss")


def user_bootstrap(
    metric: Metric,
    labels: np.ndarray,
    scores: Mapping[str, np.ndarray],
    users: np.ndarray,
    n_samples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """``metric`` of each set of scores on ``n_samples`` resamples of users.

    Every resample draws the users (with replacement) once and takes all the rows of each
    drawn user, for every set of scores alike, so the values of two sets on one resample are
    paired: their difference's spread is the paired bootstrap's. The same ``seed`` and sizes
    give the same resamples.

    Args:
        metric: One of :data:`CTR_METRICS`.
        labels: ``(n_rows,)`` 0/1 labels.
        scores: Each variant's ``(n_rows,)`` scores of the same rows.
        users: ``(n_rows,)`` the user of each row (the resampling unit).
        n_samples: Resamples.
        seed: Seed of the resampling.

    Returns:
        ``{variant: (n_samples,) values}``; a resample on which the metric is undefined is NaN.
    """
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    labels = np.asarray(labels).ravel()
    users = np.asarray(users).ravel()
    order = np.argsort(users, kind="mergesort")
    _, starts, counts = np.unique(users[order], return_index=True, return_counts=True)
    rng = np.random.default_rng(seed)
    out = {name: np.full(n_samples, np.nan) for name in scores}
    for b in range(n_samples):
        drawn = rng.integers(0, starts.size, size=starts.size)
        lengths = counts[drawn]
        # Row positions: each drawn user's run of rows in the user-sorted order, back to back.
        offsets = np.repeat(starts[drawn] - (np.cumsum(lengths) - lengths), lengths)
        rows = order[offsets + np.arange(int(lengths.sum()))]
        for name, values in scores.items():
            out[name][b] = metric(labels[rows], np.asarray(values)[rows])
    return out

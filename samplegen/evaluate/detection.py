"""The detection test: how well a simple classifier tells synthetic records from real ones.

A catch-all fidelity figure: whatever the marginal metrics miss (basket shape, popularity mix,
category mix, the main directions of the real item sets), a logistic regression on
per-record features may pick up. 0.5 means indistinguishable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from samplegen.evaluate.records import (
    all_items,
    check_categories,
    checked_items,
    column_map,
    item_counts,
    popularity_order,
    record_sizes,
    row_normalised,
)
from samplegen.evaluate.stats import roc_auc

#: Upper bound on records per class in the detection test (after balancing).
DETECTION_MAX_PER_CLASS = 2000

#: Fewer records than this on either side and the detection AUC is NaN.
DETECTION_MIN_RECORDS = 10

#: Share of the catalogue counted as "head" items in the detection features.
DETECTION_HEAD_SHARE = 0.1

#: Most frequent categories whose shares are detection features.
DETECTION_TOP_CATEGORIES = 10

#: Most popular items spanned by the SVD features, and real records the SVD is fitted on.
DETECTION_SVD_ITEMS = 1000
DETECTION_SVD_RECORDS = 2000

#: Right singular vectors projected on (zero-padded when the matrix has lower rank).
DETECTION_SVD_COMPONENTS = 16

#: L2 penalty, convergence tolerance and most Newton steps of the detection classifier.
DETECTION_L2 = 1.0
DETECTION_TOLERANCE = 1e-10
DETECTION_MAX_ITER = 50


@dataclass(frozen=True)
class _FeatureReference:
    """Real-record statistics the detection features are measured against.

    Attributes:
        counts: ``(n_items,)`` reference popularity counts.
        head: ``(n_items,)`` bool, the ``DETECTION_HEAD_SHARE`` most popular items.
        category_column: Per item, its column among the top categories, or -1.
        svd_column: Per item, its column among the SVD items, or -1.
        components: ``(DETECTION_SVD_COMPONENTS, n_svd_items)`` right singular vectors.
    """

    counts: np.ndarray
    head: np.ndarray
    category_column: np.ndarray
    svd_column: np.ndarray
    components: np.ndarray


def detection_auc(
    real: Sequence[np.ndarray],
    synthetic: Sequence[np.ndarray],
    n_items: int,
    item_category: np.ndarray,
    seed: int,
) -> float:
    """Held-out AUC of a logistic regression telling real (0) from synthetic (1) records.

    Classes are balanced by sampling ``min(len(real), len(synthetic), 2000)`` records from each,
    then split 50/50 into train and test per class. Per-record features: ``log1p(size)``, mean
    and std of ``log1p`` real popularity of its items, share of its items among the real top 10%
    items, its shares of the 10 most frequent real categories, and its projection on the top 16
    right singular vectors of the L2 row-normalised real binary matrix over the 1000 most
    popular items (fitted on at most 2000 sampled real records). Features are standardised on
    the train split and an L2-penalised (lambda = 1) logistic regression is fitted by Newton's
    method.

    The real statistics behind the features are computed only from real records outside the
    test split, so test records are as new to the features as to the classifier. Real
    train-split records do count in them, so their popularity features use leave-one-out counts
    (minus their own interaction) lest the classifier learn a self-counting artefact.

    The raw AUC is reported (not ``max(auc, 1 - auc)``): 0.5 means indistinguishable, values
    clearly below 0.5 only arise from noise.

    Args:
        real: Real records.
        synthetic: Synthetic records.
        n_items: Catalogue size.
        item_category: ``(n_items,)`` category codes, -1 for unknown.
        seed: Seed of the sampling, split and SVD sample.

    Returns:
        The held-out AUC, or NaN if either side has fewer than 10 records.
    """
    item_category = check_categories(item_category, n_items)
    checked_items(real, n_items)
    checked_items(synthetic, n_items)
    if min(len(real), len(synthetic)) < DETECTION_MIN_RECORDS:
        return math.nan
    rng = np.random.default_rng(seed)
    real_train, real_test, synthetic_train, synthetic_test = balanced_halves(
        len(real), len(synthetic), rng
    )

    is_reference = np.ones(len(real), dtype=bool)
    is_reference[real_test] = False
    reference_idx = np.flatnonzero(is_reference)
    reference = _feature_reference([real[i] for i in reference_idx], n_items, item_category, rng)

    def features(records: Sequence[np.ndarray], idx: np.ndarray, in_reference: bool) -> np.ndarray:
        return _record_features([records[i] for i in idx], reference, in_reference)

    x_train = np.vstack(
        [features(real, real_train, True), features(synthetic, synthetic_train, False)]
    )
    x_test = np.vstack(
        [features(real, real_test, False), features(synthetic, synthetic_test, False)]
    )
    y_train = np.repeat([0.0, 1.0], [real_train.size, synthetic_train.size])
    y_test = np.repeat([0, 1], [real_test.size, synthetic_test.size])

    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    weights, bias = fit_logistic((x_train - mean) / std, y_train, DETECTION_L2)
    return roc_auc((x_test - mean) / std @ weights + bias, y_test)


def balanced_halves(
    n_real: int, n_synthetic: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The detection test's sample: train and test indices of the real and synthetic sides.

    ``min(n_real, n_synthetic, DETECTION_MAX_PER_CLASS)`` indices are drawn from each side
    without replacement and split in halves (the draw order is random, so the first half is a
    random half). Returns ``(real_train, real_test, synthetic_train, synthetic_test)``.
    """
    n_per_class = min(n_real, n_synthetic, DETECTION_MAX_PER_CLASS)
    real_idx = rng.choice(n_real, size=n_per_class, replace=False)
    synthetic_idx = rng.choice(n_synthetic, size=n_per_class, replace=False)
    n_train = n_per_class // 2
    return real_idx[:n_train], real_idx[n_train:], synthetic_idx[:n_train], synthetic_idx[n_train:]


def _feature_reference(
    reference: Sequence[np.ndarray],
    n_items: int,
    item_category: np.ndarray,
    rng: np.random.Generator,
) -> _FeatureReference:
    """Popularity, head set, top categories and SVD basis of the reference real records."""
    counts = item_counts(reference, n_items)
    order = popularity_order(counts)

    head = np.zeros(n_items, dtype=bool)
    head[order[: max(1, math.ceil(DETECTION_HEAD_SHARE * n_items))]] = True

    known = item_category >= 0
    category_column = np.full(n_items, -1, dtype=np.int64)
    if known.any():
        category_counts = np.bincount(item_category[known], weights=counts[known])
        top = popularity_order(category_counts)[:DETECTION_TOP_CATEGORIES]
        top = top[category_counts[top] > 0]
        column_of_category = column_map(top, category_counts.size)
        category_column[known] = column_of_category[item_category[known]]

    svd_items = order[: min(DETECTION_SVD_ITEMS, n_items)]
    svd_column = column_map(svd_items, n_items)
    n_fit = min(len(reference), DETECTION_SVD_RECORDS)
    sample = rng.choice(len(reference), size=n_fit, replace=False)
    x = row_normalised([reference[i] for i in sample], svd_column, svd_items.size)
    components = np.zeros((DETECTION_SVD_COMPONENTS, svd_items.size), dtype=np.float64)
    if n_fit:
        _, _, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
        k = min(DETECTION_SVD_COMPONENTS, vt.shape[0])
        components[:k] = vt[:k]
    return _FeatureReference(counts, head, category_column, svd_column, components)


def _record_features(
    records: Sequence[np.ndarray], reference: _FeatureReference, in_reference: bool
) -> np.ndarray:
    """Per-record detection features, one row per record (all zeros for an empty record).

    Args:
        records: Records to describe.
        reference: Real statistics to measure them against.
        in_reference: Whether these records counted in ``reference.counts``; if so their own
            interaction is removed from the popularity of their items (leave-one-out).

    Returns:
        ``(len(records), 4 + DETECTION_TOP_CATEGORIES + DETECTION_SVD_COMPONENTS)`` floats.
    """
    n = len(records)
    sizes = record_sizes(records)
    safe_sizes = np.maximum(sizes, 1).astype(np.float64)
    rows = np.repeat(np.arange(n), sizes)
    items = all_items(records)

    def per_record_mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(rows, weights=values, minlength=n) / safe_sizes

    log_pop = np.log1p(reference.counts[items] - (1 if in_reference else 0))
    mean_log_pop = per_record_mean(log_pop)
    std_log_pop = np.sqrt(per_record_mean((log_pop - mean_log_pop[rows]) ** 2))
    head_share = per_record_mean(reference.head[items].astype(np.float64))

    category_share = np.zeros((n, DETECTION_TOP_CATEGORIES), dtype=np.float64)
    columns = reference.category_column[items]
    known = columns >= 0
    np.add.at(category_share, (rows[known], columns[known]), 1.0)
    category_share /= safe_sizes[:, None]

    x = row_normalised(records, reference.svd_column, reference.components.shape[1])
    projection = x.astype(np.float64) @ reference.components.T

    return np.column_stack(
        [np.log1p(sizes), mean_log_pop, std_log_pop, head_share, category_share, projection]
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Fit an L2-penalised logistic regression with an unpenalised intercept (scikit-learn).

    Minimises ``sum(log-loss) + l2 / 2 * ||w||^2`` (``C = 1 / l2``) with Newton steps to a
    tight tolerance; the objective is strictly convex, so it converges even on separable data.

    Returns:
        The weights and the intercept.
    """
    model = LogisticRegression(
        C=1.0 / l2, solver="newton-cholesky", tol=DETECTION_TOLERANCE, max_iter=DETECTION_MAX_ITER
    )
    model.fit(x, y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])

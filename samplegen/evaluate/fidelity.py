"""Fidelity of synthetic records: how closely they follow the real ones, in plain numpy.

A record is one user's history, a 1-D int array of distinct item indices in ``[0, n_items)``.
The metrics compare the real and synthetic record sets on the marginals a recommender is most
sensitive to (item popularity, basket size, category mix), on pairwise structure (item
co-occurrence) and, as a catch-all, on how well a simple classifier can tell the two apart.

Everything is deterministic given the seed: sampling uses ``np.random.default_rng(seed)`` and
every ranking breaks ties by the lower index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Most popular real items whose pairs enter :func:`cooccurrence_corr` (dense gram matrix).
COOC_TOP_ITEMS = 300

#: Most co-occurring real item pairs correlated in the co-occurrence metric.
COOC_TOP_PAIRS = 1000

#: Records per dense chunk when building binary matrices (8192 x 1000 float32 is 32 MB).
_CHUNK_ROWS = 8192

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

#: L2 penalty and Newton steps of the detection logistic regression.
DETECTION_L2 = 1.0
DETECTION_NEWTON_STEPS = 50


# --- basic statistics --------------------------------------------------------------------------


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve, via the Mann-Whitney rank statistic.

    The AUC is the probability that a random positive scores above a random negative, ties
    counting one half; tied scores get their average rank, which yields exactly that.

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
    positive = labels == 1
    n_pos = int(positive.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"both classes are needed, got {n_pos} positives and {n_neg} negatives")
    ranks = _average_ranks(scores)
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the average of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    is_start = np.empty(ordered.size, dtype=bool)
    is_start[:1] = True
    is_start[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], ordered.size)  # exclusive
    group_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``max |ECDF_a(x) - ECDF_b(x)|``.

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
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both samples must be non-empty, got sizes {a.size} and {b.size}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("samples must not contain NaN")
    pooled = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, pooled, side="right") / a.size
    cdf_b = np.searchsorted(b, pooled, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


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


# --- record helpers ----------------------------------------------------------------------------


def record_sizes(records: Sequence[np.ndarray]) -> np.ndarray:
    """Number of items in each record, as int64."""
    return np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))


def item_counts(records: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Number of records containing each item (items are distinct within a record).

    Args:
        records: One int array of item indices per user.
        n_items: Catalogue size.

    Returns:
        ``(n_items,)`` int64 counts.

    Raises:
        ValueError: If ``n_items`` is not positive or an item index is outside ``[0, n_items)``.
    """
    return np.bincount(_checked_items(records, n_items), minlength=n_items).astype(np.int64)


def _checked_items(records: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """All records' items concatenated, after checking they are valid catalogue indices."""
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    items = _all_items(records)
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(
            f"item indices must be in [0, {n_items}), got range [{items.min()}, {items.max()}]"
        )
    return items


def _all_items(records: Sequence[np.ndarray]) -> np.ndarray:
    """All records' items concatenated, as int64."""
    if len(records) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.asarray(r, dtype=np.int64).ravel() for r in records])


def _popularity_order(counts: np.ndarray) -> np.ndarray:
    """Item indices from most to least counted, ties broken by the lower index."""
    return np.argsort(-counts, kind="stable")


def _column_map(columns: np.ndarray, n_items: int) -> np.ndarray:
    """Per item, its column among ``columns`` or -1 when it is not one of them."""
    column_of = np.full(n_items, -1, dtype=np.int64)
    column_of[columns] = np.arange(columns.size)
    return column_of


def _dense_rows(records: Sequence[np.ndarray], column_of: np.ndarray, n_cols: int) -> np.ndarray:
    """Dense float32 binary matrix of ``records`` over the items mapped by ``column_of``."""
    out = np.zeros((len(records), n_cols), dtype=np.float32)
    sizes = record_sizes(records)
    if sizes.sum() == 0:
        return out
    rows = np.repeat(np.arange(len(records)), sizes)
    cols = column_of[_all_items(records)]
    keep = cols >= 0
    out[rows[keep], cols[keep]] = 1.0
    return out


def _gram(records: Sequence[np.ndarray], column_of: np.ndarray, n_cols: int) -> np.ndarray:
    """``X.T @ X`` of the binary matrix of ``records``, built ``_CHUNK_ROWS`` rows at a time.

    Each chunk's product is exact in float32 (counts stay far below 2**24) and is accumulated
    in float64, so memory is bounded by one chunk whatever the number of records.
    """
    gram = np.zeros((n_cols, n_cols), dtype=np.float64)
    for start in range(0, len(records), _CHUNK_ROWS):
        x = _dense_rows(records[start : start + _CHUNK_ROWS], column_of, n_cols)
        gram += x.T @ x
    return gram


# --- fidelity metrics --------------------------------------------------------------------------


def fidelity_metrics(
    real: Sequence[np.ndarray],
    synthetic: Sequence[np.ndarray],
    n_items: int,
    item_category: np.ndarray,
    seed: int,
) -> dict[str, float]:
    """Compare synthetic records with real ones; lower distances / higher correlation is better.

    Metrics (NaN where a side has nothing to compare):

    - ``popularity_tvd``: total variation distance between the real and synthetic item
      interaction counts (shares of interactions per item).
    - ``popularity_rank_ks``: KS statistic between the real-popularity ranks (0 = most popular
      item in the real records, ties by lower index) of every real interaction and of every
      synthetic interaction; it tells whether synthetic interactions are as concentrated on
      head items, regardless of which head items they are.
    - ``basket_size_ks`` and ``basket_size_tvd``: KS statistic between the record lengths, and
      TVD between their histograms over sizes ``0..max``.
    - ``category_tvd``: TVD between the category shares of interactions (unknown category -1
      ignored).
    - ``cooccurrence_corr``: Pearson correlation between real and synthetic co-occurrence rates
      (records containing both items / number of records) over the ``COOC_TOP_PAIRS`` pairs
      co-occurring most in the real records, among the ``COOC_TOP_ITEMS`` most popular real
      items. NaN with fewer than 2 such pairs or zero variance on either side.
    - ``detection_auc``: held-out ROC AUC of an L2 logistic regression telling real (0) from
      synthetic (1) records on per-record features (see :func:`detection_auc`); 0.5 means
      indistinguishable. NaN if either side has fewer than ``DETECTION_MIN_RECORDS`` records.

    Args:
        real: Real records, one int array of distinct item indices per user.
        synthetic: Synthetic records, same format.
        n_items: Catalogue size.
        item_category: ``(n_items,)`` int category codes ``>= 0``, or -1 for unknown.
        seed: Seed of the detection test's sampling and split.

    Returns:
        Metric name to value.

    Raises:
        ValueError: If ``n_items`` is not positive, an item index is out of range, or
            ``item_category`` is not one code ``>= -1`` per item.
    """
    item_category = _check_categories(item_category, n_items)
    real_counts = item_counts(real, n_items)
    synthetic_counts = item_counts(synthetic, n_items)

    rank_of = np.empty(n_items, dtype=np.int64)
    rank_of[_popularity_order(real_counts)] = np.arange(n_items)
    real_sizes, synthetic_sizes = record_sizes(real), record_sizes(synthetic)
    return {
        "popularity_tvd": total_variation(real_counts, synthetic_counts),
        "popularity_rank_ks": _ks_or_nan(rank_of[_all_items(real)], rank_of[_all_items(synthetic)]),
        "basket_size_ks": _ks_or_nan(real_sizes, synthetic_sizes),
        "basket_size_tvd": _size_tvd(real_sizes, synthetic_sizes),
        "category_tvd": _category_tvd(real_counts, synthetic_counts, item_category),
        "cooccurrence_corr": cooccurrence_corr(real, synthetic, n_items),
        "detection_auc": detection_auc(real, synthetic, n_items, item_category, seed),
    }


def _check_categories(item_category: np.ndarray, n_items: int) -> np.ndarray:
    """Validate the per-item category codes and return them as int64."""
    item_category = np.asarray(item_category)
    if item_category.shape != (n_items,):
        raise ValueError(
            f"item_category must have one code per item ({n_items}), got {item_category.shape}"
        )
    if not np.issubdtype(item_category.dtype, np.integer):
        raise ValueError(f"item_category must be integer codes, got {item_category.dtype}")
    if item_category.size and item_category.min() < -1:
        raise ValueError("item_category codes must be >= 0, or -1 for unknown")
    return item_category.astype(np.int64)


def _ks_or_nan(a: np.ndarray, b: np.ndarray) -> float:
    """KS statistic, or NaN when either sample is empty."""
    return ks_statistic(a, b) if a.size and b.size else math.nan


def _size_tvd(real_sizes: np.ndarray, synthetic_sizes: np.ndarray) -> float:
    """TVD between the histograms of record sizes over ``0..max``."""
    if real_sizes.size == 0 or synthetic_sizes.size == 0:
        return math.nan
    n_bins = int(max(real_sizes.max(), synthetic_sizes.max())) + 1
    return total_variation(
        np.bincount(real_sizes, minlength=n_bins), np.bincount(synthetic_sizes, minlength=n_bins)
    )


def _category_tvd(
    real_counts: np.ndarray, synthetic_counts: np.ndarray, item_category: np.ndarray
) -> float:
    """TVD between interaction shares per known category."""
    known = item_category >= 0
    if not known.any():
        return math.nan
    n_categories = int(item_category.max()) + 1
    codes = item_category[known]
    return total_variation(
        np.bincount(codes, weights=real_counts[known], minlength=n_categories),
        np.bincount(codes, weights=synthetic_counts[known], minlength=n_categories),
    )


def cooccurrence_corr(
    real: Sequence[np.ndarray],
    synthetic: Sequence[np.ndarray],
    n_items: int,
    top_items: int = COOC_TOP_ITEMS,
    top_pairs: int = COOC_TOP_PAIRS,
) -> float:
    """Pearson correlation of real and synthetic co-occurrence rates over the top real pairs.

    The rate of a pair is the share of records containing both items. Pairs are taken among
    the ``top_items`` most popular real items (items with no real interaction excluded) and
    ranked by real rate, ties by lower item indices (pairs ``(a, b)`` with ``a < b`` compared
    lexicographically); only pairs that co-occur at least once in the real records are kept, at
    most ``top_pairs`` of them. A generator that reproduces popularity but not which items go
    together scores near 0.

    Args:
        real: Real records.
        synthetic: Synthetic records.
        n_items: Catalogue size.
        top_items: Most popular real items considered.
        top_pairs: Most co-occurring real pairs correlated.

    Returns:
        The correlation, or NaN if either side has no records, fewer than 2 pairs qualify, or
        either side's rates have zero variance.
    """
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan
    real_counts = item_counts(real, n_items)
    n_top = min(top_items, int((real_counts > 0).sum()))
    items = np.sort(_popularity_order(real_counts)[:n_top])  # index order: pair ties by index
    if items.size < 2:
        return math.nan
    column_of = _column_map(items, n_items)
    upper = np.triu_indices(items.size, k=1)
    real_rates = _gram(real, column_of, items.size)[upper] / len(real)
    order = np.argsort(-real_rates, kind="stable")
    order = order[real_rates[order] > 0][:top_pairs]
    if order.size < 2:
        return math.nan
    synthetic_rates = _gram(synthetic, column_of, items.size)[upper][order] / len(synthetic)
    return _pearson(real_rates[order], synthetic_rates)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation, NaN when either side has zero variance."""
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denominator == 0:
        return math.nan
    return float(dx @ dy) / denominator


# --- detection test ----------------------------------------------------------------------------


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
    item_category = _check_categories(item_category, n_items)
    _checked_items(real, n_items)
    _checked_items(synthetic, n_items)
    if min(len(real), len(synthetic)) < DETECTION_MIN_RECORDS:
        return math.nan
    rng = np.random.default_rng(seed)
    n_per_class = min(len(real), len(synthetic), DETECTION_MAX_PER_CLASS)
    real_idx = rng.choice(len(real), size=n_per_class, replace=False)
    synthetic_idx = rng.choice(len(synthetic), size=n_per_class, replace=False)
    n_train = n_per_class // 2
    real_train, real_test = real_idx[:n_train], real_idx[n_train:]  # choice order is random
    synthetic_train, synthetic_test = synthetic_idx[:n_train], synthetic_idx[n_train:]

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
    weights, bias = _fit_logistic((x_train - mean) / std, y_train, DETECTION_L2)
    return roc_auc((x_test - mean) / std @ weights + bias, y_test)


def _feature_reference(
    reference: Sequence[np.ndarray],
    n_items: int,
    item_category: np.ndarray,
    rng: np.random.Generator,
) -> _FeatureReference:
    """Popularity, head set, top categories and SVD basis of the reference real records."""
    counts = item_counts(reference, n_items)
    order = _popularity_order(counts)

    head = np.zeros(n_items, dtype=bool)
    head[order[: max(1, math.ceil(DETECTION_HEAD_SHARE * n_items))]] = True

    known = item_category >= 0
    category_column = np.full(n_items, -1, dtype=np.int64)
    if known.any():
        category_counts = np.bincount(item_category[known], weights=counts[known])
        top = _popularity_order(category_counts)[:DETECTION_TOP_CATEGORIES]
        top = top[category_counts[top] > 0]
        column_of_category = _column_map(top, category_counts.size)
        category_column[known] = column_of_category[item_category[known]]

    svd_items = order[: min(DETECTION_SVD_ITEMS, n_items)]
    svd_column = _column_map(svd_items, n_items)
    n_fit = min(len(reference), DETECTION_SVD_RECORDS)
    sample = rng.choice(len(reference), size=n_fit, replace=False)
    x = _row_normalised([reference[i] for i in sample], svd_column, svd_items.size)
    components = np.zeros((DETECTION_SVD_COMPONENTS, svd_items.size), dtype=np.float64)
    if n_fit:
        _, _, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
        k = min(DETECTION_SVD_COMPONENTS, vt.shape[0])
        components[:k] = vt[:k]
    return _FeatureReference(counts, head, category_column, svd_column, components)


def _row_normalised(
    records: Sequence[np.ndarray], column_of: np.ndarray, n_cols: int
) -> np.ndarray:
    """Dense binary matrix with each non-empty row scaled to unit L2 norm."""
    x = _dense_rows(records, column_of, n_cols)
    norms = np.sqrt(x.sum(axis=1, keepdims=True))  # binary rows: squared norm = row sum
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


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
    items = _all_items(records)

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

    x = _row_normalised(records, reference.svd_column, reference.components.shape[1])
    projection = x.astype(np.float64) @ reference.components.T

    return np.column_stack(
        [np.log1p(sizes), mean_log_pop, std_log_pop, head_share, category_share, projection]
    )


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Fit an L2-penalised logistic regression with an unpenalised intercept by Newton's method.

    Minimises ``sum(log-loss) + l2 / 2 * ||w||^2``; the objective is strictly convex, so a few
    dozen full Newton steps converge even on separable data.

    Returns:
        The weights and the intercept.
    """
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    theta = np.zeros(d + 1)
    for _ in range(DETECTION_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -35.0, 35.0)))
        gradient = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], float(theta[-1])


#: Categorical columns of an item row compared by :func:`item_fidelity`.
ITEM_COLUMNS = ("category", "department", "brand")


def item_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """How closely synthetic item rows follow the real catalogue, column by column.

    - ``tvd:<column>`` for category, department and brand: TVD of the value shares (nulls are
      a value of their own);
    - ``ks:price``: KS between the real and synthetic prices (rows with a price);
    - ``pair_tvd:department,category``: TVD of the joint (department, category) shares, the
      association a per-column figure cannot see;
    - with a ``title`` column on both sides: ``tvd:title_words``, TVD of the word shares over
      all titles, and ``ks:title_length``, KS between the words per title.

    Args:
        real: Real item rows with :data:`ITEM_COLUMNS` and ``price`` (``title`` optional).
        synthetic: Synthetic item rows with the same columns.

    Returns:
        The figures by name; NaN where a side has nothing to compare.
    """
    out: dict[str, float] = {}
    for column in ITEM_COLUMNS:
        out[f"tvd:{column}"] = _share_tvd(real[column], synthetic[column])
    real_price = pd.to_numeric(real["price"], errors="coerce").dropna().to_numpy()
    synthetic_price = pd.to_numeric(synthetic["price"], errors="coerce").dropna().to_numpy()
    out["ks:price"] = _ks_or_nan(real_price, synthetic_price)
    pair = ["department", "category"]
    out["pair_tvd:department,category"] = _share_tvd(
        real[pair].astype(str).agg("|".join, axis=1),
        synthetic[pair].astype(str).agg("|".join, axis=1),
    )
    if "title" in real.columns and "title" in synthetic.columns:
        real_words = real["title"].dropna().astype(str).str.split()
        synthetic_words = synthetic["title"].dropna().astype(str).str.split()
        out["tvd:title_words"] = _share_tvd(real_words.explode(), synthetic_words.explode())
        out["ks:title_length"] = _ks_or_nan(
            real_words.map(len).to_numpy(float), synthetic_words.map(len).to_numpy(float)
        )
    return out


def _share_tvd(real: pd.Series, synthetic: pd.Series) -> float:
    """TVD between the value shares of two columns (null counted as a value)."""
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan
    counts = pd.concat(
        [
            real.astype(object).fillna("<null>").value_counts().rename("real"),
            synthetic.astype(object).fillna("<null>").value_counts().rename("synthetic"),
        ],
        axis=1,
    ).fillna(0)
    return total_variation(counts["real"].to_numpy(), counts["synthetic"].to_numpy())

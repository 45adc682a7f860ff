"""Top-k ranking metrics and bootstrap confidence intervals, vectorised over users.

Everything here works on dense per-user arrays so stage 4 can score 100k users against a few
thousand items without Spark: scores are ranked in row chunks to bound memory, and the metric
functions are vectorised over users instead of looping in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

#: Rows ranked per chunk in :func:`top_k_items`; 2048 x 5000 float64 is about 80 MB.
TOP_K_CHUNK_ROWS = 2048

#: Upper bound on resampled indices held at once by the bootstrap (about 32 MB of int64).
_BOOTSTRAP_BATCH_ELEMENTS = 4_000_000


#: The ranking metrics of the utility rows, in the order their rows are written.
RANKING_METRICS = ("recall", "ndcg")


def top_k_items(
    scores: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray],
    chunk_rows: int = TOP_K_CHUNK_ROWS,
) -> np.ndarray:
    """Return each user's ``k`` best-scored items, best first, skipping their training items.

    Training items are masked to ``-inf`` so a recommender is never credited for repeating what
    the user already had. Ties are broken by the lower item index so the ranking, and every
    metric computed from it, is deterministic. NaN scores rank like ``-inf``. A user with fewer
    than ``k`` non-excluded items gets excluded items (lowest index first) at the end of the row,
    which can never be hits because targets are disjoint from training items.

    Rows are processed ``chunk_rows`` at a time on a copy, so the caller's array is left
    untouched and peak memory stays proportional to the chunk, not to the whole matrix.

    Args:
        scores: ``(n_users, n_items)`` float scores; higher is better.
        k: How many items to return per user; must be positive.
        exclude: One int array of item indices per user (the user's training items).
        chunk_rows: Users ranked per chunk.

    Returns:
        ``(n_users, min(k, n_items))`` int64 item indices, best first.

    Raises:
        ValueError: If ``scores`` is not 2-D, ``k`` or ``chunk_rows`` is not positive, or
            ``exclude`` does not have one entry per user.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {scores.shape}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    n_users, n_items = scores.shape
    if len(exclude) != n_users:
        raise ValueError(f"exclude has {len(exclude)} entries but scores has {n_users} users")
    k_eff = min(k, n_items)
    out = np.empty((n_users, k_eff), dtype=np.int64)
    if k_eff == 0:
        return out
    for start in range(0, n_users, chunk_rows):
        stop = min(start + chunk_rows, n_users)
        out[start:stop] = _top_k_chunk(scores[start:stop], k_eff, exclude[start:stop])
    return out


def _top_k_chunk(scores: np.ndarray, k: int, exclude: Sequence[np.ndarray]) -> np.ndarray:
    """Rank one chunk of rows; ``1 <= k <= n_items`` is guaranteed by the caller.

    :func:`_k_largest` picks ``k`` candidates per row and only those are sorted, stably, so
    equal scores keep index order. It picks arbitrarily among items tied at the k-th value, so
    rows where such a tie reaches outside the candidates are re-selected exactly: everything
    above the k-th value plus the lowest-indexed items equal to it.
    """
    dtype = scores.dtype if np.issubdtype(scores.dtype, np.floating) else np.float64
    block = np.array(scores, dtype=dtype, copy=True)
    block[np.isnan(block)] = -np.inf
    n_rows, n_items = block.shape

    lengths = np.fromiter((len(e) for e in exclude), dtype=np.int64, count=n_rows)
    if lengths.sum() > 0:
        rows = np.repeat(np.arange(n_rows), lengths)
        cols = np.concatenate([np.asarray(e, dtype=np.int64).ravel() for e in exclude])
        block[rows, cols] = -np.inf

    candidates, candidate_scores = _k_largest(block, k)
    threshold = candidate_scores.min(axis=1, keepdims=True)
    ties_in_row = np.count_nonzero(block == threshold, axis=1)
    ties_taken = np.count_nonzero(candidate_scores == threshold, axis=1)
    redo = np.flatnonzero(ties_in_row > ties_taken)
    if redo.size:
        candidates[redo] = _select_with_ties(block[redo], threshold[redo], k)
        candidate_scores[redo] = np.take_along_axis(block[redo], candidates[redo], axis=1)

    # Sort candidates by index first so the stable sort by score breaks ties by lower index.
    by_index = np.argsort(candidates, axis=1)
    candidates = np.take_along_axis(candidates, by_index, axis=1)
    candidate_scores = np.take_along_axis(candidate_scores, by_index, axis=1)
    order = np.argsort(-candidate_scores, axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def _k_largest(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` items of each row holding its ``k`` largest values (any of those tied at the k-th).

    ``torch.topk`` takes about a tenth of ``np.argpartition``'s time on a 2,048 x 5,000 float32
    block (0.025 s against 0.22-0.32 s on 2 cores; ``bench/scoring_block.py`` times whole
    scoring blocks). Which tied items it picks does not matter: :func:`_top_k_chunk`
    re-selects rows whose tie at the k-th value reaches outside them.

    Returns:
        ``(indices, values)``, both ``(n_rows, k)``, in no particular order.
    """
    import torch  # a dependency of samplegen; imported here so metrics stays light to import

    values, indices = torch.topk(torch.from_numpy(block), k, dim=1, largest=True, sorted=False)
    return indices.numpy(), values.numpy()


def _select_with_ties(block: np.ndarray, threshold: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` items above ``threshold`` or the lowest-indexed ones equal to it, per row.

    Returns:
        ``(n_rows, k)`` item indices in ascending index order.
    """
    above = block > threshold
    at = block == threshold
    still_needed = k - np.count_nonzero(above, axis=1)
    first_ties = at & (np.cumsum(at, axis=1, dtype=np.int32) <= still_needed[:, None])
    _, cols = np.nonzero(above | first_ties)
    return cols.reshape(block.shape[0], k)  # row-major nonzero keeps index order in a row


def hits_and_target_sizes(
    top_k: np.ndarray, targets: Sequence[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mark which of each user's first ``k`` recommendations are targets.

    Users and items are packed into one int64 key so a single ``np.isin`` answers membership
    for every user at once. Duplicate target items are counted once.

    Returns:
        ``(hits, n_targets)``: ``(n_users, min(k, top_k.shape[1]))`` bool and
        ``(n_users,)`` int64 counts of distinct targets.
    """
    if top_k.ndim != 2:
        raise ValueError(f"top_k must be 2-D (n_users, k), got shape {top_k.shape}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    n_users = top_k.shape[0]
    if len(targets) != n_users:
        raise ValueError(f"targets has {len(targets)} entries but top_k has {n_users} users")
    ranked = np.asarray(top_k[:, :k], dtype=np.int64)

    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=n_users)
    target_items = (
        np.concatenate([np.asarray(t, dtype=np.int64).ravel() for t in targets])
        if lengths.sum() > 0
        else np.empty(0, dtype=np.int64)
    )
    n_keys = int(max(ranked.max(initial=-1), target_items.max(initial=-1))) + 2
    target_users = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    # +1 so a -1 padding index never collides with a real item of the same user.
    target_keys = np.unique(target_users * n_keys + target_items + 1)
    n_targets = np.bincount(target_keys // n_keys, minlength=n_users).astype(np.int64)

    ranked_keys = np.arange(n_users, dtype=np.int64)[:, None] * n_keys + ranked + 1
    hits = np.isin(ranked_keys, target_keys)
    return hits, n_targets


def recall_at_k(top_k: np.ndarray, targets: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Per-user recall@k: hits in the first ``k`` over ``min(k, |target|)``.

    Capping the denominator at ``k`` (as in Liang et al. 2018) makes a perfect ranking score
    1.0 even for users with more than ``k`` held-out items.

    Args:
        top_k: ``(n_users, >= k)`` ranked item indices, best first (see :func:`top_k_items`).
        targets: One int array of held-out item indices per user.
        k: Cut-off.

    Returns:
        ``(n_users,)`` float64; NaN for users with no targets.
    """
    hits, n_targets = hits_and_target_sizes(top_k, targets, k)
    denom = np.minimum(k, n_targets).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits.sum(axis=1) / denom
    recall[n_targets == 0] = np.nan
    return recall


def ndcg_at_k(top_k: np.ndarray, targets: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Per-user NDCG@k with binary relevance.

    DCG sums ``1 / log2(rank + 2)`` over hits at ranks ``0..k-1``; IDCG is the DCG of
    ``min(k, |target|)`` hits at the top, so a perfect ranking scores 1.0.

    Args:
        top_k: ``(n_users, >= k)`` ranked item indices, best first (see :func:`top_k_items`).
        targets: One int array of held-out item indices per user.
        k: Cut-off.

    Returns:
        ``(n_users,)`` float64; NaN for users with no targets.
    """
    hits, n_targets = hits_and_target_sizes(top_k, targets, k)
    discounts = 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)
    dcg = hits.astype(np.float64) @ discounts[: hits.shape[1]]
    ideal_cumulative = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal_cumulative[np.minimum(k, n_targets)]
    ndcg = np.full(hits.shape[0], np.nan)
    has_targets = n_targets > 0
    ndcg[has_targets] = dcg[has_targets] / idcg[has_targets]
    return ndcg


def _bootstrap_means(values: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """Means of ``n_samples`` resamples (with replacement) of ``values``.

    Resamples are drawn in batches so memory stays bounded for many users and samples; the
    batch layout depends only on the sizes, so a seed always gives the same means.
    """
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    batch = max(1, _BOOTSTRAP_BATCH_ELEMENTS // n)
    means = np.empty(n_samples, dtype=np.float64)
    for start in range(0, n_samples, batch):
        stop = min(start + batch, n_samples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def check_bootstrap_args(n_samples: int, alpha: float) -> None:
    """Reject settings for which a percentile interval is meaningless."""
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def bootstrap_ci(
    values: np.ndarray, n_samples: int, seed: int, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over users.

    Users are the resampling unit because per-user metrics are the independent observations.
    NaNs (users without targets) are dropped first.

    Args:
        values: ``(n_users,)`` per-user metric values.
        n_samples: Number of bootstrap resamples.
        seed: Seed for the resampling; the same seed gives the same interval.
        alpha: Two-sided error rate; 0.05 gives a 95% interval.

    Returns:
        ``(low, high)``; ``(nan, nan)`` if no value is finite.
    """
    check_bootstrap_args(n_samples, alpha)
    clean = np.asarray(values, dtype=np.float64).ravel()
    clean = clean[~np.isnan(clean)]
    if clean.size == 0:
        return float("nan"), float("nan")
    return percentile_interval(_bootstrap_means(clean, n_samples, seed), alpha)


def percentile_interval(means: np.ndarray, alpha: float) -> tuple[float, float]:
    """The ``alpha / 2`` and ``1 - alpha / 2`` quantiles of bootstrap ``means``; NaN if none."""
    if means.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


class PairedComparison(NamedTuple):
    """Mean paired difference ``b - a`` with its bootstrap CI and two-sided p-value."""

    diff: float
    low: float
    high: float
    p_value: float


def bootstrap_p_value(means: np.ndarray) -> float:
    """Two-sided p-value of "the mean difference is zero" from its bootstrap distribution.

    With ``B`` resampled means, ``p = min(1, 2 min((#{m <= 0} + 1) / (B + 1), (#{m >= 0} + 1)
    / (B + 1)))``: twice the smaller tail share at zero, with the usual +1 correction
    (Davison & Hinkley 1997, eq. 4.11) so that a p-value is never exactly 0 and a percentile
    CI at level ``1 - alpha`` excludes zero about when ``p < alpha``. When every resampled
    mean is 0 (identical per-user values) both tails hold everything and ``p`` is 1.

    Args:
        means: The bootstrap means of the paired differences.

    Returns:
        The p-value in ``(0, 1]``; NaN when there are no means.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.size == 0:
        return float("nan")
    total = means.size + 1
    below = (np.count_nonzero(means <= 0) + 1) / total
    above = (np.count_nonzero(means >= 0) + 1) / total
    return float(min(1.0, 2.0 * min(below, above)))


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, n_samples: int, seed: int, alpha: float = 0.05
) -> PairedComparison:
    """Mean of ``b - a`` over the same users, with a paired percentile bootstrap CI and p-value.

    Resampling users jointly keeps each user's two scores together, which removes the
    between-user variance that an unpaired comparison of two intervals would carry. Users with
    a NaN in either array are dropped. The p-value comes from the same resampled means (see
    :func:`bootstrap_p_value`).

    Args:
        a: ``(n_users,)`` per-user values of the baseline (e.g. trained on real data).
        b: ``(n_users,)`` per-user values of the candidate (e.g. trained on augmented data).
        n_samples: Number of bootstrap resamples.
        seed: Seed for the resampling.
        alpha: Two-sided error rate of the interval.

    Returns:
        ``(diff, low, high, p_value)``; all NaN if no user has both values.

    Raises:
        ValueError: If ``a`` and ``b`` have different shapes.
    """
    check_bootstrap_args(n_samples, alpha)
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must cover the same users, got {a.shape} and {b.shape}")
    diff = b - a
    diff = diff[~np.isnan(diff)]
    if diff.size == 0:
        nan = float("nan")
        return PairedComparison(nan, nan, nan, nan)
    means = _bootstrap_means(diff, n_samples, seed)
    low, high = percentile_interval(means, alpha)
    return PairedComparison(float(diff.mean()), low, high, bootstrap_p_value(means))


def paired_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, n_samples: int, seed: int, alpha: float = 0.05
) -> tuple[float, float, float]:
    """``(diff, low, high)`` of :func:`paired_bootstrap`, without the p-value."""
    diff, low, high, _ = paired_bootstrap(a, b, n_samples, seed, alpha)
    return diff, low, high


def catalogue_coverage(top_k: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top-k.

    A recommender that only ever shows the same few items scores near zero even if its
    accuracy is good, so this is reported next to recall and NDCG.

    Args:
        top_k: ``(n_users, k)`` ranked item indices.
        n_items: Catalogue size.

    Returns:
        Distinct recommended items divided by ``n_items``, in ``[0, 1]``.

    Raises:
        ValueError: If ``n_items`` is not positive.
    """
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    items = np.asarray(top_k).ravel()
    items = items[(items >= 0) & (items < n_items)]
    return float(np.unique(items).size / n_items)

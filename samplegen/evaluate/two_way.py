"""Confidence intervals that resample items as well as users, for rankings of few candidates.

The user bootstrap of :mod:`samplegen.evaluate.metrics` treats each user's metric as an
independent draw and the items as fixed. That is right when thousands of items share the
targets, but not on ``items_new``: there every model ranks the same few dozen or few thousand
new items, most targets fall on a handful of them, and a model that happens to put one of
those first gains for every user at once. That luck is shared across users, so resampling
users alone cannot see it (on MovieLens-100K, one fixed random order of the 60 new items sold
in the test period, shared by every user, scores NDCG@20 0.160 on average over 300 orders and
0.438 at best; see ``bench/README.md``).

Here users and items are both resampled, with independent Poisson(1) weights (the Poisson
form of the pigeonhole bootstrap of Owen 2007, "The pigeonhole bootstrap", Ann. Appl. Stat.):
an item drawn ``m`` times stands ``m`` times in every ranking, each copy taking a slot and,
if it is a target, a hit; an item drawn 0 times leaves every ranking and every target set.
Both models of a paired comparison see the same draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samplegen.evaluate.metrics import (
    RANKING_METRICS,
    PairedComparison,
    bootstrap_p_value,
    check_bootstrap_args,
    hits_and_target_sizes,
    ndcg_at_k,
    percentile_interval,
    recall_at_k,
)

#: A ranking is kept this many times the cut-off deep (and at least 40 items), so the slots of
#: the items a replicate drops are filled from further down: 80 Poisson(1) draws sum to under
#: 20 with probability 3e-16, 40 to under 10 with probability 4e-9.
DEPTH_PER_CUTOFF = 4
_LEAST_DEPTH = 40


def ranking_depth(k: int) -> int:
    """How deep a ranking must be for a cut-off ``k`` whose items are resampled."""
    return max(DEPTH_PER_CUTOFF * k, _LEAST_DEPTH)


METRIC_OF = {"recall": recall_at_k, "ndcg": ndcg_at_k}


class _Targets:
    """Each user's distinct target items, flat, for summing their weights in one call."""

    def __init__(self, targets: Sequence[np.ndarray]) -> None:
        distinct = [np.unique(np.asarray(t, dtype=np.int64)) for t in targets]
        self.n_users = len(distinct)
        self.users = np.repeat(np.arange(self.n_users), [len(t) for t in distinct])
        self.items = np.concatenate(distinct) if distinct else np.empty(0, dtype=np.int64)

    def drawn(self, item_weights: np.ndarray) -> np.ndarray:
        """Each user's target copies: the summed weights of their distinct targets."""
        counts = np.bincount(self.users, item_weights[self.items], minlength=self.n_users)
        return counts.astype(np.int64)


def replicate_values(
    top: np.ndarray, targets: Sequence[np.ndarray], k: int, item_weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-user recall and NDCG@k when each item ``j`` stands ``item_weights[j]`` times.

    ``top`` is each user's ranking, best first, deep enough that the copies of its items fill
    ``k`` slots. With every weight 1 these are :func:`~samplegen.evaluate.metrics.recall_at_k`
    and :func:`~samplegen.evaluate.metrics.ndcg_at_k` of ``top``.

    Returns:
        ``{"recall": values, "ndcg": values}``, ``(n_users,)`` float64 each; NaN for users
        none of whose targets is drawn.
    """
    is_target, _ = hits_and_target_sizes(top, targets, top.shape[1])
    return _values(top, is_target, _Targets(targets), k, item_weights)


def _values(
    top: np.ndarray, is_target: np.ndarray, targets: _Targets, k: int, item_weights: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`replicate_values` with the target marks and the flat targets computed once."""
    copies = item_weights[top]
    after = np.cumsum(copies, axis=1)
    slots_before, slots_after = np.minimum(after - copies, k), np.minimum(after, k)
    drawn_targets = targets.drawn(item_weights)
    ideal = np.minimum(drawn_targets, k)
    cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
    gains = {
        "recall": ((slots_after - slots_before) * is_target).sum(axis=1).astype(np.float64),
        "ndcg": ((cumulative[slots_after] - cumulative[slots_before]) * is_target).sum(axis=1),
    }
    ideals = {"recall": ideal.astype(np.float64), "ndcg": cumulative[ideal]}
    drawn = drawn_targets > 0
    out = {}
    for metric in RANKING_METRICS:
        out[metric] = np.full(len(drawn_targets), np.nan)
        out[metric][drawn] = gains[metric][drawn] / ideals[metric][drawn]
    return out


def _replicate_means(
    tops: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    k: int,
    n_samples: int,
    seed: int,
) -> np.ndarray:
    """Each ranking's mean recall and NDCG@k in each replicate: ``(samples, rankings, 2)``.

    Every ranking sees the same item and user weights, so differences between rankings are
    paired. A replicate that drew no user with a drawn target is left out.
    """
    if any(top.shape[0] != len(targets) for top in tops):
        raise ValueError(
            "the rankings and targets must cover the same users, got "
            f"{[top.shape[0] for top in tops]} and {len(targets)}"
        )
    largest_ranked = max(int(top.max(initial=-1)) for top in tops)
    # Users without targets never count: drawn for every user (the same draws whoever has
    # targets), computed for those with targets only.
    has_targets = np.array([len(t) > 0 for t in targets], dtype=bool)
    targets = [t for t, has in zip(targets, has_targets, strict=True) if has]
    tops = [top[has_targets] for top in tops]
    flat = _Targets(targets)
    n_items = 1 + max(largest_ranked, int(flat.items.max(initial=-1)))
    marks = [hits_and_target_sizes(top, targets, top.shape[1])[0] for top in tops]
    rng = np.random.default_rng(seed)
    means = np.full((n_samples, len(tops), len(RANKING_METRICS)), np.nan)
    for sample in range(n_samples if len(flat.items) else 0):
        item_weights = rng.poisson(1.0, n_items)
        user_weights = rng.poisson(1.0, len(has_targets))[has_targets].astype(np.float64)
        for column, (top, is_target) in enumerate(zip(tops, marks, strict=True)):
            values = _values(top, is_target, flat, k, item_weights)
            counted = np.isfinite(values["ndcg"]) & (user_weights > 0)
            if counted.any():
                weights = user_weights[counted] / user_weights[counted].sum()
                means[sample, column] = [
                    (values[m][counted] * weights).sum() for m in RANKING_METRICS
                ]
    return means[np.isfinite(means[:, 0, 0])]


def two_way_bootstrap_ci(
    top: np.ndarray,
    targets: Sequence[np.ndarray],
    k: int,
    n_samples: int,
    seed: int,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of one ranking's mean recall and NDCG@k, users and items resampled.

    Returns:
        ``{"recall": (low, high), "ndcg": (low, high)}``; NaN if no user has targets.
    """
    check_bootstrap_args(n_samples, alpha)
    means = _replicate_means([top], targets, k, n_samples, seed)[:, 0]
    return {
        metric: percentile_interval(means[:, column], alpha)
        for column, metric in enumerate(RANKING_METRICS)
    }


def two_way_paired_bootstrap(
    top_a: np.ndarray,
    top_b: np.ndarray,
    targets: Sequence[np.ndarray],
    k: int,
    n_samples: int,
    seed: int,
    alpha: float = 0.05,
) -> dict[str, PairedComparison]:
    """Mean of ``b - a`` (recall and NDCG@k) over users, with CIs resampling users and items.

    The differences are those of :func:`~samplegen.evaluate.metrics.paired_bootstrap` on
    the same users; their intervals and p-values also carry the luck of which items each
    model puts first (see the module docstring).

    Args:
        top_a: ``(n_users, depth)`` rankings of the baseline, best first.
        top_b: ``(n_users, depth)`` rankings of the candidate, best first.
        targets: One int array of target item indices per user.
        k: Cut-off; ``depth`` should be :func:`ranking_depth` of it, or every column.
        n_samples: Number of bootstrap replicates.
        seed: Seed of the user and item draws.
        alpha: Two-sided error rate of the intervals.

    Returns:
        ``{"recall": (diff, low, high, p_value), "ndcg": ...}``; all NaN if no user has
        targets.
    """
    check_bootstrap_args(n_samples, alpha)
    means = _replicate_means([top_a, top_b], targets, k, n_samples, seed)
    differences = means[:, 1] - means[:, 0]
    observed = {
        metric: METRIC_OF[metric](top_b, targets, k) - METRIC_OF[metric](top_a, targets, k)
        for metric in RANKING_METRICS
    }
    if differences.shape[0] == 0:
        nan = float("nan")
        return {metric: PairedComparison(nan, nan, nan, nan) for metric in RANKING_METRICS}
    out = {}
    for column, metric in enumerate(RANKING_METRICS):
        low, high = percentile_interval(differences[:, column], alpha)
        diff = float(np.nanmean(observed[metric]))
        out[metric] = PairedComparison(diff, low, high, bootstrap_p_value(differences[:, column]))
    return out

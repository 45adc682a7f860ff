"""Disclosure risk of synthetic records, i.e. how much they leak the real training records.

Named ``disclosure`` to keep it apart from :mod:`samplegen.generate.privacy`, the filter applied
when synthetic records are written; this module only measures, after the fact.

All measures rest on the Jaccard similarity of item sets, ``|a & b| / |a | b|``, and the
distance to closest record (DCR, one minus the largest similarity to any record of a reference
set). Synthetic records are judged against fresh real records the generator never saw
(holdout): a generator that generalises puts its records no closer to the training records
than new real users are, and gives an attacker no way to tell training members from others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from samplegen.evaluate.records import record_sizes
from samplegen.evaluate.stats import roc_auc

#: Records per dense chunk in :func:`closest_jaccard`.
JACCARD_CHUNK_ROWS = 1024


def closest_jaccard(
    queries: Sequence[np.ndarray],
    references: Sequence[np.ndarray],
    n_items: int,
    exclude: np.ndarray | None = None,
    chunk_rows: int = JACCARD_CHUNK_ROWS,
) -> np.ndarray:
    """For each query, its largest Jaccard similarity to any reference record.

    Records are treated as item sets. Intersections come from products of dense float32 binary
    matrices (exact: counts stay far below 2**24), taken ``chunk_rows`` queries against
    ``chunk_rows`` references at a time, so peak memory is a few ``chunk_rows x n_items`` and
    ``chunk_rows x chunk_rows`` blocks whatever the number of records.

    Args:
        queries: Records to score, one int array of item indices per user.
        references: Records to match against.
        n_items: Catalogue size.
        exclude: Optional ``(len(queries),)`` ints; ``exclude[i]`` is a reference row query ``i``
            may not match (the same user's own record), or -1 for none.
        chunk_rows: Rows per dense chunk, for queries and references alike.

    Returns:
        ``(len(queries),)`` float64 similarities in ``[0, 1]``; 0 when no reference is allowed.
        Two empty sets have similarity 0 (nothing in common to disclose).

    Raises:
        ValueError: If ``n_items`` or ``chunk_rows`` is not positive, an item index is outside
            ``[0, n_items)``, or ``exclude`` is not one row index in ``[-1, len(references))``
            per query.
    """
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    n_queries, n_references = len(queries), len(references)
    if exclude is None:
        exclude = np.full(n_queries, -1, dtype=np.int64)
    exclude = np.asarray(exclude)
    if exclude.shape != (n_queries,):
        raise ValueError(
            f"exclude must have one entry per query ({n_queries}), got {exclude.shape}"
        )
    if exclude.size and (exclude.min() < -1 or exclude.max() >= n_references):
        raise ValueError(f"exclude entries must be -1 or a reference row in [0, {n_references})")
    exclude = exclude.astype(np.int64)

    best = np.zeros(n_queries, dtype=np.float64)
    for q_start in range(0, n_queries, chunk_rows):
        q_stop = min(q_start + chunk_rows, n_queries)
        q = _binary_rows(queries[q_start:q_stop], n_items)
        q_sizes = q.sum(axis=1, dtype=np.float64)
        q_exclude = exclude[q_start:q_stop]
        for r_start in range(0, n_references, chunk_rows):
            r_stop = min(r_start + chunk_rows, n_references)
            r = _binary_rows(references[r_start:r_stop], n_items)
            intersection = (q @ r.T).astype(np.float64)  # exact integers; float64 ratios
            union = q_sizes[:, None] + r.sum(axis=1, dtype=np.float64)[None, :] - intersection
            similarity = np.divide(
                intersection, union, out=np.zeros_like(intersection), where=union > 0
            )
            hit = (q_exclude >= r_start) & (q_exclude < r_stop)
            similarity[np.flatnonzero(hit), q_exclude[hit] - r_start] = -1.0
            np.maximum(best[q_start:q_stop], similarity.max(axis=1), out=best[q_start:q_stop])
    return best


def _binary_rows(records: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Dense float32 ``(len(records), n_items)`` binary matrix, checking item indices."""
    out = np.zeros((len(records), n_items), dtype=np.float32)
    sizes = record_sizes(records)
    if sizes.sum() == 0:
        return out
    items = np.concatenate([np.asarray(r, dtype=np.int64).ravel() for r in records])
    if items.min() < 0 or items.max() >= n_items:
        raise ValueError(
            f"item indices must be in [0, {n_items}), got range [{items.min()}, {items.max()}]"
        )
    out[np.repeat(np.arange(len(records)), sizes), items] = 1.0
    return out


@dataclass
class DisclosureResult:
    """Disclosure metrics plus the per-record distances behind them (for plots).

    Attributes:
        metrics: Metric name to value; see :func:`disclosure_metrics`.
        dcr_synthetic: DCR of each sampled synthetic record to the training records.
        dcr_holdout: DCR of each sampled holdout record to the training records, its own
            user's training record excluded.
    """

    metrics: dict[str, float]
    dcr_synthetic: np.ndarray
    dcr_holdout: np.ndarray


def disclosure_metrics(
    train: Sequence[np.ndarray],
    holdout: Sequence[np.ndarray],
    holdout_owner: np.ndarray,
    synthetic: Sequence[np.ndarray],
    n_items: int,
    seed: int,
    max_records: int = 2000,
) -> DisclosureResult:
    """Measure how much the synthetic records reveal about the generator's training records.

    Synthetic and holdout records are first sampled down to ``max_records`` each. Metrics:

    - ``dcr_synthetic_median`` / ``dcr_synthetic_p05``: median and 5th percentile of the DCR of
      synthetic records to the training records.
    - ``dcr_holdout_median`` / ``dcr_holdout_p05``: the same for holdout records, each one's
      owner excluded (a user's own past is not a leak). This is the baseline: how close a new
      real record naturally falls to the training data.
    - ``dcr_closer_share``: share of synthetic records with a DCR below the holdout 5th
      percentile; about 0.05 if synthetic records are no closer than fresh real ones, more if
      the generator reproduces training records.
    - ``exact_copy_share``: share of non-empty synthetic records identical to a training record
      (DCR 0).
    - ``mia_auc``: AUC of a distance-based membership inference attack. Members are a seeded
      sample of training records, non-members are holdout records, equally many. A record's
      attack score is its closest Jaccard similarity to the (whole) synthetic set minus its
      closest similarity to the training records excluding its own user, the latter
      calibrating for how typical the record is. 0.5 means the synthetic data gives no
      membership signal.
    - ``n_synthetic`` / ``n_holdout``: the sampled counts.

    Metrics that need synthetic records are NaN when there are none; those that need holdout
    records are NaN when there are none.

    Args:
        train: The generator's real training records, one per user.
        holdout: Real records the generator did not see (e.g. test-period baskets).
        holdout_owner: ``(len(holdout),)`` ints, the row in ``train`` of each holdout record's
            user, or -1.
        synthetic: Synthetic records.
        n_items: Catalogue size.
        seed: Seed of all sampling.
        max_records: Most synthetic and most holdout records scored.

    Returns:
        The metrics and the per-record DCRs.

    Raises:
        ValueError: If ``holdout_owner`` does not match ``holdout`` or ``train``, or
            ``max_records`` is not positive.
    """
    holdout_owner = np.asarray(holdout_owner)
    if holdout_owner.shape != (len(holdout),):
        raise ValueError(
            f"holdout_owner must have one entry per holdout record ({len(holdout)}), got "
            f"shape {holdout_owner.shape}"
        )
    if holdout_owner.size and (holdout_owner.min() < -1 or holdout_owner.max() >= len(train)):
        raise ValueError(f"holdout_owner entries must be -1 or a row of train in [0, {len(train)})")
    if max_records <= 0:
        raise ValueError(f"max_records must be positive, got {max_records}")
    rng = np.random.default_rng(seed)
    synthetic_idx = subsample(len(synthetic), max_records, rng)
    holdout_idx = subsample(len(holdout), max_records, rng)
    synthetic_sample = [synthetic[i] for i in synthetic_idx]
    holdout_sample = [holdout[i] for i in holdout_idx]
    owner_sample = holdout_owner[holdout_idx].astype(np.int64)

    dcr_synthetic = 1.0 - closest_jaccard(synthetic_sample, train, n_items)
    holdout_similarity = closest_jaccard(holdout_sample, train, n_items, exclude=owner_sample)
    dcr_holdout = 1.0 - holdout_similarity

    non_empty = record_sizes(synthetic_sample) > 0
    metrics = {
        **dcr_figures(dcr_synthetic, dcr_holdout),
        "exact_copy_share": _mean((dcr_synthetic == 0.0) & non_empty),
        "mia_auc": _membership_auc(
            train, holdout_sample, holdout_similarity, synthetic, n_items, rng
        ),
        "n_synthetic": float(len(synthetic_sample)),
        "n_holdout": float(len(holdout_sample)),
    }
    return DisclosureResult(metrics=metrics, dcr_synthetic=dcr_synthetic, dcr_holdout=dcr_holdout)


def dcr_figures(dcr_synthetic: np.ndarray, dcr_holdout: np.ndarray) -> dict[str, float]:
    """The DCR figures of synthetic vs holdout records (or rows), NaN where a side is empty.

    ``dcr_synthetic_median`` / ``dcr_synthetic_p05``, ``dcr_holdout_median`` /
    ``dcr_holdout_p05`` (median and 5th percentile, linear interpolation) and
    ``dcr_closer_share``, the share of synthetic DCRs below the holdout 5th percentile (about
    0.05 when synthetic data is no closer to the training data than fresh real data).
    """
    holdout_p05 = _percentile(dcr_holdout, 5.0)
    return {
        "dcr_synthetic_median": _percentile(dcr_synthetic, 50.0),
        "dcr_holdout_median": _percentile(dcr_holdout, 50.0),
        "dcr_synthetic_p05": _percentile(dcr_synthetic, 5.0),
        "dcr_holdout_p05": holdout_p05,
        "dcr_closer_share": _mean(dcr_synthetic < holdout_p05)
        if not math.isnan(holdout_p05)
        else math.nan,
    }


def _membership_auc(
    train: Sequence[np.ndarray],
    holdout: Sequence[np.ndarray],
    holdout_similarity: np.ndarray,
    synthetic: Sequence[np.ndarray],
    n_items: int,
    rng: np.random.Generator,
) -> float:
    """AUC of the calibrated closest-record membership attack (members 1, non-members 0).

    Args:
        train: Training records; members are sampled from them.
        holdout: Sampled holdout records, the non-member candidates.
        holdout_similarity: Their closest similarity to ``train`` excluding their owner.
        synthetic: All synthetic records (what an attacker gets to see).
        n_items: Catalogue size.
        rng: Source of the member (and, if needed, non-member) sample.

    Returns:
        The AUC, or NaN without synthetic records, members or non-members.
    """
    n = min(len(holdout), len(train))
    if n == 0 or len(synthetic) == 0:
        return math.nan
    non_member_idx = subsample(len(holdout), n, rng)
    member_idx = rng.choice(len(train), size=n, replace=False)
    members = [train[i] for i in member_idx]
    non_members = [holdout[i] for i in non_member_idx]

    member_score = closest_jaccard(members, synthetic, n_items) - closest_jaccard(
        members, train, n_items, exclude=member_idx
    )
    non_member_score = (
        closest_jaccard(non_members, synthetic, n_items) - holdout_similarity[non_member_idx]
    )
    scores = np.concatenate([member_score, non_member_score])
    labels = np.repeat([1, 0], [n, n])
    return roc_auc(scores, labels)


def subsample(n: int, max_n: int, rng: np.random.Generator) -> np.ndarray:
    """All of ``range(n)`` if ``n <= max_n``, else a seeded sample of ``max_n`` sorted indices."""
    if n <= max_n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max_n, replace=False))


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile`` (linear interpolation), NaN for an empty array."""
    return float(np.percentile(values, q)) if values.size else math.nan


def _mean(flags: np.ndarray) -> float:
    """Share of true flags, NaN for an empty array."""
    return float(flags.mean()) if flags.size else math.nan

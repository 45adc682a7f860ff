"""Verdicts: whether augmented data beats real-only data, per recommender and slice, as data.

A :class:`Verdict` holds the numbers and the outcome of one comparison; its text (for the
terminal, the log, the manifest and the report) is rendered from them, so code that selects
or counts verdicts reads fields and never parses the text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from samplegen.evaluate.rows import DIFF_VARIANT, ndcg_at, numeric

#: Outcome classes of a comparison (also the CSS classes of the verdict lines).
OUTCOMES = ("better", "worse", "same", "undetermined")

#: Slices the log, the manifest and the report's strategies table keep.
HEADLINE_SLICES = ("all", "cold")


def signed(value: float) -> str:
    """Format a difference with its sign and 4 decimals; NaN becomes ``n/a``."""
    return "n/a" if math.isnan(value) else f"{value:+.4f}"


def plain(value: float) -> str:
    """Format a metric value with 4 decimals; NaN becomes ``n/a``."""
    return "n/a" if math.isnan(value) else f"{value:.4f}"


@dataclass(frozen=True)
class Verdict:
    """One recommender x slice comparison of augmented vs real NDCG@k, over all seeds.

    Attributes:
        recommender: The downstream recommender.
        slice: The slice compared on.
        k: The NDCG cutoff.
        real: Mean NDCG@k over seeds, trained on real data only (NaN without rows).
        augmented: The same trained on real + synthetic data.
        diff: Mean paired difference (augmented - real) over seeds.
        low: Lowest CI bound of the difference over seeds (NaN without CIs).
        high: Highest CI bound over seeds.
        n_seeds: Seeds (paired-difference rows) behind the comparison.
        n_significant: Seeds whose CI excludes zero.
        outcome: One of :data:`OUTCOMES`: better (worse) when every seed's CI is above (below)
            zero, undetermined when no seed has a CI, else same.
    """

    recommender: str
    slice: str
    k: int
    real: float
    augmented: float
    diff: float
    low: float
    high: float
    n_seeds: int
    n_significant: int
    outcome: str

    @property
    def words(self) -> str:
        """The outcome in words, noting how many seeds were significant when they disagree."""
        if self.outcome == "undetermined":
            return "undetermined (no CI)"
        if self.outcome in ("better", "worse"):
            return f"augmented is {self.outcome}"
        if self.n_significant:
            return (
                f"no significant difference (significant in {self.n_significant} of "
                f"{self.n_seeds} seeds)"
            )
        return "no significant difference"

    @property
    def diff_text(self) -> str:
        """The mean difference and the CI range, e.g. ``+0.0066 [+0.0010, +0.0120]``."""
        return f"{signed(self.diff)} [{signed(self.low)}, {signed(self.high)}]"

    @property
    def line(self) -> str:
        """The verdict as one plain-text line (see :func:`verdict_lines`)."""
        seeds = f" ({self.n_seeds} seeds)" if self.n_seeds > 1 else ""
        return (
            f"{self.recommender} slice={self.slice} NDCG@{self.k} real={plain(self.real)} "
            f"augmented={plain(self.augmented)} diff={self.diff_text}{seeds}: {self.words}"
        )


def seed_outcome(low: float, high: float) -> str:
    """Outcome of one seed's paired-difference CI: it is significant when it excludes zero."""
    if math.isnan(low) or math.isnan(high):
        return "undetermined"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "same"


def combine_seeds(outcomes: Sequence[str]) -> str:
    """Outcome over seeds of their :func:`seed_outcome` values.

    Better (worse) only when every seed is; undetermined when no seed has a CI; anything else
    is no significant difference (``same``).
    """
    if all(o == "undetermined" for o in outcomes):
        return "undetermined"
    for outcome in ("better", "worse"):
        if all(o == outcome for o in outcomes):
            return outcome
    return "same"


def _mean(frame: pd.DataFrame, variant: str) -> float:
    """Mean over seeds of the value of one variant's rows; NaN when there are none."""
    values = numeric(frame.loc[frame["variant"] == variant, "value"]).dropna()
    return float(values.mean()) if len(values) else math.nan


def _comparison(recommender: object, slice_: object, group: pd.DataFrame, k: int) -> Verdict:
    """The verdict for one recommender x slice from its NDCG rows at ``k`` (all seeds)."""
    diffs = group[group["variant"] == DIFF_VARIANT]
    lows = numeric(diffs["ci_low"]).to_numpy()
    highs = numeric(diffs["ci_high"]).to_numpy()
    outcomes = [seed_outcome(float(lo), float(hi)) for lo, hi in zip(lows, highs, strict=True)]
    return Verdict(
        recommender=str(recommender),
        slice=str(slice_),
        k=k,
        real=_mean(group, "real"),
        augmented=_mean(group, "augmented"),
        diff=_mean(group, DIFF_VARIANT),
        low=float(np.nanmin(lows)) if not np.isnan(lows).all() else math.nan,
        high=float(np.nanmax(highs)) if not np.isnan(highs).all() else math.nan,
        n_seeds=len(diffs),
        n_significant=sum(o in ("better", "worse") for o in outcomes),
        outcome=combine_seeds(outcomes),
    )


def verdicts(metrics: pd.DataFrame, k: int) -> list[Verdict]:
    """One verdict per recommender x slice with paired-difference NDCG rows at ``k``.

    Slice ``all`` comes first for every recommender, then the other slices in the frame's
    order.

    Args:
        metrics: Metric rows with columns :data:`~samplegen.evaluate.rows.METRIC_COLUMNS`.
        k: The headline cutoff.
    """
    ndcg = ndcg_at(metrics, k)
    diffs = ndcg[ndcg["variant"] == DIFF_VARIANT]
    pairs = list(dict.fromkeys(zip(diffs["recommender"], diffs["slice"], strict=True)))
    pairs.sort(key=lambda pair: pair[1] != "all")  # stable: frame order otherwise
    out = []
    for recommender, slice_ in pairs:
        group = ndcg[(ndcg["recommender"] == recommender) & (ndcg["slice"] == slice_)]
        out.append(_comparison(recommender, slice_, group, k))
    return out


def verdict_lines(metrics: pd.DataFrame, k: int) -> list[str]:
    """Plain-text verdicts: augmented vs real NDCG@k per recommender and slice.

    One line per recommender x slice that has ``augmented_minus_real`` NDCG rows at ``k``,
    e.g. ``ease slice=cold NDCG@20 real=0.1234 augmented=0.1300 diff=+0.0066 [+0.0010,
    +0.0120]: augmented is better``. With several seeds the values are means over seeds, the
    bracket spans the lowest to highest CI bound, and augmented is better (worse) only if every
    seed's CI is above (below) zero; otherwise "no significant difference", noting how many
    seeds were significant. Slice ``all`` comes first for every recommender, then the other
    slices in the frame's order.

    Args:
        metrics: Metric rows with columns :data:`~samplegen.evaluate.rows.METRIC_COLUMNS`.
        k: The headline cutoff.

    Returns:
        The lines, ready for a terminal or a log (no markup).
    """
    return [v.line for v in verdicts(metrics, k)]


def outcome_counts(found: Sequence[Verdict]) -> dict[str, int]:
    """How many verdicts have each outcome of :data:`OUTCOMES`."""
    return {o: sum(v.outcome == o for v in found) for o in OUTCOMES}


def summary_sentence(found: Sequence[Verdict], k: int) -> str:
    """One sentence counting wins, losses and ties over all comparisons."""
    counts = outcome_counts(found)
    sentence = (
        f"Augmented data wins on {counts['better']} of {len(found)} recommender x slice "
        f"comparisons at NDCG@{k}, loses on {counts['worse']}, "
        f"no significant difference on {counts['same']}"
    )
    if counts["undetermined"]:
        sentence += f", undetermined (no CI) on {counts['undetermined']}"
    chance = len(found) / 20
    return (
        sentence + f". Each CI is 95% on its own, so about {chance:.1f} of {len(found)} "
        "comparisons would look significant by chance alone."
    )

"""Verdicts: whether augmented data beats real-only data, per recommender and slice, as data.

A :class:`Verdict` holds the numbers and the outcome of one comparison; its text (for the
terminal, the log, the manifest and the report) is rendered from them, so code that selects
or counts verdicts reads fields and never parses the text.

Two guards keep verdicts honest. A slice with fewer than ``evaluate.min_users`` users with
targets gets no better/worse verdict ("too few users"): a bootstrap over six users gives a
narrow CI that means nothing. And as a run makes many comparisons (recommenders x slices),
each is also judged after the Benjamini-Hochberg adjustment of their bootstrap p-values over
the run's family of comparisons at the headline cutoff, which bounds the expected share of
false "better"/"worse" verdicts at :data:`FDR`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from samplegen.config import EvaluateConfig
from samplegen.evaluate.rows import (
    DIFF_VARIANT,
    ITEM_COLD_SLICES,
    ndcg_at,
    numeric,
    p_value_metric,
)
from samplegen.evaluate.sequences import SHORT_HISTORY
from samplegen.evaluate.stats import benjamini_hochberg

#: Outcome classes of a comparison (also the CSS classes of the verdict lines).
OUTCOMES = ("better", "worse", "same", "undetermined")

#: Slices the log, the manifest and the report's strategies table keep (``short_history``:
#: the sequential recommenders' users with at most 5 train items).
HEADLINE_SLICES = ("all", "cold", SHORT_HISTORY)

#: The false discovery rate of the Benjamini-Hochberg verdicts; it matches the 95% CIs.
FDR = 0.05

#: ``evaluate.min_users`` when a caller passes none (its one home is the config section).
DEFAULT_MIN_USERS: int = EvaluateConfig().min_users


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
            zero, undetermined when no seed has a CI or there are too few users, else same.
        n_users: Users with targets the difference is computed on (the fewest over seeds;
            NaN when the rows do not say).
        min_users: ``evaluate.min_users``: with fewer users there is no better/worse verdict.
        p_value: Two-sided bootstrap p-value of the difference; with several seeds the largest,
            since better (worse) needs every seed (NaN without p-value rows).
        q_value: ``p_value`` after the Benjamini-Hochberg adjustment over the verdicts it was
            computed with (NaN outside that family: no p-value, no CI or too few users).
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
    n_users: float = math.nan
    min_users: int = 0
    p_value: float = math.nan
    q_value: float = math.nan

    @property
    def too_few(self) -> bool:
        """Whether the slice has fewer than ``min_users`` users with targets."""
        return not math.isnan(self.n_users) and self.n_users < self.min_users

    @property
    def tested(self) -> bool:
        """Whether the comparison was tested: it has a CI and enough users."""
        return self.outcome != "undetermined"

    @property
    def bh_outcome(self) -> str:
        """The outcome after the Benjamini-Hochberg adjustment at :data:`FDR`.

        Better (worse) when the outcome is and ``q_value`` is at most :data:`FDR`; untested
        comparisons, and tested ones without a p-value, are undetermined; else same.
        """
        if not self.tested or math.isnan(self.q_value):
            return "undetermined"
        if self.outcome in ("better", "worse") and self.q_value <= FDR:
            return self.outcome
        return "same"

    @property
    def bh_words(self) -> str:
        """The adjusted outcome in words, with ``q``; empty for an untested comparison."""
        if not self.tested:
            return ""
        if math.isnan(self.q_value):
            return "BH-adjusted: n/a (no p-value)"
        words = {"better": "augmented is better", "worse": "augmented is worse"}
        outcome = words.get(self.bh_outcome, "no significant difference")
        return f"BH-adjusted (q={self.q_value:.3f}): {outcome}"

    @property
    def words(self) -> str:
        """The outcome in words, noting how many seeds were significant when they disagree."""
        if self.too_few:
            return f"too few users (n={self.n_users:.0f}; evaluate.min_users={self.min_users})"
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

    @property
    def adjusted_line(self) -> str:
        """:attr:`line` followed by the Benjamini-Hochberg verdict, where there is one."""
        return f"{self.line}; {self.bh_words}" if self.bh_words else self.line


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


def _seed_p_values(diffs: pd.DataFrame, p_rows: pd.DataFrame) -> np.ndarray:
    """The p-value of each seed's difference row (NaN where the frame holds none)."""
    by_seed = {
        (None if pd.isna(seed) else float(seed)): float(value)
        for seed, value in zip(p_rows["seed"], numeric(p_rows["value"]), strict=True)
    }
    return np.array(
        [by_seed.get(None if pd.isna(seed) else float(seed), math.nan) for seed in diffs["seed"]],
        dtype=np.float64,
    )


def _comparison(
    recommender: object,
    slice_: object,
    group: pd.DataFrame,
    p_rows: pd.DataFrame,
    k: int,
    min_users: int,
) -> Verdict:
    """The verdict for one recommender x slice from its NDCG rows at ``k`` (all seeds).

    ``p_rows`` are the slice's p-value rows at ``k``; the comparison's p-value is the largest
    over seeds (better needs every seed: an intersection-union test), NaN if a seed has none.
    """
    diffs = group[group["variant"] == DIFF_VARIANT]
    lows = numeric(diffs["ci_low"]).to_numpy()
    highs = numeric(diffs["ci_high"]).to_numpy()
    outcomes = [seed_outcome(float(lo), float(hi)) for lo, hi in zip(lows, highs, strict=True)]
    users = numeric(diffs["n_users"]).to_numpy()
    n_users = float(np.nanmin(users)) if not np.isnan(users).all() else math.nan
    too_few = not math.isnan(n_users) and n_users < min_users
    seed_p = _seed_p_values(diffs, p_rows)
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
        outcome="undetermined" if too_few else combine_seeds(outcomes),
        n_users=n_users,
        min_users=min_users,
        p_value=float(seed_p.max()) if len(seed_p) and not np.isnan(seed_p).any() else math.nan,
    )


def adjust(found: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts with ``q_value`` set: Benjamini-Hochberg over the tested ones' p-values.

    The family is every tested comparison with a p-value (:attr:`Verdict.tested`); the
    others keep a NaN ``q_value``.
    """
    p_values = np.array([v.p_value if v.tested else math.nan for v in found], dtype=np.float64)
    q_values = benjamini_hochberg(p_values)
    return [dataclasses.replace(v, q_value=float(q)) for v, q in zip(found, q_values, strict=True)]


def verdicts(metrics: pd.DataFrame, k: int, min_users: int = DEFAULT_MIN_USERS) -> list[Verdict]:
    """One verdict per recommender x slice with paired-difference NDCG rows at ``k``.

    Slice ``all`` comes first for every recommender, then the other slices in the frame's
    order. The item-cold slices have their own verdict
    (:func:`samplegen.evaluate.item_cold.items_new_line`) and stay out of this family. A
    slice whose difference rows count fewer than ``min_users`` users (``n_users``)
    is undetermined ("too few users"); the others are also judged after the
    Benjamini-Hochberg adjustment over all of them (:func:`adjust`).

    Args:
        metrics: Metric rows with columns :data:`~samplegen.evaluate.rows.METRIC_COLUMNS`.
        k: The headline cutoff.
        min_users: ``evaluate.min_users``.
    """
    ndcg = ndcg_at(metrics, k)
    p_rows = metrics[
        (metrics["metric"] == p_value_metric("ndcg"))
        & (numeric(metrics["k"]) == k)
        & (metrics["variant"] == DIFF_VARIANT)
    ]
    diffs = ndcg[(ndcg["variant"] == DIFF_VARIANT) & ~ndcg["slice"].isin(ITEM_COLD_SLICES)]
    pairs = list(dict.fromkeys(zip(diffs["recommender"], diffs["slice"], strict=True)))
    pairs.sort(key=lambda pair: pair[1] != "all")  # stable: frame order otherwise
    out = []
    for recommender, slice_ in pairs:
        group = ndcg[(ndcg["recommender"] == recommender) & (ndcg["slice"] == slice_)]
        own = p_rows[(p_rows["recommender"] == recommender) & (p_rows["slice"] == slice_)]
        out.append(_comparison(recommender, slice_, group, own, k, min_users))
    return adjust(out)


def verdict_lines(metrics: pd.DataFrame, k: int, min_users: int = DEFAULT_MIN_USERS) -> list[str]:
    """Plain-text verdicts: augmented vs real NDCG@k per recommender and slice.

    One line per recommender x slice that has ``augmented_minus_real`` NDCG rows at ``k``,
    e.g. ``ease slice=cold NDCG@20 real=0.1234 augmented=0.1300 diff=+0.0066 [+0.0010,
    +0.0120]: augmented is better``. With several seeds the values are means over seeds, the
    bracket spans the lowest to highest CI bound, and augmented is better (worse) only if every
    seed's CI is above (below) zero; otherwise "no significant difference", noting how many
    seeds were significant. A slice with fewer than ``min_users`` users with targets says
    "too few users (n=...)" instead. Slice ``all`` comes first for every recommender, then the
    other slices in the frame's order.

    Args:
        metrics: Metric rows with columns :data:`~samplegen.evaluate.rows.METRIC_COLUMNS`.
        k: The headline cutoff.
        min_users: ``evaluate.min_users``.

    Returns:
        The lines, ready for a terminal or a log (no markup).
    """
    return [v.line for v in verdicts(metrics, k, min_users)]


def outcome_counts(found: Sequence[Verdict]) -> dict[str, int]:
    """How many verdicts have each outcome of :data:`OUTCOMES`."""
    return {o: sum(v.outcome == o for v in found) for o in OUTCOMES}


def summary_sentence(found: Sequence[Verdict], k: int) -> str:
    """Sentences counting wins, losses and ties, the chance of a false one, and the BH result.

    The comparisons made are those with enough users; ``too few users`` ones are counted
    apart. The Benjamini-Hochberg sentence needs p-values (:func:`adjust`).
    """
    counts = outcome_counts(found)
    too_few = sum(v.too_few for v in found)
    no_ci = counts["undetermined"] - too_few
    sentence = (
        f"Augmented data wins on {counts['better']} of {len(found)} recommender x slice "
        f"comparisons at NDCG@{k}, loses on {counts['worse']}, "
        f"no significant difference on {counts['same']}"
    )
    if no_ci:
        sentence += f", undetermined (no CI) on {no_ci}"
    if too_few:
        min_users = max(v.min_users for v in found)
        sentence += f", too few users (under evaluate.min_users={min_users}) on {too_few}"
    made = len(found) - too_few
    chance = made / 20
    sentence += (
        f". Each CI is 95% on its own, so about {chance:.1f} of {made} "
        "comparisons would look significant by chance alone."
    )
    family = [v for v in found if not math.isnan(v.q_value)]
    if family:
        wins = sum(v.bh_outcome == "better" for v in family)
        losses = sum(v.bh_outcome == "worse" for v in family)
        sentence += (
            f" After the Benjamini-Hochberg adjustment of their {len(family)} bootstrap "
            f"p-values (false discovery rate {FDR:.0%}), augmented data wins on {wins} and "
            f"loses on {losses}."
        )
    return sentence

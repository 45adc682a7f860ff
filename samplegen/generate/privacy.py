"""The privacy filter: no synthetic user may copy, or nearly copy, a real training user.

A synthetic user whose item set equals a real training user's, or whose Jaccard similarity
to one is above ``max_jaccard``, is dropped before anything is written.

The check is exact and scales with prefix filtering (Chaudhuri et al. 2006; Bayardo et al.
2007): order items from rarest to most popular; two sets with Jaccard >= t share at least one
item among the first ``|x| - ceil(t |x|) + 1`` items of each. Only pairs sharing such a
"prefix" item (and with compatible sizes, ``t |x| <= |y| <= |x| / t``) are candidates; their
Jaccard is then computed from the full sets. Prefixes are made of rare items, so the candidate
join stays small where a join on every shared item would pair each synthetic user with every
buyer of its popular items.

Rows of ``synthetic_ctr`` (:func:`row_privacy_filter`) have no item set: a synthetic row equal
to a real ``samples_ctr`` train row on every feature column is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.spark import join_null_safe, pinned


@dataclass(frozen=True)
class PrivacyCounts:
    """What the filter saw and dropped; recorded in the run's manifest."""

    drawn: int
    dropped_copies: int
    dropped_similar: int

    @property
    def kept(self) -> int:
        """Synthetic users that passed the filter."""
        return self.drawn - self.dropped_copies - self.dropped_similar

    def as_metrics(self) -> dict[str, int]:
        """The counts under the names the manifest uses."""
        return {
            "privacy_drawn": self.drawn,
            "privacy_dropped_copies": self.dropped_copies,
            "privacy_dropped_similar": self.dropped_similar,
            "privacy_kept": self.kept,
        }


def _sets(users: DataFrame, key: str, rank: DataFrame) -> DataFrame:
    """``key, items, size``: each user's distinct items as ranks, rarest first.

    An item no real user has gets the negative rank ``-(item + 1)``: distinct, and before
    every real item (it can never be shared).
    """
    ranked = F.coalesce(F.col("rank"), -(F.col("item") + 1))
    return (
        users.select(key, F.explode(F.array_distinct("item_idx")).alias("item"))
        .join(F.broadcast(rank), "item", "left")
        .groupBy(key)
        .agg(F.array_sort(F.collect_list(ranked)).alias("items"))
        .withColumn("size", F.size("items"))
    )


def _prefixes(sets: DataFrame, key: str, threshold: float) -> DataFrame:
    """``key, item``: the prefix items of each set (see the module docstring)."""
    length = F.greatest(
        F.lit(1), F.col("size") - F.ceil(F.lit(threshold) * F.col("size")).cast("int") + 1
    )
    return sets.select(key, F.explode(F.slice("items", 1, length)).alias("item"))


def closest_real_users(synthetic: DataFrame, real: DataFrame, threshold: float) -> DataFrame:
    """Each synthetic user's highest Jaccard similarity to a real user, from ``threshold`` up.

    Args:
        synthetic: ``user_id`` and ``item_idx`` (array) of the synthetic users.
        real: ``user_idx`` and ``item_idx`` (array) of the real training users.
        threshold: the similarity from which pairs must be found (every pair at or above it
            is; pairs below it may be missed).

    Returns:
        ``user_id, max_jaccard, is_copy`` for every synthetic user; ``max_jaccard`` is exact
        when it is at least ``threshold`` and 0 when no real user comes that close.
    """
    popularity = (
        real.select(F.explode(F.array_distinct("item_idx")).alias("item"))
        .groupBy("item")
        .agg(F.count(F.lit(1)).alias("users"))
    )
    rank = popularity.select(
        "item", F.row_number().over(Window.orderBy("users", "item")).alias("rank")
    )
    syn_sets = pinned(_sets(synthetic, "user_id", rank))
    real_sets = _sets(real, "user_idx", rank)
    candidates = (
        _prefixes(syn_sets, "user_id", threshold)
        .join(_prefixes(real_sets, "user_idx", threshold), "item")
        .select("user_id", "user_idx")
        .distinct()
    )
    syn, rl = syn_sets.alias("s"), real_sets.alias("r")
    pairs = (
        candidates.join(syn, "user_id")
        .join(rl, "user_idx")
        .where(
            (F.col("r.size") >= F.lit(threshold) * F.col("s.size"))
            & (F.col("s.size") >= F.lit(threshold) * F.col("r.size"))
        )
        .select(
            "user_id",
            F.size(F.array_intersect("s.items", "r.items")).alias("shared"),
            F.col("s.size").alias("syn_size"),
            F.col("r.size").alias("real_size"),
        )
    )
    union = F.col("syn_size") + F.col("real_size") - F.col("shared")
    copy = (F.col("shared") == F.col("syn_size")) & (F.col("shared") == F.col("real_size"))
    closest = pairs.groupBy("user_id").agg(
        F.max(F.col("shared") / union).alias("max_jaccard"), F.max(copy).alias("is_copy")
    )
    return syn_sets.join(closest, "user_id", "left").select(
        "user_id",
        F.coalesce("max_jaccard", F.lit(0.0)).alias("max_jaccard"),
        F.coalesce("is_copy", F.lit(False)).alias("is_copy"),
    )


def privacy_filter(
    synthetic: DataFrame, real: DataFrame, max_jaccard: float
) -> tuple[DataFrame, PrivacyCounts]:
    """Drop synthetic users that copy a real user or are more similar than ``max_jaccard``.

    ``synthetic`` should be checkpointed: it is read for the similarities and for the rows
    kept. Returns the kept rows (same columns as ``synthetic``) and the counts.
    """
    verdict = pinned(closest_real_users(synthetic, real, max_jaccard))
    counts = verdict.agg(
        F.count(F.lit(1)).alias("drawn"),
        F.sum(F.col("is_copy").cast("int")).alias("copies"),
        F.sum((~F.col("is_copy") & (F.col("max_jaccard") > max_jaccard)).cast("int")).alias(
            "similar"
        ),
    ).first()
    allowed = verdict.where(~F.col("is_copy") & (F.col("max_jaccard") <= max_jaccard))
    kept = synthetic.join(allowed.select("user_id"), "user_id", "left_semi")
    return kept, PrivacyCounts(
        drawn=int(counts["drawn"]),
        dropped_copies=int(counts["copies"] or 0),
        dropped_similar=int(counts["similar"] or 0),
    )


# --- rows of synthetic_ctr ---------------------------------------------------------------------


def _copy_join(synthetic: DataFrame, real: DataFrame, columns: list[str], how: str) -> DataFrame:
    """``synthetic`` semi- or anti-joined (``how``) with the distinct ``real`` rows.

    The join is on null-safe equality of every one of ``columns``.
    """
    return join_null_safe(synthetic, real.select(*columns).distinct(), columns, how)


def copied_rows(synthetic: DataFrame, real: DataFrame, columns: list[str]) -> DataFrame:
    """The ``synthetic`` rows equal to some ``real`` row on every one of ``columns``.

    Equality is null-safe (a null matches a null), so a row that copies a real row's missing
    values too counts as a copy. Each synthetic row appears at most once, however many real
    rows it equals.
    """
    return _copy_join(synthetic, real, columns, "left_semi")


def row_privacy_filter(
    synthetic: DataFrame, real: DataFrame, columns: list[str]
) -> tuple[DataFrame, PrivacyCounts]:
    """Drop the synthetic rows that copy a real row on every one of ``columns``.

    The row counterpart of :func:`privacy_filter`, for tables of rows (``synthetic_ctr``): a
    row has no item set, so there is no Jaccard near copy, only the exact one (see
    :func:`copied_rows`). ``synthetic`` should be pinned: it is read for the counts and for
    the rows kept. Returns the kept rows (pinned; same columns as ``synthetic``) and the
    counts (``dropped_similar`` is always 0).
    """
    kept = pinned(_copy_join(synthetic, real, columns, "left_anti"))
    drawn, n_kept = synthetic.count(), kept.count()
    return kept, PrivacyCounts(drawn=drawn, dropped_copies=drawn - n_kept, dropped_similar=0)

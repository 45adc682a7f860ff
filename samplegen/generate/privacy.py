"""The privacy filter: no synthetic user may copy, or nearly copy, a real training user.

A synthetic user whose item set equals a real training user's, or whose Jaccard similarity
to one is above ``max_jaccard``, is dropped before anything is written. Similarities are
exact: every (synthetic, real) pair sharing at least one item is counted through a join on
the item, so no near-copy can slip through a sketch. The join grows with the popularity of
the synthetic users' items (each shared item pairs the synthetic user with all of its real
users), which is fine for thousands of synthetic users; a MinHash candidate step would be
the next step for millions.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


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


def closest_real_users(synthetic: DataFrame, real: DataFrame) -> DataFrame:
    """Each synthetic user's highest Jaccard similarity to any real user, and whether it is a copy.

    Args:
        synthetic: ``user_id`` and ``item_idx`` (array) of the synthetic users.
        real: ``user_idx`` and ``item_idx`` (array) of the real training users.

    Returns:
        ``user_id, max_jaccard, is_copy`` for every synthetic user (0 and false when it shares
        no item with any real user).
    """
    syn_sizes = synthetic.select("user_id", F.size(F.array_distinct("item_idx")).alias("syn_size"))
    real_sizes = real.select("user_idx", F.size(F.array_distinct("item_idx")).alias("real_size"))
    syn_items = synthetic.select("user_id", F.explode(F.array_distinct("item_idx")).alias("item"))
    real_items = real.select("user_idx", F.explode(F.array_distinct("item_idx")).alias("item"))
    shared = (
        syn_items.join(real_items, "item")
        .groupBy("user_id", "user_idx")
        .agg(F.count(F.lit(1)).alias("shared"))
        .join(syn_sizes, "user_id")
        .join(real_sizes, "user_idx")
    )
    union = F.col("syn_size") + F.col("real_size") - F.col("shared")
    copy = (F.col("shared") == F.col("syn_size")) & (F.col("shared") == F.col("real_size"))
    closest = shared.groupBy("user_id").agg(
        F.max(F.col("shared") / union).alias("max_jaccard"), F.max(copy).alias("is_copy")
    )
    return syn_sizes.join(closest, "user_id", "left").select(
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
    verdict = closest_real_users(synthetic, real).localCheckpoint()
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

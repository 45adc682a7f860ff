"""``long_tail`` and ``category_balance``: densify thin users with per-group quotas.

Both give users with fewer than ``max_user_items`` train items ``k`` new items (owned items
excluded), drawn from the model by Gumbel-top-k on its scores for the user, but with the
``k`` items split over item groups by a target mix (largest remainder, exact per row; a
group that runs out of allowed items gives its shortfall to the model's best remaining
items, see :func:`samplegen.models.sampling.quota_top_k`):

* ``long_tail``: groups head / tail, where the head is the ``head_fraction`` most popular
  vocabulary items; the target is ``tail_share`` of tail items.
* ``category_balance``: groups are the item categories; the target share of a category is
  proportional to its real train share raised to ``power`` (0: uniform, 1: as real), which
  lifts minority categories.

The run reports the target and the achieved share of every group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.densify import SCHEMA, thin_users
from samplegen.generate.udf import item_mask, map_with_model, user_rng, user_rows
from samplegen.models.base import InteractionGenerator
from samplegen.models.sampling import quota_top_k
from samplegen.spark import pinned
from samplegen.tables import ITEM_INDEX

#: Groups whose shares a run reports by name (the largest targets); all count in the gaps.
REPORTED_GROUPS = 10
NO_CATEGORY = "(none)"


def item_groups(items: DataFrame, strategy: str, head_fraction: float) -> tuple[np.ndarray, list]:
    """The group code of every item index, and the group names (``item_index`` columns)."""
    frame = items.select("item_idx", "n_users", "category").toPandas().sort_values("item_idx")
    if strategy == "long_tail":
        by_popularity = frame.sort_values(["n_users", "item_idx"], ascending=[False, True])
        n_head = max(1, round(head_fraction * len(frame)))
        groups = np.ones(len(frame), dtype=np.int64)
        groups[by_popularity["item_idx"].to_numpy()[:n_head]] = 0
        return groups, ["head", "tail"]
    codes, names = pd.factorize(frame["category"].fillna(NO_CATEGORY), sort=True)
    groups = np.empty(len(frame), dtype=np.int64)
    groups[frame["item_idx"].to_numpy()] = codes
    return groups, list(names)


def group_shares(rows: DataFrame, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Share of each group among the items of ``rows`` (an ``item_idx`` array column)."""
    counts = rows.select(F.explode("item_idx").alias("item")).groupBy("item").count().toPandas()
    totals = np.bincount(
        groups[counts["item"].to_numpy(dtype=np.int64)],
        weights=counts["count"].to_numpy(dtype=np.float64),
        minlength=n_groups,
    )
    return totals / max(totals.sum(), 1.0)


def target_mix(strategy: str, real: np.ndarray, tail_share: float, power: float) -> np.ndarray:
    """The target share of each group (sums to 1)."""
    if strategy == "long_tail":
        return np.array([1.0 - tail_share, tail_share])
    lifted = np.where(real > 0, real, 0.0) ** power * (real > 0)
    return lifted / lifted.sum()


def rounded_counts(mix: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``k`` over groups so that each group's expected count is exactly ``mix * k``.

    Every row gets the floor of ``mix * k``; the remaining items go to groups picked by
    systematic sampling with inclusion probabilities equal to the fractional parts. A fixed
    largest-remainder split would give every user the same rounding, so the totals over many
    users would drift from the target (a 2% group would get 0% or 10% of all items at k=10).
    """
    exact = np.asarray(mix, dtype=np.float64) * k
    counts = np.floor(exact + 1e-9).astype(np.int64)
    fractions = np.clip(exact - counts, 0.0, None)
    short = k - int(counts.sum())
    if short > 0:
        steps = np.floor(np.cumsum(fractions) + rng.uniform())
        picked = np.flatnonzero(np.diff(np.concatenate([[0.0], steps])) > 0)[:short]
        counts[picked] += 1
        counts[np.argmax(fractions)] += short - len(picked)  # float slack only
    return counts


def quota_batch(
    chunk: pd.DataFrame,
    generator: InteractionGenerator,
    groups: np.ndarray,
    mix: np.ndarray,
    k: int,
    weight: float,
    seed: int,
) -> pd.DataFrame:
    """``k`` new items for each user row of ``chunk``, split over ``groups`` by ``mix``."""
    owned = item_mask(chunk["item_idx"], generator.n_items)
    rngs = [user_rng(seed, int(u)) for u in chunk["user_idx"]]
    logits = generator.scores(owned.float()).numpy()
    counts = np.stack([rounded_counts(mix, k, rng) for rng in rngs])
    drawn = quota_top_k(logits, k, counts / k, groups, owned.numpy(), rngs)
    baskets = [np.sort(row[row >= 0]).astype(np.int32) for row in drawn]
    return user_rows(chunk["user_idx"], baskets, weight)


def quota_densify(
    train: DataFrame,
    model_dir: str,
    groups: np.ndarray,
    mix: np.ndarray,
    max_user_items: int,
    k: int,
    weight: float,
    seed: int,
) -> DataFrame:
    """Rows ``(user_idx, item_idx, weight)``: ``k`` items per thin user, split by ``mix``."""
    return map_with_model(
        thin_users(train, max_user_items),
        model_dir,
        lambda chunk, generator: quota_batch(chunk, generator, groups, mix, k, weight, seed),
        SCHEMA,
    )


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """Quota rows and how close they came to the target mix.

    Metrics: the real, target and achieved share of the groups with the largest targets, and
    the largest and mean gap between achieved and target shares over all groups.
    """
    gen = ctx.gen
    groups, names = item_groups(ctx.table(ITEM_INDEX), gen.strategy, gen.head_fraction)
    real_share = group_shares(ctx.real, groups, len(names))
    mix = target_mix(gen.strategy, real_share, gen.tail_share, gen.balance_power)
    rows = pinned(
        quota_densify(
            ctx.real,
            ctx.model_dir,
            groups,
            mix,
            gen.max_user_items,
            gen.items_per_user,
            gen.synthetic_weight,
            gen.seed,
        )
    )
    achieved = group_shares(rows, groups, len(names))
    gaps = np.abs(achieved - mix)
    metrics: Metrics = {
        "share_gap/max": round(float(gaps.max()), 4),
        "share_gap/mean": round(float(gaps.mean()), 4),
    }
    for g in np.argsort(-mix, kind="stable")[:REPORTED_GROUPS]:
        metrics |= {
            f"real_share/{names[g]}": round(float(real_share[g]), 4),
            f"target_share/{names[g]}": round(float(mix[g]), 4),
            f"achieved_share/{names[g]}": round(float(achieved[g]), 4),
        }
    return rows, metrics

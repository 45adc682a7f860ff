"""``interpolate``: new users between two thin users in the model's latent space.

Each new user ``n`` has two seed users of the thin segment (independent hashes of
``(seed, n)``), a mixing weight ``w`` drawn uniformly from [0.2, 0.8] and a basket size drawn
from the segment's sizes; its items are decoded at ``(1 - w) mu_a + w mu_b`` of the two posterior
means (Mult-VAE and the conditional VAE; the GAN has no encoder). Like ``synthetic_users``
the rows are new users (ids ``syn:<run_id>:<n>``) and pass the privacy filter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.new_users import (
    SCHEMA,
    NewUserPlan,
    basket_sizes,
    seed_users,
    thin_segment,
)
from samplegen.generate.udf import histories, map_with_model, row_rng
from samplegen.models.base import InteractionGenerator
from samplegen.registry import Stream


def interpolate_users(train: DataFrame, model_dir: str, plan: NewUserPlan) -> DataFrame:
    """``plan.n_users`` new users ``(user_id, user_idx, item_idx, weight)`` between seed pairs."""
    segment = thin_segment(train, plan.segment_max_items)
    sizes, probabilities = basket_sizes(segment)

    def draw_chunk(chunk: pd.DataFrame, generator: InteractionGenerator) -> pd.DataFrame:
        rngs = [row_rng(plan.seed, Stream.INTERPOLATE_FIRST, int(n)) for n in chunk["n"]]
        mixes = np.array([rng.uniform(0.2, 0.8) for rng in rngs])
        wanted = [int(rng.choice(sizes, p=probabilities)) for rng in rngs]
        wanted = [min(k, generator.n_items) for k in wanted]
        drawn = generator.interpolate_items(
            histories(chunk["items_a"], generator.n_items),
            histories(chunk["items_b"], generator.n_items),
            mixes,
            max(wanted),
            rngs,
        )
        baskets = [np.sort(row[:k][row[:k] >= 0]) for row, k in zip(drawn, wanted, strict=True)]
        return plan.rows(list(chunk["n"]), baskets)

    first = seed_users(segment, plan.n_users, plan.seed, Stream.INTERPOLATE_FIRST)
    second = seed_users(segment, plan.n_users, plan.seed, Stream.INTERPOLATE_SECOND)
    pairs = first.select("n", F.col("item_idx").alias("items_a")).join(
        second.select("n", F.col("item_idx").alias("items_b")), "n"
    )
    return map_with_model(pairs, model_dir, draw_chunk, SCHEMA)


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's new users (before the privacy filter)."""
    return interpolate_users(ctx.real, ctx.model_dir, NewUserPlan.of(ctx)), {}

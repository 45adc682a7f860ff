"""``densify``: users below an activity threshold get extra items from their model posterior.

Each user with fewer than ``generate.max_user_items`` train items gets
``generate.items_per_user`` items they do not own, drawn from the model for them; each user's
draw is seeded from ``(run seed, user_idx)`` (see :mod:`samplegen.generate.udf`).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.udf import draw_for_users, map_with_model, user_rows
from samplegen.models.base import Generator

SCHEMA = "user_idx int, item_idx array<int>, weight array<float>"


def thin_users(train: DataFrame, max_user_items: int) -> DataFrame:
    """``(user_idx, item_idx)`` of the train users with fewer than ``max_user_items`` items."""
    return train.where(F.col("n_items") < max_user_items).select("user_idx", "item_idx")


def densify_batch(
    batch: pd.DataFrame, generator: Generator, k: int, weight: float, seed: int
) -> pd.DataFrame:
    """Extra items for each user row of ``batch`` (columns ``user_idx``, ``item_idx``)."""
    baskets = draw_for_users(batch, generator, k, seed)
    return user_rows(batch["user_idx"], baskets, weight)


def densify(
    train: DataFrame,
    model_dir: str,
    max_user_items: int,
    k: int,
    weight: float,
    seed: int,
) -> DataFrame:
    """Synthetic rows ``(user_idx, item_idx, weight)`` for users with < ``max_user_items``."""
    return map_with_model(
        thin_users(train, max_user_items),
        model_dir,
        lambda chunk, generator: densify_batch(chunk, generator, k, weight, seed),
        SCHEMA,
    )


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's densify rows."""
    gen = ctx.gen
    rows = densify(
        ctx.real,
        ctx.model_dir,
        gen.max_user_items,
        gen.items_per_user,
        gen.synthetic_weight,
        gen.seed,
    )
    return rows, {}

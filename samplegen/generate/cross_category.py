"""``cross_category``: thin users get items from categories they have not crossed yet.

Each user with fewer than ``max_user_items`` train items gets ``k`` new items drawn from the
model's posterior for them, with every item of the user's own categories excluded. The
model's posterior already says which other categories go with this user's (what similar
users combine), so the draw links the user's categories to the ones that co-occur with them.
The run reports the mix of (the user's main category -> drawn category) pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.baselines import category_codes
from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.densify import thin_users
from samplegen.generate.udf import draw_for_users, map_with_model, user_rows
from samplegen.models.base import InteractionGenerator
from samplegen.spark import pinned
from samplegen.tables import ITEM_INDEX

SCHEMA = "user_idx int, item_idx array<int>, weight array<float>, main_category long"


def cross_batch(
    chunk: pd.DataFrame,
    generator: InteractionGenerator,
    categories: np.ndarray,
    k: int,
    weight: float,
    seed: int,
) -> pd.DataFrame:
    """``k`` items outside the user's categories for each user row of ``chunk``.

    Returns the rows and each user's main category (the code of most of their items).
    """
    own_categories = np.zeros((len(chunk), categories.max() + 2), dtype=bool)
    main = []
    for row, items in enumerate(chunk["item_idx"]):
        codes = categories[np.asarray(items, dtype=np.int64)] + 1  # -1 (none) is column 0
        own_categories[row, codes] = True
        main.append(int(np.bincount(codes).argmax()) - 1)
    categories_mask = torch.from_numpy(own_categories[:, categories + 1])
    baskets = draw_for_users(chunk, generator, k, seed, lambda _, owned: categories_mask)
    main_category = np.asarray(main, dtype=np.int64)
    return user_rows(chunk["user_idx"], baskets, weight, main_category=main_category)


def cross_category(
    train: DataFrame,
    model_dir: str,
    categories: np.ndarray,
    max_user_items: int,
    k: int,
    weight: float,
    seed: int,
) -> DataFrame:
    """Rows ``(user_idx, item_idx, weight, main_category)`` for the thin users."""
    return map_with_model(
        thin_users(train, max_user_items),
        model_dir,
        lambda chunk, generator: cross_batch(chunk, generator, categories, k, weight, seed),
        SCHEMA,
    )


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's rows and the mix of (main category -> drawn category) pairs."""
    gen = ctx.gen
    categories, names = category_codes(ctx.table(ITEM_INDEX))
    rows = pinned(
        cross_category(
            ctx.real,
            ctx.model_dir,
            categories,
            gen.max_user_items,
            gen.items_per_user,
            gen.synthetic_weight,
            gen.seed,
        )
    )
    return rows, pair_mix(rows, categories, names)


def pair_mix(rows: DataFrame, categories: np.ndarray, names: list[str], top: int = 10) -> dict:
    """Share of each (main category -> drawn category) pair among drawn items, top ``top``."""
    frame = rows.select("main_category", F.explode("item_idx").alias("item")).toPandas()
    if frame.empty:
        return {}
    label = np.array([*names, "(none)"])  # code -1 reads the last name
    main = pd.Series(label[frame["main_category"].to_numpy()])
    pairs = main + " -> " + pd.Series(label[categories[frame["item"].to_numpy()]])
    shares = pairs.value_counts(normalize=True).head(top)
    return {f"pair_share/{pair}": round(float(share), 4) for pair, share in shares.items()}

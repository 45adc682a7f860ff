"""``cross_category``: thin users get items from categories they have not crossed yet.

Each user with fewer than ``max_user_items`` train items gets ``k`` new items drawn from the
model's posterior for them, with every item of the user's own categories excluded. The
model's posterior already says which other categories go with this user's (what similar
users combine), so the draw links the user's categories to the ones that co-occur with them.
The run reports the mix of (the user's main category -> drawn category) pairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.densify import CHUNK_ROWS, user_rng
from samplegen.models.base import InteractionGenerator
from samplegen.models.store import load_generator

STRATEGY = "cross_category"
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
    owned = torch.zeros((len(chunk), generator.n_items), dtype=torch.bool)
    own_categories = np.zeros((len(chunk), categories.max() + 2), dtype=bool)
    main = []
    for row, items in enumerate(chunk["item_idx"]):
        items = np.asarray(items, dtype=np.int64)
        owned[row, torch.as_tensor(items)] = True
        codes = categories[items] + 1  # -1 (no category) becomes column 0
        own_categories[row, codes] = True
        main.append(int(np.bincount(codes).argmax()) - 1)
    exclude = torch.from_numpy(own_categories[:, categories + 1]) | owned
    rngs = [user_rng(seed, int(u)) for u in chunk["user_idx"]]
    drawn = generator.sample_items(owned.float(), k, exclude, rngs)
    baskets = [np.sort(row[row >= 0]).astype(np.int32) for row in drawn]
    kept = np.array([len(b) > 0 for b in baskets], dtype=bool)
    return pd.DataFrame(
        {
            "user_idx": chunk["user_idx"].to_numpy()[kept].astype(np.int32),
            "item_idx": [b for b in baskets if len(b)],
            "weight": [np.full(len(b), weight, dtype=np.float32) for b in baskets if len(b)],
            "main_category": np.asarray(main, dtype=np.int64)[kept],
        }
    )


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

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        generator = load_generator(model_dir)
        for batch in batches:
            for start in range(0, len(batch), CHUNK_ROWS):
                chunk = batch.iloc[start : start + CHUNK_ROWS]
                yield cross_batch(chunk, generator, categories, k, weight, seed)

    return (
        train.where(F.col("n_items") < max_user_items)
        .select("user_idx", "item_idx")
        .mapInPandas(sample_partition, schema=SCHEMA)
    )


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

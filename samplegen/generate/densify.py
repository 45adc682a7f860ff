"""``densify``: users below an activity threshold get extra items from their model posterior.

Sampling runs inside ``mapInPandas``: the model is loaded once per Python worker, and every
user's draw is seeded from ``(run seed, user_idx)`` with ``numpy.random.SeedSequence``, so a
retried or speculative task writes exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.models.base import Generator
from samplegen.models.store import load_generator

STRATEGY = "densify"
CHUNK_ROWS = 256


def user_rng(seed: int, user_idx: int) -> np.random.Generator:
    """The random stream of one user in one run: depends on nothing else."""
    return np.random.default_rng(np.random.SeedSequence([seed, user_idx]))


def histories(item_lists: pd.Series, n_items: int) -> torch.Tensor:
    """Binary (rows, n_items) matrix of item lists."""
    x = torch.zeros((len(item_lists), n_items))
    for row, items in enumerate(item_lists):
        x[row, torch.as_tensor(np.asarray(items, dtype=np.int64))] = 1.0
    return x


def densify_batch(
    batch: pd.DataFrame, generator: Generator, k: int, weight: float, seed: int
) -> pd.DataFrame:
    """Extra items for each user row of ``batch`` (columns ``user_idx``, ``item_idx``)."""
    users, items, weights = [], [], []
    for start in range(0, len(batch), CHUNK_ROWS):
        chunk = batch.iloc[start : start + CHUNK_ROWS]
        owned = torch.zeros((len(chunk), generator.n_items), dtype=torch.bool)
        for row, owned_items in enumerate(chunk["item_idx"]):
            owned[row, torch.as_tensor(np.asarray(owned_items, dtype=np.int64))] = True
        rngs = [user_rng(seed, int(u)) for u in chunk["user_idx"]]
        drawn = generator.sample_items(owned.float(), k, owned, rngs)
        for user_idx, row in zip(chunk["user_idx"], drawn, strict=True):
            new_items = np.sort(row[row >= 0]).astype(np.int32)
            if len(new_items):
                users.append(int(user_idx))
                items.append(new_items)
                weights.append(np.full(len(new_items), weight, dtype=np.float32))
    return pd.DataFrame({"user_idx": users, "item_idx": items, "weight": weights})


def densify(
    train: DataFrame,
    model_dir: str,
    max_user_items: int,
    k: int,
    weight: float,
    seed: int,
) -> DataFrame:
    """Synthetic rows ``(user_idx, item_idx, weight)`` for users with < ``max_user_items``."""

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        generator = load_generator(model_dir)
        for batch in batches:
            yield densify_batch(batch, generator, k, weight, seed)

    schema = "user_idx int, item_idx array<int>, weight array<float>"
    return (
        train.where(F.col("n_items") < max_user_items)
        .select("user_idx", "item_idx")
        .mapInPandas(sample_partition, schema=schema)
    )

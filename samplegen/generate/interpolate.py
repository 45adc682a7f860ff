"""``interpolate``: new users between two thin users in the model's latent space.

Each new user ``n`` has two seed users of the thin segment (independent hashes of
``(seed, n)``), a mixing weight ``w`` drawn uniformly from [0.2, 0.8] and a basket size drawn
from the segment's sizes; its items are decoded at ``(1 - w) mu_a + w mu_b`` of the two posterior
means (Mult-VAE and the conditional VAE; the GAN has no encoder). Like ``synthetic_users``
the rows are new users (ids ``syn:<run_id>:<n>``) and pass the privacy filter.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.densify import CHUNK_ROWS, histories
from samplegen.generate.new_users import (
    SCHEMA,
    basket_sizes,
    new_user_rng,
    new_user_rows,
    seed_users,
    thin_segment,
)
from samplegen.models.store import load_generator

STRATEGY = "interpolate"
#: Models with an encoder to interpolate in.
MODELS = ("multvae", "cvae")
#: Stream tags of the first and the second seed user (the row's stream uses the first).
FIRST_TAG, SECOND_TAG = 5, 6


def interpolate_users(
    train: DataFrame,
    model_dir: str,
    n_users: int,
    segment_max_items: int,
    first_user_idx: int,
    weight: float,
    seed: int,
    run_id: str,
) -> DataFrame:
    """``n_users`` new users ``(user_id, user_idx, item_idx, weight)`` between seed-user pairs."""
    segment = thin_segment(train, segment_max_items)
    sizes, probabilities = basket_sizes(segment)

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        generator = load_generator(model_dir)
        for batch in batches:
            for start in range(0, len(batch), CHUNK_ROWS):
                chunk = batch.iloc[start : start + CHUNK_ROWS]
                rngs = [new_user_rng(seed, FIRST_TAG, int(n)) for n in chunk["n"]]
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
                baskets = [
                    np.sort(row[:k][row[:k] >= 0]) for row, k in zip(drawn, wanted, strict=True)
                ]
                yield new_user_rows(list(chunk["n"]), baskets, run_id, first_user_idx, weight)

    first = seed_users(segment, n_users, seed, FIRST_TAG)
    second = seed_users(segment, n_users, seed, SECOND_TAG)
    pairs = first.select("n", F.col("item_idx").alias("items_a")).join(
        second.select("n", F.col("item_idx").alias("items_b")), "n"
    )
    return pairs.mapInPandas(sample_partition, schema=SCHEMA)

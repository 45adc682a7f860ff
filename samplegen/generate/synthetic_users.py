"""``synthetic_users``: new users drawn from the model's posterior of a target segment.

(Or from its prior: ``generate.synthetic_from=prior``, for multvae and cvae.)

Each synthetic user starts from a real seed user of the segment (see
:mod:`samplegen.generate.new_users`), draws a latent vector from the model's posterior for
that user and decodes a basket whose size is drawn from the segment's basket sizes.
Nothing is excluded from the draw, so a synthetic user can resemble its seed user: the
privacy filter (:mod:`samplegen.generate.privacy`) drops copies and near copies before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame

from samplegen.generate.densify import CHUNK_ROWS, histories
from samplegen.generate.new_users import (
    SCHEMA,
    basket_sizes,
    new_user_rng,
    new_user_rows,
    seed_users,
    thin_segment,
)
from samplegen.models.base import InteractionGenerator
from samplegen.models.store import load_generator

STRATEGY = "synthetic_users"
#: Separates this strategy's random streams from the others' (densify: ``(seed, user_idx)``).
STREAM_TAG = 1


def draw_baskets(
    seeds: pd.DataFrame,
    generator: InteractionGenerator,
    sizes: np.ndarray,
    probabilities: np.ndarray,
    seed: int,
    from_prior: bool = False,
) -> list[np.ndarray]:
    """One basket per row of ``seeds`` (columns ``n``, seed user's ``item_idx``).

    From the seed user's posterior, or with ``from_prior`` from the model's prior (decoded
    under the seed user's condition for a cvae).
    """
    rngs = [new_user_rng(seed, STREAM_TAG, int(n)) for n in seeds["n"]]
    wanted = [min(int(rng.choice(sizes, p=probabilities)), generator.n_items) for rng in rngs]
    seed_histories = histories(seeds["item_idx"], generator.n_items)
    if from_prior:
        drawn = generator.sample_from_prior(seed_histories, max(wanted), rngs)
    else:
        nothing = torch.zeros(seed_histories.shape, dtype=torch.bool)
        drawn = generator.sample_items(seed_histories, max(wanted), nothing, rngs)
    return [np.sort(row[:k][row[:k] >= 0]) for row, k in zip(drawn, wanted, strict=True)]


def synthetic_users(
    train: DataFrame,
    model_dir: str,
    n_users: int,
    segment_max_items: int,
    first_user_idx: int,
    weight: float,
    seed: int,
    run_id: str,
    from_prior: bool = False,
) -> DataFrame:
    """``n_users`` new users ``(user_id, user_idx, item_idx, weight)`` seeded from a segment.

    The segment is the train users with fewer than ``segment_max_items`` items; basket sizes
    follow the segment's own sizes. ``from_prior`` decodes latent codes from the prior
    instead of the seed users' posteriors (multvae, cvae).
    """
    segment = thin_segment(train, segment_max_items)
    sizes, probabilities = basket_sizes(segment)

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        generator = load_generator(model_dir)
        for batch in batches:
            for start in range(0, len(batch), CHUNK_ROWS):
                chunk = batch.iloc[start : start + CHUNK_ROWS]
                baskets = draw_baskets(chunk, generator, sizes, probabilities, seed, from_prior)
                yield new_user_rows(list(chunk["n"]), baskets, run_id, first_user_idx, weight)

    rows = seed_users(segment, n_users, seed, STREAM_TAG)
    return rows.mapInPandas(sample_partition, schema=SCHEMA)

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

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame

from samplegen.config import Config
from samplegen.generate.context import DrawContext, Metrics, require_models
from samplegen.generate.new_users import (
    SCHEMA,
    NewUserPlan,
    basket_sizes,
    seed_users,
    thin_segment,
)
from samplegen.generate.udf import histories, map_with_model, row_rng
from samplegen.models.base import InteractionGenerator
from samplegen.registry import ENCODER_MODELS, Stream


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
    rngs = [row_rng(seed, Stream.SYNTHETIC_USERS, int(n)) for n in seeds["n"]]
    wanted = [min(int(rng.choice(sizes, p=probabilities)), generator.n_items) for rng in rngs]
    seed_histories = histories(seeds["item_idx"], generator.n_items)
    if from_prior:
        drawn = generator.sample_from_prior(seed_histories, max(wanted), rngs)
    else:
        nothing = torch.zeros(seed_histories.shape, dtype=torch.bool)
        drawn = generator.sample_items(seed_histories, max(wanted), nothing, rngs)
    return [np.sort(row[:k][row[:k] >= 0]) for row, k in zip(drawn, wanted, strict=True)]


def synthetic_users(
    train: DataFrame, model_dir: str, plan: NewUserPlan, from_prior: bool = False
) -> DataFrame:
    """``plan.n_users`` new users ``(user_id, user_idx, item_idx, weight)`` from a segment.

    The segment is the train users with fewer than ``plan.segment_max_items`` items; basket
    sizes follow the segment's own sizes. ``from_prior`` decodes latent codes from the prior
    instead of the seed users' posteriors (multvae, cvae).
    """
    segment = thin_segment(train, plan.segment_max_items)
    sizes, probabilities = basket_sizes(segment)

    def draw_chunk(chunk: pd.DataFrame, generator: InteractionGenerator) -> pd.DataFrame:
        baskets = draw_baskets(chunk, generator, sizes, probabilities, plan.seed, from_prior)
        return plan.rows(list(chunk["n"]), baskets)

    rows = seed_users(segment, plan.n_users, plan.seed, Stream.SYNTHETIC_USERS)
    return map_with_model(rows, model_dir, draw_chunk, SCHEMA)


def check(cfg: Config) -> None:
    """Decoding from the prior needs a model with an encoder's prior (multvae, cvae)."""
    if cfg.generate.synthetic_from == "prior":
        require_models(cfg, ENCODER_MODELS, "users' items")


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's new users (before the privacy filter)."""
    prior = ctx.gen.synthetic_from == "prior"
    return synthetic_users(ctx.real, ctx.model_dir, NewUserPlan.of(ctx), from_prior=prior), {}

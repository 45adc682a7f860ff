"""``prepend``: pseudo-prior items for users with short time-ordered histories.

Each real user whose train sequence (stage 1's ``sequences`` table) has at most
``generate.prepend_max_history`` items gets ``generate.prepend_items`` items they do not own,
meant as what they would have had *before* their first item. The row is written in the order
the items would have come: the earliest pseudo-prior item first, the one just before the
user's first real item last. Stage 4's sequential recommenders put the items added to a real
user before that user's real history, in the written order
(:func:`samplegen.evaluate.sequential.augmented_sequences`), so the augmented sequence reads
``p_k, ..., p_1, first real item, ...``; the matrix recommenders see a set and ignore order.

How the items are chosen, and why:

- **Which items**: ``generate.prepend_candidates`` candidates drawn from the trained model's
  posterior for the user (as ``densify`` draws them, seeded per ``(run seed, user_idx)``),
  never one of the user's own train, valid or test items
  (:func:`~samplegen.generate.transitions.excluded_items`: a test item in the pseudo-history
  would leak the target). The posterior says what fits the user's taste, but a VAE over item
  *sets* knows nothing of order.
- **In which order**: the first-order transition estimate from the real train sequences
  (:class:`~samplegen.generate.transitions.Transitions`, shared with ``insert``). Greedy
  backward chaining: starting from the user's first real item ``f``, pick the candidate ``c``
  most likely to lead to ``f`` (highest ``P(f | c)``), put it before ``f``, make it the new
  first item and repeat with the candidates left. Ties (e.g. candidates never seen in a
  sequence) keep the posterior's draw order. So the pseudo-history is made of items the model
  believes in, arranged so that each one plausibly leads to the next, which is what a
  next-item model such as SASRec learns from; the counts need no extra model and are exact on
  the train split (no valid/test item enters them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.transitions import (
    HELD_OUT,
    Transitions,
    excluded_items,
    train_transitions,
)
from samplegen.generate.udf import item_mask, map_with_model, user_rng
from samplegen.models.base import Generator
from samplegen.tables import SEQUENCES

SCHEMA = "user_idx int, item_idx array<int>, weight array<float>"


def chain_backward(candidates: Sequence[int], first: int, k: int, model: Transitions) -> list[int]:
    """Up to ``k`` candidates in the order they would precede ``first`` (earliest first).

    Greedy: the candidate most likely to lead to the current first item goes before it and
    becomes the first item; ties go to the earlier candidate (the posterior's draw order).
    """
    pool = [int(c) for c in candidates]
    chain: list[int] = []
    current = int(first)
    while pool and len(chain) < k:
        scores = model.leads_to(np.asarray(pool, dtype=np.int64), current)
        best = int(np.argmax(scores))  # the first of the best: draw order breaks ties
        current = pool.pop(best)
        chain.append(current)
    return chain[::-1]


def prepend_batch(
    batch: pd.DataFrame,
    generator: Generator,
    model: Transitions,
    k: int,
    n_candidates: int,
    weight: float,
    seed: int,
) -> pd.DataFrame:
    """Pseudo-prior rows of each user row of ``batch``.

    ``batch`` has ``user_idx``, ``item_idx`` (owned train items), ``first`` and the user's
    held-out items (:data:`~samplegen.generate.transitions.HELD_OUT`), none of which is drawn.
    """
    owned = item_mask(batch["item_idx"], generator.n_items)
    rngs = [user_rng(seed, int(u)) for u in batch["user_idx"]]
    excluded = excluded_items(batch, owned)
    drawn = generator.sample_items(owned.float(), n_candidates, excluded, rngs)
    users, baskets = [], []
    for user, first, row in zip(batch["user_idx"], batch["first"], drawn, strict=True):
        chain = chain_backward(row[row >= 0], int(first), k, model)
        if chain:
            users.append(int(user))
            baskets.append(np.asarray(chain, dtype=np.int32))
    return pd.DataFrame(
        {
            "user_idx": np.asarray(users, dtype=np.int32),
            "item_idx": baskets,
            "weight": [np.full(len(b), weight, dtype=np.float32) for b in baskets],
        }
    )


def short_users(train: DataFrame, sequences: DataFrame, max_history: int) -> DataFrame:
    """``(user_idx, item_idx, first, *HELD_OUT)`` of users with 1 to ``max_history`` train items.

    ``first`` is the first train item in time order; the held-out columns are the user's valid
    and test items (never drawn for the user).
    """
    short = sequences.where(
        (F.size("train_items") > 0) & (F.size("train_items") <= max_history)
    ).select("user_idx", F.col("train_items")[0].alias("first"), *HELD_OUT)
    return train.select("user_idx", "item_idx").join(short, "user_idx")


def prepend(
    train: DataFrame,
    sequences: DataFrame,
    model_dir: str,
    n_items: int,
    max_history: int,
    k: int,
    n_candidates: int,
    weight: float,
    seed: int,
) -> DataFrame:
    """Pseudo-prior rows ``(user_idx, item_idx, weight)``, items in their time order.

    ``n_items`` bounds every item index (the transition matrix's size).
    """
    model = train_transitions(sequences, n_items)
    return map_with_model(
        short_users(train, sequences, max_history),
        model_dir,
        lambda chunk, generator: prepend_batch(
            chunk, generator, model.sized(generator.n_items), k, n_candidates, weight, seed
        ),
        SCHEMA,
    )


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's prepend rows: one per short-history user."""
    gen = ctx.gen
    rows = prepend(
        ctx.real,
        ctx.table(SEQUENCES),
        ctx.model_dir,
        ctx.first_item_idx,
        gen.prepend_max_history,
        gen.prepend_items,
        gen.prepend_candidates,
        gen.synthetic_weight,
        gen.seed,
    )
    return rows, {}

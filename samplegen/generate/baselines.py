"""The model-free baselines in Spark: new users made by an :mod:`samplegen.augment` operator.

They run like ``synthetic_users`` (seed users, ids, per-row streams; see
:mod:`samplegen.generate.new_users`) but apply an operator to the seed user's items instead
of drawing from a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from samplegen.augment import SEQUENCE_OPERATORS, Operator, make_operator
from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.new_users import (
    SCHEMA,
    NewUserPlan,
    in_time_order,
    seed_users,
    thin_segment,
)
from samplegen.generate.udf import row_rng
from samplegen.registry import Stream
from samplegen.tables import EVENTS_CLEAN, ITEM_INDEX, USER_INDEX


def category_codes(items: DataFrame) -> tuple[np.ndarray, list[str]]:
    """Category codes of the vocabulary, and the category name of each code.

    Codes index the sorted category names; -1 where an item's category is null.
    """
    frame = items.select("item_idx", "category").toPandas()
    codes = np.full(int(frame["item_idx"].max()) + 1, -1, dtype=np.int64)
    known = frame["category"].notna()
    found, names = pd.factorize(frame.loc[known, "category"], sort=True)
    codes[frame.loc[known, "item_idx"].to_numpy()] = found
    return codes, list(names)


def augment_users(
    train: DataFrame,
    operator_name: str,
    operator: Operator,
    plan: NewUserPlan,
    time_order: Callable[[DataFrame], DataFrame] | None = None,
) -> DataFrame:
    """``plan.n_users`` new users ``(user_id, user_idx, item_idx, weight)`` made by ``operator``.

    ``time_order`` (for sequence operators) puts each seed user's items in time order, see
    :func:`samplegen.generate.new_users.in_time_order`; the operator's output order is kept.
    """
    tag = Stream[operator_name.upper()]

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            baskets = [
                operator(np.asarray(items), row_rng(plan.seed, tag, int(n)))
                for n, items in zip(batch["n"], batch["item_idx"], strict=True)
            ]
            yield plan.rows(list(batch["n"]), baskets)

    rows = seed_users(thin_segment(train, plan.segment_max_items), plan.n_users, plan.seed, tag)
    if time_order is not None:
        rows = time_order(rows)
    return rows.mapInPandas(apply, schema=SCHEMA)


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's new users made by the strategy's operator (before the privacy filter)."""
    gen = ctx.gen
    item_index = ctx.table(ITEM_INDEX)
    categories, _ = category_codes(item_index)
    operator = make_operator(gen.strategy, gen.mask_keep, gen.substitute_share, categories)
    time_order = None
    if gen.strategy in SEQUENCE_OPERATORS:
        events, user_index = ctx.table(EVENTS_CLEAN), ctx.table(USER_INDEX)

        def time_order(seeds: DataFrame) -> DataFrame:
            return in_time_order(seeds, events, user_index, item_index)

    rows = augment_users(ctx.real, gen.strategy, operator, NewUserPlan.of(ctx), time_order)
    return rows, {}

"""The thin segments of ``samples_ctr`` rows: cold users, cold items, rare categories.

One home for what makes a row part of a segment, read by stage 4's CTR slices
(:mod:`samplegen.evaluate.ctr_slices`) and by the ``segment_balance`` strategy
(:mod:`samplegen.generate.segment_balance`), so a strategy aims at exactly the rows a slice
scores. Each threshold is a "lower" quantile (the largest value at or below the quantile's
position, as ``pandas.Series.quantile(q, interpolation="lower")``) over distinct entities of
the rows' own split:

* ``cold_users``: ``user_events`` at or below the users' :data:`COLD_USER_QUANTILE`;
* ``cold_items``: ``item_users`` at or below the items' :data:`COLD_ITEM_QUANTILE`;
* ``rare_categories``: a ``category`` whose row count is at or below the categories'
  :data:`RARE_CATEGORY_QUANTILE` (the item rule, applied to categories; stage 4 has no
  rare-category slice: its CTR category slices are the top categories by test rows).

A row with a null in the column is in no segment. Imports nothing of samplegen, so the config
checks may use the names too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Bottom quartile of users by activity (``user_events``).
COLD_USER_QUANTILE = 0.25
#: Bottom half of items by popularity (``item_users``).
COLD_ITEM_QUANTILE = 0.5
#: Bottom half of categories by their number of rows.
RARE_CATEGORY_QUANTILE = 0.5

COLD_USERS, COLD_ITEMS, RARE_CATEGORIES = "cold_users", "cold_items", "rare_categories"
#: Every segment, and the ``samples_ctr`` column that decides membership.
SEGMENT_COLUMNS = {COLD_USERS: "user_events", COLD_ITEMS: "item_users", RARE_CATEGORIES: "category"}


def lower_quantile(
    values: Sequence[float], q: float, counts: Sequence[int] | None = None
) -> float | None:
    """The "lower" ``q``-quantile of ``values``, each repeated ``counts`` times (default once).

    Equal to ``pandas.Series(expanded).quantile(q, interpolation="lower")``: the sorted value
    at position ``floor(q * (n - 1))``. Taking counts lets a caller pass a grouped column
    (distinct value, how many entities have it) instead of one value per entity. ``None``
    without values.
    """
    vals = np.asarray(values, dtype=np.float64)
    weights = np.ones(vals.size, dtype=np.int64) if counts is None else np.asarray(counts)
    if vals.size == 0 or weights.sum() == 0:
        return None
    order = np.argsort(vals, kind="stable")
    vals, cumulative = vals[order], np.cumsum(weights[order])
    position = int(np.floor(q * (int(cumulative[-1]) - 1)))
    return float(vals[int(np.searchsorted(cumulative, position, side="right"))])

"""Slices of the CTR classifiers' test rows, and the positive label's share in each.

A CTR classifier is scored on every ``samples_ctr`` test row (``all``), on the rows of cold
users (bottom activity quartile), of cold items (bottom popularity half) and, like the
recommenders' utility slices (:func:`samplegen.evaluate.utility.slices`), on the rows of each
of the ``evaluate.top_categories`` categories with the most test rows (``category:<name>``).
Each slice also gets a :data:`LABEL_SHARE` row: how rare the label the classifier must find
is there, which is what rebalancing strategies act on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samplegen.evaluate.classifiers import LABEL
from samplegen.evaluate.rows import CATEGORY_PREFIX, EvalRow
from samplegen.segments import COLD_ITEM_QUANTILE, COLD_USER_QUANTILE

#: The slices every CTR run has: every row, the users in the bottom quartile of activity
#: (``user_events``), the items in the bottom half of popularity (``item_users``). The
#: ``category:<name>`` slices of the top categories follow them.
CTR_SLICES = ("all", "cold_users", "cold_items")

#: Metric of the rows holding the share of positive (label 1) test rows of a slice: the
#: minority label's share in ``samples_ctr`` (purchases among exposures; a value above 0.5
#: says positives are the majority there).
LABEL_SHARE = "label_share"
#: Variant of the :data:`LABEL_SHARE` rows: a property of the test rows, not of a model.
TEST_ROWS = "test_rows"


def top_categories(categories: pd.Series, n: int) -> list[str]:
    """The ``n`` categories with the most rows of ``categories``, most first.

    Nulls are no category; ties go to the name that sorts first, so the choice is the same
    whatever the rows' order.
    """
    if n <= 0:
        return []
    counts = categories.dropna().astype(str).value_counts()
    if counts.empty:
        return []
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in ranked[:n]]


def slice_masks(test: pd.DataFrame, n_categories: int) -> dict[str, np.ndarray]:
    """Row masks of :data:`CTR_SLICES` and the top ``n_categories`` categories' slices.

    Thresholds are quantiles over the distinct test users (items): a cold user has
    ``user_events`` at or below the users' lower quartile, a cold item ``item_users`` at or
    below the items' median. Rows with a null count are in no cold slice. A category slice
    (``category:<name>``, :func:`top_categories` of the test rows' ``category``) holds the
    rows of that category.
    """
    events = test["user_events"].astype("float64")
    popularity = test["item_users"].astype("float64")
    per_user = events.groupby(test["user_idx"]).first().dropna()
    per_item = popularity.groupby(test["item_idx"]).first().dropna()
    user_cut = per_user.quantile(COLD_USER_QUANTILE, interpolation="lower") if len(per_user) else -1
    item_cut = per_item.quantile(COLD_ITEM_QUANTILE, interpolation="lower") if len(per_item) else -1
    masks = {
        "all": np.ones(len(test), dtype=bool),
        "cold_users": (events <= user_cut).to_numpy(),
        "cold_items": (popularity <= item_cut).to_numpy(),
    }
    category = test["category"].astype(object)
    for name in top_categories(category, n_categories):
        masks[f"{CATEGORY_PREFIX}{name}"] = (category == name).to_numpy(dtype=bool)
    return masks


def label_share_rows(name: str, test: pd.DataFrame, masks: dict[str, np.ndarray]) -> list[EvalRow]:
    """One :data:`LABEL_SHARE` row of classifier ``name`` per non-empty slice of ``masks``.

    The value is the share of label-1 rows among the slice's test rows; ``n_users`` counts
    the slice's users, as the metric rows of the slice do.
    """
    labels = test[LABEL].to_numpy().astype(np.int64)
    users = test["user_idx"].to_numpy()
    rows = []
    for slice_, mask in masks.items():
        if mask.any():
            share = float(labels[mask].mean())
            n_users = int(np.unique(users[mask]).size)
            rows.append(EvalRow(name, TEST_ROWS, slice_, LABEL_SHARE, None, share, n_users=n_users))
    return rows

"""Fidelity of synthetic records: how closely they follow the real ones, in plain numpy.

A record is one user's history, a 1-D int array of distinct item indices in ``[0, n_items)``.
The metrics compare the real and synthetic record sets on the marginals a recommender is most
sensitive to (item popularity, basket size, category mix), on pairwise structure (item
co-occurrence) and, as a catch-all, on how well a simple classifier can tell the two apart.

Everything is deterministic given the seed: sampling uses ``np.random.default_rng(seed)`` and
every ranking breaks ties by the lower index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from samplegen.evaluate.detection import detection_auc
from samplegen.evaluate.records import (
    all_items,
    check_categories,
    column_map,
    gram,
    item_counts,
    popularity_order,
    record_sizes,
)
from samplegen.evaluate.stats import ks_statistic, pearson, total_variation

#: Most popular real items whose pairs enter :func:`cooccurrence_corr` (dense gram matrix).
COOC_TOP_ITEMS = 300

#: Most co-occurring real item pairs correlated in the co-occurrence metric.
COOC_TOP_PAIRS = 1000


# --- fidelity metrics --------------------------------------------------------------------------


def fidelity_metrics(
    real: Sequence[np.ndarray],
    synthetic: Sequence[np.ndarray],
    n_items: int,
    item_category: np.ndarray,
    seed: int,
) -> dict[str, float]:
    """Compare synthetic records with real ones; lower distances / higher correlation is better.

    Metrics (NaN where a side has nothing to compare):

    - ``popularity_tvd``: total variation distance between the real and synthetic item
      interaction counts (shares of interactions per item).
    - ``popularity_rank_ks``: KS statistic between the real-popularity ranks (0 = most popular
      item in the real records, ties by lower index) of every real interaction and of every
      synthetic interaction; it tells whether synthetic interactions are as concentrated on
      head items, regardless of which head items they are.
    - ``basket_size_ks`` and ``basket_size_tvd``: KS statistic between the record lengths, and
      TVD between their histograms over sizes ``0..max``.
    - ``category_tvd``: TVD between the category shares of interactions (unknown category -1
      ignored).
    - ``cooccurrence_corr``: Pearson correlation between real and synthetic co-occurrence rates
      (records containing both items / number of records) over the ``COOC_TOP_PAIRS`` pairs
      co-occurring most in the real records, among the ``COOC_TOP_ITEMS`` most popular real
      items. NaN with fewer than 2 such pairs or zero variance on either side.
    - ``detection_auc``: held-out ROC AUC of an L2 logistic regression telling real (0) from
      synthetic (1) records on per-record features (see :func:`detection_auc`); 0.5 means
      indistinguishable. NaN if either side has fewer than ``DETECTION_MIN_RECORDS`` records.

    Args:
        real: Real records, one int array of distinct item indices per user.
        synthetic: Synthetic records, same format.
        n_items: Catalogue size.
        item_category: ``(n_items,)`` int category codes ``>= 0``, or -1 for unknown.
        seed: Seed of the detection test's sampling and split.

    Returns:
        Metric name to value.

    Raises:
        ValueError: If ``n_items`` is not positive, an item index is out of range, or
            ``item_category`` is not one code ``>= -1`` per item.
    """
    item_category = check_categories(item_category, n_items)
    real_counts = item_counts(real, n_items)
    synthetic_counts = item_counts(synthetic, n_items)

    rank_of = np.empty(n_items, dtype=np.int64)
    rank_of[popularity_order(real_counts)] = np.arange(n_items)
    real_sizes, synthetic_sizes = record_sizes(real), record_sizes(synthetic)
    return {
        "popularity_tvd": total_variation(real_counts, synthetic_counts),
        "popularity_rank_ks": ks_or_nan(rank_of[all_items(real)], rank_of[all_items(synthetic)]),
        "basket_size_ks": ks_or_nan(real_sizes, synthetic_sizes),
        "basket_size_tvd": _size_tvd(real_sizes, synthetic_sizes),
        "category_tvd": _category_tvd(real_counts, synthetic_counts, item_category),
        "cooccurrence_corr": cooccurrence_corr(real, synthetic, n_items),
        "detection_auc": detection_auc(real, synthetic, n_items, item_category, seed),
    }


def ks_or_nan(a: np.ndarray, b: np.ndarray) -> float:
    """KS statistic, or NaN when either sample is empty."""
    return ks_statistic(a, b) if a.size and b.size else math.nan


def _size_tvd(real_sizes: np.ndarray, synthetic_sizes: np.ndarray) -> float:
    """TVD between the histograms of record sizes over ``0..max``."""
    if real_sizes.size == 0 or synthetic_sizes.size == 0:
        return math.nan
    n_bins = int(max(real_sizes.max(), synthetic_sizes.max())) + 1
    return total_variation(
        np.bincount(real_sizes, minlength=n_bins), np.bincount(synthetic_sizes, minlength=n_bins)
    )


def _category_tvd(
    real_counts: np.ndarray, synthetic_counts: np.ndarray, item_category: np.ndarray
) -> float:
    """TVD between interaction shares per known category."""
    known = item_category >= 0
    if not known.any():
        return math.nan
    n_categories = int(item_category.max()) + 1
    codes = item_category[known]
    return total_variation(
        np.bincount(codes, weights=real_counts[known], minlength=n_categories),
        np.bincount(codes, weights=synthetic_counts[known], minlength=n_categories),
    )


def cooccurrence_corr(
    real: Sequence[np.ndarray],
    synthetic: Sequence[np.ndarray],
    n_items: int,
    top_items: int = COOC_TOP_ITEMS,
    top_pairs: int = COOC_TOP_PAIRS,
) -> float:
    """Pearson correlation of real and synthetic co-occurrence rates over the top real pairs.

    The rate of a pair is the share of records containing both items. Pairs are taken among
    the ``top_items`` most popular real items (items with no real interaction excluded) and
    ranked by real rate, ties by lower item indices (pairs ``(a, b)`` with ``a < b`` compared
    lexicographically); only pairs that co-occur at least once in the real records are kept, at
    most ``top_pairs`` of them. A generator that reproduces popularity but not which items go
    together scores near 0.

    Args:
        real: Real records.
        synthetic: Synthetic records.
        n_items: Catalogue size.
        top_items: Most popular real items considered.
        top_pairs: Most co-occurring real pairs correlated.

    Returns:
        The correlation, or NaN if either side has no records, fewer than 2 pairs qualify, or
        either side's rates have zero variance.
    """
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan
    real_counts = item_counts(real, n_items)
    n_top = min(top_items, int((real_counts > 0).sum()))
    items = np.sort(popularity_order(real_counts)[:n_top])  # index order: pair ties by index
    if items.size < 2:
        return math.nan
    column_of = column_map(items, n_items)
    upper = np.triu_indices(items.size, k=1)
    real_rates = gram(real, column_of, items.size)[upper] / len(real)
    order = np.argsort(-real_rates, kind="stable")
    order = order[real_rates[order] > 0][:top_pairs]
    if order.size < 2:
        return math.nan
    synthetic_rates = gram(synthetic, column_of, items.size)[upper][order] / len(synthetic)
    return pearson(real_rates[order], synthetic_rates)


#: Categorical columns of an item row compared by :func:`item_fidelity`.
ITEM_COLUMNS = ("category", "department", "brand")


def item_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """How closely synthetic item rows follow the real catalogue, column by column.

    - ``tvd:<column>`` for category, department and brand: TVD of the value shares (nulls are
      a value of their own);
    - ``ks:price``: KS between the real and synthetic prices (rows with a price);
    - ``pair_tvd:department,category``: TVD of the joint (department, category) shares, the
      association a per-column figure cannot see;
    - with a ``title`` column on both sides: ``tvd:title_words``, TVD of the word shares over
      all titles, and ``ks:title_length``, KS between the words per title.

    Args:
        real: Real item rows with :data:`ITEM_COLUMNS` and ``price`` (``title`` optional).
        synthetic: Synthetic item rows with the same columns.

    Returns:
        The figures by name; NaN where a side has nothing to compare.
    """
    out: dict[str, float] = {}
    for column in ITEM_COLUMNS:
        out[f"tvd:{column}"] = share_tvd(real[column], synthetic[column])
    real_price = pd.to_numeric(real["price"], errors="coerce").dropna().to_numpy()
    synthetic_price = pd.to_numeric(synthetic["price"], errors="coerce").dropna().to_numpy()
    out["ks:price"] = ks_or_nan(real_price, synthetic_price)
    pair = ["department", "category"]
    out["pair_tvd:department,category"] = share_tvd(
        real[pair].astype(str).agg("|".join, axis=1),
        synthetic[pair].astype(str).agg("|".join, axis=1),
    )
    if "title" in real.columns and "title" in synthetic.columns:
        real_words = real["title"].dropna().astype(str).str.split()
        synthetic_words = synthetic["title"].dropna().astype(str).str.split()
        out["tvd:title_words"] = share_tvd(real_words.explode(), synthetic_words.explode())
        out["ks:title_length"] = ks_or_nan(
            real_words.map(len).to_numpy(float), synthetic_words.map(len).to_numpy(float)
        )
    return out


def share_tvd(real: pd.Series, synthetic: pd.Series) -> float:
    """TVD between the value shares of two columns (null counted as a value)."""
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan
    counts = pd.concat(
        [
            real.astype(object).fillna("<null>").value_counts().rename("real"),
            synthetic.astype(object).fillna("<null>").value_counts().rename("synthetic"),
        ],
        axis=1,
    ).fillna(0)
    return total_variation(counts["real"].to_numpy(), counts["synthetic"].to_numpy())

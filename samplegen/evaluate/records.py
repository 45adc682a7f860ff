"""Records, one user's history each: a 1-D int array of distinct item indices in ``[0, n_items)``.

Helpers shared by fidelity, the detection test, privacy and the explanation: sizes, item
counts, popularity order, and dense binary matrices built a chunk of records at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Records per dense chunk when building binary matrices (8192 x 1000 float32 is 32 MB).
CHUNK_ROWS = 8192


def record_sizes(records: Sequence[np.ndarray]) -> np.ndarray:
    """Number of items in each record, as int64."""
    return np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))


def item_counts(records: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Number of records containing each item (items are distinct within a record).

    Args:
        records: One int array of item indices per user.
        n_items: Catalogue size.

    Returns:
        ``(n_items,)`` int64 counts.

    Raises:
        ValueError: If ``n_items`` is not positive or an item index is outside ``[0, n_items)``.
    """
    return np.bincount(checked_items(records, n_items), minlength=n_items).astype(np.int64)


def checked_items(records: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """All records' items concatenated, after checking they are valid catalogue indices."""
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    items = all_items(records)
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(
            f"item indices must be in [0, {n_items}), got range [{items.min()}, {items.max()}]"
        )
    return items


def all_items(records: Sequence[np.ndarray]) -> np.ndarray:
    """All records' items concatenated, as int64."""
    if len(records) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.asarray(r, dtype=np.int64).ravel() for r in records])


def popularity_order(counts: np.ndarray) -> np.ndarray:
    """Item indices from most to least counted, ties broken by the lower index."""
    return np.argsort(-counts, kind="stable")


def column_map(columns: np.ndarray, n_items: int) -> np.ndarray:
    """Per item, its column among ``columns`` or -1 when it is not one of them."""
    column_of = np.full(n_items, -1, dtype=np.int64)
    column_of[columns] = np.arange(columns.size)
    return column_of


def dense_rows(records: Sequence[np.ndarray], column_of: np.ndarray, n_cols: int) -> np.ndarray:
    """Dense float32 binary matrix of ``records`` over the items mapped by ``column_of``."""
    out = np.zeros((len(records), n_cols), dtype=np.float32)
    sizes = record_sizes(records)
    if sizes.sum() == 0:
        return out
    rows = np.repeat(np.arange(len(records)), sizes)
    cols = column_of[all_items(records)]
    keep = cols >= 0
    out[rows[keep], cols[keep]] = 1.0
    return out


def gram(records: Sequence[np.ndarray], column_of: np.ndarray, n_cols: int) -> np.ndarray:
    """``X.T @ X`` of the binary matrix of ``records``, built ``CHUNK_ROWS`` rows at a time.

    Each chunk's product is exact in float32 (counts stay far below 2**24) and is accumulated
    in float64, so memory is bounded by one chunk whatever the number of records.
    """
    gram = np.zeros((n_cols, n_cols), dtype=np.float64)
    for start in range(0, len(records), CHUNK_ROWS):
        x = dense_rows(records[start : start + CHUNK_ROWS], column_of, n_cols)
        gram += x.T @ x
    return gram


def check_categories(item_category: np.ndarray, n_items: int) -> np.ndarray:
    """Validate the per-item category codes and return them as int64."""
    item_category = np.asarray(item_category)
    if item_category.shape != (n_items,):
        raise ValueError(
            f"item_category must have one code per item ({n_items}), got {item_category.shape}"
        )
    if not np.issubdtype(item_category.dtype, np.integer):
        raise ValueError(f"item_category must be integer codes, got {item_category.dtype}")
    if item_category.size and item_category.min() < -1:
        raise ValueError("item_category codes must be >= 0, or -1 for unknown")
    return item_category.astype(np.int64)


def row_normalised(records: Sequence[np.ndarray], column_of: np.ndarray, n_cols: int) -> np.ndarray:
    """Dense binary matrix with each non-empty row scaled to unit L2 norm."""
    x = dense_rows(records, column_of, n_cols)
    norms = np.sqrt(x.sum(axis=1, keepdims=True))  # binary rows: squared norm = row sum
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)

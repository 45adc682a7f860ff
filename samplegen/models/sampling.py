"""Drawing items from model scores: Gumbel-top-k, category mixes and per-category quotas.

Every draw takes one ``numpy.random.Generator`` per row, so a row's items never depend on
which other rows share its batch (a retried Spark task writes the same rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def normal_rows(rngs: Sequence[np.random.Generator], size: int) -> torch.Tensor:
    """A (rows, size) float32 standard-normal tensor, row i drawn from ``rngs[i]``."""
    return torch.from_numpy(
        np.stack([rng.standard_normal(size) for rng in rngs]).astype(np.float32)
    )


def gumbel_keys(
    logits: np.ndarray, exclude: np.ndarray, rngs: Sequence[np.random.Generator]
) -> np.ndarray:
    """Logits plus Gumbel noise (float64), ``-inf`` where ``exclude`` is true.

    The ``k`` largest keys of a row are a draw of ``k`` columns without replacement from
    softmax(logits) over the allowed columns.
    """
    uniforms = np.stack([rng.uniform(1e-12, 1.0, size=logits.shape[1]) for rng in rngs])
    keys = logits.astype(np.float64) - np.log(-np.log(uniforms))
    keys[exclude] = -np.inf
    return keys


def _top(keys: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` largest finite keys per row, -1 past the finite ones."""
    k = min(k, keys.shape[1])
    top = np.argsort(-keys, axis=1, kind="stable")[:, :k]
    return np.where(np.isfinite(np.take_along_axis(keys, top, axis=1)), top, -1)


def gumbel_top_k(
    logits: np.ndarray, k: int, exclude: np.ndarray, rngs: Sequence[np.random.Generator]
) -> np.ndarray:
    """``k`` distinct columns per row drawn without replacement from softmax(logits).

    Returns int (rows, k), -1 where a row ran out of allowed columns.
    """
    return _top(gumbel_keys(logits, exclude, rngs), k)


def category_matrix(item_categories: Sequence[int], n_categories: int) -> torch.Tensor:
    """One-hot (n_items, n_categories) float matrix of each item's category index."""
    index = torch.as_tensor(list(item_categories), dtype=torch.long)
    return torch.nn.functional.one_hot(index, n_categories).float()


def category_mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Each row's share of items per category (rows sum to 1; empty rows are all zero)."""
    counts = x @ matrix
    return counts / counts.sum(dim=1, keepdim=True).clamp_min(1e-12)


def text_profile(x: torch.Tensor, item_text: torch.Tensor) -> torch.Tensor:
    """Each row's mean text embedding over its items (zero for an empty row)."""
    return (x @ item_text) / x.sum(dim=1, keepdim=True).clamp_min(1.0)


def implied_text_profile(
    mix: torch.Tensor, matrix: torch.Tensor, item_text: torch.Tensor
) -> torch.Tensor:
    """The text profile a category ``mix`` implies: ``mix @`` each category's mean embedding."""
    counts = matrix.sum(0).clamp_min(1.0)[:, None]
    return mix @ ((matrix.T @ item_text) / counts)


def item_text_of(params: dict[str, Any]) -> np.ndarray | None:
    """The (n_items, text_dim) item text matrix a model's params point to, if any.

    ``text_dim`` 0 (or absent) means no text condition. ``item_text_file`` is read when it
    exists (when the model is built for training); otherwise zeros stand in, and a saved
    model's weights fill them when loaded.
    """
    text_dim = int(params.get("text_dim", 0))
    if text_dim == 0:
        return None
    source = params.get("item_text_file")
    if source and Path(source).exists():
        return np.load(source).astype(np.float32)
    return np.zeros((int(params["n_items"]), text_dim), dtype=np.float32)


def register_item_text(module: torch.nn.Module, n_items: int, item_text: np.ndarray | None) -> None:
    """Give ``module`` an ``item_text`` buffer: the matrix, or (n_items, 0) without text.

    The matrix is saved with the weights when there is one, so a loaded model needs no file.
    """
    text = np.zeros((n_items, 0)) if item_text is None else item_text
    module.register_buffer(
        "item_text", torch.as_tensor(text, dtype=torch.float32), persistent=item_text is not None
    )


def quota_counts(mix: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` items per row over categories by ``mix`` (largest remainder, exact sum)."""
    mix = np.asarray(mix, dtype=np.float64)
    mix = mix / np.clip(mix.sum(axis=1, keepdims=True), 1e-12, None)
    exact = mix * k
    counts = np.floor(exact).astype(np.int64)
    short = k - counts.sum(axis=1)
    order = np.argsort(-(exact - counts), axis=1, kind="stable")
    bump = np.arange(mix.shape[1])[None, :] < short[:, None]
    np.put_along_axis(counts, order, np.take_along_axis(counts, order, axis=1) + bump, axis=1)
    return counts


def quota_top_k(
    logits: np.ndarray,
    k: int,
    mix: np.ndarray,
    item_categories: np.ndarray,
    exclude: np.ndarray,
    rngs: Sequence[np.random.Generator],
) -> np.ndarray:
    """Draw ``k`` items per row with ``round(mix * k)`` of them from each category.

    Within a category the draw follows the model (Gumbel-top-k on its logits). A category
    with too few allowed items gives its shortfall to the model's best remaining items of any
    category. Returns int (rows, k), -1 only where a row has fewer than ``k`` allowed items.
    """
    keys = gumbel_keys(logits, exclude, rngs)
    counts = quota_counts(mix, k)
    rows = np.arange(keys.shape[0])
    picked = np.full((keys.shape[0], k), -1, dtype=np.int64)
    filled = np.zeros(keys.shape[0], dtype=np.int64)
    for category in np.flatnonzero(counts.max(axis=0)):
        need = counts[:, category]
        in_category = np.where(item_categories[None, :] == category, keys, -np.inf)
        top = _top(in_category, int(need.max()))
        take = (top >= 0) & (np.arange(top.shape[1])[None, :] < need[:, None])
        slots = filled[:, None] + np.cumsum(take, axis=1) - 1
        picked[np.broadcast_to(rows[:, None], take.shape)[take], slots[take]] = top[take]
        keys[np.broadcast_to(rows[:, None], take.shape)[take], top[take]] = -np.inf
        filled += take.sum(axis=1)
    rest = _top(keys, k)
    positions = np.arange(rest.shape[1])[None, :]
    fill = (positions < (k - filled)[:, None]) & (rest >= 0)
    slots = filled[:, None] + positions
    picked[np.broadcast_to(rows[:, None], fill.shape)[fill], slots[fill]] = rest[fill]
    return picked


def draw_items(
    logits: np.ndarray,
    k: int,
    exclude: np.ndarray,
    rngs: Sequence[np.random.Generator],
    quota_mix: np.ndarray | None = None,
    item_categories: np.ndarray | None = None,
) -> np.ndarray:
    """Gumbel-top-k, or :func:`quota_top_k` when a ``quota_mix`` (rows, categories) is given."""
    if quota_mix is None:
        return gumbel_top_k(logits, k, exclude, rngs)
    if item_categories is None:
        raise ValueError("quota sampling needs each item's category")
    return quota_top_k(logits, k, quota_mix, item_categories, exclude, rngs)

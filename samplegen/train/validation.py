"""Validation during training: NDCG@k of held-out items, to pick the best epoch.

Each validation user folds in their training items (the model's input) and is scored on the
items they interacted with in the validation split, ranked over the full catalogue with the
fold-in items masked. The data comes from the same Delta snapshots as training, read with
pyarrow (no Spark on the training processes), and the ranking runs on the training device, so
a GPU never sends a (users, items) score matrix to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from samplegen.locations import open_parquet
from samplegen.models.base import InteractionGenerator, SparseRows
from samplegen.train.loaders import sparse_rows


@dataclass(frozen=True)
class ValidationSet:
    """Fold-in histories and held-out targets of the validation users, row-aligned."""

    history: SparseRows
    targets: SparseRows

    @property
    def n_users(self) -> int:
        """Validation users."""
        return self.history.n_rows


def _read(files: list[str], columns: list[str]) -> dict[str, list]:
    tables = [open_parquet(f).read(columns=columns) for f in sorted(files)]
    return {c: [v for t in tables for v in t.column(c).to_pylist()] for c in columns}


def load_validation(
    view_files: list[str], valid_files: list[str], max_users: int, seed: int
) -> ValidationSet | None:
    """Users with training items and validation items; at most ``max_users`` of them.

    Args:
        view_files: files of the training view (``user_idx``, packed ``item_bytes``).
        valid_files: files of ``interactions_valid`` (``user_idx``, ``item_idx`` array).
        max_users: cap, drawn uniformly with ``seed`` when there are more.
        seed: seed of that draw.

    Returns:
        None when no user has both.
    """
    view = _read(view_files, ["user_idx", "item_bytes"])
    valid = _read(valid_files, ["user_idx", "item_idx"])
    history = dict(zip(view["user_idx"], view["item_bytes"], strict=True))
    users = sorted(
        u
        for u, items in zip(valid["user_idx"], valid["item_idx"], strict=True)
        if items and u in history
    )
    if not users:
        return None
    if len(users) > max_users:
        users = sorted(np.random.default_rng(seed).choice(users, max_users, replace=False))
    targets = dict(zip(valid["user_idx"], valid["item_idx"], strict=True))
    packed_targets = [np.asarray(targets[u], dtype="<i4").tobytes() for u in users]
    return ValidationSet(sparse_rows([history[u] for u in users]), sparse_rows(packed_targets))


def _slice(rows: SparseRows, start: int, stop: int) -> SparseRows:
    keep = (rows.rows >= start) & (rows.rows < stop)
    return SparseRows(rows.rows[keep] - start, rows.cols[keep], stop - start)


@torch.no_grad()
def validation_ndcg(
    generator: InteractionGenerator,
    validation: ValidationSet,
    k: int = 100,
    batch_size: int = 1024,
) -> float:
    """Mean NDCG@k over the validation users (binary relevance, fold-in items masked)."""
    device = generator.device
    discounts = 1.0 / torch.log2(torch.arange(k, device=device, dtype=torch.float64) + 2.0)
    ideal = torch.cat([torch.zeros(1, device=device, dtype=torch.float64), discounts.cumsum(0)])
    total = 0.0
    for start in range(0, validation.n_users, batch_size):
        stop = min(start + batch_size, validation.n_users)
        x = _slice(validation.history, start, stop).to_dense(generator.n_items, device)
        relevant = _slice(validation.targets, start, stop).to_dense(generator.n_items, device)
        scores = generator.scores(x).masked_fill(x > 0, float("-inf"))
        top = scores.topk(min(k, scores.shape[1]), dim=1).indices
        hits = relevant.gather(1, top).double()
        dcg = hits @ discounts[: top.shape[1]]
        n_relevant = relevant.sum(dim=1).long().clamp_max(k)
        total += (dcg / ideal[n_relevant]).sum().item()
    return total / validation.n_users

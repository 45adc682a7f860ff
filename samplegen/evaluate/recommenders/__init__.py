"""Downstream recommenders used to judge whether augmented data helps.

They share one tiny surface, ``fit(interactions) -> self`` and ``score(user_rows) -> scores``,
on dense ``(n_users, n_items)`` matrices. Scoring takes interaction rows rather than user ids
(fold-in), so the same fitted model scores users it never saw, e.g. the evaluation users of a
model fitted on augmented data.

Each recommender lives in its own module of this package, registered in
:data:`samplegen.registry.RECOMMENDERS`; the module defines one factory,
``make(cfg: EvaluateConfig, spark: SparkSession, seed: int) -> Recommender``, that builds it
with the run's settings. Adding a recommender is one module plus one registry line.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self

import numpy as np

from samplegen.registry import recommender

if TYPE_CHECKING:
    import torch
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class Recommender(Protocol):
    """What stage 4 needs from a recommender."""

    def fit(self, interactions: np.ndarray) -> Self:
        """Learn from a dense ``(n_users, n_items)`` non-negative interaction matrix."""
        ...

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Return ``(n_rows, n_items)`` float32 scores for the given interaction rows."""
        ...


@dataclass(frozen=True)
class ItemInfo:
    """What the item-cold baselines know of the ranked columns: catalogue attributes only.

    Attributes:
        attributes: ``(n_columns, n_features)`` one-hot category, department and brand (with
            ``aggregate.text_embeddings``, unit length and followed by the catalogue-text
            embedding); all-zero for an unknown item.
        category: ``(n_columns,)`` category codes, -1 where unknown.
        is_new: ``(n_columns,)`` the run's new items (the only items a baseline ranks first).
    """

    attributes: np.ndarray
    category: np.ndarray
    is_new: np.ndarray


#: The score an item-cold baseline gives vocabulary items: below every new item's.
NOT_NEW_SCORE = -1.0


class AttributeBaseline:
    """What the item-cold baselines share: the ranked columns' :class:`ItemInfo`.

    :func:`with_items` hands it over before ``fit``; :meth:`checked` reads it back, checked
    against the number of columns being fitted.
    """

    def __init__(self) -> None:
        self.items: ItemInfo | None = None

    def with_items(self, items: ItemInfo) -> Self:
        """Read the ranked columns' attributes, categories and new-item mask (before ``fit``)."""
        self.items = items
        return self

    def checked(self, n_columns: int) -> ItemInfo:
        """The :class:`ItemInfo`, after :func:`checked_items` for ``n_columns`` columns."""
        return checked_items(self.items, n_columns, type(self).__name__)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` with each non-zero row scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def with_items(model: Recommender, items: ItemInfo) -> Recommender:
    """``model`` told the ranked columns' attributes, if it reads them (the item-cold baselines)."""
    attach = getattr(model, "with_items", None)
    return attach(items) if attach is not None else model


def checked_items(items: ItemInfo | None, n_columns: int, name: str) -> ItemInfo:
    """``items`` after checking that it describes ``n_columns`` columns.

    Raises:
        RuntimeError: If no :class:`ItemInfo` was given (``with_items`` not called).
        ValueError: If it describes another number of columns.
    """
    if items is None:
        raise RuntimeError(f"{name} needs with_items(ItemInfo) before fit")
    sizes = {len(items.attributes), len(items.category), len(items.is_new)}
    if sizes != {n_columns}:
        raise ValueError(f"{name}: ItemInfo describes {sorted(sizes)} columns, not {n_columns}")
    return items


class VocabularyOnly:
    """``model`` fitted and scoring on the first ``n_items`` columns; the others score lowest.

    The real-only variant of a ``new_items`` run: its real rows carry the run's new items as
    empty columns past the vocabulary. A model with an output per column (Mult-VAE's softmax)
    is changed by them, so the real-only reference it is compared with would be handicapped;
    the real data knows nothing of those items, so they rank below every vocabulary item.
    """

    #: The score of a column past the vocabulary: below any model's, above a masked item's.
    UNKNOWN_SCORE = float(np.finfo(np.float32).min)

    def __init__(self, model: Recommender, n_items: int) -> None:
        self.model = model
        self.n_items = n_items

    def fit(self, interactions: np.ndarray, validate: Callable[[Any], float] | None = None) -> Self:
        """Fit ``model`` on the vocabulary's columns of ``interactions``.

        ``validate`` (a ``validated`` recommender's, see :class:`samplegen.registry.
        RecommenderSpec`) is asked about this wrapper, which scores every column.
        """
        vocabulary = interactions[:, : self.n_items]
        if validate is None:
            self.model.fit(vocabulary)
        else:
            self.model.fit(vocabulary, lambda _inner: validate(self))  # type: ignore[call-arg]
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """``model``'s scores of the vocabulary, :attr:`UNKNOWN_SCORE` past it."""
        scores = np.full(user_rows.shape, self.UNKNOWN_SCORE, dtype=np.float32)
        scores[:, : self.n_items] = self.model.score(user_rows[:, : self.n_items])
        return scores


def make_recommender(
    name: str, cfg: EvaluateConfig, spark: SparkSession | None, seed: int
) -> Recommender:
    """Build the registered recommender ``name`` with the run's settings and ``seed``.

    Args:
        name: A key of :data:`samplegen.registry.RECOMMENDERS`.
        cfg: The ``evaluate`` settings (each recommender reads its own keys).
        spark: The session (only Spark ALS uses it).
        seed: The seed of a stochastic recommender (the others ignore it).

    Returns:
        A new, unfitted recommender.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the known names.
    """
    return recommender(name).load().make(cfg, spark, seed)


def check_interactions(interactions: np.ndarray) -> None:
    """Reject inputs that are not a 2-D non-negative matrix, naming the problem."""
    if interactions.ndim != 2:
        raise ValueError(
            f"interactions must be 2-D (n_users, n_items), got shape {interactions.shape}"
        )
    if interactions.size and np.nanmin(interactions) < 0:
        raise ValueError("interactions must be non-negative (0 means no interaction)")


def fitted(state: np.ndarray | None, user_rows: np.ndarray, name: str) -> np.ndarray:
    """Return the fitted state after checking that the rows use the fitted catalogue.

    Raises:
        RuntimeError: If ``fit`` has not run.
        ValueError: If ``user_rows`` is not ``(n_rows, n_items)`` for the fitted items.
    """
    if state is None:
        raise RuntimeError(f"{name}.score called before fit")
    n_items = state.shape[-1]
    if user_rows.ndim != 2 or user_rows.shape[1] != n_items:
        raise ValueError(
            f"user_rows must have shape (n_rows, {n_items}) to match the fitted items, "
            f"got {user_rows.shape}"
        )
    return state


def best_epoch(history: list[dict[str, Any]]) -> int | None:
    """The epoch whose weights a validated fit keeps: the best-scored one, earliest of ties.

    None when the :func:`fit_in_process` history has no validated epoch.
    """
    scored = [r for r in history if "valid_score" in r]
    if not scored:
        return None
    return int(max(scored, key=lambda r: (r["valid_score"], -r["epoch"]))["epoch"])


def fit_in_process(
    model: Any,
    rows: torch.Tensor,
    epochs: int,
    batch_size: int,
    seed: int,
    learning_rate: float = 1e-3,
    validate: Callable[[Any], float] | None = None,
    patience: int = 0,
) -> list[dict[str, Any]]:
    """Train a torch recommender on ``rows`` with the project's training loop, in this process.

    Each epoch visits every row once, in batches drawn in an order seeded by ``seed``, so a
    seed gives the same model; the loop's per-epoch log lines are kept off stdout. With
    ``validate`` (``model -> score``, higher is better) the best epoch's weights are kept and
    training stops after ``patience`` epochs without a better score (0: never early).

    Returns:
        the loop's per-epoch records.
    """
    import torch

    from samplegen.train.loop import train_loop

    n_rows = len(rows)
    generator = torch.Generator().manual_seed(seed)

    def batches():
        while True:
            order = torch.randperm(n_rows, generator=generator)
            for start in range(0, n_rows, batch_size):
                yield rows[order[start : start + batch_size]]

    with contextlib.redirect_stdout(io.StringIO()):
        return train_loop(
            model,
            batches(),
            epochs=epochs,
            steps_per_epoch=max(1, math.ceil(n_rows / batch_size)),
            learning_rate=learning_rate,
            validate=validate,
            patience=patience,
        )

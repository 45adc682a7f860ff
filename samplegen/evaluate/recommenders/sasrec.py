"""SASRec as a downstream sequential recommender: fit on time-ordered sequences, score a history.

Unlike the matrix recommenders (``fit(interactions)``), a sequential model learns from and
scores ordered item lists (:mod:`samplegen.evaluate.sequences`). The network and its loss
are in :mod:`samplegen.models.sasrec`; training goes through the project's training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from samplegen.evaluate.recommenders import best_epoch, fit_in_process

#: A scoring function: histories -> ``(n, n_items)`` next-item scores.
Scores = Callable[[Sequence[np.ndarray]], np.ndarray]

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class SASRecRecommender:
    """SASRec trained in-process on sequences, full softmax cross-entropy.

    Each epoch visits every sequence once, as its last ``max_len + 1`` items (inputs and
    next-item targets); batches are drawn in a seeded order, so a seed gives the same model.
    """

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        epochs: int = 30,
        batch_size: int = 128,
        learning_rate: float = 3e-3,
        seed: int = 0,
        patience: int = 0,
    ) -> None:
        if epochs <= 0 or batch_size <= 0:
            raise ValueError(f"sasrec needs positive epochs and batch_size, got {epochs}")
        self.params = dict(params or {})
        self.epochs, self.batch_size = epochs, batch_size
        self.learning_rate, self.seed, self.patience = learning_rate, seed, patience
        self.model: Any = None
        #: Per-epoch records of the last fit (``valid_score`` when it was validated).
        self.history: list[dict[str, Any]] = []

    @property
    def best_epoch(self) -> int | None:
        """The epoch whose weights the model holds after a validated fit (else None)."""
        return best_epoch(self.history)

    def fit(
        self,
        sequences: Sequence[np.ndarray],
        n_items: int,
        validate: Callable[[Scores], float] | None = None,
    ) -> Self:
        """Train on ``sequences`` (item indices in time order) over a catalogue of ``n_items``.

        With ``validate`` (``scores -> valid score``, higher is better, e.g. the valid NDCG
        of :func:`samplegen.evaluate.sequences.next_item_metrics`) each epoch is scored, the
        best epoch's weights are kept and training stops after ``patience`` epochs without a
        better score: the number of epochs is chosen on valid.

        Raises:
            ValueError: if no sequence has two items (nothing to predict) or an index is
                outside ``0..n_items-1``.
        """
        import torch

        from samplegen.models.sasrec import SASRec, left_padded

        usable = [np.asarray(s) for s in sequences if len(s) >= 2]
        if not usable:
            raise ValueError("sasrec needs at least one sequence of two or more items")
        top = max(int(s.max()) for s in usable)
        if top >= n_items or min(int(s.min()) for s in usable) < 0:
            raise ValueError(f"sequence item indices must be in 0..{n_items - 1}, found {top}")
        torch.manual_seed(self.seed)
        self.model = SASRec(self.params | {"n_items": n_items})
        windows = torch.from_numpy(left_padded(usable, self.model.module.max_len + 1))
        check = None if validate is None else (lambda model: validate(model.scores))
        self.history = fit_in_process(
            self.model,
            windows,
            self.epochs,
            self.batch_size,
            self.seed,
            self.learning_rate,
            validate=check,
            patience=self.patience,
        )
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, n_items)`` float32 next-item scores after each history."""
        if self.model is None:
            raise RuntimeError("SASRecRecommender.score called before fit")
        return self.model.scores(histories)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> SASRecRecommender:
    """The registry's factory: SASRec with the ``evaluate.sasrec_*`` settings and ``seed``."""
    return SASRecRecommender(
        params={
            "hidden": cfg.sasrec_hidden,
            "layers": cfg.sasrec_layers,
            "dropout": cfg.sasrec_dropout,
            "max_len": cfg.sasrec_max_len,
        },
        epochs=cfg.sasrec_epochs,
        learning_rate=cfg.sasrec_learning_rate,
        seed=seed,
        patience=cfg.sasrec_patience,
    )

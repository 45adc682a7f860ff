"""Mult-VAE (Liang et al. 2018) as a recommender, trained in-process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from samplegen.evaluate.recommenders import best_epoch, check_interactions, fit_in_process, fitted

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig


class MultVAERecommender:
    """Mult-VAE (Liang et al. 2018) trained in-process on the given matrix.

    The same network as the generator (``samplegen.models.multvae``), used as a recommender:
    scores are the decoder's logits at the posterior mean of each row.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int] = (200,),
        epochs: int = 30,
        batch_size: int = 128,
        seed: int = 0,
        patience: int = 0,
    ) -> None:
        if epochs <= 0 or batch_size <= 0 or patience < 0:
            raise ValueError(
                f"Mult-VAE needs positive epochs and batch_size and a patience >= 0, got "
                f"{epochs}, {batch_size}, {patience}"
            )
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.patience = patience
        self.model: Any = None
        self.n_items = 0
        #: Per-epoch records of the last fit (``valid_score`` when it was validated).
        self.history: list[dict[str, Any]] = []

    @property
    def best_epoch(self) -> int | None:
        """The epoch whose weights the model holds after a validated fit (else None)."""
        return best_epoch(self.history)

    def fit(
        self,
        interactions: np.ndarray,
        validate: Callable[[MultVAERecommender], float] | None = None,
    ) -> Self:
        """Train for at most ``epochs`` passes over the rows, in a seeded order.

        With ``validate`` (``self -> valid score``, higher is better, e.g. the valid NDCG of
        the train users' rows) the best epoch's weights are kept and training stops after
        ``patience`` epochs without a better score (0: every epoch): the number of epochs is
        chosen on valid. Without it the last epoch's weights are kept.
        """
        import torch

        from samplegen.models.multvae import MultVAE

        check_interactions(interactions)
        n_users, self.n_items = interactions.shape
        torch.manual_seed(self.seed)
        steps = max(1, -(-n_users // self.batch_size))
        self.model = MultVAE(
            {
                "n_items": self.n_items,
                "hidden_dims": self.hidden_dims,
                "anneal_steps": steps * self.epochs,
            }
        )
        rows = torch.from_numpy(np.asarray(interactions, dtype=np.float32))
        check = None if validate is None else (lambda _model: validate(self))
        self.history = fit_in_process(
            self.model,
            rows,
            self.epochs,
            self.batch_size,
            self.seed,
            validate=check,
            patience=self.patience,
        )
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Decoder logits at each row's posterior mean."""
        import torch

        fitted(
            None if self.model is None else np.zeros(self.n_items), user_rows, type(self).__name__
        )
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(user_rows, dtype=np.float32))
            return self.model.scores(x).numpy().astype(np.float32)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> MultVAERecommender:
    """The registry's factory: Mult-VAE with the ``evaluate.multvae_*`` settings and ``seed``."""
    return MultVAERecommender(
        hidden_dims=cfg.multvae_hidden_dims,
        epochs=cfg.multvae_epochs,
        seed=seed,
        patience=cfg.multvae_patience,
    )

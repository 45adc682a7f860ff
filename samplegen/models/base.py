"""The common surface of every generator: a loss for the shared train loop, sampling, save/load.

The training loop itself lives in :mod:`samplegen.train.loop` so that single-process ``fit``,
TorchDistributor and ``torchrun`` all run the same code.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class Generator(ABC):
    """A generative model over users' item sets.

    Subclasses set :attr:`name`, build :attr:`module` in ``__init__`` and implement
    :meth:`training_loss` and :meth:`sample_items`.
    """

    name: ClassVar[str]

    def __init__(self, n_items: int, params: dict[str, Any]) -> None:
        self.n_items = n_items
        self.params = dict(params)
        self.module: nn.Module

    @abstractmethod
    def training_loss(
        self, module: nn.Module, x: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        """Loss of one batch and its terms (``nll``, ``kl`` detached tensors; ``beta`` float).

        ``module`` is :attr:`module` or its DDP wrapper.
        """

    @abstractmethod
    def sample_items(
        self,
        x: torch.Tensor,
        k: int,
        exclude: torch.Tensor,
        rngs: Sequence[np.random.Generator],
    ) -> np.ndarray:
        """Draw ``k`` distinct items per row of ``x`` from the model, never from ``exclude``.

        ``exclude`` is a boolean (rows, n_items) mask and ``rngs`` has one generator per row,
        so a row's draw does not depend on which other rows share its batch. Returns int
        (rows, k), -1 where a row has fewer than ``k`` items left to draw.
        """

    def fit(self, batches: Any, epochs: int, steps_per_epoch: int) -> list[dict[str, float]]:
        """Single-process training with the shared loop; returns per-epoch log records."""
        from samplegen.train.loop import train_loop

        return train_loop(self, batches, epochs=epochs, steps_per_epoch=steps_per_epoch)

    def save(self, path: str | Path) -> None:
        """Write the weights (tensors only) and the plain config needed to rebuild."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.module.state_dict(), path / "model.pt")
        config = {"name": self.name, "n_items": self.n_items, "params": self.params}
        (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Generator:
        """Rebuild a saved generator; weights are read with ``weights_only=True``."""
        from samplegen.models import make_generator

        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        generator = make_generator(config["name"], config["n_items"], config["params"])
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        generator.module.load_state_dict(state)
        generator.module.eval()
        return generator

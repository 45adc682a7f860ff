"""The common surface of every generator: a training step for the shared loop, save and load.

The training loop itself lives in :mod:`samplegen.train.loop` so that single-process ``fit``,
TorchDistributor and ``torchrun`` all run the same code. A generator owns its optimizers and
its step, because the families differ there: a VAE takes one gradient step on one loss, a
WGAN-GP alternates critic and generator steps.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

StepTerms = dict[str, "torch.Tensor | float"]


def distributed() -> bool:
    """Whether this process is part of an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def synced_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, network: nn.Module) -> None:
    """One optimizer step on ``loss`` with ``network``'s gradients averaged over all ranks.

    For multi-network models (GANs) whose alternating half-steps do not fit DDP's reducer,
    which expects every parameter of a forward pass to receive a gradient. Outside a process
    group (or with one rank) it is a plain step; otherwise one flat all-reduce.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if distributed() and dist.get_world_size() > 1:
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= dist.get_world_size()
            offset = 0
            for grad in grads:
                grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
                offset += grad.numel()
    optimizer.step()


class Generator(ABC):
    """A trainable generative model with a plain-dict config.

    Subclasses set :attr:`name` and :attr:`loss_terms`, build :attr:`module` (every trainable
    network, for checkpoints) in ``__init__`` and implement :meth:`train_step`. ``params`` must
    be JSON-serialisable: it is the whole recipe to rebuild the model.
    """

    name: ClassVar[str]
    loss_terms: ClassVar[tuple[str, ...]] = ("loss",)

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = dict(params)
        self.module: nn.Module
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.device = torch.device("cpu")

    def setup_training(
        self, learning_rate: float, weight_decay: float, device: torch.device
    ) -> None:
        """Move to ``device`` and create the optimizers (default: one Adam over the module)."""
        self.device = device
        self.module.to(device)
        self.optimizers = {
            "model": torch.optim.Adam(
                self.module.parameters(), lr=learning_rate, weight_decay=weight_decay
            )
        }

    def prepare_batch(self, batch: Any, device: torch.device) -> Any:
        """Turn what the batch stream yields into what :meth:`train_step` takes."""
        return batch.to(device, non_blocking=True)

    @abstractmethod
    def train_step(self, batch: Any, step: int) -> StepTerms:
        """One optimisation step; returns every name in :attr:`loss_terms` as detached tensors.

        Float values (schedules such as a KL weight) are logged as their last value.
        """

    def batch_rows(self, batch: Any) -> int:
        """Rows in a prepared batch (for samples/s)."""
        return int(batch.shape[0])

    def training_state(self) -> dict[str, Any]:
        """Weights and optimizer state, tensors and plain values only (a checkpoint)."""
        return {
            "model": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`training_state`; raises ``RuntimeError`` when shapes differ."""
        self.module.load_state_dict(state["model"])
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][key])

    def save(self, path: str | Path) -> None:
        """Write the weights (tensors only) and the plain config needed to rebuild."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.module.state_dict().items()}
        torch.save(state, path / "model.pt")
        config = {"name": self.name, "params": self.params}
        (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Generator:
        """Rebuild a saved generator; weights are read with ``weights_only=True``."""
        from samplegen.models import make_generator

        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        generator = make_generator(config["name"], config["params"])
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        generator.module.load_state_dict(state)
        generator.module.eval()
        return generator


class InteractionGenerator(Generator):
    """A generator over users' item sets (binary rows of ``n_items``).

    ``params["n_items"]`` is the vocabulary size. Besides training, such a model scores items
    for a user (validation NDCG, recommendation) and draws new items for a user.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.n_items = int(params["n_items"])

    def prepare_batch(self, batch: Any, device: torch.device) -> torch.Tensor:
        """Sparse coordinates (or a dense tensor) to a dense 0/1 (rows, n_items) matrix."""
        from samplegen.train.loaders import SparseRows

        if isinstance(batch, SparseRows):
            return batch.to_dense(self.n_items, device)
        return batch.to(device, non_blocking=True)

    @abstractmethod
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic item scores (rows, n_items) for users with histories ``x`` (eval mode)."""

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

    def fit(
        self,
        batches: Any,
        epochs: int,
        steps_per_epoch: int,
        learning_rate: float = 1e-3,
        validate: Any = None,
    ) -> list[dict[str, float]]:
        """Single-process training with the shared loop; returns per-epoch log records.

        ``validate(generator) -> float`` (higher is better) is called after each epoch; the
        weights of the best epoch are kept.
        """
        from samplegen.train.loop import train_loop

        return train_loop(
            self,
            batches,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            learning_rate=learning_rate,
            validate=validate,
        )

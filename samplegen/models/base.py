"""The common surface of every generator: a training step for the shared loop, save and load.

The training loop lives in :mod:`samplegen.train.loop` (which imports this module, never the
reverse) so that single-process training, TorchDistributor and ``torchrun`` all run the same
code; the folder layout lives in :mod:`samplegen.models.store`. A generator owns its optimizers and
its step, because the families differ there: a VAE takes one gradient step on one loss, a
WGAN-GP alternates critic and generator steps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from samplegen.compat import release
from samplegen.models import store

#: torch runs its fused Adam kernel on CUDA, and on CPU from 2.4.
_FUSED_ADAM_ON_CPU = release(torch.__version__) >= (2, 4)

StepTerms = dict[str, "torch.Tensor | float"]


def section_defaults(section: type, names: Sequence[str]) -> dict[str, Any]:
    """The defaults of the fields ``names`` of a config ``section`` (the one home of defaults)."""
    values = section()
    return {name: getattr(values, name) for name in names}


def distributed() -> bool:
    """Whether this process is part of an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def adam(
    params: Any,
    device: torch.device,
    learning_rate: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Adam:
    """Adam with torch's fused kernel where it runs, else its multi-tensor (foreach) loop.

    On CPU torch defaults to one update per parameter tensor: a Mult-VAE recommender fit on
    completejourney-sized rows took 12.8 s with it, 8.9 s with foreach (identical results) and
    6.9 s fused (equal to rounding), so every model's optimiser is made here.
    """
    fused = device.type == "cuda" or (device.type == "cpu" and _FUSED_ADAM_ON_CPU)
    return torch.optim.Adam(
        params,
        lr=learning_rate,
        betas=betas,
        weight_decay=weight_decay,
        fused=True if fused else None,
        foreach=None if fused else True,
    )


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
    be JSON-serialisable: it is the whole recipe to rebuild the model. Settings missing from
    ``params`` are taken from :meth:`default_params` (built from the model's config section).
    """

    name: ClassVar[str]
    loss_terms: ClassVar[tuple[str, ...]] = ("loss",)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Settings a caller may leave out of ``params``, from the model's config section."""
        return {}

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = self.default_params() | dict(params)
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
            "model": adam(self.module.parameters(), device, learning_rate, weight_decay)
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
        """Write the weights and plain config to the folder ``path`` (see :mod:`.store`)."""
        store.save_generator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Generator:
        """Rebuild a saved generator (see :func:`samplegen.models.store.read_generator`)."""
        return store.read_generator(path)


@dataclass(frozen=True)
class SparseRows:
    """A batch of binary item rows as coordinates: row ``rows[i]`` owns item ``cols[i]``.

    Batches travel in this form (a few MB) and become dense on the training device, so the
    host never builds or copies a (batch, n_items) matrix.
    """

    rows: torch.Tensor
    cols: torch.Tensor
    n_rows: int

    def to_dense(self, n_items: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The (n_rows, n_items) float32 0/1 matrix on ``device``."""
        x = torch.zeros((self.n_rows, n_items), dtype=torch.float32, device=device)
        x[self.rows.to(device, non_blocking=True), self.cols.to(device, non_blocking=True)] = 1.0
        return x


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

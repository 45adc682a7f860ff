"""Mult-VAE (Liang et al., 2018): a VAE with a multinomial likelihood over a user's items.

Input rows are binary item vectors, L2-normalised and dropped out at the input; the encoder
gives a Gaussian posterior, the decoder gives logits over all items, and the loss is the
negative multinomial log-likelihood plus a KL term whose weight beta grows linearly to a cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from samplegen.config import TrainConfig
from samplegen.models.base import InteractionGenerator, StepTerms, distributed, section_defaults
from samplegen.models.sampling import gumbel_top_k, normal_rows

#: The ``train`` settings that shape a Mult-VAE (and a cvae): its params besides ``n_items``.
VAE_SETTINGS = ("hidden_dims", "dropout", "beta_cap", "anneal_steps")


class MultVAEModule(nn.Module):
    """Encoder [I (+C), *hidden] -> (mu, logvar); decoder [latent (+C), ...] back to I logits.

    With ``condition_dim`` C > 0 both halves also read a condition vector (a conditional VAE);
    with C = 0 this is exactly the Mult-VAE network.
    """

    def __init__(
        self, n_items: int, hidden_dims: list[int], dropout: float, condition_dim: int = 0
    ) -> None:
        super().__init__()
        *hidden, self.latent_dim = hidden_dims
        encoder_dims = [n_items + condition_dim, *hidden]
        encoder: list[nn.Module] = []
        for d_in, d_out in zip(encoder_dims[:-1], encoder_dims[1:], strict=True):
            encoder += [nn.Linear(d_in, d_out), nn.Tanh()]
        self.encoder = nn.Sequential(*encoder)
        self.to_stats = nn.Linear(encoder_dims[-1], 2 * self.latent_dim)
        decoder_dims = [self.latent_dim + condition_dim, *hidden[::-1], n_items]
        decoder: list[nn.Module] = []
        for d_in, d_out in zip(decoder_dims[:-1], decoder_dims[1:], strict=True):
            decoder += [nn.Linear(d_in, d_out), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder[:-1])
        self.input_dropout = nn.Dropout(dropout)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.normal_(layer.bias, std=0.001)

    @staticmethod
    def _join(a: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return a if c is None else torch.cat([a, c], dim=1)

    def encode(
        self, x: torch.Tensor, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance for binary rows ``x`` (and conditions ``c``)."""
        h = self.input_dropout(F.normalize(x, p=2, dim=1))
        stats = self.to_stats(self.encoder(self._join(h, c)))
        return stats[:, : self.latent_dim], stats[:, self.latent_dim :]

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Item logits for latent codes ``z`` (and conditions ``c``)."""
        return self.decoder(self._join(z, c))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits over items, mu and logvar (reparameterised sample while training)."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar


class MultVAE(InteractionGenerator):
    """Mult-VAE behind the :class:`InteractionGenerator` interface.

    Params: ``n_items`` and :data:`VAE_SETTINGS`: ``hidden_dims`` (the default [600, 200] is
    the [I-600-200-600-I] network of the paper), ``dropout``, ``beta_cap``, ``anneal_steps``
    (steps for beta to reach the cap); defaults are those of :class:`~samplegen.config.TrainConfig`.
    """

    name = "multvae"
    loss_terms = ("loss", "nll", "kl")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """:data:`VAE_SETTINGS` at their ``train`` defaults."""
        return section_defaults(TrainConfig, VAE_SETTINGS)

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.module = self.build_module()
        self._train_module: nn.Module = self.module

    def build_module(self) -> MultVAEModule:
        """The network described by :attr:`params`."""
        return MultVAEModule(
            self.n_items,
            list(self.params["hidden_dims"]),
            float(self.params["dropout"]),
        )

    def setup_training(
        self, learning_rate: float, weight_decay: float, device: torch.device
    ) -> None:
        """One Adam; under a process group the module trains through DDP."""
        super().setup_training(learning_rate, weight_decay, device)
        self._train_module = self.module
        if distributed():
            device_ids = [device.index] if device.type == "cuda" else None
            self._train_module = DistributedDataParallel(self.module, device_ids=device_ids)

    def beta(self, step: int) -> float:
        """KL weight at ``step``: linear from 0 to ``beta_cap`` over ``anneal_steps``."""
        cap = float(self.params["beta_cap"])
        anneal = max(int(self.params["anneal_steps"]), 1)
        return min(cap, cap * step / anneal)

    def training_loss(
        self, module: nn.Module, x: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, StepTerms]:
        """Negative multinomial log-likelihood + beta * KL, averaged over the batch.

        ``module`` is :attr:`module` or its DDP wrapper.
        """
        logits, mu, logvar = module(x)
        nll = -(F.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
        kl = (0.5 * (-logvar + logvar.exp() + mu.pow(2) - 1).sum(dim=1)).mean()
        beta = self.beta(step)
        return nll + beta * kl, {"nll": nll.detach(), "kl": kl.detach(), "beta": beta}

    def train_step(self, batch: torch.Tensor, step: int) -> StepTerms:
        """One Adam step on the annealed ELBO."""
        loss, terms = self.training_loss(self._train_module, batch, step)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), **terms}

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Logits decoded from the posterior mean (the paper's recommendation rule)."""
        module = self.module.eval()
        mu, _ = module.encode(x)
        return module.decode(mu)

    @torch.no_grad()
    def sample_items(
        self,
        x: torch.Tensor,
        k: int,
        exclude: torch.Tensor,
        rngs: Sequence[np.random.Generator],
    ) -> np.ndarray:
        """Draw z from each user's posterior, then k items by Gumbel-top-k on the logits.

        All randomness comes from ``rngs`` (one per row).
        """
        module = self.module.eval()
        mu, logvar = module.encode(x)
        logits = module.decode(mu + normal_rows(rngs, mu.shape[1]) * torch.exp(0.5 * logvar))
        return gumbel_top_k(logits.numpy(), k, exclude.numpy(), rngs)

    @torch.no_grad()
    def user_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's last hidden layer at each user's posterior mean: (rows, H).

        An item's logit for a user is ``hidden @ w_i + b_i`` with ``(w_i, b_i)`` its row of
        :meth:`item_embeddings`, so a new item's row scores it like a trained one.
        """
        module = self.module.eval()
        c = self.condition_of(x)
        mu, _ = module.encode(x, c)
        return module.decoder[:-1](module._join(mu, c))

    def item_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """The output layer: item weight rows (n_items, H) and biases (n_items,), float32."""
        layer = self.module.decoder[-1]
        return layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()

    @torch.no_grad()
    def sample_from_prior(
        self, x: torch.Tensor, k: int, rngs: Sequence[np.random.Generator]
    ) -> np.ndarray:
        """``k`` items per row decoded from ``z ~ N(0, I)``; nothing of ``x`` but its condition.

        A plain Mult-VAE ignores ``x``; a conditional one decodes under the condition of ``x``
        (a segment member's mix), so new users follow the segment without copying anyone.
        """
        module = self.module.eval()
        logits = module.decode(normal_rows(rngs, module.latent_dim), self.condition_of(x))
        return gumbel_top_k(logits.numpy(), k, np.zeros(logits.shape, dtype=bool), rngs)

    def condition_of(self, x: torch.Tensor) -> torch.Tensor | None:
        """The condition the network reads for histories ``x`` (none for plain Mult-VAE)."""
        return None

    @torch.no_grad()
    def interpolated_logits(
        self, x_a: torch.Tensor, x_b: torch.Tensor, weights: np.ndarray
    ) -> torch.Tensor:
        """Item logits decoded at ``(1 - w) mu_a + w mu_b``, one ``w`` per row.

        A conditional model's condition is interpolated the same way, so ``w = 0`` gives
        :meth:`scores` of ``x_a`` and ``w = 1`` those of ``x_b``.
        """
        module = self.module.eval()
        w = torch.from_numpy(np.asarray(weights, dtype=np.float32)[:, None])
        c_a, c_b = self.condition_of(x_a), self.condition_of(x_b)
        mu_a, _ = module.encode(x_a, c_a)
        mu_b, _ = module.encode(x_b, c_b)
        c = None if c_a is None else (1 - w) * c_a + w * c_b
        return module.decode((1 - w) * mu_a + w * mu_b, c)

    def interpolate_items(
        self,
        x_a: torch.Tensor,
        x_b: torch.Tensor,
        weights: np.ndarray,
        k: int,
        rngs: Sequence[np.random.Generator],
    ) -> np.ndarray:
        """New users between two users: ``k`` items drawn from :meth:`interpolated_logits`.

        Nothing is excluded (the rows are new users). Returns int (rows, k).
        """
        logits = self.interpolated_logits(x_a, x_b, weights).numpy()
        return gumbel_top_k(logits, k, np.zeros(logits.shape, dtype=bool), rngs)

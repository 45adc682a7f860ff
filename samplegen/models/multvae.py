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

from samplegen.models.base import Generator


class MultVAEModule(nn.Module):
    """Encoder [I, *hidden] -> (mu, logvar); decoder mirrors it back to I logits."""

    def __init__(self, n_items: int, hidden_dims: list[int], dropout: float) -> None:
        super().__init__()
        dims = [n_items, *hidden_dims]
        self.latent_dim = dims[-1]
        encoder: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-2], dims[1:-1], strict=True):
            encoder += [nn.Linear(d_in, d_out), nn.Tanh()]
        self.encoder = nn.Sequential(*encoder)
        self.to_stats = nn.Linear(dims[-2], 2 * dims[-1])
        decoder: list[nn.Module] = []
        reversed_dims = dims[::-1]
        for i, (d_in, d_out) in enumerate(zip(reversed_dims[:-1], reversed_dims[1:], strict=True)):
            decoder.append(nn.Linear(d_in, d_out))
            if i < len(reversed_dims) - 2:
                decoder.append(nn.Tanh())
        self.decoder = nn.Sequential(*decoder)
        self.input_dropout = nn.Dropout(dropout)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.normal_(layer.bias, std=0.001)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance for binary rows ``x``."""
        h = self.input_dropout(F.normalize(x, p=2, dim=1))
        stats = self.to_stats(self.encoder(h))
        return stats[:, : self.latent_dim], stats[:, self.latent_dim :]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits over items, mu and logvar (reparameterised sample while training)."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder(z), mu, logvar


class MultVAE(Generator):
    """Mult-VAE behind the :class:`Generator` interface.

    Params: ``hidden_dims`` (default [600, 200]), ``dropout`` (0.5), ``beta_cap`` (0.2),
    ``anneal_steps`` (steps for beta to reach the cap).
    """

    name = "multvae"

    def __init__(self, n_items: int, params: dict[str, Any]) -> None:
        super().__init__(n_items, params)
        self.module = MultVAEModule(
            n_items,
            list(params.get("hidden_dims", [600, 200])),
            float(params.get("dropout", 0.5)),
        )

    def beta(self, step: int) -> float:
        """KL weight at ``step``: linear from 0 to ``beta_cap`` over ``anneal_steps``."""
        cap = float(self.params.get("beta_cap", 0.2))
        anneal = max(int(self.params.get("anneal_steps", 2000)), 1)
        return min(cap, cap * step / anneal)

    def training_loss(
        self, module: nn.Module, x: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        """Negative multinomial log-likelihood + beta * KL, averaged over the batch."""
        logits, mu, logvar = module(x)
        nll = -(F.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
        kl = (0.5 * (-logvar + logvar.exp() + mu.pow(2) - 1).sum(dim=1)).mean()
        beta = self.beta(step)
        return nll + beta * kl, {"nll": nll.detach(), "kl": kl.detach(), "beta": beta}

    @torch.no_grad()
    def sample_items(
        self,
        x: torch.Tensor,
        k: int,
        exclude: torch.Tensor,
        rngs: Sequence[np.random.Generator],
    ) -> np.ndarray:
        """Draw z from each user's posterior, then k items by Gumbel-top-k on the logits.

        Gumbel-top-k draws k items without replacement from softmax(logits) restricted to the
        allowed items. All randomness comes from ``rngs`` (one per row).
        """
        module = self.module.eval()
        mu, logvar = module.encode(x)
        eps = np.stack([rng.standard_normal(mu.shape[1]) for rng in rngs]).astype(np.float32)
        logits = module.decoder(mu + torch.from_numpy(eps) * torch.exp(0.5 * logvar))
        uniforms = np.stack([rng.uniform(1e-12, 1.0, size=logits.shape[1]) for rng in rngs])
        gumbel = -np.log(-np.log(uniforms))
        keys = logits.numpy().astype(np.float64) + gumbel
        keys[exclude.numpy()] = -np.inf
        k = min(k, keys.shape[1])
        top = np.argsort(-keys, axis=1, kind="stable")[:, :k]
        picked_keys = np.take_along_axis(keys, top, axis=1)
        return np.where(np.isfinite(picked_keys), top, -1)

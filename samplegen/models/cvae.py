"""Conditional Mult-VAE: the Mult-VAE network conditioned on a user's category mix.

The condition of a user is the share of their items in each item category (the top
categories of the catalogue, the rest pooled as "other"). Encoder and decoder both read it, so
the decoder learns ``p(items | z, mix)`` and a caller can ask for a category mix that differs
from a user's own: ``sample_items(..., mix=target)`` for a real user's posterior, or
:meth:`ConditionalVAE.sample_users` for new users drawn from the prior. With ``quotas`` the
draw is split exactly over categories by the mix and the model picks the items inside each
category.

With ``text_dim`` > 0 the condition also holds the user's text profile: the mean text
embedding (``item_features.text_embedding``) of their items. A target category mix then
implies the profile ``mix @ category_text``, each category's mean item embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from samplegen.models.multvae import MultVAE, MultVAEModule
from samplegen.models.sampling import (
    category_matrix,
    category_mix,
    draw_items,
    implied_text_profile,
    item_text_of,
    normal_rows,
    register_item_text,
    text_profile,
)


class ConditionalVAEModule(MultVAEModule):
    """Mult-VAE network whose encoder and decoder also read the category mix of ``x``."""

    def __init__(
        self,
        n_items: int,
        hidden_dims: list[int],
        dropout: float,
        item_categories: Sequence[int],
        n_categories: int,
        item_text: np.ndarray | None = None,
    ) -> None:
        text_dim = 0 if item_text is None else item_text.shape[1]
        super().__init__(n_items, hidden_dims, dropout, condition_dim=n_categories + text_dim)
        # Derived from params, so not part of the saved weights.
        self.register_buffer(
            "category_matrix", category_matrix(item_categories, n_categories), persistent=False
        )
        register_item_text(self, n_items, item_text)

    def condition(self, x: torch.Tensor) -> torch.Tensor:
        """The category mix of each row of ``x``, then its text profile (if any)."""
        mix = category_mix(x, self.category_matrix)
        if self.item_text.shape[1] == 0:
            return mix
        return torch.cat([mix, text_profile(x, self.item_text)], dim=1)

    def condition_for_mix(self, mix: torch.Tensor) -> torch.Tensor:
        """The condition of a target category ``mix``: the mix and the profile it implies."""
        if self.item_text.shape[1] == 0:
            return mix
        implied = implied_text_profile(mix, self.category_matrix, self.item_text)
        return torch.cat([mix, implied], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, mu and logvar, all conditioned on the category mix of ``x``."""
        c = self.condition(x)
        mu, logvar = self.encode(x, c)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z, c), mu, logvar


class ConditionalVAE(MultVAE):
    """Mult-VAE conditioned on category mix; same loss, annealing and training step.

    Params: those of :class:`MultVAE` plus ``item_categories`` (category index of every item,
    length ``n_items``) and ``categories`` (their names; "other" pools the rest); for a text
    condition, ``text_dim`` and ``item_text_file`` (an ``.npy`` of (n_items, text_dim), read
    when the model is built for training; a saved model carries the matrix in its weights).
    """

    name = "cvae"

    def __init__(self, params: dict[str, Any]) -> None:
        self.item_categories = np.asarray(params["item_categories"], dtype=np.int64)
        self.categories = list(params["categories"])
        if self.item_categories.shape != (int(params["n_items"]),):
            raise ValueError(
                f"cvae needs one category per item: {len(self.item_categories)} categories "
                f"for {params['n_items']} items"
            )
        self.item_text = item_text_of(params)
        super().__init__(params)

    def build_module(self) -> ConditionalVAEModule:
        """The conditional network described by :attr:`params`."""
        return ConditionalVAEModule(
            self.n_items,
            list(self.params["hidden_dims"]),
            float(self.params["dropout"]),
            self.item_categories,
            len(self.categories),
            self.item_text,
        )

    def condition_of(self, x: torch.Tensor) -> torch.Tensor:
        """What the network is conditioned on: the category mix (and text profile) of ``x``."""
        return self.module.condition(x)

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Logits decoded from the posterior mean under the user's own mix."""
        module = self.module.eval()
        c = module.condition(x)
        mu, _ = module.encode(x, c)
        return module.decode(mu, c)

    @torch.no_grad()
    def sample_items(
        self,
        x: torch.Tensor,
        k: int,
        exclude: torch.Tensor,
        rngs: Sequence[np.random.Generator],
        mix: np.ndarray | None = None,
        quotas: bool = False,
    ) -> np.ndarray:
        """Draw ``k`` items per user from their posterior, decoded under ``mix``.

        ``mix`` (rows, n_categories) defaults to each user's own mix. With ``quotas`` the k
        items are split over categories by the mix exactly (largest remainder).
        """
        module = self.module.eval()
        own = module.condition(x)
        mu, logvar = module.encode(x, own)
        target = (
            own
            if mix is None
            else module.condition_for_mix(torch.as_tensor(mix, dtype=torch.float32))
        )
        logits = module.decode(
            mu + normal_rows(rngs, mu.shape[1]) * torch.exp(0.5 * logvar), target
        )
        return draw_items(
            logits.numpy(),
            k,
            exclude.numpy(),
            rngs,
            quota_mix=target[:, : len(self.categories)].numpy() if quotas else None,
            item_categories=self.item_categories,
        )

    @torch.no_grad()
    def sample_users(
        self, mix: np.ndarray, k: int, rngs: Sequence[np.random.Generator], quotas: bool = True
    ) -> np.ndarray:
        """New users: z from the prior, ``k`` items each decoded under the target ``mix``.

        ``mix`` is (rows, n_categories) or one mix for every row. Returns int (rows, k).
        """
        module = self.module.eval()
        target = np.broadcast_to(
            np.asarray(mix, dtype=np.float32), (len(rngs), len(self.categories))
        )
        z = normal_rows(rngs, module.latent_dim)
        condition = module.condition_for_mix(torch.from_numpy(np.ascontiguousarray(target)))
        logits = module.decode(z, condition)
        return draw_items(
            logits.numpy(),
            k,
            np.zeros(logits.shape, dtype=bool),
            rngs,
            quota_mix=target if quotas else None,
            item_categories=self.item_categories,
        )

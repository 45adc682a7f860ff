"""Conditional WGAN-GP over interaction vectors with CFGAN-style masking.

CFGAN (Chae et al., 2018) conditions both networks on the user's own purchase vector ``x`` and
lets the critic see the generator's output only where it can be judged: on the user's items
plus a random sample of items the user does not have ("partial masking"). The real sample is
``x`` itself, so the critic learns to tell 1s from the generator's values there; on the
sampled negatives the real value is 0, which teaches the generator to keep unowned items low,
and a zero-reconstruction penalty (``zr_weight``) pushes them further down. The adversarial
objective is the Wasserstein loss with a gradient penalty (Gulrajani et al., 2017) and
``critic_steps`` critic updates per generator update.

Here the condition is the user's vector joined with its category mix (and, with ``text_dim``
> 0, its text profile: the mean text embedding of its items, as for the cvae), and the
generator also reads a noise vector so that repeated draws for one user differ. Sampling draws
items in proportion to the generator's output for a user, optionally under another category mix
and with per-category quotas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from samplegen.config import GanConfig
from samplegen.models.base import InteractionGenerator, StepTerms, adam, synced_step
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


def _mlp(dims: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(d_in, d_out), activation()]
    return nn.Sequential(*layers[:-1])


class ConditionalWGANModule(nn.Module):
    """Generator (noise, condition) -> item logits and critic (vector, condition) -> score."""

    def __init__(
        self,
        n_items: int,
        item_categories: Sequence[int],
        n_categories: int,
        noise_dim: int,
        generator_dims: list[int],
        critic_dims: list[int],
        item_text: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        text_dim = 0 if item_text is None else item_text.shape[1]
        condition_dim = n_items + n_categories + text_dim
        self.generator = _mlp([noise_dim + condition_dim, *generator_dims, n_items], nn.ReLU)
        self.critic = _mlp([n_items + condition_dim, *critic_dims, 1], _LeakyReLU)
        self.register_buffer(
            "category_matrix", category_matrix(item_categories, n_categories), persistent=False
        )
        register_item_text(self, n_items, item_text)

    def condition(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        """The user's vector, a category mix (their own unless ``mix`` is given), text profile.

        The text profile (only with item text) is the user's own, or the one ``mix`` implies.
        """
        if mix is None:
            mix = category_mix(x, self.category_matrix)
            text = text_profile(x, self.item_text)
        else:
            text = implied_text_profile(mix, self.category_matrix, self.item_text)
        return torch.cat([x, mix, text], dim=1)

    def generate(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Item logits; ``sigmoid`` of them is the generated interaction vector."""
        return self.generator(torch.cat([z, condition], dim=1))

    def judge(self, vector: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Critic score of each (vector, condition) row (higher: more real)."""
        return self.critic(torch.cat([vector, condition], dim=1)).squeeze(1)


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self) -> None:
        super().__init__(0.2)


class ConditionalWGAN(InteractionGenerator):
    """CFGAN-style conditional WGAN-GP behind the :class:`InteractionGenerator` interface.

    Params: ``n_items``, ``item_categories``, ``categories`` (as for ``cvae``), the fields of
    :class:`~samplegen.config.GanConfig` (``noise_dim``, ``generator_dims``, ``critic_dims``,
    ``critic_steps``, ``gp_weight``, ``negative_ratio``: share of unowned items shown to the
    critic, ``zr_weight``: zero-reconstruction penalty; defaults there); for a text condition
    ``text_dim`` and ``item_text_file`` (as for ``cvae``).
    """

    name = "gan"
    loss_terms = ("loss", "critic_loss", "generator_loss", "gradient_penalty")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Every ``train.gan`` setting at its default."""
        return dataclasses.asdict(GanConfig())

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.item_categories = np.asarray(params["item_categories"], dtype=np.int64)
        self.categories = list(params["categories"])
        params = self.params
        self.critic_steps = int(params["critic_steps"])
        self.gp_weight = float(params["gp_weight"])
        self.negative_ratio = float(params["negative_ratio"])
        self.zr_weight = float(params["zr_weight"])
        self.module = ConditionalWGANModule(
            self.n_items,
            self.item_categories,
            len(self.categories),
            int(params["noise_dim"]),
            list(params["generator_dims"]),
            list(params["critic_dims"]),
            item_text_of(params),
        )

    def setup_training(
        self, learning_rate: float, weight_decay: float, device: torch.device
    ) -> None:
        """One Adam per network with the usual WGAN-GP momentum (betas 0.5, 0.9)."""
        self.device = device
        self.module.to(device)
        self.optimizers = {
            part: adam(
                getattr(self.module, part).parameters(),
                device,
                learning_rate,
                weight_decay,
                betas=(0.5, 0.9),
            )
            for part in ("generator", "critic")
        }

    def _masked_fake(
        self, x: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Generated vector, its CFGAN-masked view (own + sampled negatives) and the negatives."""
        z = torch.randn(x.shape[0], self.module.noise_dim, device=x.device)
        fake = torch.sigmoid(self.module.generate(z, condition))
        negatives = (torch.rand_like(x) < self.negative_ratio) & (x == 0)
        return fake, fake * (x + negatives.float()), negatives

    def _gradient_penalty(
        self, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor
    ) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], 1, device=real.device)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(
            self.module.judge(mixed, condition).sum(), mixed, create_graph=True
        )
        return ((grad.norm(2, dim=1) - 1) ** 2).mean()

    def train_step(self, batch: torch.Tensor, step: int) -> StepTerms:
        """``critic_steps`` critic updates, then one generator update."""
        x = batch
        condition = self.module.condition(x)
        critic_opt, generator_opt = self.optimizers["critic"], self.optimizers["generator"]
        for _ in range(self.critic_steps):
            with torch.no_grad():
                _, masked, _ = self._masked_fake(x, condition)
            penalty = self._gradient_penalty(x, masked, condition)
            critic_loss = (
                self.module.judge(masked, condition).mean()
                - self.module.judge(x, condition).mean()
                + self.gp_weight * penalty
            )
            synced_step(critic_loss, critic_opt, self.module.critic)
        fake, masked, negatives = self._masked_fake(x, condition)
        adversarial = -self.module.judge(masked, condition).mean()
        zero_reconstruction = (fake.pow(2) * negatives).sum(dim=1).mean()
        generator_loss = adversarial + self.zr_weight * zero_reconstruction
        synced_step(generator_loss, generator_opt, self.module.generator)
        return {
            "loss": generator_loss.detach(),
            "critic_loss": critic_loss.detach(),
            "generator_loss": generator_loss.detach(),
            "gradient_penalty": penalty.detach(),
        }

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Generator logits for each user at zero noise (the mode of the noise prior)."""
        module = self.module.eval()
        z = torch.zeros(x.shape[0], module.noise_dim, device=x.device)
        return module.generate(z, module.condition(x))

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
        """Draw ``k`` items per user in proportion to the generated vector for them.

        Noise comes from ``rngs``; ``mix`` replaces the user's own category mix in the
        condition and, with ``quotas``, splits the ``k`` items over categories exactly.
        """
        module = self.module.eval()
        z = normal_rows(rngs, module.noise_dim)
        target = None if mix is None else torch.as_tensor(mix, dtype=torch.float32)
        condition = module.condition(x, target)
        probabilities = torch.sigmoid(module.generate(z, condition))
        return draw_items(
            torch.log(probabilities.clamp_min(1e-12)).numpy(),
            k,
            exclude.numpy(),
            rngs,
            quota_mix=condition[:, self.n_items : self.n_items + len(self.categories)].numpy()
            if quotas
            else None,
            item_categories=self.item_categories,
        )

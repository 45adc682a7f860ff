"""The CTGAN-style networks and :class:`TabularGAN`, the tabular ``Generator``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from samplegen.config import TabularConfig
from samplegen.models.base import Generator, StepTerms, adam, section_defaults, synced_step
from samplegen.models.tabular.sampler import ConditionalSampler
from samplegen.models.tabular.transformer import TabularTransformer


class _Residual(nn.Module):
    """Linear, batch norm, ReLU; the input is concatenated to the output (CTGAN)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class _PacCritic(nn.Module):
    """Scores groups of ``pac`` rows: (rows, d) -> (rows / pac,)."""

    def __init__(self, d_in: int, dims: list[int], pac: int) -> None:
        super().__init__()
        self.pac = pac
        self.d_in = d_in * pac
        layers: list[nn.Module] = []
        d = self.d_in
        for width in dims:
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            d = width
        layers.append(nn.Linear(d, 1))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x.reshape(-1, self.d_in)).squeeze(1)


class TabularGANModule(nn.Module):
    """Container of ``generator`` (noise + condition -> raw row) and ``critic``.

    Non-persistent buffers describe the dense layout (derived from the params), so the state
    dict holds weights and batch-norm statistics only.
    """

    def __init__(
        self,
        transformer: TabularTransformer,
        embedding_dim: int,
        generator_dims: list[int],
        critic_dims: list[int],
        pac: int,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.n_scalars = transformer.n_scalars
        self.data_dim = transformer.output_dim
        self.cond_dim = transformer.cond_dim
        self.n_blocks = len(transformer.columns)
        layers: list[nn.Module] = []
        d = embedding_dim + self.cond_dim
        for width in generator_dims:
            layers.append(_Residual(d, width))
            d += width
        layers.append(nn.Linear(d, self.data_dim))
        self.generator = nn.Sequential(*layers)
        self.critic = _PacCritic(self.data_dim + self.cond_dim, critic_dims, pac)
        # Block (segment) of each one-hot position, counted from the first one-hot position.
        segment = np.repeat(np.arange(self.n_blocks), transformer.block_sizes)
        self.register_buffer("segment", torch.as_tensor(segment), persistent=False)
        # Dense position and block of each condition slot (discrete blocks only).
        cond_pos = np.concatenate(
            [
                transformer.block_offsets[j] + np.arange(transformer.block_sizes[j])
                for j in transformer.discrete
            ]
            or [np.zeros(0, dtype=np.int64)]
        )
        cond_block = np.repeat(
            np.asarray(transformer.discrete, dtype=np.int64),
            transformer.block_sizes[transformer.discrete],
        )
        self.register_buffer("cond_pos", torch.as_tensor(cond_pos), persistent=False)
        self.register_buffer("cond_block", torch.as_tensor(cond_block), persistent=False)
        self.register_buffer(
            "block_offsets", torch.as_tensor(transformer.block_offsets), persistent=False
        )

    def _segment_shift(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-segment maxima of ``logits`` (rows, positions), gathered back per position."""
        with torch.no_grad():
            top = torch.full(
                (logits.shape[0], self.n_blocks),
                -torch.inf,
                device=logits.device,
                dtype=logits.dtype,
            )
            index = self.segment.expand(logits.shape[0], -1)
            top = top.scatter_reduce(1, index, logits, reduce="amax", include_self=True)
        return top.index_select(1, self.segment)

    def _segment_sum(self, values: torch.Tensor) -> torch.Tensor:
        sums = torch.zeros(values.shape[0], self.n_blocks, device=values.device, dtype=values.dtype)
        return sums.index_add(1, self.segment, values)

    def activate(self, raw: torch.Tensor, tau: float) -> torch.Tensor:
        """``tanh`` on the scalars, Gumbel-softmax (temperature ``tau``) on each block."""
        scalars = torch.tanh(raw[:, : self.n_scalars])
        logits = raw[:, self.n_scalars :]
        gumbel = -torch.empty_like(logits).exponential_().clamp_min_(1e-30).log()  # no log(0)
        keys = (logits + gumbel) / tau
        e = (keys - self._segment_shift(keys)).exp()
        soft = e / self._segment_sum(e).index_select(1, self.segment)
        return torch.cat([scalars, soft], dim=1)

    def conditional_loss(self, raw: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each row's conditioned block against its condition slot."""
        if self.cond_dim == 0:
            return raw.new_zeros(())
        logits = raw[:, self.n_scalars :]
        shift = self._segment_shift(logits)
        sums = self._segment_sum((logits - shift).exp())
        rows = torch.arange(raw.shape[0], device=raw.device)
        block = self.cond_block[slots]
        position = self.cond_pos[slots]
        start = self.block_offsets[block] - self.n_scalars
        log_norm = sums[rows, block].log() + shift[rows, start]
        return (log_norm - raw[rows, position]).mean()

    def generate_raw(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Pre-activation generator output for noise and one-hot conditions."""
        return self.generator(torch.cat([noise, cond], dim=1))


#: The ``train.tabular`` settings that size the networks (their defaults live there).
TABULAR_SIZES = ("pac", "embedding_dim", "generator_dims", "critic_dims")


@dataclass(frozen=True)
class CTGANTraining:
    """CTGAN's training settings, fixed here (not config keys): the library's values."""

    critic_steps: int = 1
    gp_weight: float = 10.0
    tau: float = 0.2  # Gumbel-softmax temperature
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.9])
    weight_decay: float = 1e-6


class TabularGAN(Generator):
    """CTGAN-style conditional WGAN-GP over table rows (see the module doc).

    Params: ``transformer`` (:meth:`TabularTransformer.to_params`), the sizes
    :data:`TABULAR_SIZES` (``embedding_dim``, ``generator_dims``: residual blocks,
    ``critic_dims``, ``pac``; defaults in :class:`~samplegen.config.TabularConfig`) and the
    fields of :class:`CTGANTraining` (``critic_steps``, ``gp_weight``, ``tau``, ``lr``,
    ``betas``, ``weight_decay``). All but the sizes are CTGAN's; the sizes are smaller than
    the library's (noise 128, generator (256, 256), discriminator (256, 256)): on
    samples_ctr-like rows (bench/README.md, "Tabular generator vs ctgan") these reach at least
    the library's fidelity in 30 epochs at about a fifth of its CPU time per epoch. Only that
    table was measured; a wider one may need larger sizes (pass them in ``params``).

    :meth:`setup_training` uses ``lr`` and ``weight_decay`` from the params, not the loop's
    learning rate and weight decay: the WGAN-GP settings are part of the model.
    """

    name = "tabular"
    loss_terms = ("loss", "critic_loss", "generator_loss", "gradient_penalty")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """:data:`TABULAR_SIZES` at their ``train.tabular`` defaults and :class:`CTGANTraining`."""
        return section_defaults(TabularConfig, TABULAR_SIZES) | asdict(CTGANTraining())

    def __init__(self, params: dict[str, Any]) -> None:
        if "transformer" not in params:
            raise ValueError("tabular needs params['transformer'] (see TabularGAN.from_frame)")
        super().__init__(params)
        self.transformer = TabularTransformer.from_params(params["transformer"])
        params = self.params
        self.embedding_dim = int(params["embedding_dim"])
        self.pac = int(params["pac"])
        self.critic_steps = int(params["critic_steps"])
        self.gp_weight = float(params["gp_weight"])
        self.tau = float(params["tau"])
        self.module = TabularGANModule(
            self.transformer,
            self.embedding_dim,
            [int(d) for d in params["generator_dims"]],
            [int(d) for d in params["critic_dims"]],
            self.pac,
        )
        self._generation_sampler = ConditionalSampler.from_transformer(self.transformer)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        discrete_columns: Sequence[str],
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> TabularGAN:
        """An untrained model for the columns of ``frame`` (transformer fitted on it).

        ``params`` override :meth:`default_params`; the weights are initialised from ``seed``.
        """
        transformer = TabularTransformer.fit(frame, discrete_columns, seed=seed)
        full = {**dict(params or {}), "transformer": transformer.to_params()}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(full)

    # -- training ----------------------------------------------------------------------------

    def setup_training(
        self, learning_rate: float, weight_decay: float, device: torch.device
    ) -> None:
        """One Adam per network, betas (0.5, 0.9); ``lr``/``weight_decay`` from the params."""
        self.device = device
        self.module.to(device)
        lr = float(self.params["lr"])
        decay = float(self.params["weight_decay"])
        betas = tuple(float(b) for b in self.params["betas"])
        self.optimizers = {
            part: adam(getattr(self.module, part).parameters(), device, lr, decay, betas)
            for part in ("generator", "critic")
        }

    def batches(
        self, rows: pd.DataFrame | np.ndarray, batch_size: int, seed: int = 0
    ) -> Iterator[dict[str, np.ndarray]]:
        """Endless training-by-sampling stream over ``rows`` (a frame, or dense rows).

        Each item holds, for ``critic_steps`` critic updates, real rows (``codes``, ``scalars``)
        with their condition slots (``real_slots``) and the fake rows' slots, plus the slots of
        the generator update (last row of ``slots``). The real rows of a critic step match the
        fake rows' conditions, shuffled (as in CTGAN). ``batch_size`` is rounded up to a
        multiple of ``pac``. Plain numpy, so each rank can build it from its own rows.
        """
        if isinstance(rows, pd.DataFrame):
            codes, scalars = self.transformer.encode(rows)
        else:
            codes, scalars = self.transformer.split_dense(rows)
        n_rows = codes.shape[0]
        if n_rows == 0:
            raise ValueError("no rows to train on")
        sampler = ConditionalSampler.from_codes(codes, self.transformer)
        batch_size = -(-int(batch_size) // self.pac) * self.pac
        rng = np.random.default_rng([int(seed), 0xBA7])
        k = self.critic_steps
        while True:
            slots = sampler.sample_slots((k + 1) * batch_size, rng).reshape(k + 1, batch_size)
            real = sampler.sample_rows(slots[:k].reshape(-1), rng, n_rows).reshape(k, batch_size)
            perm = np.argsort(rng.random((k, batch_size)), axis=1)
            real = np.take_along_axis(real, perm, axis=1)
            yield {
                "codes": codes[real],
                "scalars": scalars[real],
                "real_slots": np.take_along_axis(slots[:k], perm, axis=1),
                "slots": slots,
            }

    def prepare_batch(self, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        """Dense real rows and one-hot conditions on ``device``."""
        codes = torch.as_tensor(batch["codes"]).to(device, non_blocking=True)
        scalars = torch.as_tensor(batch["scalars"]).to(device, non_blocking=True)
        slots = torch.as_tensor(batch["slots"]).to(device, non_blocking=True)
        real_slots = torch.as_tensor(batch["real_slots"]).to(device, non_blocking=True)
        k, b = codes.shape[:2]
        module = self.module
        real = torch.zeros(k, b, module.data_dim, device=device)
        real[..., : module.n_scalars] = scalars
        real.scatter_(2, codes + module.block_offsets.to(device), 1.0)
        return {
            "real": real,
            "real_cond": self._one_hot(real_slots, device),
            "cond": self._one_hot(slots, device),
            "slots": slots,
        }

    def _one_hot(self, slots: torch.Tensor, device: torch.device) -> torch.Tensor:
        cond = torch.zeros(*slots.shape, self.module.cond_dim, device=device)
        if self.module.cond_dim:
            cond.scatter_(-1, slots.unsqueeze(-1), 1.0)
        return cond

    def batch_rows(self, batch: Any) -> int:
        """Rows per step: the batch size."""
        return int(batch["real"].shape[1])

    def _noise(self, rows: int, device: torch.device) -> torch.Tensor:
        return torch.randn(rows, self.embedding_dim, device=device)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> StepTerms:
        """``critic_steps`` WGAN-GP critic updates, then one generator update."""
        module = self.module
        generator, critic = module.generator, module.critic
        critic_opt, generator_opt = self.optimizers["critic"], self.optimizers["generator"]
        real, real_cond, cond = batch["real"], batch["real_cond"], batch["cond"]
        rows = real.shape[1]
        device = real.device
        for i in range(self.critic_steps):
            with torch.no_grad():
                raw = module.generate_raw(self._noise(rows, device), cond[i])
                fake = torch.cat([module.activate(raw, self.tau), cond[i]], dim=1)
            real_in = torch.cat([real[i], real_cond[i]], dim=1)
            alpha = torch.rand(rows // self.pac, 1, device=device).repeat_interleave(self.pac, 0)
            mixed = (alpha * real_in + (1 - alpha) * fake).requires_grad_(True)
            scores = critic(torch.cat([real_in, fake], dim=0))
            score_real, score_fake = scores.chunk(2)
            (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
            penalty = ((grad.reshape(-1, critic.d_in).norm(2, dim=1) - 1) ** 2).mean()
            critic_loss = score_fake.mean() - score_real.mean()
            synced_step(critic_loss + self.gp_weight * penalty, critic_opt, critic)
        gen_cond = cond[self.critic_steps]
        raw = module.generate_raw(self._noise(rows, device), gen_cond)
        fake = torch.cat([module.activate(raw, self.tau), gen_cond], dim=1)
        critic.requires_grad_(False)
        try:
            adversarial = -critic(fake).mean()
        finally:
            critic.requires_grad_(True)
        conditional = module.conditional_loss(raw, batch["slots"][self.critic_steps])
        generator_loss = adversarial + conditional
        synced_step(generator_loss, generator_opt, generator)
        return {
            "loss": generator_loss.detach(),
            "critic_loss": critic_loss.detach(),
            "generator_loss": generator_loss.detach(),
            "gradient_penalty": penalty.detach(),
        }

    # -- generation --------------------------------------------------------------------------

    def condition_slots(
        self, n: int, rng: np.random.Generator, condition: Mapping[str, Any] | None
    ) -> np.ndarray:
        """Condition slots for generation: empirical frequencies, or the requested values.

        With several conditioned columns each row is conditioned on one of them, uniformly.
        """
        sampler = self._generation_sampler
        if not condition:
            return sampler.sample_slots(n, rng, empirical=True)
        wanted = []
        for column, value in condition.items():
            code = self.transformer.category_code(column, value)
            d = self.transformer.discrete.index(self.transformer.names.index(column))
            wanted.append(sampler.offsets[d] + code)
        wanted_arr = np.asarray(wanted, dtype=np.int64)
        return wanted_arr[rng.integers(0, wanted_arr.size, size=n)]

    @torch.no_grad()
    def _generate_codes(
        self, slots: np.ndarray, generator: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        module = self.module
        device = next(module.parameters()).device
        cond = self._one_hot(torch.as_tensor(slots).to(device), device)
        noise = torch.randn(len(slots), self.embedding_dim, generator=generator).to(device)
        raw = module.generate_raw(noise, cond).cpu()
        scalars = torch.tanh(raw[:, : module.n_scalars]).numpy()
        logits = raw[:, module.n_scalars :]
        uniform = torch.rand(logits.shape, generator=generator).clamp_(1e-12, 1.0)
        keys = (logits - torch.log(-torch.log(uniform))).numpy()
        offsets = self.transformer.block_offsets - module.n_scalars
        codes = np.zeros((len(slots), len(offsets)), dtype=np.int64)
        for j, (start, size) in enumerate(zip(offsets, self.transformer.block_sizes, strict=True)):
            codes[:, j] = keys[:, start : start + size].argmax(axis=1)
        return codes, scalars

    def sample(
        self,
        n: int,
        seed: int = 0,
        condition: Mapping[str, Any] | None = None,
        chunk_rows: int = 8192,
        max_rounds: int = 20,
    ) -> pd.DataFrame:
        """``n`` generated rows (eval mode; the same ``seed`` gives the same rows).

        ``condition`` maps discrete columns to values, e.g. ``{"label": 1}``: the generator is
        given that condition (as in CTGAN) and rows that still come out different are rejected
        and drawn again, up to ``max_rounds`` rounds; rows still missing after that (a
        condition the model has not learnt) get the requested values written in.
        """
        self.module.eval()
        rng = np.random.default_rng([int(seed), 0x5A3])
        generator = torch.Generator().manual_seed(int(seed))
        wanted = [
            (self.transformer.names.index(c), self.transformer.category_code(c, v))
            for c, v in (condition or {}).items()
        ]
        codes_parts = [np.zeros((0, len(self.transformer.columns)), dtype=np.int64)]
        scalar_parts = [np.zeros((0, self.transformer.n_scalars), dtype=np.float32)]
        have = 0
        for round_ in range(max_rounds if wanted else 1):
            missing = n - have
            if missing <= 0:
                break
            # Later rounds draw more than is missing: the acceptance rate was below one.
            todo = missing if round_ == 0 else min(4 * missing + 64, 50 * n)
            for start in range(0, todo, chunk_rows):
                slots = self.condition_slots(min(chunk_rows, todo - start), rng, condition)
                codes, scalars = self._generate_codes(slots, generator)
                keep = np.ones(codes.shape[0], dtype=bool)
                for j, code in wanted:
                    keep &= codes[:, j] == code
                codes_parts.append(codes[keep])
                scalar_parts.append(scalars[keep])
                have += int(keep.sum())
        if have < n:  # a condition the model has not learnt: write the values in
            codes, scalars = self._generate_codes(
                self.condition_slots(n - have, rng, condition), generator
            )
            for j, code in wanted:
                codes[:, j] = code
            codes_parts.append(codes)
            scalar_parts.append(scalars)
        codes, scalars = np.concatenate(codes_parts)[:n], np.concatenate(scalar_parts)[:n]
        return self.transformer.decode(codes, scalars)

    @torch.no_grad()
    def conditional_loss(self, n: int = 2000, seed: int = 0) -> float:
        """Mean conditional cross-entropy of ``n`` generated rows (eval mode).

        Conditions are drawn as in training (log-frequency); the lower, the better the
        generator produces the category it is asked for.
        """
        self.module.eval()
        rng = np.random.default_rng([int(seed), 0xC0D])
        sampler = ConditionalSampler(
            [np.asarray(self.transformer.columns[j]["counts"]) for j in self.transformer.discrete]
        )
        slots = torch.as_tensor(sampler.sample_slots(n, rng))
        generator = torch.Generator().manual_seed(int(seed))
        device = next(self.module.parameters()).device
        noise = torch.randn(n, self.embedding_dim, generator=generator).to(device)
        slots = slots.to(device)
        raw = self.module.generate_raw(noise, self._one_hot(slots, device))
        return float(self.module.conditional_loss(raw, slots))

"""SASRec (Kang & McAuley 2018): a causal self-attention model of the next item in a sequence.

Trained with full-catalogue softmax cross-entropy at every position (not the original sampled
binary cross-entropy): Petrov & Macdonald (2023, "gSASRec") and Klenitskiy & Vasilev (2023)
show this makes SASRec far stronger, so it is the baseline that sequence augmentation must
beat. Items are ``1..n_items`` inside the network (``item_idx + 1``); 0 is padding. Output
embeddings are the input item embeddings (tied), as in the paper.

The model is a :class:`~samplegen.models.base.Generator` so it trains through the project's
one training loop (:func:`samplegen.train.loop.train_loop`): single process in tests,
TorchDistributor/torchrun on GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samplegen.models.base import Generator, StepTerms

#: Settings of a SASRec besides ``n_items``; every one is tuned on valid by the caller.
SASREC_DEFAULTS: dict[str, Any] = {
    "hidden": 64,
    "layers": 2,
    "heads": 1,
    "dropout": 0.2,
    "max_len": 50,
}


class SASRecModule(nn.Module):
    """Item + position embeddings, ``layers`` pre-norm causal Transformer blocks, a final norm."""

    def __init__(
        self, n_items: int, hidden: int, layers: int, heads: int, dropout: float, max_len: int
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_len, hidden)
        self.dropout = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(
            hidden,
            heads,
            dim_feedforward=hidden,
            dropout=dropout,
            activation="relu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        causal = torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        # Small embeddings (as RecBole's SASRec): with the output tied to the item table,
        # torch's N(0, 1) default starts the softmax at logits of scale sqrt(hidden) and
        # trains far slower.
        for table in (self.items, self.positions):
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Hidden state per position, ``(batch, max_len, hidden)``, for left-padded inputs."""
        length = sequences.shape[1]
        positions = torch.arange(length, device=sequences.device)
        x = self.items(sequences) * self.items.embedding_dim**0.5 + self.positions(positions)
        x = self.dropout(x) * (sequences > 0).unsqueeze(-1)
        x = self.blocks(x, mask=self.causal[:length, :length], is_causal=True)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every real item (padding column dropped): ``hidden @ items[1:].T``."""
        return hidden @ self.items.weight[1:].T


def left_padded(sequences: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Network input: ``(n, length)`` int64 ``item_idx + 1``, left-padded with zeros.

    Each sequence's last ``length`` items are right-aligned, so the last position is always
    the most recent item.
    """
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        tail = np.asarray(sequence, dtype=np.int64)[-length:]
        if tail.size:
            out[row, length - tail.size :] = tail + 1
    return out


class SASRec(Generator):
    """A SASRec with its optimizer step: batches are ``(batch, max_len + 1)`` left-padded ids.

    Positions ``0..max_len-1`` are inputs and ``1..max_len`` their next-item targets; padded
    targets are ignored by the loss.
    """

    name: ClassVar[str] = "sasrec"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The settings of :data:`SASREC_DEFAULTS`."""
        return dict(SASREC_DEFAULTS)

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        if int(p["hidden"]) % int(p["heads"]):
            raise ValueError(f"sasrec hidden {p['hidden']} must be a multiple of heads")
        self.module = SASRecModule(
            int(p["n_items"]),
            int(p["hidden"]),
            int(p["layers"]),
            int(p["heads"]),
            float(p["dropout"]),
            int(p["max_len"]),
        )

    def train_step(self, batch: torch.Tensor, step: int) -> StepTerms:
        """Softmax cross-entropy of each next item over the whole catalogue."""
        inputs, targets = batch[:, :-1], batch[:, 1:]
        logits = self.module.logits(self.module(inputs))
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1) - 1, ignore_index=-1
        )
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def scores(self, histories: Sequence[np.ndarray], batch_size: int = 512) -> np.ndarray:
        """``(n, n_items)`` float32 next-item scores after each history (its last state)."""
        self.module.eval()
        padded = left_padded(histories, self.module.max_len)
        out = []
        for start in range(0, len(padded), batch_size):
            chunk = torch.from_numpy(padded[start : start + batch_size]).to(self.device)
            out.append(self.module.logits(self.module(chunk)[:, -1]).float().cpu().numpy())
        n_items = self.module.items.num_embeddings - 1
        return np.concatenate(out) if out else np.zeros((0, n_items), dtype=np.float32)

"""Training-by-sampling (CTGAN): condition draws and real rows that match them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samplegen.models.tabular.transformer import TabularTransformer


class ConditionalSampler:
    """Condition draws (global slots of the condition vector) and matching real rows.

    ``counts`` holds each discrete column's category counts (null slot last). Training draws
    pick a discrete column uniformly and a category with probability proportional to
    ``log(1 + count)``; :meth:`sample_rows` then picks a real row of that category uniformly
    (needs ``codes``, the encoded rows, one column per discrete column). Generation draws use
    the empirical frequencies. Everything is vectorised: one ``searchsorted`` for the
    categories, one gather for the rows.
    """

    def __init__(self, counts: Sequence[np.ndarray], codes: np.ndarray | None = None) -> None:
        self.counts = [np.asarray(c, dtype=np.int64) for c in counts]
        self.n_columns = len(self.counts)
        sizes = np.array([c.size for c in self.counts], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.cond_dim = int(sizes.sum())
        self.slot_column = np.repeat(np.arange(self.n_columns), sizes)
        self._log_keys = self._keys([np.log1p(c) for c in self.counts])
        self._freq_keys = self._keys([c.astype(np.float64) for c in self.counts])
        self.rows_by_slot: np.ndarray | None = None
        if codes is not None:
            n = codes.shape[0]
            orders = [np.argsort(codes[:, j], kind="stable") for j in range(self.n_columns)]
            self.rows_by_slot = (
                np.concatenate(orders) if orders else np.zeros(0, dtype=np.int64)
            ).astype(np.int64)
            # Slot g's rows are rows_by_slot[start[g] : start[g] + count[g]].
            self.slot_count = np.concatenate(self.counts) if self.counts else np.zeros(0, int)
            within = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in self.counts]
            self.slot_start = (
                np.concatenate([j * n + w for j, w in enumerate(within)])
                if within
                else np.zeros(0, dtype=np.int64)
            ).astype(np.int64)

    @classmethod
    def from_codes(cls, codes: np.ndarray, transformer: TabularTransformer) -> ConditionalSampler:
        """A sampler over encoded rows (counts taken from these rows)."""
        discrete = codes[:, transformer.discrete]
        counts = [
            np.bincount(discrete[:, j], minlength=int(transformer.block_sizes[col]))
            for j, col in enumerate(transformer.discrete)
        ]
        return cls(counts, discrete)

    @classmethod
    def from_transformer(cls, transformer: TabularTransformer) -> ConditionalSampler:
        """A sampler for generation, from the category counts seen at fit time."""
        return cls([np.asarray(transformer.columns[j]["counts"]) for j in transformer.discrete])

    def _keys(self, weights: list[np.ndarray]) -> np.ndarray:
        """Column ``j``'s cumulative probabilities shifted by ``j``: one increasing array."""
        keys = []
        for j, w in enumerate(weights):
            total = w.sum()
            cdf = np.cumsum(w) / total if total > 0 else np.zeros(w.size)
            keys.append(j + cdf)
        return np.concatenate(keys) if keys else np.zeros(0)

    def sample_slots(self, n: int, rng: np.random.Generator, empirical: bool = False) -> np.ndarray:
        """``n`` condition slots: a uniform discrete column, then a category of it.

        Categories are drawn by ``log(1 + count)`` (training) or by ``count`` (``empirical``).
        """
        if self.n_columns == 0:
            return np.zeros(n, dtype=np.int64)
        keys = self._freq_keys if empirical else self._log_keys
        column = rng.integers(0, self.n_columns, size=n)
        u = rng.random(n)
        slot = np.searchsorted(keys, column + u, side="right")
        # Guard float edges: stay inside the column's block.
        return np.clip(slot, self.offsets[column], self.offsets[column + 1] - 1).astype(np.int64)

    def sample_rows(self, slots: np.ndarray, rng: np.random.Generator, n_rows: int) -> np.ndarray:
        """One real row index per slot, uniform among the rows with that category."""
        if self.n_columns == 0 or self.rows_by_slot is None:
            return rng.integers(0, n_rows, size=slots.shape[0])
        count = self.slot_count[slots]
        if (count == 0).any():
            raise ValueError("a drawn category has no rows")
        pick = (rng.random(slots.shape[0]) * count).astype(np.int64)
        return self.rows_by_slot[self.slot_start[slots] + np.minimum(pick, count - 1)]

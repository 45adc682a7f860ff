"""What every strategy's ``mapInPandas`` shares: the chunk loop, the model, masks and streams.

Sampling runs inside ``mapInPandas``: the model is loaded once per Python worker
(:func:`samplegen.models.store.load_generator`) and each partition is drawn in chunks of
:data:`CHUNK_ROWS` rows. Every draw is seeded from the run seed plus a
:class:`samplegen.registry.Stream` tag and a row number (a user index or a new row's number)
with ``numpy.random.SeedSequence``, so a retried or speculative task writes exactly the same
rows whatever the partitioning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame

from samplegen.models.base import Generator
from samplegen.models.store import load_generator
from samplegen.registry import Stream

#: Rows a model scores at once inside a partition (bounds the dense (rows, n_items) matrices).
CHUNK_ROWS = 256


def user_rng(seed: int, user_idx: int) -> np.random.Generator:
    """The random stream of one real user in one run: depends on nothing else."""
    return np.random.default_rng(np.random.SeedSequence([seed, user_idx]))


def row_rng(seed: int, stream: Stream, n: int) -> np.random.Generator:
    """The random stream of row ``n`` (a new user, a chunk) of one strategy in one run."""
    return np.random.default_rng(np.random.SeedSequence([seed, int(stream), n]))


def item_mask(item_lists: Iterable, n_items: int) -> torch.Tensor:
    """Boolean (rows, n_items) matrix, True at each row's items (owned items, histories)."""
    lists = list(item_lists)
    mask = torch.zeros((len(lists), n_items), dtype=torch.bool)
    for row, items in enumerate(lists):
        mask[row, torch.as_tensor(np.asarray(items, dtype=np.int64))] = True
    return mask


def histories(item_lists: Iterable, n_items: int) -> torch.Tensor:
    """Binary float (rows, n_items) matrix of item lists: a model's input."""
    return item_mask(item_lists, n_items).float()


def chunks(batches: Iterator[pd.DataFrame], size: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of every batch in slices of at most ``size`` rows."""
    for batch in batches:
        for start in range(0, len(batch), size):
            yield batch.iloc[start : start + size]


def map_with_model(
    rows: DataFrame,
    model_dir: str,
    draw_chunk: Callable[[pd.DataFrame, Generator], pd.DataFrame],
    schema: str,
) -> DataFrame:
    """``rows.mapInPandas`` with ``draw_chunk(chunk, generator)`` on every chunk of rows.

    The generator in ``model_dir`` is loaded once per worker; ``draw_chunk`` returns the
    ``schema`` rows of one chunk.
    """

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        generator = load_generator(model_dir)
        for chunk in chunks(batches):
            yield draw_chunk(chunk, generator)

    return rows.mapInPandas(sample_partition, schema=schema)


def draw_for_users(
    chunk: pd.DataFrame,
    generator: Generator,
    k: int,
    seed: int,
    exclude: Callable[[pd.DataFrame, torch.Tensor], torch.Tensor] | None = None,
) -> list[np.ndarray]:
    """``k`` new items for each real user row of ``chunk`` (``user_idx``, ``item_idx``).

    Owned items are never drawn, nor items ``exclude(chunk, owned)`` marks. Each user's draw
    uses :func:`user_rng`; a basket holds fewer than ``k`` items (sorted, int32) when the
    user has fewer left to draw.
    """
    owned = item_mask(chunk["item_idx"], generator.n_items)
    excluded = owned if exclude is None else exclude(chunk, owned) | owned
    rngs = [user_rng(seed, int(u)) for u in chunk["user_idx"]]
    drawn = generator.sample_items(owned.float(), k, excluded, rngs)
    return [np.sort(row[row >= 0]).astype(np.int32) for row in drawn]


def user_rows(
    user_idx: Iterable[int], baskets: list[np.ndarray], weight: float, **extra: Iterable
) -> pd.DataFrame:
    """Rows ``(user_idx, item_idx, weight, *extra)`` of real users, empty baskets dropped."""
    kept = np.array([len(b) > 0 for b in baskets], dtype=bool)
    frame = pd.DataFrame(
        {
            "user_idx": np.asarray(list(user_idx), dtype=np.int32)[kept],
            "item_idx": [b for b in baskets if len(b)],
            "weight": [np.full(len(b), weight, dtype=np.float32) for b in baskets if len(b)],
        }
    )
    for name, values in extra.items():
        frame[name] = np.asarray(list(values))[kept]
    return frame

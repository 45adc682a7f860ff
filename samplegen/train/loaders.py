"""Endless, rank-sharded streams of fixed-size training batches from the training view.

Two readers over the same Parquet files (the Delta snapshot's current files, resolved on the
driver): petastorm's ``make_batch_reader`` and a plain pyarrow reader for stacks where
petastorm cannot be installed (e.g. a GPU box under ``torchrun`` with no Spark). Both shard by
row group (``RANK`` of ``WORLD_SIZE``), cycle forever and are cut into batches of exactly
``batch_size`` rows, so every rank can run the same number of steps per epoch. Files are
opened through ``pyarrow.fs`` (:mod:`samplegen.locations`: ``dbfs:/`` through ``/dbfs``,
``s3a://`` as ``s3://``).
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from samplegen.locations import arrow_file, arrow_uri, open_parquet, scheme
from samplegen.models.base import SparseRows

COLUMNS = ["user_idx", "item_bytes"]


@dataclass(frozen=True)
class Shard:
    """Which part of the files this process reads."""

    rank: int = 0
    world_size: int = 1


def petastorm_url(uri: str) -> str:
    """A URL petastorm accepts for a file Spark named.

    ``file:///x`` on a local or mounted filesystem (``dbfs:/`` is read through ``/dbfs``),
    else the pyarrow URI (``s3a://`` as ``s3://``).
    """
    mapped = arrow_uri(uri)
    if scheme(mapped) not in (None, "file"):
        return mapped  # resolved by petastorm itself, without a network call here
    return "file://" + arrow_file(mapped)[1]


def _row_groups(files: list[str]) -> list[tuple[str, int]]:
    """``(file, row group)`` of every row group of ``files``, in file order."""
    pieces = []
    for uri in sorted(files):
        pieces += [(uri, i) for i in range(open_parquet(uri).metadata.num_row_groups)]
    return pieces


def sparse_rows(item_bytes: list[bytes]) -> SparseRows:
    """Coordinates of packed int32 item lists (one ``np.frombuffer`` for the whole batch)."""
    lengths = np.fromiter((len(b) // 4 for b in item_bytes), dtype=np.int64, count=len(item_bytes))
    cols = np.frombuffer(b"".join(item_bytes), dtype="<i4").astype(np.int64)
    rows = np.repeat(np.arange(len(item_bytes)), lengths)
    return SparseRows(torch.from_numpy(rows), torch.from_numpy(cols), len(item_bytes))


def dense_rows(item_bytes: list[bytes], n_items: int) -> torch.Tensor:
    """Binary (rows, n_items) float32 matrix from packed int32 item lists, on the CPU."""
    return sparse_rows(item_bytes).to_dense(n_items)


def prefetch(batches: Iterator[SparseRows], depth: int = 4) -> Iterator[SparseRows]:
    """Read ahead ``depth`` batches on a background thread, overlapping I/O with training.

    An exception in the reader is raised in the consumer at the batch where it happened.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)

    def fill() -> None:
        try:
            for batch in batches:
                buffer.put(batch)
        except Exception as err:  # handed to the consumer, which re-raises it
            buffer.put(err)

    threading.Thread(target=fill, name="samplegen-prefetch", daemon=True).start()
    while True:
        item = buffer.get()
        if isinstance(item, Exception):
            raise item
        yield item


def _arrow_row_groups(files: list[str], shard: Shard, seed: int) -> Iterator[list[bytes]]:
    pieces = _row_groups(files)
    mine = pieces[shard.rank :: shard.world_size]
    if not mine:
        raise ValueError(
            f"rank {shard.rank} of {shard.world_size} has no row group among {len(pieces)}; "
            "raise aggregate.training_files"
        )
    rng = np.random.default_rng([seed, shard.rank])
    while True:
        for index in rng.permutation(len(mine)):
            path, group = mine[index]
            table = open_parquet(path).read_row_group(group, columns=COLUMNS)
            yield table.column("item_bytes").to_pylist()


@contextmanager
def _petastorm_row_groups(
    files: list[str], shard: Shard, seed: int
) -> Iterator[Iterator[list[bytes]]]:
    from petastorm import make_batch_reader

    # petastorm 0.12 drives pyarrow's legacy dataset API, which warns on every row group.
    warnings.filterwarnings("ignore", category=FutureWarning, module="petastorm")
    reader = make_batch_reader(
        [petastorm_url(f) for f in sorted(files)],
        schema_fields=COLUMNS,
        num_epochs=None,
        cur_shard=shard.rank,
        shard_count=shard.world_size,
        # petastorm's own row-group shuffle is not reproducible across runs with the same seed;
        # row groups come in file order and the seeded buffer in _rebatch shuffles rows.
        shuffle_row_groups=False,
        seed=seed,
        reader_pool_type="thread",
        workers_count=1,  # one reader thread keeps the row-group order reproducible
    )
    try:
        yield (list(batch.item_bytes) for batch in reader)
    finally:
        reader.stop()
        reader.join()


@contextmanager
def batch_stream(
    files: list[str],
    loader: str,
    batch_size: int,
    shard: Shard,
    seed: int,
) -> Iterator[Iterator[torch.Tensor]]:
    """Context manager yielding an endless iterator of ``batch_size``-row :class:`SparseRows`.

    Args:
        files: Parquet files of the training view (``DataFrame.inputFiles()``).
        loader: ``petastorm`` or ``arrow``.
        batch_size: rows per batch, on this rank.
        shard: this process's rank and the world size.
        seed: shuffles row-group order (and row order inside the buffer).
    """
    if loader == "petastorm":
        with _petastorm_row_groups(files, shard, seed) as groups:
            yield _rebatch(groups, batch_size, seed + shard.rank)
    elif loader == "arrow":
        yield _rebatch(_arrow_row_groups(files, shard, seed), batch_size, seed + shard.rank)
    else:
        raise ValueError(f"unknown loader {loader!r} (train.loader); use petastorm or arrow")


def _rebatch(groups: Iterator[list[bytes]], batch_size: int, seed: int) -> Iterator[SparseRows]:
    rng = np.random.default_rng(seed)
    buffer: list[bytes] = []
    for rows in groups:
        buffer += rows
        while len(buffer) >= batch_size:
            order = rng.permutation(len(buffer))
            buffer = [buffer[i] for i in order]
            batch, buffer = buffer[:batch_size], buffer[batch_size:]
            yield sparse_rows(batch)


def read_rows(
    files: list[str],
    loader: str,
    columns: list[str],
    shard: Shard,
    where: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Read the rank's share of a table's rows (by row group) into one pandas frame.

    For tabular generators, whose training-by-sampling needs the rank's rows in memory.

    Args:
        files: Parquet files of the table (``DataFrame.inputFiles()``).
        loader: ``petastorm`` or ``arrow``.
        columns: columns to read.
        shard: this process's rank and the world size.
        where: optional ``(column, value)``: keep rows whose column equals the value.
    """
    wanted = sorted({*columns, *([where[0]] if where else [])})
    if loader == "petastorm":
        frame = _petastorm_frame(files, wanted, shard)
    elif loader == "arrow":
        tables = [
            open_parquet(uri).read_row_group(group, columns=wanted)
            for uri, group in _row_groups(files)[shard.rank :: shard.world_size]
        ]
        frame = pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame(columns=wanted)
    else:
        raise ValueError(f"unknown loader {loader!r} (train.loader); use petastorm or arrow")
    if where is not None:
        frame = frame[frame[where[0]] == where[1]]
    if frame.empty:
        raise ValueError(
            f"rank {shard.rank} of {shard.world_size} read no rows from {len(files)} files; "
            "write the table in more files or train on fewer processes"
        )
    return frame[columns].reset_index(drop=True)


def _petastorm_frame(files: list[str], columns: list[str], shard: Shard) -> pd.DataFrame:
    from petastorm import make_batch_reader
    from petastorm.errors import NoDataAvailableError

    warnings.filterwarnings("ignore", category=FutureWarning, module="petastorm")
    try:
        reader = make_batch_reader(
            [petastorm_url(f) for f in sorted(files)],
            schema_fields=columns,
            num_epochs=1,
            cur_shard=shard.rank,
            shard_count=shard.world_size,
            shuffle_row_groups=False,
            reader_pool_type="thread",
            workers_count=1,
        )
    except NoDataAvailableError:  # fewer row groups than ranks
        return pd.DataFrame(columns=columns)
    with reader:
        batches = [pd.DataFrame(batch._asdict()) for batch in reader]
    return pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(columns=columns)

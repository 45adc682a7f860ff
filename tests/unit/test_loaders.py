import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from samplegen.features.interactions import pack_rows
from samplegen.train.loaders import Shard, batch_stream, petastorm_url, prefetch

N_ITEMS = 50


@pytest.fixture(scope="module")
def view_files(tmp_path_factory):
    """Four Parquet files of packed rows; user u owns items {u % 50, (u + 1) % 50}."""
    folder = tmp_path_factory.mktemp("view")
    files = []
    for part in range(4):
        users = list(range(part * 10, part * 10 + 10))
        batch = pd.DataFrame(
            {
                "user_idx": users,
                "item_idx": [[u % N_ITEMS, (u + 1) % N_ITEMS] for u in users],
                "weight": [[1.0, 1.0] for _ in users],
            }
        )
        path = folder / f"part-{part}.parquet"
        pq.write_table(pa.Table.from_pandas(pack_rows(batch, 100)), path)
        files.append("file:" + str(path))
    return files


def rows_seen(files, loader, shard, batches=10, batch_size=4):
    seen = []
    with batch_stream(files, loader, batch_size, shard, seed=1) as stream:
        for batch in itertools.islice(prefetch(stream), batches):
            x = batch.to_dense(N_ITEMS)
            assert x.shape == (batch_size, N_ITEMS)
            assert set(x.sum(dim=1).tolist()) == {2.0}
            seen += [tuple(np.flatnonzero(row.numpy()).tolist()) for row in x]
    return seen


@pytest.mark.parametrize("loader", ["arrow", "petastorm"])
def test_shards_are_disjoint_and_cover_everything(view_files, loader):
    shards = [set(rows_seen(view_files, loader, Shard(rank, 2))) for rank in range(2)]
    assert not shards[0] & shards[1]
    assert len(shards[0] | shards[1]) == 40


@pytest.mark.parametrize("loader", ["arrow", "petastorm"])
def test_stream_is_endless_with_exact_batch_sizes(view_files, loader):
    seen = rows_seen(view_files, loader, Shard(0, 1), batches=25, batch_size=7)
    assert len(seen) == 175
    assert len(set(seen)) == 40


def test_more_ranks_than_row_groups_is_a_clear_error(view_files):
    with (
        pytest.raises(ValueError, match="training_files"),
        batch_stream(view_files, "arrow", 4, Shard(5, 6), seed=0) as stream,
    ):
        next(stream)


def test_unknown_loader_is_rejected(view_files):
    with (
        pytest.raises(ValueError, match="train.loader"),
        batch_stream(view_files, "csv", 4, Shard(), seed=0),
    ):
        pass


def test_petastorm_url_passes_remote_uris_in_pyarrow_form():
    assert petastorm_url("/tmp/x.parquet") == "file:///tmp/x.parquet"
    assert petastorm_url("s3a://bucket/x.parquet") == "s3://bucket/x.parquet"


def test_prefetch_reraises_reader_errors():
    def broken():
        yield 1
        raise OSError("disk gone")

    stream = prefetch(broken())
    assert next(stream) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(stream)


@pytest.mark.parametrize("loader", ["arrow", "petastorm"])
def test_same_seed_gives_the_same_batches(view_files, loader):
    def first_batches(seed):
        with batch_stream(view_files, loader, 6, Shard(0, 1), seed=seed) as stream:
            return [b.to_dense(N_ITEMS) for b in itertools.islice(prefetch(stream), 12)]

    a, b, c = first_batches(3), first_batches(3), first_batches(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("loader", ["arrow", "petastorm"])
def test_read_rows_shards_by_row_group_and_filters(tmp_path, loader):
    from samplegen.train.loaders import read_rows

    files = []
    for part in range(3):
        frame = pd.DataFrame(
            {
                "row": np.arange(part * 10, part * 10 + 10),
                "split": ["train", "test"] * 5,
                "price": np.linspace(1, 2, 10),
            }
        )
        path = tmp_path / f"part-{part}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        files.append(str(path))
    shards = [
        read_rows(files, loader, ["row", "price"], Shard(rank, 2), where=("split", "train"))
        for rank in range(2)
    ]
    rows = [set(s["row"]) for s in shards]
    assert not rows[0] & rows[1]
    assert rows[0] | rows[1] == set(range(0, 30, 2))
    assert list(shards[0].columns) == ["row", "price"]
    with pytest.raises(ValueError, match="read no rows"):
        read_rows(files[:1], loader, ["row"], Shard(1, 2))

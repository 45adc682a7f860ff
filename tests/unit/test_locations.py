"""Storage locations: the dbfs:/ and s3a:// mappings, files opened through pyarrow.fs, and
model/report folders on a Volume or DBFS."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from samplegen import locations
from samplegen.config import ConfigError, load_config
from samplegen.locations import (
    arrow_uri,
    dbfs_to_fuse,
    local_commit_metrics,
    local_folder,
    open_parquet,
)
from samplegen.models import store
from samplegen.runinfo import manifest_path, report_dir
from samplegen.train.loaders import Shard, petastorm_url, read_rows


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("dbfs:/lake/t/part-0.parquet", "/dbfs/lake/t/part-0.parquet"),
        ("dbfs:///lake/t/part-0.parquet", "/dbfs/lake/t/part-0.parquet"),
        ("DBFS:/x", "/dbfs/x"),
        ("s3a://bucket/lake/t/p.parquet", "s3://bucket/lake/t/p.parquet"),
        ("s3n://bucket/p.parquet", "s3://bucket/p.parquet"),
        ("s3://bucket/p.parquet", "s3://bucket/p.parquet"),
        (
            "abfss://c@a.dfs.core.windows.net/p.parquet",
            "abfss://c@a.dfs.core.windows.net/p.parquet",
        ),
        ("file:/tmp/p.parquet", "file:/tmp/p.parquet"),
        ("/Volumes/main/sg/files/p.parquet", "/Volumes/main/sg/files/p.parquet"),
        ("C:/data/p.parquet", "C:/data/p.parquet"),  # a drive letter is no scheme
    ],
)
def test_arrow_uri_maps_dbfs_and_hadoop_s3_only(uri, expected):
    assert arrow_uri(uri) == expected


def test_dbfs_root_and_non_dbfs_are_left_alone():
    assert dbfs_to_fuse("dbfs:/") == "/dbfs"
    assert dbfs_to_fuse("/dbfs/x") == "/dbfs/x"
    assert dbfs_to_fuse("s3://b/x") == "s3://b/x"


def test_petastorm_urls_are_file_urls_on_local_and_mounted_filesystems():
    assert petastorm_url("/tmp/x.parquet") == "file:///tmp/x.parquet"
    assert petastorm_url("file:/tmp/x.parquet") == "file:///tmp/x.parquet"
    assert petastorm_url("file:///tmp/x.parquet") == "file:///tmp/x.parquet"
    assert petastorm_url("dbfs:/lake/x.parquet") == "file:///dbfs/lake/x.parquet"


@pytest.fixture
def parquet_file(tmp_path):
    path = tmp_path / "part-0.parquet"
    pq.write_table(pa.table({"user_idx": [1, 2, 3], "n": [10, 20, 30]}), path, row_group_size=2)
    return path


def test_local_paths_and_file_uris_open_through_pyarrow_fs(parquet_file):
    for uri in (str(parquet_file), f"file:{parquet_file}", f"file://{parquet_file}"):
        assert open_parquet(uri).read().column("n").to_pylist() == [10, 20, 30]
        assert open_parquet(uri).metadata.num_row_groups == 2


def test_dbfs_uris_are_read_through_the_mount(parquet_file, monkeypatch):
    """The loader reads ``dbfs:/x`` at ``<mount>/x``; here the mount is a temporary folder."""
    monkeypatch.setattr(locations, "DBFS_MOUNT", str(parquet_file.parent.parent))
    uri = f"dbfs:/{parquet_file.parent.name}/{parquet_file.name}"
    frame = read_rows([uri], "arrow", ["n"], Shard())
    assert frame["n"].tolist() == [10, 20, 30]


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("/Volumes/main/samplegen/models", "/Volumes/main/samplegen/models/cvae/r1"),
        ("dbfs:/samplegen/models", "/dbfs/samplegen/models/cvae/r1"),
        ("file:/tmp/models", "/tmp/models/cvae/r1"),
    ],
)
def test_models_and_reports_live_on_volumes_and_dbfs(root, expected):
    cfg = load_config(None, [f"models_root={root}", f"reports_root={root}", "train.model=cvae"])
    assert str(store.model_dir(cfg, "r1")) == expected
    assert str(report_dir(cfg.reports_root, "r1")) == expected.replace("/cvae", "")
    assert manifest_path(cfg.reports_root, "r1").name == "manifest.json"


def test_a_model_is_saved_and_loaded_under_a_dbfs_root(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(locations, "DBFS_MOUNT", str(tmp_path))
    cfg = load_config(None, ["models_root=dbfs:/models"])
    folder = store.model_dir(cfg, "r1")
    assert folder == tmp_path / "models" / cfg.train.model / "r1"
    folder.mkdir(parents=True)
    torch.save({"w": torch.ones(2)}, folder / "model.pt")
    assert torch.load(folder / "model.pt", weights_only=True)["w"].sum() == 2


@pytest.mark.parametrize("key", ["models_root", "reports_root"])
def test_roots_that_cannot_be_written_as_files_name_the_key(key):
    with pytest.raises(ConfigError, match=rf"{key} 's3://b/x' is a s3:// URI.*/Volumes"):
        load_config(None, [f"{key}=s3://b/x"])
    with pytest.raises(ValueError, match=key):
        local_folder("abfss://c@a.dfs.core.windows.net/x", key)


def test_local_commit_metrics_finds_the_tagged_commit_among_the_newest(tmp_path):
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    for version, token, rows in ((0, "a", "5"), (1, "b", "7"), (2, "c", "9")):
        info = {"commitInfo": {"userMetadata": token, "operationMetrics": {"numOutputRows": rows}}}
        lines = [json.dumps({"protocol": {"minReaderVersion": 1}}), "", json.dumps(info)]
        (log / f"{version:020d}.json").write_text("\n".join(lines))
    (log / "00000000000000000002.checkpoint.parquet").write_bytes(b"not json")
    location = str(tmp_path / "t")
    assert local_commit_metrics(location, "b", 10) == {"numOutputRows": "7"}
    assert local_commit_metrics("file:" + location, "c", 10) == {"numOutputRows": "9"}
    assert local_commit_metrics(location, "a", 2) is None  # older than the newest two commits
    assert local_commit_metrics(str(tmp_path / "missing"), "a", 10) is None
    assert local_commit_metrics("dbfs:/lake/t", "a", 10) is None

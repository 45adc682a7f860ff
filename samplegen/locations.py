"""Storage locations as Spark names them, mapped to what Python file APIs can open.

Spark hands out URIs (``inputFiles()``: ``file:/x``, ``dbfs:/x``, ``s3a://b/k``,
``abfss://c@a.dfs.core.windows.net/k``); pyarrow, torch and ``open`` need a filesystem and a
path. Two mappings are documented and done here, nowhere else:

- ``dbfs:/x`` is ``/dbfs/x``: the DBFS FUSE mount every Databricks cluster node has
  (:data:`DBFS_MOUNT`); Unity Catalog Volumes are already paths (``/Volumes/...``).
- ``s3a://`` and ``s3n://`` (Hadoop's S3 connectors) are ``s3://`` for pyarrow's
  ``S3FileSystem``, which takes its credentials from the usual AWS environment.

Everything else goes to ``pyarrow.fs.FileSystem.from_uri`` unchanged (local paths, ``file:``
URIs, ``s3://``, ``gs://``, ``hdfs://``, ``abfs[s]://`` where the installed pyarrow has it).

This module imports nothing from samplegen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the config checks call local_folder at start-up
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

#: Where Databricks mounts DBFS on every node (``dbfs:/x`` is ``/dbfs/x``).
DBFS_MOUNT = "/dbfs"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # s3a://, dbfs:/ (not C:\ drives)
_S3_HADOOP = ("s3a", "s3n")


def scheme(location: str) -> str | None:
    """The URI scheme of ``location`` in lower case (``dbfs``, ``s3a``), or None for a path."""
    match = _SCHEME.match(location)
    return match.group(1).lower() if match and len(match.group(1)) > 1 else None


def dbfs_to_fuse(location: str) -> str:
    """``dbfs:/x`` or ``dbfs:///x`` to ``/dbfs/x`` (the FUSE mount); anything else unchanged."""
    if scheme(location) != "dbfs":
        return location
    rest = location.split(":", 1)[1].lstrip("/")
    return f"{DBFS_MOUNT}/{rest}" if rest else DBFS_MOUNT


def arrow_uri(location: str) -> str:
    """``location`` as ``pyarrow.fs.FileSystem.from_uri`` takes it (the two mappings above)."""
    kind = scheme(location)
    if kind == "dbfs":
        return dbfs_to_fuse(location)
    if kind in _S3_HADOOP:
        return "s3:" + location.split(":", 1)[1]
    return location


def arrow_file(location: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem holding ``location`` and the path inside it."""
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(arrow_uri(location))


def open_parquet(location: str) -> pq.ParquetFile:
    """A Parquet file Spark named (a path or any URI :func:`arrow_file` resolves), opened."""
    import pyarrow.parquet as pq

    filesystem, path = arrow_file(location)
    return pq.ParquetFile(filesystem.open_input_file(path))


def local_folder(location: str, key: str) -> str:
    """A folder that ``open``/``torch.save`` can use: a path, or ``dbfs:/x`` as ``/dbfs/x``.

    Models and reports are written with plain file APIs, so their roots must be mounted
    folders: a local path, a Unity Catalog Volume (``/Volumes/...``) or DBFS.

    Raises:
        ValueError: naming ``key`` for another URI (``s3://``, ``abfss://``...).
    """
    kind = scheme(location)
    if kind is None or kind == "dbfs":
        return dbfs_to_fuse(location)
    if kind == "file":
        return arrow_file(location)[1]
    raise ValueError(
        f"{key} {location!r} is a {kind}:// URI, but models and reports are written as files: "
        "use a local or mounted folder (/Volumes/<catalog>/<schema>/<volume>/..., dbfs:/...)"
    )


def local_commit_metrics(table_location: str, token: str, search: int) -> dict[str, str] | None:
    """``operationMetrics`` of the Delta commit tagged ``token``, read from a local ``_delta_log``.

    A Delta commit is one JSON file whose ``commitInfo`` line carries ``userMetadata`` and
    ``operationMetrics``. On this machine's filesystem, reading the newest ``search`` files
    costs microseconds, where ``DESCRIBE HISTORY`` loads the table's new snapshot with Spark
    jobs (a third of a small table's write). None for a URI other than ``file:`` (the session
    reads those), for a log not found here (a Spark Connect server on another machine), or
    when no commit carries ``token``: the caller then asks the history.
    """
    if scheme(table_location) not in (None, "file"):
        return None
    log = Path(table_location.removeprefix("file:")) / "_delta_log"
    if not log.is_dir():
        return None
    commits = sorted(log.glob("*.json"), reverse=True)[:search]  # names are zero-padded
    for commit in commits:
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info is not None and info.get("userMetadata") == token:
                return info.get("operationMetrics", {})
    return None

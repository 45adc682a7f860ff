"""SparkSession factory (local with Delta jars, active, or Spark Connect) and session-bound ops.

Spark Connect (Databricks standard/shared clusters, serverless, ``sc://`` servers) has no JVM in
the client: no ``sparkContext``, ``_jvm`` or RDDs, and before Spark 4.0 no ``localCheckpoint``.
Stage code reaches for those only through this module (:func:`pinned`,
:func:`default_parallelism`), so that one place knows both kinds of
session; ``tests/unit/test_connect_safe.py`` keeps it that way.

The Delta jars are not on PyPI. :func:`ensure_delta_jars` fetches them once with Maven into a
cache folder; local sessions pass them as ``spark.jars``. The coordinates follow the installed
pyspark and delta-spark (:func:`samplegen.compat.delta_artifacts`: Spark 3.5 takes
``io.delta:delta-spark_2.12:3.x``, Spark 4.0 ``io.delta:delta-spark_2.13:4.0.x``). On a cluster
the user passes the same coordinates (:func:`delta_coordinates`) as ``--packages`` to
spark-submit, and on Databricks Delta is built in: both use ``spark.master: active``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyspark
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from samplegen.compat import delta_artifacts, installed, release
from samplegen.config import SparkConfig


def delta_coordinates() -> tuple[str, str]:
    """Maven coordinates of the Delta jars for the installed pyspark (and delta-spark)."""
    return delta_artifacts(pyspark.__version__, installed("delta-spark"))


#: Runtime SQL settings stage 1 runs under: aggregate rows that are already sorted by their
#: keys in one streaming pass (see :func:`samplegen.features.interactions.user_item_pairs`)
#: instead of hashing them. The rule only rewrites aggregations over sorted input.
SORTED_AGGREGATION = {"spark.sql.execution.replaceHashWithSortAgg": "true"}


@contextmanager
def sql_settings(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Apply runtime SQL ``settings`` to ``spark`` inside the block, then restore the old values.

    Queries are planned when an action runs, so the settings hold for every action in the
    block; a session shared with a notebook or job gets its own values back afterwards.
    """
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def jars_dir() -> Path:
    """Cache folder for the Delta jars (``SAMPLEGEN_JARS_DIR`` overrides it)."""
    release = delta_coordinates()[0].rsplit(":", 1)[1]
    default = Path.home() / ".cache" / "samplegen" / f"delta-{release}"
    return Path(os.environ.get("SAMPLEGEN_JARS_DIR", default))


def delta_jar_paths() -> list[Path]:
    """Paths of the Delta jars in the cache, in artifact order."""
    folder = jars_dir()
    names = [artifact.split(":") for artifact in delta_coordinates()]
    return [folder / f"{artifact}-{release}.jar" for _, artifact, release in names]


def ensure_delta_jars() -> list[Path]:
    """Fetch the Delta jars with Maven unless they are already cached; return their paths."""
    paths = delta_jar_paths()
    missing = [p for p in paths if not p.exists()]
    if not missing:
        return paths
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            "Maven (mvn) is needed once to fetch the Delta jars into "
            f"{jars_dir()}; install it or copy {', '.join(p.name for p in missing)} there"
        )
    jars_dir().mkdir(parents=True, exist_ok=True)
    for artifact in delta_coordinates():
        subprocess.run(
            [
                mvn,
                "--batch-mode",
                "--quiet",
                "dependency:copy",
                f"-Dartifact={artifact}",
                f"-DoutputDirectory={jars_dir()}",
            ],
            check=True,
        )
    still_missing = [p for p in paths if not p.exists()]
    if still_missing:
        raise RuntimeError(f"Maven ran but these jars are missing: {still_missing}")
    return paths


def remote_url(config: SparkConfig) -> str | None:
    """The Spark Connect URL: ``spark.remote``, else ``SPARK_REMOTE`` (as pyspark reads it)."""
    return config.remote or os.environ.get("SPARK_REMOTE") or None


def get_spark(config: SparkConfig) -> SparkSession:
    """Return the SparkSession this run should use.

    A Connect URL (:func:`remote_url`) gives a Spark Connect session to that server; the server
    brings Delta and its settings. ``master: active`` reuses the running session (spark-submit,
    Databricks). Anything else builds a local session with Delta enabled and the cached jars on
    the classpath.
    """
    url = remote_url(config)
    if url is not None:
        try:
            return SparkSession.builder.remote(url).appName(config.app_name).getOrCreate()
        except ImportError as err:  # grpcio and friends are pyspark's `connect` extra
            raise RuntimeError(
                f"spark.remote / SPARK_REMOTE ({url}) needs the Spark Connect client: "
                f"pip install 'pyspark[connect]' ({err})"
            ) from err
    if config.master == "active":
        session = SparkSession.getActiveSession()
        if session is None:
            session = SparkSession.builder.appName(config.app_name).getOrCreate()
        return session
    return _local_session(config)


def local_settings(config: SparkConfig) -> dict[str, str]:
    """The Spark settings of a local session: Delta jars and catalog, memory, UTC, loopback.

    Also what a local Spark Connect server gets (:func:`connect_server_command`), so that the
    stages see the same session settings through either. ``spark.conf`` entries come last and win.
    """
    jars = ",".join(str(p) for p in ensure_delta_jars())
    return {
        "spark.jars": jars,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.driver.memory": config.driver_memory,
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        "spark.databricks.delta.snapshotPartitions": "2",
        **config.conf,
    }


def connect_server_command(config: SparkConfig, port: int) -> list[str]:
    """``spark-submit`` arguments that start a local Spark Connect server on ``port``.

    The server runs ``config.master`` with :func:`local_settings` (Delta included); pyspark's
    wheel ships the server jar but not ``sbin/start-connect-server.sh``, so it is started as
    that script would, in the foreground. Its Python workers run the interpreter named by
    ``PYSPARK_PYTHON`` in the caller's environment.
    """
    spark_home = Path(pyspark.__file__).parent
    settings = {**local_settings(config), "spark.connect.grpc.binding.port": str(port)}
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        config.master,
        "--name",
        config.app_name,
    ]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return command


def _local_session(config: SparkConfig) -> SparkSession:
    # Executors must run the same interpreter (and so see the same packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # A local session lives on one host: keep Spark (and torchrun's master) on loopback even
    # where the hostname resolves to another interface.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(config.master).appName(config.app_name)
    for key, value in local_settings(config).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect client session (no JVM on this side).

    Read from the session's class, so it needs no Connect client packages (grpc) installed.
    """
    return type(spark).__module__.startswith("pyspark.sql.connect")


#: pyspark's Connect client has ``DataFrame.localCheckpoint`` from 4.0 on (SPARK-48258).
_CONNECT_HAS_LOCAL_CHECKPOINT = release(pyspark.__version__) >= (4, 0)


#: Bits of a 64-bit hash kept for :func:`seeded_uniform` (a double holds 53 exactly).
_UNIFORM_BITS = 53


def seeded_uniform(seed: int, tag: str | int, *cols: Column) -> Column:
    """A uniform in [0, 1) that depends only on ``seed``, ``tag`` and the values of ``cols``.

    A hash of the row's key, not a random generator: the same row gets the same draw
    whatever the partitioning, and a retried task draws the same values.
    """
    bits = F.xxhash64(F.lit(seed), F.lit(tag), *[c.cast("long") for c in cols])
    mask = (1 << _UNIFORM_BITS) - 1
    return bits.bitwiseAND(F.lit(mask)).cast("double") / float(1 << _UNIFORM_BITS)


def join_null_safe(left: DataFrame, right: DataFrame, key: list[str], how: str) -> DataFrame:
    """``left`` joined (``how``) with ``right`` on null-safe equality of ``key``.

    A null matches a null, unlike ``join(on=key)``. ``right``'s key columns are dropped from
    the result, so it has ``left``'s columns and ``right``'s others. An empty ``key`` joins
    every row with every row.
    """
    prefix = "_right_"
    renamed = right.select(
        *[F.col(c).alias(prefix + c) if c in key else F.col(c) for c in right.columns]
    )
    condition = [F.col(c).eqNullSafe(F.col(prefix + c)) for c in key] or [F.lit(True)]
    return left.join(renamed, condition, how).drop(*[prefix + c for c in key])


def pinned(df: DataFrame) -> DataFrame:
    """``df`` computed now and kept, for a frame read more than once or drawn at random.

    A classic session (and Spark Connect from 4.0) uses ``localCheckpoint``: the rows are
    stored on the executors and the plan is cut, so later reads neither recompute nor redraw.
    Spark Connect before 4.0 has no checkpoint; there the rows are cached and counted (computed
    once, the same storage level), which keeps the rows but not the short plan.
    """
    if not is_connect(df.sparkSession) or _CONNECT_HAS_LOCAL_CHECKPOINT:
        return df.localCheckpoint()
    kept = df.cache()
    kept.count()
    return kept


def default_parallelism(spark: SparkSession) -> int:
    """The cluster's default parallelism (task slots), also on Spark Connect.

    Connect has no ``sparkContext``; there it is read from the number of partitions of a
    ``range`` without a partition count, which the server splits by that same default.
    """
    if not is_connect(spark):
        return spark.sparkContext.defaultParallelism
    probe = spark.range(0, 1 << 20).select(F.spark_partition_id().alias("p"))
    return int(probe.agg(F.max("p")).first()[0]) + 1


def from_pandas(
    spark: SparkSession,
    frame: pd.DataFrame,
    schema: StructType | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """``frame`` as a DataFrame in at most ``partitions`` (default: :func:`default_parallelism`).

    Arrow cuts a pandas frame into one partition per ``spark.sql.execution.arrow.
    maxRecordsPerBatch`` rows (10,000), so a bundled dataset's 1.5M events became 147 tasks
    writing 147 small files; coalescing them costs no shuffle.
    """
    df = spark.createDataFrame(frame, schema=schema)
    return df.coalesce(partitions or default_parallelism(spark))


def arrow_table(df: DataFrame) -> pa.Table:
    """``df`` collected to the driver as one Arrow table, with no Python object per row.

    ``DataFrame.toArrow`` exists from Spark 4.0; on Spark 3.5 (Databricks Runtime 15.4/16.4)
    the same batches come from the classic DataFrame's ``_collect_as_arrow``.
    """
    if hasattr(df, "toArrow"):
        return df.toArrow()
    from pyspark.sql.pandas.types import to_arrow_schema

    batches = df._collect_as_arrow()
    if batches:
        return pa.Table.from_batches(batches)
    return to_arrow_schema(df.schema).empty_table()

"""SparkSession factory: local sessions with Delta jars wired in, or the active session.

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

import pyspark
from pyspark.sql import SparkSession

from samplegen.compat import delta_artifacts, installed
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


def get_spark(config: SparkConfig) -> SparkSession:
    """Return the SparkSession this run should use.

    ``master: active`` reuses the running session (spark-submit, Databricks). Anything else
    builds a local session with Delta enabled and the cached jars on the classpath.
    """
    if config.master == "active":
        session = SparkSession.getActiveSession()
        if session is None:
            session = SparkSession.builder.appName(config.app_name).getOrCreate()
        return session
    return _local_session(config)


def _local_session(config: SparkConfig) -> SparkSession:
    jars = ",".join(str(p) for p in ensure_delta_jars())
    # Executors must run the same interpreter (and so see the same packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # A local session lives on one host: keep Spark (and torchrun's master) on loopback even
    # where the hostname resolves to another interface.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.jars", jars)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.databricks.delta.properties.defaults.enableDeletionVectors", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
    )
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session

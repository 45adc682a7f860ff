"""No JVM-only Spark API outside samplegen/spark.py: the stages must run over Spark Connect.

A Spark Connect session (Databricks standard/shared clusters, serverless) has no JVM in the
client: ``sparkContext``, ``_jvm``/``_jsc``/``_jdf``, RDDs, broadcast variables, accumulators and
(before Spark 4.0) ``localCheckpoint`` fail there, and the ``DeltaTable`` Python API needs the
Delta Connect plugin on the server. samplegen/spark.py is their one home (it tells the two kinds
of session apart); every other module goes through it. The scan reads the syntax tree, so a
word in a docstring or comment does not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "samplegen"

#: The one module that may touch them, because it checks the kind of session first.
ALLOWED = {PACKAGE / "spark.py"}

#: Attributes that only a classic (JVM) session or an RDD has.
FORBIDDEN_ATTRIBUTES = {
    "sparkContext",
    "_sc",
    "_jvm",
    "_jsc",
    "_jdf",
    "_jsparkSession",
    "_jconf",
    "rdd",
    "parallelize",
    "zipWithIndex",
    "zipWithUniqueId",
    "mapPartitions",
    "mapPartitionsWithIndex",
    "flatMap",
    "reduceByKey",
    "localCheckpoint",
    "setJobGroup",
    "setJobDescription",
    "setLocalProperty",
    "addPyFile",
    "accumulator",
    "setCheckpointDir",
}
#: Names whose import means a JVM-only API.
FORBIDDEN_IMPORTS = {
    "SparkContext",
    "RDD",
    "Broadcast",
    "Accumulator",
    "DeltaTable",
    "pyspark.rdd",
    "pyspark.context",
    "pyspark.broadcast",
    "pyspark.accumulators",
    "delta.tables",
}


def violations(source: str) -> list[str]:
    """Each forbidden attribute use or import in ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            names = {node.module or ""} | {alias.name for alias in node.names}
            found += [f"{node.lineno}: import {n}" for n in sorted(names & FORBIDDEN_IMPORTS)]
        elif isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
            found += [f"{node.lineno}: import {n}" for n in sorted(names & FORBIDDEN_IMPORTS)]
    return found


def test_samplegen_uses_no_jvm_only_spark_api():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in ALLOWED and (found := violations(path.read_text()))
    }
    assert not offenders, (
        f"JVM-only Spark API on a path a Spark Connect session takes: {offenders}; "
        "use the DataFrame API or a helper in samplegen/spark.py (pinned, default_parallelism)"
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "n = spark.sparkContext.defaultParallelism",
        "rows = sc.parallelize(range(3))",
        "df = df.localCheckpoint()",
        "ids = df.rdd.zipWithIndex()",
        "jvm = spark._jvm",
        "from delta.tables import DeltaTable",
        "from pyspark import SparkContext",
        "import pyspark.rdd",
    ],
)
def test_the_scan_finds_each_kind_of_use(snippet: str):
    assert violations(snippet), snippet


def test_the_scan_passes_dataframe_api_and_prose():
    source = (
        '"""Not localCheckpoint or sparkContext: words in a docstring."""\n'
        "df = spark.range(3).join(F.broadcast(small), 'id').cache()\n"
        "out = df.mapInPandas(fn, schema)\n"
    )
    assert violations(source) == []


def test_remote_url_is_the_config_key_then_the_environment(monkeypatch: pytest.MonkeyPatch):
    from samplegen.config import SparkConfig
    from samplegen.spark import remote_url

    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    assert remote_url(SparkConfig()) is None
    monkeypatch.setenv("SPARK_REMOTE", "sc://env:15002")
    assert remote_url(SparkConfig()) == "sc://env:15002"
    assert remote_url(SparkConfig(remote="sc://conf:15002")) == "sc://conf:15002"

"""The support check at start-up and the Delta coordinates that follow the installed Spark."""

from __future__ import annotations

import pyspark
import pytest

from samplegen import cli, compat
from samplegen.compat import (
    catalog_mode_gap,
    delta_artifacts,
    error_condition,
    patch_release,
    release,
    unsupported,
)
from samplegen.config import ConfigError, load_config
from tests.conftest import HAS_PETASTORM, REPO


@pytest.mark.parametrize(
    "text, expected",
    [("3.5.2", (3, 5)), ("4.0.1", (4, 0)), ("4.1.0.dev0", (4, 1)), ("15.4", (15, 4))],
)
def test_release_reads_major_and_minor(text, expected):
    assert release(text) == expected


@pytest.mark.parametrize(
    "python, spark",
    [((3, 10), "3.5.0"), ((3, 11), "4.0.1"), ((3, 12), "3.5.2"), ((3, 12), "4.0.0")],
)
def test_supported_pairs_pass(python, spark):
    assert unsupported(python, spark) is None


@pytest.mark.parametrize(
    "python, spark, named",
    [((3, 9), "3.5.2", "Python 3.9"), ((3, 11), "3.4.1", "Spark 3.4.1"), ((3, 8), None, "3.8")],
)
def test_unsupported_pairs_name_what_is_supported(python, spark, named):
    line = unsupported(python, spark)
    assert line is not None and "\n" not in line
    assert named in line and compat.SUPPORTED in line


def test_missing_pyspark_names_the_extra():
    assert "samplegen[spark]" in unsupported((3, 11), None)


@pytest.mark.parametrize(
    "spark, delta, expected",
    [
        ("3.5.2", "3.3.2", "io.delta:delta-spark_2.12:3.3.2"),
        ("3.5.0", None, "io.delta:delta-spark_2.12:3.3.3"),
        ("4.0.1", "4.0.0", "io.delta:delta-spark_2.13:4.0.0"),
        ("4.0.0", None, "io.delta:delta-spark_2.13:4.0.0"),
    ],
)
def test_delta_coordinates_follow_spark(spark, delta, expected):
    jar, storage = delta_artifacts(spark, delta)
    assert jar == expected
    assert storage == f"io.delta:delta-storage:{expected.rsplit(':', 1)[1]}"


@pytest.mark.parametrize(
    "text", ["3.5.6", "3.5.10", "3.3.3rc1", "4.0.0.dev1", "3.5", "15.4.2", "3.3.2.post1"]
)
def test_patch_release_orders_as_packaging_does(text):
    from packaging.version import Version

    assert patch_release(text) == (Version(text).release + (0, 0))[:3]


@pytest.mark.parametrize(
    "spark, delta, refused",
    [
        ("3.5.9", "3.3.2", True),
        ("3.5.6", "3.2.1", True),
        ("3.5.9", "3.3.3", False),
        ("3.5.5", "3.3.2", False),
        ("4.0.1", "4.0.0", False),
        ("3.5.9", None, False),
    ],
)
def test_catalog_mode_gap_names_the_delta_fix(spark, delta, refused):
    line = catalog_mode_gap(spark, delta)
    assert (line is not None) == refused
    if refused:
        assert "tables.schema" in line and "delta-spark>=3.3.3" in line and "4671" in line


def test_delta_for_another_spark_line_is_refused():
    with pytest.raises(RuntimeError, match="delta-spark 4.0.0 does not run on Spark 3.5.2"):
        delta_artifacts("3.5.2", "4.0.0")


def test_installed_spark_gets_its_own_delta():
    from samplegen.spark import delta_coordinates, delta_jar_paths

    jar, _ = delta_coordinates()
    scala = "2.12" if release(pyspark.__version__) < (4, 0) else "2.13"
    assert jar.startswith(f"io.delta:delta-spark_{scala}:")
    release_ = jar.rsplit(":", 1)[1]
    assert [p.name for p in delta_jar_paths()] == [
        f"delta-spark_{scala}-{release_}.jar",
        f"delta-storage-{release_}.jar",
    ]


class _Spark35Error(Exception):
    """The accessor PySpark 3.5 exceptions have (4.0 adds getCondition)."""

    def getErrorClass(self) -> str:  # noqa: N802 (PySpark's name)
        return "PATH_NOT_FOUND"


def test_error_condition_reads_both_spark_lines():
    assert error_condition(_Spark35Error()) == "PATH_NOT_FOUND"
    assert error_condition(ValueError("plain")) is None


def test_cli_stops_an_unsupported_stack_with_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(cli, "check_supported", lambda: unsupported((3, 9), "3.4.1"))
    assert cli.main(["run", "--conf", "conf/local.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samplegen: unsupported: Python 3.9")
    # Commands that need no Spark still answer.
    assert cli.main(["strategies"]) == 0


@pytest.mark.skipif(HAS_PETASTORM, reason="petastorm is installed here (the primary environment)")
def test_petastorm_loader_without_the_extra_names_it():
    with pytest.raises(ConfigError, match=r"samplegen\[petastorm\].*train.loader: arrow"):
        load_config(REPO / "conf" / "local.yaml", ["train.loader=petastorm"])


def test_arrow_is_the_default_loader():
    assert load_config(REPO / "conf" / "local.yaml", []).train.loader == "arrow"

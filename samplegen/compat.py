"""The supported Python and Spark versions, checked at start-up, and the Delta jars they need.

samplegen runs on Python 3.10+ with Spark 3.5.x (Delta 3.x, Scala 2.12: Databricks Runtime
15.4/16.4 LTS) or Spark 4.0.x (Delta 4.0.x, Scala 2.13: Databricks Runtime 17.3 LTS). Older
combinations fail deep inside a stage (missing SQL functions, Connect gaps); this module
refuses them before any work starts, with one line naming what is supported. It imports no
Spark module, so the check also runs where pyspark is missing.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

SUPPORTED = "Python >= 3.10 with Spark 3.5.x or 4.0.x"
MIN_PYTHON = (3, 10)
MIN_SPARK = (3, 5)

#: Delta release to fetch for each Spark line when the ``delta-spark`` package is not installed
#: (spark-submit with only pyspark); an installed ``delta-spark`` always wins.
DEFAULT_DELTA = {(3, 5): "3.3.3", (4, 0): "4.0.0"}

SPARK_EXTRA_HINT = 'pyspark is not installed: pip install "samplegen[spark]" (or run on Databricks)'


def release(text: str) -> tuple[int, int]:
    """The (major, minor) of a version string such as ``3.5.2``, ``4.0.0.dev1`` or ``15.4``."""
    parts = text.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError) as err:
        raise ValueError(f"not a version: {text!r}") from err


def patch_release(text: str) -> tuple[int, int, int]:
    """The (major, minor, patch) of a version string such as ``3.5.6`` or ``3.3.3rc1``."""
    numbers = []
    for part in (text.split(".") + ["0", "0"])[:3]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        numbers.append(int(digits or 0))
    return numbers[0], numbers[1], numbers[2]


def installed(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def unsupported(python: tuple[int, int], spark: str | None) -> str | None:
    """One line saying why this Python/Spark pair is unsupported, or None when it is supported.

    ``spark`` is the pyspark version (None: not installed, reported as such).
    """
    found = f"Python {python[0]}.{python[1]}"
    if tuple(python) < MIN_PYTHON:
        return f"unsupported: {found}; samplegen needs {SUPPORTED}"
    if spark is None:
        return SPARK_EXTRA_HINT
    if release(spark) < MIN_SPARK:
        return f"unsupported: {found} with Spark {spark}; samplegen needs {SUPPORTED}"
    return None


def check_supported() -> str | None:
    """:func:`unsupported` for this interpreter and the installed pyspark."""
    return unsupported(sys.version_info[:2], installed("pyspark"))


def catalog_mode_gap(spark: str, delta: str | None) -> str | None:
    """Why catalog mode cannot run on this pyspark/delta-spark pair, or None when it can.

    pyspark 3.5.6 made Spark check that a table really supports truncation before an
    overwrite; open-source Delta declares it only from 3.3.3 on (delta-io/delta#4671, fixed by
    delta-io/delta#4919), so every ``saveAsTable`` overwrite fails with "does not support
    truncate in batch mode". Path mode is unaffected; Databricks' own Delta (no delta-spark
    package installed) is not concerned.
    """
    if delta is None or release(spark) >= (4, 0):
        return None
    if patch_release(spark) >= (3, 5, 6) and patch_release(delta) < (3, 3, 3):
        return (
            f"catalog tables (tables.schema) need delta-spark >= 3.3.3 with pyspark {spark}; "
            f"delta-spark {delta} fails every overwrite (delta-io/delta#4671): "
            'pip install "delta-spark>=3.3.3,<3.4", or unset tables.schema to keep path tables'
        )
    return None


def delta_version(spark: str, delta: str | None) -> str:
    """The Delta release matching pyspark ``spark``: the installed ``delta`` when given.

    Raises:
        RuntimeError: when the installed delta-spark is for another Spark line, or no Delta
            release is known for this Spark line.
    """
    line = release(spark)
    wanted_major = 3 if line < (4, 0) else 4
    if delta is not None:
        if release(delta)[0] != wanted_major:
            raise RuntimeError(
                f"delta-spark {delta} does not run on Spark {spark}: install delta-spark "
                f"{wanted_major}.x for Spark {line[0]}.{line[1]}"
            )
        return delta
    if line not in DEFAULT_DELTA:
        raise RuntimeError(f"no Delta release known for Spark {spark}; install delta-spark")
    return DEFAULT_DELTA[line]


def delta_artifacts(spark: str, delta: str | None) -> tuple[str, str]:
    """Maven coordinates of the Delta jars for pyspark ``spark`` (and installed ``delta``).

    Delta 3.x is built for Scala 2.12 (Spark 3.5), Delta 4.x for Scala 2.13 (Spark 4).
    """
    release_ = delta_version(spark, delta)
    scala = "2.12" if release(release_)[0] < 4 else "2.13"
    return f"io.delta:delta-spark_{scala}:{release_}", f"io.delta:delta-storage:{release_}"


def error_condition(err: Exception) -> str | None:
    """The error condition of a PySpark exception.

    ``getCondition`` exists from Spark 4.0 on; Spark 3.5 has the same value as ``getErrorClass``.
    """
    getter = getattr(err, "getCondition", None) or getattr(err, "getErrorClass", None)
    return getter() if getter is not None else None

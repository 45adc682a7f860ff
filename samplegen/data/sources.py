"""The bundled input datasets by name (``data.source``): raw events and the item catalogue."""

from __future__ import annotations

from types import ModuleType

from pyspark.sql import DataFrame, SparkSession

from samplegen.config import DataConfig
from samplegen.data import completejourney, movielens

#: ``data.source`` value -> module with ``load_events(spark, max_users)`` and
#: ``load_catalogue(spark)``.
SOURCES: dict[str, ModuleType] = {
    "completejourney": completejourney,
    "movielens100k": movielens,
}


def _source(data_cfg: DataConfig) -> ModuleType:
    try:
        return SOURCES[data_cfg.source]
    except KeyError:
        known = ", ".join(SOURCES)
        raise ValueError(
            f"unknown data.source {data_cfg.source!r}; known sources: {known}"
        ) from None


def load_events(spark: SparkSession, data_cfg: DataConfig) -> DataFrame:
    """Raw events (RAW_EVENTS schema) of the configured source, ``data.max_users`` applied."""
    return _source(data_cfg).load_events(spark, data_cfg.max_users)


def load_catalogue(spark: SparkSession, data_cfg: DataConfig) -> DataFrame:
    """Item catalogue (CATALOGUE schema) of the configured source."""
    return _source(data_cfg).load_catalogue(spark)

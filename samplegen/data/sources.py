"""The input datasets by name (``data.source``): raw events and the item catalogue.

``completejourney`` and ``movielens100k`` are bundled; ``files`` reads your own log and catalogue
(Delta, Parquet or CSV) as ``data.events_path`` and the other ``data.*`` keys describe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from samplegen.config import DataConfig
from samplegen.data import completejourney, files, movielens


@dataclass(frozen=True)
class Source:
    """How one ``data.source`` loads its events and catalogue from the ``data`` config."""

    load_events: Callable[[SparkSession, DataConfig], DataFrame]
    load_catalogue: Callable[[SparkSession, DataConfig], DataFrame]


#: ``data.source`` value -> its loaders. The bundled datasets only use ``data.max_users``.
SOURCES: dict[str, Source] = {
    "completejourney": Source(
        lambda spark, data_cfg: completejourney.load_events(spark, data_cfg.max_users),
        lambda spark, data_cfg: completejourney.load_catalogue(spark),
    ),
    "movielens100k": Source(
        lambda spark, data_cfg: movielens.load_events(spark, data_cfg.max_users),
        lambda spark, data_cfg: movielens.load_catalogue(spark),
    ),
    "files": Source(files.load_events, files.load_catalogue),
}


def _source(data_cfg: DataConfig) -> Source:
    try:
        return SOURCES[data_cfg.source]
    except KeyError:
        known = ", ".join(SOURCES)
        raise ValueError(
            f"unknown data.source {data_cfg.source!r}; known sources: {known}"
        ) from None


def load_events(spark: SparkSession, data_cfg: DataConfig) -> DataFrame:
    """Raw events (RAW_EVENTS schema) of the configured source, ``data.max_users`` applied."""
    return _source(data_cfg).load_events(spark, data_cfg)


def load_catalogue(spark: SparkSession, data_cfg: DataConfig) -> DataFrame:
    """Item catalogue (CATALOGUE schema) of the configured source."""
    return _source(data_cfg).load_catalogue(spark, data_cfg)

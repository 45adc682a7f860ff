"""What a strategy gets to draw from (:class:`DrawContext`) and what it must provide.

A strategy is a module registered in :data:`samplegen.registry.STRATEGIES` with a function
``draw(ctx) -> (rows, metrics)``, and optionally ``check(cfg)`` that refuses a configuration
before anything runs. :func:`samplegen.generate.run_generate` does the rest once for all of
them: the model check, the privacy filter of new users, provenance and the writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config, GenerateConfig
from samplegen.tables import ITEM_INDEX, USER_INDEX, Table, read_table, table_store

Metrics = dict[str, object]


@dataclass
class DrawContext:
    """One run's view of the lakehouse for a strategy.

    ``real`` is ``interactions_train``; ``model_dir`` the resolved folder of the run's model
    (it exists for every generative strategy; a baseline ignores it).
    """

    spark: SparkSession
    cfg: Config
    run_id: str
    real: DataFrame
    model_dir: str

    @property
    def gen(self) -> GenerateConfig:
        """The ``generate`` section."""
        return self.cfg.generate

    def table(self, table: Table) -> DataFrame:
        """A lakehouse table."""
        return read_table(self.spark, table_store(self.cfg), table)

    @cached_property
    def first_user_idx(self) -> int:
        """Where new users' indices start: after every indexed user."""
        return next_index(self.table(USER_INDEX), "user_idx")

    @cached_property
    def first_item_idx(self) -> int:
        """Where new items' indices start: after every indexed item."""
        return next_index(self.table(ITEM_INDEX), "item_idx")


class Strategy(Protocol):
    """The module of a registered strategy."""

    def draw(self, ctx: DrawContext) -> tuple[DataFrame, Metrics]:
        """The strategy's rows (see its table's schema) and what the manifest should record."""
        ...


def next_index(index: DataFrame, column: str) -> int:
    """The first index after every one in ``index`` (where new users / items start)."""
    return (index.agg(F.max(column)).first()[0] or 0) + 1


def require_models(cfg: Config, models: tuple[str, ...], draws: str) -> None:
    """Stop unless ``train.model`` is one of ``models``, naming what the strategy draws."""
    if cfg.train.model not in models:
        raise ValueError(
            f"generate.strategy={cfg.generate.strategy} draws {draws} and needs "
            f"train.model in {', '.join(models)}, not {cfg.train.model!r}"
        )


def require_tabular(cfg: Config, table: str, draws: str) -> None:
    """Stop unless the run's model is the tabular generator trained on ``table``."""
    if cfg.train.model != "tabular" or cfg.train.tabular.table != table:
        raise ValueError(
            f"generate.strategy={cfg.generate.strategy} draws {draws} and needs "
            f"train.model=tabular with train.tabular.table={table}"
        )

"""Hot-deck filling of the ``synthetic_ctr`` columns the tabular generator does not model.

The tabular generator writes only the columns it was trained on
(``train.tabular.discrete_columns`` / ``continuous_columns``); every other feature column of a
generated row would stay null, in every row, where real rows have values. A classifier then
tells synthetic rows from real ones by that null alone (on MovieLens-100K ``department``,
constant ``movie`` in real rows, gave detection AUC 1.0; 0.913 with the fill, bench/README.md),
and a CTR model trained on the augmented rows learns a null bucket no real row has.

``generate.ctr_fill: donor`` fills them by hot-deck imputation: each generated row takes all
its unmodelled columns from one real ``samples_ctr`` **train** row (a donor) that matches it
on the generated discrete columns (the key: the model's discrete columns, label included), so
the filled values follow their real distribution given the key and keep their joint
structure. A row whose key no train row has falls back to a coarser key (label only, then
any train row); those rows are counted.

The donor is chosen without collecting anything to the driver and independently of
partitioning: the real rows are numbered ``0..n-1`` within their key group (a window
partitioned by the key, ordered by the copied values, so ties are rows with equal values);
a generated row draws a uniform ``u`` from a hash of ``(seed, stream, row)`` and takes the
donor of rank ``floor(u n)`` of its group, by an equi-join on ``(key, rank)`` (null-safe on
the key: a null category is a value like any other).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.registry import Stream
from samplegen.spark import join_null_safe, pinned, seeded_uniform
from samplegen.tables import SAMPLES_CTR, TABULAR_TRAIN_ROWS

log = logging.getLogger(__name__)

#: Prefix of the columns the joins add (never a ``synthetic_ctr`` column).
_TMP = "_fill_"


@dataclass(frozen=True)
class FillCounts:
    """How many generated rows found a donor at each key level (full key first)."""

    keys: tuple[tuple[str, ...], ...]
    rows: tuple[int, ...]

    @property
    def fallback(self) -> int:
        """Rows whose full key no train row had (filled from a coarser key)."""
        return sum(self.rows[1:])


def unmodelled_columns(
    features: Sequence[str], discrete: Sequence[str], continuous: Sequence[str]
) -> list[str]:
    """The ``features`` (``synthetic_ctr`` feature columns) the model does not generate."""
    modelled = {*discrete, *continuous}
    return [c for c in features if c not in modelled]


def key_levels(key: Sequence[str]) -> list[tuple[str, ...]]:
    """The donor keys tried in turn: ``key`` (label first), label only, none (any train row)."""
    full = ("label", *(c for c in key if c != "label"))
    levels = [full, ("label",), ()]
    return [k for i, k in enumerate(levels) if k not in levels[:i]]


def fill_from_donors(
    rows: DataFrame,
    train: DataFrame,
    key: Sequence[str],
    columns: Sequence[str],
    seed: int,
) -> tuple[DataFrame, FillCounts]:
    """``rows`` with ``columns`` copied from one ``train`` row matching on ``key``.

    Args:
        rows: generated rows with a unique ``row`` number, ``label`` and the ``key`` columns.
        train: the donor rows (``samples_ctr`` train rows only: never pass valid/test rows).
        key: the generated discrete columns the donor must match (``label`` is always added);
            see :func:`key_levels` for the fallbacks.
        columns: the columns copied from the donor (their values in ``rows`` are replaced).
        seed: the run seed.

    Returns:
        The filled rows (``rows``' columns, in order; pinned) and the rows filled at each key
        level.

    Raises:
        ValueError: if ``train`` has no row (there is no donor at all).
    """
    levels = key_levels(key)
    # One read of the donors: the group sizes and the ranks below must count the same rows.
    train = pinned(train.select(*dict.fromkeys(["label", *key, *columns])))
    uniform = seeded_uniform(seed, int(Stream.CTR_FILL), F.col("row"))
    draws = rows.drop(*columns).withColumn(_TMP + "u", uniform)
    for i, level in enumerate(levels):
        sizes = train.groupBy(*level).agg(F.count(F.lit(1)).alias(f"{_TMP}n{i}"))
        draws = join_null_safe(draws, sizes, list(level), "left")
    sizes = [F.coalesce(F.col(f"{_TMP}n{i}"), F.lit(0)) for i in range(len(levels))]
    level_of = F.lit(len(levels) - 1)  # the last level (any train row) always has a donor
    for i in reversed(range(len(levels) - 1)):
        level_of = F.when(sizes[i] > 0, F.lit(i)).otherwise(level_of)
    size = F.element_at(F.array(*sizes), level_of + 1)
    draws = pinned(
        draws.select(
            *[c for c in rows.columns if c not in columns],
            level_of.alias(_TMP + "level"),
            size.alias(_TMP + "size"),
            F.floor(F.col(_TMP + "u") * size).cast("long").alias(_TMP + "rank"),
        )
    )
    per_level = draws.groupBy(_TMP + "level").agg(
        F.count(F.lit(1)).alias("rows"), F.min(_TMP + "size").alias("size")
    )
    seen = per_level.collect()
    counts = {int(r[_TMP + "level"]): int(r["rows"]) for r in seen}
    if any(r["size"] == 0 for r in seen):  # only when train has no row at all
        raise ValueError("ctr_fill: no samples_ctr train row to take unmodelled values from")
    parts = [
        _filled(draws.where(F.col(_TMP + "level") == i), train, level, columns)
        for i, level in enumerate(levels)
        if counts.get(i)
    ]
    filled = pinned(reduce(DataFrame.unionByName, [p.select(*rows.columns) for p in parts]))
    fill_counts = FillCounts(
        keys=tuple(levels), rows=tuple(counts.get(i, 0) for i in range(len(levels)))
    )
    if filled.count() != sum(fill_counts.rows):  # every drawn rank has exactly one donor
        raise RuntimeError(
            f"ctr_fill: {sum(fill_counts.rows)} rows drawn but {filled.count()} filled"
        )
    return filled, fill_counts


def donor_ranks(train: DataFrame, level: Sequence[str], columns: Sequence[str]) -> DataFrame:
    """``level`` key, ``columns`` and ``_fill_rank``: train rows numbered 0.. in their key group.

    The window is partitioned by the key (by label for the empty key, with each label's rows
    numbered after the smaller labels', from a collect of the label counts only), ordered by
    the copied values: tied rows have equal values, so any order among them gives the same
    fill.
    """
    window = Window.partitionBy(*(level or ("label",))).orderBy(
        *[F.col(c).asc_nulls_first() for c in columns]
    )
    rank = (F.row_number().over(window) - 1).cast("long")
    if not level:
        labels = sorted(
            (int(r["label"]), int(r["count"])) for r in train.groupBy("label").count().collect()
        )
        offset, start = F.lit(0).cast("long"), 0
        for label, n in labels:
            offset = F.when(F.col("label") == label, F.lit(start)).otherwise(offset)
            start += n
        rank = rank + offset
    base = train.select(*(level or ("label",)), *columns)
    return base.select(*level, *columns, rank.alias(_TMP + "rank"))


def _filled(
    draws: DataFrame, train: DataFrame, level: Sequence[str], columns: Sequence[str]
) -> DataFrame:
    """``draws`` (with ``_fill_rank``) joined to the donor of that rank in their key group."""
    donors = donor_ranks(train, level, columns)
    joined = join_null_safe(draws, donors, [*level, _TMP + "rank"], "inner")
    return joined.drop(_TMP + "rank", _TMP + "level", _TMP + "size")


def fill_unmodelled(
    rows: DataFrame, samples: DataFrame, cfg: Config, features: Sequence[str]
) -> tuple[DataFrame, dict[str, object]]:
    """Generated ``synthetic_ctr`` rows with ``generate.ctr_fill`` applied, and its figures.

    ``features`` are the ``synthetic_ctr`` feature columns; those the tabular model does not
    generate are filled from ``samples_ctr`` train rows (``donor``) or left null (``none``).
    The figures (columns filled, rows per fallback) go to the stage's metrics and the log.
    """
    tabular = cfg.train.tabular
    columns = unmodelled_columns(features, tabular.discrete_columns, tabular.continuous_columns)
    metrics: dict[str, object] = {"ctr_fill": cfg.generate.ctr_fill, "ctr_fill/columns": columns}
    if cfg.generate.ctr_fill == "none" or not columns:
        if columns:
            log.info("ctr_fill=none: unmodelled columns left null: %s", ", ".join(columns))
        return rows, metrics
    key = [c for c in tabular.discrete_columns if c in features or c == "label"]
    split_column, train_split = TABULAR_TRAIN_ROWS[SAMPLES_CTR.name]
    train = samples.where(F.col(split_column) == train_split)
    filled, counts = fill_from_donors(rows, train, key, columns, cfg.generate.seed)
    metrics |= {
        "ctr_fill/key": list(counts.keys[0]),
        "ctr_fill/rows": sum(counts.rows),
        "ctr_fill/fallback_rows": counts.fallback,
    }
    for level, n in zip(counts.keys[1:], counts.rows[1:], strict=True):
        metrics[f"ctr_fill/fallback_{'_'.join(level) or 'any'}"] = n
    log.info(
        "ctr_fill=donor: %s of %d synthetic_ctr rows copied from samples_ctr train rows of the "
        "same %s; %d rows fell back to a coarser key",
        ", ".join(columns),
        sum(counts.rows),
        ", ".join(counts.keys[0]),
        counts.fallback,
    )
    return filled, metrics

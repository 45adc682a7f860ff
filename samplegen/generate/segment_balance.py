"""``segment_balance``: ``samples_ctr`` rows for thin segments, from the tabular generator.

The segments are :mod:`samplegen.segments`' (the same rules as stage 4's CTR slices), with
their thresholds taken on the ``samples_ctr`` train rows: ``cold_users`` (bottom quartile of
users by ``user_events``), ``cold_items`` (bottom half of items by ``item_users``) and
``rare_categories`` (bottom half of categories by rows). Each segment of
``generate.segments`` gets enough generated rows to hold ``generate.segment_share`` of the real
+ synthetic train rows; the segments are solved together, since every segment's rows grow the
total (:func:`rows_needed`). A segment already at the share gets none; one without real train
rows is skipped (logged, and named in the manifest): there is no real mix to follow.

How rows land in a segment, as far as the generator supports it: the tabular generator
(CTGAN-style) conditions only on discrete columns (its condition vector is the discrete
one-hot blocks it was trained with; ``category_code`` refuses continuous columns).

* ``rare_categories``: ``category`` is discrete (:func:`check` requires it among
  ``train.tabular.discrete_columns``), so each row is conditioned on its category and label.
  Categories are drawn per chunk in proportion to their real train rows: the segment grows as
  a whole and the rarest category is not inflated beyond the evidence the model has of it.
* ``cold_users``, ``cold_items``: ``user_events`` and ``item_users`` are continuous (modelled
  by mode-specific normalisation), so rows are generated conditioned on the label only and
  kept when they fall at or below the segment's threshold: rejection, in at most
  :data:`MAX_ROUNDS` rounds per chunk, each sized by the acceptance seen so far (first: the
  segment's real row share, which the generator's marginals follow). Rows still missing are
  not written; the shortfall is logged and recorded per segment. Conditioning on a mode of a
  continuous column would need a condition the model was not trained with.

The label mix of a segment's rows follows the segment's real positive share (rounded), so
the strategy changes how many rows a segment has, not its label balance (``label_balance``
does that). Overlaps are not double-counted: a synthetic row counts for the segment it was
drawn for, so achieved shares (measured with overlaps, in the manifest) are at least the
target where no rows fell short.

Rows are drawn in chunks of at most :data:`CHUNK_ROWS` (one segment and label each) inside
``mapInPandas``; chunk ``c`` is seeded from ``(run seed, stream, c)``, so the rows do not
depend on partitioning. They go to ``synthetic_ctr`` like ``label_balance``'s: the columns the
model does not generate are filled from real train rows by the generate stage
(``generate.ctr_fill``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.generate.context import DrawContext, Metrics, require_tabular
from samplegen.generate.label_balance import ROW_SCHEMA, ctr_frame
from samplegen.models.base import Generator
from samplegen.models.store import load_generator
from samplegen.registry import Stream
from samplegen.segments import (
    COLD_ITEM_QUANTILE,
    COLD_ITEMS,
    COLD_USER_QUANTILE,
    COLD_USERS,
    RARE_CATEGORIES,
    RARE_CATEGORY_QUANTILE,
    SEGMENT_COLUMNS,
    lower_quantile,
)
from samplegen.spark import pinned
from samplegen.tables import SAMPLES_CTR

log = logging.getLogger(__name__)

#: Most rows of one chunk (one ``mapInPandas`` input row: one segment, one label).
CHUNK_ROWS = 2048
#: Rejection rounds per chunk of a segment the generator cannot be conditioned on.
MAX_ROUNDS = 8
#: The lowest acceptance a round is sized for (at most this many draws per missing row).
MIN_ACCEPTANCE = 0.02


def rows_needed(real: Mapping[str, int], total: int, share: float) -> dict[str, int]:
    """Synthetic rows per segment so each holds at least ``share`` of real + synthetic rows.

    ``real`` maps each segment to its real train rows, ``total`` is every real train row.
    With ``A`` the segments below the share, the synthetic total ``T`` solves
    ``T = sum_{s in A} (share (total + T) - real_s)``, so
    ``T = (|A| share total - sum_A real_s) / (1 - |A| share)``; a segment the grown total
    pushes below the share joins ``A`` and ``T`` is solved again. Each segment of ``A`` then
    gets ``ceil(share (total + T) - real_s)`` rows, topped up a row at a time where rounding
    left it short. A segment at or above the share gets 0; one without real rows gets 0 and a
    warning naming it (skipped: no real label mix to follow, nothing to aim at).

    Raises:
        ValueError: if ``|A| share >= 1`` (no number of rows reaches the share; the config
            check refuses ``len(generate.segments) * generate.segment_share >= 1``).
    """
    for segment in (s for s, r in real.items() if r == 0):
        log.warning("segment_balance: segment %s has no real train rows; skipped", segment)
    active: set[str] = set()
    grown = float(total)
    while True:
        below = {s for s, r in real.items() if 0 < r < share * grown}
        if below == active:
            break
        active = below
        if len(active) * share >= 1:
            raise ValueError(
                f"{len(active)} segments at share {share} cannot all be reached: lower "
                "generate.segment_share or name fewer generate.segments"
            )
        lift = (len(active) * share * total - sum(real[s] for s in active)) / (
            1 - len(active) * share
        )
        grown = total + lift
    need = {s: 0 for s in real}
    for s in active:
        need[s] = max(0, int(np.ceil(share * grown - real[s] - 1e-9)))
    while short := [s for s in active if real[s] + need[s] < share * (total + sum(need.values()))]:
        for s in short:
            need[s] += 1
    return need


@dataclass(frozen=True)
class Segments:
    """The segment thresholds of the train rows (see :mod:`samplegen.segments`).

    ``user_cut`` / ``item_cut`` are ``None`` without any user (item) count; ``rare`` maps each
    rare category to its real train rows.
    """

    user_cut: float | None
    item_cut: float | None
    rare: dict[str, int] = field(default_factory=dict)

    def member(self, segment: str) -> Column:
        """Whether a row is in ``segment`` (false for a null in the segment's column)."""
        cut = {COLD_USERS: self.user_cut, COLD_ITEMS: self.item_cut}.get(segment)
        column = F.col(SEGMENT_COLUMNS[segment])
        if segment == RARE_CATEGORIES:
            inside = column.isin(sorted(self.rare)) if self.rare else F.lit(False)
        else:
            inside = column <= F.lit(cut) if cut is not None else F.lit(False)
        return F.coalesce(inside, F.lit(False))

    def mask(self, segment: str, rows: pd.DataFrame) -> np.ndarray:
        """The generated ``rows`` in ``segment`` (a null never is)."""
        values = rows[SEGMENT_COLUMNS[segment]]
        if segment == RARE_CATEGORIES:
            return values.isin(list(self.rare)).to_numpy(dtype=bool)
        cut = self.user_cut if segment == COLD_USERS else self.item_cut
        if cut is None:
            return np.zeros(len(rows), dtype=bool)
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        return (numbers <= cut).fillna(False).to_numpy(dtype=bool)


def _distinct_cut(train: DataFrame, key: str, column: str, q: float) -> float | None:
    """The lower ``q``-quantile of ``column`` over distinct ``key``s (one value each)."""
    grouped = (
        train.where(F.col(column).isNotNull())
        .dropDuplicates([key])
        .groupBy(column)
        .count()
        .collect()
    )
    return lower_quantile([r[column] for r in grouped], q, [r["count"] for r in grouped])


def segment_thresholds(train: DataFrame) -> Segments:
    """The thresholds of :mod:`samplegen.segments` on ``samples_ctr`` train rows."""
    per_category = {
        r["category"]: int(r["count"])
        for r in train.where(F.col("category").isNotNull()).groupBy("category").count().collect()
    }
    cut = lower_quantile(list(per_category.values()), RARE_CATEGORY_QUANTILE)
    return Segments(
        user_cut=_distinct_cut(train, "user_idx", "user_events", COLD_USER_QUANTILE),
        item_cut=_distinct_cut(train, "item_idx", "item_users", COLD_ITEM_QUANTILE),
        rare={c: n for c, n in per_category.items() if cut is not None and n <= cut},
    )


def chunk_plan(
    need: Mapping[str, int], positive_share: Mapping[str, float], acceptance: Mapping[str, float]
) -> pd.DataFrame:
    """One row per chunk: ``chunk, segment, label, size, first_row, acceptance``.

    Segments in ``need``'s order, negatives first; rows are numbered without gaps over the
    plan, so a chunk's rows are ``[first_row, first_row + size)`` (fewer after a shortfall).
    """
    records = []
    first = 0
    for segment, n in need.items():
        positives = int(np.floor(n * positive_share.get(segment, 0.0) + 0.5))
        for label, count in ((0, n - positives), (1, positives)):
            for start in range(0, count, CHUNK_ROWS):
                size = min(CHUNK_ROWS, count - start)
                records.append((len(records), segment, label, size, first, acceptance[segment]))
                first += size
    columns = ["chunk", "segment", "label", "size", "first_row", "acceptance"]
    return pd.DataFrame.from_records(records, columns=columns)


def _seed(seed: int, chunk: int, part: int) -> int:
    """The ``sample()`` seed of one part (a round, a category) of one chunk."""
    state = np.random.SeedSequence([seed, int(Stream.SEGMENT_BALANCE), chunk, part])
    return int(state.generate_state(1)[0])


def chunk_rows(
    generator: Generator, chunk: Mapping[str, object], segments: Segments, seed: int
) -> pd.DataFrame:
    """The rows of one plan chunk (:func:`chunk_plan`) as ``synthetic_ctr`` rows."""
    number, size, label = int(chunk["chunk"]), int(chunk["size"]), int(chunk["label"])
    segment = str(chunk["segment"])
    if segment == RARE_CATEGORIES:
        names = sorted(segments.rare)
        weights = np.asarray([segments.rare[c] for c in names], dtype=np.float64)
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, int(Stream.SEGMENT_BALANCE), number])
        )
        counts = rng.multinomial(size, weights / weights.sum())
        parts = [
            generator.sample(
                int(k),
                seed=_seed(seed, number, i),
                condition={"label": label, "category": names[i]},
            )
            for i, k in enumerate(counts)
            if k
        ]
        rows = pd.concat(parts, ignore_index=True)
    else:
        rows = _rejected(generator, chunk, segments, seed)
    return ctr_frame(rows, int(chunk["first_row"]), label)


def _rejected(
    generator: Generator, chunk: Mapping[str, object], segments: Segments, seed: int
) -> pd.DataFrame:
    """Label-conditioned rows kept when in the chunk's segment, in bounded rounds."""
    number, size, label = int(chunk["chunk"]), int(chunk["size"]), int(chunk["label"])
    kept: list[pd.DataFrame] = []
    have, drawn = 0, 0
    acceptance = max(float(chunk["acceptance"]), MIN_ACCEPTANCE)
    for round_ in range(MAX_ROUNDS):
        missing = size - have
        if missing <= 0:
            break
        n = int(np.ceil(1.2 * missing / acceptance)) + 16
        rows = generator.sample(n, seed=_seed(seed, number, round_), condition={"label": label})
        inside = segments.mask(str(chunk["segment"]), rows)
        kept.append(rows[inside])
        have, drawn = have + int(inside.sum()), drawn + n
        acceptance = max(have / drawn, MIN_ACCEPTANCE)
    return pd.concat(kept, ignore_index=True).iloc[:size]


def _real_counts(train: DataFrame, segments: Segments, names: list[str]) -> dict[str, list[int]]:
    """``[rows, positives]`` of the train rows per segment, and ``total`` for all."""
    aggs = [F.count("*").alias("total")]
    for name in names:
        inside = segments.member(name)
        aggs += [
            F.sum(inside.cast("long")).alias(f"{name}_rows"),
            F.sum((inside & (F.col("label") == 1)).cast("long")).alias(f"{name}_positives"),
        ]
    row = train.agg(*aggs).first()
    out = {
        name: [int(row[f"{name}_rows"] or 0), int(row[f"{name}_positives"] or 0)] for name in names
    }
    out["total"] = [int(row["total"]), 0]
    return out


def segment_balance(
    spark: SparkSession,
    samples: DataFrame,
    model_dir: str,
    names: list[str],
    share: float,
    seed: int,
    partitions: int | None = None,
) -> tuple[DataFrame, Metrics]:
    """Generated rows of the thin segments (``synthetic_ctr`` columns after provenance).

    ``partitions`` spreads the chunks over that many tasks (default: Spark's); the rows do not
    depend on it.
    """
    train = samples.where(F.col("split") == "train")
    segments = segment_thresholds(train)
    segments = _known_to_model(segments, model_dir, names)
    counts = _real_counts(train, segments, names)
    total = counts.pop("total")[0]
    if total == 0:
        raise ValueError("segment_balance needs samples_ctr train rows; there are none")
    metrics: Metrics = {
        "segment_share": share,
        "segment_user_cut": segments.user_cut,
        "segment_item_cut": segments.item_cut,
        "rare_categories": len(segments.rare),
    }
    for name in names:
        if counts[name][0] == 0:
            metrics[f"{name}/skipped"] = "no real train rows"
    real = {name: c[0] for name, c in counts.items()}
    need = {name: n for name, n in rows_needed(real, total, share).items() if n > 0}
    plan = chunk_plan(
        need,
        {name: counts[name][1] / counts[name][0] for name in need},
        {name: real[name] / total for name in need},
    )
    rows = _draw(spark, plan, model_dir, segments, seed, partitions)
    written = _written(rows, plan, segments, names)
    n_rows = written.pop("total")
    for name in names:
        r, positives = counts[name]
        if r and not need.get(name):
            log.info(
                "segment_balance: segment %s already holds %d of %d train rows", name, r, total
            )
        got = written.get(f"{name}/own", 0)
        short = need.get(name, 0) - got
        if short > 0:
            log.warning(
                "segment_balance: segment %s got %d of %d rows after %d rejection rounds per chunk",
                name,
                got,
                need[name],
                MAX_ROUNDS,
            )
        metrics |= {
            f"{name}/real_rows": r,
            f"{name}/real_share": round(r / total, 4) if total else 0.0,
            f"{name}/positive_share": round(positives / r, 4) if r else None,
            f"{name}/rows_needed": need.get(name, 0),
            f"{name}/rows": got,
            f"{name}/shortfall": max(short, 0),
            f"{name}/achieved_share": round((r + written[name]) / (total + n_rows), 4),
        }
    metrics["synthetic_ctr_rows"] = n_rows
    return rows, metrics


def _known_to_model(segments: Segments, model_dir: str, names: list[str]) -> Segments:
    """``segments`` with the rare categories the model can be conditioned on (logged)."""
    if RARE_CATEGORIES not in names:
        return segments
    generator = load_generator(model_dir)
    transformer = generator.transformer  # type: ignore[attr-defined]
    if "category" not in transformer.names:
        raise ValueError(
            "generate.segments=rare_categories needs a model with a category column: retrain "
            "with category in train.tabular.discrete_columns"
        )
    known = set(transformer.columns[transformer.names.index("category")]["categories"])
    unknown = sorted(set(segments.rare) - known)
    if unknown:
        log.warning(
            "segment_balance: %d rare categories never seen by the model get no rows: %s",
            len(unknown),
            ", ".join(unknown[:10]),
        )
    rare = {c: n for c, n in segments.rare.items() if c in known}
    return Segments(segments.user_cut, segments.item_cut, rare)


def _draw(
    spark: SparkSession,
    plan: pd.DataFrame,
    model_dir: str,
    segments: Segments,
    seed: int,
    partitions: int | None,
) -> DataFrame:
    """The plan's rows, drawn chunk by chunk in ``mapInPandas`` and pinned."""
    if plan.empty:
        return spark.createDataFrame([], ROW_SCHEMA)
    chunks = spark.createDataFrame(plan)
    if partitions:
        chunks = chunks.repartition(partitions)

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for chunk in batch.to_dict("records"):
                yield chunk_rows(load_generator(model_dir), chunk, segments, seed)

    return pinned(chunks.mapInPandas(sample_partition, schema=ROW_SCHEMA))


def _written(
    rows: DataFrame, plan: pd.DataFrame, segments: Segments, names: list[str]
) -> dict[str, int]:
    """Written rows: in each segment (overlaps too), drawn for it (``<name>/own``), in all."""
    aggs = [F.count("*").alias("total")]
    for name in names:
        aggs.append(F.sum(segments.member(name).cast("long")).alias(name))
        own = plan[plan["segment"] == name]
        if own.empty:
            aggs.append(F.lit(0).alias(f"{name}/own"))
            continue
        low, high = int(own["first_row"].min()), int((own["first_row"] + own["size"]).max())
        aggs.append(F.sum(F.col("row").between(low, high - 1).cast("long")).alias(f"{name}/own"))
    row = rows.agg(*aggs).first()
    return {key: int(row[key] or 0) for key in row.asDict()}


def check(cfg: Config) -> None:
    """The rows come from a tabular model of ``samples_ctr`` that has each segment's column."""
    require_tabular(cfg, "samples_ctr", "samples_ctr rows")
    tabular = cfg.train.tabular
    modelled = {*tabular.discrete_columns, *tabular.continuous_columns}
    for name in cfg.generate.segments:
        column = SEGMENT_COLUMNS[name]
        discrete = name == RARE_CATEGORIES
        if column not in (tabular.discrete_columns if discrete else modelled):
            where = "train.tabular.discrete_columns" if discrete else "the train.tabular columns"
            raise ValueError(
                f"generate.segments lists {name}, which needs {column} among {where}; add it "
                f"(and retrain) or drop {name} from generate.segments"
            )
    if "label" not in tabular.discrete_columns:
        raise ValueError("segment_balance needs label among train.tabular.discrete_columns")


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """Rows of the thin segments for ``synthetic_ctr``."""
    gen = ctx.gen
    return segment_balance(
        ctx.spark,
        ctx.table(SAMPLES_CTR),
        ctx.model_dir,
        list(gen.segments),
        gen.segment_share,
        gen.seed,
    )

"""Utility rows with the ranking in Spark (``evaluate.scoring: spark``).

Popularity, EASE and ALS are fitted from training entries built in Spark
(:mod:`samplegen.evaluate.spark_training`); every evaluated user's sparse train row, the
items the run added to it and their test targets go through ``mapInPandas``, where the fitted
model (popularity vector, EASE item-item matrix or ALS item factors, shipped with the
function) scores a few thousand users at a time with the same ``score`` and
:func:`~samplegen.evaluate.metrics.top_k_items` as the driver path (train items masked, ties
to the lower item index) and recall / NDCG at each K are computed against the targets in the
same function. Per-user values land in ``eval_user_metrics``; the ``eval_metrics`` rows (means,
bootstrap CIs, paired differences, coverage) are computed from them exactly as
:func:`samplegen.evaluate.utility.paired_rows` does from the driver's arrays, on slices ``all``
and ``cold``. ALS is fitted in Spark on entries built there, on a background thread from the
start (not on Spark Connect), so its fit overlaps the other models' scoring.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.config import Config
from samplegen.evaluate.metrics import ndcg_at_k, recall_at_k, top_k_items
from samplegen.evaluate.recommenders import Recommender
from samplegen.evaluate.rows import EvalRow
from samplegen.evaluate.spark_training import SparkTraining, fit_in_spark, load_training
from samplegen.evaluate.utility import VARIANTS, fit_pool, fitted_ahead, paired_rows, seeds_of
from samplegen.runinfo import LOG
from samplegen.tables import (
    AUGMENTED_TRAIN,
    EVAL_USER_METRICS,
    INTERACTIONS,
    read_table,
    table_store,
    write_table,
)

#: The slices scored in Spark; the others need ``evaluate.scoring: driver``.
SPARK_SLICES = ("all", "cold")

#: Users scored per dense block inside ``mapInPandas`` (2048 x 5000 float32 is 40 MB).
SCORE_CHUNK_ROWS = 2048

_METRICS = (("recall", recall_at_k), ("ndcg", ndcg_at_k))


def _column(variant: str, metric: str, k: int) -> str:
    return f"{variant}_{metric}_{k}"


@dataclass
class SparkUtility:
    """The rows of :func:`spark_utility_rows` and the per-user values they come from.

    ``per_user`` has one row per (recommender, seed, evaluated user): ``user_idx``,
    ``activity``, ``cold`` and a column ``<variant>_<metric>_<k>`` per value.
    """

    rows: list[EvalRow]
    per_user: pd.DataFrame
    n_evaluated: int


def evaluated_users(spark: SparkSession, cfg: Config, run_id: str, last_real_user: int):
    """One row per real train user with a new test item: what ``mapInPandas`` scores.

    Columns: ``user_idx``, ``train_items`` (masked, and the real row), ``targets`` (distinct
    test items not in train), ``added_items`` / ``added_weights``: empty unless
    ``evaluate.score_with`` is ``augmented``, then the run's synthetic items of this user,
    which the augmented row adds at their weight.
    """
    lake = table_store(cfg)
    train = read_table(spark, lake, INTERACTIONS["train"]).select(
        "user_idx", F.col("item_idx").alias("train_items")
    )
    test = read_table(spark, lake, INTERACTIONS["test"]).select(
        "user_idx", F.col("item_idx").alias("test_items")
    )
    profile_expansion = cfg.evaluate.score_with == "augmented"
    added = (
        read_table(spark, lake, AUGMENTED_TRAIN)
        .where(
            (F.col("run_id") == run_id)
            & F.col("is_synthetic")
            & (F.col("user_idx") <= last_real_user)
            & F.lit(profile_expansion)
        )
        .groupBy("user_idx")
        .agg(
            F.flatten(F.collect_list("item_idx")).alias("added_items"),
            F.flatten(F.collect_list("weight")).alias("added_weights"),
        )
    )
    empty_int = F.array().cast(T.ArrayType(T.IntegerType()))
    empty_float = F.array().cast(T.ArrayType(T.FloatType()))
    return (
        train.join(test, "user_idx")
        .withColumn("targets", F.array_except(F.array_distinct("test_items"), "train_items"))
        .where(F.size("targets") > 0)
        .join(added, "user_idx", "left")
        .select(
            "user_idx",
            "train_items",
            "targets",
            F.coalesce("added_items", empty_int).alias("added_items"),
            F.coalesce("added_weights", empty_float).alias("added_weights"),
        )
    )


def _scored_schema(cutoffs: list[int]) -> T.StructType:
    """What the scoring function returns per user: values, and the top items per variant."""
    fields = [
        T.StructField("user_idx", T.IntegerType(), False),
        T.StructField("activity", T.IntegerType(), False),
        T.StructField("cold", T.BooleanType(), False),
    ]
    for variant in VARIANTS:
        for metric, _ in _METRICS:
            for k in cutoffs:
                fields.append(T.StructField(_column(variant, metric, k), T.DoubleType(), True))
        fields.append(T.StructField(f"top_{variant}", T.ArrayType(T.IntegerType()), False))
    return T.StructType(fields)


def score_chunk(
    chunk: pd.DataFrame,
    models: dict[str, Recommender],
    n_items: int,
    n_columns: int,
    cutoffs: list[int],
    cold_threshold: float,
) -> pd.DataFrame:
    """Rank one block of users with each variant's model and compute their values at every K.

    The real row holds 1.0 per train item; the augmented row adds the user's synthetic items
    at their weight (the larger value where both exist), as the dense matrices do.
    """
    n = len(chunk)
    exclude = [np.asarray(items, dtype=np.int64) for items in chunk["train_items"]]
    targets = [np.asarray(items, dtype=np.int64) for items in chunk["targets"]]
    lengths = np.array([len(items) for items in exclude], dtype=np.int64)
    real = np.zeros((n, n_columns), dtype=np.float32)
    if lengths.sum():
        real[np.repeat(np.arange(n), lengths), np.concatenate(exclude)] = 1.0
    augmented = real.copy()
    added = [np.asarray(items, dtype=np.int64) for items in chunk["added_items"]]
    added_lengths = np.array([len(items) for items in added], dtype=np.int64)
    if added_lengths.sum():
        rows = np.repeat(np.arange(n), added_lengths)
        weights = np.concatenate([np.asarray(w, np.float32) for w in chunk["added_weights"]])
        np.maximum.at(augmented, (rows, np.concatenate(added)), weights)
    out = {
        "user_idx": chunk["user_idx"].to_numpy().astype(np.int32),
        "activity": lengths.astype(np.int32),
        "cold": lengths <= cold_threshold,
    }
    for variant, rows_of in (("real", real), ("augmented", augmented)):
        scores = models[variant].score(rows_of)[:, :n_items]
        top = top_k_items(scores, max(cutoffs), exclude)
        for metric, function in _METRICS:
            for k in cutoffs:
                out[_column(variant, metric, k)] = function(top[:, :k], targets, k)
        out[f"top_{variant}"] = list(top.astype(np.int32))
    return pd.DataFrame(out)


def scoring_function(
    models: dict[str, Recommender],
    n_items: int,
    n_columns: int,
    cutoffs: list[int],
    cold_threshold: float,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function, ranking :data:`SCORE_CHUNK_ROWS` users at a time.

    The fitted models travel with the function (Spark broadcasts a large pickled function).
    """

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for start in range(0, len(batch), SCORE_CHUNK_ROWS):
                chunk = batch.iloc[start : start + SCORE_CHUNK_ROWS]
                yield score_chunk(chunk, models, n_items, n_columns, cutoffs, cold_threshold)

    return score


def _shippable(model: Recommender) -> Recommender:
    """``model`` without its SparkSession (ALS keeps one to fit), so it can be pickled."""
    if hasattr(model, "spark"):
        model = copy.copy(model)
        model.spark = None
    return model


def _coverage(scored: DataFrame, variant: str, cutoffs: list[int], n_items: int):
    """Catalogue coverage at each K on slices all and cold, aggregated in Spark.

    Each item's best rank over all users (and over cold users) is computed per item, so an
    item is in the top K of some user exactly when that rank is below K.
    """
    best = (
        scored.select("cold", F.posexplode(f"top_{variant}").alias("rank", "item"))
        .groupBy("item")
        .agg(
            F.min("rank").alias("all"),
            F.min(F.when(F.col("cold"), F.col("rank"))).alias("cold"),
        )
        .toPandas()
    )
    return {
        (name, k): float(((best[name] < k) & (best["item"] < n_items)).sum() / n_items)
        for name in SPARK_SLICES
        for k in cutoffs
    }


def _long(scored: DataFrame, run_id: str, name: str, seed: int, cutoffs: list[int]):
    """The per-user values of one recommender and seed as ``eval_user_metrics`` rows."""
    entries = [
        F.struct(
            F.lit(variant).alias("variant"),
            F.lit(k).alias("k"),
            F.lit(metric).alias("metric"),
            F.col(_column(variant, metric, k)).alias("value"),
        )
        for variant in VARIANTS
        for metric, _ in _METRICS
        for k in cutoffs
    ]
    return scored.select(
        F.lit(run_id).alias("run_id"),
        F.lit(name).alias("recommender"),
        F.lit(seed).cast("long").alias("seed"),
        "user_idx",
        "activity",
        "cold",
        F.explode(F.array(*entries)).alias("entry"),
    ).select(
        "run_id",
        "recommender",
        "seed",
        "entry.variant",
        "user_idx",
        "activity",
        "cold",
        "entry.k",
        "entry.metric",
        "entry.value",
    )


def _rows_of(
    name: str,
    seed: int,
    values: pd.DataFrame,
    coverage: dict[str, dict[tuple[str, int], float]],
    cutoffs: list[int],
    samples: int,
) -> list[EvalRow]:
    """``eval_metrics`` rows of one recommender and seed, in the driver path's order."""
    rows: list[EvalRow] = []
    users = {"all": np.ones(len(values), dtype=bool), "cold": values["cold"].to_numpy()}
    for k in cutoffs:
        for slice_name in SPARK_SLICES:
            members = users[slice_name]
            if not members.any():
                continue
            per = {
                variant: {
                    metric: np.where(members, values[_column(variant, metric, k)], np.nan)
                    for metric, _ in _METRICS
                }
                for variant in VARIANTS
            }
            rows += paired_rows(name, seed, k, slice_name, per, samples)
            n = int(members.sum())
            for variant in VARIANTS:
                value = coverage[variant][(slice_name, k)]
                rows.append(
                    EvalRow(name, variant, slice_name, "coverage", k, value, None, None, n, seed)
                )
    return rows


def spark_utility_rows(spark: SparkSession, cfg: Config, run_id: str) -> SparkUtility:
    """Utility rows of ``evaluate.recommenders`` with every evaluated user ranked in Spark.

    Writes ``eval_user_metrics`` for the run; returns the ``eval_metrics`` rows of slices
    ``all`` and ``cold`` (the bottom quartile of train activity, over every train user).
    """
    settings = cfg.evaluate
    data = load_training(spark, cfg, run_id)
    cutoffs = settings.cutoffs()
    cold_threshold = data.cold_threshold()
    users = evaluated_users(spark, cfg, run_id, data.last_real_user).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    kept: list[DataFrame] = []
    rows: list[EvalRow] = []
    per_user: list[pd.DataFrame] = []
    runs = [(name, seed) for name in settings.recommenders for seed in seeds_of(name, settings)]
    try:
        # One Spark fit at a time (ALS's input is large), started while the others score.
        with fit_pool(1) as pool:
            ahead = _fits_ahead(pool, spark, cfg, data)
            for name, seed in runs:
                scored = _score(spark, cfg, data, users, name, seed, cold_threshold, ahead)
                kept.append(scored)
                metric_columns = [c for c in scored.columns if not c.startswith("top_")]
                values = scored.select(*metric_columns).toPandas()
                values = values.sort_values("user_idx", ignore_index=True)
                coverage = {v: _coverage(scored, v, cutoffs, data.n_items) for v in VARIANTS}
                rows += _rows_of(name, seed, values, coverage, cutoffs, settings.bootstrap_samples)
                per_user.append(values.assign(recommender=name, seed=seed))
        if kept:
            table = kept[0]
            long = _long(table, run_id, *_key(per_user[0]), cutoffs)
            for scored, values in zip(kept[1:], per_user[1:], strict=True):
                long = long.unionByName(_long(scored, run_id, *_key(values), cutoffs))
            written = write_table(long, table_store(cfg), EVAL_USER_METRICS, run_id)
            LOG.info("stage=evaluate scoring=spark eval_user_metrics rows=%d", written)
    finally:
        for scored in kept:
            scored.unpersist()
        users.unpersist()
        data.release()
    frame = pd.concat(per_user, ignore_index=True) if per_user else pd.DataFrame()
    n_evaluated = len(per_user[0]) if per_user else 0
    return SparkUtility(rows, frame, n_evaluated)


def _fits_ahead(
    pool: ThreadPoolExecutor, spark: SparkSession, cfg: Config, data: SparkTraining
) -> dict[tuple[str, int, str], Future[Recommender]]:
    """Start every fit of :func:`fitted_ahead`'s recommenders (ALS), by (name, seed, variant)."""
    settings = cfg.evaluate
    names = fitted_ahead(spark, settings.recommenders)
    return {
        (name, seed, variant): pool.submit(fit_in_spark, name, data, variant, cfg, spark, seed)
        for name in settings.recommenders
        if name in names
        for seed in seeds_of(name, settings)
        for variant in VARIANTS
    }


def _key(values: pd.DataFrame) -> tuple[str, int]:
    return str(values["recommender"].iloc[0]), int(values["seed"].iloc[0])


def _score(
    spark: SparkSession,
    cfg: Config,
    data: SparkTraining,
    users: DataFrame,
    name: str,
    seed: int,
    cold_threshold: float,
    ahead: dict[tuple[str, int, str], Future[Recommender]],
) -> DataFrame:
    """Fit ``name`` on both variants' entries and rank every evaluated user in Spark.

    A model already being fitted on a background thread (``ahead``) is taken from there.
    """

    def fitted(variant: str) -> Recommender:
        future = ahead.pop((name, seed, variant), None)
        if future is not None:
            return future.result()
        return fit_in_spark(name, data, variant, cfg, spark, seed)

    models = {variant: _shippable(fitted(variant)) for variant in VARIANTS}
    cutoffs = cfg.evaluate.cutoffs()
    function = scoring_function(models, data.n_items, data.n_columns, cutoffs, cold_threshold)
    scored = users.mapInPandas(function, _scored_schema(cutoffs))
    return scored.persist(StorageLevel.MEMORY_AND_DISK)

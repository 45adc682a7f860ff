"""``samplegen compare RUN_A RUN_B``: what changed between two evaluated runs.

Both runs' ``eval_metrics`` rows are matched on everything that names a figure (recommender,
variant, slice, metric, K, seed); the table shows A, B and B - A. By default only the figures
a person compares first are shown: the paired NDCG differences at the headline K, the CTR
classifiers' paired differences (augmented minus real and minus each baseline) in AUC and log
loss, fidelity and privacy.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from samplegen.evaluate.ctr import BASELINES, diff_variant
from samplegen.evaluate.ctr_metrics import HEADLINE_CTR_METRICS
from samplegen.evaluate.rows import DIFF_VARIANT, FIDELITY, PRIVACY
from samplegen.tables import EVAL_METRICS, Where, read_table

KEY = ["recommender", "variant", "slice", "metric", "k", "seed"]
#: The CTR classifiers' paired differences: augmented minus real and minus each baseline.
CTR_DIFFS = tuple(diff_variant(baseline) for baseline in BASELINES)


def compare_runs(
    spark: SparkSession, tables: Where, run_a: str, run_b: str, k: int | None = None
) -> pd.DataFrame:
    """Rows present in both runs with columns ``KEY + [a, b, b_minus_a]``.

    Args:
        spark: The session.
        tables: Where the tables live (a store, or a lakehouse path).
        run_a: The baseline run.
        run_b: The run compared against it.
        k: Keep only utility rows at this K (fidelity and privacy rows have none), or all.

    Raises:
        ValueError: If either run has no ``eval_metrics`` rows (naming it).
    """
    metrics = read_table(spark, tables, EVAL_METRICS)
    frames = {}
    for run in (run_a, run_b):
        rows = metrics.where(F.col("run_id") == run).select(*KEY, "value").toPandas()
        if rows.empty:
            raise ValueError(
                f"run {run!r} has no eval_metrics rows; run `samplegen evaluate --run-id {run}`"
            )
        frames[run] = rows
    joined = frames[run_a].merge(
        frames[run_b], on=KEY, how="inner", suffixes=("_a", "_b"), validate="one_to_one"
    )
    joined = joined.rename(columns={"value_a": "a", "value_b": "b"})
    joined["b_minus_a"] = joined["b"] - joined["a"]
    if k is not None:
        joined = joined[joined["k"].isna() | (joined["k"] == k)]
    return joined.sort_values(KEY, na_position="first").reset_index(drop=True)


def headline(comparison: pd.DataFrame) -> pd.DataFrame:
    """The rows worth reading first: paired differences, fidelity and privacy.

    Paired differences are NDCG's ``augmented_minus_real`` and, for runs scored by CTR
    classifiers, every ``augmented_minus_<baseline>`` of the
    :data:`~samplegen.evaluate.ctr_metrics.HEADLINE_CTR_METRICS` (not their p-values).
    """
    is_diff = (comparison["variant"] == DIFF_VARIANT) & (comparison["metric"] == "ndcg")
    is_ctr_diff = comparison["variant"].isin(CTR_DIFFS) & comparison["metric"].isin(
        HEADLINE_CTR_METRICS
    )
    is_quality = comparison["recommender"].isin([FIDELITY, PRIVACY])
    return comparison[is_diff | is_ctr_diff | is_quality]


def format_comparison(comparison: pd.DataFrame, run_a: str, run_b: str) -> str:
    """A fixed-width text table of a comparison, for the terminal."""
    if comparison.empty:
        return f"runs {run_a} and {run_b} share no metric rows\n"
    shown = comparison.copy()
    shown["k"] = shown["k"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    shown["seed"] = shown["seed"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    for column, style in (("a", "{:.4f}"), ("b", "{:.4f}"), ("b_minus_a", "{:+.4f}")):
        shown[column] = shown[column].map(style.format)
    shown = shown.rename(columns={"a": run_a, "b": run_b, "b_minus_a": "B - A"})
    return shown.to_string(index=False) + "\n"

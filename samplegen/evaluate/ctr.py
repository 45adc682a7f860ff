"""Stage 4 for runs that write ``synthetic_ctr``: CTR classifiers on real vs augmented rows.

Each classifier of ``evaluate.ctr_models`` is trained three ways (variants): on the real
``samples_ctr`` train rows (``real``), on those plus the run's ``synthetic_ctr`` rows
(``augmented``), and on the real rows with class weights (``class_weight``, the alternative
without synthetic rows). Every variant is tuned on the real valid rows and scored once on the
real test rows: synthetic rows only ever train (:func:`ctr_splits`). Each metric of
:data:`~samplegen.evaluate.ctr_metrics.CTR_METRICS` is computed per slice of the test rows
(``all``, ``cold_users``, ``cold_items``), with 95% CIs from resampling users, and the paired
difference ``augmented_minus_real`` with its CI and p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.classifiers import (
    LABEL,
    SCORE,
    WEIGHT,
    feature_columns,
    make_classifier,
    with_class_weights,
)
from samplegen.evaluate.ctr_metrics import CTR_METRICS, user_bootstrap
from samplegen.evaluate.metrics import bootstrap_p_value
from samplegen.evaluate.rows import DIFF_VARIANT, EvalRow, p_value_metric
from samplegen.evaluate.verdicts import plain, signed
from samplegen.runinfo import LOG
from samplegen.spark import pinned
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR, read_table, table_store

#: The classifier variants, in the order of the rows.
REAL, AUGMENTED, CLASS_WEIGHT = "real", "augmented", "class_weight"
VARIANTS = (REAL, AUGMENTED, CLASS_WEIGHT)

#: Slices of the test rows: every row, the users in the bottom quartile of activity
#: (``user_events``), the items in the bottom half of popularity (``item_users``).
CTR_SLICES = ("all", "cold_users", "cold_items")
COLD_USER_QUANTILE = 0.25
COLD_ITEM_QUANTILE = 0.5

#: Columns of the scored test rows besides the scores.
_TEST_COLUMNS = ("user_idx", "item_idx", LABEL, "user_events", "item_users")


@dataclass
class CtrSplits:
    """The rows each variant trains on, and the real rows every variant is tuned and scored on.

    Attributes:
        real_train: ``samples_ctr`` train rows (feature columns and label).
        augmented_train: ``real_train`` and the run's ``synthetic_ctr`` rows.
        valid: ``samples_ctr`` valid rows only.
        test: ``samples_ctr`` test rows only (with ``user_idx`` for the slices and bootstrap).
        n_synthetic: The run's ``synthetic_ctr`` rows.
    """

    real_train: DataFrame
    augmented_train: DataFrame
    valid: DataFrame
    test: DataFrame
    n_synthetic: int


def ctr_splits(spark: SparkSession, cfg: Config, run_id: str) -> CtrSplits:
    """Read ``samples_ctr`` by split and the run's ``synthetic_ctr`` rows.

    Synthetic rows join the train rows of the ``augmented`` variant and nothing else: valid
    and test are read from ``samples_ctr`` alone.

    Raises:
        ValueError: If the run has no ``synthetic_ctr`` rows, or ``samples_ctr`` has no
            rows of a split.
    """
    categorical, numeric = feature_columns()
    features = [LABEL, *categorical, *numeric]
    samples = read_table(spark, table_store(cfg), SAMPLES_CTR)
    split = {name: samples.where(F.col("split") == name) for name in ("train", "valid", "test")}
    for name, rows in split.items():
        if rows.isEmpty():
            raise ValueError(f"samples_ctr has no {name} rows to train or score a classifier")
    synthetic = (
        read_table(spark, table_store(cfg), SYNTHETIC_CTR)
        .where(F.col("run_id") == run_id)
        .select(*features)
    )
    n_synthetic = synthetic.count()
    if n_synthetic == 0:
        raise ValueError(f"run {run_id!r} has no synthetic_ctr rows to evaluate")
    real_train = split["train"].select(*features)
    return CtrSplits(
        real_train=real_train,
        augmented_train=real_train.unionByName(synthetic),
        valid=split["valid"].select(*features),
        test=split["test"].select(*dict.fromkeys([*_TEST_COLUMNS, *features])),
        n_synthetic=n_synthetic,
    )


def scored_test(spark: SparkSession, cfg: Config, name: str, splits: CtrSplits) -> pd.DataFrame:
    """The test rows (:data:`_TEST_COLUMNS`) with one score column per variant of ``name``."""
    # One fixed numbering of the test rows, so the variants' scores line up row by row.
    test = pinned(splits.test.withColumn("_row", F.monotonically_increasing_id()))
    train = {
        REAL: (splits.real_train, None),
        AUGMENTED: (splits.augmented_train, None),
        CLASS_WEIGHT: (with_class_weights(splits.real_train), WEIGHT),
    }
    out = test.select("_row", *_TEST_COLUMNS).toPandas().set_index("_row")
    for variant, (rows, weight_col) in train.items():
        model = make_classifier(name, cfg.evaluate, spark, cfg.evaluate.seed)
        model.fit(rows, splits.valid, weight_col)
        LOG.info(
            "stage=evaluate ctr %s variant=%s chosen=%s",
            name,
            variant,
            getattr(model, "chosen", ""),
        )
        scores = model.score(test).select("_row", SCORE).toPandas().set_index("_row")
        out[variant] = scores[SCORE].reindex(out.index).to_numpy(dtype=np.float64)
    test.unpersist()
    return out.reset_index(drop=True)


def slice_masks(test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row masks of :data:`CTR_SLICES` over the test rows.

    Thresholds are quantiles over the distinct test users (items): a cold user has
    ``user_events`` at or below the users' lower quartile, a cold item ``item_users`` at or
    below the items' median. Rows with a null count are in no cold slice.
    """
    events = test["user_events"].astype("float64")
    popularity = test["item_users"].astype("float64")
    per_user = events.groupby(test["user_idx"]).first().dropna()
    per_item = popularity.groupby(test["item_idx"]).first().dropna()
    user_cut = per_user.quantile(COLD_USER_QUANTILE, interpolation="lower") if len(per_user) else -1
    item_cut = per_item.quantile(COLD_ITEM_QUANTILE, interpolation="lower") if len(per_item) else -1
    return {
        "all": np.ones(len(test), dtype=bool),
        "cold_users": (events <= user_cut).to_numpy(),
        "cold_items": (popularity <= item_cut).to_numpy(),
    }


def classifier_rows(name: str, test: pd.DataFrame, n_samples: int, seed: int) -> list[EvalRow]:
    """``eval_metrics`` rows of one classifier from its scored test rows.

    Per slice and metric: each variant's value with a 95% CI over resampled users, and
    ``augmented_minus_real`` (the value on the full slice, the CI and p-value from the same
    paired resamples). ``n_users`` is the slice's users; a slice without rows has no rows.
    """
    rows: list[EvalRow] = []
    labels = test[LABEL].to_numpy().astype(np.int64)
    users = test["user_idx"].to_numpy()
    for slice_, mask in slice_masks(test).items():
        if not mask.any():
            continue
        n_users = int(np.unique(users[mask]).size)
        scores = {v: test[v].to_numpy()[mask] for v in VARIANTS}
        for metric, fn in CTR_METRICS.items():
            values = {v: fn(labels[mask], s) for v, s in scores.items()}
            draws = user_bootstrap(fn, labels[mask], scores, users[mask], n_samples, seed)
            for variant in VARIANTS:
                low, high = _interval(draws[variant])
                rows.append(
                    EvalRow(
                        name,
                        variant,
                        slice_,
                        metric,
                        None,
                        values[variant],
                        low,
                        high,
                        n_users,
                        seed,
                    )
                )
            diffs = draws[AUGMENTED] - draws[REAL]
            low, high = _interval(diffs)
            finite = diffs[~np.isnan(diffs)]
            common = dict(k=None, n_users=n_users, seed=seed)
            rows.append(
                EvalRow(
                    name,
                    DIFF_VARIANT,
                    slice_,
                    metric,
                    value=values[AUGMENTED] - values[REAL],
                    ci_low=low,
                    ci_high=high,
                    **common,
                )
            )
            rows.append(
                EvalRow(
                    name,
                    DIFF_VARIANT,
                    slice_,
                    p_value_metric(metric),
                    value=bootstrap_p_value(finite),
                    **common,
                )
            )
    return rows


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """The 95% percentile interval of the finite bootstrap values; ``None`` without any."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return None, None
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(low), float(high)


def ctr_verdict_lines(rows: list[EvalRow], min_users: int) -> list[str]:
    """One line per classifier x slice: augmented minus real AUC with its CI, and the outcome.

    Better (worse) when the CI lies above (below) zero; a slice with fewer than ``min_users``
    users says "too few users" instead.
    """
    lines = []
    for row in rows:
        if row.variant != DIFF_VARIANT or row.metric != "auc":
            continue
        real = next(
            r.value
            for r in rows
            if (r.recommender, r.slice, r.metric, r.variant)
            == (row.recommender, row.slice, "auc", REAL)
        )
        augmented = real + row.value
        head = (
            f"{row.recommender} slice={row.slice} AUC real={plain(real)} "
            f"augmented={plain(augmented)} diff={signed(row.value)}"
        )
        if row.ci_low is None or row.ci_high is None:
            lines.append(f"{head}: no confidence interval (a label is missing from the slice)")
        elif (row.n_users or 0) < min_users:
            lines.append(f"{head}: too few users (n={row.n_users}, evaluate.min_users={min_users})")
        else:
            ci = f"[{signed(row.ci_low)}, {signed(row.ci_high)}]"
            outcome = (
                "augmented is better"
                if row.ci_low > 0
                else "augmented is worse"
                if row.ci_high < 0
                else "no significant difference"
            )
            lines.append(f"{head} {ci}: {outcome}")
    return lines


def ctr_rows(
    spark: SparkSession, cfg: Config, run_id: str
) -> tuple[list[EvalRow], dict[str, object]]:
    """Rows of every classifier of ``evaluate.ctr_models`` and a summary of what was scored.

    Raises:
        ValueError: If ``evaluate.ctr_models`` is empty, or the tables cannot be scored
            (see :func:`ctr_splits`).
    """
    if not cfg.evaluate.ctr_models:
        raise ValueError("evaluate.ctr_models is empty: name a classifier to score the run")
    splits = ctr_splits(spark, cfg, run_id)
    rows: list[EvalRow] = []
    n_test = 0
    for name in cfg.evaluate.ctr_models:
        test = scored_test(spark, cfg, name, splits)
        n_test = len(test)
        rows += classifier_rows(name, test, cfg.evaluate.bootstrap_samples, cfg.evaluate.seed)
    summary: dict[str, object] = {
        "synthetic_ctr rows": splits.n_synthetic,
        "test rows": n_test,
        "classifiers": ", ".join(cfg.evaluate.ctr_models),
        "variants": ", ".join(VARIANTS),
        "slices": ", ".join(CTR_SLICES),
    }
    return rows, summary

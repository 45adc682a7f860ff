"""Stage 4 (evaluate): downstream recommenders trained on real vs augmented data.

Recommenders rank the full item vocabulary for every test user with at least one new test item;
the user's real train items are masked. Real interactions enter the recommenders as 1.0 and
synthetic ones at their stored weight, so a synthetic row counts for less than a real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.metrics import (
    bootstrap_ci,
    catalogue_coverage,
    ndcg_at_k,
    paired_bootstrap_ci,
    recall_at_k,
    top_k_items,
)
from samplegen.evaluate.recommenders import make_recommender
from samplegen.evaluate.report import DIFF_VARIANT, write_report
from samplegen.runinfo import LOG, StageResult, stage_timer
from samplegen.tables import (
    AUGMENTED_TRAIN,
    EVAL_METRICS,
    INTERACTIONS,
    ITEM_INDEX,
    USER_INDEX,
    read_table,
    table_path,
    write_table,
)

RECOMMENDERS = ("popularity", "ease")
VARIANTS = ("real", "augmented")


@dataclass
class EvalData:
    """Driver-side matrices for one run: rows are train users in ``user_idx`` order.

    ``augmented`` is ``real`` plus the synthetic items given to real users; ``new_users``
    holds the rows of synthetic users, which recommenders are trained on but never scored.
    Columns past ``n_items`` (the vocabulary) are ``new_items``' catalogue items: recommenders
    learn from them, but only vocabulary items are ranked, as only they can be test items.
    """

    user_idx: np.ndarray
    real: np.ndarray
    augmented: np.ndarray
    train_items: list[np.ndarray]
    targets: list[np.ndarray]
    cold: np.ndarray
    new_users: np.ndarray
    n_items: int

    def training_matrix(self, variant: str) -> np.ndarray:
        """What a recommender is fitted on for ``variant``: real rows, or augmented + new users."""
        if variant == "real":
            return self.real
        if len(self.new_users) == 0:
            return self.augmented
        return np.vstack([self.augmented, self.new_users])

    @property
    def evaluated(self) -> np.ndarray:
        """Mask of the users with at least one new test item (the ones that are scored)."""
        return np.array([len(t) > 0 for t in self.targets])


def _collect_rows(df: DataFrame) -> pd.DataFrame:
    return df.select("user_idx", "item_idx", "weight").toPandas()


def _fill(matrix: np.ndarray, rows: pd.DataFrame, position: dict[int, int], value: str) -> None:
    for user, items, weights in zip(
        rows["user_idx"], rows["item_idx"], rows["weight"], strict=True
    ):
        row = position.get(int(user))
        if row is None:
            continue
        items = np.asarray(items, dtype=np.int64)
        new = 1.0 if value == "one" else np.asarray(weights, dtype=np.float32)
        matrix[row, items] = np.maximum(matrix[row, items], new)


def load_eval_data(spark: SparkSession, cfg: Config, run_id: str) -> EvalData:
    """Collect train, test and this run's augmented rows into dense matrices."""
    lake = cfg.lakehouse
    n_items = read_table(spark, lake, ITEM_INDEX).count()
    train = _collect_rows(read_table(spark, lake, INTERACTIONS["train"])).sort_values("user_idx")
    test = _collect_rows(read_table(spark, lake, INTERACTIONS["test"]))
    synthetic = _collect_rows(
        read_table(spark, lake, AUGMENTED_TRAIN).where(
            (F.col("run_id") == run_id) & F.col("is_synthetic")
        )
    )
    user_idx = train["user_idx"].to_numpy()
    position = {int(u): i for i, u in enumerate(user_idx)}
    # new_items rows hold items past the vocabulary: fitted on, never ranked (see EvalData).
    n_columns = max([n_items, *(int(np.max(i)) + 1 for i in synthetic["item_idx"] if len(i))])
    real = np.zeros((len(user_idx), n_columns), dtype=np.float32)
    _fill(real, train, position, "one")
    # New users (synthetic_users, interpolate, baselines) are numbered after every real user.
    last_real_user = read_table(spark, lake, USER_INDEX).agg(F.max("user_idx")).first()[0]
    is_new = synthetic["user_idx"] > last_real_user
    augmented_matrix = real.copy()
    _fill(augmented_matrix, synthetic[~is_new], position, "weight")
    new_rows = synthetic[is_new]
    new_position = {int(u): i for i, u in enumerate(np.unique(new_rows["user_idx"]))}
    new_users = np.zeros((len(new_position), n_columns), dtype=np.float32)
    _fill(new_users, new_rows, new_position, "weight")
    train_items = [np.asarray(items, dtype=np.int64) for items in train["item_idx"]]
    targets = [np.array([], dtype=np.int64)] * len(user_idx)
    for user, items in zip(test["user_idx"], test["item_idx"], strict=True):
        row = position.get(int(user))
        if row is not None:
            targets[row] = np.setdiff1d(np.asarray(items, dtype=np.int64), train_items[row])
    activity = train["item_idx"].map(len).to_numpy()
    cold = activity <= np.quantile(activity, 0.25)
    return EvalData(
        user_idx, real, augmented_matrix, train_items, targets, cold, new_users, n_items
    )


def _metric_rows(
    data: EvalData, recommender: str, cfg: Config, slices: dict[str, np.ndarray]
) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Per-variant rows (mean and bootstrap CI) and the per-user values for pairing."""
    k = cfg.evaluate.k
    evaluated = data.evaluated
    rows_evaluated = np.flatnonzero(evaluated)
    exclude = [data.train_items[i] for i in rows_evaluated]
    targets = [data.targets[i] for i in rows_evaluated]
    rows: list[dict] = []
    per_user: dict[str, dict[str, np.ndarray]] = {}
    for variant in VARIANTS:
        matrix = data.real if variant == "real" else data.augmented
        params = {"l2": cfg.evaluate.ease_lambda} if recommender == "ease" else {}
        model = make_recommender(recommender, **params).fit(data.training_matrix(variant))
        scores = model.score(matrix[evaluated])[:, : data.n_items]
        top = top_k_items(scores, k, exclude)
        values = {"recall": recall_at_k(top, targets, k), "ndcg": ndcg_at_k(top, targets, k)}
        per_user[variant] = values
        for slice_name, mask in slices.items():
            for metric, per in values.items():
                low, high = bootstrap_ci(
                    per[mask], cfg.evaluate.bootstrap_samples, cfg.evaluate.seed
                )
                rows.append(
                    _row(
                        recommender,
                        variant,
                        slice_name,
                        metric,
                        k,
                        float(np.nanmean(per[mask])),
                        low,
                        high,
                        int(mask.sum()),
                    )
                )
            coverage = catalogue_coverage(top[mask], data.n_items)
            rows.append(
                _row(
                    recommender,
                    variant,
                    slice_name,
                    "coverage",
                    k,
                    coverage,
                    None,
                    None,
                    int(mask.sum()),
                )
            )
    return rows, per_user


def _slices(data: EvalData) -> dict[str, np.ndarray]:
    """Boolean masks over the evaluated users: everyone, and the bottom activity quartile."""
    cold = data.cold[data.evaluated]
    return {"all": np.ones_like(cold), "cold": cold}


def _row(
    recommender: str,
    variant: str,
    slice_name: str,
    metric: str,
    k: int,
    value: float,
    low: float | None,
    high: float | None,
    n_users: int,
) -> dict[str, object]:
    """One ``eval_metrics`` row (without the run-level columns)."""
    return {
        "recommender": recommender,
        "variant": variant,
        "slice": slice_name,
        "metric": metric,
        "k": k,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "n_users": n_users,
    }


def compute_metrics(data: EvalData, cfg: Config) -> pd.DataFrame:
    """All metric rows: each variant, and the paired augmented - real difference."""
    rows: list[dict] = []
    slices = _slices(data)
    for recommender in RECOMMENDERS:
        variant_rows, per_user = _metric_rows(data, recommender, cfg, slices)
        rows += variant_rows
        for slice_name, mask in slices.items():
            for metric in ("recall", "ndcg"):
                diff, low, high = paired_bootstrap_ci(
                    per_user["real"][metric][mask],
                    per_user["augmented"][metric][mask],
                    cfg.evaluate.bootstrap_samples,
                    cfg.evaluate.seed,
                )
                rows.append(
                    _row(
                        recommender,
                        DIFF_VARIANT,
                        slice_name,
                        metric,
                        cfg.evaluate.k,
                        diff,
                        low,
                        high,
                        int(mask.sum()),
                    )
                )
    return pd.DataFrame(rows)


def verdict_lines(metrics: pd.DataFrame) -> list[str]:
    """One plain line per recommender x slice: NDCG of each variant, the difference, a verdict."""
    ndcg = metrics[metrics["metric"] == "ndcg"].set_index(["recommender", "slice", "variant"])
    lines = []
    for (recommender, slice_name, variant), row in ndcg.iterrows():
        if variant != DIFF_VARIANT:
            continue
        if row.ci_low > 0:
            word = "augmented is better"
        elif row.ci_high < 0:
            word = "augmented is worse"
        else:
            word = "no significant difference"
        real = ndcg.loc[(recommender, slice_name, "real"), "value"]
        aug = ndcg.loc[(recommender, slice_name, "augmented"), "value"]
        lines.append(
            f"{recommender} slice={slice_name} NDCG@{row.k} real={real:.4f} augmented={aug:.4f} "
            f"diff={row.value:+.4f} [{row.ci_low:+.4f}, {row.ci_high:+.4f}]: {word}"
        )
    return lines


def run_evaluate(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Score real-only vs augmented training data; write ``eval_metrics`` and the report.

    Raises:
        ValueError: when the run has no ``augmented_train`` rows (never generated, or
            ``label_balance``, which writes ``synthetic_ctr`` and is not scored here).
    """
    result = StageResult(stage="evaluate", run_id=run_id)
    augmented_rows = (
        read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN).where(F.col("run_id") == run_id).limit(1)
    )
    if augmented_rows.count() == 0:
        raise ValueError(
            f"run {run_id!r} has no augmented_train rows to evaluate: run `samplegen generate` "
            "with an interaction strategy first (label_balance writes synthetic_ctr, which "
            "evaluate does not score yet)"
        )
    with stage_timer(result):
        data = load_eval_data(spark, cfg, run_id)
        metrics = compute_metrics(data, cfg)
        table_rows = metrics.assign(
            run_id=run_id, dataset=cfg.data.source, seed=cfg.evaluate.seed
        ).astype({"ci_low": "float64", "ci_high": "float64"})
        frame = spark.createDataFrame(table_rows[[f.name for f in EVAL_METRICS.schema.fields]])
        result.rows["eval_metrics"] = write_table(frame, cfg.lakehouse, EVAL_METRICS, run_id)
        result.rows["evaluated_users"] = int(data.evaluated.sum())
        verdicts = verdict_lines(metrics)
        for line in verdicts:
            LOG.info("stage=evaluate verdict %s", line)
        summary = {
            "evaluated users": result.rows["evaluated_users"],
            "train users": len(data.user_idx),
            "items": data.n_items,
            "eval_metrics table": table_path(cfg.lakehouse, EVAL_METRICS),
        }
        report = write_report(Path(cfg.reports_root) / run_id, run_id, metrics, summary)
        result.outputs = {
            "report": str(report),
            "eval_metrics": table_path(cfg.lakehouse, EVAL_METRICS),
        }
        result.metrics = {
            "verdict": verdicts,
            "headline": {
                f"{r.recommender}/{r.variant}/{r.slice}/{r.metric}@{r.k}": r.value
                for r in metrics.itertuples()
                if r.metric in ("recall", "ndcg")
            },
        }
    return result

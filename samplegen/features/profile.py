"""``data_profile``: the sparsity and imbalance figures that decide generation targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.tables import DATA_PROFILE


@dataclass
class Profile:
    """Named figures, written as (metric, value) rows."""

    figures: dict[str, float]

    def to_spark(self, spark: SparkSession) -> DataFrame:
        """The profile as a ``data_profile`` DataFrame."""
        rows = [(name, float(value)) for name, value in self.figures.items()]
        return spark.createDataFrame(rows, schema=DATA_PROFILE.schema)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = all equal, towards 1 = concentrated)."""
    values = np.sort(np.asarray(counts, dtype=np.float64))
    n = len(values)
    if n == 0 or values.sum() == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * ranks - n - 1).dot(values) / (n * values.sum()))


def head_share(counts: np.ndarray, head_fraction: float = 0.2) -> float:
    """Share of all interactions that fall on the most popular ``head_fraction`` of items."""
    values = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    if values.sum() == 0:
        return 0.0
    head = max(1, int(round(len(values) * head_fraction)))
    return float(values[:head].sum() / values.sum())


def label_rates(samples: DataFrame) -> dict[str, float]:
    """Label rates of ``samples_ctr`` per split.

    ``purchase_rate_<split>``: share of real (user, item) pairs that were purchased;
    ``ctr_label_rate_<split>``: share of label-1 rows once sampled negatives are added.
    """
    real = F.col("source") == "interaction"
    per_split = samples.groupBy("split").agg(
        F.avg(F.when(real, F.col("label"))).alias("purchase_rate"),
        F.avg("label").alias("ctr_label_rate"),
    )
    figures: dict[str, float] = {}
    for row in per_split.collect():
        for name in ("purchase_rate", "ctr_label_rate"):
            if row[name] is not None:
                figures[f"{name}_{row.split}"] = float(row[name])
    return figures


def data_profile(
    spark: SparkSession,
    train: DataFrame,
    items: DataFrame,
    rows: dict[str, int],
    samples: DataFrame | None = None,
) -> Profile:
    """Figures over the train split plus the stage's row counts.

    With ``samples`` (the ``samples_ctr`` table) the profile also carries its label rates.
    """
    per_user = np.array([r[0] for r in train.select("n_items").collect()], dtype=np.float64)
    item_users = np.array([r[0] for r in items.select("n_users").collect()], dtype=np.float64)
    n_users, n_items = len(per_user), len(item_users)
    n_interactions = float(per_user.sum())
    figures: dict[str, float] = {
        "users": n_users,
        "items": n_items,
        "interactions_train": n_interactions,
        "density": n_interactions / (n_users * n_items) if n_users and n_items else 0.0,
        "item_popularity_gini": gini(item_users),
        "item_head20_share": head_share(item_users),
        "quarantined_share": rows["events_quarantine"] / max(rows["raw_events"], 1),
    }
    if n_users:
        for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
            figures[f"items_per_user_p{int(q * 100)}"] = float(np.quantile(per_user, q))
        figures["items_per_user_max"] = float(per_user.max())
    if samples is not None:
        figures.update(label_rates(samples))
    return Profile(figures)

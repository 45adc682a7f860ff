"""``data_profile``: the sparsity and imbalance figures that decide generation targets."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
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


def category_shares(train: DataFrame, items: DataFrame, top: int = 10) -> dict[str, float]:
    """Share of train interactions per category: the ``top`` largest, the rest as ``(other)``.

    Items without a category count as ``(none)``.
    """
    counts = (
        train.select(F.explode("item_idx").alias("item_idx"))
        .join(F.broadcast(items.select("item_idx", "category")), "item_idx")
        .groupBy(F.coalesce("category", F.lit("(none)")).alias("category"))
        .count()
        .collect()
    )
    total = sum(r["count"] for r in counts) or 1
    ranked = sorted(counts, key=lambda r: (-r["count"], r["category"]))
    shares = {f"category_share/{r['category']}": r["count"] / total for r in ranked[:top]}
    if len(ranked) > top:
        shares["category_share/(other)"] = sum(r["count"] for r in ranked[top:]) / total
    return shares


def quarantine_reasons(quarantine: DataFrame) -> dict[str, float]:
    """Number of quarantined events per reason."""
    rows = quarantine.groupBy("reason").count().collect()
    return {f"quarantined/{r['reason']}": float(r["count"]) for r in rows}


def split_figures(
    train: DataFrame,
    test: DataFrame,
    split: str,
    temporal_share: float | None = None,
    train_until: object | None = None,
) -> dict[str, float]:
    """How many active users the split lets stage 4 evaluate, and which split it was.

    ``test_user_share``: share of the active users (those with train rows) that have test
    rows, i.e. targets to be scored on; ``split_leave_last``: 1 for the leave-last split, 0
    for the temporal one; ``temporal_test_user_share``: the estimate ``aggregate.split=auto``
    chose on, when it ran (see :func:`~samplegen.features.interactions.temporal_test_share`);
    ``train_cut_seconds``: the temporal split's train cut ``train_until`` in UTC seconds,
    which ``new_items`` reads to draw only items unseen before it. A leave-last split gets
    none: other users' test events precede its last train event, so such a cut would let the
    test period choose the candidates.
    """
    n_active = train.select("user_idx").distinct().count()
    n_test = test.select("user_idx").distinct().count()
    figures = {
        "test_user_share": n_test / n_active if n_active else 0.0,
        "split_leave_last": 1.0 if split == "leave_last" else 0.0,
    }
    if temporal_share is not None:
        figures["temporal_test_user_share"] = temporal_share
    if split == "temporal" and train_until is not None:
        figures["train_cut_seconds"] = pd.Timestamp(train_until).timestamp()
    return figures


def split_warning(figures: dict[str, float], min_test_share: float) -> str | None:
    """A warning when the temporal split left under ``min_test_share`` of active users in test.

    Verdicts need users: a slice with fewer than ``evaluate.min_users`` of them gets none, so
    the warning suggests the leave-last split, which holds out every active user's last items.
    ``None`` when there is nothing to warn about (or the profile predates these figures).
    """
    share = figures.get("test_user_share")
    if share is None or figures.get("split_leave_last", 0.0) or share >= min_test_share:
        return None
    return (
        f"warning: the temporal split leaves test items to only {share:.1%} of the active "
        f"users (under aggregate.auto_min_test_share={min_test_share:.0%}), so few users can "
        "be evaluated; set aggregate.split=leave_last (or auto) and run aggregate again"
    )


def data_profile(
    spark: SparkSession,
    train: DataFrame,
    items: DataFrame,
    rows: dict[str, int],
    samples: DataFrame | None = None,
    quarantine: DataFrame | None = None,
) -> Profile:
    """Figures over the train split plus the stage's row counts.

    With ``samples`` (the ``samples_ctr`` table) the profile also carries its label rates, and
    with ``quarantine`` (``events_quarantine``) the count per reason. ``run_aggregate`` adds
    the :func:`split_figures`.
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
        "items_without_train_users": float((item_users == 0).sum()),
        "quarantined_share": rows["events_quarantine"] / max(rows["raw_events"], 1),
    }
    if n_users:
        for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
            figures[f"items_per_user_p{int(q * 100)}"] = float(np.quantile(per_user, q))
        figures["items_per_user_max"] = float(per_user.max())
    figures.update(category_shares(train, items))
    if samples is not None:
        figures.update(label_rates(samples))
    if quarantine is not None:
        figures.update(quarantine_reasons(quarantine))
    return Profile(figures)


_SECTIONS = (
    ("Size", ("users", "items", "interactions_train", "density", "items_without_train_users")),
    (
        "Split",
        ("split_leave_last", "test_user_share", "temporal_test_user_share", "train_cut_seconds"),
    ),
    ("Items per user (train)", ("items_per_user_",)),
    ("Item popularity", ("item_popularity_gini", "item_head20_share")),
    ("Categories (share of train interactions)", ("category_share/",)),
    ("Labels", ("purchase_rate_", "ctr_label_rate_")),
    ("Input quality", ("quarantined_share", "quarantined/")),
)


def _format_value(name: str, value: float) -> str:
    if name == "density":
        return f"{value:.3%}"
    if "share" in name or "rate" in name:
        return f"{value:.1%}"
    if name == "item_popularity_gini":
        return f"{value:.3f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _sorted_group(figures: dict[str, float], prefix: str) -> list[str]:
    """Names matching ``prefix``: exact, or ``a_``/``a/`` groups (``/`` groups largest first)."""
    if prefix[-1] not in "_/":
        return [prefix] if prefix in figures else []
    names = [n for n in figures if n.startswith(prefix)]
    if prefix.endswith("/"):
        return sorted(names, key=lambda n: (-figures[n], n))
    digits = re.compile(r"(\d+)")
    return sorted(names, key=lambda n: [int(p) if p.isdigit() else p for p in digits.split(n)])


def format_profile(figures: dict[str, float], min_test_share: float | None = None) -> str:
    """The profile as a readable text summary, grouped in sections.

    Sections list figures whose name equals or starts with one of their prefixes; any figure
    no section claims is listed at the end, so nothing is hidden. With ``min_test_share``
    (``aggregate.auto_min_test_share``) the :func:`split_warning`, if any, ends the summary.
    """
    lines: list[str] = []
    shown: set[str] = set()
    for title, prefixes in _SECTIONS:
        names = [n for p in prefixes for n in _sorted_group(figures, p) if n not in shown]
        if not names:
            continue
        lines.append(title)
        for name in names:
            label = name.split("/", 1)[1] if "/" in name else name
            lines.append(f"  {label:<32} {_format_value(name, figures[name]):>14}")
        shown.update(names)
    rest = [n for n in figures if n not in shown]
    if rest:
        lines.append("Other")
        lines.extend(f"  {n:<32} {_format_value(n, figures[n]):>14}" for n in rest)
    warning = None if min_test_share is None else split_warning(figures, min_test_share)
    if warning:
        lines.append(warning)
    return "\n".join(lines) + "\n"

"""Downstream click/purchase classifiers: trained on ``samples_ctr`` rows, real or augmented.

Each classifier lives in its own module of this package, registered in
:data:`samplegen.registry.RECOMMENDERS` with ``kind="classifier"``; the module defines one
factory, ``make(cfg: EvaluateConfig, spark: SparkSession, seed: int) -> Classifier``. A
classifier tunes itself on the valid rows it is given (real rows only) and then scores rows
(the real test rows, once). The features are the columns ``synthetic_ctr`` shares with
``samples_ctr`` (:func:`feature_columns`), so synthetic rows, which carry no ids, train it
like real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.evaluate.ctr_metrics import roc_auc
from samplegen.registry import recommender
from samplegen.runinfo import LOG
from samplegen.spark import pinned
from samplegen.tables import SYNTHETIC_CTR

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig

#: Column of the label (0/1) and of the score (the predicted probability of label 1).
LABEL = "label"
SCORE = "score"
#: Column of the per-row weight of the class-weight baseline.
WEIGHT = "class_weight"

#: Text columns that are not features (a search query is not modelled yet).
_NOT_FEATURES = ("query",)


def feature_columns() -> tuple[list[str], list[str]]:
    """``(categorical, numeric)`` feature columns: those after ``label`` in ``synthetic_ctr``.

    Strings are categorical, the rest numeric; the table schema is their one home.
    """
    fields = SYNTHETIC_CTR.schema.fields
    after_label = fields[[f.name for f in fields].index(LABEL) + 1 :]
    features = [f for f in after_label if f.name not in _NOT_FEATURES]
    categorical = [f.name for f in features if isinstance(f.dataType, T.StringType)]
    numeric = [f.name for f in features if not isinstance(f.dataType, T.StringType)]
    return categorical, numeric


def usable_features(
    train: DataFrame, non_null: Mapping[str, int] | None = None
) -> tuple[list[str], list[str]]:
    """The feature columns a classifier can learn from ``train``.

    A column missing from the table is an error naming it; a column that is null on every
    train row is skipped with a warning (an imputer has nothing to learn from it).
    ``non_null`` (the non-null values per column) spares a Spark job where the caller has
    counted them already (a classifier that collected its rows).

    Raises:
        ValueError: If a feature column is missing, or no usable column is left.
    """
    categorical, numeric = feature_columns()
    missing = [c for c in categorical + numeric if c not in train.columns]
    if missing:
        raise ValueError(f"samples_ctr lacks the feature column(s) {', '.join(missing)}")
    if non_null is None:
        first = train.select([F.count(F.col(c)).alias(c) for c in categorical + numeric]).first()
        non_null = {c: int(first[c]) for c in categorical + numeric}
    empty = [c for c in categorical + numeric if non_null[c] == 0]
    if empty:
        LOG.warning("stage=evaluate ctr: skipping all-null feature column(s) %s", ", ".join(empty))
    categorical = [c for c in categorical if c not in empty]
    numeric = [c for c in numeric if c not in empty]
    if not categorical + numeric:
        raise ValueError("samples_ctr has no feature column with values to learn from")
    return categorical, numeric


def check_labels(train: DataFrame, what: str = "the CTR train rows") -> tuple[int, int]:
    """``(negatives, positives)`` of ``train``; a single label is an error naming ``what``."""
    counts = {r[LABEL]: r["n"] for r in train.groupBy(LABEL).agg(F.count("*").alias("n")).collect()}
    negatives, positives = int(counts.get(0, 0)), int(counts.get(1, 0))
    require_both_labels(negatives, positives, what)
    return negatives, positives


def require_both_labels(negatives: int, positives: int, what: str = "the CTR train rows") -> None:
    """A single label (no negatives or no positives) is an error naming ``what``."""
    if negatives == 0 or positives == 0:
        raise ValueError(
            f"{what} have a single label ({negatives} negatives, {positives} "
            "positives); a classifier needs both"
        )


def with_class_weights(train: DataFrame) -> DataFrame:
    """``train`` with :data:`WEIGHT` = ``n / (2 n_label)``, so both labels weigh the same in all.

    The no-synthetic alternative to rebalancing: the classifier sees the real rows only,
    each minority row counting as much as several majority rows.
    """
    negatives, positives = check_labels(train)
    total = negatives + positives
    return train.withColumn(
        WEIGHT,
        F.when(F.col(LABEL) == 1, F.lit(total / (2.0 * positives))).otherwise(
            F.lit(total / (2.0 * negatives))
        ),
    )


def oversampled(train: DataFrame, extra: dict[int, int], seed: int) -> DataFrame:
    """``train`` plus ``extra[label]`` of its own rows of each label drawn again.

    Random oversampling, the non-generative control of a strategy that adds rows: the same
    number of rows of each label as the strategy's synthetic rows, but copies of real train
    rows (for ``label_balance``, the minority label). Whole copies of the label's rows first,
    then a seeded random remainder; the result is pinned, so every fit reads the same rows.

    Raises:
        ValueError: If ``train`` has no row of a label that rows are asked for.
    """
    parts = [train]
    for label, n in sorted(extra.items()):
        if n <= 0:
            continue
        pool = train.where(F.col(LABEL) == label)
        available = pool.count()
        if available == 0:
            raise ValueError(f"random_oversampling: the CTR train rows have no label={label} row")
        copies, rest = divmod(n, available)
        if copies:
            times = train.sparkSession.range(copies).withColumnRenamed("id", "_copy")
            parts.append(pool.crossJoin(times).drop("_copy"))
        if rest:
            drawn = pool.withColumn("_u", F.rand(seed + label)).orderBy("_u").limit(rest)
            parts.append(drawn.drop("_u"))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return pinned(out)


P = TypeVar("P")
M = TypeVar("M")


def tune(
    name: str,
    grid: Sequence[P],
    fit_one: Callable[[P], M],
    scored_valid: Callable[[M], DataFrame | pd.DataFrame],
    label: Callable[[P], str] = str,
) -> tuple[P, M, dict[P, float]]:
    """Fit one model per ``grid`` value; keep the one of the highest valid AUC.

    ``scored_valid`` returns the real valid rows with :data:`LABEL` and :data:`SCORE` (a
    Spark frame, or a pandas one from a classifier that scores on the driver). Ties
    keep the earlier grid value, so a grid listed from simplest to richest prefers the simpler
    model. ``label`` names a value in the log. Returns the chosen value, its model and the
    valid AUC of every value.
    """
    best: tuple[float, P, M] | None = None
    aucs: dict[P, float] = {}
    for value in grid:
        model = fit_one(value)
        valid = scored_valid(model)
        if not isinstance(valid, pd.DataFrame):
            valid = valid.select(LABEL, SCORE).toPandas()
        auc = roc_auc(valid[LABEL].astype(int), valid[SCORE])
        aucs[value] = auc
        LOG.info("stage=evaluate ctr %s %s valid_auc=%.4f", name, label(value), auc)
        if best is None or auc > best[0]:
            best = (auc, value, model)
    if best is None:
        raise ValueError(f"{name}: an empty grid of hyperparameters")
    return best[1], best[2], aucs


class Classifier(Protocol):
    """What stage 4 needs from a CTR classifier.

    After :meth:`fit`, ``tuned`` holds the chosen hyperparameters and ``valid_auc`` the
    valid AUC of each grid point tried (keyed by a ``name=value`` label).
    """

    tuned: dict[str, float]
    valid_auc: dict[str, float]

    def fit(self, train: DataFrame, valid: DataFrame, weight_col: str | None = None) -> Self:
        """Learn from ``train`` (optionally weighted), tuning on the real ``valid`` rows."""
        ...

    def score(self, rows: DataFrame) -> DataFrame:
        """``rows`` with a :data:`SCORE` column, the probability of label 1."""
        ...


def make_classifier(
    name: str, cfg: EvaluateConfig, spark: SparkSession | None, seed: int
) -> Classifier:
    """Build the registered classifier ``name`` with the run's settings and ``seed``.

    Raises:
        ValueError: If ``name`` is not a registered classifier; the message lists them.
    """
    spec = recommender(name)
    if spec.kind != "classifier":
        raise ValueError(f"{name!r} is a {spec.kind}, not a CTR classifier")
    return spec.load().make(cfg, spark, seed)

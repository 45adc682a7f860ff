"""One metric row of stage 4 and the names its columns take: the home of the row vocabulary.

Every part of stage 4 (fidelity, privacy, utility, the dose sweep, item fidelity) writes
:class:`EvalRow` values; :func:`frame` turns them into the metrics frame the report, the
verdicts and the ``eval_metrics`` table read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The variant holding paired differences (augmented - real); it decides the verdicts.
DIFF_VARIANT = "augmented_minus_real"

#: Suffix of the metric of the rows holding each paired difference's two-sided bootstrap
#: p-value (variant :data:`DIFF_VARIANT`, e.g. ``ndcg_p_value``); see :func:`p_value_metric`.
P_VALUE_SUFFIX = "_p_value"

#: Variants of a dose sweep are ``dose=<ratio>``.
DOSE_PREFIX = "dose="

#: Metric of the dose rows holding the synthetic-to-real interaction ratio of each dose.
DOSE_RATIO_METRIC = "synthetic_to_real"

#: Slices of the top categories are ``category:<name>`` (recommenders: the categories with the
#: most test interactions; CTR classifiers: with the most test rows).
CATEGORY_PREFIX = "category:"

#: Slices of the item-cold protocol (:mod:`samplegen.evaluate.item_cold`): new-item targets
#: only, every target with new items ranked too, and the valid period's new-item targets (on
#: which the compared models are chosen). They stay out of the warm verdicts.
ITEMS_NEW = "items_new"
ALL_WITH_NEW = "all_with_new"
ITEMS_NEW_VALID = "items_new_valid"
ITEM_COLD_SLICES = (ITEMS_NEW, ALL_WITH_NEW, ITEMS_NEW_VALID)

#: Pseudo-recommenders of the data-quality rows.
FIDELITY = "fidelity"
PRIVACY = "privacy"
#: Rows of a catalogue run: its synthetic items against the real catalogue.
ITEM_FIDELITY = "item_fidelity"

#: Columns of ``eval_metrics`` that every row of a run shares, added when the table is written.
RUN_COLUMNS = ("run_id", "dataset")


@dataclass(frozen=True)
class EvalRow:
    """One ``eval_metrics`` row without the run-level columns (:data:`RUN_COLUMNS`).

    Attributes:
        recommender: The downstream recommender, or a pseudo-recommender of the data-quality
            rows (:data:`FIDELITY`, :data:`PRIVACY`, :data:`ITEM_FIDELITY`).
        variant: ``real``, ``augmented``, :data:`DIFF_VARIANT`, a dose (``dose=<ratio>``) or,
            for quality rows, the strategy.
        slice: The users or items the value is computed on (``all``, ``cold``, ...).
        metric: ``recall``, ``ndcg``, ``coverage``, a fidelity or privacy figure, ...
        k: The cutoff of a ranking metric; ``None`` for the others.
        value: The figure.
        ci_low: Lower bound of its 95% bootstrap CI, if it has one.
        ci_high: Upper bound of that CI.
        n_users: Users the value is computed on, where that means something.
        seed: The seed of the recommender (or of the sampling), where there is one.
    """

    recommender: str
    variant: str
    slice: str
    metric: str
    k: int | None
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n_users: int | None = None
    seed: int | None = None


#: Columns of the metrics frame, in order (``eval_metrics`` less :data:`RUN_COLUMNS`).
METRIC_COLUMNS = tuple(f.name for f in dataclasses.fields(EvalRow))


def frame(rows: Sequence[EvalRow]) -> pd.DataFrame:
    """Rows as a frame with the :data:`METRIC_COLUMNS` in order."""
    return pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=list(METRIC_COLUMNS))


def rows_of(metrics: pd.DataFrame) -> list[EvalRow]:
    """The rows of a metrics frame (:func:`frame`'s inverse).

    A missing ``value`` is NaN, any other missing value ``None``; ``k``, ``n_users`` and
    ``seed`` become integers, as :class:`EvalRow` types them.
    """
    integer = {"k", "n_users", "seed"}

    def cell(name: str, value: object) -> object:
        if name == "value":
            return float("nan") if is_missing(value) else value
        if is_missing(value):
            return None
        return int(value) if name in integer else value  # type: ignore[call-overload]

    return [
        EvalRow(*(cell(n, v) for n, v in zip(METRIC_COLUMNS, record, strict=True)))
        for record in metrics[list(METRIC_COLUMNS)].itertuples(index=False)
    ]


def numeric(series: pd.Series) -> pd.Series:
    """A column as floats; text and ``None`` become NaN."""
    return pd.to_numeric(series, errors="coerce").astype(np.float64)


def is_missing(value: object) -> bool:
    """Whether ``value`` is ``None`` or a float NaN (pandas' missing markers)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def p_value_metric(metric: str) -> str:
    """The metric name of the p-value rows of ``metric``'s paired differences."""
    return f"{metric}{P_VALUE_SUFFIX}"


def ndcg_at(metrics: pd.DataFrame, k: int) -> pd.DataFrame:
    """The NDCG rows at cutoff ``k``."""
    return metrics[(metrics["metric"] == "ndcg") & (numeric(metrics["k"]) == k)]

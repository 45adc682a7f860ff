"""The dose sweep of the CTR classifiers: real train rows plus a share of the run's synthetic rows.

As for interaction runs (:func:`samplegen.evaluate.utility.dose_rows`, where a dose is a
share of the run's synthetic users), a dose ``r`` of ``evaluate.dose_ratios`` keeps the share
``r`` of the run's ``synthetic_ctr`` rows: ``max(1, round(r * n_synthetic))`` of them, the
first in an order seeded by ``evaluate.seed``, so a smaller dose's rows are part of every
larger one's. Each classifier of ``evaluate.ctr_models`` trains on the real train rows and
those rows (variant ``dose=<r>``), tuned on the real valid rows and scored once on the real
test rows like every other variant; a dose that keeps every synthetic row is the
``augmented`` variant and is not trained again. The rows (:data:`DOSE_RATIO_METRIC`) record
the synthetic : real train row ratio each dose gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.evaluate.rows import DOSE_PREFIX
from samplegen.spark import pinned

#: The column of ``synthetic_ctr`` that numbers a run's rows (the seeded order hashes it).
ROW = "row"


@dataclass(frozen=True)
class Dose:
    """One dose of the sweep.

    Attributes:
        variant: ``dose=<ratio>``, the variant of its rows.
        ratio: The share of the run's synthetic rows kept.
        n_rows: Synthetic rows kept.
        synthetic_to_real: ``n_rows`` / real train rows.
        scores: The variant whose test scores it reads: ``variant`` itself, or ``augmented``
            when the dose keeps every synthetic row.
    """

    variant: str
    ratio: float
    n_rows: int
    synthetic_to_real: float
    scores: str


def dose_variant(ratio: float) -> str:
    """The variant of dose ``ratio`` (``dose=0.25``, ``dose=1``), named as interaction runs do."""
    return f"{DOSE_PREFIX}{ratio:g}"


def doses(ratios: list[float], n_synthetic: int, n_real: int, full: str) -> list[Dose]:
    """The doses of ``ratios`` (ascending, each once) for a run of ``n_synthetic`` rows.

    Args:
        ratios: Shares of the synthetic rows (``evaluate.dose_ratios``, each in (0, 1]).
        n_synthetic: The run's synthetic rows.
        n_real: Real train rows (the denominator of ``synthetic_to_real``).
        full: The variant that holds every synthetic row (``augmented``).
    """
    found = []
    for ratio in sorted(set(ratios)):
        n_rows = max(1, round(ratio * n_synthetic))
        variant = dose_variant(ratio)
        scores = full if n_rows >= n_synthetic else variant
        found.append(Dose(variant, ratio, n_rows, n_rows / n_real, scores))
    return found


def dose_sample(synthetic: DataFrame, n_rows: int, seed: int) -> DataFrame:
    """The first ``n_rows`` rows of ``synthetic`` in an order seeded by ``seed``.

    The order is a hash of ``(seed, row)`` (ties: ``row``), so the same seed keeps the same
    rows however the table is partitioned, and a smaller ``n_rows`` keeps a subset of a larger
    one's rows.
    """
    key = F.xxhash64(F.lit(seed), F.col(ROW))
    return synthetic.orderBy(key, F.col(ROW)).limit(n_rows)


def dose_train(
    real_train: DataFrame, synthetic: DataFrame, sweep: list[Dose], seed: int
) -> tuple[dict[str, DataFrame], list[DataFrame]]:
    """The train rows of each dose that is not the full run: real rows plus its sample.

    Returns them by variant, and the drawn samples (pinned: drawn once; to release).
    """
    train, kept = {}, []
    for dose in sweep:
        if dose.scores == dose.variant:
            sample = pinned(dose_sample(synthetic, dose.n_rows, seed))
            kept.append(sample)
            train[dose.variant] = real_train.unionByName(sample.drop(ROW))
    return train, kept

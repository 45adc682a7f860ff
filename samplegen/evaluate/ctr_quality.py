"""Fidelity and privacy rows of a run that writes ``synthetic_ctr`` (stage 4, CTR runs).

Reads seeded samples of the run's ``synthetic_ctr`` rows and of the real ``samples_ctr`` rows,
computes the figures of :mod:`samplegen.evaluate.ctr_fidelity`, and returns them as
``eval_metrics`` rows of the pseudo-recommenders ``fidelity`` and ``privacy`` (variant = the
strategy, slice ``all``), the shape interaction runs have, so the report's fidelity and privacy
sections show them.

- Fidelity compares the synthetic rows with real train rows of the same labels, drawn in the
  synthetic rows' label shares: ``label_balance`` writes only minority-label rows and
  ``hard_negatives`` only negatives by design, so a comparison with every train row would
  measure the label shift the strategy is for, not how real its rows look.
- Privacy compares the distance to the closest real train row (Gower DCR, over a seeded sample
  of at most :data:`DCR_REFERENCE_ROWS` train rows) of synthetic rows with that of held-out real
  rows (valid and test), and counts exact copies of a real train row on every feature column
  over all the run's rows and all train rows (``exact_copies``, ``exact_copy_share``; 0 when
  the generate stage's privacy filter was on).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.classifiers import LABEL, feature_columns
from samplegen.evaluate.ctr_fidelity import ctr_disclosure, ctr_fidelity_metrics
from samplegen.evaluate.report import ReportData
from samplegen.evaluate.rows import FIDELITY, PRIVACY, EvalRow
from samplegen.generate.privacy import copied_rows
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR, read_table, table_store

#: Most real train rows the DCRs are measured against (a seeded sample; the same for the
#: synthetic and the held-out rows).
DCR_REFERENCE_ROWS = 20_000


def sampled(rows: DataFrame, n: int, seed: int) -> tuple[pd.DataFrame, int]:
    """At most ``n`` of ``rows`` on the driver, a seeded sample when there are more.

    Spark draws a Bernoulli sample a little larger than ``n`` (so only what is needed leaves
    the executors), then ``n`` of its rows are kept at random.

    Returns:
        The sample, and the number of ``rows``.
    """
    total = rows.count()
    if total > n:
        fraction = min(1.0, (n + 10 * math.sqrt(n) + 10) / total)
        rows = rows.sample(withReplacement=False, fraction=fraction, seed=seed)
    frame = rows.toPandas()
    if len(frame) > n:
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
    return frame, total


def label_matched(train: DataFrame, labels: pd.Series, seed: int) -> pd.DataFrame:
    """Real train rows with the label counts of ``labels`` (fewer where a label has fewer)."""
    parts = [
        sampled(train.where(F.col(LABEL) == int(label)), int(count), seed + int(label))[0]
        for label, count in labels.value_counts().sort_index().items()
    ]
    return pd.concat(parts, ignore_index=True) if parts else train.limit(0).toPandas()


def ctr_quality(
    spark: SparkSession, cfg: Config, run_id: str, strategy: str
) -> tuple[list[EvalRow], ReportData]:
    """The ``fidelity`` and ``privacy`` rows of a ``synthetic_ctr`` run and its DCR arrays.

    At most ``evaluate.privacy_records`` synthetic rows (and as many label-matched real train
    rows, and held-out rows) are compared, seeded by ``evaluate.seed``; ``n_users`` of each
    row is the number of synthetic rows compared.
    """
    categorical, numeric = feature_columns()
    features = [*categorical, *numeric]
    seed, limit = cfg.evaluate.seed, cfg.evaluate.privacy_records
    samples = read_table(spark, table_store(cfg), SAMPLES_CTR)
    synthetic = (
        read_table(spark, table_store(cfg), SYNTHETIC_CTR)
        .where(F.col("run_id") == run_id)
        .select(LABEL, *features)
    )
    train = samples.where(F.col("split") == "train").select(LABEL, *features)
    synthetic_rows, n_synthetic = sampled(synthetic, limit, seed)
    real_rows = label_matched(train, synthetic_rows[LABEL], seed)
    fidelity = ctr_fidelity_metrics(real_rows, synthetic_rows, categorical, numeric, seed)

    reference, _ = sampled(train, DCR_REFERENCE_ROWS, seed)
    held_out = samples.where(F.col("split").isin("valid", "test")).select(LABEL, *features)
    holdout, _ = sampled(held_out, limit, seed)
    disclosure = ctr_disclosure(reference, holdout, synthetic_rows, categorical, numeric)
    copies = copied_rows(synthetic, train, features).count()
    privacy = {
        **disclosure.metrics,
        "exact_copies": float(copies),
        "exact_copy_share": copies / n_synthetic if n_synthetic else math.nan,
    }
    n_compared = len(synthetic_rows)
    rows = [
        EvalRow(family, strategy, "all", metric, None, float(value), n_users=n_compared, seed=seed)
        for family, values in ((FIDELITY, fidelity), (PRIVACY, privacy))
        for metric, value in values.items()
    ]
    plots = ReportData(dcr_synthetic=disclosure.dcr_synthetic, dcr_holdout=disclosure.dcr_holdout)
    return rows, plots

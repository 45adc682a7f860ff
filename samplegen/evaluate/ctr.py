"""Stage 4 for runs that write ``synthetic_ctr``: CTR classifiers on real vs augmented rows.

Each classifier of ``evaluate.ctr_models`` is trained five ways (variants): on the real
``samples_ctr`` train rows (``real``), on those plus the run's ``synthetic_ctr`` rows
(``augmented``), and three non-generative baselines on real rows only: class weights
(``class_weight``), random oversampling (``random_oversampling``: as many copies of real
train rows of each label as the run wrote synthetic rows) and SMOTE-NC (``smote_nc``: as many
rows of each label interpolated between real train rows by imbalanced-learn's ``SMOTENC``,
see :mod:`samplegen.evaluate.ctr_smote`). The dose sweep (``evaluate.dose_ratios``) adds one
variant ``dose=<r>`` per share ``r`` of the run's synthetic rows (see
:mod:`samplegen.evaluate.ctr_dose`). Every variant is tuned on the real valid rows and
scored once on the real test rows: synthetic, duplicated and interpolated rows only ever
train (:func:`ctr_splits`). Each metric of :data:`~samplegen.evaluate.ctr_metrics.CTR_METRICS`
is computed per slice of the test rows (``all``, ``cold_users``, ``cold_items``, the top
categories: :mod:`samplegen.evaluate.ctr_slices`), with 95% CIs from resampling users, and the
paired differences ``augmented_minus_<baseline>`` (real, class weights, oversampling, SMOTE-NC)
with their CIs and p-values; each dose's row holds its paired difference to real. A slice's
``label_share`` row is its share of positive test rows. A baseline that cannot be built
(SMOTE-NC for a label with fewer train rows than it has neighbours) is skipped with a warning
naming the label; the other variants still score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config, EvaluateConfig
from samplegen.evaluate.classifiers import (
    LABEL,
    SCORE,
    WEIGHT,
    check_labels,
    feature_columns,
    make_classifier,
    oversampled,
    with_class_weights,
)
from samplegen.evaluate.ctr_curves import ScoreCurves, score_curves
from samplegen.evaluate.ctr_dose import ROW, Dose, dose_train, doses
from samplegen.evaluate.ctr_metrics import CTR_METRICS, user_bootstrap
from samplegen.evaluate.ctr_slices import label_share_rows, slice_masks
from samplegen.evaluate.ctr_smote import SmoteSkipped, smote_nc_rows
from samplegen.evaluate.metrics import bootstrap_p_value
from samplegen.evaluate.rows import (
    DIFF_VARIANT,
    DOSE_RATIO_METRIC,
    EvalRow,
    is_missing,
    p_value_metric,
)
from samplegen.evaluate.verdicts import plain, seed_outcome, signed
from samplegen.runinfo import LOG
from samplegen.spark import pinned
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR, read_table, table_store

#: The classifier variants, in the order of the rows.
REAL, AUGMENTED = "real", "augmented"
CLASS_WEIGHT, OVERSAMPLING, SMOTE_NC = "class_weight", "random_oversampling", "smote_nc"
VARIANTS = (REAL, AUGMENTED, CLASS_WEIGHT, OVERSAMPLING, SMOTE_NC)
#: What ``augmented`` is compared with, paired: ``augmented_minus_<variant>`` rows.
BASELINES = (REAL, CLASS_WEIGHT, OVERSAMPLING, SMOTE_NC)
#: The variants whose ROC, precision-recall and reliability curves the report draws.
CURVE_VARIANTS = (REAL, AUGMENTED)

#: Columns of the scored test rows besides the scores.
_TEST_COLUMNS = ("user_idx", "item_idx", LABEL, "user_events", "item_users", "category")


@dataclass
class CtrSplits:
    """The rows each variant trains on, and the real rows every variant is tuned and scored on.

    Attributes:
        real_train: ``samples_ctr`` train rows (feature columns and label).
        augmented_train: ``real_train`` and the run's ``synthetic_ctr`` rows.
        synthetic: The run's ``synthetic_ctr`` rows (feature columns, label and ``row``), the
            rows the dose sweep draws from.
        valid: ``samples_ctr`` valid rows only.
        test: ``samples_ctr`` test rows only (with ``user_idx`` for the slices and bootstrap).
        n_synthetic: The run's ``synthetic_ctr`` rows.
        synthetic_labels: Those rows per label, the dose random oversampling and SMOTE-NC
            match.
    """

    real_train: DataFrame
    augmented_train: DataFrame
    synthetic: DataFrame
    valid: DataFrame
    test: DataFrame
    n_synthetic: int
    synthetic_labels: dict[int, int]

    def oversampled_train(self, seed: int) -> DataFrame:
        """``real_train`` with as many real rows of each label drawn again as synthetic rows."""
        return oversampled(self.real_train, self.synthetic_labels, seed)

    def smote_train(
        self, seed: int, max_rows: int, k_neighbors: int
    ) -> tuple[DataFrame, DataFrame | None]:
        """``real_train`` plus as many SMOTE-NC rows of each label as synthetic rows.

        Returns the union and the new rows alone (pinned, to release; ``None`` when no rows
        were asked for). Raises :class:`~samplegen.evaluate.ctr_smote.SmoteSkipped` when a
        label has too few train rows (see :func:`~samplegen.evaluate.ctr_smote.smote_nc_rows`).
        """
        new = smote_nc_rows(self.real_train, self.synthetic_labels, seed, max_rows, k_neighbors)
        if new is None:
            return self.real_train, None
        return self.real_train.unionByName(new), new


def ctr_splits(spark: SparkSession, cfg: Config, run_id: str) -> CtrSplits:
    """Read ``samples_ctr`` by split and the run's ``synthetic_ctr`` rows.

    Synthetic rows join the train rows of the ``augmented`` variant and nothing else: valid
    and test are read from ``samples_ctr`` alone.

    Raises:
        ValueError: If the run has no ``synthetic_ctr`` rows, a table lacks a feature column
            (named), ``samples_ctr`` has no rows of a split, or its train or valid rows have a
            single label (a classifier cannot learn or be tuned).
    """
    categorical, numeric = feature_columns()
    features = [LABEL, *categorical, *numeric]
    samples = read_table(spark, table_store(cfg), SAMPLES_CTR)
    synthetic = read_table(spark, table_store(cfg), SYNTHETIC_CTR)
    for table, frame in ((SAMPLES_CTR.name, samples), (SYNTHETIC_CTR.name, synthetic)):
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{table} lacks the CTR feature column(s) {', '.join(missing)}; rebuild it "
                "with this version (samplegen aggregate / generate)"
            )
    split = {name: samples.where(F.col("split") == name) for name in ("train", "valid", "test")}
    for name, rows in split.items():
        if rows.isEmpty():
            raise ValueError(
                f"samples_ctr has no {name} rows to train or score a classifier "
                "(a load with aggregate.samples_ctr=false writes none)"
            )
    for name in ("train", "valid"):
        check_labels(split[name], f"the samples_ctr {name} rows")
    synthetic = synthetic.where(F.col("run_id") == run_id).select(*features, ROW)
    synthetic_labels = {
        int(r[LABEL]): int(r["n"])
        for r in synthetic.groupBy(LABEL).agg(F.count("*").alias("n")).collect()
    }
    n_synthetic = sum(synthetic_labels.values())
    if n_synthetic == 0:
        raise ValueError(f"run {run_id!r} has no synthetic_ctr rows to evaluate")
    real_train = split["train"].select(*features)
    return CtrSplits(
        real_train=real_train,
        augmented_train=real_train.unionByName(synthetic.drop(ROW)),
        synthetic=synthetic,
        valid=split["valid"].select(*features),
        test=split["test"].select(*dict.fromkeys([*_TEST_COLUMNS, *features])),
        n_synthetic=n_synthetic,
        synthetic_labels=synthetic_labels,
    )


@dataclass
class ScoringRows:
    """What every classifier of a run trains and is scored on, computed once for all of them.

    Attributes:
        test: The test rows, pinned with one fixed ``_row`` numbering, so every variant's
            scores line up row by row.
        frame: ``test``'s :data:`_TEST_COLUMNS` on the driver, indexed by ``_row``.
        train: Per variant, its training rows and weight column (``None``: unweighted); a
            skipped baseline is absent.
        pinned: The drawn train rows (oversampled, SMOTE-NC, dose samples; pinned: drawn
            once).
        skipped: Per skipped baseline, why.
        doses: The doses of the sweep (none without ``evaluate.dose_ratios``); those that are
            not the full run train as variants ``dose=<ratio>`` of ``train``.
    """

    test: DataFrame
    frame: pd.DataFrame
    train: dict[str, tuple[DataFrame, str | None]]
    pinned: list[DataFrame]
    skipped: dict[str, str]
    doses: list[Dose] = field(default_factory=list)

    @classmethod
    def of(cls, splits: CtrSplits, settings: EvaluateConfig) -> ScoringRows:
        """Pin the test rows and draw the oversampled, SMOTE-NC and dose train rows.

        Draws are seeded by ``evaluate.seed``. SMOTE-NC samples at most
        ``evaluate.smote_max_rows`` train rows per label and interpolates towards
        ``evaluate.smote_k_neighbors`` neighbours; a label with too few rows (or any failure
        of SMOTE-NC) skips the ``smote_nc`` variant with a warning naming it (the label, or
        the error). An empty ``evaluate.dose_ratios`` draws and trains no dose.
        """
        seed = settings.seed
        test = pinned(splits.test.withColumn("_row", F.monotonically_increasing_id()))
        oversampled = splits.oversampled_train(seed)
        train = {
            REAL: (splits.real_train, None),
            AUGMENTED: (splits.augmented_train, None),
            CLASS_WEIGHT: (with_class_weights(splits.real_train), WEIGHT),
            OVERSAMPLING: (oversampled, None),
        }
        kept, skipped = [test, oversampled], {}
        try:
            smote, new = splits.smote_train(
                seed, settings.smote_max_rows, settings.smote_k_neighbors
            )
        except Exception as exc:  # noqa: BLE001 - a failing baseline must not stop the others
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            if not isinstance(exc, SmoteSkipped):
                reason = f"SMOTE-NC failed: {reason}"
            LOG.warning("stage=evaluate ctr: baseline %s is skipped: %s", SMOTE_NC, reason)
            skipped[SMOTE_NC] = reason
        else:
            train[SMOTE_NC] = (smote, None)
            kept += [new] if new is not None else []
        sweep: list[Dose] = []
        if settings.dose_ratios:
            n_real = splits.real_train.count()
            sweep = doses(settings.dose_ratios, splits.n_synthetic, n_real, AUGMENTED)
            dosed, samples = dose_train(splits.real_train, splits.synthetic, sweep, seed)
            train |= {variant: (rows, None) for variant, rows in dosed.items()}
            kept += samples
        frame = test.select("_row", *_TEST_COLUMNS).toPandas().set_index("_row")
        return cls(test, frame, train, kept, skipped, sweep)

    def release(self) -> None:
        """Drop the pinned rows."""
        for rows in self.pinned:
            rows.unpersist()


def scored_test(
    spark: SparkSession, cfg: Config, name: str, splits: CtrSplits, rows: ScoringRows
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The test rows (:data:`_TEST_COLUMNS`) with one score column per variant of ``name``.

    Also returns, per variant, the hyperparameters tuning chose on valid and their valid AUC
    (``regParam=0.01 (valid AUC 0.5412)``), for the report and the run's metrics.
    """
    out = rows.frame.copy()
    tuning: dict[str, str] = {}
    for variant, (train, weight_col) in rows.train.items():
        model = make_classifier(name, cfg.evaluate, spark, cfg.evaluate.seed)
        model.fit(train, splits.valid, weight_col)
        chosen = ", ".join(f"{k}={v}" for k, v in model.tuned.items())
        best = max(model.valid_auc.values(), default=float("nan"))
        tuning[variant] = f"{chosen} (valid AUC {best:.4f})"
        LOG.info("stage=evaluate ctr %s variant=%s chose %s", name, variant, tuning[variant])
        scores = model.score(rows.test).select("_row", SCORE).toPandas().set_index("_row")
        out[variant] = scores[SCORE].reindex(out.index).to_numpy(dtype=np.float64)
    return out.reset_index(drop=True), tuning


def diff_variant(baseline: str) -> str:
    """The variant of the paired ``augmented`` minus ``baseline`` rows."""
    return DIFF_VARIANT if baseline == REAL else f"{AUGMENTED}_minus_{baseline}"


def classifier_rows(
    name: str,
    test: pd.DataFrame,
    settings: EvaluateConfig,
    sweep: Sequence[Dose] = (),
) -> list[EvalRow]:
    """``eval_metrics`` rows of one classifier from its scored test rows.

    Per slice (:func:`~samplegen.evaluate.ctr_slices.slice_masks`, with
    ``evaluate.top_categories`` category slices) and metric: each variant's value with a 95%
    CI over resampled users, and ``augmented_minus_<baseline>`` for each of
    :data:`BASELINES` (``augmented_minus_real``, ``augmented_minus_class_weight``,
    ``augmented_minus_random_oversampling``, ``augmented_minus_smote_nc``; the value on the
    full slice, the CI and p-value from the same paired resamples). Each dose of ``sweep``
    gets a row ``dose=<ratio>`` per slice and metric: its score minus real's, with the CI
    of the same paired resamples, and on ``all`` a ``synthetic_to_real`` row. Each slice has
    a ``label_share`` row. Only the variants with a score column of ``test`` have rows (a
    skipped baseline has none). ``n_users`` is the slice's users; a slice without rows has
    no rows. The bootstrap draws ``evaluate.bootstrap_samples`` resamples seeded by
    ``evaluate.seed``.
    """
    n_samples, seed = settings.bootstrap_samples, settings.seed
    rows: list[EvalRow] = []
    variants = [v for v in VARIANTS if v in test.columns]
    baselines = [b for b in BASELINES if b in variants]
    dosed = [d for d in sweep if d.scores in test.columns and REAL in variants]
    scored = list(dict.fromkeys([*variants, *(d.scores for d in dosed)]))
    labels = test[LABEL].to_numpy().astype(np.int64)
    users = test["user_idx"].to_numpy()
    masks = slice_masks(test, settings.top_categories)
    for slice_, mask in masks.items():
        if not mask.any():
            continue
        n_users = int(np.unique(users[mask]).size)
        scores = {v: test[v].to_numpy()[mask] for v in scored}
        for metric, fn in CTR_METRICS.items():
            values = {v: fn(labels[mask], s) for v, s in scores.items()}
            draws = user_bootstrap(fn, labels[mask], scores, users[mask], n_samples, seed)
            for variant in variants:
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
            for baseline in baselines:
                rows += _diff_rows(name, slice_, metric, values, draws, baseline, n_users, seed)
            for dose in dosed:
                low, high = _interval(draws[dose.scores] - draws[REAL])
                value = values[dose.scores] - values[REAL]
                rows.append(
                    EvalRow(
                        name, dose.variant, slice_, metric, None, value, low, high, n_users, seed
                    )
                )
    for dose in dosed:
        rows.append(
            EvalRow(name, dose.variant, "all", DOSE_RATIO_METRIC, None, dose.synthetic_to_real)
        )
    return rows + label_share_rows(name, test, masks)


def _diff_rows(
    name: str,
    slice_: str,
    metric: str,
    values: dict[str, float],
    draws: dict[str, np.ndarray],
    baseline: str,
    n_users: int,
    seed: int,
) -> list[EvalRow]:
    """``augmented`` minus ``baseline``: the value on the full slice, then its p-value row.

    The CI and p-value come from the same paired user resamples of both variants.
    """
    diffs = draws[AUGMENTED] - draws[baseline]
    low, high = _interval(diffs)
    finite = diffs[~np.isnan(diffs)]
    variant = diff_variant(baseline)
    common = dict(k=None, n_users=n_users, seed=seed)
    return [
        EvalRow(
            name,
            variant,
            slice_,
            metric,
            value=values[AUGMENTED] - values[baseline],
            ci_low=low,
            ci_high=high,
            **common,
        ),
        EvalRow(
            name, variant, slice_, p_value_metric(metric), value=bootstrap_p_value(finite), **common
        ),
    ]


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """The 95% percentile interval of the finite bootstrap values; ``None`` without any."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return None, None
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(low), float(high)


class CtrVerdict(NamedTuple):
    """One AUC comparison of ``augmented`` with a baseline: its line and its outcome.

    ``outcome`` is one of :data:`~samplegen.evaluate.verdicts.OUTCOMES` (the CSS class of the
    line in the report): better (worse) when the CI lies above (below) zero, undetermined
    without a CI or with too few users, else same.
    """

    line: str
    outcome: str


def ctr_verdicts(rows: Iterable[EvalRow], min_users: int) -> list[CtrVerdict]:
    """One verdict per classifier x slice x baseline: augmented minus it in AUC, CI and outcome.

    The baselines are :data:`BASELINES` (real rows alone, class weights, random
    oversampling, SMOTE-NC; a skipped one has no rows, so no line). Better (worse) when the
    CI lies above (below) zero; a slice with fewer than ``min_users`` users says "too few
    users" instead. A value without its row (rows read back partially) shows as ``n/a``.
    """
    rows = list(rows)
    value = {(r.recommender, r.slice, r.variant): r.value for r in rows if r.metric == "auc"}
    baseline_of = {diff_variant(b): b for b in BASELINES}
    found = []
    for row in rows:
        if row.metric != "auc" or row.variant not in baseline_of:
            continue
        baseline = baseline_of[row.variant]
        head = (
            f"{row.recommender} slice={row.slice} AUC {baseline}="
            f"{plain(value.get((row.recommender, row.slice, baseline), math.nan))} "
            f"augmented={plain(value.get((row.recommender, row.slice, AUGMENTED), math.nan))} "
            f"diff={signed(row.value)}"
        )
        found.append(_ctr_verdict(head, row, min_users))
    return found


def _ctr_verdict(head: str, row: EvalRow, min_users: int) -> CtrVerdict:
    """The verdict of one ``augmented_minus_<baseline>`` AUC row, its line starting ``head``."""
    if is_missing(row.ci_low) or is_missing(row.ci_high):
        tail, outcome = "no confidence interval (a label is missing from the slice)", "undetermined"
    elif (row.n_users or 0) < min_users:
        tail = f"too few users (n={row.n_users}, evaluate.min_users={min_users})"
        outcome = "undetermined"
    else:
        low, high = float(row.ci_low), float(row.ci_high)  # type: ignore[arg-type]
        outcome = seed_outcome(low, high)
        words = {"better": "augmented is better", "worse": "augmented is worse"}
        tail = words.get(outcome, "no significant difference")
        head = f"{head} [{signed(low)}, {signed(high)}]"
    return CtrVerdict(f"{head}: {tail}", outcome)


def ctr_verdict_lines(rows: list[EvalRow], min_users: int) -> list[str]:
    """The lines of :func:`ctr_verdicts`, for the log and the manifest."""
    return [verdict.line for verdict in ctr_verdicts(rows, min_users)]


def curves_of(name: str, test: pd.DataFrame) -> dict[tuple[str, str], ScoreCurves]:
    """The report's curves of classifier ``name``: :data:`CURVE_VARIANTS` on every test row.

    Keyed ``(name, variant)``; a variant whose test rows lack a label has none.
    """
    labels = test[LABEL].to_numpy().astype(np.int64)
    found = {}
    for variant in CURVE_VARIANTS:
        if variant in test.columns:
            curves = score_curves(labels, test[variant].to_numpy())
            if curves is not None:
                found[(name, variant)] = curves
    return found


def ctr_rows(
    spark: SparkSession, cfg: Config, run_id: str
) -> tuple[list[EvalRow], dict[str, object], dict[tuple[str, str], ScoreCurves]]:
    """Rows of every classifier of ``evaluate.ctr_models``, a summary and the report's curves.

    A classifier that fails (its fit or scoring raises) is skipped with a warning naming it
    and the error, and listed under ``skipped classifiers``; the others still score. The
    summary holds each variant's tuning (``tuning <classifier>/<variant>``); the curves are
    each classifier's real and augmented ROC, precision-recall and reliability curves on all
    test rows (:func:`curves_of`). The summary lists the slices and, with a dose sweep, the
    synthetic rows each dose keeps.

    Raises:
        ValueError: If ``evaluate.ctr_models`` is empty, the tables cannot be scored (see
            :func:`ctr_splits`), or every classifier failed.
    """
    if not cfg.evaluate.ctr_models:
        raise ValueError("evaluate.ctr_models is empty: name a classifier to score the run")
    splits = ctr_splits(spark, cfg, run_id)
    rows: list[EvalRow] = []
    tuning: dict[str, object] = {}
    skipped: dict[str, str] = {}
    curves: dict[tuple[str, str], ScoreCurves] = {}
    n_test = 0
    scoring = ScoringRows.of(splits, cfg.evaluate)
    try:
        for name in cfg.evaluate.ctr_models:
            try:
                test, chosen = scored_test(spark, cfg, name, splits, scoring)
            except Exception as exc:  # noqa: BLE001 - one failing model must not stop the others
                text = str(exc).strip()
                reason = text.splitlines()[0] if text else type(exc).__name__
                LOG.warning(
                    "stage=evaluate ctr: classifier %s failed and is skipped: %s", name, reason
                )
                skipped[name] = reason
                continue
            n_test = len(test)
            tuning.update({f"tuning {name}/{variant}": t for variant, t in chosen.items()})
            rows += classifier_rows(name, test, cfg.evaluate, scoring.doses)
            curves.update(curves_of(name, test))
    finally:
        scoring.release()
    if not rows:
        raise ValueError(
            "every CTR classifier failed: "
            + "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        )
    summary: dict[str, object] = {
        "synthetic_ctr rows": splits.n_synthetic,
        "random_oversampling rows": splits.n_synthetic,
        "test rows": n_test,
        "classifiers": ", ".join(n for n in cfg.evaluate.ctr_models if n not in skipped),
        "variants": ", ".join(scoring.train),
        "slices": ", ".join(slice_masks(scoring.frame, cfg.evaluate.top_categories)),
        **tuning,
    }
    if scoring.doses:
        summary["dose synthetic_ctr rows"] = ", ".join(
            f"{d.variant}: {d.n_rows}" for d in scoring.doses
        )
    if SMOTE_NC in scoring.train:
        summary["smote_nc rows"] = splits.n_synthetic
    if scoring.skipped:
        summary["skipped baselines"] = "; ".join(f"{n}: {r}" for n, r in scoring.skipped.items())
    if skipped:
        summary["skipped classifiers"] = "; ".join(f"{n}: {r}" for n, r in skipped.items())
    return rows, summary, curves

"""Stage 4 (evaluate): fidelity, privacy and utility of a run's synthetic rows.

- Fidelity (:mod:`samplegen.evaluate.fidelity`): how closely the synthetic records follow the
  real ones (popularity, basket sizes, categories, co-occurrence, a real-vs-synthetic detector).
- Privacy (:mod:`samplegen.evaluate.disclosure`): distance to the closest real record for
  synthetic vs held-out real records, exact copies, a membership-inference attack.
- Explanation (:mod:`samplegen.evaluate.explain`): a map of real and synthetic users, their
  nearest real users, category shifts vs the strategy's targets, a VAE's latent directions.
- Utility (:mod:`samplegen.evaluate.utility`): downstream recommenders trained on real only vs
  real + synthetic, by slice and K with paired bootstrap CIs, and a dose sweep.
- CTR (:mod:`samplegen.evaluate.ctr`): for runs that write ``synthetic_ctr``, click/purchase
  classifiers trained on real vs real + synthetic ``samples_ctr`` rows, scored on real test rows;
  the fidelity and privacy of those rows (:mod:`samplegen.evaluate.ctr_quality`).

Everything lands in ``eval_metrics`` and in ``reports/<run_id>/index.html``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.ctr import ctr_rows, ctr_verdict_lines
from samplegen.evaluate.ctr_metrics import HEADLINE_CTR_METRICS
from samplegen.evaluate.ctr_quality import ctr_quality
from samplegen.evaluate.data import EvalData, load_eval_data
from samplegen.evaluate.disclosure import disclosure_metrics
from samplegen.evaluate.explain import Explanation, explain, targets_from_metrics
from samplegen.evaluate.fidelity import fidelity_metrics, item_fidelity
from samplegen.evaluate.item_cold import item_cold_rows, load_item_cold
from samplegen.evaluate.records import item_counts, record_sizes
from samplegen.evaluate.report import ReportData, write_report
from samplegen.evaluate.rows import (
    FIDELITY,
    ITEM_COLD_SLICES,
    ITEM_FIDELITY,
    PRIVACY,
    EvalRow,
    frame,
)
from samplegen.evaluate.search import load_search
from samplegen.evaluate.sequential import matrix_only, sequence_rows
from samplegen.evaluate.spark_scoring import SPARK_SLICES, spark_utility_rows
from samplegen.evaluate.utility import (
    SCORED_ON,
    SCORED_ON_WORDS,
    Scorer,
    dose_rows,
    slices,
    utility_rows,
)
from samplegen.evaluate.verdicts import HEADLINE_SLICES, verdicts
from samplegen.models.base import Generator
from samplegen.models.store import has_model, model_dir
from samplegen.registry import STRATEGIES
from samplegen.runinfo import (
    LOG,
    StageResult,
    declined,
    read_manifest,
    report_dir,
    stage_timer,
)
from samplegen.tables import (
    AUGMENTED_TRAIN,
    EVAL_METRICS,
    ITEM_FEATURES,
    SYNTHETIC_CTR,
    SYNTHETIC_INTERACTIONS,
    SYNTHETIC_ITEMS,
    Table,
    read_table,
    table_ref,
    table_store,
    write_table,
)

__all__ = ["EvalData", "explanation", "load_eval_data", "run_evaluate", "synthetic_quality"]

#: Models whose latent space the explanation reads.
LATENT_MODELS = ("multvae", "cvae")


def synthetic_quality(
    data: EvalData, cfg: Config, strategy: str
) -> tuple[list[EvalRow], ReportData]:
    """Fidelity and privacy rows (``recommender`` = fidelity / privacy) and the plot arrays."""
    fidelity_records, privacy_records = data.records
    seed = cfg.evaluate.seed
    rng = np.random.default_rng(seed)
    limit = cfg.evaluate.privacy_records
    if len(fidelity_records) > limit:
        keep = np.sort(rng.choice(len(fidelity_records), limit, replace=False))
        fidelity_records = [fidelity_records[i] for i in keep]
    n_columns = data.real.shape[1]
    rows: list[EvalRow] = []
    fidelity = fidelity_metrics(
        data.train_items, fidelity_records, n_columns, data.item_category, seed
    )
    has_test = np.array([len(r) > 0 for r in data.test_records])
    holdout = [r for r, keep in zip(data.test_records, has_test, strict=True) if keep]
    disclosure = disclosure_metrics(
        data.train_items,
        holdout,
        np.flatnonzero(has_test),
        privacy_records,
        n_columns,
        seed,
        max_records=limit,
    )
    for family, values in ((FIDELITY, fidelity), (PRIVACY, disclosure.metrics)):
        for metric, value in values.items():
            rows.append(
                EvalRow(
                    family,
                    strategy,
                    "all",
                    metric,
                    None,
                    float(value),
                    n_users=len(fidelity_records),
                    seed=seed,
                )
            )
    plots = ReportData(
        popularity_real=item_counts(data.train_items, n_columns),
        popularity_synthetic=item_counts(fidelity_records, n_columns),
        basket_real=record_sizes(data.train_items),
        basket_synthetic=record_sizes(fidelity_records),
        dcr_synthetic=disclosure.dcr_synthetic,
        dcr_holdout=disclosure.dcr_holdout,
    )
    return rows, plots


def _run_model(cfg: Config, run_id: str, strategy: str) -> tuple[Generator | None, str]:
    """The generator that drew this run's rows, or ``None`` and why it is not read."""
    if not STRATEGIES[strategy].generative:
        return None, f"Strategy {strategy} does not draw from a model, so there is no latent space."
    if cfg.train.model not in LATENT_MODELS:
        return None, (
            f"The run's model ({cfg.train.model}) has no VAE latent space to read; latent "
            f"directions are shown for {' and '.join(LATENT_MODELS)}."
        )
    folder = model_dir(cfg, run_id)
    if not has_model(folder):
        return None, f"No trained model at {folder}, so there are no latent directions."
    try:
        return Generator.load(folder), ""
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        LOG.warning("stage=evaluate explain: cannot load the model at %s: %s", folder, error)
        return None, f"The model at {folder} could not be loaded ({error})."


def explanation(data: EvalData, cfg: Config, run_id: str, strategy: str) -> Explanation:
    """What the generator learned, for the report (see :mod:`samplegen.evaluate.explain`).

    The user map and category shift use the synthetic records as recommenders are trained on
    them, the nearest real users only what the run wrote (as privacy does); the targets come
    from the generate stage's metrics in the run's manifest, the model from its folder.
    """
    started = time.perf_counter()
    trained_on, written = data.records
    generate = read_manifest(cfg.reports_root, run_id).get("stages", {}).get("generate", {})
    model, model_note = _run_model(cfg, run_id, strategy)
    n_columns = data.real.shape[1]
    out = explain(
        data.train_items,
        trained_on,
        written,
        n_columns,
        data.item_category,
        data.category_names,
        cfg.evaluate.seed,
        targets=targets_from_metrics(generate.get("metrics", {})),
        model=model,
        model_note=model_note,
        real_ids=data.user_idx,
        written_ids=np.unique(data.synthetic["user_idx"].to_numpy()),
    )
    LOG.info("stage=evaluate explain seconds=%.2f", time.perf_counter() - started)
    return out


def _run_strategy(spark: SparkSession, cfg: Config, run_id: str) -> str:
    """The strategy that wrote this run's rows (from ``synthetic_interactions``), for labels."""
    row = (
        read_table(spark, table_store(cfg), SYNTHETIC_INTERACTIONS)
        .where(F.col("run_id") == run_id)
        .select("strategy")
        .limit(1)
        .collect()
    )
    return row[0]["strategy"] if row else cfg.generate.strategy


def other_runs(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, pd.DataFrame]:
    """``evaluate.other_runs``' metric rows, labelled ``<run_id> (<strategy>)``.

    Raises:
        ValueError: If a listed run has no ``eval_metrics`` rows (naming it).
    """
    out: dict[str, pd.DataFrame] = {}
    others = [other for other in cfg.evaluate.other_runs if other != run_id]
    if not others:
        return out
    table = read_table(spark, table_store(cfg), EVAL_METRICS)
    for other in others:
        rows = table.where(F.col("run_id") == other).toPandas()
        if rows.empty:
            raise ValueError(
                f"evaluate.other_runs lists {other!r}, which has no eval_metrics rows; "
                f"run `samplegen evaluate --run-id {other}` first"
            )
        out[f"{other} ({_run_strategy(spark, cfg, other)})"] = rows
    return out


def _has_rows(spark: SparkSession, cfg: Config, table: Table, run_id: str) -> bool:
    """Whether ``table`` exists and holds rows of ``run_id``."""
    try:
        rows = read_table(spark, table_store(cfg), table)
    except FileNotFoundError:
        return False
    return not rows.where(F.col("run_id") == run_id).isEmpty()


def run_evaluate_items(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Fidelity of a ``catalogue`` run's synthetic items against the real ``item_features``.

    Rows go to ``eval_metrics`` with ``recommender`` = item_fidelity; the report shows them
    in its fidelity section, next to the constraint violations the generate stage counted.
    """
    result = StageResult(stage="evaluate", run_id=run_id)
    with stage_timer(result):
        real = read_table(spark, table_store(cfg), ITEM_FEATURES).select(
            "category", "department", "brand", F.col("mean_price").alias("price"), "title"
        )
        synthetic = read_table(spark, table_store(cfg), SYNTHETIC_ITEMS).where(
            F.col("run_id") == run_id
        )
        real_items, synthetic_items = real.toPandas(), synthetic.toPandas()
        figures = item_fidelity(real_items, synthetic_items)
        rows = [
            EvalRow(
                ITEM_FIDELITY,
                "catalogue",
                "all",
                metric,
                None,
                value,
                n_users=len(synthetic_items),
                seed=cfg.generate.seed,
            )
            for metric, value in figures.items()
        ]
        metrics = frame(rows)
        result.rows["eval_metrics"] = write_table(
            _table_frame(spark, metrics, cfg, run_id), table_store(cfg), EVAL_METRICS, run_id
        )
        summary = {"strategy": "catalogue", "synthetic items": len(synthetic_items)}
        report = write_report(
            report_dir(cfg.reports_root, run_id), run_id, metrics, summary, cfg.evaluate.k
        )
        result.outputs = {"report": str(report)}
        result.metrics = {ITEM_FIDELITY: figures}
    return result


def _ctr_strategy(spark: SparkSession, cfg: Config, run_id: str) -> str | None:
    """The strategy of the run's ``synthetic_ctr`` rows, if it has any and writes that table."""
    try:
        rows = read_table(spark, table_store(cfg), SYNTHETIC_CTR)
    except FileNotFoundError:
        return None
    first = rows.where(F.col("run_id") == run_id).select("strategy").limit(1).collect()
    if not first:
        return None
    name = first[0]["strategy"]
    spec = STRATEGIES.get(name)
    return name if spec is None or spec.table == SYNTHETIC_CTR.name else None


def run_evaluate_ctr(spark: SparkSession, cfg: Config, run_id: str, strategy: str) -> StageResult:
    """CTR classifiers (``evaluate.ctr_models``) on real vs real + ``synthetic_ctr`` rows.

    Rows go to ``eval_metrics`` (``recommender`` = the classifier; see
    :mod:`samplegen.evaluate.ctr`), with the fidelity and privacy rows of the synthetic rows
    (:mod:`samplegen.evaluate.ctr_quality`); one AUC verdict line per classifier, slice and
    baseline goes to the log and the manifest; the report's ranking-models section shows them
    with every row, the difference bars and the curves (:mod:`samplegen.evaluate.ranking`), its
    fidelity and privacy sections the quality rows and the DCR histograms.
    """
    result = StageResult(stage="evaluate", run_id=run_id)
    with stage_timer(result):
        rows, facts, curves = ctr_rows(spark, cfg, run_id)
        quality, plots = ctr_quality(spark, cfg, run_id, strategy)
        metrics = frame(quality + rows)
        result.rows["eval_metrics"] = write_table(
            _table_frame(spark, metrics, cfg, run_id), table_store(cfg), EVAL_METRICS, run_id
        )
        lines = ctr_verdict_lines(rows, cfg.evaluate.min_users)
        plots.ctr_curves = curves
        _publish(cfg, run_id, result, metrics, lines, {"strategy": strategy, **facts}, plots)
        result.metrics = {
            "verdict": lines,
            "fidelity": _family(metrics, FIDELITY),
            "privacy": _family(metrics, PRIVACY),
            "tuning": {k: v for k, v in facts.items() if k.startswith("tuning ")},
            "headline": {
                f"{r.recommender}/{r.variant}/{r.slice}/{r.metric}": r.value
                for r in rows
                if r.metric in HEADLINE_CTR_METRICS
            },
        }
    return result


def _table_frame(spark: SparkSession, metrics: pd.DataFrame, cfg: Config, run_id: str):
    """``metrics`` as a Spark frame of ``eval_metrics`` rows (nulls where a value is missing)."""
    columns = [f.name for f in EVAL_METRICS.schema.fields]
    full = metrics.assign(run_id=run_id, dataset=cfg.data.source)[columns]
    integer = {"k", "seed", "n_users"}
    records = [
        tuple(
            None if pd.isna(value) else (int(value) if name in integer else value)
            for name, value in zip(columns, record, strict=True)
        )
        for record in full.itertuples(index=False)
    ]
    return spark.createDataFrame(records, EVAL_METRICS.schema)


def run_evaluate(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Score real-only vs augmented training data; write ``eval_metrics`` and the report.

    A ``catalogue`` run (``synthetic_items`` rows, no interactions) gets the fidelity of its
    items instead (:func:`run_evaluate_items`).

    A run of a strategy that writes ``synthetic_ctr`` (``label_balance``, ``segment_balance``,
    ``hard_negatives``) gets the CTR classifiers of ``evaluate.ctr_models`` instead
    (:func:`run_evaluate_ctr`).

    A recipe that recommends not augmenting scores nothing (stage 3 wrote nothing either).

    Raises:
        ValueError: when the run has neither ``augmented_train`` nor ``synthetic_ctr`` rows
            (never generated).
    """
    declined_run = StageResult(stage="evaluate", run_id=run_id)
    if declined(cfg, declined_run):
        return declined_run
    if _has_rows(spark, cfg, SYNTHETIC_ITEMS, run_id):
        return run_evaluate_items(spark, cfg, run_id)
    ctr_strategy = _ctr_strategy(spark, cfg, run_id)
    if ctr_strategy is not None:
        return run_evaluate_ctr(spark, cfg, run_id, ctr_strategy)
    result = StageResult(stage="evaluate", run_id=run_id)
    augmented_rows = (
        read_table(spark, table_store(cfg), AUGMENTED_TRAIN)
        .where(F.col("run_id") == run_id)
        .limit(1)
    )
    if augmented_rows.count() == 0:
        raise ValueError(
            f"run {run_id!r} has no augmented_train rows to evaluate (nor synthetic_ctr "
            "rows): run `samplegen generate` first"
        )
    with stage_timer(result):
        data = load_eval_data(spark, cfg, run_id)
        strategy = _run_strategy(spark, cfg, run_id)
        quality, plots = synthetic_quality(data, cfg, strategy)
        plots.strategy = f"{run_id} ({strategy})"
        plots.other_runs = other_runs(spark, cfg, run_id)
        plots.explanation = explanation(data, cfg, run_id, strategy)
        plots.search = load_search(spark, cfg, run_id)
        where = slices(data, cfg.evaluate)
        matrices = matrix_only(cfg)  # the sequential recommenders have rows of their own
        scorer = Scorer(data, matrices, spark)
        cold = load_item_cold(spark, cfg, run_id, data)
        scorer.keep_models = cold is not None
        next_item, sequence_facts = sequence_rows(spark, cfg, data)
        utility, evaluated = _utility(spark, cfg, run_id, data, where, scorer)
        if cfg.evaluate.scoring == "spark":
            where = {name: where[name] for name in SPARK_SLICES if name in where}
        rows = quality + utility + dose_rows(data, matrices, spark, scorer) + next_item
        cold_lines: list[str] = []
        if cold is not None:
            cold_rows, line = item_cold_rows(data, matrices, scorer, cold)
            rows += cold_rows
            cold_lines = [line]
            plots.item_cold_facts = cold.facts
        metrics = frame(rows)
        result.rows["eval_metrics"] = write_table(
            _table_frame(spark, metrics, cfg, run_id), table_store(cfg), EVAL_METRICS, run_id
        )
        result.rows["evaluated_users"] = evaluated
        # All slices are in the report; the log and the manifest keep the headline ones.
        headline_verdicts = [
            v.line
            for v in verdicts(metrics, cfg.evaluate.k, cfg.evaluate.min_users)
            if v.slice in HEADLINE_SLICES
        ] + cold_lines
        summary = {
            "strategy": strategy,
            "evaluated users": result.rows["evaluated_users"],
            "train users": len(data.user_idx),
            "synthetic users": int(data.synthetic["user_idx"].nunique()),
            "items": data.n_items,
            "slices": ", ".join([*where, *(ITEM_COLD_SLICES if cold is not None else ())]),
            SCORED_ON: SCORED_ON_WORDS[cfg.evaluate.score_with],
            **sequence_facts,
        }
        if cold_lines:
            summary[f"{ITEM_COLD_SLICES[0]} verdict"] = cold_lines[0]
        _publish(cfg, run_id, result, metrics, headline_verdicts, summary, plots)
        headline = metrics[
            metrics["metric"].isin(["recall", "ndcg"]) & (metrics["k"] == cfg.evaluate.k)
        ]
        result.metrics = {
            "verdict": headline_verdicts,
            "score_with": cfg.evaluate.score_with,
            "item_cold": cold.facts if cold is not None else {},
            "sequences": sequence_facts,
            "fidelity": _family(metrics, FIDELITY),
            "privacy": _family(metrics, PRIVACY),
            "headline": {
                f"{r.recommender}/{r.variant}/{r.slice}/{r.metric}@{r.k}/seed={r.seed}": r.value
                for r in headline.itertuples()
                if r.slice in HEADLINE_SLICES
            },
        }
    return result


def _utility(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    data: EvalData,
    where: dict,
    scorer: Scorer,
) -> tuple[list[EvalRow], int]:
    """The utility rows and the number of users they score, on the driver or in Spark.

    Under ``evaluate.scoring: spark`` every evaluated user is ranked in Spark (whatever
    ``evaluate.max_users``, which then bounds only the driver-side parts) on slices all and
    cold; the other slices need ``evaluate.scoring: driver``, which the log says.
    """
    if cfg.evaluate.scoring != "spark":
        rows = utility_rows(data, matrix_only(cfg), spark, where, scorer)
        return rows, int(data.evaluated.sum())
    left = [name for name in where if name not in SPARK_SLICES]
    if left:
        LOG.info(
            "stage=evaluate scoring=spark scores slices %s; slices %s need "
            "evaluate.scoring=driver",
            ", ".join(SPARK_SLICES),
            ", ".join(left),
        )
    utility = spark_utility_rows(spark, cfg, run_id)
    return utility.rows, utility.n_evaluated


def _publish(
    cfg: Config,
    run_id: str,
    result: StageResult,
    metrics: pd.DataFrame,
    lines: list[str],
    summary: dict[str, object],
    data: ReportData | None = None,
) -> None:
    """Log the verdict ``lines``, write the report and record both outputs in ``result``.

    The report's summary ends with where the ``eval_metrics`` table is.
    """
    for line in lines:
        LOG.info("stage=evaluate verdict %s", line)
    table = table_ref(table_store(cfg), EVAL_METRICS)
    report = write_report(
        report_dir(cfg.reports_root, run_id),
        run_id,
        metrics,
        {**summary, "eval_metrics table": table},
        cfg.evaluate.k,
        data,
        cfg.evaluate.min_users,
    )
    result.outputs = {"report": str(report), "eval_metrics": table}


def _family(metrics: pd.DataFrame, family: str) -> dict[str, float]:
    """The fidelity or privacy figures as ``{metric: value}`` (for the manifest)."""
    rows = metrics[metrics["recommender"] == family]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows["value"], strict=True)}

"""Stage 3 (generate): synthetic rows into Delta, and the augmented training table.

The strategy named by ``generate.strategy`` is looked up in
:data:`samplegen.registry.STRATEGIES`; its module draws the rows (see
:mod:`samplegen.generate.context`) and this stage does what every strategy shares: the model
check, the filling of the columns the tabular model does not generate in ``synthetic_ctr`` rows
(:mod:`samplegen.generate.ctr_fill`), the privacy filter of new users (and of ``synthetic_ctr``
rows), provenance, the writes and ``augmented_train``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.generate.augmented import augmented, combined_synthetic
from samplegen.generate.context import DrawContext, Metrics, require_models
from samplegen.generate.ctr_fill import fill_unmodelled
from samplegen.generate.privacy import privacy_filter, row_privacy_filter
from samplegen.models.store import model_dir, require_model
from samplegen.registry import strategy
from samplegen.runinfo import StageResult, declined, stage_timer
from samplegen.spark import pinned
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    SAMPLES_CTR,
    SYNTHETIC_CTR,
    SYNTHETIC_INTERACTIONS,
    SYNTHETIC_ITEMS,
    read_table,
    table_ref,
    table_store,
    write_table,
)

log = logging.getLogger(__name__)

#: The feature columns of a ``synthetic_ctr`` row, those after ``label`` (the ones the CTR
#: classifiers learn, :func:`samplegen.evaluate.classifiers.feature_columns`).
CTR_FEATURES = SYNTHETIC_CTR.schema.names[SYNTHETIC_CTR.schema.names.index("label") + 1 :]

#: The table each registry table name stands for.
_TABLES = {t.name: t for t in (SYNTHETIC_INTERACTIONS, SYNTHETIC_CTR, SYNTHETIC_ITEMS)}


def model_of(cfg: Config) -> str:
    """The ``model`` provenance of this run's rows: ``none`` for a non-generative baseline."""
    return cfg.train.model if strategy(cfg.generate.strategy).generative else "none"


def with_provenance(rows: DataFrame, cfg: Config, run_id: str) -> DataFrame:
    """Add the provenance columns every synthetic interaction row carries.

    ``user_id`` is set only for new users (``syn:<run_id>:<n>``); rows that add items to a
    real user carry its ``user_idx`` and a null ``user_id``, so no real id is ever copied.
    """
    user_id = F.col("user_id") if "user_id" in rows.columns else F.lit(None).cast("string")
    item_ids = (
        F.col("item_ids") if "item_ids" in rows.columns else F.lit(None).cast("array<string>")
    )
    return rows.select(
        *provenance(cfg, run_id),
        user_id.alias("user_id"),
        "user_idx",
        "item_idx",
        "weight",
        item_ids.alias("item_ids"),
    )


def provenance(cfg: Config, run_id: str) -> list[Column]:
    """The provenance columns of every synthetic row: run, model, version, strategy, seed."""
    return [
        F.lit(run_id).alias("run_id"),
        F.lit(model_of(cfg)).alias("model"),
        F.lit(run_id).alias("model_version"),
        F.lit(cfg.generate.strategy).alias("strategy"),
        F.lit(cfg.generate.seed).cast("long").alias("seed"),
    ]


def run_generate(
    spark: SparkSession, cfg: Config, run_id: str, model_run: str | None = None
) -> StageResult:
    """Write the strategy's rows for ``run_id`` (and ``augmented_train`` for interactions).

    A rerun of the same ``run_id`` replaces its rows; other runs' rows are untouched. The model
    is the one trained for ``model_run`` (default: ``run_id``); ``samplegen tune`` draws each
    trial's rows from the tuned run's models without training again. A recipe that
    recommends not augmenting writes nothing (:meth:`~samplegen.config.RecipeConfig.declines`).
    """
    result = StageResult(stage="generate", run_id=run_id)
    if declined(cfg, result):
        return result
    spec = strategy(cfg.generate.strategy)
    module = spec.load()
    folder = model_dir(cfg, model_run or run_id)
    if hasattr(module, "check"):
        module.check(cfg)
    if spec.generative:
        require_models(cfg, spec.models, "users' items")
        require_model(folder, model_run or run_id)
    lake = table_store(cfg)
    with stage_timer(result):
        real = read_table(spark, lake, INTERACTIONS["train"])
        ctx = DrawContext(spark, cfg, run_id, real, str(Path(folder).resolve()))
        rows, result.metrics = module.draw(ctx)
        if spec.new_users:
            rows, filtered = _privacy_checked(pinned(rows), real, cfg)
            result.metrics |= filtered
        table = _TABLES[spec.table]
        if table is SYNTHETIC_CTR:
            rows, samples = pinned(rows), ctx.table(SAMPLES_CTR)
            if spec.generative:  # the tabular model's rows: fill what it does not generate
                rows, filled = fill_unmodelled(rows, samples, cfg, CTR_FEATURES)
                result.metrics |= filled
            rows, filtered = _rows_privacy_checked(rows, samples, cfg)
            result.metrics |= filtered
        if table is SYNTHETIC_INTERACTIONS:
            result.rows[table.name] = write_table(
                with_provenance(rows, cfg, run_id), lake, table, run_id
            )
            _write_augmented(ctx, result)
        else:
            result.rows[table.name] = write_table(
                rows.select(*provenance(cfg, run_id), "*"), lake, table, run_id
            )
            result.outputs = {table.name: table_ref(lake, table)}
        result.metrics["strategy"] = spec.name
    return result


def _write_augmented(ctx: DrawContext, result: StageResult) -> None:
    """``augmented_train`` of the run: real rows plus this run's and ``augment_runs``' rows."""
    lake, run_id = table_store(ctx.cfg), ctx.run_id
    runs = [run_id, *(r for r in ctx.gen.augment_runs if r != run_id)]
    synthetic = combined_synthetic(
        ctx.table(SYNTHETIC_INTERACTIONS), runs, ctx.first_user_idx, ctx.first_item_idx
    )
    result.rows["augmented_train"] = write_table(
        augmented(ctx.real, synthetic, run_id), lake, AUGMENTED_TRAIN, run_id
    )
    result.outputs = {t.name: table_ref(lake, t) for t in (SYNTHETIC_INTERACTIONS, AUGMENTED_TRAIN)}
    result.metrics |= {
        "synthetic_rows": result.rows["synthetic_interactions"],
        "augmented_from_runs": runs,
    }


def _privacy_checked(rows: DataFrame, real: DataFrame, cfg: Config) -> tuple[DataFrame, Metrics]:
    """New users without copies or near copies of real users, unless the filter is off."""
    gen = cfg.generate
    if not gen.privacy_filter:
        log.warning(
            "generate.privacy_filter=false: synthetic users are written without the check "
            "against copies of real users"
        )
        return rows, {"privacy_filter": "off"}
    kept, counts = privacy_filter(rows, real, gen.privacy_max_jaccard)
    log.info(
        "privacy filter: %d synthetic users drawn, %d copies and %d near copies "
        "(Jaccard > %.2f) dropped",
        counts.drawn,
        counts.dropped_copies,
        counts.dropped_similar,
        gen.privacy_max_jaccard,
    )
    return kept, {"privacy_filter": "on", **counts.as_metrics()}


def _rows_privacy_checked(
    rows: DataFrame, samples: DataFrame, cfg: Config
) -> tuple[DataFrame, Metrics]:
    """``synthetic_ctr`` rows without exact copies of a real ``samples_ctr`` train row.

    A copy equals a real train row on every feature column (:data:`CTR_FEATURES`, nulls
    matching nulls); the label is not compared. ``generate.privacy_filter=false`` skips the
    check, as for new users.
    """
    if not cfg.generate.privacy_filter:
        log.warning(
            "generate.privacy_filter=false: synthetic_ctr rows are written without the check "
            "against copies of real samples_ctr train rows"
        )
        return rows, {"privacy_filter": "off"}
    train = samples.where(F.col("split") == "train")
    kept, counts = row_privacy_filter(rows, train, CTR_FEATURES)
    log.info(
        "privacy filter: %d synthetic_ctr rows drawn, %d exact copies of a real samples_ctr "
        "train row dropped, %d kept",
        counts.drawn,
        counts.dropped_copies,
        counts.kept,
    )
    return kept, {"privacy_filter": "on", **counts.as_metrics()}

"""Stage 3 (generate): synthetic rows into Delta, and the augmented training table."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.augment import SEQUENCE_OPERATORS, make_operator
from samplegen.config import Config
from samplegen.generate.augmented import augmented, combined_synthetic
from samplegen.generate.baselines import augment_users, category_codes
from samplegen.generate.catalogue import STRATEGY as CATALOGUE_STRATEGY
from samplegen.generate.catalogue import catalogue_items
from samplegen.generate.cross_category import cross_category, pair_mix
from samplegen.generate.densify import densify
from samplegen.generate.interpolate import MODELS as ENCODER_MODELS
from samplegen.generate.interpolate import interpolate_users
from samplegen.generate.label_balance import label_balance
from samplegen.generate.new_items import new_items, plan_new_items
from samplegen.generate.new_users import in_time_order
from samplegen.generate.privacy import privacy_filter
from samplegen.generate.quotas import STRATEGIES as QUOTA_STRATEGIES
from samplegen.generate.quotas import group_shares, item_groups, quota_densify, target_mix
from samplegen.generate.synthetic_users import STRATEGY as SYNTHETIC_USERS
from samplegen.generate.synthetic_users import synthetic_users
from samplegen.models.store import model_dir, require_model
from samplegen.runinfo import StageResult, stage_timer
from samplegen.tables import (
    AUGMENTED_TRAIN,
    CATALOGUE,
    EVENTS_CLEAN,
    INTERACTIONS,
    ITEM_FEATURES,
    ITEM_INDEX,
    SAMPLES_CTR,
    SYNTHETIC_CTR,
    SYNTHETIC_INTERACTIONS,
    SYNTHETIC_ITEMS,
    USER_INDEX,
    read_table,
    table_path,
    write_table,
)

log = logging.getLogger(__name__)

#: Groups whose shares a quota run reports by name (the largest targets); all count in the gaps.
REPORTED_GROUPS = 10

#: Models that draw items for users (what the model strategies need).
INTERACTION_MODELS = ("multvae", "cvae", "gan")
#: Model strategies that create new users, and how each draws them.
NEW_USER_DRAWS = {"synthetic_users": synthetic_users, "interpolate": interpolate_users}
#: Strategies that draw from the trained model; the others are the augment/ baselines.
MODEL_STRATEGIES = (
    "densify",
    "cross_category",
    "label_balance",
    CATALOGUE_STRATEGY,
    "new_items",
    *QUOTA_STRATEGIES,
    *NEW_USER_DRAWS,
)


def model_of(cfg: Config) -> str:
    """The ``model`` provenance of this run's rows: ``none`` for a non-generative baseline."""
    return cfg.train.model if cfg.generate.strategy in MODEL_STRATEGIES else "none"


def with_provenance(rows: DataFrame, cfg: Config, run_id: str) -> DataFrame:
    """Add the provenance columns every synthetic row carries.

    ``user_id`` is set only for new users (``syn:<run_id>:<n>``); rows that add items to a
    real user carry its ``user_idx`` and a null ``user_id``, so no real id is ever copied.
    """
    user_id = F.col("user_id") if "user_id" in rows.columns else F.lit(None).cast("string")
    item_ids = (
        F.col("item_ids") if "item_ids" in rows.columns else F.lit(None).cast("array<string>")
    )
    return rows.select(
        F.lit(run_id).alias("run_id"),
        F.lit(model_of(cfg)).alias("model"),
        F.lit(run_id).alias("model_version"),
        F.lit(cfg.generate.strategy).alias("strategy"),
        F.lit(cfg.generate.seed).cast("long").alias("seed"),
        user_id.alias("user_id"),
        "user_idx",
        "item_idx",
        "weight",
        item_ids.alias("item_ids"),
    )


def run_generate(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Write ``synthetic_interactions`` and ``augmented_train`` rows for ``run_id``.

    ``label_balance`` writes ``synthetic_ctr`` rows instead. A rerun of the same ``run_id``
    replaces its rows; other runs' rows are untouched.
    """
    result = StageResult(stage="generate", run_id=run_id)
    folder = model_dir(cfg, run_id)
    if cfg.generate.strategy == "label_balance":
        return _run_label_balance(spark, cfg, run_id, result, folder)
    if cfg.generate.strategy == CATALOGUE_STRATEGY:
        return _run_catalogue(spark, cfg, run_id, result, folder)
    if cfg.generate.strategy in MODEL_STRATEGIES:
        needs_encoder = cfg.generate.strategy in ("interpolate", "new_items") or (
            cfg.generate.strategy == "synthetic_users" and cfg.generate.synthetic_from == "prior"
        )
        models = ENCODER_MODELS if needs_encoder else INTERACTION_MODELS
        if cfg.train.model not in models:
            raise ValueError(
                f"generate.strategy={cfg.generate.strategy} draws users' items and needs "
                f"train.model in {', '.join(models)}, not {cfg.train.model!r}"
            )
        require_model(folder, run_id)
    lake = cfg.lakehouse
    gen = cfg.generate
    with stage_timer(result):
        real = read_table(spark, lake, INTERACTIONS["train"])
        rows, result.metrics = _draw(spark, cfg, run_id, real, str(Path(folder).resolve()))
        result.rows["synthetic_interactions"] = write_table(
            with_provenance(rows, cfg, run_id), lake, SYNTHETIC_INTERACTIONS, run_id
        )
        runs = [run_id, *(r for r in gen.augment_runs if r != run_id)]
        synthetic = combined_synthetic(
            read_table(spark, lake, SYNTHETIC_INTERACTIONS),
            runs,
            _next_index(read_table(spark, lake, USER_INDEX), "user_idx"),
            _next_index(read_table(spark, lake, ITEM_INDEX), "item_idx"),
        )
        result.rows["augmented_train"] = write_table(
            augmented(real, synthetic, run_id), lake, AUGMENTED_TRAIN, run_id
        )
        result.outputs = {
            t.name: table_path(lake, t) for t in (SYNTHETIC_INTERACTIONS, AUGMENTED_TRAIN)
        }
        result.metrics |= {
            "strategy": gen.strategy,
            "synthetic_rows": result.rows["synthetic_interactions"],
            "augmented_from_runs": runs,
        }
    return result


def _require_tabular(cfg: Config, table: str, draws: str) -> None:
    """Stop unless the run's model is the tabular generator trained on ``table``."""
    if cfg.train.model != "tabular" or cfg.train.tabular.table != table:
        raise ValueError(
            f"generate.strategy={cfg.generate.strategy} draws {draws} and needs "
            f"train.model=tabular with train.tabular.table={table}"
        )


def _next_index(index: DataFrame, column: str) -> int:
    """The first index after every one in ``index`` (where new users / items start)."""
    return (index.agg(F.max(column)).first()[0] or 0) + 1


def _draw(
    spark: SparkSession, cfg: Config, run_id: str, real: DataFrame, folder: str
) -> tuple[DataFrame, dict[str, object]]:
    """The configured strategy's rows, privacy-filtered when they are new users."""
    gen = cfg.generate
    if gen.strategy == "densify":
        rows = densify(
            real, folder, gen.max_user_items, gen.items_per_user, gen.synthetic_weight, gen.seed
        )
        return rows, {}
    if gen.strategy in QUOTA_STRATEGIES:
        return _draw_with_quotas(spark, cfg, real, folder)
    if gen.strategy == "cross_category":
        categories, names = category_codes(read_table(spark, cfg.lakehouse, ITEM_INDEX))
        rows = cross_category(
            real,
            folder,
            categories,
            gen.max_user_items,
            gen.items_per_user,
            gen.synthetic_weight,
            gen.seed,
        ).localCheckpoint()
        return rows, pair_mix(rows, categories, names)
    if gen.strategy == "new_items":
        return _draw_new_items(spark, cfg, real, folder)
    first_user_idx = _next_index(read_table(spark, cfg.lakehouse, USER_INDEX), "user_idx")
    if gen.strategy in NEW_USER_DRAWS:
        options = {"from_prior": gen.synthetic_from == "prior"}
        rows = NEW_USER_DRAWS[gen.strategy](
            real,
            folder,
            gen.synthetic_users,
            gen.max_user_items,
            first_user_idx,
            gen.synthetic_weight,
            gen.seed,
            run_id,
            **(options if gen.strategy == SYNTHETIC_USERS else {}),
        )
    else:
        item_index = read_table(spark, cfg.lakehouse, ITEM_INDEX)
        categories, _ = category_codes(item_index)
        operator = make_operator(gen.strategy, gen.mask_keep, gen.substitute_share, categories)
        time_order = None
        if gen.strategy in SEQUENCE_OPERATORS:
            events = read_table(spark, cfg.lakehouse, EVENTS_CLEAN)
            user_index = read_table(spark, cfg.lakehouse, USER_INDEX)

            def time_order(seeds: DataFrame) -> DataFrame:
                return in_time_order(seeds, events, user_index, item_index)

        rows = augment_users(
            real,
            gen.strategy,
            operator,
            gen.synthetic_users,
            gen.max_user_items,
            first_user_idx,
            gen.synthetic_weight,
            gen.seed,
            run_id,
            time_order,
        )
    rows = rows.localCheckpoint()
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


def _draw_with_quotas(
    spark: SparkSession, cfg: Config, real: DataFrame, folder: str
) -> tuple[DataFrame, dict[str, object]]:
    """Quota rows and how close they came to the target mix.

    Metrics: the real, target and achieved share of the groups with the largest targets, and
    the largest and mean gap between achieved and target shares over all groups.
    """
    gen = cfg.generate
    items = read_table(spark, cfg.lakehouse, ITEM_INDEX)
    groups, names = item_groups(items, gen.strategy, gen.head_fraction)
    real_share = group_shares(real, groups, len(names))
    mix = target_mix(gen.strategy, real_share, gen.tail_share, gen.balance_power)
    rows = quota_densify(
        real,
        folder,
        groups,
        mix,
        gen.max_user_items,
        gen.items_per_user,
        gen.synthetic_weight,
        gen.seed,
    ).localCheckpoint()
    achieved = group_shares(rows, groups, len(names))
    gaps = np.abs(achieved - mix)
    metrics: dict[str, object] = {
        "share_gap/max": round(float(gaps.max()), 4),
        "share_gap/mean": round(float(gaps.mean()), 4),
    }
    for g in np.argsort(-mix, kind="stable")[:REPORTED_GROUPS]:
        metrics |= {
            f"real_share/{names[g]}": round(float(real_share[g]), 4),
            f"target_share/{names[g]}": round(float(mix[g]), 4),
            f"achieved_share/{names[g]}": round(float(achieved[g]), 4),
        }
    return rows, metrics


def _draw_new_items(
    spark: SparkSession, cfg: Config, real: DataFrame, folder: str
) -> tuple[DataFrame, dict[str, object]]:
    """Rows giving catalogue items outside the vocabulary users, and how the map fitted.

    The new items' indices start after the largest ``item_index`` index.
    """
    gen = cfg.generate
    features = read_table(spark, cfg.lakehouse, ITEM_FEATURES)
    plan = plan_new_items(
        features,
        read_table(spark, cfg.lakehouse, CATALOGUE),
        folder,
        gen.new_items,
        gen.seed,
        train=real,
    )
    if not plan.item_ids:
        raise ValueError(
            "generate.strategy=new_items found no catalogue item outside item_index with a "
            "category, department, brand or title the indexed items share"
        )
    first_item_idx = _next_index(read_table(spark, cfg.lakehouse, ITEM_INDEX), "item_idx")
    rows = new_items(
        real,
        folder,
        plan.rows,
        plan.bias,
        plan.users_per_item,
        plan.item_ids,
        first_item_idx,
        gen.synthetic_weight,
        gen.seed,
    ).localCheckpoint()
    return rows, plan.metrics


def _run_label_balance(
    spark: SparkSession, cfg: Config, run_id: str, result: StageResult, folder: Path
) -> StageResult:
    """Minority-label ``samples_ctr`` rows from the tabular model into ``synthetic_ctr``."""
    _require_tabular(cfg, "samples_ctr", "samples_ctr rows")
    require_model(folder, run_id)
    gen = cfg.generate
    with stage_timer(result):
        samples = read_table(spark, cfg.lakehouse, SAMPLES_CTR)
        rows, result.metrics = label_balance(
            spark, samples, str(folder.resolve()), gen.label_target_share, gen.seed
        )
        result.rows["synthetic_ctr"] = write_table(
            rows.select(*_provenance(cfg, run_id), "*"), cfg.lakehouse, SYNTHETIC_CTR, run_id
        )
        result.outputs = {SYNTHETIC_CTR.name: table_path(cfg.lakehouse, SYNTHETIC_CTR)}
        result.metrics["strategy"] = gen.strategy
    return result


def _provenance(cfg: Config, run_id: str) -> list:
    """The provenance columns of a row that is not an interaction (items, CTR samples)."""
    return [
        F.lit(run_id).alias("run_id"),
        F.lit(cfg.train.model).alias("model"),
        F.lit(run_id).alias("model_version"),
        F.lit(cfg.generate.strategy).alias("strategy"),
        F.lit(cfg.generate.seed).cast("long").alias("seed"),
    ]


def _run_catalogue(
    spark: SparkSession, cfg: Config, run_id: str, result: StageResult, folder: Path
) -> StageResult:
    """Synthetic item rows from the tabular model of ``item_features`` into ``synthetic_items``."""
    _require_tabular(cfg, "item_features", "item rows")
    tabular = cfg.train.tabular
    if "category" not in tabular.discrete_columns:
        raise ValueError(
            "generate.strategy=catalogue draws items per category: add category to "
            "train.tabular.discrete_columns"
        )
    require_model(folder, run_id)
    gen = cfg.generate
    with stage_timer(result):
        items = read_table(spark, cfg.lakehouse, ITEM_FEATURES)
        rows, result.metrics = catalogue_items(
            spark,
            items,
            str(folder.resolve()),
            gen.synthetic_items,
            gen.balance_power,
            gen.seed,
            run_id,
            gen.catalogue_price_range,
        )
        result.rows["synthetic_items"] = write_table(
            rows.select(*_provenance(cfg, run_id), "*"), cfg.lakehouse, SYNTHETIC_ITEMS, run_id
        )
        result.outputs = {SYNTHETIC_ITEMS.name: table_path(cfg.lakehouse, SYNTHETIC_ITEMS)}
        result.metrics["strategy"] = gen.strategy
    return result

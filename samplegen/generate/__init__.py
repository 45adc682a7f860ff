"""Stage 3 (generate): synthetic rows into Delta, and the augmented training table."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.generate.densify import STRATEGY, densify
from samplegen.runinfo import StageResult, stage_timer
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    SYNTHETIC_INTERACTIONS,
    read_table,
    table_path,
    write_table,
)
from samplegen.train import model_dir

#: Models that draw items for users (what ``densify`` needs).
INTERACTION_MODELS = ("multvae", "cvae", "gan")


def with_provenance(rows: DataFrame, cfg: Config, run_id: str) -> DataFrame:
    """Add the provenance columns every synthetic row carries."""
    return rows.select(
        F.lit(run_id).alias("run_id"),
        F.lit(cfg.train.model).alias("model"),
        F.lit(run_id).alias("model_version"),
        F.lit(STRATEGY).alias("strategy"),
        F.lit(cfg.generate.seed).cast("long").alias("seed"),
        "user_idx",
        "item_idx",
        "weight",
    )


def augmented(real: DataFrame, synthetic: DataFrame, run_id: str) -> DataFrame:
    """Real train rows and this run's synthetic rows, told apart by ``is_synthetic``."""
    columns = ["user_idx", "item_idx", "weight"]
    return (
        real.select(*columns)
        .withColumn("is_synthetic", F.lit(False))
        .unionByName(synthetic.select(*columns).withColumn("is_synthetic", F.lit(True)))
        .withColumn("run_id", F.lit(run_id))
    )


def run_generate(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Write ``synthetic_interactions`` and ``augmented_train`` rows for ``run_id``.

    A rerun of the same ``run_id`` replaces its rows; other runs' rows are untouched.
    """
    result = StageResult(stage="generate", run_id=run_id)
    folder = model_dir(cfg, run_id)
    if not (folder / "model.pt").exists():
        raise FileNotFoundError(
            f"no trained model for run {run_id!r} at {folder}; run `samplegen train` first"
        )
    if cfg.train.model not in INTERACTION_MODELS:
        raise ValueError(
            f"generate.strategy={cfg.generate.strategy} draws users' items and needs "
            f"train.model in {', '.join(INTERACTION_MODELS)}, not {cfg.train.model!r}"
        )
    lake = cfg.lakehouse
    gen = cfg.generate
    with stage_timer(result):
        real = read_table(spark, lake, INTERACTIONS["train"])
        rows = densify(
            real,
            str(Path(folder).resolve()),
            gen.max_user_items,
            gen.items_per_user,
            gen.synthetic_weight,
            gen.seed,
        )
        result.rows["synthetic_interactions"] = write_table(
            with_provenance(rows, cfg, run_id), lake, SYNTHETIC_INTERACTIONS, run_id
        )
        synthetic = read_table(spark, lake, SYNTHETIC_INTERACTIONS).where(F.col("run_id") == run_id)
        result.rows["augmented_train"] = write_table(
            augmented(real, synthetic, run_id), lake, AUGMENTED_TRAIN, run_id
        )
        result.outputs = {
            t.name: table_path(lake, t) for t in (SYNTHETIC_INTERACTIONS, AUGMENTED_TRAIN)
        }
        result.metrics = {
            "strategy": STRATEGY,
            "densified_users": result.rows["synthetic_interactions"],
        }
    return result

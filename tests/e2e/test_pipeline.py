"""The whole pipeline in the shared Spark session, rerun for idempotence."""

from pathlib import Path

import pytest

from samplegen.config import Config
from samplegen.pipeline import run_pipeline
from samplegen.tables import (
    AUGMENTED_TRAIN,
    EVAL_METRICS,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    INTERACTIONS,
    ITEM_INDEX,
    SYNTHETIC_INTERACTIONS,
    TRAINING_VIEW,
    USER_INDEX,
    read_table,
)
from tests.conftest import RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TABLES = [
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    USER_INDEX,
    ITEM_INDEX,
    TRAINING_VIEW,
    SYNTHETIC_INTERACTIONS,
    AUGMENTED_TRAIN,
    EVAL_METRICS,
    *INTERACTIONS.values(),
]


def snapshot(spark, cfg: Config) -> dict[str, int]:
    return {t.name: read_table(spark, cfg.lakehouse, t).count() for t in TABLES}


def test_pipeline_trained_distributed_and_produced_every_table(spark, cfg, pipeline_run):
    assert pipeline_run["train"].metrics["epochs"] == cfg.train.epochs
    assert Path(pipeline_run["train"].outputs["model_dir"], "model.pt").exists()
    assert pipeline_run["generate"].rows["synthetic_interactions"] > 0
    assert all(count > 0 for count in snapshot(spark, cfg).values())


def test_rerun_skips_finished_stages(spark, cfg, pipeline_run):
    results = run_pipeline(spark, cfg, RUN_ID)
    assert [r.status for r in results] == ["skipped"] * 4
    assert results[0].rows == pipeline_run["aggregate"].rows


@pytest.mark.drill  # a second whole pipeline: make test-drills
def test_forced_rerun_with_same_run_id_leaves_same_row_counts(spark, cfg, pipeline_run):
    before = snapshot(spark, cfg)
    user_ids = read_table(spark, cfg.lakehouse, USER_INDEX).orderBy("user_idx").collect()
    results = run_pipeline(spark, cfg, RUN_ID, force=True)
    assert [r.status for r in results] == ["done"] * 4
    assert snapshot(spark, cfg) == before
    assert read_table(spark, cfg.lakehouse, USER_INDEX).orderBy("user_idx").collect() == user_ids

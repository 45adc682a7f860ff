import shutil

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.generate import run_generate
from samplegen.generate.densify import densify
from samplegen.tables import AUGMENTED_TRAIN, INTERACTIONS, SYNTHETIC_INTERACTIONS, read_table
from samplegen.train import model_dir
from tests.conftest import RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def synthetic(spark, cfg, run_id=RUN_ID):
    return read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS).where(F.col("run_id") == run_id)


def test_densify_rows_honour_the_contract(spark, cfg, pipeline_run):
    train = {
        r.user_idx: set(r.item_idx)
        for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    }
    rows = synthetic(spark, cfg).collect()
    assert rows, "no synthetic rows"
    for row in rows:
        assert len(train[row.user_idx]) < cfg.generate.max_user_items
        assert not set(row.item_idx) & train[row.user_idx]
        assert 0 < len(row.item_idx) <= cfg.generate.items_per_user
        assert len(set(row.item_idx)) == len(row.item_idx)
        assert set(row.weight) == {cfg.generate.synthetic_weight}
        assert (row.model, row.model_version, row.strategy, row.seed) == (
            "multvae",
            RUN_ID,
            "densify",
            cfg.generate.seed,
        )


def test_augmented_is_real_plus_synthetic(spark, cfg, pipeline_run):
    augmented = read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN).where(F.col("run_id") == RUN_ID)
    real = read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).count()
    assert augmented.where(~F.col("is_synthetic")).count() == real
    assert augmented.where(F.col("is_synthetic")).count() == synthetic(spark, cfg).count()


def test_sampling_is_deterministic_across_partitionings(spark, cfg, pipeline_run):
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"])
    folder = str(model_dir(cfg, RUN_ID).resolve())
    gen = cfg.generate
    args = (folder, gen.max_user_items, gen.items_per_user, gen.synthetic_weight, gen.seed)
    one = {r.user_idx: list(r.item_idx) for r in densify(train.coalesce(1), *args).collect()}
    many = {r.user_idx: list(r.item_idx) for r in densify(train.repartition(5), *args).collect()}
    written = {r.user_idx: list(r.item_idx) for r in synthetic(spark, cfg).collect()}
    assert one == many == written
    other_seed = densify(
        train, folder, gen.max_user_items, gen.items_per_user, gen.synthetic_weight, gen.seed + 1
    ).collect()
    assert {r.user_idx: list(r.item_idx) for r in other_seed} != written


def test_rerun_replaces_only_its_own_rows(spark, cfg, pipeline_run):
    other = "other-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, other), dirs_exist_ok=True)
    run_generate(spark, cfg, other)
    before = synthetic(spark, cfg).count(), synthetic(spark, cfg, other).count()
    run_generate(spark, cfg, RUN_ID)
    after = synthetic(spark, cfg).count(), synthetic(spark, cfg, other).count()
    assert before == after
    assert before[0] == before[1] > 0


def test_missing_model_is_a_clear_error(spark, cfg, pipeline_run):
    with pytest.raises(FileNotFoundError, match="samplegen train"):
        run_generate(spark, cfg, "never-trained")


def test_weights_are_float_arrays(spark, cfg, pipeline_run):
    row = synthetic(spark, cfg).first()
    assert np.asarray(row.weight).dtype == np.float64  # Spark returns Python floats


def test_failed_stage_is_recorded_in_the_manifest(spark, cfg, pipeline_run):
    from samplegen.pipeline import run_stages
    from samplegen.runinfo import read_manifest

    with pytest.raises(FileNotFoundError):
        run_stages(spark, cfg, "failing-run", ["generate"])
    record = read_manifest(cfg.reports_root, "failing-run")["stages"]["generate"]
    assert record["status"] == "failed"
    assert "samplegen train" in record["metrics"]["error"]

import dataclasses
import shutil

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.evaluate import load_eval_data
from samplegen.generate import run_generate
from samplegen.generate.densify import densify
from samplegen.generate.synthetic_users import synthetic_users
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    ITEM_INDEX,
    SYNTHETIC_INTERACTIONS,
    USER_INDEX,
    read_table,
)
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


SYN_RUN = "synthetic-users-run"


@pytest.fixture(scope="module")
def synthetic_users_run(spark, cfg, pipeline_run):
    """A second run of the pipeline's model with the synthetic_users strategy."""
    generate = dataclasses.replace(cfg.generate, strategy="synthetic_users", synthetic_users=40)
    syn_cfg = dataclasses.replace(cfg, generate=generate)
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, SYN_RUN), dirs_exist_ok=True)
    return syn_cfg, run_generate(spark, syn_cfg, SYN_RUN)


def test_synthetic_users_are_new_namespaced_and_private(spark, cfg, synthetic_users_run):
    syn_cfg, result = synthetic_users_run
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    real_sets = [set(r.item_idx) for r in train]
    sizes = [len(s) for s in real_sets]
    rows = synthetic(spark, cfg, SYN_RUN).collect()
    m = result.metrics
    assert m["privacy_filter"] == "on" and m["privacy_drawn"] == 40
    assert m["privacy_kept"] == len(rows) > 0
    assert m["privacy_kept"] + m["privacy_dropped_copies"] + m["privacy_dropped_similar"] == 40
    n_index = read_table(spark, cfg.lakehouse, USER_INDEX).count()
    for row in rows:
        prefix, run, n = row.user_id.split(":")
        assert (prefix, run) == ("syn", SYN_RUN) and 0 <= int(n) < 40
        assert row.user_idx == n_index + int(n)  # after every real index
        assert row.strategy == "synthetic_users" and row.model_version == SYN_RUN
        items = set(row.item_idx)
        assert len(items) == len(row.item_idx) and min(sizes) <= len(items) <= max(sizes)
        assert max(len(items & s) / len(items | s) for s in real_sets) <= 0.8
    augmented = read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN).where(F.col("run_id") == SYN_RUN)
    assert augmented.where(F.col("is_synthetic")).count() == len(rows)
    real_ids = {r.user_id for r in read_table(spark, cfg.lakehouse, USER_INDEX).collect()}
    written = read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS).select("user_id").collect()
    assert not {r.user_id for r in written} & real_ids  # no real id in any run's rows

    data = load_eval_data(spark, syn_cfg, SYN_RUN)
    assert data.new_users.shape == (len(rows), data.real.shape[1])
    assert data.training_matrix("augmented").shape[0] == data.real.shape[0] + len(rows)


def test_synthetic_users_do_not_depend_on_partitioning(spark, cfg, synthetic_users_run):
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"])
    folder = str(model_dir(cfg, SYN_RUN).resolve())
    gen = cfg.generate

    def draw(frame):
        rows = synthetic_users(frame, folder, 12, gen.max_user_items, 10_000, 0.5, gen.seed, "r")
        return {r.user_id: list(r.item_idx) for r in rows.collect()}

    assert draw(train.coalesce(1)) == draw(train.repartition(4))


def test_a_baseline_runs_through_the_same_path_without_a_model(spark, cfg, pipeline_run):
    generate = dataclasses.replace(cfg.generate, strategy="substitute", synthetic_users=30)
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), "baseline-run")
    rows = synthetic(spark, cfg, "baseline-run").collect()
    assert not model_dir(cfg, "baseline-run").exists()  # no model was needed
    assert result.metrics["privacy_drawn"] == 30 and result.metrics["privacy_kept"] == len(rows)
    assert {(r.strategy, r.model) for r in rows} == {("substitute", "none")}
    assert all(r.user_id.startswith("syn:baseline-run:") for r in rows)


@pytest.mark.parametrize("strategy", ["long_tail", "category_balance"])
def test_quota_strategies_reach_their_targets(spark, cfg, pipeline_run, strategy):
    run = f"{strategy}-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
    generate = dataclasses.replace(cfg.generate, strategy=strategy, tail_share=0.6)
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), run)
    m = result.metrics
    groups = [key.split("/", 1)[1] for key in m if key.startswith("target_share/")]
    assert sorted(groups) == ["head", "tail"] if strategy == "long_tail" else len(groups) == 10
    if strategy == "long_tail":
        assert sum(m[f"target_share/{g}"] for g in groups) == pytest.approx(1.0, abs=1e-3)
    for g in groups:  # quotas are exact per user and unbiased, so the totals follow the targets
        assert m[f"achieved_share/{g}"] == pytest.approx(m[f"target_share/{g}"], abs=0.05)
    assert m["share_gap/max"] <= 0.05
    if strategy == "long_tail":
        assert m["target_share/tail"] == 0.6 and m["real_share/tail"] < 0.6
    train = {
        r.user_idx: set(r.item_idx)
        for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    }
    for row in synthetic(spark, cfg, run).collect():
        assert row.strategy == strategy and not set(row.item_idx) & train[row.user_idx]


def test_a_retried_task_writes_the_same_rows(spark, cfg, pipeline_run):
    """Every task's first attempt dies after sampling; the retries must draw the same rows."""
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).repartition(3)
    folder = str(model_dir(cfg, RUN_ID).resolve())
    gen = cfg.generate
    drawn = densify(
        train, folder, gen.max_user_items, gen.items_per_user, gen.synthetic_weight, gen.seed
    )

    def fail_first_attempt(batches):
        from pyspark import TaskContext

        rows = list(batches)  # the draw has run in this attempt
        if TaskContext.get().attemptNumber() == 0:
            raise RuntimeError("planted failure on the first attempt")
        yield from rows

    retried = drawn.mapInPandas(fail_first_attempt, schema=drawn.schema).collect()
    assert {r.user_idx: list(r.item_idx) for r in retried} == {
        r.user_idx: list(r.item_idx) for r in synthetic(spark, cfg).collect()
    }


def test_interpolated_users_are_new_and_private(spark, cfg, pipeline_run):
    run = "interpolate-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
    generate = dataclasses.replace(cfg.generate, strategy="interpolate", synthetic_users=20)
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), run)
    m = result.metrics
    rows = synthetic(spark, cfg, run).collect()
    assert m["privacy_drawn"] == 20 and m["privacy_kept"] == len(rows) > 0
    sizes = [r.n_items for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()]
    for row in rows:
        assert row.user_id.startswith(f"syn:{run}:") and row.strategy == "interpolate"
        assert min(sizes) <= len(set(row.item_idx)) == len(row.item_idx) <= max(sizes)
    gan = dataclasses.replace(cfg.train, model="gan")
    with pytest.raises(ValueError, match="multvae, cvae"):
        run_generate(spark, dataclasses.replace(cfg, generate=generate, train=gan), run)


def test_cross_category_links_new_categories_and_reports_the_pairs(spark, cfg, pipeline_run):
    run = "cross-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
    generate = dataclasses.replace(cfg.generate, strategy="cross_category")
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), run)
    pairs = {k: v for k, v in result.metrics.items() if k.startswith("pair_share/")}
    assert pairs and all(" -> " in k for k in pairs) and 0 < sum(pairs.values()) <= 1.0001
    category = {
        r.item_idx: r.category for r in read_table(spark, cfg.lakehouse, ITEM_INDEX).collect()
    }
    train = {
        r.user_idx: set(r.item_idx)
        for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    }
    rows = synthetic(spark, cfg, run).collect()
    assert rows
    for row in rows:
        own = {category[i] for i in train[row.user_idx]}
        assert not {category[i] for i in row.item_idx} & own

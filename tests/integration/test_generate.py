import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from samplegen.evaluate import load_eval_data
from samplegen.evaluate.sequential import augmented_sequences, load_sequences, sequence_rows
from samplegen.features.text import embed_texts, item_texts, with_text_embeddings
from samplegen.generate import run_generate
from samplegen.generate.augmented import combined_synthetic
from samplegen.generate.context import next_index
from samplegen.generate.densify import densify
from samplegen.generate.new_items import new_items, plan_new_items, seen_before_cut, train_cut
from samplegen.generate.new_users import NewUserPlan
from samplegen.generate.prepend import prepend
from samplegen.generate.seq_edit import edited_users, seed_sequences
from samplegen.generate.synthetic_users import synthetic_users
from samplegen.models.store import model_dir
from samplegen.registry import Stream
from samplegen.tables import (
    AUGMENTED_TRAIN,
    CATALOGUE,
    DATA_PROFILE,
    EVENTS_CLEAN,
    INTERACTIONS,
    ITEM_FEATURES,
    ITEM_INDEX,
    SEQUENCES,
    SYNTHETIC_INTERACTIONS,
    USER_INDEX,
    read_table,
)
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
        plan = NewUserPlan(12, gen.max_user_items, 10_000, 0.5, gen.seed, "r")
        rows = synthetic_users(frame, folder, plan)
        return {r.user_id: list(r.item_idx) for r in rows.collect()}

    assert draw(train.coalesce(1)) == draw(train.repartition(4))


def test_synthetic_users_from_the_prior(spark, cfg, synthetic_users_run):
    run = "prior-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
    generate = dataclasses.replace(
        cfg.generate, strategy="synthetic_users", synthetic_users=20, synthetic_from="prior"
    )
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), run)
    rows = synthetic(spark, cfg, run).collect()
    assert result.metrics["privacy_drawn"] == 20 and len(rows) == result.metrics["privacy_kept"]
    assert rows and all(r.user_id.startswith(f"syn:{run}:") for r in rows)
    # new user n has the same seed user and random stream in both runs: only the source
    # differs (an undertrained model's popularity bias makes many baskets agree anyway)
    posterior = {
        r.user_id.split(":")[-1]: r.item_idx for r in synthetic(spark, cfg, SYN_RUN).collect()
    }
    prior = {r.user_id.split(":")[-1]: r.item_idx for r in rows}
    both = set(posterior) & set(prior)
    assert both and sum(posterior[n] != prior[n] for n in both) > 0
    gan = dataclasses.replace(cfg.train, model="gan")
    with pytest.raises(ValueError, match="multvae, cvae"):
        run_generate(spark, dataclasses.replace(cfg, generate=generate, train=gan), run)


def test_a_baseline_runs_through_the_same_path_without_a_model(spark, cfg, pipeline_run):
    generate = dataclasses.replace(cfg.generate, strategy="substitute", synthetic_users=30)
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), "baseline-run")
    rows = synthetic(spark, cfg, "baseline-run").collect()
    assert not model_dir(cfg, "baseline-run").exists()  # no model was needed
    assert result.metrics["privacy_drawn"] == 30 and result.metrics["privacy_kept"] == len(rows)
    assert {(r.strategy, r.model) for r in rows} == {("substitute", "none")}
    assert all(r.user_id.startswith("syn:baseline-run:") for r in rows)


def real_sequences(spark, cfg):
    """Each train user's items in order of their first clean event (pandas, by hand)."""
    events = read_table(spark, cfg.lakehouse, EVENTS_CLEAN).toPandas()
    users = read_table(spark, cfg.lakehouse, USER_INDEX).toPandas()[["user_id", "user_idx"]]
    items = read_table(spark, cfg.lakehouse, ITEM_INDEX).toPandas()[["item_id", "item_idx"]]
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).toPandas()
    first = (
        events.merge(users, on="user_id")
        .merge(items, on="item_id")
        .groupby(["user_idx", "item_idx"], as_index=False)["event_time"]
        .min()
        .sort_values(["user_idx", "event_time", "item_idx"])
    )
    ordered = first.groupby("user_idx")["item_idx"].apply(list).to_dict()
    return {
        int(row.user_idx): [i for i in ordered[row.user_idx] if i in set(row.item_idx)]
        for row in train.itertuples()
    }


@pytest.mark.parametrize("strategy", ["crop", "reorder"])
def test_sequence_baselines_act_on_time_ordered_histories(spark, cfg, pipeline_run, strategy):
    run = f"{strategy}-run"
    generate = dataclasses.replace(
        cfg.generate, strategy=strategy, synthetic_users=30, privacy_filter=strategy == "crop"
    )
    run_generate(spark, dataclasses.replace(cfg, generate=generate), run)
    rows = synthetic(spark, cfg, run).collect()
    sequences = real_sequences(spark, cfg)
    thin = [s for s in sequences.values() if len(s) < cfg.generate.max_user_items]
    assert len(rows) >= 25 and {(r.strategy, r.model) for r in rows} == {(strategy, "none")}
    for row in rows:
        got = list(row.item_idx)
        if strategy == "crop":  # a contiguous stretch of some thin user's time-ordered items
            assert any(
                got == seq[i : i + len(got)] for seq in thin for i in range(len(seq)) if seq
            ), got
        else:  # a thin user's items, their order changed inside one stretch only
            matches = [seq for seq in thin if sorted(seq) == sorted(got)]
            assert matches, got
            spans = [np.flatnonzero(np.array(seq) != np.array(got)) for seq in matches]
            assert any(len(d) == 0 or d[-1] - d[0] < max(2, round(0.5 * len(got))) for d in spans)
    if strategy == "reorder":  # order is kept in the table, so some rows are not sorted
        assert any(list(r.item_idx) != sorted(r.item_idx) for r in rows)
    # the order is not lost on the way to augmented_train
    augmented = read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN).where(F.col("run_id") == run)
    written = {r.user_idx: list(r.item_idx) for r in augmented.collect()}
    assert all(written[r.user_idx] == list(r.item_idx) for r in rows)


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


def test_interpolated_users_are_new_and_private(spark, cfg, synthetic_users_run):
    run = "interpolate-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
    generate = dataclasses.replace(
        cfg.generate, strategy="interpolate", synthetic_users=20, augment_runs=[SYN_RUN, RUN_ID]
    )
    result = run_generate(spark, dataclasses.replace(cfg, generate=generate), run)
    m = result.metrics
    rows = synthetic(spark, cfg, run).collect()
    assert m["privacy_drawn"] == 20 and m["privacy_kept"] == len(rows) > 0
    sizes = [r.n_items for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()]
    for row in rows:
        assert row.user_id.startswith(f"syn:{run}:") and row.strategy == "interpolate"
        assert min(sizes) <= len(set(row.item_idx)) == len(row.item_idx) <= max(sizes)
    # augmented_train: this run's rows as written, then the other runs' with fresh new users
    combined = [
        r
        for r in read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN)
        .where((F.col("run_id") == run) & F.col("is_synthetic"))
        .collect()
    ]
    own, others = (
        {(r.user_idx, tuple(r.item_idx)) for r in synthetic(spark, cfg, other).collect()}
        for other in (run, SYN_RUN)
    )
    densified = {(r.user_idx, tuple(r.item_idx)) for r in synthetic(spark, cfg, RUN_ID).collect()}
    pairs = {(r.user_idx, tuple(r.item_idx)) for r in combined}
    assert len(combined) == len(own) + len(others) + len(densified)
    assert own | densified <= pairs
    last_own = max(u for u, _ in own)
    shifted = pairs - own - densified
    assert sorted(items for _, items in shifted) == sorted(items for _, items in others)
    assert min(u for u, _ in shifted) == last_own + 1  # after this run's new users
    assert result.metrics["augmented_from_runs"] == [run, SYN_RUN, RUN_ID]
    missing = dataclasses.replace(generate, augment_runs=["never-run"])
    with pytest.raises(ValueError, match="never-run"):
        run_generate(spark, dataclasses.replace(cfg, generate=missing), run)
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


def test_new_items_reach_real_users_and_are_evaluated(spark, cfg, pipeline_run):
    run = "new-items-run"
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run), dirs_exist_ok=True)
    generate = dataclasses.replace(cfg.generate, strategy="new_items", new_items=12)
    run_cfg = dataclasses.replace(cfg, generate=generate)
    result = run_generate(spark, run_cfg, run)
    m = result.metrics
    assert m["new_items"] == 12 and m["new_items/candidates"] >= 12
    assert -1.0 < m["attribute_map/holdout_r2"] <= 1.0
    assert 0.0 <= m["attribute_map/holdout_user_auc"] <= 1.0
    assert 0.0 <= m["attribute_map/mean_row_user_auc"] <= 1.0
    index = read_table(spark, cfg.lakehouse, ITEM_INDEX)
    n_items = index.count()
    indexed = {r.item_id for r in index.select("item_id").collect()}
    catalogue = {r.item_id for r in read_table(spark, cfg.lakehouse, CATALOGUE).collect()}
    train_users = {
        r.user_idx for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    }
    rows = synthetic(spark, cfg, run).collect()
    assert rows and all(r.user_idx in train_users and r.user_id is None for r in rows)
    ids_of = {}
    for row in rows:
        assert row.strategy == "new_items" and len(row.item_ids) == len(row.item_idx)
        assert all(i >= n_items for i in row.item_idx)
        ids_of.update(zip(row.item_idx, row.item_ids, strict=True))
    assert set(ids_of) == set(range(n_items, n_items + 12))  # every new item got users
    assert len(set(ids_of.values())) == 12
    assert set(ids_of.values()) <= catalogue - indexed
    cut = train_cut(read_table(spark, cfg.lakehouse, DATA_PROFILE))
    tables = (
        read_table(spark, cfg.lakehouse, ITEM_FEATURES),
        read_table(spark, cfg.lakehouse, CATALOGUE),
        str(model_dir(cfg, run)),
        12,
        generate.seed,
    )
    seen = seen_before_cut(read_table(spark, cfg.lakehouse, EVENTS_CLEAN), cut)
    plan = plan_new_items(*tables, seen=seen)
    # The same draw of counts (same seed and item count), scaled and rounded, at least 1.
    fewer = plan_new_items(*tables, seen=seen, users_scale=0.3)
    scaled = np.maximum(np.rint(plan.users_per_item * 0.3), 1)
    assert fewer.users_per_item.tolist() == scaled.tolist() and fewer.users_per_item.min() >= 1
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"])
    args = (str(model_dir(cfg, run)), plan.rows, plan.bias, plan.users_per_item, plan.item_ids)
    one, three = (
        {r.user_idx: list(r.item_idx) for r in new_items(t, *args, n_items, 0.5, 7).collect()}
        for t in (train.coalesce(1), train.repartition(3))
    )
    assert one == three == {r.user_idx: list(r.item_idx) for r in rows}
    data = load_eval_data(spark, cfg, run)
    assert data.n_items == n_items and data.augmented.shape[1] == n_items + 12
    assert data.augmented[:, n_items:].sum() > 0 and data.real[:, n_items:].sum() == 0


def test_new_items_read_text_embeddings_when_item_features_has_them(spark, cfg, pipeline_run):
    features = read_table(spark, cfg.lakehouse, ITEM_FEATURES)
    assert features.where(F.col("text_embedding").isNotNull()).count() == 0  # off by default
    embedded = with_text_embeddings(features.drop("text_embedding")).localCheckpoint()
    rows = embedded.orderBy("item_idx").limit(5).collect()
    expected = embed_texts(item_texts(pd.DataFrame([r.asDict() for r in rows])))
    assert np.allclose(np.array([r.text_embedding for r in rows]), expected, atol=1e-5)
    without = plan_new_items(
        features, read_table(spark, cfg.lakehouse, CATALOGUE), str(model_dir(cfg, RUN_ID)), 8, 7
    )
    with_text = plan_new_items(
        embedded, read_table(spark, cfg.lakehouse, CATALOGUE), str(model_dir(cfg, RUN_ID)), 8, 7
    )
    assert with_text.item_ids == without.item_ids  # same candidates, a richer map
    assert with_text.metrics["attribute_map/text"] and not without.metrics["attribute_map/text"]
    extra = with_text.metrics["attribute_map/features"] - without.metrics["attribute_map/features"]
    assert extra == 384 and not np.allclose(with_text.rows, without.rows)


def test_combined_runs_share_a_column_per_new_catalogue_item(spark):
    rows = spark.createDataFrame(
        [
            ("a", None, 5, [10, 11], [0.5, 0.5], ["x", "y"]),
            ("b", None, 5, [10, 11], [0.5, 0.5], ["y", "z"]),
            ("b", "syn:b:0", 7, [1], [0.5], None),
            ("a", "syn:a:0", 7, [2], [0.5], None),
        ],
        "run_id string, user_id string, user_idx int, item_idx array<int>, "
        "weight array<float>, item_ids array<string>",
    )
    combined = combined_synthetic(rows, ["a", "b"], first_user_idx=7, first_item_idx=10)
    got = sorted((r.user_idx, list(r.item_idx)) for r in combined.collect())
    # y keeps run a's column 11, z takes the next free one; b's new user follows a's
    assert got == [(5, [10, 11]), (5, [11, 12]), (7, [2]), (8, [1])]


def test_prepend_puts_pseudo_prior_items_before_short_histories(spark, cfg, pipeline_run):
    run = "prepend-run"
    gen = dataclasses.replace(cfg.generate, strategy="prepend")
    run_cfg = dataclasses.replace(cfg, generate=gen)
    run_generate(spark, run_cfg, run, model_run=RUN_ID)
    rows = {r.user_idx: r for r in synthetic(spark, cfg, run).collect()}
    stored = read_table(spark, cfg.lakehouse, SEQUENCES).collect()
    history = {r.user_idx: list(r.train_items) for r in stored}
    held_out = {r.user_idx: set(r.valid_items) | set(r.test_items) for r in stored}
    owned = {
        r.user_idx: set(r.item_idx)
        for r in read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).collect()
    }
    short = {u for u, s in history.items() if 0 < len(s) <= gen.prepend_max_history}
    assert short and set(rows) == short & set(owned)  # one row per short-history user, no other
    for user, row in rows.items():
        assert len(row.item_idx) == len(set(row.item_idx)) == gen.prepend_items
        assert not set(row.item_idx) & owned[user]
        assert not set(row.item_idx) & held_out[user]  # no valid/test item of the same user
        assert set(row.weight) == {gen.synthetic_weight} and row.strategy == "prepend"
    # deterministic per seed, whatever the partitioning
    n_items = read_table(spark, cfg.lakehouse, ITEM_INDEX).count()  # the vocabulary, as stage 4
    args = (str(model_dir(cfg, RUN_ID).resolve()), n_items)
    args += (gen.prepend_max_history, gen.prepend_items, gen.prepend_candidates)
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"]).repartition(3)
    sequences = read_table(spark, cfg.lakehouse, SEQUENCES)
    again = prepend(train, sequences, *args, gen.synthetic_weight, gen.seed).collect()
    assert {r.user_idx: list(r.item_idx) for r in again} == {
        u: list(r.item_idx) for u, r in rows.items()
    }
    # sasrec's augmented sequences (from augmented_train, as stage 4 reads it): the
    # pseudo-prior items in written order, then the real history
    added = (
        read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN)
        .where((F.col("run_id") == run) & F.col("is_synthetic"))
        .select("user_idx", "item_idx")
        .toPandas()
    )
    real = {u: np.asarray(s, dtype=np.int32) for u, s in sorted(history.items())}
    trained = augmented_sequences(real, added, max(history), n_items)
    assert len(trained) == len(real)  # no new users
    for (user, sequence), augmented in zip(real.items(), trained, strict=True):
        expected = list(rows[user].item_idx) if user in rows else []
        assert list(augmented) == expected + list(sequence)
    # scored as pseudo-prior augmentation is used at inference (sequence_history=augmented):
    # the augmented variant's history is the prepended items, then the real one
    settings = dataclasses.replace(
        cfg.evaluate,
        recommenders=["sasrec"],
        sequence_history="augmented",
        sasrec_epochs=1,
        sasrec_hidden=8,
        sasrec_layers=1,
        repeats=1,
        bootstrap_samples=20,
    )
    scored_cfg = dataclasses.replace(run_cfg, evaluate=settings)
    data = load_eval_data(spark, scored_cfg, run)
    sequences = load_sequences(spark, scored_cfg, data)
    split, augmented = sequences.scored["real"], sequences.scored["augmented"]
    trained_by_user = dict(zip(real, trained, strict=True))
    for user, on_valid, on_test, real_test in zip(
        split.users,
        augmented.histories("valid"),
        augmented.histories("test"),
        split.histories("test"),
        strict=True,
    ):
        prefix = list(rows[user].item_idx) if user in rows else []
        assert list(on_valid) == list(trained_by_user[user])  # what the model trained on
        assert list(on_test) == prefix + list(real_test)
    extended = sum(int(u) in rows for u in split.users)
    assert extended > 0 and sequences.users_extended == extended
    metrics, facts = sequence_rows(spark, scored_cfg, data)
    assert facts["sequence users with added items"] == extended
    assert facts["sequence users with their test item added"] == 0  # prepend never adds them
    assert {r.variant for r in metrics} >= {"real", "augmented"}


def test_insert_adds_posterior_items_inside_thin_users_sequences(spark, cfg, pipeline_run):
    run = "insert-run"
    gen = dataclasses.replace(
        cfg.generate, strategy="insert", synthetic_users=30, privacy_filter=False
    )
    run_generate(spark, dataclasses.replace(cfg, generate=gen), run, model_run=RUN_ID)
    rows = sorted(synthetic(spark, cfg, run).collect(), key=lambda r: r.user_idx)
    first_user = next_index(read_table(spark, cfg.lakehouse, USER_INDEX), "user_idx")
    plan = NewUserPlan(30, gen.max_user_items, first_user, gen.synthetic_weight, gen.seed, run)
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"])
    sequences = read_table(spark, cfg.lakehouse, SEQUENCES)
    seeds = {r.n: r for r in seed_sequences(train, sequences, plan, Stream.INSERT).collect()}
    assert len(rows) == 30
    assert {(r.strategy, r.model) for r in rows} == {("insert", cfg.train.model)}
    for row in rows:
        seed = seeds[row.user_idx - first_user]
        got, history = list(row.item_idx), list(seed.train_items)
        added = [i for i in got if i not in history]
        assert [i for i in got if i in history] == history  # the seed's order survives
        assert len(added) == len(set(added)) == gen.insert_items
        # no valid/test item of the seed user
        assert not set(added) & (set(seed.valid_items) | set(seed.test_items))
    # deterministic per seed, whatever the partitioning
    n_items = read_table(spark, cfg.lakehouse, ITEM_INDEX).count()  # the vocabulary, as stage 4
    args = (str(model_dir(cfg, RUN_ID).resolve()), n_items, "insert")
    again = edited_users(
        train.repartition(3), sequences, *args, gen.insert_items, gen.insert_candidates, plan
    ).collect()
    assert {r.user_idx: list(r.item_idx) for r in again} == {
        r.user_idx: list(r.item_idx) for r in rows
    }
    # sasrec's training sequences (from augmented_train, as stage 4 reads it): each new user
    # is a sequence of its own, in the written order
    added_rows = (
        read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN)
        .where((F.col("run_id") == run) & F.col("is_synthetic"))
        .select("user_idx", "item_idx")
        .toPandas()
    )
    real = {
        r.user_idx: np.asarray(r.train_items, dtype=np.int32)
        for r in sorted(sequences.collect(), key=lambda r: r.user_idx)
    }
    trained = augmented_sequences(real, added_rows, first_user - 1, n_items)
    assert [list(s) for s in trained[len(real) :]] == [list(r.item_idx) for r in rows]

"""Stage-1 tabular tables: user_features, item_features and samples_ctr (with sampled negatives).

Everything here reads the tables of the session's small run (``pipeline_run``); the negative
sampler is also called directly on the stored real rows to check determinism and counts.
"""

import pytest
from pyspark.sql import functions as F

from samplegen.features.tabular import sample_negatives
from samplegen.tables import (
    DATA_PROFILE,
    INTERACTIONS,
    ITEM_FEATURES,
    ITEM_INDEX,
    SAMPLES_CTR,
    USER_FEATURES,
    USER_INDEX,
    read_table,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CTR_COLUMNS = [
    ("user_id", "string"),
    ("item_id", "string"),
    ("user_idx", "int"),
    ("item_idx", "int"),
    ("split", "string"),
    ("event_time", "timestamp"),
    ("label", "int"),
    ("source", "string"),
    ("query", "string"),
    ("category", "string"),
    ("department", "string"),
    ("brand", "string"),
    ("price", "double"),
    ("user_events", "bigint"),
    ("user_days_since_last", "double"),
    ("item_users", "bigint"),
    ("item_purchase_rate", "double"),
]
REAL_COLUMNS = ["user_id", "item_id", "user_idx", "item_idx", "split", "event_time", "label"]


def table(spark, cfg, t):
    return read_table(spark, cfg.lakehouse, t)


def columns(df):
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def real_rows(spark, cfg):
    return table(spark, cfg, SAMPLES_CTR).where(F.col("source") == "interaction")


def negative_rows(df):
    return df.where(F.col("source") == "sampled_negative")


def as_set(df):
    return {tuple(r) for r in df.select(*REAL_COLUMNS).collect()}


def test_tables_have_their_declared_schemas(spark, cfg, pipeline_run):
    assert columns(table(spark, cfg, SAMPLES_CTR)) == CTR_COLUMNS
    assert [(f.name, f.dataType.simpleString()) for f in SAMPLES_CTR.schema.fields] == CTR_COLUMNS
    for t in (USER_FEATURES, ITEM_FEATURES):
        declared = [(f.name, f.dataType.simpleString()) for f in t.schema.fields]
        assert columns(table(spark, cfg, t)) == declared
    rows = pipeline_run["aggregate"].rows
    for t in (USER_FEATURES, ITEM_FEATURES, SAMPLES_CTR):
        assert rows[t.name] == table(spark, cfg, t).count() > 0
        assert t.name in pipeline_run["aggregate"].outputs


def test_user_features_agree_with_the_index_and_train_rows(spark, cfg, pipeline_run):
    users = table(spark, cfg, USER_FEATURES)
    train = table(spark, cfg, INTERACTIONS["train"]).select(
        "user_idx", F.col("n_items").alias("train_items")
    )
    index = table(spark, cfg, USER_INDEX).select(
        "user_idx", "user_id", F.col("n_items").alias("index_items"), "n_events"
    )
    joined = users.join(train, "user_idx").join(index, ["user_idx", "user_id", "n_events"])
    assert joined.count() == users.count() == index.count()
    assert joined.where("n_items != train_items OR n_items != index_items").count() == 0
    cut = pipeline_run["aggregate"].metrics["valid_from"]
    bad = users.where(
        "n_purchases > n_events OR n_items > n_events OR n_sessions < 1"
        " OR first_event_time > last_event_time OR days_since_last <= 0"
        f" OR last_event_time >= timestamp'{cut}'"
        " OR (top_category IS NULL) != (category_count = 0)"
    )
    assert bad.count() == 0


def test_item_features_are_consistent(spark, cfg, pipeline_run):
    items = table(spark, cfg, ITEM_FEATURES)
    index = table(spark, cfg, ITEM_INDEX).select(
        "item_idx", "item_id", F.col("n_users").alias("index_users")
    )
    joined = items.join(index, ["item_idx", "item_id"])
    assert joined.count() == items.count() == index.count()
    bad = joined.where(
        "n_users != index_users OR n_users > n_events OR n_purchases > n_events"
        " OR abs(purchase_rate - n_purchases / n_events) > 1e-12"
        " OR min_price > mean_price * (1 + 1e-9) OR mean_price > max_price * (1 + 1e-9)"
        " OR first_event_time IS NULL"
    )
    assert bad.count() == 0
    assert items.where("mean_price IS NOT NULL AND department IS NOT NULL").count() > 0


def test_every_train_interaction_is_a_label_one_row(spark, cfg, pipeline_run):
    pairs = table(spark, cfg, INTERACTIONS["train"]).select(
        "user_idx", F.explode("item_idx").alias("item_idx")
    )
    positives = (
        real_rows(spark, cfg).where("split = 'train' AND label = 1").select("user_idx", "item_idx")
    )
    # completejourney has purchases only, so every real pair is a positive
    assert pairs.subtract(positives).count() == 0
    assert positives.count() == pairs.count()
    samples = table(spark, cfg, SAMPLES_CTR)
    assert {r.split for r in samples.select("split").distinct().collect()} == {
        "train",
        "valid",
        "test",
    }
    assert samples.where("query IS NOT NULL").count() == 0
    features = samples.where(
        "user_events IS NULL OR item_users IS NULL OR item_purchase_rate IS NULL"
    )
    assert features.count() == 0


def test_negatives_avoid_interacted_items_and_follow_popularity(spark, cfg, pipeline_run):
    samples = table(spark, cfg, SAMPLES_CTR)
    negatives = negative_rows(samples)
    assert negatives.count() > 0
    assert negatives.where("label != 0").count() == 0
    keys = ["user_idx", "split", "item_idx"]
    hits = negatives.join(real_rows(spark, cfg).select(*keys), keys)
    assert hits.count() == 0
    # popularity-weighted draws favour popular items: their mean popularity is above the
    # vocabulary's plain mean
    drawn_mean = negatives.agg(F.avg("item_users")).first()[0]
    vocabulary_mean = table(spark, cfg, ITEM_FEATURES).agg(F.avg("n_users")).first()[0]
    assert drawn_mean > vocabulary_mean


def per_positive_mismatches(rows, k):
    """(user, split, event_time) groups whose negatives are not k per positive."""
    counts = rows.groupBy("user_idx", "split", "event_time").agg(
        F.sum(F.when(F.col("label") == 1, 1).otherwise(0)).alias("positives"),
        F.sum(F.when(F.col("source") == "sampled_negative", 1).otherwise(0)).alias("negatives"),
    )
    return counts.where(F.col("negatives") != F.col("positives") * k).count()


def test_negative_count_per_positive_follows_the_config(spark, cfg, pipeline_run):
    k = cfg.aggregate.ctr_negatives_per_positive
    assert k == 1
    assert per_positive_mismatches(table(spark, cfg, SAMPLES_CTR), k) == 0
    figures = {r.metric: r.value for r in table(spark, cfg, DATA_PROFILE).collect()}
    assert figures["ctr_label_rate_train"] == pytest.approx(1 / (1 + k))
    assert figures["purchase_rate_train"] == pytest.approx(1.0)


def test_negatives_are_deterministic_and_sized_by_k(spark, cfg, pipeline_run):
    real = real_rows(spark, cfg).select(*REAL_COLUMNS)
    items = table(spark, cfg, ITEM_FEATURES)
    k, seed = cfg.aggregate.ctr_negatives_per_positive, cfg.aggregate.ctr_seed
    stored = as_set(negative_rows(table(spark, cfg, SAMPLES_CTR)))
    # another session, another partitioning: the same draws
    rerun = sample_negatives(real.repartition(5, "item_idx"), items, k, seed)
    assert as_set(rerun) == stored

    # draws are per split, so the test split alone gives its negatives of the whole table
    test_real = real.where("split = 'test'").coalesce(1)
    stored_test = {r for r in stored if r[4] == "test"}
    three = sample_negatives(test_real, items, 3, seed).persist()
    with_source = test_real.withColumn("source", F.lit("interaction"))
    assert per_positive_mismatches(with_source.unionByName(three), 3) == 0
    assert stored_test <= as_set(three)  # same seed: the first draws are the same
    three.unpersist()
    other_seed = as_set(sample_negatives(test_real, items, k, seed + 1))
    assert other_seed and other_seed != stored_test

    assert sample_negatives(real, items, 0, seed).count() == 0
    with pytest.raises(ValueError, match="ctr_negatives_per_positive"):
        sample_negatives(real, items, -1, seed)

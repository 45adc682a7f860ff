"""Stage-1 options on small hand-made events: indices, leave-last-n, sequences, decay, skew."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from samplegen.config import AggregateConfig
from samplegen.features.heavy_users import heavy_users
from samplegen.features.interactions import (
    build_item_index,
    build_user_index,
    decay_weights,
    extend_index,
    interaction_rows,
    number_in_order,
    ranked_rows,
    split_leave_last,
    time_quantiles,
    user_item_lists,
    user_item_pairs,
    weighted_events,
)
from samplegen.features.sequences import user_sequences
from samplegen.features.tabular import _popularity_buckets
from samplegen.spark import SORTED_AGGREGATION, sql_settings

pytestmark = [pytest.mark.spark]

T0 = datetime(2026, 1, 1)
OPEN = AggregateConfig(min_item_users=1, min_user_items=1, top_n_items=100)


def events(spark, rows, split="train"):
    """(user, item, hours after T0) -> events with weight 1 and no price in ``split``."""
    data = [(u, i, "view", T0 + timedelta(hours=h), None, 1.0, 0, split) for u, i, h in rows]
    return spark.createDataFrame(
        data, "user_id string, item_id string, event_type string, event_time timestamp, "
        "price double, w double, event_rank int, split string",
    )  # fmt: skip


def no_catalogue(spark):
    return spark.createDataFrame([], "item_id string, category string")


def as_dict(df, id_col, idx_col):
    return {r[id_col]: r[idx_col] for r in df.collect()}


def build_indices(pairs, catalogue, cfg, previous=(None, None)):
    """(users, items) as run_aggregate builds them: item index, train lists, user index."""
    old_users, old_items = previous
    items = build_item_index(pairs, catalogue, cfg, old_items).localCheckpoint()
    users = build_user_index(user_item_lists(pairs, items, "train", 50.0), cfg, old_users)
    return users, items


def test_indices_survive_new_data(spark):
    first = events(spark, [("u1", "b", 1), ("u2", "c", 2), ("u3", "b", 3), ("u3", "d", 4)])
    users1, items1 = build_indices(user_item_pairs(first), no_catalogue(spark), OPEN)
    users1, items1 = users1.localCheckpoint(), items1.localCheckpoint()
    assert as_dict(users1, "user_id", "user_idx") == {"u1": 0, "u2": 1, "u3": 2}
    assert as_dict(items1, "item_id", "item_idx") == {"b": 0, "c": 1, "d": 2}

    # u0 and item "a" sort first but are new; u2 and item c are absent from the new load.
    second = events(spark, [("u0", "a", 1), ("u1", "b", 2), ("u3", "d", 3), ("u4", "e", 4)])
    users2, items2 = build_indices(
        user_item_pairs(second), no_catalogue(spark), OPEN, previous=(users1, items1)
    )
    users = {r.user_id: r for r in users2.collect()}
    items = {r.item_id: r for r in items2.collect()}
    assert {u: r.user_idx for u, r in users.items()} == {
        "u1": 0,
        "u2": 1,
        "u3": 2,
        "u0": 3,
        "u4": 4,
    }
    assert {i: r.item_idx for i, r in items.items()} == {"b": 0, "c": 1, "d": 2, "a": 3, "e": 4}
    assert users["u2"].n_items == 0 and users["u3"].n_items == 1
    assert items["c"].n_users == 0 and items["b"].n_users == 1

    fresh_users, _ = build_indices(user_item_pairs(second), no_catalogue(spark), OPEN)
    assert as_dict(fresh_users, "user_id", "user_idx") == {"u0": 0, "u1": 1, "u3": 2, "u4": 3}


def test_vocabulary_is_the_old_one_plus_this_loads_top_items(spark):
    cfg = AggregateConfig(min_item_users=1, min_user_items=1, top_n_items=2)
    first = events(spark, [("u1", "a", 1), ("u2", "a", 1), ("u1", "b", 2), ("u2", "b", 2)])
    users1, items1 = build_indices(user_item_pairs(first), no_catalogue(spark), cfg)
    previous = (users1.localCheckpoint(), items1.localCheckpoint())
    # x and y are now the two most popular items; a and b keep their places.
    second = events(
        spark, [(u, "x", 1) for u in ("u1", "u2", "u3")] + [("u1", "y", 1), ("u2", "y", 1)]
    )
    _, fresh = build_indices(user_item_pairs(second), no_catalogue(spark), cfg)
    assert as_dict(fresh, "item_id", "item_idx") == {"x": 0, "y": 1}
    _, kept = build_indices(user_item_pairs(second), no_catalogue(spark), cfg, previous=previous)
    assert as_dict(kept, "item_id", "item_idx") == {"a": 0, "b": 1, "x": 2, "y": 3}


def test_leave_last_n_holds_out_each_users_latest_items(spark):
    rows = [("A", f"i{k}", k) for k in range(1, 6)] + [("A", "i1", 6)]  # i1 seen again last
    rows += [("B", "j1", 1), ("B", "j2", 2)]  # 2 items <= 2n: all train
    split, cuts = split_leave_last(events(spark, rows).drop("split"), n=1, by="last")
    got = sorted((r.user_id, r.item_id, r.event_time.hour, r.split) for r in split.collect())
    h = T0.hour
    assert got == [
        ("A", "i1", h + 1, "test"),
        ("A", "i1", h + 6, "test"),
        ("A", "i2", h + 2, "train"),
        ("A", "i3", h + 3, "train"),
        ("A", "i4", h + 4, "train"),
        ("A", "i5", h + 5, "valid"),
        ("B", "j1", h + 1, "train"),
        ("B", "j2", h + 2, "train"),
    ]
    assert pd.Timestamp(cuts["train_until"]) == pd.Timestamp(T0 + timedelta(hours=4, seconds=1))


BYS = ("first", "last")


def test_leave_last_by_first_holds_out_the_items_first_had_latest(spark):
    # A: a and e are bought again late, so the two rankings disagree on test and valid.
    rows = [("A", "a", 1), ("A", "a", 10), ("A", "b", 2), ("A", "c", 3), ("A", "d", 4)]
    rows += [("A", "e", 5), ("A", "e", 9)]
    rows += [("B", "p", 1), ("B", "q", 2), ("B", "s", 3), ("B", "r", 3)]  # r, s: tied firsts
    frame = events(spark, rows).drop("split")
    ranked = [split_leave_last(frame, 1, by)[0].withColumn("by", F.lit(by)) for by in BYS]
    pairs = (
        ranked[0]
        .unionByName(ranked[1])
        .groupBy("by", "user_id", "item_id", "split")
        .agg(F.min("event_time").alias("first"), F.count(F.lit(1)).alias("events"))
        .toPandas()  # one Spark job for both rankings
    )
    held_out = {by: pairs[pairs["by"] == by] for by in BYS}
    # every event kept, and all events of a (user, item) pair in one split
    assert all(len(p) == 9 and p["events"].sum() == len(rows) for p in held_out.values())
    of = {
        by: pairs.groupby(["user_id", "split"])["item_id"].apply(sorted).to_dict()
        for by, pairs in held_out.items()
    }
    assert of["first"][("A", "test")] == ["e"] and of["first"][("A", "valid")] == ["d"]
    assert of["last"][("A", "test")] == ["a"] and of["last"][("A", "valid")] == ["e"]
    # ties on the ranked time: the larger id first, under either ranking
    assert of["first"][("B", "test")] == of["last"][("B", "test")] == ["s"]
    assert of["first"][("B", "valid")] == of["last"][("B", "valid")] == ["r"]
    pairs = held_out["first"]
    for user, own in pairs.groupby("user_id"):
        last_train = own.loc[own["split"] == "train", "first"].max()
        assert (own.loc[own["split"] != "train", "first"] >= last_train).all(), user
    old = held_out["last"]  # the leak ``first`` removes: a test item first had before train
    a = old[old["user_id"] == "A"]
    assert a.loc[a["split"] == "test", "first"].min() < a.loc[a["split"] == "train", "first"].max()
    with pytest.raises(ValueError, match="aggregate.leave_last_by"):
        split_leave_last(frame, n=1, by="latest")


def test_sequences_keep_time_order_and_break_ties_by_event_type_then_item_index(spark):
    # (user, item, event type, hours after T0, split); a=0, b=1, c=2, d=3, e=4, f=5.
    rows = [
        ("u", "d", "view", 0, "train"),
        ("u", "b", "purchase", 1, "train"),  # same second as a and c, later in the funnel
        ("u", "c", "view", 1, "train"),
        ("u", "a", "view", 1, "train"),
        ("u", "a", "purchase", 0.5, "train"),  # a's first event: before b and c after all
        ("u", "e", "view", 10, "valid"),
        ("u", "f", "view", 12, "test"),
        ("u", "b", "view", 11, "test"),  # an item in two splits is in both, at its split's time
        ("v", "c", "view", 3, "train"),  # same second, same type: by item index
        ("v", "a", "view", 3, "train"),
        ("v", "e", "view", 5, "train"),  # (e and f need a train user to be in the vocabulary)
        ("v", "f", "view", 6, "train"),
    ]
    data = [(u, i, t, T0 + timedelta(hours=h), None, s) for u, i, t, h, s in rows]
    df = weighted_events(
        spark.createDataFrame(
            data,
            "user_id string, item_id string, event_type string, event_time timestamp, "
            "price double, split string",
        ),
        {"view": 1.0, "cart": 3.0, "purchase": 5.0},
    )
    pairs = user_item_pairs(df)
    users, items = build_indices(pairs, no_catalogue(spark), OPEN)
    got = {r.user_idx: r for r in user_sequences(pairs, items, users).collect()}
    u, v = (as_dict(users, "user_id", "user_idx")[name] for name in ("u", "v"))
    assert got[u].train_items == [3, 0, 2, 1]  # d; a (0.5 h); c before b at 1 h (view < purchase)
    assert (got[u].valid_items, got[u].test_items) == ([4], [1, 5])
    assert got[u].n_ties == 1  # b shares c's second
    assert (got[v].train_items, got[v].n_ties) == ([0, 2, 4, 5], 1)


def test_decay_halves_train_weight_per_half_life(spark):
    df = events(spark, [("u", "a", 0), ("u", "b", 240)]).unionByName(
        events(spark, [("u", "c", 0)], split="test")
    )
    until = (T0 + timedelta(hours=240)).isoformat()
    decayed = {r.item_id: r.w for r in decay_weights(df, 10.0, until).collect()}
    assert decayed == pytest.approx({"a": 0.5, "b": 1.0, "c": 1.0})
    unchanged = {r.item_id: r.w for r in decay_weights(df, 0.0, until).collect()}
    assert unchanged == {"a": 1.0, "b": 1.0, "c": 1.0}


def executed_plan(df) -> str:
    """The plan ``df`` last ran with (adaptive execution's final plan, not its initial one)."""
    return df._jdf.queryExecution().executedPlan().toString().split("== Initial Plan ==")[0]


def whale_and_light_users(spark, whale_events: int, whale_items: int, light_users: int):
    """Weighted events: user ``whale``'s views and purchases (one a second from T0, over
    ``whale_items`` items; prices in halves, so sums are exact in any order, a tenth null),
    then 2,000 carts at T0 spread over ``light_users`` users and 50 items."""
    whale = spark.range(whale_events).select(
        F.lit("whale").alias("user_id"),
        F.concat(F.lit("i"), (F.col("id") % whale_items).cast("string")).alias("item_id"),
        F.when(F.col("id") % 7 == 0, "purchase").otherwise("view").alias("event_type"),
        (F.lit(T0).cast("timestamp") + F.make_interval(secs=F.col("id"))).alias("event_time"),
        F.when(F.col("id") % 10 != 0, (F.col("id") % 13) * 0.5).alias("price"),
    )
    light = spark.range(2_000).select(
        F.concat(F.lit("u"), (F.col("id") % light_users).cast("string")).alias("user_id"),
        F.concat(F.lit("i"), (F.col("id") % 50).cast("string")).alias("item_id"),
        F.lit("cart").alias("event_type"),
        F.lit(T0).cast("timestamp").alias("event_time"),
        F.lit(1.0).alias("price"),
    )
    return weighted_events(whale.unionByName(light), {"view": 1.0, "cart": 3.0, "purchase": 5.0})


def test_pairs_are_summed_in_one_sorted_pass_and_the_lists_shuffle_nothing(spark):
    df = whale_and_light_users(spark, whale_events=200_000, whale_items=50, light_users=200)
    # A split computed from the data, as split_by_time's, not a constant the plan folds away.
    split = F.when(F.col("event_time") < F.lit(T0 + timedelta(days=30)), "train").otherwise("test")
    df = df.withColumn("split", split).repartition(8)
    with sql_settings(spark, SORTED_AGGREGATION):
        pairs = user_item_pairs(df)
        items = build_item_index(pairs, no_catalogue(spark), OPEN)
        lists = user_item_lists(pairs, items, "train", max_weight=50.0)
        users = build_user_index(lists, OPEN)
        rows = interaction_rows(lists, users)
        whale_idx = users.where(F.col("user_id") == "whale").first().user_idx
        whale = rows.where(F.col("user_idx") == whale_idx).first()
        assert rows.count() == 201
        pairs.collect()  # so that both have an executed plan to read
        lists.collect()
    assert whale.n_items == 50 and set(whale.weight) == {50.0}
    assert "SortAggregate(key=[user_id" in executed_plan(pairs)
    assert "HashAggregate" not in executed_plan(pairs)
    assert executed_plan(lists).count("Exchange hashpartitioning(user_id") == 1


def shuffle_reads_per_task(spark, group: str, action) -> list[list[int]]:
    """Rows each task read from shuffles, per stage of the jobs ``action`` ran (job group
    ``group``). Read from the driver's status store (what the UI shows; filled with the UI off).
    """
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        action()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    store = sc._jsc.sc().statusStore()
    stages = []
    for job in sc.statusTracker().getJobIdsForGroup(group):
        for stage in sc.statusTracker().getJobInfo(job).stageIds:
            tasks = store.taskList(stage, 0, 1_000_000)
            metrics = [tasks.apply(i).taskMetrics().get() for i in range(tasks.size())]
            stages.append([m.shuffleReadMetrics().recordsRead() for m in metrics])
    return stages


def test_a_heavy_users_events_are_spread_over_tasks_and_summed_the_same(spark):
    df = whale_and_light_users(spark, whale_events=20_000, whale_items=500, light_users=100)
    df = df.withColumn("split", F.when(F.col("event_type") == "cart", "train").otherwise("test"))
    n_events = 22_000
    # Small partitions are not merged, as they would not be at the sizes this is for.
    no_coalescing = {**SORTED_AGGREGATION, "spark.sql.adaptive.coalescePartitions.enabled": "false"}
    with sql_settings(spark, no_coalescing):
        assert heavy_users(df, 5_000) == ["whale"]
        assert heavy_users(df, 0) == []
        kept, spread = user_item_pairs(df), user_item_pairs(df, heavy_user_events=5_000)
        assert sorted(spread.collect()) == sorted(kept.collect())
        bought = kept.where("n_purchases > 0 AND price_sum > 0").select("user_id").distinct()
        assert [r.user_id for r in bought.collect()] == ["whale"]  # sums that can differ
        summing = {
            name: [
                reads
                for reads in shuffle_reads_per_task(spark, name, pairs.count)
                if sum(reads) == n_events
            ]
            for name, pairs in (("kept", kept), ("spread", spread))
        }
    assert max(max(reads) for reads in summing["kept"]) >= 20_000  # the whale in one task
    assert summing["spread"] and max(max(reads) for reads in summing["spread"]) <= n_events / 2


def test_sql_settings_restore_the_session_values(spark):
    key = "spark.sql.execution.replaceHashWithSortAgg"
    spark.conf.set(key, "false")
    with sql_settings(spark, {key: "true"}):
        assert spark.conf.get(key) == "true"
    assert spark.conf.get(key) == "false"
    spark.conf.unset(key)
    with pytest.raises(RuntimeError), sql_settings(spark, {key: "true"}):
        raise RuntimeError("the block failed")
    assert spark.conf.get(key) == "false"  # Spark's default again, not "true"


def test_a_one_id_index_is_extended_after_its_only_index(spark):
    previous = spark.createDataFrame([("u1", 0)], "user_id string, user_idx int")
    qualified = spark.createDataFrame([("u0",), ("u1",)], "user_id string")
    got = as_dict(extend_index(qualified, previous, "user_id", "user_idx"), "user_id", "user_idx")
    assert got == {"u1": 0, "u0": 1}


@pytest.mark.parametrize("offset", [0, 17])
def test_ids_are_numbered_in_order_as_a_global_row_number_would(spark, offset):
    ids = [f"u{n:05d}" for n in np.random.default_rng(3).permutation(5_000)]
    rows = spark.createDataFrame([(i, len(i)) for i in ids], "user_id string, carried int")
    got = number_in_order(rows.repartition(7), "user_id", "user_idx", offset)
    assert got.columns == ["user_id", "carried", "user_idx"]
    by_window = F.row_number().over(Window.orderBy("user_id")) - 1 + offset
    expected = rows.withColumn("user_idx", by_window.cast("int"))
    assert as_dict(got, "user_id", "user_idx") == as_dict(expected, "user_id", "user_idx")
    assert sorted(as_dict(got, "user_id", "user_idx").values()) == list(
        range(offset, offset + 5_000)
    )


def test_numbering_moves_no_rows_into_a_single_partition(spark, capsys):
    rows = spark.range(1_000).select(F.format_string("u%05d", "id").alias("user_id"))
    ranked_rows(rows.repartition(4), "user_id").explain("formatted")
    number_in_order(rows.repartition(4), "user_id", "user_idx").explain("formatted")
    plans = capsys.readouterr().out
    assert "rangepartitioning" in plans
    assert "SinglePartition" not in plans
    rows.withColumn("n", F.row_number().over(Window.orderBy("user_id"))).explain("formatted")
    assert "SinglePartition" in capsys.readouterr().out  # what the old numbering planned


def test_popularity_buckets_equal_a_running_sum_window_without_a_single_partition(spark, capsys):
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 40, 300)
    counts[[0, 5, 299]] = [0, 900, 0]  # unused items, and one item spanning many buckets
    items = spark.createDataFrame(
        pd.DataFrame(
            {"item_id": [f"i{n}" for n in range(300)], "item_idx": range(300), "n_users": counts}
        ).sample(frac=1.0, random_state=2)
    ).repartition(3)
    buckets, total, width, max_share = _popularity_buckets(items)
    running = Window.orderBy("item_idx").rowsBetween(Window.unboundedPreceding, 0)
    windowed = (
        items.where("n_users > 0")
        .withColumn("hi", F.sum("n_users").over(running))
        .withColumn("lo", F.col("hi") - F.col("n_users"))
        .withColumn(
            "bucket",
            F.explode(F.sequence(F.floor(F.col("lo") / width), F.floor((F.col("hi") - 1) / width))),
        )
    )
    columns = ["bucket", "lo", "hi", "item_id", "item_idx"]
    assert sorted(buckets.collect()) == sorted(windowed.select(*columns).collect())
    assert total == int(counts.sum()) and width == -(-total // int((counts > 0).sum()))
    assert max_share == 900 / total
    buckets.explain("formatted")
    assert "SinglePartition" not in capsys.readouterr().out
    empty, total, _, max_share = _popularity_buckets(items.where("n_users = 0"))
    assert empty.count() == 0 and total == 0 and max_share == 0.0


def test_time_quantiles_are_exact(spark):
    rng = np.random.default_rng(7)
    seconds = np.concatenate([rng.integers(0, 30 * 86_400, 20_000), np.full(500, 86_400 * 3)])
    df = spark.createDataFrame(pd.DataFrame({"s": seconds.astype("int64")})).select(
        F.timestamp_seconds("s").alias("event_time")
    )
    probabilities = [0.0, 0.1, 0.5, 0.8, 0.9, 1.0]
    expected = [int(np.quantile(seconds, p, method="inverted_cdf")) for p in probabilities]
    assert time_quantiles(df.repartition(5), probabilities) == expected
    with pytest.raises(ValueError, match="no events"):
        time_quantiles(df.limit(0), [0.5])

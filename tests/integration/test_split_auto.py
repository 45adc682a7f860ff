"""``aggregate.split=auto`` on small hand-made logs, and the profile's few-test-users warning."""

from datetime import datetime, timedelta

import pandas as pd
import pytest

from samplegen.config import AggregateConfig, Config
from samplegen.features.interactions import (
    split_and_sum,
    split_by_time,
    temporal_cuts,
    temporal_test_share,
    user_item_pairs,
    weighted_events,
)
from samplegen.features.profile import format_profile, split_figures, split_warning

T0 = datetime(2026, 1, 1)
AUTO = AggregateConfig(split="auto", min_user_items=3)
N_USERS = 20


def events(spark, rows):
    """(user, item, days after T0) -> weighted purchase events without prices."""
    data = [(u, i, "purchase", T0 + timedelta(days=d), None) for u, i, d in rows]
    log = spark.createDataFrame(
        data, "user_id string, item_id string, event_type string, event_time timestamp, "
        "price double",
    )  # fmt: skip
    return weighted_events(log, {"purchase": 1.0})


def share(log, cfg=AUTO):
    """The temporal split's test share, from its pairs (as split_and_sum reads it)."""
    split, _ = split_by_time(log, cfg.valid_fraction, cfg.test_fraction, temporal_cuts(log, cfg))
    return temporal_test_share(user_item_pairs(split), cfg.min_user_items)


def shop_log(spark):
    """Regular customers: every user buys every 10 days for 100 days, so all reach the end."""
    rows = [(f"u{u:02d}", f"i{(u + d) % 7}", d) for u in range(N_USERS) for d in range(0, 101, 10)]
    return events(spark, rows)


def ratings_log(spark):
    """Bursts: each user rates 5 items on one day of their own; one comes back at the end."""
    rows = [(f"u{u:02d}", f"i{j}", u) for u in range(N_USERS) for j in range(5)]
    rows += [("u00", "i9", 40)]
    return events(spark, rows)


def test_auto_is_the_default_split():
    assert Config().aggregate.split == "auto"
    assert 0 < Config().aggregate.auto_min_test_share < 1


@pytest.mark.spark
def test_auto_keeps_the_temporal_split_when_most_users_reach_the_test_period(spark):
    log = shop_log(spark)
    assert share(log) == 1.0
    choice, split, cuts, pairs = split_and_sum(log, AUTO)
    assert (choice.split, choice.temporal_test_share) == ("temporal", 1.0)
    assert "test_from" in cuts  # the time cut
    # The cuts and pairs are the ones the temporal split computes on its own.
    temporal = split_and_sum(log, AggregateConfig(split="temporal"))
    assert cuts == temporal[2]
    assert sorted(pairs.collect()) == sorted(temporal[3].collect())
    assert {r.split for r in split.collect()} == {"train", "valid", "test"}


@pytest.mark.spark
def test_auto_picks_leave_last_when_the_temporal_test_period_holds_few_users(spark):
    log = ratings_log(spark)
    # 101 events: the valid cut is the 81st (day 16), the test cut the 91st (day 18). Active
    # (3+ items before day 16): u00..u15; in test: only u00 (its day-40 visit): 1 / 16.
    assert share(log) == pytest.approx(1 / 16)
    choice, split, cuts, pairs = split_and_sum(log, AUTO)
    assert (choice.split, choice.temporal_test_share) == ("leave_last", pytest.approx(1 / 16))
    assert "test_from" not in cuts  # each user's last item, not a time cut
    test_users = {r.user_id for r in split.where("split = 'test'").collect()}
    assert test_users == {f"u{u:02d}" for u in range(N_USERS)}  # every user can be evaluated
    assert {r.user_id for r in pairs.where("split = 'test'").collect()} == test_users
    # The threshold decides: at a share of 0.05 the temporal split is good enough.
    lenient = AggregateConfig(split="auto", min_user_items=3, auto_min_test_share=0.05)
    assert split_and_sum(log, lenient)[0].split == "temporal"
    # An explicit split is taken as it is, without measuring anything.
    explicit = split_and_sum(log, AggregateConfig(split="temporal"))[0]
    assert (explicit.split, explicit.temporal_test_share) == ("temporal", None)


@pytest.mark.spark
def test_profile_figures_and_warning_after_a_temporal_split(spark):
    train = spark.createDataFrame([(u,) for u in range(10)], "user_idx int")
    test = spark.createDataFrame([(0,), (1,), (1,)], "user_idx int")
    figures = split_figures(train, test, "temporal", 2 / 17)
    assert figures == {
        "test_user_share": 0.2,
        "split_leave_last": 0.0,
        "temporal_test_user_share": pytest.approx(2 / 17),
    }
    warning = split_warning(figures, 0.25)
    assert warning and "20.0%" in warning and "aggregate.split=leave_last" in warning
    assert split_warning(figures, 0.2) is None  # at the threshold: enough
    assert split_warning(split_figures(train, test, "leave_last"), 0.25) is None
    # new_items' train cut: the temporal split's only (a leave-last "cut" follows test events).
    cut = pd.Timestamp("2024-03-01", tz="UTC")
    assert split_figures(train, test, "temporal", None, cut)["train_cut_seconds"] == (
        cut.timestamp()
    )
    assert "train_cut_seconds" not in split_figures(train, test, "leave_last", None, cut)
    assert split_warning({"users": 3.0}, 0.25) is None  # a profile from before these figures
    text = format_profile(figures, 0.25)
    assert "Split" in text and text.rstrip().endswith("(or auto) and run aggregate again")
    assert "warning" not in format_profile(figures)

"""``segment_balance``'s arithmetic and configuration checks, without Spark (issue 22)."""

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from samplegen.config import ConfigError, load_config
from samplegen.generate.segment_balance import CHUNK_ROWS, check, chunk_plan, rows_needed
from samplegen.segments import lower_quantile


def _shares(real, need, total):
    grown = total + sum(need.values())
    return {s: (real[s] + need[s]) / grown for s in real}


def test_one_thin_segment_reaches_the_share_and_the_others_get_nothing(caplog):
    real = {"cold_users": 50, "cold_items": 300, "rare_categories": 0}
    # The ``samplegen`` logger does not propagate to the root, where caplog listens.
    logger = logging.getLogger("samplegen.generate.segment_balance")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger=logger.name):
            need = rows_needed(real, 1000, 0.2)
    finally:
        logger.removeHandler(caplog.handler)
    # (0.2 * 1000 - 50) / 0.8 = 187.5 rows, rounded up; 300 of 1188 rows stay above 0.2.
    assert need == {"cold_users": 188, "cold_items": 0, "rare_categories": 0}
    assert "rare_categories has no real train rows; skipped" in caplog.text
    assert "cold_items" not in caplog.text
    assert _shares(real, need, 1000)["cold_users"] >= 0.2 > (50 + 187) / 1187


def test_segments_are_solved_together_and_the_grown_total_can_pull_one_in():
    real = {"cold_users": 50, "cold_items": 100, "rare_categories": 210}
    need = rows_needed(real, 1000, 0.2)
    shares = _shares(real, need, 1000)
    # rare_categories starts above 0.2 (210 / 1000) but not after the other two grow the total.
    assert all(n > 0 for n in need.values())
    assert all(0.2 <= share < 0.2 + 3 / 1000 for share in shares.values()), shares
    assert rows_needed({"cold_users": 400}, 1000, 0.2) == {"cold_users": 0}


def test_unreachable_shares_are_refused():
    with pytest.raises(ValueError, match="segment_share"):
        rows_needed({"a": 1, "b": 1, "c": 1}, 1000, 0.34)


def test_the_lower_quantile_is_pandas_lower_on_grouped_values():
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = rng.integers(0, 12, size=int(rng.integers(1, 40))).astype(float)
        distinct, counts = np.unique(values, return_counts=True)
        for q in (0.25, 0.5):
            expected = pd.Series(values).quantile(q, interpolation="lower")
            assert lower_quantile(values, q) == lower_quantile(distinct, q, counts) == expected
    assert lower_quantile([], 0.5) is None


def test_the_chunk_plan_follows_each_segments_label_share_and_numbers_rows_without_gaps():
    assert CHUNK_ROWS == 2048
    plan = chunk_plan(
        {"cold_users": CHUNK_ROWS + 10, "rare_categories": 7},
        {"cold_users": 0.25, "rare_categories": 0.0},
        {"cold_users": 0.05, "rare_categories": 0.1},
    )
    assert (plan["size"] <= CHUNK_ROWS).all() and plan["chunk"].tolist() == list(range(len(plan)))
    assert (plan["first_row"] == plan["size"].cumsum().shift(fill_value=0)).all()
    by = plan.groupby(["segment", "label"])["size"].sum().to_dict()
    assert by == {
        ("cold_users", 0): 1543,
        ("cold_users", 1): 515,  # 0.25 * 2058 = 514.5, half up
        ("rare_categories", 0): 7,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["generate.segments=[cold_users, warm_users]"], "generate.segments"),
        (["generate.segments=[]"], "generate.segments"),
        (["generate.segment_share=0"], "generate.segment_share"),
        (["generate.segment_share=0.4"], "generate.segment_share times"),  # 3 x 0.4 >= 1
        (
            ["aggregate.samples_ctr=false", "generate.strategy=segment_balance"],
            "aggregate.samples_ctr=false",
        ),
    ],
)
def test_the_config_check_refuses(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_the_strategy_check_needs_a_tabular_model_with_each_segments_column():
    cfg = load_config(None, ["generate.strategy=segment_balance"])
    with pytest.raises(ValueError, match="train.model=tabular"):
        check(cfg)
    tabular = replace(cfg, train=replace(cfg.train, model="tabular"))
    with pytest.raises(ValueError, match="rare_categories, which needs category"):
        check(tabular)  # the default columns model no category
    check(
        replace(tabular, generate=replace(tabular.generate, segments=["cold_users", "cold_items"]))
    )
    with_category = replace(
        tabular.train.tabular,
        discrete_columns=["category", *tabular.train.tabular.discrete_columns],
    )
    check(replace(tabular, train=replace(tabular.train, tabular=with_category)))

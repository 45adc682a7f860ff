"""The users x items bootstrap of ``items_new`` comparisons (``samplegen.evaluate.two_way``)."""

from __future__ import annotations

import numpy as np
import pytest

from samplegen.evaluate.metrics import bootstrap_ci, ndcg_at_k, paired_bootstrap, recall_at_k
from samplegen.evaluate.two_way import (
    replicate_values,
    two_way_bootstrap_ci,
    two_way_paired_bootstrap,
)

METRIC_OF = {"ndcg": ndcg_at_k, "recall": recall_at_k}


def _case(rng: np.random.Generator, n_users: int = 40, n_items: int = 30):
    """Full rankings (every item) and 0-5 targets per user."""
    top = np.stack([rng.permutation(n_items) for _ in range(n_users)])
    targets = [rng.choice(n_items, size=rng.integers(0, 6), replace=False) for _ in range(n_users)]
    return top, targets


@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_unit_item_weights_give_the_ordinary_metric(metric):
    top, targets = _case(np.random.default_rng(0))
    ones = np.ones(top.shape[1], dtype=np.int64)
    for k in (1, 5, 10):
        expected = METRIC_OF[metric](top, targets, k)
        np.testing.assert_allclose(replicate_values(top, targets, k, ones)[metric], expected)


@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_item_weights_equal_the_metric_of_the_ranking_with_each_item_copied(metric):
    """Weight m: the item stands m times in the ranking and m times in the targets."""
    rng = np.random.default_rng(1)
    top, targets = _case(rng)
    for _ in range(5):
        weights = rng.integers(0, 4, size=top.shape[1])
        copies = 4  # copy c of item j is the column j * copies + c
        expanded = np.array(
            [[j * copies + c for j in row for c in range(weights[j])] for row in top]
        )
        expanded_targets = [
            np.array([j * copies + c for j in t for c in range(weights[j])], dtype=np.int64)
            for t in targets
        ]
        for k in (3, 10):
            expected = METRIC_OF[metric](expanded, expanded_targets, k)
            got = replicate_values(top, targets, k, weights)[metric]
            np.testing.assert_allclose(got, expected)  # NaN where no target was drawn


def test_the_observed_difference_is_the_paired_one():
    rng = np.random.default_rng(2)
    top_a, targets = _case(rng)
    top_b, _ = _case(rng)
    two_way = two_way_paired_bootstrap(top_a, top_b, targets, 10, 200, seed=3)
    for metric, of in METRIC_OF.items():
        users = paired_bootstrap(of(top_a, targets, 10), of(top_b, targets, 10), 200, seed=3)
        assert two_way[metric].diff == pytest.approx(users.diff)
        assert two_way[metric].low <= two_way[metric].diff <= two_way[metric].high
    assert two_way_paired_bootstrap(top_a, top_b, targets, 10, 200, seed=3) == two_way


def test_item_luck_shared_by_every_user_is_not_called_a_difference():
    """Two fixed random orders, the same for every user: neither model knows the users.

    Targets fall on a few popular items, so whichever order happens to put them first wins
    for every user at once: resampling users alone calls most such pairs different, the
    users x items bootstrap about as often as its 5% level allows.
    """
    rng = np.random.default_rng(4)
    n_users, n_items, k = 300, 60, 10
    popularity = 1.0 / np.arange(1, n_items + 1) ** 1.2
    popularity /= popularity.sum()
    targets = [
        rng.choice(n_items, size=rng.integers(1, 4), replace=False, p=popularity)
        for _ in range(n_users)
    ]
    called_by_users = called_by_both = 0
    pairs = 20
    for _ in range(pairs):
        top_a = np.tile(rng.permutation(n_items), (n_users, 1))
        top_b = np.tile(rng.permutation(n_items), (n_users, 1))
        users = paired_bootstrap(
            ndcg_at_k(top_a, targets, k), ndcg_at_k(top_b, targets, k), 300, seed=5
        )
        both = two_way_paired_bootstrap(top_a, top_b, targets, k, 300, seed=5)["ndcg"]
        called_by_users += users.low > 0 or users.high < 0
        called_by_both += both.low > 0 or both.high < 0
    assert called_by_users >= pairs // 2
    assert called_by_both <= 3


def test_a_model_that_knows_the_users_is_still_called_better():
    rng = np.random.default_rng(6)
    n_users, n_items, k = 300, 60, 10
    targets = [rng.choice(n_items, size=2, replace=False) for _ in range(n_users)]
    knows = np.stack([np.concatenate([t, np.setdiff1d(np.arange(n_items), t)]) for t in targets])
    blind = np.tile(rng.permutation(n_items), (n_users, 1))
    both = two_way_paired_bootstrap(blind, knows, targets, k, 300, seed=7)["ndcg"]
    assert both.low > 0 and both.p_value < 0.05


def test_no_user_with_targets_gives_nan_and_bad_input_is_refused():
    top = np.tile(np.arange(5), (3, 1))
    empty = [np.array([], dtype=np.int64)] * 3
    assert np.isnan(two_way_paired_bootstrap(top, top, empty, 3, 10, seed=0)["ndcg"].diff)
    with pytest.raises(ValueError, match="same users"):
        two_way_paired_bootstrap(top, top[:2], empty, 3, 10, seed=0)
    with pytest.raises(ValueError, match="n_samples must be positive"):
        two_way_paired_bootstrap(top, top, empty, 3, 0, seed=0)


def test_one_rankings_interval_carries_item_luck_and_holds_its_mean():
    """A fixed random order shared by every user: resampling items widens its interval."""
    rng = np.random.default_rng(8)
    n_users, n_items, k = 300, 60, 10
    popularity = 1.0 / np.arange(1, n_items + 1) ** 1.2
    popularity /= popularity.sum()
    targets = [rng.choice(n_items, size=2, replace=False, p=popularity) for _ in range(n_users)]
    top = np.tile(rng.permutation(n_items), (n_users, 1))
    both = two_way_bootstrap_ci(top, targets, k, 300, seed=9)
    for metric, of in METRIC_OF.items():
        per_user = of(top, targets, k)
        users = bootstrap_ci(per_user, 300, seed=9)
        assert both[metric][0] <= per_user.mean() <= both[metric][1]
        assert both[metric][1] - both[metric][0] > 2 * (users[1] - users[0])
    empty = [np.array([], dtype=np.int64)] * n_users
    assert all(np.isnan(v).all() for v in two_way_bootstrap_ci(top, empty, k, 10, 0).values())

"""Quota, cross-category and label-balance helpers on small hand-made inputs."""

import numpy as np
import pandas as pd
import pytest

from samplegen.generate.quotas import quota_batch, rounded_counts, target_mix
from samplegen.models import make_generator

N_ITEMS = 40
GROUPS = np.array([0] * 8 + [1] * 32)  # 8 head items, 32 tail items


def test_each_user_gets_the_target_split_and_no_owned_item():
    generator = make_generator("multvae", {"n_items": N_ITEMS, "hidden_dims": [8, 4]})
    rng = np.random.default_rng(0)
    chunk = pd.DataFrame(
        {
            "user_idx": np.arange(30, dtype=np.int32),
            "item_idx": [np.sort(rng.choice(N_ITEMS, 5, replace=False)) for _ in range(30)],
        }
    )
    rows = quota_batch(chunk, generator, GROUPS, np.array([0.3, 0.7]), 10, 0.5, seed=1)
    assert list(rows["user_idx"]) == list(range(30))
    for owned, drawn in zip(chunk["item_idx"], rows["item_idx"], strict=True):
        assert len(drawn) == len(set(drawn)) == 10
        assert not set(drawn) & set(owned)
        assert np.bincount(GROUPS[drawn], minlength=2).tolist() == [3, 7]
    again = quota_batch(chunk, generator, GROUPS, np.array([0.3, 0.7]), 10, 0.5, seed=1)
    pairs = zip(rows["item_idx"], again["item_idx"], strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)


def test_a_group_that_runs_out_gives_its_shortfall_to_the_rest():
    generator = make_generator("multvae", {"n_items": N_ITEMS, "hidden_dims": [8, 4]})
    chunk = pd.DataFrame({"user_idx": [0], "item_idx": [np.arange(6)]})  # 2 head items left
    rows = quota_batch(chunk, generator, GROUPS, np.array([0.8, 0.2]), 10, 0.5, seed=1)
    (drawn,) = rows["item_idx"]
    assert np.bincount(GROUPS[drawn], minlength=2).tolist() == [2, 8]


def test_target_mixes():
    assert target_mix("long_tail", np.array([0.9, 0.1]), 0.4, 0.5).tolist() == [0.6, 0.4]
    real = np.array([0.64, 0.36, 0.0])
    assert np.allclose(target_mix("category_balance", real, 0.5, 0.5), [0.8 / 1.4, 0.6 / 1.4, 0])
    assert np.allclose(target_mix("category_balance", real, 0.5, 0.0), [0.5, 0.5, 0])
    assert np.allclose(target_mix("category_balance", real, 0.5, 1.0), real)


def test_rounding_is_unbiased_over_many_users():
    mix = np.array([0.02, 0.13, 0.35, 0.5])
    rng = np.random.default_rng(5)
    counts = np.stack([rounded_counts(mix, 10, rng) for _ in range(4000)])
    assert (counts.sum(axis=1) == 10).all()
    assert (counts >= np.floor(mix * 10)).all() and (counts <= np.ceil(mix * 10)).all()
    assert np.allclose(counts.mean(axis=0) / 10, mix, atol=0.005)
    assert rounded_counts(np.array([0.4, 0.6]), 10, rng).tolist() == [4, 6]


def test_cross_category_draws_only_from_categories_the_user_has_not_crossed():
    from samplegen.generate.cross_category import cross_batch

    categories = np.array([0] * 10 + [1] * 10 + [2] * 10 + [-1] * 10)
    generator = make_generator("multvae", {"n_items": N_ITEMS, "hidden_dims": [8, 4]})
    chunk = pd.DataFrame(
        {"user_idx": [0, 1], "item_idx": [np.array([0, 1, 2, 15]), np.array([30, 31, 5])]}
    )
    rows = cross_batch(chunk, generator, categories, 8, 0.5, seed=3)
    assert rows["main_category"].tolist() == [0, -1]
    for owned, drawn in zip(chunk["item_idx"], rows["item_idx"], strict=True):
        assert len(drawn) == 8
        assert not set(categories[drawn]) & set(categories[owned])


def test_rows_needed_for_a_label_share():
    from samplegen.generate.label_balance import rows_needed

    assert rows_needed({0: 900, 1: 100}, 0.5) == (1, 800)  # 900 / (1000 + 800)
    assert rows_needed({0: 100, 1: 300}, 0.2) == (0, 0)  # already above the target
    assert rows_needed({0: 50, 1: 50}, 0.6) == (0, 25)  # ties: the smaller label; 75 / 125
    with pytest.raises(ValueError, match="both labels"):
        rows_needed({1: 10}, 0.5)

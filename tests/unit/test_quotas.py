"""Quota densification on one batch: exact per-group counts, owned items never drawn."""

import numpy as np
import pandas as pd

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

import numpy as np
import pandas as pd
import torch

from samplegen.generate.new_items import (
    AttributeEncoder,
    _auc,
    fit_ridge,
    holdout_r2,
    holdout_user_auc,
    new_item_keys,
)


def catalogue(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "category": rng.choice(["milk", "bread", "fruit", "soap"], size=n),
            "department": rng.choice(["food", "home"], size=n),
            "brand": [None] * n,
            "title": rng.choice([f"type {i}" for i in range(6)], size=n),
        }
    )


def test_encoder_one_hots_known_values_and_zeroes_the_rest():
    encoder = AttributeEncoder.fit(
        pd.DataFrame(
            {
                "category": ["a", "a", "b"],
                "department": ["d", "d", None],
                "brand": [None] * 3,
                "title": ["t", "u", "u"],
            }
        )
    )
    assert encoder.vocabularies["category"] == ["a", "b"]  # most frequent first
    assert encoder.vocabularies["title"] == ["u", "t"] and encoder.vocabularies["brand"] == []
    x = encoder.transform(
        pd.DataFrame({"category": ["b", "zzz"], "department": [None, "d"], "brand": ["x", None],
                      "title": ["t", None]})
    )  # fmt: skip
    # intercept | a b | d | (no brands) | u t
    assert x.tolist() == [[1, 0, 1, 0, 0, 1], [1, 0, 0, 1, 0, 0]]


def test_the_map_recovers_rows_that_follow_the_attributes():
    items = catalogue(400, seed=1)
    codes = {c: np.random.default_rng(i).normal(size=5) for i, c in enumerate("mbfs")}
    rows = np.stack([codes[c[0]] for c in items["category"]])
    noisy = rows + np.random.default_rng(2).normal(scale=0.05, size=rows.shape)
    encoder = AttributeEncoder.fit(items)
    x = encoder.transform(items)
    assert holdout_r2(x, noisy, 1.0, seed=3) > 0.95
    unrelated = np.random.default_rng(4).normal(size=rows.shape)
    assert holdout_r2(x, unrelated, 1.0, seed=3) < 0.05
    new = pd.DataFrame({"category": ["soap"], "department": ["food"], "brand": [None],
                        "title": ["type 2"]})  # fmt: skip
    predicted = encoder.transform(new) @ fit_ridge(x, noisy, 1.0)
    assert np.abs(predicted[0] - codes["s"]).max() < 0.1


def test_a_new_item_ranks_first_for_the_user_it_resembles():
    item_rows = np.eye(3, dtype=np.float32)  # three items along the three hidden axes
    hidden = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    new_rows = np.array([[0.0, 0.0, 1.0]])  # like item 2
    rngs = [np.random.default_rng(0), np.random.default_rng(0)]  # same noise for both users
    keys = new_item_keys(hidden, item_rows, np.zeros(3), new_rows, np.zeros(1), rngs)
    assert keys.shape == (2, 1) and keys[1, 0] > keys[0, 0]


def test_auc_counts_pairs_ranked_right():
    assert _auc(np.array([0.9, 0.1, 0.5, 0.3]), np.array([True, False, False, True])) == 0.75


def test_held_out_items_rank_their_users_when_attributes_carry_the_structure():
    items = catalogue(300, seed=5)
    groups = {c: i for i, c in enumerate(["milk", "bread", "fruit", "soap"])}
    item_group = np.array([groups[c] for c in items["category"]])
    rows = np.hstack([np.eye(4)[item_group] * 3.0, np.zeros((300, 1))])  # weights | bias
    user_group = np.arange(200) % 4
    hidden = np.eye(4)[user_group]
    owned = user_group[:, None] == item_group[None, :]
    x = AttributeEncoder.fit(items).transform(items)
    by_map, by_mean, trained = holdout_user_auc(x, rows, 1.0, 3, hidden, owned)
    assert by_map > 0.95 and trained == 1.0 and by_mean < 0.7  # the mean row knows no category

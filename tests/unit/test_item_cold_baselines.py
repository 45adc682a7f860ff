"""The item-cold baselines and the attribute encoding, on hand-built data with known answers."""

import numpy as np
import pandas as pd
import pytest
import torch

from samplegen.config import ConfigError, EvaluateConfig, load_config
from samplegen.evaluate.item_cold import candidate_columns, item_info, slice_tops
from samplegen.evaluate.metrics import top_k_items
from samplegen.evaluate.recommenders import (
    NOT_NEW_SCORE,
    ItemInfo,
    make_recommender,
    with_items,
)
from samplegen.evaluate.rows import ALL_WITH_NEW, ITEMS_NEW

# Columns 0-3 are vocabulary items, 4-6 the run's new items. Categories: A = {0, 1, 4},
# B = {2, 5}, C = {3, 6}; every item has the same department, so it adds a shared dimension.
CATEGORY = np.array([0, 0, 1, 2, 0, 1, 2])
IS_NEW = np.arange(7) >= 4


def _items() -> ItemInfo:
    onehot = np.zeros((7, 3), dtype=np.float32)
    onehot[np.arange(7), CATEGORY] = 1.0
    return ItemInfo(onehot, CATEGORY, IS_NEW)


# user 0: two A items; user 1: one A and one B; user 2: A, B, B, C (train).
TRAIN = np.array(
    [
        [1, 1, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0],
        [1, 0, 1, 1, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0],
    ],
    dtype=np.float32,
)


def _fitted(name: str, seed: int = 0):
    model = with_items(make_recommender(name, EvaluateConfig(), None, seed), _items())
    return model.fit(TRAIN)


def test_content_knn_scores_the_mean_cosine_to_the_users_items():
    scores = _fitted("content_knn").score(TRAIN[:2])
    np.testing.assert_allclose(scores[:, 4:], [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    assert (scores[:, :4] == NOT_NEW_SCORE).all()
    top = top_k_items(scores, 2, [np.flatnonzero(r) for r in TRAIN[:2]])
    assert top.tolist() == [[4, 5], [4, 5]]


def test_category_popularity_is_category_pairs_times_the_users_share():
    # Train (user, item) pairs per category: A = 2 + 1 + 1 + 1, B = 3, C = 1.
    popularity = np.array([5.0, 3.0, 1.0])
    user = np.array([[1, 0, 1, 1, 0, 0, 0]], dtype=np.float32)  # one item in each of A, B, C
    scores = _fitted("category_popularity").score(user)
    np.testing.assert_allclose(scores[0, 4:], popularity / 3.0, rtol=1e-6)
    assert (scores[0, :4] == NOT_NEW_SCORE).all()
    only_b = _fitted("category_popularity").score(np.array([[0, 0, 1, 0, 0, 0, 0]], np.float32))
    np.testing.assert_allclose(only_b[0, 4:], [0.0, 3.0, 0.0])


def test_random_new_ranks_only_new_items_and_is_seeded():
    one, again, other = (_fitted("random_new", s).score(TRAIN) for s in (3, 3, 4))
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)
    assert (one[:, :4] == NOT_NEW_SCORE).all() and ((one[:, 4:] >= 0) & (one[:, 4:] < 1)).all()


@pytest.mark.parametrize("name", ["content_knn", "category_popularity", "random_new"])
def test_baselines_need_the_columns_attributes(name):
    bare = make_recommender(name, EvaluateConfig(), None, 0)
    with pytest.raises(RuntimeError, match="with_items"):
        bare.fit(TRAIN)
    with pytest.raises(ValueError, match="7"):
        with_items(make_recommender(name, EvaluateConfig(), None, 0), _items()).fit(TRAIN[:, :5])


def test_item_info_one_hot_encodes_catalogue_attributes_by_column():
    catalogue = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "n"],
            "category": ["x", "y", "x", None],
            "department": ["d", "d", "e", "e"],
            "brand": [None, None, None, "p"],
        }
    )
    info = item_info(catalogue, ["a", "b", None, "n", "c"], n_items=3)
    assert info.is_new.tolist() == [False, False, False, True, True]
    assert info.category.tolist() == [0, 1, -1, -1, 0]
    # category x, y | department d, e | brand p
    np.testing.assert_array_equal(
        info.attributes,
        [
            [1, 0, 1, 0, 0],
            [0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 1, 1],
            [1, 0, 0, 1, 0],
        ],
    )


def test_item_cold_defaults_to_auto_with_every_baseline():
    settings = load_config(None, []).evaluate
    assert settings.item_cold is None
    assert settings.item_cold_baselines == ["content_knn", "category_popularity", "random_new"]


def test_items_new_ranks_only_new_items_and_all_with_new_ranks_every_column():
    # A model that scores warm items above new ones (as EASE/ALS/Mult-VAE on augmented rows
    # do): on items_new it is ranked among the new items only, like every baseline.
    scores = np.array(
        [
            [0.9, 0.8, 0.7, 0.6, 0.1, 0.3, 0.2],
            [0.5, 0.9, 0.8, 0.7, 0.4, 0.2, 0.6],
        ],
        dtype=np.float32,
    )
    exclude = [np.array([0]), np.array([1, 6])]  # train items masked in both slices
    tops = slice_tops(scores, IS_NEW, exclude, 3)
    assert tops[ITEMS_NEW].shape == (2, 7)  # ranking_depth(3) deep, at most every column
    assert tops[ITEMS_NEW][:, :3].tolist() == [[5, 6, 4], [4, 5, 0]]
    assert tops[ALL_WITH_NEW].tolist() == [[1, 2, 3], [2, 3, 0]]
    # The ranking among new items is the model's own, whatever the warm items score.
    warm_zero = np.where(IS_NEW[None, :], scores, 0.0)
    assert slice_tops(warm_zero, IS_NEW, exclude, 3)[ITEMS_NEW].tolist() == tops[ITEMS_NEW].tolist()


def test_period_candidates_are_the_new_items_the_period_sold():
    targets = [np.array([5]), np.array([], dtype=np.int64), np.array([2, 6, 9])]  # 9: no column
    assert candidate_columns(IS_NEW, targets, "run").tolist() == IS_NEW.tolist()
    period = candidate_columns(IS_NEW, targets, "period")
    assert np.flatnonzero(period).tolist() == [5, 6]  # warm item 2 is no candidate
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.9, 0.3, 0.2]], dtype=np.float32)
    top = slice_tops(scores, period, [np.array([0])], 3)[ITEMS_NEW]
    assert top[0, :2].tolist() == [5, 6]  # item 4 outscores both but did not sell then


def test_item_cold_candidates_must_be_run_or_period():
    assert load_config(None, []).evaluate.item_cold_candidates == "run"
    with pytest.raises(ConfigError, match="evaluate.item_cold_candidates must be one of run"):
        load_config(None, ["evaluate.item_cold_candidates=sold"])


def test_content_knn_reads_the_catalogue_text_when_embeddings_are_on():
    """Two new items alike in every attribute: only their titles tell which suits the user."""
    catalogue = pd.DataFrame(
        {
            "item_id": ["shoe", "pan", "trainer"],
            "title": ["blue leather running shoes", "stainless steel frying pan", "running shoes"],
            "category": ["goods"] * 3,
            "department": ["store"] * 3,
            "brand": ["acme"] * 3,
        }
    )
    columns = ["shoe", "pan", "trainer"]  # column 0 is the vocabulary item, 1-2 are new
    user = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    scores = {}
    threads = torch.get_num_threads()
    for text in (False, True):
        items = item_info(catalogue, columns, n_items=1, text=text)
        assert torch.get_num_threads() == threads  # the driver's fits keep their threads
        knn = with_items(make_recommender("content_knn", EvaluateConfig(), None, 0), items)
        scores[text] = knn.fit(user).score(user)[0]
    assert scores[False][1] == scores[False][2]  # the one-hot attributes cannot tell them apart
    assert scores[True][2] > scores[True][1]  # the text can: the trainer is a running shoe
    with_text = item_info(catalogue, columns, n_items=1, text=True)
    assert with_text.attributes.shape == (3, 3 + 384)  # one-hots, then the MiniLM embedding
    np.testing.assert_allclose(np.linalg.norm(with_text.attributes[:, :3], axis=1), 1.0)

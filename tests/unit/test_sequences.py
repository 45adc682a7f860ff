"""The next-item protocol (histories, leave-last split, metrics); SASRec on a learnable rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samplegen.evaluate.recommenders.sasrec import SASRecRecommender
from samplegen.evaluate.sequences import LeaveLast, next_item_metrics, ordered_histories
from samplegen.evaluate.sequential import (
    added_items,
    augmented_sequences,
    real_prefixes,
    scored_splits,
)
from samplegen.models.sasrec import left_padded


def _events(rows: list[tuple[int, int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "event_time"])
    frame["event_time"] = pd.to_datetime(frame["event_time"])
    return frame


def test_histories_keep_first_interactions_in_time_order():
    events = _events(
        [
            (0, 5, "2024-01-03"),
            (0, 2, "2024-01-01"),
            (0, 5, "2024-01-02"),  # the earlier interaction with 5 counts
            (0, 2, "2024-01-04"),  # a repeat adds nothing
            (0, 9, "2024-01-02"),  # same time as 5: the lower index first
            (1, 7, "2024-02-01"),
        ]
    ).sample(frac=1.0, random_state=3)
    histories = ordered_histories(events)
    assert histories.index.tolist() == [0, 1]
    assert histories[0].tolist() == [2, 5, 9]
    assert histories[1].tolist() == [7]


def test_histories_need_time():
    with pytest.raises(ValueError, match="event_time"):
        ordered_histories(pd.DataFrame({"user_idx": [0], "item_idx": [1]}))


def test_leave_last_split_and_slices():
    histories = pd.Series(
        {3: np.arange(10, dtype=np.int32), 4: np.array([1, 2], dtype=np.int32), 8: np.arange(30)}
    )
    split = LeaveLast.of(histories)
    assert split.users.tolist() == [3, 8]  # user 4 has too few items for three parts
    assert split.train[0].tolist() == list(range(8))
    assert split.valid.tolist() == [8, 28] and split.test.tolist() == [9, 29]
    assert split.histories("valid")[0].tolist() == list(range(8))
    assert split.histories("test")[0].tolist() == list(range(9))
    assert split.slice_of().tolist() == ["history_6_10", "history_over_20"]
    with pytest.raises(ValueError, match="valid or test"):
        split.histories("train")


def test_from_frame_reads_sequences_rows_as_from_splits_does():
    # The sequences table as toPandas gives it: one row per user, item arrays in time order.
    frame = pd.DataFrame(
        {
            "user_idx": [5, 2, 9],
            "train_items": [np.array([1, 2]), np.array([3]), np.array([], dtype=np.int32)],
            "valid_items": [np.array([2, 4]), np.array([6]), np.array([1])],
            "test_items": [np.array([4, 7]), np.array([8]), np.array([2])],
            "n_ties": [0, 1, 0],
        }
    )
    split = LeaveLast.from_frame(frame)
    # row order kept; user 9 has no train item, so is left out
    assert split.users.tolist() == [5, 2]
    assert [t.tolist() for t in split.train] == [[1, 2], [3]]
    assert split.valid.tolist() == [4, 6]  # 2 is already in user 5's train sequence
    assert split.test.tolist() == [7, 8]  # 4 is in train + valid
    assert split.histories("test")[0].tolist() == [1, 2, 4]
    assert split.train[0].dtype == np.int32
    with pytest.raises(ValueError, match="test_items"):
        LeaveLast.from_frame(frame.drop(columns="test_items"))


def test_next_item_metrics_rank_the_target_with_the_history_masked():
    histories = pd.Series({0: np.array([0, 1, 2, 3]), 1: np.array([4, 0, 1])})
    split = LeaveLast.of(histories)  # user 0: train [0,1], valid 2, test 3; user 1: [4], 0, 1

    def scores(block: list[np.ndarray]) -> np.ndarray:
        # The same order for everyone: item 0 best, then 1, 2, ...; history items masked.
        return np.tile(-np.arange(6, dtype=np.float32), (len(block), 1))

    frame = next_item_metrics(scores, split, "test", ks=[1, 2])
    # user 0 history [0,1,2]: ranking 3,4,... -> test item 3 at rank 1.
    # user 1 history [4,0]: ranking 1,2,... -> test item 1 at rank 1.
    assert frame["hr@1"].tolist() == [1.0, 1.0]
    valid = next_item_metrics(scores, split, "valid", ks=[1, 2])
    # user 0 history [0,1]: ranking 2,3 -> valid item 2 at rank 1; user 1 history [4]:
    # ranking 0,1 -> valid item 0 at rank 1.
    assert valid["hr@1"].tolist() == [1.0, 1.0]
    assert valid["slice"].tolist() == ["short_history", "short_history"]


def test_left_padding_keeps_the_last_items_right_aligned():
    padded = left_padded([np.array([0, 1, 2, 3]), np.array([5])], 3)
    assert padded.tolist() == [[2, 3, 4], [0, 0, 6]]


def test_sasrec_learns_a_deterministic_next_item_rule():
    """Every user walks i -> i + 7 (mod 40): a trained SASRec must predict the next step."""
    rng = np.random.default_rng(0)
    n_items = 40
    sequences = []
    for _ in range(120):
        start = int(rng.integers(n_items))
        sequences.append((start + 7 * np.arange(8)) % n_items)
    split = LeaveLast.of(pd.Series(sequences))
    model = SASRecRecommender(
        {"hidden": 32, "layers": 1, "max_len": 8, "dropout": 0.0},
        epochs=20,
        batch_size=60,
        learning_rate=1e-2,
        seed=0,
    ).fit(split.train, n_items)
    frame = next_item_metrics(model.score, split, "test", ks=[1])
    assert frame["hr@1"].mean() > 0.8


def test_sasrec_refuses_sequences_it_cannot_learn_from():
    with pytest.raises(ValueError, match="two or more items"):
        SASRecRecommender().fit([np.array([1]), np.array([], dtype=np.int64)], 5)
    with pytest.raises(ValueError, match=r"0\.\.4"):
        SASRecRecommender().fit([np.array([1, 7])], 5)
    with pytest.raises(RuntimeError, match="before fit"):
        SASRecRecommender().score([np.array([1])])


def test_split_of_stage_one_sequences_takes_the_first_new_valid_and_test_items():
    split = LeaveLast.from_splits(
        users=[4, 5, 6, 7],
        train=[np.array([3, 1]), np.array([2]), np.array([], dtype=np.int32), np.array([1, 2])],
        valid=[np.array([1, 8, 9]), np.array([6]), np.array([2]), np.array([2])],
        test=[np.array([8, 0]), np.array([7]), np.array([3]), np.array([5])],
    )
    # user 6 has no train item, user 7 no valid item that is not already in train: left out
    assert split.users.tolist() == [4, 5]
    assert split.valid.tolist() == [8, 6]  # 1 was in train already
    assert split.test.tolist() == [0, 7]  # 8 was in the test history already
    assert [h.tolist() for h in split.histories("test")] == [[3, 1, 8, 9], [2, 6]]
    assert [h.tolist() for h in split.histories("valid")] == [[3, 1], [2]]
    assert split.slice_of().tolist() == ["short_history", "short_history"]


def test_augmented_sequences_put_added_items_first_and_new_users_after():
    real = {0: np.array([5, 6], dtype=np.int32), 1: np.array([7], dtype=np.int32)}
    synthetic = pd.DataFrame(
        {
            "user_idx": [0, 9, 0, 8],
            "item_idx": [[3, 6], [2, 1, 4], [40], [7, 2]],  # 40: a new item past the vocabulary
        }
    )
    out = augmented_sequences(real, synthetic, last_real_user=1, n_items=10)
    # user 0 gains 3 before its history (6 is already in it); new users 8, 9 as written
    assert [s.tolist() for s in out] == [[3, 5, 6], [7], [7, 2], [2, 1, 4]]


def test_sequence_history_puts_added_items_first_only_for_the_augmented_variant():
    real = {
        0: np.array([5, 6], dtype=np.int32),
        1: np.array([7], dtype=np.int32),
        2: np.array([1, 2], dtype=np.int32),
    }
    split = LeaveLast.from_splits(
        users=list(real),
        train=list(real.values()),
        valid=[np.array([8]), np.array([9]), np.array([3])],
        test=[np.array([4]), np.array([0]), np.array([6])],
    )
    # prepend-like rows: user 0 gets [3, 6] (6 is its own already), user 1 gets [2, 3];
    # user 2 none; 9 is a new user (trained on, never scored)
    synthetic = pd.DataFrame(
        {"user_idx": [0, 1, 9], "item_idx": [[3, 6], [2, 3], [4, 5]]},
    )
    prefixes = real_prefixes(real, added_items(synthetic, n_items=10))
    trained = augmented_sequences(real, synthetic, last_real_user=2, n_items=10)
    same = scored_splits(split, prefixes, "real")
    assert same["real"] is split and same["augmented"] is split
    scored = scored_splits(split, prefixes, "augmented")
    assert scored["real"] is split
    augmented = scored["augmented"]
    valid = [h.tolist() for h in augmented.histories("valid")]
    assert valid == [[3, 5, 6], [2, 3, 7], [1, 2]]
    assert valid == [s.tolist() for s in trained[:3]]  # exactly what the model trained on
    test = [h.tolist() for h in augmented.histories("test")]
    assert test == [[3, 5, 6, 8], [2, 3, 7, 9], [1, 2, 3]]  # user 2's 3 is its valid item
    assert [h.tolist() for h in split.histories("test")] == [[5, 6, 8], [7, 9], [1, 2, 3]]
    # same users, targets and slices (by the real length) as the real variant
    assert augmented.test.tolist() == split.test.tolist() == [4, 0, 6]
    assert augmented.slice_of().tolist() == split.slice_of().tolist()
    # the ranking masks the history scored on: with 3 > 4 > 0 > the rest, user 0 (target 4)
    # gets 3 first on the real history, 4 once its added 3 is masked
    preference = np.zeros(10)
    preference[[3, 4, 0]] = [3.0, 2.0, 1.0]

    def scores(histories: list[np.ndarray]) -> np.ndarray:
        return np.tile(preference, (len(histories), 1))

    assert next_item_metrics(scores, split, "test", [1])["hr@1"].tolist() == [0, 0, 0]
    assert next_item_metrics(scores, augmented, "test", [1])["hr@1"].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="sequence_history"):
        scored_splits(split, prefixes, "both")
    with pytest.raises(ValueError, match="2 prefixes for 3 users"):
        split.with_prefixes([np.array([1]), np.array([2])])


def test_sasrec_chooses_its_epoch_on_valid_and_stops_early():
    sequences = [np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0])] * 4
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.8, 0.99, 1.0])
    model = SASRecRecommender(
        {"hidden": 8, "layers": 1, "max_len": 4}, epochs=7, batch_size=4, patience=3
    ).fit(sequences, 4, validate=lambda score: next(scores))
    assert [r["epoch"] for r in model.history] == [0, 1, 2, 3, 4]  # 3 epochs without gain
    assert model.best_epoch == 1

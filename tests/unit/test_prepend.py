"""prepend's backward chaining on a hand-built transition matrix (no Spark, no trained model)."""

import numpy as np
import pandas as pd
import pytest
import torch

from samplegen.generate.prepend import chain_backward, prepend_batch
from samplegen.generate.transitions import Transitions
from samplegen.models import make_generator


def test_transition_estimate_is_smoothed_toward_next_item_popularity():
    model = Transitions.from_sequences([[0, 1, 2], [0, 1], [3, 1]], n_items=5)
    # into: item 1 three times, item 2 once -> pop = [0, .75, .25, 0, 0]; out(0) = 2, out(3) = 1
    got = model.leads_to(np.array([0, 3, 4]), 1)
    assert got == pytest.approx([(2 + 0.75) / 3, (1 + 0.75) / 2, 0.75 / 1])


def test_chain_backward_follows_the_transitions_to_the_first_item():
    # planted chain 4 -> 3 -> 2 -> 0 (0 is the user's first item), plus noise transitions
    sequences = [[4, 3, 2, 0]] * 5 + [[1, 5], [5, 1], [2, 5]]
    model = Transitions.from_sequences(sequences, n_items=6)
    # candidates in a draw order that is not the answer; 1 and 5 never lead to 0, 3 or 4
    assert chain_backward([1, 3, 5, 4, 2], first=0, k=3, model=model) == [4, 3, 2]
    assert chain_backward([1, 3, 5, 4, 2], first=0, k=1, model=model) == [2]


def test_chain_backward_breaks_ties_by_draw_order_and_stops_when_out_of_candidates():
    model = Transitions.from_sequences([[0, 1]], n_items=6)  # 3, 4, 5 never seen: all tie
    assert chain_backward([5, 3, 4], first=1, k=2, model=model) == [3, 5]
    assert chain_backward([5], first=1, k=3, model=model) == [5]
    assert chain_backward([], first=1, k=3, model=model) == []


def test_prepend_never_draws_the_users_valid_or_test_items():
    # 5 -> 0 is the likeliest way into the user's first item 0, then 4 -> 0, then 3 -> 0; the
    # user owns 0 to 2, 5 is their test item and 4 their valid item: only 3 may come before 0
    sequences = [[5, 0]] * 6 + [[5, 2]] + [[4, 0]] * 4 + [[4, 2]] * 3 + [[3, 0]] * 2 + [[3, 2]] * 5
    model = Transitions.from_sequences(sequences, n_items=6)
    torch.manual_seed(0)
    generator = make_generator("multvae", {"n_items": 6, "hidden_dims": [8, 4]})
    batch = pd.DataFrame(
        {
            "user_idx": [7],
            "item_idx": [np.array([0, 1, 2])],
            "first": [0],
            "valid_items": [np.array([4])],
            "test_items": [np.array([5])],
        }
    )
    rows = prepend_batch(batch, generator, model, 1, 6, 0.5, seed=3)  # every other item drawn
    assert [list(r) for r in rows["item_idx"]] == [[3]]
    # the same user without held-out items gets the test item: the exclusion is what stops it
    batch["valid_items"], batch["test_items"] = [None], [np.array([], dtype=np.int64)]
    rows = prepend_batch(batch, generator, model, 1, 6, 0.5, seed=3)
    assert [list(r) for r in rows["item_idx"]] == [[5]]

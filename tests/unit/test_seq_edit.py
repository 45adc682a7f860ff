"""insert / substitute_seq on hand-built transition matrices (no Spark, no trained model)."""

import numpy as np
import pandas as pd
import pytest
import torch

from samplegen.generate.new_users import NewUserPlan
from samplegen.generate.seq_edit import (
    edit_batch,
    gap_scores,
    insert_items,
    substitute_items,
    weakest_position,
)
from samplegen.generate.transitions import Transitions
from samplegen.models import make_generator

# planted chains 0 -> 4 -> 1 and 2 -> 5, plus the user's own transitions 0 -> 1 -> 2 (rarer)
SEQUENCES = [[0, 4, 1]] * 5 + [[2, 5]] * 5 + [[0, 1, 2]] * 2 + [[3, 3]]
MODEL = Transitions.from_sequences(SEQUENCES, n_items=7)


def test_gap_scores_are_the_chain_likelihood_factor_of_the_insertion():
    got = gap_scores([0, 1], [4], MODEL)[0]
    p = lambda a, b: MODEL.prob([a], [b])[0, 0]  # noqa: E731
    expected = [
        p(4, 0),  # before the first item: 4 -> 0 added
        p(0, 4) * p(4, 1) / p(0, 1),  # 0 -> 4 -> 1 instead of 0 -> 1
        p(1, 4),  # after the last item: 1 -> 4 added
    ]
    assert got == pytest.approx(expected)
    assert got[1] > 1 > got[0]  # 4 explains the user's 0 -> 1 better than it does itself


def test_insert_puts_each_candidate_where_its_transitions_are_strongest():
    # 4 belongs between 0 and 1, 5 after 2; 6 never appears in a sequence
    assert insert_items([0, 1, 2], [6, 5, 4], k=1, model=MODEL) == [0, 4, 1, 2]
    assert insert_items([0, 1, 2], [6, 5, 4], k=2, model=MODEL) == [0, 4, 1, 2, 5]
    assert insert_items([0, 1, 2], [5], k=3, model=MODEL) == [0, 1, 2, 5]  # out of candidates
    assert insert_items([0, 1, 2], [], k=2, model=MODEL) == [0, 1, 2]


def test_insert_breaks_ties_by_draw_order_then_position():
    unseen = Transitions.from_sequences([[0, 1]], n_items=8)  # 5, 6, 7 tie everywhere
    assert insert_items([5], [7, 6], k=1, model=unseen) == [7, 5]
    assert insert_items([5], [6, 7], k=2, model=unseen) == [7, 6, 5]


def test_substitute_replaces_the_weakest_item_with_the_best_fitting_candidate():
    # in 0 -> 3 -> 1 the 3 is out of place (3 only ever follows itself); 4 fits between 0 and 1
    assert weakest_position([0, 3, 1], set(), MODEL) == 1
    assert weakest_position([0, 3, 1], {0, 1, 2}, MODEL) == -1
    assert substitute_items([0, 3, 1], [6, 4], k=1, model=MODEL) == [0, 4, 1]
    twice = substitute_items([0, 3, 1], [6, 4], k=2, model=MODEL)
    assert twice[1] == 4 and sorted(twice) != sorted([0, 3, 1]) and len(twice) == 3
    assert substitute_items([0, 3, 1], [6, 4], k=5, model=MODEL)[1] == 4  # k > length: stops


def _batch(ns, held_out_test=(5,)):
    return pd.DataFrame(
        {
            "n": ns,
            "train_items": [np.array([0, 1, 2])] * len(ns),
            "valid_items": [None] * len(ns),
            "test_items": [np.array(held_out_test, dtype=np.int64)] * len(ns),
        }
    )


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return make_generator("multvae", {"n_items": 7, "hidden_dims": [8, 4]})


PLAN = NewUserPlan(
    n_users=3, segment_max_items=20, first_user_idx=100, weight=0.5, seed=9, run_id="r"
)


def test_edit_batch_never_draws_the_seeds_test_items_and_keeps_order(generator):
    # every item not owned is drawn; 5 (the test item) would follow 2 best of all
    rows = edit_batch(_batch([0]), generator, MODEL, "insert", 2, 7, PLAN)
    items = list(rows["item_idx"][0])
    assert 5 not in items and len(items) == 5 and items[:2] == [0, 4]
    assert [i for i in items if i in (0, 1, 2)] == [0, 1, 2]  # the seed's order survives
    assert list(rows["user_id"]) == ["syn:r:0"] and list(rows["user_idx"]) == [100]
    # the exclusion is what keeps it out
    rows = edit_batch(_batch([0], held_out_test=()), generator, MODEL, "insert", 2, 7, PLAN)
    assert list(rows["item_idx"][0]) == [0, 4, 1, 2, 5]


@pytest.mark.parametrize("strategy", ["insert", "substitute_seq"])
def test_edit_batch_is_deterministic_per_seed_whatever_the_batching(generator, strategy):
    def draw(ns):
        rows = edit_batch(_batch(ns), generator, MODEL, strategy, 1, 2, PLAN)
        return {
            u: list(items) for u, items in zip(rows["user_idx"], rows["item_idx"], strict=False)
        }

    together = draw([0, 1, 2])
    assert set(together) == {100, 101, 102}
    assert together == {**draw([2]), **draw([0, 1])} == draw([0, 1, 2])

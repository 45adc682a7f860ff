"""The model-free augmentation operators, checked by hand on small item sets."""

import numpy as np
import pytest

from samplegen.augment import make_operator
from samplegen.augment.operators import crop, mask, oversample, reorder, substitute

# items 0-3 are category 0, items 4-7 category 1, item 8 has no category
CATEGORIES = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1])


def rng(n=0):
    return np.random.default_rng(n)


def test_oversample_is_an_exact_copy():
    assert oversample(np.array([5, 1, 3]), rng()).tolist() == [1, 3, 5]


@pytest.mark.parametrize("keep, size", [(0.5, 3), (0.01, 1), (1.0, 6)])
def test_mask_keeps_a_share_of_the_items(keep, size):
    items = np.array([0, 1, 2, 4, 5, 6])
    for seed in range(20):
        got = mask(items, rng(seed), keep)
        assert len(got) == size and set(got) <= set(items)
        assert np.all(np.diff(got) > 0)


def test_substitute_swaps_within_the_category():
    items = np.array([0, 1, 4, 5])
    changed = 0
    for seed in range(50):
        got = substitute(items, rng(seed), 0.5, CATEGORIES)
        assert len(got) == len(set(got.tolist())) == 4
        assert sorted(CATEGORIES[got]) == sorted(CATEGORIES[items])  # same category counts
        assert len(set(got) - set(items)) == 2  # exactly half replaced
        changed += set(got) != set(items)
    assert changed == 50


def test_substitute_keeps_an_item_whose_category_is_full():
    items = np.array([0, 1, 2, 3, 8])  # category 0 and the null category have no spare item
    assert substitute(items, rng(), 1.0, CATEGORIES).tolist() == [0, 1, 2, 3, 8]


def test_same_stream_gives_the_same_user():
    items = np.arange(8)
    for name in ("mask", "substitute", "crop", "reorder"):
        op = make_operator(name, keep=0.5, share=0.5, item_categories=CATEGORIES)
        assert op(items, rng(3)).tolist() == op(items, rng(3)).tolist()
    with pytest.raises(ValueError, match="unknown augmentation operator"):
        make_operator("shuffle", 0.5, 0.5, CATEGORIES)


@pytest.mark.parametrize("keep, size", [(0.5, 3), (0.01, 1), (1.0, 6)])
def test_crop_keeps_one_contiguous_stretch_in_order(keep, size):
    sequence = np.array([7, 2, 9, 4, 0, 5])  # time order, not index order
    starts = set()
    for seed in range(30):
        got = crop(sequence, rng(seed), keep).tolist()
        start = sequence.tolist().index(got[0])
        assert len(got) == size and got == sequence[start : start + size].tolist()
        starts.add(start)
    assert len(starts) == len(sequence) - size + 1  # every window position is reachable


def test_reorder_shuffles_one_stretch_and_keeps_the_rest():
    sequence = np.array([7, 2, 9, 4, 0, 5, 3, 8])
    for seed in range(30):
        got = reorder(sequence, rng(seed), 0.5)
        changed = np.flatnonzero(got != sequence)
        assert sorted(got.tolist()) == sorted(sequence.tolist())
        assert len(changed) >= 2 and changed[-1] - changed[0] < 4  # within one window of 4
    assert reorder(np.array([3]), rng(), 0.5).tolist() == [3]
    assert sorted(reorder(np.array([3, 1]), rng(), 0.1).tolist()) == [1, 3]
    assert reorder(np.array([3, 1]), rng(), 0.1).tolist() == [1, 3]  # two items: swapped

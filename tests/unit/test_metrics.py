import math

import numpy as np
import pytest

from samplegen.evaluate.metrics import (
    bootstrap_ci,
    catalogue_coverage,
    ndcg_at_k,
    paired_bootstrap_ci,
    recall_at_k,
    top_k_items,
)


def _empty(n: int) -> list[np.ndarray]:
    return [np.array([], dtype=np.int64) for _ in range(n)]


# --- independent pure-Python references -------------------------------------------------------


def _ref_top_k(scores: np.ndarray, k: int, exclude: list[np.ndarray]) -> np.ndarray:
    out = []
    for row, excl in zip(scores.tolist(), exclude, strict=True):
        banned = set(int(i) for i in excl)
        allowed = sorted(
            (i for i in range(len(row)) if i not in banned), key=lambda i: (-row[i], i)
        )
        out.append((allowed + sorted(banned))[:k])
    return np.array(out, dtype=np.int64)


def _ref_recall(top_k: np.ndarray, targets: list[np.ndarray], k: int) -> list[float]:
    out = []
    for ranked, target in zip(top_k.tolist(), targets, strict=True):
        t = set(int(i) for i in target)
        if not t:
            out.append(math.nan)
            continue
        hits = sum(1 for i in ranked[:k] if i in t)
        out.append(hits / min(k, len(t)))
    return out


def _ref_ndcg(top_k: np.ndarray, targets: list[np.ndarray], k: int) -> list[float]:
    out = []
    for ranked, target in zip(top_k.tolist(), targets, strict=True):
        t = set(int(i) for i in target)
        if not t:
            out.append(math.nan)
            continue
        dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in t)
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(t))))
        out.append(dcg / idcg)
    return out


# --- top_k_items ---------------------------------------------------------------------------------


def test_top_k_hand_example_with_tie_broken_by_lower_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.3]], dtype=np.float32)
    assert top_k_items(scores, 3, _empty(1)).tolist() == [[1, 3, 2]]


def test_top_k_excludes_training_items():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.3], [5.0, 4.0, 3.0, 2.0, 1.0]])
    exclude = [np.array([1]), np.array([0, 2])]
    assert top_k_items(scores, 3, exclude).tolist() == [[3, 2, 4], [1, 3, 4]]


def test_top_k_ties_at_the_cut_take_lowest_indices():
    scores = np.array([[1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert top_k_items(scores, 2, _empty(2)).tolist() == [[0, 2], [0, 1]]


def test_top_k_nan_ranks_last_and_k_above_n_items_is_capped():
    scores = np.array([[np.nan, 0.2, 0.7]])
    result = top_k_items(scores, 10, _empty(1))
    assert result.shape == (1, 3)
    assert result.tolist() == [[2, 1, 0]]


def test_top_k_fully_excluded_row_pads_with_excluded_items_by_index():
    scores = np.array([[0.3, 0.2, 0.1]])
    assert top_k_items(scores, 2, [np.array([2, 0, 1])]).tolist() == [[0, 1]]


def test_top_k_does_not_modify_scores():
    rng = np.random.default_rng(0)
    scores = rng.random((10, 8)).astype(np.float32)
    before = scores.copy()
    top_k_items(scores, 3, [np.array([0, 1])] * 10)
    np.testing.assert_array_equal(scores, before)


def test_top_k_matches_reference_on_random_data_with_ties_and_chunks():
    rng = np.random.default_rng(42)
    n_users, n_items, k = 57, 40, 7
    scores = np.round(rng.random((n_users, n_items)), 1)  # many ties
    exclude = [rng.choice(n_items, size=rng.integers(0, 10), replace=False) for _ in range(n_users)]
    expected = _ref_top_k(scores, k, exclude)
    np.testing.assert_array_equal(top_k_items(scores, k, exclude), expected)
    np.testing.assert_array_equal(top_k_items(scores, k, exclude, chunk_rows=5), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_k_matches_reference_with_nan_and_ties_at_the_kth_value(dtype):
    """Wide rows where the k-th value is shared by more items than fit: the tie re-selection."""
    rng = np.random.default_rng(7)
    n_users, n_items, k = 300, 500, 20
    scores = rng.integers(0, 30, size=(n_users, n_items)).astype(dtype)  # ~17 items per value
    scores[rng.random(scores.shape) < 0.01] = np.nan
    exclude = [rng.choice(n_items, size=rng.integers(0, 50), replace=False) for _ in range(n_users)]
    scores_ref = np.where(np.isnan(scores), -np.inf, scores)
    np.testing.assert_array_equal(
        top_k_items(scores, k, exclude), _ref_top_k(scores_ref, k, exclude)
    )


def test_top_k_validates_arguments():
    with pytest.raises(ValueError, match="k must be positive"):
        top_k_items(np.zeros((2, 3)), 0, _empty(2))
    with pytest.raises(ValueError, match="exclude has 1 entries"):
        top_k_items(np.zeros((2, 3)), 1, _empty(1))
    with pytest.raises(ValueError, match="2-D"):
        top_k_items(np.zeros(3), 1, _empty(1))


# --- recall / ndcg -------------------------------------------------------------------------------


def test_recall_hand_examples():
    top_k = np.array([[3, 1, 4, 0], [3, 1, 4, 0], [3, 1, 4, 0], [3, 1, 4, 0]])
    targets = [
        np.array([1, 0]),  # |target| < k: 1 hit in first 3 over min(3, 2) = 2
        np.array([9]),  # no hit
        np.array([], dtype=np.int64),  # empty -> NaN
        np.array([3, 1, 4, 0, 2]),  # |target| > k: 3 hits over min(3, 5) = 3
    ]
    result = recall_at_k(top_k, targets, 3)
    assert result[0] == pytest.approx(0.5)
    assert result[1] == 0.0
    assert math.isnan(result[2])
    assert result[3] == pytest.approx(1.0)
    assert recall_at_k(top_k[:1], targets[:1], 4)[0] == pytest.approx(1.0)


def test_recall_counts_duplicate_targets_once():
    assert recall_at_k(np.array([[1, 2, 3]]), [np.array([1, 1])], 3)[0] == pytest.approx(1.0)


def test_ndcg_hits_at_ranks_zero_and_two():
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309297535714575
    result = ndcg_at_k(np.array([[5, 7, 6, 8]]), [np.array([5, 6])], 3)
    assert result[0] == pytest.approx(1.5 / 1.6309297535714575)
    assert result[0] == pytest.approx(0.9197207891481876)


def test_ndcg_perfect_none_and_empty():
    top_k = np.array([[2, 1, 0], [2, 1, 0], [2, 1, 0]])
    targets = [np.array([2, 1]), np.array([7]), np.array([], dtype=np.int64)]
    result = ndcg_at_k(top_k, targets, 3)
    assert result[0] == pytest.approx(1.0)
    assert result[1] == 0.0
    assert math.isnan(result[2])
    # a single hit at rank 1 with one target: (1/log2(3)) / 1
    assert ndcg_at_k(np.array([[0, 4]]), [np.array([4])], 2)[0] == pytest.approx(0.6309297535714575)


def test_recall_and_ndcg_match_reference_on_random_data():
    rng = np.random.default_rng(7)
    n_users, n_items, k = 200, 30, 10
    scores = rng.random((n_users, n_items))
    train = [rng.choice(n_items, size=rng.integers(0, 6), replace=False) for _ in range(n_users)]
    targets = []
    for u in range(n_users):
        pool = np.setdiff1d(np.arange(n_items), train[u])
        targets.append(rng.choice(pool, size=rng.integers(0, 15), replace=False))
    top_k = top_k_items(scores, k, train)
    for cut in (1, 5, k):
        np.testing.assert_allclose(
            recall_at_k(top_k, targets, cut), _ref_recall(top_k, targets, cut)
        )
        np.testing.assert_allclose(ndcg_at_k(top_k, targets, cut), _ref_ndcg(top_k, targets, cut))


def test_recall_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="targets has 1 entries"):
        recall_at_k(np.zeros((2, 3), dtype=np.int64), [np.array([1])], 3)


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    values = np.random.default_rng(1).normal(0.3, 0.1, size=500)
    low, high = bootstrap_ci(values, n_samples=300, seed=5)
    assert low < values.mean() < high
    assert bootstrap_ci(values, n_samples=300, seed=5) == (low, high)
    assert bootstrap_ci(values, n_samples=300, seed=6) != (low, high)


def test_bootstrap_ci_narrows_with_more_users():
    rng = np.random.default_rng(2)
    small = rng.normal(0.0, 1.0, size=50)
    large = rng.normal(0.0, 1.0, size=5000)
    low_s, high_s = bootstrap_ci(small, 300, seed=0)
    low_l, high_l = bootstrap_ci(large, 300, seed=0)
    assert high_l - low_l < (high_s - low_s) / 3


def test_bootstrap_ci_ignores_nans_and_handles_all_nan():
    values = np.random.default_rng(3).random(100)
    with_nans = np.concatenate([values, [np.nan, np.nan]])
    assert bootstrap_ci(with_nans, 200, seed=1) == bootstrap_ci(values, 200, seed=1)
    low, high = bootstrap_ci(np.array([np.nan]), 200, seed=1)
    assert math.isnan(low) and math.isnan(high)


def test_bootstrap_ci_wider_for_smaller_alpha():
    values = np.random.default_rng(4).random(200)
    low95, high95 = bootstrap_ci(values, 500, seed=0, alpha=0.05)
    low50, high50 = bootstrap_ci(values, 500, seed=0, alpha=0.5)
    assert low95 <= low50 and high50 <= high95
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(values, 10, seed=0, alpha=1.5)
    with pytest.raises(ValueError, match="n_samples"):
        bootstrap_ci(values, 0, seed=0)


def test_paired_identical_is_exactly_zero():
    a = np.random.default_rng(5).random(300)
    assert paired_bootstrap_ci(a, a.copy(), 200, seed=0) == (0.0, 0.0, 0.0)


def test_paired_constant_shift_gives_shift():
    a = np.random.default_rng(6).random(300)
    mean, low, high = paired_bootstrap_ci(a, a + 0.25, 200, seed=0)
    assert mean == pytest.approx(0.25)
    assert low == pytest.approx(0.25)
    assert high == pytest.approx(0.25)


def test_paired_detects_small_shift_that_unpaired_cis_miss():
    rng = np.random.default_rng(8)
    a = rng.random(400)
    b = a + 0.01 + rng.normal(0.0, 0.005, size=400)
    mean, low, high = paired_bootstrap_ci(a, b, 300, seed=0)
    assert 0 < low < mean < high
    low_a, high_a = bootstrap_ci(a, 300, seed=0)
    low_b, _ = bootstrap_ci(b, 300, seed=0)
    assert low_b < high_a  # unpaired intervals overlap


def test_paired_drops_pairs_with_nan_and_checks_shapes():
    a = np.array([0.1, np.nan, 0.3])
    b = np.array([0.2, 0.5, np.nan])
    mean, low, high = paired_bootstrap_ci(a, b, 50, seed=0)
    assert (mean, low, high) == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap_ci(np.zeros(3), np.zeros(4), 10, seed=0)


# --- coverage ------------------------------------------------------------------------------------


def test_catalogue_coverage():
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
    assert catalogue_coverage(np.array([[0, 1], [1, 0]]), 2) == 1.0
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage(np.array([[0]]), 0)

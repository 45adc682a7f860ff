import itertools
import math
from collections import Counter

import numpy as np
import pytest

from samplegen.evaluate.detection import detection_auc
from samplegen.evaluate.fidelity import cooccurrence_corr, fidelity_metrics, item_fidelity
from samplegen.evaluate.records import item_counts, record_sizes
from samplegen.evaluate.stats import ks_statistic, roc_auc, total_variation


def _records(*rows: list[int]) -> list[np.ndarray]:
    return [np.array(r, dtype=np.int64) for r in rows]


def _random_records(
    rng: np.random.Generator, n: int, n_items: int, p: np.ndarray | None = None, max_size: int = 8
) -> list[np.ndarray]:
    sizes = rng.integers(0, max_size + 1, size=n)
    return [
        np.sort(rng.choice(n_items, size=s, replace=False, p=p)).astype(np.int64) for s in sizes
    ]


def _zipf(n_items: int, a: float = 1.0) -> np.ndarray:
    w = 1.0 / np.arange(1, n_items + 1) ** a
    return w / w.sum()


# --- independent pure-Python references -------------------------------------------------------


def _ref_auc(scores, labels) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return total / (len(pos) * len(neg))


def _ref_ks(a, b) -> float:
    a, b = list(a), list(b)
    best = 0.0
    for x in a + b:
        fa = sum(1 for v in a if v <= x) / len(a)
        fb = sum(1 for v in b if v <= x) / len(b)
        best = max(best, abs(fa - fb))
    return best


def _ref_tvd(p, q) -> float:
    sp, sq = sum(p), sum(q)
    return 0.5 * sum(abs(x / sp - y / sq) for x, y in zip(p, q, strict=True))


def _ref_counts(records, n_items) -> list[int]:
    c = Counter(int(i) for r in records for i in r)
    return [c[i] for i in range(n_items)]


def _ref_cooc_corr(real, synthetic, n_items, top_items, top_pairs) -> float:
    counts = _ref_counts(real, n_items)
    top = sorted((i for i in range(n_items) if counts[i] > 0), key=lambda i: (-counts[i], i))
    top = set(top[:top_items])

    def pair_counts(records):
        c = Counter()
        for r in records:
            items = sorted(int(i) for i in r if int(i) in top)
            c.update(itertools.combinations(items, 2))
        return c

    real_pairs, syn_pairs = pair_counts(real), pair_counts(synthetic)
    chosen = sorted(real_pairs, key=lambda ab: (-real_pairs[ab], ab))[:top_pairs]
    x = np.array([real_pairs[ab] / len(real) for ab in chosen])
    y = np.array([syn_pairs[ab] / len(synthetic) for ab in chosen])
    if len(chosen) < 2 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


# --- roc_auc -------------------------------------------------------------------------------------


def test_roc_auc_hand_computed():
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert roc_auc(np.array([1.0, 1.0]), np.array([0, 1])) == pytest.approx(0.5)
    assert roc_auc(np.array([0.0, 1.0]), np.array([0, 1])) == pytest.approx(1.0)
    assert roc_auc(np.array([0.0, 1.0]), np.array([1, 0])) == pytest.approx(0.0)
    # one tie between classes out of 4 pairs: (1 + 1 + 0.5 + 1) / 4
    assert roc_auc(np.array([1, 2, 2, 3]), np.array([0, 0, 1, 1])) == pytest.approx(0.875)


def test_roc_auc_matches_all_pairs_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        scores = rng.integers(0, 6, size=n).astype(float)
        labels = rng.integers(0, 2, size=n)
        labels[0], labels[1] = 0, 1
        assert roc_auc(scores, labels) == pytest.approx(_ref_auc(scores, labels), abs=1e-12)


def test_roc_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc(np.array([0.1, 0.2]), np.array([0, 2]))
    with pytest.raises(ValueError, match="same length"):
        roc_auc(np.array([0.1, 0.2]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(np.array([np.nan, 0.2]), np.array([0, 1]))


# --- ks_statistic / total_variation -------------------------------------------------------------


def test_ks_hand_computed():
    assert ks_statistic(np.array([1, 2, 3]), np.array([3, 2, 1])) == 0.0
    assert ks_statistic(np.array([1, 2]), np.array([3, 4])) == 1.0
    # ties: ECDFs at 1 are 2/3 and 1/3, at 2 both are 1
    assert ks_statistic(np.array([1, 1, 2]), np.array([1, 2, 2])) == pytest.approx(1 / 3)
    assert ks_statistic(np.array([5.0]), np.array([5.0, 5.0, 5.0])) == 0.0


def test_ks_matches_explicit_ecdf_loops():
    rng = np.random.default_rng(1)
    for _ in range(25):
        a = rng.integers(0, 8, size=int(rng.integers(1, 30)))
        b = rng.integers(0, 8, size=int(rng.integers(1, 30))) + int(rng.integers(0, 3))
        assert ks_statistic(a, b) == pytest.approx(_ref_ks(a, b), abs=1e-12)
    a, b = rng.normal(size=40), rng.normal(0.5, size=17)
    assert ks_statistic(a, b) == pytest.approx(_ref_ks(a, b), abs=1e-12)


def test_ks_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        ks_statistic(np.array([]), np.array([1.0]))


def test_total_variation():
    assert total_variation(np.array([1, 1]), np.array([1, 0])) == pytest.approx(0.5)
    assert total_variation(np.array([2, 6]), np.array([1, 3])) == pytest.approx(0.0)
    assert total_variation(np.array([1, 0]), np.array([0, 5])) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    for _ in range(10):
        p, q = rng.integers(0, 10, size=7), rng.integers(0, 10, size=7)
        p[0] = q[0] = 1
        assert total_variation(p, q) == pytest.approx(_ref_tvd(p.tolist(), q.tolist()))
    assert math.isnan(total_variation(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="same length"):
        total_variation(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        total_variation(np.array([1.0, -1.0]), np.ones(2))


# --- helpers -------------------------------------------------------------------------------------


def test_item_counts_and_sizes():
    records = _records([0, 2], [2], [], [1, 2, 3])
    np.testing.assert_array_equal(item_counts(records, 5), [1, 1, 3, 1, 0])
    assert item_counts(records, 5).dtype == np.int64
    np.testing.assert_array_equal(record_sizes(records), [2, 1, 0, 3])
    np.testing.assert_array_equal(item_counts([], 3), [0, 0, 0])
    with pytest.raises(ValueError, match="item indices"):
        item_counts(records, 3)


# --- fidelity_metrics ----------------------------------------------------------------------------


def test_fidelity_metrics_hand_computed():
    real = _records([0, 1], [0, 2], [1])
    synthetic = _records([0], [0, 1, 2])
    m = fidelity_metrics(real, synthetic, 4, np.array([0, 0, 1, -1]), seed=0)
    # counts real [2, 2, 1, 0], synthetic [2, 1, 1, 0]
    assert m["popularity_tvd"] == pytest.approx(0.15)
    # real ranks = item index; interactions real [0,1,0,2,1], synthetic [0,0,1,2]
    assert m["popularity_rank_ks"] == pytest.approx(0.1)
    # sizes real [2, 2, 1], synthetic [1, 3]
    assert m["basket_size_ks"] == pytest.approx(0.5)
    assert m["basket_size_tvd"] == pytest.approx(2 / 3)
    # category shares real [4/5, 1/5], synthetic [3/4, 1/4]
    assert m["category_tvd"] == pytest.approx(0.05)
    # two real pairs; the synthetic rates are both 1/2: zero variance
    assert math.isnan(m["cooccurrence_corr"])
    assert math.isnan(m["detection_auc"])  # fewer than 10 records
    assert set(m) == {
        "popularity_tvd",
        "popularity_rank_ks",
        "basket_size_ks",
        "basket_size_tvd",
        "category_tvd",
        "cooccurrence_corr",
        "detection_auc",
    }


def test_fidelity_metrics_match_brute_force():
    rng = np.random.default_rng(3)
    n_items = 30
    category = rng.integers(-1, 4, size=n_items)
    real = _random_records(rng, 40, n_items, _zipf(n_items))
    synthetic = _random_records(rng, 25, n_items)
    m = fidelity_metrics(real, synthetic, n_items, category, seed=0)

    rc, sc = _ref_counts(real, n_items), _ref_counts(synthetic, n_items)
    assert m["popularity_tvd"] == pytest.approx(_ref_tvd(rc, sc))
    order = sorted(range(n_items), key=lambda i: (-rc[i], i))
    rank = {item: r for r, item in enumerate(order)}
    real_ranks = [rank[int(i)] for r in real for i in r]
    syn_ranks = [rank[int(i)] for r in synthetic for i in r]
    assert m["popularity_rank_ks"] == pytest.approx(_ref_ks(real_ranks, syn_ranks))
    rs, ss = [len(r) for r in real], [len(r) for r in synthetic]
    assert m["basket_size_ks"] == pytest.approx(_ref_ks(rs, ss))
    top = max(rs + ss)
    assert m["basket_size_tvd"] == pytest.approx(
        _ref_tvd([rs.count(k) for k in range(top + 1)], [ss.count(k) for k in range(top + 1)])
    )
    cats = sorted(set(int(c) for c in category if c >= 0))
    rcat = [sum(rc[i] for i in range(n_items) if category[i] == c) for c in cats]
    scat = [sum(sc[i] for i in range(n_items) if category[i] == c) for c in cats]
    assert m["category_tvd"] == pytest.approx(_ref_tvd(rcat, scat))
    assert m["cooccurrence_corr"] == pytest.approx(
        _ref_cooc_corr(real, synthetic, n_items, 300, 1000)
    )
    assert 0.0 <= m["detection_auc"] <= 1.0


def test_cooccurrence_corr_matches_brute_force_with_truncation():
    rng = np.random.default_rng(4)
    n_items = 40
    for top_items, top_pairs in [(10, 15), (25, 40), (300, 1000), (40, 3)]:
        real = _random_records(rng, 60, n_items, _zipf(n_items, 0.7))
        synthetic = _random_records(rng, 50, n_items, _zipf(n_items, 0.7))
        got = cooccurrence_corr(real, synthetic, n_items, top_items, top_pairs)
        want = _ref_cooc_corr(real, synthetic, n_items, top_items, top_pairs)
        assert got == pytest.approx(want, abs=1e-12)
    # a copy correlates perfectly
    assert cooccurrence_corr(real, real, n_items) == pytest.approx(1.0)


def test_fidelity_metrics_identical_sets_and_nan_when_empty():
    rng = np.random.default_rng(5)
    n_items = 20
    real = _random_records(rng, 30, n_items)
    m = fidelity_metrics(real, list(real), n_items, np.arange(n_items) % 3, seed=0)
    for key in [
        "popularity_tvd",
        "popularity_rank_ks",
        "basket_size_ks",
        "basket_size_tvd",
        "category_tvd",
    ]:
        assert m[key] == pytest.approx(0.0)
    assert m["cooccurrence_corr"] == pytest.approx(1.0)
    empty = fidelity_metrics(real, [], n_items, np.full(n_items, -1), seed=0)
    assert all(math.isnan(v) for v in empty.values())


def test_fidelity_metrics_rejects_bad_categories():
    with pytest.raises(ValueError, match="one code per item"):
        fidelity_metrics(_records([0]), _records([1]), 3, np.zeros(2, dtype=int), seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        fidelity_metrics(_records([0]), _records([1]), 2, np.array([0, -2]), seed=0)


# --- detection test ------------------------------------------------------------------------------


N_ITEMS = 200
CATEGORY = np.arange(N_ITEMS) % 7


def test_detection_auc_near_half_for_same_distribution():
    rng = np.random.default_rng(6)
    p = _zipf(N_ITEMS)
    real = _random_records(rng, 400, N_ITEMS, p, max_size=10)
    synthetic = _random_records(rng, 400, N_ITEMS, p, max_size=10)
    auc = detection_auc(real, synthetic, N_ITEMS, CATEGORY, seed=0)
    assert abs(auc - 0.5) < 0.1


def test_detection_auc_high_for_tail_only_synthetic():
    rng = np.random.default_rng(7)
    real = _random_records(rng, 300, N_ITEMS, _zipf(N_ITEMS), max_size=10)
    tail = np.r_[np.zeros(N_ITEMS // 2), np.ones(N_ITEMS // 2)]
    synthetic = _random_records(rng, 300, N_ITEMS, tail / tail.sum(), max_size=10)
    auc = detection_auc(real, synthetic, N_ITEMS, CATEGORY, seed=0)
    assert auc > 0.9
    m = fidelity_metrics(real, synthetic, N_ITEMS, CATEGORY, seed=0)
    assert m["detection_auc"] == auc
    assert m["popularity_rank_ks"] > 0.5


def test_detection_auc_deterministic_and_nan_when_small():
    rng = np.random.default_rng(8)
    real = _random_records(rng, 120, N_ITEMS, _zipf(N_ITEMS))
    synthetic = _random_records(rng, 90, N_ITEMS)
    a = fidelity_metrics(real, synthetic, N_ITEMS, CATEGORY, seed=3)
    b = fidelity_metrics(real, synthetic, N_ITEMS, CATEGORY, seed=3)
    assert a == b
    assert math.isnan(detection_auc(real[:9], synthetic, N_ITEMS, CATEGORY, seed=0))
    assert not math.isnan(detection_auc(real[:10], synthetic[:10], N_ITEMS, CATEGORY, seed=0))


def test_item_fidelity_compares_columns_pairs_and_titles():
    import pandas as pd

    real = pd.DataFrame(
        {
            "category": ["a", "a", "b", "b"],
            "department": ["x", "x", "y", "y"],
            "brand": ["p", "q", "p", "q"],
            "price": [1.0, 2.0, 3.0, 4.0],
            "title": ["one two", "one three", "four", "four five six"],
        }
    )
    same = item_fidelity(real, real)
    assert set(same) == {
        "tvd:category",
        "tvd:department",
        "tvd:brand",
        "ks:price",
        "pair_tvd:department,category",
        "tvd:title_words",
        "ks:title_length",
    }
    assert all(v == 0.0 for v in same.values())
    shifted = real.assign(title=["one one", "one", "one", None])
    figures = item_fidelity(real, shifted)
    # real words: one x2, two, three, four x2, five, six (8); synthetic: one x4
    assert figures["tvd:title_words"] == pytest.approx(1 - 2 / 8)
    assert figures["ks:title_length"] == pytest.approx(ks_statistic([2, 2, 1, 3], [2, 1, 1]))
    assert "tvd:title_words" not in item_fidelity(real.drop(columns="title"), real)


def test_detection_logistic_fit_minimises_the_penalised_log_loss():
    # sklearn's C = 1 / l2 must give the minimiser of sum(log-loss) + l2 / 2 ||w||^2 with a free
    # intercept: the gradient of that objective vanishes at the fitted weights.
    from samplegen.evaluate.detection import fit_logistic

    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 6))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(size=300) > 0).astype(float)
    for l2 in (0.1, 1.0, 10.0):
        weights, bias = fit_logistic(x, y, l2)
        p = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
        np.testing.assert_allclose(x.T @ (p - y) + l2 * weights, 0.0, atol=1e-6)
        assert abs(float((p - y).sum())) < 1e-6

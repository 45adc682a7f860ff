import math

import numpy as np
import pytest

from samplegen.evaluate.disclosure import DisclosureResult, closest_jaccard, disclosure_metrics


def _records(*rows: list[int]) -> list[np.ndarray]:
    return [np.array(r, dtype=np.int64) for r in rows]


def _random_records(
    rng: np.random.Generator,
    n: int,
    n_items: int,
    low: int = 0,
    max_size: int = 6,
    min_size: int = 0,
) -> list[np.ndarray]:
    sizes = rng.integers(min_size, max_size + 1, size=n)
    return [np.sort(rng.choice(np.arange(low, n_items), size=s, replace=False)) for s in sizes]


def _ref_closest(queries, references, exclude=None) -> list[float]:
    out = []
    for i, q in enumerate(queries):
        qs = set(int(x) for x in q)
        best = 0.0
        for j, r in enumerate(references):
            if exclude is not None and exclude[i] == j:
                continue
            rs = set(int(x) for x in r)
            union = len(qs | rs)
            if union:
                best = max(best, len(qs & rs) / union)
        out.append(best)
    return out


# --- closest_jaccard -----------------------------------------------------------------------------


def test_closest_jaccard_hand_computed():
    queries = _records([0, 1], [2], [])
    references = _records([0, 1, 2], [2], [])
    np.testing.assert_allclose(closest_jaccard(queries, references, 4), [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(
        closest_jaccard(queries, references, 4, exclude=np.array([0, 1, -1])), [0.0, 1 / 3, 0.0]
    )
    np.testing.assert_array_equal(closest_jaccard(queries, [], 4), [0.0, 0.0, 0.0])
    assert closest_jaccard([], references, 4).shape == (0,)


def test_closest_jaccard_matches_sets_brute_force():
    rng = np.random.default_rng(0)
    n_items = 15
    queries = _random_records(rng, 23, n_items)
    references = _random_records(rng, 31, n_items)
    exclude = rng.integers(-1, len(references), size=len(queries))
    for chunk_rows in [1, 4, 7, 1024]:
        got = closest_jaccard(queries, references, n_items, chunk_rows=chunk_rows)
        np.testing.assert_allclose(got, _ref_closest(queries, references), atol=1e-12)
        got = closest_jaccard(queries, references, n_items, exclude, chunk_rows=chunk_rows)
        np.testing.assert_allclose(got, _ref_closest(queries, references, exclude), atol=1e-12)


def test_closest_jaccard_rejects_bad_input():
    recs = _records([0], [1])
    with pytest.raises(ValueError, match="one entry per query"):
        closest_jaccard(recs, recs, 2, exclude=np.array([0]))
    with pytest.raises(ValueError, match="reference row"):
        closest_jaccard(recs, recs, 2, exclude=np.array([0, 2]))
    with pytest.raises(ValueError, match="item indices"):
        closest_jaccard(recs, _records([5]), 2)
    with pytest.raises(ValueError, match="chunk_rows"):
        closest_jaccard(recs, recs, 2, chunk_rows=0)


# --- disclosure_metrics --------------------------------------------------------------------------


def test_disclosure_metrics_match_brute_force():
    rng = np.random.default_rng(1)
    n_items = 25
    train = _random_records(rng, 40, n_items)
    holdout = _random_records(rng, 30, n_items)
    owner = rng.integers(-1, len(train), size=len(holdout))
    synthetic = _random_records(rng, 35, n_items)
    result = disclosure_metrics(train, holdout, owner, synthetic, n_items, seed=0)
    assert isinstance(result, DisclosureResult)

    dcr_syn = 1.0 - np.array(_ref_closest(synthetic, train))
    dcr_hold = 1.0 - np.array(_ref_closest(holdout, train, owner))
    np.testing.assert_allclose(result.dcr_synthetic, dcr_syn, atol=1e-12)
    np.testing.assert_allclose(result.dcr_holdout, dcr_hold, atol=1e-12)
    m = result.metrics
    assert m["dcr_synthetic_median"] == pytest.approx(np.median(dcr_syn))
    assert m["dcr_holdout_median"] == pytest.approx(np.median(dcr_hold))
    assert m["dcr_synthetic_p05"] == pytest.approx(np.percentile(dcr_syn, 5))
    p05 = np.percentile(dcr_hold, 5)
    assert m["dcr_holdout_p05"] == pytest.approx(p05)
    assert m["dcr_closer_share"] == pytest.approx(np.mean(dcr_syn < p05))
    sizes = np.array([len(r) for r in synthetic])
    assert m["exact_copy_share"] == pytest.approx(np.mean((dcr_syn == 0) & (sizes > 0)))
    assert m["n_synthetic"] == 35.0
    assert m["n_holdout"] == 30.0
    assert 0.0 <= m["mia_auc"] <= 1.0


def test_exact_copy_share_counts_planted_copy():
    rng = np.random.default_rng(2)
    train = _random_records(rng, 50, 50)  # items 0..49
    synthetic = _random_records(rng, 20, 100, low=50)  # items 50..99, never a copy
    synthetic[7] = train[3] if len(train[3]) else np.array([1, 2], dtype=np.int64)
    train[3] = synthetic[7]
    synthetic[11] = np.array([], dtype=np.int64)  # empty is not a copy, even of an empty record
    train[4] = np.array([], dtype=np.int64)
    holdout = _random_records(rng, 20, 50)
    result = disclosure_metrics(train, holdout, np.full(20, -1), synthetic, 100, seed=0)
    assert result.metrics["exact_copy_share"] == pytest.approx(1 / 20)


def test_mia_auc_high_when_synthetic_copies_members():
    rng = np.random.default_rng(3)
    n_items = 60
    # non-trivial records: an empty or duplicated member has no signal of its own
    train = _random_records(rng, 200, n_items, max_size=8, min_size=3)
    holdout = _random_records(rng, 200, n_items, max_size=8, min_size=3)
    owner = np.full(len(holdout), -1)
    leaky = disclosure_metrics(train, holdout, owner, [r.copy() for r in train], n_items, seed=0)
    assert leaky.metrics["mia_auc"] > 0.9
    assert leaky.metrics["dcr_closer_share"] > 0.5

    fresh = _random_records(rng, 200, n_items, max_size=8, min_size=3)
    safe = disclosure_metrics(train, holdout, owner, fresh, n_items, seed=0)
    assert abs(safe.metrics["mia_auc"] - 0.5) < 0.15
    assert safe.metrics["dcr_closer_share"] < 0.2


def test_disclosure_metrics_subsamples_deterministically():
    rng = np.random.default_rng(4)
    n_items = 30
    train = _random_records(rng, 80, n_items)
    holdout = _random_records(rng, 70, n_items)
    owner = rng.integers(-1, len(train), size=len(holdout))
    synthetic = _random_records(rng, 90, n_items)
    a = disclosure_metrics(train, holdout, owner, synthetic, n_items, seed=5, max_records=25)
    b = disclosure_metrics(train, holdout, owner, synthetic, n_items, seed=5, max_records=25)
    assert a.metrics == b.metrics
    np.testing.assert_array_equal(a.dcr_synthetic, b.dcr_synthetic)
    np.testing.assert_array_equal(a.dcr_holdout, b.dcr_holdout)
    assert a.metrics["n_synthetic"] == 25.0
    assert a.metrics["n_holdout"] == 25.0
    assert a.dcr_synthetic.shape == (25,)
    # every subsampled DCR is one of the full set's DCRs
    full = disclosure_metrics(train, holdout, owner, synthetic, n_items, seed=5)
    assert set(a.dcr_synthetic.tolist()) <= set(full.dcr_synthetic.tolist())


def test_disclosure_metrics_empty_synthetic_is_nan():
    rng = np.random.default_rng(5)
    train = _random_records(rng, 20, 10)
    holdout = _random_records(rng, 15, 10)
    result = disclosure_metrics(train, holdout, np.full(15, -1), [], 10, seed=0)
    m = result.metrics
    for key in [
        "dcr_synthetic_median",
        "dcr_synthetic_p05",
        "dcr_closer_share",
        "exact_copy_share",
        "mia_auc",
    ]:
        assert math.isnan(m[key])
    assert not math.isnan(m["dcr_holdout_median"])
    assert m["n_synthetic"] == 0.0
    assert result.dcr_synthetic.shape == (0,)


def test_disclosure_metrics_rejects_mismatched_owner():
    recs = _records([0], [1])
    with pytest.raises(ValueError, match="holdout_owner"):
        disclosure_metrics(recs, recs, np.array([-1]), recs, 2, seed=0)
    with pytest.raises(ValueError, match="holdout_owner"):
        disclosure_metrics(recs, recs, np.array([-1, 2]), recs, 2, seed=0)

"""The item-cold pair is chosen on valid and reported on test, on hand-built rankings."""

import dataclasses

import numpy as np

from samplegen.config import load_config
from samplegen.evaluate.item_cold_choice import (
    BEST_BASELINE_DIFF,
    CHOSEN_VARIANT,
    Ranked,
    best_baseline_rows,
)
from samplegen.evaluate.metrics import ndcg_at_k, recall_at_k
from samplegen.evaluate.rows import ITEMS_NEW, ITEMS_NEW_VALID
from samplegen.evaluate.two_way import ranking_depth

K = 20
USERS = 30
ITEMS = 200
# (recommender, seed, variant): (valid NDCG, test rank of each user's one target item). Best
# on valid: ease (augmented) and content_knn; best on test: als seed 12 and random_new. ease's
# real variant is best of all on valid but is not generated, so it cannot be chosen.
FIGURES = {
    ("ease", 11, "real"): (0.9, 0),
    ("ease", 11, "augmented"): (0.3, 2),  # test NDCG 1 / log2(4) = 0.5
    ("als", 11, "augmented"): (0.1, 4),
    ("als", 12, "augmented"): (0.2, 0),
    ("content_knn", 11, "real"): (0.2, 9),  # test NDCG 1 / log2(11) = 0.2891
    ("random_new", 11, "real"): (0.05, 1),
}
#: User u's target is item u; the last user has none.
TARGETS = [np.array([u]) for u in range(USERS - 1)] + [np.array([], dtype=np.int64)]


def _per_user(value: float) -> np.ndarray:
    """``value`` for every user but the last, who has no target (NaN)."""
    per = np.full(USERS, value)
    per[-1] = np.nan
    return per


def _tops(rank: int, rng: np.random.Generator) -> np.ndarray:
    """Each user's ranking: other items in a random order, their target at ``rank``."""
    rows = []
    for user in range(USERS):
        others = rng.permutation(np.setdiff1d(np.arange(ITEMS), [user]))
        rows.append(np.insert(others, rank, user)[: ranking_depth(K)])
    return np.stack(rows)


def _ranked() -> Ranked:
    ranked = Ranked(targets=TARGETS)
    rng = np.random.default_rng(0)
    for key, (valid, rank) in FIGURES.items():
        ranked.tops[key] = _tops(rank, rng)
        values = {
            (ITEMS_NEW, "recall"): recall_at_k(ranked.tops[key], TARGETS, K),
            (ITEMS_NEW, "ndcg"): ndcg_at_k(ranked.tops[key], TARGETS, K),
        }
        ranked.values[key] = {K: values}
        ranked.valid[key] = {K: {m: _per_user(valid) for m in ("recall", "ndcg")}}
    return ranked


def _cfg(min_users: int):
    cfg = load_config(None, [])
    settings = dataclasses.replace(
        cfg.evaluate,
        recommenders=["ease", "als"],
        item_cold_baselines=["content_knn", "random_new"],
        k=K,
        ks=[K],
        bootstrap_samples=100,
        min_users=min_users,
    )
    return dataclasses.replace(cfg, evaluate=settings)


def test_the_pair_best_on_valid_is_reported_on_test():
    rows, line = best_baseline_rows(_ranked(), _cfg(min_users=10), interactions=99)
    chosen = {
        (r.recommender, r.seed, round(r.value, 6)) for r in rows if r.variant == CHOSEN_VARIANT
    }
    assert chosen == {("ease", 11, 0.3), ("content_knn", 11, 0.2)}
    assert {r.slice for r in rows if r.variant == CHOSEN_VARIANT} == {ITEMS_NEW_VALID}
    diffs = [r for r in rows if r.variant == BEST_BASELINE_DIFF and r.metric == "ndcg"]
    assert len(diffs) == 1 and (diffs[0].recommender, diffs[0].seed) == ("ease", 11)
    assert diffs[0].slice == ITEMS_NEW and diffs[0].n_users == USERS - 1
    # The test difference of the valid pair, its interval over users and items.
    assert np.isclose(diffs[0].value, 0.5 - 1 / np.log2(11))
    assert 0 < diffs[0].ci_low < diffs[0].value < diffs[0].ci_high
    assert line.startswith(f"ease slice={ITEMS_NEW} NDCG@{K} augmented=0.5000 (seed 11)")
    assert "best baseline content_knn=0.2891" in line and "generated is better" in line
    assert "(users and items resampled) over 29 users" in line
    assert "99 interactions, run candidates:" in line  # evaluate.item_cold_candidates
    assert f"chosen on valid: NDCG@{K} 0.3000 vs 0.2000 over {USERS - 1} users" in line


def test_too_few_valid_users_chooses_nothing():
    rows, line = best_baseline_rows(_ranked(), _cfg(min_users=USERS), interactions=99)
    assert rows == []
    assert line == (
        f"{ITEMS_NEW}: no verdict: too few valid users to choose the generated recommender and "
        f"the baseline on valid (n={USERS - 1}; evaluate.min_users={USERS})"
    )

"""The item-cold pair is chosen on valid and reported on test, on hand-built per-user values."""

import dataclasses

import numpy as np

from samplegen.config import load_config
from samplegen.evaluate.item_cold_choice import (
    BEST_BASELINE_DIFF,
    CHOSEN_VARIANT,
    Ranked,
    best_baseline_rows,
)
from samplegen.evaluate.rows import ITEMS_NEW, ITEMS_NEW_VALID

K = 20
USERS = 30
# (recommender, seed, variant): (valid NDCG, test NDCG). Best on valid: ease (augmented) and
# content_knn; best on test: als seed 12 and random_new. ease's real variant is best of all on
# valid but is not generated, so it cannot be chosen.
FIGURES = {
    ("ease", 11, "real"): (0.9, 0.9),
    ("ease", 11, "augmented"): (0.3, 0.10),
    ("als", 11, "augmented"): (0.1, 0.20),
    ("als", 12, "augmented"): (0.2, 0.50),
    ("content_knn", 11, "real"): (0.2, 0.04),
    ("random_new", 11, "real"): (0.05, 0.40),
}


def _per_user(value: float) -> np.ndarray:
    """``value`` for every user but the last, who has no target (NaN)."""
    per = np.full(USERS, value)
    per[-1] = np.nan
    return per


def _ranked() -> Ranked:
    ranked = Ranked()
    for key, (valid, test) in FIGURES.items():
        values = {(ITEMS_NEW, m): _per_user(test) for m in ("recall", "ndcg")}
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
    assert np.isclose(diffs[0].value, 0.10 - 0.04)  # the test difference of the valid pair
    assert line.startswith(f"ease slice={ITEMS_NEW} NDCG@{K} augmented=0.1000 (seed 11)")
    assert "best baseline content_knn=0.0400" in line and "generated is better" in line
    assert "99 interactions, run candidates:" in line  # evaluate.item_cold_candidates
    assert f"chosen on valid: NDCG@{K} 0.3000 vs 0.2000 over {USERS - 1} users" in line


def test_too_few_valid_users_chooses_nothing():
    rows, line = best_baseline_rows(_ranked(), _cfg(min_users=USERS), interactions=99)
    assert rows == []
    assert line == (
        f"{ITEMS_NEW}: no verdict: too few valid users to choose the generated recommender and "
        f"the baseline on valid (n={USERS - 1}; evaluate.min_users={USERS})"
    )

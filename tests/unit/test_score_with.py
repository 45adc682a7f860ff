"""``evaluate.score_with``: what the augmented variant's model is given for a real user.

On hand-built data with EASE (deterministic, no Spark): the real variant never changes; the
augmented variant ranks from the user's real row (``real``) or from the row with the run's
added items (``augmented``: profile expansion), each checked against EASE scored directly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from samplegen.config import load_config
from samplegen.evaluate.data import EvalData, augmented_matrices
from samplegen.evaluate.metrics import ndcg_at_k, top_k_items
from samplegen.evaluate.recommenders import VocabularyOnly
from samplegen.evaluate.recommenders.ease import EASERecommender
from samplegen.evaluate.utility import Scorer, Slice, dose_rows, utility_rows
from tests.conftest import REPO

N_USERS, N_ITEMS, K = 40, 12, 3


def _data() -> EvalData:
    rng = np.random.default_rng(5)
    real = (rng.random((N_USERS, N_ITEMS)) < 0.3).astype(np.float32)
    real[np.arange(N_USERS), rng.integers(0, N_ITEMS, N_USERS)] = 1.0
    added_users = np.arange(0, N_USERS, 2)
    synthetic = pd.DataFrame(
        {
            "user_idx": added_users,
            "item_idx": [rng.choice(N_ITEMS, 3, replace=False) for _ in added_users],
            "weight": [np.full(3, 0.5, np.float32) for _ in added_users],
        }
    )
    position = {u: u for u in range(N_USERS)}
    augmented, new_users = augmented_matrices(real, synthetic, position, N_USERS - 1)
    train_items = [np.flatnonzero(row) for row in real]
    targets = [np.setdiff1d(rng.choice(N_ITEMS, 3, replace=False), t) for t in train_items]
    targets[-1] = np.array([], np.int64)  # a user without targets is never scored
    return EvalData(
        user_idx=np.arange(N_USERS),
        real=real,
        augmented=augmented,
        train_items=train_items,
        targets=targets,
        new_users=new_users,
        n_items=N_ITEMS,
        synthetic=synthetic,
        last_real_user=N_USERS - 1,
        test_records=targets,
        item_category=np.full(N_ITEMS, -1, np.int64),
        category_names=[],
    )


def _cfg(score_with: str):
    cfg = load_config(
        REPO / "conf" / "local.yaml",
        [
            "evaluate.recommenders=[ease]",
            f"evaluate.k={K}",
            f"evaluate.ks=[{K}]",
            "evaluate.ease_lambda=5.0",
            "evaluate.bootstrap_samples=50",
            "evaluate.dose_ratios=[0.5, 1.0]",
            f"evaluate.score_with={score_with}",
        ],
    )
    return cfg


def _rows(score_with: str) -> tuple[dict, Scorer]:
    data = _data()
    cfg = _cfg(score_with)
    scorer = Scorer(data, cfg, None)
    everyone = Slice(np.ones(int(data.evaluated.sum()), bool))
    rows = utility_rows(data, cfg, None, {"all": everyone}, scorer)
    return {(r.variant, r.metric, r.k): r.value for r in rows}, scorer


def _expected_top(data: EvalData, scored: np.ndarray) -> np.ndarray:
    model = EASERecommender(l2=5.0).fit(data.training_matrix("augmented"))
    rows = np.flatnonzero(data.evaluated)
    exclude = [data.train_items[i] for i in rows]
    return top_k_items(model.score(scored[rows])[:, :N_ITEMS], K, exclude)


@pytest.mark.parametrize("score_with", ["real", "augmented"])
def test_the_augmented_variant_ranks_from_the_rows_score_with_names(score_with):
    values, scorer = _rows(score_with)
    data = _data()
    scored = data.real if score_with == "real" else data.augmented
    assert np.array_equal(scorer._tops[("ease", 11, "augmented")], _expected_top(data, scored))
    assert np.array_equal(data.scored_matrix("real", score_with), data.real)


def test_only_the_augmented_variant_depends_on_score_with():
    real_rows, real_scorer = _rows("real")
    expanded_rows, expanded_scorer = _rows("augmented")
    for key in real_rows:
        if key[0] == "real":
            assert real_rows[key] == expanded_rows[key], key
    top = ("ease", 11, "augmented")
    assert not np.array_equal(real_scorer._tops[top], expanded_scorer._tops[top])


@pytest.mark.parametrize("score_with", ["real", "augmented"])
def test_the_dose_sweep_scores_the_rows_score_with_names(score_with):
    data = _data()
    cfg = _cfg(score_with)
    full_dose = dataclasses.replace(cfg.evaluate, dose_ratios=[1.0])
    scorer = Scorer(data, cfg, None)  # no utility rows first: the sweep ranks on its own
    dose_rows(data, dataclasses.replace(cfg, evaluate=full_dose), None, scorer)
    scored = data.real if score_with == "real" else data.augmented
    assert np.array_equal(scorer._tops[("ease", 11, "augmented")], _expected_top(data, scored))


def test_an_unknown_score_with_is_refused_naming_the_key():
    data = _data()
    cfg = _cfg("real")
    bad = dataclasses.replace(cfg, evaluate=dataclasses.replace(cfg.evaluate, score_with="x"))
    with pytest.raises(ValueError, match="evaluate.score_with"):
        utility_rows(data, bad, None, {"all": Slice(np.ones(int(data.evaluated.sum()), bool))})


def test_the_real_only_model_of_a_run_with_new_items_learns_the_vocabulary_alone():
    """Columns past ``n_items`` (new items) are empty in real rows: the real model ignores them."""
    data = _data()
    wide = dataclasses.replace(data, n_items=N_ITEMS - 2)  # the last two columns "new"
    scorer = Scorer(wide, _cfg("real"), None)
    real = scorer.model("ease", 11, "real", wide.training_matrix("real"))
    augmented = scorer.model("ease", 11, "augmented", wide.training_matrix("augmented"))
    assert isinstance(real, VocabularyOnly) and not isinstance(augmented, VocabularyOnly)
    scores = real.score(wide.real[:3])
    assert scores.shape == (3, N_ITEMS)
    assert (scores[:, -2:] == VocabularyOnly.UNKNOWN_SCORE).all()
    direct = EASERecommender(l2=5.0).fit(wide.real[:, : N_ITEMS - 2])
    np.testing.assert_allclose(scores[:, :-2], direct.score(wide.real[:3, : N_ITEMS - 2]))
    # A run without new items is fitted as it is.
    assert not isinstance(
        Scorer(data, _cfg("real"), None).model("ease", 11, "real", data.real), VocabularyOnly
    )


def _validated(valid_targets):
    data = dataclasses.replace(_data(), valid_targets=valid_targets)
    cfg = _cfg("real")
    settings = dataclasses.replace(
        cfg.evaluate,
        recommenders=["multvae"],
        multvae_epochs=6,
        multvae_hidden_dims=[8],
        multvae_patience=2,
    )
    return data, Scorer(data, dataclasses.replace(cfg, evaluate=settings), None)


def test_a_validated_recommender_chooses_its_epochs_on_the_valid_targets():
    """Mult-VAE's fits in stage 4 are scored on valid NDCG@k of the real users each epoch."""
    rng = np.random.default_rng(3)
    train_items = _data().train_items
    valid = [np.setdiff1d(rng.choice(N_ITEMS, 2, replace=False), t) for t in train_items]
    valid[0] = np.array([], np.int64)  # a user without valid targets is left out
    data, scorer = _validated(valid)
    model = scorer.model("multvae", 11, "augmented", data.training_matrix("augmented"))
    scores = [r["valid_score"] for r in model.history]
    assert len(scores) == len(model.history) >= 1
    rows = np.flatnonzero([len(t) > 0 for t in valid])
    assert 0 not in rows and len(rows) > N_USERS // 2
    top = top_k_items(model.score(data.real[rows]), K, [train_items[i] for i in rows])
    expected = ndcg_at_k(top, [valid[i] for i in rows], K).mean()
    assert max(scores) == pytest.approx(expected)  # the kept weights are the best epoch's
    # samplegen tune's data (targets from valid): no valid targets, every epoch, no scores.
    _, tuning = _validated(None)
    plain = tuning.model("multvae", 11, "augmented", data.training_matrix("augmented"))
    assert len(plain.history) == 6 and all("valid_score" not in r for r in plain.history)

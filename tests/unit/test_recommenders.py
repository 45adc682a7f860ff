import numpy as np
import pytest

from samplegen.config import EvaluateConfig
from samplegen.evaluate.classifiers import make_classifier
from samplegen.evaluate.metrics import top_k_items
from samplegen.evaluate.recommenders import VocabularyOnly, make_recommender
from samplegen.evaluate.recommenders.ease import (
    EASE_MAX_ITEMS,
    SPARSE_DENSITY,
    EASERecommender,
    _sparse_rows,
    spd_inverse,
)
from samplegen.evaluate.recommenders.multvae import MultVAERecommender
from samplegen.evaluate.recommenders.popularity import PopularityRecommender
from samplegen.registry import RECOMMENDERS, RecommenderSpec, recommender_help, recommender_names


def _block_matrix() -> np.ndarray:
    """Users 0-9 buy within items 0-4, users 10-19 within items 5-9."""
    rng = np.random.default_rng(0)
    x = np.zeros((20, 10), dtype=np.float32)
    for u in range(20):
        group = range(0, 5) if u < 10 else range(5, 10)
        chosen = rng.choice(list(group), size=3, replace=False)
        x[u, chosen] = rng.integers(1, 5, size=3)
    return x


def test_popularity_counts_presence_not_strength():
    x = np.array(
        [
            [50.0, 0.0, 1.0],
            [0.0, 1.0, 1.0],
            [0.0, 2.0, 3.0],
        ],
        dtype=np.float32,
    )
    model = PopularityRecommender().fit(x)
    scores = model.score(np.zeros((2, 3), dtype=np.float32))
    assert scores.dtype == np.float32
    assert scores.shape == (2, 3)
    np.testing.assert_array_equal(scores[0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(scores[0], scores[1])
    assert top_k_items(scores, 1, [np.array([], dtype=np.int64)] * 2).tolist() == [[2], [2]]


def test_popularity_rejects_negative_and_unfitted():
    with pytest.raises(ValueError, match="non-negative"):
        PopularityRecommender().fit(np.array([[-1.0, 0.0]]))
    with pytest.raises(RuntimeError, match="before fit"):
        PopularityRecommender().score(np.zeros((1, 2)))


def test_ease_weights_have_zero_diagonal_and_float32_scores():
    x = _block_matrix()
    model = EASERecommender(l2=10.0).fit(x)
    assert model.weights is not None
    np.testing.assert_array_equal(np.diag(model.weights), np.zeros(10))
    assert model.weights.flags["C_CONTIGUOUS"]  # else every sparse product copies it
    scores = model.score(x[:3])
    assert scores.dtype == np.float32
    assert scores.shape == (3, 10)


def test_ease_columns_equal_ridge_regression_on_the_other_items():
    # EASE's diag(B) = 0 solution decouples into one ridge regression per item j on the others.
    rng = np.random.default_rng(1)
    x = (rng.random((60, 8)) < 0.3).astype(np.float32) * rng.integers(1, 4, size=(60, 8))
    l2 = 5.0
    weights = EASERecommender(l2=l2).fit(x).weights
    x64 = x.astype(np.float64)
    for j in range(8):
        others = [i for i in range(8) if i != j]
        xo = x64[:, others]
        beta = np.linalg.solve(xo.T @ xo + l2 * np.eye(7), xo.T @ x64[:, j])
        np.testing.assert_allclose(weights[others, j], beta, rtol=1e-4, atol=1e-6)


def test_ease_recommends_in_group_items_on_block_data():
    x = _block_matrix()
    model = EASERecommender(l2=1.0).fit(x)
    new_users = np.zeros((2, 10), dtype=np.float32)
    new_users[0, [0, 1]] = 1.0  # unseen user from group A
    new_users[1, [7]] = 2.0  # unseen user from group B
    top = top_k_items(model.score(new_users), 3, [np.array([0, 1]), np.array([7])])
    assert set(top[0].tolist()) <= {2, 3, 4}
    assert set(top[1].tolist()) <= {5, 6, 8, 9}


def test_ease_item_limit_guard():
    too_wide = np.zeros((1, EASE_MAX_ITEMS + 1), dtype=np.float32)
    with pytest.raises(ValueError, match="aggregate.top_n_items") as excinfo:
        EASERecommender().fit(too_wide)
    assert "20,000" in str(excinfo.value)


def test_ease_rejects_non_positive_l2_and_wrong_width():
    with pytest.raises(ValueError, match="l2"):
        EASERecommender(l2=0.0)
    model = EASERecommender().fit(_block_matrix())
    with pytest.raises(ValueError, match="fitted items"):
        model.score(np.zeros((1, 11), dtype=np.float32))


def test_make_recommender_builds_registered_ones():
    assert set(recommender_names()) == {"popularity", "ease", "als", "multvae"}
    assert recommender_names("classifier") == ["logreg", "gbt", "deepfm"]
    deepfm = make_classifier(
        "deepfm", EvaluateConfig(deepfm_embedding_dims=[16, 4], deepfm_max_rows=99), None, 5
    )
    assert (deepfm.dims, deepfm.max_rows, deepfm.seed) == ([4, 16], 99, 5)
    assert isinstance(
        make_recommender("popularity", EvaluateConfig(), None, 0), PopularityRecommender
    )
    ease = make_recommender("ease", EvaluateConfig(ease_lambda=42.0), None, 0)
    assert isinstance(ease, EASERecommender)
    assert ease.l2 == 42.0


def test_make_recommender_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="'itemknn'") as excinfo:
        make_recommender("itemknn", EvaluateConfig(), None, 0)
    assert "ease" in str(excinfo.value)
    assert "popularity" in str(excinfo.value)


def test_multvae_recommender_learns_blocks_and_is_seeded():
    x = np.repeat(_block_matrix(), 10, axis=0)
    model = MultVAERecommender(hidden_dims=[16], epochs=40, batch_size=32, seed=5).fit(x)
    scores = model.score(x[[0, 100]])
    assert scores.shape == (2, 10) and scores.dtype == np.float32
    assert scores[0, :5].mean() > scores[0, 5:].mean()  # a user of block 1 gets block 1
    assert scores[1, 5:].mean() > scores[1, :5].mean()
    again = MultVAERecommender(hidden_dims=[16], epochs=40, batch_size=32, seed=5).fit(x)
    np.testing.assert_allclose(again.score(x[[0, 100]]), scores, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        model.score(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="before fit"):
        MultVAERecommender().score(x[:1])


def test_multvae_recommender_chooses_its_epochs_on_valid_and_keeps_the_best():
    """``validate`` after each epoch; ``patience`` epochs without a better score stop it."""
    x = np.repeat(_block_matrix(), 10, axis=0)
    asked: list[np.ndarray] = []

    def peak_at_epoch_2(model: MultVAERecommender) -> float:
        asked.append(model.score(x[[0]]))
        return [0.1, 0.3, 0.5, 0.2, 0.4, 0.45, 0.9][len(asked) - 1]

    model = MultVAERecommender(hidden_dims=[16], epochs=7, batch_size=32, seed=5, patience=3)
    model.fit(x, peak_at_epoch_2)
    assert [r["epoch"] for r in model.history] == [0, 1, 2, 3, 4, 5]  # stopped: 3, 4, 5 worse
    assert model.best_epoch == 2
    np.testing.assert_array_equal(model.score(x[[0]]), asked[2])  # epoch 2's weights
    # patience 0: every epoch, still the best one's weights; no validate: the last epoch's.
    asked.clear()
    every = MultVAERecommender(hidden_dims=[16], epochs=7, batch_size=32, seed=5)
    every.fit(x, peak_at_epoch_2)
    assert len(every.history) == 7 and every.best_epoch == 6
    plain = MultVAERecommender(hidden_dims=[16], epochs=7, batch_size=32, seed=5).fit(x)
    assert plain.best_epoch is None
    np.testing.assert_allclose(plain.score(x[[0]]), every.score(x[[0]]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="patience"):
        MultVAERecommender(patience=-1)


def test_vocabulary_only_ignores_empty_columns_past_the_vocabulary():
    """A new_items run's real rows: the vocabulary plus empty new-item columns."""
    x = np.repeat(_block_matrix(), 10, axis=0)
    wide = np.hstack([x, np.zeros((len(x), 40), np.float32)])

    def vae() -> MultVAERecommender:
        return MultVAERecommender(hidden_dims=[16], epochs=10, batch_size=32, seed=5)

    narrow_scores = vae().fit(x).score(x[[0, 100]])
    kept = VocabularyOnly(vae(), n_items=10).fit(wide).score(wide[[0, 100]])
    assert kept.shape == (2, 50)
    np.testing.assert_allclose(kept[:, :10], narrow_scores, rtol=1e-5, atol=1e-5)
    assert (kept[:, 10:] == VocabularyOnly.UNKNOWN_SCORE).all()
    assert (kept[:, 10:].max(axis=1) < kept[:, :10].min(axis=1)).all()
    # What the wrapper avoids: the empty columns change Mult-VAE's vocabulary scores.
    handicapped = vae().fit(wide).score(wide[[0, 100]])[:, :10]
    assert not np.allclose(handicapped, narrow_scores, rtol=1e-3, atol=1e-3)


def test_registry_entries_load_and_build_with_the_run_settings():
    cfg = EvaluateConfig(ease_lambda=7.0, multvae_epochs=3, multvae_hidden_dims=[8])
    for name in recommender_names():
        spec = RECOMMENDERS[name]
        assert spec.kind == "recommender" and callable(spec.load().make)
        if name != "als":  # needs a SparkSession; tests/integration builds it
            model = make_recommender(name, cfg, None, 3)
            assert callable(model.fit) and callable(model.score)
    assert {n for n, s in RECOMMENDERS.items() if s.stochastic} == {
        "als",
        "multvae",
        "sasrec",
        "deepfm",
    }
    assert recommender_names("sequential") == ["sasrec"]
    sasrec = make_recommender("sasrec", EvaluateConfig(sasrec_layers=1, sasrec_epochs=4), None, 2)
    assert (sasrec.params["layers"], sasrec.epochs, sasrec.seed) == (1, 4, 2)
    assert make_recommender("ease", cfg, None, 0).l2 == 7.0
    vae = make_recommender("multvae", cfg, None, 5)
    assert (vae.epochs, vae.hidden_dims, vae.seed) == (3, [8], 5)
    help_line = recommender_help()
    assert all(f"{name} (" in help_line for name in recommender_names())
    with pytest.raises(ValueError, match="kind"):
        RecommenderSpec("ctr", "samplegen.x", "a click model", kind="ranker")


def test_the_cholesky_inverse_equals_numpys():
    rng = np.random.default_rng(5)
    x = (rng.random((300, 120)) < 0.1) * rng.random((300, 120))
    gram = x.T @ x + 7.0 * np.eye(120)
    expected = np.linalg.inv(gram)
    np.testing.assert_allclose(spd_inverse(gram.copy()), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("density", [0.02, 0.5])
def test_ease_sparse_and_dense_paths_agree(density):
    """Sparse input goes through scipy.sparse, dense input through BLAS: the same model."""
    rng = np.random.default_rng(7)
    x = (rng.random((300, 60)) < density).astype(np.float32) * rng.choice([1.0, 0.5], (300, 60))
    x[:, 0] = np.maximum(x[:, 0], x[:, 1])
    assert (_sparse_rows(x, np.float64) is None) == (density > SPARSE_DENSITY)
    model = EASERecommender(l2=3.0).fit(x)
    gram = np.asarray(x, np.float64).T @ np.asarray(x, np.float64)
    dense = EASERecommender(l2=3.0).fit_gram(gram)
    assert np.allclose(model.weights, dense.weights, atol=1e-6)
    scores = model.score(x)
    assert scores.dtype == np.float32 and isinstance(scores, np.ndarray)
    assert np.allclose(scores, x @ dense.weights, atol=1e-5)


@pytest.mark.parametrize("n", [1, 255, 256, 700])
def test_the_inverse_is_symmetric_c_order_and_refuses_an_indefinite_matrix(n):
    """The mirrored triangle covers every block size (one, a partial and several blocks)."""
    rng = np.random.default_rng(n)
    x = rng.random((n + 5, n))
    gram = x.T @ x + np.eye(n)
    inverse = spd_inverse(gram.copy())
    assert inverse.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(inverse, inverse.T)
    np.testing.assert_allclose(inverse @ gram, np.eye(n), atol=1e-8)
    gram[0, 0] = -1.0
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        spd_inverse(gram)

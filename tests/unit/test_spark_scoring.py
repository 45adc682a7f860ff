"""Spark scoring's driver-free pieces on hand-built data: fits from sparse figures, quartiles
from a histogram and one scored block.

Each is compared with the dense path it replaces (:mod:`samplegen.evaluate.data`'s fill, the
recommenders' dense ``fit``, :class:`samplegen.evaluate.utility.Scorer`'s ranking).
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from samplegen.evaluate.data import activity_edges, activity_edges_of_counts, augmented_matrices
from samplegen.evaluate.metrics import ndcg_at_k, recall_at_k, top_k_items
from samplegen.evaluate.recommenders.ease import EASERecommender
from samplegen.evaluate.recommenders.popularity import PopularityRecommender
from samplegen.evaluate.spark_scoring import score_chunk


def _synthetic() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": [0, 2, 9, 9],
            "item_idx": [np.array([1, 4]), np.array([0, 5]), np.array([2, 3]), np.array([3])],
            "weight": [
                np.array([0.5, 0.25]),
                np.array([0.3, 0.7]),
                np.array([0.4, 0.2]),
                np.array([0.9]),
            ],
        }
    )


def _real(rng: np.random.Generator, n_users: int = 6, n_items: int = 7) -> np.ndarray:
    real = (rng.random((n_users, n_items)) < 0.4).astype(np.float32)
    real[:, 0] = np.maximum(real[:, 0], real[:, 1])
    return real


@pytest.mark.parametrize("n_users", [0, 1, 2, 5, 8, 97])
def test_activity_edges_from_a_histogram_equal_numpys_quantiles(n_users):
    activity = np.random.default_rng(n_users).integers(1, 9, n_users)
    values, users = np.unique(activity, return_counts=True)
    order = np.random.default_rng(1).permutation(len(values))  # any order of the histogram
    got = activity_edges_of_counts(values[order], users[order])
    assert np.array_equal(got, activity_edges(activity))


def test_sparse_fits_equal_the_dense_fits():
    rng = np.random.default_rng(1)
    dense = _real(rng, 40, 12) * rng.choice([1.0, 0.5, 0.25], size=(40, 12)).astype(np.float32)
    sparse = sp.csr_matrix(dense)
    ease = EASERecommender(l2=5.0).fit(dense).weights
    wide = sparse.astype(np.float64)
    assert np.allclose(EASERecommender(l2=5.0).fit_gram((wide.T @ wide).toarray()).weights, ease)
    popular = PopularityRecommender().fit(dense).item_scores
    assert np.array_equal(
        PopularityRecommender().fit_counts(sparse.getnnz(axis=0)).item_scores, popular
    )


@pytest.mark.parametrize("with_new_columns", [False, True])
def test_a_scored_block_equals_the_driver_ranking(with_new_columns):
    rng = np.random.default_rng(2)
    n_items, n_users = 7, 6
    n_columns = n_items + (2 if with_new_columns else 0)
    real = np.zeros((n_users, n_columns), np.float32)
    real[:, :n_items] = _real(rng, n_users, n_items)
    synthetic = _synthetic()
    if with_new_columns:
        synthetic.at[1, "item_idx"] = np.array([0, 8])
    position = {u: u for u in range(n_users)}
    augmented, new_users = augmented_matrices(real, synthetic, position, last_real_user=5)
    models = {
        "real": EASERecommender(l2=2.0).fit(real),
        "augmented": EASERecommender(l2=2.0).fit(np.vstack([augmented, new_users])),
    }
    targets = [np.setdiff1d(np.arange(n_items), np.flatnonzero(r))[:2] for r in real]
    added = synthetic[synthetic["user_idx"] <= 5].set_index("user_idx")
    chunk = pd.DataFrame(
        {
            "user_idx": np.arange(n_users),
            "train_items": [np.flatnonzero(r) for r in real],
            "targets": targets,
            "added_items": [added["item_idx"].get(u, np.array([], int)) for u in range(n_users)],
            "added_weights": [added["weight"].get(u, np.array([])) for u in range(n_users)],
        }
    )
    out = score_chunk(chunk, models, n_items, n_columns, [2, 3], cold_threshold=2)
    exclude = list(chunk["train_items"])
    for variant, rows in (("real", real), ("augmented", augmented)):
        top = top_k_items(models[variant].score(rows)[:, :n_items], 3, exclude)
        assert np.array_equal(np.stack(out[f"top_{variant}"]), top)
        for k in (2, 3):
            assert np.allclose(out[f"{variant}_recall_{k}"], recall_at_k(top, targets, k))
            assert np.allclose(out[f"{variant}_ndcg_{k}"], ndcg_at_k(top, targets, k))
    assert out["cold"].tolist() == [len(e) <= 2 for e in exclude]

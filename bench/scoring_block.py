"""One ``mapInPandas`` scoring block of stage 4, before and after the two selection changes.

Times :func:`samplegen.evaluate.spark_scoring.score_chunk` (2,048 users, real and augmented
variants, recall and NDCG at 10 and 20) for popularity, EASE and ALS, twice in one process:
``before`` picks the top-k candidates with ``np.argpartition`` and keeps EASE's weights in
the Fortran order the Cholesky solve returns (what the code did until 2026-12-07), ``after``
is the code as it is (``torch.topk``, C-ordered weights). Both must rank every user the same;
the script checks it. The block is synthetic but shaped like the 10^8-event bench's: 5,000
items, Zipf popularity, 3-60 train items and 1-5 targets per user, ALS rank 32. Usage::

    python bench/scoring_block.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from samplegen.evaluate import metrics
from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.recommenders.ease import EASERecommender
from samplegen.evaluate.recommenders.popularity import PopularityRecommender
from samplegen.evaluate.spark_scoring import SCORE_CHUNK_ROWS, score_chunk

N_ITEMS = 5000
CUTOFFS = [10, 20]


def _argpartition_k_largest(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The selection before 2026-12-07."""
    n_items = block.shape[1]
    candidates = np.argpartition(block, n_items - k, axis=1)[:, n_items - k :]
    return candidates, np.take_along_axis(block, candidates, axis=1)


def _block(rng: np.random.Generator, popularity: np.ndarray) -> pd.DataFrame:
    """2,048 users whose train items and targets are drawn by popularity."""
    share = popularity / popularity.sum()

    def draw(low: int, high: int) -> np.ndarray:
        size = int(rng.integers(low, high))
        return np.sort(rng.choice(N_ITEMS, size, replace=False, p=share)).astype(np.int32)

    n = SCORE_CHUNK_ROWS
    train = [draw(3, 60) for _ in range(n)]
    targets = [np.setdiff1d(draw(1, 6), t) for t in train]
    return pd.DataFrame(
        {
            "user_idx": np.arange(n, dtype=np.int32),
            "train_items": train,
            "targets": targets,
            "added_items": [np.empty(0, np.int32)] * n,
            "added_weights": [np.empty(0, np.float32)] * n,
        }
    )


def _models(rng: np.random.Generator, popularity: np.ndarray) -> dict[str, object]:
    """Popularity, EASE (fitted on 20,000 popularity-drawn rows) and ALS (random factors)."""
    users = rng.random((20_000, N_ITEMS)) < (popularity / popularity.max() * 0.02)
    ease = EASERecommender(l2=250.0).fit(users.astype(np.float32))
    als = SparkALSRecommender.__new__(SparkALSRecommender)
    als.rank, als.iterations, als.reg, als.alpha, als.seed = 32, 10, 0.05, 10.0, 0
    als.item_factors = rng.normal(0.0, 0.1, (N_ITEMS, 32))
    return {
        "popularity": PopularityRecommender().fit_counts(users.sum(axis=0)),
        "ease": ease,
        "als": als,
    }


def _time(chunk: pd.DataFrame, model: object, repeats: int) -> tuple[float, pd.DataFrame]:
    """Best-of-``repeats`` seconds of one block, and its output."""
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = score_chunk(chunk, {"real": model, "augmented": model}, N_ITEMS, N_ITEMS, CUTOFFS, 5)
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    chunk, models = _block(rng, popularity), _models(rng, popularity)
    after_selection, after_weights = metrics._k_largest, models["ease"].weights
    figures = {}
    for name, model in models.items():
        metrics._k_largest = _argpartition_k_largest
        if name == "ease":
            model.weights = np.asfortranarray(after_weights)
        before, ranked_before = _time(chunk, model, args.repeats)
        metrics._k_largest = after_selection
        if name == "ease":
            model.weights = after_weights
        after, ranked_after = _time(chunk, model, args.repeats)
        same = all(
            np.array_equal(a, b)
            for a, b in zip(ranked_before["top_real"], ranked_after["top_real"], strict=True)
        )
        figures[name] = {"before_s": before, "after_s": after, "same_ranking": same}
        print(
            f"{name:10s} block of {SCORE_CHUNK_ROWS} users: before {before:.3f} s, "
            f"after {after:.3f} s, ratio {before / after:.2f}, same ranking: {same}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""EASE's item-item inverse: ``cho_factor`` + ``cho_solve`` of the identity vs LAPACK ``potri``.

Times, in one process, the two ways of inverting ``X^T X + l2 I`` for a catalogue of
``--items`` items: ``before`` is what :func:`samplegen.evaluate.recommenders.ease.spd_inverse`
did until 2026-12-07 (scipy's ``cho_factor``, then ``cho_solve`` against the identity),
``after`` is the function as it is (``potrf`` + ``potri`` in place, one triangle mirrored).
Prints the seconds of each (best of ``--repeats``) and the largest difference between the two
inverses. The Gram matrix is that of random rows shaped like completejourney's train rows
(2,397 users, 3.5% full). Usage::

    python bench/ease_inverse.py [--items 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import scipy.linalg

from samplegen.evaluate.recommenders.ease import spd_inverse


def _cholesky_solve(matrix: np.ndarray) -> np.ndarray:
    """The inverse as computed before 2026-12-07."""
    factor = scipy.linalg.cho_factor(matrix, overwrite_a=True, check_finite=False)
    identity = np.eye(matrix.shape[0], dtype=matrix.dtype)
    return scipy.linalg.cho_solve(factor, identity, overwrite_b=True, check_finite=False)


def _best_seconds(
    invert: Callable[[np.ndarray], np.ndarray], gram: np.ndarray, repeats: int
) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` inversions of a fresh copy of ``gram``, and the inverse."""
    best, inverse = float("inf"), gram
    for _ in range(repeats):
        matrix = gram.copy()
        start = time.perf_counter()
        inverse = invert(matrix)
        best = min(best, time.perf_counter() - start)
    return best, inverse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--users", type=int, default=2397)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = (rng.random((args.users, args.items)) < 0.035).astype(np.float64)
    gram = rows.T @ rows + 250.0 * np.eye(args.items)
    before, old = _best_seconds(_cholesky_solve, gram, args.repeats)
    after, new = _best_seconds(spd_inverse, gram, args.repeats)
    print(
        json.dumps(
            {
                "items": args.items,
                "before_cho_solve_s": round(before, 3),
                "after_potri_s": round(after, 3),
                "speedup": round(before / after, 2),
                "max_abs_difference": float(np.abs(old - new).max()),
                "max_abs_entry": float(np.abs(old).max()),
            }
        )
    )


if __name__ == "__main__":
    main()

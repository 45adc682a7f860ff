"""EASE (Steck 2019): a closed-form item-item linear autoencoder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from samplegen.evaluate.recommenders import check_interactions, fitted

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig

#: Largest catalogue EASE accepts: its dense item-item inverse is O(n_items^2) memory
#: (20,000 items is 3.2 GB in float64) and O(n_items^3) time.
EASE_MAX_ITEMS = 20_000

#: Users folded into the Gram matrix per step, bounding the float64 copy of the input.
_GRAM_CHUNK_ROWS = 4096

#: Below this share of non-zero entries, the Gram matrix and the scores are computed from a
#: sparse copy of the rows (interaction rows are typically a few % full: completejourney's
#: 2,397 x 5,000 train rows, 3.5% full, take 1.9 s instead of 2.7 s for the Gram matrix and
#: 0.6 s instead of 1.5 s for the 1,973 evaluated users' scores); denser input stays dense.
SPARSE_DENSITY = 0.1


def _sparse_rows(rows: np.ndarray, dtype: type) -> sp.csr_matrix | None:
    """``rows`` as CSR of ``dtype`` when they are sparse enough to gain from it, else None."""
    if rows.size == 0 or np.count_nonzero(rows) > SPARSE_DENSITY * rows.size:
        return None
    return sp.csr_matrix(rows, dtype=dtype)


def check_items(n_items: int) -> None:
    """Refuse a catalogue above :data:`EASE_MAX_ITEMS`, naming the key that shrinks it."""
    if n_items > EASE_MAX_ITEMS:
        raise ValueError(
            f"EASE needs a dense {n_items} x {n_items} inverse, above the limit of "
            f"{EASE_MAX_ITEMS:,} items; lower the aggregate.top_n_items config key"
        )


#: Rows of the blocks in which :func:`_mirror_upper` copies one triangle onto the other: a
#: whole-matrix transpose walks memory column-wise (about 2 s at 5,000 items, against 0.04 s
#: in blocks).
_MIRROR_BLOCK = 256


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite float ``matrix`` (overwritten) by Cholesky.

    ``X^T X + l2 I`` is SPD. LAPACK's ``potrf`` factors it and ``potri`` inverts the factor
    in place: 5,000 items take 1.4 s here, against 4.1 s for ``cho_factor`` + ``cho_solve``
    of the identity and 11.8 s for the LU inverse of ``np.linalg.inv``; the results agree to
    rounding (tests/unit/test_recommenders.py). ``potri`` fills one triangle, which is
    mirrored onto the other.

    Raises:
        numpy.linalg.LinAlgError: the matrix is not positive definite.
    """
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    # A symmetric C-order matrix is its own transpose, which LAPACK reads in place (F order).
    factor, info = potrf(matrix.T, lower=True, overwrite_a=True, clean=False)
    if info == 0:
        inverse, info = potri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"the matrix is not positive definite (LAPACK potrf/potri info={info})"
        )
    upper = inverse.T  # C order; the F-order lower triangle LAPACK wrote is its upper one
    _mirror_upper(upper)
    return upper


def _mirror_upper(square: np.ndarray) -> None:
    """Copy the upper triangle of ``square`` onto its lower one, in place, block by block."""
    n = square.shape[0]
    for start in range(0, n, _MIRROR_BLOCK):
        stop = min(start + _MIRROR_BLOCK, n)
        square[stop:, start:stop] = square[start:stop, stop:].T
        block = square[start:stop, start:stop]
        below = np.tril_indices(stop - start, -1)
        block[below] = block.T[below]


class EASERecommender:
    """EASE (Steck 2019): a closed-form item-item linear autoencoder with zero self-weight.

    ``B = argmin ||X - XB||^2 + l2 ||B||^2`` subject to ``diag(B) = 0`` has the solution
    ``P = (X^T X + l2 I)^-1``, ``B_ij = -P_ij / P_jj`` (``i != j``). It is a strong, cheap
    baseline for catalogues of a few thousand items.
    """

    def __init__(self, l2: float = 250.0) -> None:
        if l2 <= 0:
            raise ValueError(f"EASE l2 must be positive so X^T X + l2*I is invertible, got {l2}")
        self.l2 = float(l2)
        self.weights: np.ndarray | None = None

    def fit(self, interactions: np.ndarray) -> Self:
        """Solve for the item-item weight matrix ``B``.

        The Gram matrix is computed in float64: from a sparse copy of sparse input
        (:data:`SPARSE_DENSITY`), else accumulated over row chunks so precision is kept
        without a float64 copy of the whole input.

        Args:
            interactions: ``(n_users, n_items)`` non-negative interaction strengths.

        Returns:
            ``self``, fitted; ``self.weights`` holds ``B`` as float32.

        Raises:
            ValueError: If there are more than :data:`EASE_MAX_ITEMS` items.
        """
        check_interactions(interactions)
        n_users, n_items = interactions.shape
        check_items(n_items)
        sparse = _sparse_rows(interactions, np.float64)
        if sparse is not None:
            return self.fit_gram((sparse.T @ sparse).toarray())
        gram = np.zeros((n_items, n_items), dtype=np.float64)
        for start in range(0, n_users, _GRAM_CHUNK_ROWS):
            chunk = np.asarray(interactions[start : start + _GRAM_CHUNK_ROWS], dtype=np.float64)
            gram += chunk.T @ chunk
        return self.fit_gram(gram)

    def fit_gram(self, gram: np.ndarray) -> Self:
        """Solve for ``B`` from the float64 Gram matrix ``X^T X`` (changed in place).

        :meth:`fit` builds it from the rows it is given; Spark scoring
        (:mod:`samplegen.evaluate.spark_scoring`) from a sparse one, which a catalogue of at
        most :data:`EASE_MAX_ITEMS` items keeps small on the driver whatever the user count.
        """
        n_items = gram.shape[0]
        check_items(n_items)
        gram[np.diag_indices(n_items)] += self.l2
        weights = spd_inverse(gram)  # the precision matrix P, turned into B in place
        weights /= -weights.diagonal().copy()[None, :]
        np.fill_diagonal(weights, 0.0)
        # C order (spd_inverse's): scipy's sparse product would copy a Fortran-order matrix
        # (100 MB at 5,000 items) on every score call.
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Score items as ``user_rows @ B``.

        Args:
            user_rows: ``(n_rows, n_items)`` interaction rows of the users to score.

        Returns:
            ``(n_rows, n_items)`` float32 scores.
        """
        weights = fitted(self.weights, user_rows, type(self).__name__)
        rows = np.asarray(user_rows, dtype=np.float32)
        sparse = _sparse_rows(rows, np.float32)
        return np.asarray(rows @ weights if sparse is None else sparse @ weights, np.float32)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> EASERecommender:
    """The registry's factory: EASE with ``evaluate.ease_lambda`` (deterministic, no seed)."""
    return EASERecommender(l2=cfg.ease_lambda)

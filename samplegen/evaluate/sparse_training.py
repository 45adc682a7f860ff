"""Stage 4's training rows as sparse matrices, and the recommenders fitted from them.

Under ``evaluate.scoring: spark`` no ``(n_users, n_items)`` array is built on the driver: the
train rows and this run's synthetic rows are collected as flat Arrow arrays into scipy CSR
matrices, with the same values :mod:`samplegen.evaluate.data` puts in its dense ones (real
interactions 1.0, synthetic ones at their weight, the larger where both exist, new users'
rows after the real users'). Popularity is fitted from per-item counts, EASE from the Gram
matrix ``X^T X`` (``n_items^2``, small whatever the user count), ALS from the non-zero
entries in row-major order, so each model equals the one the dense path fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.recommenders import Recommender, make_recommender
from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.recommenders.ease import EASERecommender, check_items
from samplegen.evaluate.recommenders.popularity import PopularityRecommender
from samplegen.spark import arrow_table
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    ITEM_INDEX,
    USER_INDEX,
    read_table,
    table_store,
)


@dataclass
class SparseTraining:
    """The real and augmented training matrices of one run, sparse.

    ``real`` has one row per real train user (``user_idx`` ascending); ``augmented`` has the
    same rows with the run's synthetic items of those users added, then one row per new user.
    Columns past ``n_items`` are new items (fitted on, never ranked).
    """

    user_idx: np.ndarray
    real: sp.csr_matrix
    augmented: sp.csr_matrix
    n_items: int
    last_real_user: int

    @property
    def activity(self) -> np.ndarray:
        """Train items per real user (the cold slice's quantile is taken over these)."""
        return np.diff(self.real.indptr)

    def training(self, variant: str) -> sp.csr_matrix:
        """What a recommender is fitted on for ``variant`` (``real`` or ``augmented``)."""
        return self.real if variant == "real" else self.augmented


def _flat(df: DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each row's ``user_idx`` repeated once per list element, and the flattened lists.

    Collected through Arrow: a few arrays of the interaction count, no Python object per row.
    """
    table = arrow_table(df.select("user_idx", *columns))
    if table.num_rows == 0:
        return np.empty(0, np.int64), {c: np.empty(0) for c in columns}
    first = table.column(columns[0]).combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(first), 0).to_numpy()
    users = np.repeat(table.column("user_idx").to_numpy().astype(np.int64), lengths)
    flat = {}
    for column in columns:
        values = table.column(column).combine_chunks()
        flat[column] = pc.list_flatten(values).to_numpy() if len(values) else np.empty(0)
    return users, flat


def max_csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
    """A CSR matrix keeping the largest value where an entry repeats (as the dense fill does).

    Explicit zeros are dropped, so the non-zero entries are those of the dense matrix.
    """
    key = rows.astype(np.int64) * shape[1] + cols.astype(np.int64)
    order = np.lexsort((values, key))
    key, values = key[order], values[order]
    last = np.r_[key[1:] != key[:-1], True] if len(key) else np.zeros(0, bool)
    key, values = key[last], values[last]
    matrix = sp.csr_matrix(
        (values.astype(np.float32), (key // shape[1], key % shape[1])), shape=shape
    )
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def load_sparse(spark: SparkSession, cfg: Config, run_id: str) -> SparseTraining:
    """Collect the train rows and this run's synthetic rows into :class:`SparseTraining`."""
    lake = table_store(cfg)
    n_items = read_table(spark, lake, ITEM_INDEX).count()
    last_real_user = int(read_table(spark, lake, USER_INDEX).agg(F.max("user_idx")).first()[0])
    train_users, train = _flat(read_table(spark, lake, INTERACTIONS["train"]), ("item_idx",))
    synthetic = read_table(spark, lake, AUGMENTED_TRAIN).where(
        (F.col("run_id") == run_id) & F.col("is_synthetic")
    )
    syn_users, syn = _flat(synthetic, ("item_idx", "weight"))
    user_idx = np.unique(train_users)
    syn_items = syn["item_idx"].astype(np.int64)
    n_columns = max(n_items, int(syn_items.max(initial=-1)) + 1)
    train_rows = np.searchsorted(user_idx, train_users)
    train_items = train["item_idx"].astype(np.int64)
    ones = np.ones(len(train_rows), np.float32)
    real = max_csr(train_rows, train_items, ones, (len(user_idx), n_columns))
    is_new = syn_users > last_real_user
    # Synthetic rows of real users enter their train row; those of other users are dropped.
    at = np.minimum(np.searchsorted(user_idx, syn_users), max(len(user_idx) - 1, 0))
    known = ~is_new & (user_idx[at] == syn_users) if len(user_idx) else np.zeros_like(is_new)
    new_idx = np.unique(syn_users[is_new])
    new_rows = len(user_idx) + np.searchsorted(new_idx, syn_users[is_new])
    weights = syn["weight"].astype(np.float32)
    augmented = max_csr(
        np.concatenate([train_rows, at[known], new_rows]),
        np.concatenate([train_items, syn_items[known], syn_items[is_new]]),
        np.concatenate([ones, weights[known], weights[is_new]]),
        (len(user_idx) + len(new_idx), n_columns),
    )
    return SparseTraining(user_idx, real, augmented, n_items, last_real_user)


def fit_sparse(
    name: str, training: sp.csr_matrix, cfg: Config, spark: SparkSession, seed: int
) -> Recommender:
    """Recommender ``name`` (popularity, ease or als) fitted on the sparse ``training``.

    Raises:
        ValueError: For a recommender without a sparse fit.
    """
    model = make_recommender(name, cfg.evaluate, spark, seed)
    if isinstance(model, PopularityRecommender):
        return model.fit_counts(training.getnnz(axis=0))
    if isinstance(model, EASERecommender):
        check_items(training.shape[1])  # before the dense Gram matrix is built
        wide = training.astype(np.float64)
        return model.fit_gram((wide.T @ wide).toarray())
    if isinstance(model, SparkALSRecommender):
        entries = training.tocoo()  # row-major: the CSR is sorted, as np.nonzero lists them
        return model.fit_entries(entries.row, entries.col, entries.data, training.shape[1])
    raise ValueError(f"recommender {name!r} has no sparse fit (evaluate.scoring=spark)")

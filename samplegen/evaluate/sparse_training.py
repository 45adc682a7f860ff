"""Stage 4's training rows as sparse matrices, and the recommenders fitted from them.

Under ``evaluate.scoring: spark`` no ``(n_users, n_items)`` array is built on the driver: the
train rows and this run's synthetic rows are collected as flat Arrow arrays into scipy CSR
matrices, with the same values :mod:`samplegen.evaluate.data` puts in its dense ones (real
interactions 1.0, synthetic ones at their weight, the larger where both exist, new users'
rows after the real users'). Popularity is fitted from per-item counts, EASE from the Gram
matrix ``X^T X`` (``n_items^2``, small whatever the user count), so each model equals the one
the dense path fits. ALS's input is built in Spark from the same tables
(:func:`training_entries`): the same entries in row-major order, without a round trip through
the driver.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.recommenders import Recommender, make_recommender
from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.recommenders.ease import EASERecommender, check_items
from samplegen.evaluate.recommenders.popularity import PopularityRecommender
from samplegen.features.interactions import number_in_order
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
    run_id: str
    #: ALS's input per variant (:func:`training_entries`), built once and kept for every seed;
    #: :meth:`release` frees them.
    entries: dict[str, DataFrame] = field(default_factory=dict)
    released: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def activity(self) -> np.ndarray:
        """Train items per real user (the cold slice's quantile is taken over these)."""
        return np.diff(self.real.indptr)

    def training(self, variant: str) -> sp.csr_matrix:
        """What a recommender is fitted on for ``variant`` (``real`` or ``augmented``)."""
        return self.real if variant == "real" else self.augmented

    def release(self) -> None:
        """Unpersist the kept ALS inputs; a fit still running (after an error) keeps none."""
        with self.lock:
            self.released = True
            frames, self.entries = list(self.entries.values()), {}
        for frame in frames:
            frame.unpersist()

    def als_input(self, spark: SparkSession, cfg: Config, variant: str) -> DataFrame:
        """:func:`training_entries` of ``variant``, built on first use and kept until released."""
        with self.lock:
            if variant in self.entries:
                return self.entries[variant]
            entries = training_entries(spark, cfg, self, variant)
            if not self.released:
                self.entries[variant] = entries.persist(StorageLevel.MEMORY_AND_DISK)
            return entries


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
    return SparseTraining(user_idx, real, augmented, n_items, last_real_user, run_id)


def _exploded(df: DataFrame, weight: bool) -> DataFrame:
    """One ``(user_idx, item, rating)`` row per list element; ``rating`` 1.0 or the weight."""
    if not weight:
        one = F.lit(1.0).cast("float")
        return df.select("user_idx", F.explode("item_idx").alias("item"), one.alias("rating"))
    pairs = df.select("user_idx", F.explode(F.arrays_zip("item_idx", "weight")).alias("pair"))
    return pairs.select(
        "user_idx",
        F.col("pair.item_idx").alias("item"),
        F.col("pair.weight").cast("float").alias("rating"),
    )


def _numbered(entries: DataFrame, offset: int) -> DataFrame:
    """``entries`` with ``user``: the rank of its ``user_idx`` among theirs, from ``offset``."""
    rows = number_in_order(entries.select("user_idx").distinct(), "user_idx", "user", offset)
    return entries.join(rows, "user_idx").select("user", "item", "rating")


def training_entries(
    spark: SparkSession, cfg: Config, data: SparseTraining, variant: str
) -> DataFrame:
    """The non-zero entries of ``data.training(variant)`` as a Spark frame, built in Spark.

    Columns ``user`` (the matrix row), ``item`` and ``rating`` (float), sorted by row then
    item: the frame the driver would send (:meth:`SparkALSRecommender.fit_entries`), computed
    from the tables :func:`load_sparse` reads, with the same rules (real entries 1.0, a
    synthetic entry of a train user at its weight, the larger where both exist, new users'
    rows after the train users', zeros dropped). Spark ALS fits on it directly: at 10^9 events
    the entries are gigabytes, which a local frame would carry in its tasks.
    """
    lake = table_store(cfg)
    train = _exploded(read_table(spark, lake, INTERACTIONS["train"]), weight=False)
    train_rows = number_in_order(train.select("user_idx").distinct(), "user_idx", "user")
    if (n_train := train_rows.count()) != len(data.user_idx):
        raise RuntimeError(
            f"interactions_train changed while stage 4 ran ({len(data.user_idx)} train users "
            f"collected, {n_train} now); rerun samplegen evaluate"
        )
    entries = train.join(train_rows, "user_idx").select("user", "item", "rating")
    if variant != "real":
        synthetic = read_table(spark, lake, AUGMENTED_TRAIN).where(
            (F.col("run_id") == data.run_id) & F.col("is_synthetic")
        )
        added = _exploded(synthetic, weight=True)
        is_new = F.col("user_idx") > data.last_real_user
        known = added.where(~is_new).join(train_rows, "user_idx")
        new = _numbered(added.where(is_new), offset=len(data.user_idx))
        entries = entries.unionByName(known.select("user", "item", "rating")).unionByName(new)
    return (
        entries.groupBy("user", "item")
        .agg(F.max("rating").alias("rating"))
        .where(F.col("rating") != 0)
        .orderBy("user", "item")
    )


def fit_sparse(
    name: str, data: SparseTraining, variant: str, cfg: Config, spark: SparkSession, seed: int
) -> Recommender:
    """Recommender ``name`` (popularity, ease or als) fitted on ``data.training(variant)``.

    Popularity and EASE are fitted from the driver's sparse matrix; ALS in Spark, on
    :func:`training_entries` (kept by :meth:`SparseTraining.als_input` for the next seed).

    Raises:
        ValueError: For a recommender without a sparse fit.
    """
    training = data.training(variant)
    model = make_recommender(name, cfg.evaluate, spark, seed)
    if isinstance(model, PopularityRecommender):
        return model.fit_counts(training.getnnz(axis=0))
    if isinstance(model, EASERecommender):
        check_items(training.shape[1])  # before the dense Gram matrix is built
        wide = training.astype(np.float64)
        return model.fit_gram((wide.T @ wide).toarray())
    if isinstance(model, SparkALSRecommender):
        return model.fit_frame(data.als_input(spark, cfg, variant), training.shape[1])
    raise ValueError(f"recommender {name!r} has no sparse fit (evaluate.scoring=spark)")

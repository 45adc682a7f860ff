"""Stage 4's training data under ``evaluate.scoring: spark``, and the models fitted from it.

No ``(n_users, n_items)`` array, dense or sparse, is built on the driver. Each variant's
non-zero entries are built in Spark from ``interactions_train`` and ``augmented_train``
(:func:`training_entries`) with the values :mod:`samplegen.evaluate.data` puts in its dense
rows (real interactions 1.0, synthetic ones at their weight, the larger where both exist, new
users' rows after the train users'). Popularity is fitted from their per-item counts, EASE
from their Gram matrix ``X^T X`` (``n_items^2``, small whatever the user count; summed from
per-partition products, :func:`gram_matrix`), ALS on the entries themselves; so each model
equals the one the driver path fits. The driver keeps per-item figures and a histogram of
train activity (for the ``cold`` slice's threshold), never a training row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.data import activity_edges_of_counts
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
class SparkTraining:
    """What the real and augmented training rows of one run are, without collecting them.

    The real variant has one row per train user with at least one item (``user_idx``
    ascending); the augmented one the same rows with the run's synthetic items of those users
    added, then one row per new user. Columns past ``n_items`` are new items (fitted on,
    never ranked). ``activity`` / ``activity_users``: each distinct count of train items per
    train user and how many users have it.
    """

    run_id: str
    n_items: int
    n_columns: int
    last_real_user: int
    activity: np.ndarray
    activity_users: np.ndarray
    #: Each variant's entries (:func:`training_entries`), built once and kept for every model
    #: and seed; :meth:`release` frees them.
    entries: dict[str, DataFrame] = field(default_factory=dict)
    released: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def n_train_users(self) -> int:
        """Rows of the real variant."""
        return int(self.activity_users.sum())

    def cold_threshold(self) -> float:
        """The ``cold`` slice's edge: the first quartile of train items per train user."""
        return float(activity_edges_of_counts(self.activity, self.activity_users)[0])

    def release(self) -> None:
        """Unpersist the kept entries; a fit still running (after an error) keeps none."""
        with self.lock:
            self.released = True
            frames, self.entries = list(self.entries.values()), {}
        for frame in frames:
            frame.unpersist()

    def entries_of(self, spark: SparkSession, cfg: Config, variant: str) -> DataFrame:
        """:func:`training_entries` of ``variant``, built on first use and kept until released."""
        with self.lock:
            if variant in self.entries:
                return self.entries[variant]
            entries = training_entries(spark, cfg, self, variant)
            if not self.released:
                self.entries[variant] = entries.persist(StorageLevel.MEMORY_AND_DISK)
            return entries


def load_training(spark: SparkSession, cfg: Config, run_id: str) -> SparkTraining:
    """The sizes and the train-activity histogram of the run's training rows, read in Spark."""
    lake = table_store(cfg)
    n_items = read_table(spark, lake, ITEM_INDEX).count()
    last_real_user = int(read_table(spark, lake, USER_INDEX).agg(F.max("user_idx")).first()[0])
    per_user = (
        _exploded(read_table(spark, lake, INTERACTIONS["train"]), weight=False)
        .groupBy("user_idx")
        .agg(F.countDistinct("item").alias("activity"))
    )
    histogram = arrow_table(per_user.groupBy("activity").count().orderBy("activity"))
    synthetic = read_table(spark, lake, AUGMENTED_TRAIN).where(
        (F.col("run_id") == run_id) & F.col("is_synthetic")
    )
    last_item = synthetic.agg(F.max(F.array_max("item_idx"))).first()[0]
    return SparkTraining(
        run_id=run_id,
        n_items=n_items,
        n_columns=max(n_items, -1 if last_item is None else int(last_item) + 1),
        last_real_user=last_real_user,
        activity=histogram.column("activity").to_numpy().astype(np.int64),
        activity_users=histogram.column("count").to_numpy().astype(np.int64),
    )


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
    spark: SparkSession, cfg: Config, data: SparkTraining, variant: str
) -> DataFrame:
    """The non-zero entries of ``variant``'s training rows as a Spark frame.

    Columns ``user`` (the row), ``item`` and ``rating`` (float), sorted by row then item: what
    the driver path's matrix holds (:func:`samplegen.evaluate.data.augmented_matrices`; real
    entries 1.0, a synthetic entry of a train user at its weight, the larger where both
    exist, new users' rows after the train users' in ``user_idx`` order, zeros dropped), in
    the form Spark ALS fits on (:meth:`SparkALSRecommender.fit_frame`).

    Raises:
        RuntimeError: ``interactions_train`` no longer has the users :func:`load_training`
            counted (another aggregate wrote it meanwhile).
    """
    lake = table_store(cfg)
    train = _exploded(read_table(spark, lake, INTERACTIONS["train"]), weight=False)
    train_rows = number_in_order(train.select("user_idx").distinct(), "user_idx", "user")
    if (n_train := train_rows.count()) != data.n_train_users:
        raise RuntimeError(
            f"interactions_train changed while stage 4 ran ({data.n_train_users} train users "
            f"counted, {n_train} now); rerun samplegen evaluate"
        )
    entries = train.join(train_rows, "user_idx").select("user", "item", "rating")
    if variant != "real":
        synthetic = read_table(spark, lake, AUGMENTED_TRAIN).where(
            (F.col("run_id") == data.run_id) & F.col("is_synthetic")
        )
        added = _exploded(synthetic, weight=True)
        is_new = F.col("user_idx") > data.last_real_user
        known = added.where(~is_new).join(train_rows, "user_idx")
        new = _numbered(added.where(is_new), offset=data.n_train_users)
        entries = entries.unionByName(known.select("user", "item", "rating")).unionByName(new)
    return (
        entries.groupBy("user", "item")
        .agg(F.max("rating").alias("rating"))
        .where(F.col("rating") != 0)
        .orderBy("user", "item")
    )


def item_counts(entries: DataFrame, n_columns: int) -> np.ndarray:
    """Rows with an entry per column (int64, ``n_columns``): popularity's fit."""
    table = arrow_table(entries.groupBy("item").count())
    counts = np.zeros(n_columns, np.int64)
    counts[table.column("item").to_numpy()] = table.column("count").to_numpy()
    return counts


def gram_matrix(entries: DataFrame, n_columns: int) -> np.ndarray:
    """``X^T X`` (float64, ``n_columns`` square) of the rows whose non-zero entries are ``entries``.

    Each user's entries are brought to one partition, whose rows' product is taken there
    (scipy, sparse); Spark sums the partitions' upper triangles, and only those sums (at most
    ``n_columns^2 / 2`` values) reach the driver.
    """
    partial = entries.repartition("user").mapInPandas(
        _partition_gram(n_columns), "i int, j int, value double"
    )
    table = arrow_table(partial.groupBy("i", "j").agg(F.sum("value").alias("value")))
    rows, cols = table.column("i").to_numpy(), table.column("j").to_numpy()
    gram = np.zeros((n_columns, n_columns))
    gram[rows, cols] = table.column("value").to_numpy()
    gram[cols, rows] = gram[rows, cols]
    return gram


def _partition_gram(n_columns: int) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function of :func:`gram_matrix`: one partition's upper triangle."""

    def upper_triangle(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        frames = [batch for batch in batches if len(batch)]
        if not frames:
            return
        part = pd.concat(frames, ignore_index=True)  # a user's entries may span batches
        _, rows = np.unique(part["user"].to_numpy(), return_inverse=True)
        x = sp.csr_matrix(
            (part["rating"].to_numpy(np.float64), (rows, part["item"].to_numpy())),
            shape=(int(rows.max()) + 1, n_columns),
        )
        upper = sp.triu(x.T @ x, format="coo")
        yield pd.DataFrame(
            {
                "i": upper.row.astype(np.int32),
                "j": upper.col.astype(np.int32),
                "value": upper.data,
            }
        )

    return upper_triangle


def fit_in_spark(
    name: str, data: SparkTraining, variant: str, cfg: Config, spark: SparkSession, seed: int
) -> Recommender:
    """Recommender ``name`` (popularity, ease or als) fitted on ``variant``'s entries in Spark.

    Popularity from :func:`item_counts`, EASE from :func:`gram_matrix`, ALS on the entries;
    the entries are kept (:meth:`SparkTraining.entries_of`) for the next model and seed.

    Raises:
        ValueError: For a recommender without a fit from entries.
    """
    model = make_recommender(name, cfg.evaluate, spark, seed)
    if not isinstance(model, PopularityRecommender | EASERecommender | SparkALSRecommender):
        raise ValueError(
            f"recommender {name!r} has no fit from training entries "
            "(evaluate.scoring=spark ranks popularity, ease and als)"
        )
    if isinstance(model, EASERecommender):
        check_items(data.n_columns)  # before the dense Gram matrix is built
    entries = data.entries_of(spark, cfg, variant)
    if isinstance(model, PopularityRecommender):
        return model.fit_counts(item_counts(entries, data.n_columns))
    if isinstance(model, EASERecommender):
        return model.fit_gram(gram_matrix(entries, data.n_columns))
    return model.fit_frame(entries, data.n_columns)

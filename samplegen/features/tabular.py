"""Stage-1 tables for CTR and search models: user and item features, ``samples_ctr``.

Features are learnt from the train split only, so nothing from valid/test leaks into them; the
CTR rows cover every split. Everything is Spark DataFrame code except the popularity intervals
of the negative sampler, summed on the driver over the (small) item vocabulary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy.stats import nbinom

from samplegen.config import AggregateConfig
from samplegen.features.text import with_text_embeddings
from samplegen.runinfo import LOG
from samplegen.spark import from_pandas
from samplegen.tables import (
    ITEM_FEATURES,
    SAMPLES_CTR,
    USER_FEATURES,
    Where,
    read_table,
    write_table,
)

SECONDS_PER_DAY = 86_400.0
SHORTFALL_PROBABILITY = 1e-8
"""Most chance that a positive ends with fewer than ``k`` negatives (see :func:`draws_needed`)."""
DRAW_GRID = 1000
"""Steps of the accepted share ``a`` in the table of draws per positive (rounded down)."""
MAX_DRAWS_PER_NEGATIVE = 1000
"""Cap on the draws of one positive, per negative wanted: only users who interacted with
nearly every popular item reach it."""
_POSITIVE_KEY = ("user_idx", "split", "positive_idx")

#: The rows of :func:`_popularity_buckets`.
_BUCKETS_SCHEMA = T.StructType(
    [
        T.StructField("bucket", T.LongType(), False),
        T.StructField("lo", T.LongType(), False),
        T.StructField("hi", T.LongType(), False),
        T.StructField("item_id", T.StringType(), True),
        T.StructField("item_idx", T.IntegerType(), True),
    ]
)


def indexed_pairs(pairs: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Pairs of indexed users on indexed items, with ``user_idx``, ``item_idx`` and ``category``.

    Args:
        pairs: :func:`~samplegen.features.interactions.user_item_pairs` of the split events.
        users: ``user_index`` rows (``user_id``, ``user_idx``).
        items: ``item_index`` rows (``item_id``, ``item_idx``, ``category``).
    """
    return pairs.join(users.select("user_id", "user_idx"), "user_id").join(
        F.broadcast(items.select("item_id", "item_idx", "category")), "item_id"
    )


def _categories(train: DataFrame) -> DataFrame:
    """Each user's number of categories and most touched one (most events; ties: smaller name)."""
    counts = (
        train.where(F.col("category").isNotNull())
        .groupBy("user_idx", "category")
        .agg(F.sum("n_events").alias("n"))
    )
    best = F.min(F.struct((-F.col("n")).alias("minus_n"), F.col("category").alias("category")))
    return counts.groupBy("user_idx").agg(
        best["category"].alias("top_category"),
        F.count(F.lit(1)).cast("int").alias("category_count"),
    )


def _mean_price() -> Column:
    """The mean price per event with a price, from pair sums (null when none has one)."""
    n = F.sum("price_n")
    return F.when(n > 0, F.sum("price_sum") / n)


def _sessions(events: DataFrame, items: DataFrame) -> DataFrame:
    """Distinct train sessions per user on vocabulary items: the one feature pairs cannot give."""
    return (
        events.where(F.col("split") == "train")
        .join(F.broadcast(items.select("item_id")), "item_id", "left_semi")
        .groupBy("user_id")
        .agg(F.countDistinct("session_id").alias("n_sessions"))
    )


def user_features(
    pairs: DataFrame, events: DataFrame, users: DataFrame, items: DataFrame, train_cut: str
) -> DataFrame:
    """One row per indexed user, from their train events on vocabulary items.

    These are the events ``interactions_train`` is built from, so ``n_items`` and ``n_events``
    equal those of ``user_index`` and ``n_items`` is the length of the user's
    ``interactions_train`` row. ``mean_price`` is the mean price per event (null when no event
    has a price), ``top_category`` the category with the most events (ties: the smaller name;
    null when no item has one) and ``days_since_last`` the days from the last event to
    ``train_cut``. Every figure but ``n_sessions`` is a sum over the user's pairs; sessions
    span items, so they are counted on the events.

    Args:
        pairs: :func:`~samplegen.features.interactions.user_item_pairs` of the split events.
        events: events with a ``split`` column (for ``n_sessions``).
        users: ``user_index`` rows.
        items: ``item_index`` rows.
        train_cut: end of the train period (``cuts["train_until"]`` of ``split_and_sum``, an
            ISO timestamp in UTC).
    """
    cut_seconds = pd.Timestamp(train_cut).timestamp()
    train = indexed_pairs(pairs, users, items).where(F.col("split") == "train")
    totals = train.groupBy("user_id", "user_idx").agg(
        F.sum("n_events").cast("long").alias("n_events"),
        F.count(F.lit(1)).alias("n_items"),
        F.sum("n_purchases").cast("long").alias("n_purchases"),
        F.min("first.event_time").alias("first_event_time"),
        F.max("last").alias("last_event_time"),
        _mean_price().alias("mean_price"),
    )
    days = (F.lit(cut_seconds) - F.col("last_event_time").cast("double")) / SECONDS_PER_DAY
    return (
        totals.withColumn("days_since_last", days)
        .join(_sessions(events, items), "user_id", "left")
        .join(_categories(train), "user_idx", "left")
        .fillna(0, subset=["n_sessions", "category_count"])
        .select(*USER_FEATURES.schema.fieldNames())
    )


def item_features(
    pairs: DataFrame, items: DataFrame, catalogue: DataFrame, text_embeddings: bool = False
) -> DataFrame:
    """One row per indexed item, from its train events by every user, plus catalogue attributes.

    ``n_users`` counts distinct train users, as ``item_index`` does, so the two agree.
    ``purchase_rate`` is ``n_purchases / n_events``; price figures are over the events that
    have a price (null when none has). An item kept in the index from an earlier load but
    without train events in this one has zero counts and null rates and prices. Every figure
    is a sum over the item's train pairs (one per user).

    Args:
        pairs: :func:`~samplegen.features.interactions.user_item_pairs` of the split events.
        items: ``item_index`` rows.
        catalogue: the ``catalogue`` table.
        text_embeddings: fill ``text_embedding`` (see :mod:`samplegen.features.text`);
            null otherwise.
    """
    train = pairs.where(F.col("split") == "train").join(
        F.broadcast(items.select("item_id")), "item_id"
    )
    stats = train.groupBy("item_id").agg(
        F.count(F.lit(1)).alias("n_users"),
        F.sum("n_events").cast("long").alias("n_events"),
        F.sum("n_purchases").cast("long").alias("n_purchases"),
        _mean_price().alias("mean_price"),
        F.min("price_min").alias("min_price"),
        F.max("price_max").alias("max_price"),
        F.min("first.event_time").alias("first_event_time"),
    )
    counts = ("n_users", "n_events", "n_purchases")
    attributes = catalogue.select("item_id", "category", "department", "brand", "title")
    features = (
        items.select("item_id", "item_idx")
        .join(stats, "item_id", "left")
        .fillna(0, subset=list(counts))
        .withColumn(
            "purchase_rate",
            F.when(F.col("n_events") > 0, F.col("n_purchases") / F.col("n_events")),
        )
        .join(attributes, "item_id", "left")
    )
    if text_embeddings:
        features = with_text_embeddings(features)
    else:
        features = features.withColumn("text_embedding", F.lit(None).cast("array<float>"))
    return features.select(*ITEM_FEATURES.schema.fieldNames())


def ctr_interactions(pairs: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Real CTR rows: one per (user, item, split) pair of indexed users and items.

    ``label`` is 1 when the user purchased the item in that split, ``event_time`` the pair's last
    event in that split, ``source`` is ``"interaction"``.
    """
    return indexed_pairs(pairs, users, items).select(
        "user_id",
        "item_id",
        "user_idx",
        "item_idx",
        "split",
        (F.col("n_purchases") > 0).cast("int").alias("label"),
        F.col("last").alias("event_time"),
        F.lit("interaction").alias("source"),
    )


def _popularity_buckets(items: DataFrame) -> tuple[DataFrame, int, int, float]:
    """Items as intervals ``[lo, hi)`` of the cumulative popularity, cut into buckets.

    Item ``i`` owns the integer tickets ``lo <= t < hi`` with ``hi - lo = n_users`` (items in
    ``item_idx`` order), so a uniform ticket in ``[0, total)`` picks items proportionally to
    ``n_users``. Tickets are grouped in buckets of ``width`` so the lookup is an equi-join on
    the bucket (an item appears once per bucket it overlaps). Returns the bucket rows, ``total``,
    ``width`` and the largest item's share of ``total``; ``total`` is 0 when no item has a user.

    The running sum is taken on the driver: the vocabulary (at most ``aggregate.top_n_items``
    rows) is small, and a window over all of it would move it into a single partition.
    """
    popular = (
        items.where(F.col("n_users") > 0)
        .select("item_id", "item_idx", F.col("n_users").cast("long").alias("n_users"))
        .toPandas()
        .sort_values("item_idx", ignore_index=True)
    )
    n_users = popular["n_users"].to_numpy(dtype=np.int64)
    hi = np.cumsum(n_users)
    lo = hi - n_users
    total = int(hi[-1]) if len(hi) else 0
    width = max(1, -(-total // max(len(popular), 1)))
    first, last = lo // width, (hi - 1) // width
    spans = last - first + 1  # buckets each item overlaps (empty arrays for no items)
    owner = np.repeat(np.arange(len(popular)), spans)
    starts = np.repeat(np.cumsum(spans) - spans, spans)
    buckets = pd.DataFrame(
        {
            "bucket": np.repeat(first, spans) + np.arange(len(owner)) - starts,
            "lo": lo[owner],
            "hi": hi[owner],
            "item_id": popular["item_id"].to_numpy()[owner],
            "item_idx": popular["item_idx"].to_numpy()[owner],
        }
    )
    max_share = int(n_users.max()) / total if total else 0.0
    spark = items.sparkSession
    return from_pandas(spark, buckets, _BUCKETS_SCHEMA), total, width, max_share


def draws_needed(
    per_positive: int,
    accepted: float,
    max_share: float,
    shortfall: float = SHORTFALL_PROBABILITY,
) -> int:
    """Draws that give ``per_positive`` distinct accepted candidates but with tiny probability.

    While fewer than ``k = per_positive`` distinct candidates are accepted, a draw yields a new
    one with probability at least ``q = accepted - (k - 1) max_share`` (it must fall outside the
    user's items, mass ``1 - accepted``, and outside the ``< k`` items already taken, each at
    most ``max_share``). So the draws needed are at most ``k`` plus a negative-binomial number
    of failures, and its ``1 - shortfall`` quantile is enough. Capped at
    ``MAX_DRAWS_PER_NEGATIVE * k``; 0 when ``accepted`` is 0 (nothing can be accepted).

    Args:
        per_positive: negatives wanted per positive, at least 1.
        accepted: popularity share of the items the user may get (``a``).
        max_share: largest single item's popularity share.
        shortfall: most chance of ending with fewer than ``per_positive``.
    """
    cap = MAX_DRAWS_PER_NEGATIVE * per_positive
    if accepted <= 0:
        return 0
    success = accepted - (per_positive - 1) * max_share
    if success <= 0:
        return cap
    failures = nbinom.ppf(1 - shortfall, per_positive, min(success, 1.0))
    return int(min(per_positive + failures, cap))


def _draws_per_user(
    interactions: DataFrame, items: DataFrame, total: int, max_share: float, per_positive: int
) -> DataFrame:
    """Draws per positive for each (user, split), from :func:`draws_needed`.

    The accepted share is the popularity mass of the items the user did not interact with in
    that split, rounded down to a step of ``1 / DRAW_GRID`` (so the draws never fall short of
    the bound) and looked up in a table made on the driver; a user who interacted with every
    item gets no draws.
    """
    popularity = items.where(F.col("n_users") > 0).select("item_idx", "n_users")
    blocked = (
        interactions.select("user_idx", "split", "item_idx")
        .join(F.broadcast(popularity), "item_idx")
        .groupBy("user_idx", "split")
        .agg(F.sum("n_users").alias("blocked"))
    )
    table = [draws_needed(per_positive, j / DRAW_GRID, max_share) for j in range(DRAW_GRID + 1)]
    step = F.floor((F.lit(total) - F.col("blocked")) * DRAW_GRID / F.lit(total)).cast("int")
    return blocked.select(
        "user_idx", "split", F.element_at(F.lit(table), step + 1).cast("int").alias("draws")
    )


def _positive_draws(
    interactions: DataFrame, items: DataFrame, total: int, max_share: float, k: int
) -> DataFrame:
    """The label-1 rows, one per draw ``d`` (``positive_idx`` is the positive's item)."""
    return (
        interactions.where(F.col("label") == 1)
        .select(
            "user_id", "user_idx", "split", "event_time", F.col("item_idx").alias("positive_idx")
        )
        .join(_draws_per_user(interactions, items, total, max_share, k), ["user_idx", "split"])
        .where(F.col("draws") > 0)
        .withColumn("draw", F.explode(F.sequence(F.lit(0), F.col("draws") - 1)))
    )


def _drawn_items(
    draws: DataFrame, buckets: DataFrame, total: int, width: int, seed: int
) -> DataFrame:
    """The item each draw picks: the owner of ticket ``pmod(xxhash64(seed, ids, d), total)``."""
    hashed = F.xxhash64(F.lit(seed), "user_idx", "split", "positive_idx", "draw")
    return (
        draws.withColumn("ticket", F.pmod(hashed, F.lit(total)))
        .withColumn("bucket", F.floor(F.col("ticket") / width))
        .join(F.broadcast(buckets), "bucket")
        .where((F.col("ticket") >= F.col("lo")) & (F.col("ticket") < F.col("hi")))
    )


def sample_negatives(
    interactions: DataFrame, items: DataFrame, per_positive: int, seed: int
) -> DataFrame:
    """Popularity-sampled negatives for the label-1 rows of ``interactions``.

    Sampling rule. For each positive row (user ``u``, item ``p``, split ``s``), candidates are
    drawn in order ``d = 0, 1, 2, ...``: draw ``d`` takes the ticket
    ``pmod(xxhash64(seed, u, s, p, d), total)`` and the item whose popularity interval holds it
    (see :func:`_popularity_buckets`), i.e. an item drawn with probability ``n_users / total``
    among indexed items. A candidate is rejected when ``u`` interacted with it in ``s`` (any
    event, purchased or not); repeated candidates count once. The first ``per_positive``
    accepted items, in draw order, become rows with ``label`` 0, ``source`` ``"sampled_negative"``
    and the positive's ``event_time``. So negatives follow item popularity restricted to the items
    ``u`` did not touch in ``s``, are distinct per positive, and may repeat across positives.

    A positive gets :func:`draws_needed` draws for the popularity share ``a`` of the items still
    allowed for ``(u, s)``: enough that it ends with fewer than ``per_positive`` negatives with
    probability below ``SHORTFALL_PROBABILITY`` (1e-8), unless ``u`` interacted with nearly
    every popular item in ``s`` (the cap) or with every one (no draws, no negatives). Fewer
    draws than that bound only cost work: the negatives are the first accepted ones either way.

    Draws depend only on ``seed`` and the row's ids, never on partitioning or ``rand()``, so
    the same input gives the same negatives on every run; with the same seed, the negatives for
    a smaller ``per_positive`` are a subset of those for a larger one.

    Args:
        interactions: real CTR rows (:func:`ctr_interactions`).
        items: indexed items with ``item_id``, ``item_idx`` and their popularity ``n_users``.
        per_positive: negatives per positive (``aggregate.ctr_negatives_per_positive``); 0 gives
            none.
        seed: ``aggregate.ctr_seed``.

    Raises:
        ValueError: when ``per_positive`` is negative.
    """
    if per_positive < 0:
        raise ValueError(
            f"aggregate.ctr_negatives_per_positive must be >= 0, got {per_positive}; "
            "use 0 to write no sampled negatives"
        )
    columns = ["user_id", "item_id", "user_idx", "item_idx", "split", "event_time"]
    negatives = [*columns, F.lit(0).alias("label"), F.lit("sampled_negative").alias("source")]
    if per_positive == 0:
        return interactions.where(F.lit(False)).select(*negatives)
    buckets, total, width, max_share = _popularity_buckets(items)
    if total == 0:
        return interactions.where(F.lit(False)).select(*negatives)
    draws = _positive_draws(interactions, items, total, max_share, per_positive)
    candidates = (
        _drawn_items(draws, buckets, total, width, seed)
        .join(
            interactions.select("user_idx", "split", "item_idx"),
            ["user_idx", "split", "item_idx"],
            "left_anti",
        )
        .groupBy(*_POSITIVE_KEY, "user_id", "event_time", "item_id", "item_idx")
        .agg(F.min("draw").alias("draw"))
    )
    order = Window.partitionBy(*_POSITIVE_KEY).orderBy("draw")
    return (
        candidates.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= per_positive)
        .select(*negatives)
    )


def with_features(rows: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """CTR rows with item attributes and user/item features, in ``samples_ctr``'s layout.

    Args:
        rows: real and sampled rows.
        users: ``user_features`` rows.
        items: ``item_features`` rows.
    """
    item_columns = items.select(
        "item_idx",
        "category",
        "department",
        "brand",
        F.col("mean_price").alias("price"),
        F.col("n_users").alias("item_users"),
        F.col("purchase_rate").alias("item_purchase_rate"),
    )
    user_columns = users.select(
        "user_idx",
        F.col("n_events").alias("user_events"),
        F.col("days_since_last").alias("user_days_since_last"),
    )
    return (
        rows.join(F.broadcast(item_columns), "item_idx", "left")
        .join(user_columns, "user_idx", "left")
        .withColumn("query", F.lit(None).cast("string"))
        .select(*SAMPLES_CTR.schema.fieldNames())
    )


def samples_ctr(
    real: DataFrame,
    user_feats: DataFrame,
    item_feats: DataFrame,
    per_positive: int,
    seed: int,
) -> DataFrame:
    """``samples_ctr``: the real rows plus popularity-sampled negatives, with features.

    Args:
        real: real CTR rows (:func:`ctr_interactions`); read several times, so persist it.
        user_feats: ``user_features`` rows.
        item_feats: ``item_features`` rows (the vocabulary and its popularity).
        per_positive: negatives per positive row (see :func:`sample_negatives`).
        seed: seed of the negative draws.
    """
    negatives = sample_negatives(real, item_feats, per_positive, seed)
    return with_features(real.unionByName(negatives), user_feats, item_feats)


def write_tabular_tables(
    pairs: DataFrame,
    events: DataFrame,
    users: DataFrame,
    items: DataFrame,
    catalogue: DataFrame,
    cfg: AggregateConfig,
    tables: Where,
    train_cut: str,
) -> dict[str, int]:
    """Write ``user_features``, ``item_features`` and ``samples_ctr``; return rows written.

    ``samples_ctr`` reads the two feature tables back, so its features are the stored ones.

    Args:
        pairs: :func:`~samplegen.features.interactions.user_item_pairs` of the split events.
        events: events with a ``split`` column (sessions per user).
        users: ``user_index`` rows.
        items: ``item_index`` rows.
        catalogue: the ``catalogue`` table.
        cfg: the ``aggregate`` config (``samples_ctr``, ``ctr_negatives_per_positive``,
            ``ctr_seed``).
        tables: where the tables live (a store, or a lakehouse path).
        train_cut: end of the train period (see :func:`user_features`).
    """
    spark = events.sparkSession
    rows = {
        USER_FEATURES.name: write_table(
            user_features(pairs, events, users, items, train_cut), tables, USER_FEATURES
        ),
        ITEM_FEATURES.name: write_table(
            item_features(pairs, items, catalogue, cfg.text_embeddings), tables, ITEM_FEATURES
        ),
    }
    if not cfg.samples_ctr:  # emptied, so no earlier load's rows outlive this load's indices
        LOG.info("stage=aggregate event=samples_ctr_skipped (aggregate.samples_ctr=false)")
        empty = spark.createDataFrame([], SAMPLES_CTR.schema)
        rows[SAMPLES_CTR.name] = write_table(empty, tables, SAMPLES_CTR)
        return rows
    item_feats = read_table(spark, tables, ITEM_FEATURES)
    real = ctr_interactions(pairs, users, item_feats).persist()
    try:
        ctr = samples_ctr(
            real,
            read_table(spark, tables, USER_FEATURES),
            item_feats,
            cfg.ctr_negatives_per_positive,
            cfg.ctr_seed,
        )
        rows[SAMPLES_CTR.name] = write_table(ctr, tables, SAMPLES_CTR)
    finally:
        real.unpersist()
    return rows

"""``new_items``: interactions for catalogue items the model has never seen, from their attributes.

A Mult-VAE (or CVAE) scores item ``i`` for a user as ``h @ w_i + b_i``: ``h`` is the decoder's
last hidden layer at the user's posterior mean and ``(w_i, b_i)`` the item's row of the output
layer. A ridge regression from item attributes (one-hot category, department, brand and title,
plus the text embedding when ``item_features`` has one) to ``(w_i, b_i)``, fitted on the indexed
items, gives a row to every catalogue item outside the vocabulary. Each new item then goes to
``n`` users drawn without replacement from ``p(item | user)``, the user's softmax over the
vocabulary plus that item (Gumbel-top-n over users).

New items get indices after every real one (``first_item_idx + position``) and their catalogue
ids travel in ``item_ids``. The Gumbel noise of (user, item) comes from the user's own stream, so
a user's keys, and therefore the rows, never depend on partitioning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from samplegen.features.text import with_text_embeddings
from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.udf import chunks, histories, user_rng
from samplegen.models.store import load_generator
from samplegen.runinfo import LOG
from samplegen.spark import pinned
from samplegen.tables import CATALOGUE, DATA_PROFILE, EVENTS_CLEAN, ITEM_FEATURES

#: Catalogue columns turned into one-hot attributes.
ATTRIBUTES = ("category", "department", "brand", "title")
#: Values per attribute kept in the one-hot vocabulary (the most frequent among indexed items).
MAX_VALUES = 500
#: Share of indexed items held out to measure the attribute map.
HOLDOUT_SHARE = 0.1
#: Train users on which the held-out items' rankings are measured.
AUC_USERS = 2000
SCHEMA = "user_idx int, item_idx array<int>, weight array<float>, item_ids array<string>"


@dataclass(frozen=True)
class AttributeEncoder:
    """One-hot vocabularies of the attribute columns, learnt from the indexed items."""

    vocabularies: dict[str, list[str]]

    @classmethod
    def fit(cls, items: pd.DataFrame) -> AttributeEncoder:
        """Each attribute's ``MAX_VALUES`` most frequent non-null values among ``items``."""
        vocabularies = {}
        for column in ATTRIBUTES:
            counts = items[column].dropna().astype(str).value_counts(sort=False)
            ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
            vocabularies[column] = [value for value, _ in ranked[:MAX_VALUES]]
        return cls(vocabularies)

    def transform(self, items: pd.DataFrame) -> np.ndarray:
        """(rows, features) float64: an intercept, the one-hots, then ``text_embedding``.

        Values outside a vocabulary (and nulls) are all-zero in that attribute's block.
        """
        blocks = [np.ones((len(items), 1))]
        for column, values in self.vocabularies.items():
            position = {value: j for j, value in enumerate(values)}
            block = np.zeros((len(items), len(values)))
            for row, value in enumerate(items[column]):
                j = position.get(str(value)) if value is not None else None
                if j is not None:
                    block[row, j] = 1.0
            blocks.append(block)
        if "text_embedding" in items.columns:
            embeddings = [np.asarray(e, dtype=np.float64) for e in items["text_embedding"]]
            blocks.append(np.stack(embeddings))
        return np.hstack(blocks)


def fit_ridge(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Coefficients (features, targets) of ``y ~ x`` with an L2 penalty ``l2``."""
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ y)


def holdout_items(n_items: int, seed: int) -> np.ndarray:
    """Mask of the items held out to measure the map: a seeded ``HOLDOUT_SHARE`` of them.

    The same ``(n_items, seed)`` always holds out the same items, so every measure of a map
    that is given the same seed scores the same items.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, n_items]))
    return rng.random(n_items) < HOLDOUT_SHARE


def holdout_r2(x: np.ndarray, y: np.ndarray, l2: float, seed: int) -> float:
    """R^2 of the map on the items :func:`holdout_items` holds out, fitted on the rest.

    Above 0 means attributes predict an item's output row better than the mean row does.
    """
    held = holdout_items(len(x), seed)
    if held.sum() == 0 or (~held).sum() == 0:
        return float("nan")
    coefficients = fit_ridge(x[~held], y[~held], l2)
    residual = ((y[held] - x[held] @ coefficients) ** 2).sum()
    total = ((y[held] - y[~held].mean(axis=0)) ** 2).sum()
    return float(1.0 - residual / total)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive row scores above a negative one (ties count half)."""
    ranks = pd.Series(scores).rank().to_numpy()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def mean_user_auc(
    rows: np.ndarray, items: np.ndarray, hidden: np.ndarray, owned: np.ndarray
) -> float:
    """Mean over ``items`` of how well each one's row ranks its real users (NaN if none can).

    ``rows[j]`` (weights then bias) gives item ``items[j]`` the logits ``hidden @ w + b``; its
    AUC at telling its users (``owned[:, items[j]]``, users x items) from the rest counts when
    it has both users and non-users.
    """
    aucs = [
        _auc(hidden @ row[:-1] + row[-1], owned[:, item])
        for row, item in zip(rows, items, strict=True)
        if 0 < owned[:, item].sum() < len(owned)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def holdout_user_auc(
    x: np.ndarray, y: np.ndarray, l2: float, seed: int, hidden: np.ndarray, owned: np.ndarray
) -> tuple[float, float, float]:
    """How well held-out items' predicted rows rank their real users: map, mean row, trained.

    For the items :func:`holdout_items` holds out, :func:`mean_user_auc` of the map's rows
    (fitted on the other items), of the mean row of the other items (the baseline of an item
    that knows nothing but what an average item is) and of the items' trained rows (which saw
    these users: the ceiling).
    """
    held = holdout_items(len(x), seed)
    if held.sum() == 0 or (~held).sum() == 0:
        return float("nan"), float("nan"), float("nan")
    items = np.flatnonzero(held)
    mean_row = y[~held].mean(axis=0)
    candidates = (
        x[held] @ fit_ridge(x[~held], y[~held], l2),
        np.broadcast_to(mean_row, (len(items), len(mean_row))),
        y[held],
    )
    by_map, by_mean, trained = (mean_user_auc(r, items, hidden, owned) for r in candidates)
    return by_map, by_mean, trained


def new_item_keys(
    hidden: torch.Tensor,
    item_rows: np.ndarray,
    item_bias: np.ndarray,
    new_rows: np.ndarray,
    new_bias: np.ndarray,
    rngs: Sequence[np.random.Generator],
) -> np.ndarray:
    """Gumbel keys (users, new items) of ``log p(new item | user)``.

    ``p`` is the user's softmax over the vocabulary plus that one new item, so a new item
    ranks high for a user whose own items it resembles, whatever the user's total activity.
    """
    h = hidden.numpy().astype(np.float64)
    real = h @ item_rows.T.astype(np.float64) + item_bias
    norm = np.logaddexp.reduce(real, axis=1, keepdims=True)
    new = h @ new_rows.T + new_bias
    log_p = new - np.logaddexp(norm, new)
    uniforms = np.stack([rng.uniform(1e-12, 1.0, size=new.shape[1]) for rng in rngs])
    return log_p - np.log(-np.log(uniforms))


def candidate_users(
    batches: Iterator[pd.DataFrame],
    model_dir: str,
    new_rows: np.ndarray,
    new_bias: np.ndarray,
    keep: int,
    seed: int,
) -> pd.DataFrame:
    """The ``keep`` users with the largest keys per new item among ``batches``' users.

    Returns long rows ``(position, user_idx, key)``; the global top of each item is the top of
    these per-partition tops.
    """
    generator = load_generator(model_dir)
    item_rows, item_bias = generator.item_embeddings()
    best: pd.DataFrame | None = None
    for chunk in chunks(batches):
        x = histories(chunk["item_idx"], generator.n_items)
        rngs = [user_rng(seed, int(u)) for u in chunk["user_idx"]]
        keys = new_item_keys(
            generator.user_hidden(x), item_rows, item_bias, new_rows, new_bias, rngs
        )
        users = chunk["user_idx"].to_numpy(dtype=np.int32)
        # Only a chunk's own top ``keep`` per item can be in the global top.
        top = min(keep, len(users))
        if top == 0:
            continue
        rows = np.argpartition(-keys, top - 1, axis=0)[:top]
        frame = pd.DataFrame(
            {
                "position": np.tile(np.arange(keys.shape[1], dtype=np.int32), top),
                "user_idx": users[rows.ravel()],
                "key": np.take_along_axis(keys, rows, axis=0).ravel(),
            }
        )
        best = frame if best is None else pd.concat([best, frame], ignore_index=True)
        best = best.sort_values(["position", "key"], ascending=[True, False], kind="stable")
        best = best.groupby("position", sort=False).head(keep)
    if best is None:
        return pd.DataFrame({"position": [], "user_idx": [], "key": []}).astype(
            {"position": "int32", "user_idx": "int32", "key": "float64"}
        )
    return best


def new_items(
    train: DataFrame,
    model_dir: str,
    new_rows: np.ndarray,
    new_bias: np.ndarray,
    users_per_item: np.ndarray,
    item_ids: list[str],
    first_item_idx: int,
    weight: float,
    seed: int,
) -> DataFrame:
    """Rows ``(user_idx, item_idx, weight, item_ids)`` giving each new item its drawn users.

    Args:
        train: ``interactions_train`` (every train user is a candidate).
        model_dir: the trained multvae/cvae.
        new_rows: predicted output-layer rows of the new items, (new items, H).
        new_bias: their predicted biases.
        users_per_item: how many users each new item gets.
        item_ids: the new items' catalogue ids, in position order.
        first_item_idx: the index of position 0 (after every real index).
        weight: the weight of each synthetic interaction.
        seed: the run seed.
    """
    keep = int(users_per_item.max())

    def top_of_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        yield candidate_users(batches, model_dir, new_rows, new_bias, keep, seed)

    spark = train.sparkSession
    wanted = spark.createDataFrame(
        pd.DataFrame(
            {
                "position": np.arange(len(item_ids), dtype=np.int32),
                "n_users": users_per_item.astype(np.int32),
                "item_id": item_ids,
            }
        )
    )
    rank = F.row_number().over(
        Window.partitionBy("position").orderBy(F.col("key").desc(), "user_idx")
    )
    drawn = (
        train.select("user_idx", "item_idx")
        .mapInPandas(top_of_partition, schema="position int, user_idx int, key double")
        .withColumn("rank", rank)
        .join(F.broadcast(wanted), "position")
        .where(F.col("rank") <= F.col("n_users"))
    )
    pairs = F.array_sort(
        F.collect_list(F.struct((F.col("position") + first_item_idx).alias("idx"), "item_id"))
    )
    return (
        drawn.groupBy("user_idx")
        .agg(pairs.alias("pairs"))
        .select(
            "user_idx",
            F.col("pairs.idx").cast("array<int>").alias("item_idx"),
            F.transform("pairs", lambda _: F.lit(weight).cast("float")).alias("weight"),
            F.col("pairs.item_id").alias("item_ids"),
        )
    )


#: L2 penalties tried for the attribute map; the one with the best held-out R^2 is used.
RIDGE_L2S = (1.0, 10.0, 100.0, 1000.0)


@dataclass
class NewItemPlan:
    """Which catalogue items become new items, their predicted rows and how many users each."""

    item_ids: list[str]
    rows: np.ndarray
    bias: np.ndarray
    users_per_item: np.ndarray
    metrics: dict[str, object]


def plan_new_items(
    item_features: DataFrame,
    catalogue: DataFrame,
    model_dir: str,
    count: int,
    seed: int,
    train: DataFrame | None = None,
    seen: DataFrame | None = None,
    users_scale: float = 1.0,
) -> NewItemPlan:
    """Choose up to ``count`` catalogue items outside the vocabulary and predict their rows.

    Candidates are catalogue items absent from ``item_features`` and from ``seen`` (when
    given) with at least one attribute value the indexed items also have (without one, the
    map has nothing to go on), taken in the order of a hash of ``(item_id, seed)``. When
    ``item_features`` carries text embeddings, the candidates' texts are embedded the same way
    and the map reads them too.
    Each new item gets a user count drawn from the ``n_users`` of the less popular half of the
    indexed items.

    Args:
        item_features: the ``item_features`` table (indexed items and their attributes).
        catalogue: the ``catalogue`` table.
        model_dir: the trained multvae/cvae.
        count: how many new items at most.
        seed: the run seed.
        train: ``interactions_train``; when given, up to ``AUC_USERS`` of its users (by a
            hash of the seed) measure the map by :func:`holdout_user_auc`.
        seen: ``item_id`` of items with any event before the train cut
            (:func:`seen_before_cut`); they are not new to the catalogue, so never drawn.
        users_scale: each drawn user count is multiplied by this (``generate.
            new_item_users_scale``), rounded, at least 1.
    """
    with_text = item_features.where(F.col("text_embedding").isNotNull()).limit(1).count() > 0
    columns = ["item_idx", "n_users", *ATTRIBUTES] + (["text_embedding"] if with_text else [])
    indexed = item_features.select(*columns).toPandas().sort_values("item_idx")
    encoder = AttributeEncoder.fit(indexed)
    known = F.lit(False)
    for column, values in encoder.vocabularies.items():
        known = known | F.col(column).isin(values)
    candidates = catalogue.join(item_features.select("item_id"), "item_id", "left_anti").where(
        known
    )
    if seen is not None:
        candidates = candidates.join(seen, "item_id", "left_anti")
    chosen = candidates.orderBy(F.xxhash64("item_id", F.lit(seed)), "item_id").limit(count)
    if with_text:
        chosen = with_text_embeddings(chosen)
    chosen = chosen.toPandas()

    generator = load_generator(model_dir)
    item_rows, item_bias = generator.item_embeddings()
    if len(indexed) != len(item_rows):
        raise ValueError(
            f"the model at {model_dir} scores {len(item_rows)} items but item_features has "
            f"{len(indexed)}: retrain after the last aggregate"
        )
    x = encoder.transform(indexed)
    y = np.hstack([item_rows, item_bias[:, None]]).astype(np.float64)[indexed["item_idx"]]
    # The penalty is chosen on one held-out split and reported on another.
    scores = {l2: holdout_r2(x, y, l2, seed) for l2 in RIDGE_L2S}
    l2 = max(RIDGE_L2S, key=lambda penalty: (scores[penalty], -penalty))
    coefficients = fit_ridge(x, y, l2)
    predicted = encoder.transform(chosen) @ coefficients if len(chosen) else y[:0]

    item_counts = indexed["n_users"].to_numpy()
    tail = item_counts[item_counts <= np.median(item_counts)]
    tail = tail[tail > 0] if (tail > 0).any() else np.ones(1, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, len(chosen)]))
    drawn = rng.choice(tail, size=len(chosen)) * users_scale
    users_per_item = np.maximum(np.rint(drawn), 1).astype(np.int64)
    metrics: dict[str, object] = {
        "new_items": len(chosen),
        "new_items/candidates": candidates.count(),
        "new_items/mean_users": round(float(users_per_item.mean()), 2) if len(chosen) else 0.0,
        "attribute_map/features": int(x.shape[1]),
        "attribute_map/text": with_text,
        "attribute_map/l2": l2,
        "attribute_map/holdout_r2": round(holdout_r2(x, y, l2, seed + 1), 4),
        "attribute_map/holdout_r2_bias": round(holdout_r2(x, y[:, -1:], l2, seed + 1), 4),
    }
    if train is not None:
        users = train.orderBy(F.xxhash64("user_idx", F.lit(seed))).limit(AUC_USERS).toPandas()
        x_users = histories(users["item_idx"], len(item_rows))
        owned = x_users.numpy().astype(bool)
        hidden = generator.user_hidden(x_users).numpy()
        by_map, by_mean, trained = holdout_user_auc(x, y, l2, seed + 1, hidden, owned)
        metrics["attribute_map/holdout_user_auc"] = round(by_map, 4)
        metrics["attribute_map/mean_row_user_auc"] = round(by_mean, 4)
        metrics["attribute_map/trained_row_user_auc"] = round(trained, 4)
    return NewItemPlan(
        item_ids=chosen["item_id"].tolist(),
        rows=predicted[:, :-1],
        bias=predicted[:, -1],
        users_per_item=users_per_item,
        metrics=metrics,
    )


#: The ``data_profile`` figure holding the train cut (UTC seconds; train events are before it).
TRAIN_CUT = "train_cut_seconds"


def seen_before_cut(events: DataFrame, cut_seconds: float) -> DataFrame:
    """Distinct ``item_id`` of ``events`` (``events_clean``, any type) before ``cut_seconds``.

    Only train-period rows are read, so nothing after the cut (the test period included) can
    change which items count as new.
    """
    before = F.col("event_time").cast("long") < F.lit(int(cut_seconds))
    return events.where(before).select("item_id").distinct()


def train_cut(profile: DataFrame) -> float | None:
    """Stage 1's train cut from ``data_profile``, or ``None`` for a lakehouse from before it."""
    rows = profile.where(F.col("metric") == TRAIN_CUT).select("value").collect()
    return None if not rows or rows[0][0] is None else float(rows[0][0])


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """Rows giving catalogue items new to the catalogue users, and how the map fitted.

    New items are catalogue items outside the vocabulary with no event before the train cut
    (stage 1 keeps the cut in ``data_profile``): items first seen later, as the item-cold
    protocol scores them. The new items' indices start after the largest ``item_index`` index.
    """
    gen = ctx.gen
    cut = train_cut(ctx.table(DATA_PROFILE))
    if cut is None:
        LOG.warning(
            "stage=generate data_profile has no %s (a leave_last split has no single train "
            "cut, or the lakehouse predates it): new_items draws from every catalogue item "
            "outside the vocabulary",
            TRAIN_CUT,
        )
    plan = plan_new_items(
        ctx.table(ITEM_FEATURES),
        ctx.table(CATALOGUE),
        ctx.model_dir,
        gen.new_items,
        gen.seed,
        train=ctx.real,
        seen=None if cut is None else seen_before_cut(ctx.table(EVENTS_CLEAN), cut),
        users_scale=gen.new_item_users_scale,
    )
    if not plan.item_ids:
        raise ValueError(
            "generate.strategy=new_items found no catalogue item outside item_index, without "
            "events before the train cut, with a category, department, brand or title the "
            "indexed items share"
        )
    rows = pinned(
        new_items(
            ctx.real,
            ctx.model_dir,
            plan.rows,
            plan.bias,
            plan.users_per_item,
            plan.item_ids,
            ctx.first_item_idx,
            gen.synthetic_weight,
            gen.seed,
        )
    )
    return rows, plan.metrics

"""The item-cold protocol: items new to the catalogue, scored on their real future interactions.

New items are catalogue items with no event in the train period that have test-period events
(stage 1 keeps those pairs in ``test_new_items``; nothing else reads them). Every recommender
scores the vocabulary plus the run's new items (the ``new_items`` strategy's columns), train
items masked, and is scored on two slices:

- ``items_new``: every model, generated or baseline, ranks the same candidates, the run's new
  items only (the usual item cold-start protocol, as in DropoutNet); targets are the test
  interactions on new items;
- ``all_with_new``: every model ranks the vocabulary plus the new items together; targets are
  every kept test interaction, warm and new items competing (named apart from the warm
  protocol's ``all``, whose rows stay as they are).

A new item with test interactions that the run gave no column to stays a target nobody can
hit. The downstream recommenders (``evaluate.recommenders``) are scored real-only and
augmented, as on the other slices; the non-generative baselines (``evaluate.item_cold_baselines``)
are fitted on the real rows and read only catalogue attributes. ``augmented_minus_best_baseline``
rows hold the paired difference between the best augmented recommender and the best baseline on
``items_new``, and :func:`items_new_verdict` says it in one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.evaluate.data import EvalData
from samplegen.evaluate.metrics import (
    bootstrap_ci,
    ndcg_at_k,
    paired_bootstrap,
    recall_at_k,
    top_k_items,
)
from samplegen.evaluate.recommenders import ItemInfo, make_recommender, with_items
from samplegen.evaluate.rows import (
    ALL_WITH_NEW,
    DIFF_VARIANT,
    ITEM_COLD_SLICES,
    ITEMS_NEW,
    EvalRow,
    ndcg_at,
    numeric,
    p_value_metric,
)
from samplegen.evaluate.utility import RANKING_METRICS, VARIANTS, Scorer, seeds_of
from samplegen.runinfo import LOG
from samplegen.tables import (
    CATALOGUE,
    ITEM_INDEX,
    SYNTHETIC_INTERACTIONS,
    TEST_NEW_ITEMS,
    read_table,
    table_store,
)

#: Variant of the paired difference best augmented recommender - best baseline (items_new).
BEST_BASELINE_DIFF = "augmented_minus_best_baseline"
#: Share of the run's new items shown in at least one user's top-k.
NEW_COVERAGE = "coverage_new"
#: Catalogue columns one-hot encoded for the baselines.
ATTRIBUTES = ("category", "department", "brand")


@dataclass
class ItemColdData:
    """The scored users, their two target sets and the ranked columns' attributes.

    Attributes:
        rows: Positions (in :class:`EvalData`'s users) of users with any target.
        targets_new: Per scored user, columns of their new-item test interactions; a new item
            the run gave no column gets an index past the matrix (a target nobody can hit).
        targets_all: The same plus the user's warm (vocabulary) targets.
        items: Attributes, categories and the new-item mask of every column.
        facts: Counts for the report: users, interactions, new items, reachable ones.
    """

    rows: np.ndarray
    targets_new: list[np.ndarray]
    targets_all: list[np.ndarray]
    items: ItemInfo
    facts: dict[str, int]


def _run_new_items(spark: SparkSession, cfg: Config, run_id: str) -> pd.DataFrame:
    """``item_idx, item_id`` of the run's new items (``synthetic_interactions.item_ids``)."""
    rows = read_table(spark, table_store(cfg), SYNTHETIC_INTERACTIONS).where(
        (F.col("run_id") == run_id) & F.col("item_ids").isNotNull()
    )
    pairs = rows.select(F.explode(F.arrays_zip("item_idx", "item_ids")).alias("p"))
    return (
        pairs.select(F.col("p.item_idx").alias("item_idx"), F.col("p.item_ids").alias("item_id"))
        .distinct()
        .toPandas()
    )


def skip_reason(spark: SparkSession, cfg: Config, run_id: str) -> str | None:
    """Why the item-cold slices are not scored for this run, or ``None`` when they are."""
    setting = cfg.evaluate.item_cold
    if setting is False:
        return "evaluate.item_cold=false"
    lake = table_store(cfg)
    if setting is None and _run_new_items(spark, cfg, run_id).empty:
        return "the run has no new items (evaluate.item_cold=null turns it on for new_items runs)"
    catalogue = read_table(spark, lake, CATALOGUE)
    if catalogue.isEmpty():
        return "there is no catalogue"
    attributes = F.lit(False)
    for column in ATTRIBUTES:
        attributes = attributes | F.col(column).isNotNull()
    if catalogue.where(attributes).isEmpty():
        return f"the catalogue has no attributes ({', '.join(ATTRIBUTES)} are all null)"
    try:
        pairs = read_table(spark, lake, TEST_NEW_ITEMS)
    except FileNotFoundError:
        return "there is no test_new_items table (run `samplegen aggregate` again)"
    if pairs.isEmpty():
        return "no new item (first seen after the train cut) has test interactions"
    return None


def item_info(catalogue: pd.DataFrame, column_ids: list[str | None], n_items: int) -> ItemInfo:
    """One-hot :data:`ATTRIBUTES` and category codes of each column's catalogue item.

    ``column_ids`` holds the catalogue id of every column (``None`` where unknown); columns
    from ``n_items`` on are the run's new items.
    """
    by_id = catalogue.drop_duplicates("item_id").set_index("item_id")
    known = [i if i in by_id.index else None for i in column_ids]
    frame = by_id.reindex([i if i is not None else "" for i in known])[list(ATTRIBUTES)]
    blocks = []
    for column in ATTRIBUTES:
        codes, _ = pd.factorize(frame[column].astype("string"), use_na_sentinel=True)
        block = np.zeros((len(frame), max(int(codes.max(initial=-1)) + 1, 0)), dtype=np.float32)
        block[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1.0
        blocks.append(block)
    category, _ = pd.factorize(frame["category"].astype("string"), use_na_sentinel=True)
    is_new = np.arange(len(column_ids)) >= n_items
    return ItemInfo(np.hstack(blocks), category.astype(np.int64), is_new)


def load_item_cold(
    spark: SparkSession, cfg: Config, run_id: str, data: EvalData
) -> ItemColdData | None:
    """The item-cold protocol's data, or ``None`` (logged once, with the reason) to skip it."""
    reason = skip_reason(spark, cfg, run_id)
    if reason is not None:
        LOG.info("stage=evaluate item_cold skipped: %s", reason)
        return None
    lake = table_store(cfg)
    n_columns = data.real.shape[1]
    new = _run_new_items(spark, cfg, run_id)
    new = new[new["item_idx"] < n_columns]
    column_ids: list[str | None] = [None] * n_columns
    for idx, item_id in read_table(spark, lake, ITEM_INDEX).select("item_idx", "item_id").collect():
        if idx < n_columns:
            column_ids[idx] = item_id
    for idx, item_id in zip(new["item_idx"], new["item_id"], strict=True):
        column_ids[int(idx)] = item_id
    catalogue = read_table(spark, lake, CATALOGUE).select("item_id", *ATTRIBUTES).toPandas()
    pairs = read_table(spark, lake, TEST_NEW_ITEMS).toPandas()
    position = {int(u): i for i, u in enumerate(data.user_idx)}
    pairs = pairs[pairs["user_idx"].isin(position)]
    column_of = {
        item_id: int(idx) for idx, item_id in zip(new["item_idx"], new["item_id"], strict=True)
    }
    unreachable = sorted(set(pairs["item_id"]) - set(column_of))
    column_of |= {item_id: n_columns + j for j, item_id in enumerate(unreachable)}
    new_targets = [np.array([], dtype=np.int64)] * len(data.user_idx)
    for user, group in pairs.groupby("user_idx"):
        new_targets[position[int(user)]] = np.unique([column_of[i] for i in group["item_id"]])
    rows = np.flatnonzero(
        [len(a) + len(b) > 0 for a, b in zip(new_targets, data.targets, strict=True)]
    )
    facts = {
        "users": int(sum(len(new_targets[r]) > 0 for r in rows)),
        "interactions": len(pairs),
        "new items with test interactions": int(pairs["item_id"].nunique()),
        "of them given a column by the run": int(pairs["item_id"].nunique()) - len(unreachable),
        "run's new items": len(new),
    }
    LOG.info("stage=evaluate item_cold %s", " ".join(f"{k!r}={v}" for k, v in facts.items()))
    return ItemColdData(
        rows=rows,
        targets_new=[new_targets[r] for r in rows],
        targets_all=[np.union1d(data.targets[r], new_targets[r]) for r in rows],
        items=item_info(catalogue, column_ids, data.n_items),
        facts=facts,
    )


def slice_tops(
    scores: np.ndarray, is_new: np.ndarray, exclude: list[np.ndarray], k_max: int
) -> dict[str, np.ndarray]:
    """Each slice's top ``k_max`` columns per row: new items only, and every column.

    For ``items_new`` the candidates are the new items alone (every other column scores
    ``-inf``), so a model that ranks warm items above new ones is compared like for like with a
    baseline that ranks only new items; ``all_with_new`` ranks every column. Train items are
    masked in both.
    """
    new_only = np.where(is_new[None, :], scores, -np.inf)
    return {
        ITEMS_NEW: top_k_items(new_only, k_max, exclude),
        ALL_WITH_NEW: top_k_items(scores, k_max, exclude),
    }


def _targets(cold: ItemColdData) -> dict[str, list[np.ndarray]]:
    """Each item-cold slice's targets per scored user."""
    return {ITEMS_NEW: cold.targets_new, ALL_WITH_NEW: cold.targets_all}


def _per_user(
    tops: dict[str, np.ndarray], cold: ItemColdData, k: int
) -> dict[tuple[str, str], np.ndarray]:
    """Recall@k and NDCG@k per scored user on each item-cold slice (NaN without targets)."""
    out = {}
    for slice_name, targets in _targets(cold).items():
        top = tops[slice_name]
        out[(slice_name, "recall")] = recall_at_k(top[:, :k], targets, k)
        out[(slice_name, "ndcg")] = ndcg_at_k(top[:, :k], targets, k)
    return out


def _coverage_new(top: np.ndarray, targets: list[np.ndarray], items: ItemInfo, k: int) -> float:
    """Share of the run's new items in the top-k of at least one user with targets."""
    n_new = int(items.is_new.sum())
    if n_new == 0:
        return math.nan
    users = np.array([len(t) > 0 for t in targets])
    shown = np.unique(top[users, :k])
    return float(items.is_new[shown[shown < len(items.is_new)]].sum() / n_new)


class _Ranked:
    """Per-user values of every (recommender, seed, variant) at every K."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, int, str], dict[int, dict]] = {}
        self.tops: dict[tuple[str, int, str], dict[str, np.ndarray]] = {}


def _rank(
    model: object, scored: np.ndarray, cold: ItemColdData, exclude: list[np.ndarray], k_max: int
) -> dict[str, np.ndarray]:
    """Each slice's top ``k_max`` columns of each row from ``model``'s scores."""
    scores = model.score(scored)  # type: ignore[attr-defined]
    return slice_tops(scores, cold.items.is_new, exclude, k_max)


def item_cold_rows(
    data: EvalData, cfg: Config, scorer: Scorer, cold: ItemColdData
) -> tuple[list[EvalRow], str]:
    """The item-cold slices' rows for every recommender and baseline, and the verdict line.

    Downstream recommenders reuse the :class:`Scorer`'s fitted real and augmented models;
    baselines are fitted on the real rows with the columns' catalogue attributes.
    """
    settings = cfg.evaluate
    k_max = max(settings.cutoffs())
    exclude = [data.train_items[r] for r in cold.rows]
    ranked = _Ranked()
    for name in settings.recommenders:
        for seed in seeds_of(name, settings):
            for variant in VARIANTS:
                model = scorer.model(name, seed, variant, data.training_matrix(variant))
                scored = (data.real if variant == "real" else data.augmented)[cold.rows]
                ranked.tops[(name, seed, variant)] = _rank(model, scored, cold, exclude, k_max)
    for name in settings.item_cold_baselines:
        model = with_items(make_recommender(name, settings, None, settings.seed), cold.items)
        model.fit(data.real)
        ranked.tops[(name, settings.seed, "real")] = _rank(
            model, data.real[cold.rows], cold, exclude, k_max
        )
    rows: list[EvalRow] = []
    for (name, seed, variant), tops in ranked.tops.items():
        ranked.values[(name, seed, variant)] = {
            k: _per_user(tops, cold, k) for k in settings.cutoffs()
        }
        for k in settings.cutoffs():
            rows += _value_rows(
                name, seed, variant, k, ranked.values[(name, seed, variant)][k], cfg
            )
            for slice_name, targets in _targets(cold).items():
                coverage = _coverage_new(tops[slice_name], targets, cold.items, k)
                n = int(sum(len(t) > 0 for t in targets))
                rows.append(
                    EvalRow(
                        name, variant, slice_name, NEW_COVERAGE, k, coverage, None, None, n, seed
                    )
                )
    for name in settings.recommenders:
        for seed in seeds_of(name, settings):
            rows += _diff_rows(name, seed, ranked, cfg)
    best_rows, line = _best_rows(ranked, cfg, cold)
    return rows + best_rows, line


def _value_rows(
    name: str, seed: int, variant: str, k: int, values: dict, cfg: Config
) -> list[EvalRow]:
    """Mean and bootstrap CI of each slice x metric of one ranking."""
    rows = []
    for (slice_name, metric), per in values.items():
        n = int(np.isfinite(per).sum())
        if n == 0:
            continue
        low, high = bootstrap_ci(per, cfg.evaluate.bootstrap_samples, seed)
        mean = float(np.nanmean(per))
        rows.append(EvalRow(name, variant, slice_name, metric, k, mean, low, high, n, seed))
    return rows


def _diff_rows(name: str, seed: int, ranked: _Ranked, cfg: Config) -> list[EvalRow]:
    """Paired augmented - real differences (with p-values) of one recommender and seed."""
    rows = []
    for k in cfg.evaluate.cutoffs():
        real = ranked.values[(name, seed, "real")][k]
        augmented = ranked.values[(name, seed, "augmented")][k]
        for (slice_name, metric), per in augmented.items():
            diff, low, high, p = paired_bootstrap(
                real[(slice_name, metric)], per, cfg.evaluate.bootstrap_samples, seed
            )
            n = int((np.isfinite(per) & np.isfinite(real[(slice_name, metric)])).sum())
            if n == 0:
                continue
            rows.append(
                EvalRow(name, DIFF_VARIANT, slice_name, metric, k, diff, low, high, n, seed)
            )
            rows.append(
                EvalRow(
                    name,
                    DIFF_VARIANT,
                    slice_name,
                    p_value_metric(metric),
                    k,
                    p,
                    None,
                    None,
                    n,
                    seed,
                )
            )
    return rows


def _best(ranked: _Ranked, keys: list[tuple[str, int, str]], k: int) -> tuple[str, int, str] | None:
    """The key with the highest mean items_new NDCG@k (first in order on ties)."""
    scored = [(float(np.nanmean(ranked.values[key][k][(ITEMS_NEW, "ndcg")])), key) for key in keys]
    scored = [(value, key) for value, key in scored if math.isfinite(value)]
    if not scored:
        return None
    best = max(value for value, _ in scored)
    return next(key for value, key in scored if value == best)


def _best_rows(ranked: _Ranked, cfg: Config, cold: ItemColdData) -> tuple[list[EvalRow], str]:
    """``augmented_minus_best_baseline`` rows on items_new, and the verdict line.

    The best augmented recommender (and seed) and the best baseline are those with the highest
    mean items_new NDCG at the headline ``evaluate.k``; their per-user values are paired at
    every K. Choosing both on the test period flatters each side alike.
    """
    settings = cfg.evaluate
    k = settings.k
    baselines = [key for key in ranked.values if key[0] in settings.item_cold_baselines]
    generated = [key for key in ranked.values if key[0] in settings.recommenders]
    generated = [key for key in generated if key[2] == "augmented"]
    best_gen, best_base = _best(ranked, generated, k), _best(ranked, baselines, k)
    if best_gen is None or best_base is None:
        return [], f"{ITEMS_NEW}: no generated recommender or no baseline to compare"
    rows = []
    for cutoff in settings.cutoffs():
        for metric in RANKING_METRICS:
            base = ranked.values[best_base][cutoff][(ITEMS_NEW, metric)]
            gen = ranked.values[best_gen][cutoff][(ITEMS_NEW, metric)]
            diff, low, high, p = paired_bootstrap(
                base, gen, settings.bootstrap_samples, settings.seed
            )
            n = int((np.isfinite(base) & np.isfinite(gen)).sum())
            rows.append(
                EvalRow(
                    best_gen[0],
                    BEST_BASELINE_DIFF,
                    ITEMS_NEW,
                    metric,
                    cutoff,
                    diff,
                    low,
                    high,
                    n,
                    best_gen[1],
                )
            )
            rows.append(
                EvalRow(
                    best_gen[0],
                    BEST_BASELINE_DIFF,
                    ITEMS_NEW,
                    p_value_metric(metric),
                    cutoff,
                    p,
                    None,
                    None,
                    n,
                    best_gen[1],
                )
            )
    return rows, items_new_line(ranked, best_gen, best_base, cfg, cold)


def items_new_line(
    ranked: _Ranked,
    best_gen: tuple[str, int, str],
    best_base: tuple[str, int, str],
    cfg: Config,
    cold: ItemColdData,
) -> str:
    """The ``items_new`` verdict: best augmented recommender vs best baseline at NDCG@k."""
    k = cfg.evaluate.k
    gen = ranked.values[best_gen][k][(ITEMS_NEW, "ndcg")]
    base = ranked.values[best_base][k][(ITEMS_NEW, "ndcg")]
    diff, low, high, _ = paired_bootstrap(
        base, gen, cfg.evaluate.bootstrap_samples, cfg.evaluate.seed
    )
    n = int((np.isfinite(base) & np.isfinite(gen)).sum())
    if n < cfg.evaluate.min_users:
        words = f"too few users (n={n}; evaluate.min_users={cfg.evaluate.min_users})"
    elif low > 0:
        words = "generated is better"
    elif high < 0:
        words = "generated is worse"
    else:
        words = "no significant difference"
    ratio = float(np.nanmean(gen)) / float(np.nanmean(base)) if np.nanmean(base) > 0 else math.nan
    return (
        f"{best_gen[0]} slice={ITEMS_NEW} NDCG@{k} augmented={np.nanmean(gen):.4f} (seed "
        f"{best_gen[1]}) vs best baseline {best_base[0]}={np.nanmean(base):.4f} "
        f"(x{ratio:.2f}) diff={diff:+.4f} [{low:+.4f}, {high:+.4f}] over {n} users, "
        f"{cold.facts['interactions']} interactions: {words}"
    )


def slice_table(metrics: pd.DataFrame, k: int) -> pd.DataFrame:
    """The items_new and all_with_new NDCG@k rows, every recommender and variant, for the report."""
    rows = ndcg_at(metrics, k)
    rows = rows[rows["slice"].isin(ITEM_COLD_SLICES)]
    return rows.assign(value=numeric(rows["value"]))

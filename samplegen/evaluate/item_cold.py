"""The item-cold protocol: items new to the catalogue, scored on their real future interactions.

New items are catalogue items with no event in the train period that have test-period events
(stage 1 keeps those pairs in ``test_new_items``; nothing else reads them). Every recommender
scores the vocabulary plus the run's new items (the ``new_items`` strategy's columns), train
items masked, and is scored on three slices:

- ``items_new``: every model, generated or baseline, ranks the same candidates, new items only:
  every new item of the run (``evaluate.item_cold_candidates: run``, what is known at the cut)
  or only those with test interactions (``period``, the protocol of DropoutNet and Heater);
  targets are the test interactions on new items;
- ``all_with_new``: every model ranks the vocabulary plus the new items together; targets are
  every kept test interaction, warm and new items competing (named apart from the warm
  protocol's ``all``, whose rows stay as they are);
- ``items_new_valid``: as ``items_new``, against the valid period's interactions on new items
  (``valid_new_items``): what the compared pair is chosen on (:mod:`.item_cold_choice`).

A new item with test interactions that the run gave no column to stays a target nobody can
hit. The downstream recommenders (``evaluate.recommenders``) are scored real-only and
augmented, as on the other slices; the non-generative baselines (``evaluate.item_cold_baselines``)
are fitted on the real rows and read only catalogue attributes. ``augmented_minus_best_baseline``
rows hold the paired test difference on ``items_new`` between the augmented recommender and the
baseline that were best on ``items_new_valid``, with an interval that resamples items as well
as users (:mod:`.two_way`; so do the ``augmented_minus_real`` rows of ``items_new`` and every
ranking's own interval on ``items_new`` and ``items_new_valid``), and
:func:`~samplegen.evaluate.item_cold_choice.items_new_line` says it in one line.
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
from samplegen.evaluate.item_cold_choice import Ranked, best_baseline_rows
from samplegen.evaluate.metrics import (
    bootstrap_ci,
    ndcg_at_k,
    paired_bootstrap,
    recall_at_k,
    top_k_items,
)
from samplegen.evaluate.recommenders import ItemInfo, make_recommender, unit_rows, with_items
from samplegen.evaluate.rows import (
    ALL_WITH_NEW,
    DIFF_VARIANT,
    ITEM_COLD_SLICES,
    ITEMS_NEW,
    ITEMS_NEW_VALID,
    EvalRow,
    ndcg_at,
    numeric,
    p_value_metric,
)
from samplegen.evaluate.two_way import ranking_depth
from samplegen.evaluate.utility import VARIANTS, Scorer, seeds_of
from samplegen.features.text import TEXT_COLUMNS
from samplegen.runinfo import LOG
from samplegen.tables import (
    CATALOGUE,
    ITEM_INDEX,
    SYNTHETIC_INTERACTIONS,
    TEST_NEW_ITEMS,
    VALID_NEW_ITEMS,
    read_table,
    table_store,
)

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
        valid_rows: Positions of users with valid-period interactions on new items.
        targets_valid: Per such user, the columns of those items (as ``targets_new``).
        items: Attributes, categories and the new-item mask of every column.
        candidates: The columns ``items_new`` ranks (``evaluate.item_cold_candidates``).
        candidates_valid: The columns ``items_new_valid`` ranks.
        facts: Counts for the report: users, interactions, new items, reachable ones.
    """

    rows: np.ndarray
    targets_new: list[np.ndarray]
    targets_all: list[np.ndarray]
    valid_rows: np.ndarray
    targets_valid: list[np.ndarray]
    items: ItemInfo
    candidates: np.ndarray
    candidates_valid: np.ndarray
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


def item_info(
    catalogue: pd.DataFrame, column_ids: list[str | None], n_items: int, text: bool = False
) -> ItemInfo:
    """One-hot :data:`ATTRIBUTES` and category codes of each column's catalogue item.

    ``column_ids`` holds the catalogue id of every column (``None`` where unknown); columns
    from ``n_items`` on are the run's new items. With ``text`` (``aggregate.text_embeddings``;
    ``catalogue`` then has the :data:`~samplegen.features.text.TEXT_COLUMNS`) each known
    column also gets the sentence embedding of its catalogue text, the text the ``new_items``
    map reads too; the one-hot part and the embedding are each unit length, so a cosine
    weighs them equally.
    """
    by_id = catalogue.drop_duplicates("item_id").set_index("item_id")
    known = [i if i in by_id.index else None for i in column_ids]
    frame = by_id.reindex([i if i is not None else "" for i in known])
    blocks = []
    for column in ATTRIBUTES:
        codes, _ = pd.factorize(frame[column].astype("string"), use_na_sentinel=True)
        block = np.zeros((len(frame), max(int(codes.max(initial=-1)) + 1, 0)), dtype=np.float32)
        block[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1.0
        blocks.append(block)
    attributes = np.hstack(blocks)
    if text:
        attributes = np.hstack([unit_rows(attributes), _text_block(frame, known)])
    category, _ = pd.factorize(frame["category"].astype("string"), use_na_sentinel=True)
    is_new = np.arange(len(column_ids)) >= n_items
    return ItemInfo(attributes, category.astype(np.int64), is_new)


def _text_block(frame: pd.DataFrame, known: list[str | None]) -> np.ndarray:
    """Each known column's catalogue-text embedding (unit length); zeros where unknown.

    The text model is made for Spark's Python workers and sets torch to one thread for its
    process; the driver's setting is put back, for the fits that follow.
    """
    import torch

    from samplegen.features.text import embed_texts, item_texts

    rows = np.flatnonzero([i is not None for i in known])
    threads = torch.get_num_threads()
    try:
        embedded = embed_texts(item_texts(frame.iloc[rows])) if len(rows) else np.zeros((0, 0))
    finally:
        torch.set_num_threads(threads)
    block = np.zeros((len(known), embedded.shape[1] if len(rows) else 0), dtype=np.float32)
    block[rows] = embedded
    return block


def candidate_columns(is_new: np.ndarray, targets: list[np.ndarray], mode: str) -> np.ndarray:
    """The columns a new-item slice ranks (``evaluate.item_cold_candidates``).

    ``run``: every new item; ``period``: only the new items among ``targets`` (the scored
    period's interactions), so a model is not judged on items nobody bought then.
    """
    if mode == "run":
        return is_new.copy()
    sold = np.zeros(len(is_new), dtype=bool)
    for columns in targets:
        sold[columns[columns < len(is_new)]] = True
    return is_new & sold


def _valid_pairs(spark: SparkSession, cfg: Config) -> pd.DataFrame:
    """``valid_new_items`` as a frame; empty (logged) for a lakehouse from before the table."""
    try:
        return read_table(spark, table_store(cfg), VALID_NEW_ITEMS).toPandas()
    except FileNotFoundError:
        LOG.warning(
            "stage=evaluate item_cold: there is no valid_new_items table (run `samplegen "
            "aggregate` again): nothing can be chosen on valid"
        )
        return pd.DataFrame({"user_idx": [], "item_id": []})


def _targets_of(
    pairs: pd.DataFrame, position: dict[int, int], column_of: dict[str, int]
) -> list[np.ndarray]:
    """Per user (in ``position`` order), the sorted columns of the items ``pairs`` gives them."""
    targets = [np.array([], dtype=np.int64)] * len(position)
    for user, group in pairs.groupby("user_idx"):
        targets[position[int(user)]] = np.unique([column_of[i] for i in group["item_id"]])
    return targets


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
    text = cfg.aggregate.text_embeddings
    columns = ["item_id", *dict.fromkeys([*ATTRIBUTES, *(TEXT_COLUMNS if text else ())])]
    catalogue = read_table(spark, lake, CATALOGUE).select(*columns).toPandas()
    position = {int(u): i for i, u in enumerate(data.user_idx)}
    pairs = read_table(spark, lake, TEST_NEW_ITEMS).toPandas()
    pairs = pairs[pairs["user_idx"].isin(position)]
    valid = _valid_pairs(spark, cfg)
    valid = valid[valid["user_idx"].isin(position)]
    column_of = {
        item_id: int(idx) for idx, item_id in zip(new["item_idx"], new["item_id"], strict=True)
    }
    unreachable = sorted(set(pairs["item_id"]) - set(column_of))
    valid_only = sorted(set(valid["item_id"]) - set(column_of) - set(unreachable))
    column_of |= {item_id: n_columns + j for j, item_id in enumerate(unreachable + valid_only)}
    new_targets = _targets_of(pairs, position, column_of)
    valid_targets = _targets_of(valid, position, column_of)
    valid_rows = np.flatnonzero([len(t) > 0 for t in valid_targets])
    items = item_info(catalogue, column_ids, data.n_items, text)
    mode = cfg.evaluate.item_cold_candidates
    candidates = candidate_columns(items.is_new, new_targets, mode)
    candidates_valid = candidate_columns(items.is_new, valid_targets, mode)
    rows = np.flatnonzero(
        [len(a) + len(b) > 0 for a, b in zip(new_targets, data.targets, strict=True)]
    )
    facts = {
        "users": int(sum(len(new_targets[r]) > 0 for r in rows)),
        "interactions": len(pairs),
        "new items with test interactions": int(pairs["item_id"].nunique()),
        "of them given a column by the run": int(pairs["item_id"].nunique()) - len(unreachable),
        "run's new items": len(new),
        "valid users (the pair is chosen on)": len(valid_rows),
        "valid interactions": len(valid),
        f"candidates ranked ({mode})": int(candidates.sum()),
        f"valid candidates ranked ({mode})": int(candidates_valid.sum()),
    }
    LOG.info("stage=evaluate item_cold %s", " ".join(f"{k!r}={v}" for k, v in facts.items()))
    return ItemColdData(
        rows=rows,
        targets_new=[new_targets[r] for r in rows],
        targets_all=[np.union1d(data.targets[r], new_targets[r]) for r in rows],
        valid_rows=valid_rows,
        targets_valid=[valid_targets[r] for r in valid_rows],
        items=items,
        candidates=candidates,
        candidates_valid=candidates_valid,
        facts=facts,
    )


def slice_tops(
    scores: np.ndarray, candidates: np.ndarray, exclude: list[np.ndarray], k_max: int
) -> dict[str, np.ndarray]:
    """Each slice's top columns per row: the new-item candidates, and every column.

    For ``items_new`` the candidates are new items alone (every other column scores ``-inf``),
    so a model that ranks warm items above new ones is compared like for like with a baseline
    that ranks only new items; its rankings are :func:`~.two_way.ranking_depth` of ``k_max``
    deep, for the intervals that resample items (:mod:`.two_way`). ``all_with_new`` ranks every
    column, ``k_max`` deep. Train items are masked in both.
    """
    new_only = np.where(candidates[None, :], scores, -np.inf)
    return {
        ITEMS_NEW: top_k_items(new_only, ranking_depth(k_max), exclude),
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


def _rank(
    model: object, matrix: np.ndarray, data: EvalData, cold: ItemColdData, k_max: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The test slices' top columns (:func:`slice_tops`), and the valid users' top new items.

    Both come from ``model``'s scores of the users' rows of ``matrix``, train items masked;
    the new-item rankings are :func:`~.two_way.ranking_depth` of ``k_max`` deep.
    """
    exclude = [data.train_items[r] for r in cold.rows]
    scores = model.score(matrix[cold.rows])  # type: ignore[attr-defined]
    test = slice_tops(scores, cold.candidates, exclude, k_max)
    if len(cold.valid_rows) == 0:
        return test, np.zeros((0, ranking_depth(k_max)), dtype=np.int64)
    exclude = [data.train_items[r] for r in cold.valid_rows]
    scores = model.score(matrix[cold.valid_rows])  # type: ignore[attr-defined]
    valid = slice_tops(scores, cold.candidates_valid, exclude, k_max)[ITEMS_NEW]
    return test, valid


def item_cold_rows(
    data: EvalData, cfg: Config, scorer: Scorer, cold: ItemColdData
) -> tuple[list[EvalRow], str]:
    """The item-cold slices' rows for every recommender and baseline, and the verdict line.

    Downstream recommenders reuse the :class:`Scorer`'s fitted real and augmented models;
    baselines are fitted on the real rows with the columns' catalogue attributes. Every
    ranking is scored on the test slices and on ``items_new_valid``; the compared pair is
    chosen on the latter (:func:`~samplegen.evaluate.item_cold_choice.best_baseline_rows`).
    """
    settings = cfg.evaluate
    k_max = max(settings.cutoffs())
    tops: dict[tuple[str, int, str], tuple[dict[str, np.ndarray], np.ndarray]] = {}
    for name in settings.recommenders:
        for seed in seeds_of(name, settings):
            for variant in VARIANTS:
                model = scorer.model(name, seed, variant, data.training_matrix(variant))
                matrix = data.scored_matrix(variant, settings.score_with)
                tops[(name, seed, variant)] = _rank(model, matrix, data, cold, k_max)
    for name in settings.item_cold_baselines:
        model = with_items(make_recommender(name, settings, None, settings.seed), cold.items)
        model.fit(data.real)
        tops[(name, settings.seed, "real")] = _rank(model, data.real, data, cold, k_max)
    ranked = Ranked(targets=cold.targets_new, valid_targets=cold.targets_valid)
    rows: list[EvalRow] = []
    for key, (test_tops, valid_top) in tops.items():
        name, seed, variant = key
        ranked.tops[key], ranked.valid_tops[key] = test_tops[ITEMS_NEW], valid_top
        ranked.values[key] = {k: _per_user(test_tops, cold, k) for k in settings.cutoffs()}
        ranked.valid[key] = {
            k: {
                "recall": recall_at_k(valid_top[:, :k], cold.targets_valid, k),
                "ndcg": ndcg_at_k(valid_top[:, :k], cold.targets_valid, k),
            }
            for k in settings.cutoffs()
        }
        for k in settings.cutoffs():
            valid = {(ITEMS_NEW_VALID, m): per for m, per in ranked.valid[key][k].items()}
            intervals = _item_intervals(ranked, key, k, cfg)
            rows += _value_rows(
                name, seed, variant, k, ranked.values[key][k] | valid, intervals, cfg
            )
            for slice_name, targets in _targets(cold).items():
                coverage = _coverage_new(test_tops[slice_name], targets, cold.items, k)
                n = int(sum(len(t) > 0 for t in targets))
                rows.append(
                    EvalRow(
                        name, variant, slice_name, NEW_COVERAGE, k, coverage, None, None, n, seed
                    )
                )
    for name in settings.recommenders:
        for seed in seeds_of(name, settings):
            rows += _diff_rows(name, seed, ranked, cfg)
    best_rows, line = best_baseline_rows(ranked, cfg, cold.facts["interactions"])
    return rows + best_rows, line


def _item_intervals(
    ranked: Ranked, key: tuple[str, int, str], k: int, cfg: Config
) -> dict[tuple[str, str], tuple[float, float]]:
    """The CIs of one ranking on ``items_new`` and ``items_new_valid``, items resampled too."""
    samples, seed = cfg.evaluate.bootstrap_samples, key[1]
    out = {}
    for slice_name, valid in ((ITEMS_NEW, False), (ITEMS_NEW_VALID, True)):
        if len(ranked.valid_targets if valid else ranked.targets):
            for metric, ci in ranked.interval(key, k, samples, seed, valid).items():
                out[(slice_name, metric)] = ci
    return out


def _value_rows(
    name: str,
    seed: int,
    variant: str,
    k: int,
    values: dict,
    intervals: dict[tuple[str, str], tuple[float, float]],
    cfg: Config,
) -> list[EvalRow]:
    """Mean and CI of each slice x metric of one ranking.

    ``intervals`` holds the CIs of the slices whose items are resampled too; the others
    resample users.
    """
    rows = []
    for (slice_name, metric), per in values.items():
        n = int(np.isfinite(per).sum())
        if n == 0:
            continue
        low, high = intervals.get((slice_name, metric)) or bootstrap_ci(
            per, cfg.evaluate.bootstrap_samples, seed
        )
        mean = float(np.nanmean(per))
        rows.append(EvalRow(name, variant, slice_name, metric, k, mean, low, high, n, seed))
    return rows


def _diff_rows(name: str, seed: int, ranked: Ranked, cfg: Config) -> list[EvalRow]:
    """Paired augmented - real differences (with p-values) of one recommender and seed.

    On ``items_new`` the intervals resample items as well as users (:meth:`Ranked.compare`).
    """
    rows = []
    settings = cfg.evaluate
    real_key, augmented_key = (name, seed, "real"), (name, seed, "augmented")
    for k in settings.cutoffs():
        real, augmented = ranked.values[real_key][k], ranked.values[augmented_key][k]
        on_items = ranked.compare(real_key, augmented_key, k, settings.bootstrap_samples, seed)
        for (slice_name, metric), per in augmented.items():
            if slice_name == ITEMS_NEW:
                diff, low, high, p = on_items[metric]
            else:
                diff, low, high, p = paired_bootstrap(
                    real[(slice_name, metric)], per, settings.bootstrap_samples, seed
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


def slice_table(metrics: pd.DataFrame, k: int) -> pd.DataFrame:
    """The items_new and all_with_new NDCG@k rows, every recommender and variant, for the report."""
    rows = ndcg_at(metrics, k)
    rows = rows[rows["slice"].isin(ITEM_COLD_SLICES)]
    return rows.assign(value=numeric(rows["value"]))

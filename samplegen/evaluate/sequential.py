"""Stage 4's next-item rows: the sequential recommenders (kind ``sequential``, e.g. ``sasrec``).

They are listed in ``evaluate.recommenders`` like the matrix ones but follow their own
protocol (:mod:`samplegen.evaluate.sequences`): each evaluated user's train items in time
order, from stage 1's ``sequences`` table, predict the user's next item, the first valid item
(for tuning) and then the first test item (scored once, with the valid items in the history).
HR@K and NDCG@K over the full vocabulary, the history masked, for every K of ``evaluate.ks``
and ``evaluate.k``; the number of epochs is chosen on valid NDCG@``evaluate.k`` with early
stopping (``evaluate.sasrec_patience``); the layer, width, dropout and length settings are
the configured ones.

The two variants are trained on:

- ``real``: every sampled real user's train sequence;
- ``augmented``: the same plus the run's synthetic rows (``augmented_train``) in the order the
  strategy wrote their items: a new user's row is a sequence of its own; the items added to a
  real user go before that user's real items, as earlier history (what a ``prepend``
  strategy writes). ``crop``, ``reorder``, ``insert`` and ``substitute_seq`` write time
  order; set strategies (``mask``, ``densify``, the generators) write their items by index,
  an order that means nothing.

Both variants are tuned and scored on the same users and targets. The history a user is
scored on (the model's input, and the items masked at ranking) is ``evaluate.sequence_history``:

- ``real`` (default): every variant on the user's real history, so items a strategy added to
  a real user act only through training;
- ``augmented``: the augmented variant on the user's added items followed by the real history
  (on valid exactly the sequence it was trained on; on test that plus the valid items), as
  pseudo-prior augmentation is used at inference (ASReP, Liu et al. 2021); the real variant
  keeps the real history. Only strategies that add items to real users change anything:
  ``prepend`` (its pseudo-prior items, in their written order) and the set strategies that
  extend real users (``densify``, ``cross_category``: items by index). New users are never
  scored. ``prepend`` never adds a held-out item; a strategy that adds a user's test item
  puts it in the masked history, so that user cannot hit it (the facts count such users).

Rows have the shape of :mod:`samplegen.evaluate.utility`'s: each variant's mean with its
bootstrap CI and the paired difference over users with its p-value, per slice: ``all`` and
the history-length slices (:data:`~samplegen.evaluate.sequences.HISTORY_SLICES`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config, EvaluateConfig
from samplegen.evaluate.data import EvalData
from samplegen.evaluate.rows import EvalRow
from samplegen.evaluate.sequences import (
    HISTORY_SLICES,
    LeaveLast,
    item_arrays,
    next_item_metrics,
)
from samplegen.evaluate.utility import VARIANTS, paired_rows, seeds_of
from samplegen.registry import recommender
from samplegen.runinfo import LOG
from samplegen.tables import SEQUENCES, read_table, table_store

#: The next-item metrics: hit rate (recall of the one target) and NDCG.
SEQUENCE_METRICS = ("hr", "ndcg")


def sequential_names(settings: EvaluateConfig) -> list[str]:
    """The ``evaluate.recommenders`` that follow the next-item protocol."""
    return [n for n in settings.recommenders if recommender(n).kind == "sequential"]


def matrix_only(cfg: Config) -> Config:
    """``cfg`` with only the matrix recommenders in ``evaluate.recommenders``.

    The utility rows, the dose sweep and the item-cold slices fit on dense matrices; they get
    this config, and :func:`sequence_rows` the sequential recommenders.
    """
    sequential = set(sequential_names(cfg.evaluate))
    kept = [n for n in cfg.evaluate.recommenders if n not in sequential]
    return dataclasses.replace(cfg, evaluate=dataclasses.replace(cfg.evaluate, recommenders=kept))


@dataclass(frozen=True)
class SequenceData:
    """The next-item split of the evaluated users and each variant's training sequences."""

    split: LeaveLast
    training: dict[str, list[np.ndarray]]
    n_items: int
    users_with_ties: int
    #: Each variant's split for tuning and scoring (:func:`scored_splits`).
    scored: dict[str, LeaveLast]
    #: Scored users the run added items to: their augmented training sequence (and, under
    #: ``evaluate.sequence_history=augmented``, their scored history) differs from the real.
    users_extended: int
    #: Scored users whose added items hold their test target.
    users_target_added: int


def added_items(synthetic: pd.DataFrame, n_items: int) -> dict[int, list[int]]:
    """Each user's synthetic vocabulary items, in table order (items past ``n_items`` dropped).

    Args:
        synthetic: the run's synthetic rows (``user_idx``, ``item_idx``), in table order.
        n_items: the vocabulary size (new items past it are never ranked).
    """
    added: dict[int, list[int]] = {}
    for user, items in zip(synthetic["user_idx"], synthetic["item_idx"], strict=True):
        kept = [int(i) for i in items if 0 <= int(i) < n_items]
        added.setdefault(int(user), []).extend(kept)
    return added


def real_prefixes(
    real: dict[int, np.ndarray], added: dict[int, list[int]]
) -> dict[int, np.ndarray]:
    """Each real user's added items not already in their sequence, first occurrence first.

    These go before the user's real items in the augmented training sequence (what a
    ``prepend`` strategy writes as earlier history); empty for a user the run did not touch.
    """
    out = {}
    for user, sequence in real.items():
        seen = set(sequence.tolist())
        extra = [i for i in dict.fromkeys(added.get(user, [])) if i not in seen]
        out[user] = np.asarray(extra, dtype=np.int32)
    return out


def augmented_sequences(
    real: dict[int, np.ndarray], synthetic: pd.DataFrame, last_real_user: int, n_items: int
) -> list[np.ndarray]:
    """The real users' sequences with the run's synthetic rows, in the order they were written.

    Args:
        real: each real user's train sequence, by ``user_idx``.
        synthetic: the run's synthetic rows (``user_idx``, ``item_idx``), in table order.
        last_real_user: the largest real ``user_idx``; later ones are new users.
        n_items: the vocabulary size (new items past it are dropped: never ranked).

    Returns:
        the real users' sequences (their synthetic items first, those not already in the
        sequence: :func:`real_prefixes`) in ``real``'s order, then one sequence per new user.
    """
    added = added_items(synthetic, n_items)
    return _joined(real, added, real_prefixes(real, added), last_real_user)


def _joined(
    real: dict[int, np.ndarray],
    added: dict[int, list[int]],
    prefixes: dict[int, np.ndarray],
    last_real_user: int,
) -> list[np.ndarray]:
    """:func:`augmented_sequences` from the :func:`added_items` and :func:`real_prefixes`."""
    out = [np.concatenate([prefixes[user], sequence]) for user, sequence in real.items()]
    for user in sorted(u for u in added if u > last_real_user):
        out.append(np.asarray(added[user], dtype=np.int32))
    return out


def scored_splits(
    split: LeaveLast, prefixes: dict[int, np.ndarray], history: str
) -> dict[str, LeaveLast]:
    """The split each variant is tuned and scored on, as ``evaluate.sequence_history`` says.

    ``real``: both variants on the users' real histories. ``augmented``: the augmented
    variant on each user's :func:`real_prefixes` followed by the real history (for valid,
    exactly the augmented training sequence; for test, that plus the valid items), the real
    variant on the real one. Only users whose rows the strategy extended differ.

    Raises:
        ValueError: ``history`` is neither.
    """
    if history == "real":
        return {variant: split for variant in VARIANTS}
    if history != "augmented":
        raise ValueError(f"evaluate.sequence_history must be real or augmented, got {history!r}")
    empty = np.zeros(0, dtype=np.int32)
    users_prefixes = [prefixes.get(int(u), empty) for u in split.users]
    return {"real": split, "augmented": split.with_prefixes(users_prefixes)}


def load_sequences(spark: SparkSession, cfg: Config, data: EvalData) -> SequenceData:
    """The ``sequences`` rows of the evaluated real users, split and made training sequences.

    Raises:
        FileNotFoundError: the ``sequences`` table is missing (a lakehouse aggregated by an
            older samplegen): rerun ``samplegen aggregate``.
    """
    table = read_table(spark, table_store(cfg), SEQUENCES)
    if cfg.evaluate.max_users is not None:  # only the sampled users (every user otherwise)
        chosen = spark.createDataFrame([(int(u),) for u in data.user_idx], "user_idx int")
        table = table.join(F.broadcast(chosen), "user_idx", "left_semi")
    frame = table.toPandas().sort_values("user_idx", kind="stable")
    frame = frame[frame["user_idx"].isin(data.user_idx)]
    split = LeaveLast.from_frame(frame)
    train = item_arrays(frame)["train_items"]
    real = dict(zip(frame["user_idx"].astype(int), train, strict=True))
    added = added_items(data.synthetic, data.n_items)
    prefixes = real_prefixes(real, added)
    augmented = _joined(real, added, prefixes, data.last_real_user)
    return SequenceData(
        split=split,
        training={"real": list(real.values()), "augmented": augmented},
        n_items=data.n_items,
        users_with_ties=int((frame["n_ties"] > 0).sum()),
        scored=scored_splits(split, prefixes, cfg.evaluate.sequence_history),
        users_extended=sum(len(prefixes[int(u)]) > 0 for u in split.users),
        users_target_added=sum(
            int(t) in set(prefixes[int(u)].tolist())
            for u, t in zip(split.users, split.test, strict=True)
        ),
    )


def history_slices(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """``all`` and each :data:`HISTORY_SLICES` slice that has users, as masks of ``frame``."""
    out = {"all": np.ones(len(frame), dtype=bool)}
    for name, _, _ in HISTORY_SLICES:
        members = (frame["slice"] == name).to_numpy()
        if members.any():
            out[name] = members
    return out


def sequence_rows(
    spark: SparkSession, cfg: Config, data: EvalData
) -> tuple[list[EvalRow], dict[str, Any]]:
    """Next-item rows of every sequential recommender x seed x slice x K, and the facts.

    The facts (report summary, manifest) are the users scored, how many have tied
    timestamps in their sequences, and the epoch chosen on valid per model.
    """
    settings = cfg.evaluate
    names = sequential_names(settings)
    if not names:
        return [], {}
    sequences = load_sequences(spark, cfg, data)
    split, k = sequences.split, settings.k
    facts: dict[str, Any] = {
        "sequence users": len(split.users),
        "sequence users with tied timestamps": sequences.users_with_ties,
        "sequence users with added items": sequences.users_extended,
        "sequence users with their test item added": sequences.users_target_added,
        "sequence history of the augmented variant": settings.sequence_history,
    }
    if len(split.users) == 0:
        LOG.warning(
            "stage=evaluate sequences: no evaluated user has a train item and a next valid "
            "and test item; the sequential recommenders (%s) are skipped",
            ", ".join(names),
        )
        return [], facts

    def valid_ndcg(scored: LeaveLast) -> Callable[[Any], float]:
        return lambda scores: float(
            next_item_metrics(scores, scored, "valid", [k])[f"ndcg@{k}"].mean()
        )

    rows: list[EvalRow] = []
    for name in names:
        for seed in seeds_of(name, settings):
            per_user = {}
            for variant in VARIANTS:
                scored = sequences.scored[variant]
                model = recommender(name).load().make(settings, spark, seed)
                model.fit(sequences.training[variant], sequences.n_items, valid_ndcg(scored))
                facts[f"{name} epoch chosen on valid ({variant}, seed {seed})"] = model.best_epoch
                per_user[variant] = next_item_metrics(
                    model.score, scored, "test", settings.cutoffs()
                )
            rows += _rows(name, seed, per_user, settings)
    return rows, facts


def _rows(
    name: str, seed: int, per_user: dict[str, pd.DataFrame], settings: EvaluateConfig
) -> list[EvalRow]:
    """:func:`~samplegen.evaluate.utility.paired_rows` of every slice and K."""
    rows: list[EvalRow] = []
    for slice_name, members in history_slices(per_user["real"]).items():
        for k in settings.cutoffs():
            values = {
                variant: {
                    metric: np.where(members, frame[f"{metric}@{k}"].to_numpy(), np.nan)
                    for metric in SEQUENCE_METRICS
                }
                for variant, frame in per_user.items()
            }
            rows += paired_rows(
                name, seed, k, slice_name, values, settings.bootstrap_samples, SEQUENCE_METRICS
            )
    return rows

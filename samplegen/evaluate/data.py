"""What stage 4 collects to the driver: dense train matrices, test targets and synthetic records.

Rows are the real train users in ``user_idx`` order. Real interactions enter the matrices as 1.0
and synthetic ones at their stored weight, so a synthetic row counts for less than a real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.config.checks import CHOICES
from samplegen.generate.baselines import category_codes
from samplegen.registry import recommender as recommender_spec
from samplegen.spark import pinned
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    ITEM_INDEX,
    USER_INDEX,
    read_table,
    table_store,
)


@dataclass
class EvalData:
    """Driver-side matrices and records for one run.

    ``augmented`` is ``real`` plus the synthetic items given to real users; ``new_users``
    holds the rows of synthetic users, which recommenders are trained on but never scored.
    Columns past ``n_items`` (the vocabulary) are ``new_items``' catalogue items: recommenders
    trained on augmented rows learn from them (the real-only ones never see these empty
    columns), but only vocabulary items are ranked, as only they can be test items.

    ``synthetic`` keeps this run's synthetic rows (``user_idx``, ``item_idx``, ``weight``) so
    the dose sweep can rebuild the augmented data from a share of them; ``test_records`` are
    each user's test-period items (held-out real records for the privacy metrics).
    ``valid_targets`` are each user's valid items outside their train items, on which a
    ``validated`` recommender chooses its epochs (None when the targets are the valid split
    or no recommender of ``evaluate.recommenders`` or the dose sweep is validated).
    """

    user_idx: np.ndarray
    real: np.ndarray
    augmented: np.ndarray
    train_items: list[np.ndarray]
    targets: list[np.ndarray]
    new_users: np.ndarray
    n_items: int
    synthetic: pd.DataFrame
    last_real_user: int
    test_records: list[np.ndarray]
    item_category: np.ndarray
    category_names: list[str]
    valid_targets: list[np.ndarray] | None = None

    def training_matrix(self, variant: str) -> np.ndarray:
        """What a recommender is fitted on for ``variant``: real rows, or augmented + new users."""
        if variant == "real":
            return self.real
        if len(self.new_users) == 0:
            return self.augmented
        return np.vstack([self.augmented, self.new_users])

    def scored_matrix(self, variant: str, score_with: str) -> np.ndarray:
        """The rows real users are scored on for ``variant`` (see :func:`scored_rows`)."""
        return scored_rows(self.real, self.augmented, variant, score_with)

    @property
    def evaluated(self) -> np.ndarray:
        """Mask of the users with at least one new test item (the ones that are scored)."""
        return np.array([len(t) > 0 for t in self.targets])

    @property
    def activity(self) -> np.ndarray:
        """Train items per user (the activity the user slices are cut on)."""
        return np.array([len(items) for items in self.train_items])

    @cached_property
    def records(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The run's synthetic records, as fidelity sees them and as privacy sees them.

        Fidelity compares what a recommender is trained on: a new user's items, or a real
        user's items together with the ones the run added. Privacy asks whether what the run
        wrote reproduces a real user: a new user's items, or only the items added to a real
        user (never their own real ones, which would match themselves).
        """
        position = {int(u): i for i, u in enumerate(self.user_idx)}
        grouped = self.synthetic.groupby("user_idx")["item_idx"]
        fidelity: list[np.ndarray] = []
        privacy: list[np.ndarray] = []
        for user, arrays in grouped:
            added = np.unique(np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays]))
            privacy.append(added)
            row = position.get(int(user))
            own = self.train_items[row] if row is not None else np.array([], dtype=np.int64)
            fidelity.append(np.union1d(own, added))
        return fidelity, privacy


def scored_rows(
    real: np.ndarray, augmented: np.ndarray, variant: str, score_with: str
) -> np.ndarray:
    """The rows real users are scored on for ``variant``, as ``evaluate.score_with`` says.

    The real variant always scores the real rows; the augmented one scores them too unless
    ``score_with`` is ``augmented`` (profile expansion: the items the run added to a user are
    part of the user's input at scoring time, not only of the training data).
    """
    if score_with not in CHOICES["evaluate.score_with"]:
        raise ValueError(f"evaluate.score_with must be real or augmented, got {score_with!r}")
    return augmented if variant != "real" and score_with == "augmented" else real


def activity_edges(activity: np.ndarray) -> np.ndarray:
    """The quartile edges of train items per real user, which the user slices are cut on.

    A user is in quartile ``q`` where ``np.searchsorted(edges, activity, side="left") == q``:
    the ``cold`` slice (``q == 0``) is every user with at most ``edges[0]`` train items.
    """
    if len(activity) == 0:
        return np.zeros(3)
    return np.quantile(activity, [0.25, 0.5, 0.75])


def activity_edges_of_counts(activity: np.ndarray, users: np.ndarray) -> np.ndarray:
    """:func:`activity_edges` of ``activity[i]`` repeated ``users[i]`` times, not built.

    The same linear interpolation as ``np.quantile``, between the two order statistics around
    each quartile, read from the cumulative counts: Spark scoring has the histogram of train
    activity, not one value per user.
    """
    order = np.argsort(activity, kind="stable")
    values, ends = np.asarray(activity)[order], np.cumsum(np.asarray(users)[order])
    n = int(ends[-1]) if len(ends) else 0
    if n == 0:
        return np.zeros(3)
    position = (n - 1) * np.array([0.25, 0.5, 0.75])
    below = np.floor(position).astype(np.int64)
    low = values[np.searchsorted(ends, below, side="right")].astype(np.float64)
    high = values[np.searchsorted(ends, np.minimum(below + 1, n - 1), side="right")]
    return low + (position - below) * (high - low)


def augmented_matrices(
    real: np.ndarray,
    synthetic: pd.DataFrame,
    position: dict[int, int],
    last_real_user: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``real`` with the synthetic items of real users added, and the new users' rows.

    New users (synthetic_users, interpolate, baselines) are numbered after every real user.
    """
    is_new = synthetic["user_idx"] > last_real_user
    augmented = real.copy()
    _fill(augmented, synthetic[~is_new], position, "weight")
    new_rows = synthetic[is_new]
    new_position = {int(u): i for i, u in enumerate(np.unique(new_rows["user_idx"]))}
    new_users = np.zeros((len(new_position), real.shape[1]), dtype=np.float32)
    _fill(new_users, new_rows, new_position, "weight")
    return augmented, new_users


def _collect_rows(df: DataFrame) -> pd.DataFrame:
    return df.select("user_idx", "item_idx", "weight").toPandas()


def _held_out(
    rows: pd.DataFrame, position: dict[int, int], train_items: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each collected user's held-out items (unique) and those outside their train items.

    Users of ``rows`` outside ``position`` are skipped; a user without rows gets empty arrays.
    """
    records = [np.array([], dtype=np.int64)] * len(train_items)
    targets = [np.array([], dtype=np.int64)] * len(train_items)
    for user, items in zip(rows["user_idx"], rows["item_idx"], strict=True):
        row = position.get(int(user))
        if row is not None:
            records[row] = np.unique(np.asarray(items, dtype=np.int64))
            targets[row] = np.setdiff1d(records[row], train_items[row])
    return records, targets


def _fill(matrix: np.ndarray, rows: pd.DataFrame, position: dict[int, int], value: str) -> None:
    for user, items, weights in zip(
        rows["user_idx"], rows["item_idx"], rows["weight"], strict=True
    ):
        row = position.get(int(user))
        if row is None:
            continue
        items = np.asarray(items, dtype=np.int64)
        new = 1.0 if value == "one" else np.asarray(weights, dtype=np.float32)
        matrix[row, items] = np.maximum(matrix[row, items], new)


def sampled_users(train: DataFrame, max_users: int | None, seed: int) -> DataFrame | None:
    """A seeded sample of at most ``max_users`` train users (``user_idx``); None for all.

    Users are ranked by a hash of ``(seed, user_idx)``, so the sample is the same on every
    run and does not depend on partitioning.
    """
    if max_users is None:
        return None
    order = F.xxhash64(F.lit(seed), F.col("user_idx"))
    return pinned(train.select("user_idx").orderBy(order).limit(max_users))


def load_eval_data(spark: SparkSession, cfg: Config, run_id: str, split: str = "test") -> EvalData:
    """Collect train, ``split`` and this run's augmented rows into dense matrices.

    With ``evaluate.max_users`` only a seeded sample of real users is collected (their train,
    held-out and synthetic rows), plus every new user of the run. ``split`` is where the
    targets come from: ``test`` for stage 4, ``valid`` for ``samplegen tune``, which never
    reads the test rows.
    """
    if split not in ("valid", "test"):
        raise ValueError(f"split must be valid or test, got {split!r}")
    lake = table_store(cfg)
    vocabulary = read_table(spark, lake, ITEM_INDEX)
    n_items = vocabulary.count()
    last_real_user = int(read_table(spark, lake, USER_INDEX).agg(F.max("user_idx")).first()[0])
    train_rows = read_table(spark, lake, INTERACTIONS["train"])
    test_rows = read_table(spark, lake, INTERACTIONS[split])
    settings = cfg.evaluate
    fitted = [
        *settings.recommenders,
        *([settings.dose_recommender] if settings.dose_ratios else []),
    ]
    validated = any(recommender_spec(name).validated for name in fitted)
    valid_rows = None
    if split == "test" and validated:
        valid_rows = read_table(spark, lake, INTERACTIONS["valid"])
    synthetic_rows = read_table(spark, lake, AUGMENTED_TRAIN).where(
        (F.col("run_id") == run_id) & F.col("is_synthetic")
    )
    chosen = sampled_users(train_rows, cfg.evaluate.max_users, cfg.evaluate.seed)
    if chosen is not None:
        train_rows = train_rows.join(F.broadcast(chosen), "user_idx", "left_semi")
        test_rows = test_rows.join(F.broadcast(chosen), "user_idx", "left_semi")
        if valid_rows is not None:
            valid_rows = valid_rows.join(F.broadcast(chosen), "user_idx", "left_semi")
        synthetic_rows = synthetic_rows.where(F.col("user_idx") > last_real_user).unionByName(
            synthetic_rows.join(F.broadcast(chosen), "user_idx", "left_semi")
        )
    train = _collect_rows(train_rows).sort_values("user_idx")
    test = _collect_rows(test_rows)
    synthetic = _collect_rows(synthetic_rows)
    user_idx = train["user_idx"].to_numpy()
    position = {int(u): i for i, u in enumerate(user_idx)}
    # new_items rows hold items past the vocabulary: fitted on, never ranked (see EvalData).
    n_columns = max([n_items, *(int(np.max(i)) + 1 for i in synthetic["item_idx"] if len(i))])
    real = np.zeros((len(user_idx), n_columns), dtype=np.float32)
    _fill(real, train, position, "one")
    augmented, new_users = augmented_matrices(real, synthetic, position, last_real_user)
    train_items = [np.asarray(items, dtype=np.int64) for items in train["item_idx"]]
    test_records, targets = _held_out(test, position, train_items)
    valid_targets = None
    if valid_rows is not None:
        _, valid_targets = _held_out(_collect_rows(valid_rows), position, train_items)
    codes, names = category_codes(vocabulary)
    item_category = np.full(n_columns, -1, dtype=np.int64)
    item_category[: len(codes)] = codes
    return EvalData(
        user_idx=user_idx,
        real=real,
        augmented=augmented,
        train_items=train_items,
        targets=targets,
        new_users=new_users,
        n_items=n_items,
        synthetic=synthetic,
        last_real_user=last_real_user,
        test_records=test_records,
        item_category=item_category,
        category_names=names,
        valid_targets=valid_targets,
    )

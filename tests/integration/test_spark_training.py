"""Stage 4's training data under ``evaluate.scoring: spark``, built in Spark, equal to the driver's.

A hand-written lakehouse (train rows, an empty one and a repeated one; one run's synthetic
rows: items added to train users, a repeat of a real item at a lower and at a higher weight, a
zero weight, rows of a user outside the train rows and of three new users, one of them with a
zero weight only) is read by :func:`load_training`. The frame :func:`training_entries` builds
holds exactly the non-zero entries of each variant's matrix as the driver path fills it
(written out below), in row-major order; the per-item counts and the Gram matrix computed from
it in Spark equal those of the matrix, and ALS fitted on it equals ALS fitted on the driver's
entries.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from samplegen.evaluate.data import activity_edges
from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.spark_training import (
    gram_matrix,
    item_counts,
    load_training,
    training_entries,
)
from samplegen.spark import from_pandas, sql_settings
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    ITEM_INDEX,
    USER_INDEX,
    table_store,
    write_table,
)

pytestmark = pytest.mark.spark

RUN = "entries-run"
N_ITEMS = 6
#: The matrices the driver path fills from the lakehouse below: train users 0, 2, 3 and 5
#: (user 1's row is empty), then, augmented, the new users 7, 8 and 9; column 7 is a new item.
REAL = np.array(
    [
        [1, 0, 0, 1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 1, 0, 0, 0],
    ],
    dtype=np.float32,
)
AUGMENTED = np.vstack(
    [
        [1, 0, 0, 1, 0.25, 0, 0, 0],
        [0, 1.5, 0, 0, 0, 0, 0, 0],
        REAL[2:],
        [0, 0, 0, 0, 0, 0.6, 0, 0],
        [0] * 8,
        [0, 0, 0.4, 0, 0, 0, 0, 0.3],
    ]
).astype(np.float32)


def _lists(rows: dict[int, list[tuple[int, float]]], **columns) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": list(rows),
            "item_idx": [[i for i, _ in pairs] for pairs in rows.values()],
            "weight": [[w for _, w in pairs] for pairs in rows.values()],
            **columns,
        }
    )


def _write(spark, store, table, frame: pd.DataFrame, run_id: str | None = None) -> None:
    names = [f.name for f in table.schema.fields]
    write_table(from_pandas(spark, frame[names], schema=table.schema), store, table, run_id)


@pytest.fixture(scope="module")
def lake_cfg(spark, cfg, tmp_path_factory):
    settings = replace(cfg, lakehouse=str(tmp_path_factory.mktemp("entries") / "lakehouse"))
    store = table_store(settings)
    users = pd.DataFrame(
        {"user_id": [f"u{i}" for i in range(6)], "user_idx": range(6), "n_items": 1, "n_events": 1}
    )
    items = pd.DataFrame(
        {"item_id": [f"i{i}" for i in range(N_ITEMS)], "item_idx": range(N_ITEMS), "n_users": 1}
    )
    _write(spark, store, USER_INDEX, users)
    _write(spark, store, ITEM_INDEX, items.assign(category="c"))
    # users 1 and 4 have no train row (user 4 gets synthetic items: they are dropped)
    train = {
        0: [(0, 1.0), (3, 2.0)],
        2: [(1, 1.0)],
        3: [(0, 1.0), (2, 1.0), (5, 1.0)],
        5: [(4, 3.0)],
    }
    rows = pd.concat([_lists(train), _lists({1: []}), _lists({3: [(5, 1.0)]})])  # empty, repeat
    _write(spark, store, INTERACTIONS["train"], rows.assign(n_items=2))
    synthetic = {
        0: [(3, 0.5), (4, 0.25)],  # a real item at a lower weight: the real 1.0 stays
        2: [(1, 1.5), (2, 0.0)],  # a real item at a higher weight; a zero weight is no entry
        4: [(1, 0.7)],  # not a train user
        9: [(2, 0.4), (7, 0.3)],  # new users, after the train users, ordered by user_idx
        7: [(5, 0.6)],
        8: [(1, 0.0)],  # a row without an entry
    }
    rows = _lists(synthetic, run_id=RUN, is_synthetic=True)
    real = _lists(train, run_id=RUN, is_synthetic=False)
    other_run = _lists({0: [(5, 0.9)]}, run_id="other", is_synthetic=True)
    for frame, run_id in ((pd.concat([real, rows]), RUN), (other_run, "other")):
        _write(spark, store, AUGMENTED_TRAIN, frame, run_id)
    return settings


def test_spark_entries_are_the_nonzero_entries_of_each_variant_in_row_major_order(spark, lake_cfg):
    data = load_training(spark, lake_cfg, RUN)
    assert (data.n_items, data.n_columns, data.n_train_users, data.last_real_user) == (6, 8, 4, 5)
    assert dict(zip(data.activity.tolist(), data.activity_users.tolist(), strict=True)) == {
        1: 2,
        2: 1,
        3: 1,
    }
    assert data.cold_threshold() == activity_edges(np.count_nonzero(REAL, axis=1))[0]
    for variant, matrix in (("real", REAL), ("augmented", AUGMENTED)):
        entries = data.entries_of(spark, lake_cfg, variant)  # training_entries, kept
        got = entries.toPandas()
        rows, cols = np.nonzero(matrix)
        assert got["user"].tolist() == rows.tolist(), variant
        assert got["item"].tolist() == cols.tolist(), variant
        assert np.array_equal(got["rating"].to_numpy(np.float32), matrix[rows, cols]), variant
        assert np.array_equal(item_counts(entries, 8), np.count_nonzero(matrix, axis=0))
        wide = matrix.astype(np.float64)
        assert np.allclose(gram_matrix(entries, 8), wide.T @ wide, rtol=0, atol=1e-12)
    # Kept for the next model and seed until released; a fit after the release keeps nothing.
    assert data.entries_of(spark, lake_cfg, "real") is data.entries_of(spark, lake_cfg, "real")
    data.release()
    assert data.entries_of(spark, lake_cfg, "real") is not None and data.entries == {}


def test_the_gram_matrix_sums_the_partitions_products(spark):
    """Users spread over seven partitions: the products of each are summed exactly once."""
    rng = np.random.default_rng(3)
    matrix = (rng.random((300, 40)) < 0.2) * rng.choice([1.0, 0.5, 2.0], (300, 40))
    rows, cols = np.nonzero(matrix)
    frame = pd.DataFrame({"user": rows, "item": cols, "rating": matrix[rows, cols]})
    entries = from_pandas(spark, frame, schema="user int, item int, rating float")
    settings = {
        "spark.sql.shuffle.partitions": "7",
        "spark.sql.adaptive.coalescePartitions.enabled": "false",
    }
    with sql_settings(spark, settings):
        gram = gram_matrix(entries, 41)  # one more column than any entry: zeros
        assert entries.repartition("user").rdd.getNumPartitions() == 7
    expected = np.zeros((41, 41))
    expected[:40, :40] = matrix.T @ matrix
    assert np.allclose(gram, expected, rtol=0, atol=1e-9) and gram[0, 0] > 0


def test_a_train_table_changed_since_it_was_collected_is_named(spark, lake_cfg):
    data = load_training(spark, lake_cfg, RUN)
    stale = replace(data, activity_users=data.activity_users[:-1])
    with pytest.raises(RuntimeError, match="interactions_train changed"):
        training_entries(spark, lake_cfg, stale, "real")


@pytest.mark.slow  # two Spark ALS fits: make test runs it, the fast tier leaves it out
def test_als_on_spark_entries_equals_als_on_the_drivers_entries(spark, lake_cfg):
    data = load_training(spark, lake_cfg, RUN)
    rows, cols = np.nonzero(AUGMENTED)

    def als():
        return SparkALSRecommender(spark, rank=3, iterations=3, seed=4)

    driver = als().fit_entries(rows, cols, AUGMENTED[rows, cols], AUGMENTED.shape[1])
    frame = training_entries(spark, lake_cfg, data, "augmented")
    in_spark = als().fit_frame(frame, AUGMENTED.shape[1])
    assert np.allclose(in_spark.item_factors, driver.item_factors, atol=1e-6)
    assert np.abs(driver.item_factors).sum() > 0

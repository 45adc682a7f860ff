"""ALS's input under ``evaluate.scoring: spark`` is built in Spark, equal to the driver's matrix.

A hand-written lakehouse (train rows, an empty one and a repeated one; one run's synthetic
rows: items added to train users, a repeat of a real item at a lower and at a higher weight, a
zero weight, rows of a user outside the train rows and of three new users, one of them with a
zero weight only) is read by :func:`load_sparse`; the frame
:func:`training_entries` builds in Spark holds exactly the non-zero entries of each variant's
CSR matrix, in row-major order, and ALS fitted on it equals ALS fitted on the driver's entries.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.sparse_training import load_sparse, training_entries
from samplegen.evaluate.utility import VARIANTS
from samplegen.spark import from_pandas
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
    data = load_sparse(spark, lake_cfg, RUN)
    assert data.real.shape == (4, 8) and data.augmented.shape == (7, 8)  # item 7 is a new column
    for variant in VARIANTS:
        matrix = data.training(variant).tocoo()
        got = training_entries(spark, lake_cfg, data, variant).toPandas()
        assert got["user"].tolist() == matrix.row.tolist(), variant
        assert got["item"].tolist() == matrix.col.tolist(), variant
        assert np.array_equal(got["rating"].to_numpy(np.float32), matrix.data), variant
    augmented = data.augmented.toarray()
    assert augmented[0, 3] == 1.0 and augmented[1, 1] == 1.5 and augmented[1, 2] == 0.0
    assert augmented[4].tolist() == pytest.approx([0, 0, 0, 0, 0, 0.6, 0, 0])  # 7, 8, then 9
    assert not augmented[5].any() and augmented[6, 7] == pytest.approx(0.3)
    # Kept for the next seed until released; a fit after the release keeps nothing.
    assert data.als_input(spark, lake_cfg, "real") is data.als_input(spark, lake_cfg, "real")
    data.release()
    assert data.als_input(spark, lake_cfg, "real") is not None and data.entries == {}


def test_a_train_table_changed_since_it_was_collected_is_named(spark, lake_cfg):
    data = load_sparse(spark, lake_cfg, RUN)
    stale = replace(data, user_idx=data.user_idx[:-1])
    with pytest.raises(RuntimeError, match="interactions_train changed"):
        training_entries(spark, lake_cfg, stale, "real")


@pytest.mark.slow  # two Spark ALS fits: make test runs it, the fast tier leaves it out
def test_als_on_spark_entries_equals_als_on_the_drivers_entries(spark, lake_cfg):
    data = load_sparse(spark, lake_cfg, RUN)
    matrix = data.augmented.tocoo()

    def als():
        return SparkALSRecommender(spark, rank=3, iterations=3, seed=4)

    driver = als().fit_entries(matrix.row, matrix.col, matrix.data, matrix.shape[1])
    frame = training_entries(spark, lake_cfg, data, "augmented")
    in_spark = als().fit_frame(frame, matrix.shape[1])
    assert np.allclose(in_spark.item_factors, driver.item_factors, atol=1e-6)
    assert np.abs(driver.item_factors).sum() > 0
